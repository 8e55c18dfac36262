"""Replay the hostile-input set against the command line and the package; print cases tried / passed.

Usage (from the repository root)::

    .venv/bin/python benchmarks/hostile_inputs.py            # every case
    .venv/bin/python benchmarks/hostile_inputs.py -k lock    # cases whose name contains 'lock'

The cases live in ``benchmarks/hostile/*.py`` (one module per area). Each runs in its own temporary folder; a small
simulated sky and a quickly trained model are made once per replay and shared (read-only) by every case. Not run in
CI: it takes minutes (kills, concurrent runs, subprocesses).
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Case:
    """One hostile situation: ``name`` (unique), ``item`` (the issue item it replays), ``check(ctx)``."""

    name: str
    item: str
    check: Callable[[Context], None]


class Context:
    """What a case gets: its own empty folder ``tmp`` and the shared small sky and model (made on first use)."""

    def __init__(self, shared: Path, tmp: Path):
        self._shared = shared
        self.tmp = tmp

    @property
    def sky_dir(self) -> Path:
        """A simulated sky of 80,000 sources (seed 11): sweep files, truth and training sample. Do not modify."""
        sky = self._shared / "sky"
        if not (sky / "summary.json").exists():
            from dwarflib.sky.generate import write_simulated_sky

            write_simulated_sky(sky, n_sources=80_000, seed=11, progress=False)
        return sky

    @property
    def model_dir(self) -> Path:
        """A small trained model folder (15 epochs, one 32x32 network). Do not modify: copy it first."""
        model = self._shared / "model"
        if not (model / "model.json").exists():
            from dwarflib.training import train_final_model

            train_final_model(self.sky_dir / "training-sample.fits", model, seed=0, max_epochs=15,
                              search=[{"hidden_layers": (32, 32)}])
        return model

    def sweeps(self) -> list[Path]:
        """The shared sky's sweep files, sorted."""
        return sorted(self.sky_dir.glob("sweep-*.fits"))

    def cli(self, *args: str, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
        """Run ``python -m dwarflib ARGS`` in a subprocess (cwd = ``tmp``) and return the completed process."""
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        return subprocess.run([sys.executable, "-m", "dwarflib", *map(str, args)], cwd=self.tmp, env=env,
                              capture_output=True, text=True, timeout=timeout, **kwargs)


def all_cases() -> list[Case]:
    """Every case of every module in ``benchmarks/hostile/``, in module then list order."""
    cases: list[Case] = []
    for path in sorted((ROOT / "benchmarks" / "hostile").glob("*.py")):
        if path.stem.startswith("_"):
            continue
        cases += importlib.import_module(f"benchmarks.hostile.{path.stem}").CASES
    names = [c.name for c in cases]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ValueError(f"duplicate hostile case names: {sorted(dup)}")
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", help="run only the cases whose name contains this text")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    cases = [c for c in all_cases() if args.k in c.name]
    root = Path(tempfile.mkdtemp(prefix="dwarflib-hostile-"))
    shared = root / "shared"
    shared.mkdir()
    failed: list[str] = []
    for i, case in enumerate(cases):
        tmp = root / f"case{i:03d}"
        tmp.mkdir()
        t0 = time.perf_counter()
        try:
            case.check(Context(shared, tmp))
            verdict = "PASS"
        except Exception as exc:  # a failing case is reported, the replay goes on
            verdict = "FAIL"
            failed.append(case.name)
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        print(f"{verdict}  [{case.item:>6}] {case.name} ({time.perf_counter() - t0:.1f} s)"
              + (f"\n      {detail}" if verdict == "FAIL" else ""), flush=True)
    n_pass = len(cases) - len(failed)
    print(f"\nhostile-input cases tried: {len(cases)}, passed: {n_pass}, failed: {len(failed)}")
    print(f"{n_pass} passed, {len(failed)} failed")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print(f"kept {root}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
