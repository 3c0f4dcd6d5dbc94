"""One verification chunk, run on a worker: its jets through the emulator, the C-simulation and,
when asked, the RTL on Verilator/Icarus; integers compared jet by jet.

The chunk's jets are described, not shipped: a slice of a file the workers can read, or
``random_jets`` with a seed of the chunk's own (so chunk i is the same jets on any cluster).
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np

# bump when a chunk's result for the same inputs would differ
CHUNK_VERSION = 3
MAX_EXAMPLES = 10


def chunk_jets(source: dict[str, Any], n_constituents: int, input_type: Any) -> tuple[np.ndarray, int]:
    """The float GeV jets of a chunk source (``{"kind": "file", path, start, stop}`` or
    ``{"kind": "random", n, seed}``) and how many were cut to N constituents on reading."""
    if source["kind"] == "file":
        from nanotrig.data import read_jets

        jets = read_jets(source["path"], n_constituents, source["start"], source["stop"])
        return jets.pmu, int(jets.n_truncated)
    from nanotrig.fixed.testjets import random_jets

    return random_jets(source["n"], n_constituents, input_type, seed=source["seed"]), 0


def _rtl_check(rtl: dict[str, Any], model: Any, spec: Any, pmu: np.ndarray) -> dict[str, Any]:
    from nanotrig.rtl.build import RtlBuild
    from nanotrig.rtl.sim import simulate_jets

    build = RtlBuild.load(Path(rtl["build"]))
    # one simulator build per worker process, reused by its later chunks (never two at once)
    work = Path(rtl["work"]) / f"{socket.gethostname()}-{os.getpid()}"
    res = simulate_jets(build, model, spec, pmu, sim=rtl["sim"], work_dir=work)
    return {
        k: res.get(k)
        for k in ("jets", "mismatches", "latency_errors", "unexpected", "missing", "latency_cycles")
    } | {"simulator": rtl["sim"], "examples": res.get("examples", [])[:MAX_EXAMPLES]}


def verify_chunk(
    index: int,
    model: dict[str, Any],
    spec_dict: dict[str, Any],
    csim_library: str,
    source: dict[str, Any],
    offset: int,
    rtl: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Emulator vs C-simulation (vs RTL) on one chunk; jet numbers in the result count from
    ``offset`` (the chunk's first jet in the whole run)."""
    from nanotrig.canonical import CanonicalModel
    from nanotrig.fixed.emulator import Emulator
    from nanotrig.fixed.spec import FixedPointSpec
    from nanotrig.hls.check import run_csim
    from nanotrig.hls.csim import CsimLibrary

    t0 = time.perf_counter()
    canon = CanonicalModel.from_dict(model)
    spec = FixedPointSpec.from_dict(spec_dict, source="verify task")
    pmu, cut_on_reading = chunk_jets(source, canon.n_constituents, spec["input"])
    t1 = time.perf_counter()
    emu = Emulator(canon, spec).run(pmu)
    t2 = time.perf_counter()
    lib = CsimLibrary(Path(csim_library), False, 0.0, 4 * canon.n_constituents)
    csim = np.rint(run_csim(lib, emu.inputs.values) * 2.0 ** spec["result"].frac).astype(np.int64)
    t3 = time.perf_counter()
    bad = np.flatnonzero(csim != emu.raw)
    out: dict[str, Any] = {
        "chunk": index,
        "source": source,
        "jets": int(len(pmu)),
        "csim_mismatches": int(bad.size),
        "first_mismatches": [
            {"jet": offset + int(i), "emulator": int(emu.raw[i]), "csim": int(csim[i])}
            for i in bad[:MAX_EXAMPLES]
        ],
        "overflows": {k: int(v) for k, v in emu.overflows.items()},
        "overflow_total": int(emu.total_overflows),
        "inputs_clipped": int(emu.inputs.clipped),
        "jets_truncated": cut_on_reading + int(emu.inputs.truncated),
        "jets_s": t1 - t0,
        "emulator_s": t2 - t1,
        "csim_s": t3 - t2,
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
    if rtl is not None:
        t4 = time.perf_counter()
        out["rtl"] = _rtl_check(rtl, canon, spec, pmu)
        out["rtl_s"] = time.perf_counter() - t4
    out["seconds"] = time.perf_counter() - t0
    return out
