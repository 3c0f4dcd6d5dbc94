"""Commands of the model stage: train, eval, predict, import-pelican."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from nanotrig.engine.cluster import add_cluster_arguments, cluster_spec
from nanotrig.errors import NanotrigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a nanoPELICAN (resumable; writes runs/<name>/)")
    p.add_argument("--data", required=True, help="training jets (.h5, either layout)")
    p.add_argument("--valid", required=True, help="validation jets, for the best-epoch choice")
    p.add_argument("--test", help="test jets: metrics recorded in the canonical JSON")
    p.add_argument("--name", help="model name (default c<hidden>[n])")
    p.add_argument("--out", help="run directory (default runs/<name>)")
    p.add_argument("--hidden", type=int, default=2, help="hidden channels C (default 2)")
    p.add_argument("--n-constituents", type=int, default=20, help="constituents N per jet (default 20)")
    p.add_argument("--nobj-avg", type=float, default=49.0, help="N-bar of the aggregators (default 49)")
    p.add_argument("--scale", type=float, default=1.0, help="input momentum scale (default 1)")
    p.add_argument("--no-beams", action="store_true", help="do not prepend the two beam particles")
    p.add_argument("--nalpha", action="store_true", help="the N^alpha variant (paper Table 2)")
    p.add_argument("--dropout", type=float, default=0.01)
    p.add_argument("--epochs", type=int, default=140, help="total epochs incl. 4 warm-up (default 140)")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--lr-init", type=float, default=0.01)
    p.add_argument("--lr-final", type=float, default=1e-6)
    p.add_argument("--warmup", type=int, default=4, help="linear warm-up epochs (default 4)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="AdamW decoupled weight decay (default 0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-train", type=int, default=-1, help="use only the first N training jets")
    p.add_argument("--n-valid", type=int, default=-1, help="use only the first N validation jets")
    p.add_argument("--init-from", help="start from the weights of this .keras (same C and variant, any N)")
    p.add_argument(
        "--seeds",
        help="train one model per seed, e.g. 1-25 (each a task on Dask, in OUT/seed<k>/); the result is "
        "the lowest-validation-loss model, with a table over the best --keep seeds",
    )
    p.add_argument("--keep", type=int, default=5, help="seeds the --seeds table averages over (default 5)")
    add_cluster_arguments(p)  # where --seeds trainings run
    p.add_argument("--screen-seeds", help="e.g. 1-25: each seed --screen-epochs, then the best one fully")
    p.add_argument("--screen-epochs", type=int, default=9, help="epochs per screened seed (default 9)")
    p.set_defaults(func=_train)

    p = sub.add_parser("eval", help="accuracy, AUC, 1/eps_B at 30%% and 50%% signal efficiency")
    p.add_argument("model", help="shipped name (c2), .keras, canonical .json or .pt checkpoint")
    p.add_argument("--data", required=True, help="jets with labels (.h5)")
    p.add_argument("--n", type=int, default=-1, help="first N jets only")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--roc", help="write a ROC plot to this PNG (numbers next to it as JSON)")
    p.set_defaults(func=_eval)

    p = sub.add_parser("predict", help="write one score w per jet (float64, file order) to .npy")
    p.add_argument("model", help="shipped name (c2), .keras, canonical .json or .pt checkpoint")
    p.add_argument("--data", required=True, help="jets (.h5)")
    p.add_argument("--n", type=int, default=-1, help="first N jets only")
    p.add_argument("--out", required=True, help="output .npy")
    p.add_argument("--fixed", action="store_true", help="bit-accurate fixed-point emulator scores")
    p.add_argument(
        "--inputs",
        choices=("cartesian", "puppi"),
        default="cartesian",
        help="with --fixed: the firmware's input words (Cartesian, or Level-1 PUPPI pT, eta, phi)",
    )
    p.set_defaults(func=_predict)

    p = sub.add_parser("import-pelican", help="import a PELICAN-nano PyTorch checkpoint (needs torch)")
    p.add_argument("checkpoint", help="the reference code's .pt checkpoint")
    p.add_argument("--out", help="canonical JSON to write (default <checkpoint stem>.json)")
    p.add_argument("--n-constituents", type=int, help="N when the checkpoint's args do not say (nobj)")
    p.set_defaults(func=_import)


def _train(args: argparse.Namespace) -> int:
    from nanotrig.model.train import TrainConfig, train

    name = args.name or f"c{args.hidden}{'n' if args.nalpha else ''}"
    if args.warmup < 0:
        raise NanotrigError(f"--warmup must be >= 0, got {args.warmup}")
    for flag in ("epochs", "batch_size", "hidden", "n_constituents"):
        if getattr(args, flag) < 1:
            raise NanotrigError(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    for f in (args.data, args.valid, args.test):
        if f and not Path(f).exists():
            raise NanotrigError(f"{f}: no such file")
    cfg = TrainConfig(
        name=name,
        train=args.data,
        valid=args.valid,
        test=args.test,
        out_dir=args.out or "",
        n_hidden=args.hidden,
        n_constituents=args.n_constituents,
        nobj_avg=args.nobj_avg,
        scale=args.scale,
        beams=not args.no_beams,
        nalpha=args.nalpha,
        dropout=args.dropout,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr_init=args.lr_init,
        lr_final=args.lr_final,
        warmup=args.warmup,
        weight_decay=args.weight_decay,
        seed=args.seed,
        n_train=args.n_train,
        n_valid=args.n_valid,
        init_from=args.init_from,
    )
    if args.seeds:
        from nanotrig.model.ensemble import parse_seeds, run_ensemble

        seeds = parse_seeds(args.seeds)
        out = Path(args.out or f"runs/{name}")
        table = run_ensemble(
            cfg, seeds, args.keep, out, cluster_spec(args), log=lambda s: print(s, file=sys.stderr)
        )
        print((out / "ensemble.md").read_text())
        print(json.dumps({"canonical": table["result"]["canonical"], "best": table["best"]["seed"]}))
        return 0
    if args.screen_seeds:
        from nanotrig.model.ensemble import parse_seeds
        from nanotrig.model.train import train_screened

        seeds = parse_seeds(args.screen_seeds)
        result = train_screened(cfg, seeds, args.screen_epochs, log=lambda s: print(s, file=sys.stderr))
    else:
        result = train(cfg, log=lambda s: print(s, file=sys.stderr))
    print(json.dumps(result))
    return 0


def _scores(model_spec: str, pmu: np.ndarray) -> np.ndarray:
    """Float scores: Keras directly for a .keras file, the canonical evaluator otherwise."""
    if str(model_spec).endswith(".keras"):
        import keras

        import nanotrig.model.layers  # noqa: F401  (registers the layers)
        from nanotrig.model.layers import with_dtype
        from nanotrig.model.train import predict_scores

        if not Path(model_spec).exists():
            raise NanotrigError(f"{model_spec}: no such file")
        model = with_dtype(keras.saving.load_model(model_spec, compile=False), "float64")
        n = model.input_shape[1]
        return predict_scores(model, _fit_width(pmu, n).astype(np.float64))
    from nanotrig.model.scoring import canonical_scores
    from nanotrig.models import resolve_model

    return canonical_scores(resolve_model(model_spec), pmu)


def _fit_width(pmu: np.ndarray, n: int) -> np.ndarray:
    if pmu.shape[1] >= n:
        return pmu[:, :n]
    return np.concatenate([pmu, np.zeros((pmu.shape[0], n - pmu.shape[1], 4), pmu.dtype)], axis=1)


def _read(path: str, n: int, n_constituents: int | None = None):  # noqa: ANN202
    from nanotrig.data import read_jets

    if not Path(path).exists():
        raise NanotrigError(f"{path}: no such file")
    return read_jets(path, n_constituents=n_constituents, stop=None if n < 0 else n)


def _n_of(model_spec: str) -> int | None:
    if str(model_spec).endswith(".keras"):
        return None
    from nanotrig.models import resolve_model

    return resolve_model(model_spec).n_constituents


def _eval(args: argparse.Namespace) -> int:
    from nanotrig import metrics

    jets = _read(args.data, args.n, _n_of(args.model))
    w = _scores(args.model, jets.pmu)
    summary = {"model": args.model, "data": args.data, **metrics.summary(jets.is_signal, w)}
    if args.roc:
        from nanotrig.model.plots import roc_plot

        roc_plot({args.model: (jets.is_signal, w)}, args.roc)
        summary["roc_png"] = args.roc
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(
            f"{args.model} on {args.data} ({summary['jets']} jets): accuracy {summary['accuracy']:.4f}  "
            f"AUC {summary['auc']:.4f}  1/eps_B@30% {summary['rejection_30']:.1f}  "
            f"1/eps_B@50% {summary['rejection_50']:.1f}"
        )
    return 0


def _predict(args: argparse.Namespace) -> int:
    jets = _read(args.data, args.n, _n_of(args.model))
    if args.fixed:
        from nanotrig.fixed import emulate_scores
        from nanotrig.models import resolve_model

        model = resolve_model(args.model)
        w = np.asarray(emulate_scores(model, jets.pmu, args.inputs, jets.ptetaphi), dtype=np.float64)
    else:
        w = _scores(args.model, jets.pmu)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, w.astype(np.float64))
    print(f"wrote {len(w)} scores to {out}", file=sys.stderr)
    return 0


def _import(args: argparse.Namespace) -> int:
    from nanotrig.model.pelican_import import MASSLESS_NOTE, import_checkpoint

    canon = import_checkpoint(args.checkpoint, n_constituents=args.n_constituents)
    out = Path(args.out or Path(args.checkpoint).with_suffix(".json").name)
    canon.save(out)
    print(f"wrote {out} (C = {canon.n_hidden}, N = {canon.n_constituents}, {canon.variant})", file=sys.stderr)
    print(MASSLESS_NOTE, file=sys.stderr)
    return 0
