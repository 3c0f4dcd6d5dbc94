"""Training: AdamW, batch 512, the paper's schedule, best-by-validation checkpoint, resumable.

A run directory holds ``last.keras`` (model + optimizer state, written after every epoch),
``state.json`` (epoch reached, best validation loss, history), ``best.keras`` (lowest validation
loss), ``log.txt`` and, at the end, ``<name>.keras`` and ``<name>.json`` (the folded canonical
model with provenance and test metrics). Re-running the same command resumes where it stopped.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import ops
from tqdm import tqdm

from nanotrig import metrics
from nanotrig.engine.store import atomic_copy
from nanotrig.errors import NanotrigError
from nanotrig.model.heap import HeapReuse
from nanotrig.model.layers import build_model, find_nanopelican
from nanotrig.model.optimizer import FusedAdam
from nanotrig.model.schedule import PelicanSchedule, decay_epochs
from nanotrig.model.scoring import canonical_scores

MAX_STEPS_PER_CALL = 64  # training steps per call of the compiled step (amortises the dispatch)


def steps_per_call(steps_per_epoch: int) -> int:
    """The most steps per call, up to MAX_STEPS_PER_CALL, that divide an epoch: Keras runs whole
    calls, so a remainder would lengthen every epoch (the stand-in's 164 steps: 41 per call)."""
    return max(d for d in range(1, min(MAX_STEPS_PER_CALL, steps_per_epoch) + 1) if steps_per_epoch % d == 0)


@keras.saving.register_keras_serializable(package="nanotrig")
def score_bce(y_true: Any, w: Any) -> Any:
    """Binary cross-entropy with logit 2w: the reference's 2-class softmax over [-w, w]."""
    w = ops.reshape(w, (-1,))
    y = ops.cast(ops.reshape(y_true, (-1,)), w.dtype)
    return ops.mean(ops.softplus(2.0 * w) - 2.0 * w * y)


def bce_numpy(labels: np.ndarray, w: np.ndarray) -> float:
    z = 2.0 * np.asarray(w, dtype=np.float64)
    return float(np.mean(np.logaddexp(0.0, z) - z * np.asarray(labels, dtype=np.float64)))


@dataclass
class TrainConfig:
    name: str
    train: str
    valid: str
    test: str | None = None
    out_dir: str = ""
    n_hidden: int = 2
    n_constituents: int = 20
    nobj_avg: float = 49.0
    scale: float = 1.0
    beams: bool = True
    nalpha: bool = False
    dropout: float = 0.01
    epochs: int = 140
    batch_size: int = 512
    lr_init: float = 0.01
    lr_final: float = 1e-6
    warmup: int = 4
    weight_decay: float = 0.0  # AdamW's decoupled decay (the paper: none)
    seed: int = 0
    n_train: int = -1
    n_valid: int = -1
    init_from: str | None = None  # start from these weights (a .keras of the same C and variant)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir or f"runs/{self.name}")


def _load(path: str, n_constituents: int, limit: int) -> tuple[np.ndarray, np.ndarray]:
    from nanotrig.data import read_jets

    jets = read_jets(path, n_constituents=n_constituents, stop=None if limit < 0 else limit)
    return np.asarray(jets.pmu, dtype=np.float32), np.asarray(jets.is_signal, dtype=np.float32)


def predict_scores(model: keras.Model, pmu: np.ndarray, batch_size: int | None = None) -> np.ndarray:
    """Inference-mode scores w (float64), in input order, through the model's compiled predict
    step. Chunks default to ~2^24 pair entries (16384 jets at N = 20, 1024 at N = 80)."""
    if batch_size is None:
        layer = find_nanopelican(model)
        n_part = layer.n_constituents + (2 if layer.beams else 0)
        batch_size = int(max(256, 2 ** int(np.log2(2**24 / (layer.n_hidden * n_part**2)))))
    out = [
        np.asarray(model.predict_on_batch(pmu[i : i + batch_size]), dtype=np.float64).reshape(-1)
        for i in range(0, len(pmu), batch_size)
    ]
    return np.concatenate(out) if out else np.zeros(0)


class EpochBatches(keras.utils.PyDataset):
    """Training batches, epoch after epoch, without end: batch k belongs to epoch
    ``first_epoch + k // steps`` and the order within an epoch depends only on (seed, epoch),
    so that a resumed run sees the same batches as an uninterrupted one (and as nanotrig's
    earlier one-fit()-per-epoch loop). Batches are gathered from the arrays as the loader asks
    for them: no epoch-sized copy. One endless stream lets fit() keep one iterator, hence one
    traced step, for the whole run (a new iterator per epoch now and then retraced the step:
    seconds per epoch at N = 80). Progress is counted here, as batches are handed out: a
    per-step Keras callback would make every step wait for its loss to reach Python."""

    def __init__(
        self, x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, first_epoch: int = 1, name: str = ""
    ) -> None:
        super().__init__(workers=1, use_multiprocessing=False)
        self.x, self.y, self.batch_size, self.seed = x, y, batch_size, seed
        self.steps = len(x) // batch_size
        self.first_epoch, self.name = first_epoch, name
        self.total_epochs: int | None = None  # for the progress bar's label
        self.progress = False
        self._orders: dict[int, np.ndarray] = {}
        self._bar: tqdm | None = None
        self._bar_epoch = 0

    @property
    def num_batches(self) -> None:
        return None  # endless: fit() is told steps_per_epoch

    def order(self, epoch: int) -> np.ndarray:
        if epoch not in self._orders:
            perm = np.random.default_rng([self.seed, epoch]).permutation(len(self.x))
            self._orders = {e: o for e, o in self._orders.items() if e >= epoch - 1}  # the loader runs ahead
            self._orders[epoch] = perm[: self.steps * self.batch_size]
        return self._orders[epoch]

    def __getitem__(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        epoch, j = self.first_epoch + k // self.steps, k % self.steps
        idx = self.order(epoch)[j * self.batch_size : (j + 1) * self.batch_size]
        if self.progress:
            self._tick(epoch)
        return self.x[idx], self.y[idx]

    def _tick(self, epoch: int) -> None:
        if self.total_epochs and epoch > self.total_epochs:
            return  # the loader's read-ahead past the last epoch: no "epoch 36/35" bar
        if self._bar_epoch != epoch:
            self.close()
            desc = f"{self.name} epoch {epoch}" + (f"/{self.total_epochs}" if self.total_epochs else "")
            self._bar, self._bar_epoch = tqdm(total=self.steps, desc=desc, leave=False), epoch
        self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _atomic_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1) + "\n")
    os.replace(tmp, path)


def _atomic_save(model: keras.Model, path: Path) -> None:
    tmp = path.with_name(path.stem + ".tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


def _compile(
    model: keras.Model,
    schedule: PelicanSchedule | keras.optimizers.Optimizer,
    weight_decay: float = 0.0,
    steps_per_epoch: int = 4,
) -> None:
    # AdamW without weight decay (paper) is Adam; Keras' AdamW would still apply a zero decay to
    # every weight each step. torch's Adam epsilon, so that imported and native training agree.
    if isinstance(schedule, keras.optimizers.Optimizer):
        opt = schedule
    elif weight_decay > 0.0:  # decoupled, as torch's AdamW (the reference's --weight-decay)
        opt = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=weight_decay, epsilon=1e-8)
    else:  # Keras' Adam, each weight's update as one op (nanotrig.model.optimizer)
        opt = FusedAdam(learning_rate=schedule, epsilon=1e-8)
    # XLA is slower on this CPU (its cumsum and gathers); several steps per call save dispatch.
    # (at N = 20, 41 steps per call against 4: ~7 ms per step against ~8.4)
    calls = steps_per_call(steps_per_epoch) if keras.backend.backend() == "tensorflow" else 1  # torch: 1
    model.compile(optimizer=opt, loss=score_bce, jit_compile=False, steps_per_execution=calls)


def _copy_weights(path: str, model: keras.Model, pmu: np.ndarray) -> None:
    """Start from a trained model's weights (they do not depend on N), with both BatchNorms
    recalibrated on these jets (``pmu``, at this model's N): training-mode BatchNorm uses the
    batch's statistics, which change with N (at N = 80 the pairs are mostly soft ones), so the
    copied weights alone would make the first steps see another function (loss 7.5 at N = 80
    from c2). Recalibrated, the model's function at the start of training is the copied one
    (its folded formula), now summed over this N's particles."""
    src = find_nanopelican(keras.saving.load_model(path, compile=False))
    dst = find_nanopelican(model)
    shapes = [tuple(w.shape) for w in src.get_weights()], [tuple(w.shape) for w in dst.get_weights()]
    if shapes[0] != shapes[1] or src.nalpha != dst.nalpha:
        raise NanotrigError(f"{path}: its weights do not fit this model (C or variant differ)")
    dst.set_weights(src.get_weights())
    recalibrate_batchnorm(dst, pmu)


def recalibrate_batchnorm(layer: Any, pmu: np.ndarray) -> None:
    """Set each BatchNorm's running statistics to those of ``pmu`` and rescale its gamma, beta
    so that its affine map (gamma / sqrt(var + eps), beta - mean gamma / sqrt(var + eps)) is
    unchanged: inference is the same function, and training on such batches starts from it."""
    saved = (layer.dropout, layer.bn_in.momentum, layer.bn_out.momentum)
    layer.dropout, layer.bn_in.momentum, layer.bn_out.momentum = 0.0, 1.0, 1.0
    try:
        maps = [
            (bn, scale, bn.beta.numpy() - bn.moving_mean.numpy() * scale)
            for bn in (layer.bn_in, layer.bn_out)
            for scale in [bn.gamma.numpy() / np.sqrt(bn.moving_variance.numpy() + bn.epsilon)]
        ]
        for bn, scale, shift in maps:  # in order: bn_out's statistics after bn_in's map is restored
            layer(pmu.astype(layer.compute_dtype), training=True)  # running stats := these jets'
            bn.gamma.assign(scale * np.sqrt(bn.moving_variance.numpy() + bn.epsilon))
            bn.beta.assign(shift + bn.moving_mean.numpy() * scale)
    finally:
        layer.dropout, layer.bn_in.momentum, layer.bn_out.momentum = saved


def _schedule(cfg: TrainConfig, steps: int) -> PelicanSchedule:
    return PelicanSchedule(steps, cfg.epochs, cfg.lr_init, cfg.lr_final, cfg.warmup)


def _check_resume(state: dict[str, Any], cfg: TrainConfig, where: Path, say: Any) -> None:
    """A run resumes with the settings it started with; only the test file and, before the final
    decay began, the number of epochs may change (the schedule is identical up to the decay)."""
    defaults = asdict(TrainConfig(name="", train="", valid=""))
    old, new = {**defaults, **state["config"]}, asdict(cfg)  # settings added since count as defaults
    changed = sorted(k for k in new if old.get(k) != new[k] and k != "test")
    if [k for k in changed if k != "epochs"]:
        diffs = ", ".join(f"{k}: {old.get(k)!r} -> {new[k]!r}" for k in changed)
        raise NanotrigError(f"{where}: this run was started with other settings ({diffs}); use another --out")
    if "epochs" in changed:
        start_old = old["epochs"] - decay_epochs(old["epochs"])
        start_new = cfg.epochs - decay_epochs(cfg.epochs)
        if state["epoch"] >= min(start_old, start_new) or cfg.epochs <= cfg.warmup:
            raise NanotrigError(
                f"{where}: cannot change epochs {old['epochs']} -> {cfg.epochs} "
                f"after epoch {state['epoch']}: "
                "the two schedules already differ"
            )
        say(f"schedule changed from {old['epochs']} to {cfg.epochs} epochs (identical so far)")
    state["config"] = new


class _EpochEnd(keras.callbacks.Callback):
    """Per epoch: the batch order, a progress bar, then validation, the best and last checkpoints,
    state.json and the log line."""

    def __init__(
        self,
        cfg: TrainConfig,
        data: EpochBatches,
        x_va: np.ndarray,
        y_va: np.ndarray,
        state: dict[str, Any],
        run: Path,
        say: Any,
    ) -> None:
        super().__init__()
        self.cfg, self.data, self.x_va, self.y_va = cfg, data, x_va, y_va
        self.state, self.run, self.say = state, run, say
        self.t0 = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.t0 = time.time()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        t_train = time.time() - self.t0
        w_va = predict_scores(self.model, self.x_va)
        epoch += 1
        entry = {
            "epoch": epoch,
            "lr_end": float(self.model.optimizer.learning_rate),
            "train_loss": float((logs or {}).get("loss", np.nan)),
            "valid_loss": bce_numpy(self.y_va, w_va),
            "valid_accuracy": metrics.accuracy(self.y_va, w_va),
            "valid_auc": metrics.auc(self.y_va, w_va),
            "seconds": t_train,
        }
        state = self.state
        state["history"].append(entry)
        state["epoch"] = epoch
        _atomic_save(self.model, self.run / "last.keras")
        if state["best_loss"] is None or entry["valid_loss"] < state["best_loss"]:
            state["best_loss"], state["best_epoch"] = entry["valid_loss"], epoch
            atomic_copy(self.run / "last.keras", self.run / "best.keras")  # a copy: one save per epoch
        entry["epoch_seconds"] = time.time() - self.t0  # steps, validation and checkpoints
        _atomic_json(self.run / "state.json", state)
        self.say(
            f"epoch {epoch:3d} lr {entry['lr_end']:.2e} train {entry['train_loss']:.4f} "
            f"valid {entry['valid_loss']:.4f} acc {entry['valid_accuracy']:.4f} "
            f"auc {entry['valid_auc']:.4f} {t_train:.1f}s{' *' if state['best_epoch'] == epoch else ''}"
        )

    def close(self) -> None:
        self.data.close()


def training_threads() -> dict[str, int] | None:
    """One thread per TensorFlow op, the cores across independent ops (unless the user set
    TF_NUM_INTRAOP_THREADS). A step is ~1,000 small ops, and splitting each over two threads cost
    more than it gained: ms per step on 2 cores 8.3 against 9.5-10.2 at N = 20, 43.3 against 45.9
    at N = 80 (``make bench BENCH=train``). Only possible before TensorFlow's first op; later
    (a Dask worker's, or the user's process that already ran one) it changes nothing."""
    if keras.backend.backend() != "tensorflow" or "TF_NUM_INTRAOP_THREADS" in os.environ:
        return None
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
    except RuntimeError:  # the runtime is up: its settings stay
        return None
    return {"intra_op": 1, "inter_op": tf.config.threading.get_inter_op_parallelism_threads()}


class RunLog:
    """A run's ``log.txt``: every message time-stamped, appended (a resumed run continues the same
    file), flushed at once (a killed run keeps its lines) and echoed to ``echo``."""

    def __init__(self, path: Path, echo: Callable[[str], Any] = print) -> None:
        self._file = path.open("a")
        self.echo = echo

    def __call__(self, msg: str) -> None:
        line = f"{dt.datetime.now().strftime('%H:%M:%S')} {msg}"
        self._file.write(line + "\n")
        self._file.flush()
        self.echo(line)

    def close(self) -> None:
        self._file.close()


def train(cfg: TrainConfig, log=print) -> dict[str, Any]:
    """Train (or resume) one model; returns the final summary (also written to the run dir)."""
    training_threads()
    run = cfg.run_dir
    run.mkdir(parents=True, exist_ok=True)
    say = RunLog(run / "log.txt", log)

    x_tr, y_tr = _load(cfg.train, cfg.n_constituents, cfg.n_train)
    x_va, y_va = _load(cfg.valid, cfg.n_constituents, cfg.n_valid)
    steps = len(x_tr) // cfg.batch_size
    if steps < 1:
        raise NanotrigError(f"{cfg.train}: {len(x_tr)} jets, fewer than one batch of {cfg.batch_size}")

    state_path = run / "state.json"
    if state_path.exists() and (run / "last.keras").exists():
        state = json.loads(state_path.read_text())
        _check_resume(state, cfg, state_path, say)
        model = keras.saving.load_model(run / "last.keras")
        # The schedule always comes from the config, so that a changed --epochs takes effect;
        # compiled again (same optimizer and state) for this version's step settings.
        model.optimizer.learning_rate = _schedule(cfg, steps)
        _compile(model, model.optimizer, steps_per_epoch=steps)
        say(f"resuming {cfg.name} after epoch {state['epoch']}")
    else:
        keras.utils.set_random_seed(cfg.seed)
        model = build_model(
            cfg.n_hidden, cfg.n_constituents, cfg.nobj_avg, cfg.scale, cfg.beams, cfg.nalpha, cfg.dropout
        )
        if cfg.init_from:
            _copy_weights(cfg.init_from, model, x_tr[:2048])
            say(f"weights from {cfg.init_from}, BatchNorm recalibrated at N = {cfg.n_constituents}")
        _compile(model, _schedule(cfg, steps), cfg.weight_decay, steps)
        state = {"config": asdict(cfg), "epoch": 0, "best_loss": None, "best_epoch": 0, "history": []}
        say(f"training {cfg.name}: {len(x_tr)} train jets, {len(x_va)} valid jets, {steps} steps/epoch")

    state["train_jets_per_epoch"] = steps * cfg.batch_size
    if state["epoch"] < cfg.epochs:
        data = EpochBatches(x_tr, y_tr, cfg.batch_size, cfg.seed, state["epoch"] + 1, cfg.name)
        data.total_epochs, data.progress = cfg.epochs, True
        epochs = _EpochEnd(cfg, data, x_va, y_va, state, run, say)
        # One fit() for all remaining epochs: per-epoch work (validation, checkpoints, the log)
        # happens in the callback, so that an epoch's time is spent in its steps.
        try:
            model.fit(
                data,
                initial_epoch=state["epoch"],
                epochs=cfg.epochs,
                steps_per_epoch=steps,
                verbose=0,
                callbacks=[HeapReuse(), epochs],
            )
        finally:
            epochs.close()

    return finish(cfg, state, say)


def train_screened(cfg: TrainConfig, seeds: list[int], screen_epochs: int, log=print) -> dict[str, Any]:
    """The best of several initialisations: every seed trains ``screen_epochs`` epochs (each its
    own resumable run in RUN/screen/seed<k>/), the one with the lowest validation loss then
    trains the full schedule in RUN/ itself. A short screen catches the seeds that leave the
    first plateau early; others may still leave it after a later warm restart (docs/model.md)."""
    run = cfg.run_dir
    ranking = []
    for seed in seeds:
        where = str(run / "screen" / f"seed{seed}")
        short = replace(cfg, seed=seed, epochs=screen_epochs, test=None, out_dir=where)
        train(short, log=log)
        state = json.loads((short.run_dir / "state.json").read_text())
        ranking.append((state["best_loss"], seed))
        log(f"screen seed {seed}: validation loss {state['best_loss']:.4f} (epoch {state['best_epoch']})")
    ranking.sort()
    best = ranking[0][1]
    log(f"screen: seed {best} is best of {len(seeds)} ({', '.join(f'{s}: {v:.4f}' for v, s in ranking)})")
    screen = [{"seed": s, "valid_loss": v} for v, s in ranking]
    result = train(replace(cfg, seed=best, extra={**cfg.extra, "screened_seeds": screen}), log=log)
    return {**result, "screen": screen}


def finish(cfg: TrainConfig, state: dict[str, Any], say=print) -> dict[str, Any]:
    """Fold the best checkpoint, measure it on the test set, write <name>.keras and <name>.json."""
    from nanotrig.fold import fold_keras_model

    run = cfg.run_dir
    best = keras.saving.load_model(run / "best.keras", compile=False)
    # A clean copy without optimizer state: this is what ships.
    clean = build_model(
        cfg.n_hidden, cfg.n_constituents, cfg.nobj_avg, cfg.scale, cfg.beams, cfg.nalpha, cfg.dropout
    )
    find_nanopelican(clean).set_weights(find_nanopelican(best).get_weights())
    clean.save(run / f"{cfg.name}.keras")
    canon = fold_keras_model(clean, name=cfg.name)
    secs = [h["seconds"] for h in state["history"]]
    canon.provenance = {
        "trained_with": "nanotrig train",
        "train_file": str(cfg.train),
        "train_jets": state.get("train_jets_per_epoch"),
        "valid_file": str(cfg.valid),
        "epochs": cfg.epochs,
        "best_epoch": state["best_epoch"],
        "seed": cfg.seed,
        "batch_size": cfg.batch_size,
        "lr": [cfg.lr_init, cfg.lr_final],
        "warmup": cfg.warmup,
        "weight_decay": cfg.weight_decay,
        "dropout": cfg.dropout,
        "initialised_from": cfg.init_from,
        "seconds_per_epoch": float(np.median(secs)) if secs else None,
        "date": dt.date.today().isoformat(),
        **cfg.extra,
    }
    if cfg.test:
        x_te, y_te = _load(cfg.test, cfg.n_constituents, -1)
        w_te = canonical_scores(canon, x_te)
        canon.metrics = {"test_file": str(cfg.test), **metrics.summary(y_te, w_te)}
        say(f"test {cfg.name}: {json.dumps(canon.metrics)}")
    canon.save(run / f"{cfg.name}.json")
    say(f"wrote {run / (cfg.name + '.keras')} and {run / (cfg.name + '.json')}")
    return {"canonical": str(run / f"{cfg.name}.json"), "metrics": canon.metrics}
