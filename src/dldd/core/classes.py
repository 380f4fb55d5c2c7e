"""Class rasters from a continuous variable and ascending class edges: the one binning of dldd's indicators
(aridity zones, MEDALUS quality and ESA classes, sand drift energy and directionality classes, score tables).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr

from dldd.core.attrs import output_attrs
from dldd.core.legend import CLASS_NODATA, Legend
from dldd.errors import InputError


def bin_by_edges(x: xr.DataArray, edges, upper_at_edge) -> xr.DataArray:
    """Bin index 0..len(edges) of ``x`` against ascending ``edges``; -1 where ``x`` is NaN.

    ``upper_at_edge[i]`` says whether a value equal to ``edges[i]`` goes to bin ``i + 1`` (True) or to
    bin ``i`` (False). Lazy on dask arrays.
    """
    edges = tuple(float(e) for e in edges)
    upper_at_edge = tuple(bool(u) for u in upper_at_edge)
    if len(edges) != len(upper_at_edge):
        raise InputError(f"bin_by_edges: {len(edges)} edges but {len(upper_at_edge)} edge rules")
    if any(b <= a for a, b in zip(edges, edges[1:])):
        raise InputError(f"bin_by_edges: edges must be strictly ascending, found {edges}")
    idx = xr.zeros_like(x, dtype=np.int8)
    for e, up in zip(edges, upper_at_edge):
        idx = idx + ((x >= e) if up else (x > e)).astype(np.int8)
    return xr.where(x.notnull(), idx, np.int8(-1)).astype(np.int8)


def class_raster(x: xr.DataArray, edges, upper_at_edge, codes, legend: Legend, attrs: Mapping) -> xr.DataArray:
    """int8 class raster: ``codes[i]`` for bin ``i`` of :func:`bin_by_edges`, CLASS_NODATA for NaN.

    ``attrs``: the output's attributes (:func:`dldd.core.attrs.output_attrs`); the legend's are added."""
    if len(codes) != len(edges) + 1:
        raise InputError(f"class_raster: {len(edges)} edges need {len(edges) + 1} codes, found {len(codes)}")
    idx = bin_by_edges(x, edges, upper_at_edge)
    out = xr.full_like(idx, CLASS_NODATA, dtype=np.int8)
    for i, code in enumerate(codes):
        out = xr.where(idx == i, np.int8(code), out)
    out = out.astype(np.int8)
    out.attrs = output_attrs(**attrs, legend=legend)
    return out
