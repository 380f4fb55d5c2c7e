"""Map writers of a run: a dask-backed map streamed block by block into a Cloud-Optimized GeoTIFF
(rioxarray's windowed writer under a lock, then GDAL's COG driver)."""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from dldd.core import io
from dldd.errors import InputError

#: GeoTIFF tile edge of the streamed writer's intermediate file (the COG's own tiles are GDAL's default).
TILE = 256


def write_lock(name: str):
    """A lock for writing one file from the active dask scheduler's tasks: a ``dask.distributed`` lock
    under a client, a manager's lock for the processes scheduler, else a thread lock."""
    import threading

    import dask
    import dask.multiprocessing

    try:
        from dask.distributed import Lock, get_client

        get_client()
        return Lock(name)
    except (ImportError, ValueError):
        pass
    if dask.base.get_scheduler() is dask.multiprocessing.get:
        import multiprocessing

        return multiprocessing.Manager().Lock()
    return threading.Lock()


def write_cog_streamed(path: Path, da: xr.DataArray) -> Path:
    """A dask-backed (y, x) map as a Cloud-Optimized GeoTIFF without gathering it.

    rioxarray's ``to_raster(tiled=True, lock=...)`` stores the map's blocks as dask computes them (each
    task writes its window, one at a time: :func:`write_lock`) into a tiled GeoTIFF beside the target;
    GDAL then copies that into the COG tile by tile, in the temporary file :func:`dldd.core.io.atomic_path`
    renames in. Same tags, data type and no-data as :func:`dldd.core.io.write_cog` (:func:`dldd.core.io.cog_ready`),
    byte for byte. On a cluster the output folder must be storage every worker can write.
    """
    import rasterio
    import rasterio.shutil

    da = da.squeeze(drop=True) if da.ndim > 2 and 1 in da.shape else da
    if da.dims != ("y", "x"):
        raise InputError(f"{da.name or 'map'}: expected dims ('y', 'x') to write a map, got {da.dims}")
    out, tags = io.cog_ready(da)
    with io.atomic_path(path) as tmp:
        source = tmp.with_name(tmp.name[: -len(".tmp")] + ".blocks.tmp")
        try:
            out.rio.to_raster(source, driver="GTiff", tiled=True, blockxsize=TILE, blockysize=TILE,
                              BIGTIFF="IF_SAFER", tags=tags, lock=write_lock(f"dldd-cog-{source.name}"),
                              compute=True)
            with rasterio.open(source, "r+") as dst:
                # copied from the open dataset with its tags set again: the GTiff rioxarray closed lost the
                # empty ones (the eager writer's in-memory copy keeps them in the COG's metadata)
                dst.update_tags(**tags)
                rasterio.shutil.copy(dst, tmp, driver="COG", compress="DEFLATE")
        finally:
            source.unlink(missing_ok=True)
    return Path(path)
