"""II = R: the rotation schedule covers every pair once, and the four traced pieces of the kernel,
run cycle by cycle with their exact accumulators (da4ml's interpreter), give the emulator's
integers in both input modes, with and without beams, for constant and ROM coefficients."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from nanotrig.canonical import random_canonical
from nanotrig.cli import main
from nanotrig.errors import NanotrigError
from nanotrig.fixed import DeriveOptions, Emulator, default_spec
from nanotrig.fixed.testjets import edge_case_jets, puppi_edge_jets, random_jets, random_puppi_jets
from nanotrig.rtl.build import build_rtl
from nanotrig.rtl.folded import interpret_folded, trace_folded
from nanotrig.rtl.schedule import MAX_REUSE, fold_schedule


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 20, 29, 40, 60])
def test_schedule_computes_every_pair_exactly_once(n: int) -> None:
    for r in range(1, MAX_REUSE + 1):
        sched = fold_schedule(n, r)
        seen = [p for cycle in sched.table() for p in cycle if p is not None]
        assert sorted(seen) == [(i, j) for i in range(n) for j in range(i + 1, n)], (n, r)
        assert all(i != j for i, j in seen)
        beams = sorted(sched.constituent(u.position, g) for u in sched.beams for g in range(u.live))
        assert beams == list(range(n))  # each constituent's two beam pairs once
        assert all(1 <= u.live <= r for u in (*sched.pairs, *sched.beams))


def test_schedule_needs_no_more_units_than_pairs_over_r_when_r_divides_n() -> None:
    for n, r in [(20, 2), (20, 5), (40, 5), (40, 4), (60, 3), (30, 5)]:
        assert len(fold_schedule(n, r).pairs) == n * (n - 1) // 2 // r
    # otherwise the last unit of each circular distance idles for some cycles
    assert len(fold_schedule(20, 3).pairs) == 67 and -(-190 // 3) == 64
    assert len(fold_schedule(60, 9).pairs) == 207 and -(-1770 // 9) == 197


def _jets(spec, n: int, count: int):  # noqa: ANN001, ANN202
    if spec.inputs == "puppi":
        types = tuple(t for _, t in spec.input_fields)
        c = np.concatenate(
            [random_puppi_jets(count, n, types, seed=3)[:, :n], puppi_edge_jets(n, types)[:, :n]]
        )
        return None, c
    tin = spec["input"]
    return np.concatenate([random_jets(count, n, tin, seed=3)[:, :n], edge_case_jets(n, tin)[:, :n]]), None


CASES = [
    # N, R, inputs, C, variant, beams
    (5, 2, "puppi", 2, "plain", True),
    (8, 3, "cartesian", 1, "nalpha", True),
    (9, 9, "puppi", 3, "plain", True),
    (4, 5, "cartesian", 2, "plain", False),  # R > N: each unit serves the N cycles it has
    (10, 4, "puppi", 2, "nalpha", False),
    (2, 2, "puppi", 2, "plain", True),
    (1, 3, "cartesian", 2, "plain", True),  # no pairs at all, beams only
    (12, 5, "cartesian", 2, "plain", True),
]


@pytest.mark.parametrize(("n", "r", "inputs", "c", "variant", "beams"), CASES)
def test_folded_pieces_give_the_emulators_integers(
    n: int, r: int, inputs: str, c: int, variant: str, beams: bool
) -> None:
    model = random_canonical(c, n, variant=variant, seed=10 * n + r)
    if not beams:
        model = replace(model, beams=False)
    spec = default_spec(model, DeriveOptions(inputs=inputs)).for_reuse(r)
    pmu, ptetaphi = _jets(spec, n, 200)
    emu = Emulator(model, spec).run(pmu, ptetaphi=ptetaphi)
    got = interpret_folded(trace_folded(model, spec, r), emu.inputs.words, spec)
    assert np.array_equal(got, emu.raw)
    assert emu.total_overflows > 0  # the edge cases saturate: the folded casts saturate alike


def test_folded_build_counts_products_per_unit(tmp_path: Path) -> None:
    model = random_canonical(2, 10, seed=2)
    spec = default_spec(model, DeriveOptions(inputs="puppi")).for_reuse(5)
    b = build_rtl(model, spec, tmp_path / "rtl", reuse_factor=5)
    assert b.ii == 5 and b.fold["pair_units"] == 9 and b.fold["beam_units"] == 2
    assert b.da4ml["products"] == 2 * 9 + 2 * 2  # two per pair unit, two per beam unit
    assert b.files == {"verilog": [f"verilog/{f}" for f in (
        "nanopelican_core_roms.v", "nanopelican_core_pairs.v", "nanopelican_core_middle.v",
        "nanopelican_core_relu.v", "nanopelican_core_output.v", "nanopelican.v")]}  # fmt: skip
    top = (b.verilog_dir / "nanopelican.v").read_text()
    assert "output wire ap_ready" in top and "input  wire [13:0] input_pt_9" in top
    t = b.fold["timeline"]
    assert b.latency_cycles == t["latency_cycles"] == t["t_output"] + t["stages"]["output"]
    meta = json.loads((tmp_path / "rtl" / "rtl.json").read_text())
    assert meta["ii"] == 5 and meta["ports"]["in_ready"] == "ap_ready"
    again = build_rtl(model, spec, tmp_path / "rtl", reuse_factor=5)
    assert again.seconds == b.seconds  # cached by key
    assert build_rtl(model, spec, tmp_path / "rtl", reuse_factor=1).ii == 1  # the key differs


def test_bad_reuse_factors_are_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = random_canonical(2, 4, seed=2)
    spec = default_spec(model)
    for bad in (0, 10):
        with pytest.raises(NanotrigError, match="--reuse-factor"):
            build_rtl(model, spec, tmp_path / "rtl", reuse_factor=bad)
    f = model.save(tmp_path / "m.json")
    assert main(["rtl", str(f), "--out", str(tmp_path / "o"), "--reuse-factor", "12"]) == 2
    assert "the RTL takes 1 .. 9" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
