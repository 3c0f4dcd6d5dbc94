"""The W inside a top jet: recluster the constituents into three exclusive kT subjets and take the
smallest pairwise mass (two of the three come from the W, so it peaks near 80 GeV for top jets).

Needs FastJet (the ``gen`` extra); without it the report simply leaves this quantity out.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from nanotrig.data.kinematics import mass


def available() -> bool:
    try:
        import awkward  # noqa: F401
        import fastjet  # noqa: F401
    except ImportError:
        return False
    return True


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """FastJet prints its banner on the C stdout at first use; keep stdout clean for --json."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def min_pair_mass(pmu: np.ndarray) -> np.ndarray:
    """(n,) smallest pairwise mass of the three exclusive kT subjets; NaN for jets with < 3 constituents."""
    import awkward as ak
    import fastjet

    valid = pmu[..., 0] > 0
    counts = valid.sum(axis=1)
    out = np.full(pmu.shape[0], np.nan)
    rows = np.flatnonzero(counts >= 3)
    if rows.size == 0:
        return out
    flat = pmu[rows][valid[rows]].astype(np.float64)
    particles = ak.unflatten(
        ak.zip({"px": flat[:, 1], "py": flat[:, 2], "pz": flat[:, 3], "E": flat[:, 0]}), counts[rows]
    )
    with warnings.catch_warnings(), _stdout_to_stderr():
        # the awkward interface warns about exclusive jets for any algorithm, kT included
        warnings.simplefilter("ignore", UserWarning)
        sequence = fastjet.ClusterSequence(particles, fastjet.JetDefinition(fastjet.kt_algorithm, 0.8))
        subjets = sequence.exclusive_jets(3)
    p = np.stack([ak.to_numpy(subjets[c]) for c in ("E", "px", "py", "pz")], axis=-1)  # (m, 3, 4)
    pairs = np.stack([mass(p[:, a] + p[:, b]) for a, b in ((0, 1), (0, 2), (1, 2))], axis=1)
    out[rows] = pairs.min(axis=1)
    return out
