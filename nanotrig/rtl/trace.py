"""Trace the fixed-point kernel through da4ml's symbolic fixed-point variables.

``nanotrig.fixed.kernel.run_kernel`` is written against a small ops backend; ``TraceOps`` is
that backend on numpy object arrays of da4ml ``FixedVariable``s (one jet, B = 1). Every
``cast`` becomes da4ml's ``quantize`` with the stage type's (k, i, f), rounding and overflow
mode, so the traced graph computes the emulator's integers exactly:

- ``AP_TRN`` -> ``TRN`` (floor), ``AP_RND`` -> ``RND`` (half up), ``AP_WRAP`` -> ``WRAP``,
  ``AP_SAT`` / ``AP_SAT_SYM`` -> ``SAT`` / ``SAT_SYM`` (checked bit for bit in the tests);
- products of two variables (the 4 per constituent pair) stay ``vmul`` ops, i.e. DSPs;
  a constant coefficient times a variable becomes da4ml's shift-and-add (no DSP);
- coefficients that depend on the multiplicity are ROMs (da4ml lookup tables) indexed by m;
- masks are muxes on the valid bits, never multiplications.

da4ml drops a cast whose interval analysis shows the value already fits; that is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from da4ml.trace import FixedVariable, HWConfig, comb_trace
from da4ml.trace.ops import reduce
from da4ml.types import CombLogic

from nanotrig.canonical import CanonicalModel
from nanotrig.fixed.hwmodel import coefficient_tables, quantize_coefficients
from nanotrig.fixed.kernel import run_kernel
from nanotrig.fixed.spec import FixedPointSpec
from nanotrig.fixed.types import FixedType

# adder_size 1, carry_size -1: every adder one delay unit; no cut at trace time (see timing.py)
HW = HWConfig(1, -1, -1)

_ROUND = {"AP_TRN": "TRN", "AP_RND": "RND"}
_OVERFLOW = {"AP_WRAP": "WRAP", "AP_SAT": "SAT", "AP_SAT_SYM": "SAT_SYM"}


def _const(value: float) -> FixedVariable:
    return FixedVariable.from_const(float(value), hwconf=HW)


def naf_digits(raw: int) -> list[tuple[int, int]]:
    """Non-adjacent form of an integer: [(sign, bit position)], fewest nonzero digits."""
    out, k = [], 0
    while raw != 0:
        if raw & 1:
            digit = 2 - (raw & 3)  # +1 or -1
            out.append((digit, k))
            raw -= digit
        raw >>= 1
        k += 1
    return out


def _dyadic(value: float) -> tuple[int, int]:
    """value = raw * 2**-frac exactly (coefficients and constants are on a binary grid)."""
    frac = 0
    while value * 2.0**frac != int(value * 2.0**frac):
        frac += 1
        if frac > 80:
            raise ValueError(f"constant {value!r} is not a binary fraction")
    return int(value * 2.0**frac), frac


class Lin:
    """An exact sum of da4ml variables plus a constant, materialised only when needed.

    The kernel writes sums in source order (``a - b - c - d``, ``s d + u + v``, ``c0 + k1 A1 + ...``);
    keeping them symbolic until a cast, ReLU, mask or product lets one timing-driven adder tree
    (earliest operands first) compute each, and a constant factor becomes a balanced
    shift-and-add tree of its canonical signed digits. All of it is exact, so the integers are
    those of the emulator whatever the association.
    """

    __slots__ = ("terms", "const")

    def __init__(self, terms: list[FixedVariable] | None = None, const: float = 0.0) -> None:
        self.terms = terms or []
        self.const = float(const)

    @classmethod
    def of(cls, v: Any) -> Lin:
        if isinstance(v, Lin):
            return v
        if isinstance(v, FixedVariable):
            return cls(const=float(v.low)) if v.low == v.high else cls([v])
        return cls(const=float(v))

    @property
    def is_const(self) -> bool:
        return not self.terms

    def value(self) -> FixedVariable:
        """The hardware node of this sum (an adder tree), or a constant."""
        if not self.terms:
            return _const(self.const)
        v = (
            self.terms[0]
            if len(self.terms) == 1
            else reduce(lambda a, b: a + b, np.array(self.terms, dtype=object))
        )
        return v + self.const if self.const != 0.0 else v

    def __add__(self, other: Any) -> Lin:
        o = Lin.of(other)
        return Lin(self.terms + o.terms, self.const + o.const)

    __radd__ = __add__

    def __neg__(self) -> Lin:
        return Lin([-t for t in self.terms], -self.const)

    def __sub__(self, other: Any) -> Lin:
        return self + (-Lin.of(other))

    def __rsub__(self, other: Any) -> Lin:
        return Lin.of(other) - self

    def __mul__(self, other: Any) -> Lin:
        o = Lin.of(other)
        if o.is_const and self.is_const:
            return Lin(const=self.const * o.const)
        if o.is_const or self.is_const:
            c, x = (o.const, self) if o.is_const else (self.const, o)
            if c == 0.0:
                return Lin()
            raw, frac = _dyadic(c)
            v = x.value()
            return Lin([v * (sign * 2.0 ** (k - frac)) for sign, k in naf_digits(raw)])
        return Lin([self.value() * o.value()])  # variable x variable: a DSP product

    __rmul__ = __mul__


def _objects(shape: tuple[int, ...], fill: Any) -> np.ndarray:
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(shape):
        out[idx] = fill
    return out


def _each(fn: Any, *arrays: Any) -> np.ndarray:
    return np.vectorize(fn, otypes=[object])(*arrays)


def quantize_var(v: FixedVariable, t: FixedType) -> FixedVariable:
    k, i, f = t.kif
    return v.quantize(k, i, f, _OVERFLOW[t.overflow], _ROUND[t.rounding])


def input_variable(t: FixedType) -> FixedVariable:
    """A port word: any value of type ``t``."""
    return FixedVariable(t.min_value, t.max_value, t.lsb, hwconf=HW)


class TraceOps:
    """The kernel's ops on object arrays of ``Lin`` (see ``nanotrig.fixed.ops``)."""

    def __init__(self, types: dict[str, FixedType], coefs: dict[str, np.ndarray]) -> None:
        self.types = types
        self.coefs = coefs
        self._valid_bits: np.ndarray | None = None
        self._m: FixedVariable | None = None

    def cast(self, x: np.ndarray, stage: str, where: np.ndarray | None = None) -> np.ndarray:
        t = self.types[stage]
        return _each(lambda v: Lin.of(quantize_var(Lin.of(v).value(), t)), x)

    def relu(self, x: np.ndarray) -> np.ndarray:
        return _each(lambda v: Lin.of(Lin.of(v).value().relu()), x)

    def mask(self, x: np.ndarray, keep: Any) -> np.ndarray:
        def one(v: Any, k: Any) -> Lin:
            v = Lin.of(v)
            if isinstance(k, FixedVariable):
                if k.low == k.high:
                    return v if k.low != 0 else Lin()
                # k is a 1-bit valid flag: a mux, not a product
                return Lin.of(k.msb_mux(v.value(), _const(0.0)))
            return v if bool(k) else Lin()

        return _each(one, x, keep)

    def sum(self, x: np.ndarray, axis: int | tuple[int, ...]) -> np.ndarray:
        # stays symbolic: the cast that follows builds one adder tree over all terms
        out = np.sum(x, axis=axis)
        return out if isinstance(out, np.ndarray) else _objects((), out)

    def concat(self, xs: Sequence[np.ndarray], axis: int) -> np.ndarray:
        return np.concatenate(xs, axis=axis)

    def positive(self, x: np.ndarray) -> np.ndarray:
        bits = _each(lambda v: Lin.of(v).value() > 0, x)
        # The kernel counts m with numpy's sequential sum; the ROM address is rebuilt here as
        # a balanced adder tree over the same bits (the sequential chain is then dead logic).
        self._valid_bits = bits
        self._m = None
        return bits

    def _m_tree(self) -> FixedVariable:
        if self._m is None:
            if self._valid_bits is None:
                raise RuntimeError("coefficient ROM used before the valid bits were computed")
            if self._valid_bits.shape[0] != 1:
                raise ValueError("the RTL trace runs one jet at a time")
            self._m = reduce(lambda a, b: a + b, self._valid_bits[0])
        return self._m

    def coef(self, name: str, h: int | None, m_index: Any) -> np.ndarray:
        t = self.types["w_" + name]
        table = self.coefs[name] if h is None else self.coefs[name][h]
        shape = np.shape(m_index)
        if table.shape[-1] == 1:
            return _objects(shape, Lin(const=int(table[0]) * t.lsb))
        values = table.astype(np.float64) * t.lsb
        return _objects(shape, Lin([self._m_tree().lookup(values)]))

    def const(self, value: float, stage: str, shape: tuple[int, ...]) -> np.ndarray:
        from nanotrig.fixed.ops import quantize_int

        t = self.types[stage]
        raw = np.array([int(np.floor(value * 2.0**t.frac + 0.5))], dtype=np.int64)
        v, _ = quantize_int(raw, t.frac, t)
        return _objects(shape, Lin(const=int(v[0]) * t.lsb))


@dataclass
class TracedKernel:
    comb: CombLogic
    n_inputs: int
    input_type: FixedType
    result_type: FixedType


def trace_kernel(model: CanonicalModel, spec: FixedPointSpec) -> TracedKernel:
    """The combinational graph of one jet: inputs ``jet[4k + c]``, output the ``result`` word."""
    coefs = quantize_coefficients(coefficient_tables(model), spec.types)
    ops = TraceOps(spec.types, coefs)
    n = model.n_constituents
    tin = spec["input"]
    words = np.empty((1, n, 4), dtype=object)
    for k in range(n):
        for c in range(4):
            words[0, k, c] = input_variable(tin)
    out, _ = run_kernel(ops, _each(Lin.of, words), [ch.sign for ch in model.channels], model.beams)
    score = Lin.of(out.reshape(-1)[0]).value()
    inputs = list(words.reshape(-1))
    comb = comb_trace(inputs, [score], keep_dead_inputs=True)
    return TracedKernel(comb=comb, n_inputs=len(inputs), input_type=tin, result_type=spec["result"])
