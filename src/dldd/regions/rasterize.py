"""Rasterisation of regions: the fraction of each grid cell inside a polygon.

Fractions, not burned-in masks, so that coastlines and small states (Bahrain, Singapore, the Maldives) are
not lost and class areas add up to each region's area (METHODS 1.8): the area of a region on a grid is
``sum(fraction * cell_area_km2)``.

Coverage fractions are computed exactly by exactextract (Baston, *exactextract*, ISciences; the fraction of
each cell's rectangle covered by the polygon, in the grid's own coordinates), restricted to the polygon's
bounding box. Accuracy: exact for polygons whose edges are straight lines in the grid's coordinates (the
convention of lon/lat data and of :func:`dldd.core.areas.geodesic_area_km2`). On a geographic grid the
fraction is a share of the cell's lon/lat rectangle, not of its ellipsoidal area: for a partly covered cell
of height ``dlat`` the two differ by at most about ``dlat * tan(lat) / 2`` (relative), e.g. 0.15 % at 60
degrees on a 0.1 degree grid, and only in boundary cells. Fully covered cells are exact.

Geographic grids may use any longitude range (-180..180, 0..360, 170..190 across the antimeridian): each
polygon is tried at shifts of 360 degrees and the covered pieces are added up. Projected grids: the polygon
(densified in lon/lat, clipped to the grid's lon/lat bounds) is transformed to the grid's CRS with pyproj
and covered there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Iterable, Iterator

import numpy as np
import pyproj
import shapely
import shapely.affinity
import xarray as xr
from odc.geo.geobox import GeoBox
from shapely.geometry.base import BaseGeometry

from dldd.core.areas import MAX_SEGMENT_DEG, grid_crs, grid_edges
from dldd.core.attrs import output_attrs
from dldd.core.grid import grid_of
from dldd.errors import InputError
from dldd.regions.registry import polygonal_part, normalize_lonlat

#: Coverage fractions at or below this are dropped (numerical noise of cells that only touch a polygon).
MIN_COVERAGE = 1.0e-9
#: Margin (degrees) added around a projected grid's lon/lat bounds before clipping polygons to them.
PROJECTED_CLIP_MARGIN_DEG = 1.0
_FULL_TURN = 360.0


def _grid(like: xr.DataArray | xr.Dataset, crs: Any) -> GeoBox:
    """The grid of ``like`` (odc-geo's GeoBox, :func:`dldd.core.grid.grid_of`), in ``crs`` when given."""
    the_crs = grid_crs(like, crs)
    xe, _ = grid_edges(like)  # refuses coordinates that are not regularly spaced cell centres
    if the_crs.is_geographic and abs(xe[-1] - xe[0]) > _FULL_TURN * (1.0 + 1e-9):
        raise InputError(f"grid x axis spans {abs(xe[-1] - xe[0]):.6g} degrees; expected at most 360")
    return grid_of(like if crs is None else like.rio.write_crs(the_crs), "region grid")


def _check_geometry(geometry: Any, where: str) -> BaseGeometry:
    if not isinstance(geometry, BaseGeometry):
        raise InputError(f"{where}: expected a shapely (Multi)Polygon in lon/lat degrees, got {type(geometry).__name__}")
    if geometry.is_empty:
        return geometry
    if not isinstance(geometry, (shapely.Polygon, shapely.MultiPolygon, shapely.GeometryCollection)):
        raise InputError(f"{where}: expected a Polygon or MultiPolygon, got {geometry.geom_type}")
    return polygonal_part(geometry if geometry.is_valid else shapely.make_valid(geometry))


def _pieces_geographic(geom: BaseGeometry, g: GeoBox) -> list[BaseGeometry]:
    """The geometry shifted by every multiple of 360 degrees that overlaps the grid's x range."""
    minx, _, maxx, _ = geom.bounds
    k0 = math.ceil((g.boundingbox.left - maxx) / _FULL_TURN)
    k1 = math.floor((g.boundingbox.right - minx) / _FULL_TURN)
    return [geom if k == 0 else shapely.affinity.translate(geom, xoff=k * _FULL_TURN) for k in range(k0, k1 + 1)]


def _lonlat_bounds(g: GeoBox) -> list[BaseGeometry]:
    west, south, east, north = pyproj.Transformer.from_crs(g.crs.proj, "EPSG:4326", always_xy=True).transform_bounds(
        *g.boundingbox, densify_pts=21
    )
    m = PROJECTED_CLIP_MARGIN_DEG
    south, north = max(-90.0, south - m), min(90.0, north + m)
    if not all(np.isfinite([west, south, east, north])):
        raise InputError(f"cannot find the lon/lat bounds of the grid in CRS {g.crs.proj.to_string()}")
    if east < west:  # grid across the antimeridian
        return [shapely.box(west - m, south, 180.0, north), shapely.box(-180.0, south, east + m, north)]
    return [shapely.box(max(-180.0, west - m), south, min(180.0, east + m), north)]


def _pieces_projected(geom: BaseGeometry, g: GeoBox, where: str) -> list[BaseGeometry]:
    lonlat = normalize_lonlat(geom, where=where)
    clipped = shapely.unary_union([lonlat.intersection(b) for b in _lonlat_bounds(g)])
    if clipped.is_empty:
        return []
    dense = shapely.segmentize(clipped, MAX_SEGMENT_DEG)
    to_grid = pyproj.Transformer.from_crs("EPSG:4326", g.crs.proj, always_xy=True)
    projected = shapely.transform(dense, lambda xy: np.column_stack(to_grid.transform(xy[:, 0], xy[:, 1])))
    if not np.all(np.isfinite(shapely.get_coordinates(projected))):
        raise InputError(f"{where}: part of the polygon cannot be projected to the grid's CRS {g.crs.proj.to_string()}")
    return [polygonal_part(projected if projected.is_valid else shapely.make_valid(projected))]


def _sparse_coverage(geometries: list[BaseGeometry], g: GeoBox, names: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each geometry: (flat cell indices in the template's (y, x) order, coverage fractions)."""
    from exactextract import exact_extract
    from exactextract.feature import JSONFeatureSource
    from exactextract.raster import NumPyRasterSource

    features = []
    for i, (geom, name) in enumerate(zip(geometries, names)):
        geom = _check_geometry(geom, name)
        if geom.is_empty:
            continue
        pieces = _pieces_geographic(geom, g) if g.crs.geographic else _pieces_projected(geom, g, name)
        for p in pieces:
            if not p.is_empty:
                features.append(
                    {"type": "Feature", "id": len(features), "properties": {"rid": i},
                     "geometry": shapely.geometry.mapping(p)}
                )
    out: list[tuple[np.ndarray, np.ndarray]] = [
        (np.empty(0, dtype="int64"), np.empty(0, dtype="float32")) for _ in geometries
    ]
    if not features:
        return out
    ny, nx = g.shape
    raster = NumPyRasterSource(np.broadcast_to(np.float32(0), (ny, nx)), *g.boundingbox)
    results = exact_extract(raster, JSONFeatureSource(features), ["cell_id", "coverage"], include_cols=["rid"])
    cells: dict[int, list[np.ndarray]] = {}
    fracs: dict[int, list[np.ndarray]] = {}
    for res in results:
        p = res["properties"]
        rid = int(p["rid"])
        cells.setdefault(rid, []).append(np.asarray(p["cell_id"], dtype="int64"))
        fracs.setdefault(rid, []).append(np.asarray(p["coverage"], dtype="float64"))
    for rid in cells:
        ids = np.concatenate(cells[rid])
        cov = np.concatenate(fracs[rid])
        if len(cells[rid]) > 1:  # pieces shifted by 360 degrees may share seam cells
            ids, inverse = np.unique(ids, return_inverse=True)
            cov = np.bincount(inverse, weights=cov, minlength=ids.size)
        keep = cov > MIN_COVERAGE
        ids, cov = ids[keep], np.minimum(cov[keep], 1.0)
        row, col = np.divmod(ids, nx)  # exactextract: row 0 at ymax, column 0 at xmin
        if g.transform.e > 0:  # template row 0 is the southernmost (y ascending)
            row = ny - 1 - row
        if g.transform.a < 0:  # template column 0 is the easternmost (x descending)
            col = nx - 1 - col
        flat = row * nx + col
        order = np.argsort(flat)
        out[rid] = (flat[order], cov[order].astype("float32"))
    return out


def cell_window(geometry: BaseGeometry, like: xr.DataArray | xr.Dataset, *, crs: Any = None,
                margin: int = 1) -> dict[str, slice]:
    """Index slices ``{"y": ..., "x": ...}`` of the cells of the grid of ``like`` that ``geometry`` (lon/lat
    degrees, any longitude range) can touch: its bounds in the grid's CRS plus ``margin`` cells, within
    the grid (empty slices when it lies outside). Lets a caller compute coverage on a window of a large
    grid only (:func:`coverage_fraction` of ``like.isel(window)``)."""
    g = _grid(like, crs)
    geom = _check_geometry(geometry, "geometry")
    pieces = [] if geom.is_empty else (_pieces_geographic(geom, g) if g.crs.geographic
                                       else _pieces_projected(geom, g, "geometry"))
    xe, ye = grid_edges(like)
    window = {}
    for dim, edges, lo_i, hi_i in (("x", xe, 0, 2), ("y", ye, 1, 3)):
        n = edges.size - 1
        step = (edges[-1] - edges[0]) / n
        ends = [math.floor((p.bounds[k] - edges[0]) / step) for p in pieces if not p.is_empty for k in (lo_i, hi_i)]
        if not ends:
            return {"y": slice(0, 0), "x": slice(0, 0)}
        window[dim] = slice(int(min(max(min(ends) - margin, 0), n)), int(min(max(max(ends) + margin + 1, 0), n)))
    return {"y": window["y"], "x": window["x"]}


def coverage_fraction(geometry: BaseGeometry, like: xr.DataArray | xr.Dataset, *, crs: Any = None) -> xr.DataArray:
    """Fraction (0..1) of each cell of the grid of ``like`` inside ``geometry``.

    Parameters
    ----------
    geometry
        shapely (Multi)Polygon in lon/lat degrees (EPSG:4326), any longitude range.
    like
        Template with regular 1-D ``x``/``y`` cell-centre coordinates and a CRS (``like.rio.crs`` or ``crs=``).

    Returns
    -------
    DataArray (y, x) float32 with ``like``'s coordinates; the region's area is
    ``(coverage * cell_area_km2(like)).sum()``.
    """
    g = _grid(like, crs)
    ((flat, frac),) = _sparse_coverage([geometry], g, ["geometry"])
    data = np.zeros(g.shape[0] * g.shape[1], dtype="float32")
    data[flat] = frac
    return xr.DataArray(
        data.reshape(g.shape),
        dims=("y", "x"),
        coords={"y": like["y"].values, "x": like["x"].values},
        name="coverage_fraction",
        attrs=output_attrs("1", "fraction of the cell inside the region",
                           "exact cell coverage fractions (exactextract) in the grid's coordinates",
                           f"crs={grid_crs(like, crs).to_string()}, min_coverage={MIN_COVERAGE}",
                           "exactextract (ISciences); METHODS 1.8"),
    )


class RegionFractions(Mapping):
    """Sparse coverage of many regions on one grid: ``fractions[id] -> (cells, fractions)`` where ``cells``
    are flat int64 indices into the template's (y, x) raveled in C order (``row * nx + col``, rows and
    columns in the order of ``like.y`` / ``like.x``) and ``fractions`` float32 in (0, 1]."""

    def __init__(self, ids: list[str], entries: list[tuple[np.ndarray, np.ndarray]], shape: tuple[int, int],
                 y: np.ndarray, x: np.ndarray):
        self._data = dict(zip(ids, entries))
        self.shape = shape
        self.y = y
        self.x = x

    def __getitem__(self, region_id: str) -> tuple[np.ndarray, np.ndarray]:
        return self._data[region_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    @property
    def ids(self) -> list[str]:
        return list(self._data)

    def area_km2(self, cell_area: xr.DataArray | np.ndarray) -> dict[str, float]:
        """Each region's area on the grid, ``sum(fraction * cell_area)`` (cell areas from
        :func:`dldd.core.areas.cell_area_km2` of the same grid)."""
        a = np.asarray(cell_area).reshape(-1)
        return {k: float(np.dot(f.astype("float64"), a[c])) for k, (c, f) in self._data.items()}

    def matrix(self):
        """``scipy.sparse.csr_array`` of shape (n_regions, ny * nx), rows in :attr:`ids` order: zonal sums of
        a flattened field ``v`` (e.g. one-hot class x cell area) are ``matrix() @ v``."""
        from scipy import sparse

        rows = np.concatenate([np.full(c.size, i, dtype="int64") for i, (c, _) in enumerate(self._data.values())] or [np.empty(0, "int64")])
        cols = np.concatenate([c for c, _ in self._data.values()] or [np.empty(0, "int64")])
        vals = np.concatenate([f for _, f in self._data.values()] or [np.empty(0, "float32")])
        return sparse.csr_array((vals.astype("float64"), (rows, cols)), shape=(len(self._data), self.shape[0] * self.shape[1]))

    def to_dataarray(self, region_id: str) -> xr.DataArray:
        """The dense (y, x) coverage of one region."""
        cells, frac = self._data[region_id]
        data = np.zeros(self.shape[0] * self.shape[1], dtype="float32")
        data[cells] = frac
        return xr.DataArray(data.reshape(self.shape), dims=("y", "x"), coords={"y": self.y, "x": self.x},
                            name="coverage_fraction", attrs={"units": "1", "region": region_id})


def region_fractions(regions: Iterable[Any] | Mapping[str, BaseGeometry], like: xr.DataArray | xr.Dataset,
                     *, crs: Any = None) -> RegionFractions:
    """Coverage fractions of many regions on the grid of ``like`` in one pass (see :class:`RegionFractions`).

    ``regions``: :class:`dldd.regions.Region` objects (e.g. ``Registry.select([...])`` or
    ``Registry.members``), or a mapping ``id -> geometry`` in lon/lat degrees.
    """
    if isinstance(regions, Mapping):
        ids, geoms = [str(k) for k in regions], list(regions.values())
    else:
        regs = list(regions)
        for r in regs:
            if not (hasattr(r, "id") and hasattr(r, "geometry")):
                raise InputError(f"region_fractions: expected Region objects or a mapping id -> geometry, got {type(r).__name__}")
        ids, geoms = [r.id for r in regs], [r.geometry for r in regs]
    if len(set(ids)) != len(ids):
        raise InputError(f"region_fractions: region ids must be unique, got {ids}")
    g = _grid(like, crs)
    entries = _sparse_coverage(geoms, g, [f"region '{i}'" for i in ids])
    return RegionFractions(ids, entries, tuple(g.shape), like["y"].values, like["x"].values)
