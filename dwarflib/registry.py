"""The real external catalogues: name -> original URL, sha256, citation and licence, and their loaders.

Every file the project reads from outside is registered here (see ``../shared/data/README.md``).
Files are fetched with :mod:`pooch` from :func:`dwarflib.paths.data_home`:

* On the project machines ``data_home()`` is the read-only ``../shared/data`` mirror (same sub-folder
  layout as the registry keys), so nothing is downloaded.
* Elsewhere files are downloaded from their **original URL** into ``$DWARFLIB_DATA`` (if set) or the user
  cache (``pooch.os_cache("dwarflib")``).
* The sha256 of every file is verified on **every** access, local mirror included. A local copy whose hash
  differs raises :class:`DataIntegrityError` (it is never silently replaced); a file that is missing and
  cannot be downloaded raises :class:`DataUnavailableError` naming the file, its URL and ``DWARFLIB_DATA``.

Loaders return :class:`astropy.table.Table` objects with units:

=============================  ========================================================================
``load_desi_edr()``            DESI EDR BGS + PROVABGS masses, 10 SV3 rosettes, DR9 column names
``load_saga_hosts()``          SAGA DR3 table C1 (101 hosts), CDS reader
``load_saga_satellites()``     SAGA DR3 table C3 (378 confirmed satellites), CDS reader
``load_elves_satellites()``    ELVES table 9 (444 satellites and candidates), CDS reader with ReadMe
``load_elves_confirmed_csv()`` ELVES compiled CSV of 251 confirmed satellites
``load_elves_hosts_csv()``     ELVES compiled CSV of 31 hosts
``load_lvdb(which)``           Local Volume Database dwarf tables
``sweep_test_files()``         paths of 3 real (DR8-era) sweep files from desitarget's tests
``tractor_test_files()``       paths of 3 real (DR8-era) Tractor files from desitarget's tests
``catalogue_info()``           name / URL / sha256 / citation / licence of every file (provenance page)
=============================  ========================================================================

Citations are BibTeX keys of ``book/references.bib``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pooch
from astropy import units as u
from astropy.table import Column, Table, vstack

from dwarflib import paths
from dwarflib.conventions import file_sha256
from dwarflib.datamodel import decode_targetid

__all__ = [
    "CatalogueFile",
    "DataIntegrityError",
    "DataUnavailableError",
    "REGISTRY",
    "DESI_EDR_ROSETTES",
    "LVDB_TABLES",
    "catalogue_info",
    "decode_targetid",
    "fetch",
    "file_sha256",
    "load_desi_edr",
    "load_elves_confirmed_csv",
    "load_elves_hosts_csv",
    "load_elves_satellites",
    "load_lvdb",
    "load_saga_hosts",
    "load_saga_satellites",
    "load_desitarget_targets",
    "sweep_test_files",
    "tractor_test_files",
]


class DataUnavailableError(FileNotFoundError):
    """A registered file is not in the data home and could not be downloaded."""


class DataIntegrityError(ValueError):
    """A local copy of a registered file does not have the registered sha256."""


@dataclass(frozen=True)
class CatalogueFile:
    """One registered file.

    ``name`` is the path relative to the data home (``folder/file``), ``url`` the original public source,
    ``citation`` BibTeX keys (comma separated) of ``book/references.bib``.
    """

    name: str
    url: str
    sha256: str
    citation: str
    licence: str
    description: str


# --------------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------------
_EDR_REPO = "https://raw.githubusercontent.com/ValeriaTorresG/SimpleStellarMassModel/a2ec0054b2af8866023b748ada284fd71764b77d/data"
_MESSERE_REPO = (
    "https://raw.githubusercontent.com/michael-messere/satellite_quench_anisotropy/"
    "b3817e29338d15570baa048b66a7940536212746/data"
)
_LVDB_REPO = "https://raw.githubusercontent.com/apace7/local_volume_database/24faf851cee237ce28132e7f4a2cf1dfd9b14114"
# desitarget 4.4.0 (the PyPI release the local copies come from); the sha256 pins the exact bytes.
_DESITARGET_REPO = "https://raw.githubusercontent.com/desihub/desitarget/4.4.0/py/desitarget/test/t"
_CDS_ELVES = "https://cdsarc.cds.unistra.fr/ftp/J/ApJ/933/47"

_EDR_CITE = "desi2023edr,hahn2023,dey2019"
_EDR_LIC = "DESI EDR public data (DESI data policy, CC BY 4.0) + PROVABGS VAC; source repository states no licence"
_SAGA_CITE = "mao2024"
_SAGA_LIC = "published survey table (SAGA DR3); cite Mao et al. 2024"
_ELVES_CITE = "carlsten2022"
_ELVES_LIC = "published survey table (ELVES, VizieR J/ApJ/933/47); cite Carlsten et al. 2022"
_LVDB_CITE = "pace2024"
_DT_CITE = "myers2023,dey2019"

#: DESI EDR SV3 rosettes present in the EDR/PROVABGS table.
DESI_EDR_ROSETTES: tuple[int, ...] = (3, 6, 7, 11, 12, 13, 14, 15, 18, 19)

_EDR_SHA = {
    11: "a13a3145e4a46e43eb65980386e25505fff1e3de03b6e7c39513718202d5f755",
    12: "ce8c92172b380ec76cb5581d159da29750b778bb0065cc2af9ea64dc0ad8006a",
    13: "d7a473198b526561495430dec195d6c4b0b40d0d6cca0949ae270a526cdd6e37",
    14: "8e422d42753fbe9914ff6cd98f7849ec70cab42f60258de8bf8125f1914e9259",
    15: "69ef43341f8a38ff39968a1843c1fbe68bd0f121b3a352a0a9e20551fbd303c3",
    18: "f63672d144a6e00866245a0e3a54fa78e9c3ce741fb0d719477be47bd0baf79c",
    19: "2b4eda98addae293d2ae009766387c1dcad9735eb41a5166c27b86e17831ec5d",
    3: "f90eade1357d5484a2d1b80e07aeb4ec0fd15442c6fc5ec34667199bfb48d76e",
    6: "9d536d3549895386479f346db754fb2dbf4919b120743c599743429db3104dd7",
    7: "ef8c7af508ff4e26869b3fcc021f7eeb2b55477af69a2b782ebca484dd9f55a4",
}

_DT_FILES = {
    "sweep-310m005-320p000.fits": "8cead9ac59ed72c005594e3cd575dc39f9efd819a22c52291dd0fcd974770c66",
    "sweep-320m005-330p000.fits": "23e06849fb497d2c182fc56b3213a28dbd8a2884aa023313f3c86e8b97b273d0",
    "sweep-330m005-340p000.fits": "4e51b3a169bd010af8c2a055c657e8c7cfdf090b45771cc4b31ec928968c1961",
    "tractor-3301m002.fits": "00d6ba15ea55176d7814a20b7e047a08b2354ca4afc5ea04adbd198fa75c16f1",
    "tractor-3301m007.fits": "bc92885cdba391bd8bd2e9b2b6703463d021919863e4b9eb7714af13d4f177ee",
    "tractor-3303p000.fits": "fb2ceb70e379947852be9fe79c9d420ae70fa881799e4ddc2589b890e22f094a",
    "targets.fits": "8c8566fb5fb63a4ba17c64ad537acbe633ce7a49c88476ac47ea2352444d46b3",
}

#: LVDB table names accepted by :func:`load_lvdb` -> file name.
LVDB_TABLES: dict[str, str] = {
    "all": "dwarf_all.csv",
    "mw": "dwarf_mw.csv",
    "m31": "dwarf_m31.csv",
    "local_field": "dwarf_local_field.csv",
    "local_field_distant": "dwarf_local_field_distant.csv",
}
_LVDB_SHA = {
    "dwarf_all.csv": "c5c029dce9970e7b70fc329cc46dbf2ed02b308901579a3f2aa756887d542b26",
    "dwarf_local_field.csv": "d9ea1a0cf93e2eb1e7f3ed29590211a310c6c6065f064c7dd158793de1b285db",
    "dwarf_local_field_distant.csv": "659f7165ebf34c67e795d38d2046f2b4485363ab034297fe6c6922ca0d15e21b",
    "dwarf_m31.csv": "eb5a6cedf4a585cf30cc8f34cc34eab76d91ad26031435980eb05449325f1b35",
    "dwarf_mw.csv": "6970dea6a1c29f9eeb42f3f894dccf7cfc0483e44ddb51de9fa0ecc90b18fa5f",
}


def _build_registry() -> dict[str, CatalogueFile]:
    files: list[CatalogueFile] = []
    for rosette in DESI_EDR_ROSETTES:
        fname = f"rosette{rosette}.csv"
        files.append(CatalogueFile(
            f"desi_edr_bgs_provabgs/{fname}", f"{_EDR_REPO}/{fname}", _EDR_SHA[rosette], _EDR_CITE, _EDR_LIC,
            f"DESI EDR SV3 rosette {rosette} BGS: DR9 dereddened g r z W1 W2 fluxes, spec-z, PROVABGS log M*",
        ))
    for fname, sha in _DT_FILES.items():
        kind = "target rows (no shapes, no redshifts)" if fname.startswith("targets") else "rows (pre-DR9 shape columns)"
        files.append(CatalogueFile(
            f"desitarget_ls_test_files/{fname}", f"{_DESITARGET_REPO}/{fname}", sha, _DT_CITE,
            "BSD-3-Clause (desitarget)", f"real Legacy Surveys DR7/DR8-era {kind} from desitarget 4.4.0 tests",
        ))
    files += [
        CatalogueFile("elves_carlsten22/table9.dat", f"{_CDS_ELVES}/table9.dat",
                      "f8db0bb009cb3d9b4ba7a6e7d4175f8a7884ba7d251484f6bb17a28053f3e579", _ELVES_CITE, _ELVES_LIC,
                      "ELVES satellite photometry, 444 rows (VizieR J/ApJ/933/47 table9; local copy via "
                      "github.com/virajvman/desi_dwarfs data/elves, commit df9686db)"),
        CatalogueFile("elves_carlsten22/ReadMe", f"{_CDS_ELVES}/ReadMe",
                      "2e8a2e7450ef46c9ac8bc702c7b72306efb70a3d51dd3c2ccc70cb1b0891b825", _ELVES_CITE, _ELVES_LIC,
                      "CDS ReadMe (byte-by-byte description) of the ELVES VizieR tables"),
        CatalogueFile("elves_carlsten22/Carlsten22_ELVES_confirmed_sats.csv",
                      f"{_MESSERE_REPO}/elves/Carlsten22_ELVES_confirmed_sats.csv",
                      "2e20ed21940c84fcd16971ba8e82d80070961cfb1c8ab53a8f59b4f62c93f56e", _ELVES_CITE, _ELVES_LIC,
                      "ELVES confirmed satellites (251), compiled CSV"),
        CatalogueFile("elves_carlsten22/Carlsten22_ELVES_host.csv", f"{_MESSERE_REPO}/elves/Carlsten22_ELVES_host.csv",
                      "f2dd74bfce1e7a79d6d7bcbcf3668de3cae19a60cb896f070279e7a0017e184b", _ELVES_CITE, _ELVES_LIC,
                      "ELVES hosts (31), compiled CSV"),
        CatalogueFile("saga_dr3/saga-dr3-tableC1.txt", "https://sagasurvey.org/data/saga-dr3-tableC1.txt",
                      "278239bbdbebb6093555b65fd91dbc3ec6bebf225c81c035ca0e8e8ae0a595bf", _SAGA_CITE, _SAGA_LIC,
                      "SAGA DR3 table C1: 101 Milky-Way-mass hosts (CDS/MRT)"),
        CatalogueFile("saga_dr3/saga-dr3-tableC3.txt", "https://sagasurvey.org/data/saga-dr3-tableC3.txt",
                      "14c0841d13b270468dee202f3246dd671f1e1ce05f83c66d33ff41c291d75f8b", _SAGA_CITE, _SAGA_LIC,
                      "SAGA DR3 table C3: 378 confirmed satellites with Legacy-Surveys photometry (CDS/MRT)"),
        CatalogueFile("saga_dr3/saga_host_compre.csv", f"{_MESSERE_REPO}/saga/saga_host_compre.csv",
                      "7a049da2de3519075512ee259387f9fed252cb7180f17f01c51ded5e8a4a87ad", _SAGA_CITE, _SAGA_LIC,
                      "SAGA DR3 host list with halo-mass estimates, compiled CSV"),
        CatalogueFile("lvdb/LICENSE_CC0.txt", f"{_LVDB_REPO}/LICENSE",
                      "a2010f343487d3f7618affe54f789f5487602331c0a8d03f49e9a7c547cf0499", _LVDB_CITE, "CC0-1.0",
                      "Local Volume Database licence text"),
    ]
    for fname, sha in _LVDB_SHA.items():
        files.append(CatalogueFile(
            f"lvdb/{fname}", f"{_LVDB_REPO}/data/{fname}", sha, _LVDB_CITE, "CC0-1.0",
            f"Local Volume Database dwarf table {fname}",
        ))
    return {f.name: f for f in files}


#: Every registered file, keyed by its path relative to the data home.
REGISTRY: dict[str, CatalogueFile] = _build_registry()


# --------------------------------------------------------------------------------------------------
# Fetching
# --------------------------------------------------------------------------------------------------
def _pooch(data_home: Path) -> pooch.Pooch:
    """A pooch over ``data_home`` that knows every registered file (created per call: cheap, and the
    data home may change, e.g. through ``DWARFLIB_DATA``)."""
    return pooch.create(
        path=data_home,
        base_url="",
        registry={name: f"sha256:{f.sha256}" for name, f in REGISTRY.items()},
        urls={name: f.url for name, f in REGISTRY.items()},
        allow_updates=False,
    )


def _downloader():
    """The downloader handed to pooch (a hook so that tests can simulate a machine without network)."""
    return pooch.HTTPDownloader(progressbar=False, timeout=60)


def fetch(name: str, download: bool = True) -> Path:
    """Local path of the registered file ``name`` (e.g. ``"saga_dr3/saga-dr3-tableC3.txt"``), hash verified.

    If the file is in the data home its sha256 is checked; otherwise it is downloaded from its original
    URL (unless ``download=False``) and pooch verifies the hash of the download.

    Raises
    ------
    KeyError
        ``name`` is not registered.
    DataIntegrityError
        The local copy has a different sha256 than the registry (it is left untouched).
    DataUnavailableError
        The file is missing and could not be downloaded (no network, ``download=False``, unwritable data home).
    """
    if name not in REGISTRY:
        raise KeyError(f"{name!r} is not a registered catalogue file; known: {sorted(REGISTRY)}")
    entry = REGISTRY[name]
    home = paths.data_home()
    local = home / name
    if local.is_file():
        got = file_sha256(local)
        if got != entry.sha256:
            raise DataIntegrityError(
                f"{local}: sha256 {got} does not match the registered {entry.sha256}. The file is corrupted or a "
                f"different version; delete it to re-download it from {entry.url} (data home: {home}, set by "
                f"{paths.DATA_ENV} or the ../shared/data mirror)."
            )
        return local
    hint = (
        f"Registered file {name!r} is not in the data home {home} and could not be obtained from {entry.url}. "
        f"Download it there yourself (sha256 {entry.sha256}), or point the environment variable {paths.DATA_ENV} "
        f"at a directory that holds it (same sub-folder layout)."
    )
    if not download:
        raise DataUnavailableError(hint + " (download=False)")
    try:
        return Path(_pooch(home).fetch(name, downloader=_downloader()))
    except ValueError as exc:  # pooch: hash of the downloaded file does not match
        raise DataIntegrityError(f"download of {name!r} from {entry.url} failed verification: {exc}") from exc
    except Exception as exc:  # network errors (requests), permission errors, HTTP errors
        raise DataUnavailableError(f"{hint} Cause: {type(exc).__name__}: {exc}") from exc


def catalogue_info() -> Table:
    """Provenance table of every registered file: name, url, sha256, citation (BibTeX keys), licence, description."""
    rows = list(REGISTRY.values())
    return Table(
        {
            "name": [f.name for f in rows],
            "url": [f.url for f in rows],
            "sha256": [f.sha256 for f in rows],
            "citation": [f.citation for f in rows],
            "licence": [f.licence for f in rows],
            "description": [f.description for f in rows],
        }
    )


# --------------------------------------------------------------------------------------------------
# Loaders
# --------------------------------------------------------------------------------------------------
_NMGY = u.nanomaggy
_LOGMSUN = u.dex(u.solMass)

def _read_csv(path: Path) -> Table:
    import pandas as pd

    return Table.from_pandas(pd.read_csv(path))


def load_desi_edr(rosettes=None) -> Table:
    """DESI EDR (SV3 One-Percent survey) Bright Galaxy Survey galaxies with PROVABGS stellar masses.

    All requested rosettes (default: the 10 of :data:`DESI_EDR_ROSETTES`, 112,104 rows) concatenated, columns
    renamed to DR9 names:

    ``TARGETID`` (DESI TARGETID), ``RELEASE``, ``BRICKID``, ``OBJID`` (decoded from TARGETID), ``ROSETTE``,
    ``FLUX_G``, ``FLUX_R``, ``FLUX_Z``, ``FLUX_W1``, ``FLUX_W2`` [nanomaggy], ``Z`` (spectroscopic redshift),
    ``LOGMSTAR`` [dex(Msun), PROVABGS best fit], ``MW_TRANSMISSION_{G,R,Z,W1,W2}`` = 1.

    The source fluxes (``FLUX_*_DERED``) are **already corrected for Galactic extinction**; the
    ``MW_TRANSMISSION_*`` columns are set to exactly 1.0 so that the usual DR9 formula
    ``22.5 - 2.5 log10(FLUX / MW_TRANSMISSION)`` gives the dereddened magnitudes without correcting twice.
    There are no flux errors, sizes, fibre fluxes or types in this table.

    The source describes the rows as BGS_BRIGHT (r < 19.5), but the dereddened r magnitudes of these rows
    reach r = 20.30 and 43 % are fainter than 19.5 (measured 2026-11-23), i.e. the table appears to include
    the SV3 BGS_FAINT targets (19.5 < r < 20.3) as well.
    """
    rosettes = DESI_EDR_ROSETTES if rosettes is None else tuple(int(r) for r in rosettes)
    parts = []
    for r in rosettes:
        if r not in DESI_EDR_ROSETTES:
            raise ValueError(f"rosette {r} is not in the DESI EDR table; available: {DESI_EDR_ROSETTES}")
        path = fetch(f"desi_edr_bgs_provabgs/rosette{r}.csv")
        t = _read_csv(path)
        expected = {"TARGET_ID", "PROVABGS_LOGMSTAR_BF", "Z"} | {f"FLUX_{b}_DERED" for b in ("G", "R", "Z", "W1", "W2")}
        missing = expected - set(t.colnames)
        if missing:
            raise ValueError(f"{path}: missing columns {sorted(missing)}")
        t["ROSETTE"] = np.full(len(t), r, dtype=np.int16)
        parts.append(t)
    t = vstack(parts, join_type="exact", metadata_conflicts="silent")
    out = Table()
    out["TARGETID"] = Column(np.asarray(t["TARGET_ID"], dtype=np.int64), description="DESI TARGETID")
    rel, brick, obj = decode_targetid(out["TARGETID"])
    out["RELEASE"], out["BRICKID"], out["OBJID"] = rel, brick, obj
    out["ROSETTE"] = t["ROSETTE"]
    for b in ("G", "R", "Z", "W1", "W2"):
        out[f"FLUX_{b}"] = Column(np.asarray(t[f"FLUX_{b}_DERED"], dtype=np.float32), unit=_NMGY,
                                  description=f"{b} flux, Galactic extinction removed")
    for b in ("G", "R", "Z", "W1", "W2"):
        out[f"MW_TRANSMISSION_{b}"] = Column(np.ones(len(t), dtype=np.float32),
                                             description="1: FLUX_* are already dereddened")
    out["Z"] = Column(np.asarray(t["Z"], dtype=float), description="DESI spectroscopic redshift")
    out["LOGMSTAR"] = Column(np.asarray(t["PROVABGS_LOGMSTAR_BF"], dtype=float), unit=_LOGMSUN,
                             description="PROVABGS best-fit log10 stellar mass")
    out.meta["source"] = "DESI EDR SV3 BGS x PROVABGS (Hahn et al. 2023); fluxes already dereddened"
    return out


def _read_cds(path: Path, readme: Path | None = None) -> Table:
    from astropy.io import ascii

    kwargs = {"format": "cds"}
    if readme is not None:
        kwargs["readme"] = str(readme)
    return ascii.read(str(path), **kwargs)


def load_saga_hosts() -> Table:
    """SAGA DR3 table C1: 101 Milky-Way-mass hosts (astropy CDS reader; units from the MRT header)."""
    return _read_cds(fetch("saga_dr3/saga-dr3-tableC1.txt"))


def load_saga_satellites() -> Table:
    """SAGA DR3 table C3: 378 confirmed satellites.

    Photometry derived from DESI Legacy Imaging, extinction corrected: ``rmag`` [mag], ``gr`` [mag],
    ``rmag-fiber`` [mag, 1.5 arcsec fibre], ``sb`` [mag/arcsec^2, effective surface brightness], ``ba``,
    ``Sersic``; ``z``; ``log(M*)`` [dex(Msun)].
    """
    return _read_cds(fetch("saga_dr3/saga-dr3-tableC3.txt"))


def load_elves_satellites() -> Table:
    """ELVES table 9 (Carlsten et al. 2022): 444 satellites and candidates, read with the CDS ReadMe.

    Columns include ``gmag``, ``rimag`` (r or i, see ``Filt``) [mag], ``mu0V`` [mag/arcsec^2, central V
    surface brightness], ``re`` [pc], ``logMs`` [dex(Msun)], ``Conf`` (confirmation status).
    """
    readme = fetch("elves_carlsten22/ReadMe")
    return _read_cds(fetch("elves_carlsten22/table9.dat"), readme=readme)


_UNIT_SUFFIX = re.compile(r"^(?P<name>.+?)\((?P<unit>[^()]+)\)$")


def _split_unit_names(t: Table) -> Table:
    """Turn ``RA(deg)``-style column names into ``RA`` with unit deg (ELVES compiled CSVs)."""
    for name in list(t.colnames):
        m = _UNIT_SUFFIX.match(name)
        if m:
            t.rename_column(name, m["name"])
            t[m["name"]].unit = u.Unit(m["unit"])
    return t


def load_elves_confirmed_csv() -> Table:
    """ELVES compiled CSV of 251 confirmed satellites: Host, Sat_name, RA, DEC [deg], D_SBF, D_TRGB [Mpc],
    Vel [km/s], Rproj [kpc], ``ETG?``, M_g [mag], lgM_star [dex(Msun)]."""
    t = _split_unit_names(_read_csv(fetch("elves_carlsten22/Carlsten22_ELVES_confirmed_sats.csv")))
    t["M_g"].unit = u.mag
    t["lgM_star"].unit = _LOGMSUN
    return t


def load_elves_hosts_csv() -> Table:
    """ELVES compiled CSV of the 31 hosts: Dist [Mpc], Vel [km/s], lmstar, lmhalo [dex(Msun)], R200 [kpc], ..."""
    t = _read_csv(fetch("elves_carlsten22/Carlsten22_ELVES_host.csv"))
    for col, unit in {"Dist": u.Mpc, "Vel": u.km / u.s, "lmstar": _LOGMSUN, "lmhalo": _LOGMSUN,
                      "Rcover": u.kpc, "R200": u.kpc, "Vesc(R200)": u.km / u.s}.items():
        if col in t.colnames:
            t[col].unit = unit
    return t


#: Units of the LVDB columns used by the project (LVDB documentation).
_LVDB_UNITS = {
    "ra": u.deg, "dec": u.deg, "ll": u.deg, "bb": u.deg,
    "rhalf": u.arcmin, "rhalf_em": u.arcmin, "rhalf_ep": u.arcmin, "position_angle": u.deg,
    "distance_modulus": u.mag, "apparent_magnitude_v": u.mag, "M_V": u.mag, "M_V_em": u.mag, "M_V_ep": u.mag,
    "vlos_systemic": u.km / u.s, "vlos_sigma": u.km / u.s, "velocity_gsr": u.km / u.s, "velocity_lg": u.km / u.s,
    "pmra": u.mas / u.yr, "pmdec": u.mas / u.yr,
    "distance": u.kpc, "distance_em": u.kpc, "distance_ep": u.kpc, "distance_gc": u.kpc, "distance_m31": u.kpc,
    "distance_lg": u.kpc, "distance_host": u.kpc,
    "rhalf_physical": u.pc, "rhalf_sph_physical": u.pc,
    "surface_brightness_rhalf": u.mag / u.arcsec**2,
    "mass_stellar": _LOGMSUN,
}


def load_lvdb(which: str = "all") -> Table:
    """Local Volume Database (Pace 2024) dwarf table ``which`` (one of :data:`LVDB_TABLES`), with units.

    ``rhalf`` [arcmin, major axis], ``distance`` [kpc], ``M_V`` [mag], ``surface_brightness_rhalf``
    [mag/arcsec^2], ``rhalf_physical`` [pc], ``mass_stellar`` [dex(Msun), from M_V].
    """
    if which not in LVDB_TABLES:
        raise ValueError(f"unknown LVDB table {which!r}; choose one of {sorted(LVDB_TABLES)}")
    t = _read_csv(fetch(f"lvdb/{LVDB_TABLES[which]}"))
    for col, unit in _LVDB_UNITS.items():
        if col in t.colnames:
            t[col].unit = unit
    return t


def _desitarget_paths(prefix: str) -> list[Path]:
    return [fetch(f"desitarget_ls_test_files/{f}") for f in sorted(_DT_FILES) if f.startswith(prefix)]


def sweep_test_files() -> list[Path]:
    """Paths of the 3 real sweep files (6 rows each, DR8-era schema) from desitarget's tests, hash verified."""
    return _desitarget_paths("sweep-")


def tractor_test_files() -> list[Path]:
    """Paths of the 3 real Tractor files (6 rows each, DR8-era schema) from desitarget's tests, hash verified."""
    return _desitarget_paths("tractor-")


def load_desitarget_targets() -> Table:
    """desitarget's ``targets.fits``: 1,001 target rows (FLUX_*, MW_TRANSMISSION_*, RA, DEC; no shapes)."""
    return Table.read(fetch("desitarget_ls_test_files/targets.fits"), hdu=1)
