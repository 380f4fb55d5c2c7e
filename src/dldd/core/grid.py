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
    """Reproject ``da`` onto the grid of ``like`` with a named rule, keeping attributes."""
    nodata = da.rio.nodata
    if nodata is None and np.issubdtype(da.dtype, np.floating):
        da = da.rio.write_nodata(np.nan)
    res = da.rio.reproject_match(like, resampling=RESAMPLING_RULES[rule])
    res = res.assign_coords(x=like.x, y=like.y)
    res.attrs.update({k: v for k, v in da.attrs.items() if k not in res.attrs})
    res.attrs["resampled"] = f"{rule} onto the grid of the reference input"
    return res
