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
from dldd.core.grid import align_inputs, grid_of
from dldd.errors import InputError
from dldd.pipeline import store
from dldd.pipeline.chunks import DEFAULT_WORKER_MEMORY, MAX_CHUNK, plan_chunks
from dldd.pipeline.writers import write_cog_streamed
from dldd.spec import Spec

#: Text every table, map and page made from synthetic inputs carries.
SYNTHETIC_LABEL = "synthetic demonstration data"

#: Grids with more cells than this get their regions' coverage computed per tile in the zonal tasks
#: (:class:`dldd.stats.zonal.TiledRegions`, each tile once per run, kept under ``.dldd/regions/``) instead of
#: once for the whole grid in the client (12 bytes per covered cell, plus 8 for the tile plan, and about
#: 90 bytes per cell while it is computed): 1024 x 1024 cells, i.e. about 20 MB of coverage (0.1 GB
#: while computed) at most in the client, whatever the area.
TILED_REGIONS_MIN_CELLS = 1024 * 1024


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
    _regions_by_grid: dict[Any, RegionSet] = field(default_factory=dict)  # odc-geo GeoBox -> regions

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
        grid = grid_of(like, "grid")
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

        if not grid_of(template, "grid").crs.geographic:
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
        """Compute ``obj`` chunk by chunk into ``.dldd/intermediate/<name>.zarr`` and return it opened lazily
        from there (:func:`dldd.pipeline.store.write_intermediate`, resumable inside a run by the fingerprint
        of the stage running). Use it instead of ``dask.compute`` for a stage's layers that several outputs
        share: no process holds a whole map."""
        return store.write_intermediate(self.out, name, obj, self.stage_fingerprint, self.stored)

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

    def open_stored(self, name: str) -> xr.Dataset:
        """The layers ``intermediate`` stored under ``name``, opened lazily with their attributes; every
        variable is registered in :attr:`stored`."""
        return store.open_stored(self.out, name, self.stored)

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
