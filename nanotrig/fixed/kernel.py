"""The fixed-point nanoPELICAN kernel: ONE description of what the firmware computes per jet.

It runs on any ops backend (``nanotrig.fixed.ops``): the bit-accurate emulator, the range
analysis, and da4ml's symbolic arrays for the RTL. The HLS C++ kernels
(``nanotrig/hls_templates/``) implement exactly this sequence; every ``cast`` below is one
``ap_fixed<W,I,Q,O>`` assignment there, every other operation is exact (full precision).

Particles: the beams b+ = (1,0,0,1), b- = (1,0,0,-1) first (when the model has beams), then the
N constituents, leading pT first. Units: input words are GeV; d, r, T, biases, u, v, z, y are
GeV^2 (the model's ``scale`` is folded into the coefficients, see ``nanotrig.fixed.hwmodel``).
``m`` below is the table index M - M_min = number of valid constituents (0..N).

Stage sequence (stage names are the keys of a precision dict):

  A  input      p_k = (E, px, py, pz) words of type ``input``; valid_k = E_k > 0;
                absent constituents are zeroed: p_k = valid_k ? p_k : 0;  m = popcount(valid)
  C  d          constituent pairs i < j:  d_ij = cast_d(E_i E_j - px_i px_j - py_i py_j - pz_i pz_j)
                beam pairs (adds only):   d_+k = cast_d(E_k - pz_k),  d_-k = cast_d(E_k + pz_k),
                                          d_+- = cast_d(2);  d_ii = 0;  d_ji = d_ij (computed once)
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

STAGES = ("input", "d", "r", "T", "pair_bias", "u", "v", "z", "A", "diag_bias", "y", "D", "result")
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
UNSIGNED_STAGES = ("A", "D")  # sums of ReLUs


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


def run_kernel(ops: Any, words: Any, signs: Sequence[int], beams: bool) -> tuple[Any, np.ndarray]:
    """Scores (type ``result``) of a batch of jets; ``words``: (B, N, 4) input-typed array.

    Returns (w, m) with m the table index per jet.
    """
    n_jets, n = words.shape[0], words.shape[1]
    # A: valid bits and zeroed absent constituents
    valid_c = ops.positive(words[:, :, 0])
    p = ops.mask(words, valid_c[:, :, None])
    m = np.asarray(valid_c).sum(axis=1)

    # C: pair invariants, constituent pairs i < j once; beam pairs are adds
    iu, ju = np.triu_indices(n, 1)
    prod = p[:, iu, :] * p[:, ju, :]
    d_cc = ops.cast(prod[:, :, 0] - prod[:, :, 1] - prod[:, :, 2] - prod[:, :, 3], "d")
    parts = [ops.const(0.0, "d", (n_jets, 1))]
    if beams:
        e, pz = p[:, :, 0], p[:, :, 3]
        parts += [ops.const(2.0, "d", (n_jets, 1)), ops.cast(e - pz, "d"), ops.cast(e + pz, "d")]
        valid = np.concatenate([np.ones((n_jets, 2), dtype=bool), valid_c], axis=1)
    else:
        valid = np.asarray(valid_c)
    d = ops.concat([*parts, d_cc], axis=1)[:, pair_index(n, beams)]  # (B, P, P) symmetric
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
        z = ops.cast(sd + u[:, :, None] + v[:, None, :], "z", pair_valid)
        e = ops.cast(coef("diag_T", h) * t + coef("diag_const", h), "diag_bias")
        y = ops.cast(coef("diag_r", h)[:, None] * r + e[:, None], "y", valid)
        # F: ReLU, mask, adder trees
        a_sum = ops.cast(ops.sum(ops.mask(ops.relu(z), pair_valid), axis=(1, 2)), "A")
        d_sum = ops.cast(ops.sum(ops.mask(ops.relu(y), valid), axis=1), "D")
        # G: output stage
        w = w + coef("out_pair", h) * a_sum + coef("out_diag", h) * d_sum
    return ops.cast(w, "result"), m
