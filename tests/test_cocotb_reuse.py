"""II = R through the RTL in cocotb: the pair work folded over R cycles is bit-exact with the
emulator, takes one jet every R cycles sustained (``ap_ready`` low in between, the source's next
jet held off and taken later, never dropped), with the exact latency from acceptance.

CI items of the time-multiplexing issue: the shipped c2 (N = 20) at R = 3 with Cartesian inputs
and the shipped c2-n40 at R = 5 with PUPPI inputs, >= 2,000 jets on each simulator. Icarus
simulates c2-n40 at a few jets per second (2,000 jets: ~10-13 min on the 2-core machine): the
longest test of the default run, and within the CI budget (docs/reuse.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nanotrig.canonical import random_canonical
from nanotrig.data import read_jets, sample_path
from nanotrig.data.kinematics import pt_eta_phi
from nanotrig.fixed import DeriveOptions, Emulator, default_spec
from nanotrig.fixed.testjets import edge_case_jets, puppi_edge_jets, random_jets, random_puppi_jets
from nanotrig.models import resolve_model
from nanotrig.rtl.build import build_rtl
from nanotrig.rtl.sim import bench_config, run_bench, simulate_jets
from nanotrig.rtl.tools import have_simulator

SIMS = ["icarus", "verilator"]


def _check(r: dict, build, n_jets: int) -> None:  # noqa: ANN001
    """Bit-exact, exact latency, nothing lost, and never two acceptances closer than R cycles."""
    assert r["mismatches"] == 0, r["examples"]
    assert r["latency_errors"] == 0 and r["unexpected"] == 0 and r["missing"] == 0
    assert r["latency_cycles"] == build.latency_cycles
    assert r["jets"] + r["flushed_by_reset"] == n_jets
    gaps = {int(k): v for k, v in r["accept_intervals"].items()}
    assert min(gaps) == build.ii  # sustained: the source offered every cycle, the DUT took every R-th
    assert gaps[build.ii] >= 0.9 * sum(gaps.values())
    assert r["held_cycles"] > 0  # early jets were held off (back-pressure) and taken later


@pytest.fixture(scope="module")
def c2_r3(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    model = resolve_model("c2")
    spec = default_spec(model).for_reuse(3)  # one type per stage, as the commands build at II = 3
    build = build_rtl(model, spec, tmp_path_factory.mktemp("c2r3") / "rtl", reuse_factor=3)
    tin = spec["input"]
    pmu = np.concatenate(
        [
            read_jets(sample_path(), n_constituents=20, stop=1900).pmu,
            edge_case_jets(20, tin)[:, :20],
            random_jets(100, 20, tin, seed=4)[:, :20],
        ]
    )
    return model, spec, build, pmu


def test_c2_at_r3_shares_each_multiplier_between_three_pairs(c2_r3) -> None:  # noqa: ANN001
    _, _, build, _ = c2_r3
    assert build.ii == 3 and build.inputs == "cartesian"
    # 190 pairs on 67 units (the rotation leaves one unit per circular distance idle some cycles);
    # 4 products per pair unit; the beam pairs are adds only
    assert build.fold["pair_units"] == 67 and build.da4ml["products"] == 4 * 67
    assert build.latency_cycles == build.fold["timeline"]["latency_cycles"]


@pytest.mark.parametrize("sim", SIMS)
def test_c2_r3_rtl_equals_emulator_on_2000_jets(sim: str, c2_r3, tmp_path: Path) -> None:  # noqa: ANN001
    if not have_simulator(sim):
        pytest.skip(f"{sim} not installed")
    model, spec, build, pmu = c2_r3
    assert len(pmu) >= 2000
    r = simulate_jets(build, model, spec, pmu, sim, tmp_path, bubble_prob=0.05, resets=(0.5,), seed=3)
    _check(r, build, len(pmu))
    assert r["jets"] >= 2000 - 10  # the reset drops the few jets in flight


@pytest.fixture(scope="module")
def n40_r5(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    model = resolve_model("c2-n40")
    spec = default_spec(model, DeriveOptions(inputs="puppi")).for_reuse(5)
    build = build_rtl(model, spec, tmp_path_factory.mktemp("n40r5") / "rtl", reuse_factor=5)
    types = tuple(t for _, t in spec.input_fields)
    cands = np.concatenate(
        [
            pt_eta_phi(read_jets(sample_path(), n_constituents=40, stop=1900).pmu),
            puppi_edge_jets(40, types)[:, :40],
            random_puppi_jets(100, 40, types, seed=9)[:, :40],
        ]
    )
    return model, spec, build, cands


def test_c2_n40_at_r5_meets_the_bunch_crossing(n40_r5) -> None:  # noqa: ANN001
    model, _, build, _ = n40_r5
    assert model.n_constituents == 40 and build.ii == 5 and build.inputs == "puppi"
    assert build.ii * build.period_ns <= 25.0  # one jet per bunch crossing at 200 MHz
    # 780 pairs on 156 units (5 divides 40: no idle unit), 2 products each; 8 beam units, 2 each
    assert build.fold["pair_units"] == 156 and build.fold["idle_unit_cycles"] == 0
    assert build.da4ml["products"] == 2 * 156 + 2 * 8
    assert build.latency_ns <= 150.0


@pytest.mark.parametrize(
    ("sim", "n_jets"),
    [("verilator", 2000), ("icarus", 2000)],
)
def test_c2_n40_r5_rtl_equals_emulator(sim: str, n_jets: int, n40_r5, tmp_path: Path) -> None:  # noqa: ANN001
    if not have_simulator(sim):
        pytest.skip(f"{sim} not installed")
    model, spec, build, cands = n40_r5
    # the edge cases and random jets first, so that a short run still has them
    cands = np.concatenate([cands[1900:], cands[:1900]])[:n_jets]
    r = simulate_jets(
        build, model, spec, None, sim, tmp_path, bubble_prob=0.05, resets=(0.5,), seed=5, ptetaphi=cands
    )
    _check(r, build, n_jets)


@pytest.fixture(scope="module")
def small_r4(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    model = random_canonical(2, 6, seed=12, name="small")
    spec = default_spec(model).for_reuse(4)
    build = build_rtl(model, spec, tmp_path_factory.mktemp("small") / "rtl", reuse_factor=4)
    tin = spec["input"]
    jets = np.concatenate([random_jets(150, 6, tin, seed=6)[:, :6], edge_case_jets(6, tin)[:, :6]])
    return model, spec, build, jets


@pytest.mark.parametrize("sim", SIMS)
def test_ready_holds_off_early_jets_through_bubbles_and_resets(sim: str, small_r4, tmp_path: Path) -> None:  # noqa: ANN001
    if not have_simulator(sim):
        pytest.skip(f"{sim} not installed")
    model, spec, build, jets = small_r4
    r = simulate_jets(build, model, spec, jets, sim, tmp_path, bubble_prob=0.3, resets=(0.3, 0.7), seed=2)
    assert r["mismatches"] == 0 and r["latency_errors"] == 0 and r["missing"] == 0 and r["unexpected"] == 0
    assert r["flushed_by_reset"] > 0 and r["jets"] + r["flushed_by_reset"] == len(jets)
    assert min(int(k) for k in r["accept_intervals"]) >= build.ii


def test_back_to_back_offers_are_taken_one_every_r_cycles(small_r4, tmp_path: Path) -> None:  # noqa: ANN001
    if not have_simulator("icarus"):
        pytest.skip("icarus not installed")
    model, spec, build, jets = small_r4
    r = simulate_jets(build, model, spec, jets, "icarus", tmp_path)
    assert r["jets"] == len(jets) and r["mismatches"] == 0 and r["latency_errors"] == 0
    assert r["accept_intervals"] == {str(build.ii): len(jets) - 1}
    assert r["held_cycles"] == (build.ii - 1) * (len(jets) - 1)
    # lead-in reset, a jet every R cycles, drain
    assert r["cycles"] == 2 + build.ii * (len(jets) - 1) + 1 + build.latency_cycles + 4


def test_a_bench_that_ignores_ready_loses_jets(small_r4, tmp_path: Path) -> None:  # noqa: ANN001
    """The check can fail: a source that does not look at ap_ready sees jets go missing."""
    if not have_simulator("icarus"):
        pytest.skip("icarus not installed")
    model, spec, build, jets = small_r4
    emu = Emulator(model, spec).run(jets[:40])
    cfg = bench_config(build, "icarus", ports={})  # no in_ready: the source never looks at it
    r = run_bench(cfg, emu.inputs.port_words(), emu.raw, "icarus", tmp_path)
    assert r["missing"] == 40 - 10  # only every 4th jet offered was taken


def test_rtlsim_command_with_a_reuse_factor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not have_simulator("icarus"):
        pytest.skip("icarus not installed")
    from nanotrig.cli import main

    f = random_canonical(2, 6, seed=3, name="six").save(tmp_path / "six.json")
    args = ["rtlsim", str(f), "--data", str(sample_path()), "--jets", "60", "--sim", "icarus"]
    assert main([*args, "--reuse-factor", "4", "--work", str(tmp_path / "w"), "--bubbles", "0.2"]) == 0
    out = capsys.readouterr().out
    assert "60 jets" in out and "0 mismatches" in out and "II = 4: cycles between accepted jets" in out
