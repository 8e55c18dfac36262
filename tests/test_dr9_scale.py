"""Real DR9 at survey scale (issue #14): north/south resolution in classify, large-galaxy flags in the
catalogue, DR10 files. Fixtures are made from the real Legacy Surveys rows in ../shared/data
(desitarget's test sweeps), classified with the shared ``small_model``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from astropy.table import Table, vstack

from dwarflib import datamodel, survey_io
from dwarflib.catalogue import classify_files
from dwarflib.large_galaxies import LARGE_GALAXY_BITS
from dwarflib.pipeline import FLAG_BITS

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "desitarget_ls_test_files"
REAL = sorted(DATA.glob("sweep-*.fits"))
SHRED_EXTRA = [f"{q}_{b}" for q in ("FRACFLUX", "FRACIN") for b in datamodel.OPTICAL_BANDS]

pytestmark = pytest.mark.skipif(not REAL, reason=f"real sweep rows not found in {DATA}")


def real_table(copies: int = 1) -> Table:
    """The 18 real sweep rows (DR9 shapes mapped from the pre-DR9 columns) with every DR9 sweep column,
    ``copies`` times, each copy with its own OBJID; FRACFLUX/FRACIN kept."""
    tabs = [survey_io.read_catalogue(p, columns=None, flags=False) for p in REAL]
    extra = vstack([Table(fits.getdata(p, 1))[SHRED_EXTRA] for p in REAL])
    t = vstack(tabs, metadata_conflicts="silent")
    for c in SHRED_EXTRA:
        t[c] = np.asarray(extra[c], np.float32)
    fill = {"PSFSIZE": 1.2, "FIBERTOTFLUX": None}
    for name, (dt, _, _) in datamodel.SWEEP_COLUMNS.items():
        if name in t.colnames:
            continue
        stem = name.rsplit("_", 1)[0]
        if stem == "FIBERTOTFLUX":
            t[name] = np.asarray(t[name.replace("FIBERTOTFLUX", "FIBERFLUX")], dt)
        elif dt.startswith("S"):
            t[name] = np.full(len(t), "", dtype=dt)
        else:
            t[name] = np.full(len(t), fill.get(stem) or 0, dtype=dt)
    t = vstack([t] * copies, metadata_conflicts="silent")
    t["OBJID"] = np.arange(len(t), dtype=np.int32)
    t.meta.clear()
    return t


def classify(model, files, out, **kw) -> dict:
    return classify_files(model, files, out, keep_all=True, workers=1, progress=False, **kw)


def outputs(summary) -> list[tuple[pd.DataFrame, pd.DataFrame, dict]]:
    """Per input: (catalogue, rejected rows, manifest record)."""
    res = []
    for rec in summary["records"]:
        res.append((pd.read_parquet(rec["outputs"]["parquet"]), pd.read_parquet(rec["outputs"]["rejected"]), rec))
    return res


# ------------------------------------------------------------------------------------------ north / south
@pytest.fixture(scope="module")
def overlap_files(tmp_path_factory):
    """The same objects in a north (9011) and a south (9010) sweep, moved into the NGC at Dec 31.9..32.85."""
    folder = tmp_path_factory.mktemp("overlap")
    t = real_table(copies=4)
    t["RA"] = 180.0 + np.linspace(0, 0.5, len(t))
    t["DEC"] = np.linspace(31.9, 32.85, len(t))
    assert not np.any(np.isclose(t["DEC"], 32.375))
    north, south = t.copy(), t.copy()
    north["RELEASE"] = 9011
    south["RELEASE"] = 9010
    return (survey_io.write_sweep(north, folder / "sweep-north.fits"),
            survey_io.write_sweep(south, folder / "sweep-south.fits"))


def test_overlap_classifies_each_object_once(small_model, overlap_files, tmp_path):
    both = classify(small_model, list(overlap_files), tmp_path / "resolved")
    plain = classify(small_model, list(overlap_files), tmp_path / "plain", resolve_north_south=False)
    (cat_n, rej_n, rec_n), (cat_s, rej_s, rec_s) = outputs(both)
    # without the resolution every classified object comes out twice (once per photometric system)
    p = pd.concat([o[0] for o in outputs(plain)])
    assert len(p) > 10 and (p.groupby("OBJID").size() == 2).all()
    # with it: each of those objects once, from the north above Dec 32.375 and from the south below
    cat = pd.concat([cat_n, cat_s])
    assert sorted(cat["OBJID"]) == sorted(set(p["OBJID"]))
    assert (cat_n["DEC"] > 32.375).all() and (cat_n["RELEASE"] == 9011).all()
    assert (cat_s["DEC"] < 32.375).all() and (cat_s["RELEASE"] == 9010).all()
    # the other copies are rejected with their reason, counted and listed: rows in = rows out + rows rejected
    assert rec_n["rejected"]["NORTH_OUTSIDE_NORTH_AREA"] == int((p["RELEASE"] == 9011).sum() - len(cat_n))
    assert rec_s["rejected"]["SOUTH_INSIDE_NORTH_AREA"] == int((p["RELEASE"] == 9010).sum() - len(cat_s))
    for cat_f, rej_f, rec in ((cat_n, rej_n, rec_n), (cat_s, rej_s, rec_s)):
        assert rec["rows_read"] == len(cat_f) + len(rej_f) == rec["rows_classified"] + sum(rec["rejected"].values())
        assert rej_f["REASON"].value_counts().to_dict() == rec["rejected"]
        assert rec["resolve_north_south"] is True
    assert both["rejected"]["NORTH_OUTSIDE_NORTH_AREA"] + both["rejected"]["SOUTH_INSIDE_NORTH_AREA"] == len(p) - len(cat)
    # the rejected rows are the right ones: north rows below the split, south rows above it
    src = Table.read(overlap_files[0])
    dec_rej = np.asarray(src["DEC"])[rej_n.loc[rej_n["REASON"] == "NORTH_OUTSIDE_NORTH_AREA", "ROW"]]
    assert (dec_rej < 32.375).all()
    hdr = fits.getheader(rec_n["outputs"]["fits"], "CATALOGUE")
    assert hdr["NSRESOLV"] is True


def test_overlap_resume_redoes_a_changed_resolution(small_model, overlap_files, tmp_path):
    out = tmp_path / "out"
    classify(small_model, list(overlap_files), out, resolve_north_south=False)
    again = classify(small_model, list(overlap_files), out, resume=True)
    assert again["files_skipped"] == 0
    assert "NORTH_OUTSIDE_NORTH_AREA" in again["rejected"]


def test_cli_no_resolve_north_south(small_model, overlap_files, tmp_path):
    from dwarflib.cli import main

    rc = main(["classify", str(small_model), *map(str, overlap_files), "--out", str(tmp_path / "o"), "--all",
               "--no-progress", "--workers", "1", "--no-resolve-north-south"])
    assert rc == 0
    recs = [json.loads(line) for line in (tmp_path / "o" / "manifest.jsonl").read_text().splitlines()]
    assert all(r["resolve_north_south"] is False for r in recs)
    assert not any(k in r["rejected"] for r in recs for k in ("NORTH_OUTSIDE_NORTH_AREA", "SOUTH_INSIDE_NORTH_AREA"))


# ------------------------------------------------------------------------------------------ large galaxies
def test_large_galaxy_flags_in_catalogue(small_model, tmp_path):
    t = real_table(copies=3)
    n0 = len(t) // 3
    t["RELEASE"] = 9010  # south rows at Dec ~ 0: kept by the resolution
    t["MASKBITS"][:n0] |= np.int16(1 << datamodel.MASKBITS["GALAXY"])  # first copy: inside an SGA ellipse
    t["REF_CAT"][n0:n0 + 3] = "L3"  # three rows of the second copy are SGA galaxies
    t["FRACFLUX_R"][2 * n0:] = 10.0  # third copy: flux dominated by neighbours
    path = survey_io.write_sweep(t, tmp_path / "sweep-lg.fits", extra_columns=SHRED_EXTRA)
    summary = classify(small_model, [path], tmp_path / "out")
    cat, rej, rec = outputs(summary)[0]
    assert rec["rows_read"] == len(cat) + len(rej) == len(t)  # nothing dropped for the flags
    assert len(cat) > 5
    bit = {k: 1 << v for k, v in LARGE_GALAXY_BITS.items()}
    obj = cat["OBJID"].to_numpy()
    lg = cat["LARGE_GALAXY"].to_numpy()
    np.testing.assert_array_equal((lg & bit["IN_SGA_ELLIPSE"]) != 0, obj < n0)
    np.testing.assert_array_equal((lg & bit["SGA"]) != 0, (obj >= n0) & (obj < n0 + 3))
    assert ((lg & bit["FRACFLUX_HIGH"]) != 0)[obj >= 2 * n0].all()
    flag_lg = (cat["FLAG"].to_numpy() & (1 << FLAG_BITS["LARGE_GALAXY"])) != 0
    np.testing.assert_array_equal(flag_lg, lg != 0)
    hdr = fits.getheader(rec["outputs"]["fits"], "CATALOGUE")
    assert hdr["LGNOEVAL"] == "none"
    assert {hdr[f"LGBIT{v}"] for v in LARGE_GALAXY_BITS.values()} == set(LARGE_GALAXY_BITS)
    # the FITS catalogue carries the same column
    np.testing.assert_array_equal(np.asarray(fits.getdata(rec["outputs"]["fits"], "CATALOGUE")["LARGE_GALAXY"]), lg)


def test_large_galaxy_bits_not_evaluated_are_documented(small_model, small_sky, tmp_path):
    from sky_fixtures import split_sweeps

    files = split_sweeps(small_sky, tmp_path / "sweeps", n_files=1, n_rows=3000)
    summary = classify(small_model, files, tmp_path / "out")
    rec = summary["records"][0]
    hdr = fits.getheader(rec["outputs"]["fits"], "CATALOGUE")
    assert hdr["LGNOEVAL"] == "FRACFLUX_HIGH,FRACIN_LOW"  # the simulated sky writes no FRACFLUX / FRACIN
    meta = json.loads(pq.read_schema(rec["outputs"]["parquet"]).metadata[b"dwarflib.large_galaxy"])
    assert set(meta["not_evaluated"]) == {"FRACFLUX_HIGH", "FRACIN_LOW"}
    assert not any(k in summary["rejected"] for k in ("NORTH_OUTSIDE_NORTH_AREA", "SOUTH_INSIDE_NORTH_AREA",
                                                      "UNKNOWN_RELEASE"))


# ------------------------------------------------------------------------------------------ DR10
def dr10_table() -> Table:
    """The real rows in the DR10 layout: RELEASE 10000 and the DECam i band (fluxes between r and z)."""
    t = real_table()
    t["RELEASE"] = 10000
    for q in ("FLUX", "FIBERFLUX", "FIBERTOTFLUX"):
        r, z = np.asarray(t[f"{q}_R"], float), np.asarray(t[f"{q}_Z"], float)
        t[f"{q}_I"] = np.where((r > 0) & (z > 0), np.sqrt(np.abs(r * z)), 0.5 * (r + z)).astype(np.float32)
    t["FLUX_IVAR_I"] = np.asarray(t["FLUX_IVAR_R"], np.float32)
    t["MW_TRANSMISSION_I"] = (10 ** (-0.4 * 1.592 * np.asarray(t["EBV"], float))).astype(np.float32)
    t["NOBS_I"] = np.asarray(t["NOBS_R"], np.int16)
    for q in ("PSFSIZE", "PSFDEPTH", "GALDEPTH"):
        t[f"{q}_I"] = np.asarray(t[f"{q}_R"], np.float32)
    return t


def test_dr10_file_classifies_ignoring_the_i_band(small_model, tmp_path):
    t = dr10_table()
    dr10 = survey_io.write_sweep(t, tmp_path / "sweep-dr10.fits", extra_columns=list(datamodel.I_BAND_COLUMNS))
    assert {"FLUX_I", "NOBS_I"} <= set(survey_io.read_catalogue(dr10).colnames)  # read through the data model
    dr9 = t.copy()
    dr9["RELEASE"] = 9010
    dr9.remove_columns(list(datamodel.I_BAND_COLUMNS))
    dr9 = survey_io.write_sweep(dr9, tmp_path / "sweep-dr9.fits")
    (c10, r10, rec10), (c9, _, _) = outputs(classify(small_model, [dr10, dr9], tmp_path / "out"))
    assert len(c10) > 0 and rec10["rows_read"] == len(c10) + len(r10) == len(t)
    assert (c10["RELEASE"] == 10000).all() and "UNKNOWN_RELEASE" not in rec10["rejected"]
    # same rows, same features and probabilities: the i band is ignored by a g, r, z model
    cols = [c for c in c9.columns if c not in ("RELEASE", "TARGETID")]
    pd.testing.assert_frame_equal(c10[cols].reset_index(drop=True), c9[cols].reset_index(drop=True))


def test_dr9_file_for_an_i_band_model_names_the_missing_columns(tmp_path):
    dr9 = survey_io.write_sweep(real_table(), tmp_path / "sweep-dr9.fits")
    with pytest.raises(survey_io.MissingColumnError, match=r"FLUX_I.*MW_TRANSMISSION_I.*DR10 i-band"):
        next(survey_io.iter_catalogue(dr9, columns=["RA", "DEC", "FLUX_R", "FLUX_I", "MW_TRANSMISSION_I"]))


def test_every_dr10_release_resolves_as_south_photometry():
    """DR10's RELEASE values (legacysurvey.org/release: 9999, 10000, 10300) are DECam south rows: kept in the
    south area, rejected as south photometry in the north area, never UNKNOWN_RELEASE."""
    from dwarflib import north_south

    releases = np.array([9999, 10000, 10300, 9999, 10300], np.int16)
    # (ra, dec): three in the south area, two in the north area (north Galactic cap, Dec > 32.375)
    table = {"RELEASE": releases, "RA": np.array([10.0, 150.0, 200.0, 180.0, 190.0]),
             "DEC": np.array([0.0, 10.0, -5.0, 50.0, 60.0])}
    keep, reason = north_south.resolve_north_south(table)
    assert keep.tolist() == [True, True, True, False, False]
    assert set(reason[~keep]) == {"SOUTH_INSIDE_NORTH_AREA"}
    assert not north_south.is_north_release(releases).any()
