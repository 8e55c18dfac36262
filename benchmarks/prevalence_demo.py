"""Operating points of the final network under stated prevalences (issue #12); not run in CI.

Uses the book's final 7-class network (``cache_dir("models", "final-7class")``, chapter 06) and its
test part on the **simulated** sky: if the model folder exists, the test part is rebuilt with the
model's split seed and scored; otherwise the network is trained exactly as chapter 06 does
(``train_final_model(sky / "training-sample.fits", model_dir, seed=0)``, about 100 s).

Prints
* precision, recall, average precision and recall at FPR 1e-3 at the model's thresholds, at the test
  part's own signal share and at a few stated ones;
* the signal prevalence at which the paper's precision would be reached at the p_signal >= 0.5 recall,
  and at the paper's (precision, recall) pair (:data:`dwarflib.verification.PAPER_TEST_SET`);
* the EM prior estimate (Saerens et al. 2002) on the test part and on a subsample of it with another
  class mix.

    PYTHONPATH=$PWD python benchmarks/prevalence_demo.py [--n-boot 300]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from dwarflib import metrics
from dwarflib.comparison import final_model_test_part
from dwarflib.labels import SIGNAL
from dwarflib.metrics import CONFIDENCE_1SIGMA
from dwarflib.priors import estimate_priors_em
from dwarflib.verification import PAPER_TEST_SET


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-boot", type=int, default=300)
    args = ap.parse_args()
    t0 = time.perf_counter()
    y, proba, meta, how = final_model_test_part()
    p = proba[:, SIGNAL]
    print(f"test part of the simulated training sample: {y.size:,d} objects, "
          f"{int((y == SIGNAL).sum())} signal ({how})")
    thresholds = meta["thresholds"]
    observed = float(np.mean(y == SIGNAL))
    pd.set_option("display.width", 200)
    cols = ["threshold", "prevalence", "precision", "precision_low", "precision_high", "recall",
            "recall_low", "recall_high", "tp", "fp", "average_precision", "average_precision_low",
            "average_precision_high", "recall_at_fpr", "recall_at_fpr_low", "recall_at_fpr_high"]
    for prev in (observed, 0.001, 0.01, 0.05, 0.2, 0.5):
        df = metrics.metrics_at_prevalence(y, p, list(thresholds.values()), prev, cl=CONFIDENCE_1SIGMA,
                                           n_boot=args.n_boot)
        df.insert(0, "name", list(thresholds))
        tag = " (observed)" if prev == observed else ""
        print(f"\nsignal prevalence {prev:.4g}{tag}, {CONFIDENCE_1SIGMA} intervals, "
              f"recall at FPR {metrics.REFERENCE_FPR:g}:")
        print(df[["name", *cols]].to_string(index=False, float_format=lambda v: f"{v:.4f}"))

    paper_p, paper_r = PAPER_TEST_SET
    at05 = metrics.metrics_at_prevalence(y, p, thresholds["catalogue"], observed, n_boot=0).iloc[0]
    print(f"\np_signal >= {thresholds['catalogue']}: precision {at05['precision']:.3f}, "
          f"recall {at05['recall']:.3f} at the observed prevalence {observed:.4f}")
    for label, r in ((f"recall of p_signal >= {thresholds['catalogue']}", at05["recall"]),
                     ("paper's recall", paper_r)):
        try:
            res = metrics.prevalence_for(paper_p, r, y, p, cl=CONFIDENCE_1SIGMA)
        except ValueError as err:
            print(f"precision {paper_p} at the {label} ({r:.4f}): {err}")
            continue
        print(f"precision {paper_p} at the {label} ({r:.4f}): threshold {res['threshold']:.4f}, "
              f"TPR {res['tpr']:.4f}, FPR {res['fpr']:.3g} ({res['fp']} of {res['n_other']}), "
              f"precision here {res['observed_precision']:.3f} -> reached at signal prevalence "
              f"{res['prevalence']:.4f} [{res['prevalence_low']:.4f}, {res['prevalence_high']:.4f}] "
              f"({CONFIDENCE_1SIGMA})")

    counts = np.asarray(meta["training_data"]["class_counts"]["validation"], float)
    train_priors = counts / counts.sum()
    est = estimate_priors_em(proba.astype(np.float64) / proba.sum(axis=1, keepdims=True), train_priors)
    true = np.bincount(y, minlength=counts.size) / y.size
    print("\nEM priors, test part (same mix as the calibration part):")
    table = pd.DataFrame({"calibration": train_priors, "test truth": true, "EM": est.priors})
    print(table.T.round(4).to_string())
    print(f"  {est.n_iter} iterations, converged {est.converged}")
    rng = np.random.default_rng(0)
    keep_fraction = (1.0, 1.0, 0.3, 0.3, 0.1, 0.1, 1.0)  # per class: another class mix
    keep = np.concatenate([rng.choice(np.flatnonzero(y == k), max(1, int((y == k).sum() * f)), replace=False)
                           for k, f in enumerate(keep_fraction)])
    sub = proba[keep].astype(np.float64)
    est2 = estimate_priors_em(sub / sub.sum(axis=1, keepdims=True), train_priors)
    print("EM priors, subsample of the test part with another class mix:")
    print(pd.DataFrame({"subsample truth": np.bincount(y[keep], minlength=counts.size) / keep.size,
                        "mean posterior": sub.mean(axis=0), "EM": est2.priors}).T.round(4).to_string())
    print(f"  {est2.n_iter} iterations, converged {est2.converged}")
    print(f"\n{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
