"""Photometric and bookkeeping conventions, written once and imported everywhere (issue #15).

The functions apply the bare formula to the inputs as given (no casting, no masking): callers keep their own
validity policy (NaN or inf for a non-positive flux, ...) and their dtype, so results stay bit-identical to the
copies these functions replace.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from scipy import special

#: AB zero point of fluxes in nanomaggies [mag]: m = 22.5 - 2.5 log10(flux).
NANOMAGGY_ZEROPOINT = 22.5


def ab_magnitude(flux, mw_transmission=1.0):
    """AB magnitude [mag] from a flux [nanomaggy], corrected for Galactic extinction by dividing by the Milky
    Way transmission: ``22.5 - 2.5 log10(flux / mw_transmission)``. -inf/NaN where flux <= 0 (no masking)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return NANOMAGGY_ZEROPOINT - 2.5 * np.log10(flux / mw_transmission)


def mean_surface_brightness(mag, r_eff_arcsec, axis_ratio=None):
    """Mean surface brightness inside the half-light radius [mag/arcsec^2]: ``m + 2.5 log10(2 pi r_e^2)``.

    ``mag`` [mag], ``r_eff_arcsec`` the half-light radius [arcsec] (half the light inside pi r_e^2, hence the 2);
    with ``axis_ratio`` b/a the area is that of the ellipse, ``2 pi r_e^2 b/a``. No masking.
    """
    area = 2 * np.pi * r_eff_arcsec**2
    if axis_ratio is not None:
        area = area * axis_ratio
    with np.errstate(divide="ignore", invalid="ignore"):
        return mag + 2.5 * np.log10(area)


def sersic_mean_minus_central(sersic_n):
    """Mean surface brightness inside the half-light radius minus the central surface brightness [mag] of a
    Sersic profile of index n: ``1.0857 b_n - 2.5 log10(n e^b_n Gamma(2n) / b_n^(2n))`` with b_n from
    ``gamma(2n, b_n) = Gamma(2n) / 2`` (Graham & Driver 2005, eqs. 1, 7, 12); 1.124 mag for n = 1."""
    n = np.asarray(sersic_n, dtype=float)
    b = special.gammaincinv(2 * n, 0.5)
    return 2.5 * b / np.log(10) - 2.5 * (np.log10(n) + b / np.log(10) + special.gammaln(2 * n) / np.log(10)
                                         - 2 * n * np.log10(b))


def axis_ratio(e1, e2):
    """Axis ratio b/a from the Tractor ellipticity components: ``(1 - |e|) / (1 + |e|)``, |e| = hypot(e1, e2)."""
    e = np.hypot(np.asarray(e1, dtype=float), np.asarray(e2, dtype=float))
    return (1.0 - e) / (1.0 + e)


def distance_modulus_of_distance(distance_mpc):
    """Distance modulus [mag] of a luminosity distance [Mpc]: ``5 log10(d / 10 pc)``; NaN for d <= 0."""
    d = np.asarray(distance_mpc, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        dm = 5.0 * np.log10(d * 1e5)
    return np.where(d > 0, dm, np.nan)


def distance_of_distance_modulus(distance_modulus):
    """Luminosity distance [Mpc] of a distance modulus [mag]: ``10**((mu - 25) / 5)``, the inverse of
    :func:`distance_modulus_of_distance`."""
    return 10 ** ((np.asarray(distance_modulus, dtype=float) - 25.0) / 5.0)


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes (read in ``chunk``-byte blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
