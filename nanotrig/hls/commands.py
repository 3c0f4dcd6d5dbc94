"""`nanotrig hls` (write the HLS project and check it by C-simulation) and `nanotrig csim`."""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any

from nanotrig.errors import NanotrigError
from nanotrig.hls.project import DEFAULT_CLOCK_MHZ, DEFAULT_PART

CSIM_CACHE = Path("build") / "csim"


def register(sub: Any) -> None:
    p = sub.add_parser("hls", help="write the HLS project of a model and check it by C-simulation")
    p.add_argument("model", help="shipped model name (c2) or canonical .json / .keras file")
    p.add_argument("--out", help="project directory (default firmware/<model>)")
    p.add_argument("--part", default=DEFAULT_PART, help=f"FPGA part (default {DEFAULT_PART})")
    p.add_argument("--clock", type=float, default=DEFAULT_CLOCK_MHZ, help="clock in MHz (default 200)")
    _common(p)
    p.add_argument("--backend", choices=("Vitis", "Vivado"), default="Vitis")
    p.add_argument("--data", help="jets for the C-sim check (default: the shipped 4,000-jet sample)")
    p.add_argument("--no-csim", action="store_true", help="only write the project")
    p.set_defaults(func=run_hls)

    c = sub.add_parser(
        "csim", help="C-simulation vs bit-accurate emulator (and float vs fixed) on a jet file"
    )
    c.add_argument("model", help="shipped model name or canonical .json / .keras file")
    c.add_argument("--data", required=True, help="jet file (either reference layout)")
    c.add_argument("--out", help=f"project directory to (re)use (default {CSIM_CACHE}/<model>)")
    c.add_argument("--max-jets", type=int, help="only the first jets of the file")
    _common(c)
    c.set_defaults(func=run_csim_cmd)


def _common(p: argparse.ArgumentParser) -> None:
    from nanotrig.fixed.options import add_spec_arguments

    add_spec_arguments(p)
    p.add_argument("--reuse-factor", type=int, default=1, help="pipeline II; divides the pair multipliers")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--roc", help="float vs fixed ROC curves to this PNG (numbers next to it as JSON)")


def _model_and_spec(args: argparse.Namespace) -> tuple[Any, Any]:
    from nanotrig.fixed.options import spec_from_args
    from nanotrig.models import resolve_model

    model = resolve_model(args.model)
    if not model.name:
        model.name = Path(args.model).stem
    return model, spec_from_args(model, args)


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "model"


def _read(path: str | None, n_constituents: int, max_jets: int | None = None) -> tuple[Any, str]:
    from nanotrig.data import read_jets, sample_path

    src = Path(path) if path else sample_path()
    jets = read_jets(src, n_constituents=n_constituents, stop=max_jets)
    return jets, ("the shipped sample" if path is None else str(src))


def _write_and_check(args: argparse.Namespace, out: Path, data: str | None, with_csim: bool) -> dict:
    from nanotrig.hls.check import check_project
    from nanotrig.hls.project import write_project

    max_jets = getattr(args, "max_jets", None)
    if max_jets is not None and max_jets < 1:
        raise NanotrigError(f"--max-jets must be >= 1, got {max_jets}")
    model, spec = _model_and_spec(args)
    jets, source = _read(data, model.n_constituents, max_jets)
    t0 = time.perf_counter()
    project = write_project(
        model,
        spec,
        out,
        jets.pmu,
        part=getattr(args, "part", DEFAULT_PART),
        clock_mhz=getattr(args, "clock", DEFAULT_CLOCK_MHZ),
        reuse_factor=args.reuse_factor,
        backend=getattr(args, "backend", "Vitis"),
        tb_ptetaphi=jets.ptetaphi,
    )
    report: dict[str, Any] = {"model": model.name, "project": str(project.path), "data": source}
    report["write_s"] = round(time.perf_counter() - t0, 3)
    if with_csim:
        report.update(
            check_project(
                project, jets.pmu, jets.is_signal, jets.n_truncated, not args.json, args.roc, jets.ptetaphi
            )
        )
        report["data"] = source
        (project.path / "nanotrig" / "csim_report.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


def run_hls(args: argparse.Namespace) -> int:
    from nanotrig.hls.check import format_report

    t0 = time.perf_counter()
    model_name = _safe_name(Path(args.model).stem)
    out = Path(args.out) if args.out else Path("firmware") / model_name
    report = _write_and_check(args, out, args.data, not args.no_csim)
    report["wall_s"] = round(time.perf_counter() - t0, 2)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(
            f"nanotrig hls {report['model']}: {args.backend} project, part {args.part}, {args.clock:g} MHz, "
            f"II={args.reuse_factor}, {args.inputs} inputs"
        )
        if not args.no_csim:
            print(f"data: {report['data']}")
            print(format_report(report))
        print(f"project: {report['project']}  (to synthesize: see its README.md)")
        print(f"wall time {report['wall_s']:.1f} s")
    return 1 if report.get("mismatches", 0) else 0


def run_csim_cmd(args: argparse.Namespace) -> int:
    from nanotrig.hls.check import format_report

    out = Path(args.out) if args.out else CSIM_CACHE / _safe_name(Path(args.model).stem)
    report = _write_and_check(args, out, args.data, True)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(f"nanotrig csim {report['model']} on {report['data']}")
        print(format_report(report))
    return 1 if report["mismatches"] else 0
