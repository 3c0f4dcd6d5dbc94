"""The Pythia 8 + FastJet stand-in generator: detector smearing, truth matching, shards, resuming."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from nanotrig.data import JetFileError, read_attrs, read_jets
from nanotrig.data.generate.select import decay_partons
from nanotrig.data.generate.settings import GenSettings
from nanotrig.data.generate.smear import smear_particles
from nanotrig.data.kinematics import delta_r, eta, jet_p4, mass, phi, pt

CHARGED = {211: 1, -211: -1, 13: -1, 11: -1}


def charge_of(pid: np.ndarray) -> np.ndarray:
    return np.array([CHARGED.get(int(p), 0) for p in pid], dtype=float)


def massless(e: float, eta_: float, phi_: float) -> list[float]:
    pt_ = e / np.cosh(eta_)
    return [e, pt_ * np.cos(phi_), pt_ * np.sin(phi_), pt_ * np.sinh(eta_)]


def smear(rows: list[list[float]], pid: list[int], event: list[int] | None = None, seed: int = 0):
    p4 = np.array(rows, dtype=float)
    ev = np.zeros(len(rows), dtype=np.int64) if event is None else np.array(event)
    return smear_particles(p4, np.array(pid), ev, charge_of, np.random.default_rng(seed))


def test_photon_becomes_one_neutral_candidate_in_its_cell():
    out, ev = smear([massless(50.0, 0.31, 1.0)], [22])
    assert out.shape == (1, 4) and ev.tolist() == [0]
    assert out[0, 0] == pytest.approx(50.0, rel=0.1)  # ECAL resolution ~1.5 % at 50 GeV
    assert abs(eta(out[0]) - 0.31) < 0.03 and abs(phi(out[0]) - 1.0) < 0.03  # the cell's centre
    assert mass(out[0]) == pytest.approx(0.0, abs=1e-3)


def test_tracked_pion_is_subtracted_from_the_calorimeter():
    # a 20 GeV pi+ and a 30 GeV neutron in the same HCAL cell: the track plus ~30 GeV of neutral energy
    pion = massless(20.0, 0.52, -2.0)
    neutron = massless(30.0, 0.53, -2.01)
    tracks, neutral, total = 0, [], []
    for seed in range(40):
        out, _ = smear([pion, neutron], [211, 2112], seed=seed)
        is_track = np.abs(out[:, 0] - 20.0) < 1.0  # tracker: ~1 % resolution at 20 GeV
        if is_track.sum() == 1 and len(out) == 2:
            tracks += 1
            neutral.append(out[~is_track, 0][0])
        total.append(out[:, 0].sum())
    assert tracks >= 30  # 95 % tracking efficiency
    assert np.mean(neutral) == pytest.approx(30.0, abs=2.5)  # the cell minus the pion's energy
    assert np.mean(total) == pytest.approx(50.0, abs=2.5)


def test_soft_neutral_below_threshold_and_forward_muon_are_lost():
    out, _ = smear([massless(0.3, 0.0, 0.0), massless(40.0, 3.0, 0.0)], [22, 13])
    assert out.shape == (0, 4)


def test_events_stay_separate_and_ordered():
    rows = [massless(40.0, 0.0, 0.5), massless(40.0, 0.0, 0.5), massless(60.0, 1.0, -1.0)]
    out, ev = smear(rows, [22, 22, 22], event=[0, 1, 1])
    assert ev.tolist() == sorted(ev.tolist()) and set(ev.tolist()) == {0, 1}
    assert out[ev == 0, 0].sum() == pytest.approx(40.0, rel=0.15)


def test_decay_partons_follows_recoil_copies():
    # 0 system, 1 t, 2 t copy, 3 W, 4 b, 5 W copy, 6 u, 7 d~ ; daughters as Pythia writes them
    pid = np.array([90, 6, 6, 24, 5, 24, 2, -1])
    d1 = np.array([0, 2, 3, 5, 0, 6, 0, 0])
    d2 = np.array([0, 0, 4, 0, 0, 7, 0, 0])
    assert decay_partons(pid, d1, d2) == [(2, 4, 6, 7)]
    leptonic = pid.copy()
    leptonic[6:] = [-11, 12]
    assert decay_partons(leptonic, d1, d2) == []


def run_cli(*argv: object) -> int:
    from nanotrig.data.commands import register

    parser = argparse.ArgumentParser(prog="nanotrig")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args([str(a) for a in argv])
    return args.func(args)


def check_jets(path: Path, n: int, settings: GenSettings) -> None:
    jets = read_jets(path)
    assert len(jets) == n and jets.n_constituents == settings.max_constituents
    assert int(jets.is_signal.sum()) == n - n // 2
    p4 = jet_p4(jets.pmu)
    assert np.all((pt(p4) > settings.jet_pt_min * 0.99) & (pt(p4) < settings.jet_pt_max * 1.01))
    assert np.all(np.abs(eta(p4)) < settings.jet_eta_max + 0.05)
    cpt = np.hypot(jets.pmu[..., 1], jets.pmu[..., 2])
    assert np.all(np.diff(cpt, axis=1) <= 1e-3)  # leading pT first, padding last
    top = jets.is_signal == 1
    truth = jets.truth_pmu.astype(np.float64)
    assert not truth[~top].any()
    assert np.all(delta_r(eta(truth[top]), phi(truth[top]), eta(p4[top]), phi(p4[top])) < settings.match_dr)
    top_mass = mass(truth[top])  # the truth four-vector is a top quark (Breit-Wigner, long tails)
    assert abs(np.median(top_mass) - 172.5) < 3 and np.all((top_mass > 140) & (top_mass < 210))


def test_gen_data_tiny_set_and_resume(tmp_path, capsys):
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    out = tmp_path / "gen"
    args = (
        "gen-data",
        "--out",
        out,
        "--train",
        4,
        "--test",
        2,
        "--workers",
        1,
        "--shard-jets",
        2,
        "--seed",
        3,
    )
    assert run_cli(*args) == 0
    assert "wrote" in capsys.readouterr().out
    for split, n in (("train", 4), ("test", 2)):
        check_jets(out / f"{split}.h5", n, GenSettings())
    attrs = read_attrs(out / "train.h5")
    assert attrs["seed"] == 3 and attrs["settings"]["smear"] is True and "Delphes-like" in attrs["source"]
    first = read_jets(out / "train.h5").pmu

    assert run_cli(*args) == 0  # every shard is finished: nothing is generated again
    assert "4 finished shards reused" in capsys.readouterr().out
    np.testing.assert_array_equal(read_jets(out / "train.h5").pmu, first)

    with pytest.raises(JetFileError, match="other settings"):
        run_cli(*args, "--no-smear")


def test_gen_data_rejects_bad_requests(tmp_path):
    with pytest.raises(JetFileError, match="nothing to generate"):
        run_cli("gen-data", "--out", tmp_path)
    with pytest.raises(JetFileError, match="pthat-min"):
        run_cli("gen-data", "--out", tmp_path, "--test", 2, "--pthat-min", 900)


@pytest.mark.slow
def test_result_does_not_depend_on_workers_and_looks_like_tops(tmp_path):
    pytest.importorskip("pythia8mc")
    common = ("--test", 40, "--shard-jets", 10, "--seed", 5, "--no-smear")
    assert run_cli("gen-data", "--out", tmp_path / "one", "--workers", 1, *common) == 0
    assert run_cli("gen-data", "--out", tmp_path / "two", "--workers", 2, *common) == 0
    one, two = read_jets(tmp_path / "one" / "test.h5"), read_jets(tmp_path / "two" / "test.h5")
    np.testing.assert_array_equal(one.pmu, two.pmu)
    check_jets(tmp_path / "one" / "test.h5", 40, GenSettings(smear=False))
    m = mass(jet_p4(one.pmu))
    assert 150 < np.median(m[one.is_signal == 1]) < 200 and np.median(m[one.is_signal == 0]) < 130
