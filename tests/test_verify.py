"""``nanotrig verify``: emulator vs C-simulation (vs RTL) in chunks on a real 2-process LocalCluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nanotrig.canonical import random_canonical
from nanotrig.cli import main
from nanotrig.data import read_jets, sample_path
from nanotrig.fixed import default_spec
from nanotrig.rtl.tools import have_simulator
from nanotrig.verify.chunk import verify_chunk
from nanotrig.verify.run import VerifyRequest, _csim_library


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_canonical(2, 3, seed=5, name="tiny").save(tmp_path_factory.mktemp("m") / "tiny.json")


def test_random_jets_in_chunks_on_two_workers_then_resumed(
    model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["verify", str(model_file), "--random", "6000", "--chunks", "4", "--workers", "2"]
    args += ["--work", str(tmp_path), "--json"]
    assert main(args) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["jets"] == 6000 and s["mismatches"] == 0 and s["csim_mismatches"] == 0
    assert s["chunks"] == 4 and [c["jets"] for c in s["per_chunk"]] == [1500] * 4
    assert s["overflow_total"] == sum(s["overflows"].values())
    assert s["jets_per_s"] > 0 and s["chunks_run"] == 4 and s["workers"] == 2
    assert s["worker_processes_used"] == 2  # the chunks really ran in parallel processes

    assert main(args) == 0  # stored chunks are not verified twice
    again = json.loads(capsys.readouterr().out)
    assert (again["chunks_run"], again["chunks_skipped"], again["jets_per_s"]) == (0, 4, None)
    assert again["jets"] == 6000 and again["overflows"] == s["overflows"]


def test_a_file_in_chunks_counts_truncation(model_file: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    args = ["verify", str(model_file), "--data", str(sample_path()), "--chunks", "3", "--workers", "2"]
    assert main([*args, "--work", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "4,000 jets" in text and "emulator vs C-simulation: 0 mismatches" in text
    cut = read_jets(sample_path(), n_constituents=3).n_truncated  # jets with more than 3 constituents
    assert cut > 3000 and f"jets truncated to N {cut}" in text


def test_a_wrong_c_simulation_is_caught(tmp_path: Path) -> None:
    """The check can fail: another model's C-sim library disagrees with this model's emulator."""
    model = random_canonical(2, 3, seed=5, name="tiny")
    other = random_canonical(2, 3, seed=6, name="other")
    spec, other_spec = default_spec(model), default_spec(other)
    lib, _ = _csim_library(VerifyRequest(other, other_spec, tmp_path, 1, random=1), lambda s: None)
    source = {"kind": "random", "n": 500, "seed": 1}
    res = verify_chunk(0, model.to_dict(), spec.precision_dict(), lib, source, offset=1000)
    assert res["csim_mismatches"] > 400 and res["first_mismatches"][0]["jet"] >= 1000


def test_needs_exactly_one_jet_source(model_file: Path, capsys) -> None:  # noqa: ANN001
    with pytest.raises(SystemExit):
        main(["verify", str(model_file), "--chunks", "2"])
    assert "one of the arguments --data --random is required" in capsys.readouterr().err
    assert main(["verify", str(model_file), "--random", "0"]) == 2
    assert "--random must be >= 1" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(not have_simulator("verilator"), reason="verilator not installed")
def test_rtl_too_on_two_workers(model_file: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    args = ["verify", str(model_file), "--random", "2000", "--chunks", "2", "--workers", "2", "--rtl"]
    assert main([*args, "--work", str(tmp_path), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["rtl_jets"] == 2000 and s["rtl_mismatches"] == 0 and s["rtl_protocol_errors"] == 0
    assert s["mismatches"] == 0 and s["rtl_simulator"] == "verilator"
