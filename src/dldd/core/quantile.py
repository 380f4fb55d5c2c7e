"""Exact quantiles of a map per unit: numpy's 'linear' q-quantile of the values of each unit code (e.g.
the land units of SDG 15.3.1 productivity performance, METHODS 1.3), in memory
(:func:`unit_quantile_map`) or, for dask-backed maps, in bounded memory without gathering the map
(:func:`unit_quantiles_lazy`, :func:`unit_quantile_map_lazy`: exact order statistics by histogram
refinement, equal to numpy's bit for bit).

The quantile is numpy's default (method "linear", Hyndman & Fan 1996 definition 7):
h = (n - 1) q, Q = x_(floor h) + (h - floor h) (x_(floor h + 1) - x_(floor h)) over the sorted values x.
"""

from __future__ import annotations

import numpy as np
import xarray as xr


def unit_quantile_map(mean, unit, q, nodata):
    """Per-unit q-quantile (numpy 'linear') of ``mean`` over the last two axes, mapped to pixels.

    ``mean``: float array (..., y, x); ``unit``: integer codes broadcastable to it, ``nodata`` for none.
    Pixels whose value is not finite or whose unit is ``nodata`` take no part and get NaN.
    """
    out = np.full(mean.shape, np.nan)
    unit_b = np.broadcast_to(unit, mean.shape)
    lead = mean.shape[:-2]
    for idx in np.ndindex(*lead) if lead else [()]:
        m = mean[idx].ravel()
        u = unit_b[idx].ravel()
        ok = np.isfinite(m) & (u != nodata)
        if not ok.any():
            continue
        pos = np.flatnonzero(ok)
        order = np.argsort(u[pos], kind="stable")
        pos = pos[order]
        us = u[pos]
        starts = np.flatnonzero(np.r_[True, us[1:] != us[:-1]])
        ends = np.r_[starts[1:], us.size]
        flat = out[idx].reshape(-1)
        for a, b in zip(starts, ends):
            members = pos[a:b]
            flat[members] = np.quantile(m[members], q)
        out[idx] = flat.reshape(out[idx].shape)
    return out


#: Bounded-memory per-unit quantile (dask): histogram bins per refinement pass, the most values of one
#: unit's candidate interval gathered into one task for the final sort, and the cap on refinement passes.
UNIT_QUANTILE_BINS = 4096
UNIT_QUANTILE_GATHER_MAX = 100_000
UNIT_QUANTILE_MAX_PASSES = 8


def _linear_quantile_ranks(n: int, q: float) -> tuple[int, int, float]:
    """Ranks (0-based, sorted order) of the two values numpy's 'linear' quantile interpolates between,
    and the weight: h = (n - 1) q, ranks floor(h) and floor(h) + 1, weight h - floor(h) (numpy's own
    arithmetic, including h >= n - 1 giving the largest value)."""
    h = np.float64(n - 1) * np.float64(q)
    if h >= n - 1:
        return n - 1, n - 1, 0.0
    k = int(np.floor(h))
    return k, k + 1, float(h - np.float64(k))


def _lerp(a: float, b: float, t: float) -> float:
    """numpy's quantile interpolation: a + (b - a) t, evaluated from b for t >= 0.5."""
    a, b, t = np.float64(a), np.float64(b), np.float64(t)
    d = b - a
    return float(b - d * (1 - t)) if t >= 0.5 else float(a + d * t)


def _valid_pairs(m, u, nodata):
    m = np.asarray(m, dtype=np.float64).ravel()
    u = np.asarray(u).ravel()
    ok = np.isfinite(m) & (u != nodata)
    return m[ok], u[ok]


def _block_unit_stats(m, u, nodata):
    """{unit: (count, min, max)} of one block's valid values."""
    m, u = _valid_pairs(m, u, nodata)
    if m.size == 0:
        return {}
    order = np.argsort(u, kind="stable")
    m, u = m[order], u[order]
    starts = np.flatnonzero(np.r_[True, u[1:] != u[:-1]])
    ends = np.r_[starts[1:], u.size]
    return {int(u[a]): (int(b - a), float(m[a:b].min()), float(m[a:b].max())) for a, b in zip(starts, ends)}


def _merge_unit_stats(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, (n, lo, hi) in b.items():
        if k in out:
            n0, lo0, hi0 = out[k]
            out[k] = (n0 + n, min(lo0, lo), max(hi0, hi))
        else:
            out[k] = (n, lo, hi)
    return out


def _block_histograms(m, u, nodata, targets, bins):
    """Per target (unit, lo, hi): counts, smallest and largest value in each of ``bins`` equal bins of
    [lo, hi] (bin = floor((v - lo) / (hi - lo) bins), the top value in the last bin), one block."""
    m, u = _valid_pairs(m, u, nodata)
    counts = np.zeros((len(targets), bins), dtype=np.int64)
    low = np.full((len(targets), bins), np.inf)
    high = np.full((len(targets), bins), -np.inf)
    for i, (unit, lo, hi) in enumerate(targets):
        v = m[(u == unit) & (m >= lo) & (m <= hi)]
        if v.size == 0:
            continue
        b = np.minimum(((v - lo) / (hi - lo) * bins).astype(np.int64), bins - 1)
        counts[i] = np.bincount(b, minlength=bins)
        np.minimum.at(low[i], b, v)
        np.maximum.at(high[i], b, v)
    return counts, low, high


def _merge_histograms(a, b):
    return a[0] + b[0], np.minimum(a[1], b[1]), np.maximum(a[2], b[2])


def _block_candidates(m, u, nodata, targets):
    """Per target (unit, lo, hi): the block's valid values of the unit within [lo, hi]."""
    m, u = _valid_pairs(m, u, nodata)
    return [m[(u == unit) & (m >= lo) & (m <= hi)] for unit, lo, hi in targets]


def _merge_candidates(a, b):
    return [np.concatenate([x, y]) for x, y in zip(a, b)]


def _reduce_blocks(fn, pairs, merge, *args):
    """``merge`` of ``fn(mean_block, unit_block, *args)`` over the blocks, in block order, computed a few
    blocks at a time (two per worker), so that the caller holds one running result."""
    import dask

    from dldd.core.parallel import computed_in_batches

    acc = None
    for part in computed_in_batches(dask.delayed(fn, pure=True)(mb, ub, *args) for mb, ub in pairs):
        acc = part if acc is None else merge(acc, part)
    return acc


def unit_quantiles_lazy(mean: xr.DataArray, unit: xr.DataArray, q: float, nodata: int) -> dict[int, float]:
    """numpy's 'linear' q-quantile of a dask-backed (y, x) map per unit code, exactly, without gathering.

    Exact order statistics by refinement: per unit the count, minimum and maximum (one pass); then, while
    a unit's candidate interval [lo, hi] holds more than ``UNIT_QUANTILE_GATHER_MAX`` values, a histogram
    of ``UNIT_QUANTILE_BINS`` equal bins narrows it to the bin holding the wanted rank (bins are monotone
    in the value, so a bin's smallest and largest values bound it exactly); finally the few candidates
    are sorted. Each pass reads the map block by block; a block's task sees only its block.
    """
    import dask.array as dsa

    data = mean.data
    codes = unit.data if hasattr(unit.data, "dask") else dsa.from_array(np.asarray(unit.data), chunks=data.chunks)
    codes = codes.rechunk(data.chunks)
    pairs = list(zip(data.to_delayed().ravel(), codes.to_delayed().ravel()))
    stats = _reduce_blocks(_block_unit_stats, pairs, _merge_unit_stats, nodata) or {}
    wanted = {}  # (unit, rank) -> [lo, hi, values below lo, values in [lo, hi]]
    weights = {}
    for code, (n, lo, hi) in sorted(stats.items()):
        k0, k1, t = _linear_quantile_ranks(n, q)
        weights[code] = (k0, k1, t)
        for k in (k0, k1):
            wanted[(code, k)] = [lo, hi, 0, n]
    for _ in range(UNIT_QUANTILE_MAX_PASSES):
        active = [key for key, (lo, hi, _, n_in) in wanted.items() if lo < hi and n_in > UNIT_QUANTILE_GATHER_MAX]
        if not active:
            break
        targets = [(key[0], wanted[key][0], wanted[key][1]) for key in active]
        counts, low, high = _reduce_blocks(_block_histograms, pairs, _merge_histograms, nodata, targets,
                                           UNIT_QUANTILE_BINS)
        for i, key in enumerate(active):
            lo, hi, below, _ = wanted[key]
            cum = np.cumsum(counts[i])
            b = int(np.searchsorted(cum, key[1] - below, side="right"))
            wanted[key] = [float(low[i, b]), float(high[i, b]), below + (int(cum[b - 1]) if b else 0), int(counts[i, b])]
    value = {key: lo for key, (lo, hi, _, _) in wanted.items() if lo == hi}
    rest = [key for key in wanted if key not in value]
    if rest:
        found = _reduce_blocks(_block_candidates, pairs, _merge_candidates, nodata,
                               [(key[0], wanted[key][0], wanted[key][1]) for key in rest])
        for key, cand in zip(rest, found):
            value[key] = float(np.sort(cand)[key[1] - wanted[key][2]])
    return {code: _lerp(value[(code, k0)], value[(code, k1)], t) for code, (k0, k1, t) in weights.items()}


def _unit_lookup(mean, unit, codes, values, nodata):
    """Per pixel the value of its unit (codes sorted); NaN where the mean is not finite or no unit."""
    unit = np.broadcast_to(unit, mean.shape)
    pos = np.clip(np.searchsorted(codes, unit), 0, max(codes.size - 1, 0))
    found = (codes.size > 0) & np.isfinite(mean) & (unit != nodata)
    if codes.size:
        found &= codes[pos] == unit
    return np.where(found, values[pos] if codes.size else np.nan, np.nan)


def unit_quantile_map_lazy(mean: xr.DataArray, unit: xr.DataArray, q: float, nodata: int,
                            spatial_dims: tuple[str, str]) -> xr.DataArray:
    """:func:`unit_quantile_map` for dask-backed maps, in bounded memory (:func:`unit_quantiles_lazy`
    for each index of the leading dimensions)."""
    lead = [d for d in mean.dims if d not in spatial_dims]
    if lead:
        stacked = mean.stack(_lead=lead)
        parts = [unit_quantile_map_lazy(stacked.isel(_lead=i, drop=True), unit, q, nodata, spatial_dims)
                 for i in range(stacked.sizes["_lead"])]
        index = xr.Coordinates.from_pandas_multiindex(stacked.indexes["_lead"], "_lead")
        return xr.concat(parts, dim="_lead").assign_coords(index).unstack("_lead").transpose(*mean.dims)
    m = mean.transpose(*spatial_dims)
    found = unit_quantiles_lazy(m, unit.transpose(*spatial_dims), q, nodata)
    codes = np.array(sorted(found), dtype=np.int64)
    values = np.array([found[c] for c in codes], dtype=np.float64)
    u = unit.transpose(*spatial_dims).chunk(dict(zip(spatial_dims, m.chunks)))
    return xr.apply_ufunc(_unit_lookup, m, u, kwargs={"codes": codes, "values": values, "nodata": nodata},
                          dask="parallelized", output_dtypes=[np.float64])
