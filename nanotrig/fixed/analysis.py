"""Range analysis: the default FixedPointSpec of a model, derived deterministically.

Ranges: the kernel runs in float64 (``RangeOps``, no rounding, coefficients already quantised)
over a jet sample (by default the shipped 4,000-jet sample) and records max |value| per stage
on valid entries. Hard bounds from the input format fix the input type. Integer bits hold that
maximum times 2**margin_bits; fractional bits follow one rule per group of stages:

- pair group (d, r, T, u, v, z): one common LSB, ``pair_bits`` below the largest |z|, so r and
  T are exact sums of d and the per-pair adds s d + u + v never round;
- diagonal group (y): ``diag_bits`` below the largest |y| (per particle, so a fine LSB is cheap);
- the jet biases pair_bias and diag_bias: ``bias_bits`` finer than their group. One value per
  jet and channel enters every pair (every particle) of the jet, so its rounding error does not
  average out over the ~M^2 terms of A as the per-pair errors do: at the group's LSB it was the
  largest part of the score error (c2: rms 0.080 -> 0.074 with it exact; PUPPI 0.040 -> 0.027),
  at the cost of a few bits on 2 C values per jet;
- sums A, D: ``sum_bits`` below their largest value (never finer than z / y);
- result: ``result_bits`` below the largest |w|.

The pair, diagonal and sum bits are quoted for ``reference_constituents`` (20) constituents: the
largest |z| grows about linearly with N (r_i and T are sums over the jet), while the small pair
values that carry the physics do not, so one bit is added per doubling of N above the reference
to keep their LSB. Measured on the shipped c2-n80 (N = 80, 9,000 stand-in test jets, biases
at the group's LSB): 15 bits lose 0.004 in AUC, 17 bits 0.0005; with ``bias_bits`` the extra
bits still cut the score error by a third (shipped sample: rms 0.10 -> 0.065).

PUPPI inputs (``inputs='puppi'``): the word types default to the CMS Phase-2 convention (pT
``ap_ufixed<14,12>``, eta ``ap_int<12>``, phi ``ap_int<11>``, angles in pi/720). Table indices
(``deta``, ``dphi``, ``eta``) saturate and are just wide enough for the largest value seen (no
margin: a table twice as deep would cost twice the memory for arguments a jet never has);
``pt_pair`` keeps the exact LSB of pT_i pT_j unless it would exceed a DSP48E2 operand
(``dsp_a_bits``); the ROM value types (``pair_table``, ``beam_table``) hold their table's largest
entry with a fixed number of bits.

Per-index integer bits (``index_bits``, on by default): the constituents arrive leading pT first,
so a soft pair's d, z and a soft particle's r, u, v, y stay far below their stage's largest value
(c2: z needs 4 of its 15 integer bits fewer on average). Each element of those stages
(``kernel.INDEXED_STAGES``) gets the integer bits that the largest value of it and its neighbours
in pT rank on the sample needs, with the same margin (``pooled_ranges``); the LSBs stay those
above, so on every jet without an overflow the integers are those of one type per stage, and an
overflow is counted like any other. The hardware builds only the bits kept (docs/rtl.md). It
relies on the leading-pT-first order every reader of jets produces; a datapath that
time-multiplexes pairs (II > 1) takes one type per stage (``FixedPointSpec.for_reuse``).

The same model, sample and options always give the same spec.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, replace
from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from nanotrig.canonical import CanonicalModel
from nanotrig.errors import NanotrigError
from nanotrig.fixed.hwmodel import (
    coefficient_tables,
    coefficient_type,
    quantize_coefficients,
    truncation_offsets,
)
from nanotrig.fixed.kernel import (
    COEF_NAMES,
    INDEX_AXES,
    INDEXED_STAGES,
    UNSIGNED_STAGES,
    batch_size,
    check_mode,
    index_shape,
    run_kernel,
)
from nanotrig.fixed.ops import RangeOps
from nanotrig.fixed.quantize import quantize_jets
from nanotrig.fixed.spec import FixedPointSpec, with_default_stages
from nanotrig.fixed.tables import table_max, value_type
from nanotrig.fixed.types import FixedType, PrecisionError, fitting_type


@dataclass(frozen=True)
class DeriveOptions:
    inputs: str = "cartesian"  # or "puppi"
    # Measured on a c2 (18k stand-in test jets): the input LSB dominates the float-fixed gap
    # (dAUC -0.0013 at 1/8 GeV, -0.0007 at 1/16, -0.0002 at 1/32); an 18-bit word still needs one
    # DSP48 per product, and +-4096 GeV holds every constituent of a 1 TeV jet at |eta| < 2.
    input_bits: int = 18
    input_lsb: float = 1 / 32  # GeV, a power of two
    # How a float GeV value becomes an input word: round half up and clip. hls4ml's predict()
    # converts doubles with input_t's own modes, so input_t carries these (quantize_inputs too).
    input_rounding: str = "AP_RND"
    input_overflow: str = "AP_SAT"
    weight_bits: int = 10  # at N = 20; 12 gave the same physics on c1..c10 and more adders (docs/rtl.md)
    margin_bits: int = 1
    # 14 bits and biases 5 bits finer (docs/firmware.md): decision flips 1.26 -> 1.04 % (c2),
    # 0.64 -> 0.45 % (c2 PUPPI), 3.35 -> 1.44 % (c2-n40) against 15 bits with the biases at the
    # group's LSB, and one bit less in every pair adder
    pair_bits: int = 14
    bias_bits: int = 5
    diag_bits: int = 15
    sum_bits: int = 15
    result_bits: int = 14
    reference_constituents: int = 20
    rounding: str = "AP_TRN"
    overflow: str = "AP_WRAP"
    result_overflow: str = "AP_SAT"  # a saturated score still takes the right trigger decision
    # PUPPI words (CMS Phase-2 correlator) and the front-end
    input_pt: str = "ap_ufixed<14,12>"
    input_eta: str = "ap_int<12>"
    input_phi: str = "ap_int<11>"
    # ROM sizes, chosen on the stand-in's 18k test jets (docs/puppi.md): the table errors stay
    # below those of the pi/720 angle words (decision flips 0.74 % at 16/17 bits and 1 step,
    # 0.73 % here); a pair ROM of 12 bits, a beam ROM of 10 bits indexed by eta in steps of 4
    pair_table_bits: int = 12
    beam_table_bits: int = 10
    beam_index_steps: int = 4  # eta words per beam-ROM entry (a power of two)
    dsp_a_bits: int = 26  # widest unsigned operand of a DSP48E2 A port (27 bits signed)
    index_bits: bool = True  # per-index integer bits for d, r, u, v, y, z (module docstring)


# The input words convert from real numbers as the emulator's quantizer does: round half up
# (AP_RND) and clip (AP_SAT), so hls4ml's predict() bridge gives the same words.
WORD_MODES = {"rounding": "AP_RND", "overflow": "AP_SAT"}


def input_type(opts: DeriveOptions) -> FixedType:
    frac = -math.log2(opts.input_lsb)
    if opts.input_lsb <= 0 or frac != round(frac):
        raise PrecisionError(f"stage 'input': LSB {opts.input_lsb} GeV is not a power of two")
    bits, modes = opts.input_bits, {"rounding": opts.input_rounding, "overflow": opts.input_overflow}
    return FixedType(bits, bits - int(round(frac)), **modes)


def input_types(opts: DeriveOptions) -> dict[str, FixedType]:
    """The word type of every input field of the options' mode."""
    if check_mode(opts.inputs) == "cartesian":
        return {"input": input_type(opts)}
    out = {}
    for stage in ("input_pt", "input_eta", "input_phi"):
        text = getattr(opts, stage)
        t = FixedType.parse(text, where=f"stage {stage!r}")
        explicit = re.search(r",\s*AP_", text, re.IGNORECASE)  # modes given: kept as they are
        out[stage] = t if explicit else t.with_modes(**WORD_MODES)
    return out


def coefficient_types(model: CanonicalModel, weight_bits: int) -> dict[str, FixedType]:
    tables = coefficient_tables(model)
    return {"w_" + name: coefficient_type(tables[name], weight_bits, name) for name in COEF_NAMES}


def stage_ranges(
    model: CanonicalModel, pmu: np.ndarray, opts: DeriveOptions, ptetaphi: np.ndarray | None = None
) -> dict[str, float]:
    """max |value| per stage over the jets ``pmu`` (float GeV), after input/weight quantisation."""
    ctypes = coefficient_types(model, weight_bits_for(model.n_constituents, opts))
    tables = coefficient_tables(model)
    raw = quantize_coefficients(tables, ctypes)
    qcoefs = {name: raw[name] * ctypes["w_" + name].lsb for name in COEF_NAMES}
    ops = RangeOps(qcoefs)
    words = list(input_types(opts).values())
    q = quantize_jets(pmu, opts.inputs, words, model.n_constituents, ptetaphi)
    values = q.values
    step = batch_size(model.n_particles)
    signs = [ch.sign for ch in model.channels]
    for start in range(0, values.shape[0], step):
        block = values[start : start + step]
        fields = [block[:, :, c] for c in range(block.shape[2])]
        run_kernel(ops, fields, signs, model.beams, opts.inputs)
    return ops.max_abs


def front_end_types(ranges: dict[str, float], words: dict[str, FixedType], opts: DeriveOptions) -> dict:
    """The PUPPI front-end's index, product and table types (see the module docstring)."""
    sat = {"overflow": "AP_SAT"}
    eta_f, phi_f = words["input_eta"].frac, words["input_phi"].frac
    shift = math.log2(opts.beam_index_steps)
    if opts.beam_index_steps < 1 or shift != round(shift):
        raise PrecisionError(f"beam_index_steps {opts.beam_index_steps} is not a power of two")
    types = {
        "deta": fitting_type(ranges.get("deta", 0.0), eta_f, signed=False, **sat),
        "dphi": fitting_type(ranges.get("dphi", 0.0), phi_f, signed=False, **sat),
        # round to the nearest entry: a coarser beam index rounds, it does not truncate
        "eta": fitting_type(
            ranges.get("eta", 0.0), eta_f - int(shift), signed=True, rounding="AP_RND", **sat
        ),
    }
    pp = fitting_type(
        ranges.get("pt_pair", 0.0), 2 * words["input_pt"].frac, signed=False, margin_bits=opts.margin_bits
    )
    if pp.width > opts.dsp_a_bits:  # drop LSBs of the product, keep its range
        pp = FixedType(opts.dsp_a_bits, pp.integer, False, opts.rounding, opts.overflow)
    types["pt_pair"] = pp
    pair_max = max(table_max("cosh_m1", types["deta"]), table_max("one_m_cos", types["dphi"]))
    beam_max = max(table_max("exp_minus", types["eta"]), table_max("exp_plus", types["eta"]))
    types["pair_table"] = value_type(pair_max, opts.pair_table_bits)
    types["beam_table"] = value_type(beam_max, opts.beam_table_bits)
    return types


def extra_bits_for(n_constituents: int, opts: DeriveOptions) -> int:
    """Bits added to the internal widths for N above the reference: one per doubling."""
    return max(0, math.ceil(math.log2(n_constituents / opts.reference_constituents)))


def weight_bits_for(n_constituents: int, opts: DeriveOptions) -> int:
    """Significant coefficient bits: like the internal widths, one more per doubling of N above the
    reference (c2-n80: 10 bits gave decision flips 3.45 %, 12 bits 3.26 %, AUC -0.00011 more)."""
    return opts.weight_bits + extra_bits_for(n_constituents, opts)


def derive_spec(
    model: CanonicalModel,
    pmu: np.ndarray,
    opts: DeriveOptions | None = None,
    ptetaphi: np.ndarray | None = None,
) -> FixedPointSpec:
    opts = opts or DeriveOptions()
    if len(pmu) == 0:
        raise NanotrigError("range analysis needs at least one jet")
    ranges = stage_ranges(model, pmu, opts, ptetaphi)
    types: dict[str, FixedType] = with_default_stages(input_types(opts), opts.inputs)
    if opts.inputs == "puppi":
        types.update(front_end_types(ranges, types, opts))
    types.update(coefficient_types(model, weight_bits_for(model.n_constituents, opts)))

    def lsb_bits(stage: str, significant: int) -> int:
        big = max(ranges.get(stage, 0.0), 1e-30)
        return significant - math.ceil(math.log2(big))

    extra = extra_bits_for(model.n_constituents, opts)
    f_pair = lsb_bits("z", opts.pair_bits + extra)
    f_diag = lsb_bits("y", opts.diag_bits + extra)
    frac = {s: f_pair for s in ("d", "r", "T", "u", "v", "z")}
    frac.update({"pair_bias": f_pair + opts.bias_bits, "diag_bias": f_diag + opts.bias_bits, "y": f_diag})
    frac["A"] = min(lsb_bits("A", opts.sum_bits + extra), f_pair)
    frac["D"] = min(lsb_bits("D", opts.sum_bits + extra), f_diag)
    frac["result"] = lsb_bits("result", opts.result_bits)
    for stage, f in frac.items():
        overflow = opts.result_overflow if stage == "result" else opts.overflow
        types[stage] = fitting_type(
            ranges.get(stage, 0.0),
            f,
            signed=stage not in UNSIGNED_STAGES,
            margin_bits=opts.margin_bits,
            rounding=opts.rounding,
            overflow=overflow,
        )
    types = with_default_stages(types, opts.inputs)  # the stages that follow d's type
    # the constants also carry the truncation offsets (hwmodel.truncation_offsets): their types
    # must hold the shifted values
    tables = coefficient_tables(model)
    offsets = truncation_offsets(model, tables, types)
    for name, offset in offsets.items():
        types["w_" + name] = coefficient_type(
            tables[name] + offset, weight_bits_for(model.n_constituents, opts), name
        )
    spec = FixedPointSpec(types, {}, opts.inputs)
    index = index_bits_of(model, spec, pmu, opts.margin_bits, ptetaphi) if opts.index_bits else {}
    provenance = {
        "derived_by": "nanotrig.fixed.analysis.derive_spec",
        "options": asdict(opts),
        "extra_bits_for_n": extra,
        "jets": int(len(pmu)),
        "max_abs": {k: float(f"{v:.6g}") for k, v in sorted(ranges.items())},
    }
    return FixedPointSpec(types, provenance, opts.inputs, index_bits=index)


def index_ranges(
    model: CanonicalModel, spec: FixedPointSpec, pmu: np.ndarray, ptetaphi: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """max |value| of every element of the indexed stages over the jets, with the firmware's own
    coefficients (``hardware_coefficients``) and input words of ``spec``."""
    from nanotrig.fixed.hwmodel import hardware_coefficients

    raw = hardware_coefficients(model, spec.types)
    coefs = {name: raw[name] * spec.types["w_" + name].lsb for name in COEF_NAMES}
    shapes = {s: index_shape(s, model.n_particles, len(model.channels)) for s in INDEXED_STAGES}
    ops = RangeOps(coefs, shapes)
    q = quantize_jets(pmu, spec.inputs, [t for _, t in spec.input_fields], model.n_constituents, ptetaphi)
    step = batch_size(model.n_particles)
    signs = [ch.sign for ch in model.channels]
    for start in range(0, q.values.shape[0], step):
        block = q.values[start : start + step]
        run_kernel(ops, [block[:, :, c] for c in range(block.shape[2])], signs, model.beams, spec.inputs)
    return ops.index_max_abs


# Reach of the pooling in pT ranks: one per 40 constituents. On the stand-in's 18 k test jets
# (against the 4 k-jet sample) every shipped model overflows nowhere; c2-n80 with one rank of
# reach overflowed 3 z values (3 scores changed), with two none.
POOL_CONSTITUENTS = 40


def pooled_ranges(stage: str, top: np.ndarray, reach: int = 1) -> np.ndarray:
    """Each seen element's largest value replaced by the largest of its neighbours up to ``reach``
    ranks away along every particle axis. One element's maximum over a few thousand jets is a
    noisy tail estimate (c2, 18 k test jets against the 4 k sample: up to 2.2 times higher), its
    neighbours come from the same distribution: pooled, c2's test jets overflow nowhere
    (unpooled: 2 z values), at 4.4 k of the 5.2 k bits saved."""
    size = tuple(1 if axis == "channel" else 2 * reach + 1 for axis in INDEX_AXES[stage])
    padded = np.pad(top, [((k - 1) // 2,) * 2 for k in size], mode="edge")
    pooled = sliding_window_view(padded, size).max(axis=tuple(range(-len(size), 0)))
    return np.where(top > 0, pooled, 0.0)


def index_bits_of(
    model: CanonicalModel,
    spec: FixedPointSpec,
    pmu: np.ndarray,
    margin_bits: int = 1,
    ptetaphi: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per-index integer bits of the wrapping indexed stages of ``spec``: the largest value of each
    element and its neighbours in pT rank (``pooled_ranges``, one rank of reach per
    ``POOL_CONSTITUENTS`` constituents) times 2**margin_bits, never more than the stage's own
    integer bits (elements never seen, such as the beam pair's constant d, keep them)."""
    seen = index_ranges(model, spec, pmu, ptetaphi)
    reach = max(1, math.ceil(model.n_constituents / POOL_CONSTITUENTS))
    out = {}
    for stage, top in seen.items():
        t = spec[stage]
        if not t.signed or t.overflow != "AP_WRAP":
            continue
        top = pooled_ranges(stage, top, reach)
        bits = np.full(top.shape, t.integer, dtype=np.int64)
        for idx in zip(*np.nonzero(top > 0), strict=True):
            need = fitting_type(top[idx], t.frac, True, margin_bits).integer
            bits[idx] = min(need, t.integer)
        if stage == "d":  # computed once per unordered pair, i < j: the table is made symmetric
            bits = np.minimum(bits, bits.T)
        out[stage] = bits
    return out


def _sample_pmu(n_constituents: int) -> np.ndarray:
    from nanotrig.data import read_jets, sample_path

    return read_jets(sample_path(), n_constituents=n_constituents, check_masses=False).pmu


@lru_cache(maxsize=16)
def _default_spec_cached(model_json: str, opts: DeriveOptions) -> FixedPointSpec:
    model = CanonicalModel.from_dict(json.loads(model_json))
    spec = derive_spec(model, _sample_pmu(model.n_constituents), opts)
    spec.provenance["sample"] = "nanotrig.data.sample_path()"
    spec.provenance["model_sha1"] = hashlib.sha1(model_json.encode()).hexdigest()[:12]
    return spec


def trained_spec(model: CanonicalModel) -> FixedPointSpec | None:
    """The spec a model was trained for: quantization-aware training (``nanotrig qat``) stores the
    learned types in ``provenance['qat']['precision']``, for the model's N."""
    qat = model.provenance.get("qat") if isinstance(model.provenance, dict) else None
    if not isinstance(qat, dict) or "precision" not in qat:
        return None
    if qat.get("n_constituents", model.n_constituents) != model.n_constituents:
        return None  # the same weights at another N (report --scan-n): range analysis
    where = f"model {model.name!r}: provenance.qat.precision"
    return FixedPointSpec.from_dict(qat["precision"], source=where)


def default_spec(model: CanonicalModel, opts: DeriveOptions | None = None) -> FixedPointSpec:
    """The model's default spec: the types it was trained for (``trained_spec``, with per-index
    integer bits from the shipped sample unless ``opts.index_bits`` is off) unless other options
    than the defaults of that input mode are asked for; otherwise range analysis on the shipped
    sample (deterministic, memoised)."""
    learned = trained_spec(model)
    model_json = json.dumps(model.to_dict(), sort_keys=True)
    if learned is not None and (
        opts is None or replace(opts, index_bits=True) == DeriveOptions(inputs=learned.inputs)
    ):
        if opts is not None and not opts.index_bits:
            return learned
        spec = _learned_spec_cached(model_json)
    else:
        spec = _default_spec_cached(model_json, opts or DeriveOptions())
    return FixedPointSpec(
        dict(spec.types), dict(spec.provenance), spec.inputs, dict(spec.implementation), dict(spec.index_bits)
    )


@lru_cache(maxsize=16)
def _learned_spec_cached(model_json: str) -> FixedPointSpec:
    """A learned spec with per-index integer bits at its own LSBs (the margin of range analysis)."""
    model = CanonicalModel.from_dict(json.loads(model_json))
    learned = trained_spec(model)
    assert learned is not None
    bits = index_bits_of(model, learned, _sample_pmu(model.n_constituents), DeriveOptions().margin_bits)
    return FixedPointSpec(
        dict(learned.types), dict(learned.provenance), learned.inputs, dict(learned.implementation), bits
    )
