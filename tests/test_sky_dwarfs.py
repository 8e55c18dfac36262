"""The simulated sky's dwarf sequence (issue #13): one smooth size relation, calibration on SAGA's calibration
half only, field dwarf colours and quenched fraction, and the step check of the diagnostics."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from dwarflib.conventions import mean_surface_brightness
from dwarflib.sky import calibrate as cal
from dwarflib.sky import diagnostics as diag
from dwarflib.sky import physics as phys
from dwarflib.sky import samples
from dwarflib.sky.samples import saga_frame

# --- sizes: one sequence, no step, joined to the massive relation ------------------------------------------


def test_calibrated_size_relation_has_no_step():
    """The old dwarf zero point (-0.20 dex blended in over 9 -> 8.5) made the SF relation climb 0.6 dex/dex there."""
    model = phys.load_sky_model()
    m = np.arange(6.0, 11.0, 0.05)
    sf, _ = phys.median_log_re(m, model)
    slope = np.diff(sf) / np.diff(m)
    # the massive relation's slope plus at most 0.25 dex/dex from the dwarf sequence
    assert np.all(slope < model.size_sf_b + 0.25), (m[np.argmax(slope)], slope.max())
    offsets = np.asarray([*model.size_dwarf_dlogre, 0.0])
    assert np.all(np.abs(np.diff(offsets)) <= 0.12), offsets


def test_size_sequence_joins_the_massive_relation_continuously():
    model = dataclasses.replace(phys.load_sky_model(), size_dwarf_dlogre=[-0.3, -0.25, -0.2, -0.15, -0.1, -0.05],
                                size_dwarf_sigma=[0.3] * 6)
    eps = 1e-6
    below, above = phys.median_log_re(np.array([phys.SIZE_JOIN_LOGM - eps, phys.SIZE_JOIN_LOGM + eps]), model)[0]
    assert abs(above - below) < 1e-5
    m = np.array([10.0, 10.5, 11.0])
    np.testing.assert_allclose(phys.median_log_re(m, model)[0], model.size_sf_a + model.size_sf_b * m)
    sig_sf, sig_q = phys.size_scatter(np.array([6.0, 7.0, 9.75, 10.0, 11.0]), model)
    np.testing.assert_allclose(sig_sf, [0.3, 0.3, 0.5 * (0.3 + model.size_sf_sigma), model.size_sf_sigma,
                                        model.size_sf_sigma])
    assert sig_q[-1] == pytest.approx(model.size_q_sigma) and sig_q[0] == pytest.approx(0.3)
    with pytest.raises(ValueError, match="size_dwarf_m_nodes"):
        phys.dwarf_size_terms(8.0, dataclasses.replace(model, size_dwarf_dlogre=[0.0]))


def test_smooth_nodes_damps_a_spike_and_runs_into_the_join():
    spike = np.array([0.0, 0.0, 0.3, 0.0, 0.0, 0.0])
    out = cal.smooth_nodes(spike, np.full(6, 30.0), end_value=0.0)
    assert out.max() < 0.2 and abs(out.sum() - spike.sum()) < 0.15
    flat = cal.smooth_nodes(np.full(6, 0.1), np.full(6, 30.0))
    np.testing.assert_allclose(flat, 0.1, atol=1e-6)  # a constant is not penalised
    gap = cal.smooth_nodes(np.array([0.1, np.nan, 0.1]), np.array([10.0, 10.0, 10.0]))
    assert np.isfinite(gap).all() and gap[1] == pytest.approx(0.1, abs=1e-6)


# --- the calibration uses SAGA's calibration half only -----------------------------------------------------


@pytest.mark.slow
def test_calibration_reads_only_the_calibration_half(monkeypatch):
    calls = []
    real = saga_frame

    def spy(half=None):
        calls.append(half)
        return real(half)

    monkeypatch.setattr(cal, "saga_frame", spy)
    model = cal.calibrate(n_iter=1, n_mock=20_000, verbose=False)
    assert calls and set(calls) == {"calibration"}, calls
    assert model.provenance["history"][0]["n_saga"] == len(real("calibration"))
    calls.clear()
    cal.fit_fibre_q_power()
    assert calls == ["calibration"]
    calls.clear()
    cal.fit_dwarf_shapes()
    assert calls == ["calibration"]
    # the other fold of the two-fold check (benchmarks/parity_seeds.py --fit-half) reads only its half
    calls.clear()
    other = cal.calibrate(n_iter=1, n_mock=20_000, verbose=False, half="verification")
    assert set(calls) == {"verification"} and "verification half" in other.provenance["data"][1]
    assert other.provenance["history"][0]["n_saga"] == len(real("verification"))
    with pytest.raises(ValueError, match="half=None"):
        cal.calibrate(n_iter=1, n_mock=20_000, verbose=False, half=None)
    # a half-sample of the hosts (benchmarks/parity_calibration_noise.py --refit-sky)
    half = real("calibration")
    hosts = sorted(set(half.HOSTID))[::2]
    sub = cal.calibrate(n_iter=1, n_mock=20_000, verbose=False, hosts=hosts)
    assert sub.provenance["history"][0]["n_saga"] == int(half.HOSTID.isin(hosts).sum()) < len(half)
    assert f"restricted to {len(hosts)} of its hosts" in sub.provenance["data"][1]
    with pytest.raises(ValueError, match="hosts without satellites in SAGA's calibration half"):
        cal.calibrate(n_iter=1, n_mock=20_000, verbose=False, hosts=sorted(set(real("verification").HOSTID))[:1])


@pytest.mark.slow
def test_ensure_calibration_fits_once_and_then_reads_the_file(tmp_path, monkeypatch):
    path = tmp_path / "sky-model.json"
    first = cal.ensure_calibration(path, n_iter=1, n_mock=20_000, half="verification")
    assert path.is_file() and "verification half" in first.provenance["data"][1]

    def refuse(**kw):
        raise AssertionError("calibrate() ran although the file exists")

    monkeypatch.setattr(cal, "calibrate", refuse)
    assert cal.ensure_calibration(path, half="verification").to_dict() == phys.load_sky_model(path).to_dict()


def test_other_saga_half():
    assert samples.other_saga_half("calibration") == "verification"
    assert samples.other_saga_half("verification") == "calibration"
    with pytest.raises(ValueError, match="half='both'"):
        samples.other_saga_half("both")


# --- intrinsic shapes of star-forming galaxies (b/a) ---------------------------------------------------------


def test_projected_axis_ratio_of_the_principal_views_and_of_an_oblate_disc():
    # seen down the short axis: B/A; along the long axis: C/B; along the middle axis: C/A
    assert phys.projected_axis_ratio(0.7, 0.4, 1.0, 0.3) == pytest.approx(0.7)
    assert phys.projected_axis_ratio(0.7, 0.4, 0.0, 0.0) == pytest.approx(0.4 / 0.7)
    assert phys.projected_axis_ratio(0.7, 0.4, 0.0, np.pi / 2) == pytest.approx(0.4)
    rng = np.random.default_rng(0)
    cos_t, phi = rng.random(1000), np.pi * rng.random(1000)
    np.testing.assert_allclose(phys.projected_axis_ratio(1.0, 0.3, cos_t, phi),
                               np.sqrt(cos_t**2 + 0.09 * (1 - cos_t**2)), rtol=1e-12)
    q = phys.projected_axis_ratio(0.8, 0.5, cos_t, phi)
    assert q.min() >= 0.5 - 1e-9 and q.max() <= 1.0


def test_massive_discs_stay_thin_oblate_whatever_the_dwarf_shapes():
    model = dataclasses.replace(phys.SkyModel(), disc_q0_dwarf=0.5, disc_q0_dwarf_sigma=0.1, dwarf_triaxiality=0.4)
    rng = np.random.default_rng(1)
    b, c = phys.intrinsic_shapes(rng, np.full(500, 10.5), model)
    assert np.all(b == 1.0) and np.allclose(c, model.disc_q0_massive)
    b, c = phys.intrinsic_shapes(rng, np.full(20_000, 7.0), model)
    assert np.all(c <= b) and b.min() >= 0.3
    # a mild triaxiality, so that C/A <= B/A rarely clips: the drawn C/A and 1 - B/A distributions
    mild = dataclasses.replace(model, disc_q0_dwarf=0.4, dwarf_triaxiality=0.15)
    b, c = phys.intrinsic_shapes(rng, np.full(20_000, 7.0), mild)
    assert np.median(c) == pytest.approx(0.4, abs=0.01) and np.std(c) == pytest.approx(0.1, abs=0.01)
    assert np.mean(1 - b) == pytest.approx(0.15 * np.sqrt(2 / np.pi), abs=0.005)  # half-normal mean


def test_dwarf_shape_fit_recovers_the_shapes_that_made_the_axis_ratios():
    truth = {"disc_q0_dwarf": 0.45, "disc_q0_dwarf_sigma": 0.08, "dwarf_triaxiality": 0.3}
    model = dataclasses.replace(phys.SkyModel(), **truth)
    rng = np.random.default_rng(7)
    logm = rng.uniform(6.5, 8.0, 3000)
    b, c = phys.intrinsic_shapes(rng, logm, model)
    ba = phys.projected_axis_ratio(b, c, rng.random(logm.size), np.pi * rng.random(logm.size))
    frame = pd.DataFrame({"ba": ba, "LOGMSTAR": logm, "QUENCHED": np.zeros(logm.size, bool)})
    fit = cal.fit_dwarf_shapes(frame, n_views=20)
    assert fit["n_shape_fit"] == int((ba < 0.999).sum())
    assert fit["disc_q0_dwarf"] == pytest.approx(truth["disc_q0_dwarf"], abs=0.03)
    assert fit["dwarf_triaxiality"] == pytest.approx(truth["dwarf_triaxiality"], abs=0.06)
    assert fit["disc_q0_dwarf_sigma"] == pytest.approx(truth["disc_q0_dwarf_sigma"], abs=0.05)


def test_calibrated_dwarf_shapes_describe_the_real_axis_ratios():
    # the package's calibrated shapes against SAGA's star-forming satellites: both halves, Cramer-von Mises
    from scipy.stats import cramervonmises

    model = phys.load_sky_model()
    rng = np.random.default_rng(3)
    for half in ("calibration", "verification"):
        s = saga_frame(half)
        s = s[~s.QUENCHED & cal.measured_axis_ratio(s.ba)]
        logm = np.repeat(s.LOGMSTAR.to_numpy(float), 100)
        b, c = phys.intrinsic_shapes(rng, logm, model)
        sim = np.sort(phys.projected_axis_ratio(b, c, rng.random(logm.size), np.pi * rng.random(logm.size)))
        res = cramervonmises(s.ba.to_numpy(float), lambda x, sim=sim: np.searchsorted(sim, x) / sim.size)
        assert res.pvalue > 0.05, (half, res)


def test_saga_log_re_inverts_the_surface_brightness():
    df = pd.DataFrame({"r": [18.0, 20.0], "Z": [0.005, 0.01], "sb": [np.nan, np.nan]})
    re_arcsec = np.array([2.0, 5.0])
    df["sb"] = mean_surface_brightness(df.r.to_numpy(), re_arcsec)
    expected = np.log10(re_arcsec * phys.kpc_per_arcsec(df.Z.to_numpy()))
    np.testing.assert_allclose(cal.saga_log_re(df), expected, atol=1e-9)
    assert np.isnan(cal.saga_log_re(df.assign(sb=[np.inf, 99.0]))).all()


# --- field dwarfs: quenched fraction prior, colours -------------------------------------------------------


def test_field_quenched_fraction_below_the_edr_reach_is_the_geha_prior():
    model = phys.load_sky_model()
    low = np.asarray(model.fq_m_nodes) < cal.FQ_FIT_MIN_LOGM
    assert low.any()
    np.testing.assert_allclose(np.asarray(model.fq_values)[low], cal.FQ_FIELD_DWARF_PRIOR)


def test_quiescent_dwarf_colour_gap_matches_saga_quenched_satellites():
    """Quenched dwarfs sat at g-r 0.75-0.80, 0.3 mag above the SF table; SAGA's gap at fixed mass is ~0.2."""
    s = saga_frame("calibration")
    gap_saga = cal._sf_residual_gap(s.LOGMSTAR.to_numpy(), s.gr.to_numpy(), s.QUENCHED.to_numpy(bool))
    model = phys.load_sky_model()
    mn, zn = np.asarray(model.m_nodes), np.asarray(model.z_nodes)
    q = np.asarray(model.colour_mean["Q"]["g-r"])
    sf = np.asarray(model.colour_mean["SF"]["g-r"])
    rows, cols = zn <= 0.015, (mn >= 7.0) & (mn <= 9.0)
    table_gap = (q - sf)[np.ix_(rows, cols)]
    # one number is fitted (the gap at fixed mass, averaged over SAGA's quenched satellites); the table's gap
    # still varies with mass through the starting tables' slopes. The old tables were 0.28-0.43 mag apart.
    assert abs(table_gap.mean() - gap_saga) < 0.04, (gap_saga, table_gap.round(3))
    assert np.all(np.abs(table_gap - gap_saga) < 0.1), (gap_saga, table_gap.round(3))


# --- the step check ---------------------------------------------------------------------------------------


def _sequence(rng, step=0.0, n_per_bin=60):
    m = np.repeat(np.arange(6.25, 10.0, 0.5), n_per_bin) + rng.uniform(-0.25, 0.25, 8 * n_per_bin)
    log_re = 0.2 * (m - 8.0) + step * (m >= 8.5) + 0.2 * rng.standard_normal(m.size)
    return pd.DataFrame({"LOGMSTAR": m, "log_re": log_re})


def test_step_check_flags_a_synthetic_step_and_passes_a_smooth_sequence():
    rng = np.random.default_rng(5)
    real = _sequence(rng, n_per_bin=30)
    smooth = diag.step_check(diag.sequence_table(real, _sequence(rng, n_per_bin=3000), ("log_re",)))
    assert len(smooth) == 7 and not smooth.flagged.any(), smooth
    stepped = diag.step_check(diag.sequence_table(real, _sequence(rng, step=0.25, n_per_bin=3000), ("log_re",)))
    flagged = stepped[stepped.flagged]
    assert list(flagged.from_bin) == ["8-8.5"] and list(flagged.to_bin) == ["8.5-9"], stepped
    # bins with too few real galaxies are not scored
    sparse = diag.step_check(diag.sequence_table(real.iloc[::10], _sequence(rng, n_per_bin=300), ("log_re",)))
    assert sparse.empty


def test_host_matching_gives_each_host_its_real_share():
    """Two hosts at different distances: a quantity that depends on the distance has a simulated median set by
    the simulated host mix unless the rows are weighted to the real rows' hosts."""
    w = diag.host_matching_weights(["a", "a", "a", "b"], ["a", "a", "b", "b", "b", "b", "c"])
    assert np.allclose(w, [1.5, 1.5, 0.25, 0.25, 0.25, 0.25, 0.0])
    rng = np.random.default_rng(2)
    near = 3.0 + 0.1 * rng.standard_normal(400)  # e.g. fibre-minus-total of a nearby host's satellites
    far = 4.0 + 0.1 * rng.standard_normal(400)
    real = pd.DataFrame({"LOGMSTAR": 7.2, "HOSTID": ["near"] * 30 + ["far"] * 10, "fib_minus_tot": np.r_[near[:30], far[:10]]})
    sim = pd.DataFrame({"LOGMSTAR": 7.2, "HOSTID": ["near"] * 100 + ["far"] * 300, "fib_minus_tot": np.r_[near[100:200], far[100:]]})
    plain = diag.sequence_table(real, sim, ("fib_minus_tot",), edges=(7.0, 7.5)).iloc[0]
    matched = diag.sequence_table(real, sim, ("fib_minus_tot",), edges=(7.0, 7.5), match="HOSTID").iloc[0]
    assert plain.median_real < 3.2 and plain.median_sim > 3.8  # the host mix, not the galaxies, differs
    assert abs(matched.median_sim - matched.median_real) < 0.1 and matched.n_sim == 400
    assert matched.se_sim > plain.se_sim  # fewer effective rows


def test_step_verdict_judges_all_steps_at_once():
    """A perfect simulation flags about 4.6 % of steps at 2 sigma; all at once (Bonferroni) a smooth sequence
    passes and a real jump fails, naming its step."""
    rng = np.random.default_rng(5)
    real = _sequence(rng, n_per_bin=30)
    smooth = diag.step_check(diag.sequence_table(real, _sequence(rng, n_per_bin=3000), ("log_re",)))
    assert np.allclose(smooth.tolerance, diag.STEP_TOLERANCE_SIGMA * smooth.sigma)
    v = diag.step_verdict(smooth)
    assert v["passed"] and v["n_steps"] == 7 and v["expected_by_chance"] == pytest.approx(7 * 0.0455, abs=1e-3)
    assert v["z_simultaneous"] == pytest.approx(2.69, abs=0.01)  # two-sided 0.05 / 7
    assert v["n_flagged"] > 0 or v["p_chance"] == 1.0
    jump = diag.step_check(diag.sequence_table(real, _sequence(rng, step=0.5, n_per_bin=3000), ("log_re",)))
    v = diag.step_verdict(jump)
    assert not v["passed"] and v["worst"] == "log_re 8-8.5 -> 8.5-9" and v["z_max"] > v["z_simultaneous"]
    w = diag.worst_step(jump)
    assert (w.from_bin, w.to_bin) == ("8-8.5", "8.5-9") and abs(w.excess) / w.sigma == pytest.approx(v["z_max"])
    assert diag.step_verdict(jump.iloc[:0])["passed"]
    # flags by chance: a sample of 40 independent steps with 3 flagged is unremarkable (p ~ 0.27)
    chance = pd.DataFrame({"quantity": "q", "from_bin": "a", "to_bin": "b", "excess": np.r_[np.full(3, 2.5), np.zeros(37)],
                           "sigma": 1.0, "flagged": np.r_[np.ones(3, bool), np.zeros(37, bool)]})
    v = diag.step_verdict(chance)
    assert v["n_flagged"] == 3 and 0.2 < v["p_chance"] < 0.35 and v["passed"]


@pytest.mark.slow
def test_field_dwarf_colours_are_continuous_in_redshift():
    """At 8 < log M* < 8.5 the EDR's median g-r barely changes from z < 0.02 to 0.02-0.03; the SAGA-satellite
    calibration of the local nodes made simulated z < 0.02 dwarfs ~0.1 mag redder than those behind them."""
    from dwarflib.sky.samples import bgs_sample, edr_frame, mock_bgs_frame

    edr = bgs_sample(edr_frame())
    sim = bgs_sample(mock_bgs_frame(phys.load_sky_model(), 300_000, seed=21))
    sel_e, sel_s = edr.LOGMSTAR.between(8.0, 8.5), sim.LOGMSTAR.between(8.0, 8.5)
    tab = diag.sequence_table(edr[sel_e], sim[sel_s], ("gr",), by="Z", edges=(0.0104, 0.02, 0.03))
    steps = diag.step_check(tab)
    assert len(steps) == 1 and not steps.flagged.any(), steps


def test_axis_ratio_comparison_counts_round_models_apart_and_tests_the_rest():
    rng = np.random.default_rng(5)

    def frame(n, ba):
        return pd.DataFrame({"ba": ba, "HALF": rng.integers(0, 2, n), "QUENCHED": rng.random(n) < 0.2})

    n = 4000
    real = frame(n, np.where(rng.random(n) < 0.05, 1.0, rng.uniform(0.3, 0.95, n)))
    same = frame(n, np.where(rng.random(n) < 0.05, 1.0, rng.uniform(0.3, 0.95, n)))
    thin = frame(n, rng.uniform(0.2, 0.7, n))
    a = diag.axis_ratio_comparison(real, same).set_index("half")
    assert list(a.index) == ["calibration", "verification"]
    sf = real[(real.HALF == 0) & ~real.QUENCHED]
    assert a.loc["calibration", "n_real"] == int(((sf.ba > 0) & (sf.ba < 0.999)).sum())
    assert a.loc["calibration", "round_real"] == pytest.approx((sf.ba >= 0.999).mean())
    assert (a.p_value > 0.01).all()
    b = diag.axis_ratio_comparison(real, thin)
    assert (b.p_value < 1e-6).all() and (b.p50_sim < b.p50_real).all()


# --- two size systems: DR9's Tractor (SAGA, the sky) and deep photometry (LVDB, ELVES) -----------------------


def test_size_luminosity_offset_recovers_a_known_offset_and_ignores_rows_outside_the_range():
    rng = np.random.default_rng(5)
    m_a, m_b = rng.uniform(-20, -15, 300), rng.uniform(-20, -15, 200)
    tractor = pd.DataFrame({"M_r": m_a, "log_re": 0.2 - 0.12 * (m_a + 17) + 0.05 * rng.standard_normal(300)})
    deep = pd.DataFrame({"M_r": m_b, "log_re": 0.35 - 0.12 * (m_b + 17) + 0.05 * rng.standard_normal(200)})
    # faint rows with a different relation must not enter
    deep = pd.concat([deep, pd.DataFrame({"M_r": [-12.0] * 50, "log_re": [3.0] * 50})], ignore_index=True)
    fit = cal.size_luminosity_offset(tractor, deep, n_boot=200)
    assert fit["n_tractor"] == 300 and fit["n_deep"] == 200
    assert fit["offset"] == pytest.approx(0.15, abs=0.02)
    assert fit["slope"] == pytest.approx(-0.12, abs=0.01)
    assert fit["offset_low"] < fit["offset"] < fit["offset_high"]
    with pytest.raises(ValueError, match="need 3 each"):
        cal.size_luminosity_offset(tractor, deep[deep.M_r > -13])


def test_deep_size_offset_constant_is_the_lvdb_fit_and_elves_agrees():
    frames = cal.size_luminosity_frames()
    fit = cal.fit_deep_size_offset(frames)
    assert samples.DEEP_MINUS_TRACTOR_LOG_RE == pytest.approx(fit["offset"], abs=5e-4)
    assert fit["offset_low"] > 0  # deep radii are larger than Tractor's at the same luminosity
    # ELVES is not fitted: its own offset is a check, inside the LVDB fit's interval
    elves = cal.size_luminosity_offset(frames["SAGA"], frames["ELVES"])
    assert fit["offset_low"] < elves["offset"] < fit["offset_high"], (fit, elves)


def test_elves_quoted_errors_constant_is_recomputed_from_the_table():
    from dwarflib.registry import load_elves_satellites

    got = samples.elves_quoted_errors(load_elves_satellites())
    assert got == pytest.approx(samples.ELVES_ERRORS, abs=5e-5)
