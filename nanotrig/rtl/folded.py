"""The kernel cut into four pieces for a datapath that takes one jet every R cycles (II = R).

Each piece is traced through da4ml (``TraceOps``) from the kernel's own functions
(``nanotrig.fixed.kernel``: ``PAIR_INVARIANTS``, ``BEAM_INVARIANTS``, ``row_sum_cast``,
``jet_sum``, ``pair_terms``, ``pair_relu``, ``diag_terms``, ``diag_sum``, ``channel_output``),
applied to the pairs of one cycle of the rotation schedule (``nanotrig.rtl.schedule``):

    pairs   (every cycle g)  d of every pair unit and beam unit; per bank position the exact sum
                             of the d it touches (the r_i contributions), the beam rows' sums,
                             the valid bits
    middle  (once per jet)   r = cast_r(row sums), T, per channel u, v, y, D, the beam-beam z
    relu    (every cycle g)  per pair unit and beam unit ReLU(z) of both orders, both channels;
                             their exact sum per channel (the A contributions)
    output  (once per jet)   A_h = cast_A(all contributions), w = cast_result(...)

Between pieces the datapath (``nanotrig.rtl.folded_verilog``) keeps exact accumulators: the row
sums over the R cycles, then the ReLU sums over the R cycles. Every sum the kernel casts once is
therefore still one exact sum and one cast, only grouped differently, so the integers are the
emulator's. Inputs of each piece carry the exact interval of what feeds them: an accumulator
holds at most the number of terms it adds, each within its stage type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from da4ml.trace import FixedVariable, comb_trace
from da4ml.types import CombLogic, QInterval

from nanotrig.canonical import CanonicalModel
from nanotrig.errors import NanotrigError
from nanotrig.fixed import kernel
from nanotrig.fixed.hwmodel import hardware_coefficients
from nanotrig.fixed.spec import FixedPointSpec
from nanotrig.fixed.tables import quantize_tables, tables_for
from nanotrig.rtl.schedule import FoldSchedule, fold_schedule
from nanotrig.rtl.trace import HW, Lin, TraceOps, input_variable

BIT = QInterval(0.0, 1.0, 1.0)
Label = tuple[Any, ...]


@dataclass
class Piece:
    """One traced piece: its graph, and what each of its inputs and outputs is."""

    name: str
    comb: CombLogic
    inputs: list[Label]
    outputs: list[Label]
    op_stages: list[str] | None = None


@dataclass
class FoldedTrace:
    schedule: FoldSchedule
    mode: str
    beams: bool
    n_hidden: int
    pieces: dict[str, Piece]
    # exact intervals of the datapath's own registers: label -> interval
    accumulators: dict[Label, QInterval] = field(default_factory=dict)
    # the bank of u, v per position: label -> interval (the hull over constituents)
    bank: dict[Label, QInterval] = field(default_factory=dict)


class _Inputs:
    """Collects a piece's input variables with their labels, in port order."""

    def __init__(self) -> None:
        self.vars: list[FixedVariable] = []
        self.labels: list[Label] = []

    def add(self, label: Label, q: QInterval) -> FixedVariable:
        v = FixedVariable(float(q.min), float(q.max), float(q.step), hwconf=HW)
        self.vars.append(v)
        self.labels.append(label)
        return v

    def word(self, label: Label, t: Any) -> FixedVariable:
        v = input_variable(t)
        self.vars.append(v)
        self.labels.append(label)
        return v


def _value(x: Any) -> FixedVariable:
    v = Lin.of(x).value()
    if not isinstance(v, FixedVariable):
        v = FixedVariable.from_const(float(v), hwconf=HW)
    return v


def _exact_sum(terms: Sequence[Any]) -> FixedVariable:
    """One adder tree over the terms, no cast (a partial sum the datapath adds up further)."""
    total = Lin()
    for t in terms:
        total = total + Lin.of(t)
    return _value(total)


def _trace(name: str, ins: _Inputs, outs: list[tuple[Label, Any]], ops: TraceOps) -> Piece:
    from nanotrig.rtl.stages import op_stages

    values = [_value(v) for _, v in outs]
    comb = comb_trace(ins.vars, values, keep_dead_inputs=True)
    labels = op_stages(comb, ins.vars, values, ops.cast_stage)
    return Piece(name, comb, list(ins.labels), [lab for lab, _ in outs], labels)


def _row(values: Sequence[Any]) -> np.ndarray:
    out = np.empty((1, len(values)), dtype=object)
    for k, v in enumerate(values):
        out[0, k] = v
    return out


def _keep(*bits: Any) -> Any:
    """AND of valid/live bits (True where a bit is always set)."""
    out: Any = True
    for b in bits:
        if b is True:
            continue
        out = b if out is True else out & b
    return out


def _hull(qs: Sequence[QInterval]) -> QInterval:
    return QInterval(min(q.min for q in qs), max(q.max for q in qs), min(q.step for q in qs))


def _sum_interval(t: Any, terms: int, nonnegative: bool = False) -> QInterval:
    """Any partial sum of ``terms`` values of type ``t`` (or of their ReLU)."""
    lo = 0.0 if nonnegative else min(t.min_value, 0.0)
    hi = max(t.max_value, 0.0)
    return QInterval(lo * terms, hi * terms, t.lsb)


def _ops(model: CanonicalModel, spec: FixedPointSpec) -> TraceOps:
    coefs = hardware_coefficients(model, spec.types)
    return TraceOps(spec.types, coefs, quantize_tables(tables_for(spec.inputs), spec.types))


def _live_bits(ins: _Inputs, sched: FoldSchedule) -> dict[int, Any]:
    bits: dict[int, Any] = {sched.reuse: True}
    for n_live in sched.live_lengths:
        bits[n_live] = ins.add(("live", n_live), BIT)
    return bits


def trace_pairs(model: CanonicalModel, spec: FixedPointSpec, sched: FoldSchedule) -> Piece:
    """Front-end of one cycle: inputs the rotating bank (every field at every position) and the
    live bits; outputs d per unit, per-position row-sum contributions, beam-row sums, valid bits."""
    ops = _ops(model, spec)
    ins = _Inputs()
    n, mode = sched.n_constituents, spec.inputs
    fields = []
    for name, t in spec.input_fields:
        fields.append(_row([Lin.of(ins.word(("jet", name, p), t)) for p in range(n)]))
    live = _live_bits(ins, sched)
    valid = kernel.valid_bits(ops, fields)  # (1, N) bits, one per bank position
    outs: list[tuple[Label, Any]] = []
    rows: list[list[Any]] = [[] for _ in range(n)]
    if sched.pairs:
        a = np.array([u.first for u in sched.pairs])
        b = np.array([u.second for u in sched.pairs])
        both = valid[:, a] & valid[:, b]
        d = kernel.PAIR_INVARIANTS[mode](ops, [f[:, a] for f in fields], [f[:, b] for f in fields], both)
        keep = _row([live[u.live] for u in sched.pairs])
        contrib = ops.mask(kernel.row_terms(ops, d), keep)
        for s, u in enumerate(sched.pairs):
            outs.append((("d", s), d[0, s]))
            rows[u.first].append(contrib[0, s])
            rows[u.second].append(contrib[0, s])
    beam_rows: list[list[Any]] = [[], []]
    if model.beams:
        pos = np.array([u.position for u in sched.beams])
        parts = kernel.BEAM_INVARIANTS[mode](ops, [f[:, pos] for f in fields], valid[:, pos])
        keep = _row([live[u.live] for u in sched.beams])
        for side, part in enumerate(parts):
            contrib = ops.mask(kernel.row_terms(ops, part), keep)
            for s, u in enumerate(sched.beams):
                outs.append((("bd", side, s), part[0, s]))
                rows[u.position].append(contrib[0, s])
                beam_rows[side].append(contrib[0, s])
    for p in range(n):
        outs.append((("S", p), _exact_sum(rows[p])))
    if model.beams:
        outs += [(("Sb", side), _exact_sum(beam_rows[side])) for side in range(2)]
    outs += [(("valid", p), valid[0, p]) for p in range(n)]
    return _trace("pairs", ins, outs, ops)


def row_sum_intervals(spec: FixedPointSpec, n: int, beams: bool) -> dict[Label, QInterval]:
    """The exact accumulators of the row sums: a constituent's row holds N - 1 pair terms and two
    beam terms, a beam row N beam terms (each d cast to ``r_term``)."""
    term = spec["r_term"]
    out: dict[Label, QInterval] = {("racc",): _sum_interval(term, n - 1 + (2 if beams else 0))}
    if beams:
        out[("bacc",)] = _sum_interval(term, n)
    return out


def trace_middle(
    model: CanonicalModel, spec: FixedPointSpec, sched: FoldSchedule, acc: dict[Label, QInterval]
) -> Piece:
    """Once per jet: r, T, u, v, y, D and the beam-beam pairs' ReLU(z) from the exact row sums."""
    ops = _ops(model, spec)
    ins = _Inputs()
    n = sched.n_constituents
    row_c = [Lin.of(ins.add(("racc", c), acc[("racc",)])) for c in range(n)]
    row_b = [Lin.of(ins.add(("bacc", side), acc[("bacc",)])) for side in range(2)] if model.beams else []
    valid_c = [ins.add(("valid", c), BIT) for c in range(n)]
    ops.use_valid_bits(_row(valid_c))
    m_index = np.zeros(1, dtype=np.int64)  # shape only: TraceOps reads M from the valid bits

    def coef(name: str, h: int | None = None) -> Any:
        return ops.coef(name, h, m_index)

    if model.beams:
        two_d = ops.const(2.0, "d", (1, 1))
        two = two_d[0, 0]  # d_+- = b+.b- = 2, as the kernel's d matrix
        two_term = kernel.row_terms(ops, two_d)[0, 0]
        rows = _row([two_term + row_b[0], two_term + row_b[1], *row_c])
        valid = _row([True, True, *valid_c])
    else:
        rows, valid = _row(row_c), _row(valid_c)
    r = kernel.row_sum_cast(ops, rows, valid)
    t = kernel.jet_sum(ops, r)
    nb = 2 if model.beams else 0
    outs: list[tuple[Label, Any]] = []
    products = kernel.particle_multiples(ops, coef, len(model.channels), r)
    for h, ch in enumerate(model.channels):
        u, v = kernel.pair_terms(ops, coef, h, r, t, valid, products=products)
        y = kernel.diag_terms(ops, coef, h, r, t, valid, products=products)
        outs.append((("D", h), kernel.diag_sum(ops, y, valid)[0]))
        for c in range(n):
            outs += [(("u", h, c), u[0, nb + c]), (("v", h, c), v[0, nb + c])]
        if model.beams:
            for side in range(2):
                outs += [(("bu", h, side), u[0, side]), (("bv", h, side), v[0, side])]
            sd = two if ch.sign > 0 else -two
            pm = kernel.pair_relu(ops, _row([sd, sd]), _row([u[0, 0] + v[0, 1], u[0, 1] + v[0, 0]]), True)
            outs.append((("Abb", h), _exact_sum(list(pm[0]))))
    outs += [(("valid", c), valid_c[c]) for c in range(n)]
    outs.append((("m",), ops._m_tree()))
    return _trace("middle", ins, outs, ops)


def trace_relu(
    model: CanonicalModel,
    spec: FixedPointSpec,
    sched: FoldSchedule,
    pairs: Piece,
    middle: Piece,
) -> tuple[Piece, dict[Label, QInterval]]:
    """ReLU(z) of one cycle's pairs, both orders and channels, summed per channel (exact).
    Inputs: d of every unit (from the pairs piece, delayed), the rotating bank of u, v and valid
    bits (from the middle piece), the beams' u and v, the live bits."""
    ops = _ops(model, spec)
    ins = _Inputs()
    n = sched.n_constituents
    out_q = dict(zip(pairs.outputs, pairs.comb.out_qint, strict=True))
    mid_q = dict(zip(middle.outputs, middle.comb.out_qint, strict=True))
    bank = {}
    for h in range(model.n_hidden):
        for name in ("u", "v"):
            bank[(name, h)] = _hull([mid_q[(name, h, c)] for c in range(n)])
    d = [Lin.of(ins.add(("d", s), out_q[("d", s)])) for s in range(len(sched.pairs))]
    bd = [
        [Lin.of(ins.add(("bd", side, s), out_q[("bd", side, s)])) for s in range(len(sched.beams))]
        for side in range(2 if model.beams else 0)
    ]
    valid = [ins.add(("valid", p), BIT) for p in range(n)]
    uv = {
        (name, h): [Lin.of(ins.add((name, h, p), bank[(name, h)])) for p in range(n)]
        for h in range(model.n_hidden)
        for name in ("u", "v")
    }
    beam_uv = {}
    if model.beams:
        for h in range(model.n_hidden):
            for name in ("bu", "bv"):
                beam_uv[(name, h)] = [
                    Lin.of(ins.add((name, h, side), mid_q[(name, h, side)])) for side in range(2)
                ]
    live = _live_bits(ins, sched)
    keep_pairs = _row([_keep(valid[u.first], valid[u.second], live[u.live]) for u in sched.pairs])
    keep_beams = _row([_keep(valid[u.position], live[u.live]) for u in sched.beams])
    outs: list[tuple[Label, Any]] = []
    for h, ch in enumerate(model.channels):
        u, v = uv[("u", h)], uv[("v", h)]
        terms: list[Any] = []
        if sched.pairs:
            dd = _row(d)
            sd = dd if ch.sign > 0 else -dd
            ij = _row([u[x.first] + v[x.second] for x in sched.pairs])
            ji = _row([u[x.second] + v[x.first] for x in sched.pairs])
            terms += list(kernel.pair_relu(ops, sd, ij, keep_pairs)[0])
            terms += list(kernel.pair_relu(ops, sd, ji, keep_pairs)[0])
        for side in range(len(bd)):
            db = _row(bd[side])
            sd = db if ch.sign > 0 else -db
            ub, vb = beam_uv[("bu", h)][side], beam_uv[("bv", h)][side]
            bc = _row([ub + v[x.position] for x in sched.beams])  # (beam, constituent)
            cb = _row([u[x.position] + vb for x in sched.beams])  # (constituent, beam)
            terms += list(kernel.pair_relu(ops, sd, bc, keep_beams)[0])
            terms += list(kernel.pair_relu(ops, sd, cb, keep_beams)[0])
        outs.append((("SA", h), _exact_sum(terms)))
    return _trace("relu", ins, outs, ops), {("bank", *k): q for k, q in bank.items()}


def relu_sum_interval(spec: FixedPointSpec, n: int, beams: bool) -> QInterval:
    """The exact accumulator of one channel's ReLU sums: both orders of every constituent pair
    and of every beam-constituent pair, each in [0, max z]."""
    terms = n * (n - 1) + (4 * n if beams else 0)
    return _sum_interval(spec["z"], max(terms, 1), nonnegative=True)


def trace_output(model: CanonicalModel, spec: FixedPointSpec, middle: Piece, acc: QInterval) -> Piece:
    """Once per jet: A_h = cast_A(the accumulated sum + the beam-beam terms), then w."""
    ops = _ops(model, spec)
    ins = _Inputs()
    mid_q = dict(zip(middle.outputs, middle.comb.out_qint, strict=True))
    a_acc = [Lin.of(ins.add(("aacc", h), acc)) for h in range(model.n_hidden)]
    a_bb = (
        [Lin.of(ins.add(("Abb", h), mid_q[("Abb", h)])) for h in range(model.n_hidden)] if model.beams else []
    )
    d_sum = [Lin.of(ins.add(("D", h), mid_q[("D", h)])) for h in range(model.n_hidden)]
    ops.use_m(ins.add(("m",), mid_q[("m",)]))
    m_index = np.zeros(1, dtype=np.int64)

    def coef(name: str, h: int | None = None) -> Any:
        return ops.coef(name, h, m_index)

    w = coef("out_const")
    for h in range(model.n_hidden):
        total = a_acc[h] + a_bb[h] if model.beams else a_acc[h]
        a_sum = ops.cast(_row([total])[0], "A")
        w = kernel.channel_output(coef, h, w, a_sum, _row([d_sum[h]])[0])
    result = ops.cast(w, "result")
    return _trace("output", ins, [(("score",), result.reshape(-1)[0])], ops)


def trace_folded(model: CanonicalModel, spec: FixedPointSpec, reuse: int) -> FoldedTrace:
    """The four pieces of the II = ``reuse`` datapath of one model and spec (one type per stage:
    ``spec.for_reuse(reuse)``)."""
    if spec.index_bits:
        raise NanotrigError(
            f"II = {reuse}: the folded datapath has one width per stage; per-index integer bits are "
            "for II = 1 (use spec.for_reuse(R), as the commands do)"
        )
    sched = fold_schedule(model.n_constituents, reuse)
    pairs = trace_pairs(model, spec, sched)
    acc = row_sum_intervals(spec, model.n_constituents, model.beams)
    middle = trace_middle(model, spec, sched, acc)
    relu, bank = trace_relu(model, spec, sched, pairs, middle)
    a_acc = relu_sum_interval(spec, model.n_constituents, model.beams)
    output = trace_output(model, spec, middle, a_acc)
    acc[("aacc",)] = a_acc
    return FoldedTrace(
        schedule=sched,
        mode=spec.inputs,
        beams=model.beams,
        n_hidden=model.n_hidden,
        pieces={"pairs": pairs, "middle": middle, "relu": relu, "output": output},
        accumulators=acc,
        bank=bank,
    )


def interpret_folded(ft: FoldedTrace, words: np.ndarray, spec: FixedPointSpec) -> np.ndarray:
    """The folded datapath in Python, cycle by cycle, from the pieces' own graphs (da4ml's
    interpreter), vectorised over jets: the reference the Verilog must match, and the check that
    the folding (rotation, masks, exact accumulators) gives the emulator's integers.
    ``words`` (jets, N, fields) raw input words; returns the raw score words."""
    sched, n = ft.schedule, ft.schedule.n_constituents
    types = [t for _, t in spec.input_fields]
    names = [name for name, _ in spec.input_fields]
    pieces = ft.pieces
    n_jets = words.shape[0]
    zero = np.zeros(n_jets)
    racc = [zero.copy() for _ in range(n)]
    bacc = [zero.copy(), zero.copy()]
    valid0: dict[int, np.ndarray] = {}
    cycles: list[dict[Label, np.ndarray]] = []
    for g in range(sched.reuse):
        env: dict[Label, np.ndarray] = {}
        for f_i, name in enumerate(names):
            for p in range(n):
                env[("jet", name, p)] = words[:, sched.constituent(p, g), f_i] * types[f_i].lsb
        for n_live in sched.live_lengths:
            env[("live", n_live)] = zero + (1.0 if g < n_live else 0.0)
        res = _run(pieces["pairs"], env)
        for p in range(n):
            racc[sched.constituent(p, g)] = racc[sched.constituent(p, g)] + res[("S", p)]
            if g == 0:
                valid0[p] = res[("valid", p)]
        if ft.beams:
            bacc = [bacc[0] + res[("Sb", 0)], bacc[1] + res[("Sb", 1)]]
        cycles.append(res)
    env = {("racc", c): racc[c] for c in range(n)}
    env.update({("valid", c): valid0[c] for c in range(n)})
    if ft.beams:
        env.update({("bacc", s): bacc[s] for s in range(2)})
    mid = _run(pieces["middle"], env)
    aacc = [zero.copy() for _ in range(ft.n_hidden)]
    for g in range(sched.reuse):
        env = {k: v for k, v in cycles[g].items() if k[0] in ("d", "bd")}
        for p in range(n):
            c = sched.constituent(p, g)
            env[("valid", p)] = mid[("valid", c)]
            for h in range(ft.n_hidden):
                env[("u", h, p)] = mid[("u", h, c)]
                env[("v", h, p)] = mid[("v", h, c)]
        env.update({k: v for k, v in mid.items() if k[0] in ("bu", "bv")})
        for n_live in sched.live_lengths:
            env[("live", n_live)] = zero + (1.0 if g < n_live else 0.0)
        res = _run(pieces["relu"], env)
        aacc = [aacc[h] + res[("SA", h)] for h in range(ft.n_hidden)]
    env = {("aacc", h): aacc[h] for h in range(ft.n_hidden)}
    env.update({k: v for k, v in mid.items() if k[0] in ("Abb", "D", "m")})
    score = _run(pieces["output"], env)[("score",)]
    return np.round(score / spec["result"].lsb).astype(np.int64)


def _run(piece: Piece, env: dict[Label, np.ndarray]) -> dict[Label, np.ndarray]:
    x = np.stack([env[lab] for lab in piece.inputs], axis=1)
    y = piece.comb.predict(x)
    return {lab: y[:, k] for k, lab in enumerate(piece.outputs)}
