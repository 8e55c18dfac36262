"""Tests of the preselection: every cut, the first-cut reason, the report, bookkeeping and serialisation."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from astropy.table import vstack
from dr9_fixtures import make_dr9_table

from dwarflib import datamodel, registry
from dwarflib import survey_io as sio
from dwarflib.preselection import CUT_ORDER, DEFAULT_PRESELECTION, Preselection


def _check_bookkeeping(res, n):
    assert res.mask.shape == res.reason.shape == (n,)
    assert res.n_in == n
    assert np.all(res.reason[res.mask] == "")
    assert np.all(res.reason[~res.mask] != "")
    rep = res.report.set_index("cut")
    assert rep.loc["input", "remaining"] == n
    assert res.n_kept + rep["removed"].sum() == n  # rows in = rows kept + rows removed
    assert rep["remaining"].iloc[-1] == res.n_kept
    for cut, removed in rep["removed"].items():
        assert removed == int(np.sum(res.reason == cut)), cut


def _clean(n=12, seed=0):
    t = make_dr9_table(n, seed=seed)
    t["FLUX_R"] = 10 ** (-0.4 * (19.0 - 22.5))  # r ~ 19 everywhere (plus transmission)
    t["FLUX_IVAR_R"] = 100.0
    t["TYPE"] = "EXP"
    return t


def test_each_cut_and_first_cut_reason():
    t = _clean(12)
    t["BRICK_PRIMARY"] = np.ones(len(t), bool)
    t["BRICK_PRIMARY"][0] = False
    t["TYPE"][1] = "DUP"
    t["NOBS_Z"][2] = 0
    t["MASKBITS"][3] = 1 << datamodel.MASKBITS["BRIGHT"]
    t["FLUX_R"][4] = 10 ** (-0.4 * (21.5 - 22.5))  # r = 21.5 (fainter than 21)
    t["FLUX_R"][5] = -1.0  # non-detection: r undefined
    t["FLUX_IVAR_R"][6] = 1e-4  # S/N = 0.5
    t["MASKBITS"][7] = 1 << datamodel.MASKBITS["GALAXY"]  # SGA footprint: kept on purpose
    t["TYPE"][8] = "DUP"
    t["MASKBITS"][8] = 1 << datamodel.MASKBITS["CLUSTER"]  # fails two cuts -> the first one
    t["MASKBITS"][9] = 1 << datamodel.MASKBITS["WISEM1"]  # kept
    res = DEFAULT_PRESELECTION.apply(t)
    assert list(res.reason) == ["brick_primary", "type", "nobs", "maskbits", "r_mag", "r_mag", "r_snr",
                                "", "type", "", "", ""]
    _check_bookkeeping(res, len(t))
    assert list(res.report["cut"]) == ["input", *[c for c in CUT_ORDER if c != "gaia_parallax"]]


def test_brick_primary_only_when_present():
    t = _clean(5)
    res = DEFAULT_PRESELECTION.apply(t)
    row = res.report.set_index("cut").loc["brick_primary"]
    assert row["removed"] == 0 and "not applied" in row["description"]
    assert res.mask.all()


def test_every_default_maskbit_rejects_and_others_do_not():
    names = list(datamodel.MASKBITS)
    t = _clean(len(names))
    for i, name in enumerate(names):
        t["MASKBITS"][i] = 1 << datamodel.MASKBITS[name]
    res = DEFAULT_PRESELECTION.apply(t)
    for i, name in enumerate(names):
        assert (res.reason[i] == "maskbits") == (name in DEFAULT_PRESELECTION.reject_maskbits), name
    assert "GALAXY" not in DEFAULT_PRESELECTION.reject_maskbits
    with pytest.warns(UserWarning, match="GALAXY"):
        Preselection(reject_maskbits=("GALAXY",))


def test_configurable_limits_and_psf_option():
    t = _clean(4)
    t["TYPE"][0] = "PSF"
    t["FLUX_R"][1] = 10 ** (-0.4 * (20.5 - 22.5))
    t["MW_TRANSMISSION_R"] = 1.0
    assert DEFAULT_PRESELECTION.apply(t).mask.all()
    strict = Preselection(name="bright-resolved", r_mag_max=20.0, reject_types=("DUP", "PSF"))
    res = strict.apply(t)
    assert list(res.reason) == ["type", "r_mag", "", ""]
    bright = Preselection(r_mag_min=19.5)
    assert list(bright.apply(t).reason) == ["r_mag", "", "r_mag", "r_mag"]


def test_gaia_parallax_option():
    t = _clean(3)
    t["PARALLAX_IVAR"] = np.array([100.0, 100.0, 0.0], np.float32)
    t["PARALLAX"] = np.array([2.0, 0.1, 0.0], np.float32)  # S/N 20, 1, no Gaia match
    assert DEFAULT_PRESELECTION.apply(t).mask.all()
    res = Preselection(max_parallax_snr=5.0).apply(t)
    assert list(res.reason) == ["gaia_parallax", "", ""]
    _check_bookkeeping(res, 3)


def test_missing_column_names_cut_and_column():
    t = _clean(3)
    t.remove_column("FLUX_IVAR_R")
    t.meta["FILENAME"] = "sweep-x.fits"
    with pytest.raises(sio.MissingColumnError, match=r"sweep-x\.fits.*'r_snr'.*FLUX_IVAR_R"):
        DEFAULT_PRESELECTION.apply(t)
    assert Preselection(min_snr_r=None).apply(t).mask.all()


def test_desi_edr_with_flux_only_cuts():
    edr = registry.load_desi_edr()
    p = Preselection(name="edr-flux-only", r_mag_max=19.5, min_snr_r=None, min_nobs=None, reject_types=(),
                     reject_maskbits=())
    assert p.required_columns() == ["FLUX_R", "MW_TRANSMISSION_R"]
    res = p.apply(edr)
    _check_bookkeeping(res, len(edr))
    r = sio.flux_to_mag(edr["FLUX_R"], 1.0)
    np.testing.assert_array_equal(res.mask, r < 19.5)
    assert 0 < res.n_kept < len(edr)
    assert np.all(np.isfinite(r[res.mask]))


def test_real_desitarget_rows():
    t = vstack([sio.read_catalogue(p) for p in registry.sweep_test_files() + registry.tractor_test_files()],
               metadata_conflicts="silent")
    res = DEFAULT_PRESELECTION.apply(t)
    _check_bookkeeping(res, len(t))
    mb = np.asarray(t["MASKBITS"], np.int64)
    masked = (mb & DEFAULT_PRESELECTION.maskbits_value) != 0
    assert masked.any()
    assert np.all(~res.mask[masked])
    print("\nreal desitarget rows (36), default preselection:\n" + res.report.to_string(index=False))


def test_dataframe_input_gives_the_same_result():
    t = _clean(10, seed=3)
    t["MASKBITS"][2] = 2
    t["FLUX_R"][4] = -3.0
    a = DEFAULT_PRESELECTION.apply(t)
    b = DEFAULT_PRESELECTION.apply(t.to_pandas())
    np.testing.assert_array_equal(a.mask, b.mask)
    np.testing.assert_array_equal(a.reason, b.reason)


def test_serialisation_round_trip_and_validation():
    p = Preselection(name="custom", r_mag_max=20.5, reject_types=("DUP", "PSF"), max_parallax_snr=3.0)
    d = json.loads(json.dumps(p.to_dict()))
    assert Preselection.from_dict(d) == p
    assert Preselection.from_dict(DEFAULT_PRESELECTION.to_dict()) == DEFAULT_PRESELECTION
    with pytest.raises(ValueError, match="unknown Preselection field"):
        Preselection.from_dict({**d, "colour_cut": 1})
    with pytest.raises(ValueError, match="MASKBITS"):
        Preselection(reject_maskbits=("BRIGHTISH",))
    with pytest.raises(ValueError, match="TYPE"):
        Preselection(reject_types=("GAL",))
    with pytest.raises(ValueError, match="r_mag_min"):
        Preselection(r_mag_min=21.0, r_mag_max=20.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.r_mag_max = 22.0  # type: ignore[misc]


def test_empty_table():
    res = DEFAULT_PRESELECTION.apply(_clean(3)[:0])
    assert res.n_in == 0 and res.n_kept == 0
    _check_bookkeeping(res, 0)


def test_reason_codes_match_the_reason_strings():
    t = vstack([make_dr9_table(200, seed=s) for s in (1, 2)])
    t["NOBS_G"][:5] = 0
    t["TYPE"][5:9] = "DUP"
    res = DEFAULT_PRESELECTION.apply(t)
    mask, code = DEFAULT_PRESELECTION.reason_codes(t)
    assert code.dtype == np.uint8
    assert np.array_equal(mask, res.mask)
    assert np.array_equal(np.array(("", *CUT_ORDER))[code], res.reason)
    assert {"type", "nobs"} <= set(res.reason)
