"""``nanotrig report``: latency, II and resources (Yosys estimate, da4ml, vendor if present)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from nanotrig.engine.cluster import ClusterSpec, add_cluster_arguments, cluster_spec
from nanotrig.errors import NanotrigError

DEFAULT_WORK = Path("build") / "report"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="latency and resources of a model's RTL (Yosys estimate; vendor numbers if present)",
        description="Generate (or reuse) the RTL, synthesize it with Yosys synth_xilinx -family xcup, and "
        "print latency, II, DSP/LUT/FF/CARRY next to da4ml's estimate and, when a Vitis/Vivado run "
        "exists in the project folder, the vendor's numbers.",
    )
    from nanotrig.fixed.options import add_spec_arguments
    from nanotrig.report.device import DEFAULT_PART

    p.add_argument("model", help="shipped model name (c2) or model file")
    p.add_argument(
        "--clock", type=float, default=200.0, help="target clock in MHz (default 200; CMS correlator 360)"
    )
    p.add_argument(
        "--reuse-factor",
        type=int,
        default=1,
        help="II = R: the RTL takes one jet every R cycles with each pair unit serving R pairs (1 .. 9)",
    )
    add_spec_arguments(p, input_words=False)
    p.add_argument(
        "--part", default=DEFAULT_PART, help=f"FPGA part for device_fraction (default {DEFAULT_PART})"
    )
    p.add_argument(
        "--no-dsp", action="store_true", help="Yosys without DSPs: every product in LUTs (where 0 DSP stands)"
    )
    p.add_argument(
        "--by-stage",
        action="store_true",
        help="also LUT/FF/DSP/CARRY/BRAM18 per kernel stage (a second Yosys run) and a stacked-bar plot",
    )
    p.add_argument("--project", type=Path, default=None, help="HLS project folder (default firmware/MODEL)")
    p.add_argument("--work", type=Path, default=None, help=f"cache folder (default {DEFAULT_WORK}/MODEL)")
    p.add_argument("--no-yosys", action="store_true", help="skip synthesis (latency and da4ml numbers only)")
    p.add_argument("--force", action="store_true", help="ignore cached RTL and Yosys results")
    p.add_argument(
        "--scan-n",
        default=None,
        help="also scan the number of constituents, e.g. 8,12,16,20,24,32 (same weights, plots saved)",
    )
    p.add_argument(
        "--scan-bits",
        default=None,
        help="also scan the internal significant bits, e.g. 8,10,12,15,18: fixed-point AUC on --data "
        "against da4ml's LUT estimate (Yosys too unless --no-yosys; minutes per point)",
    )
    p.add_argument(
        "--data", type=Path, default=None, help="jets for --scan-bits (default: the shipped sample)"
    )
    p.add_argument("--plot-dir", type=Path, default=None, help="where the scans' PNG/JSON go (default: work)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    add_cluster_arguments(p)  # where the scans' points run (each one task, as in `nanotrig scan`)
    p.set_defaults(func=cmd_report)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def format_report(rep: dict[str, Any]) -> str:
    vendor = rep.get("vendor") or {}
    t, pub = rep["targets"], rep["published_hls"]
    head = (
        f"nanoPELICAN {rep['model']}: {rep['inputs']} inputs, N = {rep['n_constituents']} + "
        f"{rep['n_particles'] - rep['n_constituents']} "
        f"beams, C = {rep['n_hidden']}, II = {rep['ii']}, clock {rep['clock_mhz']:g} MHz "
        f"({rep['pipeline_stages']} stages, latency cutoff {rep['latency_cutoff_units']} adder delays)"
    )
    rows = [
        ("", "this RTL", "vendor HLS", "target", "published HLS"),
        (
            "latency [cycles]",
            _fmt(rep["latency_cycles"]),
            _fmt(vendor.get("latency_cycles")),
            f"<= {t['latency_cycles']}",
            "{}-{}".format(*pub["latency_cycles"]),
        ),
        ("latency [ns]", _fmt(rep["latency_ns"]), "-", "", ""),
        (
            "II",
            _fmt(rep["ii"]),
            _fmt(vendor.get("ii")),
            f"<= {int(25.0 / rep['period_ns'] + 1e-9)} (25 ns)",
            "1",
        ),
        (
            "DSP",
            _fmt(rep["dsp"]),
            _fmt(vendor.get("vivado_dsp") or vendor.get("dsp")),
            f"<= {t['dsp']:,}",
            "{:,}-{:,}".format(*pub["dsp"]),
        ),
        (
            "LUT",
            _fmt(rep["lut"]),
            _fmt(vendor.get("vivado_lut") or vendor.get("lut")),
            f"<= {t['lut']:,}",
            "{:,}-{:,}".format(*pub["lut"]),
        ),
        ("FF", _fmt(rep["ff"]), _fmt(vendor.get("vivado_ff") or vendor.get("ff")), f"<= {t['ff']:,}", ""),
        ("BRAM18", _fmt(rep.get("bram18")), _fmt(vendor.get("bram_18k")), "", ""),
        ("CARRY", _fmt(rep.get("carry")), "-", "", ""),
        (
            "device fraction",
            "-"
            if rep.get("device_fraction") is None
            else f"{rep['device_fraction']:.2%} ({rep['scarcest']})",
            "-",
            "",
            "",
        ),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [head, ""]
    for r in rows:
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    d = rep["da4ml"]
    if rep.get("fold"):
        f = rep["fold"]
        lines += [
            "",
            f"II = {rep['ii']}: {f['pairs']} constituent pairs on {f['pair_units']} pair units, "
            f"{f['beam_units']} beam units; a jet every {rep['ii']} cycles "
            f"({rep['jets_per_25ns']:.2f} per 25 ns), "
            f"ap_ready low in between; pieces {f['timeline']['stages']} stages",
        ]
    lines += [
        "",
        f"resources: {rep['source']}"
        + (f", {rep['yosys_seconds']:.0f} s" if rep.get("yosys_seconds") else ""),
        f"da4ml estimate: {d['cost_without_products']:,.0f} LUT-eq for adders/muxes + {d['products']} "
        f"products (DSPs; {d['cost_total']:,.0f} LUT-eq if built from LUTs), {d['reg_bits']:,} register bits",
        "vendor: " + (f"{vendor['source']}" if vendor else "no Vitis/Vivado run found (labelled '-')"),
        "only a vendor run gives: " + "; ".join(rep["measured_by"]["vendor_only"]),
        f"RTL: {rep['rtl_dir']}",
    ]
    return "\n".join(lines)


def _int_list(text: str, flag: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise NanotrigError(f"{flag} must be comma-separated integers, got {text!r}") from None
    if any(v < 1 for v in values):
        raise NanotrigError(f"{flag} values must be positive, got {text!r}")
    return values


def _bits_scan(
    args: argparse.Namespace, bits: tuple[int, ...], model: Any, name: str, work: Path, cluster: ClusterSpec
) -> dict[str, Any]:
    from nanotrig.data import sample_path
    from nanotrig.report.bits_scan import plot_bits_scan, scan_bits

    if args.data is not None and not args.data.exists():
        raise NanotrigError(f"{args.data}: no such file")
    scan = scan_bits(
        model,
        bits,
        args.data or sample_path(),
        work / "scan_bits",
        clock_mhz=args.clock,
        yosys=not args.no_yosys,
        cluster=cluster,
        progress=not args.json,
        log=_stderr,
    )
    scan["data"] = str(args.data) if args.data else "the shipped sample"
    png = plot_bits_scan(
        scan,
        (args.plot_dir or work) / f"{name}_scan_bits.png",
        f"{name}: internal precision vs physics ({Path(scan['data']).name}) and resources",
    )
    scan["plot"] = str(png)
    return scan


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def cmd_report(args: argparse.Namespace) -> int:
    from nanotrig.fixed.options import spec_from_args
    from nanotrig.models import resolve_model
    from nanotrig.report.collect import make_report

    # argument errors before any work
    ns = _int_list(args.scan_n, "--scan-n") if args.scan_n else ()
    bits = _int_list(args.scan_bits, "--scan-bits") if args.scan_bits else ()
    cluster = cluster_spec(args)
    model = resolve_model(args.model)
    name = model.name or Path(args.model).stem
    spec = spec_from_args(model, args)
    from nanotrig.rtl.build import check_reuse_factor

    check_reuse_factor(args.reuse_factor)
    if args.reuse_factor > 1 and (ns or bits):
        raise NanotrigError("--scan-n/--scan-bits run at II = 1; use `nanotrig scan --reuse` for other R")
    suffix = ("" if spec.inputs == "cartesian" else f"-{spec.inputs}") + (
        "" if args.reuse_factor == 1 else f"-R{args.reuse_factor}"
    )
    work = args.work or DEFAULT_WORK / (name + suffix)
    project = args.project or Path("firmware") / name
    rep = make_report(
        model,
        work,
        spec,
        clock_mhz=args.clock,
        project_dir=project,
        yosys=not args.no_yosys,
        force=args.force,
        part=args.part,
        nodsp=args.no_dsp,
        by_stage=args.by_stage,
        reuse_factor=args.reuse_factor,
    )
    if "stages" in rep:
        from nanotrig.report.stages import plot_stages

        png = (args.plot_dir or work) / f"{name}_{spec.inputs}_stages.png"
        title = f"{name} ({spec.inputs} inputs): Yosys resources by kernel stage"
        rep["stages_plot"] = str(plot_stages(rep["stages"], png, title))
    if ns:
        from nanotrig.report.scan import plot_scan, scan_constituents

        rows = scan_constituents(
            model,
            ns,
            work / "scan",
            clock_mhz=args.clock,
            yosys=not args.no_yosys,
            cluster=cluster,
            progress=not args.json,
            log=_stderr,
        )
        png = plot_scan(
            rows,
            (args.plot_dir or work) / f"{name}_scan_n.png",
            f"{name}: C = {model.n_hidden}, same weights at every N",
            1000.0 / args.clock,
        )
        rep["scan_n"] = rows
        rep["scan_plot"] = str(png)
    if bits:
        rep["scan_bits"] = _bits_scan(args, bits, model, name, work, cluster)
    if args.json:
        print(json.dumps(rep, indent=1))
    else:
        print(format_report(rep))
        if "stages" in rep:
            print(format_stages(rep))
        if args.scan_n:
            print("\nN scan (same weights; Yosys estimate, da4ml estimate in brackets):")
            print("    N  cycles     DSP                LUT                 FF")
            for r in rep["scan_n"]:
                print(
                    f"  {r['n_constituents']:3d}  {r['latency_cycles']:6d}  {_fmt(r['dsp']):>6} "
                    f"[{r['da4ml_products']:>5}]  {_fmt(r['lut']):>8} [{r['da4ml_lut']:>7,.0f}]  "
                    f"{_fmt(r['ff']):>8} [{r['da4ml_reg_bits']:>7,}]"
                )
            print(f"plot: {rep['scan_plot']} (+ .json)")
        if args.scan_bits:
            print(format_bits_scan(rep["scan_bits"]))
    return 0


def format_stages(rep: dict[str, Any]) -> str:
    from nanotrig.report.stages import RESOURCES

    lines = [
        "",
        "by stage (Yosys, one module per stage group):",
        f"  {'stage':26}" + "".join(f"{r:>9}" for r in RESOURCES),
    ]
    for g, v in rep["stages"].items():
        lines.append(f"  {g:26}" + "".join(f"{v[r]:>9,}" for r in RESOURCES))
    agree = rep["stages_sum_over_total"]
    lines.append(
        "  sum / flat total: "
        + ", ".join(f"{r} {agree[r]:.3f}" for r in RESOURCES if agree.get(r) is not None)
    )
    lines.append(f"  plot: {rep['stages_plot']} (+ .json)")
    return "\n".join(lines)


def format_bits_scan(scan: dict[str, Any]) -> str:
    f = scan["float"]
    lines = [
        f"\nbits scan on {scan['jets']:,} jets ({scan['data']}); float: AUC {f['auc']:.5f}, "
        f"accuracy {f['accuracy']:.4f}, 1/eps_B@30% {f['rejection_30']:.1f}; "
        f"{scan['jets_truncated']:,} jets had more constituents than N and kept the leading N",
        "  bits  z type             AUC     dAUC   1/eps_B@30%  overflows  cycles"
        "  LUT-eq (da4ml)  LUT (Yosys)",
    ]
    for r in scan["rows"]:
        lines.append(
            f"  {r['bits']:4d}  {r['types']['z']:<16} {r['auc']:.5f}  {r['auc'] - f['auc']:+.5f}  "
            f"{r['rejection_30']:11.1f}  {r['overflows']:9d}  {r['latency_cycles']:6d}  "
            f"{r['da4ml_lut']:>14,.0f}  {_fmt(r['lut']):>11}"
        )
    lines.append(f"plot: {scan['plot']} (+ .json)")
    return "\n".join(lines)
