"""The resource term of the QAT loss: a LUT-equivalent count of the kernel's adder bits.

HGQ2's EBOPs count the bit operations of a layer's products (bits x bits per multiplication).
In this kernel the only variable x variable products are the four per constituent pair in d
(two with PUPPI inputs), one DSP48 each whatever their width, and nearly every LUT is an adder,
a mux or a mask bit
(docs/rtl.md: the sum of d's four products per pair, one ternary add per ordered pair and
channel in z, the ReLU, mask and adder trees of A). So the cost here counts adder bits: for each
stage the number of adds (or mask/mux bits) the firmware builds for it times their width (from
the result's top bit down to the finest operand's LSB; a ternary add, one LUT6_2 per bit, counts
as one add), and for a constant multiplier (shift-and-add) its operand width times about a third
of the coefficient's bits (the density of nonzero digits in canonical signed-digit form). It is
written with Keras ops on plain numbers or tensors, so the same function gives a differentiable
tensor of the quantizers' bits in training and a number for a FixedPointSpec (``spec_cost``); on
c2's range-analysed spec it gives 69.9 k against Yosys' 66,495 LUT for that spec with one type per
stage (73.3 k before d's adds were counted from d's top down to ``d_product``'s LSB; docs/qat.md;
per-index integer bits are not in this cost).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from keras import ops

from nanotrig.fixed.spec import FixedPointSpec

Bits = Callable[[str], tuple[Any, Any]]

NONZERO_DIGIT_DENSITY = 1.0 / 3.0  # canonical signed digits: about one in three bits is nonzero
# A DSP48E2 multiplies 27 x 18 bits: a product of two wider input words takes a second DSP per
# product (c2 trained with 19-bit words: 1,520 DSPs, c2's 760), which the DSP budget cannot give.
# Each bit beyond the port costs the product's worth of fabric (an 18 x 18 array, ~W^2 / 2 LUTs):
# far more than any adder bit it buys, so training keeps the words within the port.
DSP_WORD_BITS = 18
SECOND_DSP_LUTS = DSP_WORD_BITS * DSP_WORD_BITS / 2.0


def _maximum(a: Any, b: Any) -> Any:
    """max of two numbers, or elementwise of tensors (the quantizers' bits in training)."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return max(a, b)
    return ops.maximum(a, b)


def stage_costs(bits: Bits, n: int, channels: int, beams: bool, mode: str) -> dict[str, Any]:
    """LUT-equivalent cost per stage group; ``bits(stage)`` gives (top, frac) of a stage: the bits
    above the binary point (sign included) and below it, W = top + frac.

    An add is as wide as its result's top bit down to its finest operand's LSB: a truncating cast
    drops the low bits only after the carry chain has summed them, so an operand's fractional bits
    cost in every add that takes it, whatever the cast after it keeps."""

    def width(stage: str) -> Any:
        top, frac = bits(stage)
        return top + frac

    def add(out: str, *operands: str) -> Any:
        top, frac = bits(out)
        finest = frac
        for stage in operands:
            finest = _maximum(finest, bits(stage)[1])
        return top + finest

    p = n + (2 if beams else 0)  # particles
    n_ord = p * (p - 1)  # ordered pairs per channel
    c = channels

    def cmul(coef: str, operand: str) -> Any:
        """A constant times a variable: shift-and-add over the coefficient's nonzero digits."""
        return width(operand) * width("w_" + coef) * NONZERO_DIGIT_DENSITY

    costs = {
        # the d cast truncates: d's own width costs in the stages that take d, not here
        "d": front_end_cost(width, n, beams, mode, add),
        # the sums of p - 1 d's per particle, each cast to r_term (ternary adders, then the cast:
        # from r's top down to the terms' LSB, whichever LSB r keeps), and of the p r's
        "r": p * max(p - 2, 1) * (bits("r")[0] + bits("r_term")[1]),
        "T": (p - 1) * add("T", "r"),
        "pair_bias": c * (cmul("pair_T", "T") + width("pair_bias")),
        "u": c * p * (cmul("pair_row", "r") + add("u", "pair_bias")),
        "v": c * p * cmul("pair_col", "r"),
        "z": c * n_ord * add("z", "d", "u", "v"),  # s d + (u_i + v_j): one ternary adder
        # ReLU and valid mask (about half a LUT per bit) and one adder tree per channel
        "A": c * n_ord * (add("A", "z") + 0.5 * width("z")),
        "diag_bias": c * (cmul("diag_T", "T") + width("diag_bias")),
        "y": c * p * (cmul("diag_r", "r") + add("y", "diag_bias")),
        "D": c * p * (add("D", "y") + 0.5 * width("y")),
        "result": c * (cmul("out_pair", "A") + cmul("out_diag", "D")) + (2 * c + 1) * width("result"),
    }
    return costs


def front_end_cost(
    width: Callable[[str], Any], n: int, beams: bool, mode: str, add: Callable[..., Any]
) -> Any:
    """The pair invariants' logic before the d cast (the DSP products themselves cost no LUTs)."""
    n_cc = n * (n - 1) // 2
    if mode == "cartesian":
        w_in = width("input")
        # the four cast products of a pair summed by a ternary and a binary add, each from d's top
        # bit (d wraps: no bit above it is built) down to the products' LSB; E -+ pz for the beams
        over_port = _maximum(w_in - DSP_WORD_BITS, 0)
        products = 4 * n_cc * over_port * SECOND_DSP_LUTS
        return 2 * n_cc * add("d", "d_product") + (2 * n * (w_in + 1) if beams else 0) + products
    # PUPPI, per pair: |eta_i - eta_j| and its saturating index (3 W), |phi_i - phi_j| with the
    # fold at pi (5 W), F + G; the two products per pair and per beam term are DSPs, their
    # operands (pT words, pT_i pT_j) counted once per use as routing; the ROMs are fixed
    w_eta, w_phi = width("input_eta") + 1, width("input_phi") + 1
    per_pair = 3 * w_eta + 5 * w_phi + width("pair_table") + 1 + 2 * width("input_pt") + width("pt_pair")
    beam_terms = 2 * n * (width("input_pt") + width("beam_table")) + n * width("eta") if beams else 0
    return n_cc * per_pair + beam_terms


def total_cost(bits: Bits, n: int, channels: int, beams: bool, mode: str) -> Any:
    costs = stage_costs(bits, n, channels, beams, mode)
    total = 0.0
    for value in costs.values():
        total = total + value
    return total


def spec_cost(spec: FixedPointSpec, n: int, channels: int, beams: bool = True) -> dict[str, float]:
    """The cost of a FixedPointSpec, per stage group and in total (``total``)."""
    costs = stage_costs(lambda s: (spec[s].integer, spec[s].frac), n, channels, beams, spec.inputs)
    out = {k: float(v) for k, v in costs.items()}
    out["total"] = float(sum(out.values()))
    return out
