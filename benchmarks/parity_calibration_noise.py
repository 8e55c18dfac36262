"""How much of the SAGA recall parity's gap can the calibration of the satellite model explain? (issue #13)

The sky's satellite model is fitted on SAGA's calibration half; the parity compares the verification half with
satellites drawn from that fit as if the fit were exact. This script refits the satellite model
(``satellite_calibration.fit_satellite_model``) on ``--n-halves`` random halves of the calibration half's hosts
(half-sampling: the spread of half-sample fits around the full fit is about the full fit's standard error),
redraws the simulated SAGA survey of the verification hosts with each, and scores it with the restricted model of
the parity, trained once per sky seed (real satellites and threshold fixed). It prints, per bin, the real and
simulated recall, the half-sample standard deviation of the simulated recall (``sd_calibration``) and the
real-minus-simulated difference in (Wald) standard errors without and with that term (the parity's verdicts use
Newcombe's intervals; a Wald z overstates a bin whose real recall is 0 or 1). A half-sample fit that the
satellite model refuses (e.g. a low-mass slope above the high-mass one) is counted and left out.

    python benchmarks/parity_calibration_noise.py --seeds 0 1 2 [--n-halves 40] [--fit-half verification]
                                                  [--refit-sky --out DIR]

``--fit-half verification`` swaps the halves for the satellite model only: it is fitted on the verification half
and the parity is checked on the calibration half's real satellites (the sky model, sizes and colours included,
stays fitted on the calibration half, so that check is out of sample for the satellite model only).
``--refit-sky`` also refits the sky model on each half-sample (``calibrate(half=..., hosts=...)``: sizes, size
scatter, Sersic indices, the quenched g-r gap and the dwarf shapes that SAGA fixes; about four minutes a fit, run
``--n-jobs`` at a time and kept in ``DIR`` as ``sky-model-half-<i>.json`` for a rerun), and the satellite model
with it: the spread is then the calibration noise of everything the simulated satellites take from SAGA. Use
fewer half-samples (``--n-halves 10``).
Nothing here moves a parameter of the sky.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from dwarflib.registry import load_saga_hosts
from dwarflib.sky import parity
from dwarflib.sky import satellite_calibration as satcal
from dwarflib.sky.calibrate import ensure_calibration
from dwarflib.sky.generate import ensure_simulated_sky
from dwarflib.sky.samples import SAGA_HALVES, mock_survey_features, other_saga_half


def _half_sample_sky_model(args):
    """``ensure_calibration`` of one half-sample (a process-pool task); ``args`` = (path, half, hosts)."""
    path, half, hosts = args
    return ensure_calibration(path, half=half, hosts=hosts)


def half_sample_models(n_halves: int, half: str = "calibration", seed: int = 42, refit_sky: bool = False,
                       out: Path | None = None, n_jobs: int = 2) -> tuple[list, int]:
    """(sky model, satellite model) pairs fitted on ``n_halves`` random halves of the hosts of SAGA's ``half``
    (sky model None: the sky's own, unless ``refit_sky``; then fitted ``n_jobs`` at a time and kept in ``out``),
    and the number of satellite fits the model refused."""
    cal, dv = satcal.saga_half_rows(half)
    hosts = load_saga_hosts()
    names = np.array(sorted(set(cal.HOSTID)))
    rng = np.random.default_rng(seed)
    subsets = [rng.choice(names, len(names) // 2, replace=False) for _ in range(n_halves)]
    sky_models = [None] * n_halves
    if refit_sky:
        out.mkdir(parents=True, exist_ok=True)
        jobs = [(out / f"sky-model-half-{i}.json", half, sorted(h)) for i, h in enumerate(subsets)]
        with ProcessPoolExecutor(n_jobs) as pool:
            sky_models = list(pool.map(_half_sample_sky_model, jobs))
    models, refused = [], 0
    for hs, model in zip(subsets, sky_models, strict=True):
        keep = cal.HOSTID.isin(hs).to_numpy()
        try:
            models.append((model, satcal.fit_satellite_model(cal[keep].reset_index(drop=True), dv[keep], hosts,
                                                             model=model, half=half)))
        except ValueError:
            refused += 1
    return models, refused


def recall_table(chk, real, mask, host, model, sat, mock_seed: int) -> pd.DataFrame:
    """The parity's recall table of one restricted model ``chk`` on the real SAGA rows ``mask`` and on a simulated
    SAGA survey of their hosts drawn with the sky model ``model`` and the satellite model ``sat``."""
    sim, sim_host = mock_survey_features("SAGA", host[mask], parity.MOCK_SYSTEMS_PER_HOST, mock_seed, model, sat)
    return parity.satellite_recall_parity(chk.apply(real), real, mask, host, chk.apply(sim), sim, sim_host,
                                          threshold=chk.threshold, sim_precision=chk.sim_test["precision"])


def run(seeds, n_halves: int, n_jobs: int = 2, fit_half: str = "calibration", refit_sky: bool = False,
        out: Path | None = None) -> dict[int, pd.DataFrame]:
    check_half = other_saga_half(fit_half)
    fits, refused = half_sample_models(n_halves, fit_half, refit_sky=refit_sky, out=out, n_jobs=n_jobs)
    print(f"{'sky and ' if refit_sky else ''}satellite model fitted on the {fit_half} half, parity checked on "
          f"the {check_half} half; {len(fits)} of {n_halves} half-sample fits kept ({refused} refused by the "
          "satellite model)")
    swapped = None
    if fit_half != "calibration":
        cal, dv = satcal.saga_half_rows(fit_half)
        swapped = satcal.fit_satellite_model(cal, dv, load_saga_hosts(), half=fit_half)
    real, host = parity.parity_real_rows("SAGA", half=check_half)
    mask = real.in_signal() & real.usable
    host = np.asarray(host).astype(str)
    out = {}
    for seed in seeds:
        sky = ensure_simulated_sky(seed=seed)
        model, sat_full = parity.sky_models(sky)
        sat_full = sat_full if swapped is None else swapped
        chk = parity.train_parity_check(parity.sky_training_features(sky), real.kind, n_jobs=n_jobs)
        full = recall_table(chk, real, mask, host, model, sat_full, 0).set_index(["binning", "bin"])
        halves = pd.concat([recall_table(chk, real, mask, host, model if m is None else m, s, 100 + i)
                            .set_index(["binning", "bin"]).recall_sim for i, (m, s) in enumerate(fits)], axis=1)
        t = pd.DataFrame({"n_real": full.n_real, "recall_real": full.recall_real, "recall_sim": full.recall_sim,
                          "sim_half_fits_mean": halves.mean(axis=1), "sd_calibration": halves.std(axis=1)})
        var = (t.recall_real * (1 - t.recall_real) / t.n_real + full.recall_sim * (1 - full.recall_sim) / full.n_sim)
        t["z_binomial"] = (t.recall_real - t.recall_sim) / np.sqrt(var)
        t["z_with_calibration"] = (t.recall_real - t.recall_sim) / np.sqrt(var + t.sd_calibration**2)
        print(f"sky seed {seed}:\n{t.round(3).to_string()}", flush=True)
        out[seed] = t
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--n-halves", type=int, default=40)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--fit-half", choices=SAGA_HALVES, default="calibration",
                    help="the SAGA half the satellite model is fitted on; the parity checks the other")
    ap.add_argument("--refit-sky", action="store_true",
                    help="also refit the sky model on each half-sample (minutes each; needs --out)")
    ap.add_argument("--out", type=Path, default=None, help="folder of the half-sample sky models (--refit-sky)")
    args = ap.parse_args(argv)
    if args.refit_sky and args.out is None:
        ap.error("--refit-sky needs --out (the half-sample sky models are kept there)")
    run(args.seeds, args.n_halves, args.n_jobs, args.fit_half, args.refit_sky, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
