"""How the simulated sky is observed: footprint, bricks, Galactic extinction, DR9 depths and noise, the
Tractor model choice, measured shapes and fibre fluxes. Produces DR9 sweep columns.

The observing conditions (E(B-V), depths, seeing) are smooth, deterministic functions of position -- the
same "sky" for every seed, like a real dust map and a real survey -- built from a fixed sum of random
plane waves on the sphere. Only the sources and their noise depend on the seed.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from dwarflib import datamodel
from dwarflib.sky.physics import EXTINCTION_COEFFS, SkyModel, fibre_fraction

#: Sweep boxes: 10 deg in RA by 5 deg in Dec, like the DR9 sweep files.
SWEEP_RA_STEP = 10.0
SWEEP_DEC_STEP = 5.0
#: Centre of the default footprint (high Galactic latitude, north Galactic cap) [deg].
FOOTPRINT_CENTRE = (185.0, 15.0)
#: Boxes whose centre lies at lower |b| than this are not part of the footprint [deg].
FOOTPRINT_MIN_ABS_B = 25.0
#: North (BASS/MzLS, RELEASE 9011) above this Dec in the north Galactic cap; south (DECaLS, 9010) elsewhere.
NORTH_DEC = 32.375
#: Brick size of the Legacy Surveys [deg].
BRICK_SIZE = 0.25
#: Fixed seed of the observing conditions (dust, depth and seeing maps); not the user's seed.
CONDITIONS_SEED = 20210909

# ICRS -> Galactic rotation matrix (Hipparcos convention, as in astropy).
_ICRS_TO_GAL = np.array([
    [-0.0548755604162154, -0.8734370902348850, -0.4838350155487132],
    [+0.4941094278755837, -0.4448296299600112, +0.7469822444972189],
    [-0.8676661490190047, -0.1980763734312015, +0.4559837761750669],
])


def unit_vectors(ra, dec) -> np.ndarray:
    """(3, n) unit vectors of ICRS positions [deg]."""
    ra_r, dec_r = np.radians(ra), np.radians(dec)
    cd = np.cos(dec_r)
    return np.stack([cd * np.cos(ra_r), cd * np.sin(ra_r), np.sin(dec_r)])


def galactic_latitude(ra, dec) -> np.ndarray:
    """Galactic latitude b [deg] of ICRS positions [deg]."""
    v = unit_vectors(np.atleast_1d(ra), np.atleast_1d(dec))
    return np.degrees(np.arcsin(np.clip(_ICRS_TO_GAL[2] @ v, -1, 1)))


# ---------------------------------------------------------------------------------------------------
# Footprint
# ---------------------------------------------------------------------------------------------------
def box_area(ra1, ra2, dec1, dec2) -> float:
    """Area of an RA/Dec box [deg^2]."""
    return float(np.degrees(np.radians(ra2 - ra1)) * np.degrees(np.sin(np.radians(dec2)) - np.sin(np.radians(dec1))))


@lru_cache(maxsize=1)
def _ordered_boxes() -> list[tuple[float, float, float, float]]:
    boxes = []
    for dec1 in np.arange(-60.0, 85.0, SWEEP_DEC_STEP):
        for ra1 in np.arange(0.0, 360.0, SWEEP_RA_STEP):
            rc, dc = ra1 + SWEEP_RA_STEP / 2, dec1 + SWEEP_DEC_STEP / 2
            if abs(galactic_latitude(rc, dc)[0]) < FOOTPRINT_MIN_ABS_B:
                continue
            boxes.append((float(ra1), float(ra1 + SWEEP_RA_STEP), float(dec1), float(dec1 + SWEEP_DEC_STEP)))
    c = unit_vectors(*FOOTPRINT_CENTRE)
    dist = [np.arccos(np.clip(unit_vectors(b[0] + 5, b[2] + 2.5) @ c, -1, 1)) for b in boxes]
    order = np.lexsort((np.arange(len(boxes)), np.round(dist, 9)))
    return [boxes[i] for i in order]


def footprint(area_deg2: float) -> list[dict]:
    """Sweep boxes covering ``area_deg2`` [deg^2], nearest to :data:`FOOTPRINT_CENTRE` first.

    Each box is a dict with ra1, ra2, dec1, dec2 [deg], its area [deg^2] and the sweep file name. The last
    box is cut in RA so that the total area is exact.
    """
    if not area_deg2 > 0:
        raise ValueError(f"area_deg2 must be positive, got {area_deg2}")
    out, left = [], float(area_deg2)
    for ra1, ra2, dec1, dec2 in _ordered_boxes():
        a = box_area(ra1, ra2, dec1, dec2)
        if a >= left:
            ra2 = ra1 + (ra2 - ra1) * left / a
            a = left
        out.append({"ra1": ra1, "ra2": ra2, "dec1": dec1, "dec2": dec2, "area": a,
                    "name": sweep_name(ra1, ra1 + SWEEP_RA_STEP, dec1, dec2)})
        left -= a
        if left <= 1e-9:
            return out
    raise ValueError(f"area_deg2={area_deg2} exceeds the simulated footprint ({sum(out_['area'] for out_ in out):.0f} deg^2)")


def sweep_name(ra1, ra2, dec1, dec2) -> str:
    """DR9 sweep file name for a box, e.g. ``sweep-180p010-190p015.fits``."""
    def part(ra, dec):
        return f"{int(round(ra)) % 360:03d}{'p' if dec >= 0 else 'm'}{int(round(abs(dec))):03d}"
    return f"sweep-{part(ra1, dec1)}-{part(ra2, dec2)}.fits"


def random_positions(rng: np.random.Generator, n: int, box: dict) -> tuple[np.ndarray, np.ndarray]:
    """n positions uniform on the sphere inside a box [deg]."""
    ra = box["ra1"] + rng.random(n) * (box["ra2"] - box["ra1"])
    s1, s2 = np.sin(np.radians(box["dec1"])), np.sin(np.radians(box["dec2"]))
    dec = np.degrees(np.arcsin(s1 + rng.random(n) * (s2 - s1)))
    return ra, dec


# ---------------------------------------------------------------------------------------------------
# Bricks
# ---------------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _brick_rows() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    nrow = int(round(180 / BRICK_SIZE)) + 1
    dec_c = -90.0 + BRICK_SIZE * np.arange(nrow)
    ncol = np.maximum(1, np.ceil(360.0 * np.cos(np.radians(dec_c)) / BRICK_SIZE)).astype(np.int64)
    ncol[[0, -1]] = 1
    offset = np.concatenate([[0], np.cumsum(ncol)[:-1]])
    return dec_c, ncol, offset


def n_bricks() -> int:
    """Number of bricks on the sky."""
    _, ncol, _ = _brick_rows()
    return int(ncol.sum())


def brick_of(ra, dec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BRICKID (1-based, int32), brick-centre RA and Dec [deg] of positions, Legacy-Surveys-like 0.25 deg bricks."""
    dec_c, ncol, offset = _brick_rows()
    row = np.clip(np.floor((np.asarray(dec) + 90.0) / BRICK_SIZE + 0.5).astype(np.int64), 0, len(dec_c) - 1)
    nc = ncol[row]
    ra = np.asarray(ra)
    # ra % 360 is ra itself (up to the sign of a zero) for ra in [0, 360): skip the slow float remainder then
    in_range = ra.size > 0 and ra.min() >= 0.0 and ra.max() < 360.0
    col = np.minimum(((ra if in_range else ra % 360.0) / 360.0 * nc).astype(np.int64), nc - 1)
    ra_c = (col + 0.5) * 360.0 / nc
    return (offset[row] + col + 1).astype(np.int32), ra_c, dec_c[row]


def brick_names(ra_c, dec_c) -> np.ndarray:
    """Brick names like ``1849p150`` (RA*10, p/m, |Dec|*10) for brick centres [deg]."""
    ra_c = np.asarray(ra_c, dtype=float).ravel()
    dec_c = np.asarray(dec_c, dtype=float).ravel()
    if ra_c.size != dec_c.size:
        raise ValueError("ra_c and dec_c differ in length")
    # the characters of f"{int(ra*10) % 3600:04d}{'p' or 'm'}{round(|dec|*10):03d}", built as digits
    ra10 = (ra_c * 10).astype(np.int64) % 3600  # int() truncates like astype; % 3600 is in [0, 3600)
    dec10 = np.rint(np.abs(dec_c) * 10).astype(np.int64)  # round() and rint both round half to even
    chars = np.empty((ra_c.size, 8), dtype=np.uint8)
    for k, p10 in enumerate((1000, 100, 10, 1)):
        chars[:, k] = ord("0") + ra10 // p10 % 10
    chars[:, 4] = np.where(dec_c >= 0, ord("p"), ord("m"))
    for k, p10 in enumerate((100, 10, 1)):
        chars[:, 5 + k] = ord("0") + dec10 // p10 % 10
    return chars.view("S8").ravel()


class ObjidCounter:
    """Running OBJID per brick, so that (RELEASE, BRICKID, OBJID) is unique across chunks and sweep files."""

    def __init__(self):
        self.next = np.zeros(n_bricks() + 1, dtype=np.int64)

    def assign(self, brickid: np.ndarray) -> np.ndarray:
        """OBJIDs for the objects of a chunk: per brick, in row order, continuing earlier chunks."""
        brickid = np.asarray(brickid)
        lo = int(brickid.min()) if brickid.size else 0
        span = int(brickid.max()) - lo + 1 if brickid.size else 1
        # a stable sort of small integer keys is a radix sort in numpy: linear time
        key = (brickid - lo).astype(np.int16 if span < 2**15 else np.int64)
        order = np.argsort(key, kind="stable")
        b = brickid[order]
        start = np.flatnonzero(np.concatenate([[True], b[1:] != b[:-1]]))
        counts = np.diff(np.concatenate([start, [b.size]]))
        rank = np.arange(b.size) - np.repeat(start, counts)
        objid = np.empty(b.size, dtype=np.int64)
        objid[order] = self.next[b] + rank
        np.add.at(self.next, b[start], counts)
        return objid.astype(np.int32)


# ---------------------------------------------------------------------------------------------------
# Observing conditions
# ---------------------------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _waves(name: str, n_waves: int = 24, scale_deg: float = 3.0):
    rng = np.random.default_rng([CONDITIONS_SEED, sum(map(ord, name))])
    k = rng.standard_normal((n_waves, 3))
    k /= np.linalg.norm(k, axis=1, keepdims=True)
    kappa = 2 * np.pi / np.radians(scale_deg * np.exp(0.5 * rng.standard_normal(n_waves)))
    phase = rng.random(n_waves) * 2 * np.pi
    return k * kappa[:, None], phase


def smooth_field(v: np.ndarray, name: str) -> np.ndarray:
    """A smooth, zero-mean, unit-variance random field on the sphere (fixed, deterministic), at unit vectors v."""
    kv, phase = _waves(name)
    return np.sqrt(2.0 / len(phase)) * np.cos(kv @ v + phase[:, None]).sum(axis=0)


def _unique_small_ints(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the first occurrence of each distinct value (sorted by value) and the inverse map, in linear
    time for integers spanning a small range (like the bricks of one sweep box); falls back to np.unique."""
    lo, hi = int(values.min()), int(values.max())
    if hi - lo > 10_000_000:
        _, first, inv = np.unique(values, return_index=True, return_inverse=True)
        return first, inv
    rel = values - lo
    present = np.zeros(hi - lo + 1, dtype=bool)
    present[rel] = True
    slot = np.cumsum(present) - 1
    inv = slot[rel]
    first = np.full(int(present.sum()), values.size, dtype=np.int64)
    np.minimum.at(first, inv, np.arange(values.size))
    return first, inv


def conditions(ra, dec, model: SkyModel) -> dict:
    """EBV [mag], RELEASE, 5-sigma PSF depths [AB mag], PSF FWHM [arcsec] and WISE depths at positions.

    The smooth maps are evaluated at the centre of each object's brick (0.25 deg), like the per-brick depth
    and seeing of the real survey; the north/south split uses the object's own position.
    """
    brickid, ra_c, dec_c = brick_of(ra, dec)
    first, inv = _unique_small_ints(brickid)
    v = unit_vectors(ra_c[first], dec_c[first])
    gal_b = _ICRS_TO_GAL[2] @ v
    sinb = np.abs(gal_b)
    north_b = (dec_c[first] > NORTH_DEC) & (gal_b > 0)
    north = (np.asarray(dec) > NORTH_DEC) & (gal_b[inv] > 0)
    ebv = np.minimum(model.ebv_pole / np.maximum(sinb, 0.1) * np.exp(model.ebv_lognormal * smooth_field(v, "ebv")), 1.0)
    # per-brick values (suffix _b) and the index that maps them to objects
    out = {"EBV_b": ebv, "RELEASE": np.where(north, 9011, 9010).astype(np.int16), "north": north,
           "north_b": north_b, "BRICKID": brickid, "brick_first": first, "inv": inv,
           "brick_ra": ra_c, "brick_dec": dec_c}
    seeing = np.exp(model.seeing_scatter * smooth_field(v, "seeing"))
    for b in datamodel.OPTICAL_BANDS:
        nominal = np.where(north_b, model.depth_north[b], model.depth_south[b])
        out[f"DEPTH_{b}_b"] = nominal + model.depth_scatter * smooth_field(v, "depth" + b)
        out[f"PSFSIZE_{b}_b"] = model.seeing[b] * seeing
    for b in datamodel.WISE_BANDS:
        out[f"DEPTH_{b}_b"] = model.depth_wise[b] + 0.2 * smooth_field(v, "depth" + b)
    return out


def _depth_to_ivar(m5) -> np.ndarray:
    """Inverse variance [nanomaggy^-2] of a 5-sigma depth m5 [AB mag]."""
    f5 = 10.0 ** (-0.4 * (np.asarray(m5) - 22.5))
    return 25.0 / (f5 * f5)


# ---------------------------------------------------------------------------------------------------
# Observation of one chunk
# ---------------------------------------------------------------------------------------------------
#: Source photon-noise coefficient: var += K * flux [nanomaggy] (optical; WISE uses 10x).
_PHOTON_K = 2e-4
#: Fraction of sources with no coverage in one optical band (NOBS = 0, FLUX_IVAR = 0), like survey edges.
_MISSING_BAND_FRACTION = 0.002
#: Tractor TYPE by model code (0 PSF, 1 REX, 2 EXP, 3 DEV, 4 SER), its SERSIC column (SER: the fitted index)
#: and the Sersic index of its profile in the fibre-flux integral (a point source as n = 1).
_TRACTOR_TYPES = np.array([b"PSF", b"REX", b"EXP", b"DEV", b"SER"], dtype="S3")
_TRACTOR_SERSIC = np.array([0.0, 1.0, 1.0, 4.0, np.nan], dtype=np.float32)
_FIBRE_SERSIC = np.array([1.0, 1.0, 1.0, 4.0, np.nan], dtype=np.float32)


def observe(rng: np.random.Generator, src: dict, ra, dec, model: SkyModel) -> dict:
    """DR9 sweep columns (dict of arrays, dtypes of :data:`dwarflib.datamodel.SWEEP_COLUMNS`) for sources.

    ``src`` holds true extinction-corrected magnitudes per band (``MAG_G`` ... ``MAG_W2``), the circularised
    half-light radius ``RE_CIRC`` [arcsec] (0 for point sources), ``SERSIC_TRUE``, ``BA_TRUE``, ``PA``
    [rad], ``IS_POINT`` (stars/QSOs) and Gaia quantities for stars (``GAIA_G_TRUE``, ``PARALLAX_TRUE``).
    """
    n = len(ra)
    f4 = np.float32
    # photometry in single precision (the sweep columns are float32): about twice as fast
    src = {k: (v.astype(f4) if v.dtype == np.float64 else v) for k, v in src.items()}
    cond = conditions(ra, dec, model)
    inv = cond["inv"]
    ebv = cond["EBV_b"].astype(f4)[inv]
    psfsize = {b: cond[f"PSFSIZE_{b}_b"].astype(f4)[inv] for b in datamodel.OPTICAL_BANDS}
    out: dict[str, np.ndarray] = {"RA": np.asarray(ra, float), "DEC": np.asarray(dec, float),
                                  "EBV": ebv.astype(np.float32), "RELEASE": cond["RELEASE"],
                                  "BRICKID": cond["BRICKID"]}
    names = brick_names(cond["brick_ra"][cond["brick_first"]], cond["brick_dec"][cond["brick_first"]])
    out["BRICKNAME"] = names[inv]
    point = src["IS_POINT"]
    re_c = np.where(point, 0.0, src["RE_CIRC"])
    n_true = src["SERSIC_TRUE"]

    # --- Tractor model selection, from the combined g, r, z signal-to-noise and the resolution ---
    sig_p = psfsize["R"] / 2.3548
    sig_g = re_c / 1.1774 * (1.0 + 0.25 * np.log(np.clip(n_true, 0.3, 8.0)))
    sig_p2, sig_g2 = sig_p**2, sig_g**2
    rho = 2 * sig_p * np.sqrt(sig_p2 + sig_g2) / (2 * sig_p2 + sig_g2)
    res = 1.0 - rho * rho  # 0 for a point source, -> 1 when fully resolved

    # flux_obs: true flux after Galactic extinction [nanomaggy]
    flux_true, trans, ivar_psf, flux_obs = {}, {}, {}, {}
    sn2 = np.zeros(n)
    for b in datamodel.BANDS:
        flux_true[b] = 10.0 ** (-0.4 * (src[f"MAG_{b}"] - 22.5))
        trans[b] = (10.0 ** (-0.4 * EXTINCTION_COEFFS[b] * cond["EBV_b"])).astype(f4)[inv]
        ivar_psf[b] = _depth_to_ivar(cond[f"DEPTH_{b}_b"]).astype(f4)[inv]
        flux_obs[b] = flux_true[b] * trans[b]
    for b in datamodel.OPTICAL_BANDS:
        sp2 = (psfsize[b] / 2.3548) ** 2
        nea_ratio = sp2 / (sp2 + sig_g2)
        sn2 += flux_obs[b] ** 2 * ivar_psf[b] * nea_ratio
    dchi_ext = sn2 * res
    extended = (~point) & (dchi_ext > model.dchi2_extended)
    e_true = (1 - src["BA_TRUE"]) / (1 + src["BA_TRUE"])
    info = 0.5 * sn2 * res * res  # Fisher information on ln(r_e) and on e1, e2 (approximate)
    elliptical = extended & (info * e_true**2 > model.dchi2_ellipse)
    kn = 0.02 * sn2 * res * res
    d_exp = np.log(n_true) ** 2
    d_dev = (np.log(n_true) - np.log(4.0)) ** 2
    best_dev = d_dev < d_exp
    sersic_fit = elliptical & (kn * np.minimum(d_exp, d_dev) > model.dchi2_sersic)
    # model code 0 PSF, 1 REX, 2 EXP, 3 DEV, 4 SER (sersic_fit within elliptical within extended)
    code = extended.astype(np.int8)
    code += elliptical
    code += elliptical & best_dev
    code[sersic_fit] = 4
    out["TYPE"] = _TRACTOR_TYPES.take(code)

    # --- measured shapes ---
    # (below, in-place operations on fresh arrays stand for the commented expressions: same operations, same
    # rounding -- a * b == b * a in floating point -- and fewer temporaries)
    inv_sqrt_info = info + 1e-12  # 1 / sqrt(info + 1e-12)
    np.sqrt(inv_sqrt_info, out=inv_sqrt_info)
    np.divide(1.0, inv_sqrt_info, out=inv_sqrt_info)
    sig_lnr = np.minimum(inv_sqrt_info, 0.7)
    sig_e = np.minimum(inv_sqrt_info, 0.5)
    re_major = np.where(point, 0.0, src["RE_CIRC"] / np.sqrt(src["BA_TRUE"]))
    shape_r = sig_lnr * rng.standard_normal(n, dtype=f4)  # where(elliptical, re_major, re_c) * exp(sig_lnr N)
    np.exp(shape_r, out=shape_r)
    shape_r *= np.where(elliptical, re_major, re_c)
    two_pa = 2 * src["PA"]
    e1 = sig_e * rng.standard_normal(n, dtype=f4)  # e_true cos(2 PA) + sig_e N
    e1 += e_true * np.cos(two_pa)
    e2 = sig_e * rng.standard_normal(n, dtype=f4)  # e_true sin(2 PA) + sig_e N
    e2 += e_true * np.sin(two_pa)
    emod = np.hypot(e1, e2)
    shrink = np.where(emod > 0.95, 0.95 / np.maximum(emod, 1e-9), 1.0)
    e1 *= shrink
    e2 *= shrink
    emod *= shrink
    n_fit = kn + 1e-12  # clip(n_true exp(min(1 / sqrt(kn + 1e-12), 0.5) N), 0.5, 6)
    np.sqrt(n_fit, out=n_fit)
    np.divide(1.0, n_fit, out=n_fit)
    np.minimum(n_fit, 0.5, out=n_fit)
    n_fit *= rng.standard_normal(n, dtype=f4)
    np.exp(n_fit, out=n_fit)
    n_fit *= n_true
    np.clip(n_fit, 0.5, 6.0, out=n_fit)
    # SERSIC: 0 for PSF, 1 for REX and EXP, 4 for DEV, the fitted index for SER
    sersic = np.where(sersic_fit, n_fit, _TRACTOR_SERSIC.take(code))
    out["SHAPE_R"] = np.where(extended, shape_r, 0.0).astype(np.float32)
    out["SHAPE_R_IVAR"] = np.where(extended, 1.0 / (sig_lnr * np.maximum(shape_r, 1e-3)) ** 2, 0.0).astype(np.float32)
    out["SHAPE_E1"] = np.where(elliptical, e1, 0.0).astype(np.float32)
    out["SHAPE_E2"] = np.where(elliptical, e2, 0.0).astype(np.float32)
    e_ivar = np.where(elliptical, 1.0 / sig_e**2, 0.0).astype(np.float32)
    out["SHAPE_E1_IVAR"] = e_ivar
    out["SHAPE_E2_IVAR"] = e_ivar
    out["SERSIC"] = sersic.astype(np.float32)
    out["SERSIC_IVAR"] = np.where(sersic_fit, 1.0 / (0.5 * n_fit) ** 2 * np.minimum(kn, 1e4), 0.0).astype(np.float32)

    # circularised radius and profile of the *fitted* model, for noise areas and fibre fluxes
    q_fit = np.where(elliptical, (1 - emod) / (1 + emod), 1.0)
    re_fit_c = np.where(extended, shape_r * np.where(elliptical, q_fit**model.fibre_q_power, 1.0), 0.0)
    fib = fibre_fraction(re_fit_c, np.where(sersic_fit, n_fit, _FIBRE_SERSIC.take(code)))  # PSF profile: n = 1
    sig_fit = re_fit_c / 1.1774

    # --- fluxes and their inverse variances ---
    # one uniform per object decides which band (if any) has no coverage, one which have a blended neighbour
    u_miss = rng.random(n, dtype=f4)
    blend = rng.random(n, dtype=f4) < 0.08
    blend_frac = np.where(blend, rng.standard_exponential(n, dtype=f4) * f4(0.3), f4(0.0))
    u_nobs = rng.random(n, dtype=f4)
    sig_fit2 = sig_fit**2
    for k, b in enumerate(datamodel.BANDS):
        wise = b in datamodel.WISE_BANDS
        sp2 = ((model.wise_fwhm[b] if wise else psfsize[b]) / 2.3548) ** 2
        var = sp2 + sig_fit2  # (sp2 + sig_fit2) / sp2 / ivar_psf + (10 or 1) * _PHOTON_K * flux_true * trans
        var /= sp2
        var /= ivar_psf[b]
        var += (10 if wise else 1) * _PHOTON_K * flux_true[b] * trans[b]
        ivar = 1.0 / var
        flux = np.sqrt(var)  # flux_obs + N sqrt(var)
        flux *= rng.standard_normal(n, dtype=np.float32)
        flux += flux_obs[b]
        p_miss = model.wise_zero_ivar_fraction if wise else _MISSING_BAND_FRACTION
        missing = (u_miss >= k * 0.01) & (u_miss < k * 0.01 + p_miss)
        # float32 columns, 0 where the band is missing
        out[f"FLUX_{b}"] = flux = flux.astype(np.float32)
        flux[missing] = 0.0
        out[f"FLUX_IVAR_{b}"] = ivar = ivar.astype(np.float32)
        ivar[missing] = 0.0
        out[f"MW_TRANSMISSION_{b}"] = trans[b]  # float32 already
        if wise:
            lam = np.clip(80 * 10 ** (0.8 * (cond[f"DEPTH_{b}_b"] - model.depth_wise[b])), 5, None).astype(f4)[inv]
            nobs = (lam + u_nobs).astype(np.int64)  # integer with the right mean
        else:
            nominal = np.where(cond["north_b"], model.depth_north[b], model.depth_south[b])
            lam = np.clip(2.5 * 10 ** (0.8 * (cond[f"DEPTH_{b}_b"] - nominal)), 0.2, None).astype(f4)[inv]
            nobs = (lam + u_nobs).astype(np.int64)
            nobs += 1
        out[f"NOBS_{b}"] = nobs = nobs.astype(np.int16)
        nobs[missing] = 0
        if not wise:
            fiber = flux * fib
            out[f"FIBERFLUX_{b}"] = fiber.astype(np.float32)
            fibertot = np.abs(fiber)  # fiber + |fiber| blend_frac
            fibertot *= blend_frac
            fibertot += fiber
            out[f"FIBERTOTFLUX_{b}"] = fibertot.astype(np.float32)
            out[f"PSFSIZE_{b}"] = psfsize[b]  # float32 already
            out[f"PSFDEPTH_{b}"] = ivar_psf[b]
            gal_sp2 = sp2 + (0.45 / 1.1774) ** 2
            out[f"GALDEPTH_{b}"] = (ivar_psf[b] * sp2 / gal_sp2).astype(np.float32)

    # --- Gaia, reference catalogue and mask bits ---
    r_raw = src["MAG_R"] - 2.5 * np.log10(trans["R"])
    g_star = src.get("GAIA_G_TRUE", np.zeros(n)) + 2.5 * np.log10(1 / trans["R"]) * 0.9
    g_gal = r_raw - 2.5 * np.log10(np.maximum(fib, 1e-6)) + 0.1
    gaia_g = np.where(point, g_star, g_gal)
    matched = gaia_g < 20.8
    out["GAIA_PHOT_G_MEAN_MAG"] = np.where(matched, gaia_g, 0.0).astype(np.float32)
    plx_err = 0.04 * 10 ** (0.2 * (np.clip(gaia_g, 10, 21) - 15))
    plx = np.where(point, src.get("PARALLAX_TRUE", np.zeros(n)), 0.0) + plx_err * rng.standard_normal(n, dtype=np.float32)
    out["PARALLAX"] = np.where(matched, plx, 0.0).astype(np.float32)
    sga = (~point) & (src["RE_CIRC"] > 8.0) & (src["MAG_R"] < 16.5)
    ref = np.full(n, b"", dtype="S2")
    ref[matched] = b"G2"
    ref[sga] = b"L3"
    out["REF_CAT"] = ref
    mb = np.zeros(n, dtype=np.int16)  # all MASKBITS bits are below 16

    def set_bit(bits, where):
        np.bitwise_or(mb, np.int16(bits), out=mb, where=where)

    u = rng.random(n, dtype=f4)
    set_bit(1 << datamodel.MASKBITS["BRIGHT"], u < 0.012)
    set_bit(1 << datamodel.MASKBITS["MEDIUM"], (u >= 0.012) & (u < 0.04))
    u = rng.random(n, dtype=f4)
    set_bit(1 << datamodel.MASKBITS["WISEM1"], u < 0.03)
    set_bit(1 << datamodel.MASKBITS["WISEM2"], (u > 0.01) & (u < 0.03))
    set_bit(1 << datamodel.MASKBITS["GALAXY"], sga)
    sat = point & (src["MAG_R"] < 13.0)
    set_bit((1 << datamodel.MASKBITS["SATUR_R"]) | (1 << datamodel.MASKBITS["SATUR_G"]), sat)
    out["MASKBITS"] = mb
    out["FITBITS"] = np.where(sga, 1 << 9, 0).astype(np.int16)  # FITBITS bit 9: LARGEGALAXY (SGA)
    return out
