"""The generated C++ config struct of the nanoPELICAN kernel (goes into hls4ml's parameters.h).

It carries everything the templated kernel (``hls_templates/nnet_utils/nnet_nanopelican*.h``)
needs: sizes, one typedef per stage of the FixedPointSpec, exact accumulator types, and the
quantised coefficients as constants or ROM tables over the multiplicity.
"""

from __future__ import annotations

import numpy as np

from nanotrig.canonical import CanonicalModel
from nanotrig.fixed.hwmodel import hardware_coefficients
from nanotrig.fixed.kernel import (
    COEF_NAMES,
    FRONT_END_TABLES,
    INDEX_AXES,
    INDEXED_STAGES,
    PHI_HALF_TURN,
    index_shape,
    run_kernel,
)
from nanotrig.fixed.ops import Fx, IntOps
from nanotrig.fixed.spec import FixedPointSpec, table_storage
from nanotrig.fixed.tables import quantize_tables, tables_for
from nanotrig.fixed.types import FixedType

STAGE_TYPEDEFS = ("d", "r_term", "r", "T", "pair_bias", "u", "v", "z", "A", "diag_bias", "y", "D")
PUPPI_TYPEDEFS = ("deta", "dphi", "eta", "pt_pair", "pair_table", "beam_table")
ACCUMULATED = ("r", "T", "A", "D", "result")  # sums in a loop: need an exact accumulator type
MAX_RESULT_WIDTH = 53  # the C-simulation reads the score back as an exact double
# HLS storage of the front-end ROMs (Vitis BIND_STORAGE); only Vitis can confirm the mapping
STORAGE = {"lut": "lutram", "bram": "bram"}


def accumulator_types(model: CanonicalModel, spec: FixedPointSpec) -> dict[str, str]:
    """Exact types for the loop accumulators, from the emulator's static bit bounds (which
    depend only on the types, so one all-zero jet is enough to obtain them)."""
    coefs = hardware_coefficients(model, spec.types)
    ops = IntOps(spec.types, coefs, quantize_tables(tables_for(spec.inputs), spec.types))
    fields = [
        Fx(np.zeros((1, model.n_constituents), dtype=np.int64), t.frac, t.width) for _, t in spec.input_fields
    ]
    run_kernel(ops, fields, [ch.sign for ch in model.channels], model.beams, spec.inputs)
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


def _drop_function(stage: str, spec: FixedPointSpec, shape: tuple[int, ...]) -> str:
    """``stage_drop(indices)``: integer bits of the element's own type fewer than the stage's."""
    particle = iter(("i", "j"))
    args = ["h" if axis == "channel" else next(particle) for axis in INDEX_AXES[stage]]
    params = ", ".join(f"const unsigned {a}" for a in args)
    bits = spec.index_bits.get(stage)
    if bits is None or not np.any(bits < spec[stage].integer):
        return f"    static unsigned {stage}_drop({params}) {{ return 0; }}\n"
    drop = spec[stage].integer - bits

    def nested(a: np.ndarray) -> str:
        return (
            ", ".join(str(int(x)) for x in a) if a.ndim == 1 else ", ".join("{" + nested(r) + "}" for r in a)
        )

    dims = "".join(f"[{n}]" for n in shape)
    index = "".join(f"[{a}]" for a in args)
    return (
        f"    static unsigned {stage}_drop({params}) {{ // per-index integer bits of {stage}\n"
        f"        static const unsigned char table{dims} = {{{nested(drop)}}};\n"
        f"        return table{index};\n    }}\n"
    )


def multipliers(model: CanonicalModel, mode: str) -> int:
    """Variable x variable products of the kernel: 4 per pair (Cartesian), or 2 per pair and 2
    per constituent for the beams (PUPPI)."""
    n = model.n_constituents
    pairs = n * (n - 1) // 2
    if mode == "cartesian":
        return 4 * pairs
    return 2 * pairs + (2 * n if model.beams else 0)


def multiplier_limit(model: CanonicalModel, mode: str, reuse_factor: int) -> int:
    """The ALLOCATION limit on multipliers at II = ``reuse_factor``: the RTL's (``nanotrig rtl
    --reuse-factor R``): its rotation schedule (``nanotrig.rtl.schedule``) has ceil(N / R) pair
    units per circular distance, 4 products each (Cartesian) or 2 (PUPPI, + 2 per beam unit), a
    few more than ceil(products / R) where R does not divide N. II = 1: every product."""
    from nanotrig.rtl.schedule import fold_schedule

    if reuse_factor <= 1:
        return max(multipliers(model, mode), 1)
    sched = fold_schedule(model.n_constituents, reuse_factor)
    if mode == "cartesian":
        return max(4 * len(sched.pairs), 1)
    return max(2 * len(sched.pairs) + (2 * len(sched.beams) if model.beams else 0), 1)


def _front_end_table(name: str, raw: np.ndarray, spec: FixedPointSpec) -> str:
    index_stage, value_stage, _ = FRONT_END_TABLES[name]
    ti, tv = spec[index_stage], spec[value_stage]
    values = ", ".join(_literal(int(x), tv) for x in raw)
    # entry k is index value (k + min_int) * LSB: the raw index bits, offset binary if signed
    addr = f"x.range({ti.width - 1}, 0).to_uint()"
    if ti.signed:
        addr = f"({addr} ^ {1 << (ti.width - 1)}u)"
    impl = STORAGE[table_storage(spec.implementation, name)]
    return (
        f"    static {value_stage}_t {name}(const {index_stage}_t x) {{ // ROM over {ti}\n"
        f"        static const {value_stage}_t table[{raw.size}] = {{{values}}};\n"
        f"        #pragma HLS BIND_STORAGE variable=table type=rom_np impl={impl}\n"
        f"        return table[{addr}];\n"
        f"    }}\n"
    )


def _puppi_lines(spec: FixedPointSpec) -> list[str]:
    lines = [f"    typedef {spec[s]} {s}_t;" for s in PUPPI_TYPEDEFS]
    for name, word in (("eta_diff", spec["input_eta"]), ("phi_diff", spec["input_phi"])):
        # |a - b| of two words, exact (one bit for the difference, one for its negation)
        lines.append(f"    typedef ap_fixed<{word.width + 2},{word.integer + 2}> {name}_t; // exact")
    tab = spec["pair_table"]
    lines.append(f"    typedef ap_ufixed<{tab.width + 1},{tab.integer + 1}> angle_t; // F + G, exact")
    lines.append(f"    static const int phi_half_turn = {PHI_HALF_TURN}; // pi in steps of the phi word")
    return lines


def config_struct(
    model: CanonicalModel, spec: FixedPointSpec, index: int | str, reuse_factor: int = 1
) -> str:
    if spec["result"].width > MAX_RESULT_WIDTH:
        raise ValueError(f"stage 'result': {spec['result']} wider than {MAX_RESULT_WIDTH} bits")
    n, p = model.n_constituents, model.n_particles
    spec.check_index_shapes(p, model.n_hidden)
    coefs = hardware_coefficients(model, spec.types)
    acc = accumulator_types(model, spec)
    d_t = spec["d"]
    beam_beam = int(IntOps(spec.types, coefs).const(2.0, "d", (1,)).v[0])
    lines = [
        f"// nanoPELICAN {model.name or 'model'}: C = {model.n_hidden}, N = {n}, variant {model.variant}, "
        f"{spec.inputs} inputs",
        f"struct config{index} : nnet::nanopelican_config {{",
        f"    static const unsigned n_const = {n};",
        f"    static const unsigned n_part = {p};",
        f"    static const bool beams = {'true' if model.beams else 'false'};",
        f"    static const unsigned n_hidden = {model.n_hidden};",
        f"    static const unsigned reuse_factor = {reuse_factor};",
        # the same allocation as the RTL at this II (its pair units); only Vitis says what it binds
        f"    static const unsigned multiplier_limit = {multiplier_limit(model, spec.inputs, reuse_factor)};",
    ]
    for stage in STAGE_TYPEDEFS:
        lines.append(f"    typedef {spec[stage]} {stage}_t;")
    if spec.inputs == "cartesian":
        lines.append(f"    typedef {spec['d_product']} d_product_t; // each product before d's sum")
    if spec.inputs == "puppi":
        lines += _puppi_lines(spec)
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
    for name, raw in quantize_tables(tables_for(spec.inputs), spec.types).items():
        body += _front_end_table(name, raw, spec)
    for stage in INDEXED_STAGES:
        body += _drop_function(stage, spec, index_shape(stage, p, model.n_hidden))
    return body + "};\n"
