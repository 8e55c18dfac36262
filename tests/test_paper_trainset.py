"""The simulated pre-DESI spectroscopic compilation (dwarflib.paper_trainset, issue #12).

Uses the session sky ``small_sky`` (about 8.5 deg^2). Its default share of SAGA hosts rounds to none (101 hosts per
7,500 deg^2), so the compilation under test asks for hosts explicitly, in wider mass and distance ranges than
SAGA's (the small sky holds few Milky-Way-mass galaxies at 25-40 Mpc).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.cosmology import Planck18
from astropy.table import Table

from dwarflib import comparison as C
from dwarflib import metrics, paper
from dwarflib import paper_trainset as pt
from dwarflib.conventions import ab_magnitude, mean_surface_brightness
from dwarflib.selections import GAMA, GAMA_AREA, SAGA, SAGA_AREA, SDSS_MAIN, SDSS_MAIN_AREA
from dwarflib.sky.samples import read_truth
from dwarflib.training_sample import build_training_sample, load_labelled_table

N_HOSTS = 3
HOST_LOGM = (9.5, 11.5)
HOST_DIST = (10.0, 120.0)


def _build(sky, seed=0):
    return pt.build_compilation(sky, seed=seed, n_hosts=N_HOSTS, host_logm=HOST_LOGM, host_distance_mpc=HOST_DIST)


@pytest.fixture(scope="module")
def comp(small_sky):
    return _build(small_sky)


def _r(t):
    return ab_magnitude(np.asarray(t["FLUX_R"], float) / np.asarray(t["MW_TRANSMISSION_R"], float))


def _in(t, name):
    return (np.asarray(t["IN_SURVEYS"]) & pt.SURVEY_BITS[name]) > 0


def test_areas_are_the_real_surveys_shares():
    assert GAMA_AREA.fraction() == pytest.approx(286.0 / 7500.0)
    assert SDSS_MAIN_AREA.fraction() == 1.0
    assert SAGA_AREA.hosts_on(7500.0) == 101
    assert SAGA_AREA.hosts_on(212.0) == 3  # 101 * 212 / 7500 = 2.85
    with pytest.raises(ValueError, match="contiguous"):
        GAMA_AREA.hosts_on(100.0)


def test_gama_patch_has_the_area_and_aspect():
    box = pt.gama_patch(185.0, 15.0, 8.0)
    ra_w, dec_h = box["ra2"] - box["ra1"], box["dec2"] - box["dec1"]
    assert ra_w / dec_h == pytest.approx(pt.GAMA_ASPECT)
    area = np.degrees(np.radians(ra_w)) * np.degrees(np.sin(np.radians(box["dec2"])) - np.sin(np.radians(box["dec1"])))
    assert area == pytest.approx(8.0, rel=1e-6)
    assert (box["ra1"] + box["ra2"]) / 2 == pytest.approx(185.0)


def test_sdss_rows_pass_the_sdss_selection(comp):
    t = comp.table
    sdss = _in(t, pt.SURVEY_SDSS)
    assert sdss.sum() > 100
    r = _r(t)[sdss]
    assert np.all(r < SDSS_MAIN.r_max)
    mu = mean_surface_brightness(r, np.asarray(t["SHAPE_R"], float)[sdss])
    assert np.all(mu < pt.SDSS_MU50_MAX)
    assert not np.any(np.char.strip(t["TYPE"][sdss].astype("S3")) == b"PSF")
    # the fibre / redshift completeness: observed / targets within 5 sigma of SDSS_COMPLETENESS
    row = comp.report.set_index("survey").loc[pt.SURVEY_SDSS]
    n, k = int(row["targets"]), int(row["observed"])
    assert k == sdss.sum()
    assert abs(k / n - pt.SDSS_COMPLETENESS) < 5 * np.sqrt(pt.SDSS_COMPLETENESS * (1 - pt.SDSS_COMPLETENESS) / n)


def test_gama_rows_lie_in_a_patch_of_the_stated_area(comp):
    t = comp.table
    gama = _in(t, pt.SURVEY_GAMA)
    assert gama.sum() > 10
    assert np.all(_r(t)[gama] < GAMA.r_max)
    box = comp.gama_box
    assert box["area"] == pytest.approx(GAMA_AREA.fraction() * comp.footprint_deg2)
    ra, dec = t["RA"][gama], t["DEC"][gama]
    assert np.all((ra >= box["ra1"]) & (ra < box["ra2"]) & (dec >= box["dec1"]) & (dec < box["dec2"]))
    # GAMA reaches fainter than SDSS: some GAMA rows are beyond SDSS's limit
    assert np.any(_r(t)[gama] > SDSS_MAIN.r_max)


def test_saga_rows_lie_within_300_kpc_of_a_host(comp):
    t = comp.table
    hosts = comp.hosts
    assert len(hosts) == N_HOSTS
    assert np.all((hosts["LOGMSTAR"] >= HOST_LOGM[0]) & (hosts["LOGMSTAR"] <= HOST_LOGM[1]))
    assert np.all((hosts["DIST_MPC"] >= HOST_DIST[0]) & (hosts["DIST_MPC"] <= HOST_DIST[1]))
    saga = _in(t, pt.SURVEY_SAGA)
    assert saga.sum() > 10
    assert np.all(_r(t)[saga] < SAGA.r_max)
    # independent projected distances: astropy separations times Planck18 angular-diameter distance
    c = SkyCoord(t["RA"] * u.deg, t["DEC"] * u.deg)
    r_kpc = np.full(len(c), np.inf)
    for _, h in hosts.iterrows():
        sep = c.separation(SkyCoord(h["RA"] * u.deg, h["DEC"] * u.deg)).radian
        r_kpc = np.minimum(r_kpc, sep * Planck18.angular_diameter_distance(h["Z"]).to_value(u.kpc))
    assert np.all(r_kpc[saga] < SAGA_AREA.host_radius_kpc * 1.001)
    # atol: the stored RA/Dec round a satellite within a few parsecs of its host onto the host's position
    np.testing.assert_allclose(t["R_HOST_KPC"][saga], r_kpc[saga], rtol=2e-3, atol=0.01)
    # rows that only SAGA observed are all near a host; far rows exist (SDSS, GAMA)
    only_saga = t["SURVEY"] == pt.SURVEY_SAGA.encode()
    assert only_saga.any() and np.all(r_kpc[only_saga] < SAGA_AREA.host_radius_kpc * 1.001)
    assert np.any(r_kpc > 2 * SAGA_AREA.host_radius_kpc)


def test_objects_are_written_once_with_the_priority_survey(comp):
    t = comp.table
    ids = t["TARGETID"]
    assert len(np.unique(ids)) == len(ids)
    in_sdss, in_gama = _in(t, pt.SURVEY_SDSS), _in(t, pt.SURVEY_GAMA)
    assert np.any(in_sdss & in_gama)  # overlaps exist, and were counted once
    assert np.all(t["SURVEY"][in_sdss] == pt.SURVEY_SDSS.encode())
    assert np.all(t["SURVEY"][in_gama & ~in_sdss] == pt.SURVEY_GAMA.encode())
    rep = comp.report.set_index("survey")
    assert rep.loc["compilation", "written"] == len(ids)
    assert rep.loc[list(pt.SURVEY_PRIORITY), "written"].sum() == len(ids)


def test_labels_come_from_the_truth(comp, small_sky):
    truth = read_truth(small_sky).set_index("TARGETID")
    tr = truth.loc[comp.table["TARGETID"]]
    np.testing.assert_array_equal(comp.table["Z"], tr["Z"].to_numpy())
    np.testing.assert_array_equal(comp.table["LOGMSTAR"], tr["LOGMSTAR"].to_numpy(np.float32))
    np.testing.assert_array_equal(comp.table["IS_STAR"], tr["IS_STAR"].to_numpy())
    np.testing.assert_array_equal(comp.table["CLASS"], tr["CLASS"].to_numpy())  # the simulator's own labels


def test_same_seed_same_compilation_other_seed_other(comp, small_sky):
    again = _build(small_sky, seed=0)
    for c in comp.table:
        np.testing.assert_array_equal(again.table[c], comp.table[c], err_msg=c)
    other = _build(small_sky, seed=1)
    assert not np.array_equal(np.sort(other.table["TARGETID"]), np.sort(comp.table["TARGETID"]))


def test_written_table_is_a_labelled_training_table(comp, tmp_path):
    path = pt.write_compilation(comp, tmp_path / "compilation.fits")
    table = load_labelled_table(path)
    assert len(table) == len(comp)
    sample = build_training_sample(path)
    assert len(sample.table) + len(sample.removed) == len(comp)
    np.testing.assert_array_equal(np.sort(np.concatenate([sample.ids, np.asarray(sample.removed["ID"])])),
                                  np.sort(comp.table["TARGETID"]))


def test_sky_without_truth_is_an_error_naming_the_file(small_sky, tmp_path):
    sky = tmp_path / "sky"
    sky.mkdir()
    for p in small_sky.iterdir():
        if p.name != "truth.fits" and p.is_file():
            os.symlink(p, sky / p.name)
    with pytest.raises(FileNotFoundError, match=r"truth\.fits"):
        pt.build_compilation(sky)


def test_sweeps_of_another_sky_are_an_error_naming_the_file(small_sky, tmp_path):
    sky = tmp_path / "sky"
    sky.mkdir()
    for p in small_sky.iterdir():
        if p.is_file():
            os.symlink(p, sky / p.name)
    first = sorted(sky.glob("sweep-*.fits"))[0]
    t = Table.read(first)
    t["OBJID"] = t["OBJID"] + 1_000_000  # ids that the truth table does not hold
    first.unlink()
    t.write(first)
    with pytest.raises(ValueError, match=first.name):
        pt.build_compilation(sky, n_hosts=0)


# ---------------------------------------------------------------------------------------------------------------
# the comparison rows of the network trained on the compilation (dwarflib.comparison.compilation_rows)
def _scores(seed=0, n=2000, n_sig=40, separable=False):
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(n_sig, int), rng.integers(1, 7, n - n_sig)]
    if separable:
        p = np.r_[rng.uniform(0.9, 1.0, n_sig), rng.uniform(0.0, 0.1, n - n_sig)]
    else:
        p = np.r_[rng.beta(4, 2, n_sig), rng.beta(1, 6, n - n_sig)]
    return y, p


def test_compilation_rows_give_the_measured_numbers():
    y, p = _scores()
    df = pd.DataFrame(C.compilation_rows((y, p))).set_index("quantity")
    assert set(df["comparable"]) <= set(C.VERDICTS) and set(df["data"]) == {"simulated"}
    sel, sig = p >= 0.5, y == 0
    pr = metrics.precision_recall_from_counts(int((sel & sig).sum()), int(sel.sum()), int(sig.sum()))
    prec = df.loc["compilation test precision, p_signal >= 0.5"]
    assert prec["project_value"] == pytest.approx(pr["precision"])
    assert prec["interval_low"] == pytest.approx(pr["precision_low"])
    assert prec["prevalence"] == pytest.approx(sig.mean())
    assert prec["paper_value"] == paper.TEST_PRECISION.value
    at = metrics.metrics_at_prevalence(y, p, 0.5, sig.mean(), n_boot=0).iloc[0]
    assert f"average precision {at['average_precision']:.3f}" in prec["conditions"]
    assert f"recall at FPR {metrics.REFERENCE_FPR:g} {at['recall_at_fpr']:.3f}" in prec["conditions"]
    rec = df.loc["compilation test recall, p_signal >= 0.5"]
    assert rec["project_value"] == pytest.approx(pr["recall"]) and rec["paper_value"] == paper.TEST_RECALL.value
    prev = df.loc[[q for q in df.index if q.startswith("signal prevalence")][0]]
    at = metrics.metrics_at_prevalence(y, p, prev["threshold"], prev["project_value"], n_boot=0).iloc[0]
    assert at["precision"] == pytest.approx(paper.TEST_PRECISION.value, rel=1e-9)
    assert at["recall"] >= paper.TEST_RECALL.value
    assert prev["interval_low"] <= prev["project_value"] <= prev["interval_high"]


def test_compilation_rows_say_when_the_papers_pair_cannot_be_reached():
    y, p = _scores(separable=True)  # no non-signal object selected at the paper's recall: FPR = 0
    df = pd.DataFrame(C.compilation_rows((y, p))).set_index("quantity")
    prev = df.loc[[q for q in df.index if q.startswith("signal prevalence")][0]]
    assert np.isnan(prev["project_value"]) and prev["comparable"] == "no"
    assert "no prevalence gives the paper's pair" in prev["reason"] and "FPR = 0" in prev["reason"]
