"""Front-end ROMs in block RAM: which da4ml lookups they are, and their Verilog.

A lookup of a table the spec puts in BRAM (``FixedPointSpec.implementation``) is a synchronous
read: its address is computed in one pipeline stage and the BRAM's output latch is that stage's
output register (``timing.retime`` makes such a lookup end exactly at a stage boundary). Two
lookups of the same stage whose tables fit one RAMB18 together (1024 x 18: the cosh - 1 and
1 - cos tables of one constituent pair, 512 entries each) share one dual-port memory, so a pair
costs one BRAM18. Yosys ``synth_xilinx`` maps these memories to RAMB18E2 / RAMB36E2.

Lookups are recognised by their table contents: each front-end table is monotonic, so a da4ml
table that is a contiguous slice of one (da4ml keeps only the entries its index can reach) is
that table.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from da4ml.types import QInterval, minimal_kif

# tables read together that one memory serves (port A, port B)
PARTNERS = {"cosh_m1": "one_m_cos", "exp_minus": "exp_plus"}
BRAM18_WORDS, BRAM18_BITS = 1024, 18


def table_name(values: np.ndarray, named: dict[str, np.ndarray]) -> str | None:
    """The name of the front-end table whose contiguous slice ``values`` is (None: not one)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return None
    for name, table in named.items():
        # da4ml orders a table by its index variable's value: the |d eta| index, made by negating
        # a negative difference, reaches it in reverse order (the words follow da4ml's order)
        for full in (table, table[::-1]):
            hits = np.flatnonzero(full == values[0])
            for off in hits:
                if off + values.size <= full.size and np.array_equal(full[off : off + values.size], values):
                    return name
    return None


@dataclass
class BramRead:
    """One synchronous read: table, its contents in address order (raw words), address signal."""

    table: str
    words: list[int]  # memory word per address (0 where the index never goes)
    addr: str
    addr_bits: int
    width: int


def read_for(table: str, padded: np.ndarray, addr: str, addr_bits: int, width: int) -> BramRead:
    raw = np.nan_to_num(np.asarray(padded, dtype=np.float64), nan=0.0).astype(np.int64)
    mask = (1 << width) - 1
    return BramRead(table, [int(x) & mask for x in raw], addr, addr_bits, width)


def _module(name: str, words: list[int], addr_bits: int, width: int, ports: int) -> str:
    init = "\n".join(f"        mem[{a}] = {width}'h{w:x};" for a, w in enumerate(words) if w)
    port_decl = ",\n".join(
        f"    input [{addr_bits - 1}:0] addr_{p},\n    output reg [{width - 1}:0] q_{p}" for p in "ab"[:ports]
    )
    reads = "\n".join(f"        q_{p} <= mem[addr_{p}];" for p in "ab"[:ports])
    return f"""// front-end ROM in block RAM: synchronous read, the output latch is the pipeline register
module {name} (
    input clk,
{port_decl}
);
    (* rom_style = "block" *) reg [{width - 1}:0] mem [0:{len(words) - 1}];
    integer k;
    initial begin
        for (k = 0; k < {len(words)}; k = k + 1)
            mem[k] = {width}'d0;
{init}
    end
    always @(posedge clk) begin
{reads}
    end
endmodule
"""


class BramWriter:
    """Collects a stage's reads and writes the memory instances feeding the next stage's input
    registers; memory modules with the same contents are written once."""

    def __init__(self, core: str) -> None:
        self.core = core
        self.modules: dict[str, str] = {}

    def _module_name(self, words: list[int], addr_bits: int, width: int, ports: int) -> str:
        digest = hashlib.sha1(repr((words, addr_bits, width, ports)).encode()).hexdigest()[:8]
        name = f"{self.core}_bram_{digest}"
        if name not in self.modules:
            self.modules[name] = _module(name, words, addr_bits, width, ports)
        return name

    def instances(self, reads: list[tuple[BramRead, str, int]], stage: int) -> list[str]:
        """Verilog for ``reads``: (read, destination register name, its width), one stage."""
        lines: list[str] = []
        by_table: dict[str, list[tuple[BramRead, str, int]]] = {}
        for r in reads:
            by_table.setdefault(r[0].table, []).append(r)
        done: set[int] = set()
        for a_table, b_table in PARTNERS.items():
            for ra, rb in zip(by_table.get(a_table, []), by_table.get(b_table, []), strict=False):
                if ra[0].addr_bits != rb[0].addr_bits:
                    continue
                if 2 << ra[0].addr_bits > BRAM18_WORDS or max(ra[0].width, rb[0].width) > BRAM18_BITS:
                    continue
                lines += self._pair(ra, rb, stage, len(lines))
                done |= {id(ra), id(rb)}
        # what is left: two reads of the same contents share the two ports of one memory
        # (the cosh - 1 tables of two constituent pairs)
        left = [r for r in reads if id(r) not in done]
        while left:
            r = left.pop(0)
            twin = next(
                (q for q in left if q[0].words == r[0].words and q[0].addr_bits == r[0].addr_bits), None
            )
            if twin is not None and max(r[0].width, 1) <= BRAM18_BITS and len(r[0].words) <= BRAM18_WORDS:
                left.remove(twin)
                lines += self._shared(r, twin, stage, len(lines))
            else:
                lines += self._single(r, stage, len(lines))
        return lines

    def _shared(
        self, ra: tuple[BramRead, str, int], rb: tuple[BramRead, str, int], stage: int, k: int
    ) -> list[str]:
        a = ra[0]
        mod = self._module_name(a.words, a.addr_bits, a.width, 2)
        qa, qb = f"s{stage}_bram{k}_qa", f"s{stage}_bram{k}_qb"
        return [
            f"wire [{a.width - 1}:0] {qa}, {qb};",
            f"{mod} s{stage}_bram{k} (.clk(clk), .addr_a({a.addr}), .q_a({qa}), "
            f".addr_b({rb[0].addr}), .q_b({qb}));",
            f"wire [{ra[2] - 1}:0] {ra[1]} = {qa}[{ra[2] - 1}:0];",
            f"wire [{rb[2] - 1}:0] {rb[1]} = {qb}[{rb[2] - 1}:0];",
        ]

    def _single(self, r: tuple[BramRead, str, int], stage: int, k: int) -> list[str]:
        read, dest, w = r
        mod = self._module_name(read.words, read.addr_bits, read.width, 1)
        return [
            f"wire [{w - 1}:0] {dest};",
            f"{mod} s{stage}_bram{k} (.clk(clk), .addr_a({read.addr}), .q_a({dest}));",
        ]

    def _pair(
        self, ra: tuple[BramRead, str, int], rb: tuple[BramRead, str, int], stage: int, k: int
    ) -> list[str]:
        a, b = ra[0], rb[0]
        width = max(a.width, b.width)
        words = a.words + b.words  # table A in the lower half, table B in the upper half
        mod = self._module_name(words, a.addr_bits + 1, width, 2)
        qa, qb = f"s{stage}_bram{k}_qa", f"s{stage}_bram{k}_qb"
        return [
            f"wire [{width - 1}:0] {qa}, {qb};",
            f"{mod} s{stage}_bram{k} (.clk(clk), .addr_a({{1'b0, {a.addr}}}), .q_a({qa}), "
            f".addr_b({{1'b1, {b.addr}}}), .q_b({qb}));",
            f"wire [{ra[2] - 1}:0] {ra[1]} = {qa}[{ra[2] - 1}:0];",
            f"wire [{rb[2] - 1}:0] {rb[1]} = {qb}[{rb[2] - 1}:0];",
        ]


def qint_bits(q: QInterval) -> int:
    return int(sum(minimal_kif(q)))
