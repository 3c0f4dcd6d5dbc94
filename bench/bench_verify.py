"""Verification bench (`make bench BENCH=verify`): `nanotrig verify c2 --random 1000000 --chunks 16`
on the default local Dask cluster against the same command in one process (`--cluster inline`),
measured in the same run; jets/s of the fan-out (cluster start-up and the one C-sim build are
outside it) and the ratio. The machine's load average is printed with it: on a shared machine
the ratio means little without it.

BENCH_VERIFY_JETS changes the number of jets (default 1,000,000).
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
JETS = int(os.environ.get("BENCH_VERIFY_JETS", "1000000"))
CHUNKS = 16


def _verify(work: Path, cluster: str) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "nanotrig.cli", "verify", MODEL, "--random", str(JETS)]
    cmd += ["--chunks", str(CHUNKS), "--work", str(work), "--cluster", cluster, "--json"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall, json.loads(proc.stdout)


def run() -> tuple[str, list[str], list[list[object]]]:
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        one_s, one = _verify(Path(tmp) / "inline", "inline")
        many_s, many = _verify(Path(tmp) / "local", "local")
    load_after = os.getloadavg()
    header = ["run", "workers", "jets", "mismatches", "overflow_total", "fan-out s", "jets/s",
              "vs one process", "chunk s / fan-out s", "command wall s"]  # fmt: skip
    rows: list[list[object]] = []
    for label, wall, s in (("one process (--cluster inline)", one_s, one), ("local cluster", many_s, many)):
        rows.append([
            label, s["workers"], s["jets"], s["mismatches"], s["overflow_total"], round(s["fanout_s"], 1),
            round(s["jets_per_s"]), round(s["jets_per_s"] / one["jets_per_s"], 2),
            # how many chunks ran at once on average: the parallelism, whatever else loads the machine
            round(sum(c["seconds"] for c in s["per_chunk"]) / s["fanout_s"], 2), round(wall, 1),
        ])  # fmt: skip
    rows.append(
        ["load average (1 min) before / after", "", "", "", "", "", "", "", "",
         f"{load_before[0]:.2f} / {load_after[0]:.2f}"]
    )  # fmt: skip
    title = f"verify {MODEL} --random {JETS} --chunks {CHUNKS} ({os.cpu_count()} cores)"
    return title, header, rows
