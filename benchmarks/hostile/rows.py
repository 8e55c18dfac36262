"""Hostile rows and columns (issue #17 items 5, 8, 9, 13), replayed through ``python -m dwarflib``.

A row that cannot be classified must be rejected under a named reason (printed by ``classify`` with the other
rejection reasons, rows read = rows preselected + rows rejected) and the rest of the file classified; a column
that cannot be used must stop the file with an error naming the file and the column; ``explain --targetid``
must find an object by its real DESI TARGETID.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from astropy.io import fits

from benchmarks.hostile_inputs import Case

N_ROWS = 5000
#: A real DESI TARGETID (DESI EDR BGS, rosette 3, first row of the project's copy).
REAL_DESI_TARGETID = 39633390185480938


def _rows(ctx):
    """The first N_ROWS rows of the shared sky's first sweep and the indices of the preselected ones."""
    from dwarflib import survey_io
    from dwarflib.pipeline import load_model

    t = survey_io.read_catalogue(ctx.sweeps()[0], flags=False)[:N_ROWS]
    mask = np.asarray(load_model(ctx.model_dir).preselection.apply(t).mask, bool)
    return t, np.flatnonzero(mask)


def _classify(ctx, path: Path, *extra: str):
    return ctx.cli("classify", ctx.model_dir, path, "--out", ctx.tmp / "out", "--all", "--workers", "1",
                   "--no-progress", *extra)


def _count(stdout: str, label: str) -> int:
    m = re.search(rf"^\s*-?\s*{re.escape(label)}\s*:?\s+([\d,]+)\s*$", stdout, re.M)
    if not m:
        raise AssertionError(f"no '{label}' line in the classify report:\n{stdout}")
    return int(m.group(1).replace(",", ""))


def _row_case(change, reason: str, n_bad: int = 1, chunk_rows: int | None = None):
    """A case: ``change(table, preselected_indices)`` makes ``n_bad`` bad rows; classify must reject them
    under ``reason``, classify the rest and keep the row accounting."""

    def check(ctx):
        from dwarflib import survey_io

        t, pre = _rows(ctx)
        t = change(t.copy(), pre)
        path = survey_io.write_sweep(t, ctx.tmp / "sweep-hostile.fits")
        r = _classify(ctx, path, *(("--chunk-rows", str(chunk_rows)) if chunk_rows else ()))
        assert r.returncode == 0, f"classify failed (rc {r.returncode}): {r.stderr[-800:]}"
        assert _count(r.stdout, reason) == n_bad, f"'{reason}' is not {n_bad} in:\n{r.stdout}"
        read, kept = _count(r.stdout, "rows read"), _count(r.stdout, "rows preselected")
        assert read == len(t), f"rows read {read} != {len(t)}"
        assert read == kept + _count(r.stdout, "rows rejected"), f"row accounting broken:\n{r.stdout}"
        assert kept == len(pre) - n_bad + (len(t) - N_ROWS), f"rows preselected {kept}, expected " \
                                                             f"{len(pre) - n_bad + len(t) - N_ROWS}"

    return check


def _set(col, value, k: int = 7):
    def change(t, pre):
        t[col][pre[k]] = value
        return t
    return change


def _duplicate(t, pre):
    from astropy.table import vstack

    return vstack([t, t[pre[3]:pre[3] + 1]])


def _column_case(change, column: str):
    """A case: the FITS columns are rewritten by ``change(columns, data)``; classify must fail naming the
    file and ``column`` (no Python traceback, no numpy message)."""

    def check(ctx):
        from dwarflib import survey_io

        t, _ = _rows(ctx)
        src = survey_io.write_sweep(t[:200], ctx.tmp / "sweep-src.fits")
        bad = ctx.tmp / "sweep-bad.fits"
        with fits.open(src) as h:
            fits.BinTableHDU.from_columns(change(list(h[1].columns), h[1].data)).writeto(bad)
        r = _classify(ctx, bad)
        assert r.returncode != 0, f"classify accepted the file:\n{r.stdout[-600:]}"
        assert "Traceback" not in r.stderr, r.stderr[-1500:]
        assert "sweep-bad.fits" in r.stderr and f"column {column}" in r.stderr, \
            f"error does not name file and column {column}: {r.stderr[-600:]}"

    return check


def _replace(name, make):
    def change(cols, data):
        return [make(data) if c.name == name else c for c in cols]
    return change


def _explain_real_targetid(ctx):
    from dwarflib import survey_io

    t, pre = _rows(ctx)
    t = t[pre[:20]].copy()
    tid = REAL_DESI_TARGETID  # desitarget layout: OBJID 0-21, BRICKID 22-41, RELEASE 42-57
    t["RELEASE"][0], t["BRICKID"][0], t["OBJID"][0] = (tid >> 42) & 0xFFFF, (tid >> 22) & 0xFFFFF, tid & 0x3FFFFF
    path = survey_io.write_sweep(t, ctx.tmp / "sweep-desi.fits")
    r = ctx.cli("explain", ctx.model_dir, path, "--targetid", str(tid))
    assert r.returncode == 0, f"explain did not find the DESI TARGETID (rc {r.returncode}): {r.stderr[-600:]}"
    assert f"TARGETID {tid}" in r.stdout, r.stdout[:600]
    r = _classify(ctx, path)
    assert r.returncode == 0, r.stderr[-600:]
    import pandas as pd

    ids = pd.concat([pd.read_parquet(p, columns=["TARGETID"]) for p in (ctx.tmp / "out").glob("*.parquet")])
    assert tid in set(ids["TARGETID"].tolist()), "the catalogue does not carry the DESI TARGETID"


CASES = [
    Case("rows-flux-g-1e-39-overflows-a-feature", "5", _row_case(_set("FLUX_G", 1e-39), "nonfinite_feature")),
    Case("rows-lower-case-dup", "9", _row_case(_set("TYPE", "dup"), "type")),
    Case("rows-unknown-type", "9", _row_case(_set("TYPE", "XYZ"), "unknown_type")),
    Case("rows-nan-ra", "9", _row_case(_set("RA", np.nan), "invalid_radec")),
    Case("rows-dec-out-of-range", "9", _row_case(_set("DEC", -91.0), "invalid_radec")),
    Case("rows-flux-3e38", "9", _row_case(_set("FLUX_R", 3e38), "absurd_flux")),
    Case("rows-duplicated-row", "9", _row_case(_duplicate, "duplicate_targetid")),
    Case("rows-duplicated-row-other-chunk", "9", _row_case(_duplicate, "duplicate_targetid", chunk_rows=1000)),
    Case("rows-objid-too-large", "9", _row_case(_set("OBJID", 2**22 + 1), "invalid_id")),
    Case("rows-brickid-too-large", "9", _row_case(_set("BRICKID", 2**20), "invalid_id")),
    Case("columns-logical-flux-r", "9", _column_case(
        _replace("FLUX_R", lambda d: fits.Column("FLUX_R", "L", array=d["FLUX_R"] > 1)), "FLUX_R")),
    Case("columns-flux-r-and-lower-case-flux-r", "9", _column_case(
        lambda cols, d: [*cols, fits.Column("flux_r", "E", array=np.asarray(d["FLUX_R"]) * 2)], "FLUX_R")),
    Case("columns-2d-shape-r", "13", _column_case(
        _replace("SHAPE_R", lambda d: fits.Column("SHAPE_R", "2E", array=np.stack([d["SHAPE_R"]] * 2, 1))),
        "SHAPE_R")),
    Case("targetid-real-desi-id-explain-and-catalogue", "8", _explain_real_targetid),
]
