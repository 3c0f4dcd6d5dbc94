"""`make bench`: runs every bench/bench_*.py module's ``run()`` and prints one table each.

Each module returns ``(title, header, rows)``; ratios are computed inside a module against a
baseline measured in the same run, never against numbers from another machine or day.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def _print_table(title: str, header: list[str], rows: list[list[object]]) -> None:
    cells = [[str(c) for c in header]] + [
        [f"{c:.4g}" if isinstance(c, float) else str(c) for c in r] for r in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n== {title} ==")
    for k, r in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))
        if k == 0:
            print("  ".join("-" * w for w in widths))


def main(argv: list[str]) -> int:
    only = set(argv)
    OUT.mkdir(exist_ok=True)
    names = sorted(
        m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_")
    )
    for name in names:
        if only and name not in only and name.removeprefix("bench_") not in only:
            continue
        title, header, rows = importlib.import_module(f"bench.{name}").run()
        _print_table(title, header, rows)
        (OUT / f"{name}.json").write_text(
            json.dumps({"title": title, "header": header, "rows": rows}, indent=1)
        )
    print(f"\n(JSON in {OUT})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
