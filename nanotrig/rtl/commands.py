"""``nanotrig rtl`` (generate Verilog/VHDL) and ``nanotrig rtlsim`` (cocotb on Icarus/Verilator)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from nanotrig.errors import NanotrigError

DEFAULT_WORK = Path("build") / "rtl"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "rtl",
        help="generate the pipelined Verilog (+ VHDL) of a model with da4ml",
        description="Trace the fixed-point kernel with da4ml into a fully pipelined module (II = 1) "
        "with the HLS port names and a valid-in/valid-out handshake; with --reuse-factor R the pair "
        "work is folded over R cycles (one jet every R cycles, an ap_ready output).",
    )
    p.add_argument("model", help="shipped model name (c2) or model file")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    _common(p)
    p.add_argument("--no-vhdl", action="store_true", help="write Verilog only")
    p.add_argument("--force", action="store_true", help="regenerate even if the folder is up to date")
    p.set_defaults(func=cmd_rtl)

    s = sub.add_parser(
        "rtlsim",
        help="stream jets through the RTL in a cocotb testbench and compare with the emulator",
        description="Generate (or reuse) the RTL, quantise the jets, score them with the bit-accurate "
        "emulator, and check every RTL output word, its order and its exact latency.",
    )
    s.add_argument("model", help="shipped model name (c2) or model file")
    s.add_argument("--data", required=True, type=Path, help="jet file (either reference layout)")
    s.add_argument(
        "--sim", choices=("icarus", "verilator", "ghdl"), default="icarus", help="ghdl runs the VHDL sources"
    )
    s.add_argument("--jets", type=int, default=None, help="use the first JETS jets (default: all)")
    s.add_argument("--bubbles", type=float, default=0.0, help="probability of an idle cycle between jets")
    s.add_argument("--reset-mid", action="store_true", help="pulse reset in the middle of the traffic")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument(
        "--work", type=Path, default=None, help=f"RTL and build folder (default {DEFAULT_WORK}/MODEL)"
    )
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    _common(s)
    s.set_defaults(func=cmd_rtlsim)


def _common(p: argparse.ArgumentParser) -> None:
    from nanotrig.fixed.options import add_spec_arguments

    p.add_argument(
        "--clock", type=float, default=200.0, help="target clock in MHz (default 200; CMS correlator 360)"
    )
    p.add_argument(
        "--reuse-factor",
        type=int,
        default=1,
        help="II = R: one jet every R cycles, every pair unit serving R pairs (1 .. 9; default 1)",
    )
    add_spec_arguments(p, input_words=False)


def _model_and_spec(args: argparse.Namespace):  # noqa: ANN202
    from nanotrig.fixed.options import spec_from_args
    from nanotrig.models import resolve_model

    model = resolve_model(args.model)
    return model, spec_from_args(model, args)


def _suffix(spec: object, reuse_factor: int = 1) -> str:
    """Work-folder suffix so that input modes and reuse factors keep separate caches."""
    mode = "" if spec.inputs == "cartesian" else f"-{spec.inputs}"  # type: ignore[attr-defined]
    return mode + ("" if reuse_factor == 1 else f"-R{reuse_factor}")


def cmd_rtl(args: argparse.Namespace) -> int:
    from nanotrig.rtl.build import build_rtl

    model, spec = _model_and_spec(args)
    b = build_rtl(
        model,
        spec,
        args.out,
        clock_mhz=args.clock,
        vhdl=not args.no_vhdl,
        force=args.force,
        reuse_factor=args.reuse_factor,
    )
    print(
        f"{b.top} ({b.model}, N = {b.n_constituents}, C = {b.n_hidden}, {b.inputs} inputs): "
        f"{b.stages} stages, latency {b.latency_cycles} cycles = {b.latency_ns:.1f} ns "
        f"at {b.clock_mhz:g} MHz, II = {b.ii}"
    )
    if b.fold:
        f = b.fold
        print(
            f"  {f['pairs']} constituent pairs on {f['pair_units']} pair units over {b.ii} cycles "
            f"({f['idle_unit_cycles']} idle unit-cycles), {f['beam_units']} beam units; "
            f"next jet when {f['ready_port']} is high (every {b.ii} cycles at most); Verilog only"
        )
    print(
        f"  {b.da4ml['products']} DSP products, "
        f"da4ml cost {b.da4ml['cost_without_products']:.0f} LUT-eq besides"
    )
    print(f"  written to {args.out}/ (verilog/, {'vhdl/, ' if 'vhdl' in b.files else ''}rtl.json, README.md)")
    return 0


def cmd_rtlsim(args: argparse.Namespace) -> int:
    from nanotrig.data import read_jets
    from nanotrig.rtl.build import build_rtl
    from nanotrig.rtl.sim import simulate_jets

    if not 0.0 <= args.bubbles < 1.0:
        raise NanotrigError(f"--bubbles must be in [0, 1), got {args.bubbles}")
    if args.jets is not None and args.jets < 1:
        raise NanotrigError(f"--jets must be positive, got {args.jets}")
    model, spec = _model_and_spec(args)
    if args.reuse_factor > 1 and args.sim == "ghdl":
        raise NanotrigError("--sim ghdl: the II = R > 1 datapath is Verilog only (icarus, verilator)")
    name = (model.name or Path(args.model).stem) + _suffix(spec, args.reuse_factor)
    work = args.work or DEFAULT_WORK / name
    jets = read_jets(args.data, n_constituents=model.n_constituents, stop=args.jets)
    if len(jets) == 0:
        raise NanotrigError(f"{args.data}: no jets")
    build = build_rtl(
        model,
        spec,
        work / "rtl",
        clock_mhz=args.clock,
        vhdl=args.sim == "ghdl",
        reuse_factor=args.reuse_factor,
    )
    res = simulate_jets(
        build,
        model,
        spec,
        jets.pmu,
        sim=args.sim,
        work_dir=work / "sim",
        bubble_prob=args.bubbles,
        resets=(0.5,) if args.reset_mid else (),
        seed=args.seed,
        ptetaphi=jets.ptetaphi,
        labels=jets.is_signal,
    )
    res.update(model=build.model, data=str(args.data), expected_latency=build.latency_cycles)
    early = [int(k) for k in res.get("accept_intervals", {}) if int(k) < build.ii]
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        print(
            f"{args.sim}: {res['jets']} jets checked, {res['mismatches']} mismatches, "
            f"latency {res['latency_cycles']} cycles (expected {build.latency_cycles}), "
            f"{res['latency_errors']} latency errors, {res['unexpected']} unexpected, "
            f"{res['missing']} missing; "
            f"{res['jets_per_second']:.0f} jets/s"
        )
        if build.ii > 1:
            print(
                f"  II = {build.ii}: cycles between accepted jets {res['accept_intervals']}, "
                f"{res['held_cycles']} cycles with a jet held off (ap_ready low)"
            )
        for ex in res.get("examples", [])[:5]:
            print(f"  {ex}")
        if "auc_float" in res:
            from nanotrig.fixed.physics import format_decisions

            print(
                f"AUC float {res['auc_float']:.5f} fixed {res['auc_fixed']:.5f}; 1/eps_B@30% float "
                f"{res['rejection30_float']:.1f} fixed {res['rejection30_fixed']:.1f}"
            )
            print("\n".join(format_decisions(res, str(spec["result"]))))
    bad = res["mismatches"] + res["latency_errors"] + res["unexpected"] + res["missing"] + len(early)
    return 1 if bad else 0
