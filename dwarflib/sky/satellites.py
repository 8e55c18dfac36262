"""Opt-in environment component of the simulated sky: satellites around Milky-Way-mass hosts (issue #13).

The default sky has no environment (every dwarf is a field dwarf, and the files stay bit-identical); with
``satellites=True`` (``dwarflib simulate --satellites``) each chunk's simulated galaxies of SAGA's host
definition get satellite systems whose abundance, stellar-mass function, projected radii, line-of-sight
velocities and quenched fraction come from the calibration half of SAGA DR3
(:func:`dwarflib.sky.satellite_calibration.calibrate_satellites` writes :data:`CALIBRATION_FILE`; the
verification half and ELVES are checks only).

Where each number comes from (:class:`SatelliteModel`):

* hosts: chunk galaxies with ``host_logm_min <= log M* <= host_logm_max`` (the log M* range of the 101 SAGA
  DR3 hosts, table C1) and ``host_z_min <= z <= host_z_max`` (``host_z_max`` = 0.03, a parameter: beyond it
  the satellites of a Milky-Way analogue are fainter than r = 21.5 except the most massive; ``host_z_min``
  is 0: the nearest hosts are left out by the box rule under Positions). SAGA's isolation criteria are not
  applied.
* number per host: Poisson with mean N(log M* >= ``logm_complete``) = ``n_above_complete`` [per host] (the
  calibration hosts' satellites above that mass, where SAGA's Gold sample is nearly complete, times SAGA's
  Gold completeness correction sum(nsat-G) / sum(nsat-Gc)), extended down to ``logm_min`` with the
  power law below.
* stellar-mass function: dN/dlog M* proportional to 10**(-``slope`` log M*) between ``logm_complete`` and
  ``logm_max`` (``slope``: the maximum-likelihood slope of the calibration satellites above
  ``logm_complete``) and to 10**(-``slope_low`` log M*) from ``logm_min`` up to ``logm_complete``
  (continuous), with ``slope_low`` set so that the simulated number per host with M_r < -12.3 (SAGA's
  Gold+Silver limit) equals the calibration hosts' incompleteness-corrected count (SAGA's nsat-GS).
* projected radius [kpc]: the calibration satellites' R_HOST distribution (quantiles ``r_quantiles_kpc`` at
  equally spaced probabilities, drawn by linear interpolation of the inverse CDF), within 300 kpc as SAGA;
  uniform position angle.
* line-of-sight velocity relative to the host [km/s]: normal with the calibration satellites' standard
  deviation of DVhost, truncated at SAGA's window |dv| < ``dv_max_kms``; the satellite's true redshift is
  z_host + dv (1 + z_host) / c, while its distance (distance modulus, kpc per arcsec) is the host's.
* intrinsic properties: :func:`dwarflib.sky.physics.draw_galaxies` of a variant of the sky model whose
  quiescent fraction is ``fq_values`` at ``fq_m_nodes`` (a linear fit in log M* to SAGA's ``quenched`` flag
  of the calibration satellites, binomial maximum likelihood) and whose mass function is the power law
  above, in the host's redshift bin (width :data:`Z_BIN`); the distance-dependent quantities (R_TRUE,
  RE_ARCSEC, MU_EFF_R_TRUE) are then moved to the host's distance. Sizes, Sersic indices and M/L are the
  sky model's, whatever it is calibrated to; so are the colours, except the offset below.
* colours of star-forming satellites: g-r of the SF population + ``gr_sf_offset`` [mag] (linear in log M*
  between ``gr_sf_m_nodes``, flat outside), the other colours moved by their regression on g-r in the SF
  population (Cov(c, g-r) / Var(g-r)), and log M/L by b(z) times the g-r offset (so r is fainter by
  2.5 b(z) x offset at fixed mass: the model's colour-M/L relation holds). Why (issue #13, measured on SAGA
  DR3 and DESI EDR): the sky's field colours match EDR where EDR has dwarfs (median g-r of EDR vs the sky's
  BGS-like selection at z < 0.03: 0.269 vs 0.279 at 7.5 < log M* < 8, 0.368 vs 0.361 at 8-8.5, 0.442 vs
  0.447 at 8.5-9), but SAGA's star-forming satellites are redder than the sky's star-forming field dwarfs
  in SAGA's volume and cuts at the same mass (SAGA 0.364 / 0.385 / 0.415 / 0.444 / 0.500 vs sky
  0.252 / 0.302 / 0.351 / 0.429 / 0.511 in log M* bins 7-7.5 ... 9-9.5). It is not the mass system: with the
  SAGA relation (Mao et al. 2021) applied to both, the sky's medians move by <= 0.01 mag. The offset is
  fitted on the calibration half (:func:`dwarflib.sky.satellite_calibration.fit_gr_offsets`).
* colours of quiescent satellites: likewise, with their own offset ``gr_q_offset`` on the same nodes and the
  quiescent population's regressions, fitted on SAGA's quenched satellites of the calibration half. Why
  (issue #13): the sky's quiescent dwarf g-r is the field star-forming sequence plus SAGA's
  quenched-minus-star-forming gap, so without an offset of their own quiescent satellites miss the
  satellites' redder star-forming sequence; in a simulated SAGA survey of the sky of version 8 they were
  0.08 mag bluer than SAGA's quenched satellites at 7 < log M* < 9 (0.51 / 0.56 against 0.59 / 0.64), and
  real SAGA satellites redder than g-r = 0.6 were three times more common than simulated ones (0.135 against
  0.031 of the signal-range satellites), which made the real satellites harder to recall.
* detection: like every simulated galaxy, a satellite exists in the sky only when brighter than the sky's
  r limit and detected (:func:`dwarflib.sky.physics.detection_probability`).

Rows: satellites REPLACE field galaxies, they are not extra sources. Each visible satellite takes the place
of the not-yet-used field galaxy of the chunk nearest to it in (log M*, z) (distance in units of
:data:`MATCH_SCALE`), so the chunk keeps exactly its ``n`` sources, the OBJID counter and the surface
density are unchanged, and the mass function and redshift distribution calibrated on DESI EDR (which counts
satellites and field galaxies together) stay as they were: the environment moves dwarfs into groups, it
does not add dwarfs. A satellite with no field galaxy left to replace is not written and is counted
(``n_unmatched``). Counts per chunk (hosts, drawn, fainter than the limit, undetected, written, unmatched)
go into the summary.

Positions: offsets east/north [kpc] at the host's distance added to the host's position; an offset that
leaves the sweep box is mirrored (same projected radius), which always lands inside the box because hosts
whose 300 kpc circle exceeds half the box's smaller side are not used as hosts (``n_hosts_too_near``).

Truth columns when enabled (:data:`SATELLITE_TRUTH_COLUMNS`): IS_SATELLITE, HOST_TARGETID (-1 for
non-satellites), R_HOST_KPC (NaN for non-satellites).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from importlib import resources

import numpy as np
from scipy import special

from dwarflib.conventions import mean_surface_brightness
from dwarflib.sky.physics import (
    SkyModel,
    detection_probability,
    distmod,
    draw_galaxies,
    kpc_per_arcsec,
    ml_coefficients,
)

#: Package data file of the calibrated :class:`SatelliteModel`.
CALIBRATION_FILE = "satellite_calibration.json"
#: Speed of light [km/s].
C_KMS = 299_792.458
#: Width in z of the host bins whose satellites share one draw of intrinsic properties.
Z_BIN = 0.005
#: Scales of the (log M* [dex], z) distance used to choose the field galaxy a satellite replaces.
MATCH_SCALE = (0.1, 0.002)
#: r-band limit used to draw satellites before moving them to their host's distance [mag] (effectively none:
#: the sky's own limit is applied afterwards).
_DRAW_R_LIMIT = 40.0
#: log M* of the mass function's exponential cut-off in the variant model (far above every satellite, so that
#: dN/dlog M* is the pure power law there).
_SMF_CUTOFF = 14.0

SATELLITE_TRUTH_COLUMNS: dict[str, tuple[str, str, str]] = {
    "IS_SATELLITE": ("b1", "", "True for a satellite of a simulated Milky-Way-mass host (dwarflib.sky.satellites)"),
    "HOST_TARGETID": ("i8", "", "TARGETID of the satellite's host (-1 when not a satellite)"),
    "R_HOST_KPC": ("f4", "kpc", "projected distance to the host (NaN when not a satellite)"),
}


@dataclass(frozen=True)
class SatelliteModel:
    """Parameters of the satellite systems (see the module docstring). Masses log10 Msun [dex], radii kpc,
    velocities km/s."""

    host_logm_min: float = 10.1
    host_logm_max: float = 10.94
    host_z_min: float = 0.0
    host_z_max: float = 0.03
    logm_complete: float = 7.5
    n_above_complete: float = 2.7
    slope: float = 0.5
    slope_low: float = 0.5
    logm_min: float = 6.0
    logm_max: float = 10.4
    r_max_kpc: float = 300.0
    r_quantiles_kpc: list = field(default_factory=lambda: [10.0, 300.0])
    dv_sigma_kms: float = 117.0
    dv_max_kms: float = 275.0
    fq_m_nodes: list = field(default_factory=lambda: [6.0, 10.4])
    fq_values: list = field(default_factory=lambda: [0.2, 0.2])
    gr_sf_m_nodes: list = field(default_factory=lambda: [7.0, 9.0])
    gr_sf_offset: list = field(default_factory=lambda: [0.0, 0.0])
    gr_q_offset: list = field(default_factory=lambda: [0.0, 0.0])
    provenance: dict = field(default_factory=dict)

    def __post_init__(self):
        q = np.asarray(self.r_quantiles_kpc, float)
        if len(q) < 2 or np.any(np.diff(q) < 0) or q[0] < 0 or q[-1] > self.r_max_kpc:
            raise ValueError(f"r_quantiles_kpc must be >= 2 non-decreasing radii in [0, r_max_kpc="
                             f"{self.r_max_kpc}], got {list(q)}")
        fq = np.asarray(self.fq_values, float)
        if len(fq) != len(self.fq_m_nodes) or np.any((fq < 0) | (fq > 1)):
            raise ValueError(f"fq_values must be fractions in [0, 1], one per fq_m_nodes, got {list(fq)}")
        nodes = np.asarray(self.gr_sf_m_nodes, float)
        for name in ("gr_sf_offset", "gr_q_offset"):
            off = np.asarray(getattr(self, name), float)
            if len(nodes) < 1 or len(off) != len(nodes) or np.any(np.diff(nodes) <= 0) or not np.all(np.isfinite(off)):
                raise ValueError(f"{name} must be finite offsets [mag], one per increasing gr_sf_m_nodes, got "
                                 f"nodes {list(nodes)}, offsets {list(off)}")
        if not (self.logm_min < self.logm_complete < self.logm_max and self.slope > 0
                and 0 <= self.slope_low <= self.slope
                and self.n_above_complete >= 0 and self.dv_sigma_kms > 0):
            raise ValueError("SatelliteModel needs logm_min < logm_complete < logm_max, 0 <= slope_low <= slope, "
                             "n_above_complete >= 0, dv_sigma_kms > 0")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SatelliteModel:
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown SatelliteModel parameter(s): {sorted(unknown)}")
        return cls(**d)

    def n_per_host(self, slope_low: float | None = None) -> float:
        """Mean number of satellites per host with ``logm_min`` <= log M* < ``logm_max`` (with ``slope_low``
        below ``logm_complete``; the argument overrides the model's, e.g. ``slope`` for the unthinned draw)."""
        b, bl = self.slope, self.slope_low if slope_low is None else slope_low
        mc = self.logm_complete
        above = self.n_above_complete
        # continuous density at mc: dN/dlogM = n_above b ln10 10**(-b mc) / (10**(-b mc) - 10**(-b mmax))
        dens_c = above * b * np.log(10) * 10.0 ** (-b * mc) / (10.0 ** (-b * mc) - 10.0 ** (-b * self.logm_max))
        dm = mc - self.logm_min
        below = dens_c * ((10.0 ** (bl * dm) - 1) / (bl * np.log(10)) if bl > 0 else dm)
        return float(above + below)

    def gr_offset(self, logm, pop: int = 0) -> np.ndarray:
        """g-r offset [mag] of a satellite of log M* ``logm`` [dex] from the sky model's colours of its
        population ``pop`` (0 star-forming: ``gr_sf_offset``, 1 quiescent: ``gr_q_offset``; linear between
        ``gr_sf_m_nodes``, flat outside)."""
        if pop not in (0, 1):
            raise ValueError(f"pop must be 0 (star-forming) or 1 (quiescent), got {pop!r}")
        return np.interp(np.asarray(logm, float), self.gr_sf_m_nodes, self.gr_sf_offset if pop == 0 else
                         self.gr_q_offset)

    def keep_probability(self, logm) -> np.ndarray:
        """Probability that a satellite drawn with ``slope`` everywhere is kept: 1 above ``logm_complete``,
        10**(-(slope - slope_low) (logm_complete - log M*)) below (thinning to ``slope_low``)."""
        return 10.0 ** (-(self.slope - self.slope_low) * np.clip(self.logm_complete - np.asarray(logm), 0, None))


def load_satellite_model(path=None) -> SatelliteModel:
    """The calibrated :class:`SatelliteModel` (package data file :data:`CALIBRATION_FILE`, or ``path``)."""
    if path is None:
        ref = resources.files("dwarflib") / "data" / CALIBRATION_FILE
        if not ref.is_file():
            raise FileNotFoundError(f"dwarflib/data/{CALIBRATION_FILE} is missing: run "
                                    "dwarflib.sky.satellite_calibration.calibrate_satellites()")
        return SatelliteModel.from_dict(json.loads(ref.read_text()))
    with open(path) as fh:
        return SatelliteModel.from_dict(json.load(fh))


def satellite_sky_model(model: SkyModel, sat: SatelliteModel, z_lo: float, z_hi: float) -> SkyModel:
    """The sky model variant whose :func:`draw_galaxies` draws satellites: SAGA's quenched fraction, the
    satellite mass function (power law in [logm_min, logm_max]) and redshifts in [z_lo, z_hi]."""
    # a new instance (dataclasses.replace): its cached arrays and sampling grids are computed afresh
    return replace(model, fq_m_nodes=list(sat.fq_m_nodes), fq_values=list(sat.fq_values),
                   smf_logmstar=_SMF_CUTOFF, smf_phi1=0.0, smf_phi2=1e-3, smf_alpha2=-1.0 - sat.slope,
                   logm_min=sat.logm_min, logm_max=sat.logm_max, z_min=z_lo, z_max=z_hi)


def draw_satellite_systems(rng: np.random.Generator, host_z, model: SkyModel, sat: SatelliteModel) -> dict:
    """Intrinsic satellites of hosts at redshifts ``host_z`` (no r limit, no detection applied).

    Returns a dict of arrays, one row per satellite: HOST (index into ``host_z``), the :func:`draw_galaxies`
    keys (Z is the satellite's redshift; R_TRUE [mag], RE_ARCSEC [arcsec] and MU_EFF_R_TRUE [mag/arcsec^2]
    at the host's distance), R_HOST_KPC [kpc], D_EAST_KPC, D_NORTH_KPC [kpc] (offsets on the sky at the host)
    and DV_KMS [km/s].
    """
    host_z = np.asarray(host_z, float)
    n_sat = rng.poisson(sat.n_per_host(sat.slope), len(host_z))  # thinned below logm_complete at the end
    host = np.repeat(np.arange(len(host_z)), n_sat)
    k = len(host)
    r_kpc = np.interp(rng.random(k), np.linspace(0.0, 1.0, len(sat.r_quantiles_kpc)), sat.r_quantiles_kpc)
    phi = 2 * np.pi * rng.random(k)
    # line-of-sight velocity: normal truncated to SAGA's window (inverse CDF over the kept range)
    p_lo = special.ndtr(-sat.dv_max_kms / sat.dv_sigma_kms)
    dv = sat.dv_sigma_kms * special.ndtri(p_lo + rng.random(k) * (1 - 2 * p_lo))
    # intrinsic properties: one draw of the variant model per host redshift bin
    zh = host_z[host]
    zbin = np.floor(zh / Z_BIN).astype(np.int64)
    props: dict = {}
    for b in np.unique(zbin).tolist() or [0]:
        rows = np.flatnonzero(zbin == b)
        variant = satellite_sky_model(model, sat, max(b * Z_BIN, model.z_min), (b + 1) * Z_BIN)
        g = draw_galaxies(rng, len(rows), variant, _DRAW_R_LIMIT)
        for key, v in g.items():
            if key not in props:
                props[key] = np.empty((k,) + v.shape[1:], v.dtype)
            props[key][rows] = v
    redden_satellites(props, model, sat)
    # to the host's distance: the host's distance modulus and angular scale, not those of the drawn z
    props["R_TRUE"] = props["R_TRUE"] + distmod(zh) - distmod(props["Z"])
    props["RE_ARCSEC"] = props["RE_KPC"] / kpc_per_arcsec(zh)
    props["MU_EFF_R_TRUE"] = mean_surface_brightness(props["R_TRUE"], props["RE_ARCSEC"], props["BA_TRUE"])
    props["Z"] = zh + dv * (1 + zh) / C_KMS
    props.update(HOST=host, R_HOST_KPC=r_kpc, D_EAST_KPC=r_kpc * np.sin(phi), D_NORTH_KPC=r_kpc * np.cos(phi),
                 DV_KMS=dv)
    keep = np.flatnonzero(rng.random(k) < sat.keep_probability(props["LOGMSTAR"]))
    return {key: v.take(keep, axis=0) for key, v in props.items()}


def redden_satellites(props: dict, model: SkyModel, sat: SatelliteModel) -> None:
    """Apply the satellites' g-r offsets :meth:`SatelliteModel.gr_offset` to drawn galaxies ``props`` (in
    place), each population its own (star-forming ``gr_sf_offset``, quiescent ``gr_q_offset``): COLOURS (g-r by
    the offset, the others by their regression on g-r in that population), ML by b(z) x offset and R_TRUE by
    2.5 b(z) x offset [mag] (the model's colour-M/L relation at fixed mass), MU_EFF_R_TRUE with R_TRUE."""
    cov_all = model.arrays()["cov"]  # per population (SF, Q), g-r first
    changed = False
    for pop in (0, 1):
        rows = np.flatnonzero(props["POP"] == pop)
        d_gr = sat.gr_offset(props["LOGMSTAR"][rows], pop)
        if not np.any(d_gr):
            continue
        cov = cov_all[pop]
        props["COLOURS"][rows] += d_gr[:, None] * (cov[:, 0] / cov[0, 0])[None, :]
        _, b = ml_coefficients(props["Z"][rows], model, props["LOGMSTAR"][rows])
        props["ML"][rows] += b * d_gr
        props["R_TRUE"][rows] += 2.5 * b * d_gr
        changed = True
    if changed:
        props["MU_EFF_R_TRUE"] = mean_surface_brightness(props["R_TRUE"], props["RE_ARCSEC"], props["BA_TRUE"])


def _box_half_side_deg(box: dict) -> float:
    """Half the smaller side of a sweep box [deg] (RA side at the box's widest |Dec|)."""
    cos_dec = np.cos(np.radians(max(abs(box["dec1"]), abs(box["dec2"]))))
    return 0.5 * min(box["dec2"] - box["dec1"], (box["ra2"] - box["ra1"]) * cos_dec)


def host_rows(g: dict, sat: SatelliteModel, box: dict) -> tuple[np.ndarray, int]:
    """Rows of the drawn galaxies ``g`` that are hosts in ``box``, and the number of galaxies of the host
    definition left out because their ``r_max_kpc`` circle exceeds half the box's smaller side."""
    z, logm = g["Z"], g["LOGMSTAR"]
    ok = (logm >= sat.host_logm_min) & (logm <= sat.host_logm_max) & (z >= sat.host_z_min) & (z <= sat.host_z_max)
    rows = np.flatnonzero(ok)
    r_deg = sat.r_max_kpc / kpc_per_arcsec(z[rows]) / 3600.0
    fits = r_deg <= _box_half_side_deg(box)
    return rows[fits], int((~fits).sum())


def add_satellites(rng: np.random.Generator, g: dict, box: dict, model: SkyModel, sat: SatelliteModel,
                   r_limit: float, stats: dict | None = None) -> tuple[dict, dict]:
    """Replace field galaxies of a chunk's drawn galaxies ``g`` (dict of arrays, as from
    :func:`draw_galaxies`, detected) by the visible satellites of its hosts.

    Returns the galaxies (same number of rows; replaced rows hold the satellites) and per-row satellite
    columns: IS_SATELLITE, HOST (row of the host in ``g``, -1), R_HOST_KPC [kpc] (NaN), D_EAST_DEG and
    D_NORTH_DEG (offsets on the sky from the host [deg], 0 for non-satellites). ``stats`` (optional) is
    incremented with n_hosts, n_hosts_too_near, n_drawn, n_fainter, n_undetected, n_written, n_unmatched.
    """
    n = len(g["Z"])
    hosts, too_near = host_rows(g, sat, box)
    s = draw_satellite_systems(rng, g["Z"][hosts], model, sat)
    faint = ~(s["R_TRUE"] < r_limit)
    detected = rng.random(len(faint)) < detection_probability(s["MU_EFF_R_TRUE"], model)
    visible = np.flatnonzero(~faint & detected)
    # the field galaxy each visible satellite replaces: nearest unused in (log M*, z), never a host
    free = np.ones(n, bool)
    free[hosts] = False
    cand = np.flatnonzero(free & (g["LOGMSTAR"] >= sat.logm_min - 0.5) & (g["LOGMSTAR"] <= sat.logm_max + 0.5)
                          & (g["Z"] <= sat.host_z_max + 0.01))
    used = np.zeros(len(cand), bool)
    target = np.full(len(visible), -1)
    cm, cz = g["LOGMSTAR"][cand] / MATCH_SCALE[0], g["Z"][cand] / MATCH_SCALE[1]
    for i, j in enumerate(visible.tolist()):
        if used.all():
            break
        d2 = (cm - s["LOGMSTAR"][j] / MATCH_SCALE[0]) ** 2 + (cz - s["Z"][j] / MATCH_SCALE[1]) ** 2
        d2[used] = np.inf
        best = int(np.argmin(d2))
        used[best] = True
        target[i] = cand[best]
    written = visible[target >= 0]
    rows = target[target >= 0]
    out = {}
    for key, v in g.items():
        v = v.copy()
        v[rows] = s[key][written]
        out[key] = v
    scale = kpc_per_arcsec(g["Z"][hosts][s["HOST"][written]]) * 3600.0  # kpc per deg at the host
    info = {"IS_SATELLITE": np.zeros(n, bool), "HOST": np.full(n, -1, np.int64),
            "R_HOST_KPC": np.full(n, np.nan, np.float32), "D_EAST_DEG": np.zeros(n), "D_NORTH_DEG": np.zeros(n)}
    info["IS_SATELLITE"][rows] = True
    info["HOST"][rows] = hosts[s["HOST"][written]]
    info["R_HOST_KPC"][rows] = s["R_HOST_KPC"][written]
    info["D_EAST_DEG"][rows] = s["D_EAST_KPC"][written] / scale
    info["D_NORTH_DEG"][rows] = s["D_NORTH_KPC"][written] / scale
    if stats is not None:
        for key, val in (("n_hosts", len(hosts)), ("n_hosts_too_near", too_near), ("n_drawn", len(faint)),
                         ("n_fainter", int(faint.sum())), ("n_undetected", int((~faint & ~detected).sum())),
                         ("n_written", len(rows)), ("n_unmatched", int((target < 0).sum()))):
            stats[key] = stats.get(key, 0) + int(val)
    return out, info


def place_satellites(ra: np.ndarray, dec: np.ndarray, sat_rows: np.ndarray, host_rows_: np.ndarray,
                     d_east_deg: np.ndarray, d_north_deg: np.ndarray, box: dict) -> None:
    """Move the satellites (rows ``sat_rows`` of ``ra``, ``dec`` [deg], in place) to their hosts' positions
    plus their offsets; an offset that leaves the box is mirrored (same projected distance)."""
    ra_h, dec_h = ra[host_rows_], dec[host_rows_]
    d = dec_h + d_north_deg
    d = np.where((d < box["dec1"]) | (d > box["dec2"]), dec_h - d_north_deg, d)
    d_ra = d_east_deg / np.cos(np.radians(dec_h))
    r = ra_h + d_ra
    r = np.where((r < box["ra1"]) | (r > box["ra2"]), ra_h - d_ra, r)
    ra[sat_rows], dec[sat_rows] = r, d


def satellite_rows(info: dict, perm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows (after the chunk's shuffle ``perm`` of its galaxies then its stars) of the satellites and of
    their hosts."""
    inv = np.empty(len(perm), np.int64)
    inv[perm] = np.arange(len(perm))
    sat = np.flatnonzero(info["IS_SATELLITE"])
    return inv[sat], inv[info["HOST"][sat]]


def satellite_truth(info: dict, perm: np.ndarray, targetid: np.ndarray) -> dict:
    """The truth columns :data:`SATELLITE_TRUTH_COLUMNS` of a chunk (rows in the shuffled order)."""
    n = len(perm)
    sat_rows, host_rows_ = satellite_rows(info, perm)
    host_tid = np.full(n, -1, np.int64)
    host_tid[sat_rows] = targetid[host_rows_]
    is_sat = np.zeros(n, bool)
    is_sat[sat_rows] = True
    r_host = np.full(n, np.nan, np.float32)
    r_host[sat_rows] = info["R_HOST_KPC"][info["IS_SATELLITE"]]
    return {"IS_SATELLITE": is_sat, "HOST_TARGETID": host_tid, "R_HOST_KPC": r_host}


def no_satellite_truth(n: int) -> dict:
    """The truth columns :data:`SATELLITE_TRUTH_COLUMNS` of ``n`` rows without satellites."""
    return {"IS_SATELLITE": np.zeros(n, bool), "HOST_TARGETID": np.full(n, -1, np.int64),
            "R_HOST_KPC": np.full(n, np.nan, np.float32)}
