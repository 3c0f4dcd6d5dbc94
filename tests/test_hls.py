"""hls4ml extension and project writer: registration, conversion of both Keras layers, the files of
a written project, the port contract, `predict --fixed`, and hls4ml's own compile()+predict()."""

from __future__ import annotations

import argparse
import subprocess
import sys

import numpy as np
import pytest

from nanotrig.canonical import random_canonical
from nanotrig.data import read_jets, sample_path
from nanotrig.errors import NanotrigError
from nanotrig.fixed import FixedType, default_spec, emulate, emulate_scores
from nanotrig.hls import commands as hls_commands
from nanotrig.hls.config import config_struct
from nanotrig.hls.project import write_project


def _run(register, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nanotrig")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="module")
def sample():
    return read_jets(sample_path(), n_constituents=20)


def test_extension_registers_when_hls4ml_is_imported():
    code = (
        "import sys, nanotrig\n"
        "assert 'hls4ml' not in sys.modules\n"  # import nanotrig stays light
        "import hls4ml\n"
        "from hls4ml.model.layers import layer_map\n"
        "from hls4ml.converters.keras_v3 import layer_handlers\n"
        "assert 'NanoPelicanHLS' in layer_map\n"
        "assert 'NanoPelican' in layer_handlers and 'CanonicalNanoPelican' in layer_handlers\n"
        "for b in ('Vivado', 'Vitis'):\n"
        "    src = hls4ml.backends.get_backend(b).get_custom_source()\n"
        "    assert 'nnet_utils/nnet_nanopelican.h' in src, b\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_written_project_has_every_part(tmp_path, sample):
    model = random_canonical(2, 20, "nalpha", seed=3, name="prj")
    spec = default_spec(model)
    p = write_project(model, spec, tmp_path / "prj", sample.pmu, part="xcvu9p-flga2104-2-e", clock_mhz=250)
    root = p.path
    for f in ("build_prj.tcl", "vivado_synth.tcl", "project.tcl", "nanopelican_test.cpp", "README.md"):
        assert (root / f).exists(), f
    for stage in ("", "_pairs", "_aggregates", "_relu", "_output"):
        assert (root / "firmware" / "nnet_utils" / f"nnet_nanopelican{stage}.h").exists()
    top = (root / "firmware" / "nanopelican.cpp").read_text()
    assert "void nanopelican(" in top and "input_t jet[20*4]" in top and "result_t score[1]" in top
    assert "#pragma HLS INTERFACE ap_vld port=jet,score" in top and "ap_ctrl_none port=return" in top
    params = (root / "firmware" / "parameters.h").read_text()
    assert config_struct(model, spec, 2) in params  # the generated constants, verbatim
    defines = (root / "firmware" / "defines.h").read_text()
    typedef = next(ln for ln in defines.splitlines() if ln.endswith(" input_t;"))
    assert FixedType.parse(typedef.removeprefix("typedef ").removesuffix(" input_t;")) == spec["input"]
    assert "AP_RND,AP_SAT" in typedef  # hls4ml's double -> input_t conversion is the emulator's
    tcl = (root / "project.tcl").read_text()
    assert 'set part "xcvu9p-flga2104-2-e"' in tcl and "set clock_period 4.0" in tcl
    x = np.loadtxt(root / "tb_data" / "tb_input_features.dat")
    y = np.loadtxt(root / "tb_data" / "tb_output_predictions.dat")
    ref = emulate(model, sample.pmu[: len(x)], spec)
    assert x.shape == (200, 80) and np.array_equal(x, ref.inputs.values.reshape(200, 80))
    assert np.array_equal(y, ref.scores)
    readme = (root / "README.md").read_text()
    assert "250 MHz" in readme and "vitis-run --mode hls --tcl build_prj.tcl" in readme


def test_trainable_keras_layer_converts_with_plain_hls4ml(tmp_path):
    """convert_from_keras_model on nanotrig.model.NanoPelican folds it into the fused kernel."""
    import hls4ml

    from nanotrig.fold import fold_keras_model
    from nanotrig.model import build_model

    keras_model = build_model(2, 8, seed=1)
    hm = hls4ml.converters.convert_from_keras_model(
        keras_model, output_dir=str(tmp_path / "p"), backend="Vivado", io_type="io_parallel"
    )
    hm.write()
    canonical = fold_keras_model(keras_model)
    params = (tmp_path / "p" / "firmware" / "parameters.h").read_text()
    assert config_struct(canonical, default_spec(canonical), 2).split("\n", 1)[1] in params


def test_bad_arguments_are_one_line_errors(tmp_path):
    with pytest.raises(NanotrigError, match="unknown model 'nope'"):
        _run(hls_commands.register, ["hls", "nope", "--out", str(tmp_path / "x"), "--no-csim"])
    path = random_canonical(1, 8).save(tmp_path / "m.json")
    with pytest.raises(NanotrigError, match="--clock must be positive"):
        _run(
            hls_commands.register,
            ["hls", str(path), "--out", str(tmp_path / "x"), "--clock", "0", "--no-csim"],
        )
    with pytest.raises(NanotrigError, match="LSB 0.3 GeV is not a power of two"):
        _run(hls_commands.register, ["hls", str(path), "--input-lsb", "0.3", "--no-csim"])
    with pytest.raises(NanotrigError, match="missing.yaml: no such precision file"):
        _run(
            hls_commands.register,
            ["hls", str(path), "--precision", str(tmp_path / "missing.yaml"), "--no-csim"],
        )


def test_predict_fixed_writes_emulator_scores(tmp_path, sample):
    from nanotrig.model import commands as model_commands

    model = random_canonical(2, 20, seed=9, name="pf")
    path = model.save(tmp_path / "pf.json")
    out = tmp_path / "w.npy"
    rc = _run(
        model_commands.register,
        ["predict", str(path), "--data", str(sample_path()), "--out", str(out), "--fixed"],
    )
    assert rc == 0
    w = np.load(out)
    assert w.dtype == np.float64 and w.shape == (4000,)
    assert np.array_equal(w, emulate_scores(model, sample.pmu))
    assert not np.array_equal(w, model.evaluate(sample.pmu))  # really the fixed-point scores


@pytest.mark.slow
def test_hls4ml_compile_and_predict_is_the_csim(tmp_path, sample):
    """hls4ml's own compile() (build_lib.sh, -O3) + predict() equals the emulator, bit for bit."""
    import hls4ml

    from nanotrig.fold import fold_keras_model
    from nanotrig.model import build_model

    keras_model = build_model(2, 20, seed=2)
    canonical = fold_keras_model(keras_model)
    hm = hls4ml.converters.convert_from_keras_model(
        keras_model, output_dir=str(tmp_path / "p"), backend="Vitis", io_type="io_parallel"
    )
    hm.compile()
    res = emulate(canonical, sample.pmu[:300])
    y = np.asarray(hm.predict(np.ascontiguousarray(res.inputs.values.reshape(300, -1)))).ravel()
    assert np.array_equal(y, res.scores)


def test_reuse_factor_sets_ii_and_multiplier_limit(tmp_path, sample):
    model = random_canonical(2, 20, seed=4, name="rf")
    spec = default_spec(model).for_reuse(4)  # what the commands build at II = 4
    p = write_project(model, spec, tmp_path / "rf", sample.pmu[:10], reuse_factor=4)
    top = (p.path / "firmware" / "nanopelican.cpp").read_text()
    params = (p.path / "firmware" / "parameters.h").read_text()
    assert "#pragma HLS PIPELINE II=4" in top
    assert "static const unsigned reuse_factor = 4;" in params
    # the RTL's allocation at II = 4: 48 pair units (190 pairs; distance 10 needs 3 units for its
    # 10 pairs), 4 products each: a little over 4 x 190 / 4
    assert "static const unsigned multiplier_limit = 192;" in params
    from nanotrig.rtl.build import build_rtl

    rtl = build_rtl(model, spec, tmp_path / "rtl", reuse_factor=4)
    assert rtl.da4ml["products"] == 192  # the same multipliers as the RTL built at the same R
