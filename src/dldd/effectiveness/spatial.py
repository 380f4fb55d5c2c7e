"""Distances on the grid for the evaluation of an intervention: pixel spacing in km, the control ring
around the treated area and the square blocks of the spatial bootstrap.

Approximation (documented in METHODS 6 and in the result's parameters): distances are computed with a
Euclidean distance transform on the pixel grid, with one pixel spacing in km for the whole scene. On a
geographic (lon/lat) grid that spacing is the geodesic length of one cell step on the WGS84 ellipsoid at
the latitude of the scene's centre, so east-west distances are off by the relative change of
cos(latitude) across the scene (about 0.7 % per degree of latitude at 37 N, i.e. 0.1 km at 20 km for a
scene one degree tall). On a projected grid the spacing is the cell size in the CRS's linear unit
converted to km (exact for the projection's own distances; UTM scale error is below 0.1 %).
"""

from __future__ import annotations

import numpy as np
import pyproj
import xarray as xr
from scipy import ndimage

from dldd.core.areas import axis_step
from dldd.errors import InputError

#: Spatial dimensions every (y, x) input must have (project convention, DESIGN: data model).
SPATIAL_DIMS = ("y", "x")

#: Metres per kilometre.
M_PER_KM = 1000.0

_GEOD = pyproj.Geod(ellps="WGS84")


def _axis_step(coord: np.ndarray, axis: str) -> float:
    try:
        return axis_step(coord, axis, "outcome grid")
    except InputError as err:
        raise InputError(f"{err}; to derive the pixel spacing pass pixel_size_km=(dy_km, dx_km) instead") from None


def pixel_spacing_km(
    da: xr.DataArray, *, crs=None, pixel_size_km: tuple[float, float] | None = None
) -> tuple[float, float]:
    """Pixel spacing ``(dy_km, dx_km)`` of the (y, x) grid of ``da``.

    ``pixel_size_km`` wins when given. Otherwise the CRS (``crs`` or ``da.rio.crs``) decides: geographic
    grids use geodesic lengths of one cell step on the WGS84 ellipsoid at the scene's centre latitude
    (see module docstring); projected grids use the cell size times the CRS's unit-to-metre factor.
    """
    if pixel_size_km is not None:
        dy, dx = (float(v) for v in pixel_size_km)
        if not (np.isfinite(dy) and np.isfinite(dx) and dy > 0 and dx > 0):
            raise InputError(f"pixel_size_km must be two positive numbers (dy_km, dx_km), got {pixel_size_km!r}")
        return dy, dx
    from dldd.core.areas import grid_crs

    the_crs = grid_crs(da, crs)
    sy = _axis_step(da["y"].values, "y")
    sx = _axis_step(da["x"].values, "x")
    if the_crs.is_geographic:
        lat0 = float(np.mean(da["y"].values))
        lon0 = float(np.mean(da["x"].values))
        dx_m = _GEOD.inv(lon0 - abs(sx) / 2, lat0, lon0 + abs(sx) / 2, lat0)[2]
        dy_m = _GEOD.inv(lon0, lat0 - abs(sy) / 2, lon0, lat0 + abs(sy) / 2)[2]
    else:
        factor = the_crs.axis_info[0].unit_conversion_factor if the_crs.axis_info else 1.0
        dx_m, dy_m = abs(sx) * factor, abs(sy) * factor
    return dy_m / M_PER_KM, dx_m / M_PER_KM


def distance_to_mask_km(mask: np.ndarray, spacing_km: tuple[float, float]) -> np.ndarray:
    """Distance (km, centre to centre) from each pixel to the nearest pixel where ``mask`` is True;
    0 inside the mask (``scipy.ndimage.distance_transform_edt`` with the pixel spacing as sampling)."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return np.full(mask.shape, np.inf)
    return ndimage.distance_transform_edt(~mask, sampling=spacing_km)


def control_ring(
    touched: np.ndarray, spacing_km: tuple[float, float], buffer_km: float, outer_km: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pixels eligible as controls: ``buffer_km < d <= outer_km`` where ``d`` is the distance to the
    nearest pixel touched by the intervention. Returns ``(ring, d)``."""
    if not (0 <= buffer_km < outer_km):
        raise InputError(f"expected 0 <= buffer_km < outer_km, got buffer_km={buffer_km}, outer_km={outer_km}")
    d = distance_to_mask_km(touched, spacing_km)
    ring = (d > buffer_km) & (d <= outer_km)
    return ring, d


def block_positions(
    rows: np.ndarray, cols: np.ndarray, spacing_km: tuple[float, float], block_km: float
) -> np.ndarray:
    """(n, 2) position (block row, block column) of the square block of side ``block_km`` holding each
    pixel (row, col) of the grid; blocks are laid from the grid's first row and column."""
    if not block_km > 0:
        raise InputError(f"block_km must be positive, got {block_km!r}")
    by = np.floor(np.asarray(rows).ravel() * spacing_km[0] / block_km).astype(np.int64)
    bx = np.floor(np.asarray(cols).ravel() * spacing_km[1] / block_km).astype(np.int64)
    return np.column_stack([by, bx])


def aggregate(pos: np.ndarray, values: np.ndarray | None = None):
    """Group rows by their position: ``(unique positions (B, d), index of each row's group (n,), sums of
    values per group (B, ...))``; the sums are omitted (None) when ``values`` is None."""
    upos, inv = np.unique(pos, axis=0, return_inverse=True)
    inv = inv.ravel()
    if values is None:
        return upos, inv, None
    v = np.asarray(values, dtype="float64")
    sums = np.zeros((len(upos),) + v.shape[1:])
    np.add.at(sums, inv, v)
    return upos, inv, sums


def neighbour_pairs(pos: np.ndarray):
    """Yield (i, j) index arrays of all ordered pairs of positions at Chebyshev distance <= 1 (each
    position paired with itself included); ``pos`` (B, d) unique integer rows."""
    p = pos - pos.min(axis=0) + 1
    dims = tuple(int(v) for v in p.max(axis=0) + 2)
    keys = np.ravel_multi_index(tuple(p.T), dims)
    order = np.argsort(keys)
    sk = keys[order]
    d = pos.shape[1]
    for off in np.array(np.meshgrid(*[[-1, 0, 1]] * d, indexing="ij")).reshape(d, -1).T:
        q = np.ravel_multi_index(tuple((p + off).T), dims)
        k = np.searchsorted(sk, q)
        k = np.minimum(k, sk.size - 1)
        hit = sk[k] == q
        yield np.flatnonzero(hit), order[k[hit]]


def correlation_range_km(
    field: np.ndarray, spacing_km: tuple[float, float], max_km: float, negligible: float
) -> float:
    """Smallest distance (km) along the grid axes at which the empirical autocorrelation of ``field``
    (NaN = no data) falls below ``negligible``; NaN when it stays above up to ``max_km`` or there are too
    few pairs. Correlation at lag L = mean(z_i z_{i+L}) / var(z) over pixel pairs L cells apart along y
    and along x (z = field minus its mean)."""
    z = np.asarray(field, dtype="float64")
    ok = np.isfinite(z)
    if ok.sum() < 3:
        return float("nan")
    z = np.where(ok, z - z[ok].mean(), 0.0)
    var = float((z[ok] ** 2).mean())
    if var == 0:
        return 0.0
    step = min(spacing_km)
    for lag in range(1, int(np.ceil(max_km / step)) + 1):
        num, cnt = 0.0, 0
        for axis, sp in ((0, spacing_km[0]), (1, spacing_km[1])):
            k = int(round(lag * step / sp))
            if k < 1 or k >= z.shape[axis]:
                continue
            a = np.take(z, np.arange(z.shape[axis] - k), axis=axis)
            b = np.take(z, np.arange(k, z.shape[axis]), axis=axis)
            m = np.take(ok, np.arange(z.shape[axis] - k), axis=axis) & np.take(ok, np.arange(k, z.shape[axis]), axis=axis)
            num += float((a * b)[m].sum())
            cnt += int(m.sum())
        if cnt == 0:
            return float("nan")
        if num / cnt / var < negligible:
            return lag * step
    return float("nan")
