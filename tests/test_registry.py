"""Tests of the real-data registry: hashes, loaders, clear errors for missing and corrupted files."""

from __future__ import annotations

import re

import numpy as np
import pytest
from astropy import units as u
from real_data import HOME, require

from dwarflib import paths, registry

SMALL = "saga_dr3/saga-dr3-tableC1.txt"


@pytest.mark.parametrize("name", sorted(registry.REGISTRY))
def test_every_registered_file_is_present_and_verified(name):
    require(name)
    path = registry.fetch(name)
    assert path.is_file()
    assert registry.file_sha256(path) == registry.REGISTRY[name].sha256


def test_registry_covers_the_data_readme():
    path = paths.data_home() / "README.md"
    if not path.is_file():
        pytest.skip("the data home is not the project's ../shared/data mirror (no README.md)")
    readme = path.read_text()
    # the project mirror holds every registered file (elsewhere a missing file skips the tests that need it)
    assert [n for n in registry.REGISTRY if not (path.parent / n).is_file()] == []
    listed = dict(re.findall(r"\| `([^`]+/[^`]+)` \| [\d,]+ \| ([0-9a-f]{64}) \|", readme))
    assert len(listed) == 30
    assert listed == {n: f.sha256 for n, f in registry.REGISTRY.items()}


def test_catalogue_info_has_provenance_for_every_file():
    info = registry.catalogue_info()
    assert len(info) == len(registry.REGISTRY)
    assert set(info.colnames) >= {"name", "url", "sha256", "citation", "licence"}
    assert all(url.startswith("https://") for url in info["url"])
    assert all(len(s) == 64 for s in info["sha256"])
    assert all(lic.strip() for lic in info["licence"])
    bib = (paths.repo_root() / "book" / "references.bib").read_text()
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    for cite in info["citation"]:
        for key in cite.split(","):
            assert key in keys, f"citation key {key} missing from book/references.bib"


def test_load_desi_edr():
    require("desi_edr_bgs_provabgs/")
    t = registry.load_desi_edr()
    assert len(t) == 112_104
    assert sorted(set(t["ROSETTE"])) == list(registry.DESI_EDR_ROSETTES)
    assert len(np.unique(t["TARGETID"])) == len(t)
    for b in ("G", "R", "Z", "W1", "W2"):
        assert t[f"FLUX_{b}"].unit == u.nanomaggy
        assert np.all(t[f"MW_TRANSMISSION_{b}"] == 1.0)
    assert t["LOGMSTAR"].unit == u.dex(u.solMass)
    assert 0.0 < t["Z"].min() and t["Z"].max() < 0.7
    r = 22.5 - 2.5 * np.log10(np.asarray(t["FLUX_R"], float))
    assert 20.2 < r.max() < 20.31  # SV3 BGS faint limit r < 20.3 (see the load_desi_edr docstring)
    # TARGETID decodes to DR9 releases (9010 south / 9011 north)
    assert set(np.unique(t["RELEASE"])) <= {9010, 9011}
    one = registry.load_desi_edr(rosettes=[3])
    assert set(one["ROSETTE"]) == {3} and 0 < len(one) < len(t)
    with pytest.raises(ValueError, match="rosette 4"):
        registry.load_desi_edr(rosettes=[4])


def test_load_saga():
    require("saga_dr3/")
    hosts = registry.load_saga_hosts()
    sats = registry.load_saga_satellites()
    assert len(hosts) == 101 and len(sats) == 378
    assert sats["rmag"].unit == u.mag
    assert sats["sb"].unit == u.mag / u.arcsec**2
    assert set(sats["HOSTID"]) <= set(hosts["HOSTID"])
    assert np.all((sats["z"] > 0.003) & (sats["z"] < 0.012))


def test_load_elves():
    require("elves_carlsten22/")
    t = registry.load_elves_satellites()
    assert len(t) == 444
    assert t["RAdeg"].unit == u.deg
    conf = registry.load_elves_confirmed_csv()
    hosts = registry.load_elves_hosts_csv()
    assert len(conf) == 251 and len(hosts) == 31
    assert conf["RA"].unit == u.deg and conf["lgM_star"].unit == u.dex(u.solMass)
    assert set(conf["Host"]) <= set(hosts["Host"])


@pytest.mark.parametrize("which", sorted(registry.LVDB_TABLES))
def test_load_lvdb(which):
    require(f"lvdb/{registry.LVDB_TABLES[which]}")
    t = registry.load_lvdb(which)
    assert len(t) > 0 and t["rhalf"].unit == u.arcmin
    if which == "all":
        assert len(t) == 911


def test_load_lvdb_unknown_table():
    with pytest.raises(ValueError, match="unknown LVDB table"):
        registry.load_lvdb("andromeda")


def test_desitarget_file_lists():
    require("desitarget_ls_test_files/")
    sweeps, tractors = registry.sweep_test_files(), registry.tractor_test_files()
    assert [p.name for p in sweeps] == [
        "sweep-310m005-320p000.fits", "sweep-320m005-330p000.fits", "sweep-330m005-340p000.fits"]
    assert [p.name for p in tractors] == ["tractor-3301m002.fits", "tractor-3301m007.fits", "tractor-3303p000.fits"]
    assert len(registry.load_desitarget_targets()) == 1001


def test_unknown_name():
    with pytest.raises(KeyError, match="not a registered"):
        registry.fetch("saga_dr3/saga-dr3-tableC2.txt")


@pytest.fixture
def real_small():
    """The bytes of the real file ``SMALL`` from the data home (before a test points the data home elsewhere)."""
    require(SMALL)
    return (HOME / SMALL).read_bytes()


@pytest.fixture
def empty_home(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.DATA_ENV, str(tmp_path))
    return tmp_path


def _no_network():
    def downloader(url, output_file, pooch_obj, check_only=False):
        raise ConnectionError(f"simulated: no network to reach {url}")
    return downloader


def test_missing_file_without_network_names_file_url_and_env(empty_home, monkeypatch):
    monkeypatch.setattr(registry, "_downloader", _no_network)
    with pytest.raises(registry.DataUnavailableError) as info:
        registry.fetch(SMALL)
    msg = str(info.value)
    assert SMALL in msg and registry.REGISTRY[SMALL].url in msg and "DWARFLIB_DATA" in msg
    assert "ConnectionError" in msg
    with pytest.raises(registry.DataUnavailableError, match="download=False"):
        registry.fetch(SMALL, download=False)
    # and through a loader
    with pytest.raises(FileNotFoundError, match="saga-dr3-tableC3"):
        registry.load_saga_satellites()


def test_corrupted_local_copy_is_rejected_and_left_alone(real_small, empty_home):
    dst = empty_home / SMALL
    dst.parent.mkdir(parents=True)
    data = bytearray(real_small)
    data[100] ^= 0x01
    dst.write_bytes(bytes(data))
    with pytest.raises(registry.DataIntegrityError, match="does not match"):
        registry.fetch(SMALL)
    assert dst.read_bytes() == bytes(data)


def test_good_copy_in_dwarflib_data_is_used(real_small, empty_home):
    dst = empty_home / SMALL
    dst.parent.mkdir(parents=True)
    dst.write_bytes(real_small)
    assert registry.fetch(SMALL) == dst
    assert len(registry.load_saga_hosts()) == 101


def _mirror_downloader(real_small, corrupt=False):
    """A downloader that 'downloads' the real bytes of ``SMALL`` (no network), optionally corrupting them."""
    def downloader(url, output_file, pooch_obj, check_only=False):
        assert url == registry.REGISTRY[SMALL].url, url
        data = real_small
        if corrupt:
            data = data[:-10]
        with open(output_file, "wb") as fh:
            fh.write(data)
    return downloader


def test_download_goes_to_data_home_and_is_verified(real_small, empty_home, monkeypatch):
    monkeypatch.setattr(registry, "_downloader", lambda: _mirror_downloader(real_small))
    path = registry.fetch(SMALL)
    assert path == empty_home / SMALL and registry.file_sha256(path) == registry.REGISTRY[SMALL].sha256


def test_download_with_wrong_hash_fails(real_small, empty_home, monkeypatch):
    monkeypatch.setattr(registry, "_downloader", lambda: _mirror_downloader(real_small, corrupt=True))
    with pytest.raises(registry.DataIntegrityError, match="failed verification"):
        registry.fetch(SMALL)
    assert not (empty_home / SMALL).exists()


@pytest.mark.remote_data
def test_download_from_original_url(empty_home):
    path = registry.fetch(SMALL)
    assert registry.file_sha256(path) == registry.REGISTRY[SMALL].sha256
