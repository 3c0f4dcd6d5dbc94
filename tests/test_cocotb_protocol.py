"""The streaming protocol on a small design, on both simulators: back-to-back jets, random
bubbles, resets in the middle of traffic, exact latency, one output per valid input, in order;
and the bench's own ability to catch a wrong word, a wrong latency and a foreign port map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nanotrig.canonical import random_canonical
from nanotrig.fixed import default_spec
from nanotrig.fixed.testjets import edge_case_jets, random_jets
from nanotrig.rtl.build import build_rtl
from nanotrig.rtl.sim import BenchConfig, bench_config, run_bench, simulate_jets
from nanotrig.rtl.tools import have_simulator

N = 3


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    model = random_canonical(2, N, seed=11, name="small")
    spec = default_spec(model)
    build = build_rtl(model, spec, tmp_path_factory.mktemp("rtl"))
    tin = spec["input"]
    jets = np.concatenate([random_jets(300, N, tin, seed=5)[:, : N + 2], edge_case_jets(N, tin)[:, : N + 2]])
    return model, spec, build, jets


def _vectors(model, spec, jets):  # noqa: ANN001, ANN202
    from nanotrig.fixed import Emulator

    emu = Emulator(model, spec).run(jets)
    return emu.inputs.words.reshape(len(jets), -1), emu.raw


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_bubbles_and_resets_mid_traffic(sim: str, small, tmp_path: Path) -> None:  # noqa: ANN001
    if not have_simulator(sim):
        pytest.skip(f"{sim} not installed")
    model, spec, build, jets = small
    r = simulate_jets(build, model, spec, jets, sim, tmp_path, bubble_prob=0.3, resets=(0.3, 0.7), seed=1)
    assert r["mismatches"] == 0 and r["unexpected"] == 0 and r["missing"] == 0, r["examples"]
    assert r["latency_errors"] == 0
    assert r["latency_cycles"] == build.latency_cycles
    assert r["flushed_by_reset"] > 0  # the resets did hit jets in flight
    assert r["jets"] + r["flushed_by_reset"] == len(jets)


def test_vhdl_equals_emulator_in_ghdl(small, tmp_path: Path) -> None:  # noqa: ANN001
    if not have_simulator("ghdl"):
        pytest.skip("ghdl not installed (optional: sudo apt-get install ghdl)")
    model, spec, build, jets = small
    r = simulate_jets(
        build, model, spec, jets[:120], "ghdl", tmp_path, bubble_prob=0.2, resets=(0.5,), seed=2
    )
    assert r["mismatches"] == 0 and r["latency_errors"] == 0 and r["missing"] == 0 and r["unexpected"] == 0
    assert r["latency_cycles"] == build.latency_cycles and r["jets"] + r["flushed_by_reset"] == 120


def test_back_to_back_traffic_keeps_one_output_per_cycle(small, tmp_path: Path) -> None:  # noqa: ANN001
    if not have_simulator("icarus"):
        pytest.skip("icarus not installed")
    model, spec, build, jets = small
    r = simulate_jets(build, model, spec, jets, "icarus", tmp_path)
    assert r["jets"] == len(jets) and r["mismatches"] == 0 and r["latency_errors"] == 0
    # lead-in reset + jets + drain: the pipeline accepted one jet every cycle
    assert r["cycles"] == 2 + len(jets) + build.latency_cycles + 4


def test_bench_reports_a_wrong_word_and_a_wrong_latency(small, tmp_path: Path) -> None:  # noqa: ANN001
    if not have_simulator("icarus"):
        pytest.skip("icarus not installed")
    model, spec, build, jets = small
    words, raw = _vectors(model, spec, jets[:60])
    cfg = bench_config(build, "icarus")
    bad = raw.copy()
    bad[17] += 1
    r = run_bench(cfg, words, bad, "icarus", tmp_path / "word")
    assert r["mismatches"] == 1 and r["examples"][0]["jet"] == 17

    cfg.latency = build.latency_cycles + 1
    r = run_bench(cfg, words, raw, "icarus", tmp_path / "latency")
    assert r["latency_errors"] == len(raw) and r["latency_cycles"] == build.latency_cycles


VITIS_LIKE = """`timescale 1ns / 1ps
// The shape of a Vitis io_parallel export: active-low reset, ap_start, one packed input bus.
module vitis_like (
    input wire ap_clk, input wire ap_rst_n, input wire ap_start,
    input wire [{w_bus}:0] jet, input wire jet_ap_vld,
    output wire [{w_out}:0] layer_out, output wire layer_out_ap_vld
);
    nanopelican dut (
        .ap_clk(ap_clk), .ap_rst(~ap_rst_n), .jet_ap_vld(jet_ap_vld & ap_start),
{ports}
        .score_0(layer_out), .score_0_ap_vld(layer_out_ap_vld)
    );
endmodule
"""


def test_port_map_points_the_bench_at_other_port_names(small, tmp_path: Path) -> None:  # noqa: ANN001
    if not have_simulator("icarus"):
        pytest.skip("icarus not installed")
    model, spec, build, jets = small
    words, raw = _vectors(model, spec, jets[:80])
    tin, tout = build.word_types()
    w = tin.width
    ports = "\n".join(f"        .jet_{i}(jet[{w * (i + 1) - 1}:{w * i}])," for i in range(build.n_inputs))
    shim = tmp_path / "vitis_like.v"
    shim.write_text(VITIS_LIKE.format(w_bus=w * build.n_inputs - 1, w_out=tout.width - 1, ports=ports))
    cfg = BenchConfig(
        sources=[*build.verilog_sources, shim],
        top="vitis_like",
        latency=build.latency_cycles,
        in_width=w,
        out_width=tout.width,
        ports={
            "reset": "ap_rst_n",
            "reset_active_low": True,
            "in_word": "jet",
            "out_word": "layer_out",
            "out_valid": "layer_out_ap_vld",
            "tie": {"ap_start": 1},
        },
        bubble_prob=0.2,
        resets=(0.5,),
        workdir=build.verilog_dir,
    )
    r = run_bench(cfg, words, raw, "icarus", tmp_path / "sim")
    assert r["mismatches"] == 0 and r["latency_errors"] == 0 and r["missing"] == 0 and r["unexpected"] == 0
    assert r["jets"] + r["flushed_by_reset"] == len(raw)
