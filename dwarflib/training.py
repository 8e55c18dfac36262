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
6. saves, **without pickle**, ``MODEL_DIR/network/`` (:meth:`dwarflib.torchnet.TorchMLPClassifier.save`:
   weights.npz + model.json) and ``MODEL_DIR/model.json``: feature list, feature groups, class scheme,
   preselection, thresholds, temperature, search results, test metrics, percentiles of every feature
   per class in the training part (used by :mod:`dwarflib.explain`), package version and the
   training-data provenance (path, sha256, row counts, seed, date).

``load_model(model_dir)`` returns a :class:`CatalogueModel`, the object the catalogue and explain
stages use: preselection, features and the network in one place.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dwarflib import __version__
from dwarflib.cli import positive_int
from dwarflib.conventions import file_sha256
from dwarflib.labels import SIGNAL, ClassScheme

MODEL_JSON = "model.json"
NETWORK_DIR = "network"
#: 2: feature names stored with the network's weights, ``model_sha256`` (see :func:`model_identity`).
FORMAT_VERSION = 2
MODEL_FORMAT = "dwarflib-catalogue-model"

#: The thresholds on the calibrated ``p_signal`` that a model carries (each in [0, 1]).
THRESHOLD_NAMES: tuple[str, ...] = ("catalogue", "high_purity", "paper")

#: ``model.json`` fields that determine a catalogue; with the network's content
#: (:meth:`dwarflib.torchnet.TorchMLPClassifier.content_sha256`) they make the model identity
#: (:func:`model_identity`). Timings, dates, the search table, test metrics and provenance are left out,
#: so an identical retrain (same data, seed and threads) has the same identity.
OUTPUT_FIELDS: tuple[str, ...] = ("format_version", "features", "feature_units", "feature_groups",
                                  "class_scheme", "signal_class", "preselection", "input_columns",
                                  "thresholds", "temperature", "class_bias")


class ModelError(ValueError):
    """A model folder that cannot be used (malformed, inconsistent or edited files); the message names
    the file and the field."""

#: Validation precision that defines the ``high_purity`` threshold.
HIGH_PURITY_TARGET = 0.95

#: Confidence level of the intervals reported with precision and recall (1 sigma).
CL_68 = 0.6827

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


def column_name(feature: str) -> str:
    """Catalogue column name of a feature: characters other than letters, digits and _ become _."""
    return re.sub(r"[^A-Za-z0-9_]", "_", feature)


# ---------------------------------------------------------------------------------------------
# the model object used by the catalogue and explain stages
# ---------------------------------------------------------------------------------------------
@dataclass
class CatalogueModel:
    """A trained network with everything needed to apply it to a sweep table.

    Attributes
    ----------
    network : dwarflib.torchnet.TorchMLPClassifier
        The calibrated 7-class network (imputation and scaling inside).
    features : list of str
        Feature names, in the network's input order (as :func:`dwarflib.features.build_features` names them).
    feature_groups : list of str or None
        Groups passed to ``build_features`` (None: all).
    scheme : ClassScheme
        The class scheme the network was trained on.
    preselection : dwarflib.preselection.Preselection
        The preselection applied before the network (the same as in training).
    thresholds : dict
        ``catalogue``, ``high_purity`` and ``paper`` thresholds on ``p_signal``.
    meta : dict
        The whole ``model.json``.
    sha256 : str
        The model identity (:func:`model_identity`: sha256 of what determines the outputs); identifies
        the model in catalogue headers and manifests, and decides what ``classify --resume`` redoes.
    """

    network: object
    features: list[str]
    feature_groups: list[str] | None
    scheme: ClassScheme
    preselection: object
    thresholds: dict[str, float]
    meta: dict = field(default_factory=dict)
    sha256: str = ""
    input_columns: list[str] | None = None

    signal_index: int = SIGNAL

    @property
    def catalogue_threshold(self) -> float:
        return float(self.thresholds["catalogue"])

    @property
    def high_purity_threshold(self) -> float:
        return float(self.thresholds["high_purity"])

    @property
    def feature_columns(self) -> list[str]:
        return [column_name(f) for f in self.features]

    @property
    def feature_units(self) -> dict[str, str]:
        units = self.meta.get("feature_units", {})
        return {column_name(f): u for f, u in units.items() if u}

    def preselect(self, table) -> tuple[np.ndarray, np.ndarray]:
        """Preselection mask and the reason of each rejected row (astropy Table in sweep format)."""
        res = self.preselection.apply(table)
        mask = np.asarray(res.mask, dtype=bool)
        reason = np.asarray(res.reason).astype(str)
        return mask, reason

    def feature_matrix(self, table) -> np.ndarray:
        """Features of ``table`` as a float32 array (n, n_features), in the network's order."""
        from dwarflib.features import build_features

        if len(table) == 0:
            return np.zeros((0, len(self.features)), np.float32)
        df = build_features(table, groups=self.feature_groups)
        missing = [f for f in self.features if f not in df.columns]
        if missing:
            raise ValueError(f"build_features did not produce the model's features {missing}")
        return df[self.features].to_numpy(dtype=np.float32)

    def predict_proba(self, X) -> np.ndarray:
        """Calibrated class probabilities (n, n_classes), float32."""
        X = np.asarray(X, dtype=np.float32)
        if len(X) == 0:
            return np.zeros((0, self.scheme.n_classes), np.float32)
        return self.forward_only(self.network.preprocess(X))

    def forward_only(self, Xp) -> np.ndarray:
        """The model-only forward pass: preprocessed float32 network input -> calibrated probabilities."""
        z = self.network.forward_numpy(Xp, logits=True)
        return calibrated_softmax(z, self.temperature, self.class_bias)

    @property
    def temperature(self) -> float:
        return float(self.meta.get("temperature", 1.0))

    @property
    def class_bias(self) -> np.ndarray:
        return np.asarray(self.meta.get("class_bias", np.zeros(self.scheme.n_classes)), dtype=np.float32)

    def p_signal(self, X) -> np.ndarray:
        return self.predict_proba(X)[:, self.signal_index]

    def classify(self, table) -> pd.DataFrame:
        """Preselection outcome, features and probabilities of every row of ``table`` (a DataFrame)."""
        mask, reason = self.preselect(table)
        X = np.full((len(table), len(self.features)), np.nan, np.float32)
        P = np.full((len(table), self.scheme.n_classes), np.nan, np.float32)
        if mask.any():
            X[mask] = self.feature_matrix(table[mask])
            P[mask] = self.predict_proba(X[mask])
        out = pd.DataFrame(X, columns=self.features)
        for k in range(P.shape[1]):
            out[f"P_CLASS{k}"] = P[:, k]
        out["P_SIGNAL"] = P[:, self.signal_index]
        out.insert(0, "PRESELECTED", mask)
        out.insert(1, "REASON", np.where(mask, "", reason))
        return out

    def provenance_metadata(self) -> dict:
        """Compact provenance (JSON-serialisable) written into catalogue headers."""
        m = self.meta
        return {
            "model_sha256": self.sha256,
            "dwarflib_version": m.get("dwarflib_version"),
            "created": m.get("created"),
            "class_names": list(self.scheme.names),
            "thresholds": self.thresholds,
            "temperature": m.get("temperature"),
            "class_bias": m.get("class_bias"),
            "features": self.features,
            "training_data": m.get("training_data", {}),
            "preselection": m.get("preselection"),
        }

    def provenance_cards(self) -> list[tuple]:
        """FITS header cards with the model's provenance (primary HDU of the catalogue files)."""
        td = self.meta.get("training_data", {})
        cards = [
            ("ORIGIN", "dwarflib", "software that wrote this file"),
            ("DWLVER", str(self.meta.get("dwarflib_version", "")), "dwarflib version that trained the model"),
            ("MODELSHA", self.sha256[:64], "model identity sha256 (dwarflib.training)"),
            ("MODELDAT", str(self.meta.get("created", ""))[:68], "model training date (UTC)"),
            ("TRAINSET", Path(str(td.get("path", ""))).name[:68], "training sample file"),
            ("TRAINSHA", str(td.get("sha256", ""))[:64], "sha256 of the training sample file"),
            ("TRAINROW", int(td.get("rows_in", -1)), "rows in the training sample file"),
            ("SEED", int(td.get("seed", -1)), "training seed"),
            ("TEMPERAT", float(self.meta.get("temperature", 1.0)), "calibration temperature"),
            ("NFEAT", len(self.features), "number of features"),
        ]
        return cards


def model_identity(meta: dict, network) -> str:
    """sha256 of what determines a model's outputs: the :data:`OUTPUT_FIELDS` of ``model.json``
    (canonical JSON) and the network's :meth:`~dwarflib.torchnet.TorchMLPClassifier.content_sha256`."""
    fields = json.dumps({k: meta.get(k) for k in OUTPUT_FIELDS}, sort_keys=True, allow_nan=False)
    return hashlib.sha256(fields.encode() + network.content_sha256().encode()).hexdigest()


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and bool(np.isfinite(v))


def _str_list(v, allow_none: bool = False) -> bool:
    if v is None:
        return allow_none
    return isinstance(v, list) and all(isinstance(x, str) and x for x in v)


def validate_model_meta(meta, path) -> None:
    """Check the schema and value ranges of a ``model.json``; raise :class:`ModelError` naming ``path``
    and the field. Does not look at the network (see :func:`load_model`)."""
    def bad(field_name: str, what: str):
        raise ModelError(f"{path}: field {field_name!r} {what}")

    if not isinstance(meta, dict):
        raise ModelError(f"{path}: not a JSON object")
    if meta.get("format") != MODEL_FORMAT:
        bad("format", f"is {meta.get('format')!r}, not {MODEL_FORMAT!r}: not a dwarflib catalogue model")
    if meta.get("format_version") != FORMAT_VERSION:
        bad("format_version", f"is {meta.get('format_version')!r}, this dwarflib reads {FORMAT_VERSION} "
            "(retrain the model with `dwarflib train`)")
    features = meta.get("features")
    if not _str_list(features) or not features:
        bad("features", "must be a non-empty list of feature names")
    if len(set(features)) != len(features):
        bad("features", "names a feature more than once")
    if not _str_list(meta.get("feature_groups"), allow_none=True):
        bad("feature_groups", "must be null or a list of group names")
    if not _str_list(meta.get("input_columns"), allow_none=True):
        bad("input_columns", "must be null or a list of column names")
    units = meta.get("feature_units", {})
    if not (isinstance(units, dict) and all(isinstance(v, str) for v in units.values())):
        bad("feature_units", "must map feature names to unit strings")
    try:
        scheme = ClassScheme.from_dict(meta["class_scheme"])
    except (KeyError, TypeError, ValueError) as exc:
        bad("class_scheme", f"is missing or malformed ({type(exc).__name__}: {exc})")
    if meta.get("signal_class") != SIGNAL:
        bad("signal_class", f"is {meta.get('signal_class')!r}, dwarflib's signal class is {SIGNAL}")
    if not isinstance(meta.get("preselection"), dict):
        bad("preselection", "must be a JSON object of preselection cuts")
    try:
        from dwarflib.preselection import Preselection

        Preselection.from_dict(meta["preselection"])
    except (KeyError, TypeError, ValueError) as exc:
        bad("preselection", f"is missing or malformed ({type(exc).__name__}: {exc})")
    thresholds = meta.get("thresholds")
    if not isinstance(thresholds, dict) or set(thresholds) != set(THRESHOLD_NAMES):
        bad("thresholds", f"must hold exactly {list(THRESHOLD_NAMES)}")
    for name in THRESHOLD_NAMES:
        v = thresholds[name]
        if not (_is_number(v) and 0 <= v <= 1):
            bad(f"thresholds.{name}", f"is {v!r}, must be a number in [0, 1]")
    t = meta.get("temperature")
    if not (_is_number(t) and t > 0):
        bad("temperature", f"is {t!r}, must be a finite number > 0")
    bias = meta.get("class_bias")
    if not (isinstance(bias, list) and len(bias) == scheme.n_classes and all(_is_number(b) for b in bias)):
        bad("class_bias", f"must be a list of {scheme.n_classes} finite numbers (one per class)")
    sha = meta.get("model_sha256")
    if not (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha)):
        bad("model_sha256", "must be a sha256 hex digest")


def load_model(model_dir) -> CatalogueModel:
    """Load and validate a model written by :func:`train_final_model` (no pickle: JSON + weights.npz).

    Checks ``model.json`` (:func:`validate_model_meta`: schema, thresholds in [0, 1], class count), the
    network (weights sha256, shapes), that the network's stored feature names are ``model.json``'s
    feature list in the same order, that its classes are the scheme's, and the integrity hash
    ``model_sha256`` (:func:`model_identity`) against the content. Raises :class:`ModelError` (one line
    naming the file and field) or FileNotFoundError.
    """
    from dwarflib.preselection import Preselection
    from dwarflib.torchnet import JSON_FILE, TorchMLPClassifier

    model_dir = Path(model_dir)
    path = model_dir / MODEL_JSON
    if not path.exists():
        raise FileNotFoundError(f"{model_dir}: not a dwarflib model folder (no {MODEL_JSON})")
    try:
        meta = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: not valid JSON ({exc})") from None
    validate_model_meta(meta, path)
    net_json = model_dir / NETWORK_DIR / JSON_FILE
    try:
        network = TorchMLPClassifier.load(model_dir / NETWORK_DIR)
    except FileNotFoundError:
        raise
    except ValueError as exc:  # the network's own checks name its file
        raise ModelError(str(exc)) from None
    network.n_threads = 1  # inference: one torch thread per process; catalogues parallelise over files
    scheme = ClassScheme.from_dict(meta["class_scheme"])
    if network.classes_.tolist() != list(range(scheme.n_classes)):
        raise ModelError(f"{net_json}: field 'classes' is {network.classes_.tolist()}, the class scheme of "
                         f"{path} has {scheme.n_classes} classes")
    names = network._feature_names()
    if names != meta["features"]:
        raise ModelError(f"{net_json}: field 'feature_names' ({names}) differs from field 'features' of {path} "
                         f"({meta['features']}); the network's inputs must be the model's features in order")
    sha = model_identity(meta, network)
    if sha != meta["model_sha256"]:
        raise ModelError(f"{path}: field 'model_sha256' does not match the content of the model folder "
                         "(model.json or network/ edited after training)")
    return CatalogueModel(
        network=network,
        features=list(meta["features"]),
        feature_groups=meta.get("feature_groups"),
        scheme=scheme,
        preselection=Preselection.from_dict(meta["preselection"]),
        thresholds={k: float(v) for k, v in meta["thresholds"].items()},
        meta=meta,
        sha256=sha,
        input_columns=meta.get("input_columns"),
    )


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


def signal_precision_recall(y_true, p_signal, threshold: float) -> dict:
    """Signal precision and recall of the cut ``p_signal >= threshold`` (the convention of
    :mod:`dwarflib.metrics`), with Wilson 68 % intervals (:func:`dwarflib.metrics.binomial_interval`)."""
    from dwarflib.metrics import binomial_interval

    y_true = np.asarray(y_true)
    sel = np.asarray(p_signal) >= threshold
    sig = y_true == SIGNAL
    tp = int((sel & sig).sum())
    n_sel = int(sel.sum())
    n_sig = int(sig.sum())
    prec = tp / n_sel if n_sel else float("nan")
    rec = tp / n_sig if n_sig else float("nan")
    plo, phi = binomial_interval(tp, n_sel, cl=CL_68)
    rlo, rhi = binomial_interval(tp, n_sig, cl=CL_68)
    return {"threshold": float(threshold), "n_selected": n_sel, "n_signal": n_sig, "tp": tp,
            "precision": prec, "precision_lo": plo, "precision_hi": phi,
            "recall": rec, "recall_lo": rlo, "recall_hi": rhi}


def choose_high_purity_threshold(y_true, p_signal, target: float = HIGH_PURITY_TARGET,
                                 min_selected: int = 10) -> tuple[float, pd.DataFrame, bool]:
    """Lowest threshold on a 0.005 grid in [0.5, 0.995] whose signal precision is >= ``target``.

    Only thresholds that select at least ``min_selected`` objects count (precision of a handful of
    objects is noise). Returns ``(threshold, scan, reached)``; when no threshold reaches ``target``,
    the threshold of maximum precision is returned with ``reached=False``.
    """
    grid = np.round(np.arange(0.5, 0.9951, 0.005), 3)
    scan = pd.DataFrame([signal_precision_recall(y_true, p_signal, t) for t in grid])
    ok = scan[(scan["n_selected"] >= min_selected) & (scan["precision"] >= target)]
    if len(ok):
        return float(ok["threshold"].iloc[0]), scan, True
    valid = scan[scan["n_selected"] >= min_selected]
    if not len(valid):
        return 0.5, scan, False
    return float(valid.loc[valid["precision"].idxmax(), "threshold"]), scan, False


def calibrated_softmax(z, temperature: float, bias) -> np.ndarray:
    """softmax(z / temperature + bias) row by row, float32 (z: logits, shape (n, n_classes))."""
    z = np.asarray(z, dtype=np.float32) / np.float32(temperature) + np.asarray(bias, dtype=np.float32)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def fit_calibration(z, y, n_classes: int, max_iter: int = 200) -> tuple[float, np.ndarray]:
    """Temperature T and class biases b minimising the mean log-loss of softmax(z / T + b) (LBFGS).

    ``z``: validation logits (n, n_classes); ``y``: class indices. The biases are returned with zero
    mean (softmax is invariant to a common shift).
    """
    import torch
    import torch.nn.functional as F

    zt = torch.as_tensor(np.asarray(z, dtype=np.float64))
    yt = torch.as_tensor(np.asarray(y, dtype=np.int64))
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t, b], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(zt / log_t.exp() + b, yt)
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


def _log_loss(y, proba, n_classes) -> float:
    from sklearn.metrics import log_loss

    p = np.clip(np.asarray(proba, dtype=np.float64), 1e-7, 1)
    return float(log_loss(y, p / p.sum(axis=1, keepdims=True), labels=list(range(n_classes))))


def _average_precision(y, p) -> float:
    from sklearn.metrics import average_precision_score

    sig = np.asarray(y) == SIGNAL
    return float(average_precision_score(sig, p)) if sig.any() else float("nan")


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
                      verbose: bool = False) -> TrainingResult:
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

    Returns
    -------
    TrainingResult
    """
    from dwarflib import training_sample as ts
    from dwarflib.labels import DEFAULT_SCHEME
    from dwarflib.torchnet import TorchMLPClassifier

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
                                          groups=feature_groups)
    if preselection is None:
        from dwarflib.preselection import DEFAULT_PRESELECTION

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

    # 1. architecture / hyper-parameter search on the validation part
    rows, fitted = [], []
    for i, cfg in enumerate(search or DEFAULT_SEARCH):
        t1 = time.perf_counter()
        net = TorchMLPClassifier(**{"random_state": seed, "max_epochs": max_epochs, "n_threads": n_threads, **cfg})
        net.fit(Xtr, split.y_train)
        pva = net.predict_proba(Xva)
        row = {"config": i, **{k: (str(tuple(v)) if isinstance(v, tuple | list) else "none" if v is None else v)
                               for k, v in cfg.items()},
               "val_signal_ap": _average_precision(split.y_val, pva[:, SIGNAL]),
               "val_log_loss": _log_loss(split.y_val, pva, n_classes),
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
    temperature, bias = fit_calibration(z_val, split.y_val, n_classes)
    proba_val = calibrated_softmax(z_val, temperature, bias)
    proba_test = calibrated_softmax(z_test, temperature, bias)

    # 3. thresholds (validation) and 4. test metrics
    hp, scan, reached = choose_high_purity_threshold(split.y_val, proba_val[:, SIGNAL])
    thresholds = {"catalogue": 0.5, "high_purity": hp, "paper": 0.95}
    test_metrics = pd.DataFrame([{"name": name, **signal_precision_recall(split.y_test, proba_test[:, SIGNAL], t)}
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
    meta["model_sha256"] = model_identity(meta, net)
    (out_dir / MODEL_JSON).write_text(json.dumps(meta, indent=1, allow_nan=False))
    model = load_model(out_dir)
    return TrainingResult(
        model=model, model_dir=out_dir, search=search_df, best_config=best_cfg, temperature=temperature,
        thresholds=thresholds, threshold_scan=scan, test_metrics=test_metrics,
        val={"y": split.y_val, "proba": proba_val, "proba_uncalibrated": proba_val_raw, "ids": split.ids_val},
        test={"y": split.y_test, "proba": proba_test, "proba_uncalibrated": proba_test_raw,
              "ids": split.ids_test},
        seconds=time.perf_counter() - t0)


def _input_columns(preselection, feature_groups) -> list[str]:
    """Sweep columns that the preselection and the features read (the catalogue reads only these)."""
    from dwarflib.datamodel import REQUIRED_COLUMNS
    from dwarflib.features import required_columns

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
    p.set_defaults(func=_cli_train)


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
                     f"[{r['precision_lo']:.3f}, {r['precision_hi']:.3f}], recall {r['recall']:.3f} "
                     f"[{r['recall_lo']:.3f}, {r['recall_hi']:.3f}] (selected {r['n_selected']}, "
                     f"signal {r['n_signal']})")
    lines.append(f"model written to {res.model_dir} in {res.seconds:.1f} s")
    return "\n".join(lines)


def _cli_train(args) -> int:
    import sys

    path = Path(args.training_sample)
    if not path.exists():
        print(f"dwarflib train: error: {path}: no such file", file=sys.stderr)
        return 1
    try:
        res = train_final_model(path, args.out, seed=args.seed, max_epochs=args.max_epochs)
    except (ValueError, KeyError) as exc:
        print(f"dwarflib train: error: {exc}", file=sys.stderr)
        return 1
    print(format_training_report(res))
    return 0
