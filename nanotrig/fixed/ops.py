"""The small "ops" backends the kernel (``nanotrig.fixed.kernel``) is written against.

The kernel uses ``+``, ``-``, unary ``-``, ``*``, indexing and ``reshape`` on its arrays, and
these methods of an ops object for everything else:

    cast(x, stage, where, at)  one ap_fixed<W,I,Q,O> assignment: round, then wrap/saturate; counts
                            overflows of the entries selected by ``where``; ``at`` (index arrays
                            into the stage's per-index table, ``kernel.INDEXED_STAGES``) says
                            which elements x holds, for per-index integer bits
    relu(x)                 max(x, 0), exact
    mask(x, keep)           x where keep else 0 (keep: bool array, a wire AND in hardware)
    sum(x, axis)            exact sum (an adder tree)
    concat(xs, axis)        wiring
    coef(name, h, m_index)  coefficient of channel h (a constant, or a ROM indexed by M)
    const(value, stage)     a constant already cast to ``stage``'s type
    exact(value)            an exact (dyadic) constant, broadcast where it is used
    positive(x)             the valid bits x > 0 (the RTL trace also builds the ROM address M from them)
    greater(x, c)           x > c for a constant c, a bit
    negative(x)             x < 0, a bit (the sign bit: no logic)
    select(bit, a, b)       bit ? a : b (a mux)
    abs(x)                  |x|, exact
    lookup(x, table)        a front-end ROM (``kernel.FRONT_END_TABLES``) at the already cast index x
    index_type(stage)       the type of table index ``stage`` (None in the range analysis: the plain cast)
    index_max(stage, x)     the largest value of table index ``stage`` when x (a difference of words)
                            can be indexed through its reversed address (``kernel.magnitude_index``);
                            None where the plain cast is used (no types yet, or a finer index LSB)
    low_bits(x, stage)      x in ``stage``'s type with its rounding but wrapping (bit selection, plus the
                            rounding's constant add for AP_RND), for values known to fit
    count_overflow(x, stage, where)  count the overflows cast(x, stage, where) would have (no value)
    bind(x)                 x, exactly; in hardware the sum x is built here (an association hint)

Two backends live here: ``IntOps`` (the bit-accurate emulator: int64 numpy, vectorised over jets)
and ``RangeOps`` (float64, no rounding, records the range of every stage for range analysis).
A third, da4ml's symbolic arrays, is what the RTL stage traces through the same kernel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nanotrig.errors import NanotrigError
from nanotrig.fixed.kernel import ANGLE_STEP, FRONT_END_TABLES
from nanotrig.fixed.types import FixedType

MAX_BITS = 62  # int64 with one bit to spare for the sign of intermediate shifts


class BitBudgetError(NanotrigError):
    """An exact intermediate of the emulator could exceed int64; the message names the stage."""


@dataclass
class Fx:
    """An exact fixed-point array: value = v * 2**-f, with the static bound |v| < 2**bits."""

    v: np.ndarray
    f: int
    bits: int

    def __post_init__(self) -> None:
        if self.bits > MAX_BITS:
            raise BitBudgetError(
                f"an exact intermediate needs {self.bits} bits (> {MAX_BITS}); narrow the stage types"
            )

    @property
    def shape(self) -> tuple[int, ...]:
        return self.v.shape

    def _aligned(self, other: Fx) -> tuple[np.ndarray, np.ndarray, int, int]:
        f = max(self.f, other.f)
        a, b = self.v << (f - self.f), other.v << (f - other.f)
        bits = max(self.bits + f - self.f, other.bits + f - other.f) + 1
        return a, b, f, bits

    def __add__(self, other: Fx) -> Fx:
        a, b, f, bits = self._aligned(other)
        return Fx(a + b, f, bits)

    def __sub__(self, other: Fx) -> Fx:
        a, b, f, bits = self._aligned(other)
        return Fx(a - b, f, bits)

    def __neg__(self) -> Fx:
        return Fx(-self.v, self.f, self.bits)

    def __mul__(self, other: Fx) -> Fx:
        return Fx(self.v * other.v, self.f + other.f, self.bits + other.bits)

    def __getitem__(self, item: object) -> Fx:
        return Fx(self.v[item], self.f, self.bits)

    def reshape(self, *shape: int) -> Fx:
        return Fx(self.v.reshape(*shape), self.f, self.bits)

    def to_float(self) -> np.ndarray:
        return self.v.astype(np.float64) * 2.0**-self.f


def element_bits(
    index_bits: dict[str, np.ndarray] | None, stage: str, at: tuple | None, shape: tuple[int, ...]
) -> np.ndarray | None:
    """Integer bits of each entry of a cast's value (``shape``: (B, ...) or (...)) from the stage's
    per-index table, or None when the stage has none (one type for every element)."""
    table = (index_bits or {}).get(stage)
    if table is None or at is None:
        return None
    bits = np.asarray(table[tuple(np.asarray(a) for a in at)])
    return np.broadcast_to(bits, shape[len(shape) - bits.ndim :] if bits.ndim else ())


def wrap_narrow(v: np.ndarray, t: FixedType, integer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raw integers of type ``t`` (AP_WRAP) wrapped to per-element integer bits ``integer``
    (<= t.integer, same LSB): (values, entries that did not fit). Wrapping twice is wrapping once
    at the narrower width, so this after ``quantize_int`` is the cast to the narrow type."""
    width = (t.width - t.integer + integer).astype(np.int64)
    if t.signed:
        half = np.left_shift(np.int64(1), width - 1)
        w = ((v + half) & (2 * half - 1)) - half
    else:
        w = v & (np.left_shift(np.int64(1), width) - 1)
    return w, w != v


def quantize_int(v: np.ndarray, f_from: int, t: FixedType) -> tuple[np.ndarray, np.ndarray]:
    """ap_fixed assignment on raw integers: returns (raw integers of type t, overflow flags)."""
    shift = f_from - t.frac
    if shift > 0:
        if t.rounding == "AP_RND":  # round half towards +inf, as ap_fixed's AP_RND
            v = (v + (np.int64(1) << np.int64(shift - 1))) >> np.int64(shift)
        else:  # AP_TRN: towards -inf; numpy's >> on int64 is arithmetic
            v = v >> np.int64(shift)
    elif shift < 0:
        v = v << np.int64(-shift)
    lo, hi = t.min_int, t.max_int
    over = (v < lo) | (v > hi)
    if t.overflow == "AP_WRAP":
        mod = np.int64(1) << np.int64(t.width)
        if t.signed:
            half = np.int64(1) << np.int64(t.width - 1)
            v = ((v + half) & (mod - 1)) - half
        else:
            v = v & (mod - 1)
    else:
        v = np.clip(v, lo, hi)
    return v.astype(np.int64), over


class IntOps:
    """The bit-accurate backend. ``overflows[stage]`` counts entries that did not fit."""

    def __init__(
        self,
        types: dict[str, FixedType],
        coefs: dict[str, np.ndarray],
        tables: dict[str, np.ndarray] | None = None,
        index_bits: dict[str, np.ndarray] | None = None,
    ) -> None:
        """``coefs[name]``: raw integers (C, n_M) or (n_M,) already quantised to ``types['w_'+name]``;
        ``tables[name]``: raw integers of a front-end ROM, entry k at index value (k + min) * LSB;
        ``index_bits``: per-index integer bits of stages (``FixedPointSpec.index_bits``)."""
        self.types = types
        self.coefs = coefs
        self.tables = tables or {}
        self.index_bits = index_bits or {}
        self.overflows: dict[str, int] = {}
        self.exact_bits: dict[str, tuple[int, int]] = {}  # stage -> (bits, f) of the value before the cast

    def cast(self, x: Fx, stage: str, where: np.ndarray | None = None, at: tuple | None = None) -> Fx:
        t = self.types[stage]
        if x.bits + max(t.frac - x.f, 0) > MAX_BITS:
            raise BitBudgetError(f"stage {stage!r}: casting to {t} needs more than {MAX_BITS} bits")
        v, over = quantize_int(x.v, x.f, t)
        bits = element_bits(self.index_bits, stage, at, v.shape)
        if bits is not None:
            v, narrow_over = wrap_narrow(v, t, bits)
            over = over | narrow_over
        if where is not None:
            over = over & np.broadcast_to(where, over.shape)
        self.overflows[stage] = self.overflows.get(stage, 0) + int(over.sum())
        old = self.exact_bits.get(stage, (0, x.f))
        self.exact_bits[stage] = (max(old[0], x.bits), max(old[1], x.f))
        return Fx(v, t.frac, t.width)

    def relu(self, x: Fx) -> Fx:
        return Fx(np.maximum(x.v, 0), x.f, x.bits)

    def mask(self, x: Fx, keep: np.ndarray) -> Fx:
        return Fx(np.where(keep, x.v, 0), x.f, x.bits)

    def sum(self, x: Fx, axis: int | tuple[int, ...]) -> Fx:
        axes = (axis,) if isinstance(axis, int) else axis
        n = math.prod(x.shape[a] for a in axes)
        return Fx(x.v.sum(axis=axes), x.f, x.bits + max(math.ceil(math.log2(max(n, 1))), 0))

    def concat(self, xs: Sequence[Fx], axis: int) -> Fx:
        f = max(x.f for x in xs)
        bits = max(x.bits + f - x.f for x in xs)
        return Fx(np.concatenate([x.v << (f - x.f) for x in xs], axis=axis), f, bits)

    def coef(self, name: str, h: int | None, m_index: np.ndarray) -> Fx:
        """Per-jet coefficient, shape (B,): a constant broadcast, or the ROM entry at M."""
        t = self.types["w_" + name]
        table = self.coefs[name] if h is None else self.coefs[name][h]
        v = np.broadcast_to(table[0], m_index.shape) if table.shape[-1] == 1 else table[m_index]
        return Fx(np.asarray(v, dtype=np.int64), t.frac, t.width)

    def const(self, value: float, stage: str, shape: tuple[int, ...]) -> Fx:
        """A constant already of ``stage``'s type (rounded to its LSB), broadcast to ``shape``."""
        t = self.types[stage]
        raw = np.array([math.floor(value * 2.0**t.frac + 0.5)], dtype=np.int64)
        v, _ = quantize_int(raw, t.frac, t)
        return Fx(np.broadcast_to(v, shape).copy(), t.frac, t.width)

    def positive(self, x: Fx) -> np.ndarray:
        return x.v > 0

    def greater(self, x: Fx, c: float) -> np.ndarray:
        return x.to_float() > c

    def exact(self, value: float) -> Fx:
        raw, frac = dyadic(value)
        return Fx(np.array(raw, dtype=np.int64), frac, max(abs(raw).bit_length(), 1) + 1)

    def select(self, bit: np.ndarray, a: Fx, b: Fx) -> Fx:
        f = max(a.f, b.f)
        va, vb = a.v << (f - a.f), b.v << (f - b.f)
        bits = max(a.bits + f - a.f, b.bits + f - b.f)
        return Fx(np.where(bit, va, vb), f, bits)

    def abs(self, x: Fx) -> Fx:
        return Fx(np.abs(x.v), x.f, x.bits)

    def bind(self, x: Fx) -> Fx:
        return x

    def negative(self, x: Fx) -> np.ndarray:
        return x.v < 0

    def index_max(self, stage: str, x: Fx) -> float | None:
        return reversed_index_max(self.types[stage], x.f)

    def index_type(self, stage: str) -> FixedType:
        return self.types[stage]

    def low_bits(self, x: Fx, stage: str) -> Fx:
        t = self.types[stage]
        v, _ = quantize_int(x.v, x.f, t.with_modes(overflow="AP_WRAP"))
        return Fx(v, t.frac, t.width)

    def count_overflow(self, x: Fx, stage: str, where: np.ndarray | None = None) -> None:
        self.cast(x, stage, where)

    def lookup(self, x: Fx, table: str) -> Fx:
        index_stage, value_stage, _ = FRONT_END_TABLES[table]
        ti, tv = self.types[index_stage], self.types[value_stage]
        if x.f != ti.frac:
            raise ValueError(f"table {table!r} looked up with a value not cast to {index_stage!r}")
        return Fx(self.tables[table][x.v - ti.min_int], tv.frac, tv.width)


def reversed_index_max(t: FixedType, word_frac: int) -> float | None:
    """The largest value of an unsigned saturating index type ``t`` for ``kernel.magnitude_index``,
    or None when the index needs rounding (its LSB is coarser than the words': ``word_frac``
    fractional bits against ``t.frac``) or is not an unsigned saturating type."""
    if t.signed or t.overflow == "AP_WRAP" or word_frac > t.frac:
        return None
    return t.max_value


def dyadic(value: float) -> tuple[int, int]:
    """(raw, frac) with value = raw * 2**-frac exactly; refuses values that are not binary fractions."""
    frac = 0
    while value * 2.0**frac != math.floor(value * 2.0**frac):
        frac += 1
        if frac > 80:
            raise ValueError(f"constant {value!r} is not a binary fraction")
    return int(value * 2.0**frac), frac


class RangeOps:
    """Float64 without any rounding; records max |value| (valid entries only) per stage."""

    def __init__(
        self, coefs: dict[str, np.ndarray], index_shapes: dict[str, tuple[int, ...]] | None = None
    ) -> None:
        """``coefs[name]``: float tables (C, n_M) or (n_M,) in the firmware's units;
        ``index_shapes``: stages whose max |value| is also recorded per index (``index_max_abs``)."""
        self.coefs = coefs
        self.max_abs: dict[str, float] = {}
        self.min_value: dict[str, float] = {}
        self.index_max_abs = {s: np.zeros(shape) for s, shape in (index_shapes or {}).items()}

    def cast(
        self, x: np.ndarray, stage: str, where: np.ndarray | None = None, at: tuple | None = None
    ) -> np.ndarray:
        keep = np.ones(x.shape, dtype=bool) if where is None else np.broadcast_to(where, x.shape)
        vals = x[keep]
        if vals.size:
            self.max_abs[stage] = max(self.max_abs.get(stage, 0.0), float(np.abs(vals).max()))
            self.min_value[stage] = min(self.min_value.get(stage, 0.0), float(vals.min()))
        if stage in self.index_max_abs and at is not None and x.ndim:
            seen = np.where(keep, np.abs(x), 0.0).max(axis=0)  # per element, over the jets
            index = np.broadcast_arrays(*(np.asarray(a) for a in at), seen)
            np.maximum.at(self.index_max_abs[stage], tuple(index[:-1]), index[-1])
        return x

    def relu(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(x, 0.0)

    def mask(self, x: np.ndarray, keep: np.ndarray) -> np.ndarray:
        return np.where(keep, x, 0.0)

    def sum(self, x: np.ndarray, axis: int | tuple[int, ...]) -> np.ndarray:
        return x.sum(axis=axis)

    def concat(self, xs: Sequence[np.ndarray], axis: int) -> np.ndarray:
        return np.concatenate(xs, axis=axis)

    def coef(self, name: str, h: int | None, m_index: np.ndarray) -> np.ndarray:
        table = self.coefs[name] if h is None else self.coefs[name][h]
        v = np.broadcast_to(table[0], m_index.shape) if table.shape[-1] == 1 else table[m_index]
        return np.asarray(v, dtype=np.float64)

    def const(self, value: float, stage: str, shape: tuple[int, ...]) -> np.ndarray:
        return np.full(shape, float(value))

    def positive(self, x: np.ndarray) -> np.ndarray:
        return x > 0

    def greater(self, x: np.ndarray, c: float) -> np.ndarray:
        return x > c

    def exact(self, value: float) -> float:
        return float(value)

    def select(self, bit: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.where(bit, a, b)

    def abs(self, x: np.ndarray) -> np.ndarray:
        return np.abs(x)

    def bind(self, x: np.ndarray) -> np.ndarray:
        return x

    def negative(self, x: np.ndarray) -> np.ndarray:
        return x < 0

    def index_max(self, stage: str, x: np.ndarray) -> None:
        return None  # the types are what the range analysis derives: the plain cast

    def index_type(self, stage: str) -> None:
        return None  # the same

    def low_bits(self, x: np.ndarray, stage: str) -> np.ndarray:
        raise NotImplementedError("range analysis takes the plain cast (index_max is None)")

    def count_overflow(self, x: np.ndarray, stage: str, where: np.ndarray | None = None) -> None:
        self.cast(x, stage, where)

    def lookup(self, x: np.ndarray, table: str) -> np.ndarray:
        """The exact function (no table rounding): the table types are derived from these ranges."""
        return FRONT_END_TABLES[table][2](np.asarray(x, dtype=np.float64) * ANGLE_STEP)
