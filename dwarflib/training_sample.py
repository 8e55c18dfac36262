"""The labelled training sample: load, validate, preselect, label, featurise and split.

The same code path serves the simulated spectroscopic surveys (``training-sample.fits`` written by
:mod:`dwarflib.sky.generate`) and a user's own real labelled sample, provided it is in the DR9 sweep
format (Legacy Surveys column names, fluxes in nanomaggies) plus a spectroscopic redshift ``Z`` and a
stellar mass ``LOGMSTAR`` (log10 Msun, dex).

The class of every object is **recomputed** from ``Z`` and ``LOGMSTAR`` with a
:class:`dwarflib.labels.ClassScheme`, so a user's own class boundaries apply; a ``CLASS`` column in
the input, if any, is ignored (it is kept as ``CLASS_INPUT`` for comparison).

Nothing is dropped silently: every input row is either kept or listed in
:attr:`TrainingSample.removed` with a reason (a preselection cut, or a missing label).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.table import Table

from dwarflib import survey_io
from dwarflib.datamodel import REQUIRED_COLUMNS, unique_id
from dwarflib.features import FEATURE_GROUPS, build_features
from dwarflib.labels import DEFAULT_SCHEME, SIGNAL, ClassScheme
from dwarflib.preselection import DEFAULT_PRESELECTION
from dwarflib.registry import load_desi_edr
from dwarflib.selections import BGS_BRIGHT

#: Label columns a labelled table must carry besides the sweep columns.
LABEL_COLUMNS: tuple[str, ...] = ("Z", "LOGMSTAR")

#: Reason recorded for galaxies that cannot be labelled (NaN/inf redshift or stellar mass).
REASON_NO_LABEL = "label: Z or LOGMSTAR not finite"

#: Values of a ``SPECTYPE`` column (DESI convention) that mark stars and quasars.
STAR_SPECTYPES: tuple[str, ...] = ("STAR", "QSO")


def _source_name(table: Table, source: str | None) -> str:
    if source:
        return source
    return str(table.meta.get("FILENAME", table.meta.get("filename", "table")))


def validate_labelled_table(table: Table, source: str | None = None,
                            required: Sequence[str] | None = None) -> None:
    """Check that ``table`` has the sweep columns and the label columns, with numeric labels.

    Parameters
    ----------
    table : astropy.table.Table
        Labelled catalogue in sweep format plus ``Z`` and ``LOGMSTAR``.
    source : str, optional
        Name used in error messages (file name); defaults to ``table.meta['FILENAME']``.
    required : sequence of str, optional
        Columns to require; default :data:`dwarflib.datamodel.REQUIRED_COLUMNS` + :data:`LABEL_COLUMNS`.

    Raises
    ------
    ValueError
        Naming the source and every missing column, or a label column that is not numeric.
    """
    name = _source_name(table, source)
    required = list(REQUIRED_COLUMNS + LABEL_COLUMNS) if required is None else list(required)
    missing = [c for c in required if c not in table.colnames]
    if missing:
        raise ValueError(f"{name}: missing required column(s) {missing}; a labelled training table needs the "
                         f"DR9 sweep columns plus {list(LABEL_COLUMNS)}")
    for col in LABEL_COLUMNS:
        if col in table.colnames and table[col].dtype.kind not in "fiu":
            raise ValueError(f"{name}: column {col} must be numeric, got dtype {table[col].dtype}")


def star_flag(table: Table) -> np.ndarray:
    """Boolean star/QSO flag from ``IS_STAR`` (bool) or ``SPECTYPE`` ('STAR'/'QSO'); all False if neither."""
    n = len(table)
    if "IS_STAR" in table.colnames:
        return np.asarray(table["IS_STAR"], dtype=bool).reshape(n)
    if "SPECTYPE" in table.colnames:
        spec = np.char.strip(np.char.upper(np.asarray(table["SPECTYPE"]).astype(str)))
        return np.isin(spec, STAR_SPECTYPES)
    return np.zeros(n, dtype=bool)


def object_ids(table: Table) -> np.ndarray:
    """Unique 64-bit ids: ``TARGETID`` when present, else packed from RELEASE/BRICKID/OBJID."""
    if "TARGETID" in table.colnames:
        return np.asarray(table["TARGETID"], dtype=np.int64)
    return unique_id(table["RELEASE"], table["BRICKID"], table["OBJID"])


#: Optional per-row importance weight of a labelled table (the simulated sky's nearby supplement,
#: :func:`dwarflib.sky.generate.nearby_weight`): every fit, threshold and metric on the sample uses it; a table
#: without it reads as weight 1.
WEIGHT_COLUMN = "WEIGHT"
#: Optional boolean column marking rows of an over-sampled supplement (the split stratifies on it).
SUPPLEMENT_COLUMN = "SUPPLEMENT"

#: Non-sweep columns read from a labelled table when present.
EXTRA_LABEL_COLUMNS: tuple[str, ...] = ("CLASS", "IS_STAR", "SPECTYPE", "SURVEY", WEIGHT_COLUMN, SUPPLEMENT_COLUMN,
                                          "IS_SATELLITE")


def sample_weights(table: Table, source: str | None = None) -> np.ndarray:
    """The ``WEIGHT`` column of a labelled table as float64 (all 1 when absent).

    Raises ValueError naming the source, the column and the first bad row when a weight is not finite or not
    positive (a zero or negative importance weight is not a weight).
    """
    n = len(table)
    if WEIGHT_COLUMN not in table.colnames:
        return np.ones(n)
    w = np.asarray(table[WEIGHT_COLUMN], dtype=np.float64).reshape(n)
    bad = ~(np.isfinite(w) & (w > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{_source_name(table, source)}: column {WEIGHT_COLUMN} must be finite and > 0; row {i} "
                         f"has {w[i]!r} ({int(bad.sum())} bad rows)")
    return w


def supplement_flag(table: Table) -> np.ndarray:
    """The ``SUPPLEMENT`` column of a labelled table as bool (all False when absent)."""
    n = len(table)
    if SUPPLEMENT_COLUMN not in table.colnames:
        return np.zeros(n, dtype=bool)
    return np.asarray(table[SUPPLEMENT_COLUMN], dtype=bool).reshape(n)


def supplement_counts(table: Table, z_edges: Sequence[float]) -> pd.DataFrame:
    """Galaxies of a labelled table (read with ``supplement=True``) per redshift bin: rows of the surveys, rows
    of the over-sampled supplement, and the weighted count (the sky's expectation).

    One row per bin ``[z_edges[i], z_edges[i+1])``: ``z bin``, ``survey rows``, ``supplement rows``,
    ``weighted count`` (sum of :data:`WEIGHT_COLUMN`, rounded to 0.01). Stars are left out.
    """
    z = np.asarray(table["Z"], dtype=float)
    galaxy = ~star_flag(table)
    sup, w = supplement_flag(table), sample_weights(table)
    rows = []
    for lo, hi in zip(z_edges[:-1], z_edges[1:], strict=True):
        m = (z >= lo) & (z < hi) & galaxy
        rows.append({"z bin": f"{lo:g}-{hi:g}", "survey rows": int((m & ~sup).sum()),
                     "supplement rows": int((m & sup).sum()), "weighted count": round(float(w[m].sum()), 2)})
    return pd.DataFrame(rows)


def without_supplement(table: Table) -> Table:
    """The rows of a labelled table that are not in an over-sampled supplement, with weight 1.

    Without its supplement the simulated training sample is an unbiased draw of the surveys' targets, so the
    importance weights of its own rows are 1 again (:data:`WEIGHT_COLUMN` is reset; nothing else changes).
    ``table.meta["NSUPPEXC"]`` records how many supplement rows were left out. A table without a supplement
    is returned unchanged.
    """
    flag = supplement_flag(table)
    if not flag.any():
        return table
    out = table[~flag]
    if WEIGHT_COLUMN in out.colnames:
        out[WEIGHT_COLUMN] = np.ones(len(out), dtype=np.asarray(out[WEIGHT_COLUMN]).dtype)
    out.meta["NSUPPEXC"] = int(flag.sum())
    return out


def load_labelled_table(path: str | PathLike, supplement: bool = False) -> Table:
    """Read a labelled table (FITS) with :func:`dwarflib.survey_io.read_catalogue` and validate it.

    With ``supplement=False`` (default) the rows of an over-sampled supplement (the simulated sky's nearby
    supplement, :data:`SUPPLEMENT_COLUMN`) are left out and the weights reset to 1
    (:func:`without_supplement`): an analysis that does not use importance weights sees the surveys' own,
    unbiased sample. ``supplement=True`` keeps every row with its ``WEIGHT``, for code that weights every fit
    and metric (:func:`dwarflib.training.train_final_model`).

    Parameters
    ----------
    path : path-like
        A FITS table in sweep format plus ``Z`` and ``LOGMSTAR`` (and optionally ``TARGETID``, ``CLASS``,
        ``IS_STAR`` or ``SPECTYPE``, ``SURVEY``). The simulated sky's is
        :func:`dwarflib.sky.generate.training_sample_path`.

    Raises
    ------
    FileNotFoundError, dwarflib.survey_io.CatalogueError
        Missing or unreadable file, missing required column (the message names the file and column).
    """
    if path is None:
        raise TypeError("load_labelled_table needs the path of a labelled table (the simulated sky's: "
                        "dwarflib.sky.generate.training_sample_path())")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"labelled table not found: {path}")
    present = {c.upper() for c in survey_io.file_columns(path)}
    wanted = [c for c in (*survey_io.DEFAULT_COLUMNS, *LABEL_COLUMNS, *EXTRA_LABEL_COLUMNS) if c in present]
    table = survey_io.read_catalogue(path, columns=wanted, required=REQUIRED_COLUMNS + LABEL_COLUMNS, flags=False)
    validate_labelled_table(table, source=str(path))
    sample_weights(table, source=str(path))  # a bad WEIGHT fails here, naming the file
    return table if supplement else without_supplement(table)


@dataclass
class TrainingSample:
    """A labelled, preselected, featurised sample.

    Attributes
    ----------
    table : Table
        The kept rows, with ``CLASS`` recomputed under ``scheme`` (and ``CLASS_INPUT`` if the input had one).
    X : DataFrame
        Feature matrix of the kept rows (columns named by :func:`dwarflib.features.build_features`).
    y : ndarray of int8
        Class index of the kept rows under ``scheme``.
    ids : ndarray of int64
        Object ids of the kept rows (``TARGETID`` or packed RELEASE/BRICKID/OBJID).
    removed : Table
        Ids and ``REASON`` of every removed row (preselection cut or missing label).
    report : DataFrame
        Rows in / kept / removed per reason.
    scheme : ClassScheme
        The class boundaries used.
    feature_groups : dict
        Feature group name -> list of feature columns present in ``X``.
    preselection_report : DataFrame or None
        The per-cut report of :meth:`dwarflib.preselection.Preselection.apply` (None when no
        preselection was applied, e.g. the DESI EDR table).
    weight : ndarray of float64
        Importance weight of the kept rows (:data:`WEIGHT_COLUMN`; all 1 when the table has none).
    supplement : ndarray of bool
        Kept rows of an over-sampled supplement (:data:`SUPPLEMENT_COLUMN`; all False when absent).
    """

    table: Table
    X: pd.DataFrame
    y: np.ndarray
    ids: np.ndarray
    removed: Table
    report: pd.DataFrame
    scheme: ClassScheme = DEFAULT_SCHEME
    feature_groups: dict[str, list[str]] = field(default_factory=dict)
    preselection_report: pd.DataFrame | None = None
    weight: np.ndarray | None = None
    supplement: np.ndarray | None = None

    def __post_init__(self):
        n = len(self.y)
        self.weight = np.ones(n) if self.weight is None else np.asarray(self.weight, dtype=np.float64)
        self.supplement = np.zeros(n, bool) if self.supplement is None else np.asarray(self.supplement, bool)
        if self.weight.shape != (n,) or self.supplement.shape != (n,):
            raise ValueError(f"weight {self.weight.shape} and supplement {self.supplement.shape} need one value "
                             f"per row ({n})")

    @property
    def n_rows_in(self) -> int:
        return len(self.table) + len(self.removed)


def _removal_report(n_in: int, reasons: np.ndarray) -> pd.DataFrame:
    rows = [{"step": "rows in", "n": n_in}]
    if len(reasons):
        uniq, counts = np.unique(reasons, return_counts=True)
        rows += [{"step": f"removed: {r}", "n": int(c)} for r, c in zip(uniq, counts, strict=True)]
    rows.append({"step": "kept", "n": n_in - len(reasons)})
    return pd.DataFrame(rows)


def build_training_sample(table: Table | str | PathLike, scheme: ClassScheme = DEFAULT_SCHEME,
                          preselection=None, groups: Sequence[str] | None = None,
                          supplement: bool = False) -> TrainingSample:
    """Preselect, label and featurise a labelled table.

    Parameters
    ----------
    table : Table or path-like
        The labelled table, or a FITS path (the simulated sky's: :func:`dwarflib.sky.generate.training_sample_path`).
    scheme : ClassScheme
        Class boundaries in (z, log M*); ``CLASS`` is recomputed with it.
    preselection : dwarflib.preselection.Preselection, optional
        Default :data:`dwarflib.preselection.DEFAULT_PRESELECTION`.
    groups : sequence of str, optional
        Feature groups passed to :func:`dwarflib.features.build_features` (default: all).
    supplement : bool
        Keep the rows of an over-sampled supplement with their importance weights (every fit and metric on
        the sample must then use ``weight``); default False: they are left out and the weights are 1
        (:func:`without_supplement`).

    Returns
    -------
    TrainingSample
        ``len(table) + len(removed)`` equals the number of input rows; a removed row's ``REASON`` is the
        name of the first preselection cut that removed it, or :data:`REASON_NO_LABEL`.
    """
    if table is None or isinstance(table, str | PathLike):  # None: TypeError from load_labelled_table
        table = load_labelled_table(table, supplement=supplement)
    else:
        validate_labelled_table(table)
        table = table if supplement else without_supplement(table)
    weight_all = sample_weights(table)
    preselection = DEFAULT_PRESELECTION if preselection is None else preselection
    n_in = len(table)
    ids_all = object_ids(table)

    result = preselection.apply(table)
    keep = np.asarray(result.mask, dtype=bool)
    reason = np.asarray(result.reason).astype(str)
    if keep.shape != (n_in,) or reason.shape != (n_in,):
        raise RuntimeError("preselection returned a mask/reason of the wrong length")

    is_star = star_flag(table)
    z = np.asarray(table["Z"], dtype=float)
    logm = np.asarray(table["LOGMSTAR"], dtype=float)
    no_label = ~is_star & ~(np.isfinite(z) & np.isfinite(logm))
    reason = np.where(keep & no_label, REASON_NO_LABEL, reason)
    keep &= ~no_label

    removed = Table({"ID": ids_all[~keep], "REASON": reason[~keep]})
    kept = table[keep]
    y = scheme.assign(z[keep], logm[keep], is_star[keep])
    if "CLASS" in kept.colnames:
        kept.rename_column("CLASS", "CLASS_INPUT")
    kept["CLASS"] = y
    X = build_features(kept, groups=groups)
    X.index = pd.RangeIndex(len(X))
    present = set(X.columns)
    feature_groups = {g: [c for c in cols if c in present] for g, cols in FEATURE_GROUPS.items()}
    feature_groups = {g: cols for g, cols in feature_groups.items() if cols}
    return TrainingSample(table=kept, X=X, y=np.asarray(y, dtype=np.int8), ids=ids_all[keep], removed=removed,
                          report=_removal_report(n_in, reason[~keep]), scheme=scheme,
                          feature_groups=feature_groups, preselection_report=result.report,
                          weight=weight_all[keep], supplement=supplement_flag(table)[keep])


@dataclass
class SampleSplit:
    """A stratified train / validation / test split of a :class:`TrainingSample`.

    ``table`` is the sample's table with a ``SPLIT`` column ('train', 'validation', 'test', or 'unused' for the
    rows of an over-sampled supplement outside its training share, :func:`split_sample`).
    """

    X_train: pd.DataFrame
    y_train: np.ndarray
    X_val: pd.DataFrame
    y_val: np.ndarray
    X_test: pd.DataFrame
    y_test: np.ndarray
    ids_train: np.ndarray
    ids_val: np.ndarray
    ids_test: np.ndarray
    table: Table
    fractions: tuple[float, float, float]
    seed: int
    w_train: np.ndarray | None = None
    w_val: np.ndarray | None = None
    w_test: np.ndarray | None = None


def stratified_split_indices(y, fractions: Sequence[float] = (0.6, 0.2, 0.2), seed: int = 0) -> list[np.ndarray]:
    """Row indices of each part of a stratified split.

    Each class is shuffled with ``numpy.random.default_rng(seed)`` and cut according to ``fractions``
    (largest-remainder rounding per class), so every class is represented in every part in proportion,
    even classes with a handful of members (a class with fewer members than parts fills the first parts).

    Returns
    -------
    list of ndarray
        One sorted index array per fraction; together a partition of ``range(len(y))``.
    """
    fr = np.asarray(fractions, dtype=float)
    if fr.ndim != 1 or len(fr) < 2 or np.any(fr < 0) or not np.isclose(fr.sum(), 1.0):
        raise ValueError(f"fractions must be >= 0 and sum to 1, got {tuple(fractions)}")
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fr]
    for cls in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == cls))
        exact = fr * len(idx)
        counts = np.floor(exact).astype(int)
        short = len(idx) - counts.sum()
        if short:
            order = np.argsort(-(exact - counts), kind="stable")
            counts[order[:short]] += 1
        edges = np.concatenate([[0], np.cumsum(counts)])
        for k in range(len(fr)):
            parts[k].append(idx[edges[k]:edges[k + 1]])
    return [np.sort(np.concatenate(p)) if p else np.array([], dtype=int) for p in parts]


def split_sample(sample: TrainingSample, fractions: Sequence[float] = (0.6, 0.2, 0.2), seed: int = 0) -> SampleSplit:
    """Stratified (by class) train / validation / test split with a fixed seed.

    Same sample and seed give the same split. See :func:`stratified_split_indices`. The surveys' rows are split
    by class; with an over-sampled supplement (``sample.supplement``) they are split exactly as without it, and
    the supplement's rows, split alike, give the training part only their training share (the others are
    marked ``'unused'`` in ``table["SPLIT"]``). So the training part holds the same fraction of the surveys'
    and of the supplement's nearby volume, and the importance weights (``sample.weight``, 1/(1 + k) in that
    volume) keep its weighted counts the surveys' expectation, while the validation and test parts are the
    surveys' own unbiased rows, with weight 1: the same parts as a model trained without the supplement, so
    the two compare on the same objects, and thresholds, calibration and test metrics need no weights.
    The parts' importance weights are ``w_train``, ``w_val``, ``w_test``.
    """
    if len(fractions) != 3:
        raise ValueError(f"split_sample needs three fractions (train, validation, test), got {tuple(fractions)}")
    survey = np.flatnonzero(~sample.supplement)
    tr_s, va_s, te_s = stratified_split_indices(sample.y[survey], fractions, seed)
    tr, va, te = survey[tr_s], survey[va_s], survey[te_s]
    sup = np.flatnonzero(sample.supplement)
    if len(sup):
        tr = np.sort(np.concatenate([tr, sup[stratified_split_indices(sample.y[sup], fractions, seed)[0]]]))
    table = sample.table.copy(copy_data=False)
    split = np.full(len(table), "unused", dtype="U10")
    split[tr], split[va], split[te] = "train", "validation", "test"
    table["SPLIT"] = split
    X = sample.X
    return SampleSplit(
        X_train=X.iloc[tr].reset_index(drop=True), y_train=sample.y[tr],
        X_val=X.iloc[va].reset_index(drop=True), y_val=sample.y[va],
        X_test=X.iloc[te].reset_index(drop=True), y_test=sample.y[te],
        ids_train=sample.ids[tr], ids_val=sample.ids[va], ids_test=sample.ids[te],
        table=table, fractions=tuple(float(f) for f in fractions), seed=seed,
        w_train=sample.weight[tr], w_val=np.ones(len(va)), w_test=np.ones(len(te)),
    )


def class_counts(y, scheme: ClassScheme = DEFAULT_SCHEME, by=None) -> pd.DataFrame:
    """Class counts and imbalance summary.

    Parameters
    ----------
    y : array_like of int
        Class indices under ``scheme``.
    by : array_like, optional
        A grouping label per row (e.g. the ``SPLIT`` column); adds one count column per group.

    Returns
    -------
    DataFrame
        One row per class: ``class``, ``name``, ``n``, ``fraction``, ``imbalance`` (largest class
        count divided by this class's count; inf for an empty class), and ``n_<group>`` columns when
        ``by`` is given.
    """
    y = np.asarray(y)
    classes = np.arange(scheme.n_classes)
    n = np.array([(y == c).sum() for c in classes])
    with np.errstate(divide="ignore"):
        imbalance = np.where(n > 0, n.max() / np.maximum(n, 1), np.inf)
    out = pd.DataFrame({"class": classes, "name": list(scheme.names), "n": n,
                        "fraction": n / max(len(y), 1), "imbalance": imbalance})
    if by is not None:
        by = np.asarray(by)
        if by.shape != y.shape:
            raise ValueError(f"'by' has shape {by.shape}, labels have shape {y.shape}")
        for g in pd.unique(by):
            out[f"n_{g}"] = [int(((y == c) & (by == g)).sum()) for c in classes]
    return out


def signal_fraction(y) -> float:
    """Fraction of rows in the signal class (class 0)."""
    y = np.asarray(y)
    return float((y == SIGNAL).mean()) if len(y) else float("nan")


# --------------------------------------------------------------------------------------------------------------
# The real DESI EDR labelled table (colours only: it has no sizes, fibre fluxes or morphology)

#: Features of the real-data colours-only model: the r magnitude and every colour the DESI EDR table allows.
EDR_FEATURES: tuple[str, ...] = ("r", "g_r", "r_z", "z_w1", "w1_w2")

def build_edr_sample(table: Table | None = None, scheme: ClassScheme = DEFAULT_SCHEME,
                     r_max: float = BGS_BRIGHT.r_max, z_min: float = BGS_BRIGHT.z_min,
                     features: Sequence[str] = EDR_FEATURES) -> TrainingSample:
    """The real DESI EDR BGS galaxies as a labelled, featurised sample (real data, colours only).

    Parameters
    ----------
    table : Table, optional
        Default :func:`dwarflib.registry.load_desi_edr` (dereddened DR9 fluxes, DESI redshift, PROVABGS
        log M*).
    scheme : ClassScheme
        Class boundaries; labels from ``Z`` and ``LOGMSTAR``.
    r_max : float
        Keep dereddened r < r_max [mag] (the BGS_BRIGHT limit).
    z_min : float
        Keep Z > z_min (the lower redshift limit of the table; stated so that it is explicit).
    features : sequence of str
        Columns of :func:`dwarflib.features.build_features` (groups magnitudes, colours, wise) to keep.

    Returns
    -------
    TrainingSample
        Removed rows carry the reason ('r >= r_max or r undefined', 'Z <= z_min', or the missing label).
    """
    table = load_desi_edr() if table is None else table
    validate_labelled_table(table, source="DESI EDR table",
                            required=("FLUX_G", "FLUX_R", "FLUX_Z", "FLUX_W1", "FLUX_W2", *LABEL_COLUMNS))
    n_in = len(table)
    ids_all = object_ids(table)
    F = build_features(table, groups=["magnitudes", "colours", "wise"])
    missing = [f for f in features if f not in F.columns]
    if missing:
        raise KeyError(f"features {missing} are not colour/magnitude features; available: {list(F.columns)}")
    z = np.asarray(table["Z"], dtype=float)
    logm = np.asarray(table["LOGMSTAR"], dtype=float)
    r = F["r"].to_numpy()
    reason = np.full(n_in, "", dtype=object)
    reason[~(np.isfinite(z) & np.isfinite(logm))] = REASON_NO_LABEL
    reason[(reason == "") & ~(z > z_min)] = f"Z <= {z_min}"
    reason[(reason == "") & ~(r < r_max)] = f"r >= {r_max} or r undefined"
    keep = reason == ""
    kept = table[keep]
    y = scheme.assign(z[keep], logm[keep])
    kept["CLASS"] = y
    X = F.loc[keep, list(features)].reset_index(drop=True)
    groups = {g: [c for c in cols if c in X.columns] for g, cols in FEATURE_GROUPS.items()}
    return TrainingSample(table=kept, X=X, y=np.asarray(y, dtype=np.int8), ids=ids_all[keep],
                          removed=Table({"ID": ids_all[~keep], "REASON": reason[~keep].astype(str)}),
                          report=_removal_report(n_in, reason[~keep].astype(str)), scheme=scheme,
                          feature_groups={g: c for g, c in groups.items() if c})
