"""Exact per-group quantiles (dldd.core.quantile): the bounded-memory dask path against numpy."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from dldd.core.legend import CLASS_NODATA
from dldd.core import quantile as qs


@pytest.mark.parametrize("gather_max", [100_000, 50, 3])
def test_lazy_unit_percentile_is_numpy_quantile_in_bounded_memory(gather_max, monkeypatch):
    """The bounded-memory per-unit percentile equals numpy's quantile bit for bit (ties, NaN, no-data
    units, one-pixel and constant units, q = 0 and 1), whether the candidates are gathered at once or
    narrowed by histogram passes first (a small gather limit forces the passes); every task of it
    sees one block of the map."""
    import dask

    monkeypatch.setattr(qs, "UNIT_QUANTILE_GATHER_MAX", gather_max)
    monkeypatch.setattr(qs, "UNIT_QUANTILE_BINS", 16)
    rng = np.random.default_rng(11)
    ny, nx = 60, 50
    mean = np.round(rng.gamma(2.0, 0.1, (ny, nx)), 3)  # rounding makes ties
    mean[rng.random((ny, nx)) < 0.05] = np.nan
    unit = rng.integers(1, 5, (ny, nx)).astype(np.int16)
    unit[rng.random((ny, nx)) < 0.05] = CLASS_NODATA
    unit[0, 0] = 9  # a unit of one pixel
    mean[0, 0] = 0.25
    unit[1, :10] = 7  # a constant unit
    mean[1, :10] = 0.3
    m = xr.DataArray(mean, dims=("y", "x"))
    u = xr.DataArray(unit, dims=("y", "x"))
    shapes = []

    def seen(block):
        shapes.append(block.shape)
        return block

    lazy_m = m.chunk({"y": 16, "x": 20}).map_blocks(seen)
    for q in (0.0, 0.37, 0.9, 1.0):
        expect = qs.unit_quantile_map(mean, unit, q, CLASS_NODATA)
        with dask.config.set(scheduler="synchronous"):
            got = qs.unit_quantile_map_lazy(lazy_m, u.chunk({"y": 16, "x": 20}), q, CLASS_NODATA, ("y", "x"))
            assert got.chunks is not None
            got = got.values
        np.testing.assert_array_equal(got, expect)
    assert shapes and all(s[0] <= 16 and s[1] <= 20 for s in shapes)
    # leading dimensions: one map per index
    stack = xr.concat([m, m * 2], dim="period").assign_coords(period=["a", "b"])
    got = qs.unit_quantile_map_lazy(stack.chunk({"y": 16}), u, 0.9, CLASS_NODATA, ("y", "x"))
    assert got.dims == ("period", "y", "x") and list(got.period.values) == ["a", "b"]
    for i, k in enumerate((1, 2)):
        np.testing.assert_array_equal(got.values[i], qs.unit_quantile_map(mean * k, unit, 0.9, CLASS_NODATA))
