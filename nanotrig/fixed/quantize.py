"""Float GeV 4-momenta -> the exact input words the firmware receives (never silently).

Jets keep their N leading-pT constituents (jets with more are counted); each component becomes
a word exactly as ``input_t(double)`` does in ap_fixed, with the input type's own modes: AP_RND
rounds half up (floor(x / lsb + 1/2)), AP_TRN floors; AP_SAT / AP_SAT_SYM clip, AP_WRAP keeps the
low W bits. The default input type is AP_RND + AP_SAT, so hls4ml's ``predict()`` (which converts
doubles to ``input_t``) gives the words the emulator uses. Values outside the type's range are
counted (``clipped``, whatever the overflow mode did with them). Words of absent constituents
(E <= 0) are passed on as they are: the kernel ignores them, as the firmware does.
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
    clipped: int  # components outside the input type's range (clipped, or wrapped under AP_WRAP)
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
    scaled = p / input_type.lsb  # exact: the LSB is a power of two
    raw = np.floor(scaled)
    if input_type.rounding == "AP_RND":  # half up; x - floor(x) is exact, x + 0.5 need not be
        raw = raw + (scaled - raw >= 0.5)
    lo, hi = input_type.min_int, input_type.max_int
    bad = (raw < lo) | (raw > hi)
    if input_type.overflow == "AP_WRAP":
        span = 2**input_type.width
        # bound first so that the float64 modulo stays exact (|raw| < 2**53)
        raw = np.mod(np.clip(raw, -(2.0**52), 2.0**52) - lo, span) + lo
    words = np.clip(raw, lo, hi).astype(np.int64)
    return QuantizedInputs(words, input_type.lsb, int(bad.sum()), truncated)
