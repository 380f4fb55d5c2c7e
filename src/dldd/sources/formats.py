"""Raw layers from product files: GeoTIFF/COG, NetCDF, HDF5 (HDF-EOS5 and h4toh5 layouts) and Zarr.

A *layer* is one named variable of a product (``"250m 16 days NDVI"``, ``precip``, ``lccs_class``) read
lazily as raw stored values (no scaling, no masking) with dims ``(time, y, x)`` (or ``(y, x)``), a CRS
(rioxarray) and the file's attributes (``scale_factor``, ``_FillValue``, ``_Unsigned``, ...). Decoding
into physical values is the product's job (:mod:`dldd.sources.products`).

Layer names are matched after normalisation (lower case, runs of non-alphanumerics to ``_``, leading and
trailing ``_`` dropped), so the HDF SDS ``"250m 16 days NDVI"``, the AppEEARS NetCDF variable
``"_250m_16_days_NDVI"``, the Planetary Computer asset key ``"250m_16_days_NDVI"`` and a GeoTIFF named
``MOD13Q1.A2019001.h25v05.061_250m_16_days_NDVI.tif`` all match the same layer.

HDF4 (the format NASA distributes MODIS Collection 6.1 in: MOD13A3, MOD13C2, MCD12Q1 from LP DAAC) is
read with pyhdf (the HDF4 library bundled in its wheel; the GDAL bundled with rasterio has no HDF4
driver): each SDS lazily, georeferenced from the file's ``StructMetadata.0`` like HDF-EOS5. Without
pyhdf an HDF4 file is refused with a message saying how to get a readable form (:data:`HDF4_HELP`).
HDF5 files in the HDF-EOS layout are georeferenced from their
``StructMetadata.0`` (grid corners in metres for the sinusoidal projection, packed DMS degrees for the
geographic CMG), as the HDF-EOS library does.
"""

from __future__ import annotations

import glob
import re
from pathlib import Path

import numpy as np
import pandas as pd
import rioxarray
import xarray as xr

from dldd.errors import InputError

#: File suffixes read as GeoTIFF, NetCDF, HDF (4 or 5, told apart by their signature). A gzipped GeoTIFF
#: (CHIRPS ships its final monthly GeoTIFFs as ``.tif.gz``) is read through GDAL's ``/vsigzip/``.
TIFF_SUFFIXES = (".tif", ".tiff")
GZIP_TIFF_SUFFIXES = (".tif.gz", ".tiff.gz")
NETCDF_SUFFIXES = (".nc", ".nc4", ".cdf")
HDF_SUFFIXES = (".hdf", ".h5", ".he5", ".hdf5")
#: First bytes of an HDF4 file and of an HDF5 file (their format specifications).
HDF4_SIGNATURE = b"\x0e\x03\x13\x01"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

HDF4_HELP = (
    "HDF4 files are read with the pyhdf package (pip install pyhdf), which is not installed, and the GDAL "
    "bundled with rasterio has no HDF4 driver. Install pyhdf, or use one of the readable forms of the same product instead: "
    "the Cloud-Optimized GeoTIFFs of the Planetary Computer (`dldd fetch --product NAME ...`), "
    "the GeoTIFF or NetCDF-4 output of NASA AppEEARS, or convert the file to HDF5 with the HDF Group's "
    "h4toh5 tool (`h4toh5 FILE.hdf`) or to GeoTIFF with a GDAL built with HDF4 "
    "(`gdal_translate HDF4_EOS:EOS_GRID:\"FILE.hdf\":GRID:\"SDS\" out.tif`)"
)

#: MODIS sinusoidal projection on the MODIS sphere (radius 6371007.181 m; MODIS Land grid definition).
MODIS_SPHERE_RADIUS_M = 6371007.181
MODIS_SINUSOIDAL = f"+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R={MODIS_SPHERE_RADIUS_M} +units=m +no_defs"

#: Geographic CRS assumed for NetCDF grids on lat/lon coordinates that declare no grid mapping (CF: such
#: coordinates are geographic degrees; CHIRPS, TerraClimate, ERA5-Land, ESA CCI LC, GIMMS all are WGS84).
DEFAULT_GEOGRAPHIC_CRS = "EPSG:4326"

_LAT_NAMES = ("lat", "latitude", "y")
_LON_NAMES = ("lon", "longitude", "x")
_TIME_NAMES = ("time", "valid_time", "t")

# Dates in file names, tried in order: MODIS "A2019001" / AppEEARS "doy2019001" (year + day of year),
# "1981.01" / "1981-01" / "1981_01" / "198101" (year + month), then a lone year.
_DATE_PATTERNS = (
    (re.compile(r"(?:\.A|doy)(\d{4})(\d{3})(?!\d)"), "yj"),
    (re.compile(r"(?<!\d)(19\d{2}|20\d{2})[._-]?(0[1-9]|1[0-2])(?![\d])"), "ym"),
    (re.compile(r"(?<!\d)(19\d{2}|20\d{2})(?!\d)"), "y"),
)


def normalize(name: str) -> str:
    """``"250m 16 days NDVI"`` and ``"_250m_16_days_NDVI"`` -> ``"250m_16_days_ndvi"``."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_")


def date_from_name(name: str) -> pd.Timestamp | None:
    """The date a product file name carries (see the patterns above), or None."""
    for pattern, kind in _DATE_PATTERNS:
        m = pattern.search(name)
        if m:
            year = int(m.group(1))
            if kind == "yj":
                return pd.Timestamp(year, 1, 1) + pd.Timedelta(days=int(m.group(2)) - 1)
            if kind == "ym":
                return pd.Timestamp(year, int(m.group(2)), 1)
            return pd.Timestamp(year, 1, 1)
    return None


def list_files(path: Path, product: str) -> list[Path]:
    """Files under ``path``: a file, a glob, a Zarr store, or a folder searched recursively."""
    path = Path(path)
    if any(ch in str(path) for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(str(path)))
    elif path.suffix.lower() == ".zarr" or (path / ".zattrs").exists() or (path / "zarr.json").exists():
        files = [path]
    elif path.is_dir():
        files = sorted(
            p for p in path.rglob("*")
            if (p.is_file() and (p.suffix.lower() in (*TIFF_SUFFIXES, *NETCDF_SUFFIXES, *HDF_SUFFIXES) or is_tiff(p)))
            or (p.is_dir() and p.suffix.lower() == ".zarr")
        )
        # a Zarr store's own chunk files are not product files
        stores = [p for p in files if p.suffix.lower() == ".zarr"]
        files = [p for p in files if not any(s in p.parents for s in stores)]
    elif path.exists():
        files = [path]
    else:
        raise InputError(f"product {product!r}: {path} does not exist")
    if not files:
        raise InputError(f"product {product!r}: no GeoTIFF, NetCDF, HDF or Zarr file under {path}")
    return files


def is_tiff(path: Path) -> bool:
    """A GeoTIFF by its name: ``.tif``/``.tiff``, or gzipped ``.tif.gz``/``.tiff.gz``."""
    return path.name.lower().endswith((*TIFF_SUFFIXES, *GZIP_TIFF_SUFFIXES))


def file_kind(path: Path) -> str:
    """``"tiff"``, ``"netcdf"``, ``"hdf5"``, ``"hdf4"`` or ``"zarr"`` (HDF told apart by signature)."""
    suffix = path.suffix.lower()
    if suffix == ".zarr" or path.is_dir():
        return "zarr"
    if is_tiff(path):
        return "tiff"
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head[:4] == HDF4_SIGNATURE:
        return "hdf4"
    if head == HDF5_SIGNATURE:
        return "netcdf" if suffix in NETCDF_SUFFIXES else "hdf5"
    if suffix in NETCDF_SUFFIXES:
        return "netcdf"  # NetCDF classic (CDF signature)
    raise InputError(f"{path}: not a GeoTIFF, NetCDF, HDF5 or Zarr file (first bytes {head!r})")


# --------------------------------------------------------------------------------------------------
# reading one layer from a list of files
# --------------------------------------------------------------------------------------------------


def read_layer(files: list[Path], names: tuple[str, ...], product: str, *, chunks=None,
               any_tiff: bool = False, required: bool = True) -> xr.DataArray | None:
    """The raw layer named by one of ``names`` across ``files``, stacked along ``time`` when dated.

    GeoTIFFs are chosen by the layer name in their file name (or, with ``any_tiff``, all of them: one
    product layer per folder, e.g. CHIRPS); NetCDF/HDF5/Zarr files by the variable they hold. Returns
    None when no file holds the layer and ``required`` is false.
    """
    wanted = tuple(normalize(n) for n in names)
    pieces: list[xr.DataArray] = []
    tiffs = [f for f in files if is_tiff(f)]
    others = [f for f in files if f not in tiffs]
    matched_tiffs = [f for f in tiffs if any(w in normalize(f.stem) for w in wanted)]
    if not matched_tiffs and any_tiff:
        matched_tiffs = tiffs
    for f in matched_tiffs:
        pieces.append(_tiff_layer(f, product, chunks))
    named = [f for f in others if any(w in normalize(f.stem) for w in wanted)]
    if named:  # one file per variable (TerraClimate_tmax_2019.nc): skip opening the others
        others = named
    for f in others:
        kind = file_kind(f)
        if kind == "hdf4":
            da = _hdf4_layer(f, wanted, product, chunks)
        elif kind == "zarr":
            da = _dataset_layer(_open_zarr(f, product), wanted, f, product, chunks)
        elif kind == "netcdf":
            da = _dataset_layer(_open_netcdf(f, product), wanted, f, product, chunks)
        else:
            da = _hdf5_layer(f, wanted, product, chunks)
        if da is not None:
            pieces.append(da)
    if not pieces:
        if not required:
            return None
        raise InputError(
            f"product {product!r}: no file holds the layer {names[0]!r} (looked for {list(names)} in "
            f"{len(files)} file(s): {[f.name for f in files[:5]]}{' ...' if len(files) > 5 else ''})"
        )
    return _stack(pieces, product, names[0])


def _stack(pieces: list[xr.DataArray], product: str, layer: str) -> xr.DataArray:
    if len(pieces) == 1:
        return pieces[0]
    timed = [p if "time" in p.dims else p.expand_dims(time=[p.attrs.get("_date")]) for p in pieces]
    if any(p.time.isnull().any() for p in timed):
        raise InputError(f"product {product!r}: layer {layer!r} comes in several files and some carry no date "
                         "(no time coordinate and no date in the file name)")
    first = timed[0]
    for p in timed[1:]:
        if p.sizes["y"] != first.sizes["y"] or p.sizes["x"] != first.sizes["x"] or not (
                np.allclose(p.x.values, first.x.values) and np.allclose(p.y.values, first.y.values)):
            raise InputError(
                f"product {product!r}: files of layer {layer!r} are on different grids ({p.attrs.get('source')} "
                f"vs {first.attrs.get('source')}); mosaic the tiles first, or fetch a region with `dldd fetch`, "
                "which mosaics them")
    crs = first.rio.crs
    attrs = {k: v for k, v in first.attrs.items() if k not in ("_date", "source")}
    out = xr.concat(timed, dim="time", coords="minimal", compat="override", join="override",
                    combine_attrs="override")
    times = pd.DatetimeIndex(out.time.values)
    if times.has_duplicates:
        raise InputError(f"product {product!r}: layer {layer!r} has two files for the same date "
                         f"{times[times.duplicated()][0].date()}")
    out = out.sortby("time")
    out.attrs = attrs
    return out.rio.write_crs(crs) if crs is not None else out


def _tiff_layer(path: Path, product: str, chunks) -> xr.DataArray:
    gdal_path = f"/vsigzip/{path}" if path.name.lower().endswith(GZIP_TIFF_SUFFIXES) else path
    try:
        da = rioxarray.open_rasterio(gdal_path, chunks={"band": 1, **(chunks or {"y": -1, "x": -1})}, masked=False)
    except Exception as err:  # rasterio raises several kinds for unreadable files
        raise InputError(f"product {product!r}: cannot read {path} as a GeoTIFF ({err})") from None
    attrs = dict(da.attrs)
    if da.rio.nodata is not None:
        attrs["_FillValue"] = da.rio.nodata
    da = da.squeeze("band", drop=True) if da.sizes["band"] == 1 else da.rename(band="time")
    da.attrs = {k: v for k, v in attrs.items() if k not in ("AREA_OR_POINT",)}
    da.attrs["source"] = str(path)
    da.attrs["_date"] = date_from_name(path.name)
    if da.rio.crs is None:
        raise InputError(f"product {product!r}: {path} has no CRS")
    return da


def _open_netcdf(path: Path, product: str) -> xr.Dataset:
    try:
        return xr.open_dataset(path, mask_and_scale=False, decode_coords="all", decode_times=True,
                               chunks={})
    except Exception as err:
        raise InputError(f"product {product!r}: cannot open {path} as NetCDF ({err})") from None


def open_zarr_store(path: Path, **kwargs) -> xr.Dataset:
    """A Zarr store opened lazily (``xr.open_zarr``), the one way dldd opens a store it reads: through its
    consolidated metadata when it has them, else without (xarray's own fallback, ``consolidated=None``,
    prints a RuntimeWarning for every store without them)."""
    try:
        return xr.open_zarr(path, consolidated=True, **kwargs)
    except (ValueError, KeyError, FileNotFoundError):  # no consolidated metadata (zarr 2 and 3 formats)
        return xr.open_zarr(path, consolidated=False, **kwargs)


def _open_zarr(path: Path, product: str) -> xr.Dataset:
    try:
        return open_zarr_store(path, mask_and_scale=False, decode_coords="all")
    except Exception as err:
        raise InputError(f"product {product!r}: cannot open {path} as Zarr ({err})") from None


def _dataset_layer(ds: xr.Dataset, wanted, path: Path, product: str, chunks) -> xr.DataArray | None:
    by_norm = {normalize(v): v for v in ds.data_vars}
    var = next((by_norm[w] for w in wanted if w in by_norm), None)
    if var is None:
        return None
    da = ds[var]
    rename = {}
    for d in da.dims:
        low = str(d).lower()
        if low in _LAT_NAMES[:2]:
            rename[d] = "y"
        elif low in _LON_NAMES[:2]:
            rename[d] = "x"
        elif low in _TIME_NAMES[1:]:
            rename[d] = "time"
    da = da.rename(rename)
    if ("y" not in da.dims or "x" not in da.dims) and da.ndim >= 2:  # e.g. AppEEARS ("ydim", "xdim")
        da = da.rename(dict(zip(da.dims[-2:], ("y", "x"))))
    extra = [d for d in da.dims if d not in ("time", "y", "x")]
    for d in extra:
        if da.sizes[d] != 1 and d != "expver":
            raise InputError(f"product {product!r}: {path} variable {var!r} has an extra dimension {d!r} "
                             f"of size {da.sizes[d]}; expected (time, lat, lon)")
    da = da.squeeze([d for d in extra if d != "expver"], drop=True)
    da = da.drop_vars([c for c in da.coords if c not in da.dims and c != "spatial_ref"], errors="ignore")
    if "time" in da.dims and np.issubdtype(da["time"].dtype, np.number):
        da = da.assign_coords(time=half_month_times(da["time"], ds.attrs, path, product))
    crs = da.rio.crs
    if crs is None and "crs" in ds.variables:
        wkt = ds["crs"].attrs.get("crs_wkt") or ds["crs"].attrs.get("spatial_ref")
        crs = wkt
    if crs is None and any(str(d).lower() in _LAT_NAMES[:2] for d in rename):
        crs = DEFAULT_GEOGRAPHIC_CRS
    if crs is None:
        raise InputError(f"product {product!r}: {path} variable {var!r} declares no CRS and is not on lat/lon")
    attrs = {**da.encoding, **da.attrs}
    keep = {k: attrs[k] for k in ("_FillValue", "missing_value", "nodata", "scale_factor", "add_offset", "_Unsigned",
                                  "valid_range", "valid_min", "valid_max", "units", "long_name") if k in attrs}
    da.attrs = {**keep, "source": str(path), "_date": date_from_name(path.name), "variable": var}
    if chunks:
        da = da.chunk({k: v for k, v in chunks.items() if k in da.dims})
    return da.rio.write_crs(crs)


def half_month_times(time: xr.DataArray, attrs: dict, path: Path, product: str) -> pd.DatetimeIndex:
    """Dates of a numeric time axis in the GIMMS NDVI3g v1 layout: fractional months (1, 1.5, ..., 6.5 or
    7, ..., 12.5; ``m`` the composite of days 1-15 of month m, ``m.5`` that of days 16-end) with the year in
    the global ``Year`` attribute and in the file name (``ndvi3g_geo_v1_YYYY_0106.nc4``); they must agree.
    Any other numeric time without CF units is refused."""
    values = np.asarray(time.values, dtype="float64")
    units = time.attrs.get("units")
    halves = values * 2
    if units not in (None, "", "month", "months") or not (
            np.allclose(halves, np.round(halves)) and values.min() >= 1 and values.max() < 13):
        raise InputError(f"product {product!r}: {path} has a numeric time axis {values[:4].tolist()} with units "
                         f"{units!r} that is not CF (no 'days since ...') nor GIMMS fractional months")
    year_attr = next((attrs[k] for k in ("Year", "year") if k in attrs), None)
    named = date_from_name(path.name)
    if year_attr is None and named is None:
        raise InputError(f"product {product!r}: {path} counts time in fractional months but names no year "
                         "(no global 'Year' attribute, no year in the file name)")
    year = int(np.atleast_1d(year_attr)[0]) if year_attr is not None else named.year
    if named is not None and named.year != year:
        raise InputError(f"product {product!r}: {path} says Year={year} but its file name says {named.year}")
    months = np.floor(values).astype(int)
    days = np.where(values - months >= 0.5, 16, 1)
    return pd.DatetimeIndex([pd.Timestamp(year, m, d) for m, d in zip(months, days)])


# --------------------------------------------------------------------------------------------------
# HDF5 in the HDF-EOS layout (HDF-EOS5 files, and HDF-EOS2 files converted with h4toh5)
# --------------------------------------------------------------------------------------------------


def _hdf5_layer(path: Path, wanted, product: str, chunks) -> xr.DataArray | None:
    import h5py

    found: list[str] = []
    meta_text = None
    with h5py.File(path, "r") as h5:
        def visit(name, obj):
            nonlocal meta_text
            base = name.rsplit("/", 1)[-1]
            if isinstance(obj, h5py.Dataset):
                if base.startswith("StructMetadata"):
                    meta_text = _as_text(obj[()])
                elif obj.ndim >= 2 and normalize(base) in wanted:
                    found.append(name)
        h5.visititems(visit)
        if meta_text is None:
            for key, value in h5.attrs.items():
                if key.startswith("StructMetadata"):
                    meta_text = _as_text(value)
        if not found:
            return None
        found.sort(key=lambda n: wanted.index(normalize(n.rsplit("/", 1)[-1])))
        dsname = found[0]
        attrs = {k: _attr_value(v) for k, v in h5[dsname].attrs.items()}
    group, var = dsname.rsplit("/", 1) if "/" in dsname else ("/", dsname)
    try:
        ds = xr.open_dataset(path, engine="h5netcdf", group=group, phony_dims="access", mask_and_scale=False,
                             decode_times=False, chunks={})
    except Exception as err:
        raise InputError(f"product {product!r}: cannot open {path} as HDF5 ({err})") from None
    da = ds[var]
    da = da.rename(dict(zip(da.dims[-2:], ("y", "x"))))
    if meta_text is None:
        raise InputError(f"product {product!r}: {path} holds {dsname!r} but no HDF-EOS StructMetadata, so its "
                         "grid is unknown; expected an HDF-EOS file (MODIS, VIIRS) or its h4toh5 conversion")
    grid_name = _grid_name_of(dsname)
    x, y, crs = hdfeos_grid(meta_text, grid_name, da.sizes["y"], da.sizes["x"], path)
    da = da.assign_coords(x=x, y=y)
    keep = {k: attrs[k] for k in ("_FillValue", "scale_factor", "add_offset", "valid_range", "units",
                                  "long_name") if k in attrs}
    da.attrs = {**keep, "source": str(path), "_date": date_from_name(path.name), "variable": var}
    if chunks:
        da = da.chunk({k: v for k, v in chunks.items() if k in da.dims})
    return da.rio.write_crs(crs)


def _hdf4_layer(path: Path, wanted, product: str, chunks) -> xr.DataArray | None:
    """An SDS of an HDF-EOS2 (HDF4) file read with pyhdf: lazily (one dask block, read when computed),
    with its attributes (``_FillValue``, ``scale_factor`` to be divided, ``valid_range``) and the grid of
    the file's ``StructMetadata.0``."""
    import dask
    import dask.array

    try:
        from pyhdf.SD import SD, SDC
        from pyhdf.error import HDF4Error
    except ImportError:
        raise InputError(f"product {product!r}: {path} is HDF4. {HDF4_HELP}") from None
    try:
        sd = SD(str(path), SDC.READ)
    except HDF4Error as err:
        raise InputError(f"product {product!r}: cannot open {path} as HDF4 ({err})") from None
    try:
        by_norm = {normalize(n): n for n in sd.datasets()}
        name = next((by_norm[w] for w in wanted if w in by_norm), None)
        if name is None:
            return None
        meta = next((_as_text(v) for k, v in sd.attributes().items() if k.startswith("StructMetadata")), None)
        sds = sd.select(name)
        _, rank, dims, _, _ = sds.info()
        attrs = {k: _attr_value(np.asarray(v)) if isinstance(v, list) and len(v) == 1 else v
                 for k, v in sds.attributes().items()}
        if "_FillValue" not in attrs:
            try:
                attrs["_FillValue"] = sds.getfillvalue()
            except HDF4Error:
                pass
        dtype = np.asarray(sds[tuple(slice(0, 1) for _ in dims)]).dtype
        sds.endaccess()
    finally:
        sd.end()
    if rank != 2:
        raise InputError(f"product {product!r}: {path} SDS {name!r} has {rank} dimensions; expected (y, x)")
    if meta is None:
        raise InputError(f"product {product!r}: {path} holds {name!r} but no HDF-EOS StructMetadata, so its grid is "
                         "unknown; expected an HDF-EOS file (MODIS)")
    x, y, crs = hdfeos_grid(meta, None, dims[0], dims[1], path)

    def read(p=str(path), n=name):
        f = SD(p, SDC.READ)
        try:
            return np.asarray(f.select(n).get())
        finally:
            f.end()

    data = dask.array.from_delayed(dask.delayed(read)(), shape=tuple(dims), dtype=dtype)
    da = xr.DataArray(data, dims=("y", "x"), coords={"y": y, "x": x})
    if chunks:
        da = da.chunk({k: v for k, v in chunks.items() if k in da.dims})
    keep = {k: attrs[k] for k in ("_FillValue", "scale_factor", "add_offset", "valid_range", "units", "long_name")
            if k in attrs}
    da.attrs = {**keep, "source": str(path), "_date": date_from_name(path.name), "variable": name}
    return da.rio.write_crs(crs)


def _grid_name_of(dsname: str) -> str | None:
    parts = [p for p in dsname.split("/") if p]
    if "GRIDS" in parts:  # HDF-EOS5: /HDFEOS/GRIDS/<grid>/Data Fields/<sds>
        return parts[parts.index("GRIDS") + 1]
    return parts[0] if len(parts) > 1 else None  # h4toh5: /<grid>/Data Fields/<sds>


def _as_text(value) -> str:
    if isinstance(value, np.ndarray):
        value = value.item() if value.size == 1 else b"".join(value.ravel())
    return value.decode("ascii", "replace").rstrip("\x00") if isinstance(value, bytes) else str(value)


def _attr_value(v):
    if isinstance(v, np.ndarray) and v.size == 1:
        return v.item()
    if isinstance(v, bytes):
        return v.decode("ascii", "replace")
    return v


def _dms_to_degrees(packed: float) -> float:
    """HDF-EOS packed degrees DDDMMMSSS.SS -> decimal degrees (GCTP convention)."""
    sign = -1.0 if packed < 0 else 1.0
    v = abs(packed)
    deg = int(v // 1_000_000)
    minutes = int((v - deg * 1_000_000) // 1_000)
    seconds = v - deg * 1_000_000 - minutes * 1_000
    return sign * (deg + minutes / 60.0 + seconds / 3600.0)


def hdfeos_grid(meta: str, grid_name: str | None, ny: int, nx: int, path) -> tuple[np.ndarray, np.ndarray, str]:
    """Cell-centre x, y coordinates and the CRS of a grid described in an HDF-EOS ``StructMetadata``."""
    blocks = re.findall(r"GROUP=GRID_\d+(.*?)END_GROUP=GRID_\d+", meta, flags=re.S)
    if not blocks:
        raise InputError(f"{path}: StructMetadata describes no grid")
    block = blocks[0]
    if grid_name is not None:
        for b in blocks:
            m = re.search(r'GridName="([^"]+)"', b)
            if m and m.group(1) == grid_name:
                block = b
                break

    def field(key):
        m = re.search(rf"\b{key}=([^\n]+)", block)
        if not m:
            raise InputError(f"{path}: StructMetadata grid has no {key}")
        return m.group(1).strip()

    xdim, ydim = int(field("XDim")), int(field("YDim"))
    if (ydim, xdim) != (ny, nx):
        raise InputError(f"{path}: StructMetadata says the grid is {ydim} x {xdim}, the data are {ny} x {nx}")
    ul = [float(v) for v in field("UpperLeftPointMtrs").strip("()").split(",")]
    lr = [float(v) for v in field("LowerRightMtrs").strip("()").split(",")]
    proj = field("Projection")
    if proj.endswith("GCTP_SNSOID"):
        params = [float(v) for v in field("ProjParams").strip("()").split(",")] if "ProjParams" in block else []
        radius = params[0] if params and params[0] > 0 else MODIS_SPHERE_RADIUS_M
        crs = MODIS_SINUSOIDAL.replace(str(MODIS_SPHERE_RADIUS_M), repr(radius))
    elif proj.endswith("GCTP_GEO"):
        ul = [_dms_to_degrees(v) for v in ul]
        lr = [_dms_to_degrees(v) for v in lr]
        crs = DEFAULT_GEOGRAPHIC_CRS
    else:
        raise InputError(f"{path}: HDF-EOS projection {proj} is not supported (expected GCTP_SNSOID or GCTP_GEO)")
    dx = (lr[0] - ul[0]) / xdim
    dy = (lr[1] - ul[1]) / ydim
    x = ul[0] + (np.arange(xdim) + 0.5) * dx
    y = ul[1] + (np.arange(ydim) + 0.5) * dy
    return x, y, crs
