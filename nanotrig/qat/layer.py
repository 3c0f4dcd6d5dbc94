"""The quantization-aware nanoPELICAN: the firmware kernel with HGQ2 quantizers and trainable
canonical coefficients, as one HGQ2 layer.

``QNanoPelican`` is an HGQ2 ``QLayerBase``: it carries HGQ2's ``beta`` and ``ebops`` variables,
and in training its resource cost (``nanotrig.qat.cost``, the LUT-equivalent adder bits of the
kernel at the quantizers' current widths) times ``beta`` is added to the loss, so HGQ2's
``BetaScheduler`` and ``trace_minmax`` work on it as on any HGQ2 layer. Its forward pass is
``nanotrig.fixed.kernel.run_kernel`` on ``KerasOps`` (``nanotrig.qat.ops``):

- one HGQ2 fixed-point quantizer (KIF: keep-negative, integer and fractional bits, one value per
  stage) per stage of the FixedPointSpec: the input word, every cast (d, r, T, pair_bias, u, v,
  z, A, diag_bias, y, D, result) and every coefficient type ``w_<name>``;
- the canonical coefficients (in firmware units, GeV) as trainable variables: each term
  ``c M^p`` of each coefficient is ``c = s * theta`` with a fixed power of two s near the
  starting value times ``coefficient_step``, so that one optimizer step changes every
  coefficient by a similar relative amount (they span 10^-6 .. 10^2) and the coefficients move
  ``coefficient_step`` times slower than the bit widths; the powers p and the channel signs
  s_h = +-1 stay fixed;
- stages listed as fixed keep their type (their quantizers are not trainable).

Quantizer modes follow the stage types: the input word rounds half up and saturates (AP_RND,
AP_SAT: how GeV become words; its LSB is learned, its integer bits hold the largest component of
the training jets), the internal casts truncate and wrap (AP_TRN, AP_WRAP; their
integer bits are tracked from the data as HGQ2 does for WRAP), the score saturates, and the
coefficients round to nearest and saturate (their integer bits are set at export so that none
saturates, as ``quantize_coefficients`` requires).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np
from hgq.config import QuantizerConfig
from hgq.constraints import MinMax
from hgq.layers.core.base import QLayerBase
from hgq.quantizer import Quantizer
from keras import ops

from nanotrig.canonical import CanonicalModel
from nanotrig.fixed.hwmodel import truncation_offsets
from nanotrig.fixed.kernel import (
    ANGLE_STEP,
    COEF_NAMES,
    FRONT_END_TABLES,
    INPUT_FIELDS,
    PHI_HALF_TURN,
    cast_stages,
    run_kernel,
)
from nanotrig.fixed.spec import FixedPointSpec
from nanotrig.fixed.tables import quantize_tables, tables_for
from nanotrig.fixed.types import FixedType, PrecisionError
from nanotrig.qat.cost import total_cost
from nanotrig.qat.ops import HGQ_OVERFLOW, KerasOps, KTensor, tracks_ranges

HGQ_ROUND = {"AP_TRN": "TRN", "AP_RND": "RND"}
# the word that carries the energy scale (learned LSB, range from the data), per input mode
SCALE_WORD = {"cartesian": "input", "puppi": "input_pt"}
# PUPPI stages whose types are the format's or the ROMs' (not learned): the eta/phi words come
# from upstream, the table indices and ROM values define the tables
PUPPI_FIXED = ("input_eta", "input_phi", "deta", "dphi", "eta", "pair_table", "beam_table")
_SCALED = {"pair_const": -2, "diag_const": -2, "out_pair": 2, "out_diag": 2}  # power of `scale` folded in
OFFSET_TABLES = ("pair_const", "diag_const", "out_const")  # what ``truncation_offsets`` returns
FRACTION_RANGE = (-16, 8)  # bits a stage's LSB may move from its start (coarser, finer)


@contextlib.contextmanager
def floatx(dtype: str) -> Iterator[None]:
    """HGQ2 creates its inner quantizer layers with Keras' default dtype policy: build them in ours.
    The global policy is made from ``floatx`` once, when a layer first asks for it, and then kept,
    so after any other Keras model was built only setting the policy itself takes effect."""
    old, old_policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(old)
        keras.config.set_dtype_policy(old_policy)


def firmware_terms(model: CanonicalModel) -> dict[str, list[list[list[float]]]]:
    """Every coefficient's terms [[c, p], ...] per channel in firmware units (GeV inputs): the
    model's ``scale`` folded in as ``nanotrig.fixed.hwmodel`` does, so the export has scale 1."""
    s2 = model.scale**2
    out: dict[str, list[list[list[float]]]] = {}
    for name in COEF_NAMES:
        rows = [model.out_const] if name == "out_const" else [getattr(ch, name) for ch in model.channels]
        factor = {-2: 1.0 / s2, 2: s2}.get(_SCALED.get(name, 0), 1.0)
        out[name] = [[[float(c) * factor, float(p)] for c, p in terms] for terms in rows]
    return out


def layer_inputs(pmu: np.ndarray, mode: str, ptetaphi: np.ndarray | None = None) -> np.ndarray:
    """What ``QNanoPelican`` takes for jets: the four-momenta (Cartesian), or (pT, eta, phi) with
    the angles in units of pi/720 and phi in (-720, 720] (PUPPI; from ``ptetaphi`` if given, else
    the massless view of the four-momenta), as ``nanotrig.fixed.quantize`` makes the words from."""
    if mode == "cartesian":
        return np.asarray(pmu, dtype=np.float64)
    from nanotrig.data.kinematics import pt_eta_phi

    x = np.asarray(ptetaphi if ptetaphi is not None else pt_eta_phi(pmu), dtype=np.float64)
    n = np.asarray(pmu).shape[1] if pmu is not None else x.shape[1]
    x = x[:, :n]
    phi = np.mod(x[..., 2] / ANGLE_STEP + PHI_HALF_TURN, 2 * PHI_HALF_TURN) - PHI_HALF_TURN
    out = np.stack([x[..., 0], x[..., 1] / ANGLE_STEP, phi], axis=-1)
    return out * (x[..., :1] > 0)


def power_of_two_near(value: float) -> float:
    return 1.0 if value == 0.0 else 2.0 ** round(math.log2(abs(value)))


def quantizer_for(t: FixedType, trainable: bool, name: str, weight: bool = False) -> Quantizer:
    """An HGQ2 KIF quantizer (one width for the whole stage) starting at type t."""
    k, i, f = t.kif
    # coefficients are rounded to nearest whatever their type's modes (``quantize_coefficients``)
    round_mode, overflow = ("RND", "SAT") if weight else (HGQ_ROUND[t.rounding], HGQ_OVERFLOW[t.overflow])
    conf = QuantizerConfig(
        "kif",
        "weight" if weight else "datalane",
        k0=k,
        i0=i,
        f0=f,
        round_mode=round_mode,
        overflow_mode=overflow,
        ic=None,
        ir=None,
        fc=MinMax(f + FRACTION_RANGE[0], f + FRACTION_RANGE[1]),
        fr=None,
        # WRAP: the integer bits follow the largest value seen, decaying by 1/100 bit per call when
        # the values shrink (HGQ2's default); a stage cast more than once per pass (d, and every
        # per-channel stage) keeps the largest of its calls
        i_decay_speed=0.01,
        homogeneous_axis=None,
        heterogeneous_axis=(),
        trainable=trainable,
    )
    return Quantizer(conf, name=name)


@keras.saving.register_keras_serializable(package="nanotrig")
class QNanoPelican(QLayerBase):
    """The QAT kernel layer, output the score w (B,). Input (B, N, 4) GeV four-momenta for
    Cartesian inputs; for PUPPI inputs (B, N, 3) pT [GeV] and eta, phi in units of pi/720
    (``puppi_values``), unrounded: the layer makes the words."""

    def __init__(
        self,
        model: dict[str, Any],
        precision: dict[str, Any],
        fixed_stages: list[str] | tuple[str, ...] = (),
        beta0: float = 0.0,
        coefficient_step: float = 0.125,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("dtype", "float64")
        super().__init__(enable_ebops=True, beta0=beta0, enable_oq=False, enable_iq=False, **kwargs)
        self.model_dict = model
        self.precision = precision
        self.fixed_stages = tuple(fixed_stages)
        self.coefficient_step = float(coefficient_step)
        self.graphs = True  # compile graphs for batches (TensorFlow); tracing one costs ~20 s
        self.canonical = CanonicalModel.from_dict(model, source="QNanoPelican model")
        self.spec = FixedPointSpec.from_dict(precision, source="QNanoPelican precision")
        if self.spec.index_bits:
            raise PrecisionError(
                "QNanoPelican precision: QAT learns one type per stage; a spec with per-index integer "
                f"bits ({', '.join(self.spec.index_bits)}) cannot start it (use spec.uniform())"
            )
        self.mode = self.spec.inputs
        if self.mode == "puppi":
            self.fixed_stages = tuple(dict.fromkeys(self.fixed_stages + PUPPI_FIXED))
        unknown = [s for s in self.fixed_stages if s not in self.spec.keys]
        if unknown:
            raise ValueError(
                f"fixed stages {unknown} are not stages of the spec ({', '.join(self.spec.keys)})"
            )
        self.signs = [ch.sign for ch in self.canonical.channels]
        self.terms = firmware_terms(self.canonical)
        self.quantizers: dict[str, Quantizer] = {}
        with floatx(self.compute_dtype):
            for stage in self.spec.keys:
                self.quantizers[stage] = quantizer_for(
                    self.spec[stage], stage not in self.fixed_stages, f"q_{stage}", stage.startswith("w_")
                )
        self._powers, self._scales, self._thetas = {}, {}, {}
        self._offsets: dict[str, Any] = {}
        # the PUPPI front-end ROMs (fixed types): entry values as the emulator holds them
        raw = quantize_tables(tables_for(self.mode), self.spec.types)
        self._rom_values = {
            name: raw[name] * self.spec[FRONT_END_TABLES[name][1]].lsb for name in tables_for(self.mode)
        }

    # ---- construction ---------------------------------------------------------------------
    @property
    def n_fields(self) -> int:
        return len(INPUT_FIELDS[self.mode])

    def build(self, input_shape: Any = None) -> None:
        super().build(input_shape)
        m = self.canonical.multiplicities.astype(np.float64)
        safe_m = np.where(m > 0, m, 1.0)
        with floatx(self.compute_dtype):
            for q in self.quantizers.values():
                q.build((None,))
            word = SCALE_WORD[self.mode]
            if word not in self.fixed_stages:
                # The input word's range comes from the data (``nanotrig.qat.export.fit_input_range``),
                # not from the gradient: clipping a few hard constituents barely moves the loss but
                # turns their four-vectors space-like, and the larger |d| it creates widens every
                # stage after it, which no gradient of the input's integer bits sees.
                self.quantizers[word].quantizer._i.trainable = False
            for name, rows in self.terms.items():
                constant = all(p == 0 for terms in rows for _, p in terms)
                mm = safe_m[:1] if constant else safe_m
                self._powers[name] = [
                    np.stack([np.ones_like(mm) if p == 0 else mm**p for _, p in terms], axis=1)
                    for terms in rows
                ]
                self._scales[name] = [
                    np.array([power_of_two_near(c) * self.coefficient_step for c, _ in terms])
                    for terms in rows
                ]
                self._thetas[name] = [
                    self.add_weight(
                        name=f"{name}_{h}",
                        shape=(len(terms),),
                        initializer=keras.initializers.Constant(
                            [c / s for (c, _), s in zip(terms, self._scales[name][h], strict=True)]
                        ),
                        trainable=f"w_{name}" not in self.fixed_stages,
                    )
                    for h, terms in enumerate(rows)
                ]
            # the truncation offsets the firmware adds to the constants (``hwmodel.hardware_coefficients``):
            # functions of the stage LSBs and of the other coefficients, refreshed from their current
            # values (``refresh_offsets``) rather than differentiated; each is a fraction of an LSB per term
            for name in OFFSET_TABLES:
                shape = (
                    (len(self._powers[name][0]),)
                    if name == "out_const"
                    else (len(self._powers[name]), len(self._powers[name][0]))
                )
                self._offsets[name] = self.add_weight(
                    name=f"{name}_offset", shape=shape, initializer="zeros", trainable=False
                )
        self.refresh_offsets()

    # ---- pieces of the forward pass -------------------------------------------------------
    def coefficient_floats(self) -> dict[str, Any]:
        """Float tables (C, n_M) / (n_M,) in firmware units, summed term by term in the order of
        ``canonical.eval_terms`` so that they are the floats the emulator quantizes."""
        out = {}
        for name, thetas in self._thetas.items():
            rows = []
            for h, theta in enumerate(thetas):
                coef = theta * ops.convert_to_tensor(self._scales[name][h], dtype=self.compute_dtype)
                powers = ops.convert_to_tensor(self._powers[name][h], dtype=self.compute_dtype)
                table = ops.zeros((powers.shape[0],), dtype=self.compute_dtype)
                for k in range(powers.shape[1]):
                    table = table + coef[k] * powers[:, k]
                rows.append(table)
            out[name] = rows[0] if name == "out_const" else ops.stack(rows)
        return out

    def refresh_offsets(self) -> None:
        """Set the constants' truncation offsets for the stages' current LSBs and coefficients, as
        ``hwmodel.truncation_offsets`` computes them for the exported firmware (eager only)."""
        floats = {k: np.asarray(ops.convert_to_numpy(v)) for k, v in self.coefficient_floats().items()}
        types = {stage: self.stage_type(stage) for stage in self.spec.keys}
        for name, offset in truncation_offsets(self.canonical, floats, types).items():
            self._offsets[name].assign(np.broadcast_to(offset, self._offsets[name].shape))

    def hardware_floats(self) -> dict[str, Any]:
        """The coefficient tables the firmware quantizes: the learned ones plus the offsets."""
        floats = self.coefficient_floats()
        return {k: v + self._offsets[k] if k in self._offsets else v for k, v in floats.items()}

    def quantized_coefficients(self, training: Any = None) -> dict[str, Any]:
        out = {}
        for name, table in self.hardware_floats().items():
            flat = self.quantizers["w_" + name](ops.reshape(table, (-1,)), training=training)
            out[name] = ops.reshape(flat, ops.shape(table))
        return out

    def stage_type(self, stage: str) -> FixedType:
        """The stage's type at the quantizer's current (rounded) k, i, f and the stage's modes."""
        k, i, f = (int(np.round(np.asarray(ops.convert_to_numpy(v)).reshape(-1)[0])) for v in self.kif(stage))
        t = self.spec[stage]
        return FixedType(max(k + i + f, 1), k + i, bool(k), t.rounding, t.overflow)

    def kif(self, stage: str) -> tuple[Any, Any, Any]:
        return self.quantizers[stage].quantizer.kif

    def width(self, stage: str) -> Any:
        """k + i + f of a stage as a tensor (straight-through rounding: differentiable in f, and in
        i where it is trained)."""
        k, i, f = self.kif(stage)
        return ops.sum(ops.relu(k + i + f))

    def top_and_frac(self, stage: str) -> tuple[Any, Any]:
        """(k + i, f) of a stage as tensors, straight-through rounded as ``width``."""
        k, i, f = self.kif(stage)
        return ops.sum(k + i), ops.sum(f)

    def cost(self) -> Any:
        c = self.canonical
        return total_cost(self.top_and_frac, c.n_constituents, c.n_hidden, c.beams, self.mode)

    def _compute_ebops(self, shape: Any) -> Any:
        return self.cost()

    # ---- forward --------------------------------------------------------------------------
    def call(self, inputs: Any, training: Any = None) -> Any:
        x = ops.cast(inputs, self.compute_dtype)
        fields = []
        for c, (_, stage) in enumerate(INPUT_FIELDS[self.mode]):
            # Cartesian: one word type for E, px, py, pz; PUPPI: one per field
            column = ops.take(x, c, axis=2)
            word = self.quantizers[stage](ops.reshape(column, (-1,)), training=training)
            fields.append(KTensor(ops.reshape(word, ops.shape(column))))
        kops = KerasOps(
            {s: self._stage_fn(s) for s in cast_stages(self.mode)},
            self.kif,
            lambda stage: self.spec[stage].overflow,
            self.quantized_coefficients(training),
            self._rom_values,
            training=training,
            dtype=self.compute_dtype,
        )
        w, _ = run_kernel(kops, fields, self.signs, self.canonical.beams, self.spec.inputs)
        return w.t

    def _stage_fn(self, stage: str) -> Any:
        q = self.quantizers[stage]
        return lambda x, training: q(x, training=training)

    def apply_batches(self, pmu: np.ndarray, training: Any = False, batch_size: int = 2048) -> np.ndarray:
        """The layer over jets in batches (float64 scores): full batches through one compiled graph
        where the backend has one (TensorFlow: static shapes, ~10x faster than eager here), the
        rest eagerly."""
        x = np.asarray(pmu, dtype=self.compute_dtype)
        fn = self._compiled(training, batch_size) if len(x) >= batch_size else None
        out, start = [], 0
        if fn is not None:
            for start in range(0, len(x) - batch_size + 1, batch_size):
                out.append(ops.convert_to_numpy(fn(x[start : start + batch_size])))
            start += batch_size
        if start < len(x):
            out.append(ops.convert_to_numpy(self(x[start:], training=training)))
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)

    def _compiled(self, training: Any, batch_size: int) -> Any:
        if keras.backend.backend() != "tensorflow" or not self.graphs:
            return None
        import tensorflow as tf

        key = ("tracing" if tracks_ranges(training) and training is not True else bool(training), batch_size)
        cache = self.__dict__.setdefault("_graphs", {})
        if key not in cache:
            n_fields = len(INPUT_FIELDS[self.mode])
            spec = tf.TensorSpec((batch_size, self.canonical.n_constituents, n_fields), self.compute_dtype)
            cache[key] = tf.function(lambda x: self(x, training=training), input_signature=[spec])
        return cache[key]

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        return (input_shape[0],)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        for key in ("enable_ebops", "enable_oq", "enable_iq", "oq_conf", "ebops_factor"):
            config.pop(key, None)
        config.update(
            model=self.model_dict,
            precision=self.precision,
            fixed_stages=list(self.fixed_stages),
            coefficient_step=self.coefficient_step,
        )
        config["beta0"] = float(ops.convert_to_numpy(self.beta)) if self.built else 0.0
        return config


@keras.saving.register_keras_serializable(package="nanotrig")
class QatModel(keras.Model):
    """A Keras model around one ``QNanoPelican`` (fit, evaluate, save/load like any model)."""

    def __init__(self, kernel: QNanoPelican | dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kernel = (
            kernel if isinstance(kernel, QNanoPelican) else keras.saving.deserialize_keras_object(kernel)
        )

    def build(self, input_shape: Any) -> None:
        self.kernel.build(input_shape)
        super().build(input_shape)

    def call(self, inputs: Any, training: Any = None) -> Any:
        return self.kernel(inputs, training=training)

    def get_config(self) -> dict[str, Any]:
        return {"kernel": keras.saving.serialize_keras_object(self.kernel), "name": self.name}
