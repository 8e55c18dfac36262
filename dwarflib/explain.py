"""Why was this object (not) selected?

For one object of a sweep file, given by its id (TARGETID packed from RELEASE/BRICKID/OBJID, see
:func:`dwarflib.datamodel.unique_id`) or by position (astropy ``SkyCoord`` cone of ``radius`` arcsec),
:func:`explain_object` reports

1. the **preselection** outcome and, for a rejected object, the cut that removed it;
2. its class probabilities, ``p_signal`` and where it falls against the model's thresholds;
3. each **feature** next to the signal class's distribution in the training part (2.5, 16, 50, 84,
   97.5 percentiles stored in ``model.json``) and the approximate percentile of the object's value;
4. the **contribution of each feature to p_signal**, by occlusion: the feature is replaced by a
   baseline and the network re-evaluated, all other features unchanged,

   * ``delta_p`` = p_signal(object) - p_signal(feature set to the median of the whole training part):
     how much the object's actual value of this feature raises (> 0) or lowers (< 0) p_signal compared
     with a typical object;
   * ``p_if_signal_median`` = p_signal with the feature set to the signal-class median: what the
     object would score if only this feature looked like a typical local dwarf;
   * the same two numbers for whole feature groups (all the features of a group replaced together),
     which is more meaningful for strongly correlated features (magnitude, surface brightness, size).

Occlusion measures the network's response one feature at a time around this object; it is exact
for what it says (re-evaluation, no approximation) but the replaced points can lie off the data
manifold when features are correlated, which the group version mitigates. Contributions do not sum
to p_signal (the network is not additive).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dwarflib import survey_io
from dwarflib.catalogue_files import expand_inputs
from dwarflib.datamodel import decode_targetid, unique_id
from dwarflib.options import positive_float
from dwarflib.pipeline import CatalogueModel, load_model
from dwarflib.training import PERCENTILES

DEFAULT_RADIUS_ARCSEC = 1.0


def find_objects(sweep_files, targetid: int | None = None, ra: float | None = None, dec: float | None = None,
                 radius_arcsec: float = DEFAULT_RADIUS_ARCSEC, columns: Sequence[str] | None = None,
                 chunk_rows: int = 200_000):
    """Rows of ``sweep_files`` matching a TARGETID or lying within ``radius_arcsec`` of (ra, dec) [deg].

    Returns an astropy Table with the sweep columns plus ``SOURCE_FILE``, ``TARGETID`` and
    ``SEPARATION_ARCSEC`` (NaN for an id match), sorted by separation. Streams the files in chunks.
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from astropy.table import vstack

    by_id = targetid is not None
    if by_id == (ra is not None or dec is not None):
        raise ValueError("give either targetid or both ra and dec")
    if not by_id and (ra is None or dec is None):
        raise ValueError("a positional search needs both ra and dec [deg]")
    if by_id:
        fields = decode_targetid(int(targetid)) if 0 <= int(targetid) < 2**63 else None
        if fields is None or int(unique_id(*fields)) != int(targetid):
            raise ValueError(f"TARGETID {targetid} is not a Legacy Surveys DESI TARGETID (RELEASE bits 42-57, "
                             "BRICKID 22-41, OBJID 0-21, nothing above)")
    else:
        if not (0 <= ra < 360 and -90 <= dec <= 90):
            raise ValueError(f"ra={ra}, dec={dec} out of range (deg)")
        if radius_arcsec <= 0:
            raise ValueError(f"radius must be > 0 arcsec, got {radius_arcsec}")
        centre = SkyCoord(ra * u.deg, dec * u.deg)
        rdeg = radius_arcsec / 3600.0
    found = []
    for path in expand_inputs(sweep_files):
        for chunk in survey_io.iter_catalogue(path, chunk_rows=chunk_rows, columns=columns):
            if by_id:
                hit = np.ones(len(chunk), bool)  # field by field: a row whose fields overflow the id matches none
                for name, value in zip(("RELEASE", "BRICKID", "OBJID"), fields, strict=True):
                    hit &= np.asarray(chunk[name], np.int64) == int(value)
                sep = np.full(int(hit.sum()), np.nan)
            else:
                d = np.asarray(chunk["DEC"], float)
                near = np.abs(d - dec) <= rdeg
                hit = np.zeros(len(chunk), bool)
                sep = np.zeros(0)
                if near.any():
                    idx = np.flatnonzero(near)
                    c = SkyCoord(np.asarray(chunk["RA"], float)[idx] * u.deg, d[idx] * u.deg)
                    s = centre.separation(c).to_value(u.arcsec)
                    inside = s <= radius_arcsec
                    hit[idx[inside]] = True
                    sep = s[inside]
            if hit.any():
                sub = chunk[hit]
                sub["SOURCE_FILE"] = str(path)
                sub["TARGETID"] = unique_id(sub["RELEASE"], sub["BRICKID"], sub["OBJID"])
                sub["SEPARATION_ARCSEC"] = sep
                found.append(sub)
    if not found:
        what = f"TARGETID {targetid}" if by_id else f"(ra, dec) = ({ra}, {dec}) deg within {radius_arcsec} arcsec"
        raise LookupError(f"no object with {what} in the given sweep files")
    out = vstack(found, metadata_conflicts="silent")
    if not by_id:
        out.sort("SEPARATION_ARCSEC")
    return out


def _percentile_of(value: float, qs: Sequence) -> str:
    """Approximate percentile of ``value`` within a distribution given by its stored percentiles."""
    if not np.isfinite(value) or qs is None or any(q is None for q in qs):
        return "n/a"
    q = np.asarray(qs, float)
    if value < q[0]:
        return f"< {PERCENTILES[0]:g}"
    if value > q[-1]:
        return f"> {PERCENTILES[-1]:g}"
    if np.all(np.diff(q) > 0):
        return f"{np.interp(value, q, PERCENTILES):.0f}"
    return f"{PERCENTILES[0]:g}-{PERCENTILES[-1]:g}"


@dataclass
class Explanation:
    """Why one object was (not) selected; see the module docstring. ``to_text()`` formats it."""

    targetid: int
    ra: float
    dec: float
    source_file: str
    separation_arcsec: float
    preselected: bool
    reason: str
    probabilities: dict[str, float]
    p_signal: float
    thresholds: dict[str, float]
    selected: dict[str, bool]
    features: pd.DataFrame
    groups: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_text(self) -> str:
        lines = [f"object TARGETID {self.targetid}  RA {self.ra:.6f}  DEC {self.dec:.6f} deg  "
                 f"in {Path(self.source_file).name}"
                 + ("" if not np.isfinite(self.separation_arcsec)
                    else f"  ({self.separation_arcsec:.2f} arcsec from the requested position)")]
        if self.preselected:
            lines.append("preselection: PASSED")
        else:
            lines.append(f"preselection: REJECTED by '{self.reason}' -- the network is never applied to it in "
                         "the catalogue; the probabilities below are shown for information only")
        lines.append(f"p_signal = {self.p_signal:.4f}")
        for name, thr in self.thresholds.items():
            verdict = "selected" if self.selected[name] else "not selected"
            lines.append(f"  {name:<12s} threshold {thr:.3f}: {verdict}")
        lines.append("class probabilities: " + ", ".join(f"{k} {v:.3f}" for k, v in self.probabilities.items()))
        lines.append("")
        lines.append("features against the signal class (training part) and occlusion contributions to p_signal:")
        cols = ["feature", "value", "signal_p16", "signal_median", "signal_p84", "signal_percentile",
                "delta_p", "p_if_signal_median"]
        lines.append(self.features[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        if len(self.groups):
            lines.append("")
            lines.append("feature groups replaced together:")
            lines.append(self.groups.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        lines.append("")
        lines.append("delta_p = p_signal - p_signal(feature set to the training-sample median): > 0 pushes towards "
                     "signal. p_if_signal_median = p_signal with the feature set to the signal-class median.")
        return "\n".join(lines)


def explain_row(model, row_table) -> Explanation:
    """Explain one row (a 1-row astropy Table in sweep format) with a loaded :class:`CatalogueModel`."""
    if len(row_table) != 1:
        raise ValueError(f"explain_row needs exactly one row, got {len(row_table)}")
    kept, reason, _, _, _ = model.apply_chunk(row_table)  # the catalogue's verdict on the row
    X = model.feature_array(row_table)[0]  # also for a rejected row (shown for information)
    pct = model.meta["feature_percentiles"]
    mid = pct["percentiles"].index(50.0)
    sig = pct["by_class"][str(model.signal_index)]
    base = np.array([_nan(pct["all"][f][mid]) for f in model.features], np.float32)
    sig_med = np.array([_nan(sig[f][mid]) for f in model.features], np.float32)
    nf = len(model.features)

    groups = {g: [model.features.index(f) for f in cols if f in model.features]
              for g, cols in (model.meta.get("feature_groups_members") or {}).items()}
    groups = {g: idx for g, idx in groups.items() if idx}
    batch = [X]
    for j in range(nf):
        for ref in (base, sig_med):
            x = X.copy()
            x[j] = ref[j]
            batch.append(x)
    for idx in groups.values():
        for ref in (base, sig_med):
            x = X.copy()
            x[idx] = ref[idx]
            batch.append(x)
    P = model.predict_proba(np.vstack(batch))
    ps = P[:, model.signal_index]
    p0 = float(ps[0])
    rows = []
    for j, f in enumerate(model.features):
        qs = sig[f]
        rows.append({
            "feature": f, "value": float(X[j]),
            "signal_p16": _nan(qs[1]), "signal_median": _nan(qs[2]), "signal_p84": _nan(qs[3]),
            "signal_percentile": _percentile_of(float(X[j]), qs),
            "all_median": float(base[j]),
            "delta_p": p0 - float(ps[1 + 2 * j]),
            "p_if_signal_median": float(ps[2 + 2 * j]),
        })
    feats = pd.DataFrame(rows).sort_values("delta_p", key=np.abs, ascending=False, ignore_index=True)
    off = 1 + 2 * nf
    grows = [{"group": g, "n_features": len(idx), "delta_p": p0 - float(ps[off + 2 * i]),
              "p_if_signal_median": float(ps[off + 2 * i + 1])} for i, (g, idx) in enumerate(groups.items())]
    gdf = pd.DataFrame(grows)
    if len(gdf):
        gdf = gdf.sort_values("delta_p", key=np.abs, ascending=False, ignore_index=True)
    tid = int(unique_id(row_table["RELEASE"], row_table["BRICKID"], row_table["OBJID"])[0])
    thresholds = dict(model.thresholds)
    return Explanation(
        targetid=tid, ra=float(row_table["RA"][0]), dec=float(row_table["DEC"][0]),
        source_file=str(row_table["SOURCE_FILE"][0]) if "SOURCE_FILE" in row_table.colnames else "",
        separation_arcsec=(float(row_table["SEPARATION_ARCSEC"][0])
                           if "SEPARATION_ARCSEC" in row_table.colnames else float("nan")),
        preselected=bool(kept[0]), reason=str(reason[0]),
        probabilities={name: float(P[0, k]) for k, name in enumerate(model.scheme.names)},
        p_signal=p0, thresholds=thresholds,
        selected={k: bool(kept[0]) and p0 >= t for k, t in thresholds.items()},
        features=feats, groups=gdf)


def _nan(v) -> float:
    return float("nan") if v is None else float(v)


def explain_object(model, sweep_files, targetid: int | None = None, ra: float | None = None,
                   dec: float | None = None, radius_arcsec: float = DEFAULT_RADIUS_ARCSEC) -> list[Explanation]:
    """Explain every object matching ``targetid`` or the cone (ra, dec, radius_arcsec) [deg, arcsec].

    ``model`` is a model folder or a loaded :class:`dwarflib.pipeline.CatalogueModel`. Returns one
    :class:`Explanation` per match (closest first). Raises LookupError when nothing matches.
    """
    if not isinstance(model, CatalogueModel):
        model = load_model(model)
    rows = find_objects(sweep_files, targetid=targetid, ra=ra, dec=dec, radius_arcsec=radius_arcsec,
                        columns=model.input_columns)
    return [explain_row(model, rows[i:i + 1]) for i in range(len(rows))]


def add_cli(subparsers) -> None:
    p = subparsers.add_parser(
        "explain", help="why was this object (not) selected?",
        description="Preselection outcome, features against the signal class, and the occlusion "
                    "contribution of each feature to p_signal, for an object given by id or position.")
    p.add_argument("model_dir", metavar="MODEL_DIR", help="folder written by `dwarflib train`")
    p.add_argument("sweep_files", metavar="SWEEP_FILE", nargs="+", help="sweep FITS files to search")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--targetid", type=int, help="TARGETID (RELEASE/BRICKID/OBJID packed as in DESI)")
    g.add_argument("--ra", type=float, help="right ascension [deg] (with --dec)")
    p.add_argument("--dec", type=float, help="declination [deg] (with --ra)")
    p.add_argument("--radius", type=positive_float, default=DEFAULT_RADIUS_ARCSEC,
                   help=f"match radius [arcsec] (default {DEFAULT_RADIUS_ARCSEC})")
    p.set_defaults(func=_cli_explain)


def _cli_explain(args) -> int:
    import sys

    if args.ra is not None and args.dec is None:
        print("dwarflib explain: error: --ra needs --dec", file=sys.stderr)
        return 2
    if args.ra is None and args.dec is not None:
        print("dwarflib explain: error: --dec needs --ra", file=sys.stderr)
        return 2
    try:
        exps = explain_object(args.model_dir, args.sweep_files, targetid=args.targetid, ra=args.ra,
                              dec=args.dec, radius_arcsec=args.radius)
    except (LookupError, FileNotFoundError, ValueError) as exc:
        print(f"dwarflib explain: error: {exc}", file=sys.stderr)
        return 1
    if args.ra is not None:
        print(f"{len(exps)} object(s) within {args.radius} arcsec of RA {args.ra} DEC {args.dec} deg")
    for e in exps:
        print(e.to_text())
        print()
    return 0
