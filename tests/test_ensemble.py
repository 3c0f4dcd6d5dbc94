"""``nanotrig train --seeds A-B --keep K``: one training per seed on a real 2-process LocalCluster."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nanotrig.cli import main
from nanotrig.data import sample_path
from nanotrig.errors import NanotrigError
from nanotrig.model.ensemble import parse_seeds


def test_seed_lists() -> None:
    assert parse_seeds("1-25") == list(range(1, 26))
    assert parse_seeds("3,1-2,3") == [3, 1, 2]
    for bad in ("5-1", "x", "1-"):
        with pytest.raises(NanotrigError, match="--seeds"):
            parse_seeds(bad)


def test_two_seeds_on_two_workers_keep_the_lowest_validation_loss(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = str(sample_path())
    out = tmp_path / "ens"
    args = ["train", "--data", sample, "--valid", sample, "--test", sample, "--name", "tiny"]
    args += ["--n-constituents", "8", "--epochs", "2", "--warmup", "1", "--batch-size", "256"]
    args += ["--n-train", "1024", "--n-valid", "1024", "--seeds", "1-2", "--keep", "2", "--workers", "2"]
    args += ["--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    table = json.loads((out / "ensemble.json").read_text())
    assert table["seeds"] == [1, 2] and table["kept_seeds"] and table["seeds_trained"] == 2
    losses = {r["seed"]: r["best_valid_loss"] for r in table["ranked"]}
    best = min(losses, key=losses.get)
    assert table["best"]["seed"] == best and [r["seed"] for r in table["ranked"]][0] == best
    for seed in (1, 2):  # each seed trained in its own, resumable, run directory
        state = json.loads((out / f"seed{seed}" / "state.json").read_text())
        assert state["epoch"] == 2 and state["config"]["seed"] == seed
    # the result is the best seed's model
    best_model = json.loads((out / "tiny.json").read_text())
    assert best_model == json.loads((out / f"seed{best}" / "tiny.json").read_text())
    assert best_model["provenance"]["seed"] == best
    # mean +- std over the kept seeds, as printed in the Markdown table
    aucs = [r["metrics"]["auc"] for r in table["ranked"]]
    assert table["kept"]["auc"]["mean"] == pytest.approx(np.mean(aucs))
    assert table["kept"]["auc"]["std"] == pytest.approx(np.std(aucs, ddof=1))
    row = f"| best 2 of 2 (mean ± std) | {table['kept']['accuracy']['mean']:.4f} ± "
    assert row in (out / "ensemble.md").read_text() and row in printed
    assert table["threads"] == [{"intra_op": 1, "inter_op": 1}]  # one TF thread per worker

    assert main(args) == 0  # both seeds finished: nothing is trained again
    capsys.readouterr()
    again = json.loads((out / "ensemble.json").read_text())
    assert (again["seeds_trained"], again["seeds_reused"]) == (0, 2) and again["best"] == table["best"]


def test_keep_must_fit_the_seeds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sample = str(sample_path())
    args = ["train", "--data", sample, "--valid", sample, "--seeds", "1-3", "--keep", "5"]
    assert main([*args, "--out", str(tmp_path), "--cluster", "inline"]) == 2
    assert "--keep 5: must be between 1 and the 3 seeds given" in capsys.readouterr().err
