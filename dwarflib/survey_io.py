"""Read and write Legacy Surveys DR9 sweep and Tractor catalogues (FITS), convert fluxes to magnitudes,
flag bad rows.

Reading
-------
:func:`read_catalogue` and :func:`iter_catalogue` open the first binary-table HDU with
:mod:`astropy.io.fits` (memory-mapped), copy **only the requested columns** (column names are matched
case-insensitively and returned upper case) and return :class:`astropy.table.Table` objects in native byte
order. ``iter_catalogue`` yields chunks of ``chunk_rows`` rows, so memory stays flat in the file size.

Each table is normalised to the DR9 data model (:mod:`dwarflib.datamodel`):

* **DR10** sweeps and Tractor files carry the same columns plus the DECam i band (FLUX_I, FLUX_IVAR_I,
  MW_TRANSMISSION_I, NOBS_I, FIBERFLUX_I, ...: ``datamodel.I_BAND_COLUMNS``), read with their units when
  present and ignored by a model that does not use them. A model whose columns include the i band given a
  file without it (DR9) gets a :class:`MissingColumnError` naming the missing i-band columns.

* ``TYPE``, ``BRICKNAME``, ``REF_CAT`` (FITS bytes, e.g. ``b'PSF '``) become stripped ``str``; ``TYPE`` is
  also upper-cased (a lower-case ``dup`` is the Tractor's ``DUP`` and meets the same cuts).
* **Pre-DR9 shapes.** DR1-DR8 catalogues carry ``SHAPEEXP_{R,E1,E2}``, ``SHAPEDEV_{R,E1,E2}`` (+ ``_IVAR``)
  and ``FRACDEV`` instead of DR9's ``SHAPE_R``, ``SHAPE_E1``, ``SHAPE_E2``, ``SERSIC``. They are mapped per
  row from ``TYPE``:

  ==============  =========================================  ==========
  TYPE            SHAPE_R, SHAPE_E1, SHAPE_E2 (+ _IVAR)       SERSIC
  ==============  =========================================  ==========
  PSF, DUP        0, 0, 0 (ivar 0)                            0
  REX, SIMP, EXP  SHAPEEXP_*                                  1
  DEV             SHAPEDEV_*                                  4
  COMP            SHAPEDEV_* if FRACDEV > 0.5 else SHAPEEXP_*  4 or 1
  ==============  =========================================  ==========

  COMP (a composite de Vaucouleurs + exponential model, dropped in DR9 in favour of SER) is assigned to
  the component that carries most of the flux. ``SERSIC_IVAR`` is 0 (the index was fixed, not fitted).
  The table's ``meta["SHAPE_MAPPING"]`` records that the mapping was applied. Any other TYPE raises.

Validation
----------
Problems that make a whole file unusable raise a :class:`CatalogueError` subclass whose message names the
file and the column: :class:`CorruptFileError` (not FITS, truncated, no table HDU),
:class:`MissingColumnError` (a required column, see ``datamodel.REQUIRED_COLUMNS``, is absent) and
:class:`ColumnDtypeError` (a string or logical column where a number is expected, a vector column such as
``TFORM = '2E'`` where one value per row is expected, or a column present twice under names that differ only
in case, e.g. ``FLUX_R`` and ``flux_r``). Messages about a row give its file row.

Problems of single rows never drop the row: :func:`quality_flags` returns a bitmask per row and a
comma-separated reason string (columns ``QUALITY_FLAGS`` and ``QUALITY_REASON`` added by the readers).
Bits (see :data:`QUALITY_BITS`), for every band ``B`` whose ``FLUX_B`` is present:

=====================  ===================================================================================
``FLUX_NONFINITE_B``   FLUX_B is NaN or inf
``FLUX_NONPOSITIVE_B`` FLUX_B <= 0 (magnitude undefined; normal for faint WISE sources)
``NO_DATA_B``          FLUX_IVAR_B == 0: no data in that band (e.g. no WISE coverage, NOBS = 0)
``IVAR_INVALID_B``     FLUX_IVAR_B negative, NaN or inf
``MWT_INVALID_B``      MW_TRANSMISSION_B not in (0, 1] or not finite
``FIBERFLUX_INVALID_B`` FIBERFLUX_B NaN or inf (optical bands)
``SHAPE_INVALID``      SHAPE_R < 0, NaN or inf
=====================  ===================================================================================

Magnitudes
----------
:func:`flux_to_mag` gives Galactic-extinction-corrected AB magnitudes,
``m = 22.5 - 2.5 log10(FLUX / MW_TRANSMISSION)`` [mag] from fluxes in nanomaggies, NaN where the flux is
not positive; :func:`mag_err` gives ``2.5 / ln(10) / (FLUX sqrt(FLUX_IVAR))`` [mag].

Writing
-------
:func:`write_sweep` writes a table with exactly the DR9 dtypes of ``datamodel.SWEEP_COLUMNS`` (big-endian
FITS like the real sweeps), atomically (temporary file + rename).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Column, Table
from astropy.units import UnitsWarning

from dwarflib import datamodel
from dwarflib.conventions import ab_magnitude

__all__ = [
    "CatalogueError",
    "ColumnDtypeError",
    "CorruptFileError",
    "MissingColumnError",
    "DEFAULT_COLUMNS",
    "OPTIONAL_COLUMNS",
    "PRE_DR9_SHAPE_COLUMNS",
    "QUALITY_BITS",
    "add_quality_columns",
    "decode_quality",
    "file_columns",
    "file_nrows",
    "flux_to_mag",
    "iter_catalogue",
    "mag_err",
    "normalise_shapes",
    "quality_bits",
    "quality_flags",
    "read_catalogue",
    "read_fits_table",
    "write_sweep",
]


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------
class CatalogueError(ValueError):
    """A catalogue file cannot be used; the message names the file (and the column)."""


class CorruptFileError(CatalogueError):
    """Not a FITS file, truncated, or without a binary-table HDU."""


class MissingColumnError(CatalogueError, KeyError):
    """A required column is absent."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ColumnDtypeError(CatalogueError, TypeError):
    """A column has a dtype incompatible with the DR9 data model."""


# --------------------------------------------------------------------------------------------------
# Column sets
# --------------------------------------------------------------------------------------------------
#: Columns that are read when present although they are not in ``SWEEP_COLUMNS``.
OPTIONAL_COLUMNS: tuple[str, ...] = ("BRICK_PRIMARY", "PARALLAX_IVAR", "PMRA", "PMDEC", "REF_ID", "TARGETID",
                                     *datamodel.I_BAND_COLUMNS)

#: Default selection of :func:`read_catalogue`: the DR9 sweep columns plus the optional ones (when present).
DEFAULT_COLUMNS: tuple[str, ...] = tuple(datamodel.SWEEP_COLUMNS) + OPTIONAL_COLUMNS

#: Pre-DR9 shape columns from which the DR9 ones are derived.
PRE_DR9_SHAPE_COLUMNS: tuple[str, ...] = (
    "FRACDEV",
    "SHAPEEXP_R", "SHAPEEXP_E1", "SHAPEEXP_E2", "SHAPEEXP_R_IVAR", "SHAPEEXP_E1_IVAR", "SHAPEEXP_E2_IVAR",
    "SHAPEDEV_R", "SHAPEDEV_E1", "SHAPEDEV_E2", "SHAPEDEV_R_IVAR", "SHAPEDEV_E1_IVAR", "SHAPEDEV_E2_IVAR",
)
_DR9_SHAPE = ("SHAPE_R", "SHAPE_E1", "SHAPE_E2", "SHAPE_R_IVAR", "SHAPE_E1_IVAR", "SHAPE_E2_IVAR",
              "SERSIC", "SERSIC_IVAR")
_STRING_COLUMNS = tuple(n for n, (dt, _, _) in datamodel.SWEEP_COLUMNS.items() if dt.startswith("S"))


# --------------------------------------------------------------------------------------------------
# Magnitudes
# --------------------------------------------------------------------------------------------------
_POGSON = 2.5 / np.log(10.0)


def flux_to_mag(flux, mw_transmission=1.0) -> np.ndarray:
    """Extinction-corrected AB magnitude [mag] from a flux [nanomaggy] and the Galactic transmission.

    ``m = 22.5 - 2.5 log10(flux / mw_transmission)``, computed in float64. NaN where the flux is not
    positive or not finite, or the transmission is not in (0, 1].
    """
    f = np.asarray(flux, dtype=np.float64)
    t = np.asarray(mw_transmission, dtype=np.float64)
    ok = np.isfinite(f) & (f > 0) & np.isfinite(t) & (t > 0) & (t <= 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        m = ab_magnitude(f, t)
    return np.where(ok, m, np.nan)


def mag_err(flux, ivar) -> np.ndarray:
    """Magnitude error [mag] from flux [nanomaggy] and its inverse variance [nanomaggy^-2].

    ``2.5 / ln(10) / (flux sqrt(ivar))``; NaN where flux <= 0 or ivar <= 0 (no data) or either is not finite.
    """
    f = np.asarray(flux, dtype=np.float64)
    iv = np.asarray(ivar, dtype=np.float64)
    ok = np.isfinite(f) & (f > 0) & np.isfinite(iv) & (iv > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        e = _POGSON / (f * np.sqrt(iv))
    return np.where(ok, e, np.nan)


# --------------------------------------------------------------------------------------------------
# Quality flags
# --------------------------------------------------------------------------------------------------
_BAND_PROBLEMS = ("FLUX_NONFINITE", "FLUX_NONPOSITIVE", "NO_DATA", "IVAR_INVALID", "MWT_INVALID")


def _quality_bits() -> dict[str, int]:
    bits: dict[str, int] = {}
    for p in _BAND_PROBLEMS:
        for b in datamodel.BANDS:
            bits[f"{p}_{b}"] = len(bits)
    for b in datamodel.OPTICAL_BANDS:
        bits[f"FIBERFLUX_INVALID_{b}"] = len(bits)
    bits["SHAPE_INVALID"] = len(bits)
    return bits


#: Quality flag name -> bit number of ``QUALITY_FLAGS`` (int32).
QUALITY_BITS: dict[str, int] = _quality_bits()


def quality_flags(table) -> tuple[np.ndarray, np.ndarray]:
    """Per-row quality bitmask (int32, see :data:`QUALITY_BITS`) and reason string ("" when clean).

    Only the columns present in ``table`` are checked (a table without FLUX_IVAR_* gets no NO_DATA flags).
    """
    n = len(table)
    flags = quality_bits(table)
    uniq, inverse = np.unique(flags, return_inverse=True)
    text = np.array([decode_quality(v) for v in uniq], dtype=object)
    return flags, text[inverse.reshape(-1)].astype(str) if n else np.zeros(0, dtype="<U1")


def quality_bits(table) -> np.ndarray:
    """The bitmask of :func:`quality_flags` alone (int32, no reason strings; for streaming)."""
    n = len(table)
    cols = set(table.colnames) if hasattr(table, "colnames") else set(table.columns)
    flags = np.zeros(n, dtype=np.int32)

    def setbit(name, cond):
        flags[np.asarray(cond, bool)] |= np.int32(1 << QUALITY_BITS[name])

    with np.errstate(invalid="ignore"):
        for b in datamodel.BANDS:
            if f"FLUX_{b}" in cols:
                f = np.asarray(table[f"FLUX_{b}"], dtype=np.float64)
                fin = np.isfinite(f)
                setbit(f"FLUX_NONFINITE_{b}", ~fin)
                setbit(f"FLUX_NONPOSITIVE_{b}", fin & (f <= 0))
            if f"FLUX_IVAR_{b}" in cols:
                iv = np.asarray(table[f"FLUX_IVAR_{b}"], dtype=np.float64)
                setbit(f"NO_DATA_{b}", iv == 0)
                setbit(f"IVAR_INVALID_{b}", ~np.isfinite(iv) | (iv < 0))
            if f"MW_TRANSMISSION_{b}" in cols:
                t = np.asarray(table[f"MW_TRANSMISSION_{b}"], dtype=np.float64)
                setbit(f"MWT_INVALID_{b}", ~(np.isfinite(t) & (t > 0) & (t <= 1)))
        for b in datamodel.OPTICAL_BANDS:
            if f"FIBERFLUX_{b}" in cols:
                setbit(f"FIBERFLUX_INVALID_{b}", ~np.isfinite(np.asarray(table[f"FIBERFLUX_{b}"], np.float64)))
        if "SHAPE_R" in cols:
            r = np.asarray(table["SHAPE_R"], dtype=np.float64)
            setbit("SHAPE_INVALID", ~np.isfinite(r) | (r < 0))
    return flags


def decode_quality(value: int) -> str:
    """Comma-separated names of the bits set in one ``QUALITY_FLAGS`` value ("" for 0)."""
    return ",".join(name for name, bit in QUALITY_BITS.items() if int(value) & (1 << bit))


def add_quality_columns(table: Table) -> Table:
    """Add (or replace) the ``QUALITY_FLAGS`` and ``QUALITY_REASON`` columns in place; returns ``table``."""
    flags, reason = quality_flags(table)
    table["QUALITY_FLAGS"] = Column(flags, description="dwarflib quality bitmask (survey_io.QUALITY_BITS)")
    table["QUALITY_REASON"] = Column(reason, description="names of the QUALITY_FLAGS bits set")
    return table


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------
#: Leading bytes of the compressed files astropy opens (``.fits.gz`` sweeps and the like).
_COMPRESSION_MAGIC: dict[str, bytes] = {"gzip": b"\x1f\x8b", "bzip2": b"BZh", "zip": b"PK\x03\x04",
                                        "lzma": b"\xfd7zXZ\x00"}


def _compression(path: Path) -> str | None:
    """The compression of ``path`` from its first bytes ("gzip", "bzip2", "zip", "lzma"), or None."""
    with open(path, "rb") as fh:
        head = fh.read(6)
    return next((name for name, magic in _COMPRESSION_MAGIC.items() if head.startswith(magic)), None)


class _Opened:
    """An open, validated FITS catalogue: the HDU list, the table HDU and an upper-case name map.

    Compressed files (e.g. ``sweep-*.fits.gz``) are read through astropy, which decompresses the table
    into memory when :attr:`data` is first used (memory ~ the uncompressed table, not one chunk); their
    truncation is found then, since the header's sizes are those of the uncompressed file.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such catalogue file")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # truncation is diagnosed below, with the file name
                self.hdul = fits.open(self.path, memmap=True)
                self.hdu = next((h for h in self.hdul if isinstance(h, fits.BinTableHDU)), None)
        except Exception as exc:  # astropy raises OSError, ValueError, IndexError on damaged files
            raise CorruptFileError(f"{self.path}: not a readable FITS file ({type(exc).__name__}: {exc})") from exc
        if self.hdu is None:
            self.hdul.close()
            raise CorruptFileError(f"{self.path}: no binary-table HDU (file truncated or not a catalogue)")
        self.compression = _compression(self.path)
        info = self.hdu.fileinfo()
        expected = info["datLoc"] + info["datSpan"]
        size = self.path.stat().st_size
        if self.compression is None and size < expected:
            self.hdul.close()
            raise CorruptFileError(
                f"{self.path}: truncated: the header announces {expected} bytes, the file has {size}"
            )
        self.nrows = int(self.hdu.header["NAXIS2"])
        self.names = {n.upper(): n for n in self.hdu.columns.names}

    @property
    def data(self):
        """The table's FITS_rec (memory-mapped; decompressed into memory for a compressed file)."""
        try:
            return self.hdu.data
        except Exception as exc:  # astropy: TypeError (short buffer), EOFError, OSError, zlib.error
            if self.compression is None:
                raise
            info = self.hdu.fileinfo()
            raise CorruptFileError(
                f"{self.path}: truncated or damaged {self.compression} file: the header announces "
                f"{info['datLoc'] + info['datSpan']} uncompressed bytes ({type(exc).__name__}: {exc})") from exc

    def close(self):
        self.hdul.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def file_columns(path: str | Path) -> list[str]:
    """Upper-case column names of the catalogue file ``path``."""
    with _Opened(path) as op:
        return list(op.names)


def file_nrows(path: str | Path) -> int:
    """Number of rows of the catalogue file ``path`` (from the header; nothing is read)."""
    with _Opened(path) as op:
        return op.nrows


def _plan(op: _Opened, columns, required) -> tuple[list[str], list[str], Sequence[str]]:
    """Decide which file columns to read. Returns (output columns, file columns to read, required)."""
    explicit = columns is not None
    wanted = [c.upper() for c in (DEFAULT_COLUMNS if columns is None else columns)]
    if explicit:
        required = list(dict.fromkeys([*(required or ()), *wanted]))
    required = [c.upper() for c in (required or ())]
    have = set(op.names)
    _check_case_duplicates(op, wanted, required)
    derive = [c for c in _DR9_SHAPE if c in wanted or c in required]
    need_pre = any(c not in have for c in derive) and "FRACDEV" in have
    out = [c for c in wanted if c in have or (need_pre and c in _DR9_SHAPE)]
    missing = [c for c in required if c not in have and not (need_pre and c in _DR9_SHAPE)]
    if missing:
        raise MissingColumnError(
            f"{op.path}: missing required column(s) {missing}"
            + (" (no pre-DR9 SHAPEEXP/SHAPEDEV/FRACDEV columns either)" if set(missing) & set(_DR9_SHAPE) else "")
            + (" (DR10 i-band column(s): the file has no i band, e.g. a DR9 file; classify it with a model "
               "trained without i-band inputs)" if set(missing) & set(datamodel.I_BAND_COLUMNS) else "")
        )
    to_read = [c for c in out if c in have]
    if need_pre:
        for c in ("TYPE", *PRE_DR9_SHAPE_COLUMNS):
            if c not in have:
                raise MissingColumnError(f"{op.path}: column {c} needed to map pre-DR9 shapes to DR9 is missing")
            if c not in to_read:
                to_read.append(c)
    return out, to_read, required


def _check_case_duplicates(op: _Opened, wanted, required) -> None:
    """Raise when a column to read appears twice under names that differ only in case (``FLUX_R`` and
    ``flux_r``): which one is meant is ambiguous, and reading one would silently ignore the other."""
    seen: dict[str, list[str]] = {}
    for n in op.hdu.columns.names:
        seen.setdefault(n.upper(), []).append(n)
    asked = {c.upper() for c in (*wanted, *(required or ()))} | set(PRE_DR9_SHAPE_COLUMNS) | {"TYPE"}
    dup = {u: names for u, names in seen.items() if len(names) > 1 and u in asked}
    if dup:
        u, names = next(iter(dup.items()))
        raise ColumnDtypeError(f"{op.path}: column {u} appears {len(names)} times with different case {names}; "
                               "column names are case-insensitive, keep one")


#: Columns that hold one value per row (a vector column, e.g. TFORM '2E', is refused).
_SCALAR_COLUMNS = frozenset((*datamodel.SWEEP_COLUMNS, *OPTIONAL_COLUMNS, *PRE_DR9_SHAPE_COLUMNS))


def _check_dtype(path: Path, name: str, arr: np.ndarray) -> None:
    """Raise :class:`ColumnDtypeError` naming the file and column when ``arr`` cannot hold DR9 ``name``: a
    vector where a scalar per row is expected, a logical or string where a number is expected, a float
    where an integer is expected, a number where a string is expected."""
    if name in _SCALAR_COLUMNS and arr.ndim != 1:
        raise ColumnDtypeError(f"{path}: column {name} has {arr.shape[1:]} values per row (shape {arr.shape}), "
                               "expected one value per row")
    spec = datamodel.DATAMODEL_COLUMNS.get(name)
    kind = arr.dtype.kind
    if spec is None:
        return
    want = np.dtype(spec[0]).kind
    if want in "fiu" and kind == "b":
        raise ColumnDtypeError(f"{path}: column {name} is logical (True/False), expected numeric {spec[0]}")
    if want in "fiu" and kind not in "fiu":
        raise ColumnDtypeError(f"{path}: column {name} has dtype {arr.dtype}, expected numeric {spec[0]}")
    if want in "SU" and kind not in "SU":
        raise ColumnDtypeError(f"{path}: column {name} has dtype {arr.dtype}, expected a string ({spec[0]})")
    if want in "iu" and kind == "f":
        raise ColumnDtypeError(f"{path}: column {name} has dtype {arr.dtype}, expected integer {spec[0]}")


def _plain_columns(coldefs, raw_dtype: np.dtype) -> set[str]:
    """File columns that can be taken from the raw structured bytes: numbers and strings without
    TSCAL/TZERO that are not FITS logicals. Bypassing astropy's per-field conversion layer is about 2x
    faster for numbers and 6x for strings (astropy decodes them element by element); the others
    (logicals, scaled integers) go through the FITS_rec."""
    out = set()
    for col in coldefs:
        if (col.name in (raw_dtype.names or ()) and raw_dtype[col.name].kind in "iufS"
                and col.bzero in (None, 0) and col.bscale in (None, 1) and not str(col.format).endswith("L")):
            out.add(col.name)
    return out


#: Rows per block when copying big-endian FITS columns to native arrays: every column of a block is
#: copied while the block's records are in the CPU cache (~2x faster than whole columns one by one).
_BLOCK_ROWS = 4096


def _native_copies(raw: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """Native-byte-order copies of the numeric fields ``names`` of a raw (big-endian) record array."""
    out = {n: np.empty(len(raw), dtype=raw.dtype[n].newbyteorder("=")) for n in names}
    for a in range(0, len(raw), _BLOCK_ROWS):
        block = raw[a:a + _BLOCK_ROWS]
        for n in names:
            out[n][a:a + _BLOCK_ROWS] = block[n]
    return out


def _to_table(path: Path, rec, names: dict[str, str], to_read: list[str], raw: np.ndarray | None = None,
              plain: set[str] | None = None, row_offset: int = 0) -> Table:
    """Table of the columns ``to_read`` (upper case) of a chunk: ``rec`` is the FITS_rec chunk or a
    function returning it (called only if a column needs astropy's conversion); ``raw`` and ``plain``
    are its raw structured view and :func:`_plain_columns` (derived from ``rec`` when not given);
    ``row_offset`` is the file row of the chunk's first row (for messages). ``TYPE`` is stripped and
    upper-cased (a lower-case ``dup`` is the Tractor's ``DUP``)."""
    if raw is None:
        rec = rec() if callable(rec) else rec
        raw = rec.view(np.ndarray) if isinstance(rec, fits.FITS_rec) else None
        plain = _plain_columns(rec.columns, raw.dtype) if raw is not None else set()
    arrays: dict[str, np.ndarray] = {}
    numeric = []
    for c in to_read:
        try:
            if names[c] in plain:
                arr = raw[names[c]]
            else:
                if callable(rec):
                    rec = rec()
                arr = np.asarray(rec[names[c]])
        except Exception as exc:
            raise CorruptFileError(f"{path}: column {c} cannot be read ({type(exc).__name__}: {exc})") from exc
        _check_dtype(path, c, arr)
        if arr.dtype.kind in "SU":
            arr = np.strings.strip(arr)  # FITS pads with spaces ('PSF ')
            if arr.dtype.kind == "S":
                try:
                    arr = arr.astype(f"U{max(arr.dtype.itemsize, 1)}")  # ASCII bytes -> str
                except UnicodeDecodeError as exc:
                    bad = [i for i, v in enumerate(arr.tolist()) if not v.isascii()]
                    raise CorruptFileError(
                        f"{path}: column {c} has non-ASCII bytes (file row {row_offset + bad[0] if bad else '?'}: "
                        f"{arr[bad[0]] if bad else ''!r}); FITS strings are ASCII") from exc
            if c == "TYPE":
                arr = np.strings.upper(arr)
        elif names[c] in plain and arr.ndim == 1:
            numeric.append(c)  # copied below, block by block
            arr = None
        elif arr.dtype.byteorder not in ("=", "|"):
            arr = arr.astype(arr.dtype.newbyteorder("="))
        else:
            arr = np.array(arr, copy=True)
        arrays[c] = arr
    if numeric:
        copies = _native_copies(raw, [names[c] for c in numeric])
        for c in numeric:
            arrays[c] = copies[names[c]]
    cols = {}
    for c in to_read:
        spec = datamodel.DATAMODEL_COLUMNS.get(c)
        cols[c] = Column(arrays[c], unit=(spec[1] or None) if spec else None,
                         description=spec[2] if spec else "", copy=False)
    return Table(cols, copy=False)  # the arrays above are fresh copies: no second copy


def normalise_shapes(table: Table, path: str | Path = "<table>", keep_pre_dr9: bool = False,
                     row_offset: int = 0) -> Table:
    """Derive DR9 ``SHAPE_R``, ``SHAPE_E1``, ``SHAPE_E2`` (+ ``_IVAR``), ``SERSIC``, ``SERSIC_IVAR`` from the
    pre-DR9 columns (mapping in the module docstring), in place. Tables that already carry ``SHAPE_R``
    are returned unchanged. Raises :class:`CatalogueError` naming the file, column and first file row
    (``row_offset`` + index) for a TYPE the mapping does not know.
    """
    if "SHAPE_R" in table.colnames or "FRACDEV" not in table.colnames:
        return table
    typ = np.strings.upper(np.strings.strip(np.asarray(table["TYPE"]).astype(str)))
    is_psf = np.isin(typ, ("PSF", "DUP"))
    is_exp = np.isin(typ, ("REX", "SIMP", "EXP"))
    is_dev = typ == "DEV"
    is_comp = typ == "COMP"
    fracdev = np.asarray(table["FRACDEV"], dtype=np.float64)
    use_dev = is_dev | (is_comp & (fracdev > 0.5))
    use_exp = is_exp | (is_comp & ~(fracdev > 0.5))
    unknown = ~(is_psf | use_dev | use_exp)
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise CatalogueError(
            f"{path}: column TYPE has value {typ[i]!r} (file row {row_offset + i}; {int(unknown.sum())} rows) "
            "that the pre-DR9 shape mapping does not know"
        )
    for q in ("R", "E1", "E2", "R_IVAR", "E1_IVAR", "E2_IVAR"):
        dev = np.asarray(table[f"SHAPEDEV_{q}"], dtype=np.float32)
        exp = np.asarray(table[f"SHAPEEXP_{q}"], dtype=np.float32)
        val = np.where(use_dev, dev, np.where(use_exp, exp, np.float32(0))).astype(np.float32)
        name = f"SHAPE_{q}"
        spec = datamodel.SWEEP_COLUMNS[name]
        table[name] = Column(val, unit=spec[1] or None, description=spec[2] + " (from pre-DR9 columns)")
    sersic = np.where(use_dev, 4.0, np.where(use_exp, 1.0, 0.0)).astype(np.float32)
    table["SERSIC"] = Column(sersic, description="Sersic index (from pre-DR9 TYPE/FRACDEV)")
    table["SERSIC_IVAR"] = Column(np.zeros(len(table), np.float32), description="0: index fixed, not fitted")
    if not keep_pre_dr9:
        table.remove_columns([c for c in PRE_DR9_SHAPE_COLUMNS if c in table.colnames])
    table.meta["SHAPE_MAPPING"] = "pre-DR9 SHAPEEXP/SHAPEDEV/FRACDEV mapped to DR9 SHAPE_*/SERSIC by TYPE"
    return table


def _finish(path: Path, t: Table, out: list[str], flags: bool, row_offset: int = 0) -> Table:
    keep_pre = any(c in out for c in PRE_DR9_SHAPE_COLUMNS)
    if "FRACDEV" in t.colnames and "SHAPE_R" not in t.colnames:
        normalise_shapes(t, path, keep_pre_dr9=keep_pre, row_offset=row_offset)
        extra = [c for c in t.colnames if c not in out]
        t.remove_columns(extra)
    t = t[out] if list(t.colnames) != out else t
    if flags:
        add_quality_columns(t)
    t.meta["FILENAME"] = str(path)
    return t


def read_catalogue(path: str | Path, columns: Sequence[str] | None = None,
                   required: Sequence[str] | None = datamodel.REQUIRED_COLUMNS, flags: bool = True) -> Table:
    """Read a DR9 (or pre-DR9) sweep/Tractor FITS catalogue into an astropy Table with DR9 column names.

    Parameters
    ----------
    path : str or Path
        The FITS file; the first binary-table HDU is read (memory-mapped).
    columns : sequence of str, optional
        Columns to return (case-insensitive; DR9 shape names are derived from pre-DR9 columns when
        needed). Default: :data:`DEFAULT_COLUMNS` that are present. When given, every column is required.
    required : sequence of str, optional
        Columns that must exist (default ``datamodel.REQUIRED_COLUMNS``; pass ``()`` to check nothing).
    flags : bool
        Add ``QUALITY_FLAGS`` / ``QUALITY_REASON`` (see :func:`quality_flags`).

    Raises
    ------
    FileNotFoundError, CorruptFileError, MissingColumnError, ColumnDtypeError
    """
    with _Opened(path) as op:
        out, to_read, _ = _plan(op, columns, required)
        t = _to_table(op.path, op.data, op.names, to_read)
        return _finish(op.path, t, out, flags)


def read_fits_table(path: str | Path) -> Table:
    """The whole first table of any FITS file (not only sweeps: truth tables, training samples) as an astropy
    Table, NaN not masked, DR9 unit strings (``nanomaggy``) not warned about. No column checks: see
    :func:`read_catalogue` for sweep and Tractor files."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnitsWarning)
        return Table.read(path, mask_invalid=False)


def iter_catalogue(path: str | Path, chunk_rows: int = 200_000, columns: Sequence[str] | None = None,
                   required: Sequence[str] | None = datamodel.REQUIRED_COLUMNS,
                   flags: bool = True) -> Iterator[Table]:
    """Yield the catalogue in chunks of at most ``chunk_rows`` rows (same arguments as :func:`read_catalogue`).

    Each chunk's ``meta["ROW_OFFSET"]`` is the file row of its first row, so memory stays flat in the file
    size and every output row can be traced back to the file. A file with zero rows yields one empty table.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    with _Opened(path) as op:
        out, to_read, _ = _plan(op, columns, required)
        data = op.data
        raw = data.view(np.ndarray) if data is not None else None
        plain = _plain_columns(data.columns, raw.dtype) if data is not None else set()
        starts = range(0, max(op.nrows, 1), chunk_rows)
        for start in starts:
            stop = min(start + chunk_rows, op.nrows)
            if data is None:
                t = Table({c: np.zeros(0) for c in to_read})
            else:  # the FITS_rec slice (astropy column objects) only for columns that need it
                t = _to_table(op.path, lambda a=start, b=stop: data[a:b], op.names, to_read,
                              raw=raw[start:stop], plain=plain, row_offset=start)
            t = _finish(op.path, t, out, flags, row_offset=start)
            t.meta["ROW_OFFSET"] = start
            yield t


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------
def _sweep_column(path: Path, name: str, values, dtype: np.dtype) -> np.ndarray:
    """``values`` converted to ``dtype`` with checks (string width, integer range, kind)."""
    values = np.asarray(values)
    if dtype.kind == "S":
        if values.dtype.kind not in "SUO":
            raise ColumnDtypeError(f"{path}: column {name} has dtype {values.dtype}, expected a string ({dtype})")
        if values.dtype.kind == "O":
            values = values.astype(str)
        too_long = np.strings.str_len(values) > dtype.itemsize
        if too_long.any():
            i = int(np.flatnonzero(too_long)[0])
            raise ValueError(f"{path}: column {name} row {i} value {values[i]!r} is longer than {dtype.itemsize} "
                             "characters (DR9 width)")
        try:
            return values.astype(dtype)  # str -> ASCII bytes
        except UnicodeEncodeError as exc:
            raise ValueError(f"{path}: column {name} has non-ASCII text ({exc})") from exc
    if values.dtype.kind not in "fiub":
        raise ColumnDtypeError(f"{path}: column {name} has dtype {values.dtype}, expected numeric {dtype}")
    if dtype.kind in "iu":
        if values.dtype.kind == "f":
            raise ColumnDtypeError(f"{path}: column {name} has float dtype {values.dtype}, expected integer {dtype}")
        info = np.iinfo(dtype)
        if values.size and (values.min() < info.min or values.max() > info.max):
            raise ValueError(f"{path}: column {name} has values outside the range of {dtype}")
    return values.astype(dtype, copy=False)


def _extra_column(path: Path, name: str, values) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind in "UO":
        arr = arr.astype(str)
        width = max(1, int(np.strings.str_len(arr).max()) if arr.size else 1)
        return _sweep_column(path, name, arr, np.dtype(f"S{width}"))
    if arr.dtype.kind == "S" or arr.dtype.str[1:] in ("f4", "f8", "i2", "i4", "i8", "b1", "u1"):
        return arr
    raise ColumnDtypeError(f"{path}: extra column {name} has unsupported dtype {arr.dtype}")


def write_sweep(table, path: str | Path, extra_columns: Sequence[str] = (), header: dict | None = None,
                overwrite: bool = False) -> Path:
    """Write ``table`` as a DR9-like sweep FITS file with exactly the dtypes of ``datamodel.SWEEP_COLUMNS``.

    Every column of ``SWEEP_COLUMNS`` must be present (names case-insensitive); they are written in that
    order, big-endian like real sweeps, with their units (TUNITn). ``extra_columns`` (e.g. simulation truth)
    follow with their own numeric or string dtype. ``header`` adds keywords to the table HDU. The file is
    written to a temporary file in the same directory and renamed, so readers never see a partial file.

    Raises
    ------
    MissingColumnError, ColumnDtypeError, ValueError (string too long or not ASCII, integer overflow),
    FileExistsError.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists (pass overwrite=True)")
    names = {n.upper(): n for n in table.colnames} if hasattr(table, "colnames") else {
        str(n).upper(): n for n in table.columns}
    missing = [c for c in datamodel.SWEEP_COLUMNS if c not in names]
    if missing:
        raise MissingColumnError(f"{path}: cannot write a sweep, missing column(s) {missing}")
    absent = [c for c in extra_columns if c.upper() not in names]
    if absent:
        raise MissingColumnError(f"{path}: extra column(s) {absent} not in the table")
    arrays: dict[str, np.ndarray] = {}
    for c, (dt, _, _) in datamodel.SWEEP_COLUMNS.items():
        arrays[c] = _sweep_column(path, c, table[names[c]], np.dtype(dt))
    for c in extra_columns:
        arrays[c.upper()] = _extra_column(path, c, table[names[c.upper()]])
    # One big-endian structured array written as raw FITS rows after an astropy-made header: astropy's own
    # writer re-encodes every string column row by row (several times slower).
    is_bool = {c for c, a in arrays.items() if a.dtype.kind == "b"}
    head_dtype = np.dtype([(c, a.dtype.newbyteorder(">") if a.dtype.kind in "fiu" else a.dtype)
                           for c, a in arrays.items()])
    raw_dtype = np.dtype([(c, "S1" if c in is_bool else head_dtype[c]) for c in arrays])
    rec = np.empty(len(table), dtype=raw_dtype)
    for c, a in arrays.items():
        rec[c] = np.where(a, b"T", b"F") if c in is_bool else a  # FITS logicals are 'T'/'F'
    hdu = fits.BinTableHDU(data=np.empty(0, dtype=head_dtype))
    hdr = hdu.header
    hdr["NAXIS2"] = len(rec)
    for i, c in enumerate(arrays, start=1):
        unit = datamodel.SWEEP_COLUMNS.get(c, ("", "", ""))[1]
        if unit:
            hdr[f"TUNIT{i}"] = unit
    for key, value in (header or {}).items():
        hdr[key] = value
    if hdr["NAXIS1"] != raw_dtype.itemsize:  # guard: FITS row width == packed numpy row width
        raise RuntimeError(f"{path}: internal error, row width {raw_dtype.itemsize} != NAXIS1 {hdr['NAXIS1']}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(fits.PrimaryHDU().header.tostring().encode("ascii"))
            fh.write(hdr.tostring().encode("ascii"))
            step = max(1, (64 << 20) // max(raw_dtype.itemsize, 1))  # 64 MiB at a time
            for i in range(0, len(rec), step):
                fh.write(rec[i:i + step].tobytes())
            fh.write(b"\0" * (-(len(rec) * raw_dtype.itemsize) % 2880))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
