"""Issue #15: the sky subpackage's public API and the training-sample path passed explicitly."""

from __future__ import annotations

import pytest

from dwarflib import training_sample
from dwarflib.sky import generate


def _no_implicit_sky(*args, **kwargs):
    raise AssertionError("the training sample fell back on the simulator")


@pytest.mark.parametrize("call", [lambda: training_sample.load_labelled_table(None),
                                  lambda: training_sample.build_training_sample(None)])
def test_training_sample_needs_an_explicit_path(monkeypatch, call):
    monkeypatch.setattr(generate, "ensure_simulated_sky", _no_implicit_sky)
    with pytest.raises(TypeError, match="training_sample_path"):
        call()


def test_training_sample_path_of_a_sky_dir(tmp_path):
    assert generate.training_sample_path(tmp_path) == tmp_path / "training-sample.fits"


def test_grid_helpers_are_public():
    import numpy as np

    from dwarflib.sky import grid

    nodes = [0.0, 0.5, 2.0]
    x = np.array([-1.0, 0.25, 1.0, 3.0])
    assert np.array_equal(grid.frac_index(x, nodes), np.interp(x, nodes, [0.0, 1.0, 2.0]))
