"""Tests of dwarflib.torchnet.TorchMLPClassifier."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from dwarflib.torchnet import JSON_FILE, WEIGHTS_FILE, TorchMLPClassifier

SMALL = dict(hidden_layers=(32, 16), max_epochs=15, batch_size=64, patience=3)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=1500,
        n_features=6,
        n_informative=5,
        n_redundant=0,
        n_classes=4,
        n_clusters_per_class=1,
        weights=[0.1, 0.3, 0.3, 0.3],
        flip_y=0.05,
        random_state=1,
    )
    rng = np.random.default_rng(1)
    X[rng.random(X.shape) < 0.1] = np.nan
    X[:, 5] = np.where(rng.random(len(y)) < 0.4, np.nan, X[:, 5])
    X[:, 0] = X[:, 0] * 100 + 20  # an unscaled feature (e.g. a magnitude-like offset)
    df = pd.DataFrame(X, columns=["MAG_R", "G_R", "R_Z", "SB_R", "FIBER_FRAC", "Z_W1"])
    return df.iloc[:1000], y[:1000], df.iloc[1000:], y[1000:]


@pytest.fixture(scope="module")
def fitted(data):
    X, y, _, _ = data
    return TorchMLPClassifier(random_state=5, **SMALL).fit(X, y)


@pytest.mark.slow
def test_deterministic_bitwise(data, fitted):
    X, y, Xv, _ = data
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    threads = torch.get_num_threads()
    again = TorchMLPClassifier(random_state=5, **SMALL).fit(X, y)
    np.testing.assert_array_equal(fitted.predict_proba(Xv), again.predict_proba(Xv))
    for (k, a), b in zip(fitted.net_.state_dict().items(), again.net_.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    # the caller's RNG state, thread count and deterministic mode are left as they were
    assert torch.equal(torch.rand(3), before)
    assert torch.get_num_threads() == threads
    other = TorchMLPClassifier(random_state=6, **SMALL).fit(X, y)
    assert not np.array_equal(fitted.predict_proba(Xv), other.predict_proba(Xv))


def test_learns_and_api(data, fitted):
    X, y, Xv, yv = data
    p = fitted.predict_proba(Xv)
    assert p.shape == (len(yv), 4) and p.dtype == np.float64
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert (fitted.predict(Xv) == yv).mean() > 0.6  # chance is ~0.3
    assert list(fitted.feature_names_in_) == list(X.columns)
    assert fitted.n_epochs_ == len(fitted.history_["train_loss"]) == len(fitted.history_["val_loss"])
    assert 0 <= fitted.best_epoch_ < fitted.n_epochs_
    assert fitted.history_["val_loss"][fitted.best_epoch_] == min(fitted.history_["val_loss"])
    c = clone(fitted)
    assert c.get_params() == fitted.get_params() and not hasattr(c, "net_")


def test_preprocessing_matches_sklearn(data):
    X, y, Xv, _ = data
    m = TorchMLPClassifier(validation_fraction=0.0, max_epochs=1, random_state=0).fit(X, y)
    ref = make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()).fit(
        X.to_numpy()
    )
    ours = m.preprocess(Xv)
    theirs = ref.transform(Xv.to_numpy())
    d = X.shape[1]
    np.testing.assert_allclose(ours[:, :d], theirs[:, :d], rtol=1e-4, atol=1e-4)
    # our indicators are kept 0/1 (not standardised)
    np.testing.assert_array_equal(ours[:, d:], np.isnan(Xv.to_numpy()))
    assert ours.dtype == np.float32 and m.n_inputs_ == 2 * d  # every feature had NaN
    # forward_numpy on the preprocessed input is predict_proba
    np.testing.assert_allclose(m.forward_numpy(ours), m.predict_proba(Xv), atol=1e-6)
    # chunked prediction equals one big batch to float32 rounding (GEMM blocking depends on batch size)
    np.testing.assert_allclose(m.predict_proba(Xv, batch_size=7), m.predict_proba(Xv), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(m.predict_proba(Xv, batch_size=7), m.predict_proba(Xv, batch_size=7))


@pytest.mark.slow
def test_eval_set_and_early_stopping(data):
    X, y, Xv, yv = data
    m = TorchMLPClassifier(random_state=0, hidden_layers=(32,), max_epochs=200, patience=2, batch_size=64)
    m.fit(X, y, eval_set=(Xv, yv))
    assert m.n_epochs_ < 200  # stopped early
    assert m.n_epochs_ - 1 - m.best_epoch_ == 2
    with pytest.raises(ValueError, match="not seen in training"):
        m.fit(X, y, eval_set=(Xv, np.full(len(yv), 9)))


def test_class_weight_balanced_raises_rare_recall(data):
    X, y, Xv, yv = data
    kw = dict(SMALL, random_state=0, max_epochs=8)
    bal = TorchMLPClassifier(class_weight="balanced", **kw).fit(X, y)
    raw = TorchMLPClassifier(class_weight=None, **kw).fit(X, y)
    assert bal.class_weights_[0] > 2 * bal.class_weights_[1]
    n_bal = (bal.predict(Xv) == 0).sum()
    n_raw = (raw.predict(Xv) == 0).sum()
    assert n_bal > n_raw


@pytest.mark.slow
def test_temperature_scaling(data):
    X, y, Xv, yv = data
    # a long, regularisation-free fit on few rows is over-confident: T > 1 should fix it
    m = TorchMLPClassifier(
        hidden_layers=(64, 64),
        dropout=0.0,
        weight_decay=0.0,
        max_epochs=150,
        validation_fraction=0.0,
        batch_size=32,
        random_state=0,
        class_weight=None,
    ).fit(X.iloc[:300], y[:300])
    before = m.predict_proba(Xv)
    m.fit_temperature(Xv, yv)
    after = m.predict_proba(Xv)
    assert m.temperature_ > 1.0
    nll0, nll1 = m.temperature_nll_
    assert nll1 < nll0
    np.testing.assert_array_equal(before.argmax(1), after.argmax(1))  # ranking unchanged

    def nll(t):
        z = m.forward_numpy(m.preprocess(Xv), logits=True).astype(np.float64) / t
        z -= z.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        return -logp[np.arange(len(yv)), np.searchsorted(m.classes_, yv)].mean()

    t = m.temperature_
    assert nll(t) == pytest.approx(nll1, rel=1e-4)
    assert nll(t) < nll(1.05 * t) and nll(t) < nll(t / 1.05)  # a minimum


def test_save_load_round_trip(tmp_path, data, fitted):
    _, _, Xv, yv = data
    fitted.fit_temperature(Xv, yv)
    out = fitted.save(tmp_path / "model", metadata={"scheme": "test", "features": list(Xv.columns)})
    assert sorted(p.name for p in out.iterdir()) == [JSON_FILE, WEIGHTS_FILE]
    desc = json.loads((out / JSON_FILE).read_text())
    assert desc["versions"]["torch"] == torch.__version__ and desc["temperature"] == fitted.temperature_
    loaded = TorchMLPClassifier.load(out)
    np.testing.assert_array_equal(loaded.predict_proba(Xv), fitted.predict_proba(Xv))
    np.testing.assert_array_equal(loaded.classes_, fitted.classes_)
    assert loaded.classes_.dtype == fitted.classes_.dtype
    assert list(loaded.feature_names_in_) == list(fitted.feature_names_in_)
    assert loaded.get_params() == fitted.get_params()
    assert loaded.metadata_["scheme"] == "test" and loaded.temperature_ == fitted.temperature_
    with np.load(out / WEIGHTS_FILE, allow_pickle=False) as npz:  # plain arrays only
        assert all(npz[k].dtype == np.float32 for k in npz.files)


def test_load_errors(tmp_path, data, fitted):
    d = fitted.save(tmp_path / "m")
    with pytest.raises(FileNotFoundError, match="model.json"):
        TorchMLPClassifier.load(tmp_path / "nowhere")
    # tampered weights: checksum mismatch
    w = d / WEIGHTS_FILE
    raw = bytearray(w.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    w.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="SHA-256"):
        TorchMLPClassifier.load(d)
    # architecture changed in the JSON (checksum still right): shape mismatch is reported by name
    d2 = fitted.save(tmp_path / "m2")
    desc = json.loads((d2 / JSON_FILE).read_text())
    desc["params"]["hidden_layers"] = [8, 16]
    (d2 / JSON_FILE).write_text(json.dumps(desc))
    with pytest.raises(ValueError, match="shape"):
        TorchMLPClassifier.load(d2)
    # an object array (needs pickle) is refused even with a matching checksum
    d3 = fitted.save(tmp_path / "m3")
    np.savez(d3 / WEIGHTS_FILE, **{"0.weight": np.array([{"a": 1}], dtype=object)})
    desc = json.loads((d3 / JSON_FILE).read_text())
    import hashlib

    desc["weights_sha256"] = hashlib.sha256((d3 / WEIGHTS_FILE).read_bytes()).hexdigest()
    (d3 / JSON_FILE).write_text(json.dumps(desc))
    with pytest.raises(ValueError, match="cannot be read|holds arrays"):
        TorchMLPClassifier.load(d3)
    # broken JSON and missing weights
    (d3 / JSON_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        TorchMLPClassifier.load(d3)
    (d2 / WEIGHTS_FILE).unlink()
    with pytest.raises(FileNotFoundError, match="weights.npz"):
        TorchMLPClassifier.load(d2)


def test_bad_input(data, fitted):
    X, y, Xv, _ = data
    bad = Xv.copy()
    bad.iloc[3, 1] = -np.inf
    with pytest.raises(ValueError, match="row 3, G_R"):
        fitted.predict_proba(bad)
    with pytest.raises(ValueError, match="row 3, G_R"):  # found in the second chunk of 2 rows
        fitted.predict_proba(bad.to_numpy(), batch_size=2)
    # ndarray (float64 or float32) and DataFrame input give the same probabilities
    np.testing.assert_array_equal(fitted.predict_proba(Xv.to_numpy()), fitted.predict_proba(Xv))
    np.testing.assert_array_equal(fitted.predict_proba(Xv.to_numpy(np.float32)), fitted.predict_proba(Xv))
    with pytest.raises(ValueError, match="MAG_R"):
        fitted.predict_proba(Xv.drop(columns="MAG_R"))
    with pytest.raises(ValueError, match="shape"):
        fitted.forward_numpy(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="single class"):
        TorchMLPClassifier().fit(X, np.zeros(len(y)))
