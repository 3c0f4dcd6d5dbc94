"""Fixed point: the FixedPointSpec, range analysis, input quantisation and the bit-accurate emulator.

The kernel itself (stage sequence and casts) is documented in ``nanotrig.fixed.kernel``.
"""

from nanotrig.fixed.analysis import DeriveOptions, default_spec, derive_spec
from nanotrig.fixed.emulator import Emulator, EmulatorResult, emulate, emulate_scores
from nanotrig.fixed.kernel import COEF_NAMES, STAGES, run_kernel
from nanotrig.fixed.quantize import QuantizedInputs, quantize_inputs
from nanotrig.fixed.spec import FixedPointSpec
from nanotrig.fixed.types import FixedType, PrecisionError

__all__ = [
    "COEF_NAMES",
    "STAGES",
    "DeriveOptions",
    "Emulator",
    "EmulatorResult",
    "FixedPointSpec",
    "FixedType",
    "PrecisionError",
    "QuantizedInputs",
    "default_spec",
    "derive_spec",
    "emulate",
    "emulate_scores",
    "quantize_inputs",
    "run_kernel",
]
