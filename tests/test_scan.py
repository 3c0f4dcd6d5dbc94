"""``nanotrig scan``: a 2-point scan on a real 2-process LocalCluster, its JSON, plots and resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nanotrig.canonical import random_canonical
from nanotrig.cli import main
from nanotrig.scan.plots import pareto_front


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_canonical(2, 2, seed=5, name="tiny").save(tmp_path_factory.mktemp("m") / "tiny.json")


def test_pareto_front_keeps_what_nothing_beats() -> None:
    pts = [(1.0, 0.5), (2.0, 0.7), (2.5, 0.6), (3.0, 0.9), (0.5, 0.4), (3.0, 0.8)]
    assert pareto_front(pts) == [(0.5, 0.4), (1.0, 0.5), (2.0, 0.7), (3.0, 0.9)]


@pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed")
def test_two_point_scan_on_two_workers_merges_plots_and_resumes(
    model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "scan"
    args = ["scan", str(model_file), "--n", "1,2", "--workers", "2", "--out", str(out)]
    assert main([*args, "--json"]) == 0
    scan = json.loads(capsys.readouterr().out)
    assert scan["points"] == 2 and scan["points_run"] == 2
    assert "local cluster of 2 worker processes" in scan["cluster"]
    small, large = scan["rows"]
    assert (small["n_constituents"], large["n_constituents"]) == (1, 2)
    for r in scan["rows"]:
        assert r["jets"] == 4000 and 0.0 < r["auc"] < 1.0 and r["rejection_30"] > 0
        assert abs(r["auc"] - r["float"]["auc"]) < 0.01  # default widths follow the float model
        assert r["device_source"] == "Yosys estimate" and r["lut"] > 0
        assert r["device_fraction"] == pytest.approx(
            max(r["lut"] / 1_728_000, r["ff"] / 3_456_000, r["dsp"] / 12_288, r["bram18"] / 5_376)
        )
    assert (small["dsp"], large["dsp"]) == (0, 4)  # 4 products per constituent pair
    assert large["device_fraction"] > small["device_fraction"]
    pareto = json.loads((out / "scan_pareto.json").read_text())
    assert {p["name"] for p in pareto["panels"]["auc"]["points"]} == {small["name"], large["name"]}
    assert (out / "scan_pareto.png").stat().st_size > 10_000
    latency = json.loads((out / "scan_latency.json").read_text())
    (line,) = latency["lines"].values()
    assert [p["n_constituents"] for p in line] == [1, 2]
    assert json.loads((out / "scan.json").read_text())["rows"] == scan["rows"]

    assert main(args) == 0  # the same command again: both points come from the store
    text = capsys.readouterr().out
    assert "2 points (2 reused)" in text and small["name"] in text


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--inputs", "ptetaphi", "--inputs 'ptetaphi': unknown input mode"),
        ("--reuse", "10", "reuse factors 1 .. 9"),
    ],
)
def test_options_that_do_not_exist_yet_are_refused_before_any_work(
    model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str, message: str
) -> None:
    out = tmp_path / "scan"
    assert main(["scan", str(model_file), flag, value, "--out", str(out), "--cluster", "inline"]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_scan_over_both_input_modes_reports_trigger_decisions(
    model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "scan"
    args = ["scan", str(model_file), "--n", "2", "--inputs", "cartesian,puppi", "--no-yosys"]
    assert main([*args, "--cluster", "inline", "--out", str(out), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert sorted(r["inputs"] for r in rows) == ["cartesian", "puppi"]
    by = {r["inputs"]: r for r in rows}
    assert by["cartesian"]["da4ml_products"] == 4 and by["puppi"]["da4ml_products"] == 2 + 4  # pair + beams
    for r in rows:
        assert 0.0 <= r["decision_flips"] < 0.1 and set(r["decision_flips_by_eff"]) == {
            "0.30",
            "0.50",
            "0.70",
        }
    assert by["puppi"]["types"]["input_pt"].startswith("ap_ufixed<14,12")


def test_scan_over_reuse_factors_divides_the_pair_products(
    model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "scan"
    args = ["scan", str(model_file), "--n", "10", "--reuse", "5,9", "--clock", "200,360", "--no-yosys"]
    assert main([*args, "--inputs", "puppi", "--cluster", "inline", "--out", str(out), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    by = {(r["reuse"], r["clock_mhz"]): r for r in rows}
    assert len(by) == 4 and {r["ii"] for r in rows} == {5, 9}
    # 45 pairs x 2 products at II = 1 (+ 2 per constituent); at R = 5 on 9 pair units and 2 beam
    # units; at R = 9 still 9 (the rotation takes ceil(N / R) units per circular distance)
    assert by[(5, 200.0)]["da4ml_products"] == by[(9, 200.0)]["da4ml_products"] == 2 * 9 + 2 * 2
    # one jet per 25 ns: R = 5 at 200 MHz and R = 9 at 360 MHz do, R = 9 at 200 MHz does not
    assert by[(5, 200.0)]["sustains_25ns"] and by[(9, 360.0)]["sustains_25ns"]
    assert not by[(9, 200.0)]["sustains_25ns"]
    assert by[(5, 200.0)]["auc"] == by[(9, 360.0)]["auc"]  # the same integers at any R


def test_malformed_lists_are_one_line_errors(model_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(model_file), "--n", "2,x"]) == 2
    assert "--n must be a comma-separated list of ints, got '2,x'" in capsys.readouterr().err
