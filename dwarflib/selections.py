"""Spectroscopic survey selections as data, defined once.

Every limit of a spectroscopic sample that the simulator, the calibration, the training sample and the
verification use lives here, as a frozen :class:`Selection`; modules and notebooks import these objects
instead of restating the numbers.

* :data:`BGS_BRIGHT`: the DESI BGS Bright selection of the DESI EDR table (dereddened r < 19.5) above the
  table's lower redshift (z > 0.0104). The simulated BGS-like survey uses the same r limit.
* :data:`SAGA`: the SAGA DR3 comparison sample (Mao et al. 2024): r < 20.75, 0.004 < z < 0.011,
  7 < log M* < 9.
* :data:`SDSS_MAIN`: the SDSS main galaxy sample's magnitude limit (Petrosian r < 17.77, Strauss et al. 2002),
  the bright edge of the sky purity and completeness bins.
* :data:`DWARF_SURVEY`: the simulated SAGA / DESI LOW-Z-like dwarf survey's magnitude limit (r < 21).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BGS_BRIGHT", "DWARF_SURVEY", "SAGA", "SDSS_MAIN", "Selection"]


@dataclass(frozen=True)
class Selection:
    """Limits of a spectroscopic sample; every cut is strict (r < r_max, z_min < z < z_max, ...).

    Attributes
    ----------
    name : str
        Human-readable name.
    r_max : float
        Extinction-corrected r magnitude limit [mag].
    z_min, z_max : float or None
        Redshift range (None: no limit on that side).
    logm_min, logm_max : float or None
        Stellar-mass range [log10 Msun] (None: no limit on that side).
    """

    name: str
    r_max: float
    z_min: float | None = None
    z_max: float | None = None
    logm_min: float | None = None
    logm_max: float | None = None

    def mask(self, r, z=None, logm=None) -> np.ndarray:
        """Boolean array: rows inside the selection (NaN fails every cut; compared in the input dtype).

        ``r`` [mag] is required; ``z`` is required when the selection has a redshift limit and ``logm``
        [log10 Msun] when it has a mass limit.
        """
        r = np.asarray(r)
        ok = r < self.r_max
        if self.z_min is not None or self.z_max is not None:
            if z is None:
                raise ValueError(f"selection {self.name!r} cuts in redshift: pass z")
            z = np.asarray(z)
            if self.z_min is not None:
                ok = ok & (z > self.z_min)
            if self.z_max is not None:
                ok = ok & (z < self.z_max)
        if self.logm_min is not None or self.logm_max is not None:
            if logm is None:
                raise ValueError(f"selection {self.name!r} cuts in stellar mass: pass logm")
            logm = np.asarray(logm)
            if self.logm_min is not None:
                ok = ok & (logm > self.logm_min)
            if self.logm_max is not None:
                ok = ok & (logm < self.logm_max)
        return ok


#: DESI BGS Bright (DESI EDR table and the simulated BGS-like survey): dereddened r < 19.5, z > 0.0104
#: (the lower redshift of the EDR table).
BGS_BRIGHT = Selection("BGS Bright", r_max=19.5, z_min=0.0104)
#: The SAGA DR3 comparison sample (satellites of Milky Way analogues).
SAGA = Selection("SAGA", r_max=20.75, z_min=0.004, z_max=0.011, logm_min=7.0, logm_max=9.0)
#: The simulated dwarf survey (SAGA / DESI LOW-Z-like) magnitude limit.
DWARF_SURVEY = Selection("dwarf survey", r_max=21.0)

#: The SDSS main galaxy sample's magnitude limit (Petrosian r < 17.77; Strauss et al. 2002).
SDSS_MAIN = Selection("SDSS main", r_max=17.77)
