"""Yosys resource counts: parsing (a real synth_xilinx run is in test_report_cli.py)."""

from __future__ import annotations

import json

import pytest

from nanotrig.errors import NanotrigError
from nanotrig.report.yosys import count_cells, parse_stat_json

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
                "SRL16E": 3,
                "MUXF7": 5,
            }
        }
    }
}


def test_cell_counts_are_grouped_like_vivado() -> None:
    cells = parse_stat_json(json.dumps(STAT), "nanopelican")
    c = count_cells(cells)
    assert c == {"lut": 45, "ff": 102, "dsp": 4, "carry": 7, "bram": 0, "srl": 3}


def test_bad_statistics_name_the_problem() -> None:
    with pytest.raises(NanotrigError, match="not valid JSON"):
        parse_stat_json("{", "top")
    with pytest.raises(NanotrigError, match="no module 'top'"):
        parse_stat_json(json.dumps({"modules": {"\\other": {}}}), "top")
