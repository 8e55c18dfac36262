"""Tests of the DR9 sweep/Tractor reader and writer, magnitudes and bad-input handling."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table, vstack
from dr9_fixtures import make_dr9_table

from dwarflib import datamodel, registry
from dwarflib import survey_io as sio

REAL_FILES = registry.sweep_test_files() + registry.tractor_test_files()


# ---------------------------------------------------------------- magnitudes
def test_flux_to_mag_values():
    assert sio.flux_to_mag(1.0) == pytest.approx(22.5)
    assert sio.flux_to_mag(10 ** (-0.4 * (20 - 22.5))) == pytest.approx(20.0)
    assert sio.flux_to_mag(1.0, 0.5) == pytest.approx(22.5 - 2.5 * np.log10(2.0))
    m = sio.flux_to_mag([1.0, 0.0, -1.0, np.nan, np.inf, 1.0], [1, 1, 1, 1, 1, 0])
    assert np.isfinite(m[0]) and np.all(np.isnan(m[1:]))


def test_mag_err_values():
    assert sio.mag_err(10.0, 1.0) == pytest.approx(2.5 / np.log(10) / 10.0)
    e = sio.mag_err([10.0, 10.0, -1.0, np.nan], [0.0, -1.0, 1.0, 1.0])
    assert np.all(np.isnan(e))


# ---------------------------------------------------------------- the six real files
@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name)
def test_real_files_load_with_dr9_names_and_magnitudes(path):
    t = sio.read_catalogue(path)
    raw = Table(fits.getdata(path, 1))
    assert len(t) == len(raw) == 6
    for c in datamodel.REQUIRED_COLUMNS:
        assert c in t.colnames
    assert not any(c.startswith(("SHAPEEXP", "SHAPEDEV")) or c == "FRACDEV" for c in t.colnames)
    assert set(t["TYPE"]) <= set(datamodel.TRACTOR_TYPES)
    for b in datamodel.BANDS:
        flux = np.asarray(raw[f"FLUX_{b}"], np.float64)
        trans = np.asarray(raw[f"MW_TRANSMISSION_{b}"], np.float64)
        mag = sio.flux_to_mag(t[f"FLUX_{b}"], t[f"MW_TRANSMISSION_{b}"])
        pos = flux > 0
        with np.errstate(invalid="ignore"):
            ref = 22.5 - 2.5 * np.log10(flux / trans)
        np.testing.assert_allclose(mag[pos], ref[pos], rtol=0, atol=1e-6)
        assert np.all(np.isnan(mag[~pos]))
        flagged = (t["QUALITY_FLAGS"] & (1 << sio.QUALITY_BITS[f"FLUX_NONPOSITIVE_{b}"])) != 0
        np.testing.assert_array_equal(flagged, ~pos)


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name)
def test_pre_dr9_shape_mapping_on_real_rows(path):
    t = sio.read_catalogue(path)
    raw = Table(fits.getdata(path, 1))
    typ = np.char.strip(np.asarray(raw["TYPE"]).astype(str))
    for i, ty in enumerate(typ):
        if ty == "PSF":
            assert t["SHAPE_R"][i] == 0 and t["SERSIC"][i] == 0
        elif ty in ("EXP", "REX"):
            assert t["SHAPE_R"][i] == raw["SHAPEEXP_R"][i] and t["SHAPE_E1"][i] == raw["SHAPEEXP_E1"][i]
            assert t["SERSIC"][i] == 1
        elif ty == "DEV":
            assert t["SHAPE_R"][i] == raw["SHAPEDEV_R"][i] and t["SHAPE_E2"][i] == raw["SHAPEDEV_E2"][i]
            assert t["SERSIC"][i] == 4
    assert "SHAPE_MAPPING" in t.meta


def _pre_dr9_copy(tmp_path, types, fracdev):
    """A copy of a real pre-DR9 file with TYPE/FRACDEV overwritten in the first rows."""
    src = REAL_FILES[3]
    with fits.open(src) as h:
        data = h[1].data.copy()
    for i, (ty, fd) in enumerate(zip(types, fracdev, strict=True)):
        data["TYPE"][i] = ty
        data["FRACDEV"][i] = fd
        data["SHAPEDEV_R"][i] = 2.0
        data["SHAPEEXP_R"][i] = 3.0
    out = tmp_path / "predr9.fits"
    fits.BinTableHDU(data).writeto(out)
    return out


def test_comp_type_is_mapped_by_fracdev(tmp_path):
    path = _pre_dr9_copy(tmp_path, ["COMP", "COMP", "SIMP"], [0.7, 0.3, 0.0])
    t = sio.read_catalogue(path)
    assert list(t["TYPE"][:3]) == ["COMP", "COMP", "SIMP"]
    assert list(t["SHAPE_R"][:3]) == [2.0, 3.0, 3.0]
    assert list(t["SERSIC"][:3]) == [4.0, 1.0, 1.0]


def test_unknown_type_in_pre_dr9_file_raises_with_file_column_row(tmp_path):
    path = _pre_dr9_copy(tmp_path, ["PSF", "XYZ"], [0.0, 0.0])
    with pytest.raises(sio.CatalogueError, match=r"predr9\.fits.*TYPE.*'XYZ'.*row 1"):
        sio.read_catalogue(path)


def test_column_names_are_case_insensitive(tmp_path):
    t = make_dr9_table(5)
    out = tmp_path / "lower.fits"
    lower = Table({c.lower(): t[c] for c in t.colnames})
    lower.write(out)
    got = sio.read_catalogue(out, columns=["flux_r", "Shape_R", "TYPE"])
    assert got.colnames[:3] == ["FLUX_R", "SHAPE_R", "TYPE"]
    np.testing.assert_array_equal(got["FLUX_R"], t["FLUX_R"])


# ---------------------------------------------------------------- writing
def test_write_sweep_round_trip_with_exact_dr9_dtypes(tmp_path):
    t = make_dr9_table(40, seed=1)
    t["TRUE_Z"] = np.linspace(0, 0.3, len(t))
    out = sio.write_sweep(t, tmp_path / "sweep-000p000-010p005.fits", extra_columns=["TRUE_Z"],
                          header={"SIMSEED": 1})
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left
    with fits.open(out) as h:
        data = h[1].data
        assert h[1].header["SIMSEED"] == 1
        names = list(data.columns.names)
        assert names == [*datamodel.SWEEP_COLUMNS, "TRUE_Z"]
        for c, (dt, unit, _) in datamodel.SWEEP_COLUMNS.items():
            raw = data.columns[c]
            assert np.dtype(raw.dtype).newbyteorder(">") == np.dtype(dt).newbyteorder(">") or \
                np.dtype(dt).kind == "S", c
            if unit:
                assert raw.unit == unit
        raw_flux = h[1].data.view(np.ndarray)["FLUX_R"]
        assert raw_flux.dtype == np.dtype(">f4")  # big-endian on disk, like real sweeps
    back = sio.read_catalogue(out, columns=[*datamodel.SWEEP_COLUMNS, "TRUE_Z"])
    for c, (dt, _, _) in datamodel.SWEEP_COLUMNS.items():
        if dt.startswith("S"):
            assert list(back[c]) == [str(v) for v in t[c]], c
        else:
            np.testing.assert_array_equal(np.asarray(back[c]), np.asarray(t[c]).astype(dt), err_msg=c)
    np.testing.assert_array_equal(back["TRUE_Z"], t["TRUE_Z"])


def test_write_sweep_errors(tmp_path):
    t = make_dr9_table(5)
    out = tmp_path / "s.fits"
    sio.write_sweep(t, out)
    with pytest.raises(FileExistsError):
        sio.write_sweep(t, out)
    sio.write_sweep(t, out, overwrite=True)
    with pytest.raises(sio.MissingColumnError, match="SHAPE_R"):
        sio.write_sweep(t[[c for c in t.colnames if c != "SHAPE_R"]], tmp_path / "a.fits")
    bad = t.copy()
    bad["TYPE"] = ["COMP"] * len(bad)
    with pytest.raises(ValueError, match="TYPE row 0.*longer than 3"):
        sio.write_sweep(bad, tmp_path / "b.fits")
    bad = t.copy()
    bad["NOBS_G"] = np.full(len(bad), 1.5)
    with pytest.raises(sio.ColumnDtypeError, match="NOBS_G"):
        sio.write_sweep(bad, tmp_path / "c.fits")
    bad = t.copy()
    bad["FLUX_R"] = ["x"] * len(bad)
    with pytest.raises(sio.ColumnDtypeError, match="FLUX_R"):
        sio.write_sweep(bad, tmp_path / "d.fits")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.fits"]


# ---------------------------------------------------------------- chunks
def test_iter_catalogue_chunks_equal_full_read(tmp_path):
    t = make_dr9_table(103, seed=2)
    out = sio.write_sweep(t, tmp_path / "s.fits")
    chunks = list(sio.iter_catalogue(out, chunk_rows=25))
    assert [len(c) for c in chunks] == [25, 25, 25, 25, 3]
    assert [c.meta["ROW_OFFSET"] for c in chunks] == [0, 25, 50, 75, 100]
    full = sio.read_catalogue(out)
    joined = vstack(chunks, metadata_conflicts="silent")
    for c in full.colnames:
        np.testing.assert_array_equal(np.asarray(joined[c]), np.asarray(full[c]), err_msg=c)
    with pytest.raises(ValueError, match="chunk_rows"):
        next(sio.iter_catalogue(out, chunk_rows=0))


def test_file_helpers():
    assert sio.file_nrows(REAL_FILES[0]) == 6
    assert "SHAPEEXP_R" in sio.file_columns(REAL_FILES[0])


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("keep", [0, 100, 2880 + 500, -3000, -1])
def test_truncated_fits_raises_naming_the_file(tmp_path, keep):
    out = sio.write_sweep(make_dr9_table(30), tmp_path / "sweep-trunc.fits")
    data = out.read_bytes()
    out.write_bytes(data[:keep])
    with pytest.raises(sio.CorruptFileError, match="sweep-trunc.fits"):
        sio.read_catalogue(out)
    with pytest.raises(sio.CorruptFileError, match="sweep-trunc.fits"):
        list(sio.iter_catalogue(out))


def test_not_a_fits_file(tmp_path):
    p = tmp_path / "notes.fits"
    p.write_text("this is not a FITS file\n" * 200)
    with pytest.raises(sio.CorruptFileError, match="notes.fits"):
        sio.read_catalogue(p)
    with pytest.raises(FileNotFoundError, match="nothere.fits"):
        sio.read_catalogue(tmp_path / "nothere.fits")


def test_missing_required_column_names_file_and_column(tmp_path):
    t = make_dr9_table(5)
    t.remove_column("FIBERFLUX_R")
    out = tmp_path / "nofib.fits"
    t.write(out)
    with pytest.raises(sio.MissingColumnError, match=r"nofib\.fits.*FIBERFLUX_R"):
        sio.read_catalogue(out)
    # not required -> fine
    got = sio.read_catalogue(out, required=())
    assert "FIBERFLUX_R" not in got.colnames and len(got) == 5
    with pytest.raises(sio.MissingColumnError, match="FIBERFLUX_R"):
        sio.read_catalogue(out, columns=["FLUX_R", "FIBERFLUX_R"])


def test_wrong_dtype_names_file_and_column(tmp_path):
    t = make_dr9_table(5)
    t["FLUX_R"] = np.array(["1.0"] * 5)
    out = tmp_path / "strflux.fits"
    t.write(out)
    with pytest.raises(sio.ColumnDtypeError, match=r"strflux\.fits.*FLUX_R"):
        sio.read_catalogue(out)
    t = make_dr9_table(5)
    t["TYPE"] = np.arange(5.0)
    t.write(tmp_path / "numtype.fits")
    with pytest.raises(sio.ColumnDtypeError, match=r"numtype\.fits.*TYPE"):
        sio.read_catalogue(tmp_path / "numtype.fits")


def test_bad_rows_are_flagged_never_dropped(tmp_path):
    t = make_dr9_table(8, seed=3)
    t["FLUX_G"][0] = np.nan
    t["FLUX_R"][1] = np.inf
    t["FLUX_Z"][2] = -1.5
    t["FLUX_IVAR_W1"][3] = 0.0  # no WISE data
    t["FLUX_W1"][3] = 0.0
    t["FLUX_IVAR_W2"][4] = -1.0
    t["MW_TRANSMISSION_R"][5] = 0.0
    t["SHAPE_R"][6] = np.nan
    out = sio.write_sweep(t, tmp_path / "bad.fits")
    got = sio.read_catalogue(out)
    assert len(got) == len(t)  # rows in = rows out
    reasons = list(got["QUALITY_REASON"])
    assert reasons[0] == "FLUX_NONFINITE_G"
    assert reasons[1] == "FLUX_NONFINITE_R"
    assert reasons[2] == "FLUX_NONPOSITIVE_Z"
    assert set(reasons[3].split(",")) == {"FLUX_NONPOSITIVE_W1", "NO_DATA_W1"}
    assert reasons[4] == "IVAR_INVALID_W2"
    assert reasons[5] == "MWT_INVALID_R"
    assert reasons[6] == "SHAPE_INVALID"
    assert reasons[7] == "" and got["QUALITY_FLAGS"][7] == 0
    for i, r in enumerate(reasons):
        assert sio.decode_quality(got["QUALITY_FLAGS"][i]) == r
    assert np.isnan(sio.flux_to_mag(got["FLUX_G"], got["MW_TRANSMISSION_G"])[0])
    assert np.isnan(sio.flux_to_mag(got["FLUX_R"], got["MW_TRANSMISSION_R"])[5])
    assert np.isnan(sio.mag_err(got["FLUX_W1"], got["FLUX_IVAR_W1"])[3])


def test_quality_flags_on_table_without_ivars():
    t = Table({"FLUX_R": [1.0, -1.0], "MW_TRANSMISSION_R": [1.0, 1.0]})
    flags, reason = sio.quality_flags(t)
    assert list(reason) == ["", "FLUX_NONPOSITIVE_R"]
    assert flags.dtype == np.int32


def test_write_sweep_bytes_match_astropy_writer(tmp_path):
    """The fast raw writer produces the same data bytes as astropy's own FITS writer, and a valid file."""
    t = make_dr9_table(17, seed=9)
    t["IS_STAR"] = np.arange(17) % 3 == 0
    t["SIM_CLASS"] = np.arange(17).astype(np.int16)
    t["NOTE"] = ["a", "bc", "def"] * 5 + ["", "xyz"]
    ours = sio.write_sweep(t, tmp_path / "ours.fits", extra_columns=["IS_STAR", "SIM_CLASS", "NOTE"])
    with fits.open(ours) as h:
        h.verify("exception")
        data = h[1].data
        assert list(data["IS_STAR"]) == list(t["IS_STAR"])
        assert list(data["NOTE"]) == list(t["NOTE"])
        cols = [fits.Column(name=c.name, format=c.format, unit=c.unit, array=np.array(data[c.name]))
                for c in h[1].columns]
        loc = h[1].fileinfo()["datLoc"]
    ref = tmp_path / "ref.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)]).writeto(ref)
    with fits.open(ref) as h:
        ref_loc = h[1].fileinfo()["datLoc"]
    assert ours.read_bytes()[loc:] == ref.read_bytes()[ref_loc:]
    assert len(ours.read_bytes()) % 2880 == 0


def test_empty_file_round_trip(tmp_path):
    out = sio.write_sweep(make_dr9_table(4)[:0], tmp_path / "empty.fits")
    t = sio.read_catalogue(out)
    assert len(t) == 0 and "SHAPE_R" in t.colnames and "QUALITY_REASON" in t.colnames
    chunks = list(sio.iter_catalogue(out, chunk_rows=10))
    assert [len(c) for c in chunks] == [0]


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name)
def test_fast_string_reading_equals_astropy_decoding(path):
    """TYPE (and other strings) read from the raw bytes equal astropy's decoded, stripped values."""
    t = sio.read_catalogue(path)
    ref = np.char.strip(np.asarray(fits.getdata(path, 1)["TYPE"]).astype(str))
    assert t["TYPE"].dtype.kind == "U"
    assert list(t["TYPE"]) == list(ref)
    flags, reason = sio.quality_flags(t)
    assert np.array_equal(sio.quality_bits(t), flags)


def test_non_ascii_strings_are_named(tmp_path):
    t = make_dr9_table(3, seed=0)
    path = sio.write_sweep(t, tmp_path / "s.fits")
    with fits.open(path) as h:  # patch the bytes of row 1 in the file (astropy refuses to write non-ASCII)
        hdu = h[1]
        offset = hdu.fileinfo()["datLoc"] + hdu.data.dtype.itemsize + hdu.data.dtype.fields["BRICKNAME"][1]
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(b"\xe9\xe9\xe9")
    with pytest.raises(sio.CorruptFileError, match=r"s\.fits: column BRICKNAME has non-ASCII bytes \(file row 1"):
        sio.read_catalogue(path, columns=["BRICKNAME", "TYPE"], required=())
