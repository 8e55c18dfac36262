"""The Legacy Surveys DR9 sweep/Tractor data model, as far as dwarflib reads and writes it.

Column names, dtypes and units follow https://www.legacysurvey.org/dr9/catalogs/ . Fluxes are in
nanomaggies (an AB magnitude is ``22.5 - 2.5 log10(flux)``), inverse variances in nanomaggies^-2,
sizes in arcsec. The simulated sky writes exactly these columns, so real sweep files and simulated
ones go through the same reader.
"""

from __future__ import annotations

import numpy as np

#: Optical bands (DECam / BASS / MzLS) and unWISE forced-photometry bands used by dwarflib.
OPTICAL_BANDS: tuple[str, ...] = ("G", "R", "Z")
WISE_BANDS: tuple[str, ...] = ("W1", "W2")
BANDS: tuple[str, ...] = OPTICAL_BANDS + WISE_BANDS

#: Tractor morphological types (``TYPE`` column, 3-character strings; "DUP" marks Gaia duplicates).
TRACTOR_TYPES: tuple[str, ...] = ("PSF", "REX", "EXP", "DEV", "SER", "DUP")

#: Pre-DR9 Tractor types (COMP: composite dV + exponential; SIMP: simple galaxy), mapped by ``survey_io``.
PRE_DR9_TYPES: tuple[str, ...] = ("COMP", "SIMP")


def normalised_types(values) -> np.ndarray:
    """Tractor ``TYPE`` values as stripped, upper-case ``str`` (FITS bytes, padding and lower case removed)."""
    t = np.asarray(values)
    if t.dtype.kind == "S":
        t = np.strings.decode(t, "ascii", "replace")
    elif t.dtype.kind != "U":
        t = t.astype(str)
    return np.strings.upper(np.strings.strip(t))


#: DR9 MASKBITS (https://www.legacysurvey.org/dr9/bitmasks/).
MASKBITS: dict[str, int] = {
    "NPRIMARY": 0,
    "BRIGHT": 1,
    "SATUR_G": 2,
    "SATUR_R": 3,
    "SATUR_Z": 4,
    "ALLMASK_G": 5,
    "ALLMASK_R": 6,
    "ALLMASK_Z": 7,
    "WISEM1": 8,
    "WISEM2": 9,
    "BAILOUT": 10,
    "MEDIUM": 11,
    "GALAXY": 12,
    "CLUSTER": 13,
}

#: Fibre diameter of DESI [arcsec] (FIBERFLUX_* is the flux in a 1.5" diameter fibre under 1" seeing).
FIBER_DIAMETER_ARCSEC = 1.5


def _band_columns() -> dict[str, tuple[str, str, str]]:
    cols: dict[str, tuple[str, str, str]] = {}
    for b in BANDS:
        cols[f"FLUX_{b}"] = ("f4", "nanomaggy", f"model flux in {b}")
        cols[f"FLUX_IVAR_{b}"] = ("f4", "1/nanomaggy^2", f"inverse variance of FLUX_{b}; 0 means no data")
        cols[f"MW_TRANSMISSION_{b}"] = ("f4", "", f"Galactic transmission in {b} (SFD98 EBV)")
        cols[f"NOBS_{b}"] = ("i2", "", f"number of images covering the object in {b}")
    for b in OPTICAL_BANDS:
        cols[f"FIBERFLUX_{b}"] = ("f4", "nanomaggy", f"{b} flux in a 1.5 arcsec fibre, 1 arcsec seeing, this object")
        cols[f"FIBERTOTFLUX_{b}"] = ("f4", "nanomaggy", f"{b} flux in a 1.5 arcsec fibre, all objects")
        cols[f"PSFSIZE_{b}"] = ("f4", "arcsec", f"weighted average PSF FWHM in {b}")
        cols[f"PSFDEPTH_{b}"] = ("f4", "1/nanomaggy^2", f"5-sigma point-source depth in {b}, as inverse variance")
        cols[f"GALDEPTH_{b}"] = ("f4", "1/nanomaggy^2", f"5-sigma 0.45 arcsec REX-galaxy depth in {b}, as inverse variance")
    return cols


#: Sweep columns dwarflib reads and the simulated sky writes: name -> (numpy dtype, unit, description).
SWEEP_COLUMNS: dict[str, tuple[str, str, str]] = {
    "RELEASE": ("i2", "", "Legacy Surveys release number (9010/9012 south, 9011 north; DR10: 9999/10000/10300)"),
    "BRICKID": ("i4", "", "brick identifier"),
    "BRICKNAME": ("S8", "", "brick name, e.g. 3301m002"),
    "OBJID": ("i4", "", "object number within the brick"),
    "TYPE": ("S3", "", "Tractor morphological type (PSF, REX, EXP, DEV, SER, DUP)"),
    "RA": ("f8", "deg", "right ascension (ICRS)"),
    "DEC": ("f8", "deg", "declination (ICRS)"),
    "EBV": ("f4", "mag", "Galactic E(B-V) reddening from SFD98"),
    **_band_columns(),
    "SHAPE_R": ("f4", "arcsec", "half-light radius of the galaxy model (>0)"),
    "SHAPE_R_IVAR": ("f4", "1/arcsec^2", "inverse variance of SHAPE_R"),
    "SHAPE_E1": ("f4", "", "ellipticity component 1"),
    "SHAPE_E1_IVAR": ("f4", "", "inverse variance of SHAPE_E1"),
    "SHAPE_E2": ("f4", "", "ellipticity component 2"),
    "SHAPE_E2_IVAR": ("f4", "", "inverse variance of SHAPE_E2"),
    "SERSIC": ("f4", "", "Sersic index (1 for EXP/REX, 4 for DEV, 0 for PSF)"),
    "SERSIC_IVAR": ("f4", "", "inverse variance of SERSIC"),
    "MASKBITS": ("i2", "", "bitwise mask (see MASKBITS); int32 in DR10 files"),
    "FITBITS": ("i2", "", "bitwise fitting flags"),
    "REF_CAT": ("S2", "", "reference catalogue ('G2' Gaia DR2, 'L3' SGA, ...)"),
    "GAIA_PHOT_G_MEAN_MAG": ("f4", "mag", "Gaia G magnitude (0 when not matched)"),
    "PARALLAX": ("f4", "mas", "Gaia parallax (0 when not matched)"),
}

#: DR10 (https://www.legacysurvey.org/dr10/catalogs/) adds the DECam i band to the south processing
#: (RELEASE 9999/10000/10300, :data:`dwarflib.north_south.DR10_SOUTH_RELEASES`) with the same per-band columns as g, r, z.
#: Checked against the stored Legacy Surveys pages (issue #14): https://www.legacysurvey.org/dr10/description/
#: (DR10 reprocesses only the DECam "south", Dec <= 32.375 deg, and is the first release with i-band
#: observations) and https://www.legacysurvey.org/dr10/catalogs/ (south/tractor/... only; MASKBITS is int32
#: in DR10, int16 in DR9: the readers keep the file's integer type, so the wider DR10 mask is read unchanged).
#: The RELEASE values (9999/10000/10300, DECam g, r, i, z) come from the legacysurvey.org source of
#: https://www.legacysurvey.org/release/ (repository legacysurvey/legacysurvey, pages/release.rst, DR10 table,
#: read 2026-12-02; the page marks 10300 as still to be checked). The i-band column names follow the
#: per-band pattern (FLUX_I appears in DR10-derived tables, e.g. the MultimodalUniverse legacysurvey
#: dr10_south_21 set); no stored DR10 data-model page lists them, so they are the pattern, not a quotation.
#: The readers map them like any other column (upper case, units below); the features use g, r, z, W1, W2
#: only, so a model reads the i band only if its ``input_columns`` name it, and a file without them
#: (DR9) given to such a model is an error naming the missing columns (:mod:`dwarflib.survey_io`).
DR10_OPTICAL_BANDS: tuple[str, ...] = ("G", "R", "I", "Z")
I_BAND_COLUMNS: dict[str, tuple[str, str, str]] = {
    "FLUX_I": ("f4", "nanomaggy", "model flux in I (DR10)"),
    "FLUX_IVAR_I": ("f4", "1/nanomaggy^2", "inverse variance of FLUX_I; 0 means no data (DR10)"),
    "MW_TRANSMISSION_I": ("f4", "", "Galactic transmission in I (SFD98 EBV) (DR10)"),
    "NOBS_I": ("i2", "", "number of images covering the object in I (DR10)"),
    "FIBERFLUX_I": ("f4", "nanomaggy", "I flux in a 1.5 arcsec fibre, 1 arcsec seeing, this object (DR10)"),
    "FIBERTOTFLUX_I": ("f4", "nanomaggy", "I flux in a 1.5 arcsec fibre, all objects (DR10)"),
    "PSFSIZE_I": ("f4", "arcsec", "weighted average PSF FWHM in I (DR10)"),
    "PSFDEPTH_I": ("f4", "1/nanomaggy^2", "5-sigma point-source depth in I, as inverse variance (DR10)"),
    "GALDEPTH_I": ("f4", "1/nanomaggy^2", "5-sigma 0.45 arcsec REX-galaxy depth in I, as inverse variance (DR10)"),
}

#: Every column of the data model with its (dtype, unit, description): the DR9 sweep columns and the DR10 i band.
DATAMODEL_COLUMNS: dict[str, tuple[str, str, str]] = {**SWEEP_COLUMNS, **I_BAND_COLUMNS}

#: Columns a catalogue must have for dwarflib features and preselection.
REQUIRED_COLUMNS: tuple[str, ...] = (
    "RELEASE", "BRICKID", "OBJID", "TYPE", "RA", "DEC",
    *(f"FLUX_{b}" for b in BANDS),
    *(f"FLUX_IVAR_{b}" for b in BANDS),
    *(f"MW_TRANSMISSION_{b}" for b in BANDS),
    *(f"NOBS_{b}" for b in OPTICAL_BANDS),
    *(f"FIBERFLUX_{b}" for b in OPTICAL_BANDS),
    "SHAPE_R", "SHAPE_E1", "SHAPE_E2", "SERSIC", "MASKBITS",
)


def sweep_dtype(columns=None) -> np.dtype:
    """Structured numpy dtype of a sweep row restricted to ``columns`` (default: all of SWEEP_COLUMNS)."""
    names = list(SWEEP_COLUMNS) if columns is None else list(columns)
    return np.dtype([(n, SWEEP_COLUMNS[n][0]) for n in names])


#: DESI TARGETID bit layout (desitarget ``targetmask.yaml``, ``targetid_mask``): field -> (first bit, number of
#: bits). OBJID bits 0-21, BRICKID 22-41, RELEASE 42-57; bits 58-62 (MOCK, SKY, GAIADR, reserved) are 0 for
#: Legacy Surveys objects.
TARGETID_LAYOUT: dict[str, tuple[int, int]] = {"OBJID": (0, 22), "BRICKID": (22, 20), "RELEASE": (42, 16)}


def targetid_out_of_range(release, brickid, objid) -> np.ndarray:
    """Per row: True where RELEASE, BRICKID or OBJID is negative or too large for :data:`TARGETID_LAYOUT`."""
    bad = None
    for name, values in (("RELEASE", release), ("BRICKID", brickid), ("OBJID", objid)):
        v = np.asarray(values, dtype=np.int64)
        b = (v < 0) | (v >= (1 << TARGETID_LAYOUT[name][1]))
        bad = b if bad is None else bad | b
    return bad


def unique_id(release, brickid, objid) -> np.ndarray:
    """The DESI TARGETID (int64) of Legacy Surveys objects, bit for bit as desitarget packs it.

    Layout (:data:`TARGETID_LAYOUT`): OBJID bits 0-21, BRICKID 22-41, RELEASE 42-57. Raises ValueError
    (naming the field, the first bad row and the limit) when a field is negative or does not fit its bits:
    such an id would collide with another object's.
    """
    fields = {"RELEASE": np.asarray(release, dtype=np.int64), "BRICKID": np.asarray(brickid, dtype=np.int64),
              "OBJID": np.asarray(objid, dtype=np.int64)}
    out = np.zeros(np.broadcast_shapes(*(v.shape for v in fields.values())), dtype=np.int64)
    for name, v in fields.items():
        shift, nbits = TARGETID_LAYOUT[name]
        bad = (v < 0) | (v >= (1 << nbits))
        if bad.any():
            i = int(np.flatnonzero(bad.reshape(-1))[0])
            raise ValueError(f"{name} = {int(v.reshape(-1)[i])} (row {i}; {int(bad.sum())} rows) does not fit the "
                             f"{nbits} bits of the DESI TARGETID layout (0 <= {name} < {1 << nbits})")
        out |= v << shift
    return out


def decode_targetid(targetid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(RELEASE int16, BRICKID int32, OBJID int32) of DESI TARGETIDs (:data:`TARGETID_LAYOUT`)."""
    t = np.asarray(targetid, dtype=np.int64)
    out = {}
    for name, (shift, nbits) in TARGETID_LAYOUT.items():
        out[name] = (t >> shift) & ((1 << nbits) - 1)
    return out["RELEASE"].astype(np.int16), out["BRICKID"].astype(np.int32), out["OBJID"].astype(np.int32)
