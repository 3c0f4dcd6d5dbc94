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


WORKING_POINTS = (0.3, 0.5, 0.7)  # signal efficiencies of the trigger decisions compared


def threshold_at(labels: np.ndarray, scores: np.ndarray, signal_efficiency: float) -> float:
    """The score threshold (tag iff score >= threshold) whose signal efficiency is nearest the
    target; on a discrete score grid (firmware words) ties move together, so the efficiency
    reached can differ slightly from the target."""
    sig = np.sort(np.asarray(scores, dtype=np.float64)[np.asarray(labels).astype(bool)])[::-1]
    if sig.size == 0:
        raise ValueError("no signal jets: no threshold for a signal efficiency")
    values, first = np.unique(-sig, return_index=True)  # distinct scores, highest first
    passing = np.r_[first[1:], sig.size]  # signal jets with score >= each distinct value
    k = int(np.argmin(np.abs(passing / sig.size - signal_efficiency)))
    return float(-values[k])


def decision_flips(
    labels: np.ndarray,
    float_scores: np.ndarray,
    fixed_scores: np.ndarray,
    working_points: tuple[float, ...] = WORKING_POINTS,
) -> dict[float, dict[str, float]]:
    """For each signal efficiency: the fraction of jets whose top / not-top decision differs
    between the float model and the firmware when each is cut at its own threshold for that
    efficiency, with both thresholds and the efficiencies they reach."""
    labels = np.asarray(labels).astype(bool)
    out = {}
    for eff in working_points:
        tf = threshold_at(labels, float_scores, eff)
        tq = threshold_at(labels, fixed_scores, eff)
        a, b = np.asarray(float_scores) >= tf, np.asarray(fixed_scores) >= tq
        out[eff] = {
            "flips": float(np.mean(a != b)),
            "threshold_float": tf,
            "threshold_fixed": tq,
            "efficiency_float": float(a[labels].mean()),
            "efficiency_fixed": float(b[labels].mean()),
        }
    return out
