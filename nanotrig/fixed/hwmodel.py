"""The canonical model's coefficients as the firmware holds them: GeV units, tables over M.

Inputs are GeV words, so the model's ``scale`` (P = scale * p) is folded into the coefficients
with ReLU homogeneity: every pair/diagonal pre-activation is divided by scale^2 (only the
constant terms change) and the output weights multiplied by scale^2, leaving w unchanged.
A coefficient that does not depend on M is one constant (a constant multiplier in hardware);
otherwise it is a ROM over M = M_min .. N + 2, indexed by m = M - M_min.
"""

from __future__ import annotations

import math

import numpy as np

from nanotrig.canonical import CanonicalModel, eval_terms, is_constant
from nanotrig.fixed.kernel import COEF_NAMES
from nanotrig.fixed.types import FixedType, PrecisionError

_DIVIDE_BY_SCALE2 = ("pair_const", "diag_const")
_TIMES_SCALE2 = ("out_pair", "out_diag")


def coefficient_tables(model: CanonicalModel) -> dict[str, np.ndarray]:
    """name -> float64 (C, n) for channel coefficients, (n,) for out_const; n = 1 if constant."""
    m = model.multiplicities.astype(np.float64)
    s2 = model.scale**2
    tables: dict[str, np.ndarray] = {}
    for name in COEF_NAMES:
        if name == "out_const":
            terms_list = [model.out_const]
        else:
            terms_list = [getattr(ch, name) for ch in model.channels]
        constant = all(is_constant(t) for t in terms_list)
        rows = [eval_terms(t, m[:1] if constant else m) for t in terms_list]
        tab = np.stack(rows)
        if name in _DIVIDE_BY_SCALE2:
            tab = tab / s2
        elif name in _TIMES_SCALE2:
            tab = tab * s2
        tables[name] = tab[0] if name == "out_const" else tab
    return tables


MAX_COEF_BITS = 26  # a ROM word times an 18-bit operand still fits one DSP48 (27 x 18)


def coefficient_type(values: np.ndarray, width: int, name: str) -> FixedType:
    """Signed type whose range just holds max |values| and that keeps ``width`` significant bits
    for the smallest nonzero entry too: a ROM over M (the N^alpha variant) can span several
    decades, and one shared LSB sized for the largest entry would round the small ones to zero.
    Capped at MAX_COEF_BITS (never below ``width``)."""
    mags = np.abs(values[values != 0])
    if mags.size == 0:
        return FixedType(width, 1)
    big, small = float(mags.max()), float(mags.min())
    extra = math.ceil(math.log2(big / small)) if big > small else 0
    total = max(width, min(width + extra, MAX_COEF_BITS))
    integer = math.floor(math.log2(big)) + 2  # one sign bit
    t = FixedType(total, integer)
    if np.max(np.abs(np.floor(values * 2.0**t.frac + 0.5))) > t.max_int:
        t = FixedType(total, integer + 1)
    return t


def quantize_coefficients(
    tables: dict[str, np.ndarray], types: dict[str, FixedType]
) -> dict[str, np.ndarray]:
    """Raw integers (round to nearest) of every table in its ``w_<name>`` type; refuses overflow."""
    out: dict[str, np.ndarray] = {}
    for name, tab in tables.items():
        t = types["w_" + name]
        raw = np.floor(tab * 2.0**t.frac + 0.5)
        bad = (raw < t.min_int) | (raw > t.max_int)
        if bad.any():
            value = float(tab[bad].flat[0])
            raise PrecisionError(
                f"stage 'w_{name}': {t} cannot hold coefficient {value:.6g} (range {t.min_value:.6g} .. "
                f"{t.max_value:.6g})"
            )
        out[name] = raw.astype(np.int64)
    return out
