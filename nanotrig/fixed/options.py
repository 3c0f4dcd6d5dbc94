"""The command-line options that choose a FixedPointSpec, shared by every firmware command
(hls, csim, rtl, rtlsim, report, predict --fixed): one place, so that each command derives the
same spec from the same flags."""

from __future__ import annotations

import argparse
from typing import Any

from nanotrig.errors import NanotrigError
from nanotrig.fixed.kernel import INPUT_MODES
from nanotrig.fixed.spec import TABLE_IMPLEMENTATIONS


def add_spec_arguments(p: argparse.ArgumentParser, input_words: bool = True) -> None:
    p.add_argument(
        "--inputs",
        choices=INPUT_MODES,
        default="cartesian",
        help="firmware inputs: cartesian (E, px, py, pz words) or puppi (Level-1 pT, eta, phi words)",
    )
    p.add_argument("--precision", help="YAML precision overrides {stage: 'ap_fixed<W,I>'} (hls4ml style)")
    if input_words:
        p.add_argument("--input-bits", type=int, default=18, help="Cartesian input word width (default 18)")
        p.add_argument(
            "--input-lsb",
            type=float,
            default=1 / 32,
            help="Cartesian input LSB in GeV, a power of two (1/32)",
        )
        p.add_argument("--weight-bits", type=int, default=10, help="width of every coefficient (default 10)")
    p.add_argument(
        "--input-pt", default="ap_ufixed<14,12>", help="PUPPI pT word (default CMS Phase-2, 0.25 GeV)"
    )
    p.add_argument("--input-eta", default="ap_int<12>", help="PUPPI eta word in steps of pi/720 (ap_int<12>)")
    p.add_argument("--input-phi", default="ap_int<11>", help="PUPPI phi word in steps of pi/720 (ap_int<11>)")
    p.add_argument(
        "--no-index-bits",
        action="store_true",
        help="one type per stage: no per-index integer bits for d, r, u, v, y, z (docs/rtl.md)",
    )
    p.add_argument(
        "--pair-table",
        choices=TABLE_IMPLEMENTATIONS,
        default=None,
        help="PUPPI pair ROMs (default bram; bram_deta: only cosh-1 in BRAM)",
    )
    p.add_argument(
        "--beam-table",
        choices=TABLE_IMPLEMENTATIONS,
        default=None,
        help="PUPPI beam ROMs in LUTs or BRAM (default lut)",
    )


def derive_options(args: argparse.Namespace) -> Any:
    from nanotrig.fixed.analysis import DeriveOptions

    kw: dict[str, Any] = {"inputs": args.inputs}
    for flag in ("input_bits", "weight_bits"):
        if hasattr(args, flag):
            value = getattr(args, flag)
            if not 2 <= value <= 28:
                raise NanotrigError(f"--{flag.replace('_', '-')} must be in 2..28, got {value}")
            kw[flag] = value
    if hasattr(args, "input_lsb"):
        kw["input_lsb"] = args.input_lsb
    for field in ("input_pt", "input_eta", "input_phi"):
        kw[field] = getattr(args, field)
    kw["index_bits"] = not getattr(args, "no_index_bits", False)
    return DeriveOptions(**kw)


def spec_from_args(model: Any, args: argparse.Namespace) -> Any:
    """The model's default spec for the flags, with the YAML overrides and ROM choices applied
    (uniform types for a ``--reuse-factor`` above 1: ``FixedPointSpec.for_reuse``)."""
    from nanotrig.fixed.analysis import default_spec

    spec = default_spec(model, derive_options(args)).with_overrides(args.precision)
    spec = spec.with_implementation(pair_table=args.pair_table, beam_table=args.beam_table)
    return spec.for_reuse(getattr(args, "reuse_factor", 1) or 1)
