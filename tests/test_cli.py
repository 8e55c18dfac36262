"""Tests of the `dwarflib train`, `dwarflib classify` and `dwarflib explain` commands."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dwarflib import cli, survey_io
from dwarflib.catalogue import load_catalogue, read_manifest
from dwarflib.datamodel import unique_id


def test_commands_are_registered():
    parser = cli.build_parser()
    text = parser.format_help()
    for name in ("train", "classify", "explain"):
        assert name in text


@pytest.fixture(scope="module")
def chain(small_sky, tmp_path_factory):
    """the shared simulated sky -> `dwarflib train` -> `dwarflib classify` through cli.main."""
    sky = small_sky
    model = tmp_path_factory.mktemp("model")
    rc = cli.main(["train", str(sky / "training-sample.fits"), "--out", str(model), "--seed", "1",
                   "--max-epochs", "8"])
    assert rc == 0
    return sky, model


def test_train_prints_search_and_test_metrics(chain, capsys):
    sky, model = chain
    assert (model / "model.json").exists() and (model / "network").is_dir()


@pytest.mark.slow
def test_classify_prints_the_row_accounting(chain, tmp_path, capsys):
    sky, model = chain
    sweeps = sorted(sky.glob("sweep-*.fits"))
    capsys.readouterr()
    rc = cli.main(["classify", str(model), *map(str, sweeps), "--out", str(tmp_path), "--all", "--workers", "1",
                   "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0
    for line in ("rows read", "rows preselected", "rows classified", "rows rejected", "candidates"):
        assert line in out
    recs = read_manifest(tmp_path)
    assert len(recs) == len(sweeps)
    n_read = sum(r["rows_read"] for r in recs.values())
    assert f"{n_read:,d}" in out
    assert len(load_catalogue(tmp_path)) == sum(r["rows_written"] for r in recs.values())
    # resume: nothing to do
    rc = cli.main(["classify", str(model), *map(str, sweeps), "--out", str(tmp_path), "--all", "--resume",
                   "--no-progress"])
    assert rc == 0 and f"{len(sweeps)} skipped" in capsys.readouterr().out


def test_classify_missing_file_exits_nonzero(chain, tmp_path, capsys):
    _, model = chain
    rc = cli.main(["classify", str(model), str(tmp_path / "nope.fits"), "--out", str(tmp_path / "o"),
                   "--no-progress"])
    assert rc == 1 and "nope.fits" in capsys.readouterr().err


def test_explain_by_id_and_by_position(chain, capsys):
    sky, model = chain
    f = sorted(sky.glob("sweep-*.fits"))[0]
    t = survey_io.read_catalogue(f, flags=False)[:1]
    tid = int(unique_id(t["RELEASE"], t["BRICKID"], t["OBJID"])[0])
    assert cli.main(["explain", str(model), str(f), "--targetid", str(tid)]) == 0
    out = capsys.readouterr().out
    assert f"TARGETID {tid}" in out and "preselection:" in out and "delta_p" in out
    assert cli.main(["explain", str(model), str(f), "--ra", str(float(t["RA"][0])), "--dec",
                     str(float(t["DEC"][0])), "--radius", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "within 0.5 arcsec" in out and f"TARGETID {tid}" in out
    assert cli.main(["explain", str(model), str(f), "--ra", "10.0"]) == 2
    assert cli.main(["explain", str(model), str(f), "--targetid", "1"]) == 1
    assert "no object" in capsys.readouterr().err


def test_train_missing_file(tmp_path, capsys):
    assert cli.main(["train", str(tmp_path / "absent.fits"), "--out", str(tmp_path / "m")]) == 1
    assert "absent.fits" in capsys.readouterr().err


@pytest.mark.slow
def test_simulate_train_classify_from_the_command_line(tmp_path):
    """The whole chain as a user runs it: three subprocesses."""
    def run(*args):
        r = subprocess.run([sys.executable, "-m", "dwarflib", *args], capture_output=True, text=True, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        return r.stdout

    run("simulate", "--n-sources", "80000", "--seed", "7", "--out", str(tmp_path / "sky"))
    out = run("train", str(tmp_path / "sky" / "training-sample.fits"), "--out", str(tmp_path / "model"),
              "--max-epochs", "5")
    assert "temperature" in out and "precision" in out
    out = run("classify", str(tmp_path / "model"), str(tmp_path / "sky"), "--out", str(tmp_path / "cat"),
              "--workers", "1", "--no-progress")
    assert "rows read" in out
    assert list((tmp_path / "cat").glob("*-candidates.fits"))
