"""A flat Verilog core written from da4ml's staged operation lists, one expression per operation.

da4ml's own Verilog writer instantiates a parameterised module per operation (shift_adder,
multiplier, mux, ...) and passes each stage's values through one wide bus. That is fine for
Vivado, but the open tools pay for it: Icarus copies the whole bus for every part that
changes, Verilator builds a VPI scope per instance (tens of MB of C++ at N = 20), and Yosys
derives and optimises a module per parameter set. Here every operation is one ``assign``
with the same arithmetic as da4ml's primitive (operands aligned, sign- or zero-extended,
result truncated to the value's minimal width), every value crossing a stage boundary has
its own register, and tables are ``case`` ROMs. Bit-exactness is checked by simulation
against the emulator, not assumed.

All arithmetic is modulo 2**w of the result width w: da4ml's interval analysis guarantees the
exact result fits, and sums, differences, products, negations and bit operations modulo 2**w
depend only on the operands modulo 2**w, so operands are extended (or cut) to w bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from da4ml.codegen.rtl.verilog.comb import gen_memfile, get_table_name_memfile
from da4ml.types import CombLogic, Op, Pipeline, QInterval, minimal_kif

from nanotrig.rtl.adder_trees import Operand, SumWriter, Term, add3_module, sum_trees
from nanotrig.rtl.bram import BramRead, BramWriter, read_for, table_name


@dataclass(frozen=True)
class Val:
    """A Verilog value: name, width, signedness (two's complement) and fractional bits."""

    name: str
    width: int
    signed: bool
    frac: int


def _kif(q: QInterval) -> tuple[int, int, int]:
    k, i, f = minimal_kif(q)
    return int(k), int(i), int(f)


def ext(v: Val, width: int, lshift: int = 0) -> str:
    """``v << lshift`` as exactly ``width`` bits, sign- or zero-extended, or its low bits."""
    if v.width == 0 or lshift >= width:
        return f"{width}'d0"
    keep = min(v.width, width - lshift)
    parts = []
    pad = width - lshift - v.width
    if pad > 0:
        fill = f"{v.name}[{v.width - 1}]" if v.signed else "1'b0"
        parts.append(f"{{{pad}{{{fill}}}}}")
    parts.append(v.name if keep == v.width else f"{v.name}[{keep - 1}:0]")
    if lshift > 0:
        parts.append(f"{lshift}'d0")
    return parts[0] if len(parts) == 1 else "{" + ", ".join(parts) + "}"


def _neg_qint(q: QInterval) -> QInterval:
    return QInterval(-q.max, -q.min, q.step)


class StageWriter:
    """Verilog lines for one stage's operations; value i of stage s is named ``s<s>_v<i>``."""

    def __init__(
        self,
        sol: CombLogic,
        stage: int,
        core: str,
        bram_tables: dict[str, np.ndarray] | None = None,
        labels: list[str] | None = None,
    ) -> None:
        self.sol, self.stage, self.core = sol, stage, core
        self.lines: list[str] = []
        self.owners: list[str] = []  # the kernel stage group of each line (nanotrig.rtl.stages)
        self.labels = labels
        self.current = ""
        self.vals: dict[int, Val] = {}
        self.negs: dict[int, Val] = {}
        self.roms: dict[str, str] = {}
        self.bram_tables = bram_tables or {}
        self.bram_reads: dict[int, BramRead] = {}  # value -> its synchronous read (next stage's register)

    def name(self, i: int) -> str:
        return f"s{self.stage}_v{i}"

    def val(self, i: int) -> Val:
        return self.vals[i]

    def neg(self, i: int) -> Val:
        """-v_i in the width of its negated interval (one subtracter, shared by all users)."""
        if i not in self.negs:
            src = self.vals[i]
            q = _neg_qint(self.sol.ops[i].qint)
            k, ii, f = _kif(q)
            w = k + ii + f
            n = Val(f"{src.name}_neg", w, bool(k), f)
            self._emit(f"wire [{max(w, 1) - 1}:0] {n.name} = -{ext(src, max(w, 1))};")
            self.negs[i] = n
        return self.negs[i]

    def write(self, inputs: list[str]) -> None:
        """``inputs[j]``: the register feeding input j of this stage (already declared)."""
        refs = self.sol.ref_count
        trees, folded = sum_trees(self.sol)
        for i, op in enumerate(self.sol.ops):
            self.current = self.labels[i] if self.labels else ""
            k, ii, f = _kif(op.qint)
            w = k + ii + f
            self.vals[i] = Val(self.name(i), w, bool(k), f)
            if refs[i] == 0 or w == 0 or i in folded:
                continue
            if i in trees:
                self._sum_tree(self.vals[i], trees[i])
            elif op.opcode == -1:
                self.vals[i] = Val(inputs[op.id0], w, bool(k), f)
            elif op.opcode == 8 and self._bram(i, op, w):
                continue  # read at the stage boundary into the next stage's register
            elif op.opcode == 8:  # table lookup: a case ROM
                a = self.val(op.id0)
                rom = self._rom(op, a.width, w)
                self._emit(f"wire [{w - 1}:0] {self.name(i)};")
                self._emit(f"{rom} {self.name(i)}_rom ({a.name}, {self.name(i)});")
            else:
                self._emit(f"wire [{w - 1}:0] {self.name(i)} = {self._expr(op, w, f)};")

    def _sum_tree(self, result: Val, terms: list[Term]) -> None:
        """A sum of three or more terms as ternary adders (``nanotrig.rtl.adder_trees``)."""
        soft, hard = [], []
        for t in terms:
            v, q = self.val(t.op), self.sol.ops[t.op].qint
            lo, hi = round(q.min * 2.0**v.frac), round(q.max * 2.0**v.frac)
            o = Operand(v.name, v.width, v.signed, t.shift, t.negative, lo, hi)
            (soft if t.soft else hard).append(o)
        root = Operand(result.name, result.width, result.signed, 0, False, 0, 0)
        module = f"{self.core}_add3"
        self.roms.setdefault(module, add3_module(module))
        SumWriter(module, self._emit, lambda o, w, sh: ext(Val(o.name, o.width, o.signed, 0), w, sh)).write(
            root, soft, hard
        )

    def _emit(self, line: str) -> None:
        self.lines.append(line)
        self.owners.append(self.current)

    def _bram(self, i: int, op: Op, w: int) -> bool:
        """Record a lookup of a BRAM table (its value never has a wire in this stage)."""
        if not self.bram_tables:
            return False
        table = self.sol.lookup_tables[op.data]
        name = table_name(table.float_table, self.bram_tables)
        if name is None:
            return False
        a = self.val(op.id0)
        self.bram_reads[i] = read_for(name, table.padded_table(self.sol.ops[op.id0].qint), a.name, a.width, w)
        return True

    def _expr(self, op: Op, w: int, f: int) -> str:
        code = op.opcode
        if code in (0, 1):  # v0 +- v1 * 2**data
            a, b = self.val(op.id0), self.val(op.id1)
            shift = op.data + a.frac - b.frac  # of v1 relative to v0, in LSBs
            return f"{ext(a, w, max(-shift, 0))} {'-' if code else '+'} {ext(b, w, max(shift, 0))}"
        if code == 4:  # v0 +- constant (op.data in output LSBs)
            a = self.val(op.id0)
            c = (abs(op.data) << max(a.frac - f, 0)) % (1 << w)
            return f"{ext(a, w, max(f - a.frac, 0))} {'-' if op.data < 0 else '+'} {w}'d{c}"
        if code == 5:  # constant
            return f"{w}'d{op.data % (1 << w)}"
        if code in (2, -2, 3, -3):  # ReLU / quantize of +-v0: bit selection (and sign mask)
            src = self.val(op.id0) if code > 0 else self.neg(op.id0)
            lo = src.frac - f  # LSBs dropped (floor)
            bits = self._slice(src, lo, w)
            if abs(code) == 2 and src.signed:
                return f"{bits} & {{{w}{{~{src.name}[{src.width - 1}]}}}}"
            return bits
        if code in (6, -6):  # MSB of key ? v0 : (+-v1) << shift
            key = self.val(op.data & 0xFFFFFFFF)
            a, b = self.val(op.id0), self.val(op.id1)
            sh = (op.data >> 32) & 0xFFFFFFFF
            sh = sh - (1 << 32) if sh >= 1 << 31 else sh
            e0 = ext(a, w, f - a.frac)
            e1 = ext(b, w, f - b.frac + sh)
            if code < 0:
                e1 = f"-{e1}"
            bit = f"{key.name}[{key.width - 1}]"
            if e1 == f"{w}'d0":  # a mask: AND with the replicated bit, which logic synthesis merges
                return f"{e0} & {{{w}{{{bit}}}}}"
            return f"{bit} ? {e0} : {e1}"
        if code == 7:  # product: natural operand widths, so synthesis sees an 16x16 (DSP) multiply
            a, b = self.val(op.id0), self.val(op.id1)
            if a.width == 0 or b.width == 0:
                return f"{w}'d0"
            if a.signed or b.signed:
                sa = f"$signed({a.name})" if a.signed else f"$signed({{1'b0, {a.name}}})"
                sb = f"$signed({b.name})" if b.signed else f"$signed({{1'b0, {b.name}}})"
                return f"{sa} * {sb}"
            return f"{a.name} * {b.name}"
        if code in (9, -9):  # NOT / OR-reduce / AND-reduce
            src = self.val(op.id0) if (code > 0 or op.data == 1) else self.neg(op.id0)
            if op.data == 0:
                return f"~{ext(src, w)}"
            red = f"{'|' if op.data == 1 else '&'}{src.name}"
            return f"{{{w - 1}'d0, {red}}}" if w > 1 else red
        if code == 10:  # AND / OR / XOR of +-v0 and +-v1 * 2**shift
            data = op.data
            subop, raw = (data >> 56) & 0xFF, data & 0xFFFFFFFF
            shift = (raw + 0x80000000) % 0x100000000 - 0x80000000
            a = self.neg(op.id0) if (data >> 32) & 1 else self.val(op.id0)
            b = self.neg(op.id1) if (data >> 33) & 1 else self.val(op.id1)
            sym = {0: "&", 1: "|", 2: "^"}[subop]
            s1 = shift + a.frac - b.frac  # as da4ml's binop: the coarser operand is padded
            return f"{ext(a, w, max(-s1, 0))} {sym} {ext(b, w, max(s1, 0))}"
        raise ValueError(f"da4ml opcode {code} not supported by the flat Verilog writer")

    @staticmethod
    def _slice(src: Val, lo: int, w: int) -> str:
        """Bits [lo + w - 1 : lo] of src, sign-/zero-extended above its MSB."""
        if lo < 0:
            return ext(src, w, -lo)
        hi = lo + w - 1
        if lo >= src.width:
            fill = f"{src.name}[{src.width - 1}]" if src.signed else "1'b0"
            return f"{{{w}{{{fill}}}}}"
        if hi < src.width:
            return f"{src.name}[{hi}:{lo}]"
        fill = f"{src.name}[{src.width - 1}]" if src.signed else "1'b0"
        return f"{{{{{hi - src.width + 1}{{{fill}}}}}, {src.name}[{src.width - 1}:{lo}]}}"

    def _rom(self, op: Op, w_in: int, w_out: int) -> str:
        mem_name = get_table_name_memfile(self.sol, op)[0]
        rom = f"{self.core}_rom_{mem_name[6:14]}"
        if rom not in self.roms:
            mask = (1 << w_out) - 1
            cases = [
                f"            {w_in}'d{addr}: q = {w_out}'h{int(word, 16) & mask:x};"
                for addr, word in enumerate(gen_memfile(self.sol, op).split("\n"))
                if "X" not in word  # addresses the multiplicity never takes
            ]
            self.roms[
                rom
            ] = f"""// ROM in logic (LUTs; rom_style keeps synthesis from moving it into block RAM). Kept as
// its own module: a table read by hundreds of pairs is synthesised once, not once per copy.
(* keep_hierarchy *)
module {rom} (
    input  [{w_in - 1}:0] a,
    output reg [{w_out - 1}:0] q
);
    always @(*) begin
        (* rom_style = "logic" *) case (a)
{chr(10).join(cases)}
            default: q = {w_out}'d0;
        endcase
    end
endmodule
"""
        return rom


def flat_core(
    pipe: Pipeline,
    name: str,
    bram_tables: dict[str, np.ndarray] | None = None,
    stage_labels: list[list[str]] | None = None,
    register_inputs: bool = True,
) -> tuple[str, list[str]]:
    """(core module, ROM modules) for ``pipe``; ports ``clk``, ``model_inp``, ``model_out``.
    ``register_inputs=False``: stage 0 reads its inputs directly (their drivers are registers
    already), so the latency is one cycle per stage instead of one more for the input register;
    each input is then its own port ``s0_in<j>`` (a packed bus that changes word by word makes
    event-driven simulators re-evaluate the whole first stage once per word).
    Lookups of the tables in ``bram_tables`` (name -> float values) become block-RAM reads.
    With ``stage_labels`` (the kernel stage group of every op of every stage) the core is one
    submodule per group instead (``nanotrig.rtl.hierarchy``): the same logic, countable by stage."""
    body: list[tuple[str, str]] = []  # (group, Verilog line)
    roms: dict[str, str] = {}
    brams = BramWriter(name)
    inp_w = [sum(minimal_kif(q)) for q in pipe.inp_qint]
    # stage 0 registers the port words
    sources: list[str | BramRead] = []
    lo = 0
    for w in inp_w:
        sources.append(f"model_inp[{lo + w - 1}:{lo}]" if w else "")
        lo += w
    n_stages = len(pipe.solutions)
    out_bits = 0
    source_groups = ["inputs"] * len(sources)
    for s, sol in enumerate(pipe.solutions):
        body.append(("", f"    // ---- stage {s}: {len(sol.ops)} operations ----"))
        regs = []
        reads = []
        for j, q in enumerate(sol.inp_qint):
            w = sum(minimal_kif(q))
            reg = f"s{s}_in{j}"
            regs.append(reg)
            if isinstance(sources[j], BramRead):
                reads.append((sources[j], reg, w))
            elif s == 0 and not register_inputs:
                continue  # a port
            elif w and sources[j]:
                body.append((source_groups[j], f'    (* shreg_extract = "no" *) reg [{w - 1}:0] {reg};'))
                body.append((source_groups[j], f"    always @(posedge clk) {reg} <= {sources[j]};"))
        body += [("front-end", "    " + line) for line in brams.instances(reads, s)]
        labels = stage_labels[s] if stage_labels else None
        writer = StageWriter(sol, s, name, bram_tables, labels)
        writer.write(regs)
        # this stage's outputs feed the next stage's input registers directly
        last = s == n_stages - 1
        outs = []
        for j, idx in enumerate(sol.out_idxs):
            v = writer.val(idx) if idx >= 0 else Val("", 0, False, 0)
            if last and idx >= 0 and sol.out_negs[j]:
                v = writer.neg(idx)
            outs.append(v)
        body += [(g, "    " + line) for g, line in zip(writer.owners, writer.lines, strict=True)]
        roms.update(writer.roms)
        sources = [
            writer.bram_reads.get(idx) or (v.name if v.width else "")
            for idx, v in zip(sol.out_idxs, outs, strict=True)
        ]
        source_groups = [(labels[idx] if labels and idx >= 0 else "") or "output" for idx in sol.out_idxs]
        if last:
            out_bits = sum(v.width for v in outs)
            finals = [v.name for v in outs if v.width]
            packed = f"{{{', '.join(reversed(finals))}}}" if finals else "1'b0"
            body.append(("output", f"    always @(posedge clk) model_out <= {packed};"))
    if stage_labels is not None:
        from nanotrig.rtl.hierarchy import group_modules

        text = group_modules(name, body, sum(inp_w), max(out_bits, 1), n_stages)
        return text, list(roms.values()) + list(brams.modules.values())
    if register_inputs:
        in_ports = f"    input [{sum(inp_w) - 1}:0] model_inp,"
    else:
        in_ports = "\n".join(f"    input [{w - 1}:0] s0_in{j}," for j, w in enumerate(inp_w) if w)
    text = f"""`timescale 1ns / 1ps
// {name}: {n_stages} pipeline stages{"" if register_inputs else " (inputs not registered)"}, II = 1;
// generated by nanotrig from da4ml's trace.
module {name} (
    input clk,
{in_ports}
    output reg [{max(out_bits, 1) - 1}:0] model_out
);
    // verilator lint_off UNUSEDSIGNAL
    // verilator lint_off WIDTHTRUNC
    // verilator lint_off WIDTHEXPAND
{chr(10).join(line for _, line in body)}
    // verilator lint_on WIDTHEXPAND
    // verilator lint_on WIDTHTRUNC
    // verilator lint_on UNUSEDSIGNAL
endmodule
"""
    return text, list(roms.values()) + list(brams.modules.values())
