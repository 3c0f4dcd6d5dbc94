"""The scan's plots: AUC and 1/eps_B against the device fraction with the Pareto front, and
latency against N. Each PNG has the numbers it shows next to it as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats on both axes (smaller x, larger y), by increasing x."""
    front: list[tuple[float, float]] = []
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or y > front[-1][1]:
            front.append((x, y))
    return front


def _label(r: dict[str, Any]) -> str:
    bits = f"{r['bits']} b" if r["bits"] else "default"
    return f"N={r['n_constituents']}, {bits}"


def _series(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["model"], []).append(r)
    return out


def plot_pareto(scan: dict[str, Any], out_png: Path, title: str) -> Path | None:
    """AUC and 1/eps_B@30 % vs device fraction (None when the scan has no physics)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in scan["rows"] if "auc" in r and r.get("device_fraction") is not None]
    if not rows:
        return None
    source = ", ".join(sorted({r["device_source"] for r in rows}))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    numbers: dict[str, Any] = {"title": title, "device_source": source, "panels": {}}
    for ax, key, ylabel in ((axes[0], "auc", "AUC"), (axes[1], "rejection_30", "1/eps_B @ 30 % eff.")):
        for i, (model, rs) in enumerate(_series(rows).items()):
            xs, ys = [100 * r["device_fraction"] for r in rs], [r[key] for r in rs]
            ax.scatter(xs, ys, color=f"C{i}", label=model, zorder=3)
            for r, x, y in zip(rs, xs, ys, strict=True):
                ax.annotate(_label(r), (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7)
        front = pareto_front([(100 * r["device_fraction"], r[key]) for r in rows])
        ax.step(*zip(*front, strict=True), where="post", color="k", lw=1, alpha=0.6, label="Pareto front")
        ax.set_xlabel(f"device fraction of {rows[0]['part']} [%] ({source})")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        numbers["panels"][key] = {
            "points": [
                {"name": r["name"], "device_fraction": r["device_fraction"], key: r[key]} for r in rows
            ],
            "front": [{"device_fraction_percent": x, key: y} for x, y in front],
        }
    fig.suptitle(title)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=120)
    plt.close(fig)
    out_png.with_suffix(".json").write_text(json.dumps(numbers, indent=1) + "\n")
    return out_png


def plot_latency(scan: dict[str, Any], out_png: Path, title: str) -> Path:
    """Latency in cycles (and ns) against N, one line per model, bits and clock."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    lines: dict[str, list[dict[str, Any]]] = {}
    for r in scan["rows"]:
        bits = f"{r['bits']} b" if r["bits"] else "default bits"
        key = f"{r['model']}, {bits}, {r['clock_mhz']:g} MHz, {r['inputs']}, R={r['reuse']}"
        lines.setdefault(key, []).append(r)
    fig, (ax_c, ax_t) = plt.subplots(1, 2, figsize=(12, 4.5))
    numbers: dict[str, Any] = {"title": title, "lines": {}}
    for i, (key, rs) in enumerate(lines.items()):
        rs = sorted(rs, key=lambda r: r["n_constituents"])
        ns = [r["n_constituents"] for r in rs]
        ax_c.plot(ns, [r["latency_cycles"] for r in rs], "o-", color=f"C{i}", label=key)
        ax_t.plot(ns, [r["latency_ns"] for r in rs], "o-", color=f"C{i}", label=key)
        numbers["lines"][key] = [
            {"n_constituents": r["n_constituents"], "latency_cycles": r["latency_cycles"],
             "latency_ns": r["latency_ns"]}
            for r in rs
        ]  # fmt: skip
    for ax, ylabel in ((ax_c, "latency [cycles]"), (ax_t, "latency [ns]")):
        ax.set_xlabel("constituents N (+ 2 beams)")
        ax.set_ylabel(ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    ax_c.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax_c.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=120)
    plt.close(fig)
    out_png.with_suffix(".json").write_text(json.dumps(numbers, indent=1) + "\n")
    return out_png
