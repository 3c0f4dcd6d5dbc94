"""Yosys resource counts: parsing (a real synth_xilinx run is in test_report_cli.py)."""

from __future__ import annotations

import json

import pytest

from nanotrig.errors import NanotrigError
from nanotrig.report.yosys import count_cells, expanded_cells, module_cells, parse_stat_json

STAT = {
    "modules": {
        "\\nanopelican": {
            "num_cells_by_type": {
                "CARRY8": 7,
                "DSP48E2": 4,
                "FDRE": 100,
                "FDSE": 2,
                "LUT2": 30,
                "LUT6": 12,
                "LUT6_2": 6,
                "SRL16E": 3,
                "MUXF7": 5,
                "RAMB18E2": 3,
                "RAMB36E2": 2,
            }
        }
    }
}


def test_cell_counts_are_grouped_like_vivado() -> None:
    cells = parse_stat_json(json.dumps(STAT), "nanopelican")
    c = count_cells(cells)
    assert c == {"lut": 51, "ff": 102, "dsp": 4, "carry": 7, "bram": 5, "bram18": 7, "srl": 3}


def test_device_fraction_is_the_scarcest_resource_of_the_part() -> None:
    from nanotrig.report.device import device_fraction, part_for, scarcest

    c2 = {"lut": 102_747, "ff": 65_498, "dsp": 760, "bram18": 0}
    assert device_fraction(c2, "xcvu13p-flga2577-2-e") == pytest.approx(760 / 12_288)
    assert scarcest(c2) == "dsp"
    assert device_fraction({"lut": 1_728_000 // 2, "dsp": 1}) == pytest.approx(0.5)
    assert device_fraction({"lut": None}) is None
    with pytest.raises(NanotrigError, match="unknown FPGA part 'xc7z020'"):
        part_for("xc7z020")


def test_bad_statistics_name_the_problem() -> None:
    with pytest.raises(NanotrigError, match="not valid JSON"):
        parse_stat_json("{", "top")
    with pytest.raises(NanotrigError, match="no module 'top'"):
        parse_stat_json(json.dumps({"modules": {"\\other": {}}}), "top")


def test_kept_rom_modules_count_once_per_instance() -> None:
    """ROM modules Yosys keeps (keep_hierarchy) are synthesised once and counted per instance,
    also when Yosys 0.23 appends its plain-text hierarchy listing after the JSON."""
    stat = {
        "modules": {
            "\\nanopelican": {"num_cells_by_type": {"LUT2": 10, "FDRE": 4, "nanopelican_core_rom_ab": 3}},
            "\\nanopelican_core_rom_ab": {"num_cells_by_type": {"LUT6": 7, "MUXF7": 2}},
        }
    }
    text = json.dumps(stat)[:-1] + ',\n   "design":\n   nanopelican_core_rom_ab  3\n'  # 0.23's tail
    modules = module_cells(text)
    assert count_cells(expanded_cells(modules, "nanopelican"))["lut"] == 10 + 3 * 7
    assert expanded_cells(modules, "nanopelican", skip=frozenset({"nanopelican_core_rom_ab"})) == {
        "LUT2": 10,
        "FDRE": 4,
    }
