"""A Keras layer holding an already folded (canonical) nanoPELICAN.

It lets the project writer hand hls4ml a Keras model built straight from a canonical JSON (no
training state needed), through the same converter path as the trainable
``nanotrig.model.NanoPelican``. Its float forward pass is the canonical formula.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from nanotrig.canonical import CanonicalModel
from nanotrig.fixed.kernel import ANGLE_STEP, check_mode


def _terms(terms: list[list[float]], m: Any) -> Any:
    out = ops.zeros_like(m)
    safe_m = ops.maximum(m, 1.0)  # M = 0 only without beams, where nothing is summed anyway
    for c, p in terms:
        out = out + (c if p == 0 else c * safe_m**p)
    return out


@keras.saving.register_keras_serializable(package="nanotrig")
class CanonicalNanoPelican(keras.layers.Layer):
    """(B, N, 4) momenta (E, px, py, pz) in GeV -> (B, 1) score w of a folded model.

    ``inputs='puppi'``: three (B, N) inputs pT [GeV], eta and phi [steps of pi/720], the massless
    four-momenta rebuilt from them (what the firmware's PUPPI front-end computes exactly)."""

    def __init__(self, canonical: dict[str, Any], inputs: str = "cartesian", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.canonical = canonical
        self.inputs = check_mode(inputs)
        self.model = CanonicalModel.from_dict(canonical, source=f"layer {self.name}")

    def call(self, x: Any) -> Any:
        cm = self.model
        if self.inputs == "puppi":
            pt, eta, phi = (ops.cast(v, self.compute_dtype) for v in x)
            eta, phi = eta * ANGLE_STEP, phi * ANGLE_STEP
            pmu = ops.stack(
                [pt * ops.cosh(eta), pt * ops.cos(phi), pt * ops.sin(phi), pt * ops.sinh(eta)], axis=-1
            )
        else:
            pmu = x
        p = pmu[:, : cm.n_constituents] * cm.scale
        valid = ops.cast(p[..., 0] > 0, p.dtype)
        p = p * valid[..., None]
        if cm.beams:
            n = ops.shape(p)[0]
            beams = ops.convert_to_tensor(np.array([[1.0, 0, 0, 1.0], [1.0, 0, 0, -1.0]]), dtype=p.dtype)
            p = ops.concatenate([ops.broadcast_to(beams[None], (n, 2, 4)), p], axis=1)
            valid = ops.concatenate([ops.ones_like(valid[:, :2]), valid], axis=1)
        metric = ops.convert_to_tensor(np.array([1.0, -1.0, -1.0, -1.0]), dtype=p.dtype)
        d = ops.einsum("bia,bja->bij", p * metric, p)
        d = d * (1.0 - ops.eye(cm.n_particles, dtype=p.dtype))[None]
        m = ops.sum(valid, axis=1)
        r = ops.sum(d, axis=2)
        t = ops.sum(r, axis=1)
        pair_mask = (
            valid[:, :, None] * valid[:, None, :] * (1.0 - ops.eye(cm.n_particles, dtype=p.dtype))[None]
        )
        w = _terms(cm.out_const, m)
        for ch in cm.channels:
            row = _terms(ch.pair_row, m)[:, None] * r
            col = _terms(ch.pair_col, m)[:, None] * r
            bias = _terms(ch.pair_T, m) * t + _terms(ch.pair_const, m)
            z = ch.sign * d + row[:, :, None] + col[:, None, :] + bias[:, None, None]
            a = ops.sum(ops.relu(z) * pair_mask, axis=(1, 2))
            y = (
                _terms(ch.diag_r, m)[:, None] * r
                + (_terms(ch.diag_T, m) * t + _terms(ch.diag_const, m))[:, None]
            )
            dsum = ops.sum(ops.relu(y) * valid, axis=1)
            w = w + _terms(ch.out_pair, m) * a + _terms(ch.out_diag, m) * dsum
        return w[:, None]

    def compute_output_shape(self, input_shape: Any) -> tuple:
        first = input_shape[0] if self.inputs == "puppi" else input_shape
        return (first[0], 1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "canonical": self.canonical, "inputs": self.inputs}


PUPPI_INPUT_NAMES = ("input_pt", "input_eta", "input_phi")


def keras_model_from_canonical(
    model: CanonicalModel, input_name: str = "jet", inputs: str = "cartesian"
) -> keras.Model:
    """Input (N, 4) named ``input_name`` (or the three PUPPI inputs (N,) ``input_pt``,
    ``input_eta``, ``input_phi``) -> CanonicalNanoPelican -> (1,) score."""
    layer = CanonicalNanoPelican(model.to_dict(), inputs=inputs, name="nanopelican", dtype="float64")
    if check_mode(inputs) == "puppi":
        ins = [keras.Input(shape=(model.n_constituents,), dtype="float64", name=n) for n in PUPPI_INPUT_NAMES]
        return keras.Model(ins, layer(ins), name=f"nanopelican_{model.name or 'model'}_puppi")
    inp = keras.Input(shape=(model.n_constituents, 4), dtype="float64", name=input_name)
    return keras.Model(inp, layer(inp), name=f"nanopelican_{model.name or 'model'}")
