"""Float jets -> the exact input words the firmware receives (never silently).

Jets keep their N leading-pT constituents (jets with more are counted); each field becomes a
word exactly as ``input_t(double)`` does in ap_fixed, with the word type's own modes: AP_RND
rounds half up (floor(x / lsb + 1/2)), AP_TRN floors; AP_SAT / AP_SAT_SYM clip, AP_WRAP keeps the
low W bits. The default word types are AP_RND + AP_SAT, so hls4ml's ``predict()`` (which converts
doubles to the input types) gives the words the emulator uses. Values outside a type's range are
counted (``clipped``, whatever the overflow mode did with them).

- Cartesian mode: the words are (E, px, py, pz) of type ``input``. Words of absent constituents
  (E <= 0) are passed on as they are: the kernel ignores them, as the firmware does.
- PUPPI mode: the words are (pT, eta, phi) of types ``input_pt``, ``input_eta``, ``input_phi``, the
  angles in units of pi/720 (CMS Phase-2 PUPPI); phi is wrapped into (-720, 720] first. Absent
  constituents are all-zero words. A constituent whose pT rounds to 0 becomes absent: counted
  as ``lost``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nanotrig.data.kinematics import pt_eta_phi
from nanotrig.errors import NanotrigError
from nanotrig.fixed.kernel import ANGLE_STEP, PHI_HALF_TURN
from nanotrig.fixed.types import FixedType


@dataclass
class QuantizedInputs:
    words: np.ndarray  # (B, N, F) int64 raw words, one column per input field
    lsbs: tuple[float, ...]  # value per LSB of each field (GeV, or angle units for eta/phi)
    clipped: int  # field values outside their word type's range (clipped, or wrapped under AP_WRAP)
    truncated: int  # jets with more than N constituents
    lost: int = 0  # PUPPI: constituents whose pT rounded to 0 (absent in the firmware)
    mode: str = "cartesian"

    @property
    def lsb(self) -> float:
        """LSB of the first field (E, or pT)."""
        return self.lsbs[0]

    @property
    def values(self) -> np.ndarray:
        """The words as float64 values (exactly representable, for the C-simulation)."""
        return self.words.astype(np.float64) * np.asarray(self.lsbs)

    def port_words(self) -> np.ndarray:
        """(B, words) raw int64 words in the top function's port order (see ``port_values``)."""
        w = self.words.transpose(0, 2, 1) if self.mode == "puppi" else self.words
        return np.ascontiguousarray(w.reshape(len(w), -1))

    def port_values(self) -> np.ndarray:
        """(B, words) float64 in the top function's port order: jet[4k + c] (Cartesian), or all
        pT, then all eta, then all phi (PUPPI: one port per field)."""
        v = self.values
        if self.mode == "puppi":
            v = v.transpose(0, 2, 1)
        return np.ascontiguousarray(v.reshape(len(v), -1))

    def __len__(self) -> int:
        return int(self.words.shape[0])

    def subset(self, index: slice) -> QuantizedInputs:
        return QuantizedInputs(
            self.words[index], self.lsbs, self.clipped, self.truncated, self.lost, self.mode
        )


def _check(pmu: np.ndarray, what: str = "jets", width: int = 4) -> np.ndarray:
    pmu = np.asarray(pmu, dtype=np.float64)
    if pmu.ndim != 3 or pmu.shape[2] != width:
        raise NanotrigError(f"{what} must be an array (jets, constituents, {width}), got shape {pmu.shape}")
    if not np.isfinite(pmu).all():
        raise NanotrigError(f"{what} contain non-finite components")
    return pmu


def _leading(a: np.ndarray, valid: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The first n slots (zero-padded), their valid bits, and the number of jets that had more."""
    extra = valid[:, n:]
    truncated = int(extra.any(axis=1).sum()) if extra.size else 0
    a, valid = a[:, :n], valid[:, :n]
    if a.shape[1] < n:
        pad = n - a.shape[1]
        a = np.concatenate([a, np.zeros((a.shape[0], pad, a.shape[2]))], axis=1)
        valid = np.concatenate([valid, np.zeros((valid.shape[0], pad), dtype=bool)], axis=1)
    return a, valid, truncated


def _to_words(x: np.ndarray, t: FixedType, counted: np.ndarray) -> tuple[np.ndarray, int]:
    """``t(x)`` as ap_fixed converts a double: the type's rounding and overflow modes; values
    outside its range (among ``counted``) are counted."""
    scaled = x / t.lsb  # exact: the LSB is a power of two
    raw = np.floor(scaled)
    if t.rounding == "AP_RND":  # half up; x - floor(x) is exact, x + 0.5 need not be
        raw = raw + (scaled - raw >= 0.5)
    lo, hi = t.min_int, t.max_int
    bad = ((raw < lo) | (raw > hi)) & counted
    if t.overflow == "AP_WRAP":
        span = 2**t.width
        # bound first so that the float64 modulo stays exact (|raw| < 2**53)
        raw = np.mod(np.clip(raw, -(2.0**52), 2.0**52) - lo, span) + lo
    return np.clip(raw, lo, hi).astype(np.int64), int(bad.sum())


def quantize_inputs(pmu: np.ndarray, input_type: FixedType, n_constituents: int) -> QuantizedInputs:
    """Cartesian words (E, px, py, pz) of jets ``pmu`` (B, n, 4) GeV."""
    pmu = _check(pmu)
    p, _, truncated = _leading(pmu, pmu[:, :, 0] > 0, n_constituents)
    words, clipped = _to_words(p, input_type, np.ones(p.shape, dtype=bool))
    return QuantizedInputs(words, (input_type.lsb,) * 4, clipped, truncated)


def quantize_puppi(
    ptetaphi: np.ndarray, types: tuple[FixedType, FixedType, FixedType], n_constituents: int
) -> QuantizedInputs:
    """PUPPI words of jets given as (pT [GeV], eta, phi [rad]) (B, n, 3); absent slots have pT = 0."""
    x = _check(ptetaphi, "PUPPI candidates (pt, eta, phi)", 3)
    if (x[..., 0] < 0).any():
        raise NanotrigError("PUPPI candidates contain a negative pT")
    x, valid, truncated = _leading(x, x[:, :, 0] > 0, n_constituents)
    t_pt, t_eta, t_phi = types
    pt, c_pt = _to_words(x[..., 0], t_pt, valid)
    eta, c_eta = _to_words(x[..., 1] / ANGLE_STEP, t_eta, valid)
    phi_units = np.mod(x[..., 2] / ANGLE_STEP + PHI_HALF_TURN, 2 * PHI_HALF_TURN) - PHI_HALF_TURN
    phi, c_phi = _to_words(phi_units, t_phi, valid)
    half = int(round(PHI_HALF_TURN / t_phi.lsb))
    phi = np.where(phi <= -half, phi + 2 * half, phi)  # -pi is +pi: (-720, 720]
    lost = int((valid & (pt == 0)).sum())
    keep = valid & (pt > 0)
    words = np.stack([pt, eta, phi], axis=-1) * keep[..., None]
    return QuantizedInputs(
        words, (t_pt.lsb, t_eta.lsb, t_phi.lsb), c_pt + c_eta + c_phi, truncated, lost, "puppi"
    )


def quantize_jets(
    pmu: np.ndarray | None,
    mode: str,
    field_types: Sequence[FixedType],
    n_constituents: int,
    ptetaphi: np.ndarray | None = None,
) -> QuantizedInputs:
    """The words of an input mode (``field_types`` in ``kernel.INPUT_FIELDS`` order). PUPPI words
    come from ``ptetaphi`` when the jets were read as PUPPI candidates, otherwise from the
    four-momenta (massless: pT, eta and phi only)."""
    if mode == "cartesian":
        if pmu is None:
            raise NanotrigError("Cartesian input words need four-momenta")
        return quantize_inputs(pmu, field_types[0], n_constituents)
    if ptetaphi is None:
        ptetaphi = pt_eta_phi(_check(pmu))
    t_pt, t_eta, t_phi = field_types
    return quantize_puppi(ptetaphi, (t_pt, t_eta, t_phi), n_constituents)
