"""Class priors: move calibrated class probabilities to new priors, and estimate the priors of an
unlabelled sample (prior shift).

A classifier calibrated on a training sample returns posteriors p_t(k | x) that carry that sample's
class priors pi_t(k).  If the class-conditional densities p(x | k) are the same elsewhere (the sky)
but the priors there are pi_n(k), Bayes' rule gives the posteriors there:

    p_n(k | x) = [pi_n(k) / pi_t(k)] p_t(k | x) / sum_j [pi_n(j) / pi_t(j)] p_t(j | x)      (1)

(:func:`prior_shift`).  When pi_n is unknown, the EM algorithm of Saerens, Latinne & Decaestecker
(2002, Neural Computation 14, 21, "Adjusting the outputs of a classifier to new a priori
probabilities: a simple procedure") estimates it from the unlabelled posteriors alone
(:func:`estimate_priors_em`):

    E step: p^(s)(k | x_i) from (1) with pi_n = pi^(s)
    M step: pi^(s+1)(k) = (1 / N) sum_i p^(s)(k | x_i)

starting from pi^(0) = pi_t; each step does not decrease the likelihood of the unlabelled sample.
The estimate is only as good as the calibration of p_t and the assumption that p(x | k) does not
change between the samples.

Probabilities are dimensionless; arrays of posteriors have shape (n_objects, n_classes), rows
summing to 1, columns in class-label order (7-class: signal = column 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PriorEstimate", "estimate_priors_em", "prior_shift"]

#: Tolerance on the sum of a prior vector and of each probability row.
SUM_TOL = 1e-4


def _check_proba(proba) -> np.ndarray:
    p = np.asarray(proba, dtype=float)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"proba must have shape (n_objects, n_classes >= 2), got shape {p.shape}")
    bad = ~np.isfinite(p).all(axis=1) | (p < 0).any(axis=1) | (p > 1).any(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ValueError(f"proba has {rows.size} rows with values outside [0, 1] or not finite "
                         f"(first rows: {rows[:5].tolist()})")
    off = np.abs(p.sum(axis=1) - 1.0) > SUM_TOL
    if off.any():
        rows = np.flatnonzero(off)
        sums = p[rows[:5]].sum(axis=1).round(6).tolist()
        raise ValueError(f"proba rows must sum to 1 (tolerance {SUM_TOL}); {rows.size} rows do not "
                         f"(first rows: {rows[:5].tolist()}, sums {sums})")
    return p


def _check_priors(priors, n_classes: int, name: str) -> np.ndarray:
    q = np.asarray(priors, dtype=float)
    if q.shape != (n_classes,):
        raise ValueError(f"{name} must have one entry per class ({n_classes}), got shape {q.shape}")
    bad = ~np.isfinite(q) | (q <= 0) | (q >= 1)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must lie in the open interval (0, 1); class {k} has {float(q[k])!r}")
    if abs(q.sum() - 1.0) > SUM_TOL:
        raise ValueError(f"{name} must sum to 1 (tolerance {SUM_TOL}), got sum {q.sum():.8g}")
    return q


def _shift(p: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    w = p * ratio
    s = w.sum(axis=1, keepdims=True)
    # s > 0: every row sums to 1 and every ratio is > 0 (priors are checked to lie in (0, 1))
    return w / s


def prior_shift(proba, train_priors, new_priors) -> np.ndarray:
    """Posteriors under new class priors (equation (1) of the module docstring).

    Parameters
    ----------
    proba : array_like, shape (n_objects, n_classes)
        Calibrated posteriors under ``train_priors`` (rows sum to 1).
    train_priors, new_priors : array_like, shape (n_classes,)
        Class priors, each in (0, 1), summing to 1.

    Returns
    -------
    numpy.ndarray, shape (n_objects, n_classes), float64
        ``proba * new / train`` renormalised row by row.  Equal priors return ``proba`` (renormalised).
    """
    p = _check_proba(proba)
    k = p.shape[1]
    t = _check_priors(train_priors, k, "train_priors")
    n = _check_priors(new_priors, k, "new_priors")
    return _shift(p, n / t)


@dataclass(frozen=True)
class PriorEstimate:
    """Result of :func:`estimate_priors_em`: ``priors`` (n_classes,), ``n_iter`` (EM steps made),
    ``converged`` (max |change| of a prior fell below ``tol`` within ``max_iter`` steps), ``tol``."""

    priors: np.ndarray
    n_iter: int
    converged: bool
    tol: float


def estimate_priors_em(proba, train_priors, tol: float = 1e-6, max_iter: int = 1000) -> PriorEstimate:
    """Class priors of an unlabelled sample by the EM prior-shift method of Saerens, Latinne &
    Decaestecker (2002, Neural Computation 14, 21).

    Iterates E step (posteriors moved to the current priors, :func:`prior_shift`) and M step (priors =
    mean posterior) from ``train_priors`` until the largest change of a prior is below ``tol``.

    Parameters
    ----------
    proba : array_like, shape (n_objects, n_classes)
        Calibrated posteriors of the unlabelled objects under ``train_priors``.
    train_priors : array_like, shape (n_classes,)
        Priors of the sample the posteriors were calibrated on, each in (0, 1), summing to 1.
    tol : float
        Convergence tolerance on the priors (absolute, > 0).
    max_iter : int
        Maximum number of EM steps (>= 1); if reached, ``converged`` is False and the last priors
        are returned.

    Returns
    -------
    PriorEstimate
    """
    p = _check_proba(proba)
    if p.shape[0] == 0:
        raise ValueError("estimate_priors_em needs at least one object")
    t = _check_priors(train_priors, p.shape[1], "train_priors")
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive number, got {tol!r}")
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    pi = t.copy()
    for it in range(1, int(max_iter) + 1):
        new = _shift(p, pi / t).mean(axis=0)
        change = float(np.abs(new - pi).max())
        pi = new
        if change < tol:
            return PriorEstimate(priors=pi, n_iter=it, converged=True, tol=float(tol))
    return PriorEstimate(priors=pi, n_iter=int(max_iter), converged=False, tol=float(tol))
