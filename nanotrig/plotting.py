"""How every nanotrig plot is saved: the PNG and, next to it, the numbers behind it as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def save_figure(fig: Any, out_png: Path, numbers: Any, dpi: int = 120) -> Path:
    """Lay out ``fig``, write it to ``out_png`` and ``numbers`` to the same name with .json."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=dpi)
    plt.close(fig)
    out_png.with_suffix(".json").write_text(json.dumps(numbers, indent=1) + "\n")
    return out_png
