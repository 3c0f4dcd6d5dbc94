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
- the PUPPI front-end's tables are da4ml lookup tables indexed by their saturated index casts;
- masks and selects are muxes on 1-bit signals, never multiplications.

da4ml drops a cast whose interval analysis shows the value already fits; that is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from da4ml.cmvm import solve
from da4ml.trace import FixedVariable, HWConfig, comb_trace
from da4ml.trace.ops import reduce
from da4ml.types import CombLogic

from nanotrig.canonical import CanonicalModel
from nanotrig.fixed.hwmodel import hardware_coefficients
from nanotrig.fixed.kernel import FRONT_END_TABLES, run_kernel
from nanotrig.fixed.ops import dyadic, element_bits, reversed_index_max
from nanotrig.fixed.spec import FixedPointSpec
from nanotrig.fixed.tables import quantize_tables, tables_for
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
            raw, frac = dyadic(c)
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

    def __init__(
        self,
        types: dict[str, FixedType],
        coefs: dict[str, np.ndarray],
        tables: dict[str, np.ndarray] | None = None,
        index_bits: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.types = types
        self.coefs = coefs
        self.tables = tables or {}
        self.index_bits = index_bits or {}
        self.cast_stage: dict[Any, str] = {}  # da4ml variable id -> the kernel stage whose cast made it
        self._valid_bits: np.ndarray | None = None
        self._m: FixedVariable | None = None

    def cast(
        self, x: np.ndarray, stage: str, where: np.ndarray | None = None, at: tuple | None = None
    ) -> np.ndarray:
        t = self.types[stage]

        def one(v: Any, integer: Any = None) -> Lin:
            # a per-index type wraps fewer integer bits: da4ml then builds only the bits it keeps
            tv = t if integer is None else t.with_integer(int(integer))
            q = quantize_var(Lin.of(v).value(), tv)
            self.cast_stage.setdefault(q.id, stage)
            return Lin.of(q)

        bits = element_bits(self.index_bits, stage, at, x.shape)
        return _each(one, x) if bits is None else _each(one, x, np.broadcast_to(bits, x.shape))

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

    def use_valid_bits(self, bits: np.ndarray) -> None:
        """Valid bits that arrive as inputs (a piece of the kernel traced on its own): the ROM
        address m is their popcount."""
        self._valid_bits = bits
        self._m = None

    def use_m(self, m: FixedVariable) -> None:
        """The ROM address m itself as an input (a piece of the kernel after the valid bits)."""
        self._m = m

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

    def multiples(self, x: np.ndarray, factors: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Each value of x times every constant factor, the factors' shift-adds shared (da4ml's
        constant matrix solver on the 1 x K kernel of each value); exact like the separate
        products it replaces. Factors that are ROM reads (N^alpha models) multiply one by one."""
        consts = [Lin.of(f.reshape(-1)[0]) for f in factors]
        if not all(c.is_const for c in consts) or any(np.float32(c.const) != c.const for c in consts):
            return [f[:, None] * x for f in factors]
        live = [k for k, c in enumerate(consts) if c.const != 0.0]
        kernel = np.array([[consts[k].const for k in live]], dtype=np.float32)
        out = [_objects(x.shape, Lin()) for _ in factors]
        for idx in np.ndindex(x.shape):
            v = Lin.of(x[idx])
            if v.is_const or not live:
                for k, c in enumerate(consts):
                    out[k][idx] = v * c.const
                continue
            var = v.value()
            sol = solve(
                kernel,
                qintervals=[(float(var.low), float(var.high), float(var.step))],
                latencies=[float(var.latency)],
                adder_size=HW.adder_size,
                carry_size=HW.carry_size,
            )
            for k, res in zip(live, sol(np.array([var])), strict=True):
                out[k][idx] = Lin.of(res)
        return out

    def greater(self, x: np.ndarray, c: float) -> np.ndarray:
        return _each(lambda v: (Lin.of(v) - c).value().is_positive(), x)

    def exact(self, value: float) -> np.ndarray:
        return _objects((), Lin(const=float(value)))  # 0-d: broadcasts element by element

    def select(self, bit: np.ndarray, a: Any, b: Any) -> np.ndarray:
        return _each(lambda k, x, y: Lin.of(k.msb_mux(Lin.of(x).value(), Lin.of(y).value())), bit, a, b)

    def bind(self, x: np.ndarray) -> np.ndarray:
        return _each(lambda v: Lin.of(Lin.of(v).value()), x)

    def abs(self, x: np.ndarray) -> np.ndarray:
        return _each(lambda v: Lin.of(abs(Lin.of(v).value())), x)

    def negative(self, x: np.ndarray) -> np.ndarray:
        return _each(lambda v: Lin.of(v).value().is_negative(), x)

    def index_max(self, stage: str, x: np.ndarray) -> float | None:
        steps = [float(t.step) for v in np.ravel(x) for t in Lin.of(v).terms]
        frac = max((round(-np.log2(s)) for s in steps), default=0)
        return reversed_index_max(self.types[stage], frac)

    def index_type(self, stage: str) -> FixedType:
        return self.types[stage]

    def low_bits(self, x: np.ndarray, stage: str) -> np.ndarray:
        t = self.types[stage].with_modes(overflow="AP_WRAP")
        return _each(lambda v: Lin.of(quantize_var(Lin.of(v).value(), t)), x)

    def count_overflow(self, x: np.ndarray, stage: str, where: np.ndarray | None = None) -> None:
        return None  # counting is the emulator's: nothing in hardware

    def lookup(self, x: np.ndarray, table: str) -> np.ndarray:
        index_stage, value_stage, _ = FRONT_END_TABLES[table]
        ti, tv = self.types[index_stage], self.types[value_stage]
        values = self.tables[table].astype(np.float64) * tv.lsb
        full = (ti.min_value, ti.max_value, ti.lsb)  # the table covers the whole index type

        def one(v: Any) -> Lin:
            v = Lin.of(v)
            if len(v.terms) == 1 and v.const != 0.0:
                # index = term + constant (kernel.magnitude_index: M - reversed address): the
                # table is read at the term itself, its range shifted by the constant (no adder)
                c = v.const
                out = v.terms[0].lookup(values, original_qint=(full[0] - c, full[1] - c, full[2]))
                self.cast_stage.setdefault(out.id, "tables")
                return Lin([out])
            out = v.value().lookup(values, original_qint=full)
            self.cast_stage.setdefault(out.id, "tables")
            return Lin([out])

        return _each(one, x)

    def const(self, value: float, stage: str, shape: tuple[int, ...]) -> np.ndarray:
        from nanotrig.fixed.ops import quantize_int

        t = self.types[stage]
        raw = np.array([int(np.floor(value * 2.0**t.frac + 0.5))], dtype=np.int64)
        v, _ = quantize_int(raw, t.frac, t)
        return _objects(shape, Lin(const=int(v[0]) * t.lsb))


@dataclass
class TracedKernel:
    comb: CombLogic
    # (port group name, words, word type) in the core's input order
    input_groups: list[tuple[str, int, FixedType]]
    result_type: FixedType
    # the kernel stage each op of ``comb`` belongs to (nanotrig.rtl.stages), when known
    op_stages: list[str] | None = None

    @property
    def n_inputs(self) -> int:
        return sum(n for _, n, _ in self.input_groups)

    @property
    def input_type(self) -> FixedType:
        return self.input_groups[0][2]


def input_groups(spec: FixedPointSpec, n_constituents: int) -> list[tuple[str, int, FixedType]]:
    """The RTL's input ports: ``jet`` (4N words, ``jet[4k + c]``) or ``input_pt``, ``input_eta``,
    ``input_phi`` (N words each), as the HLS top function's arrays."""
    if spec.inputs == "cartesian":
        return [("jet", 4 * n_constituents, spec["input"])]
    return [(f"input_{name}", n_constituents, t) for name, t in spec.input_fields]


def trace_kernel(model: CanonicalModel, spec: FixedPointSpec) -> TracedKernel:
    """The combinational graph of one jet: inputs in port order, output the ``result`` word."""
    spec.check_index_shapes(model.n_particles, len(model.channels))
    coefs = hardware_coefficients(model, spec.types)
    tables = quantize_tables(tables_for(spec.inputs), spec.types)
    ops = TraceOps(spec.types, coefs, tables, spec.index_bits)
    n = model.n_constituents
    groups = input_groups(spec, n)
    if spec.inputs == "cartesian":
        words = np.empty((1, n, 4), dtype=object)
        for k in range(n):
            for c in range(4):
                words[0, k, c] = input_variable(spec["input"])
        inputs = list(words.reshape(-1))  # jet[4k + c]
        fields = [_each(Lin.of, words[:, :, c]) for c in range(4)]
    else:
        fields, inputs = [], []
        for _, _, t in groups:
            row = np.empty((1, n), dtype=object)
            for k in range(n):
                row[0, k] = input_variable(t)
            inputs += list(row[0])  # all pT, then all eta, then all phi
            fields.append(_each(Lin.of, row))
    out, _ = run_kernel(ops, fields, [ch.sign for ch in model.channels], model.beams, spec.inputs)
    score = Lin.of(out.reshape(-1)[0]).value()
    comb = comb_trace(inputs, [score], keep_dead_inputs=True)
    from nanotrig.rtl.stages import op_stages

    labels = op_stages(comb, inputs, [score], ops.cast_stage)
    return TracedKernel(comb=comb, input_groups=groups, result_type=spec["result"], op_stages=labels)
