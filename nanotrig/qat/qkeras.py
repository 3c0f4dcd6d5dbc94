"""QKeras quantizer strings as a precision source: ``quantized_bits(12,4)`` -> ``ap_fixed<12,5,...>``.

The strings are parsed by HGQ2's QKeras-compatible API (``qkeras.get_quantizer``, which runs on
Keras 3; QKeras itself needs Keras 2), and its configuration is mapped to a ``FixedType`` with
QKeras' own meaning of the numbers, the one hls4ml's QKeras converter uses too:

- ``quantized_bits(bits, integer, symmetric=0, keep_negative=True, alpha=None)``: ``bits`` is the
  whole word *including* the sign bit, ``integer`` the integer bits *excluding* it, so the word is
  ``ap_fixed<bits, integer + 1>`` (``ap_ufixed<bits, integer>`` with ``keep_negative=False``).
  HGQ2's own quantizer built from the same configuration keeps ``bits`` bits besides the sign
  (one fractional bit more when signed, as its docstring says); nanotrig follows QKeras here.
- ``quantized_relu(bits, integer)``: ``ap_ufixed<bits, integer>``.
- Rounding: QKeras rounds to nearest with ties to even; ap_fixed's AP_RND rounds ties up, the
  mode every execution of the kernel supports (AP_RND_CONV is not), so ties (values exactly half
  an LSB between two words) round up here. Overflow: QKeras clips, i.e. AP_SAT, and
  ``symmetric=1`` is AP_SAT_SYM (the most negative word left out).
- ``alpha``: None or 1 is no scaling; a power of two 2^s moves the binary point (integer bits
  + s), exactly; any other scale (a number, ``'auto'``, ``'trainable_po2'``) is not a fixed-point
  type and is refused, as is stochastic rounding (not hardware).
"""

from __future__ import annotations

import inspect
import math
import re

from nanotrig.fixed.types import FixedType, PrecisionError

QKERAS_PREFIXES = ("quantized_bits", "quantized_relu")
_NAME = re.compile(r"^\s*(quantized_bits|quantized_relu)\s*\(")


def is_qkeras_string(text: object) -> bool:
    return isinstance(text, str) and _NAME.match(text) is not None


def _alpha_shift(alpha: object, where: str, text: str) -> int:
    if alpha is None:
        return 0
    if isinstance(alpha, str):
        raise PrecisionError(
            f"{where}: {text!r}: alpha={alpha!r} is a learned scale, not a fixed-point type (give alpha=1)"
        )
    value = float(alpha)
    shift = math.log2(value) if value > 0 else float("nan")
    if not math.isfinite(shift) or shift != round(shift):
        raise PrecisionError(
            f"{where}: {text!r}: alpha={alpha!r} is not a power of two (no fixed-point type)"
        )
    return int(round(shift))


def _hgq2_config(name: str, text: str) -> object:
    """HGQ2's configuration object of the string (its ``get_quantizer``; ``quantized_relu`` is
    bound to its own signature here, as HGQ2 0.2's ``from_string`` accepts ``quantized_bits`` only)."""
    import qkeras

    if name == "quantized_bits":
        return qkeras.get_quantizer(text)
    from qkeras.quantizers.utils import parse_string_to_args

    inner = text.split("(", 1)[1]
    if not inner.endswith(")"):
        raise SyntaxError(f"invalid syntax: {text}")
    args, kwargs = parse_string_to_args(inner[:-1]) if inner[:-1].strip() else ([], {})
    params = list(inspect.signature(qkeras.quantized_relu.__init__).parameters.values())[1:]
    bound = inspect.Signature(params).bind(*args, **kwargs)
    return qkeras.quantized_relu(**bound.arguments)


def qkeras_type(text: str, where: str = "precision") -> FixedType:
    """The FixedType of a QKeras quantizer string (see the module docstring for the mapping)."""
    match = _NAME.match(text)
    if match is None:
        raise PrecisionError(f"{where}: {text!r} is not a QKeras quantized_bits(...) / quantized_relu(...)")
    try:
        conf = _hgq2_config(match.group(1), text.strip())
    except (AssertionError, TypeError, ValueError, SyntaxError) as exc:
        raise PrecisionError(
            f"{where}: {text!r} is not a valid QKeras quantizer ({exc or type(exc).__name__})"
        ) from None
    c = conf.config
    if "S_" in str(c["round_mode"]).upper():
        raise PrecisionError(f"{where}: {text!r}: stochastic rounding has no firmware equivalent")
    bits, integer = float(c["b0"]), float(c["i0"])
    if bits != int(bits) or integer != int(integer):
        raise PrecisionError(f"{where}: {text!r}: bits and integer must be whole numbers")
    signed = bool(c["k0"])
    if conf.trainable:
        raise PrecisionError(f"{where}: {text!r}: alpha='trainable_po2' is a learned scale, not a fixed type")
    shift = _alpha_shift(conf.scaler, where, text)
    overflow = "AP_SAT_SYM" if conf.symmetric else "AP_SAT"
    try:
        return FixedType(int(bits), int(integer) + int(signed) + shift, signed, "AP_RND", overflow)
    except PrecisionError as exc:
        raise PrecisionError(f"{where}: {text!r}: {exc}") from None
