"""Tests of dwarflib.training: thresholds, precision/recall, the saved model (no pickle) and determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dwarflib.pipeline import MODEL_JSON, calibrated_softmax, load_model
from dwarflib.training import (
    choose_high_purity_threshold,
    signal_precision_recall,
    train_final_model,
)

SMALL_SEARCH = [{"hidden_layers": (16,)}, {"hidden_layers": (32, 32)}]


def test_signal_precision_recall_counts():
    y = np.array([0, 0, 0, 1, 2, 0, 6])
    p = np.array([0.9, 0.6, 0.2, 0.7, 0.1, 0.4, 0.55])
    r = signal_precision_recall(y, p, 0.5)
    assert (r["n_selected"], r["tp"], r["n_signal"]) == (4, 2, 4)
    assert r["precision"] == pytest.approx(0.5) and r["recall"] == pytest.approx(0.5)
    assert r["precision_low"] < 0.5 < r["precision_high"]
    empty = signal_precision_recall(y, p, 0.99)
    assert empty["n_selected"] == 0 and np.isnan(empty["precision"])


def test_high_purity_threshold_is_lowest_reaching_the_target():
    rng = np.random.default_rng(1)
    n = 4000
    y = np.where(rng.random(n) < 0.3, 0, 3)
    # signal scores concentrate near 1, contaminants near 0: precision rises with the threshold
    p = np.clip(np.where(y == 0, rng.beta(5, 1.5, n), rng.beta(1.5, 5, n)), 0, 1)
    thr, scan, reached = choose_high_purity_threshold(y, p, target=0.95)
    assert reached
    row = scan.set_index("threshold").loc[thr]
    assert row["precision"] >= 0.95
    lower = scan[(scan["threshold"] < thr) & (scan["n_selected"] >= 10)]
    assert (lower["precision"] < 0.95).all()
    # unreachable target: flagged, and the threshold of maximum precision is returned
    thr2, _, reached2 = choose_high_purity_threshold(y, p, target=1.01)
    assert not reached2 and 0.5 <= thr2 <= 0.995


@pytest.fixture(scope="module")
def trained(small_sky, tmp_path_factory):
    """train_final_model itself on the shared sky (its own seed and search; the in-memory result is tested)."""
    sky = small_sky
    out = tmp_path_factory.mktemp("model")
    res = train_final_model(sky / "training-sample.fits", out, seed=3, max_epochs=15, search=SMALL_SEARCH)
    return sky, out, res


def test_model_folder_is_complete_and_pickle_free(trained):
    sky, out, res = trained
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert all(f.endswith((".json", ".npz")) for f in files), files
    meta = json.loads((out / MODEL_JSON).read_text())
    for key in ("features", "class_scheme", "preselection", "thresholds", "dwarflib_version", "training_data",
                "temperature", "search", "test_metrics", "feature_percentiles", "input_columns"):
        assert key in meta, key
    td = meta["training_data"]
    from dwarflib.conventions import file_sha256

    assert td["sha256"] == file_sha256(sky / "training-sample.fits")
    assert td["seed"] == 3 and td["rows_in"] == td["rows_kept"] + sum(td["rows_removed"].values())
    assert set(meta["thresholds"]) == {"catalogue", "high_purity", "paper"}
    assert meta["thresholds"]["catalogue"] == 0.5 and meta["thresholds"]["paper"] == 0.95
    assert len(meta["search"]) == len(SMALL_SEARCH)
    assert meta["class_scheme"]["names"][0] == "signal"
    assert res.temperature > 0


def test_loaded_model_reproduces_the_trained_probabilities(trained):
    _, out, res = trained
    model = load_model(out)
    from dwarflib import training_sample as ts

    sample = ts.build_training_sample(trained[0] / "training-sample.fits")
    split = ts.split_sample(sample, seed=3)
    p = model.predict_proba(split.X_test.to_numpy(np.float32))
    assert np.allclose(p, res.test["proba"], atol=1e-6)
    # test metrics recomputed from the stored probabilities
    row = res.test_metrics.set_index("name").loc["catalogue"]
    again = signal_precision_recall(split.y_test, p[:, 0], 0.5)
    assert again["tp"] == row["tp"] and again["n_selected"] == row["n_selected"]


@pytest.mark.slow
def test_same_seed_same_model(trained, tmp_path):
    sky, out, res = trained
    res2 = train_final_model(sky / "training-sample.fits", tmp_path, seed=3, max_epochs=15, search=SMALL_SEARCH)
    assert np.array_equal(res.test["proba"], res2.test["proba"])
    a = json.loads((out / MODEL_JSON).read_text())
    b = json.loads((tmp_path / MODEL_JSON).read_text())
    for key in ("thresholds", "temperature", "test_metrics", "features"):
        assert a[key] == b[key]


def test_bad_training_table_is_reported(tmp_path):
    from astropy.table import Table

    t = Table({"RA": [1.0], "DEC": [2.0]})
    path = tmp_path / "bad.fits"
    t.write(path)
    with pytest.raises(ValueError, match="missing required column"):
        train_final_model(path, tmp_path / "m")
    with pytest.raises(FileNotFoundError, match="labelled table not found"):
        train_final_model(tmp_path / "absent.fits", tmp_path / "m")


@pytest.mark.slow
def test_calibration_recovers_temperature_and_prior_shift():
    from dwarflib.training import fit_calibration

    rng = np.random.default_rng(0)
    n, k = 20_000, 4
    z_true = rng.normal(0, 1.5, (n, k))
    p_true = calibrated_softmax(z_true, 1.0, np.zeros(k))
    y = np.array([rng.choice(k, p=p / p.sum()) for p in p_true.astype(float)])
    shift = np.array([1.0, -0.5, 0.0, 2.0])  # what class weighting does to the logits
    z_obs = 2.0 * (z_true + shift)
    t, b = fit_calibration(z_obs, y, k)
    assert t == pytest.approx(2.0, rel=0.05)
    assert np.allclose(b, -(shift - shift.mean()), atol=0.1)
    assert np.abs(calibrated_softmax(z_obs, t, b) - p_true).max() < 0.05
