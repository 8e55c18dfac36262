"""Tests of the simulated DR9-like sky: determinism, format, labels, training-sample consistency, CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table

from dwarflib import datamodel, survey_io
from dwarflib.cli import main as cli_main
from dwarflib.labels import assign_classes
from dwarflib.selections import BGS_BRIGHT, DWARF_SURVEY
from dwarflib.sky import generate

N_SMALL = 30_000


@pytest.fixture(scope="module")
def sky(tmp_path_factory):
    out = tmp_path_factory.mktemp("sky_a")
    summary = generate.write_simulated_sky(out, N_SMALL, seed=7, chunk_size=12_000, progress=False)
    return out, summary


def _file_bytes(path):
    """Bytes of a FITS file's data units (headers hold no timestamps, but compare data to be explicit)."""
    with fits.open(path) as h:
        return b"".join(hdu.data.tobytes() if hdu.data is not None else b"" for hdu in h)


def test_products_exist(sky):
    out, summary = sky
    assert (out / "truth.fits").is_file() and (out / "training-sample.fits").is_file()
    sweeps = generate.sweep_files(out)
    assert sweeps and [p.name for p in sweeps] == sorted(summary["sweep_files"])
    assert summary["n_sources"] == N_SMALL
    assert json.loads((out / "summary.json").read_text())["n_sources"] == N_SMALL


def test_same_seed_identical_bitwise(sky, tmp_path):
    out, _ = sky
    generate.write_simulated_sky(tmp_path, N_SMALL, seed=7, chunk_size=12_000, progress=False)
    for name in ["truth.fits", "training-sample.fits", *(p.name for p in generate.sweep_files(out))]:
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


def test_different_seed_differs(sky, tmp_path):
    out, _ = sky
    generate.write_simulated_sky(tmp_path, N_SMALL, seed=8, chunk_size=12_000, progress=False)
    a = Table.read(out / "truth.fits", mask_invalid=False)
    b = Table.read(tmp_path / "truth.fits", mask_invalid=False)
    assert len(a) == len(b)
    assert not np.array_equal(np.asarray(a["Z"]), np.asarray(b["Z"]))


def test_sweep_format_readable_with_dr9_dtypes(sky):
    out, _ = sky
    n_total = 0
    for path in generate.sweep_files(out):
        with fits.open(path) as h:
            data = h[1].data
            assert list(data.columns.names) == list(datamodel.SWEEP_COLUMNS)
            for col, (dt, _, _) in datamodel.SWEEP_COLUMNS.items():
                fmt = data.columns[col].format
                expected = np.dtype(dt)
                if expected.kind == "S":
                    assert fmt == f"{expected.itemsize}A", col
                else:
                    assert data.dtype[col].str[1:] == expected.str[1:], col
        t = survey_io.read_catalogue(path, columns=list(datamodel.SWEEP_COLUMNS))
        n_total += len(t)
        assert set(np.unique(t["TYPE"])) <= set(datamodel.TRACTOR_TYPES)
        assert np.all(t["SHAPE_R"] >= 0)
        assert np.all((t["MW_TRANSMISSION_R"] > 0) & (t["MW_TRANSMISSION_R"] <= 1))
        psf = t["TYPE"] == "PSF"
        assert np.all(t["SHAPE_R"][psf] == 0) and np.all(t["SERSIC"][psf] == 0)
    assert n_total == N_SMALL


def test_ids_unique_and_truth_matches_sweeps(sky):
    out, _ = sky
    ids = []
    for path in generate.sweep_files(out):
        t = survey_io.read_catalogue(path, columns=["RELEASE", "BRICKID", "OBJID"], required=())
        ids.append(datamodel.unique_id(t["RELEASE"], t["BRICKID"], t["OBJID"]))
    ids = np.concatenate(ids)
    truth = Table.read(out / "truth.fits", mask_invalid=False)
    assert len(np.unique(ids)) == len(ids) == len(truth)
    assert np.array_equal(np.sort(ids), np.sort(np.asarray(truth["TARGETID"])))


def test_classes_consistent_with_labels(sky):
    out, _ = sky
    truth = Table.read(out / "truth.fits", mask_invalid=False)
    star = np.asarray(truth["IS_STAR"], bool)
    assert np.all(np.isnan(truth["LOGMSTAR"][star])) and np.all(truth["Z"][star] == 0)
    expected = assign_classes(truth["Z"], truth["LOGMSTAR"], star)
    assert np.array_equal(np.asarray(truth["CLASS"]), expected)
    assert np.all(truth["CLASS"][star] == 6)


def test_training_sample_subset_of_sweeps(sky):
    out, summary = sky
    truth = Table.read(out / "truth.fits", mask_invalid=False)
    train = Table.read(out / "training-sample.fits", mask_invalid=False)
    assert len(train) == summary["n_training"] > 0
    sup = np.asarray(train["SUPPLEMENT"], bool)  # the nearby supplement is not in the sky (test_nearby_supplement)
    train = train[~sup]
    assert np.all(np.isin(train["TARGETID"], truth["TARGETID"]))
    assert len(np.unique(train["TARGETID"])) == len(train)
    for col in datamodel.SWEEP_COLUMNS:
        assert col in train.colnames
    idx = {t: i for i, t in enumerate(np.asarray(truth["TARGETID"]))}
    rows = np.array([idx[t] for t in np.asarray(train["TARGETID"])])
    assert np.array_equal(np.asarray(train["CLASS"]), np.asarray(truth["CLASS"])[rows])
    assert np.allclose(np.asarray(train["Z"]), np.asarray(truth["Z"])[rows])
    surveys = {s.strip() for s in np.char.decode(np.asarray(train["SURVEY"]).astype("S"), "ascii")}
    assert surveys <= {generate.SURVEY_BGS, generate.SURVEY_DWARF}
    r = survey_io.flux_to_mag(train["FLUX_R"], train["MW_TRANSMISSION_R"])
    bgs = np.char.strip(np.asarray(train["SURVEY"]).astype(str)) == generate.SURVEY_BGS
    assert np.all(r[bgs] < BGS_BRIGHT.r_max + 0.04)  # north (BASS) limit is 0.04 mag fainter
    assert np.all(r[~bgs] < DWARF_SURVEY.r_max)


@pytest.mark.slow
def test_chunks_do_not_change_distributions(tmp_path):
    """Smaller chunks give different random streams, but the same populations (loose statistical check)."""
    a = generate.write_simulated_sky(tmp_path / "a", 20_000, seed=3, chunk_size=20_000, progress=False)
    b = generate.write_simulated_sky(tmp_path / "b", 20_000, seed=3, chunk_size=5_000, progress=False)
    fa = np.array(a["class_counts"]) / a["n_sources"]
    fb = np.array(b["class_counts"]) / b["n_sources"]
    assert np.allclose(fa, fb, atol=0.01)


def test_cli_writes_three_products(tmp_path):
    out = tmp_path / "cli_sky"
    rc = cli_main(["simulate", "--n-sources", "5000", "--seed", "2", "--out", str(out), "--no-progress"])
    assert rc == 0
    assert (out / "truth.fits").is_file() and (out / "training-sample.fits").is_file()
    assert generate.sweep_files(out)


@pytest.mark.slow
def test_rewriting_a_directory_leaves_only_the_new_sky(tmp_path):
    generate.write_simulated_sky(tmp_path, 3_000, seed=1, area_deg2=60.0, progress=False)
    assert len(generate.sweep_files(tmp_path)) == 2
    with pytest.warns(UserWarning, match="earlier sky"):
        s = generate.write_simulated_sky(tmp_path, 3_000, seed=1, area_deg2=20.0, progress=False)
    assert [p.name for p in generate.sweep_files(tmp_path)] == s["sweep_files"]


def test_explicit_area_and_bad_input(tmp_path):
    s = generate.write_simulated_sky(tmp_path, 3_000, seed=1, area_deg2=60.0, progress=False)
    assert s["area_deg2"] == pytest.approx(60.0)
    assert len(s["sweep_files"]) == 2  # 60 deg^2 spans two 10x5 deg boxes
    with pytest.raises(ValueError, match="n_sources"):
        list(generate.iter_simulated_sky(0))
    with pytest.raises(ValueError, match="area_deg2"):
        generate.write_simulated_sky(tmp_path / "x", 10, area_deg2=-1.0, progress=False)


# ---------------------------------------------------------------------------------------------------
# Physics pieces and calibration
# ---------------------------------------------------------------------------------------------------
def test_fibre_fraction_limits():
    from dwarflib.sky.physics import fibre_fraction

    # point source: 1 - exp(-R^2 / 2 sigma^2) for a Gaussian PSF of FWHM 1" and a 0.75" radius fibre
    sigma = 1.0 / 2.3548
    point = 1 - np.exp(-0.5 * (0.75 / sigma) ** 2)
    f = fibre_fraction(np.array([0.0, 1e-3, 0.5, 2.0, 10.0]), np.ones(5))
    assert f[0] == pytest.approx(point, rel=1e-4) and f[1] == pytest.approx(point, rel=1e-3)
    assert np.all(np.diff(f[1:]) < 0)  # larger galaxies put less light in the fibre
    # very large exponential disc: central surface brightness x fibre area
    re = 50.0
    b1 = 1.678
    i0_area = b1**2 / (2 * np.pi * re**2) * np.pi * 0.75**2  # fraction for I(r) = I0 exp(-b r/re)
    assert fibre_fraction(np.array([re]), np.array([1.0]))[0] == pytest.approx(i0_area, rel=0.05)


def test_weighted_quantiles_match_numpy():
    from dwarflib.sky.calibrate import weighted_quantiles

    x = np.random.default_rng(0).normal(size=20001)
    q = weighted_quantiles(x, np.ones_like(x), (0.16, 0.5, 0.84))
    assert np.allclose(q, np.percentile(x, [16, 50, 84]), atol=2e-3)


def test_sampling_is_exact_at_the_magnitude_limit():
    """Galaxies drawn with the conditioned Gaussian never exceed the r limit and fill it up to the edge."""
    from dwarflib.sky.physics import draw_galaxies, load_sky_model

    g = draw_galaxies(np.random.default_rng(1), 50_000, load_sky_model(), 20.0)
    assert g["R_TRUE"].max() <= 20.0 + 1e-9
    assert np.mean(g["R_TRUE"] > 19.5) > 0.2  # number counts rise towards the limit


def test_realism_report_structure(sky):
    from dwarflib.sky.diagnostics import realism_report

    out, _ = sky
    rep = realism_report(out)
    crit = set(rep.criterion)
    assert any(c.startswith("1 class fractions") for c in crit)
    assert any(c.startswith("2 colour medians") for c in crit)
    assert any(c.startswith("3 local dwarfs vs SAGA") for c in crit)
    assert (rep.criterion.str.startswith("1 class")).sum() == 7
    scored = rep[rep.passed.notna()]
    assert set(scored.passed.unique()) <= {True, False}


def test_fibre_radius_power_from_saga():
    from dwarflib.sky.calibrate import fit_fibre_q_power

    alpha = fit_fibre_q_power()
    assert 0.0 <= alpha <= 1.0


@pytest.mark.slow
def test_calibration_is_deterministic():
    from dwarflib.sky.calibrate import calibrate

    a = calibrate(n_iter=1, n_mock=30_000, verbose=False)
    b = calibrate(n_iter=1, n_mock=30_000, verbose=False)
    da, db = a.to_dict(), b.to_dict()
    for d in (da, db):
        d["provenance"].pop("seconds")
    assert da == db


def test_edr_rosette_variance_consistent_with_edr_frame():
    from dwarflib.sky.diagnostics import edr_rosette_variance
    from dwarflib.sky.samples import edr_frame

    edr = edr_frame()
    tab = edr_rosette_variance(classes=range(7), n_boot=500, seed=3)
    assert tab.n_real.sum() == len(edr)
    assert np.allclose(tab.fraction, np.bincount(edr.CLASS, minlength=7) / len(edr))
    assert (tab.n_rosettes == 10).all()
    assert ((tab.lo95 <= tab.lo68) & (tab.lo68 <= tab.fraction) & (tab.fraction <= tab.hi68)
            & (tab.hi68 <= tab.hi95)).all()
    again = edr_rosette_variance(classes=range(7), n_boot=500, seed=3)
    assert tab.equals(again)


def test_local_volume_decomposition_multiplies_to_class_fraction(sky):
    from dwarflib.sky.diagnostics import local_volume_decomposition
    from dwarflib.sky.samples import edr_frame

    out, _ = sky
    edr = edr_frame()
    dec = local_volume_decomposition(out, edr=edr)
    assert list(dec["class"]) == [0, 3]
    for _, row in dec.iterrows():
        frac_real = (edr.CLASS == row["class"]).mean()
        assert np.isclose(row.shell_share_real * row.class_share_in_shell_real, frac_real)


def test_saga_matched_medians_reweights_to_saga(monkeypatch):
    from dwarflib.sky import diagnostics as diag
    from dwarflib.sky import samples

    saga = samples.saga_frame()
    rng = np.random.default_rng(5)
    # a fake "simulated" sample: SAGA-like galaxies spread over the volume (p(z) ~ z^2), whose fibre-minus-total
    # magnitude falls with distance; the unweighted median is biased, the (z, log M*)-matched one is not
    fake = saga.sample(3000, replace=True, random_state=1).reset_index(drop=True)
    fake["Z"] = (rng.uniform(0.004**3, 0.011**3, len(fake))) ** (1 / 3)
    fake["fib_minus_tot"] = 3.8 - 100.0 * (fake.Z - 0.0078)
    fake["IS_STAR"] = False
    monkeypatch.setattr(diag, "read_sky_frame", lambda sky_dir, where=None: fake)
    tab = diag.saga_matched_medians("unused").set_index("quantity")
    assert tab.loc["Z", "saga_weight_unmatched"] == 0.0
    assert abs(tab.loc["Z", "diff_matched"]) < 0.0005 < abs(tab.loc["Z", "diff"])
    assert abs(tab.loc["fib_minus_tot", "sim_matched"] - 3.8) < 0.06
    assert abs(tab.loc["fib_minus_tot", "sim"] - 3.8) > 0.07


def test_class_fraction_table_thresholds():
    from dwarflib.sky.diagnostics import class_fraction_table

    # 1000 real rows: class 0 has 150 members (> 100: 20% rule), class 1 has 50 (factor-of-two rule)
    real = pd.DataFrame({"CLASS": [0] * 150 + [1] * 50 + [6] * 800})
    sim = pd.DataFrame({"CLASS": [0] * 190 + [1] * 95 + [6] * 715})  # class 0 +27%, class 1 x1.9
    tab = class_fraction_table(real, sim).set_index("class")
    assert np.isclose(tab.loc[0, "real"], 0.15) and np.isclose(tab.loc[0, "simulated"], 0.19)
    assert np.isclose(tab.loc[0, "difference"], 0.19 / 0.15 - 1)
    assert tab.loc[0, "threshold"] == "|rel| <= 0.2" and not tab.loc[0, "passed"]
    assert tab.loc[1, "threshold"] == "factor 2" and tab.loc[1, "passed"]
    assert tab.loc[6, "passed"]  # -10.6%
    assert not tab.loc[2, "passed"]  # no real member: cannot pass
    assert tab.n_real.sum() == 1000 and tab.n_sim.sum() == 1000


@pytest.mark.slow
def test_expected_class_fractions_pool_and_spread():
    from dwarflib.sky.diagnostics import expected_class_fractions, local_volume_decomposition
    from dwarflib.sky.samples import edr_frame

    edr = edr_frame()
    tab, pooled = expected_class_fractions(n_sources=40_000, seeds=(1, 2), edr=edr)
    assert np.isclose(tab.simulated.sum(), 1.0) and tab.n_sim.sum() == len(pooled)
    assert ((pooled.r < 19.5) & (pooled.Z > 0.0104)).all()
    assert (tab.sim_sd >= 0).all() and (tab.sim_sd > 0).any()
    again, _ = expected_class_fractions(n_sources=40_000, seeds=(1, 2), edr=edr)
    assert tab.equals(again)
    dec = local_volume_decomposition(pooled, edr=edr)  # a frame works as well as a sky directory
    for _, row in dec.iterrows():
        assert np.isclose(row.shell_share_sim * row.class_share_in_shell_sim, (pooled.CLASS == row["class"]).mean())


@pytest.mark.slow
def test_mass_function_slope_step_follows_the_dwarf_excess():
    """A mock with too many log M* < 8.5 galaxies at z < 0.1 makes the fitted low-mass slope shallower."""
    from dwarflib.sky.calibrate import _step_edr
    from dwarflib.sky.physics import load_sky_model
    from dwarflib.sky.samples import edr_frame

    model, edr = load_sky_model(), edr_frame()
    same, _ = _step_edr(model, edr, edr.copy())
    assert np.isclose(same.smf_alpha2, model.smf_alpha2)
    extra = edr[(edr.Z < 0.1) & (edr.LOGMSTAR < 8.5)]
    steeper_mock = pd.concat([edr, extra], ignore_index=True)
    moved, diag = _step_edr(model, edr, steeper_mock)
    assert diag["lowmass_ratio_sim"] > diag["lowmass_ratio_real"]
    assert moved.smf_alpha2 > model.smf_alpha2


def test_interp_many_is_np_interp_bit_for_bit():
    from dwarflib.sky.grid import interp, interp_many

    rng = np.random.default_rng(11)
    xp = np.array([0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.8, 1.0])
    fps = [rng.normal(size=xp.size), rng.normal(size=xp.size)]
    # unsorted x inside and outside the nodes, the nodes themselves and their neighbouring floats
    x = np.concatenate([rng.uniform(-0.5, 1.5, 100_000), xp, np.nextafter(xp, -np.inf), np.nextafter(xp, np.inf)])
    rng.shuffle(x)
    for got, fp in zip(interp_many(x, xp, fps), fps, strict=True):
        assert np.array_equal(got, np.interp(x, xp, fp))
    assert np.array_equal(interp(x, xp, fps[0]), np.interp(x, xp, fps[0]))
    # non-finite x and non-increasing nodes fall back to np.interp
    x_nan = np.array([np.nan, 0.3, np.inf])
    assert np.array_equal(interp(x_nan, xp, fps[0]), np.interp(x_nan, xp, fps[0]), equal_nan=True)
    xp_flat = np.array([0.0, 0.5, 0.5, 1.0])
    assert np.array_equal(interp(x, xp_flat, np.arange(4.0)), np.interp(x, xp_flat, np.arange(4.0)))


# ---------------------------------------------------------------------------------------------------
# Local density of the calibration footprint
# ---------------------------------------------------------------------------------------------------
def test_radial_density_is_a_step_function_and_rejects_bad_shells():
    from dataclasses import replace

    from dwarflib.sky.physics import SkyModel, radial_density

    model = replace(SkyModel(), local_density_z_edges=[0.0, 0.02, 0.05], local_density=[0.7, 1.2])
    z = np.array([0.0, 0.01, 0.0199, 0.02, 0.049, 0.05, 0.3])
    assert np.array_equal(radial_density(z, model), [0.7, 0.7, 0.7, 1.2, 1.2, 1.0, 1.0])
    for edges, dens in (([0.0, 0.05, 0.02], [1.0, 1.0]), ([0.0, 0.02], [1.0, 1.0]), ([0.0, 0.02, 0.05], [0.0, 1.0])):
        with pytest.raises(ValueError, match="local_density"):
            radial_density(z, replace(SkyModel(), local_density_z_edges=edges, local_density=dens))


def test_local_density_scales_the_expected_counts_of_its_shell_only():
    """Halving the density of z < 0.02 halves the expected number of galaxies there and nowhere else."""
    from dataclasses import replace

    from dwarflib.sky.physics import load_sky_model, sampling_grid

    base = replace(load_sky_model(), local_density=[1.0, 1.0])
    half = replace(base, local_density=[0.5, 1.0])
    g0, g1 = sampling_grid(base, 21.0), sampling_grid(half, 21.0)
    assert np.isclose(g0["z_edges"], 0.02).any() and np.isclose(g0["z_edges"], 0.05).any()
    zc = 0.5 * (g0["z_edges"][1:] + g0["z_edges"][:-1])
    n0, n1 = g0["counts"].sum(axis=(0, 2)), g1["counts"].sum(axis=(0, 2))
    assert np.allclose(n1[zc < 0.02], 0.5 * n0[zc < 0.02])
    assert np.allclose(n1[zc >= 0.02], n0[zc >= 0.02])


def test_local_density_step_moves_towards_the_real_shell_share():
    from dwarflib.sky.calibrate import _step_local_density
    from dwarflib.sky.physics import load_sky_model
    from dwarflib.sky.samples import edr_frame

    model, edr = load_sky_model(), edr_frame()
    same, _ = _step_local_density(model, edr, edr.copy())
    assert np.allclose(same.local_density, model.local_density)
    shell = edr[(edr.Z > 0.0104) & (edr.Z < 0.02)]
    crowded = pd.concat([edr, shell], ignore_index=True)  # the mock's z < 0.02 shell twice as full
    moved, diag = _step_local_density(model, edr, crowded, damp=1.0)
    assert diag["shell_share_sim_0.0104_0.02"] > diag["shell_share_real_0.0104_0.02"]
    n, k = len(edr), len(shell)
    assert np.isclose(moved.local_density[0], model.local_density[0] * (k / n) / (2 * k / (n + k)))
    assert moved.local_density[1] > model.local_density[1]  # the other shell's share fell, so it rises


@pytest.mark.slow
def test_cli_mean_density_sky(tmp_path):
    from dwarflib.sky.physics import load_sky_model

    rc = cli_main(["simulate", "--n-sources", "3000", "--seed", "2", "--out", str(tmp_path), "--no-progress",
                   "--mean-density"])
    assert rc == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["local_density"]["density"] == [1.0, 1.0]
    assert summary["model_version"] == generate.model_version(generate.mean_density_model(load_sky_model()))


def test_saga_halves_split_by_host_and_cover_every_satellite_once():
    from real_data import require

    from dwarflib.sky import samples

    require("saga_dr3/")
    full = samples.saga_frame()
    cal, ver = samples.saga_frame("calibration"), samples.saga_frame("verification")
    assert len(cal) + len(ver) == len(full) == 378
    assert not set(cal.HOSTID) & set(ver.HOSTID)  # no host in both halves
    assert abs(cal.HOSTID.nunique() - ver.HOSTID.nunique()) <= 1
    # the split depends on the host names only, not on their order
    shuffled = full.HOSTID.to_numpy()[::-1]
    assert (samples.saga_host_half(shuffled) == full.HALF.to_numpy()[::-1]).all()
    # nor on which rows are asked about: a subset keeps its hosts' halves
    assert (samples.saga_host_half(full.HOSTID.to_numpy()[:7]) == full.HALF.to_numpy()[:7]).all()
    with pytest.raises(ValueError, match="no satellite in table C3"):
        samples.saga_host_half(["not-a-saga-host"])
    with pytest.raises(ValueError, match="half='both'"):
        samples.saga_frame("both")


def test_realism_criterion3_compares_saga_verification_half_with_a_simulated_saga_survey(sky, monkeypatch):
    """Like with like: SAGA's verification half against the simulated SAGA survey of the same hosts, drawn with
    the sky's models; the sky's own dwarfs in SAGA's volume (its satellites when it has enough of them, else
    all its galaxies) are information rows, not scored."""
    from real_data import require

    from dwarflib.sky import diagnostics as diag
    from dwarflib.sky import samples
    from dwarflib.sky.parity import sky_models

    require("saga_dr3/")
    out, _ = sky
    rng = np.random.default_rng(3)
    n = 400
    truth = pd.DataFrame({"Z": rng.uniform(0.005, 0.01, n), "IS_STAR": np.zeros(n, bool),
                          "IS_SATELLITE": np.arange(n) < 40})
    frame = pd.DataFrame({"LOGMSTAR": rng.uniform(7.2, 8.8, n), "r": rng.uniform(15, 20, n),
                          "sb": np.where(truth.IS_SATELLITE, 21.0, 24.0), "gr": 0.4, "fib_minus_tot": 3.7})
    monkeypatch.setattr(diag, "read_sky_frame", lambda sky_dir, where=None: frame[where(truth).to_numpy()])
    monkeypatch.setattr(diag, "file_columns", lambda path: ["TARGETID", "IS_SATELLITE"])
    saga = samples.saga_frame()
    rep = diag.realism_report(out, saga=saga, n_per_host=2, seed=5).set_index("quantity")
    ver = saga[(saga.HALF == 1) & (saga.LOGMSTAR > 7) & (saga.LOGMSTAR < 9)]
    survey = samples.mock_saga_frame("verification", 2, 5, *sky_models(out))
    survey = survey[(survey.LOGMSTAR > 7) & (survey.LOGMSTAR < 9)]
    row = rep.loc["median sb [mag/arcsec^2] (simulated SAGA survey of the verification half's hosts)"]
    assert row.n_real == len(ver) < len(saga) and row.n_sim == len(survey) > 0
    assert row.simulated == pytest.approx(np.median(survey.sb)) and row.real == pytest.approx(np.median(ver.sb))
    assert row.passed == (abs(row.simulated - row.real) <= 0.3)
    info = rep.loc["median sb [mag/arcsec^2] (sky: its satellites)"]
    assert info.simulated == 21.0 and info.n_sim == 40 and info.passed is None
    monkeypatch.setattr(diag, "MIN_SATELLITES_CRITERION3", 41)
    rep = diag.realism_report(out, saga=saga, n_per_host=2, seed=5).set_index("quantity")
    assert rep.loc["median sb [mag/arcsec^2] (sky: all its galaxies)", "n_sim"] == n
