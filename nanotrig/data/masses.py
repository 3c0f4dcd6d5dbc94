"""The massless convention, checked on the constituents a jet file holds.

nanotrig's float model, canonical form and firmware take constituents as massless: d_ii = 0.
The PELICAN-nano reference code computes d_ii = m_i^2 = E^2 - |p|^2. The two agree on the Top
Quark Tagging Reference Dataset, whose constituents are massless to float precision; on files
whose constituents keep hadron masses (this project's Pythia stand-in: pions, kaons, protons)
a model imported from the reference scores slightly differently from how the reference would.

A constituent counts as massive when |m^2| > ``RELATIVE_LIMIT`` E^2: m^2 of a massless
constituent whose E, px, py, pz were each rounded to float32 is at most 2 eps32 E^2, so the
limit sits well above float rounding. Each file is reported once per process (keyed by path,
size and modification time), with the largest |m^2| and where it is.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RELATIVE_LIMIT = 32 * float(np.finfo(np.float32).eps)  # ~3.8e-6; float32 rounding gives <= 2 eps
_reported: set[tuple[str, int, int]] = set()


class MassiveConstituentsWarning(UserWarning):
    """A jet file whose constituents carry masses that nanotrig's d_ii = 0 convention ignores."""


@dataclass
class MassScan:
    """The largest |m^2| over the rows seen so far, where it is, and how many are massive."""

    m2: float = 0.0
    row: int = -1
    constituent: int = -1
    energy: float = 0.0
    massive: int = 0
    valid: int = 0

    def update(self, pmu: np.ndarray, start: int) -> None:
        """``pmu`` (rows, slots, 4) as stored, rows ``start``.. of the file."""
        p = np.asarray(pmu, dtype=np.float64)
        e = p[..., 0]
        m2 = e * e - np.sum(p[..., 1:] ** 2, axis=-1)
        present = e > 0
        big = present & (np.abs(m2) > RELATIVE_LIMIT * e * e)
        self.valid += int(present.sum())
        self.massive += int(big.sum())
        if big.any():
            r, c = np.unravel_index(int(np.argmax(np.where(big, np.abs(m2), -1.0))), m2.shape)
            if abs(m2[r, c]) > abs(self.m2):
                self.m2, self.row, self.constituent = float(m2[r, c]), start + int(r), int(c)
                self.energy = float(e[r, c])


def report_masses(path: str | Path, scan: MassScan, where: str, complete: bool = True) -> None:
    """Warn once per file when ``scan`` found massive constituents; ``where`` names the largest."""
    if not scan.massive:
        return
    p = Path(path)
    try:
        st = p.stat()
        key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    except OSError:
        key = (str(p), -1, -1)
    if key in _reported:
        return
    _reported.add(key)
    rows = "" if complete else " (in the rows read)"
    warnings.warn(
        f"{p}: {scan.massive} of {scan.valid} constituents{rows} carry mass beyond float rounding "
        f"(|m^2| > {RELATIVE_LIMIT:.1e} E^2); the largest, m^2 = {scan.m2:.4g} GeV^2 at E = "
        f"{scan.energy:.4g} GeV, is {where}. nanotrig treats constituents as massless (d_ii = 0 "
        "in the float model, the canonical form and the firmware alike, so their scores agree); "
        "the PELICAN-nano reference uses d_ii = m_i^2, so a model imported from it scores these jets "
        "slightly differently from the reference (stand-in, c2's weights: mean |dw| 0.006, max 0.03; "
        "docs/model.md)",
        MassiveConstituentsWarning,
        stacklevel=4,  # report_masses <- io._report <- read_jets / iter_jets <- the caller
    )
