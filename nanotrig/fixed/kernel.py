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
                 pairs i < j: d_ij = cast_d(P(E_i E_j) - P(px_i px_j) - P(py_i py_j) - P(pz_i pz_j))
                 with P = cast_d_product, each DSP product cast before the sum (a bit selection:
                 truncating a product to a coarser LSB narrows the adds after it; range analysis
                 makes it the exact product, so it changes nothing unless a spec coarsens it)
                 beam pairs (adds only):  d_+k = cast_d(E_k - pz_k),  d_-k = cast_d(E_k + pz_k)
  A/C puppi      (pT, eta, phi) words of types ``input_pt``, ``input_eta``, ``input_phi``; eta and
                 phi count steps of pi/720 (CMS Phase-2 PUPPI); valid_k = pT_k > 0 (pT = 0 makes
                 every product of an absent constituent zero). Massless by construction:
                 constituent pairs i < j:
                   deta_ij = cast_deta(|eta_i - eta_j|)                  (saturating table index)
                   dphi_ij = cast_dphi(fold(|phi_i - phi_j|))            fold(a) = a > 720 ? 1440 - a : a
                 (both built as M - a from a reversed address a chosen among one-sided clamps
                 of the signed differences, ``magnitude_index``: the same integers for phi
                 words in [-720, 720], the address ready early enough for a block-RAM read)
                   pp_ij   = cast_pt_pair(pT_i pT_j)                      (one product)
                   d_ij    = cast_d(pp_ij * (F[deta_ij] + G[dphi_ij]))   (one product)
                 with ROMs F = cosh(x) - 1 = 2 sinh^2(x/2), G = 1 - cos(x) = 2 sin^2(x/2) of type
                 ``pair_table``, so d_ij = pT_i pT_j (cosh deta - cos dphi);
                 beam pairs: e_k = cast_eta(eta_k) (its clamp tests beside the rounding,
                 ``saturated_index``), d_+k = cast_d(pT_k Em[e_k]), d_-k =
                 cast_d(pT_k Ep[e_k]) with ROMs Em = exp(-x), Ep = exp(+x) of type ``beam_table``
                 (b+.p = E - pz = pT e^-eta, b-.p = pT e^eta). The index casts saturate: an
                 argument outside a table is clamped to its end and counted like any overflow.
  both           d_+- = cast_d(2);  d_ii = 0;  d_ji = d_ij (computed once)
  D  r, T       r_i = cast_r(sum_k R(d_ik))         T = cast_T(sum_i r_i)
                with R = cast_r_term, each d cast before the row sums (a bit selection: r keeps
                a far coarser LSB than z needs of d, so d's low bits only widen r's adds; range
                analysis makes it d's own type, so it changes nothing unless a spec coarsens it)
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

Per-index integer bits (``INDEXED_STAGES``): a spec may give each element of d, r, u, v, y, z its
own number of integer bits (same LSB and modes as the stage; ``FixedPointSpec.index_bits``), as
the constituents arrive leading pT first and a soft pair's values need fewer bits than the
leading pair's. Every cast of those stages therefore says which element it writes (``at``: index
arrays into the stage's table of shape ``index_shape``); a backend without per-index bits ignores it.
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
FRONT_END_CASTS = {"cartesian": ("d_product",), "puppi": ("deta", "dphi", "eta", "pt_pair")}
SHARED_CASTS = ("d", "r_term", "r", "T", "pair_bias", "u", "v", "z", "A", "diag_bias", "y", "D", "result")
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


# stages whose elements may each have their own integer bits, and the axes of their tables
INDEXED_STAGES = ("d", "r", "u", "v", "y", "z")
INDEX_AXES = {
    "d": ("particle", "particle"),
    "r": ("particle",),
    "u": ("channel", "particle"),
    "v": ("channel", "particle"),
    "y": ("channel", "particle"),
    "z": ("channel", "particle", "particle"),
}


def index_shape(stage: str, n_particles: int, n_hidden: int) -> tuple[int, ...]:
    """Shape of the per-index table of ``stage`` (particles: beams first, then constituents)."""
    return tuple(n_hidden if axis == "channel" else n_particles for axis in INDEX_AXES[stage])


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


def valid_bits(ops: Any, fields: Sequence[Any]) -> Any:
    """A constituent is present iff its first word (E, or pT) is > 0 (both input modes)."""
    return ops.positive(fields[0])


def cartesian_pairs(ops: Any, first: Sequence[Any], second: Sequence[Any], both: Any, at: Any = None) -> Any:
    """d of constituent pairs from the (E, px, py, pz) words of their two constituents.

    The products take the words as they come, each cast to ``d_product`` (its LSB: how many of
    the product's low bits the adds after it take); a pair with an absent constituent is zeroed after
    the cast (a mask on d, not on the four words before the DSPs: same integers, and the DSPs'
    inputs need no logic in front of them)."""
    e1, px1, py1, pz1 = first
    e2, px2, py2, pz2 = second

    def product(a: Any, b: Any) -> Any:
        return ops.cast(a * b, "d_product", both)

    dot = product(e1, e2) - product(px1, px2) - product(py1, py2) - product(pz1, pz2)
    return ops.mask(ops.cast(dot, "d", both, at), both)


def beam_index(n: int) -> tuple[Any, Any]:
    """``at`` of the beam pairs d_+k and d_-k (beams are particles 0 and 1)."""
    k = 2 + np.arange(n)
    return (np.zeros(n, dtype=np.int64), k), (np.ones(n, dtype=np.int64), k)


def pair_positions(n: int, beams: bool) -> tuple[np.ndarray, np.ndarray]:
    """``at`` of the constituent pairs i < j (``np.triu_indices`` order) in particle indices."""
    iu, ju = np.triu_indices(n, 1)
    nb = 2 if beams else 0
    return nb + iu, nb + ju


def cartesian_beams(ops: Any, fields: Sequence[Any], valid: Any) -> list[Any]:
    """[d_+k, d_-k] = [E - pz, E + pz] of each constituent (adds only), zero when absent."""
    e, pz = fields[0], fields[3]
    plus, minus = beam_index(e.shape[1])
    return [
        ops.mask(ops.cast(e - pz, "d", valid, plus), valid),
        ops.mask(ops.cast(e + pz, "d", valid, minus), valid),
    ]


def cartesian_invariants(ops: Any, fields: Sequence[Any], beams: bool) -> tuple[list[Any], Any]:
    """(E, px, py, pz) words -> ([d_+k, d_-k] or [], d_ij for i < j), valid bits."""
    valid = valid_bits(ops, fields)
    n = fields[0].shape[1]
    iu, ju = np.triu_indices(n, 1)
    both = valid[:, iu] & valid[:, ju]
    at = pair_positions(n, beams)
    d_cc = cartesian_pairs(ops, [f[:, iu] for f in fields], [f[:, ju] for f in fields], both, at)
    beam = cartesian_beams(ops, fields, valid) if beams else []
    return [*beam, d_cc], valid


def fold_half_turn(ops: Any, a: Any) -> Any:
    """|dphi| in [0, 1440] -> the same angle wrapped into [0, 720] (pi): a > 720 ? 1440 - a : a."""
    return ops.select(ops.greater(a, PHI_HALF_TURN), ops.exact(2 * PHI_HALF_TURN) - a, a)


def magnitude_index(ops: Any, diff: Any, neg_diff: Any, stage: str, where: Any, fold: bool = False) -> Any:
    """The saturated table index cast_stage(|diff|), or cast_stage(fold(|diff|)) (``fold``: an
    angle difference, |diff| <= 1440), built so that a block-RAM address is ready early;
    ``neg_diff`` is -diff (the same words subtracted the other way).

    The index u is M - a with M the index type's largest value and the reversed address
    a = M - u = M - min(|diff|, M) (fold(|diff|) with ``fold``) chosen by the sign of the
    difference among one-sided clamps that ReLUs make (free in the delay model, an AND folded
    into the mux LUT in the fabric), every one a single carry chain from the difference:

        diff >= 0: relu(M + neg_diff)        diff < 0: relu(M + diff)
        with fold, for diff > 720: relu(diff - (1440 - M)), for diff < -720: relu(neg_diff - (1440 - M))

    so the address is a difference, one constant add and two muxes deep (one mux without the
    fold) instead of a difference, |.|, the fold and a saturating cast in series; a lookup at
    u = M - a reads the table at the reversed address (no adder). Each candidate is exact where
    it is selected (|diff| <= 1440 with the fold: PUPPI phi words lie in [-720, 720]), so it is
    taken modulo the index width (free bits) and u equals the cast of the exact magnitude, whose
    overflows are the ones counted. Range analysis (no types yet) and index types whose LSB is
    finer than the words' take the plain cast."""
    magnitude = fold_half_turn(ops, ops.abs(diff)) if fold else ops.abs(diff)
    top = ops.index_max(stage, diff)
    if top is None:
        return ops.cast(magnitude, stage, where)
    ops.count_overflow(magnitude, stage, where)  # the saturation the reversed address performs
    # the difference both ways, one subtracter each, shared by the candidates and comparisons
    # below: a ReLU of a negated value would cost a LUT level, of a difference nothing
    d, nd = ops.bind(diff), ops.bind(neg_diff)
    m = ops.exact(top)
    up = ops.low_bits(ops.relu(nd + m), stage)
    down = ops.low_bits(ops.relu(d + m), stage)
    if fold:
        far, half = ops.exact(2 * PHI_HALF_TURN - top), ops.exact(PHI_HALF_TURN)
        # diff > 720 as the sign of 720 - diff (a sign bit is free, a negated one is not)
        up = ops.select(ops.negative(nd + half), ops.low_bits(ops.relu(d - far), stage), up)
        down = ops.select(ops.negative(d + half), ops.low_bits(ops.relu(nd - far), stage), down)
    return m - ops.select(ops.negative(d), down, up)


def saturated_index(ops: Any, x: Any, stage: str, where: Any) -> Any:
    """cast_stage(x) for a saturating, rounding or truncating table index (the beam ROMs' eta),
    built so that a block-RAM address is ready early: the clamp's two tests are the signs of x
    less a constant, beside the rounded value (one carry chain each, in parallel), then two
    muxes. A plain saturating cast rounds first and then compares and muxes once per side in
    series, two levels too many for a read in the first stage. Same integers, same overflows;
    range analysis (no types yet) takes the plain cast."""
    t = ops.index_type(stage)
    if t is None or t.overflow != "AP_SAT" or t.rounding not in ("AP_RND", "AP_TRN"):
        return ops.cast(x, stage, where)
    ops.count_overflow(x, stage, where)
    half = t.lsb / 2 if t.rounding == "AP_RND" else 0.0  # x rounds up to the next index from here
    lo, hi = t.min_value, t.max_value
    q = ops.low_bits(x, stage)  # rounded (one constant add), wrapped (free bits)
    # x rounds above hi iff x >= hi + lsb - half, below lo iff x < lo - half
    below_top = ops.select(ops.negative(x - ops.exact(hi + t.lsb - half)), q, ops.exact(hi))
    return ops.low_bits(ops.select(ops.negative(x - ops.exact(lo - half)), ops.exact(lo), below_top), stage)


def puppi_pairs(ops: Any, first: Sequence[Any], second: Sequence[Any], both: Any, at: Any = None) -> Any:
    """d of constituent pairs from the (pT, eta, phi) words of their two constituents; massless.
    ``both`` (both present) only says where overflows count: pT = 0 already zeroes d."""
    pt1, eta1, phi1 = first
    pt2, eta2, phi2 = second
    deta = magnitude_index(ops, eta1 - eta2, eta2 - eta1, "deta", both)
    dphi = magnitude_index(ops, phi1 - phi2, phi2 - phi1, "dphi", both, fold=True)
    angle = ops.lookup(deta, "cosh_m1") + ops.lookup(dphi, "one_m_cos")
    pp = ops.cast(pt1 * pt2, "pt_pair", both)
    return ops.cast(pp * angle, "d", both, at)


def puppi_beams(ops: Any, fields: Sequence[Any], valid: Any) -> list[Any]:
    """[d_+k, d_-k] = [pT e^-eta, pT e^eta] of each constituent (zero when pT = 0)."""
    pt, eta = fields[0], fields[1]
    e = saturated_index(ops, eta, "eta", valid)
    plus, minus = beam_index(pt.shape[1])
    return [
        ops.cast(pt * ops.lookup(e, "exp_minus"), "d", None, plus),
        ops.cast(pt * ops.lookup(e, "exp_plus"), "d", None, minus),
    ]


def puppi_invariants(ops: Any, fields: Sequence[Any], beams: bool) -> tuple[list[Any], Any]:
    """(pT, eta, phi) words -> ([d_+k, d_-k] or [], d_ij for i < j), valid bits; massless."""
    valid = valid_bits(ops, fields)  # pT is unsigned: an absent constituent has pT = 0 already
    n = fields[0].shape[1]
    iu, ju = np.triu_indices(n, 1)
    both = valid[:, iu] & valid[:, ju]  # where overflows count (a wire AND in the RTL trace)
    at = pair_positions(n, beams)
    d_cc = puppi_pairs(ops, [f[:, iu] for f in fields], [f[:, ju] for f in fields], both, at)
    beam = puppi_beams(ops, fields, valid) if beams else []
    return [*beam, d_cc], valid


FRONT_ENDS = {"cartesian": cartesian_invariants, "puppi": puppi_invariants}
# the same front-ends in pieces, for datapaths that compute a subset of the pairs per cycle
PAIR_INVARIANTS = {"cartesian": cartesian_pairs, "puppi": puppi_pairs}
BEAM_INVARIANTS = {"cartesian": cartesian_beams, "puppi": puppi_beams}


# D .. G in pieces: ``run_kernel`` composes them over whole jets; a time-multiplexed datapath
# (nanotrig.rtl.folded) applies the same pieces to the pairs of one cycle. Sums between pieces
# are exact, so any grouping of the terms gives the same integers.


def row_terms(ops: Any, d: Any) -> Any:
    """What each d adds to the row sums: cast_r_term(d), its low bits dropped (free wiring).
    r_term holds every integer bit of d (``FixedPointSpec``): it cannot overflow."""
    return ops.cast(d, "r_term")


def row_sum_cast(ops: Any, row_sums: Any, valid: Any, at: Any = None) -> Any:
    """r_i = cast_r(sum_k R(d_ik)), from the exact sums of the ``row_terms``."""
    return ops.cast(row_sums, "r", valid, at)


def jet_sum(ops: Any, r: Any) -> Any:
    """T = cast_T(sum_i r_i)."""
    return ops.cast(ops.sum(r, axis=1), "T")


# the coefficients that multiply r_i in the per-particle terms (u, v, y), per channel
PARTICLE_FACTORS = ("pair_row", "pair_col", "diag_r")


def particle_multiples(ops: Any, coef: Any, n_hidden: int, r: Any) -> dict[tuple[str, int], Any]:
    """Every ``PARTICLE_FACTORS`` coefficient times r, all channels at once: one value times 3 C
    factors. Exact in every backend; a backend with ``multiples(x, factors)`` builds them
    together (the RTL trace: shift-adds shared between the factors, da4ml's constant solver)."""
    keys = [(name, h) for h in range(n_hidden) for name in PARTICLE_FACTORS]
    factors = [coef(name, h) for name, h in keys]
    shared = getattr(ops, "multiples", None)
    products = shared(r, factors) if shared is not None else [f[:, None] * r for f in factors]
    return dict(zip(keys, products, strict=True))


def _times_r(coef: Any, name: str, h: int, r: Any, products: dict | None) -> Any:
    return products[(name, h)] if products is not None else coef(name, h)[:, None] * r


def pair_terms(
    ops: Any, coef: Any, h: int, r: Any, t: Any, valid: Any, at: Any = None, products: dict | None = None
) -> tuple[Any, Any]:
    """Per particle (constant multipliers or ROM x r): u_hi (carries the jet-level bias) and v_hi.
    ``at``: the particle indices of r's entries (per-index bits), channel h prepended;
    ``products``: the coefficients times r (``particle_multiples``), else computed here."""
    c = ops.cast(coef("pair_T", h) * t + coef("pair_const", h), "pair_bias")
    at_h = None if at is None else (h, *at)
    u = ops.cast(_times_r(coef, "pair_row", h, r, products) + c[:, None], "u", valid, at_h)
    v = ops.cast(_times_r(coef, "pair_col", h, r, products), "v", valid, at_h)
    return u, v


def pair_relu(ops: Any, sd: Any, uv: Any, keep: Any, at: Any = None) -> Any:
    """ReLU(z) of ordered pairs, zero where ``keep`` is false: z = cast_z(s_h d_ij + (u_hi + v_hj)).

    ``uv`` is u_i + v_j (``bind``: an adder here, numerically a no-op): u carries the jet-level
    bias c, the last value to arrive, so the pair values waiting for it are the d (shared by
    both orders and channels), not the partial sums. ``at``: (h, i, j) of the entries."""
    z = ops.cast(sd + ops.bind(uv), "z", keep, at)
    return ops.mask(ops.relu(z), keep)


def diag_terms(
    ops: Any, coef: Any, h: int, r: Any, t: Any, valid: Any, at: Any = None, products: dict | None = None
) -> Any:
    """y_hi = cast_y(diag_r_h r_i + e_h), e_h = cast(diag_T_h T + diag_const_h)."""
    e = ops.cast(coef("diag_T", h) * t + coef("diag_const", h), "diag_bias")
    at_h = None if at is None else (h, *at)
    return ops.cast(_times_r(coef, "diag_r", h, r, products) + e[:, None], "y", valid, at_h)


def diag_sum(ops: Any, y: Any, valid: Any) -> Any:
    """D_h = cast_D(sum over valid i of ReLU(y_hi))."""
    return ops.cast(ops.sum(ops.mask(ops.relu(y), valid), axis=1), "D")


def channel_output(coef: Any, h: int, w: Any, a_sum: Any, d_sum: Any) -> Any:
    """w + out_pair_h A_h + out_diag_h D_h (exact; ``cast_result`` after the last channel)."""
    return w + coef("out_pair", h) * a_sum + coef("out_diag", h) * d_sum


def run_kernel(
    ops: Any, fields: Sequence[Any], signs: Sequence[int], beams: bool, mode: str = "cartesian"
) -> tuple[Any, np.ndarray]:
    """Scores (type ``result``) of a batch of jets; ``fields``: one (B, N) word array per input
    field of the mode (``INPUT_FIELDS``). Returns (w, m) with m the table index per jet."""
    parts, valid_c = FRONT_ENDS[check_mode(mode)](ops, fields, beams)
    n_jets, n = fields[0].shape[0], fields[0].shape[1]
    m = valid_c.sum(axis=1)  # valid_c: the backend's bit array (numpy, or a tensor wrapper)

    # C: the symmetric d matrix from the computed values (wiring)
    head = [ops.const(0.0, "d", (n_jets, 1))]
    if beams:
        head.append(ops.const(2.0, "d", (n_jets, 1)))
        valid = np.concatenate([np.ones((n_jets, 2), dtype=bool), valid_c], axis=1)
    else:
        valid = valid_c
    d_vec = ops.concat([*head, *parts], axis=1)  # every distinct d once
    index = pair_index(n, beams)
    d = d_vec[:, index]  # (B, P, P) symmetric
    pair_valid = valid[:, :, None] & valid[:, None, :] & ~np.eye(valid.shape[1], dtype=bool)[None]

    # D: aggregates (row sums by adding d, no p_i.J multipliers)
    n_part = valid.shape[1]
    every = (np.arange(n_part),)  # ``at`` of the per-particle casts
    r = row_sum_cast(ops, ops.sum(row_terms(ops, d_vec)[:, index], axis=2), valid, every)
    t = jet_sum(ops, r)

    def coef(name: str, h: int | None = None) -> Any:
        return ops.coef(name, h, m)

    w = coef("out_const")
    products = particle_multiples(ops, coef, len(signs), r)
    for h, sign in enumerate(signs):
        # E: per-particle terms, then adds only per ordered pair
        u, v = pair_terms(ops, coef, h, r, t, valid, every, products)
        sd = d if sign > 0 else -d
        ij = (h, np.arange(n_part)[:, None], np.arange(n_part)[None, :])
        relu_z = pair_relu(ops, sd, u[:, :, None] + v[:, None, :], pair_valid, ij)
        y = diag_terms(ops, coef, h, r, t, valid, every, products)
        # F: adder trees
        a_sum = ops.cast(ops.sum(relu_z, axis=(1, 2)), "A")
        d_sum = diag_sum(ops, y, valid)
        # G: output stage
        w = channel_output(coef, h, w, a_sum, d_sum)
    return ops.cast(w, "result"), m
