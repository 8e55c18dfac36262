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
* :data:`GAMA`: the GAMA main survey's magnitude limit (Petrosian r < 19.8; Baldry et al. 2010, Driver et al.
  2011).

The real areas of the pre-DESI spectroscopic surveys that the paper's training set compiles (the
simulated analogue is :mod:`dwarflib.paper_trainset`) are :data:`SURVEY_AREAS`, each a :class:`SurveyArea`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BGS_BRIGHT", "DWARF_SURVEY", "GAMA", "GAMA_AREA", "SAGA", "SAGA_AREA", "SDSS_MAIN", "SDSS_MAIN_AREA",
           "SURVEY_AREAS", "Selection", "SurveyArea"]


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

#: The GAMA main survey's magnitude limit: Petrosian r < 19.8 (GAMA I: r < 19.4 in G09 and G15, r < 19.8 in G12,
#: Baldry et al. 2010, Driver et al. 2011; GAMA II: r < 19.8 in all three equatorial fields, Liske et al. 2015).
GAMA = Selection("GAMA", r_max=19.8)


@dataclass(frozen=True)
class SurveyArea:
    """The sky a real spectroscopic survey covered, as the simulated compilation scales it.

    The simulated footprint stands for the SDSS main galaxy sample's area (the book's footprint, around
    RA 185, Dec 15 deg, lies inside it), so every survey's share of the compilation is its real area divided by
    :data:`SDSS_MAIN_AREA`'s: :meth:`fraction`.

    Attributes
    ----------
    name : str
        Human-readable name.
    area_deg2 : float
        Real sky area [deg^2]; for a survey around hosts, ``n_hosts`` discs of ``host_radius_kpc``.
    source : str
        Where the number comes from, with what is approximate.
    n_hosts : int or None
        Number of hosts surveyed (None: a contiguous area).
    host_radius_kpc : float or None
        Projected radius around each host [kpc].
    """

    name: str
    area_deg2: float
    source: str
    n_hosts: int | None = None
    host_radius_kpc: float | None = None

    def fraction(self) -> float:
        """Share of the simulated footprint (= the SDSS main area) this survey covers: ``area / SDSS area``."""
        return self.area_deg2 / SDSS_MAIN_AREA.area_deg2

    def hosts_on(self, footprint_deg2: float) -> int:
        """Hosts to survey on a footprint of ``footprint_deg2`` [deg^2]: ``n_hosts`` in proportion to the SDSS
        area, rounded (the real survey's hosts per SDSS main area)."""
        if self.n_hosts is None:
            raise ValueError(f"{self.name} is a contiguous survey, not one around hosts")
        return int(round(self.n_hosts * footprint_deg2 / SDSS_MAIN_AREA.area_deg2))


#: SDSS main galaxy sample: about 7,500 deg^2 (approximate: the main sample's footprint is quoted between
#: 7,500 and 8,000 deg^2 depending on the release; DR7 Legacy spectroscopy about 8,000 deg^2, Abazajian et al.
#: 2009). The simulated footprint stands for all of it (fraction 1).
SDSS_MAIN_AREA = SurveyArea("SDSS main", 7_500.0, "Strauss et al. 2002; Abazajian et al. 2009 (approximate)")
#: GAMA II: 286 deg^2 in five fields (G09, G12, G15 equatorial, 60 deg^2 each; G02, G23; Liske et al. 2015).
#: The r < 19.8 limit holds in the equatorial fields; the compilation applies it to the whole area
#: (approximation).
GAMA_AREA = SurveyArea("GAMA", 286.0, "Liske et al. 2015 (GAMA II); Driver et al. 2011; Baldry et al. 2010")
#: SAGA DR3: 101 Milky-Way-mass hosts at 25-40 Mpc, each surveyed within 300 kpc projected (Mao et al. 2024).
#: The area, 86 deg^2, is the sum over the 101 hosts of pi (300 kpc / D)^2 with the distances D of SAGA DR3
#: table C1 (small-angle; stated for the table only: the compilation places discs around simulated hosts,
#: :meth:`SurveyArea.hosts_on`).
SAGA_AREA = SurveyArea("SAGA", 86.0, "Mao et al. 2024 (SAGA DR3)", n_hosts=101, host_radius_kpc=300.0)
#: The three surveys of the simulated pre-DESI compilation, in the order of label priority.
SURVEY_AREAS: tuple[SurveyArea, ...] = (SDSS_MAIN_AREA, GAMA_AREA, SAGA_AREA)
