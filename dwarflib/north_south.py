"""North/south resolution of the Legacy Surveys overlap (DR9, and DR10 south files).

DR9 has two photometric systems: the north (BASS g,r + MzLS z; RELEASE 9011) and the south (DECaLS and
DES, DECam; RELEASE 9010, and 9012 for the DECam re-reductions). Their sweeps overlap around
Dec 32.4 deg in the north Galactic cap, so an object there appears in both. :func:`resolve_north_south`
applies the rule of the DESI target selection (``desitarget.targets.resolve``, Myers et al. 2023,
section 4.1.3) and SAGA: an object is kept from the **north** when its RELEASE is a north release and it
lies in the north area, Dec > :data:`RESOLVE_DEC` (32.375 deg) and Galactic latitude b > 0 (north
Galactic cap); an object is kept from the **south** when its RELEASE is a south release and it lies
outside that area. Every other row is a duplicate (or an object of the wrong system for its position)
and gets a reason (:data:`RESOLVE_REASONS`); nothing is dropped silently.

Differences from desitarget, both on sets of zero area: desitarget tests Dec >= 32.375 and finds the
Galactic cap per ~1 deg^2 HEALPix pixel; here the Dec test is strict (as in the simulated sky,
:data:`dwarflib.sky.observe.NORTH_DEC`) and b is computed per object with astropy.

In ``dwarflib classify`` the rule is applied by default (:func:`dwarflib.catalogue.classify_table`): a row
the rule does not keep is rejected with its reason (a key of :data:`RESOLVE_REASONS`), counted and listed in
the per-input rejected-row file like every other rejection; ``classify --no-resolve-north-south`` turns it
off (e.g. to compare the two photometric systems in the overlap). The rule is applied to the rows the model
kept, so a row that fails a row check or a preselection cut keeps that reason. There a row whose RELEASE is
neither north nor south cannot be resolved and is rejected as ``UNKNOWN_RELEASE``
(``unknown_release="reject"``); the plain function raises instead.

DR10 (:data:`DR10_SOUTH_RELEASES`) reprocessed only the DECam (south) area, Dec <= 32.375 deg; its
files are south photometry and resolve like DR9 south files (the DR9 north sweeps complete the north).
"""

from __future__ import annotations

from collections import Counter

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord

from dwarflib.sky.observe import NORTH_DEC

#: Dec boundary of the north area [deg] (desitarget's ``desitarget_resolve_dec``; the simulated sky's split).
RESOLVE_DEC: float = NORTH_DEC

#: RELEASE values of the north (BASS/MzLS) and south (DECam) photometric systems (desitarget.io.releasedict).
NORTH_RELEASES: frozenset[int] = frozenset({4000, 6000, 8001, 9001, 9003, 9005, 9007, 9009, 9011, 9013})
#: DR10 RELEASE values: DECam (south) only, g, r, i, z (the Legacy Surveys' "Mapping RELEASE to camera and
#: filters" page, https://www.legacysurvey.org/release/, DR10 table: 9999/10000/10300; that page itself marks
#: 10300 as "needs checked for veracity"). DR10 has no north processing.
DR10_SOUTH_RELEASES: frozenset[int] = frozenset({9999, 10000, 10300})
SOUTH_RELEASES: frozenset[int] = frozenset({3000, 5000, 7000, 7999, 8000, 9000, 9002, 9004, 9006, 9008,
                                            9010, 9012}) | DR10_SOUTH_RELEASES

#: Reasons a row is not kept by :func:`resolve_north_south`.
RESOLVE_REASONS: dict[str, str] = {
    "NORTH_OUTSIDE_NORTH_AREA": "north photometry (RELEASE) outside Dec > 32.375 deg in the north Galactic cap: "
                                "the south sweep has this object",
    "SOUTH_INSIDE_NORTH_AREA": "south photometry (RELEASE) at Dec > 32.375 deg in the north Galactic cap: "
                               "the north sweep has this object",
    "UNKNOWN_RELEASE": "RELEASE is neither a north nor a south Legacy Surveys release: the row cannot be resolved "
                       "(classify --no-resolve-north-south keeps it)",
}


def _column(table, name: str) -> np.ndarray:
    try:
        return np.asarray(table[name])
    except (KeyError, ValueError) as exc:
        raise KeyError(f"column {name} is missing (needed for the north/south resolution)") from exc


def is_north_release(release) -> np.ndarray:
    """True where RELEASE is a north (BASS/MzLS) release, False for a south (DECam) one.

    Raises ValueError naming the unknown values and the first row holding one: an unknown release
    cannot be resolved (desitarget raises too).
    """
    release = np.asarray(release).astype(np.int64)
    north = np.isin(release, sorted(NORTH_RELEASES))
    known = north | np.isin(release, sorted(SOUTH_RELEASES))
    if not known.all():
        bad = np.flatnonzero(~known)
        raise ValueError(f"RELEASE {sorted(set(release[bad].tolist()))[:10]} is neither a north nor a south "
                         f"Legacy Surveys release (first at row {int(bad[0])}, {len(bad)} rows)")
    return north


def in_north_area(ra, dec) -> np.ndarray:
    """True where (ra, dec) [deg, ICRS] lies in the north area: Dec > 32.375 deg and Galactic b > 0."""
    ra = np.asarray(ra, float)
    dec = np.asarray(dec, float)
    out = dec > RESOLVE_DEC
    if out.any():
        idx = np.flatnonzero(out)
        b = SkyCoord(ra[idx] * u.deg, dec[idx] * u.deg).galactic.b.deg
        out[idx] = b > 0
    return out


def resolve_north_south(table, unknown_release: str = "raise") -> tuple[np.ndarray, np.ndarray]:
    """Which rows to keep in the north/south overlap (the rule in the module docstring).

    Parameters
    ----------
    table : astropy Table, pandas DataFrame or mapping of arrays
        Needs RELEASE, RA and DEC [deg].
    unknown_release : {"raise", "reject"}
        A RELEASE that is neither north nor south raises ValueError (naming the values and the first row),
        or, with "reject", is not kept, with reason ``UNKNOWN_RELEASE``.

    Returns
    -------
    keep : ndarray of bool
    reason : ndarray of str
        ``''`` where kept, else a key of :data:`RESOLVE_REASONS`. ``len(table) == keep.sum() + (reason != '').sum()``.
    """
    if unknown_release not in ("raise", "reject"):
        raise ValueError(f"unknown_release must be 'raise' or 'reject', not {unknown_release!r}")
    release = np.asarray(_column(table, "RELEASE")).astype(np.int64)
    known = np.isin(release, sorted(NORTH_RELEASES | SOUTH_RELEASES))
    if unknown_release == "reject":
        release = np.where(known, release, min(SOUTH_RELEASES))  # resolved below, then rejected
    north = is_north_release(release)
    area = in_north_area(_column(table, "RA"), _column(table, "DEC"))
    keep = (north == area) & known
    reason = np.full(len(keep), "", dtype=object)
    reason[north & ~area] = "NORTH_OUTSIDE_NORTH_AREA"
    reason[~north & area] = "SOUTH_INSIDE_NORTH_AREA"
    reason[~known] = "UNKNOWN_RELEASE"
    return keep, reason.astype(str)


def resolve_counts(reason) -> dict[str, int]:
    """Rows kept and rejected per reason, from the ``reason`` of :func:`resolve_north_south`."""
    c = Counter(np.asarray(reason).tolist())
    return {"kept": int(c.pop("", 0)), **{k: int(v) for k, v in sorted(c.items())}}


def resolve_kept(arrays, kept, why, X, proba, flags):
    """The outputs of ``apply_chunk`` with the north/south resolution applied to its kept rows: a kept row
    the rule does not keep gets the rule's reason and leaves ``X``, ``proba`` and ``flags``."""
    idx = np.flatnonzero(kept)
    if len(idx) == 0:
        return kept, why, X, proba, flags
    sub = arrays[idx] if len(idx) < len(arrays) else arrays
    keep_ns, reason = resolve_north_south(sub, unknown_release="reject")
    if keep_ns.all():
        return kept, why, X, proba, flags
    kept = kept.copy()
    why = why.copy()
    kept[idx[~keep_ns]] = False
    why[idx[~keep_ns]] = reason[~keep_ns]
    return kept, why, X[keep_ns], proba[keep_ns], flags[keep_ns]
