"""Sources: reading real products and local files into the engine's variables.

:func:`open_input` is the one entry point the pipeline uses: it reads the spec's entry for a variable
(a path, or a product name) with its scale factor, units and fill value.
"""

from __future__ import annotations

import xarray as xr

from dldd.errors import InputError
from dldd.sources.local import open_classes, open_raster

#: Inputs holding class codes (read as integers, never scaled).
CLASS_INPUTS = {"land_cover", "land_unit", "zones"}


def open_input(spec, name: str, chunks=512) -> xr.DataArray:
    """Open input ``name`` of an assessment spec lazily."""
    entry = spec.inputs[name]
    if entry.product is not None:
        raise InputError(
            f"input {name!r}: product {entry.product!r} is not available offline in this version; "
            "give a `path:` to a local file instead (see docs/sources.md)"
        )
    path = spec.resolve(entry.path)
    if name in CLASS_INPUTS:
        return open_classes(path, name=name, variable=entry.variable, crs=entry.crs, chunks=chunks)
    return open_raster(path, variable=entry.variable, name=name, scale_factor=entry.scale_factor,
                       offset=entry.offset, nodata=entry.nodata, crs=entry.crs, units=entry.units, chunks=chunks)
