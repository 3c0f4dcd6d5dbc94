"""Firmware bench (`make bench BENCH=firmware`): `make hls` wall time cold and warm, C-simulation
and emulator throughput, against the float canonical evaluator measured in the same run.

Cold: a fresh process writing a fresh project directory (g++ builds the C-sim library). Warm: the
same command again on that directory (the cached build is reused). Both run exactly the command
`make hls` runs, with --out in a temporary directory so the user's firmware/ is left alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODEL = os.environ.get("MODEL", "c2")
PART = "xcvu13p-flga2577-2-e"


def _model_arg(tmp: Path) -> tuple[str, str]:
    from nanotrig.canonical import random_canonical
    from nanotrig.models import shipped_models

    if MODEL in shipped_models() or Path(MODEL).exists():
        return MODEL, MODEL
    path = random_canonical(2, 20, seed=0, name="random-c2").save(tmp / "random-c2.json")
    return str(path), "random-c2 (shipped c2 missing)"


def _hls_run(model: str, out: Path) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "nanotrig.cli", "hls", model, "--out", str(out), "--part", PART]
    cmd += ["--clock", "200", "--json"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return wall, json.loads(proc.stdout)


def _rate(fn, n: int, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def run() -> tuple[str, list[str], list[list[object]]]:
    from nanotrig.data import read_jets, sample_path
    from nanotrig.fixed import Emulator
    from nanotrig.hls.csim import build_library
    from nanotrig.hls.project import load_project_model

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        model_arg, label = _model_arg(tmp)
        out = tmp / "prj"
        cold_s, cold = _hls_run(model_arg, out)
        warm_s, warm = _hls_run(model_arg, out)
        assert cold["csim_compiled"] and not warm["csim_compiled"], "cold/warm runs did not (re)use the cache"

        model, spec = load_project_model(out)
        jets = read_jets(sample_path(), n_constituents=model.n_constituents)
        n = len(jets.pmu)
        emu = Emulator(model, spec)
        values = emu.run(jets.pmu).inputs.values
        lib = build_library(out, "nanopelican", 4 * model.n_constituents)
        float_rate = _rate(lambda: model.evaluate(jets.pmu), n)
        emu_rate = _rate(lambda: emu.run(jets.pmu), n)
        csim_rate = _rate(lambda: lib.run(values), n)

    header = ["measurement", "value", "unit", "vs float evaluator"]
    rows: list[list[object]] = [
        ["model", label, "", ""],
        ["make hls, cold (fresh dir, g++ build)", round(cold_s, 2), "s", ""],
        ["  of which C-sim g++ build", cold["csim_compile_s"], "s", ""],
        ["make hls, warm (cached build)", round(warm_s, 2), "s", ""],
        ["jets checked per make hls (all bit-exact)", f"{warm['matches']}/{warm['jets']}", "", ""],
        ["float canonical evaluator (numpy)", round(float_rate), "jets/s", 1.0],
        ["bit-accurate emulator (numpy int64)", round(emu_rate), "jets/s", round(emu_rate / float_rate, 3)],
        ["C-simulation (g++ -O1, ap_fixed)", round(csim_rate), "jets/s", round(csim_rate / float_rate, 3)],
    ]
    return f"firmware ({n} sample jets, {os.cpu_count()} cores)", header, rows
