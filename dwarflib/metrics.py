"""Signal-class metrics for multi-class and binary classifiers.

Conventions
-----------
* **7-class labels** are integers 0..6 with ``0 = signal`` (:data:`dwarflib.labels.SIGNAL`);
  call the functions with ``signal=0`` (the default).
* **Binary labels** are ``1 = signal, 0 = rest`` (:func:`dwarflib.labels.to_binary`);
  call the functions with ``signal=1``.
* Scores (``p_signal``) are probabilities in [0, 1]; an object is *selected* as signal when
  ``p_signal >= threshold`` (the same ``>=`` as :func:`sklearn.metrics.precision_recall_curve`).

Only the signal class is scored: precision = TP / (TP + FP) among objects *predicted* signal,
recall = TP / (TP + FN) among objects that *are* signal, and
F-beta = (1 + beta^2) TP / ((1 + beta^2) TP + beta^2 FN + FP) (beta > 1 favours recall).

Undefined values (documented policy, tested)
--------------------------------------------
* No object predicted as signal (TP + FP = 0): **precision is NaN** (undefined, not 0): a model that
  selects nothing has not been shown to be impure.  ``zero_division=0.0`` gives scikit-learn's
  historical 0 instead.
* No true signal (TP + FN = 0): **recall is NaN**.
* F-beta follows scikit-learn >= 1.3: it is computed from the counts with the formula above and is
  NaN only when TP + FN + FP = 0; a model that selects nothing while signal exists therefore has
  F = 0 (its recall is 0), not NaN.

These match :func:`sklearn.metrics.precision_score`, :func:`~sklearn.metrics.recall_score` and
:func:`~sklearn.metrics.fbeta_score` called with ``zero_division=np.nan`` (see tests/test_metrics.py).

Confidence intervals: :func:`binomial_interval` (Wilson score interval through
:func:`astropy.stats.binom_conf_interval`) for a single proportion such as the precision or recall of a
small verification sample, and :func:`bootstrap_ci` (percentile bootstrap over objects) for any metric;
:func:`precision_recall_from_counts` is the one place signal precision and recall get their Wilson intervals.
Interval bounds are named ``<metric>_low`` / ``<metric>_high`` everywhere; the default confidence level is
:data:`CONFIDENCE` (95 %), and :data:`CONFIDENCE_1SIGMA` (68.27 %) where a chapter reports 1-sigma intervals.

Metrics under a stated prevalence
---------------------------------
At fixed recall, precision depends on how common the signal is among the objects scored, so a
precision means nothing without the prevalence it was measured at.  :func:`metrics_at_prevalence`
re-weights a labelled sample to a stated signal share or class mix (weights
:func:`prevalence_weights`) and gives precision, recall, average precision and recall at a
false-positive rate of :data:`REFERENCE_FPR`, with the threshold and the prevalence on every row;
:func:`prevalence_for` gives the signal prevalence at which a model reaches a stated (precision,
recall) pair.  :func:`operating_points` is the one table of operating points the book prints beside every
precision/recall pair (columns :data:`OPERATING_POINT_COLUMNS`, the same in every chapter).  Moving class *probabilities* to other priors is :mod:`dwarflib.priors`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from astropy.stats import binom_conf_interval
from scipy import stats
from sklearn.metrics import average_precision_score

from .labels import CLASS_NAMES, SIGNAL

#: Default confidence level of every interval of the package (95 %).
CONFIDENCE = 0.95
#: 1-sigma confidence level (68.27 %), for the intervals reported with the trained model.
CONFIDENCE_1SIGMA = 0.6827

__all__ = [
    "CONFIDENCE",
    "CONFIDENCE_1SIGMA",
    "REFERENCE_FPR",
    "accuracy",
    "binomial_interval",
    "precision_recall_from_counts",
    "bootstrap_ci",
    "confusion_matrix_table",
    "fbeta",
    "kish_n_eff",
    "metrics_at_prevalence",
    "OPERATING_POINT_COLUMNS",
    "THRESHOLD_FREE_COLUMNS",
    "operating_points",
    "validation_thresholds",
    "prevalence_for",
    "prevalence_weights",
    "signal_counts",
    "signal_pr_curve",
    "signal_precision_recall_f",
    "signal_summary",
    "threshold_for_fbeta",
    "threshold_for_precision",
    "weighted_precision_recall",
]

#: Names accepted by :func:`bootstrap_ci` for the fast (multinomial) path.
COUNT_METRICS = ("precision", "recall", "f1", "fbeta")


def _as_1d(a, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def _pair(y_true, y_other, name_other: str = "y_pred") -> tuple[np.ndarray, np.ndarray]:
    yt = _as_1d(y_true, "y_true")
    yo = _as_1d(y_other, name_other)
    if yt.shape != yo.shape:
        raise ValueError(f"y_true has {yt.shape[0]} rows but {name_other} has {yo.shape[0]}")
    return yt, yo


def signal_counts(y_true, y_pred, signal=SIGNAL) -> dict:
    """Counts of the signal class: tp, fp, fn, tn (ints), with ``support = tp + fn`` and
    ``n_selected = tp + fp``."""
    yt, yp = _pair(y_true, y_pred)
    t = yt == signal
    p = yp == signal
    tp = int(np.count_nonzero(t & p))
    fp = int(np.count_nonzero(~t & p))
    fn = int(np.count_nonzero(t & ~p))
    tn = int(yt.size - tp - fp - fn)
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "support": tp + fn, "n_selected": tp + fp}


def _ratio(num, den, zero_division):
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    return np.where(den > 0, out, zero_division)


def _fbeta_counts(tp, fp, fn, beta: float, zero_division=np.nan):
    b2 = float(beta) ** 2
    tp = np.asarray(tp, dtype=float)
    return _ratio(
        (1 + b2) * tp, (1 + b2) * tp + b2 * np.asarray(fn, float) + np.asarray(fp, float), zero_division
    )


def fbeta(precision, recall, beta: float = 1.0):
    """F-beta from precision and recall (array-friendly).

    ``(1 + beta^2) P R / (beta^2 P + R)``; 0 when P = R = 0; NaN where P or R is NaN.
    beta > 1 weights recall more (beta = 2: recall counts four times as much as precision).
    """
    if beta <= 0:
        raise ValueError(f"beta must be positive, got {beta}")
    p = np.asarray(precision, dtype=float)
    r = np.asarray(recall, dtype=float)
    b2 = float(beta) ** 2
    den = b2 * p + r
    with np.errstate(invalid="ignore", divide="ignore"):
        f = (1 + b2) * p * r / den
    f = np.where(den == 0, 0.0, f)
    f = np.where(np.isnan(p) | np.isnan(r), np.nan, f)
    return float(f) if f.ndim == 0 else f


def signal_precision_recall_f(y_true, y_pred, signal=SIGNAL, beta: float = 1.0, zero_division=np.nan) -> dict:
    """Precision, recall and F-beta of the signal class.

    Parameters
    ----------
    y_true, y_pred : array_like of int
        True and predicted class labels (7-class: signal = 0; binary: signal = 1, pass ``signal=1``).
    signal : int
        Label of the signal class.
    beta : float
        F-beta weight (1 gives F1).
    zero_division : float
        Value of precision (recall) when nothing is predicted (nothing is truly) signal; NaN by default
        (see the module docstring).

    Returns
    -------
    dict
        ``precision, recall, f1`` (when beta = 1) or ``fbeta`` (otherwise, with ``beta``), plus
        ``support`` (number of true signal), ``n_selected`` (number predicted signal) and ``tp``.
    """
    if beta <= 0:
        raise ValueError(f"beta must be positive, got {beta}")
    c = signal_counts(y_true, y_pred, signal)
    out = {
        "precision": float(_ratio(c["tp"], c["tp"] + c["fp"], zero_division)),
        "recall": float(_ratio(c["tp"], c["tp"] + c["fn"], zero_division)),
    }
    f = float(_fbeta_counts(c["tp"], c["fp"], c["fn"], beta))
    if beta == 1.0:
        out["f1"] = f
    else:
        out["fbeta"] = f
        out["beta"] = float(beta)
    out.update(support=c["support"], n_selected=c["n_selected"], tp=c["tp"])
    return out


def signal_summary(y_true, y_pred, signal=SIGNAL, beta: float = 1.0, cl: float = CONFIDENCE) -> dict:
    """:func:`signal_precision_recall_f` plus Wilson intervals on precision and recall.

    Adds ``precision_low, precision_high`` (binomial: tp successes out of n_selected) and
    ``recall_low, recall_high`` (tp out of support) at confidence level ``cl``; NaN where n = 0.
    This is the right interval for small verification samples (tens of objects), where the
    bootstrap is unreliable.
    """
    out = signal_precision_recall_f(y_true, y_pred, signal=signal, beta=beta)
    iv = precision_recall_from_counts(out["tp"], out["n_selected"], out["support"], cl)
    for k in ("precision_low", "precision_high", "recall_low", "recall_high"):
        out[k] = iv[k]
    out["cl"] = float(cl)
    return out


def accuracy(y_true, y_pred) -> float:
    """Fraction of objects whose predicted class equals the true class.

    Shown only to explain why it misleads: with 1 % signal, the model that never predicts signal
    reaches 99 % accuracy in the binary problem while finding no dwarf at all.
    """
    yt, yp = _pair(y_true, y_pred)
    if yt.size == 0:
        return float("nan")
    return float(np.mean(yt == yp))


# --------------------------------------------------------------------------- curves and thresholds


def _check_scores(y_true_is_signal, p_signal) -> tuple[np.ndarray, np.ndarray]:
    t, s = _pair(y_true_is_signal, p_signal, "p_signal")
    t = t.astype(bool) if t.dtype != bool else t
    s = s.astype(float)
    if not np.all(np.isfinite(s)):
        bad = np.flatnonzero(~np.isfinite(s))[:5].tolist()
        raise ValueError(
            f"p_signal has {np.count_nonzero(~np.isfinite(s))} non-finite values (first rows: {bad})"
        )
    return t, s


def signal_pr_curve(y_true_is_signal, p_signal, beta: float = 1.0) -> pd.DataFrame:
    """Precision-recall curve of the signal class, one row per distinct score.

    Parameters
    ----------
    y_true_is_signal : array_like of bool
        True where the object is signal (e.g. ``y7 == 0`` or ``to_binary(y7) == 1``).
    p_signal : array_like of float
        Signal probability (score); an object is selected when ``p_signal >= threshold``.

    Returns
    -------
    pandas.DataFrame
        Columns ``threshold`` (increasing), ``precision``, ``recall``, ``f1`` (or ``fbeta``),
        ``n_selected``, ``tp``.  The first row (lowest threshold) selects everything.  Unlike
        scikit-learn no artificial (recall = 0, precision = 1) end point is appended.
        Precision and recall equal :func:`sklearn.metrics.precision_recall_curve` at every threshold.
    """
    t, s = _check_scores(y_true_is_signal, p_signal)
    n_pos = int(np.count_nonzero(t))
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    tp_cum = np.cumsum(t[order])
    # last index of each distinct score (descending order): selection "score >= threshold"
    last = np.r_[np.flatnonzero(np.diff(s_sorted) != 0), s_sorted.size - 1] if s.size else np.array([], int)
    tp = tp_cum[last]
    n_sel = last + 1
    prec = _ratio(tp, n_sel, np.nan)
    rec = _ratio(tp, n_pos, np.nan) * np.ones_like(prec)
    df = pd.DataFrame(
        {
            "threshold": s_sorted[last][::-1],
            "precision": prec[::-1],
            "recall": rec[::-1],
            ("f1" if beta == 1.0 else "fbeta"): _fbeta_counts(tp, n_sel - tp, n_pos - tp, beta)[::-1],
            "n_selected": n_sel[::-1].astype(np.int64),
            "tp": tp[::-1].astype(np.int64),
        }
    )
    return df


def threshold_for_precision(y_true_is_signal, p_signal, target_precision: float) -> dict:
    """Lowest threshold whose signal precision reaches ``target_precision``.

    The lowest such threshold gives the highest recall at that precision.  Because precision is
    not monotonic in the threshold, every distinct score is examined.

    Returns
    -------
    dict
        ``threshold, precision, recall, f1, n_selected, tp`` at the chosen threshold.

    Raises
    ------
    ValueError
        When no threshold reaches the target (the message gives the reachable range of precisions and the
        best achievable one, with its threshold).
    """
    if not 0 < target_precision <= 1:
        raise ValueError(f"target_precision must be in (0, 1], got {target_precision}")
    curve = signal_pr_curve(y_true_is_signal, p_signal)
    prec = curve["precision"].to_numpy()
    ok = prec >= target_precision
    if not ok.any():
        if not np.isfinite(prec).any():
            raise ValueError(f"no threshold reaches precision {target_precision}: no object scored")
        raise ValueError(
            f"no threshold reaches precision {target_precision}; the reachable precisions on these "
            f"{int(curve['n_selected'].iloc[0])} objects are {np.nanmin(prec):.4f} to "
            f"{np.nanmax(prec):.4f} (best achievable {np.nanmax(prec):.4f}, at threshold "
            f"{curve['threshold'].iloc[int(np.nanargmax(prec))]:.4g})"
        )
    row = curve.iloc[int(np.flatnonzero(ok)[0])]
    return {k: (int(v) if k in ("n_selected", "tp") else float(v)) for k, v in row.items()}


def threshold_for_fbeta(y_true_is_signal, p_signal, beta: float = 1.0) -> dict:
    """Threshold that maximises the signal F-beta (ties: the highest threshold, i.e. fewest selected).

    Returns the same keys as :func:`threshold_for_precision` (``f1`` or ``fbeta``).
    """
    curve = signal_pr_curve(y_true_is_signal, p_signal, beta=beta)
    col = "f1" if beta == 1.0 else "fbeta"
    f = curve[col].to_numpy()
    if len(curve) == 0 or np.all(np.isnan(f)):
        raise ValueError("F-beta is undefined at every threshold (no signal in y_true?)")
    best = np.nanmax(f)
    i = int(np.flatnonzero(f == best)[-1])
    row = curve.iloc[i]
    return {k: (int(v) if k in ("n_selected", "tp") else float(v)) for k, v in row.items()}


# --------------------------------------------------------------------------- confusion matrix


def confusion_matrix_table(y_true, y_pred, names=None, normalize: str | None = None) -> pd.DataFrame:
    """Confusion matrix as a labelled DataFrame (rows: true class, columns: predicted class).

    Parameters
    ----------
    y_true, y_pred : array_like of int
        Labels 0..K-1 (K = len(names)).
    names : sequence of str, optional
        Class names in label order; default :data:`dwarflib.labels.CLASS_NAMES` when all labels are in
        0..6, else the sorted labels themselves.
    normalize : {None, "true", "pred", "all"}
        ``"true"`` divides each row by its total (row-normalised: the diagonal is the per-class
        recall), ``"pred"`` each column (diagonal: per-class precision), ``"all"`` by the grand total.
        Rows/columns with zero total are NaN.  None gives counts.
    """
    yt, yp = _pair(y_true, y_pred)
    if names is None:
        present = np.union1d(np.unique(yt), np.unique(yp))
        if present.size == 0 or (present.min() >= 0 and present.max() < len(CLASS_NAMES)):
            names = list(CLASS_NAMES)
            labels = np.arange(len(names))
        else:
            labels = present
            names = [str(v) for v in present]
    else:
        names = list(names)
        labels = np.arange(len(names))
    k = len(labels)
    labels = np.asarray(labels)

    def _index(y, what):
        i = np.clip(np.searchsorted(labels, y), 0, k - 1)
        bad = labels[i] != y
        if bad.any():
            raise ValueError(
                f"{what} label {y[bad][0]!r} (row {int(np.flatnonzero(bad)[0])}) is outside the {k} named classes {names}"
            )
        return i.astype(np.int64)

    it = _index(yt, "y_true")
    ip = _index(yp, "y_pred")
    cm = np.bincount(it * k + ip, minlength=k * k).reshape(k, k).astype(np.int64)
    if normalize is None:
        data = cm
    elif normalize in ("true", "pred", "all"):
        axis = {"true": 1, "pred": 0, "all": None}[normalize]
        tot = cm.sum(axis=axis, keepdims=axis is not None)
        data = _ratio(cm, tot, np.nan)
    else:
        raise ValueError(f"normalize must be None, 'true', 'pred' or 'all', got {normalize!r}")
    return pd.DataFrame(
        data,
        index=pd.Index(names, name="true class"),
        columns=pd.Index(names, name="predicted class"),
    )


# --------------------------------------------------------------------------- intervals


def binomial_interval(k, n, cl: float = CONFIDENCE):
    """Wilson score interval for a binomial proportion k/n (e.g. recall = tp/support).

    Uses :func:`astropy.stats.binom_conf_interval` with ``interval="wilson"``; well behaved for
    small n and for k = 0 or k = n, unlike the normal (Wald) approximation.

    Returns
    -------
    (low, high) : floats, or arrays for array input; NaN where n = 0.
    """
    if not 0 < cl < 1:
        raise ValueError(f"cl must be in (0, 1), got {cl}")
    k_arr = np.asarray(k)
    n_arr = np.asarray(n)
    if np.any(k_arr < 0) or np.any(k_arr > n_arr):
        raise ValueError("binomial_interval needs 0 <= k <= n")
    k_b, n_b = np.broadcast_arrays(k_arr, n_arr)
    low = np.full(k_b.shape, np.nan)
    high = np.full(k_b.shape, np.nan)
    ok = n_b > 0
    if ok.any():
        lo_hi = binom_conf_interval(k_b[ok], n_b[ok], confidence_level=cl, interval="wilson")
        low[ok], high[ok] = lo_hi[0], lo_hi[1]
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def difference_interval(k1, n1, k2, n2, cl: float = CONFIDENCE) -> tuple[float, float, float]:
    """Difference of two independent proportions ``k1/n1 - k2/n2`` with Newcombe's (1998, Stat. Med. 17, 873;
    method 10) hybrid score interval, built from the two Wilson intervals (:func:`binomial_interval`).

    Returns ``(difference, low, high)``; NaN where ``n1`` or ``n2`` is 0. Unlike "one estimate inside the
    other's interval", it accounts for the uncertainty of both samples, whichever is smaller.
    """
    if not (n1 > 0 and n2 > 0):
        return float("nan"), float("nan"), float("nan")
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = binomial_interval(k1, n1, cl)
    l2, u2 = binomial_interval(k2, n2, cl)
    d = p1 - p2
    return (float(d), float(d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)),
            float(d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)))


def precision_recall_from_counts(tp: int, n_selected: int, n_signal: int, cl: float = CONFIDENCE) -> dict:
    """Signal precision = tp / n_selected and recall = tp / n_signal (counts of objects), each with its Wilson
    interval (:func:`binomial_interval`) at confidence level ``cl``.

    Returns ``precision, precision_low, precision_high, recall, recall_low, recall_high`` (in that order);
    a ratio and its bounds are NaN where its denominator is 0.
    """
    p_low, p_high = binomial_interval(tp, n_selected, cl)
    r_low, r_high = binomial_interval(tp, n_signal, cl)
    return {"precision": tp / n_selected if n_selected else float("nan"), "precision_low": p_low,
            "precision_high": p_high, "recall": tp / n_signal if n_signal else float("nan"),
            "recall_low": r_low, "recall_high": r_high}


def kish_n_eff(weight) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2 of weighted objects (= their number for equal weights;
    0 for none)."""
    w = np.asarray(weight, dtype=float)
    s2 = float((w * w).sum())
    return float(w.sum()) ** 2 / s2 if s2 > 0 else 0.0


def _wilson_fractional(p: float, n: float, cl: float) -> tuple[float, float]:
    """Wilson score interval of a proportion ``p`` measured on ``n`` (possibly fractional, effective) trials."""
    if not n > 0:
        return float("nan"), float("nan")
    z = float(stats.norm.ppf(0.5 + cl / 2))
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z / den * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return float(max(centre - half, 0.0)), float(min(centre + half, 1.0))


def weighted_precision_recall(is_signal, selected, weight=None, cl: float = CONFIDENCE) -> dict:
    """Signal precision and recall of a selection of weighted objects (e.g. the importance weights of a
    training sample with an over-sampled part), with Wilson intervals on Kish's effective numbers
    (:func:`kish_n_eff` of the selected and of the signal objects).

    precision = sum(w, selected signal) / sum(w, selected); recall = sum(w, selected signal) / sum(w, signal).
    Returns the keys of :func:`precision_recall_from_counts` (the same values, exactly, when ``weight`` is
    None or all 1) plus ``w_tp``, ``w_selected``, ``w_signal`` (weighted sums) and ``n_eff_selected``,
    ``n_eff_signal``.
    """
    sig = np.asarray(is_signal, dtype=bool)
    sel = np.asarray(selected, dtype=bool)
    w = np.ones(sig.size) if weight is None else np.asarray(weight, dtype=float)
    if not (sig.shape == sel.shape == w.shape):
        raise ValueError(f"is_signal, selected and weight need one value per object: {sig.shape}, {sel.shape}, "
                         f"{w.shape}")
    if not (np.all(np.isfinite(w)) and np.all(w >= 0)):
        raise ValueError("weight must be finite and >= 0")
    w_tp, w_sel, w_sig = float(w[sel & sig].sum()), float(w[sel].sum()), float(w[sig].sum())
    n_sel, n_sig = kish_n_eff(w[sel]), kish_n_eff(w[sig])
    extra = {"w_tp": w_tp, "w_selected": w_sel, "w_signal": w_sig, "n_eff_selected": n_sel, "n_eff_signal": n_sig}
    if np.all(w == 1):
        return {**precision_recall_from_counts(int((sel & sig).sum()), int(sel.sum()), int(sig.sum()), cl), **extra}
    prec = w_tp / w_sel if w_sel > 0 else float("nan")
    rec = w_tp / w_sig if w_sig > 0 else float("nan")
    p_low, p_high = _wilson_fractional(prec, n_sel, cl) if w_sel > 0 else (float("nan"),) * 2
    r_low, r_high = _wilson_fractional(rec, n_sig, cl) if w_sig > 0 else (float("nan"),) * 2
    return {"precision": prec, "precision_low": p_low, "precision_high": p_high, "recall": rec,
            "recall_low": r_low, "recall_high": r_high, **extra}


def _count_metric(name: str, tp, fp, fn, beta: float):
    if name == "precision":
        return _ratio(tp, tp + fp, np.nan)
    if name == "recall":
        return _ratio(tp, tp + fn, np.nan)
    if name == "f1":
        return _fbeta_counts(tp, fp, fn, 1.0)
    return _fbeta_counts(tp, fp, fn, beta)


def bootstrap_ci(
    metric_fn: Callable | str,
    y_true,
    y_pred_or_score,
    n_boot: int = 1000,
    cl: float = CONFIDENCE,
    seed: int = 0,
    signal=SIGNAL,
    beta: float = 1.0,
) -> dict:
    """Percentile bootstrap confidence interval of a metric, resampling objects with replacement.

    Parameters
    ----------
    metric_fn : callable or str
        ``metric_fn(y_true, y_pred_or_score) -> float``, or one of ``"precision", "recall", "f1",
        "fbeta"`` for the signal class (label ``signal``; F-beta uses ``beta``).  The named metrics use
        a fast, exactly equivalent path: a bootstrap resample of n objects is a multinomial draw of n
        over the four confusion cells (TP, FP, FN, TN), so each replicate costs O(1) instead of O(n).
    y_true, y_pred_or_score : array_like
        Labels and predicted labels (or scores, for a callable that takes scores).
    n_boot : int
        Number of bootstrap replicates.
    cl : float
        Confidence level of the two-sided percentile interval.
    seed : int
        Seed of the :class:`numpy.random.Generator`; the same seed gives the same interval.

    Returns
    -------
    dict
        ``estimate`` (metric on the full sample), ``low``, ``high``, ``std`` (of the replicates),
        ``cl``, ``n_boot``, ``n_undefined`` (replicates where the metric was NaN, e.g. no signal
        selected; they are left out of the percentiles).
    """
    if not 0 < cl < 1:
        raise ValueError(f"cl must be in (0, 1), got {cl}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    yt, yo = _pair(y_true, y_pred_or_score, "y_pred_or_score")
    n = yt.size
    if n == 0:
        raise ValueError("bootstrap_ci needs at least one object")
    rng = np.random.default_rng(seed)
    if isinstance(metric_fn, str):
        if metric_fn not in COUNT_METRICS:
            raise ValueError(f"metric_fn must be a callable or one of {COUNT_METRICS}, got {metric_fn!r}")
        c = signal_counts(yt, yo, signal)
        cells = np.array([c["tp"], c["fp"], c["fn"], c["tn"]], dtype=float)
        draws = rng.multinomial(n, cells / n, size=n_boot)
        reps = _count_metric(metric_fn, draws[:, 0], draws[:, 1], draws[:, 2], beta)
        estimate = float(_count_metric(metric_fn, c["tp"], c["fp"], c["fn"], beta))
    else:
        estimate = float(metric_fn(yt, yo))
        reps = np.empty(n_boot)
        for b in range(n_boot):
            idx = rng.integers(0, n, size=n)
            reps[b] = metric_fn(yt[idx], yo[idx])
    reps = np.asarray(reps, dtype=float)
    good = ~np.isnan(reps)
    alpha = (1 - cl) / 2
    if good.any():
        low, high = np.quantile(reps[good], [alpha, 1 - alpha])
        std = float(np.std(reps[good], ddof=1)) if good.sum() > 1 else float("nan")
    else:
        low = high = std = float("nan")
    return {
        "estimate": estimate,
        "low": float(low),
        "high": float(high),
        "std": std,
        "cl": float(cl),
        "n_boot": int(n_boot),
        "n_undefined": int(np.count_nonzero(~good)),
    }


# ---------------------------------------------------------------------- metrics under a stated prevalence

#: False-positive rate at which the threshold-free "recall at fixed FPR" is quoted (issue #12).
REFERENCE_FPR = 1e-3


def _check_open_unit(value, name: str) -> float:
    """``value`` as a float strictly inside (0, 1), else a ValueError naming it and the range."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in the open interval (0, 1), got {value!r}") from None
    if not (np.isfinite(v) and 0.0 < v < 1.0):
        raise ValueError(f"{name} must be in the open interval (0, 1) (reachable range), got {value!r}")
    return v


def _prevalence_groups(yt: np.ndarray, signal, prevalence) -> dict:
    """Groups of objects that get one weight each, and their observed and target shares.

    ``prevalence`` is a float (the signal share; the non-signal classes keep their observed relative
    mix, so they form one group) or a class mix (a mapping label -> share, or a sequence of shares for
    labels 0..K-1; each class is its own group).
    """
    n = yt.size
    labels, inverse, counts = np.unique(yt, return_inverse=True, return_counts=True)
    if signal not in labels:
        raise ValueError(f"y_true holds no signal object (label {signal!r}); the signal share cannot be "
                         "re-weighted")
    if labels.size < 2:
        raise ValueError(f"y_true holds only signal objects (label {signal!r}); nothing to re-weight against")
    if not isinstance(prevalence, dict) and np.ndim(prevalence) == 0:
        pi = _check_open_unit(prevalence, "prevalence (target signal share)")
        is_sig = yt == signal
        group = np.where(is_sig, 0, 1)
        n_sig = int(is_sig.sum())
        return {"group": group, "names": ["signal", "other"], "count": np.array([n_sig, n - n_sig]),
                "target": np.array([pi, 1.0 - pi]), "signal_group": 0}
    if isinstance(prevalence, dict):
        mix = {k: float(v) for k, v in prevalence.items()}
    else:
        arr = np.asarray(prevalence, dtype=float)
        if arr.ndim != 1:
            raise ValueError(f"class mix must be a float, a mapping or a 1-D sequence, got shape {arr.shape}")
        mix = {k: float(v) for k, v in enumerate(arr)}
    shares = np.array(list(mix.values()), dtype=float)
    if not np.all(np.isfinite(shares)) or np.any(shares < 0) or np.any(shares > 1):
        raise ValueError(f"class mix shares must be in [0, 1], got {mix}")
    if abs(shares.sum() - 1.0) > 1e-6:
        raise ValueError(f"class mix shares must sum to 1, got sum {shares.sum():.8g} for {mix}")
    if signal not in mix:
        raise ValueError(f"class mix {mix} gives no share to the signal label {signal!r}")
    _check_open_unit(mix[signal], f"signal share of the class mix (label {signal!r})")
    missing = [lab.item() for lab in labels if lab.item() not in mix]
    if missing:
        raise ValueError(f"labels {missing} occur in y_true but have no share in the class mix {mix}")
    absent = [k for k, v in mix.items() if v > 0 and k not in labels]
    if absent:
        raise ValueError(f"classes {absent} have a positive target share but no object in y_true: the mix "
                         f"{mix} cannot be reached by re-weighting")
    target = np.array([mix[lab.item()] for lab in labels])
    return {"group": inverse.astype(np.int64), "names": [lab.item() for lab in labels], "count": counts,
            "target": target, "signal_group": int(np.flatnonzero(labels == signal)[0])}


def prevalence_weights(y_true, prevalence, signal=SIGNAL) -> np.ndarray:
    """Per-object weights that re-weight a labelled sample to a stated class mix.

    The weight of an object of class k is ``w_k = target_share_k / observed_share_k`` with
    ``observed_share_k = n_k / n``, so that the weighted class shares equal the target shares and the
    weights sum to n.  ``prevalence`` is either the target **signal** share in (0, 1) (the other
    classes keep their observed relative mix) or a full class mix (mapping label -> share, or a
    sequence of shares for labels 0..K-1, summing to 1; a zero share drops a class).

    Any metric computed with these weights is the expected value of that metric on a sample of the
    target mix whose class-conditional score distributions are those of ``y_true``'s classes.
    """
    yt = _as_1d(y_true, "y_true")
    g = _prevalence_groups(yt, signal, prevalence)
    observed = g["count"] / yt.size
    return (g["target"] / observed)[g["group"]]


def _rates_at(scores: np.ndarray, group: np.ndarray, n_groups: int, thresholds: np.ndarray) -> np.ndarray:
    """Counts selected (``score >= threshold``) per group: array (n_thresholds, n_groups) of int."""
    out = np.empty((thresholds.size, n_groups), dtype=np.int64)
    for j in range(n_groups):
        s = np.sort(scores[group == j])
        out[:, j] = s.size - np.searchsorted(s, thresholds, side="left")
    return out


def _weighted_precision(target: np.ndarray, rate: np.ndarray, sig: int) -> np.ndarray:
    """precision = pi_s r_s / sum_k pi_k r_k (rates r: (..., n_groups)); NaN when nothing is selected."""
    num = target[sig] * rate[..., sig]
    return _ratio(num, (target * rate).sum(axis=-1), np.nan)


def _recall_at_fpr(scores: np.ndarray, group: np.ndarray, count: np.ndarray, target: np.ndarray, sig: int,
                   fpr_max: float) -> float:
    """Highest signal recall (TPR) among thresholds whose re-weighted false-positive rate is <= ``fpr_max``.

    The ROC curve of :func:`sklearn.metrics.roc_curve` with the weights of :func:`prevalence_weights`,
    computed from integer counts per class (``FPR = sum_k pi_k c_k / n_k / sum_k pi_k`` over the
    non-signal classes) so that a signal-only re-weighting leaves it exactly unchanged.
    """
    order = np.argsort(-scores, kind="mergesort")
    s_sorted = scores[order]
    last = np.r_[np.flatnonzero(np.diff(s_sorted) != 0), s_sorted.size - 1]
    onehot = np.zeros((scores.size, count.size))
    onehot[np.arange(scores.size), group[order]] = 1.0
    cum = np.cumsum(onehot, axis=0)[last]  # objects with score >= each distinct score, per group
    others = np.arange(count.size) != sig
    fpr = (cum[:, others] / count[others]) @ target[others] / target[others].sum()
    tpr = cum[:, sig] / count[sig]
    ok = fpr <= fpr_max * (1 + 1e-9)
    return float(tpr[ok].max()) if ok.any() else 0.0


def metrics_at_prevalence(
    y_true,
    p_signal,
    thresholds,
    prevalence,
    signal=SIGNAL,
    cl: float = CONFIDENCE,
    n_boot: int = 1000,
    seed: int = 0,
    reference_fpr: float = REFERENCE_FPR,
) -> pd.DataFrame:
    """Signal precision, recall and average precision when the classes are re-weighted to a stated mix.

    Precision at fixed recall depends on how common the signal is among the objects scored, so a
    precision is only meaningful next to the prevalence it was computed at.  This function states it.

    Every object of class k gets the weight ``w_k = pi_k / q_k`` (target share / observed share,
    :func:`prevalence_weights`).  With ``r_k(t)`` the fraction of class k selected by
    ``p_signal >= t``:

    * **precision** ``P(t) = pi_s r_s(t) / sum_k pi_k r_k(t)``; for a signal prevalence pi alone this
      is ``pi TPR / (pi TPR + (1 - pi) FPR)``;
    * **recall** ``r_s(t)`` = TPR: it does **not** change with the re-weighting (all signal objects get
      the same weight), so it is the recall measured on ``y_true``;
    * **average precision** (threshold-free): :func:`sklearn.metrics.average_precision_score` with the
      weights as ``sample_weight``;
    * **recall at FPR** ``reference_fpr`` (threshold-free, default 1e-3): the highest TPR among
      thresholds whose weighted false-positive rate is <= ``reference_fpr``
      (:func:`sklearn.metrics.roc_curve` with the weights).  For a signal prevalence alone the FPR is
      not changed by the re-weighting, so neither is this figure; for a full class mix it is.

    Intervals at confidence level ``cl``:

    * recall: Wilson interval of tp out of n_signal (:func:`binomial_interval`);
    * precision: analytic and conservative.  P is increasing in r_s and decreasing in every other
      r_k, and the rates of different classes are independent binomials, so the Wilson intervals of
      the G rates at level ``cl**(1/G)`` form a box of joint coverage >= ``cl``; the interval is P at
      the box's two extreme corners.  It stays valid when few (or no) non-signal objects are selected,
      where the bootstrap collapses;
    * average precision and recall at FPR: percentile bootstrap over objects, stratified by class
      (each class resampled with replacement to its own size, so the weights are fixed), ``n_boot``
      replicates, seeded by ``seed``.  ``n_boot=0`` skips it (NaN bounds).

    Parameters
    ----------
    y_true : array_like of int
        True labels, 7-class (signal = 0, the default ``signal``) or binary (signal = 1: pass
        ``signal=1``).
    p_signal : array_like of float
        Signal score; selected when ``p_signal >= threshold``.
    thresholds : float or sequence of float
        Operating thresholds (one output row each).
    prevalence : float, mapping or sequence
        Target signal share in the open interval (0, 1), or a full class mix (see
        :func:`prevalence_weights`).
    cl : float
        Confidence level of all intervals.

    Returns
    -------
    pandas.DataFrame
        One row per threshold: ``threshold, prevalence`` (target signal share), ``observed_prevalence``,
        ``precision, precision_low, precision_high, recall, recall_low, recall_high, fpr`` (weighted
        false-positive rate at the threshold), ``tp, fp`` (unweighted counts selected),
        ``average_precision, average_precision_low, average_precision_high, reference_fpr,
        recall_at_fpr, recall_at_fpr_low, recall_at_fpr_high, n_signal, n_other, cl, n_boot, seed``.

    Raises
    ------
    ValueError
        Prevalence outside (0, 1) (the message names the value and the range), a class mix that does
        not sum to 1 or names a class absent from ``y_true``, no signal or no other object, non-finite
        scores.
    """
    if not 0 < cl < 1:
        raise ValueError(f"cl must be in (0, 1), got {cl}")
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot}")
    ref_fpr = _check_open_unit(reference_fpr, "reference_fpr")
    yt, s = _pair(y_true, p_signal, "p_signal")
    is_sig, s = _check_scores(yt == signal, s)
    thr = np.atleast_1d(np.asarray(thresholds, dtype=float))
    if thr.ndim != 1 or not np.all(np.isfinite(thr)):
        raise ValueError(f"thresholds must be finite numbers, got {thresholds!r}")
    g = _prevalence_groups(yt, signal, prevalence)
    group, target, count, sig = g["group"], g["target"], g["count"], g["signal_group"]
    n_groups = count.size
    w = (target / (count / yt.size))[group]

    sel = _rates_at(s, group, n_groups, thr)
    rate = sel / count
    precision = _weighted_precision(target, rate, sig)
    others = np.arange(n_groups) != sig
    fpr = (rate[:, others] * target[others]).sum(axis=1) / target[others].sum()
    # precision interval: Wilson box over the groups that carry weight
    active = target > 0
    cl_each = cl ** (1.0 / np.count_nonzero(active))
    lo, hi = binomial_interval(sel, np.broadcast_to(count, sel.shape), cl_each)
    corner_low = np.where(others, hi, lo)
    corner_high = np.where(others, lo, hi)
    p_low = _weighted_precision(target, corner_low, sig)
    p_high = _weighted_precision(target, corner_high, sig)
    tp = sel[:, sig]
    r_low, r_high = binomial_interval(tp, np.full(tp.shape, count[sig]), cl)

    ap = float(average_precision_score(is_sig, s, sample_weight=w))
    r_at = _recall_at_fpr(s, group, count, target, sig, ref_fpr)
    ap_lo = ap_hi = ra_lo = ra_hi = float("nan")
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        members = [np.flatnonzero(yt == lab) for lab in np.unique(yt)]
        reps = np.empty((n_boot, 2))
        for b in range(n_boot):
            idx = np.concatenate([m[rng.integers(0, m.size, m.size)] for m in members])
            reps[b, 0] = average_precision_score(is_sig[idx], s[idx], sample_weight=w[idx])
            reps[b, 1] = _recall_at_fpr(s[idx], group[idx], count, target, sig, ref_fpr)
        alpha = (1 - cl) / 2
        (ap_lo, ra_lo), (ap_hi, ra_hi) = np.quantile(reps, [alpha, 1 - alpha], axis=0)
    n_sig = int(count[sig])
    return pd.DataFrame(
        {
            "threshold": thr,
            "prevalence": float(target[sig]),
            "observed_prevalence": n_sig / yt.size,
            "precision": precision,
            "precision_low": p_low,
            "precision_high": p_high,
            "recall": tp / n_sig,
            "recall_low": r_low,
            "recall_high": r_high,
            "fpr": fpr,
            "tp": tp.astype(np.int64),
            "fp": (sel.sum(axis=1) - tp).astype(np.int64),
            "average_precision": ap,
            "average_precision_low": float(ap_lo),
            "average_precision_high": float(ap_hi),
            "reference_fpr": ref_fpr,
            "recall_at_fpr": r_at,
            "recall_at_fpr_low": float(ra_lo),
            "recall_at_fpr_high": float(ra_hi),
            "n_signal": n_sig,
            "n_other": int(yt.size - n_sig),
            "cl": float(cl),
            "n_boot": int(n_boot),
            "seed": int(seed),
        }
    )


def _prevalence_from_rates(precision: float, tpr, fpr):
    """Signal share pi at which pi TPR / (pi TPR + (1 - pi) FPR) = precision:
    ``pi = P FPR / (P FPR + (1 - P) TPR)``."""
    tpr = np.asarray(tpr, dtype=float)
    fpr = np.asarray(fpr, dtype=float)
    return _ratio(precision * fpr, precision * fpr + (1 - precision) * tpr, np.nan)


def prevalence_for(precision: float, recall: float, y_true, p_signal, signal=SIGNAL,
                   cl: float = CONFIDENCE) -> dict:
    """Signal prevalence at which a model reaches a stated (precision, recall) pair.

    1. The threshold is the **highest** one whose recall (TPR) on the labelled sample is >= ``recall``
       (fewest false positives at that recall); because recall moves in steps of 1 / n_signal, the
       achieved recall (``tpr``) can exceed the requested one.
    2. At that threshold, with TPR and FPR (false-positive rate over all non-signal objects, their
       observed mix kept), the precision at signal prevalence pi is
       ``P = pi TPR / (pi TPR + (1 - pi) FPR)``, so the prevalence giving ``precision`` is
       ``pi = P FPR / (P FPR + (1 - P) TPR)``.
       Any precision in (0, 1) is reached at some pi in (0, 1) as long as TPR > 0 and FPR > 0.
    3. Interval (level ``cl``): pi increases with FPR and decreases with TPR; TPR and FPR are
       independent binomials, so their Wilson intervals at level ``sqrt(cl)`` give a box of joint
       coverage >= cl, and ``prevalence_low/high`` are pi at its corners.

    Parameters
    ----------
    precision : float
        Requested precision, in the open interval (0, 1).
    recall : float
        Requested recall, in (0, 1].
    y_true, p_signal : array_like
        Labels (signal = ``signal``; 7-class or binary, see the module conventions) and scores.

    Returns
    -------
    dict
        ``precision, recall`` (requested), ``threshold, tpr, fpr, tp, fp, n_signal, n_other,
        observed_prevalence, observed_precision`` (at the labelled sample's own mix), ``prevalence,
        prevalence_low, prevalence_high, cl``.

    Raises
    ------
    ValueError
        Precision outside (0, 1) or recall outside (0, 1] (naming the value and the range); no signal
        or no non-signal object; no non-signal object selected at the threshold (FPR = 0: precision is
        1 at every prevalence, the message says so and gives the FPR upper bound).
    """
    if not 0 < cl < 1:
        raise ValueError(f"cl must be in (0, 1), got {cl}")
    p_req = _check_open_unit(precision, "precision")
    try:
        r_req = float(recall)
    except (TypeError, ValueError):
        raise ValueError(f"recall must be a number in (0, 1], got {recall!r}") from None
    if not (np.isfinite(r_req) and 0 < r_req <= 1):
        raise ValueError(f"recall must be in (0, 1] (reachable range on a labelled sample), got {recall!r}")
    yt, s = _pair(y_true, p_signal, "p_signal")
    is_sig, s = _check_scores(yt == signal, s)
    n_sig = int(np.count_nonzero(is_sig))
    n_other = int(is_sig.size - n_sig)
    if n_sig == 0 or n_other == 0:
        raise ValueError(f"prevalence_for needs signal and non-signal objects, got {n_sig} signal "
                         f"(label {signal!r}) and {n_other} other")
    curve = signal_pr_curve(is_sig, s)
    # curve rows: threshold increasing, recall decreasing; the first row (everything selected) has recall 1
    i = int(np.flatnonzero(curve["recall"].to_numpy() >= r_req - 1e-12)[-1])
    row = curve.iloc[i]
    tp = int(row["tp"])
    fp = int(row["n_selected"]) - tp
    tpr = tp / n_sig
    fpr = fp / n_other
    threshold = float(row["threshold"])
    if fp == 0:
        _, fpr_hi = binomial_interval(0, n_other, cl)
        raise ValueError(
            f"at threshold {threshold:.6g} (recall {tpr:.4f} >= {r_req}) none of the {n_other} non-signal "
            f"objects is selected (FPR = 0): precision is 1 at every prevalence in (0, 1), so precision "
            f"{p_req} fixes no prevalence; the sample only bounds FPR < {fpr_hi:.3g} ({cl} Wilson)"
        )
    cl_each = float(np.sqrt(cl))
    tpr_lo, tpr_hi = binomial_interval(tp, n_sig, cl_each)
    fpr_lo, fpr_hi = binomial_interval(fp, n_other, cl_each)
    return {
        "precision": p_req,
        "recall": r_req,
        "threshold": threshold,
        "tpr": tpr,
        "fpr": fpr,
        "tp": tp,
        "fp": fp,
        "n_signal": n_sig,
        "n_other": n_other,
        "observed_prevalence": n_sig / is_sig.size,
        "observed_precision": tp / (tp + fp),
        "prevalence": float(_prevalence_from_rates(p_req, tpr, fpr)),
        "prevalence_low": float(_prevalence_from_rates(p_req, tpr_hi, fpr_lo)),
        "prevalence_high": float(_prevalence_from_rates(p_req, tpr_lo, fpr_hi)),
        "cl": float(cl),
    }


# --------------------------------------------------------------------------- operating points

#: Columns of :func:`operating_points`, in this order: the table every chapter prints beside a precision/recall
#: pair (issue #12, "operating points stated, everywhere").
OPERATING_POINT_COLUMNS: tuple[str, ...] = (
    "operating_point", "threshold", "prevalence", "n_scored", "n_signal", "n_selected", "tp",
    "precision", "precision_low", "precision_high", "recall", "recall_low", "recall_high",
    "average_precision", "average_precision_low", "average_precision_high",
    "reference_fpr", "recall_at_fpr", "recall_at_fpr_low", "recall_at_fpr_high", "cl",
)

#: The threshold-free columns of :data:`OPERATING_POINT_COLUMNS` (taken from :func:`metrics_at_prevalence`).
THRESHOLD_FREE_COLUMNS: tuple[str, ...] = ("average_precision", "average_precision_low", "average_precision_high",
                                           "reference_fpr", "recall_at_fpr", "recall_at_fpr_low",
                                           "recall_at_fpr_high")


def operating_points(y_true, p_signal, thresholds, signal=SIGNAL, cl: float = CONFIDENCE, n_boot: int = 200,
                     seed: int = 0, reference_fpr: float = REFERENCE_FPR) -> pd.DataFrame:
    """Signal precision and recall at stated thresholds, each row with its full operating point.

    A precision/recall pair means nothing without the threshold that produced it and the signal prevalence of the
    objects scored; and two models (or two thresholds of one model) are compared fairly by figures that do not
    depend on the threshold.  Every row therefore gives:

    * ``threshold``: objects with ``p_signal >= threshold`` are selected;
    * ``prevalence``: the signal share of the scored objects, ``n_signal / n_scored`` (precision depends on it);
    * ``precision = tp / n_selected`` and ``recall = tp / n_signal`` with their Wilson intervals
      (:func:`precision_recall_from_counts`; at the scored set's own mix both are binomial proportions);
    * ``average_precision`` and ``recall_at_fpr`` (the highest recall at a false-positive rate <=
      ``reference_fpr``, default :data:`REFERENCE_FPR`): threshold-free, the same on every row, with stratified
      percentile-bootstrap intervals (:func:`metrics_at_prevalence` at the observed prevalence, ``n_boot``
      replicates seeded by ``seed``; ``n_boot=0`` leaves the bounds NaN).

    Parameters
    ----------
    y_true : array_like of int
        True labels (7-class: signal 0, the default ``signal``; binary: pass ``signal=1``).
    p_signal : array_like of float
        Signal score of the same objects (probability, 0-1).
    thresholds : mapping or sequence
        ``{name: threshold}`` (the name says how the threshold was chosen, e.g. "max F1 on validation"), or a
        sequence of thresholds (named ``"p_signal >= t"``).
    cl : float
        Confidence level of every interval (default :data:`CONFIDENCE`).

    Returns
    -------
    pandas.DataFrame
        One row per threshold, columns :data:`OPERATING_POINT_COLUMNS`.

    Raises
    ------
    ValueError
        No threshold, a non-finite threshold (naming it), no signal or no non-signal object, non-finite scores.
    """
    named = dict(thresholds) if isinstance(thresholds, dict) else {
        f"p_signal >= {float(t):g}": t for t in np.atleast_1d(np.asarray(thresholds, dtype=float))}
    if not named:
        raise ValueError("operating_points needs at least one threshold")
    thr = np.array([float(t) for t in named.values()])
    if not np.all(np.isfinite(thr)):
        bad = [k for k, t in named.items() if not np.isfinite(float(t))]
        raise ValueError(f"thresholds must be finite numbers; not finite: {bad}")
    yt, s = _pair(y_true, p_signal, "p_signal")
    n_sig = int(np.count_nonzero(yt == signal))
    if n_sig == 0 or n_sig == yt.size:
        raise ValueError(f"operating_points needs signal and non-signal objects, got {n_sig} signal "
                         f"(label {signal!r}) of {yt.size}")
    at = metrics_at_prevalence(yt, s, thr, n_sig / yt.size, signal=signal, cl=cl, n_boot=n_boot, seed=seed,
                               reference_fpr=reference_fpr)
    rows = []
    for name, (_, a) in zip(named, at.iterrows(), strict=True):
        tp, n_sel = int(a["tp"]), int(a["tp"] + a["fp"])
        rows.append({"operating_point": name, "threshold": float(a["threshold"]), "prevalence": n_sig / yt.size,
                     "n_scored": int(yt.size), "n_signal": n_sig, "n_selected": n_sel, "tp": tp,
                     **precision_recall_from_counts(tp, n_sel, n_sig, cl),
                     **{k: float(a[k]) for k in THRESHOLD_FREE_COLUMNS}, "cl": float(cl)})
    return pd.DataFrame(rows, columns=list(OPERATING_POINT_COLUMNS))


def validation_thresholds(y_true, p_signal, precision: float | None = None, signal=SIGNAL,
                          fixed: float = 0.5) -> dict[str, float]:
    """The book's standard operating thresholds, chosen on a validation part (never on the part reported).

    ``{"p_signal >= fixed": fixed, "max F1 on validation": t_F1, "precision >= P on validation": t_P}``:
    the fixed threshold, the threshold of highest signal F1 (:func:`threshold_for_fbeta`) and, when
    ``precision`` is given, the lowest threshold reaching it (:func:`threshold_for_precision`, which raises
    naming the target and the reachable range when no threshold reaches it).  Pass the result to
    :func:`operating_points` with the scores of the part reported on.
    """
    yt, s = _pair(y_true, p_signal, "p_signal")
    is_sig = yt == signal
    out = {f"p_signal >= {fixed:g}": float(fixed),
           "max F1 on validation": threshold_for_fbeta(is_sig, s)["threshold"]}
    if precision is not None:
        out[f"precision >= {precision:g} on validation"] = threshold_for_precision(is_sig, s, precision)["threshold"]
    return out
