"""Shared checks of the test modules."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from nanotrig.canonical import CanonicalModel
from nanotrig.fixed import Emulator
from nanotrig.fixed.spec import FixedPointSpec


def _every_backend_agrees(
    model: CanonicalModel,
    exact: FixedPointSpec,
    cheap: FixedPointSpec,
    jets: np.ndarray,
    tmp: Path,
    typedef: str,
) -> None:
    """A spec that coarsens a stage changes some score, and the emulator, da4ml's RTL graph, the
    HLS kernel (g++, its ``typedef`` in parameters.h) and the II = 3 folded datapath all compute
    the same integers for it (Cartesian jets)."""
    from nanotrig.hls.csim import build_library
    from nanotrig.hls.project import write_project
    from nanotrig.rtl.folded import interpret_folded, trace_folded
    from nanotrig.rtl.trace import trace_kernel

    before = Emulator(model, exact).run(jets)
    emu = Emulator(model, cheap).run(jets)
    assert emu.total_overflows == 0 and before.total_overflows == 0
    assert not np.array_equal(emu.raw, before.raw), "the coarser stage must change some score"
    traced = trace_kernel(model, cheap)
    words = emu.inputs.words.reshape(len(jets), -1)
    got = traced.comb.predict(words * cheap["input"].lsb)[:, 0] / cheap["result"].lsb
    assert np.array_equal(got, emu.raw.astype(np.float64))
    project = write_project(model, cheap, tmp / "hls", jets)
    assert typedef in (project.path / "firmware" / "parameters.h").read_text()
    lib = build_library(project.path, project.name, project.n_inputs)
    csim = np.rint(lib.run(emu.inputs.values) * 2.0 ** cheap["result"].frac).astype(np.int64)
    assert np.array_equal(csim, emu.raw)
    folded = cheap.for_reuse(3)
    want = Emulator(model, folded).run(jets)
    got = interpret_folded(trace_folded(model, folded, 3), want.inputs.words, folded)
    assert np.array_equal(got, want.raw)


@pytest.fixture
def every_backend_agrees() -> Callable[..., None]:
    return _every_backend_agrees
