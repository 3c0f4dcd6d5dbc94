"""The ``nanotrig scan`` sub-command."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from nanotrig.engine.cluster import add_cluster_arguments, cluster_spec
from nanotrig.errors import NanotrigError

DEFAULT_OUT = Path("build") / "scan"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "scan",
        help="design-space scan: physics, latency and resources per (model, N, bits, inputs, reuse, clock)",
        description="Every combination of the lists is one point and one task on Dask: the bit-accurate "
        "emulator's AUC, accuracy and 1/eps_B@30%% on the jets, the RTL's latency, Yosys resources "
        "(unless --no-yosys: da4ml estimates) and the device fraction. Writes OUT/scan.json and "
        "Pareto plots (PNG + JSON); finished points are stored, so a re-run only does the rest.",
    )
    p.add_argument("models", help="model names or files, comma-separated (c2,c3)")
    p.add_argument("--n", default=None, help="constituents N, e.g. 8,16,20,32 (default: each model's own)")
    p.add_argument(
        "--bits",
        default="default",
        help="internal significant bits, e.g. default,10,12,15 (default: default)",
    )
    p.add_argument(
        "--inputs", default="cartesian", help="input word modes, comma-separated: cartesian, puppi"
    )
    p.add_argument(
        "--reuse", default="1", help="reuse factors, II = R cycles per jet, e.g. 1,2,3,5,9 (default 1)"
    )
    p.add_argument("--clock", default="200", help="clocks in MHz, e.g. 200,240 (default 200)")
    p.add_argument(
        "--data", type=Path, default=None, help="jets for the physics (default: the shipped sample)"
    )
    p.add_argument("--no-yosys", action="store_true", help="skip synthesis: da4ml estimates only (seconds)")
    p.add_argument("--out", type=Path, default=None, help=f"output folder (default {DEFAULT_OUT}/MODELS)")
    p.add_argument("--json", action="store_true", help="print the merged scan as JSON")
    add_cluster_arguments(p)
    p.set_defaults(func=cmd_scan)


def _list(text: str, flag: str, kind: type, allow_default: bool = False) -> list[Any]:
    out: list[Any] = []
    for item in (x.strip() for x in str(text).split(",")):
        if allow_default and item == "default":
            out.append(None)
            continue
        try:
            value = kind(item)
        except ValueError:
            raise NanotrigError(
                f"{flag} must be a comma-separated list of {kind.__name__}s, got {text!r}"
            ) from None
        if value <= 0:
            raise NanotrigError(f"{flag} values must be positive, got {text!r}")
        out.append(value)
    return out


def format_scan(scan: dict[str, Any]) -> str:
    head = (
        f"scan of {', '.join(scan['models'])}: {scan['points']} points ({scan['points_reused']} reused) "
        f"on {scan['cluster']}; physics on {scan['data']}"
    )
    cols = "  point                                           AUC  dAUC(float)  1/eps_B  overfl  cycles"
    cols += "     ns     DSP        LUT         FF  device %"
    lines = [head, cols]
    for r in scan["rows"]:
        phys = (
            f"{r['auc']:.5f}  {r['auc'] - r['float']['auc']:+11.5f}  {r['rejection_30']:7.1f}  "
            f"{r['overflow_total']:6d}"
            if "auc" in r
            else f"{'-':>7}  {'-':>11}  {'-':>7}  {'-':>6}"
        )
        est = "" if r["device_source"].startswith("Yosys") else " (da4ml est.)"
        lines.append(
            f"  {r['name']:<44} {phys}  {r['latency_cycles']:6d}  {r['latency_ns']:5.1f}  "
            f"{r['dsp'] if r['dsp'] is not None else r['da4ml_products']:>6}  "
            f"{r['lut'] if r['lut'] is not None else round(r['da4ml_lut']):>9,}  "
            f"{r['ff'] if r['ff'] is not None else r['da4ml_reg_bits']:>9,}  "
            f"{100 * r['device_fraction']:8.2f}{est}"
        )
    for key in ("pareto_plot", "latency_plot", "json"):
        if scan.get(key):
            lines.append(f"{key.replace('_', ' ')}: {scan[key]}")
    return "\n".join(lines)


def cmd_scan(args: argparse.Namespace) -> int:
    from nanotrig.data import sample_path
    from nanotrig.models import resolve_model
    from nanotrig.scan.plots import plot_latency, plot_map, plot_pareto, plot_vs_n
    from nanotrig.scan.run import ScanRequest, run_scan

    ns = _list(args.n, "--n", int) if args.n else [None]
    bits = _list(args.bits, "--bits", int, allow_default=True)
    reuse = _list(args.reuse, "--reuse", int)
    clocks = _list(args.clock, "--clock", float)
    inputs = [x.strip() for x in args.inputs.split(",")]
    if args.data is not None and not args.data.exists():
        raise NanotrigError(f"{args.data}: no such file")
    cluster = cluster_spec(args)
    models = []
    for spec in args.models.split(","):
        m = resolve_model(spec.strip())
        m.name = m.name or Path(spec).stem
        models.append(m)
    out = args.out or DEFAULT_OUT / "+".join(m.name for m in models)
    req = ScanRequest(
        models=models,
        out=out,
        ns=ns,
        bits=bits,
        inputs=inputs,
        reuse=reuse,
        clocks=clocks,
        data=args.data or sample_path(),
        yosys=not args.no_yosys,
    )
    scan = run_scan(req, cluster, progress=not args.json, log=lambda s: print(s, file=sys.stderr))
    title = f"scan of {', '.join(scan['models'])} ({Path(scan['data']).name})"
    pareto = plot_pareto(scan, out / "scan_pareto.png", title)
    scan["pareto_plot"] = str(pareto) if pareto else None
    scan["latency_plot"] = str(plot_latency(scan, out / "scan_latency.png", title))
    fpga_map = plot_map(scan, out / "scan_map.png", title)
    scan["map_plot"] = str(fpga_map) if fpga_map else None
    vs_n = plot_vs_n(scan, out / "scan_vs_n.png", title)
    scan["vs_n_plot"] = str(vs_n) if vs_n else None
    scan["json"] = str(out / "scan.json")
    (out / "scan.json").write_text(json.dumps(scan, indent=1) + "\n")
    print(json.dumps(scan, indent=1) if args.json else format_scan(scan))
    return 0
