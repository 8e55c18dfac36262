"""Speed of dwarflib.features.build_features per feature group on a synthetic 10^6-row DR9-like table.

Target (issue #3): vectorised, well under 1 s per group for 10^6 rows. Prints seconds per group and the
ratio to the 1 s budget. Run: ``OMP_NUM_THREADS=1 nice .venv/bin/python benchmarks/bench_features.py``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from dr9_fixtures import make_dr9_table  # noqa: E402

from dwarflib import features  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    table = make_dr9_table(args.rows, seed=0)
    print(f"rows: {args.rows:,}")
    total = 0.0
    for group in features.FEATURE_GROUPS:
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            features.build_features(table, groups=[group])
            times.append(time.perf_counter() - t0)
        best = min(times)
        total += best
        print(f"{group:20s} {best:7.3f} s   ratio to 1 s budget: {best:5.2f}")
    t0 = time.perf_counter()
    X = features.build_features(table)
    t_all = time.perf_counter() - t0
    print(f"{'all groups':20s} {t_all:7.3f} s   ({X.shape[1]} features, {X.memory_usage().sum() / 2**20:.0f} MiB)")
    print(f"sum of groups: {total:.3f} s; NaN fraction: {np.isnan(X.to_numpy()).mean():.4f}")


if __name__ == "__main__":
    main()
