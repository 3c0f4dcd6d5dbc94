"""The scan's plots: AUC and 1/eps_B against the device fraction with the Pareto front, and
latency against N. Each PNG has the numbers it shows next to it as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nanotrig.plotting import save_figure


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
    save_figure(fig, out_png, numbers)
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
    save_figure(fig, out_png, numbers)
    return out_png


def best_within(rows: list[dict[str, Any]], budget: float) -> dict[str, Any] | None:
    """The point with the largest 1/eps_B@30 % among those that take one jet per 25 ns and use at
    most ``budget`` of the device (None if none does)."""
    fit = [r for r in rows if r.get("sustains_25ns") and r["device_fraction"] <= budget]
    # ties (the same model at several R: the same integers) go to the smaller device fraction
    return max(fit, key=lambda r: (r["rejection_30"], -r["device_fraction"])) if fit else None


def _map_label(r: dict[str, Any]) -> str:
    return f"{r['model']} R={r['ii']} {r['clock_mhz']:g} MHz"


def plot_map(scan: dict[str, Any], out_png: Path, title: str) -> Path | None:
    """The physics-versus-FPGA map: 1/eps_B@30 % vs device fraction of the points that take one
    jet per bunch crossing (25 ns), one marker per clock, the Pareto front, and the best point
    within 5 % and within 10 % of the device named (None when the scan has no physics)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [
        r
        for r in scan["rows"]
        if "rejection_30" in r and r.get("device_fraction") is not None and r.get("sustains_25ns")
    ]
    if not rows:
        return None
    source = ", ".join(sorted({r["device_source"] for r in rows}))
    fig, ax = plt.subplots(figsize=(8, 5))
    markers = {200.0: "o", 360.0: "s"}
    for i, (model, rs) in enumerate(_series(rows).items()):
        for clock in sorted({r["clock_mhz"] for r in rs}):
            sel = [r for r in rs if r["clock_mhz"] == clock]
            ax.scatter(
                [100 * r["device_fraction"] for r in sel],
                [r["rejection_30"] for r in sel],
                color=f"C{i}",
                marker=markers.get(clock, "^"),
                label=f"{model}, {clock:g} MHz",
                zorder=3,
            )
            for r in sel:
                ax.annotate(
                    f"R={r['ii']}", (100 * r["device_fraction"], r["rejection_30"]), xytext=(3, 2),
                    textcoords="offset points", fontsize=7,
                )  # fmt: skip
    front = pareto_front([(100 * r["device_fraction"], r["rejection_30"]) for r in rows])
    ax.step(*zip(*front, strict=True), where="post", color="k", lw=1, alpha=0.6, label="Pareto front")
    best = {}
    for budget in (0.05, 0.10):
        b = best_within(rows, budget)
        best[f"{budget:.2f}"] = None if b is None else {
            "name": b["name"], "label": _map_label(b), "device_fraction": b["device_fraction"],
            "rejection_30": b["rejection_30"], "auc": b["auc"], "latency_ns": b["latency_ns"],
        }  # fmt: skip
        ax.axvline(100 * budget, color="grey", ls=":", lw=1)
        if b is not None:
            ax.annotate(
                f"best <= {100 * budget:.0f} %: {_map_label(b)}",
                (100 * b["device_fraction"], b["rejection_30"]), xytext=(10, -14 if budget < 0.1 else 10),
                textcoords="offset points", fontsize=8, arrowprops={"arrowstyle": "->", "lw": 0.6},
            )  # fmt: skip
    ax.set_xlabel(f"device fraction of {rows[0]['part']} [%] ({source})")
    ax.set_ylabel("1/eps_B @ 30 % signal efficiency (firmware)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(title + "\none jet per 25 ns only", fontsize=9)
    numbers = {
        "title": title,
        "device_source": source,
        "part": rows[0]["part"],
        "best_within": best,
        "front": [{"device_fraction_percent": x, "rejection_30": y} for x, y in front],
        "points": [
            {
                k: r.get(k)
                for k in (
                    "name",
                    "model",
                    "n_constituents",
                    "inputs",
                    "ii",
                    "clock_mhz",
                    "latency_ns",
                    "device_fraction",
                    "device_scarcest",
                    "dsp",
                    "lut",
                    "ff",
                    "auc",
                    "rejection_30",
                )
            }
            | {"float": r.get("float")}
            for r in rows
        ],  # fmt: skip
    }
    save_figure(fig, out_png, numbers)
    return out_png


def plot_vs_n(scan: dict[str, Any], out_png: Path, title: str) -> Path | None:
    """AUC and 1/eps_B@30 % against N, float and firmware side by side (one point per model and
    N: the physics does not depend on R or the clock)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seen: dict[tuple[str, int], dict[str, Any]] = {}
    for r in scan["rows"]:
        if "auc" in r:
            seen.setdefault((r["model"], r["n_constituents"]), r)
    if len(seen) < 2:
        return None
    rows = sorted(seen.values(), key=lambda r: r["n_constituents"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    numbers: dict[str, Any] = {"title": title, "points": []}
    for ax, key, ylabel in ((axes[0], "auc", "AUC"), (axes[1], "rejection_30", "1/eps_B @ 30 % eff.")):
        ns = [r["n_constituents"] for r in rows]
        ax.plot(ns, [r["float"][key] for r in rows], "o-", label="float")
        ax.plot(ns, [r[key] for r in rows], "s--", label="firmware (bit-accurate emulator)")
        for r in rows:
            at = (r["n_constituents"], r[key])
            ax.annotate(r["model"], at, xytext=(3, -10), textcoords="offset points", fontsize=7)
        ax.set_xlabel("constituents N")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    numbers["points"] = [
        {
            "model": r["model"], "n_constituents": r["n_constituents"], "inputs": r["inputs"],
            "jets": r["jets"], "auc": r["auc"], "rejection_30": r["rejection_30"], "float": r["float"],
        }
        for r in rows
    ]  # fmt: skip
    fig.suptitle(title, fontsize=9)
    save_figure(fig, out_png, numbers)
    return out_png
