"""The fit of the satellite model (:mod:`dwarflib.sky.satellites`) on the calibration half of SAGA DR3, and its
checks against the verification half of SAGA and against ELVES (issue #13).

A module of its own because it reads the comparison samples (:mod:`dwarflib.sky.samples`, which imports
the sky generator) while the generator imports :mod:`dwarflib.sky.satellites`.

* :func:`calibrate_satellites` -- fits :class:`~dwarflib.sky.satellites.SatelliteModel` on SAGA's
  calibration half only (``saga_frame("calibration")``; the velocities DVhost of the same rows) and writes
  ``dwarflib/data/satellite_calibration.json``.
* the simulated satellites these fits and checks use are a simulated SAGA survey
  (:func:`dwarflib.sky.samples.mock_saga_frame`): systems drawn with the sky's own code path around the
  hosts of one SAGA half at their distances, observed, selected like SAGA's satellites
  (:func:`dwarflib.sky.samples.saga_survey_selection`) and given SAGA's masses.
* :func:`satellite_comparison` -- N per host above the completeness mass, quantiles and a KS test of the
  projected radii, and the quenched fraction per log M* bin with Wilson intervals, simulated vs real;
  :func:`elves_early_type_fractions` -- ELVES's early-type fraction per bin (a morphological, not a
  star-formation, definition: compared with the simulated quiescent fraction as a check only).
"""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize, stats

from dwarflib.metrics import binomial_interval
from dwarflib.registry import load_elves_confirmed_csv, load_saga_hosts, load_saga_satellites
from dwarflib.selections import SAGA
from dwarflib.sky.generate import model_version
from dwarflib.sky.physics import SkyModel, distmod, load_sky_model, redshift_of_distmod
from dwarflib.sky.samples import (
    SAGA_HALVES,
    mock_satellite_survey,
    mock_survey_features,
    other_saga_half,
    saga_frame,
    saga_host_half,
    saga_survey_selection,
)
from dwarflib.sky.satellites import (
    CALIBRATION_FILE,
    SatelliteModel,
    draw_satellite_systems,
)

#: log M* above which SAGA's satellite counts are taken as complete [dex]: the Gold sample (M_r < -15.5) is
#: nearly complete (sum of nsat-G over nsat-Gc ~ 1.07) and its satellites lie at log M* > ~7.5.
LOGM_COMPLETE = 7.5
#: Lowest satellite mass simulated [dex]: the power law is extended from LOGM_COMPLETE down to it.
LOGM_MIN = 6.0
#: Redshift limit of the simulated hosts (a parameter of the project, not of SAGA).
HOST_Z_MAX = 0.03
#: SAGA's Gold+Silver absolute-magnitude limit M_r,o [mag] (Mao et al. 2024), the limit of nsat-GS.
M_R_SILVER = -12.3
#: Simulated systems per calibration host used to fit ``slope_low``.
N_REAL_FIT = 200
#: Probabilities at which the calibration R_HOST quantiles are stored.
N_RADIAL_QUANTILES = 21
#: Stellar-mass bins of the checks [dex].
CHECK_BINS = ((6.0, 7.0), (7.0, 8.0), (8.0, 9.0))
#: log M* bin edges [dex] of the fit of the star-forming satellites' g-r offset (medians per bin).
GR_FIT_EDGES = (6.5, 7.0, 7.5, 8.0, 8.5, 9.0, 9.5)
#: Mass nodes [dex] of the g-r offset (linear between them, flat outside).
GR_SF_M_NODES = (7.0, 9.0)
#: Iterations of the g-r offset fit (each re-draws the satellites with the current offset, so that the
#: r < 20.75 selection of the redder, fainter satellites is forward-modelled).
GR_FIT_ITERATIONS = 3


def saga_half_rows(half: str = "calibration") -> tuple[pd.DataFrame, np.ndarray]:
    """One half of SAGA (saga_frame; the calibration half unless a diagnostic asks for the other) and the
    DVhost [km/s] of the same satellites."""
    cal = saga_frame(half)
    t = load_saga_satellites()
    dv = np.asarray(t["DVhost"], float)[saga_host_half(t["HOSTID"]) == SAGA_HALVES.index(half)]
    if len(dv) != len(cal):
        raise RuntimeError(f"SAGA {half} half: {len(cal)} satellites in saga_frame but {len(dv)} DVhost")
    return cal, dv


def fit_linear_fraction(logm, flag, lo: float, hi: float, seen=None) -> tuple[float, float]:
    """Binomial maximum-likelihood fit of an intrinsic fraction linear in log M*: f(lo), f(hi) (clipped to
    [0.001, 0.999]). ``seen`` (optional): function log M* -> (S_flagged, S_other), the probabilities that a
    flagged / other object of that mass is in the sample; the observed fraction is then
    f S_flagged / (f S_flagged + (1 - f) S_other) (the selection forward-modelled)."""
    logm, flag = np.asarray(logm, float), np.asarray(flag, bool)
    x = (logm - lo) / (hi - lo)
    s_f, s_o = seen(logm) if seen is not None else (1.0, 1.0)

    def nll(p):
        f = np.clip(p[0] + (p[1] - p[0]) * x, 1e-3, 1 - 1e-3)
        f = f * s_f / (f * s_f + (1 - f) * s_o)
        return -np.sum(np.where(flag, np.log(f), np.log1p(-f)))

    m = flag.mean()
    res = optimize.minimize(nll, [m, m], method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-9})
    return tuple(float(np.clip(v, 1e-3, 1 - 1e-3)) for v in res.x)


def fit_truncated_slope(logm, lo: float, hi: float) -> float:
    """Maximum-likelihood slope b [per dex] of dN/dlog M* proportional to 10**(-b log M*) on [lo, hi] [dex]
    (the exponential truncated at ``hi``, as the satellite model draws it; the untruncated estimate
    1 / (ln 10 mean(log M* - lo)) is biased steep: 0.51 instead of 0.41 on SAGA's calibration half, which
    put too many simulated satellites at 7.5-8 and too few at 8.5-9, issue #13)."""
    x = np.asarray(logm, float) - lo
    if x.size == 0 or np.any(x < 0) or np.any(x > hi - lo):
        raise ValueError(f"fit_truncated_slope: need log M* in [{lo}, {hi}], got {x.size} values")
    w = hi - lo

    def nll(b):
        lam = b * np.log(10)
        return -(x.size * np.log(lam / -np.expm1(-lam * w)) - lam * x.sum())

    return float(optimize.minimize_scalar(nll, bounds=(1e-3, 5.0), method="bounded",
                                          options={"xatol": 1e-7}).x)


def saga_selection(sat: SatelliteModel, host_distmod, model: SkyModel, seed: int = 0, width: float = 0.25):
    """Function log M* -> (S_Q, S_SF): the fraction of simulated quiescent / star-forming satellites around
    hosts at distance moduli ``host_distmod`` [mag] that SAGA would have as satellites
    (:func:`dwarflib.sky.samples.saga_survey_selection`: detected, SAGA's r < 20.75 and target cuts, the dwarf
    survey's redshift success; observed sweep rows of :func:`dwarflib.sky.samples.mock_satellite_survey`), in
    log M* bins of ``width`` [dex] (:data:`N_REAL_FIT` systems per host, half quiescent)."""
    mock = mock_satellite_survey(host_distmod, N_REAL_FIT, seed, model, replace(sat, fq_values=[0.5] * len(sat.fq_values)),
                                 r_limit=SAGA.r_max, keep_all=True)
    kept = saga_survey_selection(mock, seed)
    edges = np.arange(sat.logm_min, sat.logm_max + width, width)
    frac = []
    for pop in (1, 0):
        p = mock["POP"] == pop
        n_all = np.histogram(mock["LOGMSTAR"][p], edges)[0]
        n_kept = np.histogram(mock["LOGMSTAR"][p & kept], edges)[0]
        frac.append(np.where(n_all > 0, n_kept / np.maximum(n_all, 1), 1.0))

    def seen(logm):
        i = np.clip(np.searchsorted(edges, logm, side="right") - 1, 0, len(edges) - 2)
        return np.maximum(frac[0][i], 1e-3), np.maximum(frac[1][i], 1e-3)

    return seen


def fit_slope_low(sat: SatelliteModel, host_z, target: float, model: SkyModel, seed: int = 0) -> float:
    """The mass-function slope below ``logm_complete`` for which the simulated number of satellites per host
    with M_r < :data:`M_R_SILVER` equals ``target`` (hosts at ``host_z``, :data:`N_REAL_FIT` systems each;
    the sky model's M/L sets the magnitudes). Clipped to [0, slope]."""
    rng = np.random.default_rng([seed, 131])
    hz = np.repeat(np.asarray(host_z, float), N_REAL_FIT)
    s = draw_satellite_systems(rng, hz, model, replace(sat, slope_low=sat.slope))  # unthinned
    bright = s["R_TRUE"] - distmod(hz[s["HOST"]]) < M_R_SILVER
    m = s["LOGMSTAR"][bright]

    def excess(bl):
        return float(np.sum(replace(sat, slope_low=bl).keep_probability(m)) / len(hz) - target)

    if excess(0.0) >= 0:
        return 0.0
    if excess(sat.slope) <= 0:
        return float(sat.slope)
    return float(optimize.brentq(excess, 0.0, sat.slope, xtol=1e-4))


def fit_gr_offsets(sat: SatelliteModel, cal: pd.DataFrame, model: SkyModel, seed: int = 0,
                   n_real: int = 40) -> dict[str, list[float]]:
    """The g-r offsets [mag] of star-forming and of quiescent satellites at the nodes :data:`GR_SF_M_NODES`.

    For each population: medians of g-r of SAGA's star-forming (not ``QUENCHED``), respectively quenched,
    satellites of ``cal`` (calibration half) per log M* bin :data:`GR_FIT_EDGES` minus those of a simulated
    SAGA survey of the same hosts (``n_real`` systems each; :func:`dwarflib.sky.samples.mock_survey_features`:
    observed, selected like SAGA's satellites, binned in the masses SAGA would list), star-forming, respectively
    quiescent, fitted linear in log M* between the nodes (least squares weighted by the real counts per bin);
    :data:`GR_FIT_ITERATIONS` re-draws with the current offsets. Returns ``{"gr_sf_offset": [...],
    "gr_q_offset": [...]}`` (medians in mag)."""
    m = cal["LOGMSTAR"].to_numpy(float)
    quenched = cal["QUENCHED"].to_numpy(bool)
    gr_all = cal["gr"].to_numpy(float)
    edges = np.asarray(GR_FIT_EDGES)
    n_bins = len(edges) - 1
    centres = 0.5 * (edges[1:] + edges[:-1])
    nodes = np.asarray(GR_SF_M_NODES, float)
    basis = np.stack([np.interp(centres, nodes, np.eye(len(nodes))[k]) for k in range(len(nodes))], axis=1)

    def medians(logm, gr):
        b = np.digitize(logm, edges) - 1
        return (np.array([np.nanmedian(gr[b == i]) if np.any(b == i) else np.nan for i in range(n_bins)]),
                np.array([np.sum(b == i) for i in range(n_bins)], float))

    real = {pop: medians(m[rows], gr_all[rows]) for pop, rows in ((0, ~quenched), (1, quenched))}
    hosts = sorted(set(cal["HOSTID"]))
    offsets = {0: np.zeros(len(nodes)), 1: np.zeros(len(nodes))}
    for _ in range(GR_FIT_ITERATIONS):
        trial = replace(sat, gr_sf_m_nodes=nodes.tolist(), gr_sf_offset=offsets[0].tolist(),
                        gr_q_offset=offsets[1].tolist())
        ft, _ = mock_survey_features("SAGA", hosts, n_real, seed, model, trial)  # the same draw every iteration
        pop_sim = ft.flags["POP"].to_numpy()
        for pop in (0, 1):
            rows = pop_sim == pop
            med_sim, _ = medians(ft.logmstar[rows], ft.features["g_r"].to_numpy(float)[rows])
            med_real, w = real[pop]
            ok = np.isfinite(med_real) & np.isfinite(med_sim) & (w > 0)
            sw = np.sqrt(w[ok])
            step = np.linalg.lstsq(basis[ok] * sw[:, None], (med_real - med_sim)[ok] * sw, rcond=None)[0]
            offsets[pop] = offsets[pop] + step
    return {"gr_sf_offset": [round(float(v), 4) for v in offsets[0]],
            "gr_q_offset": [round(float(v), 4) for v in offsets[1]]}


def fit_n_above_complete(sat: SatelliteModel, cal: pd.DataFrame, model: SkyModel, seed: int = 0,
                         n_real: int = 40) -> float:
    """The intrinsic number of satellites per host above ``logm_complete`` for which a simulated SAGA survey of
    the calibration hosts (``n_real`` systems each; :func:`dwarflib.sky.samples.mock_survey_features`:
    observed, selected like SAGA's satellites, in the masses SAGA would list) holds as many satellites above
    ``logm_complete`` per host as SAGA's calibration half (the starting value, SAGA's count times its Gold
    completeness correction, is rescaled by the ratio of the counts; :data:`GR_FIT_ITERATIONS` re-draws)."""
    m = cal["LOGMSTAR"].to_numpy(float)
    hosts = sorted(set(cal["HOSTID"]))
    real = float((m >= sat.logm_complete).sum()) / len(hosts)
    n_above = sat.n_above_complete
    for _ in range(GR_FIT_ITERATIONS):
        ft, _ = mock_survey_features("SAGA", hosts, n_real, seed, model, replace(sat, n_above_complete=n_above))
        sim = float((ft.logmstar >= sat.logm_complete).sum()) / (len(hosts) * n_real)
        n_above *= real / sim
    return round(float(n_above), 4)


def fit_satellite_model(cal: pd.DataFrame, dv_kms, hosts, model: SkyModel | None = None,
                        half: str = "calibration") -> SatelliteModel:
    """:class:`SatelliteModel` from SAGA satellites of the calibration half ``cal`` (a ``saga_frame`` with
    HALF 0 only), their DVhost [km/s] and the SAGA host table (C1: host mass range, Gold completeness, the
    incompleteness-corrected Gold+Silver counts nsat-GS and the distance moduli DistMod of the calibration
    hosts); ``model``: the sky model whose M/L converts masses to M_r (default: the calibrated one).

    ``half``: the half ``cal`` must come from; the sky is fitted on the calibration half, and only a
    diagnostic that swaps the halves (``benchmarks/parity_calibration_noise.py --fit-half verification``)
    fits the other. Raises ValueError when ``cal`` holds rows of another half.
    """
    other = other_saga_half(half)
    if (cal["HALF"] != SAGA_HALVES.index(half)).any():  # before anything else reads it
        raise ValueError(f"fit_satellite_model: the SAGA frame holds {other}-half rows "
                         f"(HALF != {SAGA_HALVES.index(half)}); fit on saga_frame({half!r}) only")
    host_ids = np.char.strip(np.asarray(hosts["HOSTID"]).astype(str))
    cal_hosts = sorted(set(cal["HOSTID"]))
    in_cal = np.isin(host_ids, cal_hosts)
    gold_corr = float(np.sum(hosts["nsat-G"][in_cal]) / np.sum(hosts["nsat-Gc"][in_cal]))
    m = cal["LOGMSTAR"].to_numpy(float)
    above = m[m >= LOGM_COMPLETE]
    logm_max = float(np.ceil(m.max() * 10) / 10)
    slope = fit_truncated_slope(above, LOGM_COMPLETE, logm_max)
    r = cal["R_HOST"].to_numpy(float)
    r_max = 300.0
    if np.any(r > r_max):
        raise ValueError(f"SAGA R_HOST above {r_max} kpc: {np.sort(r[r > r_max])[:5]}")
    q = np.quantile(r, np.linspace(0, 1, N_RADIAL_QUANTILES))
    keep = (m >= LOGM_MIN) & (m <= logm_max)
    hl = np.asarray(hosts["log(M*)"], float)
    sat = SatelliteModel(
        host_logm_min=float(hl.min()), host_logm_max=float(hl.max()), host_z_max=HOST_Z_MAX,
        logm_complete=LOGM_COMPLETE, n_above_complete=float(len(above) / len(cal_hosts) * gold_corr),
        slope=slope, slope_low=slope, logm_min=LOGM_MIN, logm_max=logm_max, r_max_kpc=r_max,
        r_quantiles_kpc=[round(float(v), 3) for v in q], dv_sigma_kms=float(np.std(np.asarray(dv_kms, float))),
        dv_max_kms=275.0, fq_m_nodes=[LOGM_MIN, logm_max], fq_values=[0.5, 0.5],
        provenance={"source": f"SAGA DR3 (Mao et al. 2024) tables C1, C3; {half} half of the hosts "
                              "(dwarflib.sky.samples.saga_host_half)",
                    "n_hosts": len(cal_hosts), "n_satellites": len(cal), "n_above_complete_raw": len(above),
                    "gold_completeness_correction": round(gold_corr, 4),
                    "host_mass_range": "log M* of all 101 SAGA hosts (host definition)",
                    "dv_max_kms": "SAGA's satellite velocity window", "r_max_kpc": "SAGA's 300 kpc"})
    target = float(np.mean(np.asarray(hosts["nsat-GS"], float)[in_cal]))
    model = load_sky_model() if model is None else model
    host_dm = np.asarray(hosts["DistMod"], float)[in_cal]
    host_z = redshift_of_distmod(host_dm)  # at SAGA's distances, as the real satellites' magnitudes are
    # the colour offsets first (medians per population: independent of the quenched fraction), then the
    # quenched fraction with the offsets' fainter, redder satellites in SAGA's selection
    sat = replace(sat, gr_sf_m_nodes=list(GR_SF_M_NODES), **fit_gr_offsets(sat, cal, model))
    seen = saga_selection(sat, host_dm, model)
    f_lo, f_hi = fit_linear_fraction(m[keep], cal["QUENCHED"].to_numpy(bool)[keep], LOGM_MIN, logm_max, seen)
    sat = replace(sat, fq_values=[round(f_lo, 4), round(f_hi, 4)])
    sat = replace(sat, n_above_complete=fit_n_above_complete(sat, cal, model))
    slope_low = fit_slope_low(sat, host_z, target, model)
    return replace(sat, slope_low=round(slope_low, 4),
                   provenance={**sat.provenance, "nsat_GS_per_host": round(target, 4),
                               "slope_low": f"simulated N(M_r < {M_R_SILVER}) per calibration host = nsat_GS_per_host "
                                            f"({N_REAL_FIT} systems per host, the sky model's M/L)",
                               "n_above_complete": "intrinsic number per host above logm_complete for which a "
                                                   "simulated SAGA survey of the calibration hosts (SAGA's selection "
                                                   "and masses) holds the calibration half's count per host",
                               "fq": "intrinsic quiescent fraction linear in log M*, binomial fit to SAGA's quenched "
                                     "flag with SAGA's selection forward-modelled (samples.saga_survey_selection)",
                               "gr_sf_offset": "median g-r of SAGA's star-forming satellites minus those of a simulated "
                                               "SAGA survey of the same hosts (observed, SAGA's selection, SAGA's "
                                               "masses) per log M* bin, linear between the nodes",
                               "gr_q_offset": "the same for SAGA's quenched satellites and the simulated "
                                              "quiescent ones",
                               "sky_model_version": model_version(model)})


def calibrate_satellites(path=None) -> SatelliteModel:
    """Fit the satellite model on SAGA's calibration half and write it (default: the package data file
    ``dwarflib/data/satellite_calibration.json``); returns the model."""
    cal, dv = saga_half_rows()
    sat = fit_satellite_model(cal, dv, load_saga_hosts())
    if path is None:
        path = Path(str(resources.files("dwarflib") / "data" / CALIBRATION_FILE))
    Path(path).write_text(json.dumps(sat.to_dict(), indent=1) + "\n")
    return sat


# ---------------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------------
def quenched_fractions(df: pd.DataFrame, flag: str = "QUENCHED", bins=CHECK_BINS) -> pd.DataFrame:
    """Fraction of rows with ``flag`` per log M* bin with its Wilson 95 % interval."""
    rows = []
    for lo, hi in bins:
        sel = (df["LOGMSTAR"] >= lo) & (df["LOGMSTAR"] < hi)
        n, k = int(sel.sum()), int(df.loc[sel, flag].astype(bool).sum())
        low, high = binomial_interval(k, n)
        rows.append({"bin": f"{lo:g}-{hi:g}", "n": n, "k": k, "fraction": k / n if n else np.nan,
                     "low": low, "high": high})
    return pd.DataFrame(rows)


def quenched_fraction_halves(bins) -> pd.DataFrame:
    """Quenched fractions of SAGA's two halves per log M* bin (:func:`quenched_fractions` of each) and Fisher's
    exact test of their difference: one row per bin with ``bin``, ``k_calibration``, ``n_calibration``,
    ``k_verification``, ``n_verification`` and ``p_value`` (NaN for a bin empty in either half)."""
    cal, ver = (quenched_fractions(saga_frame(h), bins=bins) for h in SAGA_HALVES)
    p = [stats.fisher_exact([[c.k, c.n - c.k], [v.k, v.n - v.k]]).pvalue if c.n and v.n else np.nan
         for c, v in zip(cal.itertuples(), ver.itertuples(), strict=True)]
    return pd.DataFrame({"bin": cal["bin"], "k_calibration": cal["k"], "n_calibration": cal["n"],
                         "k_verification": ver["k"], "n_verification": ver["n"], "p_value": p})


def satellite_comparison(sim: pd.DataFrame, real: pd.DataFrame, n_hosts_sim: int, n_hosts_real: int,
                         logm_complete: float = LOGM_COMPLETE) -> dict:
    """Simulated vs real satellites (frames with LOGMSTAR, R_HOST [kpc], QUENCHED):

    ``n_per_host`` (satellites with log M* >= ``logm_complete`` per host; the real one with its Poisson 95 %
    interval), ``radial`` (R_HOST quantiles 10/25/50/75/90 % and the two-sample KS p-value) and
    ``quenched`` (per-bin fractions with Wilson intervals, side by side)."""
    k_sim = int((sim["LOGMSTAR"] >= logm_complete).sum())
    k_real = int((real["LOGMSTAR"] >= logm_complete).sum())
    lo, hi = stats.chi2.ppf([0.025, 0.975], [2 * k_real, 2 * k_real + 2]) / 2
    probs = [0.1, 0.25, 0.5, 0.75, 0.9]
    q = pd.DataFrame({"quantile": probs, "simulated": np.quantile(sim["R_HOST"], probs),
                      "real": np.quantile(real["R_HOST"], probs)})
    fq = quenched_fractions(sim).merge(quenched_fractions(real), on="bin", suffixes=("_sim", "_real"))
    return {"n_per_host": {"simulated": k_sim / n_hosts_sim, "real": k_real / n_hosts_real,
                           "real_low": lo / n_hosts_real, "real_high": hi / n_hosts_real},
            "radial": q, "radial_ks_p": float(stats.ks_2samp(sim["R_HOST"], real["R_HOST"]).pvalue),
            "quenched": fq}


def elves_early_type_fractions(bins=CHECK_BINS) -> pd.DataFrame:
    """ELVES confirmed satellites (Carlsten et al. 2022 compiled CSV): early-type fraction (``ETG?``) per
    log M* bin with Wilson 95 % intervals (real data; a morphological definition)."""
    t = load_elves_confirmed_csv()
    df = pd.DataFrame({"LOGMSTAR": np.asarray(t["lgM_star"], float),
                       "ETG": np.asarray(t["ETG?"]).astype(float) > 0})
    return quenched_fractions(df, flag="ETG", bins=bins)
