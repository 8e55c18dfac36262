"""Fit time and prediction throughput of every ``dwarflib.models`` algorithm, and the torch network's
inference speed.

Part 1 (``--part fit``): a synthetic, imbalanced 7-class set (``make_classification``, 50,000 rows x 30
features by default, 5 % missing values plus a 15 % "no WISE" block of 4 features) split 80/20 as one
fold of a 5-fold cross-validation; for each algorithm and scheme (binary, 7-class) it prints the fit time
[s] (wall clock and process CPU time: on a shared machine the CPU time is the stable number),
predict throughput [rows/s] on the held-out 20 %, the signal precision/recall/F1 at argmax,
and the projected time of a full 5 algorithms x 2 schemes x 5-fold cross-validation on 1 and 2 cores.
These are synthetic numbers: they measure speed, not the science.

Part 2 (``--part predict``): ``TorchMLPClassifier`` (default architecture, trained briefly) on
1,000,000 rows x 30 features on 1 thread: rows/s of ``predict_proba`` (preprocessing + forward pass),
of ``preprocess`` alone and of ``forward_numpy`` alone (the model-only forward pass); ratio
predict_proba / forward.

Usage::

    OMP_NUM_THREADS=1 nice .venv/bin/python benchmarks/bench_models.py [--part fit|predict|all]
        [--rows 50000] [--features 30] [--predict-rows 1000000]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402

SEED = 20261123


def synthetic(n_rows: int, n_features: int, seed: int = SEED) -> tuple[pd.DataFrame, np.ndarray]:
    """Imbalanced 7-class set with NaNs (class 0 = signal, 5 % of rows)."""
    X, y = make_classification(
        n_samples=n_rows,
        n_features=n_features,
        n_informative=min(12, n_features),
        n_redundant=min(6, max(0, n_features - 12)),
        n_classes=7,
        n_clusters_per_class=2,
        weights=[0.05, 0.08, 0.12, 0.15, 0.2, 0.2, 0.2],
        class_sep=1.0,
        flip_y=0.02,
        random_state=seed,
    )
    rng = np.random.default_rng(seed)
    X[rng.random(X.shape) < 0.05] = np.nan
    no_wise = rng.random(n_rows) < 0.15
    X[np.ix_(no_wise, np.arange(n_features - 4, n_features))] = np.nan
    return pd.DataFrame(X, columns=[f"f{i:02d}" for i in range(n_features)]), y.astype(np.int8)


def part_fit(args) -> None:
    from dwarflib.metrics import signal_precision_recall_f
    from dwarflib.models import ALGORITHMS, labels_for_scheme, make_model, signal_label

    X, y7 = synthetic(args.rows, args.features)
    rng = np.random.default_rng(SEED)
    test = rng.random(len(y7)) < 0.2
    Xtr, Xte, ytr7, yte7 = X[~test], X[test], y7[~test], y7[test]
    print(f"synthetic set: {len(y7)} rows x {args.features} features, train {len(ytr7)}, test {len(yte7)}")
    print(
        f"{'algorithm':14s} {'scheme':7s} {'fit_s':>7s} {'fit_cpu_s':>9s} {'rows/s':>10s} "
        f"{'prec':>6s} {'rec':>6s} {'f1':>6s}  notes"
    )
    total_fit = total_pred = total_cpu = 0.0
    for algorithm in ALGORITHMS:
        for scheme in ("binary", "7class"):
            model = make_model(algorithm, scheme, random_state=0)
            t0, c0 = time.perf_counter(), time.process_time()
            model.fit(Xtr, labels_for_scheme(ytr7, scheme))
            fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
            t0, c0 = time.perf_counter(), time.process_time()
            pred = model.predict(Xte)
            pred_s, pred_cpu = time.perf_counter() - t0, time.process_time() - c0
            r = signal_precision_recall_f(labels_for_scheme(yte7, scheme), pred, signal=signal_label(scheme))
            est = model.estimator_
            notes = f"train rows {model.n_train_rows_}"
            if hasattr(est, "n_epochs_"):
                notes += f", epochs {est.n_epochs_} (best {est.best_epoch_ + 1})"
            if hasattr(est, "n_iter_"):
                notes += f", iterations {est.n_iter_}"
            total_fit += fit_s
            total_pred += pred_s
            total_cpu += fit_cpu + pred_cpu
            print(
                f"{algorithm:14s} {scheme:7s} {fit_s:7.2f} {fit_cpu:9.2f} {len(yte7) / pred_s:10.0f} "
                f"{r['precision']:6.3f} {r['recall']:6.3f} {r['f1']:6.3f}  {notes}"
            )
    print(
        f"one fold, all 10 models: fit {total_fit:.1f} s, predict {total_pred:.1f} s (wall); {total_cpu:.1f} s CPU"
    )
    print(
        f"projected 5-fold CV of all 10 models from CPU time: {5 * total_cpu:.0f} s on 1 core, "
        f"~{5 * total_cpu / 2:.0f} s on 2 free cores (folds in parallel)"
    )


def part_predict(args) -> None:
    import torch

    from dwarflib.torchnet import TorchMLPClassifier

    torch.set_num_threads(1)
    X, y7 = synthetic(50_000, args.features)
    model = TorchMLPClassifier(max_epochs=3, random_state=0, n_threads=1).fit(X, y7)
    reps = int(np.ceil(args.predict_rows / len(X)))
    big = pd.concat([X] * reps, ignore_index=True).iloc[: args.predict_rows]
    arr = big.to_numpy(dtype=np.float64)
    print(
        f"TorchMLPClassifier hidden_layers={model.hidden_layers}, {model.n_inputs_} network inputs, 1 thread"
    )
    print(f"rows: {len(big)} x {big.shape[1]} features")
    model.predict_proba(arr[:100_000])  # warm-up
    n = len(big)
    timings = {}

    def timed(name, fn):
        t0, c0 = time.perf_counter(), time.process_time()
        res = fn()
        timings[name] = (time.perf_counter() - t0, time.process_time() - c0)
        return res

    Xp = timed("preprocess only", lambda: model.preprocess(arr))
    timed("forward_numpy (model only)", lambda: model.forward_numpy(Xp))
    timed("predict_proba (ndarray)", lambda: model.predict_proba(arr))
    timed("predict_proba (DataFrame)", lambda: model.predict_proba(big))
    for name, (wall, cpu) in timings.items():
        print(f"{name:27s}: {n / wall:10.0f} rows/s wall ({wall:.2f} s), {n / cpu:10.0f} rows per CPU-second")
    fw, pp = timings["forward_numpy (model only)"], timings["predict_proba (ndarray)"]
    print(f"ratio predict_proba(ndarray) / forward_numpy: wall {fw[0] / pp[0]:.2f}, CPU {fw[1] / pp[1]:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("fit", "predict", "all"), default="all")
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--features", type=int, default=30)
    ap.add_argument("--predict-rows", type=int, default=1_000_000)
    args = ap.parse_args()
    if args.part in ("predict", "all"):
        part_predict(args)
    if args.part in ("fit", "all"):
        part_fit(args)


if __name__ == "__main__":
    main()
