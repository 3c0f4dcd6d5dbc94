"""Classifier metrics the trigger study quotes: accuracy, AUC, background rejection 1/eps_B."""

from __future__ import annotations

from typing import Any

import numpy as np


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(eps_B, eps_S) at every distinct threshold, from the highest score down; ties kept together."""
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    last_of_tie = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]
    tp = np.cumsum(y)[last_of_tie]
    fp = np.cumsum(~y)[last_of_tie]
    n_sig, n_bkg = max(int(y.sum()), 1), max(int((~y).sum()), 1)
    return np.r_[0.0, fp / n_bkg], np.r_[0.0, tp / n_sig]


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    eps_b, eps_s = roc_curve(labels, scores)
    return float(np.trapezoid(eps_s, eps_b))


def rejection_at(labels: np.ndarray, scores: np.ndarray, signal_efficiency: float) -> float:
    """1/eps_B at the given signal efficiency, eps_B interpolated along the ROC curve."""
    eps_b, eps_s = roc_curve(labels, scores)
    b = float(np.interp(signal_efficiency, eps_s, eps_b))
    return float("inf") if b <= 0 else 1.0 / b


def accuracy(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.0) -> float:
    """Fraction of jets classified right when tagging top iff score > threshold."""
    return float(np.mean((np.asarray(scores) > threshold) == np.asarray(labels).astype(bool)))


def summary(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.0) -> dict[str, Any]:
    return {
        "jets": int(np.size(labels)),
        "accuracy": accuracy(labels, scores, threshold),
        "auc": auc(labels, scores),
        "rejection_30": rejection_at(labels, scores, 0.3),
        "rejection_50": rejection_at(labels, scores, 0.5),
    }
