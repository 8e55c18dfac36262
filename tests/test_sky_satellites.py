"""The environment of the simulated sky (on by default): satellites of Milky-Way-mass hosts (``simulate --satellites``)."""

from __future__ import annotations

import filecmp
import json
from dataclasses import replace
from importlib import resources

import numpy as np
import pytest
from astropy.io import fits
from scipy import stats

from dwarflib.cli import main as cli_main
from dwarflib.sky import generate
from dwarflib.sky.generate import generate_chunk, source_densities, sweep_files, write_simulated_sky
from dwarflib.sky.observe import ObjidCounter, footprint
from dwarflib.sky.physics import kpc_per_arcsec, load_sky_model
from dwarflib.sky.samples import mock_saga_frame, saga_frame
from dwarflib.sky.satellite_calibration import (
    LOGM_COMPLETE,
    calibrate_satellites,
    fit_satellite_model,
    fit_truncated_slope,
    saga_half_rows,
    satellite_comparison,
)
from dwarflib.sky.satellites import C_KMS, CALIBRATION_FILE, SatelliteModel, load_satellite_model

N, AREA = 3000, 2.0  # a sky of a few seconds
N_CHUNK = 30_000


@pytest.fixture(scope="module")
def chunks():
    """One chunk of sky without and with satellites, same random stream. Hosts up to z = 0.06 (a test-only
    widening of the host range, so that a small chunk holds many systems)."""
    model = load_sky_model()
    sat = replace(load_satellite_model(), host_z_max=0.06)
    dens = source_densities(model)
    box = footprint(1000.0)[0]
    plain = generate_chunk(np.random.default_rng([7, 1]), N_CHUNK, box, model, dens, ObjidCounter())
    stats: dict = {}
    with_sat = generate_chunk(np.random.default_rng([7, 1]), N_CHUNK, box, model, dens, ObjidCounter(),
                              satellites=sat, satellite_stats=stats)
    return plain, with_sat, stats, sat, box


@pytest.mark.slow
def test_default_sky_has_satellites_and_no_satellites_keeps_every_field_row(tmp_path):
    """The default sky has an environment; --no-satellites writes the field-only sky, whose files are the same
    for the same seed, and whose rows outside the satellites' replacements are those of the default sky."""
    write_simulated_sky(tmp_path / "a", N, seed=5, area_deg2=AREA, progress=False)
    write_simulated_sky(tmp_path / "b", N, seed=5, area_deg2=AREA, progress=False, satellites=False)
    write_simulated_sky(tmp_path / "c", N, seed=5, area_deg2=AREA, progress=False, satellites=False)
    names = [p.name for p in sweep_files(tmp_path / "b")] + ["truth.fits", "training-sample.fits"]
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "b", tmp_path / "c", names, shallow=False)
    assert mismatch == [] and errors == [] and len(match) == len(names)
    assert "IS_SATELLITE" not in fits.getdata(tmp_path / "b" / "truth.fits", 1).names
    assert "satellites" not in json.loads((tmp_path / "b" / "summary.json").read_text())
    with_sat = fits.getdata(tmp_path / "a" / "truth.fits", 1)
    assert "satellites" in json.loads((tmp_path / "a" / "summary.json").read_text())
    assert len(with_sat) == len(fits.getdata(tmp_path / "b" / "truth.fits", 1)) == N
    assert generate.DEFAULT_SATELLITES and generate.sky_key(N, 5) != generate.sky_key(N, 5, satellites=False)


@pytest.mark.slow
def test_a_sky_of_other_models_stores_them_and_the_parity_reads_them(tmp_path):
    """A sky made with explicit sky and satellite models (here the mean-density sky model and a widened host
    range) gets its own cache key and stores both models in its summary; the parity's sky_models returns
    exactly those, and refuses a summary whose stored model does not match its model version."""
    from dwarflib.sky.parity import sky_models

    model, sat = generate.mean_density_model(), replace(load_satellite_model(), host_z_max=0.06)
    summary = write_simulated_sky(tmp_path / "a", N, seed=5, area_deg2=AREA, progress=False, model=model,
                                  sat_model=sat)
    assert summary["model_version"] == generate.model_version(model) != generate.model_version(load_sky_model())
    got_model, got_sat = sky_models(tmp_path / "a")
    assert got_model.to_dict() == json.loads(json.dumps(model.to_dict())) and got_sat == sat
    assert generate.sky_key(N, 5, model, sat_model=sat) not in {generate.sky_key(N, 5),
                                                                 generate.sky_key(N, 5, model)}
    path = tmp_path / "a" / "summary.json"
    stored = json.loads(path.read_text())
    stored["model"]["fibre_q_power"] += 0.1
    path.write_text(json.dumps(stored))
    with pytest.raises(ValueError, match="regenerate the sky"):
        sky_models(tmp_path / "a")


def test_chunk_rows_accounted(chunks):
    """Satellites replace field galaxies: same number of rows, every drawn satellite counted once."""
    (sw0, tr0), (sw1, tr1), stats, _, _ = chunks
    assert len(sw1["RA"]) == len(sw0["RA"]) == N_CHUNK
    assert "IS_SATELLITE" not in tr0 and "IS_SATELLITE" in tr1
    n_sat = int(tr1["IS_SATELLITE"].sum())
    assert n_sat > 20 and stats["n_written"] == n_sat
    assert stats["n_drawn"] == (stats["n_fainter"] + stats["n_undetected"] + stats["n_written"]
                                + stats["n_unmatched"])
    assert np.array_equal(tr1["IS_STAR"], tr0["IS_STAR"])  # stars untouched
    # every other row is the same source as without satellites (own random stream for the satellites)
    other = ~tr1["IS_SATELLITE"]
    for col in ("Z", "LOGMSTAR", "MAG_R_TRUE"):
        np.testing.assert_array_equal(tr1[col][other], tr0[col][other])
    assert np.array_equal(sw1["RA"][other], sw0["RA"][other])


def test_satellites_around_their_hosts(chunks):
    _, (sw, tr), _, sat, box = chunks
    s = np.flatnonzero(tr["IS_SATELLITE"])
    assert np.all(tr["HOST_TARGETID"][~tr["IS_SATELLITE"]] == -1)
    assert np.all(np.isnan(tr["R_HOST_KPC"][~tr["IS_SATELLITE"]]))
    row = {t: i for i, t in enumerate(tr["TARGETID"].tolist())}
    h = np.array([row[t] for t in tr["HOST_TARGETID"][s].tolist()])
    assert np.all((tr["LOGMSTAR"][h] >= sat.host_logm_min) & (tr["LOGMSTAR"][h] <= sat.host_logm_max))
    assert np.all(tr["Z"][h] <= sat.host_z_max) and not tr["IS_SATELLITE"][h].any()
    # projected distance at the host's distance from the written positions: R_HOST_KPC, within 300 kpc
    d_north = (sw["DEC"][s] - sw["DEC"][h]) * 3600
    d_east = (sw["RA"][s] - sw["RA"][h]) * 3600 * np.cos(np.radians(sw["DEC"][h]))
    r_kpc = np.hypot(d_east, d_north) * kpc_per_arcsec(tr["Z"][h])
    np.testing.assert_allclose(r_kpc, tr["R_HOST_KPC"][s], rtol=0.01)
    assert r_kpc.max() <= sat.r_max_kpc * 1.01
    assert np.all((sw["RA"][s] >= box["ra1"]) & (sw["RA"][s] <= box["ra2"]))
    assert np.all((sw["DEC"][s] >= box["dec1"]) & (sw["DEC"][s] <= box["dec2"]))
    # line-of-sight velocities inside SAGA's window, with the calibrated dispersion
    dv = (tr["Z"][s] - tr["Z"][h]) / (1 + tr["Z"][h]) * C_KMS
    assert np.abs(dv).max() <= sat.dv_max_kms
    assert 0.7 * sat.dv_sigma_kms < dv.std() < 1.2 * sat.dv_sigma_kms


@pytest.mark.slow
def test_same_seed_same_satellites(chunks):
    (_, (_, tr1), _, sat, box) = chunks
    model = load_sky_model()
    _, tr2 = generate_chunk(np.random.default_rng([7, 1]), N_CHUNK, box, model, source_densities(model),
                            ObjidCounter(), satellites=sat)
    for col in ("TARGETID", "IS_SATELLITE", "HOST_TARGETID", "Z", "LOGMSTAR"):
        np.testing.assert_array_equal(tr2[col], tr1[col])


@pytest.mark.slow
def test_sky_with_satellites(tmp_path):
    """The option through the CLI: truth columns and the summary's counts."""
    rc = cli_main(["simulate", "--n-sources", str(N), "--area-deg2", "20", "--seed", "3", "--out",
                   str(tmp_path), "--no-progress"])
    assert rc == 0
    truth = fits.getdata(tmp_path / "truth.fits", 1)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert {"IS_SATELLITE", "HOST_TARGETID", "R_HOST_KPC"} <= set(truth.names)
    assert summary["n_sources"] == N == len(truth)
    assert summary["satellites"]["n_written"] == int(truth["IS_SATELLITE"].sum())
    assert fits.getheader(tmp_path / "truth.fits", 1)["SIMSAT"] is True
    # the labelled sample says which of its objects are satellites (the supplement's rows never are)
    train = fits.getdata(tmp_path / "training-sample.fits", 1)
    is_sat = dict(zip(truth["TARGETID"].tolist(), truth["IS_SATELLITE"].tolist(), strict=True))
    regular = ~train["SUPPLEMENT"]
    assert train["IS_SATELLITE"][regular].tolist() == [is_sat[t] for t in train["TARGETID"][regular].tolist()]
    assert not train["IS_SATELLITE"][~regular].any() and train["IS_SATELLITE"].any()


def test_calibration_uses_only_the_calibration_half():
    cal, dv = saga_half_rows()
    assert set(cal["HALF"]) == {0}
    with pytest.raises(ValueError, match="verification"):
        fit_satellite_model(saga_frame(None), np.zeros(378), None)
    with pytest.raises(ValueError, match="verification"):
        fit_satellite_model(saga_frame("verification"), np.zeros(182), None)
    # a diagnostic may fit the other half, named explicitly, and then not the calibration half
    with pytest.raises(ValueError, match="calibration-half rows"):
        fit_satellite_model(cal, dv, None, half="verification")
    ver, dv_ver = saga_half_rows("verification")
    assert set(ver["HALF"]) == {1} and len(dv_ver) == len(ver)



def test_quenched_fraction_halves_counts_each_half_and_tests_the_difference():
    from scipy.stats import fisher_exact

    from dwarflib.sky.satellite_calibration import quenched_fraction_halves

    tab = quenched_fraction_halves([(6.0, 8.0), (8.0, 9.0), (20.0, 21.0)])
    for half in ("calibration", "verification"):
        s = saga_frame(half)
        in_bin = (s.LOGMSTAR >= 8.0) & (s.LOGMSTAR < 9.0)
        assert tab[f"n_{half}"].iloc[1] == in_bin.sum() and tab[f"k_{half}"].iloc[1] == s.QUENCHED[in_bin].sum()
    r = tab.iloc[1]
    expected = fisher_exact([[r.k_calibration, r.n_calibration - r.k_calibration],
                             [r.k_verification, r.n_verification - r.k_verification]]).pvalue
    assert r.p_value == pytest.approx(expected) and np.isnan(tab.p_value.iloc[2])  # empty bin: not tested


def test_calibration_file_reproducible(tmp_path):
    """The package data file is what calibrate_satellites() writes."""
    sat = calibrate_satellites(tmp_path / "sat.json")
    committed = json.loads((resources.files("dwarflib") / "data" / CALIBRATION_FILE).read_text())
    assert json.loads((tmp_path / "sat.json").read_text()) == committed
    assert SatelliteModel.from_dict(committed) == sat
    assert sat.provenance["n_hosts"] == saga_frame("calibration")["HOSTID"].nunique()


def test_radial_distribution_matches_verification_half():
    """Simulated satellites around the verification hosts vs the verification satellites (held out): the
    projected radii are consistent (two-sample KS)."""
    sim = mock_saga_frame("verification", n_per_host=5, seed=1)
    real = saga_frame("verification")
    c = satellite_comparison(sim, real, sim.attrs["n_hosts"], real["HOSTID"].nunique())
    assert c["radial_ks_p"] > 0.01
    assert c["radial"]["simulated"].max() <= 300


def test_bad_satellite_model_rejected():
    with pytest.raises(ValueError, match="r_quantiles_kpc"):
        SatelliteModel(r_quantiles_kpc=[50.0, 10.0])
    with pytest.raises(ValueError, match="fq_values"):
        SatelliteModel(fq_values=[0.2, 1.5])


def test_replaced_field_galaxies_match_the_satellites(chunks):
    """Each satellite takes the place of a field galaxy of nearly the same (log M*, z), so the chunk's
    distribution in (z, log M*) -- calibrated on DESI EDR -- is kept."""
    (_, tr0), (_, tr1), _, _, _ = chunks
    s = tr1["IS_SATELLITE"]
    assert not tr0["IS_STAR"][s].any()
    # the median over ~100 satellites of one chunk: 0.029-0.053 dex over four chunk seeds (sky version 10)
    assert np.median(np.abs(tr1["LOGMSTAR"][s] - tr0["LOGMSTAR"][s])) < 0.06
    assert np.median(np.abs(tr1["Z"][s] - tr0["Z"][s])) < 0.002
    for lo, hi in ((0.0, 0.02), (0.02, 0.05)):
        n0 = ((tr0["Z"] >= lo) & (tr0["Z"] < hi) & (tr0["LOGMSTAR"] < 9.5)).sum()
        n1 = ((tr1["Z"] >= lo) & (tr1["Z"] < hi) & (tr1["LOGMSTAR"] < 9.5)).sum()
        assert abs(int(n1) - int(n0)) <= 2 * np.sqrt(n0) + 1  # within the count's Poisson noise


def _above_complete(df):
    return df["LOGMSTAR"].to_numpy(float)[df["LOGMSTAR"].to_numpy(float) >= LOGM_COMPLETE]


def test_truncated_slope_recovers_a_known_slope():
    """The slope MLE accounts for the truncation at logm_max (the untruncated 1 / (ln 10 mean) gives ~0.5
    for a true 0.4 on [7.5, 10.4])."""
    rng = np.random.default_rng(3)
    lam, w = 0.4 * np.log(10), 2.9
    x = -np.log1p(-rng.random(20000) * -np.expm1(-lam * w)) / lam  # inverse CDF of the truncated exponential
    assert abs(fit_truncated_slope(7.5 + x, 7.5, 10.4) - 0.4) < 0.02
    with pytest.raises(ValueError, match="fit_truncated_slope"):
        fit_truncated_slope([7.0, 8.0], 7.5, 10.4)


@pytest.mark.parametrize("half", ["calibration", "verification"])
def test_mass_function_above_complete_matches_saga(half):
    """Satellites above the completeness mass, simulated around the hosts of one SAGA half and observed with
    SAGA's r < 20.75 and the sky's detection, vs SAGA's (calibration: fitted; verification: held out): mean
    log M* within one standard error of SAGA's (the old untruncated slope put it 1.5 below; the slope is fitted
    on SAGA's masses directly, not through the simulated survey, and on sky version 10 the survey of the
    calibration half sits 0.6 standard errors below), counts per host
    in 0.5-dex bins consistent (Pearson chi2, p > 0.01), and N per host inside SAGA's Poisson 95 % interval."""
    sim = mock_saga_frame(half, n_per_host=40, seed=2)
    real = saga_frame(half)
    n_sim, n_real = sim.attrs["n_hosts"], real["HOSTID"].nunique()
    ms, mr = _above_complete(sim), _above_complete(real)
    assert abs(ms.mean() - mr.mean()) < mr.std() / np.sqrt(mr.size)
    edges = np.arange(LOGM_COMPLETE, 10.01, 0.5)
    k_real = np.histogram(mr, edges)[0]
    expected = np.histogram(ms, edges)[0] / n_sim * n_real
    assert stats.chi2.sf(np.sum((k_real - expected) ** 2 / expected), len(expected)) > 0.01
    c = satellite_comparison(sim, real, n_sim, n_real)["n_per_host"]
    assert c["real_low"] < c["simulated"] < c["real_high"]
