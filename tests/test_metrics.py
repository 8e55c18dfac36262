"""Tests of dwarflib.metrics against scikit-learn and exact hand values."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    confusion_matrix,
    f1_score,
    fbeta_score,
    precision_recall_curve,
    precision_score,
    recall_score,
)

from dwarflib import metrics as M
from dwarflib.labels import SIGNAL, to_binary

# Hand-made 7-class case: 12 objects, 4 true signal (label 0).
Y7_TRUE = np.array([0, 0, 0, 0, 1, 2, 3, 3, 4, 5, 6, 6])
Y7_PRED = np.array([0, 0, 0, 3, 0, 2, 0, 3, 4, 4, 6, 1])
# signal: tp = 3 (rows 0-2), fn = 1 (row 3), fp = 2 (rows 4, 6) -> P = 3/5, R = 3/4


def test_hand_values_7class():
    r = M.signal_precision_recall_f(Y7_TRUE, Y7_PRED)
    assert r["precision"] == pytest.approx(3 / 5)
    assert r["recall"] == pytest.approx(3 / 4)
    assert r["f1"] == pytest.approx(2 * 0.6 * 0.75 / (0.6 + 0.75))
    assert (r["support"], r["n_selected"], r["tp"]) == (4, 5, 3)
    r2 = M.signal_precision_recall_f(Y7_TRUE, Y7_PRED, beta=2.0)
    assert r2["fbeta"] == pytest.approx(5 * 0.6 * 0.75 / (4 * 0.6 + 0.75))
    assert "f1" not in r2 and r2["beta"] == 2.0


@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
def test_against_sklearn_random(beta):
    rng = np.random.default_rng(1)
    yt = rng.integers(0, 7, 500)
    yp = np.where(rng.random(500) < 0.6, yt, rng.integers(0, 7, 500))
    r = M.signal_precision_recall_f(yt, yp, beta=beta)
    kw = dict(labels=[SIGNAL], average="micro", zero_division=np.nan)
    assert r["precision"] == pytest.approx(precision_score(yt, yp, **kw))
    assert r["recall"] == pytest.approx(recall_score(yt, yp, **kw))
    key = "f1" if beta == 1.0 else "fbeta"
    assert r[key] == pytest.approx(fbeta_score(yt, yp, beta=beta, **kw))
    # binary convention: signal = 1 after to_binary
    rb = M.signal_precision_recall_f(to_binary(yt), to_binary(yp), signal=1, beta=beta)
    assert rb["precision"] == pytest.approx(precision_score(to_binary(yt), to_binary(yp)))
    assert rb["recall"] == pytest.approx(recall_score(to_binary(yt), to_binary(yp)))
    assert rb[key] == pytest.approx(r[key])


def test_no_predicted_signal_policy():
    yt = np.array([0, 0, 1, 2])
    yp = np.array([1, 2, 1, 2])
    r = M.signal_precision_recall_f(yt, yp)
    assert np.isnan(r["precision"])  # documented: undefined, not 0
    assert r["recall"] == 0.0
    assert r["f1"] == 0.0  # F from counts: 0 / (beta^2 * fn) = 0
    kw = dict(labels=[0], average="micro", zero_division=np.nan)
    assert np.isnan(precision_score(yt, yp, **kw))
    assert f1_score(yt, yp, **kw) == 0.0
    assert M.signal_precision_recall_f(yt, yp, zero_division=0.0)["precision"] == 0.0


def test_no_true_signal_policy():
    yt = np.array([1, 2, 1, 2])
    yp = np.array([0, 2, 1, 2])
    r = M.signal_precision_recall_f(yt, yp)
    assert r["precision"] == 0.0 and np.isnan(r["recall"]) and r["f1"] == 0.0
    # nothing true, nothing selected: everything undefined
    r0 = M.signal_precision_recall_f(yt, np.array([1, 2, 1, 2]))
    assert np.isnan(r0["precision"]) and np.isnan(r0["recall"]) and np.isnan(r0["f1"])


def test_fbeta_function():
    assert M.fbeta(0.6, 0.75) == pytest.approx(2 / 3)
    assert M.fbeta(0.0, 0.0) == 0.0
    assert np.isnan(M.fbeta(np.nan, 0.5))
    np.testing.assert_allclose(M.fbeta([1.0, 0.5], [0.5, 1.0], beta=2.0), [5 * 0.5 / 4.5, 5 * 0.5 / 3.0])
    with pytest.raises(ValueError):
        M.fbeta(0.5, 0.5, beta=0)


def test_accuracy_misleads():
    # 1 % signal: "never signal" has 99 % binary accuracy and zero recall
    yt = np.r_[np.ones(10, int), np.zeros(990, int)]
    yp = np.zeros(1000, int)
    assert M.accuracy(yt, yp) == pytest.approx(0.99)
    assert M.signal_precision_recall_f(yt, yp, signal=1)["recall"] == 0.0


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="rows"):
        M.signal_precision_recall_f([0, 1], [0])


def test_pr_curve_against_sklearn():
    rng = np.random.default_rng(2)
    t = rng.random(400) < 0.2
    s = np.round(np.clip(0.3 * t + rng.random(400) * 0.8, 0, 1), 2)  # rounding makes ties
    curve = M.signal_pr_curve(t, s)
    p, r, thr = precision_recall_curve(t, s)
    assert np.all(np.diff(curve["threshold"]) > 0)
    # sklearn's arrays are indexed by its thresholds; ours has one row per distinct score
    ours = curve.set_index("threshold")
    np.testing.assert_allclose(ours.loc[thr, "precision"], p[:-1])
    np.testing.assert_allclose(ours.loc[thr, "recall"], r[:-1])
    assert curve["n_selected"].iloc[0] == 400 and curve["recall"].iloc[0] == 1.0


def test_pr_curve_hand():
    t = np.array([True, False, True, False])
    s = np.array([0.9, 0.8, 0.4, 0.4])
    c = M.signal_pr_curve(t, s)
    assert c["threshold"].tolist() == [0.4, 0.8, 0.9]
    np.testing.assert_allclose(c["precision"], [0.5, 0.5, 1.0])
    np.testing.assert_allclose(c["recall"], [1.0, 0.5, 0.5])
    assert c["n_selected"].tolist() == [4, 2, 1]
    with pytest.raises(ValueError, match="non-finite"):
        M.signal_pr_curve(t, [0.1, np.nan, 0.2, 0.3])


def test_threshold_choices():
    t = np.array([1, 1, 0, 1, 0, 0, 1, 0], bool)
    s = np.array([0.95, 0.9, 0.85, 0.8, 0.6, 0.5, 0.4, 0.1])
    ch = M.threshold_for_precision(t, s, 0.75)
    # >= 0.8 selects 4 objects with 3 signal: precision 0.75 recall 0.75 (lowest threshold reaching 0.75)
    assert ch["threshold"] == 0.8 and ch["precision"] == 0.75 and ch["recall"] == 0.75
    assert ch["n_selected"] == 4 and ch["tp"] == 3
    assert M.threshold_for_precision(t, s, 1.0)["threshold"] == 0.9
    with pytest.raises(ValueError, match="best achievable"):
        M.threshold_for_precision(np.array([0, 1], bool), np.array([0.9, 0.1]), 0.9)
    fb = M.threshold_for_fbeta(t, s)
    # F1 by threshold: 0.8 -> 0.75, 0.4 -> 2*(4/7)*1/(4/7+1) = 0.727..., 0.9 -> 2*1*0.5/1.5 = 0.667
    assert fb["threshold"] == 0.8 and fb["f1"] == pytest.approx(0.75)
    f2 = M.threshold_for_fbeta(t, s, beta=2.0)
    assert f2["threshold"] == 0.4 and f2["recall"] == 1.0


def test_confusion_matrix_table():
    names = [f"c{i}" for i in range(7)]
    tab = M.confusion_matrix_table(Y7_TRUE, Y7_PRED, names)
    np.testing.assert_array_equal(tab.to_numpy(), confusion_matrix(Y7_TRUE, Y7_PRED, labels=range(7)))
    assert tab.index.name == "true class" and list(tab.columns) == names
    assert tab.loc["c0", "c0"] == 3 and tab.loc["c3", "c0"] == 1
    rn = M.confusion_matrix_table(Y7_TRUE, Y7_PRED, names, normalize="true")
    np.testing.assert_allclose(
        rn.to_numpy(), confusion_matrix(Y7_TRUE, Y7_PRED, labels=range(7), normalize="true")
    )
    np.testing.assert_allclose(rn.sum(axis=1), 1.0)
    pn = M.confusion_matrix_table(Y7_TRUE, Y7_PRED, names, normalize="pred")
    assert pn.loc["c0", "c0"] == pytest.approx(3 / 5)  # diagonal of column-normalised = precision
    default = M.confusion_matrix_table(Y7_TRUE, Y7_PRED)
    assert default.index[0] == "signal"
    with pytest.raises(ValueError, match="outside"):
        M.confusion_matrix_table([0, 7], [0, 1], names)
    # an empty class row is NaN after row normalisation, not a division warning
    assert isinstance(
        M.confusion_matrix_table([0, 0], [0, 1], ["a", "b", "c"], normalize="true"), pd.DataFrame
    )


def test_binomial_interval_wilson():
    lo, hi = M.binomial_interval(8, 10, cl=0.95)
    # Wilson score interval, z = 1.959964
    z = 1.959963984540054
    p, n = 0.8, 10
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    assert lo == pytest.approx(centre - half) and hi == pytest.approx(centre + half)
    lo0, hi0 = M.binomial_interval(0, 5)
    assert lo0 == pytest.approx(0.0, abs=1e-12) and 0 < hi0 < 1
    lo_a, hi_a = M.binomial_interval(np.array([1, 0]), np.array([2, 0]))
    assert np.isnan(lo_a[1]) and np.isnan(hi_a[1]) and lo_a[0] < 0.5 < hi_a[0]
    with pytest.raises(ValueError):
        M.binomial_interval(3, 2)


def test_signal_summary():
    s = M.signal_summary(Y7_TRUE, Y7_PRED)
    assert (s["precision_low"], s["precision_high"]) == M.binomial_interval(3, 5)
    assert (s["recall_low"], s["recall_high"]) == M.binomial_interval(3, 4)


def _sample(n=3000, seed=3):
    rng = np.random.default_rng(seed)
    yt = rng.integers(0, 7, n)
    yp = np.where(rng.random(n) < 0.7, yt, rng.integers(0, 7, n))
    return yt, yp


def test_bootstrap_deterministic_and_covers():
    yt, yp = _sample()
    a = M.bootstrap_ci("precision", yt, yp, n_boot=500, seed=7)
    b = M.bootstrap_ci("precision", yt, yp, n_boot=500, seed=7)
    c = M.bootstrap_ci("precision", yt, yp, n_boot=500, seed=8)
    assert a == b and a != c
    assert a["low"] < a["estimate"] < a["high"]
    assert a["estimate"] == pytest.approx(M.signal_precision_recall_f(yt, yp)["precision"])
    # the generic (callable) path is deterministic too
    f = lambda t, p: M.signal_precision_recall_f(t, p)["recall"]  # noqa: E731
    g1 = M.bootstrap_ci(f, yt, yp, n_boot=200, seed=1)
    g2 = M.bootstrap_ci(f, yt, yp, n_boot=200, seed=1)
    assert g1 == g2


def test_bootstrap_fast_path_matches_resampling():
    """The multinomial fast path has the distribution of row resampling: compare to the loop."""
    yt, yp = _sample(n=2000, seed=4)
    for name in ("precision", "recall", "f1"):
        fast = M.bootstrap_ci(name, yt, yp, n_boot=2000, seed=0)
        slow = M.bootstrap_ci(
            lambda t, p, name=name: M.signal_precision_recall_f(t, p)[name], yt, yp, n_boot=2000, seed=1
        )
        assert fast["estimate"] == pytest.approx(slow["estimate"])
        assert fast["std"] == pytest.approx(slow["std"], rel=0.1)
        assert fast["low"] == pytest.approx(slow["low"], abs=0.4 * fast["std"])
        assert fast["high"] == pytest.approx(slow["high"], abs=0.4 * fast["std"])
    # the width shrinks like 1/sqrt(n)
    big = M.bootstrap_ci("recall", np.tile(yt, 4), np.tile(yp, 4), n_boot=2000, seed=0)
    small = M.bootstrap_ci("recall", yt, yp, n_boot=2000, seed=0)
    assert big["std"] == pytest.approx(small["std"] / 2, rel=0.15)


def test_bootstrap_undefined_replicates_counted():
    yt = np.array([0] + [1] * 29)
    yp = np.array([0] + [1] * 29)  # one selected object: many resamples select nothing
    r = M.bootstrap_ci("precision", yt, yp, n_boot=300, seed=0)
    assert r["n_undefined"] > 0 and r["estimate"] == 1.0
    with pytest.raises(ValueError):
        M.bootstrap_ci("accuracy", yt, yp)
