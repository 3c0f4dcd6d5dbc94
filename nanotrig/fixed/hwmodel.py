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


def _truncation_mean(types: dict[str, FixedType], stage: str, source_lsb: float) -> float:
    """Mean error of the truncating cast to ``stage`` of values on a grid of ``source_lsb``
    (residues uniform): -(q - q_source) / 2, or 0 when the cast keeps every bit or rounds."""
    t = types[stage]
    if t.rounding != "AP_TRN" or source_lsb >= t.lsb:
        return 0.0
    return -(t.lsb - source_lsb) / 2.0


def _d_source_lsbs(types: dict[str, FixedType]) -> tuple[float, float]:
    """Grids of d before its cast, for constituent pairs and for beam-constituent pairs:
    the cast products of input words and E -+ pz (Cartesian), or pT pair x angle table and pT x beam
    table (PUPPI)."""
    if "pt_pair" in types:
        return types["pt_pair"].lsb * types["pair_table"].lsb, types["input_pt"].lsb * types["beam_table"].lsb
    return max(types["d_product"].lsb, types["input"].lsb ** 2), types["input"].lsb


def _over_m(table: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` over M as ``table``'s shape wants it: a table over M takes them as they are; a
    constant (one entry, a constant multiplier in hardware) stays one, at the middle M."""
    if table.shape[-1] == values.shape[-1]:
        return values
    return values[..., values.shape[-1] // 2 : values.shape[-1] // 2 + 1]


def truncation_offsets(
    model: CanonicalModel, tables: dict[str, np.ndarray], types: dict[str, FixedType]
) -> dict[str, np.ndarray]:
    """What to add to the constant coefficients so that the kernel's truncating casts (AP_TRN:
    free in hardware, but each lowers its value by half an LSB on average) cost nothing on
    average. Per channel, z = s d + u + v carries the mean errors of d, u, v and the jet bias
    c, and, through r_i = sum_k R(d_ik) and T = sum_i r_i, those of all the d of the jet (and of
    their row-sum casts R): summed
    over the ~M^2 pairs that pass the ReLU they shifted c2-n80's scores by +0.23 and flipped 2 %
    of its trigger decisions (1/eps_B 283 against the float model's 431). The opposite of those
    means, which depend on M only, goes into ``pair_const`` (a table over M in the trained
    models; likewise ``diag_const`` for y, ``out_const`` for the A, D and result casts): the same
    hardware with other constants, which the emulator, C-simulation and RTL all take from here.
    """
    lsb = {k: t.lsb for k, t in types.items()}
    w = {name: lsb["w_" + name] for name in COEF_NAMES}
    mult = model.multiplicities.astype(np.float64)  # M, beams included
    n_b = 2.0 if model.beams else 0.0
    m_c = mult - n_b  # constituents
    src_pair, src_beam = _d_source_lsbs(types)
    e_pair = _truncation_mean(types, "d", src_pair)
    if "d_product" in types:  # Cartesian d = P(E E) - P(px px) - P(py py) - P(pz pz): 1 lowered, 3 raised
        e_pair -= 2.0 * _truncation_mean(types, "d_product", types["input"].lsb ** 2)
    e_beam = _truncation_mean(types, "d", src_beam)
    # ordered valid pairs i != j and the sum of their d errors (the beam-beam d is a constant)
    pairs = np.maximum(mult * (mult - 1.0), 1.0)
    sum_d_err = m_c * (m_c - 1.0) * e_pair + 2.0 * n_b * m_c * e_beam
    # each row adds the M - 1 valid d of its particle, each cast to r_term first
    e_rt = (mult - 1.0) * _truncation_mean(types, "r_term", lsb["d"])
    e_r = _truncation_mean(types, "r", lsb["r_term"])
    mean_dr = sum_d_err / np.maximum(mult, 1.0) + e_rt + e_r  # per particle, averaged over the jet
    d_t = sum_d_err + mult * (e_rt + e_r) + _truncation_mean(types, "T", lsb["r"])
    e_c = _truncation_mean(types, "pair_bias", min(w["pair_T"] * lsb["T"], w["pair_const"]))
    e_u = _truncation_mean(types, "u", min(w["pair_row"] * lsb["r"], lsb["pair_bias"]))
    e_v = _truncation_mean(types, "v", w["pair_col"] * lsb["r"])
    e_z = _truncation_mean(types, "z", min(lsb["d"], lsb["u"], lsb["v"]))
    e_e = _truncation_mean(types, "diag_bias", min(w["diag_T"] * lsb["T"], w["diag_const"]))
    e_y = _truncation_mean(types, "y", min(w["diag_r"] * lsb["r"], lsb["diag_bias"]))
    pair, diag = [], []
    for h, ch in enumerate(model.channels):
        z_err = ch.sign * sum_d_err / pairs + e_c + e_u + e_v + e_z
        z_err = z_err + (tables["pair_row"][h] + tables["pair_col"][h]) * mean_dr + tables["pair_T"][h] * d_t
        y_err = tables["diag_r"][h] * mean_dr + tables["diag_T"][h] * d_t + e_e + e_y
        pair.append(_over_m(tables["pair_const"][h], -z_err))
        diag.append(_over_m(tables["diag_const"][h], -y_err))
    e_a = _truncation_mean(types, "A", lsb["z"])
    e_d = _truncation_mean(types, "D", lsb["y"])
    w_grid = min(w["out_const"], w["out_pair"] * lsb["A"], w["out_diag"] * lsb["D"])
    out = -_truncation_mean(types, "result", w_grid) + np.zeros_like(mult)
    for h in range(len(model.channels)):
        out = out - tables["out_pair"][h] * e_a - tables["out_diag"][h] * e_d
    return {
        "pair_const": np.stack(pair),
        "diag_const": np.stack(diag),
        "out_const": _over_m(tables["out_const"], out),
    }


def hardware_coefficients(model: CanonicalModel, types: dict[str, FixedType]) -> dict[str, np.ndarray]:
    """The raw integers the firmware holds: the model's tables, with the truncation offsets,
    quantized to their ``w_`` types. Every backend takes its coefficients from here."""
    tables = coefficient_tables(model)
    for name, offset in truncation_offsets(model, tables, types).items():
        tables[name] = tables[name] + offset
    return quantize_coefficients(tables, types)
