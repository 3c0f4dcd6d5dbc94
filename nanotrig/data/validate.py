"""Checks on every chunk a reader returns: a bad value stops the read with its file, field and row,
so that no jet is ever dropped or silently repaired."""

from __future__ import annotations

import numpy as np

from nanotrig.data.jets import COMPONENTS
from nanotrig.data.layouts import Layout, RawChunk


def _describe(value: float) -> str:
    if np.isnan(value):
        return "is NaN"
    if np.isinf(value):
        return f"is {'+' if value > 0 else '-'}inf"
    return f"is {value:g}"


def check_chunk(layout: Layout, chunk: RawChunk) -> None:
    pmu = chunk.pmu
    bad = ~np.isfinite(pmu)
    if bad.any():
        r, c, k = np.argwhere(bad)[0]
        raise layout.error(
            f"{layout.where(chunk.start + r, c, k)}: {COMPONENTS[k]} {_describe(pmu[r, c, k])}"
        )
    negative = pmu[..., 0] < 0
    if negative.any():
        r, c = np.argwhere(negative)[0]
        raise layout.error(
            f"{layout.where(chunk.start + r, c, 0)}: energy {_describe(pmu[r, c, 0])} (negative energy)"
        )
    # padding slots (E = 0) must be all zero: a momentum without energy means a broken writer
    ghost = (pmu[..., 0] == 0) & np.any(pmu[..., 1:] != 0, axis=-1)
    if ghost.any():
        r, c = np.argwhere(ghost)[0]
        k = 1 + int(np.argmax(pmu[r, c, 1:] != 0))
        raise layout.error(
            f"{layout.where(chunk.start + r, c, k)}: {COMPONENTS[k]} {_describe(pmu[r, c, k])} "
            "in a padding slot (energy is 0)"
        )

    labels = np.asarray(chunk.is_signal)
    wrong = ~np.isin(labels, (0, 1))
    if wrong.any():
        r = int(np.argmax(wrong))
        raise layout.error(
            f"field {layout.signal_field!r} row {chunk.start + r}: value {labels[r].item()!r} "
            "(labels must be 0 or 1)"
        )

    if chunk.nobj is not None:
        count = np.count_nonzero(pmu[..., 0] > 0, axis=1)
        nobj = np.asarray(chunk.nobj)
        wrong = nobj != count
        if wrong.any():
            r = int(np.argmax(wrong))
            raise layout.error(
                f"field {layout.nobj_field!r} row {chunk.start + r}: value {nobj[r].item()!r} but 'Pmu' has "
                f"{count[r]} constituents with E > 0 in that row"
            )

    if chunk.truth_pmu is not None:
        bad = ~np.isfinite(chunk.truth_pmu)
        if bad.any():
            r, k = np.argwhere(bad)[0]
            raise layout.error(
                f"{layout.truth_where(chunk.start + r, k)}: {_describe(chunk.truth_pmu[r, k])}"
            )
