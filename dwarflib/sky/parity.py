"""Difficulty parity (issue #13): is the simulated sky exactly as hard to classify as the real one?

Medians of colours and sizes can match while a classifier still finds the simulation easier (or harder) than
the real sky, and that breaks the transfer to real data. Wherever real labels exist, the same task is run on
both skies and the simulated difficulty must fall inside the real measurement's interval:

* :func:`edr_colour_parity` -- colours-only binary classification of BGS-like galaxies (r < 19.5,
  z > 0.0104; r, g-r, r-z, z-W1, W1-W2 [mag]; XGBoost, 5-fold stratified, pooled out-of-fold scores).
  Average precision (AP) and recall at a false-positive rate of :data:`~dwarflib.metrics.REFERENCE_FPR`
  on real DESI EDR, with stratified bootstrap 95 % intervals, against the same task on :data:`EDR_DRAWS`
  subsamples at EDR's signal and other counts of a simulated BGS-like pool drawn with the sky's models
  (:func:`simulated_bgs_pool`).
* :func:`satellite_recall_parity` -- the restricted-feature model of chapter 08 applied to real SAGA
  (or ELVES) satellites and to simulated satellites of **the same hosts**: :data:`MOCK_SYSTEMS_PER_HOST`
  satellite systems drawn around each real host at its tabulated distance with the sky's own sky and
  satellite models (:func:`mock_survey_features`), given the mass the real table would list for them
  (:func:`dwarflib.stellar_mass.logmstar_of_table`), selected like the real rows (6 <= log M* < 9 in that
  mass system, SAGA's r limit) and matched to each real satellite in (log M*, r) within its host. Recall per
  log M* bin and per r bin at a threshold set for a stated simulated precision, with Wilson intervals; a bin
  passes when Newcombe's interval of the real-minus-simulated difference contains 0.

  Why a mock and not the sky's own satellites: a sky of 2 million sources holds few satellites at SAGA's
  distances (25-41 Mpc), so nearest neighbours in (z, log M*, r) are fainter than the real satellites they
  stand for (by 0.3-0.6 mag at r < 16 and at log M* 7-8 on the default sky of version 8), and fainter dwarfs are easier to recall. Why the
  table's mass system: a real table's 6 <= log M* < 9 is a selection in its own masses, which differ from the
  sky's (PROVABGS-like) by 0.05-0.19 dex.

* :func:`population_recall_parity` -- the same comparison for SAGA's star-forming and quenched satellites
  apart, each matched to simulated satellites of its own population: information that separates a different
  quenched fraction (which the sky takes from the calibration half) from a different difficulty at a fixed
  population. :func:`criterion_rows` keeps the rows the verdicts are made on.

:func:`parity_summary` turns the EDR table into pass/fail rows; :func:`parity_report_rows` formats both
tables as rows of :func:`dwarflib.sky.diagnostics.realism_report`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from dwarflib import registry
from dwarflib import verification as V
from dwarflib.evaluation import BINARY, cross_validate_signal
from dwarflib.labels import DEFAULT_SCHEME, SIGNAL
from dwarflib.metrics import (
    CONFIDENCE,
    REFERENCE_FPR,
    binomial_interval,
    difference_interval,
    metrics_at_prevalence,
)
from dwarflib.models import make_model
from dwarflib.selections import SAGA
from dwarflib.sky.generate import model_version, training_sample_path
from dwarflib.sky.physics import SkyModel, load_sky_model
from dwarflib.sky.samples import (
    MOCK_SYSTEMS_PER_HOST,
    SAGA_HALVES,
    bgs_sample,
    edr_frame,
    mock_bgs_frame,
    mock_survey_features,
    other_saga_half,
    saga_host_half,
    survey_host_keys,
)
from dwarflib.sky.satellites import SatelliteModel, load_satellite_model
from dwarflib.training_sample import load_labelled_table
from dwarflib.verification import FeatureTable

#: Features of the colours-only parity task (columns of the colour frames of :mod:`dwarflib.sky.samples`).
PARITY_FEATURES: tuple[str, ...] = ("r", "gr", "rz", "zw1", "w1w2")
#: The two threshold-free difficulty measures of the EDR task.
PARITY_METRICS: tuple[str, ...] = ("average_precision", "recall_at_fpr")
#: Simulated precision (held-out simulated training sample, its own class mix) at which the satellite recall
#: parity sets its threshold. The restricted 6-feature models of chapter 08 reach only about 0.1 there at the
#: book's threshold p_signal >= 0.5 (recall ~0.3), and higher precisions leave < 30 simulated signal selected.
PARITY_PRECISION = 0.1
#: Draws at EDR's counts of the simulated side of the EDR task: with 5, the verdict of the "half of the draws
#: inside" rule moved from one set of draws to the next on the same sky.
EDR_DRAWS = 20
#: Sources brighter than r = 19.9 [mag] of the EDR task's simulated pool (:func:`simulated_bgs_pool`): about
#: 2.2 million BGS-like targets with about 3,300 signal galaxies, 30 times EDR's 105. Drawn in chunks of
#: EDR_POOL_CHUNK sources (memory), on the random stream EDR_POOL_STREAM of the sky's seed.
EDR_POOL_SOURCES = 5_000_000
EDR_POOL_CHUNK = 500_000
EDR_POOL_STREAM = 7
#: log M* [dex] and r [mag] bins of the satellite recall parity.
PARITY_LOGM_BINS: tuple[float, ...] = (6.0, 7.0, 8.0, 9.0)
PARITY_R_BINS: tuple[float, ...] = (12.0, 16.0, 17.0, 18.0, 19.0, SAGA.r_max)  # up to SAGA's limit
#: Matching scales of (log M* [dex], r [mag]) for the nearest-neighbour match of simulated satellites of
#: the same host (hence the same distance and redshift up to the velocity dispersion).
MATCH_SCALES: tuple[float, float] = (0.25, 0.5)
#: Populations of the satellite parity's split (flag ``POP`` of both tables: SAGA's ``quenched`` flag, an
#: H-alpha / NUV criterion, for the real rows; the sky's quiescent population, whose fraction is fitted to
#: that flag, for the simulated ones). ``'all'`` marks the rows of the unsplit criterion.
POPULATIONS: dict[int, str] = {0: "star-forming", 1: "quenched"}


def _check_frame(df: pd.DataFrame, what: str, features: Sequence[str]) -> None:
    missing = [c for c in (*features, "CLASS") if c not in df.columns]
    if missing:
        raise KeyError(f"{what} lacks columns {missing} (needs {list(features)} and CLASS)")


def colour_task_scores(df: pd.DataFrame, features: Sequence[str] = PARITY_FEATURES, seed: int = 0,
                       n_splits: int = 5, n_boot: int = 0, reference_fpr: float = REFERENCE_FPR,
                       make_estimator: Callable | None = None, n_jobs: int = 1,
                       class_weight: str | None = "balanced") -> dict:
    """AP and recall at ``reference_fpr`` of the colours-only binary task on one labelled colour frame.

    Binary XGBoost (:func:`dwarflib.models.make_model`; ``class_weight`` 'balanced', the book's default, or
    None), ``n_splits``-fold
    stratified cross-validation with fold seed ``seed``, scores pooled out-of-fold. With ``n_boot > 0``
    the 95 % intervals are a percentile bootstrap stratified by class
    (:func:`dwarflib.metrics.metrics_at_prevalence` at the observed prevalence, i.e. unweighted).
    Returns ``average_precision[_low|_high]``, ``recall_at_fpr[_low|_high]``, ``n_signal``, ``n_other``.
    """
    _check_frame(df, "colour frame", features)
    y = np.asarray(df.CLASS, int)
    def factory_default():
        return make_model("xgboost", BINARY, random_state=seed, class_weight=class_weight)

    factory = make_estimator or factory_default
    res = cross_validate_signal(factory, df[list(features)].reset_index(drop=True), y, scheme=BINARY,
                                n_splits=n_splits, seed=seed, threshold=0.5, n_jobs=n_jobs)
    prev = float(np.mean(y == SIGNAL))
    m = metrics_at_prevalence(y, res.p_signal, 0.5, prev, cl=CONFIDENCE, n_boot=n_boot, seed=seed,
                              reference_fpr=reference_fpr).iloc[0]
    out = {k: float(m[k]) for k in ("average_precision", "average_precision_low", "average_precision_high",
                                    "recall_at_fpr", "recall_at_fpr_low", "recall_at_fpr_high")}
    out.update(n_signal=int(m.n_signal), n_other=int(m.n_other))
    return out


def subsample_at_counts(df: pd.DataFrame, n_signal: int, n_other: int, seed: int) -> pd.DataFrame:
    """``n_signal`` signal (CLASS 0) and ``n_other`` other rows of ``df`` drawn without replacement.

    Raises a ValueError naming the shortfall when ``df`` holds fewer of either.
    """
    sig = np.flatnonzero(np.asarray(df.CLASS) == SIGNAL)
    oth = np.flatnonzero(np.asarray(df.CLASS) != SIGNAL)
    if len(sig) < n_signal or len(oth) < n_other:
        raise ValueError(f"simulated sample has {len(sig)} signal and {len(oth)} other rows; "
                         f"{n_signal} and {n_other} requested")
    rng = np.random.default_rng(seed)
    idx = np.sort(np.concatenate([rng.choice(sig, n_signal, replace=False), rng.choice(oth, n_other, replace=False)]))
    return df.iloc[idx].reset_index(drop=True)


def colour_parity_table(real: pd.DataFrame, sim: pd.DataFrame, n_draws: int = 5, seed: int = 0,
                        n_boot: int = 1000, features: Sequence[str] = PARITY_FEATURES,
                        reference_fpr: float = REFERENCE_FPR, n_jobs: int = 1,
                        class_weight: str | None = "balanced") -> pd.DataFrame:
    """The colours-only task on a real and a simulated labelled colour frame (tidy, long form).

    The real frame is scored once with bootstrap intervals; the simulated frame ``n_draws`` times, each on a
    subsample at the real frame's signal and other counts (draw d uses seed ``seed + 1 + d`` for both the
    subsample and the folds). One row per (sample, draw, metric): ``sample`` ('real' or 'simulated'),
    ``draw`` (-1 for real), ``metric``, ``value``, ``low``, ``high`` (NaN for the draws), ``n_signal``,
    ``n_other``.
    """
    rows = []
    kw = dict(reference_fpr=reference_fpr, n_jobs=n_jobs, class_weight=class_weight)
    r = colour_task_scores(real, features, seed=seed, n_boot=n_boot, **kw)
    for met in PARITY_METRICS:
        rows.append({"sample": "real", "draw": -1, "metric": met, "value": r[met], "low": r[f"{met}_low"],
                     "high": r[f"{met}_high"], "n_signal": r["n_signal"], "n_other": r["n_other"]})
    for d in range(n_draws):
        sub = subsample_at_counts(sim, r["n_signal"], r["n_other"], seed + 1 + d)
        s = colour_task_scores(sub, features, seed=seed + 1 + d, n_boot=0, **kw)
        for met in PARITY_METRICS:
            rows.append({"sample": "simulated", "draw": d, "metric": met, "value": s[met], "low": np.nan,
                         "high": np.nan, "n_signal": s["n_signal"], "n_other": s["n_other"]})
    out = pd.DataFrame(rows)
    out.attrs["reference_fpr"] = reference_fpr
    return out


def parity_summary(tidy: pd.DataFrame, min_share: float = 0.5) -> pd.DataFrame:
    """Pass/fail of the colours-only parity from :func:`colour_parity_table`.

    One row per metric: ``real``, ``real_low``, ``real_high`` (bootstrap 95 %), ``sim_median``, ``sim_min``,
    ``sim_max`` over the draws, ``share_inside`` (fraction of draws inside the real interval), ``n_draws``
    and ``passed``: the median of the draws inside the real interval **and** at least ``min_share`` of the
    draws inside it.
    """
    rows = []
    for met in PARITY_METRICS:
        real = tidy[(tidy["sample"] == "real") & (tidy.metric == met)]
        sim = tidy[(tidy["sample"] == "simulated") & (tidy.metric == met)].value.to_numpy(float)
        if len(real) != 1 or not len(sim):
            raise ValueError(f"parity table needs one real row and >= 1 simulated draw of {met!r}")
        lo, hi, val = float(real.low.iloc[0]), float(real.high.iloc[0]), float(real.value.iloc[0])
        med = float(np.median(sim))
        inside = (sim >= lo) & (sim <= hi)
        rows.append({"metric": met, "real": val, "real_low": lo, "real_high": hi, "sim_median": med,
                     "sim_min": float(sim.min()), "sim_max": float(sim.max()), "sim_over_real": med / val if val else np.nan,
                     "share_inside": float(inside.mean()), "n_draws": len(sim),
                     "n_signal": int(real.n_signal.iloc[0]), "n_other": int(real.n_other.iloc[0]),
                     "passed": bool(lo <= med <= hi and inside.mean() >= min_share)})
    return pd.DataFrame(rows)


def simulated_bgs_pool(sky_dir, n_sources: int = EDR_POOL_SOURCES, chunk: int = EDR_POOL_CHUNK) -> pd.DataFrame:
    """The simulated side of the EDR task: BGS-like targets with r < 19.5 and z > 0.0104 (:func:`bgs_sample`)
    of a forward-modelled sky of ``n_sources`` sources brighter than r = 19.9 [mag], drawn with the models the
    sky ``sky_dir`` was made with (:func:`sky_models`; its satellite systems included), in chunks of ``chunk``
    sources (:func:`dwarflib.sky.samples.mock_bgs_frame`), seeded by the sky's seed: other skies, other pools.

    A colour frame with CLASS. Why not the sky's own rows: a sky of two million sources holds about 370
    BGS-like signal galaxies, so draws at EDR's 105 share most of them and carry that pool's sampling noise,
    which the criterion does not count.
    """
    model, sat = sky_models(sky_dir)
    sky_seed = int(sky_summary(sky_dir)["seed"])
    parts = [bgs_sample(mock_bgs_frame(model, min(chunk, n_sources - start), (sky_seed, EDR_POOL_STREAM, i), sat))
             for i, start in enumerate(range(0, n_sources, chunk))]
    return pd.concat(parts, ignore_index=True)


def edr_colour_parity(sky_dir, n_draws: int = EDR_DRAWS, seed: int = 0, n_boot: int = 1000,
                      edr: pd.DataFrame | None = None, n_jobs: int = 1,
                      class_weight: str | None = "balanced", pool: pd.DataFrame | None = None) -> pd.DataFrame:
    """Criterion 4a of the realism report: the EDR colours-only task, real DESI EDR vs the simulated sky.

    Real: :func:`dwarflib.sky.samples.edr_frame` (r < 19.5, z > 0.0104). Simulated: ``pool`` (default
    :func:`simulated_bgs_pool` of ``sky_dir``: BGS-like targets drawn with the sky's models, about 30 times
    EDR's signal galaxies), subsampled ``n_draws`` times to EDR's counts, so that the median of the draws
    measures the sky's difficulty rather than the few signal galaxies of one pool. Returns the tidy table of
    :func:`colour_parity_table`, with ``attrs["n_sim_signal"]`` (the simulated signal galaxies drawn from);
    :func:`parity_summary` gives the verdict.
    """
    edr = edr_frame() if edr is None else edr
    sim = simulated_bgs_pool(sky_dir) if pool is None else pool
    out = colour_parity_table(edr, sim, n_draws=n_draws, seed=seed, n_boot=n_boot, n_jobs=n_jobs,
                              class_weight=class_weight)
    out.attrs["n_sim_signal"] = int((sim.CLASS == SIGNAL).sum())
    return out


# ---------------------------------------------------------------------------------------------------
# SAGA / ELVES: recall of real satellites vs simulated satellites of the same hosts
# ---------------------------------------------------------------------------------------------------
def match_nearest(real: pd.DataFrame, sim: pd.DataFrame, columns: Sequence[str] = ("logmstar", "r"),
                  scales: Sequence[float] = MATCH_SCALES, k: int = 5) -> np.ndarray:
    """Indices into ``sim`` of the ``k`` nearest neighbours of each ``real`` row in scaled ``columns``.

    Distances are Euclidean in ``column / scale``. Returns an (n_real, k) int array; rows of ``real``
    with a non-finite coordinate are an error (filter them with a reason first).
    """
    a = real[list(columns)].to_numpy(float) / np.asarray(scales, float)
    b = sim[list(columns)].to_numpy(float) / np.asarray(scales, float)
    if not np.isfinite(a).all():
        bad = np.flatnonzero(~np.isfinite(a).all(axis=1))
        raise ValueError(f"real rows {bad[:10].tolist()} have non-finite {list(columns)}")
    good = np.flatnonzero(np.isfinite(b).all(axis=1))
    if len(good) < k:
        raise ValueError(f"only {len(good)} simulated rows with finite {list(columns)}; {k} neighbours requested")
    _, j = cKDTree(b[good]).query(a, k=k)
    return good[np.asarray(j).reshape(len(a), k)]


def match_within_hosts(real: pd.DataFrame, real_host, sim: pd.DataFrame, sim_host, k: int = 5,
                       columns: Sequence[str] = ("logmstar", "r"),
                       scales: Sequence[float] = MATCH_SCALES) -> np.ndarray:
    """:func:`match_nearest` restricted to the simulated rows of each real row's own host.

    ``real_host`` and ``sim_host`` are host keys per row (same key = same host, hence the same distance).
    Returns an (n_real, k) array of indices into ``sim``; a real host with fewer than ``k`` simulated rows
    is an error naming it.
    """
    real_host, sim_host = np.asarray(real_host), np.asarray(sim_host)
    out = np.empty((len(real), k), np.int64)
    for h in np.unique(real_host):
        ri, si = np.flatnonzero(real_host == h), np.flatnonzero(sim_host == h)
        if len(si) < k:
            raise ValueError(f"host {str(h)!r}: {len(si)} simulated satellites in the pool, {k} neighbours requested "
                             "(raise n_per_host)")
        out[ri] = si[match_nearest(real.iloc[ri], sim.iloc[si], columns, scales, k)]
    return out


def satellite_recall_parity(p_real, real: FeatureTable, real_mask, real_host, p_sim, sim: FeatureTable, sim_host,
                            threshold: float, sim_precision: float, k: int = 5,
                            logm_bins: Sequence[float] = PARITY_LOGM_BINS, r_bins: Sequence[float] = PARITY_R_BINS,
                            r_max: float | None = None, survey: str = "SAGA",
                            cl: float = CONFIDENCE) -> pd.DataFrame:
    """Recall of real satellites per log M* and r bin, against the same model on matched simulated satellites.

    ``p_real``/``p_sim`` are one model's signal scores on the real table (rows ``real_mask`` enter) and on
    simulated satellites ``sim`` (e.g. :func:`mock_survey_features`: systems around the same hosts, in the
    real table's mass system), with host keys ``real_host``/``sim_host`` per row. ``threshold`` is the
    decision threshold, set where the model reaches ``sim_precision`` on simulated objects it was not
    trained on (:func:`dwarflib.verification.train_restricted_check` with ``precision=``).

    The simulated pool is the rows of ``sim`` inside the signal definition in ``sim.logmstar`` (the real
    table's mass system: the same selection on both skies) and brighter than ``r_max`` [mag] (the real
    survey's limit; None: no cut). Each real row is matched to its ``k`` nearest pool rows of its own host
    in (log M*, r) (:func:`match_within_hosts`); a bin's simulated recall counts each matched row once and
    is binned by the real row it was matched to.

    One row per bin, and one ``binning`` 'all' row over every real row of the log M* range (the pooled
    recall): ``survey``, ``binning`` ('log M*', 'r' or 'all'), ``bin``, ``threshold``, ``sim_precision``,
    ``n_real``, ``k_real`` (selected), ``k_sim``, ``recall_real[_low|_high]``, ``n_sim``, ``recall_sim[_low|_high]`` (Wilson, ``cl``),
    ``difference[_low|_high]`` (real minus simulated, Newcombe's interval, :func:`dwarflib.metrics.difference_interval`)
    and ``passed``: the difference interval contains 0 (None for a bin without real rows).
    """
    p_real, p_sim = np.asarray(p_real, float), np.asarray(p_sim, float)
    real_mask = np.asarray(real_mask, bool) & np.isfinite(p_real)
    nn = matched_twins(real, real_mask, real_host, sim, sim_host, r_max, k, np.isfinite(p_sim))
    p_rf = p_real[real_mask]
    rows = []
    for binning, label, in_bin in _bin_masks(_frame(real).loc[real_mask], logm_bins, r_bins):
        picked = np.unique(nn[in_bin].ravel())
        n_r, k_r = int(in_bin.sum()), int((p_rf[in_bin] >= threshold).sum())
        n_s, k_s = len(picked), int((p_sim[picked] >= threshold).sum())
        r_lo, r_hi = binomial_interval(k_r, n_r, cl)
        s_lo, s_hi = binomial_interval(k_s, n_s, cl)
        d, d_lo, d_hi = difference_interval(k_r, n_r, k_s, n_s, cl)
        rows.append({"survey": survey, "binning": binning, "bin": label, "threshold": threshold,
                     "sim_precision": sim_precision, "n_real": n_r, "k_real": k_r, "k_sim": k_s,
                     "recall_real": k_r / n_r if n_r else np.nan, "recall_real_low": r_lo,
                     "recall_real_high": r_hi, "n_sim": n_s, "recall_sim": k_s / n_s if n_s else np.nan,
                     "recall_sim_low": s_lo, "recall_sim_high": s_hi, "difference": d,
                     "difference_low": d_lo, "difference_high": d_hi,
                     "passed": bool(d_lo <= 0 <= d_hi) if n_r and n_s else None})
    return pd.DataFrame(rows)


def population_recall_parity(p_real, real: FeatureTable, real_mask, real_host, p_sim, sim: FeatureTable, sim_host,
                             threshold: float, sim_precision: float, k: int = 5,
                             logm_bins: Sequence[float] = PARITY_LOGM_BINS, survey: str = "SAGA",
                             cl: float = CONFIDENCE) -> pd.DataFrame:
    """:func:`satellite_recall_parity` of each population of :data:`POPULATIONS` alone: the real rows of one
    population (flag ``POP`` of ``real``) against twins of the same population (flag ``POP`` of ``sim``),
    matched in (log M*, r) within their host as before, per log M* bin and pooled ('all').

    The unsplit criterion compares a real half with simulated satellites of the sky's quenched fraction, which
    is fitted on the other half; this split separates a different mix of populations from a different
    difficulty at a fixed population. Information, not a verdict: the populations are not in the issue's
    criterion and their real counts are small. Returns the rows of :func:`satellite_recall_parity` (no r bins)
    with a ``population`` column (the names of :data:`POPULATIONS`) and ``k_twins``: the twins per real row,
    ``k`` or fewer where a host has fewer simulated satellites of that population (quenched ones are few); a
    host without any raises ValueError.
    """
    p_real, p_sim = np.asarray(p_real, float), np.asarray(p_sim, float)
    real_host, sim_host = np.asarray(real_host).astype(str), np.asarray(sim_host).astype(str)
    pop_real, pop_sim = real.flags["POP"].to_numpy(int), sim.flags["POP"].to_numpy(int)
    out = []
    for code, name in POPULATIONS.items():
        mask = np.asarray(real_mask, bool) & (pop_real == code) & np.isfinite(p_real)
        p_pop = np.where(pop_sim == code, p_sim, np.nan)
        pool = pd.Series(sim_host[twin_pool(sim, sim_ok=np.isfinite(p_pop))]).value_counts()
        have = pool.reindex(np.unique(real_host[mask]), fill_value=0)
        if len(have) and have.min() == 0:
            raise ValueError(f"{survey} host {have.idxmin()!r}: no simulated {name} satellite to match its {name} "
                             "satellites (raise n_per_host)")
        k_pop = int(min(k, have.min())) if len(have) else k
        tab = satellite_recall_parity(p_real, real, mask, real_host, p_pop, sim, sim_host, threshold, sim_precision,
                                      k=k_pop, logm_bins=logm_bins, r_bins=(), survey=survey, cl=cl)
        out.append(tab.assign(population=name, k_twins=k_pop))
    return pd.concat(out, ignore_index=True)


def criterion_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a parity table that enter its verdicts: those of every population together (all rows of a
    table without a ``population`` column)."""
    return table[table["population"].eq("all")] if "population" in table else table


def _bin_masks(frame: pd.DataFrame, logm_bins: Sequence[float], r_bins: Sequence[float]):
    """Yield (binning, bin label, row mask) over the log M* bins, the r bins and the pooled 'all' row (the
    whole log M* range) of a frame with ``logmstar`` and ``r`` (:func:`_frame`)."""
    all_bins = (logm_bins[0], logm_bins[-1])
    for binning, col, bins in (("log M*", "logmstar", logm_bins), ("r", "r", r_bins), ("all", "logmstar", all_bins)):
        v = frame[col].to_numpy(float)
        for lo, hi in zip(bins[:-1], bins[1:], strict=True):
            yield binning, f"[{lo:g}, {hi:g})", (v >= lo) & (v < hi)


def halves_recall_reference(p_ver, ver: FeatureTable, ver_mask, p_cal, cal: FeatureTable, cal_mask,
                            threshold: float, logm_bins: Sequence[float] = PARITY_LOGM_BINS,
                            r_bins: Sequence[float] = PARITY_R_BINS, cl: float = CONFIDENCE) -> pd.DataFrame:
    """A reference for the SAGA recall parity, real against real: one model's recall on SAGA's verification
    half and on its calibration half (the half the sky is fitted on), in the bins of
    :func:`satellite_recall_parity`. A simulation fitted on one half cannot be expected to match the other more
    closely than the two halves match each other.

    ``p_ver``/``p_cal``: the model's signal scores on the two tables (rows ``ver_mask``/``cal_mask`` enter);
    ``threshold`` its decision threshold. One row per bin: ``binning``, ``bin``, ``n_calibration``,
    ``k_calibration``, ``recall_calibration``, ``halves_difference`` (verification minus calibration) with
    Newcombe's interval ``halves_difference_low``/``_high`` at ``cl``, and ``halves_passed`` (it contains 0;
    None for a bin without rows in either half).
    """
    rows = []
    ver_mask = np.asarray(ver_mask, bool) & np.isfinite(np.asarray(p_ver, float))
    cal_mask = np.asarray(cal_mask, bool) & np.isfinite(np.asarray(p_cal, float))
    sel_v, sel_c = np.asarray(p_ver)[ver_mask] >= threshold, np.asarray(p_cal)[cal_mask] >= threshold
    bins_v = _bin_masks(_frame(ver).loc[ver_mask], logm_bins, r_bins)
    bins_c = _bin_masks(_frame(cal).loc[cal_mask], logm_bins, r_bins)
    for (binning, label, in_v), (_, _, in_c) in zip(bins_v, bins_c, strict=True):
        n_v, k_v, n_c, k_c = int(in_v.sum()), int(sel_v[in_v].sum()), int(in_c.sum()), int(sel_c[in_c].sum())
        d, lo, hi = difference_interval(k_v, n_v, k_c, n_c, cl)
        rows.append({"binning": binning, "bin": label, "n_calibration": n_c, "k_calibration": k_c,
                     "recall_calibration": k_c / n_c if n_c else np.nan, "halves_difference": d,
                     "halves_difference_low": lo, "halves_difference_high": hi,
                     "halves_passed": bool(lo <= 0 <= hi) if n_v and n_c else None})
    return pd.DataFrame(rows)


def simultaneous_verdict(table: pd.DataFrame, cl: float = CONFIDENCE) -> pd.DataFrame:
    """Whether every bin of a :func:`satellite_recall_parity` table passes at once, per survey.

    With many bins some fail by chance even on a perfect sky (at 95 % each, about one in twenty). Each
    survey's log M* and r bins with real and simulated rows (not the pooled 'all' row, nor the rows of one
    population alone, :func:`population_recall_parity`) are tested together
    with Bonferroni-adjusted Newcombe intervals at ``1 - (1 - cl) / n_bins``; one row per survey: ``n_bins``,
    ``n_failed_single`` (bins whose own ``cl`` interval excludes 0), ``confidence`` (the adjusted level),
    ``n_failed_simultaneous`` and ``passed`` (no bin's adjusted interval excludes 0).
    """
    rows = []
    table = criterion_rows(table)
    for survey, t in table[table.binning != "all"].groupby("survey", sort=False):
        t = t[(t.n_real > 0) & (t.n_sim > 0)]
        level = 1 - (1 - cl) / max(len(t), 1)
        failed = sum(not (lo <= 0 <= hi) for lo, hi in
                     (difference_interval(r.k_real, r.n_real, r.k_sim, r.n_sim, level)[1:] for r in t.itertuples()))
        rows.append({"survey": survey, "n_bins": len(t), "n_failed_single": int((~t.passed.astype(bool)).sum()),
                     "confidence": level, "n_failed_simultaneous": int(failed), "passed": failed == 0})
    return pd.DataFrame(rows)


def _frame(table: FeatureTable) -> pd.DataFrame:
    return pd.DataFrame({"z": table.z, "logmstar": table.logmstar, "r": table.features["r"].to_numpy(float)})


def matched_twins(real: FeatureTable, real_mask, real_host, sim: FeatureTable, sim_host, r_max: float | None = None,
                  k: int = 5, sim_ok=None) -> np.ndarray:
    """Indices into ``sim`` of the ``k`` simulated twins of each real row in ``real_mask``: its nearest pool rows
    of its own host in (log M*, r) (:func:`match_within_hosts`). The pool is the simulated rows inside the
    signal definition in ``sim.logmstar`` (the real table's mass system), usable, brighter than ``r_max`` [mag]
    (None: no cut) and, optionally, ``sim_ok``. Returns an (n_real_mask, k) int array."""
    real_mask = np.asarray(real_mask, bool)
    idx = np.flatnonzero(twin_pool(sim, r_max, sim_ok))
    return idx[match_within_hosts(_frame(real).loc[real_mask], np.asarray(real_host)[real_mask],
                                  _frame(sim).iloc[idx], np.asarray(sim_host)[idx], k=k)]


def twin_pool(sim: FeatureTable, r_max: float | None = None, sim_ok=None) -> np.ndarray:
    """The simulated rows :func:`matched_twins` matches among: inside the signal definition in ``sim.logmstar``,
    usable, brighter than ``r_max`` [mag] (None: no cut) and, optionally, ``sim_ok`` (boolean mask)."""
    pool = sim.in_signal() & sim.usable
    if sim_ok is not None:
        pool &= np.asarray(sim_ok, bool)
    if r_max is not None:
        pool &= _frame(sim)["r"].to_numpy(float) < r_max
    return pool


def two_sample_auc(a: pd.DataFrame, b: pd.DataFrame, columns: Sequence[str], seeds: Sequence[int] = (0, 1),
                   n_splits: int = 5, permute: bool = False) -> float:
    """Classifier two-sample test: how well a classifier tells the rows of ``a`` from those of ``b``.

    A shallow gradient-boosted classifier (:class:`sklearn.ensemble.HistGradientBoostingClassifier`, depth 3)
    scores every row out of fold (stratified ``n_splits``-fold); the ROC AUC of those scores, averaged over
    ``seeds``, is 0.5 when the two samples share one distribution of ``columns`` and rises towards 1 as they
    differ, in any feature or combination (medians that agree do not make it 0.5). ``permute``: the labels
    are shuffled first, which measures the AUC the test reaches by chance with these sample sizes (its null).
    """
    x = pd.concat([a[list(columns)], b[list(columns)]], ignore_index=True).to_numpy(float)
    y = np.r_[np.ones(len(a)), np.zeros(len(b))]
    aucs = []
    for seed in seeds:
        yy = np.random.default_rng([seed, 43]).permutation(y) if permute else y
        clf = HistGradientBoostingClassifier(max_depth=3, learning_rate=0.05, max_iter=150, random_state=seed)
        p = cross_val_predict(clf, x, yy, cv=StratifiedKFold(n_splits, shuffle=True, random_state=seed),
                              method="predict_proba")[:, 1]
        aucs.append(roc_auc_score(yy, p))
    return float(np.mean(aucs))


def published_decimals(values, max_decimals: int = 4, atol: float = 1e-6) -> int | None:
    """The number of decimals at which a real table publishes a column: the smallest ``d`` <= ``max_decimals``
    with every finite value within ``atol`` of a multiple of 10**-d (a difference of two published columns,
    such as ELVES's g - r, keeps their grid up to float noise); None for a continuous column."""
    x = np.asarray(values, float)
    x = x[np.isfinite(x)]
    for d in range(max_decimals + 1):
        if np.allclose(x, np.round(x, d), rtol=0, atol=atol):
            return d
    return None


def on_published_grid(real: pd.DataFrame, sim: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both samples rounded, column by column, to the decimals the real table publishes
    (:func:`published_decimals`; continuous columns are left alone). A two-sample classifier would otherwise tell
    real rows from simulated ones by their rounding alone: ELVES lists g - r to 0.01 mag, and on the unrounded
    twins its g - r alone reached an AUC of about 0.6 that a jitter of +-0.005 mag removed."""
    real, sim = real.copy(), sim.copy()
    for col in real.columns:
        d = published_decimals(real[col])
        if d is not None:
            real[col], sim[col] = np.round(real[col].to_numpy(float), d), np.round(sim[col].to_numpy(float), d)
    return real, sim


def satellite_two_sample_table(real: FeatureTable, real_mask, real_host, survey: str,
                               n_per_host: int = MOCK_SYSTEMS_PER_HOST, seed: int = 0,
                               model: SkyModel | None = None, sat: SatelliteModel | None = None) -> pd.DataFrame:
    """Classifier two-sample tests (:func:`two_sample_auc`) of a real survey's satellites (rows ``real_mask``)
    against their simulated twins: the nearest simulated satellite of the same host in (log M*, r)
    (:func:`matched_twins`, ``k = 1``) among ``n_per_host`` systems per host (:func:`mock_survey_features`,
    measured as the real table was). Matching in (log M*, r) makes the test ask whether the other features
    of a real satellite look like a simulated one's. Both samples are first put on the real table's published
    precision (:func:`on_published_grid`).

    One row per feature set (the table's features together, then each alone): ``survey``, ``features``,
    ``n_real``, ``auc`` and ``auc_null`` (the same with permuted labels). A matching feature alone (r) gives an
    AUC below 0.5: every real row has a twin of almost the same r, so out-of-fold scores separate them worse
    than chance.
    """
    real_mask = np.asarray(real_mask, bool)
    real_host = np.asarray(real_host).astype(str)
    sim, sim_host = mock_survey_features(survey, real_host[real_mask], n_per_host, seed, model, sat)
    twins = matched_twins(real, real_mask, real_host, sim, sim_host, k=1)  # selected like the real rows already
    a, b = on_published_grid(real.features[real_mask], sim.features.iloc[twins[:, 0]])
    columns = list(real.features.columns)
    rows = []
    for cols in (columns, *([c] for c in columns)):
        rows.append({"survey": survey, "features": " + ".join(cols), "n_real": int(real_mask.sum()),
                     "auc": two_sample_auc(a, b, cols), "auc_null": two_sample_auc(a, b, cols, permute=True)})
    return pd.DataFrame(rows)


def survey_recall_parity(check: V.RestrictedCheck, real: FeatureTable, real_mask, real_host, survey: str,
                         n_per_host: int = MOCK_SYSTEMS_PER_HOST, seed: int = 0, k: int = 5,
                         model: SkyModel | None = None, sat: SatelliteModel | None = None,
                         by_population: bool = False) -> pd.DataFrame:
    """:func:`satellite_recall_parity` of a restricted model ``check`` (trained with a stated simulated
    precision) on a real survey's satellites and on simulated satellites of the same hosts
    (:func:`mock_survey_features` for the hosts of the rows in ``real_mask``; it selects SAGA's rows like
    SAGA's satellites, r limit included; ELVES has no r limit). ``by_population``: also the rows of
    :func:`population_recall_parity` (``real`` needs a ``POP`` flag, as :func:`parity_real_rows` gives SAGA's),
    and a ``population`` column ('all' for the unsplit rows)."""
    real_mask = np.asarray(real_mask, bool)
    real_host = np.asarray(real_host).astype(str)
    sim, sim_host = mock_survey_features(survey, real_host[real_mask], n_per_host, seed, model, sat)
    if check.target_precision is None:
        raise ValueError("the check has no stated simulated precision (train it with precision=...)")
    p_real, p_sim = check.apply(real), check.apply(sim)
    kw = {"threshold": check.threshold, "sim_precision": check.sim_test["precision"], "k": k, "survey": survey}
    tab = satellite_recall_parity(p_real, real, real_mask, real_host, p_sim, sim, sim_host, **kw)
    if not by_population:
        return tab
    split = population_recall_parity(p_real, real, real_mask, real_host, p_sim, sim, sim_host, **kw)
    return pd.concat([tab.assign(population="all"), split], ignore_index=True)


def sky_summary(sky_dir) -> dict:
    """The ``summary.json`` of a simulated sky directory (seed, model versions, counts)."""
    return json.loads((Path(sky_dir) / "summary.json").read_text())


def sky_models(sky_dir) -> tuple[SkyModel, SatelliteModel]:
    """The sky and satellite models a simulated sky was made with, as its ``summary.json`` stores them: the sky
    model (checked against the summary's model version; a sky written before the summary stored it gets the
    package's model, checked the same way) and the satellite model (the package's when the sky has no
    environment)."""
    summary = sky_summary(sky_dir)
    model = SkyModel.from_dict(summary["model"]) if "model" in summary else load_sky_model()
    if summary.get("model_version") != model_version(model):
        raise ValueError(f"{sky_dir} was made with sky model {summary.get('model_version')}, the model at hand is "
                         f"{model_version(model)}: regenerate the sky")
    sat = summary.get("satellites", {}).get("model")
    return model, (SatelliteModel.from_dict(sat) if sat else load_satellite_model())


def satellite_parity(sky_dir=None, surveys: Sequence[str] = ("SAGA", "ELVES"), seed: int = 0,
                     target_precision: float = PARITY_PRECISION, k: int = 5, max_per_class: int | None = 5000,
                     n_estimators: int = 100, n_jobs: int = 1,
                     n_per_host: int = MOCK_SYSTEMS_PER_HOST, half: str = "verification") -> pd.DataFrame:
    """Criteria 4b/4c of the realism report: SAGA DR3 and ELVES recall parity.

    For each survey the chapter-08 restricted model (7-class XGBoost on the table's features,
    :data:`dwarflib.verification.TABLE_FEATURES`, at most ``max_per_class`` rows per class, ``n_estimators``
    trees) is trained on a stratified 70 % of the simulated training sample of ``sky_dir``, its threshold set
    where it reaches ``target_precision`` on the other 30 %. It scores the real satellites inside the signal
    definition (SAGA: its verification half of hosts, :func:`dwarflib.sky.samples.saga_host_half`, since the
    sky is calibrated on the other half; ELVES: usable rows, i-band-only rows excluded as in chapter 08) and
    ``n_per_host`` simulated satellite systems around each of their hosts, drawn with the models the sky was
    made with (:func:`sky_models`). Returns the concatenated :func:`survey_recall_parity` tables; the SAGA rows
    also carry the real-against-real reference of :func:`halves_recall_reference` (its columns are NaN for
    ELVES, which has no halves). SAGA's table also holds the rows of :func:`population_recall_parity`
    (star-forming and quenched satellites apart, with their real-against-real reference); column
    ``population`` is 'all' for the rows of the criterion itself. ``half``: the SAGA half checked, the other being the reference (the
    calibration half checks a sky fitted on the verification half: ``benchmarks/parity_seeds.py --fit-half``).
    """
    train = sky_training_features(sky_dir)
    model, sat = sky_models(training_sample_path(sky_dir).parent)
    out = []
    for survey in surveys:
        real, host = parity_real_rows(survey, half=half)
        chk = train_parity_check(train, real.kind, seed=seed, target_precision=target_precision,
                                 max_per_class=max_per_class, n_estimators=n_estimators, n_jobs=n_jobs)
        saga = survey == "SAGA"  # SAGA flags its quenched satellites; ELVES lists a morphology
        tab = survey_recall_parity(chk, real, real.in_signal() & real.usable, host, survey,
                                   n_per_host=n_per_host, seed=seed, k=k, model=model, sat=sat, by_population=saga)
        if saga:  # real against real: the same model on the half the sky is fitted on, also per population
            cal, _ = parity_real_rows(survey, half=other_saga_half(half))
            p_ver, p_cal = chk.apply(real), chk.apply(cal)
            refs = []
            for name, in_v, in_c, r_bins in (("all", True, True, PARITY_R_BINS),
                                             *((name, real.flags["POP"].to_numpy() == code,
                                                cal.flags["POP"].to_numpy() == code, ())
                                               for code, name in POPULATIONS.items())):
                ref = halves_recall_reference(p_ver, real, real.in_signal() & real.usable & in_v, p_cal, cal,
                                              cal.in_signal() & cal.usable & in_c, chk.threshold, r_bins=r_bins)
                refs.append(ref.assign(population=name))
            tab = tab.merge(pd.concat(refs, ignore_index=True), on=["population", "binning", "bin"], how="left",
                            validate="one_to_one")
        out.append(tab.assign(population=tab["population"] if "population" in tab else "all"))
    return pd.concat(out, ignore_index=True)


def sky_training_features(sky_dir) -> tuple[FeatureTable, np.ndarray]:
    """The simulated training sample of ``sky_dir`` (its sweep rows, not the nearby supplement) as restricted
    features of kind 'sweep', with its labels in the default class scheme."""
    train = load_labelled_table(training_sample_path(sky_dir))
    return V.restricted_features(train, "sweep"), V.labels_of(train, DEFAULT_SCHEME)


def train_parity_check(train: tuple[FeatureTable, np.ndarray], kind: str, seed: int = 0,
                       target_precision: float = PARITY_PRECISION, max_per_class: int | None = 5000,
                       n_estimators: int = 100, n_jobs: int = 1) -> V.RestrictedCheck:
    """The parity's restricted model for a real table of ``kind``: chapter 08's 7-class XGBoost on the table's
    features (:data:`dwarflib.verification.TABLE_FEATURES`), trained on a stratified 70 % of ``train``
    (:func:`sky_training_features`) with its threshold where the other 30 % reach ``target_precision``."""
    sim, y = train
    factory = V.make_default_estimator("xgboost", "7class", seed=seed, n_jobs=n_jobs, max_per_class=max_per_class,
                                       n_estimators=n_estimators)
    return V.train_restricted_check(factory, sim, y, V.TABLE_FEATURES[kind], seed=seed, precision=target_precision)


def parity_real_rows(survey: str, half: str = "verification") -> tuple[FeatureTable, np.ndarray]:
    """The real satellites the parity checks, as restricted features with the host key of each row: SAGA DR3's
    verification half (the sky is calibrated on the other half, :func:`dwarflib.sky.samples.saga_host_half`;
    ``half='calibration'`` gives that one, for :func:`halves_recall_reference`) or ELVES (i-band-only rows
    excluded with a reason, as in chapter 08). SAGA's rows carry the flag ``POP`` (1: SAGA's ``quenched``,
    0: not; :data:`POPULATIONS`)."""
    if survey == "SAGA":
        if half not in SAGA_HALVES:
            raise ValueError(f"half={half!r}: expected one of {SAGA_HALVES}")
        saga = registry.load_saga_satellites()
        saga = saga[saga_host_half(saga["HOSTID"]) == SAGA_HALVES.index(half)]
        real = V.restricted_features(saga, "saga_satellites")
        pop = pd.DataFrame({"POP": (np.asarray(saga["quenched"], float) > 0).astype(int)})  # POPULATIONS' codes
        return replace(real, flags=pd.concat([real.flags.reset_index(drop=True), pop], axis=1)), \
            survey_host_keys("SAGA", saga)
    if survey == "ELVES":
        elves = registry.load_elves_satellites()
        real = V.restricted_features(elves, "elves", hosts=registry.load_elves_hosts_csv(), i_band="exclude")
        return real, real.flags["host"].to_numpy()
    raise ValueError(f"survey must be 'SAGA' or 'ELVES', got {survey!r}")


def satellite_two_sample_tests(sky_dir=None, surveys: Sequence[str] = ("SAGA", "ELVES"), seed: int = 0,
                               n_per_host: int = MOCK_SYSTEMS_PER_HOST) -> pd.DataFrame:
    """:func:`satellite_two_sample_table` of the parity's real satellites (:func:`parity_real_rows`, inside the
    signal definition and usable) against twins drawn with the models the sky ``sky_dir`` was made with
    (:func:`sky_models`; None: the package's), concatenated over ``surveys``."""
    model, sat = sky_models(sky_dir) if sky_dir is not None else (None, None)
    out = []
    for survey in surveys:
        real, host = parity_real_rows(survey)
        out.append(satellite_two_sample_table(real, real.in_signal() & real.usable, host, survey,
                                              n_per_host=n_per_host, seed=seed, model=model, sat=sat))
    return pd.concat(out, ignore_index=True)


def parity_report_rows(colour_summary: pd.DataFrame | None = None,
                       satellite_tables: Sequence[pd.DataFrame] = ()) -> pd.DataFrame:
    """Parity results as rows of :func:`dwarflib.sky.diagnostics.realism_report` (same columns)."""
    rows = []
    if colour_summary is not None:
        for _, s in colour_summary.iterrows():
            rows.append({"criterion": "4 difficulty parity: EDR colours-only task",
                         "quantity": f"{s.metric} (median of {s.n_draws} simulated draws)", "real": s.real,
                         "simulated": s.sim_median, "difference": s.sim_median - s.real, "n_real": int(s.n_signal),
                         "n_sim": int(s.n_signal),
                         "threshold": f"inside real 95 % [{s.real_low:.3g}, {s.real_high:.3g}], >= half of draws",
                         "passed": bool(s.passed)})
    for tab in satellite_tables:
        for _, v in simultaneous_verdict(tab).iterrows():
            rows.append({"criterion": f"4 difficulty parity: {v.survey} recall, all bins at once",
                         "quantity": f"bins failing at {v.confidence:.4f} (Bonferroni over {v.n_bins})",
                         "real": np.nan, "simulated": float(v.n_failed_simultaneous), "difference": np.nan,
                         "n_real": int(v.n_bins), "n_sim": int(v.n_bins), "threshold": "0 bins",
                         "passed": bool(v.passed)})
        for _, s in tab.iterrows():
            if s.passed is None or pd.isna(s.passed):
                continue
            pop = s.get("population", "all")
            crit = (f"4 difficulty parity: {s.survey} recall at sim precision {s.sim_precision:.2f}" if pop == "all"
                    else f"4 difficulty parity: {s.survey} recall of {pop} satellites (information)")
            rows.append({"criterion": crit, "quantity": f"recall, {s.binning} {s.bin}",
                         "real": s.recall_real, "simulated": s.recall_sim, "difference": s.recall_sim - s.recall_real,
                         "n_real": int(s.n_real), "n_sim": int(s.n_sim),
                         "threshold": f"0 inside real - sim 95 % [{s.difference_low:.2f}, "
                                      f"{s.difference_high:.2f}]",
                         "passed": bool(s.passed) if pop == "all" else None})
    return pd.DataFrame(rows)
