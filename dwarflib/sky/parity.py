"""Difficulty parity (issue #13): is the simulated sky exactly as hard to classify as the real one?

Medians of colours and sizes can match while a classifier still finds the simulation easier (or harder) than
the real sky, and that breaks the transfer to real data. Wherever real labels exist, the same task is run on
both skies and the simulated difficulty must fall inside the real measurement's interval:

* :func:`edr_colour_parity` -- colours-only binary classification of BGS-like galaxies (r < 19.5,
  z > 0.0104; r, g-r, r-z, z-W1, W1-W2 [mag]; XGBoost, 5-fold stratified, pooled out-of-fold scores).
  Average precision (AP) and recall at a false-positive rate of :data:`~dwarflib.metrics.REFERENCE_FPR`
  on real DESI EDR, with stratified bootstrap 95 % intervals, against the same task on ``n_draws``
  subsamples of the simulated BGS-like sample at EDR's signal and other counts.
* :func:`satellite_recall_parity` -- the restricted-feature model of chapter 08 applied to real SAGA
  (or ELVES) satellites and to simulated galaxies matched to them in (z, log M*, r): recall per log M* bin
  and per r bin at a threshold set for a stated simulated precision, with Wilson intervals. On a sky with an
  environment (``simulate --satellites``) the matched galaxies are simulated satellites, else field dwarfs.

:func:`parity_summary` turns the EDR table into pass/fail rows; :func:`parity_report_rows` formats both
tables as rows of :func:`dwarflib.sky.diagnostics.realism_report`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from dwarflib import registry
from dwarflib import verification as V
from dwarflib.evaluation import BINARY, cross_validate_signal
from dwarflib.labels import DEFAULT_SCHEME, SIGNAL
from dwarflib.metrics import CONFIDENCE, REFERENCE_FPR, metrics_at_prevalence, threshold_for_precision
from dwarflib.models import make_model
from dwarflib.selections import SAGA
from dwarflib.sky.generate import SURVEY_BGS, training_sample_path
from dwarflib.sky.samples import SAGA_HALVES, bgs_sample, edr_frame, read_training_frame, saga_host_half
from dwarflib.training_sample import load_labelled_table
from dwarflib.verification import FeatureTable, recall_by_bins

#: Features of the colours-only parity task (columns of the colour frames of :mod:`dwarflib.sky.samples`).
PARITY_FEATURES: tuple[str, ...] = ("r", "gr", "rz", "zw1", "w1w2")
#: The two threshold-free difficulty measures of the EDR task.
PARITY_METRICS: tuple[str, ...] = ("average_precision", "recall_at_fpr")
#: Simulated precision (held-out simulated training sample, its own class mix) at which the satellite recall
#: parity sets its threshold. The restricted 6-feature models of chapter 08 reach only about 0.1 there at the
#: book's threshold p_signal >= 0.5 (recall ~0.3), and higher precisions leave < 30 simulated signal selected.
PARITY_PRECISION = 0.1
#: log M* [dex] and r [mag] bins of the satellite recall parity.
PARITY_LOGM_BINS: tuple[float, ...] = (6.0, 7.0, 8.0, 9.0)
PARITY_R_BINS: tuple[float, ...] = (12.0, 16.0, 17.0, 18.0, 19.0, SAGA.r_max)  # up to SAGA's limit
#: Fewest held-out simulated signal satellites for the satellite parity to match real satellites with simulated
#: satellites (a sky with an environment); below it they are matched with all simulated signal galaxies.
MIN_SATELLITE_POOL = 50
#: Matching scales of (z, log M* [dex], r [mag]) for the nearest-neighbour match of simulated galaxies.
MATCH_SCALES: tuple[float, float, float] = (0.002, 0.25, 0.5)


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


def edr_colour_parity(sky_dir, n_draws: int = 5, seed: int = 0, n_boot: int = 1000,
                      edr: pd.DataFrame | None = None, n_jobs: int = 1,
                      class_weight: str | None = "balanced") -> pd.DataFrame:
    """Criterion 4a of the realism report: the EDR colours-only task, real DESI EDR vs the simulated sky.

    Real: :func:`dwarflib.sky.samples.edr_frame` (r < 19.5, z > 0.0104). Simulated: the BGS-like part of
    the sky's training sample with the same selection (:func:`bgs_sample`), subsampled ``n_draws`` times
    to EDR's counts. Returns the tidy table of :func:`colour_parity_table`; :func:`parity_summary` gives
    the verdict.
    """
    edr = edr_frame() if edr is None else edr
    sim = bgs_sample(read_training_frame(sky_dir, SURVEY_BGS))
    return colour_parity_table(edr, sim, n_draws=n_draws, seed=seed, n_boot=n_boot, n_jobs=n_jobs,
                               class_weight=class_weight)


# ---------------------------------------------------------------------------------------------------
# SAGA / ELVES: recall of real satellites vs matched simulated galaxies
# ---------------------------------------------------------------------------------------------------
def match_nearest(real: pd.DataFrame, sim: pd.DataFrame, columns: Sequence[str] = ("z", "logmstar", "r"),
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


def _frame(table: FeatureTable) -> pd.DataFrame:
    return pd.DataFrame({"z": table.z, "logmstar": table.logmstar, "r": table.features["r"].to_numpy(float)})


def satellite_recall_parity(p_real, real: FeatureTable, real_mask, p_sim, sim: FeatureTable, y_sim,
                            target_precision: float = PARITY_PRECISION, k: int = 5,
                            logm_bins: Sequence[float] = PARITY_LOGM_BINS, r_bins: Sequence[float] = PARITY_R_BINS,
                            survey: str = "SAGA", sim_pool=None, sim_kind: str = "field") -> pd.DataFrame:
    """Recall of real satellites per log M* and r bin, against the same model on matched simulated galaxies.

    ``p_real``/``p_sim`` are the model's signal scores on the real table (rows ``real_mask`` enter) and on
    simulated galaxies it was **not** trained on (``sim`` with labels ``y_sim``, e.g. the held-out 30 % of
    :func:`dwarflib.verification.train_restricted_check`). The threshold is the lowest reaching
    ``target_precision`` on all of ``sim`` (:func:`dwarflib.metrics.threshold_for_precision`). Each real row
    is matched to its ``k`` nearest simulated signal-class galaxies in (z, log M*, r) (:func:`match_nearest`),
    among the rows of ``sim_pool`` (boolean mask over ``sim``; None: all), e.g. the simulated satellites of a
    sky with an environment; ``sim_kind`` names them in the output ('field' or 'satellites'). The threshold
    is set on all of ``sim``. The simulated recall of a bin counts each matched galaxy once (duplicates
    removed) and is binned by the real row it was matched to.

    One row per bin: ``survey``, ``binning`` ('log M*' or 'r'), ``bin``, ``threshold``, ``sim_precision``,
    ``n_real``, ``recall_real[_low|_high]``, ``sim_kind`` and ``n_sim``, ``recall_sim[_low|_high]`` (Wilson 95 %),
    ``passed`` (real recall inside the simulated interval; None for a bin without real rows) and
    ``overlap`` (the two intervals overlap).
    """
    p_real, p_sim = np.asarray(p_real, float), np.asarray(p_sim, float)
    real_mask = np.asarray(real_mask, bool) & np.isfinite(p_real)
    y_sim = np.asarray(y_sim)
    thr = threshold_for_precision(y_sim == SIGNAL, p_sim, target_precision)
    rf = _frame(real).loc[real_mask]
    pool = np.ones(len(y_sim), bool) if sim_pool is None else np.asarray(sim_pool, bool)
    if pool.shape != y_sim.shape:
        raise ValueError(f"sim_pool has {pool.shape} entries for {y_sim.shape} simulated rows")
    sig = np.flatnonzero((y_sim == SIGNAL) & pool)
    sf = _frame(sim).iloc[sig].reset_index(drop=True)
    nn = sig[match_nearest(rf, sf, k=k)]  # (n_real, k) indices into sim
    rows = []
    for binning, col, bins in (("log M*", "logmstar", logm_bins), ("r", "r", r_bins)):
        v_real = _frame(real)[col].to_numpy(float)
        tr = recall_by_bins(p_real, real_mask, v_real, bins, thr["threshold"], name="bin")
        v_rf = rf[col].to_numpy(float)
        for i, (lo, hi) in enumerate(zip(bins[:-1], bins[1:], strict=True)):
            picked = np.unique(nn[(v_rf >= lo) & (v_rf < hi)].ravel())
            in_bin = np.zeros(len(p_sim), bool)
            in_bin[picked] = True
            ts = recall_by_bins(p_sim, in_bin, np.zeros(len(p_sim)), (-1.0, 1.0), thr["threshold"]).iloc[0]
            t = tr.iloc[i]
            has = t.n > 0 and ts.n > 0
            rows.append({"survey": survey, "binning": binning, "bin": t["bin"], "threshold": thr["threshold"],
                         "sim_precision": thr["precision"], "n_real": int(t.n), "recall_real": t.recall,
                         "recall_real_low": t.recall_low, "recall_real_high": t.recall_high,
                         "sim_kind": sim_kind, "n_sim": int(ts.n),
                         "recall_sim": ts.recall, "recall_sim_low": ts.recall_low, "recall_sim_high": ts.recall_high,
                         "passed": bool(ts.recall_low <= t.recall <= ts.recall_high) if has else None,
                         "overlap": bool(not (t.recall_high < ts.recall_low or ts.recall_high < t.recall_low))
                         if has else None})
    return pd.DataFrame(rows)


def _subset(t: FeatureTable, idx) -> FeatureTable:
    return FeatureTable(t.kind, t.features.iloc[idx].reset_index(drop=True), t.reason[idx], t.logmstar[idx],
                        t.z[idx], t.name[idx])


def satellite_parity(sky_dir=None, surveys: Sequence[str] = ("SAGA", "ELVES"), seed: int = 0,
                     target_precision: float = PARITY_PRECISION, k: int = 5, max_per_class: int | None = 5000,
                     n_estimators: int = 100, n_jobs: int = 1) -> pd.DataFrame:
    """Criteria 4b/4c of the realism report: SAGA DR3 and ELVES recall parity, as in chapter 08.

    For each survey the chapter-08 restricted model (7-class XGBoost on the table's features,
    :data:`dwarflib.verification.TABLE_FEATURES`, at most ``max_per_class`` rows per class, ``n_estimators``
    trees) is trained on a stratified 70 % of the simulated training sample of ``sky_dir`` and scored on the
    other 30 % and on the real satellites inside the signal definition (SAGA: its verification half of hosts,
    :func:`dwarflib.sky.samples.saga_host_half`, since the sky is calibrated on the other half) (usable rows; ELVES rows with only
    an i-band magnitude are excluded, as in chapter 08's main number). Returns the concatenated
    :func:`satellite_recall_parity` tables.
    """
    train = load_labelled_table(training_sample_path(sky_dir))
    y = V.labels_of(train, DEFAULT_SCHEME)
    sim = V.restricted_features(train, "sweep")
    factory = V.make_default_estimator("xgboost", "7class", seed=seed, n_jobs=n_jobs, max_per_class=max_per_class,
                                       n_estimators=n_estimators)
    out = []
    for survey in surveys:
        if survey == "SAGA":  # the verification half only: the sky is calibrated on the other half
            saga = registry.load_saga_satellites()
            saga = saga[saga_host_half(saga["HOSTID"]) == SAGA_HALVES.index("verification")]
            real = V.restricted_features(saga, "saga_satellites")
            kind = "saga_satellites"
        elif survey == "ELVES":
            real = V.restricted_features(registry.load_elves_satellites(), "elves",
                                         hosts=registry.load_elves_hosts_csv(), i_band="exclude")
            kind = "elves"
        else:
            raise ValueError(f"survey must be 'SAGA' or 'ELVES', got {survey!r}")
        chk = V.train_restricted_check(factory, sim, y, V.TABLE_FEATURES[kind], seed=seed)
        test = _subset(sim, chk.test_index)
        y_test = y[chk.test_index]
        pool, pool_kind = None, "field"
        if "IS_SATELLITE" in train.colnames:  # a sky with an environment: satellites are compared with satellites
            sat = np.asarray(train["IS_SATELLITE"], bool)[chk.test_index]
            if ((y_test == SIGNAL) & sat).sum() >= MIN_SATELLITE_POOL:
                pool, pool_kind = sat, "satellites"
        out.append(satellite_recall_parity(chk.apply(real), real, real.in_signal() & real.usable,
                                           chk.test_p_signal, test, y_test,
                                           target_precision=target_precision, k=k, survey=survey,
                                           sim_pool=pool, sim_kind=pool_kind))
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
        for _, s in tab.iterrows():
            if s.passed is None or pd.isna(s.passed):
                continue
            rows.append({"criterion": f"4 difficulty parity: {s.survey} recall at sim precision "
                         f"{s.sim_precision:.2f}", "quantity": f"recall, {s.binning} {s.bin}",
                         "real": s.recall_real, "simulated": s.recall_sim, "difference": s.recall_sim - s.recall_real,
                         "n_real": int(s.n_real), "n_sim": int(s.n_sim),
                         "threshold": f"real inside sim 95 % [{s.recall_sim_low:.2f}, {s.recall_sim_high:.2f}]",
                         "passed": bool(s.passed)})
    return pd.DataFrame(rows)
