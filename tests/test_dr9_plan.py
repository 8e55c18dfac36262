"""Issue #14, remaining parts: shred pairs searched with each host's own radius (same pairs as the first
implementation), and ``dwarflib classify --plan``."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord, search_around_sky
from astropy.table import Table

from dwarflib import cli, large_galaxies, parallel, survey_io
from dwarflib.conventions import axis_ratio


def _shred_pairs_one_radius(table):
    """Reference: the first ``shred_pairs``, every host searched with the largest SHAPE_R of the table
    (copied unchanged apart from the array helpers; benchmarks/shred_speed.py times it)."""
    ra, dec = np.asarray(table["RA"], float), np.asarray(table["DEC"], float)
    r = np.nan_to_num(np.asarray(table["SHAPE_R"], float), nan=0.0)
    flux = np.nan_to_num(np.asarray(table["FLUX_R"], float), nan=-np.inf)
    hosts = np.flatnonzero(r > 0)
    if len(hosts) == 0 or len(ra) < 2:
        return np.zeros(0, int), np.zeros(0, int)
    c_all = SkyCoord(ra * u.deg, dec * u.deg)
    c_host = c_all[hosts]
    ih, im, _, _ = search_around_sky(c_host, c_all, float(r[hosts].max()) * u.arcsec)
    g, m = hosts[ih], im
    keep = (g != m) & (flux[m] < flux[g])
    g, m = g[keep], m[keep]
    d_east = (ra[m] - ra[g] + 180.0) % 360.0 - 180.0
    d_east = d_east * np.cos(np.radians(dec[g])) * 3600.0
    d_north = (dec[m] - dec[g]) * 3600.0
    e1, e2 = np.asarray(table["SHAPE_E1"], float)[g], np.asarray(table["SHAPE_E2"], float)[g]
    rad = large_galaxies.elliptical_radius(d_east, d_north, axis_ratio(e1, e2),
                                           large_galaxies.position_angle_deg(e1, e2))
    inside = rad <= r[g]
    order = np.lexsort((m[inside], g[inside]))
    return g[inside][order], m[inside][order]


def _field(seed, ra0, dec0, n=3000, side_deg=0.2):
    """A random field: positions in a box of ``side_deg`` (RA scaled by 1/cos dec), SHAPE_R log-uniform
    from 0.05 to 60 arcsec with some zero and NaN, random ellipticities (some |e| >= 1), fluxes with NaN."""
    rng = np.random.default_rng(seed)
    dec = np.clip(dec0 + rng.uniform(-0.5, 0.5, n) * side_deg, -90.0, 90.0)
    ra = np.mod(ra0 + rng.uniform(-0.5, 0.5, n) * side_deg / max(np.cos(np.radians(dec0)), 0.05), 360.0)
    r = 10 ** rng.uniform(np.log10(0.05), np.log10(60.0), n)
    r[rng.random(n) < 0.1] = 0.0
    r[rng.random(n) < 0.02] = np.nan
    e1, e2 = rng.uniform(-0.7, 0.7, (2, n))
    e1[:5] = 1.2  # |e| > 1: b/a clipped
    flux = 10 ** rng.uniform(-1, 3, n)
    flux[rng.random(n) < 0.02] = np.nan
    return Table({"RA": ra, "DEC": dec, "SHAPE_R": r, "SHAPE_E1": e1, "SHAPE_E2": e2, "FLUX_R": flux})


@pytest.mark.parametrize("seed,ra0,dec0", [
    (1, 150.0, 2.0),      # equator
    (2, 0.0, 30.0),       # across RA = 0/360
    (3, 200.0, 70.0),
    (4, 10.0, 89.97),     # the north pole inside the field
    (5, 300.0, -89.9),    # near the south pole
])
@pytest.mark.slow
def test_shred_pairs_same_as_one_radius_search(seed, ra0, dec0):
    t = _field(seed, ra0, dec0)
    g0, m0 = _shred_pairs_one_radius(t)
    g1, m1 = large_galaxies.shred_pairs(t)
    assert len(g0) > 50  # the field has pairs to compare
    np.testing.assert_array_equal(g1, g0)
    np.testing.assert_array_equal(m1, m0)


@pytest.mark.slow
def test_shred_pairs_one_large_galaxy_and_tiny_table():
    t = _field(6, 40.0, -20.0, n=2000)
    t["SHAPE_R"][0] = 600.0  # one 10-arcmin galaxy, brightest of the field
    t["FLUX_R"][0] = 1e6
    t["SHAPE_E1"][0], t["SHAPE_E2"][0] = 0.1, 0.0
    g0, m0 = _shred_pairs_one_radius(t)
    g1, m1 = large_galaxies.shred_pairs(t)
    np.testing.assert_array_equal(g1, g0)
    np.testing.assert_array_equal(m1, m0)
    assert (g1 == 0).sum() > 100
    for n in (0, 1):
        g, m = large_galaxies.shred_pairs(t[:n])
        assert len(g) == len(m) == 0
    t["DEC"][7] = np.nan  # a clear error naming the row, not the KD-tree's "data must be finite"
    with pytest.raises(ValueError, match=r"RA/DEC not finite in 1 row\(s\), first \[7\]"):
        large_galaxies.shred_pairs(t)


def test_hosts_searched_with_their_own_radius():
    """Each host's search radius is its own SHAPE_R within a factor ~2 (octave groups, padded), capped at the
    largest SHAPE_R, not the largest SHAPE_R of the table for every host (the first implementation)."""
    rng = np.random.default_rng(0)
    r = 10 ** rng.uniform(-1, 3, 5000)
    dec = rng.uniform(-60, 60, r.size)
    group, radius = large_galaxies._search_radii_arcsec(r, dec, float(r.max()))
    own = radius[group]
    assert np.all(own >= r)
    assert np.all(own <= 2.2 * r)
    assert np.all(own <= r.max())
    # within r of the pole the padding is unbounded: such hosts fall back to the one (largest) radius
    group, radius = large_galaxies._search_radii_arcsec(np.array([1.0, 100.0]), np.array([90.0, 0.0]), 100.0)
    assert radius[group].tolist() == [100.0, 100.0]


# ------------------------------------------------------------------------------------------ classify --plan
def test_classify_plan_is_the_plan_command_and_classifies_nothing(small_sky, small_model, tmp_path, capsys):
    files = sorted(str(p) for p in small_sky.glob("sweep-*.fits"))
    common = ["--rows-per-s", "5000", "--workers", "3", "--chunk-rows", "10000"]
    out = tmp_path / "out"
    assert cli.main(["classify", str(small_model), *files, "--out", str(out), "--plan", *common]) == 0
    via_classify = capsys.readouterr().out
    assert not out.exists()  # nothing classified, nothing written
    assert cli.main(["plan", *files, "--model", str(small_model), *common]) == 0
    assert capsys.readouterr().out == via_classify  # one implementation
    rows = sum(survey_io.file_nrows(f) for f in files)
    assert f"rows (headers)   : {rows:,d}" in via_classify
    assert "5,000 rows/s per worker (given)" in via_classify and "with 3 workers" in via_classify
    # without --workers: the number classify would start; --out is not needed for a plan
    assert cli.main(["classify", str(small_model), *files, "--plan", "--rows-per-s", "5000"]) == 0
    n = parallel.default_workers(len(files), rows)
    assert f"with {n} workers" in capsys.readouterr().out
    # a plan option without --plan, and a run without --out, are errors (exit 2), not ignored
    assert cli.main(["classify", str(small_model), *files, "--out", str(out), "--rows-per-s", "5"]) == 2
    assert cli.main(["classify", str(small_model), *files]) == 2
    assert "--out" in capsys.readouterr().err and not out.exists()
