"""Tests of dwarflib.models: one interface, NaN handling, class weighting, determinism."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification

from dwarflib.labels import to_binary
from dwarflib.models import (
    ALGORITHMS,
    SignalClassifier,
    as_feature_array,
    labels_for_scheme,
    make_model,
    p_signal,
    signal_label,
    stratified_subsample,
)

# Small, fast settings so that the whole file runs in seconds; the defaults are exercised in
# benchmarks/bench_models.py.
FAST = {
    "random_forest": dict(n_estimators=20),
    "xgboost": dict(n_estimators=20),
    "svm": dict(),
    "sklearn_mlp": dict(max_iter=60),
    "torch_mlp": dict(max_epochs=20, hidden_layers=(32,), batch_size=64),
}


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=1200,
        n_features=8,
        n_informative=6,
        n_redundant=0,
        n_classes=7,
        n_clusters_per_class=1,
        weights=[0.08, 0.12, 0.12, 0.16, 0.2, 0.16, 0.16],
        class_sep=2.0,
        random_state=0,
    )
    rng = np.random.default_rng(0)
    X[rng.random(X.shape) < 0.1] = np.nan  # e.g. missing WISE photometry
    X[:, 7] = np.where(rng.random(len(y)) < 0.5, np.nan, X[:, 7])
    return pd.DataFrame(X, columns=[f"F{i}" for i in range(8)]), y.astype(np.int8)


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("scheme", ["7class", "binary"])
def test_fit_predict_deterministic(data, algorithm, scheme):
    X, y7 = data
    y = labels_for_scheme(y7, scheme)
    m1 = make_model(algorithm, scheme, random_state=3, **FAST[algorithm]).fit(X, y)
    m2 = make_model(algorithm, scheme, random_state=3, **FAST[algorithm]).fit(X, y)
    p1, p2 = m1.predict_proba(X), m2.predict_proba(X)
    assert p1.shape == (len(y), 7 if scheme == "7class" else 2)
    np.testing.assert_array_equal(p1, p2)  # bitwise identical
    np.testing.assert_allclose(p1.sum(axis=1), 1.0, atol=1e-6)
    assert np.all(np.isfinite(p1))
    np.testing.assert_array_equal(m1.classes_, np.unique(y))
    np.testing.assert_array_equal(m1.predict(X), m1.classes_[p1.argmax(axis=1)])
    ps = p_signal(m1, X)
    np.testing.assert_array_equal(ps, p1[:, list(m1.classes_).index(signal_label(scheme))])
    # the model learns something: signal objects get higher p_signal than the rest (in-sample)
    is_sig = y7 == 0
    assert ps[is_sig].mean() > ps[~is_sig].mean() + 0.2
    assert m1.n_train_rows_ == (min(len(y), m1.max_train_rows) if m1.max_train_rows else len(y))
    assert m1.fit_seconds_ > 0


def test_seed_changes_result(data):
    X, y = data
    a = make_model("random_forest", random_state=0, n_estimators=10).fit(X, y).predict_proba(X)
    b = make_model("random_forest", random_state=1, n_estimators=10).fit(X, y).predict_proba(X)
    assert not np.array_equal(a, b)


def test_scheme_label_checks(data):
    X, y7 = data
    with pytest.raises(ValueError, match="to_binary"):
        make_model("random_forest", "binary").fit(X, y7)
    with pytest.raises(ValueError, match="look like binary"):
        make_model("random_forest", "7class").fit(X, to_binary(y7))
    with pytest.raises(ValueError, match="algorithm"):
        make_model("knn")
    with pytest.raises(ValueError, match="scheme"):
        make_model("svm", "3class")
    with pytest.raises(ValueError, match="single class"):
        make_model("random_forest", "binary").fit(X, np.zeros(len(y7), int))


def test_bad_features_are_named(data):
    X, y = data
    bad = X.copy()
    bad.iloc[5, 2] = np.inf
    with pytest.raises(ValueError, match=r"row 5, F2"):
        make_model("xgboost", n_estimators=5).fit(bad, y)
    m = make_model("random_forest", n_estimators=5).fit(X, y)
    with pytest.raises(ValueError, match=r"\['F3'\]"):
        m.predict_proba(X.drop(columns="F3"))
    # columns re-ordered by name at prediction time
    np.testing.assert_array_equal(m.predict_proba(X[X.columns[::-1]]), m.predict_proba(X))
    obj = X.assign(F0=X["F0"].astype(str))
    with pytest.raises(ValueError, match="non-numeric"):
        m.predict_proba(obj)


@pytest.mark.slow
def test_all_nan_column_and_unseen_nan(data):
    X, y = data
    X2 = X.assign(F1=np.nan)
    for algorithm in ("svm", "sklearn_mlp", "torch_mlp", "xgboost"):
        m = make_model(algorithm, **FAST[algorithm]).fit(X2, y)
        assert np.all(np.isfinite(m.predict_proba(X2)))
    # NaN at prediction in a feature that had none in training is imputed, not an error
    m = make_model("svm").fit(X.fillna(0.0), y)
    assert np.all(np.isfinite(m.predict_proba(X)))


def test_balanced_weighting_raises_signal_recall(data):
    """Class weighting must matter: with a rare signal, balanced weights select more of it."""
    X, y7 = data
    rng = np.random.default_rng(1)
    keep = (y7 != 0) | (rng.random(len(y7)) < 0.25)  # signal becomes ~2 %
    Xr, yb = X[keep], to_binary(y7[keep])
    kw = dict(n_estimators=30, min_samples_leaf=20)
    balanced = make_model("random_forest", "binary", **kw).fit(Xr, yb)
    plain = make_model("random_forest", "binary", class_weight=None, **kw).fit(Xr, yb)
    n_bal = int((balanced.predict(Xr) == 1).sum())
    n_plain = int((plain.predict(Xr) == 1).sum())
    assert n_bal > n_plain


def test_svm_subsample_is_stratified_and_seeded(data):
    X, y = data
    m = make_model("svm", max_train_rows=300).fit(X, y)
    assert m.n_train_rows_ == 300 and "max_train_rows=300" in repr(m)
    assert make_model("svm").max_train_rows == 5000
    idx = stratified_subsample(y, 300, random_state=0)
    np.testing.assert_array_equal(idx, stratified_subsample(y, 300, random_state=0))
    frac_full = np.bincount(y, minlength=7) / len(y)
    frac_sub = np.bincount(y[idx], minlength=7) / 300
    np.testing.assert_allclose(frac_sub, frac_full, atol=1 / 300 + 1e-9)
    # a rare class keeps at least one row
    y_rare = np.r_[np.zeros(1, int), np.ones(999, int)]
    assert 0 in y_rare[stratified_subsample(y_rare, 10)]


def test_clone_and_params(data):
    m = make_model("xgboost", "binary", n_estimators=7)
    c = clone(m)
    assert isinstance(c, SignalClassifier) and c.get_params()["estimator__n_estimators"] == 7
    assert c.scheme == "binary" and c.algorithm == "xgboost"


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_sample_weight_reaches_every_algorithm(data, algorithm):
    """Down-weighting the signal must lower its probability: the weights reach the estimator."""
    X, y = data
    w = np.where(y == 0, 0.02, 1.0)
    kw = dict(FAST[algorithm], class_weight=None)
    plain = make_model(algorithm, **kw).fit(X, y)
    weighted = make_model(algorithm, **kw).fit(X, y, sample_weight=w)
    sig = y == 0
    assert p_signal(weighted, X)[sig].mean() < p_signal(plain, X)[sig].mean() - 0.1


def test_picklable_for_parallel_cv(data):
    """joblib/loky ships fitted models between processes by pickling; that must round-trip."""
    import pickle

    X, y = data
    m = make_model("torch_mlp", **FAST["torch_mlp"]).fit(X, y)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(m)).predict_proba(X), m.predict_proba(X))


def test_sample_weight_is_used(data):
    X, y = data
    w = np.where(y == 0, 0.0, 1.0)  # zero weight on signal -> signal never learned
    m = make_model("xgboost", class_weight=None, n_estimators=20).fit(X, y, sample_weight=w)
    assert p_signal(m, X).max() < 0.2
    with pytest.raises(ValueError, match="sample_weight"):
        m.fit(X, y, sample_weight=-w)


def test_p_signal_inference_without_scheme():
    class Dummy:
        def __init__(self, classes):
            self.classes_ = np.array(classes)

        def predict_proba(self, X):
            return np.tile(np.arange(1, len(self.classes_) + 1, dtype=float), (len(X), 1))

    assert p_signal(Dummy([0, 1]), np.zeros((2, 1)))[0] == 2.0  # binary: signal = 1
    assert p_signal(Dummy([0, 1, 2]), np.zeros((2, 1)))[0] == 1.0  # multi-class: signal = 0
    with pytest.raises(ValueError, match="not among"):
        p_signal(Dummy([1, 2, 3]), np.zeros((2, 1)))


def test_as_feature_array():
    arr, names = as_feature_array(pd.DataFrame({"a": [1, None], "b": [True, False]}))
    assert names == ["a", "b"] and np.isnan(arr[1, 0]) and arr.dtype == np.float64
    with pytest.raises(ValueError, match="2-dimensional"):
        as_feature_array(np.zeros(3))


def test_stratified_subsample_keeps_a_minimum_per_class():
    y = np.array([0] * 2 + [1] * 5000 + [2] * 3)
    keep = stratified_subsample(y, 100, random_state=0, min_per_class=3)
    counts = np.bincount(y[keep], minlength=3)
    assert counts[0] == 2  # all it has
    assert counts[2] == 3
    assert 100 <= stratified_subsample(y, 100, random_state=0).size <= 100 + 3


def test_svm_subsample_survives_a_rare_class():
    """The SVM's 3-fold calibration needs >= 3 rows of each class in its training subsample."""
    rng = np.random.default_rng(1)
    y = np.array([0] * 4 + [1] * 3000 + [2] * 3000)
    X = pd.DataFrame(rng.normal(size=(y.size, 3)) + y[:, None], columns=["a", "b", "c"])
    model = make_model("svm", "7class", random_state=0, max_train_rows=300)
    model.fit(X, y)
    assert model.n_train_rows_ >= 300
    assert set(model.classes_) == {0, 1, 2}
