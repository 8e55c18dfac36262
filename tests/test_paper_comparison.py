"""The paper's numbers like for like (issue #12): dwarflib.comparison on small synthetic chapter outputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dwarflib import comparison as C
from dwarflib import metrics, paper
from dwarflib.footprint import DR9_AREA_DEG2, DR9_N_SOURCES

N_TEST, N_SIG, TP, N_SEL = 1000, 20, 5, 8
SOURCES, N_05, N_095, AREA = 2_000_000, 123, 0, 212.0


#: chapter 08's thresholds at its stated simulated precision (verification-operating-points.csv)
STATED_THRESHOLDS = {"SAGA DR3 satellites": 0.515, "ELVES satellites": 0.539, "LVDB dwarfs": 0.723,
                     "DESI EDR": 0.61}


def _write_outputs(d, counts_extra: dict | None = None) -> None:
    pd.DataFrame({"name": ["catalogue", "high_purity", "paper"], "threshold": [0.5, 0.6, 0.95],
                  "n_selected": [N_SEL, 4, 0], "n_signal": [N_SIG] * 3, "tp": [TP, 3, 0]}
                 ).to_csv(d / "nn-test-metrics.csv", index=False)
    split = ["test"] * N_TEST + ["train"] * 3000 + ["validation"] * 1000
    pd.DataFrame({"TARGETID": np.arange(len(split)), "CLASS": 1, "SPLIT": split}).to_csv(
        d / "training-sample-split.csv", index=False)
    counts = {"catalogue": [C.FOOTPRINT_ROW, "Zhang et al. 2025: real DR9 footprint"],
              "sources": [SOURCES, DR9_N_SOURCES], "p_signal >= 0.5": [N_05, paper.N_CANDIDATES.value],
              "p_signal >= 0.95": [N_095, paper.N_HIGH_CONFIDENCE.value], **(counts_extra or {})}
    pd.DataFrame(counts).to_csv(d / "catalogue-counts.csv", index=False)
    nan = float("nan")
    rows = [  # check, sample, source, n, precision, recall, low, high, paper_precision, paper_recall
        ("SAGA DR3 satellites", "6 features", "real", 334, nan, 0.26, 0.21, 0.31, 0.96, 0.68),
        ("SAGA DR3 satellites", "all", "real", 378, nan, 0.23, 0.19, 0.27, nan, nan),
        ("SAGA-feature model", "simulated held-out test", "simulated", 44571, 0.095, 0.31, 0.25, 0.37, nan, nan),
        ("ELVES satellites", "confirmed", "real", 206, nan, 0.30, 0.24, 0.36, 0.97, 0.53),
        ("ELVES-feature model", "simulated held-out test", "simulated", 44571, 0.081, 0.25, 0.2, 0.31, nan, nan),
        ("DESI EDR", "sim to real", "real", 112104, 0.062, 0.284, 0.21, 0.37, 1.0, 0.51),
        ("DESI EDR", "real CV", "real", 112104, 0.068, 0.23, 0.17, 0.32, nan, nan),
        ("DESI EDR", "simulated CV", "simulated", 103387, 0.19, 0.46, 0.41, 0.51, nan, nan),
        ("LVDB dwarfs", "6 <= log M* < 9", "real", 547, nan, 0.22, 0.19, 0.26, nan, nan),
    ]
    cols = ["check", "sample", "source", "n", "precision", "recall", "recall_low", "recall_high",
            "paper_precision", "paper_recall"]
    pd.DataFrame(rows, columns=cols).to_csv(d / "verification-summary.csv", index=False)
    pd.DataFrame({"n": [112104], "n_signal": [116], "tp": [33], "fp": [498], "fn": [83]},
                 index=["sim_to_real"]).to_csv(d / "verification-desi-edr.csv")
    pd.DataFrame({"check": list(STATED_THRESHOLDS), "threshold": list(STATED_THRESHOLDS.values()),
                  "target_precision": 0.1}).to_csv(d / "verification-operating-points.csv", index=False)


def _test_part(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """7-class labels and p_signal whose p >= 0.5 counts are those of nn-test-metrics.csv (TP of N_SEL)."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(N_SIG, int), rng.integers(1, 7, N_TEST - N_SIG)]
    p = np.r_[rng.uniform(0.6, 0.99, TP), rng.uniform(0.05, 0.49, N_SIG - TP),
              rng.uniform(0.5, 0.9, N_SEL - TP), rng.uniform(0.0, 0.3, N_TEST - N_SIG - (N_SEL - TP))]
    return y, p


@pytest.fixture
def outputs(tmp_path):
    _write_outputs(tmp_path)
    return tmp_path


def test_every_paper_number_has_a_row(outputs):
    df = C.build_comparison(outputs, area_deg2=AREA)
    assert list(df.columns) == list(C.COLUMNS)
    assert set(paper.reported_values()) <= set(df["paper_key"])
    assert set(df["paper_key"]) <= set(paper.reported_values())
    for _, row in df.iterrows():  # each row's paper value is the number its key names
        assert row["paper_value"] == pytest.approx(_paper_value(row)), row["quantity"]


def _paper_value(row) -> float:
    value = paper.reported_values()[row["paper_key"]]
    if row["unit"] == "per million sources":
        return value / DR9_N_SOURCES * 1e6
    if row["unit"] == "per deg^2":
        return value / DR9_AREA_DEG2
    if row["unit"].startswith("prevalence"):
        return paper.TEST_RECALL.value
    return value


def test_a_new_paper_number_without_a_row_fails(outputs, monkeypatch):
    monkeypatch.setattr(paper, "N_DWARFS_CONFIRMED", paper.Reported(123.0, "objects", paper.SOURCE), raising=False)
    assert "N_DWARFS_CONFIRMED" in paper.reported_values()
    with pytest.raises(ValueError, match="N_DWARFS_CONFIRMED"):
        C.build_comparison(outputs, area_deg2=AREA)


def test_verdicts_are_allowed_and_every_row_says_why(outputs):
    df = C.build_comparison(outputs, test_part=_test_part(), area_deg2=AREA)
    assert set(df["comparable"]) <= set(C.VERDICTS)
    assert df["reason"].str.len().min() > 20
    assert df["conditions"].str.len().min() > 20
    assert set(df["data"]) <= {"real", "simulated"}
    with pytest.raises(ValueError, match="comparable must be one of"):
        C._row("q", "K", 1, 1, 0, 1, 0.95, "fraction", "real", 0.5, 0.1, "c", "maybe", "r")


def test_density_arithmetic(outputs):
    df = C.build_comparison(outputs, area_deg2=AREA).set_index("quantity")
    per_m = df.loc["candidates per million sources, p_signal >= 0.5"]
    assert per_m["paper_value"] == pytest.approx(paper.N_CANDIDATES.value / DR9_N_SOURCES * 1e6)
    assert per_m["project_value"] == pytest.approx(N_05 / SOURCES * 1e6)
    per_a = df.loc["candidates per deg^2, p_signal >= 0.5"]
    assert per_a["paper_value"] == pytest.approx(paper.N_CANDIDATES.value / DR9_AREA_DEG2)
    assert per_a["project_value"] == pytest.approx(N_05 / AREA)
    low, high = C.poisson_interval(N_05)
    assert per_a["interval_low"] == pytest.approx(low / AREA)
    assert per_a["interval_high"] == pytest.approx(high / AREA)
    assert per_a["interval_low"] < per_a["project_value"] < per_a["interval_high"]
    zero = df.loc["candidates per deg^2, p_signal >= 0.95"]
    assert zero["project_value"] == 0 and zero["interval_low"] == 0
    # 95 % frequentist upper limit of a zero count: -ln(0.025) = 3.689 events
    assert zero["interval_high"] * AREA == pytest.approx(-np.log(0.025), rel=1e-3)
    assert zero["paper_value"] == pytest.approx(paper.N_HIGH_CONFIDENCE.value / DR9_AREA_DEG2)


def test_area_from_the_counts_table_or_stated_missing(tmp_path):
    _write_outputs(tmp_path, counts_extra={"area_deg2": [AREA, DR9_AREA_DEG2]})
    df = C.build_comparison(tmp_path).set_index("quantity")
    assert df.loc["candidates per deg^2, p_signal >= 0.5", "project_value"] == pytest.approx(N_05 / AREA)
    _write_outputs(tmp_path)
    df = C.build_comparison(tmp_path).set_index("quantity")
    row = df.loc["candidates per deg^2, p_signal >= 0.5"]
    assert np.isnan(row["project_value"]) and row["comparable"] == "no" and "area" in row["reason"]


def test_test_part_rows_and_prevalence(outputs):
    y, p = _test_part()
    df = C.build_comparison(outputs, test_part=(y, p), area_deg2=AREA).set_index("quantity")
    base = df.loc["test precision, p_signal >= 0.5"]
    assert base["project_value"] == pytest.approx(TP / N_SEL)
    assert base["prevalence"] == pytest.approx(N_SIG / N_TEST)
    assert "average precision" in base["conditions"]
    prev = df.loc["signal prevalence at which the network reaches the paper's test precision and recall"]
    # at that prevalence the re-weighted precision at the chosen threshold is the paper's
    at = metrics.metrics_at_prevalence(y, p, prev["threshold"], prev["project_value"], n_boot=0).iloc[0]
    assert at["precision"] == pytest.approx(paper.TEST_PRECISION.value, rel=1e-9)
    assert at["recall"] >= paper.TEST_RECALL.value
    assert prev["interval_low"] <= prev["project_value"] <= prev["interval_high"]


def test_test_part_of_another_build_is_refused(outputs):
    y, p = _test_part()
    p = p.copy()
    p[0] = 0.1  # one signal object fewer selected than nn-test-metrics.csv says
    with pytest.raises(ValueError, match="not those of outputs/nn-test-metrics.csv"):
        C.build_comparison(outputs, test_part=(y, p), area_deg2=AREA)


def test_check_rows_and_operating_points(outputs):
    df = C.build_comparison(outputs, area_deg2=AREA).set_index("paper_key")
    edr = df.loc["CHECKS[DESI EDR].precision"]
    pr = metrics.precision_recall_from_counts(33, 531, 116)
    assert edr["project_value"] == pytest.approx(pr["precision"])
    assert edr["interval_low"] == pytest.approx(pr["precision_low"]) and edr["data"] == "real"
    saga_p = df.loc["CHECKS[SAGA DR3].precision"]
    assert saga_p["data"] == "simulated" and saga_p["comparable"] == "no"
    saga_r = df.loc["CHECKS[SAGA DR3].recall"]
    assert saga_r["project_value"] == pytest.approx(0.26) and "0.095" in saga_r["conditions"]
    ops = C.real_recall_operating_points(outputs).set_index("check")
    assert ops.loc["SAGA DR3 satellites", "simulated_precision"] == pytest.approx(0.095)
    assert np.isnan(ops.loc["LVDB dwarfs", "simulated_precision"])
    assert ops["threshold"].to_dict() == STATED_THRESHOLDS  # each check at its own stated-precision threshold
    assert df.loc["CHECKS[SAGA DR3].recall", "threshold"] == STATED_THRESHOLDS["SAGA DR3 satellites"]
    assert "p_signal >= 0.515 (where its simulated precision reaches 0.1)" in saga_r["conditions"]


def test_missing_inputs_are_named(outputs):
    (outputs / "catalogue-counts.csv").unlink()
    with pytest.raises(FileNotFoundError, match="catalogue-counts.csv.*07-candidate-catalogue"):
        C.build_comparison(outputs, area_deg2=AREA)
    _write_outputs(outputs)
    pd.read_csv(outputs / "nn-test-metrics.csv").drop(columns="tp").to_csv(outputs / "nn-test-metrics.csv")
    with pytest.raises(KeyError, match=r"nn-test-metrics.csv.*\['tp'\]"):
        C.build_comparison(outputs, area_deg2=AREA)
