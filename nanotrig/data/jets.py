"""The in-memory jet batch every stage works on, and the error a bad jet file raises."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nanotrig.errors import NanotrigError

COMPONENTS = ("energy", "px", "py", "pz")


class JetFileError(NanotrigError, ValueError):
    """A jet file that cannot be used; the message names the file, the field and the row or value."""


@dataclass
class Jets:
    """A batch of jets in the converted layout.

    ``pmu`` (n, N, 4) float32 E, px, py, pz in GeV, leading pT first, zero-padded (valid iff E > 0);
    ``nobj`` counts the constituents each jet has in the file, before any truncation to N.
    ``ptetaphi`` (n, N, 3) float64 pT [GeV], eta, phi [rad]: set when the file holds Level-1
    candidates (the PUPPI layout); ``pmu`` then holds their massless four-momenta.
    """

    pmu: np.ndarray
    nobj: np.ndarray
    is_signal: np.ndarray
    truth_pmu: np.ndarray | None
    source: str
    n_truncated: int = 0
    ptetaphi: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.pmu.shape[0])

    @property
    def n_constituents(self) -> int:
        return int(self.pmu.shape[1])

    def subset(self, index: np.ndarray | slice) -> Jets:
        """The jets selected by ``index`` (a slice, integer or boolean array); counts recomputed."""
        nobj = self.nobj[index]
        return Jets(
            pmu=self.pmu[index],
            nobj=nobj,
            is_signal=self.is_signal[index],
            truth_pmu=None if self.truth_pmu is None else self.truth_pmu[index],
            source=self.source,
            n_truncated=int(np.count_nonzero(nobj > self.n_constituents)),
            ptetaphi=None if self.ptetaphi is None else self.ptetaphi[index],
        )


def concatenate(parts: list[Jets], source: str | None = None) -> Jets:
    """Jets of several batches in order; they must share N. truth_pmu is kept only if all have it."""
    if not parts:
        raise ValueError("concatenate needs at least one batch of jets")
    widths = {p.n_constituents for p in parts}
    if len(widths) != 1:
        raise ValueError(f"cannot concatenate jets with different N: {sorted(widths)}")
    truths = [p.truth_pmu for p in parts]
    candidates = [p.ptetaphi for p in parts]
    return Jets(
        pmu=np.concatenate([p.pmu for p in parts]),
        nobj=np.concatenate([p.nobj for p in parts]),
        is_signal=np.concatenate([p.is_signal for p in parts]),
        truth_pmu=None if any(t is None for t in truths) else np.concatenate(truths),
        source=source if source is not None else parts[0].source,
        n_truncated=sum(p.n_truncated for p in parts),
        ptetaphi=None if any(c is None for c in candidates) else np.concatenate(candidates),
    )


def transverse_momentum(pmu: np.ndarray) -> np.ndarray:
    """pT = sqrt(px^2 + py^2) in float64, any leading shape."""
    px = pmu[..., 1].astype(np.float64)
    py = pmu[..., 2].astype(np.float64)
    return np.hypot(px, py)


def sort_and_truncate(
    pmu: np.ndarray, n_keep: int | None, extra: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray | None]:
    """Puts valid constituents first in decreasing pT and keeps the leading ``n_keep`` (zero-padding
    if the file has fewer slots). Returns (pmu float32, constituents per jet, rows re-sorted, and
    ``extra`` (n, slots, k), per-constituent data ordered and cut the same way).

    Rows already sorted (within float32 rounding of the generator's pT) keep their order exactly.
    """
    valid = pmu[..., 0] > 0
    key = np.where(valid, transverse_momentum(pmu), -1.0)
    # a later constituent with more pT than its predecessor, beyond rounding, or padding before data
    out_of_order = key[:, 1:] - key[:, :-1] > 1e-5 * np.abs(key[:, :-1]) + 1e-6
    bad_rows = np.flatnonzero(out_of_order.any(axis=1))
    if bad_rows.size:
        pmu = pmu.copy()
        order = np.argsort(-key[bad_rows], axis=1, kind="stable")
        pmu[bad_rows] = np.take_along_axis(pmu[bad_rows], order[..., None], axis=1)
        if extra is not None:
            extra = extra.copy()
            extra[bad_rows] = np.take_along_axis(extra[bad_rows], order[..., None], axis=1)
    count = valid.sum(axis=1).astype(np.int32)
    pmu = _keep(pmu, n_keep)
    extra = None if extra is None else _keep(extra, n_keep)
    return np.ascontiguousarray(pmu, dtype=np.float32), count, int(bad_rows.size), extra


def _keep(a: np.ndarray, n_keep: int | None) -> np.ndarray:
    """The first ``n_keep`` constituent slots, zero-padded when there are fewer."""
    width = a.shape[1]
    if n_keep is None or n_keep == width:
        return a
    if n_keep < width:
        return a[:, :n_keep]
    return np.concatenate([a, np.zeros((a.shape[0], n_keep - width, a.shape[2]), dtype=a.dtype)], axis=1)
