"""FixedPointSpec: one ``ap_fixed<W,I,Q,O>`` type per kernel stage and per coefficient.

Written and read like an hls4ml precision dict, flat ``{stage: 'ap_fixed<W,I>'}`` or nested
under ``Precision``; a YAML file holds the same dict; a stage may also be given as a QKeras
quantizer string (``quantized_bits(12,4)``, mapped as ``nanotrig.qat.qkeras`` says). Stage
names are those of ``nanotrig.fixed.kernel.stages(mode)`` for the spec's input mode (``Inputs``:
``cartesian`` or ``puppi``) plus ``w_<coefficient>`` for the quantised weights; ``d_product`` (the
Cartesian pair's four products before their sum) and ``r_term`` (each d before the row sums) may
be left out (``STAGE_DEFAULTS``): they are then the exact product and d's own type.
``Implementation`` says how the front-end ROMs are built (``lut``: logic, ``bram``: block RAM); it
changes resources, never values. ``IndexBits`` gives stages of ``kernel.INDEXED_STAGES``
per-element integer bits (nested lists shaped by ``kernel.index_shape``): element e of stage s is
``ap_fixed<W - I + I_e, I_e>`` with s's LSB and modes, I_e <= I. Only wrapping signed stages take
them (a wrap to fewer bits is a bit selection: the hardware builds only the bits kept); a stage
given a new type by an override loses its per-index bits (its type is then the user's, for every
element).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from nanotrig.fixed.kernel import (
    COEF_NAMES,
    FRONT_END_TABLES,
    INDEX_AXES,
    INDEXED_STAGES,
    INPUT_FIELDS,
    check_mode,
    index_shape,
    stages,
)
from nanotrig.fixed.types import FixedType, PrecisionError

COEF_KEYS = tuple("w_" + c for c in COEF_NAMES)
ALL_KEYS = stages("cartesian") + COEF_KEYS  # the Cartesian mode's keys (see ``spec_keys``)
MAX_INPUT_WIDTH = 28  # products of two words plus four-term sums must stay exact in int64
# lut / bram: every table of the group in LUTs / block RAM; bram_deta: the pair tables split, the
# cosh - 1 table (indexed by |d eta|, whose index is ready early enough for a synchronous read
# without an extra stage) in block RAM, two pairs per dual-port RAMB18, the 1 - cos table in LUTs
TABLE_IMPLEMENTATIONS = ("lut", "bram", "bram_deta")
# Default: the pair ROMs in block RAM (190 RAMB18 for N = 20: two reads per pair, two ports per
# RAMB18), the beam ROMs in LUTs. The reversed-address pair indices (kernel.magnitude_index) are
# ready in time for a read in the first stage, and so is the beam index (kernel.saturated_index),
# so c2 at 200 MHz takes 10 cycles with any choice; the beam ROMs in BRAM would save ~2 k LUT but
# make block RAM the scarcest resource of the part (docs/puppi.md).
DEFAULT_IMPLEMENTATION = {"pair_table": "bram", "beam_table": "lut"}


def table_storage(implementation: dict[str, str], table: str) -> str:
    """'lut' or 'bram': where front-end table ``table`` (a ``FRONT_END_TABLES`` name) lives."""
    impl = implementation[FRONT_END_TABLES[table][1]]
    if impl == "bram_deta":
        return "bram" if table == "cosh_m1" else "lut"
    return impl


def parse_precision(text: object, where: str) -> FixedType:
    """One stage's type: ``ap_fixed<W,I[,Q,O]>`` / ``ap_ufixed`` / ``ap_int``, or a QKeras quantizer
    string (``quantized_bits(12,4)``, ``quantized_relu(8,3)``; mapped by ``nanotrig.qat.qkeras``)."""
    if str(text).lstrip().startswith(("quantized_bits", "quantized_relu")):
        from nanotrig.qat.qkeras import qkeras_type

        return qkeras_type(str(text), where=where)
    return FixedType.parse(str(text), where=where)


def exact_product_type(word: FixedType) -> FixedType:
    """The type of a product of two input words with every bit (the default of ``d_product``);
    capped at FixedType's width so that a too-wide input reaches its own, clearer error."""
    return FixedType(min(2 * word.width, 60), 2 * word.integer, True, "AP_TRN", "AP_WRAP")


def _d_whole(types: dict[str, FixedType]) -> FixedType:
    """The default of ``r_term``: d's own type (every d enters the row sums as it is)."""
    return types["d"]


# stages a spec may leave out (added after specs were first written), each with its default, a
# function of the other types that changes no value: the Cartesian products stay exact, the row
# sums take d whole
STAGE_DEFAULTS: dict[str, dict[str, Any]] = {
    "cartesian": {"d_product": lambda types: exact_product_type(types["input"]), "r_term": _d_whole},
    "puppi": {"r_term": _d_whole},
}


def with_default_stages(types: dict[str, FixedType], mode: str) -> dict[str, FixedType]:
    """``types`` with every optional stage it lacks filled in at its default (a default whose
    source stage is not there yet, as while range analysis builds a spec, is left out)."""
    filled = dict(types)
    for stage, default in STAGE_DEFAULTS[mode].items():
        if stage not in filled:
            try:
                filled[stage] = default(filled)
            except KeyError:
                continue
    return filled


def spec_keys(mode: str = "cartesian") -> tuple[str, ...]:
    """Every precision key of an input mode."""
    return stages(mode) + COEF_KEYS


@dataclass
class FixedPointSpec:
    types: dict[str, FixedType]
    # how the types were obtained (derivation options, sample, ranges seen): documentation only
    provenance: dict[str, Any] = field(default_factory=dict)
    inputs: str = "cartesian"
    implementation: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_IMPLEMENTATION))
    # stage -> integer bits of each element (see the module docstring); absent: one type for all
    index_bits: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_mode(self.inputs)
        self.types = with_default_stages(self.types, self.inputs)
        missing = [k for k in self.keys if k not in self.types]
        if missing:
            raise PrecisionError(f"precision spec ({self.inputs} inputs) lacks stages {', '.join(missing)}")
        self.types = {k: self.types[k] for k in self.keys}
        for k, v in self.implementation.items():
            if k not in DEFAULT_IMPLEMENTATION or v not in TABLE_IMPLEMENTATIONS:
                raise PrecisionError(
                    f"implementation {k}: {v!r} (tables {', '.join(DEFAULT_IMPLEMENTATION)}, each one of "
                    f"{', '.join(TABLE_IMPLEMENTATIONS)})"
                )
        self.implementation = {**DEFAULT_IMPLEMENTATION, **self.implementation}
        self.index_bits = {k: self._checked_index_bits(k, v) for k, v in self.index_bits.items()}
        if self.inputs == "cartesian":
            t = self.types["input"]
            if not t.signed:
                raise PrecisionError(f"stage 'input': {t} must be signed (px, py, pz are signed)")
            if t.width > MAX_INPUT_WIDTH:
                raise PrecisionError(f"stage 'input': {t} is wider than {MAX_INPUT_WIDTH} bits")
            # the four products' sum wraps at d's top: a product may wrap there too, or hold all of it
            p = self.types["d_product"]
            need = min(self.types["d"].integer, exact_product_type(t).integer)
            if not p.signed or p.overflow != "AP_WRAP" or p.integer < need:
                raise PrecisionError(
                    f"stage 'd_product': {p} must be signed and wrapping with at least {need} integer "
                    "bits (d's, or the exact product's if fewer: the sum of the products wraps at d's top)"
                )
        else:
            self._check_puppi()
        # a row-sum term drops low bits of d only: it holds d's top, so it never overflows
        r_term, d = self.types["r_term"], self.types["d"]
        if not r_term.signed or r_term.integer < d.integer:
            raise PrecisionError(
                f"stage 'r_term': {r_term} must be signed with at least d's {d.integer} "
                f"integer bits (d is {d}: each d enters the row sums r_i with its top bits)"
            )

    def _checked_index_bits(self, stage: str, bits: Any) -> np.ndarray:
        where = f"IndexBits of stage {stage!r}"
        if stage not in INDEXED_STAGES:
            raise PrecisionError(f"{where}: only {', '.join(INDEXED_STAGES)} take per-index integer bits")
        t = self.types[stage]
        if not t.signed or t.overflow != "AP_WRAP":
            raise PrecisionError(f"{where}: the stage's type {t} must be signed and wrapping (AP_WRAP)")
        try:
            arr = np.asarray(bits, dtype=float)
        except (TypeError, ValueError):
            raise PrecisionError(f"{where}: not a nested list of integers") from None
        if arr.ndim != len(INDEX_AXES[stage]) or not np.all(arr == np.round(arr)):
            axes = " x ".join(INDEX_AXES[stage])
            raise PrecisionError(f"{where}: expected integers shaped ({axes}), got shape {arr.shape}")
        arr = arr.astype(np.int64)
        low = t.integer - t.width + 1  # one bit wide at least
        bad = (arr > t.integer) | (arr < low)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise PrecisionError(
                f"{where}: element {idx} has {int(arr[idx])} integer bits; {t} allows {low} .. {t.integer}"
            )
        return arr

    def _check_puppi(self) -> None:
        pt, eta, phi = (self.types[k] for k in ("input_pt", "input_eta", "input_phi"))
        if pt.signed:
            raise PrecisionError(f"stage 'input_pt': {pt} must be unsigned (ap_ufixed): pT >= 0")
        for name, t in (("input_pt", pt), ("input_eta", eta), ("input_phi", phi)):
            if t.width > MAX_INPUT_WIDTH:
                raise PrecisionError(f"stage {name!r}: {t} is wider than {MAX_INPUT_WIDTH} bits")
        for name, t in (("input_eta", eta), ("input_phi", phi)):
            if not t.signed:
                raise PrecisionError(f"stage {name!r}: {t} must be signed (ap_int / ap_fixed)")
        if phi.max_value < 720 or phi.min_value > -720 + phi.lsb:
            raise PrecisionError(
                f"stage 'input_phi': {phi} cannot hold phi in (-720, 720] (units of pi/720): it needs "
                "at least 11 integer bits"
            )
        for stage in ("deta", "dphi", "pt_pair", "pair_table", "beam_table"):
            if self.types[stage].signed:
                raise PrecisionError(f"stage {stage!r}: {self.types[stage]} must be unsigned (ap_ufixed)")
        for stage in ("deta", "dphi", "eta"):
            if self.types[stage].overflow == "AP_WRAP":
                raise PrecisionError(
                    f"stage {stage!r}: {self.types[stage]} is a table index and must saturate (AP_SAT)"
                )

    @property
    def keys(self) -> tuple[str, ...]:
        return spec_keys(self.inputs)

    def __getitem__(self, stage: str) -> FixedType:
        return self.types[stage]

    @property
    def input_fields(self) -> tuple[tuple[str, FixedType], ...]:
        """(field name, word type) of every input field, in port order."""
        return tuple((name, self.types[stage]) for name, stage in INPUT_FIELDS[self.inputs])

    @property
    def input_lsb(self) -> float:
        """GeV per input word LSB (Cartesian words, or pT in PUPPI mode)."""
        return self.types["input" if self.inputs == "cartesian" else "input_pt"].lsb

    # ---- hls4ml-style dicts -----------------------------------------------------------------
    def precision_dict(self) -> dict[str, str]:
        return {k: str(self.types[k]) for k in self.keys}

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "Inputs": self.inputs,
            "Precision": self.precision_dict(),
            "Implementation": dict(self.implementation),
        }
        if self.index_bits:
            d["IndexBits"] = {k: v.tolist() for k, v in self.index_bits.items()}
        d["provenance"] = self.provenance
        return d

    def uniform(self) -> FixedPointSpec:
        """The same spec without per-index integer bits (every element its stage's type)."""
        return FixedPointSpec(dict(self.types), dict(self.provenance), self.inputs, dict(self.implementation))

    def check_index_shapes(self, n_particles: int, n_hidden: int) -> None:
        """Per-index tables must match the model they are used with (particles incl. beams)."""
        for stage, bits in self.index_bits.items():
            want = index_shape(stage, n_particles, n_hidden)
            if bits.shape != want:
                axes = " x ".join(INDEX_AXES[stage])
                raise PrecisionError(
                    f"IndexBits of stage {stage!r}: shape {bits.shape}, the model needs {want} ({axes})"
                )

    def for_reuse(self, reuse_factor: int) -> FixedPointSpec:
        """The spec a datapath of II = ``reuse_factor`` computes: uniform types when it is > 1 (a
        pair unit that serves R pairs in turn has one width per stage), else this one."""
        return self.uniform() if reuse_factor > 1 and self.index_bits else self

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        return path

    def with_overrides(
        self, overrides: dict[str, Any] | str | Path | None, source: str = ""
    ) -> FixedPointSpec:
        """A copy with some stages replaced: a dict ``{stage: 'ap_fixed<W,I>'}`` or a YAML file."""
        if overrides is None:
            return self
        if isinstance(overrides, (str, Path)):
            source = str(overrides)
            overrides = load_precision_file(overrides)
        where = source or "precision"
        mode = overrides.get("Inputs", self.inputs) if "Precision" in overrides else self.inputs
        if mode != self.inputs:
            raise PrecisionError(
                f"{where}: field 'Inputs' is {mode!r} but the firmware is built for {self.inputs} inputs "
                f"(use --inputs {mode})"
            )
        prec = overrides.get("Precision", overrides)
        if not isinstance(prec, dict):
            raise PrecisionError(f"{where}: field 'Precision' must be a mapping of stage to type")
        types = dict(self.types)
        # an optional stage still at its default follows the new types (the products of new input
        # words stay exact) unless the overrides set it
        for stage, default in STAGE_DEFAULTS[self.inputs].items():
            if stage not in prec and types[stage] == default(self.types):
                del types[stage]
        for stage, text in prec.items():
            if stage not in self.keys:
                raise PrecisionError(
                    f"{where}: unknown stage {stage!r} for {self.inputs} inputs "
                    f"(stages: {', '.join(self.keys)})"
                )
            types[stage] = parse_precision(text, where=f"{where}: stage {stage!r}")
        seen = self.provenance.get("max_abs", {})
        for stage in prec:
            if stage in seen and seen[stage] > types[stage].max_value:
                warnings.warn(
                    f"{where}: stage {stage!r} {types[stage]} holds up to {types[stage].max_value:g} but the "
                    f"range analysis saw {seen[stage]:g}: expect overflows (counted per stage)",
                    RuntimeWarning,
                    stacklevel=2,
                )
        prov = dict(self.provenance)
        prov["overridden"] = sorted(set(prov.get("overridden", [])) | set(prec))
        impl = overrides.get("Implementation", {}) if "Precision" in overrides else {}
        # an overridden stage takes the user's type for every element; IndexBits given win
        index = {k: v for k, v in self.index_bits.items() if k not in prec}
        if "Precision" in overrides:
            index.update(dict(overrides.get("IndexBits") or {}))
        impl = {**self.implementation, **dict(impl or {})}
        try:
            return FixedPointSpec(types, prov, self.inputs, impl, index)
        except PrecisionError as exc:
            raise PrecisionError(f"{where}: {exc}") from None

    def with_implementation(self, **tables: str | None) -> FixedPointSpec:
        """A copy with ROM implementations changed, e.g. ``pair_table='bram'`` (None keeps)."""
        impl = {**self.implementation, **{k: v for k, v in tables.items() if v is not None}}
        return FixedPointSpec(
            dict(self.types), dict(self.provenance), self.inputs, impl, dict(self.index_bits)
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "<dict>") -> FixedPointSpec:
        prec = d.get("Precision", d)
        mode = str(d.get("Inputs", "cartesian")) if "Precision" in d else "cartesian"
        types = {}
        for stage in spec_keys(check_mode(mode)):
            if stage not in prec and stage in STAGE_DEFAULTS[mode]:
                continue  # filled in at its default (``with_default_stages``)
            if stage not in prec:
                raise PrecisionError(f"{source}: stage {stage!r} missing")
            types[stage] = parse_precision(prec[stage], where=f"{source}: stage {stage!r}")
        impl = dict(d.get("Implementation", {}) or {}) if "Precision" in d else {}
        index = dict(d.get("IndexBits", {}) or {}) if "Precision" in d else {}
        if not all(isinstance(k, str) for k in index):
            raise PrecisionError(f"{source}: field 'IndexBits' must map stage names to nested lists")
        try:
            return cls(types, dict(d.get("provenance", {})), mode, impl, index)
        except PrecisionError as exc:
            raise PrecisionError(f"{source}: {exc}") from None


def load_precision_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise PrecisionError(f"{path}: no such precision file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise PrecisionError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise PrecisionError(
            f"{path}: expected a mapping of stage to ap_fixed type, got {type(data).__name__}"
        )
    return data
