"""Local worker processes, Dask and the one-chunk-ahead reader of :mod:`dwarflib.catalogue`.

The catalogue classifies files in parallel, one file per task: in local processes
(:func:`run_pool`, started with ``spawn``: torch and fork do not mix) or on a Dask cluster
(:func:`run_dask`). The default number of local workers comes from the input size
(:func:`default_workers`): each worker imports torch and loads the model (seconds), so small inputs
run in the calling process. Local workers die with the calling process, even when it is killed with
SIGKILL (:func:`init_worker`). Within a file, :func:`prefetched` reads the next chunk while the current
one is classified.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

PR_SET_PDEATHSIG = 1  # linux/prctl.h

#: Input rows per local worker process in the default worker count (:func:`default_workers`): starting a
#: worker (torch import, model load) costs about as much as classifying ~1 M rows on one core.
ROWS_PER_WORKER = 1_000_000

#: Seconds the one-chunk-ahead reader (:func:`prefetched`) is given to stop when its consumer stops.
READER_JOIN_S = 10.0

#: Seconds between a local worker's checks that the calling process is still alive.
PARENT_POLL_S = 1.0


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Within the block, torch uses ``n`` threads (None: leave it as it is)."""
    if n is None:
        yield
        return
    import torch  # lazy: imports torch (seconds), only in the processes that classify

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@contextlib.contextmanager
def prefetched(iterator, enabled: bool = True):
    """Iterate ``iterator`` one item ahead in a reader thread (a bounded queue of one item).

    Reading a chunk (FITS pages, byte swapping) and the network (torch) both release the GIL, so the
    next chunk is read while the current one is classified. Items arrive in order; an exception of the
    reader is raised in the consumer at the same position. On exit the reader is told to stop and joined.
    """
    if not enabled:
        yield iterator
        return
    q: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    done = object()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                q.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def reader():
        try:
            for item in iterator:
                if not put((True, item)):
                    return
            put((True, done))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put((False, exc))

    thread = threading.Thread(target=reader, name="dwarflib-prefetch", daemon=True)
    thread.start()

    def items():
        while True:
            ok, item = q.get()
            if not ok:
                raise item
            if item is done:
                return
            yield item

    try:
        yield items()
    finally:
        stop.set()
        thread.join(timeout=READER_JOIN_S)  # bounded: a Ctrl-C must never leave the process waiting here
        close = getattr(iterator, "close", None)
        if close is not None and not thread.is_alive():
            close()  # the reader is finished: release the file (a stuck daemon reader ends with the process)


def default_workers(n_files: int, n_rows: int, cpus: int | None = None) -> int:
    """Default number of local worker processes for ``n_files`` input files of ``n_rows`` rows in all.

    One per :data:`ROWS_PER_WORKER` input rows, at most one per file and one per CPU, at least 1: a
    single file or fewer than 2 x ROWS_PER_WORKER rows run in the calling process (no worker start-up).
    """
    cpus = cpus or os.cpu_count() or 1
    return max(1, min(cpus, n_files, n_rows // ROWS_PER_WORKER))


def init_worker(parent_pid: int | None = None) -> None:
    """Set-up of a local worker process: one torch thread, and die with the calling process.

    A SIGKILL of the caller runs none of its clean-up, so the workers must notice on their own: on
    Linux the kernel sends the worker SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``); on
    every platform a daemon thread also checks every :data:`PARENT_POLL_S` seconds that the parent
    ``parent_pid`` is still its parent and ends the worker otherwise. A dead worker leaves at most a
    temporary output (removed by the next run) and never a manifest line.
    """
    if parent_pid is not None:
        _die_with_parent(parent_pid)
    import torch  # lazy: imports torch (seconds), only in the processes that classify

    torch.set_num_threads(1)


def _die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the line above
        os._exit(1)

    def watch():
        while True:
            time.sleep(PARENT_POLL_S)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="dwarflib-parent-watch", daemon=True).start()


def collect(completed, futs, finish, fail):
    """Hand each finished future's record to ``finish``, or its exception to ``fail`` (futures or Dask)."""
    for fut in completed:
        try:
            rec = fut.result()
        except Exception as exc:  # noqa: BLE001 - reported via fail()
            fail(futs[fut], exc)
            continue
        finish(rec)


def run_pool(task, n_workers, model_dir, todo, out_dir, kwargs, finish, fail):
    """``task(model_dir, path, out_dir, stem=stem, torch_threads=1, **kwargs)`` for each ``(path, stem)`` of
    ``todo`` in ``n_workers`` local processes; records to ``finish(record)``, errors to ``fail(path, exc)``."""
    ctx = mp.get_context("spawn")  # torch and fork do not mix; spawn starts clean interpreters
    with ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx, initializer=init_worker,
                             initargs=(os.getpid(),)) as ex:
        futs = {ex.submit(task, model_dir, p, out_dir, stem=s, torch_threads=1, **kwargs): p
                for p, s in todo}
        try:
            collect(as_completed(futs), futs, finish, fail)
        except BaseException:
            for f in futs:
                f.cancel()
            raise


def run_dask(task, scheduler, model_dir, todo, out_dir, kwargs, finish, fail):
    """As :func:`run_pool`, on the Dask scheduler ``scheduler`` (an address, a cluster or a Client)."""
    # lazy: optional dependency (the Dask runner), heavy to import
    from dask.distributed import Client
    from dask.distributed import as_completed as dask_as_completed

    own = False
    if isinstance(scheduler, Client):
        client = scheduler
    else:
        address = getattr(scheduler, "scheduler_address", scheduler)
        try:
            client = Client(address)
        except (OSError, TimeoutError) as exc:  # refused, unknown host, connect timeout
            raise RuntimeError(f"cannot reach the Dask scheduler at {address}: {type(exc).__name__}: {exc}") from None
        own = True
    try:
        futs = {}
        for p, s in todo:
            key = f"dwarflib-classify-{hashlib.sha1(str(p).encode()).hexdigest()[:12]}-{time.monotonic_ns()}"
            futs[client.submit(task, str(model_dir), str(p), str(out_dir), stem=s,
                               torch_threads=1, key=key, pure=False, **kwargs)] = p
        collect(dask_as_completed(list(futs)), futs, finish, fail)
    finally:
        if own:
            client.close()


