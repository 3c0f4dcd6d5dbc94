"""The front-end ROMs of the PUPPI input mode, as the firmware holds them.

A table is defined by its index type (a saturating ``ap_ufixed``/``ap_fixed`` cast of an angle in
units of pi/720, ``kernel.FRONT_END_TABLES``) and its value type: entry k holds
``f((k + min_int) * LSB * pi/720)`` rounded to the nearest LSB of the value type. Every
execution (emulator, C-simulation, RTL) reads these same integers.
"""

from __future__ import annotations

import math

import numpy as np

from nanotrig.fixed.kernel import ANGLE_STEP, FRONT_END_TABLES
from nanotrig.fixed.types import FixedType, PrecisionError

MAX_INDEX_BITS = 14  # 16k entries: a larger table is a mistake, not a design


def index_values(t: FixedType) -> np.ndarray:
    """The index values (angle units) of the table entries, in entry order."""
    if t.width > MAX_INDEX_BITS:
        raise PrecisionError(f"table index {t} has {t.width} bits: more than {MAX_INDEX_BITS} (16k entries)")
    return np.arange(t.min_int, t.max_int + 1, dtype=np.float64) * t.lsb


def table_floats(name: str, types: dict[str, FixedType]) -> np.ndarray:
    index_stage, _, fn = FRONT_END_TABLES[name]
    return fn(index_values(types[index_stage]) * ANGLE_STEP)


def table_max(name: str, index_type: FixedType) -> float:
    """Largest entry of a table over the whole range of its index type."""
    _, _, fn = FRONT_END_TABLES[name]
    return float(np.max(fn(index_values(index_type) * ANGLE_STEP)))


def value_type(
    max_value: float, width: int, rounding: str = "AP_TRN", overflow: str = "AP_WRAP"
) -> FixedType:
    """Unsigned ``width``-bit type whose range just holds ``max_value`` (the table's largest entry)."""
    integer = max(math.floor(math.log2(max_value)) + 1, 1 - width) if max_value > 0 else 1
    t = FixedType(width, integer, False, rounding, overflow)
    if math.floor(max_value / t.lsb + 0.5) > t.max_int:
        t = FixedType(width, integer + 1, False, rounding, overflow)
    return t


def quantize_tables(names: tuple[str, ...], types: dict[str, FixedType]) -> dict[str, np.ndarray]:
    """Raw integers (round to nearest) of each table in its value type; refuses a value that does
    not fit (names the stage)."""
    out = {}
    for name in names:
        _, value_stage, _ = FRONT_END_TABLES[name]
        t = types[value_stage]
        vals = table_floats(name, types)
        raw = np.floor(vals / t.lsb + 0.5)
        if raw.max(initial=0) > t.max_int or raw.min(initial=0) < t.min_int:
            raise PrecisionError(
                f"stage {value_stage!r}: {t} cannot hold table {name!r} (largest entry {vals.max():.6g}, "
                f"type holds {t.max_value:.6g}); widen it or narrow the table index"
            )
        out[name] = raw.astype(np.int64)
    return out


def tables_for(mode: str) -> tuple[str, ...]:
    return tuple(FRONT_END_TABLES) if mode == "puppi" else ()
