"""Soil organic carbon sub-indicator (METHODS 1.6): F_LU table, climate factor, IPCC zones, stock path,
degradation class."""

import numpy as np
import pytest
import xarray as xr

from dldd.core.legend import CLASS_NODATA
from dldd.errors import InputError
from dldd.indicators import soc
from dldd.indicators.landcover import land_cover_series

ND = CLASS_NODATA

# METHODS 1.6 F_LU table, copied by hand (rows from, columns to: Tree Grass Crop Wet Art Other Water).
METHODS_F_LU = """
Tree       1    1    f    1      0.1 0.1 1
Grass      1    1    f    1      0.1 0.1 1
Crop       1/f  1/f  1    1/0.71 0.1 0.1 1
Wetland    1    1    0.71 1      0.1 0.1 1
Artificial 2    2    2    2      1   1   1
Other      2    2    2    2      1   1   1
Water      1    1    1    1      1   1   1
"""
# METHODS 1.6 climate factors, by hand.
F_BY_REGIME = {"temperate dry": 0.80, "temperate moist": 0.69, "tropical dry": 0.58, "tropical moist": 0.48,
               "tropical montane": 0.64}
# IPCC zone (JRC coding) -> regime whose f applies (boreal and polar take temperate; tropical wet as moist).
ZONE_TO_REGIME = {1: "temperate moist", 2: "temperate dry", 3: "temperate moist", 4: "temperate dry",
                  5: "temperate moist", 6: "temperate dry", 7: "temperate moist", 8: "temperate dry",
                  9: "tropical montane", 10: "tropical moist", 11: "tropical moist", 12: "tropical dry"}


def methods_f_lu(f):
    return np.array([[eval(cell, {"f": f}) for cell in row.split()[1:]]  # noqa: S307 - fixed table text
                     for row in METHODS_F_LU.strip().splitlines()])


def grid(values, dtype=None):
    return xr.DataArray(np.asarray(values, dtype=dtype), dims=("y", "x"))


@pytest.mark.parametrize("f", sorted(F_BY_REGIME.values()))
def test_f_lu_table_every_pair(f):
    np.testing.assert_allclose(soc.f_lu_matrix(f), methods_f_lu(f), rtol=1e-12)


def test_constants_match_methods():
    assert dict(soc.CLIMATE_FACTOR) == {k.replace(" ", "_"): v for k, v in F_BY_REGIME.items()}
    assert soc.TRANSITION_YEARS == 20 and soc.SOC_CHANGE_THRESHOLD_PCT == 10


def test_climate_factor_every_zone():
    zones = grid([[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]], np.int8)
    out = soc.climate_factor(zones)
    expected = np.vectorize(lambda z: F_BY_REGIME[ZONE_TO_REGIME[z]])(zones.values)
    np.testing.assert_allclose(out.values, expected, rtol=1e-6)
    assert np.isnan(soc.climate_factor(grid([[ND]], np.int8)).values).all()
    with pytest.raises(InputError, match="13"):
        soc.climate_factor(grid([[13]], np.int8))


def test_stock_after_20_years_every_pair():
    """Each of the 49 transitions, after 20 years, lands on SOC0 x F_LU (tropical dry f = 0.58)."""
    f_val, soc0 = 0.58, 40.0
    frm, to = np.meshgrid(np.arange(1, 8), np.arange(1, 8), indexing="ij")
    n_years = 25
    series = np.where(np.arange(n_years)[:, None, None] < 1, frm[None], to[None]).astype(np.int8)
    lc = xr.DataArray(series, dims=("time", "y", "x"))
    stock = soc.soc_stock(grid(np.full((7, 7), soc0)), lc, f_val)
    np.testing.assert_allclose(stock.values[20], soc0 * methods_f_lu(f_val), rtol=1e-6)
    np.testing.assert_allclose(stock.values[24], soc0 * methods_f_lu(f_val), rtol=1e-6)


def test_grass_to_crop_tropical_dry_path():
    soc0, f_val = 60.0, F_BY_REGIME["tropical dry"]
    years = np.arange(2000, 2031)
    lc = land_cover_series(grid([[2]], np.int8), grid([[3]], np.int8), years, 2003)
    f = soc.climate_factor(grid([[soc.TROPICAL_DRY]], np.int8))
    stock = soc.soc_stock(grid([[soc0]]), lc, f)
    path = stock.values[:, 0, 0]
    target = soc0 * 0.58
    k = years - 2002  # years since the last year of grassland (2002)
    expected = np.where(k <= 0, soc0, np.where(k >= 20, target, soc0 + (target - soc0) * k / 20))
    np.testing.assert_allclose(path, expected, rtol=1e-6)
    assert path[years == 2022][0] == pytest.approx(target, rel=1e-6)  # reached after 20 years
    assert np.all(path[years >= 2022] == path[years == 2022][0])  # and stops
    assert np.allclose(np.diff(path[(years >= 2002) & (years <= 2022)]), (target - soc0) / 20, rtol=1e-5)
    assert stock.attrs["units"] == "t/ha" and stock.dtype == np.float32
    assert stock.dims == ("time", "y", "x")


def test_chained_transition_restarts_from_current_stock():
    # grass 2 years, crop 5 years, back to grass; temperate moist f = 0.69
    seq = [2, 2] + [3] * 5 + [2] * 30
    lc = xr.DataArray(np.array(seq, np.int8)[:, None, None], dims=("time", "y", "x"))
    stock = soc.soc_stock(grid([[100.0]]), lc, 0.69).values[:, 0, 0]
    s_switch = 100.0 + 5 * (69.0 - 100.0) / 20  # after 5 years of grass -> crop
    assert stock[6] == pytest.approx(s_switch, rel=1e-6)
    # crop -> grass: target s_switch / f, reached 20 years after the last crop year (index 6)
    assert stock[26] == pytest.approx(s_switch / 0.69, rel=1e-6)
    assert stock[36] == pytest.approx(s_switch / 0.69, rel=1e-6)
    assert stock[16] == pytest.approx(s_switch + 10 * (s_switch / 0.69 - s_switch) / 20, rel=1e-6)


def test_nodata_years_and_missing_reference():
    seq = np.array([2, ND, 2, 3, ND, 3, 3], np.int8)
    lc = xr.DataArray(np.stack([seq, seq], axis=1)[:, None, :], dims=("time", "y", "x"))
    stock = soc.soc_stock(grid([[50.0, np.nan]]), lc, 0.58, transition_years=4).values[:, 0]
    target = 50.0 * 0.58
    np.testing.assert_allclose(stock[:, 0], [50, 50, 50, 50 + (target - 50) / 4, 50 + (target - 50) / 2,
                                             50 + 3 * (target - 50) / 4, target], rtol=1e-6)
    assert np.isnan(stock[:, 1]).all()


def test_management_factors_and_user_table():
    lc = xr.DataArray(np.array([1] + [3] * 20, np.int8)[:, None, None], dims=("time", "y", "x"))
    s = soc.soc_stock(grid([[10.0]]), lc, 0.8, f_mg=1.1, f_i=0.9)
    assert s.values[-1, 0, 0] == pytest.approx(10.0 * 0.8 * 1.1 * 0.9, rel=1e-6)
    user = np.ones((7, 7))
    user[0, 2] = 0.5
    s = soc.soc_stock(grid([[10.0]]), lc, np.nan, f_lu=user)
    assert s.values[-1, 0, 0] == pytest.approx(5.0, rel=1e-6)


def test_dask_matches_numpy_and_time_chunk_error():
    rng = np.random.default_rng(1)
    lc = xr.DataArray(rng.integers(1, 8, size=(12, 9, 8)).astype(np.int8), dims=("time", "y", "x"))
    soc0 = grid(rng.uniform(10, 80, size=(9, 8)))
    f = grid(rng.choice([0.48, 0.58, 0.69, 0.8], size=(9, 8)))
    eager = soc.soc_stock(soc0, lc, f)
    lazy = soc.soc_stock(soc0.chunk({"y": 4}), lc.chunk({"y": 4, "time": -1}), f.chunk({"y": 4}))
    np.testing.assert_array_equal(eager.values, lazy.values)
    with pytest.raises(InputError, match="time"):
        soc.soc_stock(soc0, lc.chunk({"time": 5}), f)
    with pytest.raises(InputError, match="holds codes \\[9\\]"):
        soc.soc_stock(soc0, lc.where(lc != 4, 9).astype(np.int8), f)


def test_degradation_thresholds_and_water_mask():
    start = grid([[100.0, 100.0, 100.0, 100.0, 100.0, 100.0, np.nan, 100.0]])
    end = grid([[90.0, 90.01, 110.0, 109.99, 50.0, 150.0, 50.0, 50.0]])
    lc_a = grid([[1, 1, 1, 1, 7, 2, 1, 1]], np.int8)
    lc_b = grid([[1, 1, 1, 1, 2, 7, 1, ND]], np.int8)
    out = soc.soc_degradation(start, end, lc_a, lc_b)
    np.testing.assert_array_equal(out.values, [[-1, 0, 1, 0, ND, ND, ND, -1]])
    assert out.dtype == np.int8 and out.attrs["_FillValue"] == ND
    pct = soc.soc_change(start, end)
    assert pct.attrs["units"] == "%"
    np.testing.assert_allclose(pct.values[0, :4], [-10, -9.99, 10, 9.99], rtol=1e-5)


# --- IPCC 2006 climate zones at the rule boundaries -------------------------------------------------
ZONE = {name: code for code, name in zip(soc.IPCC_CLIMATE_ZONES.codes,
                                         [c.name for c in soc.IPCC_CLIMATE_ZONES.classes])}
CASES = [
    # MAT, MAP, P/PET, elevation, warmest month -> zone
    (18.01, 500, 0.5, 0, 25, "tropical dry"),
    (18.0, 500, 0.5, 0, 25, "warm temperate dry"),  # MAT must exceed 18
    (25, 1000, 0.9, 0, 30, "tropical dry"),  # MAP 1000 is still dry
    (25, 1000.1, 0.9, 0, 30, "tropical moist"),
    (25, 2000, 1.5, 0, 30, "tropical moist"),  # MAP 2000 is still moist
    (25, 2000.1, 1.5, 0, 30, "tropical wet"),
    (25, 2500, 1.5, 1000, 30, "tropical wet"),  # 1000 m is not montane
    (25, 2500, 1.5, 1000.1, 30, "tropical montane"),
    (25, 300, 0.2, 1500, 30, "tropical montane"),
    (15, 900, 1.0, 2000, 25, "warm temperate dry"),  # P/PET must exceed 1; montane only when tropical
    (15, 900, 1.01, 0, 25, "warm temperate moist"),
    (10.01, 400, 0.3, 0, 22, "warm temperate dry"),
    (10.0, 400, 0.3, 0, 22, "cool temperate dry"),
    (0.01, 700, 1.2, 0, 15, "cool temperate moist"),
    (0.0, 700, 1.2, 0, 15, "boreal moist"),
    (-3, 300, 0.8, 0, 10.0, "boreal dry"),  # warmest month 10 is boreal
    (-3, 300, 0.8, 0, 9.99, "polar dry"),
    (-12, 300, 1.5, 0, 5, "polar moist"),
]


def test_ipcc_zone_boundaries():
    cols = list(zip(*CASES))
    da = [xr.DataArray(np.array(c, float), dims="x") for c in cols[:5]]
    out = soc.ipcc_climate_zone(*da[:3], elevation=da[3], warmest_month_temperature=da[4])
    np.testing.assert_array_equal(out.values, [ZONE[z] for z in cols[5]])
    assert out.dtype == np.int8


def test_ipcc_zone_optional_inputs_and_nan():
    mat = xr.DataArray([-5.0, 25.0, np.nan, 15.0, 25.0], dims="x")
    pre = xr.DataArray([200.0, 1500.0, 500.0, 500.0, np.nan], dims="x")
    ppet = xr.DataArray([2.0, 0.5, 0.5, np.nan, 0.5], dims="x")
    out = soc.ipcc_climate_zone(mat, pre, ppet)  # no elevation, no warmest month
    np.testing.assert_array_equal(out.values, [ZONE["boreal moist"], ZONE["tropical moist"], ND, ND, ND])
    frost = xr.DataArray([True, False, True, True, True], dims="x")
    out = soc.ipcc_climate_zone(mat, pre, ppet, frost_free=frost)
    assert out.values[1] == ZONE["warm temperate dry"]  # MAT 25 with frost is not tropical


def test_change_of_exactly_ten_percent_is_classified_whatever_the_float32_rounding():
    """Stocks kept as float32 that are exactly -10 % / +10 % apart in real numbers (the linear 20-year model
    halfway through a grassland -> cropland transition at f = 0.8: S0 (1 - 10/20 x 0.2) = 0.9 S0) are
    degraded / improved; in float32 arithmetic 126 of these 301 changes came out at -9.99999x % (stable)."""
    s0 = np.linspace(20, 80, 301).astype(np.float32)
    down = (s0.astype(np.float64) * 0.9).astype(np.float32)
    up = (s0.astype(np.float64) * 1.1).astype(np.float32)
    lc = grid([np.full(s0.size, 2)], np.int8)
    start = grid([s0], np.float32)
    assert (soc.soc_degradation(start, grid([down], np.float32), lc, lc).values == -1).all()
    assert (soc.soc_degradation(start, grid([up], np.float32), lc, lc).values == 1).all()
    # just inside the band by more than the tolerance: stable
    inside = (s0.astype(np.float64) * (0.9 + 1e-5)).astype(np.float32)
    assert (soc.soc_degradation(start, grid([inside], np.float32), lc, lc).values == 0).all()
    # the model itself: the stock path gives exactly this case 10 years into the transition
    years = np.arange(2000, 2012)
    series = xr.DataArray(np.stack([np.full((1, s0.size), 2)] + [np.full((1, s0.size), 3)] * 11).astype(np.int8),
                          dims=("time", "y", "x"), coords={"time": pd_years(years)})
    stock = soc.soc_stock(start, series, 0.8)
    s_a, s_b = stock.isel(time=0, drop=True), stock.isel(time=10, drop=True)  # 2000 and 2010: k = 10 of 20
    np.testing.assert_allclose(s_b.values / s_a.values, 0.9, rtol=1e-6)
    assert (soc.soc_degradation(s_a, s_b, lc, lc).values == -1).all()


def pd_years(years):
    import pandas as pd

    return pd.to_datetime([f"{y}-01-01" for y in years])
