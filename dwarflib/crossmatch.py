"""One-to-one positional cross-match of two catalogues (astropy coordinates), and ``dwarflib crossmatch``.

:func:`crossmatch` pairs each row of a first catalogue with at most one row of a second one, and each row
of the second with at most one of the first:

1. all pairs closer than ``radius_arcsec`` are found (:func:`astropy.coordinates.search_around_sky`);
2. pairs are taken closest first; a pair is accepted when neither of its rows is already matched;
3. **flux tie-break**: pairs whose separations differ by at most ``tie_arcsec`` count as equally near; among
   them the pair with the smaller magnitude difference |mag1 - mag2| goes first (when magnitudes are given).

Each first-catalogue row gets ``index`` (row of the second catalogue, -1 if none), ``sep_arcsec`` (of the
match, or to the nearest neighbour at any distance when unmatched; inf when catalogue 2 is empty), ``matched`` and
``status``: ``matched``, ``no_counterpart_within_radius``, or ``counterpart_taken`` (every neighbour within
the radius was matched to a nearer or better-matching row). Rows in = matched + unmatched with a reason.

Without magnitudes and with ``tie_arcsec = 0`` the result equals the nearest neighbour within the radius
wherever no two rows share a nearest neighbour (then one-to-one and nearest coincide);
:func:`dwarflib.verification.match_by_position` is this function.
"""

from __future__ import annotations

import sys
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord, search_around_sky
from astropy.table import Table

from dwarflib.catalogue_files import load_catalogue
from dwarflib.survey_io import flux_to_mag

#: Default separation within which two candidates count as equally near [arcsec]: well below the 0.262
#: arcsec pixel, about the astrometric scatter of faint Legacy Surveys sources.
DEFAULT_TIE_ARCSEC = 0.1

#: Values of the ``status`` column.
MATCH_STATUS = ("matched", "no_counterpart_within_radius", "counterpart_taken")


def _coords(ra, dec, what: str) -> SkyCoord:
    ra = np.asarray(ra, float)
    dec = np.asarray(dec, float)
    if ra.shape != dec.shape or ra.ndim != 1:
        raise ValueError(f"{what}: RA and DEC must be 1-d arrays of the same length")
    bad = ~(np.isfinite(ra) & np.isfinite(dec) & (np.abs(dec) <= 90))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{what}: row {i} has an invalid position (RA {ra[i]}, DEC {dec[i]} deg); "
                         f"{int(bad.sum())} such rows")
    return SkyCoord(ra * u.deg, dec * u.deg)


def crossmatch(ra1, dec1, ra2, dec2, radius_arcsec: float, mag1=None, mag2=None,
               tie_arcsec: float = DEFAULT_TIE_ARCSEC) -> pd.DataFrame:
    """One-to-one match of catalogue 1 (ra1, dec1) [deg] to catalogue 2 (ra2, dec2) [deg] (module docstring).

    Parameters
    ----------
    radius_arcsec : float
        Largest separation of a match [arcsec], > 0.
    mag1, mag2 : array_like, optional
        Magnitudes [mag] (or any log-flux) for the tie-break; both or neither. NaN counts as the worst match.
    tie_arcsec : float
        Separations within this [arcsec] of the nearest open pair are ties (decided by magnitude).

    Returns
    -------
    DataFrame, one row per catalogue-1 row: ``index``, ``sep_arcsec``, ``matched``, ``status``, ``dmag``.
    """
    if not radius_arcsec > 0:
        raise ValueError(f"radius must be > 0 arcsec, got {radius_arcsec}")
    if tie_arcsec < 0:
        raise ValueError(f"tie_arcsec must be >= 0, got {tie_arcsec}")
    if (mag1 is None) != (mag2 is None):
        raise ValueError("give magnitudes for both catalogues or for neither")
    c1 = _coords(ra1, dec1, "catalogue 1")
    c2 = _coords(ra2, dec2, "catalogue 2")
    n1 = len(c1)
    index = np.full(n1, -1, np.int64)
    sep_out = np.full(n1, np.inf)
    dmag_out = np.full(n1, np.nan)
    if n1 and len(c2):
        i1, i2, sep, _ = search_around_sky(c1, c2, radius_arcsec * u.arcsec)
        sep = sep.to_value(u.arcsec)
    else:
        i1 = i2 = np.zeros(0, np.int64)
        sep = np.zeros(0)
    if mag1 is not None:
        m1 = np.asarray(mag1, float)
        m2 = np.asarray(mag2, float)
        if len(m1) != n1 or len(m2) != len(c2):
            raise ValueError("magnitude arrays must have one value per catalogue row")
        dmag = np.abs(m1[i1] - m2[i2])
        dmag = np.where(np.isfinite(dmag), dmag, np.inf)
    else:
        dmag = np.zeros(len(sep))
    np.minimum.at(sep_out, i1, sep)  # nearest neighbour within the radius (for the unmatched)
    order = np.lexsort((i2, i1, dmag, sep))  # by separation; equal ones by dmag, then by row
    i1, i2, sep, dmag = i1[order], i2[order], sep[order], dmag[order]
    # fast path: pairs whose two rows appear in no other pair are matches whatever the order
    c_1 = np.bincount(i1, minlength=n1)
    c_2 = np.bincount(i2, minlength=len(c2))
    alone = (c_1[i1] == 1) & (c_2[i2] == 1)
    index[i1[alone]] = i2[alone]
    sep_out[i1[alone]] = sep[alone]
    dmag_out[i1[alone]] = dmag[alone] if mag1 is not None else np.nan
    rest = np.flatnonzero(~alone)
    taken1 = np.zeros(n1, bool)
    taken2 = np.zeros(len(c2), bool)
    pos = 0
    while pos < len(rest):
        k = rest[pos]
        if taken1[i1[k]] or taken2[i2[k]]:
            pos += 1
            continue
        best = k
        if tie_arcsec > 0 and mag1 is not None:  # the best-matching open pair among the ties
            j = pos + 1
            while j < len(rest) and sep[rest[j]] - sep[k] <= tie_arcsec:
                kk = rest[j]
                if not (taken1[i1[kk]] or taken2[i2[kk]]) and dmag[kk] < dmag[best]:
                    best = kk
                j += 1
        taken1[i1[best]] = taken2[i2[best]] = True
        index[i1[best]] = i2[best]
        sep_out[i1[best]] = sep[best]
        if mag1 is not None:
            dmag_out[i1[best]] = dmag[best]
        if best == k:
            pos += 1
    matched = index >= 0
    status = np.where(matched, MATCH_STATUS[0],
                      np.where(np.isfinite(sep_out), MATCH_STATUS[2], MATCH_STATUS[1]))
    if (~matched).any() and len(c2):  # unmatched rows: separation to the nearest neighbour at any distance
        _, nn_sep, _ = c1[~matched].match_to_catalog_sky(c2)
        sep_out[~matched] = nn_sep.to_value(u.arcsec)
    return pd.DataFrame({"index": index, "sep_arcsec": sep_out, "matched": matched, "status": status,
                         "dmag": dmag_out})


# ---------------------------------------------------------------------------------------------------
# tables and the command line
# ---------------------------------------------------------------------------------------------------
RA_NAMES = ("RA", "ra", "RAdeg", "RA_deg", "ra_deg", "RAJ2000", "_RAJ2000", "TARGET_RA")
DEC_NAMES = ("DEC", "dec", "Dec", "DEdeg", "DEC_deg", "dec_deg", "DEJ2000", "_DEJ2000", "TARGET_DEC")


def read_table(path) -> pd.DataFrame:
    """A catalogue as a DataFrame: a ``dwarflib classify`` output folder (its manifest's Parquet files,
    :func:`dwarflib.catalogue_files.load_catalogue`), or a Parquet, CSV, FITS, ECSV or VOTable file."""
    p = Path(path)
    if p.is_dir():
        return load_catalogue(p)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such catalogue file or folder")
    suffix = "".join(p.suffixes[-2:]).lower() if p.suffix.lower() == ".gz" else p.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(p)
    if suffix == ".csv":
        return pd.read_csv(p)
    fmt = {".fits": "fits", ".fit": "fits", ".fits.gz": "fits", ".ecsv": "ascii.ecsv", ".xml": "votable",
           ".vot": "votable"}.get(suffix)
    if fmt is None:
        raise ValueError(f"{p}: unknown table format {suffix!r} (use .parquet, .csv, .fits, .ecsv or .vot)")
    t = Table.read(p, format=fmt)
    t = Table([t[c] for c in t.colnames if t[c].ndim == 1], copy=False)  # vector columns do not fit a DataFrame
    return t.to_pandas()


def find_column(df: pd.DataFrame, given: str | None, candidates, what: str, path) -> str:
    """``given`` if it is a column of ``df``, else the first of ``candidates`` present; errors name the file."""
    if given is not None:
        if given not in df.columns:
            raise KeyError(f"{path}: no column {given!r} ({what})")
        return given
    for c in candidates:
        if c in df.columns:
            return c
    raise KeyError(f"{path}: no {what} column found (tried {list(candidates)}); name it with an option")


def _magnitudes(df: pd.DataFrame, col: str | None) -> np.ndarray | None:
    """Magnitudes from column ``col``: a FLUX_* column [nanomaggies] is converted, anything else is taken
    as a magnitude."""
    if col is None:
        return None
    v = df[col].to_numpy(float)
    return flux_to_mag(v) if col.upper().startswith("FLUX_") else v


def crossmatch_tables(catalogue: pd.DataFrame, external: pd.DataFrame, radius_arcsec: float,
                      cat_cols=(None, None, None), ext_cols=(None, None, None),
                      tie_arcsec: float = DEFAULT_TIE_ARCSEC, paths=("catalogue", "external")) -> pd.DataFrame:
    """One row per ``external`` row: its columns, then ``MATCH_STATUS``, ``SEP_ARCSEC``, ``DMAG``,
    ``CAT_INDEX`` and the matched catalogue row's columns (prefixed ``CAT_``; empty where unmatched).

    ``cat_cols`` / ``ext_cols``: (ra, dec, magnitude-or-FLUX column) names, None to detect RA/DEC and to
    skip the tie-break.
    """
    ra_c = find_column(catalogue, cat_cols[0], RA_NAMES, "RA", paths[0])
    dec_c = find_column(catalogue, cat_cols[1], DEC_NAMES, "DEC", paths[0])
    ra_e = find_column(external, ext_cols[0], RA_NAMES, "RA", paths[1])
    dec_e = find_column(external, ext_cols[1], DEC_NAMES, "DEC", paths[1])
    mag_c = find_column(catalogue, cat_cols[2], (), "magnitude", paths[0]) if cat_cols[2] else None
    mag_e = find_column(external, ext_cols[2], (), "magnitude", paths[1]) if ext_cols[2] else None
    if (mag_c is None) != (mag_e is None):
        raise ValueError("the flux tie-break needs a magnitude/flux column in both tables")
    m = crossmatch(external[ra_e], external[dec_e], catalogue[ra_c], catalogue[dec_c], radius_arcsec,
                   mag1=_magnitudes(external, mag_e), mag2=_magnitudes(catalogue, mag_c), tie_arcsec=tie_arcsec)
    out = external.reset_index(drop=True).copy()
    out["MATCH_STATUS"] = m["status"].to_numpy()
    out["SEP_ARCSEC"] = m["sep_arcsec"].to_numpy()
    out["DMAG"] = m["dmag"].to_numpy()
    out["CAT_INDEX"] = m["index"].to_numpy()
    idx = m["index"].to_numpy()
    cat = catalogue.reset_index(drop=True)
    nullable = {c: ("Int64" if cat[c].dtype.kind in "iu" else "boolean") for c in cat.columns
                if cat[c].dtype.kind in "iub"}
    part = cat.astype(nullable).reindex(pd.Index(idx)).reset_index(drop=True)  # -1 (unmatched): empty row
    part.columns = [f"CAT_{c}" for c in cat.columns]
    out = pd.concat([out, part], axis=1)
    return out


def write_table(df: pd.DataFrame, path) -> Path:
    """Write ``df`` as Parquet, CSV or FITS by the file name's extension."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        df.to_parquet(p, index=False)
    elif suffix == ".csv":
        df.to_csv(p, index=False)
    elif suffix in (".fits", ".fit"):
        Table.from_pandas(df).write(p, overwrite=True)
    else:
        raise ValueError(f"{p}: output must end in .parquet, .csv or .fits")
    return p


def add_cli(subparsers) -> None:
    p = subparsers.add_parser(
        "crossmatch", help="one-to-one positional match of a catalogue and an external table",
        description="Match each row of EXTERNAL to at most one row of CATALOGUE (and vice versa) within "
                    "--radius arcsec: nearest first, separations within --tie-arcsec decided by the closer "
                    "magnitude (--cat-mag/--ext-mag). Writes one row per EXTERNAL row with MATCH_STATUS, "
                    "SEP_ARCSEC and the matched catalogue columns (CAT_*).")
    p.add_argument("catalogue", metavar="CATALOGUE",
                   help="a `dwarflib classify` output folder, or a .parquet/.csv/.fits/.ecsv table")
    p.add_argument("external", metavar="EXTERNAL", help="the external table (.parquet/.csv/.fits/.ecsv/.vot)")
    p.add_argument("--radius", type=float, required=True, metavar="ARCSEC", help="match radius [arcsec]")
    p.add_argument("--out", required=True, help="output table (.parquet, .csv or .fits)")
    p.add_argument("--tie-arcsec", type=float, default=DEFAULT_TIE_ARCSEC,
                   help=f"separations this close count as ties [arcsec] (default {DEFAULT_TIE_ARCSEC})")
    p.add_argument("--cat-ra", default=None, help="catalogue RA column [deg] (default: detected)")
    p.add_argument("--cat-dec", default=None, help="catalogue DEC column [deg] (default: detected)")
    p.add_argument("--cat-mag", default=None,
                   help="catalogue magnitude column, or a FLUX_* column [nanomaggies], for the tie-break")
    p.add_argument("--ext-ra", default=None, help="external RA column [deg] (default: detected)")
    p.add_argument("--ext-dec", default=None, help="external DEC column [deg] (default: detected)")
    p.add_argument("--ext-mag", default=None, help="external magnitude (or FLUX_*) column for the tie-break")
    p.set_defaults(func=_cli_crossmatch)


def _cli_crossmatch(args) -> int:
    try:
        cat = read_table(args.catalogue)
        ext = read_table(args.external)
        out = crossmatch_tables(cat, ext, args.radius, (args.cat_ra, args.cat_dec, args.cat_mag),
                                (args.ext_ra, args.ext_dec, args.ext_mag), tie_arcsec=args.tie_arcsec,
                                paths=(args.catalogue, args.external))
        write_table(out, args.out)
    except (FileNotFoundError, ValueError, KeyError, OSError) as exc:
        print(f"dwarflib crossmatch: error: {exc}", file=sys.stderr)
        return 1
    counts = out["MATCH_STATUS"].value_counts()
    print(f"external rows: {len(out):,d}; catalogue rows: {len(cat):,d}; radius {args.radius} arcsec")
    for s in MATCH_STATUS:
        print(f"  {s:<30s} {int(counts.get(s, 0)):>10,d}")
    print(f"written: {args.out}")
    return 0
