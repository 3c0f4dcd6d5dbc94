"""The ``nanotrig verify`` sub-command."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nanotrig.engine.cluster import add_cluster_arguments, cluster_spec
from nanotrig.errors import NanotrigError

DEFAULT_WORK = Path("build") / "verify"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help="emulator vs C-simulation (and vs RTL) on many jets, in parallel chunks",
        description="Bit-exactness over a jet file or seeded random jets, split into chunks that run as "
        "tasks on Dask. Finished chunks are stored in the work folder: a re-run only does the rest.",
    )
    p.add_argument("model", help="shipped model name (c2) or model file")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help="jet file (either reference layout; workers must read it)")
    src.add_argument("--random", type=int, metavar="K", help="K seeded random jets (nanotrig.fixed.testjets)")
    p.add_argument("--chunks", type=int, default=16, help="tasks to split the jets into (default 16)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random jets (default 0)")
    p.add_argument("--rtl", action="store_true", help="also stream every chunk through the RTL")
    p.add_argument("--sim", default="verilator", help="RTL simulator for --rtl: verilator (default), icarus")
    p.add_argument("--clock", type=float, default=200.0, help="RTL clock in MHz (default 200)")
    p.add_argument("--precision", type=Path, default=None, help="precision overrides (YAML, hls4ml style)")
    p.add_argument("--work", type=Path, default=None, help=f"work folder (default {DEFAULT_WORK}/MODEL)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_cluster_arguments(p)
    p.set_defaults(func=cmd_verify)


def format_summary(s: dict) -> str:
    lines = [
        f"verify {s['model']}: {s['jets']:,} jets ({s['data']}) in {s['chunks']} chunks on {s['cluster']}",
        f"  emulator vs C-simulation: {s['csim_mismatches']} mismatches",
    ]
    if "rtl_jets" in s:
        lines.append(
            f"  emulator vs RTL ({s['rtl_simulator']}): {s['rtl_mismatches']} mismatches, "
            f"{s['rtl_protocol_errors']} latency/handshake errors on {s['rtl_jets']:,} jets"
        )
    for m in s["first_mismatches"]:
        lines.append(f"    {m}")
    over = {k: v for k, v in s["overflows"].items() if v}
    lines.append(
        "  overflows: "
        + (", ".join(f"{k} {v}" for k, v in over.items()) if over else "none")
        + f"; inputs clipped {s['inputs_clipped']}, jets truncated to N {s['jets_truncated']}"
    )
    rate = f"{s['jets_per_s']:,.0f} jets/s" if s["jets_per_s"] else "nothing new to run"
    lines.append(
        f"  {s['chunks_run']} chunks run, {s['chunks_skipped']} reused: {rate} "
        f"({s['fanout_s']:.1f} s fan-out, {s['wall_s']:.1f} s in all)"
    )
    return "\n".join(lines)


def cmd_verify(args: argparse.Namespace) -> int:
    from nanotrig.models import resolve_model
    from nanotrig.report.collect import default_spec_for
    from nanotrig.verify.run import VerifyRequest, verify

    if args.random is not None and args.random < 1:
        raise NanotrigError(f"--random must be >= 1, got {args.random}")
    if args.data is not None and not args.data.exists():
        raise NanotrigError(f"{args.data}: no such file")
    cluster = cluster_spec(args)
    model = resolve_model(args.model)
    name = model.name or Path(args.model).stem
    model.name = name
    req = VerifyRequest(
        model=model,
        spec=default_spec_for(model, args.precision),
        work=args.work or DEFAULT_WORK / name,
        chunks=args.chunks,
        data=args.data,
        random=args.random or 0,
        seed=args.seed,
        rtl=args.rtl,
        sim=args.sim,
        clock_mhz=args.clock,
    )
    summary = verify(req, cluster, progress=not args.json, log=lambda s: print(s, file=sys.stderr))
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(format_summary(summary))
    bad = summary["mismatches"] + summary.get("rtl_protocol_errors", 0)
    return 1 if bad else 0
