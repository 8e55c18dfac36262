"""Tests of dwarflib.explain: finding an object by id or position and explaining its (non-)selection."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table
from sky_fixtures import split_sweeps

from dwarflib import survey_io
from dwarflib.catalogue import classify_files, load_catalogue
from dwarflib.datamodel import unique_id
from dwarflib.explain import explain_object, explain_row, find_objects
from dwarflib.pipeline import load_model


@pytest.fixture(scope="module")
def setup(small_sky, small_model, tmp_path_factory):
    model_dir = small_model
    (f,) = split_sweeps(small_sky, tmp_path_factory.mktemp("sweeps"), n_files=1, n_rows=4000)
    out = tmp_path_factory.mktemp("cat")
    classify_files(model_dir, [f], out, keep_all=True, workers=1, progress=False)
    return load_model(model_dir), f, load_catalogue(out)


def test_explained_p_signal_matches_the_catalogue(setup):
    model, f, cat = setup
    i = int(np.argmax(cat["P_SIGNAL"].to_numpy()))
    tid = int(cat["TARGETID"].to_numpy()[i])  # int64 column (a row Series would turn it into float64)
    (e,) = explain_object(model, [f], targetid=tid)
    assert e.preselected and e.reason == "" and e.targetid == tid
    assert e.p_signal == pytest.approx(float(cat["P_SIGNAL"].to_numpy()[i]), abs=1e-6)
    assert e.selected["catalogue"] == (e.p_signal >= model.catalogue_threshold)
    assert set(e.features["feature"]) == set(model.features)
    text = e.to_text()
    assert "preselection: PASSED" in text and str(e.targetid) in text


def test_rejected_object_reports_its_cut(setup):
    model, f, cat = setup
    t = survey_io.read_catalogue(f, flags=False)
    res = model.preselection.apply(t)
    mask, reason = np.asarray(res.mask, bool), np.asarray(res.reason).astype(str)
    i = int(np.flatnonzero(~mask)[0])
    tid = int(unique_id(t["RELEASE"][i], t["BRICKID"][i], t["OBJID"][i]))
    assert tid not in set(cat["TARGETID"].tolist())
    (e,) = explain_object(model, [f], targetid=tid)
    assert not e.preselected and e.reason == reason[i]
    assert not any(e.selected.values())
    assert "REJECTED" in e.to_text() and reason[i] in e.to_text()


def test_occlusion_contribution_is_the_change_of_p_signal(setup):
    model, f, cat = setup
    t = survey_io.read_catalogue(f, flags=False)
    mask = np.asarray(model.preselection.apply(t).mask, bool)
    row = t[int(np.flatnonzero(mask)[0]):][:1]
    e = explain_row(model, row)
    X = model.feature_array(row)[0]
    pct = model.meta["feature_percentiles"]
    j = 0
    name = model.features[j]
    x = X.copy()
    x[j] = pct["all"][name][pct["percentiles"].index(50.0)]
    expected = e.p_signal - float(model.predict_proba(x[None, :])[0, model.signal_index])
    got = float(e.features.set_index("feature").loc[name, "delta_p"])
    assert got == pytest.approx(expected, abs=1e-6)


def test_positional_match_with_radius(setup, tmp_path):
    model, f, cat = setup
    t = survey_io.read_catalogue(f, flags=False)
    i = 10
    ra, dec = float(t["RA"][i]), float(t["DEC"][i])
    dec_off = dec + 0.5 / 3600.0  # 0.5 arcsec north
    found = find_objects([f], ra=ra, dec=dec_off, radius_arcsec=1.0)
    assert int(found["OBJID"][0]) == int(t["OBJID"][i])
    assert found["SEPARATION_ARCSEC"][0] == pytest.approx(0.5, abs=1e-3)
    with pytest.raises(LookupError, match="within 0.3 arcsec"):
        find_objects([f], ra=ra, dec=dec_off, radius_arcsec=0.3)
    exps = explain_object(model, [f], ra=ra, dec=dec_off, radius_arcsec=1.0)
    assert exps[0].separation_arcsec == pytest.approx(0.5, abs=1e-3)


def test_bad_arguments(setup, tmp_path):
    model, f, _ = setup
    with pytest.raises(ValueError, match="either targetid or both ra and dec"):
        find_objects([f], targetid=1, ra=1.0, dec=1.0)
    with pytest.raises(ValueError, match="out of range"):
        find_objects([f], ra=400.0, dec=0.0)
    with pytest.raises(LookupError, match="TARGETID 12345"):
        find_objects([f], targetid=12345)
    with pytest.raises(ValueError, match="exactly one row"):
        explain_row(model, Table(survey_io.read_catalogue(f, flags=False)[:2]))
