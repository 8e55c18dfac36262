"""Speed and memory of the simulated-sky generator.

Prints
1. generation speed: sources per second per core for the generation step alone (physics, photometry,
   Tractor model, survey selection; one thread), after a warm-up chunk;
2. end-to-end speed with FITS writing (sweeps, truth, training sample) of ``--n-write`` sources;
3. memory while generating ``--n`` sources in chunks without keeping them: resident set size every few
   chunks, and the ratio of the last to the first measurement (flat memory -> ratio ~1).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/simulate_speed.py --n 100000000

The goal of the issue is >= 1e6 sources/s/core for generation and flat memory up to 1e8 sources.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import resource  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from dwarflib.sky import generate  # noqa: E402
from dwarflib.sky.observe import ObjidCounter, footprint  # noqa: E402
from dwarflib.sky.physics import load_sky_model  # noqa: E402


def rss_mb() -> float:
    """Current resident set size [MB] (Linux /proc; falls back to the peak from getrusage)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def generation_speed(chunk: int, repeats: int) -> tuple[float, float, float]:
    """Sources per second: wall-clock mean, CPU-time mean and CPU-time best chunk (robust on a shared machine)."""
    model = load_sky_model()
    dens = generate.source_densities(model)
    box = footprint(100.0)[0]
    counter = ObjidCounter()
    rng = np.random.default_rng(0)
    generate.generate_chunk(rng, 10_000, box, model, dens, counter)  # warm-up (tables, caches)
    walls, cpus = [], []
    for i in range(repeats):
        t_wall, t_cpu = time.perf_counter(), cpu_seconds()
        rng = np.random.default_rng([0, i])
        sweep, _ = generate.generate_chunk(rng, chunk, box, model, dens, counter)
        generate.select_training(rng, sweep)
        walls.append(time.perf_counter() - t_wall)
        cpus.append(cpu_seconds() - t_cpu)
    return chunk / np.mean(walls), chunk / np.mean(cpus), chunk / np.min(cpus)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=float, default=2e7, help="sources for the memory test (issue: 1e8)")
    p.add_argument("--n-write", type=float, default=1e6, help="sources for the timing with FITS writing")
    p.add_argument("--chunk-size", type=int, default=generate.DEFAULT_CHUNK_SIZE)
    p.add_argument("--repeats", type=int, default=8, help="chunks timed for the generation speed")
    args = p.parse_args(argv)

    print(f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; chunk size {args.chunk_size:,}")
    per_wall, per_cpu, best_cpu = generation_speed(args.chunk_size, args.repeats)
    print(f"[1] generation only ({args.repeats} chunks): {per_wall:,.0f} sources/s wall, {per_cpu:,.0f} sources/s "
          f"per CPU-second on average, {best_cpu:,.0f} for the best chunk "
          f"(goal 1,000,000 per core; ratios {per_cpu / 1e6:.2f} and {best_cpu / 1e6:.2f})")

    n_write = int(args.n_write)
    with tempfile.TemporaryDirectory() as tmp:
        t_wall, t_cpu = time.perf_counter(), cpu_seconds()
        s = generate.write_simulated_sky(tmp, n_write, seed=0, chunk_size=args.chunk_size, progress=False)
        wall, cpu = time.perf_counter() - t_wall, cpu_seconds() - t_cpu
        size = sum(os.path.getsize(os.path.join(tmp, f)) for f in os.listdir(tmp)) / 2**20
    print(f"[2] with FITS writing ({n_write:,} sources, {s['area_deg2']:.0f} deg^2, {size:,.0f} MB): "
          f"{n_write / wall:,.0f} sources/s wall, {n_write / cpu:,.0f} sources/s per CPU-second; "
          f"generation step {s['seconds_generation']:.1f} s of {s['seconds_total']:.1f} s")

    n = int(args.n)
    print(f"[3] memory while generating {n:,} sources in chunks of {args.chunk_size:,} (nothing kept):")
    t0 = time.perf_counter()
    done, samples, next_report = 0, [], 0
    for _, sweep, _, _ in generate.iter_simulated_sky(n, seed=1, chunk_size=args.chunk_size):
        done += len(sweep["RA"])
        if done >= next_report:
            samples.append((done, rss_mb()))
            print(f"    {done:>13,} sources  RSS {samples[-1][1]:8.1f} MB  "
                  f"{done / (time.perf_counter() - t0):,.0f} sources/s")
            next_report = done + max(n // 10, args.chunk_size)
    samples.append((done, rss_mb()))
    first = samples[1][1] if len(samples) > 2 else samples[0][1]
    print(f"    RSS after the first chunks {first:.1f} MB, at the end {samples[-1][1]:.1f} MB "
          f"(ratio {samples[-1][1] / first:.2f}); peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; "
          f"{done:,} sources in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
