"""``nanotrig report``: latency, II and resources of a model's RTL, with vendor numbers if any.

Everything is cached in the work folder next to the generated RTL: the RTL itself (keyed by
model + spec + clock, see ``nanotrig.rtl.build``) and the Yosys counts (keyed by the same key),
so a second report is instant.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from nanotrig.canonical import CanonicalModel
from nanotrig.fixed.spec import FixedPointSpec
from nanotrig.report.device import DEFAULT_PART, device_fraction, device_fractions, part_for, scarcest
from nanotrig.report.vendor import read_vendor_report
from nanotrig.report.yosys import run_yosys
from nanotrig.rtl.build import RtlBuild, build_rtl

# Targets per input mode (N = 20 + 2 beams, C = 2, II = 1, 200 MHz) and the published
# hand-written HLS of the same model (Vivado synthesis; Cartesian inputs).
TARGETS = {
    "cartesian": {"latency_cycles": 10, "dsp": 760, "lut": 70_000, "ff": 50_000},
    "puppi": {"latency_cycles": 10, "dsp": 420, "lut": 55_000, "ff": 45_000},
}
PUBLISHED_HLS = {"latency_cycles": (13, 15), "dsp": (1050, 1350), "lut": (49_000, 70_000)}

YOSYS_SOURCE = "Yosys estimate (synth_xilinx -family xcup, every adder a carry chain, registers as FFs)"
YOSYS_METHOD = "adder-chains-nosrl-roms-2"  # bump when the Yosys script changes: cached counts are redone


def default_spec_for(model: CanonicalModel, precision: str | Path | None = None) -> FixedPointSpec:
    from nanotrig.fixed.analysis import default_spec

    return default_spec(model).with_overrides(precision)


def yosys_cached(build: RtlBuild, work: Path, force: bool = False, nodsp: bool = False) -> dict[str, Any]:
    cache = work / ("yosys-nodsp.json" if nodsp else "yosys.json")
    if cache.exists() and not force:
        d = json.loads(cache.read_text())
        if d.get("key") == build.key and d.get("method") == YOSYS_METHOD:
            return d
    res = run_yosys(build.verilog_sources, build.top, work / "yosys", nodsp=nodsp).to_dict()
    res["key"] = build.key
    res["method"] = YOSYS_METHOD
    cache.write_text(json.dumps(res, indent=1) + "\n")
    return res


def make_report(
    model: CanonicalModel,
    work_dir: str | Path,
    spec: FixedPointSpec | None = None,
    clock_mhz: float = 200.0,
    project_dir: str | Path | None = None,
    yosys: bool = True,
    force: bool = False,
    part: str = DEFAULT_PART,
    nodsp: bool = False,
    by_stage: bool = False,
    reuse_factor: int = 1,
) -> dict[str, Any]:
    """The report as a dict (the JSON of ``nanotrig report --json``); ``reuse_factor`` = R builds
    the II = R datapath (one jet every R cycles)."""
    t0 = time.perf_counter()
    work = Path(work_dir)
    spec = spec or default_spec_for(model)
    build = build_rtl(
        model,
        spec,
        work / "rtl",
        clock_mhz=clock_mhz,
        force=force,
        by_stage=by_stage,
        reuse_factor=reuse_factor,
    )
    part_for(part)  # an unknown part is an error before any synthesis
    rep: dict[str, Any] = {
        "model": build.model,
        "inputs": build.inputs,
        "implementation": build.implementation,
        "n_constituents": build.n_constituents,
        "n_particles": build.n_constituents + (2 if model.beams else 0),
        "n_hidden": build.n_hidden,
        "clock_mhz": build.clock_mhz,
        "period_ns": build.period_ns,
        "ii": build.ii,
        "reuse_factor": build.ii,
        "jets_per_25ns": 25.0 / (build.ii * build.period_ns),
        "latency_cycles": build.latency_cycles,
        "latency_ns": build.latency_ns,
        "pipeline_stages": build.stages,
        "latency_cutoff_units": build.units_per_stage,
        "input_type": build.input_type,
        "result_type": build.result_type,
        "da4ml": build.da4ml,
        "rtl_dir": str(work / "rtl"),
    }
    if build.fold:
        rep["fold"] = build.fold
    if yosys:
        y = yosys_cached(build, work, force=force, nodsp=nodsp)
        rep.update(
            source=YOSYS_SOURCE + (" with -nodsp: products in LUTs" if nodsp else ""),
            dsp=y["dsp"],
            lut=y["lut"],
            ff=y["ff"],
            carry=y["carry"],
            srl=y["srl"],
            bram=y["bram"],
            bram18=y["bram18"],
            yosys_seconds=y["seconds"],
            yosys_cells=y["cells"],
        )
    else:
        rep.update(source="none (Yosys skipped)", dsp=None, lut=None, ff=None, carry=None, bram18=None)
    rep["part"] = part
    rep["device_fractions"] = device_fractions(rep, part)
    rep["device_fraction"] = device_fraction(rep, part)
    rep["scarcest"] = scarcest(rep, part)
    if by_stage and yosys:
        from nanotrig.report.stages import agreement, stage_breakdown

        st = stage_breakdown(build, work, force=force)
        rep["stages"] = st["stages"]
        rep["stages_sum_over_total"] = agreement(st["stages"], rep)
        rep["yosys_stages_seconds"] = st["seconds"]
    rep["vendor"] = read_vendor_report(project_dir) if project_dir is not None else None
    rep["measured_by"] = measured_by(rep)
    rep["targets"] = TARGETS[build.inputs]
    rep["published_hls"] = {k: list(v) for k, v in PUBLISHED_HLS.items()}
    rep["report_seconds"] = time.perf_counter() - t0
    return rep


# What only a vendor tool run (Vitis HLS C-synthesis / Vivado implementation) can give
VENDOR_ONLY = (
    "timing closure at the clock (the latency in ns assumes the delay model of nanotrig.rtl.timing)",
    "placed-and-routed LUT, FF, DSP and BRAM counts",
    "the HLS project's achieved II, latency and multiplier binding for its ReuseFactor",
    "power",
)


def measured_by(rep: dict[str, Any]) -> dict[str, Any]:
    """Which tool stands behind each number of the report (open tools here, or only a vendor's)."""
    res = rep.get("source", "none")
    return {
        "latency_cycles": "the RTL's pipeline (checked cycle-exact in cocotb on Icarus and Verilator)",
        "ii": "the RTL's handshake (one jet every II cycles, checked in cocotb)",
        "latency_ns": "cycles x period; the period holds only under the adder-delay model (no timing report)",
        "dsp, lut, ff, carry, bram18": res,
        "da4ml": "da4ml's own cost model of the traced graph (+ the folding registers for II > 1)",
        "vendor_only": list(VENDOR_ONLY),
        "vendor": "the HLS project's Vitis/Vivado reports" if rep.get("vendor") else "no vendor run",
    }


def with_constituents(model: CanonicalModel, n: int) -> CanonicalModel:
    """The same folded weights at another N: the canonical form is N-independent except for the
    multiplicity tables, which are re-tabulated over the new range of M."""
    return replace(model, n_constituents=int(n), name=f"{model.name or 'model'}-N{n}")
