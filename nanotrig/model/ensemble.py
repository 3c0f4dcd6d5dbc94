"""Seed ensembles, the paper's protocol: one training per seed, the best by validation loss.

``nanotrig train ... --seeds 1-25 --keep 5`` trains every seed as one task on the engine, each
in its own run directory ``OUT/seed<k>/`` (resumable, because ``train`` is), ranks the seeds by
their best validation loss, and writes

* ``OUT/<name>.json`` and ``OUT/<name>.keras``: the lowest-validation-loss model, the result;
* ``OUT/ensemble.json`` and ``OUT/ensemble.md``: accuracy, AUC and 1/eps_B@30 % of every seed,
  mean +- standard deviation over the best ``--keep`` seeds and the single best, like the
  paper's Table 1 (measured on ``--test`` when given, else on ``--valid``).

The run directories must be on a filesystem the workers share (always true of the default local
cluster; on a batch cluster put ``--out`` on the shared home or project space).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from nanotrig.engine import ClusterSpec, Engine, Task, TaskStore, fan_out, make_task
from nanotrig.engine.store import atomic_copy
from nanotrig.errors import NanotrigError

# bump when a seed's result for the same inputs would differ
SEED_VERSION = 1
METRICS = (("accuracy", "accuracy", 4), ("auc", "AUC", 4), ("rejection_30", "1/εB @ 30 %", 1))


def parse_seeds(text: str) -> list[int]:
    """``1-25``, ``1,4,9`` or ``1-5,9``: distinct seeds, in the order given."""
    seeds: list[int] = []
    for part in str(text).split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m:
            raise NanotrigError(f"--seeds {text!r}: expected e.g. 1-25 or 1,4,9")
        lo, hi = int(m[1]), int(m[2] or m[1])
        if hi < lo:
            raise NanotrigError(f"--seeds {text!r}: range {lo}-{hi} runs backwards")
        seeds += [s for s in range(lo, hi + 1) if s not in seeds]
    return seeds


def _one_thread_per_worker() -> dict[str, int] | None:
    """On a Dask worker, TensorFlow (or torch) gets one intra- and one inter-op thread: the
    cluster runs one task per core. Returns the thread counts in force (None outside a worker)."""
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return None  # this process is the user's: leave its threads alone
    from nanotrig.engine.cluster import WORKER_ENV

    for k, v in WORKER_ENV.items():
        os.environ.setdefault(k, v)
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        with contextlib.suppress(RuntimeError):  # already fixed by an earlier task of this worker
            tf.config.threading.set_intra_op_parallelism_threads(1)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        return {
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        }
    if keras.backend.backend() == "torch":
        import torch

        torch.set_num_threads(1)
        return {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}
    return {}


def train_seed(config: dict[str, Any]) -> dict[str, Any]:
    """One seed's training (or its resumption) and its metrics; runs on a worker."""
    threads = _one_thread_per_worker()
    from nanotrig import metrics
    from nanotrig.canonical import CanonicalModel
    from nanotrig.data import read_jets
    from nanotrig.model.scoring import canonical_scores
    from nanotrig.model.train import TrainConfig, train

    cfg = TrainConfig(**config)
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    # the per-epoch bars of a worker would scramble the one bar of the client: into a file
    with (cfg.run_dir / "progress.txt").open("a") as bars, contextlib.redirect_stderr(bars):
        result = train(cfg, log=lambda s: None)  # train() writes its own log.txt
    state = json.loads((cfg.run_dir / "state.json").read_text())
    if cfg.test:
        measured, on = result["metrics"], cfg.test
    else:  # no test set given: the validation set, and the table says so
        jets = read_jets(cfg.valid, n_constituents=cfg.n_constituents)
        scores = canonical_scores(CanonicalModel.load(result["canonical"]), jets.pmu)
        measured, on = metrics.summary(jets.is_signal, scores), cfg.valid
    return {
        "seed": cfg.seed,
        "run_dir": str(cfg.run_dir),
        "canonical": result["canonical"],
        "keras": str(cfg.run_dir / f"{cfg.name}.keras"),
        "best_valid_loss": state["best_loss"],
        "best_epoch": state["best_epoch"],
        "epochs": state["epoch"],
        "metrics": {k: measured[k] for k in ("jets", "accuracy", "auc", "rejection_30", "rejection_50")},
        "metrics_on": str(on),
        "threads": threads,
    }


def plan_tasks(base: Any, seeds: list[int], out: Path) -> list[Task]:
    """One task per seed; paths absolute, so that every worker finds the same files."""
    files = [f for f in (base.train, base.valid, base.test) if f]
    tasks = []
    for seed in seeds:
        cfg = replace(
            base,
            seed=seed,
            out_dir=str((out / f"seed{seed}").resolve()),
            train=str(Path(base.train).resolve()),
            valid=str(Path(base.valid).resolve()),
            test=str(Path(base.test).resolve()) if base.test else None,
        )
        config = asdict(cfg)
        tasks.append(make_task(train_seed, f"seed{seed}", {"config": config}, SEED_VERSION, config, files))
    return tasks


def _mean_std(values: list[float]) -> tuple[float, float]:
    # the sample standard deviation over the kept seeds (0 for a single seed)
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def ensemble_table(name: str, runs: list[dict[str, Any]], keep: int) -> dict[str, Any]:
    """Seeds ranked by validation loss; mean and std over the best ``keep``; the single best."""
    ranked = sorted(runs, key=lambda r: r["best_valid_loss"])
    kept = ranked[:keep]
    summary = {}
    for key, _, _ in METRICS:
        mean, std = _mean_std([r["metrics"][key] for r in kept])
        summary[key] = {"mean": mean, "std": std}
    return {
        "model": name,
        "seeds": [r["seed"] for r in runs],
        "keep": keep,
        "kept_seeds": [r["seed"] for r in kept],
        "metrics_on": ranked[0]["metrics_on"],
        "best": {k: ranked[0][k] for k in ("seed", "best_valid_loss", "best_epoch", "metrics", "canonical")},
        "kept": summary,
        "ranked": [
            {k: r[k] for k in ("seed", "best_valid_loss", "best_epoch", "epochs", "metrics")} for r in ranked
        ],
    }


def table_markdown(t: dict[str, Any]) -> str:
    def cell(v: dict[str, float], digits: int) -> str:
        return f"{v['mean']:.{digits}f} ± {v['std']:.{digits}f}"

    best = t["best"]
    head = "| | " + " | ".join(label for _, label, _ in METRICS) + " |"
    lines = [
        f"# {t['model']}: {len(t['seeds'])} seeds, best {t['keep']} by validation loss",
        "",
        f"Measured on `{t['metrics_on']}`. Mean ± sample standard deviation over seeds "
        f"{', '.join(map(str, t['kept_seeds']))}; the single best is the lowest validation loss.",
        "",
        head,
        "|---|" + "---|" * len(METRICS),
        f"| best {t['keep']} of {len(t['seeds'])} (mean ± std) | "
        + " | ".join(cell(t["kept"][k], d) for k, _, d in METRICS)
        + " |",
        f"| single best (seed {best['seed']}, valid loss {best['best_valid_loss']:.4f}) | "
        + " | ".join(f"{best['metrics'][k]:.{d}f}" for k, _, d in METRICS)
        + " |",
        "",
        "| rank | seed | best epoch | valid loss | " + " | ".join(label for _, label, _ in METRICS) + " |",
        "|---|---|---|---|" + "---|" * len(METRICS),
    ]
    for i, r in enumerate(t["ranked"], 1):
        mark = " (kept)" if i <= t["keep"] else ""
        lines.append(
            f"| {i}{mark} | {r['seed']} | {r['best_epoch']} | {r['best_valid_loss']:.4f} | "
            + " | ".join(f"{r['metrics'][k]:.{d}f}" for k, _, d in METRICS)
            + " |"
        )
    return "\n".join(lines) + "\n"


def run_ensemble(
    base: Any,
    seeds: list[int],
    keep: int,
    out: Path,
    cluster: ClusterSpec | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train every seed (skipping finished ones), write the table and the best model into ``out``."""
    if not seeds:
        raise NanotrigError("--seeds: no seed given")
    if not 1 <= keep <= len(seeds):
        raise NanotrigError(f"--keep {keep}: must be between 1 and the {len(seeds)} seeds given")
    out = Path(out)
    tasks = plan_tasks(base, seeds, out)
    with Engine(cluster, log) as engine:
        res = fan_out(
            engine,
            tasks,
            TaskStore(out / "tasks"),
            desc=f"training {base.name}",
            unit="seed",
            progress=progress,
        )
        where = engine.describe
    table = ensemble_table(base.name, res.results, keep)
    best = table["best"]
    atomic_copy(Path(best["canonical"]), out / f"{base.name}.json")
    best_run = next(r for r in res.results if r["seed"] == best["seed"])
    atomic_copy(Path(best_run["keras"]), out / f"{base.name}.keras")
    table.update(
        cluster=where,
        seeds_trained=res.ran,
        seeds_reused=res.skipped,
        result={"canonical": str(out / f"{base.name}.json"), "keras": str(out / f"{base.name}.keras")},
        # what each worker's TensorFlow ran with (distinct settings; None: trained in this process)
        threads=[
            json.loads(x) for x in sorted({json.dumps(r["threads"], sort_keys=True) for r in res.results})
        ],
    )
    (out / "ensemble.json").write_text(json.dumps(table, indent=1) + "\n")
    (out / "ensemble.md").write_text(table_markdown(table))
    if log is not None:
        log(f"wrote {out / 'ensemble.md'}, {out / 'ensemble.json'} and the best model {out / base.name}.json")
    return table
