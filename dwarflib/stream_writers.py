"""Streaming writers: a FITS binary table and Parquet files, written chunk by chunk (memory: one chunk).

:class:`FitsStreamWriter` is the one streaming FITS writer of the package (the simulated sky's
``truth.fits`` and ``training-sample.fits``, the catalogue's ``-candidates.fits`` / ``-all.fits``);
:class:`ParquetStreamWriter` and :class:`RejectedRowsWriter` write the catalogue's Parquet outputs.
Each writer has ``write``, ``close`` (the file is complete and fsync-ed) and ``abort`` (the partial
file is removed).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from astropy.io import fits

#: FITS binary-table formats (TFORM) of numpy dtypes (kind + item size); strings are ``<n>A``.
FITS_FORMATS: dict[str, str] = {"i1": "B", "u1": "B", "i2": "I", "i4": "J", "i8": "K", "f4": "E", "f8": "D",
                                "b1": "L"}
#: Characters of a TTYPE comment kept (the card holds 80 characters).
TTYPE_COMMENT_CHARS = 47


class FitsStreamWriter:
    """Write a FITS file with a primary HDU and one binary table, row chunk by row chunk.

    The table header is written first with NAXIS2 = 0, rows are appended as big-endian bytes (booleans
    as FITS 'L', bytes ``T`` / ``F``; byte strings as ``<n>A``), and on :meth:`close` the header is
    rewritten in place with the final row count (the header has the same length), the data are padded to
    a multiple of 2880 bytes and the file is fsync-ed. Memory use is one chunk.

    Parameters
    ----------
    path : path
        The file to write.
    dtype : numpy dtype
        Fields of a row (names and types, any byte order).
    units, comments : dict, optional
        Column name -> TUNIT, and -> comment of the TTYPE card (cut to :data:`TTYPE_COMMENT_CHARS`).
    primary_cards, table_cards : sequences of (key, value[, comment])
        Cards appended to the primary and the table header (comments shortened to fit a card).
    extname : str, optional
        EXTNAME of the table (none when None).
    atomic : bool
        Write to a temporary name in the same folder (``.<name>.<pid>.tmp``) and move it into place on
        :meth:`close`; otherwise write ``path`` itself (the caller moves it).
    """

    def __init__(self, path, dtype: np.dtype, units: Mapping[str, str] | None = None,
                 comments: Mapping[str, str] | None = None, primary_cards: Sequence[tuple] = (),
                 table_cards: Sequence[tuple] = (), extname: str | None = None, atomic: bool = False):
        self.path = Path(path)
        dtype = np.dtype(dtype)
        self.dtype = np.dtype([(n, _disk_dtype(dtype[n])) for n in dtype.names])
        self._bool = [n for n in dtype.names if dtype[n].kind == "b"]
        self.nrows = 0
        units, comments = units or {}, comments or {}
        header = _table_header_template(dtype, tuple((n, units.get(n) or None) for n in dtype.names),
                                        extname).copy()
        for i, name in enumerate(dtype.names, start=1):
            if comments.get(name):
                header.comments[f"TTYPE{i}"] = comments[name][:TTYPE_COMMENT_CHARS]
        primary = fits.PrimaryHDU()
        for card in table_cards:
            header.append(_short_card(*card), end=True)
        for card in primary_cards:
            primary.header.append(_short_card(*card), end=True)
        self._table_header = header
        self._file = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp") if atomic else self.path
        self._fh = open(self._file, "wb")
        self._fh.write(primary.header.tostring().encode("ascii"))
        self._header_offset = self._fh.tell()
        self._header_bytes = self._table_header.tostring().encode("ascii")
        self._fh.write(self._header_bytes)

    @classmethod
    def for_columns(cls, path, columns: Mapping[str, tuple[str, str, str]], **kwargs) -> FitsStreamWriter:
        """A writer for ``columns``: name -> (numpy dtype, unit, description) (as :mod:`dwarflib.datamodel`
        describes columns); the descriptions become the TTYPE comments."""
        dtype = np.dtype([(c, dt) for c, (dt, _, _) in columns.items()])
        return cls(path, dtype, units={c: u for c, (_, u, _) in columns.items()},
                   comments={c: d for c, (_, _, d) in columns.items()}, **kwargs)

    def write(self, rows) -> None:
        """Append rows: a structured array or a mapping of column arrays, with the writer's field names."""
        n = len(rows[self.dtype.names[0]])
        if n == 0:
            return
        out = np.empty(n, dtype=self.dtype)
        for name in self.dtype.names:
            if name in self._bool:
                out[name] = np.where(np.asarray(rows[name]).astype(bool), ord("T"), ord("F"))
            else:
                out[name] = rows[name]
        self._fh.write(out.tobytes())
        self.nrows += n

    def close(self) -> Path:
        """Finish the file (row count, padding, fsync) and return its path."""
        size = self.nrows * self.dtype.itemsize
        pad = (-size) % 2880
        self._fh.write(b"\0" * pad)
        self._table_header["NAXIS2"] = self.nrows
        new = self._table_header.tostring().encode("ascii")
        if len(new) != len(self._header_bytes):  # pragma: no cover - cards have fixed width
            raise RuntimeError(f"{self.path}: FITS header length changed while finalising")
        self._fh.seek(self._header_offset)
        self._fh.write(new)
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        if self._file != self.path:
            os.replace(self._file, self.path)
        return self.path

    def abort(self) -> None:
        """Close and remove the partial file."""
        with contextlib.suppress(Exception):
            self._fh.close()
        with contextlib.suppress(FileNotFoundError):
            self._file.unlink()


def _disk_dtype(dt: np.dtype) -> np.dtype:
    """On-disk dtype of a column: big-endian numbers, one byte ('T' / 'F') for a boolean."""
    dt = np.dtype(dt)
    if dt.kind == "b":
        return np.dtype("u1")
    return dt.newbyteorder(">")


@functools.lru_cache(maxsize=8)
def _table_header_template(dtype: np.dtype, units: tuple, extname: str | None):
    """The empty binary-table header of a dtype (built once per process: astropy's column machinery costs
    ~0.1 s per header); ``units`` are (name, unit or None) pairs. Callers copy it."""
    empty = np.zeros(0, dtype=dtype)
    cols = [fits.Column(name=name, format=_fits_format(dtype[name]), unit=unit, array=empty[name])
            for name, unit in units]
    return fits.BinTableHDU.from_columns(cols, name=extname).header


def _short_card(key: str, value, comment: str = ""):
    """A FITS card whose comment is shortened so that the card fits in 80 characters."""
    value_len = len(fits.Card(key, value).image.rstrip())
    room = max(80 - value_len - 3, 0)  # " / " separator
    return fits.Card(key, value, comment[:room] if room >= 12 else "")


def _fits_format(dt: np.dtype) -> str:
    dt = np.dtype(dt)
    if dt.kind == "S":
        return f"{dt.itemsize}A"
    key = dt.kind + str(dt.itemsize)
    if key not in FITS_FORMATS:
        raise TypeError(f"no FITS format for dtype {dt}")
    return FITS_FORMATS[key]


class _ParquetAppender:
    """A Parquet file written row group by row group: an empty file still gets its schema; fsync on close."""

    def __init__(self, path, fields: list, metadata: dict[str, str]):
        self.path = Path(path)
        self.schema = pa.schema(fields, metadata={k: v.encode() for k, v in metadata.items()})
        self._writer = pq.ParquetWriter(str(self.path), self.schema, compression="snappy")
        self.nrows = 0

    def close(self) -> None:
        if self.nrows == 0:  # an empty file still gets its schema
            self._writer.write_table(pa.Table.from_arrays(
                [pa.array([], type=f.type) for f in self.schema], schema=self.schema))
        self._writer.close()
        with open(self.path, "rb") as fh:
            os.fsync(fh.fileno())

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._writer.close()


class ParquetStreamWriter(_ParquetAppender):
    """Append structured-array chunks to a Parquet file as row groups (schema metadata attached)."""

    def __init__(self, path, dtype: np.dtype, metadata: dict[str, str]):
        super().__init__(path, [pa.field(n, pa.from_numpy_dtype(np.dtype(dtype[n]).newbyteorder("=")))
                                for n in dtype.names], metadata)

    def write(self, rows: np.ndarray) -> None:
        arrays = [pa.array(np.ascontiguousarray(rows[n]).astype(self.schema.field(n).type.to_pandas_dtype(),
                                                                  copy=False))
                  for n in self.schema.names]
        self._writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema))
        self.nrows += len(rows)


class RejectedRowsWriter(_ParquetAppender):
    """Append the rejected rows of a file (ROW, TARGETID, REASON) to a Parquet file, chunk by chunk."""

    def __init__(self, path, metadata: dict[str, str]):
        super().__init__(path, [pa.field("ROW", pa.int64()), pa.field("TARGETID", pa.int64()),
                                pa.field("REASON", pa.string())], metadata)

    def write(self, row: np.ndarray, targetid: np.ndarray, reason: np.ndarray) -> None:
        """Append rows: file row index, TARGETID and reason (strings) of each rejected row."""
        if len(row) == 0:
            return
        self._writer.write_table(pa.Table.from_arrays(
            [pa.array(np.asarray(row, np.int64)), pa.array(np.asarray(targetid, np.int64)),
             pa.array(np.asarray(reason, dtype=object), type=pa.string())], schema=self.schema))
        self.nrows += len(row)
