"""Map writers of a run: a dask-backed map streamed block by block into a Cloud-Optimized GeoTIFF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from dldd.core import io
from dldd.errors import InputError

#: Blocks a streamed map write computes at once, per worker (the client holds this many output blocks).
STREAM_BLOCKS_PER_WORKER = 2


def write_cog_streamed(path: Path, da: xr.DataArray) -> Path:
    """A dask-backed (y, x) map as a Cloud-Optimized GeoTIFF without gathering it.

    The map's blocks are computed a few at a time (:data:`STREAM_BLOCKS_PER_WORKER` per worker, on whatever
    scheduler is active) and written into a tiled GeoTIFF beside the target; GDAL then copies that into
    the COG (which it does tile by tile). Same tags, data type and no-data as :func:`dldd.core.io.write_cog`.
    A graph whose blocks share an expensive upstream step (one chunk for the whole map) recomputes it per
    batch: persist such a step or compute the map first.
    """
    import rasterio
    import rasterio.shutil
    from rasterio.windows import Window

    from dldd.core.parallel import computed_in_batches

    da = da.squeeze(drop=True) if da.ndim > 2 and 1 in da.shape else da
    if da.dims != ("y", "x"):
        raise InputError(f"{da.name or 'map'}: expected dims ('y', 'x') to write a map, got {da.dims}")
    tags = {k: str(v) for k, v in da.attrs.items() if k != "_FillValue"}
    data = da.data
    if np.issubdtype(data.dtype, np.floating):
        data, nodata = data.astype("float32"), np.nan
    else:
        fill = da.attrs.get("_FillValue", da.encoding.get("_FillValue"))
        nodata = None if fill is None else int(fill)
    profile = dict(driver="GTiff", width=da.sizes["x"], height=da.sizes["y"], count=1, dtype=str(data.dtype),
                   crs=da.rio.crs, transform=da.rio.transform(recalc=True), nodata=nodata, tiled=True,
                   blockxsize=256, blockysize=256, BIGTIFF="IF_SAFER")
    ys = np.cumsum((0,) + data.chunks[0])
    xs = np.cumsum((0,) + data.chunks[1])
    blocks = [(i, j) for i in range(len(data.chunks[0])) for j in range(len(data.chunks[1]))]
    with io.atomic_path(path) as tmp:
        source = tmp.with_name(tmp.name[: -len(".tmp")] + ".blocks.tmp")
        try:
            with rasterio.open(source, "w", **profile) as dst:
                arrays = computed_in_batches((data.blocks[i, j] for i, j in blocks), STREAM_BLOCKS_PER_WORKER)
                for (i, j), arr in zip(blocks, arrays):
                    dst.write(np.asarray(arr), 1, window=Window(xs[j], ys[i], xs[j + 1] - xs[j], ys[i + 1] - ys[i]))
                dst.update_tags(**tags)
                if da.name is not None:  # as rioxarray does for the eager writer
                    dst.set_band_description(1, str(da.name))
                # copied from the open dataset: its tags as set (GTiff would drop empty ones on closing)
                rasterio.shutil.copy(dst, tmp, driver="COG", compress="DEFLATE")
        finally:
            source.unlink(missing_ok=True)
    return Path(path)
