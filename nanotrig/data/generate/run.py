"""gen-data: plan seeded shards, run the missing ones in parallel, merge them into train/valid/test.

Every shard has its own seed derived from (seed, split, process, shard number), so the result does
not depend on the number of workers, and finished shards are files that a re-run skips.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import queue
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from nanotrig.data.generate.settings import PROCESSES, GenSettings
from nanotrig.data.generate.shard import ShardSpec, run_shard
from nanotrig.data.io import JetWriter, read_attrs, read_jets
from nanotrig.data.jets import JetFileError, concatenate

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


_progress_queue: mp.Queue | None = None


def _init_worker(q: mp.Queue) -> None:
    global _progress_queue
    _progress_queue = q


def _work(args: tuple[ShardSpec, GenSettings, Path]) -> dict:
    spec, settings, path = args
    q = _progress_queue
    return run_shard(spec, settings, path, progress=None if q is None else q.put)


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
    workers: int | None = None,
    shard_jets: int = 1000,
    progress: bool = True,
) -> dict:
    """Makes ``out/{train,valid,test}.h5`` (balanced, shuffled with the seed); returns bookkeeping."""
    out = Path(out)
    if shard_jets < 1:
        raise JetFileError(f"shard size must be positive, got {shard_jets}")
    _check_settings(
        out, {"settings": settings.to_dict(), "seed": seed, "sizes": sizes, "shard_jets": shard_jets}
    )
    shard_dir = out / "shards"
    shard_dir.mkdir(exist_ok=True)
    specs = plan(sizes, seed, shard_jets)
    todo = [s for s in specs if not (shard_dir / s.name).exists()]
    done_jets = sum(s.n_jets for s in specs) - sum(s.n_jets for s in todo)
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    t0 = time.perf_counter()
    infos: list[dict] = []
    with tqdm(
        total=sum(s.n_jets for s in specs),
        initial=done_jets,
        unit="jet",
        desc="generating",
        disable=not progress,
    ) as bar:
        jobs = [(s, settings, shard_dir / s.name) for s in todo]
        if workers == 1:
            for job in jobs:
                infos.append(run_shard(*job, progress=bar.update))
        elif jobs:
            ctx = mp.get_context("spawn")  # Pythia and FastJet hold global state: fresh processes
            q = ctx.Queue()
            with ctx.Pool(workers, initializer=_init_worker, initargs=(q,)) as pool:
                pending = pool.imap_unordered(_work, jobs)
                finished = 0
                while finished < len(jobs):
                    try:
                        infos.append(pending.next(timeout=0.5))
                        finished += 1
                    except mp.TimeoutError:
                        pass
                    try:
                        while True:
                            bar.update(q.get_nowait())
                    except queue.Empty:
                        pass
    wall = time.perf_counter() - t0
    merged = merge(out, specs, settings, seed)
    made = sum(i["n_jets"] for i in infos)
    cpu = sum(i["cpu_seconds"] for i in infos)
    return {
        "files": merged,
        "jets_generated": made,
        "wall_seconds": wall,
        "workers": workers,
        "jets_per_second_per_core": made / cpu if cpu else None,
        "shards_skipped": len(specs) - len(todo),
    }


def merge(out: Path, specs: list[ShardSpec], settings: GenSettings, seed: int) -> list[Path]:
    """Concatenates each split's shards, shuffles them with a seeded permutation and writes the file."""
    written = []
    for s_idx, split in enumerate(SPLITS):
        parts = [s for s in specs if s.split == split]
        if not parts:
            continue
        shard_paths = [out / "shards" / s.name for s in parts]
        jets = concatenate([read_jets(p) for p in shard_paths], source=split)
        infos = [read_attrs(p) for p in shard_paths]
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
