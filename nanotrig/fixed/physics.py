"""Float model vs firmware on labelled jets: what a trigger study quotes, side by side.

The float model sees the jets as the firmware does before quantization: the four-momenta as
they are (Cartesian inputs), or the massless jets rebuilt from the unquantized (pT, eta, phi)
(PUPPI inputs). Besides accuracy, AUC and 1/eps_B at 30 % signal efficiency, the trigger
decisions are compared: ``decision_flips`` is the fraction of jets whose top / not-top decision
differs when float and firmware are each cut at their own threshold for the same signal
efficiency (30 %; 50 and 70 % in ``decision_flips_by_eff``), and each working point's firmware
threshold is given as the score word a trigger menu would load.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nanotrig import metrics
from nanotrig.data.kinematics import massless_pmu, pt_eta_phi
from nanotrig.fixed.spec import FixedPointSpec


def float_view(pmu: np.ndarray, mode: str, ptetaphi: np.ndarray | None = None) -> np.ndarray:
    """The jets the float reference scores for an input mode (see the module docstring)."""
    if mode == "cartesian":
        return pmu
    return massless_pmu(ptetaphi if ptetaphi is not None else pt_eta_phi(pmu))


def float_scores(model: Any, pmu: np.ndarray, mode: str, ptetaphi: np.ndarray | None = None) -> np.ndarray:
    from nanotrig.model.scoring import canonical_scores

    return canonical_scores(model, float_view(pmu, mode, ptetaphi))


def compare(
    labels: np.ndarray, w_float: np.ndarray, w_fixed: np.ndarray, spec: FixedPointSpec
) -> dict[str, Any]:
    """Float vs fixed metrics and trigger decisions (JSON-ready)."""
    f, q = metrics.summary(labels, w_float), metrics.summary(labels, w_fixed)
    lsb = spec["result"].lsb
    flips = metrics.decision_flips(labels, w_float, w_fixed)
    by_eff = {}
    for eff, row in flips.items():
        word = int(math.floor(row["threshold_fixed"] / lsb + 0.5))  # scores are on the word grid
        by_eff[f"{eff:.2f}"] = {**row, "threshold_word": word}
    return {
        "accuracy_float": f["accuracy"],
        "accuracy_fixed": q["accuracy"],
        "auc_float": f["auc"],
        "auc_fixed": q["auc"],
        "rejection30_float": f["rejection_30"],
        "rejection30_fixed": q["rejection_30"],
        "decision_flips": by_eff["0.30"]["flips"],
        "decision_flips_by_eff": by_eff,
    }


def format_decisions(r: dict[str, Any], result_type: str) -> list[str]:
    """Lines: per working point, the flips and the firmware's threshold word."""
    lines = [f"trigger decisions, float vs fixed (each at its own threshold; score word {result_type}):"]
    for eff, row in r["decision_flips_by_eff"].items():
        lines.append(
            f"  eps_S {float(eff):.0%}: {row['flips']:.2%} of jets decided differently; threshold "
            f"float {row['threshold_float']:.5g}, fixed {row['threshold_fixed']:.5g} "
            f"(tag iff score word >= {row['threshold_word']})"
        )
    return lines
