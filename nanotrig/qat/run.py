"""A QAT run's end: pick the epoch, fix its integer bits, write the model and its spec, check.

Writes into the run directory: ``<name>.json`` (canonical model with the learned coefficients;
the learned FixedPointSpec inside ``provenance.qat.precision``), ``<name>.precision.yaml`` (the
same spec as a file for ``--precision`` and hls4ml configs) and ``qat_report.json`` (the chosen
epoch, the types, the cost, the bit-exact check, overflows on the validation jets, test metrics).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from nanotrig import metrics
from nanotrig.data import read_jets, sample_path
from nanotrig.errors import NanotrigError
from nanotrig.qat.cost import spec_cost
from nanotrig.qat.export import (
    check_coefficients,
    compare_with_emulator,
    finalise,
    learned_model,
    learned_spec,
)
from nanotrig.qat.layer import layer_inputs
from nanotrig.qat.train import QatConfig, build_qat_model, load_jets, select_epoch


def export_run(
    cfg: QatConfig, state: dict[str, Any], epoch: int | None = None, log: Any = print
) -> dict[str, Any]:
    run = cfg.run_dir
    chosen = select_epoch(state, cfg.max_auc_loss, epoch)
    weights = run / "epochs" / f"epoch_{chosen['epoch']}.weights.h5"
    if not weights.exists():
        raise NanotrigError(f"{weights}: missing (the run directory lost an epoch's weights)")
    model = build_qat_model(cfg)
    model.load_weights(weights)
    layer = model.kernel
    n = layer.canonical.n_constituents
    pmu_tr, _ = load_jets(cfg.train, n, cfg.n_train)
    log(f"epoch {chosen['epoch']} chosen; tracing integer bits over {len(pmu_tr)} training jets")
    finalise(layer, layer_inputs(pmu_tr, cfg.inputs), cfg.margin_bits)
    qat = {
        "n_constituents": n,
        "epoch": chosen["epoch"],
        "epochs": cfg.epochs,
        "beta": chosen.get("beta"),
        "margin_bits": cfg.margin_bits,
        "train_file": str(cfg.train),
        "train_jets": int(len(pmu_tr)),
        "valid_file": str(cfg.valid),
        "valid_auc": chosen["valid_auc"],
        "float_valid_auc": state["float_valid_auc"],
        "batch_size": cfg.batch_size,
        "lr": [cfg.lr_init, cfg.lr_final],
        "fixed_stages": list(cfg.fixed_stages),
        "seconds_per_epoch": float(np.median([h["seconds"] for h in state["history"][1:]] or [0.0])),
    }
    spec = learned_spec(layer, {"derived_by": "nanotrig qat", "epoch": chosen["epoch"], "model": cfg.name})
    canon = learned_model(layer, cfg.name, spec, qat)
    check_coefficients(layer, canon, spec)

    sample = read_jets(sample_path(), n_constituents=n, check_masses=False).pmu
    exact = compare_with_emulator(layer, canon, spec, sample)
    exact.pop("scores")
    x_va, y_va = load_jets(cfg.valid, n, cfg.n_valid)
    on_valid = compare_with_emulator(layer, canon, spec, x_va)
    w_valid = on_valid.pop("scores")
    report: dict[str, Any] = {
        "name": cfg.name,
        "epoch": chosen["epoch"],
        "precision": spec.precision_dict(),
        "cost": spec_cost(spec, n, layer.canonical.n_hidden, layer.canonical.beams),
        "bit_exact_sample": exact,
        "valid": {**on_valid, **metrics.summary(y_va, w_valid)},
        "history": [{k: v for k, v in h.items() if k != "types"} for h in state["history"]],
    }
    if exact["mismatches"]:
        raise NanotrigError(
            f"export: the emulator differs from the QAT model on {exact['mismatches']} sample jets"
        )
    if cfg.test:
        jets = read_jets(cfg.test, n_constituents=n)
        from nanotrig.fixed.emulator import Emulator
        from nanotrig.fixed.physics import float_scores

        fixed = Emulator(canon, spec).run(jets.pmu, ptetaphi=jets.ptetaphi)
        w_float = float_scores(canon, jets.pmu, spec.inputs, jets.ptetaphi)
        report["test"] = {
            "file": str(cfg.test),
            "fixed": metrics.summary(jets.is_signal, fixed.scores),
            "float_learned": metrics.summary(jets.is_signal, w_float),
            "overflows": {k: int(v) for k, v in fixed.overflows.items() if v},
        }
        canon.metrics = {"test_file": str(cfg.test), **report["test"]["float_learned"]}
        canon.provenance["qat"]["test_fixed"] = report["test"]["fixed"]
    out_json = canon.save(run / f"{cfg.name}.json")
    out_yaml = spec.save(run / f"{cfg.name}.precision.yaml")
    report["files"] = {"model": str(out_json), "precision": str(out_yaml)}
    (run / "qat_report.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


WORDS = ("input", "input_pt", "input_eta", "input_phi", "pt_pair")


def format_report(rep: dict[str, Any]) -> str:
    p = rep["precision"]
    ex = rep["bit_exact_sample"]
    lines = [
        f"{rep['name']}: epoch {rep['epoch']}, cost (LUT-eq estimate) {rep['cost']['total']:,.0f}",
        "  types: "
        + ", ".join(
            f"{s} {p[s]}" for s in (*WORDS, "d", "r", "T", "u", "v", "z", "A", "y", "D", "result") if s in p
        ),
        f"  emulator vs QAT model on the shipped sample: {ex['jets'] - ex['mismatches']}/{ex['jets']} "
        f"jets equal (widest exact intermediate {ex['widest_exact_bits']} bits, exact in float64: "
        f"{ex['exact_in_float64']})",
        f"  validation: AUC {rep['valid']['auc']:.5f}, accuracy {rep['valid']['accuracy']:.4f}, overflows "
        f"{sum(rep['valid']['overflows'].values())}",
    ]
    if "test" in rep:
        t = rep["test"]
        lines.append(
            f"  test: fixed AUC {t['fixed']['auc']:.5f}, accuracy {t['fixed']['accuracy']:.4f}, 1/eps_B@30% "
            f"{t['fixed']['rejection_30']:.1f}; overflows {sum(t['overflows'].values())}"
        )
    lines.append(f"  wrote {rep['files']['model']} and {rep['files']['precision']}")
    return "\n".join(lines)


def run_path(out: str | Path, name: str) -> Path:
    return Path(out) if out else Path("runs") / name
