"""Per-index integer bits (FixedPointSpec.index_bits): each element of d, r, u, v, y, z has the
integer bits its pT rank needs, at its stage's LSB. The same integers as one type per stage on
every jet that does not overflow; overflows counted; every backend (emulator, RTL trace, HLS)
wraps them alike; YAML round trip; clear errors; uniform types where a datapath is folded."""

from __future__ import annotations

import numpy as np
import pytest

from nanotrig.canonical import random_canonical
from nanotrig.data import read_jets, sample_path
from nanotrig.errors import NanotrigError
from nanotrig.fixed import Emulator, default_spec
from nanotrig.fixed.analysis import DeriveOptions, derive_spec
from nanotrig.fixed.kernel import INDEXED_STAGES
from nanotrig.fixed.spec import FixedPointSpec
from nanotrig.fixed.testjets import random_jets
from nanotrig.fixed.types import PrecisionError
from nanotrig.models import resolve_model
from nanotrig.rtl.folded import trace_folded
from nanotrig.rtl.trace import trace_kernel


@pytest.fixture(scope="module")
def c2():  # noqa: ANN201
    model = resolve_model("c2")
    return model, default_spec(model), read_jets(sample_path(), n_constituents=20, check_masses=False)


def test_c2_default_narrows_the_soft_ranks_and_changes_no_score(c2) -> None:  # noqa: ANN001
    model, spec, jets = c2
    assert set(spec.index_bits) == set(INDEXED_STAGES)
    z = spec.index_bits["z"]
    assert z.shape == (2, 22, 22) and spec["z"].integer - z.mean() > 3  # ~4 bits fewer per pair
    # the leading pairs keep (nearly) the stage's bits, the softest pairs need far fewer
    assert z[:, 2, 3].min() >= spec["z"].integer - 1 and z[:, 20, 21].max() <= spec["z"].integer - 5
    assert np.array_equal(spec.index_bits["d"], spec.index_bits["d"].T)
    res = Emulator(model, spec).run(jets.pmu)
    uniform = Emulator(model, spec.uniform()).run(jets.pmu)
    assert res.total_overflows == 0 and np.array_equal(res.raw, uniform.raw)
    off = default_spec(model, DeriveOptions(index_bits=False))
    assert not off.index_bits and off.precision_dict() == spec.precision_dict()


def test_softest_first_jets_overflow_the_narrow_types_counted_and_traced_alike() -> None:
    model = random_canonical(2, 6, seed=21)
    tin = default_spec(model)["input"]
    jets = random_jets(400, 6, tin, seed=3)[:, :6]
    spec = derive_spec(model, jets)
    assert spec.index_bits
    reversed_jets = np.ascontiguousarray(jets[:, ::-1])
    emu = Emulator(model, spec).run(reversed_jets)
    narrow = {s: emu.overflows[s] for s in spec.index_bits if emu.overflows[s]}
    assert narrow, "hard constituents in soft slots must overflow some narrow element"
    assert Emulator(model, spec.uniform()).run(reversed_jets).total_overflows < emu.total_overflows
    traced = trace_kernel(model, spec)
    words = emu.inputs.words.reshape(len(reversed_jets), -1)
    got = traced.comb.predict(words * spec["input"].lsb)[:, 0] / spec["result"].lsb
    assert np.array_equal(got, emu.raw.astype(np.float64))


def test_index_bits_round_trip_through_yaml(c2, tmp_path) -> None:  # noqa: ANN001
    model, spec, jets = c2
    path = spec.save(tmp_path / "p.yaml")
    assert "IndexBits:" in path.read_text()
    again = default_spec(model).uniform().with_overrides(path)
    assert all(np.array_equal(again.index_bits[s], spec.index_bits[s]) for s in spec.index_bits)
    assert np.array_equal(
        Emulator(model, again).run(jets.pmu[:200]).raw, Emulator(model, spec).run(jets.pmu[:200]).raw
    )


def test_an_overridden_stage_takes_the_users_type_for_every_element(c2) -> None:  # noqa: ANN001
    _, spec, _ = c2
    wider = spec.with_overrides({"z": "ap_fixed<18,16>"})
    assert "z" not in wider.index_bits and np.array_equal(wider.index_bits["d"], spec.index_bits["d"])


@pytest.mark.parametrize(
    "index,message",
    [
        ({"A": [[1]]}, "only d, r, u, v, y, z"),
        ({"r": [[1, 2]]}, r"expected integers shaped \(particle\)"),
        ({"r": [99] * 22}, "element \\(0,\\) has 99 integer bits"),
        ({"r": ["x"] * 22}, "not a nested list of integers"),
    ],
)
def test_bad_index_bits_name_the_stage_and_value(c2, index, message) -> None:  # noqa: ANN001
    _, spec, _ = c2
    with pytest.raises(PrecisionError, match=message) as exc:
        spec.uniform().with_overrides(
            {"Inputs": "cartesian", "Precision": {}, "IndexBits": index}, source="p.yaml"
        )
    assert "p.yaml" in str(exc.value)


def test_index_bits_of_another_model_are_refused(c2) -> None:  # noqa: ANN001
    model, spec, _ = c2
    small = random_canonical(2, 6, seed=1)
    with pytest.raises(PrecisionError, match=r"shape \(22, 22\), the model needs \(8, 8\)"):
        Emulator(small, spec)
    with pytest.raises(PrecisionError, match="the model needs"):
        trace_kernel(small, spec)


def test_index_bits_need_a_wrapping_type(c2) -> None:  # noqa: ANN001
    _, spec, _ = c2
    sat = dict(spec.types)
    sat["z"] = sat["z"].with_modes(overflow="AP_SAT")
    with pytest.raises(PrecisionError, match="must be signed and wrapping"):
        FixedPointSpec(sat, {}, "cartesian", index_bits={"z": spec.index_bits["z"]})


def test_folded_datapaths_take_uniform_types(c2) -> None:  # noqa: ANN001
    model, spec, _ = c2
    assert not spec.for_reuse(3).index_bits and spec.for_reuse(1) is spec
    with pytest.raises(NanotrigError, match="per-index integer bits are for II = 1"):
        trace_folded(model, spec, 3)


def test_the_commands_flags_choose_uniform_types() -> None:
    """``--no-index-bits`` and ``--reuse-factor R > 1`` give one type per stage; the default not."""
    from nanotrig.cli import build_parser
    from nanotrig.fixed.options import spec_from_args

    model = resolve_model("c2")
    parser = build_parser()
    for flags, uniform in (([], False), (["--no-index-bits"], True), (["--reuse-factor", "3"], True)):
        args = parser.parse_args(["report", "c2", *flags])
        spec = spec_from_args(model, args)
        assert (not spec.index_bits) == uniform, flags
        assert spec.precision_dict() == default_spec(model).precision_dict()


def test_cached_rtl_is_not_reused_across_per_index_bits(c2) -> None:  # noqa: ANN001
    from nanotrig.rtl.build import build_key

    model, spec, _ = c2
    assert build_key(model, spec, 200.0, False) != build_key(model, spec.uniform(), 200.0, False)
