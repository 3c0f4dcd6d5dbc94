"""Folding: the canonical form reproduces the unfolded Keras model, for random and shipped models."""

from __future__ import annotations

import argparse
import json

import keras
import numpy as np
import pytest

from nanotrig import fold_commands
from nanotrig.canonical import CanonicalModel
from nanotrig.data import read_jets, sample_path
from nanotrig.errors import NanotrigError
from nanotrig.fold import fold_keras_file, fold_keras_model, formula, parameter_count
from nanotrig.model import build_model, find_nanopelican, with_dtype
from nanotrig.model.testing import randomise_model
from nanotrig.models import MODELS_DIR, resolve_model, shipped_models

SHIPPED = ["c1", "c2", "c3", "c10", "c2n", "c2-n30", "c2-n40", "c2-n60", "c2-n80"]
# trained by `nanotrig qat` as canonical models (from c2): no unfolded Keras model to fold
QAT_SHIPPED = ["c2-qat"]


def _sample(n_constituents: int, stop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    jets = read_jets(sample_path(), n_constituents=n_constituents, stop=stop)
    return np.asarray(jets.pmu, dtype=np.float64), np.asarray(jets.is_signal)


def _keras_scores(model: keras.Model, pmu: np.ndarray) -> np.ndarray:
    m64 = with_dtype(model, "float64")
    return np.concatenate(
        [np.asarray(m64(pmu[i : i + 2000], training=False)).reshape(-1) for i in range(0, len(pmu), 2000)]
    )


def _assert_relative(w_fold: np.ndarray, w_ref: np.ndarray, rtol: float = 1e-6) -> None:
    rel = np.abs(w_fold - w_ref) / np.maximum(np.abs(w_ref), 1e-12)
    assert rel.max() <= rtol, (
        f"worst jet {rel.argmax()}: folded {w_fold[rel.argmax()]} vs {w_ref[rel.argmax()]}"
    )


@pytest.mark.parametrize(
    "hidden, nalpha, beams, scale",
    [(2, False, True, 1.0), (3, True, True, 1.0), (2, False, False, 0.01), (1, True, False, 1.0)],
)
def test_fold_reproduces_random_keras_model(hidden: int, nalpha: bool, beams: bool, scale: float) -> None:
    pmu, _ = _sample(16, stop=1000)
    model = build_model(hidden, 16, scale=scale, beams=beams, nalpha=nalpha, seed=hidden)
    randomise_model(model, pmu[:500], seed=hidden)
    w_ref = _keras_scores(model, pmu)
    assert np.unique(np.round(w_ref, 10)).size > 500  # ReLUs alive: the comparison means something
    canon = fold_keras_model(model, name="t")
    assert [abs(ch.sign) for ch in canon.channels] == [1] * hidden
    assert canon.variant == ("nalpha" if nalpha else "plain")
    _assert_relative(canon.evaluate(pmu), w_ref)
    # The JSON round trip keeps every number.
    again = CanonicalModel.from_dict(json.loads(json.dumps(canon.to_dict())))
    np.testing.assert_array_equal(again.evaluate(pmu[:50]), canon.evaluate(pmu[:50]))


def test_plain_fold_has_integer_multiplicity_powers_and_paper_count() -> None:
    pmu, _ = _sample(20, stop=300)
    canon = fold_keras_model(randomise_model(build_model(2, 20, seed=0), pmu), name="c")
    powers = {p for ch in canon.channels for key in ("pair_const", "diag_const") for _, p in getattr(ch, key)}
    assert powers <= {0.0, 1.0, 2.0}
    assert {p for _, p in canon.out_const} <= {0.0, 1.0, 2.0}
    count = parameter_count(canon)
    assert (count["core_parameters"], count["bn_terms"], count["total_parameters"]) == (19, 3, 22)
    text = formula(canon)
    assert "ReLU" in text and "h=1" in text
    for ch in canon.channels:  # the learned numbers are printed
        assert f"kappa={ch.out_pair[0][0]:+.6g}".replace("=+", "=") in text


def test_dead_channel_cannot_be_folded() -> None:
    model = build_model(2, 8, seed=0)
    layer = find_nanopelican(model)
    coefs = layer.eq2to2.coefs.numpy()
    coefs[0, 1] = 0.0  # channel 1 does not see d_ij
    layer.eq2to2.coefs.assign(coefs)
    with pytest.raises(NanotrigError, match="channel 1"):
        fold_keras_model(model)


def test_fold_keras_file_errors_name_the_file(tmp_path) -> None:
    bad = tmp_path / "broken.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(NanotrigError, match="broken.keras"):
        fold_keras_file(bad)
    with pytest.raises(NanotrigError, match="missing.keras"):
        fold_keras_file(tmp_path / "missing.keras")


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    fold_commands.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_fold_and_info_commands(tmp_path, capsys) -> None:
    pmu, _ = _sample(20, stop=300)
    model = randomise_model(build_model(2, 20, seed=4), pmu)
    model.save(tmp_path / "mine.keras")
    out = tmp_path / "mine.json"
    assert _run(["fold", str(tmp_path / "mine.keras"), "--out", str(out)]) == 0
    assert "s=" in capsys.readouterr().out
    canon = CanonicalModel.load(out)
    _assert_relative(canon.evaluate(pmu), _keras_scores(model, pmu))
    assert _run(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["n_hidden"], info["core_parameters"], info["bn_terms"], info["n_constituents"]) == (
        2,
        19,
        3,
        20,
    )


def test_the_shipped_models_are_there() -> None:
    shipped = shipped_models()
    assert "c2" in shipped
    for name in shipped:
        if name in QAT_SHIPPED:
            assert resolve_model(name).provenance["trained_with"] == "nanotrig qat"
            continue
        assert (MODELS_DIR / f"{name}.keras").exists(), f"{name}.json ships without its {name}.keras"
        assert name in SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_folding_is_exact_on_every_sample_jet(name: str) -> None:
    if name not in shipped_models():
        pytest.skip(f"{name} is not shipped")
    canon = resolve_model(name)
    pmu, labels = _sample(canon.n_constituents)
    keras_model = keras.saving.load_model(MODELS_DIR / f"{name}.keras", compile=False)
    w_keras = _keras_scores(keras_model, pmu)
    w_json = canon.evaluate(pmu)
    _assert_relative(w_json, w_keras)
    _assert_relative(fold_keras_model(keras_model).evaluate(pmu), w_keras)
    # The recorded provenance and test metrics are there and plausible.
    assert canon.provenance["epochs"] >= 1 and canon.metrics["jets"] > 1000
    assert 0.85 < canon.metrics["auc"] < 1.0
    assert canon.n_hidden == find_nanopelican(keras_model).n_hidden
