"""The firmware check: C-simulation vs the bit-accurate emulator on every jet, and float vs fixed
physics (accuracy, AUC, 1/eps_B at 30 % signal efficiency, trigger decisions)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from nanotrig.fixed.emulator import Emulator
from nanotrig.fixed.physics import compare, float_scores, format_decisions
from nanotrig.hls.csim import CsimLibrary, build_library
from nanotrig.hls.project import HlsProject

CHUNK = 1000


def run_csim(lib: CsimLibrary, values: np.ndarray, progress: bool = False) -> np.ndarray:
    out = []
    for start in tqdm(range(0, len(values), CHUNK), desc="C-sim", unit="kjet", disable=not progress):
        out.append(lib.run(values[start : start + CHUNK]))
    return np.concatenate(out) if out else np.zeros(0)


def check_project(
    project: HlsProject,
    pmu: np.ndarray,
    labels: np.ndarray | None = None,
    truncated: int = 0,
    progress: bool = False,
    roc_png: str | Path | None = None,
    ptetaphi: np.ndarray | None = None,
) -> dict[str, Any]:
    """Compare C-simulation and emulator integers on every jet; float vs fixed metrics if labelled
    (and their ROC curves in ``roc_png``, with the numbers next to it as JSON). ``ptetaphi``:
    the jets' Level-1 candidates when they were read as such (PUPPI inputs)."""
    model, spec = project.model, project.spec
    lib = build_library(project.path, project.name, project.ports)

    t0 = time.perf_counter()
    emu = Emulator(model, spec).run(pmu, progress=progress, ptetaphi=ptetaphi)
    emu_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    y = run_csim(lib, emu.inputs.port_values(), progress)
    csim_s = time.perf_counter() - t0
    csim_raw = np.rint(y * 2.0 ** spec["result"].frac).astype(np.int64)
    bad = np.flatnonzero(csim_raw != emu.raw)

    t0 = time.perf_counter()
    w_float = float_scores(model, pmu, spec.inputs, ptetaphi)
    float_s = time.perf_counter() - t0

    report: dict[str, Any] = {
        "model": model.name,
        "project": str(project.path),
        "inputs": spec.inputs,
        "jets": int(len(pmu)),
        "matches": int(len(pmu) - bad.size),
        "mismatches": int(bad.size),
        "first_mismatches": [
            {"jet": int(i), "emulator": int(emu.raw[i]), "csim": int(csim_raw[i])} for i in bad[:10]
        ],
        "overflows": {k: int(v) for k, v in emu.overflows.items()},
        "overflow_total": int(emu.total_overflows),
        "inputs_clipped": int(emu.inputs.clipped),
        "inputs_lost": int(emu.inputs.lost),
        "jets_truncated": int(truncated + emu.inputs.truncated),
        "csim_compiled": lib.compiled,
        "csim_compile_s": round(lib.compile_s, 3),
        "csim_s": round(csim_s, 4),
        "emulator_s": round(emu_s, 4),
        "float_s": round(float_s, 4),
        "csim_jets_per_s": len(pmu) / max(csim_s, 1e-9),
        "emulator_jets_per_s": len(pmu) / max(emu_s, 1e-9),
        "precision": spec.precision_dict(),
    }
    if labels is not None:
        report.update(compare(labels, w_float, emu.scores, spec))
        if roc_png is not None:
            from nanotrig.model.plots import roc_plot

            fixed = "fixed point (emulator = C-sim)" if bad.size == 0 else "fixed point (emulator)"
            curves = {"float": (labels, w_float), fixed: (labels, emu.scores)}
            report["roc_png"] = str(roc_plot(curves, roc_png))
    return report


def format_report(r: dict[str, Any]) -> str:
    lines = [
        f"C-simulation vs bit-accurate emulator: {r['jets']} jets compared, {r['matches']} bit-exact, "
        f"{r['mismatches']} mismatches",
    ]
    for m in r["first_mismatches"]:
        lines.append(f"  jet {m['jet']}: emulator {m['emulator']} C-sim {m['csim']} (raw score words)")
    if "auc_float" in r:
        lines += [
            f"{'':16}{'float':>10}{'fixed':>10}",
            f"{'accuracy':16}{r['accuracy_float']:>10.4f}{r['accuracy_fixed']:>10.4f}",
            f"{'AUC':16}{r['auc_float']:>10.4f}{r['auc_fixed']:>10.4f}",
            f"{'1/eps_B @ 30%':16}{r['rejection30_float']:>10.1f}{r['rejection30_fixed']:>10.1f}",
        ]
        lines += format_decisions(r, r["precision"]["result"])
    over = {k: v for k, v in r["overflows"].items() if v}
    lines.append(
        "overflows: none"
        if not over
        else "overflows: " + ", ".join(f"{k} {v}" for k, v in over.items()) + " (values that did not fit)"
    )
    if r["inputs_clipped"] or r["jets_truncated"] or r.get("inputs_lost"):
        lines.append(
            f"inputs: {r['inputs_clipped']} components clipped, {r['jets_truncated']} jets truncated to N"
            + (f", {r['inputs_lost']} constituents with pT below half an LSB" if r.get("inputs_lost") else "")
        )
    build = f"compiled in {r['csim_compile_s']:.1f} s" if r["csim_compiled"] else "cached build (warm)"
    lines.append(
        f"C-sim: {build}, {r['csim_jets_per_s']:.0f} jets/s; emulator {r['emulator_jets_per_s']:.0f} jets/s"
    )
    return "\n".join(lines)
