"""Issue #17, items 5, 8, 9 and 13: hostile rows and columns.

Every row of an input file is either classified, or rejected under a named reason (rows in = rows out +
rows rejected); a column that cannot be used is an error naming the file and the column; TARGETIDs are
DESI's, bit for bit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table, vstack
from real_data import real_file, real_files

from dwarflib import datamodel, registry, survey_io
from dwarflib.catalogue import classify_files, load_catalogue
from dwarflib.explain import find_objects
from dwarflib.features import build_features
from dwarflib.pipeline import load_model

EDR = "desi_edr_bgs_provabgs/rosette3.csv"
LS_TEST = "desitarget_ls_test_files"


@pytest.fixture(scope="module")
def small(small_sky, small_model):
    """The first 4,000 rows of the shared sky and the shared model: (sweep table, model folder, preselected rows)."""
    model_dir = small_model
    t = survey_io.read_catalogue(sorted(small_sky.glob("sweep-*.fits"))[0], flags=False)[:4000]
    mask = np.asarray(load_model(model_dir).preselection.apply(t).mask, bool)
    return t, model_dir, np.flatnonzero(mask)


def _classify(tmp_path: Path, model_dir: Path, table: Table, chunk_rows: int = 200_000) -> tuple[dict, pd.DataFrame]:
    path = survey_io.write_sweep(table, tmp_path / "sweep-hostile.fits")
    s = classify_files(model_dir, [path], tmp_path / "out", keep_all=True, workers=1, progress=False,
                       chunk_rows=chunk_rows)
    assert s["rows_read"] == len(table)
    assert s["rows_read"] == s["rows_preselected"] + sum(s["rejected"].values())
    return s, load_catalogue(tmp_path / "out")


def _tid(table, i) -> int:
    return int(datamodel.unique_id(table["RELEASE"][i], table["BRICKID"][i], table["OBJID"][i]))


# --------------------------------------------------------------------------------------------- item 8
def test_targetid_equals_desi_targetid_bit_for_bit():
    """Real DESI TARGETIDs (EDR BGS): decoded with desitarget's layout and packed again, they are unchanged."""
    tid = pd.read_csv(real_file(EDR), usecols=["TARGET_ID"])["TARGET_ID"].to_numpy(np.int64)
    # desitarget targetid_mask: OBJID bits 0-21, BRICKID 22-41, RELEASE 42-57
    objid, brickid, release = tid & (2**22 - 1), (tid >> 22) & (2**20 - 1), (tid >> 42) & (2**16 - 1)
    assert set(np.unique(release).tolist()) <= {9010, 9011}  # DR9 south / north: the layout reads real ids
    assert np.array_equal(datamodel.unique_id(release, brickid, objid), tid)
    rel, brick, obj = registry.decode_targetid(tid)  # the registry decodes with the same layout
    assert np.array_equal(rel, release) and np.array_equal(brick, brickid) and np.array_equal(obj, objid)


def test_explain_finds_an_object_by_its_real_desi_targetid(tmp_path):
    real = int(pd.read_csv(real_file(EDR), usecols=["TARGET_ID"], nrows=1)["TARGET_ID"][0])
    path = tmp_path / "sweep-real.fits"
    with fits.open(real_files(LS_TEST, "sweep-*.fits")[0]) as h:  # real DR9-era sweep rows, one given the id
        data = h[1].data.copy()
        data["RELEASE"][0], data["BRICKID"][0], data["OBJID"][0] = \
            (real >> 42) & (2**16 - 1), (real >> 22) & (2**20 - 1), real & (2**22 - 1)
        fits.BinTableHDU(data).writeto(path)
    found = find_objects([path], targetid=real)
    assert len(found) == 1 and int(found["TARGETID"][0]) == real


@pytest.mark.parametrize("field, values", [("OBJID", (9010, 1, 2**22)), ("BRICKID", (9010, 2**20, 1)),
                                           ("RELEASE", (2**16, 1, 1)), ("OBJID", (9010, 1, -1))])
def test_unique_id_refuses_fields_beyond_the_layout(field, values):
    with pytest.raises(ValueError, match=field):
        datamodel.unique_id(*values)


# --------------------------------------------------------------------------------------------- item 5
def test_extreme_finite_flux_rejects_the_row_not_the_file(small, tmp_path):
    """FLUX_G = 1e-39 makes FIBERFLUX_G / FLUX_G overflow float32: that row is rejected with a reason."""
    t, model_dir, pre = small
    t = t.copy()
    i = pre[5]
    t["FLUX_G"][i] = 1e-39
    s, cat = _classify(tmp_path, model_dir, t)
    assert s["rejected"]["nonfinite_feature"] == 1
    assert s["rows_preselected"] == len(pre) - 1
    assert _tid(t, i) not in set(cat["TARGETID"])
    assert np.isfinite(cat.filter(like="P_CLASS").to_numpy()).all()


def test_row_error_messages_give_the_file_row(tmp_path):
    """A pre-DR9 TYPE the shape mapping does not know: the message gives the file row, not the chunk row."""
    src = real_files(LS_TEST, "tractor-*.fits")[0]
    with fits.open(src) as h:
        data = h[1].data.copy()
        data["TYPE"][4] = "ZZZ"
        fits.BinTableHDU(data).writeto(tmp_path / "tractor-bad.fits")
    with pytest.raises(survey_io.CatalogueError, match=r"file row 4\b"):
        list(survey_io.iter_catalogue(tmp_path / "tractor-bad.fits", chunk_rows=3))


# --------------------------------------------------------------------------------------------- item 9
def _set(col, value):
    def change(t, i):
        t[col][i] = value
    return change


ROW_CASES = {
    "nan_ra": (_set("RA", np.nan), "invalid_radec"),
    "ra_360": (_set("RA", 360.0), "invalid_radec"),
    "dec_95": (_set("DEC", 95.0), "invalid_radec"),
    "dec_nan": (_set("DEC", np.nan), "invalid_radec"),
    "unknown_type": (_set("TYPE", "XYZ"), "unknown_type"),
    "lower_case_dup": (_set("TYPE", "dup"), "type"),
    "flux_r_3e38": (_set("FLUX_R", 3e38), "absurd_flux"),
    "flux_w1_minus_3e38": (_set("FLUX_W1", -3e38), "absurd_flux"),
    "objid_too_large": (_set("OBJID", 2**22), "invalid_id"),
    "brickid_too_large": (_set("BRICKID", 2**20 + 5), "invalid_id"),
    "negative_objid": (_set("OBJID", -1), "invalid_id"),
}


@pytest.mark.parametrize("case", list(ROW_CASES))
def test_hostile_row_is_rejected_with_its_reason(small, tmp_path, case):
    t, model_dir, pre = small
    t = t.copy()
    change, reason = ROW_CASES[case]
    i = pre[7]
    valid_id = not reason == "invalid_id"
    tid = _tid(t, i)
    change(t, i)
    s, cat = _classify(tmp_path, model_dir, t)
    assert s["rejected"].get(reason) == 1, s["rejected"]
    assert s["rows_preselected"] == len(pre) - 1
    if valid_id:
        assert tid not in set(cat["TARGETID"])
    assert cat["TARGETID"].is_unique


def test_lower_case_type_gets_its_type_features(small):
    t, _, _ = small
    t = t[:50].copy()
    t["TYPE"] = np.where(np.asarray(t["TYPE"]) == "REX", " rex", np.asarray(t["TYPE"]))
    f = build_features(t, groups=["shape"])
    assert f["type_rex"].sum() > 0
    assert f["type_rex"].sum() + f[["type_psf", "type_exp", "type_dev", "type_ser"]].to_numpy().sum() == len(t)


@pytest.mark.parametrize("chunk_rows", [200_000, 1000])
def test_duplicated_rows_keep_the_first_copy(small, tmp_path, chunk_rows):
    """A repeated row (same TARGETID), in the same chunk or a later one: later copies are rejected."""
    t, model_dir, pre = small
    t2 = vstack([t, t[pre[3]:pre[3] + 1], t[pre[4]:pre[4] + 1]])
    t2["RA"][-1] += 0.01  # same id, different data: still a duplicate id
    s, cat = _classify(tmp_path, model_dir, t2, chunk_rows=chunk_rows)
    assert s["rejected"]["duplicate_targetid"] == 2
    assert s["rows_preselected"] == len(pre)
    assert cat["TARGETID"].is_unique
    assert len(cat) == len(pre)


# ------------------------------------------------------------------------------------ items 9 and 13
def _rewrite(src: Path, dst: Path, change) -> Path:
    with fits.open(src) as h:
        cols = change(list(h[1].columns), h[1].data)
        fits.BinTableHDU.from_columns(cols).writeto(dst)
    return dst


def _replace(name, column):
    def change(cols, data):
        return [column(data) if c.name == name else c for c in cols]
    return change


COLUMN_CASES = {
    "logical_flux_r": (_replace("FLUX_R", lambda d: fits.Column("FLUX_R", "L", array=d["FLUX_R"] > 1)),
                       "FLUX_R", "logical"),
    "flux_r_and_lower_case_flux_r": (
        lambda cols, d: [*cols, fits.Column("flux_r", "E", array=np.asarray(d["FLUX_R"]) + 1)], "FLUX_R", "case"),
    "two_d_shape_r": (_replace("SHAPE_R", lambda d: fits.Column("SHAPE_R", "2E", array=np.stack([d["SHAPE_R"]] * 2, 1))),
                      "SHAPE_R", "per row"),
    "two_d_ra": (_replace("RA", lambda d: fits.Column("RA", "3D", array=np.stack([d["RA"]] * 3, 1))), "RA", "per row"),
}


@pytest.mark.parametrize("case", list(COLUMN_CASES))
def test_unusable_column_is_an_error_naming_file_and_column(small, tmp_path, case):
    t, _, _ = small
    change, column, words = COLUMN_CASES[case]
    src = survey_io.write_sweep(t[:100], tmp_path / "sweep-src.fits")
    bad = _rewrite(src, tmp_path / "sweep-bad.fits", change)
    for read in (lambda: survey_io.read_catalogue(bad), lambda: list(survey_io.iter_catalogue(bad, chunk_rows=30))):
        with pytest.raises(survey_io.ColumnDtypeError) as err:
            read()
        msg = str(err.value)
        assert str(bad) in msg and f"column {column}" in msg and words in msg, msg


def test_real_ls_files_still_read():
    """The real (pre-DR9) Tractor and sweep rows pass the new column checks."""
    for p in real_files(LS_TEST, "*-*.fits"):
        t = survey_io.read_catalogue(p)
        assert len(t) == 6 and set(t["TYPE"]) <= {*datamodel.TRACTOR_TYPES, *datamodel.PRE_DR9_TYPES}


def test_explain_by_id_skips_rows_whose_fields_overflow_the_id(tmp_path):
    """A row with OBJID beyond 22 bits aliases another id under plain packing; explain neither matches it nor
    fails on it, and a TARGETID with bits beyond RELEASE is refused."""
    path = tmp_path / "sweep-alias.fits"
    with fits.open(real_files(LS_TEST, "sweep-*.fits")[0]) as h:
        data = h[1].data.copy()
        data["OBJID"][1] = int(data["OBJID"][0]) + 2**22  # would carry into BRICKID + 1 of row 0's brick
        data["BRICKID"][1] = int(data["BRICKID"][0]) - 1
        data["RELEASE"][1] = data["RELEASE"][0]
        fits.BinTableHDU(data).writeto(path)
    t = survey_io.read_catalogue(path)
    real = _tid(t, 0)
    found = find_objects([path], targetid=real)
    assert len(found) == 1 and int(found["OBJID"][0]) == int(t["OBJID"][0])
    with pytest.raises(ValueError, match="not a Legacy Surveys DESI TARGETID"):
        find_objects([path], targetid=real | (1 << 58))


def test_seen_ids_equal_a_plain_set_over_chunks_of_any_size():
    """SeenIds marks exactly the ids a plain set has seen before (earlier chunks or earlier in the chunk)."""
    from dwarflib.pipeline import SeenIds

    rng = np.random.default_rng(5)
    ids = rng.integers(0, 3000, 20_000).astype(np.int64)
    for sizes in ([1] * 500, [7, 1, 300, 2, 2000, 1, 50], [20_000]):
        seen, plain, start = SeenIds(), set(), 0
        for n in sizes:
            chunk = ids[start:start + n]
            start += n
            expected = []
            for t in chunk:
                expected.append(int(t) in plain)
                plain.add(int(t))
            assert seen.repeated(chunk).tolist() == expected
        assert all(int(t) in seen for t in ids[:start])
