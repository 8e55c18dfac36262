"""Checks of feature tables handed to the estimators (:mod:`dwarflib.models`, :mod:`dwarflib.torchnet`).

In a module of their own so that both estimator modules import them without importing each other.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def as_feature_array(
    X, feature_names=None, what: str = "X", dtype=np.float64, check_inf: bool = True
) -> tuple[np.ndarray, list[str] | None]:
    """Validate a feature table and return ``(2-d float array, column names or None)``.

    A DataFrame is re-ordered to ``feature_names`` when given (missing columns raise, naming them).
    NaN is allowed (missing value); +-inf (see :func:`check_no_inf`) and non-numeric columns raise with
    the column and first row.  ``dtype=None`` keeps a float32/float64 ndarray as it is (no copy) and
    converts anything else to float64; ``check_inf=False`` leaves the inf check to the caller (e.g. per
    chunk, for speed).
    """
    if isinstance(X, pd.DataFrame):
        names = [str(c) for c in X.columns]
        if feature_names is not None:
            missing = [c for c in feature_names if c not in names]
            if missing:
                raise ValueError(f"{what} lacks feature column(s) {missing} used in training")
            X = X[list(feature_names)]
            names = list(feature_names)
        bad_dtype = [
            c
            for c in X.columns
            if not (pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]))
        ]
        if bad_dtype:
            raise ValueError(f"{what} has non-numeric feature column(s) {bad_dtype}")
        arr = X.to_numpy(dtype=np.float64 if dtype is None else dtype, na_value=np.nan)
    else:
        arr = np.asarray(X)
        if dtype is not None or arr.dtype not in (np.float32, np.float64):
            arr = arr.astype(np.float64 if dtype is None else dtype, copy=False)
        names = None
        if arr.ndim != 2:
            raise ValueError(f"{what} must be 2-dimensional (rows x features), got shape {arr.shape}")
        if feature_names is not None and arr.shape[1] != len(feature_names):
            raise ValueError(
                f"{what} has {arr.shape[1]} columns, the model was trained on {len(feature_names)}"
            )
    if check_inf:
        check_no_inf(arr, names, what)
    return arr, names


def check_no_inf(arr: np.ndarray, names=None, what: str = "X", row_offset: int = 0) -> None:
    """Raise ValueError naming the first row (``row_offset`` + index) and column holding +-inf."""
    inf = np.isinf(arr)
    if inf.any():
        r, c = np.argwhere(inf)[0]
        col = names[c] if names is not None else f"column {c}"
        raise ValueError(
            f"{what} has {int(inf.sum())} infinite values (first: row {row_offset + r}, {col}); "
            f"use NaN for a missing value (values beyond the {arr.dtype.name} range also become inf)"
        )
