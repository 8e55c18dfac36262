"""Tests of the issue #14 tools: north/south resolution and the footprint plan (dwarflib.footprint), large-galaxy
and shred flags (dwarflib.large_galaxies), one-to-one cross-matching (dwarflib.crossmatch) and the candidate
page (dwarflib.cutouts). Real rows: ../shared/data/desitarget_ls_test_files (DR7/DR8-era sweeps and Tractor files)."""

from __future__ import annotations

import glob
import re

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table, vstack
from sky_fixtures import split_sweeps

from dwarflib import cli, crossmatch, cutouts, footprint, large_galaxies, survey_io, verification
from dwarflib.paths import data_home

REAL = sorted(p for p in glob.glob(str(data_home() / "desitarget_ls_test_files" / "*.fits"))
              if "targets" not in p)
SHRED_COLS = ["RELEASE", "BRICKID", "OBJID", "RA", "DEC", "TYPE", "SHAPE_R", "SHAPE_E1", "SHAPE_E2", "SERSIC",
              "FLUX_R", "FLUX_IVAR_R", "MASKBITS", "REF_CAT",
              *(f"FRACFLUX_{b}" for b in "GRZ"), *(f"FRACIN_{b}" for b in "GRZ")]


@pytest.fixture(scope="module")
def real_rows() -> Table:
    assert len(REAL) == 6, REAL
    t = vstack([survey_io.read_catalogue(p, columns=SHRED_COLS, flags=False) for p in REAL],
               metadata_conflicts="silent")
    assert len(t) == 36
    return t


def _raw(name: str) -> np.ndarray:
    """A column straight from the FITS files (astropy only), for independent expectations."""
    return np.concatenate([np.asarray(fits.getdata(p, 1)[name]) for p in REAL])


# ------------------------------------------------------------------------------------------ north / south
def test_resolve_real_rows_are_south_and_kept(real_rows):
    # real DR8 south rows (RELEASE 8000) at Dec ~ -4..0: south photometry in the south area
    assert set(np.asarray(real_rows["RELEASE"]).tolist()) == {8000}
    keep, reason = footprint.resolve_north_south(real_rows)
    assert keep.all() and (reason == "").all()
    # the same rows declared north (DR9 north release 9011): every one is a duplicate of the south sweep
    t = real_rows.copy()
    t["RELEASE"] = 9011
    keep, reason = footprint.resolve_north_south(t)
    assert not keep.any() and set(reason) == {"NORTH_OUTSIDE_NORTH_AREA"}
    assert footprint.resolve_counts(reason) == {"kept": 0, "NORTH_OUTSIDE_NORTH_AREA": 36}


@pytest.mark.parametrize("ra, dec, north_area", [
    (185.0, 32.376, True),    # NGC (b ~ +82), just above the split
    (185.0, 32.374, False),   # NGC, just below
    (185.0, 60.0, True),      # NGC, far north
    (10.0, 32.376, False),    # SGC (b ~ -30): south area whatever the Dec
    (10.0, 40.0, False),      # SGC, high Dec
    (110.0, 40.0, True),      # north of the plane at low RA (b ~ +22)
])
def test_resolve_overlap_rule_both_sides(real_rows, ra, dec, north_area):
    # six real rows moved to the test position; two per release: 9011 (north), 9010 and 9012 (south)
    t = real_rows[:6].copy()
    t["RA"] = ra
    t["DEC"] = dec
    t["RELEASE"] = [9011, 9011, 9010, 9010, 9012, 9012]
    from astropy.coordinates import SkyCoord

    b = SkyCoord(ra, dec, unit="deg").galactic.b.deg
    assert (b > 0 and dec > 32.375) == north_area  # the expectation itself
    keep, reason = footprint.resolve_north_south(t)
    north = np.array([True, True, False, False, False, False])
    np.testing.assert_array_equal(keep, north if north_area else ~north)
    expected_reason = np.where(keep, "", "SOUTH_INSIDE_NORTH_AREA" if north_area else "NORTH_OUTSIDE_NORTH_AREA")
    np.testing.assert_array_equal(reason, expected_reason)
    assert len(t) == keep.sum() + (reason != "").sum()


def test_resolve_unknown_release_is_an_error(real_rows):
    t = real_rows[:3].copy()
    t["RELEASE"] = [9010, 1234, 9011]
    with pytest.raises(ValueError, match=r"1234.*row 1"):
        footprint.resolve_north_south(t)
    with pytest.raises(KeyError, match="RELEASE"):
        footprint.resolve_north_south({"RA": [1.0], "DEC": [2.0]})


# ------------------------------------------------------------------------------------------ large galaxies
@pytest.mark.slow
def test_large_galaxy_flags_real_rows(real_rows):
    bits = large_galaxies.LARGE_GALAXY_BITS
    flags, missing = large_galaxies.large_galaxy_flags(real_rows)
    assert missing == {}
    # independent expectations from the raw FITS columns
    maskbits = _raw("MASKBITS").astype(int)
    refcat = np.char.strip(_raw("REF_CAT").astype(str))
    assert not (refcat == "L3").any() and not (maskbits & (1 << 12)).any()
    fracflux = np.array([_raw(f"FRACFLUX_{b}") for b in "GRZ"])
    fracin = np.array([_raw(f"FRACIN_{b}") for b in "GRZ"])
    np.testing.assert_array_equal((flags >> bits["FRACFLUX_HIGH"]) & 1, (fracflux >= 5).any(axis=0))
    np.testing.assert_array_equal((flags >> bits["FRACIN_LOW"]) & 1, (fracin <= 0.3).any(axis=0))
    # a stricter FRACIN threshold flags the real rows whose FRACIN is low in a band (there are some)
    f2, _ = large_galaxies.large_galaxy_flags(real_rows, fracin_min=0.6, fracflux_max=1.0)
    exp_in = (fracin <= 0.6).any(axis=0)
    exp_ff = (fracflux >= 1.0).any(axis=0)
    assert 0 < exp_in.sum() < 36 and 0 < exp_ff.sum() < 36
    np.testing.assert_array_equal(((f2 >> bits["FRACIN_LOW"]) & 1).astype(bool), exp_in)
    np.testing.assert_array_equal(((f2 >> bits["FRACFLUX_HIGH"]) & 1).astype(bool), exp_ff)


def test_sga_and_galaxy_mask_bits(real_rows):
    bits = large_galaxies.LARGE_GALAXY_BITS
    t = real_rows[:6].copy()
    t["REF_CAT"] = ["L3", "", "G2", "", "", ""]
    t["MASKBITS"] = np.array([1 << 12, 1 << 12, 0, 2, 0, (1 << 12) | 2], np.int16)
    flags, _ = large_galaxies.large_galaxy_flags(t)
    sga = ((flags >> bits["SGA"]) & 1).astype(bool)
    inell = ((flags >> bits["IN_SGA_ELLIPSE"]) & 1).astype(bool)
    np.testing.assert_array_equal(sga, [True, False, False, False, False, False])
    np.testing.assert_array_equal(inell, [False, True, False, False, False, True])  # the SGA galaxy itself: not
    assert large_galaxies.decode_large_galaxy_flags(flags[1]) == "IN_SGA_ELLIPSE"


def test_shreds_inside_a_brighter_half_light_ellipse(real_rows):
    bits = large_galaxies.LARGE_GALAXY_BITS
    t = real_rows[:5].copy()
    ra0, dec0 = 150.0, 2.0
    # host: r_e 10 arcsec, b/a = 0.5 with its major axis North-South (E1 > 0, E2 = 0: PA 0)
    e = (1 - 0.5) / (1 + 0.5)
    host = {"RA": ra0, "DEC": dec0, "SHAPE_R": 10.0, "SHAPE_E1": e, "SHAPE_E2": 0.0, "FLUX_R": 1000.0}
    cosd = np.cos(np.radians(dec0))
    members = [  # (East, North) offsets [arcsec], FLUX_R
        (0.0, 8.0, 10.0),    # 8" along the major axis: inside
        (4.0, 0.0, 10.0),    # 4" along the minor axis (semi-minor 5"): inside
        (7.0, 0.0, 10.0),    # 7" along the minor axis: outside
        (0.0, -6.0, 5000.0),  # inside but brighter than the host: not a shred of it
    ]
    for k, v in host.items():
        t[k][0] = v
    for i, (de, dn, f) in enumerate(members, start=1):
        t["RA"][i] = ra0 + de / 3600 / cosd
        t["DEC"][i] = dec0 + dn / 3600
        t["FLUX_R"][i] = f
        t["SHAPE_R"][i] = 0.0
    flags, _ = large_galaxies.large_galaxy_flags(t)
    shred = ((flags >> bits["IN_BRIGHTER_REFF"]) & 1).astype(bool)
    has = ((flags >> bits["HAS_SHREDS"]) & 1).astype(bool)
    np.testing.assert_array_equal(shred, [False, True, True, False, False])
    np.testing.assert_array_equal(has, [True, False, False, False, False])
    g, m = large_galaxies.shred_pairs(t)
    assert g.tolist() == [0, 0] and m.tolist() == [1, 2]
    # without the columns the bits are reported as not evaluated, not silently zero
    _, missing = large_galaxies.large_galaxy_flags(Table({"RA": [1.0], "DEC": [1.0]}))
    assert set(missing) == set(bits)


# ------------------------------------------------------------------------------------------ cross-match
def _offset(ra, dec, east, north):
    return ra + east / 3600 / np.cos(np.radians(dec)), dec + north / 3600


def test_crossmatch_one_to_one_with_conflicting_nearest_neighbours():
    ra0, dec0 = 40.0, -10.0
    # catalogue 2: X at the origin, Y 1.5" West
    ext = [_offset(ra0, dec0, 0, 0), _offset(ra0, dec0, -1.5, 0)]
    # catalogue 1: A 0.3" East of X, B 0.6" West of X (nearest: X for both), C 1.5" North of X (only X near)
    cat = [_offset(ra0, dec0, 0.3, 0), _offset(ra0, dec0, -0.6, 0), _offset(ra0, dec0, 0, 1.5)]
    ra1, dec1 = np.array(cat).T
    ra2, dec2 = np.array(ext).T
    m = crossmatch.crossmatch(ra1, dec1, ra2, dec2, radius_arcsec=2.0)
    assert m["index"].tolist() == [0, 1, -1]
    assert m["status"].tolist() == ["matched", "matched", "counterpart_taken"]
    np.testing.assert_allclose(m["sep_arcsec"], [0.3, 0.9, 1.5], atol=1e-6)
    used = m.loc[m["matched"], "index"]
    assert used.is_unique
    # the plain nearest neighbour would have given X to both A and B
    idx, _, _ = verification.SkyCoord(ra1, dec1, unit="deg").match_to_catalog_sky(
        verification.SkyCoord(ra2, dec2, unit="deg"))
    assert idx.tolist()[:2] == [0, 0]
    # verification.match_by_position is this match now (it gave X to both A and B before)
    assert verification.match_by_position(ra1, dec1, ra2, dec2, 2.0)["index"].tolist() == [0, 1, -1]
    far = crossmatch.crossmatch([ra0 + 1], [dec0], ra2, dec2, radius_arcsec=2.0)
    assert far["status"].tolist() == ["no_counterpart_within_radius"] and far["index"].tolist() == [-1]


def test_crossmatch_flux_tie_break():
    ra0, dec0 = 200.0, 30.0
    # A is 1.00" from X and 1.05" from Y: a tie at tie_arcsec = 0.1; A's magnitude is Y's
    ra1, dec1 = np.array([_offset(ra0, dec0, 0, 0)]).T
    ra2, dec2 = np.array([_offset(ra0, dec0, 1.0, 0), _offset(ra0, dec0, -1.05, 0)]).T
    mag1, mag2 = [18.0], [21.0, 18.1]
    near = crossmatch.crossmatch(ra1, dec1, ra2, dec2, 3.0)
    assert near["index"].tolist() == [0]  # no magnitudes: the nearest
    tie = crossmatch.crossmatch(ra1, dec1, ra2, dec2, 3.0, mag1=mag1, mag2=mag2)
    assert tie["index"].tolist() == [1] and tie["dmag"].iloc[0] == pytest.approx(0.1, abs=1e-6)
    strict = crossmatch.crossmatch(ra1, dec1, ra2, dec2, 3.0, mag1=mag1, mag2=mag2, tie_arcsec=0.01)
    assert strict["index"].tolist() == [0]  # 0.05" apart is no tie at 0.01"
    with pytest.raises(ValueError, match="both"):
        crossmatch.crossmatch(ra1, dec1, ra2, dec2, 3.0, mag1=mag1)
    with pytest.raises(ValueError, match="row 0"):
        crossmatch.crossmatch([np.nan], [0.0], ra2, dec2, 3.0)


def test_match_by_position_unchanged_where_one_to_one():
    rng = np.random.default_rng(3)
    ra2 = rng.uniform(10, 10.2, 400)
    dec2 = rng.uniform(0, 0.2, 400)
    pick = rng.choice(400, 300, replace=False)
    ra1 = ra2[pick] + rng.normal(0, 0.5 / 3600, 300)
    dec1 = dec2[pick] + rng.normal(0, 0.5 / 3600, 300)
    c1 = verification.SkyCoord(ra1, dec1, unit="deg")
    idx, sep, _ = c1.match_to_catalog_sky(verification.SkyCoord(ra2, dec2, unit="deg"))  # the old implementation
    sep = sep.arcsec
    old_ok = sep <= 2.0
    assert len(set(idx[old_ok])) == old_ok.sum()  # the nearest neighbours are one-to-one here
    m = verification.match_by_position(ra1, dec1, ra2, dec2, radius_arcsec=2.0)
    np.testing.assert_array_equal(m["matched"], old_ok)
    np.testing.assert_array_equal(m["index"], np.where(old_ok, idx, -1))
    np.testing.assert_allclose(m["sep_arcsec"], sep, rtol=1e-9)


def test_crossmatch_cli(tmp_path, real_rows, capsys):
    cat = real_rows.to_pandas()[["RA", "DEC", "OBJID", "FLUX_R"]]
    cat["TARGETID"] = np.arange(len(cat)) + 100
    cat.to_csv(tmp_path / "cat.csv", index=False)
    ext = pd.DataFrame({"ra": cat["RA"].to_numpy()[[0, 7, 20]] + 0.5 / 3600, "dec": cat["DEC"].to_numpy()[[0, 7, 20]],
                        "name": ["a", "b", "c"]})
    ext.loc[2, "ra"] += 0.1  # far from everything
    ext.to_csv(tmp_path / "ext.csv", index=False)
    rc = cli.main(["crossmatch", str(tmp_path / "cat.csv"), str(tmp_path / "ext.csv"), "--radius", "1.5",
                   "--out", str(tmp_path / "m.parquet")])
    assert rc == 0
    out = pd.read_parquet(tmp_path / "m.parquet")
    assert out["name"].tolist() == ["a", "b", "c"]
    assert out["MATCH_STATUS"].tolist() == ["matched", "matched", "no_counterpart_within_radius"]
    assert out["CAT_TARGETID"].tolist()[:2] == [100, 107] and pd.isna(out["CAT_TARGETID"].iloc[2])
    assert "matched" in capsys.readouterr().out
    rc = cli.main(["crossmatch", str(tmp_path / "cat.csv"), str(tmp_path / "ext.csv"), "--radius", "1",
                   "--out", str(tmp_path / "m.parquet"), "--ext-ra", "nope"])
    assert rc == 1 and "ext.csv: no column 'nope'" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ cutouts
def test_urls():
    assert cutouts.viewer_url(150.1, 2.5) == \
        "https://www.legacysurvey.org/viewer?ra=150.100000&dec=2.500000&layer=ls-dr9&zoom=16"
    assert cutouts.cutout_url(150.1, -2.5, size=64) == ("https://www.legacysurvey.org/viewer/cutout.jpg?"
                                                         "ra=150.100000&dec=-2.500000&layer=ls-dr9&pixscale=0.262&size=64")
    v = cutouts.viewer_url([1.0, 2.0], [3.0, 4.0])
    assert len(v) == 2 and "ra=2.000000" in v[1]


@pytest.mark.slow
def test_rendered_flux_matches_flux_r():
    row = {"SHAPE_R": 2.0, "SHAPE_E1": 0.2, "SHAPE_E2": -0.1, "SERSIC": 1.0, "FLUX_R": 50.0,
           "FLUX_IVAR_R": 4.0, "PSFSIZE_R": 1.3}
    clean = cutouts.render_model_image(row, noise=False)
    assert clean.sum() == pytest.approx(50.0, rel=0.01)
    noisy = cutouts.render_model_image(row, seed=1)
    sigma_pix = np.sqrt(((clean / clean.sum()) ** 2).sum()) / 2.0
    total_sigma = sigma_pix * np.sqrt(clean.size)
    assert abs(noisy.sum() - 50.0) < 5 * total_sigma
    # the profile-weighted flux of the noisy image has the catalogue's error 1/sqrt(ivar) = 0.5
    p = clean / clean.sum()
    est = [(cutouts.render_model_image(row, seed=s) * p).sum() / (p**2).sum() for s in range(40)]
    assert np.std(est) == pytest.approx(0.5, rel=0.35)
    assert np.array_equal(cutouts.render_model_image(row, seed=1), noisy)  # same seed, same image
    point = cutouts.render_model_image({"SHAPE_R": 0.0, "SERSIC": 0.0, "FLUX_R": 10.0}, noise=False)
    assert point.sum() == pytest.approx(10.0, rel=1e-3)


def test_cutouts_page_real_rows(real_rows):
    t = real_rows[:7].to_pandas()
    cat = pd.DataFrame({"TARGETID": np.arange(7) + 1000, "RA": t["RA"], "DEC": t["DEC"],
                        "P_SIGNAL": np.linspace(0.3, 0.9, 7), "r": np.linspace(17, 19, 7)})
    for k in range(3):
        cat[f"P_CLASS{k}"] = [0.123 + 0.1 * k] * 7
    top = cutouts.select_candidates(cat, top=4)
    assert top["TARGETID"].tolist() == [1006, 1005, 1004, 1003]
    page = cutouts.cutouts_page(top, ["dwarf", "far", "star"], feature_cols=["r"])
    assert page.count("<div class='card'") == 4
    assert len(re.findall(r"<img [^>]*src='https://www\.legacysurvey\.org/viewer/cutout\.jpg\?ra=", page)) == 4
    for row in top.to_dict("records"):
        assert cutouts.viewer_url(row["RA"], row["DEC"]).replace("&", "&amp;") in page
        assert f"p_signal = <b>{row['P_SIGNAL']:.3f}</b>" in page
    assert "<td>far</td><td>0.223</td>" in page and "catalogue features" in page
    by_id = cutouts.select_candidates(cat, ids=[1002, 1000])
    assert by_id["TARGETID"].tolist() == [1002, 1000]
    with pytest.raises(KeyError, match="999"):
        cutouts.select_candidates(cat, ids=[999])


# ------------------------------------------------------------------------------------------ plan
def test_plan_arithmetic(tmp_path):
    assert footprint.makespan_seconds([10, 7, 5, 3], 2, 1.0) == 13.0  # LPT: {10, 3}, {7, 5}
    assert footprint.makespan_seconds([10, 7, 5, 3], 8, 2.0) == 5.0
    cost = footprint.survey_cost(rows_per_s=1e4, workers=100, n_sources=2_000_000_000, n_files=1400)
    assert cost["worker_hours"] == pytest.approx(2e9 / 1e4 / 3600)
    assert cost["wall_hours"] == pytest.approx(14 * (2e9 / 1400) / 1e4 / 3600)
    plan = footprint.plan_footprint(REAL, workers=4, rows_per_s=2.0, baseline_bytes=1000)
    assert [f.rows for f in plan.files] == [6] * 6 and plan.total_rows == 36
    assert plan.wall_s == pytest.approx(12 / 2.0)  # 6 files over 4 workers: two rounds of 6 rows
    naxis1 = max(fits.getheader(p, 1)["NAXIS1"] for p in REAL)
    # the chunks (6 rows, two of them held) outweigh the pair search of a 6-row file; its pair bits are kept
    assert plan.memory_per_worker == 1000 + 6 * 2 * naxis1 + 6 * footprint.PAIR_FLAGS_BYTES_PER_ROW
    # a file far larger than a chunk: its pair search sets the peak
    big = footprint.memory_per_worker_bytes(1000, 100, 10, 50, 0, file_rows=10_000_000)
    assert big == 10_000_000 * (footprint.PAIR_SEARCH_BYTES_PER_ROW + footprint.PAIR_FLAGS_BYTES_PER_ROW)
    assert "36" in plan.to_text()
    with pytest.raises(ValueError, match="rows_per_s"):
        footprint.plan_footprint(REAL, workers=1)


# ------------------------------------------------------------------------------------------ simulated sky
@pytest.fixture(scope="module")
def sim(small_sky, small_model, tmp_path_factory):
    from dwarflib.catalogue import classify_files

    sky, model_dir = small_sky, small_model
    files = split_sweeps(sky, tmp_path_factory.mktemp("sweeps"), n_files=2, n_rows=6000)
    for f in files:  # the split keeps the simulation's header mark
        with fits.open(sky / sorted(p.name for p in sky.glob("sweep-*.fits"))[0]) as h:
            seed = h[1].header["SIMSEED"]
        fits.setval(f, "SIMSEED", value=seed, ext=1)
    out = tmp_path_factory.mktemp("cat")
    classify_files(model_dir, files, out, keep_all=True, workers=1, progress=False)
    return model_dir, files, out


@pytest.mark.slow
def test_cutouts_cli_simulated_sky(sim, tmp_path, capsys):
    model_dir, files, out = sim
    page = tmp_path / "c.html"
    rc = cli.main(["cutouts", str(out), "--out", str(page), "--top", "5", "--sweeps", *map(str, files),
                   "--model", str(model_dir)])
    assert rc == 0, capsys.readouterr().err
    text = page.read_text()
    assert text.count("<div class='card'") == 5
    assert text.count("src='data:image/png;base64,") == 5 and "cutout.jpg" not in text
    assert text.count("delta_p") >= 5 and "Simulated sky" in text
    from dwarflib.catalogue import load_catalogue

    cat = load_catalogue(out)
    top = cutouts.select_candidates(cat, top=5)
    for row in top.to_dict("records"):
        assert f"TARGETID {int(row['TARGETID'])}" in text
        assert f"p_signal = <b>{row['P_SIGNAL']:.3f}</b>" in text
    # rendered flux of a simulated galaxy = its FLUX_R within noise
    rows = cutouts.sweep_rows(files, top["TARGETID"], ["RELEASE", "BRICKID", "OBJID", *cutouts.RENDER_COLUMNS])
    r = rows[int(top["TARGETID"].iloc[0])]
    img = cutouts.render_model_image(r, noise=False)
    assert img.sum() == pytest.approx(float(r["FLUX_R"][0]), rel=0.03)


@pytest.mark.slow
def test_plan_measured_on_first_file(sim):
    model_dir, files, _ = sim
    plan = footprint.plan_footprint(files, workers=2, model_dir=model_dir)
    m = plan.extra["measurement"]
    assert m["rows"] == survey_io.file_nrows(files[0]) and m["rows_per_s"] > 0
    assert plan.memory_per_worker >= m["peak_rss_bytes"] > 50e6
    assert plan.wall_s == pytest.approx(max(survey_io.file_nrows(f) for f in files) / m["rows_per_s"])
