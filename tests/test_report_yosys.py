"""Yosys resource counts: parsing, and a real synth_xilinx run on a tiny design."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nanotrig.canonical import random_canonical
from nanotrig.errors import NanotrigError
from nanotrig.fixed import default_spec
from nanotrig.report.yosys import count_cells, parse_stat_json, run_yosys
from nanotrig.rtl.build import build_rtl

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


@pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed")
def test_yosys_maps_the_pair_products_to_dsps(tmp_path: Path) -> None:
    model = random_canonical(1, 2, seed=2)  # one constituent pair: four products
    build = build_rtl(model, default_spec(model), tmp_path / "rtl", vhdl=False)
    res = run_yosys(build.verilog_sources, build.top, tmp_path / "yosys")
    assert res.dsp == 4
    assert res.lut > 0 and res.ff > 0
    # every value that crosses a stage boundary is a register bit (some become SRLs or merge)
    assert res.ff <= build.da4ml["reg_bits"] + 64
