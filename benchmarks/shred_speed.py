"""Speed of :func:`dwarflib.large_galaxies.shred_pairs` against the first implementation (one search of
every host with the largest SHAPE_R of the chunk as the radius), on the first chunk of a simulated sweep.

Prints the seconds of each (best of ``--repeat``, CPU time with ``time.process_time`` so other processes
on a shared machine matter less), the ratio old / new, and checks that both give the same pairs.

Usage::

    PYTHONPATH=$PWD .venv/bin/python benchmarks/shred_speed.py [SWEEP_FILE] [--rows 200000] [--repeat 3] [--large-arcsec 120]

Without SWEEP_FILE the first file of the default simulated sky (notebook 07) is used, simulated first if absent.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from dwarflib.large_galaxies import shred_pairs
from dwarflib.survey_io import iter_catalogue

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_dr9_plan import _shred_pairs_one_radius  # noqa: E402 - the first implementation, kept in its test


def _best(fn, table, repeat):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.process_time()
        out = fn(table)
        best = min(best, time.process_time() - t0)
    return best, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sweep_file", nargs="?", default=None)
    ap.add_argument("--rows", type=int, default=200_000, help="rows of the first chunk (default 200000)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--large-arcsec", type=float, default=0.0,
                    help="also time the chunk with its brightest row given this SHAPE_R [arcsec] (a large galaxy)")
    args = ap.parse_args(argv)
    path = args.sweep_file
    if path is None:
        from dwarflib.sky.generate import ensure_simulated_sky

        path = sorted(ensure_simulated_sky().glob("sweep-*.fits"))[0]
    cols = ["RA", "DEC", "SHAPE_R", "SHAPE_E1", "SHAPE_E2", "FLUX_R"]
    table = next(iter_catalogue(path, chunk_rows=args.rows, columns=cols))
    r = np.asarray(table["SHAPE_R"], float)
    print(f"{path}: {len(table):,d} rows, {int((r > 0).sum()):,d} with SHAPE_R > 0, "
          f"SHAPE_R median {np.nanmedian(r[r > 0]):.2f} arcsec, max {np.nanmax(r):.1f} arcsec")
    same = _compare(table, args.repeat)
    if args.large_arcsec > 0:
        brightest = int(np.nanargmax(np.asarray(table["FLUX_R"], float)))
        table["SHAPE_R"][brightest] = args.large_arcsec
        print(f"with row {brightest} (the brightest) at SHAPE_R = {args.large_arcsec:g} arcsec:")
        same = _compare(table, args.repeat) and same
    return 0 if same else 1


def _compare(table, repeat) -> bool:
    t_old, (g0, m0) = _best(_shred_pairs_one_radius, table, repeat)
    t_new, (g1, m1) = _best(shred_pairs, table, repeat)
    same = np.array_equal(g0, g1) and np.array_equal(m0, m1)
    print(f"  one radius (old): {t_old:.3f} s CPU   per-host radius (new): {t_new:.3f} s CPU   "
          f"ratio old/new: {t_old / max(t_new, 1e-9):.1f}x   pairs: {len(g1):,d}, identical: {same}")
    return same


if __name__ == "__main__":
    raise SystemExit(main())
