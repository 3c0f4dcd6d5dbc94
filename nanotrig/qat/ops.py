"""``KerasOps``: the kernel's fourth ops backend, Keras tensors with an HGQ2 quantizer at each cast.

``nanotrig.fixed.kernel.run_kernel`` is written against a small ops interface (see
``nanotrig.fixed.ops``); here every value array is a ``KTensor`` (a Keras tensor with the
numpy-style indexing the kernel writes: ``x[:, iu]``, ``x[:, None]``, ``x[:, pair_index]``) and
every ``cast(x, stage)`` is the stage's HGQ2 fixed-point quantizer. So the quantization-aware
forward pass is the firmware's kernel itself, not a second copy of it.

The valid bits (wiring in the firmware) are ``KBool``s, bool tensors that take the numpy
operations the kernel writes on them (``&``, ``~``, indexing, ``.sum`` for the multiplicity
index m, ``np.concatenate`` with the beams' constant bits); ROM addresses are integer tensors.
Nothing is read back to numpy, so the pass runs eagerly on any backend and traces into a
TensorFlow graph when the batch size is static (``nanotrig.qat.train.fit_data``), which is
about ten times faster per step on this CPU.

Exactness: with float64 tensors every value the kernel computes is exact as long as it needs at
most 53 bits (the emulator records the widths it sees, ``EmulatorResult.exact_bits``), and the
HGQ2 quantizers in inference mode compute ``ap_fixed``'s rounding and wrap/saturation exactly
(the tests compare them integer for integer with the emulator). During training the WRAP
quantizers only round (HGQ2 tracks their integer bits from the data instead of wrapping), and
entries the kernel never lets reach the output (``where`` false) are zeroed before the
quantizer sees them, so that they do not widen the traced integer bits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from keras import ops
from quantizers import get_fixed_quantizer

from nanotrig.fixed.kernel import FRONT_END_TABLES

HGQ_OVERFLOW = {"AP_WRAP": "WRAP", "AP_SAT": "SAT", "AP_SAT_SYM": "SAT_SYM"}


def index_like_numpy(t: Any, item: Any) -> Any:
    """``t[item]`` for full slices, ``None`` (new axis) and at most one integer index array, as
    numpy does (Keras tensors take arrays only through ``ops.take``)."""
    items = item if isinstance(item, tuple) else (item,)
    if sum(isinstance(it, (np.ndarray, list)) for it in items) > 1:
        raise IndexError("one index array per subscript")
    axis = 0
    for it in items:
        if it is None:
            t = ops.expand_dims(t, axis)
            axis += 1
        elif isinstance(it, slice):
            if it != slice(None):
                t = ops.take(t, np.arange(int(ops.shape(t)[axis]))[it], axis=axis)
            axis += 1
        elif isinstance(it, (np.ndarray, list)):
            index = np.asarray(it)
            t = ops.take(t, index, axis=axis)
            axis += index.ndim
        elif isinstance(it, (int, np.integer)):
            t = ops.take(t, int(it), axis=axis)
        else:
            raise IndexError(f"index {it!r} not supported")
    return t


def _bool(x: Any) -> Any:
    return x.t if isinstance(x, KBool) else x


class KBool:
    """The valid bits: a Keras bool tensor with the numpy operations the kernel applies to them
    (``&``, ``~``, indexing, ``.sum``, ``np.concatenate`` with numpy arrays), so that the kernel
    traces into a graph (``tf.function``, ``jax.jit``) as well as it runs eagerly."""

    __slots__ = ("t",)
    __array_ufunc__ = None

    def __init__(self, t: Any) -> None:
        self.t = t

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in ops.shape(self.t))

    def __and__(self, other: Any) -> KBool:
        return KBool(ops.logical_and(self.t, _bool(other)))

    __rand__ = __and__

    def __invert__(self) -> KBool:
        return KBool(ops.logical_not(self.t))

    def __getitem__(self, item: Any) -> KBool:
        return KBool(index_like_numpy(self.t, item))

    def sum(self, axis: int) -> Any:
        return ops.sum(ops.cast(self.t, "int32"), axis=axis)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func is np.concatenate:
            parts = [ops.convert_to_tensor(_bool(a), dtype="bool") for a in args[0]]
            return KBool(ops.concatenate(parts, axis=kwargs.get("axis", args[1] if len(args) > 1 else 0)))
        return NotImplemented


class KTensor:
    """A Keras tensor with the arithmetic and numpy-style indexing the kernel uses."""

    __slots__ = ("t",)
    __array_ufunc__ = None  # ``ndarray op KTensor`` defers to the reflected method below

    def __init__(self, t: Any) -> None:
        self.t = t

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in ops.shape(self.t))

    @staticmethod
    def _v(other: Any) -> Any:
        return other.t if isinstance(other, KTensor) else other

    def __add__(self, other: Any) -> KTensor:
        return KTensor(ops.add(self.t, self._v(other)))

    def __radd__(self, other: Any) -> KTensor:
        return KTensor(ops.add(self._v(other), self.t))

    def __sub__(self, other: Any) -> KTensor:
        return KTensor(ops.subtract(self.t, self._v(other)))

    def __rsub__(self, other: Any) -> KTensor:
        return KTensor(ops.subtract(self._v(other), self.t))

    def __mul__(self, other: Any) -> KTensor:
        return KTensor(ops.multiply(self.t, self._v(other)))

    def __rmul__(self, other: Any) -> KTensor:
        return KTensor(ops.multiply(self._v(other), self.t))

    def __neg__(self) -> KTensor:
        return KTensor(ops.negative(self.t))

    def __getitem__(self, item: Any) -> KTensor:
        return KTensor(index_like_numpy(self.t, item))

    def reshape(self, *shape: int) -> KTensor:
        return KTensor(ops.reshape(self.t, shape))

    def numpy(self) -> np.ndarray:
        return np.asarray(ops.convert_to_numpy(self.t))


def tracks_ranges(training: Any) -> bool:
    """True in training and in HGQ2's range tracing (``training`` may be its 'tracing' flag)."""
    return training is True or bool(training == "tracing")


class KerasOps:
    """The kernel's ops on ``KTensor``s; ``cast`` is the stage's HGQ2 quantizer (see module doc).

    ``quantizers[stage]``: a callable ``(flat tensor, training) -> tensor``; ``kif(stage)`` the
    stage's current (keep-negative, integer, fractional) bits as tensors and ``overflow(stage)``
    its overflow mode (for constants and ROM addresses); ``coefs[name]``: the
    quantized coefficient tables as tensors, (C, n_M) or (n_M,), n_M = 1 for a constant;
    ``tables[name]``: front-end ROM values (float, exactly representable) by entry.
    """

    def __init__(
        self,
        quantizers: dict[str, Callable[[Any, Any], Any]],
        kif: Callable[[str], tuple[Any, Any, Any]],
        overflow: Callable[[str], str],
        coefs: dict[str, Any],
        tables: dict[str, np.ndarray] | None = None,
        training: Any = None,
        dtype: str = "float64",
    ) -> None:
        self.quantizers = quantizers
        self.kif = kif
        self.overflow = overflow
        self.coefs = coefs
        self.tables = tables or {}
        self.training = training
        self.dtype = dtype

    def cast(
        self, x: KTensor, stage: str, where: np.ndarray | None = None, at: tuple | None = None
    ) -> KTensor:
        """``at`` is not used: QAT learns one type per stage (its start spec has no per-index bits)."""
        t = x.t
        shape = x.shape
        if where is not None and tracks_ranges(self.training):
            t = ops.where(ops.broadcast_to(_bool(where), shape), t, ops.zeros_like(t))
        out = self.quantizers[stage](ops.reshape(t, (-1,)), self.training)
        return KTensor(ops.reshape(out, shape))

    def relu(self, x: KTensor) -> KTensor:
        return KTensor(ops.relu(x.t))

    def mask(self, x: KTensor, keep: Any) -> KTensor:
        return KTensor(ops.where(_bool(keep), x.t, ops.zeros_like(x.t)))

    def sum(self, x: KTensor, axis: int | tuple[int, ...]) -> KTensor:
        return KTensor(ops.sum(x.t, axis=axis))

    def concat(self, xs: Sequence[KTensor], axis: int) -> KTensor:
        return KTensor(ops.concatenate([x.t for x in xs], axis=axis))

    def coef(self, name: str, h: int | None, m_index: Any) -> KTensor:
        table = self.coefs[name] if h is None else self.coefs[name][h]
        if int(ops.shape(table)[-1]) == 1:
            return KTensor(ops.broadcast_to(table[0], ops.shape(m_index)))
        return KTensor(ops.take(table, m_index, axis=0))

    def const(self, value: float, stage: str, shape: tuple[int, ...]) -> KTensor:
        """As ``IntOps.const``: rounded half up to the stage's LSB (whatever the stage's rounding),
        then wrapped or saturated as the stage does."""
        # the stage's bit counts in the pass's dtype: they may be float32 weights of a layer whose
        # quantizers were built outside a float64 context
        k, i, f = (ops.cast(v, self.dtype) for v in self.kif(stage))
        quantize = get_fixed_quantizer("RND", HGQ_OVERFLOW[self.overflow(stage)])
        x = ops.full(shape, float(value), dtype=self.dtype)
        return KTensor(quantize(x, k, i, f, False, None))

    def positive(self, x: KTensor) -> KBool:
        return KBool(ops.greater(x.t, 0))

    def greater(self, x: KTensor, c: float) -> KBool:
        return KBool(ops.greater(x.t, c))

    def exact(self, value: float) -> float:
        return float(value)

    def select(self, bit: Any, a: Any, b: Any) -> KTensor:
        va, vb = KTensor._v(a), KTensor._v(b)
        return KTensor(ops.where(_bool(bit), va, vb))

    def abs(self, x: KTensor) -> KTensor:
        return KTensor(ops.abs(x.t))

    def bind(self, x: KTensor) -> KTensor:
        return x

    def negative(self, x: KTensor) -> KBool:
        return KBool(ops.less(x.t, 0))

    # The early-address index forms (``kernel.magnitude_index``, ``saturated_index``) are the
    # RTL's way to the same integers; training takes the plain cast, whose gradient is HGQ2's.
    def index_max(self, stage: str, x: KTensor) -> None:
        return None

    def index_type(self, stage: str) -> None:
        return None

    def low_bits(self, x: KTensor, stage: str) -> KTensor:
        raise NotImplementedError("the QAT pass takes the plain cast (index_max is None)")

    def count_overflow(self, x: KTensor, stage: str, where: np.ndarray | None = None) -> None:
        raise NotImplementedError("the QAT pass takes the plain cast (index_max is None)")

    def lookup(self, x: KTensor, table: str) -> KTensor:
        """A front-end ROM at the cast index x: the address is x's word minus the type's minimum
        (no gradient flows through an address, as none does through a ROM)."""
        index_stage, _, _ = FRONT_END_TABLES[table]
        k, i, f = self.kif(index_stage)
        # entry 0 is the index type's smallest word, -k 2**(i + f) in LSBs; x is on the index grid
        address = ops.cast(ops.round(x.t * 2.0**f + k * 2.0 ** (i + f)), "int32")
        values = ops.convert_to_tensor(np.asarray(self.tables[table], dtype=np.float64), dtype=self.dtype)
        return KTensor(ops.take(values, address, axis=0))
