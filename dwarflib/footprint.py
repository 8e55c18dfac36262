"""The DR9 footprint: north/south resolution of the overlap, and the whole footprint as a work plan.

North/south resolution
----------------------
The rule and its functions (:func:`resolve_north_south`, :data:`NORTH_RELEASES`, ...) are in
:mod:`dwarflib.north_south` (imported by the catalogue, which applies it in ``classify``) and re-exported here.

The footprint as a plan
-----------------------
:func:`plan_footprint` lists the work for a set of sweep files from their FITS headers (rows, bytes per
row; no data are read), the memory per worker and the wall time for N workers from a throughput
(rows/s per worker) that is measured on the first file in a fresh worker process, or passed in (e.g.
from ``benchmarks/classify_speed.py``). Work is parallel over files (:func:`dwarflib.catalogue.classify_files`),
so the wall time is the makespan of the files over the workers (longest file first onto the least
loaded worker), not simply rows / (N x throughput). :func:`survey_cost` states what the full DR9
(:data:`DR9_N_SOURCES` sources in :data:`DR9_N_SWEEP_FILES` sweep files) would cost.
"""

from __future__ import annotations

import heapq
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits

from dwarflib.catalogue import DEFAULT_CHUNK_ROWS, _cli_classify, catalogue_dtype, classify_file
from dwarflib.catalogue_files import expand_inputs
from dwarflib.north_south import (  # noqa: F401 - re-exported: the resolution was first defined here
    NORTH_RELEASES,
    RESOLVE_DEC,
    RESOLVE_REASONS,
    SOUTH_RELEASES,
    in_north_area,
    is_north_release,
    resolve_counts,
    resolve_north_south,
)
from dwarflib.parallel import default_workers
from dwarflib.pipeline import load_model
from dwarflib.survey_io import file_nrows

#: Size of the full DR9 (north + south sweeps, before resolving the overlap) and its number of sweep files.
DR9_N_SOURCES: int = 2_000_000_000
DR9_N_SWEEP_FILES: int = 1_400  # "about 1,400" (issue #14)
#: Sky area of DR9 (north + south, deg^2): "DR9 covers a total area of 20,000 square degrees" and "2 billion
#: sources" (Schlegel et al. 2021, BAAS 53(1), AAS 237 abstract 235.03); an order of magnitude, like the source count.
DR9_AREA_DEG2: float = 20_000.0


# ---------------------------------------------------------------------------------------------------
# the footprint as a plan
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FileWork:
    """One input file: path, rows (from NAXIS2), bytes per row in the file and of the columns read."""

    path: str
    rows: int
    row_bytes: int
    read_row_bytes: int


def file_work(path, columns: Sequence[str] | None = None) -> FileWork:
    """Rows and row sizes of one sweep file from its header only (no data read).

    ``columns``: the columns a run reads (default: all); missing ones raise KeyError naming the file.
    """
    rows = file_nrows(path)  # checks the file (exists, FITS, not truncated) with a clear error
    with fits.open(path, memmap=True) as hdul:
        hdu = next(h for h in hdul if isinstance(h, fits.BinTableHDU))
        sizes = {c.name.upper(): int(np.dtype(c.dtype).itemsize) for c in hdu.columns}
        row_bytes = int(hdu.header["NAXIS1"])
    if columns is None:
        read = row_bytes
    else:
        missing = [c for c in columns if c.upper() not in sizes]
        if missing:
            raise KeyError(f"{path}: column(s) {missing} not in the file")
        read = sum(sizes[c.upper()] for c in dict.fromkeys(columns))
    return FileWork(str(path), rows, row_bytes, read)


def makespan_seconds(rows_per_file: Sequence[int], workers: int, rows_per_s: float) -> float:
    """Wall time [s] of files spread over ``workers`` workers of ``rows_per_s`` rows/s each.

    Files are not split: the longest file goes first onto the least loaded worker (LPT scheduling,
    the order a process pool approaches when files are submitted largest first).
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if not rows_per_s > 0:
        raise ValueError(f"throughput must be > 0 rows/s, got {rows_per_s}")
    loads = [0.0] * min(workers, max(len(rows_per_file), 1))
    heapq.heapify(loads)
    for n in sorted(rows_per_file, reverse=True):
        heapq.heappush(loads, heapq.heappop(loads) + n / rows_per_s)
    return max(loads)


#: Peak memory per row of a file [bytes] of the shred-pair search on the whole file
#: (:func:`dwarflib.catalogue.file_shred_pairs`, before its chunks are classified): the six pair columns
#: read (32 B) and the search's float64 copies, unit vectors and KD-tree, measured at 132-143 B/row above
#: the columns on 1 and 3 million rows (2026-12-02, 2 cores).
PAIR_SEARCH_BYTES_PER_ROW = 176
#: Memory per row of a file [bytes] kept while its chunks are classified: the int16 shred-pair bits.
PAIR_FLAGS_BYTES_PER_ROW = 2


def memory_per_worker_bytes(chunk_rows: int, read_row_bytes: int, n_features: int, out_row_bytes: int,
                            baseline_bytes: float, file_rows: int = 0) -> float:
    """Expected peak memory of one worker [bytes].

    ``baseline_bytes`` (interpreter, libraries, model) plus the larger of the shred-pair search of a file of
    ``file_rows`` rows (:data:`PAIR_SEARCH_BYTES_PER_ROW`, freed before the chunks) and, per row of a chunk,
    two chunks of the columns read (the chunk being classified and the one prefetched), the float32 feature
    matrix and the catalogue rows; plus the file's pair bits kept meanwhile (:data:`PAIR_FLAGS_BYTES_PER_ROW`).
    Only the pair search grows with the file size.
    """
    per_row = 2 * read_row_bytes + 4 * n_features + out_row_bytes
    return float(baseline_bytes + max(chunk_rows * per_row, file_rows * PAIR_SEARCH_BYTES_PER_ROW)
                 + file_rows * PAIR_FLAGS_BYTES_PER_ROW)


@dataclass
class FootprintPlan:
    """The work for a set of sweep files (see :func:`plan_footprint`). Times in s, memory in bytes."""

    files: list[FileWork]
    workers: int
    rows_per_s: float
    throughput_source: str
    chunk_rows: int
    memory_per_worker: float
    memory_source: str
    wall_s: float
    extra: dict = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def worker_seconds(self) -> float:
        return self.total_rows / self.rows_per_s

    def to_text(self) -> str:
        rows = [f.rows for f in self.files]
        lines = [
            f"files            : {len(self.files):,d}",
            f"rows (headers)   : {self.total_rows:,d}  (per file: min {min(rows, default=0):,d}, "
            f"max {max(rows, default=0):,d})",
            f"throughput       : {self.rows_per_s:,.0f} rows/s per worker ({self.throughput_source})",
            f"memory per worker: {self.memory_per_worker / 2**20:,.0f} MiB with {self.chunk_rows:,d} rows per chunk "
            f"({self.memory_source}); {self.workers} workers: {self.workers * self.memory_per_worker / 2**30:,.1f} GiB",
            f"worker time      : {self.worker_seconds / 3600:,.2f} h (rows / throughput)",
            f"wall time        : {self.wall_s / 3600:,.2f} h with {self.workers} workers "
            f"({self.wall_s:,.0f} s; files are not split between workers)",
        ]
        return "\n".join(lines)


def _measure_worker(model_dir: str, path: str, out_dir: str, chunk_rows: int) -> dict:
    """Classify one file in this (fresh) process; its manifest record plus the peak RSS [bytes]."""
    import resource
    import sys

    rec = classify_file(model_dir, path, out_dir, chunk_rows=chunk_rows, torch_threads=1)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rec["peak_rss_bytes"] = rss if sys.platform == "darwin" else rss * 1024
    return rec


def measure_throughput(model_dir, path, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> dict:
    """Classify ``path`` once with ``model_dir`` in a fresh worker process (one torch thread, like a
    worker of :func:`dwarflib.catalogue.classify_files`); outputs go to a temporary folder.

    Returns ``rows``, ``seconds``, ``rows_per_s`` and ``peak_rss_bytes`` (the worker's peak memory).
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with tempfile.TemporaryDirectory(prefix="dwarflib-plan-") as tmp:
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as ex:
            rec = ex.submit(_measure_worker, str(model_dir), str(path), tmp, chunk_rows).result()
    secs = max(float(rec["seconds"]), 1e-9)
    return {"rows": int(rec["rows_read"]), "seconds": secs, "rows_per_s": rec["rows_read"] / secs,
            "peak_rss_bytes": float(rec["peak_rss_bytes"])}


def plan_footprint(sweep_files, workers: int, model_dir=None, rows_per_s: float | None = None,
                   chunk_rows: int = DEFAULT_CHUNK_ROWS, baseline_bytes: float | None = None) -> FootprintPlan:
    """The work of classifying ``sweep_files`` with ``workers`` workers (see the module docstring).

    Parameters
    ----------
    sweep_files : paths, folders or globs (as for ``dwarflib classify``)
    workers : int
    model_dir : path, optional
        The model: sets the columns read and the catalogue row size, and, when ``rows_per_s`` is not
        given, is run on the first file to measure the throughput and the worker's peak memory.
    rows_per_s : float, optional
        Throughput per worker [rows/s] (e.g. from ``benchmarks/classify_speed.py``); no measurement.
    chunk_rows : int
        Rows per chunk (as ``classify --chunk-rows``); sets the memory per worker.
    baseline_bytes : float, optional
        Memory of an idle worker [bytes] for the estimate when nothing is measured (default 1 GiB, an
        upper bound for the interpreter with torch, astropy and pandas loaded).
    """
    paths = expand_inputs(sweep_files)
    model = None
    if model_dir is not None:
        model = load_model(model_dir)
    columns = model.input_columns if model is not None else None
    files = [file_work(p, columns) for p in paths]
    read_row = max((f.read_row_bytes for f in files), default=0)
    n_feat = len(model.features) if model is not None else 0
    out_row = catalogue_dtype(model).itemsize if model is not None else 0
    max_chunk = min(chunk_rows, max((f.rows for f in files), default=0))
    extra: dict = {}
    if rows_per_s is None:
        if model is None:
            raise ValueError("give rows_per_s (a measured throughput) or model_dir (to measure it on the first file)")
        m = measure_throughput(model_dir, paths[0], chunk_rows=chunk_rows)
        rows_per_s = m["rows_per_s"]
        source = f"measured on {Path(paths[0]).name}: {m['rows']:,d} rows in {m['seconds']:.2f} s"
        # the measured peak, plus what a larger chunk or a larger file (its pair search) would add
        first_chunk = min(chunk_rows, files[0].rows)
        largest = max(f.rows for f in files)
        memory = m["peak_rss_bytes"] + max(
            memory_per_worker_bytes(max_chunk - first_chunk, read_row, n_feat, out_row, 0),
            memory_per_worker_bytes(0, read_row, n_feat, out_row, 0, largest - files[0].rows))
        mem_source = f"peak RSS measured on {Path(paths[0]).name}, scaled to a full chunk"
        extra["measurement"] = m
    else:
        source = "given"
        base = float(2**30 if baseline_bytes is None else baseline_bytes)
        memory = memory_per_worker_bytes(max_chunk, read_row, n_feat, out_row, base,
                                         max((f.rows for f in files), default=0))
        mem_source = f"estimated: {base / 2**20:,.0f} MiB baseline + 2 chunks of {read_row} B/row read"
    wall = makespan_seconds([f.rows for f in files], workers, rows_per_s)
    return FootprintPlan(files, workers, float(rows_per_s), source, chunk_rows, memory, mem_source, wall, extra)


def survey_cost(rows_per_s: float, workers: int, n_sources: int = DR9_N_SOURCES,
                n_files: int = DR9_N_SWEEP_FILES) -> dict[str, float]:
    """What classifying a whole survey costs, from a throughput per worker [rows/s].

    Files are taken as equal (``n_sources / n_files`` rows each), so the wall time is
    ``ceil(n_files / workers)`` rounds of one file. Returns ``worker_hours`` (CPU-core hours with one
    thread per worker), ``wall_hours`` and ``rows_per_file``.
    """
    if workers < 1 or n_files < 1 or not rows_per_s > 0:
        raise ValueError(f"need workers >= 1, n_files >= 1, rows_per_s > 0 (got {workers}, {n_files}, {rows_per_s})")
    per_file = n_sources / n_files
    rounds = -(-n_files // workers)
    return {"n_sources": float(n_sources), "n_files": float(n_files), "rows_per_file": per_file,
            "worker_hours": n_sources / rows_per_s / 3600.0,
            "wall_hours": rounds * per_file / rows_per_s / 3600.0}


# ---------------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------------
def add_cli(subparsers) -> None:
    p = subparsers.add_parser(
        "plan", help="the footprint as a plan: rows, memory per worker, wall time for N workers",
        description="Read the FITS headers of the sweep files (no data), and print the rows, the memory per "
                    "worker and the wall time for N workers from a throughput measured on the first file "
                    "(with MODEL_DIR) or given with --rows-per-s; and what the full DR9 would cost. "
                    "`dwarflib classify MODEL_DIR SWEEP_FILE... --plan` prints the same plan.")
    p.add_argument("sweep_files", metavar="SWEEP_FILE", nargs="+", help="sweep FITS files, folders or globs")
    p.add_argument("--model", dest="model_dir", default=None, metavar="MODEL_DIR",
                   help="model folder: columns read, and the throughput measured on the first file")
    p.add_argument("--workers", type=int, default=1, help="number of workers (default 1)")
    p.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS, help="rows per chunk")
    _add_plan_options(p)
    p.set_defaults(func=_cli_plan)
    # `dwarflib classify --plan`: the classify command (registered before this module, dwarflib.cli) prints
    # this plan for its own MODEL_DIR, SWEEP_FILEs, --workers and --chunk-rows instead of classifying
    classify = subparsers.choices.get("classify")
    if classify is None:
        raise RuntimeError("dwarflib.footprint.add_cli: register the classify command (dwarflib.catalogue) first")
    classify.add_argument("--plan", action="store_true",
                          help="print the plan and exit without classifying: files and rows (from the headers), "
                               "memory per worker and wall time for --workers workers, from the throughput "
                               "measured on the first file (or --rows-per-s); as `dwarflib plan`")
    _add_plan_options(classify)
    classify.set_defaults(func=_cli_classify_or_plan)


def _add_plan_options(p) -> None:
    p.add_argument("--rows-per-s", type=float, default=None,
                   help="throughput per worker [rows/s] for the plan (no measurement)")


def _cli_classify_or_plan(args) -> int:
    if args.plan:
        return _cli_plan(args)
    if args.rows_per_s is not None:
        print("dwarflib classify: error: --rows-per-s is an option of --plan", file=sys.stderr)
        return 2
    return _cli_classify(args)


def _cli_plan(args) -> int:
    """``dwarflib plan`` and ``dwarflib classify --plan``. ``args.workers`` None (classify's default) is the
    number of workers classify would start (:func:`dwarflib.parallel.default_workers`)."""
    try:
        workers = args.workers
        if workers is None:
            files = [file_work(p) for p in expand_inputs(args.sweep_files)]
            workers = default_workers(len(files), sum(f.rows for f in files))
        plan = plan_footprint(args.sweep_files, workers, model_dir=args.model_dir,
                              rows_per_s=args.rows_per_s, chunk_rows=args.chunk_rows)
    except (FileNotFoundError, ValueError, KeyError, OSError) as exc:
        print(f"dwarflib {args.command}: error: {exc}", file=sys.stderr)
        return 1
    print(plan.to_text())
    cost = survey_cost(plan.rows_per_s, workers)
    print(f"full DR9 ({cost['n_sources']:,.0f} sources in {cost['n_files']:,.0f} sweep files) at this throughput: "
          f"{cost['worker_hours']:,.1f} worker-hours, {cost['wall_hours']:,.1f} h wall with {workers} workers")
    return 0
