"""Plan the points of a scan, fan them out, merge the rows into ``OUT/scan.json``."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nanotrig.canonical import CanonicalModel
from nanotrig.engine import ClusterSpec, Engine, Task, TaskStore, fan_out, make_task
from nanotrig.errors import NanotrigError
from nanotrig.scan.point import POINT_VERSION, ScanPoint, check_point_options, scan_point


@dataclass
class ScanRequest:
    models: list[CanonicalModel]
    out: Path
    ns: list[int | None] = field(default_factory=lambda: [None])  # None: each model's own N
    bits: list[int | None] = field(default_factory=lambda: [None])  # None: the default spec
    inputs: list[str] = field(default_factory=lambda: ["cartesian"])
    reuse: list[int] = field(default_factory=lambda: [1])
    clocks: list[float] = field(default_factory=lambda: [200.0])
    data: Path | None = None  # jets for the physics columns (none: hardware only)
    yosys: bool = True


def plan_points(req: ScanRequest) -> list[tuple[CanonicalModel, ScanPoint]]:
    names = [m.name for m in req.models]
    if any(not n for n in names) or len(set(names)) != len(names):
        raise NanotrigError(f"scan: every model needs a distinct name, got {names}")
    for inputs, reuse in itertools.product(req.inputs, req.reuse):
        check_point_options(inputs, reuse)  # before any work
    for c in req.clocks:
        if c <= 0:
            raise NanotrigError(f"--clock must be positive (MHz), got {c:g}")
    points = []
    for m, n, bits, inputs, reuse, clock in itertools.product(
        req.models, req.ns, req.bits, req.inputs, req.reuse, req.clocks
    ):
        point = ScanPoint(m.name, int(n or m.n_constituents), bits, inputs, int(reuse), float(clock))
        points.append((m, point))
    return points


def plan_tasks(req: ScanRequest) -> list[Task]:
    from nanotrig.rtl.build import GENERATOR_VERSION

    tasks = []
    for m, p in plan_points(req):
        model = m.to_dict()
        kwargs = {
            "model": model,
            "point": p.to_dict(),
            # absolute: a worker's working directory need not be this one
            "data": None if req.data is None else str(Path(req.data).resolve()),
            "yosys": req.yosys,
            "work_dir": str((req.out / "points" / p.name).resolve()),
        }
        identity = {
            "model": model,
            "point": p.to_dict(),
            "yosys": req.yosys,
            "rtl_generator": GENERATOR_VERSION,
            "physics": req.data is not None,
        }
        files = [] if req.data is None else [req.data]
        tasks.append(make_task(scan_point, p.name, kwargs, POINT_VERSION, identity, files))
    return tasks


def run_scan(
    req: ScanRequest,
    cluster: ClusterSpec | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Every point's row, merged; written to ``req.out/scan.json``."""
    tasks = plan_tasks(req)
    t0 = time.perf_counter()
    with Engine(cluster, log) as engine:
        res = fan_out(
            engine, tasks, TaskStore(req.out / "tasks"), desc="scan", unit="point", progress=progress
        )
        where = engine.describe
    rows = [{k: v for k, v in r.items() if k not in ("files", "task")} for r in res.results]
    scan = {
        "models": [m.name for m in req.models],
        "axes": {
            "n_constituents": sorted({r["n_constituents"] for r in rows}),
            "bits": [b for b in req.bits],
            "inputs": list(req.inputs),
            "reuse": list(req.reuse),
            "clock_mhz": list(req.clocks),
        },
        "data": None if req.data is None else str(req.data),
        "yosys": req.yosys,
        "points": len(rows),
        "points_run": res.ran,
        "points_reused": res.skipped,
        "cluster": where,
        "seconds": time.perf_counter() - t0,
        "rows": rows,
    }
    req.out.mkdir(parents=True, exist_ok=True)
    (req.out / "scan.json").write_text(json.dumps(scan, indent=1) + "\n")
    return scan
