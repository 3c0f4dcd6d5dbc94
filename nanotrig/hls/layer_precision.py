"""What an hls4ml configuration means for the fused nanoPELICAN layer and the layer feeding it.

hls4ml's own flow, ``cfg = hls4ml.utils.config_from_keras_model(model, granularity=...)`` then
``convert_from_keras_model(model, hls_config=cfg, ...)``, writes for our layer and its input
layer ``Precision: {'result': 'auto'}``, ``Trace``, ``ReuseFactor``, and a Model-level default
``fixed<16,6>``. The rules, so that every such config converts and nothing is silently dropped:

- ``'auto'`` (for any stage) means the range-analysed spec (``default_spec``) decides.
- The Model-level ``Precision`` does not apply here: one default type cannot describe the
  kernel's thirteen stages, and hls4ml writes it for every model. One that is not hls4ml's
  generated default is warned about, not silently dropped.
- The layer's ``Precision`` dict (LayerType ``NanoPelicanHLS``, then LayerName, per key)
  overrides single stages, in ``ap_fixed<W,I[,Q,O]>`` or hls4ml's ``fixed<W,I[,Q,O]>``
  notation. A key that is not a stage (other than ``'auto'``) and a single type for the whole
  layer are errors naming layer, field and value.
- An explicit precision of an input layer (LayerName or LayerType, ``result`` or a plain
  string; hls4ml's own lookup order) is HONOURED: the spec is re-derived by range analysis with
  that input type (width, LSB, rounding and overflow). With PUPPI inputs there are three input
  layers, ``input_pt``, ``input_eta`` and ``input_phi``, each for its own word. The input
  words are what the trigger upstream delivers, a legitimate choice the rest of the kernel
  can be sized for; and since the emulator converts GeV to words with the same type
  (``quantize_inputs``), hls4ml's ``predict()`` and ``nanotrig`` keep agreeing. Ignoring it
  would make them disagree; refusing it would refuse a meaningful request. An input stage (``'input'``, or
  ``'input_pt'`` ...) in the layer's dict is the same request; if both are given and differ,
  that is an error naming both.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np

from nanotrig.canonical import CanonicalModel
from nanotrig.fixed.analysis import DeriveOptions, default_spec, input_type
from nanotrig.fixed.kernel import INPUT_FIELDS
from nanotrig.fixed.spec import FixedPointSpec, spec_keys
from nanotrig.fixed.types import FixedType, PrecisionError

# The Model-level default that config_from_keras_model / hls4ml's own defaults write.
HLS4ML_DEFAULTS = frozenset({"fixed<16,6>", "ap_fixed<16,6>"})


def _is_auto(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() == "auto"


def fixed_type(value: Any, where: str) -> FixedType:
    """A FixedType from an ap_fixed / fixed / ap_int string or an hls4ml precision object."""
    from hls4ml.backends.fpga.fpga_backend import FPGABackend
    from hls4ml.model.types import FixedPrecisionType, IntegerPrecisionType, PrecisionType

    try:
        p = value if isinstance(value, PrecisionType) else FPGABackend.convert_precision_string(str(value))
    except Exception as exc:  # hls4ml raises ValueError, AttributeError, ... on malformed strings
        raise PrecisionError(
            f"{where}: {value!r} is not of the form ap_fixed<W,I[,Q[,O]]> or fixed<W,I[,Q[,O]]> ({exc})"
        ) from None
    if isinstance(p, IntegerPrecisionType):
        return FixedType(p.width, p.width, p.signed)
    if not isinstance(p, FixedPrecisionType):
        raise PrecisionError(f"{where}: {value!r} is not a fixed-point type (the kernel is fixed point)")
    if p.saturation_bits:
        raise PrecisionError(f"{where}: {value!r}: saturation bits are not supported")
    try:
        return FixedType(
            p.width, p.integer, p.signed, f"AP_{p.rounding_mode.name}", f"AP_{p.saturation_mode.name}"
        )
    except PrecisionError as exc:
        raise PrecisionError(f"{where}: {value!r}: {exc}") from None


def input_stages(mode: str) -> tuple[str, ...]:
    """The word stage of each input layer of a mode, in input order."""
    return tuple(dict.fromkeys(stage for _, stage in INPUT_FIELDS[mode]))


def stage_overrides(
    layer_name: str, levels: list[tuple[str, Any]], keys: tuple[str, ...] = spec_keys("cartesian")
) -> dict[str, tuple[str, FixedType]]:
    """{stage: (where, type)} from the layer's Precision entries, lowest priority first."""
    out: dict[str, tuple[str, FixedType]] = {}
    for level, prec in levels:
        if prec is None:
            continue
        entries = prec.items() if isinstance(prec, dict) else [("default", prec)]
        for key, value in entries:
            where = (
                f"hls4ml {level} Precision {key!r}" if isinstance(prec, dict) else f"hls4ml {level} Precision"
            )
            if _is_auto(value):
                out.pop(key, None)  # a higher level's 'auto' undoes a lower level's type
                continue
            if key == "default":
                raise PrecisionError(
                    f"{where}: {value!r} is one type for the whole layer {layer_name!r}; the fused kernel "
                    f"has one type per stage: give 'auto' or a dict {{stage: type}} ({', '.join(keys)})"
                )
            if key not in keys:
                raise PrecisionError(
                    f"{where}: {key!r} (value {value!r}) is not a stage of layer {layer_name!r} "
                    f"(stages: {', '.join(keys)})"
                )
            out[key] = (where, fixed_type(value, where))
    return out


def input_precision(config: Any, node: Any) -> tuple[str, Any] | None:
    """The explicit precision of the layer feeding ours, in hls4ml's own lookup order (LayerName
    before LayerType, 'result' before a plain string), or None when only the Model default applies."""
    name, cls = node.name, node.class_name
    for table, key, where in (
        (
            config.layer_name_precision,
            f"{name.lower()}_result",
            f"hls4ml LayerName {name!r} Precision 'result'",
        ),
        (config.layer_name_precision, f"{name.lower()}_default", f"hls4ml LayerName {name!r} Precision"),
        (
            config.layer_type_precision,
            f"{cls.lower()}_result",
            f"hls4ml LayerType {cls!r} Precision 'result'",
        ),
        (config.layer_type_precision, f"{cls.lower()}_default", f"hls4ml LayerType {cls!r} Precision"),
    ):
        value = table.get(key)
        if value is not None:
            return where, value
    return None


def warn_model_default(config: Any, layer_name: str) -> None:
    for var in ("default", "result"):
        value = config.model_precision.get(var)
        if value is None or _is_auto(value) or str(value).replace(" ", "").lower() in HLS4ML_DEFAULTS:
            continue
        warnings.warn(
            f"hls4ml Model Precision {var!r} {value!r} does not apply to layer {layer_name!r} or its input: "
            "their types come from nanotrig's range-analysed spec; set them per stage in "
            f"LayerName {layer_name!r} Precision (or the input layer's Precision)",
            UserWarning,
            stacklevel=2,
        )


def spec_for_input(canonical: CanonicalModel, t_in: FixedType, where: str) -> FixedPointSpec:
    """The default spec re-derived for the input words ``t_in`` (default_spec when it is the default)."""
    base = DeriveOptions()
    if t_in == input_type(base):
        return default_spec(canonical)
    opts = dataclasses.replace(
        base,
        input_bits=t_in.width,
        input_lsb=t_in.lsb,
        input_rounding=t_in.rounding,
        input_overflow=t_in.overflow,
    )
    try:
        if input_type(opts) != t_in:
            raise PrecisionError(f"{t_in} must be signed (px, py, pz are signed)")
        spec = default_spec(canonical, opts)
    except PrecisionError as exc:
        raise PrecisionError(f"{where}: input type {t_in}: {exc}") from None
    _warn_clipping(canonical, t_in, where)
    return spec


def _warn_clipping(canonical: CanonicalModel, t_in: FixedType, where: str) -> None:
    from nanotrig.data import read_jets, sample_path
    from nanotrig.fixed.quantize import quantize_inputs

    pmu = read_jets(sample_path(), n_constituents=canonical.n_constituents, check_masses=False).pmu
    q = quantize_inputs(pmu, t_in, canonical.n_constituents)
    if q.clipped:
        big = float(np.abs(pmu).max())
        warnings.warn(
            f"{where}: input type {t_in} (+-{t_in.max_value:g} GeV) cannot hold {q.clipped} momentum "
            f"components of the shipped sample (up to {big:g} GeV); they are "
            f"{'wrapped' if t_in.overflow == 'AP_WRAP' else 'clipped'} (the emulator counts them)",
            UserWarning,
            stacklevel=3,
        )


def spec_for_puppi_words(
    canonical: CanonicalModel, words: dict[str, tuple[str, FixedType]]
) -> FixedPointSpec:
    """The default PUPPI spec re-derived for the requested pT / eta / phi words."""
    base = DeriveOptions(inputs="puppi")
    if not words:
        return default_spec(canonical, base)
    opts = dataclasses.replace(base, **{stage: str(t) for stage, (_, t) in words.items()})
    try:
        spec = default_spec(canonical, opts)
        return FixedPointSpec(spec.types, spec.provenance, "puppi", spec.implementation)
    except PrecisionError as exc:
        where = ", ".join(w for w, _ in words.values())
        raise PrecisionError(f"{where}: {exc}") from None


def resolve_layer_spec(
    canonical: CanonicalModel,
    layer_name: str,
    levels: list[tuple[str, Any]],
    input_requests: dict[str, tuple[str, Any] | None] | tuple[str, Any] | None,
    mode: str = "cartesian",
) -> FixedPointSpec:
    """The layer's FixedPointSpec from its Precision entries and the input layers' precisions
    (``input_requests``: input word stage -> the input layer's explicit precision, or None)."""
    if not isinstance(input_requests, dict):  # the Cartesian layer's one input
        input_requests = {"input": input_requests}
    keys = spec_keys(mode)
    stages = stage_overrides(layer_name, levels, keys)
    words: dict[str, tuple[str, FixedType]] = {}
    for stage, request in input_requests.items():
        if request is not None and not _is_auto(request[1]):
            words[stage] = (request[0], fixed_type(request[1], request[0]))
        if stage in stages:
            if stage in words and words[stage][1] != stages[stage][1]:
                raise PrecisionError(
                    f"{words[stage][0]} is {words[stage][1]} but {stages[stage][0]} is {stages[stage][1]}: "
                    "the kernel reads the input layer's words, so the two must agree (give one of them)"
                )
            words[stage] = stages[stage]
    if set(stages) == set(keys):  # a complete spec (the project writer's): nothing to derive
        return FixedPointSpec(
            {k: t for k, (_, t) in stages.items()}, {"source": f"hls4ml layer {layer_name!r}"}, mode
        )
    if mode == "puppi":
        spec = spec_for_puppi_words(canonical, words)
    elif "input" in words:
        spec = spec_for_input(canonical, words["input"][1], words["input"][0])
    else:
        spec = default_spec(canonical)
    overrides = {k: str(t) for k, (_, t) in stages.items() if k not in input_requests}
    if overrides:
        spec = spec.with_overrides(overrides, source=f"hls4ml Precision of layer {layer_name!r}")
    return spec
