"""Verification bench (`make bench BENCH=verify`): `nanotrig verify c2 --random 1000000 --chunks 16`
on the default local Dask cluster against the same command in one process (`--cluster inline`),
measured in the same run; jets/s of the fan-out (cluster start-up and the one C-sim build are
outside it) and the ratio. The machine's load average is printed with it: on a shared machine
the ratio means little without it.

BENCH_VERIFY_JETS changes the number of jets (default 1,000,000). BENCH_VERIFY_ROUNDS (default 1)
alternates the two runs that many times and keeps each one's best rate: other jobs on a shared
machine come and go, and alternating exposes both runs to them alike.
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
ROUNDS = int(os.environ.get("BENCH_VERIFY_ROUNDS", "1"))


def _command(work: Path, cluster: str, jets: int, chunks: int, seed: int = 0) -> list[str]:
    cmd = [sys.executable, "-m", "nanotrig.cli", "verify", MODEL, "--random", str(jets), "--seed", str(seed)]
    return cmd + ["--chunks", str(chunks), "--work", str(work), "--cluster", cluster, "--json"]


def _finish(cmd: list[str], proc: subprocess.Popen) -> dict:
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}")
    return json.loads(out)


def _verify(work: Path, cluster: str) -> tuple[float, dict]:
    cmd = _command(work, cluster, JETS, CHUNKS)
    t0 = time.perf_counter()
    s = _finish(cmd, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return time.perf_counter() - t0, s


def _two_processes(work: Path) -> float:
    """The machine's own ceiling: two independent one-process runs of half the jets at the same
    time (no Dask); jets/s over the slower one's fan-out."""
    cmds = [_command(work / f"half{k}", "inline", JETS // 2, CHUNKS // 2, seed=k + 1) for k in range(2)]
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in cmds]
    results = [_finish(c, p) for c, p in zip(cmds, procs, strict=True)]
    return sum(r["jets"] for r in results) / max(r["fanout_s"] for r in results)


def run() -> tuple[str, list[str], list[list[object]]]:
    load_before = os.getloadavg()
    best: dict[str, tuple[float, dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(ROUNDS):
            for cluster in ("inline", "local"):
                # a fresh work folder each time: stored chunks would be skipped
                wall, s = _verify(Path(tmp) / f"{cluster}-{r}", cluster)
                if cluster not in best or s["jets_per_s"] > best[cluster][1]["jets_per_s"]:
                    best[cluster] = (wall, s)
        ceiling = max(_two_processes(Path(tmp) / f"two-{r}") for r in range(ROUNDS))
    load_after = os.getloadavg()
    (one_s, one), (many_s, many) = best["inline"], best["local"]
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
        ["2 one-process runs of half at once (no Dask)", 2, JETS, "", "",
         "", round(ceiling), round(ceiling / one["jets_per_s"], 2), "", ""]
    )  # fmt: skip
    rows.append(
        ["load average (1 min) before / after", "", "", "", "", "", "", "", "",
         f"{load_before[0]:.2f} / {load_after[0]:.2f}"]
    )  # fmt: skip
    title = f"verify {MODEL} --random {JETS} --chunks {CHUNKS} ({os.cpu_count()} cores"
    title += f", best of {ROUNDS} alternating rounds)" if ROUNDS > 1 else ")"
    return title, header, rows
