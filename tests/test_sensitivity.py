"""MEDALUS ESAI (dldd.indicators.sensitivity) against METHODS section 4 / Kosmas99 tables and hand values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import rioxarray  # noqa: F401
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from dldd.core.legend import CLASS_NODATA
from dldd.errors import InputError
from dldd.indicators import sensitivity as sens


def da(values):
    return xr.DataArray(np.asarray(values, dtype=float), dims="cell")


# ---- continuous score tables: (value, expected score) with every boundary exactly at its threshold,
#      expected values written from METHODS section 4 (not from the module's constants) ----
TABLE_CASES = {
    "rock_fragments": (sens.rock_fragments_score,
                       [(0, 2.0), (19.99, 2.0), (20, 1.3), (40, 1.3), (60, 1.3), (60.01, 1.0), (100, 1.0)]),
    "depth": (sens.depth_score,
              [(0, 4), (14.99, 4), (15, 3), (29.99, 3), (30, 2), (75, 2), (75.01, 1), (200, 1)]),
    "slope": (sens.slope_score,
              [(0, 1.0), (5.99, 1.0), (6, 1.2), (17.99, 1.2), (18, 1.5), (35, 1.5), (35.01, 2.0), (120, 2.0)]),
    "rainfall": (sens.rainfall_score,
                 [(0, 4), (279.99, 4), (280, 2), (650, 2), (650.01, 1), (1500, 1)]),
    "plant_cover": (lambda x: sens.plant_cover_score(x.assign_attrs(units="%")),
                    [(0, 2.0), (9.99, 2.0), (10, 1.8), (40, 1.8), (40.01, 1.0), (100, 1.0)]),
    "policy": (sens.policy_score,
               [(0, 2), (24.99, 2), (25, 1.5), (75, 1.5), (75.01, 1), (100, 1)]),
}


@pytest.mark.parametrize("name", sorted(TABLE_CASES))
def test_score_tables_at_boundaries(name):
    fn, cases = TABLE_CASES[name]
    x = da([c[0] for c in cases] + [np.nan])
    got = fn(x).values
    np.testing.assert_array_equal(got[:-1], [c[1] for c in cases])
    assert np.isnan(got[-1])


def test_aridity_score_bgi_and_ai():
    # Kosmas99 BGI classes: <50 1.0, 50-75 1.1, 75-100 1.2, 100-125 1.4, 125-150 1.8, >150 2.0
    bgi = da([0, 49.9, 50, 74.9, 75, 100, 125, 150, 150.1])
    np.testing.assert_array_equal(sens.aridity_score(bgi=bgi).values, [1, 1, 1.1, 1.1, 1.2, 1.4, 1.8, 1.8, 2.0])
    # Aridity index, nine classes (Ferrara et al. 2020 as MISLAND; METHODS 4 quotes 0.10-0.20 -> 1.55 and
    # < 0.03 -> 2.0): >= 1.0 1.0, 0.75-1.0 1.05, 0.65-0.75 1.15, 0.50-0.65 1.25, 0.35-0.50 1.35,
    # 0.20-0.35 1.45, 0.10-0.20 1.55, 0.03-0.10 1.75, < 0.03 2.0; edges lower-inclusive
    ai = da([0.0, 0.0299, 0.03, 0.0999, 0.10, 0.1999, 0.20, 0.35, 0.50, 0.65, 0.75, 0.9999, 1.0, 3.0, np.nan])
    got = sens.aridity_score(aridity_index=ai).values
    np.testing.assert_array_equal(got[:-1], [2.0, 2.0, 1.75, 1.75, 1.55, 1.55, 1.45, 1.35, 1.25, 1.15, 1.05, 1.05,
                                             1.0, 1.0])
    assert np.isnan(got[-1])
    assert "Ferrara" in sens.aridity_score(aridity_index=ai).attrs["references"]
    # BGI wins when both are given; nothing given is an error
    np.testing.assert_array_equal(sens.aridity_score(bgi=da([10]), aridity_index=da([0.01])).values, [1.0])
    with pytest.raises(InputError, match="bgi"):
        sens.aridity_score()


def test_bagnouls_gaussen_index_hand():
    time = xr.date_range("2001-01-01", periods=24, freq="MS", use_cftime=False)
    # year 1: t = 20, P = 10 every month -> (40 - 10) x 12 = 360
    # year 2: t = 10, P = 30 for 6 months (2t - P < 0 -> 0), t = 25, P = 20 for 6 months -> 30 x 6 = 180
    tas = np.r_[np.full(12, 20.0), np.full(6, 10.0), np.full(6, 25.0)]
    pr = np.r_[np.full(12, 10.0), np.full(6, 30.0), np.full(6, 20.0)]
    out = sens.bagnouls_gaussen_index(xr.DataArray(tas, dims="time", coords={"time": time}),
                                      xr.DataArray(pr, dims="time", coords={"time": time}))
    np.testing.assert_allclose(out.values, [360.0, 180.0])
    assert list(out.time.dt.year.values) == [2001, 2002] and bool((out.time.dt.dayofyear == 1).all())
    pr[3] = np.nan  # incomplete year -> NaN
    out = sens.bagnouls_gaussen_index(xr.DataArray(tas, dims="time", coords={"time": time}),
                                      xr.DataArray(pr, dims="time", coords={"time": time}))
    assert np.isnan(out.values[0]) and out.values[1] == 180.0


def test_categorical_scores():
    np.testing.assert_array_equal(sens.parent_material_score(da([1, 2, 3])).values, [1.0, 1.7, 2.0])
    np.testing.assert_array_equal(sens.drainage_score(da([1, 2, 3])).values, [1.0, 1.2, 2.0])
    np.testing.assert_array_equal(sens.fire_risk_score(da([1, 2, 3, 4])).values, [1, 1.3, 1.6, 2])
    np.testing.assert_array_equal(sens.erosion_protection_score(da([1, 2, 3, 4, 5])).values, [1, 1.3, 1.6, 1.8, 2])
    np.testing.assert_array_equal(sens.drought_resistance_score(da([1, 2, 3, 4, 5])).values, [1, 1.2, 1.4, 1.7, 2])
    np.testing.assert_array_equal(sens.land_use_intensity_score(da([1, 2, 3])).values, [1, 1.5, 2])
    got = sens.land_use_intensity_score(da([1, CLASS_NODATA, np.nan])).values
    assert got[0] == 1 and np.isnan(got[1:]).all()
    with pytest.raises(InputError, match=r"fire_risk: class codes \[7.0\]"):
        sens.fire_risk_score(da([1, 7]))


def test_usda_texture_and_score():
    # (sand %, clay %) at textbook positions of the USDA texture triangle -> class
    cases = [((90, 5), "S"), ((80, 5), "LS"), ((65, 10), "SL"), ((40, 20), "L"), ((20, 10), "SiL"),
             ((5, 5), "Si"), ((60, 25), "SCL"), ((30, 35), "CL"), ((10, 35), "SiCL"), ((50, 40), "SC"),
             ((5, 45), "SiC"), ((20, 60), "C")]
    sand = da([c[0][0] for c in cases])
    clay = da([c[0][1] for c in cases])
    codes = sens.usda_texture_class(sand, clay)
    assert codes.dtype == np.int8
    assert [sens.USDA_TEXTURE_CODES[int(c)] for c in codes.values] == [c[1] for c in cases]
    # METHODS: L/SCL/SL/LS/CL 1.0, SC/SiL/SiCL 1.2, Si/C/SiC 1.6, S 2.0
    expected = {"S": 2.0, "LS": 1.0, "SL": 1.0, "L": 1.0, "SiL": 1.2, "Si": 1.6, "SCL": 1.0, "CL": 1.0,
                "SiCL": 1.2, "SC": 1.2, "SiC": 1.6, "C": 1.6}
    np.testing.assert_array_equal(sens.texture_score(codes).values, [expected[c[1]] for c in cases])
    bad = sens.usda_texture_class(da([70, np.nan]), da([40, 10]))  # sand + clay > 100; NaN
    assert (bad.values == CLASS_NODATA).all()


def test_aspect_score():
    asp = da([0, 45, 89, 90, 180, 270, 315, np.nan])
    np.testing.assert_array_equal(sens.aspect_score(asp).values, [1, 1, 1, 2, 2, 2, 1, 1])
    south = sens.aspect_score(da([0, 180, 90]), latitude=-30.0).values
    np.testing.assert_array_equal(south, [2, 1, 2])


def test_fractional_vegetation_cover():
    ndvi = da([-0.1, 0.05, 0.425, 0.8, 0.95, np.nan])
    fvc = sens.fractional_vegetation_cover(ndvi)
    np.testing.assert_allclose(fvc.values[:-1], [0, 0, 0.5, 1, 1])
    assert np.isnan(fvc.values[-1]) and fvc.attrs["units"] == "1"
    # percentile end members: 5th / 95th percentile of 0, 0.01, .., 1 are 0.05 and 0.95
    grid = da(np.linspace(0, 1, 101))
    pf = sens.fractional_vegetation_cover(grid, end_members="percentile")
    np.testing.assert_allclose(pf.sel(cell=50).item(), 0.5, atol=1e-12)
    with pytest.raises(InputError, match="ndvi"):
        sens.fractional_vegetation_cover(da([5000.0]))  # scaled integers must be converted at the source
    # a fraction declared as such is converted; a cover without units is refused (0.3: 30 % or 0.3 %?)
    np.testing.assert_array_equal(sens.plant_cover_score(fvc).values[:-1], [2.0, 2.0, 1.0, 1.0, 1.0])
    with pytest.raises(InputError, match="units"):
        sens.plant_cover_score(da([0.3]))
    pct = sens.fractional_vegetation_cover(ndvi, percent=True)
    assert pct.attrs["units"] == "%"
    np.testing.assert_allclose(pct.values[:-1], [0, 0, 50, 100, 100])
    np.testing.assert_array_equal(sens.plant_cover_score(pct).values[:-1], [2.0, 2.0, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(sens.plant_cover_score(da([9.99, 10, 40, 40.01]).assign_attrs(units="%")).values,
                                  [2.0, 1.8, 1.8, 1.0])
    np.testing.assert_array_equal(sens.plant_cover_score(da([0.0999, 0.1, 0.4, 0.4001]).assign_attrs(units="1")).values,
                                  [2.0, 1.8, 1.8, 1.0])


def _projected_plane(a, b, n=6, res=30.0):
    x = np.arange(n) * res + 500000.0
    y = 4100000.0 - np.arange(n) * res  # north-up: y descending
    z = a * x[None, :] + b * y[:, None]
    out = xr.DataArray(z, dims=("y", "x"), coords={"y": y, "x": x})
    return out.rio.write_crs("EPSG:32644")


def test_slope_projected_plane():
    z = _projected_plane(0.03, 0.04)
    np.testing.assert_allclose(sens.slope_percent(z).values, 5.0, rtol=1e-9)  # 100 * hypot(0.03, 0.04)
    east = _projected_plane(0.1, 0.0)  # rises to the east -> faces west
    np.testing.assert_allclose(sens.aspect_degrees(east).values, 270.0)
    north = _projected_plane(0.0, 0.1)  # rises to the north -> faces south
    np.testing.assert_allclose(sens.aspect_degrees(north).values, 180.0)
    assert np.isnan(sens.aspect_degrees(_projected_plane(0.0, 0.0)).values).all()
    # dask chunks across y give the same answer
    np.testing.assert_allclose(sens.slope_percent(z.chunk({"y": 2})).compute().values, 5.0, rtol=1e-9)


def test_slope_geographic_matches_geodesic_distances():
    geod = Geod(ellps="WGS84")
    lat = np.linspace(40.05, 39.95, 11)  # north-up, 0.01 degree cells
    lon = np.linspace(79.90, 80.00, 11)
    k_lat, k_lon = 100.0, 50.0  # metres per degree
    z_ns = xr.DataArray(k_lat * np.repeat(lat[:, None], lon.size, 1), dims=("y", "x"), coords={"y": lat, "x": lon})
    z_ns = z_ns.rio.write_crs("EPSG:4326")
    got = sens.slope_percent(z_ns).values[5, 5]
    _, _, dist = geod.inv(lon[5], lat[4], lon[5], lat[6])  # central difference over two cells
    expected = 100 * k_lat * (lat[4] - lat[6]) / dist
    assert got == pytest.approx(expected, rel=1e-6)
    z_ew = xr.DataArray(k_lon * np.repeat(lon[None, :], lat.size, 0), dims=("y", "x"), coords={"y": lat, "x": lon})
    got = sens.slope_percent(z_ew.rio.write_crs("EPSG:4326")).values[5, 5]
    _, _, dist = geod.inv(lon[4], lat[5], lon[6], lat[5])
    assert got == pytest.approx(100 * k_lon * (lon[6] - lon[4]) / dist, rel=1e-6)
    # no CRS: refuse to guess on y/x, accept an explicit choice, infer from lat/lon names
    bare = z_ns.drop_vars("spatial_ref")
    with pytest.raises(InputError, match="geographic"):
        sens.slope_percent(bare)
    assert sens.slope_percent(bare, geographic=True).values[5, 5] == pytest.approx(expected, rel=1e-6)
    named = bare.rename(y="lat", x="lon")
    assert sens.slope_percent(named).values[5, 5] == pytest.approx(expected, rel=1e-6)


# ---- quality and ESA classes at their thresholds (METHODS 4) ----
QUALITY_CASES = {
    "soil": [(1.0, 1), (1.1299, 1), (1.13, 2), (1.46, 2), (1.4601, 3)],
    "climate": [(1.1499, 1), (1.15, 2), (1.81, 2), (1.8101, 3)],
    "vegetation": [(1.1299, 1), (1.13, 2), (1.38, 2), (1.3801, 3)],
    "management": [(1.25, 1), (1.255, 2), (1.26, 2), (1.50, 2), (1.505, 3), (1.51, 3)],
}


@pytest.mark.parametrize("kind", sorted(QUALITY_CASES))
def test_quality_class_boundaries(kind):
    cases = QUALITY_CASES[kind]
    out = sens.quality_class(da([c[0] for c in cases] + [np.nan]), kind)
    assert out.dtype == np.int8 and out.attrs["_FillValue"] == CLASS_NODATA
    np.testing.assert_array_equal(out.values, [c[1] for c in cases] + [CLASS_NODATA])


def test_esa_class_boundaries():
    # N < 1.17 <= P < 1.225 <= F1 < 1.275 <= F2 < 1.325 <= F3 < 1.375 <= C1 < 1.425 <= C2 < 1.53 <= C3
    # (ESAI exactly 1.53 is C3, as the published table's "C3 > 1.53" is read by MISLAND)
    values = [1.0, 1.1699, 1.17, 1.2249, 1.225, 1.275, 1.325, 1.375, 1.425, 1.5299, 1.53, 2.2, np.nan]
    names = ["N", "N", "P", "P", "F1", "F2", "F3", "C1", "C2", "C2", "C3", "C3", None]
    out = sens.esa_class(da(values))
    assert out.dtype == np.int8 and out.attrs["legend"] == sens.ESA_LEGEND.name
    # the published edges and the interpolated ones are marked
    assert "1.17 published" in out.attrs["parameters"] and "1.53 published" in out.attrs["parameters"]
    assert "1.275 interpolated" in out.attrs["parameters"]
    labels = [sens.ESA_LEGEND.label(int(c)) if c != CLASS_NODATA else None for c in out.values]
    assert labels == names


def test_esai_hand_computed_and_dataset():
    one = lambda v: da([v])  # noqa: E731
    scores = {
        "texture": one(1.0), "parent_material": one(1.7), "rock_fragments": one(1.3), "depth": one(2.0),
        "slope": one(1.2), "drainage": one(1.0),
        "rainfall": one(4.0), "aridity": one(2.0), "aspect": one(1.0),
        "fire_risk": one(1.0), "erosion_protection": one(2.0), "drought_resistance": one(2.0), "plant_cover": one(2.0),
        "land_use_intensity": one(1.5), "policy": one(2.0),
    }
    ds = sens.medalus(scores)
    # SQI = (1 * 1.7 * 1.3 * 2 * 1.2 * 1)^(1/6) = 5.304^(1/6) = exp(1.668460 / 6) = 1.320588
    assert ds.sqi.item() == pytest.approx(5.304 ** (1 / 6), rel=1e-12)
    assert ds.sqi.item() == pytest.approx(1.320588, abs=1e-6)
    assert ds.cqi.item() == pytest.approx(2.0, rel=1e-12)  # 8^(1/3)
    assert ds.vqi.item() == pytest.approx(8 ** 0.25, rel=1e-12)  # 1.681793
    assert ds.mqi.item() == pytest.approx(math.sqrt(3.0), rel=1e-12)  # 1.732051
    # ESAI = (1.320588 * 2 * 1.681793 * 1.732051)^(1/4) = 7.693617^(1/4) = 1.665454
    assert ds.esai.item() == pytest.approx(1.665454, abs=1e-6)
    assert sens.ESA_LEGEND.label(int(ds.esa_class.item())) == "C3"
    assert [int(ds[f"{k}_class"].item()) for k in ("sqi", "cqi", "vqi", "mqi")] == [2, 3, 3, 3]
    for v in ("sqi", "esai", "esa_class"):
        assert {"units", "long_name", "method", "parameters", "references"} <= set(ds[v].attrs)


def test_missing_layers_are_explicit():
    s = da([1.6])
    with pytest.raises(InputError, match=r"\['drainage'\]"):
        sens.soil_quality_index(s, s, s, s, s, None)
    # the geometric mean of the layers present: texture alone at 2.0 gives SQI 2.0 (not 2^(1/6) = 1.12)
    alone = sens.soil_quality_index(texture=da([2.0]), missing="present")
    assert alone.item() == pytest.approx(2.0, rel=1e-12)
    assert alone.attrs["layers_present"] == "texture"
    assert alone.attrs["layers_missing"] == "parent_material, rock_fragments, depth, slope, drainage"
    five = sens.soil_quality_index(s, s, s, s, da([1.0]), None, missing="present")
    np.testing.assert_allclose(five.values, (1.6**4 * 1.0) ** (1 / 5))
    assert "drainage" in five.attrs["layers_missing"] and "drainage" in five.attrs["parameters"]
    e = sens.esai(five, s, s, s)
    assert "SQI: drainage" in e.attrs["layers_missing"] and "drainage" in e.attrs["parameters"]
    with pytest.raises(InputError, match="missing="):
        sens.management_quality_index(s, s, missing="neutral")  # scoring a missing layer 1.0 is gone
    with pytest.raises(InputError, match="land_use_intensity"):
        sens.management_quality_index(da([35.0]), s)  # raw value, not a score
    full = sens.medalus({"texture": da([1.2]), "rainfall": da([4.0]), "plant_cover": da([2.0]),
                         "land_use_intensity": da([1.5])}, missing="present")
    assert (full.sqi.item(), full.cqi.item(), full.vqi.item(), full.mqi.item()) == (1.2, 4.0, 2.0, 1.5)


def test_vegetation_scores_from_land_cover():
    lc = da([1, 2, 3, 6, 7, CLASS_NODATA])
    out = sens.vegetation_scores_from_land_cover(lc)
    # Kosmas99 class descriptions (METHODS 4): forests have high drought resistance 1.2 and high erosion
    # protection 1.3; permanent grassland erosion protection 1.3 (no grassland has 1.6), drought resistance
    # low 1.7; annual crops very low protection and resistance 2.0; bare land fire risk low 1.0
    np.testing.assert_array_equal(out["drought_resistance"].values[:4], [1.2, 1.7, 2.0, 2.0])
    np.testing.assert_array_equal(out["erosion_protection"].values[:4], [1.3, 1.3, 2.0, 2.0])
    np.testing.assert_array_equal(out["fire_risk"].values[:4], [1.6, 1.3, 1.3, 1.0])
    assert all(np.isnan(out[k].values[4:]).all() for k in out)  # water and no data are not assessed
    assert "permanent" in out["erosion_protection"].attrs["method"]


def test_esai_max_closed_form():
    # every METHODS table at its maximum: depth 4 and rainfall 4, all others 2
    expected = ((2 * 2 * 2 * 4 * 2 * 2) ** (1 / 6) * (4 * 2 * 2) ** (1 / 3) * 2 * 2) ** 0.25
    assert sens.ESAI_MAX == pytest.approx(expected, rel=1e-12)
    assert sens.ESAI_MAX > 2.0  # the Kosmas99 scores reach 4, so ESAI is not bounded by 2


#: Possible scores of each layer (METHODS 4 / Kosmas99), for the property test.
LAYER_SCORES = {
    "texture": [1.0, 1.2, 1.6, 2.0], "parent_material": [1.0, 1.7, 2.0], "rock_fragments": [1.0, 1.3, 2.0],
    "depth": [1, 2, 3, 4], "slope": [1.0, 1.2, 1.5, 2.0], "drainage": [1.0, 1.2, 2.0],
    "rainfall": [1, 2, 4], "aridity": [1.0, 1.1, 1.2, 1.4, 1.8, 2.0], "aspect": [1.0, 2.0],
    "fire_risk": [1, 1.3, 1.6, 2], "erosion_protection": [1, 1.3, 1.6, 1.8, 2],
    "drought_resistance": [1, 1.2, 1.4, 1.7, 2], "plant_cover": [1.0, 1.8, 2.0],
    "land_use_intensity": [1, 1.5, 2], "policy": [1, 1.5, 2],
}


@settings(max_examples=60, deadline=None)
@given(st.fixed_dictionaries({k: st.sampled_from(v) for k, v in LAYER_SCORES.items()}))
def test_esai_within_score_range(scores):
    ds = sens.medalus({k: da([v]) for k, v in scores.items()})
    e = ds.esai.item()
    values = list(scores.values())
    assert min(values) - 1e-12 <= e <= max(values) + 1e-12
    assert 1.0 <= e <= sens.ESAI_MAX + 1e-12
    if scores["depth"] <= 2 and scores["rainfall"] <= 2:  # every score in [1, 2] -> ESAI in [1, 2]
        assert e <= 2.0 + 1e-12


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(1.0, 2.0), min_size=15, max_size=15))
def test_esai_in_unit_score_range_for_continuous_scores(values):
    layers = sens.SQI_LAYERS + sens.CQI_LAYERS + sens.VQI_LAYERS + sens.MQI_LAYERS
    e = sens.medalus({k: da([v]) for k, v in zip(layers, values)}).esai.item()
    assert 1.0 - 1e-12 <= e <= 2.0 + 1e-12


def test_stage_layer_table_marks_constant_and_missing_scores():
    """The sensitivity stage's ``sensitivity_layers`` table: rainfall < 280 mm everywhere scores 4 (constant)."""
    from dldd.pipeline.stages.sensitivity import _layer_table

    scores = {"rainfall": sens.rainfall_score(da([35.0, 120.0, 279.0])),
              "texture": da([1.0, 2.0, np.nan]), "plant_cover": da([2.0, 2.0, np.nan])}
    t = _layer_table(scores, ["aspect", "policy"]).set_index("layer")
    assert t.loc["rainfall", "constant"] and t.loc["rainfall", "min_score"] == 4.0 and t.loc["rainfall", "index"] == "CQI"
    assert t.loc["plant_cover", "constant"] and not t.loc["texture", "constant"]
    assert (t.loc["texture", "min_score"], t.loc["texture", "max_score"]) == (1.0, 2.0)
    assert list(t.loc[["aspect", "policy"], "status"]) == ["missing", "missing"]
    assert not t.loc["aspect", "constant"] and t.loc["policy", "index"] == "MQI"
