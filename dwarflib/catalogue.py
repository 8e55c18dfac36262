"""Streaming, parallel, resumable classification of sweep files into a candidate catalogue.

``classify_files(model_dir, sweep_files, out_dir)`` reads each sweep-format FITS file (the real DR9
layout, or the simulated sky's) in chunks of ``chunk_rows`` rows, reading only the columns the model
needs, and for every chunk applies the model's preselection, builds its features and evaluates the
network (:meth:`dwarflib.pipeline.CatalogueModel.apply_chunk`). A chunk is read, classified, appended to the
outputs and dropped; only the shred-pair search runs on the whole file first (:func:`file_shred_pairs`: six
columns, about 176 bytes a row at its peak, :data:`dwarflib.footprint.PAIR_SEARCH_BYTES_PER_ROW`), so the
memory grows with the file size by that much and no more.

Outputs, per input file ``<name>.fits``, in ``out_dir``:

* ``<name>-candidates.parquet`` and ``<name>-candidates.fits`` (or ``-all`` with ``keep_all=True``):
  RELEASE, BRICKID, OBJID, TARGETID, RA, DEC [deg], P_CLASS0..P_CLASS6 (class names in the metadata),
  P_SIGNAL, with a sky-calibrated model (:attr:`~dwarflib.pipeline.CatalogueModel.has_sky_priors`)
  P_CLASS0_SKY..P_CLASS6_SKY and P_SIGNAL_SKY (the same probabilities under the sky's class priors,
  :meth:`~dwarflib.pipeline.CatalogueModel.sky_proba`; absent for a model without), the model's features,
  FLAG (bits in :data:`FLAG_BITS`), QUALITY_FLAGS and LARGE_GALAXY (the
  large-galaxy and shred bits of :data:`dwarflib.large_galaxies.LARGE_GALAXY_BITS`; the shred pairs are
  searched on the whole file (:func:`file_shred_pairs`), so the flags do not depend on ``chunk_rows``, but a
  pair split between two files is not found; FLAG bit LARGE_GALAXY is set where any is set;
  nothing is dropped for them). Bits whose columns the input lacks (FRACFLUX/FRACIN on the simulated sky)
  stay 0 and are named in the FITS header (``LGNOEVAL``) and the Parquet metadata (``dwarflib.large_galaxy``).
  The Parquet schema metadata and the FITS headers carry the model's provenance (``dwarflib.model`` /
  ``MODELSHA`` etc.).
  By default only candidates (``P_SIGNAL >= catalogue threshold`` of the model) are written; with
  ``keep_all`` every preselected row is. With ``purity`` or ``sky_threshold`` (a sky-calibrated model) the
  candidates are ``P_SIGNAL_SKY >= `` the threshold taken from the model's stored sky purity curve
  (:meth:`~dwarflib.pipeline.CatalogueModel.sky_operating_point`), and the run summary and the FITS
  header (SKYTHR, SKYPUR*, SKYCMP*) state the expected purity and completeness. With ``sky_priors="em"``
  (CLI ``--sky-priors-em``) a first pass estimates the sky priors of the inputs' preselected rows by EM
  (:func:`dwarflib.sky_priors.estimate_sky_priors_em`) and the ``_SKY`` columns are under those priors, for any model.
* ``<name>-rejected.parquet``: every row the preselection rejected: ROW (0-based row of the input
  file), TARGETID and REASON (the first cut that removed it); as many rows per reason as the manifest's
  ``rejected`` counts.

North/south overlap: by default (``resolve_north_south=True``, CLI: on unless ``--no-resolve-north-south``)
each row the model kept is resolved by :func:`dwarflib.north_south.resolve_north_south` (kept from the north
release at Dec > 32.375 deg in the north Galactic cap, from the south elsewhere), so classifying the north
and the south sweeps together gives each object once; a row the rule does not keep is rejected with its
reason (``NORTH_OUTSIDE_NORTH_AREA``, ``SOUTH_INSIDE_NORTH_AREA``, ``UNKNOWN_RELEASE``), counted and listed
like any other rejected row, so rows read = rows classified + rows rejected still holds per file.
* ``manifest.jsonl``: one JSON line per completed input file (path, size, mtime, rows read /
  preselected / classified / written, rejected rows per reason, output stem and paths, model sha256).

Output names, the manifest, input expansion and the readers (:func:`load_catalogue`,
:func:`load_rejected`) are in :mod:`dwarflib.catalogue_files`; completeness against a simulated truth in
:mod:`dwarflib.completeness`; the writers in :mod:`dwarflib.stream_writers`.

Concurrency: a run holds an exclusive lock on ``out_dir`` (:func:`dwarflib.paths.locked_dir`); a second
run into the same folder fails at once, naming the first.

Resumability: each output file is written to a temporary name and moved into place with
``os.replace`` (atomic on POSIX), and the manifest line is appended (and fsync-ed) only after both
outputs are in place. A run killed at any moment therefore leaves, for each input file, either a
manifest line with complete outputs or no manifest line (possibly a complete but unlisted output
that the next run overwrites). ``resume=True`` skips the files whose manifest line matches the
input's path, size, mtime and the model, and whose outputs exist; the rest are redone. Catalogue
readers (:func:`load_catalogue`) read only what the manifest lists, so no row is lost or duplicated.

Parallelism: over files. Local processes (``concurrent.futures.ProcessPoolExecutor``, one torch
thread each) by default; a Dask distributed cluster when ``scheduler`` (an address such as
``tcp://host:8786``, a ``dask.distributed.Client`` or a cluster object) is given. Dask workers must
see the input and output paths (a shared file system). Only the calling process writes the manifest.
The default number of local workers comes from the input size
(:func:`dwarflib.parallel.default_workers`): each worker imports torch and loads the model (seconds),
so small inputs run in the calling process. Local workers die with the calling process, even when it
is killed with SIGKILL (:func:`dwarflib.parallel.init_worker`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

import numpy as np

from dwarflib import north_south, parallel, survey_io
from dwarflib import paths as dw_paths
from dwarflib.catalogue_files import (
    MANIFEST_NAME,
    TMP_PREFIX,
    append_manifest,
    check_outputs,
    default_stem,
    expand_inputs,
    format_summary,
    is_done,
    load_catalogue,  # noqa: F401 - re-exported: the catalogue's readers are part of its API
    load_rejected,  # noqa: F401 - re-exported
    output_paths,
    output_stems,
    read_manifest,
    summarise,
)
from dwarflib.datamodel import unique_id
from dwarflib.large_galaxies import (
    LARGE_GALAXY_BITS,
    PAIR_BITS,
    PAIR_COLUMNS,
    large_galaxy_chunk_flags,
    large_galaxy_columns,
    not_evaluated,
    shred_pair_flags,
)
from dwarflib.options import positive_int
from dwarflib.pipeline import FLAG_BITS, ChunkArrays, SeenIds, load_model
from dwarflib.sky_priors import EM_MAX_ROWS, estimate_sky_priors_em
from dwarflib.stream_writers import FitsStreamWriter, ParquetStreamWriter, RejectedRowsWriter
from dwarflib.survey_io import quality_bits

DEFAULT_CHUNK_ROWS = 200_000
#: Values of ``classify_files(sky_priors=...)``: None (the model's stored sky priors) or "em".
SKY_PRIOR_MODES = (None, "em")


def _atomic_tmp(final: Path) -> Path:
    return final.with_name(f"{TMP_PREFIX}{os.getpid()}-{time.monotonic_ns()}-{final.name}")


# ---------------------------------------------------------------------------------------------
# one chunk, one file
# ---------------------------------------------------------------------------------------------
def catalogue_dtype(model, sky: bool = False) -> np.dtype:
    """Structured dtype of a catalogue row for ``model`` (ids, position, probabilities, features, FLAG); the
    ``_SKY`` columns for a sky-calibrated model or with ``sky`` (priors given to the run, e.g. EM-estimated)."""
    fields = [("RELEASE", "i2"), ("BRICKID", "i4"), ("OBJID", "i4"), ("TARGETID", "i8"),
              ("RA", "f8"), ("DEC", "f8")]
    fields += [(f"P_CLASS{k}", "f4") for k in range(model.scheme.n_classes)]
    fields += [("P_SIGNAL", "f4")]
    if model.has_sky_priors or sky:  # only for a sky-calibrated model or EM priors: others keep their bytes
        fields += [(f"P_CLASS{k}_SKY", "f4") for k in range(model.scheme.n_classes)]
        fields += [("P_SIGNAL_SKY", "f4")]
    fields += [(c, "f4") for c in model.feature_columns]
    fields += [("FLAG", "i2"), ("QUALITY_FLAGS", "i4"), ("LARGE_GALAXY", "i2")]
    return np.dtype(fields)


def classify_table(model, table, keep_all: bool = False, timings: dict | None = None,
                   seen: SeenIds | None = None, rejects: list | None = None, resolve_north_south: bool = True,
                   sky_threshold: float | None = None, sky_priors=None, pair_flags=None):
    """Classify one chunk (an astropy Table in sweep format) with :meth:`CatalogueModel.apply_chunk
    <dwarflib.pipeline.CatalogueModel.apply_chunk>` and assemble its catalogue rows.

    Returns ``(rows, counts, rejected)``: the catalogue rows (structured array, see
    :func:`catalogue_dtype`; every classified row with ``keep_all``, else the candidates), the counts
    ``read / preselected / classified / candidates / high_purity / written`` and a Counter of rejected
    rows per reason (the reasons of ``apply_chunk``: every input row is either classified or counted
    under exactly one reason). ``seen`` (one :class:`~dwarflib.pipeline.SeenIds` per input file) rejects
    a TARGETID already classified in an earlier chunk of the file. ``timings``, if given, gets the
    seconds spent in each stage added (``preselect``, ``features``, ``network``, ``assemble``).
    ``rejects``, if given, gets ``(index, targetid, reason)`` of the rejected rows appended: their
    0-based rows in the chunk, their TARGETID (-1 for ``invalid_id`` rows, whose fields do not make one)
    and their reason (object array of str); one row per counted rejection.
    ``resolve_north_south`` (default True) rejects the rows the model kept that the north/south rule of
    :func:`dwarflib.north_south.resolve_north_south` does not keep, with its reason (module docstring).
    ``sky_threshold`` (a sky-calibrated model): candidates are ``P_SIGNAL_SKY >= sky_threshold`` instead of
    the model's catalogue threshold on ``P_SIGNAL``. ``sky_priors`` (n_classes,): the ``_SKY`` columns are under
    these priors (e.g. :func:`dwarflib.sky_priors.estimate_sky_priors_em`) instead of the model's stored sky priors.
    ``pair_flags`` (one int16 per row): the shred-pair bits of the chunk's rows found on the whole file
    (:func:`dwarflib.large_galaxies.shred_pair_flags`); None searches the pairs within the chunk.
    """
    arrays = ChunkArrays.from_table(table)
    kept, why, X, proba, flags = model.apply_chunk(arrays, seen=seen, timings=timings)
    t3 = time.perf_counter()
    if resolve_north_south:
        kept, why, X, proba, flags = north_south.resolve_kept(arrays, kept, why, X, proba, flags)
    large = large_galaxy_chunk_flags(arrays, pair_flags)
    bad = np.flatnonzero(~kept)
    reasons, n_reason = np.unique(why[bad].astype(str), return_counts=True)
    rejected = Counter(dict(zip(reasons.tolist(), n_reason.tolist(), strict=True)))
    sel = arrays[kept] if len(bad) else arrays
    p_signal = proba[:, model.signal_index]
    sky = (model.sky_proba(proba, sky_priors) if sky_priors is not None
           else model.sky_proba(proba) if model.has_sky_priors else None)
    if sky_threshold is None:
        cand = p_signal >= model.catalogue_threshold
    else:
        if sky is None:
            model.sky_priors  # noqa: B018 - raises ModelError naming the missing calibration
        cand = sky[:, model.signal_index] >= sky_threshold
    keep = np.ones(len(sel), bool) if keep_all else cand
    counts = {
        "read": len(arrays),
        "preselected": int(len(sel)),
        "classified": int(len(sel)),
        "candidates": int(cand.sum()),
        "high_purity": int((p_signal >= model.high_purity_threshold).sum()),
        "written": int(keep.sum()),
    }
    k = np.flatnonzero(keep)
    sub = sel[k] if len(k) < len(sel) else sel
    rows = np.zeros(len(k), dtype=catalogue_dtype(model, sky=sky_priors is not None))
    for name in ("RELEASE", "BRICKID", "OBJID", "RA", "DEC"):
        rows[name] = np.asarray(sub[name])
    rows["TARGETID"] = unique_id(sub["RELEASE"], sub["BRICKID"], sub["OBJID"])
    pk = proba[k] if len(k) < len(proba) else proba
    for j in range(proba.shape[1]):
        rows[f"P_CLASS{j}"] = pk[:, j]
    rows["P_SIGNAL"] = pk[:, model.signal_index]
    if sky is not None:
        sk = sky[k] if len(k) < len(sky) else sky
        for j in range(sky.shape[1]):
            rows[f"P_CLASS{j}_SKY"] = sk[:, j]
        rows["P_SIGNAL_SKY"] = sk[:, model.signal_index]
    Xk = X[k] if len(k) < len(X) else X
    for j, c in enumerate(model.feature_columns):
        rows[c] = Xk[:, j]
    qual = quality_bits(sub) if len(k) else np.zeros(0, np.int32)
    large_k = large[np.flatnonzero(kept)[k]]
    rows["FLAG"] = (flags[k] if len(k) < len(flags) else flags) | (
        (qual != 0).astype(np.int16) << FLAG_BITS["QUALITY"]) | (
        (large_k != 0).astype(np.int16) << FLAG_BITS["LARGE_GALAXY"])
    rows["QUALITY_FLAGS"] = qual
    rows["LARGE_GALAXY"] = large_k
    if timings is not None:
        timings["assemble"] = timings.get("assemble", 0.0) + time.perf_counter() - t3
    if rejects is not None:
        rejected_tid = np.full(len(bad), -1, np.int64)  # invalid_id rows have no TARGETID
        has_id = why[bad] != "invalid_id"
        rejected_tid[has_id] = unique_id(arrays["RELEASE"][bad[has_id]], arrays["BRICKID"][bad[has_id]],
                                         arrays["OBJID"][bad[has_id]])
        rejects.append((bad, rejected_tid, why[bad]))
    return rows, counts, rejected


def file_shred_pairs(path, not_evaluated_bits: dict) -> np.ndarray | None:
    """The shred-pair bits (:func:`dwarflib.large_galaxies.shred_pair_flags`) of every row of a catalogue
    file, from its :data:`~dwarflib.large_galaxies.PAIR_COLUMNS` read once (32 bytes a row), so that a pair
    split between two chunks is found and the flags do not depend on ``chunk_rows``; None when the file
    lacks those columns (``not_evaluated_bits`` names the pair bits)."""
    if set(PAIR_BITS) & set(not_evaluated_bits):
        return None
    table = survey_io.read_catalogue(path, columns=list(PAIR_COLUMNS), required=(), flags=False)
    return shred_pair_flags(table)


_MODEL_CACHE: dict = {}


def _cached_model(model_dir):
    key = str(Path(model_dir).resolve())
    stamp = (Path(key) / "model.json").stat().st_mtime_ns
    if _MODEL_CACHE.get(key, (None, None))[0] != stamp:
        _MODEL_CACHE[key] = (stamp, load_model(key))
    return _MODEL_CACHE[key][1]


def classify_file(model_dir, path, out_dir, *, stem: str | None = None, keep_all: bool = False,
                  chunk_rows: int = DEFAULT_CHUNK_ROWS, torch_threads: int | None = 1,
                  prefetch: bool = True, resolve_north_south: bool = True, sky_point: dict | None = None,
                  sky_em: dict | None = None) -> dict:
    """Classify one sweep file into its Parquet + FITS catalogue (atomically). Returns its manifest record.

    Runs in worker processes; the manifest is written by the caller of :func:`classify_files`.
    With ``prefetch`` (default) the next chunk is read in a thread while the current one is classified
    (same output, see :func:`dwarflib.parallel.prefetched`). ``resolve_north_south``: see
    :func:`classify_table`.
    Besides the model's columns, the large-galaxy columns present in the file are read. ``sky_point``: the
    operating point of :meth:`~dwarflib.pipeline.CatalogueModel.sky_operating_point` (candidates on
    ``P_SIGNAL_SKY``). ``sky_em``: the record of :func:`dwarflib.sky_priors.estimate_sky_priors_em` (the ``_SKY`` columns under its
    ``priors``; stated in the FITS header, the Parquet metadata ``dwarflib.sky_priors`` and the manifest record).
    """
    t0 = time.perf_counter()
    model = _cached_model(model_dir)
    path = Path(path).resolve()
    st = path.stat()
    stem = stem or default_stem(path)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    finals = output_paths(out_dir, stem, keep_all)
    tmps = {k: _atomic_tmp(v) for k, v in finals.items()}
    dtype = catalogue_dtype(model, sky=sky_em is not None)
    em_priors = None if sky_em is None else np.asarray(sky_em["priors"], float)
    have = set(survey_io.file_columns(path))
    if "FRACDEV" in have:  # pre-DR9 file: the reader derives the DR9 shapes
        have |= {"SHAPE_R", "SHAPE_E1", "SHAPE_E2"}
    columns = model.input_columns
    if columns is not None:  # the large-galaxy columns the file has (REF_CAT, FRACFLUX_*, ...), not required
        columns = list(dict.fromkeys([*columns, *(c for c in large_galaxy_columns() if c in have)]))
    lg_missing = not_evaluated(have if columns is None else columns)
    meta = model.provenance_metadata()
    units = {"RA": "deg", "DEC": "deg", **model.feature_units}
    counts = Counter()
    rejected = Counter()
    seen = SeenIds()  # TARGETIDs of this file: a repeated one is rejected in any chunk
    writers = []
    rejected_w = None
    try:
        writers.append(ParquetStreamWriter(tmps["parquet"], dtype, {
            "dwarflib.model": json.dumps(meta),
            "dwarflib.large_galaxy": json.dumps({"bits": LARGE_GALAXY_BITS, "not_evaluated": lg_missing}),
            "dwarflib.resolve_north_south": json.dumps(bool(resolve_north_south)),
            **({} if sky_em is None else {"dwarflib.sky_priors": json.dumps(sky_em)})}))
        writers.append(FitsStreamWriter(tmps["fits"], dtype, units=units,
                                        primary_cards=model.provenance_cards(),
                                        table_cards=_table_cards(model, path, keep_all, resolve_north_south,
                                                                 lg_missing, sky_point, sky_em),
                                        extname="CATALOGUE"))
        rejected_w = RejectedRowsWriter(tmps["rejected"], {"dwarflib.rejected": json.dumps(
            {"input": str(path), "model_sha256": model.model_sha256})})
        pairs = file_shred_pairs(path, lg_missing)
        chunks = survey_io.iter_catalogue(path, chunk_rows=chunk_rows, columns=columns, flags=False)
        with parallel.torch_threads(torch_threads), parallel.prefetched(chunks, prefetch) as chunks:
            for chunk in chunks:
                rejects: list = []
                start = chunk.meta["ROW_OFFSET"]
                rows, c, r = classify_table(model, chunk, keep_all=keep_all, seen=seen, rejects=rejects,
                                            resolve_north_south=resolve_north_south,
                                            sky_threshold=None if sky_point is None else sky_point["threshold"],
                                            sky_priors=em_priors,
                                            pair_flags=None if pairs is None else pairs[start:start + len(chunk)])
                counts.update(c)
                rejected.update(r)
                for w in writers:
                    w.write(rows)
                for index, targetid, reason in rejects:
                    rejected_w.write(index + chunk.meta["ROW_OFFSET"], targetid, reason)
        for w in (*writers, rejected_w):
            w.close()
        for k in finals:
            os.replace(tmps[k], finals[k])
    except BaseException:
        for w in (*writers, rejected_w):
            if w is not None:
                w.abort()
        for t in tmps.values():
            with contextlib.suppress(FileNotFoundError):
                t.unlink()
        raise
    if counts["read"] != counts["preselected"] + sum(rejected.values()):  # pragma: no cover - invariant
        raise RuntimeError(f"{path}: row accounting broken: {dict(counts)} vs rejected {dict(rejected)}")
    if rejected_w.nrows != sum(rejected.values()):  # pragma: no cover - invariant
        raise RuntimeError(f"{path}: {rejected_w.nrows} rejected rows listed, {sum(rejected.values())} counted")
    return {
        "kind": "file",
        "input": str(path),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "model_sha256": model.model_sha256,
        "keep_all": bool(keep_all),
        "resolve_north_south": bool(resolve_north_south),
        **({} if sky_point is None else {"sky_threshold": sky_point["threshold"]}),
        **({} if sky_em is None else {"sky_priors_em": sky_em}),
        "rows_read": counts["read"],
        "rows_preselected": counts["preselected"],
        "rows_classified": counts["classified"],
        "rows_candidates": counts["candidates"],
        "rows_high_purity": counts["high_purity"],
        "rows_written": counts["written"],
        "rejected": dict(sorted(rejected.items())),
        "stem": stem,
        "outputs": {k: str(v) for k, v in finals.items()},
        "seconds": round(time.perf_counter() - t0, 3),
        "pid": os.getpid(),
    }


def _table_cards(model, path: Path, keep_all: bool, resolve: bool = True,
                 lg_missing: dict | None = None, sky_point: dict | None = None,
                 sky_em: dict | None = None) -> list[tuple]:
    cards = [("INPUT", path.name[:68], "input sweep file"),
             ("KEEPALL", bool(keep_all), "T: all preselected rows; F: candidates only"),
             ("NSRESOLV", bool(resolve), "T: north/south overlap resolved (north_south)"),
             ("PTHRESH", float(model.catalogue_threshold), "candidate threshold on P_SIGNAL"),
             ("PHIGH", float(model.high_purity_threshold), "high-purity threshold on P_SIGNAL")]
    for k, name in enumerate(model.scheme.names):
        cards.append((f"CLASS{k}", name, f"class of P_CLASS{k}"))
    for name, bit in FLAG_BITS.items():
        cards.append((f"FLAGBIT{bit}", name, "FLAG bit"))
    for name, bit in LARGE_GALAXY_BITS.items():
        cards.append((f"LGBIT{bit}", name, "LARGE_GALAXY bit"))
    cards.append(("LGNOEVAL", ",".join(lg_missing or {}) or "none",
                  "LARGE_GALAXY bits not evaluated (columns absent)"))
    if sky_em is not None:  # cards only with EM priors: other catalogues keep their bytes
        for k, q in enumerate(sky_em["priors"]):
            cards.append((f"SKYPRIO{k}", float(q), f"sky prior of class {k} (P_CLASS{k}_SKY)"))
        cards += [("SKYPRSRC", "EM", "sky priors: EM (Saerens+2002) on the run inputs"),
                  ("SKYEMNIT", int(sky_em["n_iter"]), "EM iterations"),
                  ("SKYEMCNV", bool(sky_em["converged"]), "EM converged within tolerance"),
                  ("SKYEMTOL", float(sky_em["tol"]), "EM tolerance on the priors"),
                  ("SKYEMROW", int(sky_em["n_rows_used"]), "preselected rows the EM used"),
                  ("SKYEMALL", int(sky_em["n_rows_preselected"]), "preselected rows of the run inputs")]
    elif model.has_sky_priors:
        for k, q in enumerate(model.sky_priors):
            cards.append((f"SKYPRIO{k}", float(q), f"sky prior of class {k} (P_CLASS{k}_SKY)"))
    if sky_point is not None:
        pct = f"{100 * sky_point['cl']:.0f}%"
        cards += [("SKYTHR", float(sky_point["threshold"]), "candidate threshold on P_SIGNAL_SKY"),
                  ("SKYPUR", float(sky_point["purity"]), "expected sky purity of the candidates"),
                  ("SKYPURLO", float(sky_point["purity_low"]), f"lower bound, {pct} Wilson interval"),
                  ("SKYPURHI", float(sky_point["purity_high"]), f"upper bound, {pct} Wilson interval"),
                  ("SKYCMP", float(sky_point["completeness"]), "expected sky completeness of the signal"),
                  ("SKYCMPLO", float(sky_point["completeness_low"]), f"lower bound, {pct} Wilson interval"),
                  ("SKYCMPHI", float(sky_point["completeness_high"]), f"upper bound, {pct} Wilson interval")]
    return cards


# ---------------------------------------------------------------------------------------------
# the driver
# ---------------------------------------------------------------------------------------------
def classify_files(model_dir, sweep_files, out_dir, keep_all: bool = False, workers: int | None = None,
                   scheduler=None, resume: bool = False, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                   progress: bool = True, on_error: str = "raise", resolve_north_south: bool = True,
                   purity: float | None = None, sky_threshold: float | None = None,
                   sky_priors: str | None = None) -> dict:
    """Classify sweep files into a catalogue in ``out_dir`` (see module docstring).

    Parameters
    ----------
    model_dir : path
        A model written by :func:`dwarflib.training.train_final_model`.
    sweep_files : path, glob pattern, folder, or a list of them
        Sweep-format FITS files (real DR9 or simulated).
    out_dir : path
        Output folder (created); holds per input a Parquet + a FITS catalogue and a Parquet list of the
        rejected rows, and ``manifest.jsonl``. Locked for the run (:func:`dwarflib.paths.locked_dir`).
    keep_all : bool
        Keep every preselected row (for completeness studies) instead of candidates only.
    workers : int, optional
        Local worker processes (at most one per file; 1 runs in this process). Default:
        :func:`dwarflib.parallel.default_workers` from the number of files and rows to classify.
    scheduler : str or dask Client/cluster, optional
        Run on a Dask distributed cluster instead of local processes.
    resume : bool
        Skip files already completed (per the manifest) with the same input and model.
    chunk_rows : int
        Rows per chunk read from a file; sets the memory use per worker.
    progress : bool
        Show a tqdm progress bar (rows).
    on_error : {"raise", "continue"}
        After a file fails: stop (default; completed files stay in the manifest) or go on and list it.
    resolve_north_south : bool
        Resolve the north/south overlap (default; see the module docstring): rows of the other
        photometric system are rejected with their reason.
    purity, sky_threshold : float, optional
        At most one: write as candidates the rows with ``P_SIGNAL_SKY >=`` the threshold whose stored sky
        purity is ``purity`` (the lowest such threshold), or ``>= sky_threshold``; needs a sky-calibrated
        model (:func:`dwarflib.completeness.calibrate_on_sky`). The summary's ``sky_operating_point``
        states the expected purity and completeness (also in the FITS table header).
    sky_priors : {None, "em"}
        None (default): the ``_SKY`` columns (sky-calibrated models only) use the model's stored sky priors.
        ``"em"``: a first pass over all inputs estimates the sky priors of their preselected rows by EM
        (:func:`dwarflib.sky_priors.estimate_sky_priors_em`; needs only the model's training-mix priors, so any model), and the
        catalogues get P_CLASSk_SKY / P_SIGNAL_SKY under those priors. The estimate is in the summary and the
        manifest records (``sky_priors_em``), the FITS header (SKYPRIOk, SKYPRSRC = 'EM', SKYEM*) and the
        Parquet metadata (``dwarflib.sky_priors``); ``resume`` redoes a file whose recorded priors differ (the
        first pass always reads every input, completed ones included). Not with ``purity`` /
        ``sky_threshold``: the stored purity curves hold for the calibration sky's priors, not for others.

    Returns
    -------
    dict
        Totals (``files_*``, ``rows_read``, ``rows_preselected``, ``rows_classified``,
        ``rows_candidates``, ``rows_high_purity``, ``rows_written``, ``rejected`` per reason),
        ``records`` (the manifest records of this run's files, done or skipped), ``failed`` and
        ``wall_s`` / ``rows_per_s``.

    Raises
    ------
    dwarflib.paths.FolderLockedError
        When another run holds ``out_dir``.
    ValueError
        When an output would overwrite an input or another input's output, or a purity / threshold the
        model cannot give (the message names the value and the reachable range; nothing is written).
    """
    if purity is not None and sky_threshold is not None:
        raise ValueError("give at most one of purity and sky_threshold")
    if sky_priors not in SKY_PRIOR_MODES:
        raise ValueError(f"sky_priors must be None or 'em', not {sky_priors!r}")
    if sky_priors == "em" and (purity is not None or sky_threshold is not None):
        raise ValueError("EM sky priors cannot be combined with a purity or threshold: the stored sky purity "
                         "curves were measured under the calibration sky's priors, not the EM estimate")
    if sky_priors == "em":  # checked before anything is read or written: needs the training-mix priors
        _cached_model(Path(model_dir).resolve()).training_mix_priors  # noqa: B018 - raises ModelError
    sky_point = None
    if purity is not None or sky_threshold is not None:  # checked before anything is written
        sky_point = _cached_model(Path(model_dir).resolve()).sky_operating_point(purity, sky_threshold)
    if on_error not in ("raise", "continue"):
        raise ValueError(f"on_error must be 'raise' or 'continue', not {on_error!r}")
    if workers is not None and (isinstance(workers, bool) or int(workers) != workers or workers < 1):
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    out_dir = Path(out_dir)
    command = f"classify into {out_dir} ({shlex.join(sys.argv)})"
    with dw_paths.locked_dir(out_dir, command):
        return _classify_files_locked(model_dir, sweep_files, out_dir, keep_all, workers, scheduler, resume,
                                      chunk_rows, progress, on_error, resolve_north_south, sky_point,
                                      sky_priors == "em")


def _classify_files_locked(model_dir, sweep_files, out_dir: Path, keep_all: bool, workers: int | None,
                           scheduler, resume: bool, chunk_rows: int, progress: bool, on_error: str,
                           resolve_north_south: bool = True, sky_point: dict | None = None,
                           sky_em: bool = False) -> dict:
    """:func:`classify_files` while holding the lock of ``out_dir``."""
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    model_dir = Path(model_dir).resolve()
    model = _cached_model(model_dir)
    paths = expand_inputs(sweep_files)
    manifest_path = out_dir / MANIFEST_NAME
    done = read_manifest(out_dir) if resume else {}
    stems = output_stems(paths, done)
    planned = {str(p): output_paths(out_dir, s, keep_all) for p, s in zip(paths, stems, strict=True)}
    kept = {inp: {k: Path(v) for k, v in rec["outputs"].items()} for inp, rec in done.items() if inp not in planned}
    check_outputs({**kept, **planned}, [*planned, *done])  # before anything is written or removed
    em = (estimate_sky_priors_em(model, paths, chunk_rows=chunk_rows, resolve_north_south=resolve_north_south)
          if sky_em else None)
    for stale in out_dir.glob(f"{TMP_PREFIX}*"):  # leftovers of a killed run; never listed anywhere
        stale.unlink()
    if not resume and manifest_path.exists():
        manifest_path.unlink()

    todo, records = [], {}
    for p, s in zip(paths, stems, strict=True):
        rec = done.get(str(p))
        same_cut = (rec or {}).get("sky_threshold") == (None if sky_point is None else sky_point["threshold"])
        same_resolution = (rec or {}).get("resolve_north_south", True) == bool(resolve_north_south)
        same_priors = (rec or {}).get("sky_priors_em") == em
        if is_done(rec, p, model.model_sha256, keep_all) and same_cut and same_resolution and same_priors:
            records[str(p)] = {**rec, "skipped": True}
        else:
            todo.append((p, s))
    kwargs = {"keep_all": keep_all, "chunk_rows": chunk_rows, "resolve_north_south": bool(resolve_north_south)}
    if sky_point is not None:
        kwargs["sky_point"] = sky_point
    if em is not None:
        kwargs["sky_em"] = em
    total_rows = sum(_n_rows(p) for p, _ in todo)
    failed: list[dict] = []
    bar = tqdm(total=total_rows, unit="row", unit_scale=True, disable=not progress, desc="classify")

    if manifest_path.exists() and manifest_path.stat().st_size:
        with open(manifest_path, "rb+") as fh:  # a run killed mid-line left no newline: end that line
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":
                fh.write(b"\n")
    with open(manifest_path, "a") as mf:
        # keep the manifest complete: records of skipped files stay, completed ones are appended
        def finish(rec):
            append_manifest(mf, rec)
            records[rec["input"]] = rec
            bar.update(rec["rows_read"])
            bar.set_postfix(files=f"{len(records)}/{len(paths)}", cand=rec["rows_candidates"])

        def fail(p, exc):
            failed.append({"input": str(p), "error": f"{type(exc).__name__}: {exc}"})
            if on_error == "raise":
                raise RuntimeError(f"classifying {p} failed: {type(exc).__name__}: {exc}") from exc

        try:
            if scheduler is not None:
                parallel.run_dask(classify_file, scheduler, model_dir, todo, out_dir, kwargs, finish, fail)
            else:
                n_workers = (min(workers, max(len(todo), 1)) if workers
                             else parallel.default_workers(len(todo), total_rows))
                if n_workers <= 1:
                    for p, s in todo:
                        try:
                            rec = classify_file(model_dir, p, out_dir, stem=s, torch_threads=None, **kwargs)
                        except Exception as exc:  # noqa: BLE001 - reported via fail()
                            fail(p, exc)
                            continue
                        finish(rec)
                else:
                    parallel.run_pool(classify_file, n_workers, model_dir, todo, out_dir, kwargs, finish, fail)
        finally:
            bar.close()

    summary = summarise(list(records.values()))
    summary.update({
        "files_total": len(paths),
        "files_skipped": sum(1 for r in records.values() if r.get("skipped")),
        "files_failed": len(failed),
        "failed": failed,
        "out_dir": str(out_dir),
        "manifest": str(manifest_path),
        "model_dir": str(model_dir),
        "catalogue_threshold": model.catalogue_threshold,
        "high_purity_threshold": model.high_purity_threshold,
        "wall_s": time.perf_counter() - t0,
    })
    if sky_point is not None:
        summary["sky_operating_point"] = sky_point
    if em is not None:
        summary["sky_priors_em"] = em
    new_rows = sum(r["rows_read"] for r in records.values() if not r.get("skipped"))
    summary["rows_per_s"] = new_rows / summary["wall_s"] if summary["wall_s"] > 0 else float("nan")
    return summary


def _n_rows(path: Path) -> int:
    try:
        return survey_io.file_nrows(path)
    except Exception:  # noqa: BLE001 - only used for the progress bar total; reading reports the error
        return 0


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------
def add_cli(subparsers) -> None:
    p = subparsers.add_parser(
        "classify", help="classify sweep files into a candidate catalogue (Parquet + FITS)",
        description="Apply a trained model (preselection, features, network) to sweep-format FITS files, "
                    "streaming in chunks, in parallel, resumably. Writes per input file a Parquet and a FITS "
                    "catalogue and OUT_DIR/manifest.jsonl.")
    p.add_argument("model_dir", metavar="MODEL_DIR", help="folder written by `dwarflib train`")
    p.add_argument("sweep_files", metavar="SWEEP_FILE", nargs="+", help="sweep FITS files, folders or globs")
    p.add_argument("--out", default=None, metavar="OUT_DIR", help="output folder (required unless --plan)")
    p.add_argument("--all", dest="keep_all", action="store_true",
                   help="keep every preselected row, not only candidates")
    p.add_argument("--workers", type=positive_int, default=None,
                   help="local worker processes (default: one per million input rows, at most one per file "
                        "and one per CPU; 1 runs in this process)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="Dask scheduler address (e.g. tcp://host:8786); workers must see the files")
    p.add_argument("--resume", action="store_true", help="skip input files already completed in OUT_DIR")
    p.add_argument("--chunk-rows", type=positive_int, default=DEFAULT_CHUNK_ROWS, help="rows per chunk")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.add_argument("--keep-going", action="store_true", help="continue with other files after a failure")
    p.add_argument("--no-resolve-north-south", dest="resolve_north_south", action="store_false",
                   help="keep both copies of objects in the DR9 north/south overlap. By default a row is kept "
                        "from the north (BASS/MzLS RELEASE) only at Dec > 32.375 deg in the north Galactic cap "
                        "and from the south (DECam) elsewhere; the other copy is rejected with reason "
                        "NORTH_OUTSIDE_NORTH_AREA or SOUTH_INSIDE_NORTH_AREA (UNKNOWN_RELEASE for a RELEASE "
                        "of neither), counted in the summary and listed in <name>-rejected.parquet")
    cut = p.add_mutually_exclusive_group()
    cut.add_argument("--purity", type=float, default=None, metavar="P",
                     help="candidates: P_SIGNAL_SKY >= the lowest threshold whose stored sky purity is >= P "
                          "(needs a sky-calibrated model)")
    cut.add_argument("--threshold", type=float, default=None, metavar="T",
                     help="candidates: P_SIGNAL_SKY >= T, with the expected purity stated (sky-calibrated model)")
    p.add_argument("--sky-priors-em", action="store_true",
                   help="write P_CLASSk_SKY / P_SIGNAL_SKY under sky priors estimated from the inputs' preselected "
                        "rows by EM (Saerens, Latinne & Decaestecker 2002; a first pass over all inputs, at most "
                        f"{EM_MAX_ROWS:,d} rows used); any model; not with --purity / --threshold")
    p.set_defaults(func=_cli_classify)  # `--plan` is added by dwarflib.footprint.add_cli (the plan lives there)


def _cli_classify(args) -> int:
    if args.out is None:
        print("dwarflib classify: error: the following arguments are required: --out (unless --plan)",
              file=sys.stderr)
        return 2
    if Path(args.out).exists() and not Path(args.out).is_dir():
        print(f"dwarflib classify: error: --out {args.out}: is a file, not a folder", file=sys.stderr)
        return 2
    try:
        summary = classify_files(args.model_dir, args.sweep_files, args.out, keep_all=args.keep_all,
                                 workers=args.workers, scheduler=args.scheduler, resume=args.resume,
                                 chunk_rows=args.chunk_rows, progress=args.progress,
                                 on_error="continue" if args.keep_going else "raise",
                                 resolve_north_south=args.resolve_north_south,
                                 purity=args.purity, sky_threshold=args.threshold,
                                 sky_priors="em" if args.sky_priors_em else None)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"dwarflib classify: error: {exc}", file=sys.stderr)
        if os.environ.get("DWARFLIB_DEBUG"):
            traceback.print_exc()
        return 1
    print(format_summary(summary))
    return 1 if summary["files_failed"] else 0
