"""Tests of the colour-based stellar masses, including two checks on real data (SAGA DR3, DESI EDR)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from astropy.cosmology import Planck18
from astropy.table import join

from dwarflib import registry
from dwarflib import stellar_mass as sm


def test_distance_modulus_matches_astropy():
    z = np.random.default_rng(0).uniform(1e-4, 0.7, 3000)  # large: the interpolated path
    np.testing.assert_allclose(sm.distance_modulus(z), Planck18.distmod(z).value, atol=1e-5)
    small = np.array([0.01, 0.02, 0.1])  # small: the direct path
    np.testing.assert_allclose(sm.distance_modulus(small), Planck18.distmod(small).value, atol=1e-12)
    assert np.all(np.isnan(sm.distance_modulus([0.0, -0.01, np.nan])))
    # z = 0.02 is about 90 Mpc: DM ~ 34.8 mag
    assert 34.5 < sm.distance_modulus(0.02) < 35.0


def test_relations_by_hand():
    # Bell+03: -0.306 + 1.097*0.5 + 0.4*(4.65 + 20) = 10.1025
    assert sm.logmstar_bell03(0.5, -20.0) == pytest.approx(10.1025)
    assert sm.logmstar_bell03(0.5, -20.0, imf_offset_dex=-0.06) == pytest.approx(10.0425)
    # SAGA II: 1.254 + 1.098*0.5 + 8 = 9.803
    assert sm.logmstar_saga(0.5, -20.0) == pytest.approx(9.803)
    # the two relations differ by ~0.30 dex at fixed colour and luminosity
    gr = np.linspace(0, 1.2, 7)
    np.testing.assert_allclose(sm.logmstar_bell03(gr, -18) - sm.logmstar_saga(gr, -18), 0.300 - 0.001 * gr,
                               atol=1e-12)


def test_from_photometry_and_errors():
    g, r, z = 18.0, 17.5, 0.02
    m_r = 17.5 - sm.distance_modulus(0.02)
    assert sm.logmstar_from_photometry(g, r, z) == pytest.approx(sm.logmstar_saga(0.5, m_r))
    assert sm.logmstar_from_photometry(g, r, z, "bell03") == pytest.approx(sm.logmstar_bell03(0.5, m_r))
    assert np.isnan(sm.logmstar_from_photometry(g, np.nan, z))
    assert np.isnan(sm.logmstar_from_photometry(g, r, 0.0))
    with pytest.raises(ValueError, match="unknown stellar-mass method"):
        sm.logmstar_from_photometry(g, r, z, "taylor11")


def test_robust_scatter():
    x = np.random.default_rng(1).normal(0, 0.3, 200_000)
    assert sm.robust_scatter(x) == pytest.approx(0.3, rel=0.01)
    assert np.isnan(sm.robust_scatter([np.nan]))


def test_saga_relation_reproduces_saga_dr3_masses():
    """Real data: SAGA DR3 satellites' published log M* from their r, g-r and host distance modulus."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # description metadata differ between the two tables
        t = join(registry.load_saga_satellites(), registry.load_saga_hosts()["HOSTID", "DistMod"], keys="HOSTID")
    est = sm.logmstar_saga(np.asarray(t["gr"]), np.asarray(t["rmag"]) - np.asarray(t["DistMod"]))
    diff = est - np.asarray(t["log(M*)"])
    assert len(t) == 378
    assert abs(np.median(diff)) < 0.01 and np.abs(diff).max() < 0.02  # agreement to table rounding


def test_check_against_provabgs_on_desi_edr():
    """Real data: colour-based masses vs PROVABGS on the DESI EDR table (run with -s to see the numbers)."""
    res = sm.check_against_provabgs()
    print("\nReal DESI EDR: colour-based log M* minus PROVABGS log M* [dex] (no K-correction, Planck18)")
    print(res.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    assert list(res["method"]) == ["saga", "saga", "bell03", "bell03"]
    assert list(res["n"]) == [112_104, 2_670, 112_104, 2_670]
    assert np.isfinite(res[["median_offset", "robust_scatter"]].to_numpy()).all()
    low = res[res["sample"] == "z < 0.05"]
    assert (low["median_offset"].abs() < 0.3).all()  # sane: a few tenths of a dex at most
    assert ((low["robust_scatter"] > 0.05) & (low["robust_scatter"] < 0.3)).all()
    # without K-corrections the full sample (to z = 0.6) scatters more than the local one
    for method in ("saga", "bell03"):
        r = res[res["method"] == method].set_index("sample")["robust_scatter"]
        assert r["all"] > r["z < 0.05"]


def test_colour_relation_fit_recovers_known_coefficients():
    rng = np.random.default_rng(3)
    gr, mr = rng.uniform(0.1, 0.8, 500), rng.uniform(-18, -9, 500)
    logm = sm.logmstar_colour_relation(gr, mr, (1.1, 1.4)) + rng.normal(0, 0.01, 500)
    logm[:5] = np.nan  # rows without a mass are left out, not an error
    fit = sm.fit_colour_mass_relation(logm, gr, mr)
    assert fit["coeffs"] == pytest.approx((1.1, 1.4), abs=0.01)
    assert fit["n"] == 495 and fit["rms"] == pytest.approx(0.01, rel=0.1)
    with pytest.raises(ValueError, match="at least 3"):
        sm.fit_colour_mass_relation([np.nan, 1.0], [0.1, 0.2], [1.0, 2.0])
    assert sm.logmstar_of_table("SAGA", 0.5, -20.0) == pytest.approx(sm.logmstar_saga(0.5, -20.0))
    with pytest.raises(ValueError, match="no mass relation for table 'LVDB'"):
        sm.logmstar_of_table("LVDB", 0.5, -20.0)


def test_elves_relation_reproduces_the_elves_table():
    """Real data: ELVES_CARLSTEN22 is the least-squares relation of ELVES table 9's own masses (g, r rows)."""
    from real_data import require

    from dwarflib import verification as V
    from dwarflib.conventions import distance_modulus_of_distance

    require("elves_carlsten22/")
    el = V.restricted_features(registry.load_elves_satellites(), "elves", hosts=registry.load_elves_hosts_csv())
    abs_r = el.features["r"].to_numpy() - distance_modulus_of_distance(el.flags["distance_mpc"].to_numpy())
    ok = el.usable
    fit = sm.fit_colour_mass_relation(el.logmstar[ok], el.features["g_r"].to_numpy()[ok], abs_r[ok])
    assert fit["coeffs"] == pytest.approx(sm.ELVES_CARLSTEN22, abs=5e-4)
    assert fit["n"] == 246 and fit["rms"] < 0.01 and fit["max_abs"] < 0.03
    est = sm.logmstar_of_table("ELVES", el.features["g_r"].to_numpy()[ok], abs_r[ok])
    assert np.abs(est - el.logmstar[ok]).max() < 0.03
