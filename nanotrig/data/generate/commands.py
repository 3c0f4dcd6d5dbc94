"""The gen-data sub-command."""

from __future__ import annotations

import argparse
import json
import sys

from nanotrig.data.jets import JetFileError
from nanotrig.engine.cluster import add_cluster_arguments, cluster_spec


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gen-data",
        help="generate a top/QCD stand-in with Pythia 8 + FastJet (train/valid/test, resumable)",
        description="Pythia 8 + FastJet stand-in for the Top Quark Tagging Reference Dataset. Finished "
        "shards are kept in OUT/shards, so an interrupted run resumes where it stopped.",
    )
    p.add_argument("--out", required=True, help="output directory (train.h5, valid.h5, test.h5)")
    p.add_argument("--train", type=int, default=0, help="training jets (half top, half QCD)")
    p.add_argument("--val", type=int, default=0, help="validation jets")
    p.add_argument("--test", type=int, default=0, help="test jets")
    p.add_argument("--pthat-min", type=float, default=400.0)
    p.add_argument("--pthat-max", type=float, default=800.0)
    p.add_argument(
        "--smear", action=argparse.BooleanOptionalAction, default=True, help="Delphes-like detector"
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--shard-jets", type=int, default=1000, help="jets per shard file (1000)")
    p.add_argument("--json", action="store_true", help="print the bookkeeping as JSON")
    add_cluster_arguments(p)
    p.set_defaults(func=_gen_data)


def _gen_data(args: argparse.Namespace) -> int:
    try:
        from nanotrig.data.generate.run import generate
        from nanotrig.data.generate.settings import GenSettings
    except ImportError as exc:  # pythia8mc / fastjet / awkward are the optional `gen` extra
        raise JetFileError(
            f"gen-data needs the generator packages: pip install 'nanotrig[gen]' ({exc})"
        ) from exc
    sizes = {"train": args.train, "valid": args.val, "test": args.test}
    for name, n in sizes.items():
        if n < 0:
            raise JetFileError(f"--{name} must be >= 0, got {n}")
    if not any(sizes.values()):
        raise JetFileError("nothing to generate: give --train, --val and/or --test")
    if not 0 <= args.pthat_min < args.pthat_max:
        raise JetFileError(f"--pthat-min {args.pthat_min} must be below --pthat-max {args.pthat_max}")
    settings = GenSettings(pthat_min=args.pthat_min, pthat_max=args.pthat_max, smear=args.smear)
    result = generate(
        args.out,
        sizes,
        settings,
        seed=args.seed,
        shard_jets=args.shard_jets,
        progress=not args.json,
        cluster=cluster_spec(args),
        log=lambda s: print(s, file=sys.stderr),
    )
    result["files"] = [str(p) for p in result["files"]]
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        rate = result["jets_per_second_per_core"]
        print(
            f"wrote {', '.join(result['files'])}; generated {result['jets_generated']} jets in "
            f"{result['wall_seconds']:.0f} s on {result['workers']} workers"
            + (f" ({rate:.1f} jets/s/core)" if rate else "")
            + (f"; {result['shards_skipped']} finished shards reused" if result["shards_skipped"] else "")
        )
    sys.stdout.flush()
    return 0
