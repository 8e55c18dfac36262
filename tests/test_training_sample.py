"""Tests for dwarflib.training_sample: validation, labels, preselection bookkeeping, features, split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from dwarflib.datamodel import REQUIRED_COLUMNS, SWEEP_COLUMNS
from dwarflib.labels import DEFAULT_SCHEME, ClassScheme
from dwarflib.training_sample import (
    REASON_NO_LABEL,
    class_counts,
    load_labelled_table,
    split_sample,
    star_flag,
    stratified_split_indices,
    validate_labelled_table,
)


def labelled_table(n: int = 400, seed: int = 1) -> Table:
    """A small sweep-format table with plausible, bright galaxies and labels spread over the 7 classes."""
    rng = np.random.default_rng(seed)
    t = Table()
    for name, (dtype, _unit, _desc) in SWEEP_COLUMNS.items():
        t[name] = np.zeros(n, dtype=dtype)
    t["RELEASE"] = 9010
    t["BRICKID"] = rng.integers(1, 300000, n)
    t["OBJID"] = np.arange(n)
    t["TYPE"] = np.array([b"EXP", b"REX", b"DEV", b"SER"])[rng.integers(0, 4, n)]
    t["RA"] = rng.uniform(0, 360, n)
    t["DEC"] = rng.uniform(-10, 30, n)
    r = rng.uniform(15.0, 19.0, n)
    for band, colour in (("G", 0.6), ("R", 0.0), ("Z", -0.4), ("W1", -0.8), ("W2", -0.4)):
        t[f"FLUX_{band}"] = 10 ** (-0.4 * (r + colour - 22.5))
        t[f"FLUX_IVAR_{band}"] = 100.0 / t[f"FLUX_{band}"] ** 2
        t[f"MW_TRANSMISSION_{band}"] = 0.95
        t[f"NOBS_{band}"] = 3
    for band in ("G", "R", "Z"):
        t[f"FIBERFLUX_{band}"] = 0.3 * t[f"FLUX_{band}"]
        t[f"FIBERTOTFLUX_{band}"] = 0.3 * t[f"FLUX_{band}"]
        t[f"PSFSIZE_{band}"] = 1.2
        t[f"PSFDEPTH_{band}"] = 1000.0
        t[f"GALDEPTH_{band}"] = 800.0
    t["SHAPE_R"] = rng.uniform(1.0, 8.0, n)
    t["SHAPE_R_IVAR"] = 100.0
    t["SHAPE_E1"] = rng.uniform(-0.2, 0.2, n)
    t["SHAPE_E2"] = rng.uniform(-0.2, 0.2, n)
    t["SERSIC"] = 1.0
    t["Z"] = rng.choice([0.01, 0.03, 0.1, 0.3], n)
    t["LOGMSTAR"] = rng.uniform(7.0, 11.0, n)
    t["TARGETID"] = np.arange(n, dtype=np.int64) + 1000
    return t


def test_validate_names_source_and_missing_columns():
    t = labelled_table(10)
    t.remove_columns(["FLUX_R", "LOGMSTAR"])
    with pytest.raises(ValueError, match=r"mine\.fits.*FLUX_R.*LOGMSTAR"):
        validate_labelled_table(t, source="mine.fits")


def test_validate_rejects_non_numeric_label():
    t = labelled_table(10)
    t["Z"] = np.array(["0.1"] * 10)
    with pytest.raises(ValueError, match="Z must be numeric"):
        validate_labelled_table(t, source="x")


def test_validate_accepts_complete_table():
    validate_labelled_table(labelled_table(10))
    assert set(REQUIRED_COLUMNS) <= set(labelled_table(3).colnames)


def test_load_labelled_table_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.fits"):
        load_labelled_table(tmp_path / "nothere.fits")


def test_load_labelled_table_roundtrip_and_validation(tmp_path):
    t = labelled_table(20)
    path = tmp_path / "sample.fits"
    t.write(path)
    back = load_labelled_table(path)
    assert len(back) == 20
    t.remove_column("Z")
    t.write(tmp_path / "bad.fits")
    with pytest.raises(ValueError, match=r"bad\.fits.*\['Z'\]"):
        load_labelled_table(tmp_path / "bad.fits")


def test_star_flag_from_is_star_and_spectype():
    t = Table({"IS_STAR": [True, False, True]})
    assert star_flag(t).tolist() == [True, False, True]
    t = Table({"SPECTYPE": ["GALAXY", "STAR  ", "qso"]})
    assert star_flag(t).tolist() == [False, True, True]
    assert star_flag(Table({"Z": [0.1, 0.2]})).tolist() == [False, False]


def test_stratified_split_is_a_stratified_partition_and_deterministic():
    rng = np.random.default_rng(0)
    y = rng.choice(7, size=5003, p=[0.02, 0.03, 0.1, 0.15, 0.3, 0.3, 0.1])
    parts = stratified_split_indices(y, (0.6, 0.2, 0.2), seed=3)
    allidx = np.concatenate(parts)
    assert len(allidx) == len(y) and len(np.unique(allidx)) == len(y)
    for cls in range(7):
        n = (y == cls).sum()
        for p, f in zip(parts, (0.6, 0.2, 0.2), strict=True):
            assert abs((y[p] == cls).sum() - f * n) <= 1
    again = stratified_split_indices(y, (0.6, 0.2, 0.2), seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))
    other = stratified_split_indices(y, (0.6, 0.2, 0.2), seed=4)
    assert not np.array_equal(parts[0], other[0])


def test_stratified_split_tiny_class_and_bad_fractions():
    y = np.array([0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2])
    parts = stratified_split_indices(y, (0.6, 0.2, 0.2), seed=0)
    assert sum(len(p) for p in parts) == len(y)
    assert (y[parts[0]] == 0).sum() >= 1
    with pytest.raises(ValueError, match="sum to 1"):
        stratified_split_indices(y, (0.5, 0.2, 0.2))
    with pytest.raises(ValueError, match=">= 0"):
        stratified_split_indices(y, (1.2, -0.2))


def test_class_counts_imbalance_and_groups():
    y = np.array([0] * 2 + [1] * 10 + [6] * 40)
    split = np.array(["train", "test"] * 26)
    df = class_counts(y, by=split)
    assert df["n"].tolist() == [2, 10, 0, 0, 0, 0, 40]
    assert df.loc[0, "imbalance"] == 20.0
    assert np.isinf(df.loc[2, "imbalance"])
    assert df["fraction"].sum() == pytest.approx(1.0)
    assert (df["n_train"] + df["n_test"]).tolist() == df["n"].tolist()
    assert df["name"].tolist() == list(DEFAULT_SCHEME.names)


def _sample(table, **kw):
    from dwarflib.training_sample import build_training_sample

    return build_training_sample(table, **kw)


def test_build_training_sample_accounts_for_every_row():
    t = labelled_table(300)
    t["FLUX_R"][:5] = np.nan          # bad photometry: the preselection must flag these rows
    t["Z"][10:13] = np.nan            # unlabelled galaxies: flagged here
    s = _sample(t)
    assert len(s.table) + len(s.removed) == len(t)
    assert len(s.X) == len(s.y) == len(s.ids) == len(s.table)
    assert set(s.ids).isdisjoint(set(s.removed["ID"]))
    assert np.all(s.removed["REASON"] != "")
    assert not set(np.arange(5) + 1000) & set(s.ids)
    no_label = s.removed[s.removed["REASON"] == REASON_NO_LABEL]
    assert set(no_label["ID"]) <= {1010, 1011, 1012}
    rep = s.report.set_index("step")["n"]
    assert rep["rows in"] == len(t) and rep["kept"] == len(s.table)
    assert rep.drop(["rows in", "kept"]).sum() == len(s.removed)
    pre = s.preselection_report.set_index("cut")
    assert pre.loc["input", "remaining"] == len(t)
    assert set(s.removed["REASON"]) - {REASON_NO_LABEL} <= set(pre.index)


def test_build_training_sample_recomputes_class_with_user_scheme():
    t = labelled_table(300)
    t["CLASS"] = np.full(len(t), 3, dtype=np.int8)       # stale input labels must be ignored
    default = _sample(t)
    assert np.array_equal(default.y, DEFAULT_SCHEME.assign(default.table["Z"], default.table["LOGMSTAR"]))
    assert "CLASS_INPUT" in default.table.colnames
    wide = _sample(t, scheme=ClassScheme(z_local=0.05))
    assert (wide.y == 0).sum() > (default.y == 0).sum()


def test_split_sample_dataclass():
    s = _sample(labelled_table(400))
    sp = split_sample(s, seed=7)
    assert len(sp.X_train) + len(sp.X_val) + len(sp.X_test) == len(s.X)
    assert isinstance(sp.X_train, pd.DataFrame)
    assert list(sp.X_train.columns) == list(s.X.columns)
    assert set(sp.table["SPLIT"]) == {"train", "validation", "test"}
    assert len(set(sp.ids_train) | set(sp.ids_val) | set(sp.ids_test)) == len(s.ids)
    sp2 = split_sample(s, seed=7)
    assert np.array_equal(sp.ids_test, sp2.ids_test)
    with pytest.raises(ValueError, match="three fractions"):
        split_sample(s, fractions=(0.5, 0.5))


def test_build_edr_sample_real_rows_accounted_and_labelled():
    from dwarflib.registry import load_desi_edr
    from dwarflib.training_sample import EDR_FEATURES, build_edr_sample

    t = load_desi_edr(rosettes=[3])
    s = build_edr_sample(t)
    assert len(s.table) + len(s.removed) == len(t)
    assert list(s.X.columns) == list(EDR_FEATURES)
    assert np.isfinite(s.X.to_numpy()).all()               # dereddened fluxes are all positive in this table
    r = 22.5 - 2.5 * np.log10(np.asarray(s.table["FLUX_R"], dtype=float))
    assert (r < 19.5).all() and (np.asarray(s.table["Z"]) > 0.0104).all()
    assert np.allclose(s.X["r"], r, atol=1e-5)
    assert np.array_equal(s.y, DEFAULT_SCHEME.assign(s.table["Z"], s.table["LOGMSTAR"]))
    assert set(s.removed["REASON"]) <= {"r >= 19.5 or r undefined", "Z <= 0.0104"}
    with pytest.raises(KeyError, match="mu_eff_r"):
        build_edr_sample(t, features=("r", "mu_eff_r"))
