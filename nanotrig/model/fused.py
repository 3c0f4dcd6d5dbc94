"""The nanoPELICAN forward pass in few, large operations: the function of the sublayers' calls.

The step-by-step sublayers (``nanotrig.model.layers``) build several (B, P, P, C) tensors
(invariants, BatchNorm, aggregators, ReLU, masks, dropout masks), each a full pass over memory
forward and again backward. This pass keeps exactly their maths and needs one:

- Every per-pair pre-activation is ``z_hij = k_h d_ij + U_hi + V_hj`` (the canonical form):
  ``d_ij = p_i . p_j`` is a rank-4 product, so all C channels of z come from one batched
  (P, 6) x (6, P) matmul. Invalid particles get ``U = V = -BIG``, so the ReLU itself masks.
- Aggregates are cheap: the column sums of d are ``r_j = p_j . J - m_j^2`` (J the jet's
  momentum sum), and the input BatchNorm's statistics are ``sum d = sum_j r_j`` and
  ``sum d^2 = sum_ab eta_a eta_b Q_ab^2 - sum_i m_i^4`` with ``Q = sum_i p_i p_i^T`` (4 x 4 per
  jet), computed in float64. They depend on the data only, not on any weight.
- The output BatchNorm is affine and the 2->0 block sums, so ``sum_ij u = a sum_ij y +
  c count``: only ``sum y`` and ``sum y^2`` per jet and channel leave the (B, C, P, P) tensor.
- The diagonal (``d_ii = 0`` and its own terms) is handled per particle: the matmul's
  diagonal entries are subtracted and the true ones added, O(P).
- Dropout is the same i.i.d. Bernoulli(rate) per entry as the step-by-step path, drawn
  sparsely: the gaps between dropped entries are geometric, so ~rate of the entries are
  drawn instead of all, and each dropped entry's effect on the sums is corrected exactly.

Both paths are checked against each other (values, BatchNorm updates and gradients) in
``tests/test_model_fused.py``.
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from nanotrig.model.layers import MINKOWSKI
from nanotrig.model.layers import _alpha_factor as _alpha

BIG = 1e30  # U = V = -BIG for invalid particles: the ReLU is exactly 0 there, gradients too


def dropout_sites(n_sites: Any, n_fields: int, rate: float, seed: Any) -> tuple[Any, Any, Any]:
    """Sparse i.i.d. Bernoulli(rate) dropout of ``n_fields`` fields at each of ``n_sites`` sites
    (an int, or a scalar tensor when the batch size is only known at run time).

    Returns K candidate sites: positions (K,) int32 in [0, n_sites), increasing; live (K,) bool;
    the dropped flags (K, n_fields). Sites where at least one field drops (probability
    q = 1 - (1 - rate)^n_fields) are drawn with geometric gaps; at such a site the first dropped
    field is a geometric variable truncated to the fields, the later ones are again
    Bernoulli(rate). The joint law of all flags is exactly that of one independent draw per
    entry, as dense dropout makes them (to the float32 resolution of the uniforms). One budget
    for the whole batch rather than one per jet: K exceeds the number of such sites with odds
    > 1e12 : 1 either way, but the batch's count is ~1 % above its mean where a jet's is ~3x.
    """
    q = 1.0 - (1.0 - rate) ** n_fields
    if isinstance(n_sites, int):
        mean = n_sites * q
        k: Any = int(math.ceil(mean + 7.0 * math.sqrt(mean) + 8.0))
    else:
        mean = ops.cast(n_sites, "float32") * q
        k = ops.cast(ops.ceil(mean + 7.0 * ops.sqrt(mean) + 8.0), "int32")
    u = keras.random.uniform((k, 1 + n_fields), seed=seed, dtype="float32")
    gaps = ops.cast(ops.floor(ops.log1p(-u[:, 0]) / math.log1p(-q)), "int32") + 1
    pos = ops.cumsum(gaps) - 1
    # First dropped field: P(T = t) ~ (1 - rate)^t on t < n_fields. Field t' > T drops when its
    # own uniform is below rate (field 0 is never a later one, so its column serves T).
    first = ops.minimum(ops.floor(ops.log1p(-u[:, 1:2] * q) / math.log1p(-rate)), n_fields - 1.0)
    field = ops.arange(n_fields, dtype="float32")
    dropped = ops.logical_or(ops.equal(field, first), ops.logical_and(field > first, u[:, 1:] < rate))
    return ops.minimum(pos, n_sites - 1), pos < n_sites, dropped


def draw_dropout(batch: Any, n_part: int, c: int, rate: float, seed: Any) -> tuple[Any, Any, Any, Any]:
    """All dropout draws of one training call: x (B, P, P) and u (B, P, P, C), each entry
    independently dropped with probability ``rate``. Diagonal keep flags (B, 1 + C, P) densely
    ([:, 0] for x, [:, 1 + h] for channel h); the off-diagonal entries as sites of the whole
    batch (see ``dropout_sites``), site s being jet b = s // (P (P - 1)) and, with
    t = s % (P (P - 1)), the pair (i, j) with i = t // (P - 1), j = t % (P - 1), plus one when
    >= i (row-major over i != j)."""
    keep_ii = keras.random.uniform((batch, 1 + c, n_part), seed=seed) >= rate
    site, live, dropped = dropout_sites(batch * (n_part * (n_part - 1)), 1 + c, rate, seed)
    return keep_ii, site, live, dropped


def forward(layer: Any, pmu: Any, training: bool | None) -> Any:
    """Score w (B, 1) of the NanoPelican ``layer`` for momenta (B, N, 4), before the output
    dropout; updates the BatchNorm running statistics in training, as the step-by-step path."""
    dt = layer.compute_dtype
    rate = layer.dropout if training else 0.0
    keep = 1.0 / (1.0 - rate)
    p = ops.cast(pmu, dt) * layer.scale
    valid = ops.cast(p[..., 0] > 0, dt)
    p = p * valid[..., None]
    batch = ops.shape(p)[0]
    if layer.beams:
        beam = ops.convert_to_tensor([[1.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, -1.0]], dt)
        p = ops.concatenate([ops.broadcast_to(beam[None], (batch, 2, 4)), p], axis=1)
        valid = ops.concatenate([ops.ones_like(valid[:, :2]), valid], axis=1)
    n_part = int(p.shape[1])
    c = layer.n_hidden
    eta = ops.convert_to_tensor(MINKOWSKI, dt)
    pe = p * eta
    m = ops.sum(valid, axis=1)  # multiplicity M incl. beams
    count = ops.sum(m * m)  # valid (i, j) entries in the batch, diagonal included
    nbar = layer.nobj_avg

    # Data-only aggregates in float64: r_i = sum_j d_ij (d_ii := 0), and the input BN statistics.
    p64 = ops.cast(p, "float64")
    pe64 = p64 * ops.convert_to_tensor(MINKOWSKI, "float64")
    msq64 = ops.sum(pe64 * p64, axis=-1)  # p_i . p_i (the mass the massless convention drops)
    r64 = ops.einsum("bia,ba->bi", pe64, ops.sum(p64, axis=1)) - msq64
    bn_in, bn_out = layer.bn_in, layer.bn_out
    if training:
        # sum_ij d_ij^2 = sum_ac eta_a eta_c Q_ac^2 = sum_ac q_ac q_ca with q = eta Q, less the diagonal
        q = ops.einsum("bia,bic->bac", pe64, p64)
        sum_d2 = ops.einsum("bac,bca->", q, q) - ops.sum(msq64 * msq64)
        n0 = ops.maximum(ops.cast(count, "float64"), 2.0)
        mean64 = ops.sum(r64) / n0
        mean0 = ops.cast(mean64, dt)
        var0 = ops.cast(ops.maximum(sum_d2 / n0 - mean64**2, 0.0), dt)
        _update_moving(bn_in, mean0[None], var0[None], ops.cast(n0, dt))
    else:
        mean0, var0 = bn_in.moving_mean[0], bn_in.moving_variance[0]
    a0 = bn_in.gamma[0] * ops.rsqrt(var0 + bn_in.epsilon)
    c0 = bn_in.beta[0] - mean0 * a0

    # Column sums of x' = (a0 d + c0) v_i v_j k_ij / (1 - rate) are a0 A_j + c0 B_j (times the
    # keep factor), with data-only A, B: without dropout A_j = r_j v_j and B_j = M v_j.
    col_a = ops.cast(r64, dt) * valid
    col_b = m[:, None] * valid
    if rate > 0.0:
        # Dropout draws: the diagonal densely (O(P)): keep flags of x and of each u channel;
        # off-diagonal entries sparsely: sites (b, i != j) with flags for x and the u channels.
        keep_ii, site, live, dropped = draw_dropout(batch, n_part, c, rate, layer.seed_generator)
        keep_ii = ops.cast(keep_ii, dt)
        col_b = col_b - valid * (1.0 - keep_ii[:, 0])  # a dropped x_jj = c0
        per_jet = n_part * (n_part - 1)
        jet = site // per_jet  # (K,), increasing
        local = site % per_jet
        i, j = local // (n_part - 1), local % (n_part - 1)
        j = j + ops.cast(j >= i, "int32")  # skip the diagonal
        i, j = jet * n_part + i, jet * n_part + j  # flat particle indices (K,)
        k_sites = ops.shape(site)[0]
        live = ops.cast(live, dt)
        drop_x = ops.cast(dropped[:, 0], dt) * live  # (K,)
        drop_u = ops.cast(dropped[:, 1:], dt) * live[:, None]  # (K, C)
        rows = ops.reshape(ops.concatenate([p, valid[..., None]], -1), (-1, 5))
        ij = ops.concatenate([i, j], 0)  # the sites' two particles
        at = ops.take(rows, ij, axis=0)
        at_i, at_j = at[:k_sites], at[k_sites:]
        d_s = ops.sum(at_i[:, :4] * eta * at_j[:, :4], axis=-1)
        v_s = at_i[:, 4] * at_j[:, 4]
        # Column sums of the dropped x: data only. bincount, as scatter-adds are slow on CPU.
        wx = v_s * drop_x
        n_rows = batch * n_part
        col_a = col_a - ops.reshape(ops.bincount(j, weights=d_s * wx, minlength=n_rows), (batch, n_part))
        col_b = col_b - ops.reshape(ops.bincount(j, weights=wx, minlength=n_rows), (batch, n_part))
    agg = (a0 * col_a + c0 * col_b) * (keep / nbar)  # R_i (column sums; also the row term at i)
    tot = ops.sum(agg, axis=1) / nbar  # S

    # z_hij = k_h d_ij + U_hi + V_hj with V_hj = w3_h R_j, plus the diagonal's own terms.
    eq = layer.eq2to2
    w = eq.coefs
    if eq.nalpha:
        f = _alpha(m / nbar, eq.alphas)  # (B, 5)
        w2, w3, w4, w5, w6 = (f[:, k, None] * w[k + 1][None] for k in range(5))  # (B, C)
    else:
        w2, w3, w4, w5, w6 = (w[k][None] for k in range(1, 6))
    kappa = w[0] * a0 * keep  # (C,)
    const_x = w[0] * c0 * keep  # w1 x' on a kept entry, less its k d part
    u_const = w5 * tot[:, None] + const_x + eq.bias  # (B, C)
    w3_b = w3 + ops.zeros_like(u_const)  # (B, C)
    big = ops.cast(-BIG, dt)
    u_i = ops.where(valid[:, None, :] > 0, w4[..., None] * agg[:, None] + u_const[..., None], big)  # B, C, P

    # The one (B, C, P, P) pass: z from one rank-7 product per jet, then ReLU and two sums.
    # Left rows (h, i): [k_h pe_i, U_hi, w3_h, 1]; right rows j: [p_j, 1, R_j, 0 or -BIG]. Both are
    # laid out with the 7 features first, so that each concatenated piece is a contiguous block
    # per jet (features last made ~10^5 copies of 1-4 floats: the costliest op of a step).
    pe_t = ops.transpose(pe, (0, 2, 1))  # (B, 4, P)
    left = ops.concatenate(
        [
            pe_t[:, :, None, :] * kappa[None, None, :, None],
            u_i[:, None],
            ops.broadcast_to(w3_b[:, None, :, None], (batch, 1, c, n_part)),
            ops.ones_like(u_i)[:, None],
        ],
        axis=1,
    )  # (B, 7, C, P)
    right = ops.concatenate(
        [
            ops.transpose(p, (0, 2, 1)),
            ops.ones_like(agg)[:, None],
            agg[:, None],
            ops.where(valid > 0, 0.0, big)[:, None],
        ],
        axis=1,
    )  # (B, 7, P)
    y = ops.relu(ops.einsum("bkx,bkj->bxj", ops.reshape(left, (batch, 7, c * n_part)), right))
    sum_y = ops.sum(ops.reshape(ops.sum(y, axis=2), (batch, c, n_part)), axis=2)
    if training:
        sum_y2 = ops.sum(ops.reshape(ops.sum(ops.square(y), axis=2), (batch, c, n_part)), axis=2)

    # Diagonal: replace what the matmul put there (k m_i^2 + U + V) by the true entry.
    v_ii = w3_b[..., None] * agg[:, None]
    z_dense_ii = kappa[None, :, None] * ops.cast(msq64, dt)[:, None] + u_i + v_ii
    z_ii = u_i + v_ii + w2[..., None] * agg[:, None] + (w6 * tot[:, None] + eq.diag_bias)[..., None]
    if rate > 0.0:
        z_ii = z_ii - const_x[None, :, None] * (1.0 - keep_ii[:, None, 0])
    y_dense_ii, y_ii = ops.relu(z_dense_ii), ops.relu(z_ii)  # (B, C, P)
    sum_y = sum_y + ops.sum(y_ii - y_dense_ii, axis=2)
    if training:
        sum_y2 = sum_y2 + ops.sum(ops.square(y_ii) - ops.square(y_dense_ii), axis=2)
    pairs = (m * m)[:, None]  # valid entries per jet, and valid diagonal ones
    trace_n = m[:, None]
    kept_y = sum_y
    trace_y = ops.sum(y_ii, axis=2)
    if rate > 0.0:
        keep_u_ii = keep_ii[:, 1:]  # (B, C, P)
        trace_y = ops.sum(y_ii * keep_u_ii, axis=2)
        trace_n = ops.sum(valid[:, None] * keep_u_ii, axis=2)
        # Off-diagonal sites. z there is linear in data-only features [d, A_i, B_i, A_j, B_j, 1]:
        # k d + w4 R_i + w3 R_j + u_const as the dense pass has it, and U + V - const_x when
        # x is dropped. A dropped u removes the (true) entry and its count from the 2->0 sum.
        ab = ops.take(ops.reshape(ops.stack([col_a, col_b], axis=-1), (-1, 2)), ij, axis=0)
        feats = ops.concatenate([d_s[:, None], ab[:k_sites], ab[k_sites:]], axis=-1)  # (K, 5)
        s = keep / nbar
        lin = [kappa + 0.0 * w4, w4 * (a0 * s), w4 * (c0 * s), w3 * (a0 * s), w3 * (c0 * s)]
        coef = ops.stack(lin, axis=-2)  # (1 or B, 5, C)
        if eq.nalpha:  # per-jet coefficients
            z_was = ops.sum(feats[..., None] * ops.take(coef, jet, axis=0), axis=1)
        else:  # one small matmul for all sites
            z_was = ops.matmul(feats, coef[0])
        z_was = z_was + ops.take(u_const, jet, axis=0)  # (K, C)
        y_was = ops.relu(z_was) * v_s[:, None]
        y_now = ops.relu(z_was - d_s[:, None] * kappa - const_x) * v_s[:, None]
        change = (y_now - y_was) * drop_x[:, None]
        # The sites' per-jet sums in one pass: the change of sum y, the dropped u entries and
        # their count, and (training) the change of sum y^2. The jet ids increase, so a sorted
        # segment sum (a scatter-add is ~10x slower on CPU); a zero row of the last jet makes
        # the result B rows long when the last jets have no site.
        terms = [change, (y_was + change) * drop_u, v_s[:, None] * drop_u]
        if training:
            terms.append(change * (y_now + y_was))
        terms = ops.concatenate(terms, axis=1)
        terms = ops.concatenate([terms, ops.zeros_like(terms[:1])], axis=0)
        by_jet = ops.segment_sum(terms, ops.concatenate([jet, ops.reshape(batch - 1, (1,))], 0), sorted=True)
        sum_y = sum_y + by_jet[:, :c]
        if training:
            sum_y2 = sum_y2 + by_jet[:, 3 * c :]
        kept_y = sum_y - by_jet[:, c : 2 * c] - ops.sum(y_ii * (1.0 - keep_u_ii), axis=2)
        pairs = pairs - by_jet[:, 2 * c : 3 * c] - (m[:, None] - trace_n)

    # Output BatchNorm: affine, so sum_ij u = a sum_ij y + c count (per jet and channel).
    if training:
        n = ops.maximum(count, 2.0)
        mean = ops.sum(sum_y, axis=0) / n
        var = ops.maximum(ops.sum(sum_y2, axis=0) / n - ops.square(mean), 0.0)
        _update_moving(bn_out, mean, var, n)
    else:
        mean, var = bn_out.moving_mean, bn_out.moving_variance
    a = bn_out.gamma * ops.rsqrt(var + bn_out.epsilon)
    b = bn_out.beta - mean * a
    aggs = ops.stack(
        [(a * kept_y + b * pairs) * keep / nbar**2, (a * trace_y + b * trace_n) * keep / nbar], axis=-1
    )  # (B, C, 2)
    out = layer.eq2to0
    if out.nalpha:
        aggs = aggs * _alpha(m / nbar, out.alphas)
    return ops.sum(aggs * out.coefs[None], axis=(1, 2))[:, None] + out.bias


def _update_moving(bn: Any, mean: Any, var: Any, n: Any) -> None:
    """PyTorch's convention, as MaskedBatchNorm: new-batch weight ``momentum``, unbiased var."""
    mom = bn.momentum
    bn.moving_mean.assign(ops.cast((1 - mom) * bn.moving_mean + mom * mean, bn.moving_mean.dtype))
    unbiased = var * n / (n - 1.0)
    new_var = (1 - mom) * bn.moving_variance + mom * unbiased
    bn.moving_variance.assign(ops.cast(new_var, bn.moving_variance.dtype))
