"""Logic the book's chapters used to compute in notebook cells, now package functions (issue #16):
the median mass-size relation (chapter 1), the ablation verdicts (chapter 4) and the verification summary
rows (chapter 8)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from dwarflib import evaluation as E
from dwarflib import verification as V
from dwarflib.selections import BGS_BRIGHT
from dwarflib.sky import physics as phys

# --- chapter 1: median mass-size relation -------------------------------------------------------------


@pytest.mark.parametrize("dwarf_offset", [0.0, 0.3])
def test_median_log_re_is_the_median_of_drawn_sizes(dwarf_offset):
    model = dataclasses.replace(phys.load_sky_model(), size_dwarf_offset=dwarf_offset)
    g = phys.draw_galaxies(np.random.default_rng(1), 60_000, model, r_limit=21.0)
    sf, q = phys.median_log_re(g["LOGMSTAR"], model, g["Z"])
    median = np.where(g["POP"] == 1, q, sf)
    resid = np.log10(g["RE_KPC"]) - median
    for pop in (0, 1):
        sel = g["POP"] == pop
        assert sel.sum() > 1000
        assert abs(np.median(resid[sel])) < 0.02, (pop, np.median(resid[sel]))
    dwarfs = (g["POP"] == 0) & (g["LOGMSTAR"] < 8)
    assert dwarfs.sum() > 200
    assert abs(np.median(resid[dwarfs])) < 0.03


def test_median_log_re_has_every_term():
    model = dataclasses.replace(phys.load_sky_model(), size_dwarf_offset=0.3,
                                size_dwarf_dlogre=[-0.2, -0.2, -0.2, -0.2, -0.2, -0.1])
    sf, q = phys.median_log_re(np.array([7.0, 9.75, 10.0]), model)
    expected = model.size_sf_a + model.size_sf_b * np.array([7.0, 9.75, 10.0]) + np.array(
        [0.3 * 2 - 0.2, -0.05, 0.0])
    np.testing.assert_allclose(sf, expected)
    assert np.all(q >= sf + model.size_q_dwarf_offset - 1e-12)
    sf_z, _ = phys.median_log_re(np.array([7.0]), model, z=1.0)
    np.testing.assert_allclose(sf_z, sf[0] - model.size_z_beta_sf * np.log10(2.0))


# --- chapter 4: ablation verdicts ----------------------------------------------------------------------

def _ablation(rows):
    out = []
    for model, f1, d, lo, hi in rows:
        out.append({"model": model, "f1": f1, "delta_f1": d, "delta_f1_low": lo, "delta_f1_high": hi})
    return pd.DataFrame(out)


SB, SIZE = "without surface_brightness", "without all size information"


def test_ablation_change_and_verdict():
    t = _ablation([(E.FULL_MODEL, 0.80, 0.0, 0.0, 0.0), (SB, 0.70, -0.10, -0.12, -0.08),
                   (SIZE, 0.85, 0.05, 0.01, 0.09), ("without snr", 0.80, 0.0, -0.01, 0.01)])
    assert E.ablation_change(t, SB) == "worse"
    assert E.ablation_change(t, SIZE) == "better"
    assert E.ablation_change(t, "without snr") == "no change"
    assert E.ablation_verdict(t, SB) == (
        "significantly worse: F1 0.700 vs 0.800 (change -0.100, 95 % [-0.120, -0.080])")
    assert E.ablation_verdict(t, "without snr").startswith("no significant change: F1 0.800 vs 0.800")
    with pytest.raises(KeyError, match="without fibre"):
        E.ablation_verdict(t, "without fibre")


def test_ablation_change_refuses_a_nan_interval():
    t = _ablation([(E.FULL_MODEL, 0.8, 0.0, 0.0, 0.0), (SB, np.nan, np.nan, np.nan, np.nan)])
    with pytest.raises(ValueError, match="not finite"):
        E.ablation_change(t, SB)


@pytest.mark.parametrize(("sb", "size", "expected"), [
    ((-0.1, -0.12, -0.08), (-0.3, -0.35, -0.25), "holds in its strong form"),
    ((-0.01, -0.03, 0.01), (-0.2, -0.25, -0.15), "holds for surface-brightness information"),
    ((-0.01, -0.03, 0.01), (-0.02, -0.05, 0.01), "does not hold"),
])
def test_surface_brightness_verdict(sb, size, expected):
    t = _ablation([(E.FULL_MODEL, 0.8, 0.0, 0.0, 0.0), (SB, 0.8 + sb[0], *sb), (SIZE, 0.8 + size[0], *size)])
    msg = E.surface_brightness_verdict(t, SB, SIZE)
    assert msg.startswith("'Surface brightness is essential' " + expected)
    if expected.startswith("holds for"):
        assert "by 0.200 (25 % of its value)" in msg


# --- chapter 8: verification summary rows --------------------------------------------------------------

def _recall(n, k):
    return V.recall_check(np.r_[np.ones(k), np.zeros(n - k)], np.ones(n, bool))


def _pr(n_signal, tp, fp):
    t = np.r_[np.ones(n_signal, bool), np.zeros(50, bool)]
    p = np.r_[np.ones(tp, bool), np.zeros(n_signal - tp, bool), np.ones(fp, bool), np.zeros(50 - fp, bool)]
    return V.precision_recall(t, p)


def test_summary_rows_assemble_into_one_valid_table():
    rows = [
        *V.saga_summary_rows(_recall(40, 26), _recall(120, 50), _recall(101, 3), _pr(30, 20, 2)),
        *V.elves_summary_rows(_recall(60, 30), _recall(90, 40), _recall(70, 33), 31, _pr(25, 15, 1)),
        *V.edr_summary_rows(_pr(40, 20, 0), _pr(40, 10, 20), _pr(40, 30, 5)),
        *V.lvdb_summary_rows(_recall(80, 20), _recall(200, 30)),
    ]
    df = V.summary_frame(rows)
    assert list(df.columns) == list(V.SUMMARY_COLUMNS)
    assert len(df) == 4 + 5 + 3 + 2
    # the paper's number sits beside the row it is compared with, and only there
    with_paper = df[np.isfinite(df["paper_recall"])]
    assert with_paper["check"].tolist() == ["SAGA DR3 satellites", "ELVES satellites", "DESI EDR"]
    assert with_paper["paper_recall"].tolist() == [V.PAPER_CHECKS[k][1] for k in ("SAGA DR3", "ELVES", "DESI EDR")]
    # counts in the sample text come from the results, not from literals
    hosts = df[df["check"] == "SAGA DR3 hosts"].iloc[0]
    assert "fraction of the 101 MW-mass hosts" in hosts["sample"] and hosts["recall"] == pytest.approx(3 / 101)
    assert df[df["check"] == "ELVES hosts"].iloc[0]["n"] == 31
    assert "(30 signal)" in df[df["check"] == "SAGA-feature model"].iloc[0]["sample"]
    edr = df[df["check"] == "DESI EDR"]
    assert edr["source"].tolist() == ["real", "real", "simulated"]
    assert edr["precision"].iloc[0] == 1.0 and edr["recall"].iloc[0] == 0.5
    assert f"r < {BGS_BRIGHT.r_max:g}" in edr["sample"].iloc[0]
    # recall-only checks have no precision
    assert np.isnan(df[df["check"] == "LVDB dwarfs"]["precision"]).all()


def test_elves_paper_number_sits_beside_the_tractor_system_row_when_given():
    """The paper's ELVES check used DR9 photometry: with a Tractor-system row its number moves there."""
    rows = V.elves_summary_rows(_recall(60, 30), _recall(90, 40), _recall(70, 33), 31, _pr(25, 15, 1),
                                tractor_system=_recall(60, 24), deep_minus_tractor_dex=0.146)
    df = V.summary_frame(rows)
    assert len(df) == 6
    with_paper = df[np.isfinite(df["paper_recall"])]
    assert len(with_paper) == 1 and "Tractor system (-0.146 dex)" in with_paper["sample"].iloc[0]
    assert "radii" not in df["sample"].iloc[2]
    assert with_paper["recall"].iloc[0] == pytest.approx(0.4)
    with pytest.raises(ValueError, match="deep_minus_tractor_dex"):
        V.elves_summary_rows(_recall(60, 30), _recall(90, 40), _recall(70, 33), 31, _pr(25, 15, 1),
                             tractor_system=_recall(60, 24))


def test_result_row_needs_a_recall():
    with pytest.raises(KeyError, match="recall"):
        V.result_row("x", "y", "real", {"n": 3})


def test_with_intervals_merges_each_metric_and_keeps_other_columns():
    t = pd.DataFrame({"n": [10, 0], "precision": [0.5, np.nan], "precision_low": [0.2, np.nan],
                      "precision_high": [0.8, np.nan], "recall": [0.25, 0.0], "recall_low": [0.1, 0.0],
                      "recall_high": [0.5, 0.3]}, index=["a", "b"])
    out = V.with_intervals(t)
    assert list(out.columns) == ["n", "precision [95 % interval]", "recall [95 % interval]"]
    assert out.loc["a", "precision [95 % interval]"] == "0.500 [0.200, 0.800]"
    assert out.loc["b", "precision [95 % interval]"] == "-"
    assert out.loc["b", "recall [95 % interval]"] == "0.000 [0.000, 0.300]"
    with pytest.raises(KeyError, match="f1_low"):
        V.with_intervals(t.assign(f1=0.3), ("f1",))


def test_summary_display_is_narrower_and_loses_no_row():
    df = V.summary_frame([*V.saga_summary_rows(_recall(40, 26), _recall(120, 50), _recall(101, 3),
                                               _pr(30, 20, 2)),
                          *V.lvdb_summary_rows(_recall(80, 20), _recall(200, 30))])
    out = V.summary_display(df)
    assert len(out) == len(df) and len(out.columns) < len(df.columns)
    assert list(out.columns) == ["check", "sample", "source", "n", "precision", "recall [95 % interval]",
                                 "paper P / R"]
    assert out["paper P / R"].iloc[0] == f"{V.PAPER_CHECKS['SAGA DR3'][0]:.2f} / {V.PAPER_CHECKS['SAGA DR3'][1]:.2f}"
    assert out["paper P / R"].iloc[1] == "-"
    assert out["precision"].iloc[0] == "-" and out["precision"].iloc[3] != "-"
