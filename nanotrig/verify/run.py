"""Plan the chunks, build the C-simulation (and the RTL) once, fan the chunks out, sum them up."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nanotrig.canonical import CanonicalModel
from nanotrig.engine import ClusterSpec, Engine, Task, TaskStore, fan_out, make_task
from nanotrig.errors import NanotrigError
from nanotrig.fixed.spec import FixedPointSpec
from nanotrig.verify.chunk import CHUNK_VERSION, verify_chunk

SIMULATORS = ("verilator", "icarus")


@dataclass
class VerifyRequest:
    model: CanonicalModel
    spec: FixedPointSpec
    work: Path
    chunks: int
    data: Path | None = None  # a jet file, or
    random: int = 0  # this many seeded random jets
    seed: int = 0
    rtl: bool = False
    sim: str = "verilator"
    clock_mhz: float = 200.0


def split(n: int, parts: int) -> list[tuple[int, int]]:
    """[start, stop) of ``parts`` nearly equal slices of n items (none empty)."""
    parts = max(1, min(parts, n))
    edges = [n * k // parts for k in range(parts + 1)]
    return list(zip(edges[:-1], edges[1:], strict=True))


def _sources(req: VerifyRequest) -> list[dict[str, Any]]:
    if req.data is not None:
        from nanotrig.data.io import count_jets

        n, _ = count_jets(req.data)
        if n == 0:
            raise NanotrigError(f"{req.data}: no jets")
        return [
            {"kind": "file", "path": str(req.data), "start": a, "stop": b} for a, b in split(n, req.chunks)
        ]
    # the chunk's seed depends on (seed, chunk) only: the same jets on any cluster
    return [
        {"kind": "random", "n": b - a, "seed": req.seed * 1_000_003 + k}
        for k, (a, b) in enumerate(split(req.random, req.chunks))
    ]


def _csim_library(req: VerifyRequest, log: Callable[[str], None]) -> tuple[str, float]:
    """The project's C-simulation library, built here once (workers load the .so)."""
    from nanotrig.fixed.testjets import random_jets
    from nanotrig.hls.csim import build_library
    from nanotrig.hls.project import write_project

    t0 = time.perf_counter()
    tb = random_jets(200, req.model.n_constituents, req.spec["input"], seed=req.seed)
    project = write_project(req.model, req.spec, req.work / "hls", tb)
    lib = build_library(project.path, project.name, project.n_inputs)
    seconds = time.perf_counter() - t0
    log(f"C-simulation: {lib.path} ({'compiled' if lib.compiled else 'cached build'}, {seconds:.1f} s)")
    return str(lib.path), seconds


def _rtl(req: VerifyRequest, log: Callable[[str], None]) -> dict[str, Any] | None:
    if not req.rtl:
        return None
    from nanotrig.rtl.build import build_rtl
    from nanotrig.rtl.tools import require_simulator

    if req.sim not in SIMULATORS:
        raise NanotrigError(f"--sim {req.sim!r}: expected one of {', '.join(SIMULATORS)}")
    require_simulator(req.sim)
    build = build_rtl(req.model, req.spec, req.work.resolve() / "rtl", clock_mhz=req.clock_mhz, vhdl=False)
    log(f"RTL: {build.out_dir} (latency {build.latency_cycles} cycles), simulated with {req.sim}")
    return {
        "build": str((Path(build.out_dir) / "rtl.json").resolve()),
        "sim": req.sim,
        "work": str((req.work / "rtlsim").resolve()),
    }


def plan_tasks(req: VerifyRequest, csim_library: str, rtl: dict[str, Any] | None) -> list[Task]:
    sources = _sources(req)
    # the whole spec but its provenance (types, input mode, ROMs, per-index bits): what a worker
    # rebuilds, and part of each chunk's identity
    spec = {k: v for k, v in req.spec.to_dict().items() if k != "provenance"}
    model = req.model.to_dict()
    tasks, offset = [], 0
    for k, src in enumerate(sources):
        n = src["n"] if src["kind"] == "random" else src["stop"] - src["start"]
        kwargs = {
            "index": k,
            "model": model,
            "spec_dict": spec,
            "csim_library": csim_library,
            "source": src,
            "offset": offset,
            "rtl": rtl,
        }
        identity = {
            "model": model,
            "spec": spec,
            "csim": Path(csim_library).name,  # named after the hash of its sources and flags
            "source": src,
            "offset": offset,
            "rtl": None if rtl is None else rtl["sim"],
        }
        files = [src["path"]] if src["kind"] == "file" else []
        tasks.append(make_task(verify_chunk, f"chunk-{k:04d}", kwargs, CHUNK_VERSION, identity, files, n))
        offset += n
    return tasks


def summarize(results: list[dict[str, Any]], fresh: list[bool], seconds: float) -> dict[str, Any]:
    jets = sum(r["jets"] for r in results)
    overflows: dict[str, int] = {}
    for r in results:
        for k, v in r["overflows"].items():
            overflows[k] = overflows.get(k, 0) + v
    csim_bad = sum(r["csim_mismatches"] for r in results)
    rtl = [r["rtl"] for r in results if "rtl" in r]
    rtl_bad = sum(x["mismatches"] for x in rtl)
    protocol = sum(x["latency_errors"] + x["unexpected"] + x["missing"] for x in rtl)
    fresh_jets = sum(r["jets"] for r, f in zip(results, fresh, strict=True) if f)
    out: dict[str, Any] = {
        "jets": jets,
        "mismatches": csim_bad + rtl_bad,
        "csim_mismatches": csim_bad,
        "first_mismatches": [m for r in results for m in r["first_mismatches"]][:10],
        "overflow_total": sum(overflows.values()),
        "overflows": overflows,
        "inputs_clipped": sum(r["inputs_clipped"] for r in results),
        "jets_truncated": sum(r["jets_truncated"] for r in results),
        # throughput of what ran now: jets / wall time of the fan-out (the cluster and the C-sim
        # build are up before it starts)
        "jets_per_s": fresh_jets / seconds if fresh_jets and seconds > 0 else None,
        "fanout_s": seconds,
        "chunks": len(results),
        "chunks_run": sum(fresh),
        "chunks_skipped": len(results) - sum(fresh),
        "worker_processes_used": len({(r["host"], r["pid"]) for r in results}),
    }
    if rtl:
        out.update(
            rtl_jets=sum(x["jets"] for x in rtl),
            rtl_mismatches=rtl_bad,
            rtl_protocol_errors=protocol,
            rtl_simulator=rtl[0]["simulator"],
            rtl_latency_cycles=sorted({x["latency_cycles"] for x in rtl}),
        )
    out["per_chunk"] = [
        {
            k: r.get(k)
            for k in (
                "chunk",
                "jets",
                "csim_mismatches",
                "overflow_total",
                "seconds",
                "jets_s",
                "emulator_s",
                "csim_s",
                "host",
                "pid",
            )
        }
        | ({"rtl_mismatches": r["rtl"]["mismatches"]} if "rtl" in r else {})
        | {"reused": not f}
        for r, f in zip(results, fresh, strict=True)
    ]
    return out


def verify(
    req: VerifyRequest,
    cluster: ClusterSpec | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The summary (``nanotrig verify --json``)."""
    say = log or (lambda s: None)
    if req.chunks < 1:
        raise NanotrigError(f"--chunks must be >= 1, got {req.chunks}")
    if (req.data is None) == (req.random <= 0):
        raise NanotrigError("give either --data FILE or --random K (K > 0)")
    t0 = time.perf_counter()
    lib, build_s = _csim_library(req, say)
    rtl = _rtl(req, say)
    tasks = plan_tasks(req, lib, rtl)
    with Engine(cluster, say) as engine:
        res = fan_out(
            engine, tasks, TaskStore(req.work / "tasks"), desc="verifying", unit="jet", progress=progress
        )
        where, workers = engine.describe, engine.n_workers
    summary = {
        "model": req.model.name,
        "data": str(req.data) if req.data else f"random jets, seed {req.seed}",
        **summarize(res.results, res.fresh, res.seconds),
        "cluster": where,
        "workers": workers,
        "csim_library": lib,
        "csim_build_s": build_s,
        "wall_s": time.perf_counter() - t0,
        "work": str(req.work),
    }
    return summary
