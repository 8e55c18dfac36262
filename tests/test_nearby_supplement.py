"""The training sample's nearby supplement (issue #13): over-sampled z < NEARBY_Z_MAX galaxies with importance
weights, written only to the training sample, and the weights used wherever the sample trains or scores."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.table import Table

from dwarflib import metrics
from dwarflib import training_sample as ts
from dwarflib.cli import main as cli_main
from dwarflib.sky import generate
from dwarflib.torchnet import TorchMLPClassifier
from dwarflib.training import signal_precision_recall, test_part

N_SKY, SEED = 20_000, 5


@pytest.fixture(scope="module")
def skies(tmp_path_factory):
    """The same small sky with (default k) and without (k = 0) the nearby supplement."""
    base = tmp_path_factory.mktemp("nearby")
    out = {}
    for name, k in (("with", generate.NEARBY_OVERSAMPLING), ("without", 0)):
        summary = generate.write_simulated_sky(base / name, N_SKY, seed=SEED, progress=False, nearby_oversampling=k)
        out[name] = (base / name, summary)
    return out


def _read(folder, name):
    return Table.read(folder / name, mask_invalid=False)


def test_supplement_only_in_training_sample_and_sky_unchanged(skies):
    (a, sa), (b, _) = skies["with"], skies["without"]
    # the sky (sweeps, truth) does not depend on the supplement: byte for byte
    for p in [*generate.sweep_files(b), b / "truth.fits"]:
        assert (a / p.name).read_bytes() == p.read_bytes(), p.name
    train, truth = _read(a, "training-sample.fits"), _read(a, "truth.fits")
    sup = np.asarray(train["SUPPLEMENT"], bool)
    assert sup.sum() == sa["nearby_supplement"]["n_training"] > 0
    assert not np.isin(train["TARGETID"][sup], truth["TARGETID"]).any()
    assert np.isin(train["TARGETID"][~sup], truth["TARGETID"]).all()
    assert len(np.unique(train["TARGETID"])) == len(train) == sa["n_training"]
    assert np.all(np.asarray(train["Z"])[sup] < generate.NEARBY_Z_MAX)
    assert not np.asarray(train["IS_STAR"])[sup].any()
    # the sky's own rows of the training sample are those of the sky without a supplement
    plain = _read(b, "training-sample.fits")
    assert np.array_equal(np.asarray(train["TARGETID"])[~sup], np.asarray(plain["TARGETID"]))
    assert np.all(np.asarray(plain["WEIGHT"]) == 1) and not np.asarray(plain["SUPPLEMENT"]).any()


def test_weighted_counts_are_the_sky_expectation(skies):
    (a, sa), (b, _) = skies["with"], skies["without"]
    train, plain = _read(a, "training-sample.fits"), _read(b, "training-sample.fits")
    k = generate.NEARBY_OVERSAMPLING
    w, z = np.asarray(train["WEIGHT"]), np.asarray(train["Z"])
    star = np.asarray(train["IS_STAR"], bool)
    near = ~star & (z < generate.NEARBY_Z_MAX)
    assert np.allclose(w[near], 1 / (1 + k)) and np.all(w[~near] == 1)
    cls, cls0 = np.asarray(train["CLASS"]), np.asarray(plain["CLASS"])
    z0, star0 = np.asarray(plain["Z"]), np.asarray(plain["IS_STAR"], bool)
    near0 = ~star0 & (z0 < generate.NEARBY_Z_MAX)
    # far rows: exactly the counts without the supplement
    assert np.array_equal(np.bincount(cls[~near], minlength=7), np.bincount(cls0[~near0], minlength=7))
    # nearby rows: weighted count = expectation; supplement rows ~ Poisson(k x sky expectation)
    n_sup = int(np.asarray(train["SUPPLEMENT"], bool).sum())
    sky_near = int(near0.sum())
    assert sa["nearby_supplement"]["n_training_sky_nearby"] == sky_near
    weighted = float(w[near].sum())
    assert weighted == pytest.approx((sky_near + n_sup) / (1 + k))
    # the supplement's selected rows scatter around k times the sky's expected number of selected nearby rows,
    # estimated from the supplement's own selection efficiency and the sky's expected nearby galaxies
    eff = n_sup / sa["nearby_supplement"]["n_generated"]
    expected = k * sa["nearby_supplement"]["expected_sky_nearby"] * eff
    assert abs(n_sup - expected) < 5 * np.sqrt(expected)


def test_same_seed_same_training_file(skies, tmp_path):
    a, _ = skies["with"]
    generate.write_simulated_sky(tmp_path / "again", N_SKY, seed=SEED, progress=False)
    assert (tmp_path / "again" / "training-sample.fits").read_bytes() == (a / "training-sample.fits").read_bytes()


def test_cli_and_summary_report_the_supplement(tmp_path, capsys):
    out = tmp_path / "cli"
    assert cli_main(["simulate", "--n-sources", "5000", "--seed", "2", "--out", str(out), "--no-progress",
                     "--nearby-oversampling", "200"]) == 0
    text = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    sup = summary["nearby_supplement"]
    assert sup["oversampling"] == 200 and sup["weight_nearby"] == pytest.approx(1 / 201)
    assert "nearby supplement" in text and f"{sup['n_training']:,} training rows" in text
    assert sup["n_generated"] > 0
    assert cli_main(["simulate", "--n-sources", "5000", "--out", str(tmp_path / "bad"), "--no-progress",
                     "--nearby-oversampling", "-1"]) == 1


def test_old_file_without_weight_reads_as_weight_one(skies, tmp_path):
    a, _ = skies["with"]
    t = _read(a, "training-sample.fits")
    old = t.copy()
    old.remove_columns(["WEIGHT", "SUPPLEMENT"])
    old.write(tmp_path / "old.fits")
    s = ts.build_training_sample(tmp_path / "old.fits")
    assert np.all(s.weight == 1) and not s.supplement.any()
    new = ts.build_training_sample(a / "training-sample.fits", supplement=True)
    assert (new.weight < 1).any() and new.supplement.any()
    # a bad weight is refused, naming the file, the column and the row
    bad = t.copy()
    bad["WEIGHT"][3] = np.nan
    bad.write(tmp_path / "bad.fits")
    with pytest.raises(ValueError, match=r"bad.fits: column WEIGHT .* row 3"):
        ts.load_labelled_table(tmp_path / "bad.fits")


def test_supplement_joins_the_training_part_only_and_validation_test_are_unchanged(skies):
    a, _ = skies["with"]
    s = ts.build_training_sample(a / "training-sample.fits", supplement=True)
    sp = ts.split_sample(s, seed=1)
    parts = np.asarray(sp.table["SPLIT"])
    n_sup = s.supplement.sum()
    # the supplement's training share (0.6, one row per class stratum at most off) in train, none elsewhere
    assert abs(s.supplement[parts == "train"].sum() - 0.6 * n_sup) <= 7
    assert not s.supplement[np.isin(parts, ["validation", "test"])].any()
    assert s.supplement[parts == "unused"].all()
    assert (parts == "unused").sum() + s.supplement[parts == "train"].sum() == n_sup
    assert np.array_equal(sp.w_train, s.weight[parts == "train"]) and (sp.w_train < 1).any()
    assert np.all(sp.w_val == 1) and np.all(sp.w_test == 1)
    # every object (id) in at most one part
    ids = np.concatenate([sp.ids_train, sp.ids_val, sp.ids_test])
    assert len(np.unique(ids)) == len(ids)
    # validation and test are exactly those of the sample without its supplement (same rows, same seed)
    plain = ts.build_training_sample(a / "training-sample.fits")
    sp0 = ts.split_sample(plain, seed=1)
    assert np.array_equal(sp0.ids_test, sp.ids_test) and np.array_equal(sp0.ids_val, sp.ids_val)
    assert np.array_equal(sp0.ids_train, sp.ids_train[~np.isin(sp.ids_train, s.ids[s.supplement])])
    # the training part holds the same share of the surveys' and of the supplement's nearby volume, so its
    # weighted nearby count is 0.6 of the sample's (whose weighted count is the sky's expectation)
    z = np.asarray(s.table["Z"])
    near_train = z[parts == "train"] < 0.005
    share = sp.w_train[near_train].sum() / s.weight[z < 0.005].sum()
    assert share == pytest.approx(0.6, abs=0.03), share


def test_weights_reach_the_network():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 3)).astype(np.float32)
    y = (X[:, 0] + 0.5 * rng.normal(size=600) > 0).astype(int)
    kw = dict(hidden_layers=(8,), max_epochs=5, random_state=0, n_threads=1, class_weight="balanced")
    p0 = TorchMLPClassifier(**kw).fit(X, y).predict_proba(X)
    p1 = TorchMLPClassifier(**kw).fit(X, y, sample_weight=np.ones(600)).predict_proba(X)
    assert np.array_equal(p0, p1)  # weights 1 = unweighted, bit for bit
    w = np.where(X[:, 1] > 0, 1 / 51, 1.0)
    p2 = TorchMLPClassifier(**kw).fit(X, y, sample_weight=w).predict_proba(X)
    assert not np.allclose(p0, p2)


def test_weighted_metrics_equal_unweighted_for_unit_weights_and_use_n_eff():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 400)
    p = rng.random(400)
    a = signal_precision_recall(y, p, 0.5)
    b = signal_precision_recall(y, p, 0.5, np.ones(400))
    assert a == b
    # equal weights of any size: the same precision, recall and intervals (the effective number is the count)
    c = signal_precision_recall(y, p, 0.5, np.full(400, 0.02))
    for key in ("precision", "recall", "precision_low", "precision_high", "recall_low", "recall_high"):
        assert c[key] == pytest.approx(a[key], rel=1e-9), key
    # unequal weights: fewer effective objects, a wider interval than the counts' at the same recall
    w = np.where(rng.random(400) < 0.5, 1 / 51, 1.0)
    d = signal_precision_recall(y, p, 0.5, w)
    sig = y == 0
    assert d["n_eff_signal"] == pytest.approx(metrics.kish_n_eff(w[sig])) and d["n_eff_signal"] < sig.sum()
    lo, hi = metrics.binomial_interval(round(d["recall"] * sig.sum()), int(sig.sum()), metrics.CONFIDENCE_1SIGMA)
    assert d["recall_high"] - d["recall_low"] > hi - lo
    w = np.full(800, 0.5)
    assert metrics.kish_n_eff(w) == pytest.approx(800) and metrics.kish_n_eff([1, 0, 0]) == 1


@pytest.mark.slow
def test_trained_model_weights_training_only_and_tests_on_the_surveys_rows(skies, tmp_path):
    from dwarflib.training import train_final_model

    a, _ = skies["with"]
    res = train_final_model(a / "training-sample.fits", tmp_path / "m", seed=0, max_epochs=3,
                            search=[{"hidden_layers": (16,)}], supplement=True)
    td = res.model.meta["training_data"]
    assert td["weighted"] and td["supplement_rows"]["train"] > 0
    assert td["supplement_rows"]["test"] == td["supplement_rows"]["validation"] == 0
    y, proba, w = test_part(res.model, with_weight=True)
    assert np.array_equal(w, res.test["weight"]) and np.all(w == 1)  # the surveys' own, unweighted test part
    rec = res.test_metrics.set_index("name").loc["catalogue"]
    got = signal_precision_recall(y, proba[:, 0], 0.5)
    assert got["recall"] == pytest.approx(rec["recall"]) and got["w_signal"] == pytest.approx(rec["w_signal"])
    # the training-mix priors are the weighted class mix
    wc = np.sum([td["weighted_class_counts"][p] for p in ("train", "validation", "test")], axis=0)
    assert np.allclose(res.model.training_mix_priors, wc / wc.sum())


def test_the_supplement_is_left_out_unless_asked_for(skies):
    """Code that does not weight (the chapters' quick models, the verification) reads the surveys' own rows with
    weight 1; the supplement and its weights come only with supplement=True."""
    a, _ = skies["with"]
    path = a / "training-sample.fits"
    full = ts.load_labelled_table(path, supplement=True)
    flag = np.asarray(full["SUPPLEMENT"], bool)
    assert flag.any() and (np.asarray(full["WEIGHT"]) < 1).any()
    plain = ts.load_labelled_table(path)
    assert len(plain) == len(full) - flag.sum() and plain.meta["NSUPPEXC"] == flag.sum()
    assert not np.asarray(plain["SUPPLEMENT"], bool).any() and np.all(np.asarray(plain["WEIGHT"]) == 1)
    assert np.array_equal(np.asarray(plain["TARGETID"]), np.asarray(full["TARGETID"])[~flag])
    s = ts.build_training_sample(path)
    assert not s.supplement.any() and np.all(s.weight == 1)
    s_table = ts.build_training_sample(full)  # a Table with a supplement: left out likewise
    assert np.array_equal(s_table.ids, s.ids)
    assert ts.build_training_sample(full, supplement=True).supplement.sum() > 0


def test_supplement_counts_by_redshift_bin(skies):
    a, _ = skies["with"]
    full = ts.load_labelled_table(a / "training-sample.fits", supplement=True)
    edges = [0.0, 0.003, 0.005]
    tab = ts.supplement_counts(full, edges)
    z, sup = np.asarray(full["Z"]), np.asarray(full["SUPPLEMENT"], bool)
    gal = ~np.asarray(full["IS_STAR"], bool)
    near = gal & (z < 0.005)
    assert list(tab["z bin"]) == ["0-0.003", "0.003-0.005"]
    assert tab["survey rows"].sum() == (near & ~sup).sum() and tab["supplement rows"].sum() == (near & sup).sum()
    assert tab["supplement rows"].sum() > 0
    assert tab["weighted count"].sum() == pytest.approx(np.asarray(full["WEIGHT"])[near].sum(), abs=0.02)
