"""Command-line interface: ``dwarflib <command> ...``.

Each stage module that offers a command defines ``add_cli(subparsers)``, which adds its
sub-parser and sets ``func`` (called with the parsed arguments, returns an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from dwarflib import __version__

#: Stage modules that provide sub-commands, in the order they appear in ``--help``.
COMMAND_MODULES: tuple[str, ...] = ("simulate", "training", "catalogue", "explain",
                                     "footprint", "crossmatch", "cutouts")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dwarflib",
        description="Local dwarf galaxy search in DESI Legacy Imaging Surveys DR9 + WISE photometry.",
    )
    parser.add_argument("--version", action="version", version=f"dwarflib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"dwarflib.{name}").add_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
