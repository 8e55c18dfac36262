"""Train and evaluate any classifier the same way: stratified cross-validation of the signal class,
algorithm comparison, permutation importance and feature-group ablation.

Every function here measures the **signal** class (local dwarfs, class 0 of
:class:`dwarflib.labels.ClassScheme`) of a binary or a 7-class model through one number per object,
``p_signal`` (:func:`dwarflib.models.p_signal`). An object is predicted as signal when
``p_signal >= threshold`` (default 0.5), the same rule for binary and 7-class models; ``threshold=None``
uses the 7-class arg-max instead (signal when it is the most probable class).

Labels passed in are always the 7-class labels; a binary model is trained on their binary collapse
(:func:`dwarflib.labels.to_binary`). Folds are stratified on the 7 classes with a fixed seed, so a binary
and a 7-class model, or a model with and without a feature group, are evaluated on exactly the same
objects (paired comparisons).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold

from dwarflib.labels import SIGNAL, to_binary

#: Names of the two modelling schemes (as in :func:`dwarflib.models.make_model`).
BINARY = "binary"
MULTICLASS = "7class"


def _is_binary(scheme: str) -> bool:
    s = str(scheme).lower().replace("-", "").replace("_", "")
    if s == "binary":
        return True
    if s in ("7class", "multiclass", "7"):
        return False
    raise ValueError(f"unknown scheme {scheme!r}: use 'binary' or '7class'")


def training_labels(y, scheme: str) -> np.ndarray:
    """Labels a model of ``scheme`` is trained on: the 7-class labels, or their binary collapse (signal = 1)."""
    y = np.asarray(y)
    return to_binary(y) if _is_binary(scheme) else y


def _new_estimator(make_estimator):
    """A fresh, unfitted estimator from an estimator (cloned) or a zero-argument factory."""
    if hasattr(make_estimator, "fit"):
        return clone(make_estimator)
    if callable(make_estimator):
        return make_estimator()
    raise TypeError(f"make_estimator must be an estimator or a callable, got {type(make_estimator)}")


def p_signal_of(estimator, X) -> np.ndarray:
    """Signal probability of a fitted binary or 7-class estimator (see :func:`dwarflib.models.p_signal`)."""
    from dwarflib.models import p_signal

    return np.asarray(p_signal(estimator, X), dtype=float)


def predicted_signal(estimator, X, threshold: float | None = 0.5, p: np.ndarray | None = None) -> np.ndarray:
    """Boolean signal prediction: ``p_signal >= threshold``, or the arg-max class when ``threshold`` is None."""
    if threshold is not None:
        p = p_signal_of(estimator, X) if p is None else p
        return p >= threshold
    proba = estimator.predict_proba(X)
    classes = np.asarray(estimator.classes_)
    signal_label = 1 if set(classes.tolist()) <= {0, 1} and len(classes) == 2 else SIGNAL
    return classes[np.argmax(proba, axis=1)] == signal_label


def signal_scores(y_true, pred_signal) -> dict[str, float]:
    """Signal precision, recall, F1 and the counts (tp, fp, fn) for 7-class truth and a boolean prediction."""
    from dwarflib.metrics import signal_precision_recall_f

    truth = np.asarray(y_true) == SIGNAL
    pred = np.asarray(pred_signal, dtype=bool)
    precision, recall, f1 = signal_precision_recall_f(truth.astype(int), pred.astype(int), signal=1)
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1),
            "tp": int((truth & pred).sum()), "fp": int((~truth & pred).sum()), "fn": int((truth & ~pred).sum())}


def stratified_subsample(y, max_rows: int | None, seed: int = 0) -> np.ndarray:
    """Indices of a class-stratified random subsample of at most ``max_rows`` rows (all rows if None).

    Each class keeps its share (at least one row per class present), so the imbalance is unchanged.
    """
    y = np.asarray(y)
    n = len(y)
    if max_rows is None or max_rows >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    keep = []
    for cls in np.unique(y):
        idx = np.flatnonzero(y == cls)
        k = max(1, int(round(len(idx) * max_rows / n)))
        keep.append(rng.choice(idx, size=min(k, len(idx)), replace=False))
    return np.sort(np.concatenate(keep))


@dataclass
class CVResult:
    """Result of :func:`cross_validate_signal`.

    Attributes
    ----------
    folds : DataFrame
        One row per fold: fold, n_train, n_test, n_signal_test, tp, fp, fn, precision, recall, f1,
        fit_seconds, predict_seconds, rows_per_second (prediction throughput of ``p_signal``).
    p_signal : ndarray
        Out-of-fold signal probability of every row.
    pred_signal : ndarray of bool
        Out-of-fold signal prediction of every row (the decision rule applied to ``p_signal``).
    y : ndarray
        The 7-class labels.
    fold_of_row : ndarray of int
        The fold in which each row was in the test part.
    """

    folds: pd.DataFrame
    p_signal: np.ndarray
    pred_signal: np.ndarray
    y: np.ndarray
    fold_of_row: np.ndarray

    def summary(self) -> dict[str, float]:
        """Mean and standard deviation (ddof=1) over folds of precision, recall, F1; mean fit time; throughput."""
        f = self.folds
        out: dict[str, float] = {}
        for m in ("precision", "recall", "f1"):
            out[f"{m}_mean"] = float(f[m].mean())
            out[f"{m}_std"] = float(f[m].std(ddof=1)) if len(f) > 1 else float("nan")
        out["fit_seconds"] = float(f["fit_seconds"].mean())
        out["rows_per_second"] = float(f["n_test"].sum() / f["predict_seconds"].sum())
        return out

    def pooled(self) -> dict[str, float]:
        """Signal precision, recall and F1 of the pooled out-of-fold predictions (all rows at once)."""
        return signal_scores(self.y, self.pred_signal)


def cross_validate_signal(make_estimator, X, y, scheme: str = MULTICLASS, n_splits: int = 5, seed: int = 0,
                          threshold: float | None = 0.5, max_train_rows: int | None = None,
                          fit_params: Mapping | None = None) -> CVResult:
    """Stratified k-fold cross-validation of the signal class.

    Parameters
    ----------
    make_estimator : estimator or callable
        An unfitted scikit-learn-compatible estimator (cloned for each fold) or a zero-argument
        factory returning one (e.g. ``lambda: make_model("xgboost", "7class", random_state=0)``).
    X : DataFrame or ndarray
        Feature matrix.
    y : array_like of int
        7-class labels (class 0 = signal). Folds are stratified on them.
    scheme : {'binary', '7class'}
        'binary' trains on signal vs the rest; '7class' on the 7 classes.
    n_splits : int
        Number of folds.
    seed : int
        Seed of the fold assignment (and of the training subsample).
    threshold : float or None
        Decision rule (module docstring).
    max_train_rows : int, optional
        Fit each fold on a class-stratified subsample of at most this many training rows (for
        estimators that scale badly, e.g. the RBF SVM); the test fold is never subsampled.
    fit_params : mapping, optional
        Extra keyword arguments for ``fit``.

    Returns
    -------
    CVResult
    """
    y = np.asarray(y)
    X_df = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
    if len(X_df) != len(y):
        raise ValueError(f"X has {len(X_df)} rows but y has {len(y)}")
    if (y == SIGNAL).sum() < n_splits:
        raise ValueError(f"only {(y == SIGNAL).sum()} signal rows: cannot make {n_splits} stratified folds")
    y_fit_all = training_labels(y, scheme)
    skf = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    p_oof = np.full(len(y), np.nan)
    pred_oof = np.zeros(len(y), dtype=bool)
    fold_of_row = np.full(len(y), -1, dtype=int)
    rows = []
    with warnings.catch_warnings():
        # StratifiedKFold warns when a (non-signal) class has fewer members than folds; that is expected
        # for the rare classes of small real samples and does not affect the signal stratification.
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        splits = list(skf.split(np.zeros(len(y)), y))
    for k, (tr, te) in enumerate(splits):
        sub = stratified_subsample(y[tr], max_train_rows, seed=seed + k)
        tr_fit = tr[sub]
        est = _new_estimator(make_estimator)
        t0 = time.perf_counter()
        est.fit(X_df.iloc[tr_fit], y_fit_all[tr_fit], **dict(fit_params or {}))
        fit_s = time.perf_counter() - t0
        X_te = X_df.iloc[te]
        t0 = time.perf_counter()
        p = p_signal_of(est, X_te)
        pred_s = time.perf_counter() - t0
        pred = predicted_signal(est, X_te, threshold, p=p)
        p_oof[te], pred_oof[te], fold_of_row[te] = p, pred, k
        sc = signal_scores(y[te], pred)
        rows.append({"fold": k, "n_train": len(tr_fit), "n_test": len(te), "n_signal_test": int((y[te] == SIGNAL).sum()),
                     **sc, "fit_seconds": fit_s, "predict_seconds": pred_s,
                     "rows_per_second": len(te) / pred_s if pred_s > 0 else float("inf")})
    return CVResult(folds=pd.DataFrame(rows), p_signal=p_oof, pred_signal=pred_oof, y=y, fold_of_row=fold_of_row)


COMPARISON_COLUMNS: tuple[str, ...] = ("algorithm", "scheme", "precision_mean", "precision_std", "recall_mean",
                                       "recall_std", "f1_mean", "f1_std", "fit_seconds", "rows_per_second")


def compare_algorithms(X, y, algorithms: Sequence[str], schemes: Sequence[str] = (BINARY, MULTICLASS),
                       n_splits: int = 5, seed: int = 0, threshold: float | None = 0.5,
                       max_train_rows: Mapping[str, int] | None = None,
                       params: Mapping[str, Mapping] | None = None,
                       progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Cross-validate every (algorithm, scheme) pair with the same folds.

    Parameters
    ----------
    algorithms : sequence of str
        Names known to :func:`dwarflib.models.make_model` (see :data:`dwarflib.models.ALGORITHMS`).
    schemes : sequence of {'binary', '7class'}
    max_train_rows : mapping algorithm -> int, optional
        Per-algorithm cap on training rows per fold (stratified subsample); recorded in ``n_train``.
    params : mapping algorithm -> mapping, optional
        Extra keyword arguments for ``make_model``.
    progress : callable, optional
        Called with a one-line message after each pair (e.g. ``print``).

    Returns
    -------
    DataFrame
        Columns :data:`COMPARISON_COLUMNS` plus ``n_splits`` and ``n_train`` (mean training rows per fold).
        Standard deviations are over folds (ddof=1); ``fit_seconds`` is the mean per fold and
        ``rows_per_second`` the ``p_signal`` throughput on the test folds.
    """
    from dwarflib.models import make_model

    max_train_rows = dict(max_train_rows or {})
    params = dict(params or {})
    rows = []
    for alg in algorithms:
        for scheme in schemes:
            def factory(alg=alg, scheme=scheme):
                return make_model(alg, scheme, random_state=seed, **dict(params.get(alg, {})))

            res = cross_validate_signal(factory, X, y, scheme=scheme, n_splits=n_splits, seed=seed,
                                        threshold=threshold, max_train_rows=max_train_rows.get(alg))
            row = {"algorithm": alg, "scheme": scheme, **res.summary(), "n_splits": n_splits,
                   "n_train": float(res.folds["n_train"].mean())}
            rows.append(row)
            if progress is not None:
                progress(f"{alg:>10s} {scheme:>7s}: P={row['precision_mean']:.3f} R={row['recall_mean']:.3f} "
                         f"fit {row['fit_seconds']:.1f} s")
    df = pd.DataFrame(rows)
    return df[[*COMPARISON_COLUMNS, "n_splits", "n_train"]]


def best_algorithm(table: pd.DataFrame, metric: str = "f1_mean") -> pd.Series:
    """The row of a :func:`compare_algorithms` table with the highest ``metric`` (ties: faster fit first)."""
    ordered = table.sort_values([metric, "fit_seconds"], ascending=[False, True], kind="stable")
    return ordered.iloc[0]


# --------------------------------------------------------------------------------------------------------------
# scores used for importance and ablation


def recall_at_precision(y_true, p_signal, target_precision: float = 0.9) -> float:
    """Highest signal recall reachable with signal precision >= ``target_precision`` (0 if never reached)."""
    from dwarflib.metrics import signal_pr_curve

    truth = (np.asarray(y_true) == SIGNAL).astype(int)
    curve = signal_pr_curve(truth, np.asarray(p_signal, dtype=float), signal=1)
    precision, recall = np.asarray(curve[0]), np.asarray(curve[1])
    ok = precision >= target_precision
    return float(recall[ok].max()) if ok.any() else 0.0


def _score(metric: str, y_true, p, threshold: float, target_precision: float) -> float:
    if metric == "recall_at_precision":
        return recall_at_precision(y_true, p, target_precision)
    sc = signal_scores(y_true, p >= threshold)
    if metric not in ("precision", "recall", "f1"):
        raise ValueError(f"unknown metric {metric!r}: use 'f1', 'precision', 'recall' or 'recall_at_precision'")
    return sc[metric]


def permutation_importance_signal(estimator, X: pd.DataFrame, y, metric: str = "f1",
                                  groups: Mapping[str, Sequence[str]] | None = None, n_repeats: int = 5,
                                  seed: int = 0, threshold: float = 0.5,
                                  target_precision: float = 0.9) -> pd.DataFrame:
    """Drop of a signal score when a feature (or a whole group of features) is randomly permuted.

    Parameters
    ----------
    estimator : fitted estimator
        Binary or 7-class; scored through ``p_signal``.
    X : DataFrame
        Held-out feature matrix (never the training rows).
    y : array_like of int
        7-class labels of ``X``.
    metric : {'f1', 'precision', 'recall', 'recall_at_precision'}
        Signal score: at ``p_signal >= threshold``, or the recall at ``target_precision``.
    groups : mapping name -> columns, optional
        Permute these column sets jointly (same row permutation for every column of a group), which
        measures what a group carries together; default: every column on its own.
    n_repeats : int
        Permutations per feature or group.

    Returns
    -------
    DataFrame
        ``feature`` (or group name), ``n_columns``, ``baseline``, ``importance_mean``, ``importance_std``
        (baseline minus permuted score, over repeats), sorted by decreasing importance.
    """
    if not isinstance(X, pd.DataFrame):
        raise TypeError("X must be a pandas DataFrame with named feature columns")
    y = np.asarray(y)
    units = dict(groups) if groups is not None else {c: [c] for c in X.columns}
    for name, cols in units.items():
        missing = [c for c in cols if c not in X.columns]
        if missing:
            raise KeyError(f"group {name!r}: columns {missing} not in X")
    rng = np.random.default_rng(seed)
    base = _score(metric, y, p_signal_of(estimator, X), threshold, target_precision)
    rows = []
    for name, cols in units.items():
        drops = []
        for _ in range(n_repeats):
            Xp = X.copy()
            perm = rng.permutation(len(X))
            Xp[list(cols)] = X[list(cols)].to_numpy()[perm]
            drops.append(base - _score(metric, y, p_signal_of(estimator, Xp), threshold, target_precision))
        rows.append({"feature": name, "n_columns": len(cols), "baseline": base,
                     "importance_mean": float(np.mean(drops)),
                     "importance_std": float(np.std(drops, ddof=1)) if n_repeats > 1 else float("nan")})
    return pd.DataFrame(rows).sort_values("importance_mean", ascending=False, kind="stable").reset_index(drop=True)


def paired_bootstrap(y_true, pred_a, pred_b, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Bootstrap (resampling rows) of signal precision, recall, F1 of two predictions and their difference b - a.

    The same resampled rows score both predictions, so the interval on the difference accounts for the
    pairing. Returns one row per metric with ``a``, ``b``, ``delta`` (point values on all rows) and the
    ``level`` percentile intervals ``a_low``, ``a_high``, ``b_low``, ``b_high``, ``delta_low``, ``delta_high``.
    """
    truth = np.asarray(y_true) == SIGNAL
    a = np.asarray(pred_a, dtype=bool)
    b = np.asarray(pred_b, dtype=bool)
    n = len(truth)
    rng = np.random.default_rng(seed)

    def prf(t, p):
        tp = (t & p).sum(axis=-1)
        fp = (~t & p).sum(axis=-1)
        fn = (t & ~p).sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            prec = tp / (tp + fp)
            rec = tp / (tp + fn)
            f1 = 2 * tp / (2 * tp + fp + fn)
        return {"precision": prec, "recall": rec, "f1": f1}

    point_a, point_b = prf(truth, a), prf(truth, b)
    boot_a: dict[str, list] = {m: [] for m in point_a}
    boot_b: dict[str, list] = {m: [] for m in point_a}
    chunk = max(1, min(n_boot, 2_000_000 // max(n, 1)))
    done = 0
    while done < n_boot:
        m = min(chunk, n_boot - done)
        idx = rng.integers(0, n, size=(m, n))
        sa, sb = prf(truth[idx], a[idx]), prf(truth[idx], b[idx])
        for k in boot_a:
            boot_a[k].append(sa[k])
            boot_b[k].append(sb[k])
        done += m
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    rows = []
    for k in point_a:
        ba, bb = np.concatenate(boot_a[k]), np.concatenate(boot_b[k])
        d = bb - ba
        rows.append({"metric": k, "a": float(point_a[k]), "b": float(point_b[k]),
                     "delta": float(point_b[k] - point_a[k]),
                     "a_low": float(np.nanpercentile(ba, q[0])), "a_high": float(np.nanpercentile(ba, q[1])),
                     "b_low": float(np.nanpercentile(bb, q[0])), "b_high": float(np.nanpercentile(bb, q[1])),
                     "delta_low": float(np.nanpercentile(d, q[0])), "delta_high": float(np.nanpercentile(d, q[1]))})
    return pd.DataFrame(rows)


def group_ablation(X: pd.DataFrame, y, groups: Mapping[str, Sequence[str]], make_estimator: Callable | object,
                   scheme: str = MULTICLASS, n_splits: int = 5, seed: int = 0, threshold: float | None = 0.5,
                   n_boot: int = 1000, level: float = 0.95, max_train_rows: int | None = None) -> pd.DataFrame:
    """Change in signal precision / recall / F1 when each feature group is removed.

    The full model and every ablated model are cross-validated on the same folds (same ``seed``); the
    pooled out-of-fold predictions are compared with :func:`paired_bootstrap`.

    Parameters
    ----------
    groups : mapping name -> columns
        Feature groups to drop one at a time (e.g. :data:`dwarflib.features.FEATURE_GROUPS` restricted to
        the columns of ``X``). A group with no column in ``X`` raises ``KeyError``.
    make_estimator : estimator or callable
        As in :func:`cross_validate_signal`; must accept any subset of the columns.

    Returns
    -------
    DataFrame
        One row per model (``'all features'`` first, then ``'without <group>'``) with ``dropped``,
        ``n_features``, pooled ``precision``/``recall``/``f1`` with ``*_low``/``*_high`` intervals, and
        ``delta_*`` (ablated minus all features) with their intervals (zero for the full model).
    """
    if not isinstance(X, pd.DataFrame):
        raise TypeError("X must be a pandas DataFrame with named feature columns")
    for name, cols in groups.items():
        present = [c for c in cols if c in X.columns]
        if not present:
            raise KeyError(f"group {name!r} has no column in X")
    full = cross_validate_signal(make_estimator, X, y, scheme=scheme, n_splits=n_splits, seed=seed,
                                 threshold=threshold, max_train_rows=max_train_rows)
    models: list[tuple[str, str, int, np.ndarray]] = [("all features", "", X.shape[1], full.pred_signal)]
    for name, cols in groups.items():
        keep = [c for c in X.columns if c not in set(cols)]
        if not keep:
            continue
        res = cross_validate_signal(make_estimator, X[keep], y, scheme=scheme, n_splits=n_splits, seed=seed,
                                    threshold=threshold, max_train_rows=max_train_rows)
        models.append((f"without {name}", name, len(keep), res.pred_signal))
    rows = []
    for label, dropped, nfeat, pred in models:
        boot = paired_bootstrap(y, full.pred_signal, pred, n_boot=n_boot, seed=seed, level=level).set_index("metric")
        row = {"model": label, "dropped": dropped, "n_features": nfeat}
        for m in ("precision", "recall", "f1"):
            row[m] = boot.loc[m, "b"]
            row[f"{m}_low"] = boot.loc[m, "b_low"]
            row[f"{m}_high"] = boot.loc[m, "b_high"]
            row[f"delta_{m}"] = boot.loc[m, "delta"]
            row[f"delta_{m}_low"] = boot.loc[m, "delta_low"]
            row[f"delta_{m}_high"] = boot.loc[m, "delta_high"]
        rows.append(row)
    return pd.DataFrame(rows)
