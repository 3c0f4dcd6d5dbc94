"""cocotb test: stream jets through the DUT and score every output against precomputed words.

Run through ``nanotrig.rtl.sim.run_bench`` (or ``nanotrig rtlsim``), which writes the JSON
config named by ``NANOTRIG_TB_CONFIG``:

    vectors       .npz with ``words`` (jets, K) signed ints and ``expected`` (jets,) signed ints
    ports         port map overrides (tb/portmap.py)
    latency       expected latency in cycles
    in_width, out_width, out_signed
    bubble_prob, resets (fractions of the jet stream), seed, period_ns
    result        where to write the summary JSON
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock

from tb.portmap import PortMap
from tb.stream import Driver, Monitor, Scoreboard, make_schedule


@cocotb.test()
async def stream_jets(dut) -> None:
    cfg = json.loads(Path(os.environ["NANOTRIG_TB_CONFIG"]).read_text())
    ports = PortMap.from_dict(cfg.get("ports"))
    data = np.load(cfg["vectors"])
    words, expected = data["words"], data["expected"]
    latency = int(cfg["latency"])

    sched = make_schedule(
        len(expected),
        latency,
        bubble_prob=float(cfg.get("bubble_prob", 0.0)),
        resets=tuple(cfg.get("resets", ())),
        seed=int(cfg.get("seed", 0)),
    )
    board = Scoreboard(expected, latency)
    driver = Driver(dut, ports, words, int(cfg["in_width"]), sched, board)
    monitor = Monitor(dut, ports, int(cfg["out_width"]), bool(cfg.get("out_signed", True)), board)

    clock = getattr(dut, ports.clock)
    Clock(clock, float(cfg.get("period_ns", 5.0)), unit="ns").start()
    t0 = time.perf_counter()
    mon = cocotb.start_soon(monitor.run(clock))
    await driver.run(clock)
    mon.cancel()
    wall = time.perf_counter() - t0

    r = board.finish()
    summary = {
        "jets": r.checked,
        "mismatches": r.mismatches,
        "latency_errors": r.latency_errors,
        "unexpected": r.unexpected,
        "missing": r.missing,
        "flushed_by_reset": r.flushed,
        "latency_cycles": max(r.latencies, key=r.latencies.get) if r.latencies else None,
        "latency_histogram": {str(k): v for k, v in sorted(r.latencies.items())},
        "cycles": driver.cycles,
        "held_cycles": r.held,
        "accept_intervals": {str(k): v for k, v in sorted(r.intervals.items())},
        "sim_seconds": wall,
        "jets_per_second": r.checked / wall if wall > 0 else None,
        "examples": r.examples,
    }
    Path(cfg["result"]).write_text(json.dumps(summary, indent=1))
    bad = r.mismatches + r.latency_errors + r.unexpected + r.missing
    assert bad == 0, f"{bad} errors, e.g. {r.examples[:3]}"
