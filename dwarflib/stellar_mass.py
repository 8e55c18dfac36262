"""Colour-based stellar masses from Legacy Surveys g and r photometry and a redshift.

Two published colour--mass-to-light relations, both in the SDSS-like r band, g - r colour:

* Bell et al. (2003, ApJS 149, 289; Table 7, "diet Salpeter" IMF):
  ``log10(M*/L_r) = -0.306 + 1.097 (g - r)``, with ``log10(L_r / Lsun) = -0.4 (M_r - M_sun,r)`` and the
  absolute magnitude of the Sun ``M_sun,r = 4.65`` AB mag (Willmer 2018, SDSS r).
  Optional ``imf_offset_dex`` converts to another IMF (e.g. about -0.06 dex to Chabrier with the
  Salpeter-to-Chabrier factor 0.61 of Madau & Dickinson 2014, as diet Salpeter = 0.7 x Salpeter).
* SAGA II (Mao et al. 2021): ``log10(M*/Msun) = 1.254 + 1.098 (g - r) - 0.4 M_r``.

and the relation of the ELVES satellite table (Carlsten et al. 2022, table 9), ``1.2304 + 1.3699 (g - r)
- 0.4 M_r``: a least-squares fit to the table's own ``logMs`` (246 confirmed satellites with g and r,
M_r from the host distance; rms 0.009 dex), so that simulated galaxies can be given **the mass a real
table would list for them** (:func:`logmstar_of_table`; :func:`fit_colour_mass_relation` refits it).
A real table's ``6 <= log M* < 9`` is a selection in that table's mass system, which differs from the
simulated sky's (PROVABGS, Hahn et al. 2023) by up to 0.2 dex at log M* ~ 9 (SAGA II on simulated photometry
is 0.05-0.07 dex below the sky's masses at 6-9 and 0.15-0.19 dex below at 9-10).

The absolute magnitude is ``M_r = r - DM(z) - K_r`` with the distance modulus ``DM(z) = 5 log10(d_L / 10 pc)``
from :data:`astropy.cosmology.Planck18` (Planck Collaboration 2020; H0 = 67.66 km/s/Mpc, Om0 = 0.30966)
and **no K-correction by default** (``k_correction=0``): the relations are meant for the local Universe,
where |K_r| is a few hundredths of a magnitude at z < 0.05; at z ~ 0.3 it reaches several tenths and the
colour-based masses are biased, which :func:`check_against_provabgs` quantifies on real data. Magnitudes
are Galactic-extinction-corrected AB (``dwarflib.survey_io.flux_to_mag``); masses are log10 Msun [dex].

:func:`check_against_provabgs` compares both estimators with the PROVABGS masses (Hahn et al. 2023;
Chabrier IMF) of the real DESI EDR table and returns the median offset and the robust scatter
(1.4826 x median absolute deviation), for all galaxies and for z < 0.05.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from astropy import units as u
from astropy.cosmology import Planck18

from dwarflib.registry import load_desi_edr
from dwarflib.survey_io import flux_to_mag

__all__ = [
    "BELL03_R",
    "MSUN_R_AB",
    "SAGA_II",
    "ELVES_CARLSTEN22",
    "METHODS",
    "TABLE_MASS_RELATIONS",
    "absolute_magnitude",
    "check_against_provabgs",
    "distance_modulus",
    "estimate_logmstar",
    "fit_colour_mass_relation",
    "logmstar_bell03",
    "logmstar_colour_relation",
    "logmstar_from_photometry",
    "logmstar_of_table",
    "logmstar_saga",
    "robust_scatter",
]

#: Absolute AB magnitude of the Sun in the SDSS r band (Willmer 2018) [mag].
MSUN_R_AB: float = 4.65
#: Bell et al. (2003) Table 7, r band vs g - r: log10(M/L_r) = a + b (g - r).
BELL03_R: tuple[float, float] = (-0.306, 1.097)
#: SAGA II (Mao et al. 2021): log10 M* = a + b (g - r) - 0.4 M_r.
SAGA_II: tuple[float, float] = (1.254, 1.098)
#: ELVES table 9 (Carlsten et al. 2022) ``logMs`` = a + b (g - r) - 0.4 M_r: least-squares fit to the 246
#: confirmed satellites with g and r photometry (rms 0.009 dex; :func:`fit_colour_mass_relation`).
ELVES_CARLSTEN22: tuple[float, float] = (1.2304, 1.3699)
#: The colour-mass relation each real satellite table lists its masses in (:func:`logmstar_of_table`).
TABLE_MASS_RELATIONS: dict[str, tuple[float, float]] = {"SAGA": SAGA_II, "ELVES": ELVES_CARLSTEN22}
#: Estimator names accepted by :func:`logmstar_from_photometry`.
METHODS: tuple[str, ...] = ("saga", "bell03")

_GRID_POINTS = 4096


def distance_modulus(z, cosmology=Planck18) -> np.ndarray:
    """Distance modulus ``5 log10(d_L / 10 pc)`` [mag] at redshift ``z`` (default cosmology Planck18).

    NaN where z <= 0 or not finite. Large arrays are evaluated through d_L(z)/z tabulated on a fine grid
    (linear interpolation; agreement with the direct astropy value better than 1e-5 mag).
    """
    z = np.asarray(z, dtype=np.float64)
    out = np.full(z.shape, np.nan)
    ok = np.isfinite(z) & (z > 0)
    if not ok.any():
        return out
    zz = z[ok]
    if zz.size <= 256:
        out[ok] = cosmology.distmod(zz).to_value(u.mag)
        return out
    zmax = float(zz.max())
    grid = np.linspace(0.0, zmax, _GRID_POINTS)[1:]
    ratio = cosmology.luminosity_distance(grid).to_value(u.Mpc) / grid  # smooth, -> c/H0 at z -> 0
    ratio0 = (cosmology.hubble_distance).to_value(u.Mpc)
    r = np.interp(zz, np.concatenate([[0.0], grid]), np.concatenate([[ratio0], ratio]))
    out[ok] = 5.0 * np.log10(r * zz) + 25.0
    return out


def absolute_magnitude(mag, z, cosmology=Planck18, k_correction=0.0) -> np.ndarray:
    """Absolute magnitude ``M = m - DM(z) - K`` [mag]; ``k_correction`` [mag] defaults to 0 (see module)."""
    return np.asarray(mag, dtype=np.float64) - distance_modulus(z, cosmology) - np.asarray(k_correction, float)


def logmstar_bell03(g_r, abs_mag_r, imf_offset_dex: float = 0.0) -> np.ndarray:
    """Bell et al. (2003) stellar mass log10(M*/Msun) [dex] from g - r [mag] and M_r [mag].

    ``log10(M/L_r) = -0.306 + 1.097 (g - r)`` ("diet Salpeter" IMF) + ``imf_offset_dex``,
    ``log10 L_r = -0.4 (M_r - 4.65)``.
    """
    a, b = BELL03_R
    log_ml = a + b * np.asarray(g_r, dtype=np.float64)
    log_l = -0.4 * (np.asarray(abs_mag_r, dtype=np.float64) - MSUN_R_AB)
    return log_ml + log_l + imf_offset_dex


def logmstar_colour_relation(g_r, abs_mag_r, coeffs: tuple[float, float]) -> np.ndarray:
    """Stellar mass ``a + b (g - r) - 0.4 M_r`` [dex] of a colour-mass relation ``coeffs = (a, b)``;
    g - r and M_r in mag."""
    a, b = coeffs
    return a + b * np.asarray(g_r, dtype=np.float64) - 0.4 * np.asarray(abs_mag_r, dtype=np.float64)


def logmstar_saga(g_r, abs_mag_r) -> np.ndarray:
    """SAGA II (Mao et al. 2021) stellar mass: ``1.254 + 1.098 (g - r) - 0.4 M_r`` [dex]."""
    return logmstar_colour_relation(g_r, abs_mag_r, SAGA_II)


def logmstar_of_table(survey: str, g_r, abs_mag_r) -> np.ndarray:
    """The stellar mass [dex] the real satellite table ``survey`` ('SAGA' or 'ELVES', keys of
    :data:`TABLE_MASS_RELATIONS`) would list for a galaxy of g - r and M_r [mag]."""
    if survey not in TABLE_MASS_RELATIONS:
        raise ValueError(f"no mass relation for table {survey!r}; known: {sorted(TABLE_MASS_RELATIONS)}")
    return logmstar_colour_relation(g_r, abs_mag_r, TABLE_MASS_RELATIONS[survey])


def fit_colour_mass_relation(logmstar, g_r, abs_mag_r) -> dict:
    """Least-squares ``(a, b)`` of ``log M* = a + b (g - r) - 0.4 M_r`` over the finite rows of a table.

    Returns ``coeffs`` (a, b), ``rms`` and ``max_abs`` of the residuals [dex] and ``n`` (rows used).
    """
    m, c, mag = (np.asarray(v, dtype=np.float64) for v in (logmstar, g_r, abs_mag_r))
    ok = np.isfinite(m) & np.isfinite(c) & np.isfinite(mag)
    if ok.sum() < 3:
        raise ValueError(f"a colour-mass fit needs at least 3 finite rows, got {int(ok.sum())}")
    design = np.column_stack([np.ones(ok.sum()), c[ok]])
    coeffs, *_ = np.linalg.lstsq(design, m[ok] + 0.4 * mag[ok], rcond=None)
    resid = m[ok] + 0.4 * mag[ok] - design @ coeffs
    return {"coeffs": (float(coeffs[0]), float(coeffs[1])), "rms": float(resid.std()),
            "max_abs": float(np.abs(resid).max()), "n": int(ok.sum())}


def logmstar_from_photometry(g, r, z, method: str = "saga", cosmology=Planck18, k_correction=0.0,
                             imf_offset_dex: float = 0.0) -> np.ndarray:
    """log10 M* [dex] from dereddened g, r [mag] and redshift ``z`` with ``method`` in :data:`METHODS`."""
    if method not in METHODS:
        raise ValueError(f"unknown stellar-mass method {method!r}; choose one of {METHODS}")
    g = np.asarray(g, dtype=np.float64)
    r = np.asarray(r, dtype=np.float64)
    m_r = absolute_magnitude(r, z, cosmology, k_correction)
    if method == "saga":
        return logmstar_saga(g - r, m_r)
    return logmstar_bell03(g - r, m_r, imf_offset_dex)


def estimate_logmstar(table, method: str = "saga", z_column: str = "Z", cosmology=Planck18,
                      imf_offset_dex: float = 0.0) -> np.ndarray:
    """log10 M* [dex] for a table with DR9 ``FLUX_G``, ``FLUX_R`` [nanomaggy], ``MW_TRANSMISSION_G/R`` and a
    redshift column. NaN where g or r is undefined (non-positive flux) or z <= 0."""
    g = flux_to_mag(table["FLUX_G"], table["MW_TRANSMISSION_G"])
    r = flux_to_mag(table["FLUX_R"], table["MW_TRANSMISSION_R"])
    return logmstar_from_photometry(g, r, np.asarray(table[z_column], float), method, cosmology,
                                    imf_offset_dex=imf_offset_dex)


def robust_scatter(x) -> float:
    """1.4826 x median absolute deviation of the finite values of ``x`` (the Gaussian sigma for normal data)."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan")
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def check_against_provabgs(table=None, methods: Sequence[str] = METHODS, z_split: float = 0.05,
                           cosmology=Planck18) -> pd.DataFrame:
    """Compare colour-based masses with PROVABGS on the real DESI EDR table.

    Parameters
    ----------
    table : astropy Table, optional
        Default :func:`dwarflib.registry.load_desi_edr` (fluxes already dereddened, MW_TRANSMISSION = 1).
    methods : sequence of str
        Estimators (:data:`METHODS`).
    z_split : float
        The low-redshift subsample is z < z_split.

    Returns
    -------
    pandas.DataFrame
        One row per (method, sample) with ``n``, ``median_offset`` (estimate - PROVABGS) [dex] and
        ``robust_scatter`` (1.4826 MAD of the difference) [dex]. Data: **real** (DESI EDR).
    """
    if table is None:
        table = load_desi_edr()
    z = np.asarray(table["Z"], dtype=np.float64)
    ref = np.asarray(table["LOGMSTAR"], dtype=np.float64)
    rows = []
    for method in methods:
        est = estimate_logmstar(table, method=method, cosmology=cosmology)
        diff = est - ref
        for sample, sel in (("all", np.ones(z.shape, bool)), (f"z < {z_split:g}", z < z_split)):
            d = diff[sel & np.isfinite(diff)]
            rows.append({"method": method, "sample": sample, "n": int(d.size),
                         "median_offset": float(np.median(d)) if d.size else float("nan"),
                         "robust_scatter": robust_scatter(d)})
    return pd.DataFrame(rows)
