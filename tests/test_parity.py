"""Difficulty parity (issue #13, dwarflib.sky.parity) on small synthetic frames."""

import numpy as np
import pandas as pd
import pytest

from dwarflib.metrics import difference_interval
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
    real = pd.DataFrame({"logmstar": [7.0, 8.5], "r": [18.0, 16.0]})
    sim = pd.DataFrame({"logmstar": [8.4, 7.1, 7.0, 7.0], "r": [16.2, 18.1, 25.0, np.nan]})
    assert P.match_nearest(real, sim, k=1).ravel().tolist() == [1, 0]
    with pytest.raises(ValueError, match="real rows"):
        P.match_nearest(real.assign(r=[np.nan, 1.0]), sim, k=1)


def test_match_within_hosts_never_crosses_hosts():
    real = pd.DataFrame({"logmstar": [7.0, 7.0], "r": [18.0, 18.0]})
    sim = pd.DataFrame({"logmstar": [7.0, 9.0, 9.0, 7.0], "r": [18.0, 14.0, 14.5, 18.0]})
    # host b's own rows are far in (log M*, r), yet the real row of host b must take them
    nn = P.match_within_hosts(real, ["a", "b"], sim, ["a", "b", "b", "a"], k=2)
    assert sorted(nn[0]) == [0, 3] and sorted(nn[1]) == [1, 2]
    with pytest.raises(ValueError, match="host 'c': 0 simulated"):
        P.match_within_hosts(real, ["a", "c"], sim, ["a", "b", "b", "a"], k=1)


def _satellites(rng, n, hosts):
    """A FeatureTable of satellites with log M* in 5.5-9.5 (some outside the signal range) and r from it."""
    logm = rng.uniform(5.5, 9.5, n)
    return _table(np.full(n, 0.008), logm, 27.0 - 1.2 * logm + rng.normal(0, 0.3, n)), rng.choice(hosts, n)


def test_satellite_recall_parity_same_scores_pass_shifted_fail():
    rng = np.random.default_rng(5)
    hosts = np.array(["h1", "h2", "h3"])
    sim, sim_host = _satellites(rng, 6000, hosts)
    real, real_host = _satellites(rng, 300, hosts)
    p_sim, p_real = rng.random(6000), rng.random(300)  # the same score distribution: recall ~0.5 at 0.5
    mask = real.in_signal()
    kw = dict(threshold=0.5, sim_precision=0.3, k=5, logm_bins=(6, 7.5, 9), r_bins=(14, 17, 21))
    tab = P.satellite_recall_parity(p_real, real, mask, real_host, p_sim, sim, sim_host, **kw)
    assert len(tab) == 5 and set(tab.binning) == {"log M*", "r", "all"}
    assert (tab.sim_precision == 0.3).all() and (tab.n_real > 0).all()
    assert (tab.n_sim > 2 * tab.n_real).all()  # five neighbours each, few shared
    assert tab.passed.all(), tab
    assert ((tab.difference_low <= tab.difference) & (tab.difference <= tab.difference_high)).all()
    pooled = tab[tab.binning == "all"].iloc[0]
    assert pooled.n_real == mask.sum() and pooled.k_real == tab[tab.binning == "log M*"].k_real.sum()
    assert P.simultaneous_verdict(tab).passed.all()
    missed = P.satellite_recall_parity(0.1 * p_real, real, mask, real_host, p_sim, sim, sim_host, **kw)
    assert not missed.passed.any() and (missed.recall_real == 0).all()
    verdict = P.simultaneous_verdict(missed).iloc[0]
    assert verdict.n_bins == 4 and verdict.n_failed_simultaneous == 4 and not verdict.passed
    rows = P.parity_report_rows(satellite_tables=[missed])
    assert len(rows) == 6 and not rows.passed.any()
    assert {"criterion", "quantity", "real", "simulated", "threshold", "passed"} <= set(rows.columns)


def test_satellite_recall_parity_pool_is_the_signal_range_and_the_r_limit():
    """Simulated satellites outside 6 <= log M* < 9 (in the table's mass system) or fainter than r_max never
    enter the pool: scoring every such row 1 and the others 0 gives a simulated recall of 0."""
    rng = np.random.default_rng(6)
    hosts = np.array(["h1", "h2"])
    sim, sim_host = _satellites(rng, 4000, hosts)
    real, real_host = _satellites(rng, 200, hosts)
    r = sim.features["r"].to_numpy()
    outside = ~sim.in_signal() | (r >= 19.0)
    tab = P.satellite_recall_parity(rng.random(200), real, real.in_signal() & (real.features["r"] < 19.0),
                                    real_host, outside.astype(float), sim, sim_host, threshold=0.5,
                                    sim_precision=0.3, r_max=19.0, logm_bins=(6, 9), r_bins=(12, 19))
    assert (tab.recall_sim == 0).all() and (tab.n_sim > 0).all()


def test_newcombe_difference_interval_reproduces_the_published_examples():
    """Newcombe (1998), Stat. Med. 17, 873, table II, method 10: (a) 56/70 - 48/80, (b) 9/10 - 3/10,
    (f) 5/56 - 0/29."""
    from dwarflib.metrics import difference_interval

    for counts, (lo, hi) in (((56, 70, 48, 80), (0.0524, 0.3339)), ((9, 10, 3, 10), (0.1705, 0.8090)),
                             ((5, 56, 0, 29), (-0.0381, 0.1926))):
        d, low, high = difference_interval(*counts)
        assert d == pytest.approx(counts[0] / counts[1] - counts[2] / counts[3])
        assert (low, high) == pytest.approx((lo, hi), abs=6e-5)
    assert np.isnan(difference_interval(0, 0, 1, 2)[0])


def test_redshift_of_distmod_inverts_the_sky_distance_modulus():
    from dwarflib.sky.physics import distmod, redshift_of_distmod

    dm = np.array([28.0, 31.5, 33.05, 36.0])
    np.testing.assert_allclose(distmod(redshift_of_distmod(dm)), dm, atol=1e-4)
    assert np.isnan(redshift_of_distmod([-5.0])).all()


def test_mock_satellite_survey_puts_satellites_at_their_hosts_distances():
    from dwarflib.sky.physics import load_sky_model
    from dwarflib.sky.samples import mock_satellite_survey
    from dwarflib.sky.satellites import load_satellite_model
    from dwarflib.survey_io import flux_to_mag

    model, sat = load_sky_model(), load_satellite_model()
    dm = np.array([31.0, 33.0])
    # 1000 systems per host: about 1000 satellites above log M* 8.5 each, so that the medians below are
    # known to about 0.05 mag (with 150 systems they scatter by 0.17 mag between seeds)
    a = mock_satellite_survey(dm, 1000, 1, model, sat)
    b = mock_satellite_survey(dm, 1000, 1, model, sat)
    assert np.array_equal(a["FLUX_R"], b["FLUX_R"]) and np.array_equal(a["HOST"], b["HOST"])  # same seed
    assert set(np.unique(a["HOST"])) == {0, 1} and a["SYSTEM"].max() == 1999
    np.testing.assert_array_equal(a["HOST_DISTMOD"], dm[a["HOST"]])
    abs_r = flux_to_mag(a["FLUX_R"], a["MW_TRANSMISSION_R"]) - a["HOST_DISTMOD"]  # NaN: no r data (NOBS_R = 0)
    massive = a["LOGMSTAR"] > 8.5  # visible at both distances: the same absolute magnitudes
    m0, m1 = (np.nanmedian(abs_r[massive & (a["HOST"] == h)]) for h in (0, 1))
    assert abs(m1 - m0) < 0.2, (m0, m1)
    assert (a["HOST"] == 0).sum() > (a["HOST"] == 1).sum()  # the nearer host shows more of its faint satellites
    with pytest.raises(ValueError, match="outside the sky's distance table"):
        mock_satellite_survey([-3.0], 2, 0, model, sat)


@pytest.mark.slow
def test_satellite_parity_on_a_small_sky(small_sky):
    """End to end on the session sky: SAGA's verification half and ELVES against simulated satellites of
    their own hosts, every bin with real and simulated satellites, thresholds at the stated precision."""
    # a stated precision that the small sky's few held-out signal galaxies reach (0.029 at best on sky
    # version 10; the book's sky reaches PARITY_PRECISION)
    tab = P.satellite_parity(small_sky, seed=0, n_per_host=12, n_estimators=30, max_per_class=1000,
                             target_precision=0.02)
    assert set(tab.survey) == {"SAGA", "ELVES"}
    full, split = tab, tab[tab.population != "all"]
    tab = tab[tab.population == "all"]
    assert (tab.groupby("survey").size() == 9).all()  # 3 log M* bins, 5 r bins, the pooled row
    # SAGA alone is split by population (3 log M* bins and the pooled row each), with its halves reference
    assert set(split.survey) == {"SAGA"} and len(split) == 8 and set(split.binning) == {"log M*", "all"}
    assert split.groupby("population").n_real.max().sum() == tab[(tab.survey == "SAGA") & (tab.binning == "all")].n_real.iloc[0]
    assert split.n_calibration.notna().all()
    assert (tab.sim_precision >= 0.02).all()
    has = tab.n_real > 0
    assert has.sum() >= 16 and (tab.n_sim[has] > 0).all()
    assert tab.passed[has].notna().all()
    # SAGA's rows carry the real-against-real reference (its calibration half), ELVES's do not
    saga = full[full.survey == "SAGA"]
    assert (saga.n_calibration > 0).all() and saga.halves_passed.notna().all()
    assert tab[tab.survey == "ELVES"].recall_calibration.isna().all()
    # the other fold checks the calibration half, with the verification half as the reference
    swapped = P.satellite_parity(small_sky, surveys=("SAGA",), seed=0, n_per_host=12, n_estimators=30,
                                 max_per_class=1000, target_precision=0.02, half="calibration")
    assert swapped.n_real.tolist() == saga.n_calibration.tolist()
    assert swapped.n_calibration.tolist() == saga.n_real.tolist()
    assert swapped.recall_real.tolist() == saga.recall_calibration.tolist()


def test_population_split_matches_twins_of_the_same_population():
    """Star-forming rows always selected, quenched never, on both skies: matched within its population each
    real row's twins share its fate (recall 1 and 0 on both sides), while the unsplit twins of a quenched
    real row are mostly star-forming. The split rows are information: outside the verdict and the report's
    pass counts."""
    from dataclasses import replace

    rng = np.random.default_rng(8)
    hosts = np.array(["h1", "h2"])
    sim, sim_host = _satellites(rng, 4000, hosts)
    real, real_host = _satellites(rng, 200, hosts)
    pop_sim, pop_real = (rng.random(4000) < 0.2).astype(int), (rng.random(200) < 0.4).astype(int)
    sim, real = replace(sim, flags=pd.DataFrame({"POP": pop_sim})), replace(real, flags=pd.DataFrame({"POP": pop_real}))
    p_sim, p_real = 1.0 - pop_sim, 1.0 - pop_real
    mask = real.in_signal()
    kw = dict(threshold=0.5, sim_precision=0.3, k=5, logm_bins=(6, 7.5, 9))
    split = P.population_recall_parity(p_real, real, mask, real_host, p_sim, sim, sim_host, **kw)
    assert set(split.population) == set(P.POPULATIONS.values()) and set(split.binning) == {"log M*", "all"}
    pooled = split[split.binning == "all"].set_index("population")
    assert pooled.loc["star-forming", "n_real"] == (mask & (pop_real == 0)).sum()
    assert pooled.loc["quenched", "n_real"] == (mask & (pop_real == 1)).sum()
    assert (pooled.loc["star-forming", ["recall_real", "recall_sim"]] == 1).all()
    assert (pooled.loc["quenched", ["recall_real", "recall_sim"]] == 0).all()
    unsplit = P.satellite_recall_parity(p_real, real, mask, real_host, p_sim, sim, sim_host, **kw, r_bins=())
    assert unsplit[unsplit.binning == "all"].recall_sim.iloc[0] > unsplit[unsplit.binning == "all"].recall_real.iloc[0]
    # a failing population row changes neither the verdict nor the report's judged rows
    tab = pd.concat([unsplit.assign(population="all"),
                     split.assign(passed=False, difference_low=0.1, difference_high=0.2)], ignore_index=True)
    assert P.simultaneous_verdict(tab).n_bins.iloc[0] == 2
    rows = P.parity_report_rows(satellite_tables=[tab])
    info = rows.criterion.str.contains("satellites \\(information\\)")
    assert info.sum() == len(split) and rows.passed[info].isna().all()
    assert rows.criterion[info].str.contains("quenched").any()


def test_saga_rows_carry_the_quenched_flag():
    from dwarflib import registry
    from dwarflib.sky.samples import SAGA_HALVES, saga_host_half

    t = registry.load_saga_satellites()
    half = saga_host_half(t["HOSTID"])
    for h in SAGA_HALVES:
        real, host = P.parity_real_rows("SAGA", half=h)
        quenched = np.asarray(t["quenched"])[half == SAGA_HALVES.index(h)]
        assert len(real) == len(host) == len(quenched) and real.flags["POP"].tolist() == quenched.tolist()


def test_halves_reference_counts_each_half_in_the_parity_bins():
    """Real against real: 20 of 40 verification rows and 30 of 40 calibration rows selected at log M* 7.5,
    r 17.5; the pooled row holds them all, empty bins are not judged, and the difference interval is
    Newcombe's."""
    ver, cal = (_table(np.full(40, 0.008), np.full(40, 7.5), np.full(40, 17.5)) for _ in range(2))
    p_ver, p_cal = np.r_[np.ones(20), np.zeros(20)], np.r_[np.ones(30), np.zeros(10)]
    ref = P.halves_recall_reference(p_ver, ver, np.ones(40, bool), p_cal, cal, np.ones(40, bool), 0.5)
    assert len(ref) == 9
    row = ref.set_index(["binning", "bin"]).loc[("log M*", "[7, 8)")]
    d, lo, hi = difference_interval(20, 40, 30, 40)
    assert row.recall_calibration == 0.75 and row.halves_difference == pytest.approx(d)
    assert (row.halves_difference_low, row.halves_difference_high) == (pytest.approx(lo), pytest.approx(hi))
    assert row.halves_passed == (lo <= 0 <= hi)
    pooled = ref[ref.binning == "all"].iloc[0]
    assert pooled.n_calibration == 40 and pooled.k_calibration == 30
    assert ref[ref.n_calibration == 0].halves_passed.isna().all()
    with pytest.raises(ValueError, match="half='third'"):
        P.parity_real_rows("SAGA", half="third")


def test_sky_models_refuses_a_sky_made_with_another_model(tmp_path):
    (tmp_path / "summary.json").write_text('{"model_version": "0000000000"}')
    with pytest.raises(ValueError, match="was made with sky model 0000000000"):
        P.sky_models(tmp_path)


def test_simultaneous_verdict_forgives_one_marginal_bin_of_four():
    """20/40 real against 135/200 simulated: the single-bin 95 % interval of the difference excludes 0
    ([-0.335, -0.012]), the Bonferroni one for four bins (98.75 %) does not; the pooled row is ignored."""
    def row(binning, k_r, k_s):
        d, lo, hi = difference_interval(k_r, 40, k_s, 200)
        return {"survey": "SAGA", "binning": binning, "n_real": 40, "k_real": k_r, "n_sim": 200, "k_sim": k_s,
                "difference_low": lo, "difference_high": hi, "passed": lo <= 0 <= hi}

    from dwarflib.metrics import difference_interval

    tab = pd.DataFrame([row("log M*", 20, 135), row("log M*", 26, 130), row("r", 27, 135), row("r", 26, 130),
                        row("all", 0, 200)])
    v = P.simultaneous_verdict(tab).iloc[0]
    assert (v.n_bins, v.n_failed_single, v.n_failed_simultaneous) == (4, 1, 0) and v.passed
    assert v.confidence == pytest.approx(0.9875)


def test_mock_saga_frame_is_a_simulated_saga_survey_of_each_half():
    """The SAGA-like table of the simulated SAGA survey: the hosts of the requested half only, SAGA's
    photometric limit, SAGA's masses, and both populations."""
    from dwarflib.selections import SAGA
    from dwarflib.sky.samples import SAGA_HALVES, mock_saga_frame, saga_frame, saga_host_half

    real = saga_frame("verification")
    sim = mock_saga_frame("verification", n_per_host=3, seed=2)
    assert set(sim.HOSTID) == set(real.HOSTID)  # every host of the half has satellites in the mock
    assert (sim.HALF == SAGA_HALVES.index("verification")).all()
    # the halves are those of the satellite table (saga_host_half depends on the set of hosts it is given)
    everyone = saga_frame()
    assert np.array_equal(everyone.HALF, saga_host_half(everyone.HOSTID))
    assert (sim.r < SAGA.r_max).all() and set(sim.POP) == {"SF", "Q"}
    assert {"gr", "sb", "fib_minus_tot", "Z", "LOGMSTAR"} <= set(sim.columns)
    both = mock_saga_frame(None, n_per_host=1, seed=2)
    assert set(both.HALF) == {0, 1}
    with pytest.raises(ValueError, match="half='third'"):
        mock_saga_frame("third")


@pytest.mark.slow
def test_edr_parity_draws_from_a_pool_made_with_the_skys_models(small_sky, tmp_path):
    """The simulated side of the EDR task is a pool of BGS-like targets drawn with the sky's models, seeded by
    the sky's seed (the same sky gives the same pool, another seed another); the parity table holds the real
    row and the draws at the real counts, drawn from that pool."""
    import json
    import shutil

    from dwarflib.labels import SIGNAL
    from dwarflib.selections import BGS_BRIGHT

    pool = P.simulated_bgs_pool(small_sky, n_sources=60_000, chunk=25_000)
    assert len(pool) > 10_000 and BGS_BRIGHT.mask(pool.r, pool.Z).all()
    assert pool.equals(P.simulated_bgs_pool(small_sky, n_sources=60_000, chunk=25_000))
    other = tmp_path / "other-seed"
    other.mkdir()
    summary = json.loads((small_sky / "summary.json").read_text())
    (other / "summary.json").write_text(json.dumps({**summary, "seed": summary["seed"] + 1}))
    assert not pool.equals(P.simulated_bgs_pool(other, n_sources=60_000, chunk=25_000))
    shutil.rmtree(other)
    n_signal = int((pool.CLASS == SIGNAL).sum())
    assert n_signal >= 10
    edr = _colour_frame(10, 3000, 0.5, 3)
    tidy = P.edr_colour_parity(small_sky, n_draws=2, seed=0, n_boot=20, edr=edr, pool=pool)
    assert set(tidy["sample"]) == {"real", "simulated"} and (tidy.n_signal == 10).all()
    assert tidy.attrs["n_sim_signal"] == n_signal and (tidy.draw.max() == 1)


def test_mock_sky_chunk_draws_satellites_only_when_asked():
    """Without a satellite model the mock is the field sky it always was (an integer seed and the same seed in
    a sequence give the same rows); with one, satellite systems replace field galaxies, the row count kept."""
    from dwarflib.sky.physics import load_sky_model
    from dwarflib.sky.samples import mock_sky_chunk
    from dwarflib.sky.satellites import load_satellite_model

    model = load_sky_model()
    sweep, truth = mock_sky_chunk(model, 20_000, 5, r_limit=19.9)
    again, _ = mock_sky_chunk(model, 20_000, [5], r_limit=19.9)
    assert np.array_equal(sweep["FLUX_R"], again["FLUX_R"]) and "IS_SATELLITE" not in truth
    s_sweep, s_truth = mock_sky_chunk(model, 20_000, 5, r_limit=19.9, sat=load_satellite_model())
    assert len(s_sweep["FLUX_R"]) == 20_000 and s_truth["IS_SATELLITE"].any()


def test_elves_mock_is_selected_by_elves_completeness_not_dr9_detection():
    from dwarflib.sky.physics import load_sky_model
    from dwarflib.sky.samples import (
        DEEP_MINUS_TRACTOR_MU_EFF,
        ELVES_MU0_V_LIMIT,
        ELVES_MV_LIMIT,
        elves_survey_selection,
        mock_satellite_survey,
        mock_survey_features,
        survey_host_distmod,
    )
    from dwarflib.sky.satellites import load_satellite_model
    from dwarflib.verification import v_minus_r

    # rows straddling each limit: a satellite at 10 Mpc (distance modulus 30) with g - r = 0.5, Sersic n = 1
    dm, gr, n = 30.0, 0.5, 1.0
    mu_mean_minus_0 = 1.1244  # Sersic n = 1: mean SB inside r_e minus the central SB [mag]
    r_at_mv = ELVES_MV_LIMIT + dm - float(v_minus_r(gr))
    mu_at_limit = ELVES_MU0_V_LIMIT + mu_mean_minus_0 - float(v_minus_r(gr))
    # the limit applies to the SB ELVES measures: radii larger than the sky's (Tractor-system) ones
    mu_at_limit -= DEEP_MINUS_TRACTOR_MU_EFF
    mock = {"GR_TRUE": np.full(4, gr), "SERSIC_TRUE": np.full(4, n), "HOST_DISTMOD": np.full(4, dm),
            "R_TRUE": np.array([r_at_mv - 0.1, r_at_mv + 0.1, r_at_mv - 1, r_at_mv - 1]),
            "MU_EFF_R_TRUE": np.array([mu_at_limit - 1, mu_at_limit - 1, mu_at_limit - 0.01, mu_at_limit + 0.01])}
    assert elves_survey_selection(mock).tolist() == [True, False, True, False]
    # the mock keeps satellites that DR9's Tractor would not detect, as ELVES's own detection does
    dm_host = survey_host_distmod("ELVES").loc[["M31"]].to_numpy()
    full = mock_satellite_survey(dm_host, 30, 0, load_sky_model(), load_satellite_model(), keep_all=True)
    sel = elves_survey_selection(full)
    assert (sel & ~full["DETECTED"]).any()
    ft, host = mock_survey_features("ELVES", ["M31"], n_per_host=30, seed=0)
    assert len(ft.z) == len(host) == sel.sum() and set(host) == {"M31"}


def test_simulated_elves_rows_are_measured_as_elves_measures_and_read_like_the_real_table(monkeypatch):
    from dwarflib import registry
    from dwarflib import verification as V
    from dwarflib.sky import samples
    from dwarflib.sky.physics import load_sky_model
    from dwarflib.sky.satellites import load_satellite_model
    from dwarflib.stellar_mass import logmstar_of_table

    hosts = registry.load_elves_hosts_csv()
    name = "M31"
    dm = samples.survey_host_distmod("ELVES").loc[[V.host_key(name)]].to_numpy()
    mock = samples.mock_satellite_survey(dm, 20, 0, load_sky_model(), load_satellite_model(), keep_all=True)
    n = len(mock["R_TRUE"])
    # without noise the reader gives back the true r and g - r, and the true radius times the deep offset
    monkeypatch.setattr(samples, "ELVES_ERRORS", {"g": 0.0, "r": 0.0, "re_rel": 0.0})
    ft = V.restricted_features(samples.elves_table_rows(mock, [V.host_key(name)] * n, hosts), "elves", hosts=hosts)
    assert ft.usable.all() and list(ft.features.columns) == list(V.TABLE_FEATURES["elves"])
    np.testing.assert_allclose(ft.features["r"], mock["R_TRUE"], atol=1e-9)
    np.testing.assert_allclose(ft.features["g_r"], mock["GR_TRUE"], atol=1e-9)
    expected_mu = V.mu_eff(mock["R_TRUE"], mock["RE_TRUE"] * 10**samples.DEEP_MINUS_TRACTOR_LOG_RE)
    np.testing.assert_allclose(ft.features["mu_eff_r"], expected_mu, atol=1e-9)
    np.testing.assert_allclose(ft.logmstar, logmstar_of_table("ELVES", mock["GR_TRUE"], mock["R_TRUE"] - dm[0]),
                               atol=1e-9)
    # with ELVES's quoted noise: the scatter of r about the truth is the quoted one
    monkeypatch.undo()
    noisy = V.restricted_features(samples.elves_table_rows(mock, [V.host_key(name)] * n, hosts, seed=1), "elves",
                                  hosts=hosts)
    resid = noisy.features["r"].to_numpy() - mock["R_TRUE"]
    assert np.std(resid) == pytest.approx(samples.ELVES_ERRORS["r"], rel=0.15)
    re_measured = 10 ** (0.2 * (noisy.features["mu_eff_r"] - noisy.features["r"]).to_numpy()) / np.sqrt(2 * np.pi)
    log_ratio = np.log(re_measured / (mock["RE_TRUE"] * 10**samples.DEEP_MINUS_TRACTOR_LOG_RE))
    assert abs(np.mean(log_ratio)) < 0.02
    assert np.std(log_ratio) == pytest.approx(samples.ELVES_ERRORS["re_rel"], rel=0.15)
    # back in the Tractor system: the true (sky) mean SB of the noise-free rows, other features untouched
    tractor = samples.in_tractor_size_system(ft)
    np.testing.assert_allclose(tractor.features["mu_eff_r"], V.mu_eff(mock["R_TRUE"], mock["RE_TRUE"]), atol=1e-9)
    assert tractor.features[["r", "g_r"]].equals(ft.features[["r", "g_r"]])


@pytest.mark.slow
def test_two_sample_auc_is_half_for_one_distribution_and_high_for_two():
    rng = np.random.default_rng(7)
    a = pd.DataFrame({"x": rng.normal(0, 1, 300), "y": rng.normal(0, 1, 300)})
    b = pd.DataFrame({"x": rng.normal(0, 1, 300), "y": rng.normal(0, 1, 300)})
    assert P.two_sample_auc(a, b, ["x", "y"]) == pytest.approx(0.5, abs=0.07)
    # same medians, different widths: a median comparison would pass, the classifier does not
    wide = pd.DataFrame({"x": rng.normal(0, 3, 300), "y": rng.normal(0, 1, 300)})
    assert P.two_sample_auc(a, wide, ["x", "y"]) > 0.75
    assert P.two_sample_auc(a, wide, ["x", "y"], permute=True) == pytest.approx(0.5, abs=0.07)
    assert P.two_sample_auc(a, wide, ["y"]) == pytest.approx(0.5, abs=0.07)


def test_published_grid_rounds_both_samples_where_the_real_column_is_rounded():
    rng = np.random.default_rng(3)
    gmag, rmag = np.round(rng.uniform(15, 20, 200), 2), np.round(rng.uniform(15, 20, 200), 2)
    real = pd.DataFrame({"g_r": gmag - rmag, "mu": rng.normal(24, 1, 200)})  # a difference keeps the grid
    sim = pd.DataFrame({"g_r": rng.normal(0.4, 0.1, 300), "mu": rng.normal(24, 1, 300)})
    assert P.published_decimals(real.g_r) == 2 and P.published_decimals(real.mu) is None
    assert P.published_decimals([1.0, 2.0, np.nan]) == 0
    real_before, sim_before = real.copy(), sim.copy()
    r2, s2 = P.on_published_grid(real, sim)
    pd.testing.assert_frame_equal(real, real_before)  # the inputs are not changed
    pd.testing.assert_frame_equal(sim, sim_before)
    assert np.array_equal(s2.g_r, np.round(sim.g_r, 2)) and np.array_equal(s2.mu, sim.mu)
    assert np.array_equal(r2.mu, real.mu) and np.abs(r2.g_r - real.g_r).max() < 1e-6
    # the float noise of the difference is gone: real values sit exactly on the grid the twins are put on
    assert not np.array_equal(real.g_r, np.round(real.g_r, 2)) and np.array_equal(r2.g_r, np.round(r2.g_r, 2))


def test_parity_real_rows_are_the_verification_half_of_saga_and_elves_without_i_band_rows():
    from dwarflib.sky.samples import SAGA_HALVES, saga_host_half

    saga, host = P.parity_real_rows("SAGA")
    assert len(saga) == len(host) and set(saga_host_half(host)) == {SAGA_HALVES.index("verification")}
    elves, elves_host = P.parity_real_rows("ELVES")
    assert len(elves) == len(elves_host)
    gi = elves.flags["filt"].to_numpy() == "gi"
    assert gi.any() and not elves.usable[gi].any()
    with pytest.raises(ValueError, match="SAGA' or 'ELVES"):
        P.parity_real_rows("LVDB")


@pytest.mark.slow
def test_satellite_two_sample_table_compares_real_rows_with_their_twins():
    elves, host = P.parity_real_rows("ELVES")
    rows = elves.in_signal() & elves.usable
    tab = P.satellite_two_sample_table(elves, rows, host, "ELVES", n_per_host=5)
    assert tab.features.tolist() == ["r + g_r + mu_eff_r", "r", "g_r", "mu_eff_r"]
    assert (tab.n_real == rows.sum()).all() and tab[["auc", "auc_null"]].apply(np.isfinite).all().all()
    # twins are matched in r: a classifier on r alone separates them worse than chance
    assert tab.set_index("features").loc["r", "auc"] < 0.5
