"""Shared pytest configuration: the ``remote_data`` marker is skipped unless ``--remote-data`` is given."""

from __future__ import annotations

import pytest


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
