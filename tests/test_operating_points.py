"""Operating points stated everywhere (issue #12): dwarflib.metrics.operating_points, thresholds at a stated
precision, and the verification chapter's recalls at a stated simulated precision (issue #13)."""

import numpy as np
import pytest

from dwarflib import metrics as M
from dwarflib import verification as V
from dwarflib.labels import DEFAULT_SCHEME, SIGNAL
from dwarflib.sky.generate import training_sample_path
from dwarflib.training_sample import load_labelled_table

# 3 signal (label 1) among 10 objects; scores in decreasing order: S N S N N S N N N N
Y = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
P = np.array([0.9, 0.8, 0.3, 0.85, 0.2, 0.1, 0.1, 0.05, 0.4, 0.6])


def test_operating_point_row_matches_a_hand_computation():
    op = M.operating_points(Y, P, {"fixed": 0.5, "low": 0.3}, signal=1, n_boot=50, seed=1)
    assert list(op.columns) == list(M.OPERATING_POINT_COLUMNS)
    a, b = op.iloc[0], op.iloc[1]
    assert a["operating_point"] == "fixed" and a["threshold"] == 0.5
    # p >= 0.5 selects 0.9 (S), 0.85 (N), 0.8 (S), 0.6 (N): tp 2 of 4 selected, 2 of 3 signal
    assert (a["n_scored"], a["n_signal"], a["n_selected"], a["tp"]) == (10, 3, 4, 2)
    assert a["prevalence"] == pytest.approx(0.3)
    assert a["precision"] == pytest.approx(0.5) and a["recall"] == pytest.approx(2 / 3)
    assert (a["precision_low"], a["precision_high"]) == pytest.approx(M.binomial_interval(2, 4))
    assert (a["recall_low"], a["recall_high"]) == pytest.approx(M.binomial_interval(2, 3))
    # p >= 0.3 adds 0.4 (N) and 0.3 (S): 3 of 6, recall 1
    assert (b["n_selected"], b["tp"], b["precision"], b["recall"]) == (6, 3, 0.5, 1.0)
    # threshold-free, the same on every row: AP = mean over signal of the precision at its rank
    ap = (1 / 1 + 2 / 3 + 3 / 6) / 3
    assert a["average_precision"] == pytest.approx(ap) and b["average_precision"] == pytest.approx(ap)
    # FPR <= 1e-3 with 7 non-signal objects means no false positive: only the top object, recall 1/3
    assert a["reference_fpr"] == M.REFERENCE_FPR
    assert a["recall_at_fpr"] == pytest.approx(1 / 3)
    assert a["average_precision_low"] <= ap <= a["average_precision_high"]
    assert a["cl"] == M.CONFIDENCE


def test_operating_points_names_unnamed_thresholds_and_rejects_bad_input():
    op = M.operating_points(Y, P, [0.5, 0.3], signal=1, n_boot=0)
    assert list(op["operating_point"]) == ["p_signal >= 0.5", "p_signal >= 0.3"]
    assert op["average_precision_low"].isna().all()  # n_boot = 0: no bootstrap
    with pytest.raises(ValueError, match=r"not finite: \['bad'\]"):
        M.operating_points(Y, P, {"bad": np.nan}, signal=1)
    with pytest.raises(ValueError, match="needs signal and non-signal"):
        M.operating_points(np.zeros(10, int), P, [0.5], signal=1)


def test_validation_thresholds_are_chosen_on_the_set_given():
    t = M.validation_thresholds(Y, P, precision=0.6, signal=1)
    assert t["p_signal >= 0.5"] == 0.5
    assert t["max F1 on validation"] == M.threshold_for_fbeta(Y == 1, P)["threshold"]
    thr = t["precision >= 0.6 on validation"]
    assert M.operating_points(Y, P, [thr], signal=1, n_boot=0)["precision"].iloc[0] >= 0.6


def test_unreachable_precision_names_the_value_and_the_reachable_range():
    # best precision here is 1 (top object); all selected gives 0.3; ask for a target on signal-poor scores
    y = np.array([1, 0, 0, 0, 1, 0])
    p = np.array([0.1, 0.9, 0.8, 0.7, 0.6, 0.5])
    curve = M.signal_pr_curve(y == 1, p)
    lo, hi = curve["precision"].min(), curve["precision"].max()
    with pytest.raises(ValueError) as err:
        M.threshold_for_precision(y == 1, p, 0.75)
    msg = str(err.value)
    assert "0.75" in msg and "reachable" in msg
    assert f"{lo:.4f} to {hi:.4f}" in msg


@pytest.fixture(scope="module")
def restricted(small_sky):
    """The chapter-08 restricted 6-feature model on the session's small simulated sky, at a stated precision."""
    table = load_labelled_table(training_sample_path(small_sky))
    y = V.labels_of(table, DEFAULT_SCHEME)
    sim = V.restricted_features(table, "sweep")
    make = V.make_default_estimator("xgboost", "7class", seed=0, n_jobs=1, max_per_class=2000, n_estimators=30)
    return sim, y, make


@pytest.mark.slow
def test_threshold_at_a_stated_precision_reproduces_it_on_the_set_it_was_chosen_on(restricted):
    sim, y, make = restricted
    feats = V.TABLE_FEATURES["saga_satellites"]
    fixed = V.train_restricted_check(make, sim, y, feats, seed=0)
    yt = y[fixed.test_index] == SIGNAL
    # a precision the model reaches on its simulated held-out part, above its everything-selected baseline
    target = round(0.5 * (yt.mean() + M.signal_pr_curve(yt, fixed.test_p_signal)["precision"].max()), 3)
    chk = V.train_restricted_check(make, sim, y, feats, seed=0, precision=target)
    assert chk.target_precision == target
    assert np.array_equal(chk.test_p_signal, fixed.test_p_signal)  # same model, only the threshold moves
    sel = chk.test_p_signal >= chk.threshold
    by_hand = (sel & yt).sum() / sel.sum()
    assert by_hand >= target
    assert chk.sim_test["precision"] == pytest.approx(by_hand)
    assert chk.sim_test["threshold"] == chk.threshold
    assert chk.sim_test["prevalence"] == pytest.approx(yt.mean())
    # the threshold is the lowest reaching the target: one step lower no longer does
    lower = np.sort(np.unique(chk.test_p_signal[chk.test_p_signal < chk.threshold]))
    if lower.size:
        s2 = chk.test_p_signal >= lower[-1]
        assert (s2 & yt).sum() / s2.sum() < target or (s2 & yt).sum() == (sel & yt).sum()
    assert len(chk.test_table) == len(chk.test_index)
    # a real recall at that threshold, stated beside the simulated operating point
    real = V.recall_check(chk.test_p_signal, yt, chk.threshold)
    row = V.stated_recall_row("SAGA", "test", real, chk.sim_test, "simulated held-out", target)
    assert tuple(row) == V.STATED_RECALL_COLUMNS
    assert row["threshold"] == chk.threshold and row["sim_precision"] == chk.sim_test["precision"]
    assert row["recall"] == pytest.approx(chk.sim_test["recall"])  # same objects, same threshold
    # a precision above the best the model reaches is an error naming it and the reachable range
    best = M.signal_pr_curve(yt, fixed.test_p_signal)["precision"].max()
    if best < 1.0:  # (a model that reaches precision 1 has no unreachable target to test)
        bad = round((best + 1.0) / 2, 3)
        with pytest.raises(ValueError, match=rf"no threshold reaches precision {bad}; the reachable precisions"):
            V.train_restricted_check(make, sim, y, feats, seed=0, precision=bad)
