"""Hostile cases of issue #17, data-loss items 1-4 and the rejected-row lists (item 9), replayed through the CLI.

Each check raises AssertionError when dwarflib loses, overwrites or double-counts data, or exits 0 where it must not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from benchmarks.hostile_inputs import ROOT, Case, Context
from dwarflib import survey_io
from dwarflib.paths import data_home
from tests.process_support import PAUSING_CLASSIFY

REAL_SWEEPS = data_home() / "desitarget_ls_test_files"


def _manifest(out: Path) -> dict[str, dict]:
    recs = {}
    for line in (out / "manifest.jsonl").read_text().splitlines():
        if line.strip():
            rec = json.loads(line)
            recs[rec["input"]] = rec
    return recs


def _copy(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(src.read_bytes())
    return dst


def _parts(ctx: Context, n: int = 3, rows: int = 3000) -> list[Path]:
    """``n`` small sweep files (``rows`` rows each, distinct objects) cut from the shared sky, in ctx.tmp/parts."""
    t = survey_io.read_catalogue(ctx.sweeps()[0], flags=False)
    assert len(t) >= n * rows, f"the shared sky's first sweep has only {len(t)} rows"
    out = ctx.tmp / "parts"
    out.mkdir(exist_ok=True)
    return [survey_io.write_sweep(t[i * rows:(i + 1) * rows], out / f"sweep-part{i}.fits") for i in range(n)]


def _classify(ctx: Context, *args) -> subprocess.CompletedProcess:
    return ctx.cli("classify", ctx.model_dir, *args, "--all", "--workers", "1", "--no-progress")


def simulate_over_real_sweeps(ctx: Context) -> None:
    """Item 1: three real DR9 sweeps and a user's truth.fits in the folder; `simulate --out` there."""
    real = sorted(REAL_SWEEPS.glob("sweep-*.fits"))
    assert real, f"no real sweep files in {REAL_SWEEPS}"
    d = ctx.tmp / "mine"
    before = {p.name: _copy(p, d / p.name).read_bytes() for p in real}
    before["truth.fits"] = b"my truth"
    (d / "truth.fits").write_bytes(before["truth.fits"])
    r = ctx.cli("simulate", "--n-sources", "3000", "--seed", "1", "--out", d, "--no-progress")
    assert r.returncode != 0, f"simulate exit 0 in a folder of foreign files: {r.stdout} {r.stderr}"
    for name, data in before.items():
        assert (d / name).is_file(), f"{name} was removed"
        assert (d / name).read_bytes() == data, f"{name} was overwritten"
    assert real[0].name in r.stderr and "truth.fits" in r.stderr, f"error does not name the files: {r.stderr}"


def simulate_own_folder_again(ctx: Context) -> None:
    """Item 1: rewriting a folder `simulate` wrote itself works without --overwrite and keeps other files."""
    d = ctx.tmp / "sky"
    for seed in (1, 2):
        r = ctx.cli("simulate", "--n-sources", "3000", "--seed", seed, "--out", d, "--no-progress")
        assert r.returncode == 0, r.stderr
        (d / "notes.txt").write_text("mine")
    summary = json.loads((d / "summary.json").read_text())
    assert summary["seed"] == 2 and (d / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in d.glob("sweep-*.fits")) == sorted(summary["sweep_files"])


def north_then_south_resume(ctx: Context) -> None:
    """Item 2: the same file name in north/ and south/, classified into one --out in two runs (--resume)."""
    src = _parts(ctx)
    north = _copy(src[0], ctx.tmp / "north" / "sweep-x.fits")
    south = _copy(src[1], ctx.tmp / "south" / "sweep-x.fits")
    out = ctx.tmp / "out"
    r1 = _classify(ctx, north, "--out", out)
    r2 = _classify(ctx, south, "--out", out, "--resume")
    assert r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr
    recs = _manifest(out)
    assert set(recs) == {str(north.resolve()), str(south.resolve())}, sorted(recs)
    outs = [r["outputs"]["parquet"] for r in recs.values()]
    assert len(set(outs)) == 2, f"both inputs point at one output: {outs}"
    ids = pd.concat([pd.read_parquet(p, columns=["TARGETID"]) for p in outs])["TARGETID"]
    assert ids.is_unique, "rows counted twice"
    assert len(ids) == sum(r["rows_written"] for r in recs.values())


def catalogue_with_shared_output(ctx: Context) -> None:
    """Item 2: a manifest (as the old code wrote it) with two inputs on one output must not load."""
    src = _parts(ctx)
    out = ctx.tmp / "out"
    assert _classify(ctx, src[0], "--out", out).returncode == 0
    rec = next(iter(_manifest(out).values()))
    with open(out / "manifest.jsonl", "a") as fh:
        fh.write(json.dumps({**rec, "input": "/elsewhere/south/" + Path(rec["input"]).name}) + "\n")
    code = "import sys\nfrom dwarflib.catalogue import load_catalogue\nload_catalogue(sys.argv[1])\n"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-c", code, str(out)], env=env, capture_output=True, text=True)
    assert r.returncode != 0 and "ValueError" in r.stderr, f"load_catalogue accepted a shared output: {r.stderr}"


def output_would_overwrite_input(ctx: Context) -> None:
    """Item 3: sweep-a.fits and an input named sweep-a-all.fits in the --out folder."""
    src = _parts(ctx)
    d = ctx.tmp / "d"
    a = _copy(src[0], d / "sweep-a.fits")
    a_all = _copy(src[1], d / "sweep-a-all.fits")
    before = a_all.read_bytes()
    r = _classify(ctx, a, a_all, "--out", d)
    assert r.returncode != 0, "exit 0 although an output is an input"
    assert a_all.read_bytes() == before, "the input sweep-a-all.fits was overwritten"
    assert "is an input file" in r.stderr, r.stderr


def outputs_globbed_as_inputs(ctx: Context) -> None:
    """Item 3: outputs written into the input folder must not be read as inputs by the next run."""
    src = _parts(ctx)
    d = ctx.tmp / "d"
    inputs = [_copy(p, d / p.name) for p in src[:2]]
    assert _classify(ctx, d, "--out", d).returncode == 0
    r = _classify(ctx, d, "--out", ctx.tmp / "o2")
    assert r.returncode == 0, r.stderr
    assert sorted(_manifest(ctx.tmp / "o2")) == sorted(str(p.resolve()) for p in inputs)




def second_job_same_out(ctx: Context) -> None:
    """Item 4: a second job in the same --out while the first runs; then the first is killed (no stale lock)."""
    src = _parts(ctx)
    out = ctx.tmp / "out"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    first = subprocess.Popen([sys.executable, "-c", PAUSING_CLASSIFY, "classify", str(ctx.model_dir), str(src[0]), str(src[1]),
                              "--out", str(out), "--all", "--workers", "1", "--no-progress"], cwd=ctx.tmp, env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    again = None
    try:
        assert first.stdout.readline().strip() == "paused", "the first job did not start"
        r = _classify(ctx, src[2], "--out", out)
        assert r.returncode != 0, "the second job exit 0 in a folder in use"
        assert f"pid {first.pid}" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        first.communicate("\n")
        assert first.returncode == 0
        recs = _manifest(out)
        assert sorted(recs) == sorted(str(p.resolve()) for p in src[:2]), "the first job's rows vanished"
        # a killed holder leaves no stale lock
        again = subprocess.Popen(first.args, cwd=ctx.tmp, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        assert again.stdout.readline().strip() == "paused"
        again.kill()
        again.wait()
        r = _classify(ctx, src[2], "--out", out, "--resume")
        assert r.returncode == 0, f"stale lock after a killed run: {r.stderr}"
    finally:
        for p in (first, again):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


def rejected_rows_listed(ctx: Context) -> None:
    """Item 9: per input, the rejected rows with their reason; counts in the manifest equal the rows listed."""
    out = ctx.tmp / "out"
    r = _classify(ctx, *_parts(ctx, 2), "--out", out)
    assert r.returncode == 0, r.stderr
    for rec in _manifest(out).values():
        path = rec["outputs"].get("rejected")
        assert path, f"no list of rejected rows for {rec['input']}"
        rej = pd.read_parquet(path)
        assert rej["REASON"].value_counts().to_dict() == rec["rejected"]
        assert rej["ROW"].is_unique and len(rej) + rec["rows_preselected"] == rec["rows_read"]


CASES = [
    Case("outputs-simulate-over-real-sweeps", "1", simulate_over_real_sweeps),
    Case("outputs-simulate-own-folder-again", "1", simulate_own_folder_again),
    Case("outputs-north-then-south-resume", "2", north_then_south_resume),
    Case("outputs-load-refuses-shared-output", "2", catalogue_with_shared_output),
    Case("outputs-output-would-overwrite-input", "3", output_would_overwrite_input),
    Case("outputs-own-outputs-not-globbed", "3", outputs_globbed_as_inputs),
    Case("outputs-second-job-same-out-lock", "4", second_job_same_out),
    Case("outputs-rejected-rows-listed", "9", rejected_rows_listed),
]
