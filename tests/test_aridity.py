"""PET (FAO-56 Penman-Monteith, Hargreaves, Thornthwaite) and the aridity index / zones (METHODS 3).

References: the FAO56 worked examples (Allen et al. 1998) with their printed intermediate values, FAO56's
monthly Cabinda table (validation/cabinda_fao56.csv), climate_indices and xclim Thornthwaite on the
Wichita temperatures, hand-computed Thornthwaite cases, and the UNEP class bounds.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from dldd.core.legend import CLASS_NODATA
from dldd.errors import GridMismatchError, InputError
from dldd.indicators import aridity as ar
from dldd.indicators import pet as pe

VALIDATION = Path(__file__).resolve().parent / "data"  # copies of ../shared/validation, see data/PROVENANCE.md


def dms(deg, minutes):
    return deg + minutes / 60.0


def _monthly(values, start="2001-01-01", dims=("time",), coords=None):
    values = np.asarray(values, dtype=float)
    time = pd.date_range(start, periods=values.shape[0], freq="MS")
    return xr.DataArray(values, dims=dims, coords={"time": time, **(coords or {})})


# ---------------------------------------------------------------------------------------------------
# FAO56 worked examples, to their printed precision
# ---------------------------------------------------------------------------------------------------


def test_fao56_example_8_extraterrestrial_radiation():
    # 3 September, 20 deg S
    j = pe.day_of_year(dt.date(2015, 9, 3))
    assert j == 246
    assert round(pe.inverse_relative_distance(j), 3) == 0.985
    assert round(pe.solar_declination(j), 3) == 0.120
    assert round(pe.sunset_hour_angle(-20.0, j), 3) == 1.527
    ra = pe.extraterrestrial_radiation(-20.0, j)
    assert round(ra, 1) == 32.2
    assert round(pe.MJ_TO_MM * ra, 1) == 13.1


def test_fao56_example_9_daylight_hours():
    assert round(pe.daylight_hours(-20.0, pe.day_of_year(np.datetime64("2015-09-03"))), 1) == 11.7


def test_fao56_example_17_monthly_bangkok_april():
    lat, z, tmax, tmin, ea, u2, n = dms(13, 44), 2.0, 34.8, 25.6, 2.85, 2.0, 8.5
    april = pd.Timestamp("2015-04-01")
    j = pe.day_of_year(april, monthly=True)
    assert j == 105  # FAO56: J for 15 April
    # G from the mean temperatures of March (29.2) and April (eq. 44, last month of the series)
    tmean = _monthly([29.2, (tmax + tmin) / 2], start="2015-03-01")
    g = pe.soil_heat_flux_monthly(tmean)
    assert round(float(g[-1]), 2) == 0.14
    assert round(pe.psychrometric_constant(z), 4) == 0.0673
    assert round(pe.slope_vapour_pressure_curve((tmax + tmin) / 2), 3) == 0.246
    assert round(pe.mean_saturation_vapour_pressure(tmin, tmax), 2) == 4.42
    ra = pe.extraterrestrial_radiation(lat, j)
    assert round(ra, 2) == 38.06
    rs = pe.solar_radiation(ra, n, pe.daylight_hours(lat, j))
    assert round(rs, 2) == 22.65
    rso = pe.clear_sky_radiation(ra, z)
    assert round(rso, 2) == 28.54
    rnl = pe.net_longwave_radiation(tmin, tmax, ea, rs, rso)
    assert round(rnl, 2) == 3.11
    assert round(pe.net_radiation(rs, rnl), 2) == 14.33
    eto = pe.pet_penman_monteith(
        tmin, tmax, lat, april, elevation=z, u2=u2, ea=ea, sunshine_hours=n, g=0.14, monthly=True
    )
    assert round(eto, 2) == 5.72
    # the same through a monthly series with G derived from the neighbouring month
    series = pe.pet_penman_monteith(
        _monthly([20.0, tmin], start="2015-03-01"),
        _monthly([38.4, tmax], start="2015-03-01"),  # March mean (20 + 38.4) / 2 = 29.2
        lat,
        tmean.time,
        elevation=z,
        u2=u2,
        ea=ea,
        sunshine_hours=n,
        g="monthly",
    )
    assert round(float(series[-1]), 2) == 5.72
    assert series.attrs["units"] == "mm d-1"


def test_fao56_example_18_daily_brussels():
    lat, z, tmax, tmin, rh_max, rh_min, n = dms(50, 48), 100.0, 21.5, 12.3, 84.0, 63.0, 9.25
    day = dt.date(2015, 7, 6)
    j = pe.day_of_year(day)
    u2 = pe.wind_speed_2m(10.0 / 3.6, 10.0)  # FAO56: 10 km/h (2.78 m/s) measured at 10 m
    assert round(u2, 3) == 2.078
    assert round(pe.psychrometric_constant(z), 4) == 0.0666
    assert round(pe.slope_vapour_pressure_curve((tmax + tmin) / 2), 3) == 0.122
    assert round(pe.mean_saturation_vapour_pressure(tmin, tmax), 3) == 1.997
    ea = pe.actual_vapour_pressure(tmin, tmax, rh_min=rh_min, rh_max=rh_max)
    assert round(ea, 3) == 1.409
    ra = pe.extraterrestrial_radiation(lat, j)
    assert round(ra, 2) == 41.09
    rs = pe.solar_radiation(ra, n, pe.daylight_hours(lat, j))
    assert round(rs, 2) == 22.07
    rso = pe.clear_sky_radiation(ra, z)
    assert round(rso, 2) == 30.90
    rnl = pe.net_longwave_radiation(tmin, tmax, ea, rs, rso)
    assert round(rnl, 2) == 3.71
    assert round(pe.net_radiation(rs, rnl), 2) == 13.28
    eto = pe.pet_penman_monteith(
        tmin, tmax, lat, day, elevation=z, u2=u2, rh_min=rh_min, rh_max=rh_max, sunshine_hours=n
    )
    assert round(eto, 1) == 3.9


def test_hargreaves_on_fao56_example_20_inputs():
    lat, day = dms(45, 43), pd.Timestamp("2015-07-15")
    ra = pe.extraterrestrial_radiation(lat, pe.day_of_year(day))
    assert ra == pytest.approx(40.55, abs=0.01)
    assert round(pe.pet_hargreaves(14.8, 26.6, lat, day), 1) == 5.0


def test_cabinda_monthly_eto_fao56_figure_18():
    """FAO56 fig. 18 (p. 69): monthly ETo of Cabinda, 5.33 S, 20 m, computed with Rs given.

    The published column is mm/month = (ETo in mm/day rounded to 0.1) x days of the month (checked
    below), so each month is compared at 3 % plus half of the last printed digit (0.05 mm/day).
    G from the neighbouring months' mean temperatures of the 12-month climatology (FAO56 eq. 43).
    The figure was made with FAO's CROPWAT, which takes ea from mean RH as RHmean / (50/e0(Tmin) +
    50/e0(Tmax)) (ICID; Jensen et al. 1990, ASCE Manual 70); with FAO56 eq. 19 (our rh_mean) ETo is
    2-6 % lower in the cloudy months, so eq. 19 is checked on the annual total only.
    """
    df = pd.read_csv(VALIDATION / "cabinda_fao56.csv")
    time = pd.date_range("2001-01-01", periods=12, freq="MS")
    col = {c: xr.DataArray(df[c].to_numpy(float), dims="time", coords={"time": time}) for c in df.columns[1:]}
    tmin, tmax, rh = col["tmin_c"], col["tmax_c"], col["rh_pct"]
    days = time.days_in_month.to_numpy()
    published = df["eto_published_mm_month"].to_numpy() / days
    np.testing.assert_allclose(published, np.round(published, 1), atol=1e-9)  # 0.1 mm/day precision
    g = pe.soil_heat_flux_monthly((tmin + tmax) / 2, cyclic=True)
    ea_icid = rh / (50.0 / pe.saturation_vapour_pressure(tmin) + 50.0 / pe.saturation_vapour_pressure(tmax))
    eto = pe.pet_penman_monteith(
        tmin, tmax, -5.33, col["rs_mj_m2_d"].time, elevation=20.0, u2=col["u2_m_s"], ea=ea_icid,
        rs=col["rs_mj_m2_d"], g=g,
    )
    assert eto.dims == ("time",)
    assert np.all(np.abs(eto.values - published) <= 0.03 * published + 0.05)
    # FAO56 eq. 19 (mean RH), the library's own rh_mean path: annual total within 3 %
    ea_fao = pe.actual_vapour_pressure(tmin, tmax, rh_mean=rh)
    eto_fao = pe.pet_penman_monteith(
        tmin, tmax, -5.33, time.values, elevation=20.0, u2=col["u2_m_s"], ea=ea_fao, rs=col["rs_mj_m2_d"], g=g
    )
    annual = float((eto_fao * days).sum())
    assert annual == pytest.approx(df["eto_published_mm_month"].sum(), rel=0.03)


# ---------------------------------------------------------------------------------------------------
# Thornthwaite
# ---------------------------------------------------------------------------------------------------


def _wichita_tmean():
    df = pd.read_csv(VALIDATION / "wichita_monthly.csv")
    time = pd.to_datetime(dict(year=df.year, month=df.month, day=1)).to_numpy()
    return xr.DataArray(df["tmean_c"].to_numpy(float), dims="time", coords={"time": time}), df


WICHITA_LAT = 37.6475


def test_thornthwaite_matches_climate_indices_on_wichita():
    from climate_indices import eto  # imported here: it adds a root logging handler

    t, df = _wichita_tmean()
    ours = pe.pet_thornthwaite(t, WICHITA_LAT, t.time, high_temperature_correction=False)
    peer = eto.eto_thornthwaite(df["tmean_c"].to_numpy(float), WICHITA_LAT, 1980)  # mm/month
    peer_daily = peer / t.time.dt.days_in_month.values
    warm = df["tmean_c"].to_numpy() > 0
    # peer uses the monthly mean day length, ours N on the 15th (FAO56): differ by < 1 %
    np.testing.assert_allclose(ours.values[warm], peer_daily[warm], rtol=0.01)
    np.testing.assert_array_equal(ours.values[~warm], 0.0)
    assert ours.attrs["units"] == "mm d-1" and "thornthwaite" in ours.attrs["method"]


def test_thornthwaite_annual_heat_index_matches_xclim():
    from xclim.indices import potential_evapotranspiration

    t, _ = _wichita_tmean()
    t = t.sel(time=slice("1980", "1989"))
    peer = potential_evapotranspiration(
        tas=t.assign_attrs(units="degC"), lat=xr.DataArray(WICHITA_LAT, attrs={"units": "degrees_north"}),
        method="TW48",
    )
    assert peer.attrs["units"] == "kg m-2 s-1"
    # xclim spreads 16 L/12 (10T/I)^a over the month's days (no N/30 factor): rescale to ours
    peer_daily = peer.values * 86400.0 * t.time.dt.days_in_month.values / 30.0
    ours = pe.pet_thornthwaite(t, WICHITA_LAT, t.time, heat_index="annual", high_temperature_correction=False)
    warm = t.values > 0
    np.testing.assert_allclose(ours.values[warm], peer_daily[warm], rtol=0.02)
    # and the per-year heat index differs from the climatological one
    clim = pe.pet_thornthwaite(t, WICHITA_LAT, t.time, high_temperature_correction=False)
    assert np.nanmax(np.abs(clim.values - ours.values)) > 0.01


def test_thornthwaite_hand_computed_equator():
    """Constant T at the equator: N = 12 h every month, so PET = 16 (10 T / I)^a / 30 mm/day."""
    for temp in (10.0, 25.0):
        heat = 12 * (temp / 5.0) ** 1.514
        a = 6.75e-7 * heat**3 - 7.71e-5 * heat**2 + 1.792e-2 * heat + 0.49239
        expected = 16.0 * (10.0 * temp / heat) ** a / 30.0
        t = _monthly(np.full(24, temp))
        pet = pe.pet_thornthwaite(t, 0.0, t.time)
        np.testing.assert_allclose(pet.values, expected, rtol=1e-6)
    # by hand for 25 degC: I = 12 * 5^1.514 = 137.23, a = 3.2442, 16 (250 / 137.23)^3.2442 / 30 = 3.733
    assert expected == pytest.approx(3.733, abs=1e-3)
    # above 26.5 degC: Thornthwaite's table as fitted by Willmott et al. (1985)
    t = _monthly(np.full(12, 30.0))
    expected_hot = (-415.85 + 32.24 * 30.0 - 0.43 * 30.0**2) / 30.0
    np.testing.assert_allclose(pe.pet_thornthwaite(t, 0.0, t.time).values, expected_hot, rtol=1e-9)
    heat = 12 * (30.0 / 5.0) ** 1.514
    a = 6.75e-7 * heat**3 - 7.71e-5 * heat**2 + 1.792e-2 * heat + 0.49239
    power_law = 16.0 * (300.0 / heat) ** a / 30.0
    uncorrected = pe.pet_thornthwaite(t, 0.0, t.time, high_temperature_correction=False).values
    np.testing.assert_allclose(uncorrected, power_law, rtol=1e-9)
    assert power_law > expected_hot  # the power law runs away above 26.5 degC; the table does not


def test_thornthwaite_freezing_and_day_length():
    # winter months below 0 give 0; PET scales with day length (summer at 60 N > equator)
    temps = np.array([-5, -2, 3, 8, 13, 17, 19, 18, 14, 8, 2, -3], dtype=float)
    t = _monthly(np.tile(temps, 2))
    north = pe.pet_thornthwaite(t, 60.0, t.time).values
    equator = pe.pet_thornthwaite(t, 0.0, t.time).values
    np.testing.assert_array_equal(north[np.tile(temps, 2) <= 0], 0.0)
    assert north[6] > equator[6] and north[10] < equator[10]


TEST_DATA = Path(__file__).parent / "data"


def test_thornthwaite_spei_r_hand_computed_wichita():
    """variant="spei_r" against METHODS 3 computed by hand (plain Python) on the Wichita record
    (tests/data/wichita_tmean.csv): heat index from the 12 calendar-month means over all years, set to 0
    after averaging when negative; day length from R's declination at the mid-month day (leap years
    included); PET in mm/month = K 16 (10 T / J)^q."""
    rows = pd.read_csv(TEST_DATA / "wichita_tmean.csv")
    sums, counts = [0.0] * 12, [0] * 12
    for m, temp in zip(rows["month"], rows["tmean_c"]):
        sums[m - 1] += temp
        counts[m - 1] += 1
    means = [max(s / c, 0.0) for s, c in zip(sums, counts)]
    heat = sum((tm / 5.0) ** 1.514 for tm in means)
    # clipping the months before averaging (the fao56 variant) gives another heat index here
    clipped_first = [0.0] * 12
    for m, temp in zip(rows["month"], rows["tmean_c"]):
        clipped_first[m - 1] += max(temp, 0.0) / counts[m - 1]
    assert sum((tm / 5.0) ** 1.514 for tm in clipped_first) - heat > 0.01
    q = 0.000000675 * heat**3 - 0.0000771 * heat**2 + 0.01792 * heat + 0.49239

    def by_hand(year, month):
        temp = float(rows.loc[(rows.year == year) & (rows.month == month), "tmean_c"].iloc[0])
        first = dt.date(year, month, 1)
        days = ((dt.date(year + month // 12, month % 12 + 1, 1)) - first).days
        msum = first.timetuple().tm_yday + round(days / 2 - 1)  # Python's round: half to even, as R
        delta = 0.4093 * math.sin(2 * math.pi * msum / 365 - 1.405)
        # R converts degrees by dividing by its literal 57.2957795 (math.radians: 1e-8 mm/month apart)
        x = max(-1.0, min(1.0, -math.tan(WICHITA_LAT / 57.2957795) * math.tan(delta)))
        k = 24 / math.pi * math.acos(x) / 12 * days / 30
        return k * 16 * (10 * max(temp, 0.0) / heat) ** q, days

    t = xr.DataArray(
        rows["tmean_c"].to_numpy(float), dims="time",
        coords={"time": pd.to_datetime(dict(year=rows.year, month=rows.month, day=1)).to_numpy()},
    )
    pet = pe.pet_thornthwaite(t, WICHITA_LAT, t.time, variant="spei_r")
    assert pet.attrs["units"] == "mm d-1" and "spei_r" in pet.attrs["parameters"]
    for year, month in ((1980, 1), (1980, 2), (1981, 2), (1980, 7), (1995, 6), (2011, 10)):
        expected, days = by_hand(year, month)
        got = float(pet.sel(time=f"{year}-{month:02d}-01")) * days  # R's mm per month
        assert got == pytest.approx(expected, abs=1e-9, rel=0)
    assert by_hand(1980, 2)[0] == 0.0 and by_hand(1980, 7)[0] > 100.0
    # differs from the FAO-56 variant (declination on the 15th, months clipped before averaging)
    fao = pe.pet_thornthwaite(t, WICHITA_LAT, t.time, high_temperature_correction=False)
    assert np.nanmax(np.abs(fao.values - pet.values)) > 1e-3
    with pytest.raises(InputError, match="spei_r"):
        pe.pet_thornthwaite(t, WICHITA_LAT, t.time, variant="spei_r", high_temperature_correction=True)
    with pytest.raises(InputError, match="variant"):
        pe.pet_thornthwaite(t, WICHITA_LAT, t.time, variant="r")


def test_thornthwaite_errors():
    t = _monthly(np.full(6, 10.0))
    with pytest.raises(InputError, match="12"):
        pe.pet_thornthwaite(t, 0.0, t.time)  # only 6 calendar months
    daily = xr.DataArray(np.full(40, 10.0), dims="time", coords={"time": pd.date_range("2001-01-01", periods=40)})
    with pytest.raises(InputError, match="monthly"):
        pe.pet_thornthwaite(daily, 0.0, daily.time)
    with pytest.raises(InputError, match="heat_index"):
        pe.pet_thornthwaite(_monthly(np.full(12, 10.0)), 0.0, _monthly(np.full(12, 10.0)).time, heat_index="x")
    # an incomplete year gives NaN with the annual heat index
    t = _monthly(np.full(18, 28.0))  # above 26.5 degC too: the table branch must not fill the gap
    pet = pe.pet_thornthwaite(t, 0.0, t.time, heat_index="annual")
    assert np.all(np.isfinite(pet.values[:12])) and np.all(np.isnan(pet.values[12:]))


# ---------------------------------------------------------------------------------------------------
# Broadcasting, dask, inputs
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cube():
    rng = np.random.default_rng(42)
    time = pd.date_range("2000-01-01", periods=24, freq="MS")
    y = np.array([-40.0, -5.0, 20.0, 55.0])
    x = np.array([10.0, 11.0, 12.0])
    tmin = xr.DataArray(
        rng.normal(12, 6, (24, 4, 3)), dims=("time", "y", "x"), coords={"time": time, "y": y, "x": x}
    )
    tmax = tmin + rng.uniform(4, 14, tmin.shape)
    return tmin, tmax


def test_pet_broadcasts_over_time_y_x_and_matches_scalar_calls(cube):
    tmin, tmax = cube
    lat = tmin["y"]
    pm = pe.pet_penman_monteith(
        tmin, tmax, lat, tmin.time, elevation=300.0, u2=2.0, rh_min=35.0, rh_max=85.0, sunshine_hours=7.0
    )
    hs = pe.pet_hargreaves(tmin, tmax, lat, tmin.time)
    assert pm.dims == hs.dims == ("time", "y", "x")
    for ti, yi, xi in [(0, 0, 0), (5, 3, 2), (17, 1, 1)]:
        day = pd.Timestamp(tmin.time.values[ti])
        lo, hi, la = float(tmin[ti, yi, xi]), float(tmax[ti, yi, xi]), float(lat[yi])
        ref_pm = pe.pet_penman_monteith(
            lo, hi, la, day, elevation=300.0, u2=2.0, rh_min=35.0, rh_max=85.0, sunshine_hours=7.0, monthly=True
        )
        assert float(pm[ti, yi, xi]) == pytest.approx(ref_pm, rel=1e-12)
        assert float(hs[ti, yi, xi]) == pytest.approx(pe.pet_hargreaves(lo, hi, la, day, monthly=True), rel=1e-12)
    # monthly series use the 15th: same as daily PET on that day
    day15 = pd.Timestamp(tmin.time.values[3]) + pd.Timedelta(days=14)
    assert float(hs[3, 0, 0]) == pytest.approx(
        pe.pet_hargreaves(float(tmin[3, 0, 0]), float(tmax[3, 0, 0]), float(lat[0]), day15), rel=1e-12
    )


def test_pet_dask_is_lazy_and_equal(cube):
    tmin, tmax = cube
    lat = tmin["y"]
    lazy_min, lazy_max = tmin.chunk({"time": 12, "y": 2}), tmax.chunk({"time": 12, "y": 2})
    kw = dict(elevation=50.0, u2=1.5, rh_max=80.0, sunshine_hours=6.0, g="monthly")
    eager = pe.pet_penman_monteith(tmin, tmax, lat, tmin.time, **kw)
    lazy = pe.pet_penman_monteith(lazy_min, lazy_max, lat, tmin.time, **kw)
    assert lazy.chunks is not None
    np.testing.assert_allclose(lazy.values, eager.values, rtol=1e-12)
    tw_lazy = pe.pet_thornthwaite((lazy_min + lazy_max) / 2, lat, tmin.time)
    assert tw_lazy.chunks is not None
    np.testing.assert_allclose(tw_lazy.values, pe.pet_thornthwaite((tmin + tmax) / 2, lat, tmin.time).values)
    hs_lazy = pe.pet_hargreaves(lazy_min, lazy_max, lat, tmin.time)
    assert hs_lazy.chunks is not None
    np.testing.assert_allclose(hs_lazy.values, pe.pet_hargreaves(tmin, tmax, lat, tmin.time).values)


def test_pet_input_errors():
    day = dt.date(2015, 7, 6)
    with pytest.raises(InputError, match="lat"):
        pe.pet_hargreaves(10.0, 20.0, 95.0, day)
    with pytest.raises(InputError, match="humidity"):
        pe.pet_penman_monteith(10.0, 20.0, 45.0, day, elevation=0.0, u2=2.0, sunshine_hours=5.0)
    with pytest.raises(InputError, match="rs"):
        pe.pet_penman_monteith(10.0, 20.0, 45.0, day, elevation=0.0, u2=2.0, ea=1.0)
    with pytest.raises(InputError, match="rh_max"):
        pe.pet_penman_monteith(10.0, 20.0, 45.0, day, elevation=0.0, u2=2.0, rh_max=120.0, sunshine_hours=5.0)
    with pytest.raises(InputError, match="'daily'"):
        pe.pet_penman_monteith(10.0, 20.0, 45.0, day, elevation=0.0, u2=2.0, ea=1.0, rs=20.0, g="daily")
    with pytest.raises(InputError, match="g='monthly'"):
        pe.pet_penman_monteith(10.0, 20.0, 45.0, day, elevation=0.0, u2=2.0, ea=1.0, rs=20.0, g="monthly")
    with pytest.raises(InputError, match="time"):
        pe.day_of_year(400)
    # Tmax < Tmin: NaN; Tmean below -17.8 degC: 0
    assert np.isnan(pe.pet_hargreaves(20.0, 10.0, 45.0, day))
    assert pe.pet_hargreaves(-30.0, -25.0, 45.0, day) == 0.0


def test_polar_night_and_day():
    assert pe.extraterrestrial_radiation(80.0, 355) == pytest.approx(0.0, abs=1e-9)
    assert pe.daylight_hours(80.0, 172) == pytest.approx(24.0)
    assert pe.daylight_hours(-80.0, 172) == pytest.approx(0.0)


# ---------------------------------------------------------------------------------------------------
# Aridity index, zones, drylands, shifts
# ---------------------------------------------------------------------------------------------------


def test_aridity_class_boundaries_exact():
    ai = np.array([0.0, 0.0299, 0.03, 0.0499, 0.05, 0.1999, 0.2, 0.4999, 0.5, 0.6499, 0.65, 3.0, np.nan])
    unep = [1, 1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, CLASS_NODATA]
    gai3 = [1, 1, 2, 2, 2, 2, 3, 3, 4, 4, 5, 5, CLASS_NODATA]
    for dtype in (np.float64, np.float32):
        da = xr.DataArray(ai.astype(dtype), dims="x")
        cls = ar.aridity_class(da)
        assert cls.dtype == np.int8
        assert cls.values.tolist() == unep
        assert ar.aridity_class(da, hyper_arid_threshold=ar.HYPER_ARID_THRESHOLD_GAI_V3).values.tolist() == gai3
    assert cls.attrs["_FillValue"] == CLASS_NODATA and cls.attrs["legend"] == ar.ARIDITY_ZONES.name
    assert ar.ARIDITY_ZONES.codes == [1, 2, 3, 4, 5] and ar.ARIDITY_ZONES.label(4) == "dry sub-humid"
    assert ar.aridity_class(np.array([0.2, 0.65])).tolist() == [3, 5]  # numpy in, numpy out
    with pytest.raises(InputError, match="hyper_arid_threshold"):
        ar.aridity_class(da, hyper_arid_threshold=0.3)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=5, allow_nan=False), min_size=2, max_size=20))
def test_aridity_class_is_monotone(values):
    ai = np.sort(np.asarray(values))
    cls = ar.aridity_class(ai)
    assert np.all(np.diff(cls.astype(int)) >= 0)
    assert np.array_equal(ar.dryland_mask(ai), cls <= ar.DRY_SUBHUMID)


def test_dryland_mask():
    ai = xr.DataArray(np.array([0.01, 0.6499, 0.65, 1.2, np.nan], dtype=np.float32), dims="x")
    assert ar.dryland_mask(ai).values.tolist() == [True, True, False, False, False]


def test_aridity_shift():
    a = xr.DataArray(np.array([[1, 3, 5], [4, CLASS_NODATA, 2]], dtype=np.int8), dims=("y", "x"))
    b = xr.DataArray(np.array([[2, 3, 3], [4, 2, CLASS_NODATA]], dtype=np.int8), dims=("y", "x"))
    s = ar.aridity_shift(a, b)
    assert s.dtype == np.int8
    assert s.values.tolist() == [[1, 0, -1], [0, CLASS_NODATA, CLASS_NODATA]]
    assert s.attrs["legend"] == ar.ARIDITY_SHIFT.name
    assert ar.ARIDITY_SHIFT.label(-1) == "drier"
    shifted = b.assign_coords(x=[5, 6, 7])
    with pytest.raises(GridMismatchError):
        ar.aridity_shift(a.assign_coords(x=[0, 1, 2]), shifted)
    with pytest.raises(InputError, match="integer"):
        ar.aridity_shift(a.astype(float), b)


def _series(years, value, freq, units, shape=(2, 3)):
    time = pd.date_range(f"{years[0]}-01-01", f"{years[-1]}-12-01", freq=freq)
    return xr.DataArray(
        np.full((time.size, *shape), float(value)), dims=("time", "y", "x"),
        coords={"time": time, "y": np.arange(shape[0]), "x": np.arange(shape[1])}, attrs={"units": units},
    )


def test_aridity_index_planted_monthly_and_daily_rates():
    years = list(range(1981, 2021))  # 40 years; default period = last 30 (1991-2020)
    pr = _series(years, 25.0, "MS", "mm")  # 300 mm/year
    pr.loc[{"time": slice("1981", "1990")}] = 0.0  # the first 10 years must be ignored
    pet = _series(years, 2.0, "MS", "mm d-1")  # 730 or 732 mm/year
    ai = ar.aridity_index(pr, pet)
    n_leap = sum(1 for y in range(1991, 2021) if y % 4 == 0)
    expected = 300.0 / (2.0 * (365 * 30 + n_leap) / 30)
    np.testing.assert_allclose(ai.values, expected, rtol=1e-12)
    assert ai.dims == ("y", "x")
    assert (ai.attrs["period_start"], ai.attrs["period_end"]) == (1991, 2020)
    assert ai.attrs["units"] == "1"
    # explicit period, dask inputs
    ai_lazy = ar.aridity_index(pr.chunk({"time": 120}), pet.chunk({"time": 120}), period=(1981, 1990))
    assert ai_lazy.chunks is not None
    np.testing.assert_allclose(ai_lazy.values, 0.0)
    assert ar.aridity_class(ai).values.tolist() == [[3, 3, 3], [3, 3, 3]]  # 0.41: semi-arid


def test_aridity_index_annual_inputs_and_incomplete_years():
    pr = _series(range(2001, 2011), 100.0, "YS", "mm/year")
    pet = _series(range(2001, 2011), 1000.0, "YS", "mm")
    np.testing.assert_allclose(ar.aridity_index(pr, pet).values, 0.1)
    # no PET: NaN (not inf); PET 0 with rain: inf (humid); one missing year is skipped
    gappy = pet.copy()
    gappy[:, 0, 0] = np.nan
    gappy[:, 0, 1] = 0.0
    gappy[3, 1, 1] = np.nan
    ai = ar.aridity_index(pr, gappy)
    assert np.isnan(ai[0, 0]) and np.isposinf(ai[0, 1]) and float(ai[1, 1]) == pytest.approx(0.1)
    assert ar.aridity_class(ai).values[0].tolist() == [CLASS_NODATA, 5, 2]
    # a monthly series that ends in June: the incomplete last year is dropped
    pr_m = _series(range(2001, 2011), 10.0, "MS", "mm").isel(time=slice(0, -6))
    pr_m.loc[{"time": "2010"}] = 1000.0
    ai = ar.aridity_index(pr_m, pet)
    np.testing.assert_allclose(ai.values, 0.12)
    assert ai.attrs["period_end"] == 2009


def test_aridity_index_errors():
    pr = _series(range(2001, 2011), 100.0, "YS", "mm")
    pet = _series(range(2001, 2011), 1000.0, "YS", "mm")
    with pytest.raises(InputError, match="period"):
        ar.aridity_index(pr, pet, period=(1991, 2005))
    with pytest.raises(InputError, match="units"):
        ar.aridity_index(pr.assign_attrs(units="K"), pet)
    with pytest.raises(GridMismatchError):
        ar.aridity_index(pr, pet.assign_coords(x=[5, 6, 7]))
    daily = xr.DataArray(np.ones(40), dims="time", coords={"time": pd.date_range("2001-01-01", periods=40)})
    with pytest.raises(InputError, match="first of a month|1st of each month"):
        ar.aridity_index(daily, daily)


def test_pet_methods_declare_one_unit_per_argument_name():
    """Every PET method declares the same units for the same argument name (pyet style), and a latitude
    given in radians, an elevation in km and a wind in knots are converted, not taken as degrees, m, m/s."""
    methods = (pe.pet_penman_monteith, pe.pet_hargreaves, pe.pet_thornthwaite)
    for f in methods:
        for arg, unit in f.declared_units.items():
            assert pe.PET_ARGUMENT_UNITS[arg] == unit, (f.__name__, arg)
        assert "lat" in f.declared_units
    tmin = xr.DataArray([12.0, 14.0], dims="time", coords={"time": pd.to_datetime(["2000-07-01", "2000-08-01"])})
    tmax = tmin + 15.0
    lat = 37.1
    lat_rad = xr.DataArray(math.radians(lat), attrs={"units": "radian"})
    ref = pe.pet_hargreaves(tmin, tmax, lat, tmin.time, monthly=True)
    np.testing.assert_allclose(pe.pet_hargreaves(tmin, tmax, lat_rad, tmin.time, monthly=True), ref, rtol=1e-12)
    pm = dict(elevation=1375.0, u2=2.0, rh_max=60.0, rh_min=20.0, sunshine_hours=10.0)
    ref = pe.pet_penman_monteith(tmin, tmax, lat, tmin.time, **pm)
    got = pe.pet_penman_monteith(tmin, tmax, lat_rad, tmin.time, **{
        **pm, "elevation": xr.DataArray(1.375, attrs={"units": "km"}),
        "u2": xr.DataArray(2.0 / 0.514444, attrs={"units": "knot"})})
    np.testing.assert_allclose(got, ref, rtol=1e-5)
    with pytest.raises(InputError, match="lat"):
        pe.pet_hargreaves(tmin, tmax, xr.DataArray(4.1e6, attrs={"units": "m"}), tmin.time, monthly=True)
