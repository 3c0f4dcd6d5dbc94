"""Sub-commands of the data stage: gen-data, make-sample, convert-data, data-report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from nanotrig.data.jets import JetFileError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data-report", help="jet mass, pT, multiplicity per class and the jet-mass-cut AUC")
    p.add_argument("file", help="jet file (converted or original pandas layout)")
    p.add_argument("--out", help="directory for the PNGs and report.json (default runs/data-report/<file>)")
    p.add_argument("--json", action="store_true", help="print the numbers as JSON instead of a table")
    p.add_argument("--no-subjets", action="store_true", help="skip the 3-subjet W mass (FastJet)")
    p.set_defaults(func=_data_report)

    p = sub.add_parser("make-sample", help="balanced sample of a jet file, leading constituents only")
    p.add_argument("src")
    p.add_argument("out")
    p.add_argument("--n", type=int, default=4000, help="jets, half signal and half background (4000)")
    p.add_argument("--keep", type=int, default=80, help="leading-pT constituents kept (80)")
    p.add_argument("--split", default="test", help="which split the jets come from, recorded (test)")
    p.set_defaults(func=_make_sample)

    p = sub.add_parser(
        "convert-data",
        help="any jet file to the converted layout, or to Level-1 PUPPI words (optionally truncated)",
    )
    p.add_argument("src")
    p.add_argument("out")
    p.add_argument("--keep", type=int, default=None, help="leading-pT constituents kept (all)")
    p.add_argument("--chunk-size", type=int, default=65536)
    p.add_argument(
        "--to",
        choices=("converted", "puppi"),
        default="converted",
        help="puppi: (pt, eta, phi) candidates quantized to the PUPPI words, clipped values counted",
    )
    p.add_argument("--input-pt", default="ap_ufixed<14,12>", help="PUPPI pT word (CMS Phase-2: 0.25 GeV)")
    p.add_argument("--input-eta", default="ap_int<12>", help="PUPPI eta word, steps of pi/720")
    p.add_argument("--input-phi", default="ap_int<11>", help="PUPPI phi word, steps of pi/720")
    p.set_defaults(func=_convert)

    from nanotrig.data.generate.commands import register as register_gen

    register_gen(sub)


def truncation_note(n_truncated: int, keep: int | None) -> str | None:
    """The line commands print when truncation dropped constituents."""
    if not n_truncated or keep is None:
        return None
    return f"kept the {keep} leading-pT constituents of {n_truncated} jets with more"


def _data_report(args: argparse.Namespace) -> int:
    from nanotrig.data.report import data_report, format_table

    out = Path(args.out) if args.out else Path("runs") / "data-report" / Path(args.file).stem
    summary, written = data_report(args.file, out, progress=not args.json, w_subjets=not args.no_subjets)
    if args.json:
        print(json.dumps({k: v for k, v in summary.items() if k != "histograms"}, indent=1))
    else:
        print(format_table(summary))
        print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _make_sample(args: argparse.Namespace) -> int:
    from nanotrig.data.io import read_attrs
    from nanotrig.data.sample import make_sample

    path = make_sample(args.src, args.out, n=args.n, keep=args.keep, split=args.split)
    note = truncation_note(int(read_attrs(path)["n_truncated"]), args.keep)
    print(f"wrote {path} ({args.n} jets, {path.stat().st_size / 1e6:.2f} MB)" + (f"; {note}" if note else ""))
    return 0


def _convert(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from nanotrig.data.io import JetWriter, count_jets, iter_jets, read_attrs

    if Path(args.src).resolve() == Path(args.out).resolve():
        raise JetFileError(f"{args.out}: output would overwrite the input")
    n, width = count_jets(args.src)
    attrs = read_attrs(args.src)  # provenance carried over
    attrs["source_file"] = Path(args.src).name
    to_puppi = args.to == "puppi"
    if to_puppi:
        from nanotrig.data.puppi import PuppiWords

        words = PuppiWords.parse(args.input_pt, args.input_eta, args.input_phi)
        attrs["puppi_words"] = words.describe()
    writer: JetWriter | None = None
    counts = {"clipped": 0, "lost": 0}
    try:
        with tqdm(total=n, unit="jet", desc="converting") as bar:
            for jets in iter_jets(args.src, chunk_size=args.chunk_size, n_constituents=args.keep):
                if to_puppi:
                    jets, clipped, lost = words.requantize(jets)
                    counts["clipped"] += clipped
                    counts["lost"] += lost
                if writer is None:
                    writer = JetWriter(
                        args.out, jets.n_constituents, jets.truth_pmu is not None, attrs, layout=args.to
                    )
                writer.append(jets)
                bar.update(len(jets))
        assert writer is not None  # iter_jets raises on a file without jets
        writer.set_attrs({"n_truncated": writer.n_truncated, "kept_constituents": args.keep or width})
        if to_puppi:
            writer.set_attrs(
                {"puppi_clipped_values": counts["clipped"], "puppi_lost_constituents": counts["lost"]}
            )
        path = writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    note = truncation_note(writer.n_truncated, args.keep)
    print(f"wrote {path} ({writer.n} jets, {writer.width} slots)" + (f"; {note}" if note else ""))
    if to_puppi:
        print(
            f"PUPPI words {words.describe()['types']}: {counts['clipped']} values clipped to the word range, "
            f"{counts['lost']} constituents with pT below half an LSB dropped"
        )
    return 0
