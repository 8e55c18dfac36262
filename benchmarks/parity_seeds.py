"""Difficulty parity (issue #13) of the simulated sky on several seeds: the realism report's criterion 4.

For each seed, the book's default sky size is generated into the cache (``ensure_simulated_sky``; reused
when present) and the two parity harnesses of :mod:`dwarflib.sky.parity` are run on it, exactly as chapter 01
runs them: the DESI EDR colours-only task (balanced class weights, ``parity.EDR_DRAWS`` draws at EDR's counts from
a pool drawn with the sky's models, ``parity.simulated_bgs_pool``) and the recall of
real SAGA (verification half) and ELVES satellites against simulated satellites of the same hosts per bin. Prints one
summary line per criterion and seed, and writes the tables to ``OUT`` (default ``parity-seeds/``).

    python benchmarks/parity_seeds.py --seeds 0 1 2 [--n-sources 2000000] [--n-draws 20] [--out parity-seeds]
                                      [--fit-half verification]

The sky is the calibrated default; nothing here moves a parameter of it.

``--fit-half verification`` is the other fold of a two-fold check: the sky model (``calibrate(half=...)``,
written to ``OUT/sky-model-verification.json`` and reused from there) and the satellite model
(``fit_satellite_model``) are fitted on SAGA's verification half, skies are made with them, and the SAGA parity
checks the calibration half (its real-against-real reference is then the verification half, in the
``*_calibration`` columns: the half the sky is fitted on). EDR and ELVES are checked as for the default sky.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from dwarflib.registry import load_saga_hosts
from dwarflib.sky import parity
from dwarflib.sky import satellite_calibration as satcal
from dwarflib.sky.calibrate import ensure_calibration
from dwarflib.sky.generate import DEFAULT_N_SOURCES, ensure_simulated_sky
from dwarflib.sky.physics import SkyModel
from dwarflib.sky.samples import SAGA_HALVES, edr_frame, other_saga_half
from dwarflib.sky.satellites import SatelliteModel


def fitted_models(fit_half: str, out: Path) -> tuple[SkyModel | None, SatelliteModel | None]:
    """The sky and satellite models fitted on SAGA's ``fit_half``: None, None (the package's) for the
    calibration half; else ``calibrate(half=fit_half)`` (cached in ``out``) and the satellite model fitted on
    that half with it."""
    if fit_half == "calibration":
        return None, None
    model = ensure_calibration(out / f"sky-model-{fit_half}.json", half=fit_half)
    rows, dv = satcal.saga_half_rows(fit_half)
    return model, satcal.fit_satellite_model(rows, dv, load_saga_hosts(), model=model, half=fit_half)


def run(seeds, n_sources: int, out: Path, n_jobs: int = 2, n_draws: int = parity.EDR_DRAWS,
        fit_half: str = "calibration") -> pd.DataFrame:
    out.mkdir(parents=True, exist_ok=True)
    edr = edr_frame()
    model, sat_model = fitted_models(fit_half, out)
    check_half = other_saga_half(fit_half)
    rows = []
    for seed in seeds:
        t0 = time.perf_counter()
        sky = ensure_simulated_sky(n_sources=n_sources, seed=seed, model=model, sat_model=sat_model)
        summ = parity.parity_summary(parity.edr_colour_parity(sky, n_draws=n_draws, seed=0, edr=edr, n_jobs=n_jobs))
        sat = parity.satellite_parity(sky, seed=0, n_jobs=n_jobs, half=check_half)
        summ.to_csv(out / f"parity-edr-seed{seed}.csv", index=False)
        sat.to_csv(out / f"parity-satellites-seed{seed}.csv", index=False)
        for _, r in summ.iterrows():
            rows.append({"seed": seed, "criterion": f"EDR colours-only {r.metric}", "passed": int(r.passed),
                         "of": 1, "detail": f"real {r.real:.3f} [{r.real_low:.3f}, {r.real_high:.3f}], "
                                            f"sim median {r.sim_median:.3f}"})
        simultaneous = parity.simultaneous_verdict(sat).set_index("survey")
        crit = parity.criterion_rows(sat)
        for sv in ("SAGA", "ELVES"):
            t = crit[(crit.survey == sv) & (crit.binning != "all")]
            judged = t.passed.notna()
            below = int((t.recall_real < t.recall_sim).sum())
            rows.append({"seed": seed, "criterion": f"{sv} recall per bin", "passed": int(t.passed[judged].sum()),
                         "of": int(judged.sum()), "detail": f"real below sim in {below} of {len(t)} bins"})
            v = simultaneous.loc[sv]
            rows.append({"seed": seed, "criterion": f"{sv} all bins at once (Bonferroni)", "passed": int(v.passed),
                         "of": 1, "detail": f"{v.n_failed_simultaneous} of {v.n_bins} bins fail at {v.confidence:.4f}"})
            a = crit[(crit.survey == sv) & (crit.binning == "all")].iloc[0]
            rows.append({"seed": seed, "criterion": f"{sv} pooled recall", "passed": int(bool(a.passed)), "of": 1,
                         "detail": f"real {a.recall_real:.3f} (n {a.n_real}), sim {a.recall_sim:.3f} (n {a.n_sim}), "
                                   f"difference [{a.difference_low:+.3f}, {a.difference_high:+.3f}]"})
            if sv == "SAGA":  # the reference, real against real (not a criterion)
                ref = t[t.halves_passed.notna()]
                rows.append({"seed": seed, "criterion": "SAGA halves agree per bin (reference)",
                             "passed": int(ref.halves_passed.astype(bool).sum()), "of": len(ref),
                             "detail": f"pooled: {check_half} {a.recall_real:.3f}, {fit_half} "
                                       f"{a.recall_calibration:.3f}, difference [{a.halves_difference_low:+.3f}, "
                                       f"{a.halves_difference_high:+.3f}]"})
                for pop in parity.POPULATIONS.values():  # the split by population (information, not a criterion)
                    p = sat[(sat.survey == sv) & (sat.population == pop) & (sat.binning == "all")].iloc[0]
                    rows.append({"seed": seed, "criterion": f"SAGA {pop} pooled recall (information)",
                                 "passed": int(bool(p.passed)), "of": 1,
                                 "detail": f"real {p.recall_real:.3f} (n {p.n_real}), sim {p.recall_sim:.3f} "
                                           f"(n {p.n_sim}), difference [{p.difference_low:+.3f}, "
                                           f"{p.difference_high:+.3f}]; {fit_half} half {p.recall_calibration:.3f} "
                                           f"(n {p.n_calibration:.0f})"})
        print(f"seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    table = pd.DataFrame(rows)
    table.to_csv(out / "parity-seeds-summary.csv", index=False)
    return table


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--n-sources", type=int, default=DEFAULT_N_SOURCES)
    ap.add_argument("--out", type=Path, default=Path("parity-seeds"))
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--n-draws", type=int, default=parity.EDR_DRAWS,
                    help=f"EDR-count draws of the colours-only task (book: {parity.EDR_DRAWS})")
    ap.add_argument("--fit-half", choices=SAGA_HALVES, default="calibration",
                    help="the SAGA half the sky and satellite models are fitted on (default: the package's "
                         "models, fitted on the calibration half); the SAGA parity checks the other")
    args = ap.parse_args(argv)
    table = run(args.seeds, args.n_sources, args.out, args.n_jobs, args.n_draws, args.fit_half)
    print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
