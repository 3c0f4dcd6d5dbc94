"""Resources by kernel stage: Yosys on the RTL cut into one module per stage group.

``nanotrig report MODEL --by-stage`` synthesises the same RTL with the core split into modules
(``nanotrig.rtl.hierarchy``) that Yosys keeps as they are, and counts LUT, FF, DSP, CARRY and
BRAM18 per module: the stage groups of ``nanotrig.rtl.stages.GROUP_ORDER``, plus the
``handshake`` (the wrapper's valid pipeline and port logic). Their sum is compared with the flat
synthesis (which may merge logic across stage boundaries).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nanotrig.plotting import save_figure
from nanotrig.report.yosys import count_cells, expanded_cells, run_yosys
from nanotrig.rtl.build import RtlBuild
from nanotrig.rtl.hierarchy import module_name
from nanotrig.rtl.stages import GROUP_ORDER

RESOURCES = ("lut", "ff", "dsp", "carry", "bram18")


def stage_counts(modules: dict[str, dict[str, int]], top: str, core: str) -> dict[str, dict[str, int]]:
    """{group: {lut, ff, dsp, carry, bram18}} from per-module cell counts."""
    names = {module_name(core, g): g for g in GROUP_ORDER}
    out: dict[str, dict[str, int]] = {}
    for mod in modules:
        group = names.get(mod) or ("handshake" if mod in (top, core) else None)
        if group is None:
            continue
        # a module's own cells plus those of the ROM modules it instantiates; the other stage
        # groups' modules it instantiates (the core holds them all) are counted as themselves
        own = expanded_cells(modules, mod, skip=frozenset(names) | {top, core})
        counts = count_cells(own)
        acc = out.setdefault(group, dict.fromkeys(RESOURCES, 0))
        for r in RESOURCES:
            acc[r] += counts[r]
    return {g: out[g] for g in GROUP_ORDER if g in out}


def stage_breakdown(build: RtlBuild, work: Path, force: bool = False) -> dict[str, Any]:
    """Yosys per stage group (cached under ``work`` by the build's key)."""
    from nanotrig.report.collect import YOSYS_METHOD

    cache = work / "yosys-stages.json"
    if cache.exists() and not force:
        d = json.loads(cache.read_text())
        if d.get("key") == build.key and d.get("method") == YOSYS_METHOD:
            return d
    sources = [Path(build.out_dir) / f for f in build.files["stages"]]
    res = run_yosys(sources, build.top, work / "yosys-stages")
    out = {
        "key": build.key,
        "method": YOSYS_METHOD,
        "stages": stage_counts(res.modules, build.top, "nanopelican_core"),
        "seconds": res.seconds,
    }
    cache.write_text(json.dumps(out, indent=1) + "\n")
    return out


def agreement(stages: dict[str, dict[str, int]], totals: dict[str, Any]) -> dict[str, float | None]:
    """Sum over stages / flat total, per resource."""
    out: dict[str, float | None] = {}
    for r in RESOURCES:
        flat = totals.get(r)
        s = sum(v[r] for v in stages.values())
        out[r] = None if not flat else s / flat
    return out


def plot_stages(stages: dict[str, dict[str, int]], out_png: Path, title: str) -> Path:
    """One stacked bar per resource, a segment per stage group; PNG + JSON."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(RESOURCES), figsize=(13, 4.5))
    groups = list(stages)
    colors = {g: f"C{i}" for i, g in enumerate(GROUP_ORDER)}
    for ax, r in zip(axes, RESOURCES, strict=True):
        bottom = 0.0
        for g in groups:
            v = stages[g][r]
            ax.bar([0], [v], bottom=bottom, color=colors[g], label=g, width=0.6)
            bottom += v
        ax.set_title(r.upper())
        ax.set_ylim(bottom=0, top=max(bottom, 1) * 1.02)  # an unused resource: an empty axis from 0
        ax.set_xticks([])
        ax.grid(axis="y", alpha=0.3)
    axes[-1].legend(*axes[0].get_legend_handles_labels(), fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    fig.suptitle(title)
    save_figure(fig, out_png, {"title": title, "stages": stages}, dpi=110)
    return out_png
