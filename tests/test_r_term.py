"""``r_term``: each d cast before the row sums r_i = cast_r(sum_k R(d_ik)).

r keeps a far coarser LSB than z needs of d (c2-qat: 256 against 2 GeV^2), so d's low bits only
widen the row sums' adds. The default (range analysis, and any spec written without the stage) is
d's own type, which changes no integer; a coarser LSB is a real change of the kernel, and every
backend (emulator, RTL trace, HLS C-simulation, the folded II = R datapath) must then compute the
same integers, in both input modes."""

from __future__ import annotations

import numpy as np
import pytest

from nanotrig.canonical import random_canonical
from nanotrig.fixed import Emulator, default_spec
from nanotrig.fixed.analysis import DeriveOptions, derive_spec
from nanotrig.fixed.spec import FixedPointSpec
from nanotrig.fixed.testjets import random_jets, random_puppi_jets
from nanotrig.fixed.types import PrecisionError
from nanotrig.models import resolve_model
from nanotrig.qat.cost import spec_cost
from nanotrig.rtl.trace import trace_kernel

DROP = 2  # low bits of d the coarse row terms drop


@pytest.fixture(scope="module")
def small():  # noqa: ANN201
    model = random_canonical(2, 6, seed=5)
    jets = random_jets(600, 6, default_spec(model)["input"], seed=8)[:, :6]
    return model, derive_spec(model, jets), jets


def coarse(spec: FixedPointSpec, drop: int = DROP) -> FixedPointSpec:
    """Row terms with d's top and ``drop`` fewer low bits."""
    d = spec["d"]
    return spec.with_overrides({"r_term": f"ap_fixed<{d.width - drop},{d.integer}>"})


def test_the_default_is_d_itself_and_older_specs_load_to_it() -> None:
    spec = default_spec(resolve_model("c2"))
    assert spec["r_term"] == spec["d"]
    written = spec.to_dict()
    del written["Precision"]["r_term"]  # a precision file from before the stage existed
    again = FixedPointSpec.from_dict(written, source="old.yaml")
    assert again.precision_dict() == spec.precision_dict()
    # a new d: the row terms follow it unless the user sets them
    d = spec["d"]
    wider = spec.with_overrides({"d": f"ap_fixed<{d.width + 2},{d.integer + 1}>"})
    assert wider["r_term"] == wider["d"] != spec["d"]
    kept = spec.with_overrides({"d": f"ap_fixed<{d.width + 2},{d.integer + 1}>", "r_term": "ap_fixed<20,30>"})
    assert str(kept["r_term"]) == "ap_fixed<20,30>"


def test_coarse_row_terms_change_the_integers_alike_in_every_backend(
    small, tmp_path, every_backend_agrees
) -> None:  # noqa: ANN001
    """Emulator = RTL trace = g++ C-simulation = II = 3 folded datapath on the coarser stage."""
    model, spec, jets = small
    cheap = coarse(spec)
    every_backend_agrees(model, spec, cheap, jets, tmp_path, "r_term_t")


def test_puppi_row_terms_are_the_same_stage(small) -> None:  # noqa: ANN001
    model = small[0]
    spec = default_spec(model, DeriveOptions(inputs="puppi"))
    assert spec["r_term"] == spec["d"]
    cheap = coarse(spec)
    types = tuple(t for _, t in spec.input_fields)
    jets = random_puppi_jets(400, model.n_constituents, types, seed=4)[:, : model.n_constituents]
    exact = Emulator(model, spec).run(None, ptetaphi=jets)
    emu = Emulator(model, cheap).run(None, ptetaphi=jets)
    assert not np.array_equal(emu.raw, exact.raw), "truncated row terms must change some score"
    got = trace_kernel(model, cheap).comb.predict(emu.inputs.port_values())[:, 0] / cheap["result"].lsb
    assert np.array_equal(got, emu.raw.astype(np.float64))


def test_the_cost_counts_the_row_adds_down_to_the_terms_lsb(small) -> None:  # noqa: ANN001
    model, spec, _ = small
    before = spec_cost(spec, model.n_constituents, len(model.channels))
    after = spec_cost(coarse(spec), model.n_constituents, len(model.channels))
    p = model.n_particles
    assert before["r"] - after["r"] == p * (p - 2) * DROP
    assert {k: v for k, v in before.items() if k not in ("r", "total")} == {
        k: v for k, v in after.items() if k not in ("r", "total")
    }


@pytest.mark.filterwarnings("ignore:.*expect overflows:RuntimeWarning")
def test_fewer_integer_bits_than_d_are_refused_naming_the_stage(small) -> None:  # noqa: ANN001
    _, spec, _ = small
    d = spec["d"]
    message = r"my.yaml: stage 'r_term': .* at least d's \d+ integer bits"
    with pytest.raises(PrecisionError, match=message):
        spec.with_overrides({"r_term": f"ap_fixed<{d.width},{d.integer - 1}>"}, source="my.yaml")
    with pytest.raises(PrecisionError, match="stage 'r_term'"):
        spec.with_overrides({"r_term": f"ap_ufixed<{d.width},{d.integer}>"}, source="my.yaml")
