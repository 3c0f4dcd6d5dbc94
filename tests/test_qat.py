"""Quantization-aware training (nanotrig.qat): the HGQ2 forward pass is the firmware's kernel,
training moves widths and coefficients, the export is what every firmware path then builds."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from nanotrig.canonical import random_canonical
from nanotrig.cli import main as cli_main
from nanotrig.data import read_jets, sample_path
from nanotrig.fixed import Emulator, default_spec
from nanotrig.fixed.analysis import DeriveOptions, trained_spec
from nanotrig.fixed.testjets import edge_case_jets
from nanotrig.models import resolve_model, shipped_models

keras = pytest.importorskip("keras")
pytest.importorskip("hgq")

from nanotrig.qat.cost import spec_cost  # noqa: E402
from nanotrig.qat.export import (  # noqa: E402
    check_coefficients,
    compare_with_emulator,
    finalise,
    learned_model,
    learned_spec,
)
from nanotrig.qat.layer import QNanoPelican, floatx, layer_inputs  # noqa: E402
from nanotrig.qat.ops import KTensor  # noqa: E402
from nanotrig.qat.train import DTYPE, QatConfig, build_qat_model, train_qat  # noqa: E402


def _sample(n: int = 20) -> tuple[np.ndarray, np.ndarray]:
    jets = read_jets(sample_path(), n_constituents=n, check_masses=False)
    return jets.pmu.astype(np.float64), jets.is_signal


def _layer(model, spec, **kw) -> QNanoPelican:  # noqa: ANN001
    with floatx(DTYPE):
        layer = QNanoPelican(model.to_dict(), spec.to_dict(), **kw)
        layer.build((None, model.n_constituents, layer.n_fields))
        layer.graphs = False  # eager: a graph costs ~20 s to trace
    return layer


def _scores(layer: QNanoPelican, pmu: np.ndarray) -> np.ndarray:
    return np.concatenate(
        [
            np.asarray(keras.ops.convert_to_numpy(layer(pmu[s : s + 2000], training=False)))
            for s in range(0, len(pmu), 2000)
        ]
    )


def test_ktensor_indexes_like_numpy() -> None:
    a = np.arange(2 * 5 * 3, dtype=np.float64).reshape(2, 5, 3)
    t = KTensor(keras.ops.convert_to_tensor(a))
    idx = np.array([[0, 4], [2, 2]])
    cases = [
        (slice(None), idx),
        (slice(None), np.array([1, 3])),
        (slice(None), slice(None), None),
        (slice(None), None),
        (slice(None), slice(1, 4)),
        (1,),
    ]
    for item in cases:
        assert np.array_equal(t[item].numpy(), a[item]), item
    assert np.array_equal((3.0 - t * 2.0 + t).numpy(), 3.0 - a * 2.0 + a)
    assert np.array_equal((np.ones(3) - t).numpy(), np.ones(3) - a)  # ndarray op KTensor defers


@pytest.mark.parametrize("name", ["c2", "random-nalpha", "random-no-beams"])
def test_qat_forward_pass_is_the_emulator_at_the_start_spec(name: str) -> None:
    """The HGQ2 model in inference mode computes the firmware's words on every sample jet."""
    if name == "c2":
        model = resolve_model("c2")
        pmu, _ = _sample()
    else:  # multiplicity ROMs in every coefficient; or no beam particles
        model = random_canonical(2, 6, variant="nalpha" if "nalpha" in name else "plain", seed=5, name="rnd")
        if "no-beams" in name:
            model = dataclasses.replace(model, beams=False)
        pmu, _ = _sample(6)
        pmu = np.concatenate([pmu[:1500], edge_case_jets(6, default_spec(model)["input"])[:, :6]])
    spec = default_spec(model).uniform()  # QAT's start: one type per stage
    layer = _layer(model, spec)
    emu = Emulator(model, spec).run(pmu)
    assert np.array_equal(_scores(layer, pmu), emu.scores)
    assert max(bits for bits, _ in emu.exact_bits.values()) <= 53  # float64 holds every value exactly


def _graph_layers():  # noqa: ANN202
    if keras.backend.backend() != "tensorflow":
        pytest.skip("graphs are compiled on the TensorFlow backend only")
    model = resolve_model("c2")
    spec = default_spec(model).uniform()
    pmu, _ = _sample()
    graph = _layer(model, spec)
    graph.graphs = True
    return model, spec, pmu[:1300], graph


def test_the_compiled_graph_computes_the_emulators_words() -> None:
    """The TensorFlow graph (static batch shapes, valid bits as tensors) gives the emulator's words."""
    model, spec, pmu, graph = _graph_layers()
    assert graph._compiled(False, 1024) is not None
    w = graph.apply_batches(pmu, False, batch_size=1024)  # one full batch in the graph, 276 eager
    assert np.array_equal(w, Emulator(model, spec).run(pmu).scores)


@pytest.mark.slow
def test_the_compiled_tracing_graph_finds_the_eager_integer_bits() -> None:
    from nanotrig.qat.export import trace_integer_bits, wrap_quantizers

    model, spec, pmu, graph = _graph_layers()
    eager = _layer(model, spec)
    eager.graphs = False
    trace_integer_bits(eager, pmu, batch_size=1024)
    trace_integer_bits(graph, pmu, batch_size=1024)
    for stage in wrap_quantizers(eager):
        assert eager.stage_type(stage) == graph.stage_type(stage), stage


def test_puppi_qat_forward_pass_is_the_emulator() -> None:
    """PUPPI inputs: the same backend runs the PUPPI front-end (|deta|, folded |dphi|, ROMs, two
    products per pair) and gives the emulator's words at the range-analysed PUPPI spec."""
    model = resolve_model("c2")
    spec = default_spec(model, DeriveOptions(inputs="puppi")).uniform()
    pmu, _ = _sample()
    pmu = pmu[:1500]
    layer = _layer(model, spec)
    assert layer.n_fields == 3 and "deta" in layer.fixed_stages
    emu = Emulator(model, spec).run(pmu)
    assert np.array_equal(layer.apply_batches(layer_inputs(pmu, "puppi"), False), emu.scores)
    assert spec_cost(spec, 20, 2)["total"] > 0


def _tiny_run(tmp_path, model, beta: float = 2e-4, epochs: int = 1, **kw) -> QatConfig:  # noqa: ANN001
    spec = default_spec(model).uniform()
    cfg = QatConfig(
        name="tiny",
        model=model.to_dict(),
        precision=spec.to_dict(),
        train=str(sample_path()),
        valid=str(sample_path()),
        out_dir=str(tmp_path / "run"),
        epochs=epochs,
        batch_size=1024,
        beta=beta,
        beta_start=beta,
        beta_ramp=0,
        n_train=2048,
        n_valid=1000,
        warmup=0,
        lr_init=0.6,  # two steps: widths must move by whole bits
        graphs=False,  # eager: tracing TensorFlow graphs would take longer than these runs
        **kw,
    )
    return cfg


def test_training_narrows_the_firmware_and_the_export_is_bit_exact(tmp_path) -> None:
    """One short epoch with a strong resource term: widths shrink, the exported model + spec give
    the QAT model's own quantized scores on every sample jet, and every command builds them."""
    model = resolve_model("c2")
    cfg = _tiny_run(tmp_path, model)
    state = train_qat(cfg, log=lambda s: None)
    assert [h["epoch"] for h in state["history"]] == [0, 1]
    assert state["history"][1]["cost"] < state["history"][0]["cost"]
    qat_model = build_qat_model(cfg)
    qat_model.load_weights(tmp_path / "run" / "epochs" / "epoch_1.weights.h5")
    layer = qat_model.kernel
    pmu, _ = _sample()
    finalise(layer, pmu[:2048])
    spec = learned_spec(layer)
    start = default_spec(model)
    narrower = [s for s in spec.keys if spec[s].width < start[s].width]
    assert "z" in narrower and len(narrower) >= 5, narrower
    canon = learned_model(layer, "tiny", spec, {"n_constituents": 20})
    assert canon.channels[0].pair_row != model.channels[0].pair_row  # the coefficients moved
    check_coefficients(layer, canon, spec)
    res = compare_with_emulator(layer, canon, spec, pmu)
    assert res["mismatches"] == 0 and res["exact_in_float64"], res
    # the spec travels in the model: default_spec (every firmware command) returns it
    path = canon.save(tmp_path / "tiny.json")
    again = resolve_model(str(path))
    assert default_spec(again).precision_dict() == spec.precision_dict()
    assert np.array_equal(Emulator(again, default_spec(again)).run(pmu).scores, res["scores"])
    # other options than the defaults re-derive by range analysis
    other = default_spec(again, DeriveOptions(input_bits=16))
    assert other["input"].width == 16 and other.provenance.get("derived_by", "").endswith("derive_spec")
    assert spec_cost(spec, 20, 2)["total"] < spec_cost(start, 20, 2)["total"]


def test_qat_run_resumes_and_refuses_other_settings(tmp_path) -> None:
    model = random_canonical(1, 6, seed=2, name="r1")
    cfg = _tiny_run(tmp_path, model, epochs=1)
    train_qat(cfg, log=lambda s: None)
    lines: list[str] = []
    cfg2 = _tiny_run(tmp_path, model, epochs=2)
    state = train_qat(cfg2, log=lines.append)
    assert any("resuming tiny after epoch 1" in s for s in lines)
    assert [h["epoch"] for h in state["history"]] == [0, 1, 2]
    # the exported model's name may change (export a finished run under the name it ships as)
    renamed = train_qat(dataclasses.replace(cfg2, name="shipped"), log=lambda s: None)
    assert [h["epoch"] for h in renamed["history"]] == [0, 1, 2]
    cfg3 = _tiny_run(tmp_path, model, epochs=2, beta=1e-3)
    with pytest.raises(Exception, match="beta: 0.0002 -> 0.001"):
        train_qat(cfg3, log=lambda s: None)


def test_qat_cli_exports_a_model_the_rtl_trace_builds(tmp_path, capsys) -> None:
    """`nanotrig qat` end to end on a small-N model, then the learned firmware through da4ml: the
    traced RTL computes the emulator's integers with the learned widths; fixed stages stay."""
    from nanotrig.rtl.trace import trace_kernel

    model = random_canonical(2, 5, seed=9, name="small")
    src = model.save(tmp_path / "small.json")
    rc = cli_main(
        [
            "qat",
            str(src),
            "--data",
            str(sample_path()),
            "--valid",
            str(sample_path()),
            "--n-train",
            "2048",
            "--n-valid",
            "1000",
            "--epochs",
            "1",
            "--beta",
            "3e-3",
            "--beta-ramp",
            "0",
            "--warmup",
            "0",
            "--lr-init",
            "0.6",
            "--fix",
            "result=quantized_bits(16,6)",
            "--out",
            str(tmp_path / "run"),
            "--eager",
            "--json",
        ]
    )
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert report["bit_exact_sample"]["mismatches"] == 0
    assert report["precision"]["result"] == "ap_fixed<16,7,AP_RND,AP_SAT>"  # kept as given
    out = resolve_model(report["files"]["model"])
    assert out.name == "small-qat" and trained_spec(out) is not None
    spec = default_spec(out)
    traced = trace_kernel(out, spec)
    pmu, _ = _sample(5)
    emu = Emulator(out, spec).run(pmu[:300])
    words = emu.inputs.words.reshape(300, -1)
    got = traced.comb.predict(words * spec["input"].lsb)[:, 0] / spec["result"].lsb
    assert np.array_equal(got, emu.raw.astype(np.float64))


def test_qat_cli_bad_fixed_stage_names_the_stage(tmp_path, capsys) -> None:
    rc = cli_main(
        [
            "qat",
            "c2",
            "--data",
            str(sample_path()),
            "--valid",
            str(sample_path()),
            "--fix",
            "zz=ap_fixed<8,4>",
        ]
    )
    assert rc == 2
    assert "unknown stage 'zz'" in capsys.readouterr().err


def test_trained_spec_only_for_its_own_n() -> None:
    from nanotrig.report.collect import with_constituents

    if "c2-qat" not in shipped_models():
        pytest.skip("c2-qat not shipped")
    model = resolve_model("c2-qat")
    assert trained_spec(model) is not None
    assert trained_spec(with_constituents(model, 16)) is None


def test_shipped_c2_qat_is_the_qat_models_forward_pass() -> None:
    """The shipped c2-qat rebuilt as the HGQ2 model (its coefficients, its learned types) gives the
    emulator's words on every sample jet; no internal stage overflows, and the score saturates
    (AP_SAT, the range QAT learned), if at all, only far beyond any trigger threshold."""
    if "c2-qat" not in shipped_models():
        pytest.skip("c2-qat not shipped")
    model = resolve_model("c2-qat")
    spec = default_spec(model)  # the learned types, with per-index integer bits
    assert spec.precision_dict() == trained_spec(model).precision_dict() and spec.index_bits
    pmu, labels = _sample()
    layer = _layer(model, spec.uniform())  # the HGQ2 model has one type per stage
    emu = Emulator(model, spec).run(pmu)
    assert np.array_equal(_scores(layer, pmu), emu.scores)
    internal = {s: n for s, n in emu.overflows.items() if n and s != "result"}
    assert not internal, emu.overflow_report()
    t = spec["result"]
    saturated = (emu.scores >= t.max_value) | (emu.scores <= t.min_value)
    assert saturated.sum() >= emu.overflows.get("result", 0)
    # the float scores of any saturated jet lie near or beyond the range too, and the 30 %
    # efficiency threshold (1.74 on the stand-in test jets) is well inside it
    assert np.all(np.abs(model.evaluate(pmu)[saturated]) > 0.75 * t.max_value) and t.max_value > 3.0
    c2 = default_spec(resolve_model("c2"))
    assert spec_cost(spec, 20, 2)["total"] < 0.8 * spec_cost(c2, 20, 2)["total"]


def test_input_words_wider_than_a_dsp_port_cost_a_dsp_each_and_are_cut_at_export() -> None:
    """A product of words wider than the DSP48E2's 18 bits takes a second DSP (a run that learned
    19-bit words built 1,520 DSPs, c2 760): the cost prices it, the export cuts the word to 18
    bits, and the exported firmware is still the layer's own forward pass."""
    model = resolve_model("c2")
    start = default_spec(model).uniform()
    assert start["input"].width == 18
    wide = start.with_overrides({"input": "ap_fixed<20,13,AP_RND,AP_SAT>"})
    costs = [spec_cost(s, 20, 2)["d"] for s in (start, wide)]
    assert costs[1] - costs[0] > 4 * 190 * 2 * 100  # two bits past the port, ~160 LUT each per product
    layer = _layer(model, wide)
    pmu, _ = _sample()
    finalise(layer, pmu[:1000])
    spec = learned_spec(layer)
    assert spec["input"].width == 18 < wide["input"].width  # at the LSB that fits the data in 18 bits
    canon = learned_model(layer, "cut", spec, {"n_constituents": 20})
    res = compare_with_emulator(layer, canon, spec, pmu[:1000])
    assert res["mismatches"] == 0, res
