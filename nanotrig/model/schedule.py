"""The paper's learning-rate schedule, per minibatch.

Linear warm-up from 0 to ``lr_init`` over ``warmup`` epochs, then cosine annealing with warm
restarts (periods T0, T0*Tmult, ...) down to ``lr_final``, then an exponential decay to
``lr_final`` over the last ``decay`` epochs (the reference holds back int(epochs / 11)).
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops


def decay_epochs(epochs: int) -> int:
    """Epochs of the final exponential decay: the reference's int(epochs / 11), at least 1."""
    return max(1, epochs // 11)


@keras.saving.register_keras_serializable(package="nanotrig")
class PelicanSchedule(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(
        self,
        steps_per_epoch: int,
        epochs: int,
        lr_init: float = 0.01,
        lr_final: float = 1e-6,
        warmup: int = 4,
        t0: int = 4,
        tmult: int = 2,
    ) -> None:
        if epochs < 1 or steps_per_epoch < 1:
            raise ValueError(f"need epochs >= 1 and steps_per_epoch >= 1, got {epochs}, {steps_per_epoch}")
        self.steps_per_epoch = int(steps_per_epoch)
        self.epochs = int(epochs)
        self.lr_init = float(lr_init)
        self.lr_final = float(lr_final)
        self.warmup = int(min(warmup, max(epochs - 1, 0)))
        self.t0 = int(t0)
        self.tmult = int(tmult)
        self.decay = decay_epochs(epochs) if epochs > self.warmup + 1 else 0

    def lr_at(self, step: float) -> float:
        """The same schedule in plain Python, for plots and tests."""
        return float(self._lr(float(step), math))

    def __call__(self, step: Any) -> Any:
        return self._lr(ops.cast(step, "float32"), ops)

    def _lr(self, step: Any, m: Any) -> Any:
        s = self.steps_per_epoch
        lo, hi = self.lr_final, self.lr_init
        warm_steps = self.warmup * s
        decay_start = (self.epochs - self.decay) * s
        where = ops.where if m is ops else (lambda c, a, b: a if c else b)
        maximum = ops.maximum if m is ops else max
        # Warm restarts: cycle k spans [T0 (Tm^k - 1)/(Tm - 1), T0 (Tm^(k+1) - 1)/(Tm - 1)) epochs.
        t = maximum(step - warm_steps, 0.0) / s / self.t0  # in units of T0
        if self.tmult == 1:
            k = m.floor(t) if m is ops else math.floor(t)
            start, period = k, 1.0
        else:
            k = m.floor(m.log(t * (self.tmult - 1) + 1.0) / math.log(self.tmult) + 1e-6)
            start = (self.tmult**k - 1.0) / (self.tmult - 1)
            period = self.tmult**k
        frac = (t - start) / period
        cosine = lo + (hi - lo) * 0.5 * (1.0 + m.cos(math.pi * frac))
        warm = hi * step / max(warm_steps, 1)
        # Exponential decay from where the cosine stands on its last step down to lr_final.
        t_dec = max(decay_start - warm_steps - 1, 0)
        td = t_dec / s / self.t0
        if self.tmult == 1:
            kd = math.floor(td)
            sd, pd = kd, 1.0
        else:
            kd = math.floor(math.log(td * (self.tmult - 1) + 1.0) / math.log(self.tmult) + 1e-6)
            sd = (self.tmult**kd - 1.0) / (self.tmult - 1)
            pd = self.tmult**kd
        lr_dec0 = lo + (hi - lo) * 0.5 * (1.0 + math.cos(math.pi * (td - sd) / pd))
        u = maximum(step - decay_start, 0.0) / max(self.decay * s, 1)
        decay = lr_dec0 * m.exp(u * math.log(lo / lr_dec0))
        out = where(step < warm_steps, warm, where(step < decay_start, cosine, decay))
        return out

    def get_config(self) -> dict[str, Any]:
        return {
            "steps_per_epoch": self.steps_per_epoch,
            "epochs": self.epochs,
            "lr_init": self.lr_init,
            "lr_final": self.lr_final,
            "warmup": self.warmup,
            "t0": self.t0,
            "tmult": self.tmult,
        }
