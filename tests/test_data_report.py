"""data-report, make-sample and convert-data as a user runs them."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from nanotrig.data import Jets, read_attrs, read_jets, sample_path, write_jets
from nanotrig.data.commands import register
from nanotrig.data.kinematics import jet_p4, mass
from nanotrig.data.report import data_report
from nanotrig.metrics import auc


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="nanotrig")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args([str(a) for a in argv])
    return args.func(args)


def two_prong_jets(masses: np.ndarray, labels: np.ndarray, width: int = 8) -> Jets:
    """Each jet: two massless constituents of 300 GeV along x, opened in y so the pair has ``mass``."""
    n = len(masses)
    pmu = np.zeros((n, width, 4), dtype=np.float32)
    e = 300.0
    # two massless particles with energy e at opening angle theta: m^2 = 2 e^2 (1 - cos theta)
    theta = np.arccos(1 - masses**2 / (2 * e**2))
    for k, sign in enumerate((1, -1)):
        pmu[:, k] = np.stack(
            [np.full(n, e), e * np.cos(theta / 2), sign * e * np.sin(theta / 2), np.zeros(n)], 1
        )
    return Jets(
        pmu=pmu, nobj=np.full(n, 2, np.int32), is_signal=labels.astype(np.int8), truth_pmu=None, source=""
    )


def test_report_numbers_on_known_jets(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(300), np.zeros(300)]
    masses = np.where(labels == 1, rng.normal(175, 10, 600), rng.uniform(20, 190, 600))
    path = write_jets(tmp_path / "known.h5", two_prong_jets(masses, labels))
    np.testing.assert_allclose(mass(jet_p4(read_jets(path).pmu)), masses, rtol=1e-3)

    summary, written = data_report(path, tmp_path / "out", progress=False, w_subjets=False)
    assert summary["jets"] == 600 and summary["signal_fraction"] == 0.5
    assert summary["mass_cut_auc"] == pytest.approx(auc(labels, masses), abs=1e-3)
    assert summary["signal"]["mass_median"] == pytest.approx(np.median(masses[:300]), abs=0.5)
    assert 165 <= summary["signal"]["mass_peak"] <= 185
    assert summary["signal"]["mean_multiplicity"] == 2
    names = sorted(p.name for p in written)
    assert names == ["mass.png", "multiplicity.png", "pt.png", "report.json"]
    assert all(p.stat().st_size > 0 for p in written)
    on_disk = json.loads((tmp_path / "out" / "report.json").read_text())
    assert on_disk["mass_cut_auc"] == summary["mass_cut_auc"]
    assert sum(on_disk["histograms"]["mass"]["signal"]) == 300


def test_data_report_on_shipped_sample_shows_top_and_w(tmp_path, capfd):
    pytest.importorskip("fastjet")
    assert run_cli("data-report", sample_path(), "--out", tmp_path, "--json") == 0
    out = capfd.readouterr().out
    s = json.loads(out)  # stdout is pure JSON: the FastJet banner must not leak into it
    assert 165 < s["signal"]["mass_peak"] < 185  # the top
    assert 70 < s["signal"]["subjet_mmin_peak"] < 90  # the W, as the lightest pair of three subjets
    assert 0.88 < s["mass_cut_auc"] < 0.96
    assert (tmp_path / "subjet_mmin.png").exists()


def test_data_report_table(tmp_path, capsys):
    labels = np.r_[np.ones(10), np.zeros(10)]
    path = write_jets(tmp_path / "k.h5", two_prong_jets(np.linspace(30, 200, 20), labels))
    assert run_cli("data-report", path, "--out", tmp_path / "r", "--no-subjets") == 0
    out = capsys.readouterr().out
    assert "jet-mass-cut AUC" in out and "20 jets" in out and "mass.png" in out


def test_make_sample_is_balanced_truncated_and_recorded(tmp_path, capsys):
    src = sample_path()
    out = tmp_path / "s.h5"
    assert run_cli("make-sample", src, out, "--n", "100", "--keep", "20") == 0
    assert "kept the 20 leading-pT constituents of" in capsys.readouterr().out
    jets, full = read_jets(out), read_jets(src)
    assert len(jets) == 100 and jets.is_signal.sum() == 50 and jets.n_constituents == 20
    first = np.sort(np.r_[np.flatnonzero(full.is_signal == 1)[:50], np.flatnonzero(full.is_signal == 0)[:50]])
    np.testing.assert_array_equal(jets.pmu, full.pmu[first, :20])
    attrs = read_attrs(out)
    assert attrs["kept_constituents"] == 20 and attrs["n_truncated"] == int(np.sum(full.nobj[first] > 20))
    assert attrs["source"] == read_attrs(src)["source"]  # generator settings carried over


def test_make_sample_refuses_impossible_request(tmp_path):
    with pytest.raises(ValueError, match="only 2000 jets with value 1"):
        run_cli("make-sample", sample_path(), tmp_path / "s.h5", "--n", "6000")


def test_convert_data_streams_and_truncates(tmp_path, capsys):
    out = tmp_path / "c.h5"
    assert run_cli("convert-data", sample_path(), out, "--keep", "30", "--chunk-size", "1500") == 0
    assert "leading-pT constituents" in capsys.readouterr().out
    got, want = read_jets(out), read_jets(sample_path(), n_constituents=30)
    np.testing.assert_array_equal(got.pmu, want.pmu)
    np.testing.assert_array_equal(got.is_signal, want.is_signal)
    assert read_attrs(out)["n_truncated"] == want.n_truncated


def test_auc_error_matches_the_mann_whitney_null_variance():
    from nanotrig.data.report import auc_error

    n1, n2 = 400, 600
    assert auc_error(0.5, n1, n2) == pytest.approx(np.sqrt((n1 + n2 + 1) / (12 * n1 * n2)), rel=0.01)
    assert auc_error(0.92, 2000, 2000) < auc_error(0.92, 200, 200)
