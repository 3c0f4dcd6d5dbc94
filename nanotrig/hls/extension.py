"""hls4ml extension: the whole nanoPELICAN as ONE hls4ml layer mapped to the fused HLS kernel.

Registered for the Vivado and Vitis backends (``register()``, run automatically when hls4ml is
imported after ``import nanotrig``). A Keras model containing ``nanotrig.model.NanoPelican``
(folded on conversion) or ``CanonicalNanoPelican`` converts with
``hls4ml.converters.convert_from_keras_model(model, backend='Vitis', io_type='io_parallel')``;
``compile()`` + ``predict()`` is then the C-simulation of our kernel.

Precision: the layer's types are the model's default FixedPointSpec (range analysis on the
shipped sample); an hls4ml precision dict for the layer overrides single stages, e.g.
``hls_config['LayerName']['nanopelican']['Precision'] = {'z': 'ap_fixed<18,15>', 'result': ...}``;
``'auto'`` (what ``config_from_keras_model`` writes) means the spec's type. An explicit precision
of an input layer is honoured by re-deriving the spec for those input words. The input layers'
types are set to the spec's input types, whose rounding and overflow modes (AP_RND, AP_SAT by
default) are exactly the emulator's conversion to words, so ``predict()`` on jets in GeV equals
``nanotrig predict --fixed``. The rules: ``nanotrig.hls.layer_precision``.

Input mode: the layer attribute ``input_mode`` (``'cartesian'``: one (N, 4) input of (E, px, py, pz)
words; ``'puppi'``: three (N,) inputs ``input_pt``, ``input_eta``, ``input_phi``, the angles in
steps of pi/720), set by the Keras layer (``CanonicalNanoPelican(..., inputs='puppi')``).
``PairTable`` / ``BeamTable`` in the layer's hls4ml config choose the ROM storage (``lut`` or
``bram``); ``IndexBits`` ({stage: nested lists}, as in a precision YAML) sets per-index integer
bits (the project writer passes the spec's own this way).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hls4ml
from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate
from hls4ml.converters.keras_v3._base import KerasV3LayerHandler
from hls4ml.model.attributes import Attribute, ConfigurableAttribute
from hls4ml.model.layers import Layer, register_layer
from hls4ml.model.types import FixedPrecisionType, RoundingMode, SaturationMode

from nanotrig.canonical import CanonicalModel
from nanotrig.errors import NanotrigError
from nanotrig.fixed.spec import FixedPointSpec
from nanotrig.fixed.types import FixedType
from nanotrig.hls.config import config_struct
from nanotrig.hls.layer_precision import input_precision, input_stages, resolve_layer_spec, warn_model_default

TEMPLATES = Path(__file__).resolve().parent.parent / "hls_templates"
KERNEL_HEADERS = sorted((TEMPLATES / "nnet_utils").glob("nnet_nanopelican*.h"))
BACKENDS = ("Vivado", "Vitis")


def hls4ml_precision(t: FixedType) -> FixedPrecisionType:
    return FixedPrecisionType(
        width=t.width,
        integer=t.integer,
        signed=t.signed,
        rounding_mode=RoundingMode.from_string(t.rounding),
        saturation_mode=SaturationMode.from_string(t.overflow),
    )


def layer_spec(node: Layer, canonical: CanonicalModel) -> FixedPointSpec:
    """The node's spec from its hls4ml config and its input layers' (``layer_precision`` rules)."""
    config = node.model.config
    hls = config.config.get("HLSConfig") or {}
    levels = [
        (f"LayerType {node.class_name!r}", (hls.get("LayerType") or {}).get(node.class_name, {})),
        (f"LayerName {node.name!r}", (hls.get("LayerName") or {}).get(node.name, {})),
    ]
    mode = node.get_attr("input_mode", "cartesian")
    warn_model_default(config, node.name)
    requests = {}
    for stage, name in zip(input_stages(mode), node.inputs, strict=False):
        source = node.get_input_node(name)
        requests[stage] = input_precision(config, source) if source is not None else None
    spec = resolve_layer_spec(
        canonical, node.name, [(k, v.get("Precision")) for k, v in levels], requests, mode
    )
    impl = {}
    for key, table in (("PairTable", "pair_table"), ("BeamTable", "beam_table")):
        for _, level in levels:
            if level.get(key) is not None:
                impl[table] = level[key]
    spec = spec.with_implementation(**impl)
    for where, level in levels:  # per-index integer bits given in the config replace the spec's
        if level.get("IndexBits") is not None:
            spec = spec.with_overrides(
                {"Inputs": spec.inputs, "Precision": {}, "IndexBits": level["IndexBits"]},
                source=f"hls4ml {where}",
            )
    return spec


class NanoPelicanHLS(Layer):
    """The fused nanoPELICAN node: input (N, 4) words, output (1,) score."""

    _expected_attributes = [
        Attribute("n_constituents"),
        Attribute("canonical", value_type=dict),
        Attribute("input_mode", value_type=str, default="cartesian"),
        ConfigurableAttribute("reuse_factor", default=1),
    ]

    def initialize(self) -> None:
        canonical = CanonicalModel.from_dict(self.get_attr("canonical"), source=f"layer {self.name}")
        mode = self.get_attr("input_mode", "cartesian")
        spec = layer_spec(self, canonical)
        self.set_attr("precision_spec", spec.to_dict())
        if self.get_attr("reuse_factor") is None:  # none for the layer: hls4ml's Model-level one
            self.set_attr("reuse_factor", self.model.config.model_rf or 1)
        rf = self.get_attr("reuse_factor")
        if not isinstance(rf, int) or isinstance(rf, bool) or rf < 1:
            raise NanotrigError(f"hls4ml ReuseFactor of layer {self.name!r}: {rf!r} is not an integer >= 1")
        n = canonical.n_constituents
        if mode == "cartesian":
            want = [("jet", [n, 4], spec["input"])]
        else:
            want = [(field, [n], t) for field, t in spec.input_fields]
        names = list(self.inputs)
        if len(names) != len(want):
            raise ValueError(f"layer {self.name}: {len(names)} inputs, {mode} inputs need {len(want)}")
        for name, (field, shape, t) in zip(names, want, strict=True):
            inp = self.get_input_variable(name)
            if list(inp.shape) != shape:
                raise ValueError(
                    f"layer {self.name}: input {name} ({field}) shape {list(inp.shape)}, expected {shape}"
                )
            inp.type.precision = hls4ml_precision(t)
        self.add_output_variable([1], var_name="score", precision=hls4ml_precision(spec["result"]))


_CONFIG_TEMPLATE_DOC = "nanoPELICAN kernel configuration (generated by nanotrig)"


class NanoPelicanConfigTemplate(LayerConfigTemplate):
    def __init__(self) -> None:
        super().__init__(NanoPelicanHLS)

    def format(self, node: Layer) -> str:
        canonical = CanonicalModel.from_dict(node.get_attr("canonical"))
        spec = FixedPointSpec.from_dict(node.get_attr("precision_spec"), source=f"layer {node.name}")
        return config_struct(canonical, spec, node.index, int(node.get_attr("reuse_factor")))


class NanoPelicanFunctionTemplate(FunctionCallTemplate):
    def __init__(self) -> None:
        super().__init__(NanoPelicanHLS, include_header=["nnet_utils/nnet_nanopelican.h"])
        self.template = "nnet::nanopelican<{input_t}, {output_t}, {config}>({input}, {output});"

    def format(self, node: Layer) -> str:
        params = self._default_function_params(node)
        if node.get_attr("input_mode", "cartesian") == "cartesian":
            return self.template.format(**params)
        ins = [node.get_input_variable(name) for name in node.inputs]
        types = ", ".join(v.type.name for v in ins)
        args = ", ".join(v.name for v in ins)
        out, config = params["output"], params["config"]
        return f"nnet::nanopelican<{types}, {params['output_t']}, {config}>({args}, {out});"


class NanoPelicanKerasHandler(KerasV3LayerHandler):
    """Keras 3 -> hls4ml: fold the trainable layer (or take the canonical one) into one node."""

    handles = ("NanoPelican", "CanonicalNanoPelican")

    def handle(self, layer: Any, in_tensors: Any, out_tensors: Any) -> dict[str, Any]:
        if hasattr(layer, "canonical"):
            canonical = CanonicalModel.from_dict(layer.canonical, source=f"layer {layer.name}")
        else:
            from nanotrig.fold import fold_keras_model

            canonical = fold_keras_model(layer)
        return {
            "class_name": "NanoPelicanHLS",
            "canonical": canonical.to_dict(),
            "n_constituents": canonical.n_constituents,
            "input_mode": getattr(layer, "inputs", "cartesian"),
        }


_registered = False


def register() -> None:
    """Register the layer, its templates and kernel headers with hls4ml (idempotent)."""
    global _registered
    if _registered:
        return
    register_layer("NanoPelicanHLS", NanoPelicanHLS)
    for name in BACKENDS:
        backend = hls4ml.backends.get_backend(name)
        backend.register_template(NanoPelicanConfigTemplate)
        backend.register_template(NanoPelicanFunctionTemplate)
        for header in KERNEL_HEADERS:
            backend.register_source(header)
    _registered = True


register()
