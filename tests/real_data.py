"""Real catalogues for the tests: found in the data home, or the test is skipped with the reason.

The data home is ``paths.data_home()`` ($DWARFLIB_DATA, else ../shared/data beside the repository, else the user
cache); the default test run never downloads (a missing file would otherwise be fetched from the internet).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dwarflib import paths, registry

HOME = paths.data_home()  # resolved at import, before any test points $DWARFLIB_DATA at an empty folder


def require(*prefixes: str) -> None:
    """Skip unless every registered file whose name starts with one of ``prefixes`` is in the data home."""
    names = [n for n in sorted(registry.REGISTRY) if n.startswith(prefixes)]
    missing = [n for n in names if not (HOME / n).is_file()]
    if missing:
        pytest.skip(f"real data absent: {missing[0]}" + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
                    + f" not in the data home {HOME} (set {paths.DATA_ENV} to a folder that holds them)")


def real_file(name: str) -> Path:
    """The registered real file ``name`` (e.g. ``'desitarget_ls_test_files/sweep-310m005-320p000.fits'``) in the
    data home; skips the calling test when it is absent."""
    require(name)
    return HOME / name


def real_files(folder: str, pattern: str = "*") -> list[Path]:
    """The registered real files of ``folder`` matching ``pattern``, sorted; skips the calling test when absent."""
    require(f"{folder}/")
    return sorted((HOME / folder).glob(pattern))
