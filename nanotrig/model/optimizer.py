"""Adam with one TensorFlow op per weight update.

Keras' Adam writes each weight's update as ~20 small ops (the step's powers, the bias
correction, two moment updates, the square root, the division, three assignments), so for
nanoPELICAN's nine weight tensors the optimizer is ~180 of the ~1,100 ops of a training step,
and at N = 20 a step is bound by the number of ops, not by arithmetic (docs/model.md).
TensorFlow's ``ResourceApplyAdam`` kernel does the same update in one op: m = b1 m + (1 - b1) g,
v = b2 v + (1 - b2) g^2, w -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps), Keras' formula
exactly (``tests/test_model_train.py`` compares the two). The step's powers and learning rate
are computed once per step, not once per weight. Other backends, and AMSGrad, use Keras' own
update. Registered, so that a checkpoint's optimizer loads by name (no code from the file).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="nanotrig")
class FusedAdam(keras.optimizers.Adam):
    def _backend_update_step(self, grads: list, trainable_variables: list, learning_rate: Any) -> None:
        if keras.backend.backend() != "tensorflow" or self.amsgrad:
            super()._backend_update_step(grads, trainable_variables, learning_rate)
            return
        import tensorflow as tf

        per_dtype: dict[str, tuple[Any, Any, Any]] = {}
        for grad, var in zip(grads, trainable_variables, strict=True):
            dtype = var.dtype
            if dtype not in per_dtype:
                step = ops.cast(self.iterations + 1, dtype)
                per_dtype[dtype] = (
                    ops.cast(learning_rate, dtype),
                    ops.power(ops.cast(self.beta_1, dtype), step),
                    ops.power(ops.cast(self.beta_2, dtype), step),
                )
            lr, beta_1_power, beta_2_power = per_dtype[dtype]
            index = self._get_variable_index(var)
            tf.raw_ops.ResourceApplyAdam(
                var=var.value.handle,
                m=self._momentums[index].value.handle,
                v=self._velocities[index].value.handle,
                beta1_power=beta_1_power,
                beta2_power=beta_2_power,
                lr=lr,
                beta1=ops.cast(self.beta_1, dtype),
                beta2=ops.cast(self.beta_2, dtype),
                epsilon=ops.cast(self.epsilon, dtype),
                grad=ops.cast(grad, dtype),
                use_locking=False,
            )
