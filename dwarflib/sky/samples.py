"""The comparison samples of the simulated sky as colour frames (r, g-r, r-z, z-W1, W1-W2 [mag], Z, LOGMSTAR [dex]).

Real: the DESI EDR BGS galaxies (:func:`edr_frame`) and the SAGA DR3 satellites (:func:`saga_frame`).
Simulated: a sky directory read back (:func:`read_truth`, :func:`read_sky_frame`, :func:`read_training_frame`)
and forward-modelled mocks drawn without writing files (:func:`mock_bgs_frame`, :func:`mock_dwarf_frame`,
:func:`mock_satellite_survey`).
Used by the fit (:mod:`dwarflib.sky.calibrate`) and by chapter 01's analyses (:mod:`dwarflib.sky.diagnostics`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.table import Table

from dwarflib import verification as V
from dwarflib.conventions import (
    ab_magnitude,
    distance_modulus_of_distance,
    mean_surface_brightness,
    sersic_mean_minus_central,
)
from dwarflib.datamodel import SWEEP_COLUMNS, unique_id
from dwarflib.labels import assign_classes
from dwarflib.paper_trainset import saga_like_targets
from dwarflib.registry import load_desi_edr, load_elves_hosts_csv, load_saga_hosts, load_saga_satellites
from dwarflib.selections import BGS_BRIGHT, SAGA
from dwarflib.sky.generate import (
    band_magnitudes,
    bgs_like_targets,
    dwarf_redshift_success,
    generate_chunk,
    source_densities,
    sweep_files,
)
from dwarflib.sky.observe import ObjidCounter, footprint, observe, random_positions
from dwarflib.sky.physics import SkyModel, detection_probability, load_sky_model, redshift_of_distmod
from dwarflib.sky.satellites import SatelliteModel, draw_satellite_systems, load_satellite_model
from dwarflib.stellar_mass import logmstar_of_table
from dwarflib.survey_io import read_catalogue, read_fits_table

#: Simulated satellite systems drawn around each real host by :func:`mock_survey_features` (difficulty
#: parity, :mod:`dwarflib.sky.parity`): about five simulated satellites per real one in every bin.
MOCK_SYSTEMS_PER_HOST = 40

#: Colour columns of the comparison tables, in model order.
COLOUR_COLUMNS = ("gr", "rz", "zw1", "w1w2")


def _mags(flux, trans=1.0):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.asarray(flux) > 0, ab_magnitude(np.asarray(flux, float), trans), np.nan)


def colour_frame(flux: dict, z, logm, extra: dict | None = None) -> pd.DataFrame:
    """DataFrame of r and the four colours from extinction-corrected fluxes [nanomaggy]; NaN for flux <= 0."""
    m = {b: _mags(flux[b]) for b in ("G", "R", "Z", "W1", "W2")}
    df = pd.DataFrame({"r": m["R"], "gr": m["G"] - m["R"], "rz": m["R"] - m["Z"], "zw1": m["Z"] - m["W1"],
                       "w1w2": m["W1"] - m["W2"], "Z": np.asarray(z, float), "LOGMSTAR": np.asarray(logm, float)})
    for k, v in (extra or {}).items():
        df[k] = v
    return df


def edr_frame(r_limit: float = BGS_BRIGHT.r_max) -> pd.DataFrame:
    """The real DESI EDR BGS galaxies with r < r_limit [mag] and z > ``BGS_BRIGHT.z_min`` as a colour frame (plus CLASS)."""
    t = load_desi_edr()
    df = colour_frame({b: np.asarray(t[f"FLUX_{b}"]) for b in ("G", "R", "Z", "W1", "W2")}, t["Z"], t["LOGMSTAR"])
    df = df[(df.r < r_limit) & (df.Z > BGS_BRIGHT.z_min)].reset_index(drop=True)
    df["CLASS"] = assign_classes(df.Z, df.LOGMSTAR)
    return df


#: The two halves of SAGA DR3, split by host (issue #13): the simulated sky is calibrated on one half and
#: checked on the other, so the verification satellites are never the calibration satellites.
SAGA_HALVES = ("calibration", "verification")


def other_saga_half(half: str) -> str:
    """The SAGA half that is not ``half`` (one of :data:`SAGA_HALVES`)."""
    if half not in SAGA_HALVES:
        raise ValueError(f"half={half!r}: expected one of {SAGA_HALVES}")
    return SAGA_HALVES[1 - SAGA_HALVES.index(half)]


@lru_cache(maxsize=1)
def _saga_halves() -> dict[str, int]:
    hosts = set(np.char.strip(np.asarray(load_saga_satellites()["HOSTID"]).astype(str)).tolist())
    return {h: i % 2 for i, h in enumerate(sorted(hosts, key=lambda h: hashlib.sha256(h.encode()).hexdigest()))}


def saga_host_half(host_id) -> np.ndarray:
    """Which half of SAGA each row's host belongs to: 0 calibration, 1 verification.

    The split is by host (all satellites of a host fall in the same half), defined once on the hosts of
    SAGA DR3's satellite table C3: the distinct ``HOSTID`` strings (e.g. ``pgc1952``) are ordered by the
    sha256 of the string and alternate between the halves, so the halves hold equal numbers of hosts (to
    one), with no random state, the same on every machine and whatever rows are asked about. A host
    without satellites in C3 belongs to neither half (ValueError naming it).
    """
    ids = np.char.strip(np.atleast_1d(np.asarray(host_id)).astype(str))
    half = _saga_halves()
    unknown = sorted(set(ids.tolist()) - set(half))
    if unknown:
        raise ValueError(f"SAGA hosts {unknown[:5]} have no satellite in table C3 and belong to no half")
    return np.array([half[h] for h in ids], dtype=np.int8)


def saga_frame(half: str | None = None) -> pd.DataFrame:
    """SAGA DR3 satellites: r, g-r, fibre-minus-total r, effective SB, Sersic, b/a, z, log M*.

    Also ``HOSTID``, ``R_HOST`` (projected distance to the host [kpc]), ``QUENCHED`` (SAGA's flag, bool) and
    ``HALF`` (0 calibration, 1 verification; :func:`saga_host_half`). ``half`` = ``"calibration"`` or
    ``"verification"`` keeps that half only; None keeps all 378.
    """
    if half is not None and half not in SAGA_HALVES:
        raise ValueError(f"half={half!r}: expected one of {SAGA_HALVES} or None")
    t = load_saga_satellites()
    hosts = np.char.strip(np.asarray(t["HOSTID"]).astype(str))
    df = pd.DataFrame({"r": np.asarray(t["rmag"], float), "gr": np.asarray(t["gr"], float),
                       "fib_minus_tot": np.asarray(t["rmag-fiber"], float) - np.asarray(t["rmag"], float),
                       "sb": np.asarray(t["sb"], float), "sersic": np.asarray(t["Sersic"], float),
                       "ba": np.asarray(t["ba"], float), "Z": np.asarray(t["z"], float),
                       "LOGMSTAR": np.asarray(t["log(M*)"], float), "HOSTID": hosts,
                       "R_HOST": np.asarray(t["Rhost"], float),
                       "QUENCHED": np.asarray(t["quenched"], float) > 0,
                       "HALF": saga_host_half(hosts)})
    if half is not None:
        df = df[df.HALF == SAGA_HALVES.index(half)].reset_index(drop=True)
    return df


def sweep_frame(sweep: dict, truth: dict) -> pd.DataFrame:
    """Colour frame of simulated sweep rows (observed, dereddened) with truth, SB, fibre and Tractor columns."""
    flux = {b: np.asarray(sweep[f"FLUX_{b}"], float) / np.asarray(sweep[f"MW_TRANSMISSION_{b}"], float)
            for b in ("G", "R", "Z", "W1", "W2")}
    r = _mags(flux["R"])
    shape_r = np.asarray(sweep["SHAPE_R"], float)
    with np.errstate(divide="ignore"):
        sb = mean_surface_brightness(r, shape_r)
    fib = _mags(np.asarray(sweep["FIBERFLUX_R"], float) / np.asarray(sweep["MW_TRANSMISSION_R"], float))
    typ = np.asarray(sweep["TYPE"])
    truth = {k: (np.asarray(v).astype(np.asarray(v).dtype.newbyteorder("="))
                 if np.asarray(v).dtype.kind in "biuf" else np.asarray(v)) for k, v in truth.items()}
    typ = np.char.strip(typ.astype("S3").astype(str)) if typ.dtype.kind in "SU" else typ
    extra = {"sb": sb, "fib_minus_tot": fib - r, "SHAPE_R": shape_r, "TYPE": typ,
             "SERSIC": np.asarray(sweep["SERSIC"], float), "CLASS": np.asarray(truth["CLASS"]),
             "IS_STAR": np.asarray(truth["IS_STAR"], bool), "RE_KPC": np.asarray(truth["RE_KPC"], float)}
    if "POP" in truth:  # population (SF, Q, STAR) and true Sersic index, where the truth has them
        extra["POP"] = np.char.strip(np.asarray(truth["POP"]).astype("S4").astype(str))
        extra["SERSIC_TRUE"] = np.asarray(truth["SERSIC_TRUE"], float)
    return colour_frame(flux, truth["Z"], truth["LOGMSTAR"], extra)


# ---------------------------------------------------------------------------------------------------
# Forward-modelled mock samples
# ---------------------------------------------------------------------------------------------------
def mock_sky_chunk(model: SkyModel, n_sources: int, seed: int | Sequence[int], r_limit: float, stars: bool = True,
                   sat: SatelliteModel | None = None):
    """One chunk of simulated sky (sweep dict, truth dict) brighter than r_limit [mag], independent of any file.

    ``seed``: an integer or a sequence of integers (the entropy of the chunk's random stream). ``sat``: the
    satellite systems of :func:`dwarflib.sky.generate.generate_chunk` (None: a sky without an environment).
    """
    dens = dict(source_densities(model, r_limit=r_limit))
    if not stars:
        dens["stars"], dens["total"] = 0.0, dens["galaxies"]
    rng = np.random.default_rng([*np.atleast_1d(seed).tolist(), 99])
    return generate_chunk(rng, n_sources, footprint(1000.0)[0], model, dens, ObjidCounter(), r_limit=r_limit,
                          satellites=sat)


def mock_bgs_frame(model: SkyModel, n_sources: int = 400_000, seed: int | Sequence[int] = 1,
                   sat: SatelliteModel | None = None) -> pd.DataFrame:
    """Simulated BGS-like selection (targets with z > 0.0104) as a colour frame; ``n_sources`` sources
    brighter than r = 19.9 are drawn (with satellite systems of ``sat`` when given, see :func:`mock_sky_chunk`)."""
    sweep, truth = mock_sky_chunk(model, n_sources, seed, r_limit=19.9, sat=sat)
    sel = bgs_like_targets(sweep) & (truth["Z"] > BGS_BRIGHT.z_min) & ~truth["IS_STAR"]
    df = sweep_frame({k: v[sel] for k, v in sweep.items()}, {k: v[sel] for k, v in truth.items()})
    return df


def mock_dwarf_frame(model: SkyModel, n_sources: int = 400_000, seed: int = 2) -> pd.DataFrame:
    """Simulated galaxies in the SAGA comparison volume (0.004 < z < 0.011, 6 < log M* < 10, r < 20.75).

    Uses a sky of sources brighter than r = 21 in which galaxies at z < 0.011 are drawn directly (the rest of
    the sky does not matter here): the sampling grid is restricted by setting z_max.
    """
    local = replace(model, z_max=SAGA.z_max + 1e-4)  # a new instance: its arrays are computed afresh
    sweep, truth = mock_sky_chunk(local, n_sources, seed, r_limit=21.0, stars=False)
    keep = ~truth["IS_STAR"]
    df = sweep_frame({k: v[keep] for k, v in sweep.items()}, {k: v[keep] for k, v in truth.items()})
    return df[(df.Z > SAGA.z_min) & (df.Z < SAGA.z_max) & (df.r < SAGA.r_max)].reset_index(drop=True)


def mock_satellite_survey(host_distmod, n_per_host: int, seed: int, model: SkyModel, sat: SatelliteModel,
                          r_limit: float = 21.0, keep_all: bool = False) -> dict:
    """Simulated satellite systems around hosts at the distances of real hosts, observed as DR9 sweep rows.

    Each host (distance modulus ``host_distmod`` [mag], placed at the redshift where the sky's distance
    modulus equals it, :func:`dwarflib.sky.physics.redshift_of_distmod`) gets ``n_per_host`` independent
    satellite systems of the sky's satellite model ``sat`` (:func:`dwarflib.sky.satellites.draw_satellite_systems`:
    its abundance, mass function, quenched fraction and colours, with ``model``'s sizes and M/L). A satellite
    is kept when brighter than ``r_limit`` (true r) and detected, as in the sky (``keep_all``: every drawn
    satellite is kept and ``DETECTED`` says which passed, e.g. to measure a selection function), and observed
    at random positions of the footprint's first sweep box (:func:`dwarflib.sky.observe.observe`). No file is
    written and no sky row is used, so the rows are independent of every training sample.

    Returns a dict of arrays: the sweep columns, and Z (the satellite's redshift), LOGMSTAR [dex, the sky's
    mass system], POP (0 star-forming, 1 quiescent), HOST (index into ``host_distmod``), HOST_DISTMOD [mag],
    SYSTEM (index of the satellite system, ``n_per_host`` per host), R_HOST_KPC [kpc, projected], DETECTED
    (bool) and the true (noise-free, extinction-free) R_TRUE [mag], GR_TRUE [mag], MU_EFF_R_TRUE
    [mag/arcsec^2], RE_TRUE [arcsec, major axis] and SERSIC_TRUE.
    """
    host_distmod = np.asarray(host_distmod, float)
    host_z = redshift_of_distmod(host_distmod)
    if not np.isfinite(host_z).all():
        bad = np.flatnonzero(~np.isfinite(host_z))
        raise ValueError(f"host distance moduli {host_distmod[bad][:5].tolist()} (rows {bad[:5].tolist()}) "
                         "are outside the sky's distance table")
    if n_per_host < 1:
        raise ValueError(f"n_per_host must be >= 1, got {n_per_host}")
    rng = np.random.default_rng([seed, 131])
    system_host = np.repeat(np.arange(len(host_z)), n_per_host)
    s = draw_satellite_systems(rng, host_z[system_host], model, sat)
    detected = (s["R_TRUE"] < r_limit) & (rng.random(len(s["Z"])) < detection_probability(s["MU_EFF_R_TRUE"], model))
    g = {k: v[np.ones_like(detected) if keep_all else detected] for k, v in s.items()}
    n = len(g["Z"])
    f4 = np.float32
    src = {f"MAG_{b}": m for b, m in band_magnitudes(g["R_TRUE"], g["COLOURS"]).items()}
    src.update(IS_POINT=np.zeros(n, bool), RE_CIRC=(g["RE_ARCSEC"] * np.sqrt(g["BA_TRUE"])).astype(f4),
               SERSIC_TRUE=g["SERSIC_TRUE"].astype(f4), BA_TRUE=g["BA_TRUE"],
               PA=(rng.random(n) * np.pi).astype(f4), GAIA_G_TRUE=np.zeros(n, f4), PARALLAX_TRUE=np.zeros(n, f4))
    ra, dec = random_positions(rng, n, footprint(1000.0)[0])
    out = observe(rng, src, ra, dec, model)
    host = system_host[g["HOST"]]
    out.update(Z=g["Z"], LOGMSTAR=g["LOGMSTAR"], POP=g["POP"], HOST=host, HOST_DISTMOD=host_distmod[host],
               SYSTEM=g["HOST"], R_HOST_KPC=g["R_HOST_KPC"], DETECTED=detected if keep_all else np.ones(n, bool),
               R_TRUE=g["R_TRUE"], GR_TRUE=g["COLOURS"][:, 0], MU_EFF_R_TRUE=g["MU_EFF_R_TRUE"],
               RE_TRUE=g["RE_ARCSEC"], SERSIC_TRUE=g["SERSIC_TRUE"])
    return out


def saga_survey_selection(mock: dict, seed: int = 0) -> np.ndarray:
    """Which rows of a :func:`mock_satellite_survey` SAGA would have as satellites: detected, SAGA's
    photometric target cuts (:func:`dwarflib.paper_trainset.saga_like_targets`, r < 20.75) and the redshift
    success of the sky's dwarf survey (:func:`dwarflib.sky.generate.dwarf_redshift_success`, drawn with
    ``seed``). One definition for the calibration of the satellite model and for its checks."""
    u = np.random.default_rng([seed, 17]).random(len(mock["Z"]))
    return mock["DETECTED"] & saga_like_targets(mock) & (u < dwarf_redshift_success(mock))


#: ELVES's completeness limits (Carlsten et al. 2022, from injected galaxies): absolute V magnitude [mag] and
#: central V surface brightness [mag/arcsec^2]. ELVES detects satellites on deep imaging with its own
#: low-surface-brightness algorithm, so DR9's Tractor detection does not limit it.
ELVES_MV_LIMIT = -9.0
ELVES_MU0_V_LIMIT = 26.5

#: log10 of the half-light radius that deep photometry of nearby dwarfs measures minus the one DR9's Tractor
#: measures, at the same luminosity [dex]. Fitted (:func:`dwarflib.sky.calibrate.fit_deep_size_offset`,
#: recomputed in the tests) on the LVDB's dwarfs that are not ELVES satellites (Pace 2024; literature structural
#: parameters from deep or resolved-star imaging) against the calibration half of SAGA DR3 (Tractor SHAPE_R) at
#: -20 < M_r < -15, where SAGA is complete in surface brightness: a common slope of log r_e on M_r and one
#: offset. ELVES's own Sersic radii give the same offset (the book shows it). The simulated sky's sizes are
#: fitted on SAGA's, so they are in the Tractor system; simulated ELVES rows (:func:`elves_table_rows`) are
#: measured in the deep one.
DEEP_MINUS_TRACTOR_LOG_RE = 0.1460
#: The same in mean surface brightness inside r_e [mag/arcsec^2]: the same light over a radius larger by
#: 10**DEEP_MINUS_TRACTOR_LOG_RE is 5 times that fainter.
DEEP_MINUS_TRACTOR_MU_EFF = 5 * DEEP_MINUS_TRACTOR_LOG_RE

#: ELVES's quoted 1-sigma uncertainties, medians over the confirmed table-9 rows measured in g and r: g and r
#: [mag] and the relative uncertainty of r_e; recomputed in the tests (:func:`elves_quoted_errors`).
ELVES_ERRORS: dict[str, float] = {"g": 0.09, "r": 0.10, "re_rel": 0.0622}


def in_tractor_size_system(table: V.FeatureTable) -> V.FeatureTable:
    """Restricted features measured on deep imaging (ELVES) with their radii moved into the Tractor system of
    the simulated sky: ``mu_eff_r`` brighter by :data:`DEEP_MINUS_TRACTOR_MU_EFF`; every other column as is."""
    return replace(table, features=table.features.assign(mu_eff_r=table.features["mu_eff_r"]
                                                         - DEEP_MINUS_TRACTOR_MU_EFF))


def elves_quoted_errors(table: Table) -> dict[str, float]:
    """Median quoted uncertainties of the confirmed g, r rows of ELVES table 9 (:data:`ELVES_ERRORS`)."""
    rows = (np.asarray(table["Conf"]).astype(str) == "True") & (np.asarray(table["Filt"]).astype(str) == "gr")
    col = {c: np.asarray(table[c], float)[rows] for c in ("e_gmag", "e_rimag", "e_re", "re")}
    with np.errstate(invalid="ignore", divide="ignore"):
        re_rel = col["e_re"] / col["re"]
    return {"g": float(np.nanmedian(col["e_gmag"])), "r": float(np.nanmedian(col["e_rimag"])),
            "re_rel": float(np.nanmedian(re_rel))}


def elves_survey_selection(mock: dict) -> np.ndarray:
    """Which rows of a :func:`mock_satellite_survey` (drawn with ``keep_all=True``) ELVES would have: true
    M_V < :data:`ELVES_MV_LIMIT` and central V surface brightness < :data:`ELVES_MU0_V_LIMIT` as ELVES's deep
    photometry measures it (:data:`DEEP_MINUS_TRACTOR_MU_EFF` fainter than the sky's Tractor-system SB),
    whether or not DR9's Tractor detects them. V - r from g - r with ELVES's own
    transformation (:func:`dwarflib.verification.v_minus_r`); the central SB from the mean SB inside r_e and
    the Sersic index (:func:`dwarflib.conventions.sersic_mean_minus_central`)."""
    v_r = V.v_minus_r(mock["GR_TRUE"])
    mu0_v = mock["MU_EFF_R_TRUE"] + DEEP_MINUS_TRACTOR_MU_EFF + v_r - sersic_mean_minus_central(mock["SERSIC_TRUE"])
    m_v = mock["R_TRUE"] + v_r - mock["HOST_DISTMOD"]
    return (m_v < ELVES_MV_LIMIT) & (mu0_v < ELVES_MU0_V_LIMIT)


def elves_table_rows(mock: dict, host_keys, hosts: Table, seed: int = 0) -> Table:
    """Rows of a :func:`mock_satellite_survey` written as ELVES table 9 would list them, to be read by the
    same reader as the real table (:func:`dwarflib.verification.restricted_features`, ``kind='elves'``).

    ELVES measures its satellites on deep imaging with its own Sersic fits, not with DR9's Tractor: g and r
    are the true magnitudes with ELVES's quoted noise (:data:`ELVES_ERRORS`), the effective radius the true
    one (major axis) times 10**:data:`DEEP_MINUS_TRACTOR_LOG_RE` with its quoted relative noise, at the host's
    tabulated distance in ``hosts`` (the ELVES host table); ``host_keys`` is the host of each row
    (:func:`dwarflib.verification.host_key`), written back as ELVES spells it. The mass is the one ELVES would list (:func:`dwarflib.stellar_mass.logmstar_of_table` from the
    measured g - r and M_r); every row is a confirmed satellite with g, r photometry.
    """
    rng = np.random.default_rng([seed, 37])
    n = len(mock["R_TRUE"])
    r = mock["R_TRUE"] + ELVES_ERRORS["r"] * rng.standard_normal(n)
    g = mock["R_TRUE"] + mock["GR_TRUE"] + ELVES_ERRORS["g"] * rng.standard_normal(n)
    re_arcsec = (mock["RE_TRUE"] * 10**DEEP_MINUS_TRACTOR_LOG_RE
                 * np.exp(ELVES_ERRORS["re_rel"] * rng.standard_normal(n)))
    names = np.asarray(hosts["Host"]).astype(str)
    row_of = {V.host_key(h): i for i, h in enumerate(names)}
    rows = np.array([row_of[k] for k in np.asarray(host_keys).astype(str)], dtype=np.int64)
    host_names, dist_mpc = names[rows], np.asarray(hosts["Dist"], float)[rows]
    dm = distance_modulus_of_distance(dist_mpc)
    return Table({"Name": [f"sim-{i}" for i in range(n)], "Host": host_names, "gmag": g, "rimag": r,
                  "VMag": r + V.v_minus_r(g - r) - dm, "logMs": logmstar_of_table("ELVES", g - r, r - dm),
                  "re": V.physical_radius_pc(re_arcsec, dist_mpc),
                  "Filt": np.full(n, "gr"), "Conf": np.full(n, "True"), "Bad": np.full(n, "no")})


def survey_host_distmod(survey: str) -> pd.Series:
    """Distance modulus [mag] of each host of a real satellite survey, indexed by its host key: SAGA DR3
    table C1 (``DistMod`` by ``HOSTID``) or the ELVES host table (``Dist`` [Mpc] by normalised host name, as
    in :func:`dwarflib.verification.restricted_features`)."""
    if survey == "SAGA":
        h = load_saga_hosts()
        return pd.Series(np.asarray(h["DistMod"], float), index=np.asarray(h["HOSTID"]).astype(str))
    if survey == "ELVES":
        h = load_elves_hosts_csv()
        return pd.Series(distance_modulus_of_distance(np.asarray(h["Dist"], float)),
                         index=[V.host_key(n) for n in h["Host"]])
    raise ValueError(f"survey must be 'SAGA' or 'ELVES', got {survey!r}")


def survey_host_keys(survey: str, table) -> np.ndarray:
    """Host key of each row of a real satellite table (SAGA: ``HOSTID``; ELVES: the normalised ``Host``)."""
    if survey == "SAGA":
        return np.asarray(table["HOSTID"]).astype(str)
    if survey == "ELVES":
        return np.array([V.host_key(n) for n in table["Host"]])
    raise ValueError(f"survey must be 'SAGA' or 'ELVES', got {survey!r}")


def mock_survey_features(survey: str, host_keys, n_per_host: int = MOCK_SYSTEMS_PER_HOST, seed: int = 0,
                         model: SkyModel | None = None, sat: SatelliteModel | None = None) -> tuple[V.FeatureTable, np.ndarray]:
    """Restricted features of simulated satellites of a real survey's hosts, in the survey's mass system.

    ``n_per_host`` systems around each host in ``host_keys`` at its tabulated distance
    (:func:`dwarflib.sky.samples.mock_satellite_survey` with the sky model ``model`` and satellite model
    ``sat``; defaults: the package's). SAGA's rows are selected like SAGA's satellites
    (:func:`saga_survey_selection`: DR9-detected, SAGA's targeting) and observed as DR9 sweep rows, as SAGA's
    were. ELVES's are kept within ELVES's completeness (:func:`elves_survey_selection`: its own detection, not
    DR9's) and measured as ELVES measures (:func:`elves_table_rows`: deep photometry, not DR9's Tractor; the
    features are those of ``kind='elves'``). Their ``logmstar`` is the mass the real table would list
    (:func:`dwarflib.stellar_mass.logmstar_of_table` from the measured g - r and r minus the host's distance
    modulus); ``z`` is the simulated redshift for SAGA and the host's velocity / c for ELVES, as in the real
    tables; ``flags`` holds POP (0 star-forming, 1 quiescent), LOGMSTAR_SKY
    (the sky's own mass [dex]), HOST_DISTMOD [mag], SYSTEM (index of the satellite system) and R_HOST_KPC
    [kpc]. Returns the FeatureTable and the host key of each row.
    """
    keys = np.unique(np.asarray(host_keys).astype(str))
    dm = survey_host_distmod(survey)
    missing = sorted(set(keys) - set(dm.index))
    if missing:
        raise ValueError(f"{survey} rows name hosts absent from its host table: {missing[:5]}")
    mock = mock_satellite_survey(dm.loc[keys].to_numpy(), n_per_host, seed, model or load_sky_model(),
                                 sat or load_satellite_model(), keep_all=survey == "ELVES")
    if survey == "SAGA":  # SAGA's targeting cuts and the sky's dwarf-survey redshift success, as the real rows had
        keep = saga_survey_selection(mock, seed)
    else:  # ELVES's own completeness, not DR9's detection
        keep = elves_survey_selection(mock)
    mock = {c: v[keep] for c, v in mock.items()}
    flags = pd.DataFrame({"POP": mock["POP"], "LOGMSTAR_SKY": mock["LOGMSTAR"], "HOST_DISTMOD": mock["HOST_DISTMOD"],
                          "SYSTEM": mock["SYSTEM"], "R_HOST_KPC": mock["R_HOST_KPC"]})
    if survey == "ELVES":  # measured as ELVES measures, read by the reader of the real table
        hosts = load_elves_hosts_csv()
        ft = V.restricted_features(elves_table_rows(mock, keys[mock["HOST"]], hosts, seed), "elves", hosts=hosts)
        return replace(ft, flags=flags), keys[mock["HOST"]]
    table = Table({c: v for c, v in mock.items() if c in SWEEP_COLUMNS or c in ("Z", "LOGMSTAR")})
    ft = V.restricted_features(table, "sweep")
    abs_r = ft.features["r"].to_numpy(float) - mock["HOST_DISTMOD"]
    ft = replace(ft, logmstar=logmstar_of_table(survey, ft.features["g_r"].to_numpy(float), abs_r), flags=flags)
    return ft, keys[mock["HOST"]]


def mock_saga_frame(half: str | None = None, n_per_host: int = 20, seed: int = 0, model: SkyModel | None = None,
                    sat: SatelliteModel | None = None) -> pd.DataFrame:
    """A simulated SAGA survey in the columns of :func:`saga_frame`: satellites of the sky's models around the
    SAGA DR3 hosts of ``half`` (None: all) that have satellites in table C3 (the halves of
    :func:`saga_host_half` are defined on those), selected and given masses like SAGA's
    (:func:`mock_survey_features`, ``n_per_host`` systems per host).

    Columns: r, gr, fib_minus_tot [mag], sb [mag/arcsec^2], sersic, ba, Z, LOGMSTAR [dex, SAGA II], HOSTID,
    HALF (:func:`saga_host_half` of the host), R_HOST [kpc, projected], POP ('SF' or 'Q'), QUENCHED (POP 'Q')
    and SYSTEM (the satellite system); ``attrs["n_hosts"]``: the number of simulated systems (hosts x
    ``n_per_host``), for counts per host.
    """
    real = saga_frame(half)  # the halves are defined on the hosts with satellites (saga_host_half of C3)
    host_half = dict(zip(real["HOSTID"], real["HALF"], strict=True))
    ft, host = mock_survey_features("SAGA", sorted(host_half), n_per_host, seed, model, sat)
    f = ft.features
    out = pd.DataFrame({"r": f["r"].to_numpy(), "gr": f["g_r"].to_numpy(), "fib_minus_tot": f["rfib_r"].to_numpy(),
                         "sb": f["mu_eff_r"].to_numpy(), "sersic": f["sersic"].to_numpy(), "ba": f["ba"].to_numpy(),
                         "Z": ft.z, "LOGMSTAR": ft.logmstar, "HOSTID": host,
                         "HALF": np.array([host_half[h] for h in host], dtype=np.int8),
                         "R_HOST": ft.flags["R_HOST_KPC"].to_numpy(),
                         "POP": np.where(ft.flags["POP"].to_numpy() == 1, "Q", "SF"),
                         "QUENCHED": ft.flags["POP"].to_numpy() == 1, "SYSTEM": ft.flags["SYSTEM"].to_numpy()})
    out.attrs["n_hosts"] = len(host_half) * n_per_host
    return out


def bgs_sample(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of a BGS-like colour frame that the class-fraction criterion uses: z > 0.0104, r < 19.5."""
    return df[BGS_BRIGHT.mask(df.r, df.Z)]


# ---------------------------------------------------------------------------------------------------
# Reading a simulated sky back, and the realism report
# ---------------------------------------------------------------------------------------------------
_SKY_COLUMNS = ("RELEASE", "BRICKID", "OBJID", "TYPE", "SHAPE_R", "SERSIC", "FIBERFLUX_R",
                *(f"FLUX_{b}" for b in ("G", "R", "Z", "W1", "W2")),
                *(f"MW_TRANSMISSION_{b}" for b in ("G", "R", "Z", "W1", "W2")))


def read_truth(sky_dir) -> pd.DataFrame:
    """The truth table of a simulated sky as a DataFrame (NaN kept, not masked)."""
    t = read_fits_table(Path(sky_dir) / "truth.fits")
    return pd.DataFrame({c: np.asarray(t[c]).astype(np.asarray(t[c]).dtype.newbyteorder("="))
                         for c in t.colnames if t[c].ndim == 1})


def read_sky_frame(sky_dir, where=None) -> pd.DataFrame:
    """Simulated sweep rows joined with their truth, as a colour frame (see :func:`sweep_frame`).

    ``where`` is an optional function truth-DataFrame -> boolean mask applied before the join (to keep
    memory small, e.g. only local galaxies).
    """
    truth = read_truth(sky_dir)
    if where is not None:
        truth = truth[where(truth)]
    truth = truth.set_index("TARGETID")
    parts = []
    for path in sweep_files(sky_dir):
        t = read_catalogue(path, columns=list(_SKY_COLUMNS), required=(), flags=False)
        tid = unique_id(t["RELEASE"], t["BRICKID"], t["OBJID"])
        keep = np.isin(tid, truth.index.to_numpy())
        if not keep.any():
            continue
        sw = {c: np.asarray(t[c])[keep] for c in _SKY_COLUMNS}
        tr = truth.loc[tid[keep]]
        tr_d = {c: tr[c].to_numpy() for c in tr.columns}
        df = sweep_frame(sw, tr_d)
        df["TARGETID"] = tid[keep]
        parts.append(df)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def read_bgs_like_frame(sky_dir) -> pd.DataFrame:
    """Every BGS-like target of a simulated sky (:func:`dwarflib.sky.generate.bgs_like_targets`, in all its
    bricks, not only the BGS-like survey's share of them in the training sample), joined with its truth, as a
    colour frame with CLASS (see :func:`sweep_frame`)."""
    truth = read_truth(sky_dir).set_index("TARGETID")
    parts = []
    for path in sweep_files(sky_dir):
        t = read_catalogue(path, flags=False)
        sweep = {c: np.asarray(t[c]) for c in t.colnames}
        keep = bgs_like_targets(sweep)
        tid = unique_id(sweep["RELEASE"][keep], sweep["BRICKID"][keep], sweep["OBJID"][keep])
        tr = truth.loc[tid]
        df = sweep_frame({c: sweep[c][keep] for c in _SKY_COLUMNS}, {c: tr[c].to_numpy() for c in tr.columns})
        df["TARGETID"] = tid
        parts.append(df)
    return pd.concat(parts, ignore_index=True)


def read_training_frame(sky_dir, survey: str | None = None) -> pd.DataFrame:
    """The simulated training sample as a colour frame (observed, dereddened) with SURVEY and CLASS."""
    t = read_fits_table(Path(sky_dir) / "training-sample.fits")
    sw = {c: np.asarray(t[c]) for c in _SKY_COLUMNS}
    truth = {"Z": np.asarray(t["Z"], float), "LOGMSTAR": np.asarray(t["LOGMSTAR"], float),
             "CLASS": np.asarray(t["CLASS"]), "IS_STAR": np.asarray(t["IS_STAR"], bool),
             "RE_KPC": np.full(len(t), np.nan)}
    df = sweep_frame(sw, truth)
    df["SURVEY"] = np.char.strip(np.asarray(t["SURVEY"]).astype("S12").astype(str))
    if survey is not None:
        df = df[df.SURVEY == survey].reset_index(drop=True)
    return df
