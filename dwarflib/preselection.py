"""The photometric preselection: a named, configurable set of cuts applied before any classifier.

The paper (Zhang et al. 2025) does not publish its preselection; :data:`DEFAULT_PRESELECTION` is this
project's explicit choice. The cuts run in this order and every removed row gets the name of the **first**
cut that removed it (``PreselectionResult.reason``), so rows in = rows kept + rows removed, per cut:

================  ===================================================================================
cut               removes a row when
================  ===================================================================================
``brick_primary`` ``BRICK_PRIMARY`` is False (only when the column is present: Tractor files carry
                  duplicates from overlapping bricks; sweeps contain primary objects only)
``type``          ``TYPE`` is in ``reject_types`` (default DUP: Gaia sources duplicated by the Tractor
                  with zero flux; add "PSF" for a resolved-only selection)
``nobs``          ``NOBS_G``, ``NOBS_R`` or ``NOBS_Z`` < ``min_nobs`` (no imaging in a band: colours and
                  surface brightness are undefined)
``maskbits``      any of ``reject_maskbits`` is set in ``MASKBITS`` (default NPRIMARY, BRIGHT,
                  SATUR_G/R/Z, BAILOUT, MEDIUM, CLUSTER)
``r_mag``         the dereddened r magnitude is not < ``r_mag_max`` (default 21; NaN for FLUX_R <= 0,
                  so non-detections go here) or not >= ``r_mag_min`` (default: no bright limit)
``r_snr``         ``FLUX_R * sqrt(FLUX_IVAR_R)`` < ``min_snr_r`` (default 5)
``gaia_parallax`` ``PARALLAX * sqrt(PARALLAX_IVAR)`` > ``max_parallax_snr`` (off by default)
================  ===================================================================================

Why these MASKBITS (https://www.legacysurvey.org/dr9/bitmasks/): BRIGHT (1) and MEDIUM (11) mark the
halos of bright and medium-bright stars, where the sky and the fluxes are unreliable; SATUR_G/R/Z (2-4)
mark saturated pixels; BAILOUT (10) marks objects whose fit was abandoned; CLUSTER (13) marks globular
clusters and their crowded fields; NPRIMARY (0) marks pixels outside the brick's primary region (the
same as BRICK_PRIMARY = False). **GALAXY (12) is kept on purpose**: it flags the footprint of large
galaxies of the Siena Galaxy Atlas, and nearby dwarfs are themselves SGA galaxies or satellites inside
their host's footprint -- rejecting it would remove exactly the signal. ALLMASK_* (5-7) and WISEM1/2
(8, 9) are kept: they affect one band, and the S/N cut and the feature missing-value policy handle it.

The Gaia cut is off by default: the 7-class network has an "other" class for stars, and PARALLAX_IVAR is
not in the sweep columns the simulated sky writes. Enable it with ``max_parallax_snr`` (e.g. 5).

A :class:`Preselection` is stored with every trained model (:meth:`Preselection.to_dict`), so catalogue
production applies exactly the cuts of training.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import numpy as np
import pandas as pd

from dwarflib import datamodel
from dwarflib.survey_io import MissingColumnError, flux_to_mag

__all__ = ["ABSURD_FLUX_NMGY", "DEFAULT_PRESELECTION", "CUT_ORDER", "ROW_CHECK_ORDER", "Preselection",
           "PreselectionResult", "row_checks"]

#: Cut names in the order they are applied (and the values of ``PreselectionResult.reason``).
CUT_ORDER: tuple[str, ...] = ("brick_primary", "type", "nobs", "maskbits", "r_mag", "r_snr", "gaia_parallax")

#: Checks of :func:`row_checks` (rows that cannot be classified at all), in the order they are applied.
ROW_CHECK_ORDER: tuple[str, ...] = ("invalid_id", "invalid_radec", "unknown_type", "absurd_flux")

#: |FLUX_b| above this [nanomaggy] (AB magnitude -2.5, brighter than any star but the Sun) is not a measurement.
ABSURD_FLUX_NMGY: float = 1e10

_DEFAULT_MASKBITS = ("NPRIMARY", "BRIGHT", "SATUR_G", "SATUR_R", "SATUR_Z", "BAILOUT", "MEDIUM", "CLUSTER")


@dataclass(frozen=True)
class PreselectionResult:
    """Outcome of :meth:`Preselection.apply`.

    ``mask`` (bool, True = kept), ``reason`` (per row: the first cut that removed it, "" if kept) and
    ``report`` (DataFrame with columns cut, removed, remaining, description; first row "input").
    """

    mask: np.ndarray
    reason: np.ndarray
    report: pd.DataFrame

    @property
    def n_in(self) -> int:
        return int(self.mask.size)

    @property
    def n_kept(self) -> int:
        return int(self.mask.sum())


@dataclass(frozen=True)
class Preselection:
    """A named, configurable preselection (see the module docstring for each cut).

    Parameters
    ----------
    name : str
        Label stored with models and reports.
    r_mag_max : float or None
        Keep dereddened r < r_mag_max [mag] (None: no faint limit).
    r_mag_min : float or None
        Keep dereddened r >= r_mag_min [mag] (None: no bright limit).
    min_snr_r : float or None
        Keep FLUX_R sqrt(FLUX_IVAR_R) >= min_snr_r (None: off).
    min_nobs : int or None
        Keep NOBS_G, NOBS_R, NOBS_Z >= min_nobs (None: off).
    reject_types : tuple of str
        Tractor TYPEs to remove.
    reject_maskbits : tuple of str
        Names of ``datamodel.MASKBITS`` whose presence removes a row.
    require_brick_primary : bool
        Remove BRICK_PRIMARY == False rows when that column exists.
    max_parallax_snr : float or None
        Remove rows with PARALLAX sqrt(PARALLAX_IVAR) > max_parallax_snr (Gaia stars; None: off).
    """

    name: str = "dr9-default"
    r_mag_max: float | None = 21.0
    r_mag_min: float | None = None
    min_snr_r: float | None = 5.0
    min_nobs: int | None = 1
    reject_types: tuple[str, ...] = ("DUP",)
    reject_maskbits: tuple[str, ...] = field(default=_DEFAULT_MASKBITS)
    require_brick_primary: bool = True
    max_parallax_snr: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "reject_types", tuple(str(t).strip().upper() for t in self.reject_types))
        object.__setattr__(self, "reject_maskbits", tuple(str(b).upper() for b in self.reject_maskbits))
        unknown = [b for b in self.reject_maskbits if b not in datamodel.MASKBITS]
        if unknown:
            raise ValueError(f"unknown MASKBITS name(s) {unknown}; known: {list(datamodel.MASKBITS)}")
        if "GALAXY" in self.reject_maskbits:
            import warnings

            warnings.warn("rejecting MASKBITS GALAXY (SGA large galaxies) removes nearby dwarfs and their hosts",
                          stacklevel=3)
        bad_types = [t for t in self.reject_types if t not in (*datamodel.TRACTOR_TYPES, *datamodel.PRE_DR9_TYPES)]
        if bad_types:
            raise ValueError(f"unknown TYPE(s) {bad_types}; known: {datamodel.TRACTOR_TYPES}")
        if self.r_mag_max is not None and self.r_mag_min is not None and self.r_mag_min >= self.r_mag_max:
            raise ValueError(f"r_mag_min ({self.r_mag_min}) must be < r_mag_max ({self.r_mag_max})")
        if self.min_nobs is not None and self.min_nobs < 0:
            raise ValueError("min_nobs must be >= 0")

    # ------------------------------------------------------------------ description
    @property
    def maskbits_value(self) -> int:
        """The MASKBITS bitmask of ``reject_maskbits``."""
        return int(sum(1 << datamodel.MASKBITS[b] for b in self.reject_maskbits))

    def cuts(self) -> dict[str, str]:
        """Enabled cuts (in order) -> a one-line description of each."""
        out: dict[str, str] = {}
        if self.require_brick_primary:
            out["brick_primary"] = "BRICK_PRIMARY is True (when the column exists)"
        if self.reject_types:
            out["type"] = f"TYPE not in {list(self.reject_types)}"
        if self.min_nobs is not None and self.min_nobs > 0:
            out["nobs"] = f"NOBS_G, NOBS_R, NOBS_Z >= {self.min_nobs}"
        if self.reject_maskbits:
            out["maskbits"] = f"MASKBITS & {self.maskbits_value} == 0 ({', '.join(self.reject_maskbits)})"
        if self.r_mag_max is not None or self.r_mag_min is not None:
            lo = f"{self.r_mag_min} <= " if self.r_mag_min is not None else ""
            hi = f" < {self.r_mag_max}" if self.r_mag_max is not None else ""
            out["r_mag"] = f"{lo}r{hi} (dereddened AB mag)"
        if self.min_snr_r is not None:
            out["r_snr"] = f"FLUX_R sqrt(FLUX_IVAR_R) >= {self.min_snr_r}"
        if self.max_parallax_snr is not None:
            out["gaia_parallax"] = f"PARALLAX sqrt(PARALLAX_IVAR) <= {self.max_parallax_snr}"
        return out

    def required_columns(self) -> list[str]:
        """Columns the enabled cuts need (BRICK_PRIMARY is optional and not listed)."""
        cols: list[str] = []
        cuts = self.cuts()
        if "type" in cuts:
            cols.append("TYPE")
        if "nobs" in cuts:
            cols += [f"NOBS_{b}" for b in datamodel.OPTICAL_BANDS]
        if "maskbits" in cuts:
            cols.append("MASKBITS")
        if "r_mag" in cuts:
            cols += ["FLUX_R", "MW_TRANSMISSION_R"]
        if "r_snr" in cuts:
            cols += ["FLUX_R", "FLUX_IVAR_R"]
        if "gaia_parallax" in cuts:
            cols += ["PARALLAX", "PARALLAX_IVAR"]
        return list(dict.fromkeys(cols))

    def to_dict(self) -> dict:
        """JSON-serialisable description (stored with trained models)."""
        d = asdict(self)
        d["reject_types"] = list(self.reject_types)
        d["reject_maskbits"] = list(self.reject_maskbits)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Preselection:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown Preselection field(s) {sorted(unknown)}")
        d = dict(d)
        for key in ("reject_types", "reject_maskbits"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)

    # ------------------------------------------------------------------ application
    def apply(self, table) -> PreselectionResult:
        """Apply the cuts to ``table`` (astropy Table or DataFrame with DR9 column names, case-insensitive).

        Raises
        ------
        MissingColumnError
            A column needed by an enabled cut is absent (the message names the cut and the column).
        """
        keep, code, rows = self._apply(table, report=True)
        n = keep.size
        names = np.array(("", *CUT_ORDER), dtype=object)
        reason = names[code].astype(str) if n else np.zeros(0, "<U1")
        report = pd.DataFrame(rows, columns=["cut", "removed", "remaining", "description"])
        return PreselectionResult(mask=keep, reason=reason, report=report)

    def reason_codes(self, table) -> tuple[np.ndarray, np.ndarray]:
        """The cuts as codes, for streaming (no per-row strings, no report).

        Returns ``(mask, code)``: ``mask`` as in :meth:`apply`; ``code`` (uint8) is 0 for kept rows and
        ``1 + CUT_ORDER.index(cut)`` for the first cut that removed the row, i.e. ``apply(table).reason ==
        ("",) + CUT_ORDER`` indexed by ``code``. Raises like :meth:`apply`.
        """
        keep, code, _ = self._apply(table, report=False)
        return keep, code

    def _apply(self, table, report: bool) -> tuple[np.ndarray, np.ndarray, list]:
        names = table.colnames if hasattr(table, "colnames") else list(table.columns)
        cols = {str(n).upper(): n for n in names}
        n = len(table)
        where = table.meta.get("FILENAME", "<table>") if hasattr(table, "meta") else "<table>"

        def col(name: str, cut: str, dtype=np.float64) -> np.ndarray:
            if name not in cols:
                raise MissingColumnError(f"{where}: preselection cut {cut!r} needs column {name}")
            c = table[cols[name]]
            if isinstance(c, np.ma.MaskedArray) and dtype is np.float64:
                return np.asarray(c.astype(np.float64).filled(np.nan))
            return np.asarray(c, dtype=dtype) if dtype is not None else np.asarray(c)

        cuts = self.cuts()
        # Check every needed column first: fail before doing any work.
        for c in self.required_columns():
            if c not in cols:
                cut = next(k for k in cuts if c in Preselection._cut_columns(k))
                raise MissingColumnError(f"{where}: preselection cut {cut!r} needs column {c}")

        fails: dict[str, np.ndarray] = {}
        if "brick_primary" in cuts and "BRICK_PRIMARY" in cols:
            fails["brick_primary"] = ~col("BRICK_PRIMARY", "brick_primary", dtype=bool)
        if "type" in cuts:
            types = datamodel.normalised_types(col("TYPE", "type", dtype=None))  # lower-case 'dup' is DUP
            fails["type"] = np.isin(types, list(self.reject_types))
        if "nobs" in cuts:
            bad = np.zeros(n, bool)
            for b in datamodel.OPTICAL_BANDS:
                nobs = col(f"NOBS_{b}", "nobs")
                bad |= ~(nobs >= self.min_nobs)
            fails["nobs"] = bad
        if "maskbits" in cuts:
            mb = col("MASKBITS", "maskbits", dtype=np.int64)
            fails["maskbits"] = (mb & self.maskbits_value) != 0
        if "r_mag" in cuts:
            r = flux_to_mag(col("FLUX_R", "r_mag"), col("MW_TRANSMISSION_R", "r_mag"))
            ok = np.isfinite(r)
            if self.r_mag_max is not None:
                ok &= r < self.r_mag_max
            if self.r_mag_min is not None:
                ok &= r >= self.r_mag_min
            fails["r_mag"] = ~ok
        if "r_snr" in cuts:
            with np.errstate(invalid="ignore"):
                snr = col("FLUX_R", "r_snr") * np.sqrt(col("FLUX_IVAR_R", "r_snr"))
            fails["r_snr"] = ~(snr >= self.min_snr_r)
        if "gaia_parallax" in cuts:
            with np.errstate(invalid="ignore"):
                psnr = col("PARALLAX", "gaia_parallax") * np.sqrt(col("PARALLAX_IVAR", "gaia_parallax"))
            fails["gaia_parallax"] = psnr > self.max_parallax_snr  # NaN (no Gaia match) passes

        keep = np.ones(n, bool)
        code = np.zeros(n, np.uint8)
        rows = [("input", 0, n, f"preselection {self.name!r}")]
        for k, cut in enumerate(CUT_ORDER, start=1):
            if cut not in cuts:
                continue
            if cut not in fails:  # brick_primary without the column
                if report:
                    rows.append((cut, 0, int(keep.sum()), cuts[cut] + " -- column absent, not applied"))
                continue
            removed = keep & fails[cut]
            code[removed] = k
            keep &= ~removed
            if report:
                rows.append((cut, int(removed.sum()), int(keep.sum()), cuts[cut]))
        return keep, code, rows

    @staticmethod
    def _cut_columns(cut: str) -> tuple[str, ...]:
        return {
            "type": ("TYPE",),
            "nobs": tuple(f"NOBS_{b}" for b in datamodel.OPTICAL_BANDS),
            "maskbits": ("MASKBITS",),
            "r_mag": ("FLUX_R", "MW_TRANSMISSION_R"),
            "r_snr": ("FLUX_R", "FLUX_IVAR_R"),
            "gaia_parallax": ("PARALLAX", "PARALLAX_IVAR"),
        }.get(cut, ())


#: The project's default preselection (module docstring).
DEFAULT_PRESELECTION = Preselection()


def row_checks(table) -> tuple[np.ndarray, np.ndarray]:
    """Rows that cannot be classified, whatever the preselection: ``(ok, code)``.

    ``code`` (uint8) is 0 for a good row and ``1 + ROW_CHECK_ORDER.index(check)`` for the first check the
    row fails; catalogue production rejects such rows under the check's name (before the cuts, so rows in =
    rows kept + rows rejected per reason still holds). A check runs only when its columns are present.

    =================  ===========================================================================
    check              a row fails when
    =================  ===========================================================================
    ``invalid_id``     RELEASE, BRICKID or OBJID is negative or too large for the DESI TARGETID
                       layout (``datamodel.TARGETID_LAYOUT``): its id would collide with another's
    ``invalid_radec``  RA [deg] is not finite or not in [0, 360), or DEC [deg] is not finite or not in
                       [-90, 90]
    ``unknown_type``   TYPE (stripped, upper case) is not a Tractor type (``datamodel.TRACTOR_TYPES``
                       or the pre-DR9 ``PRE_DR9_TYPES``): the type features would be meaningless
    ``absurd_flux``    a finite FLUX_G/R/Z/W1/W2 has |flux| > :data:`ABSURD_FLUX_NMGY` nanomaggies
                       (e.g. 3e38, a float32 overflow); non-finite fluxes are quality flags instead
    =================  ===========================================================================
    """
    names = table.colnames if hasattr(table, "colnames") else list(table.columns)
    cols = {str(n).upper(): n for n in names}
    n = len(table)
    fails: dict[str, np.ndarray] = {}
    if {"RELEASE", "BRICKID", "OBJID"} <= set(cols):
        fails["invalid_id"] = datamodel.targetid_out_of_range(
            *(np.asarray(table[cols[c]]) for c in ("RELEASE", "BRICKID", "OBJID")))
    with np.errstate(invalid="ignore"):
        bad = np.zeros(n, bool)
        if "RA" in cols:
            ra = np.asarray(table[cols["RA"]], dtype=np.float64)
            bad |= ~((ra >= 0) & (ra < 360))
        if "DEC" in cols:
            dec = np.asarray(table[cols["DEC"]], dtype=np.float64)
            bad |= ~((dec >= -90) & (dec <= 90))
        fails["invalid_radec"] = bad
        if "TYPE" in cols:
            known = [*datamodel.TRACTOR_TYPES, *datamodel.PRE_DR9_TYPES]
            fails["unknown_type"] = ~np.isin(datamodel.normalised_types(table[cols["TYPE"]]), known)
        bad = np.zeros(n, bool)
        for b in datamodel.BANDS:
            if f"FLUX_{b}" in cols:
                bad |= np.abs(np.asarray(table[cols[f"FLUX_{b}"]], dtype=np.float64)) > ABSURD_FLUX_NMGY
        fails["absurd_flux"] = bad
    code = np.zeros(n, np.uint8)
    for k, check in enumerate(ROW_CHECK_ORDER, start=1):
        if check in fails:
            code[(code == 0) & np.asarray(fails[check], bool)] = k
    return code == 0, code
