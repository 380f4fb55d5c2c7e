"""Geodesic cell and polygon areas on WGS84 (dldd.core.areas) against independent references:
pyproj.Geod (Karney's geodesic polygons) on densified cell boundaries, the closed-form surface of the
ellipsoid, equal-area projections (cell area = dx * dy exactly), and the lat-lon form of Mercator cells."""

from __future__ import annotations

import numpy as np
import pyproj
import pytest
import rioxarray  # noqa: F401
import shapely
import xarray as xr

from dldd.core.areas import cell_area_km2, geodesic_area_km2, grid_edges
from dldd.errors import InputError

GEOD = pyproj.Geod(ellps="WGS84")
#: Surface of the WGS84 ellipsoid, km² (NIMA TR8350.2 / GeographicLib: 510,065,621.724 km²).
WGS84_SURFACE_REF_KM2 = 510_065_621.724


def _grid(x, y, crs="EPSG:4326", name="t"):
    da = xr.DataArray(np.zeros((len(y), len(x)), "float32"), dims=("y", "x"), coords={"y": y, "x": x}, name=name)
    return da.rio.write_crs(crs) if crs is not None else da


def _geod_area_km2(lons, lats) -> float:
    return abs(GEOD.polygon_area_perimeter(lons, lats)[0]) / 1e6


def _box_boundary(x0, x1, y0, y1, n):
    """Counter-clockwise boundary of a box with ``n`` segments per edge (in whatever coordinates)."""
    s = np.linspace(0.0, 1.0, n + 1)[:-1]
    xs = np.concatenate([x0 + (x1 - x0) * s, np.full(n, x1), x1 - (x1 - x0) * s, np.full(n, x0)])
    ys = np.concatenate([np.full(n, y0), y0 + (y1 - y0) * s, np.full(n, y1), y1 - (y1 - y0) * s])
    return xs, ys


@pytest.mark.parametrize("d", [0.01, 0.1, 1.0])
@pytest.mark.parametrize("lat0", [-89.5, -61.3, -0.5, 23.4, 45.0, 71.2, 88.9])
def test_geographic_cells_match_geod(d, lat0):
    # cell edges run along parallels: densify them so that Geod's geodesic edges follow the parallels
    x = np.array([10.0 + d / 2, 10.0 + 1.5 * d])
    y = np.array([lat0 + d / 2, lat0 + 1.5 * d])  # ascending rows (south-up)
    a = cell_area_km2(_grid(x, y)).values
    assert a.shape == (2, 2)
    n = 400 if d >= 1.0 else 40
    ref = _geod_area_km2(*_box_boundary(10.0, 10.0 + d, lat0, lat0 + d, n))
    assert a[0, 0] == pytest.approx(ref, rel=1e-6)
    assert a[0, 1] == a[0, 0]  # same row, same area
    ref_up = _geod_area_km2(*_box_boundary(10.0, 10.0 + d, lat0 + d, lat0 + 2 * d, n)) if lat0 + 2 * d <= 90 else None
    if ref_up is not None:
        assert a[1, 0] == pytest.approx(ref_up, rel=1e-6)


def test_global_grid_sums_to_ellipsoid_surface():
    d = 0.25
    x = np.arange(-180 + d / 2, 180, d)
    y = np.arange(90 - d / 2, -90, -d)  # north-up, as most products
    a = cell_area_km2(_grid(x, y))
    assert a.dims == ("y", "x") and a.attrs["units"] == "km2"
    assert float(a.sum()) == pytest.approx(WGS84_SURFACE_REF_KM2, rel=1e-9)
    assert np.all(a.values > 0)
    # symmetric about the equator, largest at the equator
    np.testing.assert_allclose(a.values[:, 0], a.values[::-1, 0], rtol=1e-9)
    assert a.values[len(y) // 2, 0] == a.values[:, 0].max()


def test_dask_input_gives_dask_output_with_same_values():
    x = np.arange(0.05, 10, 0.1)
    y = np.arange(50.05, 40, -0.1)
    da = _grid(x, y).chunk({"y": 30, "x": 40})
    a = cell_area_km2(da)
    assert a.chunks is not None
    np.testing.assert_allclose(a.values, cell_area_km2(_grid(x, y)).values, rtol=0)


def test_equal_area_projection_cells_are_dx_dy():
    # EASE-Grid 2.0 global (EPSG:6933) is equal-area on WGS84: every 25 km cell is 625 km2 exactly
    d = 25_000.0
    x = np.arange(-1_000_000 + d / 2, 1_000_000, d)
    y = np.arange(6_000_000 - d / 2, 4_000_000, -d)
    a = cell_area_km2(_grid(x, y, "EPSG:6933")).values
    np.testing.assert_allclose(a, d * d / 1e6, rtol=1e-6)


def test_mercator_cells_match_latlon_closed_form():
    # a Web Mercator (EPSG:3857) cell is a lon/lat rectangle: its area is that of the geographic cell
    d = 20_000.0
    x = np.arange(1_000_000 + d / 2, 1_400_000, d)
    y = np.arange(8_000_000 - d / 2, 7_600_000, -d)
    a = cell_area_km2(_grid(x, y, "EPSG:3857")).values
    to_ll = pyproj.Transformer.from_crs(3857, 4326, always_xy=True)
    xe, ye = grid_edges(_grid(x, y, "EPSG:3857"))
    lon, _ = to_ll.transform(xe, np.zeros_like(xe))
    _, lat = to_ll.transform(np.zeros_like(ye), ye)
    for i in (0, 7, len(y) - 1):
        for j in (0, 11):
            ref = _geod_area_km2(*_box_boundary(lon[j], lon[j + 1], lat[i + 1], lat[i], 200))
            assert a[i, j] == pytest.approx(ref, rel=1e-6)


def test_utm_cells_match_geod_on_densified_boundary():
    crs = "EPSG:32643"  # UTM 43N (Kyrgyzstan / Tajikistan)
    d = 30_000.0
    x = np.arange(300_000 + d / 2, 600_000, d)
    y = np.arange(4_500_000 - d / 2, 4_200_000, -d)
    da = _grid(x, y, crs)
    a = cell_area_km2(da, densify=16).values
    to_ll = pyproj.Transformer.from_crs(crs, 4326, always_xy=True)
    xe, ye = grid_edges(da)
    for i, j in [(0, 0), (3, 5), (9, 9)]:
        bx, by = _box_boundary(xe[j], xe[j + 1], ye[i + 1], ye[i], 16)
        ref = _geod_area_km2(*to_ll.transform(bx, by))
        assert a[i, j] == pytest.approx(ref, rel=1e-6)
    # UTM scale factor: areas within (0.9996 ± 0.002)^-2 of dx * dy near the central meridian
    assert np.all(np.abs(a / (d * d / 1e6) - 1) < 0.01)


def test_polar_projected_cell_around_the_pole():
    # a polar stereographic cell centred on the pole (winds around it)
    x = np.array([-4000.0, 0.0, 4000.0])
    da = _grid(x, x[::-1], "EPSG:3413")
    a = cell_area_km2(da, densify=8).values
    bx, by = _box_boundary(-2000.0, 2000.0, -2000.0, 2000.0, 64)
    ref = _geod_area_km2(*pyproj.Transformer.from_crs(3413, 4326, always_xy=True).transform(bx, by))
    assert a[1, 1] == pytest.approx(ref, rel=1e-6)


def test_missing_crs_is_an_error_naming_the_array():
    da = _grid(np.arange(0.5, 3), np.arange(0.5, 3), crs=None, name="ndvi")
    with pytest.raises(InputError, match="'ndvi'.*no CRS"):
        cell_area_km2(da)
    # explicit crs= works
    assert cell_area_km2(da, crs="EPSG:4326").shape == (3, 3)


def test_irregular_coordinates_are_refused():
    with pytest.raises(InputError, match="not regularly spaced"):
        cell_area_km2(_grid(np.array([0.5, 1.5, 3.0]), np.array([0.5, 1.5])))


def test_polygon_area_lonlat_box_closed_form():
    # a lon/lat box's edges are parallels and meridians: compare with the cell formula (independent of Geod)
    box = shapely.box(30.0, 40.0, 37.0, 44.0)
    ref = float(cell_area_km2(_grid(np.array([33.5, 40.5]), np.array([42.0, 46.0]))).values[0, 0])
    assert geodesic_area_km2(box) == pytest.approx(ref, rel=1e-6)


def test_polygon_area_across_antimeridian_all_forms_agree():
    ref = float(cell_area_km2(_grid(np.array([175.0, 185.0]), np.array([65.0, 75.0]))).values[0].sum())
    cut = shapely.MultiPolygon([shapely.box(170, 60, 180, 70), shapely.box(-180, 60, -170, 70)])
    continuous = shapely.box(170, 60, 190, 70)
    jumpy = shapely.Polygon([(170, 60), (-170, 60), (-170, 70), (170, 70)])  # jumps of 340 degrees
    for g in (cut, continuous, jumpy):
        assert geodesic_area_km2(g) == pytest.approx(ref, rel=1e-6)


def test_polygon_holes_are_subtracted():
    outer = shapely.box(0, 0, 10, 10)
    hole = shapely.box(2, 2, 4, 4)
    assert geodesic_area_km2(outer.difference(hole)) == pytest.approx(
        geodesic_area_km2(outer) - geodesic_area_km2(hole), rel=1e-9
    )
    with pytest.raises(InputError, match="Polygon"):
        geodesic_area_km2(shapely.LineString([(0, 0), (1, 1)]))
