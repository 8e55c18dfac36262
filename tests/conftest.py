"""Shared pytest configuration.

Markers: ``remote_data`` is skipped unless ``--remote-data`` is given; ``slow`` marks tests over ~0.6 s on 2 cores
(measured with ``--durations``; ``make test`` leaves them out with ``-m "not slow"``, ``make test-all`` and CI run
them; ``-m slow`` runs them alone).

Session fixtures (build once per test session, also under pytest-xdist):

``small_sky``
    Folder of one simulated sky of 80,000 sources (``sweep-*.fits``, ``truth.fits``, ``training-sample.fits``,
    ``summary.json``), seed ``sky_fixtures.SMALL_SKY_SEED``.
``small_model``
    Folder of a model trained quickly on ``small_sky``'s training sample (``model.json``, ``network/``).

Both are READ-ONLY: their files are made read-only, and a test that needs to change something copies first (e.g.
``sky_fixtures.split_sweeps(small_sky, tmp_path)`` writes a few sweep files of your own). To adopt them, ask for the
fixture by name instead of simulating a sky in a module fixture::

    def test_something(small_sky, small_model, tmp_path):
        files = split_sweeps(small_sky, tmp_path / "sweeps", n_files=2, n_rows=6000)
        classify_files(small_model, files, tmp_path / "out", ...)

Under xdist every worker asks for the same folder under the session's shared temporary directory
(``tmp_path_factory.getbasetemp().parent``); a ``filelock.FileLock`` lets the first worker build it and the others
wait, then reuse it (the pattern in pytest-xdist's documentation). Helper functions shared by test modules live in
tests/sky_fixtures.py (test modules do not import from each other).
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock
from sky_fixtures import build_small_model, build_small_sky


def pytest_addoption(parser):
    parser.addoption(
        "--remote-data",
        action="store_true",
        default=False,
        help="run tests marked remote_data (they download from the original URLs)",
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--remote-data"):
        return
    skip = pytest.mark.skip(reason="needs the internet; run with --remote-data")
    for item in items:
        if "remote_data" in item.keywords:
            item.add_marker(skip)


def _make_read_only(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file():
            p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def build_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """Folder ``name`` built by ``build(folder)`` once per test session, shared by the xdist workers, read-only.

    The folder is built under a temporary name and renamed when complete, so a worker never sees half of it.
    """
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the session's folder under xdist
    target = root / name
    with FileLock(str(root / f"{name}.lock")):
        if not target.is_dir():
            work = root / f"{name}.partial"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir()
            build(work)
            _make_read_only(work)
            work.rename(target)
    return target


@pytest.fixture(scope="session")
def small_sky(tmp_path_factory) -> Path:
    """A simulated sky of 80,000 sources, built once per session (read-only; copy before changing)."""
    return build_once(tmp_path_factory, "small-sky", build_small_sky)


@pytest.fixture(scope="session")
def small_model(tmp_path_factory, small_sky) -> Path:
    """A model trained quickly on ``small_sky``, built once per session (read-only)."""
    return build_once(tmp_path_factory, "small-model", lambda out: build_small_model(small_sky, out))
