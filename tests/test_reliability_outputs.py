"""Output-folder safety (issue #17, data-loss items 1-4) and the per-input lists of rejected rows:
``simulate`` never removes or overwrites files it did not write, outputs are unique per input path
across runs, no output overwrites an input or is read as one, a run locks its output folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from process_support import PAUSING_CLASSIFY
from real_data import real_files
from sky_fixtures import split_sweeps

from dwarflib import catalogue, survey_io
from dwarflib.catalogue import classify_files, load_catalogue, read_manifest
from dwarflib.datamodel import unique_id
from dwarflib.sky import generate

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def setup(small_model, small_sky, tmp_path_factory):
    """The shared model and five sweep files cut from the shared sky."""
    return small_model, split_sweeps(small_sky, tmp_path_factory.mktemp("sweeps"))


def _cli(*args, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "dwarflib", *map(str, args)], env=env, capture_output=True,
                          text=True, **kwargs)


def _copy(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(src.read_bytes())
    return dst


# ---------------------------------------------------------------------------------------------------
# item 1: simulate --out
# ---------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_simulate_refuses_to_remove_real_sweeps_and_a_users_truth(tmp_path):
    real_sweeps = real_files("desitarget_ls_test_files", "sweep-*.fits")
    own = {p.name: _copy(p, tmp_path / p.name).read_bytes() for p in real_sweeps}
    own["truth.fits"] = b"a user's truth table"
    (tmp_path / "truth.fits").write_bytes(own["truth.fits"])
    r = _cli("simulate", "--n-sources", "3000", "--seed", "1", "--out", tmp_path, "--no-progress")
    assert r.returncode == 1
    assert "did not write" in r.stderr and real_sweeps[0].name in r.stderr and "truth.fits" in r.stderr
    for name, data in own.items():
        assert (tmp_path / name).read_bytes() == data, name
    assert not (tmp_path / "summary.json").exists()
    # with --overwrite the folder holds exactly the new sky
    r = _cli("simulate", "--n-sources", "3000", "--seed", "1", "--out", tmp_path, "--no-progress", "--overwrite")
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "summary.json").read_text())
    assert [p.name for p in generate.sweep_files(tmp_path)] == s["sweep_files"]
    assert (tmp_path / "truth.fits").read_bytes() != own["truth.fits"]


@pytest.mark.slow
def test_simulate_into_its_own_folder_again_is_identical_and_keeps_other_files(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    generate.write_simulated_sky(a, 3_000, seed=1, area_deg2=60.0, progress=False)
    (a / "notes.txt").write_text("mine")
    # a run killed after its first sweep file leaves only files it recorded as its own: the rerun may redo them
    calls = []

    def dying_write_sweep(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    real = generate.write_sweep
    monkeypatch.setattr(generate, "write_sweep", dying_write_sweep)
    with pytest.raises(KeyboardInterrupt):
        generate.write_simulated_sky(a, 3_000, seed=2, area_deg2=60.0, progress=False)
    monkeypatch.setattr(generate, "write_sweep", real)
    generate.write_simulated_sky(a, 3_000, seed=1, area_deg2=60.0, progress=False)
    generate.write_simulated_sky(b, 3_000, seed=1, area_deg2=60.0, progress=False)
    names = ["truth.fits", "training-sample.fits", *(p.name for p in generate.sweep_files(b))]
    assert [p.name for p in generate.sweep_files(a)] == [p.name for p in generate.sweep_files(b)]
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "notes.txt").read_text() == "mine"


# ---------------------------------------------------------------------------------------------------
# item 2: same file name in two folders, across runs
# ---------------------------------------------------------------------------------------------------
def test_north_then_south_resume_keeps_both_catalogues(setup, tmp_path):
    model_dir, files = setup
    north = _copy(files[0], tmp_path / "north" / "sweep-x.fits")
    south = _copy(files[1], tmp_path / "south" / "sweep-x.fits")
    out = tmp_path / "out"
    a = classify_files(model_dir, [north], out, keep_all=True, workers=1, progress=False)
    # the common case keeps the input's name
    assert Path(a["records"][0]["outputs"]["parquet"]).name == "sweep-x-all.parquet"
    b = classify_files(model_dir, [south], out, keep_all=True, workers=1, progress=False, resume=True)
    recs = read_manifest(out)
    assert set(recs) == {str(north.resolve()), str(south.resolve())}
    assert recs[str(north.resolve())]["outputs"] == a["records"][0]["outputs"]
    assert len({r["outputs"]["parquet"] for r in recs.values()}) == 2
    cat = load_catalogue(out)
    assert len(cat) == a["rows_written"] + b["rows_written"]
    expected = pd.concat([pd.read_parquet(rec["outputs"]["parquet"]) for rec in (*a["records"], *b["records"])])
    assert sorted(cat["TARGETID"]) == sorted(expected["TARGETID"])
    # both again with resume: nothing to redo, names unchanged
    c = classify_files(model_dir, [north, south], out, keep_all=True, workers=1, progress=False, resume=True)
    assert c["files_skipped"] == 2
    assert read_manifest(out) == recs


def test_load_catalogue_refuses_two_inputs_sharing_an_output(setup, tmp_path):
    model_dir, files = setup
    classify_files(model_dir, files[:1], tmp_path, keep_all=True, workers=1, progress=False)
    rec = next(iter(read_manifest(tmp_path).values()))
    other = {**rec, "input": str(tmp_path / "south" / "sweep-test00.fits")}  # what the old code wrote
    with open(tmp_path / catalogue.MANIFEST_NAME, "a") as fh:
        fh.write(json.dumps(other) + "\n")
    with pytest.raises(ValueError, match="both list the output"):
        load_catalogue(tmp_path)


# ---------------------------------------------------------------------------------------------------
# item 3: outputs and inputs
# ---------------------------------------------------------------------------------------------------
def test_an_output_that_is_an_input_is_refused_before_writing(setup, tmp_path):
    model_dir, files = setup
    a = _copy(files[0], tmp_path / "sweep-a.fits")
    a_all = _copy(files[1], tmp_path / "sweep-a-all.fits")  # a sweep file whose name is sweep-a's output
    before = a_all.read_bytes()
    with pytest.raises(ValueError, match="is an input file"):
        classify_files(model_dir, [a, a_all], tmp_path, keep_all=True, workers=1, progress=False)
    assert a_all.read_bytes() == before
    assert not (tmp_path / catalogue.MANIFEST_NAME).exists()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["sweep-a-all.fits",
                                                                                        "sweep-a.fits"]


def test_outputs_written_beside_the_inputs_are_not_read_as_inputs(setup, tmp_path):
    model_dir, files = setup
    d = tmp_path / "d"
    inputs = [_copy(f, d / f.name) for f in files[:2]]
    first = classify_files(model_dir, d, d, keep_all=True, workers=1, progress=False)
    assert first["files_total"] == 2
    again = classify_files(model_dir, d, tmp_path / "o2", keep_all=True, workers=1, progress=False)
    assert sorted(r["input"] for r in again["records"]) == sorted(str(p.resolve()) for p in inputs)
    assert catalogue.expand_inputs(str(d / "sweep-*.fits")) == sorted(p.resolve() for p in inputs)
    # an output named explicitly is refused, also when no manifest lists it (a killed run's output)
    out_fits = Path(first["records"][0]["outputs"]["fits"])
    (d / catalogue.MANIFEST_NAME).unlink()
    with pytest.raises(ValueError, match="not a sweep file"):
        catalogue.expand_inputs([out_fits])
    assert catalogue.expand_inputs(d) == sorted(p.resolve() for p in inputs)


# ---------------------------------------------------------------------------------------------------
# item 4: one run per output folder
# ---------------------------------------------------------------------------------------------------
# a real `dwarflib classify` that pauses after its first file (manifest line written) until told to go on


def _start_pausing_classify(model_dir, files, out) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", PAUSING_CLASSIFY, "classify", str(model_dir), *map(str, files),
                             "--out", str(out), "--all", "--workers", "1", "--no-progress"],
                            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    assert line == "paused", (line, proc.poll(), proc.poll() is not None and proc.communicate())
    return proc


@pytest.mark.slow
def test_a_second_run_in_a_busy_folder_fails_naming_the_first(setup, tmp_path):
    model_dir, files = setup
    out = tmp_path / "out"
    first = _start_pausing_classify(model_dir, files[:2], out)
    try:
        r = _cli("classify", model_dir, *files[2:4], "--out", out, "--all", "--workers", "1", "--no-progress")
        assert r.returncode == 1, r.stdout + r.stderr
        err = r.stderr.strip().splitlines()
        assert len(err) == 1 and "in use" in err[0] and f"pid {first.pid}" in err[0] and "classify" in err[0]
        r = _cli("simulate", "--n-sources", "2000", "--out", out, "--no-progress")
        assert r.returncode == 1 and f"pid {first.pid}" in r.stderr
        stdout, stderr = first.communicate("\n")  # go on
        assert first.returncode == 0, stdout + stderr
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    # the first job's catalogue is whole: both its inputs, nothing of the refused runs
    recs = read_manifest(out)
    assert sorted(recs) == sorted(str(f.resolve()) for f in files[:2])
    assert len(load_catalogue(out)) == sum(r["rows_written"] for r in recs.values())
    assert not (out / "truth.fits").exists() and not list(out.glob("sweep-test02*"))


@pytest.mark.slow
def test_the_lock_dies_with_its_holder(setup, tmp_path):
    model_dir, files = setup
    holder = _start_pausing_classify(model_dir, files[:2], tmp_path)
    holder.kill()  # SIGKILL: no clean-up code runs
    holder.wait()
    s = classify_files(model_dir, files[:2], tmp_path, keep_all=True, workers=1, progress=False, resume=True)
    assert s["files_done"] == 2 and len(load_catalogue(tmp_path)) == s["rows_written"]


# ---------------------------------------------------------------------------------------------------
# item 9: rejected rows per input, with their reason
# ---------------------------------------------------------------------------------------------------
def test_rejected_rows_are_listed_per_input_with_their_reason(setup, tmp_path):
    model_dir, files = setup
    s = classify_files(model_dir, files, tmp_path, keep_all=True, workers=1, progress=False, chunk_rows=1000)
    assert sum(s["rejected"].values()) > 0
    listed = 0
    for rec in s["records"]:
        rej = pd.read_parquet(rec["outputs"]["rejected"])
        assert list(rej.columns) == ["ROW", "TARGETID", "REASON"]
        assert rej["REASON"].value_counts().to_dict() == rec["rejected"]
        assert rej["ROW"].is_unique and rej["ROW"].between(0, rec["rows_read"] - 1).all()
        t = survey_io.read_catalogue(rec["input"], flags=False)
        tid = unique_id(t["RELEASE"], t["BRICKID"], t["OBJID"])
        assert np.array_equal(rej["TARGETID"].to_numpy(), tid[rej["ROW"].to_numpy()])
        # rows in = rows written (keep_all: every preselected row) + rows listed as rejected, disjoint
        kept = set(pd.read_parquet(rec["outputs"]["parquet"], columns=["TARGETID"])["TARGETID"])
        assert kept.isdisjoint(rej["TARGETID"]) and len(kept) + len(rej) == rec["rows_read"]
        listed += len(rej)
    assert listed == sum(s["rejected"].values())
    both = catalogue.load_rejected(tmp_path)
    assert len(both) == listed and set(both["INPUT"]) == {r["input"] for r in s["records"]}


def test_unique_inputs_keep_their_output_names(setup, tmp_path):
    model_dir, files = setup
    s = classify_files(model_dir, files[:2], tmp_path, workers=1, progress=False)
    for f, rec in zip(files[:2], sorted(s["records"], key=lambda r: r["input"]), strict=True):
        stem = f.name[: -len(".fits")]
        assert rec["outputs"] == {"parquet": str(tmp_path / f"{stem}-candidates.parquet"),
                                  "fits": str(tmp_path / f"{stem}-candidates.fits"),
                                  "rejected": str(tmp_path / f"{stem}-rejected.parquet")}
