"""The da4ml trace computes the emulator's integers: op by op, then the whole kernel."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from da4ml.trace import comb_trace

from nanotrig.canonical import random_canonical
from nanotrig.fixed import Emulator, derive_spec
from nanotrig.fixed.analysis import DeriveOptions, input_type
from nanotrig.fixed.ops import quantize_int
from nanotrig.fixed.testjets import edge_case_jets, random_jets
from nanotrig.fixed.types import FixedType
from nanotrig.rtl.timing import op_delay, plan_stages, retime, units_for_clock
from nanotrig.rtl.trace import Lin, input_variable, naf_digits, quantize_var, trace_kernel

CASTS = [
    "ap_fixed<8,3>",
    "ap_fixed<8,3,AP_RND>",
    "ap_fixed<8,3,AP_TRN,AP_SAT>",
    "ap_fixed<8,3,AP_RND,AP_SAT>",
    "ap_fixed<8,3,AP_RND,AP_SAT_SYM>",
    "ap_ufixed<7,3,AP_TRN,AP_SAT>",
    "ap_ufixed<7,3,AP_RND,AP_WRAP>",
    "ap_fixed<6,9>",  # coarser than an integer: negative fractional bits
]


@pytest.mark.parametrize("dst", CASTS)
def test_every_cast_mode_matches_the_emulator_on_every_input(dst: str) -> None:
    src = FixedType.parse("ap_fixed<14,6>")  # finer and wider than every target: rounds and overflows
    t = FixedType.parse(dst)
    x = input_variable(src)
    comb = comb_trace([x], [quantize_var(x, t)])
    raw = np.arange(src.min_int, src.max_int + 1)
    got = comb.predict(raw * src.lsb)[:, 0] / t.lsb
    want, _ = quantize_int(raw, src.frac, t)
    assert np.array_equal(got, want.astype(np.float64))


def test_products_relu_and_constant_factors_are_exact() -> None:
    a_t, b_t = FixedType.parse("ap_fixed<9,5>"), FixedType.parse("ap_fixed<7,2>")
    a, b = input_variable(a_t), input_variable(b_t)
    c = 0.4140625  # 53/128: several signed digits
    outs = [
        (Lin([a]) * Lin([b])).value(),
        (Lin([a]) - Lin([b])).value().relu(),
        (Lin([a]) * c - 3.25).value(),
    ]
    comb = comb_trace([a, b], outs)
    rng = np.random.default_rng(0)
    ra = rng.integers(a_t.min_int, a_t.max_int + 1, 3000)
    rb = rng.integers(b_t.min_int, b_t.max_int + 1, 3000)
    va, vb = ra * a_t.lsb, rb * b_t.lsb
    got = comb.predict(np.stack([va, vb], axis=1))
    assert np.array_equal(got[:, 0], va * vb)
    assert np.array_equal(got[:, 1], np.maximum(va - vb, 0.0))
    assert np.array_equal(got[:, 2], va * c - 3.25)


def test_signed_digit_form_is_exact_and_sparse() -> None:
    for raw in range(-1000, 1001):
        digits = naf_digits(raw)
        assert sum(s * 2**k for s, k in digits) == raw
        ks = [k for _, k in digits]
        assert all(b - a >= 2 for a, b in zip(ks, ks[1:], strict=False))  # non-adjacent


def _check_kernel(model, n_jets: int = 400, seed: int = 0) -> int:  # noqa: ANN001
    tin = input_type(DeriveOptions())
    n = model.n_constituents
    jets = np.concatenate(
        [random_jets(n_jets, n, tin, seed=seed)[:, : n + 2], edge_case_jets(n, tin, seed=seed)[:, : n + 2]]
    )
    spec = derive_spec(model, jets)
    traced = trace_kernel(model, spec)
    emu = Emulator(model, spec).run(jets)
    words = emu.inputs.words.reshape(len(jets), -1)
    got = traced.comb.predict(words * spec["input"].lsb)[:, 0] / spec["result"].lsb
    assert np.array_equal(got, emu.raw.astype(np.float64)), f"{np.sum(got != emu.raw)} of {len(got)} differ"
    return sum(op.opcode == 7 for op in traced.comb.ops)


@pytest.mark.parametrize("n_hidden,n", [(1, 3), (2, 5), (3, 4)])
def test_traced_kernel_equals_emulator_and_uses_four_products_per_pair(n_hidden: int, n: int) -> None:
    products = _check_kernel(random_canonical(n_hidden, n, seed=n_hidden))
    assert products == 4 * n * (n - 1) // 2  # nothing else multiplies two variables


def test_traced_kernel_with_multiplicity_tables_and_without_beams() -> None:
    _check_kernel(random_canonical(2, 4, variant="nalpha", seed=3), seed=1)
    _check_kernel(dataclasses.replace(random_canonical(2, 4, seed=4), beams=False), seed=2)


def test_stage_plan_respects_the_clock() -> None:
    assert units_for_clock(200.0) == 5
    assert units_for_clock(100.0) == 10
    assert units_for_clock(2000.0) == 1
    model = random_canonical(2, 4, seed=0)
    tin = input_type(DeriveOptions())
    spec = derive_spec(model, random_jets(200, 4, tin, seed=0))
    comb = trace_kernel(model, spec).comb
    fast, slow = plan_stages(comb, 3), plan_stages(comb, 10)
    assert fast.stages > slow.stages
    assert fast.latency_cycles == fast.stages + 1
    # no operation crosses a stage boundary: it starts and ends in the same stage
    for op in retime(comb, 3).ops:
        dt = op_delay(op)
        if dt > 0:
            assert np.floor((op.latency - dt) / 3 + 1e-9) == np.ceil(op.latency / 3 - 1e-9) - 1


def test_adds_sit_in_their_users_stage_when_their_operands_are_carried_anyway() -> None:
    """An add whose sum would only be registered for later users, of operands each used at least
    twice, goes into its users' stage (no register for it; it joins their ternary adder), and the
    pipeline is no longer for it."""
    from nanotrig.models import resolve_model
    from nanotrig.rtl.timing import _asap, _stage_of, op_parents, op_users

    model = resolve_model("c2")
    spec = derive_spec(model, random_jets(200, 20, input_type(DeriveOptions()), seed=1))
    comb = trace_kernel(model, spec).comb
    cut = 5.0
    early = _asap(comb, cut, frozenset(), {})
    ops = retime(comb, 5).ops
    users = op_users(ops)

    def registered_for_later(op_list, i) -> bool:  # noqa: ANN001
        first_user = min(_stage_of(op_list[u].latency, cut) for u in users[i])
        return first_user > _stage_of(op_list[i].latency, cut)

    sinkable = [
        i
        for i, op in enumerate(ops)
        if op.opcode in (0, 1) and users[i] and all(len(users[p]) >= 2 for p in op_parents(op))
    ]
    assert sum(registered_for_later(early, i) for i in sinkable) > 0  # ASAP leaves some
    assert sum(registered_for_later(ops, i) for i in sinkable) == 0
    assert max(_stage_of(o.latency, cut) for o in ops) == max(_stage_of(o.latency, cut) for o in early)
