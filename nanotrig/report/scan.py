"""Latency and resources against the number of constituents N, as a table, JSON and PNG.

The points are those of ``nanotrig scan`` (one task each on the engine, stored under their key,
so an interrupted scan resumes); this module keeps the N-scan's row layout and plot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from nanotrig.canonical import CanonicalModel
from nanotrig.engine.cluster import ClusterSpec
from nanotrig.plotting import save_figure

DEFAULT_NS = (8, 12, 16, 20, 24, 32)
_KEYS = ("n_constituents", "latency_cycles", "latency_ns", "dsp", "lut", "ff", "carry", "yosys_seconds")
DA4ML_KEYS = ("da4ml_lut", "da4ml_products", "da4ml_reg_bits")


def da4ml_columns(rep: dict[str, Any]) -> dict[str, Any]:
    """da4ml's own numbers, which exist without synthesis: LUT-eq of adders/muxes, products
    (= DSPs), register bits."""
    d = rep["da4ml"]
    return {
        "da4ml_lut": d["cost_without_products"],
        "da4ml_products": d["products"],
        "da4ml_reg_bits": d["reg_bits"],
    }


def scan_constituents(
    model: CanonicalModel,
    ns: tuple[int, ...],
    work_dir: Path,
    clock_mhz: float = 200.0,
    yosys: bool = True,
    cluster: ClusterSpec | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """One scan point per N (default spec, hardware only), in the N-scan's row layout."""
    from nanotrig.scan.run import ScanRequest, run_scan

    named = replace(model, name=model.name or "model")
    req = ScanRequest(models=[named], out=Path(work_dir), ns=list(ns), clocks=[clock_mhz], yosys=yosys)
    rows = run_scan(req, cluster, progress, log)["rows"]
    return [{k: r.get(k) for k in (*_KEYS, *DA4ML_KEYS)} for r in rows]


def plot_scan(rows: list[dict[str, Any]], out_png: Path, title: str, period_ns: float = 5.0) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    ns = [r["n_constituents"] for r in rows]
    fig, (ax_r, ax_l) = plt.subplots(1, 2, figsize=(10, 4))
    for i, (key, est, label) in enumerate(
        (("lut", "da4ml_lut", "LUT"), ("ff", "da4ml_reg_bits", "FF"), ("dsp", "da4ml_products", "DSP48E2"))
    ):
        pts = [(n, r[key]) for n, r in zip(ns, rows, strict=True) if r.get(key) is not None]
        if pts:
            ax_r.plot(*zip(*pts, strict=True), "o-", color=f"C{i}", label=f"{label} (Yosys)")
        ax_r.plot(
            ns, [r[est] for r in rows], "x--", color=f"C{i}", alpha=0.6, label=f"{label} (da4ml estimate)"
        )
    ax_r.set_yscale("log")
    ax_r.set_xlabel("constituents N (+ 2 beams)")
    ax_r.set_ylabel("count")
    ax_r.legend(fontsize=7)
    ax_r.grid(alpha=0.3)
    ax_l.plot(ns, [r["latency_cycles"] for r in rows], "o-", color="C3")
    ax_l.set_xlabel("constituents N (+ 2 beams)")
    ax_l.set_ylabel("latency [cycles]")
    ax_l.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax_l.grid(alpha=0.3)
    sec = ax_l.secondary_yaxis("right", functions=(lambda c: c * period_ns, lambda t: t / period_ns))
    sec.set_ylabel(f"latency [ns] at {1000.0 / period_ns:g} MHz")
    fig.suptitle(title)
    save_figure(fig, out_png, {"title": title, "rows": rows})
    return out_png
