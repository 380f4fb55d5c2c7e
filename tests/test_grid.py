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
    interpolating ones, from another CRS too (GDAL's arithmetic depends on the window's origin); every
    task holds one block."""
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
    else:  # from another CRS too: every block takes the whole map's kernel scale (kernel_scale)
        assert np.isfinite(values).mean() > 0.5
        np.testing.assert_allclose(values, whole.values, rtol=1e-12, atol=0, equal_nan=True)


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
    x, y = dt @ (cols, rows)
    sx, sy = Transformer.from_crs(like.rio.crs, src.rio.crs, always_xy=True).transform(x, y)
    return ~st @ (sx, sy)


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


def test_interpolating_rules_across_crs_do_not_depend_on_the_partition():
    """From lon/lat onto a coarser UTM grid (SYNTHETIC blocky field): bilinear, average and mode give the
    same values eagerly and in every block partition (one kernel scale for all blocks), the scale is the one
    GDAL takes for a one-piece warp, and mode/average of a target cell lying inside one constant 10 x 10
    patch of the source is that patch's value."""
    import rasterio.warp
    from rasterio.enums import Resampling

    from dldd.core.grid import grid_of, kernel_scale, reproject_like

    rng = np.random.default_rng(5)
    patches = rng.integers(0, 9, (20, 30))
    src = grid_da(x0=60.0, y0=45.0, res=0.02, nx=300, ny=200)
    src = src.copy(data=np.kron(patches, np.ones((10, 10))) + rng.normal(0, 0.01, (200, 300))).rio.write_nodata(np.nan)
    like = grid_da(x0=310000.0, y0=4920000.0, res=2857.0, nx=100, ny=80, crs="EPSG:32641")
    sg, dg = grid_of(src), grid_of(like)
    scale = kernel_scale(sg, dg)
    assert 0.5 < scale["XSCALE"] < 0.6 and 0.7 < scale["YSCALE"] < 0.8  # wider in x: the grids are rotated

    def one_piece(**kw):  # GDAL's own warp of the whole map (approximate transformer)
        out = np.full(like.shape, np.nan)
        rasterio.warp.reproject(src.values, out, src_transform=sg.transform, src_crs=src.rio.crs,
                                dst_transform=dg.transform, dst_crs=like.rio.crs, resampling=Resampling.bilinear,
                                src_nodata=np.nan, dst_nodata=np.nan, **kw)
        return out

    assert np.nanmax(np.abs(one_piece(**scale) - one_piece())) < 1e-3  # the same kernel as GDAL's pick
    corners = [_corner_cells(src, like, dx, dy) for dx in (0, 1) for dy in (0, 1)]
    col0, col1 = np.min([c for c, _ in corners], 0), np.max([c for c, _ in corners], 0)
    row0, row1 = np.min([r for _, r in corners], 0), np.max([r for _, r in corners], 0)
    one_patch = (np.floor(col0 / 10) == np.floor(col1 / 10)) & (np.floor(row0 / 10) == np.floor(row1 / 10))
    one_patch &= (col0 >= 0) & (row0 >= 0) & (col1 < 300) & (row1 < 200)
    assert one_patch.mean() > 0.1
    patch_value = patches[(row0[one_patch] // 10).astype(int), (col0[one_patch] // 10).astype(int)]
    for rule in ("bilinear", "average", "mode"):
        s = src if rule != "mode" else src.round().astype("int16").rio.write_nodata(-1)
        eager = reproject_like(s, like, rule).values
        assert np.isfinite(eager).mean() > 0.9
        for src_chunks, like_chunks in ((50, 7), (64, 30)):
            lazy = reproject_like(s.chunk(src_chunks), like.chunk(like_chunks), rule)
            np.testing.assert_array_equal(lazy.values, eager)
        if rule != "bilinear":  # the patches' noise has SD 0.01
            np.testing.assert_allclose(eager[one_patch], patch_value, atol=0.05 if rule == "average" else 0)


def _corner_cells(src, like, dx, dy):
    """Corner (dx, dy) of every target cell of ``like`` in ``src``'s fractional cells (pyproj, exact)."""
    from affine import Affine

    shifted = like.rio.transform() @ Affine.translation(dx - 0.5, dy - 0.5)
    return _source_cells(src, like.rio.write_transform(shifted).assign_coords(
        x=like.x + (dx - 0.5) * shifted.a, y=like.y + (dy - 0.5) * shifted.e))


def test_bilinear_across_crs_onto_a_finer_grid_is_exact():
    """Onto a finer grid (GDAL's plain 2 x 2 kernel) bilinear values across CRSs are the bilinear
    interpolation of the source at each target centre as pyproj places it (scipy's map_coordinates), away
    from the source's edges."""
    from scipy.ndimage import map_coordinates

    from dldd.core.grid import reproject_like

    rng = np.random.default_rng(8)
    src = grid_da(x0=60.0, y0=45.0, res=0.05, nx=120, ny=80)
    src = src.copy(data=rng.random(src.shape)).rio.write_nodata(np.nan)
    like = grid_da(x0=310000.0, y0=4920000.0, res=2000.0, nx=90, ny=70, crs="EPSG:32641")
    c, r = _source_cells(src, like)
    expected = map_coordinates(src.values, [r - 0.5, c - 0.5], order=1)
    inner = (c > 1) & (r > 1) & (c < src.sizes["x"] - 1) & (r < src.sizes["y"] - 1)
    assert inner.mean() > 0.9
    for out in (reproject_like(src, like, "bilinear"), reproject_like(src.chunk(40), like.chunk(16), "bilinear")):
        np.testing.assert_allclose(out.values[inner], expected[inner], rtol=0, atol=1e-6)
