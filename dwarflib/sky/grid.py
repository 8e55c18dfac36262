"""Interpolation on the sky model's node grids and sampling of cells (public helpers of :mod:`dwarflib.sky`).

The colour tables, mass-to-light coefficients and the (log M*, z, population) sampling grid of
:mod:`dwarflib.sky.physics` are tabulated on nodes; these functions interpolate them (bit-identical to
``np.interp`` and to the bilinear formula, faster for many unsorted points) and draw cells from an alias table.
Units are those of the tables.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=64)
def _interp_tables(xp: tuple, fps: tuple):
    """Lookup tables of :func:`interp_many` for nodes ``xp`` and values ``fps`` (None: use np.interp)."""
    xp = np.asarray(xp, float)
    if xp.size < 2 or not np.all(np.isfinite(xp)) or not np.all(np.diff(xp) > 0):
        return None
    # cells of a quarter of the smallest node spacing: at most one node near a cell, so the segment found
    # from the cell is off by at most one (corrected by two comparisons)
    h = float(np.min(np.diff(xp))) / 4
    n_cells = int(np.ceil((xp[-1] - xp[0]) / h)) + 1
    if n_cells > 1 << 16:
        return None
    # segment s holds x in [bounds[s], bounds[s + 1]): s = 0 left of xp[0], s = len(xp) from xp[-1] on
    bounds = np.concatenate([[-np.inf], xp, [np.inf]])
    cell_segment = np.searchsorted(xp, xp[0] + h * np.arange(n_cells), side="right")
    seg_x = np.concatenate([xp[:1], xp])
    tabs = []
    for fp in fps:
        fp = np.asarray(fp, float)
        slopes = (fp[1:] - fp[:-1]) / (xp[1:] - xp[:-1])  # the same slopes as np.interp
        # zero slope outside the nodes: fp[0] on the left, fp[-1] from xp[-1] on, as np.interp
        tabs.append((np.concatenate([[0.0], slopes, [0.0]]), np.concatenate([fp[:1], fp])))
    return xp[0], 1.0 / h, n_cells, cell_segment, bounds[:-1], bounds[1:], seg_x, tabs


def interp_many(x, xp, fps) -> list:
    """``[np.interp(x, xp, fp) for fp in fps]``, bit-identical, for strictly increasing nodes ``xp``.

    np.interp finds each x by a binary search, slow for unsorted x (branch mispredictions); here a lookup
    table on a uniform grid gives the segment, shared by all ``fps``, and the value is np.interp's
    ``slope * (x - xp[j]) + fp[j]``. Falls back to np.interp for non-finite x or unusual nodes.
    """
    x = np.asarray(x, dtype=float)
    t = _interp_tables(tuple(map(float, xp)), tuple(tuple(map(float, fp)) for fp in fps))
    if t is None or not np.isfinite(x).all():
        return [np.interp(x, xp, fp) for fp in fps]
    x0, inv_h, n_cells, cell_segment, lo, hi, seg_x, tabs = t
    s = cell_segment[((x - x0) * inv_h).clip(0.0, n_cells - 1).astype(np.intp)]
    s = s + (x >= hi[s]) - (x < lo[s])
    dx = x - seg_x[s]
    return [slope[s] * dx + f0[s] for slope, f0 in tabs]


def interp(x, xp, fp) -> np.ndarray:
    """``np.interp(x, xp, fp)``, bit-identical and faster for many unsorted x (see :func:`interp_many`)."""
    return interp_many(x, xp, [fp])[0]


def frac_index(x, nodes):
    """Fractional index of x in the increasing ``nodes`` (clipped to the ends)."""
    return interp(x, nodes, np.arange(len(nodes), dtype=float))


def bilinear(table: np.ndarray, fz, fm) -> np.ndarray:
    """Bilinear interpolation of ``table[..., iz, im]`` at fractional indices fz, fm (same shape)."""
    nz, nm = table.shape[-2:]
    iz = np.minimum(fz.astype(np.int64), nz - 2)
    im = np.minimum(fm.astype(np.int64), nm - 2)
    tz = fz - iz
    tm = fm - im
    t00 = table[..., iz, im]
    t01 = table[..., iz, im + 1]
    t10 = table[..., iz + 1, im]
    t11 = table[..., iz + 1, im + 1]
    return (t00 * (1 - tz) + t10 * tz) * (1 - tm) + (t01 * (1 - tz) + t11 * tz) * tm


def bilinear_flat(tables, nz: int, nm: int, block, fz, fm) -> list:
    """Bilinear interpolation of several scalar (n_blocks, nz, nm) tables given flattened.

    ``block`` (e.g. the population index) selects the (nz, nm) grid for each object; None for a single
    grid. Returns one array per table. The corner indices and weights are shared between the tables.
    """
    # in-place arithmetic on fresh arrays (fewer temporaries: fresh memory costs page faults), the same
    # operations and rounding as iz = min(int(fz), nz - 2), tz = fz - iz, w00 = (1 - tz) * (1 - tm), ...
    iz = fz.astype(np.int64)
    np.minimum(iz, nz - 2, out=iz)
    im = fm.astype(np.int64)
    np.minimum(im, nm - 2, out=im)
    tz = iz.astype(fz.dtype)
    np.subtract(fz, tz, out=tz)
    tm = im.astype(fm.dtype)
    np.subtract(fm, tm, out=tm)
    i00 = iz
    i00 *= nm
    i00 += im
    del im
    if block is not None:
        i00 += block.astype(np.int64) * (nz * nm)
    tz1, tm1 = 1 - tz, 1 - tm
    w11 = tz * tm
    w10 = tz
    w10 *= tm1
    w01 = tm
    w01 *= tz1
    w00 = tz1
    w00 *= tm1
    out = []
    for t in tables:
        t = np.asarray(t)
        dtype = np.result_type(t, w00)
        # corners t[i00], t[i00 + 1], t[i00 + nm], t[i00 + nm + 1] as takes from shifted views: no index arrays
        res = t.take(i00).astype(dtype, copy=False)
        res *= w00
        for shift, w in ((1, w01), (nm, w10), (nm + 1, w11)):
            corner = t[shift:].take(i00).astype(dtype, copy=False)
            corner *= w
            res += corner
        out.append(res)
    return out



def alias_table(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker/Vose alias table for sampling index i with probability p[i] in O(1) per draw."""
    n = p.size
    scaled = p * n
    prob = np.ones(n)
    alias = np.arange(n, dtype=np.int64)
    small = list(np.flatnonzero(scaled < 1.0))
    large = list(np.flatnonzero(scaled >= 1.0))
    scaled = scaled.tolist()
    while small and large:
        s_i = small.pop()
        l_i = large[-1]
        prob[s_i] = scaled[s_i]
        alias[s_i] = l_i
        scaled[l_i] = scaled[l_i] + scaled[s_i] - 1.0
        if scaled[l_i] < 1.0:
            large.pop()
            small.append(l_i)
    return prob, alias


def alias_draw(rng: np.random.Generator, prob: np.ndarray, alias: np.ndarray, n: int) -> np.ndarray:
    """n indices drawn from an alias table."""
    i = rng.integers(0, prob.size, n)
    return np.where(rng.random(n) < prob.take(i), i, alias.take(i))
