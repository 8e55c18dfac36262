"""The PyTorch network as a scikit-learn estimator, saved without pickle.

:class:`TorchMLPClassifier` is a fully connected network (multi-layer perceptron) for the 7-class
(or binary) problem with the scikit-learn API: ``fit(X, y, sample_weight=None, eval_set=None)``,
``predict_proba``, ``predict``, ``classes_``, ``get_params``/``set_params``/``clone``.

* **Self-contained preprocessing.**  NaN features (e.g. no WISE detection) are replaced by the median
  of the training rows, a 0/1 "was missing" input is appended for every feature that had NaN in
  training, and the imputed features are standardised (mean 0, standard deviation 1).  The statistics
  are part of the saved model, so a loaded model needs nothing else.
* **Imbalance.**  ``class_weight="balanced"`` weights the cross-entropy of each object by
  n / (n_classes * n_its_class) (times any ``sample_weight``).
* **Early stopping** on the (equally weighted) validation loss: a stratified ``validation_fraction``
  of the training rows, or ``eval_set=(X_val, y_val)``; the weights of the best epoch are kept.
* **Determinism.**  For a given ``random_state`` and ``n_threads`` two fits on CPU give bitwise
  identical weights and probabilities: initialisation and dropout draw from a seeded, forked torch RNG
  (the caller's global RNG state is restored afterwards), mini-batches are shuffled with a dedicated
  :class:`torch.Generator`, ``torch.use_deterministic_algorithms(True)`` is on during fit and the
  thread count is fixed (a different thread count may change the last bits of float sums).
* **Calibration.**  :meth:`TorchMLPClassifier.fit_temperature` fits one temperature T on a validation set
  (LBFGS on the negative log-likelihood); ``predict_proba`` returns softmax(logits / T).  T changes
  confidence, never the ranking of ``p_signal`` or the predicted class.
* **Saving without pickle.**  :meth:`TorchMLPClassifier.save` writes ``weights.npz`` (``np.savez`` of
  the state dict, read back with ``allow_pickle=False``) and ``model.json`` (hyper-parameters,
  preprocessing statistics, classes, feature names, temperature, versions, the SHA-256 of the weights,
  optional provenance ``metadata``).  :meth:`TorchMLPClassifier.load` checks all of it.
* **Fast inference.**  :meth:`TorchMLPClassifier.preprocess` (features -> float32 network input) and
  :meth:`TorchMLPClassifier.forward_numpy` (network input -> probabilities, the model-only forward pass)
  work in large float32 batches under ``torch.inference_mode``; ``predict_proba`` chains them chunk by
  chunk so memory stays bounded for any number of rows.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

from dwarflib.conventions import file_sha256

from . import __version__
from .feature_checks import as_feature_array, check_no_inf

__all__ = ["ACTIVATIONS", "FORMAT", "FORMAT_VERSION", "TorchMLPClassifier"]

FORMAT = "dwarflib.torchnet.TorchMLPClassifier"
FORMAT_VERSION = 1
WEIGHTS_FILE = "weights.npz"
JSON_FILE = "model.json"

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh, "elu": nn.ELU}

#: Rows per batch in ``preprocess``/``forward_numpy``/``predict_proba``: small enough for the activations
#: (16384 x 128 float32 = 8 MiB) to stay in cache, which is faster on one thread than bigger batches.
INFERENCE_BATCH = 16384


def _build_net(
    n_inputs: int, hidden_layers, n_outputs: int, activation: str, dropout: float
) -> nn.Sequential:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    layers: list[nn.Module] = []
    width = n_inputs
    for h in hidden_layers:
        layers += [nn.Linear(width, int(h)), ACTIVATIONS[activation]()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = int(h)
    layers.append(nn.Linear(width, n_outputs))
    return nn.Sequential(*layers)


@contextlib.contextmanager
def _torch_settings(n_threads: int | None, deterministic: bool):
    """Fix the thread count and deterministic mode for a block; restore the caller's settings after."""
    prev_threads = torch.get_num_threads()
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        if n_threads is not None:
            torch.set_num_threads(int(n_threads))
        if deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        yield
    finally:
        if n_threads is not None:
            torch.set_num_threads(prev_threads)
        if deterministic:
            torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)


class TorchMLPClassifier(ClassifierMixin, BaseEstimator):
    """Multi-layer perceptron classifier in PyTorch with the scikit-learn API.

    Parameters
    ----------
    hidden_layers : tuple of int
        Widths of the hidden layers.
    dropout : float
        Dropout probability after each hidden activation (0 disables).
    activation : {"relu", "gelu", "silu", "tanh", "elu"}
    lr : float
        AdamW learning rate.
    weight_decay : float
        AdamW (decoupled) weight decay.
    batch_size : int
        Training mini-batch size.
    max_epochs : int
        Maximum passes over the training rows.
    patience : int
        Stop after this many epochs without a lower validation loss (keeps the best epoch's weights).
    validation_fraction : float
        Stratified fraction of the training rows held out for early stopping when no ``eval_set`` is
        given; 0 trains for ``max_epochs`` without early stopping.
    class_weight : {"balanced", None}
        Weight the cross-entropy by n / (n_classes * n_class).
    random_state : int
        Seed of initialisation, dropout, validation split and shuffling.
    n_threads : int or None
        torch intra-op threads during fit and predict (None: leave torch's setting alone).

    Attributes
    ----------
    classes_, n_features_in_, feature_names_in_ (when fitted on a DataFrame)
    median_, mean_, scale_ : ndarray (n_features_in_,)
        Imputation median and standardisation of each feature (feature units).
    indicator_features_ : ndarray of int
        Features that get a missing-value indicator input.
    net_ : torch.nn.Sequential
    temperature_ : float
        1.0 until :meth:`fit_temperature` is called.
    history_ : dict
        ``train_loss`` and ``val_loss`` per epoch (weighted mean cross-entropy).
    best_epoch_, n_epochs_ : int
    fit_seconds_ : float
    """

    def __init__(
        self,
        hidden_layers=(128, 64),
        dropout: float = 0.1,
        activation: str = "relu",
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 512,
        max_epochs: int = 50,
        patience: int = 5,
        validation_fraction: float = 0.1,
        class_weight: str | None = "balanced",
        random_state: int = 0,
        n_threads: int | None = 1,
    ):
        self.hidden_layers = hidden_layers
        self.dropout = dropout
        self.activation = activation
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.class_weight = class_weight
        self.random_state = random_state
        self.n_threads = n_threads

    # ------------------------------------------------------------------ preprocessing

    def _feature_names(self):
        return list(self.feature_names_in_) if hasattr(self, "feature_names_in_") else None

    def _fit_preprocessing(self, Xa: np.ndarray) -> None:
        nan = np.isnan(Xa)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN feature: median 0 below
            med = np.nanmedian(Xa, axis=0)
        med = np.where(np.isnan(med), 0.0, med)
        filled = np.where(nan, med, Xa)
        mean = filled.mean(axis=0)
        scale = filled.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        self.median_ = med.astype(np.float64)
        self.mean_ = mean.astype(np.float64)
        self.scale_ = scale.astype(np.float64)
        self.indicator_features_ = np.flatnonzero(nan.any(axis=0)).astype(np.int64)
        self.n_inputs_ = int(Xa.shape[1] + self.indicator_features_.size)
        self._set_float32_stats()

    def _preprocess_array(self, Xa: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Features (n, n_features_in_) -> float32 network input (n, n_inputs_), written into ``out``.

        (x - mean) * (1 / scale) in float32, NaN replaced by the standardised median, then the 0/1
        missing-value indicators.  The same code serves training and inference, so both see bitwise
        the same inputs.  Large inputs go through :meth:`preprocess` / :meth:`predict_proba`, which call
        this per chunk of INFERENCE_BATCH rows.
        """
        d = self.n_features_in_
        X32 = np.asarray(Xa, dtype=np.float32)
        if out is None:
            out = np.empty((X32.shape[0], self.n_inputs_), dtype=np.float32)
        body = out[:, :d]
        np.subtract(X32, self._mean32, out=body)
        body *= self._inv_scale32
        nan = np.isnan(X32)
        if nan.any():
            np.copyto(body, np.broadcast_to(self._fill32, body.shape), where=nan)
        if self.indicator_features_.size:
            # uint8 gather then cast: 3x faster than assigning a boolean fancy index to float32
            out[:, d:] = np.take(nan.view(np.uint8), self.indicator_features_, axis=1)
        return out

    def _set_float32_stats(self) -> None:
        self._mean32 = self.mean_.astype(np.float32)
        self._inv_scale32 = (1.0 / self.scale_).astype(np.float32)
        # the standardised median, computed the way a non-missing value equal to the median would be
        self._fill32 = (self.median_.astype(np.float32) - self._mean32) * self._inv_scale32

    def _check_X(self, X) -> np.ndarray:
        """Validated 2-d array (a float32/float64 ndarray is not copied; DataFrames become float32).

        The inf check is done per chunk by :meth:`_preprocess_chunk`.
        """
        check_is_fitted(self, "net_")
        dtype = np.float32 if isinstance(X, pd.DataFrame) else None
        Xa, _ = as_feature_array(X, self._feature_names(), dtype=dtype, check_inf=False)
        if Xa.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {Xa.shape[1]} features, the model was trained on {self.n_features_in_}")
        return Xa

    def _preprocess_chunk(self, Xa: np.ndarray, start: int, stop: int, out: np.ndarray) -> np.ndarray:
        chunk = np.asarray(Xa[start:stop], dtype=np.float32)
        check_no_inf(chunk, self._feature_names(), "X", row_offset=start)
        return self._preprocess_array(chunk, out)

    def preprocess(self, X) -> np.ndarray:
        """Features (DataFrame in training column order, or array; NaN allowed) -> float32 network input.

        Output shape (n_rows, n_inputs_): standardised, median-imputed features followed by the 0/1
        missing-value indicators.  Feed it to :meth:`forward_numpy`.
        """
        Xa = self._check_X(X)
        out = np.empty((Xa.shape[0], self.n_inputs_), dtype=np.float32)
        for s in range(0, Xa.shape[0], INFERENCE_BATCH):
            self._preprocess_chunk(Xa, s, s + INFERENCE_BATCH, out[s : s + INFERENCE_BATCH])
        return out

    # ------------------------------------------------------------------ fit

    def _encode(self, y, what="y") -> np.ndarray:
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"{what} must be one-dimensional, got shape {y.shape}")
        idx = np.searchsorted(self.classes_, y)
        idx = np.clip(idx, 0, self.classes_.size - 1)
        bad = self.classes_[idx] != y
        if bad.any():
            raise ValueError(
                f"{what} has label {y[bad][0]!r} not seen in training (classes {self.classes_.tolist()})"
            )
        return idx.astype(np.int64)

    def _split(self, y_enc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.random_state)
        val = []
        for k in range(self.classes_.size):
            idx = np.flatnonzero(y_enc == k)
            n_v = min(int(round(self.validation_fraction * idx.size)), idx.size - 1)
            if n_v > 0:
                val.append(rng.choice(idx, n_v, replace=False))
        val_idx = np.sort(np.concatenate(val)) if val else np.array([], dtype=np.int64)
        mask = np.ones(y_enc.size, bool)
        mask[val_idx] = False
        return np.flatnonzero(mask), val_idx

    def fit(self, X, y, sample_weight=None, eval_set=None):
        """Train on features X (DataFrame or array, NaN allowed) and labels y.

        Parameters
        ----------
        sample_weight : array_like, optional
            Per-row weights (e.g. importance weights), multiplied by the class weights; each row's loss is
            weighted by them, and ``class_weight='balanced'`` balances the classes' weighted sums.
        eval_set : (X_val, y_val) or (X_val, y_val, w_val), optional
            Validation set for early stopping instead of the internal stratified split (with its weights).
        """
        t0 = time.perf_counter()
        if self.class_weight not in ("balanced", None):
            raise ValueError(f"class_weight must be 'balanced' or None, got {self.class_weight!r}")
        if not 0 <= self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in [0, 1), got {self.validation_fraction}")
        Xa, names = as_feature_array(X)
        y = np.asarray(y)
        if y.shape != (Xa.shape[0],):
            raise ValueError(f"X has {Xa.shape[0]} rows but y has shape {y.shape}")
        self.classes_ = np.unique(y)
        if self.classes_.size < 2:
            raise ValueError(
                f"y has a single class {self.classes_.tolist()}; a classifier needs at least two"
            )
        if names is not None:
            self.feature_names_in_ = np.asarray(names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.n_features_in_ = Xa.shape[1]
        y_enc = self._encode(y)
        sw = np.ones(y.size) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if sw.shape != y.shape or not np.all(np.isfinite(sw)) or np.any(sw < 0):
            raise ValueError("sample_weight must be finite, non-negative and have one value per row")

        if eval_set is not None:
            X_val, y_val, *w_val = eval_set
            Xv, _ = as_feature_array(X_val, names, what="eval_set X")
            yv = self._encode(y_val, "eval_set y")
            swv = np.asarray(w_val[0], dtype=np.float64) if w_val and w_val[0] is not None else np.ones(yv.size)
            if swv.shape != yv.shape or not np.all(np.isfinite(swv)) or np.any(swv < 0):
                raise ValueError("eval_set weights must be finite, non-negative and have one value per row")
            tr = np.arange(y.size)
        elif self.validation_fraction > 0:
            tr, va = self._split(y_enc)
            Xv, yv, swv = Xa[va], y_enc[va], sw[va]
        else:
            tr = np.arange(y.size)
            Xv = None
        Xtr, ytr, swtr = Xa[tr], y_enc[tr], sw[tr]
        self._fit_preprocessing(Xtr)

        k = self.classes_.size
        # weighted class sums (the class counts when every weight is 1)
        counts = np.bincount(ytr, weights=swtr, minlength=k).astype(np.float64)
        if self.class_weight == "balanced":
            with np.errstate(divide="ignore"):
                cw = np.where(counts > 0, swtr.sum() / (k * counts), 0.0)
        else:
            cw = np.ones(k)
        self.class_weights_ = cw

        def tensors(Xp, yy, ww):
            return (
                torch.from_numpy(self._preprocess_array(Xp)),
                torch.from_numpy(yy),
                torch.from_numpy((ww * cw[yy]).astype(np.float32)),
            )

        Xt, yt, wt = tensors(Xtr, ytr, swtr)
        if float(wt.sum()) <= 0:
            raise ValueError("all training weights are zero")
        val = tensors(Xv, yv, swv) if Xv is not None and len(yv) else None

        seed = int(self.random_state)
        history = {"train_loss": [], "val_loss": []}
        with _torch_settings(self.n_threads, deterministic=True), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = _build_net(self.n_inputs_, self.hidden_layers, k, self.activation, float(self.dropout))
            opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            gen = torch.Generator().manual_seed(seed)
            best, best_state, best_epoch, wait = np.inf, None, 0, 0
            n_tr = yt.shape[0]
            bs = int(self.batch_size)
            for epoch in range(int(self.max_epochs)):
                net.train()
                perm = torch.randperm(n_tr, generator=gen)
                tot, wsum = 0.0, 0.0
                for start in range(0, n_tr, bs):
                    idx = perm[start : start + bs]
                    wb = wt[idx]
                    ws = wb.sum()
                    if float(ws) == 0:
                        continue
                    loss = (F.cross_entropy(net(Xt[idx]), yt[idx], reduction="none") * wb).sum() / ws
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    tot += float(loss.detach()) * float(ws)
                    wsum += float(ws)
                history["train_loss"].append(tot / wsum)
                if val is None:
                    best_epoch = epoch
                    continue
                vloss = self._weighted_loss(net, *val)
                history["val_loss"].append(vloss)
                if vloss < best:
                    best, best_epoch, wait = vloss, epoch, 0
                    best_state = copy.deepcopy(net.state_dict())
                else:
                    wait += 1
                    if wait >= self.patience:
                        break
            if best_state is not None:
                net.load_state_dict(best_state)
        net.eval()
        self.net_ = net
        self.history_ = history
        self.best_epoch_ = int(best_epoch)
        self.n_epochs_ = len(history["train_loss"])
        self.temperature_ = 1.0
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    @staticmethod
    def _weighted_loss(net, X, y, w) -> float:
        net.eval()
        with torch.inference_mode():
            tot = 0.0
            for s in range(0, y.shape[0], INFERENCE_BATCH):
                ce = F.cross_entropy(
                    net(X[s : s + INFERENCE_BATCH]), y[s : s + INFERENCE_BATCH], reduction="none"
                )
                tot += float((ce * w[s : s + INFERENCE_BATCH]).sum())
        return tot / float(w.sum())

    # ------------------------------------------------------------------ inference

    def _forward_chunk(self, Xp: np.ndarray, logits: bool) -> np.ndarray:
        z = self.net_(torch.from_numpy(Xp))
        if not logits:
            if self.temperature_ != 1.0:
                z = z / self.temperature_
            z = torch.softmax(z, dim=1)
        return z.numpy()

    def forward_numpy(
        self, Xp: np.ndarray, batch_size: int = INFERENCE_BATCH, logits: bool = False
    ) -> np.ndarray:
        """Model-only forward pass: float32 network input (from :meth:`preprocess`) -> float32 probabilities.

        Applies the temperature (softmax(logits / T)); ``logits=True`` returns the raw logits instead.
        """
        check_is_fitted(self, "net_")
        Xp = np.ascontiguousarray(Xp, dtype=np.float32)
        if Xp.ndim != 2 or Xp.shape[1] != self.n_inputs_:
            raise ValueError(f"network input must have shape (n, {self.n_inputs_}), got {Xp.shape}")
        out = np.empty((Xp.shape[0], self.classes_.size), dtype=np.float32)
        bs = int(batch_size)
        self.net_.eval()
        with _torch_settings(self.n_threads, deterministic=False), torch.inference_mode():
            for s in range(0, Xp.shape[0], bs):
                out[s : s + bs] = self._forward_chunk(Xp[s : s + bs], logits)
        return out

    def predict_proba(self, X, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
        """Class probabilities (n_rows, n_classes) in ``classes_`` order, temperature applied.

        Preprocessing and forward pass run chunk by chunk (``batch_size`` rows, float32, one reused
        buffer) so memory stays bounded for any number of rows; the result is float64.
        """
        Xa = self._check_X(X)
        n = Xa.shape[0]
        out = np.empty((n, self.classes_.size), dtype=np.float64)
        bs = int(batch_size)
        buf = np.empty((min(bs, n), self.n_inputs_), dtype=np.float32)
        self.net_.eval()
        with _torch_settings(self.n_threads, deterministic=False), torch.inference_mode():
            for s in range(0, n, bs):
                m = min(bs, n - s)
                Xp = self._preprocess_chunk(Xa, s, s + m, buf[:m])
                out[s : s + m] = self._forward_chunk(Xp, logits=False)
        return out

    def predict(self, X) -> np.ndarray:
        """Most probable class (labels of ``classes_``)."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    # ------------------------------------------------------------------ calibration

    def fit_temperature(self, X_val, y_val, sample_weight=None, max_iter: int = 100) -> TorchMLPClassifier:
        """Fit the temperature T on a validation set (LBFGS on the mean negative log-likelihood).

        Use rows not seen in training; the NLL is unweighted unless ``sample_weight`` is given, i.e. it
        calibrates to the class mix of the validation set.  Sets ``temperature_`` and
        ``temperature_nll_`` = (NLL at T = 1, NLL at the fitted T).
        """
        check_is_fitted(self, "net_")
        Xp = self.preprocess(X_val)
        y = torch.from_numpy(self._encode(y_val, "y_val"))
        w = (
            torch.ones(y.shape[0], dtype=torch.float64)
            if sample_weight is None
            else torch.as_tensor(np.asarray(sample_weight, dtype=np.float64))
        )
        with _torch_settings(self.n_threads, deterministic=True):
            z = torch.from_numpy(self.forward_numpy(Xp, logits=True)).double()
            log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
            opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=int(max_iter), line_search_fn="strong_wolfe")

            def nll():
                return (F.cross_entropy(z / log_t.exp(), y, reduction="none") * w).sum() / w.sum()

            def closure():
                opt.zero_grad()
                loss = nll()
                loss.backward()
                return loss

            with torch.no_grad():
                before = float(nll())
            opt.step(closure)
            with torch.no_grad():
                after = float(nll())
        t = float(np.exp(float(log_t.detach())))
        if not np.isfinite(t) or t <= 0:
            raise RuntimeError(f"temperature fit failed (T = {t})")
        self.temperature_ = t
        self.temperature_nll_ = (before, after)
        return self

    # ------------------------------------------------------------------ identity

    def content_sha256(self) -> str:
        """sha256 of what determines this network's outputs: architecture, classes, feature names,
        preprocessing statistics, temperature and the weight arrays (names, dtypes, shapes, bytes).

        Unlike the sha256 of ``weights.npz`` (whose zip entries carry the time of writing), it is the
        same for two bitwise-identical fits, so it identifies a model across retrains with the same seed.
        """
        check_is_fitted(self, "net_")
        desc = {
            "hidden_layers": [int(h) for h in self.hidden_layers],
            "activation": self.activation,
            "dropout": float(self.dropout),
            "classes": self.classes_.tolist(),
            "feature_names": self._feature_names(),
            "median": self.median_.tolist(),
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "indicator_features": self.indicator_features_.tolist(),
            "temperature": float(self.temperature_),
        }
        h = hashlib.sha256(json.dumps(desc, sort_keys=True).encode())
        for name, tensor in sorted(self.net_.state_dict().items()):
            arr = np.ascontiguousarray(tensor.detach().cpu().numpy())
            h.update(f"{name}|{arr.dtype.str}|{arr.shape}".encode())
            h.update(arr.tobytes())
        return h.hexdigest()

    # ------------------------------------------------------------------ save / load

    def save(self, directory, metadata: dict | None = None) -> Path:
        """Write ``weights.npz`` and ``model.json`` into ``directory`` (created; files replaced atomically).

        ``metadata`` (JSON-serialisable: feature list, class scheme, preselection, training-data
        provenance, ...) is stored verbatim under ``"metadata"`` and returned by :meth:`load` as
        ``metadata_``.
        """
        check_is_fitted(self, "net_")
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}
        tmp_w = d / (WEIGHTS_FILE + ".tmp")
        with open(tmp_w, "wb") as f:
            np.savez(f, **state)
        params = self.get_params()
        params["hidden_layers"] = [int(h) for h in params["hidden_layers"]]
        classes = self.classes_.tolist()
        desc = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "params": params,
            "classes": classes,
            "classes_dtype": str(self.classes_.dtype),
            "n_features_in": int(self.n_features_in_),
            "feature_names": None
            if self._feature_names() is None
            else [str(c) for c in self._feature_names()],
            "preprocessing": {
                "median": self.median_.tolist(),
                "mean": self.mean_.tolist(),
                "scale": self.scale_.tolist(),
                "indicator_features": self.indicator_features_.tolist(),
                "n_inputs": int(self.n_inputs_),
            },
            "temperature": float(self.temperature_),
            "training": {
                "best_epoch": int(self.best_epoch_),
                "n_epochs": int(self.n_epochs_),
                "history": self.history_,
                "class_weights": np.asarray(self.class_weights_, dtype=float).tolist(),
            },
            "weights_file": WEIGHTS_FILE,
            "weights_sha256": file_sha256(tmp_w),
            "weights_shapes": {k: list(v.shape) for k, v in state.items()},
            "versions": {"torch": torch.__version__, "numpy": np.__version__, "dwarflib": __version__},
            "metadata": metadata if metadata is not None else {},
        }
        tmp_j = d / (JSON_FILE + ".tmp")
        tmp_j.write_text(json.dumps(desc, indent=1, allow_nan=False))
        os.replace(tmp_w, d / WEIGHTS_FILE)
        os.replace(tmp_j, d / JSON_FILE)
        return d

    @classmethod
    def load(cls, directory) -> TorchMLPClassifier:
        """Read a model written by :meth:`save`; no pickle is involved.

        Raises
        ------
        FileNotFoundError
            When the directory, ``model.json`` or ``weights.npz`` is missing.
        ValueError
            When ``model.json`` is not valid JSON or not this format, or ``weights.npz`` does not match
            the SHA-256 recorded in ``model.json`` (modified or truncated), or its arrays do not match
            the architecture (names and shapes).
        """
        d = Path(directory)
        jpath, wpath = d / JSON_FILE, d / WEIGHTS_FILE
        for p in (jpath, wpath):
            if not p.is_file():
                raise FileNotFoundError(f"{p} is missing: not a saved TorchMLPClassifier directory")
        try:
            desc = json.loads(jpath.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{jpath} is not valid JSON: {e}") from None
        if not isinstance(desc, dict) or desc.get("format") != FORMAT:
            raise ValueError(f"{jpath} does not describe a {FORMAT} (format = {desc.get('format')!r})")
        if desc.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{jpath} has format_version {desc.get('format_version')}, expected {FORMAT_VERSION}"
            )
        sha = file_sha256(wpath)
        if sha != desc.get("weights_sha256"):
            raise ValueError(
                f"{wpath} does not match the SHA-256 recorded in {jpath} (file modified or truncated): "
                f"{sha} != {desc.get('weights_sha256')}"
            )
        try:
            params = dict(desc["params"])
            params["hidden_layers"] = tuple(params["hidden_layers"])
            model = cls(**params)
            pre = desc["preprocessing"]
            model.classes_ = np.asarray(desc["classes"], dtype=desc["classes_dtype"])
            model.n_features_in_ = int(desc["n_features_in"])
            if desc["feature_names"] is not None:
                model.feature_names_in_ = np.asarray(desc["feature_names"], dtype=object)
            model.median_ = np.asarray(pre["median"], dtype=np.float64)
            model.mean_ = np.asarray(pre["mean"], dtype=np.float64)
            model.scale_ = np.asarray(pre["scale"], dtype=np.float64)
            model.indicator_features_ = np.asarray(pre["indicator_features"], dtype=np.int64)
            model.n_inputs_ = int(pre["n_inputs"])
            model.temperature_ = float(desc["temperature"])
            tr = desc["training"]
            model.best_epoch_, model.n_epochs_, model.history_ = (
                int(tr["best_epoch"]),
                int(tr["n_epochs"]),
                tr["history"],
            )
            model.class_weights_ = np.asarray(tr["class_weights"], dtype=np.float64)
            model.metadata_ = desc.get("metadata", {})
            model.versions_ = desc.get("versions", {})
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{jpath} is incomplete or malformed: {e!r}") from None
        for name, arr in (("median", model.median_), ("mean", model.mean_), ("scale", model.scale_)):
            if arr.shape != (model.n_features_in_,):
                raise ValueError(
                    f"{jpath}: preprocessing '{name}' has {arr.size} values, expected {model.n_features_in_}"
                )
        if model.n_inputs_ != model.n_features_in_ + model.indicator_features_.size:
            raise ValueError(f"{jpath}: n_inputs is inconsistent with the features and indicators")
        model._set_float32_stats()
        net = _build_net(
            model.n_inputs_, model.hidden_layers, model.classes_.size, model.activation, float(model.dropout)
        )
        expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
        try:
            with np.load(wpath, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (ValueError, OSError) as e:
            raise ValueError(f"{wpath} cannot be read as a .npz of arrays: {e}") from None
        if set(arrays) != set(expected):
            raise ValueError(
                f"{wpath} holds arrays {sorted(arrays)}, the architecture needs {sorted(expected)}"
            )
        for k, shape in expected.items():
            if arrays[k].shape != shape:
                raise ValueError(f"{wpath}: array {k!r} has shape {arrays[k].shape}, expected {shape}")
        net.load_state_dict(
            {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}, strict=True
        )
        net.eval()
        model.net_ = net
        return model
