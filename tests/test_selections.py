"""Survey selections are data, defined once in :mod:`dwarflib.selections` (issue #15)."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import dwarflib
from dwarflib import selections
from dwarflib.selections import BGS_BRIGHT, SAGA, Selection

ROOT = Path(dwarflib.__file__).parent


def test_mask_applies_strict_cuts_and_fails_nan():
    r = np.array([19.4, 19.5, 19.4, 19.4, np.nan, 18.0])
    z = np.array([0.02, 0.02, 0.0104, np.nan, 0.02, 0.0105])
    np.testing.assert_array_equal(BGS_BRIGHT.mask(r, z), [True, False, False, False, False, True])
    logm = np.array([8.0, 8.0, 8.0, 9.0, 8.0, 7.0])
    zs = np.array([0.005, 0.011, 0.01, 0.01, 0.01, 0.01])
    rs = np.array([20.7, 20.0, 20.75, 20.0, 20.0, 20.0])
    np.testing.assert_array_equal(SAGA.mask(rs, zs, logm), [True, False, False, False, True, False])


def test_mask_needs_the_quantities_the_selection_cuts_in():
    with pytest.raises(ValueError, match="redshift"):
        BGS_BRIGHT.mask([19.0])
    with pytest.raises(ValueError, match="stellar mass"):
        SAGA.mask([19.0], [0.005])
    assert Selection("r only", r_max=21.0).mask([20.0, 22.0]).tolist() == [True, False]


def test_selection_is_frozen():
    with pytest.raises(AttributeError):
        BGS_BRIGHT.r_max = 20.0


def _limits() -> set[float]:
    out = set()
    for name in selections.__all__:
        sel = getattr(selections, name)
        if isinstance(sel, Selection):
            out |= {v for v in (sel.r_max, sel.z_min, sel.z_max) if v is not None and v not in (0.0, 21.0)}
    return out


def test_survey_limits_are_typed_only_in_selections():
    """No other module writes a survey limit (19.5, 0.0104, 20.75, 0.004, 0.011) as a number in its code."""
    limits = _limits()
    assert {19.5, 0.0104, 20.75} <= limits
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        if path.name == "selections.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, float) and node.value in limits:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value}")
    assert not found, "survey limits typed outside dwarflib.selections: " + ", ".join(found)
