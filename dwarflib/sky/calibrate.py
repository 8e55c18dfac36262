"""Calibration of the simulated sky on real catalogues, and the realism report.

The calibration is a forward model: the simulated sky is observed exactly like the real surveys were
(noise, Tractor, BGS-like target selection), and the model parameters are moved until the *selected*
mock galaxies match the *real* ones. Fitting forward avoids the Malmquist bias of fitting relations
directly on a flux-limited sample.

Against the DESI EDR BGS table (PROVABGS masses, r < 19.5; :func:`dwarflib.registry.load_desi_edr`):

* mean observed-frame colours g-r, r-z, z-W1, W1-W2 on the model's (z, log M*) grid nodes: weighted
  medians with the bilinear "hat" weights of each node, mock vs real, iterated;
* colour scatter per population: star-forming from the low-mass nodes (log M* <= 9.5), quiescent from the
  massive ones (log M* >= 11), matching the 16-84 percentile half-width;
* the quiescent fraction per mass node from the fraction of galaxies redder than the midway between the
  two populations' mean g-r;
* the observed-frame mass-to-light zero point a(z), from the median log(M/L_r) per redshift node;
* the mass function in the PROVABGS mass system: the characteristic mass from the share of log M* > 11.3
  among massive galaxies at 0.05 < z < 0.15, the low-mass normalisation phi2 and slope alpha2 from the
  share of log M* < 9.5 and the ratio N(log M* < 8.5) / N(8.5-10) among galaxies at z < 0.1;
* the mean density of the EDR footprint in the local shells z < 0.02 and 0.02 <= z < 0.05 (relative to the
  cosmic mean that holds beyond z = 0.05), from each shell's share of all BGS-like galaxies
  (:func:`_step_local_density`). The ten rosettes hold so little local volume that large-scale structure,
  not the mass function, sets these shares (:func:`edr_rosette_variance` measures it).

Against SAGA DR3 satellites (Mao et al. 2024) at 0.004 < z < 0.011, 7 < log M* < 9, r < 20.75:

* the zero point and scatter of the dwarf mass-size relation from the median and spread of the effective
  surface brightness r + 2.5 log10(2 pi SHAPE_R^2); the fibre-minus-total r magnitude is not fitted and
  stays an independent check;
* the power of b/a in the radius that sets fibre fluxes, from the SAGA fibre magnitudes (:func:`fit_fibre_q_power`);
* the mean g-r of dwarfs at z < 0.03, log M* <= 8.5 from the median g-r.

ELVES (Carlsten et al. 2022) and the LVDB (Pace 2024) are not fitted; they are checks of the mass-size
relation at the faint end, shown in the book.

:func:`calibrate` reproduces the fitted parameters from scratch; :func:`save_calibration` writes them to
``dwarflib/data/simulated_sky_calibration.json`` with the calibration history. :func:`realism_report`
measures the issue's "done when" criteria on a simulated sky directory.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from dwarflib.sky.physics import COLOURS, POPULATIONS, SkyModel, distmod
from dwarflib.training_sample import EDR_Z_MIN

#: Colour columns of the comparison tables, in model order.
COLOUR_COLUMNS = ("gr", "rz", "zw1", "w1w2")
#: Lower redshift limit of the DESI EDR table and of every BGS-like comparison sample (the EDR table's own cut,
#: defined once in :mod:`dwarflib.training_sample`).
BGS_Z_MIN = EDR_Z_MIN
#: Redshift and mass bins of the realism report (bins with >= MIN_REAL real galaxies are scored).
REPORT_Z_EDGES = (BGS_Z_MIN, 0.02, 0.03, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.4, 0.6)
REPORT_M_EDGES = (6.0, 7.0, 8.0, 8.5, 9.0, 9.5, 10.0, 10.5, 11.0, 11.5, 12.0, 13.0)
MIN_REAL = 50
#: The SAGA comparison sample.
SAGA_Z = (0.004, 0.011)
SAGA_LOGM = (7.0, 9.0)
SAGA_R_LIMIT = 20.75
#: Fixed quiescent fraction below the lowest mass the EDR constrains (field + satellite average; isolated
#: dwarfs are almost never quenched, Geha et al. 2012, while ~30% of SAGA satellites below 1e8 Msun are).
FQ_DWARF_PRIOR = 0.05
FQ_FIT_MIN_LOGM = 8.5
#: log M* about which the low-mass slope alpha2 of the mass function is turned during the fit
SMF_SLOPE_PIVOT = 9.0


def _mags(flux, trans=1.0):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.asarray(flux) > 0, 22.5 - 2.5 * np.log10(np.asarray(flux, float) / trans), np.nan)


def colour_frame(flux: dict, z, logm, extra: dict | None = None) -> pd.DataFrame:
    """DataFrame of r and the four colours from extinction-corrected fluxes [nanomaggy]; NaN for flux <= 0."""
    m = {b: _mags(flux[b]) for b in ("G", "R", "Z", "W1", "W2")}
    df = pd.DataFrame({"r": m["R"], "gr": m["G"] - m["R"], "rz": m["R"] - m["Z"], "zw1": m["Z"] - m["W1"],
                       "w1w2": m["W1"] - m["W2"], "Z": np.asarray(z, float), "LOGMSTAR": np.asarray(logm, float)})
    for k, v in (extra or {}).items():
        df[k] = v
    return df


def edr_frame(r_limit: float = 19.5) -> pd.DataFrame:
    """The real DESI EDR BGS galaxies with r < r_limit as a colour frame (plus CLASS)."""
    from dwarflib.labels import assign_classes
    from dwarflib.registry import load_desi_edr

    t = load_desi_edr()
    df = colour_frame({b: np.asarray(t[f"FLUX_{b}"]) for b in ("G", "R", "Z", "W1", "W2")}, t["Z"], t["LOGMSTAR"])
    df = df[(df.r < r_limit) & (df.Z > BGS_Z_MIN)].reset_index(drop=True)
    df["CLASS"] = assign_classes(df.Z, df.LOGMSTAR)
    return df


def saga_frame() -> pd.DataFrame:
    """SAGA DR3 satellites: r, g-r, fibre-minus-total r, effective SB, Sersic, b/a, z, log M*."""
    from dwarflib.registry import load_saga_satellites

    t = load_saga_satellites()
    return pd.DataFrame({"r": np.asarray(t["rmag"], float), "gr": np.asarray(t["gr"], float),
                         "fib_minus_tot": np.asarray(t["rmag-fiber"], float) - np.asarray(t["rmag"], float),
                         "sb": np.asarray(t["sb"], float), "sersic": np.asarray(t["Sersic"], float),
                         "ba": np.asarray(t["ba"], float), "Z": np.asarray(t["z"], float),
                         "LOGMSTAR": np.asarray(t["log(M*)"], float)})


def sweep_frame(sweep: dict, truth: dict) -> pd.DataFrame:
    """Colour frame of simulated sweep rows (observed, dereddened) with truth, SB, fibre and Tractor columns."""
    flux = {b: np.asarray(sweep[f"FLUX_{b}"], float) / np.asarray(sweep[f"MW_TRANSMISSION_{b}"], float)
            for b in ("G", "R", "Z", "W1", "W2")}
    r = _mags(flux["R"])
    shape_r = np.asarray(sweep["SHAPE_R"], float)
    with np.errstate(divide="ignore"):
        sb = r + 2.5 * np.log10(2 * np.pi * shape_r**2)
    fib = _mags(np.asarray(sweep["FIBERFLUX_R"], float) / np.asarray(sweep["MW_TRANSMISSION_R"], float))
    typ = np.asarray(sweep["TYPE"])
    truth = {k: (np.asarray(v).astype(np.asarray(v).dtype.newbyteorder("="))
                 if np.asarray(v).dtype.kind in "biuf" else np.asarray(v)) for k, v in truth.items()}
    typ = np.char.strip(typ.astype("S3").astype(str)) if typ.dtype.kind in "SU" else typ
    extra = {"sb": sb, "fib_minus_tot": fib - r, "SHAPE_R": shape_r, "TYPE": typ,
             "SERSIC": np.asarray(sweep["SERSIC"], float), "CLASS": np.asarray(truth["CLASS"]),
             "IS_STAR": np.asarray(truth["IS_STAR"], bool), "RE_KPC": np.asarray(truth["RE_KPC"], float)}
    return colour_frame(flux, truth["Z"], truth["LOGMSTAR"], extra)


# ---------------------------------------------------------------------------------------------------
# Forward-modelled mock samples
# ---------------------------------------------------------------------------------------------------
def mock_sky_chunk(model: SkyModel, n_sources: int, seed: int, r_limit: float, stars: bool = True):
    """One chunk of simulated sky (sweep dict, truth dict) brighter than r_limit, independent of any file."""
    from dwarflib.sky.generate import generate_chunk, source_densities
    from dwarflib.sky.observe import ObjidCounter, footprint

    dens = dict(source_densities(model, r_limit=r_limit))
    if not stars:
        dens["stars"], dens["total"] = 0.0, dens["galaxies"]
    rng = np.random.default_rng([seed, 99])
    return generate_chunk(rng, n_sources, footprint(1000.0)[0], model, dens, ObjidCounter(), r_limit=r_limit)


def mock_bgs_frame(model: SkyModel, n_sources: int = 400_000, seed: int = 1) -> pd.DataFrame:
    """Simulated BGS-like selection (targets with z > 0.0104) as a colour frame."""
    from dwarflib.sky.generate import bgs_like_targets

    sweep, truth = mock_sky_chunk(model, n_sources, seed, r_limit=19.9)
    sel = bgs_like_targets(sweep) & (truth["Z"] > BGS_Z_MIN) & ~truth["IS_STAR"]
    df = sweep_frame({k: v[sel] for k, v in sweep.items()}, {k: v[sel] for k, v in truth.items()})
    return df


def mock_dwarf_frame(model: SkyModel, n_sources: int = 400_000, seed: int = 2) -> pd.DataFrame:
    """Simulated galaxies in the SAGA comparison volume (0.004 < z < 0.011, 6 < log M* < 10, r < 20.75).

    Uses a sky of sources brighter than r = 21 in which galaxies at z < 0.011 are drawn directly (the rest of
    the sky does not matter here): the sampling grid is restricted by setting z_max.
    """
    local = replace(model, z_max=SAGA_Z[1] + 1e-4)
    local.__dict__["_arrays"] = None
    sweep, truth = mock_sky_chunk(local, n_sources, seed, r_limit=21.0, stars=False)
    keep = ~truth["IS_STAR"]
    df = sweep_frame({k: v[keep] for k, v in sweep.items()}, {k: v[keep] for k, v in truth.items()})
    return df[(df.Z > SAGA_Z[0]) & (df.Z < SAGA_Z[1]) & (df.r < SAGA_R_LIMIT)].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------------
# Weighted statistics on the model grid
# ---------------------------------------------------------------------------------------------------
def hat_weights(x, nodes, i) -> np.ndarray:
    """Weight of grid node i for values x (the bilinear interpolation basis function)."""
    e = np.zeros(len(nodes))
    e[i] = 1.0
    return np.interp(x, nodes, e)


def weighted_quantiles(values, weights, qs=(0.16, 0.5, 0.84)) -> np.ndarray:
    """Weighted quantiles (NaN values ignored)."""
    ok = np.isfinite(values) & (weights > 0)
    v, w = values[ok], weights[ok]
    if w.sum() <= 0:
        return np.full(len(qs), np.nan)
    o = np.argsort(v)
    cw = np.cumsum(w[o])
    cw = (cw - 0.5 * w[o]) / cw[-1]
    return np.interp(qs, cw, v[o])


def node_stats(df: pd.DataFrame, column: str, z_nodes, m_nodes, min_weight: float = 30.0) -> dict:
    """Hat-weighted 16/50/84 percentiles of ``column`` at every (z, m) node with enough weight."""
    z, m, v = df.Z.to_numpy(), df.LOGMSTAR.to_numpy(), df[column].to_numpy()
    out = {"q": np.full((len(z_nodes), len(m_nodes), 3), np.nan), "w": np.zeros((len(z_nodes), len(m_nodes)))}
    for i in range(len(z_nodes)):
        wz = hat_weights(z, z_nodes, i)
        if wz.sum() < min_weight:
            continue
        for j in range(len(m_nodes)):
            w = wz * hat_weights(m, m_nodes, j)
            sw = w.sum()
            out["w"][i, j] = sw
            if sw >= min_weight:
                out["q"][i, j] = weighted_quantiles(v, w)
    return out


def _fill_missing(delta: np.ndarray) -> np.ndarray:
    """Fill NaN nodes from the nearest node with data along mass (same z), else along z (same mass), else 0."""
    out = delta.copy()
    nz, nm = delta.shape
    for i in range(nz):
        have = np.flatnonzero(np.isfinite(delta[i]))
        if have.size:
            for j in range(nm):
                if not np.isfinite(out[i, j]):
                    out[i, j] = delta[i, have[np.argmin(np.abs(have - j))]]
    for j in range(nm):
        col = out[:, j]
        have = np.flatnonzero(np.isfinite(col))
        for i in range(nz):
            if not np.isfinite(out[i, j]):
                out[i, j] = col[have[np.argmin(np.abs(have - i))]] if have.size else 0.0
    return out


def _ml_of(df: pd.DataFrame) -> np.ndarray:
    """Observed-frame log(M/L_r) of a colour frame."""
    from dwarflib.sky.physics import M_SUN_R

    return df.LOGMSTAR.to_numpy() + 0.4 * (df.r.to_numpy() - distmod(df.Z.to_numpy()) - M_SUN_R)


def _logit(p):
    p = np.clip(p, 1e-3, 1 - 1e-3)
    return np.log(p / (1 - p))


# ---------------------------------------------------------------------------------------------------
# Calibration steps
# ---------------------------------------------------------------------------------------------------
def _step_edr(model: SkyModel, edr: pd.DataFrame, mock: pd.DataFrame, damp: float = 0.8) -> tuple[SkyModel, dict]:
    d = model.to_dict()
    zn, mn = np.asarray(model.z_nodes), np.asarray(model.m_nodes)
    diag = {}
    # 1) colour means (both populations move together) and scatters
    sig = {p: np.asarray(d["colour_sigma"][p], float) for p in POPULATIONS}
    for c, (col, name) in enumerate(zip(COLOUR_COLUMNS, COLOURS, strict=True)):
        se, sm = node_stats(edr, col, zn, mn), node_stats(mock, col, zn, mn)
        delta = se["q"][..., 1] - sm["q"][..., 1]
        diag[f"median_offset_{col}"] = float(np.nanmedian(np.abs(delta)))
        delta = _fill_missing(delta)
        for p in POPULATIONS:
            d["colour_mean"][p][name] = (np.asarray(d["colour_mean"][p][name]) + damp * delta).tolist()
        spread_e = 0.5 * (se["q"][..., 2] - se["q"][..., 0])
        spread_m = 0.5 * (sm["q"][..., 2] - sm["q"][..., 0])
        ratio = spread_e / spread_m
        low, high = mn[None, :] <= 9.5, (mn[None, :] >= 11.0) & (zn[:, None] <= 0.3)
        for p, sel in (("SF", low), ("Q", high)):
            r = np.nanmedian(np.where(sel, ratio, np.nan))
            if np.isfinite(r):
                sig[p][c] = float(np.clip(sig[p][c] * r**damp, 0.01, 0.6))
        diag[f"spread_ratio_{col}"] = float(np.nanmedian(ratio))
    d["colour_sigma"] = {p: sig[p].tolist() for p in POPULATIONS}
    # 2) quiescent fraction per mass node: galaxies redder than the midway between the two populations
    arr = model.arrays()
    from dwarflib.sky.physics import _frac_index, bilinear

    def red_fraction(df):
        fz, fm = _frac_index(df.Z.to_numpy(), zn), _frac_index(df.LOGMSTAR.to_numpy(), mn)
        mid = 0.5 * (bilinear(arr["mean"][0, 0], fz, fm) + bilinear(arr["mean"][1, 0], fz, fm))
        return (df.gr.to_numpy() > mid).astype(float)

    fq_nodes = [5.0, 6.0, 7.0, 8.0, 8.5, 9.0, 9.5, 9.75, 10.0, 10.25, 10.5, 10.75, 11.0, 11.5, 12.0, 12.5]
    fq_old = np.asarray(model.fq_values if model.fq_values else
                        [float(v) for v in _fq_logistic(np.asarray(fq_nodes), model)])
    if model.fq_values and list(model.fq_m_nodes) != fq_nodes:
        fq_old = np.interp(fq_nodes, model.fq_m_nodes, model.fq_values)
    re_, rm_ = red_fraction(edr), red_fraction(mock)
    fq_new = fq_old.copy()
    for j, mnode in enumerate(fq_nodes):
        if mnode < FQ_FIT_MIN_LOGM:
            fq_new[j] = FQ_DWARF_PRIOR
            continue
        we, wm = hat_weights(edr.LOGMSTAR.to_numpy(), fq_nodes, j), hat_weights(mock.LOGMSTAR.to_numpy(), fq_nodes, j)
        if we.sum() < 30 or wm.sum() < 30:
            continue
        fe, fm_ = (we * re_).sum() / we.sum(), (wm * rm_).sum() / wm.sum()
        fq_new[j] = float(1 / (1 + np.exp(-(_logit(fq_old[j]) + damp * (_logit(fe) - _logit(fm_))))))
    d["fq_m_nodes"], d["fq_values"] = fq_nodes, [float(v) for v in fq_new]
    # 3) mass-to-light zero point per redshift node. At each (z, m) node the median M/L of the selected
    #    galaxies responds to a shift of a(z) roughly in proportion to the node's completeness c at r < 19.5
    #    (fully where complete, little where the flux limit truncates), so a(z) moves by the least-squares
    #    sum_j c_j dML_j / sum_j c_j^2 over the node's mass nodes above log M* = 9.
    ml_e, ml_m = _ml_of(edr), _ml_of(mock)
    comp = node_completeness(model, 19.5, model.ml_z_nodes, model.m_nodes)
    a = np.asarray(d["ml_a"], float)
    num, den = np.zeros(len(a)), np.zeros(len(a))
    dw_num = dw_den = 0.0
    for i in range(len(model.ml_z_nodes)):
        wz_e = hat_weights(edr.Z.to_numpy(), model.ml_z_nodes, i)
        wz_m = hat_weights(mock.Z.to_numpy(), model.ml_z_nodes, i)
        for j, mnode in enumerate(model.m_nodes):
            we = wz_e * hat_weights(edr.LOGMSTAR.to_numpy(), model.m_nodes, j)
            wm = wz_m * hat_weights(mock.LOGMSTAR.to_numpy(), model.m_nodes, j)
            if we.sum() < 30 or wm.sum() < 30:
                continue
            dml = weighted_quantiles(ml_e, we, (0.5,))[0] - weighted_quantiles(ml_m, wm, (0.5,))[0]
            c = comp[i, j]
            if mnode >= 9.0 and model.ml_z_nodes[i] < 0.25:
                num[i] += c * dml
                den[i] += c * c
            elif mnode < 9.0 and model.ml_z_nodes[i] <= 0.05:  # dwarfs: their own offset
                dw_num += c * dml
                dw_den += c * c
    deltas = np.where(den > 0.5, num / np.maximum(den, 1e-9), np.nan)
    # z >= 0.25: r < 19.5 samples only the exponential tail of the mass function there, where the selected
    # M/L barely responds to a(z); match the redshift distribution n(z) instead (d ln N / d a ~ -10).
    f_e = np.array([hat_weights(edr.Z.to_numpy(), model.ml_z_nodes, i).sum() for i in range(len(a))]) / len(edr)
    f_m = np.array([hat_weights(mock.Z.to_numpy(), model.ml_z_nodes, i).sum() for i in range(len(a))]) / len(mock)
    for i, zn_i in enumerate(model.ml_z_nodes):
        if zn_i >= 0.25 and f_e[i] * len(edr) > 100 and f_m[i] > 0:
            deltas[i] = np.log(f_m[i] / f_e[i]) / 10.0
    diag["ml_offsets"] = [None if not np.isfinite(x) else round(float(x), 4) for x in deltas]
    have = np.flatnonzero(np.isfinite(deltas))
    if have.size:
        for i in range(len(deltas)):
            a[i] += damp * deltas[have[np.argmin(np.abs(have - i))]]
    if dw_den > 0.05:
        d["ml_dwarf_offset"] = float(np.clip(d["ml_dwarf_offset"] + damp * dw_num / dw_den, -0.5, 0.5))
    diag["ml_dwarf_offset"] = d["ml_dwarf_offset"]
    # 4) scatter of the M/L relation, from the spread of log(M/L) at complete nodes (z < 0.2, log M* >= 9)
    sp_e, sp_m = [], []
    for i, zn_i in enumerate(model.ml_z_nodes):
        if zn_i >= 0.2:
            continue
        for j, mnode in enumerate(model.m_nodes):
            if mnode < 9.0 or comp[i, j] < 0.9:
                continue
            we = hat_weights(edr.Z.to_numpy(), model.ml_z_nodes, i) * hat_weights(edr.LOGMSTAR.to_numpy(), model.m_nodes, j)
            wm = hat_weights(mock.Z.to_numpy(), model.ml_z_nodes, i) * hat_weights(mock.LOGMSTAR.to_numpy(), model.m_nodes, j)
            if we.sum() < 50 or wm.sum() < 50:
                continue
            qe, qm = weighted_quantiles(ml_e, we), weighted_quantiles(ml_m, wm)
            sp_e.append(0.5 * (qe[2] - qe[0]))
            sp_m.append(0.5 * (qm[2] - qm[0]))
    if sp_e:
        extra2 = np.median(np.square(sp_e)) - np.median(np.square(sp_m))
        d["ml_sigma"] = float(np.sqrt(np.clip(d["ml_sigma"] ** 2 + damp * extra2, 0.03**2, 0.4**2)))
    diag["ml_sigma"] = d["ml_sigma"]
    # 5) characteristic mass of the mass function in the PROVABGS mass system, from the shape of the mass
    #    distribution where r < 19.5 is complete for massive galaxies (0.05 < z < 0.15, log M* > 10.8):
    #    the fraction above log M* = 11.3
    def massive_fraction(df):
        sel = (df.Z > 0.05) & (df.Z < 0.15) & (df.LOGMSTAR > 10.8)
        return float((df.LOGMSTAR[sel] > 11.3).mean()) if sel.sum() > 50 else np.nan

    f_e, f_m = massive_fraction(edr), massive_fraction(mock)
    if np.isfinite(f_e) and np.isfinite(f_m) and f_m > 0:
        d["smf_logmstar"] = float(d["smf_logmstar"] + damp * np.log(f_e / f_m) / 8.0)
    diag["massive_fraction_real"], diag["massive_fraction_sim"] = f_e, f_m
    diag["smf_logmstar"] = d["smf_logmstar"]
    # 6) low-mass end of the mass function (phi2 and alpha2, in the PROVABGS mass system) from the r < 19.5
    #    galaxies at z < 0.1 (classes 0, 2, 3 and part of 4): the fraction with log M* < 9.5 sets phi2, the
    #    ratio R = N(log M* < 8.5) / N(8.5 <= log M* < 10) sets alpha2. The slope turns about log M* =
    #    SMF_SLOPE_PIVOT (phi2 rescaled so phi(pivot) stays put), so the two updates barely interfere;
    #    d ln R / d alpha2 = ln 10 x (difference of the mean log M* of the two mass ranges).
    near_e, near_m = edr[edr.Z < 0.1], mock[mock.Z < 0.1]
    sel_e = (edr.Z < 0.1) & (edr.LOGMSTAR < 9.5)
    sel_m = (mock.Z < 0.1) & (mock.LOGMSTAR < 9.5)
    f_e, f_m = float(sel_e.mean()), float(sel_m.mean())
    if f_e > 0 and f_m > 0:
        d["smf_phi2"] = float(d["smf_phi2"] * (f_e / f_m) ** damp)
    diag["lowmass_fraction_real"], diag["lowmass_fraction_sim"] = f_e, f_m

    def slope_ratio(df):
        low, mid = df.LOGMSTAR < 8.5, (df.LOGMSTAR >= 8.5) & (df.LOGMSTAR < 10.0)
        lever = float(df.LOGMSTAR[low].mean() - df.LOGMSTAR[mid].mean()) if low.sum() else np.nan
        return (low.sum() / mid.sum() if mid.sum() else np.nan), int(low.sum()), lever

    (r_e, n_low_e, lever), (r_m, n_low_m, _) = slope_ratio(near_e), slope_ratio(near_m)
    if n_low_e >= 30 and n_low_m >= 30:
        step = damp * np.log(r_e / r_m) / (np.log(10) * lever)
        alpha2 = float(np.clip(d["smf_alpha2"] + step, -2.0, -1.0))
        x_pivot = 10.0 ** (SMF_SLOPE_PIVOT - d["smf_logmstar"])
        d["smf_phi2"] = float(d["smf_phi2"] * x_pivot ** (d["smf_alpha2"] - alpha2))
        d["smf_alpha2"] = alpha2
    diag["lowmass_ratio_real"], diag["lowmass_ratio_sim"] = float(r_e), float(r_m)
    diag["smf_phi2"], diag["smf_alpha2"] = d["smf_phi2"], d["smf_alpha2"]
    d["ml_a"] = a.tolist()
    return SkyModel.from_dict(d), diag


def _step_local_density(model: SkyModel, edr: pd.DataFrame, mock: pd.DataFrame,
                        damp: float = 0.8) -> tuple[SkyModel, dict]:
    """Density of each local shell relative to the cosmic mean, from its share of the BGS-like galaxies.

    The share of shell i (galaxies with z > 0.0104, the BGS-like selection, inside the shell) scales
    with its density, so ``local_density[i]`` is multiplied by (real share / simulated share)**damp.
    """
    edges = np.asarray(model.local_density_z_edges, float)
    dens = np.asarray(model.local_density, float).copy()
    diag = {}
    for i in range(len(dens)):
        lo, hi = max(edges[i], BGS_Z_MIN), edges[i + 1]
        s_e = float(((edr.Z >= lo) & (edr.Z < hi)).mean())
        s_m = float(((mock.Z >= lo) & (mock.Z < hi)).mean())
        if s_e > 0 and s_m > 0:
            dens[i] *= (s_e / s_m) ** damp
        diag[f"shell_share_real_{lo:g}_{hi:g}"], diag[f"shell_share_sim_{lo:g}_{hi:g}"] = s_e, s_m
    diag["local_density"] = [round(float(v), 4) for v in dens]
    return replace(model, local_density=[float(v) for v in dens]), diag


def node_completeness(model: SkyModel, r_limit: float, z_nodes, m_nodes) -> np.ndarray:
    """Fraction of galaxies brighter than r_limit at each (z, log M*) node (population-averaged)."""
    from scipy import special

    from dwarflib.sky.physics import M_SUN_R, _s_moments, quiescent_fraction

    Z, M = np.meshgrid(np.maximum(np.asarray(z_nodes, float), 1e-3), np.asarray(m_nodes, float), indexing="ij")
    out = np.zeros(Z.shape)
    fq = quiescent_fraction(M, model)
    for p in (0, 1):
        a, b, mu_gr, sig_gr, mu_s, sd_s = _s_moments(Z, M, np.full(Z.shape, p), model)
        s_max = (r_limit - distmod(Z) - M_SUN_R) / 2.5 - a + M
        out += (fq if p else 1 - fq) * special.ndtr((s_max - mu_s) / sd_s)
    return out


def _fq_logistic(logm, model):
    return model.fq_low + (model.fq_high - model.fq_low) / (1 + np.exp(-(logm - model.fq_m0) / model.fq_width))


def _step_saga(model: SkyModel, saga: pd.DataFrame, mock: pd.DataFrame, damp: float = 0.8) -> tuple[SkyModel, dict]:
    d = model.to_dict()
    s = saga[(saga.LOGMSTAR > SAGA_LOGM[0]) & (saga.LOGMSTAR < SAGA_LOGM[1])]
    m = mock[(mock.LOGMSTAR > SAGA_LOGM[0]) & (mock.LOGMSTAR < SAGA_LOGM[1]) & np.isfinite(mock.sb)]
    diag = {"n_mock_saga": int(len(m))}
    if len(m) < 30:
        return model, diag
    # size zero point from the effective surface brightness (SB ~ 5 log10 r_e at fixed flux); the
    # fibre-minus-total magnitude is left as an independent check
    d_sb = float(np.nanmedian(s.sb) - np.nanmedian(m.sb))
    d_fib = float(np.nanmedian(s.fib_minus_tot) - np.nanmedian(m.fib_minus_tot))
    d["size_dwarf_zero"] = d["size_dwarf_zero"] + damp * d_sb / 5.0
    spread_s = 0.5 * np.diff(np.nanpercentile(s.sb, [16, 84]))[0]
    spread_m = 0.5 * np.diff(np.nanpercentile(m.sb, [16, 84]))[0]
    # SB spread = size scatter (x5) on top of luminosity spread: adjust the size scatter of SF dwarfs
    extra2 = spread_s**2 - spread_m**2
    new_sig = np.sqrt(max(d["size_dwarf_sigma"] ** 2 + damp * extra2 / 25.0, 0.05**2))
    d["size_dwarf_sigma"] = float(min(new_sig, 0.45))
    # dwarf g-r zero point at the lowest redshift nodes
    d_gr = float(np.nanmedian(s.gr) - np.nanmedian(m.gr))
    zn, mn = np.asarray(model.z_nodes), np.asarray(model.m_nodes)
    w = np.clip((9.0 - mn) / 1.0, 0, 1)[None, :] * (zn[:, None] <= 0.015)
    for p in POPULATIONS:
        tab = np.asarray(d["colour_mean"][p]["g-r"])
        d["colour_mean"][p]["g-r"] = (tab + damp * d_gr * w).tolist()
    diag.update(sb_offset=d_sb, gr_offset=d_gr, sb_spread_saga=float(spread_s), sb_spread_mock=float(spread_m),
                fib_offset=d_fib)
    return SkyModel.from_dict(d), diag


def fit_fibre_q_power(saga: pd.DataFrame | None = None) -> float:
    """Power alpha of b/a in the radius used for fibre fluxes, r_e (b/a)**alpha, fitted on SAGA DR3.

    Solves median(observed fibre-minus-total r - predicted) = 0 over the SAGA satellites, the effective
    radius being recovered from their r and effective surface brightness, r_e = sqrt(10**(0.4 (sb - r)) / 2 pi).
    """
    from scipy.optimize import brentq

    from dwarflib.sky.physics import fibre_fraction

    s = saga_frame() if saga is None else saga
    ok = np.isfinite(s.sb) & np.isfinite(s.fib_minus_tot) & (s.sb < 40) & (s.ba > 0)
    s = s[ok]
    re = np.sqrt(10 ** (0.4 * (s.sb - s.r)) / (2 * np.pi)).to_numpy()
    n = np.clip(np.where(s.sersic > 0, s.sersic, 1.0), 0.3, 8.0)

    def offset(alpha):
        pred = -2.5 * np.log10(fibre_fraction(re * s.ba.to_numpy() ** alpha, n))
        return float(np.median(s.fib_minus_tot.to_numpy() - pred))

    lo, hi = offset(0.0), offset(1.0)
    if lo * hi > 0:
        return 0.0 if abs(lo) < abs(hi) else 1.0
    return float(brentq(offset, 0.0, 1.0, xtol=1e-3))


def calibrate(n_iter: int = 24, n_mock: int = 600_000, seed: int = 1, model: SkyModel | None = None,
              verbose: bool = True) -> SkyModel:
    """Fit the sky model to DESI EDR (colours, quiescent fraction, M/L) and SAGA DR3 (dwarf sizes, g-r).

    Starts from ``model`` (default: the uncalibrated :class:`SkyModel`) and iterates forward-model
    comparisons ``n_iter`` times with ``n_mock`` simulated sources per mock. Deterministic for a seed.
    The returned model's ``provenance`` records the data, the settings and the per-iteration diagnostics.
    """
    t0 = time.perf_counter()
    model = SkyModel() if model is None else model
    edr, saga = edr_frame(), saga_frame()
    model = replace(model, fibre_q_power=fit_fibre_q_power(saga))
    history = []
    for it in range(n_iter):
        mock = mock_bgs_frame(model, n_mock, seed)
        model, diag = _step_edr(model, edr, mock)
        model, diag_d = _step_local_density(model, edr, mock)
        diag.update(diag_d)
        dwarfs = mock_dwarf_frame(model, n_mock, seed + 1)
        model, diag_s = _step_saga(model, saga, dwarfs)
        diag.update(diag_s)
        diag["iteration"] = it
        history.append(diag)
        if verbose:
            print({k: round(v, 4) if isinstance(v, float) else v for k, v in diag.items()})
    model.provenance = {
        "method": "forward-model iteration (dwarflib.sky.calibrate.calibrate)",
        "data": ["DESI EDR BGS x PROVABGS (registry: desi_edr_bgs_provabgs), r < 19.5, z > 0.0104",
                 "SAGA DR3 satellites table C3, 0.004 < z < 0.011, 7 < log M* < 9, r < 20.75"],
        "n_iter": n_iter, "n_mock": n_mock, "seed": seed, "seconds": round(time.perf_counter() - t0, 1),
        "history": history,
    }
    return model


def save_calibration(model: SkyModel, path: str | Path | None = None) -> Path:
    """Write the calibrated model as JSON (default: the package data file)."""
    from dwarflib.sky.physics import CALIBRATION_FILE

    path = Path(path) if path is not None else Path(__file__).parents[1] / "data" / CALIBRATION_FILE
    path.parent.mkdir(parents=True, exist_ok=True)

    def clean(o):
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        if isinstance(o, (np.floating, float)):
            return round(float(o), 5)
        if isinstance(o, np.integer):
            return int(o)
        return o

    d = clean(model.to_dict())
    path.write_text(json.dumps(d, indent=1) + "\n")
    return path


# ---------------------------------------------------------------------------------------------------
# Reading a simulated sky back, and the realism report
# ---------------------------------------------------------------------------------------------------
_SKY_COLUMNS = ("RELEASE", "BRICKID", "OBJID", "TYPE", "SHAPE_R", "SERSIC", "FIBERFLUX_R",
                *(f"FLUX_{b}" for b in ("G", "R", "Z", "W1", "W2")),
                *(f"MW_TRANSMISSION_{b}" for b in ("G", "R", "Z", "W1", "W2")))


def _read_fits_table(path):
    """astropy Table of a FITS table, NaN not masked, DR9 unit strings (nanomaggy) not warned about."""
    import warnings

    from astropy.table import Table
    from astropy.units import UnitsWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnitsWarning)
        return Table.read(path, mask_invalid=False)


def read_truth(sky_dir) -> pd.DataFrame:
    """The truth table of a simulated sky as a DataFrame (NaN kept, not masked)."""
    t = _read_fits_table(Path(sky_dir) / "truth.fits")
    return pd.DataFrame({c: np.asarray(t[c]).astype(np.asarray(t[c]).dtype.newbyteorder("="))
                         for c in t.colnames if t[c].ndim == 1})


def read_sky_frame(sky_dir, where=None) -> pd.DataFrame:
    """Simulated sweep rows joined with their truth, as a colour frame (see :func:`sweep_frame`).

    ``where`` is an optional function truth-DataFrame -> boolean mask applied before the join (to keep
    memory small, e.g. only local galaxies).
    """
    from dwarflib.datamodel import unique_id
    from dwarflib.sky.generate import sweep_files
    from dwarflib.survey_io import read_catalogue

    truth = read_truth(sky_dir)
    if where is not None:
        truth = truth[where(truth)]
    truth = truth.set_index("TARGETID")
    parts = []
    for path in sweep_files(sky_dir):
        t = read_catalogue(path, columns=list(_SKY_COLUMNS), required=(), flags=False)
        tid = unique_id(t["RELEASE"], t["BRICKID"], t["OBJID"])
        keep = np.isin(tid, truth.index.to_numpy())
        if not keep.any():
            continue
        sw = {c: np.asarray(t[c])[keep] for c in _SKY_COLUMNS}
        tr = truth.loc[tid[keep]]
        tr_d = {c: tr[c].to_numpy() for c in tr.columns}
        df = sweep_frame(sw, tr_d)
        df["TARGETID"] = tid[keep]
        df["POP"] = tr["POP"].to_numpy()
        parts.append(df)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def read_training_frame(sky_dir, survey: str | None = None) -> pd.DataFrame:
    """The simulated training sample as a colour frame (observed, dereddened) with SURVEY and CLASS."""
    t = _read_fits_table(Path(sky_dir) / "training-sample.fits")
    sw = {c: np.asarray(t[c]) for c in _SKY_COLUMNS}
    truth = {"Z": np.asarray(t["Z"], float), "LOGMSTAR": np.asarray(t["LOGMSTAR"], float),
             "CLASS": np.asarray(t["CLASS"]), "IS_STAR": np.asarray(t["IS_STAR"], bool),
             "RE_KPC": np.full(len(t), np.nan)}
    df = sweep_frame(sw, truth)
    df["SURVEY"] = np.char.strip(np.asarray(t["SURVEY"]).astype("S12").astype(str))
    if survey is not None:
        df = df[df.SURVEY == survey].reset_index(drop=True)
    return df


def _spread(x) -> float:
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    return float(0.5 * (np.percentile(x, 84) - np.percentile(x, 16))) if x.size else np.nan


def colour_bin_table(real: pd.DataFrame, mock: pd.DataFrame, z_edges=REPORT_Z_EDGES, m_edges=REPORT_M_EDGES,
                     min_real: int = MIN_REAL) -> pd.DataFrame:
    """Median and spread of each colour per (z, log M*) bin, real vs simulated, for bins with >= min_real."""
    rows = []
    zr = pd.cut(real.Z, z_edges)
    mr = pd.cut(real.LOGMSTAR, m_edges)
    zm = pd.cut(mock.Z, z_edges)
    mm = pd.cut(mock.LOGMSTAR, m_edges)
    gr_real = real.groupby([zr, mr], observed=True)
    gr_mock = {k: v for k, v in mock.groupby([zm, mm], observed=True)}
    for (zb, mb), rs in gr_real:
        if len(rs) < min_real:
            continue
        ms = gr_mock.get((zb, mb))
        for col in COLOUR_COLUMNS:
            real_med = float(np.nanmedian(rs[col]))
            mock_med = float(np.nanmedian(ms[col])) if ms is not None and len(ms) else np.nan
            rows.append({"z_bin": str(zb), "logm_bin": str(mb), "colour": col, "n_real": len(rs),
                         "n_sim": 0 if ms is None else len(ms), "median_real": real_med, "median_sim": mock_med,
                         "spread_real": _spread(rs[col]), "spread_sim": _spread(ms[col]) if ms is not None else np.nan,
                         "median_diff": mock_med - real_med})
    return pd.DataFrame(rows)


def bgs_sample(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of a BGS-like colour frame that the class-fraction criterion uses: z > 0.0104, r < 19.5."""
    return df[(df.Z > BGS_Z_MIN) & (df.r < 19.5)]


def class_fraction_table(real: pd.DataFrame, sim: pd.DataFrame, n_classes: int = 7) -> pd.DataFrame:
    """Class fractions of two colour frames with a ``CLASS`` column, and the realism criterion on them.

    One row per class: ``real``, ``simulated`` fraction, ``difference`` (simulated / real - 1), counts,
    ``threshold`` (|difference| <= 0.2 for classes with more than 100 real members, else a factor of two)
    and ``passed``.
    """
    n_real = np.bincount(np.asarray(real.CLASS, int), minlength=n_classes)
    n_sim = np.bincount(np.asarray(sim.CLASS, int), minlength=n_classes)
    rows = []
    for k in range(n_classes):
        fr, fs = n_real[k] / n_real.sum(), n_sim[k] / max(n_sim.sum(), 1)
        big = n_real[k] > 100
        rel = fs / fr - 1 if fr > 0 else np.nan
        ok = abs(rel) <= 0.2 if big else (0.5 <= fs / fr <= 2.0 if fr > 0 else False)
        rows.append({"class": k, "real": fr, "simulated": fs, "difference": rel, "n_real": int(n_real[k]),
                     "n_sim": int(n_sim[k]), "threshold": "|rel| <= 0.2" if big else "factor 2", "passed": bool(ok)})
    return pd.DataFrame(rows)


def realism_report(sky_dir, edr: pd.DataFrame | None = None, saga: pd.DataFrame | None = None,
                   colour_tol: float = 0.05) -> pd.DataFrame:
    """The issue's "done when" realism criteria measured on a simulated sky directory.

    Returns one row per measured quantity: ``criterion``, ``quantity``, ``real`` (DESI EDR or SAGA DR3
    value), ``simulated``, ``difference`` (simulated - real; relative for fractions), ``threshold``,
    ``passed``. Criteria:

    1. class fractions of the BGS-like selection (r < 19.5, z > 0.0104) vs DESI EDR: within 20% (relative)
       for classes with > 100 real members, within a factor of two otherwise;
    2. median g-r, r-z, z-W1, W1-W2 within ``colour_tol`` of DESI EDR in >= 80% of the (z, log M*) bins
       holding >= 50 real galaxies (per colour, and all four together);
    3. galaxies at 0.004 < z < 0.011, 7 < log M* < 9, r < 20.75 vs SAGA DR3 satellites: median effective
       surface brightness within 0.3 mag/arcsec^2, median g-r within 0.05 mag, median fibre-minus-total r
       within 0.3 mag.
    """
    from dwarflib.sky.generate import SURVEY_BGS

    edr = edr_frame() if edr is None else edr
    saga = saga_frame() if saga is None else saga
    rows = []
    bgs = bgs_sample(read_training_frame(sky_dir, SURVEY_BGS))
    for _, row in class_fraction_table(edr, bgs).iterrows():
        rows.append({"criterion": "1 class fractions (BGS-like vs DESI EDR)", "quantity": f"fraction class {row['class']}",
                     "real": row.real, "simulated": row.simulated, "difference": row.difference,
                     "n_real": int(row.n_real), "n_sim": int(row.n_sim), "threshold": row.threshold,
                     "passed": bool(row.passed)})
    tab = colour_bin_table(edr, bgs)
    for col in COLOUR_COLUMNS:
        t = tab[tab.colour == col]
        good = (t.median_diff.abs() <= colour_tol).mean() if len(t) else np.nan
        rows.append({"criterion": "2 colour medians in (z, log M*) bins", "quantity": f"fraction of bins within "
                     f"{colour_tol} mag: {col}", "real": np.nan, "simulated": float(good),
                     "difference": float(t.median_diff.abs().median()), "n_real": int(t.n_real.sum()),
                     "n_sim": int(t.n_sim.sum()), "threshold": ">= 0.8", "passed": bool(good >= 0.8)})
        rows.append({"criterion": "2 colour spreads (information)", "quantity": f"median spread ratio sim/real: {col}",
                     "real": float(t.spread_real.median()), "simulated": float(t.spread_sim.median()),
                     "difference": float((t.spread_sim / t.spread_real).median()), "n_real": int(t.n_real.sum()),
                     "n_sim": int(t.n_sim.sum()), "threshold": "", "passed": None})
    good_all = (tab.median_diff.abs() <= colour_tol).mean()
    rows.append({"criterion": "2 colour medians in (z, log M*) bins", "quantity": "fraction of bins within "
                 f"{colour_tol} mag: all four colours", "real": np.nan, "simulated": float(good_all),
                 "difference": float(tab.median_diff.abs().median()), "n_real": int(tab.n_real.sum() / 4),
                 "n_sim": int(tab.n_sim.sum() / 4), "threshold": ">= 0.8", "passed": bool(good_all >= 0.8)})
    sim = read_sky_frame(sky_dir, where=lambda t: (t.Z > SAGA_Z[0]) & (t.Z < SAGA_Z[1]) & ~t.IS_STAR)
    sim = sim[(sim.LOGMSTAR > SAGA_LOGM[0]) & (sim.LOGMSTAR < SAGA_LOGM[1]) & (sim.r < SAGA_R_LIMIT)]
    sg = saga[(saga.LOGMSTAR > SAGA_LOGM[0]) & (saga.LOGMSTAR < SAGA_LOGM[1])]
    for q, tol, unit in (("sb", 0.3, "mag/arcsec^2"), ("gr", 0.05, "mag"), ("fib_minus_tot", 0.3, "mag")):
        real_med, sim_med = float(np.nanmedian(sg[q])), float(np.nanmedian(sim[q])) if len(sim) else np.nan
        rows.append({"criterion": "3 local dwarfs vs SAGA DR3 satellites", "quantity": f"median {q} [{unit}]",
                     "real": real_med, "simulated": sim_med, "difference": sim_med - real_med,
                     "n_real": len(sg), "n_sim": len(sim), "threshold": f"|diff| <= {tol}",
                     "passed": bool(abs(sim_med - real_med) <= tol)})
        rows.append({"criterion": "3 local dwarfs spreads (information)", "quantity": f"spread {q} [{unit}]",
                     "real": _spread(sg[q]), "simulated": _spread(sim[q]), "difference": _spread(sim[q]) - _spread(sg[q]),
                     "n_real": len(sg), "n_sim": len(sim), "threshold": "", "passed": None})
    return pd.DataFrame(rows)



# ---------------------------------------------------------------------------------------------------
# Diagnostics of the failing criteria: sample variance of the EDR rosettes, and matched SAGA comparison
# ---------------------------------------------------------------------------------------------------
def edr_rosette_variance(classes=(0, 1, 2, 3), n_boot: int = 4000, seed: int = 0) -> pd.DataFrame:
    """Sample (cosmic) variance of the real DESI EDR BGS class fractions, from the 10 SV3 rosettes.

    Uses the same selection as :func:`edr_frame` (r < 19.5, z > 0.0104). For each class: the fraction,
    its relative standard deviation from a bootstrap over whole rosettes (``n_boot`` resamples), the
    68% and 95% bootstrap intervals, the pure Poisson relative error, and chi^2 / dof of the per-rosette
    counts about the pooled fraction (>> 1 means clustering, not counting noise, dominates).
    """
    from dwarflib.labels import assign_classes
    from dwarflib.registry import load_desi_edr

    t = load_desi_edr()
    df = colour_frame({b: np.asarray(t[f"FLUX_{b}"]) for b in ("G", "R", "Z", "W1", "W2")}, t["Z"], t["LOGMSTAR"],
                      {"ROSETTE": np.asarray(t["ROSETTE"])})
    df = df[(df.r < 19.5) & (df.Z > BGS_Z_MIN)].reset_index(drop=True)
    df["CLASS"] = assign_classes(df.Z, df.LOGMSTAR)
    ros = np.unique(df.ROSETTE)
    n_tot = np.array([(df.ROSETTE == r).sum() for r in ros])
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(ros), size=(n_boot, len(ros)))
    rows = []
    for k in classes:
        n_k = np.array([((df.ROSETTE == r) & (df.CLASS == k)).sum() for r in ros])
        f = n_k.sum() / n_tot.sum()
        boot = n_k[picks].sum(axis=1) / n_tot[picks].sum(axis=1)
        expected = n_tot * f
        chi2 = float(np.sum((n_k - expected) ** 2 / np.maximum(expected, 1e-12)))
        q = np.percentile(boot, [2.5, 16, 84, 97.5])
        rows.append({"class": int(k), "n_real": int(n_k.sum()), "fraction": f, "rel_sd_rosette_bootstrap":
                     float(boot.std() / f) if f > 0 else np.nan, "lo95": q[0], "lo68": q[1], "hi68": q[2],
                     "hi95": q[3], "rel_sd_poisson": float(1 / np.sqrt(n_k.sum())) if n_k.sum() else np.nan,
                     "chi2_per_dof": chi2 / (len(ros) - 1), "n_rosettes": len(ros)})
    return pd.DataFrame(rows)


def local_volume_decomposition(sim, edr: pd.DataFrame | None = None) -> pd.DataFrame:
    """Split the BGS-like class-0 and class-3 fractions into (shell share) x (class share inside the shell).

    ``sim`` is a simulated sky directory (its BGS-like training sample is used) or a BGS-like colour frame
    such as :func:`mock_bgs_frame`. Class 0 lives in the shell 0.0104 < z < 0.02, class 3 in
    0.02 <= z < 0.05. For real DESI EDR and the simulated BGS-like selection (r < 19.5, z > 0.0104): the
    fraction of all selected galaxies in the shell, and the fraction of the shell's galaxies in the class.
    A deficit of the real shell at *all* masses points to the density of the real volume; a deficit of
    the class inside the shell points to the model.
    """
    from dwarflib.sky.generate import SURVEY_BGS

    edr = edr_frame() if edr is None else edr
    bgs = bgs_sample(sim if isinstance(sim, pd.DataFrame) else read_training_frame(sim, SURVEY_BGS))
    rows = []
    for k, (zlo, zhi) in ((0, (BGS_Z_MIN, 0.02)), (3, (0.02, 0.05))):
        row = {"class": k, "shell": f"{zlo} <= z < {zhi}"}
        for lab, d in (("real", edr), ("sim", bgs)):
            shell = (d.Z >= zlo) & (d.Z < zhi)
            row[f"shell_share_{lab}"] = float(shell.mean())
            row[f"class_share_in_shell_{lab}"] = float((d.CLASS[shell] == k).mean())
            row[f"n_shell_{lab}"] = int(shell.sum())
        row["shell_ratio_sim_real"] = row["shell_share_sim"] / row["shell_share_real"]
        row["class_in_shell_ratio_sim_real"] = row["class_share_in_shell_sim"] / row["class_share_in_shell_real"]
        rows.append(row)
    return pd.DataFrame(rows)


def expected_class_fractions(model: SkyModel | None = None, n_sources: int = 1_000_000, seeds=(101, 102, 103),
                             edr: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Class fractions the sky model predicts for the BGS-like selection, free of the default sky's counting noise.

    Draws ``len(seeds)`` independent mocks of ``n_sources`` galaxies brighter than r = 19.9 (every one a
    potential BGS target, so a million sources hold ~30 times the BGS-like galaxies of the default sky)
    and returns (the :func:`class_fraction_table` of their union against DESI EDR, with ``sim_sd`` the
    seed-to-seed standard deviation of each fraction; the pooled mock frame, for further diagnostics).
    """
    from dwarflib.sky.physics import load_model

    model = load_model() if model is None else model
    edr = edr_frame() if edr is None else edr
    mocks = [bgs_sample(mock_bgs_frame(model, n_sources, seed)) for seed in seeds]
    pooled = pd.concat(mocks, ignore_index=True)
    tab = class_fraction_table(edr, pooled)
    per_seed = np.array([np.bincount(np.asarray(m.CLASS, int), minlength=len(tab)) / len(m) for m in mocks])
    tab["sim_sd"] = per_seed.std(axis=0, ddof=1) if len(mocks) > 1 else np.nan
    return tab, pooled


def saga_matched_medians(sky_dir, saga: pd.DataFrame | None = None,
                         z_edges=None, m_edges=(7.0, 7.4, 7.8, 8.2, 8.6, 9.0)) -> pd.DataFrame:
    """Medians of SB [mag/arcsec^2], g-r and fibre-minus-total r [mag]: SAGA DR3, simulated, and simulated
    re-weighted to SAGA's joint (z, log M*) distribution.

    The simulated sample (criterion 3 of :func:`realism_report`) is volume-weighted, so it piles up near
    z = 0.011, while SAGA's hosts sit at 25-40 Mpc; at fixed physical size the angular size, hence the
    fibre fraction, depends on distance, while the surface brightness does not. Weights are the ratio of
    the SAGA and simulated histograms in ``z_edges`` x ``m_edges``; ``saga_weight_unmatched`` is the SAGA
    fraction in cells with no simulated galaxy. Default ``z_edges``: 7 equal bins over the SAGA z range.
    """
    saga = saga_frame() if saga is None else saga
    z_edges = np.linspace(SAGA_Z[0], SAGA_Z[1], 8) if z_edges is None else z_edges
    sg = saga[(saga.LOGMSTAR > SAGA_LOGM[0]) & (saga.LOGMSTAR < SAGA_LOGM[1])]
    sim = read_sky_frame(sky_dir, where=lambda t: (t.Z > SAGA_Z[0]) & (t.Z < SAGA_Z[1]) & ~t.IS_STAR)
    sim = sim[(sim.LOGMSTAR > SAGA_LOGM[0]) & (sim.LOGMSTAR < SAGA_LOGM[1]) & (sim.r < SAGA_R_LIMIT)]
    ze, me = np.asarray(z_edges), np.asarray(m_edges)
    h_s = np.histogram2d(sg.Z, sg.LOGMSTAR, [ze, me])[0]
    h_m = np.histogram2d(sim.Z, sim.LOGMSTAR, [ze, me])[0]
    h_s, h_m = h_s / h_s.sum(), h_m / max(h_m.sum(), 1)
    iz = np.clip(np.digitize(sim.Z, ze) - 1, 0, len(ze) - 2)
    im = np.clip(np.digitize(sim.LOGMSTAR, me) - 1, 0, len(me) - 2)
    w = np.where(h_m[iz, im] > 0, h_s[iz, im] / np.where(h_m[iz, im] > 0, h_m[iz, im], 1.0), 0.0)
    rows = []
    for q in ("sb", "gr", "fib_minus_tot", "Z", "LOGMSTAR", "r"):
        real = float(np.nanmedian(sg[q]))
        plain = float(np.nanmedian(sim[q]))
        matched = float(weighted_quantiles(sim[q].to_numpy(float), w, (0.5,))[0])
        rows.append({"quantity": q, "saga": real, "sim": plain, "sim_matched": matched, "diff": plain - real,
                     "diff_matched": matched - real, "n_saga": len(sg), "n_sim": len(sim),
                     "saga_weight_unmatched": float(h_s[h_m == 0].sum())})
    return pd.DataFrame(rows)


if __name__ == "__main__":  # python -m dwarflib.sky.calibrate: refit and rewrite the package file
    print("wrote", save_calibration(calibrate()))
