"""Completeness and purity of a catalogue against the truth of a simulated sky.

:func:`objects_with_truth` joins every object of a simulated footprint (its sweeps, its ``truth.fits``)
with its catalogue outcome; :func:`completeness_purity` bins completeness and purity of a cut on
``P_SIGNAL``, with Wilson intervals; :func:`calibrate_on_sky` measures on a simulated footprint the sky's class
priors and the purity / completeness curves of ``P_SIGNAL_SKY`` and stores them in a model folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.table import Table

from dwarflib import survey_io
from dwarflib.catalogue import DEFAULT_CHUNK_ROWS, classify_files
from dwarflib.catalogue_files import expand_inputs, load_catalogue, read_manifest
from dwarflib.conventions import file_sha256
from dwarflib.datamodel import unique_id
from dwarflib.features import build_features, required_columns
from dwarflib.labels import DEFAULT_SCHEME
from dwarflib.metrics import CONFIDENCE, CONFIDENCE_1SIGMA, binomial_interval, difference_interval
from dwarflib.pipeline import (
    CURVE_COLUMNS,
    MIN_SELECTED_FOR_PURITY,
    MODEL_JSON,
    SKY_CALIBRATION_JSON,
    SKY_FIELD,
    ModelError,
    compute_model_sha256,
    load_model,
)
from dwarflib.priors import prior_shift
from dwarflib.selections import BGS_BRIGHT, DWARF_SURVEY, SDSS_MAIN
from dwarflib.sky.generate import sweep_files as sky_sweep_files
from dwarflib.sky.generate import training_sample_path

#: r-magnitude bins of the stored sky curves [mag]: SDSS-main-like, GAMA/SAGA-like and the faint end.
SKY_R_BINS: dict[str, tuple[float, float]] = {
    f"r<{SDSS_MAIN.r_max:g}": (-np.inf, SDSS_MAIN.r_max),
    f"{SDSS_MAIN.r_max:g}<=r<{BGS_BRIGHT.r_max:g}": (SDSS_MAIN.r_max, BGS_BRIGHT.r_max),
    f"{BGS_BRIGHT.r_max:g}<=r<{DWARF_SURVEY.r_max:g}": (BGS_BRIGHT.r_max, DWARF_SURVEY.r_max)}
#: Thresholds on P_SIGNAL_SKY at which the sky curves are stored.
SKY_THRESHOLDS = np.round(np.arange(0.0, 0.9951, 0.005), 3)
#: Confidence level of the stored intervals.
SKY_CL = CONFIDENCE
#: Least half-width of the purity check (issue #12's done-when): a measured purity agrees with the stated one
#: when it lies in the stated interval or within this distance of the stated value, whichever is wider (fraction).
PURITY_TOLERANCE = 0.05


def objects_with_truth(out_dir, sweep_files, truth_path, scheme=None,
                       feature_groups=("magnitudes", "surface_brightness"), chunk_rows: int = DEFAULT_CHUNK_ROWS,
                       catalogue_columns=("P_SIGNAL",)):
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
    catalogue_columns : sequence of str
        Catalogue columns joined to the objects (P_SIGNAL always; NaN where not preselected).

    Returns
    -------
    DataFrame
        TARGETID, the features, TRUE_CLASS, IS_SIGNAL, PRESELECTED, the catalogue columns.

    Raises
    ------
    ValueError
        When the catalogue was not made with ``keep_all`` or a sweep object is missing from the truth.
    """
    scheme = DEFAULT_SCHEME if scheme is None else scheme
    recs = read_manifest(out_dir)
    if not recs or not all(r["keep_all"] for r in recs.values()):
        raise ValueError(f"{out_dir}: completeness needs a catalogue made with keep_all=True (--all)")
    cat = load_catalogue(out_dir, columns=list(dict.fromkeys(["TARGETID", "P_SIGNAL", *catalogue_columns])))
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


def _curve(objects: pd.DataFrame, by: str, lo: float, hi: float) -> dict:
    """Purity / completeness of ``P_SIGNAL >= t`` for every t of :data:`SKY_THRESHOLDS` in ``lo <= by < hi``
    (:func:`completeness_purity`), as one list per :data:`~dwarflib.pipeline.CURVE_COLUMNS` entry."""
    df = completeness_purity(objects, by, [lo, hi], thresholds=SKY_THRESHOLDS, cl=SKY_CL)
    return {c: [None if not np.isfinite(v) else float(v) for v in df[c].to_numpy(float)] for c in CURVE_COLUMNS}


def sky_curves(objects: pd.DataFrame, score: str = "P_SIGNAL") -> dict:
    """Purity and completeness of ``score >= t`` against the threshold t, overall and per :data:`SKY_R_BINS`.

    The curves :func:`calibrate_on_sky` stores, computed the same way for any footprint joined with its truth
    (:func:`objects_with_truth`): ``objects`` needs ``IS_SIGNAL``, ``PRESELECTED``, ``r`` [mag] and the
    ``score`` column (NaN where not preselected). Completeness is over every true signal object (preselected
    or not). Returns ``{"overall": curve, "<r bin>": curve, ...}``, each curve one list per
    :data:`~dwarflib.pipeline.CURVE_COLUMNS` entry (thresholds :data:`SKY_THRESHOLDS`, Wilson intervals at
    :data:`SKY_CL`).
    """
    if score not in objects.columns:
        raise ValueError(f"objects have no column {score!r} (columns: {list(objects.columns)})")
    obj = objects.assign(P_SIGNAL=objects[score].to_numpy(float), ALL=0.0)
    curves = {"overall": _curve(obj, "ALL", -1.0, 1.0)}
    for name, (lo, hi) in SKY_R_BINS.items():
        curves[name] = _curve(obj, "r", lo, hi)
    return curves


def calibrate_on_sky(model_dir, sky_dir, chunk_rows: int = DEFAULT_CHUNK_ROWS, workers: int | None = None) -> dict:
    """Measure a model on a simulated footprint and store its sky calibration in the model folder.

    1. Classifies every sweep of ``sky_dir`` (all preselected rows) with the model and joins them with
       ``truth.fits`` (:func:`objects_with_truth`).
    2. Sky priors: the true class fractions of the preselected objects (every one, training objects too:
       they are part of the sky). A class absent from the preselected footprint raises ValueError (a prior
       of 0 would make its probability 0 everywhere): simulate a larger footprint.
    3. Training-mix priors: the class fractions of the model's labelled sample (``training_data.class_counts``
       of ``model.json``, all parts; the calibration biases give the probabilities these priors).
    4. ``P_SIGNAL_SKY`` = :func:`~dwarflib.priors.prior_shift` of the catalogue's P_CLASS columns, and the
       purity and completeness of ``P_SIGNAL_SKY >= t`` (:data:`SKY_THRESHOLDS`), overall and per
       :data:`SKY_R_BINS` (r from the sweep fluxes), Wilson intervals at :data:`SKY_CL`. Completeness is
       over every true signal object of the footprint (preselected or not). When the model was trained on
       this footprint's own ``training-sample.fits`` (same sha256 as recorded in ``model.json``), the objects
       of that sample are left out of the curves, so that they are measured on objects the network never saw;
       on a separately simulated sky (another seed) nothing is left out.
    5. Writes ``sky-calibration.json`` and the ``sky_calibration`` field of ``model.json`` (priors, curves
       file sha256), and recomputes ``model_sha256`` (the model's identity changes).

    Returns the stored document (``curves``, ``sky_class_counts``, ...) plus ``model_sha256``.
    """
    model_dir, sky_dir = Path(model_dir), Path(sky_dir)
    model = load_model(model_dir)
    meta = json.loads((model_dir / MODEL_JSON).read_bytes())
    truth = sky_dir / "truth.fits"
    if not truth.exists():
        raise FileNotFoundError(f"{sky_dir}: not a simulated sky folder (no truth.fits)")
    files = sky_sweep_files(sky_dir)
    k = model.scheme.n_classes
    train_priors = model.training_mix_priors  # ModelError (a ValueError) naming the field when undefined
    pcols = [f"P_CLASS{j}" for j in range(k)]
    with tempfile.TemporaryDirectory(prefix="dwarflib-skycal-") as tmp:
        classify_files(model_dir, files, tmp, keep_all=True, workers=workers, chunk_rows=chunk_rows, progress=False)
        obj = objects_with_truth(tmp, files, truth, scheme=model.scheme, chunk_rows=chunk_rows,
                                 catalogue_columns=pcols)
    pre = obj["PRESELECTED"].to_numpy(bool)
    sky_counts = np.bincount(obj["TRUE_CLASS"].to_numpy()[pre], minlength=k)
    if (sky_counts == 0).any():
        raise ValueError(f"{sky_dir}: the preselected footprint has no object of class(es) "
                         f"{np.flatnonzero(sky_counts == 0).tolist()} (counts {sky_counts.tolist()}); "
                         "simulate a larger footprint")
    sky_priors = sky_counts / sky_counts.sum()
    p_sky = np.full(len(obj), np.nan)
    proba = obj.loc[pre, pcols].to_numpy(np.float32)
    p_sky[pre] = prior_shift(proba, train_priors, sky_priors).astype(np.float32)[:, model.signal_index]
    obj["P_SIGNAL"] = p_sky  # the curves are on P_SIGNAL_SKY
    train_file = training_sample_path(sky_dir)
    own = train_file.exists() and file_sha256(train_file) == meta.get("training_data", {}).get("sha256")
    n_excluded = 0
    if own:
        ids = np.asarray(Table.read(train_file)["TARGETID"], np.int64)
        drop = obj["TARGETID"].isin(ids).to_numpy()
        n_excluded = int(drop.sum())
        obj = obj[~drop]
    curves = sky_curves(obj)
    summary = sky_dir / "summary.json"
    sky_meta = json.loads(summary.read_text()) if summary.exists() else {}
    doc = {
        "format": "dwarflib-sky-calibration",
        "quantity": "P_SIGNAL_SKY",
        "cl": SKY_CL,
        "interval": "Wilson",
        "sky": {"path": str(sky_dir.resolve()), "truth_sha256": file_sha256(truth),
                "seed": sky_meta.get("seed"), "n_sources": sky_meta.get("n_sources")},
        "n_objects": int(len(obj)),
        "n_preselected": int(pre.sum()),
        "sky_class_counts": sky_counts.tolist(),
        "training_objects_excluded": n_excluded,
        "excluded_rule": ("objects of the footprint's training-sample.fits (the model's training sample) left "
                          "out of the curves" if own else "none: the footprint is not the model's training sky"),
        "completeness": "true signal objects selected / all true signal objects of the footprint (or r bin)",
        "r_bins": {n: [None if not np.isfinite(a) else a, b] for n, (a, b) in SKY_R_BINS.items()},
        "curves": curves,
    }
    raw = json.dumps(doc, indent=1, allow_nan=False).encode()
    meta[SKY_FIELD] = {"train_priors": train_priors.tolist(), "sky_priors": sky_priors.tolist(),
                       "sky_priors_source": f"truth of the simulated footprint {sky_dir.name} (preselected objects)",
                       "curves_file": SKY_CALIBRATION_JSON, "curves_sha256": hashlib.sha256(raw).hexdigest()}
    meta = json.loads(json.dumps(meta, allow_nan=False))  # hashed as it will be read back
    meta["model_sha256"] = compute_model_sha256(meta, model.network)
    for name, data in ((SKY_CALIBRATION_JSON, raw), (MODEL_JSON, json.dumps(meta, indent=1, allow_nan=False).encode())):
        tmp_path = model_dir / f".{name}.tmp"
        tmp_path.write_bytes(data)
        os.replace(tmp_path, model_dir / name)
    load_model(model_dir)  # the folder as written must validate
    return {**doc, "model_sha256": meta["model_sha256"]}


def format_sky_calibration(doc: dict) -> str:
    """Text report of :func:`calibrate_on_sky`: priors source, counts and the overall curve at a few thresholds."""
    c = doc["curves"]["overall"]
    lines = [f"sky calibration on {doc['sky']['path']} (seed {doc['sky']['seed']}): {doc['n_preselected']:,d} "
             f"preselected objects, true class counts {doc['sky_class_counts']}, "
             f"{doc['training_objects_excluded']:,d} training objects left out of the curves",
             f"P_SIGNAL_SKY threshold: purity [{100 * doc['cl']:.0f} % interval], completeness, selected"]
    for i, t in enumerate(c["threshold"]):
        if c["n_selected"][i] and round(t * 1000) % 100 == 0:
            lines.append(f"  {t:.2f}: {c['purity'][i]:.3f} [{c['purity_low'][i]:.3f}, {c['purity_high'][i]:.3f}], "
                         f"{c['completeness'][i]:.3f}, {int(c['n_selected'][i])}")
    lines.append(f"model_sha256 is now {doc['model_sha256']}")
    return "\n".join(lines)


def sky_calibrated_copy(model_dir, sky_dir, out_dir, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                        workers: int | None = None) -> dict:
    """A copy of ``model_dir`` in ``out_dir``, sky-calibrated on ``sky_dir`` (:func:`calibrate_on_sky`).

    The source model folder is not modified. When ``out_dir`` already holds a calibration of the same source
    model (its ``model.json`` without the ``sky_calibration`` field hashes to the source's ``model_sha256``)
    on the same sky (same ``truth.fits`` sha256), it is reused; otherwise (another model or sky, or a copy that
    no longer validates) it is replaced (written next to
    ``out_dir`` and renamed into place when complete). Returns the stored calibration document
    (``sky-calibration.json``) plus ``model_sha256`` (the copy's) and ``source_model_sha256``.
    """
    model_dir, sky_dir, out_dir = Path(model_dir), Path(sky_dir), Path(out_dir)
    source = load_model(model_dir)
    truth = sky_dir / "truth.fits"
    if not truth.exists():
        raise FileNotFoundError(f"{sky_dir}: not a simulated sky folder (no truth.fits)")
    if (out_dir / SKY_CALIBRATION_JSON).exists() and (out_dir / MODEL_JSON).exists():
        try:
            copy = load_model(out_dir)
        except ModelError:  # an edited or half-written copy: calibrated again below
            copy = None
        if copy is not None:
            meta = json.loads((out_dir / MODEL_JSON).read_bytes())
            meta.pop(SKY_FIELD, None)
            doc = json.loads((out_dir / SKY_CALIBRATION_JSON).read_bytes())
            if (compute_model_sha256(meta, copy.network) == source.model_sha256
                    and doc.get("sky", {}).get("truth_sha256") == file_sha256(truth)):
                return {**doc, "model_sha256": copy.model_sha256, "source_model_sha256": source.model_sha256}
    tmp = out_dir.parent / f".tmp-{out_dir.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(model_dir, tmp)
    doc = calibrate_on_sky(tmp, sky_dir, chunk_rows=chunk_rows, workers=workers)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    return {**doc, "source_model_sha256": source.model_sha256}


def max_stated_purity(model) -> float:
    """The highest purity of a sky-calibrated model's stored overall curve among thresholds that select at
    least :data:`~dwarflib.pipeline.MIN_SELECTED_FOR_PURITY` objects of the calibration footprint: the top of
    the range ``sky_operating_point(purity=...)`` accepts (fraction, 0-1). ValueError without such a point."""
    if model.sky_curves is None:
        raise ValueError(f"model {model.model_sha256[:12]}: no stored sky curves ({SKY_CALIBRATION_JSON})")
    c = model.sky_curves["curves"]["overall"]
    n = np.asarray(c["n_selected"], float)
    pur = np.asarray([np.nan if v is None else v for v in c["purity"]], float)
    ok = (n >= MIN_SELECTED_FOR_PURITY) & np.isfinite(pur)
    if not ok.any():
        raise ValueError(f"model {model.model_sha256[:12]}: no threshold of the stored sky curve selects "
                         f">= {MIN_SELECTED_FOR_PURITY} objects")
    return float(pur[ok].max())


def sky_purity_check(objects: pd.DataFrame, selected, stated: dict, cl: float = CONFIDENCE,
                     tolerance: float = PURITY_TOLERANCE) -> pd.DataFrame:
    """Stated against measured purity and completeness of a candidate list, overall and per :data:`SKY_R_BINS`.

    Parameters
    ----------
    objects : pandas.DataFrame
        Every object of a simulated footprint joined with its truth (:func:`objects_with_truth`): ``IS_SIGNAL``
        and ``r`` [mag].
    selected : array_like of bool
        Per row of ``objects``: is the object in the candidate list.
    stated : dict
        The operating point the model stated (:meth:`~dwarflib.pipeline.CatalogueModel.sky_operating_point`,
        or the ``sky_operating_point`` of a :func:`~dwarflib.catalogue.classify_files` summary): ``purity``,
        ``purity_low``, ``purity_high``, ``completeness`` (with bounds), ``n_selected``, and ``bins``.
    cl : float
        Confidence level of the measured (Wilson) intervals.
    tolerance : float
        The verdict's least half-width (fraction): measured purity agrees when it lies in
        ``[min(stated_low, stated - tolerance), max(stated_high, stated + tolerance)]``.

    Returns
    -------
    pandas.DataFrame
        One row per ``r_bin`` (``overall`` first): ``threshold``, the stated ``stated_purity``,
        ``stated_purity_low/high``, ``stated_completeness`` (with bounds), ``stated_n_selected`` (on the
        calibration footprint), the measured ``n_selected``, ``n_recovered``, ``n_signal``, ``purity``,
        ``purity_low/high``, ``completeness``, ``completeness_low/high``, ``agree_low``, ``agree_high`` and
        ``verdict`` (``agrees``, ``disagrees``, or ``nothing selected``). The verdict's range holds the stated
        purity's sampling noise only; ``purity_difference`` (stated minus measured) with
        ``purity_difference_low/high`` (Newcombe's interval at ``cl``, :func:`dwarflib.metrics.difference_interval`,
        from the stated ``n_recovered`` of ``n_selected`` and the measured counts) holds both samples' noise, for
        reading a disagreement.
    """
    sel = np.asarray(selected, bool)
    if sel.shape != (len(objects),):
        raise ValueError(f"selected has shape {sel.shape}, expected ({len(objects)},): one flag per object")
    sig = objects["IS_SIGNAL"].to_numpy(bool)
    r = objects["r"].to_numpy(float)
    parts = {"overall": (stated, np.ones(len(objects), bool))}
    for name, (lo, hi) in SKY_R_BINS.items():
        if name not in stated.get("bins", {}):
            raise ValueError(f"the stated operating point has no r bin {name!r} (bins: {list(stated.get('bins', {}))})")
        parts[name] = (stated["bins"][name], np.isfinite(r) & (r >= lo) & (r < hi))
    rows = []
    for name, (st, m) in parts.items():
        n_sel, n_rec, n_sig = int((m & sel).sum()), int((m & sel & sig).sum()), int((m & sig).sum())
        row = {"r_bin": name, "threshold": float(stated.get("threshold", np.nan))}
        for k in ("purity", "purity_low", "purity_high", "completeness", "completeness_low", "completeness_high",
                  "n_selected"):
            row[f"stated_{k}"] = float(st[k]) if st.get(k) is not None else float("nan")
        row.update({"n_selected": n_sel, "n_recovered": n_rec, "n_signal": n_sig})
        for k, num, den in (("purity", n_rec, n_sel), ("completeness", n_rec, n_sig)):
            row[k] = num / den if den else float("nan")
            row[f"{k}_low"], row[f"{k}_high"] = binomial_interval(num, den, cl=cl)
        n_st, k_st = st.get("n_selected"), st.get("n_recovered")
        if n_sel and n_st and k_st is not None and np.isfinite(n_st) and np.isfinite(k_st):
            d = difference_interval(int(k_st), int(n_st), n_rec, n_sel, cl)
        else:
            d = (float("nan"),) * 3
        row["purity_difference"], row["purity_difference_low"], row["purity_difference_high"] = d
        row["agree_low"] = min(row["stated_purity_low"], row["stated_purity"] - tolerance)
        row["agree_high"] = max(row["stated_purity_high"], row["stated_purity"] + tolerance)
        if not n_sel or not np.isfinite(row["stated_purity"]):
            row["verdict"] = "nothing selected"
        else:
            row["verdict"] = "agrees" if row["agree_low"] <= row["purity"] <= row["agree_high"] else "disagrees"
        row["cl"] = float(cl)
        rows.append(row)
    return pd.DataFrame(rows)


def add_cli(subparsers) -> None:
    p = subparsers.add_parser(
        "sky-calibrate", help="store a model's sky priors and sky purity/completeness curves (simulated sky)",
        description="Classify a simulated sky with a model, measure the preselected sky's class priors from its "
                    "truth and the purity and completeness of P_SIGNAL_SKY against the threshold (overall and per r "
                    "bin), and store them in the model folder (sky-calibration.json; model.json's model_sha256 "
                    "changes).")
    p.add_argument("model_dir", metavar="MODEL_DIR", help="folder written by `dwarflib train` (updated in place)")
    p.add_argument("sky_dir", metavar="SKY_DIR", help="simulated sky folder (sweep-*.fits, truth.fits)")
    p.set_defaults(func=_cli_sky_calibrate)


def _cli_sky_calibrate(args) -> int:
    import sys

    try:
        doc = calibrate_on_sky(args.model_dir, args.sky_dir)
    except (FileNotFoundError, ValueError) as exc:
        print(f"dwarflib sky-calibrate: error: {exc}", file=sys.stderr)
        return 1
    print(format_sky_calibration(doc))
    return 0
