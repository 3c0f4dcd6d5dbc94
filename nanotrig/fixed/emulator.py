"""The bit-accurate emulator: the golden model the C-simulation and the RTL must match.

Integer numpy (int64) over batches of jets, running ``nanotrig.fixed.kernel.run_kernel`` on
``IntOps``; rounding and overflow are those of ``ap_fixed``. Every value that did not fit its
stage's type is counted (``EmulatorResult.overflows``), as are clipped input components and
jets with more than N constituents.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from nanotrig.canonical import CanonicalModel
from nanotrig.fixed.hwmodel import hardware_coefficients
from nanotrig.fixed.kernel import batch_size, cast_stages, run_kernel
from nanotrig.fixed.ops import Fx, IntOps
from nanotrig.fixed.quantize import QuantizedInputs, quantize_jets
from nanotrig.fixed.spec import FixedPointSpec
from nanotrig.fixed.tables import quantize_tables, tables_for


@dataclass
class EmulatorResult:
    raw: np.ndarray  # (B,) int64: the score word (value = raw * 2**-F of the result type)
    scores: np.ndarray  # (B,) float64 scores
    inputs: QuantizedInputs
    overflows: dict[str, int] = field(default_factory=dict)
    exact_bits: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def total_overflows(self) -> int:
        return sum(self.overflows.values())

    def overflow_report(self) -> str:
        """One line per stage that overflowed (or 'no overflow'), plus input clipping/truncation."""
        lines = [f"  {s}: {n} values did not fit" for s, n in self.overflows.items() if n]
        if self.inputs.clipped:
            lines.append(f"  input: {self.inputs.clipped} components clipped to the input type")
        if self.inputs.lost:
            lines.append(f"  input: {self.inputs.lost} constituents with pT below half an LSB (absent)")
        if self.inputs.truncated:
            lines.append(
                f"  input: {self.inputs.truncated} jets had more constituents than N (kept leading N)"
            )
        return "\n".join(lines) if lines else "  no overflow"


class Emulator:
    """One model + one spec; call ``run`` on jets (float GeV) or ``run_words`` on input words."""

    def __init__(self, model: CanonicalModel, spec: FixedPointSpec) -> None:
        self.model = model
        self.spec = spec
        spec.check_index_shapes(model.n_particles, len(model.channels))
        self.coefs = hardware_coefficients(model, spec.types)
        self.tables = quantize_tables(tables_for(spec.inputs), spec.types)
        self.signs = [ch.sign for ch in model.channels]

    def quantize(self, pmu: np.ndarray | None, ptetaphi: np.ndarray | None = None) -> QuantizedInputs:
        """The input words of jets (four-momenta, or PUPPI candidates (pT, eta, phi) when given)."""
        types = [t for _, t in self.spec.input_fields]
        return quantize_jets(pmu, self.spec.inputs, types, self.model.n_constituents, ptetaphi)

    def run(
        self,
        pmu: np.ndarray | None,
        chunk: int | None = None,
        progress: bool = False,
        ptetaphi: np.ndarray | None = None,
    ) -> EmulatorResult:
        return self.run_words(self.quantize(pmu, ptetaphi), chunk, progress)

    def run_words(
        self, q: QuantizedInputs, chunk: int | None = None, progress: bool = False
    ) -> EmulatorResult:
        if q.mode != self.spec.inputs:
            raise ValueError(f"{q.mode} input words given to a {self.spec.inputs} spec")
        ops = IntOps(self.spec.types, self.coefs, self.tables, self.spec.index_bits)
        ops.overflows = dict.fromkeys(cast_stages(self.spec.inputs), 0)
        raws = []
        types = [t for _, t in self.spec.input_fields]
        chunk = chunk or batch_size(self.model.n_particles)
        starts = range(0, q.words.shape[0], chunk)
        for start in tqdm(starts, desc="emulator", unit="chunk", disable=not progress):
            block = q.words[start : start + chunk]
            fields = [Fx(block[:, :, c], t.frac, t.width) for c, t in enumerate(types)]
            out, _ = run_kernel(ops, fields, self.signs, self.model.beams, self.spec.inputs)
            raws.append(out.v)
        raw = np.concatenate(raws) if raws else np.zeros(0, dtype=np.int64)
        scores = raw.astype(np.float64) * self.spec["result"].lsb
        return EmulatorResult(raw, scores, q, ops.overflows, ops.exact_bits)


def emulate(
    model: CanonicalModel,
    pmu: np.ndarray,
    spec: FixedPointSpec | None = None,
    progress: bool = False,
    inputs: str = "cartesian",
    ptetaphi: np.ndarray | None = None,
) -> EmulatorResult:
    """Bit-accurate scores of jets ``pmu`` (float GeV, (B, n, 4)); the default spec of the input
    mode when none is given."""
    if spec is None:
        from nanotrig.fixed.analysis import DeriveOptions, default_spec

        spec = default_spec(model, DeriveOptions(inputs=inputs))
    return Emulator(model, spec).run(pmu, progress=progress, ptetaphi=ptetaphi)


def emulate_scores(
    model: CanonicalModel, pmu: np.ndarray, inputs: str = "cartesian", ptetaphi: np.ndarray | None = None
) -> np.ndarray:
    """float64 scores of the emulator with the model's default spec (``nanotrig predict --fixed``).

    Overflows, clipped inputs and truncated jets are reported as a RuntimeWarning, never silent.
    """
    res = emulate(model, pmu, inputs=inputs, ptetaphi=ptetaphi)
    if res.total_overflows or res.inputs.clipped or res.inputs.truncated or res.inputs.lost:
        warnings.warn(
            f"fixed-point emulator on {len(pmu)} jets:\n{res.overflow_report()}", RuntimeWarning, stacklevel=2
        )
    return res.scores
