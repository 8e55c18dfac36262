"""Stated against measured sky purity (#12's done-when), and the footprint curves computed like the stored ones."""

from __future__ import annotations

import dataclasses
import json
import types

import numpy as np
import pandas as pd
import pytest

from dwarflib.catalogue_files import format_summary
from dwarflib.completeness import (
    PURITY_TOLERANCE,
    SKY_R_BINS,
    SKY_THRESHOLDS,
    completeness_purity,
    max_stated_purity,
    sky_calibrated_copy,
    sky_curves,
    sky_purity_check,
)
from dwarflib.metrics import binomial_interval, difference_interval
from dwarflib.pipeline import MIN_SELECTED_FOR_PURITY, MODEL_JSON, SKY_CALIBRATION_JSON, load_model
from dwarflib.training import signal_precision_recall, test_part_scores


def _objects(seed=0, n=4000):
    rng = np.random.default_rng(seed)
    r = rng.uniform(15.0, 21.0, n)
    sig = rng.random(n) < 0.1
    pre = rng.random(n) < 0.8
    score = np.where(pre, np.clip(rng.normal(np.where(sig, 0.6, 0.3), 0.2), 0, 1), np.nan)
    return pd.DataFrame({"r": r, "IS_SIGNAL": sig, "PRESELECTED": pre, "P_SIGNAL_SKY": score,
                         "P_SIGNAL": rng.random(n)})


def _stated(purity, low, high, bins=None):
    point = {"threshold": 0.5, "purity": purity, "purity_low": low, "purity_high": high, "completeness": 0.3,
             "completeness_low": 0.2, "completeness_high": 0.4, "n_selected": 100,
             "n_recovered": round(100 * purity)}
    return {**point, "bins": bins if bins is not None else {name: dict(point) for name in SKY_R_BINS}}


def test_sky_curves_score_the_named_column_by_r_bin():
    obj = _objects()
    curves = sky_curves(obj, score="P_SIGNAL_SKY")
    assert list(curves) == ["overall", *SKY_R_BINS]
    ref = completeness_purity(obj.assign(P_SIGNAL=obj["P_SIGNAL_SKY"]), "r", [19.5, 21.0], thresholds=SKY_THRESHOLDS)
    got = curves[[n for n, (lo, _) in SKY_R_BINS.items() if lo == 19.5][0]]
    np.testing.assert_array_equal(got["n_selected"], ref["n_selected"])
    np.testing.assert_array_equal(got["n_recovered"], ref["n_recovered"])
    # the overall completeness counts every true signal object, preselected or not
    assert curves["overall"]["n_signal"][0] == int(obj["IS_SIGNAL"].sum())
    with pytest.raises(ValueError, match="P_SIGNAL_NOPE"):
        sky_curves(obj, score="P_SIGNAL_NOPE")


def test_purity_check_counts_and_intervals_against_brute_force():
    obj = _objects(1)
    sel = (obj["P_SIGNAL_SKY"] >= 0.5).to_numpy()
    check = sky_purity_check(obj, sel, _stated(0.5, 0.45, 0.55))
    assert list(check["r_bin"]) == ["overall", *SKY_R_BINS]
    for _, row in check.iterrows():
        if row["r_bin"] == "overall":
            m = np.ones(len(obj), bool)
        else:
            lo, hi = SKY_R_BINS[row["r_bin"]]
            m = (obj["r"] >= lo).to_numpy() & (obj["r"] < hi).to_numpy()
        k = int((m & sel & obj["IS_SIGNAL"]).sum())
        n = int((m & sel).sum())
        assert (row["n_recovered"], row["n_selected"]) == (k, n)
        assert row["purity"] == pytest.approx(k / n)
        assert (row["purity_low"], row["purity_high"]) == pytest.approx(binomial_interval(k, n, cl=row["cl"]))
        # both samples' noise: Newcombe's interval of stated (50 of 100) minus measured
        d = difference_interval(50, 100, k, n, row["cl"])
        assert (row["purity_difference"], row["purity_difference_low"], row["purity_difference_high"]) == \
            pytest.approx(d)


def test_verdict_uses_the_wider_of_interval_and_tolerance():
    obj = pd.DataFrame({"r": [20.0] * 10, "IS_SIGNAL": [True] * 6 + [False] * 4})
    sel = np.ones(10, bool)  # measured purity 0.6 in every part
    narrow = sky_purity_check(obj, sel, _stated(0.6 - PURITY_TOLERANCE + 0.01, 0.5, 0.56))
    assert set(narrow["verdict"][narrow["n_selected"] > 0]) == {"agrees"}  # inside the tolerance
    far = sky_purity_check(obj, sel, _stated(0.6 - PURITY_TOLERANCE - 0.01, 0.5, 0.56))
    assert set(far["verdict"][far["n_selected"] > 0]) == {"disagrees"}
    wide = sky_purity_check(obj, sel, _stated(0.4, 0.2, 0.65))  # inside the stated interval
    assert wide.loc[0, "verdict"] == "agrees"
    assert set(wide["verdict"][wide["n_selected"] == 0]) == {"nothing selected"}


def test_purity_check_bad_input_is_named():
    obj = _objects(2, n=50)
    with pytest.raises(ValueError, match="one flag per object"):
        sky_purity_check(obj, np.ones(49, bool), _stated(0.5, 0.4, 0.6))
    with pytest.raises(ValueError, match="no r bin"):
        sky_purity_check(obj, np.ones(50, bool), _stated(0.5, 0.4, 0.6, bins={}))


def test_max_stated_purity_ignores_points_with_too_few_selected():
    curve = {"n_selected": [500, 40, MIN_SELECTED_FOR_PURITY, MIN_SELECTED_FOR_PURITY - 1],
             "purity": [0.1, 0.3, 0.45, 0.9]}
    model = types.SimpleNamespace(model_sha256="x" * 64, sky_curves={"curves": {"overall": curve}})
    assert max_stated_purity(model) == 0.45
    with pytest.raises(ValueError, match="no stored sky curves"):
        max_stated_purity(types.SimpleNamespace(model_sha256="y" * 64, sky_curves=None))


def test_test_part_scores_rebuild_the_recorded_test_metrics(small_model, tmp_path):
    model = load_model(small_model)
    y, p = test_part_scores(model)
    counts = np.bincount(y, minlength=model.scheme.n_classes).tolist()
    assert counts == model.meta["training_data"]["class_counts"]["test"]
    for rec in model.meta["test_metrics"]:
        got = signal_precision_recall(y, p, rec["threshold"])
        assert (got["tp"], got["n_selected"]) == (rec["tp"], rec["n_selected"])
    # a training file that is not the recorded one is refused, naming it
    fake = tmp_path / "training-sample.fits"
    fake.write_bytes(b"not the training data")
    moved = dataclasses.replace(model, meta={**model.meta,
                                             "training_data": {**model.meta["training_data"], "path": str(fake)}})
    with pytest.raises(ValueError, match="training-sample.fits: sha256 differs"):
        test_part_scores(moved)


def test_run_summary_names_the_sky_cut_of_a_purity_run():
    summary = {"files_done": 1, "files_total": 1, "files_skipped": 0, "files_failed": 0, "rows_read": 10,
               "rows_preselected": 8, "rows_classified": 8, "rejected": {"r_mag": 2}, "rows_candidates": 3,
               "rows_high_purity": 1, "rows_written": 3, "wall_s": 1.0, "rows_per_s": 10.0, "manifest": "m",
               "failed": [], "catalogue_threshold": 0.5, "high_purity_threshold": 0.6}
    assert "candidates  (P_SIGNAL >= 0.500) : 3" in format_summary(summary)
    point = {"threshold": 0.25, "curve_threshold": 0.25, "purity": 0.5, "purity_low": 0.4, "purity_high": 0.6,
             "completeness": 0.2, "completeness_low": 0.1, "completeness_high": 0.3, "n_selected": 50,
             "n_signal": 100, "cl": 0.95, "bins": {}}
    text = format_summary({**summary, "sky_operating_point": point})
    assert "candidates  (P_SIGNAL_SKY >= 0.250) : 3" in text
    assert "P_SIGNAL >= 0.500) : 3" not in text


@pytest.mark.slow
def test_sky_calibrated_copy_leaves_the_source_alone_and_is_reused(small_model, small_sky, tmp_path):
    before = {p.name: p.read_bytes() for p in small_model.iterdir() if p.is_file()}
    out = tmp_path / "model-sky"
    doc = sky_calibrated_copy(small_model, small_sky, out, workers=1)
    assert {p.name: p.read_bytes() for p in small_model.iterdir() if p.is_file()} == before
    copy = load_model(out)
    assert copy.sky_curves is not None and doc["model_sha256"] == copy.model_sha256
    assert doc["source_model_sha256"] == load_model(small_model).model_sha256 != copy.model_sha256
    stamp = (out / SKY_CALIBRATION_JSON).stat().st_mtime_ns
    again = sky_calibrated_copy(small_model, small_sky, out, workers=1)
    assert again["model_sha256"] == copy.model_sha256
    assert (out / SKY_CALIBRATION_JSON).stat().st_mtime_ns == stamp  # reused, not recomputed
    # a copy calibrated from another model is replaced
    meta = json.loads((out / MODEL_JSON).read_text())
    meta["sky_calibration"]["sky_priors_source"] = "edited"
    (out / MODEL_JSON).write_text(json.dumps(meta))
    sky_calibrated_copy(small_model, small_sky, out, workers=1)
    assert json.loads((out / MODEL_JSON).read_text())["sky_calibration"]["sky_priors_source"] != "edited"
