"""The opt-in population of shredded large galaxies of the simulated sky (``simulate --shreds``)."""

from __future__ import annotations

import filecmp

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from dwarflib import datamodel
from dwarflib.cli import main as cli_main
from dwarflib.large_galaxies import LARGE_GALAXY_BITS, SGA_REF_CAT, large_galaxy_flags
from dwarflib.sky.generate import sweep_files, write_simulated_sky
from dwarflib.sky.shreds import HOST_LOGM_MIN, SHREDS_PER_GALAXY

N, AREA, DENSITY = 3000, 2.0, 6.0  # ~12 hosts on 2 deg^2: a sky of a few seconds


def _read(sky):
    """Sweep rows (one table) and truth rows aligned to them (by TARGETID)."""
    sw = np.concatenate([fits.getdata(p, 1) for p in sweep_files(sky)]).view(np.recarray)
    truth = fits.getdata(sky / "truth.fits", 1)
    tid = datamodel.unique_id(sw["RELEASE"], sw["BRICKID"], sw["OBJID"])
    order = np.argsort(truth["TARGETID"])
    idx = order[np.searchsorted(truth["TARGETID"], tid, sorter=order)]
    assert np.array_equal(truth["TARGETID"][idx], tid)
    return sw, truth[idx]


@pytest.fixture(scope="module")
def shred_sky(tmp_path_factory):
    out = tmp_path_factory.mktemp("shreds")
    summary = write_simulated_sky(out, N, seed=5, area_deg2=AREA, progress=False, shreds=DENSITY)
    return out, summary


@pytest.mark.slow
def test_default_sky_unchanged(tmp_path):
    """shreds=0 (the default) writes exactly the files of a sky without the option."""
    write_simulated_sky(tmp_path / "a", N, seed=5, area_deg2=AREA, progress=False)
    write_simulated_sky(tmp_path / "b", N, seed=5, area_deg2=AREA, progress=False, shreds=0.0)
    names = [p.name for p in sweep_files(tmp_path / "a")] + ["truth.fits", "training-sample.fits"]
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", names, shallow=False)
    assert mismatch == [] and errors == [] and len(match) == len(names)
    assert "IS_SHRED" not in fits.getdata(tmp_path / "a" / "truth.fits", 1).names


def test_shreds_present_and_marked_in_truth(shred_sky):
    sky, summary = shred_sky
    sw, truth = _read(sky)
    shred = truth["IS_SHRED"]
    hosts = np.isin(truth["TARGETID"], truth["PARENT_TARGETID"][shred])
    n_host = int(hosts.sum())
    assert n_host >= 3 and summary["shreds"]["n_hosts"] == n_host
    assert summary["shreds"]["n_shreds"] == int(shred.sum())
    assert SHREDS_PER_GALAXY[0] * n_host <= shred.sum() <= SHREDS_PER_GALAXY[1] * n_host
    assert len(sw) == N + n_host + shred.sum()  # the requested sources plus the hosts and their shreds
    # non-shreds point nowhere; each shred's parent is a host: REF_CAT L3, large, massive, same redshift
    assert np.all(truth["PARENT_TARGETID"][~shred] == -1)
    ref = np.char.strip(sw["REF_CAT"].astype(str))
    assert np.all(ref[hosts] == SGA_REF_CAT) and np.all(sw["SHAPE_R"][hosts] > 5.0)
    assert np.all(truth["LOGMSTAR"][hosts] >= HOST_LOGM_MIN) and np.all(truth["Z"][hosts] < 0.01)
    row = {t: i for i, t in enumerate(truth["TARGETID"].tolist())}
    parent = np.array([row[t] for t in truth["PARENT_TARGETID"][shred].tolist()])
    assert np.array_equal(truth["Z"][shred], truth["Z"][parent])
    assert np.array_equal(truth["CLASS"][shred], truth["CLASS"][parent])  # a shred takes its host's class
    assert np.all(sw["FLUX_R"][shred] < sw["FLUX_R"][parent])


def test_large_galaxy_flags_on_shreds(shred_sky):
    sw, truth = _read(shred_sky[0])
    flags, missing = large_galaxy_flags(Table(sw))
    assert "IN_SGA_ELLIPSE" not in missing and "IN_BRIGHTER_REFF" not in missing
    shred = truth["IS_SHRED"]
    hosts = np.isin(truth["TARGETID"], truth["PARENT_TARGETID"][shred])

    def frac(bit, rows):
        return float(np.mean(flags[rows] & (1 << LARGE_GALAXY_BITS[bit]) != 0))

    assert frac("IN_SGA_ELLIPSE", shred) == 1.0  # every shred lies in its host's GALAXY mask
    assert frac("SGA", hosts) == 1.0 and frac("IN_SGA_ELLIPSE", hosts) == 0.0
    assert frac("IN_BRIGHTER_REFF", shred) > 0.5  # inside the measured half-light ellipse of a brighter entry
    assert frac("HAS_SHREDS", hosts) > 0.8


def test_shreds_same_seed_same_files(shred_sky, tmp_path):
    sky, _ = shred_sky
    write_simulated_sky(tmp_path, N, seed=5, area_deg2=AREA, progress=False, shreds=DENSITY)
    names = [p.name for p in sweep_files(sky)] + ["truth.fits", "training-sample.fits"]
    _, mismatch, errors = filecmp.cmpfiles(sky, tmp_path, names, shallow=False)
    assert mismatch == [] and errors == []


@pytest.mark.parametrize("bad", ["-1", "nan", "inf"])
def test_cli_rejects_bad_density(tmp_path, capsys, bad):
    rc = cli_main(["simulate", "--n-sources", "100", "--out", str(tmp_path / "s"), "--no-progress",
                   "--shreds", bad])
    assert rc != 0
    assert "shreds" in capsys.readouterr().err
