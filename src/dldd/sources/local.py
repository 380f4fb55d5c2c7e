"""Reading local rasters into lazy, dask-backed DataArrays with dimensions (time, y, x) or (y, x).

Formats: GeoTIFF/COG (one file; or a glob of files, one per year or month with the date in the name,
stacked along ``time``), NetCDF and Zarr (a named variable). Scale factor and offset are applied here,
so the engine sees physical values (e.g. NDVI as floats in [-1, 1]); the values the file declares
missing (CF: ``_FillValue``, every ``missing_value``, values outside ``valid_range`` or
``valid_min``/``valid_max``; a GeoTIFF's no-data) become NaN, compared on the stored values before
scaling (:func:`missing_mask`).
Bad input stops here with a message naming the file and the variable.
"""

from __future__ import annotations

import glob as globmod
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import rioxarray
import xarray as xr

from dldd.errors import InputError
from dldd.sources.formats import open_zarr_store

#: Dates recognised in file names of a glob: YYYY-MM, YYYYMM or YYYY.
_DATE_IN_NAME = re.compile(r"(?<!\d)(19\d{2}|20\d{2})(?:[-_]?(0[1-9]|1[0-2]))?(?!\d)")


def open_raster(
    path: str | Path,
    *,
    variable: str | None = None,
    name: str = "input",
    scale_factor: float = 1.0,
    offset: float = 0.0,
    nodata: float | None = None,
    crs: str | None = None,
    units: str | None = None,
    chunks: int | dict | None = 512,
) -> xr.DataArray:
    """Open one input lazily; see the module docstring for formats."""
    path = Path(path)
    chunk_map = _chunk_map(chunks)
    paths = sorted(Path(p) for p in globmod.glob(str(path))) if _is_glob(path) else [path]
    if not paths:
        raise InputError(f"input {name!r}: no file matches {str(path)!r}")
    for p in paths:
        if not p.exists():
            raise InputError(f"input {name!r}: file not found: {p}")
    if len(paths) > 1:
        da = _stack_dated(paths, name, chunk_map)
    elif paths[0].suffix.lower() in (".nc", ".nc4", ".h5", ".hdf") or paths[0].suffix.lower() == ".zarr" or paths[0].is_dir():
        da = _open_dataset_var(paths[0], variable, name, chunk_map)
    else:
        da = _open_tiff(paths[0], name, chunk_map)
    da = _georeference(da, crs, name, path)
    attrs = dict(da.attrs)
    values = da.astype("float64") if da.dtype.itemsize >= 8 else da.astype("float32")
    missing = missing_mask(da, name=name, path=paths[0] if len(paths) == 1 else path,
                           variable=variable, nodata=nodata)
    if missing is not None:
        values = values.where(~missing)
    if scale_factor != 1.0 or offset != 0.0:  # CF: mask the stored values first, then unpack
        values = values * scale_factor + offset
    for key in ("missing_value", "valid_min", "valid_max", "valid_range"):
        attrs.pop(key, None)
    attrs.pop("_FillValue", None)
    attrs.pop("scale_factor", None)
    attrs.pop("add_offset", None)
    if units is not None:
        check_declared_units(attrs.get("units"), units, name, paths[0] if len(paths) == 1 else path, variable)
        attrs["units"] = units
    attrs["source"] = str(path)
    values.attrs = attrs
    values.name = name
    return values.rio.write_crs(da.rio.crs)


def file_missing_values(da: xr.DataArray) -> list:
    """The stored values a file declares missing: ``_FillValue`` (a GeoTIFF's no-data, which rioxarray
    puts there) and every
    ``missing_value`` (CF allows a scalar or a list); NaN is missing anyway and is left out."""
    found = []
    for key in ("_FillValue", "missing_value"):
        for source in (da.attrs, da.encoding):
            if key in source and source[key] is not None:
                found.extend(np.atleast_1d(np.asarray(source[key])).tolist())
    out = []
    for v in found:
        if not (isinstance(v, float) and math.isnan(v)) and v not in out:
            out.append(v)
    return out


def _valid_bounds(da: xr.DataArray) -> tuple[float | None, float | None]:
    """(low, high) stored values outside which CF calls a value missing: ``valid_range`` or
    ``valid_min``/``valid_max`` (CF 1.11 section 2.5.1; in stored, i.e. packed, units)."""
    a = {**da.encoding, **da.attrs}
    if "valid_range" in a:
        rng = np.atleast_1d(np.asarray(a["valid_range"])).tolist()
        if len(rng) != 2:
            raise ValueError(f"valid_range must hold two values, found {rng}")
        return float(rng[0]), float(rng[1])
    low = float(np.asarray(a["valid_min"])) if "valid_min" in a else None
    high = float(np.asarray(a["valid_max"])) if "valid_max" in a else None
    return low, high


def missing_mask(da: xr.DataArray, *, name: str, path, variable: str | None = None,
                 nodata: float | None = None) -> xr.DataArray | None:
    """Cells of the stored values ``da`` that are missing by the file's own metadata (CF conventions):
    equal to ``_FillValue`` or to any ``missing_value``, or outside ``valid_range`` /
    ``valid_min``..``valid_max``; compared before any scale factor or offset is applied.

    ``nodata`` (the spec's) is the fill value of a file that declares none; a ``nodata`` that is not
    among the values the file itself declares missing is refused naming both (it would silently read
    the file's own fill value as data). None when nothing is missing by declaration.
    """
    declared = file_missing_values(da)
    what = f"input {name!r} ({path}{f', variable {variable!r}' if variable else ''})"
    if nodata is not None:
        if declared and not any(_same(nodata, v) for v in declared):
            raise InputError(
                f"{what}: the spec says `nodata: {nodata:g}`, but the file declares its missing values as "
                f"{', '.join(f'{v:g}' for v in declared)} (_FillValue / missing_value); `nodata:` is only for files "
                "that declare none: remove it, or fix the file's attributes")
        if not declared:
            declared = [nodata]
    try:
        low, high = _valid_bounds(da)
    except ValueError as err:
        raise InputError(f"{what}: {err}") from None
    mask = None
    for v in declared:
        hit = da == np.asarray(v).astype(da.dtype) if _representable(v, da.dtype) else None
        if hit is not None:
            mask = hit if mask is None else (mask | hit)
    outside = [da < low] if low is not None else []
    outside += [da > high] if high is not None else []
    for hit in outside:
        mask = hit if mask is None else (mask | hit)
    return mask


def _same(a: float, b: float) -> bool:
    return float(a) == float(b) or np.float32(a) == np.float32(b)


def _representable(v: float, dtype) -> bool:
    """Whether the stored values of ``dtype`` can equal ``v`` (a fill of -3000.5 never matches an int16)."""
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return float(v).is_integer() and info.min <= v <= info.max
    return True


def open_classes(path, *, name: str = "classes", variable: str | None = None, crs: str | None = None, chunks=512) -> xr.DataArray:
    """Open an integer class raster without converting it to floats (fill value kept in attrs)."""
    path = Path(path)
    if path.suffix.lower() in (".nc", ".nc4", ".zarr") or path.is_dir():
        da = _open_dataset_var(path, variable, name, _chunk_map(chunks), mask=False)
    else:
        da = _open_tiff(path, name, _chunk_map(chunks), mask=False)
    da = _georeference(da, crs, name, path)
    da.name = name
    return da


def _georeference(da: xr.DataArray, crs: str | None, name: str, path) -> xr.DataArray:
    """``da`` with its CRS: the file's, or the spec's ``crs:`` for a file without one. A ``crs:`` that
    contradicts the file's own CRS is refused (the spec's ``crs:`` only fills in a missing CRS; it never
    reinterprets coordinates, which would misplace the data)."""
    if da.rio.crs is None:
        if crs is None:
            raise InputError(
                f"input {name!r} ({path}): no coordinate reference system in the file; "
                "expected one (e.g. EPSG:4326) - write it into the file or give `crs:` for this input in the spec"
            )
        try:
            return da.rio.write_crs(crs)
        except Exception as err:  # rasterio/pyproj raise several kinds for an unknown CRS
            raise InputError(f"input {name!r}: `crs: {crs}` in the spec is not a known CRS ({err})") from None
    if crs is not None:
        check_declared_crs(da.rio.crs, crs, name, path)
    return da


def check_declared_crs(file_crs, declared: str, name: str, path) -> None:
    """Refuse a spec ``crs:`` that differs from the CRS the file declares."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        same = CRS.from_user_input(declared).equals(CRS.from_user_input(file_crs), ignore_axis_order=True)
    except CRSError as err:
        raise InputError(f"input {name!r}: `crs: {declared}` in the spec is not a known CRS ({err})") from None
    if not same:
        found = file_crs.to_string() if hasattr(file_crs, "to_string") else str(file_crs)
        raise InputError(
            f"input {name!r} ({path}): the file's CRS is {found}, but the spec says `crs: {declared}`; "
            "`crs:` only fills in a CRS for files without one: remove it, or reproject the file to the CRS you meant"
        )


def check_declared_units(file_units, declared: str, name: str, path, variable: str | None = None) -> None:
    """Refuse a spec ``units:`` that differs from the ``units`` the file declares. Spellings of the same
    units are the same (:func:`dldd.core.units.same_units`: ``mm/month`` = ``mm month-1``);
    ``units:`` only fills in the units of a file without any."""
    from dldd.core.units import same_units

    if file_units is not None and str(file_units).strip() != "" and not same_units(file_units, declared):
        raise InputError(
            f"input {name!r} ({path}{f', variable {variable!r}' if variable else ''}): the file's units are "
            f"{str(file_units)!r}, but the spec says `units: {declared}`; `units:` only fills in the units of a file "
            "without any (dldd converts declared units itself): remove it, or fix the file's `units` attribute")


def _is_glob(path: Path) -> bool:
    return any(ch in str(path) for ch in "*?[")


def _chunk_map(chunks):
    if chunks is None or isinstance(chunks, dict):
        return chunks
    return {"y": int(chunks), "x": int(chunks)}


def _open_tiff(path: Path, name: str, chunks, mask: bool = True) -> xr.DataArray:
    try:
        da = rioxarray.open_rasterio(path, chunks={"band": 1, **(chunks or {})}, masked=False)
    except Exception as err:  # rasterio raises several kinds for unreadable or truncated files
        raise InputError(f"input {name!r}: cannot read {path} as a GeoTIFF ({err})") from None
    _probe(da, path, name)
    transform = da.rio.transform()
    if transform.b != 0 or transform.d != 0:
        raise InputError(f"input {name!r}: {path} is a rotated (or sheared) grid (geotransform terms "
                         f"{transform.b:g}, {transform.d:g}); dldd reads north-up grids only: warp the file to a "
                         "north-up grid first (e.g. `gdalwarp in.tif out.tif`)")
    if da.sizes.get("band", 1) == 1:
        da = da.squeeze("band", drop=True)
    else:
        da = da.rename(band="time")
    return da


def _open_dataset_var(path: Path, variable, name: str, chunks, mask: bool = True) -> xr.DataArray:
    try:
        if path.suffix.lower() == ".zarr" or path.is_dir():
            ds = open_zarr_store(path, mask_and_scale=False)
        else:
            ds = xr.open_dataset(path, mask_and_scale=False, decode_coords="all")
    except Exception as err:
        raise InputError(f"input {name!r}: cannot open {path} as NetCDF/Zarr ({err})") from None
    data_vars = [v for v in ds.data_vars if ds[v].ndim >= 2]
    if variable is None:
        if len(data_vars) != 1:
            raise InputError(f"input {name!r}: {path} holds {data_vars}; name one with `variable:` in the spec")
        variable = data_vars[0]
    if variable not in ds.data_vars:
        raise InputError(f"input {name!r}: variable {variable!r} not found in {path}; it holds {list(ds.data_vars)}")
    da = ds[variable]
    if path.suffix.lower() == ".zarr" or path.is_dir():
        da = guard_zarr_chunks(da, path, variable, name)
    rename = {d: n for d, n in (("lat", "y"), ("latitude", "y"), ("lon", "x"), ("longitude", "x")) if d in da.dims}
    da = da.rename(rename)
    if da.rio.crs is None and "spatial_ref" in ds:
        da = da.rio.write_crs(ds["spatial_ref"].attrs.get("crs_wkt"))
    if chunks:
        da = da.chunk({**{d: -1 for d in da.dims}, **{k: v for k, v in chunks.items() if k in da.dims}})
    fill = da.attrs.get("_FillValue", da.encoding.get("_FillValue"))
    if fill is not None:
        da.attrs["_FillValue"] = fill
    for key in ("scale_factor", "add_offset"):
        if key in da.attrs or key in da.encoding:
            raise InputError(
                f"input {name!r}: {path} variable {variable!r} declares {key}; give `scale_factor`/`offset` in the "
                "spec instead, so the scaling is explicit"
            )
    return da


class _GuardedChunks:
    """A Zarr array whose reads that fail (a corrupt or truncated chunk) raise InputError naming the input,
    the store, the variable and the cells, when dask reads them mid-run."""

    def __init__(self, array, path: Path, variable: str, name: str):
        self.array, self.path, self.variable, self.name = array, path, variable, name
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim

    def __getitem__(self, key):
        try:
            return np.asarray(self.array[key])
        except Exception as err:  # numcodecs and zarr raise several kinds for a chunk that does not decode
            cells = ", ".join(f"{k.start}:{k.stop}" if isinstance(k, slice) else str(k) for k in np.atleast_1d(key))
            raise InputError(f"input {self.name!r}: {self.path} variable {self.variable!r}: the chunk holding "
                             f"[{cells}] cannot be read ({type(err).__name__}: {err}); the store is damaged: "
                             "write it again") from None


def guard_zarr_chunks(da: xr.DataArray, path: Path, variable: str, name: str) -> xr.DataArray:
    """``da`` (a Zarr variable opened by xarray, not decoded) read through :class:`_GuardedChunks`, with
    xarray's chunks; left as it is when zarr and xarray see different shapes or types."""
    import dask.array
    import zarr
    from dask.base import tokenize

    try:
        array = zarr.open_group(path, mode="r")[variable]
    except Exception as err:  # noqa: BLE001 - the same store xarray opened: refused as unreadable
        raise InputError(f"input {name!r}: cannot open {path} variable {variable!r} as Zarr ({err})") from None
    if array.shape != da.shape or np.dtype(array.dtype) != da.dtype or da.chunks is None:
        return da
    token = tokenize(str(path), variable, path.stat().st_mtime_ns, da.chunks)
    data = dask.array.from_array(_GuardedChunks(array, path, variable, name), chunks=da.chunks, asarray=False,
                                 meta=np.empty((0,) * da.ndim, da.dtype), name=f"zarr-{name}-{token}")
    return da.copy(data=data)


def _probe(da: xr.DataArray, path: Path, name: str) -> None:
    """Read one corner and the last block so a truncated file fails here, not mid-run."""
    try:
        da.isel(band=-1, y=slice(-1, None), x=slice(-1, None)).values
        da.isel(band=0, y=slice(0, 1), x=slice(0, 1)).values
    except Exception as err:
        raise InputError(f"input {name!r}: {path} is unreadable or truncated ({err})") from None


def _stack_dated(paths: list[Path], name: str, chunks) -> xr.DataArray:
    times = []
    for p in paths:
        m = _DATE_IN_NAME.search(p.stem)
        if not m:
            raise InputError(f"input {name!r}: cannot find a year (YYYY or YYYY-MM) in the file name {p.name}")
        times.append(pd.Timestamp(int(m.group(1)), int(m.group(2) or 1), 1))
    if len(set(times)) != len(times):
        raise InputError(f"input {name!r}: two files have the same date in their names ({[p.name for p in paths]})")
    arrays = [_open_tiff(p, name, chunks) for p in paths]
    da = xr.concat(arrays, dim=pd.Index(times, name="time"))
    return da.sortby("time")
