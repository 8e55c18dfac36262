"""The paper's numbers beside the project's, like for like (issue #12).

:func:`build_comparison` makes one table with **at least one row for every number the paper reports**
(:func:`dwarflib.paper.reported_values`): the paper's value, the project's number measured under the closest
conditions the project can reproduce (with its interval), the conditions in words (sample, real or simulated
data, threshold, prevalence), and a ``comparable`` verdict (:data:`VERDICTS`) with its reason.
It reads the machine-readable tables the book's chapters write to ``outputs/`` (:data:`INPUTS`) and, for the
rows that need scores, the chapter-06 network's predictions on the test part of the simulated training sample
(:func:`final_model_test_part`), and of the same network trained on the simulated analogue of the paper's
training set, a pre-DESI spectroscopic compilation (:func:`compilation_test_part`, :func:`compilation_rows`). :func:`write_comparison` writes ``outputs/paper-comparison.csv``.

Candidate counts become densities: per million sources (``count / sources * 1e6``) and per square degree
(``count / area``), with the paper's counts over DR9 (:data:`dwarflib.footprint.DR9_N_SOURCES` sources,
:data:`dwarflib.footprint.DR9_AREA_DEG2` deg^2) and the project's over its simulated footprint; the project's
intervals are Poisson intervals of the count (:func:`poisson_interval`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.stats import poisson_conf_interval
from scipy.stats import norm

from . import metrics, paper, paths
from .conventions import file_sha256
from .footprint import DR9_AREA_DEG2, DR9_N_SOURCES
from .labels import SIGNAL
from .paper_trainset import ensure_compilation
from .pipeline import MODEL_JSON, load_model
from .sky.generate import DEFAULT_SEED, R_LIMIT, ensure_simulated_sky
from .training import test_part, train_final_model

#: The allowed values of the ``comparable`` column.
VERDICTS: tuple[str, ...] = ("yes", "partly", "no")

#: Columns of the comparison table, in order.
COLUMNS: tuple[str, ...] = (
    "quantity", "paper_key", "paper_value", "project_value", "interval_low", "interval_high", "cl", "unit",
    "data", "threshold", "prevalence", "conditions", "comparable", "reason",
)

#: The chapter tables the comparison reads (file name in ``outputs/`` -> chapter that writes it).
INPUTS: dict[str, str] = {
    "nn-test-metrics.csv": "06-neural-network",
    "training-sample-split.csv": "02-training-sample",
    "catalogue-counts.csv": "07-candidate-catalogue",
    "verification-summary.csv": "08-verification",
    "verification-desi-edr.csv": "08-verification",
    "verification-operating-points.csv": "08-verification",
}

#: Paper check -> (``check`` of the real-data row, ``check`` of the simulated held-out row) in
#: ``verification-summary.csv``; ``None``: the chapter states no simulated precision for that model.
CHECK_ROWS: dict[str, tuple[str, str | None]] = {
    "DESI EDR": ("DESI EDR", "DESI EDR"),
    "SAGA DR3": ("SAGA DR3 satellites", "SAGA-feature model"),
    "ELVES": ("ELVES satellites", "ELVES-feature model"),
}
#: Real-data recalls of the verification chapter that the paper does not report (stated with their operating
#: point by :func:`real_recall_operating_points`): ``check`` of the real row -> of the simulated row.
OTHER_REAL_RECALLS: dict[str, str | None] = {"LVDB dwarfs": None}

#: Row of ``nn-test-metrics.csv`` with the catalogue threshold, and of ``catalogue-counts.csv`` for the footprint.
TEST_METRICS_ROW = "catalogue"
FOOTPRINT_ROW = "this book: simulated footprint"
#: Columns of ``catalogue-counts.csv`` with the counts at the catalogue threshold and at the paper's cut.
COUNT_COLUMNS: dict[str, str] = {"N_CANDIDATES": "p_signal >= 0.5", "N_HIGH_CONFIDENCE": "p_signal >= 0.95"}


# --------------------------------------------------------------------------------------------- inputs
#: Columns each input must have.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "nn-test-metrics.csv": ("name", "threshold", "tp", "n_selected", "n_signal"),
    "training-sample-split.csv": ("SPLIT",),
    "catalogue-counts.csv": ("catalogue", "sources", *COUNT_COLUMNS.values()),
    "verification-summary.csv": ("check", "sample", "source", "n", "precision", "recall", "recall_low",
                                 "recall_high", "paper_precision"),
    "verification-desi-edr.csv": ("n", "n_signal", "tp", "fp"),
    "verification-operating-points.csv": ("check", "threshold", "target_precision"),
}


def _read(outputs_dir: Path, name: str) -> pd.DataFrame:
    """A chapter table with its required columns (a clear error naming the file otherwise)."""
    path = Path(outputs_dir) / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: it is written by notebooks/{INPUTS[name]}.md (build that "
                                "chapter first)")
    df = pd.read_csv(path, index_col=0 if name == "verification-desi-edr.csv" else None)
    missing = [c for c in _REQUIRED[name] if c not in df.columns]
    if missing:
        raise KeyError(f"{path}: column(s) {missing} missing (has {list(df.columns)})")
    return df


def _one(df: pd.DataFrame, mask, what: str, name: str) -> pd.Series:
    rows = df[np.asarray(mask, bool)]
    if rows.empty:
        raise KeyError(f"outputs/{name}: no row for {what}")
    return rows.iloc[0]


def poisson_interval(n: int, cl: float = metrics.CONFIDENCE) -> tuple[float, float]:
    """Two-sided frequentist Poisson confidence interval of a count ``n`` (objects) at level ``cl``
    (:func:`astropy.stats.poisson_conf_interval`, ``frequentist-confidence``; lower bound 0 at ``n = 0``)."""
    if n < 0:
        raise ValueError(f"a count must be >= 0, got {n}")
    sigma = float(norm.ppf(0.5 + cl / 2))
    low, high = poisson_conf_interval(int(n), interval="frequentist-confidence", sigma=sigma)
    return float(low), float(high)


def density(count: float, sources: float | None = None, area_deg2: float | None = None) -> float:
    """Candidates per million sources (``count / sources * 1e6``) or per deg^2 (``count / area_deg2``);
    give exactly one of ``sources`` and ``area_deg2``."""
    if (sources is None) == (area_deg2 is None):
        raise ValueError("give exactly one of sources and area_deg2")
    den = sources / 1e6 if sources is not None else area_deg2
    if not den > 0:
        raise ValueError(f"the {'source count' if sources is not None else 'area'} must be positive, got "
                         f"{sources if sources is not None else area_deg2}")
    return float(count) / float(den)


def footprint_area_deg2(n_sources: int, seed: int) -> float:
    """Area [deg^2] of the simulated footprint of ``n_sources`` sources and ``seed`` (from its
    ``summary.json``; the sky is generated into the cache when absent)."""
    sky = ensure_simulated_sky(n_sources=int(n_sources), seed=int(seed))
    return float(json.loads((sky / "summary.json").read_text())["area_deg2"])


def final_model_test_part() -> tuple[np.ndarray, np.ndarray, dict, str]:
    """(y_test, proba_test, model meta, how they were obtained) of the book's final 7-class network
    (``cache_dir("models", "final-7class")``, chapter 06) on the test part of the **simulated** training sample.

    With the model folder present, the test part is rebuilt with the model's split seed and scored; otherwise the
    network is trained exactly as chapter 06 does (``train_final_model(..., seed=0)``, about 100 s).
    """
    sky = ensure_simulated_sky()
    model_dir = paths.cache_dir("models", "final-7class")
    if (model_dir / MODEL_JSON).is_file():
        model = load_model(model_dir)
        y, proba = test_part(model)
        return y, proba, model.meta, f"cached model {model_dir}"
    res = train_final_model(sky / "training-sample.fits", model_dir, seed=0)
    meta = json.loads((model_dir / MODEL_JSON).read_text())
    return np.asarray(res.test["y"]), res.test["proba"], meta, f"trained now into {model_dir} ({res.seconds:.0f} s)"


#: Cache folder (under ``cache_dir``) of the network trained on the simulated pre-DESI compilation.
COMPILATION_MODEL: tuple[str, ...] = ("models", "paper-compilation")
#: Seed of the compilation's completeness draws and hosts (the network's split seed is chapter 06's, 0).
COMPILATION_SEED = 0


def compilation_test_part(sky_seed: int = DEFAULT_SEED) -> tuple[np.ndarray, np.ndarray, dict, str]:
    """(y_test, proba_test, model meta, how they were obtained) of the book's final network trained, exactly as
    chapter 06 trains it (``train_final_model(..., seed=0)``, default search), on the simulated pre-DESI
    compilation (:mod:`dwarflib.paper_trainset`) of the book's training sky (seed ``sky_seed``), scored on that
    compilation's test part.

    The compilation (``cache_dir("paper-trainset")``) and the model (:data:`COMPILATION_MODEL`) are cached; a
    cached model is used only when it was trained on the cached compilation file (same sha256), else retrained
    (about 45 s on one core).
    """
    sky = ensure_simulated_sky(seed=sky_seed)
    path = ensure_compilation(sky, seed=COMPILATION_SEED)
    model_dir = paths.cache_dir(*COMPILATION_MODEL)
    if (model_dir / MODEL_JSON).is_file():
        model = load_model(model_dir)
        if model.meta.get("training_data", {}).get("sha256") == file_sha256(path):
            y, proba = test_part(model)
            return y, proba, model.meta, f"cached model {model_dir}"
    res = train_final_model(path, model_dir, seed=0)
    meta = json.loads((model_dir / MODEL_JSON).read_text())
    return np.asarray(res.test["y"]), res.test["proba"], meta, f"trained now into {model_dir} ({res.seconds:.0f} s)"


# --------------------------------------------------------------------------------------------- rows
def _row(quantity, key, paper_value, value, low, high, cl, unit, data, threshold, prevalence, conditions,
         comparable, reason) -> dict:
    if comparable not in VERDICTS:
        raise ValueError(f"comparable must be one of {VERDICTS}, got {comparable!r} (row {quantity!r})")
    return dict(zip(COLUMNS, (quantity, key, float(paper_value), float(value), float(low), float(high), float(cl),
                              unit, data, float(threshold), float(prevalence), conditions, comparable, reason),
                    strict=True))


_UNKNOWN_MIX = ("the paper's test set composition (class mix, signal prevalence) is not published, and at fixed "
                "recall precision depends on the prevalence")


def _test_rows(outputs_dir: Path, test_part, cl: float) -> list[dict]:
    tm = _read(outputs_dir, "nn-test-metrics.csv")
    r = _one(tm, tm["name"] == TEST_METRICS_ROW, f"name == {TEST_METRICS_ROW!r}",
             "nn-test-metrics.csv")
    split = _read(outputs_dir, "training-sample-split.csv")
    n_test = int((split["SPLIT"] == "test").sum())
    tp, n_sel, n_sig, thr = int(r["tp"]), int(r["n_selected"]), int(r["n_signal"]), float(r["threshold"])
    if not 0 < n_sig < n_test:
        raise ValueError(f"outputs/nn-test-metrics.csv: n_signal {n_sig} does not fit the {n_test} test rows of "
                         "outputs/training-sample-split.csv")
    prev = n_sig / n_test
    pr = metrics.precision_recall_from_counts(tp, n_sel, n_sig, cl)
    where = (f"test part of the simulated training sample ({n_test:,d} objects, {n_sig} signal, signal prevalence "
             f"{prev:.4f}), 7-class network of chapter 06, p_signal >= {thr:g}")
    extra = ""
    rows_scores: list[dict] = []
    if test_part is not None:
        y, p = (np.asarray(a) for a in test_part)
        at = metrics.metrics_at_prevalence(y, p, thr, prev, cl=cl, n_boot=200, seed=0).iloc[0]
        if int(at["tp"]) != tp or int(at["tp"] + at["fp"]) != n_sel or int(at["n_signal"]) != n_sig:
            raise ValueError(
                f"the test-part predictions (tp {int(at['tp'])}, selected {int(at['tp'] + at['fp'])}, signal "
                f"{int(at['n_signal'])}) are not those of outputs/nn-test-metrics.csv (tp {tp}, selected {n_sel}, "
                f"signal {n_sig}): the cached model and the chapter outputs come from different builds")
        extra = (f"; threshold-free: average precision {at['average_precision']:.3f} "
                 f"[{at['average_precision_low']:.3f}, {at['average_precision_high']:.3f}], recall at FPR "
                 f"{at['reference_fpr']:g} {at['recall_at_fpr']:.3f}")
        pp, rr = paper.TEST_SET
        pf = metrics.prevalence_for(pp, rr, y, p, cl=cl)
        at_r = metrics.precision_recall_from_counts(pf["tp"], pf["tp"] + pf["fp"], n_sig, cl)
        rows_scores = [
            _row("test precision at the paper's test recall", "TEST_PRECISION", pp, at_r["precision"],
                 at_r["precision_low"], at_r["precision_high"], cl, "fraction", "simulated", pf["threshold"], prev,
                 f"{where.rsplit(', p_signal', 1)[0]}, p_signal >= {pf['threshold']:.4g} (highest threshold with "
                 f"recall >= the paper's; recall here {pf['tpr']:.3f})",
                 "no", f"same recall, but {_UNKNOWN_MIX}"),
            _row("signal prevalence at which the network reaches the paper's test precision and recall",
                 "TEST_RECALL", rr, pf["prevalence"], pf["prevalence_low"], pf["prevalence_high"], cl,
                 "prevalence (signal fraction)", "simulated", pf["threshold"], pf["prevalence"],
                 f"{where.rsplit(', p_signal', 1)[0]}, p_signal >= {pf['threshold']:.4g} (TPR {pf['tpr']:.3f}, FPR "
                 f"{pf['fpr']:.3g}), precision re-weighted to a signal prevalence pi "
                 "(dwarflib.metrics.prevalence_for)",
                 "partly", "a translation, not a measurement: the paper's pair is reached by this network if its "
                 "test set held this signal fraction (its class-conditional score distributions taken from the "
                 "simulated test part)"),
        ]
    return [
        _row(f"test precision, p_signal >= {thr:g}", "TEST_PRECISION", paper.TEST_PRECISION.value, pr["precision"],
             pr["precision_low"], pr["precision_high"], cl, "fraction", "simulated", thr, prev, where + extra, "no",
             _UNKNOWN_MIX + f"; here the signal is {100 * prev:.2f} % of the test rows"),
        _row(f"test recall, p_signal >= {thr:g}", "TEST_RECALL", paper.TEST_RECALL.value, pr["recall"],
             pr["recall_low"], pr["recall_high"], cl, "fraction", "simulated", thr, prev, where + extra, "partly",
             "recall does not depend on the prevalence, but it depends on the threshold (the paper's decision rule "
             "is not stated in its abstract) and on the signal objects' mix of magnitudes and sizes, which differs "
             "between the simulated sample and the paper's spectroscopic compilation"),
        *rows_scores,
    ]


#: Words for the compilation rows: what the simulated compilation is.
COMPILATION_WORDS = ("simulated pre-DESI compilation (dwarflib.paper_trainset: SDSS-main-like r < 17.77 over the "
                     "footprint, GAMA-like r < 19.8 over 286/7500 of it, SAGA-like r < 20.75 with SAGA's cuts within "
                     "300 kpc of simulated Milky-Way-mass hosts; labels from the truth)")
_COMPILATION_REASON = ("the closest analogue of the paper's training set the project can build: the same kind of "
                       "magnitude-limited spectroscopic compilation, but observed on the simulated sky, with the "
                       "surveys' shares taken from their real areas; the paper's exact compilation and class mix are "
                       "not published")


def compilation_rows(test_part: tuple, threshold: float = 0.5, cl: float = metrics.CONFIDENCE,
                     words: str = COMPILATION_WORDS) -> list[dict]:
    """Rows of the network trained on the simulated compilation, on the compilation's test part.

    ``test_part`` = (7-class labels, p_signal) of that test part (:func:`compilation_test_part`). Rows: precision
    and recall at ``p_signal >= threshold`` (the test part's signal prevalence in ``prevalence``, the
    threshold-free average precision and recall at FPR :data:`dwarflib.metrics.REFERENCE_FPR`, with bootstrap
    intervals, in ``conditions``), the precision at the paper's recall, and the signal prevalence at which the
    network reaches the paper's (precision, recall) pair (:func:`dwarflib.metrics.prevalence_for`); when no
    prevalence can give it (no non-signal object selected at the paper's recall) that row has no project value
    and says why.
    """
    y, p = (np.asarray(a) for a in test_part)
    at = metrics.metrics_at_prevalence(y, p, threshold, float(np.mean(y == SIGNAL)), cl=cl, n_boot=200,
                                       seed=0).iloc[0]
    tp, n_sel, n_sig, n = int(at["tp"]), int(at["tp"] + at["fp"]), int(at["n_signal"]), len(y)
    prev = n_sig / n
    pr = metrics.precision_recall_from_counts(tp, n_sel, n_sig, cl)
    base = (f"test part of the {words} ({n:,d} objects, {n_sig} signal, signal prevalence {prev:.4f}), 7-class "
            "network trained on its training part as in chapter 06")
    where = (f"{base}, p_signal >= {threshold:g}; threshold-free: average precision {at['average_precision']:.3f} "
             f"[{at['average_precision_low']:.3f}, {at['average_precision_high']:.3f}], recall at FPR "
             f"{at['reference_fpr']:g} {at['recall_at_fpr']:.3f} [{at['recall_at_fpr_low']:.3f}, "
             f"{at['recall_at_fpr_high']:.3f}]")
    rows = [
        _row(f"compilation test precision, p_signal >= {threshold:g}", "TEST_PRECISION", paper.TEST_PRECISION.value,
             pr["precision"], pr["precision_low"], pr["precision_high"], cl, "fraction", "simulated", threshold,
             prev, where, "partly", _COMPILATION_REASON + f"; here the signal is {100 * prev:.2f} % of the test rows"),
        _row(f"compilation test recall, p_signal >= {threshold:g}", "TEST_RECALL", paper.TEST_RECALL.value,
             pr["recall"], pr["recall_low"], pr["recall_high"], cl, "fraction", "simulated", threshold, prev, where,
             "partly", _COMPILATION_REASON + "; recall also depends on the threshold, and the paper's decision rule "
             "is not stated in its abstract"),
    ]
    pp, rr = paper.TEST_SET
    q_prev = "signal prevalence at which the compilation-trained network reaches the paper's test precision and recall"
    try:
        pf = metrics.prevalence_for(pp, rr, y, p, cl=cl)
    except ValueError as exc:
        rows.append(_row(q_prev, "TEST_RECALL", rr, float("nan"), float("nan"), float("nan"), cl,
                         "prevalence (signal fraction)", "simulated", float("nan"), float("nan"), base, "no",
                         f"no prevalence gives the paper's pair: {exc}"))
        return rows
    at_r = metrics.precision_recall_from_counts(pf["tp"], pf["tp"] + pf["fp"], n_sig, cl)
    cut = (f"{base}, p_signal >= {pf['threshold']:.4g} (highest threshold with recall >= the paper's; recall "
           f"here {pf['tpr']:.3f}, FPR {pf['fpr']:.3g})")
    rows += [
        _row("compilation test precision at the paper's test recall", "TEST_PRECISION", pp, at_r["precision"],
             at_r["precision_low"], at_r["precision_high"], cl, "fraction", "simulated", pf["threshold"], prev, cut,
             "partly", _COMPILATION_REASON),
        _row(q_prev, "TEST_RECALL", rr, pf["prevalence"], pf["prevalence_low"], pf["prevalence_high"], cl,
             "prevalence (signal fraction)", "simulated", pf["threshold"], pf["prevalence"],
             cut + ", precision re-weighted to a signal prevalence pi (dwarflib.metrics.prevalence_for)", "partly",
             "a translation, not a measurement: the paper's pair is reached by this network if its test set held "
             "this signal fraction (class-conditional score distributions from the simulated compilation's test "
             "part)"),
    ]
    return rows


def _density_rows(outputs_dir: Path, area_deg2: float | None, cl: float) -> list[dict]:
    counts = _read(outputs_dir, "catalogue-counts.csv")
    r = _one(counts, counts["catalogue"] == FOOTPRINT_ROW,
             f"catalogue == {FOOTPRINT_ROW!r}", "catalogue-counts.csv")
    if area_deg2 is None and "area_deg2" in r.index and np.isfinite(float(r["area_deg2"])):
        area_deg2 = float(r["area_deg2"])
    sources = float(r["sources"])
    out = []
    for key, col in COUNT_COLUMNS.items():
        n_paper = getattr(paper, key).value
        n = int(r[col])
        low, high = poisson_interval(n, cl)
        thr = float(col.split(">=")[1])
        cut = f"p_signal >= {thr:g}"
        paper_words = f"paper: {n_paper:,.0f} candidates ({cut}) over DR9"
        proj = f"simulated footprint of chapter 07 (seed unseen in training, preselected, {cut}): {n} candidates"
        out.append(_row(
            f"candidates per million sources, {cut}", key, density(n_paper, sources=DR9_N_SOURCES),
            density(n, sources=sources), density(low, sources=sources), density(high, sources=sources), cl,
            "per million sources", "simulated", thr, float("nan"),
            f"{proj} among {sources:,.0f} simulated sources (r < {R_LIMIT:g}); {paper_words}, {DR9_N_SOURCES:,d} Tractor "
            "sources (order of magnitude)", "no",
            "the denominators differ: DR9's sources reach r of about 23-24 while the simulated sky stops at r = "
            f"{R_LIMIT:g}, so a million sources covers a different area and depth"))
        if area_deg2 is None:
            out.append(_row(f"candidates per deg^2, {cut}", key, density(n_paper, area_deg2=DR9_AREA_DEG2),
                            float("nan"), float("nan"), float("nan"), cl, "per deg^2", "simulated", thr,
                            float("nan"), f"{proj}; footprint area not given", "no",
                            "the simulated footprint's area is not available to the comparison"))
            continue
        out.append(_row(
            f"candidates per deg^2, {cut}", key, density(n_paper, area_deg2=DR9_AREA_DEG2),
            density(n, area_deg2=area_deg2), density(low, area_deg2=area_deg2), density(high, area_deg2=area_deg2),
            cl, "per deg^2", "simulated", thr, float("nan"),
            f"{proj} over {area_deg2:.0f} deg^2; {paper_words}, {DR9_AREA_DEG2:,.0f} deg^2 (order of magnitude)",
            "partly",
            "same quantity on the same kind of sky, but the sky is simulated (its local density is the one fitted to "
            "the DESI EDR rosettes), the footprint is small, and the paper's preselection and candidate definition "
            "are not published in enough detail to be reproduced"))
    return out


def _threshold_row(outputs_dir: Path, cl: float) -> dict:
    tm = _read(outputs_dir, "nn-test-metrics.csv")
    thr = paper.HIGH_CONFIDENCE_THRESHOLD.value
    sel = tm[np.isclose(tm["threshold"].astype(float), thr)]
    n_sel = f"; it selects {int(sel.iloc[0]['n_selected'])} objects of the simulated test part" if len(sel) else ""
    return _row("high-confidence cut on p_signal", "HIGH_CONFIDENCE_THRESHOLD", thr, thr, float("nan"),
                float("nan"), cl, "probability", "simulated", thr, float("nan"),
                f"the same cut applied in chapters 06 and 07 (threshold 'paper'){n_sel}", "partly",
                "the same number, but a different probability: the project's p_signal is calibrated to the class "
                "mix of its simulated training sample, not to the paper's, so the cut selects a different purity")


def _threshold(ops: pd.DataFrame, real_check: str) -> tuple[float, float]:
    """(threshold on p_signal, stated simulated precision it was chosen for; NaN: a fixed threshold) of a real
    check of chapter 08 (``ops``: its ``verification-operating-points.csv``)."""
    row = _one(ops, ops["check"] == real_check, f"check == {real_check!r}", "verification-operating-points.csv")
    return float(row["threshold"]), float(row["target_precision"])


def _threshold_words(thr: float, target: float) -> str:
    return f"p_signal >= {thr:.3f}" + (f" (where its simulated precision reaches {target:g})"
                                       if np.isfinite(target) else "")


def _check_rows(outputs_dir: Path, cl: float) -> list[dict]:
    summ = _read(outputs_dir, "verification-summary.csv")
    ops = _read(outputs_dir, "verification-operating-points.csv")
    out = []
    for name, (real_check, sim_check) in CHECK_ROWS.items():
        p_paper, r_paper = paper.CHECKS[name]
        thr, target = _threshold(ops, real_check)
        real = _one(summ, (summ["check"] == real_check) & (summ["source"] == "real") & summ["paper_precision"].notna(),
                    f"check == {real_check!r}, source real, with the paper's numbers", "verification-summary.csv")
        sim = _simulated(summ, sim_check)
        sim_words = (f"; at this threshold the same model's precision on its simulated held-out test is "
                     f"{sim['precision']:.3f} ({sim['sample']})" if sim is not None else
                     "; the simulated precision at this threshold is not in chapter 08's outputs")
        where = f"real {name} ({int(real['n'])} objects; {real['sample']}), {_threshold_words(thr, target)}"
        out.append(_row(f"{name} recall", f"CHECKS[{name}].recall", r_paper, real["recall"], real["recall_low"],
                        real["recall_high"], cl, "fraction", "real", thr, float("nan"),
                        where + sim_words, "partly",
                        "real objects of the same survey, but a model restricted to the features the real table "
                        "tabulates, trained on the simulated sky, at a threshold whose simulated precision is low; "
                        "the paper's full-feature network and its sample cuts are not reproduced"))
        if np.isfinite(float(real["precision"])):
            edr = _read(outputs_dir, "verification-desi-edr.csv")
            if "sim_to_real" not in edr.index:
                raise KeyError("outputs/verification-desi-edr.csv: no row 'sim_to_real'")
            e = edr.loc["sim_to_real"]
            pr = metrics.precision_recall_from_counts(int(e["tp"]), int(e["tp"] + e["fp"]), int(e["n_signal"]), cl)
            out.append(_row(f"{name} precision", f"CHECKS[{name}].precision", p_paper, pr["precision"],
                            pr["precision_low"], pr["precision_high"], cl, "fraction", "real", thr,
                            int(e["n_signal"]) / int(e["n"]), where + sim_words, "partly",
                            "real objects with real spectroscopic labels, but colours and magnitudes only, a bright "
                            "magnitude-limited table (not the paper's candidate list), and a model trained on the "
                            "simulated sky"))
        elif sim is not None:
            out.append(_row(f"{name} precision (simulated stand-in)", f"CHECKS[{name}].precision", p_paper,
                            sim["precision"], float("nan"), float("nan"), cl, "fraction", "simulated",
                            thr, float("nan"),
                            f"no real precision: {sim['sample']}, {_threshold_words(thr, target)}", "no",
                            f"the {name} tables list members only, so the precision of a candidate list against the "
                            "full survey (the paper's number) cannot be measured; the number given is the restricted "
                            "model's precision on the simulated held-out test, at a different prevalence"))
        else:
            out.append(_row(f"{name} precision", f"CHECKS[{name}].precision", p_paper, float("nan"), float("nan"),
                            float("nan"), cl, "fraction", "real", thr, float("nan"),
                            "no precision in chapter 08's outputs", "no", "not measured"))
    return out


def _simulated(summ: pd.DataFrame, check: str | None) -> pd.Series | None:
    if check is None:
        return None
    rows = summ[(summ["check"] == check) & (summ["source"] == "simulated") & summ["precision"].notna()]
    return rows.iloc[0] if len(rows) else None


def real_recall_operating_points(outputs_dir: str | Path | None = None) -> pd.DataFrame:
    """The verification chapter's real-data recalls (signal-range rows of SAGA, ELVES, LVDB, DESI EDR), each with
    the threshold and the simulated precision of the same restricted model at that threshold (NaN where chapter
    08's outputs carry none). Columns ``check, sample, n, recall, recall_low, recall_high, threshold,
    simulated_precision, simulated_sample``."""
    outputs_dir = Path(outputs_dir) if outputs_dir is not None else paths.outputs_dir()
    summ = _read(outputs_dir, "verification-summary.csv")
    ops = _read(outputs_dir, "verification-operating-points.csv")
    rows = []
    pairs = {real: sim for real, sim in CHECK_ROWS.values()} | OTHER_REAL_RECALLS
    for real_check, sim_check in pairs.items():
        real = _one(summ, (summ["check"] == real_check) & (summ["source"] == "real"), f"check == {real_check!r}",
                    "verification-summary.csv")
        sim = _simulated(summ, sim_check)
        thr, _ = _threshold(ops, real_check)
        rows.append({"check": real_check, "sample": real["sample"], "n": int(real["n"]), "recall": real["recall"],
                     "recall_low": real["recall_low"], "recall_high": real["recall_high"],
                     "threshold": thr,
                     "simulated_precision": sim["precision"] if sim is not None else float("nan"),
                     "simulated_sample": sim["sample"] if sim is not None else "not in chapter 08's outputs"})
    return pd.DataFrame(rows)


def build_comparison(outputs_dir: str | Path | None = None, test_part: tuple | None = None,
                     area_deg2: float | None = None, cl: float = metrics.CONFIDENCE,
                     compilation: tuple | None = None) -> pd.DataFrame:
    """The comparison table (columns :data:`COLUMNS`): at least one row per number of :mod:`dwarflib.paper`.

    Parameters
    ----------
    outputs_dir : path, optional
        Folder with the chapters' tables (:data:`INPUTS`); default :func:`dwarflib.paths.outputs_dir`.
    test_part : (y_true, p_signal), optional
        7-class labels (signal = 0) and signal probabilities of the chapter-06 network on the test part
        (:func:`final_model_test_part`). With them the table adds the precision at the paper's recall, the
        signal prevalence at which the paper's (precision, recall) pair is reached
        (:func:`dwarflib.metrics.prevalence_for`) and the threshold-free figures; they must give the counts of
        ``nn-test-metrics.csv``.
    area_deg2 : float, optional
        Area of the simulated footprint [deg^2] (:func:`footprint_area_deg2`); default: the ``area_deg2`` column
        of ``catalogue-counts.csv`` if it has one, else the per-deg^2 rows have no project value.
    cl : float
        Confidence level of every interval (Wilson for fractions, Poisson for counts).
    compilation : (y_true, p_signal), optional
        Labels and signal probabilities of the network trained on the simulated pre-DESI compilation, on its test
        part (:func:`compilation_test_part`); adds :func:`compilation_rows` after the test-part rows.
    """
    outputs_dir = Path(outputs_dir) if outputs_dir is not None else paths.outputs_dir()
    extra = compilation_rows(compilation, cl=cl) if compilation is not None else []
    rows = [*_test_rows(outputs_dir, test_part, cl), *extra, _threshold_row(outputs_dir, cl),
            *_density_rows(outputs_dir, area_deg2, cl), *_check_rows(outputs_dir, cl)]
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    missing = sorted(set(paper.reported_values()) - set(df["paper_key"]))
    if missing:
        raise ValueError(f"paper numbers without a comparison row: {missing}")
    return df


def write_comparison(df: pd.DataFrame, path: str | Path | None = None) -> Path:
    """Write the table to ``path`` (default ``outputs/paper-comparison.csv``) and return the path."""
    path = Path(path) if path is not None else paths.outputs_dir() / "paper-comparison.csv"
    df.to_csv(path, index=False)
    return path
