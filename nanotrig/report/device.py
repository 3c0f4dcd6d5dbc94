"""FPGA parts and how much of one a design takes: ``device_fraction``, the scarcest resource.

A Level-1 algorithm has to fit beside others in the same FPGA, so what decides is the resource
it exhausts first: ``device_fraction`` is the largest of LUT, FF, DSP and BRAM18 used over the
part's totals. A RAMB36 counts as two BRAM18 (Vivado's convention).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nanotrig.errors import NanotrigError


@dataclass(frozen=True)
class Part:
    name: str
    lut: int
    ff: int
    dsp: int
    bram18: int


# AMD/Xilinx data sheets (DS923, UltraScale+ FPGAs product tables).
PARTS = {
    "xcvu13p": Part("xcvu13p", lut=1_728_000, ff=3_456_000, dsp=12_288, bram18=5_376),
    "xcvu9p": Part("xcvu9p", lut=1_182_240, ff=2_364_480, dsp=6_840, bram18=4_320),
}
DEFAULT_PART = "xcvu13p"
RESOURCES = ("lut", "ff", "dsp", "bram18")


def part_for(name: str) -> Part:
    """The part of a full part number (``xcvu13p-flga2577-2-e``) or a family name (``xcvu13p``)."""
    key = name.lower().split("-")[0]
    if key not in PARTS:
        raise NanotrigError(f"unknown FPGA part {name!r} (known: {', '.join(sorted(PARTS))})")
    return PARTS[key]


def device_fractions(resources: dict[str, Any], part: str = DEFAULT_PART) -> dict[str, float | None]:
    """Used / available for each resource the dict holds (None where it does not say)."""
    p = part_for(part)
    out: dict[str, float | None] = {}
    for key in RESOURCES:
        used = resources.get(key)
        out[key] = None if used is None else float(used) / getattr(p, key)
    return out


def device_fraction(resources: dict[str, Any], part: str = DEFAULT_PART) -> float | None:
    """The largest fraction over LUT, FF, DSP and BRAM18 (None when no resource is known)."""
    known = [f for f in device_fractions(resources, part).values() if f is not None]
    return max(known) if known else None


def scarcest(resources: dict[str, Any], part: str = DEFAULT_PART) -> str | None:
    """The name of the resource that sets ``device_fraction``."""
    fr = {k: v for k, v in device_fractions(resources, part).items() if v is not None}
    return max(fr, key=fr.__getitem__) if fr else None
