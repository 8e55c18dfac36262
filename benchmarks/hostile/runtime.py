"""Hostile cases of issue #17 items 6, 7, 10, 11, 12 and the default worker count: a SIGKILLed or
interrupted `classify`, gzip-compressed sweeps, bad model folders, bad options, a read-only output
folder, an unreachable scheduler, a closed stdout. Every case goes through the command line."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from benchmarks.hostile_inputs import ROOT, Case
from tests.process_support import alive, children, gzip_copy, tmp_outputs, wait_for

REAL_SWEEP = ROOT.parent / "shared" / "data" / "desitarget_ls_test_files" / "sweep-310m005-320p000.fits"


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _env(**extra) -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), **extra)


def _popen(ctx, *args, **kwargs) -> subprocess.Popen:
    """``python -m dwarflib ARGS`` started in the background (cwd = ctx.tmp), stdout and stderr piped."""
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([sys.executable, "-m", "dwarflib", *map(str, args)], cwd=ctx.tmp, env=_env(),
                            **kwargs)


def _one_line(stderr: str) -> str:
    """The single line of an error on stderr (argparse's usage lines before it are allowed)."""
    assert "Traceback" not in stderr, stderr[-2000:]
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip() and not ln.startswith((" ", "usage:"))]
    assert len(lines) == 1, stderr[-2000:]
    return lines[0]


def _two_sweeps(ctx) -> list[Path]:
    """The shared sky's sweep rows split into two sweep files in ctx.tmp."""
    from dwarflib import survey_io

    t = survey_io.read_catalogue(ctx.sweeps()[0], flags=False)
    half = len(t) // 2
    return [survey_io.write_sweep(part, ctx.tmp / f"sweep-half{i}.fits") for i, part in enumerate((t[:half], t[half:]))]


def _manifest(out: Path) -> list[dict]:
    from dwarflib.catalogue import read_manifest

    return list(read_manifest(out).values())


# ---------------------------------------------------------------------------------------------
# item 6
# ---------------------------------------------------------------------------------------------
def kill_classify_workers_die(ctx):
    files = _two_sweeps(ctx)
    out = ctx.tmp / "cat"
    p = _popen(ctx, "classify", ctx.model_dir, *files, "--out", out, "--workers", "2", "--chunk-rows", "1",
               "--no-progress")
    workers: list[int] = []
    try:
        wait_for(lambda: tmp_outputs(out) or p.poll() is not None, 180, "a worker to start writing")
        assert p.poll() is None, p.communicate()
        workers = children(p.pid)
        assert workers, "no worker processes"
        p.kill()
        p.wait(30)
        wait_for(lambda: not any(alive(w) for w in workers), 30, f"workers {workers} to die with their parent")
        assert p.stdout.read() == b"", "stdout still open"
        assert not _manifest(out)
    finally:
        for w in workers:
            if alive(w):
                os.kill(w, signal.SIGKILL)
        if p.poll() is None:
            p.kill()


def kill_then_resume_completes(ctx):
    files = _two_sweeps(ctx)
    out = ctx.tmp / "cat"
    p = _popen(ctx, "classify", ctx.model_dir, *files, "--out", out, "--workers", "2", "--chunk-rows", "5",
               "--no-progress")
    workers: list[int] = []
    try:
        wait_for(lambda: tmp_outputs(out) or p.poll() is not None, 180, "a worker to start writing")
        workers = children(p.pid)
        p.kill()
        p.wait(30)
        wait_for(lambda: not any(alive(w) for w in workers), 30, "workers to die")
    finally:
        for w in workers:
            if alive(w):
                os.kill(w, signal.SIGKILL)
    r = ctx.cli("classify", ctx.model_dir, *files, "--out", out, "--resume", "--no-progress")
    assert r.returncode == 0, r.stderr[-2000:]
    recs = _manifest(out)
    assert len(recs) == 2 and sum(x["rows_read"] for x in recs) == 80_000
    assert not tmp_outputs(out)


# ---------------------------------------------------------------------------------------------
# item 7
# ---------------------------------------------------------------------------------------------
def _classify_frame(ctx, inputs, out):
    from dwarflib.catalogue import load_catalogue

    r = ctx.cli("classify", ctx.model_dir, *inputs, "--out", out, "--all", "--workers", "1", "--no-progress")
    assert r.returncode == 0, r.stderr[-2000:]
    return load_catalogue(out).sort_values("TARGETID").reset_index(drop=True), _manifest(out)


def _gz_same_catalogue(src_of):
    def check(ctx):
        import pandas as pd

        src = src_of(ctx)
        gz = gzip_copy(src, ctx.tmp / "gz" / f"{src.name}.gz")
        a, ra = _classify_frame(ctx, [src], ctx.tmp / "plain")
        b, rb = _classify_frame(ctx, [ctx.tmp / "gz"], ctx.tmp / "fromgz")  # the folder search finds .fits.gz
        assert rb[0]["input"] == str(gz.resolve())
        assert ra[0]["rows_read"] == rb[0]["rows_read"] and ra[0]["rejected"] == rb[0]["rejected"]
        pd.testing.assert_frame_equal(a, b)
    return check


def gz_explain(ctx):
    from dwarflib import survey_io
    from dwarflib.datamodel import unique_id

    src = ctx.sweeps()[0]
    gz = gzip_copy(src, ctx.tmp / "sweep-x.fits.gz")
    t = survey_io.read_catalogue(src, columns=["RELEASE", "BRICKID", "OBJID"], flags=False)
    tid = int(unique_id(t["RELEASE"], t["BRICKID"], t["OBJID"])[7])
    a = ctx.cli("explain", ctx.model_dir, src, "--targetid", tid)
    b = ctx.cli("explain", ctx.model_dir, gz, "--targetid", tid)
    assert a.returncode == 0 and b.returncode == 0, b.stderr[-2000:]
    assert a.stdout.replace(src.name, "F") == b.stdout.replace(gz.name, "F")


def gz_truncated(ctx):
    src = ctx.sweeps()[0]
    data = gzip.compress(src.read_bytes()[:-1_000_000])
    for name, blob in (("sweep-cuttable.fits.gz", data), ("sweep-cutstream.fits.gz", data[: len(data) // 2])):
        bad = ctx.tmp / name
        bad.write_bytes(blob)
        r = ctx.cli("classify", ctx.model_dir, bad, "--out", ctx.tmp / name.replace(".", "-"), "--workers", "1",
                    "--no-progress")
        assert r.returncode == 1
        assert str(bad) in _one_line(r.stderr)


# ---------------------------------------------------------------------------------------------
# item 10
# ---------------------------------------------------------------------------------------------
def _bad_model(edit, expect: str):
    def check(ctx):
        m = ctx.tmp / "model"
        shutil.copytree(ctx.model_dir, m)
        text = (m / "model.json").read_text()
        new = edit(json.loads(text)) if callable(edit) else edit
        (m / "model.json").write_text(new if isinstance(new, str) else json.dumps(new))
        for args in (["classify", m, ctx.sweeps()[0], "--out", ctx.tmp / "cat", "--workers", "1", "--no-progress"],
                     ["explain", m, ctx.sweeps()[0], "--targetid", "1"]):
            r = ctx.cli(*args)
            assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
            line = _one_line(r.stderr)
            assert "model.json" in line and expect in line, line
        assert not _manifest(ctx.tmp / "cat")
    return check


def _set(path: str, value):
    def edit(meta):
        *parents, last = path.split(".")
        d = meta
        for k in parents:
            d = d[k]
        d[last] = value
        return meta
    return edit


def _reverse_features(meta):
    meta["features"] = meta["features"][::-1]
    return meta


def _drop(key):
    def edit(meta):
        del meta[key]
        return meta
    return edit


def model_retrain_keeps_identity(ctx):
    train = ctx.sky_dir / "training-sample.fits"
    for d in ("a", "b"):
        r = ctx.cli("train", train, "--out", ctx.tmp / d, "--seed", "0", "--max-epochs", "2")
        assert r.returncode == 0, r.stderr[-2000:]
    ja, jb = ((ctx.tmp / d / "model.json").read_text() for d in "ab")
    assert ja != jb, "model.json of the two runs identical: the case tests nothing"
    assert json.loads(ja)["model_sha256"] == json.loads(jb)["model_sha256"]
    r = ctx.cli("classify", ctx.tmp / "a", *ctx.sweeps(), "--out", ctx.tmp / "cat", "--no-progress")
    assert r.returncode == 0, r.stderr[-2000:]
    r = ctx.cli("classify", ctx.tmp / "b", *ctx.sweeps(), "--out", ctx.tmp / "cat", "--resume", "--no-progress")
    assert r.returncode == 0 and f"({len(ctx.sweeps())} skipped" in r.stdout, r.stdout


# ---------------------------------------------------------------------------------------------
# item 11
# ---------------------------------------------------------------------------------------------
def _bad_option(*args: str):
    def check(ctx):
        argv = [str(ctx.model_dir) if a == "MODEL" else str(ctx.sweeps()[0]) if a == "SWEEP"
                else str(ctx.sky_dir / "training-sample.fits") if a == "TRAIN" else a for a in args]
        r = ctx.cli(*argv, "--out", ctx.tmp / "out")
        assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
        assert "error: argument" in _one_line(r.stderr)
        assert not (ctx.tmp / "out").exists()
    return check


def classify_out_is_a_file(ctx):
    f = ctx.tmp / "afile"
    f.write_text("keep me")
    r = ctx.cli("classify", ctx.model_dir, ctx.sweeps()[0], "--out", f, "--no-progress")
    assert r.returncode == 2 and "is a file" in _one_line(r.stderr)
    assert f.read_text() == "keep me"


def simulate_one_source(ctx):
    r = ctx.cli("simulate", "--n-sources", "1", "--out", ctx.tmp / "sky", "--no-progress")
    assert r.returncode == 0, r.stderr[-2000:]


# ---------------------------------------------------------------------------------------------
# item 12
# ---------------------------------------------------------------------------------------------
def _unwritable(p: Path) -> bool:
    try:
        (p / "dwarflib-probe").mkdir()
    except OSError:
        return True
    (p / "dwarflib-probe").rmdir()
    return False


def read_only_out(ctx):
    ro = ctx.tmp / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if not _unwritable(ro):  # root: use a read-only file system
        ro = Path("/sys/fs")
        assert _unwritable(ro), "no read-only folder to test with"
    r = ctx.cli("classify", ctx.model_dir, ctx.sweeps()[0], "--out", ro / "cat", "--workers", "1", "--no-progress")
    assert r.returncode == 1 and str(ro / "cat") in _one_line(r.stderr), r.stderr[-2000:]


def unreachable_scheduler(ctx):
    r = subprocess.run([sys.executable, "-m", "dwarflib", "classify", str(ctx.model_dir), str(ctx.sweeps()[0]),
                        "--out", str(ctx.tmp / "cat"), "--scheduler", "tcp://127.0.0.1:9", "--no-progress"],
                       cwd=ctx.tmp, env=_env(DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="3s"),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "tcp://127.0.0.1:9" in _one_line(r.stderr), r.stderr[-2000:]


def ctrl_c(ctx):
    out = ctx.tmp / "cat"
    p = _popen(ctx, "classify", ctx.model_dir, ctx.sweeps()[0], "--out", out, "--workers", "1", "--chunk-rows", "1",
               "--no-progress", preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as in a terminal
    try:
        wait_for(lambda: tmp_outputs(out) or p.poll() is not None, 180, "classify to start writing")
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, (p.returncode, err[-2000:])
    assert _one_line(err.decode()) == "dwarflib classify: interrupted"
    assert not tmp_outputs(out) and not _manifest(out)


def closed_stdout(ctx):
    p = _popen(ctx, "classify", ctx.model_dir, ctx.sweeps()[0], "--out", ctx.tmp / "cat", "--workers", "1",
               "--no-progress")
    p.stdout.close()
    err = p.stderr.read().decode()
    p.wait(300)
    assert p.returncode == 0 and "Traceback" not in err and "Exception" not in err, (p.returncode, err[-2000:])
    assert len(_manifest(ctx.tmp / "cat")) == 1


# ---------------------------------------------------------------------------------------------
# also: default workers from the input size
# ---------------------------------------------------------------------------------------------
def default_workers_small_input(ctx):
    files = _two_sweeps(ctx)
    p = _popen(ctx, "classify", ctx.model_dir, *files, "--out", ctx.tmp / "cat", "--no-progress")
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err[-2000:]
    pids = {r["pid"] for r in _manifest(ctx.tmp / "cat")}
    assert pids == {p.pid}, f"80,000 rows in 2 files ran in worker processes {pids}, not in classify ({p.pid})"


CASES = [
    Case("runtime-kill-classify-workers-die", "6", kill_classify_workers_die),
    Case("runtime-kill-then-resume", "6", kill_then_resume_completes),
    Case("runtime-gz-real-sweep-same-catalogue", "7", _gz_same_catalogue(lambda ctx: REAL_SWEEP)),
    Case("runtime-gz-sim-sweep-same-catalogue", "7", _gz_same_catalogue(lambda ctx: ctx.sweeps()[0])),
    Case("runtime-gz-explain", "7", gz_explain),
    Case("runtime-gz-truncated", "7", gz_truncated),
    Case("runtime-model-threshold-negative", "10", _bad_model(_set("thresholds.catalogue", -1), "thresholds")),
    Case("runtime-model-threshold-5", "10", _bad_model(_set("thresholds.high_purity", 5), "thresholds")),
    Case("runtime-model-threshold-nan", "10", _bad_model(_set("thresholds.paper", "nan"), "thresholds")),
    Case("runtime-model-features-reordered", "10", _bad_model(_reverse_features, "feature_names")),
    Case("runtime-model-edited-threshold", "10", _bad_model(_set("thresholds.catalogue", 0.3), "model_sha256")),
    Case("runtime-model-no-class-bias", "10", _bad_model(_drop("class_bias"), "class_bias")),
    Case("runtime-model-temperature-0", "10", _bad_model(_set("temperature", 0), "temperature")),
    Case("runtime-model-not-json", "10", _bad_model('{"format": ', "not valid JSON")),
    Case("runtime-model-json-list", "10", _bad_model("[1, 2]", "not a JSON object")),
    Case("runtime-model-retrain-same-identity", "10", model_retrain_keeps_identity),
    Case("runtime-opt-simulate-n-sources-negative", "11", _bad_option("simulate", "--n-sources", "-5")),
    Case("runtime-opt-simulate-area-0", "11", _bad_option("simulate", "--area-deg2", "0")),
    Case("runtime-opt-simulate-area-nan", "11", _bad_option("simulate", "--area-deg2", "nan")),
    Case("runtime-opt-simulate-chunk-0", "11", _bad_option("simulate", "--chunk-size", "0")),
    Case("runtime-opt-train-max-epochs-0", "11", _bad_option("train", "TRAIN", "--max-epochs", "0")),
    Case("runtime-opt-classify-workers-negative", "11", _bad_option("classify", "MODEL", "SWEEP", "--workers", "-4")),
    Case("runtime-opt-classify-chunk-rows-0", "11", _bad_option("classify", "MODEL", "SWEEP", "--chunk-rows", "0")),
    Case("runtime-opt-classify-out-file", "11", classify_out_is_a_file),
    Case("runtime-opt-simulate-one-source", "11", simulate_one_source),
    Case("runtime-env-read-only-out", "12", read_only_out),
    Case("runtime-env-unreachable-scheduler", "12", unreachable_scheduler),
    Case("runtime-env-ctrl-c", "12", ctrl_c),
    Case("runtime-env-closed-stdout", "12", closed_stdout),
    Case("runtime-default-workers-small-input", "also", default_workers_small_input),
]
