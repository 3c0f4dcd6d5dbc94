"""From a trained ``QNanoPelican`` to what every other path reads: a canonical model and its
FixedPointSpec, and the check that the firmware computes exactly what the QAT model computes.

``finalise`` fixes what training leaves floating: the integer bits of the input word and of the
WRAP stages become the largest value seen over a calibration set (HGQ2's range tracing for the
stages) plus ``margin_bits`` for the stages, every
coefficient type gets just the integer bits its quantized values need (so none saturates: the
emulator refuses a coefficient that does not fit), and no stage is narrower than one bit. After
it, the layer's inference-mode forward pass *is* the exported firmware.

``export`` writes the learned coefficients (firmware units, ``scale`` 1) into a canonical model
and the learned types into ``FixedPointSpec``; the spec travels inside the model's provenance
(``provenance['qat']['precision']``), which ``nanotrig.fixed.analysis.default_spec`` returns for
it, so ``nanotrig csim/report/rtl/hls/scan MODEL`` all build the learned firmware.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
from hgq.utils.minmax_trace import TrainingFlagWrapper
from keras import ops

from nanotrig.canonical import CanonicalModel
from nanotrig.errors import NanotrigError
from nanotrig.fixed.emulator import Emulator
from nanotrig.fixed.hwmodel import hardware_coefficients
from nanotrig.fixed.kernel import COEF_NAMES
from nanotrig.fixed.spec import FixedPointSpec, exact_product_type
from nanotrig.qat.cost import DSP_WORD_BITS
from nanotrig.qat.layer import SCALE_WORD, QNanoPelican, layer_inputs

EXACT_FLOAT_BITS = 53  # float64 computes every integer up to 2**53 exactly


def wrap_quantizers(layer: QNanoPelican) -> dict[str, Any]:
    """Stage -> inner HGQ2 quantizer of the trainable WRAP stages (integer bits from the data)."""
    out = {}
    for stage, q in layer.quantizers.items():
        inner = q.quantizer
        if inner.overflow_mode == "WRAP" and inner.trainable:
            out[stage] = inner
    return out


def trace_integer_bits(layer: QNanoPelican, pmu: np.ndarray, batch_size: int = 2048) -> None:
    """Set each WRAP stage's integer bits to the smallest that holds every value the kernel lets
    reach the output on these jets (HGQ2's 'tracing' mode of its quantizers; sign bits kept)."""
    for inner in wrap_quantizers(layer).values():
        inner._i.assign(ops.full(inner._i.shape, -1e9, dtype=inner._i.dtype))
    layer.apply_batches(pmu, TrainingFlagWrapper("tracing"), batch_size)


def _set_kif(inner: Any, i: float | None = None, f: float | None = None) -> None:
    if i is not None:
        inner._i.assign(ops.full(inner._i.shape, float(i), dtype=inner._i.dtype))
    if f is not None:
        inner._f.assign(ops.full(inner._f.shape, float(f), dtype=inner._f.dtype))


def _round(v: Any) -> int:
    return int(np.round(np.asarray(ops.convert_to_numpy(v)).reshape(-1)[0]))


def fit_input_range(layer: QNanoPelican, pmu: np.ndarray) -> None:
    """The input word's integer bits (Cartesian words, or PUPPI pT): the fewest that hold every
    value of these layer inputs at the current LSB (the software clips, and counts, anything
    beyond), unless the stage is fixed. A signed word keeps its sign bit (k)."""
    word = SCALE_WORD[layer.mode]
    inner = layer.quantizers[word].quantizer
    if word in layer.fixed_stages or inner._i.trainable:
        return
    f = _round(inner.f)
    values = np.abs(pmu if layer.mode == "cartesian" else pmu[..., 0])  # PUPPI: the pT column
    need = max(float(np.floor(np.max(values) * 2.0**f + 0.5)), 1.0) if values.size else 1.0
    i = math.ceil(math.log2(need + 1.0)) - f
    while 2.0 ** (i + f) - 1 < need:
        i += 1
    _set_kif(inner, i=i)


def fit_dsp_port(layer: QNanoPelican, pmu: np.ndarray) -> None:
    """Coarsen the Cartesian input word's LSB until the word fits a DSP48E2's 18-bit port (one DSP
    per product, as c2), refitting its integer bits to the data at each LSB. Training's cost keeps
    the words there (``nanotrig.qat.cost.DSP_WORD_BITS``); this makes it a guarantee."""
    word = SCALE_WORD[layer.mode]
    if word in layer.fixed_stages:  # the user's own type, whatever it costs
        return
    inner = layer.quantizers[word].quantizer
    while True:
        k, i, f = (_round(v) for v in inner.kif)
        if k + i + f <= DSP_WORD_BITS:
            return
        _set_kif(inner, f=f - (k + i + f - DSP_WORD_BITS))
        fit_input_range(layer, pmu)


def finalise(
    layer: QNanoPelican, calibration: np.ndarray, margin_bits: int = 0, batch_size: int = 2048
) -> None:
    """Fix integer bits (WRAP stages: traced over ``calibration`` + margin; coefficients: what
    their values need) and make every stage at least one bit wide (see module docstring)."""
    fit_input_range(layer, calibration)
    if layer.mode == "cartesian":
        fit_dsp_port(layer, calibration)
    trace_integer_bits(layer, calibration, batch_size)
    for inner in wrap_quantizers(layer).values():
        _set_kif(inner, i=_round(inner.i) + margin_bits)
    if layer.mode == "cartesian":
        # the products keep every bit above their LSB: they never overflow, and the sum of the
        # four wraps at d's top whatever they hold (only their LSB is learned)
        exact = exact_product_type(layer.stage_type("input"))
        _set_kif(layer.quantizers["d_product"].quantizer, i=exact.integer - 1)
    # each row-sum term keeps d's top (it never overflows; only its LSB is learned)
    _set_kif(layer.quantizers["r_term"].quantizer, i=_round(layer.quantizers["d"].quantizer.i))
    layer.refresh_offsets()  # the final LSBs' offsets: part of the values the types must hold
    floats = layer.hardware_floats()
    for name in COEF_NAMES:
        inner = layer.quantizers["w_" + name].quantizer
        f = _round(inner.f)
        values = np.asarray(ops.convert_to_numpy(floats[name]))
        raw = np.floor(values * 2.0**f + 0.5)  # what the quantizer gives once nothing saturates
        need = max(float(np.max(np.abs(raw))) if raw.size else 0.0, 1.0)
        # signed, W = 1 + i + f bits: need 2**(i + f) - 1 >= max |raw|
        i = math.ceil(math.log2(need + 1.0)) - f
        while 2.0 ** (i + f) - 1 < need:
            i += 1
        _set_kif(inner, i=i)
    for q in layer.quantizers.values():
        k, i, f = (_round(v) for v in q.quantizer.kif)
        if k + i + f < 1:
            _set_kif(q.quantizer, f=1 - k - i)


def learned_spec(layer: QNanoPelican, provenance: dict[str, Any] | None = None) -> FixedPointSpec:
    types = {stage: layer.stage_type(stage) for stage in layer.spec.keys}
    return FixedPointSpec(types, dict(provenance or {}), layer.spec.inputs, dict(layer.spec.implementation))


def learned_model(
    layer: QNanoPelican, name: str, spec: FixedPointSpec, qat: dict[str, Any]
) -> CanonicalModel:
    """The canonical model with the learned coefficients (scale folded: 1) and, in
    ``provenance['qat']``, the training record and the learned precision."""
    src = layer.canonical
    d = copy.deepcopy(src.to_dict())
    floats = {}
    for name_, thetas in layer._thetas.items():
        floats[name_] = [
            [float(c) for c in np.asarray(ops.convert_to_numpy(t)) * layer._scales[name_][h]]
            for h, t in enumerate(thetas)
        ]

    def terms(coef: str, h: int) -> list[list[float]]:
        powers = [p for _, p in layer.terms[coef][h]]
        return [[c, p] for c, p in zip(floats[coef][h], powers, strict=True)]

    for h, ch in enumerate(d["channels"]):
        for coef in COEF_NAMES:
            if coef != "out_const":
                ch[coef] = terms(coef, h)
    d["out_const"] = terms("out_const", 0)
    d["scale"] = 1.0
    d["name"] = name
    d["metrics"] = {}
    d["provenance"] = {
        "trained_with": "nanotrig qat",
        "started_from": {"name": src.name, "provenance": src.provenance, "metrics": src.metrics},
        "qat": {**qat, "precision": spec.to_dict()},
    }
    return CanonicalModel.from_dict(d, source="QAT export")


def check_coefficients(layer: QNanoPelican, model: CanonicalModel, spec: FixedPointSpec) -> None:
    """The firmware's coefficient integers (from the exported floats) equal the QAT model's."""
    raw = hardware_coefficients(model, spec.types)
    qat = layer.quantized_coefficients()
    for name in COEF_NAMES:
        mine = np.asarray(ops.convert_to_numpy(qat[name])) / spec["w_" + name].lsb
        if not np.array_equal(mine, raw[name].astype(np.float64)):
            raise NanotrigError(
                f"export: coefficient table 'w_{name}' differs between the QAT model and the emulator"
            )


def compare_with_emulator(
    layer: QNanoPelican, model: CanonicalModel, spec: FixedPointSpec, pmu: np.ndarray, batch_size: int = 2048
) -> dict[str, Any]:
    """The QAT model's inference-mode scores vs the emulator's on the same jets: equal words
    expected on every jet (``mismatches``), with the widest exact intermediate it needed (<= 53
    bits is exact in float64) and the emulator's overflow counts."""
    res = Emulator(model, spec).run(pmu)
    qat = layer.apply_batches(layer_inputs(pmu, spec.inputs), False, batch_size)
    widest = max((bits for bits, _ in res.exact_bits.values()), default=0)
    return {
        "jets": int(len(pmu)),
        "mismatches": int(np.sum(qat != res.scores)),
        "max_abs_difference": float(np.max(np.abs(qat - res.scores))) if len(pmu) else 0.0,
        "widest_exact_bits": int(widest),
        "exact_in_float64": bool(widest <= EXACT_FLOAT_BITS),
        "overflows": {k: int(v) for k, v in res.overflows.items() if v},
        "clipped_inputs": int(res.inputs.clipped),
        "scores": res.scores,
    }
