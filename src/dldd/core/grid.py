"""Grids: what a raster's grid is, and the checks that inputs share one.

A grid is the CRS, the affine transform and the shape of the (y, x) plane. Inputs that a stage combines
must share a grid; a mismatch is refused with a message naming both inputs, unless the spec names a
resampling rule for the input, in which case it is reprojected onto the reference grid with that rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
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


@dataclass(frozen=True)
class Grid:
    """The (y, x) plane of a raster: CRS (as WKT or EPSG string), affine transform and shape."""

    crs: str
    transform: tuple[float, ...]
    shape: tuple[int, int]

    @classmethod
    def of(cls, da: xr.DataArray, name: str = "array") -> "Grid":
        """The grid of a DataArray with ``y``/``x`` coordinates and a CRS (rioxarray)."""
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
        return cls(crs.to_string(), tuple(t)[:6], (int(da.sizes["y"]), int(da.sizes["x"])))

    @property
    def is_geographic(self) -> bool:
        from pyproj import CRS

        return CRS.from_user_input(self.crs).is_geographic

    @property
    def resolution(self) -> tuple[float, float]:
        return (abs(self.transform[0]), abs(self.transform[4]))

    def same_as(self, other: "Grid") -> bool:
        from pyproj import CRS

        if self.shape != other.shape:
            return False
        if not CRS.from_user_input(self.crs).equals(CRS.from_user_input(other.crs), ignore_axis_order=True):
            return False
        scale = max(abs(self.transform[0]), abs(self.transform[4]))
        return bool(np.allclose(self.transform, other.transform, rtol=TRANSFORM_RTOL, atol=TRANSFORM_RTOL * scale))

    def describe(self) -> str:
        rx, ry = self.resolution
        t = self.transform
        return f"CRS {self.crs}, {self.shape[0]} x {self.shape[1]} cells of {rx:g} x {ry:g}, origin ({t[2]:g}, {t[5]:g})"


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
    ref_grid = Grid.of(ref, reference)
    out = {}
    for name, da in arrays.items():
        grid = Grid.of(da, name)
        if grid.same_as(ref_grid):
            out[name] = da.assign_coords(x=ref.x, y=ref.y)
            continue
        rule = resampling.get(name)
        if rule is None:
            raise GridMismatchError(
                f"input {name!r} is on a different grid than {reference!r}:\n"
                f"  {name}: {grid.describe()}\n  {reference}: {ref_grid.describe()}\n"
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
    chunks' size when ``like`` is in memory): each block warps only the window of ``da`` that covers it
    (plus :data:`REPROJECT_MARGIN` source cells and the resampling kernel's reach), so no process holds
    either whole map. Nearest and mode give each cell the value the whole-map warp gives; bilinear and
    average on the same CRS agree with it to ~1e-13 (GDAL's arithmetic depends on the window's origin).
    From another CRS, GDAL scales the interpolating kernels by each block's source-window size, so
    bilinear and average values move slightly with the block partition (as GDAL's own partition of a
    large warp does); they are fixed by the chunk plan, hence the same on every scheduler.
    """
    nodata = da.rio.nodata
    if nodata is None and np.issubdtype(da.dtype, np.floating):
        da = da.rio.write_nodata(np.nan)
    if da.chunks is None and like.chunks is None:
        res = da.rio.reproject_match(like, resampling=RESAMPLING_RULES[rule])
    else:
        res = _reproject_blocks(da, like, RESAMPLING_RULES[rule])
    res = res.assign_coords(x=like.x, y=like.y)
    res.attrs.update({k: v for k, v in da.attrs.items() if k not in res.attrs})
    res.attrs["resampled"] = f"{rule} onto the grid of the reference input"
    return res


#: Attributes rioxarray's reproject drops (no-data spellings and raster-only tags).
_RIO_DROPPED_ATTRS = ("_FillValue", "missing_value", "fill_value", "nodata", "nodatavals", "is_tiled", "res")
#: Source cells added around each destination block's footprint when reprojecting block by block, on top
#: of the resampling kernel's reach (which grows with the ratio of destination to source cell size).
REPROJECT_MARGIN = 2


def _warp_block(source, src_transform, src_crs: str, src_nodata, dst_transform, dst_crs: str, dst_nodata,
                shape: tuple[int, ...], dtype, resampling) -> np.ndarray:
    """One destination block: ``source`` (its window of the source, (..., y, x)) warped by GDAL."""
    import rasterio.warp

    dst = np.full(shape, np.nan if dst_nodata is None else dst_nodata, dtype=dtype)
    if source.size:
        rasterio.warp.reproject(source=np.ascontiguousarray(source), destination=dst, src_transform=src_transform,
                                src_crs=src_crs, src_nodata=src_nodata, dst_transform=dst_transform,
                                dst_crs=dst_crs, dst_nodata=dst_nodata, resampling=resampling)
    return dst


def _reproject_blocks(da: xr.DataArray, like: xr.DataArray, resampling) -> xr.DataArray:
    """Lazy reprojection of ``da`` onto the grid of ``like``, one dask task per (y, x) block of ``like``."""
    import dask
    import dask.array as dsa
    from rasterio.transform import Affine
    from rasterio.warp import transform_bounds

    order = da.dims
    src = da.transpose(..., "y", "x")
    lead = src.shape[:-2]
    src_t = src.rio.transform(recalc=True)
    dst_t = like.rio.transform(recalc=True)
    src_crs, dst_crs = src.rio.crs.to_wkt(), like.rio.crs.to_wkt()
    dst_nodata = src.rio._get_dst_nodata(None)  # what rioxarray's eager reproject uses
    ny, nx = like.sizes["y"], like.sizes["x"]
    if like.chunks is not None:
        ychunks, xchunks = like.chunksizes["y"], like.chunksizes["x"]
    else:
        edge = max(max(src.chunksizes["y"]), max(src.chunksizes["x"]))
        ychunks = tuple(min(edge, ny - i) for i in range(0, ny, edge))
        xchunks = tuple(min(edge, nx - i) for i in range(0, nx, edge))
    ratio = max(abs(dst_t.a), abs(dst_t.e)) / min(abs(src_t.a), abs(src_t.e))
    margin = REPROJECT_MARGIN + 2 * int(np.ceil(max(ratio, 1.0)))
    data = src.data
    rows = []
    y0 = 0
    for h in ychunks:
        row = []
        x0 = 0
        for w in xchunks:
            block_t = dst_t * Affine.translation(x0, y0)
            left, top = block_t * (0, 0)
            right, bottom = block_t * (w, h)
            bounds = transform_bounds(dst_crs, src_crs, min(left, right), min(top, bottom), max(left, right),
                                      max(top, bottom), densify_pts=21)
            cols, lines = zip(*(~src_t * (bx, by) for bx in bounds[0::2] for by in bounds[1::2]))
            c0 = int(np.clip(np.floor(min(cols)) - margin, 0, src.sizes["x"]))
            c1 = int(np.clip(np.ceil(max(cols)) + margin, 0, src.sizes["x"]))
            r0 = int(np.clip(np.floor(min(lines)) - margin, 0, src.sizes["y"]))
            r1 = int(np.clip(np.ceil(max(lines)) + margin, 0, src.sizes["y"]))
            window = data[..., r0:r1, c0:c1]
            block = dask.delayed(_warp_block, pure=True)(
                window, src_t * Affine.translation(c0, r0), src_crs, src.rio.nodata, block_t, dst_crs, dst_nodata,
                lead + (h, w), src.dtype, resampling)
            row.append(dsa.from_delayed(block, lead + (h, w), dtype=src.dtype))
            x0 += w
        rows.append(row)
        y0 += h
    out = dsa.block(rows)
    coords = {k: v for k, v in src.coords.items() if "y" not in v.dims and "x" not in v.dims and k != "spatial_ref"}
    attrs = {k: v for k, v in src.attrs.items() if k not in _RIO_DROPPED_ATTRS}
    fill = src.rio.nodata if src.rio.nodata is not None else dst_nodata
    if src.rio.encoded_nodata is None and fill is not None:  # as rioxarray's eager reproject
        attrs["_FillValue"] = fill
    res = xr.DataArray(out, dims=src.dims, coords={**coords, "y": like.y.values, "x": like.x.values},
                       name=da.name, attrs=attrs)
    return res.transpose(*order).rio.write_crs(like.rio.crs)
