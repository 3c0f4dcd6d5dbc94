"""The ``nanotrig`` command. Each pipeline stage registers its own sub-commands."""

from __future__ import annotations

import argparse
import importlib
import sys

from nanotrig.errors import NanotrigError

# One module per stage; each defines ``register(subparsers)`` adding its sub-commands, whose
# handlers return an exit code. Imported lazily so `nanotrig --help` stays fast.
STAGE_COMMANDS = (
    "nanotrig.data.commands",
    "nanotrig.model.commands",
    "nanotrig.fold_commands",  # fold, info
    "nanotrig.hls.commands",
    "nanotrig.rtl.commands",
    "nanotrig.report.commands",
    "nanotrig.scan.commands",
    "nanotrig.verify.commands",
    "nanotrig.qat.commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nanotrig",
        description="nanoPELICAN top tagger to Level-1 trigger firmware.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in STAGE_COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (NanotrigError, ValueError, FileNotFoundError) as exc:  # bad input: one line, no traceback
        print(f"nanotrig {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
