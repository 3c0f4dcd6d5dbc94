"""`nanotrig eval` and `nanotrig predict` on shipped names, canonical JSON and .keras files."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from nanotrig.data import read_jets, sample_path
from nanotrig.errors import NanotrigError
from nanotrig.model import commands
from nanotrig.models import MODELS_DIR, resolve_model


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_predict_writes_float64_scores_in_file_order(tmp_path) -> None:
    out = tmp_path / "w.npy"
    assert _run(["predict", "c2", "--data", str(sample_path()), "--n", "300", "--out", str(out)]) == 0
    w = np.load(out)
    assert w.dtype == np.float64 and w.shape == (300,)
    model = resolve_model("c2")
    jets = read_jets(sample_path(), n_constituents=model.n_constituents, stop=300)
    np.testing.assert_array_equal(w, model.evaluate(jets.pmu))
    # The .keras file (run by Keras) gives the same scores as the canonical JSON.
    out_k = tmp_path / "wk.npy"
    assert (
        _run(
            [
                "predict",
                str(MODELS_DIR / "c2.keras"),
                "--data",
                str(sample_path()),
                "--n",
                "300",
                "--out",
                str(out_k),
            ]
        )
        == 0
    )
    np.testing.assert_allclose(np.load(out_k), w, rtol=1e-6, atol=1e-9)


def test_eval_prints_metrics_and_roc(tmp_path, capsys) -> None:
    png = tmp_path / "roc.png"
    assert _run(["eval", "c2", "--data", str(sample_path()), "--json", "--roc", str(png)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["jets"] == 4000
    assert 0.9 < summary["auc"] < 1.0 and 0.8 < summary["accuracy"] < 1.0
    assert summary["rejection_30"] > summary["rejection_50"] > 1.0
    assert png.stat().st_size > 1000
    numbers = json.loads(png.with_suffix(".json").read_text())
    assert numbers["c2"]["auc"] == pytest.approx(summary["auc"])
    assert _run(["eval", "c2", "--data", str(sample_path()), "--n", "500"]) == 0
    assert "AUC" in capsys.readouterr().out


def test_bad_model_and_data_are_reported(tmp_path) -> None:
    with pytest.raises(NanotrigError, match="no-such-model"):
        _run(["eval", "no-such-model", "--data", str(sample_path())])
    with pytest.raises(NanotrigError, match="missing.h5"):
        _run(["predict", "c2", "--data", str(tmp_path / "missing.h5"), "--out", str(tmp_path / "w.npy")])
