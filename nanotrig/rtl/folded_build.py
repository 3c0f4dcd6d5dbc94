"""``nanotrig rtl --reuse-factor R`` (R > 1): the folded datapath's files and its ``rtl.json``.

Output folder: ``rtl.json``, ``README.md``, ``nanopelican.xdc``, ``verilog/`` with the ROMs, one
core per piece (``nanopelican_core_pairs.v`` ...) and the top ``nanopelican.v`` (last). Verilog
only: the II = 1 build's VHDL is da4ml's own writer, which has no folded datapath.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any

from nanotrig.canonical import CanonicalModel
from nanotrig.fixed.spec import FixedPointSpec
from nanotrig.rtl.bram import table_name
from nanotrig.rtl.flat_verilog import flat_core
from nanotrig.rtl.folded import FoldedTrace, trace_folded
from nanotrig.rtl.folded_verilog import PIECES, folded_top
from nanotrig.rtl.timing import MULT_UNITS, plan_stages, units_for_clock
from nanotrig.rtl.trace import input_groups
from nanotrig.rtl.wrapper import InputGroup, PortSpec, WordType

READY = "ap_ready"


def _plan(ft: FoldedTrace, spec: FixedPointSpec, units: int) -> tuple[dict[str, Any], dict[str, Any]]:
    from nanotrig.rtl.build import bram_tables

    named = bram_tables(spec)
    pipes, plans = {}, {}
    for name in PIECES:
        comb = ft.pieces[name].comb
        bram_ops = frozenset(
            i
            for i, op in enumerate(comb.ops)
            if op.opcode == 8 and table_name(comb.lookup_tables[op.data].float_table, named)
        )
        plans[name] = plan_stages(comb, units, bram_ops)
        pipes[name] = plans[name].pipeline
    return pipes, named


def _summary(ft: FoldedTrace, pipes: dict[str, Any], glue: dict[str, int]) -> dict[str, Any]:
    pieces = {}
    for name in PIECES:
        comb = ft.pieces[name].comb
        mult = [op for op in comb.ops if op.opcode == 7]
        cost = float(comb.cost)
        pieces[name] = {
            "stages": len(pipes[name].solutions),
            "ops": len(comb.ops),
            "products": len(mult),
            "cost_without_products": cost - float(sum(op.cost for op in mult)),
            "reg_bits": int(pipes[name].reg_bits),
        }
    lut = sum(p["cost_without_products"] for p in pieces.values()) + glue["glue_luts"]
    return {
        "cost_total": lut
        + sum(float(op.cost) for p in PIECES for op in ft.pieces[p].comb.ops if op.opcode == 7),
        "cost_without_products": lut,
        "products": sum(p["products"] for p in pieces.values()),
        "ops": sum(p["ops"] for p in pieces.values()),
        "reg_bits": sum(p["reg_bits"] for p in pieces.values()) + glue["reg_bits"],
        "mult_units": MULT_UNITS,
        # the folding registers (banks, delay lines, accumulators) and their muxes/adders, counted
        # by the generator (1 LUT-eq per bit of a 2:1 mux or an adder), next to da4ml's pieces
        "glue_luts": glue["glue_luts"],
        "glue_reg_bits": glue["reg_bits"],
        "pieces": pieces,
    }


def build_folded(
    model: CanonicalModel, spec: FixedPointSpec, out: Path, clock_mhz: float, reuse: int, key: str
) -> Any:
    from nanotrig.rtl.build import CORE, TOP, RtlBuild

    t0 = time.perf_counter()
    ft = trace_folded(model, spec, reuse)
    units = units_for_clock(clock_mhz)
    pipes, named = _plan(ft, spec, units)
    groups = input_groups(spec, model.n_constituents)
    tout = spec["result"]
    ports = PortSpec(
        top=TOP,
        core=CORE,
        inputs=tuple(InputGroup(n, c, WordType(t.width, t.frac, t.signed)) for n, c, t in groups),
        output_type=WordType(tout.width, tout.frac, tout.signed),
        latency=0,  # the folded top computes its own
    )
    out.mkdir(parents=True, exist_ok=True)
    vdir = out / "verilog"
    if vdir.exists():
        shutil.rmtree(vdir)
    vdir.mkdir(parents=True)
    for stale in ("vhdl", "stages"):
        if (out / stale).exists():
            shutil.rmtree(out / stale)
    core_names = {name: f"{CORE}_{name}" for name in PIECES}
    roms: dict[str, str] = {}
    cores = []
    for name in PIECES:
        text, rom_list = flat_core(pipes[name], core_names[name], named, register_inputs=False)
        for rom in rom_list:
            roms[re.search(r"module\s+(\w+)", rom).group(1)] = rom
        path = vdir / f"{core_names[name]}.v"
        path.write_text(text)
        cores.append(path)
    top_text, timing, glue = folded_top(ft, pipes, ports, core_names)
    files = []
    if roms:
        files.append(vdir / f"{CORE}_roms.v")
        files[-1].write_text("`timescale 1ns / 1ps\n\n" + "\n".join(roms.values()))
    files += cores
    files.append(vdir / f"{TOP}.v")
    files[-1].write_text(top_text)
    (out / f"{TOP}.xdc").write_text(
        f"create_clock -period {1000.0 / clock_mhz:.3f} -name {ports.clock} [get_ports {ports.clock}]\n"
    )
    sched = ft.schedule
    fold = {
        "reuse_factor": reuse,
        "pair_units": len(sched.pairs),
        "beam_units": len(sched.beams) if model.beams else 0,
        "pairs": sched.n_pairs,
        "idle_unit_cycles": len(sched.pairs) * reuse - sched.n_pairs,
        "live_lengths": list(sched.live_lengths),
        "timeline": timing.to_dict(),
        "ready_port": READY,
    }
    build = RtlBuild(
        out_dir=str(out),
        key=key,
        model=model.name or "model",
        n_constituents=model.n_constituents,
        n_hidden=model.n_hidden,
        clock_mhz=float(clock_mhz),
        units_per_stage=units,
        stages=sum(timing.stages.values()),
        latency_cycles=timing.latency,
        ii=reuse,
        top=TOP,
        n_inputs=sum(c for _, c, _ in groups),
        input_type=str(groups[0][2]),
        result_type=str(tout),
        da4ml=_summary(ft, pipes, glue),
        files={"verilog": [str(p.relative_to(out)) for p in files]},
        precision=spec.precision_dict(),
        seconds=time.perf_counter() - t0,
        inputs=spec.inputs,
        input_groups=[{"name": n, "count": c, "type": str(t)} for n, c, t in groups],
        implementation=dict(spec.implementation),
        ports={
            "clock": ports.clock,
            "reset": ports.reset,
            "in_valid": ports.in_valid,
            "in_ready": READY,
            "in_word": ports.in_word,
            "out_word": ports.out_word,
            "out_valid": ports.out_valid,
        },
        fold=fold,
    )
    (out / "README.md").write_text(_readme(build))
    return build


def _readme(b: Any) -> str:
    from nanotrig.rtl.build import _input_rows

    _, w_out = b.word_types()
    f, t = b.fold, b.fold["timeline"]
    ready = (
        "the jet offered this cycle is taken (`jet_ap_vld & ap_ready & !ap_rst`); low for the "
        f"{b.ii - 1} cycles after each accepted jet: hold the jet (valid and words) until it is taken"
    )
    return f"""# {b.top}: nanoPELICAN RTL for model `{b.model}`, one jet every {b.ii} cycles

Generated by `nanotrig rtl --reuse-factor {b.ii}` from the bit-accurate kernel
(`nanotrig.fixed.kernel`), traced in four pieces through da4ml (`nanotrig.rtl.folded`).
N = {b.n_constituents} constituents (+ 2 beams), C = {b.n_hidden}, II = {b.ii}: the
{f["pairs"]} constituent pairs are computed by {f["pair_units"]} pair units over {b.ii} cycles
(a rotating register bank feeds them, `nanotrig.rtl.schedule`). Latency {b.latency_cycles} cycles
= {b.latency_ns:.1f} ns at {b.clock_mhz:g} MHz from the cycle a jet is accepted (pieces:
{", ".join(f"{k} {v}" for k, v in t["stages"].items())} stages of <= {b.units_per_stage} adder delays).

Ports (`verilog/{b.top}.v`; Verilog only):

| port | dir | meaning |
|---|---|---|
| `ap_clk` | in | clock |
| `ap_rst` | in | synchronous reset, active high (drops the jets in flight) |
| `jet_ap_vld` | in | a jet is offered this cycle |
| `ap_ready` | out | {ready} |
{_input_rows(b)}
| `score_0` | out | `{w_out}` raw bits |
| `score_0_ap_vld` | out | high exactly {b.latency_cycles} cycles after the jet was accepted |

A source that offers a jet every {b.ii} cycles (or fewer) never sees `ap_ready` low.
"""
