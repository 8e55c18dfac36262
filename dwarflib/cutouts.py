"""Looking at candidates: Legacy Surveys viewer/cutout URLs, rendered model images, and ``dwarflib cutouts``.

* :func:`viewer_url` / :func:`cutout_url`: the Legacy Surveys sky viewer and JPEG cutout service for a
  position (layer ``ls-dr9``, 0.262 arcsec/pixel, the DR9 pixel scale).
* :func:`render_model_image`: an image of a sweep row from its Tractor model, for the simulated sky (whose
  positions are not real sky): a Sersic profile (SHAPE_R [arcsec], SHAPE_E1/E2, SERSIC; a point source
  when SERSIC or SHAPE_R is 0) with the total flux FLUX_<band> [nanomaggies], convolved with a Gaussian
  PSF of FWHM PSFSIZE_<band> [arcsec] (1.2 arcsec when missing or not positive), with Gaussian pixel noise
  whose level reproduces the catalogue's flux error: a profile-weighted flux from pixels of noise sigma
  has variance sigma^2 / sum(P^2) for the normalised (PSF-convolved) profile P, so sigma =
  FLUX_IVAR^-1/2 sqrt(sum P^2). Pixels are 0.262 arcsec; the image is in nanomaggies per pixel.
* :func:`cutouts_page`: an HTML page, one card per candidate (TARGETID, RA/DEC, P_SIGNAL, every class
  probability, the explanation, the viewer link and an image): on real data an ``<img>`` loading the
  cutout service (shown when the page is opened online); on the simulated sky (sweep headers with
  ``SIMSEED``) the rendered model as an embedded PNG, so the page works offline.

The explanation: with the model and the sweep files, the page calls :func:`dwarflib.explain.explain_row`
(preselection outcome and the three features with the largest occlusion contribution ``delta_p``) for each
shown candidate; without them it shows the feature values the catalogue carries, and says so on the page.
"""

from __future__ import annotations

import base64
import html
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits
from matplotlib.figure import Figure
from scipy.ndimage import gaussian_filter
from scipy.special import gamma, gammaincinv

from dwarflib import survey_io
from dwarflib.catalogue_files import expand_inputs, read_manifest
from dwarflib.conventions import axis_ratio
from dwarflib.crossmatch import read_table
from dwarflib.datamodel import unique_id
from dwarflib.explain import explain_row
from dwarflib.large_galaxies import position_angle_deg
from dwarflib.pipeline import load_model

#: DR9 pixel scale [arcsec/pixel].
PIXSCALE = 0.262
#: Legacy Surveys viewer layer of DR9.
LAYER = "ls-dr9"
VIEWER = "https://www.legacysurvey.org/viewer"
#: PSF FWHM used when PSFSIZE_<band> is missing or not positive [arcsec].
DEFAULT_PSF_FWHM = 1.2
#: Default cutout side [pixels] (about 26 arcsec).
DEFAULT_SIZE = 100
#: Columns the renderer reads from a sweep row (per band: FLUX, FLUX_IVAR, PSFSIZE).
RENDER_COLUMNS = ("SHAPE_R", "SHAPE_E1", "SHAPE_E2", "SERSIC", "FLUX_G", "FLUX_R", "FLUX_Z",
                  "FLUX_IVAR_G", "FLUX_IVAR_R", "FLUX_IVAR_Z", "PSFSIZE_R")


def viewer_url(ra, dec, zoom: int = 16, layer: str = LAYER):
    """Legacy Surveys viewer URL(s) centred on (ra, dec) [deg]; a str, or an array of str for arrays."""
    ra, dec = np.asarray(ra, float), np.asarray(dec, float)
    out = np.array([f"{VIEWER}?ra={a:.6f}&dec={d:.6f}&layer={layer}&zoom={int(zoom)}"
                    for a, d in zip(ra.ravel(), dec.ravel(), strict=True)], dtype=object)
    return str(out[0]) if ra.ndim == 0 else out


def cutout_url(ra, dec, size: int = DEFAULT_SIZE, pixscale: float = PIXSCALE, layer: str = LAYER):
    """Legacy Surveys JPEG cutout URL(s) of ``size`` x ``size`` pixels of ``pixscale`` [arcsec] at (ra, dec) [deg]."""
    ra, dec = np.asarray(ra, float), np.asarray(dec, float)
    out = np.array([f"{VIEWER}/cutout.jpg?ra={a:.6f}&dec={d:.6f}&layer={layer}&pixscale={pixscale:g}&size={int(size)}"
                    for a, d in zip(ra.ravel(), dec.ravel(), strict=True)], dtype=object)
    return str(out[0]) if ra.ndim == 0 else out


def _value(row, name: str, default=np.nan) -> float:
    try:
        v = float(np.asarray(row[name]).ravel()[0])
    except (KeyError, ValueError, IndexError):
        return default
    return v


def render_model_image(row, band: str = "R", size: int | None = None, pixscale: float = PIXSCALE,
                       noise: bool = True, seed: int = 0, oversample: int = 5) -> np.ndarray:
    """Model image of one sweep row (module docstring) [nanomaggies/pixel], ``size`` x ``size`` pixels.

    ``row``: a mapping or 1-row table with SHAPE_R, SHAPE_E1, SHAPE_E2, SERSIC, FLUX_<band>,
    FLUX_IVAR_<band> and optionally PSFSIZE_<band>. ``size`` defaults to 8 half-light radii plus 3 PSF
    FWHM on each side (at least 32, at most 256 pixels). Same ``seed``, same noise.
    """
    b = band.upper()
    flux = _value(row, f"FLUX_{b}")
    if not np.isfinite(flux):
        raise ValueError(f"FLUX_{b} is missing or not finite ({flux}): nothing to render")
    r_e = max(_value(row, "SHAPE_R", 0.0), 0.0)
    n = _value(row, "SERSIC", 0.0)
    fwhm = _value(row, f"PSFSIZE_{b}", DEFAULT_PSF_FWHM)
    fwhm = fwhm if np.isfinite(fwhm) and fwhm > 0 else DEFAULT_PSF_FWHM
    point = not (r_e > 0 and np.isfinite(n) and n > 0)
    if size is None:
        half = (0.0 if point else 8.0 * r_e) + 3.0 * fwhm
        size = int(np.clip(2 * np.ceil(half / pixscale) + 1, 32, 256))
    m = int(oversample)
    fine = pixscale / m
    c = (size * m - 1) / 2.0
    y, x = np.mgrid[0:size * m, 0:size * m]
    dx = (c - x) * fine  # East to the left, as on the sky
    dy = (y - c) * fine  # North up
    if point:
        img = np.zeros((size * m, size * m))
        img[int(round(c)), int(round(c))] = flux
    else:
        e1, e2 = _value(row, "SHAPE_E1", 0.0), _value(row, "SHAPE_E2", 0.0)
        q = float(np.clip(axis_ratio(e1, e2), 0.05, 1.0))
        pa = np.radians(position_angle_deg(e1, e2))
        major = dx * np.sin(pa) + dy * np.cos(pa)
        minor = dx * np.cos(pa) - dy * np.sin(pa)
        r = np.hypot(major, minor / q)
        bn = gammaincinv(2 * n, 0.5)
        # total flux of a Sersic ellipse: 2 pi q r_e^2 I_e n e^b_n b_n^(-2n) Gamma(2n)
        i_e = flux / (2 * np.pi * q * r_e**2 * n * np.exp(bn) * bn ** (-2 * n) * gamma(2 * n))
        img = i_e * np.exp(-bn * ((r / r_e) ** (1.0 / n) - 1.0)) * fine**2
    sigma_fine = fwhm / 2.3548200450309493 / fine
    img = gaussian_filter(img, sigma_fine, mode="constant", truncate=5.0)
    img = img.reshape(size, m, size, m).sum(axis=(1, 3))
    if noise:
        ivar = _value(row, f"FLUX_IVAR_{b}", 0.0)
        if ivar > 0 and abs(flux) > 0:
            p = img / img.sum()
            sigma_pix = np.sqrt((p**2).sum()) / np.sqrt(ivar)
            img = img + np.random.default_rng(seed).normal(0.0, sigma_pix, img.shape)
    return img


def image_png(img: np.ndarray, title: str = "") -> bytes:
    """PNG bytes of an image with an asinh stretch (matplotlib, no display needed)."""
    fig = Figure(figsize=(2.2, 2.2), dpi=80)
    ax = fig.add_axes((0, 0, 1, 1))
    scale = max(float(np.percentile(np.abs(img), 99.5)), 1e-12)
    ax.imshow(np.arcsinh(img / (0.05 * scale)), origin="lower", cmap="gray_r", interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.text(0.03, 0.97, title, transform=ax.transAxes, va="top", fontsize=7, color="tab:red")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _is_simulated(paths: Sequence[Path]) -> bool:
    for p in paths:
        with fits.open(p, memmap=True) as hdul:
            if any("SIMSEED" in h.header for h in hdul[:2]):
                return True
    return False


def sweep_rows(sweep_files, targetids, columns: Sequence[str]) -> dict[int, object]:
    """The sweep rows (1-row astropy Tables, with SOURCE_FILE) of the given TARGETIDs, one pass over the files."""
    want = {int(t) for t in targetids}
    found: dict[int, object] = {}
    for path in expand_inputs(sweep_files):
        for chunk in survey_io.iter_catalogue(path, columns=list(dict.fromkeys(columns)), flags=False):
            tid = unique_id(chunk["RELEASE"], chunk["BRICKID"], chunk["OBJID"])
            for i in np.flatnonzero(np.isin(tid, list(want))):
                row = chunk[i:i + 1]
                row["SOURCE_FILE"] = str(path)
                found[int(tid[i])] = row
    return found


def select_candidates(cat: pd.DataFrame, top: int | None = None, ids: Sequence[int] | None = None) -> pd.DataFrame:
    """The ``top`` rows by P_SIGNAL (ties by TARGETID), or the rows of ``ids`` in that order (KeyError
    naming the ids that are not in the catalogue)."""
    if ids is not None:
        ids = [int(i) for i in ids]
        by_id = cat.set_index("TARGETID", drop=False)
        missing = [i for i in ids if i not in by_id.index]
        if missing:
            raise KeyError(f"TARGETID(s) {missing[:10]} not in the catalogue ({len(missing)} missing)")
        return by_id.loc[ids].reset_index(drop=True)
    order = cat.sort_values(["P_SIGNAL", "TARGETID"], ascending=[False, True], kind="mergesort")
    return order.head(top if top is not None else len(cat)).reset_index(drop=True)


def _explanation_html(exp) -> str:
    head = "preselection: passed" if exp.preselected else f"preselection: rejected by {html.escape(exp.reason)}"
    feats = exp.features.head(3)
    items = "".join(f"<li>{html.escape(str(f.feature))} = {f.value:.3g} (signal median {f.signal_median:.3g}): "
                    f"delta_p {f.delta_p:+.3f}</li>" for f in feats.itertuples())
    return f"<div class='expl'>{head}<ul>{items}</ul></div>"


def _carried_html(row: dict, feature_cols: Sequence[str]) -> str:
    vals = ", ".join(f"{html.escape(c)} {float(row[c]):.3g}" for c in feature_cols if c in row)
    return f"<div class='expl'>catalogue features: {vals}</div>"


def cutouts_page(candidates: pd.DataFrame, class_names: Sequence[str], *, rows: dict | None = None,
                 simulated: bool = False, explanations: dict | None = None, feature_cols: Sequence[str] = (),
                 title: str = "dwarflib candidates", size: int = DEFAULT_SIZE, seed: int = 0) -> str:
    """The HTML page (module docstring) for the ``candidates`` rows (TARGETID, RA, DEC, P_SIGNAL, P_CLASS<k>).

    ``rows``: TARGETID -> sweep row, needed for rendered images (``simulated``). ``explanations``:
    TARGETID -> :class:`dwarflib.explain.Explanation`; rows without one show their ``feature_cols``.
    """
    rows = rows or {}
    explanations = explanations or {}
    what_img = ("rendered Tractor model (simulated sky, r band, 0.262 arcsec/pixel, PSF and noise from the "
                "catalogue)" if simulated else "Legacy Surveys DR9 cutout, loaded from legacysurvey.org when "
                "the page is opened online")
    what_expl = ("dwarflib.explain occlusion contributions (top 3 features by |delta_p|)" if explanations
                 else "the feature values the catalogue carries (no model/sweeps given: no per-object explanation)")
    cards = []
    for k, c in enumerate(candidates.to_dict("records")):  # records keep int64 TARGETIDs exact
        tid = int(c["TARGETID"])
        ra, dec = float(c["RA"]), float(c["DEC"])
        vurl = viewer_url(ra, dec)
        if simulated:
            if tid not in rows:
                raise KeyError(f"TARGETID {tid}: no sweep row to render (give the sweep files it comes from)")
            png = base64.b64encode(image_png(render_model_image(rows[tid], "R", seed=seed + k))).decode("ascii")
            img = f"<img class='stamp' alt='model {tid}' src='data:image/png;base64,{png}'>"
        else:
            img = (f"<img class='stamp' alt='cutout {tid}' loading='lazy' width='{size}' height='{size}' "
                   f"src='{html.escape(cutout_url(ra, dec, size=size))}'>")
        probs = "".join(f"<tr><td>{html.escape(name)}</td><td>{float(c[f'P_CLASS{j}']):.3f}</td></tr>"
                        for j, name in enumerate(class_names))
        expl = (_explanation_html(explanations[tid]) if tid in explanations else _carried_html(c, feature_cols))
        cards.append(
            f"<div class='card' data-targetid='{tid}'>"
            f"<a href='{html.escape(vurl)}'>{img}</a>"
            f"<div class='id'>#{k + 1} TARGETID {tid}</div>"
            f"<div>RA {ra:.5f} DEC {dec:.5f} deg</div>"
            f"<div class='p'>p_signal = <b>{float(c['P_SIGNAL']):.3f}</b></div>"
            f"<table class='probs'>{probs}</table>{expl}"
            f"<div><a href='{html.escape(vurl)}'>Legacy Surveys viewer</a></div></div>")
    style = ("body{font-family:sans-serif} .grid{display:flex;flex-wrap:wrap;gap:8px} "
             ".card{border:1px solid #ccc;padding:6px;width:230px;font-size:12px} .stamp{width:176px} "
             ".probs td{padding:0 4px}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p>{len(cards)} candidates. Images: {what_img}. Explanation: {what_expl}. "
            f"{'Simulated sky: the positions are not real sky.' if simulated else 'Real data.'}</p>"
            f"<div class='grid'>{''.join(cards)}</div></body></html>")


def _class_names(cat_dir: Path, n: int) -> list[str]:
    import pyarrow.parquet as pq

    recs = read_manifest(cat_dir)
    for rec in recs.values():
        meta = pq.read_schema(rec["outputs"]["parquet"]).metadata or {}
        if b"dwarflib.model" in meta:
            return list(json.loads(meta[b"dwarflib.model"])["class_names"])
    return [f"class {k}" for k in range(n)]


def write_cutouts(catalogue, out_html, *, top: int | None = 50, ids: Sequence[int] | None = None,
                  sweep_files=None, model_dir=None, explain: bool = True, size: int = DEFAULT_SIZE,
                  seed: int = 0) -> dict:
    """Write the page for a catalogue (a ``dwarflib classify`` folder or a table file). Returns a summary.

    ``sweep_files`` (the catalogue's inputs) are read once for the shown rows: needed to render the
    simulated sky and, with ``model_dir``, to call :func:`dwarflib.explain.explain_row` (``explain``).
    """
    cat = read_table(catalogue)
    for col in ("TARGETID", "RA", "DEC", "P_SIGNAL"):
        if col not in cat.columns:
            raise KeyError(f"{catalogue}: column {col} missing (not a dwarflib catalogue?)")
    n_cls = sum(1 for c in cat.columns if c.startswith("P_CLASS"))
    names = _class_names(Path(catalogue), n_cls) if Path(catalogue).is_dir() else [f"class {k}" for k in range(n_cls)]
    cand = select_candidates(cat, top=top, ids=ids)
    simulated = False
    rows: dict = {}
    explanations: dict = {}
    model = None
    if model_dir is not None:
        model = load_model(model_dir)
        names = list(model.scheme.names)
    if sweep_files is not None:
        paths = expand_inputs(sweep_files)
        simulated = _is_simulated(paths)
        cols = ["RELEASE", "BRICKID", "OBJID", "RA", "DEC"]
        if simulated:
            cols += list(RENDER_COLUMNS)
        if model is not None and explain:
            cols += list(model.input_columns)
        rows = sweep_rows(paths, cand["TARGETID"], cols)
        missing = [int(t) for t in cand["TARGETID"] if int(t) not in rows]
        if missing:
            raise KeyError(f"TARGETID(s) {missing[:10]} of the catalogue are not in the sweep files given")
        if model is not None and explain:
            explanations = {tid: explain_row(model, row) for tid, row in rows.items()}
    feature_cols = [c for c in cat.columns if c not in ("RELEASE", "BRICKID", "OBJID", "TARGETID", "RA", "DEC",
                                                         "P_SIGNAL", "FLAG", "QUALITY_FLAGS")
                    and not c.startswith("P_CLASS")]
    page = cutouts_page(cand, names, rows=rows, simulated=simulated, explanations=explanations,
                        feature_cols=feature_cols, size=size, seed=seed,
                        title=f"dwarflib candidates: {Path(catalogue).name}")
    out = Path(out_html)
    out.write_text(page, encoding="utf-8")
    return {"out": str(out), "n": len(cand), "simulated": simulated, "explained": len(explanations)}


def add_cli(subparsers) -> None:
    p = subparsers.add_parser(
        "cutouts", help="an HTML page to look at the top candidates (images, probabilities, explanation)",
        description="Write an HTML page with the top N candidates (or the given TARGETIDs): p_signal, class "
                    "probabilities, the explanation and an image (Legacy Surveys cutout for real data; a rendered "
                    "model image, embedded, for the simulated sky).")
    p.add_argument("catalogue", metavar="CATALOGUE", help="a `dwarflib classify` output folder or a table file")
    p.add_argument("--out", required=True, metavar="HTML", help="output page")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--top", type=int, default=50, help="the N candidates with the highest p_signal (default 50)")
    g.add_argument("--ids", type=int, nargs="+", metavar="TARGETID", help="these candidates instead")
    p.add_argument("--sweeps", nargs="+", default=None, metavar="SWEEP_FILE",
                   help="the catalogue's sweep files (to render the simulated sky and to explain)")
    p.add_argument("--model", dest="model_dir", default=None, metavar="MODEL_DIR",
                   help="model folder: per-object explanation with dwarflib.explain (needs --sweeps)")
    p.add_argument("--no-explain", dest="explain", action="store_false",
                   help="show the catalogue's feature values instead of calling dwarflib.explain")
    p.add_argument("--size", type=int, default=DEFAULT_SIZE, help="cutout size [pixels of 0.262 arcsec]")
    p.set_defaults(func=_cli_cutouts)


def _cli_cutouts(args) -> int:
    if args.model_dir is not None and args.sweeps is None and args.explain:
        print("dwarflib cutouts: error: --model needs --sweeps (the rows to explain)", file=sys.stderr)
        return 2
    try:
        s = write_cutouts(args.catalogue, args.out, top=None if args.ids else args.top, ids=args.ids,
                          sweep_files=args.sweeps, model_dir=args.model_dir, explain=args.explain, size=args.size)
    except (FileNotFoundError, ValueError, KeyError, OSError) as exc:
        print(f"dwarflib cutouts: error: {exc}", file=sys.stderr)
        return 1
    print(f"{s['n']} candidates written to {s['out']} ({'simulated sky: rendered model images' if s['simulated'] else 'cutout-service images'}; "
          f"{s['explained']} explained with dwarflib.explain)")
    return 0
