"""Difficulty parity (issue #13, dwarflib.sky.parity) on small synthetic frames."""

import numpy as np
import pandas as pd
import pytest

from dwarflib.sky import parity as P
from dwarflib.verification import FeatureTable


def _colour_frame(n_signal, n_other, shift, seed):
    """A labelled colour frame: signal (CLASS 0) offset by ``shift`` [mag] in g-r and r-z from the rest."""
    rng = np.random.default_rng(seed)
    n = n_signal + n_other
    df = pd.DataFrame({c: rng.normal(0.0, 0.3, n) for c in P.PARITY_FEATURES})
    df["r"] += 17.0
    cls = np.r_[np.zeros(n_signal, int), rng.integers(1, 7, n_other)]
    df.loc[cls == 0, ["gr", "rz"]] += shift
    df["CLASS"] = cls
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def test_separable_task_reaches_ap_near_one():
    s = P.colour_task_scores(_colour_frame(60, 1500, 5.0, 1), seed=0, n_boot=50)
    assert s["average_precision"] > 0.95
    assert s["recall_at_fpr"] > 0.9
    assert s["n_signal"] == 60 and s["n_other"] == 1500
    assert s["average_precision_low"] <= s["average_precision"] <= s["average_precision_high"]


@pytest.mark.slow
def test_identical_samples_pass_and_shifted_sim_fails():
    real = _colour_frame(60, 1500, 0.25, 2)
    same = P.parity_summary(P.colour_parity_table(real, real, n_draws=2, seed=0, n_boot=200))
    assert same.passed.all(), same
    assert (same.n_signal == 60).all() and (same.n_draws == 2).all()
    easier = _colour_frame(80, 2000, 3.0, 3)  # the simulated signal is far easier to find
    tab = P.colour_parity_table(real, easier, n_draws=2, seed=0, n_boot=200)
    assert (tab[tab["sample"] == "simulated"].n_signal == 60).all()  # drawn at the real counts
    shifted = P.parity_summary(tab).set_index("metric")
    assert not shifted.loc["average_precision", "passed"]
    assert shifted.loc["average_precision", "sim_median"] > shifted.loc["average_precision", "real_high"]


@pytest.mark.slow
def test_class_weight_reaches_the_model():
    df = _colour_frame(40, 1500, 0.4, 6)
    balanced = P.colour_task_scores(df, seed=0)
    unweighted = P.colour_task_scores(df, seed=0, class_weight=None)
    assert balanced["average_precision"] != unweighted["average_precision"]
    np.testing.assert_equal(balanced, P.colour_task_scores(df, seed=0))  # same seed, same result


def test_parity_summary_rule():
    def tidy(sim_values):
        rows = [{"sample": "real", "draw": -1, "metric": m, "value": 0.1, "low": 0.08, "high": 0.15,
                 "n_signal": 100, "n_other": 1000} for m in P.PARITY_METRICS]
        rows += [{"sample": "simulated", "draw": d, "metric": m, "value": v, "low": np.nan, "high": np.nan,
                  "n_signal": 100, "n_other": 1000} for d, v in enumerate(sim_values) for m in P.PARITY_METRICS]
        return pd.DataFrame(rows)

    ok = P.parity_summary(tidy([0.09, 0.12, 0.2]))
    assert ok.passed.all() and np.allclose(ok.share_inside, 2 / 3) and np.allclose(ok.sim_median, 0.12)
    bad = P.parity_summary(tidy([0.13, 0.2, 0.24]))  # median outside the real interval
    assert not bad.passed.any()
    with pytest.raises(ValueError, match="simulated draw"):
        P.parity_summary(tidy([]))


def test_subsample_at_counts_names_the_shortfall():
    df = _colour_frame(10, 200, 0.0, 4)
    sub = P.subsample_at_counts(df, 5, 50, seed=1)
    assert (sub.CLASS == 0).sum() == 5 and len(sub) == 55
    assert sub.equals(P.subsample_at_counts(df, 5, 50, seed=1))
    with pytest.raises(ValueError, match="10 signal"):
        P.subsample_at_counts(df, 11, 50, seed=1)
    with pytest.raises(KeyError, match="CLASS"):
        P.colour_task_scores(df.drop(columns="CLASS"))


def _table(z, logm, r):
    n = len(z)
    return FeatureTable("sweep", pd.DataFrame({"r": r}), np.full(n, "", dtype=object), np.asarray(logm, float),
                        np.asarray(z, float), np.arange(n).astype(str))


def test_match_nearest_finds_scaled_neighbours():
    real = pd.DataFrame({"z": [0.005, 0.015], "logmstar": [7.0, 8.5], "r": [18.0, 16.0]})
    sim = pd.DataFrame({"z": [0.015, 0.0051, 0.9, np.nan], "logmstar": [8.4, 7.1, 7.0, 7.0], "r": [16.2, 18.1, 18, 18]})
    assert P.match_nearest(real, sim, k=1).ravel().tolist() == [1, 0]
    with pytest.raises(ValueError, match="real rows"):
        P.match_nearest(real.assign(r=[np.nan, 1.0]), sim, k=1)


def test_satellite_recall_parity_same_model_passes_shifted_fails():
    rng = np.random.default_rng(5)
    n_sim, n_real = 4000, 300
    y_sim = np.where(rng.random(n_sim) < 0.1, 0, 3)
    sim = _table(rng.uniform(0.004, 0.02, n_sim), rng.uniform(6, 9, n_sim), rng.uniform(14, 20.5, n_sim))
    # scores: signal above the rest half the time -> recall ~0.5 at a modest precision
    p_sim = np.where(y_sim == 0, rng.random(n_sim), 0.6 * rng.random(n_sim))
    real = _table(rng.uniform(0.004, 0.02, n_real), rng.uniform(6, 9, n_real), rng.uniform(14, 20.5, n_real))
    p_real = rng.random(n_real)  # drawn like the simulated signal's scores
    mask = np.ones(n_real, bool)
    tab = P.satellite_recall_parity(p_real, real, mask, p_sim, sim, y_sim, target_precision=0.5, k=5,
                                    logm_bins=(6, 7.5, 9), r_bins=(14, 17, 20.5))
    assert len(tab) == 4 and set(tab.binning) == {"log M*", "r"}
    assert (tab.sim_precision >= 0.5).all()
    assert tab.passed.all(), tab
    missed = P.satellite_recall_parity(0.1 * p_real, real, mask, p_sim, sim, y_sim, target_precision=0.5,
                                       k=5, logm_bins=(6, 7.5, 9), r_bins=(14, 17, 20.5))
    assert not missed.passed.any() and (missed.recall_real == 0).all()
    rows = P.parity_report_rows(satellite_tables=[missed])
    assert len(rows) == 4 and not rows.passed.any()
    assert {"criterion", "quantity", "real", "simulated", "threshold", "passed"} <= set(rows.columns)


def test_satellite_parity_matches_within_the_simulated_satellites():
    """With a pool (the simulated satellites of a sky with an environment) the real rows are matched only to
    simulated signal galaxies of the pool: a pool whose galaxies are all missed gives simulated recall 0, while the
    match over all rows recovers most; the threshold stays the one set on every simulated row."""
    rng = np.random.default_rng(6)
    n_sim, n_real = 4000, 300
    y_sim = np.where(rng.random(n_sim) < 0.2, 0, 3)
    sim = _table(rng.uniform(0.004, 0.02, n_sim), rng.uniform(6, 9, n_sim), rng.uniform(14, 20.5, n_sim))
    pool = rng.random(n_sim) < 0.3
    p_sim = np.where(y_sim == 0, np.where(pool, 0.0, 0.5 + 0.5 * rng.random(n_sim)), 0.4 * rng.random(n_sim))
    real = _table(rng.uniform(0.004, 0.02, n_real), rng.uniform(6, 9, n_real), rng.uniform(14, 20.5, n_real))
    args = (rng.random(n_real), real, np.ones(n_real, bool), p_sim, sim, y_sim)
    kw = dict(target_precision=0.5, k=5, logm_bins=(6, 7.5, 9), r_bins=(14, 17, 20.5))
    field = P.satellite_recall_parity(*args, **kw)
    sats = P.satellite_recall_parity(*args, **kw, sim_pool=pool, sim_kind="satellites")
    assert (field.sim_kind == "field").all() and (sats.sim_kind == "satellites").all()
    assert (field.recall_sim > 0.5).all() and (sats.recall_sim == 0).all()  # field: ~0.7 (the pool is 30 %)
    assert np.array_equal(field.threshold, sats.threshold)
    with pytest.raises(ValueError, match="sim_pool has"):
        P.satellite_recall_parity(*args, **kw, sim_pool=pool[:10])
