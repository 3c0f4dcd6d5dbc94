"""Post-training quantization against quantization-aware training: AUC vs LUT and vs device fraction.

Reads two ``nanotrig scan`` results (``scan.json``): a PTQ scan of one float model over the
internal bits (``nanotrig scan c2 --bits ...``) and a scan of QAT models (``nanotrig scan
c2-qat-b1e-06.json,...``, each at the spec it was trained for). Each point is plotted at its Yosys
LUT count (da4ml's estimate, hollow marker, where a point was not synthesized) and at its
device fraction; the Pareto front of both sets together is drawn. PNG + JSON of the numbers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nanotrig.scan.plots import pareto_front


def _points(scan: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """One point per design point name; where scans give a point twice, the synthesized row wins
    (a Yosys scan of a few points merged with a da4ml-estimate scan of all of them)."""
    rows: dict[str, dict[str, Any]] = {}
    for r in scan["rows"]:
        if "auc" not in r:
            continue
        name = f"{r['model']}/{r['name']}"
        if name not in rows or (r.get("lut") is not None and rows[name].get("lut") is None):
            rows[name] = r
    out = []
    for r in rows.values():
        yosys = r.get("lut") is not None
        out.append(
            {
                "kind": kind,
                "name": r["name"],
                "model": r["model"],
                "bits": r.get("bits"),
                "auc": r["auc"],
                "auc_float": r["float"]["auc"],
                "rejection_30": r["rejection_30"],
                "overflows": r.get("overflow_total"),
                "lut": r["lut"] if yosys else r["da4ml_lut"],
                "lut_source": "Yosys" if yosys else "da4ml estimate",
                "ff": r.get("ff"),
                "dsp": r.get("dsp") if yosys else r.get("da4ml_products"),
                "device_fraction": r["device_fraction"],
                "device_scarcest": r.get("device_scarcest"),
                "latency_cycles": r["latency_cycles"],
                "types": r.get("types", {}),
            }
        )
    return out


def _label(p: dict[str, Any]) -> str:
    if p["kind"] == "PTQ":
        return f"{p['bits']} b" if p["bits"] else "default"
    name = p["model"]
    return name.split("-b", 1)[1] if "-b" in name else name


def plot_qat_pareto(ptq: dict[str, Any], qat: dict[str, Any], out_png: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = _points(ptq, "PTQ") + _points(qat, "QAT")
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    numbers: dict[str, Any] = {"title": title, "points": points, "fronts": {}}
    style = {"PTQ": ("o", "C0", "PTQ: range analysis, internal bits"), "QAT": ("s", "C3", "QAT (HGQ2): beta")}
    for ax, key, xlabel in (
        (axes[0], "lut", "LUT (Yosys synth_xilinx; hollow: da4ml estimate)"),
        (axes[1], "device_fraction", "device fraction of xcvu13p [%]"),
    ):
        scale = 100.0 if key == "device_fraction" else 1.0
        for kind, (marker, color, label) in style.items():
            ps = [p for p in points if p["kind"] == kind]
            for solid in (True, False):
                sel = [p for p in ps if (p["lut_source"] == "Yosys") == solid]
                if not sel:
                    continue
                ax.scatter(
                    [scale * p[key] for p in sel],
                    [p["auc"] for p in sel],
                    marker=marker,
                    facecolors=color if solid else "none",
                    edgecolors=color,
                    label=label if solid or not [p for p in ps if p["lut_source"] == "Yosys"] else None,
                    zorder=3,
                )
            for p in ps:
                ax.annotate(
                    _label(p),
                    (scale * p[key], p["auc"]),
                    textcoords="offset points",
                    xytext=(4, 3),
                    fontsize=7,
                )
        front = pareto_front([(scale * p[key], p["auc"]) for p in points])
        ax.step(*zip(*front, strict=True), where="post", color="k", lw=1, alpha=0.5, label="Pareto front")
        if points:
            ref = points[0]["auc_float"]
            ax.axhline(ref, color="k", ls="--", lw=0.8, label=f"float {ref:.5f}")
            ax.axhline(ref - 0.002, color="gray", ls=":", lw=0.8, label="float - 0.002")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("AUC (bit-accurate emulator)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
        numbers["fronts"][key] = [{key: x / scale, "auc": y} for x, y in front]
    fig.suptitle(title)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=120)
    plt.close(fig)
    out_png.with_suffix(".json").write_text(json.dumps(numbers, indent=1) + "\n")
    return out_png
