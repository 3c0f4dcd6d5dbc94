"""ROC plot: background rejection 1/eps_B against signal efficiency; PNG plus a JSON of the numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nanotrig import metrics


def roc_plot(curves: dict[str, tuple[np.ndarray, np.ndarray]], png: str | Path, points: int = 200) -> Path:
    """``curves``: label -> (is_signal, scores). Writes ``png`` and ``png`` with suffix .json."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    grid = np.linspace(0.05, 1.0, points)
    numbers: dict[str, dict] = {}
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for label, (y, w) in curves.items():
        eps_b, eps_s = metrics.roc_curve(y, w)
        b = np.interp(grid, eps_s, eps_b)
        rej = np.where(b > 0, 1.0 / np.maximum(b, 1e-300), np.nan)  # no background left: off the plot
        summary = metrics.summary(y, w)
        finite = [None if not np.isfinite(r) else float(r) for r in rej]
        numbers[label] = {**summary, "eps_s": grid.tolist(), "rejection": finite}
        text = f"{label}: AUC {summary['auc']:.4f}, 1/eps_B@30% {summary['rejection_30']:.0f}"
        ax.plot(grid, rej, label=text)
    ax.set_yscale("log")
    ax.set_xlabel("signal efficiency eps_S")
    ax.set_ylabel("background rejection 1/eps_B")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)
    png.with_suffix(".json").write_text(json.dumps(numbers, indent=1, default=float) + "\n")
    return png
