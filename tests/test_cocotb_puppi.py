"""The shipped c2 with Level-1 PUPPI inputs through the RTL on both simulators: >= 2,000 jets each
(the shipped sample, the format's edge cases, random jets straddling phi = +-pi), 0 mismatches
against the bit-accurate emulator, exact latency, bubbles and a reset mid-traffic; and the other
ROM implementation (block RAM) bit-exact too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nanotrig.data import read_jets, sample_path
from nanotrig.data.kinematics import pt_eta_phi
from nanotrig.fixed import DeriveOptions, default_spec
from nanotrig.fixed.spec import DEFAULT_IMPLEMENTATION, TABLE_IMPLEMENTATIONS
from nanotrig.fixed.testjets import puppi_edge_jets, random_puppi_jets
from nanotrig.models import resolve_model
from nanotrig.report.collect import with_constituents
from nanotrig.rtl.build import build_rtl
from nanotrig.rtl.sim import simulate_jets
from nanotrig.rtl.tools import have_simulator

N_SAMPLE = 1800  # + edge cases + 200 random jets > 2,000


def _candidates(spec, n: int, n_sample: int, n_random: int) -> np.ndarray:  # noqa: ANN001
    types = tuple(t for _, t in spec.input_fields)
    sample = pt_eta_phi(read_jets(sample_path(), n_constituents=n, stop=n_sample).pmu)
    return np.concatenate(
        [
            sample,
            puppi_edge_jets(n, types)[:, :n],
            random_puppi_jets(n_random, n, types, seed=9)[:, :n],
            sample[:100, ::-1],  # hard candidates in the soft slots: per-index types wrap
        ]
    )


@pytest.fixture(scope="module")
def c2_puppi(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    model = resolve_model("c2")
    spec = default_spec(model, DeriveOptions(inputs="puppi"))
    build = build_rtl(model, spec, tmp_path_factory.mktemp("c2p") / "rtl", vhdl=False)
    return model, spec, build, _candidates(spec, 20, N_SAMPLE, 200)


def test_puppi_c2_meets_dsp_and_latency_budget(c2_puppi) -> None:  # noqa: ANN001
    model, spec, build, _ = c2_puppi
    assert build.inputs == "puppi" and build.ii == 1
    assert build.da4ml["products"] == 2 * 190 + 2 * 20  # 2 per pair, 2 per constituent (beams): 420
    assert build.latency_cycles <= 10
    assert [g["name"] for g in build.input_groups] == ["input_pt", "input_eta", "input_phi"]
    top = (build.verilog_dir / "nanopelican.v").read_text()
    assert "input  wire [13:0] input_pt_19" in top and "input  wire [10:0] input_phi_0" in top


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_puppi_rtl_equals_emulator_on_2000_jets(sim: str, c2_puppi, tmp_path: Path) -> None:  # noqa: ANN001
    if not have_simulator(sim):
        pytest.skip(f"{sim} not installed")
    model, spec, build, cands = c2_puppi
    assert len(cands) >= 2000
    r = simulate_jets(
        build, model, spec, None, sim, tmp_path, bubble_prob=0.05, resets=(0.5,), seed=3, ptetaphi=cands
    )
    assert r["mismatches"] == 0, r["examples"]
    assert r["latency_errors"] == 0 and r["unexpected"] == 0 and r["missing"] == 0
    assert r["latency_cycles"] == build.latency_cycles
    assert r["jets"] + r["flushed_by_reset"] == len(cands) and r["jets"] >= 2000


OTHER_PAIR_TABLES = [t for t in TABLE_IMPLEMENTATIONS if t != DEFAULT_IMPLEMENTATION["pair_table"]]


@pytest.mark.skipif(not have_simulator("icarus"), reason="icarus not installed")
@pytest.mark.parametrize("pair_table", OTHER_PAIR_TABLES)
def test_the_other_rom_implementations_are_bit_exact_too(pair_table: str, tmp_path: Path) -> None:
    """The ROM choices other than the default (the pair ROMs all in LUTs, or split with only
    cosh - 1 in block RAM; the beam ROMs where the default does not put them): same integers,
    same handshake."""
    other = {
        "pair_table": pair_table,
        "beam_table": "bram" if DEFAULT_IMPLEMENTATION["beam_table"] == "lut" else "lut",
    }
    model = with_constituents(resolve_model("c2"), 8)
    spec = default_spec(model, DeriveOptions(inputs="puppi")).with_implementation(**other)
    build = build_rtl(model, spec, tmp_path / "rtl", vhdl=False)
    if any(t.startswith("bram") for t in other.values()):
        assert 'rom_style = "block"' in (build.verilog_dir / "nanopelican_core_roms.v").read_text()
    cands = _candidates(spec, 8, 150, 50)
    r = simulate_jets(build, model, spec, None, "icarus", tmp_path / "sim", bubble_prob=0.1, ptetaphi=cands)
    assert r["mismatches"] == 0 and r["missing"] == 0 and r["latency_cycles"] == build.latency_cycles
