"""Metrics under a stated prevalence (dwarflib.metrics) and prior shift (dwarflib.priors), issue #12.

The re-weighted metrics are checked against brute force: physically subsampling a large synthetic
labelled set to the target class mix many times, and exact replication of objects.
"""

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import average_precision_score, precision_score, roc_curve

from dwarflib import metrics as M
from dwarflib.priors import estimate_priors_em, prior_shift

# Score distributions of the synthetic classifier: signal ~ Beta(5, 2); the six other classes are
# an easy (Beta(1, 8)) and a harder (Beta(2, 3)) population.
OTHER_BETAS = {1: (1, 8), 2: (2, 3), 3: (1, 8), 4: (1, 6), 5: (1, 8), 6: (2, 4)}


def synthetic(n_signal, n_other_per_class, seed):
    rng = np.random.default_rng(seed)
    y = [np.zeros(n_signal, int)]
    s = [rng.beta(5, 2, n_signal)]
    for k, (a, b) in OTHER_BETAS.items():
        y.append(np.full(n_other_per_class, k))
        s.append(rng.beta(a, b, n_other_per_class))
    return np.concatenate(y), np.concatenate(s)


@pytest.fixture(scope="module")
def big():
    """20,000 signal and 420,000 other objects (signal share 4.5 %)."""
    return synthetic(20_000, 70_000, seed=1)


# --------------------------------------------------------------------------- exact: replication


def test_integer_weights_equal_replicated_sample():
    y, s = synthetic(60, 200, seed=2)
    # every signal object three times, every other object once: the signal share becomes 180 / 1380
    rep = np.where(y == 0, 3, 1)
    yr, sr = np.repeat(y, rep), np.repeat(s, rep)
    pi = 180 / 1380
    df = M.metrics_at_prevalence(y, s, [0.3, 0.5, 0.7], pi, n_boot=0)
    for row in df.itertuples():
        assert row.precision == pytest.approx(precision_score(yr == 0, sr >= row.threshold), abs=1e-12)
        assert row.recall == pytest.approx(np.mean(s[y == 0] >= row.threshold), abs=1e-12)
    assert df["average_precision"].iloc[0] == pytest.approx(average_precision_score(yr == 0, sr), abs=1e-12)
    assert df["prevalence"].iloc[0] == pytest.approx(pi)
    assert (df["n_signal"] == 60).all() and (df["n_other"] == 1200).all()


def test_class_mix_integer_weights_equal_replicated_sample():
    y, s = synthetic(50, 100, seed=3)
    factor = {0: 2, 1: 1, 2: 4, 3: 0, 4: 1, 5: 3, 6: 1}  # class 3 dropped (share 0)
    rep = np.array([factor[k] for k in y])
    yr, sr = np.repeat(y, rep), np.repeat(s, rep)
    mix = {k: np.count_nonzero(yr == k) / yr.size for k in factor}
    df = M.metrics_at_prevalence(y, s, [0.4, 0.6], mix, n_boot=0, reference_fpr=0.05)
    fpr, tpr, _ = roc_curve(yr == 0, sr, drop_intermediate=False)
    for row in df.itertuples():
        assert row.precision == pytest.approx(precision_score(yr == 0, sr >= row.threshold), abs=1e-12)
        assert row.fpr == pytest.approx(np.mean(sr[yr != 0] >= row.threshold), abs=1e-12)
        assert row.average_precision == pytest.approx(average_precision_score(yr == 0, sr), abs=1e-12)
        assert row.recall_at_fpr == pytest.approx(tpr[fpr <= 0.05].max(), abs=1e-12)
    # the same numbers through the per-object weights
    w = M.prevalence_weights(y, mix)
    assert w.sum() == pytest.approx(y.size)
    ap_w = average_precision_score(y == 0, s, sample_weight=w)
    assert ap_w == pytest.approx(df["average_precision"].iloc[0])


# --------------------------------------------------------------------------- brute force: subsampling


def _subsample_counts(big_y, shares, n_total):
    return {k: int(round(n_total * v)) for k, v in shares.items() if v > 0 and k in set(big_y.tolist())}


@pytest.mark.slow
@pytest.mark.parametrize("target", [0.005, 0.2, "mix"])
def test_reweighting_matches_physical_subsampling(big, target):
    y, s = big
    if target == "mix":
        shares = {0: 0.01, 1: 0.30, 2: 0.05, 3: 0.30, 4: 0.14, 5: 0.10, 6: 0.10}
        prevalence = shares
    else:
        prevalence = target
        other = {k: (1 - target) / 6 for k in OTHER_BETAS}  # the big set's own mix of the other classes
        shares = {0: target, **other}
    thresholds = [0.5, 0.8]
    df = M.metrics_at_prevalence(y, s, thresholds, prevalence, n_boot=0, reference_fpr=0.01)
    counts = _subsample_counts(y, shares, n_total=60_000)
    members = {k: np.flatnonzero(y == k) for k in counts}
    rng = np.random.default_rng(5)
    n_rep = 40
    prec = np.empty((n_rep, len(thresholds)))
    ap = np.empty(n_rep)
    rfpr = np.empty(n_rep)
    for b in range(n_rep):
        idx = np.concatenate([rng.choice(members[k], counts[k], replace=False) for k in counts])
        ys, ss = y[idx] == 0, s[idx]
        prec[b] = [precision_score(ys, ss >= t) for t in thresholds]
        ap[b] = average_precision_score(ys, ss)
        fpr, tpr, _ = roc_curve(ys, ss, drop_intermediate=False)
        rfpr[b] = tpr[fpr <= 0.01].max()
    # brute-force means within 4 standard errors (plus 0.005 for the rounding of the class counts and
    # the ratio-estimator bias of a finite subsample)
    for j in range(len(thresholds)):
        se = prec[:, j].std(ddof=1) / np.sqrt(n_rep)
        assert prec[:, j].mean() == pytest.approx(df["precision"].iloc[j], abs=4 * se + 0.005)
    for brute, col in ((ap, "average_precision"), (rfpr, "recall_at_fpr")):
        se = brute.std(ddof=1) / np.sqrt(n_rep)
        assert brute.mean() == pytest.approx(df[col].iloc[0], abs=4 * se + 0.005)
    # recall does not move with the re-weighting
    np.testing.assert_allclose(df["recall"], [np.mean(s[y == 0] >= t) for t in thresholds])


def test_precision_changes_with_prevalence_recall_does_not(big):
    y, s = big
    lo = M.metrics_at_prevalence(y, s, 0.6, 0.005, n_boot=0).iloc[0]
    hi = M.metrics_at_prevalence(y, s, 0.6, 0.2, n_boot=0).iloc[0]
    assert lo["precision"] < 0.5 < hi["precision"]
    assert lo["recall"] == hi["recall"]
    assert lo["recall_at_fpr"] == hi["recall_at_fpr"]  # FPR is unchanged by a signal-only re-weighting
    assert lo["average_precision"] < hi["average_precision"]


# --------------------------------------------------------------------------- intervals


@pytest.mark.slow
def test_precision_and_recall_intervals_cover_the_population_value():
    """Wilson-box precision and Wilson recall intervals cover the true (population) values at least
    at the stated level, over 200 labelled sets of the size of the book's test part."""
    threshold, pi, cl = 0.85, 0.005, 0.9
    tpr_true = stats.beta(5, 2).sf(threshold)
    fpr_true = np.mean([stats.beta(a, b).sf(threshold) for a, b in OTHER_BETAS.values()])
    prec_true = pi * tpr_true / (pi * tpr_true + (1 - pi) * fpr_true)
    hit_p = hit_r = 0
    n_sets = 200
    for seed in range(n_sets):
        y, s = synthetic(144, 4_750, seed=100 + seed)
        r = M.metrics_at_prevalence(y, s, threshold, pi, cl=cl, n_boot=0).iloc[0]
        hit_p += r["precision_low"] <= prec_true <= r["precision_high"]
        hit_r += r["recall_low"] <= tpr_true <= r["recall_high"]
    assert hit_p / n_sets >= cl - 0.03
    assert hit_r / n_sets >= cl - 0.05


@pytest.mark.slow
def test_bootstrap_intervals_seeded_and_bracket_estimate():
    y, s = synthetic(144, 2_000, seed=7)
    a = M.metrics_at_prevalence(y, s, 0.5, 0.01, n_boot=100, seed=3)
    b = M.metrics_at_prevalence(y, s, 0.5, 0.01, n_boot=100, seed=3)
    c = M.metrics_at_prevalence(y, s, 0.5, 0.01, n_boot=100, seed=4)
    assert a.equals(b)
    assert a["average_precision_low"].iloc[0] != c["average_precision_low"].iloc[0]
    r = a.iloc[0]
    assert r["average_precision_low"] < r["average_precision"] < r["average_precision_high"]
    assert r["recall_at_fpr_low"] <= r["recall_at_fpr"] <= r["recall_at_fpr_high"]
    assert r["precision_low"] < r["precision"] < r["precision_high"]


def test_precision_interval_stays_open_when_nothing_else_is_selected():
    y, s = synthetic(144, 2_000, seed=8)
    threshold = np.nextafter(s[y != 0].max(), 2.0)  # just above the highest non-signal score
    r = M.metrics_at_prevalence(y, s, threshold, 0.005, n_boot=0).iloc[0]
    assert r["fp"] == 0 and r["tp"] > 0 and r["precision"] == 1.0
    assert r["precision_low"] < 0.9  # a few signal objects and no false positive do not prove purity


# --------------------------------------------------------------------------- prevalence_for


def test_prevalence_for_reproduced_by_a_subsample(big):
    y, s = big
    res = M.prevalence_for(0.8, 0.5, y, s)
    assert res["tpr"] >= 0.5 and res["tpr"] - 0.5 < 1 / res["n_signal"] + 1e-12
    pi = res["prevalence"]
    assert res["prevalence_low"] < pi < res["prevalence_high"]
    # the closed form agrees with the re-weighted precision at that prevalence and threshold
    r = M.metrics_at_prevalence(y, s, res["threshold"], pi, n_boot=0).iloc[0]
    assert r["precision"] == pytest.approx(0.8, abs=1e-9)
    # brute force: a physical subsample at prevalence pi reaches precision 0.8 at that threshold
    sig, oth = np.flatnonzero(y == 0), np.flatnonzero(y != 0)
    n_sig = 2_000
    n_oth = int(round(n_sig * (1 - pi) / pi))
    assert n_oth <= oth.size
    rng = np.random.default_rng(9)
    prec, rec = [], []
    for _ in range(30):
        idx = np.r_[rng.choice(sig, n_sig, replace=False), rng.choice(oth, n_oth, replace=False)]
        sel = s[idx] >= res["threshold"]
        prec.append(precision_score(y[idx] == 0, sel))
        rec.append(np.mean(sel[:n_sig]))
    se = np.std(prec, ddof=1) / np.sqrt(len(prec))
    assert np.mean(prec) == pytest.approx(0.8, abs=4 * se + 0.005)
    assert np.mean(rec) == pytest.approx(0.5, abs=0.01)


def test_prevalence_for_binary_labels_and_observed_precision():
    y, s = synthetic(144, 3_000, seed=11)
    yb = (y == 0).astype(int)
    r7 = M.prevalence_for(0.9, 0.6, y, s)
    rb = M.prevalence_for(0.9, 0.6, yb, s, signal=1)
    assert r7 == rb
    # at its own observed precision the returned prevalence is the observed one
    r = M.prevalence_for(r7["observed_precision"], 0.6, y, s)
    assert r["prevalence"] == pytest.approx(r7["observed_prevalence"], rel=1e-9)


@pytest.mark.parametrize("precision", [0, 1, 1.2, -0.5, float("nan")])
def test_prevalence_for_bad_precision(precision):
    y, s = synthetic(50, 200, seed=12)
    msg = r"precision must be in the open interval \(0, 1\).*got " + str(precision)
    with pytest.raises(ValueError, match=msg):
        M.prevalence_for(precision, 0.5, y, s)


@pytest.mark.parametrize("recall", [0, 1.01, -1])
def test_prevalence_for_bad_recall(recall):
    y, s = synthetic(50, 200, seed=12)
    with pytest.raises(ValueError, match=r"recall must be in \(0, 1\].*got " + str(recall)):
        M.prevalence_for(0.9, recall, y, s)


def test_prevalence_for_no_false_positive_is_an_error():
    y = np.r_[np.zeros(20, int), np.full(500, 3)]
    s = np.r_[np.linspace(0.6, 1, 20), np.linspace(0, 0.5, 500)]  # perfectly separated
    with pytest.raises(ValueError, match=r"FPR = 0.*every prevalence in \(0, 1\)"):
        M.prevalence_for(0.95, 0.76, y, s)


# --------------------------------------------------------------------------- bad prevalence input


@pytest.mark.parametrize("prevalence", [0, 1, 1.5, -0.1, float("nan")])
def test_bad_prevalence_names_value_and_range(prevalence):
    y, s = synthetic(50, 200, seed=13)
    with pytest.raises(ValueError, match=r"open interval \(0, 1\).*got " + str(prevalence)):
        M.metrics_at_prevalence(y, s, 0.5, prevalence)


def test_bad_class_mix():
    y, s = synthetic(50, 200, seed=13)
    good = {0: 0.1, 1: 0.2, 2: 0.2, 3: 0.1, 4: 0.1, 5: 0.1, 6: 0.2}
    with pytest.raises(ValueError, match="sum to 1"):
        M.metrics_at_prevalence(y, s, 0.5, {**good, 6: 0.3})
    with pytest.raises(ValueError, match=r"labels \[6\] occur in y_true but have no share"):
        M.metrics_at_prevalence(y, s, 0.5, {k: v for k, v in good.items() if k != 6} | {1: 0.4})
    with pytest.raises(ValueError, match=r"classes \[7\] have a positive target share but no object"):
        M.metrics_at_prevalence(y, s, 0.5, {**good, 6: 0.1, 7: 0.1})
    with pytest.raises(ValueError, match=r"signal share of the class mix.*\(0, 1\).*got 0.0"):
        M.metrics_at_prevalence(y, s, 0.5, {**good, 0: 0.0, 6: 0.3})
    with pytest.raises(ValueError, match="no signal object"):
        M.metrics_at_prevalence(y[y != 0], s[y != 0], 0.5, 0.01)
    with pytest.raises(ValueError, match="non-finite"):
        M.metrics_at_prevalence(y, np.where(y == 2, np.nan, s), 0.5, 0.01)


# --------------------------------------------------------------------------- prior shift and EM


MEANS = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
TRAIN = np.array([0.6, 0.3, 0.1])


def _gaussian_sample(priors, n, seed):
    rng = np.random.default_rng(seed)
    k = rng.choice(3, size=n, p=priors)
    return MEANS[k] + rng.standard_normal((n, 2))


def _posterior(x, priors):
    like = np.stack([stats.multivariate_normal(m, np.eye(2)).pdf(x) for m in MEANS], axis=1)
    joint = like * priors
    return joint / joint.sum(axis=1, keepdims=True)


def test_prior_shift_is_bayes():
    x = _gaussian_sample(TRAIN, 2_000, seed=20)
    new = np.array([0.2, 0.3, 0.5])
    np.testing.assert_allclose(prior_shift(_posterior(x, TRAIN), TRAIN, new), _posterior(x, new), atol=1e-12)
    p = _posterior(x, TRAIN)
    np.testing.assert_allclose(prior_shift(p, TRAIN, TRAIN), p, atol=1e-15)


@pytest.mark.parametrize("true_priors", [(0.2, 0.3, 0.5), (0.05, 0.9, 0.05), tuple(TRAIN)])
def test_em_recovers_known_priors(true_priors):
    x = _gaussian_sample(np.array(true_priors), 40_000, seed=21)
    est = estimate_priors_em(_posterior(x, TRAIN), TRAIN)
    assert est.converged and est.n_iter > 1
    np.testing.assert_allclose(est.priors, true_priors, atol=0.015)
    assert est.priors.sum() == pytest.approx(1.0)
    # the naive estimate (mean posterior without EM) is biased towards the training priors
    naive = _posterior(x, TRAIN).mean(axis=0)
    if not np.allclose(true_priors, TRAIN):
        assert np.abs(est.priors - true_priors).max() < np.abs(naive - true_priors).max()


def test_em_identity_when_priors_unchanged():
    # posteriors whose mean is exactly the training priors: EM stops at the first step, unchanged
    p = np.array([[0.9, 0.05, 0.05], [0.3, 0.55, 0.15]])
    t = p.mean(axis=0)
    est = estimate_priors_em(p, t)
    assert est.converged and est.n_iter == 1
    np.testing.assert_allclose(est.priors, t, atol=1e-15)


def test_em_reports_non_convergence():
    x = _gaussian_sample(np.array([0.2, 0.3, 0.5]), 5_000, seed=22)
    est = estimate_priors_em(_posterior(x, TRAIN), TRAIN, max_iter=2)
    assert not est.converged and est.n_iter == 2


def test_prior_input_checks():
    p = _posterior(_gaussian_sample(TRAIN, 50, seed=23), TRAIN)
    with pytest.raises(ValueError, match="sum to 1"):
        prior_shift(p, TRAIN, [0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match=r"open interval \(0, 1\); class 0 has 0.0"):
        prior_shift(p, TRAIN, [0.0, 0.5, 0.5])
    with pytest.raises(ValueError, match=r"one entry per class \(3\)"):
        estimate_priors_em(p, [0.5, 0.5])
    bad = p.copy()
    bad[7] *= 0.5
    with pytest.raises(ValueError, match=r"rows must sum to 1.*first rows: \[7\]"):
        estimate_priors_em(bad, TRAIN)
    bad = p.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"first rows: \[3\]"):
        prior_shift(bad, TRAIN, TRAIN)
    with pytest.raises(ValueError, match="shape"):
        prior_shift(p[:, 0], TRAIN, TRAIN)
    with pytest.raises(ValueError, match="tol"):
        estimate_priors_em(p, TRAIN, tol=0)
