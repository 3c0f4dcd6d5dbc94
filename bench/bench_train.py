"""Training bench (`make bench BENCH=train`): ms per training step (C = 2, batch 512, forward,
backward and Adam) at N = 20 and N = 80, and seconds per epoch on the stand-in (training steps,
validation and checkpoints), against the previous implementation measured in the same run.

Baseline ("step-by-step"): the sublayers one (B, P, P, C) tensor after another
(``NanoPelican.fused = False``), Keras' AdamW with weight decay 0, one fit() per epoch on the
permuted arrays, eager validation in chunks of 4096, as nanotrig trained before the fused pass.
New: what ``nanotrig train`` runs. A step's time is an epoch's time over its steps, the best
(and the median) of the epochs of one fit() after the first, which traces; next to it the
highest 1-minute load average seen meanwhile (the machine is shared).
An epoch's time is that of ``nanotrig train``'s third epoch (the first one traces the step, the
second the step again for the loader's next iterator).

Set ``STANDIN`` to the stand-in directory (train.h5, valid.h5); default
``shared/data/standin-400-800`` next to the checkout (or one level up). Without it the epoch
rows are skipped with a message and the step rows use the shipped sample jets.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
_DEFAULTS = [ROOT.parent / "shared/data/standin-400-800", ROOT.parents[1] / "shared/data/standin-400-800"]
STANDIN = Path(os.environ.get("STANDIN", next((p for p in _DEFAULTS if p.exists()), _DEFAULTS[0])))
OUT = Path(__file__).resolve().parent / "out"
BATCH = 512


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _jets(n: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    from nanotrig.data import count_jets, read_jets, sample_path

    path = STANDIN / "train.h5" if (STANDIN / "train.h5").exists() else sample_path()
    jets = read_jets(path, n_constituents=n, stop=min(count, count_jets(path)[0]))
    x, y = np.asarray(jets.pmu, np.float32), np.asarray(jets.is_signal, np.float32)
    reps = -(-count // len(x))  # the shipped sample has 4,000 jets: cycle it
    return np.concatenate([x] * reps)[:count], np.concatenate([y] * reps)[:count]


def _model(n: int, baseline: bool, steps: int):  # noqa: ANN202
    import keras

    from nanotrig.model import build_model, find_nanopelican
    from nanotrig.model.schedule import PelicanSchedule
    from nanotrig.model.train import _compile, score_bce

    model = build_model(2, n, seed=1)
    schedule = PelicanSchedule(1000, 140)
    if baseline:
        find_nanopelican(model).fused = False
        opt = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=0.0, epsilon=1e-8)
        model.compile(optimizer=opt, loss=score_bce, jit_compile=False)
    else:
        _compile(model, schedule, steps_per_epoch=steps)
    return model


class _EpochTimer:
    """Wall time of every epoch of one fit() (a Keras callback, made on first use)."""

    def __new__(cls):  # noqa: ANN204
        import keras

        class Timer(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.seconds: list[float] = []
                self.loads: list[float] = []

            def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
                self.t0 = time.perf_counter()

            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                self.seconds.append(time.perf_counter() - self.t0)
                self.loads.append(_load())

        return Timer()


def step_ms(n: int, baseline: bool, steps: int, epochs: int) -> tuple[float, float, float]:
    """ms per step: best and median over the epochs of one fit() (the first one, which traces,
    left out), and the highest load seen."""
    from nanotrig.model.train import EpochBatches

    x, y = _jets(n, steps * BATCH)
    model = _model(n, baseline, steps)
    timer = _EpochTimer()
    if baseline:
        model.fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0, callbacks=[timer])
    else:
        from nanotrig.model.heap import HeapReuse

        data = EpochBatches(x, y, BATCH, 0)  # with the heap setting `nanotrig train` uses
        model.fit(data, steps_per_epoch=steps, epochs=epochs, verbose=0, callbacks=[HeapReuse(), timer])
    per_step = 1000 * np.asarray(timer.seconds[1:]) / steps
    return float(per_step.min()), float(np.median(per_step)), max(timer.loads)


def epoch_s(n: int, baseline: bool) -> tuple[float, int, float]:
    """Seconds of a full epoch on the stand-in (steps, validation, checkpoints), steps, load."""
    from nanotrig.model.train import TrainConfig, bce_numpy, train
    from nanotrig.model.train import _load as load_jets

    with tempfile.TemporaryDirectory() as tmp:
        if not baseline:
            cfg = TrainConfig(
                name="bench", train=str(STANDIN / "train.h5"), valid=str(STANDIN / "valid.h5"),
                out_dir=tmp, n_constituents=n, epochs=3, seed=1,
            )  # fmt: skip
            load = _load()
            train(cfg, log=lambda s: None)
            state = json.loads((Path(tmp) / "state.json").read_text())
            last = state["history"][-1]
            return last["epoch_seconds"], state["train_jets_per_epoch"] // BATCH, max(load, _load())
        import keras

        from nanotrig import metrics

        x, y = load_jets(str(STANDIN / "train.h5"), n, -1)
        x_va, y_va = load_jets(str(STANDIN / "valid.h5"), n, -1)
        steps = len(x) // BATCH
        model = _model(n, True, steps)
        model.fit(x[: 4 * BATCH], y[: 4 * BATCH], batch_size=BATCH, verbose=0)  # trace
        load = _load()
        t0 = time.perf_counter()
        perm = np.random.default_rng([1, 1]).permutation(len(x))[: steps * BATCH]
        model.fit(x[perm], y[perm], batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        w = np.concatenate(
            [keras.ops.convert_to_numpy(model(x_va[i : i + 4096], training=False)).reshape(-1)
             for i in range(0, len(x_va), 4096)]
        )  # fmt: skip
        _ = bce_numpy(y_va, w), metrics.auc(y_va, w), metrics.accuracy(y_va, w)  # as the old loop did
        model.save(Path(tmp) / "best.keras")
        model.save(Path(tmp) / "last.keras")
        return time.perf_counter() - t0, steps, max(load, _load())


def run() -> tuple[str, list[str], list[list[object]]]:
    from nanotrig.model.train import training_threads

    training_threads()  # as `nanotrig train` runs (before any op; the baseline runs under it too)
    header = ["measurement", "new", "load", "step-by-step (before)", "load ", "speed-up", "note"]
    rows: list[list[object]] = []
    keys: dict[str, object] = {}
    steps_new = {}
    # the new step over the stand-in's epoch length (164 steps), as `nanotrig train` calls it
    for n, (steps, epochs), (steps_old, epochs_old) in ((20, (164, 5), (20, 4)), (80, (41, 5), (4, 3))):
        new, new_median, load_new = step_ms(n, False, steps, epochs)
        old, old_median, load_old = step_ms(n, True, steps_old, epochs_old)
        steps_new[n] = new_median
        keys[f"step_ms_n{n}"], keys[f"step_ms_n{n}_baseline"] = round(new, 2), round(old, 2)
        keys[f"step_ms_n{n}_ratio"] = round(old / new, 2)
        target = {20: 7.5, 80: 95.0}[n]
        note = f"target <= {target}; medians {new_median:.2f} / {old_median:.2f}"
        speed_up = round(old / new, 2)
        rows.append([f"step_ms_n{n}", round(new, 2), load_new, round(old, 2), load_old, speed_up, note])
    if not (STANDIN / "train.h5").exists() or not (STANDIN / "valid.h5").exists():
        rows.append(["epoch_s_n20 / epoch_s_n80", "skipped", "", "", "", "", f"no stand-in at {STANDIN}"])
    else:
        for n in (20, 80):
            new, steps, load_new = epoch_s(n, False)
            old, _, load_old = epoch_s(n, True)
            in_steps = new / (steps * steps_new[n] / 1000)
            keys[f"epoch_s_n{n}"], keys[f"epoch_s_n{n}_baseline"] = round(new, 2), round(old, 2)
            keys[f"epoch_s_n{n}_ratio"] = round(old / new, 2)
            keys[f"epoch_over_steps_n{n}"] = round(in_steps, 2)
            note = f"{steps} steps; epoch / its steps' time (median step) = {in_steps:.2f} (target <= 1.3)"
            speed_up = round(old / new, 2)
            rows.append([f"epoch_s_n{n}", round(new, 2), load_new, round(old, 2), load_old, speed_up, note])
    OUT.mkdir(exist_ok=True)
    (OUT / "bench_train_keys.json").write_text(json.dumps(keys, indent=1) + "\n")
    return f"training (C = 2, batch {BATCH}, {os.cpu_count()} cores)", header, rows
