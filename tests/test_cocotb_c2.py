"""The shipped c2 model (N = 20 + 2 beams, C = 2) on both simulators: >= 2,000 jets each
(the shipped sample, the format's edge cases and random jets), 0 mismatches against the
bit-accurate emulator, exact latency, with bubbles and a reset in the middle of the traffic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nanotrig.data import read_jets, sample_path
from nanotrig.errors import NanotrigError
from nanotrig.fixed import Emulator, default_spec
from nanotrig.fixed.testjets import edge_case_jets, random_jets
from nanotrig.models import resolve_model
from nanotrig.rtl.build import build_rtl
from nanotrig.rtl.sim import simulate_jets
from nanotrig.rtl.tools import have_simulator

N_SAMPLE = 1900  # + edge cases + 150 random jets > 2,000


@pytest.fixture(scope="module")
def c2(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    try:
        model = resolve_model("c2")
    except NanotrigError:
        pytest.skip("no shipped c2 model yet")
    spec = default_spec(model)
    build = build_rtl(model, spec, tmp_path_factory.mktemp("c2") / "rtl", vhdl=False)
    n, tin = model.n_constituents, spec["input"]
    jets = np.concatenate(
        [
            read_jets(sample_path(), n_constituents=n, stop=N_SAMPLE).pmu,
            edge_case_jets(n, tin)[:, :n],
            random_jets(150, n, tin, seed=7)[:, :n],
            # hard constituents in the soft slots: their per-index types overflow and wrap
            read_jets(sample_path(), n_constituents=n, stop=100).pmu[:, ::-1],
        ]
    )
    return model, spec, build, jets


def test_c2_latency_fits_the_target(c2) -> None:  # noqa: ANN001
    model, _, build, _ = c2
    assert model.n_constituents == 20 and model.n_hidden == 2
    assert build.latency_cycles <= 10 and build.ii == 1
    assert build.da4ml["products"] == 4 * 20 * 19 // 2  # four DSP products per pair, none elsewhere


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_c2_rtl_equals_emulator_on_2000_jets(sim: str, c2, tmp_path: Path) -> None:  # noqa: ANN001
    if not have_simulator(sim):
        pytest.skip(f"{sim} not installed")
    model, spec, build, jets = c2
    assert len(jets) >= 2000
    r = simulate_jets(build, model, spec, jets, sim, tmp_path, bubble_prob=0.05, resets=(0.5,), seed=3)
    assert r["mismatches"] == 0, r["examples"]
    assert r["latency_errors"] == 0 and r["unexpected"] == 0 and r["missing"] == 0
    assert r["latency_cycles"] == build.latency_cycles
    assert r["jets"] + r["flushed_by_reset"] == len(jets) and r["jets"] >= 2000
    narrow = Emulator(model, spec).run(jets[-100:])
    assert sum(narrow.overflows[s] for s in spec.index_bits) > 0  # the wraps were exercised
