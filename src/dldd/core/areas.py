"""Geodesic areas on the WGS84 ellipsoid: grid cells and lon/lat polygons.

Every area table of dldd is in km² computed from each cell's area on the WGS84 ellipsoid, never from pixel
counts (METHODS 1.8). This module gives:

- :func:`cell_area_km2`: the area of each cell of a regular grid, geographic (closed form) or projected
  (densified cell boundaries mapped to lon/lat, areas on the authalic sphere);
- :func:`geodesic_area_km2`: the area of a shapely (Multi)Polygon given in lon/lat degrees, including
  rings that cross the antimeridian;
- :func:`grid_edges` and :func:`grid_crs`: the cell edges and the CRS of a gridded DataArray, shared with
  :mod:`dldd.regions.rasterize`.

Formulas
--------
With ``e`` the first eccentricity and ``q(phi) = (1 - e²) [sin(phi) / (1 - e² sin²(phi)) + atanh(e sin(phi)) / e]``
(Snyder 1987, *Map projections: a working manual*, USGS PP 1395, eq. 3-12), the area of the ellipsoid
between parallels ``phi1 < phi2`` and meridians ``lam1 < lam2`` is, exactly,

    A = a² / 2 * (lam2 - lam1) * (q(phi2) - q(phi1)).

The map ``phi -> beta = asin(q(phi) / q(90°))`` (authalic latitude) sends the ellipsoid onto the sphere of
radius ``R_q = a sqrt(q(90°) / 2)`` preserving areas, so the area of any region of the ellipsoid is the
spherical area of its image. For a projected grid, each cell's boundary (densified, straight in the
projected CRS) is mapped to lon/lat with pyproj and to the authalic sphere, and its area is the sum of the
exact signed areas of the spherical trapezoids between each edge and the equator,
``E = 2 atan2(tan(dlam / 2) (t1 + t2), 1 + t1 t2)`` with ``t = tan(beta / 2)`` (the edge formula of
Chamberlain & Duquette 2007, *Some algorithms for polygons on a sphere*, JPL 07-03; also used by
GeographicLib for its spherical areas), times ``R_q²``.

Polygons use :class:`pyproj.Geod` (Karney 2013, *Algorithms for geodesics*, J. Geod. 87) after densifying
their edges in lon/lat: boundaries of country data are straight lines in lon/lat (a border along a parallel
is a parallel, not a geodesic), and the same convention is used by the rasterisation, so that coverage
fractions times cell areas add up to the polygon area.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyproj
import shapely
import xarray as xr
from shapely.geometry.base import BaseGeometry

from dldd.core.attrs import output_attrs
from dldd.errors import InputError

# --- WGS84 ellipsoid (NIMA TR8350.2, 3rd ed., 2000) -------------------------------------------------------
#: Semi-major axis of WGS84, metres.
WGS84_A = 6378137.0
#: Flattening of WGS84.
WGS84_F = 1.0 / 298.257223563
#: First eccentricity squared of WGS84.
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)
#: First eccentricity of WGS84.
WGS84_E = math.sqrt(WGS84_E2)

M2_PER_KM2 = 1.0e6


def _authalic_q(phi: np.ndarray) -> np.ndarray:
    """Snyder's ``q(phi)`` (eq. 3-12) on WGS84, ``phi`` in radians."""
    s = np.sin(phi)
    es = WGS84_E * s
    return (1.0 - WGS84_E2) * (s / (1.0 - es * es) + np.arctanh(es) / WGS84_E)


#: ``q`` at the pole.
_QP = float(_authalic_q(np.array(np.pi / 2)))
#: Radius of the authalic sphere of WGS84, metres (about 6,371,007.18 m).
WGS84_AUTHALIC_RADIUS = WGS84_A * math.sqrt(_QP / 2.0)
#: Surface of the WGS84 ellipsoid, km² (about 510,065,621.7 km²), from the closed form above.
WGS84_SURFACE_KM2 = 2.0 * math.pi * WGS84_A**2 * _QP / M2_PER_KM2

#: Largest lon/lat segment (degrees) kept when densifying polygon edges before geodesic areas: a 0.1 degree
#: straight lon/lat segment and its geodesic chord enclose less than 0.01 km².
MAX_SEGMENT_DEG = 0.1
#: Target length (metres) of the densified segments of a projected cell's boundary (``densify="auto"``).
PROJECTED_SEGMENT_M = 5000.0
#: Most segments per cell edge for ``densify="auto"``.
MAX_DENSIFY = 64
#: Relative tolerance on the regularity of grid coordinates (fraction of the cell size).
REGULAR_TOL = 1.0e-3
#: Rows of a projected grid processed at once (bounds the memory of the boundary transforms).
_ROW_BLOCK = 256


def _name(da: Any) -> str:
    name = getattr(da, "name", None)
    return f"'{name}'" if name is not None else "(unnamed)"


def grid_crs(da: xr.DataArray | xr.Dataset, crs: Any = None) -> pyproj.CRS:
    """The CRS of a grid: ``crs`` if given (anything :meth:`pyproj.CRS.from_user_input` takes), else
    ``da.rio.crs``. Raises :class:`InputError` naming the array when neither is set."""
    if crs is not None:
        try:
            return pyproj.CRS.from_user_input(crs)
        except pyproj.exceptions.CRSError as exc:
            raise InputError(f"crs={crs!r} is not a valid CRS: {exc}") from exc
    import rioxarray  # noqa: F401  (registers the .rio accessor)

    rio_crs = da.rio.crs
    if rio_crs is None:
        raise InputError(
            f"array {_name(da)} has no CRS: set one with da.rio.write_crs('EPSG:4326') (or the grid's CRS) "
            "or pass crs=... explicitly"
        )
    return pyproj.CRS.from_user_input(rio_crs.to_wkt())


def axis_step(coord: np.ndarray, axis: str, where: str) -> float:
    """The constant step of a 1-D coordinate of cell centres (last minus first over n - 1); InputError
    naming ``where`` and the axis when it has fewer than 2 values or a zero or non-finite step."""
    c = np.asarray(coord, dtype="float64")
    if c.ndim != 1 or c.size < 2:
        raise InputError(f"{where}: coordinate '{axis}' must be 1-D with at least 2 cell centres, found shape {c.shape}")
    step = (c[-1] - c[0]) / (c.size - 1)
    if step == 0 or not np.isfinite(step):
        raise InputError(f"{where}: coordinate '{axis}' has zero or non-finite spacing ({step!r})")
    return float(step)


def _axis_edges(coord: np.ndarray, axis: str, da: Any) -> np.ndarray:
    c = np.asarray(coord, dtype="float64")
    step = axis_step(c, axis, f"array {_name(da)}")
    regular = c[0] + step * np.arange(c.size)
    dev = np.max(np.abs(c - regular))
    if dev > REGULAR_TOL * abs(step):
        raise InputError(
            f"array {_name(da)}: coordinate '{axis}' is not regularly spaced (largest deviation {dev:.6g} "
            f"from a regular step of {step:.6g}); expected cell centres at a constant spacing"
        )
    return c[0] - step / 2.0 + step * np.arange(c.size + 1)


def grid_edges(da: xr.DataArray | xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Cell edges ``(x_edges, y_edges)`` (lengths nx + 1, ny + 1, in the order of the coordinates) of a grid
    whose coordinates ``x`` and ``y`` are regularly spaced cell centres."""
    for axis in ("x", "y"):
        if axis not in da.coords:
            raise InputError(
                f"array {_name(da)} has no coordinate '{axis}' (found {list(da.coords)}); expected 1-D "
                "coordinates 'x' and 'y' holding cell centres"
            )
    return _axis_edges(da["x"].values, "x", da), _axis_edges(da["y"].values, "y", da)


def _lat_band_area_km2(lat_edges_deg: np.ndarray, dlon_deg: float) -> np.ndarray:
    """Exact ellipsoidal area of the cells between consecutive parallels, ``dlon_deg`` wide."""
    lat = np.deg2rad(np.clip(lat_edges_deg, -90.0, 90.0))
    q = _authalic_q(lat)
    return np.abs(0.5 * WGS84_A**2 * np.deg2rad(abs(dlon_deg)) * np.diff(q)) / M2_PER_KM2


def _authalic_t(lat_deg: np.ndarray) -> np.ndarray:
    """``tan(beta / 2)`` of the authalic latitude ``beta``."""
    beta = np.arcsin(np.clip(_authalic_q(np.deg2rad(lat_deg)) / _QP, -1.0, 1.0))
    return np.tan(beta / 2.0)


def _wrap_dlon_rad(dlon_deg: np.ndarray) -> np.ndarray:
    return np.deg2rad((dlon_deg + 180.0) % 360.0 - 180.0)


def _edge_excess(lon1, t1, lon2, t2) -> tuple[np.ndarray, np.ndarray]:
    """Signed spherical area (steradians) between each edge and the equator, and the edge's wrapped
    longitude increment (radians)."""
    dlam = _wrap_dlon_rad(lon2 - lon1)
    return 2.0 * np.arctan2(np.tan(dlam / 2.0) * (t1 + t2), 1.0 + t1 * t2), dlam


def _loop_area_sr(excess: np.ndarray, dlam: np.ndarray) -> np.ndarray:
    """Area (steradians) enclosed by closed loops from their summed edge excesses and longitude increments;
    loops around a pole are corrected by their winding number, and the smaller side is returned."""
    winding = np.round(dlam / (2.0 * np.pi))
    area = np.abs(excess - 2.0 * np.pi * winding)
    return np.minimum(area, 4.0 * np.pi - area)


def _subdivide(edges: np.ndarray, n: int) -> np.ndarray:
    frac = np.arange(n) / n
    inner = (edges[:-1, None] + np.diff(edges)[:, None] * frac[None, :]).ravel()
    return np.append(inner, edges[-1])


def _auto_densify(x_edges: np.ndarray, y_edges: np.ndarray, crs: pyproj.CRS) -> int:
    try:
        to_m = float(crs.axis_info[0].unit_conversion_factor)
    except (IndexError, TypeError, AttributeError):
        to_m = 1.0
    size_m = max(abs(x_edges[1] - x_edges[0]), abs(y_edges[1] - y_edges[0])) * to_m
    return int(min(MAX_DENSIFY, max(1, math.ceil(size_m / PROJECTED_SEGMENT_M))))


def _projected_cell_areas_km2(x_edges, y_edges, crs: pyproj.CRS, n: int) -> np.ndarray:
    """Areas (km²) of the cells of a projected grid; NaN where a boundary point is outside the projection's
    domain."""
    ny, nx = y_edges.size - 1, x_edges.size - 1
    to_lonlat = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    xf = _subdivide(x_edges, n)
    out = np.empty((ny, nx), dtype="float64")
    for r0 in range(0, ny, _ROW_BLOCK):
        r1 = min(ny, r0 + _ROW_BLOCK)
        ye = y_edges[r0 : r1 + 1]
        yf = _subdivide(ye, n)
        # horizontal boundary lines (one per row edge), densified along x
        lon_h, lat_h = to_lonlat.transform(*np.meshgrid(xf, ye))
        # vertical boundary lines (one per column edge), densified along y
        lon_v, lat_v = to_lonlat.transform(*np.meshgrid(x_edges, yf))
        lon_h, lat_h, lon_v, lat_v = (np.where(np.isfinite(a), a, np.nan) for a in (lon_h, lat_h, lon_v, lat_v))
        t_h, t_v = _authalic_t(lat_h), _authalic_t(lat_v)
        e_h, d_h = _edge_excess(lon_h[:, :-1], t_h[:, :-1], lon_h[:, 1:], t_h[:, 1:])
        e_v, d_v = _edge_excess(lon_v[:-1], t_v[:-1], lon_v[1:], t_v[1:])
        nb = r1 - r0
        e_h, d_h = (a.reshape(nb + 1, nx, n).sum(axis=-1) for a in (e_h, d_h))
        e_v, d_v = (a.reshape(nb, n, nx + 1).sum(axis=1) for a in (e_v, d_v))
        # loop: bottom row edge (+x), right column edge (+y), top row edge (-x), left column edge (-y)
        excess = e_h[:-1] + e_v[:, 1:] - e_h[1:] - e_v[:, :-1]
        dlam = d_h[:-1] + d_v[:, 1:] - d_h[1:] - d_v[:, :-1]
        out[r0:r1] = _loop_area_sr(excess, dlam)
    return out * WGS84_AUTHALIC_RADIUS**2 / M2_PER_KM2


def cell_area_km2(
    da_or_grid: xr.DataArray | xr.Dataset, *, crs: Any = None, densify: int | str = "auto"
) -> xr.DataArray:
    """Area of each grid cell on the WGS84 ellipsoid, km².

    Parameters
    ----------
    da_or_grid
        A DataArray or Dataset with 1-D coordinates ``x`` and ``y`` holding regularly spaced cell centres
        (degrees for a geographic CRS, the CRS's unit otherwise).
    crs
        The grid's CRS; defaults to ``da_or_grid.rio.crs``. One of the two is required (no guessing from
        coordinate values).
    densify
        Projected grids only: segments per cell edge when mapping cell boundaries to lon/lat. ``"auto"``
        uses segments of at most ``PROJECTED_SEGMENT_M`` (5 km), between 1 and ``MAX_DENSIFY``.

    Returns
    -------
    DataArray (y, x), float64, km², with the input's ``x``/``y`` coordinates. Geographic grids: exact
    closed form ``a²/2 dlam (q(phi2) - q(phi1))`` (cell edges beyond +-90 degrees clipped to the pole);
    the result is a read-only broadcast of one column (a dask array chunked like the input's y/x when the
    input is dask-backed). Projected grids: densified cell boundaries on the authalic sphere; cells with a
    boundary point outside the projection's domain are NaN.
    """
    if isinstance(da_or_grid, xr.Dataset):
        template = da_or_grid
    elif isinstance(da_or_grid, xr.DataArray):
        template = da_or_grid
    else:
        raise InputError(
            f"cell_area_km2: expected an xarray DataArray or Dataset with x/y coordinates, got "
            f"{type(da_or_grid).__name__}"
        )
    the_crs = grid_crs(template, crs)
    x_edges, y_edges = grid_edges(template)
    ny, nx = y_edges.size - 1, x_edges.size - 1
    if the_crs.is_geographic:
        dx = float(x_edges[1] - x_edges[0])
        if abs(dx) * nx > 360.0 * (1.0 + 1e-9):
            raise InputError(
                f"array {_name(template)}: the x axis spans {abs(dx) * nx:.6g} degrees; expected at most 360"
            )
        column = _lat_band_area_km2(y_edges, dx)
        data = np.broadcast_to(column[:, None], (ny, nx))
        chunks = _yx_chunks(template)
        if chunks is not None:
            import dask.array as dsa

            data = dsa.broadcast_to(dsa.from_array(column[:, None], chunks=(chunks[0], 1)), (ny, nx), chunks=chunks)
        method = "closed-form ellipsoidal area of lat-lon cells (Snyder 1987 eq. 3-12)"
        params = "ellipsoid=WGS84"
    else:
        n = _auto_densify(x_edges, y_edges, the_crs) if densify == "auto" else int(densify)
        if n < 1:
            raise InputError(f"densify must be 'auto' or a positive integer, got {densify!r}")
        data = _projected_cell_areas_km2(x_edges, y_edges, the_crs, n)
        method = "densified cell boundaries on the WGS84 authalic sphere (Chamberlain & Duquette 2007)"
        params = f"ellipsoid=WGS84, densify={n}, crs={the_crs.to_string()}"
    return xr.DataArray(
        data,
        dims=("y", "x"),
        coords={"y": template["y"].values, "x": template["x"].values},
        name="cell_area",
        attrs=output_attrs("km2", "cell area on the WGS84 ellipsoid", method, params,
                           "Snyder 1987 USGS PP 1395; Chamberlain & Duquette 2007 JPL 07-03; METHODS 1.8"),
    )


def _yx_chunks(template) -> tuple | None:
    chunks = getattr(template, "chunksizes", None) or {}
    if "y" in chunks and "x" in chunks:
        return (chunks["y"], chunks["x"])
    return None


# --- polygons --------------------------------------------------------------------------------------------
_GEOD = pyproj.Geod(ellps="WGS84")


def unwrap_ring(coords: np.ndarray) -> np.ndarray:
    """Longitudes of a ring made continuous: any jump of more than 180 degrees between consecutive vertices
    (a ring crossing the antimeridian stored in [-180, 180]) is removed by adding multiples of 360."""
    xy = np.array(coords, dtype="float64")[:, :2]
    if len(xy):
        xy[:, 0] = np.unwrap(xy[:, 0], period=360.0)
    return xy


def _densify_lonlat(xy: np.ndarray, max_seg: float = MAX_SEGMENT_DEG) -> np.ndarray:
    if len(xy) < 2:
        return xy
    seg = np.hypot(*np.diff(xy, axis=0).T)
    if not np.any(seg > max_seg):
        return xy
    return shapely.get_coordinates(shapely.segmentize(shapely.LineString(xy), max_seg))


def _lonlat_ring(coords) -> np.ndarray:
    """A ring's vertices with antimeridian crossings unwrapped: a jump of more than 180 degrees between
    consecutive vertices is a crossing, except an edge from +-180 to -+180 exactly, which is kept as the
    straight lon/lat edge it is in planar data (a pole closure or a band around the globe)."""
    xy = np.array(coords, dtype="float64")[:, :2]
    if len(xy) < 2:
        return xy
    dx = np.diff(xy[:, 0])
    on_meridian = (np.abs(np.abs(xy[:, 0]) - 180.0) < 1e-12)
    band = on_meridian[:-1] & on_meridian[1:]
    shift = np.where((np.abs(dx) > 180.0) & ~band, -360.0 * np.round(dx / 360.0), 0.0)
    xy[1:, 0] += np.cumsum(shift)
    return xy


def _ring_area_m2(coords) -> float:
    xy = _densify_lonlat(_lonlat_ring(coords))
    if len(xy) < 4:
        return 0.0
    area, _ = _GEOD.polygon_area_perimeter(xy[:, 0], xy[:, 1])
    return abs(area)


def _polygons(geometry: BaseGeometry, where: str) -> list[shapely.Polygon]:
    if isinstance(geometry, shapely.Polygon):
        return [geometry]
    if isinstance(geometry, (shapely.MultiPolygon, shapely.GeometryCollection)):
        out = []
        for g in geometry.geoms:
            out.extend(_polygons(g, where))
        return out
    raise InputError(f"{where}: expected a shapely Polygon or MultiPolygon, got {type(geometry).__name__}")


def geodesic_area_km2(geometry: BaseGeometry) -> float:
    """Area (km²) on the WGS84 ellipsoid of a shapely (Multi)Polygon in lon/lat degrees.

    Edges are taken as straight lines in lon/lat (densified to ``MAX_SEGMENT_DEG``) and each ring's area is
    computed with :meth:`pyproj.Geod.polygon_area_perimeter` (Karney 2013). Rings crossing the antimeridian
    may be stored cut at +-180 degrees (several parts), continuous beyond 180 degrees, or with jumps of
    more than 180 degrees between consecutive vertices, which are unwrapped first (an edge from exactly
    +-180 to -+180 is kept as a straight lon/lat edge, e.g. a polar closure). Holes are subtracted.
    """
    total = 0.0
    for poly in _polygons(geometry, "geodesic_area_km2"):
        if poly.is_empty:
            continue
        total += _ring_area_m2(poly.exterior.coords)
        total -= sum(_ring_area_m2(r.coords) for r in poly.interiors)
    return total / M2_PER_KM2
