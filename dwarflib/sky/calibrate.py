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
* the quiescent fraction per mass node (log M* >= 8) from the fraction of galaxies redder than the midway
  between the two populations' mean g-r; below, the field prior FQ_FIELD_DWARF_PRIOR (Geha et al. 2012);
* the low-redshift nodes (z < 0.0104, where the EDR has no galaxies) move with the first node above, so the
  field dwarf colours are continuous in z as the EDR shows;
* the observed-frame mass-to-light zero point a(z), from the median log(M/L_r) per redshift node;
* the mass function in the PROVABGS mass system: the characteristic mass from the share of log M* > 11.3
  among massive galaxies at 0.05 < z < 0.15, the low-mass normalisation phi2 and slope alpha2 from the
  share of log M* < 9.5 and the ratio N(log M* < 8.5) / N(8.5-10) among galaxies at z < 0.1;
* the mean density of the EDR footprint in the local shells z < 0.02 and 0.02 <= z < 0.05 (relative to the
  cosmic mean that holds beyond z = 0.05), from each shell's share of all BGS-like galaxies
  (:func:`_step_local_density`). The ten rosettes hold so little local volume that large-scale structure,
  not the mass function, sets these shares (:func:`edr_rosette_variance` measures it).

Against the calibration half of SAGA DR3 satellites (Mao et al. 2024; split by host,
:func:`dwarflib.sky.samples.saga_frame` ``("calibration")``) at 0.004 < z < 0.011, r < 20.75 (:func:`_step_saga`):

* one smooth star-forming dwarf size sequence: the offset and scatter of log r_e at mass nodes 7-9.5, from the
  hat-weighted median and 16-84 half-width of log r_e [kpc] (from SAGA's sb and r), smoothed across nodes and
  joined to the massive relation at log M* = 10; the fibre-minus-total magnitude is not fitted and stays an
  independent check;
* the star-forming median Sersic index at the nodes 7-9.5, from SAGA's Tractor Sersic indices;
* the g-r of quiescent dwarfs, from the quenched-minus-star-forming g-r gap of SAGA's quenched satellites;
* the size offset of quiescent dwarfs from the star-forming sequence, from the quenched-minus-star-forming
  log r_e gap at fixed mass of the same satellites (until sky version 10 a table value, -0.10 dex);
* the power of b/a in the radius that sets fibre fluxes, from the SAGA fibre magnitudes (:func:`fit_fibre_q_power`);
* the intrinsic shapes of star-forming dwarfs (mean and scatter of C/A, triaxiality), from the b/a distribution of
  SAGA's star-forming satellites (:func:`fit_dwarf_shapes`).

The overall colour level of dwarfs is not fitted on SAGA (satellites, redder than the field): the EDR sets it.
The verification half of SAGA and ELVES are checks only (:func:`dwarflib.sky.diagnostics.dwarf_sequence_report`).

ELVES (Carlsten et al. 2022) and the LVDB (Pace 2024) are not fitted into the sky; they are checks of the
mass-size relation at the faint end, shown in the book. The LVDB's bright dwarfs set one measurement constant
that never enters the sky: how much larger deep photometry measures half-light radii than DR9's Tractor at the
same luminosity (:func:`fit_deep_size_offset`), with which simulated ELVES rows are measured as ELVES measures.

:func:`calibrate` reproduces the fitted parameters from scratch; :func:`save_calibration` writes them to
``dwarflib/data/simulated_sky_calibration.json`` with the calibration history. The comparison samples are
built in :mod:`dwarflib.sky.samples`; :func:`dwarflib.sky.diagnostics.realism_report` measures the issue's
"done when" criteria on a simulated sky directory.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from dwarflib import registry
from dwarflib import verification as V
from dwarflib.conventions import distance_modulus_of_distance, mean_surface_brightness
from dwarflib.selections import BGS_BRIGHT
from dwarflib.sky.grid import bilinear, frac_index
from dwarflib.sky.physics import (
    CALIBRATION_FILE,
    COLOURS,
    M_SUN_R,
    POPULATIONS,
    SIZE_JOIN_LOGM,
    SkyModel,
    distmod,
    fibre_fraction,
    intrinsic_shapes,
    kpc_per_arcsec,
    load_sky_model,
    projected_axis_ratio,
    quiescent_fraction,
    s_moments,
)
from dwarflib.sky.samples import (
    COLOUR_COLUMNS,
    SAGA_HALVES,
    edr_frame,
    mock_bgs_frame,
    mock_dwarf_frame,
    saga_frame,
)

#: Quiescent fraction of FIELD galaxies at the mass nodes below FQ_FIT_MIN_LOGM, where the DESI EDR holds too
#: few galaxies to measure a red fraction. A literature prior, not a fit: isolated dwarfs (> 1.5 Mpc from a
#: massive host) below 1e9 Msun are essentially never quenched (< 0.06 %, Geha et al. 2012); the 0.02 floor
#: allows for the non-isolated dwarfs (groups, backsplash) of a general field and is not constrained by data.
#: Satellites of Milky-Way-mass hosts, with their higher quenched fraction, are simulated separately.
FQ_FIELD_DWARF_PRIOR = 0.02
#: Lowest mass node whose quiescent fraction is fitted on the EDR red fraction (the EDR holds ~350 galaxies
#: at 7.5 < log M* < 8.5, enough for the hat-weighted node at 8.0; the node at 7.0 would have ~50).
FQ_FIT_MIN_LOGM = 8.0
#: Strength of the second-difference penalty that keeps the SAGA-fitted dwarf node tables (sizes, size
#: scatter, Sersic) smooth, in units of the mean SAGA weight per node (:func:`smooth_nodes`).
DWARF_SMOOTHING = 1.0
#: SAGA mass range [log Msun] of the quenched-minus-star-forming g-r gap of dwarfs (the quiescent colour table
#: is moved at mass nodes <= 9, tapering to no change at 10, where the massive table takes over).
Q_GAP_LOGM = (6.0, 9.5)
#: log M* about which the low-mass slope alpha2 of the mass function is turned during the fit
SMF_SLOPE_PIVOT = 9.0


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


def smooth_nodes(target, weight, strength: float = DWARF_SMOOTHING, end_value: float | None = None) -> np.ndarray:
    """Penalised least-squares fit of a node table to per-node targets (equally spaced nodes).

    Minimises ``sum_j w_j (x_j - target_j)^2 + lam sum_j (x_{j-1} - 2 x_j + x_{j+1})^2`` with
    ``lam = strength * mean(w over nodes with data)``; nodes with NaN ``target`` or zero weight are filled by
    the penalty alone. ``end_value`` (if given) is a fixed extra node after the last one (the join with the
    massive relation), included in the penalty so the sequence runs smoothly into it. The calibration fits
    the *table values* this way (target = current value + measured offset), so the converged table is
    smooth, not only the steps towards it: a node moves off its data only as far as the curvature demands.
    """
    d = np.asarray(target, float)
    w = np.where(np.isfinite(d), np.asarray(weight, float), 0.0)
    if w.sum() <= 0:
        return np.zeros_like(d)
    d = np.where(w > 0, d, 0.0)
    n = len(d) + (end_value is not None)
    lam = strength * w[w > 0].mean()
    D = np.diff(np.eye(n), 2, axis=0)
    A = lam * D.T @ D
    b = np.zeros(n)
    A[: len(d), : len(d)] += np.diag(w)
    b[: len(d)] = w * d
    if end_value is not None:  # the fixed last node: move its column to the right-hand side
        b = b[:-1] - A[:-1, -1] * end_value
        A = A[:-1, :-1]
    A += 1e-9 * np.eye(len(A))
    return np.linalg.solve(A, b)


def saga_log_re(df: pd.DataFrame) -> np.ndarray:
    """log10 half-light radius [kpc] of a SAGA-like frame from its r [mag], effective SB ``sb`` and Z.

    Inverts :func:`dwarflib.conventions.mean_surface_brightness` (sb = r + 2.5 log10(2 pi r_e^2), r_e in arcsec,
    no axis ratio), as SAGA's ``sb`` is defined; NaN where sb is missing or not finite.
    """
    r, sb = df.r.to_numpy(float), df.sb.to_numpy(float)
    one = mean_surface_brightness(np.zeros_like(r), np.ones_like(r))  # 2.5 log10(2 pi), the r_e = 1" term
    with np.errstate(invalid="ignore"):
        log_re_arcsec = np.where(np.isfinite(sb) & (sb < 40), 0.2 * (sb - r - one), np.nan)
    return log_re_arcsec + np.log10(kpc_per_arcsec(np.maximum(df.Z.to_numpy(float), 1e-4)))


def _ml_of(df: pd.DataFrame) -> np.ndarray:
    """Observed-frame log(M/L_r) of a colour frame."""
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
        # nodes below the EDR's z > 0.0104 hold few real galaxies: they move with the first node above, so the
        # field sequence stays continuous in z (no local step the EDR does not show)
        delta[zn < BGS_BRIGHT.z_min] = np.nan
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
    def red_fraction(df):
        fz, fm = frac_index(df.Z.to_numpy(), zn), frac_index(df.LOGMSTAR.to_numpy(), mn)
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
            fq_new[j] = FQ_FIELD_DWARF_PRIOR
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
    comp = node_completeness(model, BGS_BRIGHT.r_max, model.ml_z_nodes, model.m_nodes)
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
        lo, hi = max(edges[i], BGS_BRIGHT.z_min), edges[i + 1]
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

    Z, M = np.meshgrid(np.maximum(np.asarray(z_nodes, float), 1e-3), np.asarray(m_nodes, float), indexing="ij")
    out = np.zeros(Z.shape)
    fq = quiescent_fraction(M, model)
    for p in (0, 1):
        a, b, mu_gr, sig_gr, mu_s, sd_s = s_moments(Z, M, np.full(Z.shape, p), model)
        s_max = (r_limit - distmod(Z) - M_SUN_R) / 2.5 - a + M
        out += (fq if p else 1 - fq) * special.ndtr((s_max - mu_s) / sd_s)
    return out


def _fq_logistic(logm, model):
    return model.fq_low + (model.fq_high - model.fq_low) / (1 + np.exp(-(logm - model.fq_m0) / model.fq_width))


def _hat_median_delta(real_x, real_v, mock_x, mock_v, nodes, j, min_real: float = 5.0):
    """Hat-weighted (node j) medians and 16-84 half-widths of real and mock values; NaN where too few real."""
    wr, wm = hat_weights(real_x, nodes, j), hat_weights(mock_x, nodes, j)
    if wr.sum() < min_real or wm.sum() < 30:
        return np.nan, np.nan, np.nan, np.nan, float(wr.sum())
    qr, qm = weighted_quantiles(real_v, wr), weighted_quantiles(mock_v, wm)
    return qr[1], qm[1], 0.5 * (qr[2] - qr[0]), 0.5 * (qm[2] - qm[0]), float(wr.sum())


def _sf_residual_gap(logm, value, quenched) -> float:
    """Median ``value`` (e.g. g-r [mag], log r_e [dex]) of the quenched rows minus the star-forming
    value-log M* line (least squares) at their mass; NaN with fewer than 10 star-forming or 5 quenched rows."""
    sf = ~quenched & np.isfinite(value)
    quenched = quenched & np.isfinite(value)
    if sf.sum() < 10 or quenched.sum() < 5:
        return np.nan
    slope, icpt = np.polyfit(logm[sf], value[sf], 1)
    return float(np.median(value[quenched] - (icpt + slope * logm[quenched])))


def _step_saga(model: SkyModel, saga: pd.DataFrame, mock: pd.DataFrame, damp: float = 0.8) -> tuple[SkyModel, dict]:
    """One forward step of the dwarf sequence on SAGA satellites (the calibration half; see :func:`calibrate`).

    ``saga`` is a :func:`dwarflib.sky.samples.saga_frame`, ``mock`` a :func:`mock_dwarf_frame` (same volume and
    r limit). Moves, all damped by ``damp``:

    * the star-forming size offsets ``size_dwarf_dlogre`` at the nodes ``size_dwarf_m_nodes``, from the
      hat-weighted median log r_e [kpc] (:func:`saga_log_re`, from SAGA's sb and r), and the scatter
      ``size_dwarf_sigma`` from the 16-84 half-widths (all galaxies of both, so the quenched dwarfs count as
      they do in SAGA); both smoothed across nodes (:func:`smooth_nodes`) and run into the join with the
      massive relation at log M* = 10;
    * the star-forming median Sersic index at the nodes <= 9.5, from the mean log10 Tractor Sersic index of
      extended (n > 0) star-forming galaxies (SAGA ``quenched`` false; simulated POP SF), smoothed likewise;
    * the quiescent g-r table at dwarf masses, from the quenched-minus-star-forming g-r gap at fixed mass
      (:func:`_sf_residual_gap`) of SAGA's quenched satellites, the only real quenched dwarfs with this
      photometry in the calibration set; applied to all z nodes, fully at log M* <= 9 and tapering to zero
      at 10. The overall colour level of dwarfs is the EDR's (field), not SAGA's;
    * the size offset of quiescent dwarfs from the star-forming relation, ``size_q_dwarf_offset``, from the
      quenched-minus-star-forming gap in log r_e [kpc] at fixed mass (:func:`_sf_residual_gap`, log r_e from
      :func:`saga_log_re`) of the same satellites. The star-forming offsets above are fitted on all galaxies
      (quenched included, as SAGA counts them), so without this a wrong quiescent size shifts the
      star-forming ones the other way.

    The fibre-minus-total magnitude and the effective surface brightness are not fitted: independent checks.
    """
    d = model.to_dict()
    diag = {"n_mock_saga": int(len(mock)), "n_saga": int(len(saga))}
    s = saga[np.isfinite(saga.LOGMSTAR)]
    m = mock[np.isfinite(mock.sb)]
    if len(m) < 30:
        return model, diag
    # 1) sizes: offsets and scatter per node
    nodes = [*model.size_dwarf_m_nodes, SIZE_JOIN_LOGM]
    lr_s, lr_m = saga_log_re(s), saga_log_re(m)
    ok_s, ok_m = np.isfinite(lr_s), np.isfinite(lr_m)
    xs, xm = s.LOGMSTAR.to_numpy()[ok_s], m.LOGMSTAR.to_numpy()[ok_m]
    res = [_hat_median_delta(xs, lr_s[ok_s], xm, lr_m[ok_m], nodes, j) for j in range(len(nodes) - 1)]
    med_s, med_m, sp_s, sp_m, wts = (np.array(v, float) for v in zip(*res, strict=True))
    off = np.asarray(d["size_dwarf_dlogre"], float)
    fit = smooth_nodes(off + (med_s - med_m), wts, end_value=0.0)
    d["size_dwarf_dlogre"] = (off + damp * (fit - off)).tolist()
    sig = np.asarray(d["size_dwarf_sigma"], float)
    target = np.sqrt(np.clip(sig**2 + (sp_s**2 - sp_m**2), 0.05**2, 0.45**2))
    fit = smooth_nodes(target, wts, end_value=model.size_sf_sigma)
    d["size_dwarf_sigma"] = np.clip(sig + damp * (fit - sig), 0.05, 0.45).tolist()
    diag.update(size_median_saga=med_s.round(4).tolist(), size_median_sim=med_m.round(4).tolist(),
                size_spread_saga=sp_s.round(4).tolist(), size_spread_sim=sp_m.round(4).tolist(),
                size_node_weight=wts.round(1).tolist())
    # 2) Sersic index of star-forming dwarfs
    sn = np.asarray(model.sersic_sf_m_nodes, float)
    jj = np.flatnonzero(sn <= 9.5)
    ss = s[~s.QUENCHED & (s.sersic > 0)]
    ms = m[(m.POP == "SF") & (m.SERSIC > 0)] if "POP" in m else m[m.SERSIC > 0]
    ln_s, ln_m = np.log10(np.clip(ss.sersic, 0.3, 6.0)), np.log10(np.clip(ms.SERSIC, 0.3, 6.0))
    d_n, w_n = np.full(len(jj), np.nan), np.zeros(len(jj))
    for k, j in enumerate(jj):
        wr, wm = hat_weights(ss.LOGMSTAR.to_numpy(), sn, j), hat_weights(ms.LOGMSTAR.to_numpy(), sn, j)
        w_n[k] = wr.sum()
        if wr.sum() >= 5 and wm.sum() >= 30:
            d_n[k] = (wr * ln_s).sum() / wr.sum() - (wm * ln_m).sum() / wm.sum()
    tab = np.asarray(d["sersic_sf_median"], float)
    log_n = np.log10(tab[jj])
    fit = smooth_nodes(log_n + d_n, w_n)
    tab[jj] = np.clip(10 ** (log_n + damp * (fit - log_n)), 0.4, 3.0)
    d["sersic_sf_median"] = tab.tolist()
    diag["sersic_logn_offset"] = np.round(d_n, 4).tolist()
    # 3) quiescent dwarf g-r: the quenched-minus-star-forming gap at fixed mass
    lo, hi = Q_GAP_LOGM
    sg = s[(s.LOGMSTAR > lo) & (s.LOGMSTAR < hi)]
    mg = m[(m.LOGMSTAR > lo) & (m.LOGMSTAR < hi)] if "POP" in m else m.iloc[:0]
    gap_s = _sf_residual_gap(sg.LOGMSTAR.to_numpy(), sg.gr.to_numpy(), sg.QUENCHED.to_numpy(bool))
    gap_m = (_sf_residual_gap(mg.LOGMSTAR.to_numpy(), mg.gr.to_numpy(), (mg.POP == "Q").to_numpy())
             if len(mg) else np.nan)
    if np.isfinite(gap_s) and np.isfinite(gap_m):
        mn = np.asarray(model.m_nodes, float)
        w = np.clip(SIZE_JOIN_LOGM - mn, 0.0, 1.0)[None, :]
        q_gr = np.asarray(d["colour_mean"]["Q"]["g-r"], float)
        d["colour_mean"]["Q"]["g-r"] = (q_gr + damp * (gap_s - gap_m) * w).tolist()
    diag.update(q_gap_saga=gap_s, q_gap_sim=gap_m)
    # 4) quiescent dwarf sizes: the quenched-minus-star-forming log r_e gap at fixed mass
    size_s = _sf_residual_gap(sg.LOGMSTAR.to_numpy(), saga_log_re(sg), sg.QUENCHED.to_numpy(bool))
    size_m = (_sf_residual_gap(mg.LOGMSTAR.to_numpy(), saga_log_re(mg), (mg.POP == "Q").to_numpy())
              if len(mg) else np.nan)
    if np.isfinite(size_s) and np.isfinite(size_m):
        d["size_q_dwarf_offset"] = float(model.size_q_dwarf_offset + damp * (size_s - size_m))
    diag.update(q_size_gap_saga=size_s, q_size_gap_sim=size_m)
    return SkyModel.from_dict(d), diag


def fit_fibre_q_power(saga: pd.DataFrame | None = None) -> float:
    """Power alpha of b/a in the radius used for fibre fluxes, r_e (b/a)**alpha, fitted on SAGA DR3 (default:
    the calibration half).

    Solves median(observed fibre-minus-total r - predicted) = 0 over the SAGA satellites, the effective
    radius being recovered from their r and effective surface brightness, r_e = sqrt(10**(0.4 (sb - r)) / 2 pi).
    """
    from scipy.optimize import brentq

    s = saga_frame("calibration") if saga is None else saga
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


#: Absolute r-band magnitude range [mag] of :func:`size_luminosity_offset` in :func:`fit_deep_size_offset`:
#: bright enough that SAGA is complete in surface brightness (its satellites there have mu_eff < 23.5,
#: where the dwarf survey's redshift success is flat).
DEEP_SIZE_FIT_MR = (-20.0, -15.0)


#: LVDB rows closer than this to an ELVES table-9 row [arcsec] are ELVES's own satellites (the LVDB compiles
#: ELVES): :func:`size_luminosity_frames` leaves them out of the LVDB sample, so ELVES stays an independent
#: check. 303 LVDB rows match within 10 arcsec, 316 within 20, 327 within 60.
LVDB_ELVES_MATCH_ARCSEC = 20.0


def size_luminosity_frames() -> dict[str, pd.DataFrame]:
    """Half-light radius against luminosity of three real samples, each a frame of ``M_r`` [mag] and
    ``log_re`` [log10 kpc, major axis]: ``'SAGA'`` (calibration half, Tractor SHAPE_R via :func:`saga_log_re`;
    M_r from r and the sky's distance modulus at the satellite's z), ``'LVDB'`` (Pace 2024, all tables, without
    ELVES's satellites, :data:`LVDB_ELVES_MATCH_ARCSEC`; literature radii; r from V with the reader's assumed
    g - r) and ``'ELVES'`` (confirmed g, r rows; its Sersic radii). The real tables are read by
    :func:`dwarflib.verification.restricted_features` and its usable rows enter (the others have a reason
    there); SAGA rows without a finite sb are left out."""
    s = saga_frame("calibration")
    lvdb, elves = registry.load_lvdb("all"), registry.load_elves_satellites()
    in_elves = V.match_by_position(np.asarray(lvdb["ra"], float), np.asarray(lvdb["dec"], float),
                                   np.asarray(elves["RAdeg"], float), np.asarray(elves["DEdeg"], float),
                                   LVDB_ELVES_MATCH_ARCSEC)["matched"].to_numpy()
    lv = V.restricted_features(lvdb, "lvdb")
    el = V.restricted_features(elves, "elves", hosts=registry.load_elves_hosts_csv())
    lv_mpc = lv.flags["distance_kpc"].to_numpy(float) / 1e3
    el_mpc = el.flags["distance_mpc"].to_numpy(float)
    samples = {  # M_r [mag], log r_e [log10 kpc], rows that enter
        "SAGA": (s.r.to_numpy(float) - distmod(s.Z.to_numpy(float)), saga_log_re(s), np.ones(len(s), bool)),
        "LVDB": (lv.features["r"].to_numpy(float) - distance_modulus_of_distance(lv_mpc),
                 np.log10(V.physical_radius_pc(lv.flags["rhalf_arcsec"], lv_mpc) / 1e3), lv.usable & ~in_elves),
        "ELVES": (el.features["r"].to_numpy(float) - distance_modulus_of_distance(el_mpc),
                  np.log10(V.physical_radius_pc(el.flags["r_e_arcsec"], el_mpc) / 1e3), el.usable),
    }
    out = {}
    for name, (m_r, log_re, keep) in samples.items():
        ok = keep & np.isfinite(m_r) & np.isfinite(log_re)
        out[name] = pd.DataFrame({"M_r": m_r[ok], "log_re": log_re[ok]})
    return out


def size_luminosity_offset(tractor: pd.DataFrame, deep: pd.DataFrame, mr_range=DEEP_SIZE_FIT_MR,
                           n_boot: int = 1000, seed: int = 0) -> dict:
    """Offset [dex] of log r_e between two samples at the same luminosity: least squares of
    ``log_re = a + b M_r + offset [deep]`` over the rows of both frames (columns ``M_r`` [mag], ``log_re``
    [log10 kpc]) inside ``mr_range``. Returns ``offset``, ``offset_low``/``offset_high`` (95 % percentile
    interval of ``n_boot`` bootstrap resamplings of each sample), ``intercept`` (a, of the Tractor sample) and
    ``slope`` (b) [dex/mag], ``n_tractor``, ``n_deep``.
    """
    def rows(df):
        m = (df.M_r >= mr_range[0]) & (df.M_r < mr_range[1])
        return df.M_r.to_numpy(float)[m], df.log_re.to_numpy(float)[m]

    (ma, ya), (mb, yb) = rows(tractor), rows(deep)
    if min(len(ma), len(mb)) < 3:
        raise ValueError(f"size-luminosity offset: {len(ma)} and {len(mb)} rows in M_r {mr_range}; need 3 each")

    def fit(ia, ib):
        x = np.column_stack([np.ones(len(ia) + len(ib)), np.r_[ma[ia], mb[ib]],
                             np.r_[np.zeros(len(ia)), np.ones(len(ib))]])
        return np.linalg.lstsq(x, np.r_[ya[ia], yb[ib]], rcond=None)[0]

    coef = fit(np.arange(len(ma)), np.arange(len(mb)))
    rng = np.random.default_rng([seed, 41])
    boot = [fit(rng.integers(0, len(ma), len(ma)), rng.integers(0, len(mb), len(mb)))[2] for _ in range(n_boot)]
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return {"offset": float(coef[2]), "offset_low": float(lo), "offset_high": float(hi),
            "intercept": float(coef[0]), "slope": float(coef[1]), "n_tractor": int(len(ma)), "n_deep": int(len(mb))}


def fit_deep_size_offset(frames: dict[str, pd.DataFrame] | None = None, **kw) -> dict:
    """:data:`dwarflib.sky.samples.DEEP_MINUS_TRACTOR_LOG_RE`: :func:`size_luminosity_offset` of the LVDB's
    dwarfs (deep and resolved-star imaging; ELVES's satellites left out) against SAGA's calibration half (DR9
    Tractor) in :data:`DEEP_SIZE_FIT_MR` (frames of :func:`size_luminosity_frames`). ELVES is not used, so its
    parity stays a check."""
    frames = size_luminosity_frames() if frames is None else frames
    return size_luminosity_offset(frames["SAGA"], frames["LVDB"], **kw)


#: b/a at and above which a Tractor shape is a round model whose ellipticity was not measured (REX; b/a = 1):
#: left out of the shape fit and counted apart in :func:`dwarflib.sky.diagnostics.axis_ratio_comparison`.
ROUND_MODEL_BA = 0.999


def measured_axis_ratio(ba) -> np.ndarray:
    """Which b/a values are measured shapes: 0 < b/a < :data:`ROUND_MODEL_BA`."""
    ba = np.asarray(ba, float)
    return (ba > 0) & (ba < ROUND_MODEL_BA)


def fit_dwarf_shapes(saga: pd.DataFrame | None = None, n_views: int = 200, seed: int = 0,
                     model: SkyModel | None = None) -> dict:
    """Intrinsic shapes of star-forming dwarfs (:func:`dwarflib.sky.physics.intrinsic_shapes`) fitted on the
    b/a of SAGA DR3's star-forming satellites (default: the calibration half).

    Each real satellite's mass gets ``n_views`` simulated bodies seen from random directions
    (:func:`dwarflib.sky.physics.projected_axis_ratio`); ``disc_q0_dwarf`` (mean C/A),
    ``disc_q0_dwarf_sigma`` and ``dwarf_triaxiality`` minimise the Cramer-von Mises distance between that
    distribution and the real b/a. Satellites without a measured shape (:func:`measured_axis_ratio`: Tractor
    round models) and quenched ones are left out; measurement noise is not modelled (SAGA's
    satellites are bright, r < 20.75). The same random numbers serve every trial, so the fit is smooth and
    deterministic for a seed. Returns the three parameters and ``shape_cvm`` (the distance reached) and
    ``n_shape_fit`` (real satellites used).
    """
    from scipy.optimize import minimize
    from scipy.stats import cramervonmises

    s = saga_frame("calibration") if saga is None else saga
    s = s[~s.QUENCHED & measured_axis_ratio(s.ba) & np.isfinite(s.LOGMSTAR)]
    real = s.ba.to_numpy(float)
    logm = np.repeat(s.LOGMSTAR.to_numpy(float), n_views)
    rng = np.random.default_rng([seed, 23])
    cos_theta, phi = rng.random(logm.size), np.pi * rng.random(logm.size)
    model = SkyModel() if model is None else model

    def cvm(p):
        q0, sig, tri = p
        if not (0.1 <= q0 <= 0.9 and 0.0 <= sig <= 0.4 and 0.0 <= tri <= 0.6):
            return 1e3
        m = replace(model, disc_q0_dwarf=q0, disc_q0_dwarf_sigma=sig, dwarf_triaxiality=tri)
        b, c = intrinsic_shapes(np.random.default_rng([seed, 29]), logm, m)
        sim = np.sort(projected_axis_ratio(b, c, cos_theta, phi))
        return float(cramervonmises(real, lambda x: np.searchsorted(sim, x) / sim.size).statistic)

    res = minimize(cvm, [0.4, 0.1, 0.2], method="Nelder-Mead",
                   options={"xatol": 1e-4, "fatol": 1e-7, "initial_simplex": [[0.4, 0.1, 0.2], [0.55, 0.1, 0.2],
                                                                              [0.4, 0.2, 0.2], [0.4, 0.1, 0.35]]})
    q0, sig, tri = (float(v) for v in res.x)
    return {"disc_q0_dwarf": q0, "disc_q0_dwarf_sigma": sig, "dwarf_triaxiality": tri,
            "shape_cvm": float(res.fun), "n_shape_fit": int(real.size)}


def calibrate(n_iter: int = 24, n_mock: int = 600_000, seed: int = 1, model: SkyModel | None = None,
              verbose: bool = True, half: str = "calibration", hosts=None) -> SkyModel:
    """Fit the sky model to DESI EDR (colours, quiescent fraction, M/L) and SAGA DR3 (dwarf sizes, g-r).

    Starts from ``model`` (default: the uncalibrated :class:`SkyModel`) and iterates forward-model
    comparisons ``n_iter`` times with ``n_mock`` simulated sources per mock. Deterministic for a seed.
    The returned model's ``provenance`` records the data, the settings and the per-iteration diagnostics.
    ``half``: the SAGA half fitted (the sky's is the calibration half; the verification half is never fitted
    for the sky, and only the two-fold diagnostic of ``benchmarks/parity_seeds.py --fit-half verification``
    fits it, to check on the calibration half). ``hosts``: keep only the satellites of these SAGA HOSTIDs of
    the half (the half-samples of ``benchmarks/parity_calibration_noise.py --refit-sky``); default all.
    """
    if half not in SAGA_HALVES:
        raise ValueError(f"half={half!r}: expected one of {SAGA_HALVES}")
    t0 = time.perf_counter()
    model = SkyModel() if model is None else model
    edr, saga = edr_frame(), saga_frame(half)  # the other half is never fitted
    if hosts is not None:
        unknown = sorted(set(map(str, hosts)) - set(saga.HOSTID))
        if unknown:
            raise ValueError(f"hosts without satellites in SAGA's {half} half: {unknown[:5]}")
        saga = saga[saga.HOSTID.isin(list(map(str, hosts)))].reset_index(drop=True)
    shapes = fit_dwarf_shapes(saga, model=model)
    model = replace(model, fibre_q_power=fit_fibre_q_power(saga),
                    **{k: shapes[k] for k in ("disc_q0_dwarf", "disc_q0_dwarf_sigma", "dwarf_triaxiality")})
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
                 f"SAGA DR3 satellites table C3, {half} half by host (sky.samples.saga_frame({half!r}))"
                 + ("" if hosts is None else f" restricted to {saga.HOSTID.nunique()} of its hosts")
                 + ", 0.004 < z < 0.011, r < 20.75: dwarf sizes, size scatter, SF Sersic index, quenched g-r gap, "
                 "quenched size gap, "
                 "SF dwarf shapes (b/a)"],
        "shape_fit": {k: shapes[k] for k in ("shape_cvm", "n_shape_fit")},
        "n_iter": n_iter, "n_mock": n_mock, "seed": seed, "seconds": round(time.perf_counter() - t0, 1),
        "history": history,
    }
    return model


def ensure_calibration(path: str | Path, **kw) -> SkyModel:
    """The sky model kept in ``path``, fitted there first by ``calibrate(verbose=False, **kw)`` when the file
    is absent (the benchmarks that refit the sky on other SAGA samples keep their fits this way)."""
    path = Path(path)
    if not path.is_file():
        save_calibration(calibrate(verbose=False, **kw), path)
    return load_sky_model(path)


def save_calibration(model: SkyModel, path: str | Path | None = None) -> Path:
    """Write the calibrated model as JSON (default: the package data file)."""
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


if __name__ == "__main__":  # python -m dwarflib.sky.calibrate: refit and rewrite the package file
    print("wrote", save_calibration(calibrate()))
