"""Which pair each pair unit computes in which cycle when the pair work is folded over R cycles.

The N constituents of a jet sit in a register bank that rotates by one position per cycle: in
cycle g (0 <= g < R) position p holds constituent (p + g) mod N. A pair unit reads two fixed
positions, so it needs no multiplexer: the unit (first, second) computes the pair
{(first + g) mod N, (second + g) mod N} in cycle g. Every unordered pair {i, j} has one
circular distance k = min((j - i) mod N, (i - j) mod N) in 1 .. N // 2; the pairs of distance
k < N / 2 are the N pairs {i, i + k}, those of distance N / 2 (N even) the N / 2 pairs
{i, i + N / 2}. Units of distance k start at positions 0, R, 2R, ...: each covers R
consecutive i, the last one fewer (its ``live`` cycles; in the others it computes a pair that
another unit already has, which is masked). A beam unit at position p computes the two beam
pairs b+.p and b-.p of constituent (p + g) mod N.

So ``ceil(N / R)`` units per distance (``ceil(N / 2 / R)`` for N / 2): with R dividing N that is
exactly N (N - 1) / 2 / R pair units, otherwise a few more (each a full unit: DSPs and tables).
The HLS writer (``nanotrig.hls``) takes the same schedule for its multiplier allocation.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

MAX_REUSE = 9  # one jet per 25 ns at 360 MHz


@dataclass(frozen=True)
class PairUnit:
    first: int  # bank position of one constituent
    second: int  # bank position of the other
    live: int  # cycles 0 .. live - 1 compute a new pair (live <= R)


@dataclass(frozen=True)
class BeamUnit:
    position: int
    live: int


@dataclass(frozen=True)
class FoldSchedule:
    n_constituents: int
    reuse: int
    pairs: tuple[PairUnit, ...]
    beams: tuple[BeamUnit, ...]

    def constituent(self, position: int, cycle: int) -> int:
        """The constituent at a bank position in a cycle of the fold."""
        return (position + cycle) % self.n_constituents

    def pair(self, unit: PairUnit, cycle: int) -> tuple[int, int]:
        """The (unordered) constituent pair a unit computes in a live cycle, smaller index first."""
        i, j = self.constituent(unit.first, cycle), self.constituent(unit.second, cycle)
        return (i, j) if i < j else (j, i)

    @cached_property
    def live_lengths(self) -> tuple[int, ...]:
        """The live counts below R: one mask bit each (units live in every cycle need none)."""
        return tuple(sorted({u.live for u in (*self.pairs, *self.beams) if u.live < self.reuse}))

    @property
    def n_pairs(self) -> int:
        n = self.n_constituents
        return n * (n - 1) // 2

    def table(self) -> list[list[tuple[int, int] | None]]:
        """cycle -> unit -> the pair computed (None: a masked repeat), for documentation and tests."""
        return [[self.pair(u, g) if g < u.live else None for u in self.pairs] for g in range(self.reuse)]


def fold_schedule(n_constituents: int, reuse: int) -> FoldSchedule:
    """The rotation schedule of N constituents' pairs over ``reuse`` cycles (see the module doc)."""
    n, r = int(n_constituents), int(reuse)
    if n < 1 or r < 1:
        raise ValueError(f"fold schedule needs N >= 1 and R >= 1, got N = {n}, R = {r}")
    pairs = []
    for k in range(1, n // 2 + 1):
        span = n // 2 if 2 * k == n else n  # distance N/2: each pair once from either end
        for a in range(0, span, r):
            pairs.append(PairUnit(a, (a + k) % n, min(r, span - a)))
    beams = tuple(BeamUnit(a, min(r, n - a)) for a in range(0, n, r))
    return FoldSchedule(n, r, tuple(pairs), beams)
