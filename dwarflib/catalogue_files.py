"""The files of a catalogue folder (see :mod:`dwarflib.catalogue`): output names, the manifest, the
expansion of input arguments into sweep files, and the readers of a finished catalogue.

Output names: ``<name>`` is the input's file name without ``.fits``, unless another input path with the
same name is classified in this run or is listed in the manifest of an earlier run into ``out_dir``
(DR9 ``north/`` and ``south/`` sweeps share names): then ``<name>-<hash of the input path>``
(:func:`output_stems`). An input listed in the manifest keeps its names. No output may be an input
(:func:`check_outputs`), and folders and globs never yield the package's own outputs as inputs
(:func:`expand_inputs`). :func:`load_catalogue` refuses a manifest in which two inputs share an output.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd
from astropy.io import fits

MANIFEST_NAME = "manifest.jsonl"
TMP_PREFIX = ".tmp-"
#: Output kinds and their file-name suffixes (after the stem); FITS outputs end in ``-<kind>.fits``.
OUTPUT_KINDS = ("candidates", "all")
REJECTED_SUFFIX = "-rejected.parquet"


def output_paths(out_dir, stem: str, keep_all: bool) -> dict[str, Path]:
    """Final output paths of one input file: ``{'parquet': ..., 'fits': ..., 'rejected': ...}``."""
    kind = OUTPUT_KINDS[1] if keep_all else OUTPUT_KINDS[0]
    out_dir = Path(out_dir)
    return {"parquet": out_dir / f"{stem}-{kind}.parquet", "fits": out_dir / f"{stem}-{kind}.fits",
            "rejected": out_dir / f"{stem}{REJECTED_SUFFIX}"}


def default_stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".fz", ".fits", ".fit"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


def path_stem(path: Path) -> str:
    """The stem of an input whose name is shared by another input path: name stem + hash of the path."""
    return f"{default_stem(path)}-{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"


def record_stem(rec: dict) -> str:
    """Output stem of a manifest record (older records have no ``stem``: read it off the Parquet name)."""
    if rec.get("stem"):
        return rec["stem"]
    name = Path(rec["outputs"]["parquet"]).name
    for kind in OUTPUT_KINDS:
        if name.endswith(f"-{kind}.parquet"):
            return name[: -len(f"-{kind}.parquet")]
    raise ValueError(f"manifest record of {rec['input']}: cannot tell the output stem of {name}")


def output_stems(paths: Sequence[Path], records: dict[str, dict] | None = None) -> list[str]:
    """Output stems of resolved input ``paths``, unique per input path across runs.

    ``records`` are the manifest records (input path -> record) of earlier runs that stay in the
    manifest. An input with a record keeps its stem. Otherwise the stem is the file name's
    (:func:`default_stem`) when no other input path, in ``paths`` or in ``records``, has the same name
    stem and no record uses it; else the name stem plus a hash of the path (DR9 north/south share names).
    """
    records = records or {}
    users: dict[str, set[str]] = defaultdict(set)
    for p in paths:
        users[default_stem(p)].add(str(p))
    for inp in records:
        users[default_stem(Path(inp))].add(inp)
    taken = {record_stem(rec) for inp, rec in records.items()}
    out = []
    for p in paths:
        if str(p) in records:
            out.append(record_stem(records[str(p)]))
            continue
        s = default_stem(p)
        out.append(s if users[s] == {str(p)} and s not in taken else path_stem(p))
    return out


def check_outputs(planned: dict[str, dict[str, Path]], inputs: Iterable[str]) -> None:
    """Refuse (ValueError) an output path that is an input path or the output of another input.

    ``planned`` maps each input path to its outputs (kind -> path); ``inputs`` are every input path of
    the catalogue (this run's and the manifest's).
    """
    inputs = {str(Path(p).resolve()) for p in inputs}
    owner: dict[str, str] = {}
    for inp, outs in planned.items():
        for out in outs.values():
            out = str(Path(out).resolve())
            if out in inputs:
                raise ValueError(f"the output {out} of {inp} is an input file and would be overwritten; "
                                 f"write the catalogue into another folder (--out)")
            if owner.setdefault(out, inp) != inp:
                raise ValueError(f"inputs {owner[out]} and {inp} would both write {out}")


# ---------------------------------------------------------------------------------------------
# manifest
# ---------------------------------------------------------------------------------------------
def read_manifest(out_dir) -> dict[str, dict]:
    """Completed files of a run: input path -> its (last) manifest record.

    A truncated last line (a run killed while appending) is ignored: that file counts as not done.
    """
    path = Path(out_dir) / MANIFEST_NAME
    out: dict[str, dict] = {}
    if not path.exists():
        return out
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if rec.get("kind") == "file":
                out[rec["input"]] = rec
    return out


def append_manifest(fh, record: dict) -> None:
    fh.write(json.dumps(record, sort_keys=True) + "\n")
    fh.flush()
    os.fsync(fh.fileno())


def is_done(rec: dict | None, path: Path, model_sha: str, keep_all: bool) -> bool:
    if rec is None:
        return False
    st = path.stat()
    return (rec.get("size") == st.st_size and rec.get("mtime_ns") == st.st_mtime_ns
            and rec.get("model_sha256") == model_sha and rec.get("keep_all") == bool(keep_all)
            and all(Path(p).exists() for p in rec.get("outputs", {}).values()))


def listed_outputs(folder: Path) -> set[str]:
    """The output files (resolved paths) listed in ``folder``'s manifest, if it has one."""
    return {str(Path(o).resolve()) for rec in read_manifest(folder).values() for o in rec.get("outputs", {}).values()}


def is_catalogue_output(path, listed: set[str] | None = None) -> bool:
    """Whether ``path`` is an output of :func:`classify_files`, not a sweep file.

    True when the manifest of its folder (or ``listed``, resolved paths) lists it, or when its name ends in
    ``-candidates.fits`` / ``-all.fits`` and its first extension is a dwarflib catalogue (EXTNAME
    CATALOGUE with the PTHRESH card), which also catches the unlisted output of a killed run.
    """
    path = Path(path)
    listed = listed_outputs(path.parent) if listed is None else listed
    if str(path.resolve()) in listed:
        return True
    if not any(path.name.endswith(f"-{kind}.fits") for kind in OUTPUT_KINDS):
        return False
    try:
        header = fits.getheader(path, 1)
    except Exception:  # noqa: BLE001 - not a readable FITS table: not ours; the reader names the problem
        return False
    return header.get("EXTNAME") == "CATALOGUE" and "PTHRESH" in header


def expand_inputs(sweep_files: Iterable) -> list[Path]:
    """Input files: paths, glob patterns, or folders (all ``sweep-*.fits`` inside). Raises if one is missing.

    Folders and glob patterns skip the outputs of :func:`classify_files` (:func:`is_catalogue_output`);
    an output named explicitly is refused (ValueError).
    """
    out: list[Path] = []
    listed: dict[Path, set[str]] = {}

    def ours(f: Path) -> bool:
        if f.parent not in listed:
            listed[f.parent] = listed_outputs(f.parent)
        return is_catalogue_output(f, listed[f.parent])

    for item in ([sweep_files] if isinstance(sweep_files, str | os.PathLike) else sweep_files):
        p = Path(item)
        if p.is_dir():
            found = [f for f in sorted(p.glob("sweep-*.fits")) + sorted(p.glob("sweep-*.fits.gz")) if not ours(f)]
            if not found:
                raise FileNotFoundError(f"{p}: folder holds no sweep-*.fits file (other than dwarflib outputs)")
            out.extend(found)
        elif p.exists():
            if ours(p):
                raise ValueError(f"{p} is a dwarflib catalogue (an output of `dwarflib classify`), not a sweep file")
            out.append(p)
        elif any(ch in str(item) for ch in "*?["):
            found = [f for f in sorted(Path(x) for x in glob.glob(str(item))) if not ours(f)]
            if not found:
                raise FileNotFoundError(f"{item}: pattern matches no file (other than dwarflib outputs)")
            out.extend(found)
        else:
            raise FileNotFoundError(f"{p}: no such sweep file")
    resolved = [p.resolve() for p in out]
    dups = [p for p, n in Counter(resolved).items() if n > 1]
    if dups:
        raise ValueError(f"input files given more than once: {[str(p) for p in dups[:5]]}")
    return resolved


def load_rejected(out_dir):
    """The rejected rows of every input in ``out_dir``'s manifest (pandas DataFrame): INPUT (path), ROW
    (0-based row of the input file), TARGETID, REASON (the preselection cut that removed the row)."""
    recs = read_manifest(out_dir)
    if not recs:
        raise FileNotFoundError(f"{out_dir}: no completed file in {MANIFEST_NAME}")
    check_shared_outputs(out_dir, recs)
    frames = []
    for k in sorted(recs):
        if "rejected" not in recs[k]["outputs"]:
            raise ValueError(f"{out_dir}: the record of {k} lists no rejected rows (written by an older version; "
                             f"classify again)")
        df = pd.read_parquet(recs[k]["outputs"]["rejected"])
        df.insert(0, "INPUT", k)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def check_shared_outputs(out_dir, recs: dict[str, dict]) -> None:
    """Raise ValueError when two manifest records list the same output file (one input's rows would be lost
    and the other's counted twice)."""
    owner: dict[str, str] = {}
    for inp, rec in recs.items():
        for out in rec.get("outputs", {}).values():
            key = str(Path(out).resolve())
            if owner.setdefault(key, inp) != inp:
                raise ValueError(f"{Path(out_dir) / MANIFEST_NAME}: inputs {owner[key]} and {inp} both list the "
                                 f"output {out}; one input's rows were overwritten: classify them again "
                                 f"into a new folder")


def load_catalogue(out_dir, columns: Sequence[str] | None = None):
    """Concatenate the Parquet outputs listed in ``out_dir``'s manifest (pandas DataFrame, input order).

    Raises ValueError when two inputs of the manifest share an output file."""
    recs = read_manifest(out_dir)
    if not recs:
        raise FileNotFoundError(f"{out_dir}: no completed file in {MANIFEST_NAME}")
    check_shared_outputs(out_dir, recs)
    frames = [pd.read_parquet(recs[k]["outputs"]["parquet"], columns=list(columns) if columns else None)
              for k in sorted(recs)]
    return pd.concat(frames, ignore_index=True)


def summarise(records: Sequence[dict]) -> dict:
    """Totals over manifest records (rows read / preselected / classified / written, rejected per reason)."""
    keys = ("rows_read", "rows_preselected", "rows_classified", "rows_candidates", "rows_high_purity",
            "rows_written")
    out = {k: int(sum(r[k] for r in records)) for k in keys}
    rej = Counter()
    for r in records:
        rej.update(r["rejected"])
    out["rejected"] = dict(sorted(rej.items(), key=lambda kv: -kv[1]))
    out["files_done"] = len(records)
    out["records"] = list(records)
    return out


def format_summary(summary: dict) -> str:
    """Human-readable report of a run: rows read / preselected / classified / rejected with reasons."""
    lines = [
        f"files: {summary['files_done']} of {summary['files_total']} done "
        f"({summary['files_skipped']} skipped as already complete, {summary['files_failed']} failed)",
        f"rows read        : {summary['rows_read']:>14,d}",
        f"rows preselected : {summary['rows_preselected']:>14,d}",
        f"rows classified  : {summary['rows_classified']:>14,d}",
        f"rows rejected    : {sum(summary['rejected'].values()):>14,d}",
    ]
    for reason, n in summary["rejected"].items():
        lines.append(f"  - {reason:<30s} {n:>12,d}")
    sky_point = summary.get("sky_operating_point")
    cut = (f"P_SIGNAL_SKY >= {sky_point['threshold']:.3f}" if sky_point is not None
           else f"P_SIGNAL >= {summary.get('catalogue_threshold', float('nan')):.3f}")
    lines += [
        f"candidates  ({cut}) : {summary['rows_candidates']:,d}",
        f"high purity (P_SIGNAL >= {summary.get('high_purity_threshold', float('nan')):.3f}) : "
        f"{summary['rows_high_purity']:,d}",
        f"rows written     : {summary['rows_written']:>14,d}",
        *_format_sky_point(sky_point),
        *_format_sky_em(summary.get("sky_priors_em")),
        f"wall time {summary['wall_s']:.1f} s, {summary['rows_per_s']:,.0f} rows/s (files classified in this run)",
        f"manifest: {summary['manifest']}",
    ]
    for f in summary["failed"]:
        lines.append(f"FAILED {f['input']}: {f['error']}")
    return "\n".join(lines)


def _format_sky_em(em: dict | None) -> list[str]:
    """Lines of the run summary stating the EM sky priors (none without ``sky_priors="em"``)."""
    if em is None:
        return []
    state = "converged" if em["converged"] else f"NOT converged (tolerance {em['tol']:g})"
    return [f"sky priors (EM, Saerens+2002) of P_CLASSk_SKY: {', '.join(f'{q:.5f}' for q in em['priors'])} "
            f"({em['n_iter']} iterations, {state}; {em['n_rows_used']:,d} of {em['n_rows_preselected']:,d} "
            "preselected rows)",
            f"training-mix priors                : {', '.join(f'{q:.5f}' for q in em['train_priors'])}"]


def _format_sky_point(pt: dict | None) -> list[str]:
    """Lines of the run summary stating the expected sky purity and completeness (none without a sky cut)."""
    if pt is None:
        return []
    pct = f"{100 * pt['cl']:.0f} %"
    lines = [f"candidates cut on P_SIGNAL_SKY >= {pt['threshold']:.3f}: expected sky purity {pt['purity']:.3f} "
             f"[{pt['purity_low']:.3f}, {pt['purity_high']:.3f}], completeness {pt['completeness']:.3f} "
             f"[{pt['completeness_low']:.3f}, {pt['completeness_high']:.3f}] ({pct} Wilson intervals, "
             f"simulated footprint, curve point {pt['curve_threshold']:.3f})"]
    for name, b in pt["bins"].items():
        lines.append(f"  r {name:<12s}: purity {b['purity']:.3f} [{b['purity_low']:.3f}, {b['purity_high']:.3f}], "
                     f"completeness {b['completeness']:.3f} [{b['completeness_low']:.3f}, {b['completeness_high']:.3f}]")
    return lines
