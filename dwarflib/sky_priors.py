"""The sky's class priors estimated from unlabelled catalogue inputs (``dwarflib classify --sky-priors-em``).

The spectroscopic training sample's class mix is not the sky's. For a user's real sweeps, where no truth is
known, the priors of the preselected rows are estimated by the EM prior-shift method of Saerens, Latinne &
Decaestecker (2002, Neural Computation 14, 21; :func:`dwarflib.priors.estimate_priors_em`) from the model's
training-mix probabilities, in a first pass over the inputs; the catalogue's second pass writes the sky-prior
columns with them (:mod:`dwarflib.catalogue`).
"""

from __future__ import annotations

import numpy as np

from dwarflib import north_south, survey_io
from dwarflib.datamodel import unique_id
from dwarflib.pipeline import ChunkArrays, SeenIds
from dwarflib.priors import estimate_priors_em

#: The EM prior estimate uses at most this many preselected rows (a uniform random subsample beyond: the rows
#: with the smallest seeded hash of TARGETID, so the same inputs give the same sample whatever the chunking);
#: the first pass holds up to twice as many rows, 36 bytes each (7 float32 probabilities, an int64 key),
#: about 144 MB.
EM_MAX_ROWS = 2_000_000
#: Seed of the TARGETID hash that picks the EM subsample.
EM_SEED = 2002
#: Tolerance and step limit of the EM prior estimate (:func:`dwarflib.priors.estimate_priors_em`).
EM_TOL = 1e-6
EM_MAX_ITER = 1000


def _hash_keys(tid: np.ndarray, seed: int) -> np.ndarray:
    """A seeded 64-bit hash (splitmix64 finaliser) of TARGETIDs, as uint64: the subsample order of the EM pass."""
    with np.errstate(over="ignore"):
        z = np.asarray(tid, np.int64).view(np.uint64) + np.uint64((seed * 0x9E3779B97F4A7C15) % 2**64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def estimate_sky_priors_em(model, paths, chunk_rows: int = 200_000, resolve_north_south: bool = True,
                           max_rows: int = EM_MAX_ROWS, seed: int = EM_SEED) -> dict:
    """Sky class priors of the preselected rows of ``paths`` by the EM prior-shift method of Saerens, Latinne &
    Decaestecker (2002; :func:`dwarflib.priors.estimate_priors_em`), from the model's training-mix probabilities.

    A first pass over every file (in this process) applies the model exactly as :func:`classify_file` does
    (:meth:`~dwarflib.pipeline.CatalogueModel.apply_chunk`, duplicate TARGETIDs per file, the north/south
    resolution) and keeps the float32 probabilities of the classified rows: all of them up to ``max_rows``,
    else the ``max_rows`` rows with the smallest seeded hash of TARGETID (a uniform random subsample; memory
    at most 2 ``max_rows`` x 36 bytes). The training-mix priors are
    :attr:`~dwarflib.pipeline.CatalogueModel.training_mix_priors` (ModelError without them).

    Returns a JSON-serialisable dict: ``method``, ``priors`` and ``train_priors`` (lists, class order),
    ``n_iter``, ``converged``, ``tol``, ``max_iter``, ``n_rows_preselected`` (classified rows of all inputs),
    ``n_rows_used``, ``max_rows``, ``seed``. Raises ValueError when no row is classified, RuntimeError naming
    the file when one cannot be read.
    """
    if isinstance(max_rows, bool) or int(max_rows) != max_rows or max_rows < 1:
        raise ValueError(f"max_rows must be an integer >= 1, got {max_rows!r}")
    train = model.training_mix_priors
    keys = [np.zeros(0, np.uint64)]
    probs = [np.zeros((0, model.scheme.n_classes), np.float32)]
    n_kept = held = 0
    for path in paths:
        seen = SeenIds()
        try:
            chunks = survey_io.iter_catalogue(path, chunk_rows=chunk_rows, columns=model.input_columns, flags=False)
            for chunk in chunks:
                arrays = ChunkArrays.from_table(chunk)
                kept, why, X, proba, flags = model.apply_chunk(arrays, seen=seen)
                if resolve_north_south:
                    kept, why, X, proba, flags = north_south.resolve_kept(arrays, kept, why, X, proba, flags)
                sel = arrays[kept]
                keys.append(_hash_keys(unique_id(sel["RELEASE"], sel["BRICKID"], sel["OBJID"]), seed))
                probs.append(np.asarray(proba, np.float32))
                n_kept += len(proba)
                held += len(proba)
                if held > 2 * max_rows:  # keep the max_rows smallest keys (memory bound)
                    k, p = np.concatenate(keys), np.concatenate(probs)
                    order = np.argsort(k, kind="stable")[:max_rows]
                    keys, probs, held = [k[order]], [p[order]], max_rows
        except (OSError, ValueError, KeyError) as exc:
            raise RuntimeError(f"EM sky priors: reading {path} failed: {type(exc).__name__}: {exc}") from exc
    k, p = np.concatenate(keys), np.concatenate(probs)
    if len(k) > max_rows:
        p = p[np.argsort(k, kind="stable")[:max_rows]]
    if len(p) == 0:
        raise ValueError(f"EM sky priors: no row of the {len(paths)} input file(s) passes the preselection")
    est = estimate_priors_em(p, train, tol=EM_TOL, max_iter=EM_MAX_ITER)
    return {"method": "EM (Saerens, Latinne & Decaestecker 2002) on the preselected rows of the inputs",
            "priors": est.priors.tolist(), "train_priors": np.asarray(train, float).tolist(),
            "n_iter": int(est.n_iter), "converged": bool(est.converged), "tol": float(est.tol),
            "max_iter": EM_MAX_ITER, "n_rows_preselected": int(n_kept), "n_rows_used": int(len(p)),
            "max_rows": int(max_rows), "seed": int(seed)}
