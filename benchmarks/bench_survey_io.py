"""Speed and memory of dwarflib.survey_io on a synthetic DR9 sweep file.

Writes a sweep with ``--rows`` rows (write_sweep), then reads it whole (read_catalogue) and in chunks
(iter_catalogue) and prints seconds (untraced run), rows/s and the peak of numpy/Python allocations (tracemalloc; the
memory-mapped file itself is not counted). The chunked peak should stay flat in the file size: the ratio
"chunked peak / whole-file peak" is printed. Run:
``OMP_NUM_THREADS=1 nice .venv/bin/python benchmarks/bench_survey_io.py --rows 300000``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from dr9_fixtures import make_dr9_table  # noqa: E402

from dwarflib import features, survey_io  # noqa: E402


def _measure(fn):
    """(result, seconds, peak MiB): timed without tracing (tracemalloc slows numpy), then traced."""
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, dt, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sweep-bench.fits"
        table = make_dr9_table(args.rows, seed=0)
        t0 = time.perf_counter()
        survey_io.write_sweep(table, path)
        dt = time.perf_counter() - t0
        size = path.stat().st_size / 2**20
        table = None  # free it before measuring the readers
        print(f"rows {args.rows:,}; file {size:.0f} MiB; write_sweep {dt:.2f} s ({args.rows / dt:,.0f} rows/s)")
        cols = features.required_columns() + ["MASKBITS", "NOBS_G", "NOBS_R", "NOBS_Z", "FLUX_IVAR_R"]

        def whole():
            return len(survey_io.read_catalogue(path, columns=list(dict.fromkeys(cols))))

        def chunked():
            n = 0
            for chunk in survey_io.iter_catalogue(path, chunk_rows=args.chunk_rows, columns=list(dict.fromkeys(cols))):
                n += len(chunk)
            return n

        n1, t1, m1 = _measure(whole)
        n2, t2, m2 = _measure(chunked)
        assert n1 == n2 == args.rows
        print(f"read_catalogue  {t1:6.2f} s ({n1 / t1:,.0f} rows/s), peak allocations {m1:7.1f} MiB")
        print(f"iter_catalogue  {t2:6.2f} s ({n2 / t2:,.0f} rows/s), peak allocations {m2:7.1f} MiB "
              f"(chunks of {args.chunk_rows:,})")
        print(f"ratio chunked / whole peak memory: {m2 / m1:.2f}; ratio time: {t2 / t1:.2f}")


if __name__ == "__main__":
    main()
