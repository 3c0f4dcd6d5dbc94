"""Verilog of the II = R datapath: the four traced pieces plus the registers that fold them.

Timeline of one jet, in cycles after the one in which it is accepted (age 0; ``ap_ready`` high,
``jet_ap_vld`` high, ``ap_rst`` low):

    1 .. R              the jet bank (loaded at acceptance) rotates; the pairs piece reads it
    1+La .. La+R        pairs results: d into delay lines, row-sum contributions into the rotating
                        exact accumulators (cleared on the first cycle), beam rows likewise
    tM = 1+La+R         the middle piece reads the accumulators
    tB = tM+Lm+1 ..     the bank of u, v, valid (loaded from the middle piece) rotates for R cycles;
                        the relu piece reads it with the d leaving the delay lines
    tB+Lb .. tB+Lb+R-1  ReLU sums into the exact A accumulators
    tO = tB+Lb+R        the output piece reads them (D, the beam-beam terms and m by delay lines)
    tO+Lo               score_0 with score_0_ap_vld

La, Lm, Lb, Lo are the pieces' pipeline stages (their inputs are registers of this module, so
they take no input register of their own). A new jet may be accepted R cycles after the last
one: every register above is used for R cycles per jet at most or is a plain delay line, so jets
overlap freely. ``ap_ready`` is low for the R - 1 cycles after an acceptance; a jet offered then
is not taken and must be held by the source (it is never dropped silently). A one-hot shift
register of acceptance ages schedules everything; reset clears it (jets in flight are dropped,
the datapath itself has no reset, as in the II = 1 pipeline).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from da4ml.types import Pipeline, QInterval, minimal_kif

from nanotrig.rtl.flat_verilog import StageWriter, Val, ext
from nanotrig.rtl.folded import FoldedTrace, Label
from nanotrig.rtl.wrapper import PortSpec, output_placement

PIECES = ("pairs", "middle", "relu", "output")


def val_of(name: str, q: QInterval) -> Val:
    k, i, f = (int(x) for x in minimal_kif(q))
    w = k + i + f
    return Val(name if w else "", w, bool(k), f)


def fit(src: Val, width: int, frac: int) -> str:
    """``src`` as exactly ``width`` bits with ``frac`` fractional bits (the value must fit)."""
    if width <= 0:
        return ""
    if src.width == 0:
        return f"{width}'d0"
    shift = frac - src.frac
    if shift >= 0:
        return ext(src, width, shift)
    return StageWriter._slice(src, -shift, width)


@dataclass
class Timing:
    reuse: int
    stages: dict[str, int]

    @property
    def t_middle(self) -> int:
        return 1 + self.stages["pairs"] + self.reuse

    @property
    def t_middle_out(self) -> int:
        return self.t_middle + self.stages["middle"]

    @property
    def t_relu(self) -> int:
        return self.t_middle_out + 1

    @property
    def t_output(self) -> int:
        return self.t_relu + self.stages["relu"] + self.reuse

    @property
    def latency(self) -> int:
        return self.t_output + self.stages["output"]

    @property
    def d_delay(self) -> int:
        """Cycles from a pairs result to the relu piece's read of the same cycle g."""
        return self.t_relu - 1 - self.stages["pairs"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "stages": dict(self.stages),
            "t_middle": self.t_middle,
            "t_relu": self.t_relu,
            "t_output": self.t_output,
            "latency_cycles": self.latency,
            "d_delay_cycles": self.d_delay,
        }


@dataclass
class _Top:
    """Collects declarations and register updates of the top module."""

    lines: list[str] = field(default_factory=list)
    reg_bits: int = 0  # flip-flops this module adds beside the pieces
    glue_luts: int = 0  # LUT-eq of its muxes and accumulator adders (the da4ml-style count)

    def wire(self, v: Val, expr: str) -> Val:
        if v.width:
            self.lines.append(f"    wire [{v.width - 1}:0] {v.name} = {expr};")
        return v

    def reg(self, v: Val, next_expr: str, luts_per_bit: int = 0) -> Val:
        if v.width:
            self.lines.append(f'    (* shreg_extract = "no" *) reg [{v.width - 1}:0] {v.name};')
            self.lines.append(f"    always @(posedge ap_clk) {v.name} <= {next_expr};")
            self.reg_bits += v.width
            self.glue_luts += luts_per_bit * v.width
        return v

    def comment(self, text: str) -> None:
        self.lines.append(f"    // {text}")


def _pieces_io(pipe: Pipeline) -> tuple[list[Val], list[Val]]:
    ins = [val_of("", q) for q in pipe.inp_qint]
    outs = [val_of("", q) for q in pipe.out_qint]
    return ins, outs


def folded_top(
    ft: FoldedTrace, pipes: dict[str, Pipeline], ports: PortSpec, core_names: dict[str, str]
) -> tuple[str, Timing, dict[str, int]]:
    """The top module; returns (Verilog, timing, {"reg_bits": .., "glue_luts": ..})."""
    sched, n, r = ft.schedule, ft.schedule.n_constituents, ft.schedule.reuse
    timing = Timing(r, {name: len(pipes[name].solutions) for name in PIECES})
    lt = timing.latency
    top = _Top()

    def age(t: int) -> str:  # 1 iff a jet was accepted t cycles ago (t >= 1)
        return f"age[{t - 1}]"

    def any_age(lo: int, hi: int) -> str:  # ages lo .. hi (inclusive), lo >= 1
        bits = [age(t) for t in range(lo, hi + 1)]
        return "(" + " | ".join(bits) + ")" if bits else "1'b0"

    # ---- control: acceptance ages ----
    top.comment("acceptance: one-hot ages of the jets in flight; reset clears them")
    top.lines.append(f"    reg [{lt - 1}:0] age;")
    top.lines.append(f"    wire accept = {ports.in_valid} & ap_ready & ~{ports.reset};")
    shift = "accept" if lt == 1 else f"{{age[{lt - 2}:0], accept}}"
    top.lines.append(f"    always @(posedge {ports.clock}) age <= {ports.reset} ? {lt}'d0 : {shift};")
    top.lines.append(f"    assign ap_ready = ~{any_age(1, r - 1)};")

    # ---- the jet bank (rotating) ----
    top.comment("jet bank: loaded at acceptance, rotated by one position per cycle")
    fields = _fields(ports)
    bank: dict[Label, Val] = {}
    for f_i, (fname, port, word) in enumerate(fields):
        for p in range(n):
            v = Val(f"jb_{fname}_{p}", word.width, word.signed, word.frac)
            bank[("jet", fname, p)] = v
        for p in range(n):
            nxt = bank[("jet", fname, (p + 1) % n)].name
            top.reg(bank[("jet", fname, p)], f"accept ? {port(p)} : {nxt}", luts_per_bit=1)
        del f_i
    live_a = {}
    for n_live in sched.live_lengths:
        live_a[("live", n_live)] = top.reg(
            Val(f"live_a_{n_live}", 1, False, 0), f"accept | {any_age(1, n_live - 1)}"
        )

    # ---- pairs piece ----
    a_out = _instance(top, "pairs", pipes["pairs"], ft.pieces["pairs"].inputs, {**bank, **live_a}, core_names)
    outs = dict(zip(ft.pieces["pairs"].outputs, a_out, strict=True))

    # d delay lines to the relu piece
    top.comment(f"d of every unit: {timing.d_delay} cycles to the relu piece")
    delayed: dict[Label, Val] = {}
    for label, v in outs.items():
        if label[0] in ("d", "bd"):
            delayed[label] = _delay(top, v, "dl_" + "_".join(map(str, label)), timing.d_delay)

    # rotating exact row-sum accumulators (constituent c ends at position (c - R) mod N)
    top.comment("row sums: rotating exact accumulators, cleared on the first cycle of a jet")
    first_r = age(1 + timing.stages["pairs"])
    racc_v = val_of("", ft.accumulators[("racc",)])
    racc = [Val(f"racc_{q}", racc_v.width, racc_v.signed, racc_v.frac) for q in range(n)]
    rval = [Val(f"rval_{q}", 1, False, 0) for q in range(n)]
    for q in range(n):
        src = (q + 1) % n
        s_term = fit(outs[("S", src)], racc_v.width, racc_v.frac)
        top.reg(racc[q], f"({first_r} ? {racc_v.width}'d0 : {racc[src].name}) + {s_term}", luts_per_bit=1)
        top.reg(rval[q], f"{first_r} ? {_bit(outs[('valid', src)])} : {rval[src].name}")
    middle_src: dict[Label, Val] = {}
    for c in range(n):
        middle_src[("racc", c)] = racc[(c - r) % n]
        middle_src[("valid", c)] = rval[(c - r) % n]
    if ft.beams:
        bacc_v = val_of("", ft.accumulators[("bacc",)])
        for side in range(2):
            acc = Val(f"bacc_{side}", bacc_v.width, bacc_v.signed, bacc_v.frac)
            s_term = fit(outs[("Sb", side)], acc.width, acc.frac)
            top.reg(acc, f"({first_r} ? {acc.width}'d0 : {acc.name}) + {s_term}", luts_per_bit=1)
            middle_src[("bacc", side)] = acc

    # ---- middle piece ----
    m_out = _instance(top, "middle", pipes["middle"], ft.pieces["middle"].inputs, middle_src, core_names)
    mid = dict(zip(ft.pieces["middle"].outputs, m_out, strict=True))
    load = age(timing.t_middle_out)

    top.comment("bank of u, v, valid: loaded from the middle piece, rotated like the jet bank")
    relu_src: dict[Label, Val] = dict(delayed)
    for name in ("u", "v"):
        for h in range(ft.n_hidden):
            bv = val_of("", ft.bank[("bank", name, h)])
            regs = [Val(f"ub_{name}{h}_{p}", bv.width, bv.signed, bv.frac) for p in range(n)]
            for p in range(n):
                fresh = fit(mid[(name, h, p)], bv.width, bv.frac)
                top.reg(regs[p], f"{load} ? {fresh} : {regs[(p + 1) % n].name}", luts_per_bit=1)
                relu_src[(name, h, p)] = regs[p]
    vb = [Val(f"ub_valid_{p}", 1, False, 0) for p in range(n)]
    for p in range(n):
        top.reg(vb[p], f"{load} ? {_bit(mid[('valid', p)])} : {vb[(p + 1) % n].name}")
        relu_src[("valid", p)] = vb[p]
    if ft.beams:
        for label, v in mid.items():
            if label[0] in ("bu", "bv"):
                name = "_".join(map(str, label))
                relu_src[label] = top.reg(
                    Val(f"cap_{name}", v.width, v.signed, v.frac), f"{load} ? {v.name} : cap_{name}"
                )
    t_b = timing.t_relu
    for n_live in sched.live_lengths:
        relu_src[("live", n_live)] = top.reg(
            Val(f"live_b_{n_live}", 1, False, 0), any_age(t_b - 1, t_b + n_live - 2)
        )

    # ---- relu piece and the A accumulators ----
    b_out = _instance(top, "relu", pipes["relu"], ft.pieces["relu"].inputs, relu_src, core_names)
    rel = dict(zip(ft.pieces["relu"].outputs, b_out, strict=True))
    top.comment("ReLU sums: exact accumulators per channel")
    first_a = age(t_b + timing.stages["relu"])
    aacc_v = val_of("", ft.accumulators[("aacc",)])
    out_src: dict[Label, Val] = {}
    for h in range(ft.n_hidden):
        acc = Val(f"aacc_{h}", aacc_v.width, aacc_v.signed, aacc_v.frac)
        s_term = fit(rel[("SA", h)], acc.width, acc.frac)
        top.reg(acc, f"({first_a} ? {acc.width}'d0 : {acc.name}) + {s_term}", luts_per_bit=1)
        out_src[("aacc", h)] = acc
    top.comment(f"per-jet values of the middle piece: {timing.t_output - timing.t_middle_out} cycles")
    for label, v in mid.items():
        if label[0] in ("Abb", "D", "m"):
            name = "mid_" + "_".join(map(str, label))
            out_src[label] = _delay(top, v, name, timing.t_output - timing.t_middle_out)

    # ---- output piece ----
    o_out = _instance(top, "output", pipes["output"], ft.pieces["output"].inputs, out_src, core_names)
    score = o_out[0]
    body = "\n".join(top.lines)
    text = _module(ports, body, score, lt, pipes["output"].out_qint[0])
    return text, timing, {"reg_bits": top.reg_bits + lt, "glue_luts": top.glue_luts}


def _fields(ports: PortSpec) -> list[tuple[str, Any, Any]]:
    """(field name, port name of constituent p, port word type) in the spec's field order."""
    groups = ports.inputs
    if len(groups) == 1:  # Cartesian: jet[4k + c]
        g = groups[0]
        names = ("E", "px", "py", "pz")
        return [(nm, (lambda p, c=c, g=g: g.port(4 * p + c)), g.word) for c, nm in enumerate(names)]
    return [(g.name.removeprefix("input_"), (lambda p, g=g: g.port(p)), g.word) for g in groups]


def _bit(v: Val) -> str:
    return v.name if v.width else "1'b0"


def _delay(top: _Top, v: Val, name: str, cycles: int) -> Val:
    cur = v
    for k in range(cycles):
        cur = top.reg(Val(f"{name}_q{k}", v.width, v.signed, v.frac), cur.name)
    return cur


def _instance(
    top: _Top,
    piece: str,
    pipe: Pipeline,
    labels: list[Label],
    sources: dict[Label, Val],
    core_names: dict[str, str],
) -> list[Val]:
    """Instantiate a piece's core with its inputs fitted from ``sources``; its outputs as wires."""
    ins, outs = _pieces_io(pipe)
    conns = [".clk(ap_clk)"]
    for j, (label, want) in enumerate(zip(labels, ins, strict=True)):
        if want.width:  # one port per input (see flat_core's register_inputs)
            conns.append(f".s0_in{j}({fit(sources[label], want.width, want.frac)})")
    out_bits = sum(v.width for v in outs)
    top.comment(f"---- {piece} piece ----")
    top.lines.append(f"    wire [{max(out_bits, 1) - 1}:0] {piece}_out;")
    conns.append(f".model_out({piece}_out)")
    top.lines.append(f"    {core_names[piece]} {piece}_core (")
    top.lines.append("        " + ",\n        ".join(conns))
    top.lines.append("    );")
    result = []
    lo = 0
    for k, v in enumerate(outs):
        if v.width == 0:
            result.append(Val("", 0, False, v.frac))
            continue
        w = Val(f"{piece}_o{k}", v.width, v.signed, v.frac)
        top.wire(w, f"{piece}_out[{lo + v.width - 1}:{lo}]")
        result.append(w)
        lo += v.width
    return result


def _module(ports: PortSpec, body: str, score: Val, lt: int, out_q: QInterval) -> str:
    w_out = ports.output_type.width
    out_bits, out_shift, out_signed = output_placement(out_q, ports.output_type)
    if out_bits == 0:
        score_expr = f"{w_out}'d0"
    else:
        score_expr = ext(Val(score.name, score.width, out_signed, 0), w_out, out_shift)
    pub = " /*verilator public_flat_rw*/"
    decl = [
        f"    input  wire {ports.clock}{pub},",
        f"    input  wire {ports.reset}{pub},",
        f"    input  wire {ports.in_valid}{pub},",
        f"    output wire ap_ready{pub},",
    ]
    decl += [f"    input  wire [{w.width - 1}:0] {nm}{pub}," for nm, w in ports.input_ports()]
    decl += [
        f"    output wire [{w_out - 1}:0] {ports.out_word}{pub},",
        f"    output wire {ports.out_valid}{pub}",
    ]
    return f"""`timescale 1ns / 1ps
// {ports.top}: one jet every R cycles (ap_ready), latency {lt} cycles from acceptance; the pair
// work folded over R cycles (nanotrig.rtl.folded_verilog). Generated by nanotrig; do not edit.
// verilator lint_off UNUSEDSIGNAL
// verilator lint_off WIDTHTRUNC
// verilator lint_off WIDTHEXPAND
module {ports.top} (
{chr(10).join(decl)}
);
{body}
    assign {ports.out_valid} = age[{lt - 1}];
    assign {ports.out_word} = {score_expr};
endmodule
// verilator lint_on WIDTHEXPAND
// verilator lint_on WIDTHTRUNC
// verilator lint_on UNUSEDSIGNAL
"""
