"""Vendor numbers are read with hls4ml's Vivado/Vitis report parser from a project folder."""

from __future__ import annotations

from pathlib import Path

from nanotrig.report.vendor import read_vendor_report

CSYNTH = """<?xml version="1.0" encoding="UTF-8"?>
<profile>
  <UserAssignments><TargetClockPeriod>5.00</TargetClockPeriod></UserAssignments>
  <PerformanceEstimates>
    <SummaryOfTimingAnalysis><EstimatedClockPeriod>4.321</EstimatedClockPeriod></SummaryOfTimingAnalysis>
    <SummaryOfOverallLatency>
      <Best-caseLatency>13</Best-caseLatency><Worst-caseLatency>14</Worst-caseLatency>
      <Interval-min>1</Interval-min><Interval-max>1</Interval-max>
    </SummaryOfOverallLatency>
  </PerformanceEstimates>
  <AreaEstimates>
    <Resources><BRAM_18K>0</BRAM_18K><DSP>1100</DSP><FF>40000</FF><LUT>61234</LUT><URAM>0</URAM></Resources>
    <AvailableResources><BRAM_18K>5376</BRAM_18K><DSP>12288</DSP><FF>3456000</FF><LUT>1728000</LUT>
      <URAM>1280</URAM></AvailableResources>
  </AreaEstimates>
</profile>
"""

VIVADO_SYNTH = """1. CLB Logic
------------
+----------------------------+-------+-------+-----------+-------+
|          Site Type         |  Used | Fixed | Available | Util% |
+----------------------------+-------+-------+-----------+-------+
| CLB LUTs*                  | 52000 |     0 |   1728000 |  3.01 |
| CLB Registers              | 38000 |     0 |   3456000 |  1.10 |
+----------------------------+-------+-------+-----------+-------+
2. BLOCKRAM
-----------
| Block RAM Tile |    0 |     0 |      2688 |  0.00 |
3. ARITHMETIC
-------------
| DSPs           | 1080 |     0 |     12288 |  8.79 |
"""


def fake_vitis_project(d: Path, name: str = "nanopelican") -> Path:
    """The files a Vitis HLS run leaves in an hls4ml-style project folder (the parts we read)."""
    (d / "project.tcl").parent.mkdir(parents=True, exist_ok=True)
    (d / "project.tcl").write_text(f'set project_name "{name}"\nset backend "vitis"\n')
    prj = d / f"{name}_prj"
    rep = prj / "solution1" / "syn" / "report"
    rep.mkdir(parents=True)
    (prj / "hls.app").write_text(
        '<project xmlns="com.autoesl.autopilot.project" name="p" top="t">'
        '<solutions><solution name="solution1" status="active"/></solutions></project>'
    )
    (rep / f"{name}_csynth.xml").write_text(CSYNTH)
    (d / "vivado_synth.rpt").write_text(VIVADO_SYNTH)
    return d


def test_vendor_numbers_are_read_from_a_vitis_project(tmp_path: Path) -> None:
    rep = read_vendor_report(fake_vitis_project(tmp_path / "prj"))
    assert rep is not None
    assert (rep["latency_cycles"], rep["latency_best"], rep["ii"]) == (14, 13, 1)
    assert (rep["dsp"], rep["lut"], rep["ff"]) == (1100, 61234, 40000)
    assert (rep["vivado_lut"], rep["vivado_ff"], rep["vivado_dsp"]) == (52000, 38000, 1080)
    assert rep["clock_ns"] == 4.321 and rep["target_clock_ns"] == 5.0


def test_no_project_or_no_run_gives_none(tmp_path: Path) -> None:
    assert read_vendor_report(tmp_path / "missing") is None
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "project.tcl").write_text('set project_name "x"\nset backend "vitis"\n')
    assert read_vendor_report(tmp_path / "p") is None  # project written, never built
