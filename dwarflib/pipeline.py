"""The trained catalogue model: its save format, its loading, and its application to a chunk of rows.

A model folder (written by :func:`dwarflib.training.train_final_model`, never pickled) holds

* ``model.json`` (:data:`MODEL_JSON`): feature list and groups, class scheme, preselection, thresholds,
  calibration (temperature, class biases), provenance, and ``model_sha256``
  (:func:`compute_model_sha256`: sha256 of what determines the outputs), checked by
  :func:`validate_model_meta`;
* ``network/`` (:data:`NETWORK_DIR`): the network's weights and its own ``model.json``
  (:meth:`dwarflib.torchnet.TorchMLPClassifier.save`);
* optionally ``sky-calibration.json`` (:data:`SKY_CALIBRATION_JSON`, written by
  :func:`dwarflib.completeness.calibrate_on_sky`): the sky's purity and completeness curves against the
  threshold on ``P_SIGNAL_SKY``. ``model.json``'s field ``sky_calibration`` (:data:`SKY_FIELD`) then holds the
  training-mix and sky class priors (used by :meth:`CatalogueModel.sky_proba`), the curves file's name and
  sha256; the field is part of ``model_sha256`` (the priors change ``P_SIGNAL_SKY``, the curves the
  ``--purity`` threshold), so adding a sky calibration gives the model a new identity.

:func:`load_model` checks both and returns a :class:`CatalogueModel`, whose
:meth:`~CatalogueModel.apply_chunk` is the one path from sweep rows to calibrated probabilities (row
checks, preselection, features, network, per-row flags) used by :mod:`dwarflib.catalogue`,
:mod:`dwarflib.explain` and the benchmarks. Errors in a model folder raise :class:`ModelError`, one line
naming the file and the field.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dwarflib.datamodel import unique_id
from dwarflib.features import feature_array
from dwarflib.labels import SIGNAL, ClassScheme
from dwarflib.preselection import CUT_ORDER, ROW_CHECK_ORDER, Preselection, row_checks
from dwarflib.priors import SUM_TOL, prior_shift

MODEL_JSON = "model.json"
NETWORK_DIR = "network"
#: 2: feature names stored with the network's weights, ``model_sha256`` (see :func:`compute_model_sha256`).
FORMAT_VERSION = 2
MODEL_FORMAT = "dwarflib-catalogue-model"

#: The thresholds on the calibrated ``p_signal`` that a model carries (each in [0, 1]).
THRESHOLD_NAMES: tuple[str, ...] = ("catalogue", "high_purity", "paper")

#: ``model.json`` fields that determine a catalogue; with the network's content
#: (:meth:`dwarflib.torchnet.TorchMLPClassifier.content_sha256`) they make the model's
#: ``model_sha256`` (:func:`compute_model_sha256`). Timings, dates, the search table, test metrics and provenance are left out,
#: so an identical retrain (same data, seed and threads) has the same ``model_sha256``.
OUTPUT_FIELDS: tuple[str, ...] = ("format_version", "features", "feature_units", "feature_groups",
                                  "class_scheme", "signal_class", "preselection", "input_columns",
                                  "thresholds", "temperature", "class_bias")

#: The optional ``model.json`` field with the sky priors and the curves file (see the module docstring); hashed
#: into ``model_sha256`` only when present, so models without it keep their identity.
SKY_FIELD = "sky_calibration"
SKY_CALIBRATION_JSON = "sky-calibration.json"
#: A point of a stored purity curve counts for ``--purity`` only when it selects at least this many objects
#: of the calibration footprint (a purity of a handful of objects is noise).
MIN_SELECTED_FOR_PURITY = 10


class ModelError(ValueError):
    """A model folder that cannot be used (malformed, inconsistent or edited files); the message names
    the file and the field."""


def column_name(feature: str) -> str:
    """Catalogue column name of a feature: characters other than letters, digits and _ become _."""
    return re.sub(r"[^A-Za-z0-9_]", "_", feature)


def calibrated_softmax(z, temperature: float, bias) -> np.ndarray:
    """softmax(z / temperature + bias) row by row, float32 (z: logits, shape (n, n_classes))."""
    z = np.asarray(z, dtype=np.float32) / np.float32(temperature) + np.asarray(bias, dtype=np.float32)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


#: Bits of the FLAG column of the catalogue.
FLAG_BITS: dict[str, int] = {
    "FEATURE_IMPUTED": 0,  # at least one feature was not finite and was imputed by the model
    "NO_WISE": 1,  # FLUX_IVAR_W1 or FLUX_IVAR_W2 is 0 (no unWISE measurement)
    "NEGATIVE_FLUX": 2,  # a g, r, z, W1 or W2 flux is <= 0
    "HIGH_PURITY": 3,  # P_SIGNAL above the model's high-purity threshold
    "QUALITY": 4,  # a survey_io quality flag is set (details in QUALITY_FLAGS, bits of survey_io.QUALITY_BITS)
    "LARGE_GALAXY": 5,  # a large-galaxy or shred bit is set (details in LARGE_GALAXY, bits of large_galaxies)
}


class ChunkArrays:
    """A chunk as a dict of plain numpy columns with the bits of the astropy Table API that
    preselection, features and quality flags use (``colnames``, ``meta``, ``len``, ``t[name]``).
    Row selection (``t[mask]``) indexes each array once, without astropy's Table/Column overhead."""

    __slots__ = ("cols", "meta", "n")

    def __init__(self, cols: dict[str, np.ndarray], meta: dict, n: int):
        self.cols, self.meta, self.n = cols, meta, n

    @classmethod
    def from_table(cls, table) -> ChunkArrays:
        if isinstance(table, ChunkArrays):
            return table
        if hasattr(table, "colnames"):  # astropy Table: views of the column data, masks kept
            cols = {}
            for name in table.colnames:
                col = table[name]
                cols[name] = col if isinstance(col, np.ma.MaskedArray) else col.view(np.ndarray)
            return cls(cols, dict(getattr(table, "meta", {})), len(table))
        return cls({str(c): np.asarray(table[c]) for c in table.columns}, {}, len(table))

    @property
    def colnames(self) -> list[str]:
        return list(self.cols)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key):
        if isinstance(key, str):
            return self.cols[key]
        idx = np.asarray(key)
        if idx.dtype == bool:  # one nonzero() for all columns, then integer takes
            idx = np.flatnonzero(idx)
        return ChunkArrays({k: v[idx] for k, v in self.cols.items()}, self.meta, len(idx))


class SeenIds:
    """The TARGETIDs already classified from one input file, to reject repeated ids across the chunks
    of a file (see :meth:`CatalogueModel.apply_chunk`). One per input file.

    The ids are kept as sorted unique int64 arrays whose sizes grow like a binary counter (a new
    chunk's ids are merged with the last array while it is not larger): recording N ids in chunks
    of any size costs O(N log^2 N), and a look-up searches at most log2(N) arrays. (One array merged
    on every chunk costs O(N^2 / chunk) and made a file read in one-row chunks crawl.)
    """

    def __init__(self):
        self.levels: list[np.ndarray] = []

    def __contains__(self, tid) -> bool:
        return bool(self._seen(np.asarray([tid], np.int64))[0])

    def _seen(self, tid: np.ndarray) -> np.ndarray:
        seen = np.zeros(len(tid), bool)
        for ids in self.levels:
            i = np.minimum(np.searchsorted(ids, tid), len(ids) - 1)
            seen |= ids[i] == tid
        return seen

    def repeated(self, tid: np.ndarray) -> np.ndarray:
        """Per id: True when it was seen before (in an earlier call, or earlier in ``tid``); records ``tid``."""
        tid = np.asarray(tid, np.int64)
        rep = np.ones(len(tid), bool)
        new = np.unique(tid, return_index=True)
        rep[new[1]] = False  # the first copy within tid
        rep |= self._seen(tid)
        ids = new[0]
        while self.levels and len(self.levels[-1]) <= len(ids):
            ids = np.union1d(self.levels.pop(), ids)
        if len(ids):
            self.levels.append(ids)
        return rep


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
    model_sha256 : str
        sha256 of what determines the outputs (:func:`compute_model_sha256`); identifies
        the model in catalogue headers and manifests, and decides what ``classify --resume`` redoes.
    """

    network: object
    features: list[str]
    feature_groups: list[str] | None
    scheme: ClassScheme
    preselection: object
    thresholds: dict[str, float]
    meta: dict = field(default_factory=dict)
    model_sha256: str = ""
    input_columns: list[str] | None = None
    #: the content of ``sky-calibration.json`` (None: the model has no sky calibration)
    sky_curves: dict | None = None

    signal_index: int = SIGNAL

    @property
    def has_sky_priors(self) -> bool:
        """Whether the model carries sky priors (``P_SIGNAL_SKY`` and ``--purity`` need them)."""
        return SKY_FIELD in self.meta

    def _sky(self) -> dict:
        if not self.has_sky_priors:
            raise ModelError(f"model {self.model_sha256[:12]} has no sky calibration (no field {SKY_FIELD!r} "
                             f"and no {SKY_CALIBRATION_JSON}); add one with `dwarflib sky-calibrate MODEL_DIR SKY_DIR`"
                             " or `dwarflib train --sky-calibration SKY_DIR`")
        return self.meta[SKY_FIELD]

    @property
    def train_priors(self) -> np.ndarray:
        """Class priors the calibrated probabilities carry (the labelled training sample's class mix)."""
        return np.asarray(self._sky()["train_priors"], float)

    @property
    def training_mix_priors(self) -> np.ndarray:
        """Class priors the calibrated probabilities carry: :attr:`train_priors` of a sky-calibrated model, else
        the class fractions of ``training_data.class_counts`` of ``model.json`` (all parts; the same numbers
        :func:`dwarflib.completeness.calibrate_on_sky` stores), or of ``training_data.weighted_class_counts``
        when the model was trained with importance weights (``training_data.weighted``: the weighted training
        part and the unweighted validation and test parts, all in the surveys' class mix). Raises :class:`ModelError` naming the field when they are missing or a class
        has no object."""
        if self.has_sky_priors:
            return self.train_priors
        k = self.scheme.n_classes
        td = self.meta.get("training_data", {})
        field_name = "weighted_class_counts" if td.get("weighted") else "class_counts"
        parts = td.get(field_name)
        where = f"model {self.model_sha256[:12]}: field 'training_data.{field_name}' of {MODEL_JSON}"
        if not isinstance(parts, dict) or not parts:
            raise ModelError(f"{where} is missing; the training-mix class priors are unknown")
        counts = np.zeros(k, np.float64)
        for name, part in parts.items():
            if not (isinstance(part, list) and len(part) == k and all(_is_number(v) and v >= 0 for v in part)):
                raise ModelError(f"{where}, part {name!r}: must be {k} counts >= 0")
            counts += np.asarray(part, np.float64)
        if (counts <= 0).any():
            raise ModelError(f"{where} gives no object of class(es) {np.flatnonzero(counts <= 0).tolist()}; "
                             "the training-mix priors are undefined")
        return counts / counts.sum()

    @property
    def sky_priors(self) -> np.ndarray:
        """Class priors of the preselected sky (from a simulated footprint's truth, or EM-estimated)."""
        return np.asarray(self._sky()["sky_priors"], float)

    def sky_proba(self, proba, sky_priors=None) -> np.ndarray:
        """Class probabilities under the sky priors, float32 (n, n_classes): :func:`dwarflib.priors.prior_shift`
        of the training-mix ``proba`` from :attr:`training_mix_priors` to ``sky_priors`` (default
        :attr:`sky_priors`, which needs a sky calibration; given priors, e.g. EM-estimated, do not)."""
        proba = np.asarray(proba)
        if len(proba) == 0:
            return np.zeros((0, self.scheme.n_classes), np.float32)
        new = self.sky_priors if sky_priors is None else sky_priors
        return prior_shift(proba, self.training_mix_priors, new).astype(np.float32)

    def sky_operating_point(self, purity: float | None = None, threshold: float | None = None) -> dict:
        """The catalogue threshold on ``P_SIGNAL_SKY`` and its expected purity and completeness.

        Exactly one of ``purity`` (the lowest threshold of the stored overall curve whose purity is
        >= ``purity`` and that selects >= :data:`MIN_SELECTED_FOR_PURITY` objects) or ``threshold`` (the
        curve's point at the largest stored threshold <= ``threshold``). Returns a dict with ``threshold``
        (the cut applied), ``curve_threshold`` (the curve point the numbers are from), ``purity`` /
        ``completeness`` with ``_low`` / ``_high`` (the stored intervals, confidence level ``cl``),
        ``n_selected`` / ``n_signal`` on the calibration footprint, and ``bins`` (the same per r bin).
        Raises ValueError naming the value and the reachable range.
        """
        if (purity is None) == (threshold is None):
            raise ValueError("give exactly one of purity or threshold")
        self._sky()
        if self.sky_curves is None:
            raise ModelError(f"model {self.model_sha256[:12]}: no stored sky curves ({SKY_CALIBRATION_JSON})")
        curves = self.sky_curves["curves"]
        c = {k: np.asarray(v, float) for k, v in curves["overall"].items() if k in CURVE_COLUMNS}
        ok = (c["n_selected"] >= MIN_SELECTED_FOR_PURITY) & np.isfinite(c["purity"])
        if purity is not None:
            if not (_is_number(purity) and 0 < purity < 1):
                raise ValueError(f"purity {purity!r} must be a number in (0, 1)")
            if not ok.any():
                raise ValueError(f"purity {purity}: no threshold of the stored sky curve selects "
                                 f">= {MIN_SELECTED_FOR_PURITY} objects; the model cannot state a purity")
            lo, hi = float(c["purity"][ok].min()), float(c["purity"][ok].max())
            reach = np.flatnonzero(ok & (c["purity"] >= purity))
            if not len(reach):
                raise ValueError(f"purity {purity} is not reachable by this model: the stored sky curve reaches "
                                 f"purity {lo:.3f} to {hi:.3f} (thresholds selecting >= {MIN_SELECTED_FOR_PURITY} "
                                 "objects of the calibration footprint)")
            i = int(reach[0])
            cut = float(c["threshold"][i])
        else:
            grid = c["threshold"]
            if not (_is_number(threshold) and grid[0] <= threshold <= 1):
                raise ValueError(f"threshold {threshold!r} must be a number in [{grid[0]:g}, 1]")
            i = int(np.flatnonzero(grid <= threshold)[-1])
            cut = float(threshold)

        def point(cc: dict, j: int) -> dict:  # an undefined value (no object of a bin selected) is null in JSON
            return {k: float("nan") if cc[k][j] is None else float(cc[k][j]) for k in CURVE_COLUMNS
                    if k != "threshold"}

        return {"threshold": cut, "curve_threshold": float(c["threshold"][i]), **point(c, i),
                "cl": float(self.sky_curves.get("cl", float("nan"))),
                "bins": {name: point(cv, i) for name, cv in curves.items() if name != "overall"}}

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

    def feature_array(self, arrays) -> np.ndarray:
        """Features of every row of ``arrays`` (a :class:`ChunkArrays` or sweep table) as float32
        (n, n_features), in the network's order (:func:`dwarflib.features.feature_array`); NaN where a
        feature is missing (imputed by the network), +-inf where it overflows float32."""
        if len(arrays) == 0:
            return np.zeros((0, len(self.features)), np.float32)
        return feature_array(arrays, self.feature_groups, self.features, dtype=np.float32)

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

    def apply_chunk(self, arrays, seen: SeenIds | None = None,
                    timings: dict | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Apply the model to one chunk of a sweep file: row checks, preselection, features, network.

        ``arrays``: a :class:`ChunkArrays` or a sweep-format table (astropy Table). Returns
        ``(kept, reason, features, probabilities, flags)``:

        * ``kept``: bool (n,), the rows classified;
        * ``reason``: object array (n,) of str, ``""`` for a kept row, else the first reason that applies:

          1. the row checks of :func:`dwarflib.preselection.row_checks` (``invalid_id``, ``invalid_radec``,
             ``unknown_type``, ``absurd_flux``): rows that cannot be classified whatever the model;
          2. the model's preselection cuts (``type``, ``nobs``, ``maskbits``, ``r_mag``, ...);
          3. ``duplicate_targetid``: a later copy of a TARGETID already seen in this chunk or, with ``seen``
             (one :class:`SeenIds` per input file, kept by the caller), in an earlier chunk; the first copy
             is kept;
          4. ``nonfinite_feature``: a feature is +-inf (e.g. FIBERFLUX_G / FLUX_G beyond the float32 range);
             NaN features are missing values, imputed by the network and flagged FEATURE_IMPUTED;

        * ``features``: float32 (n_kept, n_features), in :attr:`features` order;
        * ``probabilities``: calibrated class probabilities, float32 (n_kept, n_classes);
        * ``flags``: int16 (n_kept,), the :data:`FLAG_BITS` the model knows (FEATURE_IMPUTED, NO_WISE,
          NEGATIVE_FLUX, HIGH_PURITY; QUALITY is the catalogue's, from :func:`dwarflib.survey_io.quality_bits`).

        ``timings``, if given, gets the seconds of each stage added (``preselect``, ``features``, ``network``).
        """
        clock = time.perf_counter
        t0 = clock()
        arrays = ChunkArrays.from_table(arrays)
        n = len(arrays)
        ok, check = row_checks(arrays)
        why = np.array(("", *ROW_CHECK_ORDER), dtype=object)[check]
        if isinstance(self.preselection, Preselection):
            mask, code = self.preselection.reason_codes(arrays)
            cut_reason = np.array(("", *CUT_ORDER), dtype=object)[code]
        else:  # a model with its own preselection object
            res = self.preselection.apply(arrays)
            mask = np.asarray(res.mask, dtype=bool)
            cut_reason = np.asarray(np.asarray(res.reason).astype(str), dtype=object)
        why = np.where(ok, cut_reason, why)
        mask = mask & ok
        why[mask] = ""
        rows_idx = np.flatnonzero(mask)
        sel = arrays[mask] if not mask.all() else arrays
        tid = unique_id(sel["RELEASE"], sel["BRICKID"], sel["OBJID"])
        repeated = (seen or SeenIds()).repeated(tid)
        if repeated.any():
            why[rows_idx[repeated]] = "duplicate_targetid"
            sel, rows_idx = sel[~repeated], rows_idx[~repeated]
        t1 = clock()
        X = self.feature_array(sel)
        inf = np.isinf(X).any(axis=1)
        if inf.any():  # overflow of a feature (inf in float32): the network cannot take the row
            why[rows_idx[inf]] = "nonfinite_feature"
            sel, rows_idx, X = sel[~inf], rows_idx[~inf], X[~inf]
        t2 = clock()
        proba = self.predict_proba(X)
        t3 = clock()
        kept = np.zeros(n, bool)
        kept[rows_idx] = True
        if timings is not None:
            for key, dt in (("preselect", t1 - t0), ("features", t2 - t1), ("network", t3 - t2)):
                timings[key] = timings.get(key, 0.0) + dt
        return kept, why, X, proba, self._flags(sel, X, proba)

    def _flags(self, rows, X: np.ndarray, proba: np.ndarray) -> np.ndarray:
        """FLAG bits (int16) of classified ``rows`` with features ``X`` and probabilities ``proba``."""
        flag = (~np.isfinite(X).all(axis=1)).astype(np.int16) << FLAG_BITS["FEATURE_IMPUTED"]
        colnames = set(rows.colnames)
        if {"FLUX_IVAR_W1", "FLUX_IVAR_W2"} <= colnames:
            nowise = (np.asarray(rows["FLUX_IVAR_W1"]) <= 0) | (np.asarray(rows["FLUX_IVAR_W2"]) <= 0)
            flag |= nowise.astype(np.int16) << FLAG_BITS["NO_WISE"]
        neg = np.zeros(len(X), bool)
        for b in ("G", "R", "Z", "W1", "W2"):
            if f"FLUX_{b}" in colnames:
                neg |= np.asarray(rows[f"FLUX_{b}"]) <= 0
        flag |= neg.astype(np.int16) << FLAG_BITS["NEGATIVE_FLUX"]
        high = proba[:, self.signal_index] >= self.high_purity_threshold
        flag |= high.astype(np.int16) << FLAG_BITS["HIGH_PURITY"]
        return flag

    def provenance_metadata(self) -> dict:
        """Compact provenance (JSON-serialisable) written into catalogue headers."""
        m = self.meta
        return {
            "model_sha256": self.model_sha256,
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
            # the comment text is part of the catalogue FITS bytes: kept as it was
            ("MODELSHA", self.model_sha256[:64], "model identity sha256 (dwarflib.training)"),
            ("MODELDAT", str(self.meta.get("created", ""))[:68], "model training date (UTC)"),
            ("TRAINSET", Path(str(td.get("path", ""))).name[:68], "training sample file"),
            ("TRAINSHA", str(td.get("sha256", ""))[:64], "sha256 of the training sample file"),
            ("TRAINROW", int(td.get("rows_in", -1)), "rows in the training sample file"),
            ("SEED", int(td.get("seed", -1)), "training seed"),
            ("TEMPERAT", float(self.meta.get("temperature", 1.0)), "calibration temperature"),
            ("NFEAT", len(self.features), "number of features"),
        ]
        return cards



def compute_model_sha256(meta: dict, network) -> str:
    """sha256 of what determines a model's outputs: the :data:`OUTPUT_FIELDS` of ``model.json``
    (canonical JSON) and the network's :meth:`~dwarflib.torchnet.TorchMLPClassifier.content_sha256`."""
    out = {k: meta.get(k) for k in OUTPUT_FIELDS}
    if SKY_FIELD in meta:  # only when present: models without a sky calibration keep their sha256
        out[SKY_FIELD] = meta[SKY_FIELD]
    fields = json.dumps(out, sort_keys=True, allow_nan=False)
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
    if SKY_FIELD in meta:
        sky = meta[SKY_FIELD]
        if not isinstance(sky, dict):
            bad(SKY_FIELD, "must be a JSON object")
        for name in ("train_priors", "sky_priors"):
            q = sky.get(name)
            if not (isinstance(q, list) and len(q) == scheme.n_classes and all(_is_number(v) and 0 < v < 1 for v in q)
                    and abs(sum(q) - 1) <= SUM_TOL):
                bad(f"{SKY_FIELD}.{name}", f"is {q!r}, must be {scheme.n_classes} numbers in (0, 1) summing to 1")
        if sky.get("curves_file") != SKY_CALIBRATION_JSON:
            bad(f"{SKY_FIELD}.curves_file", f"is {sky.get('curves_file')!r}, must be {SKY_CALIBRATION_JSON!r}")
        if not (isinstance(sky.get("curves_sha256"), str) and re.fullmatch(r"[0-9a-f]{64}", sky["curves_sha256"])):
            bad(f"{SKY_FIELD}.curves_sha256", "must be a sha256 hex digest")


def load_model(model_dir) -> CatalogueModel:
    """Load and validate a model written by :func:`dwarflib.training.train_final_model` (no pickle: JSON + weights.npz).

    Checks ``model.json`` (:func:`validate_model_meta`: schema, thresholds in [0, 1], class count), the
    network (weights sha256, shapes), that the network's stored feature names are ``model.json``'s
    feature list in the same order, that its classes are the scheme's, and the integrity hash
    ``model_sha256`` (:func:`compute_model_sha256`) against the content. Raises :class:`ModelError` (one line
    naming the file and field) or FileNotFoundError.
    """
    from dwarflib.torchnet import JSON_FILE, TorchMLPClassifier  # lazy: imports torch (seconds)

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
    sha = compute_model_sha256(meta, network)
    if sha != meta["model_sha256"]:
        raise ModelError(f"{path}: field 'model_sha256' does not match the content of the model folder "
                         "(model.json or network/ edited after training)")
    sky_curves = _load_sky_curves(model_dir, meta[SKY_FIELD]) if SKY_FIELD in meta else None
    return CatalogueModel(
        network=network,
        features=list(meta["features"]),
        feature_groups=meta.get("feature_groups"),
        scheme=scheme,
        preselection=Preselection.from_dict(meta["preselection"]),
        thresholds={k: float(v) for k, v in meta["thresholds"].items()},
        meta=meta,
        model_sha256=sha,
        input_columns=meta.get("input_columns"),
        sky_curves=sky_curves,
    )


#: Columns of every curve of ``sky-calibration.json`` (one list per column, one entry per threshold).
CURVE_COLUMNS: tuple[str, ...] = ("threshold", "n_selected", "n_recovered", "n_signal", "purity", "purity_low",
                                  "purity_high", "completeness", "completeness_low", "completeness_high")


def _load_sky_curves(model_dir: Path, sky: dict) -> dict:
    """The curves of ``sky-calibration.json``, checked against the sha256 recorded in ``model.json``."""
    path = model_dir / SKY_CALIBRATION_JSON
    if not path.exists():
        raise ModelError(f"{path}: missing; field {SKY_FIELD!r} of {model_dir / MODEL_JSON} lists it")
    raw = path.read_bytes()
    if hashlib.sha256(raw).hexdigest() != sky["curves_sha256"]:
        raise ModelError(f"{path}: sha256 differs from field '{SKY_FIELD}.curves_sha256' of "
                         f"{model_dir / MODEL_JSON} (file edited after calibration)")
    try:
        doc = json.loads(raw)
        curves = doc["curves"]
        for name, c in curves.items():
            if set(c) < set(CURVE_COLUMNS) or len({len(c[k]) for k in CURVE_COLUMNS}) != 1:
                raise ValueError(f"curve {name!r} must hold the lists {list(CURVE_COLUMNS)} of one length")
        if "overall" not in curves:
            raise ValueError("no 'overall' curve")
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path}: field 'curves' is missing or malformed ({type(exc).__name__}: {exc})") from None
    return doc

