"""Distances on the grid for the evaluation of an intervention: pixel spacing in km, the control ring
around the treated area and the empirical correlogram of a field.

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


def correlogram(field: np.ndarray, spacing_km: tuple[float, float], max_km: float):
    """Empirical spatial autocorrelation of ``field`` (..., y, x; NaN = no data) along the grid axes at
    lags of 1, 2, ... steps of the smaller pixel spacing up to ``max_km``. Each (y, x) slice is centred
    on its own mean; rho(L) = sum z_i z_j / (n_pairs var) over pixel pairs L apart along y and along x,
    var the pooled variance of all slices. Returns ``(lags_km, rho, n_pairs)``."""
    z = np.asarray(field, dtype="float64")
    z = z.reshape((-1,) + z.shape[-2:])
    ok = np.isfinite(z)
    cnt0 = ok.sum(axis=(1, 2), keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, z, 0.0).sum(axis=(1, 2), keepdims=True) / np.maximum(cnt0, 1)
    z = np.where(ok, z - mean, 0.0)
    var = float((z**2).sum() / max(int(ok.sum()), 1))
    step = min(spacing_km)
    lags = np.arange(1, max(int(np.ceil(max_km / step)), 1) + 1)
    rho = np.full(lags.size, np.nan)
    npairs = np.zeros(lags.size, dtype=np.int64)
    for n_lag, lag in enumerate(lags):
        num, cnt = 0.0, 0
        for axis, sp in ((1, spacing_km[0]), (2, spacing_km[1])):
            k = int(round(lag * step / sp))
            if k < 1 or k >= z.shape[axis]:
                continue
            head = [slice(None)] * 3
            tail = [slice(None)] * 3
            head[axis], tail[axis] = slice(0, z.shape[axis] - k), slice(k, None)
            num += float((z[tuple(head)] * z[tuple(tail)]).sum())
            cnt += int((ok[tuple(head)] & ok[tuple(tail)]).sum())
        if cnt > 0 and var > 0:
            rho[n_lag], npairs[n_lag] = num / cnt / var, cnt
    return lags * step, rho, npairs
