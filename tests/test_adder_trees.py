"""The ternary adder the RTL's sums are built from: its primitive netlist (what Vivado and Yosys
synthesise) computes the same sum as the expression the simulators run, and it costs one LUT
per bit where two ordinary adders cost two."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from nanotrig.report.yosys import run_yosys
from nanotrig.rtl.adder_trees import add3_module

NEGS = [n for n in range(8) if bin(n).count("1") <= 2]
WIDTHS = (1, 3, 8, 9, 17)


def _yosys_cells_sim() -> Path | None:
    exe = shutil.which("yosys")
    if exe is None:
        return None
    path = Path(exe).resolve().parent.parent / "share" / "yosys" / "xilinx" / "cells_sim.v"
    return path if path.exists() else None


def _top(widths: tuple[int, ...]) -> str:
    lines, ports = [], []
    for w in widths:
        ports += [f"input [{w - 1}:0] a{w}, b{w}, c{w}"]
        for n in NEGS:
            ports.append(f"output [{w - 1}:0] o{w}_{n}")
            lines.append(f"  t_add3 #(.W({w}), .NEG(3'b{n:03b})) u{w}_{n} (a{w}, b{w}, c{w}, o{w}_{n});")
    return "module top(" + ", ".join(ports) + ");\n" + "\n".join(lines) + "\nendmodule\n"


def _bench(widths: tuple[int, ...], vectors: int) -> str:
    regs = "\n".join(f"  reg [{w - 1}:0] a{w}, b{w}, c{w};" for w in WIDTHS)
    wires = "\n".join(f"  wire [{w - 1}:0] o{w}_{n};" for w in widths for n in NEGS)
    conns = ", ".join(
        [f".a{w}(a{w}), .b{w}(b{w}), .c{w}(c{w})" for w in widths]
        + [f".o{w}_{n}(o{w}_{n})" for w in widths for n in NEGS]
    )
    checks = []
    for w in widths:
        for n in NEGS:
            terms = [("-" if (n >> k) & 1 else "+") + f"{x}{w}" for k, x in enumerate("abc")]
            checks.append(f"      want = {''.join(terms)}; if (o{w}_{n} !== want[{w - 1}:0]) bad = bad + 1;")
            checks.append("      checked = checked + 1;")
    draws = "\n".join(f"      a{w} = $random; b{w} = $random; c{w} = $random;" for w in widths)
    corners = "\n".join(
        f"      if (k < 8) begin a{w} = k[0] ? ~0 : 0; b{w} = k[1] ? ~0 : 0; c{w} = k[2] ? ~0 : 0; end"
        for w in widths
    )
    return f"""module tb;
{regs}
{wires}
  reg [31:0] want; integer k, bad, checked;
  top dut({conns});
  initial begin
    bad = 0; checked = 0;
    for (k = 0; k < {vectors}; k = k + 1) begin
{draws}
{corners}
      #1;
{chr(10).join(checks)}
    end
    $display("checked=%0d bad=%0d", checked, bad);
    $finish;
  end
endmodule
"""


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="needs Icarus Verilog")
def test_ternary_adder_netlist_is_the_sum(tmp_path: Path) -> None:
    cells = _yosys_cells_sim()
    if cells is None:
        pytest.skip("needs Yosys's Xilinx cell models (LUT6_2, CARRY8)")
    random.seed(0)
    (tmp_path / "add3.v").write_text(add3_module("t_add3"))
    (tmp_path / "top.v").write_text(_top(WIDTHS))
    (tmp_path / "tb.v").write_text(_bench(WIDTHS, 3000))
    for define in ("-DSYNTHESIS", "-DNOT_SYNTHESIS"):  # the LUT6_2 / CARRY8 netlist, then the expression
        sim = tmp_path / f"sim{define}"
        subprocess.run(
            ["iverilog", "-g2012", define, "-o", str(sim), "add3.v", "top.v", "tb.v", str(cells)],
            cwd=tmp_path,
            check=True,
            capture_output=True,
        )
        run = subprocess.run(["vvp", str(sim)], cwd=tmp_path, check=True, capture_output=True, text=True)
        out = run.stdout
        assert f"checked={3000 * len(WIDTHS) * len(NEGS)} bad=0" in out, (define, out)


@pytest.mark.skipif(shutil.which("yosys") is None, reason="needs Yosys")
def test_ternary_adder_costs_one_lut_per_bit(tmp_path: Path) -> None:
    (tmp_path / "add3.v").write_text(add3_module("t_add3"))
    (tmp_path / "ternary.v").write_text(
        "module ternary(input [12:0] a, b, c, output [12:0] o);\n"
        "  t_add3 #(.W(13), .NEG(3'b100)) u (a, b, c, o);\nendmodule\n"
    )
    (tmp_path / "binary.v").write_text(
        "module binary(input [12:0] a, b, c, output [12:0] o);\n  assign o = a + b - c;\nendmodule\n"
    )
    ternary = run_yosys([tmp_path / "add3.v", tmp_path / "ternary.v"], "ternary", tmp_path / "t")
    binary = run_yosys([tmp_path / "binary.v"], "binary", tmp_path / "b")
    assert (ternary.lut, ternary.carry) == (13, 2)  # 13 LUT6_2, two CARRY8
    assert binary.lut >= 2 * 13 - 2  # a LUT per bit of each adder (the top bits may merge)
