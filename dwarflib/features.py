"""Catalogue table -> the model's feature matrix (named columns, named groups, one missing-value policy).

:func:`build_features` is the single function used by training, catalogue production and verification.
It reads DR9 column names (``FLUX_R``, ``MW_TRANSMISSION_R``, ``SHAPE_R``, ``FIBERFLUX_R``, ...), needs only
the columns of the requested groups (:func:`required_columns`) and is vectorised numpy (a few tens of ms per
group for 10^6 rows).

Feature groups (:data:`FEATURE_GROUPS`; every feature belongs to exactly one group)
---------------------------------------------------------------------------------------
Magnitudes are Galactic-extinction-corrected AB magnitudes, ``m_b = 22.5 - 2.5 log10(FLUX_b / MW_TRANSMISSION_b)``.

======================  ===============================================================================
group                   features
======================  ===============================================================================
``magnitudes``          ``g``, ``r``, ``z`` [mag]
``colours``             ``g_r`` = g - r, ``r_z`` = r - z [mag]
``wise``                ``w1``, ``w2`` [mag], ``z_w1`` = z - W1, ``w1_w2`` = W1 - W2 [mag]
``surface_brightness``  ``mu_eff_g``, ``mu_eff_r``, ``mu_eff_z`` = m_b + 2.5 log10(2 pi R^2) [mag/arcsec^2],
                        the mean surface brightness inside the half-light radius R = max(SHAPE_R, 0.1")
``fibre``               ``fib_g``, ``fib_r``, ``fib_z`` fibre magnitudes from FIBERFLUX_b [mag];
                        ``fibfrac_g``, ``fibfrac_r``, ``fibfrac_z`` = FIBERFLUX_b / FLUX_b
``shape``               ``shape_r`` = SHAPE_R [arcsec], ``log_shape_r`` = log10 max(SHAPE_R, 0.1") [dex],
                        ``ba`` = (1 - |e|) / (1 + |e|) with |e| = hypot(SHAPE_E1, SHAPE_E2), ``sersic``,
                        one-hot ``type_psf``, ``type_rex``, ``type_exp``, ``type_dev``, ``type_ser``
``snr``                 ``log_snr_b`` = log10(FLUX_b sqrt(FLUX_IVAR_b)) for b = g, r, z, W1, W2
======================  ===============================================================================

Why WISE is one group: the W1/W2 magnitudes and the colours that use them (z - W1, W1 - W2) come from a
different instrument with a different resolution (6 arcsec), depth and failure mode (no coverage,
``FLUX_IVAR_W* = 0``). Keeping the WISE magnitudes and colours in one group makes "drop WISE" a single
group ablation and keeps the missing-value pattern of a group uniform (only the S/N of W1/W2 sits with the
other S/N features in ``snr``). A colour model with WISE colours uses
``groups=["magnitudes", "colours", "wise"]``; all three work on the DESI EDR table (fluxes only).

The PSF size floor: unresolved (PSF) sources have ``SHAPE_R = 0``. Their surface brightness and log size
use :data:`SHAPE_R_FLOOR_ARCSEC` = 0.1 arcsec (well below the ~1 arcsec seeing and below nearly all radii
the Tractor fits to resolved galaxies): a point source is assigned the very high surface brightness of a
0.1-arcsec disc, which is what it is to the survey (a compact source), rather than a missing value; the
``type_psf`` column tells the model which rows carry the floor.
``shape_r`` itself keeps the catalogue value (0 for PSF). TYPE values outside the one-hot list (DUP, and the
pre-DR9 COMP/SIMP) give all-zero one-hot columns.

Missing-value policy
--------------------
A feature is **NaN exactly where the quantity is undefined**, and is never imputed here (models impute or
handle NaN themselves, e.g. :mod:`dwarflib.models`):

* a magnitude (and every colour, fibre ratio, surface brightness using it) is NaN where that band's
  ``FLUX`` is not positive or not finite, where ``FLUX_IVAR = 0`` (no data; only checked when the
  ``FLUX_IVAR`` column is present), or where ``MW_TRANSMISSION`` is not in (0, 1];
* a fibre magnitude is NaN where ``FIBERFLUX <= 0`` or not finite (or the band has no data);
* ``log_snr_b`` is NaN where ``FLUX_IVAR_b = 0`` or the S/N is not positive;
* shape features are NaN only where ``SHAPE_R`` (or ``SHAPE_E1/E2``, ``SERSIC``) is negative or not finite
  (``ba`` also where |e| >= 1, which the Tractor never produces);
* masked entries of an astropy ``MaskedColumn`` count as NaN.

For well-measured optical photometry the only NaN are therefore in the WISE-derived features (group
``wise`` and ``log_snr_w1``, ``log_snr_w2``): faint sources have non-positive W1/W2 fluxes, and
``FLUX_IVAR_W* = 0`` where WISE did not cover the source. Every feature is float64.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from dwarflib import datamodel
from dwarflib.conventions import ab_magnitude, mean_surface_brightness
from dwarflib.survey_io import MissingColumnError

__all__ = [
    "FEATURE_GROUPS",
    "GROUP_COLUMNS",
    "SHAPE_R_FLOOR_ARCSEC",
    "ONE_HOT_TYPES",
    "build_features",
    "feature_array",
    "feature_names",
    "group_of",
    "required_columns",
]

#: Radius [arcsec] used for surface brightness and log size where SHAPE_R is below it (PSF: SHAPE_R = 0).
SHAPE_R_FLOOR_ARCSEC: float = 0.1

#: Tractor types with a one-hot column (``type_psf`` ...); other values give all zeros.
ONE_HOT_TYPES: tuple[str, ...] = ("PSF", "REX", "EXP", "DEV", "SER")

_OPT = ("g", "r", "z")

#: Feature group -> feature names (in output order).
FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "magnitudes": ("g", "r", "z"),
    "colours": ("g_r", "r_z"),
    "wise": ("w1", "w2", "z_w1", "w1_w2"),
    "surface_brightness": tuple(f"mu_eff_{b}" for b in _OPT),
    "fibre": tuple(f"fib_{b}" for b in _OPT) + tuple(f"fibfrac_{b}" for b in _OPT),
    "shape": ("shape_r", "log_shape_r", "ba", "sersic") + tuple(f"type_{t.lower()}" for t in ONE_HOT_TYPES),
    "snr": tuple(f"log_snr_{b}" for b in (*_OPT, "w1", "w2")),
}


def _bandcols(bands):
    cols = []
    for b in bands:
        cols += [f"FLUX_{b}", f"MW_TRANSMISSION_{b}"]
    return cols


#: Group -> DR9 columns it requires. ``FLUX_IVAR_*`` are used when present (no-data masking) but only the
#: ``snr`` group requires them (the DESI EDR table has fluxes only and supports every other flux group).
GROUP_COLUMNS: dict[str, tuple[str, ...]] = {
    "magnitudes": tuple(_bandcols("GRZ")),
    "colours": tuple(_bandcols("GRZ")),
    "wise": tuple(_bandcols(("Z", "W1", "W2"))),
    "surface_brightness": tuple(_bandcols("GRZ")) + ("SHAPE_R",),
    "fibre": tuple(_bandcols("GRZ")) + ("FIBERFLUX_G", "FIBERFLUX_R", "FIBERFLUX_Z"),
    "shape": ("SHAPE_R", "SHAPE_E1", "SHAPE_E2", "SERSIC", "TYPE"),
    "snr": tuple(f"FLUX_{b}" for b in datamodel.BANDS) + tuple(f"FLUX_IVAR_{b}" for b in datamodel.BANDS),
}


def _groups(groups) -> list[str]:
    if groups is None:
        return list(FEATURE_GROUPS)
    if isinstance(groups, str):
        groups = [groups]
    groups = list(dict.fromkeys(groups))
    unknown = [g for g in groups if g not in FEATURE_GROUPS]
    if unknown:
        raise ValueError(f"unknown feature group(s) {unknown}; known: {list(FEATURE_GROUPS)}")
    return groups


def feature_names(groups: Iterable[str] | None = None) -> list[str]:
    """Feature names produced by :func:`build_features` for ``groups`` (default: all), in output order."""
    return [f for g in _groups(groups) for f in FEATURE_GROUPS[g]]


def group_of(feature: str) -> str:
    """The group a feature belongs to."""
    for g, names in FEATURE_GROUPS.items():
        if feature in names:
            return g
    raise KeyError(f"{feature!r} is not a dwarflib feature")


def required_columns(groups: Iterable[str] | None = None) -> list[str]:
    """DR9 columns that :func:`build_features` needs for ``groups`` (default: all)."""
    cols: list[str] = []
    for g in _groups(groups):
        for c in GROUP_COLUMNS[g]:
            if c not in cols:
                cols.append(c)
    return cols


class _Columns:
    """Cached float64 access to the columns of an astropy Table or a DataFrame (case-insensitive)."""

    def __init__(self, table):
        self.table = table
        names = table.colnames if hasattr(table, "colnames") else list(table.columns)
        self.names = {str(n).upper(): n for n in names}
        self.cache: dict[str, np.ndarray] = {}
        self.n = len(table)

    def has(self, name: str) -> bool:
        return name in self.names

    def raw(self, name: str) -> np.ndarray:
        col = self.table[self.names[name]]
        if isinstance(col, np.ma.MaskedArray) and col.dtype.kind in "fiu":
            return np.asarray(col.astype(np.float64).filled(np.nan))  # masked -> NaN (undefined)
        return np.asarray(col)

    def f(self, name: str) -> np.ndarray:
        if name not in self.cache:
            self.cache[name] = np.asarray(self.raw(name), dtype=np.float64)
        return self.cache[name]


def _mag(c: _Columns, band: str, cache: dict) -> np.ndarray:
    """Dereddened magnitude of ``band`` with the missing-value policy applied."""
    if band not in cache:
        flux = c.f(f"FLUX_{band}")
        trans = c.f(f"MW_TRANSMISSION_{band}")
        ok = np.isfinite(flux) & (flux > 0) & np.isfinite(trans) & (trans > 0) & (trans <= 1)
        if c.has(f"FLUX_IVAR_{band}"):
            ok &= c.f(f"FLUX_IVAR_{band}") > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            m = ab_magnitude(flux, trans)
        m[~ok] = np.nan
        cache[band] = m
    return cache[band]


def _log_snr(c: _Columns, band: str) -> np.ndarray:
    flux, ivar = c.f(f"FLUX_{band}"), c.f(f"FLUX_IVAR_{band}")
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = flux * np.sqrt(ivar)
        out = np.log10(snr)
    out[~(np.isfinite(snr) & (snr > 0) & (ivar > 0))] = np.nan
    return out


def _radius(c: _Columns) -> np.ndarray:
    """SHAPE_R floored at SHAPE_R_FLOOR_ARCSEC; NaN where SHAPE_R is negative or not finite."""
    r = c.f("SHAPE_R")
    out = np.maximum(r, SHAPE_R_FLOOR_ARCSEC)
    out[~(np.isfinite(r) & (r >= 0))] = np.nan
    return out


def _type_is(c: _Columns) -> dict[str, np.ndarray]:
    """Boolean mask per one-hot TYPE (FITS padding stripped, upper-cased: ``rex`` is REX)."""
    t = datamodel.normalised_types(c.raw("TYPE"))
    return {ty: t == ty for ty in ONE_HOT_TYPES}


def build_features(table, groups: Sequence[str] | str | None = None) -> pd.DataFrame:
    """The feature matrix of ``table`` (astropy Table or DataFrame with DR9 column names).

    Parameters
    ----------
    table : astropy.table.Table or pandas.DataFrame
        One row per object; only :func:`required_columns` of ``groups`` must be present.
    groups : sequence of str, optional
        Feature groups (keys of :data:`FEATURE_GROUPS`), default all, in the order given.

    Returns
    -------
    pandas.DataFrame
        float64 columns named as in :data:`FEATURE_GROUPS`, one row per input row (same order, RangeIndex),
        NaN only as the module's missing-value policy says.

    Raises
    ------
    MissingColumnError
        A column needed by a requested group is absent (the message names columns and groups).
    """
    groups = _groups(groups)
    names = feature_names(groups)
    matrix = feature_array(table, groups, names, dtype=np.float64, order="F")
    return pd.DataFrame(matrix, columns=names, index=pd.RangeIndex(len(matrix)), copy=False)


def feature_array(table, groups: Sequence[str] | str | None = None, names: Sequence[str] | None = None,
                  dtype=np.float32, order: str = "C") -> np.ndarray:
    """The features of :func:`build_features` as one array (n_rows, len(names)), without a DataFrame.

    ``names`` (default: every feature of ``groups``, in order) selects and orders the columns; each value
    is computed in float64 exactly as in :func:`build_features` and then cast to ``dtype``, so
    ``feature_array(t, g, names, np.float32)`` equals ``build_features(t, g)[names].to_numpy(np.float32)``
    bit for bit. Used by catalogue production (no pandas overhead per chunk).

    Raises
    ------
    MissingColumnError
        As :func:`build_features`; ``KeyError`` for a name not produced by ``groups``.
    """
    groups = _groups(groups)
    c = _Columns(table)
    missing = {g: [col for col in GROUP_COLUMNS[g] if not c.has(col)] for g in groups}
    missing = {g: cols for g, cols in missing.items() if cols}
    if missing:
        where = getattr(table, "meta", {}).get("FILENAME", "<table>") if hasattr(table, "meta") else "<table>"
        detail = "; ".join(f"group {g!r} needs {cols}" for g, cols in missing.items())
        raise MissingColumnError(f"{where}: missing column(s) for the requested features: {detail}")

    mags: dict = {}
    out: dict[str, np.ndarray] = {}
    for g in groups:
        if g == "magnitudes":
            for b in _OPT:
                out[b] = _mag(c, b.upper(), mags)
        elif g == "colours":
            out["g_r"] = _mag(c, "G", mags) - _mag(c, "R", mags)
            out["r_z"] = _mag(c, "R", mags) - _mag(c, "Z", mags)
        elif g == "wise":
            w1, w2, z = _mag(c, "W1", mags), _mag(c, "W2", mags), _mag(c, "Z", mags)
            out["w1"], out["w2"] = w1, w2
            out["z_w1"], out["w1_w2"] = z - w1, w1 - w2
        elif g == "surface_brightness":
            radius = _radius(c)
            for b in _OPT:
                out[f"mu_eff_{b}"] = mean_surface_brightness(_mag(c, b.upper(), mags), radius)
        elif g == "fibre":
            for b in _OPT:
                B = b.upper()
                fib, flux, trans = c.f(f"FIBERFLUX_{B}"), c.f(f"FLUX_{B}"), c.f(f"MW_TRANSMISSION_{B}")
                total_ok = np.isfinite(_mag(c, B, mags))  # band measured, flux > 0
                ok = total_ok & np.isfinite(fib) & (fib > 0)
                with np.errstate(divide="ignore", invalid="ignore"):
                    fmag = ab_magnitude(fib, trans)
                    frac = fib / flux
                fmag[~ok] = np.nan
                frac[~(total_ok & np.isfinite(fib))] = np.nan
                out[f"fib_{b}"] = fmag
                out[f"fibfrac_{b}"] = frac
        elif g == "shape":
            r = c.f("SHAPE_R")
            rr = _radius(c)
            out["shape_r"] = np.where(np.isfinite(rr), r, np.nan)
            out["log_shape_r"] = np.log10(rr)
            e1, e2 = c.f("SHAPE_E1"), c.f("SHAPE_E2")
            e = np.hypot(e1, e2)
            ba = (1.0 - e) / (1.0 + e)
            ba[~np.isfinite(e) | (e >= 1)] = np.nan
            out["ba"] = ba
            sersic = c.f("SERSIC").copy()
            sersic[~(np.isfinite(sersic) & (sersic >= 0))] = np.nan
            out["sersic"] = sersic
            for ty, is_ty in _type_is(c).items():
                out[f"type_{ty.lower()}"] = is_ty.astype(np.float64)
        elif g == "snr":
            for b in (*_OPT, "w1", "w2"):
                out[f"log_snr_{b}"] = _log_snr(c, b.upper())
    produced = feature_names(groups)
    names = produced if names is None else list(names)
    unknown = [k for k in names if k not in out]
    if unknown:
        raise KeyError(f"feature(s) {unknown} are not produced by the groups {groups}")
    # one block; Fortran order gives contiguous column writes (and pandas stores it without a copy)
    matrix = np.empty((c.n, len(names)), dtype=dtype, order=order)
    for j, k in enumerate(names):
        matrix[:, j] = out[k]
    return matrix

