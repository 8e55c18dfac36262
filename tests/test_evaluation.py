"""Tests for dwarflib.evaluation: cross-validation of the signal class, comparison, importance, ablation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, precision_score, recall_score
from sklearn.tree import DecisionTreeClassifier

from dwarflib.evaluation import (
    COMPARISON_COLUMNS,
    best_algorithm,
    compare_algorithms,
    cross_validate_signal,
    group_ablation,
    paired_bootstrap,
    permutation_importance_signal,
    recall_at_precision,
    training_labels,
)


def toy(n: int = 1400, seed: int = 0):
    """7 classes; 'sb' separates the signal (class 0), 'colour' separates the contaminant classes, 'noise' is noise."""
    rng = np.random.default_rng(seed)
    y = rng.choice(7, size=n, p=[0.08, 0.07, 0.15, 0.15, 0.25, 0.2, 0.1])
    sb = np.where(y == 0, 2.0, 0.0) + rng.normal(0, 0.6, n)
    colour = y.astype(float) + rng.normal(0, 0.5, n)
    noise = rng.normal(0, 1, n)
    X = pd.DataFrame({"sb": sb, "sb2": sb + rng.normal(0, 0.3, n), "colour": colour, "noise": noise})
    return X, y


def lr():
    return LogisticRegression(max_iter=500)


def test_training_labels():
    y = np.array([0, 1, 6, 0])
    assert training_labels(y, "binary").tolist() == [1, 0, 0, 1]
    assert training_labels(y, "7class").tolist() == y.tolist()
    with pytest.raises(ValueError, match="unknown scheme"):
        training_labels(y, "ternary")


@pytest.mark.parametrize("scheme", ["binary", pytest.param("7class", marks=pytest.mark.slow)])
def test_cross_validate_signal_folds_and_scores(scheme):
    X, y = toy()
    res = cross_validate_signal(lr, X, y, scheme=scheme, n_splits=4, seed=1)
    f = res.folds
    assert len(f) == 4 and f["n_test"].sum() == len(y)
    assert set(res.fold_of_row) == {0, 1, 2, 3}
    assert np.isfinite(res.p_signal).all() and ((res.p_signal >= 0) & (res.p_signal <= 1)).all()
    # every fold holds its share of signal (stratified)
    assert f["n_signal_test"].max() - f["n_signal_test"].min() <= 1
    # the per-fold numbers are sklearn's for that fold
    for k in range(4):
        te = res.fold_of_row == k
        t, p = (y[te] == 0), res.pred_signal[te]
        assert f.loc[k, "precision"] == pytest.approx(precision_score(t, p))
        assert f.loc[k, "recall"] == pytest.approx(recall_score(t, p))
        assert f.loc[k, "f1"] == pytest.approx(f1_score(t, p))
    assert res.pred_signal.tolist() == (res.p_signal >= 0.5).tolist()
    # signal is well separated in 'sb': the model must find most of it
    s = res.summary()
    assert s["recall_mean"] > 0.6 and s["precision_mean"] > 0.6
    assert s["fit_seconds"] > 0 and s["rows_per_second"] > 0
    pooled = res.pooled()
    assert pooled["precision"] == pytest.approx(precision_score(y == 0, res.pred_signal))


@pytest.mark.slow
def test_cross_validate_signal_is_deterministic_and_paired_across_schemes():
    X, y = toy()
    a = cross_validate_signal(lr, X, y, scheme="7class", n_splits=3, seed=5)
    b = cross_validate_signal(lr, X, y, scheme="7class", n_splits=3, seed=5)
    c = cross_validate_signal(lr, X, y, scheme="binary", n_splits=3, seed=5)
    d = cross_validate_signal(lr, X, y, scheme="7class", n_splits=3, seed=6)
    assert np.array_equal(a.p_signal, b.p_signal)
    assert np.array_equal(a.fold_of_row, c.fold_of_row)
    assert not np.array_equal(a.fold_of_row, d.fold_of_row)
    par = cross_validate_signal(lr, X, y, scheme="7class", n_splits=3, seed=5, n_jobs=2, backend="threading")
    assert np.array_equal(a.p_signal, par.p_signal) and np.array_equal(a.pred_signal, par.pred_signal)


def test_cross_validate_signal_argmax_rule_and_estimator_instance():
    X, y = toy()
    res = cross_validate_signal(DecisionTreeClassifier(max_depth=4, random_state=0), X, y, n_splits=3,
                                threshold=None)
    # with the arg-max rule the signal is predicted whenever it is the most probable class
    assert res.pred_signal.sum() > 0
    assert (res.pred_signal | (res.p_signal < 0.5)).all()


def test_cross_validate_signal_tuned_threshold_and_errors():
    X, y = toy()
    res = cross_validate_signal(lr, X, y, n_splits=3, threshold="max_f1", tune_fraction=0.25)
    f = res.folds
    # the model is fitted on 75 % of each training fold; the threshold comes from the other 25 %
    assert (abs(f["n_train"] - 0.75 * (len(y) - f["n_test"])) <= 7).all()
    assert f["threshold"].between(0, 1).all() and f["threshold"].nunique() > 1
    for k in range(3):
        te = res.fold_of_row == k
        assert np.array_equal(res.pred_signal[te], res.p_signal[te] >= f.loc[k, "threshold"])
    y_few = y.copy()
    y_few[y_few == 0] = 1
    y_few[:2] = 0
    with pytest.raises(ValueError, match="only 2 signal rows"):
        cross_validate_signal(lr, X, y_few, n_splits=5)
    with pytest.raises(ValueError, match="rows"):
        cross_validate_signal(lr, X.iloc[:10], y, n_splits=3)
    with pytest.raises(ValueError, match="max_f1"):
        cross_validate_signal(lr, X, y, threshold="best")


def test_recall_at_precision_hand_case():
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1])           # 7-class truth: four signal rows
    p = np.array([0.9, 0.8, 0.7, 0.65, 0.6, 0.5, 0.2, 0.1])
    # precision 1 is reached down to p=0.7 (3 of 4 signal rows); precision 0.8 down to p=0.6 (4 of 4)
    assert recall_at_precision(y, p, 1.0) == pytest.approx(0.75)
    assert recall_at_precision(y, p, 0.8) == pytest.approx(1.0)
    assert recall_at_precision(np.ones(4, int), np.linspace(0, 1, 4), 0.9) == 0.0


def test_paired_bootstrap_points_and_intervals():
    rng = np.random.default_rng(0)
    y = rng.choice([0, 3], size=600, p=[0.2, 0.8])
    a = np.where(y == 0, rng.random(600) < 0.9, rng.random(600) < 0.05)
    b = np.where(y == 0, rng.random(600) < 0.5, rng.random(600) < 0.05)
    out = paired_bootstrap(y, a, b, n_boot=400, seed=1).set_index("metric")
    assert out.loc["recall", "a"] == pytest.approx(recall_score(y == 0, a))
    assert out.loc["precision", "b"] == pytest.approx(precision_score(y == 0, b))
    assert out.loc["recall", "delta_high"] < 0             # b clearly loses recall
    assert out.loc["recall", "a_low"] < out.loc["recall", "a"] < out.loc["recall", "a_high"]
    same = paired_bootstrap(y, a, a, n_boot=200, seed=1).set_index("metric")
    assert (same["delta_low"] == 0).all() and (same["delta_high"] == 0).all()
    again = paired_bootstrap(y, a, b, n_boot=400, seed=1)
    pd.testing.assert_frame_equal(out.reset_index(), again)


def test_permutation_importance_finds_the_informative_feature():
    X, y = toy()
    tr, te = np.arange(0, 900), np.arange(900, len(y))
    est = lr().fit(X.iloc[tr], y[tr])
    imp = permutation_importance_signal(est, X.iloc[te].reset_index(drop=True), y[te], n_repeats=3, seed=0)
    assert imp["feature"].iloc[0] in ("sb", "sb2")
    assert imp.set_index("feature").loc["noise", "importance_mean"] < 0.05
    grouped = permutation_importance_signal(est, X.iloc[te].reset_index(drop=True), y[te], n_repeats=3,
                                            groups={"sb": ["sb", "sb2"], "other": ["colour", "noise"]},
                                            metric="recall_at_precision", target_precision=0.8)
    g = grouped.set_index("feature")
    assert g.loc["sb", "n_columns"] == 2
    assert g.loc["sb", "importance_mean"] > g.loc["other", "importance_mean"]
    with pytest.raises(KeyError, match="not in X"):
        permutation_importance_signal(est, X, y, groups={"x": ["missing"]})


def test_group_ablation_quantifies_the_informative_group():
    X, y = toy()
    groups = {"surface_brightness": ["sb", "sb2"], "noise": ["noise"]}
    out = group_ablation(X, y, groups, lr, scheme="binary", n_splits=3, seed=0, n_boot=300,
                         keep_only={"noise": ["noise"]}).set_index("model")
    assert list(out.index) == ["all features", "without surface_brightness", "without noise", "only noise"]
    assert out.loc["only noise", "n_features"] == 1
    assert out.loc["only noise", "delta_f1_high"] < 0
    assert out.loc["all features", "delta_recall"] == 0
    sb = out.loc["without surface_brightness"]
    assert sb["n_features"] == 2
    # dropping the informative group costs F1 and precision, significantly (interval excludes 0)
    assert sb["delta_f1_high"] < 0 and sb["delta_precision_high"] < 0
    assert sb["f1_low"] < sb["f1"] < sb["f1_high"]
    nz = out.loc["without noise"]
    assert nz["delta_f1_low"] <= 0 <= nz["delta_f1_high"]
    with pytest.raises(KeyError, match="no column"):
        group_ablation(X, y, {"wise": ["W1_W2"]}, lr, n_splits=3)


@pytest.mark.slow
def test_compare_algorithms_table_with_make_model():
    X, y = toy(700)
    table = compare_algorithms(X, y, ["random_forest"], schemes=("binary", "7class"), n_splits=3, seed=0,
                               params={"random_forest": {"n_estimators": 20}})
    assert list(table.columns[:len(COMPARISON_COLUMNS)]) == list(COMPARISON_COLUMNS)
    assert len(table) == 2 and table["scheme"].tolist() == ["binary", "7class"]
    assert (table["precision_std"] >= 0).all() and (table["fit_seconds"] > 0).all()
    assert (table["recall_mean"] > 0.5).all()
    assert best_algorithm(table)["f1_mean"] == table["f1_mean"].max()
    again = compare_algorithms(X, y, ["random_forest"], schemes=("binary", "7class"), n_splits=3, seed=0,
                               params={"random_forest": {"n_estimators": 20}})
    cols = ["precision_mean", "recall_mean", "f1_mean", "f1_std"]
    pd.testing.assert_frame_equal(table[cols], again[cols])
