"""One metrics API (issue #15): one implementation of signal precision/recall with Wilson intervals, one key
convention (``_low`` / ``_high``) and one confidence-level constant."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd

import dwarflib
from dwarflib import completeness, metrics, training, verification

ROOT = Path(dwarflib.__file__).parent
KEYS = ["precision", "precision_low", "precision_high", "recall", "recall_low", "recall_high"]


def test_precision_recall_from_counts_is_wilson_on_each_ratio():
    r = metrics.precision_recall_from_counts(3, 5, 4)
    assert list(r) == KEYS
    assert r["precision"] == 3 / 5 and r["recall"] == 3 / 4
    assert (r["precision_low"], r["precision_high"]) == metrics.binomial_interval(3, 5, metrics.CONFIDENCE)
    assert (r["recall_low"], r["recall_high"]) == metrics.binomial_interval(3, 4, metrics.CONFIDENCE)
    empty = metrics.precision_recall_from_counts(0, 0, 4)
    assert np.isnan([empty["precision"], empty["precision_low"], empty["precision_high"]]).all()


def test_every_precision_recall_helper_uses_the_one_implementation():
    y = np.array([0, 0, 0, 1, 2, 0, 6])
    p = np.array([0.9, 0.6, 0.2, 0.7, 0.1, 0.4, 0.55])
    sel = p >= 0.5
    tp, n_sel, n_sig = int((sel & (y == 0)).sum()), int(sel.sum()), int((y == 0).sum())
    one_sigma = metrics.precision_recall_from_counts(tp, n_sel, n_sig, metrics.CONFIDENCE_1SIGMA)
    ninety_five = metrics.precision_recall_from_counts(tp, n_sel, n_sig)
    tr = training.signal_precision_recall(y, p, 0.5)
    assert {k: tr[k] for k in KEYS} == one_sigma
    ver = verification.precision_recall(y == 0, sel)
    assert {k: ver[k] for k in KEYS} == ninety_five
    summ = metrics.signal_summary(y, np.where(sel, 0, 3), signal=0)
    assert {k: summ[k] for k in KEYS} == ninety_five


def test_interval_keys_are_low_and_high_everywhere():
    rng = np.random.default_rng(0)
    obj = pd.DataFrame({"IS_SIGNAL": rng.uniform(size=200) < 0.3, "PRESELECTED": np.ones(200, bool),
                        "P_SIGNAL": rng.uniform(size=200), "r": rng.uniform(16, 20, 200)})
    tables = [completeness.completeness_purity(obj, "r", [16, 18, 20]).columns,
              list(training.signal_precision_recall([0, 1], [0.9, 0.1], 0.5)),
              list(verification.precision_recall([True], [True]))]
    for cols in tables:
        assert not [c for c in cols if c.endswith(("_lo", "_hi")) and not c.startswith("bin_")], cols


def test_confidence_levels_are_defined_once():
    """No function outside dwarflib.metrics defaults ``cl`` / ``confidence`` to a literal number."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        for fn in ast.walk(ast.parse(path.read_text())):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            args = fn.args.args + fn.args.kwonlyargs
            defaults = [None] * (len(fn.args.args) - len(fn.args.defaults)) + fn.args.defaults + fn.args.kw_defaults
            for a, d in zip(args, defaults, strict=True):
                if a.arg in ("cl", "confidence") and isinstance(d, ast.Constant):
                    found.append(f"{path.relative_to(ROOT)}:{fn.name}({a.arg}={d.value})")
    assert not found, "confidence levels typed as literals (use metrics.CONFIDENCE): " + ", ".join(found)
    assert metrics.CONFIDENCE == 0.95 and metrics.CONFIDENCE_1SIGMA == 0.6827
