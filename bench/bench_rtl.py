"""RTL benchmark: simulation throughput per simulator, report time, and the N = 20 / C = 2 figures
against the issue's targets and the published hand-written HLS.

Uses the shipped c2 model; without one, a random canonical C = 2 model (same structure, so
the same latency and DSP count; LUT/FF depend on the derived bit widths). The RTL and the
Yosys result are cached under build/report/MODEL (shared with ``make report``), so a
second run only re-simulates; the Yosys time shown is that of the run that filled the cache.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from nanotrig.canonical import CanonicalModel, random_canonical
from nanotrig.data import read_jets, sample_path
from nanotrig.errors import NanotrigError
from nanotrig.models import resolve_model
from nanotrig.report.collect import PUBLISHED_HLS, TARGETS, make_report
from nanotrig.rtl.build import build_rtl
from nanotrig.rtl.sim import simulate_jets
from nanotrig.rtl.tools import have_simulator

# the same cache as `nanotrig report` / `make report`: a report made there is reused here
WORK = Path(__file__).resolve().parents[1] / "build" / "report"
SIM_JETS = 500


def _model() -> tuple[CanonicalModel, str]:
    try:
        return resolve_model("c2"), "c2"
    except NanotrigError:
        return random_canonical(2, 20, seed=1, name="random-c2"), "random C=2 (no shipped c2)"


def run() -> tuple[str, list[str], list[list[object]]]:
    model, label = _model()
    work = WORK / (model.name or "c2")
    rows: list[list[object]] = []

    t0 = time.perf_counter()
    rep = make_report(model, work, yosys=False)
    rows.append(
        ["report without Yosys (RTL generation, cached after first)", time.perf_counter() - t0, "s", ""]
    )
    t0 = time.perf_counter()
    rep = make_report(model, work)
    rows.append(["report with Yosys (cached after first run)", time.perf_counter() - t0, "s", ""])
    rows.append(["Yosys synth_xilinx, wall time when it ran", rep["yosys_seconds"], "s", "cached since"])

    from nanotrig.report.collect import default_spec_for

    spec = default_spec_for(model)
    build = build_rtl(model, spec, work / "rtl")
    pmu = read_jets(sample_path(), n_constituents=model.n_constituents, stop=SIM_JETS).pmu
    for sim in ("icarus", "verilator"):
        if not have_simulator(sim):
            rows.append([f"{sim} throughput", "n/a", "jets/s", "not installed"])
            continue
        r = simulate_jets(build, model, spec, pmu, sim, work / f"sim_{sim}", bubble_prob=0.0)
        ok = "0 mismatches" if r["mismatches"] == 0 and r["latency_errors"] == 0 else "MISMATCH"
        rows.append([f"{sim} throughput ({r['jets']} jets, {ok})", r["jets_per_second"], "jets/s", ""])
        rows.append([f"{sim} build", r["build_seconds"], "s", ""])

    pub = PUBLISHED_HLS
    rows += [
        [
            "latency",
            rep["latency_cycles"],
            "cycles",
            f"<= {TARGETS['latency_cycles']}; HLS {pub['latency_cycles']}",
        ],
        ["latency", rep["latency_ns"], "ns", f"at {rep['clock_mhz']:g} MHz"],
        ["II", rep["ii"], "cycles", "1"],
        ["DSP48E2 (Yosys)", rep["dsp"], "", f"<= {TARGETS['dsp']}; HLS {pub['dsp']}"],
        ["LUT (Yosys)", rep["lut"], "", f"<= {TARGETS['lut']}; HLS {pub['lut']}"],
        ["FF (Yosys)", rep["ff"], "", ""],
        ["CARRY (Yosys)", rep["carry"], "", ""],
        ["da4ml estimate, adders/muxes", rep["da4ml"]["cost_without_products"], "LUT-eq", ""],
    ]
    title = f"RTL: {label}, N = {model.n_constituents} + 2 beams, C = {model.n_hidden}"
    return (
        title,
        ["quantity", "value", "unit", "target / reference"],
        [
            [r[0], float(r[1]) if isinstance(r[1], (int, float, np.floating)) else r[1], r[2], r[3]]
            for r in rows
        ],
    )
