"""The PUPPI pair indices built as reversed addresses (kernel.magnitude_index) give the integers
of the plain formula, cast(|deta|) and cast(fold(|dphi|)), on every sign/wrap/saturation case."""

from __future__ import annotations

import numpy as np
import pytest

from nanotrig.fixed.kernel import PHI_HALF_TURN, fold_half_turn, magnitude_index, saturated_index
from nanotrig.fixed.ops import Fx, IntOps
from nanotrig.fixed.types import FixedType


def _ops(width: int) -> IntOps:
    t = FixedType(width, width, False, "AP_TRN", "AP_SAT")
    return IntOps({"deta": t, "dphi": t}, {})


def _words(a: np.ndarray, b: np.ndarray) -> tuple[Fx, Fx, Fx, Fx]:
    fa, fb = Fx(a, 0, 13), Fx(b, 0, 13)
    return fa, fb, fa - fb, fb - fa


@pytest.mark.parametrize("width", [9, 10, 11])  # M = 511 (default), 1023 and 2047 (no saturation)
def test_dphi_index_equals_folded_cast(width: int) -> None:
    ops = _ops(width)
    # every phi difference of two words in [-720, 720]: both signs, the wrap at +-720, the
    # clamp bands 511 < fold <= 720 and the ends +-1440
    s = np.arange(-2 * PHI_HALF_TURN, 2 * PHI_HALF_TURN + 1)
    a = np.clip(s, -PHI_HALF_TURN, PHI_HALF_TURN)
    b = a - s
    assert np.all(np.abs(b) <= PHI_HALF_TURN)
    fa, fb, d, nd = _words(a, b)
    where = np.ones(s.shape, dtype=bool)
    new = magnitude_index(ops, d, nd, "dphi", where, fold=True)
    got_over = ops.overflows["dphi"]
    ref_ops = _ops(width)
    old = ref_ops.cast(fold_half_turn(ref_ops, ref_ops.abs(fa - fb)), "dphi", where)
    assert new.f == old.f and np.array_equal(new.v, old.v)
    assert got_over == ref_ops.overflows["dphi"]
    if width == 9:
        assert got_over == 2 * (929 - 512)  # |s| in 512..928 on either side saturate at 511


@pytest.mark.parametrize("width", [9, 12])
def test_deta_index_equals_abs_cast(width: int) -> None:
    ops = _ops(width)
    s = np.arange(-4095, 4096)  # every difference of two ap_int<12> eta words
    a = np.clip(s, -2048, 2047)
    b = a - s
    fa, fb, d, nd = _words(a, b)
    where = np.abs(s) % 3 != 0  # overflows count only where asked
    new = magnitude_index(ops, d, nd, "deta", where)
    ref_ops = _ops(width)
    old = ref_ops.cast(ref_ops.abs(fa - fb), "deta", where)
    assert np.array_equal(new.v, old.v)
    expected = int(((np.abs(s) > 2**width - 1) & where).sum())
    assert ops.overflows["deta"] == ref_ops.overflows["deta"] == expected


BEAM_INDEX_TYPES = [
    "ap_fixed<9,11,AP_RND,AP_SAT>",
    "ap_fixed<9,11,AP_TRN,AP_SAT>",
    "ap_fixed<8,8,AP_RND,AP_SAT>",
]


@pytest.mark.parametrize("index_type", BEAM_INDEX_TYPES)
def test_beam_index_equals_saturating_cast(index_type: str) -> None:
    """The beam ROMs' eta index (kernel.saturated_index) is the plain saturating cast on every
    ap_int<12> eta word, rounding and both clamps included, with the same overflow count."""
    t = FixedType.parse(index_type)
    s = np.arange(-2048, 2048)
    x = Fx(s, 0, 12)
    where = s % 5 != 0  # overflows count only where asked
    ops, ref = IntOps({"eta": t}, {}), IntOps({"eta": t}, {})
    new = saturated_index(ops, x, "eta", where)
    old = ref.cast(x, "eta", where)
    assert new.f == old.f and np.array_equal(new.v, old.v)
    assert ops.overflows["eta"] == ref.overflows["eta"] > 0
