"""The top-level module users instantiate: HLS port names around the da4ml pipeline.

Ports (Verilog names; VHDL uses the same):

    ap_clk                 clock
    ap_rst                 synchronous reset, active high: clears the valid pipeline only
    jet_ap_vld             input words valid (one jet per cycle, II = 1)
    jet_0 .. jet_{K-1}     Cartesian input words, ``input_t`` raw bits (two's complement), or
    input_pt_0 .. input_pt_{N-1}, input_eta_0 .., input_phi_0 ..   the PUPPI words
    score_0                output word, ``result_t`` raw bits
    score_0_ap_vld         high exactly ``latency`` cycles after ``jet_ap_vld``

The datapath carries no reset (as HLS pipelines do): only the valid bits are cleared, so a
reset drops the jets in flight and no stale score is ever flagged valid.

The da4ml core takes each input in its minimal width and gives the output in its minimal
width; the wrapper slices the port words and sign-/zero-extends the result back to
``result_t`` so the port widths do not depend on range analysis.
"""

from __future__ import annotations

from dataclasses import dataclass

from da4ml.types import QInterval, minimal_kif


@dataclass(frozen=True)
class WordType:
    """A port word: ``width`` bits, ``frac`` of them fractional, signed or not."""

    width: int
    frac: int
    signed: bool = True


@dataclass(frozen=True)
class InputGroup:
    """One input array of the top function: ports ``<name>_0 .. <name>_{count-1}``."""

    name: str
    count: int
    word: WordType

    def port(self, i: int) -> str:
        return f"{self.name}_{i}"


@dataclass(frozen=True)
class PortSpec:
    top: str
    core: str
    inputs: tuple[InputGroup, ...]
    output_type: WordType
    latency: int  # register levels in the core = cycles from valid in to valid out
    in_valid: str = "jet_ap_vld"
    out_word: str = "score_0"
    out_valid: str = "score_0_ap_vld"
    clock: str = "ap_clk"
    reset: str = "ap_rst"

    @property
    def n_inputs(self) -> int:
        return sum(g.count for g in self.inputs)

    @property
    def in_word(self) -> str:
        """The first input group's port name pattern (``{i}`` = word index)."""
        return self.inputs[0].name + "_{i}"

    def input_ports(self) -> list[tuple[str, WordType]]:
        """(port name, word type) of every input word, in the core's input order."""
        return [(g.port(i), g.word) for g in self.inputs for i in range(g.count)]


def _field(qint: QInterval) -> tuple[int, int, bool]:
    """(bits, fractional bits, signed) of a core port from its interval."""
    k, i, f = minimal_kif(qint)
    return int(k) + int(i) + int(f), int(f), bool(k)


def input_slices(qints: list[QInterval], words: list[WordType]) -> list[tuple[int, int]]:
    """(msb, lsb) of each core input inside its port word; (-1, 0) for an unused (constant) input."""
    out = []
    for n, (q, word) in enumerate(zip(qints, words, strict=True)):
        bits, frac, _ = _field(q)
        if bits == 0:
            out.append((-1, 0))
            continue
        lsb = word.frac - frac
        if lsb < 0 or lsb + bits > word.width:
            raise ValueError(
                f"core input {n} needs {bits} bits with {frac} fractional, which do not fit the port word "
                f"({word.width} bits, {word.frac} fractional)"
            )
        out.append((lsb + bits - 1, lsb))
    return out


def output_placement(qint: QInterval, word: WordType) -> tuple[int, int, bool]:
    """(core bits, left shift into the port word, sign-extend) for the score."""
    bits, frac, signed = _field(qint)
    shift = word.frac - frac
    if bits and (shift < 0 or bits + shift > word.width):
        raise ValueError(
            f"core output ({bits} bits, {frac} fractional) does not fit result word "
            f"({word.width} bits, {word.frac} fractional)"
        )
    return bits, shift, signed


def verilog_wrapper(ports: PortSpec, inp_qints: list[QInterval], out_qint: QInterval) -> str:
    w_out, lat = ports.output_type.width, ports.latency
    in_ports = ports.input_ports()
    names, words = [n for n, _ in in_ports], [w for _, w in in_ports]
    slices = input_slices(inp_qints, words)
    out_bits, out_shift, out_signed = output_placement(out_qint, ports.output_type)

    # Only the ports are visible to simulators' VPI (cocotb): marking them here lets Verilator
    # skip making the ~10^5 internal signals public, which dominates its build time.
    pub = " /*verilator public_flat_rw*/"
    decl = [
        f"    input  wire {ports.clock}{pub},",
        f"    input  wire {ports.reset}{pub},",
        f"    input  wire {ports.in_valid}{pub},",
    ]
    decl += [f"    input  wire [{w.width - 1}:0] {n}{pub}," for n, w in in_ports]
    decl += [
        f"    output wire [{w_out - 1}:0] {ports.out_word}{pub},",
        f"    output wire {ports.out_valid}{pub}",
    ]

    used = [(n, s) for n, s in zip(names, slices, strict=True) if s[0] >= 0]
    # da4ml packs input 0 in the least significant bits
    packed = ", ".join(f"{n}[{msb}:{lsb}]" for n, (msb, lsb) in reversed(used))
    core_in_bits = sum(msb - lsb + 1 for _, (msb, lsb) in used)

    if out_bits == 0:
        score = f"{w_out}'d0"
    else:
        parts = []
        pad = w_out - out_bits - out_shift
        if pad > 0:
            fill = f"core_out[{out_bits - 1}]" if out_signed else "1'b0"
            parts.append(f"{{{pad}{{{fill}}}}}")
        parts.append("core_out")
        if out_shift > 0:
            parts.append(f"{out_shift}'d0")
        score = "{" + ", ".join(parts) + "}"

    if lat == 1:
        shift_in = ports.in_valid
    else:
        shift_in = f"{{vld_pipe[{lat - 2}:0], {ports.in_valid}}}"

    unused = [n for n, s in zip(names, slices, strict=True) if s[0] < 0]
    lint = ""
    if unused or any(s[0] - s[1] + 1 < w.width for s, w in zip(slices, words, strict=True) if s[0] >= 0):
        lint = "    // verilator lint_off UNUSEDSIGNAL\n"

    return f"""`timescale 1ns / 1ps
// {ports.top}: streaming wrapper (II = 1, latency {lat} cycles) around the da4ml pipeline {ports.core}.
// Generated by nanotrig; do not edit.
{lint}module {ports.top} (
{chr(10).join(decl)}
);
    wire [{core_in_bits - 1}:0] core_in = {{{packed}}};
    wire [{max(out_bits, 1) - 1}:0] core_out;

    {ports.core} core (
        .clk({ports.clock}),
        .model_inp(core_in),
        .model_out(core_out)
    );

    // One valid flop per pipeline register level; reset clears the jets in flight.
    reg [{lat - 1}:0] vld_pipe;
    always @(posedge {ports.clock}) begin
        if ({ports.reset})
            vld_pipe <= {lat}'d0;
        else
            vld_pipe <= {shift_in};
    end

    assign {ports.out_valid} = vld_pipe[{lat - 1}];
    assign {ports.out_word} = {score};
endmodule
"""


def vhdl_wrapper(ports: PortSpec, inp_qints: list[QInterval], out_qint: QInterval) -> str:
    w_out, lat = ports.output_type.width, ports.latency
    in_ports = ports.input_ports()
    names, words = [n for n, _ in in_ports], [w for _, w in in_ports]
    slices = input_slices(inp_qints, words)
    out_bits, out_shift, out_signed = output_placement(out_qint, ports.output_type)
    used = [(n, s) for n, s in zip(names, slices, strict=True) if s[0] >= 0]
    core_in_bits = sum(msb - lsb + 1 for _, (msb, lsb) in used)

    decl = [
        f"        {ports.clock} : in std_logic;",
        f"        {ports.reset} : in std_logic;",
        f"        {ports.in_valid} : in std_logic;",
    ]
    decl += [f"        {n} : in std_logic_vector({w.width - 1} downto 0);" for n, w in in_ports]
    decl += [
        f"        {ports.out_word} : out std_logic_vector({w_out - 1} downto 0);",
        f"        {ports.out_valid} : out std_logic",
    ]
    packed = " & ".join(f"{n}({msb} downto {lsb})" for n, (msb, lsb) in reversed(used))

    if out_bits == 0:
        score = "(others => '0')"
    else:
        parts = []
        pad = w_out - out_bits - out_shift
        if pad > 0:
            fill = f"core_out({out_bits - 1})" if out_signed else "'0'"
            parts.append(f"({pad - 1} downto 0 => {fill})")
        parts.append("core_out")
        if out_shift > 0:
            parts.append(f'"{"0" * out_shift}"')
        score = " & ".join(parts) if len(parts) > 1 else parts[0]
        # VHDL cannot concatenate an aggregate of open range; spell padding as a signal
    pad_decl, pad_assign = "", ""
    if out_bits and w_out - out_bits - out_shift > 0:
        pad = w_out - out_bits - out_shift
        fill = f"core_out({out_bits - 1})" if out_signed else "'0'"
        pad_decl = f"    signal score_pad : std_logic_vector({pad - 1} downto 0);\n"
        pad_assign = f"    score_pad <= (others => {fill});\n"
        score = score.replace(f"({pad - 1} downto 0 => {fill})", "score_pad")
    shift_in = ports.in_valid if lat == 1 else f"vld_pipe({lat - 2} downto 0) & {ports.in_valid}"
    vld_assign = f"vld_pipe(0) <= {ports.in_valid};" if lat == 1 else f"vld_pipe <= {shift_in};"

    return f"""-- {ports.top}: streaming wrapper (II = 1, latency {lat} cycles) around the da4ml pipeline
-- {ports.core}.
-- Generated by nanotrig; do not edit.
library ieee;
use ieee.std_logic_1164.all;

entity {ports.top} is
    port (
{chr(10).join(decl)}
    );
end entity {ports.top};

architecture rtl of {ports.top} is
    signal core_in : std_logic_vector({core_in_bits - 1} downto 0);
    signal core_out : std_logic_vector({max(out_bits, 1) - 1} downto 0);
    signal vld_pipe : std_logic_vector({lat - 1} downto 0) := (others => '0');
{pad_decl}begin
    core_in <= {packed};

    core : entity work.{ports.core}
        port map (
            clk => {ports.clock},
            model_inp => core_in,
            model_out => core_out
        );

    -- One valid flop per pipeline register level; reset clears the jets in flight.
    valid_pipe : process ({ports.clock})
    begin
        if rising_edge({ports.clock}) then
            if {ports.reset} = '1' then
                vld_pipe <= (others => '0');
            else
                {vld_assign}
            end if;
        end if;
    end process;

{pad_assign}    {ports.out_valid} <= vld_pipe({lat - 1});
    {ports.out_word} <= {score};
end architecture rtl;
"""
