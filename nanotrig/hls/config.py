"""The generated C++ config struct of the nanoPELICAN kernel (goes into hls4ml's parameters.h).

It carries everything the templated kernel (``hls_templates/nnet_utils/nnet_nanopelican*.h``)
needs: sizes, one typedef per stage of the FixedPointSpec, exact accumulator types, and the
quantised coefficients as constants or ROM tables over the multiplicity.
"""

from __future__ import annotations

import numpy as np

from nanotrig.canonical import CanonicalModel
from nanotrig.fixed.hwmodel import coefficient_tables, quantize_coefficients
from nanotrig.fixed.kernel import COEF_NAMES, run_kernel
from nanotrig.fixed.ops import Fx, IntOps
from nanotrig.fixed.spec import FixedPointSpec
from nanotrig.fixed.types import FixedType

STAGE_TYPEDEFS = ("d", "r", "T", "pair_bias", "u", "v", "z", "A", "diag_bias", "y", "D")
ACCUMULATED = ("r", "T", "A", "D", "result")  # sums in a loop: need an exact accumulator type
MAX_RESULT_WIDTH = 53  # the C-simulation reads the score back as an exact double


def accumulator_types(model: CanonicalModel, spec: FixedPointSpec) -> dict[str, str]:
    """Exact types for the loop accumulators, from the emulator's static bit bounds (which
    depend only on the types, so one all-zero jet is enough to obtain them)."""
    ops = IntOps(spec.types, quantize_coefficients(coefficient_tables(model), spec.types))
    t_in = spec["input"]
    words = Fx(np.zeros((1, model.n_constituents, 4), dtype=np.int64), t_in.frac, t_in.width)
    run_kernel(ops, words, [ch.sign for ch in model.channels], model.beams)
    out = {}
    for stage in ACCUMULATED:
        bits, f = ops.exact_bits[stage]
        out[stage] = f"ap_fixed<{bits + 1},{bits + 1 - f}>"
    return out


def _literal(raw: int, t: FixedType) -> str:
    # raw * 2**-F is a dyadic rational exactly representable in a double (|raw| < 2**53);
    # repr() round-trips, so ap_fixed is initialised with the exact value.
    return repr(float(raw) * 2.0**-t.frac)


def _table_function(name: str, raw: np.ndarray, t: FixedType, per_channel: bool) -> str:
    const = raw.shape[-1] == 1
    args = "const unsigned h, const unsigned m" if per_channel else "const unsigned m"
    if per_channel:
        rows = ", ".join("{" + ", ".join(_literal(int(x), t) for x in row) + "}" for row in raw)
        decl = f"static const w_{name}_t table[{raw.shape[0]}][{raw.shape[1]}] = {{{rows}}};"
        ret = f"table[h][{'0' if const else 'm'}]"
    else:
        values = ", ".join(_literal(int(x), t) for x in raw)
        decl = f"static const w_{name}_t table[{raw.shape[0]}] = {{{values}}};"
        ret = f"table[{'0' if const else 'm'}]"
    what = "constant" if const else "ROM over M"
    unused = "        (void)m;\n" if const else ""
    return (
        f"    static w_{name}_t {name}({args}) {{ // {what}\n"
        f"{unused}        {decl}\n"
        f"        return {ret};\n"
        f"    }}\n"
    )


def config_struct(
    model: CanonicalModel, spec: FixedPointSpec, index: int | str, reuse_factor: int = 1
) -> str:
    if spec["result"].width > MAX_RESULT_WIDTH:
        raise ValueError(f"stage 'result': {spec['result']} wider than {MAX_RESULT_WIDTH} bits")
    n, p = model.n_constituents, model.n_particles
    n_mult = 4 * n * (n - 1) // 2
    coefs = quantize_coefficients(coefficient_tables(model), spec.types)
    acc = accumulator_types(model, spec)
    d_t = spec["d"]
    beam_beam = int(IntOps(spec.types, coefs).const(2.0, "d", (1,)).v[0])
    lines = [
        f"// nanoPELICAN {model.name or 'model'}: C = {model.n_hidden}, N = {n}, variant {model.variant}",
        f"struct config{index} : nnet::nanopelican_config {{",
        f"    static const unsigned n_const = {n};",
        f"    static const unsigned n_part = {p};",
        f"    static const bool beams = {'true' if model.beams else 'false'};",
        f"    static const unsigned n_hidden = {model.n_hidden};",
        f"    static const unsigned reuse_factor = {reuse_factor};",
        f"    static const unsigned multiplier_limit = {max(-(-n_mult // reuse_factor), 1)};",
    ]
    for stage in STAGE_TYPEDEFS:
        lines.append(f"    typedef {spec[stage]} {stage}_t;")
    for stage, text in acc.items():
        lines.append(f"    typedef {text} {stage}_acc_t; // exact")
    for name in COEF_NAMES:
        lines.append(f"    typedef {spec['w_' + name]} w_{name}_t;")
    signs = ", ".join(str(ch.sign) for ch in model.channels)
    lines.append("    static int sign(const unsigned h) {")
    lines.append(f"        static const int s[{model.n_hidden}] = {{{signs}}};")
    lines.append("        return s[h];\n    }")
    lines.append(f"    static d_t beam_beam() {{ return d_t({_literal(beam_beam, d_t)}); }}")
    body = "\n".join(lines) + "\n"
    for name in COEF_NAMES:
        body += _table_function(name, coefs[name], spec["w_" + name], per_channel=name != "out_const")
    return body + "};\n"
