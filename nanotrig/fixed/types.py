"""``ap_fixed<W,I,Q,O>`` / ``ap_ufixed`` types as data: parse, print, and their integer ranges.

A value of type ``ap_fixed<W,I>`` is an integer ``v`` (W bits, two's complement) times
``2**-(W-I)``. Only the rounding and overflow modes that every execution of the kernel supports
are accepted (the emulator, ``ap_fixed`` in the C-simulation and da4ml's tracer in the RTL):
Q in {AP_TRN, AP_RND}, O in {AP_WRAP, AP_SAT, AP_SAT_SYM}.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from nanotrig.errors import NanotrigError

ROUNDING = ("AP_TRN", "AP_RND")
OVERFLOW = ("AP_WRAP", "AP_SAT", "AP_SAT_SYM")

_PATTERN = re.compile(
    r"^\s*(ap_u?fixed)\s*<\s*(-?\d+)\s*,\s*(-?\d+)\s*(?:,\s*(\w+)\s*)?(?:,\s*(\w+)\s*)?(?:,\s*\d+\s*)?>\s*$"
)
_INT_PATTERN = re.compile(r"^\s*(ap_u?int)\s*<\s*(\d+)\s*>\s*$")  # ap_int<W> = ap_fixed<W,W>


class PrecisionError(NanotrigError, ValueError):
    """A precision string or width that cannot be used; the message names stage and value."""


@dataclass(frozen=True)
class FixedType:
    width: int
    integer: int
    signed: bool = True
    rounding: str = "AP_TRN"
    overflow: str = "AP_WRAP"

    def __post_init__(self) -> None:
        if self.width < 1 or self.width > 60:
            raise PrecisionError(f"{self}: width {self.width} outside 1..60")
        if self.rounding not in ROUNDING:
            raise PrecisionError(f"{self}: rounding {self.rounding!r} not one of {', '.join(ROUNDING)}")
        if self.overflow not in OVERFLOW:
            raise PrecisionError(f"{self}: overflow {self.overflow!r} not one of {', '.join(OVERFLOW)}")

    # ---- text form ------------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str, where: str = "precision") -> FixedType:
        whole = _INT_PATTERN.match(str(text))
        if whole:
            kind, w = whole.groups()
            try:
                return cls(int(w), int(w), kind == "ap_int")
            except PrecisionError as exc:
                raise PrecisionError(f"{where}: {exc}") from None
        m = _PATTERN.match(str(text))
        if not m:
            raise PrecisionError(
                f"{where}: {text!r} is not of the form ap_fixed<W,I[,Q[,O]]>, ap_ufixed<...> or ap_int<W>"
            )
        kind, w, i, q, o = m.groups()
        try:
            return cls(int(w), int(i), kind == "ap_fixed", q or "AP_TRN", o or "AP_WRAP")
        except PrecisionError as exc:
            raise PrecisionError(f"{where}: {exc}") from None

    def __str__(self) -> str:
        kind = "ap_fixed" if self.signed else "ap_ufixed"
        mode = ""
        if (self.rounding, self.overflow) != ("AP_TRN", "AP_WRAP"):
            mode = f",{self.rounding},{self.overflow}"
        return f"{kind}<{self.width},{self.integer}{mode}>"

    # ---- ranges ---------------------------------------------------------------------------
    @property
    def frac(self) -> int:
        """Fractional bits F: the LSB is 2**-F."""
        return self.width - self.integer

    @property
    def lsb(self) -> float:
        return 2.0**-self.frac

    @property
    def min_int(self) -> int:
        if not self.signed:
            return 0
        if self.overflow == "AP_SAT_SYM":
            return -(2 ** (self.width - 1)) + 1
        return -(2 ** (self.width - 1))

    @property
    def max_int(self) -> int:
        return 2 ** (self.width - (1 if self.signed else 0)) - 1

    @property
    def min_value(self) -> float:
        return self.min_int * self.lsb

    @property
    def max_value(self) -> float:
        return self.max_int * self.lsb

    @property
    def kif(self) -> tuple[int, int, int]:
        """(sign bit, integer bits without sign, fractional bits), da4ml's quantize() arguments."""
        return int(self.signed), self.integer - int(self.signed), self.frac

    def with_integer(self, integer: int) -> FixedType:
        """The same LSB and modes with ``integer`` integer bits (a per-index element type)."""
        return FixedType(
            self.width - self.integer + integer, integer, self.signed, self.rounding, self.overflow
        )

    def with_modes(self, rounding: str | None = None, overflow: str | None = None) -> FixedType:
        return FixedType(
            self.width, self.integer, self.signed, rounding or self.rounding, overflow or self.overflow
        )


def fitting_type(
    max_abs: float,
    frac: int,
    signed: bool = True,
    margin_bits: int = 0,
    rounding: str = "AP_TRN",
    overflow: str = "AP_WRAP",
) -> FixedType:
    """The narrowest type with ``frac`` fractional bits holding +-max_abs (times 2**margin_bits)."""
    bound = max(float(max_abs), 2.0**-frac) * 2.0**margin_bits
    # integer bits so that bound <= max_value; +1 for the sign
    integer = math.floor(math.log2(bound)) + 1 + (1 if signed else 0)
    t = FixedType(max(integer + frac, 1), integer, signed, rounding, overflow)
    while t.max_value < bound:  # log2 rounding at exact powers of two
        t = FixedType(t.width + 1, t.integer + 1, signed, rounding, overflow)
    return t
