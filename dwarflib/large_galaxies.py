"""Large galaxies and their shreds: named flag bits on a sweep-format table (nothing is dropped).

A large nearby galaxy can be split by the Tractor into several catalogue entries ("shreds": HII regions,
spiral-arm knots, the bulge) that look like compact local dwarfs. :func:`large_galaxy_flags` marks, with
the bits of :data:`LARGE_GALAXY_BITS`:

==================  ==============================================================================================
bit                 set when
==================  ==============================================================================================
SGA                 REF_CAT is 'L3': the object *is* a Siena Galaxy Atlas galaxy (its SGA model; keep it, it is real)
IN_SGA_ELLIPSE      MASKBITS bit GALAXY (12) is set and the object is not the SGA galaxy itself: inside a large
                    galaxy's ellipse
FRACFLUX_HIGH       FRACFLUX in any of g, r, z >= :data:`FRACFLUX_MAX`: the profile-weighted flux of neighbours is
                    several times the object's own (the DESI BGS quality cut, FRACFLUX < 5)
FRACIN_LOW          FRACIN in any of g, r, z <= :data:`FRACIN_MIN`: most of the model flux lies outside the blob
                    fitted (the DESI BGS cut, FRACIN > 0.3)
IN_BRIGHTER_REFF    the object lies inside the half-light ellipse (SHAPE_R, SHAPE_E1, SHAPE_E2) of another,
                    brighter entry (FLUX_R): a likely shred of it
HAS_SHREDS          the brighter entry of such a pair (the galaxy that has entries inside its half-light ellipse)
==================  ==============================================================================================

Columns a bit needs that the table lacks (the simulated sky writes no FRACFLUX/FRACIN; pre-DR8 files
no MASKBITS) leave that bit unset and are reported in the second return value, never silently.

Ellipse convention (Tractor ``EllipseE``): |e| = hypot(E1, E2), axis ratio b/a = (1 - |e|)/(1 + |e|)
(:func:`dwarflib.conventions.axis_ratio`) and position angle, East of North,
PA = -1/2 atan2(E2, E1) (inverse of ``EllipseE.fromRAbPhi``); SHAPE_R is the semi-major half-light radius.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from dwarflib.conventions import axis_ratio
from dwarflib.datamodel import MASKBITS, OPTICAL_BANDS

#: Bits of the LARGE_GALAXY flag (see the module docstring).
LARGE_GALAXY_BITS: dict[str, int] = {
    "SGA": 0,
    "IN_SGA_ELLIPSE": 1,
    "FRACFLUX_HIGH": 2,
    "FRACIN_LOW": 3,
    "IN_BRIGHTER_REFF": 4,
    "HAS_SHREDS": 5,
}

#: REF_CAT of Siena Galaxy Atlas galaxies in DR9.
SGA_REF_CAT = "L3"
#: FRACFLUX_[GRZ] at or above this flags FRACFLUX_HIGH (DESI BGS keeps FRACFLUX < 5).
FRACFLUX_MAX = 5.0
#: FRACIN_[GRZ] at or below this flags FRACIN_LOW (DESI BGS keeps FRACIN > 0.3).
FRACIN_MIN = 0.3

#: Columns of the shred-pair search (:func:`shred_pairs`) and the two bits it sets.
PAIR_COLUMNS = ("RA", "DEC", "SHAPE_R", "SHAPE_E1", "SHAPE_E2", "FLUX_R")
PAIR_BITS = ("IN_BRIGHTER_REFF", "HAS_SHREDS")


def bit_columns(bands=OPTICAL_BANDS) -> dict[str, tuple[str, ...]]:
    """Bit of :data:`LARGE_GALAXY_BITS` -> the columns it needs."""
    return {
        "SGA": ("REF_CAT",),
        "IN_SGA_ELLIPSE": ("MASKBITS",),
        "FRACFLUX_HIGH": tuple(f"FRACFLUX_{b}" for b in bands),
        "FRACIN_LOW": tuple(f"FRACIN_{b}" for b in bands),
        "IN_BRIGHTER_REFF": PAIR_COLUMNS,
        "HAS_SHREDS": PAIR_COLUMNS,
    }


def large_galaxy_columns(bands=OPTICAL_BANDS) -> list[str]:
    """Every column :func:`large_galaxy_flags` reads (each bit is evaluated when its columns are present)."""
    return list(dict.fromkeys(c for cols in bit_columns(bands).values() for c in cols))


def not_evaluated(colnames, bands=OPTICAL_BANDS) -> dict[str, list[str]]:
    """The bits that a table with columns ``colnames`` cannot evaluate -> their missing columns (the second
    return value of :func:`large_galaxy_flags`, from the column names only)."""
    have = {str(c).upper() for c in colnames}
    out = {}
    for bit, cols in bit_columns(bands).items():
        lack = [c for c in cols if c not in have]
        if lack:
            out[bit] = lack
    return out


def position_angle_deg(e1, e2) -> np.ndarray:
    """Position angle of the major axis [deg, East of North, in [0, 180)] from SHAPE_E1, SHAPE_E2."""
    return np.mod(-0.5 * np.degrees(np.arctan2(np.asarray(e2, float), np.asarray(e1, float))), 180.0)


def elliptical_radius(d_east, d_north, q, pa_deg) -> np.ndarray:
    """Elliptical radius [same unit as the offsets] of offsets (East, North) for an ellipse of axis ratio
    ``q`` = b/a and major-axis position angle ``pa_deg`` [deg East of North]: the semi-major axis of the
    similar ellipse through the point."""
    pa = np.radians(pa_deg)
    major = np.asarray(d_east) * np.sin(pa) + np.asarray(d_north) * np.cos(pa)
    minor = np.asarray(d_east) * np.cos(pa) - np.asarray(d_north) * np.sin(pa)
    return np.hypot(major, minor / np.maximum(q, 1e-3))


def _str(col) -> np.ndarray:
    a = np.asarray(col)
    if a.dtype.kind == "S":
        a = np.char.decode(a, "ascii", "replace")
    return np.char.strip(a.astype(str))


def _has(table, name: str) -> bool:
    names = table.colnames if hasattr(table, "colnames") else list(table.keys() if hasattr(table, "keys") else [])
    return name in names


def _f(table, name: str) -> np.ndarray:
    return np.asarray(table[name], dtype=float)


_HALF_RADIAN_ARCSEC = float(np.degrees(0.5) * 3600.0)


def _search_radii_arcsec(r_hosts, dec_hosts, r_global: float) -> tuple[np.ndarray, np.ndarray]:
    """Hosts grouped by octave of SHAPE_R -> (group of each host, search radius of each group) [arcsec].

    A group's radius is its largest SHAPE_R padded so that no pair of :func:`shred_pairs` is missed: the
    elliptical radius is at least the flat-sky offset D (b/a <= 1), and the great-circle separation S of a
    pair with D <= r obeys S^2 (1 - S^2/12) <= D^2 cos(dec_m)/cos(dec_g) (haversine), with
    |dec_m| >= |dec_g| - r. The radius is capped at the largest SHAPE_R of the table (the one radius of
    the first implementation), so the candidates never exceed what that search found.
    """
    octave = np.maximum(np.floor(np.log2(r_hosts)), -10.0)  # radii below 2^-10 arcsec share one group
    keys, group = np.unique(octave, return_inverse=True)
    radius = np.empty(len(keys))
    for k in range(len(keys)):
        sel = group == k
        r_max = float(r_hosts[sel].max())
        dec = np.abs(dec_hosts[sel])
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.max(np.cos(np.radians(np.maximum(dec - r_max / 3600.0, 0.0))) / np.cos(np.radians(dec)))
        # x 1.02 covers (1 - S^2/12)^(-1/2) <= 1.011 for S <= 0.5 rad; beyond that (or within r of a pole,
        # where cos(dec) -> 0) the padding is not trusted and the group takes the largest radius
        pad = 1.02 * r_max * np.sqrt(max(ratio, 1.0)) if np.isfinite(ratio) else np.inf
        radius[k] = min(pad, r_global) if pad <= _HALF_RADIAN_ARCSEC else r_global
    return group, radius


def shred_pairs(table) -> tuple[np.ndarray, np.ndarray]:
    """(galaxy, member) row-index pairs: ``member`` lies inside the half-light ellipse of ``galaxy`` and is
    fainter in FLUX_R. Needs RA, DEC [deg], SHAPE_R [arcsec], SHAPE_E1, SHAPE_E2, FLUX_R [nanomaggies].

    Each host is searched (KD-tree of unit vectors) with about its own SHAPE_R (hosts grouped by octave of
    SHAPE_R, each group with its own padded largest radius, :func:`_search_radii_arcsec`), not with the
    largest SHAPE_R of the table, so the work scales with the hosts' own areas; the pairs are those of a
    search of every host with the largest radius (tests/test_shred_speed.py; benchmarks/shred_speed.py).
    """
    ra, dec = _f(table, "RA"), _f(table, "DEC")
    r = np.nan_to_num(_f(table, "SHAPE_R"), nan=0.0)
    flux = np.nan_to_num(_f(table, "FLUX_R"), nan=-np.inf)
    hosts = np.flatnonzero(r > 0)
    if len(hosts) == 0 or len(ra) < 2:
        return np.zeros(0, int), np.zeros(0, int)
    bad = np.flatnonzero(~(np.isfinite(ra) & np.isfinite(dec)))
    if len(bad):
        raise ValueError(f"shred_pairs: RA/DEC not finite in {len(bad)} row(s), first {bad[:10].tolist()}")
    lon, lat = np.radians(ra), np.radians(dec)
    xyz = np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])
    tree = cKDTree(xyz)
    group, radius = _search_radii_arcsec(r[hosts], dec[hosts], float(r[hosts].max()))
    gs, ms = [], []
    for k, rad_k in enumerate(radius):
        h = hosts[group == k]
        chord = 2.0 * np.sin(0.5 * np.radians(float(rad_k) / 3600.0))  # unit-sphere chord of the radius
        pairs = cKDTree(xyz[h]).sparse_distance_matrix(tree, chord, output_type="ndarray")
        gs.append(h[pairs["i"]])
        ms.append(pairs["j"].astype(np.int64))
    g, m = np.concatenate(gs), np.concatenate(ms)
    keep = (g != m) & (flux[m] < flux[g])
    g, m = g[keep], m[keep]
    d_east = (ra[m] - ra[g] + 180.0) % 360.0 - 180.0
    d_east = d_east * np.cos(np.radians(dec[g])) * 3600.0
    d_north = (dec[m] - dec[g]) * 3600.0
    e1, e2 = _f(table, "SHAPE_E1")[g], _f(table, "SHAPE_E2")[g]
    rad = elliptical_radius(d_east, d_north, axis_ratio(e1, e2), position_angle_deg(e1, e2))
    inside = rad <= r[g]
    order = np.lexsort((m[inside], g[inside]))
    return g[inside][order], m[inside][order]


def large_galaxy_flags(table, fracflux_max: float = FRACFLUX_MAX, fracin_min: float = FRACIN_MIN,
                       bands=OPTICAL_BANDS, pairs: bool = True) -> tuple[np.ndarray, dict[str, list[str]]]:
    """The LARGE_GALAXY flag (int16, bits of :data:`LARGE_GALAXY_BITS`) of every row of a sweep-format table.

    Returns ``(flags, not_evaluated)``: ``not_evaluated`` maps each bit that could not be evaluated to the
    missing columns. Non-finite FRACFLUX/FRACIN values do not set a bit. ``pairs=False`` leaves the two
    bits of :data:`PAIR_BITS` to the caller (:func:`shred_pair_flags` on more rows than ``table``).
    """
    n = len(table)
    flags = np.zeros(n, np.int16)
    missing: dict[str, list[str]] = {}

    needs = bit_columns(bands)

    def need(bit):
        lack = [c for c in needs[bit] if not _has(table, c)]
        if lack:
            missing[bit] = lack
        return not lack

    def setbit(bit, cond):
        flags[np.asarray(cond, bool)] |= np.int16(1 << LARGE_GALAXY_BITS[bit])

    is_sga = np.zeros(n, bool)
    if need("SGA"):
        is_sga = _str(table["REF_CAT"]) == SGA_REF_CAT
        setbit("SGA", is_sga)
    if need("IN_SGA_ELLIPSE"):
        in_gal = (np.asarray(table["MASKBITS"]).astype(np.int64) & (1 << MASKBITS["GALAXY"])) != 0
        setbit("IN_SGA_ELLIPSE", in_gal & ~is_sga)
    if need("FRACFLUX_HIGH"):
        with np.errstate(invalid="ignore"):
            setbit("FRACFLUX_HIGH", np.any([_f(table, f"FRACFLUX_{b}") >= fracflux_max for b in bands], axis=0))
    if need("FRACIN_LOW"):
        with np.errstate(invalid="ignore"):
            setbit("FRACIN_LOW", np.any([_f(table, f"FRACIN_{b}") <= fracin_min for b in bands], axis=0))
    if pairs:
        ok = need("IN_BRIGHTER_REFF")
        ok = need("HAS_SHREDS") and ok
        if ok:
            flags |= _pair_bits(table)
    return flags, missing


def _pair_bits(table) -> np.ndarray:
    n = len(table)
    g, m = shred_pairs(table)
    out = np.zeros(n, np.int16)
    out[np.isin(np.arange(n), m)] |= np.int16(1 << LARGE_GALAXY_BITS["IN_BRIGHTER_REFF"])
    out[np.isin(np.arange(n), g)] |= np.int16(1 << LARGE_GALAXY_BITS["HAS_SHREDS"])
    return out


def _valid_position(table) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        ra, dec = np.asarray(table["RA"], float), np.asarray(table["DEC"], float)
        return np.isfinite(ra) & np.isfinite(dec) & (np.abs(dec) <= 90)


def shred_pair_flags(table) -> np.ndarray:
    """The :data:`PAIR_BITS` (int16) of every row of a table with the :data:`PAIR_COLUMNS`, from the pairs
    among its rows with a valid position (others get 0: the row checks reject them). Run on a whole file,
    so that a pair split between two chunks of it is found (:func:`dwarflib.catalogue.classify_file`)."""
    out = np.zeros(len(table), np.int16)
    ok = _valid_position(table)
    if ok.any():
        out[ok] = _pair_bits(table[ok] if not ok.all() else table)
    return out


def decode_large_galaxy_flags(value: int) -> str:
    """Names of the bits set in one LARGE_GALAXY value, comma-separated (``''`` for 0)."""
    return ",".join(name for name, bit in LARGE_GALAXY_BITS.items() if int(value) & (1 << bit))


def large_galaxy_chunk_flags(arrays, pair_flags=None) -> np.ndarray:
    """LARGE_GALAXY bits (int16) of every row of a chunk, from the rows with a valid position (a row with a
    non-finite or impossible RA/DEC is rejected by the row checks and gets 0). ``pair_flags``: the
    :data:`PAIR_BITS` of the chunk's rows found on more rows than the chunk (:func:`shred_pair_flags` of
    the whole file); None searches the pairs within the chunk."""
    out = np.zeros(len(arrays), np.int16)
    ok = _valid_position(arrays)
    if ok.any():
        out[ok] = large_galaxy_flags(arrays[ok] if not ok.all() else arrays, pairs=pair_flags is None)[0]
    if pair_flags is not None:
        out[ok] |= np.asarray(pair_flags, np.int16)[ok]
    return out
