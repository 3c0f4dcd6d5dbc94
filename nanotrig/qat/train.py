"""Quantization-aware training of a folded nanoPELICAN: resumable, one checkpoint per epoch.

Starts from a canonical model (the float c2, say) and a FixedPointSpec (its range-analysed
default, so epoch 0 *is* today's firmware), trains the canonical coefficients and every stage's
fractional bits (and the saturating stages' integer bits) with the paper's optimiser and
schedule (AdamW without weight decay, linear warm-up, cosine annealing with warm restarts
T0 = 4, Tmult = 2, final decay; ``nanotrig.model.schedule``) on BCE(2w) plus beta times the
kernel's LUT-equivalent cost (``nanotrig.qat.cost``). beta follows HGQ2's ``PieceWiseSchedule``:
from ``beta_start`` up to ``beta`` log-linearly over ``beta_ramp`` epochs, then constant.

Every epoch ends with: the WRAP stages' integer bits traced over the validation jets, the
validation loss / accuracy / AUC of the inference-mode (fixed-point) model, its cost, and its
weights saved as ``epochs/epoch_<k>.weights.h5``. The chosen epoch (``select``) is the cheapest
whose validation AUC is within ``max_auc_loss`` of the starting float model's (HGQ2's Pareto
idea: resources against accuracy over the run), or a given epoch. A run directory holds
``state.json``, ``last.keras`` (model + optimizer, for resuming), ``log.txt`` and the epochs.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
from hgq.utils.sugar import BetaScheduler, PieceWiseSchedule
from tqdm import tqdm

from nanotrig import metrics
from nanotrig.canonical import CanonicalModel
from nanotrig.errors import NanotrigError
from nanotrig.model.schedule import PelicanSchedule
from nanotrig.model.train import RunLog, bce_numpy, score_bce
from nanotrig.qat.export import fit_input_range, trace_integer_bits, wrap_quantizers
from nanotrig.qat.layer import SCALE_WORD, QatModel, QNanoPelican, floatx, layer_inputs

DTYPE = "float64"  # exact integers up to 53 bits: the QAT forward pass computes the firmware's words


@dataclass
class QatConfig:
    name: str
    model: dict[str, Any]  # canonical model to start from (CanonicalModel.to_dict())
    precision: dict[str, Any]  # starting FixedPointSpec (FixedPointSpec.to_dict())
    train: str
    valid: str
    out_dir: str
    test: str | None = None
    fixed_stages: list[str] = field(default_factory=list)  # stages whose type is not learned
    epochs: int = 14
    batch_size: int = 1024
    lr_init: float = 0.01
    lr_final: float = 1e-6
    warmup: int = 1
    coefficient_step: float = 0.125  # coefficients move this much slower (relatively) than bits
    beta: float = 1e-6
    beta_start: float = 1e-8
    beta_ramp: int = 6
    margin_bits: int = 0
    max_auc_loss: float = 0.0015
    seed: int = 0
    n_train: int = -1
    n_valid: int = -1
    graphs: bool = True  # TensorFlow graphs (fast per step, ~1 min to trace); False: eager

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir)

    @property
    def inputs(self) -> str:
        return str(self.precision.get("Inputs", "cartesian"))

    def beta_schedule(self) -> PieceWiseSchedule:
        if self.beta_ramp <= 0 or self.beta_start <= 0 or self.beta_start >= self.beta:
            return PieceWiseSchedule([(0, self.beta, "constant")])
        return PieceWiseSchedule([(0, self.beta_start, "log"), (self.beta_ramp, self.beta, "constant")])


def load_jets(path: str, n_constituents: int, limit: int = -1) -> tuple[np.ndarray, np.ndarray]:
    from nanotrig.data import read_jets

    jets = read_jets(path, n_constituents=n_constituents, stop=None if limit < 0 else limit)
    return np.asarray(jets.pmu, dtype=np.float64), np.asarray(jets.is_signal, dtype=np.float64)


def build_qat_model(cfg: QatConfig) -> QatModel:
    with floatx(DTYPE):
        layer = QNanoPelican(
            cfg.model,
            cfg.precision,
            fixed_stages=cfg.fixed_stages,
            beta0=cfg.beta_start,
            coefficient_step=cfg.coefficient_step,
        )
        layer.graphs = cfg.graphs
        model = QatModel(layer)
        model.build((None, layer.canonical.n_constituents, layer.n_fields))
    return model


def compile_qat_model(model: QatModel, steps: int, cfg: QatConfig) -> None:
    schedule = PelicanSchedule(steps, cfg.epochs, cfg.lr_init, cfg.lr_final, cfg.warmup)
    opt = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=0.0, epsilon=1e-8)
    # a graph on TensorFlow (``fit_data`` gives static batch shapes, which the kernel's wiring
    # needs); other backends run eagerly
    graph = cfg.graphs and keras.backend.backend() == "tensorflow"
    model.compile(optimizer=opt, loss=score_bce, run_eagerly=not graph)


def fit_data(x: np.ndarray, y: np.ndarray, batch_size: int, graphs: bool = True) -> Any:
    """Training batches for ``fit``: a tf.data pipeline of full batches on TensorFlow (static
    shapes, for a graph), else the arrays themselves."""
    if not graphs or keras.backend.backend() != "tensorflow":
        return x, y
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size, drop_remainder=True), None


def predict(layer: QNanoPelican, pmu: np.ndarray, batch_size: int = 2048) -> np.ndarray:
    return layer.apply_batches(pmu, False, batch_size)


def evaluate_epoch(layer: QNanoPelican, x: np.ndarray, y: np.ndarray, margin_bits: int) -> dict[str, Any]:
    """Fixed-point validation metrics at the current widths, WRAP integer bits traced on x."""
    trace_integer_bits(layer, x)
    if margin_bits:
        for inner in wrap_quantizers(layer).values():
            inner._i.assign(inner._i + float(margin_bits))
    layer.refresh_offsets()
    w = predict(layer, x)
    types = {s: str(layer.stage_type(s)) for s in layer.spec.keys}
    return {
        "valid_loss": bce_numpy(y, w),
        "valid_accuracy": metrics.accuracy(y, w),
        "valid_auc": metrics.auc(y, w),
        "cost": float(keras.ops.convert_to_numpy(layer.cost())),
        "types": types,
    }


class _Progress(keras.callbacks.Callback):
    def __init__(self, bar: tqdm) -> None:
        super().__init__()
        self.bar = bar

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.bar.update(1)
        if logs and batch % 5 == 0:
            self.bar.set_postfix(loss=f"{float(logs.get('loss', np.nan)):.4f}")


class _RefreshOffsets(keras.callbacks.Callback):
    """The constants' truncation offsets follow the learned LSBs and coefficients during an epoch."""

    def __init__(self, layer: QNanoPelican, every: int = 20) -> None:
        super().__init__()
        self.layer, self.every = layer, every

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if batch % self.every == self.every - 1:
            self.layer.refresh_offsets()


def _atomic_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1) + "\n")
    os.replace(tmp, path)


def _atomic_save(model: keras.Model, path: Path) -> None:
    tmp = path.with_name(path.stem + ".tmp" + "".join(path.suffixes))
    if path.name.endswith(".weights.h5"):
        tmp = path.with_name(path.name.replace(".weights.h5", ".tmp.weights.h5"))
        model.save_weights(tmp)
    else:
        model.save(tmp)
    os.replace(tmp, path)


def _check_resume(state: dict[str, Any], cfg: QatConfig, where: Path) -> None:
    old, new = state["config"], asdict(cfg)
    # the test file, the epoch choice and the number of epochs (the schedule follows it) may change
    # (the margin only enters the per-epoch evaluation and the export; the name only the export)
    free = ("test", "max_auc_loss", "epochs", "margin_bits", "graphs", "name")
    changed = sorted(k for k in new if old.get(k) != new[k] and k not in free)
    if changed:
        diffs = ", ".join(
            f"{k}: {old.get(k)!r} -> {new[k]!r}" for k in changed if k not in ("model", "precision")
        )
        diffs = diffs or ", ".join(changed)
        raise NanotrigError(f"{where}: this run was started with other settings ({diffs}); use another --out")


def train_qat(cfg: QatConfig, log: Any = print) -> dict[str, Any]:
    """Train (or resume) a QAT run; returns the run state (history per epoch)."""
    run = cfg.run_dir
    (run / "epochs").mkdir(parents=True, exist_ok=True)
    say = RunLog(run / "log.txt", log)

    start = CanonicalModel.from_dict(cfg.model)
    n = start.n_constituents
    mode = cfg.inputs
    pmu_tr, y_tr = load_jets(cfg.train, n, cfg.n_train)
    pmu_va, y_va = load_jets(cfg.valid, n, cfg.n_valid)
    x_tr, x_va = layer_inputs(pmu_tr, mode), layer_inputs(pmu_va, mode)
    steps = len(x_tr) // cfg.batch_size
    if steps < 1:
        raise NanotrigError(f"{cfg.train}: {len(x_tr)} jets, fewer than one batch of {cfg.batch_size}")

    state_path = run / "state.json"
    with floatx(DTYPE):
        if state_path.exists() and (run / "last.keras").exists():
            state = json.loads(state_path.read_text())
            _check_resume(state, cfg, state_path)
            state["config"] = asdict(cfg)
            model = keras.saving.load_model(run / "last.keras")
            model.kernel.graphs = cfg.graphs
            model.run_eagerly = not (cfg.graphs and keras.backend.backend() == "tensorflow")
            model.optimizer.learning_rate = PelicanSchedule(
                steps, cfg.epochs, cfg.lr_init, cfg.lr_final, cfg.warmup
            )
            say(f"resuming {cfg.name} after epoch {state['epoch']}")
        else:
            keras.utils.set_random_seed(cfg.seed)
            model = build_qat_model(cfg)
            fit_input_range(model.kernel, x_tr)
            compile_qat_model(model, steps, cfg)
            from nanotrig.fixed.physics import float_scores

            w_float = float_scores(start, pmu_va, mode)
            state = {
                "config": asdict(cfg),
                "epoch": 0,
                "history": [],
                "float_valid_auc": metrics.auc(y_va, w_float),
                "float_valid_loss": bce_numpy(y_va, w_float),
            }
            first = evaluate_epoch(model.kernel, x_va, y_va, cfg.margin_bits)
            state["history"].append({"epoch": 0, "beta": 0.0, "train_loss": None, "seconds": 0.0, **first})
            _atomic_save(model, run / "epochs" / "epoch_0.weights.h5")
            say(
                f"QAT {cfg.name}: {len(x_tr)} train jets, {len(x_va)} valid jets, {steps} steps/epoch; "
                f"float valid AUC {state['float_valid_auc']:.5f}; epoch 0 (start spec) fixed AUC "
                f"{first['valid_auc']:.5f} cost {first['cost']:.0f}"
            )
        layer: QNanoPelican = model.kernel
        beta_fn = cfg.beta_schedule()
        for epoch in range(state["epoch"] + 1, cfg.epochs + 1):
            perm = np.random.default_rng([cfg.seed, epoch]).permutation(len(x_tr))[: steps * cfg.batch_size]
            keras.utils.set_random_seed(cfg.seed * 100003 + epoch)
            t0 = time.time()
            with tqdm(total=steps, desc=f"{cfg.name} epoch {epoch}/{cfg.epochs}", leave=False) as bar:
                x_fit, y_fit = fit_data(x_tr[perm], y_tr[perm], cfg.batch_size, cfg.graphs)
                hist = model.fit(
                    x_fit,
                    y_fit,
                    batch_size=None if y_fit is None else cfg.batch_size,
                    initial_epoch=epoch - 1,
                    epochs=epoch,
                    shuffle=False,
                    verbose=0,
                    callbacks=[BetaScheduler(beta_fn), _Progress(bar), _RefreshOffsets(layer)],
                )
            seconds = time.time() - t0
            entry = {
                "epoch": epoch,
                "beta": float(beta_fn(epoch - 1)),
                "train_loss": float(hist.history["loss"][-1]),
                "seconds": seconds,
                **evaluate_epoch(layer, x_va, y_va, cfg.margin_bits),
            }
            state["history"].append(entry)
            state["epoch"] = epoch
            _atomic_save(model, run / "epochs" / f"epoch_{epoch}.weights.h5")
            _atomic_save(model, run / "last.keras")
            _atomic_json(state_path, state)
            t, word = entry["types"], SCALE_WORD[mode]
            say(
                f"epoch {epoch:3d} beta {entry['beta']:.1e} train {entry['train_loss']:.4f} valid "
                f"{entry['valid_loss']:.4f} auc {entry['valid_auc']:.5f} cost {entry['cost']:.0f} "
                f"{word} {t[word]} d {t['d']} z {t['z']} A {t['A']} {seconds:.0f}s"
            )
    say.close()
    return state


def select_epoch(state: dict[str, Any], max_auc_loss: float, epoch: int | None = None) -> dict[str, Any]:
    """The epoch to export: ``epoch`` if given, else the cheapest whose fixed-point validation AUC
    is within ``max_auc_loss`` of the starting float model's (epoch 0, the start spec, if none is)."""
    hist = state["history"]
    if epoch is not None:
        for h in hist:
            if h["epoch"] == epoch:
                return h
        raise NanotrigError(f"epoch {epoch} was not trained (epochs 0..{state['epoch']})")
    target = state["float_valid_auc"] - max_auc_loss
    good = [h for h in hist if h["valid_auc"] >= target]
    return min(good, key=lambda h: h["cost"]) if good else hist[0]
