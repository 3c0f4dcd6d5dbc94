"""Physics validation of a jet file: jet mass, pT and multiplicity per class, and how well a plain
jet-mass cut separates top from QCD (its AUC; 0.906 on the Delphes reference dataset)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from nanotrig.data import kinematics, subjets
from nanotrig.data.io import count_jets, iter_jets
from nanotrig.metrics import auc

# histogram ranges (GeV) shared by the plots and the JSON
MASS_BINS = np.arange(0.0, 300.0 + 1e-9, 5.0)
PT_BINS = np.arange(450.0, 750.0 + 1e-9, 5.0)
MULT_BINS = np.arange(-0.5, 200.5 + 1e-9, 2.0)
MMIN_BINS = np.arange(0.0, 200.0 + 1e-9, 5.0)
TOP_MASS, W_MASS = 172.5, 80.4


@dataclass
class JetTable:
    """One row per jet: the quantities the report needs, collected chunk by chunk."""

    mass: np.ndarray
    pt: np.ndarray
    eta: np.ndarray
    nobj: np.ndarray
    is_signal: np.ndarray
    m_min: np.ndarray | None  # smallest pair mass of 3 kT subjets (the W), None without FastJet


def collect(
    path: str | Path, chunk_size: int = 8192, progress: bool = True, w_subjets: bool = True
) -> JetTable:
    n, _ = count_jets(path)
    w_subjets = w_subjets and subjets.available()
    parts: list[tuple[np.ndarray, ...]] = []
    with tqdm(total=n, unit="jet", desc="reading", disable=not progress, leave=False) as bar:
        for jets in iter_jets(path, chunk_size=chunk_size):
            p4 = kinematics.jet_p4(jets.pmu)
            m_min = subjets.min_pair_mass(jets.pmu) if w_subjets else np.empty(0)
            parts.append(
                (kinematics.mass(p4), kinematics.pt(p4), kinematics.eta(p4), jets.nobj, jets.is_signal, m_min)
            )
            bar.update(len(jets))
    cols = [np.concatenate(c) for c in zip(*parts, strict=True)]
    return JetTable(*cols[:5], m_min=cols[5] if w_subjets else None)


def peak(values: np.ndarray, lo: float, hi: float, width: float = 5.0) -> float | None:
    """Centre of the most populated ``width`` bin in [lo, hi), after a 3-bin running mean so that a
    single noisy bin does not win; None without entries."""
    counts, edges = np.histogram(values, bins=np.arange(lo, hi + 1e-9, width))
    if counts.sum() == 0:
        return None
    smooth = np.convolve(counts, np.ones(3) / 3, mode="same")
    k = int(np.argmax(smooth))
    return float(0.5 * (edges[k] + edges[k + 1]))


def auc_error(a: float, n_sig: int, n_bkg: int) -> float:
    """Statistical error of an AUC (Hanley & McNeil 1982): how far two files' AUCs may differ by chance."""
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n_sig - 1) * (q1 - a * a) + (n_bkg - 1) * (q2 - a * a)) / (n_sig * n_bkg)
    return float(np.sqrt(max(var, 0.0)))


def summarize(table: JetTable, source: str) -> dict[str, Any]:
    sig = table.is_signal == 1
    out: dict[str, Any] = {
        "file": source,
        "jets": int(table.mass.size),
        "signal_fraction": float(sig.mean()) if sig.size else 0.0,
        "mass_cut_auc": auc(sig, table.mass) if 0 < sig.sum() < sig.size else None,
    }
    if out["mass_cut_auc"] is not None:
        out["mass_cut_auc_error"] = auc_error(out["mass_cut_auc"], int(sig.sum()), int((~sig).sum()))
    for name, mask in (("signal", sig), ("background", ~sig)):
        m = table.mass[mask]
        out[name] = {
            "jets": int(mask.sum()),
            "mean_multiplicity": float(table.nobj[mask].mean()) if mask.any() else None,
            "mass_median": float(np.median(m)) if m.size else None,
            "mass_peak": peak(m, 0.0, 300.0),
            "pt_mean": float(table.pt[mask].mean()) if mask.any() else None,
            "abs_eta_max": float(np.abs(table.eta[mask]).max()) if mask.any() else None,
        }
    sig_mass = table.mass[sig]
    top_window = (sig_mass > 140) & (sig_mass < 210)
    out["signal"]["top_window_fraction"] = float(top_window.mean()) if sig.any() else None
    # the W: a jet-mass shoulder only where a b quark escapes the jet (rare when all decay quarks
    # must be inside), but always a peak in the smallest pair mass of three subjets
    w_window = (sig_mass > 65) & (sig_mass < 95)
    out["signal"]["w_window_fraction"] = float(w_window.mean()) if sig.any() else None
    if table.m_min is not None:
        for name, mask in (("signal", sig), ("background", ~sig)):
            m = table.m_min[mask]
            m = m[np.isfinite(m)]
            out[name]["subjet_mmin_median"] = float(np.median(m)) if m.size else None
            out[name]["subjet_mmin_peak"] = peak(m, 20.0, 200.0)
    out["histograms"] = {
        name: {
            "edges": bins.tolist(),
            "signal": np.histogram(values[sig], bins)[0].tolist(),
            "background": np.histogram(values[~sig], bins)[0].tolist(),
        }
        for name, values, bins in (
            ("mass", table.mass, MASS_BINS),
            ("pt", table.pt, PT_BINS),
            ("multiplicity", table.nobj, MULT_BINS),
        )
    }
    if table.m_min is not None:
        m = np.nan_to_num(table.m_min, nan=-1.0)  # jets with < 3 constituents fall below the first bin
        out["histograms"]["subjet_mmin"] = {
            "edges": MMIN_BINS.tolist(),
            "signal": np.histogram(m[sig], MMIN_BINS)[0].tolist(),
            "background": np.histogram(m[~sig], MMIN_BINS)[0].tolist(),
        }
    return out


def _fmt(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def format_table(s: dict[str, Any]) -> str:
    sig, bkg = s["signal"], s["background"]

    def row(title: str, key: str, spec: str) -> str:
        return f"{title:24}{_fmt(sig[key], spec):>10}{_fmt(bkg[key], spec):>10}"

    text = "\n".join(
        [
            f"{s['file']}: {s['jets']} jets, signal fraction {s['signal_fraction']:.3f}",
            f"{'':24}{'top':>10}{'QCD':>10}",
            row("jets", "jets", "d"),
            row("mean constituents", "mean_multiplicity", ".1f"),
            row("mass median [GeV]", "mass_median", ".1f"),
            row("mass peak [GeV]", "mass_peak", ".1f"),
            row("mean jet pT [GeV]", "pt_mean", ".1f"),
            f"top jets with mass in 140-210 GeV: {_fmt(sig['top_window_fraction'], '.3f')}, "
            f"in 65-95 GeV (W only): {_fmt(sig['w_window_fraction'], '.3f')}",
            f"jet-mass-cut AUC {_fmt(s['mass_cut_auc'], '.4f')} +- {_fmt(s.get('mass_cut_auc_error'), '.4f')}"
            " (reference dataset, Delphes: 0.906)",
        ]
    )
    if "subjet_mmin_peak" in sig:
        text += "\n" + "\n".join(
            [
                row("W: min 3-subjet pair", "subjet_mmin_peak", ".1f") + "  (peak [GeV])",
                row("     mass median [GeV]", "subjet_mmin_median", ".1f"),
            ]
        )
    return text


def plot(summary: dict[str, Any], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = {
        "mass": "jet mass [GeV]",
        "pt": "jet $p_T$ [GeV]",
        "multiplicity": "constituents",
        "subjet_mmin": "smallest pair mass of 3 kT subjets [GeV]",
    }
    written = []
    for name, h in summary["histograms"].items():
        edges = np.asarray(h["edges"])
        fig, ax = plt.subplots(figsize=(6, 4))
        for cls, colour, tag in (("signal", "tab:red", "top"), ("background", "tab:blue", "QCD")):
            counts = np.asarray(h[cls], dtype=float)
            density = counts / max(counts.sum(), 1) / np.diff(edges)
            ax.stairs(density, edges, color=colour, label=f"{tag} ({summary[cls]['jets']} jets)")
        if name in ("mass", "subjet_mmin"):
            for m, text in ((TOP_MASS, "t"), (W_MASS, "W"))[name == "subjet_mmin" :]:
                ax.axvline(m, color="grey", ls=":", lw=1)
                ax.text(m, ax.get_ylim()[1] * 0.95, f" {text}", color="grey")
            auc_text = summary["mass_cut_auc"]
            if auc_text is not None and name == "mass":
                ax.set_title(f"jet-mass-cut AUC {auc_text:.3f}")
        ax.set_xlabel(labels[name])
        ax.set_ylabel("fraction per GeV" if name != "multiplicity" else "fraction per constituent")
        ax.legend()
        fig.suptitle(Path(summary["file"]).name, fontsize=9)
        fig.tight_layout()
        path = out_dir / f"{name}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def data_report(
    path: str | Path, out_dir: str | Path | None, progress: bool = True, w_subjets: bool = True
) -> tuple[dict, list[Path]]:
    summary = summarize(collect(path, progress=progress, w_subjets=w_subjets), str(path))
    written: list[Path] = []
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = plot(summary, out)
        json_path = out / "report.json"
        json_path.write_text(json.dumps(summary, indent=1))
        written.append(json_path)
    return summary, written
