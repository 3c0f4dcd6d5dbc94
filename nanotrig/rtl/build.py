"""``nanotrig rtl``: model + FixedPointSpec -> pipelined Verilog/VHDL with the HLS port names.

Output folder layout::

    rtl.json          latency, stages, clock, ports, types, da4ml cost, the cache key
    README.md         what the files are and how to use them
    nanopelican.xdc   the clock constraint
    verilog/          da4ml primitives, nanopelican_core_stage*.v, nanopelican_core.v, nanopelican.v
    vhdl/             the same in VHDL (da4ml writes both)

A folder whose ``rtl.json`` carries the same key (model, spec, clock, generator version) is
reused as is.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nanotrig.canonical import CanonicalModel
from nanotrig.errors import NanotrigError
from nanotrig.fixed.hwmodel import hardware_coefficients
from nanotrig.fixed.kernel import FRONT_END_TABLES
from nanotrig.fixed.spec import FixedPointSpec, table_storage
from nanotrig.fixed.tables import quantize_tables, tables_for
from nanotrig.fixed.types import FixedType
from nanotrig.rtl.bram import table_name
from nanotrig.rtl.emit import write_hdl
from nanotrig.rtl.timing import MULT_UNITS, plan_stages, units_for_clock
from nanotrig.rtl.trace import trace_kernel
from nanotrig.rtl.wrapper import InputGroup, PortSpec, WordType

GENERATOR_VERSION = 10  # bump when the generated RTL changes for the same inputs (10: adds sink)
FOLD_GENERATOR_VERSION = 6  # the same for the II = R datapath (nanotrig.rtl.folded_verilog; 6: adds sink)
TOP = "nanopelican"
CORE = "nanopelican_core"


@dataclass
class RtlBuild:
    out_dir: str
    key: str
    model: str
    n_constituents: int
    n_hidden: int
    clock_mhz: float
    units_per_stage: int
    stages: int
    latency_cycles: int
    ii: int
    top: str
    n_inputs: int
    input_type: str  # the first input group's word type
    result_type: str
    da4ml: dict[str, Any]
    files: dict[str, list[str]]
    precision: dict[str, str]
    seconds: float = 0.0
    ports: dict[str, str] = field(default_factory=dict)
    inputs: str = "cartesian"
    # [{"name": "jet", "count": 4N, "type": "ap_fixed<...>"}] or the three PUPPI arrays
    input_groups: list[dict[str, Any]] = field(default_factory=list)
    implementation: dict[str, str] = field(default_factory=dict)
    # II = R > 1 (``nanotrig.rtl.folded_verilog``): schedule, pieces, timeline; empty for II = 1
    fold: dict[str, Any] = field(default_factory=dict)

    @property
    def reuse_factor(self) -> int:
        return self.ii

    @property
    def period_ns(self) -> float:
        return 1000.0 / self.clock_mhz

    @property
    def latency_ns(self) -> float:
        return self.latency_cycles * self.period_ns

    @property
    def verilog_sources(self) -> list[Path]:
        return [Path(self.out_dir) / f for f in self.files["verilog"]]

    @property
    def vhdl_sources(self) -> list[Path]:
        return [Path(self.out_dir) / f for f in self.files.get("vhdl", [])]

    @property
    def verilog_dir(self) -> Path:
        return Path(self.out_dir) / "verilog"

    def word_types(self) -> tuple[FixedType, FixedType]:
        return FixedType.parse(self.input_type), FixedType.parse(self.result_type)

    def groups(self) -> list[tuple[str, int, FixedType]]:
        """(port name, words, word type) of every input array, in port order."""
        return [(g["name"], int(g["count"]), FixedType.parse(g["type"])) for g in self.input_groups]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(period_ns=self.period_ns, latency_ns=self.latency_ns)
        return d

    @classmethod
    def load(cls, path: Path) -> RtlBuild:
        d = json.loads(path.read_text())
        d.pop("period_ns", None)
        d.pop("latency_ns", None)
        return cls(**d)


def write_stage_verilog(
    traced: Any, plan: Any, units: int, ports: PortSpec, out: Path, named: dict[str, np.ndarray]
) -> list[Path]:
    """``out/stages``: the same RTL with the core cut into one module per kernel stage group."""
    from nanotrig.rtl.emit import write_verilog
    from nanotrig.rtl.stages import pipeline_stages
    from nanotrig.rtl.timing import retime

    if traced.op_stages is None:
        raise NanotrigError("the trace could not attribute operations to kernel stages")
    timed = retime(traced.comb, units, plan.bram_ops)
    labels = pipeline_stages(timed, traced.op_stages, plan.pipeline, float(units))
    return write_verilog(plan.pipeline, ports, out, named, labels, folder="stages")


def bram_tables(spec: FixedPointSpec) -> dict[str, np.ndarray]:
    """Front-end tables the spec puts in block RAM: name -> the values the firmware holds."""
    named = {}
    raw = quantize_tables(tables_for(spec.inputs), spec.types)
    for name, (_, value_stage, _) in FRONT_END_TABLES.items():
        if name in raw and table_storage(spec.implementation, name) == "bram":
            named[name] = raw[name].astype(np.float64) * spec[value_stage].lsb
    return named


def build_key(
    model: CanonicalModel, spec: FixedPointSpec, clock_mhz: float, vhdl: bool, reuse_factor: int = 1
) -> str:
    what = {
        "model": model.to_dict(),
        "inputs": spec.inputs,
        # ROM choices exist only for PUPPI inputs: a Cartesian build does not depend on them
        "implementation": spec.implementation if spec.inputs == "puppi" else None,
        "precision": spec.precision_dict(),
        "clock_mhz": clock_mhz,
        "vhdl": vhdl,
        "generator": GENERATOR_VERSION,
        # the integers the ROMs and constant multipliers hold: a change in how they are derived
        # (e.g. the truncation offsets) must not reuse RTL built with the old ones
        "coefficients": {k: v.tolist() for k, v in sorted(hardware_coefficients(model, spec.types).items())},
    }
    if spec.index_bits:  # per-index integer bits change the RTL, not the type strings
        what["index_bits"] = {k: v.tolist() for k, v in sorted(spec.index_bits.items())}
    if reuse_factor != 1:  # II = 1 keys stay what they were
        what.update(reuse_factor=reuse_factor, fold_generator=FOLD_GENERATOR_VERSION)
    blob = json.dumps(what, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def check_reuse_factor(reuse_factor: int) -> int:
    from nanotrig.rtl.schedule import MAX_REUSE

    if not isinstance(reuse_factor, int) or not 1 <= reuse_factor <= MAX_REUSE:
        raise NanotrigError(
            f"--reuse-factor {reuse_factor!r}: the RTL takes 1 .. {MAX_REUSE} (II = R; 9 cycles is one "
            "bunch crossing, 25 ns, at 360 MHz)"
        )
    return reuse_factor


def _da4ml_summary(comb: Any, pipe: Any) -> dict[str, Any]:
    mult = [op for op in comb.ops if op.opcode == 7]
    cost = float(comb.cost)
    mult_cost = float(sum(op.cost for op in mult))
    return {
        # da4ml's own LUT estimate; it prices products as shift-add arrays, which here are DSPs
        "cost_total": cost,
        "cost_without_products": cost - mult_cost,
        "products": len(mult),
        "ops": len(comb.ops),
        "reg_bits": int(pipe.reg_bits),
        "mult_units": MULT_UNITS,
    }


def _input_rows(b: RtlBuild) -> str:
    what = {
        "jet": "constituent k = i // 4, component i % 4 (E, px, py, pz)",
        "input_pt": "pT of constituent i (leading pT first; 0 = absent)",
        "input_eta": "eta of constituent i in steps of pi/720",
        "input_phi": "phi of constituent i in steps of pi/720, in (-720, 720]",
    }
    return "\n".join(
        f"| `{name}_0 .. {name}_{count - 1}` | in | `{t}` raw bits: {what.get(name, name)} |"
        for name, count, t in b.groups()
    )


def _readme(b: RtlBuild) -> str:
    _, w_out = b.word_types()
    return f"""# {b.top}: nanoPELICAN RTL for model `{b.model}`

Generated by `nanotrig rtl` with da4ml from the bit-accurate kernel (`nanotrig.fixed.kernel`).
N = {b.n_constituents} constituents (+ 2 beams), C = {b.n_hidden}, II = {b.ii},
latency {b.latency_cycles} cycles = {b.latency_ns:.1f} ns at {b.clock_mhz:g} MHz
({b.stages} combinational stages of <= {b.units_per_stage} adder delays, plus the input register).

Ports (`verilog/{b.top}.v`, `vhdl/{b.top}.vhd`):

| port | dir | meaning |
|---|---|---|
| `ap_clk` | in | clock |
| `ap_rst` | in | synchronous reset, active high (clears the valid pipeline) |
| `jet_ap_vld` | in | the jet words are valid this cycle (one jet per cycle) |
{_input_rows(b)}
| `score_0` | out | `{w_out}` raw bits |
| `score_0_ap_vld` | out | high exactly {b.latency_cycles} cycles after `jet_ap_vld` |

Sources in dependency order are listed in `rtl.json` (`files`). Table ROMs (`*.mem`) are read
with `$readmemh` relative to the working directory: run simulators and synthesis inside
`verilog/` (or `vhdl/`), or add the `.mem` files to the Vivado project.
"""


def build_rtl(
    model: CanonicalModel,
    spec: FixedPointSpec,
    out_dir: str | Path,
    clock_mhz: float = 200.0,
    vhdl: bool = True,
    force: bool = False,
    by_stage: bool = False,
    reuse_factor: int = 1,
) -> RtlBuild:
    """The RTL of one model and spec at ``clock_mhz``: fully pipelined (II = 1), or with the pair
    work folded over ``reuse_factor`` = R cycles (II = R, one jet every R cycles, ``ap_ready``)."""
    out = Path(out_dir)
    if clock_mhz <= 0:
        raise NanotrigError(f"clock must be positive, got {clock_mhz} MHz")
    check_reuse_factor(reuse_factor)
    if reuse_factor > 1:
        if by_stage:
            raise NanotrigError("--by-stage is available for II = 1 only (--reuse-factor 1)")
        vhdl = False  # the folded datapath is written in Verilog only
    key = build_key(model, spec, clock_mhz, vhdl, reuse_factor)
    meta_path = out / "rtl.json"
    if meta_path.exists() and not force:
        try:
            old = RtlBuild.load(meta_path)
        except (json.JSONDecodeError, TypeError):
            old = None
        fresh = old is not None and old.key == key
        if (
            fresh
            and all((out / f).exists() for f in old.files["verilog"])
            and (not by_stage or "stages" in old.files)
        ):
            return old

    if reuse_factor > 1:
        from nanotrig.rtl.folded_build import build_folded

        build = build_folded(model, spec, out, clock_mhz, reuse_factor, key)
        meta_path.write_text(json.dumps(build.to_dict(), indent=1) + "\n")
        return build
    t0 = time.perf_counter()
    traced = trace_kernel(model, spec)
    units = units_for_clock(clock_mhz)
    named = bram_tables(spec)
    bram_ops = frozenset(
        i
        for i, op in enumerate(traced.comb.ops)
        if op.opcode == 8 and table_name(traced.comb.lookup_tables[op.data].float_table, named)
    )
    plan = plan_stages(traced.comb, units, bram_ops)
    tin, tout = traced.input_type, traced.result_type
    ports = PortSpec(
        top=TOP,
        core=CORE,
        inputs=tuple(
            InputGroup(name, count, WordType(t.width, t.frac, t.signed))
            for name, count, t in traced.input_groups
        ),
        output_type=WordType(tout.width, tout.frac, tout.signed),
        latency=plan.latency_cycles,
    )
    out.mkdir(parents=True, exist_ok=True)
    written = write_hdl(plan.pipeline, ports, out, vhdl=vhdl, bram_tables=named)
    if by_stage:
        written["stages"] = write_stage_verilog(traced, plan, units, ports, out, named)
    (out / f"{TOP}.xdc").write_text(
        f"create_clock -period {1000.0 / clock_mhz:.3f} -name {ports.clock} [get_ports {ports.clock}]\n"
    )
    build = RtlBuild(
        out_dir=str(out),
        key=key,
        model=model.name or "model",
        n_constituents=model.n_constituents,
        n_hidden=model.n_hidden,
        clock_mhz=float(clock_mhz),
        units_per_stage=units,
        stages=plan.stages,
        latency_cycles=plan.latency_cycles,
        ii=1,
        top=TOP,
        n_inputs=traced.n_inputs,
        input_type=str(tin),
        result_type=str(tout),
        da4ml=_da4ml_summary(traced.comb, plan.pipeline),
        files={k: [str(p.relative_to(out)) for p in v] for k, v in written.items()},
        precision=spec.precision_dict(),
        seconds=time.perf_counter() - t0,
        inputs=spec.inputs,
        input_groups=[{"name": n, "count": c, "type": str(t)} for n, c, t in traced.input_groups],
        implementation=dict(spec.implementation),
        ports={
            "clock": ports.clock,
            "reset": ports.reset,
            "in_valid": ports.in_valid,
            "in_word": ports.in_word,
            "out_word": ports.out_word,
            "out_valid": ports.out_valid,
        },
    )
    (out / "README.md").write_text(_readme(build))
    meta_path.write_text(json.dumps(build.to_dict(), indent=1) + "\n")
    return build
