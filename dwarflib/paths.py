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
"""

from __future__ import annotations

import os
from pathlib import Path

import pooch

#: Environment variable naming the directory that holds (or receives) the real catalogues.
DATA_ENV = "DWARFLIB_DATA"
CACHE_ENV = "DWARFLIB_CACHE"
OUTPUTS_ENV = "DWARFLIB_OUTPUTS"


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
