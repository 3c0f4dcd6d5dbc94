"""The ``nanotrig rtl``, ``rtlsim`` and ``report`` commands end to end on a tiny model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_report_vendor import fake_vitis_project

from nanotrig.canonical import random_canonical
from nanotrig.cli import main
from nanotrig.data import sample_path
from nanotrig.rtl.tools import have_simulator


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_canonical(2, 2, seed=5, name="tiny").save(tmp_path_factory.mktemp("m") / "tiny.json")


def test_rtl_command_writes_verilog_vhdl_and_metadata(model_file: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    assert main(["rtl", str(model_file), "--out", str(tmp_path / "rtl")]) == 0
    out = capsys.readouterr().out
    meta = json.loads((tmp_path / "rtl" / "rtl.json").read_text())
    assert f"latency {meta['latency_cycles']} cycles" in out
    top = (tmp_path / "rtl" / "verilog" / "nanopelican.v").read_text()
    for port in ("ap_clk", "ap_rst", "jet_ap_vld", "jet_0", "jet_7", "score_0", "score_0_ap_vld"):
        assert port in top
    assert (tmp_path / "rtl" / "vhdl" / "nanopelican.vhd").exists()
    assert (tmp_path / "rtl" / "README.md").exists()


def test_unknown_model_is_one_line_error(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    assert main(["rtl", "no-such-model", "--out", str(tmp_path)]) == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err


@pytest.mark.skipif(not have_simulator("icarus"), reason="icarus not installed")
def test_rtlsim_command_reports_zero_mismatches(model_file: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    args = ["rtlsim", str(model_file), "--data", str(sample_path()), "--jets", "120", "--sim", "icarus"]
    assert main([*args, "--work", str(tmp_path), "--bubbles", "0.2", "--reset-mid", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["mismatches"] == 0 and res["latency_cycles"] == res["expected_latency"]
    assert res["jets"] + res["flushed_by_reset"] == 120


@pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed")
def test_report_json_has_the_promised_keys_and_vendor_numbers(
    model_file: Path, tmp_path: Path, capsys
) -> None:  # noqa: ANN001
    project = fake_vitis_project(tmp_path / "prj")
    args = ["report", str(model_file), "--work", str(tmp_path / "w"), "--project", str(project), "--json"]
    assert main(args) == 0
    rep = json.loads(capsys.readouterr().out)
    for key in ("latency_cycles", "clock_mhz", "ii", "dsp", "lut", "ff", "source"):
        assert rep[key] is not None, key
    assert rep["dsp"] == 4 and rep["ii"] == 1 and rep["clock_mhz"] == 200.0  # one pair: four products
    assert 0 < rep["ff"] <= rep["da4ml"]["reg_bits"] + 64  # registers: the values crossing stages
    assert rep["lut"] > 0
    assert rep["source"].startswith("Yosys estimate")
    assert rep["vendor"]["latency_cycles"] == 14
    # second call: everything cached (RTL and Yosys keyed by model + spec + clock)
    assert main(args[:-1]) == 0
    text = capsys.readouterr().out
    assert "Yosys estimate" in text
    assert "1,080" in text  # the vendor column: Vivado synthesis DSPs


@pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed")
def test_report_by_stage_adds_up_and_gives_the_device_fraction(
    model_file: Path, tmp_path: Path, capsys
) -> None:  # noqa: ANN001
    for mode in ("puppi",):  # the Cartesian report's keys are checked above; one Yosys pair here
        args = ["report", str(model_file), "--inputs", mode, "--work", str(tmp_path / mode), "--by-stage"]
        assert main([*args, "--json"]) == 0
        rep = json.loads(capsys.readouterr().out)
        assert rep["inputs"] == mode and rep["implementation"]["pair_table"] == "bram"
        assert rep["bram18"] == 2  # one pair, both its ROMs in block RAM (as Yosys maps this model's tables)
        assert rep["dsp"] == (4 if mode == "cartesian" else 2 + 4)  # one pair; PUPPI: + 2 beams x 2
        assert rep["device_fraction"] == pytest.approx(
            max(rep["lut"] / 1_728_000, rep["ff"] / 3_456_000, rep["dsp"] / 12_288, rep["bram18"] / 5_376)
        )
        stages = rep["stages"]
        assert {"d", "z", "ReLU, masks, adder trees", "handshake"} <= set(stages)
        assert ("front-end" in stages) == (mode == "puppi")
        assert stages["d"]["dsp"] == rep["dsp"]  # every product belongs to d
        assert stages["front-end"]["bram18"] == 2
        for r in ("lut", "ff", "dsp", "carry"):
            assert sum(v[r] for v in stages.values()) == pytest.approx(rep[r], rel=0.05), r
        png = Path(rep["stages_plot"])
        assert (
            png.stat().st_size > 10_000
            and json.loads(png.with_suffix(".json").read_text())["stages"] == stages
        )
    assert main(args) == 0  # cached: the text report prints the table
    assert "by stage (Yosys, one module per stage group)" in capsys.readouterr().out


def test_360_mhz_fits_products_into_their_dsp_registers(model_file: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """Two adder delays per stage at 360 MHz: every product ends in its MREG at a boundary."""
    for clock in ("200", "360"):
        assert (
            main(
                [
                    "rtl",
                    str(model_file),
                    "--inputs",
                    "puppi",
                    "--clock",
                    clock,
                    "--out",
                    str(tmp_path / clock),
                ]
            )
            == 0
        )
    slow = json.loads((tmp_path / "200" / "rtl.json").read_text())
    fast = json.loads((tmp_path / "360" / "rtl.json").read_text())
    assert fast["units_per_stage"] == 2 and slow["units_per_stage"] == 5
    assert fast["latency_cycles"] > slow["latency_cycles"]
    assert fast["latency_ns"] < 2 * slow["latency_ns"]


def test_bits_scan_trades_auc_for_luts(model_file: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    args = ["report", str(model_file), "--work", str(tmp_path / "w"), "--no-yosys", "--scan-bits", "4,16"]
    assert main([*args, "--plot-dir", str(tmp_path / "plots"), "--json"]) == 0
    scan = json.loads(capsys.readouterr().out)["scan_bits"]
    assert scan["jets"] == 4000 and [r["bits"] for r in scan["rows"]] == [4, 16]
    narrow, wide = scan["rows"]
    assert abs(wide["auc"] - scan["float"]["auc"]) < 2e-3  # wide internals reproduce the float model
    assert narrow["da4ml_lut"] < wide["da4ml_lut"]
    assert narrow["types"]["z"] != wide["types"]["z"]
    png = tmp_path / "plots" / "tiny_scan_bits.png"
    assert png.stat().st_size > 10_000
    assert json.loads(png.with_suffix(".json").read_text())["rows"][1]["bits"] == 16
    # the text report prints one row per width; a second run reuses the cached RTL
    assert main(args) == 0
    assert "bits scan on 4,000 jets" in capsys.readouterr().out


def test_bits_scan_rejects_a_malformed_list(model_file: Path, capsys) -> None:  # noqa: ANN001
    assert main(["report", str(model_file), "--no-yosys", "--scan-bits", "12,x"]) == 2
    assert "--scan-bits must be comma-separated integers, got '12,x'" in capsys.readouterr().err
