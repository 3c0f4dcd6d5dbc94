"""One shard: a seeded Pythia run that makes exactly ``n_jets`` selected jets of one process and
writes them to their own file. Its result depends only on its seed and the settings."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nanotrig.data.generate.settings import GenSettings
from nanotrig.data.io import write_jets
from nanotrig.data.jets import Jets


@dataclass(frozen=True)
class ShardSpec:
    split: str
    process: str
    index: int
    n_jets: int
    seed: int  # Pythia's seed; the smearing uses a numpy stream derived from it

    @property
    def name(self) -> str:
        return f"{self.split}-{self.process}-{self.index:04d}.h5"


class _Charges:
    """Particle charges from Pythia's particle table, cached by id."""

    def __init__(self, particle_data: object):
        self.data, self.cache = particle_data, {}

    def __call__(self, pid: np.ndarray) -> np.ndarray:
        unique, inverse = np.unique(pid, return_inverse=True)
        values = [self.cache.setdefault(int(x), self.data.charge(int(x))) for x in unique]
        return np.asarray(values, dtype=np.float64)[inverse]


@contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Pythia and FastJet print banners on the C-level stdout; the progress bar and --json output
    must not be interleaved with them."""
    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def make_pythia(settings: GenSettings, process: str, seed: int) -> object:
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in settings.pythia_lines(process, seed):
        if not pythia.readString(line):
            raise RuntimeError(f"Pythia rejected setting {line!r}")
    if not pythia.init():
        raise RuntimeError(f"Pythia failed to initialise for {process} (seed {seed})")
    return pythia


def run_shard(
    spec: ShardSpec, settings: GenSettings, path: Path, progress: Callable[[int], None] | None = None
) -> dict:
    """Generates the shard and writes it (atomically) to ``path``; returns its bookkeeping."""
    from nanotrig.data.generate.select import select_jets

    t0, cpu0 = time.perf_counter(), time.process_time()
    with _quiet_stdout():
        pythia = make_pythia(settings, spec.process, spec.seed)
    charges = _Charges(pythia.particleData)
    rng = np.random.default_rng(spec.seed)
    pmu_parts, truth_parts, have, n_events = [], [], 0, 0
    while have < spec.n_jets:
        with _quiet_stdout():
            batch = pythia.nextBatch(settings.batch_events)
            pmu, truth = select_jets(batch, spec.process, settings, rng, charges)
        n_events += len(batch)
        take = min(len(pmu), spec.n_jets - have)
        pmu_parts.append(pmu[:take])
        truth_parts.append(truth[:take])
        have += take
        if progress is not None and take:
            progress(take)
    pmu = np.concatenate(pmu_parts)
    jets = Jets(
        pmu=pmu,
        nobj=np.count_nonzero(pmu[..., 0] > 0, axis=1).astype(np.int32),
        is_signal=np.full(len(pmu), spec.process == "top", dtype=np.int8),
        truth_pmu=np.concatenate(truth_parts),
        source=str(path),
    )
    info = {
        "split": spec.split,
        "process": spec.process,
        "index": spec.index,
        "seed": spec.seed,
        "n_jets": spec.n_jets,
        "n_events": n_events,
        "seconds": time.perf_counter() - t0,
        # CPU time of this process: the per-core rate even when the machine is shared
        "cpu_seconds": time.process_time() - cpu0,
        "settings": settings.to_dict(),
    }
    write_jets(path, jets, attrs=info)
    return info
