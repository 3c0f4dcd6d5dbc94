"""``nanotrig qat MODEL``: quantization-aware training (HGQ2) and export of the learned firmware."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from nanotrig.errors import NanotrigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "qat",
        help="quantization-aware training (HGQ2): learned per-stage widths -> MODEL.json + precision.yaml",
        description="Starts from MODEL (a folded float model) at its range-analysed FixedPointSpec and "
        "trains the coefficients and every stage's widths on BCE + beta x (the kernel's LUT-equivalent "
        "cost). Resumable (same --out). Writes OUT/NAME.json (the learned spec travels inside it: every "
        "firmware command builds it), OUT/NAME.precision.yaml and OUT/qat_report.json.",
    )
    p.add_argument("model", help="shipped name (c2) or canonical .json / .keras to start from")
    p.add_argument("--data", required=True, help="training jets (.h5)")
    p.add_argument("--valid", required=True, help="validation jets: per-epoch metrics and the epoch choice")
    p.add_argument("--test", help="test jets: fixed-point metrics recorded in the model")
    p.add_argument("--name", help="name of the exported model (default MODEL-qat)")
    p.add_argument("--out", help="run directory (default runs/NAME)")
    p.add_argument(
        "--epochs", type=int, default=14, help="epochs incl. warm-up (default 14; the paper trains 140)"
    )
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--lr-init", type=float, default=0.01, help="peak learning rate of the bit widths (0.01)")
    p.add_argument("--lr-final", type=float, default=1e-6)
    p.add_argument("--warmup", type=int, default=1, help="linear warm-up epochs (default 1)")
    p.add_argument(
        "--coefficient-step",
        type=float,
        default=0.125,
        help="relative speed of the coefficients against the bit widths (default 1/8)",
    )
    p.add_argument("--beta", type=float, default=1e-6, help="weight of the resource cost in the loss (1e-6)")
    p.add_argument(
        "--beta-start", type=float, default=1e-8, help="beta at epoch 0, raised log-linearly (1e-8)"
    )
    p.add_argument(
        "--beta-ramp", type=int, default=6, help="epochs from --beta-start to --beta (6; 0: constant)"
    )
    p.add_argument(
        "--margin-bits",
        type=int,
        default=0,
        help="integer bits added to every wrapping stage above the largest value traced on the "
        "training jets (default 0)",
    )
    p.add_argument(
        "--max-auc-loss",
        type=float,
        default=0.0015,
        help="export the cheapest epoch whose fixed-point validation AUC is within this of the float model's",
    )
    p.add_argument("--epoch", type=int, help="export this epoch instead")
    p.add_argument("--export-only", action="store_true", help="do not train further; export from the run")
    p.add_argument(
        "--precision",
        help="YAML {stage: type} of stages to keep fixed (ap_fixed<...> or QKeras quantized_bits(...))",
    )
    p.add_argument(
        "--fix",
        action="append",
        default=[],
        metavar="STAGE=TYPE",
        help="keep a stage at a type, e.g. --fix 'input=quantized_bits(14,11)' (repeatable)",
    )
    p.add_argument(
        "--inputs",
        choices=("cartesian", "puppi"),
        default="cartesian",
        help="firmware inputs: cartesian (E, px, py, pz words) or puppi (Level-1 pT, eta, phi words)",
    )
    p.add_argument("--input-bits", type=int, default=18, help="starting input word width (default 18)")
    p.add_argument("--input-lsb", type=float, default=1 / 32, help="starting input LSB in GeV (1/32)")
    p.add_argument("--weight-bits", type=int, default=12, help="starting coefficient width (default 12)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-train", type=int, default=-1, help="use only the first N training jets")
    p.add_argument("--n-valid", type=int, default=-1, help="use only the first N validation jets")
    p.add_argument(
        "--eager",
        action="store_true",
        help="run eagerly (no TensorFlow graphs: no ~1 min of tracing, ~10x slower per step)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_qat)

    p = sub.add_parser(
        "qat-pareto",
        help="AUC vs LUT and vs device fraction: a PTQ bits scan against QAT models (two scan.json)",
    )
    p.add_argument(
        "ptq", help="scan.json of `nanotrig scan MODEL --bits ...` (comma-separated: several, Yosys rows win)"
    )
    p.add_argument("qat", help="scan.json of `nanotrig scan QAT1.json,QAT2.json,...` (comma-separated)")
    p.add_argument("--out", type=Path, required=True, help="PNG to write (numbers next to it as JSON)")
    p.add_argument("--title", default="PTQ vs QAT", help="plot title")
    p.set_defaults(func=cmd_qat_pareto)


def _fixed_overrides(args: argparse.Namespace) -> dict[str, Any]:
    from nanotrig.fixed.spec import load_precision_file

    out: dict[str, Any] = {}
    if args.precision:
        data = load_precision_file(args.precision)
        prec = data.get("Precision", data)
        if not isinstance(prec, dict):
            raise NanotrigError(f"{args.precision}: field 'Precision' must be a mapping of stage to type")
        out.update(prec)
    for item in args.fix:
        stage, sep, text = item.partition("=")
        if not sep or not stage.strip() or not text.strip():
            raise NanotrigError(f"--fix {item!r}: expected STAGE=TYPE, e.g. 'z=ap_fixed<12,10>'")
        out[stage.strip()] = text.strip()
    return out


def config_from_args(args: argparse.Namespace) -> Any:
    from nanotrig.fixed.analysis import DeriveOptions, default_spec, input_type
    from nanotrig.models import resolve_model
    from nanotrig.qat.train import QatConfig

    for path in (args.data, args.valid, args.test):
        if path and not Path(path).exists():
            raise NanotrigError(f"{path}: no such file")
    for flag in ("input_bits", "weight_bits"):
        if not 2 <= getattr(args, flag) <= 28:
            raise NanotrigError(f"--{flag.replace('_', '-')} must be in 2..28, got {getattr(args, flag)}")
    model = resolve_model(args.model)
    model.name = model.name or Path(args.model).stem
    # QAT learns one type per stage: the start spec has no per-index integer bits
    opts = DeriveOptions(
        inputs=args.inputs,
        input_bits=args.input_bits,
        input_lsb=args.input_lsb,
        weight_bits=args.weight_bits,
        index_bits=False,
    )
    input_type(opts)  # the LSB must be a power of two
    # the starting point: the float model's range-analysed spec (or the spec it was trained for)
    start = default_spec(model, opts)
    overrides = _fixed_overrides(args)
    spec = start.with_overrides(overrides, source=args.precision or "--fix") if overrides else start
    name = args.name or f"{model.name}-qat"
    return QatConfig(
        name=name,
        model=model.to_dict(),
        precision=spec.to_dict(),
        train=str(args.data),
        valid=str(args.valid),
        test=str(args.test) if args.test else None,
        out_dir=str(args.out or Path("runs") / name),
        fixed_stages=sorted(overrides),
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr_init=args.lr_init,
        lr_final=args.lr_final,
        warmup=args.warmup,
        coefficient_step=args.coefficient_step,
        beta=args.beta,
        beta_start=args.beta_start,
        beta_ramp=args.beta_ramp,
        margin_bits=args.margin_bits,
        max_auc_loss=args.max_auc_loss,
        seed=args.seed,
        n_train=args.n_train,
        n_valid=args.n_valid,
        graphs=not args.eager,
    )


def cmd_qat(args: argparse.Namespace) -> int:
    from nanotrig.qat.run import export_run, format_report
    from nanotrig.qat.train import train_qat

    def say(line: str) -> None:  # progress on stderr: stdout is the report (JSON with --json)
        print(line, file=sys.stderr)

    cfg = config_from_args(args)
    state_path = Path(cfg.out_dir) / "state.json"
    if args.export_only:
        if not state_path.exists():
            raise NanotrigError(f"{state_path}: no QAT run to export from")
        state = json.loads(state_path.read_text())
    else:
        state = train_qat(cfg, log=say)
    report = export_run(cfg, state, args.epoch, log=say)
    print(json.dumps(report, indent=1) if args.json else format_report(report))
    return 0


def cmd_qat_pareto(args: argparse.Namespace) -> int:
    from nanotrig.qat.pareto import plot_qat_pareto

    scans = []
    for paths in (args.ptq, args.qat):
        rows: list[dict[str, Any]] = []
        for path in map(Path, paths.split(",")):
            if not path.exists():
                raise NanotrigError(f"{path}: no such scan result")
            try:
                scan = json.loads(path.read_text())
            except json.JSONDecodeError as exc:
                raise NanotrigError(f"{path}: not valid JSON ({exc})") from None
            if "rows" not in scan:
                raise NanotrigError(f"{path}: field 'rows' missing (not a `nanotrig scan` result)")
            rows += scan["rows"]
        scans.append({"rows": rows})
    png = plot_qat_pareto(scans[0], scans[1], args.out, args.title)
    print(f"wrote {png} and {png.with_suffix('.json')}")
    return 0
