"""EM sky priors (#12): ``classify --sky-priors-em`` estimates the sky class priors of the inputs' preselected rows
by the EM prior-shift method of Saerens, Latinne & Decaestecker (2002) and writes P_CLASSk_SKY / P_SIGNAL_SKY
under them."""

from __future__ import annotations

import json
import shutil
import stat

import numpy as np
import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from astropy.table import Table
from sky_fixtures import split_sweeps

from dwarflib.catalogue import classify_files, load_catalogue, read_manifest
from dwarflib.cli import main as cli_main
from dwarflib.labels import DEFAULT_SCHEME
from dwarflib.pipeline import ModelError, load_model
from dwarflib.priors import prior_shift
from dwarflib.sky_priors import estimate_sky_priors_em

PCOLS = [f"P_CLASS{k}" for k in range(7)]


@pytest.fixture(scope="module")
def em_run(small_sky, small_model, tmp_path_factory):
    """The whole small sky classified (every preselected row) with EM sky priors, by the uncalibrated model."""
    out = tmp_path_factory.mktemp("em") / "cat"
    summary = classify_files(small_model, sorted(small_sky.glob("sweep-*.fits")), out, keep_all=True,
                             progress=False, sky_priors="em")
    return out, summary


@pytest.fixture(scope="module")
def sweeps(small_sky, tmp_path_factory):
    return split_sweeps(small_sky, tmp_path_factory.mktemp("sweeps"), n_files=2, n_rows=8000)


def _true_fractions(small_sky, cat) -> np.ndarray:
    truth = Table.read(small_sky / "truth.fits")
    cls = np.asarray(DEFAULT_SCHEME.assign(truth["Z"], truth["LOGMSTAR"], truth["IS_STAR"]))
    order = np.argsort(np.asarray(truth["TARGETID"]))
    pos = np.searchsorted(np.asarray(truth["TARGETID"])[order], cat["TARGETID"].to_numpy())
    counts = np.bincount(cls[order][pos], minlength=7)
    return counts / counts.sum()


def test_em_priors_are_close_to_the_true_class_fractions(em_run, small_sky, small_model):
    out, summary = em_run
    em = summary["sky_priors_em"]
    assert not load_model(small_model).has_sky_priors  # EM needs no sky calibration
    assert em["converged"] and em["n_rows_used"] == em["n_rows_preselected"] == summary["rows_preselected"]
    cat = load_catalogue(out, columns=["TARGETID"])
    true = _true_fractions(small_sky, cat)
    q, t = np.asarray(em["priors"]), np.asarray(em["train_priors"])
    print("EM", q.round(4), "truth", true.round(4), "train", t.round(4))
    # Measured on this quickly trained small model (2026-12-02, recalibrated sky with satellites): EM drives the
    # classes the model barely separates to ~0 -- the rare ones, signal included, and one of the two z > 0.05
    # contaminant classes, whose share goes to its neighbour (EM 0.150 + 0.000 against a true 0.096 + 0.091):
    # the known non-identifiability of EM for a weakly separating classifier. With the book's network on the
    # book's 2M-source footprint it does not collapse (signal 5.6e-4 against a true 7.8e-4, before the
    # recalibration). Asserted here: the plumbing, and an estimate far closer to the truth than the training mix
    # (L1 distance at most a quarter of the training mix's), with the merged neighbours within 0.07.
    big = true > 0.09
    assert big.sum() >= 3
    err, err_train = np.abs(q - true).sum(), np.abs(t - true).sum()
    assert err < min(0.25, err_train / 4), (err, err_train)
    assert abs(q[big].sum() - true[big].sum()) < 0.07


def test_sky_columns_are_the_prior_shift_under_the_em_priors_bit_for_bit(em_run, small_model):
    out, summary = em_run
    em = summary["sky_priors_em"]
    cat = load_catalogue(out)
    sky = prior_shift(cat[PCOLS].to_numpy(np.float32), em["train_priors"], em["priors"]).astype(np.float32)
    for k in range(7):
        assert np.array_equal(cat[f"P_CLASS{k}_SKY"].to_numpy(), sky[:, k])
    assert np.array_equal(cat["P_SIGNAL_SKY"].to_numpy(), sky[:, 0])
    # recorded everywhere: manifest, FITS header, Parquet metadata
    recs = read_manifest(out)
    assert recs and all(r["sky_priors_em"] == em for r in recs.values())
    rec = next(iter(recs.values()))
    hdr = fits.getheader(rec["outputs"]["fits"], "CATALOGUE")
    assert [hdr[f"SKYPRIO{k}"] for k in range(7)] == pytest.approx(em["priors"], rel=1e-12)
    assert hdr["SKYPRSRC"] == "EM" and hdr["SKYEMNIT"] == em["n_iter"] and hdr["SKYEMCNV"] is True
    md = pq.read_schema(rec["outputs"]["parquet"]).metadata
    assert json.loads(md[b"dwarflib.sky_priors"]) == em


def test_em_subsample_is_seeded_and_independent_of_chunking(small_model, sweeps):
    model = load_model(small_model)
    a = estimate_sky_priors_em(model, sweeps, chunk_rows=700, max_rows=1500)
    b = estimate_sky_priors_em(model, sweeps, chunk_rows=5000, max_rows=1500)
    full = estimate_sky_priors_em(model, sweeps, chunk_rows=5000)
    assert a["n_rows_used"] == 1500 < a["n_rows_preselected"] == full["n_rows_used"]
    np.testing.assert_allclose(a["priors"], b["priors"], rtol=1e-12, atol=0)
    assert a["priors"] != full["priors"]


def _writable_copy(src, dst):
    shutil.copytree(src, dst)
    for p in dst.rglob("*"):
        p.chmod(p.stat().st_mode | stat.S_IWUSR)
    return dst


def test_bad_inputs_give_one_line_errors(small_model, sweeps, tmp_path, capsys):
    with pytest.raises(ValueError, match="sky_priors must be None or 'em'"):
        classify_files(small_model, sweeps, tmp_path / "a", sky_priors="EM", progress=False)
    with pytest.raises(ValueError, match="cannot be combined with a purity or threshold"):
        classify_files(small_model, sweeps, tmp_path / "a", sky_priors="em", purity=0.5, progress=False)
    rc = cli_main(["classify", str(small_model), str(sweeps[0]), "--out", str(tmp_path / "b"),
                   "--sky-priors-em", "--threshold", "0.5", "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "cannot be combined" in err and "\n" not in err
    # a model without training-mix priors: named field, nothing written
    bare = _writable_copy(small_model, tmp_path / "bare")
    meta = json.loads((bare / "model.json").read_text())
    # (a model trained on the weighted nearby supplement takes its mix from the weighted counts)
    field = "weighted_class_counts" if meta["training_data"].get("weighted") else "class_counts"
    del meta["training_data"][field]  # not part of model_sha256: the model still loads
    (bare / "model.json").write_text(json.dumps(meta))
    load_model(bare)
    rc = cli_main(["classify", str(bare), str(sweeps[0]), "--out", str(tmp_path / "c"), "--sky-priors-em",
                   "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and f"training_data.{field}" in err and "\n" not in err
    assert not (tmp_path / "c").exists()
    with pytest.raises(ModelError, match="training-mix class priors are unknown"):
        load_model(bare).training_mix_priors  # noqa: B018


def test_resume_redoes_files_when_the_em_priors_change(small_model, sweeps, tmp_path):
    out = tmp_path / "cat"
    first = classify_files(small_model, sweeps, out, sky_priors="em", progress=False)
    again = classify_files(small_model, sweeps, out, sky_priors="em", resume=True, progress=False)
    assert again["files_skipped"] == 2 and again["sky_priors_em"] == first["sky_priors_em"]
    # one input only: its preselected rows give other priors, so its file is redone
    one = classify_files(small_model, sweeps[:1], out, sky_priors="em", resume=True, progress=False)
    assert one["sky_priors_em"]["priors"] != first["sky_priors_em"]["priors"]
    assert one["files_skipped"] == 0 and one["files_done"] == 1
    assert read_manifest(out)[str(sweeps[0].resolve())]["sky_priors_em"] == one["sky_priors_em"]
    # without the option the EM catalogue is not taken for a plain one
    plain = classify_files(small_model, sweeps[:1], out, resume=True, progress=False)
    assert plain["files_skipped"] == 0 and "sky_priors_em" not in plain
