"""The closest analogue of the paper's training set, drawn from a simulated sky (issue #12).

Zhang et al. (2025) trained on a compilation of pre-DESI spectroscopic redshifts. Its simulated analogue here
is three surveys observed on a simulated sky (sweep files + ``truth.fits``), each with its own selection and
completeness, labelled from the truth and written in the labelled-table format that
:func:`dwarflib.training.train_final_model` reads (sweep columns + ``TARGETID, Z, LOGMSTAR, CLASS, IS_STAR,
SURVEY``), so the book's network trains on it through the same code path.

The surveys (areas: :data:`dwarflib.selections.SURVEY_AREAS`; the simulated footprint stands for the SDSS main
area, and the other surveys get their real share of it):

* **SDSS-main-like** over the whole footprint: extinction-corrected r < 17.77 (:data:`~dwarflib.selections.SDSS_MAIN`,
  Strauss et al. 2002), extended (``TYPE != PSF``, the analogue of SDSS's PSF-minus-model star-galaxy
  separation), mean surface brightness inside the half-light radius mu_eff < :data:`SDSS_MU50_MAX` (SDSS's
  mu_50 limit), a redshift for each target with probability :data:`SDSS_COMPLETENESS`. SDSS's bright-end
  fibre-magnitude limits are not applied, and r is the Tractor model magnitude, not the Petrosian one.
* **GAMA-like** in one contiguous RA-Dec rectangle (aspect 12 : 5 like GAMA's equatorial fields) of area
  ``GAMA_AREA.fraction()`` times the footprint's, centred on the footprint's median position: r < 19.8
  (:data:`~dwarflib.selections.GAMA`), extended, redshift with probability :data:`GAMA_COMPLETENESS`.
* **SAGA-like** around simulated Milky-Way-mass hosts: galaxies of the truth whose stellar mass and luminosity
  distance lie in the ranges of the 101 SAGA DR3 hosts (table C1, :func:`dwarflib.registry.load_saga_hosts`:
  log M* 10.1-10.94, 25.0-40.6 Mpc); ``SAGA_AREA.hosts_on(footprint)`` of them, drawn with the seed; every
  source within 300 kpc projected (at the host's redshift, Planck18 as the simulator) with r < 20.75
  (:data:`~dwarflib.selections.SAGA`) and SAGA's photometric cuts as the simulated dwarf survey applies them
  (:func:`dwarflib.sky.generate.dwarf_survey_targets`, Mao et al. 2021, 2024): not a Gaia star, extended,
  ``(g-r) - sigma_gr + 0.06 (r - 14) < 0.9`` (the g-r form of SAGA's gri cut) and
  ``mu_eff + sigma_mu - 0.7 (g-r) > 18.5`` [mag, mag/arcsec^2]; redshift with the simulated dwarf survey's
  surface-brightness-dependent success (:func:`dwarflib.sky.generate.dwarf_redshift_success`, 0.5-0.95).

An object observed by several surveys is written once, labelled from the truth, with ``SURVEY`` the first of
SDSS, GAMA, SAGA that observed it (:data:`SURVEY_PRIORITY`) and ``IN_SURVEYS`` the bit mask of all of them.
Labels: :func:`dwarflib.labels.assign_classes` of the true ``Z``, ``LOGMSTAR`` and ``IS_STAR``.

The hosts are the sky's galaxies in SAGA's host mass and distance ranges; a default sky has satellites around
such hosts (:mod:`dwarflib.sky.satellites`), so the SAGA-like part finds them. What the simulated sky cannot
give: large-scale clustering beyond those satellite systems, and SAGA's isolation and K-band host criteria,
which are not applied.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import brentq

from dwarflib import datamodel, paths
from dwarflib.conventions import distance_of_distance_modulus, mean_surface_brightness
from dwarflib.datamodel import unique_id
from dwarflib.labels import assign_classes
from dwarflib.registry import load_saga_hosts
from dwarflib.selections import GAMA, GAMA_AREA, SAGA, SAGA_AREA, SDSS_MAIN, SURVEY_AREAS
from dwarflib.sky.generate import (
    TRAINING_EXTRA,
    dwarf_redshift_success,
    dwarf_survey_targets,
    sweep_files,
)
from dwarflib.sky.observe import box_area, unit_vectors
from dwarflib.sky.physics import distmod, kpc_per_arcsec
from dwarflib.stream_writers import FitsStreamWriter
from dwarflib.survey_io import flux_to_mag, read_catalogue, read_fits_table

__all__ = ["Compilation", "build_compilation", "compilation_path", "ensure_compilation", "gama_patch",
           "write_compilation"]

#: Version of the compilation's recipe; part of its cache key.
COMPILATION_VERSION = "1"

#: SDSS main: fraction of targets with a redshift. About 6 % of targets lose their fibre to collisions (55 arcsec)
#: and the redshift success is above 99 % (Strauss et al. 2002); approximate.
SDSS_COMPLETENESS = 0.93
#: SDSS main: targets with a mean surface brightness inside the Petrosian half-light radius fainter than this are
#: not targeted [mag/arcsec^2] (Strauss et al. 2002); here applied to mu_eff = r + 2.5 log10(2 pi SHAPE_R^2).
SDSS_MU50_MAX = 24.5
#: GAMA main survey: fraction of targets with a redshift (about 98 %, Liske et al. 2015; approximate).
GAMA_COMPLETENESS = 0.98
#: RA : Dec aspect of the GAMA-like rectangle (GAMA's equatorial fields are 12 x 5 deg).
GAMA_ASPECT = 12.0 / 5.0

#: Survey names, in label priority order (SURVEY of an object observed by several), and their IN_SURVEYS bits.
SURVEY_SDSS, SURVEY_GAMA, SURVEY_SAGA = "SDSS-main", "GAMA", "SAGA"
SURVEY_PRIORITY: tuple[str, ...] = (SURVEY_SDSS, SURVEY_GAMA, SURVEY_SAGA)
SURVEY_BITS: dict[str, int] = {name: 1 << i for i, name in enumerate(SURVEY_PRIORITY)}

#: Columns of the compilation besides the sweep columns (name -> dtype, unit, description).
COMPILATION_EXTRA: dict[str, tuple[str, str, str]] = {
    **{c: TRAINING_EXTRA[c] for c in ("TARGETID", "Z", "LOGMSTAR", "CLASS", "IS_STAR")},  # as the training sample
    "SURVEY": ("S12", "", f"first survey that observed the object, of {', '.join(SURVEY_PRIORITY)}"),
    "IN_SURVEYS": ("i2", "", "bit mask of the surveys that observed it: " +
                   ", ".join(f"{b} {n}" for n, b in SURVEY_BITS.items())),
    "R_HOST_KPC": ("f4", "kpc", "projected distance to the nearest SAGA-like host (NaN: not near a host)"),
}

_TRUTH_READ = ("TARGETID", "Z", "LOGMSTAR", "IS_STAR")


@dataclass
class Compilation:
    """A simulated spectroscopic compilation (:func:`build_compilation`).

    Attributes
    ----------
    table : dict of ndarray
        The labelled rows, columns ``datamodel.SWEEP_COLUMNS`` + :data:`COMPILATION_EXTRA`.
    report : DataFrame
        One row per survey: ``survey, r_max, area_deg2`` (simulated), ``real_area_deg2``, ``completeness``,
        ``targets`` (objects passing the photometric selection in the survey's area), ``observed`` (with a
        redshift), ``written`` (rows whose ``SURVEY`` is this one after de-duplication), ``signal`` (written
        signal objects); and a total row.
    hosts : DataFrame
        The SAGA-like hosts: ``TARGETID, RA, DEC, Z, LOGMSTAR, DIST_MPC, RADIUS_DEG``.
    gama_box : dict
        The GAMA-like rectangle: ``ra1, ra2, dec1, dec2`` [deg] and ``area`` [deg^2].
    footprint_deg2 : float
        The simulated footprint's area [deg^2] (its ``summary.json``).
    seed : int
        Seed of the completeness draws and of the choice of hosts.
    sky_dir : Path
    """

    table: dict
    report: pd.DataFrame
    hosts: pd.DataFrame
    gama_box: dict
    footprint_deg2: float
    seed: int
    sky_dir: Path

    def __len__(self) -> int:
        return len(self.table["TARGETID"])


def _extended(sweep: dict) -> np.ndarray:
    typ = np.char.strip(np.asarray(sweep["TYPE"]).astype("S3"))
    return typ != b"PSF"


def sdss_like_targets(sweep: dict) -> np.ndarray:
    """SDSS-main-like photometric selection per row: r < 17.77 (extinction corrected), ``TYPE != PSF``, mu_eff <
    :data:`SDSS_MU50_MAX` [mag/arcsec^2]."""
    r = flux_to_mag(sweep["FLUX_R"], sweep["MW_TRANSMISSION_R"])
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = mean_surface_brightness(r, np.asarray(sweep["SHAPE_R"], float))
    return SDSS_MAIN.mask(r) & _extended(sweep) & (mu < SDSS_MU50_MAX)


def gama_like_targets(sweep: dict) -> np.ndarray:
    """GAMA-like photometric selection per row: r < 19.8 (extinction corrected), ``TYPE != PSF``."""
    return GAMA.mask(flux_to_mag(sweep["FLUX_R"], sweep["MW_TRANSMISSION_R"])) & _extended(sweep)


def saga_like_targets(sweep: dict) -> np.ndarray:
    """SAGA-like photometric selection per row: :func:`dwarflib.sky.generate.dwarf_survey_targets` and r < 20.75."""
    with np.errstate(invalid="ignore"):  # SAGA.mask would also cut in z and M* (the comparison sample)
        return dwarf_survey_targets(sweep) & (flux_to_mag(sweep["FLUX_R"], sweep["MW_TRANSMISSION_R"]) < SAGA.r_max)


def gama_patch(ra_centre: float, dec_centre: float, area_deg2: float, aspect: float = GAMA_ASPECT) -> dict:
    """RA-Dec rectangle centred on (ra_centre, dec_centre) [deg] with area ``area_deg2`` [deg^2] and RA width /
    Dec height = ``aspect`` (both in degrees of the coordinate). Returns ra1, ra2, dec1, dec2 [deg] and area."""
    if not area_deg2 > 0:
        raise ValueError(f"the GAMA-like area must be positive, got {area_deg2} deg^2")

    def excess(h):
        return box_area(ra_centre - aspect * h, ra_centre + aspect * h, dec_centre - h, dec_centre + h) - area_deg2

    h = brentq(excess, 1e-6, 30.0)
    return {"ra1": ra_centre - aspect * h, "ra2": ra_centre + aspect * h, "dec1": dec_centre - h,
            "dec2": dec_centre + h, "area": float(area_deg2)}


def _in_box(ra, dec, box: dict) -> np.ndarray:
    return (ra >= box["ra1"]) & (ra < box["ra2"]) & (dec >= box["dec1"]) & (dec < box["dec2"])


def saga_host_ranges() -> dict[str, tuple[float, float]]:
    """Ranges of the 101 SAGA DR3 hosts (table C1): ``logm`` (log M* [dex Msun]) and ``dist_mpc`` [Mpc]."""
    t = load_saga_hosts()
    m = np.asarray(t["log(M*)"], float)
    d = np.asarray(t["Dist"], float)
    return {"logm": (float(np.nanmin(m)), float(np.nanmax(m))), "dist_mpc": (float(np.nanmin(d)), float(np.nanmax(d)))}


def luminosity_distance_mpc(z) -> np.ndarray:
    """Luminosity distance [Mpc] at redshift z, the simulator's cosmology (:func:`dwarflib.sky.physics.distmod`)."""
    return distance_of_distance_modulus(distmod(np.asarray(z, float)))


def _read_inputs(sky_dir: Path) -> tuple[pd.DataFrame, list[Path], float]:
    truth_path = sky_dir / "truth.fits"
    if not truth_path.is_file():
        raise FileNotFoundError(f"{truth_path}: no truth table; build_compilation needs a simulated sky folder "
                                "(sweep-*.fits, truth.fits, summary.json from `dwarflib simulate`)")
    summary_path = sky_dir / "summary.json"
    if not summary_path.is_file():
        raise FileNotFoundError(f"{summary_path}: no summary (the footprint's area); build_compilation needs a "
                                "simulated sky folder written by `dwarflib simulate`")
    area = float(json.loads(summary_path.read_text())["area_deg2"])
    files = sweep_files(sky_dir)
    if not files:
        raise FileNotFoundError(f"{sky_dir}: no sweep-*.fits files")
    t = read_fits_table(truth_path)
    missing = [c for c in _TRUTH_READ if c not in t.colnames]
    if missing:
        raise KeyError(f"{truth_path}: column(s) {missing} missing")
    truth = pd.DataFrame({c: np.asarray(t[c]).astype(np.asarray(t[c]).dtype.newbyteorder("="))
                          for c in _TRUTH_READ})
    return truth, files, area


def build_compilation(sky_dir, seed: int = 0, n_hosts: int | None = None,
                      host_logm: tuple[float, float] | None = None,
                      host_distance_mpc: tuple[float, float] | None = None) -> Compilation:
    """Observe the SDSS-, GAMA- and SAGA-like surveys on the simulated sky in ``sky_dir`` (see the module).

    Parameters
    ----------
    sky_dir : path
        A simulated sky folder (``sweep-*.fits``, ``truth.fits``, ``summary.json``).
    seed : int
        Seed of the completeness draws and of the choice of hosts (same sky and seed, same compilation).
    n_hosts : int, optional
        Number of SAGA-like hosts; default ``SAGA_AREA.hosts_on(footprint area)`` (SAGA's 101 hosts per SDSS
        main area). Fewer when the sky has fewer hosts (``report`` and ``hosts`` say how many).
    host_logm, host_distance_mpc : (min, max), optional
        Host stellar mass [dex Msun] and luminosity distance [Mpc] ranges; default those of the SAGA DR3 hosts
        (:func:`saga_host_ranges`).

    Raises
    ------
    FileNotFoundError
        ``truth.fits``, ``summary.json`` or the sweep files missing (naming the file or folder).
    ValueError
        A sweep row without a truth row (naming the sweep file), or the GAMA-like rectangle not inside the footprint.
    """
    sky_dir = Path(sky_dir)
    truth, files, footprint_deg2 = _read_inputs(sky_dir)
    truth_index = pd.Index(truth["TARGETID"].to_numpy())
    if not truth_index.is_unique:
        raise ValueError(f"{sky_dir / 'truth.fits'}: TARGETID is not unique")
    ranges = saga_host_ranges() if host_logm is None or host_distance_mpc is None else {}
    host_logm = ranges["logm"] if host_logm is None else tuple(host_logm)
    host_distance_mpc = ranges["dist_mpc"] if host_distance_mpc is None else tuple(host_distance_mpc)
    n_hosts = SAGA_AREA.hosts_on(footprint_deg2) if n_hosts is None else int(n_hosts)
    if n_hosts < 0:
        raise ValueError(f"n_hosts must be >= 0, got {n_hosts}")

    # host candidates from the truth: galaxies in SAGA's host mass and distance ranges
    tz = truth["Z"].to_numpy(float)
    tm = truth["LOGMSTAR"].to_numpy(float)
    cand = ~truth["IS_STAR"].to_numpy(bool) & (tm >= host_logm[0]) & (tm <= host_logm[1]) & (tz > 0)
    dist = np.full(len(truth), np.nan)
    dist[cand] = luminosity_distance_mpc(tz[cand])
    cand &= (dist >= host_distance_mpc[0]) & (dist <= host_distance_mpc[1])
    host_ids = np.sort(truth["TARGETID"].to_numpy()[cand])

    cols = list(datamodel.SWEEP_COLUMNS)
    # the GAMA-like rectangle: centred on the footprint's median position (from the first pass's positions)
    positions, parts, host_rows = [], [], []
    for path in files:
        t = read_catalogue(path, columns=["RA", "DEC"], required=(), flags=False)
        positions.append((np.asarray(t["RA"], float), np.asarray(t["DEC"], float)))
    ra_all = np.concatenate([p[0] for p in positions])
    dec_all = np.concatenate([p[1] for p in positions])
    box = gama_patch(float(np.median(ra_all)), float(np.median(dec_all)), GAMA_AREA.fraction() * footprint_deg2)
    n_in_box = int(_in_box(ra_all, dec_all, box).sum())
    expected = len(ra_all) * box["area"] / footprint_deg2
    if n_in_box < 0.8 * expected - 5 * np.sqrt(expected):
        raise ValueError(f"{sky_dir}: the GAMA-like rectangle {box} holds {n_in_box} sources where the footprint's "
                         f"density gives {expected:.0f}: it is not inside the footprint")
    del ra_all, dec_all, positions

    counts = {s: {"targets": 0, "observed": 0} for s in SURVEY_PRIORITY}
    for i_file, path in enumerate(files):
        t = read_catalogue(path, columns=cols, required=(), flags=False)
        sw = {c: np.asarray(t[c]) for c in cols}
        n = len(sw["RA"])
        try:
            tid = unique_id(sw["RELEASE"], sw["BRICKID"], sw["OBJID"])
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc
        row = truth_index.get_indexer(tid)
        if (row < 0).any():
            raise ValueError(f"{path}: {int((row < 0).sum())} of {n} rows have no row in {sky_dir / 'truth.fits'} "
                             "(not the same simulated sky)")
        rng = np.random.default_rng([seed, i_file])
        u = rng.random((3, n))
        sdss = sdss_like_targets(sw)
        gama = gama_like_targets(sw) & _in_box(sw["RA"], sw["DEC"], box)
        saga = saga_like_targets(sw)
        counts[SURVEY_SDSS]["targets"] += int(sdss.sum())
        counts[SURVEY_GAMA]["targets"] += int(gama.sum())
        sdss &= u[0] < SDSS_COMPLETENESS
        gama &= u[1] < GAMA_COMPLETENESS
        saga_ok = saga & (u[2] < dwarf_redshift_success(sw))
        is_host = np.isin(tid, host_ids)
        if is_host.any():
            host_rows.append(pd.DataFrame({"TARGETID": tid[is_host], "RA": sw["RA"][is_host],
                                           "DEC": sw["DEC"][is_host]}))
        keep = sdss | gama | saga
        if keep.any():
            part = {c: v[keep] for c, v in sw.items()}
            part.update(TARGETID=tid[keep], _ROW=row[keep], _SDSS=sdss[keep], _GAMA=gama[keep],
                        _SAGA_T=saga[keep], _SAGA_OK=saga_ok[keep])
            parts.append(part)
    data = {c: np.concatenate([p[c] for p in parts]) for c in parts[0]} if parts else {}
    if not data:
        raise ValueError(f"{sky_dir}: no source passes any survey's selection")

    # the hosts: n_hosts of the candidates, drawn with the seed (candidates in TARGETID order)
    hosts = (pd.concat(host_rows, ignore_index=True) if host_rows else
             pd.DataFrame({"TARGETID": np.array([], np.int64), "RA": [], "DEC": []}))
    hosts = hosts.sort_values("TARGETID", kind="stable").reset_index(drop=True)
    if len(hosts) > n_hosts:
        pick = np.sort(np.random.default_rng([seed, 101]).choice(len(hosts), n_hosts, replace=False))
        hosts = hosts.iloc[pick].reset_index(drop=True)
    hrow = truth_index.get_indexer(hosts["TARGETID"].to_numpy())
    hosts["Z"] = tz[hrow]
    hosts["LOGMSTAR"] = tm[hrow]
    hosts["DIST_MPC"] = luminosity_distance_mpc(hosts["Z"].to_numpy())
    kpc_arcsec = kpc_per_arcsec(hosts["Z"].to_numpy(float)) if len(hosts) else np.array([])
    hosts["RADIUS_DEG"] = SAGA_AREA.host_radius_kpc / np.asarray(kpc_arcsec) / 3600.0

    # projected distance [kpc] of every SAGA-like candidate to its nearest host
    r_host = np.full(len(data["RA"]), np.nan)
    if len(hosts):
        v = unit_vectors(data["RA"], data["DEC"])
        vh = unit_vectors(hosts["RA"].to_numpy(), hosts["DEC"].to_numpy())
        sep = np.arccos(np.clip(v.T @ vh, -1, 1))  # radians, rows x hosts
        r_kpc = np.degrees(sep) * 3600.0 * np.asarray(kpc_arcsec)[None, :]
        r_host = r_kpc.min(axis=1)
    near = r_host < SAGA_AREA.host_radius_kpc
    saga_t = data["_SAGA_T"] & near
    saga = data["_SAGA_OK"] & near
    counts[SURVEY_SAGA]["targets"] = int(saga_t.sum())
    counts[SURVEY_SDSS]["observed"] = int(data["_SDSS"].sum())
    counts[SURVEY_GAMA]["observed"] = int(data["_GAMA"].sum())
    counts[SURVEY_SAGA]["observed"] = int(saga.sum())

    flags = {SURVEY_SDSS: data["_SDSS"], SURVEY_GAMA: data["_GAMA"], SURVEY_SAGA: saga}
    in_surveys = np.zeros(len(r_host), np.int16)
    for name, f in flags.items():
        in_surveys |= np.where(f, SURVEY_BITS[name], 0).astype(np.int16)
    keep = in_surveys > 0
    survey = np.full(len(r_host), b"", dtype="S12")
    for name in reversed(SURVEY_PRIORITY):  # the first survey of the priority order wins
        survey[flags[name]] = name.encode()
    row = data["_ROW"][keep]
    z = tz[row]
    logm = tm[row]
    is_star = truth["IS_STAR"].to_numpy(bool)[row]
    table = {c: data[c][keep] for c in cols}
    table.update(TARGETID=data["TARGETID"][keep], Z=z, LOGMSTAR=logm.astype(np.float32),
                 CLASS=assign_classes(z, logm, is_star).astype(np.int16), IS_STAR=is_star,
                 SURVEY=survey[keep], IN_SURVEYS=in_surveys[keep], R_HOST_KPC=r_host[keep].astype(np.float32))
    if len(np.unique(table["TARGETID"])) != len(table["TARGETID"]):
        raise RuntimeError("the compilation holds an object twice")  # sweep rows are unique objects

    areas = {SURVEY_SDSS: footprint_deg2, SURVEY_GAMA: box["area"],
             SURVEY_SAGA: float((np.pi * hosts["RADIUS_DEG"] ** 2).sum())}
    real = {SURVEY_SDSS: "SDSS main", SURVEY_GAMA: "GAMA", SURVEY_SAGA: "SAGA"}
    real_area = {a.name: a.area_deg2 for a in SURVEY_AREAS}
    rmax = {SURVEY_SDSS: SDSS_MAIN.r_max, SURVEY_GAMA: GAMA.r_max, SURVEY_SAGA: SAGA.r_max}
    compl = {SURVEY_SDSS: f"{SDSS_COMPLETENESS:g}", SURVEY_GAMA: f"{GAMA_COMPLETENESS:g}",
             SURVEY_SAGA: "0.5-0.95 (surface brightness)"}
    sig = table["CLASS"] == 0
    rows = [{"survey": s, "r_max": rmax[s], "area_deg2": areas[s], "real_area_deg2": real_area[real[s]],
             "completeness": compl[s], "targets": counts[s]["targets"], "observed": counts[s]["observed"],
             "written": int((table["SURVEY"] == s.encode()).sum()),
             "signal": int((sig & (table["SURVEY"] == s.encode())).sum())} for s in SURVEY_PRIORITY]
    rows.append({"survey": "compilation", "r_max": np.nan, "area_deg2": footprint_deg2, "real_area_deg2": np.nan,
                 "completeness": "", "targets": np.nan, "observed": int(sum(counts[s]["observed"] for s in counts)),
                 "written": len(table["TARGETID"]), "signal": int(sig.sum())})
    return Compilation(table=table, report=pd.DataFrame(rows), hosts=hosts, gama_box=box,
                       footprint_deg2=footprint_deg2, seed=int(seed), sky_dir=sky_dir)


def write_compilation(comp: Compilation, path) -> Path:
    """Write the compilation as a labelled FITS table (sweep columns + :data:`COMPILATION_EXTRA`), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = dict(datamodel.SWEEP_COLUMNS) | COMPILATION_EXTRA
    header = {"CMPSEED": comp.seed, "CMPVERS": COMPILATION_VERSION, "NHOSTS": len(comp.hosts),
              "GAMAAREA": comp.gama_box["area"], "FPAREA": comp.footprint_deg2}
    w = FitsStreamWriter.for_columns(path, columns, table_cards=header.items(), atomic=True)
    try:
        w.write({c: comp.table[c] for c in columns})
        w.close()
    except BaseException:
        w.abort()
        raise
    return path


def compilation_path(sky_dir, seed: int = 0) -> Path:
    """Cache path of the compilation of ``sky_dir`` with ``seed``
    (``cache_dir("paper-trainset") / <sky folder>-seed<seed>-v<version>.fits``)."""
    return paths.cache_dir("paper-trainset") / f"{Path(sky_dir).name}-seed{seed}-v{COMPILATION_VERSION}.fits"


def ensure_compilation(sky_dir, seed: int = 0) -> Path:
    """Path of the compilation of ``sky_dir`` (default options, ``seed``) in the cache, built when absent."""
    path = compilation_path(sky_dir, seed)
    if not path.is_file():
        write_compilation(build_compilation(sky_dir, seed=seed), path)  # atomic: never half a file
    return path
