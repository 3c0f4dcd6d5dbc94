"""Helpers for tests: a Keras nanoPELICAN with non-trivial weights whose ReLUs are alive."""

from __future__ import annotations

import keras
import numpy as np

from nanotrig.model.layers import find_nanopelican


def randomise_model(model: keras.Model, pmu: np.ndarray, seed: int = 0) -> keras.Model:
    """Random affine BatchNorm parameters and biases, running statistics taken from ``pmu``.

    Untrained random weights with default statistics leave every ReLU dead on GeV-scale inputs
    (the score then depends on the multiplicity only), which would make symmetry and folding
    tests pass for the wrong reason; calibrating the statistics on real jets keeps them alive.
    """
    layer = find_nanopelican(model)
    rng = np.random.default_rng(seed)
    c = layer.n_hidden
    layer.bn_in.gamma.assign([rng.uniform(0.5, 2.0)])
    layer.bn_in.beta.assign([rng.normal(0.0, 0.3)])
    layer.bn_out.gamma.assign(rng.uniform(0.5, 2.0, c) * rng.choice([-1.0, 1.0], c))
    layer.bn_out.beta.assign(rng.normal(0.0, 0.3, c))
    layer.eq2to2.bias.assign(rng.normal(0.0, 0.3, c))
    layer.eq2to2.diag_bias.assign(rng.normal(0.0, 0.3, c))
    layer.eq2to0.bias.assign(rng.normal(0.0, 0.3, 1))
    saved = (layer.dropout, layer.bn_in.momentum, layer.bn_out.momentum)
    layer.dropout, layer.bn_in.momentum, layer.bn_out.momentum = 0.0, 1.0, 1.0
    try:
        layer(np.asarray(pmu, dtype=layer.compute_dtype), training=True)  # statistics := this batch's
    finally:
        layer.dropout, layer.bn_in.momentum, layer.bn_out.momentum = saved
    return model
