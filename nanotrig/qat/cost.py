"""The resource term of the QAT loss: a LUT-equivalent count of the kernel's adder bits.

HGQ2's EBOPs count the bit operations of a layer's products (bits x bits per multiplication).
In this kernel the only variable x variable products are the four per constituent pair in d
(two with PUPPI inputs), one DSP48 each whatever their width, and nearly every LUT is an adder,
a mux or a mask bit
(docs/rtl.md: d's three adds per pair, two adds per ordered pair and channel in z, the ReLU,
mask and adder trees of A). So the cost here counts adder bits: for each stage the number of
adds (or mask/mux bits) the firmware builds for it times the stage's word width, and for a
constant multiplier (shift-and-add) its operand width times about a third of the coefficient's
bits (the density of nonzero digits in canonical signed-digit form). It is written with plain
arithmetic, so the same function gives a differentiable tensor of the quantizers' widths in
training and a number for a FixedPointSpec (``spec_cost``); it is meant to follow the da4ml
estimate's trend, not to equal Yosys.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nanotrig.fixed.spec import FixedPointSpec

NONZERO_DIGIT_DENSITY = 1.0 / 3.0  # canonical signed digits: about one in three bits is nonzero


def stage_costs(width: Callable[[str], Any], n: int, channels: int, beams: bool, mode: str) -> dict[str, Any]:
    """LUT-equivalent cost per stage group; ``width(stage)`` gives W = k + i + f of a stage."""
    p = n + (2 if beams else 0)  # particles
    n_cc = n * (n - 1) // 2  # constituent pairs
    n_ord = p * (p - 1)  # ordered pairs per channel
    c = channels

    def cmul(coef: str, operand: str) -> Any:
        """A constant times a variable: shift-and-add over the coefficient's nonzero digits."""
        return width(operand) * width("w_" + coef) * NONZERO_DIGIT_DENSITY

    costs = {
        "d": front_end_cost(width, n, beams, mode) + (n_cc + (2 * n if beams else 0)) * width("d"),
        "r": p * max(p - 2, 1) * width("r"),
        "T": (p - 1) * width("T"),
        "pair_bias": c * (cmul("pair_T", "T") + width("pair_bias")),
        "u": c * p * (cmul("pair_row", "r") + width("u")),
        "v": c * p * cmul("pair_col", "r"),
        "z": 2 * c * n_ord * width("z"),
        # ReLU and valid mask (about half a LUT per bit) and one adder tree per channel
        "A": c * n_ord * (width("A") + 0.5 * width("z")),
        "diag_bias": c * (cmul("diag_T", "T") + width("diag_bias")),
        "y": c * p * (cmul("diag_r", "r") + width("y")),
        "D": c * p * (width("D") + 0.5 * width("y")),
        "result": c * (cmul("out_pair", "A") + cmul("out_diag", "D")) + (2 * c + 1) * width("result"),
    }
    return costs


def front_end_cost(width: Callable[[str], Any], n: int, beams: bool, mode: str) -> Any:
    """The pair invariants' logic before the d cast (the DSP products themselves cost no LUTs)."""
    n_cc = n * (n - 1) // 2
    if mode == "cartesian":
        w_in = width("input")
        # three adds of two-word products per pair, two adds per beam pair (E -+ pz)
        return 3 * n_cc * (2 * w_in + 2) + (2 * n * (w_in + 1) if beams else 0)
    # PUPPI, per pair: |eta_i - eta_j| and its saturating index (3 W), |phi_i - phi_j| with the
    # fold at pi (5 W), F + G; the two products per pair and per beam term are DSPs, their
    # operands (pT words, pT_i pT_j) counted once per use as routing; the ROMs are fixed
    w_eta, w_phi = width("input_eta") + 1, width("input_phi") + 1
    per_pair = 3 * w_eta + 5 * w_phi + width("pair_table") + 1 + 2 * width("input_pt") + width("pt_pair")
    beam_terms = 2 * n * (width("input_pt") + width("beam_table")) + n * width("eta") if beams else 0
    return n_cc * per_pair + beam_terms


def total_cost(width: Callable[[str], Any], n: int, channels: int, beams: bool, mode: str) -> Any:
    costs = stage_costs(width, n, channels, beams, mode)
    total = 0.0
    for value in costs.values():
        total = total + value
    return total


def spec_cost(spec: FixedPointSpec, n: int, channels: int, beams: bool = True) -> dict[str, float]:
    """The cost of a FixedPointSpec, per stage group and in total (``total``)."""
    costs = stage_costs(lambda s: spec[s].width, n, channels, beams, spec.inputs)
    out = {k: float(v) for k, v in costs.items()}
    out["total"] = float(sum(out.values()))
    return out
