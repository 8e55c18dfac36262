"""Where things live: repository root, real-data home, cache, figures and outputs.

No notebook or module hard-codes a path; they ask this module.

* ``data_home()`` -- the real external catalogues (DESI EDR, SAGA DR3, ELVES, LVDB, ...).
  Resolution order: the ``DWARFLIB_DATA`` environment variable; else a sibling ``../shared/data``
  mirror of the repository root when it exists; else the user cache directory
  (``pooch.os_cache("dwarflib")``), into which files are downloaded from their original URLs.
* ``cache_dir()`` -- generated, re-creatable products (the simulated sky, trained models).
  ``DWARFLIB_CACHE`` overrides; default ``<root>/.cache``.
* ``outputs_dir()`` -- machine-readable tables written by the book chapters (CSV, Parquet).
  ``DWARFLIB_OUTPUTS`` overrides; default ``<root>/outputs``.
* ``figures_dir()`` -- figures saved by the chapters, ``<outputs>/figures``.
* ``locked_dir(folder, command)`` -- an exclusive lock on an output folder for the length of a run
  (``dwarflib simulate --out`` and ``dwarflib classify --out``).
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import socket
from pathlib import Path

import pooch

#: Environment variable naming the directory that holds (or receives) the real catalogues.
DATA_ENV = "DWARFLIB_DATA"
CACHE_ENV = "DWARFLIB_CACHE"
OUTPUTS_ENV = "DWARFLIB_OUTPUTS"
#: Lock file of an output folder (see :func:`locked_dir`).
LOCK_NAME = ".dwarflib.lock"


def repo_root() -> Path:
    """The repository root (the directory holding ``pyproject.toml``)."""
    return Path(__file__).resolve().parent.parent


def shared_mirror() -> Path:
    """The sibling ``../shared/data`` directory that serves as a local mirror on the project machines."""
    return repo_root().parent / "shared" / "data"


def data_home() -> Path:
    """Directory of the real external catalogues (see module docstring for the resolution order)."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser().resolve()
    mirror = shared_mirror()
    if mirror.is_dir():
        return mirror
    return Path(pooch.os_cache("dwarflib"))


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir(*parts: str) -> Path:
    """Directory for generated, re-creatable products; created on demand."""
    base = Path(os.environ.get(CACHE_ENV, repo_root() / ".cache")).expanduser()
    return _ensure(base.joinpath(*parts))


def outputs_dir(*parts: str) -> Path:
    """Directory for machine-readable tables written by the book; created on demand."""
    base = Path(os.environ.get(OUTPUTS_ENV, repo_root() / "outputs")).expanduser()
    return _ensure(base.joinpath(*parts))


def figures_dir() -> Path:
    """Directory for saved figures (``<outputs>/figures``); created on demand."""
    return outputs_dir("figures")


class FolderLockedError(RuntimeError):
    """Another run holds the lock of an output folder (see :func:`locked_dir`)."""


@contextlib.contextmanager
def locked_dir(folder, command: str):
    """Hold an exclusive lock on ``folder`` (created) while the ``with`` block runs.

    The lock is ``fcntl.flock`` on ``folder/.dwarflib.lock``, which records the holder (pid, host,
    start time in UTC, ``command``). The operating system releases it when the holder exits or dies, so
    there is no stale lock to clean up. A second run (another process, or a second call in this
    process) gets :class:`FolderLockedError` at once, naming the holder. The lock file itself stays.
    Network file systems: ``flock`` works on local disks; on NFS it depends on the server.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
            try:
                h = json.loads(holder)
                who = f"pid {h['pid']} on {h['host']} since {h['started']}: {h['command']}"
            except (ValueError, KeyError, TypeError):
                who = "a process that has not yet written its name"
            raise FolderLockedError(f"{folder} is in use by another dwarflib run ({who}); "
                                    f"wait for it to end or use another folder") from None
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "command": command}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the flock
