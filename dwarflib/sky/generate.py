"""The simulated DR9-like sky: sweep files, truth table and simulated spectroscopic training surveys.

``write_simulated_sky(out_dir, n_sources, seed)`` writes

* ``out_dir/sweep-RRRsDDD-RRRsDDD.fits`` -- DR9 sweep format (exactly :data:`dwarflib.datamodel.SWEEP_COLUMNS`),
  one file per 10 x 5 deg box of the footprint, like the real sweeps;
* ``out_dir/truth.fits`` -- one row per sweep row: TARGETID, true redshift, log stellar mass, class, star flag,
  true magnitudes, sizes, population;
* ``out_dir/training-sample.fits`` -- the objects with a spectroscopic redshift from two simulated surveys:
  a bright BGS-like survey (DESI BGS Bright target selection, r < 19.5, over 30% of the bricks) and a deeper
  SAGA/LOW-Z-like dwarf survey (r < 21 with SAGA's colour and surface-brightness preselection, over the whole
  footprint, redshift success falling at low surface brightness): all sweep columns plus TARGETID, Z,
  LOGMSTAR, CLASS, IS_STAR, SURVEY, WEIGHT, SUPPLEMENT; it also holds a **nearby supplement**: extra galaxies
  at z < ``NEARBY_Z_MAX`` drawn from the same model (``NEARBY_OVERSAMPLING`` times the sky's expected number),
  observed and selected like every source, written only here (never to the sweeps or the truth), with importance
  weights (:func:`nearby_weight`) so that weighted counts are the sky's expectation (``summary["nearby_supplement"]``);
* with ``shreds=D`` (``--shreds D``, default 0: none) also large nearby galaxies and their Tractor shreds
  (:mod:`dwarflib.sky.shreds`): extra sweep rows beyond ``n_sources``, truth columns IS_SHRED and
  PARENT_TARGETID (a shred's CLASS, Z and LOGMSTAR are its host's: not signal), ``summary["shreds"]``;
* with ``satellites=True`` (default, :data:`DEFAULT_SATELLITES`; ``--no-satellites`` to leave it out) an
  environment: satellites around the sky's
  Milky-Way-mass hosts with SAGA's abundance, radial distribution and quenched fraction
  (:mod:`dwarflib.sky.satellites`), replacing field galaxies (``n_sources`` unchanged), truth columns
  IS_SATELLITE, HOST_TARGETID and R_HOST_KPC, ``summary["satellites"]``;
* ``out_dir/summary.json`` -- counts, area, densities, the model version, timings;
* ``out_dir/.dwarflib-simulate.json`` -- the names of the files the run wrote (:data:`OWN_FILES_NAME`).

A run replaces or removes only files that an earlier run recorded as its own in that folder; a folder with
other files it would overwrite (a user's ``truth.fits``) or that would be read as part of the sky (other
``sweep-*.fits``) is refused unless ``overwrite=True`` (``--overwrite``). The folder is locked for the run
(:func:`dwarflib.paths.locked_dir`): a second run into it fails at once, naming the first.

The physics is in :mod:`dwarflib.sky.physics`, the observation (noise, Tractor) in
:mod:`dwarflib.sky.observe`, and the calibration on real catalogues in
:mod:`dwarflib.sky.calibrate`. Same (n_sources, seed, area_deg2, chunk_size) -> identical files.

Only sources brighter than ``R_LIMIT`` (true, extinction-corrected r) are simulated: fainter ones never pass
the dwarf-survey or catalogue preselection (r < 21) even after noise. The surface density at that limit
(about 6,100 sources per deg^2 with the calibrated model, see ``summary.json``) sets the sky area for a
given number of sources.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from dwarflib import datamodel, paths
from dwarflib.conventions import ab_magnitude, mean_surface_brightness
from dwarflib.features import SHAPE_R_FLOOR_ARCSEC
from dwarflib.labels import assign_classes
from dwarflib.large_galaxies import SGA_REF_CAT
from dwarflib.options import positive_float, positive_int
from dwarflib.selections import BGS_BRIGHT, DWARF_SURVEY
from dwarflib.sky.observe import ObjidCounter, footprint, observe, random_positions
from dwarflib.sky.physics import (
    M_SUN_R,
    SkyModel,
    detection_probability,
    draw_galaxies,
    draw_stars,
    get_sampling_grid,
    load_sky_model,
    ml_coefficients,
    star_density,
)
from dwarflib.sky.satellites import (
    SATELLITE_TRUTH_COLUMNS,
    SatelliteModel,
    add_satellites,
    load_satellite_model,
    no_satellite_truth,
    place_satellites,
    satellite_rows,
    satellite_truth,
)
from dwarflib.sky.shreds import (
    SHRED_TRUTH_COLUMNS,
    draw_large_galaxies,
    mark_galaxy_mask,
    physical_host_density,
    set_host_reference,
)
from dwarflib.stream_writers import FitsStreamWriter
from dwarflib.survey_io import write_sweep

#: Version of the generator's output format and model; part of the cache key.
SKY_VERSION = "11"
#: True extinction-corrected r-band magnitude limit of the simulated sources [mag].
R_LIMIT = 21.5
#: Default number of sources of the book's simulated sky (sets the area through the surface density).
DEFAULT_N_SOURCES = 2_000_000
DEFAULT_SEED = 0
#: Seed of the simulated footprint that the candidate-catalogue chapter classifies (shares no object with the
#: training sky of seed :data:`DEFAULT_SEED`); the paper-comparison chapter reads its area.
FOOTPRINT_SEED = 2025
#: The default sky has an environment: satellites around its Milky-Way-mass hosts (:mod:`dwarflib.sky.satellites`;
#: ``simulate --no-satellites`` for a sky of field galaxies only).
DEFAULT_SATELLITES = True
#: Sources generated per chunk (memory ~ 1 kB per source in flight).
DEFAULT_CHUNK_SIZE = 250_000
#: Record (JSON) of the files a ``simulate`` run wrote into its folder: the only files a later run may replace.
OWN_FILES_NAME = ".dwarflib-simulate.json"
#: Products of a sky other than its sweep files.
SKY_PRODUCTS = ("truth.fits", "training-sample.fits", "summary.json")

#: BGS-like survey (magnitude limit: :data:`dwarflib.selections.BGS_BRIGHT`): fraction of targets that receive a
#: fibre and a redshift (DESI SV3 One-Percent survey BGS completeness is ~0.95 x redshift success ~0.99).
BGS_COMPLETENESS = 0.94
#: Fraction of the footprint's bricks covered by the BGS-like survey (like a survey in progress, or DESI's
#: One-Percent survey): keeps the bright, contaminant-dominated part of the labelled sample at a size that
#: trains quickly, without changing its composition.
BGS_AREA_FRACTION = 0.3
#: Dwarf survey (SAGA / DESI LOW-Z-like; magnitude limit: :data:`dwarflib.selections.DWARF_SURVEY`): fraction of
#: preselected targets observed.
DWARF_SAMPLING = 0.8

#: Truth POP of galaxies by population index (0 SF, 1 Q).
_POP_NAMES = np.array([b"SF", b"Q"], dtype="S4")

SURVEY_BGS = "BGS-like"
SURVEY_DWARF = "dwarf-survey"

#: Upper redshift of the nearby volume that the training sample over-samples (issue #13: bright, very nearby
#: dwarfs like ELVES's, D < 12 Mpc, z < 0.003, were almost absent from training).
NEARBY_Z_MAX = 0.005
#: Volume factor k of the nearby supplement: it holds k times the sky's expected number of galaxies at
#: z < NEARBY_Z_MAX (drawn from the same model, observed and selected like the sky's). Chosen for a stated
#: target: a few hundred z < 0.005 signal objects in the 20 % test part of the book's default sky (2,000,000
#: sources), enough for per-bin recall with intervals of ~0.05; see summary["nearby_supplement"].
NEARBY_OVERSAMPLING = 50
#: OBJIDs of the supplement's rows start here in every brick, so their TARGETIDs never equal a sweep row's
#: (a brick holds a few hundred sky sources; the OBJID field has 22 bits).
SUPPLEMENT_OBJID_OFFSET = 1 << 21

TRUTH_COLUMNS: dict[str, tuple[str, str, str]] = {
    "TARGETID": ("i8", "", "unique id (RELEASE, BRICKID, OBJID), matches the sweep row"),
    "Z": ("f8", "", "true redshift (0 for stars)"),
    "LOGMSTAR": ("f4", "", "true log10 stellar mass [dex Msun] (NaN for stars)"),
    "CLASS": ("i2", "", "7-class label (dwarflib.labels default scheme)"),
    "IS_STAR": ("b1", "", "True for stars"),
    "POP": ("S4", "", "SF (star-forming), Q (quiescent) or STAR"),
    "MAG_G_TRUE": ("f4", "mag", "true g, AB, extinction corrected"),
    "MAG_R_TRUE": ("f4", "mag", "true r, AB, extinction corrected"),
    "MAG_Z_TRUE": ("f4", "mag", "true z, AB, extinction corrected"),
    "MAG_W1_TRUE": ("f4", "mag", "true W1, AB, extinction corrected"),
    "MAG_W2_TRUE": ("f4", "mag", "true W2, AB, extinction corrected"),
    "ABSMAG_R": ("f4", "mag", "absolute r (K-corrected to z=0 with the calibrated M/L(z) relation)"),
    "LOG_ML_R": ("f4", "", "observed-frame log10 stellar mass-to-light ratio in r [dex]"),
    "RE_KPC": ("f4", "kpc", "true half-light radius along the major axis"),
    "RE_ARCSEC": ("f4", "arcsec", "true half-light radius along the major axis"),
    "BA_TRUE": ("f4", "", "true axis ratio b/a"),
    "SERSIC_TRUE": ("f4", "", "true Sersic index"),
    "MU_EFF_R_TRUE": ("f4", "arcsec-2 mag", "true mean r surface brightness within r_e, extinction corrected"),
}
TRAINING_EXTRA: dict[str, tuple[str, str, str]] = {
    "TARGETID": TRUTH_COLUMNS["TARGETID"],
    "Z": ("f8", "", "spectroscopic redshift (0 for stars)"),
    "LOGMSTAR": TRUTH_COLUMNS["LOGMSTAR"],
    "CLASS": TRUTH_COLUMNS["CLASS"],
    "IS_STAR": TRUTH_COLUMNS["IS_STAR"],
    "SURVEY": ("S12", "", f"survey that measured the redshift: {SURVEY_BGS} or {SURVEY_DWARF}"),
    "WEIGHT": ("f8", "", "importance weight: 1/(1+k) for galaxies at z < NEARBY_Z_MAX (sky and supplement), "
                         "else 1; weighted counts are the sky's expectation"),
    "SUPPLEMENT": ("b1", "", "True for rows of the nearby supplement (not in the sweeps or the truth table)"),
}


# ---------------------------------------------------------------------------------------------------
# One chunk of sky
# ---------------------------------------------------------------------------------------------------
def model_version(model: SkyModel) -> str:
    """Short hash of the model parameters and the generator version."""
    text = json.dumps(model.to_dict(), sort_keys=True, default=float) + SKY_VERSION
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def source_densities(model: SkyModel, r_limit: float = R_LIMIT, n_pilot: int = 200_000) -> dict:
    """Surface densities [deg^-2] of detected galaxies and of stars brighter than ``r_limit``.

    The galaxy detection fraction (low surface brightness losses) comes from a fixed-seed pilot draw.
    """
    grid = get_sampling_grid(model, r_limit)
    pilot = draw_galaxies(np.random.default_rng(12345), n_pilot, model, r_limit)
    p_det = float(detection_probability(pilot["MU_EFF_R_TRUE"], model).mean())
    gal = grid["density_deg2"] * p_det
    stars = star_density(model, r_limit)
    return {"galaxies": gal, "stars": stars, "total": gal + stars, "detected_fraction": p_det,
            "galaxies_before_detection": grid["density_deg2"]}


def _draw_detected_galaxies(rng, n, model, r_limit, p_det):
    parts, have = [], 0
    while have < n or not parts:  # n = 0 (a chunk of stars only): one draw gives the empty columns
        m = int((n - have) / max(p_det, 0.05) * 1.002) + 64
        g = draw_galaxies(rng, m, model, r_limit)
        keep = rng.random(m) < detection_probability(g["MU_EFF_R_TRUE"], model)
        rows = np.flatnonzero(keep)[: n - have]  # detected rows; those beyond n would be cut below anyway
        parts.append({k: v.take(rows, axis=0) for k, v in g.items()})
        have += int(keep.sum())
    if len(parts) == 1:
        return parts[0]
    return {k: np.concatenate([p[k] for p in parts])[:n] for k in parts[0]}


def band_magnitudes(r, colours) -> dict:
    """True magnitudes per band [mag] (keys G, R, Z, W1, W2) from r and the colour columns of
    :func:`dwarflib.sky.physics.draw_galaxies` (g-r, r-z, z-W1, W1-W2)."""
    mags = {"R": r, "G": r + colours[:, 0], "Z": r - colours[:, 1]}
    mags["W1"] = mags["Z"] - colours[:, 2]
    mags["W2"] = mags["W1"] - colours[:, 3]
    return mags


def generate_chunk(rng: np.random.Generator, n: int, box: dict, model: SkyModel, dens: dict,
                   counter: ObjidCounter, r_limit: float = R_LIMIT, satellites: SatelliteModel | None = None,
                   satellite_stats: dict | None = None) -> tuple[dict, dict]:
    """Sweep columns and truth columns (dicts of arrays) of ``n`` sources in one footprint box.

    ``satellites``: satellite systems around the chunk's Milky-Way-mass hosts (:mod:`dwarflib.sky.satellites`;
    they replace field galaxies, the chunk keeps ``n`` rows; own random stream spawned from ``rng``, so every
    other row is unchanged), truth columns IS_SATELLITE, HOST_TARGETID, R_HOST_KPC, counts added to
    ``satellite_stats``. None (default): no satellites, as before.
    """
    n_star = int(rng.binomial(n, dens["stars"] / dens["total"]))
    n_gal = n - n_star
    g = _draw_detected_galaxies(rng, n_gal, model, r_limit, dens["detected_fraction"])
    s = draw_stars(rng, n_star, model, r_limit)
    if satellites is not None:
        g, sat_info = add_satellites(rng.spawn(1)[0], g, box, model, satellites, r_limit, satellite_stats)
    col_g, col_s = g["COLOURS"], s["COLOURS"]

    def cat(a, b):
        return np.concatenate([a, b])

    is_star = cat(np.zeros(n_gal, bool), np.ones(n_star, bool))
    r = cat(g["R_TRUE"], s["R_TRUE"])
    colours = np.concatenate([col_g, col_s])
    mags = band_magnitudes(r, colours)
    re_arcsec = cat(g["RE_ARCSEC"], np.zeros(n_star))
    ba = cat(g["BA_TRUE"], np.ones(n_star))
    src = {f"MAG_{b}": mags[b] for b in datamodel.BANDS}
    # observe() works in float32: columns only it reads are converted before the shuffle (same values)
    f4 = np.float32
    src.update(IS_POINT=is_star, RE_CIRC=(re_arcsec * np.sqrt(ba)).astype(f4),
               SERSIC_TRUE=cat(g["SERSIC_TRUE"], np.ones(n_star)).astype(f4),
               BA_TRUE=ba, PA=(rng.random(n) * np.pi).astype(f4),
               GAIA_G_TRUE=cat(np.zeros(n_gal), s["R_TRUE"] - 0.12 - 0.28 * s["COLOURS"][:, 0]).astype(f4),
               PARALLAX_TRUE=cat(np.zeros(n_gal), s["PARALLAX_TRUE"]).astype(f4))
    # shuffle galaxies and stars together so that rows are not ordered by kind (take: v[perm], faster)
    perm = rng.permutation(n)
    src = {k: v.take(perm) for k, v in src.items()}
    ra, dec = random_positions(rng, n, box)
    if satellites is not None:
        sat_rows, host_rows = satellite_rows(sat_info, perm)
        is_sat = sat_info["IS_SATELLITE"]
        place_satellites(ra, dec, sat_rows, host_rows, sat_info["D_EAST_DEG"][is_sat],
                         sat_info["D_NORTH_DEG"][is_sat], box)
    sweep = observe(rng, src, ra, dec, model)
    sweep["OBJID"] = counter.assign(sweep["BRICKID"])
    targetid = datamodel.unique_id(sweep["RELEASE"], sweep["BRICKID"], sweep["OBJID"])

    z = cat(g["Z"], np.zeros(n_star)).take(perm)
    logm = cat(g["LOGMSTAR"], np.full(n_star, np.nan)).take(perm)
    is_star = src["IS_POINT"]
    pop = cat(_POP_NAMES.take(g["POP"]), np.full(n_star, b"STAR", dtype="S4")).take(perm)
    ml = cat(g["ML"], np.full(n_star, np.nan)).take(perm)
    a0, _ = ml_coefficients(0.0, model)
    a_z, _ = ml_coefficients(g["Z"], model)  # galaxies only
    # absolute magnitude K-corrected to z = 0: M/L at z=0 for the same galaxy (rest-frame colour approximated
    # by inverting the observed-frame relation at fixed residual); NaN for stars
    absmag = cat(M_SUN_R + 2.5 * (g["ML"] - (a_z - a0) - g["LOGMSTAR"]), np.full(n_star, np.nan)).take(perm)
    truth = {
        "TARGETID": targetid, "Z": z, "LOGMSTAR": logm,
        "CLASS": assign_classes(z, logm, is_star), "IS_STAR": is_star, "POP": pop,
        **{f"MAG_{b}_TRUE": src[f"MAG_{b}"] for b in datamodel.BANDS},
        "ABSMAG_R": absmag, "LOG_ML_R": ml,
        "RE_KPC": cat(g["RE_KPC"], np.zeros(n_star)).take(perm), "RE_ARCSEC": re_arcsec.take(perm),
        "BA_TRUE": src["BA_TRUE"], "SERSIC_TRUE": cat(g["SERSIC_TRUE"], np.zeros(n_star)).take(perm),
        "MU_EFF_R_TRUE": cat(g["MU_EFF_R_TRUE"], np.full(n_star, np.nan)).take(perm),
    }
    if satellites is not None:
        truth.update(satellite_truth(sat_info, perm, targetid))
    return sweep, truth


def shred_chunk(rng: np.random.Generator, box: dict, model: SkyModel, counter: ObjidCounter,
                density_deg2: float) -> tuple[dict, dict, dict]:
    """Sweep and truth columns of the large galaxies and their shreds in one box
    (:mod:`dwarflib.sky.shreds`), and the hosts' ellipses (for the GALAXY mask of the box's other rows)."""
    lg = draw_large_galaxies(rng, density_deg2, box, model)
    src = lg["src"]
    sweep = observe(rng, src, lg["RA"], lg["DEC"], model)
    sweep["OBJID"] = counter.assign(sweep["BRICKID"])
    targetid = datamodel.unique_id(sweep["RELEASE"], sweep["BRICKID"], sweep["OBJID"])
    is_host = lg["HOST"] < 0
    set_host_reference(sweep, is_host)
    mark_galaxy_mask(sweep, lg["ellipses"])
    host_rows = np.flatnonzero(is_host)
    n = len(targetid)
    is_star = np.zeros(n, bool)
    a0, _ = ml_coefficients(0.0, model)
    a_z, _ = ml_coefficients(lg["Z"], model)
    absmag = M_SUN_R + 2.5 * (lg["LOG_ML_R"] - (a_z - a0) - lg["LOGMSTAR"])
    # a shred's absolute magnitude from its own flux at the host's distance (its mass is the host's)
    absmag = np.where(is_host, absmag, src["MAG_R"] - (src["MAG_R"][host_rows][np.maximum(lg["HOST"], 0)]
                                                       if len(host_rows) else 0) + absmag)
    truth = {
        "TARGETID": targetid, "Z": lg["Z"], "LOGMSTAR": lg["LOGMSTAR"],
        "CLASS": assign_classes(lg["Z"], lg["LOGMSTAR"], is_star), "IS_STAR": is_star,
        "POP": np.full(n, _POP_NAMES[0]),
        **{f"MAG_{b}_TRUE": src[f"MAG_{b}"] for b in datamodel.BANDS},
        "ABSMAG_R": absmag, "LOG_ML_R": lg["LOG_ML_R"], "RE_KPC": lg["RE_KPC"], "RE_ARCSEC": lg["RE_ARCSEC"],
        "BA_TRUE": src["BA_TRUE"], "SERSIC_TRUE": src["SERSIC_TRUE"], "MU_EFF_R_TRUE": lg["MU_EFF_R_TRUE"],
        "IS_SHRED": ~is_host,
        "PARENT_TARGETID": np.where(is_host, -1, targetid[host_rows][np.maximum(lg["HOST"], 0)]
                                    if len(host_rows) else -1).astype(np.int64),
    }
    return sweep, truth, lg["ellipses"]


# ---------------------------------------------------------------------------------------------------
# Simulated spectroscopic surveys
# ---------------------------------------------------------------------------------------------------
def _mag(flux, trans):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(flux > 0, ab_magnitude(np.maximum(flux, 1e-30), trans), np.inf)


def _sweep_mag(sweep: dict, flux_col: str, trans_col: str | None, cache: dict | None) -> np.ndarray:
    """AB magnitude [mag] of a sweep flux column, extinction corrected by ``trans_col`` (None: raw); +inf for
    flux <= 0. Memoised in ``cache`` (when given) so that the survey selections share their magnitudes."""
    key = (flux_col, trans_col)
    if cache is not None and key in cache:
        return cache[key]
    m = _mag(sweep[flux_col], 1.0 if trans_col is None else sweep[trans_col])
    if cache is not None:
        cache[key] = m
    return m


def bgs_like_targets(sweep: dict, mag_cache: dict | None = None) -> np.ndarray:
    """DESI BGS_BRIGHT-like photometric target selection (desitarget ``isBGS``; Hahn et al. 2023), per row.

    Extinction-corrected r < 19.5 (19.54 in the north, BASS offset) and r > 12; fibre-magnitude cut
    rfib < r + 5.1 for r < 17.8 and rfib < 22.9 for 17.8 < r < 20 (a low-surface-brightness cut);
    FIBERTOTFLUX_R fainter than 15 mag; Gaia star rejection G - r_raw > 0.6 or no Gaia match;
    -1 < g-r < 4, -1 < r-z < 4; NOBS >= 1 and FLUX_IVAR > 0 in g, r and z; not in a BRIGHT-star mask.
    ``mag_cache``: optional dict in which the selections share their magnitudes (see ``_sweep_mag``).
    """
    r = _sweep_mag(sweep, "FLUX_R", "MW_TRANSMISSION_R", mag_cache)
    g = _sweep_mag(sweep, "FLUX_G", "MW_TRANSMISSION_G", mag_cache)
    zz = _sweep_mag(sweep, "FLUX_Z", "MW_TRANSMISSION_Z", mag_cache)
    rfib = _sweep_mag(sweep, "FIBERFLUX_R", "MW_TRANSMISSION_R", mag_cache)
    rfibtot = _sweep_mag(sweep, "FIBERTOTFLUX_R", "MW_TRANSMISSION_R", mag_cache)
    r_raw = _sweep_mag(sweep, "FLUX_R", None, mag_cache)
    gaia = sweep["GAIA_PHOT_G_MEAN_MAG"]
    star = (gaia > 0) & (gaia - r_raw < 0.6)
    fib_ok = np.where(r < 17.8, rfib < r + 5.1, rfib < 22.9)
    data = np.ones(len(r), bool)
    for b in datamodel.OPTICAL_BANDS:
        data &= (sweep[f"NOBS_{b}"] > 0) & (sweep[f"FLUX_IVAR_{b}"] > 0)
    bright = (sweep["MASKBITS"] & (1 << datamodel.MASKBITS["BRIGHT"])) != 0
    r_lim = np.where(sweep["RELEASE"] == 9011, BGS_BRIGHT.r_max + 0.04, BGS_BRIGHT.r_max)
    with np.errstate(invalid="ignore"):
        gr, rz = g - r, r - zz
        col = (gr > -1) & (gr < 4) & (rz > -1) & (rz < 4)
    return (r < r_lim) & (r > 12) & (rfibtot > 15) & fib_ok & ~star & col & data & ~bright


def dwarf_survey_targets(sweep: dict, mag_cache: dict | None = None) -> np.ndarray:
    """SAGA-like dwarf-survey preselection (Mao et al. 2021, 2024), boolean per row.

    r < 21 (extinction corrected); not a Gaia star; extended (TYPE != PSF);
    (g-r) - sigma_gr + 0.06 (r - 14) < 0.9; mu_eff + sigma_mu - 0.7 (g-r) > 18.5, with
    mu_eff = r + 2.5 log10(2 pi SHAPE_R^2) [mag/arcsec^2].
    ``mag_cache``: optional dict in which the selections share their magnitudes (see ``_sweep_mag``).
    """
    r = _sweep_mag(sweep, "FLUX_R", "MW_TRANSMISSION_R", mag_cache)
    g = _sweep_mag(sweep, "FLUX_G", "MW_TRANSMISSION_G", mag_cache)
    r_raw = _sweep_mag(sweep, "FLUX_R", None, mag_cache)
    gaia = sweep["GAIA_PHOT_G_MEAN_MAG"]
    star = (gaia > 0) & (gaia - r_raw < 0.6)
    with np.errstate(divide="ignore", invalid="ignore"):
        gr = g - r
        sig_r = 1.0857 / (np.abs(sweep["FLUX_R"]) * np.sqrt(sweep["FLUX_IVAR_R"]))
        sig_g = 1.0857 / (np.abs(sweep["FLUX_G"]) * np.sqrt(sweep["FLUX_IVAR_G"]))
        sig_gr = np.hypot(sig_r, sig_g)
        re = sweep["SHAPE_R"].astype(float)
        mu = mean_surface_brightness(r, re)
        sig_mu = np.hypot(sig_r, 2.17 * np.sqrt(1.0 / np.maximum(sweep["SHAPE_R_IVAR"], 1e-30)) / np.maximum(re, 1e-3))
        sig_mu = np.minimum(sig_mu, 1.0)
        ok = (r < DWARF_SURVEY.r_max) & ~star & (sweep["TYPE"] != b"PSF") & np.isfinite(gr)
        ok &= gr - np.minimum(sig_gr, 0.5) + 0.06 * (r - 14) < 0.9
        ok &= mu + sig_mu - 0.7 * gr > 18.5
    return ok


def dwarf_redshift_success(sweep: dict, mag_cache: dict | None = None) -> np.ndarray:
    """Probability of a successful redshift in the dwarf survey: lower for low surface brightness [0-1]."""
    r = _sweep_mag(sweep, "FLUX_R", "MW_TRANSMISSION_R", mag_cache)
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = mean_surface_brightness(r, np.maximum(sweep["SHAPE_R"], SHAPE_R_FLOOR_ARCSEC))
    return np.clip(0.95 - 0.2 * (np.nan_to_num(mu, nan=30.0) - 23.5).clip(0, None), 0.5, 0.95)


def brick_in_bgs_area(brickid) -> np.ndarray:
    """Whether a brick belongs to the BGS-like survey's area (a fixed, seed-independent hash of BRICKID)."""
    h = (np.asarray(brickid, dtype=np.uint64) * np.uint64(2654435761)) % np.uint64(2**32)
    return h.astype(np.float64) / 2**32 < BGS_AREA_FRACTION


def nearby_weight(z, is_star, oversampling: float, regular=None) -> np.ndarray:
    """Importance weight of training rows: 1/(1 + ``oversampling``) for galaxies with z < :data:`NEARBY_Z_MAX`
    (the volume the supplement over-samples by that factor), 1 for everything else.

    ``regular``: optional boolean per row, False for rows that the supplement does not reproduce (the large
    galaxies and shreds of :mod:`dwarflib.sky.shreds`): they keep weight 1.
    """
    z = np.asarray(z, dtype=float)
    near = ~np.asarray(is_star, dtype=bool) & (z < NEARBY_Z_MAX)
    if regular is not None:
        near &= np.asarray(regular, dtype=bool)
    return np.where(near, 1.0 / (1.0 + float(oversampling)), 1.0)


def nearby_model(model: SkyModel) -> SkyModel:
    """The sky model restricted to galaxies at z < :data:`NEARBY_Z_MAX` (same physics; the sampling grid ends
    there, as in :func:`dwarflib.sky.samples.mock_dwarf_frame`)."""
    return replace(model, z_max=NEARBY_Z_MAX)  # a new instance: its arrays are computed afresh


def supplement_chunk(rng: np.random.Generator, box: dict, n_expected: float, model_near: SkyModel,
                     dens_near: dict) -> tuple[dict, dict, np.ndarray] | None:
    """Sweep rows, truth and survey labels (:func:`select_training`) of the nearby supplement in one box.

    ``n_expected``: the supplement's expected number of detected galaxies in the box (k times the sky's);
    the number drawn is Poisson. Galaxies come from ``model_near`` (:func:`nearby_model`), are observed by
    :func:`generate_chunk` (positions in the box) and get OBJIDs from :data:`SUPPLEMENT_OBJID_OFFSET` on.
    None when the draw gives no galaxy.
    """
    n = int(rng.poisson(n_expected))
    if n == 0:
        return None
    counter = ObjidCounter()
    counter.next[:] = SUPPLEMENT_OBJID_OFFSET
    dens = {**dens_near, "stars": 0.0, "total": dens_near["galaxies"]}
    sweep, truth = generate_chunk(rng, n, box, model_near, dens, counter)
    return sweep, truth, select_training(rng, sweep)


def select_training(rng: np.random.Generator, sweep: dict) -> np.ndarray:
    """Survey label per row: 0 none, 1 BGS-like, 2 dwarf survey (BGS-like takes precedence).

    BGS-like: :func:`bgs_like_targets` in the bricks of :func:`brick_in_bgs_area`, observed with probability
    ``BGS_COMPLETENESS``. Dwarf survey: :func:`dwarf_survey_targets` over the whole footprint, observed with
    probability ``DWARF_SAMPLING`` times :func:`dwarf_redshift_success`.
    """
    n = len(sweep["RA"])
    mags: dict = {}  # magnitudes shared by the selections
    bgs = bgs_like_targets(sweep, mags) & brick_in_bgs_area(sweep["BRICKID"]) & (rng.random(n) < BGS_COMPLETENESS)
    u = rng.random(n)
    dwarf = dwarf_survey_targets(sweep, mags) & (u < DWARF_SAMPLING * dwarf_redshift_success(sweep, mags))
    return np.where(bgs, 1, np.where(dwarf, 2, 0)).astype(np.int8)


# ---------------------------------------------------------------------------------------------------
# The whole sky
# ---------------------------------------------------------------------------------------------------
def _plan(n_sources: int, area_deg2: float | None, model: SkyModel, seed: int) -> tuple[list[dict], dict, float]:
    dens = source_densities(model)
    area = float(area_deg2) if area_deg2 is not None else n_sources / dens["total"]
    boxes = footprint(area)
    rng = np.random.default_rng([seed, 0])
    counts = rng.multinomial(n_sources, np.array([b["area"] for b in boxes]) / area)
    for b, c in zip(boxes, counts, strict=True):
        b["n"] = int(c)
    return boxes, dens, area


def iter_simulated_sky(n_sources: int, seed: int = DEFAULT_SEED, area_deg2: float | None = None,
                       chunk_size: int = DEFAULT_CHUNK_SIZE, model: SkyModel | None = None,
                       shreds: float = 0.0, satellites: SatelliteModel | None = None,
                       satellite_stats: dict | None = None):
    """Yield ``(box, sweep_chunk, truth_chunk, survey_chunk)`` for the whole sky, chunk by chunk.

    Memory stays flat in ``n_sources``: each chunk is independent (its own random stream derived from
    ``seed``, the box index and the chunk index); only the OBJID counters persist.

    ``shreds`` [deg^-2]: mean surface density of shredded large galaxies (:mod:`dwarflib.sky.shreds`); 0 (the
    default) adds none and leaves every file bit-identical. With shreds > 0 each box ends with one more chunk
    (the hosts and their shreds, own random stream), the rows of the box inside a host's mask ellipse get
    MASKBITS GALAXY, and every truth chunk carries IS_SHRED and PARENT_TARGETID.

    ``satellites``: the satellite systems of :func:`generate_chunk` (None, the default: none); every truth
    chunk then carries IS_SATELLITE, HOST_TARGETID and R_HOST_KPC, and ``satellite_stats`` the counts.
    """
    if not (shreds >= 0 and np.isfinite(shreds)):
        raise ValueError(f"shreds must be a finite density >= 0 [deg^-2], got {shreds}")
    if n_sources < 1:
        raise ValueError(f"n_sources must be >= 1, got {n_sources}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    model = load_sky_model() if model is None else model
    boxes, dens, _ = _plan(n_sources, area_deg2, model, seed)
    counter = ObjidCounter()
    for ib, box in enumerate(boxes):
        if shreds > 0:  # drawn before the box's sources (own stream): their mask ellipses mark those rows
            # the hosts' OBJIDs follow the box's other sources: a counter of their own, offset when written
            rng_l = np.random.default_rng([seed, 2, ib])
            l_sweep, l_truth, ellipses = shred_chunk(rng_l, box, model, ObjidCounter(), shreds)
        for ic, start in enumerate(range(0, box["n"], chunk_size)):
            n = min(chunk_size, box["n"] - start)
            rng = np.random.default_rng([seed, 1, ib, ic])
            sweep, truth = generate_chunk(rng, n, box, model, dens, counter, satellites=satellites,
                                          satellite_stats=satellite_stats)
            survey = select_training(rng, sweep)
            if shreds > 0:
                mark_galaxy_mask(sweep, ellipses)
                truth.update(IS_SHRED=np.zeros(n, bool), PARENT_TARGETID=np.full(n, -1, np.int64))
            yield box, sweep, truth, survey
        if shreds > 0 and len(l_sweep["RA"]):
            # OBJIDs after the box's other sources; TARGETIDs follow
            l_sweep["OBJID"] = counter.assign(l_sweep["BRICKID"])
            old_id = l_truth["TARGETID"]
            new_id = datamodel.unique_id(l_sweep["RELEASE"], l_sweep["BRICKID"], l_sweep["OBJID"])
            remap = dict(zip(old_id.tolist(), new_id.tolist(), strict=True))
            l_truth["TARGETID"] = new_id
            l_truth["PARENT_TARGETID"] = np.array([remap.get(t, -1) for t in l_truth["PARENT_TARGETID"].tolist()],
                                                  np.int64)
            if satellites is not None:
                l_truth.update(no_satellite_truth(len(l_truth["TARGETID"])))
            yield box, l_sweep, l_truth, select_training(rng_l, l_sweep)


def _own_files(out_dir: Path) -> set[str]:
    """Names of the files that earlier ``simulate`` runs recorded as theirs in ``out_dir``.

    The record is :data:`OWN_FILES_NAME`; a sky written before the record existed is recognised by its
    ``summary.json`` (``sky_version`` and ``sweep_files``).
    """
    record = out_dir / OWN_FILES_NAME
    if record.is_file():
        return set(json.loads(record.read_text())["files"])
    try:
        summary = json.loads((out_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return set()
    if isinstance(summary, dict) and "sky_version" in summary and isinstance(summary.get("sweep_files"), list):
        return set(summary["sweep_files"]) | set(SKY_PRODUCTS)
    return set()


def _record_own_files(out_dir: Path, names) -> None:
    """Write :data:`OWN_FILES_NAME` (atomically) listing ``names``."""
    tmp = out_dir / f".{OWN_FILES_NAME}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"files": sorted(names)}, indent=1))
    os.replace(tmp, out_dir / OWN_FILES_NAME)


def write_simulated_sky(out_dir, n_sources: int, seed: int = DEFAULT_SEED, area_deg2: float | None = None,
                        chunk_size: int = DEFAULT_CHUNK_SIZE, progress: bool = True,
                        model: SkyModel | None = None, overwrite: bool = False, shreds: float = 0.0,
                        nearby_oversampling: float = NEARBY_OVERSAMPLING, satellites: bool = DEFAULT_SATELLITES,
                        sat_model: SatelliteModel | None = None) -> dict:
    """Generate the simulated sky and write sweeps, truth and training sample into ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Output directory (created).
    n_sources : int
        Number of sources (galaxies + stars) in the sweep files.
    seed : int
        Random seed; same inputs -> identical files.
    area_deg2 : float, optional
        Sky area [deg^2]. Default: ``n_sources`` / (physical surface density at r < R_LIMIT), so that the
        sky has a realistic density. With an explicit area the populations are unchanged but the density
        becomes n_sources / area_deg2.
    chunk_size : int
        Sources generated at a time.
    progress : bool
        Show a tqdm progress bar.
    overwrite : bool
        Also replace or remove files of ``out_dir`` that no earlier ``simulate`` run recorded as its own
        (see the module docstring). Default: refuse such a folder.
    shreds : float
        Mean surface density [deg^-2] of large nearby galaxies written with their Tractor shreds
        (:mod:`dwarflib.sky.shreds`; the physical density is about 0.05, summary ``shreds``). Default 0: none,
        and the files are bit-identical to a sky without the option; with shreds > 0 the truth table also
        has IS_SHRED and PARENT_TARGETID.
    nearby_oversampling : float
        Volume factor k of the nearby supplement of the training sample (default :data:`NEARBY_OVERSAMPLING`;
        0: none, every WEIGHT 1). The sweeps and the truth table do not depend on it.
    satellites : bool
        Give the sky an environment: satellites around its Milky-Way-mass hosts with SAGA's abundance, radial
        distribution and quenched fraction (:mod:`dwarflib.sky.satellites`; they replace field galaxies, so
        ``n_sources`` and the density are unchanged). Default :data:`DEFAULT_SATELLITES` (True): the truth
        table also has IS_SATELLITE, HOST_TARGETID and R_HOST_KPC, the training sample IS_SATELLITE, and the
        summary ``satellites`` (counts and the satellite model). False: field galaxies only; every
        non-satellite row is the same as with True (the satellites draw from their own random stream).
    sat_model : SatelliteModel, optional
        The satellite model (default: the package's, :func:`dwarflib.sky.satellites.load_satellite_model`);
        ignored without satellites. With ``model`` it makes skies of another calibration (the two-fold check
        of ``benchmarks/parity_seeds.py --fit-half verification``); the summary stores both models
        (``model``, ``satellites["model"]``).

    Returns
    -------
    dict
        The summary (also written to ``out_dir/summary.json``).

    Raises
    ------
    FileExistsError
        When ``out_dir`` holds files this run would overwrite or remove that are not its own, naming them.
    dwarflib.paths.FolderLockedError
        When another run holds ``out_dir``.
    """
    if not (isinstance(shreds, (int, float)) and np.isfinite(shreds) and shreds >= 0):
        raise ValueError(f"shreds must be a finite density >= 0 [deg^-2], got {shreds!r}")
    if not (isinstance(nearby_oversampling, (int, float)) and np.isfinite(nearby_oversampling)
            and nearby_oversampling >= 0):
        raise ValueError(f"nearby_oversampling must be a finite factor >= 0, got {nearby_oversampling!r}")
    out_dir = Path(out_dir)
    command = f"simulate n_sources={n_sources} seed={seed} ({shlex.join(sys.argv)})"
    with paths.locked_dir(out_dir, command):
        return _write_simulated_sky(out_dir, n_sources, seed, area_deg2, chunk_size, progress, model, overwrite,
                                    shreds, nearby_oversampling, satellites, sat_model)


def _write_simulated_sky(out_dir: Path, n_sources: int, seed: int, area_deg2: float | None, chunk_size: int,
                         progress: bool, model: SkyModel | None, overwrite: bool, shreds: float = 0.0,
                         nearby_oversampling: float = NEARBY_OVERSAMPLING, satellites: bool = DEFAULT_SATELLITES,
                         sat_model: SatelliteModel | None = None) -> dict:
    """:func:`write_simulated_sky` inside the folder's lock."""
    from astropy.table import Table
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    model = load_sky_model() if model is None else model
    boxes, dens, area = _plan(n_sources, area_deg2, model, seed)
    # files this run may write, files it would remove (other sweep files would be read as part of this sky)
    own = _own_files(out_dir)
    planned = {b["name"] for b in boxes} | set(SKY_PRODUCTS)
    present = {p.name for p in out_dir.iterdir() if p.is_file()}
    old_sweeps = {p.name for p in out_dir.glob("sweep-*.fits")}
    foreign = sorted(((planned & present) | (old_sweeps - planned)) - own)
    if foreign and not overwrite:
        raise FileExistsError(
            f"{out_dir}: holds {len(foreign)} file(s) that `dwarflib simulate` did not write and would "
            f"overwrite or remove: {', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''}; "
            f"use an empty folder, or overwrite=True (--overwrite) to replace them")
    removable = own | set(foreign)
    _record_own_files(out_dir, own | planned)  # a run killed from here on leaves only files it may redo
    version = model_version(model)
    header = {"SIMSEED": seed, "SIMVERS": version, "SIMNSRC": n_sources}
    truth_cols = TRUTH_COLUMNS | (SHRED_TRUTH_COLUMNS if shreds > 0 else {})
    if shreds > 0:
        header["SIMSHRED"] = float(shreds)
    sat_model = (load_satellite_model() if sat_model is None else sat_model) if satellites else None
    sat_stats: dict = {}
    if satellites:
        truth_cols = truth_cols | SATELLITE_TRUTH_COLUMNS
        header["SIMSAT"] = True
    truth_w = FitsStreamWriter.for_columns(out_dir / "truth.fits", truth_cols, table_cards=header.items(),
                                           atomic=True)
    sweep_cols = list(datamodel.SWEEP_COLUMNS)
    train_cols = {c: (dt, u, d) for c, (dt, u, d) in datamodel.SWEEP_COLUMNS.items()} | TRAINING_EXTRA
    if satellites:  # the labelled sample says which objects are satellites (the parity compares like with like)
        train_cols = train_cols | {"IS_SATELLITE": SATELLITE_TRUTH_COLUMNS["IS_SATELLITE"]}
    train_w = FitsStreamWriter.for_columns(out_dir / "training-sample.fits", train_cols,
                                           table_cards=(header | {"SIMNEARK": float(nearby_oversampling)}).items(),
                                           atomic=True)
    counts = {"n_sources": 0, "n_stars": 0, "class_counts": np.zeros(7, np.int64), "n_shreds": 0, "n_hosts": 0,
              "training": {SURVEY_BGS: np.zeros(7, np.int64), SURVEY_DWARF: np.zeros(7, np.int64)},
              "sky_nearby": 0, "n_training": 0}

    def write_training(sweep, truth, survey, supplement: bool, regular=None) -> np.ndarray:
        """Write the rows with a survey label to the training sample (with WEIGHT and SUPPLEMENT)."""
        sel = survey > 0
        if sel.any():
            rows = {c: sweep[c][sel] for c in sweep_cols}
            rows.update(TARGETID=truth["TARGETID"][sel], Z=truth["Z"][sel], LOGMSTAR=truth["LOGMSTAR"][sel],
                        CLASS=truth["CLASS"][sel], IS_STAR=truth["IS_STAR"][sel],
                        SURVEY=np.where(survey[sel] == 1, SURVEY_BGS.encode(), SURVEY_DWARF.encode()),
                        WEIGHT=nearby_weight(truth["Z"][sel], truth["IS_STAR"][sel], nearby_oversampling,
                                             None if regular is None else regular[sel]),
                        SUPPLEMENT=np.full(int(sel.sum()), supplement))
            if satellites:  # supplement chunks have no satellites
                rows["IS_SATELLITE"] = (truth["IS_SATELLITE"][sel] if "IS_SATELLITE" in truth
                                        else np.zeros(int(sel.sum()), bool))
            train_w.write(rows)
            counts["n_training"] += int(sel.sum())
        return sel

    files = []
    bar = tqdm(total=n_sources, unit="src", unit_scale=True, disable=not progress, desc="simulate")
    t_gen = 0.0
    try:
        current, parts = None, []

        def flush():
            if not parts:
                return
            table = Table({c: np.concatenate([p[c] for p in parts]) for c in sweep_cols}, copy=False)
            path = out_dir / current["name"]
            write_sweep(table, path, header=header, overwrite=True)
            files.append(path.name)
            parts.clear()

        gen = iter_simulated_sky(n_sources, seed, area_deg2, chunk_size, model, shreds=shreds,
                                 satellites=sat_model, satellite_stats=sat_stats)
        while True:
            tg = time.perf_counter()
            try:
                box, sweep, truth, survey = next(gen)
            except StopIteration:
                break
            t_gen += time.perf_counter() - tg
            if current is not None and box["name"] != current["name"]:
                flush()
            current = box
            parts.append({c: sweep[c] for c in sweep_cols})
            truth_w.write(truth)
            # the large galaxies and shreds (sky.shreds) are not part of the population the supplement draws
            regular = ~(truth["IS_SHRED"] | (sweep["REF_CAT"] == SGA_REF_CAT.encode())) if shreds > 0 else None
            sel = write_training(sweep, truth, survey, False, regular)
            counts["sky_nearby"] += int((sel & (nearby_weight(truth["Z"], truth["IS_STAR"], 1.0, regular) < 1)).sum())
            for s_id, name in ((1, SURVEY_BGS), (2, SURVEY_DWARF)):
                counts["training"][name] += np.bincount(truth["CLASS"][survey == s_id], minlength=7)
            counts["n_sources"] += len(survey)
            counts["n_stars"] += int(truth["IS_STAR"].sum())
            if shreds > 0:
                counts["n_shreds"] += int(truth["IS_SHRED"].sum())
                counts["n_hosts"] += int(np.isin(truth["TARGETID"], truth["PARENT_TARGETID"]).sum())
            counts["class_counts"] += np.bincount(truth["CLASS"], minlength=7)
            bar.update(len(survey))
        flush()
        truth_w.close()
        t_sup = time.perf_counter()
        sup = _write_nearby_supplement(boxes, dens, model, seed, nearby_oversampling, write_training)
        sup["seconds"] = time.perf_counter() - t_sup
        train_w.close()
        # the directory holds exactly this sky: sweep files of an earlier, different sky would be read as ours
        stale = sorted((set(p.name for p in out_dir.glob("sweep-*.fits")) - set(files)) & removable)
        if stale:
            warnings.warn(f"{out_dir}: removing {len(stale)} sweep file(s) of an earlier sky: {stale[:3]}...",
                          stacklevel=2)
            for name in stale:
                (out_dir / name).unlink()
    except BaseException:
        truth_w.abort()
        train_w.abort()
        raise
    finally:
        bar.close()
    summary = {
        "n_sources": counts["n_sources"], "n_galaxies": counts["n_sources"] - counts["n_stars"],
        "n_stars": counts["n_stars"], "seed": seed, "area_deg2": area, "r_limit": R_LIMIT,
        "density_deg2": counts["n_sources"] / area, "model_density_deg2": dens,
        "class_counts": counts["class_counts"].tolist(),
        "training_class_counts": {k: v.tolist() for k, v in counts["training"].items()},
        "n_training": counts["n_training"],
        "sweep_files": files, "model_version": version, "model": model.to_dict(), "sky_version": SKY_VERSION,
        "local_density": {"z_edges": list(model.local_density_z_edges), "density": list(model.local_density)},
        "chunk_size": chunk_size, "seconds_total": time.perf_counter() - t0, "seconds_generation": t_gen,
        "surveys": {SURVEY_BGS: {"r_limit": BGS_BRIGHT.r_max, "completeness": BGS_COMPLETENESS,
                                 "area_fraction": BGS_AREA_FRACTION},
                    SURVEY_DWARF: {"r_limit": DWARF_SURVEY.r_max, "sampling": DWARF_SAMPLING}},
    }
    summary["nearby_supplement"] = {**sup, "n_training_sky_nearby": counts["sky_nearby"]}
    if shreds > 0:  # only then: the default summary keeps its keys
        summary["shreds"] = {"density_deg2": float(shreds), "physical_density_deg2": physical_host_density(model),
                             "n_hosts": counts["n_hosts"], "n_shreds": counts["n_shreds"]}
    if satellites:  # only then: the default summary keeps its keys
        summary["satellites"] = {**sat_stats, "model": sat_model.to_dict()}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    _record_own_files(out_dir, set(files) | set(SKY_PRODUCTS))
    return summary


def _write_nearby_supplement(boxes: list[dict], dens: dict, model: SkyModel, seed: int, oversampling: float,
                             write_training) -> dict:
    """Draw, observe, select and write (``write_training``) the nearby supplement box by box; its summary.

    Each box gets ``oversampling`` times the sky's expected number of detected galaxies at z < NEARBY_Z_MAX
    in that box (its source count times their share of the model's surface density), from its own random
    stream ``[seed, 3, box index]`` (the sky's streams are untouched).
    """
    out = {"z_max": NEARBY_Z_MAX, "oversampling": float(oversampling),
           "weight_nearby": 1.0 / (1.0 + float(oversampling)), "expected_sky_nearby": 0.0, "n_generated": 0,
           "n_training": 0, "training_class_counts": {SURVEY_BGS: [0] * 7, SURVEY_DWARF: [0] * 7}}
    if oversampling <= 0:
        return out
    model_near = nearby_model(model)
    dens_near = source_densities(model_near)
    share = dens_near["galaxies"] / dens["total"]  # detected z < NEARBY_Z_MAX galaxies per sky source
    tcc = {k: np.zeros(7, np.int64) for k in out["training_class_counts"]}
    for ib, box in enumerate(boxes):
        expected = box["n"] * share
        out["expected_sky_nearby"] += expected
        drawn = supplement_chunk(np.random.default_rng([seed, 3, ib]), box, oversampling * expected, model_near,
                                 dens_near)
        if drawn is None:
            continue
        sweep, truth, survey = drawn
        out["n_generated"] += len(survey)
        out["n_training"] += int(write_training(sweep, truth, survey, True).sum())
        for s_id, name in ((1, SURVEY_BGS), (2, SURVEY_DWARF)):
            tcc[name] += np.bincount(truth["CLASS"][survey == s_id], minlength=7)
    out["training_class_counts"] = {k: v.tolist() for k, v in tcc.items()}
    return out


def sky_key(n_sources: int, seed: int, model: SkyModel | None = None, satellites: bool = DEFAULT_SATELLITES,
            sat_model: SatelliteModel | None = None) -> str:
    """Cache key of a sky: number of sources, seed, model version and (with satellites) the satellite model's
    (defaults: the package's models)."""
    model = load_sky_model() if model is None else model
    key = f"n{n_sources}-seed{seed}-v{SKY_VERSION}-{model_version(model)}"
    if satellites:
        sat_model = load_satellite_model() if sat_model is None else sat_model
        text = json.dumps(sat_model.to_dict(), sort_keys=True, default=float)
        key += "-sat" + hashlib.sha256(text.encode()).hexdigest()[:6]
    return key


def ensure_simulated_sky(n_sources: int = DEFAULT_N_SOURCES, seed: int = DEFAULT_SEED,
                         progress: bool = False, model: SkyModel | None = None,
                         sat_model: SatelliteModel | None = None) -> Path:
    """Directory of the simulated sky (n_sources, seed) in the cache, generating it if not complete.

    ``model`` and ``sat_model`` (default: the package's sky and satellite models) are part of the cache key.
    The sky is written into a temporary directory and renamed when complete, so a half-written sky is never
    reused; ``summary.json`` marks completeness.
    """
    base = paths.cache_dir("sky")
    target = base / sky_key(n_sources, seed, model, sat_model=sat_model)
    if (target / "summary.json").is_file():
        return target
    tmp = base / f".tmp-{target.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    write_simulated_sky(tmp, n_sources, seed=seed, progress=progress, model=model, sat_model=sat_model)
    if target.exists() and not (target / "summary.json").is_file():
        shutil.rmtree(target)
    try:
        os.replace(tmp, target)
    except OSError:
        if (target / "summary.json").is_file():  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            raise
    return target


def training_sample_path(sky_dir=None) -> Path:
    """Path of the labelled training sample (``training-sample.fits``) of a simulated sky directory; default:
    the default sky of :func:`ensure_simulated_sky` (generated on first use, then cached)."""
    return Path(ensure_simulated_sky() if sky_dir is None else sky_dir) / "training-sample.fits"


def sweep_files(sky_dir) -> list[Path]:
    """The sweep files of a simulated sky directory, sorted by name."""
    return sorted(Path(sky_dir).glob("sweep-*.fits"))


# ---------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------
def add_cli(subparsers) -> None:
    """``dwarflib simulate --n-sources N --seed S --out DIR [--area-deg2 A] [--chunk-size C] [--mean-density]``."""
    p = subparsers.add_parser("simulate", help="write a simulated DR9-like sky (sweeps, truth, training sample)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--n-sources", type=positive_int, default=DEFAULT_N_SOURCES, help="number of sources (default %(default)s)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default %(default)s)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--area-deg2", type=positive_float, default=None,
                   help="sky area in deg^2 (default: n_sources / physical surface density)")
    p.add_argument("--chunk-size", type=positive_int, default=DEFAULT_CHUNK_SIZE, help="sources per chunk")
    p.add_argument("--mean-density", action="store_true",
                   help="cosmic-mean density at z < 0.05 instead of the DESI EDR footprint's local density")
    p.add_argument("--shreds", type=float, default=0.0, metavar="PER_DEG2",
                   help="add large nearby galaxies with their Tractor shreds at this mean density [deg^-2] "
                        "(dwarflib.sky.shreds; physical ~0.05; default 0: none, the default sky)")
    p.add_argument("--nearby-oversampling", type=float, default=NEARBY_OVERSAMPLING, metavar="K",
                   help=f"volume factor of the training sample's nearby supplement (z < {NEARBY_Z_MAX}, weighted "
                        "1/(1+K); default %(default)s; 0: none)")
    p.add_argument("--satellites", action=argparse.BooleanOptionalAction, default=DEFAULT_SATELLITES,
                   help="satellites around Milky-Way-mass hosts with SAGA's abundance, radial distribution and "
                        "quenched fraction, replacing field galaxies (dwarflib.sky.satellites; default: on; "
                        "--no-satellites: field galaxies only)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--overwrite", action="store_true",
                   help="replace or remove files of OUT that no earlier `dwarflib simulate` wrote")
    p.set_defaults(func=_cli_main)


def mean_density_model(model: SkyModel | None = None) -> SkyModel:
    """The sky model with the cosmic-mean density everywhere (local shells at density 1)."""
    model = load_sky_model() if model is None else model
    return replace(model, local_density=[1.0] * len(model.local_density))


def _cli_main(args) -> int:
    model = mean_density_model() if args.mean_density else None
    try:
        s = write_simulated_sky(args.out, args.n_sources, seed=args.seed, area_deg2=args.area_deg2,
                                chunk_size=args.chunk_size, progress=not args.no_progress, model=model,
                                overwrite=args.overwrite, shreds=args.shreds,
                                nearby_oversampling=args.nearby_oversampling, satellites=args.satellites)
    except (FileExistsError, paths.FolderLockedError, ValueError) as exc:
        print(f"dwarflib simulate: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {s['n_sources']:,} sources ({s['n_stars']:,} stars) over {s['area_deg2']:.1f} deg^2 "
          f"in {len(s['sweep_files'])} sweep files, truth.fits and training-sample.fits "
          f"({s['n_training']:,} rows) to {args.out} in {s['seconds_total']:.1f} s")
    sup = s["nearby_supplement"]
    print(f"nearby supplement (z < {sup['z_max']}, k = {sup['oversampling']:g}, weight {sup['weight_nearby']:.4g}): "
          f"{sup['n_training']:,} training rows of {sup['n_generated']:,} drawn, besides "
          f"{sup['n_training_sky_nearby']:,} from the sky itself, in {sup.get('seconds', 0.0):.1f} s")
    return 0
