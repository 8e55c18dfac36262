"""Helpers for tests that drive ``dwarflib`` in subprocesses (kills, Ctrl-C, concurrent runs).

Shared by ``tests/test_reliability_*.py`` (imported as ``process_support``) and the hostile-input replay
``benchmarks/hostile/*.py`` (imported as ``tests.process_support``), so both check the same things the same way.
"""

from __future__ import annotations

import gzip
import shutil
import time
from pathlib import Path

from dwarflib.catalogue_files import TMP_PREFIX

#: A `dwarflib classify` that pauses after its first file (its manifest line written) until a line arrives on
#: stdin: ``python -c PAUSING_CLASSIFY classify ...``. Lets a test hold the output folder's lock without timing.
PAUSING_CLASSIFY = """
import sys
from dwarflib import catalogue, cli

real = catalogue.classify_file

def classify_file(*args, **kwargs):
    rec = real(*args, **kwargs)
    print("paused", flush=True)
    sys.stdin.readline()
    return rec

catalogue.classify_file = classify_file
sys.exit(cli.main(sys.argv[1:]))
"""


def children(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (from /proc)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d.name))
    return out


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie that nobody reaped has ended)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(cond, timeout: float, what: str) -> None:
    """Poll ``cond()`` every 0.2 s; AssertionError naming ``what`` after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def tmp_outputs(out: Path) -> list[Path]:
    """The temporary (not yet complete) outputs in the catalogue folder ``out``."""
    return list(out.glob(f"{TMP_PREFIX}*")) if out.exists() else []


def gzip_copy(src: Path, dst: Path) -> Path:
    """``src`` gzip-compressed into ``dst`` (folders made)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as fi, gzip.open(dst, "wb") as fo:
        shutil.copyfileobj(fi, fo)
    return dst
