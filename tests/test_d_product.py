"""``d_product``: each of a Cartesian pair's four DSP products cast before their sum.

Its default (range analysis, and any spec written without it) is the exact product, which changes
no integer; a coarser LSB is a real change of the kernel, and every backend (emulator, RTL trace,
HLS C-simulation) must then compute the same integers."""

from __future__ import annotations

import json

import pytest

from nanotrig.canonical import random_canonical
from nanotrig.cli import main as cli_main
from nanotrig.data import sample_path
from nanotrig.fixed import default_spec
from nanotrig.fixed.analysis import derive_spec
from nanotrig.fixed.spec import FixedPointSpec, exact_product_type
from nanotrig.fixed.testjets import random_jets
from nanotrig.fixed.types import PrecisionError
from nanotrig.models import resolve_model
from nanotrig.qat.cost import spec_cost


@pytest.fixture(scope="module")
def small():  # noqa: ANN201
    model = random_canonical(2, 6, seed=5)
    jets = random_jets(600, 6, default_spec(model)["input"], seed=8)[:, :6]
    return model, derive_spec(model, jets), jets


def coarse(spec: FixedPointSpec) -> FixedPointSpec:
    """The products truncated to d's own LSB (what c2-qat ships)."""
    d, p = spec["d"], spec["d_product"]
    return spec.with_overrides({"d_product": f"ap_fixed<{p.integer + d.frac},{p.integer}>"})


def test_the_default_is_the_exact_product_and_older_specs_load_to_it() -> None:
    spec = default_spec(resolve_model("c2"))
    assert spec["d_product"] == exact_product_type(spec["input"])
    written = spec.to_dict()
    del written["Precision"]["d_product"]  # a precision file from before the stage existed
    again = FixedPointSpec.from_dict(written, source="old.yaml")
    assert again.precision_dict() == spec.precision_dict()
    # new input words: the products stay exact unless the user sets them
    wider = spec.with_overrides({"input": "ap_fixed<20,13,AP_RND,AP_SAT>"})
    assert wider["d_product"] == exact_product_type(wider["input"]) != spec["d_product"]
    kept = spec.with_overrides({"input": "ap_fixed<20,13,AP_RND,AP_SAT>", "d_product": "ap_fixed<30,26>"})
    assert str(kept["d_product"]) == "ap_fixed<30,26>"


def test_coarse_products_change_the_integers_alike_in_every_backend(
    small, tmp_path, every_backend_agrees
) -> None:  # noqa: ANN001
    """Emulator = RTL trace = g++ C-simulation = II = 3 folded datapath on the coarser stage."""
    model, spec, jets = small
    cheap = coarse(spec)
    assert cheap["d_product"].frac < spec["d_product"].frac
    every_backend_agrees(model, spec, cheap, jets, tmp_path, "d_product_t")


def test_the_cost_counts_the_adds_down_to_the_products_lsb(small) -> None:  # noqa: ANN001
    model, spec, _ = small
    before = spec_cost(spec, model.n_constituents, len(model.channels))
    after = spec_cost(coarse(spec), model.n_constituents, len(model.channels))
    n_pairs = model.n_constituents * (model.n_constituents - 1) // 2
    bits_saved = spec["d_product"].frac - spec["d"].frac
    assert before["d"] - after["d"] == 2 * n_pairs * bits_saved  # a ternary and a binary add per pair
    assert {k: v for k, v in before.items() if k not in ("d", "total")} == {
        k: v for k, v in after.items() if k not in ("d", "total")
    }


@pytest.mark.filterwarnings("ignore:.*expect overflows:RuntimeWarning")
def test_too_few_integer_bits_are_refused_naming_the_stage(small) -> None:  # noqa: ANN001
    _, spec, _ = small
    narrow = f"ap_fixed<{spec['d'].integer + 4},{spec['d'].integer - 1}>"
    message = r"my.yaml: stage 'd_product': .* at least \d+ integer bits \(d's"
    with pytest.raises(PrecisionError, match=message):
        spec.with_overrides({"d_product": narrow}, source="my.yaml")


def test_a_precision_file_cuts_the_products_through_the_csim_command(tmp_path, capsys) -> None:  # noqa: ANN001
    """The user's way in: a hls4ml-style YAML given to ``nanotrig csim --precision``."""
    (tmp_path / "p.yaml").write_text("Precision:\n  d_product: ap_fixed<27,26>\n")  # c2: d's LSB
    args = ["csim", "c2", "--data", str(sample_path()), "--max-jets", "1000", "--json"]
    rc = cli_main([*args, "--precision", str(tmp_path / "p.yaml"), "--out", str(tmp_path / "prj")])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0 and report["jets"] == 1000 and report["mismatches"] == 0
    assert report["precision"]["d_product"] == "ap_fixed<27,26>" and report["overflow_total"] == 0
    assert abs(report["auc_float"] - report["auc_fixed"]) < 0.002
