"""Driver, monitor and scoreboard for a streaming pipeline: valid in -> valid out after L cycles.

Cycle convention: the driver changes inputs on the falling edge of cycle ``c``; the DUT
samples them on the rising edge that ends cycle ``c``. The monitor samples outputs on the
falling edge too, where they are stable. A jet accepted in cycle ``n`` must come out in cycle
``n + L``. A reset driven in cycle ``r`` (sampled on the edge that ends it) drops every jet
whose output would come after cycle ``r``, and a jet presented during reset is ignored.

With a ready port (``PortMap.in_ready``, the II = R RTL) a jet is accepted in a cycle where it
is offered and ready is high (read after the inputs settle); otherwise it is held: the same
jet stays on the ports in the next cycle. The schedule's steps are then offers, not cycles.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
from cocotb.handle import SimHandleBase
from cocotb.triggers import FallingEdge, ReadOnly

from tb.portmap import PortMap


@dataclass
class Schedule:
    """What happens in every cycle: which jet (or -1: none) and whether reset is high."""

    jet: np.ndarray  # (cycles,) int, -1 = bubble
    reset: np.ndarray  # (cycles,) bool

    @property
    def cycles(self) -> int:
        return len(self.jet)


def make_schedule(
    n_jets: int,
    latency: int,
    bubble_prob: float = 0.0,
    resets: tuple[float, ...] = (),
    reset_cycles: int = 3,
    seed: int = 0,
    lead_reset: int = 2,
) -> Schedule:
    """Back-to-back jets with random bubbles; a reset burst at each fraction in ``resets``.

    During a mid-traffic reset the driver keeps presenting valid jets (they must be ignored);
    the same jets are presented again afterwards, so every jet is sent to a live pipeline.
    """
    rng = np.random.default_rng(seed)
    jet: list[int] = [-1] * lead_reset
    rst: list[bool] = [True] * lead_reset
    reset_at = sorted({int(f * n_jets) for f in resets})
    k = 0
    while k < n_jets:
        if reset_at and k == reset_at[0]:
            reset_at.pop(0)
            for _ in range(reset_cycles):
                jet.append(k)
                rst.append(True)
        if bubble_prob > 0 and rng.random() < bubble_prob:
            jet.append(-1)
        else:
            jet.append(k)
            k += 1
        rst.append(False)
    jet += [-1] * (latency + 4)  # drain
    rst += [False] * (latency + 4)
    return Schedule(np.array(jet, dtype=np.int64), np.array(rst, dtype=bool))


@dataclass
class Result:
    checked: int = 0
    mismatches: int = 0
    latency_errors: int = 0
    unexpected: int = 0
    missing: int = 0
    flushed: int = 0
    latencies: dict[int, int] = field(default_factory=dict)
    examples: list[dict] = field(default_factory=list)
    held: int = 0  # cycles in which an offered jet was not taken (ready low)
    intervals: dict[int, int] = field(default_factory=dict)  # cycles between acceptances

    def note(self, **kw: object) -> None:
        if len(self.examples) < 10:
            self.examples.append(dict(kw))


class Scoreboard:
    """In-order comparison against precomputed expected words, with exact latency."""

    def __init__(self, expected: np.ndarray, latency: int) -> None:
        self.expected = expected
        self.latency = latency
        self.pending: deque[tuple[int, int]] = deque()  # (cycle in, jet index)
        self.result = Result()
        self.last_accept: int | None = None

    def accepted(self, cycle: int, jet: int) -> None:
        self.pending.append((cycle, jet))
        if self.last_accept is not None:
            gap = cycle - self.last_accept
            self.result.intervals[gap] = self.result.intervals.get(gap, 0) + 1
        self.last_accept = cycle

    def held(self) -> None:
        self.result.held += 1

    def reset(self, cycle: int) -> None:
        self.last_accept = None  # the spacing after a reset is not the DUT's throughput
        keep = [(n, j) for n, j in self.pending if n + self.latency <= cycle]
        self.result.flushed += len(self.pending) - len(keep)
        self.pending = deque(keep)

    def observed(self, cycle: int, value: int | None) -> None:
        r = self.result
        if not self.pending:
            r.unexpected += 1
            r.note(kind="unexpected output", cycle=cycle, value=value)
            return
        n, j = self.pending.popleft()
        lat = cycle - n
        r.latencies[lat] = r.latencies.get(lat, 0) + 1
        r.checked += 1
        want = int(self.expected[j])
        if lat != self.latency:
            r.latency_errors += 1
            r.note(
                kind="latency", jet=j, cycle_in=n, cycle_out=cycle, latency=lat, expected_latency=self.latency
            )
        if value != want:
            r.mismatches += 1
            r.note(kind="value", jet=j, cycle_in=n, got=value, expected=want)

    def finish(self) -> Result:
        self.result.missing = len(self.pending)
        for n, j in list(self.pending)[:5]:
            self.result.note(kind="missing output", jet=j, cycle_in=n)
        return self.result


def _handle(dut: SimHandleBase, name: str) -> SimHandleBase:
    try:
        return getattr(dut, name)
    except AttributeError:
        raise AttributeError(f"DUT has no port {name!r}: fix the port map (tb/README.md)") from None


class Driver:
    """Presents jets per the schedule; reports accepted jets and resets to the scoreboard."""

    def __init__(
        self,
        dut: SimHandleBase,
        ports: PortMap,
        words: np.ndarray,
        width: int,
        sched: Schedule,
        board: Scoreboard,
    ) -> None:
        self.ports, self.sched, self.board, self.width = ports, sched, board, width
        # one handle per port (a packed bus per array, or one per word) and its value per jet
        self.handles: list[SimHandleBase] = []
        columns: list[list[int]] = []
        col = 0
        for name, count, w in ports.groups(words.shape[1], width):
            raw = words[:, col : col + count].astype(object) & ((1 << w) - 1)  # two's complement bits
            col += count
            if "{i}" not in name:
                self.handles.append(_handle(dut, name))
                columns.append([sum(int(x) << (w * i) for i, x in enumerate(row)) for row in raw])
            else:
                self.handles += [_handle(dut, name.format(i=i)) for i in range(count)]
                columns += [[int(x) for x in raw[:, i]] for i in range(count)]
        self.values = [list(v) for v in zip(*columns, strict=True)]
        self.valid = _handle(dut, ports.in_valid)
        self.ready = _handle(dut, ports.in_ready) if ports.in_ready else None
        self.rst = _handle(dut, ports.reset)
        self.ties = [(_handle(dut, n), v) for n, v in ports.tie.items()]
        self.rng = np.random.default_rng(12345)

    def _put(self, k: int) -> None:
        for h, v in zip(self.handles, self.values[k], strict=True):
            h.value = v

    async def run(self, clock: SimHandleBase) -> None:
        for h, v in self.ties:
            h.value = v
        on, off = (0, 1) if self.ports.reset_active_low else (1, 0)
        prev = None
        c, step = 0, 0
        while step < self.sched.cycles:
            await FallingEdge(clock)
            k, rst = int(self.sched.jet[step]), bool(self.sched.reset[step])
            self.rst.value = on if rst else off
            if k >= 0:
                if k != prev:
                    self._put(k)
                self.valid.value = 1
            else:
                # garbage on the data ports while not valid: it must be ignored
                if prev is None or self.rng.random() < 0.5:
                    self._put(int(self.rng.integers(len(self.values))))
                self.valid.value = 0
            prev = k
            taken = True
            if self.ready is not None and k >= 0 and not rst:
                await ReadOnly()  # ready may depend on what was just driven
                taken = self.ready.value.is_resolvable and int(self.ready.value) == 1
            if rst:
                self.board.reset(c)
            elif k >= 0 and taken:
                self.board.accepted(c, k)
            elif k >= 0:
                self.board.held()
            if taken or rst or k < 0:
                step += 1
            c += 1
        self.cycles = c


class Monitor:
    """Samples the output valid and word every cycle; hands valid words to the scoreboard."""

    def __init__(
        self, dut: SimHandleBase, ports: PortMap, width: int, signed: bool, board: Scoreboard
    ) -> None:
        self.valid = _handle(dut, ports.out_valid)
        self.word = _handle(dut, ports.out_word)
        self.signed, self.board = signed, board
        self.width = width

    async def run(self, clock: SimHandleBase) -> None:
        """Until cancelled (the driver's schedule ends with enough idle cycles to drain)."""
        c = -1
        while True:
            c += 1
            await FallingEdge(clock)
            v = self.valid.value
            if not v.is_resolvable or int(v) != 1:
                continue
            w = self.word.value
            if not w.is_resolvable:
                self.board.observed(c, None)
                continue
            self.board.observed(c, w.to_signed() if self.signed else w.to_unsigned())
