"""Float GeV 4-momenta -> the exact input words the firmware receives (never silently).

Jets keep their N leading-pT constituents (jets with more are counted); each component is
rounded to the nearest LSB and clipped to the input type (clipped values are counted). Words of absent
constituents (E <= 0) are passed on as they are: the kernel ignores them, as the firmware does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nanotrig.errors import NanotrigError
from nanotrig.fixed.types import FixedType


@dataclass
class QuantizedInputs:
    words: np.ndarray  # (B, N, 4) int64 raw words (value = word * lsb GeV)
    lsb: float
    clipped: int  # components outside the input type's range, clipped
    truncated: int  # jets with more than N constituents

    @property
    def values(self) -> np.ndarray:
        """The words as float64 GeV (exactly representable, for the C-simulation)."""
        return self.words.astype(np.float64) * self.lsb


def quantize_inputs(pmu: np.ndarray, input_type: FixedType, n_constituents: int) -> QuantizedInputs:
    pmu = np.asarray(pmu, dtype=np.float64)
    if pmu.ndim != 3 or pmu.shape[2] != 4:
        raise NanotrigError(f"jets must be an array (jets, constituents, 4), got shape {pmu.shape}")
    if not np.isfinite(pmu).all():
        raise NanotrigError("jets contain non-finite 4-momentum components")
    extra = pmu[:, n_constituents:, 0] > 0
    truncated = int(extra.any(axis=1).sum()) if extra.size else 0
    p = pmu[:, :n_constituents]
    if p.shape[1] < n_constituents:
        p = np.concatenate([p, np.zeros((p.shape[0], n_constituents - p.shape[1], 4))], axis=1)
    raw = np.floor(p / input_type.lsb + 0.5)
    bad = (raw < input_type.min_int) | (raw > input_type.max_int)
    words = np.clip(raw, input_type.min_int, input_type.max_int).astype(np.int64)
    return QuantizedInputs(words, input_type.lsb, int(bad.sum()), truncated)
