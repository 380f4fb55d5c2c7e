"""Grid checks: inputs on different grids are refused with a message naming both, unless a rule is named."""

import numpy as np
import pytest
import rioxarray  # noqa: F401
import xarray as xr

from dldd.core.grid import Grid, align_inputs
from dldd.errors import GridMismatchError, InputError


def grid_da(x0=70.0, y0=45.0, res=0.1, nx=20, ny=10, crs="EPSG:4326", value=1.0):
    x = x0 + res * (np.arange(nx) + 0.5)
    y = y0 - res * (np.arange(ny) + 0.5)
    da = xr.DataArray(np.full((ny, nx), value, "float32"), dims=("y", "x"), coords={"y": y, "x": x})
    return da.rio.write_crs(crs) if crs else da


def test_same_grid_passes():
    out = align_inputs({"ndvi": grid_da(), "soc": grid_da(value=2.0)}, "ndvi")
    assert float(out["soc"].mean()) == 2.0


@pytest.mark.parametrize("other", [grid_da(x0=70.05), grid_da(res=0.05, nx=40, ny=20), grid_da(crs="EPSG:32643")])
def test_mismatch_is_refused_naming_both(other):
    with pytest.raises(GridMismatchError) as info:
        align_inputs({"ndvi": grid_da(), "soc": other}, "ndvi")
    msg = str(info.value)
    assert "'soc'" in msg and "'ndvi'" in msg and "resampling" in msg


def test_named_rule_resamples():
    fine = grid_da(res=0.05, nx=40, ny=20)
    fine[:] = np.arange(40, dtype="float32")[None, :]
    out = align_inputs({"ndvi": grid_da(), "soc": fine}, "ndvi", {"soc": "average"})
    assert out["soc"].shape == (10, 20)
    # each coarse cell averages two fine columns 2i and 2i+1
    np.testing.assert_allclose(out["soc"].values[0], np.arange(20) * 2 + 0.5)


def test_missing_crs_named():
    with pytest.raises(InputError, match="soc: no coordinate reference system"):
        Grid.of(grid_da(crs=None), "soc")
