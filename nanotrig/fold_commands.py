"""Commands ``fold`` (Keras / checkpoint -> canonical JSON) and ``info`` (parameters, formula)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nanotrig.errors import NanotrigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fold", help="fold BatchNorm and ReLU scales into the canonical JSON")
    p.add_argument("model", help=".keras file, .pt checkpoint, canonical .json or shipped name")
    p.add_argument("--out", help="canonical JSON to write (default <model stem>.json)")
    p.add_argument("--name", help="name recorded in the JSON (default the file stem)")
    p.set_defaults(func=_fold)

    p = sub.add_parser("info", help="parameter count and the closed formula with the learned numbers")
    p.add_argument("model", help="shipped name (c2), .keras, canonical .json or .pt checkpoint")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--digits", type=int, default=6, help="significant digits in the formula")
    p.set_defaults(func=_info)


def _fold(args: argparse.Namespace) -> int:
    from nanotrig.fold import formula
    from nanotrig.models import resolve_model

    model = resolve_model(args.model)
    stem = Path(str(args.model)).stem
    model.name = args.name or model.name or stem
    out = Path(args.out or f"{stem}.json")
    if out.suffix != ".json":
        raise NanotrigError(f"--out {out}: the canonical model is a .json file")
    model.save(out)
    print(formula(model))
    print(f"wrote {out}", file=sys.stderr)
    return 0


def _info(args: argparse.Namespace) -> int:
    from nanotrig.fold import formula, parameter_count
    from nanotrig.models import resolve_model

    model = resolve_model(args.model)
    count = parameter_count(model)
    if args.json:
        out = {
            **count,
            "nobj_avg": model.nobj_avg,
            "scale": model.scale,
            "beams": model.beams,
            "bn_leftovers": model.bn_leftovers,
            "formula": formula(model, args.digits),
            "provenance": model.provenance,
            "metrics": model.metrics,
        }
        print(json.dumps(out, indent=1))
        return 0
    extra = f" + {count['alpha_parameters']} exponents" if count["alpha_parameters"] else ""
    print(
        f"{model.name or args.model}: C = {model.n_hidden}, N = {model.n_constituents}, {model.variant}; "
        f"{count['core_parameters']} core parameters + {count['bn_terms']} BatchNorm leftovers{extra} "
        f"= {count['total_parameters']} (unfolded linear blocks: {count['unfolded_linear_parameters']})"
    )
    if model.metrics:
        m = model.metrics
        print(
            f"metrics ({m.get('test_file', '?')}, {m.get('jets', '?')} jets): accuracy "
            f"{m.get('accuracy', float('nan')):.4f}, AUC {m.get('auc', float('nan')):.4f}, "
            f"1/eps_B@30% {m.get('rejection_30', float('nan')):.1f}"
        )
    print(formula(model, args.digits))
    return 0
