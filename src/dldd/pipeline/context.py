"""The run context: what every stage reads (inputs, regions, cell areas) and how it writes (atomically).

A stage asks the context for inputs by variable name (opened lazily, checked, cached), for the region
weights and cell areas of a grid, and hands back maps and tables; the context writes them under the run
folder (``maps/*.tif``, ``tables/*.csv``, one Excel workbook) and keeps the run's summary and manifest.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from dldd.core import io
from dldd.core.areas import cell_area_km2
from dldd.core.grid import Grid, align_inputs
from dldd.errors import InputError
from dldd.spec import Spec

#: Text every table, map and page made from synthetic inputs carries.
SYNTHETIC_LABEL = "synthetic demonstration data"

#: Memory a dask worker (one thread) may use, bytes, when neither ``DLDD_WORKER_MEMORY`` nor the caller
#: says: what a core of a typical cluster node has. Deliberately not read from the machine, so that the
#: same spec is cut into the same chunks on a laptop and on a cluster (see docs/scaling.md).
DEFAULT_WORKER_MEMORY = 2 * 1024**3
#: Share of a worker's memory one chunk's kernel may take (dask also holds the chunks in flight,
#: results waiting to be written, and its own bookkeeping).
CHUNK_MEMORY_FRACTION = 0.5
#: float64 copies of a chunk's time series a kernel holds at once (input, sorted/ranked working copies,
#: outputs): the Mann-Kendall/Theil-Sen and SPI/SPEI kernels need about this many.
TIME_SERIES_COPIES = 8
#: Chunk edges are multiples (>= 256) or divisors (64, 128) of the zonal tile, within these bounds.
MIN_CHUNK = 64
MAX_CHUNK = 4096


def worker_memory() -> int:
    """Bytes per worker for chunk planning: ``DLDD_WORKER_MEMORY`` (e.g. ``4GB``, ``512MiB``) or the default."""
    import os

    raw = os.environ.get("DLDD_WORKER_MEMORY")
    if not raw:
        return DEFAULT_WORKER_MEMORY
    from dask.utils import parse_bytes

    try:
        return int(parse_bytes(raw))
    except (ValueError, TypeError):
        raise InputError(f"DLDD_WORKER_MEMORY: {raw!r} is not a memory size (e.g. 4GB, 512MiB)") from None


def plan_chunks(n_times: int, memory_bytes: int, *, copies: int = TIME_SERIES_COPIES,
                fraction: float = CHUNK_MEMORY_FRACTION) -> tuple[int, int]:
    """(y, x) chunk edges for a cube of ``n_times`` layers whose kernels need whole time series per chunk.

    ``edge = sqrt(fraction x memory / (n_times x 8 bytes x copies))``, rounded down to a multiple of the
    zonal tile (256) when at least one tile, else to 128 or 64, and kept within [MIN_CHUNK, MAX_CHUNK].
    Examples at 2 GiB: 24 annual layers -> 768, 40 -> 512, 516 monthly layers -> 128.
    """
    from dldd.stats.zonal import ZONAL_TILE

    if n_times < 1 or memory_bytes <= 0:
        raise InputError(f"plan_chunks: n_times={n_times}, memory_bytes={memory_bytes}; both must be positive")
    edge = int(np.sqrt(fraction * memory_bytes / (n_times * 8 * copies)))
    if edge >= ZONAL_TILE:
        edge = edge // ZONAL_TILE * ZONAL_TILE
    else:
        edge = max((e for e in (ZONAL_TILE // 2, ZONAL_TILE // 4) if e <= edge), default=MIN_CHUNK)
    edge = int(min(max(edge, MIN_CHUNK), MAX_CHUNK))
    return edge, edge


#: Grids with more cells than this get their regions' coverage computed per tile in the zonal tasks
#: (:class:`dldd.stats.zonal.TiledRegions`, each tile once per run, kept under ``.dldd/regions/``) instead of
#: once for the whole grid in the client (12 bytes per covered cell, plus 8 for the tile plan, and about
#: 90 bytes per cell while it is computed): 1024 x 1024 cells, i.e. about 20 MB of coverage (0.1 GB
#: while computed) at most in the client, whatever the area.
TILED_REGIONS_MIN_CELLS = 1024 * 1024
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


def attrs_to_json(attrs) -> str:
    """Attributes as JSON text, numpy scalars and arrays tagged with their dtype (data only, no pickle)."""
    import json

    from dldd.core.jsondata import to_json_data

    return json.dumps(to_json_data(attrs, numpy="typed"))


def attrs_from_json(text: str):
    """The attributes :func:`attrs_to_json` wrote, numpy values with their dtype."""
    import json

    from dldd.core.jsondata import from_json_data

    return json.loads(text, object_hook=from_json_data)


@dataclass
class RegionSet:
    """Regions on one grid: cell weights per region id and descriptive columns (name, subregion)."""

    weights: dict[str, tuple[np.ndarray, np.ndarray]]
    info: dict[str, dict[str, str]]


@dataclass
class RunContext:
    spec: Spec
    out: Path
    regions: list  # dldd.regions.registry.Region
    chunk_size: int | None = 512  # None: planned per input from its time axis and the worker memory
    memory_per_worker: int = DEFAULT_WORKER_MEMORY
    products: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    maps: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    params_by_stage: dict[str, Any] = field(default_factory=dict)
    #: Stage name -> its parameter model (a pydantic class), for :meth:`params_of` (set by the pipeline).
    param_models: dict[str, type] = field(default_factory=dict)
    #: The declarations of what the run's stages produced so far (``contracts.json``, set by the pipeline
    #: after each stage; :func:`dldd.pipeline.contracts.run_contracts`).
    declared: dict[str, Any] = field(default_factory=dict)
    stage_fingerprint: str | None = None  # of the stage running (set by the pipeline; see `intermediate`)
    chunks: dict[str, tuple[int, int]] = field(default_factory=dict)  # (y, x) chunk edges per opened input
    #: dask name of each array `intermediate` returned -> (store, variable): how a resumed run finds a
    #: stored product again (see :mod:`dldd.pipeline.resume`).
    stored: dict[str, tuple[str, str]] = field(default_factory=dict)
    _inputs: dict[str, xr.DataArray] = field(default_factory=dict)
    _regions_by_grid: dict[Grid, RegionSet] = field(default_factory=dict)

    def params_of(self, stage: str):
        """The validated parameters of a stage (its defaults when the spec does not ask for it, from the
        parameter models the pipeline hands over in :attr:`param_models`)."""
        if stage not in self.params_by_stage:
            if stage not in self.param_models:
                raise KeyError(f"parameters of stage {stage!r}: not in this run and no parameter model given")
            # a new dict, not an insertion: the pipeline iterates the one it handed over (stages of the run)
            self.params_by_stage = {**self.params_by_stage, stage: self.param_models[stage]()}
        return self.params_by_stage[stage]

    # --- inputs -----------------------------------------------------------------------------------------
    def has(self, name: str) -> bool:
        return name in self.spec.inputs

    def input(self, name: str) -> xr.DataArray:
        """The named input, opened lazily (dask) with scale factor and units applied."""
        if name not in self._inputs:
            if name not in self.spec.inputs:
                raise InputError(f"the spec has no input {name!r}; it lists {sorted(self.spec.inputs)}")
            from dldd.sources import open_input

            if self.chunk_size is not None:
                da = open_input(self.spec, name, chunks=self.chunk_size)
                edges = (self.chunk_size, self.chunk_size)
            else:  # opened once to learn the length of its time axis, then again in the planned chunks (a
                # rechunk of the first opening would read MAX_CHUNK-sized slabs of the file in one task)
                n_times = int(open_input(self.spec, name, chunks=MAX_CHUNK).sizes.get("time", 1))
                edges = plan_chunks(n_times, self.memory_per_worker)
                da = open_input(self.spec, name, chunks=edges[0])
                if "time" in da.dims:
                    da = da.chunk({"time": -1})
            self.chunks[name] = edges
            self._inputs[name] = da
        return self._inputs[name]

    def inputs_aligned(self, names: list[str], reference: str) -> dict[str, xr.DataArray]:
        """Inputs that a stage combines, checked to share the reference input's grid (or resampled)."""
        arrays = {n: self.input(n) for n in names}
        rules = {n: self.spec.inputs[n].resampling for n in names}
        return align_inputs(arrays, reference, rules)

    # --- regions and areas ------------------------------------------------------------------------------
    def georef(self, da: xr.DataArray) -> xr.DataArray:
        """``da`` with a CRS: its own, or that of the opened input on the same x/y coordinates.

        Indicator functions may drop rioxarray's ``spatial_ref`` coordinate; the grid is still the input's.
        """
        if da.rio.crs is not None:
            return da
        for src in self._inputs.values():
            if (src.sizes.get("x") == da.sizes.get("x") and src.sizes.get("y") == da.sizes.get("y")
                    and np.allclose(src.x.values, da.x.values) and np.allclose(src.y.values, da.y.values)):
                return da.rio.write_crs(src.rio.crs)
        raise InputError(f"{da.name or 'array'}: no CRS and no input shares its grid")

    def region_set(self, like: xr.DataArray) -> RegionSet:
        like = self.georef(like)
        grid = Grid.of(like, "grid")
        if grid not in self._regions_by_grid:
            from dldd.regions.rasterize import region_fractions

            template = like.isel({d: 0 for d in like.dims if d not in ("y", "x")}, drop=True) if like.ndim > 2 else like
            self._check_regions_inside(template)
            if template.sizes["y"] * template.sizes["x"] > TILED_REGIONS_MIN_CELLS:
                from dldd.stats.zonal import TiledRegions, tiled_cache_key

                geoms = {r.id: r.geometry for r in self.regions}
                cache = io.confined(self.out, ".dldd", "regions", tiled_cache_key(geoms, template))
                weights = TiledRegions(geoms, template, cache_dir=cache)
            else:
                weights = region_fractions(self.regions, template)
            info = {r.id: {"name": r.name, "subregion": r.subregion or ""} for r in self.regions}
            self._regions_by_grid[grid] = RegionSet(weights, info)
        return self._regions_by_grid[grid]

    def _check_regions_inside(self, template: xr.DataArray) -> None:
        """Refuse a region that does not touch the grid (e.g. a zone file in the wrong place or CRS)."""
        from shapely.affinity import translate
        from shapely.geometry import box

        if not Grid.of(template, "grid").is_geographic:
            return
        x, y = template["x"].values, template["y"].values
        hx, hy = abs(float(x[1] - x[0])) / 2 if x.size > 1 else 0.5, abs(float(y[1] - y[0])) / 2 if y.size > 1 else 0.5
        frame = box(x.min() - hx, y.min() - hy, x.max() + hx, y.max() + hy)
        for r in self.regions:
            if not any(translate(r.geometry, xoff=shift).intersects(frame) for shift in (0.0, 360.0, -360.0)):
                raise InputError(
                    f"region {r.name!r} lies outside the data: the grid covers lon {frame.bounds[0]:g} to "
                    f"{frame.bounds[2]:g}, lat {frame.bounds[1]:g} to {frame.bounds[3]:g}; the region spans lon "
                    f"{r.geometry.bounds[0]:g} to {r.geometry.bounds[2]:g}, lat {r.geometry.bounds[1]:g} to "
                    f"{r.geometry.bounds[3]:g} (check the zone file's CRS and the inputs' extent)")

    def class_table(self, layers: Mapping, column: str | None, legend, *, weights: xr.DataArray | None = None,
                    water: Mapping | None = None, **kwargs) -> pd.DataFrame:
        """Area table (km²) of each class map of ``layers`` (label -> (y, x) map, all on one grid) by region,
        stacked with the label in ``column`` after the region id (:func:`dldd.stats.zonal.class_areas`).

        ``weights`` replaces the cell areas (e.g. population per cell); ``water`` (label -> water map of the
        land account) makes the classes areas of land, water its own row; ``kwargs`` go to ``class_areas``
        (``zones``, ``zone_legend``)."""
        from dldd.stats.zonal import class_areas

        first = next(iter(layers.values()))
        regions = self.region_set(first)
        w = self.cell_area(first) if weights is None else weights
        parts = []
        for label, da in layers.items():
            land = {} if water is None else {"water": water[label]}
            t = class_areas(da, regions.weights, w, legend, region_info=regions.info, **land, **kwargs)
            if column is not None:
                t.insert(1, column, label)
            parts.append(t)
        return pd.concat(parts, ignore_index=True)

    def cell_area(self, like: xr.DataArray) -> xr.DataArray:
        """Cell areas (km²) of the grid of ``like``; on a geographic grid a broadcast of one column (no
        memory per cell), whatever ``like`` holds: only its coordinates and CRS are used."""
        template = like.isel({d: 0 for d in like.dims if d not in ("y", "x")}, drop=True) if like.ndim > 2 else like
        template = self.georef(template)
        empty = xr.DataArray(np.broadcast_to(np.float32(0), (template.sizes["y"], template.sizes["x"])),
                             dims=("y", "x"), coords={"y": template["y"].values, "x": template["x"].values})
        return cell_area_km2(empty.rio.write_crs(template.rio.crs))

    # --- outputs ----------------------------------------------------------------------------------------
    def _label(self, attrs: dict) -> dict:
        if self.spec.synthetic:
            attrs = {**attrs, "synthetic": "true", "comment": SYNTHETIC_LABEL}
        return attrs

    def write_map(self, name: str, da: xr.DataArray) -> Path:
        """A (y, x) map as a Cloud-Optimized GeoTIFF under ``maps/``; a dask-backed map is streamed block by
        block (:func:`write_cog_streamed`), never gathered."""
        da = self.georef(da).copy()
        da.attrs = self._label(dict(da.attrs))
        if "cog" not in self.spec.outputs.formats:
            return Path()
        path = io.confined(self.out, "maps", f"{name}.tif")
        if hasattr(da.data, "dask"):
            write_cog_streamed(path, da)
        else:
            io.write_cog(path, da)
        self.maps[name] = str(path.relative_to(self.out))
        return path

    def intermediate(self, name: str, obj: xr.DataArray | xr.Dataset) -> xr.DataArray | xr.Dataset:
        """Compute ``obj`` chunk by chunk into ``.dldd/intermediate/<name>.zarr`` (on the active scheduler,
        each worker writing its own chunks) and return it opened lazily from there.

        Use it instead of ``dask.compute`` for a stage's layers that several outputs share: no process
        holds a whole map, and the maps and tables that follow read the stored chunks instead of
        recomputing the kernels. Values, dtypes, attributes (``_FillValue`` included; kept as JSON
        with the dtype of numpy values, :func:`attrs_to_json`), coordinates and CRS come back as they
        were; chunks are made regular (Zarr needs it). On a cluster the output folder must be storage
        every worker can write.

        Resumable by bands of chunk rows: inside a run (``stage_fingerprint`` set by the pipeline) each
        band written is marked done, and a stage started again with the same fingerprint (same spec,
        inputs, code and parameters) writes only the bands not yet done. Outside a run the store is
        rewritten every time.
        """
        import json
        import shutil

        ds = obj.to_dataset(name=obj.name or name) if isinstance(obj, xr.DataArray) else obj
        ds = ds.unify_chunks() if ds.chunks else ds
        if ds.chunks:
            ds = ds.chunk({d: max(c) for d, c in ds.chunks.items()})
        attrs = {"dataset": dict(ds.attrs), **{k: dict(v.attrs) for k, v in ds.variables.items()}}
        saved = ds.copy()
        saved.attrs = {"dldd_attrs": attrs_to_json(attrs)}  # data only: nothing is ever unpickled
        for k, v in saved.variables.items():
            v.attrs = {a: val for a, val in v.attrs.items() if a != "_FillValue"} if k == "spatial_ref" else {}
            v.encoding = {}
        encoding = {k: {"_FillValue": None} for k in saved.data_vars}
        path = self._store_path(name)
        identity = json.dumps({"stage": self.stage_fingerprint, "name": name,
                               "layout": {k: [list(v.dims), str(v.dtype), list(v.shape)] for k, v in saved.variables.items()},
                               "chunks": {d: list(c) for d, c in (saved.chunks or {}).items()}}, sort_keys=True)
        marks = path.parent / f".{name}.progress"
        known = (marks / "identity.json").read_text() if (marks / "identity.json").is_file() else None
        if self.stage_fingerprint is None or known != identity or not path.is_dir():
            shutil.rmtree(marks, ignore_errors=True)
            shutil.rmtree(path, ignore_errors=True)
        if not (marks / "complete").is_file():
            if not (marks / "identity.json").is_file():
                saved.to_zarr(path, mode="w", encoding=encoding, consolidated=False, compute=False)
                io.write_text(marks / "identity.json", identity)
            rows = saved.chunks.get("y") if saved.chunks else None
            if rows is None:  # nothing chunked along y: one piece
                saved.to_zarr(path, mode="r+", consolidated=False)
            else:
                unbanded = [k for k, v in saved.variables.items() if "y" not in v.dims]
                banded = saved.drop_vars(unbanded)
                # the variables without a y axis (other coordinates, e.g. a block's last year): in one piece
                saved.drop_vars([k for k in saved.variables if k not in unbanded]).to_zarr(
                    path, mode="r+", consolidated=False)
                edges = np.cumsum((0,) + tuple(rows))
                for b in range(len(rows)):
                    done = marks / f"band-{b}"
                    if done.is_file():
                        continue
                    band = slice(int(edges[b]), int(edges[b + 1]))
                    banded.isel(y=band).to_zarr(path, region={"y": band}, consolidated=False)
                    io.write_text(done, "")
            io.write_text(marks / "complete", "")
        back = self.open_stored(name)
        if isinstance(obj, xr.DataArray):
            out = back[obj.name or name]
            return out.rename(obj.name) if obj.name is None else out
        return back

    def store_layers(self, name: str, layers: Mapping[str, xr.DataArray]) -> dict[str, xr.DataArray]:
        """``layers`` (key -> lazy layer; layers sharing a dimension name must share its length) computed
        into the intermediate store ``name`` (:meth:`intermediate`) and given back by key, lazily, each
        with its own name and the CRS of its grid: the way a stage computes the layers its maps, tables
        and products share, without gathering any of them."""
        stored = self.intermediate(name, xr.Dataset({k: self.georef(v) for k, v in layers.items()}))
        out = {}
        for k, v in layers.items():
            out[k] = stored[k]
            out[k].name = v.name
        return out

    def _store_path(self, name: str) -> Path:
        from dldd.pipeline.resume import INTERMEDIATE_DIR

        return io.confined(self.out, *INTERMEDIATE_DIR, f"{name}.zarr")

    def open_stored(self, name: str) -> xr.Dataset:
        """The layers ``intermediate`` stored under ``name``, opened lazily with their attributes; every
        variable is registered in :attr:`stored`."""
        back = xr.open_zarr(self._store_path(name), mask_and_scale=False, consolidated=False)
        attrs = attrs_from_json(back.attrs["dldd_attrs"])
        back.attrs = attrs["dataset"]
        for k in back.variables:
            back[k].attrs = attrs.get(k, {})
        for k in back.data_vars:
            self.stored[back[k].data.name] = (name, str(k))
        return back

    def write_table(self, name: str, df: pd.DataFrame) -> Path:
        """A table as CSV under ``tables/`` (and a sheet of the run's workbook); synthetic runs say so in a column."""
        df = df.copy()
        if self.spec.synthetic:
            df["data"] = SYNTHETIC_LABEL
        self.tables[name] = df
        path = io.confined(self.out, "tables", f"{name}.csv")
        if "csv" in self.spec.outputs.formats:
            io.write_csv(path, df)
        return path

    def timed(self, name: str):
        ctx = self

        class _Timer:
            def __enter__(self):
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                ctx.timings[name] = round(time.perf_counter() - self.t0, 3)

        return _Timer()
