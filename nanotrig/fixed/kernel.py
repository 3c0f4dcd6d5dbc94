"""The fixed-point nanoPELICAN kernel: ONE description of what the firmware computes per jet.

It runs on any ops backend (``nanotrig.fixed.ops``): the bit-accurate emulator, the range
analysis, and da4ml's symbolic arrays for the RTL. The HLS C++ kernels
(``nanotrig/hls_templates/``) implement exactly this sequence; every ``cast`` below is one
``ap_fixed<W,I,Q,O>`` assignment there, every other operation is exact (full precision).

Particles: the beams b+ = (1,0,0,1), b- = (1,0,0,-1) first (when the model has beams), then the
N constituents, leading pT first. d, r, T, biases, u, v, z, y are GeV^2 (the model's ``scale``
is folded into the coefficients, see ``nanotrig.fixed.hwmodel``). ``m`` below is the table index
M - M_min = number of valid constituents (0..N).

Two input front-ends (``INPUT_MODES``) produce the pair invariants d; everything after is shared.

  A/C cartesian  p_k = (E, px, py, pz) words of type ``input``; valid_k = E_k > 0;
                 m = popcount(valid); a pair with an absent constituent has d = 0 (masked after the cast)
                 constituent pairs i < j: d_ij = cast_d(E_i E_j - px_i px_j - py_i py_j - pz_i pz_j)
                 beam pairs (adds only):  d_+k = cast_d(E_k - pz_k),  d_-k = cast_d(E_k + pz_k)
  A/C puppi      (pT, eta, phi) words of types ``input_pt``, ``input_eta``, ``input_phi``; eta and
                 phi count steps of pi/720 (CMS Phase-2 PUPPI); valid_k = pT_k > 0 (pT = 0 makes
                 every product of an absent constituent zero). Massless by construction:
                 constituent pairs i < j:
                   deta_ij = cast_deta(|eta_i - eta_j|)                  (saturating table index)
                   dphi_ij = cast_dphi(fold(|phi_i - phi_j|))            fold(a) = a > 720 ? 1440 - a : a
                   pp_ij   = cast_pt_pair(pT_i pT_j)                      (one product)
                   d_ij    = cast_d(pp_ij * (F[deta_ij] + G[dphi_ij]))   (one product)
                 with ROMs F = cosh(x) - 1 = 2 sinh^2(x/2), G = 1 - cos(x) = 2 sin^2(x/2) of type
                 ``pair_table``, so d_ij = pT_i pT_j (cosh deta - cos dphi);
                 beam pairs: e_k = cast_eta(eta_k), d_+k = cast_d(pT_k Em[e_k]), d_-k =
                 cast_d(pT_k Ep[e_k]) with ROMs Em = exp(-x), Ep = exp(+x) of type ``beam_table``
                 (b+.p = E - pz = pT e^-eta, b-.p = pT e^eta). The index casts saturate: an
                 argument outside a table is clamped to its end and counted like any overflow.
  both           d_+- = cast_d(2);  d_ii = 0;  d_ji = d_ij (computed once)
  D  r, T       r_i = cast_r(sum_k d_ik)            T = cast_T(sum_i r_i)
  E  pair_bias  c_h = cast(pair_T_h[m] * T + pair_const_h[m])
     u, v       u_hi = cast(pair_row_h[m] * r_i + c_h)      v_hi = cast(pair_col_h[m] * r_i)
     z          z_hij = cast(s_h d_ij + u_hi + v_hj)          (i != j, s_h = +-1: add or subtract)
     diag_bias  e_h = cast(diag_T_h[m] * T + diag_const_h[m])
     y          y_hi = cast(diag_r_h[m] * r_i + e_h)
  F  A          A_h = cast(sum_{i != j, both valid} ReLU(z_hij))
     D          D_h = cast(sum_{i valid} ReLU(y_hi))
  G  result     w = cast(out_const[m] + sum_h out_pair_h[m] * A_h + out_diag_h[m] * D_h)

Coefficients ``name_h[m]`` are constants or ROM tables indexed by m, quantised to the type
``w_<name>``. Overflow is counted only on entries that reach the output (valid particles/pairs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

INPUT_MODES = ("cartesian", "puppi")
# word type of each input field, in port order
INPUT_FIELDS = {
    "cartesian": (("E", "input"), ("px", "input"), ("py", "input"), ("pz", "input")),
    "puppi": (("pt", "input_pt"), ("eta", "input_eta"), ("phi", "input_phi")),
}
# stages of the front-end that are types only (input words, ROM values) or casts
FRONT_END_TYPES = {
    "cartesian": ("input",),
    "puppi": ("input_pt", "input_eta", "input_phi", "pair_table", "beam_table"),
}
FRONT_END_CASTS = {"cartesian": (), "puppi": ("deta", "dphi", "eta", "pt_pair")}
SHARED_CASTS = ("d", "r", "T", "pair_bias", "u", "v", "z", "A", "diag_bias", "y", "D", "result")
COEF_NAMES = (
    "pair_row",
    "pair_col",
    "pair_T",
    "pair_const",
    "diag_r",
    "diag_T",
    "diag_const",
    "out_pair",
    "out_diag",
    "out_const",
)
UNSIGNED_STAGES = ("A", "D", "deta", "dphi", "pt_pair", "pair_table", "beam_table")  # never negative
PHI_HALF_TURN = 720  # pi in steps of the PUPPI angle words (pi/720)
# front-end ROMs: name -> (index stage, value stage, function of the angle in radians)
FRONT_END_TABLES = {
    "cosh_m1": ("deta", "pair_table", lambda x: np.cosh(x) - 1.0),
    "one_m_cos": ("dphi", "pair_table", lambda x: 1.0 - np.cos(x)),
    "exp_minus": ("eta", "beam_table", lambda x: np.exp(-x)),
    "exp_plus": ("eta", "beam_table", lambda x: np.exp(x)),
}
ANGLE_STEP = np.pi / PHI_HALF_TURN  # radians per unit of the angle words and indices


def check_mode(mode: str) -> str:
    if mode not in INPUT_MODES:
        from nanotrig.errors import NanotrigError

        raise NanotrigError(f"unknown input mode {mode!r} (modes: {', '.join(INPUT_MODES)})")
    return mode


def cast_stages(mode: str = "cartesian") -> tuple[str, ...]:
    """Stages that are ``ap_fixed`` assignments (where values can overflow), in kernel order."""
    return FRONT_END_CASTS[check_mode(mode)] + SHARED_CASTS


def stages(mode: str = "cartesian") -> tuple[str, ...]:
    """Every typed stage of a mode (precision dict keys besides the ``w_`` coefficients)."""
    return FRONT_END_TYPES[check_mode(mode)] + cast_stages(mode)


STAGES = stages("cartesian")  # the default (Cartesian) mode's stages


def batch_size(n_particles: int, budget: int = 1 << 22) -> int:
    """Jets per batch so that one (B, P, P) array stays near ``budget`` entries (32 MiB of int64)."""
    return max(16, min(4096, budget // max(n_particles * n_particles, 1)))


def pair_index(n: int, beams: bool) -> np.ndarray:
    """(P, P) index into the vector [0, d_+-, d_+k (N), d_-k (N), d_ij (i<j)] (beams) or
    [0, d_ij (i<j)] (no beams): the symmetric d matrix is wiring, each value computed once."""
    iu, ju = np.triu_indices(n, 1)
    nb = 2 if beams else 0
    first_cc = 1 + (1 + 2 * n if beams else 0)
    idx = np.zeros((n + nb, n + nb), dtype=np.int64)  # diagonal -> slot 0, the constant zero
    idx[nb + iu, nb + ju] = idx[nb + ju, nb + iu] = first_cc + np.arange(iu.size)
    if beams:
        k = np.arange(n)
        idx[0, 1] = idx[1, 0] = 1
        idx[0, 2 + k] = idx[2 + k, 0] = 2 + k
        idx[1, 2 + k] = idx[2 + k, 1] = 2 + n + k
    return idx


def cartesian_invariants(ops: Any, fields: Sequence[Any], beams: bool) -> tuple[list[Any], Any]:
    """(E, px, py, pz) words -> ([d_+k, d_-k] or [], d_ij for i < j), valid bits.

    The products take the words as they come; a pair with an absent constituent is zeroed after
    the cast (a mask on d, not on the four words before the DSPs: same integers, and the DSPs'
    inputs need no logic in front of them)."""
    valid = ops.positive(fields[0])
    e, px, py, pz = fields
    n = e.shape[1]
    iu, ju = np.triu_indices(n, 1)
    both = valid[:, iu] & valid[:, ju]
    dot = e[:, iu] * e[:, ju] - px[:, iu] * px[:, ju] - py[:, iu] * py[:, ju] - pz[:, iu] * pz[:, ju]
    d_cc = ops.mask(ops.cast(dot, "d", both), both)
    beam = []
    if beams:
        beam = [ops.mask(ops.cast(e - pz, "d", valid), valid), ops.mask(ops.cast(e + pz, "d", valid), valid)]
    return [*beam, d_cc], valid


def fold_half_turn(ops: Any, a: Any) -> Any:
    """|dphi| in [0, 1440] -> the same angle wrapped into [0, 720] (pi): a > 720 ? 1440 - a : a."""
    return ops.select(ops.greater(a, PHI_HALF_TURN), ops.exact(2 * PHI_HALF_TURN) - a, a)


def puppi_invariants(ops: Any, fields: Sequence[Any], beams: bool) -> tuple[list[Any], Any]:
    """(pT, eta, phi) words -> ([d_+k, d_-k] or [], d_ij for i < j), valid bits; massless."""
    pt, eta, phi = fields
    valid = ops.positive(pt)  # pT is unsigned: an absent constituent has pT = 0 already
    n = pt.shape[1]
    iu, ju = np.triu_indices(n, 1)
    both = valid[:, iu] & valid[:, ju]  # where overflows count (a wire AND in the RTL trace)
    deta = ops.cast(ops.abs(eta[:, iu] - eta[:, ju]), "deta", both)
    dphi = ops.cast(fold_half_turn(ops, ops.abs(phi[:, iu] - phi[:, ju])), "dphi", both)
    angle = ops.lookup(deta, "cosh_m1") + ops.lookup(dphi, "one_m_cos")
    pp = ops.cast(pt[:, iu] * pt[:, ju], "pt_pair", both)
    d_cc = ops.cast(pp * angle, "d", both)
    beam = []
    if beams:
        e = ops.cast(eta, "eta", valid)
        beam = [ops.cast(pt * ops.lookup(e, "exp_minus"), "d"), ops.cast(pt * ops.lookup(e, "exp_plus"), "d")]
    return [*beam, d_cc], valid


FRONT_ENDS = {"cartesian": cartesian_invariants, "puppi": puppi_invariants}


def run_kernel(
    ops: Any, fields: Sequence[Any], signs: Sequence[int], beams: bool, mode: str = "cartesian"
) -> tuple[Any, np.ndarray]:
    """Scores (type ``result``) of a batch of jets; ``fields``: one (B, N) word array per input
    field of the mode (``INPUT_FIELDS``). Returns (w, m) with m the table index per jet."""
    parts, valid_c = FRONT_ENDS[check_mode(mode)](ops, fields, beams)
    n_jets, n = fields[0].shape[0], fields[0].shape[1]
    m = np.asarray(valid_c).sum(axis=1)

    # C: the symmetric d matrix from the computed values (wiring)
    head = [ops.const(0.0, "d", (n_jets, 1))]
    if beams:
        head.append(ops.const(2.0, "d", (n_jets, 1)))
        valid = np.concatenate([np.ones((n_jets, 2), dtype=bool), valid_c], axis=1)
    else:
        valid = np.asarray(valid_c)
    d = ops.concat([*head, *parts], axis=1)[:, pair_index(n, beams)]  # (B, P, P) symmetric
    pair_valid = valid[:, :, None] & valid[:, None, :] & ~np.eye(valid.shape[1], dtype=bool)[None]

    # D: aggregates (row sums by adding d, no p_i.J multipliers)
    r = ops.cast(ops.sum(d, axis=2), "r", valid)
    t = ops.cast(ops.sum(r, axis=1), "T")

    def coef(name: str, h: int | None = None) -> Any:
        return ops.coef(name, h, m)

    w = coef("out_const")
    for h, sign in enumerate(signs):
        # E: per-particle terms (constant multipliers or ROM x r), then adds only per pair
        c = ops.cast(coef("pair_T", h) * t + coef("pair_const", h), "pair_bias")
        u = ops.cast(coef("pair_row", h)[:, None] * r + c[:, None], "u", valid)
        v = ops.cast(coef("pair_col", h)[:, None] * r, "v", valid)
        sd = d if sign > 0 else -d
        # u_i + v_j first (``bind``: an adder here, numerically a no-op): u carries the jet-level
        # bias c, the last value to arrive, so the pair values waiting for it are the d (231,
        # shared by both orders and channels), not 924 partial sums
        z = ops.cast(sd + ops.bind(u[:, :, None] + v[:, None, :]), "z", pair_valid)
        e = ops.cast(coef("diag_T", h) * t + coef("diag_const", h), "diag_bias")
        y = ops.cast(coef("diag_r", h)[:, None] * r + e[:, None], "y", valid)
        # F: ReLU, mask, adder trees
        a_sum = ops.cast(ops.sum(ops.mask(ops.relu(z), pair_valid), axis=(1, 2)), "A")
        d_sum = ops.cast(ops.sum(ops.mask(ops.relu(y), valid), axis=1), "D")
        # G: output stage
        w = w + coef("out_pair", h) * a_sum + coef("out_diag", h) * d_sum
    return ops.cast(w, "result"), m
