"""One estimator interface for every algorithm, binary or 7-class.

``make_model(algorithm, scheme)`` returns a scikit-learn classifier (``fit(X, y, sample_weight=None)``,
``predict_proba``, ``predict``, ``classes_``) for each of :data:`ALGORITHMS`, so one cross-validation
loop trains and evaluates them all; :func:`p_signal` returns the signal probability of any of them.

Label conventions (see :mod:`dwarflib.labels`)
----------------------------------------------
* ``scheme="7class"``: labels 0..6, signal = 0 (:data:`dwarflib.labels.SIGNAL`).
* ``scheme="binary"``: labels 1 = signal, 0 = rest (:func:`dwarflib.labels.to_binary`);
  :func:`labels_for_scheme` converts 7-class labels.  Fitting a ``"7class"`` model on 0/1 labels
  raises, because it would silently swap signal and background.

Missing values
--------------
Features may contain NaN (e.g. no WISE detection, ``FLUX_IVAR_W1 = 0``, or a colour with a
non-positive flux), never +-inf (that raises, naming the column and row).

* random forest and XGBoost use NaN natively (a learned default direction at each split);
* SVM and the scikit-learn MLP get ``SimpleImputer(strategy="median", add_indicator=True)`` followed by
  ``StandardScaler``: the median of the training rows replaces NaN and one 0/1 "was missing" column is
  added for every feature that had NaN in training, so "no WISE detection" stays visible to the model;
* the PyTorch network (:class:`dwarflib.torchnet.TorchMLPClassifier`) does the same inside itself.

Class imbalance
---------------
``class_weight="balanced"`` (default) gives every training object the weight
``n_samples / (n_classes * n_in_its_class)``, multiplied by any user ``sample_weight``, and passes it as
``sample_weight`` to the underlying estimator.  This works the same way for all five algorithms
(random forest, XGBoost, SVC and, since scikit-learn 1.7, ``MLPClassifier.fit`` accept sample weights;
the PyTorch network uses them in its weighted cross-entropy), so no algorithm is resampled.
The early stopping of both networks also sees the weights (scikit-learn: weighted validation accuracy,
i.e. balanced accuracy; PyTorch: weighted validation cross-entropy).
Probabilities of a balanced model are those of a class-balanced world: thresholds on ``p_signal`` are
chosen on a validation set (:func:`dwarflib.metrics.threshold_for_precision`), never fixed at 0.5 a priori.

Speed (defaults)
----------------
Defaults are chosen so that 5 algorithms x 2 schemes x 5-fold cross-validation on ~50,000 rows x 30
features stays within minutes on 2 cores (see ``benchmarks/bench_models.py``): random forest 100 trees
(``min_samples_leaf=5``, each tree on a 30 % bootstrap), XGBoost ``hist`` 300 rounds of depth 4,
scikit-learn MLP (64, 32) with early stopping, PyTorch MLP (128, 64), AdamW lr 3e-3, at most 40 epochs with
early stopping (patience 5), and an RBF SVM
fitted on a stratified subsample of at most ``max_train_rows = 5000`` rows (kernel SVM training scales as
n^2 - n^3, and its probabilities come from Platt scaling with 3-fold cross-validation,
``CalibratedClassifierCV(SVC(), method="sigmoid", ensemble=False)``, which replaces the
``SVC(probability=True)`` deprecated in scikit-learn 1.9).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.model_selection import StratifiedKFold
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import check_is_fitted

from .feature_checks import as_feature_array, check_no_inf
from .labels import SIGNAL

__all__ = [
    "ALGORITHMS",
    "DEFAULT_PARAMS",
    "SCHEMES",
    "SignalClassifier",
    "as_feature_array",
    "check_no_inf",
    "labels_for_scheme",
    "make_model",
    "p_signal",
    "signal_label",
    "stratified_subsample",
]

ALGORITHMS = ("random_forest", "xgboost", "svm", "sklearn_mlp", "torch_mlp")
SCHEMES = ("7class", "binary")

#: Default hyper-parameters of the underlying estimator of each algorithm (overridden by ``**params``).
DEFAULT_PARAMS: dict[str, dict] = {
    "random_forest": dict(n_estimators=100, min_samples_leaf=5, max_samples=0.3, max_features="sqrt"),
    "xgboost": dict(
        n_estimators=300,
        max_depth=4,
        learning_rate=0.1,
        tree_method="hist",
        max_bin=64,
        subsample=1.0,
        colsample_bytree=1.0,
    ),
    "svm": dict(C=1.0, gamma="scale", cache_size=500),
    "sklearn_mlp": dict(
        hidden_layer_sizes=(64, 32),
        alpha=1e-4,
        batch_size=256,
        learning_rate_init=1e-3,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=5,
        max_iter=100,
    ),
    "torch_mlp": dict(
        hidden_layers=(128, 64), dropout=0.1, lr=3e-3, max_epochs=40, patience=5, batch_size=512
    ),
}

#: Default ``max_train_rows`` (stratified subsample inside the estimator); None = all rows.
DEFAULT_MAX_TRAIN_ROWS = {"svm": 5000}

#: Number of Platt-scaling cross-validation folds for the SVM.
SVM_CALIBRATION_FOLDS = 3


def signal_label(scheme: str) -> int:
    """Label of the signal class in ``scheme``: 0 for ``"7class"``, 1 for ``"binary"``."""
    if scheme == "7class":
        return SIGNAL
    if scheme == "binary":
        return 1
    raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")


def labels_for_scheme(y7, scheme: str) -> np.ndarray:
    """7-class labels (signal = 0) -> the labels of ``scheme`` (unchanged, or 1 = signal / 0 = rest)."""
    y7 = np.asarray(y7)
    if scheme == "7class":
        return y7
    if scheme == "binary":
        return (y7 == SIGNAL).astype(np.int8)
    raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")


def stratified_subsample(y, n_rows: int, random_state=0, min_per_class: int = 1) -> np.ndarray:
    """Sorted indices of a stratified random subsample of ``n_rows`` rows (all rows if fewer).

    Each class keeps its fraction (largest-remainder rounding), and at least ``min_per_class`` rows of
    every class (all of them if it has fewer), so the subsample can exceed ``n_rows`` by at most
    ``n_classes * min_per_class`` rows.
    """
    y = np.asarray(y)
    if n_rows >= y.size:
        return np.arange(y.size)
    rng = np.random.default_rng(random_state)
    classes, inv, counts = np.unique(y, return_inverse=True, return_counts=True)
    quota = counts * (n_rows / y.size)
    take = np.maximum(np.floor(quota).astype(int), max(int(min_per_class), 1))
    rest = n_rows - take.sum()
    if rest > 0:
        order = np.argsort(-(quota - np.floor(quota)), kind="stable")
        take[order[:rest]] += 1
    take = np.minimum(take, counts)
    out = [rng.choice(np.flatnonzero(inv == k), size=take[k], replace=False) for k in range(classes.size)]
    return np.sort(np.concatenate(out))


class SignalClassifier(ClassifierMixin, BaseEstimator):
    """Wrap any probabilistic classifier with NaN handling, class weighting and label checks.

    Parameters
    ----------
    estimator : classifier
        Unfitted scikit-learn-API classifier whose ``fit`` accepts ``sample_weight``; cloned in ``fit``.
    scheme : {"7class", "binary"}
        Label convention (signal = 0, or signal = 1 with 0 = rest); checked in ``fit``.
    preprocess : {"passthrough", "impute_scale"}
        ``"impute_scale"``: median imputation with missing-value indicators, then standardisation
        (fitted on the training rows).  ``"passthrough"``: NaN reaches the estimator (trees, XGBoost,
        the PyTorch network).
    class_weight : {"balanced", None}
        ``"balanced"`` multiplies ``sample_weight`` by n / (n_classes * n_class).
    max_train_rows : int or None
        Fit on a stratified random subsample of at most this many rows (drawn with ``random_state``);
        used for the RBF SVM, whose training time grows as n^2 - n^3.
    random_state : int
        Seed for the subsample (the estimator carries its own seed, set by :func:`make_model`).
    algorithm : str or None
        Descriptive name (one of :data:`ALGORITHMS`), not used in fitting.
    min_rows_per_class : int
        With ``max_train_rows``: keep at least this many rows of every class in the subsample (the
        SVM's internal calibration folds need one row of each class per fold).

    Attributes
    ----------
    classes_ : ndarray
        Sorted labels seen in ``fit``.
    feature_names_in_ : ndarray of str
        Column names when fitted on a DataFrame; prediction re-orders a DataFrame to these.
    n_train_rows_ : int
        Rows actually used (after ``max_train_rows``).
    fit_seconds_ : float
        Wall-clock training time [s].
    """

    def __init__(
        self,
        estimator,
        scheme: str = "7class",
        preprocess: str = "passthrough",
        class_weight: str | None = "balanced",
        max_train_rows: int | None = None,
        random_state: int = 0,
        algorithm: str | None = None,
        min_rows_per_class: int = 1,
    ):
        self.estimator = estimator
        self.scheme = scheme
        self.preprocess = preprocess
        self.class_weight = class_weight
        self.max_train_rows = max_train_rows
        self.random_state = random_state
        self.algorithm = algorithm
        self.min_rows_per_class = min_rows_per_class

    def _check_labels(self, y) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"y must be one-dimensional, got shape {y.shape}")
        if not np.issubdtype(y.dtype, np.integer):
            if np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
                y = y.astype(np.int64)
            else:
                raise ValueError(
                    "labels must be integers (7-class: 0..6 with 0 = signal; binary: 1 = signal)"
                )
        classes = np.unique(y)
        if self.scheme == "binary":
            if not set(classes.tolist()) <= {0, 1}:
                raise ValueError(
                    f"scheme='binary' needs labels 1 = signal, 0 = rest, got {classes.tolist()}; "
                    "convert 7-class labels with dwarflib.labels.to_binary or models.labels_for_scheme"
                )
        elif self.scheme == "7class":
            if classes.tolist() == [0, 1]:
                raise ValueError(
                    "scheme='7class' got only labels 0 and 1: these look like binary labels (1 = signal), "
                    "which would swap signal and background here; use scheme='binary'"
                )
            if SIGNAL not in classes:
                raise ValueError(
                    f"scheme='7class' needs the signal class {SIGNAL} in y, got {classes.tolist()}"
                )
        else:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {self.scheme!r}")
        if classes.size < 2:
            raise ValueError(f"y has a single class {classes.tolist()}; a classifier needs at least two")
        return y

    def fit(self, X, y, sample_weight=None):
        """Fit on features X (DataFrame or array, NaN allowed) and labels y of ``self.scheme``."""
        t0 = time.perf_counter()
        Xa, names = as_feature_array(X)
        y = self._check_labels(y)
        if Xa.shape[0] != y.shape[0]:
            raise ValueError(f"X has {Xa.shape[0]} rows but y has {y.shape[0]}")
        sw = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        if sw is not None and (sw.shape != y.shape or np.any(~np.isfinite(sw)) or np.any(sw < 0)):
            raise ValueError("sample_weight must be finite, non-negative and have one value per row")
        if self.max_train_rows is not None and y.size > self.max_train_rows:
            keep = stratified_subsample(
                y, int(self.max_train_rows), self.random_state, min_per_class=self.min_rows_per_class
            )
            Xa, y = Xa[keep], y[keep]
            sw = None if sw is None else sw[keep]
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        if self.class_weight == "balanced":
            w = compute_sample_weight("balanced", y_enc)
            sw = w if sw is None else w * sw
        elif self.class_weight is not None:
            raise ValueError(f"class_weight must be 'balanced' or None, got {self.class_weight!r}")
        if self.preprocess == "impute_scale":
            self.preprocessor_ = make_pipeline(
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                StandardScaler(),
            ).fit(Xa)
            Xt = self.preprocessor_.transform(Xa)
        elif self.preprocess == "passthrough":
            self.preprocessor_ = None
            Xt = Xa
        else:
            raise ValueError(f"preprocess must be 'passthrough' or 'impute_scale', got {self.preprocess!r}")
        self.estimator_ = clone(self.estimator)
        if sw is None:
            self.estimator_.fit(Xt, y_enc)
        else:
            self.estimator_.fit(Xt, y_enc, sample_weight=sw)
        if names is not None:
            self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = Xa.shape[1]
        self.n_train_rows_ = int(y.size)
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def _transform(self, X) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        names = list(self.feature_names_in_) if hasattr(self, "feature_names_in_") else None
        if names is None and isinstance(X, pd.DataFrame):
            Xa, _ = as_feature_array(X.to_numpy(dtype=float, na_value=np.nan))
        else:
            Xa, _ = as_feature_array(X, names)
        if Xa.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {Xa.shape[1]} features, the model was trained on {self.n_features_in_}")
        return Xa if self.preprocessor_ is None else self.preprocessor_.transform(Xa)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n_rows, n_classes), columns in ``classes_`` order."""
        return np.asarray(self.estimator_.predict_proba(self._transform(X)), dtype=np.float64)

    def predict(self, X) -> np.ndarray:
        """Most probable class (labels of ``classes_``)."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def _estimator(algorithm: str, random_state: int, n_jobs: int, params: dict):
    p = {**DEFAULT_PARAMS[algorithm], **params}
    if algorithm == "random_forest":
        return RandomForestClassifier(random_state=random_state, n_jobs=n_jobs, **p)
    if algorithm == "xgboost":
        from xgboost import XGBClassifier  # lazy: optional dependency, heavy to import

        return XGBClassifier(random_state=random_state, n_jobs=n_jobs, **p)
    if algorithm == "svm":
        cv = StratifiedKFold(SVM_CALIBRATION_FOLDS, shuffle=True, random_state=random_state)
        return CalibratedClassifierCV(SVC(kernel="rbf", **p), method="sigmoid", cv=cv, ensemble=False)
    if algorithm == "sklearn_mlp":
        return MLPClassifier(random_state=random_state, **p)
    from .torchnet import TorchMLPClassifier  # lazy: imports torch (seconds)

    # class weighting is done by the wrapper through sample_weight (same as every other algorithm)
    return TorchMLPClassifier(random_state=random_state, n_threads=n_jobs, class_weight=None, **p)


def make_model(
    algorithm: str,
    scheme: str = "7class",
    random_state: int = 0,
    n_jobs: int = 1,
    class_weight: str | None = "balanced",
    max_train_rows: int | None | str = "default",
    **params,
) -> SignalClassifier:
    """The estimator for ``algorithm`` (one of :data:`ALGORITHMS`) and label ``scheme``.

    Parameters
    ----------
    algorithm : str
        ``"random_forest"``, ``"xgboost"``, ``"svm"`` (RBF), ``"sklearn_mlp"`` or ``"torch_mlp"``.
    scheme : {"7class", "binary"}
        Label convention of the ``y`` given to ``fit`` (see the module docstring).
    random_state : int
        Seed of the estimator (and of the SVM subsample): the same seed gives identical
        ``predict_proba`` for every algorithm.
    n_jobs : int
        Threads for the random forest and XGBoost (torch: ``n_threads``); SVM and sklearn MLP use one
        core (BLAS threads aside; set ``OMP_NUM_THREADS``).
    class_weight : {"balanced", None}
        See the module docstring.
    max_train_rows : int, None or "default"
        Stratified training subsample size; "default" is 5000 for the SVM and None (all rows) otherwise.
    **params
        Hyper-parameters of the underlying estimator, overriding :data:`DEFAULT_PARAMS` (for the SVM
        they go to :class:`sklearn.svm.SVC`).

    Returns
    -------
    SignalClassifier
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    signal_label(scheme)  # validates
    if max_train_rows == "default":
        max_train_rows = DEFAULT_MAX_TRAIN_ROWS.get(algorithm)
    preprocess = "impute_scale" if algorithm in ("svm", "sklearn_mlp") else "passthrough"
    return SignalClassifier(
        _estimator(algorithm, random_state, n_jobs, params),
        scheme=scheme,
        preprocess=preprocess,
        class_weight=class_weight,
        max_train_rows=max_train_rows,
        random_state=random_state,
        algorithm=algorithm,
        min_rows_per_class=SVM_CALIBRATION_FOLDS if algorithm == "svm" else 1,
    )


def p_signal(estimator, X, signal: int | None = None) -> np.ndarray:
    """Signal probability of each row of X for a fitted classifier of either scheme.

    The signal label is ``signal`` when given; else ``signal_label(estimator.scheme)`` when the
    estimator has a ``scheme`` (every :func:`make_model` model); else 1 when ``classes_`` is exactly
    [0, 1] (binary convention) and 0 otherwise.  The column is found through ``estimator.classes_``.
    """
    classes = np.asarray(estimator.classes_)
    if signal is None:
        scheme = getattr(estimator, "scheme", None)
        if scheme is not None:
            signal = signal_label(scheme)
        else:
            signal = 1 if classes.tolist() == [0, 1] else SIGNAL
    where = np.flatnonzero(classes == signal)
    if where.size != 1:
        raise ValueError(f"signal label {signal} is not among the estimator's classes_ {classes.tolist()}")
    return np.asarray(estimator.predict_proba(X))[:, where[0]]
