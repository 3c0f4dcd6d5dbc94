"""The small sample shipped inside the package, and the function that makes it reproducibly."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nanotrig.data.io import read_attrs, read_jets, write_jets
from nanotrig.data.jets import JetFileError

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
SAMPLE_NAME = "test-4000.h5"


def sample_path() -> Path:
    """The shipped 4,000-jet test sample (2,000 top, 2,000 QCD, 80 leading constituents)."""
    path = SAMPLE_DIR / SAMPLE_NAME
    if not path.exists():
        raise JetFileError(f"{path}: the shipped sample is missing from this installation")
    return path


def make_sample(src: str | Path, out: str | Path, n: int = 4000, keep: int = 80, split: str = "test") -> Path:
    """The first n/2 signal and the first n/2 background jets of ``src``, in file order, with the
    ``keep`` leading-pT constituents. Provenance goes into the attributes."""
    if n < 2 or n % 2:
        raise JetFileError(f"--n must be an even number of jets >= 2, got {n}")
    jets = read_jets(src, n_constituents=keep)
    per_class = n // 2
    picked = []
    for label in (1, 0):
        rows = np.flatnonzero(jets.is_signal == label)
        if rows.size < per_class:
            raise JetFileError(
                f"{src}: field 'is_signal' has only {rows.size} jets with value {label}, need {per_class}"
            )
        picked.append(rows[:per_class])
    sample = jets.subset(np.sort(np.concatenate(picked)))
    attrs = read_attrs(src)  # generator settings and provenance carried over as they are
    attrs.update(
        {
            "source_file": Path(src).name,
            "split": split,
            "kept_constituents": keep,
            "n_truncated": sample.n_truncated,
            "selection": f"first {per_class} signal and first {per_class} background jets in file order",
        }
    )
    return write_jets(out, sample, attrs=attrs)
