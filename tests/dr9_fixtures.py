"""Small synthetic DR9-like tables for unit tests (not a physical model: the simulated sky lives in
dwarflib.sky.generate). Every column of ``datamodel.SWEEP_COLUMNS`` is filled with plausible values (no units:
the writer adds them)."""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from dwarflib import datamodel


def make_dr9_table(n: int = 50, seed: int = 0) -> Table:
    rng = np.random.default_rng(seed)
    t = Table()
    types = rng.choice(["PSF", "REX", "EXP", "DEV", "SER"], size=n)
    for name, (dt, _, _) in datamodel.SWEEP_COLUMNS.items():
        t[name] = np.zeros(n, dtype=dt)
    t["RELEASE"] = 9010
    t["BRICKID"] = rng.integers(1, 600_000, n)
    t["BRICKNAME"] = "1234p000"
    t["OBJID"] = np.arange(n)
    t["TYPE"] = types
    t["RA"] = rng.uniform(120, 130, n)
    t["DEC"] = rng.uniform(-1, 1, n)
    t["EBV"] = rng.uniform(0.01, 0.1, n)
    rmag = rng.uniform(15, 21, n)
    colours = {"G": 0.6, "R": 0.0, "Z": -0.4, "W1": -0.8, "W2": -0.3}
    for b, c in colours.items():
        flux = 10 ** (-0.4 * (rmag + c - 22.5))
        t[f"FLUX_{b}"] = flux
        t[f"FLUX_IVAR_{b}"] = 1.0 / (0.05 * flux + 0.1) ** 2
        t[f"MW_TRANSMISSION_{b}"] = rng.uniform(0.85, 1.0, n)
        t[f"NOBS_{b}"] = rng.integers(1, 6, n)
    for b in datamodel.OPTICAL_BANDS:
        t[f"FIBERFLUX_{b}"] = t[f"FLUX_{b}"] * rng.uniform(0.05, 0.8, n)
        t[f"FIBERTOTFLUX_{b}"] = t[f"FIBERFLUX_{b}"] * 1.1
        t[f"PSFSIZE_{b}"] = rng.uniform(1.0, 1.6, n)
        t[f"PSFDEPTH_{b}"] = 100.0
        t[f"GALDEPTH_{b}"] = 60.0
    psf = types == "PSF"
    t["SHAPE_R"] = np.where(psf, 0.0, rng.lognormal(0.3, 0.6, n))
    t["SHAPE_R_IVAR"] = np.where(psf, 0.0, 10.0)
    t["SHAPE_E1"] = np.where(psf, 0.0, rng.uniform(-0.4, 0.4, n))
    t["SHAPE_E2"] = np.where(psf, 0.0, rng.uniform(-0.4, 0.4, n))
    t["SERSIC"] = np.select([psf, types == "DEV", types == "SER"], [0.0, 4.0, rng.uniform(0.5, 6, n)], 1.0)
    t["MASKBITS"] = 0
    t["REF_CAT"] = np.where(psf, "G2", "")
    t["GAIA_PHOT_G_MEAN_MAG"] = np.where(psf, rmag + 0.2, 0.0)
    t["PARALLAX"] = np.where(psf, rng.uniform(0.0, 2.0, n), 0.0)
    return t
