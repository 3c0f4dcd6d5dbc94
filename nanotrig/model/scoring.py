"""Scores of a canonical model over many jets, without Keras."""

from __future__ import annotations

from typing import Any

import numpy as np


def canonical_scores(model: Any, pmu: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """CanonicalModel.evaluate in chunks: at N = 80 one (jets, P, P) array of all jets is GBs."""
    parts = [model.evaluate(pmu[i : i + chunk]) for i in range(0, len(pmu), chunk)]
    return np.concatenate(parts) if parts else np.zeros(0)
