"""Independent verification on real, published samples: SAGA DR3, ELVES, DESI EDR and the LVDB.

The paper (Zhang et al. 2025) checked its catalogue against DESI EDR spectra (precision ~100 %, recall
~51 %), SAGA (96 % / 68 %) and ELVES (97 % / 53 %). Those checks used full DR9 Tractor photometry of
every object. Here the real tables carry only a handful of Legacy-Surveys-like quantities, so every
check trains a model **restricted to exactly the features the real table supports**, on the simulated
sky, and applies it to the real objects.

The restricted feature vector
-----------------------------
One function, :func:`restricted_features`, computes the same named features from a DR9 sweep-format
table (the simulated sky, or any real sweep; through :func:`dwarflib.features.build_features`, the function
training and catalogue production use) and from each real table, so that simulation and data go through
identical definitions:

==========  ====================================  =========================================================
feature     sweep columns (simulated sky)         real tables
==========  ====================================  =========================================================
r           22.5 - 2.5 log10(FLUX_R /             SAGA ``rmag``; ELVES ``rimag`` where ``Filt == 'gr'``;
            MW_TRANSMISSION_R) [mag]              LVDB M_V + distance modulus -> r (colour assumption)
g_r         same for G, minus r [mag]             SAGA ``gr``; ELVES ``gmag - rimag``
rfib_r      fibre r - r, fibre r from             SAGA ``rmag-fiber - rmag`` (1.5 arcsec fibre)
            FIBERFLUX_R / MW_TRANSMISSION_R [mag]
mu_eff_r    r + 2.5 log10(2 pi R^2), R = max(SHAPE_R, SAGA ``sb`` (same definition, offset 0, see below);
            0.1") [mag/arcsec^2]                  ELVES/LVDB r + 2.5 log10(2 pi r_e^2), r_e in arcsec
sersic      SERSIC                                SAGA ``Sersic``
ba          (1 - |e|) / (1 + |e|),                SAGA ``ba``
            |e| = hypot(SHAPE_E1, SHAPE_E2)
==========  ====================================  =========================================================

SAGA's ``sb``: the SAGA DR3 base-catalogue pipeline (``SAGA.objects.build2.add_surface_brightness``,
used by ``build3`` for the DR9 photometry) computes ``sb_r = r_mag + 2.5 log10(2 pi radius^2)`` with
``radius = SHAPE_R`` and ``r_mag = 22.5 - 2.5 log10(FLUX_R / MW_TRANSMISSION_R)``, and
``ba = (1 - |e|) / (1 + |e|)``: exactly this module's convention, so the offset is 0 mag/arcsec^2. The
one known exception: for galaxies in the Siena Galaxy Atlas (REF_CAT 'L3', the brightest and largest)
SAGA replaces SHAPE_R by the SGA radius (``DIAM * 30`` arcsec), which the tables do not flag.

Radii: the Tractor's SHAPE_R and the LVDB ``rhalf`` are half-light radii along the major axis, and the
surface brightness here uses them without an ellipticity factor. (The LVDB's own
``surface_brightness_rhalf`` uses the circularised area, ``V + 2.5 log10(2 pi rhalf^2 (1 - ellipticity))``,
so it is brighter by ``-2.5 log10(1 - ellipticity)`` than the same quantity in V here.) ELVES' ``re`` is
taken to follow the same major-axis convention; if it were circularised, the ELVES mu_eff would be too bright
by up to ``-2.5 log10(b/a)``.

Selection rule: an object is selected as signal when ``p_signal >= threshold`` (default 0.5), the rule
of :mod:`dwarflib.evaluation`. Recall confidence intervals are Wilson binomial intervals
(:func:`dwarflib.metrics.binomial_interval`, astropy's Wilson score interval).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import astropy.constants as const
import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord, search_around_sky
from astropy.table import Table
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from dwarflib import paper
from dwarflib.conventions import distance_modulus_of_distance, mean_surface_brightness
from dwarflib.crossmatch import crossmatch
from dwarflib.evaluation import _new_estimator, cross_validate_signal, p_signal_of, training_labels
from dwarflib.features import SHAPE_R_FLOOR_ARCSEC, build_features
from dwarflib.labels import DEFAULT_SCHEME, SIGNAL, ClassScheme
from dwarflib.metrics import (
    CONFIDENCE,
    binomial_interval,
    operating_points,
    precision_recall_from_counts,
    threshold_for_precision,
)
from dwarflib.models import make_model
from dwarflib.paths import outputs_dir
from dwarflib.selections import BGS_BRIGHT
from dwarflib.survey_io import flux_to_mag

#: Columns of ``outputs/verification-summary.csv`` (exactly these, in this order).
SUMMARY_COLUMNS: tuple[str, ...] = ("check", "sample", "source", "n", "precision", "recall", "recall_low",
                                    "recall_high", "paper_precision", "paper_recall")

#: Allowed values of the ``source`` column: where the evaluated objects come from.
SOURCES: tuple[str, ...] = ("real", "simulated")

#: The paper's independent checks and held-out test set (precision, recall): defined once, with their source, in
#: :mod:`dwarflib.paper`; kept here under their old names for the book and the CLI.
PAPER_CHECKS: dict[str, tuple[float, float]] = paper.CHECKS
PAPER_TEST_SET: tuple[float, float] = paper.TEST_SET

#: The canonical restricted features (see the module docstring for their definitions).
RESTRICTED_FEATURES: tuple[str, ...] = ("r", "g_r", "rfib_r", "mu_eff_r", "sersic", "ba")

#: Features each real table supports. A sweep-format table supports all of them.
TABLE_FEATURES: dict[str, tuple[str, ...]] = {
    "sweep": RESTRICTED_FEATURES,
    "saga_satellites": RESTRICTED_FEATURES,
    "saga_hosts": ("r", "g_r", "mu_eff_r", "sersic", "ba"),  # C1 has no fibre magnitude
    "elves": ("r", "g_r", "mu_eff_r"),
    "lvdb": ("r", "mu_eff_r"),  # g-r would be the assumed constant colour: no information
}

#: ELVES V-band transformation ``g - V = a (g - r) + b``, least-squares fit to the 345 ELVES
#: (Carlsten et al. 2022) rows with g and r photometry, V from their absolute V and host distance
#: (rms 0.017 mag); recomputed by :func:`fit_v_transformation` in the book and the tests.
ELVES_V_COEFFS: tuple[float, float] = (0.6057, -0.0129)

#: Fallback g-r colour [mag] used to turn V into r where no colour is measured (LVDB): the median g-r
#: of the ELVES confirmed satellites with 6 < log M* < 9 and g, r photometry (recomputed in the book).
DEFAULT_DWARF_G_R: float = 0.51

_SPEED_OF_LIGHT_KMS = const.c.to_value(u.km / u.s)


# ---------------------------------------------------------------------------------------------------
# Elementary conversions
# ---------------------------------------------------------------------------------------------------

def mu_eff(mag, r_eff_arcsec):
    """Mean surface brightness inside the half-light radius [mag/arcsec^2]: ``mag + 2.5 log10(2 pi r_e^2)``.

    ``mag`` [mag] is the total magnitude, ``r_eff_arcsec`` the half-light radius [arcsec] (half the light
    falls inside pi r_e^2, hence the factor 2). Non-positive or non-finite radii give NaN.
    """
    mag = np.asarray(mag, dtype=float)
    r = np.asarray(r_eff_arcsec, dtype=float)
    out = mean_surface_brightness(mag, r)
    return np.where(np.isfinite(r) & (r > 0), out, np.nan)


def angular_radius_arcsec(r_pc, distance_mpc):
    """Angular size [arcsec] of a physical radius ``r_pc`` [pc] at distance ``distance_mpc`` [Mpc].

    Small-angle relation theta = r / D (exact to < 1e-6 for dwarfs). Non-positive distances give NaN.
    """
    r = np.asarray(r_pc, dtype=float) * u.pc
    d = np.asarray(distance_mpc, dtype=float) * u.Mpc
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = (r / d).to_value(u.dimensionless_unscaled) * u.rad
    out = theta.to_value(u.arcsec)
    return np.where(np.isfinite(d.value) & (d.value > 0), out, np.nan)


def physical_radius_pc(theta_arcsec, distance_mpc):
    """Physical radius [pc] of an angle ``theta_arcsec`` [arcsec] at distance ``distance_mpc`` [Mpc]: the
    inverse of :func:`angular_radius_arcsec`. Non-positive distances give NaN."""
    theta = np.asarray(theta_arcsec, dtype=float) * u.arcsec
    d = np.asarray(distance_mpc, dtype=float)
    out = theta.to_value(u.rad) * (d * u.Mpc).to_value(u.pc)
    return np.where(np.isfinite(d) & (d > 0), out, np.nan)


def fit_v_transformation(g, r, v) -> tuple[float, float]:
    """Least-squares ``(a, b)`` of ``g - V = a (g - r) + b`` from finite rows of g, r, V [mag]."""
    g, r, v = (np.asarray(x, dtype=float) for x in (g, r, v))
    ok = np.isfinite(g) & np.isfinite(r) & np.isfinite(v)
    if ok.sum() < 3:
        raise ValueError(f"need at least 3 rows with finite g, r and V, got {ok.sum()}")
    A = np.c_[g[ok] - r[ok], np.ones(ok.sum())]
    (a, b), *_ = np.linalg.lstsq(A, g[ok] - v[ok], rcond=None)
    return float(a), float(b)


def v_minus_r(g_r, coeffs: tuple[float, float] = ELVES_V_COEFFS):
    """V - r [mag] of a g-r colour [mag], from ``g - V = a (g - r) + b``: ``(1 - a)(g - r) - b``."""
    a, b = coeffs
    return (1.0 - a) * np.asarray(g_r, dtype=float) - b


def r_from_v(v, g_r, coeffs: tuple[float, float] = ELVES_V_COEFFS):
    """r [mag] from V [mag] and a g-r colour [mag], inverting ``g - V = a (g - r) + b``:
    ``r = V - (1 - a)(g - r) + b``."""
    return np.asarray(v, dtype=float) - v_minus_r(g_r, coeffs)


def r_from_g_v(g, v, coeffs: tuple[float, float] = ELVES_V_COEFFS):
    """r [mag] from g and V [mag], inverting ``g - V = a (g - r) + b``: ``r = g - (g - V - b) / a``."""
    a, b = coeffs
    g = np.asarray(g, dtype=float)
    return g - (g - np.asarray(v, dtype=float) - b) / a


# ---------------------------------------------------------------------------------------------------
# The restricted feature vector
# ---------------------------------------------------------------------------------------------------

@dataclass
class FeatureTable:
    """Restricted features of one table, with the bookkeeping a recall check needs.

    Attributes
    ----------
    kind : str
        One of :data:`TABLE_FEATURES`.
    features : DataFrame
        The columns of ``TABLE_FEATURES[kind]`` (magnitudes [mag], SB [mag/arcsec^2], sersic, ba).
    reason : ndarray of str
        ``''`` for a usable row, else why the row cannot enter a recall check (never dropped silently).
    logmstar : ndarray
        log10 M* [dex, Msun] as tabulated (NaN when unknown).
    z : ndarray
        Redshift (spectroscopic, or host velocity / c for ELVES; NaN when unknown).
    name : ndarray of str
        Object names or identifiers (for reports).
    flags : DataFrame
        Extra per-row information (e.g. ``r_from_v`` for ELVES i-band rows).
    """

    kind: str
    features: pd.DataFrame
    reason: np.ndarray
    logmstar: np.ndarray
    z: np.ndarray
    name: np.ndarray
    flags: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __len__(self) -> int:
        return len(self.features)

    @property
    def usable(self) -> np.ndarray:
        return self.reason == ""

    def in_signal(self, scheme: ClassScheme = DEFAULT_SCHEME) -> np.ndarray:
        """Rows inside the signal definition: ``logm_signal_min <= log M* < logm_dwarf_max`` and z < z_local
        (rows with an unknown z count as local only for kinds whose every member is local: ELVES, LVDB)."""
        m = self.logmstar
        z_ok = self.z < scheme.z_local
        if self.kind in ("elves", "lvdb"):
            z_ok = z_ok | ~np.isfinite(self.z)
        with np.errstate(invalid="ignore"):
            return (m >= scheme.logm_signal_min) & (m < scheme.logm_dwarf_max) & z_ok

    def reason_counts(self) -> pd.DataFrame:
        """Rows per exclusion reason ('usable' for the kept rows)."""
        r = np.where(self.reason == "", "usable", self.reason)
        vc = pd.Series(r).value_counts()
        return vc.rename_axis("reason").reset_index(name="n")


def _col(table: Table, name: str, fill=np.nan) -> np.ndarray:
    """A table column as a float ndarray, masked entries -> ``fill``; a clear error if it is absent."""
    if name not in table.colnames:
        raise KeyError(f"column {name!r} missing (have: {', '.join(table.colnames[:30])} ...)")
    c = table[name]
    if getattr(c, "mask", None) is not None and np.any(c.mask):
        return np.asarray(c.filled(fill), dtype=float)
    return np.asarray(c, dtype=float)


def _str_col(table: Table, name: str, fill: str = "") -> np.ndarray:
    c = table[name]
    if getattr(c, "mask", None) is not None and np.any(c.mask):
        c = c.filled(fill)
    return np.char.strip(np.asarray(c, dtype=str))


def _add_reason(reason: np.ndarray, mask: np.ndarray, why: str) -> None:
    """Record ``why`` for rows in ``mask`` that have no reason yet (the first reason wins)."""
    reason[(reason == "") & np.asarray(mask, bool)] = why


def _nonfinite_reason(reason: np.ndarray, feats: pd.DataFrame) -> None:
    bad = ~np.isfinite(feats.to_numpy(dtype=float)).all(axis=1)
    _add_reason(reason, bad, "non-finite feature")


#: Feature groups of :func:`dwarflib.features.build_features` that hold the restricted features.
SWEEP_GROUPS: tuple[str, ...] = ("magnitudes", "colours", "surface_brightness", "fibre", "shape")


def _sweep_features(table: Table) -> FeatureTable:
    f = build_features(table, SWEEP_GROUPS)
    feats = pd.DataFrame({
        "r": f["r"].to_numpy(),
        "g_r": f["g_r"].to_numpy(),
        "rfib_r": (f["fib_r"] - f["r"]).to_numpy(),
        "mu_eff_r": f["mu_eff_r"].to_numpy(),
        "sersic": f["sersic"].to_numpy(),
        "ba": f["ba"].to_numpy(),
    })
    n = len(table)
    logm = _col(table, "LOGMSTAR") if "LOGMSTAR" in table.colnames else np.full(n, np.nan)
    z = _col(table, "Z") if "Z" in table.colnames else np.full(n, np.nan)
    if "TARGETID" in table.colnames:
        name = np.asarray(table["TARGETID"]).astype(str)
    else:
        name = np.arange(n).astype(str)
    # Sweep rows are never excluded here: the models handle NaN features (missing photometry).
    return FeatureTable("sweep", feats, np.full(n, "", dtype=object), logm, z, name)


def _saga_features(table: Table, hosts: bool) -> FeatureTable:
    r = _col(table, "rmag")
    cols = {"r": r, "g_r": _col(table, "gr")}
    if not hosts:
        cols["rfib_r"] = _col(table, "rmag-fiber") - r
    sb = _col(table, "sb")
    # SAGA writes 99 where SHAPE_R <= 0 (point sources); build_features gives those the SB of a
    # SHAPE_R_FLOOR_ARCSEC disc, and so do we.
    cols["mu_eff_r"] = np.where(sb >= 90, mu_eff(r, SHAPE_R_FLOOR_ARCSEC), sb)
    cols["sersic"] = _col(table, "Sersic")
    cols["ba"] = _col(table, "ba")
    kind = "saga_hosts" if hosts else "saga_satellites"
    feats = pd.DataFrame(cols)[list(TABLE_FEATURES[kind])]
    n = len(table)
    reason = np.full(n, "", dtype=object)
    _nonfinite_reason(reason, feats)
    if hosts:
        z = _col(table, "HRV") / _SPEED_OF_LIGHT_KMS
        name = _str_col(table, "Name")
    else:
        z = _col(table, "z")
        _add_reason(reason, ~(z > 0), "no redshift")
        name = _str_col(table, "OBJID")
    return FeatureTable(kind, feats, reason, _col(table, "log(M*)"), z, name)


def host_key(name) -> str:
    return str(name).replace(" ", "").upper()


def _elves_features(table: Table, hosts: Table, i_band: str, confirmed_only: bool,
                    v_coeffs: tuple[float, float]) -> FeatureTable:
    if i_band not in ("exclude", "from_v"):
        raise ValueError(f"i_band must be 'exclude' or 'from_v', got {i_band!r}")
    host_dist = {host_key(h): float(d) for h, d in zip(hosts["Host"], np.asarray(hosts["Dist"], float), strict=True)}
    host_vel = {host_key(h): float(v) for h, v in zip(hosts["Host"], np.asarray(hosts["Vel"], float), strict=True)}
    host = np.array([host_key(h) for h in _str_col(table, "Host")])
    unknown = sorted(set(host) - set(host_dist))
    if unknown:
        raise ValueError(f"ELVES table rows name hosts absent from the host table: {unknown}")
    dist = np.array([host_dist[h] for h in host])
    vel = np.array([host_vel[h] for h in host])
    filt = _str_col(table, "Filt")
    g = _col(table, "gmag")
    ri = _col(table, "rimag")
    dm = distance_modulus_of_distance(dist)
    v_app = _col(table, "VMag") + dm
    is_gr = filt == "gr"
    is_gi = filt == "gi"
    r = np.where(is_gr, ri, np.nan)
    r_from_v_flag = np.zeros(len(table), bool)
    if i_band == "from_v":
        r = np.where(is_gi, r_from_g_v(g, v_app, v_coeffs), r)
        r_from_v_flag = is_gi & np.isfinite(r)
    r_e_arcsec = angular_radius_arcsec(_col(table, "re"), dist)
    feats = pd.DataFrame({"r": r, "g_r": g - r, "mu_eff_r": mu_eff(r, r_e_arcsec)})
    reason = np.full(len(table), "", dtype=object)
    conf = _str_col(table, "Conf") == "True"
    if confirmed_only:
        _add_reason(reason, ~conf, "candidate (not confirmed)")
    _add_reason(reason, ~(dist > 0), "no host distance (Milky Way satellite)")
    _add_reason(reason, ~(is_gr | is_gi), "no g/r photometry (literature entry)")
    if i_band == "exclude":
        _add_reason(reason, is_gi, "i band only (Filt = gi)")
    _add_reason(reason, _str_col(table, "Bad") == "yes", "bad photometry flag")
    _add_reason(reason, ~np.isfinite(_col(table, "re")), "no effective radius")
    _nonfinite_reason(reason, feats)
    flags = pd.DataFrame({"host": host, "distance_mpc": dist, "r_e_arcsec": r_e_arcsec,
                          "r_from_v": r_from_v_flag, "confirmed": conf, "filt": filt})
    return FeatureTable("elves", feats, reason, _col(table, "logMs"), vel / _SPEED_OF_LIGHT_KMS,
                        _str_col(table, "Name"), flags)


def _lvdb_features(table: Table, assumed_g_r: float, v_coeffs: tuple[float, float]) -> FeatureTable:
    m_v = _col(table, "M_V")
    dm = _col(table, "distance_modulus")
    r = r_from_v(m_v + dm, assumed_g_r, v_coeffs)
    rhalf_arcsec = _col(table, "rhalf") * 60.0
    feats = pd.DataFrame({"r": r, "mu_eff_r": mu_eff(r, rhalf_arcsec)})
    reason = np.full(len(table), "", dtype=object)
    _add_reason(reason, ~np.isfinite(m_v) | ~np.isfinite(dm), "no M_V or distance modulus")
    _add_reason(reason, ~(rhalf_arcsec > 0), "no half-light radius")
    logm = _col(table, "mass_stellar")
    _add_reason(reason, ~np.isfinite(logm), "no stellar mass")
    _nonfinite_reason(reason, feats)
    v = _col(table, "vlos_systemic") if "vlos_systemic" in table.colnames else np.full(len(table), np.nan)
    flags = pd.DataFrame({"rhalf_arcsec": rhalf_arcsec, "distance_kpc": _col(table, "distance"),
                          "host": _str_col(table, "host") if "host" in table.colnames else ""})
    return FeatureTable("lvdb", feats, reason, logm, v / _SPEED_OF_LIGHT_KMS, _str_col(table, "key"), flags)


def restricted_features(table: Table, kind: str, *, hosts: Table | None = None, i_band: str = "exclude",
                        confirmed_only: bool = True, assumed_g_r: float = DEFAULT_DWARF_G_R,
                        v_coeffs: tuple[float, float] = ELVES_V_COEFFS) -> FeatureTable:
    """The restricted feature vector of ``table`` under one set of definitions (module docstring).

    Parameters
    ----------
    table : astropy.table.Table
        A DR9 sweep-format table (``kind='sweep'``, e.g. the simulated ``training-sample.fits``), SAGA DR3
        table C3 (``'saga_satellites'``) or C1 (``'saga_hosts'``), ELVES table 9 (``'elves'``) or an LVDB
        table (``'lvdb'``), as returned by :mod:`dwarflib.registry`.
    kind : str
        One of :data:`TABLE_FEATURES`.
    hosts : Table, optional
        ELVES host table (``registry.load_elves_hosts_csv()``), required for ``kind='elves'``: the host
        distance turns ``re`` [pc] back into arcsec (ELVES computed ``re`` from the angular size at the
        host distance, so this recovers the measured angle).
    i_band : {'exclude', 'from_v'}
        ELVES rows measured in g and i (``Filt == 'gi'``): excluded with a reason, or given
        ``r = g - (g - V - b) / a`` from ELVES' own V (flagged ``r_from_v``).
    confirmed_only : bool
        ELVES: exclude unconfirmed candidates (with a reason).
    assumed_g_r : float
        LVDB: g-r colour [mag] assumed to turn V into r.
    v_coeffs : (a, b)
        The V transformation ``g - V = a (g - r) + b`` (:func:`fit_v_transformation`).

    Returns
    -------
    FeatureTable
    """
    if kind == "sweep":
        return _sweep_features(table)
    if kind in ("saga_satellites", "saga_hosts"):
        return _saga_features(table, hosts=kind == "saga_hosts")
    if kind == "elves":
        if hosts is None:
            raise ValueError("kind='elves' needs hosts=registry.load_elves_hosts_csv() for the host distances")
        return _elves_features(table, hosts, i_band, confirmed_only, v_coeffs)
    if kind == "lvdb":
        return _lvdb_features(table, assumed_g_r, v_coeffs)
    raise ValueError(f"unknown kind {kind!r}; choose one of {sorted(TABLE_FEATURES)}")


# ---------------------------------------------------------------------------------------------------
# Restricted models: train on the simulated sky, apply to a real table
# ---------------------------------------------------------------------------------------------------

def fit_restricted_model(make_estimator, train: FeatureTable, y, features: Sequence[str],
                         scheme: str = "7class"):
    """Fit a fresh estimator on ``train.features[features]`` (a sweep :class:`FeatureTable`).

    ``make_estimator`` is an unfitted estimator (cloned) or a zero-argument factory; ``y`` the 7-class
    labels (a binary model gets their collapse, :func:`dwarflib.evaluation.training_labels`).
    """
    missing = [f for f in features if f not in train.features.columns]
    if missing:
        raise KeyError(f"training features lack {missing}")
    y = np.asarray(y)
    if len(y) != len(train):
        raise ValueError(f"{len(train)} training rows but {len(y)} labels")
    est = _new_estimator(make_estimator)
    est.fit(train.features[list(features)], training_labels(y, scheme))
    return est


def apply_model(estimator, table: FeatureTable, features: Sequence[str]) -> np.ndarray:
    """``p_signal`` of every row of ``table`` (NaN for rows with an exclusion reason)."""
    p = np.full(len(table), np.nan)
    ok = table.usable
    if ok.any():
        p[ok] = p_signal_of(estimator, table.features.loc[ok, list(features)])
    return p


def recall_check(p_signal, mask, threshold: float = 0.5, confidence: float = CONFIDENCE) -> dict[str, float]:
    """Recall of known signal-like objects: the fraction of rows in ``mask`` with ``p_signal >= threshold``.

    Returns ``n``, ``k`` (selected), ``recall``, ``recall_low``, ``recall_high`` (Wilson interval at
    ``confidence``). Rows of ``mask`` with NaN ``p_signal`` are an error: exclude them with a reason first.
    """
    p = np.asarray(p_signal, dtype=float)
    mask = np.asarray(mask, bool)
    if np.isnan(p[mask]).any():
        raise ValueError(f"{np.isnan(p[mask]).sum()} rows in the recall sample have no p_signal")
    n = int(mask.sum())
    k = int((p[mask] >= threshold).sum())
    lo, hi = binomial_interval(k, n, confidence)
    if n:  # the Wilson bounds at k = 0 and k = n are exactly 0 and 1; remove floating-point residue
        lo = 0.0 if k == 0 else lo
        hi = 1.0 if k == n else hi
    return {"n": n, "k": k, "recall": k / n if n else float("nan"), "recall_low": lo, "recall_high": hi}


def precision_recall(y_true_signal, pred_signal, confidence: float = CONFIDENCE) -> dict[str, float]:
    """Signal precision and recall with Wilson intervals from boolean truth and prediction arrays."""
    t = np.asarray(y_true_signal, bool)
    p = np.asarray(pred_signal, bool)
    tp, fp, fn = int((t & p).sum()), int((~t & p).sum()), int((t & ~p).sum())
    return {"n": len(t), "n_signal": int(t.sum()), "tp": tp, "fp": fp, "fn": fn,
            **precision_recall_from_counts(tp, tp + fp, tp + fn, confidence)}


#: Keys :func:`scored_at` adds to :func:`precision_recall`: the operating point of the pair
#: (:func:`dwarflib.metrics.operating_points`).
OPERATING_POINT_KEYS: tuple[str, ...] = ("threshold", "prevalence", "average_precision", "average_precision_low",
                                         "average_precision_high", "reference_fpr", "recall_at_fpr",
                                         "recall_at_fpr_low", "recall_at_fpr_high")


def scored_at(y_true_signal, p_signal, threshold: float, confidence: float = CONFIDENCE, n_boot: int = 200,
              seed: int = 0) -> dict[str, float]:
    """:func:`precision_recall` of ``p_signal >= threshold``, with its operating point: the threshold, the signal
    prevalence of the scored objects, the average precision and the recall at the reference false-positive rate
    (keys :data:`OPERATING_POINT_KEYS`, from :func:`dwarflib.metrics.operating_points`)."""
    t = np.asarray(y_true_signal, bool)
    p = np.asarray(p_signal, float)
    op = operating_points(t.astype(int), p, [threshold], signal=1, cl=confidence, n_boot=n_boot, seed=seed).iloc[0]
    return {**precision_recall(t, p >= threshold, confidence), **{k: float(op[k]) for k in OPERATING_POINT_KEYS}}


# ---------------------------------------------------------------------------------------------------
# The summary table
# ---------------------------------------------------------------------------------------------------

def summary_row(check: str, sample: str, source: str, n: int, precision: float = float("nan"),
                recall: float = float("nan"), recall_low: float = float("nan"), recall_high: float = float("nan"),
                paper: tuple[float, float] | None = None) -> dict:
    """One row of the verification summary; ``source`` says whether the evaluated objects are real or simulated."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    pp, pr = paper if paper is not None else (float("nan"), float("nan"))
    return {"check": check, "sample": sample, "source": source, "n": int(n), "precision": float(precision),
            "recall": float(recall), "recall_low": float(recall_low), "recall_high": float(recall_high),
            "paper_precision": float(pp), "paper_recall": float(pr)}


def result_row(check: str, sample: str, source: str, result: Mapping,
               paper: tuple[float, float] | None = None) -> dict:
    """:func:`summary_row` from a score dict of :func:`recall_check` or :func:`precision_recall` (or a
    check's ``sim_test``): ``n``, ``recall`` with its interval, and ``precision`` where the dict has one."""
    return summary_row(check, sample, source, result["n"], precision=result.get("precision", float("nan")),
                       recall=result["recall"], recall_low=result["recall_low"],
                       recall_high=result["recall_high"], paper=paper)


def saga_summary_rows(signal_range: Mapping, all_satellites: Mapping, hosts: Mapping, sim_test: Mapping,
                      paper: tuple[float, float] = PAPER_CHECKS["SAGA DR3"]) -> list[dict]:
    """The SAGA DR3 rows of the summary: recall on the real signal-range satellites (beside the paper's
    check) and on all satellites with the 6-feature model, the fraction of real hosts selected by the
    5-feature model, and the 6-feature model's simulated held-out test."""
    return [
        result_row("SAGA DR3 satellites", "6 <= log M* < 9; r, g-r, fibre r, SB, Sersic, b/a; "
                   "model trained on simulated sky", "real", signal_range, paper=paper),
        result_row("SAGA DR3 satellites", "all log M* (6.0-10.3); same model", "real", all_satellites),
        result_row("SAGA DR3 hosts", f"fraction of the {hosts['n']} MW-mass hosts selected as signal "
                   "(recall column); 5 features", "real", hosts),
        result_row("SAGA-feature model", f"simulated held-out test, 6 features ({sim_test['n_signal']} signal)",
                   "simulated", sim_test),
    ]


def elves_summary_rows(signal_range: Mapping, all_masses: Mapping, with_r_from_v: Mapping, n_hosts: int,
                       sim_test: Mapping, paper: tuple[float, float] = PAPER_CHECKS["ELVES"],
                       tractor_system: Mapping | None = None, deep_minus_tractor_dex: float | None = None
                       ) -> list[dict]:
    """The ELVES rows of the summary: recall on the real confirmed satellites with g and r photometry in the
    signal mass range and at all masses, the signal range again with the g,i rows given r from V, the hosts
    (not evaluable: no photometry in the tables), and the 3-feature model's simulated held-out test.

    ``tractor_system``: the signal-range recall with ELVES's radii moved into DR9's Tractor system (smaller by
    ``deep_minus_tractor_dex`` [dex]); the paper measured its ELVES check on DR9 photometry, so its number sits
    beside that row when given, else beside the signal-range row with ELVES's own radii.
    """
    rows = [
        result_row("ELVES satellites", "confirmed, 6 <= log M* < 9, g and r photometry; r, g-r, SB "
                   "(ELVES's deep radii); model trained on simulated sky", "real", signal_range,
                   paper=None if tractor_system is not None else paper),
    ]
    if tractor_system is not None:
        if deep_minus_tractor_dex is None:
            raise ValueError("tractor_system needs deep_minus_tractor_dex, the radius offset it was made with")
        rows.append(result_row("ELVES satellites", "confirmed, 6 <= log M* < 9, g and r photometry; r, g-r, SB "
                               f"with radii moved into DR9's Tractor system (-{deep_minus_tractor_dex:.3f} dex), as "
                               "the paper's DR9 check saw them; model trained on simulated sky", "real",
                               tractor_system, paper=paper))
    return rows + [
        result_row("ELVES satellites", "confirmed, all masses, g and r photometry", "real", all_masses),
        result_row("ELVES satellites", "as first ELVES row plus g,i rows with r from V", "real", with_r_from_v),
        summary_row("ELVES hosts", f"{n_hosts} hosts: no photometry or sizes in the ELVES tables; not evaluable",
                    "real", n_hosts),
        result_row("ELVES-feature model", f"simulated held-out test, 3 features ({sim_test['n_signal']} signal)",
                   "simulated", sim_test),
    ]


def edr_summary_rows(sim_to_real: Mapping, real_cv: Mapping, sim_cv: Mapping,
                     r_max: float = BGS_BRIGHT.r_max, z_min: float = BGS_BRIGHT.z_min,
                     paper: tuple[float, float] = PAPER_CHECKS["DESI EDR"]) -> list[dict]:
    """The DESI EDR rows of the summary (colours and magnitudes only): the simulated-sky model applied to the
    real table (beside the paper's check), a model trained and tested on the real labels, and the simulated
    sky's own cross-validation; each sample names its number of signal galaxies."""
    specs = [
        (sim_to_real, f"colours + magnitudes; trained on simulated sky (r < {r_max:g}, z > {z_min:g}), "
                      "applied to real", "real", paper),
        (real_cv, "colours + magnitudes; trained and tested on real labels, 5-fold CV", "real", None),
        (sim_cv, "colours + magnitudes; simulated sky, 5-fold CV", "simulated", None),
    ]
    return [result_row("DESI EDR", f"{sample} ({r['n_signal']} signal)", source, r, paper=pp)
            for r, sample, source, pp in specs]


def lvdb_summary_rows(signal_range: Mapping, all_usable: Mapping) -> list[dict]:
    """The LVDB rows of the summary: recall on the real signal-range dwarfs and on every usable dwarf."""
    return [
        result_row("LVDB dwarfs", "6 <= log M* < 9; r (from M_V), SB; model trained on simulated sky", "real",
                   signal_range),
        result_row("LVDB dwarfs", "all dwarfs with M_V, distance and r_half", "real", all_usable),
    ]


def summary_frame(rows: Sequence[Mapping]) -> pd.DataFrame:
    """The summary table with exactly :data:`SUMMARY_COLUMNS`; validates every row."""
    df = pd.DataFrame([summary_row(**{k: r[k] for k in r if k not in ("paper_precision", "paper_recall")},
                                   paper=(r.get("paper_precision", float("nan")), r.get("paper_recall", float("nan"))))
                       for r in rows], columns=list(SUMMARY_COLUMNS))
    for col in ("precision", "recall", "recall_low", "recall_high"):
        v = df[col].to_numpy(float)
        bad = np.isfinite(v) & ((v < 0) | (v > 1))
        if bad.any():
            raise ValueError(f"summary column {col} outside [0, 1] in rows {np.flatnonzero(bad).tolist()}")
    return df


def with_intervals(df: pd.DataFrame, metrics: Sequence[str] = ("precision", "recall"), digits: int = 3,
                   cl: float = CONFIDENCE) -> pd.DataFrame:
    """A narrower copy of a score table for display: each ``metric`` with its ``{metric}_low`` and
    ``{metric}_high`` columns becomes one text column ``'{metric} [95 % interval]'`` (``'0.912 [0.880, 0.937]'``,
    ``'-'`` where the value is NaN). Other columns are kept in order; the full table belongs in ``outputs/``.
    A metric whose interval columns are missing raises ``KeyError``."""
    out = df.copy()
    for m in metrics:
        missing = [c for c in (m, f"{m}_low", f"{m}_high") if c not in out.columns]
        if missing:
            raise KeyError(f"score table has no column(s) {missing}")
        v, lo, hi = (pd.to_numeric(out[c], errors="coerce").to_numpy(float) for c in (m, f"{m}_low", f"{m}_high"))
        text = [f"{a:.{digits}f} [{b:.{digits}f}, {c:.{digits}f}]" if np.isfinite(a) else "-"
                for a, b, c in zip(v, lo, hi, strict=True)]
        out.insert(out.columns.get_loc(m), f"{m} [{100 * cl:.0f} % interval]", text)
        out = out.drop(columns=[m, f"{m}_low", f"{m}_high"])
    return out


def summary_display(df: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """The verification summary as the book shows it: ``check``, ``sample``, ``source``, ``n``, precision and
    recall each with its interval in one column (:func:`with_intervals`), and the paper's (precision, recall)
    in one column ``paper P / R`` (``'-'`` where the paper has no number for the row). The full table, with
    every column of :data:`SUMMARY_COLUMNS`, is what :func:`write_summary` writes."""
    out = with_intervals(df, ("recall",), digits)  # the summary keeps no precision interval
    pp, pr = out.pop("paper_precision").to_numpy(float), out.pop("paper_recall").to_numpy(float)
    out["precision"] = [f"{x:.{digits}f}" if np.isfinite(x) else "-" for x in out["precision"].to_numpy(float)]
    out["paper P / R"] = [f"{a:.2f} / {b:.2f}" if np.isfinite(a) or np.isfinite(b) else "-"
                          for a, b in zip(pp, pr, strict=True)]
    return out


def write_summary(df: pd.DataFrame, path: str | Path | None = None) -> Path:
    """Write the summary to ``path`` (default ``outputs/verification-summary.csv``) and return the path."""
    if list(df.columns) != list(SUMMARY_COLUMNS):
        raise ValueError(f"summary columns must be exactly {SUMMARY_COLUMNS}, got {tuple(df.columns)}")
    path = Path(path) if path is not None else outputs_dir() / "verification-summary.csv"
    df.to_csv(path, index=False)
    return path


# ---------------------------------------------------------------------------------------------------
# One restricted-feature check, end to end
# ---------------------------------------------------------------------------------------------------

@dataclass
class RestrictedCheck:
    """A model restricted to ``features``, trained on the simulated sky and tested there (held-out part)."""

    features: tuple[str, ...]
    estimator: object
    sim_test: dict[str, float]
    #: Rows of the simulated sample in the held-out part, and the model's signal scores on them.
    test_index: np.ndarray | None = None
    test_p_signal: np.ndarray | None = None
    #: The decision threshold on p_signal of every number of the check (``sim_test`` and the real recalls).
    threshold: float = 0.5
    #: The stated simulated precision the threshold was chosen for (None: a fixed threshold).
    target_precision: float | None = None
    #: The held-out simulated rows themselves (for comparisons with real tables on the same rows).
    test_table: FeatureTable | None = None

    def apply(self, table: FeatureTable) -> np.ndarray:
        return apply_model(self.estimator, table, self.features)


def train_restricted_check(make_estimator, sim: FeatureTable, y, features: Sequence[str],
                           scheme: str = "7class", test_fraction: float = 0.3, seed: int = 0,
                           threshold: float = 0.5, precision: float | None = None) -> RestrictedCheck:
    """Train a restricted model on a stratified part of the simulated sample and measure it on the rest.

    With ``precision`` (a stated **simulated** precision, fraction 0-1) the threshold is the lowest one at which
    the model reaches that precision on the simulated held-out part
    (:func:`dwarflib.metrics.threshold_for_precision`, which raises naming the target and the reachable range);
    otherwise it is ``threshold``. The real recalls of a check are quoted at that threshold
    (``RestrictedCheck.threshold``), so each states the simulated precision it goes with.

    Returns the fitted model, its simulated held-out signal precision/recall (Wilson intervals) with the
    operating point (:func:`scored_at`) and the held-out rows with their scores (for comparisons with real
    tables, e.g. :mod:`dwarflib.sky.parity`).
    """
    from sklearn.model_selection import train_test_split

    y = np.asarray(y)
    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=test_fraction, stratify=y, random_state=seed)
    train = FeatureTable(sim.kind, sim.features.iloc[tr].reset_index(drop=True), sim.reason[tr],
                         sim.logmstar[tr], sim.z[tr], sim.name[tr])
    est = fit_restricted_model(make_estimator, train, y[tr], features, scheme)
    test = FeatureTable(sim.kind, sim.features.iloc[te].reset_index(drop=True), sim.reason[te],
                        sim.logmstar[te], sim.z[te], sim.name[te])
    p = apply_model(est, test, features)
    if precision is not None:
        threshold = threshold_for_precision(y[te] == SIGNAL, p, precision)["threshold"]
    scores = scored_at(y[te] == SIGNAL, p, threshold, seed=seed)
    return RestrictedCheck(tuple(features), est, scores, test_index=te, test_p_signal=p, threshold=float(threshold),
                           target_precision=precision, test_table=test)


#: Columns of ``outputs/verification-operating-points.csv``: each real recall (``n``, ``k``, ``recall`` with its
#: Wilson interval) beside the operating point of the same model on simulated objects it was not trained on:
#: the threshold, the stated simulated precision it was chosen for, and the simulated precision, recall,
#: signal prevalence, average precision and recall at the reference false-positive rate, with intervals.
STATED_RECALL_COLUMNS: tuple[str, ...] = (
    "check", "sample", "n", "k", "recall", "recall_low", "recall_high", "threshold", "target_precision",
    "sim_sample", "sim_n", "sim_prevalence", "sim_precision", "sim_precision_low", "sim_precision_high",
    "sim_recall", "sim_recall_low", "sim_recall_high", "sim_average_precision", "sim_average_precision_low",
    "sim_average_precision_high", "reference_fpr", "sim_recall_at_fpr", "sim_recall_at_fpr_low",
    "sim_recall_at_fpr_high",
)


def stated_recall_row(check: str, sample: str, real: Mapping, sim: Mapping, sim_sample: str,
                      target_precision: float | None) -> dict:
    """One row of :data:`STATED_RECALL_COLUMNS`: a real recall (:func:`recall_check`, at ``sim['threshold']``)
    and the simulated operating point of the same model at the same threshold (a :func:`scored_at` dict, e.g.
    ``RestrictedCheck.sim_test``); ``target_precision`` is the stated simulated precision the threshold was
    chosen for (None: a fixed threshold)."""
    for key in ("n", "k", "recall", "recall_low", "recall_high"):
        if key not in real:
            raise KeyError(f"real recall of {check!r} has no {key!r}")
    missing = [k for k in ("n", "precision", "recall", *OPERATING_POINT_KEYS) if k not in sim]
    if missing:
        raise KeyError(f"simulated operating point of {check!r} lacks {missing} (use scored_at)")
    row = {"check": check, "sample": sample, **{k: real[k] for k in ("n", "k", "recall", "recall_low", "recall_high")},
           "threshold": float(sim["threshold"]),
           "target_precision": float("nan") if target_precision is None else float(target_precision),
           "sim_sample": sim_sample, "sim_n": int(sim["n"]), "sim_prevalence": float(sim["prevalence"]),
           "reference_fpr": float(sim["reference_fpr"])}
    for key in ("precision", "recall", "average_precision", "recall_at_fpr"):
        for suffix in ("", "_low", "_high"):
            row[f"sim_{key}{suffix}"] = float(sim[f"{key}{suffix}"])
    return {c: row[c] for c in STATED_RECALL_COLUMNS}


# ---------------------------------------------------------------------------------------------------
# DESI EDR: colours-only, simulated training vs real training
# ---------------------------------------------------------------------------------------------------

def desi_edr_selection(table: Table, r_max: float = BGS_BRIGHT.r_max, z_min: float = BGS_BRIGHT.z_min) -> np.ndarray:
    """Rows passing the DESI EDR table's selection (dereddened r < r_max [mag] and Z > z_min; default
    :data:`dwarflib.selections.BGS_BRIGHT`)."""
    r = flux_to_mag(_col(table, "FLUX_R"), _col(table, "MW_TRANSMISSION_R"))
    return (r < r_max) & (_col(table, "Z") > z_min)


def labels_of(table: Table, scheme: ClassScheme = DEFAULT_SCHEME) -> np.ndarray:
    """7-class labels from ``Z`` and ``LOGMSTAR`` (stars, if a ``CLASS``/``SPECTYPE`` marks them, go to 'other')."""
    is_star = None
    if "SPECTYPE" in table.colnames:
        is_star = np.isin(np.char.strip(np.asarray(table["SPECTYPE"], dtype=str)), ("STAR", "QSO"))
    elif "IS_STAR" in table.colnames:
        is_star = np.asarray(table["IS_STAR"], bool)
    return scheme.assign(_col(table, "Z"), _col(table, "LOGMSTAR"), is_star)


def sim_to_real_colours(make_estimator, sim_table: Table, y_sim, real_table: Table, y_real,
                        groups: Sequence[str] = ("magnitudes", "colours"), scheme: str = "7class",
                        n_splits: int = 5, seed: int = 0, threshold: float = 0.5,
                        precision: float | None = None) -> dict[str, dict]:
    """The sim-to-real gap of a colours-only model, measured on real DESI EDR labels.

    Features come from :func:`dwarflib.features.build_features` with ``groups`` (the same code for the
    simulated and the real table). With ``precision`` (a stated **simulated** precision) the threshold is the
    lowest one reaching it on the simulated cross-validation's pooled out-of-fold scores; otherwise
    ``threshold``. All three rows use that threshold. Returns three score dicts (:func:`scored_at`: precision
    and recall with their operating point):

    * ``'sim_to_real'``: trained on the whole simulated table, applied to every real galaxy;
    * ``'real_cv'``: trained on the real table itself, stratified ``n_splits``-fold cross-validation
      (pooled out-of-fold predictions; :func:`dwarflib.evaluation.cross_validate_signal`);
    * ``'sim_cv'``: the same cross-validation on the simulated table (the simulated-sky baseline).
    """
    X_sim = build_features(sim_table, groups)
    X_real = build_features(real_table, groups)
    cols = [c for c in X_sim.columns if c in X_real.columns]
    if list(cols) != list(X_sim.columns):
        raise ValueError(f"real features lack {sorted(set(X_sim.columns) - set(cols))}")
    y_sim, y_real = np.asarray(y_sim), np.asarray(y_real)
    cv_sim = cross_validate_signal(make_estimator, X_sim[cols], y_sim, scheme=scheme, n_splits=n_splits,
                                   seed=seed, threshold=threshold)
    if precision is not None:
        threshold = threshold_for_precision(y_sim == SIGNAL, cv_sim.p_signal, precision)["threshold"]
    est = _new_estimator(make_estimator)
    est.fit(X_sim[cols], training_labels(y_sim, scheme))
    p_real = p_signal_of(est, X_real[cols])
    out = {"sim_to_real": scored_at(y_real == SIGNAL, p_real, threshold, seed=seed)}
    cv_real = cross_validate_signal(make_estimator, X_real[cols], y_real, scheme=scheme, n_splits=n_splits,
                                    seed=seed, threshold=threshold)
    out["real_cv"] = scored_at(y_real == SIGNAL, cv_real.p_signal, threshold, seed=seed)
    out["sim_cv"] = scored_at(y_sim == SIGNAL, cv_sim.p_signal, threshold, seed=seed)
    return out


# ---------------------------------------------------------------------------------------------------
# Positional cross-matches (astropy.coordinates)
# ---------------------------------------------------------------------------------------------------

def match_by_position(ra1, dec1, ra2, dec2, radius_arcsec: float) -> pd.DataFrame:
    """One-to-one match of each (ra1, dec1) [deg] to (ra2, dec2) [deg] within ``radius_arcsec``, nearest first.

    :func:`dwarflib.crossmatch.crossmatch` without a flux tie-break: where no two rows share a nearest
    neighbour this is the nearest neighbour within the radius. Returns one row per first-catalogue
    object: ``index`` (into the second catalogue, -1 when unmatched), ``sep_arcsec`` (of the match, else
    to the nearest neighbour at any distance), ``matched`` and ``status`` (why unmatched).
    """
    m = crossmatch(ra1, dec1, ra2, dec2, radius_arcsec, tie_arcsec=0.0)
    return m[["index", "sep_arcsec", "matched", "status"]]


def satellites_around_hosts(sat_ra, sat_dec, host_ra, host_dec, host_dist_mpc,
                            radius_kpc: float = 300.0) -> pd.DataFrame:
    """All (satellite, host) pairs closer than ``radius_kpc`` in projection at the host distance [Mpc].

    Uses :func:`astropy.coordinates.search_around_sky` with the largest angular radius any host needs,
    then keeps pairs within ``radius_kpc`` of their own host. Columns: ``sat``, ``host``, ``sep_arcsec``,
    ``r_proj_kpc``.
    """
    sats = SkyCoord(np.asarray(sat_ra, float) * u.deg, np.asarray(sat_dec, float) * u.deg)
    hosts = SkyCoord(np.asarray(host_ra, float) * u.deg, np.asarray(host_dec, float) * u.deg)
    dist = np.asarray(host_dist_mpc, float)
    max_angle = (radius_kpc / (dist.min() * 1e3)) * u.rad
    i_s, i_h, sep, _ = search_around_sky(sats, hosts, max_angle.to(u.deg))
    r_kpc = sep.to_value(u.rad) * dist[i_h] * 1e3
    keep = r_kpc <= radius_kpc
    return pd.DataFrame({"sat": i_s[keep], "host": i_h[keep], "sep_arcsec": sep.to_value(u.arcsec)[keep],
                         "r_proj_kpc": r_kpc[keep]})


# ---------------------------------------------------------------------------------------------------
# Size-luminosity realism comparison
# ---------------------------------------------------------------------------------------------------

def physical_size_luminosity(r_mag, r_e_arcsec, distance_mpc) -> pd.DataFrame:
    """Absolute r magnitude [mag] and half-light radius [pc] from apparent r [mag], r_e [arcsec], D [Mpc]."""
    d = np.asarray(distance_mpc, float)
    abs_r = np.asarray(r_mag, float) - distance_modulus_of_distance(d)
    r_pc = (np.asarray(r_e_arcsec, float) * u.arcsec).to_value(u.rad) * d * 1e6
    return pd.DataFrame({"M_r": abs_r, "log_re_pc": np.log10(np.where(r_pc > 0, r_pc, np.nan))})


class ClassCapped(ClassifierMixin, BaseEstimator):
    """Fit ``estimator`` on at most ``max_per_class`` randomly chosen rows of each class (seeded).

    The verification models are refitted many times (one per real table, five folds per cross-validation)
    within the book's runtime budget. The simulated and DESI EDR samples are dominated by distant galaxies
    (classes 4-6), which are easy to reject; capping those classes keeps every rare row (the signal and
    the local/nearby classes) and, with the class-balanced weights of :func:`dwarflib.models.make_model`,
    leaves the decision boundary essentially unchanged while cutting the fit time several-fold.
    """

    def __init__(self, estimator, max_per_class: int | None = 10_000, random_state: int = 0):
        self.estimator = estimator
        self.max_per_class = max_per_class
        self.random_state = random_state

    def fit(self, X, y, **fit_params):
        y = np.asarray(y)
        keep = np.arange(len(y))
        if self.max_per_class is not None:
            rng = np.random.default_rng(self.random_state)
            parts = []
            for cls in np.unique(y):
                idx = np.flatnonzero(y == cls)
                if len(idx) > self.max_per_class:
                    idx = np.sort(rng.choice(idx, size=self.max_per_class, replace=False))
                parts.append(idx)
            keep = np.sort(np.concatenate(parts))
        Xk = X.iloc[keep] if hasattr(X, "iloc") else np.asarray(X)[keep]
        self.estimator_ = clone(self.estimator).fit(Xk, y[keep], **fit_params)
        self.classes_ = np.asarray(self.estimator_.classes_)
        self.n_train_rows_ = len(keep)
        if hasattr(self.estimator_, "feature_names_in_"):
            self.feature_names_in_ = self.estimator_.feature_names_in_
        return self

    @property
    def scheme(self):
        """The label scheme of the wrapped model (read by :func:`dwarflib.models.p_signal`)."""
        return getattr(self.estimator, "scheme", None)

    def predict_proba(self, X):
        return self.estimator_.predict_proba(X)

    def predict(self, X):
        return self.estimator_.predict(X)


def make_default_estimator(algorithm: str = "xgboost", scheme: str = "7class", seed: int = 0, n_jobs: int = 1,
                           max_per_class: int | None = None, **params) -> Callable:
    """A zero-argument factory for :func:`dwarflib.models.make_model` (the project's model factory),
    optionally wrapped in :class:`ClassCapped` (``max_per_class`` rows per class at most)."""
    def factory():
        model = make_model(algorithm, scheme, random_state=seed, n_jobs=n_jobs, **params)
        if max_per_class is None:
            return model
        return ClassCapped(model, max_per_class=max_per_class, random_state=seed)

    return factory


def outside_training_range(train: pd.DataFrame, real: pd.DataFrame, columns: Sequence[str],
                           quantiles: tuple[float, float] = (0.005, 0.995)) -> pd.DataFrame:
    """Which real rows lie outside the central range of the training rows, feature by feature.

    For each column, the training range is [q_low, q_high] of ``train[column]`` (finite values). Returns a
    boolean DataFrame (one column per feature, plus ``any``) aligned with ``real``: True where the real
    value is outside that range, i.e. where a model trained on ``train`` extrapolates.
    """
    out = {}
    for c in columns:
        t = train[c].to_numpy(float)
        t = t[np.isfinite(t)]
        if t.size == 0:
            raise ValueError(f"training column {c!r} has no finite values")
        lo, hi = np.quantile(t, quantiles)
        v = real[c].to_numpy(float)
        out[c] = (v < lo) | (v > hi)
    df = pd.DataFrame(out, index=real.index)
    df["any"] = df.any(axis=1)
    return df


def recall_by_bins(p_signal, mask, values, bins: Sequence[float], threshold: float = 0.5,
                   confidence: float = CONFIDENCE, name: str = "bin") -> pd.DataFrame:
    """:func:`recall_check` in bins of ``values`` (e.g. log M* [dex] or r [mag]) for the rows in ``mask``.

    One row per bin ``[lo, hi)``: ``name`` (the interval as text), n, k, recall, recall_low, recall_high.
    """
    v = np.asarray(values, dtype=float)
    mask = np.asarray(mask, bool)
    out = []
    for lo, hi in zip(bins[:-1], bins[1:], strict=True):
        m = mask & (v >= lo) & (v < hi)
        out.append({name: f"[{lo:g}, {hi:g})", **recall_check(p_signal, m, threshold, confidence)})
    return pd.DataFrame(out)


def interval_verdict(low: float, high: float, reference: float) -> str:
    """'below', 'above' or 'consistent with': where an interval [low, high] lies relative to ``reference``."""
    if high < reference:
        return "below"
    if low > reference:
        return "above"
    return "consistent with"


def intervals_overlap(a: Mapping, b: Mapping, key: str = "recall") -> bool:
    """Whether the ``key`` intervals (``{key}_low``, ``{key}_high``) of two score dicts overlap."""
    return not (a[f"{key}_high"] < b[f"{key}_low"] or b[f"{key}_high"] < a[f"{key}_low"])
