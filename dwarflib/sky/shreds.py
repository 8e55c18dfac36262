"""Opt-in population of large nearby galaxies that the Tractor shreds (``simulate --shreds``).

The default simulated sky has none (it stays bit-identical); with ``shreds=D`` each sweep box gets a
Poisson number (mean D x box area) of large galaxies, each written as its main Tractor entry plus
:data:`SHREDS_PER_GALAXY` fainter "shred" entries inside its half-light ellipse, so that the effect of the
LARGE_GALAXY flags (:mod:`dwarflib.large_galaxies`) can be measured on a sky with a known truth.

Where each number comes from:

* host galaxies: star-forming discs (the galaxies the Tractor shreds into HII regions and arm knots) with
  log M* drawn from the sky model's stellar mass function (:func:`dwarflib.sky.physics.smf`) in
  [:data:`HOST_LOGM_MIN`, :data:`HOST_LOGM_MAX`], redshift uniform in comoving volume in
  [:data:`HOST_Z_MIN`, :data:`HOST_Z_MAX`] (z < 0.01: half-light radii of tens of arcsec), colours, M/L and
  sizes from the sky model's star-forming relations at that mass and redshift (the same ones as every
  simulated galaxy). Their physical surface density (mass function x comoving volume x the model's local
  overdensity) is :func:`physical_host_density`, about 0.05 per deg^2; the Siena Galaxy Atlas (Moustakas
  et al. 2023) holds ~380,000 galaxies of all sizes (D25 > 20 arcsec) over the ~20,000 deg^2 DR9 footprint,
  ~19 per deg^2, so these hosts are the large, nearby tail of it. ``shreds`` is an input: a sky of tens of
  deg^2 at the physical density holds one or two hosts, so a study of the flags raises it and states so.
* shreds per host: :data:`SHREDS_PER_GALAXY` (uniform integer) -- an assumption (no published count per
  galaxy for DR9 is used here), stated in the truth and the book;
* a shred's r flux: a fraction :data:`SHRED_FLUX_FRACTION` (log-uniform) of its host's -- an assumption
  (bright HII complexes hold ~0.1-few per cent of a disc's light);
* a shred's half-light radius: :data:`SHRED_RE_KPC` (log-uniform) at the host's distance -- the size of
  giant HII regions / star-forming complexes (Kennicutt 1984: ~0.1-1 kpc), which with the flux above gives
  the compact, high-surface-brightness look of a blue dwarf;
* a shred's colours: the sky model's mean star-forming colours at log M* = :data:`SHRED_COLOUR_LOGM` and
  the host's redshift, with the model's colour scatter (a blue, dwarf-like SED);
* position: uniform in area inside the host's true half-light ellipse.

Truth: shreds carry their host's Z and LOGMSTAR, hence their host's CLASS (a spectrum of a shred measures
the host's redshift; the object is part of a massive galaxy, not a dwarf), ``IS_SHRED`` True and
``PARENT_TARGETID`` (the host's TARGETID); every other row has IS_SHRED False and PARENT_TARGETID -1.
The host's main entry is REF_CAT 'L3' with MASKBITS GALAXY (bit 12) and FITBITS LARGEGALAXY; every entry of
the sky (shreds and unrelated sources) inside a host's :data:`MASK_RADIUS_FACTOR` x half-light ellipse
gets MASKBITS GALAXY, like the SGA ellipse mask of DR9.
"""

from __future__ import annotations

import numpy as np

from dwarflib import datamodel
from dwarflib.large_galaxies import SGA_REF_CAT, elliptical_radius
from dwarflib.sky.grid import bilinear_flat, frac_index
from dwarflib.sky.observe import random_positions
from dwarflib.sky.physics import (
    M_SUN_R,
    SkyModel,
    cosmology_tables,
    distmod,
    kpc_per_arcsec,
    median_log_re,
    ml_coefficients,
    radial_density,
    smf,
)

#: Host stellar-mass range [log10 Msun].
HOST_LOGM_MIN, HOST_LOGM_MAX = 10.0, 11.0
#: Host redshift range: z < 0.01 gives half-light radii of tens of arcsec; the lower bound (~9 Mpc) avoids
#: the few Local-Volume giants of arcminute size.
HOST_Z_MIN, HOST_Z_MAX = 0.002, 0.01
#: Shreds per host (inclusive range, uniform integer): an assumption.
SHREDS_PER_GALAXY = (3, 8)
#: r-band flux of a shred over its host's (log-uniform range): an assumption.
SHRED_FLUX_FRACTION = (0.002, 0.02)
#: Half-light radius of a shred [kpc] (log-uniform range): giant HII regions / star-forming complexes.
SHRED_RE_KPC = (0.1, 1.0)
#: Stellar mass [log10 Msun] whose mean star-forming colours the shreds take (a blue dwarf SED).
SHRED_COLOUR_LOGM = 8.0
#: Axis ratio range of the shreds (uniform): compact knots, roughly round.
SHRED_BA = (0.5, 1.0)
#: MASKBITS GALAXY is set inside this multiple of the host's half-light ellipse (the SGA mask ellipse is
#: drawn at about the D25 isophote, ~2-3 half-light radii for a disc; 2 is taken here).
MASK_RADIUS_FACTOR = 2.0
#: Truth columns added when the option is on.
SHRED_TRUTH_COLUMNS: dict[str, tuple[str, str, str]] = {
    "IS_SHRED": ("b1", "", "True for a shred of a large galaxy (simulate --shreds; dwarflib.sky.shreds)"),
    "PARENT_TARGETID": ("i8", "", "TARGETID of the shredded large galaxy (-1 when not a shred)"),
}


def physical_host_density(model: SkyModel, n_z: int = 400, n_m: int = 200) -> float:
    """Surface density [deg^-2] of hosts (log M* and z ranges above) from the model's stellar mass function,
    the Planck18 comoving volume and the model's local overdensity."""
    z = np.linspace(HOST_Z_MIN, HOST_Z_MAX, n_z)
    tab = cosmology_tables()
    dvdz = np.interp(z, tab["z"], tab["dvdz_deg2"]) * radial_density(z, model)
    m = np.linspace(HOST_LOGM_MIN, HOST_LOGM_MAX, n_m)
    return float(np.trapezoid(dvdz, z) * np.trapezoid(smf(m, model), m))


def _sf_colours(rng, z, logm, model: SkyModel) -> np.ndarray:
    """Star-forming colours (n, 4): g-r, r-z, z-W1, W1-W2 [mag], the model's mean at (z, logm) plus its
    scatter."""
    arr = model.arrays()
    fz, fm = frac_index(z, model.z_nodes), frac_index(logm, model.m_nodes)
    pop = np.zeros(len(z), np.int64)
    mean = bilinear_flat(arr["mean_flat"], len(model.z_nodes), len(model.m_nodes), pop, fz, fm)
    chol = arr["chol"][0]
    eps = rng.standard_normal((len(z), 4))
    return np.stack(mean, axis=1) + eps @ chol.T


def _uniform_log(rng, lo_hi, n) -> np.ndarray:
    lo, hi = np.log10(lo_hi[0]), np.log10(lo_hi[1])
    return 10.0 ** (lo + (hi - lo) * rng.random(n))


def draw_large_galaxies(rng: np.random.Generator, density_deg2: float, box: dict, model: SkyModel) -> dict:
    """Hosts and shreds of one sweep box: ``src`` columns for :func:`dwarflib.sky.observe.observe` plus RA,
    DEC [deg], truth columns (Z, LOGMSTAR, RE_KPC, RE_ARCSEC, MU... see below), HOST (row index of the host
    within the returned arrays, -1 for a host) and the hosts' ellipses (for the GALAXY mask).

    ``density_deg2``: mean number of hosts per deg^2 (Poisson in the box's area).
    """
    n_host = int(rng.poisson(density_deg2 * box["area"]))
    # log M* from the mass function by rejection (smf decreases over 10-11 for the calibrated model; the
    # bound is the maximum over the range)
    grid_m = np.linspace(HOST_LOGM_MIN, HOST_LOGM_MAX, 101)
    phi_max = float(smf(grid_m, model).max())
    logm = np.zeros(0)
    while len(logm) < n_host:
        m = HOST_LOGM_MIN + (HOST_LOGM_MAX - HOST_LOGM_MIN) * rng.random(4 * n_host + 4)
        logm = np.concatenate([logm, m[rng.random(len(m)) * phi_max < smf(m, model)]])
    logm = logm[:n_host]
    z = np.cbrt(HOST_Z_MIN**3 + rng.random(n_host) * (HOST_Z_MAX**3 - HOST_Z_MIN**3))
    col = _sf_colours(rng, z, logm, model)
    a, b = ml_coefficients(z, model, logm)
    ml = a + b * col[:, 0]
    r_true = distmod(z) + M_SUN_R + 2.5 * (ml - logm)
    log_re_sf, _ = median_log_re(logm, model, z)
    re_kpc = 10.0 ** (log_re_sf + model.size_sf_sigma * rng.standard_normal(n_host))
    scale = kpc_per_arcsec(z)
    re_arcsec = re_kpc / scale
    cosi = rng.random(n_host)
    ba = np.sqrt(cosi**2 + model.disc_q0_massive**2 * (1 - cosi**2))
    pa = rng.random(n_host) * np.pi  # [rad] East of North (as observe's PA)
    ra, dec = random_positions(rng, n_host, box)

    n_sh = rng.integers(SHREDS_PER_GALAXY[0], SHREDS_PER_GALAXY[1] + 1, n_host)
    host = np.repeat(np.arange(n_host), n_sh)
    k = len(host)
    sh_r = r_true[host] - 2.5 * np.log10(_uniform_log(rng, SHRED_FLUX_FRACTION, k))
    sh_re_kpc = _uniform_log(rng, SHRED_RE_KPC, k)
    sh_re = sh_re_kpc / scale[host]
    sh_ba = SHRED_BA[0] + (SHRED_BA[1] - SHRED_BA[0]) * rng.random(k)
    sh_col = _sf_colours(rng, z[host], np.full(k, SHRED_COLOUR_LOGM), model)
    # uniform in area inside the host's half-light ellipse (major axis re along PA)
    rad = re_arcsec[host] * np.sqrt(rng.random(k))
    phi = 2 * np.pi * rng.random(k)
    major, minor = rad * np.cos(phi), rad * ba[host] * np.sin(phi)
    p = pa[host]
    d_east = major * np.sin(p) + minor * np.cos(p)
    d_north = major * np.cos(p) - minor * np.sin(p)
    sh_dec = dec[host] + d_north / 3600.0
    sh_ra = ra[host] + d_east / 3600.0 / np.cos(np.radians(dec[host]))

    def cat(x, y):
        return np.concatenate([np.asarray(x, float), np.asarray(y, float)])

    r_all = cat(r_true, sh_r)
    colours = np.concatenate([col, sh_col])
    mags = {"R": r_all, "G": r_all + colours[:, 0], "Z": r_all - colours[:, 1]}
    mags["W1"] = mags["Z"] - colours[:, 2]
    mags["W2"] = mags["W1"] - colours[:, 3]
    re_all, ba_all = cat(re_arcsec, sh_re), cat(ba, sh_ba)
    n = n_host + k
    f4 = np.float32
    src = {f"MAG_{bd}": mags[bd] for bd in datamodel.BANDS}
    src.update(IS_POINT=np.zeros(n, bool), RE_CIRC=(re_all * np.sqrt(ba_all)).astype(f4),
               SERSIC_TRUE=cat(np.full(n_host, 1.0), np.full(k, 1.0)).astype(f4), BA_TRUE=ba_all,
               PA=cat(pa, np.pi * rng.random(k)).astype(f4), GAIA_G_TRUE=np.zeros(n, f4),
               PARALLAX_TRUE=np.zeros(n, f4))
    with np.errstate(divide="ignore"):
        mu = mags["R"] + 2.5 * np.log10(2 * np.pi * re_all**2 * ba_all)
    return {"src": src, "RA": cat(ra, sh_ra), "DEC": cat(dec, sh_dec), "Z": cat(z, z[host]),
            "LOGMSTAR": cat(logm, logm[host]), "LOG_ML_R": cat(ml, ml[host]),
            "RE_KPC": cat(re_kpc, sh_re_kpc), "RE_ARCSEC": re_all, "MU_EFF_R_TRUE": mu,
            "HOST": np.concatenate([np.full(n_host, -1), host]).astype(np.int64),
            "ellipses": {"RA": ra, "DEC": dec, "RE_ARCSEC": re_arcsec, "BA": ba, "PA_DEG": np.degrees(pa)}}


def in_host_ellipses(ra, dec, ellipses: dict, factor: float = MASK_RADIUS_FACTOR) -> np.ndarray:
    """Whether each position [deg] lies inside ``factor`` x any host's half-light ellipse."""
    ra, dec = np.asarray(ra, float), np.asarray(dec, float)
    inside = np.zeros(len(ra), bool)
    for h in range(len(ellipses["RA"])):
        d_east = ((ra - ellipses["RA"][h] + 180.0) % 360.0 - 180.0) * np.cos(np.radians(ellipses["DEC"][h])) * 3600
        d_north = (dec - ellipses["DEC"][h]) * 3600.0
        near = np.flatnonzero((np.abs(d_north) < factor * ellipses["RE_ARCSEC"][h])
                              & (np.abs(d_east) < factor * ellipses["RE_ARCSEC"][h]))
        rad = elliptical_radius(d_east[near], d_north[near], ellipses["BA"][h], ellipses["PA_DEG"][h])
        inside[near[rad <= factor * ellipses["RE_ARCSEC"][h]]] = True
    return inside


def mark_galaxy_mask(sweep: dict, ellipses: dict) -> None:
    """Set MASKBITS GALAXY (in place) on the sweep rows inside any host's mask ellipse."""
    if len(ellipses["RA"]) == 0:
        return
    inside = in_host_ellipses(sweep["RA"], sweep["DEC"], ellipses)
    sweep["MASKBITS"] = np.where(inside, sweep["MASKBITS"] | np.int16(1 << datamodel.MASKBITS["GALAXY"]),
                                 sweep["MASKBITS"]).astype(sweep["MASKBITS"].dtype)


def set_host_reference(sweep: dict, is_host: np.ndarray) -> None:
    """The hosts' main entries: REF_CAT 'L3' (SGA), FITBITS LARGEGALAXY (bit 9), MASKBITS GALAXY (in place)."""
    sweep["REF_CAT"] = np.where(is_host, SGA_REF_CAT.encode(), sweep["REF_CAT"]).astype("S2")
    sweep["FITBITS"] = np.where(is_host, sweep["FITBITS"] | np.int16(1 << 9), sweep["FITBITS"]).astype(np.int16)
    sweep["MASKBITS"] = np.where(is_host, sweep["MASKBITS"] | np.int16(1 << datamodel.MASKBITS["GALAXY"]),
                                 sweep["MASKBITS"]).astype(sweep["MASKBITS"].dtype)
