"""Compare the generated artefacts of two builds of the book: are they the same, bit for bit?

Usage::

    .venv/bin/python benchmarks/compare_builds.py OLD_ROOT NEW_ROOT

Each root is a repository checkout after ``make book`` (or ``.ci/run``). Compared:

- every ``outputs/*.csv`` (and ``*.parquet``), cell by cell, apart from the timing columns in
  :data:`TIMING_COLUMNS` (wall-clock times differ between runs by nature);
- every FITS file under ``.cache/`` (the simulated sky, the training sample, catalogues), column by column
  (header cards with dates or timings are not compared: the data are);
- every JSON file under ``.cache/`` apart from timing keys.

Prints one line per difference and a closing count; exit status 1 when anything differs. A tool for refactors
that must not change any output (issue #15), not a test: it needs two full builds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits

#: Columns and JSON keys that hold wall-clock timings (they differ between identical runs).
TIMING_COLUMNS = frozenset({"fit_seconds", "rows_per_second", "seconds", "seconds_per_chunk", "elapsed_s",
                            "wall_seconds", "fit_time", "predict_time", "timings", "created", "train_seconds"})


def _frames_equal(a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    out = []
    cols_a = [c for c in a.columns if c not in TIMING_COLUMNS]
    cols_b = [c for c in b.columns if c not in TIMING_COLUMNS]
    if cols_a != cols_b:
        return [f"columns differ: {sorted(set(cols_a) ^ set(cols_b))}"]
    if len(a) != len(b):
        return [f"rows differ: {len(a)} vs {len(b)}"]
    for c in cols_a:
        x, y = a[c].to_numpy(), b[c].to_numpy()
        same = pd.Series(x).equals(pd.Series(y))
        if not same:
            n = int((pd.Series(x).astype(str) != pd.Series(y).astype(str)).sum())
            out.append(f"column {c}: {n} of {len(x)} values differ")
    return out


def _fits_equal(a: Path, b: Path) -> list[str]:
    out = []
    with fits.open(a, memmap=True) as ha, fits.open(b, memmap=True) as hb:
        if len(ha) != len(hb):
            return [f"HDU count {len(ha)} vs {len(hb)}"]
        for i, (x, y) in enumerate(zip(ha, hb, strict=True)):
            if x.data is None or y.data is None:
                if (x.data is None) != (y.data is None):
                    out.append(f"HDU {i}: data present in one only")
                continue
            if isinstance(x, fits.BinTableHDU):
                if x.columns.names != y.columns.names:
                    out.append(f"HDU {i}: columns {sorted(set(x.columns.names) ^ set(y.columns.names))}")
                    continue
                for name in x.columns.names:
                    u, v = np.asarray(x.data[name]), np.asarray(y.data[name])
                    if not np.array_equal(u, v, equal_nan=u.dtype.kind == "f" and v.dtype.kind == "f"):
                        out.append(f"HDU {i} column {name} differs")
            elif not np.array_equal(x.data, y.data):
                out.append(f"HDU {i}: image differs")
    return out


def _json_equal(a: Path, b: Path) -> list[str]:
    def strip(obj):
        if isinstance(obj, dict):
            return {k: strip(v) for k, v in obj.items() if k not in TIMING_COLUMNS}
        if isinstance(obj, list):
            return [strip(v) for v in obj]
        return obj

    return [] if strip(json.loads(a.read_text())) == strip(json.loads(b.read_text())) else ["content differs"]


def compare(old: Path, new: Path) -> list[str]:
    """Differences between the artefacts of two build roots, as ``'relative/path: what'`` lines."""
    diffs: list[str] = []
    plans = [("outputs", "*.csv", lambda a, b: _frames_equal(pd.read_csv(a), pd.read_csv(b))),
             ("outputs", "*.parquet", lambda a, b: _frames_equal(pd.read_parquet(a), pd.read_parquet(b))),
             (".cache", "**/*.fits", _fits_equal),
             (".cache", "**/*.json", _json_equal)]
    for folder, pattern, equal in plans:
        files_old = {p.relative_to(old) for p in (old / folder).glob(pattern)}
        files_new = {p.relative_to(new) for p in (new / folder).glob(pattern)}
        for rel in sorted(files_old ^ files_new):
            diffs.append(f"{rel}: only in {'old' if rel in files_old else 'new'}")
        for rel in sorted(files_old & files_new):
            diffs += [f"{rel}: {d}" for d in equal(old / rel, new / rel)]
    return diffs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    args = parser.parse_args(argv)
    diffs = compare(args.old, args.new)
    for line in diffs:
        print(line)
    print(f"{len(diffs)} differences")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
