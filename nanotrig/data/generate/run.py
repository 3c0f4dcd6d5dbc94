"""gen-data: plan seeded shards, run the missing ones on the engine, merge them into train/valid/test.

Every shard has its own seed derived from (seed, split, process, shard number), so the result does
not depend on the cluster or the number of workers, and finished shards are stored files (keyed
by spec, settings and generator version) that a re-run skips.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from nanotrig.data.generate.settings import PROCESSES, GenSettings
from nanotrig.data.generate.shard import ShardSpec, run_shard
from nanotrig.data.io import JetWriter, read_jets
from nanotrig.data.jets import JetFileError, concatenate
from nanotrig.engine import ClusterSpec, Engine, Task, TaskStore, fan_out, make_task

SPLITS = ("train", "valid", "test")
SETTINGS_FILE = "gen-settings.json"


def plan(sizes: dict[str, int], seed: int, shard_jets: int) -> list[ShardSpec]:
    """Shards of at most ``shard_jets`` jets; each split is half top, half QCD (top gets the odd one)."""
    specs = []
    for s_idx, split in enumerate(SPLITS):
        total = sizes.get(split, 0)
        per_process = {"top": total - total // 2, "qcd": total // 2}
        for p_idx, process in enumerate(PROCESSES):
            n, k = per_process[process], 0
            while n > 0:
                take = min(n, shard_jets)
                # a seed of its own per shard, independent of how work is spread over workers
                state = np.random.SeedSequence([seed, s_idx, p_idx, k]).generate_state(1)[0]
                specs.append(ShardSpec(split, process, k, take, int(state % 900_000_000) + 1))
                n, k = n - take, k + 1
    return specs


# bump when a shard made from the same spec and settings would differ (generator code changes)
SHARD_VERSION = 1


def make_shard(spec: dict, settings: dict) -> dict:
    """One shard, run on a worker: generated into a private temporary file whose bytes go back to
    the client, which stores them (no filesystem shared with the workers needed)."""
    shard, cfg = ShardSpec(**spec), GenSettings(**settings)
    with tempfile.TemporaryDirectory(prefix="nanotrig-shard-") as tmp:
        path = Path(tmp) / shard.name
        info = run_shard(shard, cfg, path)
        return {"info": info, "files": {"h5": path.read_bytes()}}


def shard_tasks(specs: list[ShardSpec], settings: GenSettings) -> list[Task]:
    return [
        make_task(
            make_shard,
            s.name.removesuffix(".h5"),
            {"spec": asdict(s), "settings": settings.to_dict()},
            SHARD_VERSION,
            weight=s.n_jets,
        )
        for s in specs
    ]


def _check_settings(out: Path, record: dict) -> None:
    path = out / SETTINGS_FILE
    if path.exists():
        old = json.loads(path.read_text())
        if old != record:
            changed = sorted(k for k in set(old) | set(record) if old.get(k) != record.get(k))
            raise JetFileError(
                f"{path}: {out} was generated with other settings ({', '.join(changed)} differ); "
                "use a new --out directory or delete the old one"
            )
    else:
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=1))


def generate(
    out: str | Path,
    sizes: dict[str, int],
    settings: GenSettings,
    seed: int = 1,
    shard_jets: int = 1000,
    progress: bool = True,
    cluster: ClusterSpec | None = None,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Makes ``out/{train,valid,test}.h5`` (balanced, shuffled with the seed); returns bookkeeping.

    Each shard is one task on the engine (``cluster``: default an embedded local cluster);
    finished shards live in ``out/shards`` under their key and are never generated twice.
    """
    out = Path(out)
    if shard_jets < 1:
        raise JetFileError(f"shard size must be positive, got {shard_jets}")
    _check_settings(
        out, {"settings": settings.to_dict(), "seed": seed, "sizes": sizes, "shard_jets": shard_jets}
    )
    specs = plan(sizes, seed, shard_jets)
    tasks = shard_tasks(specs, settings)
    store = TaskStore(out / "shards")
    with Engine(cluster, log) as engine:
        res = fan_out(engine, tasks, store, desc="generating", unit="jet", progress=progress)
        workers = engine.n_workers
        where = engine.describe
    infos = [r["info"] for r in res.results]
    paths = [store.root / r["files"]["h5"] for r in res.results]
    merged = merge(out, specs, paths, infos, settings, seed)
    made = res.ran_weight
    cpu = sum(i["cpu_seconds"] for i, fresh in zip(infos, res.fresh, strict=True) if fresh)
    return {
        "files": merged,
        "jets_generated": made,
        "wall_seconds": res.seconds,
        "workers": workers,
        "cluster": where,
        "jets_per_second_per_core": made / cpu if cpu else None,
        "shards_skipped": res.skipped,
    }


def merge(
    out: Path,
    specs: list[ShardSpec],
    paths: list[Path],
    shard_infos: list[dict],
    settings: GenSettings,
    seed: int,
) -> list[Path]:
    """Concatenates each split's shards (in plan order), shuffles them with a seeded permutation
    and writes the file."""
    written = []
    for s_idx, split in enumerate(SPLITS):
        picked = [i for i, s in enumerate(specs) if s.split == split]
        if not picked:
            continue
        parts = [specs[i] for i in picked]
        jets = concatenate([read_jets(paths[i]) for i in picked], source=split)
        infos = [shard_infos[i] for i in picked]
        order = np.random.default_rng([seed, s_idx, 99]).permutation(len(jets))
        jets = jets.subset(order)
        n_events = {p: sum(i["n_events"] for i in infos if i["process"] == p) for p in PROCESSES}
        attrs = {
            "source": settings.describe(),
            "settings": settings.to_dict(),
            "seed": seed,
            "split": split,
            "n_events": n_events,
            "shards": [s.name for s in parts],
            "generator_cpu_seconds": sum(i.get("cpu_seconds", 0.0) for i in infos),
        }
        path = out / f"{split}.h5"
        with JetWriter(path, jets.n_constituents, True, attrs) as writer:
            writer.append(jets)
        written.append(path)
    return written
