"""hls4ml's own flow on the shipped model, exactly as an hls4ml user runs it:
config_from_keras_model -> convert_from_keras_model(hls_config=cfg) -> compile() -> predict(jets in
GeV), against `nanotrig predict c2 --fixed`; what every generated config field means; and the
double -> input_t conversion of hls4ml's bridge against the emulator's quantize_inputs."""

from __future__ import annotations

import argparse
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

from nanotrig.data import read_jets, sample_path
from nanotrig.fixed import default_spec, emulate
from nanotrig.fixed.quantize import quantize_inputs
from nanotrig.fixed.types import FixedType, PrecisionError
from nanotrig.hls.config import config_struct
from nanotrig.hls.layer_precision import spec_for_input
from nanotrig.models import MODELS_DIR, resolve_model

hls4ml = pytest.importorskip("hls4ml")
keras = pytest.importorskip("keras")


@pytest.fixture(scope="module")
def c2_keras():
    import nanotrig.model.layers  # noqa: F401  (registers the layers, as `import nanotrig` users get)

    return keras.saving.load_model(MODELS_DIR / "c2.keras", compile=False)


@pytest.fixture(scope="module")
def small_keras():
    from nanotrig.model import build_model

    return build_model(2, 8, seed=3)


def _convert(model, tmp_path: Path, cfg: dict, name: str = "p"):  # noqa: ANN202
    return hls4ml.converters.convert_from_keras_model(
        model, hls_config=cfg, backend="Vitis", output_dir=str(tmp_path / name), io_type="io_parallel"
    )


def _spec_of(hm) -> dict[str, str]:  # noqa: ANN001
    return hm.graph["nanopelican"].get_attr("precision_spec")["Precision"]


def _cli_predict_fixed(tmp_path: Path) -> np.ndarray:
    from nanotrig.model import commands

    parser = argparse.ArgumentParser(prog="nanotrig")
    commands.register(parser.add_subparsers(dest="command"))
    out = tmp_path / "wq.npy"
    ns = parser.parse_args(["predict", "c2", "--data", str(sample_path()), "--fixed", "--out", str(out)])
    assert ns.func(ns) == 0
    return np.load(out)


def test_hls4ml_config_flow_predicts_what_nanotrig_predict_fixed_does(tmp_path, c2_keras):
    """The issue's two paths: config_from_keras_model's 'auto' converts (no PrecisionError), and
    hm.predict(jets in GeV) equals `nanotrig predict c2 --fixed` on every sample jet."""
    cfg = hls4ml.utils.config_from_keras_model(c2_keras, granularity="name", backend="Vitis")
    assert cfg["LayerName"]["nanopelican"]["Precision"] == {"result": "auto"}  # what hls4ml writes
    hm = _convert(c2_keras, tmp_path, cfg)
    c2 = resolve_model("c2")
    spec = default_spec(c2)
    assert _spec_of(hm) == spec.precision_dict()  # 'auto' = the range-analysed spec
    hm.compile()
    params = (tmp_path / "p" / "firmware" / "parameters.h").read_text()
    assert config_struct(c2, spec, 2).split("\n", 1)[1] in params
    defines = (tmp_path / "p" / "firmware" / "defines.h").read_text()
    typedef = next(ln for ln in defines.splitlines() if ln.endswith(" input_t;"))
    t_in = FixedType.parse(typedef.removeprefix("typedef ").removesuffix(" input_t;"))
    assert t_in == spec["input"] and (t_in.rounding, t_in.overflow) == ("AP_RND", "AP_SAT")

    jets = read_jets(sample_path(), n_constituents=20).pmu  # float32 GeV, (4000, 20, 4)
    y = np.asarray(hm.predict(jets), dtype=np.float64).ravel()
    w = _cli_predict_fixed(tmp_path)
    assert len(w) == len(y) == 4000
    assert int(np.sum(y != w)) == 0
    y64 = np.asarray(hm.predict(jets.astype(np.float64)), dtype=np.float64).ravel()  # the double bridge
    assert np.array_equal(y64, w)
    # the per-index integer bits travel with the default config: constituents given softest first
    # overflow the soft slots' narrow types, and hls4ml's predict wraps them as the emulator does
    assert spec.index_bits
    reversed_jets = jets[:300, ::-1]
    res = emulate(c2, reversed_jets, spec)
    assert sum(res.overflows[s] for s in spec.index_bits) > 0
    y_rev = np.asarray(hm.predict(np.ascontiguousarray(reversed_jets)), dtype=np.float64).ravel()
    assert np.array_equal(y_rev, res.scores)


@pytest.mark.parametrize("granularity", ["model", "type", "name"])
def test_every_granularity_of_the_generated_config_means_the_spec(tmp_path, small_keras, granularity):
    from nanotrig.fold import fold_keras_model

    cfg = hls4ml.utils.config_from_keras_model(small_keras, granularity=granularity, backend="Vitis")
    cfg["Model"]["ReuseFactor"] = 2  # Model-level ReuseFactor reaches the layer when it sets none
    for level in ("LayerName", "LayerType"):
        for entry in cfg.get(level, {}).values():
            entry.pop("ReuseFactor", None)
            entry["Trace"] = True
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # nothing to warn about in hls4ml's own config
        hm = _convert(small_keras, tmp_path, cfg)
    spec = default_spec(fold_keras_model(small_keras))
    assert _spec_of(hm) == spec.precision_dict()
    assert hm.graph["nanopelican"].get_attr("reuse_factor") == 2


def test_explicit_stage_precisions_keep_working(tmp_path, small_keras):
    from nanotrig.fold import fold_keras_model

    cfg = hls4ml.utils.config_from_keras_model(small_keras, granularity="name", backend="Vitis")
    cfg["LayerName"]["nanopelican"]["Precision"] = {
        "result": "fixed<20,8,RND,SAT>",  # hls4ml's own notation
        "z": "ap_fixed<20,16>",
        "d": "auto",
    }
    hm = _convert(small_keras, tmp_path, cfg)
    got, base = _spec_of(hm), default_spec(fold_keras_model(small_keras)).precision_dict()
    assert got["result"] == "ap_fixed<20,8,AP_RND,AP_SAT>" and got["z"] == "ap_fixed<20,16>"
    assert {k: v for k, v in got.items() if k not in ("result", "z")} == {
        k: v for k, v in base.items() if k not in ("result", "z")
    }


def test_an_explicit_input_precision_is_honoured_end_to_end(tmp_path, small_keras):
    """The input layer says ap_fixed<17,12> (hls4ml's default modes: AP_TRN, AP_WRAP; LSB 1/32 GeV,
    +-2048 GeV): the spec is re-derived for those words, and hls4ml's predict equals the emulator
    with that spec."""
    from nanotrig.fold import fold_keras_model

    canonical = fold_keras_model(small_keras)
    cfg = hls4ml.utils.config_from_keras_model(small_keras, granularity="name", backend="Vitis")
    cfg["LayerName"]["pmu"]["Precision"] = {"result": "ap_fixed<17,12>"}
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # holds every sample component: no warning
        hm = _convert(small_keras, tmp_path, cfg)
    t_in = FixedType(17, 12)  # TRN, WRAP
    spec = spec_for_input(canonical, t_in, "test")
    assert _spec_of(hm) == spec.precision_dict() and spec["input"] == t_in
    assert spec.provenance["options"]["input_bits"] == 17  # re-derived, not just relabelled
    assert spec.precision_dict() != default_spec(canonical).precision_dict()
    hm.compile()
    jets = read_jets(sample_path(), n_constituents=8).pmu
    y = np.asarray(hm.predict(jets), dtype=np.float64).ravel()
    assert np.array_equal(y, emulate(canonical, jets, spec).scores)
    assert not np.array_equal(y, emulate(canonical, jets).scores)  # truncation really differs


def test_an_input_type_that_clips_the_sample_says_so(tmp_path, small_keras):
    cfg = hls4ml.utils.config_from_keras_model(small_keras, granularity="name", backend="Vitis")
    cfg["LayerName"]["pmu"]["Precision"] = "ap_fixed<14,9,AP_RND,AP_SAT>"  # +-256 GeV
    with pytest.warns(UserWarning, match=r"LayerName 'pmu' Precision: input type .* cannot hold \d+"):
        _convert(small_keras, tmp_path, cfg)


def test_model_level_precision_is_not_silently_dropped(tmp_path, small_keras):
    cfg = hls4ml.utils.config_from_keras_model(small_keras, granularity="name", backend="Vitis")
    cfg["Model"]["Precision"] = "ap_fixed<24,12>"
    with pytest.warns(UserWarning, match=r"Model Precision 'default' 'ap_fixed<24,12>' does not apply"):
        _convert(small_keras, tmp_path, cfg)


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            ("nanopelican", "ap_fixed<16,6>"),
            r"LayerName 'nanopelican' Precision: 'ap_fixed<16,6>' is one type",
        ),
        (("nanopelican", {"accum": "ap_fixed<20,10>"}), r"Precision 'accum'.*not a stage"),
        (("nanopelican", {"z": "ap_fixed<16>"}), r"LayerName 'nanopelican' Precision 'z': 'ap_fixed<16>'"),
        (("nanopelican", {"z": "ap_fixed<16,8,AP_RND_CONV>"}), r"Precision 'z'.*AP_RND_CONV"),
        (("pmu", {"result": "ap_ufixed<16,11>"}), r"LayerName 'pmu' Precision 'result'.*must be signed"),
        (("pmu", {"result": "ap_fixed<32,20>"}), r"LayerName 'pmu' Precision 'result'.*wider than 28"),
    ],
)
def test_contradictory_or_malformed_precisions_are_clear_errors(tmp_path, small_keras, edit, message):
    layer, value = edit
    cfg = hls4ml.utils.config_from_keras_model(small_keras, granularity="name", backend="Vitis")
    cfg["LayerName"][layer]["Precision"] = value
    with pytest.raises(PrecisionError, match=message):
        _convert(small_keras, tmp_path, cfg)


def test_input_layer_and_input_stage_must_agree(tmp_path, small_keras):
    cfg = hls4ml.utils.config_from_keras_model(small_keras, granularity="name", backend="Vitis")
    cfg["LayerName"]["pmu"]["Precision"] = {"result": "ap_fixed<16,11>"}
    cfg["LayerName"]["nanopelican"]["Precision"] = {"input": "ap_fixed<18,13,AP_RND,AP_SAT>"}
    with pytest.raises(PrecisionError, match=r"'pmu' Precision 'result' is ap_fixed<16,11> but .*'input'"):
        _convert(small_keras, tmp_path, cfg)


# ---- hls4ml's bridge conversion (input_t(double)) vs quantize_inputs, all modes -------------

CONVERT_CPP = r"""
#include <cstdio>
#include <cstdlib>
#include "ap_fixed.h"
template <class T> void run(const char *tag, const double *x, int n) {
    for (int i = 0; i < n; i++) { T v = x[i]; std::printf("%s %d %.17g\n", tag, i, v.to_double()); }
}
int main(int argc, char **argv) {
    FILE *f = std::fopen(argv[1], "r");
    int n = 0; static double x[4096];
    while (n < 4096 && std::fscanf(f, "%lf", &x[n]) == 1) n++;
    TYPES
    return 0;
}
"""


def test_input_t_conversion_is_quantize_inputs(tmp_path):
    """input_t(double), what hls4ml's predict() does to every input, gives the words
    quantize_inputs gives, for ties, near-ties and out-of-range values, in every supported mode."""
    t0 = FixedType(18, 13)
    lsb = t0.lsb
    k = np.arange(-40, 41, dtype=np.float64)
    values = np.concatenate(
        [
            (k + 0.5) * lsb,  # exact ties, both signs
            np.nextafter((k + 0.5) * lsb, np.inf),
            np.nextafter((k + 0.5) * lsb, -np.inf),
            k * lsb,
            [0.0, -0.0, 5e-324, -5e-324, 0.49999999999999994 * lsb, -0.49999999999999994 * lsb],
            [t0.max_value, t0.max_value + lsb / 2, t0.max_value + lsb, t0.min_value, t0.min_value - lsb / 2],
            [t0.min_value - lsb, 1e4, -1e4, 5000.3, -4096.02, 1e9, -1e9, 123.456, -0.01],
            np.random.default_rng(1).normal(0, 3000, size=400),
        ]
    )
    values = values[: len(values) // 4 * 4]
    types = {
        f"{q}_{o}": t0.with_modes(q, o)
        for q in ("AP_TRN", "AP_RND")
        for o in ("AP_WRAP", "AP_SAT", "AP_SAT_SYM")
    }
    src = CONVERT_CPP.replace("TYPES", "\n    ".join(f'run<{t}>("{tag}", x, n);' for tag, t in types.items()))
    (tmp_path / "convert.cpp").write_text(src)
    data = tmp_path / "x.txt"
    np.savetxt(data, values, fmt="%.17g")
    assert np.array_equal(np.loadtxt(data), values)  # the text round-trips every double exactly
    ap_types = Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"
    exe = tmp_path / "convert"
    subprocess.run(["g++", "-O1", f"-I{ap_types}", str(tmp_path / "convert.cpp"), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe), str(data)], check=True, capture_output=True, text=True).stdout
    got: dict[str, np.ndarray] = {tag: np.zeros(len(values)) for tag in types}
    for line in out.splitlines():
        tag, i, v = line.split()
        got[tag][int(i)] = float(v)
    jets = values.reshape(-1, 1, 4)  # every component converted (n_constituents = 1)
    for tag, t in types.items():
        q = quantize_inputs(jets, t, 1)
        bad = np.flatnonzero(q.values.ravel() != got[tag])
        assert bad.size == 0, f"{tag}: {[(values[i], q.values.ravel()[i], got[tag][i]) for i in bad[:5]]}"
        assert q.clipped >= 10  # the out-of-range values are counted in every mode
