"""Helpers shared by the tests that use the simulated sky (imported by tests/conftest.py and test modules).

The session fixtures ``small_sky`` and ``small_model`` themselves live in tests/conftest.py; this module holds the
plain functions that build them and that tests call on them (e.g. :func:`split_sweeps`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import vstack

from dwarflib import survey_io
from dwarflib.sky.generate import write_simulated_sky
from dwarflib.training import train_final_model

# The shared sky: 80,000 simulated sources (the smallest sky whose training sample trains a usable network).
SMALL_SKY_SOURCES = 80_000
SMALL_SKY_SEED = 11
# The shared model: one small architecture, few epochs (seconds on one core).
SMALL_MODEL_SEED = 0
SMALL_MODEL_EPOCHS = 15
SMALL_MODEL_SEARCH = ({"hidden_layers": (32, 32)},)


def build_small_sky(folder: Path) -> None:
    """Simulate the shared sky into ``folder`` (sweeps, truth, training sample, summary)."""
    write_simulated_sky(folder, n_sources=SMALL_SKY_SOURCES, seed=SMALL_SKY_SEED, progress=False)


def build_small_model(sky: Path, folder: Path) -> None:
    """Train the shared model on ``sky``'s training sample into ``folder``."""
    train_final_model(sky / "training-sample.fits", folder, seed=SMALL_MODEL_SEED, max_epochs=SMALL_MODEL_EPOCHS,
                      search=[dict(s) for s in SMALL_MODEL_SEARCH])


def split_sweeps(sky: Path, out: Path, n_files: int = 5, n_rows: int = 12_000) -> list[Path]:
    """Write the first ``n_rows`` rows of the simulated sweeps in ``sky`` into ``n_files`` sweep files in ``out``."""
    tabs, n = [], 0
    for p in sorted(sky.glob("sweep-*.fits")):
        t = survey_io.read_catalogue(p, flags=False)
        tabs.append(t)
        n += len(t)
        if n >= n_rows:
            break
    t = vstack(tabs)[:n_rows]
    out.mkdir(parents=True, exist_ok=True)
    edges = np.linspace(0, len(t), n_files + 1).astype(int)
    return [survey_io.write_sweep(t[a:b], out / f"sweep-test{i:02d}.fits")
            for i, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True))]
