"""Completeness and purity of a catalogue against the truth of a simulated sky.

:func:`objects_with_truth` joins every object of a simulated footprint (its sweeps, its ``truth.fits``)
with its catalogue outcome; :func:`completeness_purity` bins completeness and purity of a cut on
``P_SIGNAL``, with Wilson intervals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from astropy.table import Table

from dwarflib import survey_io
from dwarflib.catalogue import DEFAULT_CHUNK_ROWS
from dwarflib.catalogue_files import expand_inputs, load_catalogue, read_manifest
from dwarflib.datamodel import unique_id
from dwarflib.features import build_features, required_columns
from dwarflib.labels import DEFAULT_SCHEME
from dwarflib.metrics import CONFIDENCE_1SIGMA, binomial_interval


def objects_with_truth(out_dir, sweep_files, truth_path, scheme=None,
                       feature_groups=("magnitudes", "surface_brightness"), chunk_rows: int = DEFAULT_CHUNK_ROWS):
    """Every object of a simulated footprint with its truth and its catalogue outcome (pandas DataFrame).

    Parameters
    ----------
    out_dir : path
        A :func:`dwarflib.catalogue.classify_files` output folder made with ``keep_all=True`` (every preselected row).
    sweep_files : paths
        The footprint's sweep files (the catalogue's inputs).
    truth_path : path
        The simulation's ``truth.fits`` (TARGETID, Z, LOGMSTAR, IS_STAR).
    scheme : ClassScheme, optional
        Class scheme for the true class (default: the package default); use the model's.
    feature_groups : sequence of str
        Feature groups computed for *every* object from the sweeps (so that objects rejected by the
        preselection get magnitudes and surface brightnesses too).

    Returns
    -------
    DataFrame
        TARGETID, the features, TRUE_CLASS, IS_SIGNAL, PRESELECTED, P_SIGNAL (NaN if not preselected).

    Raises
    ------
    ValueError
        When the catalogue was not made with ``keep_all`` or a sweep object is missing from the truth.
    """
    scheme = DEFAULT_SCHEME if scheme is None else scheme
    recs = read_manifest(out_dir)
    if not recs or not all(r["keep_all"] for r in recs.values()):
        raise ValueError(f"{out_dir}: completeness needs a catalogue made with keep_all=True (--all)")
    cat = load_catalogue(out_dir, columns=["TARGETID", "P_SIGNAL"])
    cols = list(dict.fromkeys(["RELEASE", "BRICKID", "OBJID", *required_columns(feature_groups)]))
    parts = []
    for path in expand_inputs(sweep_files):
        for chunk in survey_io.iter_catalogue(path, chunk_rows=chunk_rows, columns=cols, required=(), flags=False):
            f = build_features(chunk, groups=list(feature_groups)).astype(np.float32)
            f.insert(0, "TARGETID", unique_id(chunk["RELEASE"], chunk["BRICKID"], chunk["OBJID"]))
            parts.append(f)
    obj = pd.concat(parts, ignore_index=True)
    truth = Table.read(truth_path)
    truth = pd.DataFrame({"TARGETID": np.asarray(truth["TARGETID"], np.int64),
                          "TRUE_CLASS": scheme.assign(truth["Z"], truth["LOGMSTAR"], truth["IS_STAR"])})
    obj = obj.merge(truth, on="TARGETID", how="left", validate="one_to_one")
    if obj["TRUE_CLASS"].isna().any():
        n = int(obj["TRUE_CLASS"].isna().sum())
        raise ValueError(f"{n} sweep objects of {out_dir} have no row in {truth_path}")
    obj["TRUE_CLASS"] = obj["TRUE_CLASS"].astype(np.int8)
    obj["IS_SIGNAL"] = obj["TRUE_CLASS"] == 0
    obj = obj.merge(cat, on="TARGETID", how="left", validate="one_to_one")
    obj["PRESELECTED"] = obj["P_SIGNAL"].notna()
    return obj


def completeness_purity(objects, by: str, bins, thresholds=(0.5, 0.95), cl: float = CONFIDENCE_1SIGMA):
    """Completeness and purity of ``P_SIGNAL >= threshold`` in bins of one quantity.

    Parameters
    ----------
    objects : pandas.DataFrame
        One row per object of the footprint with ``IS_SIGNAL`` (bool, the truth), ``PRESELECTED``
        (bool), ``P_SIGNAL`` (NaN where not preselected) and the column ``by``.
    by : str
        Column to bin in (e.g. ``r`` [mag] or ``mu_eff_r`` [mag/arcsec^2]).
    bins : array_like
        Bin edges; objects outside or with NaN ``by`` are not counted.
    thresholds : sequence of float
        Cuts on P_SIGNAL.
    cl : float
        Confidence level of the Wilson intervals (:func:`dwarflib.metrics.binomial_interval`).

    Returns
    -------
    pandas.DataFrame
        Per threshold and bin: ``n_signal`` (true signal), ``n_signal_preselected``, ``n_recovered``
        (true signal selected), ``completeness`` = n_recovered / n_signal (all true signal in the
        footprint), ``completeness_preselected`` = n_recovered / n_signal_preselected, ``n_selected``,
        ``purity`` = n_recovered / n_selected, each with ``_low`` / ``_high`` interval bounds.
    """
    bins = np.asarray(bins, float)
    x = objects[by].to_numpy(float)
    sig = objects["IS_SIGNAL"].to_numpy(bool)
    pre = objects["PRESELECTED"].to_numpy(bool)
    p = objects["P_SIGNAL"].to_numpy(float)
    idx = np.digitize(x, bins) - 1
    inside = np.isfinite(x) & (idx >= 0) & (idx < len(bins) - 1)
    rows = []
    for thr in thresholds:
        sel = pre & (np.nan_to_num(p, nan=-1.0) >= thr)
        for b in range(len(bins) - 1):
            m = inside & (idx == b)
            n_sig = int((m & sig).sum())
            n_sig_pre = int((m & sig & pre).sum())
            n_rec = int((m & sig & sel).sum())
            n_sel = int((m & sel).sum())
            row = {"threshold": float(thr), "quantity": by, "bin_lo": bins[b], "bin_hi": bins[b + 1],
                   "n_objects": int(m.sum()), "n_signal": n_sig, "n_signal_preselected": n_sig_pre,
                   "n_recovered": n_rec, "n_selected": n_sel}
            for name, k, n in (("completeness", n_rec, n_sig), ("completeness_preselected", n_rec, n_sig_pre),
                               ("purity", n_rec, n_sel)):
                row[name] = k / n if n else float("nan")
                row[f"{name}_low"], row[f"{name}_high"] = binomial_interval(k, n, cl=cl)
            rows.append(row)
    return pd.DataFrame(rows)
