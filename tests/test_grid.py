"""Grid checks: inputs on different grids are refused with a message naming both, unless a rule is named."""

import numpy as np
import pytest
import rioxarray  # noqa: F401
import xarray as xr

from dldd.core.grid import align_inputs, grid_of
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
        grid_of(grid_da(crs=None), "soc")


def _random_grid(rng, res, ny, nx, dtype="float64", crs="EPSG:4326", x0=77.0, y0=39.5):
    da = grid_da(x0=x0, y0=y0, res=res, nx=nx, ny=ny, crs=crs)
    return da.copy(data=rng.random((ny, nx)).astype(dtype) if dtype.startswith("float")
                   else rng.integers(0, 6, (ny, nx)).astype(dtype))


@pytest.mark.parametrize("rule", ["nearest", "mode", "bilinear", "average"])
@pytest.mark.parametrize("direction", ["finer", "coarser", "projected"])
def test_block_reprojection_equals_whole_map(rule, direction):
    """Lazy reprojection, one task per block of the target warping only its window of the source, gives
    what the whole-map reprojection gives: the same value for the class rules, to ~1e-12 for the
    interpolating ones (GDAL's arithmetic depends on the window's origin); every task holds one block."""
    import dask
    import dask.array.core as dac

    from dldd.core.grid import reproject_like

    rng = np.random.default_rng(3)
    if direction == "finer":
        src, like = _random_grid(rng, 0.1, 35, 70), grid_da(x0=77.0, y0=39.5, res=0.05, nx=140, ny=70)
    elif direction == "coarser":
        src, like = _random_grid(rng, 0.025, 140, 280), grid_da(x0=77.0, y0=39.5, res=0.1, nx=70, ny=35)
    else:  # UTM source onto a lon/lat grid: windows from transformed block bounds; a smooth field
        src = _random_grid(rng, 5000.0, 60, 90, crs="EPSG:32644", x0=200000.0, y0=4400000.0)
        src = src.copy(data=np.add.outer(np.arange(60.0), np.arange(90.0)) / 150.0)
        like = grid_da(x0=78.0, y0=39.5, res=0.05, nx=80, ny=40)
    if rule in ("nearest", "mode"):
        src = src.astype("int8").rio.write_nodata(-128)
    src.attrs["units"] = "1"
    whole = reproject_like(src, like, rule)
    finalized = []
    real = dac.finalize

    def record(results, *args):  # what a compute hands back to the caller
        out = real(results, *args)
        finalized.append(out.shape)
        return out

    lazy = reproject_like(src.chunk(16), like.chunk(24), rule)
    assert lazy.chunks is not None and lazy.dims == whole.dims and lazy.dtype == whole.dtype
    assert {k: str(v) for k, v in lazy.attrs.items()} == {k: str(v) for k, v in whole.attrs.items()}
    assert lazy.rio.crs == like.rio.crs
    with dask.config.set(scheduler="synchronous"):
        blocks = [b.compute() for b in lazy.data.to_delayed().ravel()]
    assert all(b.shape[0] <= 24 and b.shape[1] <= 24 for b in blocks)
    assert all(s[0] <= 24 and s[1] <= 24 for s in finalized)
    values = lazy.values
    if rule in ("nearest", "mode"):
        np.testing.assert_array_equal(values, whole.values)
    elif direction != "projected":
        np.testing.assert_allclose(values, whole.values, rtol=1e-12, atol=0, equal_nan=True)
    else:  # from another CRS GDAL scales the kernel by each block's source window: close, not equal
        ok = np.isfinite(values) & np.isfinite(whole.values)
        assert ok.mean() > 0.5 and (np.isfinite(values) == np.isfinite(whole.values)).all()
        assert np.abs(values[ok] - whole.values[ok]).max() < 0.01  # a ramp rising 0.007 per cell
        again = reproject_like(src.chunk(16), like.chunk(24), rule).values  # fixed by the partition
        np.testing.assert_array_equal(again, values)


def test_block_reprojection_keeps_other_dimensions():
    rng = np.random.default_rng(4)
    src = _random_grid(rng, 0.1, 35, 70)
    cube = xr.concat([src, 2 * src], dim="time").assign_coords(time=[2000, 2001])
    like = grid_da(x0=77.0, y0=39.5, res=0.05, nx=140, ny=70)
    from dldd.core.grid import reproject_like

    lazy = reproject_like(cube.chunk({"y": 10}), like.chunk(32), "nearest")
    assert lazy.dims == ("time", "y", "x") and list(lazy.time.values) == [2000, 2001]
    np.testing.assert_array_equal(lazy.values, reproject_like(cube, like, "nearest").values)


def test_grid_is_a_geobox_and_rotated_grids_are_refused():
    """The grid model is odc-geo's GeoBox; a rotated (sheared) transform is refused naming the input."""
    from affine import Affine
    from odc.geo.geobox import GeoBox

    g = grid_of(grid_da(), "ndvi")
    assert isinstance(g, GeoBox) and g.shape == (10, 20) and g.crs.geographic
    assert tuple(g.transform)[:6] == pytest.approx((0.1, 0.0, 70.0, 0.0, -0.1, 45.0))
    rotated = xr.DataArray(np.zeros((4, 5)), dims=("y", "x")).rio.write_crs("EPSG:4326").rio.write_transform(
        Affine.translation(70, 45) * Affine.rotation(10) * Affine.scale(0.1, -0.1))
    with pytest.raises(InputError, match="soc: a rotated"):
        grid_of(rotated, "soc")


def test_same_grid_within_text_rounding():
    """Coordinates written as text (a few digits lost) are the same grid; half a cell off is not."""
    from dldd.core.grid import same_grid

    a = grid_da()
    rounded = a.assign_coords(x=np.round(a.x.values, 9), y=np.round(a.y.values, 9))
    assert same_grid(grid_of(a), grid_of(rounded))
    assert not same_grid(grid_of(a), grid_of(grid_da(x0=70.05)))
    assert not same_grid(grid_of(a), grid_of(grid_da(crs="EPSG:32643")))


def _source_cells(src, like):
    """Independent of GDAL: each target cell centre of ``like`` transformed to ``src``'s CRS by pyproj,
    exactly, as (fractional column, fractional row) in ``src``'s cells (0 at the grid's outer edge)."""
    from pyproj import Transformer

    st, dt = src.rio.transform(), like.rio.transform()
    cols, rows = np.meshgrid(np.arange(like.sizes["x"]) + 0.5, np.arange(like.sizes["y"]) + 0.5)
    x, y = dt * (cols, rows)
    sx, sy = Transformer.from_crs(like.rio.crs, src.rio.crs, always_xy=True).transform(x, y)
    return ~st * (sx, sy)


def _nearest_by_pyproj(src, like, fill):
    """The nearest-neighbour reprojection of ``src`` onto ``like`` (the source cell that contains each target
    cell centre, else ``fill``) and where it is decided: centres farther than 1e-9 cell from a cell edge."""
    c, r = _source_cells(src, like)
    ci, ri = np.floor(c).astype(int), np.floor(r).astype(int)
    inside = (ci >= 0) & (ci < src.sizes["x"]) & (ri >= 0) & (ri < src.sizes["y"])
    expected = np.full(c.shape, fill, src.dtype)
    expected[inside] = src.values[ri[inside], ci[inside]]
    decided = (np.abs(c - np.round(c)) > 1e-9) & (np.abs(r - np.round(r)) > 1e-9)
    return expected, decided


def _class_pair(case):
    """SYNTHETIC random classes (0-19, no-data 255) on 0.05 degree cells and a target of about the same cell
    size in UTM 41N or in an equal-area CRS (EASE-Grid 2.0), or the reverse (UTM classes onto lon/lat)."""
    rng = np.random.default_rng(11)
    if case == "lonlat->utm":
        src = grid_da(x0=60.0, y0=45.0, res=0.05, nx=120, ny=80)
        like = grid_da(x0=310000.0, y0=4920000.0, res=4000.0, nx=70, ny=60, crs="EPSG:32641")
    elif case == "lonlat->equal-area":
        src = grid_da(x0=60.0, y0=45.0, res=0.05, nx=120, ny=80)
        like = grid_da(x0=5850000.0, y0=5100000.0, res=4500.0, nx=80, ny=50, crs="EPSG:6933")
    else:
        src = grid_da(x0=300000.0, y0=4960000.0, res=4000.0, nx=90, ny=80, crs="EPSG:32641")
        like = grid_da(x0=61.0, y0=44.5, res=0.05, nx=70, ny=60)
    src = src.copy(data=rng.integers(0, 20, src.shape).astype("uint8")).rio.write_nodata(255)
    return src, like


@pytest.mark.parametrize("case", ["lonlat->utm", "lonlat->equal-area", "utm->lonlat"])
def test_nearest_across_crs_is_exact(case):
    """Across CRSs every nearest-neighbour cell takes the source cell that contains its centre, as pyproj
    transforms it exactly (GDAL's default approximate transformer, 0.125 cell, moved a few % of them):
    eagerly, and lazily in several block partitions on the threads and synchronous schedulers."""
    import dask

    from dldd.core.grid import reproject_like

    src, like = _class_pair(case)
    expected, decided = _nearest_by_pyproj(src, like, 255)
    assert decided.mean() > 0.98 and (expected != 255).mean() > 0.8  # a column on the central meridian ties
    eager = reproject_like(src, like, "nearest")
    assert eager.dtype == src.dtype
    np.testing.assert_array_equal(eager.values[decided], expected[decided])
    for src_chunks, like_chunks in ((None, 7), (13, 16), (40, 25)):
        lazy = reproject_like(src if src_chunks is None else src.chunk(src_chunks), like.chunk(like_chunks), "nearest")
        for scheduler in ("threads", "synchronous"):
            with dask.config.set(scheduler=scheduler):
                np.testing.assert_array_equal(lazy.values[decided], expected[decided])
