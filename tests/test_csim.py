"""C-simulation (g++ with ap_types) against the bit-accurate emulator: identical integers on every
jet of the shipped sample, 10,000 random jets and the edge cases of the input format."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from nanotrig import metrics
from nanotrig.canonical import random_canonical
from nanotrig.cli import main as cli_main
from nanotrig.data import read_jets, sample_path
from nanotrig.fixed import Emulator, default_spec
from nanotrig.fixed.testjets import edge_case_jets, random_jets
from nanotrig.hls.csim import build_library
from nanotrig.hls.project import write_project
from nanotrig.models import resolve_model, shipped_models

# name -> (C, variant) of the stand-in used while a shipped model is missing
MODELS = {"c1": (1, "plain"), "c2": (2, "plain"), "c2n": (2, "nalpha")}


def _model(name: str):
    if name in shipped_models():
        return resolve_model(name)
    warnings.warn(
        f"shipped model {name} missing: testing a random canonical model of its shape", stacklevel=2
    )
    c, variant = MODELS[name]
    return random_canonical(c, 20, variant, seed=7, name=name)


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    return {}


def _project(projects, tmp_path_factory, name):
    if name not in projects:
        model = _model(name)
        spec = default_spec(model)
        jets = read_jets(sample_path(), n_constituents=model.n_constituents)
        out = tmp_path_factory.mktemp(f"hls-{name}")
        projects[name] = (write_project(model, spec, out, jets.pmu), jets)
    return projects[name]


@pytest.mark.parametrize("name", list(MODELS))
def test_csim_is_bit_exact(projects, tmp_path_factory, name):
    project, jets = _project(projects, tmp_path_factory, name)
    model, spec = project.model, project.spec
    lib = build_library(project.path, project.name, project.n_inputs)
    emu = Emulator(model, spec)
    t_in = spec["input"]
    sets = {
        "sample": jets.pmu,
        "random": random_jets(10_000, model.n_constituents, t_in, seed=11),
        "edge": edge_case_jets(model.n_constituents, t_in),
        # hard constituents in the soft slots: the per-index types of those slots overflow
        "softest first": jets.pmu[:1000, ::-1],
    }
    for what, pmu in sets.items():
        res = emu.run(pmu)
        csim = np.rint(lib.run(res.inputs.values) * 2.0 ** spec["result"].frac).astype(np.int64)
        bad = np.flatnonzero(csim != res.raw)
        assert bad.size == 0, f"{name} {what}: {bad.size} of {len(pmu)} jets differ, first {bad[:5]}"
        if what == "sample":
            assert res.total_overflows == 0, res.overflow_report()
            auc_float = metrics.auc(jets.is_signal, model.evaluate(pmu))
            assert abs(metrics.auc(jets.is_signal, res.scores) - auc_float) < 0.002
        if (
            what == "edge"
        ):  # the largest energies overflow the data-derived types: counted, and still bit-exact
            assert res.total_overflows > 0 and res.inputs.truncated >= 2
        if what == "softest first":
            assert sum(res.overflows[s] for s in spec.index_bits) > 0


def test_csim_cli_json_on_the_sample(projects, tmp_path_factory, capsys):
    project, _ = _project(projects, tmp_path_factory, "c2")
    build_library(project.path, project.name, project.n_inputs)  # cold build, unless done above
    model_json = project.path / "nanotrig" / "model.json"
    rc = cli_main(
        ["csim", str(model_json), "--data", str(sample_path()), "--json", "--out", str(project.path)]
    )
    report = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert report["jets"] == 4000 and report["mismatches"] == 0 and report["matches"] == 4000
    assert report["overflow_total"] == 0 and not report["csim_compiled"]  # reused the cached build
    for key in ("overflows", "auc_float", "auc_fixed", "rejection30_float", "rejection30_fixed"):
        assert key in report
    assert abs(report["auc_float"] - report["auc_fixed"]) < 0.002


def test_csim_cli_reports_too_narrow_precision(tmp_path, capsys):
    model = random_canonical(1, 20, seed=3, name="narrow")
    path = model.save(tmp_path / "narrow.json")
    (tmp_path / "p.yaml").write_text("z: ap_fixed<11,9>\n")
    rc = cli_main(
        [
            "csim",
            str(path),
            "--data",
            str(sample_path()),
            "--max-jets",
            "500",
            "--precision",
            str(tmp_path / "p.yaml"),
            "--json",
            "--out",
            str(tmp_path / "prj"),
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert rc == 0 and report["jets"] == 500
    assert report["mismatches"] == 0  # wrap-around is bit-exact too
    assert report["overflows"]["z"] > 0
    assert max(report["overflows"], key=report["overflows"].get) == "z"  # wrapped z may spill into A
    assert report["precision"]["z"] == "ap_fixed<11,9>"
