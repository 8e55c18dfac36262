"""Tests of dwarflib.catalogue: streaming classification, row accounting, atomic outputs, manifest,
resume after a crash and after a kill, local processes and the Dask path."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table
from sky_fixtures import split_sweeps

from dwarflib import catalogue, completeness, parallel, survey_io
from dwarflib.catalogue import classify_files, load_catalogue, read_manifest

N_FILES = 5


@pytest.fixture(scope="module")
def setup(small_model, small_sky, tmp_path_factory):
    """The shared model and ``N_FILES`` sweep files cut from the shared sky."""
    return small_model, split_sweeps(small_sky, tmp_path_factory.mktemp("sweeps"), n_files=N_FILES)


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values("TARGETID").reset_index(drop=True)


def test_rows_in_equal_rows_out_plus_rejected(setup, tmp_path):
    from dwarflib.pipeline import load_model

    model_dir, files = setup
    s = classify_files(model_dir, files, tmp_path / "all", keep_all=True, workers=1, progress=False,
                       chunk_rows=1000)
    n_in = sum(survey_io.file_nrows(f) for f in files)
    assert s["rows_read"] == n_in
    assert s["rows_read"] == s["rows_preselected"] + sum(s["rejected"].values())
    assert s["rows_written"] == s["rows_preselected"] == s["rows_classified"]
    assert s["rejected"] and all(isinstance(k, str) and k for k in s["rejected"])
    for rec in s["records"]:
        assert rec["rows_read"] == rec["rows_preselected"] + sum(rec["rejected"].values())
    cat = load_catalogue(tmp_path / "all")
    assert len(cat) == s["rows_written"]
    assert cat["TARGETID"].is_unique
    # the preselected rows are exactly those the model's preselection keeps, file by file
    model = load_model(model_dir)
    expected = []
    for f in files:
        t = survey_io.read_catalogue(f, flags=False)
        mask = np.asarray(model.preselection.apply(t).mask, bool)
        expected.append(np.asarray(t["RELEASE"], np.int64)[mask] << 42 | np.asarray(t["BRICKID"], np.int64)[mask]
                        << 22 | np.asarray(t["OBJID"], np.int64)[mask])
    assert sorted(np.concatenate(expected).tolist()) == sorted(cat["TARGETID"].tolist())
    # probabilities are normalised and P_SIGNAL is the signal class
    P = cat[[f"P_CLASS{k}" for k in range(7)]].to_numpy()
    assert np.allclose(P.sum(axis=1), 1, atol=1e-4)
    assert np.array_equal(cat["P_SIGNAL"].to_numpy(), cat["P_CLASS0"].to_numpy())


def test_fits_and_parquet_agree_and_carry_provenance(setup, tmp_path):
    model_dir, files = setup
    s = classify_files(model_dir, files[:2], tmp_path, keep_all=True, workers=1, progress=False)
    rec = s["records"][0]
    df = pd.read_parquet(rec["outputs"]["parquet"])
    t = Table.read(rec["outputs"]["fits"])
    assert len(df) == len(t) == rec["rows_written"]
    for c in ("TARGETID", "RA", "DEC", "P_SIGNAL", "FLAG"):
        assert np.array_equal(np.asarray(t[c]), df[c].to_numpy())
    hdr = fits.getheader(rec["outputs"]["fits"], 0)
    model_json = json.loads((Path(model_dir) / "model.json").read_text())
    assert hdr["MODELSHA"] == model_json["model_sha256"]  # the model identity (what determines the output)
    assert fits.getheader(rec["outputs"]["fits"], 1)["CLASS0"] == "signal"
    import pyarrow.parquet as pq

    meta = json.loads(pq.read_schema(rec["outputs"]["parquet"]).metadata[b"dwarflib.model"])
    assert meta["model_sha256"] == hdr["MODELSHA"]
    assert meta["class_names"][0] == "signal"


def test_candidates_are_the_all_rows_above_threshold(setup, tmp_path):
    from dwarflib.pipeline import load_model

    model_dir, files = setup
    thr = load_model(model_dir).catalogue_threshold
    classify_files(model_dir, files, tmp_path / "all", keep_all=True, workers=1, progress=False)
    s = classify_files(model_dir, files, tmp_path / "cand", workers=1, progress=False)
    every = load_catalogue(tmp_path / "all")
    cand = load_catalogue(tmp_path / "cand")
    assert s["rows_written"] == s["rows_candidates"] == len(cand)
    pd.testing.assert_frame_equal(_sorted(cand), _sorted(every[every["P_SIGNAL"] >= thr]))
    assert sorted(p.name for p in (tmp_path / "cand").iterdir()) == sorted(
        [catalogue.MANIFEST_NAME, ".dwarflib.lock"]
        + [f"sweep-test{i:02d}-{k}" for i in range(N_FILES)
           for k in ("candidates.parquet", "candidates.fits", "rejected.parquet")])


def test_chunk_size_does_not_change_the_catalogue(setup, tmp_path):
    model_dir, files = setup
    classify_files(model_dir, files[:2], tmp_path / "a", keep_all=True, workers=1, progress=False,
                   chunk_rows=333)
    classify_files(model_dir, files[:2], tmp_path / "b", keep_all=True, workers=1, progress=False,
                   chunk_rows=100_000)
    pd.testing.assert_frame_equal(load_catalogue(tmp_path / "a"), load_catalogue(tmp_path / "b"))


@pytest.mark.slow
def test_resume_after_a_crash_gives_the_same_catalogue(setup, tmp_path, monkeypatch):
    model_dir, files = setup
    classify_files(model_dir, files, tmp_path / "ref", keep_all=True, workers=1, progress=False)
    ref = load_catalogue(tmp_path / "ref")

    real = catalogue.classify_file
    calls = {"n": 0}

    def crashing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise MemoryError("simulated crash while classifying the third file")
        return real(*args, **kwargs)

    monkeypatch.setattr(catalogue, "classify_file", crashing)
    with pytest.raises(RuntimeError, match="third file"):
        classify_files(model_dir, files, tmp_path / "run", keep_all=True, workers=1, progress=False)
    assert len(read_manifest(tmp_path / "run")) == 2
    assert not list((tmp_path / "run").glob(f"{catalogue.TMP_PREFIX}*"))
    monkeypatch.setattr(catalogue, "classify_file", real)
    s = classify_files(model_dir, files, tmp_path / "run", keep_all=True, workers=1, progress=False,
                       resume=True)
    assert s["files_skipped"] == 2 and s["files_done"] == N_FILES
    pd.testing.assert_frame_equal(_sorted(load_catalogue(tmp_path / "run")), _sorted(ref))
    # a run killed while appending a manifest line leaves a partial line: ignored, and the next run's
    # records still parse
    manifest = tmp_path / "run" / catalogue.MANIFEST_NAME
    lines = manifest.read_text().splitlines()
    manifest.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])
    assert len(read_manifest(tmp_path / "run")) == N_FILES - 1
    s = classify_files(model_dir, files, tmp_path / "run", keep_all=True, workers=1, progress=False,
                       resume=True)
    assert s["files_skipped"] == N_FILES - 1 and len(read_manifest(tmp_path / "run")) == N_FILES
    pd.testing.assert_frame_equal(_sorted(load_catalogue(tmp_path / "run")), _sorted(ref))
    # a second resume does nothing; without --resume everything is redone
    s2 = classify_files(model_dir, files, tmp_path / "run", keep_all=True, workers=1, progress=False,
                        resume=True)
    assert s2["files_skipped"] == N_FILES and s2["rows_read"] == s["rows_read"]
    s3 = classify_files(model_dir, files, tmp_path / "run", keep_all=True, workers=1, progress=False)
    assert s3["files_skipped"] == 0 and len(read_manifest(tmp_path / "run")) == N_FILES


def test_resume_redoes_a_changed_input(setup, tmp_path):
    model_dir, files = setup
    work = tmp_path / "in"
    work.mkdir()
    mine = []
    for f in files[:2]:
        (work / f.name).write_bytes(f.read_bytes())
        mine.append(work / f.name)
    classify_files(model_dir, mine, tmp_path / "out", keep_all=True, workers=1, progress=False)
    t = survey_io.read_catalogue(mine[0], flags=False)[:100]
    survey_io.write_sweep(t, mine[0], overwrite=True)
    s = classify_files(model_dir, mine, tmp_path / "out", keep_all=True, workers=1, progress=False, resume=True)
    assert s["files_skipped"] == 1
    assert read_manifest(tmp_path / "out")[str(mine[0].resolve())]["rows_read"] == 100


@pytest.mark.slow
def test_resume_after_kill_of_the_process(setup, tmp_path):
    """Kill a `dwarflib classify` process after its first completed file; resume; compare."""
    model_dir, files = setup
    classify_files(model_dir, files, tmp_path / "ref", keep_all=True, workers=1, progress=False)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "dwarflib", "classify", str(model_dir), *map(str, files), "--out", str(out),
           "--all", "--workers", "1", "--chunk-rows", "500", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    manifest = out / catalogue.MANIFEST_NAME
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.exists() and manifest.read_text().count("\n") >= 1:
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the run finished before it could be killed: " + proc.stderr.read().decode()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    n_done = len(read_manifest(out))
    assert 1 <= n_done < N_FILES
    res = subprocess.run(cmd + ["--resume"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert f"{n_done} skipped" in res.stdout
    pd.testing.assert_frame_equal(_sorted(load_catalogue(out)), _sorted(load_catalogue(tmp_path / "ref")))
    assert not list(out.glob(f"{catalogue.TMP_PREFIX}*"))


@pytest.mark.slow
def test_local_processes_equal_serial(setup, tmp_path):
    model_dir, files = setup
    classify_files(model_dir, files, tmp_path / "serial", keep_all=True, workers=1, progress=False)
    s = classify_files(model_dir, files, tmp_path / "pool", keep_all=True, workers=2, progress=False)
    assert len({r["pid"] for r in s["records"]} - {os.getpid()}) >= 1
    pd.testing.assert_frame_equal(_sorted(load_catalogue(tmp_path / "pool")),
                                  _sorted(load_catalogue(tmp_path / "serial")))


@pytest.mark.slow
def test_dask_local_cluster_equals_serial(setup, tmp_path):
    from dask.distributed import LocalCluster

    model_dir, files = setup
    classify_files(model_dir, files, tmp_path / "serial", keep_all=True, workers=1, progress=False)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        s = classify_files(model_dir, files, tmp_path / "dask", keep_all=True, scheduler=cluster.scheduler_address,
                           progress=False)
    assert s["files_done"] == N_FILES and s["files_failed"] == 0
    pd.testing.assert_frame_equal(_sorted(load_catalogue(tmp_path / "dask")),
                                  _sorted(load_catalogue(tmp_path / "serial")))


def test_bad_inputs_are_named(setup, tmp_path):
    model_dir, files = setup
    with pytest.raises(FileNotFoundError, match="nope.fits"):
        classify_files(model_dir, [tmp_path / "nope.fits"], tmp_path / "o", progress=False)
    with pytest.raises(ValueError, match="more than once"):
        classify_files(model_dir, [files[0], files[0]], tmp_path / "o", progress=False)
    # a file without a required column: that file fails with its name and the column, the others complete
    t = survey_io.read_catalogue(files[0], flags=False)[:50]
    bad = tmp_path / "sweep-bad.fits"
    t.remove_column("FLUX_W1")
    fits.BinTableHDU(t.as_array()).writeto(bad)
    s = classify_files(model_dir, [bad, files[1]], tmp_path / "o", workers=1, progress=False, on_error="continue")
    assert s["files_failed"] == 1 and "FLUX_W1" in s["failed"][0]["error"] and "sweep-bad" in s["failed"][0]["error"]
    assert s["files_done"] == 1
    with pytest.raises(RuntimeError, match="sweep-bad.fits"):
        classify_files(model_dir, [bad], tmp_path / "o2", workers=1, progress=False)


def test_real_dr9_layout_sweep_rows(setup, tmp_path):
    """The real (pre-DR9-shape) sweep rows of desitarget go through the reader and are all accounted for."""
    from dwarflib.paths import data_home

    real = sorted((data_home() / "desitarget_ls_test_files").glob("sweep-*.fits"))
    if not real:
        pytest.skip("desitarget test files not available")
    model_dir, _ = setup
    s = classify_files(model_dir, real, tmp_path, keep_all=True, workers=1, progress=False)
    assert s["rows_read"] == sum(survey_io.file_nrows(f) for f in real)
    assert s["rows_read"] == s["rows_preselected"] + sum(s["rejected"].values())


def test_same_input_names_in_different_folders_do_not_collide(setup, tmp_path):
    model_dir, files = setup
    a, b = tmp_path / "north", tmp_path / "south"
    a.mkdir()
    b.mkdir()
    (a / "sweep-x.fits").write_bytes(files[0].read_bytes())
    (b / "sweep-x.fits").write_bytes(files[1].read_bytes())
    s = classify_files(model_dir, [a / "sweep-x.fits", b / "sweep-x.fits"], tmp_path / "o", keep_all=True,
                       workers=1, progress=False)
    outs = {r["outputs"]["parquet"] for r in s["records"]}
    assert len(outs) == 2
    assert len(load_catalogue(tmp_path / "o")) == s["rows_written"]


def test_completeness_purity_counts():
    df = pd.DataFrame({
        "IS_SIGNAL":   [1, 1, 1, 0, 0, 1, 0, 1],
        "PRESELECTED": [1, 1, 0, 1, 1, 1, 1, 1],
        "P_SIGNAL":    [0.9, 0.4, np.nan, 0.7, 0.2, 0.99, 0.96, np.nan],
        "r":           [17.0, 17.5, 17.2, 17.9, 18.5, 18.2, 18.9, 25.0],
    }).astype({"IS_SIGNAL": bool, "PRESELECTED": bool})
    t = completeness.completeness_purity(df, "r", [17, 18, 19], thresholds=(0.5, 0.95))
    a = t[(t.threshold == 0.5) & (t.bin_lo == 17)].iloc[0]
    assert (a.n_signal, a.n_signal_preselected, a.n_recovered, a.n_selected) == (3, 2, 1, 2)
    assert a.completeness == pytest.approx(1 / 3) and a.purity == pytest.approx(0.5)
    assert a.completeness_preselected == pytest.approx(0.5)
    b = t[(t.threshold == 0.95) & (t.bin_lo == 18)].iloc[0]
    assert (b.n_signal, b.n_recovered, b.n_selected) == (1, 1, 2)
    assert b.completeness_low < 1 <= b.completeness_high + 1e-12
    # the row at r = 25 is outside the bins and counted nowhere
    assert t[t.threshold == 0.5].n_objects.sum() == 7


def test_objects_with_truth(setup, small_sky, tmp_path):
    from dwarflib.labels import DEFAULT_SCHEME

    model_dir, files = setup
    with pytest.raises(ValueError, match="keep_all"):
        classify_files(model_dir, files[:2], tmp_path / "cand", workers=1, progress=False)
        completeness.objects_with_truth(tmp_path / "cand", files[:2], small_sky / "truth.fits")
    s = classify_files(model_dir, files[:2], tmp_path / "all", keep_all=True, workers=1, progress=False)
    obj = completeness.objects_with_truth(tmp_path / "all", files[:2], small_sky / "truth.fits")
    assert len(obj) == s["rows_read"] and obj["TARGETID"].is_unique
    assert int(obj["PRESELECTED"].sum()) == s["rows_preselected"]
    truth = Table.read(small_sky / "truth.fits")
    cls = dict(zip(np.asarray(truth["TARGETID"]).tolist(),
                   DEFAULT_SCHEME.assign(truth["Z"], truth["LOGMSTAR"], truth["IS_STAR"]).tolist(), strict=True))
    assert obj["TRUE_CLASS"].tolist() == [cls[t] for t in obj["TARGETID"].tolist()]
    assert {"r", "mu_eff_r"} <= set(obj.columns) and obj["r"].notna().mean() > 0.9


def test_fast_chunk_path_equals_the_model_reference(setup):
    """classify_table (plain arrays, reason codes, feature_array) gives exactly the model's own
    reference: Preselection.apply, build_features and predict_proba, bit for bit, and the same rejection counts."""
    from collections import Counter

    from dwarflib.features import build_features
    from dwarflib.pipeline import load_model

    model_dir, files = setup
    model = load_model(model_dir)
    chunk = survey_io.read_catalogue(files[0], columns=model.input_columns, flags=False)
    rows, counts, rejected = catalogue.classify_table(model, chunk, keep_all=True)
    res = model.preselection.apply(chunk)
    mask, reasons = np.asarray(res.mask, bool), np.asarray(res.reason).astype(str)
    assert rejected == Counter(reasons[~mask].tolist())
    assert counts["read"] == len(chunk) and counts["preselected"] == int(mask.sum()) == len(rows)
    X = build_features(chunk[mask], groups=model.feature_groups)[model.features].to_numpy(dtype=np.float32)
    P = model.predict_proba(X)
    for j, c in enumerate(model.feature_columns):
        assert rows[c].tobytes() == X[:, j].tobytes(), c
    for k in range(P.shape[1]):
        assert rows[f"P_CLASS{k}"].tobytes() == P[:, k].tobytes()
    assert np.array_equal(rows["OBJID"], np.asarray(chunk["OBJID"])[mask])
    assert np.array_equal(rows["QUALITY_FLAGS"], survey_io.quality_flags(chunk[mask])[0])


def test_prefetching_gives_the_identical_catalogue(setup, tmp_path):
    model_dir, files = setup
    recs = {}
    for prefetch in (False, True):
        recs[prefetch] = catalogue.classify_file(model_dir, files[0], tmp_path / str(prefetch), keep_all=True,
                                                 chunk_rows=500, prefetch=prefetch)
    for kind in ("fits", "parquet"):
        a, b = (Path(recs[p]["outputs"][kind]) for p in (False, True))
        if kind == "fits":
            assert fits.getdata(a, 1).tobytes() == fits.getdata(b, 1).tobytes()
        else:
            pd.testing.assert_frame_equal(pd.read_parquet(a), pd.read_parquet(b))
    assert {k: v for k, v in recs[True].items() if k.startswith("rows") or k == "rejected"} == \
        {k: v for k, v in recs[False].items() if k.startswith("rows") or k == "rejected"}


def test_prefetch_reader_errors_reach_the_consumer_in_order():
    def items():
        yield 1
        yield 2
        raise survey_io.CorruptFileError("x.fits: column FLUX_R cannot be read")

    got = []
    with pytest.raises(survey_io.CorruptFileError, match="x.fits"), parallel.prefetched(items()) as it:
        for v in it:
            got.append(v)
    assert got == [1, 2]
    # a consumer that stops early does not hang the reader
    with parallel.prefetched(iter(range(100))) as it:
        assert next(iter(it)) == 0


@pytest.mark.slow
def test_shred_pair_split_between_chunks_is_flagged_whatever_the_chunk_size(setup, tmp_path):
    """A shred placed in the last chunk of a file, inside the half-light ellipse of a brighter galaxy in the
    first: both chunkings flag it IN_BRIGHTER_REFF and give the same catalogue."""
    from dwarflib.datamodel import unique_id
    from dwarflib.large_galaxies import LARGE_GALAXY_BITS

    model_dir, files = setup
    t = Table.read(files[0], hdu=1)
    classify_files(model_dir, [files[0]], tmp_path / "ref", keep_all=True, workers=1, progress=False)
    tid_file = unique_id(t["RELEASE"], t["BRICKID"], t["OBJID"])
    kept = np.flatnonzero(np.isin(tid_file, load_catalogue(tmp_path / "ref").TARGETID))
    member = int(kept[-1])
    half = len(t) // 2
    flux = np.asarray(t["FLUX_R"], float)
    big = np.flatnonzero((np.asarray(t["SHAPE_R"]) > 3) & (flux > 10 * flux[member]))
    host = int(big[big < half][0])
    t["RA"][member] = t["RA"][host] + 0.2 * t["SHAPE_R"][host] / 3600 / np.cos(np.radians(t["DEC"][host]))
    t["DEC"][member] = t["DEC"][host]
    path = tmp_path / "sweep-pair.fits"
    t.write(path)
    cats = []
    for name, rows in (("whole", 10 * len(t)), ("halves", half)):
        classify_files(model_dir, [path], tmp_path / name, keep_all=True, workers=1, progress=False,
                       chunk_rows=rows)
        cats.append(_sorted(load_catalogue(tmp_path / name)))
    pd.testing.assert_frame_equal(cats[0], cats[1])
    row = cats[0][cats[0].TARGETID == tid_file[member]]
    assert len(row) == 1 and int(row.LARGE_GALAXY.iloc[0]) & (1 << LARGE_GALAXY_BITS["IN_BRIGHTER_REFF"])
