"""nanoPELICAN as Keras 3 layers (``keras.ops`` only: TensorFlow, JAX and PyTorch backends).

The whole network is one registered layer, :class:`NanoPelican`, so that hls4ml sees a single
layer which the firmware maps to one fused kernel. Its sublayers follow the reference code
(PELICAN-nano) step by step:

    d_ij = P_i . P_j (beams prepended, d_ii = 0)  -> masked BatchNorm (1 channel)
    -> dropout -> LinEq2->2 (six aggregators, 1 -> C) -> ReLU -> mask
    -> masked BatchNorm (C channels) -> dropout -> LinEq2->0 (two aggregators, C -> 1) -> dropout

The output is the score w (the classifier logit is 2w). All sums are normalised by the fixed
``nobj_avg`` (N-bar), never by the jet's own multiplicity; the N^alpha variant multiplies the
aggregators by learned powers (M / N-bar)^alpha.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

PACKAGE = "nanotrig"
MINKOWSKI = (1.0, -1.0, -1.0, -1.0)


@keras.saving.register_keras_serializable(package=PACKAGE)
class PairInvariants(keras.layers.Layer):
    """(B, N, 4) momenta -> d (B, P, P), valid (B, P) float 0/1, M (B,); beams first when on.

    A constituent is valid iff E > 0. Constituents are taken as massless: d_ii = 0 for every
    particle, so the float model, the canonical form and the firmware compute one function.
    """

    def __init__(self, scale: float = 1.0, beams: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale = float(scale)
        self.beams = bool(beams)

    def call(self, pmu: Any) -> tuple[Any, Any, Any]:
        p = ops.cast(pmu, self.compute_dtype) * self.scale
        valid = ops.cast(p[..., 0] > 0, self.compute_dtype)
        p = p * valid[..., None]
        if self.beams:
            batch = ops.shape(p)[0]
            beam = ops.convert_to_tensor([[1.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, -1.0]], self.compute_dtype)
            p = ops.concatenate([ops.broadcast_to(beam[None], (batch, 2, 4)), p], axis=1)
            valid = ops.concatenate([ops.ones_like(valid[:, :2]), valid], axis=1)
        metric = ops.convert_to_tensor(MINKOWSKI, self.compute_dtype)
        d = ops.einsum("bia,bja->bij", p * metric, p)
        n_part = ops.shape(d)[1]
        d = d * (1.0 - ops.eye(n_part, dtype=self.compute_dtype))[None]
        return d, valid, ops.sum(valid, axis=1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": self.scale, "beams": self.beams}


@keras.saving.register_keras_serializable(package=PACKAGE)
class MaskedBatchNorm(keras.layers.Layer):
    """BatchNorm over the last axis whose statistics see valid (mask = 1) entries only.

    Same conventions as the reference's MaskedBatchNorm2d (PyTorch's): momentum 0.1 is the
    weight of the new batch, the running variance is updated with the unbiased estimate, and
    the output is zeroed outside the mask.
    """

    def __init__(self, momentum: float = 0.1, epsilon: float = 1e-5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)

    def build(self, input_shape: tuple) -> None:
        c = int(input_shape[-1])
        self.gamma = self.add_weight(shape=(c,), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(c,), initializer="zeros", name="beta")
        self.moving_mean = self.add_weight(
            shape=(c,), initializer="zeros", name="moving_mean", trainable=False
        )
        self.moving_variance = self.add_weight(
            shape=(c,), initializer="ones", name="moving_variance", trainable=False
        )

    def call(self, x: Any, mask: Any, training: bool | None = None) -> Any:
        """x (B, P, P, C), mask (B, P, P, 1) with 0/1 entries."""
        if training:
            axes = tuple(range(len(x.shape) - 1))
            n = ops.maximum(ops.sum(mask), 2.0)
            mean = ops.sum(x * mask, axis=axes) / n
            var = ops.maximum(ops.sum(mask * ops.square(x), axis=axes) / n - ops.square(mean), 0.0)
            m = self.momentum
            self.moving_mean.assign(ops.cast((1 - m) * self.moving_mean + m * mean, self.moving_mean.dtype))
            unbiased = var * n / (n - 1.0)
            self.moving_variance.assign(
                ops.cast((1 - m) * self.moving_variance + m * unbiased, self.moving_variance.dtype)
            )
        else:
            mean, var = self.moving_mean, self.moving_variance
        a = self.gamma * ops.rsqrt(var + self.epsilon)
        return (x * a + (self.beta - mean * a)) * mask

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon}


def _alpha_factor(m_over_nbar: Any, alpha: Any) -> Any:
    """(M / N-bar)^alpha broadcast: m_over_nbar (B,), alpha (...) -> (B, ...)."""
    shape = (-1,) + (1,) * len(alpha.shape)
    return ops.exp(ops.log(ops.reshape(m_over_nbar, shape)) * alpha[None])


@keras.saving.register_keras_serializable(package=PACKAGE)
class LinEq2to2(keras.layers.Layer):
    """Permutation-equivariant 2->2 map, 1 input channel -> C, the reference's six aggregators.

    With column sums R_j = sum_i x_ij / N-bar and S = sum_ij x_ij / N-bar^2:
    z_hij = w1 x_ij + w2 delta_ij R_j + w3 R_j + w4 R_i + w5 S + w6 delta_ij S + b_h + delta_ij bd_h,
    then ReLU and the mask. N^alpha: aggregators 2..6 times (M / N-bar)^alpha_k, alpha_k shared by
    the channels (the reference's ``alphas`` has shape (in_dim = 1, 5)).
    """

    def __init__(self, units: int, nobj_avg: float = 49.0, nalpha: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = int(units)
        self.nobj_avg = float(nobj_avg)
        self.nalpha = bool(nalpha)

    def build(self, input_shape: tuple) -> None:
        c = self.units
        # Reference init: normal(0, sqrt(2 / (in_dim * basis))) with in_dim = 1, basis = 6.
        self.coefs = self.add_weight(
            shape=(6, c), initializer=keras.initializers.RandomNormal(0.0, (2.0 / 6.0) ** 0.5), name="coefs"
        )
        self.bias = self.add_weight(shape=(c,), initializer="zeros", name="bias")
        self.diag_bias = self.add_weight(shape=(c,), initializer="zeros", name="diag_bias")
        if self.nalpha:
            self.alphas = self.add_weight(
                shape=(5,), initializer=keras.initializers.RandomUniform(0.0, 1.0), name="alphas"
            )

    def call(self, x: Any, mask: Any, m: Any) -> Any:
        """x (B, P, P) masked, mask (B, P, P), m (B,) -> ReLU output (B, P, P, C) masked."""
        nbar = self.nobj_avg
        col = ops.sum(x, axis=1) / nbar  # R_j
        tot = ops.sum(x, axis=(1, 2)) / nbar**2  # S
        w = self.coefs
        if self.nalpha:
            f = _alpha_factor(m / nbar, self.alphas)  # (B, 5): aggregators 2..6
            w2, w3, w4, w5, w6 = (f[:, k, None] * w[k + 1][None] for k in range(5))  # (B, C)
        else:
            w2, w3, w4, w5, w6 = (w[k][None] for k in range(1, 6))
        # Per-particle pieces first (O(P C)), so that only three full (B, P, P, C) sums remain.
        row_i = col[..., None] * w4[:, None] + (tot[:, None] * w5 + self.bias)[:, None]  # w4 R_i + w5 S + b
        col_j = col[..., None] * w3[:, None]  # w3 R_j
        diag = col[..., None] * w2[:, None] + (tot[:, None] * w6 + self.diag_bias)[:, None]
        n_part = ops.shape(x)[1]
        eye = ops.eye(n_part, dtype=self.compute_dtype)[None, :, :, None]
        z = x[..., None] * w[0] + row_i[:, :, None, :] + (col_j[:, None, :, :] + eye * diag[:, None, :, :])
        return ops.relu(z) * mask[..., None]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "nobj_avg": self.nobj_avg,
            "nalpha": self.nalpha,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class LinEq2to0(keras.layers.Layer):
    """Permutation-invariant 2->0 map, C channels -> the score w.

    w = b + sum_h [v1h sum_ij u_hij / N-bar^2 + v2h sum_i u_hii / N-bar]; N^alpha: each of the
    two aggregators of channel h times (M / N-bar)^alpha_hk (reference ``alphas`` (C, 2)).
    """

    def __init__(self, nobj_avg: float = 49.0, nalpha: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.nobj_avg = float(nobj_avg)
        self.nalpha = bool(nalpha)

    def build(self, input_shape: tuple) -> None:
        c = int(input_shape[-1])
        # Reference init: normal(0, sqrt(4 / (in_dim * basis))) with basis = 2.
        self.coefs = self.add_weight(
            shape=(c, 2), initializer=keras.initializers.RandomNormal(0.0, (2.0 / c) ** 0.5), name="coefs"
        )
        self.bias = self.add_weight(shape=(1,), initializer="zeros", name="bias")
        if self.nalpha:
            self.alphas = self.add_weight(
                shape=(c, 2), initializer=keras.initializers.RandomUniform(0.0, 1.0), name="alphas"
            )

    def call(self, u: Any, m: Any) -> Any:
        """u (B, P, P, C) masked, m (B,) -> w (B, 1)."""
        nbar = self.nobj_avg
        tot = ops.sum(u, axis=(1, 2)) / nbar**2  # (B, C)
        trace = ops.sum(ops.diagonal(u, axis1=1, axis2=2), axis=-1) / nbar  # (B, C)
        aggs = ops.stack([tot, trace], axis=-1)  # (B, C, 2)
        if self.nalpha:
            aggs = aggs * _alpha_factor(m / nbar, self.alphas)
        return ops.sum(aggs * self.coefs[None], axis=(1, 2))[:, None] + self.bias

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "nobj_avg": self.nobj_avg, "nalpha": self.nalpha}


@keras.saving.register_keras_serializable(package=PACKAGE)
class NanoPelican(keras.layers.Layer):
    """The complete nanoPELICAN: (B, N, 4) momenta (E, px, py, pz) -> score w (B, 1)."""

    def __init__(
        self,
        n_hidden: int = 2,
        n_constituents: int = 20,
        nobj_avg: float = 49.0,
        scale: float = 1.0,
        beams: bool = True,
        nalpha: bool = False,
        dropout: float = 0.01,
        bn_momentum: float = 0.1,
        bn_epsilon: float = 1e-5,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.n_hidden = int(n_hidden)
        self.n_constituents = int(n_constituents)
        self.nobj_avg = float(nobj_avg)
        self.scale = float(scale)
        self.beams = bool(beams)
        self.nalpha = bool(nalpha)
        self.dropout = float(dropout)
        self.bn_momentum = float(bn_momentum)
        self.bn_epsilon = float(bn_epsilon)
        sub = {"dtype": self.dtype_policy}
        self.invariants = PairInvariants(scale, beams, name="invariants", **sub)
        bn = {"momentum": bn_momentum, "epsilon": bn_epsilon, **sub}
        self.bn_in = MaskedBatchNorm(name="bn_in", **bn)
        self.eq2to2 = LinEq2to2(n_hidden, nobj_avg, nalpha, name="eq2to2", **sub)
        self.bn_out = MaskedBatchNorm(name="bn_out", **bn)
        self.eq2to0 = LinEq2to0(nobj_avg, nalpha, name="eq2to0", **sub)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape: tuple) -> None:
        p = self.n_constituents + (2 if self.beams else 0)
        self.bn_in.build((None, p, p, 1))
        self.eq2to2.build((None, p, p, 1))
        self.bn_out.build((None, p, p, self.n_hidden))
        self.eq2to0.build((None, p, p, self.n_hidden))

    # The fused pass (nanotrig.model.fused) computes the same function as the sublayers' calls
    # below in a few large operations; the step-by-step path stays as its readable reference
    # (tests compare the two) and as the benchmark's baseline. Not part of the saved config.
    fused = True

    def call(self, pmu: Any, training: bool | None = None) -> Any:
        if self.fused:
            from nanotrig.model import fused

            return self._dropout(fused.forward(self, pmu, training), training)
        return self.call_step_by_step(pmu, training)

    def call_step_by_step(self, pmu: Any, training: bool | None = None) -> Any:
        """The reference's sequence of layers, one (B, P, P, C) tensor after another."""
        d, valid, m = self.invariants(pmu)
        mask = valid[:, :, None] * valid[:, None, :]  # (B, P, P)
        x = self.bn_in(d[..., None], mask[..., None], training=training)[..., 0]
        x = self._dropout(x, training)
        y = self.eq2to2(x, mask, m)
        u = self.bn_out(y, mask[..., None], training=training)
        u = self._dropout(u, training)
        w = self.eq2to0(u, m)
        return self._dropout(w, training)

    def _dropout(self, x: Any, training: bool | None) -> Any:
        # Inverted dropout as in PyTorch; a plain uniform draw is faster on CPU than Keras' Dropout.
        if not training or self.dropout <= 0.0:
            return x
        keep = keras.random.uniform(ops.shape(x), seed=self.seed_generator, dtype=self.compute_dtype)
        return x * ops.cast(keep >= self.dropout, x.dtype) / (1.0 - self.dropout)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], 1)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "n_hidden": self.n_hidden,
            "n_constituents": self.n_constituents,
            "nobj_avg": self.nobj_avg,
            "scale": self.scale,
            "beams": self.beams,
            "nalpha": self.nalpha,
            "dropout": self.dropout,
            "bn_momentum": self.bn_momentum,
            "bn_epsilon": self.bn_epsilon,
        }


def build_model(
    n_hidden: int,
    n_constituents: int,
    nobj_avg: float = 49.0,
    scale: float = 1.0,
    beams: bool = True,
    nalpha: bool = False,
    dropout: float = 0.01,
    seed: int | None = None,
    dtype: str = "float32",
) -> keras.Model:
    """A functional model: input (N, 4) momenta -> output (1,) score w, one NanoPelican inside."""
    if n_hidden < 1:
        raise ValueError(f"n_hidden must be >= 1, got {n_hidden}")
    if n_constituents < 1:
        raise ValueError(f"n_constituents must be >= 1, got {n_constituents}")
    if seed is not None:
        keras.utils.set_random_seed(seed)
    inp = keras.Input(shape=(n_constituents, 4), dtype=dtype, name="pmu")
    layer = NanoPelican(
        n_hidden, n_constituents, nobj_avg, scale, beams, nalpha, dropout, name="nanopelican", dtype=dtype
    )
    out = layer(inp)
    name = f"nanopelican_c{n_hidden}{'n' if nalpha else ''}_n{n_constituents}"
    return keras.Model(inp, out, name=name)


def find_nanopelican(model: keras.Model | NanoPelican) -> NanoPelican:
    """The NanoPelican layer of a model (or the layer itself)."""
    if isinstance(model, NanoPelican):
        return model
    found = [layer for layer in model.layers if isinstance(layer, NanoPelican)]
    if len(found) != 1:
        raise ValueError(f"model {model.name!r} has {len(found)} NanoPelican layers, expected 1")
    return found[0]


def with_dtype(model: keras.Model, dtype: str = "float64") -> keras.Model:
    """The same network with every weight copied into a model that computes in ``dtype``."""
    layer = find_nanopelican(model)
    cfg = layer.get_config()
    clone = build_model(
        cfg["n_hidden"],
        cfg["n_constituents"],
        cfg["nobj_avg"],
        cfg["scale"],
        cfg["beams"],
        cfg["nalpha"],
        cfg["dropout"],
        dtype=dtype,
    )
    find_nanopelican(clone).set_weights(layer.get_weights())
    return clone
