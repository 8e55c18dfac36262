"""The physical model behind the simulated DR9-like sky: galaxies, stars, photometry and Tractor-like fits.

Everything here is vectorised numpy working on one chunk of objects; :mod:`dwarflib.sky.generate` drives it
chunk by chunk and writes the sweep files. The numbers that set the model live in a
:class:`SkyModel` (defaults below, overridden by the calibration file
``dwarflib/data/simulated_sky_calibration.json`` written by :mod:`dwarflib.sky.calibrate`).

Galaxies
    * Stellar mass function: a double Schechter function starting from the GAMA fit of Baldry et al. (2012),
      log M* = 10.66, phi1 = 3.96e-3, alpha1 = -0.35, phi2 = 0.79e-3, alpha2 = -1.47 [Mpc^-3 dex^-1] (the
      defaults below); the calibration refits log M*, phi2 and alpha2 in the PROVABGS mass scale of the
      DESI EDR. Used from log M* = 5.5 to 12.5 and assumed not to evolve out to z = 1.
    * Redshifts: volume weighted, dV_c/dz of Planck18 (astropy.cosmology); z from 0.0007 (3 Mpc) to 1.
      Inside the local shells z < 0.02 and 0.02 <= z < 0.05 the volume is weighted by the mean density of
      the calibration footprint relative to the cosmic mean (``local_density``, fitted on the ten DESI EDR
      rosettes, whose small local volume is dominated by large-scale structure); beyond z = 0.05 the
      density is the cosmic mean. ``local_density = [1, 1]`` gives a mean-density sky.
    * Population: star-forming (SF) or quiescent (Q), with a quiescent fraction that rises with mass.
    * Colours g-r, r-z, z-W1, W1-W2 (observed frame, AB, extinction corrected): a multivariate normal per
      population whose mean is tabulated on a (z, log M*) grid and whose covariance is per population.
    * Mass-to-light: log(M*/L_r) = a(z) + b(z) (g-r) + N(0, sigma), the observed-frame version of a
      Bell et al. (2003)-like colour-M/L relation: at z = 0 it is the rest-frame relation, at z > 0 the
      K-correction is folded in. Apparent r = DM(z) + M_sun,r + 2.5 (log M/L - log M*), M_sun,r = 4.65.
      The sky keeps only galaxies with true (extinction-corrected) r < ``r_limit``; the draw is exact:
      (log M*, z, population) cells are sampled with their probability of being brighter than the limit,
      and the colour/M-L residuals are then drawn from the Gaussian conditioned on that (Matheron's rule).
    * Sizes: half-light radius along the major axis from the Lange et al. (2015) GAMA mass-size relations
      (late types r_e = 27.72e-3 M*^0.21 kpc; early types r_e = 8.25e-5 M*^0.44 kpc), evolving as (1+z)^-beta,
      log-normal scatter. Below log M* = 10 the star-forming relation carries one smooth dwarf sequence: an
      offset and a scatter tabulated at mass nodes 7-9.5 and joined continuously at log M* = 10 (fitted on
      SAGA sizes, :func:`dwarf_size_terms`). Sersic index (SF median tabulated in mass, its dwarf nodes fitted
      on SAGA) and axis ratio per population.
    * Detection: objects with too low an effective surface brightness are not detected by the Tractor
      (probability ``ndtr((mu_det - mu_eff)/mu_det_width)``).
Stars
    A power-law number-magnitude relation at high Galactic latitude, halo turn-off plus disc stars on the
    stellar locus in g-r, r-z, z-W1, W1-W2; Gaia G, parallax.
Photometry and Tractor
    DR9-like 5-sigma depths (south DECaLS, north BASS/MzLS, unWISE), smooth depth/seeing variations across
    the sky, noise-equivalent areas that grow with size, Galactic extinction with DR9 coefficients, the
    Tractor model choice (PSF/REX/EXP/DEV/SER from chi^2 improvements), measured shapes with errors and
    fibre fluxes in a 1.5" fibre under 1" Gaussian seeing integrated from the fitted Sersic profile.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np
from scipy import special

from dwarflib.conventions import mean_surface_brightness
from dwarflib.sky.grid import (
    alias_draw,
    alias_table,
    bilinear,
    bilinear_flat,
    frac_index,
    interp,
    interp_many,
)

#: Solar absolute magnitude in the r band (AB) [mag] (Willmer 2018).
M_SUN_R = 4.65
#: DR9 Galactic extinction coefficients A_b / E(B-V) (legacysurvey.org/dr9/catalogs, SFD98 EBV).
EXTINCTION_COEFFS = {"G": 3.214, "R": 2.165, "Z": 1.211, "W1": 0.184, "W2": 0.113}
#: Fibre diameter [arcsec] and Gaussian seeing FWHM [arcsec] of the DR9 FIBERFLUX definition.
FIBER_DIAMETER = 1.5
FIBER_SEEING_FWHM = 1.0
#: Order of the colours in the colour vectors.
COLOURS = ("g-r", "r-z", "z-W1", "W1-W2")
POPULATIONS = ("SF", "Q")

CALIBRATION_FILE = "simulated_sky_calibration.json"


# ---------------------------------------------------------------------------------------------------
# Model parameters
# ---------------------------------------------------------------------------------------------------
def _default_z_nodes() -> list[float]:
    return [0.0, 0.015, 0.03, 0.05, 0.075, 0.1, 0.125, 0.15, 0.175, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.8, 1.0]


def _default_m_nodes() -> list[float]:
    return [5.0, 6.0, 7.0, 8.0, 8.5, 9.0, 9.5, 9.75, 10.0, 10.25, 10.5, 10.75, 11.0, 11.5, 12.0, 12.5]


def _initial_colour_tables(z_nodes, m_nodes) -> dict:
    """Starting guess of the mean observed-frame colours (before calibration on DESI EDR) [mag]."""
    z = np.asarray(z_nodes)[:, None]
    m = np.asarray(m_nodes)[None, :]
    dm = np.clip(m - 9.0, -3.0, 3.0)
    sf = {
        "g-r": 0.42 + 0.10 * dm + 0.3 * z,
        "r-z": 0.24 + 0.10 * dm + 0.0 * z,
        "z-W1": -0.64 + 0.15 * dm + 0.8 * z,
        "W1-W2": -0.58 + 1.3 * np.minimum(z, 0.25) - 1.0 * np.clip(z - 0.25, 0, None) + 0 * dm,
    }
    zq = np.array([0.0, 0.05, 0.125, 0.175, 0.25, 0.35, 0.5, 0.8])
    dq = np.clip(m - 10.5, -3.0, 2.0)
    q = {
        "g-r": np.interp(z, zq, [0.78, 0.86, 0.98, 1.08, 1.30, 1.50, 1.75, 1.9]) + 0.05 * dq,
        "r-z": np.interp(z, zq, [0.55, 0.58, 0.66, 0.70, 0.74, 0.82, 0.93, 1.1]) + 0.03 * dq,
        "z-W1": np.interp(z, zq, [-0.38, -0.30, -0.12, -0.03, 0.17, 0.38, 0.63, 0.9]) + 0.05 * dq,
        "W1-W2": np.interp(z, zq, [-0.60, -0.57, -0.44, -0.36, -0.35, -0.40, -0.49, -0.5]) + 0 * dq,
    }
    return {"SF": {c: np.broadcast_to(v, (len(z_nodes), len(m_nodes))).tolist() for c, v in sf.items()},
            "Q": {c: np.broadcast_to(v, (len(z_nodes), len(m_nodes))).tolist() for c, v in q.items()}}


@dataclass
class SkyModel:
    """All numbers of the simulated sky. Units: magnitudes AB [mag], masses log10 Msun [dex], sizes kpc."""

    # --- stellar mass function (Baldry et al. 2012, GAMA, h=0.7) ---
    smf_logmstar: float = 10.66
    smf_phi1: float = 3.96e-3
    smf_alpha1: float = -0.35
    smf_phi2: float = 0.79e-3
    smf_alpha2: float = -1.47
    logm_min: float = 5.5
    logm_max: float = 12.5
    z_min: float = 0.0007
    z_max: float = 1.0
    # --- density of the calibration footprint relative to the cosmic mean in redshift shells:
    #     local_density[i] in [local_density_z_edges[i], local_density_z_edges[i+1]), 1 beyond the last edge ---
    local_density_z_edges: list = field(default_factory=lambda: [0.0, 0.02, 0.05])
    local_density: list = field(default_factory=lambda: [1.0, 1.0])
    # --- quiescent fraction: f_q = fq_low + (fq_high - fq_low) / (1 + exp(-(log M* - fq_m0)/fq_width)) ---
    fq_low: float = 0.02
    fq_high: float = 0.85
    fq_m0: float = 10.3
    fq_width: float = 0.3
    # calibrated table of the quiescent fraction at m nodes (overrides the logistic when not empty)
    fq_m_nodes: list = field(default_factory=list)
    fq_values: list = field(default_factory=list)
    # --- colours: mean tables (pop -> colour -> [z_node][m_node]), scatter and correlations per pop ---
    z_nodes: list = field(default_factory=_default_z_nodes)
    m_nodes: list = field(default_factory=_default_m_nodes)
    colour_mean: dict = field(default_factory=dict)
    colour_sigma: dict = field(default_factory=lambda: {"SF": [0.10, 0.08, 0.15, 0.08], "Q": [0.05, 0.04, 0.10, 0.06]})
    colour_corr: dict = field(default_factory=lambda: {
        "SF": [[1.0, 0.6, 0.4, 0.1], [0.6, 1.0, 0.5, 0.1], [0.4, 0.5, 1.0, 0.3], [0.1, 0.1, 0.3, 1.0]],
        "Q": [[1.0, 0.3, 0.2, 0.0], [0.3, 1.0, 0.3, 0.0], [0.2, 0.3, 1.0, 0.2], [0.0, 0.0, 0.2, 1.0]]})
    # dwarf colour scatter grows towards low mass: sigma *= 1 + colour_sigma_lowmass_slope * max(0, 9 - log M*)
    colour_sigma_lowmass_slope: float = 0.0
    # --- observed-frame mass-to-light log(M/L_r) = a(z) + b(z) (g-r) + N(0, ml_sigma) ---
    ml_z_nodes: list = field(default_factory=lambda: [0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.8, 1.0])
    ml_a: list = field(default_factory=lambda: [-0.45, -0.37, -0.30, -0.26, -0.25, -0.28, -0.32, -0.36, -0.45, -0.5])
    ml_b: list = field(default_factory=lambda: [0.95, 0.86, 0.78, 0.70, 0.65, 0.60, 0.56, 0.53, 0.50, 0.5])
    ml_sigma: float = 0.10
    # offset of log(M/L_r) for dwarfs (log M* < 8.5, blended in over 9.5 -> 8.5) [dex]
    ml_dwarf_offset: float = 0.0
    # --- sizes: log10 r_e[kpc] = size_a + size_b log M*, per pop; early-type branch for Q above; scatter ---
    size_sf_a: float = float(np.log10(27.72e-3))
    size_sf_b: float = 0.21
    size_sf_sigma: float = 0.20
    size_q_a: float = float(np.log10(8.25e-5))
    size_q_b: float = 0.44
    size_q_sigma: float = 0.17
    size_q_dwarf_offset: float = -0.10  # quenched dwarfs: SF relation + offset [dex]
    size_dwarf_offset: float = 0.0  # extra slope of the SF relation below log M* = 9 [dex per dex below 9]
    # dwarf sequence (issue #13): offset of the SF relation [dex] and its log-normal scatter [dex] at the mass
    # nodes size_dwarf_m_nodes, linear in log M* between nodes, held flat below the first node and joined
    # at SIZE_JOIN_LOGM to the massive relation (offset 0, scatter size_sf_sigma); fitted on SAGA sizes
    size_dwarf_m_nodes: list = field(default_factory=lambda: [7.0, 7.5, 8.0, 8.5, 9.0, 9.5])
    size_dwarf_dlogre: list = field(default_factory=lambda: [0.0] * 6)
    size_dwarf_sigma: list = field(default_factory=lambda: [0.20] * 6)
    size_z_beta_sf: float = 0.75
    size_z_beta_q: float = 1.0
    # --- Sersic index: log10 n ~ N(log10 median, 0.12); SF median n at mass nodes (the dwarf nodes
    #     <= 9.5 fitted on SAGA's Tractor Sersic indices), Q from ~1.2 to 4 ---
    sersic_sigma: float = 0.12
    sersic_sf_m_nodes: list = field(default_factory=lambda: [7.0, 7.5, 8.0, 8.5, 9.0, 9.5, 10.5, 11.5])
    sersic_sf_median: list = field(default_factory=lambda: [0.8, 0.84, 0.88, 0.92, 0.96, 1.0, 1.4, 2.0])
    # --- intrinsic shapes of SF galaxies (:func:`intrinsic_shapes`): triaxial ellipsoids seen from random
    #     directions, C/A ~ N(disc_q0, disc_q0_sigma) and B/A = 1 - |N(0, triaxiality)|; the dwarf values
    #     (log M* <= 8) are fitted on SAGA's b/a (dwarflib.sky.calibrate.fit_dwarf_shapes) and blend into
    #     the massive thin oblate disc (log M* >= 10). Q axis ratio N(0.72, 0.15) ---
    disc_q0_massive: float = 0.22
    disc_q0_dwarf: float = 0.40
    disc_q0_dwarf_sigma: float = 0.0
    dwarf_triaxiality: float = 0.0
    # --- Tractor detection limit in effective surface brightness (r band) [mag/arcsec^2] ---
    mu_det: float = 25.6
    mu_det_width: float = 0.45
    # --- stars: dN/dr [deg^-2 mag^-1] = star_a * 10**(star_slope (r - 20)) for r > star_r_min ---
    star_a: float = 300.0
    star_slope: float = 0.12
    star_r_min: float = 12.0
    # --- DR9 5-sigma point-source depths [AB mag] (south DECaLS / north BASS+MzLS) and unWISE ---
    depth_south: dict = field(default_factory=lambda: {"G": 24.7, "R": 24.1, "Z": 23.2})
    depth_north: dict = field(default_factory=lambda: {"G": 24.2, "R": 23.7, "Z": 23.3})
    depth_wise: dict = field(default_factory=lambda: {"W1": 20.9, "W2": 20.3})
    depth_scatter: float = 0.25
    seeing: dict = field(default_factory=lambda: {"G": 1.45, "R": 1.3, "Z": 1.2})
    seeing_scatter: float = 0.15
    wise_fwhm: dict = field(default_factory=lambda: {"W1": 6.1, "W2": 6.4})
    wise_zero_ivar_fraction: float = 0.003
    # --- Galactic reddening E(B-V) = ebv_pole / |sin b| * exp(ebv_lognormal * field) [mag] ---
    ebv_pole: float = 0.016
    ebv_lognormal: float = 0.35
    # --- FIBERFLUX of elliptical models uses r_e * (b/a)**fibre_q_power (0.5 = exact geometric limit for
    #     galaxies much larger than the fibre; calibrated on SAGA DR3 fibre magnitudes) ---
    fibre_q_power: float = 0.5
    # --- Tractor model selection thresholds (chi^2 improvements) ---
    dchi2_extended: float = 9.0
    dchi2_ellipse: float = 9.0
    dchi2_sersic: float = 25.0
    provenance: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.colour_mean:
            self.colour_mean = _initial_colour_tables(self.z_nodes, self.m_nodes)

    # -- serialisation --
    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SkyModel:
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown SkyModel parameter(s): {sorted(unknown)}")
        return cls(**d)

    # -- derived arrays (cached on the instance) --
    def arrays(self) -> dict:
        if getattr(self, "_arrays", None) is None:
            self._arrays = _model_arrays(self)
        return self._arrays


def load_sky_model(path=None) -> SkyModel:
    """The calibrated :class:`SkyModel` (package data file), or the uncalibrated defaults if absent."""
    if path is None:
        ref = resources.files("dwarflib") / "data" / CALIBRATION_FILE
        if not ref.is_file():
            return SkyModel()
        return SkyModel.from_dict(json.loads(ref.read_text()))
    with open(path) as fh:
        return SkyModel.from_dict(json.load(fh))


# ---------------------------------------------------------------------------------------------------
# Cosmology lookup tables
# ---------------------------------------------------------------------------------------------------
#: Redshift range of the cosmology lookup tables (uniform in log z).
_LOGZ_MIN, _LOGZ_MAX, _NZ_TAB = np.log(1e-4), np.log(1.5), 4001


@lru_cache(maxsize=1)
def cosmology_tables() -> dict:
    """Planck18 lookup tables on a grid uniform in log z (1e-4 to 1.5): comoving volume per deg^2 and unit z,
    distance modulus [mag], proper kpc per arcsec."""
    from astropy import units as u
    from astropy.cosmology import Planck18

    z = np.exp(np.linspace(_LOGZ_MIN, _LOGZ_MAX, _NZ_TAB))
    dvdz = (Planck18.differential_comoving_volume(z).to_value(u.Mpc**3 / u.sr) * (np.pi / 180) ** 2)
    dl = Planck18.luminosity_distance(z).to_value(u.Mpc)
    da = Planck18.angular_diameter_distance(z).to_value(u.kpc)
    return {"z": z, "dvdz_deg2": dvdz, "distmod": 5 * np.log10(dl) + 25.0,
            "log_kpc_per_arcsec": np.log(da * np.pi / (180 * 3600))}


def _table_interp(z, key: str) -> np.ndarray:
    """Linear interpolation in log z of a cosmology table (index arithmetic, no search)."""
    return _table_interp_many(z, (key,))[0]


def _table_interp_many(z, keys) -> list:
    """:func:`_table_interp` of several tables at the same z (index and weights computed once)."""
    tabs = cosmology_tables()
    f = (np.log(np.asarray(z, float)) - _LOGZ_MIN) * ((_NZ_TAB - 1) / (_LOGZ_MAX - _LOGZ_MIN))
    f = np.clip(f, 0.0, _NZ_TAB - 1.000001)
    i = f.astype(np.int64)
    t = f - i
    i1, t1 = i + 1, 1 - t
    return [tabs[key][i] * t1 + tabs[key][i1] * t for key in keys]


def distmod(z) -> np.ndarray:
    """Distance modulus [mag] for Planck18 at redshift z (table interpolation, error < 1e-4 mag)."""
    return _table_interp(z, "distmod")


def redshift_of_distmod(distance_modulus) -> np.ndarray:
    """The redshift at which :func:`distmod` equals ``distance_modulus`` [mag] (its inverse, interpolated in the
    same table; NaN outside it): places simulated galaxies at a real galaxy's distance."""
    tabs = cosmology_tables()
    dm = np.asarray(distance_modulus, float)
    return np.exp(np.interp(dm, tabs["distmod"], np.log(tabs["z"]), left=np.nan, right=np.nan))


def kpc_per_arcsec(z) -> np.ndarray:
    """Proper size of one arcsecond [kpc] at redshift z (Planck18)."""
    return np.exp(_table_interp(z, "log_kpc_per_arcsec"))


def _model_arrays(model: SkyModel) -> dict:
    nz, nm = len(model.z_nodes), len(model.m_nodes)
    mean = np.zeros((2, 4, nz, nm))
    for p, pop in enumerate(POPULATIONS):
        for c, col in enumerate(COLOURS):
            arr = np.asarray(model.colour_mean[pop][col], float)
            if arr.shape != (nz, nm):
                raise ValueError(f"colour_mean[{pop}][{col}] has shape {arr.shape}, expected {(nz, nm)}")
            mean[p, c] = arr
    cov = np.zeros((2, 4, 4))
    for p, pop in enumerate(POPULATIONS):
        s = np.asarray(model.colour_sigma[pop], float)
        cov[p] = np.asarray(model.colour_corr[pop], float) * np.outer(s, s)
    return {"mean": mean, "mean_flat": [mean[:, c].reshape(-1) for c in range(4)], "cov": cov,
            "chol": np.linalg.cholesky(cov)}


# ---------------------------------------------------------------------------------------------------
# Stellar mass function and the (log M*, z, pop) sampling grid
# ---------------------------------------------------------------------------------------------------
def smf(logm, model: SkyModel) -> np.ndarray:
    """Double Schechter stellar mass function phi(log M*) [Mpc^-3 dex^-1]."""
    x = 10.0 ** (np.asarray(logm) - model.smf_logmstar)
    return np.log(10) * np.exp(-x) * x * (model.smf_phi1 * x**model.smf_alpha1 + model.smf_phi2 * x**model.smf_alpha2)


def radial_density(z, model: SkyModel) -> np.ndarray:
    """Density relative to the cosmic mean at redshift z (step function over the local shells; 1 beyond)."""
    edges = np.asarray(model.local_density_z_edges, float)
    values = np.asarray(model.local_density, float)
    if len(edges) != len(values) + 1 or np.any(np.diff(edges) <= 0) or np.any(values <= 0):
        raise ValueError(f"local_density_z_edges {list(edges)} must increase and have one more entry than "
                         f"the positive local_density {list(values)}")
    i = np.searchsorted(edges, np.asarray(z, float), side="right") - 1
    inside = (i >= 0) & (i < len(values))
    return np.where(inside, values[np.clip(i, 0, len(values) - 1)], 1.0)


def quiescent_fraction(logm, model: SkyModel) -> np.ndarray:
    """Fraction of quiescent galaxies at log M* (calibrated table, else logistic in mass)."""
    if model.fq_values:
        return np.interp(logm, model.fq_m_nodes, model.fq_values)
    return model.fq_low + (model.fq_high - model.fq_low) / (1 + np.exp(-(np.asarray(logm) - model.fq_m0) / model.fq_width))


def ml_coefficients(z, model: SkyModel, logm=None):
    """a, b of the observed-frame mass-to-light relation log(M/L_r) = a + b (g-r) at redshift z.

    With ``logm`` the dwarf offset ``ml_dwarf_offset`` is blended in below log M* = 9.5 (full below 8.5).
    """
    a, b = interp_many(z, model.ml_z_nodes, [model.ml_a, model.ml_b])
    if logm is not None:
        a = a + model.ml_dwarf_offset * np.clip(9.5 - np.asarray(logm), 0.0, 1.0)
    return a, b


def _colour_sigma_scale(logm, model: SkyModel):
    return 1.0 + model.colour_sigma_lowmass_slope * np.clip(9.0 - logm, 0.0, None)


def s_moments(z, logm, pop, model: SkyModel):
    """Mean and sd of s = b(z) (g-r) + eps_ML, and s_max(r_limit) helper terms."""
    arr = model.arrays()
    fz = frac_index(z, model.z_nodes)
    fm = frac_index(logm, model.m_nodes)
    mu_gr = bilinear(arr["mean"][:, 0], fz, fm)  # shape (2, ...) -> choose pop
    mu_gr = np.where(pop == 0, mu_gr[0], mu_gr[1])
    a, b = ml_coefficients(z, model, logm)
    sig_gr = np.sqrt(arr["cov"][pop, 0, 0]) * _colour_sigma_scale(logm, model)
    var_s = (b * sig_gr) ** 2 + model.ml_sigma**2
    return a, b, mu_gr, sig_gr, b * mu_gr, np.sqrt(var_s)


@lru_cache(maxsize=8)
def _sampling_grid_cached(model_key: str, r_limit: float):
    model = SkyModel.from_dict(json.loads(model_key))
    return sampling_grid(model, r_limit)


def sampling_grid(model: SkyModel, r_limit: float) -> dict:
    """Cells in (log M*, z, population) with their number per deg^2 brighter than ``r_limit`` (true r).

    Returns a dict with the cell edges, the per-cell expected counts [deg^-2] and their cumulative sum.
    """
    m_edges = np.arange(model.logm_min, model.logm_max + 1e-9, 0.02)
    z_edges = np.geomspace(model.z_min, min(0.02, model.z_max), 120)
    if model.z_max > 0.02:
        z_edges = np.unique(np.concatenate([z_edges, np.linspace(0.02, model.z_max, 400)]))
    # the shells of the local density are cell edges, so that no cell straddles a density step
    shell = np.asarray(model.local_density_z_edges, float)
    z_edges = np.unique(np.concatenate([z_edges, shell[(shell > z_edges[0]) & (shell < z_edges[-1])]]))
    mc = 0.5 * (m_edges[1:] + m_edges[:-1])
    zc = 0.5 * (z_edges[1:] + z_edges[:-1])
    t = cosmology_tables()
    # comoving volume per cell (exact integral of the tabulated dV/dz)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (t["dvdz_deg2"][1:] + t["dvdz_deg2"][:-1]) * np.diff(t["z"]))])
    vol = np.diff(np.interp(z_edges, t["z"], cum) + (z_edges < t["z"][0]) * 0.0)
    vol *= radial_density(zc, model)
    phi = smf(mc, model) * np.diff(m_edges)
    fq = quiescent_fraction(mc, model)
    Z, M = np.meshgrid(zc, mc, indexing="ij")
    dmod = distmod(Z)
    counts = np.zeros((2, len(zc), len(mc)))
    for p in (0, 1):
        pop = np.full(Z.shape, p)
        a, b, mu_gr, sig_gr, mu_s, sd_s = s_moments(Z, M, pop, model)
        s_max = (r_limit - dmod - M_SUN_R) / 2.5 - a + M
        prob = special.ndtr((s_max - mu_s) / sd_s)
        frac = fq if p == 1 else 1 - fq
        counts[p] = vol[:, None] * (phi * frac)[None, :] * prob
    counts[counts < 1e-12 * counts.max()] = 0.0
    flat = counts.ravel()
    prob, alias = alias_table(flat / flat.sum())
    return {"m_edges": m_edges, "z_edges": z_edges, "counts": counts, "alias_prob": prob, "alias": alias,
            "density_deg2": float(flat.sum())}


def get_sampling_grid(model: SkyModel, r_limit: float) -> dict:
    """Cached :func:`sampling_grid` (keyed on the model's parameters; kept on the model instance too)."""
    cache = model.__dict__.setdefault("_grid_cache", {})
    key = float(r_limit)
    if key not in cache:
        text = json.dumps(model.to_dict(), sort_keys=True, default=float)
        cache[key] = _sampling_grid_cached(text, key)
    return cache[key]


# ---------------------------------------------------------------------------------------------------
# Galaxies
# ---------------------------------------------------------------------------------------------------
def draw_galaxies(rng: np.random.Generator, n: int, model: SkyModel, r_limit: float) -> dict:
    """Intrinsic properties of ``n`` galaxies brighter than ``r_limit`` (true extinction-corrected r).

    Returns a dict of arrays: Z, LOGMSTAR [dex], POP (0 SF, 1 Q), colours (n, 4) [mag], R_TRUE [mag],
    ML [log M/L_r], RE_KPC (major axis), RE_ARCSEC, SERSIC_TRUE, BA_TRUE (axis ratio), MU_EFF_R_TRUE
    [mag/arcsec^2]. Detection is not applied here.
    """
    grid = get_sampling_grid(model, r_limit)
    nz, nm = len(grid["z_edges"]) - 1, len(grid["m_edges"]) - 1
    cell = alias_draw(rng, grid["alias_prob"], grid["alias"], n)
    pop, rem = np.divmod(cell, nz * nm)
    iz, im = np.divmod(rem, nm)
    me, ze = grid["m_edges"], grid["z_edges"]
    logm = me[im] + rng.random(n) * (me[im + 1] - me[im])
    # uniform in comoving volume within the (narrow) z cell: r^3 uniform ~ z^3 at low z
    u = rng.random(n)
    z0, z1 = ze[iz], ze[iz + 1]
    z = np.cbrt(z0**3 + u * (z1**3 - z0**3))

    arr = model.arrays()
    fz = frac_index(z, model.z_nodes)
    fm = frac_index(logm, model.m_nodes)
    mean = bilinear_flat(arr["mean_flat"], len(model.z_nodes), len(model.m_nodes), pop, fz, fm)
    scale = _colour_sigma_scale(logm, model)
    # without a low-mass scaling scale == 1 exactly, and multiplying by it would change no bit: skip it
    scaled = model.colour_sigma_lowmass_slope != 0
    chol, cov = arr["chol"], arr["cov"]
    eps = [rng.standard_normal(n) for _ in range(4)]
    x = []
    for c in range(4):
        xc = mean[c].copy()
        for j in range(c + 1):
            term = chol[:, c, j][pop]  # the population's Cholesky factor (a take: faster than np.where)
            if scaled:
                term *= scale
            term *= eps[j]
            xc += term
        x.append(xc)
    e_ml = rng.standard_normal(n) * model.ml_sigma

    # condition on r < r_limit: s = b (g-r) + e_ml must be below s_max (Gaussian conditioning)
    a, b = ml_coefficients(z, model, logm)
    dmod, log_kpc_per_arcsec = _table_interp_many(z, ("distmod", "log_kpc_per_arcsec"))
    s_max = (r_limit - dmod - M_SUN_R) / 2.5 - a + logm
    cov_x_gr = [cov[:, c, 0][pop] for c in range(4)]  # Cov(x_c, g-r)
    if scaled:
        scale2 = scale * scale
        cov_x_gr = [v * scale2 for v in cov_x_gr]
    var_s = b * b * cov_x_gr[0] + model.ml_sigma**2
    mu_s = b * mean[0]
    sd_s = np.sqrt(var_s)
    s = b * x[0] + e_ml
    pmax = special.ndtr((s_max - mu_s) / sd_s)
    ut = np.clip(rng.random(n) * pmax, 1e-300, None)
    s_t = np.minimum(mu_s + sd_s * special.ndtri(ut), s_max)
    delta = (s_t - s) / var_s
    bd = b * delta
    for c in range(4):
        x[c] += bd * cov_x_gr[c]
    e_ml += model.ml_sigma**2 * delta
    ml = a + b * x[0] + e_ml
    r_true = dmod + M_SUN_R + 2.5 * (ml - logm)
    x = np.stack(x, axis=1)

    # sizes (major-axis half-light radius) [kpc]
    q_pop = pop == 1
    log_re_sf, log_re_q = median_log_re(logm, model)
    log_re = np.where(q_pop, log_re_q, log_re_sf)
    beta = np.array([model.size_z_beta_sf, model.size_z_beta_q])[pop]
    sig_sf, sig_q = size_scatter(logm, model)
    sig = np.where(q_pop, sig_q, sig_sf)
    log_re = log_re - beta * np.log10(1 + z) + sig * rng.standard_normal(n)
    re_kpc = 10.0**log_re
    re_arcsec = re_kpc / np.exp(log_kpc_per_arcsec)  # kpc_per_arcsec(z)

    # Sersic index
    # log10 of the population's median n (one log10 of the selected values: the same as selecting logs)
    lmn = np.log10(np.where(q_pop, interp(logm, [8.0, 9.5, 10.5, 11.5], [1.0, 1.6, 3.2, 4.5]),
                            interp(logm, model.sersic_sf_m_nodes, model.sersic_sf_median)))
    sersic = np.clip(10.0 ** (lmn + model.sersic_sigma * rng.standard_normal(n)), 0.4, 6.0)

    # axis ratio: triaxial SF bodies seen from random directions, spheroids N(0.72, 0.15) for Q
    cos_theta = rng.random(n)
    ba_q = np.clip(0.72 + 0.15 * rng.standard_normal(n), 0.3, 1.0)
    b_over_a, c_over_a = intrinsic_shapes(rng, logm, model)
    ba_sf = projected_axis_ratio(b_over_a, c_over_a, cos_theta, np.pi * rng.random(n))
    ba = np.where(q_pop, ba_q, ba_sf)

    mu_eff = mean_surface_brightness(r_true, re_arcsec, ba)
    return {"Z": z, "LOGMSTAR": logm, "POP": pop.astype(np.int8), "COLOURS": x, "R_TRUE": r_true, "ML": ml,
            "RE_KPC": re_kpc, "RE_ARCSEC": re_arcsec, "SERSIC_TRUE": sersic, "BA_TRUE": ba,
            "MU_EFF_R_TRUE": mu_eff}


#: log M* [dex] where the dwarf size sequence (``size_dwarf_*`` node tables) joins the massive relations:
#: the offset is 0 and the scatter ``size_sf_sigma`` there and above.
SIZE_JOIN_LOGM = 10.0


def intrinsic_shapes(rng: np.random.Generator, logm, model: SkyModel) -> tuple[np.ndarray, np.ndarray]:
    """Intrinsic axis ratios (B/A, C/A) of star-forming galaxies of mass ``logm`` [dex].

    C/A ~ N(q0, sigma) and B/A = 1 - |N(0, t)|, with (q0, sigma, t) = (``disc_q0_dwarf``,
    ``disc_q0_dwarf_sigma``, ``dwarf_triaxiality``) at log M* <= 8, running linearly into the thin oblate
    massive disc (``disc_q0_massive``, 0, 0) at log M* >= 10. C/A is clipped to [0.05, B/A], B/A to
    [0.3, 1]. Two standard normals per galaxy are drawn from ``rng``.
    """
    logm = np.asarray(logm, float)
    k = np.clip((logm - 8.0) / 2.0, 0.0, 1.0)  # 0 dwarf, 1 massive
    q0 = model.disc_q0_dwarf + k * (model.disc_q0_massive - model.disc_q0_dwarf)
    n = logm.size
    b = np.clip(1.0 - np.abs((1 - k) * model.dwarf_triaxiality * rng.standard_normal(n)), 0.3, 1.0)
    c = np.clip(q0 + (1 - k) * model.disc_q0_dwarf_sigma * rng.standard_normal(n), 0.05, b)
    return b, c


def projected_axis_ratio(b_over_a, c_over_a, cos_theta, phi) -> np.ndarray:
    """Projected axis ratio of a triaxial ellipsoid with axes 1 >= B/A >= C/A seen from the direction of polar
    angle theta (from the short axis) and azimuth ``phi`` [rad] (Binney 1985, MNRAS 212, 767).

    For B/A = 1 (an oblate disc of thickness C/A) it is sqrt(cos^2 theta + (C/A)^2 sin^2 theta).
    """
    b2, c2 = np.asarray(b_over_a, float) ** 2, np.asarray(c_over_a, float) ** 2
    ct2 = np.asarray(cos_theta, float) ** 2
    s2, c2p = np.sin(phi) ** 2, np.cos(phi) ** 2
    big_a = ct2 / c2 * (s2 + c2p / b2) + (1 - ct2) / b2
    big_b = np.sqrt(ct2) * np.sin(2 * phi) * (1 - 1 / b2) / c2
    big_c = (s2 / b2 + c2p) / c2
    d = np.sqrt((big_a - big_c) ** 2 + big_b**2)
    return np.sqrt((big_a + big_c - d) / (big_a + big_c + d))


def dwarf_size_terms(logm, model: SkyModel) -> tuple[np.ndarray, np.ndarray]:
    """Offset [dex] of the star-forming size relation and its log-normal scatter [dex] at ``logm`` [log Msun].

    Linear in log M* between the nodes ``size_dwarf_m_nodes`` (values ``size_dwarf_dlogre`` and
    ``size_dwarf_sigma``) and the join at :data:`SIZE_JOIN_LOGM` (offset 0, scatter ``size_sf_sigma``), flat
    below the first node and equal to the join values above it: one continuous sequence, no step.
    """
    nodes = [*model.size_dwarf_m_nodes, SIZE_JOIN_LOGM]
    if len(model.size_dwarf_dlogre) != len(nodes) - 1 or len(model.size_dwarf_sigma) != len(nodes) - 1 \
            or np.any(np.diff(nodes) <= 0):
        raise ValueError(f"size_dwarf_m_nodes {model.size_dwarf_m_nodes} must increase below {SIZE_JOIN_LOGM} and "
                         "match size_dwarf_dlogre and size_dwarf_sigma in length")
    logm = np.asarray(logm, float)
    return (np.interp(logm, nodes, [*model.size_dwarf_dlogre, 0.0]),
            np.interp(logm, nodes, [*model.size_dwarf_sigma, model.size_sf_sigma]))


def size_scatter(logm, model: SkyModel) -> tuple[np.ndarray, np.ndarray]:
    """Log-normal scatter [dex] of the sizes at ``logm``: ``(star_forming, quiescent)``.

    Star-forming: the dwarf sequence's scatter (:func:`dwarf_size_terms`). Quiescent: ``size_q_sigma`` at and
    above :data:`SIZE_JOIN_LOGM`, blended linearly into the dwarf scatter over the dex below it.
    """
    _, sig_sf = dwarf_size_terms(logm, model)
    w = np.clip(SIZE_JOIN_LOGM - np.asarray(logm, float), 0.0, 1.0)
    return sig_sf, model.size_q_sigma + (sig_sf - model.size_q_sigma) * w


def median_log_re(logm, model: SkyModel, z=0.0) -> tuple[np.ndarray, np.ndarray]:
    """Median log10 major-axis half-light radius [kpc] at stellar mass ``logm`` [log Msun] and redshift ``z``.

    Returns ``(star_forming, quiescent)``: the relations :func:`draw_galaxies` scatters its sizes around
    (log-normal scatter, so these are the medians). Star-forming: ``size_sf_a + size_sf_b log M*``, plus the
    extra slope ``size_dwarf_offset`` per dex below log M* = 9 and the dwarf sequence's offset
    (:func:`dwarf_size_terms`); quiescent: the larger of the star-forming relation plus
    ``size_q_dwarf_offset`` and the early-type relation. Both shrink as ``(1 + z)**-size_z_beta_*``.
    """
    logm = np.asarray(logm, float)
    log_re_sf = (model.size_sf_a + model.size_sf_b * logm + model.size_dwarf_offset * np.clip(9.0 - logm, 0, None)
                 + dwarf_size_terms(logm, model)[0])
    log_re_et = model.size_q_a + model.size_q_b * logm
    log_re_q = np.maximum(log_re_sf + model.size_q_dwarf_offset, log_re_et)
    if np.any(np.asarray(z) != 0):
        lz = np.log10(1 + np.asarray(z, float))
        log_re_sf, log_re_q = log_re_sf - model.size_z_beta_sf * lz, log_re_q - model.size_z_beta_q * lz
    return log_re_sf, log_re_q


def detection_probability(mu_eff, model: SkyModel) -> np.ndarray:
    """Probability that the Tractor detects a source of effective r-band surface brightness mu_eff."""
    return special.ndtr((model.mu_det - np.asarray(mu_eff)) / model.mu_det_width)


# ---------------------------------------------------------------------------------------------------
# Stars
# ---------------------------------------------------------------------------------------------------
def star_density(model: SkyModel, r_limit: float) -> float:
    """Stars per deg^2 brighter than r_limit."""
    k = model.star_slope * np.log(10)
    return model.star_a / k * (10 ** (model.star_slope * (r_limit - 20)) - 10 ** (model.star_slope * (model.star_r_min - 20)))


def draw_stars(rng: np.random.Generator, n: int, model: SkyModel, r_limit: float) -> dict:
    """Magnitudes and colours of ``n`` stars (true, extinction corrected), Gaia G and parallax [mas]."""
    k = model.star_slope
    lo, hi = 10 ** (k * (model.star_r_min - 20)), 10 ** (k * (r_limit - 20))
    r = 20 + np.log10(lo + rng.random(n) * (hi - lo)) / k
    halo = rng.random(n) < np.clip(0.3 + 0.04 * (r - 16), 0.2, 0.6)
    gr = np.where(halo, 0.32 + 0.08 * rng.standard_normal(n), np.clip(0.55 + 0.45 * np.abs(rng.standard_normal(n)), -0.3, 1.65))
    rz = np.where(gr < 1.1, 0.62 * gr + 0.02, 0.70 + 2.8 * (gr - 1.1)) + 0.04 * rng.standard_normal(n)
    gz = gr + rz
    zw1 = -0.90 + 0.55 * gz + 0.08 * rng.standard_normal(n)
    w1w2 = np.where(gz > 2.5, -0.55, -0.64) + 0.05 * rng.standard_normal(n)
    colours = np.stack([gr, rz, zw1, w1w2], axis=1)
    dist_kpc = np.where(halo, 10 ** (0.2 * (r - 4.5 + 5) - 3 + 0.3 * rng.standard_normal(n)),
                        10 ** (0.2 * (r - (5.0 + 4.0 * np.clip(gr, 0, 1.6)) + 5) - 3))
    return {"R_TRUE": r, "COLOURS": colours, "PARALLAX_TRUE": 1.0 / np.maximum(dist_kpc, 0.01)}


# ---------------------------------------------------------------------------------------------------
# Fibre fraction of a Sersic profile in a 1.5" fibre under 1" Gaussian seeing
# ---------------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def fibre_fraction_grid() -> dict:
    """Fraction of the total flux of a circular Sersic profile inside the 1.5" fibre under 1" seeing.

    For a circular aperture of radius R and a Gaussian PSF of width sigma, a point at distance r from the
    centre contributes P(r) = ncx2.cdf(R^2/sigma^2, 2, r^2/sigma^2); the fibre fraction is the light-weighted
    mean of P over the profile, computed exactly by averaging P over quantiles of the enclosed-light
    curve L(<r)/L = gammainc(2n, b_n (r/r_e)^(1/n)). Grid: uniform in log10 r_e [arcsec] from -3 to 2.5
    (221 points) and in ln n from n = 0.3 to 8 (41 points).
    """
    from scipy.stats import ncx2

    log_re = np.linspace(-3.0, 2.5, 221)
    ns = np.exp(np.linspace(np.log(0.3), np.log(8.0), 41))
    sigma = FIBER_SEEING_FWHM / (2 * np.sqrt(2 * np.log(2)))
    rad = FIBER_DIAMETER / 2
    # P(r): probability that a photon from distance r [in sigma] lands in the fibre; 0 beyond 12 sigma
    t = np.linspace(0.0, 12.0, 6001)
    p_t = ncx2.cdf((rad / sigma) ** 2, 2, t**2)
    uq = (np.arange(4000) + 0.5) / 4000
    frac = np.zeros((len(ns), len(log_re)))
    for i, n in enumerate(ns):
        b = special.gammaincinv(2 * n, 0.5)
        x = (special.gammaincinv(2 * n, uq) / b) ** n  # r / r_e at light quantiles
        for j, lr in enumerate(log_re):
            frac[i, j] = np.interp(x * 10.0**lr / sigma, t, p_t, right=0.0).mean()
    point = float(1 - np.exp(-0.5 * (rad / sigma) ** 2))
    return {"log_re": log_re, "n": ns, "frac": frac, "point": point}


def fibre_fraction(re_arcsec, sersic) -> np.ndarray:
    """Fibre-to-total flux ratio for circularised half-light radius re_arcsec [arcsec] and Sersic n.

    re_arcsec <= 0 means a point source.
    """
    g = fibre_fraction_grid()
    re = np.asarray(re_arcsec)
    if re.dtype.kind != "f":
        re = re.astype(float)
    lr, ln_n = g["log_re"], np.log(g["n"])
    lr0, lr_scale = float(lr[0]), float((len(lr) - 1) / (lr[-1] - lr[0]))
    ln0, ln_scale = float(ln_n[0]), float((len(ln_n) - 1) / (ln_n[-1] - ln_n[0]))
    # fractional grid indices, in place: fr = clip((log10(max(re, 1e-30)) - lr0) * lr_scale), fn likewise
    fr = np.maximum(re, 1e-30)
    with np.errstate(divide="ignore"):
        np.log10(fr, out=fr)
    fr -= lr0
    fr *= lr_scale
    np.clip(fr, 0.0, len(lr) - 1.000001, out=fr)
    fn = np.log(np.asarray(sersic, dtype=re.dtype))
    fn -= ln0
    fn *= ln_scale
    np.clip(fn, 0.0, len(ln_n) - 1.000001, out=fn)
    table = g["frac"].ravel().astype(re.dtype)
    out = bilinear_flat([table], len(ln_n), len(lr), None, fn, fr)[0]
    np.copyto(out, re.dtype.type(g["point"]), where=~(re > 0))  # point sources
    return out
