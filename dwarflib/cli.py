"""Command-line interface: ``dwarflib <command> ...``.

Each stage module that offers a command defines ``add_cli(subparsers)``, which adds its
sub-parser and sets ``func`` (called with the parsed arguments, returns an exit code).
Numeric options use the argparse types of :mod:`dwarflib.options`, so a bad
value is a one-line usage error (exit 2).

Errors of the environment end a command with one line on stderr, not a traceback (set the
environment variable ``DWARFLIB_DEBUG`` to get the traceback too):

* dwarflib's own errors (bad catalogue file, bad model folder, missing data): exit 1;
* ``OSError`` (e.g. a read-only or full output folder): exit 1, naming the path;
* Ctrl-C (``KeyboardInterrupt``): exit 130, as shells report SIGINT; the commands' own clean-up
  (temporary outputs removed) has run by then;
* stdout closed by the reader (``dwarflib classify ... | head``): stdout is written only once the
  work is done (the report), so, as Unix tools do, nothing more is written and the exit status is 0.
"""

from __future__ import annotations

import argparse
import os
import select
import sys
import traceback

from dwarflib import __version__, catalogue, crossmatch, cutouts, explain, footprint, training
from dwarflib.pipeline import ModelError
from dwarflib.registry import DataIntegrityError, DataUnavailableError
from dwarflib.sky import generate
from dwarflib.survey_io import CatalogueError

#: Stage modules that provide sub-commands, in the order they appear in ``--help``.
COMMAND_MODULES = (generate, training, catalogue, explain, footprint, crossmatch, cutouts)


#: dwarflib's error classes that end a command with a one-line message.
OWN_ERRORS: tuple[type[BaseException], ...] = (CatalogueError, ModelError, DataIntegrityError, DataUnavailableError)


def _error(prog: str, message: str) -> None:
    print(f"{prog}: error: {message}", file=sys.stderr)
    if os.environ.get("DWARFLIB_DEBUG"):
        traceback.print_exc()


def _os_error_text(exc: OSError) -> str:
    """``OSError`` as one line naming the path(s): ``<path>: <reason>``."""
    reason = exc.strerror or str(exc)
    paths = [p for p in (exc.filename, exc.filename2) if p is not None]
    return f"{' -> '.join(map(str, paths))}: {reason}" if paths else reason


def _stdout_broken() -> bool:
    """Whether stdout is a pipe whose reader has gone (poll reports POLLERR on its write end)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    if not hasattr(select, "poll"):  # pragma: no cover - not on Linux/macOS: assume it was stdout
        return True
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(ev & select.POLLERR for _, ev in poller.poll(0))


def _forget_caught_interrupt() -> None:
    """Make CPython treat the KeyboardInterrupt that :func:`main` caught as caught.

    CPython (3.11-3.13, ``run_eval_code_obj``) remembers a KeyboardInterrupt that ended code evaluated
    from a *string* (``exec``/``eval`` of source text, as ``dataclasses`` and ``collections.namedtuple``
    do while classes are built during an import) even when a caller catches it; under ``python -m``
    ``Py_RunMain`` then ends the process with SIGINT (status -2 to a parent) instead of exit 130. Every
    string evaluation resets that flag before it runs, so one that ends normally clears it.
    """
    exec("None")  # noqa: S102 - the constant source text is the point: see the docstring


def _stdout_gone() -> None:
    """stdout's reader has gone: point fd 1 at /dev/null so that the final flush cannot fail again."""
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), sys.stdout.fileno())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dwarflib",
        description="Local dwarf galaxy search in DESI Legacy Imaging Surveys DR9 + WISE photometry.",
    )
    parser.add_argument("--version", action="version", version=f"dwarflib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.add_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    prog = f"dwarflib {args.command}"
    try:
        rc = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed stdout shows up here, not in the interpreter's exit
        return rc
    except BrokenPipeError as exc:
        if not _stdout_broken():
            _error(prog, _os_error_text(exc))  # another pipe (e.g. a Dask connection) broke
            return 1
        _stdout_gone()
        return 0
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        _forget_caught_interrupt()
        return 130
    except OWN_ERRORS as exc:
        _error(prog, str(exc))
        return 1
    except OSError as exc:
        _error(prog, _os_error_text(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())
