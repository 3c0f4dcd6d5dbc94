"""Keep the training step's freed buffers in the process heap.

TensorFlow's generator dataset (what ``fit()`` on a ``PyDataset`` such as ``EpochBatches``
builds) calls ``mallopt(M_TRIM_THRESHOLD, 128 kB)`` when it starts ("Memory patch applied" in
the log). Setting any glibc threshold turns off glibc's adaptive mmap threshold, so from then on
every buffer above 128 kB (at N = 20 the step's (512, C, 22, 22) tensors, 2 MB each) is a fresh
mmap that is page-faulted in and unmapped again, hundreds of times per step: the same effect
Dask's nanny setting had on the emulator (``nanotrig.engine.cluster``). With the thresholds
raised again the buffers are reused from the heap: ms per step at N = 20 8.6 / 9.4 -> 6.6 / 8.2
(best / median, same process, alternating; docs/model.md). The cost is that freed memory stays
with the process up to its peak, which a training run reaches every step anyway.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any

import keras

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
TRIM_THRESHOLD = 1 << 30
MMAP_THRESHOLD = 256 << 20  # as nanotrig.engine.cluster.MALLOC_ENV


def _libc() -> Any | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        return libc if hasattr(libc, "mallopt") else None
    except OSError:  # not glibc (macOS, musl): nothing to set
        return None


def hold_freed_memory() -> bool:
    """Raise glibc's trim and mmap thresholds; False where there is no glibc mallopt."""
    libc = _libc()
    if libc is None:
        return False
    ok = libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    return bool(ok and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1)


class HeapReuse(keras.callbacks.Callback):
    """``hold_freed_memory`` at every epoch's start: after TensorFlow's dataset has set its
    threshold (during the first epoch), before the next epoch's steps. No per-batch hook: one
    would make every step wait for its loss."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        hold_freed_memory()
