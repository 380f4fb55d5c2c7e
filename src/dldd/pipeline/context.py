"""The run context: what every stage reads (inputs, regions, cell areas) and how it writes (atomically).

A stage asks the context for inputs by variable name (opened lazily, checked, cached), for the region
weights and cell areas of a grid, and hands back maps and tables; the context writes them under the run
folder (``maps/*.tif``, ``tables/*.csv``, one Excel workbook) and keeps the run's summary and manifest.
"""

from __future__ import annotations

import time
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
    chunk_size: int = 512
    products: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    maps: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    params_by_stage: dict[str, Any] = field(default_factory=dict)
    _inputs: dict[str, xr.DataArray] = field(default_factory=dict)
    _regions_by_grid: dict[Grid, RegionSet] = field(default_factory=dict)

    def params_of(self, stage: str):
        """The validated parameters of a stage (its defaults when the spec does not ask for it)."""
        if stage not in self.params_by_stage:
            from dldd.pipeline.registry import STAGES

            self.params_by_stage[stage] = STAGES[stage].params()
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

            self._inputs[name] = open_input(self.spec, name, chunks=self.chunk_size)
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
            weights = region_fractions(self.regions, template)
            info = {r.id: {"name": r.name, "subregion": r.subregion or ""} for r in self.regions}
            self._regions_by_grid[grid] = RegionSet(weights, info)
        return self._regions_by_grid[grid]

    def cell_area(self, like: xr.DataArray) -> xr.DataArray:
        template = like.isel({d: 0 for d in like.dims if d not in ("y", "x")}, drop=True) if like.ndim > 2 else like
        return cell_area_km2(self.georef(template)).compute()

    # --- outputs ----------------------------------------------------------------------------------------
    def _label(self, attrs: dict) -> dict:
        if self.spec.synthetic:
            attrs = {**attrs, "synthetic": "true", "comment": SYNTHETIC_LABEL}
        return attrs

    def write_map(self, name: str, da: xr.DataArray) -> Path:
        """A (y, x) map as a Cloud-Optimized GeoTIFF under ``maps/``."""
        da = self.georef(da).copy()
        da.attrs = self._label(dict(da.attrs))
        if "cog" not in self.spec.outputs.formats:
            return Path()
        path = io.confined(self.out, "maps", f"{name}.tif")
        io.write_cog(path, da)
        self.maps[name] = str(path.relative_to(self.out))
        return path

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
