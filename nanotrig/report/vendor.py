"""Vendor (Vitis/Vivado HLS) numbers of a project directory, read with hls4ml's report parser.

Present only when a user with the vendor tools has run the build in the project directory
(``project.tcl``, ``<name>_prj/``); without it every field is ``None`` and the report says so.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any


def _int(x: Any) -> int | None:
    try:
        return int(str(x).strip())
    except (TypeError, ValueError):
        return None


def _float(x: Any) -> float | None:
    try:
        return float(str(x).strip())
    except (TypeError, ValueError):
        return None


def read_vendor_report(project_dir: str | Path) -> dict[str, Any] | None:
    """Latency, II and resources from the HLS synthesis (and Vivado synthesis, if run), or None.

    Keys: ``latency_cycles`` (worst case), ``latency_best``, ``ii``, ``clock_ns`` (estimated),
    ``target_clock_ns``, ``dsp``, ``lut``, ``ff``, ``bram_18k`` from the HLS estimate, and
    ``vivado_lut``/``vivado_ff``/``vivado_dsp`` from ``vivado_synth.rpt`` when present.
    """
    d = Path(project_dir)
    if not (d / "project.tcl").is_file():
        return None
    from hls4ml.report import parse_vivado_report

    quiet = io.StringIO()  # the parser prints "... not found" for every missing report
    with contextlib.redirect_stdout(quiet):
        try:
            rep = parse_vivado_report(str(d))
        except (OSError, IndexError, KeyError, ValueError, UnboundLocalError, AttributeError):
            return None
    if not rep:
        return None
    cs = rep.get("CSynthesisReport", {})
    vs = rep.get("VivadoSynthReport", {})
    if not cs and not vs:
        return None
    return {
        "latency_cycles": _int(cs.get("WorstLatency")),
        "latency_best": _int(cs.get("BestLatency")),
        "ii": _int(cs.get("IntervalMax")),
        "clock_ns": _float(cs.get("EstimatedClockPeriod")),
        "target_clock_ns": _float(cs.get("TargetClockPeriod")),
        "dsp": _int(cs.get("DSP")),
        "lut": _int(cs.get("LUT")),
        "ff": _int(cs.get("FF")),
        "bram_18k": _int(cs.get("BRAM_18K")),
        "vivado_lut": _int(vs.get("LUT")),
        "vivado_ff": _int(vs.get("FF")),
        "vivado_dsp": _int(vs.get("DSP48E")),
        "source": str(d),
    }
