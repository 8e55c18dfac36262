"""Throughput of `dwarflib classify` end to end, against the model-only forward pass of the same model.

Prints, for the same input rows (simulated sweep files) and the same trained model:

* ``pipeline``  : :func:`dwarflib.catalogue.classify_files`, one local process (read only the needed
  columns, preselection, features, calibrated network, Parquet + FITS writing), rows read per second;
* ``forward``   : the network alone on a float32 feature matrix already in memory, in batches of the
  pipeline's chunk size, for (a) as many rows as the pipeline read and (b) only the preselected rows
  (the work the pipeline actually gives the network), rows per second;
* ``naive``     : a plain pipeline -- ``Table.read`` of the whole file (all columns), ``to_pandas``, the same
  preselection and features, a scikit-learn ``Pipeline(SimpleImputer, StandardScaler, MLPClassifier)``
  of the same architecture, ``Table.write`` + ``DataFrame.to_parquet`` of the candidates;
* peak resident memory (ru_maxrss) of each, each run in its own fresh process;
* a stage breakdown of the pipeline (read / preselect / features / network / write, seconds);
* ``dask``      : the pipeline on a ``dask.distributed.LocalCluster`` with 1 and 2 worker processes.

Ratios printed: pipeline / forward (all rows) -- the target is >= 0.75 --, from wall-clock time
(best of ``--repeat``) and from CPU time (``time.process_time``, robust to other processes on a shared
machine), pipeline / forward (preselected rows), pipeline / naive, and the Dask speed-up from 1 to 2
workers.

Usage::

    OMP_NUM_THREADS=1 nice .venv/bin/python benchmarks/classify_speed.py [--n-sources N --seed S]
        [--model-dir DIR] [--chunk-rows 200000] [--repeat 3] [--modes pipeline,forward,...] [--json OUT.json]

Without ``--n-sources`` the default simulated sky (:func:`dwarflib.sky.generate.ensure_simulated_sky`, the
footprint of notebook 07, 2 million sources) is used, so no new sky is generated. Without
``--model-dir`` the model of notebook 06 (``cache_dir("models", "final-7class")``) is used, trained first
with the default settings if it does not exist.

The pipeline reads the next chunk in a thread while the current one is classified
(``classify_file(prefetch=True)``); the stage breakdown times the same steps one after the other.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

BENCH_SEED = 20261123


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _files(sky: Path) -> list[Path]:
    return sorted(sky.glob("sweep-*.fits"))


def mode_pipeline(args) -> dict:
    import torch

    from dwarflib.catalogue import _cached_model, classify_files

    torch.set_num_threads(1)
    files = _files(Path(args.sky))
    _cached_model(args.model_dir)  # imports and model loading are start-up, not throughput
    rss_loaded = _peak_rss_mb()
    times, cpu = [], []
    for _ in range(args.repeat):  # best of N: the machine may be shared
        with tempfile.TemporaryDirectory() as tmp:
            t0, c0 = time.perf_counter(), time.process_time()
            s = classify_files(args.model_dir, files, tmp, workers=1, progress=False, chunk_rows=args.chunk_rows)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    dt = min(times)
    return {"rows": s["rows_read"], "preselected": s["rows_preselected"], "candidates": s["rows_candidates"],
            "seconds": dt, "seconds_all": times, "rows_per_s": s["rows_read"] / dt, "cpu_seconds": min(cpu),
            "peak_rss_mb": _peak_rss_mb(), "rss_after_model_load_mb": rss_loaded}


def mode_stages(args) -> dict:
    """The pipeline's loop with a timer around each stage (read, classify_table stages, write)."""
    import torch

    from dwarflib import survey_io
    from dwarflib.catalogue import catalogue_dtype, classify_table
    from dwarflib.pipeline import load_model
    from dwarflib.stream_writers import FitsStreamWriter, ParquetStreamWriter

    torch.set_num_threads(1)
    model = load_model(args.model_dir)
    t = {"read": 0.0, "write": 0.0}
    n = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, f in enumerate(_files(Path(args.sky))):
            dt = catalogue_dtype(model)
            writers = [ParquetStreamWriter(Path(tmp) / f"{i}.parquet", dt, {}),
                       FitsStreamWriter(Path(tmp) / f"{i}.fits", dt)]
            it = survey_io.iter_catalogue(f, chunk_rows=args.chunk_rows, columns=model.input_columns, flags=False)
            while True:
                t0 = time.perf_counter()
                chunk = next(it, None)
                t["read"] += time.perf_counter() - t0
                if chunk is None:
                    break
                n += len(chunk)
                rows, _, _ = classify_table(model, chunk, timings=t)
                t0 = time.perf_counter()
                for w in writers:
                    w.write(rows)
                t["write"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            for w in writers:
                w.close()
            t["write"] += time.perf_counter() - t0
    return {"rows": n, "stages_s": t}


def mode_forward(args) -> dict:
    """Model-only forward pass on features already in memory (float32), batches of chunk_rows rows."""
    import numpy as np
    import torch

    from dwarflib import survey_io
    from dwarflib.pipeline import load_model

    torch.set_num_threads(1)
    model = load_model(args.model_dir)
    Xs, n_read = [], 0
    for f in _files(Path(args.sky)):
        for chunk in survey_io.iter_catalogue(f, chunk_rows=args.chunk_rows, columns=model.input_columns,
                                              flags=False):
            n_read += len(chunk)
            _, _, X, _, _ = model.apply_chunk(chunk)  # the classified rows' features
            Xs.append(X)
    Xsel = np.concatenate(Xs)
    # as many rows as the pipeline read: the preselected rows repeated
    reps = int(np.ceil(n_read / max(len(Xsel), 1)))
    Xall = np.concatenate([Xsel] * reps)[:n_read]
    out = {"rows_read": n_read, "rows_preselected": len(Xsel)}
    forward = model.forward_only
    Xall = model.network.preprocess(Xall)  # the network input, outside the timing
    Xsel = model.network.preprocess(Xsel)
    forward(Xsel[: min(len(Xsel), 1000)])  # warm-up
    for name, X in (("all", Xall), ("preselected", Xsel)):
        times, cpu = [], []
        for _ in range(args.repeat):  # best of N, as for the pipeline
            t0, c0 = time.perf_counter(), time.process_time()
            for a in range(0, len(X), args.chunk_rows):
                forward(X[a:a + args.chunk_rows])
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        dt = min(times)
        out[f"cpu_seconds_{name}"] = min(cpu)
        out[f"seconds_{name}"] = dt
        out[f"rows_per_s_{name}"] = len(X) / dt
    out["peak_rss_mb"] = _peak_rss_mb()
    return out


def mode_naive(args) -> dict:
    """Plain astropy Table + pandas + scikit-learn pipeline, whole file in memory."""
    import numpy as np
    from astropy.table import Table
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from dwarflib import training_sample as ts
    from dwarflib.features import build_features
    from dwarflib.pipeline import load_model

    model = load_model(args.model_dir)
    # an sklearn network of the same architecture, fitted briefly on the training features (speed only)
    # (the model's own training table, or the footprint's when that one is gone: only speed matters here)
    train_path = Path(model.meta["training_data"]["path"])
    if not train_path.exists():
        train_path = Path(args.sky) / "training-sample.fits"
    sample = ts.build_training_sample(train_path)
    hidden = tuple(model.meta["network"]["config"].get("hidden_layers", (64, 64)))
    clf = make_pipeline(SimpleImputer(), StandardScaler(),
                        MLPClassifier(hidden_layer_sizes=hidden, max_iter=5, random_state=0))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(sample.X[model.features], sample.y)
    del sample
    n = 0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        for i, f in enumerate(_files(Path(args.sky))):
            t = Table.read(f)
            n += len(t)
            res = model.preselection.apply(t)
            sel = t[np.asarray(res.mask, bool)]
            df = build_features(sel, groups=model.feature_groups)[model.features]
            p = clf.predict_proba(df)
            ids = sel[["RELEASE", "BRICKID", "OBJID", "RA", "DEC"]].to_pandas()
            out = df.assign(**{f"P_CLASS{k}": p[:, k] for k in range(p.shape[1])})
            out = ids.join(out)[p[:, 0] >= model.catalogue_threshold]
            out.to_parquet(Path(tmp) / f"{i}.parquet")
            Table.from_pandas(out).write(Path(tmp) / f"{i}.fits")
        dt = time.perf_counter() - t0
    return {"rows": n, "seconds": dt, "rows_per_s": n / dt, "peak_rss_mb": _peak_rss_mb()}


def mode_dask(args) -> dict:
    from dask.distributed import LocalCluster

    from dwarflib.catalogue import classify_files

    files = _files(Path(args.sky))
    out = {}
    for k in (1, 2):
        with LocalCluster(n_workers=k, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
                tempfile.TemporaryDirectory() as tmp:
            # warm the workers (imports, model load) on one file so that both timings exclude start-up
            classify_files(args.model_dir, files[:k], tmp + "/warm", scheduler=cl.scheduler_address,
                           progress=False, chunk_rows=args.chunk_rows)
            t0 = time.perf_counter()
            s = classify_files(args.model_dir, files, tmp + "/run", scheduler=cl.scheduler_address,
                               progress=False, chunk_rows=args.chunk_rows)
            dt = time.perf_counter() - t0
        out[f"workers_{k}"] = {"seconds": dt, "rows_per_s": s["rows_read"] / dt}
    out["speedup_1_to_2"] = out["workers_1"]["seconds"] / out["workers_2"]["seconds"]
    return out


MODES = {"pipeline": mode_pipeline, "forward": mode_forward, "naive": mode_naive, "stages": mode_stages,
         "dask": mode_dask}


def _run_mode(mode: str, args) -> dict:
    cmd = [sys.executable, __file__, "--_mode", mode, "--sky", str(args.sky), "--model-dir", str(args.model_dir),
           "--chunk-rows", str(args.chunk_rows), "--repeat", str(args.repeat)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"mode {mode} failed:\n{r.stderr[-4000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n-sources", type=int, default=None,
                   help="size of the simulated footprint (default: the default sky of ensure_simulated_sky)")
    p.add_argument("--seed", type=int, default=BENCH_SEED, help="seed of the footprint when --n-sources is given")
    p.add_argument("--model-dir", default=None)
    p.add_argument("--chunk-rows", type=int, default=200_000)
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    p.add_argument("--repeat", type=int, default=3, help="repetitions of the pipeline and forward timings (best kept)")
    p.add_argument("--modes", default="pipeline,forward,stages,naive,dask")
    p.add_argument("--sky", default=None, help=argparse.SUPPRESS)
    p.add_argument("--_mode", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._mode:
        print(json.dumps(MODES[args._mode](args)))
        return 0

    from dwarflib.paths import cache_dir
    from dwarflib.sky.generate import ensure_simulated_sky

    if args.model_dir is None:
        args.model_dir = cache_dir("models", "final-7class")
        if not (Path(args.model_dir) / "model.json").exists():
            from dwarflib.training import train_final_model

            print(f"training the default model into {args.model_dir} ...", flush=True)
            train_final_model(Path(ensure_simulated_sky()) / "training-sample.fits", args.model_dir)
    if args.sky is None:
        if args.n_sources is None:
            args.sky = ensure_simulated_sky()
        else:
            print(f"simulated footprint: {args.n_sources:,d} sources, seed {args.seed} ...", flush=True)
            args.sky = ensure_simulated_sky(n_sources=args.n_sources, seed=args.seed)
        print(f"simulated footprint: {args.sky}", flush=True)
    res = {"n_sources": args.n_sources, "chunk_rows": args.chunk_rows, "cpu_count": os.cpu_count()}
    for mode in args.modes.split(","):
        print(f"running {mode} ...", flush=True)
        res[mode] = _run_mode(mode, args)

    print()
    print(f"input: {len(_files(Path(args.sky)))} simulated sweep files, chunk {args.chunk_rows:,d} rows, "
          f"1 torch thread per process, {os.cpu_count()} CPUs, best of {args.repeat} for pipeline and forward")
    if "pipeline" in res:
        pl = res["pipeline"]
        print(f"pipeline (classify, 1 process) : {pl['rows_per_s']:>12,.0f} rows/s   {pl['seconds']:.2f} s   "
              f"peak RSS {pl['peak_rss_mb']:.0f} MB ({pl['rss_after_model_load_mb']:.0f} MB after imports and "
              f"model load)   ({pl['rows']:,d} rows read, {pl['preselected']:,d} preselected, "
              f"{pl['candidates']:,d} candidates)")
    if "forward" in res:
        fw = res["forward"]
        print(f"forward only, as many rows     : {fw['rows_per_s_all']:>12,.0f} rows/s   {fw['seconds_all']:.2f} s")
        print(f"forward only, preselected rows : {fw['rows_per_s_preselected']:>12,.0f} rows/s   "
              f"{fw['seconds_preselected']:.2f} s")
    if "naive" in res:
        nv = res["naive"]
        print(f"naive astropy+pandas+sklearn   : {nv['rows_per_s']:>12,.0f} rows/s   {nv['seconds']:.2f} s   "
              f"peak RSS {nv['peak_rss_mb']:.0f} MB")
    if "stages" in res:
        st = res["stages"]["stages_s"]
        tot = sum(st.values())
        print("pipeline stages: " + ", ".join(f"{k} {v:.2f} s ({100 * v / tot:.0f} %)" for k, v in st.items()))
    if "dask" in res:
        dk = res["dask"]
        print(f"dask LocalCluster: 1 worker {dk['workers_1']['rows_per_s']:,.0f} rows/s, 2 workers "
              f"{dk['workers_2']['rows_per_s']:,.0f} rows/s")
    print()
    print("ratios:")
    if "pipeline" in res and "forward" in res:
        pl, fw = res["pipeline"], res["forward"]
        res["ratio_pipeline_over_forward_all"] = pl["rows_per_s"] / fw["rows_per_s_all"]
        res["ratio_pipeline_over_forward_preselected"] = fw["seconds_preselected"] / pl["seconds"]
        res["ratio_cpu_pipeline_over_forward_all"] = fw["cpu_seconds_all"] / pl["cpu_seconds"]
        print(f"  end-to-end / forward pass (same number of rows)       : "
              f"{res['ratio_pipeline_over_forward_all']:.2f}  (target >= 0.75; wall-clock, best of {args.repeat})")
        print(f"  the same from CPU time (robust to a shared machine)    : "
              f"{res['ratio_cpu_pipeline_over_forward_all']:.2f}  (pipeline {pl['cpu_seconds']:.2f} s, "
              f"forward {fw['cpu_seconds_all']:.2f} s)")
        print(f"  forward time on preselected rows / end-to-end time     : "
              f"{res['ratio_pipeline_over_forward_preselected']:.2f}  (share of the run spent in the network)")
    if "pipeline" in res and "naive" in res:
        res["ratio_pipeline_over_naive"] = res["pipeline"]["rows_per_s"] / res["naive"]["rows_per_s"]
        res["ratio_memory_naive_over_pipeline"] = res["naive"]["peak_rss_mb"] / res["pipeline"]["peak_rss_mb"]
        print(f"  end-to-end / naive pipeline                            : {res['ratio_pipeline_over_naive']:.2f}")
        print(f"  peak memory naive / streaming                          : "
              f"{res['ratio_memory_naive_over_pipeline']:.2f}")
    if "dask" in res:
        print(f"  Dask speed-up 1 -> 2 workers                           : {res['dask']['speedup_1_to_2']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
