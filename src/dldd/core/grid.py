"""Grids: what a raster's grid is, and the checks that inputs share one.

A grid is odc-geo's :class:`~odc.geo.geobox.GeoBox`: the CRS, the affine transform and the shape of the
(y, x) plane (:func:`grid_of`). Inputs that a stage combines must share a grid; a mismatch is refused with
a message naming both inputs, unless the spec names a resampling rule for the input, in which case it is
reprojected onto the reference grid with that rule (odc-geo's geometry, GDAL's warp through rasterio).
"""

from __future__ import annotations

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from odc.geo.geobox import GeoBox
from rasterio.enums import Resampling

from dldd.errors import GridMismatchError, InputError

#: Relative tolerance when comparing transforms (coordinates written as text lose a few digits).
TRANSFORM_RTOL = 1e-6

#: Resampling rules a spec may name, by their rasterio names.
RESAMPLING_RULES = {
    "nearest": Resampling.nearest,
    "bilinear": Resampling.bilinear,
    "average": Resampling.average,
    "mode": Resampling.mode,
    "sum": Resampling.sum,
}


def grid_of(da: xr.DataArray, name: str = "array") -> GeoBox:
    """The grid of a DataArray with ``y``/``x`` coordinates and a CRS (rioxarray) as a GeoBox; a missing
    CRS or a rotated (sheared) transform is refused naming ``name``."""
    for dim in ("y", "x"):
        if dim not in da.dims:
            raise InputError(f"{name}: expected dimensions including ('y', 'x'), found {tuple(da.dims)}")
    crs = da.rio.crs
    if crs is None:
        raise InputError(
            f"{name}: no coordinate reference system (CRS) is set; expected e.g. EPSG:4326 "
            "(write it into the file, or give `crs:` for this input in the spec)"
        )
    t = da.rio.transform(recalc=True)
    if t.b != 0 or t.d != 0:
        raise InputError(f"{name}: a rotated (or sheared) grid (transform terms b={t.b:g}, d={t.d:g}); "
                         "dldd needs north-up grids: warp it first (e.g. gdalwarp)")
    return GeoBox((int(da.sizes["y"]), int(da.sizes["x"])), t, crs.to_wkt())


def same_grid(a: GeoBox, b: GeoBox) -> bool:
    """Same shape, same CRS (axis order aside) and transforms equal to :data:`TRANSFORM_RTOL` of a cell."""
    if a.shape != b.shape:
        return False
    if not a.crs.proj.equals(b.crs.proj, ignore_axis_order=True):
        return False
    ta, tb = tuple(a.transform)[:6], tuple(b.transform)[:6]
    scale = max(abs(ta[0]), abs(ta[4]))
    return bool(np.allclose(ta, tb, rtol=TRANSFORM_RTOL, atol=TRANSFORM_RTOL * scale))


def describe(g: GeoBox) -> str:
    """``CRS EPSG:4326, 10 x 20 cells of 0.1 x 0.1, origin (70, 45)``."""
    t = g.transform
    return f"CRS {g.crs}, {g.shape[0]} x {g.shape[1]} cells of {abs(t.a):g} x {abs(t.e):g}, origin ({t.c:g}, {t.f:g})"


def align_inputs(
    arrays: dict[str, xr.DataArray],
    reference: str,
    resampling: dict[str, str | None] | None = None,
) -> dict[str, xr.DataArray]:
    """Check that every array shares the grid of ``arrays[reference]``; resample where a rule is named.

    Raises :class:`GridMismatchError` naming both inputs and both grids when an input differs and no
    resampling rule is given for it. Resampling keeps the input's non-spatial dimensions.
    """
    resampling = resampling or {}
    if reference not in arrays:
        raise InputError(f"reference input {reference!r} is not among the inputs {sorted(arrays)}")
    ref = arrays[reference]
    ref_grid = grid_of(ref, reference)
    out = {}
    for name, da in arrays.items():
        grid = grid_of(da, name)
        if same_grid(grid, ref_grid):
            out[name] = da.assign_coords(x=ref.x, y=ref.y)
            continue
        rule = resampling.get(name)
        if rule is None:
            raise GridMismatchError(
                f"input {name!r} is on a different grid than {reference!r}:\n"
                f"  {name}: {describe(grid)}\n  {reference}: {describe(ref_grid)}\n"
                f"give `resampling: nearest|bilinear|average|mode|sum` for input {name!r} in the spec "
                "to reproject it onto the reference grid"
            )
        if rule not in RESAMPLING_RULES:
            raise InputError(f"input {name!r}: resampling rule {rule!r} is unknown; expected one of {sorted(RESAMPLING_RULES)}")
        out[name] = reproject_like(da, ref, rule)
    return out


def reproject_like(da: xr.DataArray, like: xr.DataArray, rule: str) -> xr.DataArray:
    """Reproject ``da`` onto the grid of ``like`` with a named rule, keeping attributes.

    When either array is dask-backed the result is lazy, in the (y, x) chunks of ``like`` (or of ``da``'s
    chunks' size when ``like`` is in memory): odc-geo's tiles of the target grid, each warping only the
    window of ``da`` that covers it (odc-geo's ``compute_reproject_roi``, padded by :func:`margin_cells`
    source cells for the resampling kernel's reach), so no process holds either whole map.

    Every warp uses GDAL's exact transformer (:data:`TRANSFORM_TOLERANCE`; rasterio's reproject approximates
    it to 0.125 cell, which gave 3-5 % of nearest cells across CRSs a neighbouring source cell), and one
    kernel scale for the whole map (:func:`kernel_scale`, as GDAL takes it for a one-piece warp). So
    nearest gives each cell the source cell that contains its centre, on any CRS (tests/test_grid.py
    checks it against pyproj), and nearest, mode, bilinear and average give the same values eagerly and in
    every block partition (bilinear and average to ~1e-12 where GDAL's arithmetic depends on the window's
    origin), on every scheduler. rioxarray's whole-map warp approximates the transformer, so from another CRS
    its values differ from these by that approximation (docs/benchmarks.md, "Reprojection"). GDAL picks
    the kernel's radius from the scale change (as rioxarray and gdalwarp do; odc-geo's fixed 1-pixel
    radius is not used).

    No-data of the result: ``da``'s, else NaN for floats, else the type's GDAL default (:func:`fill_of`).
    """
    src = da.transpose(..., "y", "x")
    src_grid, dst_grid = grid_of(src, da.name or "input"), grid_of(like, "reference grid")
    src_nodata = src.rio.nodata
    if src_nodata is None and np.issubdtype(src.dtype, np.floating):
        src_nodata = np.nan
    fill = fill_of(src.dtype, src_nodata)
    warp = dict(resampling=RESAMPLING_RULES[rule], src_nodata=src_nodata, dst_nodata=fill,
                scale=kernel_scale(src_grid, dst_grid))
    shape = src.shape[:-2] + dst_grid.shape.yx
    if da.chunks is None and like.chunks is None:
        data = _warp_block(src.values, src_grid, dst_grid, shape, src.dtype, warp)
    else:
        data = _warp_lazily(src, src_grid, dst_grid, like, warp)
    coords = {k: v for k, v in src.coords.items() if "y" not in v.dims and "x" not in v.dims and k != "spatial_ref"}
    attrs = {k: v for k, v in src.attrs.items() if k not in _RIO_DROPPED_ATTRS}
    if src.rio.encoded_nodata is None and fill is not None:  # as rioxarray's reproject
        attrs["_FillValue"] = fill
    attrs["resampled"] = f"{rule} onto the grid of the reference input"
    res = xr.DataArray(data, dims=src.dims, coords={**coords, "y": like.y.values, "x": like.x.values},
                       name=da.name, attrs=attrs)
    return res.transpose(*da.dims).rio.write_crs(like.rio.crs).assign_coords(x=like.x, y=like.y)


#: Attributes a reprojection drops (no-data spellings and raster-only tags), as rioxarray's does.
_RIO_DROPPED_ATTRS = ("_FillValue", "missing_value", "fill_value", "nodata", "nodatavals", "is_tiled", "res")
#: Source cells added around each destination block's footprint when reprojecting block by block, on top
#: of the resampling kernel's reach (which grows with the ratio of destination to source cell size).
REPROJECT_MARGIN = 2
#: Largest error, in source cells, allowed to GDAL's approximating transformer: every destination cell's
#: position is, in effect, transformed exactly (rasterio's default, 0.125 cell, moved a few % of
#: nearest-neighbour cells to a neighbouring source cell; 0 itself is refused by rasterio's WarpedVRT).
TRANSFORM_TOLERANCE = 1e-9
#: Points per side of the target's outline that :func:`kernel_scale` transforms.
OUTLINE_POINTS = 101
#: Types GDAL's warper lacks, and the type each goes through it as.
_GDAL_WORK_TYPES = {"int8": "int16", "bool": "uint8"}


def fill_of(dtype, nodata):
    """No-data of a reprojected map: the source's, else NaN (floats), else the GDAL default of the type
    (the largest unsigned value, the smallest signed one), as rioxarray's reproject."""
    if nodata is not None:
        return nodata
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.floating):
        return np.nan
    info = np.iinfo(dtype)
    return info.max if info.min == 0 else info.min


def margin_cells(src_grid: GeoBox, dst_grid: GeoBox) -> int:
    """Source cells a destination block's window is padded by: :data:`REPROJECT_MARGIN` plus twice the
    kernel's reach in source cells (GDAL widens it by the ratio of destination to source cell size)."""
    st, dt = src_grid.transform, dst_grid.transform
    ratio = max(abs(dt.a), abs(dt.e)) / min(abs(st.a), abs(st.e))  # in the grids' own units, as before
    return REPROJECT_MARGIN + 2 * int(np.ceil(max(ratio, 1.0)))


def _warp_block(source: np.ndarray, src_grid: GeoBox, dst_grid: GeoBox, shape, dtype, warp) -> np.ndarray:
    """One destination block: ``source`` (its window of the source, (..., y, x)) warped by GDAL with the
    exact transformer (:data:`TRANSFORM_TOLERANCE`) and the kernel scale in ``warp`` (:func:`kernel_scale`).

    The window is handed to GDAL as an in-memory GeoTIFF (one band per non-spatial index) and read through
    rasterio's ``WarpedVRT``, whose ``tolerance`` reaches GDAL's transformer (``rasterio.warp.reproject``
    fixes it at 0.125 cell before rasterio 1.5). GDAL's warper has no int8 or bool: those go as int16/uint8.
    """
    from rasterio.io import MemoryFile
    from rasterio.vrt import WarpedVRT

    dst = np.full(shape, warp["dst_nodata"], dtype=dtype)
    if not source.size:
        return dst
    bands = source.reshape(-1, *source.shape[-2:])
    bands = bands.astype(_GDAL_WORK_TYPES.get(bands.dtype.name, bands.dtype), copy=False)
    with MemoryFile() as mem:
        with mem.open(driver="GTiff", width=bands.shape[2], height=bands.shape[1], count=bands.shape[0],
                      dtype=bands.dtype, crs=src_grid.crs.to_wkt(), transform=src_grid.transform,
                      nodata=warp["src_nodata"], interleave="band") as tif:
            tif.write(bands)
        with mem.open() as tif, WarpedVRT(tif, crs=dst_grid.crs.to_wkt(), transform=dst_grid.transform,
                                          width=dst_grid.shape.x, height=dst_grid.shape.y,
                                          resampling=warp["resampling"], nodata=warp["dst_nodata"],
                                          tolerance=TRANSFORM_TOLERANCE, **warp["scale"]) as vrt:
            dst[...] = vrt.read().reshape(shape)
    return dst


def kernel_scale(src_grid: GeoBox, dst_grid: GeoBox) -> dict:
    """GDAL's XSCALE/YSCALE for a one-piece warp of the whole map: destination cells per source cell across
    the target's outline transformed into source cells (unclipped, :data:`OUTLINE_POINTS` per side).

    GDAL widens the bilinear kernel by 1/scale where the target is coarser and takes the scale from each
    warped window's extent, so handing every block this one scale makes the values independent of the
    block partition and equal to the whole-map warp's (to ~1e-4 of the scale: GDAL samples fewer points).
    Empty when no outline point transforms (GDAL then takes each window's own).
    """
    ny, nx = dst_grid.shape.yx
    side = np.linspace(0.0, 1.0, OUTLINE_POINTS)
    cols = np.concatenate([side * nx, side * nx, np.zeros_like(side), np.full_like(side, nx)])
    rows = np.concatenate([np.zeros_like(side), np.full_like(side, ny), side * ny, side * ny])
    x, y = dst_grid.transform @ (cols, rows)
    x, y = dst_grid.crs.transformer(src_grid.crs).transform(x, y)
    c, r = ~src_grid.transform @ (np.asarray(x), np.asarray(y))
    ok = np.isfinite(c) & np.isfinite(r)
    if not ok.any() or np.ptp(c[ok]) == 0 or np.ptp(r[ok]) == 0:
        return {}
    return {"XSCALE": nx / np.ptp(c[ok]), "YSCALE": ny / np.ptp(r[ok])}


def _warp_lazily(src: xr.DataArray, src_grid: GeoBox, dst_grid: GeoBox, like: xr.DataArray, warp):
    """Lazy reprojection onto ``dst_grid``, one dask task per tile of odc-geo's tiling of the target."""
    import dask
    import dask.array as dsa
    from odc.geo.geobox import GeoboxTiles
    from odc.geo.overlap import compute_reproject_roi

    if like.chunks is not None:
        chunks = (like.chunksizes["y"], like.chunksizes["x"])
    else:
        chunks = (max(max(src.chunksizes["y"]), max(src.chunksizes["x"])),) * 2
    tiles = GeoboxTiles(dst_grid, chunks)
    pad = margin_cells(src_grid, dst_grid)
    lead = src.shape[:-2]
    data = src.data
    rows = []
    for iy in range(tiles.shape[0]):
        row = []
        for ix in range(tiles.shape[1]):
            tile = tiles[iy, ix]
            roi = compute_reproject_roi(src_grid, tile, padding=pad).roi_src
            block = dask.delayed(_warp_block, pure=True)(data[(..., *roi)], src_grid[roi], tile,
                                                         lead + tile.shape.yx, src.dtype, warp)
            row.append(dsa.from_delayed(block, lead + tile.shape.yx, dtype=src.dtype))
        rows.append(row)
    return dsa.block(rows)
