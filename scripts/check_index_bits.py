"""Does the per-index integer bits change any score? For every shipped model and both input modes,
the emulator with the default spec against the same spec without per-index bits on a jet file:
differing score words and the overflows each one counts (docs/rtl.md, "Per-index integer bits").

    python scripts/check_index_bits.py JETS.h5 [--models c2,c3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from nanotrig.data import read_jets
from nanotrig.fixed.analysis import DeriveOptions, default_spec
from nanotrig.fixed.emulator import Emulator
from nanotrig.models import resolve_model, shipped_models


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("jets", help="jet file (either reference layout)")
    p.add_argument("--models", default=",".join(shipped_models()))
    p.add_argument("--json", default=None, help="also write the rows here")
    args = p.parse_args()
    rows = []
    for name in args.models.split(","):
        model = resolve_model(name)
        jets = read_jets(args.jets, n_constituents=model.n_constituents, check_masses=False)
        for mode in ("cartesian", "puppi"):
            spec = default_spec(model, DeriveOptions(inputs=mode))
            ptetaphi = jets.ptetaphi if mode == "puppi" else None
            narrow = Emulator(model, spec).run(jets.pmu, ptetaphi=ptetaphi)
            uniform = Emulator(model, spec.uniform()).run(jets.pmu, ptetaphi=ptetaphi)
            row = {
                "model": name,
                "inputs": mode,
                "jets": len(narrow.raw),
                "index_bits_saved": int(sum((spec[s].integer - b).sum() for s, b in spec.index_bits.items())),
                "differing_scores": int(np.sum(narrow.raw != uniform.raw)),
                "overflows": {s: n for s, n in narrow.overflows.items() if n},
                "overflows_uniform": {s: n for s, n in uniform.overflows.items() if n},
            }
            rows.append(row)
            print(
                f"{name:8s} {mode:9s} {row['jets']} jets, {row['index_bits_saved']:6d} integer bits fewer: "
                f"{row['differing_scores']} scores differ; overflows {row['overflows']} "
                f"(uniform {row['overflows_uniform']})",
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
