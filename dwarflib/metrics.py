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
small verification sample, and :func:`bootstrap_ci` (percentile bootstrap over objects) for any metric.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from astropy.stats import binom_conf_interval

from .labels import SIGNAL

__all__ = [
    "accuracy",
    "binomial_interval",
    "bootstrap_ci",
    "confusion_matrix_table",
    "fbeta",
    "signal_counts",
    "signal_pr_curve",
    "signal_precision_recall_f",
    "signal_summary",
    "threshold_for_fbeta",
    "threshold_for_precision",
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


def signal_summary(y_true, y_pred, signal=SIGNAL, beta: float = 1.0, cl: float = 0.95) -> dict:
    """:func:`signal_precision_recall_f` plus Wilson intervals on precision and recall.

    Adds ``precision_low, precision_high`` (binomial: tp successes out of n_selected) and
    ``recall_low, recall_high`` (tp out of support) at confidence level ``cl``; NaN where n = 0.
    This is the right interval for small verification samples (tens of objects), where the
    bootstrap is unreliable.
    """
    out = signal_precision_recall_f(y_true, y_pred, signal=signal, beta=beta)
    out["precision_low"], out["precision_high"] = binomial_interval(out["tp"], out["n_selected"], cl)
    out["recall_low"], out["recall_high"] = binomial_interval(out["tp"], out["support"], cl)
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
        When no threshold reaches the target (the message gives the best precision achievable).
    """
    if not 0 < target_precision <= 1:
        raise ValueError(f"target_precision must be in (0, 1], got {target_precision}")
    curve = signal_pr_curve(y_true_is_signal, p_signal)
    ok = curve["precision"].to_numpy() >= target_precision
    if not ok.any():
        best = np.nanmax(curve["precision"].to_numpy()) if len(curve) else float("nan")
        raise ValueError(f"no threshold reaches precision {target_precision}; best achievable is {best:.4f}")
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
        from .labels import CLASS_NAMES

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


def binomial_interval(k, n, cl: float = 0.95):
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
    cl: float = 0.95,
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
