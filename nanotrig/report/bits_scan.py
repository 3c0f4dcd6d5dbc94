"""Physics against hardware as the internal precision narrows: AUC vs bits vs resources.

One knob, the number of significant bits every internal stage keeps below its largest value
(``DeriveOptions.pair_bits = diag_bits = sum_bits``, see ``nanotrig.fixed.analysis``); the input
word, the weights and the result keep their defaults, so the scan isolates what the adders cost.
Per width: the emulator's accuracy / AUC / 1/eps_B@30 % and overflow count on the given jets,
the RTL's latency and da4ml's cost estimate, and Yosys counts when asked (minutes per point).
Each width is one point of ``nanotrig scan`` (a task on the engine, its result stored under its
key, its RTL and Yosys result cached in its own folder), so an interrupted scan resumes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from nanotrig.canonical import CanonicalModel
from nanotrig.engine.cluster import ClusterSpec
from nanotrig.fixed.analysis import DeriveOptions, default_spec
from nanotrig.fixed.spec import FixedPointSpec
from nanotrig.plotting import save_figure
from nanotrig.report.scan import DA4ML_KEYS

DEFAULT_BITS = (8, 10, 12, 15, 18)


def spec_for_bits(model: CanonicalModel, bits: int, inputs: str = "cartesian") -> FixedPointSpec:
    """The default spec with ``bits`` internal significant bits (quoted at N = 20, see analysis)."""
    base = DeriveOptions(inputs=inputs)
    return default_spec(model, replace(base, pair_bits=bits, diag_bits=bits, sum_bits=bits))


def scan_bits(
    model: CanonicalModel,
    bits: tuple[int, ...],
    data: Path,
    work_dir: Path,
    clock_mhz: float = 200.0,
    yosys: bool = False,
    cluster: ClusterSpec | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """One scan point per width (``nanotrig scan``, one task each), physics on ``data``; the
    float reference is the same model on the same jets, so every point carries the same one."""
    from nanotrig.scan.run import ScanRequest, run_scan

    named = replace(model, name=model.name or "model")
    req = ScanRequest(
        models=[named], out=Path(work_dir), bits=list(bits), clocks=[clock_mhz], data=Path(data), yosys=yosys
    )
    points = run_scan(req, cluster, progress, log)["rows"]
    rows = [
        {
            "bits": r["bits"],
            "accuracy": r["accuracy"],
            "auc": r["auc"],
            "rejection_30": r["rejection_30"],
            "overflows": r["overflow_total"],
            "types": {s: r["types"][s] for s in ("d", "z", "y", "A", "D")},
            "latency_cycles": r["latency_cycles"],
            "dsp": r["dsp"],
            "lut": r["lut"],
            "ff": r["ff"],
            **{k: r[k] for k in DA4ML_KEYS},
            "device_fraction": r["device_fraction"],
        }
        for r in points
    ]
    first = points[0]
    return {
        "jets": first["jets"],
        "jets_truncated": first["jets_truncated"],
        "float": first["float"],
        "rows": rows,
    }


def plot_bits_scan(scan: dict[str, Any], out_png: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, ref = scan["rows"], scan["float"]
    bits = [r["bits"] for r in rows]
    lut_est = [r["da4ml_lut"] for r in rows]
    fig, (ax_a, ax_r, ax_t) = plt.subplots(1, 3, figsize=(14, 4))
    ax_a.plot(bits, [r["auc"] for r in rows], "o-", label="fixed point (emulator)")
    ax_a.axhline(ref["auc"], color="k", ls="--", lw=1, label=f"float {ref['auc']:.4f}")
    ax_a.set_xlabel("internal significant bits")
    ax_a.set_ylabel(f"AUC ({scan['jets']:,} jets)")
    ax_a.legend(fontsize=8)
    ax_a.grid(alpha=0.3)

    ax_r.plot(bits, lut_est, "x--", color="C1", label="LUT-eq (da4ml estimate)")
    yosys_pts = [(r["bits"], r["lut"]) for r in rows if r.get("lut") is not None]
    if yosys_pts:
        ax_r.plot(*zip(*yosys_pts, strict=True), "o-", color="C1", label="LUT (Yosys)")
    ax_r.plot(bits, [r["da4ml_reg_bits"] for r in rows], "x--", color="C2", label="register bits (da4ml)")
    ax_r.set_xlabel("internal significant bits")
    ax_r.set_ylabel("count")
    ax_r.legend(fontsize=8)
    ax_r.grid(alpha=0.3)

    ax_t.plot(lut_est, [r["auc"] for r in rows], "o-")
    for r, x in zip(rows, lut_est, strict=True):
        ax_t.annotate(
            f"{r['bits']} b", (x, r["auc"]), textcoords="offset points", xytext=(4, -10), fontsize=8
        )
    ax_t.axhline(ref["auc"], color="k", ls="--", lw=1)
    ax_t.set_xlabel("LUT-eq (da4ml estimate)")
    ax_t.set_ylabel("AUC")
    ax_t.grid(alpha=0.3)
    fig.suptitle(title)
    save_figure(fig, out_png, {"title": title, **scan})
    return out_png
