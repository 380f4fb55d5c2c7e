"""Sources: reading real products and local files into the engine's variables.

:func:`open_input` is the one entry point the pipeline uses: it reads the spec's entry for a variable
(a path, or a product name) with its scale factor, units and fill value.

A ``product:`` entry reads ``NAME[:LAYER][@LOCATION]`` (see :mod:`dldd.sources.products` and
docs/sources.md). The product's files are found, in order: at ``@LOCATION`` (or the entry's ``path`` when
the spec allows both), in the package of a bundled product, or in the fetch cache (folder ``DLDD_CACHE``)
for the spec's regions and years; a product with a STAC collection that the cache lacks is fetched there
(unless ``DLDD_OFFLINE=1``), and otherwise a clear error says what is missing and how to fetch it.
"""

from __future__ import annotations

import os

import xarray as xr

from dldd.core.units import same_units
from dldd.errors import InputError
from dldd.sources.checks import check_input, check_time_axis
from dldd.sources.local import check_declared_crs, open_classes, open_raster

#: Inputs holding class codes (read as integers, never scaled).
CLASS_INPUTS = {"land_cover", "land_unit", "zones"}
#: Environment variable naming the fetch cache folder, and the one that forbids network access.
CACHE_ENV = "DLDD_CACHE"
OFFLINE_ENV = "DLDD_OFFLINE"


def open_input(spec, name: str, chunks=512) -> xr.DataArray:
    """Open input ``name`` of an assessment spec lazily."""
    entry = spec.inputs[name]
    if entry.product is not None:
        return _open_product_input(spec, name, entry, chunks)
    path = spec.resolve(entry.path)
    if name in CLASS_INPUTS:
        da = open_classes(path, name=name, variable=entry.variable, crs=entry.crs, chunks=chunks)
    else:
        da = open_raster(path, variable=entry.variable, name=name, scale_factor=entry.scale_factor,
                         offset=entry.offset, nodata=entry.nodata, crs=entry.crs, units=entry.units, chunks=chunks)
    return check_input(da, name, str(path), is_class=name in CLASS_INPUTS)


def _open_product_input(spec, name: str, entry, chunks) -> xr.DataArray:
    from dldd.sources import fetch, products

    try:
        product, layer, location = products.parse_product(entry.product)
    except InputError as err:
        raise InputError(f"input {name!r}: {err}") from None
    layer = layer or entry.variable
    if entry.scale_factor != 1.0 or entry.offset != 0.0 or entry.nodata is not None:
        raise InputError(f"input {name!r}: product {product.name!r} knows its scale factor and fill values; "
                         "drop `scale_factor`, `offset` and `nodata` from this input")
    chunk_map = None if chunks is None else (chunks if isinstance(chunks, dict) else {"y": int(chunks), "x": int(chunks)})
    path = spec.resolve(location) if location else (spec.resolve(entry.path) if entry.path else None)
    if path is None and product.bundled is None:
        regions = list(spec.regions.include)
        years = spec_years(spec)
        if not regions:
            raise InputError(
                f"input {name!r}: product {product.name!r} has no location and the spec names no region to fetch "
                f"it for (only zones); fetch it for a zone file with `dldd fetch --product {product.name} "
                f"--region ZONE.geojson --years {years[0]}-{years[1]} --out CACHE` and write "
                f"`product: {product.name}@CACHE/{product.name}/<entry>.zarr`")
        cache = os.environ.get(CACHE_ENV)
        lay = product.layer(layer, name)
        fetch_layer = None if lay.names == product.layers[0].names else lay.variable
        path = fetch.ensure_cached(product.name, regions, years, cache, layer=fetch_layer, input_name=name,
                                   allow_fetch=os.environ.get(OFFLINE_ENV, "") not in ("1", "true", "yes"))
    try:
        da = products.open_product(product, path, layer=layer, input_name=name, chunks=chunk_map,
                                   min_valid=entry.min_valid_composites)
    except InputError as err:
        raise InputError(f"input {name!r}: {err}") from None
    if name in CLASS_INPUTS and not da.attrs.get("legend"):
        raise InputError(f"input {name!r}: product {product.name!r} layer {da.attrs.get('layer')!r} is not a class layer")
    if entry.units is not None and not same_units(entry.units, da.attrs.get("units")):
        raise InputError(f"input {name!r}: the spec says units {entry.units!r}, product {product.name!r} gives "
                         f"{da.attrs.get('units')!r}; drop `units:` (products know theirs)")
    if entry.crs is not None and da.rio.crs is not None:
        check_declared_crs(da.rio.crs, entry.crs, name, f"product {product.name}")
    # products decode their own scale factors and fill values: their time axis is checked, not their values
    if name not in CLASS_INPUTS:
        check_time_axis(da, name, f"product {product.name} at {path}")
    return da


def spec_years(spec) -> tuple[int, int]:
    """First and last year the spec's periods need (baseline and every reporting period)."""
    starts = [spec.periods.baseline.start]
    ends = [spec.periods.baseline.end]
    for name, period in spec.periods.reporting.items():
        starts.append(period.productivity.start)
        ends.append(period.productivity.end)
        lc = spec.periods.land_cover_years(name)
        starts.append(lc[0])
        ends.append(lc[1])
    return min(starts), max(ends)
