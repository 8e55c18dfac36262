"""Tests of the feature matrix: names, groups, values, and the missing-value policy on real rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.table import MaskedColumn, Table, vstack
from dr9_fixtures import make_dr9_table

from dwarflib import features as F
from dwarflib import registry
from dwarflib import survey_io as sio


@pytest.fixture(scope="module")
def real():
    files = registry.sweep_test_files() + registry.tractor_test_files()
    return vstack([sio.read_catalogue(p) for p in files], metadata_conflicts="silent")


def test_every_feature_in_exactly_one_group():
    names = F.feature_names()
    assert len(names) == len(set(names))
    for g, cols in F.FEATURE_GROUPS.items():
        for c in cols:
            assert F.group_of(c) == g
    with pytest.raises(KeyError):
        F.group_of("not_a_feature")


def _valid_band(t, b):
    f = np.asarray(t[f"FLUX_{b}"], float)
    tr = np.asarray(t[f"MW_TRANSMISSION_{b}"], float)
    ok = np.isfinite(f) & (f > 0) & (tr > 0) & (tr <= 1)
    if f"FLUX_IVAR_{b}" in t.colnames:
        ok &= np.asarray(t[f"FLUX_IVAR_{b}"], float) > 0
    return ok


def _expected_nan(t) -> dict[str, np.ndarray]:
    """The missing-value policy of dwarflib.features, written out independently per feature."""
    v = {b: _valid_band(t, b) for b in ("G", "R", "Z", "W1", "W2")}
    shape_ok = np.isfinite(np.asarray(t["SHAPE_R"], float)) & (np.asarray(t["SHAPE_R"], float) >= 0)
    exp = {"g": ~v["G"], "r": ~v["R"], "z": ~v["Z"], "g_r": ~(v["G"] & v["R"]), "r_z": ~(v["R"] & v["Z"]),
           "w1": ~v["W1"], "w2": ~v["W2"], "z_w1": ~(v["Z"] & v["W1"]), "w1_w2": ~(v["W1"] & v["W2"])}
    for b in ("g", "r", "z"):
        B = b.upper()
        fib = np.asarray(t[f"FIBERFLUX_{B}"], float)
        exp[f"mu_eff_{b}"] = ~(v[B] & shape_ok)
        exp[f"fib_{b}"] = ~(v[B] & np.isfinite(fib) & (fib > 0))
        exp[f"fibfrac_{b}"] = ~(v[B] & np.isfinite(fib))
    for b in ("g", "r", "z", "w1", "w2"):
        B = b.upper()
        snr = np.asarray(t[f"FLUX_{B}"], float) * np.sqrt(np.asarray(t[f"FLUX_IVAR_{B}"], float))
        exp[f"log_snr_{b}"] = ~(np.isfinite(snr) & (snr > 0))
    for c in F.FEATURE_GROUPS["shape"]:
        exp[c] = ~shape_ok if c in ("shape_r", "log_shape_r") else np.zeros(len(t), bool)
    return exp


def test_real_files_nan_only_where_policy_says(real):
    X = F.build_features(real)
    assert list(X.columns) == F.feature_names() and len(X) == len(real) == 36
    exp = _expected_nan(real)
    assert set(exp) == set(X.columns)
    for c in X.columns:
        np.testing.assert_array_equal(X[c].isna().to_numpy(), exp[c], err_msg=c)
    # on these real rows the optical photometry is complete: NaN only in WISE-derived features
    nan_cols = set(X.columns[X.isna().any()])
    assert nan_cols and nan_cols <= {"w1", "w2", "z_w1", "w1_w2", "log_snr_w1", "log_snr_w2"}
    assert np.isfinite(X.drop(columns=list(nan_cols)).to_numpy()).all()


def test_feature_values(real):
    X = F.build_features(real)
    r = sio.flux_to_mag(real["FLUX_R"], real["MW_TRANSMISSION_R"])
    np.testing.assert_allclose(X["r"], r, atol=1e-9)
    np.testing.assert_allclose(X["g_r"], sio.flux_to_mag(real["FLUX_G"], real["MW_TRANSMISSION_G"]) - r,
                               atol=1e-9)
    radius = np.maximum(np.asarray(real["SHAPE_R"], float), F.SHAPE_R_FLOOR_ARCSEC)
    np.testing.assert_allclose(X["mu_eff_r"], r + 2.5 * np.log10(2 * np.pi * radius**2), atol=1e-9)
    psf = np.asarray(real["TYPE"]) == "PSF"
    assert psf.any() and np.all(X.loc[psf, "log_shape_r"] == np.log10(F.SHAPE_R_FLOOR_ARCSEC))
    # a PSF object is brighter in surface brightness than any resolved object of similar magnitude
    assert np.all(X.loc[psf, "mu_eff_r"] < X.loc[psf, "r"])
    e = np.hypot(np.asarray(real["SHAPE_E1"], float), np.asarray(real["SHAPE_E2"], float))
    np.testing.assert_allclose(X["ba"], (1 - e) / (1 + e))
    np.testing.assert_allclose(X["fibfrac_r"], np.asarray(real["FIBERFLUX_R"], float) / np.asarray(real["FLUX_R"],
                                                                                                   float))
    onehot = X[[f"type_{t.lower()}" for t in F.ONE_HOT_TYPES]].to_numpy()
    assert np.all(onehot.sum(axis=1) == 1)
    np.testing.assert_array_equal(X["type_psf"].to_numpy() == 1, psf)
    np.testing.assert_allclose(X["log_snr_r"], np.log10(np.asarray(real["FLUX_R"], float)
                                                         * np.sqrt(np.asarray(real["FLUX_IVAR_R"], float))))


def test_desi_edr_colours_only():
    edr = registry.load_desi_edr()
    X = F.build_features(edr, groups=["magnitudes", "colours", "wise"])
    assert list(X.columns) == ["g", "r", "z", "g_r", "r_z", "w1", "w2", "z_w1", "w1_w2"]
    assert len(X) == len(edr)
    for b in ("g", "r", "z", "w1", "w2"):
        np.testing.assert_array_equal(X[b].isna().to_numpy(), ~(np.asarray(edr[f"FLUX_{b.upper()}"]) > 0))
    assert X["r"].notna().all()  # BGS_BRIGHT: every galaxy has a positive r flux
    with pytest.raises(sio.MissingColumnError, match="surface_brightness.*SHAPE_R"):
        F.build_features(edr, groups=["surface_brightness"])


@pytest.mark.parametrize("group", list(F.FEATURE_GROUPS))
def test_required_columns_are_sufficient(group):
    t = make_dr9_table(20, seed=4)
    sub = t[F.required_columns([group])]
    X = F.build_features(sub, groups=[group])
    assert list(X.columns) == list(F.FEATURE_GROUPS[group])
    assert np.isfinite(X.to_numpy()).all()  # the synthetic table has clean photometry
    for col in F.required_columns([group]):
        with pytest.raises(sio.MissingColumnError, match=col):
            F.build_features(sub[[c for c in sub.colnames if c != col]], groups=[group])


def test_required_columns_of_all_groups_are_in_the_data_model():
    from dwarflib import datamodel

    assert set(F.required_columns()) <= set(datamodel.SWEEP_COLUMNS)


def test_unknown_group():
    with pytest.raises(ValueError, match="unknown feature group"):
        F.build_features(make_dr9_table(3), groups=["colour"])


def test_dataframe_input_and_case_insensitive_names_give_the_same_matrix():
    t = make_dr9_table(30, seed=5)
    X = F.build_features(t)
    df = t.to_pandas()
    df.columns = [c.lower() for c in df.columns]
    pd.testing.assert_frame_equal(F.build_features(df), X)
    t2 = t.copy()
    t2["TYPE"] = [s.encode() + b" " for s in t["TYPE"]]  # FITS-style padded bytes
    pd.testing.assert_frame_equal(F.build_features(t2, groups=["shape"]), X[list(F.FEATURE_GROUPS["shape"])])


def test_bad_rows_give_nan_by_policy_never_dropped():
    t = make_dr9_table(6, seed=6)
    t["FLUX_G"][0] = -1.0
    t["FLUX_IVAR_W1"][1] = 0.0  # no WISE coverage: the catalogue still reports a flux
    t["FLUX_R"][2] = np.nan
    t["SHAPE_R"][3] = -1.0
    t["FIBERFLUX_Z"][4] = 0.0
    X = F.build_features(t)
    assert len(X) == 6
    exp = _expected_nan(t)
    for c in X.columns:
        np.testing.assert_array_equal(X[c].isna().to_numpy(), exp[c], err_msg=c)
    assert X.loc[1, ["w1", "z_w1", "w1_w2", "log_snr_w1"]].isna().all() and np.isfinite(X.loc[1, "w2"])
    assert np.isnan(X.loc[4, "fib_z"]) and X.loc[4, "fibfrac_z"] == 0.0
    assert X.loc[5].notna().all()


def test_masked_values_are_nan():
    t = make_dr9_table(4, seed=7)
    t["FLUX_R"] = MaskedColumn(np.asarray(t["FLUX_R"]), mask=[False, True, False, False])
    X = F.build_features(t, groups=["magnitudes"])
    assert list(X["r"].isna()) == [False, True, False, False]


def test_empty_table():
    X = F.build_features(Table(make_dr9_table(3)[:0]))
    assert X.shape == (0, len(F.feature_names()))


def test_feature_array_equals_build_features_bitwise(real):
    names = ["r", "mu_eff_g", "w1_w2", "type_psf", "log_snr_w2", "g"]  # a subset, in another order
    groups = ["magnitudes", "wise", "surface_brightness", "shape", "snr"]
    ref = F.build_features(real, groups=groups)[names].to_numpy(np.float32)
    got = F.feature_array(real, groups, names)
    assert got.dtype == np.float32 and got.flags.c_contiguous
    assert got.tobytes() == ref.tobytes()
    assert F.feature_array(real, None, None, np.float64).tobytes() == F.build_features(real).to_numpy().tobytes()
    with pytest.raises(KeyError, match="fib_r"):
        F.feature_array(real, ["magnitudes"], ["fib_r"])
