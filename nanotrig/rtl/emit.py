"""Writing a staged da4ml pipeline plus its streaming wrapper as Verilog and VHDL sources."""

from __future__ import annotations

import shutil
from pathlib import Path

import da4ml.codegen.rtl as da4ml_rtl
import numpy as np
from da4ml.codegen.rtl.verilog import table_mem_gen
from da4ml.codegen.rtl.vhdl import pipeline_logic_gen as vhdl_pipeline
from da4ml.types import Pipeline

from nanotrig.rtl.flat_verilog import flat_core
from nanotrig.rtl.wrapper import PortSpec, verilog_wrapper, vhdl_wrapper

# da4ml's primitive modules (shift_adder, multiplier, mux, ...), shipped with the package
_PRIMITIVES = Path(da4ml_rtl.__file__).resolve().parent


def _fresh(d: Path) -> Path:
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


def write_verilog(
    pipe: Pipeline,
    ports: PortSpec,
    out_dir: Path,
    bram_tables: dict[str, np.ndarray] | None = None,
    stage_labels: list[list[str]] | None = None,
    folder: str = "verilog",
) -> list[Path]:
    """``out_dir/<folder>``: primitives, ROMs, the flat core (or, with ``stage_labels``, the core
    cut into one module per kernel stage group), the wrapper (top last)."""
    d = _fresh(out_dir / folder)
    files = []
    for prim in sorted((_PRIMITIVES / "verilog" / "source").glob("*.v")):
        if prim.name != "lookup_table.v":  # tables are inline case ROMs here
            files.append(Path(shutil.copy(prim, d / prim.name)))
    core, roms = flat_core(pipe, ports.core, bram_tables, stage_labels)
    if roms:
        files.append(d / f"{ports.core}_roms.v")
        files[-1].write_text("`timescale 1ns / 1ps\n\n" + "\n".join(roms))
    files.append(d / f"{ports.core}.v")
    files[-1].write_text(core)
    files.append(d / f"{ports.top}.v")
    files[-1].write_text(verilog_wrapper(ports, list(pipe.inp_qint), pipe.out_qint[0]))
    return files


def write_vhdl(pipe: Pipeline, ports: PortSpec, out_dir: Path) -> list[Path]:
    """``out_dir/vhdl``: da4ml's VHDL pipeline (tables as ``.mem`` files) and the wrapper."""
    d = _fresh(out_dir / "vhdl")
    files = [
        Path(shutil.copy(p, d / p.name)) for p in sorted((_PRIMITIVES / "vhdl" / "source").glob("*.vhd"))
    ]
    codes = vhdl_pipeline(pipe, ports.core, print_latency=False)
    # stages first, then the core that instantiates them (VHDL analysis order)
    for name in sorted(codes, key=lambda n: (n == ports.core, n)):
        files.append(d / f"{name}.vhd")
        files[-1].write_text(codes[name])
    for sol in pipe.solutions:
        for name, mem in table_mem_gen(sol).items():
            (d / name).write_text(mem + "\n")
    files.append(d / f"{ports.top}.vhd")
    files[-1].write_text(vhdl_wrapper(ports, list(pipe.inp_qint), pipe.out_qint[0]))
    return files


def write_hdl(
    pipe: Pipeline,
    ports: PortSpec,
    out_dir: Path,
    vhdl: bool = True,
    bram_tables: dict[str, np.ndarray] | None = None,
) -> dict[str, list[Path]]:
    """Write ``verilog/`` (and ``vhdl/``) under ``out_dir``; returns the source lists, top last.
    ``bram_tables``: front-end tables whose lookups are block-RAM reads in the Verilog (the VHDL,
    da4ml's writer, reads the same values from the same pipeline register, as ROM logic)."""
    written = {"verilog": write_verilog(pipe, ports, out_dir, bram_tables)}
    if vhdl:
        written["vhdl"] = write_vhdl(pipe, ports, out_dir)
    return written
