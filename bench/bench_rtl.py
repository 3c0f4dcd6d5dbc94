"""RTL benchmark and resource regression guard (`make bench BENCH=rtl`).

For both input modes (Cartesian E/px/py/pz words and PUPPI pT/eta/phi words) of the shipped c2
(N = 20 + 2 beams, C = 2, II = 1, 200 MHz): the Yosys resources and latency, printed next to the
last committed numbers (bench/rtl_reference.json) with their ratio, so that a regression shows;
plus simulation throughput per simulator. Without a shipped c2, a random canonical C = 2 model
(same structure; LUT/FF then differ from the reference and are not compared).

The RTL and the Yosys result are cached under build/report/ (shared with ``make report``), so a
second run only re-simulates; the Yosys time shown is that of the run that filled the cache.
To accept new numbers after a deliberate change: copy bench/out/rtl_current.json over
bench/rtl_reference.json and commit it with the change that explains them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from nanotrig.canonical import CanonicalModel, random_canonical
from nanotrig.data import read_jets, sample_path
from nanotrig.errors import NanotrigError
from nanotrig.fixed.analysis import DeriveOptions, default_spec
from nanotrig.models import resolve_model
from nanotrig.report.collect import TARGETS, make_report
from nanotrig.rtl.build import build_rtl
from nanotrig.rtl.sim import simulate_jets
from nanotrig.rtl.tools import have_simulator

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "build" / "report"  # the same cache as `nanotrig report` / `make report`
REFERENCE = Path(__file__).resolve().parent / "rtl_reference.json"
CURRENT = Path(__file__).resolve().parent / "out" / "rtl_current.json"
MODES = ("cartesian", "puppi")
GUARDED = ("lut", "ff", "dsp", "bram18", "carry", "latency_cycles")
TOLERANCE = 0.01  # Yosys is deterministic; 1 % leaves room for a different Yosys build
SIM_JETS = 500


def _model() -> tuple[CanonicalModel, str]:
    try:
        return resolve_model("c2"), "c2"
    except NanotrigError:
        return random_canonical(2, 20, seed=1, name="random-c2"), "random-c2"


def _spec(model: CanonicalModel, mode: str) -> Any:
    # exactly what `nanotrig report c2 --inputs MODE` builds (its default ROM choices)
    return default_spec(model, DeriveOptions(inputs=mode))


def _reference() -> dict[str, Any]:
    return json.loads(REFERENCE.read_text()) if REFERENCE.exists() else {}


def _verdict(now: float | None, ref: float | None) -> tuple[object, str]:
    if now is None or ref is None:
        return "", "no reference"
    ratio = (now / ref) if ref else (1.0 if now == ref else float("inf"))
    if now > ref * (1 + TOLERANCE) and now - ref > 1:
        return ratio, "REGRESSION"
    return ratio, "better" if now < ref * (1 - TOLERANCE) else "same"


def run() -> tuple[str, list[str], list[list[object]]]:
    model, label = _model()
    reference = _reference() if label == "c2" else {}
    current: dict[str, Any] = {}
    rows: list[list[object]] = []
    for mode in MODES:
        spec = _spec(model, mode)
        work = WORK / (label if mode == "cartesian" else f"{label}-{mode}")
        t0 = time.perf_counter()
        rep = make_report(model, work, spec)
        took = time.perf_counter() - t0
        current[mode] = {k: rep[k] for k in (*GUARDED, "latency_ns", "device_fraction", "scarcest")}
        ref = reference.get(mode, {})
        for key in GUARDED:
            ratio, verdict = _verdict(rep[key], ref.get(key))
            target = TARGETS[mode].get(key, "")
            rows.append([mode, key, rep[key], ref.get(key, ""), ratio, verdict, target])
        rows.append(
            [
                mode,
                "device_fraction (VU13P)",
                rep["device_fraction"],
                ref.get("device_fraction", ""),
                "",
                f"scarcest: {rep['scarcest']}",
                "",
            ]
        )
        rows.append([mode, "report time (cached after first)", took, "", "", "s", ""])
        rows.append([mode, "Yosys wall time when it ran", rep["yosys_seconds"], "", "", "s", ""])

        build = build_rtl(model, spec, work / "rtl")
        jets = read_jets(sample_path(), n_constituents=model.n_constituents, stop=SIM_JETS)
        for sim in ("icarus", "verilator"):
            if not have_simulator(sim):
                rows.append([mode, f"{sim} throughput", "n/a", "", "", "not installed", ""])
                continue
            r = simulate_jets(build, model, spec, jets.pmu, sim, work / f"sim_{sim}", ptetaphi=jets.ptetaphi)
            ok = "0 mismatches" if r["mismatches"] == 0 and r["latency_errors"] == 0 else "MISMATCH"
            rows.append([mode, f"{sim} jets/s ({r['jets']} jets)", r["jets_per_second"], "", "", ok, ""])
    CURRENT.parent.mkdir(exist_ok=True)
    CURRENT.write_text(json.dumps({"model": label, **current}, indent=1) + "\n")
    title = (
        f"RTL resources of {label} (N = {model.n_constituents} + 2 beams, C = {model.n_hidden}, "
        f"II = 1, 200 MHz), Yosys, against {REFERENCE.name}"
    )
    return title, ["inputs", "quantity", "now", "committed", "ratio", "verdict", "target"], rows
