"""The fused training pass (nanotrig.model.fused) computes what the step-by-step sublayers
compute: scores, BatchNorm running statistics and gradients, with and without dropout (the same
draws fed to both), and its sparse dropout has the law of dense dropout."""

from __future__ import annotations

from importlib.resources import files

import keras
import numpy as np
import pytest
import tensorflow as tf

from nanotrig.data import read_jets, sample_path
from nanotrig.model import build_model, find_nanopelican, fused
from nanotrig.model.testing import randomise_model


def _jets(n: int, n_jets: int = 48) -> np.ndarray:
    # Real smeared jets (massive constituents, many padded slots at this N) in float64.
    return read_jets(sample_path(), n_constituents=n, stop=n_jets).pmu.astype(np.float64)


def _model(c: int, n: int, nalpha: bool, beams: bool, dropout: float, pmu: np.ndarray) -> keras.Model:
    model = build_model(c, n, nalpha=nalpha, beams=beams, dropout=dropout, seed=3, dtype="float64")
    randomise_model(model, pmu, seed=c)
    layer = find_nanopelican(model)
    # Mixed-sign 2->2 weights, so that some pairs pass each ReLU and some do not.
    layer.eq2to2.coefs.assign(np.random.default_rng(c).normal(0.0, 1.0, (6, c)))
    return model


def _run(model: keras.Model, pmu: np.ndarray, use_fused: bool) -> tuple[np.ndarray, list, list]:
    """Training-mode scores, gradients of a loss, BN statistics after the call (then restored)."""
    layer = find_nanopelican(model)
    layer.fused = use_fused
    saved = [v.numpy().copy() for v in layer.non_trainable_variables]
    x = tf.constant(pmu)
    with tf.GradientTape() as tape:
        w = model(x, training=True)
        labels = tf.constant(np.arange(len(pmu)) % 2, dtype=w.dtype)[:, None]
        loss = tf.reduce_mean(tf.nn.softplus(2.0 * w) - 2.0 * w * labels)
    grads = [g.numpy() for g in tape.gradient(loss, layer.trainable_variables)]
    stats = [v.numpy().copy() for v in layer.non_trainable_variables]
    for v, s in zip(layer.non_trainable_variables, saved, strict=True):
        v.assign(s)
    return np.asarray(w).ravel(), grads, stats


def _assert_same(a: tuple, b: tuple, names: list[str]) -> None:
    np.testing.assert_allclose(a[0], b[0], rtol=1e-9, atol=1e-12 * np.abs(b[0]).max())
    for name, ga, gb in zip(names, a[1], b[1], strict=True):
        np.testing.assert_allclose(ga, gb, rtol=1e-8, atol=1e-10 * np.abs(gb).max(), err_msg=name)
    for sa, sb in zip(a[2], b[2], strict=True):
        np.testing.assert_allclose(sa, sb, rtol=1e-9)


@pytest.mark.parametrize(
    "c,nalpha,beams", [(1, False, True), (2, False, True), (2, True, True), (3, False, False)]
)
def test_fused_pass_equals_the_step_by_step_layers(c: int, nalpha: bool, beams: bool) -> None:
    pmu = _jets(16)
    model = _model(c, 16, nalpha, beams, 0.0, pmu)
    layer = find_nanopelican(model)
    names = [v.path for v in layer.trainable_variables]
    layer.fused = False
    w_ref = np.asarray(model(pmu, training=False)).ravel()
    layer.fused = True
    w_fused = np.asarray(model(pmu, training=False)).ravel()
    assert np.unique(np.round(w_ref, 9)).size > len(w_ref) // 2, "ReLUs dead: the test would be vacuous"
    np.testing.assert_allclose(w_fused, w_ref, rtol=1e-10, atol=1e-12 * np.abs(w_ref).max())
    _assert_same(_run(model, pmu, True), _run(model, pmu, False), names)


def _dense_masks(draws: tuple, n_part: int, c: int) -> tuple[np.ndarray, np.ndarray]:
    """The keep masks x (B, P, P) and u (B, P, P, C) that the sparse draws stand for."""
    keep_ii, site, live, dropped = (np.asarray(d) for d in draws)
    batch = keep_ii.shape[0]
    keep_x = np.ones((batch, n_part, n_part))
    keep_u = np.ones((batch, n_part, n_part, c))
    rows = np.arange(n_part)
    keep_x[:, rows, rows] = keep_ii[:, 0]
    keep_u[:, rows, rows] = np.swapaxes(keep_ii[:, 1:], 1, 2)
    b, t = np.divmod(site[live], n_part * (n_part - 1))
    i, j = np.divmod(t, n_part - 1)
    j = j + (j >= i)
    keep_x[b, i, j] = np.where(dropped[live, 0], 0.0, 1.0)
    keep_u[b, i, j] = np.where(dropped[live, 1:], 0.0, 1.0)
    return keep_x, keep_u


@pytest.mark.parametrize("c,nalpha", [(2, False), (3, True)])
def test_fused_dropout_equals_dense_dropout_with_the_same_draws(monkeypatch, c: int, nalpha: bool) -> None:
    """A high rate (0.3), so that x and u drops coincide on many entries and every correction
    (diagonal, column sums, BatchNorm sums, 2->0 sums and counts) is exercised."""
    rate, n = 0.3, 10
    pmu = _jets(n, n_jets=32)
    model = _model(c, n, nalpha, True, rate, pmu)
    layer = find_nanopelican(model)
    n_part = n + 2
    draws = fused.draw_dropout(len(pmu), n_part, c, rate, keras.random.SeedGenerator(7))
    assert not np.asarray(draws[2]).all(), "too few draws to cover the sites"
    keep_x, keep_u = _dense_masks(draws, n_part, c)
    assert 0.25 < 1 - keep_u.mean() < 0.35 and 0.25 < 1 - keep_x.mean() < 0.35
    assert ((1 - keep_x)[..., None] * (1 - keep_u)).sum() > 100, "x and u drops should coincide"
    monkeypatch.setattr(fused, "draw_dropout", lambda *args: draws)
    masks: list[np.ndarray] = []

    def dense_dropout(x, training):  # the step-by-step path's three dropouts: x, u, then w
        if not training:
            return x
        mask = masks.pop(0) if masks else None
        return x if mask is None else x * mask / (1.0 - rate)

    monkeypatch.setattr(layer, "_dropout", dense_dropout)
    names = [v.path for v in layer.trainable_variables]
    masks[:] = []
    fused_run = _run(model, pmu, True)
    masks[:] = [keep_x, keep_u]
    dense_run = _run(model, pmu, False)
    assert not masks, "the step-by-step path did not apply both masks"
    _assert_same(fused_run, dense_run, names)


def test_sparse_dropout_sites_have_the_law_of_independent_draws() -> None:
    rate, n_sites, n_fields, blocks = 0.05, 400, 3, 2000
    total = blocks * n_sites  # the sites of a batch of 2,000 jets
    site, live, dropped = (
        np.asarray(a) for a in fused.dropout_sites(total, n_fields, rate, keras.random.SeedGenerator(11))
    )
    assert not live.all(), "the batch ran out of candidate sites"
    assert np.all(np.diff(site[live]) > 0), "live positions strictly increase"
    flags = np.zeros((total, n_fields), bool)
    flags[site[live]] = dropped[live]
    flags = flags.reshape(blocks, n_sites, n_fields)

    def within(observed: float, p: float, n: int = total) -> bool:
        return abs(observed - n * p) < 5 * np.sqrt(n * p * (1 - p))

    for f in range(n_fields):  # each field: Bernoulli(rate) per entry
        assert within(flags[..., f].sum(), rate)
    assert within((flags[..., 0] & flags[..., 2]).sum(), rate**2)  # fields independent
    assert within((flags[..., 1] & flags[..., 2]).sum(), rate**2)
    assert within(flags.all(axis=-1).sum(), rate**3)
    quarter = flags[:, : n_sites // 4, 0].sum()  # uniform over the sites
    assert within(quarter, rate, total // 4)
    counts = flags[..., 0].sum(axis=1)  # per-block count: binomial mean and variance
    assert abs(counts.var() / (n_sites * rate * (1 - rate)) - 1) < 0.15


def test_sparse_dropout_budget_follows_a_batch_size_known_only_at_run_time() -> None:
    """In fit() the batch dimension is dynamic: the candidate budget is then computed in the graph."""
    rate, n_part, c = 0.01, 12, 2
    seed = keras.random.SeedGenerator(5)

    @tf.function(input_signature=[tf.TensorSpec((None, n_part), tf.float32)])
    def draws(x):  # noqa: ANN001, ANN202
        keep_ii, site, live, dropped = fused.draw_dropout(tf.shape(x)[0], n_part, c, rate, seed)
        n_live = tf.reduce_sum(tf.cast(live, tf.int32))
        return tf.shape(keep_ii), n_live, tf.shape(site)[0], tf.reduce_max(site)

    for batch in (3, 700):
        keep_shape, n_live, k, top = (np.asarray(v) for v in draws(tf.zeros((batch, n_part))))
        n_sites = batch * n_part * (n_part - 1)
        mean = n_sites * (1 - (1 - rate) ** (1 + c))
        assert tuple(keep_shape) == (batch, 1 + c, n_part)
        assert n_live < k and k >= mean and top < n_sites


def test_fused_float32_matches_the_step_by_step_layers_at_n80() -> None:
    """The shipped N = 80 model in float32 (the training dtype): the rank-7 product and the
    float64 aggregates agree with the direct computation to float32 rounding."""
    model = keras.saving.load_model(str(files("nanotrig.models") / "c2-n80.keras"), compile=False)
    pmu = read_jets(sample_path(), n_constituents=80, stop=256).pmu.astype(np.float32)
    layer = find_nanopelican(model)
    layer.fused = False
    w_ref = np.asarray(model(pmu, training=False)).ravel()
    layer.fused = True
    w_fused = np.asarray(model(pmu, training=False)).ravel()
    np.testing.assert_allclose(w_fused, w_ref, rtol=1e-4, atol=1e-4 * np.abs(w_ref).max())
