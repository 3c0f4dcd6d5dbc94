"""Multi-operand sums of a stage rebuilt as trees of ternary adders.

da4ml writes every sum as binary adds, so a sum of k terms costs k - 1 carry chains. An
UltraScale+ slice adds three operands in one carry chain at one LUT per bit: each LUT6_2
computes, from a_i, b_i, c_i and the previous bit's carry-save carry, both that carry (O5) and
the chain's propagate bit (O6). Vivado builds such ternary adders only from a + b + c written in
one expression, and Yosys not at all, so ``sum_trees`` finds each stage's sums (adds whose
add operands have no other user: z = s d + u + v, the row sums r_i, the ReLU sums A, D) and
``SumWriter`` writes them as ternary adders (``add3_module``: the primitives for synthesis, the
same sum as one expression for simulation). Terms that are masks or ReLUs of one user are first
added in pairs by ordinary adders, whose LUT absorbs the mask; a ternary adder's LUT has no
inputs left for that. Exactness: every partial sum is as wide as its interval needs, every
value is the same integer as before (checked by simulation against the emulator).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass

from da4ml.types import CombLogic, minimal_kif

ADD, SUB = 0, 1
# single-user operations whose logic an ordinary adder's LUT takes in: ReLU (bits AND NOT sign),
# masks (AND with a replicated bit), muxes, bitwise operations and NOT
_ABSORBABLE = {2, 6, -6, 10}


@dataclass(frozen=True)
class Term:
    """One operand of a sum: value ``op`` of the stage, shifted left by ``shift`` LSBs of the
    sum's result, added or subtracted; ``soft``: a single-user mask / ReLU / bit operation, best
    added by an ordinary adder, whose LUT takes its logic in."""

    op: int
    shift: int
    negative: bool
    soft: bool = False


def _frac(sol: CombLogic, i: int) -> int:
    return int(minimal_kif(sol.ops[i].qint)[2])


def _users(sol: CombLogic) -> tuple[list[int], list[int]]:
    """Per value: how many operations (and stage outputs) read it, and the last reader (-1: none)."""
    n = len(sol.ops)
    count, reader = [0] * n, [-1] * n
    for i, op in enumerate(sol.ops):
        refs: list[int] = []
        if op.opcode in (0, 1, 7, 10):
            refs = [op.id0, op.id1]
        elif op.opcode in (6, -6):
            refs = [op.id0, op.id1, op.data & 0xFFFFFFFF]
        elif op.opcode not in (-1, 5):
            refs = [op.id0]
        for r in refs:
            if 0 <= r < n:
                count[r] += 1
                reader[r] = i
    for j in sol.out_idxs:
        if j >= 0:
            count[j] += 1
            reader[j] = -1
    return count, reader


def _operands(sol: CombLogic, i: int) -> tuple[tuple[int, int, bool], tuple[int, int, bool]] | None:
    """(value, shift, negative) of both operands of add/sub ``i`` relative to its result's LSB,
    or None when the result's LSB is not the finer operand's (then it stays a value)."""
    op = sol.ops[i]
    fa, fb = _frac(sol, op.id0), _frac(sol, op.id1)
    s = op.data + fa - fb
    if _frac(sol, i) != max(fa, fb - op.data):
        return None
    return (op.id0, max(-s, 0), False), (op.id1, max(s, 0), op.opcode == SUB)


def sum_trees(sol: CombLogic) -> tuple[dict[int, list[Term]], set[int]]:
    """(root -> its terms, the adds folded into a root) for the sums of three or more terms."""
    count, reader = _users(sol)
    widths = [sum(minimal_kif(op.qint)) for op in sol.ops]
    is_add = [op.opcode in (ADD, SUB) and widths[i] > 0 for i, op in enumerate(sol.ops)]
    inner = {
        i
        for i in range(len(sol.ops))
        if is_add[i] and count[i] == 1 and reader[i] >= 0 and is_add[reader[i]] and _operands(sol, i)
    }
    trees: dict[int, list[Term]] = {}
    folded: set[int] = set()
    for root in range(len(sol.ops)):
        if not is_add[root] or root in inner or _operands(sol, root) is None:
            continue
        terms: list[Term] = []
        members: list[int] = []
        stack = [(root, 0, False)]
        while stack:
            i, shift, neg = stack.pop()
            ops = _operands(sol, i)
            assert ops is not None
            for k, sh, ng in ops:
                if k in inner:
                    members.append(k)
                    stack.append((k, shift + sh, neg ^ ng))
                elif widths[k] > 0:
                    terms.append(Term(k, shift + sh, neg ^ ng, _absorbable(sol, k, count)))
        if len(terms) >= 3:
            trees[root] = terms
            folded.update(members)
    return trees, folded


def _absorbable(sol: CombLogic, i: int, count: list[int]) -> bool:
    op = sol.ops[i]
    return count[i] == 1 and (op.opcode in _ABSORBABLE or (op.opcode == 9 and op.data == 0))


@dataclass(frozen=True)
class Operand:
    """A value in a sum: Verilog name, width, signedness, its LSB's shift (in LSBs of the sum's
    result) and the integer range of the value itself."""

    name: str
    width: int
    signed: bool
    shift: int
    negative: bool
    lo: int
    hi: int

    @property
    def span(self) -> int:
        return max(abs(self.lo), abs(self.hi)) << self.shift


def _bits(lo: int, hi: int) -> tuple[int, bool]:
    if lo < 0:
        return max((-lo - 1).bit_length(), hi.bit_length()) + 1, True
    return max(hi.bit_length(), 1), False


def _combine(parts: list[Operand], name: str) -> Operand:
    """The partial sum of ``parts`` as a new (added) operand at their finest LSB, as wide as its
    interval needs."""
    shift = min(p.shift for p in parts)
    lo = hi = 0
    for p in parts:
        a, b = p.lo << (p.shift - shift), p.hi << (p.shift - shift)
        if p.negative:
            a, b = -b, -a
        lo, hi = lo + a, hi + b
    width, signed = _bits(lo, hi)
    return Operand(name, width, signed, shift, False, lo, hi)


class SumWriter:
    """Writes one sum tree as Verilog lines through ``emit``: ordinary adders for pairs of
    absorbable terms, then ternary adders (``add3`` module ``module``) over what is left,
    smallest magnitudes first."""

    def __init__(
        self, module: str, emit: Callable[[str], None], ext: Callable[[Operand, int, int], str]
    ) -> None:
        self.module, self.emit, self.ext = module, emit, ext

    def write(self, root: Operand, soft: list[Operand], hard: list[Operand]) -> None:
        """``root``: the result (its name, width and signedness are given); ``soft``: the
        absorbable terms; ``hard``: the others."""
        n = 0

        def fresh() -> str:
            nonlocal n
            n += 1
            return f"{root.name}_p{n}"

        pool = list(hard)
        soft = sorted(soft, key=lambda o: o.span)
        while soft and len(soft) + len(pool) > 2:
            a = soft.pop(0)
            if soft:
                b = soft.pop(0)
            else:
                b = min(pool, key=lambda o: o.span)
                pool.remove(b)
            pool.append(self._node([a, b], fresh()))
        pool += soft
        heap = [(o.span, k, o) for k, o in enumerate(pool)]
        heapq.heapify(heap)
        tick = len(heap)
        while len(heap) > 3 or (len(heap) == 3 and all(h[2].negative for h in heap)):
            # an odd number of reductions left: one ordinary adder first, then ternary ones only
            take = 2 if (len(heap) - 1) % 2 else 3
            parts = [heapq.heappop(heap)[2] for _ in range(take)]
            if take == 3 and all(p.negative for p in parts):  # at most two subtracted per adder
                back = parts.pop()
                heapq.heappush(heap, (back.span, tick, back))
                tick += 1
            node = self._node(parts, fresh())
            heapq.heappush(heap, (node.span, tick, node))
            tick += 1
        self._node([h[2] for h in heap], root.name, root)

    def _node(self, parts: list[Operand], name: str, result: Operand | None = None) -> Operand:
        out = result or _combine(parts, name)
        w = out.width
        exprs = [(self.ext(p, w, p.shift - out.shift), p.negative) for p in parts]
        if len(parts) == 1:
            expr, neg = exprs[0]
            self.emit(f"wire [{w - 1}:0] {name} = {'-' if neg else ''}{expr};")
        elif len(parts) == 2 and not (exprs[0][1] and exprs[1][1]):
            (ea, na), (eb, nb) = sorted(exprs, key=lambda e: e[1])
            self.emit(f"wire [{w - 1}:0] {name} = {ea} {'-' if nb else '+'} {eb};")
        else:
            if len(exprs) == 2:
                exprs.append((f"{w}'d0", False))
            neg = "".join("1" if ng else "0" for _, ng in reversed(exprs))
            self.emit(f"wire [{w - 1}:0] {name};")
            ports = ", ".join(f".{p}({e})" for p, (e, _) in zip("abc", exprs, strict=True))
            self.emit(f"{self.module} #(.W({w}), .NEG(3'b{neg})) {name}_add ({ports}, .o({name}));")
        return out


def _lut_init(neg: int) -> int:
    """INIT of the LUT6_2 of one ternary-adder bit: I0..I2 = a, b, c (inverted where subtracted),
    I3 = the previous bit's carry-save carry, I4 unused, I5 = 1. O5 = majority (the carry),
    O6 = a ^ b ^ c ^ I3 (the propagate bit of the carry chain)."""
    init = 0
    for idx in range(32):
        x, y, z = (((idx >> k) & 1) ^ ((neg >> k) & 1) for k in range(3))
        m = (idx >> 3) & 1
        if x + y + z >= 2:
            init |= 1 << idx
        if x ^ y ^ z ^ m:
            init |= 1 << (32 + idx)
    return init


def add3_module(name: str) -> str:
    """``o = (+-a) + (+-b) + (+-c)`` modulo 2**W, at most two operands subtracted (NEG bit k:
    operand k subtracted). Synthesis (``SYNTHESIS`` defined, as by Vivado and Yosys): one LUT6_2
    per bit and a CARRY8 chain; the +1 of each subtracted operand enters as the first bit's
    carry-save carry and as the chain's carry-in. Simulation: the same sum as one expression
    (tests/test_adder_trees.py simulates the primitive netlist against it)."""
    inits = "\n".join(
        f"        NEG == 3'b{neg:03b} ? 64'h{_lut_init(neg):016x} :"
        for neg in range(8)
        if bin(neg).count("1") <= 2
    )
    return f"""// Ternary adder: o = (+-a) + (+-b) + (+-c) mod 2**W in one carry chain, one LUT per bit.
module {name} #(
    parameter integer W = 8,
    parameter [2:0] NEG = 3'b000
) (
    input  [W-1:0] a,
    input  [W-1:0] b,
    input  [W-1:0] c,
    output [W-1:0] o
);
`ifdef SYNTHESIS
    localparam integer K = NEG[0] + NEG[1] + NEG[2];  // +1 per subtracted operand
    localparam integer N8 = (W + 7) / 8;
    localparam [63:0] INIT =
{inits}
        64'h0;
    wire [W:0] carry;  // carry-save carries: bit i's O5 enters bit i + 1
    wire [8*N8-1:0] s, di, co, sum;
    assign carry[0] = K >= 1;
    genvar i;
    generate
        for (i = 0; i < 8 * N8; i = i + 1) begin : bit_
            if (i < W) begin : lut
                LUT6_2 #(.INIT(INIT)) u (
                    .O6(s[i]), .O5(carry[i + 1]),
                    .I0(a[i]), .I1(b[i]), .I2(c[i]), .I3(carry[i]), .I4(1'b0), .I5(1'b1)
                );
                assign di[i] = carry[i];
            end else begin : pad
                assign s[i] = 1'b0;
                assign di[i] = 1'b0;
            end
        end
        for (i = 0; i < N8; i = i + 1) begin : chain
            CARRY8 u (
                .CI(i == 0 ? (K >= 2) : co[8 * i - 1]), .CI_TOP(1'b0),
                .DI(di[8 * i + 7 : 8 * i]), .S(s[8 * i + 7 : 8 * i]),
                .O(sum[8 * i + 7 : 8 * i]), .CO(co[8 * i + 7 : 8 * i])
            );
        end
    endgenerate
    assign o = sum[W-1:0];
`else
    assign o = (NEG[0] ? -a : a) + (NEG[1] ? -b : b) + (NEG[2] ? -c : c);
`endif
endmodule
"""
