"""The final 7-class network: training, calibration, catalogue thresholds, saving and loading.

``train_final_model(sample, out_dir, seed)`` does, in order:

1. builds the labelled, preselected, featurised sample (:func:`dwarflib.training_sample.build_training_sample`)
   and splits it, stratified by class, into train / validation / test (60 / 20 / 20 %, fixed seed);
2. a small architecture and hyper-parameter search (:data:`DEFAULT_SEARCH`): every configuration is
   trained on the training part and scored on the validation part by the **signal average precision**
   (area under the signal precision-recall curve, threshold-free), ties broken by validation log-loss;
3. calibration of the chosen network on the validation part: the logits z are replaced by
   z / T + b, with one temperature T and one bias b_k per class, found by minimising the validation
   log-loss. T is classic temperature scaling (Guo et al. 2017); the biases undo the shift of the
   class priors that class weighting in training introduces (a balanced-weighted network believes
   every class is equally common; the biases restore the priors of the labelled sample). For a fixed
   object the ranking of the classes can change only through b; the ranking of objects by
   ``p_signal`` is unchanged to first order;
4. catalogue thresholds on the calibrated ``p_signal``: ``catalogue`` = 0.5 (the default candidate
   cut), ``paper`` = 0.95 (the paper's high-confidence cut) and ``high_purity`` = the lowest threshold
   whose validation signal precision is >= :data:`HIGH_PURITY_TARGET` (0.95);
5. signal precision and recall at every threshold on the **untouched test part**, with binomial
   (Wilson) 68 % intervals;

   the training part's importance weights (``WEIGHT``, :data:`dwarflib.training_sample.WEIGHT_COLUMN`: the
   simulated nearby supplement's training share and the surveys' rows in its volume) weight the fits' losses;
   the validation and test parts are the surveys' own rows with weight 1 (:func:`dwarflib.training_sample.split_sample`),
   so the search, the calibration, the thresholds and the test metrics are those of the surveys' sample; a
   sample whose weights are all 1 (or that has none) trains exactly as without them;
6. saves, **without pickle**, ``MODEL_DIR/network/`` (:meth:`dwarflib.torchnet.TorchMLPClassifier.save`:
   weights.npz + model.json) and ``MODEL_DIR/model.json``: feature list, feature groups, class scheme,
   preselection, thresholds, temperature, search results, test metrics, percentiles of every feature
   per class in the training part (used by :mod:`dwarflib.explain`), package version and the
   training-data provenance (path, sha256, row counts, seed, date).

The model folder's format, its loading and the model object the catalogue and explain stages use
are in :mod:`dwarflib.pipeline`.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dwarflib import __version__, completeness
from dwarflib import training_sample as ts
from dwarflib.completeness import calibrate_on_sky, format_sky_calibration
from dwarflib.conventions import file_sha256
from dwarflib.datamodel import REQUIRED_COLUMNS
from dwarflib.features import required_columns
from dwarflib.labels import DEFAULT_SCHEME, SIGNAL, ClassScheme
from dwarflib.metrics import CONFIDENCE_1SIGMA, kish_n_eff, weighted_precision_recall
from dwarflib.options import positive_int
from dwarflib.pipeline import (
    FORMAT_VERSION,
    MODEL_FORMAT,
    MODEL_JSON,
    NETWORK_DIR,
    CatalogueModel,
    calibrated_softmax,
    compute_model_sha256,
    load_model,
)
from dwarflib.preselection import DEFAULT_PRESELECTION

#: Validation precision that defines the ``high_purity`` threshold.
HIGH_PURITY_TARGET = 0.95

#: Percentiles stored per feature and class (used by ``dwarflib explain``).
PERCENTILES: tuple[float, ...] = (2.5, 16.0, 50.0, 84.0, 97.5)

#: The architecture / hyper-parameter grid searched on the validation set.
#: Class weighting is part of the search: "balanced" weights each class's loss by the inverse of its
#: frequency (more signal recall during training), None keeps the sample's priors; the calibration
#: step corrects the priors either way.
_COMMON = {"dropout": 0.1, "weight_decay": 1e-4, "lr": 2e-3, "batch_size": 2048, "patience": 4}
DEFAULT_SEARCH: tuple[dict, ...] = (
    {"hidden_layers": (64, 64), "class_weight": "balanced", **_COMMON},
    {"hidden_layers": (128, 64), "class_weight": None, **_COMMON},
    {"hidden_layers": (256, 128, 64), "class_weight": None, **_COMMON},
)


def feature_unit(feature: str) -> str:
    """Unit of a :mod:`dwarflib.features` feature (FITS unit string; "" when dimensionless)."""
    if feature.startswith("mu_eff_"):
        return "mag/arcsec2"
    if feature in ("g", "r", "z", "w1", "w2", "g_r", "r_z", "z_w1", "w1_w2") or feature.startswith("fib_"):
        return "mag"
    if feature == "shape_r":
        return "arcsec"
    return ""

# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------
@dataclass
class TrainingResult:
    """What :func:`train_final_model` did: the model and the numbers behind each choice.

    ``search`` has one row per configuration (validation signal average precision and log-loss,
    epochs, seconds); ``val`` / ``test`` hold the labels and calibrated probabilities of the
    validation and test parts (``proba_uncalibrated`` too, for the reliability diagram);
    ``test_metrics`` has signal precision / recall with Wilson 68 % intervals at every threshold.
    """

    model: CatalogueModel
    model_dir: Path
    search: pd.DataFrame
    best_config: dict
    temperature: float
    thresholds: dict[str, float]
    threshold_scan: pd.DataFrame
    test_metrics: pd.DataFrame
    val: dict
    test: dict
    seconds: float


def signal_precision_recall(y_true, p_signal, threshold: float, weight=None) -> dict:
    """Signal precision and recall of the cut ``p_signal >= threshold`` (the convention of
    :mod:`dwarflib.metrics`), with Wilson 68 % intervals (:func:`dwarflib.metrics.weighted_precision_recall`).

    ``weight``: optional importance weight per object (the training sample's WEIGHT): precision and recall are
    weighted sums and the intervals use Kish's effective numbers; ``n_selected``, ``n_signal`` and ``tp`` stay
    object counts, ``w_*`` and ``n_eff_*`` are the weighted sums and effective numbers."""
    y_true = np.asarray(y_true)
    sel = np.asarray(p_signal) >= threshold
    sig = y_true == SIGNAL
    return {"threshold": float(threshold), "n_selected": int(sel.sum()), "n_signal": int(sig.sum()),
            "tp": int((sel & sig).sum()), **weighted_precision_recall(sig, sel, weight, cl=CONFIDENCE_1SIGMA)}


def choose_high_purity_threshold(y_true, p_signal, target: float = HIGH_PURITY_TARGET,
                                 min_selected: int = 10, weight=None) -> tuple[float, pd.DataFrame, bool]:
    """Lowest threshold on a 0.005 grid in [0.5, 0.995] whose signal precision is >= ``target``.

    Only thresholds that select at least ``min_selected`` objects (effective number with ``weight``,
    :func:`dwarflib.metrics.kish_n_eff`) count (precision of a handful of objects is noise). Returns
    ``(threshold, scan, reached)``; when no threshold reaches ``target``, the threshold of maximum precision is
    returned with ``reached=False``. ``weight``: optional importance weight per object (weighted precision).
    """
    grid = np.round(np.arange(0.5, 0.9951, 0.005), 3)
    scan = pd.DataFrame([signal_precision_recall(y_true, p_signal, t, weight) for t in grid])
    enough = scan["n_eff_selected"] >= min_selected
    ok = scan[enough & (scan["precision"] >= target)]
    if len(ok):
        return float(ok["threshold"].iloc[0]), scan, True
    valid = scan[enough]
    if not len(valid):
        return 0.5, scan, False
    return float(valid.loc[valid["precision"].idxmax(), "threshold"]), scan, False


def fit_calibration(z, y, n_classes: int, max_iter: int = 200, sample_weight=None) -> tuple[float, np.ndarray]:
    """Temperature T and class biases b minimising the mean log-loss of softmax(z / T + b) (LBFGS).

    ``z``: validation logits (n, n_classes); ``y``: class indices; ``sample_weight``: optional importance
    weight per row (weighted mean log-loss, so the biases restore the weighted class priors). The biases are
    returned with zero mean (softmax is invariant to a common shift).
    """
    import torch  # lazy: imports torch (seconds)
    import torch.nn.functional as F

    zt = torch.as_tensor(np.asarray(z, dtype=np.float64))
    yt = torch.as_tensor(np.asarray(y, dtype=np.int64))
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t, b], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    wt = None if sample_weight is None else torch.as_tensor(np.asarray(sample_weight, dtype=np.float64))

    def closure():
        opt.zero_grad()
        if wt is None:
            loss = F.cross_entropy(zt / log_t.exp() + b, yt)
        else:
            loss = (F.cross_entropy(zt / log_t.exp() + b, yt, reduction="none") * wt).sum() / wt.sum()
        loss.backward()
        return loss

    opt.step(closure)
    t = float(np.exp(float(log_t.detach())))
    bias = b.detach().numpy()
    if not (np.isfinite(t) and t > 0 and np.all(np.isfinite(bias))):
        raise RuntimeError(f"calibration fit failed (T = {t}, b = {bias})")
    return t, bias - bias.mean()


def _percentiles_by_class(X: pd.DataFrame, y: np.ndarray, scheme: ClassScheme) -> dict:
    out: dict = {"percentiles": list(PERCENTILES), "all": {}, "by_class": {}}
    arr = X.to_numpy(dtype=float)
    with np.errstate(all="ignore"):
        out["all"] = {c: [_f(v) for v in np.nanpercentile(arr[:, j], PERCENTILES)] if
                      np.isfinite(arr[:, j]).any() else [None] * len(PERCENTILES)
                      for j, c in enumerate(X.columns)}
        for k in range(scheme.n_classes):
            sub = arr[y == k]
            out["by_class"][str(k)] = {
                c: ([_f(v) for v in np.nanpercentile(sub[:, j], PERCENTILES)]
                    if len(sub) and np.isfinite(sub[:, j]).any() else [None] * len(PERCENTILES))
                for j, c in enumerate(X.columns)}
    return out


def _f(v) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


def _log_loss(y, proba, n_classes, weight=None) -> float:
    from sklearn.metrics import log_loss

    p = np.clip(np.asarray(proba, dtype=np.float64), 1e-7, 1)
    return float(log_loss(y, p / p.sum(axis=1, keepdims=True), labels=list(range(n_classes)),
                          sample_weight=weight))


def _average_precision(y, p, weight=None) -> float:
    from sklearn.metrics import average_precision_score

    sig = np.asarray(y) == SIGNAL
    return float(average_precision_score(sig, p, sample_weight=weight)) if sig.any() else float("nan")


def _json_safe(obj):
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return _f(obj)
    if isinstance(obj, float):
        return _f(obj)
    if isinstance(obj, np.ndarray):
        return _json_safe(obj.tolist())
    return obj


def train_final_model(training_sample, out_dir, seed: int = 0, search: Sequence[dict] | None = None,
                      max_epochs: int = 40, fractions: Sequence[float] = (0.6, 0.2, 0.2),
                      scheme: ClassScheme | None = None, preselection=None,
                      feature_groups: Sequence[str] | None = None, n_threads: int = 1,
                      verbose: bool = False, supplement: bool = True) -> TrainingResult:
    """Train, select, calibrate, threshold, test and save the final 7-class network.

    Parameters
    ----------
    training_sample : path, astropy Table or dwarflib.training_sample.TrainingSample
        A labelled table in sweep format plus ``Z`` and ``LOGMSTAR`` (e.g. the simulated
        ``training-sample.fits`` or a real sample), or an already built sample.
    out_dir : path
        The model folder (created): ``model.json`` + ``network/``.
    seed : int
        Seed of the split and of every network (same seed, same model).
    search : sequence of dict, optional
        Network configurations (keyword arguments of TorchMLPClassifier); default :data:`DEFAULT_SEARCH`.
    max_epochs : int
        Upper bound on training epochs (early stopping usually ends sooner).
    fractions : (train, validation, test)
        Stratified split fractions.
    scheme, preselection, feature_groups :
        Class scheme, preselection and feature groups (defaults: the package defaults, all groups).
    n_threads : int
        torch threads for training (results are reproducible for a given seed and thread count).
    supplement : bool
        Train on the rows of an over-sampled supplement too (the simulated sky's nearby supplement; default
        True; a sample without one is unaffected): their training share joins the training part with the
        importance weights in the network's loss, while validation and test stay the surveys' own rows
        with weight 1, the same parts as without the supplement (:func:`dwarflib.training_sample.split_sample`),
        so calibration, thresholds and test metrics are unweighted. Recorded in ``model.json``
        (``training_data.supplement``), so :func:`test_part` rebuilds the same sample.

    Returns
    -------
    TrainingResult
    """
    from dwarflib.torchnet import TorchMLPClassifier  # lazy: imports torch (seconds)

    if isinstance(max_epochs, bool) or not isinstance(max_epochs, int | np.integer) or max_epochs < 1:
        raise ValueError(f"max_epochs must be an integer >= 1 (0 epochs is an untrained network), got {max_epochs!r}")
    t0 = time.perf_counter()
    scheme = DEFAULT_SCHEME if scheme is None else scheme
    source_path = None
    if isinstance(training_sample, ts.TrainingSample):
        sample = training_sample
    else:
        if isinstance(training_sample, str | os.PathLike):
            source_path = Path(training_sample).resolve()
        sample = ts.build_training_sample(training_sample, scheme=scheme, preselection=preselection,
                                          groups=feature_groups, supplement=supplement)
    if preselection is None:
        preselection = DEFAULT_PRESELECTION
    split = ts.split_sample(sample, fractions=fractions, seed=seed)
    features = list(sample.X.columns)
    n_classes = scheme.n_classes
    missing_classes = [k for k in range(n_classes) if not (split.y_train == k).any()]
    if missing_classes:
        raise ValueError(f"training part has no object of class(es) {missing_classes}; "
                         "the 7-class network needs all classes")

    Xtr = split.X_train.to_numpy(np.float32)
    Xva = split.X_val.to_numpy(np.float32)
    Xte = split.X_test.to_numpy(np.float32)
    # importance weights (the training sample's WEIGHT, e.g. its nearby supplement: training part only, the
    # validation and test parts are the surveys' own rows, weight 1); None where all 1, so that a sample
    # without weights trains and scores exactly as before
    w_train, w_val, w_test = (w if np.any(w != 1) else None for w in (split.w_train, split.w_val, split.w_test))
    weighted = w_train is not None

    # 1. architecture / hyper-parameter search on the validation part
    rows, fitted = [], []
    for i, cfg in enumerate(search or DEFAULT_SEARCH):
        t1 = time.perf_counter()
        net = TorchMLPClassifier(**{"random_state": seed, "max_epochs": max_epochs, "n_threads": n_threads, **cfg})
        net.fit(Xtr, split.y_train, sample_weight=w_train)
        pva = net.predict_proba(Xva)
        row = {"config": i, **{k: (str(tuple(v)) if isinstance(v, tuple | list) else "none" if v is None else v)
                               for k, v in cfg.items()},
               "val_signal_ap": _average_precision(split.y_val, pva[:, SIGNAL], w_val),
               "val_log_loss": _log_loss(split.y_val, pva, n_classes, w_val),
               "epochs": int(net.n_epochs_), "best_epoch": int(net.best_epoch_),
               "seconds": time.perf_counter() - t1}
        rows.append(row)
        fitted.append(net)
        if verbose:
            print(row)
    search_df = pd.DataFrame(rows)
    order = search_df.sort_values(["val_signal_ap", "val_log_loss"], ascending=[False, True]).index
    best = int(order[0])
    net = fitted[best]
    best_cfg = dict((search or DEFAULT_SEARCH)[best])

    # 2. calibration (temperature + class biases) on the validation part
    z_val = net.forward_numpy(net.preprocess(Xva), logits=True)
    z_test = net.forward_numpy(net.preprocess(Xte), logits=True)
    proba_val_raw = calibrated_softmax(z_val, 1.0, np.zeros(n_classes))
    proba_test_raw = calibrated_softmax(z_test, 1.0, np.zeros(n_classes))
    temperature, bias = fit_calibration(z_val, split.y_val, n_classes, sample_weight=w_val)
    proba_val = calibrated_softmax(z_val, temperature, bias)
    proba_test = calibrated_softmax(z_test, temperature, bias)

    # 3. thresholds (validation) and 4. test metrics
    hp, scan, reached = choose_high_purity_threshold(split.y_val, proba_val[:, SIGNAL], weight=w_val)
    thresholds = {"catalogue": 0.5, "high_purity": hp, "paper": 0.95}
    test_metrics = pd.DataFrame([{"name": name, **signal_precision_recall(split.y_test, proba_test[:, SIGNAL], t,
                                                                          w_test)}
                                 for name, t in thresholds.items()])

    # 5. save (no pickle)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    net.feature_names_in_ = np.asarray(features, dtype=object)  # stored with the weights, checked on load
    net.save(out_dir / NETWORK_DIR)
    removed = pd.Series(np.asarray(sample.removed["REASON"]).astype(str)).value_counts()
    training_data = {
        "path": str(source_path) if source_path else None,
        "sha256": file_sha256(source_path) if source_path else None,
        "rows_in": int(sample.n_rows_in),
        "rows_kept": int(len(sample.table)),
        "rows_removed": {str(k): int(v) for k, v in removed.items()},
        "split_fractions": list(split.fractions),
        "split_rows": {"train": int(len(split.y_train)), "validation": int(len(split.y_val)),
                       "test": int(len(split.y_test))},
        "class_counts": {part: [int((y == k).sum()) for k in range(n_classes)]
                         for part, y in (("train", split.y_train), ("validation", split.y_val),
                                         ("test", split.y_test))},
        "seed": int(seed),
        "supplement": bool(sample.supplement.any()),
        "weighted": weighted,
        "weighted_class_counts": {part: [float(w[y == k].sum()) for k in range(n_classes)]
                                  for part, y, w in (("train", split.y_train, split.w_train),
                                                     ("validation", split.y_val, split.w_val),
                                                     ("test", split.y_test, split.w_test))},
        "n_eff_signal_test": kish_n_eff(split.w_test[split.y_test == SIGNAL]),
        "supplement_rows": {part: int(sample.supplement[np.asarray(split.table["SPLIT"]) == part].sum())
                            for part in ("train", "validation", "test", "unused")},
    }
    meta = {
        "format": MODEL_FORMAT,
        "format_version": FORMAT_VERSION,
        "dwarflib_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "features": features,
        "feature_units": {f: feature_unit(f) for f in features},
        "feature_groups": list(feature_groups) if feature_groups is not None else None,
        "feature_groups_members": sample.feature_groups,
        "class_scheme": scheme.to_dict(),
        "signal_class": SIGNAL,
        "preselection": preselection.to_dict(),
        "input_columns": _input_columns(preselection, feature_groups),
        "thresholds": thresholds,
        "high_purity": {"target_precision": HIGH_PURITY_TARGET, "reached_on_validation": reached},
        "temperature": temperature,
        "class_bias": [float(v) for v in bias],
        "calibration": "p = softmax(z / temperature + class_bias), z = network logits; fitted on the validation part",
        "network": {"dir": NETWORK_DIR, "class": "dwarflib.torchnet.TorchMLPClassifier", "config": best_cfg,
                    "max_epochs": max_epochs, "n_threads_training": n_threads},
        "search": search_df.to_dict(orient="records"),
        "selection_metric": "validation signal average precision, ties by validation log-loss",
        "test_metrics": test_metrics.to_dict(orient="records"),
        "feature_percentiles": _percentiles_by_class(split.X_train, split.y_train, scheme),
        "training_data": training_data,
    }
    meta = json.loads(json.dumps(_json_safe(meta), allow_nan=False))  # hashed as it will be read back
    meta["model_sha256"] = compute_model_sha256(meta, net)
    (out_dir / MODEL_JSON).write_text(json.dumps(meta, indent=1, allow_nan=False))
    model = load_model(out_dir)
    return TrainingResult(
        model=model, model_dir=out_dir, search=search_df, best_config=best_cfg, temperature=temperature,
        thresholds=thresholds, threshold_scan=scan, test_metrics=test_metrics,
        val={"y": split.y_val, "proba": proba_val, "proba_uncalibrated": proba_val_raw, "ids": split.ids_val,
             "weight": split.w_val},
        test={"y": split.y_test, "proba": proba_test, "proba_uncalibrated": proba_test_raw,
              "ids": split.ids_test, "weight": split.w_test},
        seconds=time.perf_counter() - t0)


def _input_columns(preselection, feature_groups) -> list[str]:
    """Sweep columns that the preselection and the features read (the catalogue reads only these)."""
    cols = list(REQUIRED_COLUMNS)
    extra = list(getattr(preselection, "required_columns", lambda: [])())
    extra += list(required_columns(feature_groups))
    for c in extra:
        if c not in cols:
            cols.append(c)
    return cols


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------
def test_part_scores(model, with_weight: bool = False) -> tuple[np.ndarray, ...]:
    """True classes and ``P_SIGNAL`` (training-mix probability, 0-1) of a model's untouched test part
    (:func:`test_part`); with ``with_weight`` also the rows' importance weights."""
    y, proba, w = test_part(model, with_weight=True)
    return (y, proba[:, model.signal_index], w) if with_weight else (y, proba[:, model.signal_index])


def test_part(model, with_weight: bool = False) -> tuple[np.ndarray, ...]:
    """True classes and calibrated class probabilities (training mix, n x n_classes) of a model's untouched
    test part; with ``with_weight`` also the rows' importance weights (the training sample's WEIGHT, 1 where
    it has none), which every metric on the test part should use.

    Rebuilds the split :func:`train_final_model` made, from what ``model.json`` records (training-data path,
    sha256, split fractions and seed), and scores its test part with the model. Raises ValueError when the
    training file is missing or changed (sha256), or when the rebuilt test part's class counts differ from the
    recorded ones, naming the file.
    """
    td = model.meta.get("training_data", {})
    path = Path(td.get("path") or "")
    if not path.is_file():
        raise ValueError(f"model {model.model_sha256[:12]}: training data {str(path)!r} not found; "
                         "the test part cannot be rebuilt")
    if td.get("sha256") and file_sha256(path) != td["sha256"]:
        raise ValueError(f"{path}: sha256 differs from the one recorded in model.json; not the training data")
    sample = ts.build_training_sample(path, scheme=model.scheme, preselection=model.preselection,
                                      groups=model.feature_groups, supplement=bool(td.get("supplement", False)))
    split = ts.split_sample(sample, fractions=td.get("split_fractions", (0.6, 0.2, 0.2)), seed=td.get("seed", 0))
    y = np.asarray(split.y_test)
    counts = np.bincount(y, minlength=model.scheme.n_classes).tolist()
    recorded = td.get("class_counts", {}).get("test")
    if recorded is not None and counts != list(recorded):
        raise ValueError(f"{path}: rebuilt test part has class counts {counts}, model.json records {recorded}")
    proba = model.predict_proba(split.X_test[model.features].to_numpy(np.float32))
    return (y, proba, split.w_test) if with_weight else (y, proba)


test_part.__test__ = test_part_scores.__test__ = False  # functions of the package, not pytest tests


def add_cli(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train the final 7-class network from a labelled training sample",
        description="Train, select (small architecture search on the validation part), calibrate "
                    "(temperature and class biases), threshold and test the 7-class network; save it without pickle.")
    p.add_argument("training_sample", metavar="TRAINING_SAMPLE",
                   help="FITS table in sweep format plus Z and LOGMSTAR (e.g. training-sample.fits)")
    p.add_argument("--out", required=True, metavar="MODEL_DIR", help="model folder to write")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and the networks (default 0)")
    p.add_argument("--max-epochs", type=positive_int, default=40,
                   help="upper bound on training epochs (early stopping)")
    p.add_argument("--sky-calibration", metavar="SKY_DIR", default=None,
                   help="after training, store the sky priors and sky purity/completeness curves measured on this "
                        "simulated sky (as `dwarflib sky-calibrate MODEL_DIR SKY_DIR`)")
    p.set_defaults(func=_cli_train)
    completeness.add_cli(subparsers)  # `sky-calibrate`: the model folder's second step, listed after `train`


def format_training_report(res: TrainingResult) -> str:
    """Text report of a training run (search, temperature, thresholds, test precision / recall)."""
    lines = ["architecture / hyper-parameter search (validation part):",
             res.search.to_string(index=False, float_format=lambda v: f"{v:.4g}"),
             f"chosen: {res.best_config}",
             f"calibration: temperature {res.temperature:.3f}, class biases "
             f"[{', '.join(f'{b:+.2f}' for b in res.model.class_bias)}]",
             "signal precision / recall on the test part (68 % Wilson intervals):"]
    for _, r in res.test_metrics.iterrows():
        lines.append(f"  {r['name']:<12s} p_signal >= {r['threshold']:.3f}: precision {r['precision']:.3f} "
                     f"[{r['precision_low']:.3f}, {r['precision_high']:.3f}], recall {r['recall']:.3f} "
                     f"[{r['recall_low']:.3f}, {r['recall_high']:.3f}] (selected {r['n_selected']}, "
                     f"signal {r['n_signal']})")
    lines.append(f"model written to {res.model_dir} in {res.seconds:.1f} s")
    return "\n".join(lines)


def _cli_train(args) -> int:
    import sys

    path = Path(args.training_sample)
    if not path.exists():
        print(f"dwarflib train: error: {path}: no such file", file=sys.stderr)
        return 1
    if args.sky_calibration is not None and not (Path(args.sky_calibration) / "truth.fits").exists():
        print(f"dwarflib train: error: --sky-calibration {args.sky_calibration}: not a simulated sky folder "
              "(no truth.fits)", file=sys.stderr)
        return 1
    try:
        res = train_final_model(path, args.out, seed=args.seed, max_epochs=args.max_epochs)
        doc = calibrate_on_sky(args.out, args.sky_calibration) if args.sky_calibration is not None else None
    except (ValueError, KeyError) as exc:
        print(f"dwarflib train: error: {exc}", file=sys.stderr)
        return 1
    print(format_training_report(res))
    if doc is not None:
        print(format_sky_calibration(doc))
    return 0
