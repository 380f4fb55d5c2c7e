"""Potential evapotranspiration: FAO-56 Penman-Monteith, Hargreaves-Samani and Thornthwaite, and the
FAO-56 pieces they are made of (radiation, humidity, pressure, wind, soil heat flux).

One function per method, with the same argument names and units across methods (as pyet):
``tmin``, ``tmax``, ``tmean`` air temperature (degC), ``lat`` latitude (degrees, negative south),
``time`` the dates from which the day of year J is taken, ``elevation`` (m), ``u2`` wind speed at 2 m
(m s-1), ``rh_min``/``rh_max`` relative humidity (%), ``ea`` actual vapour pressure (kPa), ``rs`` solar
radiation (MJ m-2 d-1), ``sunshine_hours`` (h). DataArrays in other units (e.g. K, knots, radians) are
converted from their ``units`` attribute by :func:`dldd.core.units.declare_units`; other dimensions are
refused. Every method returns reference / potential evapotranspiration in **mm per day**
(``units = "mm d-1"``): for daily data the day's rate, for monthly data the mean daily rate of the month
(multiply by the days of the month for a monthly total; :func:`dldd.indicators.aridity.aridity_index`
does this itself from the ``units``).

``time`` is a date (``datetime.date``, ``numpy.datetime64``, ``pandas.Timestamp``), a day-of-year
number, or a DataArray of either. Monthly data (a DataArray of dates all on the first of a month
spanning several months, or ``monthly=True``) use the 15th day of each month, as FAO56 does for its
monthly examples (FAO56 Annex 2, table 2.5 and Example 17: "J for 15 April = 105").

Inputs are numbers, numpy arrays or DataArrays and broadcast as xarray does (e.g. temperatures on
``(time, y, x)``, ``lat`` a DataArray along ``y``, J along ``time``); dask-backed DataArrays stay lazy.
Scalar inputs give numpy scalars; if any input is a DataArray the result is a DataArray carrying
``units``, ``long_name``, ``method``, ``parameters`` and ``references`` attributes.

References
----------
FAO56: Allen, Pereira, Raes & Smith 1998, Crop evapotranspiration, FAO Irrigation and Drainage Paper 56.
Hargreaves & Samani 1985, Applied Engineering in Agriculture 1(2): 96-99.
Thornthwaite 1948, An approach toward a rational classification of climate, Geogr. Review 38: 55-94.
Willmott, Rowe & Mintz 1985, Climatology of the terrestrial seasonal water cycle, J. Climatology 5.
"""

from __future__ import annotations

import datetime as _dt
import numbers

import numpy as np
import pandas as pd
import xarray as xr

from dldd.core.attrs import output_attrs
from dldd.core.ranges import check_range
from dldd.core.units import declare_units
from dldd.errors import InputError

__all__ = [
    "day_of_year",
    "solar_declination",
    "inverse_relative_distance",
    "sunset_hour_angle",
    "extraterrestrial_radiation",
    "daylight_hours",
    "solar_radiation",
    "clear_sky_radiation",
    "net_shortwave_radiation",
    "net_longwave_radiation",
    "net_radiation",
    "saturation_vapour_pressure",
    "mean_saturation_vapour_pressure",
    "actual_vapour_pressure",
    "slope_vapour_pressure_curve",
    "atmospheric_pressure",
    "psychrometric_constant",
    "wind_speed_2m",
    "soil_heat_flux_monthly",
    "pet_penman_monteith",
    "pet_hargreaves",
    "pet_thornthwaite",
]

# --------------------------------------------------------------------------------------------------
# Constants (source in each comment)
# --------------------------------------------------------------------------------------------------

#: Solar constant Gsc, MJ m-2 min-1 (FAO56 eq. 21).
SOLAR_CONSTANT = 0.0820
#: Minutes per day, the 24 * 60 of FAO56 eq. 21.
MINUTES_PER_DAY = 24.0 * 60.0
#: Days of the year in the day-angle 2 pi J / 365 (FAO56 eqs. 23, 24).
DAYS_PER_YEAR_ANGLE = 365.0
#: Amplitude of the inverse relative Earth-Sun distance, dr = 1 + 0.033 cos(2 pi J / 365) (FAO56 eq. 23).
EARTH_SUN_DISTANCE_AMPLITUDE = 0.033
#: Solar declination, delta = 0.409 sin(2 pi J / 365 - 1.39) rad (FAO56 eq. 24).
DECLINATION_AMPLITUDE = 0.409
DECLINATION_PHASE = 1.39
#: Hours per day, N = 24 / pi * omega_s (FAO56 eq. 34).
HOURS_PER_DAY = 24.0
#: Latent heat of vaporisation, MJ kg-1 (FAO56 eq. 20 and p. 31); 1 / 2.45 = 0.408 mm per MJ m-2.
LATENT_HEAT_VAPORISATION = 2.45
#: Radiation to evaporation equivalent, mm day-1 per MJ m-2 day-1 (FAO56 eq. 20).
MJ_TO_MM = 0.408
#: Angstrom coefficients a_s, b_s: Rs = (a_s + b_s n / N) Ra (FAO56 eq. 35, defaults when not calibrated).
ANGSTROM_A_S = 0.25
ANGSTROM_B_S = 0.50
#: Clear-sky radiation Rso = (0.75 + 2e-5 z) Ra (FAO56 eq. 37).
CLEAR_SKY_TRANSMISSIVITY = 0.75
CLEAR_SKY_ELEVATION_GRADIENT = 2e-5
#: Albedo of the grass reference crop (FAO56 eq. 38).
ALBEDO_REFERENCE_GRASS = 0.23
#: Stefan-Boltzmann constant, MJ K-4 m-2 day-1 (FAO56 eq. 39).
STEFAN_BOLTZMANN = 4.903e-9
#: Net longwave radiation coefficients (FAO56 eq. 39): (0.34 - 0.14 sqrt(ea)) (1.35 Rs/Rso - 0.35).
RNL_EMISSIVITY_A = 0.34
RNL_EMISSIVITY_B = 0.14
RNL_CLOUD_A = 1.35
RNL_CLOUD_B = 0.35
#: Kelvin offset (FAO56 uses 273.16 in eq. 39 and 273 in eq. 6).
KELVIN_OFFSET = 273.16
#: Saturation vapour pressure e0(T) = 0.6108 exp(17.27 T / (T + 237.3)) kPa (FAO56 eq. 11).
SVP_A = 0.6108
SVP_B = 17.27
SVP_C = 237.3
#: Slope of the saturation vapour pressure curve, Delta = 4098 e0(T) / (T + 237.3)^2 (FAO56 eq. 13).
SVP_SLOPE_NUMERATOR = 4098.0
#: Atmospheric pressure P = 101.3 ((293 - 0.0065 z) / 293)^5.26 kPa (FAO56 eq. 7).
SEA_LEVEL_PRESSURE = 101.3
STANDARD_TEMPERATURE_K = 293.0
LAPSE_RATE = 0.0065
PRESSURE_EXPONENT = 5.26
#: Psychrometric constant gamma = 0.665e-3 P kPa degC-1 (FAO56 eq. 8).
PSYCHROMETRIC_COEFFICIENT = 0.665e-3
#: Logarithmic wind profile u2 = uz 4.87 / ln(67.8 z - 5.42) (FAO56 eq. 47).
WIND_LOG_NUMERATOR = 4.87
WIND_LOG_A = 67.8
WIND_LOG_B = 5.42
#: Monthly soil heat flux G_i = 0.07 (T_{i+1} - T_{i-1}), or 0.14 (T_i - T_{i-1}) (FAO56 eqs. 43, 44).
SOIL_HEAT_CENTRAL = 0.07
SOIL_HEAT_ONE_SIDED = 0.14
#: FAO-56 Penman-Monteith for the grass reference (FAO56 eq. 6): Cn = 900, Cd = 0.34, T + 273.
PM_CN = 900.0
PM_CD = 0.34
PM_KELVIN = 273.0
#: Hargreaves-Samani (1985; FAO56 eq. 52): ETo = 0.0023 (Tmean + 17.8) sqrt(Tmax - Tmin) 0.408 Ra.
HARGREAVES_COEFFICIENT = 0.0023
HARGREAVES_TEMPERATURE_OFFSET = 17.8
#: Thornthwaite (1948): unadjusted PET = 16 (10 T / I)^a mm per 30-day month of 12-hour days,
#: I = sum over the 12 months of (T / 5)^1.514, a = 6.75e-7 I^3 - 7.71e-5 I^2 + 1.792e-2 I + 0.49239.
THORNTHWAITE_COEFFICIENT_MM = 16.0
THORNTHWAITE_HEAT_DIVISOR = 5.0
THORNTHWAITE_HEAT_EXPONENT = 1.514
THORNTHWAITE_A_COEFFICIENTS = (6.75e-7, -7.71e-5, 1.792e-2, 0.49239)  # I^3, I^2, I^1, I^0
THORNTHWAITE_STANDARD_MONTH_DAYS = 30.0
THORNTHWAITE_STANDARD_DAY_HOURS = 12.0
#: Above 26.5 degC Thornthwaite's table replaces the power law; its fit by Willmott et al. (1985):
#: unadjusted PET = -415.85 + 32.24 T - 0.43 T^2 mm per standard month.
THORNTHWAITE_HIGH_TEMPERATURE = 26.5
THORNTHWAITE_HIGH_T_COEFFICIENTS = (-415.85, 32.24, -0.43)  # T^0, T^1, T^2
#: Day of the month used for monthly data (FAO56 Annex 2: "J for the 15th day of the month").
MID_MONTH_DAY = 15
#: Thornthwaite as the R package SPEI computes it (``variant="spei_r"``, METHODS 3; SPEI 1.8 ``thornthwaite``):
#: declination delta = 0.4093 sin(2 pi msum / 365 - 1.405) rad at the mid-month day msum, and degrees to
#: radians by division by 57.2957795 (R's literal).
SPEI_R_DECLINATION_AMPLITUDE = 0.4093
SPEI_R_DECLINATION_PHASE = 1.405
SPEI_R_DEGREES_PER_RADIAN = 57.2957795
#: Thornthwaite variants: "fao56" (day length on the 15th by FAO56 eq. 24/34) and "spei_r" (as R SPEI).
THORNTHWAITE_VARIANTS = ("fao56", "spei_r")

_REF_FAO56 = "Allen et al. 1998, FAO Irrigation and Drainage Paper 56 (FAO56)"
_REF_HS85 = "Hargreaves & Samani 1985, Appl. Eng. Agric. 1(2): 96-99; FAO56 eq. 52"
_REF_TW48 = (
    "Thornthwaite 1948, Geogr. Review 38: 55-94; Willmott, Rowe & Mintz 1985, J. Climatol. 5: 589-606; "
    "Begueria & Vicente-Serrano, R package SPEI 1.8 (thornthwaite, variant spei_r)"
)


#: Units of every PET method's arguments, one name one unit across methods (DataArrays in other units are
#: converted by :func:`dldd.core.units.declare_units`; numbers and numpy arrays are taken in these units).
PET_ARGUMENT_UNITS = {
    "tmin": "degC",
    "tmax": "degC",
    "tmean": "degC",
    "lat": "degree",
    "elevation": "m",
    "u2": "m s-1",
    "rh_min": "%",
    "rh_max": "%",
    "ea": "kPa",
    "rs": "MJ m-2 d-1",
    "sunshine_hours": "h",
    "g": "MJ m-2 d-1",
}


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def _pet_units(*names: str):
    """:func:`declare_units` of the named arguments in :data:`PET_ARGUMENT_UNITS`."""
    return declare_units(**{n: PET_ARGUMENT_UNITS[n] for n in names})


def _is_da(*xs) -> bool:
    return any(isinstance(x, xr.DataArray) for x in xs)


def _is_lazy(x) -> bool:
    return isinstance(x, xr.DataArray) and x.chunks is not None


def _finish(result, inputs: tuple, name: str, attrs: dict):
    """Order dims like the first DataArray of ``inputs``, name and attach attrs; numpy results pass through."""
    if isinstance(result, xr.DataArray):
        like = next((x for x in inputs if isinstance(x, xr.DataArray)), None)
        if like is not None:
            order = [d for d in like.dims if d in result.dims]
            result = result.transpose(*order, ...)
        result = result.rename(name)
        result.attrs = attrs
    return result


def _month_start_days(vals: np.ndarray) -> np.ndarray:
    return vals.astype("datetime64[M]").astype("datetime64[D]")


def _doy_from_datetimes(vals: np.ndarray, monthly: bool) -> np.ndarray:
    days = vals.astype("datetime64[D]")
    if monthly:
        days = _month_start_days(vals) + np.timedelta64(MID_MONTH_DAY - 1, "D")
    year_start = days.astype("datetime64[Y]").astype("datetime64[D]")
    return (days - year_start).astype(np.int64) + 1


def _looks_monthly(vals: np.ndarray) -> bool:
    """Several dates, all at midnight on the first of a month, in more than one calendar month."""
    vals = np.asarray(vals).ravel()
    if vals.size < 2:
        return False
    at_month_start = np.all(vals.astype("datetime64[ns]") == _month_start_days(vals).astype("datetime64[ns]"))
    months = np.unique(vals.astype("datetime64[M]"))
    return bool(at_month_start and months.size > 1)


def day_of_year(time, *, monthly: bool | None = None):
    """Day of the year J (1..366) from a date, an array/DataArray of dates, or J itself.

    ``monthly=None`` infers monthly data from a series of dates all on the first of a month (more
    than one month); monthly data use the 15th of each month (FAO56 Annex 2). Numbers are taken as
    J and returned unchanged (after a range check). A DataArray in gives a DataArray out (same dims).
    """
    if isinstance(time, xr.DataArray):
        if np.issubdtype(time.dtype, np.datetime64):
            vals = time.values
            is_monthly = _looks_monthly(vals) if monthly is None else bool(monthly)
            doy = _doy_from_datetimes(vals, is_monthly)
            return xr.DataArray(doy, dims=time.dims, coords=time.coords, name="doy")
        if np.issubdtype(time.dtype, np.number):
            check_range(time, "time (day of year)", 1, 366, "values in [1, 366]")
            return time
        raise InputError(
            f"time: found a DataArray of dtype {time.dtype}, expected datetime64 dates or day-of-year numbers"
        )
    if isinstance(time, (numbers.Number, np.number)) and not isinstance(time, (bool, np.bool_)):
        check_range(time, "time (day of year)", 1, 366, "values in [1, 366]")
        return time
    if isinstance(time, (_dt.date, pd.Timestamp, np.datetime64, str)):
        try:
            vals = np.asarray([pd.Timestamp(time).to_datetime64()])
        except (ValueError, TypeError) as exc:
            raise InputError(f"time: found {time!r}, expected a date") from exc
        return int(_doy_from_datetimes(vals, bool(monthly))[0])
    arr = np.asarray(time)
    if np.issubdtype(arr.dtype, np.number):
        check_range(arr, "time (day of year)", 1, 366, "values in [1, 366]")
        return arr
    try:
        arr = arr.astype("datetime64[ns]")
    except (ValueError, TypeError) as exc:
        raise InputError(
            f"time: found {type(time).__name__} of dtype {arr.dtype}, expected dates or day-of-year numbers"
        ) from exc
    is_monthly = _looks_monthly(arr) if monthly is None else bool(monthly)
    return _doy_from_datetimes(arr, is_monthly)


# --------------------------------------------------------------------------------------------------
# Radiation (FAO56 chapter 3)
# --------------------------------------------------------------------------------------------------


def _day_angle(doy):
    return 2.0 * np.pi * doy / DAYS_PER_YEAR_ANGLE


def _lat_radians(lat):
    check_range(lat, "lat", -90.0, 90.0, "latitude in degrees in [-90, 90]")
    return np.deg2rad(lat)


def solar_declination(doy):
    """Solar declination delta = 0.409 sin(2 pi J / 365 - 1.39), rad (FAO56 eq. 24)."""
    return DECLINATION_AMPLITUDE * np.sin(_day_angle(doy) - DECLINATION_PHASE)


def inverse_relative_distance(doy):
    """Inverse relative Earth-Sun distance dr = 1 + 0.033 cos(2 pi J / 365) (FAO56 eq. 23)."""
    return 1.0 + EARTH_SUN_DISTANCE_AMPLITUDE * np.cos(_day_angle(doy))


def _sunset_hour_angle_rad(phi, delta):
    # clip: polar day (cos < -1 -> pi) and polar night (cos > 1 -> 0) (FAO56 p. 47, eqs. 25-26)
    return np.arccos(np.clip(-np.tan(phi) * np.tan(delta), -1.0, 1.0))


def sunset_hour_angle(lat, doy):
    """Sunset hour angle omega_s = arccos(-tan(phi) tan(delta)), rad (FAO56 eq. 25); lat in degrees.

    The cosine is clipped to [-1, 1], so polar day gives pi and polar night 0.
    """
    return _sunset_hour_angle_rad(_lat_radians(lat), solar_declination(doy))


def extraterrestrial_radiation(lat, doy):
    """Extraterrestrial radiation Ra, MJ m-2 day-1 (FAO56 eq. 21); lat in degrees, doy J.

    Ra = 24 * 60 / pi * Gsc * dr * (omega_s sin(phi) sin(delta) + cos(phi) cos(delta) sin(omega_s)).
    Multiply by :data:`MJ_TO_MM` (0.408) for the evaporation equivalent in mm day-1.
    """
    phi = _lat_radians(lat)
    delta = solar_declination(doy)
    ws = _sunset_hour_angle_rad(phi, delta)
    dr = inverse_relative_distance(doy)
    return (
        MINUTES_PER_DAY / np.pi * SOLAR_CONSTANT * dr
        * (ws * np.sin(phi) * np.sin(delta) + np.cos(phi) * np.cos(delta) * np.sin(ws))
    )


def daylight_hours(lat, doy):
    """Daylight hours N = 24 / pi * omega_s (FAO56 eq. 34); lat in degrees."""
    return HOURS_PER_DAY / np.pi * sunset_hour_angle(lat, doy)


def solar_radiation(ra, sunshine_hours, daylight, *, a_s: float = ANGSTROM_A_S, b_s: float = ANGSTROM_B_S):
    """Solar radiation Rs = (a_s + b_s n / N) Ra, MJ m-2 day-1 (Angstrom; FAO56 eq. 35).

    ``sunshine_hours`` n and ``daylight`` N in hours; defaults a_s = 0.25, b_s = 0.50 (FAO56).
    """
    check_range(sunshine_hours, "sunshine_hours", 0.0, HOURS_PER_DAY, f"values in [0, {HOURS_PER_DAY:g}] h")
    return (a_s + b_s * sunshine_hours / daylight) * ra


def clear_sky_radiation(ra, elevation):
    """Clear-sky solar radiation Rso = (0.75 + 2e-5 z) Ra, MJ m-2 day-1 (FAO56 eq. 37); z in m."""
    return (CLEAR_SKY_TRANSMISSIVITY + CLEAR_SKY_ELEVATION_GRADIENT * elevation) * ra


def net_shortwave_radiation(rs, albedo: float = ALBEDO_REFERENCE_GRASS):
    """Net shortwave radiation Rns = (1 - albedo) Rs (FAO56 eq. 38; albedo 0.23 for the grass reference)."""
    return (1.0 - albedo) * rs


def net_longwave_radiation(tmin, tmax, ea, rs, rso):
    """Net outgoing longwave radiation Rnl, MJ m-2 day-1 (FAO56 eq. 39).

    Rnl = sigma (Tmax,K^4 + Tmin,K^4) / 2 (0.34 - 0.14 sqrt(ea)) (1.35 Rs / Rso - 0.35), with
    temperatures in degC, ea in kPa and Rs / Rso capped at 1 (FAO56: Rs/Rso <= 1.0).
    """
    ratio = np.minimum(rs / rso, 1.0)
    t4 = ((tmax + KELVIN_OFFSET) ** 4 + (tmin + KELVIN_OFFSET) ** 4) / 2.0
    emissivity = RNL_EMISSIVITY_A - RNL_EMISSIVITY_B * np.sqrt(ea)
    return STEFAN_BOLTZMANN * t4 * emissivity * (RNL_CLOUD_A * ratio - RNL_CLOUD_B)


def net_radiation(rs, rnl, albedo: float = ALBEDO_REFERENCE_GRASS):
    """Net radiation Rn = (1 - albedo) Rs - Rnl, MJ m-2 day-1 (FAO56 eq. 40)."""
    return net_shortwave_radiation(rs, albedo) - rnl


# --------------------------------------------------------------------------------------------------
# Air humidity, pressure, wind, soil heat (FAO56 chapter 3)
# --------------------------------------------------------------------------------------------------


def saturation_vapour_pressure(t):
    """Saturation vapour pressure e0(T) = 0.6108 exp(17.27 T / (T + 237.3)), kPa; T in degC (FAO56 eq. 11)."""
    return SVP_A * np.exp(SVP_B * t / (t + SVP_C))


def mean_saturation_vapour_pressure(tmin, tmax):
    """Mean saturation vapour pressure es = (e0(Tmax) + e0(Tmin)) / 2, kPa (FAO56 eq. 12)."""
    return (saturation_vapour_pressure(tmax) + saturation_vapour_pressure(tmin)) / 2.0


def actual_vapour_pressure(tmin, tmax, *, rh_min=None, rh_max=None, rh_mean=None):
    """Actual vapour pressure ea, kPa, from relative humidity in % (FAO56 eqs. 17-19).

    rh_min and rh_max: ea = (e0(Tmin) RHmax + e0(Tmax) RHmin) / 200 (eq. 17); rh_max only:
    ea = e0(Tmin) RHmax / 100 (eq. 18); rh_mean: ea = RHmean / 100 (e0(Tmax) + e0(Tmin)) / 2 (eq. 19).
    """
    for name, v in (("rh_min", rh_min), ("rh_max", rh_max), ("rh_mean", rh_mean)):
        check_range(v, name, 0.0, 100.0, "values in [0, 100] %")
    if rh_max is not None and rh_min is not None:
        return (saturation_vapour_pressure(tmin) * rh_max + saturation_vapour_pressure(tmax) * rh_min) / 200.0
    if rh_max is not None:
        return saturation_vapour_pressure(tmin) * rh_max / 100.0
    if rh_mean is not None:
        return mean_saturation_vapour_pressure(tmin, tmax) * rh_mean / 100.0
    raise InputError(
        "actual vapour pressure: found rh_min only or no humidity, expected rh_min and rh_max, rh_max, or rh_mean (%)"
    )


def slope_vapour_pressure_curve(t):
    """Slope of the saturation vapour pressure curve Delta = 4098 e0(T) / (T + 237.3)^2, kPa degC-1 (FAO56 eq. 13)."""
    return SVP_SLOPE_NUMERATOR * saturation_vapour_pressure(t) / (t + SVP_C) ** 2


def atmospheric_pressure(elevation):
    """Atmospheric pressure P = 101.3 ((293 - 0.0065 z) / 293)^5.26, kPa; z in m (FAO56 eq. 7)."""
    ratio = (STANDARD_TEMPERATURE_K - LAPSE_RATE * elevation) / STANDARD_TEMPERATURE_K
    return SEA_LEVEL_PRESSURE * ratio**PRESSURE_EXPONENT


def psychrometric_constant(elevation):
    """Psychrometric constant gamma = 0.665e-3 P(z), kPa degC-1; z in m (FAO56 eq. 8)."""
    return PSYCHROMETRIC_COEFFICIENT * atmospheric_pressure(elevation)


def wind_speed_2m(u, height):
    """Wind speed at 2 m from a measurement at ``height`` m: u2 = uz 4.87 / ln(67.8 z - 5.42) (FAO56 eq. 47)."""
    if not _is_lazy(height) and np.any(np.asarray(height) <= WIND_LOG_B / WIND_LOG_A):
        raise InputError(
            f"height: found {height} m, expected a measurement height above {WIND_LOG_B / WIND_LOG_A:.3f} m"
        )
    return u * WIND_LOG_NUMERATOR / np.log(WIND_LOG_A * height - WIND_LOG_B)


def soil_heat_flux_monthly(tmean: xr.DataArray, *, cyclic: bool = False) -> xr.DataArray:
    """Monthly soil heat flux G, MJ m-2 day-1, from mean monthly air temperature along ``time`` (FAO56 eqs. 43-44).

    G_i = 0.07 (T_{i+1} - T_{i-1}) where both neighbours exist; at the last month 0.14 (T_i - T_{i-1})
    (eq. 44); at the first month the mirror form 0.14 (T_{i+1} - T_i). ``cyclic=True`` treats the series
    as a 12-month climatology whose ends wrap around (December next to January), so every month uses
    eq. 43.
    """
    if not isinstance(tmean, xr.DataArray) or "time" not in tmean.dims:
        raise InputError("tmean: expected a DataArray with a monthly 'time' dimension for the monthly soil heat flux")
    if tmean.sizes["time"] < 2:
        raise InputError(f"tmean: found {tmean.sizes['time']} month(s), expected at least 2 for the soil heat flux")
    if cyclic:
        nxt = tmean.roll(time=-1, roll_coords=False)
        prev = tmean.roll(time=1, roll_coords=False)
        g = SOIL_HEAT_CENTRAL * (nxt - prev)
    else:
        nxt = tmean.shift(time=-1)
        prev = tmean.shift(time=1)
        central = SOIL_HEAT_CENTRAL * (nxt - prev)
        backward = SOIL_HEAT_ONE_SIDED * (tmean - prev)
        forward = SOIL_HEAT_ONE_SIDED * (nxt - tmean)
        g = central.fillna(backward).fillna(forward)
    g = g.transpose(*tmean.dims)
    g.attrs = output_attrs("MJ m-2 d-1", "monthly soil heat flux", "fao56_eq43_44", f"cyclic={cyclic}", _REF_FAO56)
    return g.rename("g")


# --------------------------------------------------------------------------------------------------
# PET methods
# --------------------------------------------------------------------------------------------------


def _temperature_checks(tmin, tmax):
    check_range(tmin, "tmin", -90.0, 60.0, "values in [-90, 60] degC")
    check_range(tmax, "tmax", -90.0, 60.0, "values in [-90, 60] degC")


@_pet_units("tmin", "tmax", "lat", "elevation", "u2", "rh_min", "rh_max", "ea", "sunshine_hours", "rs", "g")
def pet_penman_monteith(
    tmin,
    tmax,
    lat,
    time,
    *,
    elevation,
    u2,
    rh_min=None,
    rh_max=None,
    ea=None,
    sunshine_hours=None,
    rs=None,
    g=0.0,
    monthly: bool | None = None,
):
    """FAO-56 Penman-Monteith grass reference evapotranspiration ETo, mm day-1 (FAO56 eq. 6).

    ETo = [0.408 Delta (Rn - G) + gamma 900 / (T + 273) u2 (es - ea)] / [Delta + gamma (1 + 0.34 u2)]

    with T = (Tmax + Tmin) / 2 (degC), es the mean of e0(Tmax) and e0(Tmin), Delta at T, gamma from the
    ``elevation`` (m), u2 the wind speed at 2 m (m s-1; see :func:`wind_speed_2m`), Rn = 0.77 Rs - Rnl.

    Humidity: ``ea`` (kPa) if given, else from ``rh_min`` and ``rh_max`` (or ``rh_max`` alone), in %;
    for mean relative humidity pass ``ea=actual_vapour_pressure(tmin, tmax, rh_mean=...)``.
    Radiation: ``rs`` (MJ m-2 day-1) if given, else from ``sunshine_hours`` n (h day-1) by Angstrom with
    a_s = 0.25, b_s = 0.50 (FAO56 eq. 35). One of the two is required.
    Soil heat flux ``g`` (MJ m-2 day-1): 0 for daily steps (FAO56 eq. 42); for monthly steps a number or
    DataArray, or ``"monthly"`` to derive it from the mean temperature of the neighbouring months along
    ``time`` (FAO56 eqs. 43-44, see :func:`soil_heat_flux_monthly`).
    ``monthly``: use the 15th of each month as J (``None``: infer from ``time``). Works for daily and
    monthly means alike (FAO56 ch. 4): only J and G differ. ETo is not clipped at 0.
    """
    _temperature_checks(tmin, tmax)
    check_range(u2, "u2", 0.0, 100.0, "values in [0, 100] m s-1")
    doy = day_of_year(time, monthly=monthly)
    tmean = (tmin + tmax) / 2.0
    es = mean_saturation_vapour_pressure(tmin, tmax)
    if ea is None:
        if rh_min is None and rh_max is None:
            raise InputError("pet_penman_monteith: found no humidity, expected ea (kPa) or rh_max (and rh_min) in %")
        ea = actual_vapour_pressure(tmin, tmax, rh_min=rh_min, rh_max=rh_max)
    else:
        check_range(ea, "ea", 0.0, 20.0, "values in [0, 20] kPa")
    ra = extraterrestrial_radiation(lat, doy)
    rs_source = "rs given" if rs is not None else "Angstrom from sunshine_hours"
    if rs is None:
        if sunshine_hours is None:
            raise InputError("pet_penman_monteith: found neither rs nor sunshine_hours, expected one of them")
        rs = solar_radiation(ra, sunshine_hours, daylight_hours(lat, doy))
    rso = clear_sky_radiation(ra, elevation)
    rn = net_radiation(rs, net_longwave_radiation(tmin, tmax, ea, rs, rso))
    g_desc = "0 (daily)" if isinstance(g, (int, float)) and g == 0 else "given"
    if isinstance(g, str):
        if g != "monthly":
            raise InputError(f"g: found {g!r}, expected a number, a DataArray or 'monthly'")
        if not isinstance(tmean, xr.DataArray) or "time" not in tmean.dims:
            raise InputError("g='monthly': expected tmin and tmax as DataArrays with a monthly 'time' dimension")
        g = soil_heat_flux_monthly(tmean)
        g_desc = "monthly (FAO56 eqs. 43-44)"
    delta = slope_vapour_pressure_curve(tmean)
    gamma = psychrometric_constant(elevation)
    eto = (MJ_TO_MM * delta * (rn - g) + gamma * PM_CN / (tmean + PM_KELVIN) * u2 * (es - ea)) / (
        delta + gamma * (1.0 + PM_CD * u2)
    )
    parameters = (f"a_s={ANGSTROM_A_S}, b_s={ANGSTROM_B_S}, albedo={ALBEDO_REFERENCE_GRASS}, G={g_desc}, "
                  f"radiation={rs_source}, elevation={elevation if np.ndim(elevation) == 0 else 'grid'} m")
    attrs = output_attrs("mm d-1", "reference evapotranspiration (FAO-56 Penman-Monteith)", "fao56_penman_monteith",
                         parameters, _REF_FAO56)
    return _finish(eto, (tmin, tmax), "pet", attrs)


@_pet_units("tmin", "tmax", "lat")
def pet_hargreaves(tmin, tmax, lat, time, *, monthly: bool | None = None):
    """Hargreaves-Samani reference evapotranspiration, mm day-1 (Hargreaves & Samani 1985; FAO56 eq. 52).

    ETo = 0.0023 (Tmean + 17.8) sqrt(Tmax - Tmin) 0.408 Ra, Tmean = (Tmax + Tmin) / 2 in degC, Ra from
    :func:`extraterrestrial_radiation`. NaN where Tmax < Tmin (inconsistent input); 0 where
    Tmean < -17.8 degC.
    """
    _temperature_checks(tmin, tmax)
    doy = day_of_year(time, monthly=monthly)
    ra_mm = MJ_TO_MM * extraterrestrial_radiation(lat, doy)
    tmean = (tmin + tmax) / 2.0
    trange = tmax - tmin
    if _is_da(trange):
        root = np.sqrt(trange.where(trange >= 0))
    else:
        root = np.sqrt(np.where(trange >= 0, trange, np.nan))
    eto = HARGREAVES_COEFFICIENT * np.maximum(tmean + HARGREAVES_TEMPERATURE_OFFSET, 0.0) * root * ra_mm
    attrs = output_attrs("mm d-1", "reference evapotranspiration (Hargreaves-Samani)", "hargreaves_samani_1985",
                         f"coefficient={HARGREAVES_COEFFICIENT}, offset={HARGREAVES_TEMPERATURE_OFFSET} degC",
                         _REF_HS85)
    return _finish(eto, (tmin, tmax), "pet", attrs)


def _monthly_series(x, time, name: str) -> xr.DataArray:
    """A DataArray with a monthly ``time`` dimension from ``x`` (DataArray or array, time first) and ``time``."""
    if isinstance(time, xr.DataArray):
        tvals = time.values
    else:
        tvals = np.asarray(time)
    if not np.issubdtype(np.asarray(tvals).dtype, np.datetime64):
        try:
            tvals = np.asarray(tvals).astype("datetime64[ns]")
        except (ValueError, TypeError) as exc:
            raise InputError(f"time: found {np.asarray(tvals).dtype}, expected monthly dates for {name}") from exc
    tvals = np.atleast_1d(tvals).astype("datetime64[ns]")
    if isinstance(x, xr.DataArray):
        if "time" not in x.dims:
            raise InputError(f"{name}: found dims {x.dims}, expected a 'time' dimension of monthly means")
        if x.sizes["time"] != tvals.size:
            raise InputError(f"{name}: found {x.sizes['time']} time steps, but time has {tvals.size}")
        da = x.assign_coords(time=tvals)
    else:
        arr = np.asarray(x, dtype=float)
        if arr.ndim == 0 or arr.shape[0] != tvals.size:
            raise InputError(f"{name}: found shape {arr.shape}, expected the time axis first with {tvals.size} steps")
        da = xr.DataArray(arr, dims=("time",) + tuple(f"dim_{i}" for i in range(1, arr.ndim)), coords={"time": tvals})
    months = tvals.astype("datetime64[M]")
    if np.unique(months).size != months.size:
        raise InputError(f"{name}: found two time steps in one month, expected monthly means (Thornthwaite is monthly)")
    return da


def _spei_r_daylight_hours(lat, time: xr.DataArray):
    """Day length N (h) of each month as the R package SPEI's ``thornthwaite`` takes it (METHODS 3).

    msum = day of year of the month's first day + round(days_in_month / 2 - 1) (half to even, as R);
    delta = 0.4093 sin(2 pi msum / 365 - 1.405); N = 24 / pi arccos(-tan(lat) tan(delta)), the product
    clipped to [-1, 1]; lat converted with R's 57.2957795 degrees per radian.
    """
    check_range(lat, "lat", -90.0, 90.0, "latitude in degrees in [-90, 90]")
    first = time.dt.dayofyear
    msum = first + np.round(time.dt.days_in_month / 2.0 - 1.0)
    delta = SPEI_R_DECLINATION_AMPLITUDE * np.sin(2.0 * np.pi * msum / DAYS_PER_YEAR_ANGLE - SPEI_R_DECLINATION_PHASE)
    cos_ws = np.clip(-np.tan(lat / SPEI_R_DEGREES_PER_RADIAN) * np.tan(delta), -1.0, 1.0)
    return HOURS_PER_DAY / np.pi * np.arccos(cos_ws)


@_pet_units("tmean", "lat")
def pet_thornthwaite(
    tmean,
    lat,
    time,
    *,
    heat_index: str = "climatology",
    high_temperature_correction: bool | None = None,
    variant: str = "fao56",
):
    """Thornthwaite (1948) potential evapotranspiration from monthly mean temperature, mm day-1.

    PET = 16 / 30 * (L / 12) * (10 T / I)^a mm day-1, i.e. Thornthwaite's 16 (10 T / I)^a mm per
    standard month (30 days of 12 hours) scaled by the day length L and divided by 30 days;
    T = max(Tmean, 0) in degC, so PET = 0 for T <= 0. a = 6.75e-7 I^3 - 7.71e-5 I^2 + 1.792e-2 I + 0.49239.

    ``variant``:
    - ``"fao56"`` (default): L = N of FAO56 eq. 34 on the 15th of the month; heat index from
      ``heat_index`` (below) on T clipped at 0 before averaging.
    - ``"spei_r"``: as the R package SPEI's ``thornthwaite`` (METHODS 3): L from R's own declination at
      the mid-month day (:func:`_spei_r_daylight_hours`), I = sum over calendar months of (T_m / 5)^1.514
      with T_m the month's mean over the whole series set to 0 *after* averaging when negative, no
      high-temperature table. R returns mm per month: ``pet * time.dt.days_in_month`` equals it.
      R's SPEI in one call (water balance in mm/month, log-logistic by unbiased PWM, calibration over the
      whole record)::

          spei(pr, pet_thornthwaite(t, lat, t.time, variant="spei_r") * t.time.dt.days_in_month,
               scale=12, cal_start=t.time.values[0], cal_end=t.time.values[-1])

    Heat index I = sum over the 12 calendar months of (T_m / 5)^1.514 needs 12 monthly means per year:
    - ``heat_index="climatology"`` (default, Thornthwaite's own use of normals; as climate_indices):
      T_m = mean of the month over the whole series; every calendar month must occur.
    - ``heat_index="annual"`` (as xclim; ``variant="fao56"`` only): I of each calendar year from its own
      12 months; years with fewer than 12 months give NaN.
    ``high_temperature_correction`` (default True for ``"fao56"``, and always False for ``"spei_r"``):
    above 26.5 degC the unadjusted PET is Thornthwaite's table, -415.85 + 32.24 T - 0.43 T^2 mm per
    standard month (Willmott et al. 1985); False applies the power law at all temperatures (as
    climate_indices, xclim and R SPEI do).

    ``tmean``: DataArray with a monthly ``time`` dimension (or an array with the time axis first);
    ``time``: its monthly dates (e.g. ``tmean.time``). Returns a DataArray (dims of ``tmean``).
    """
    if heat_index not in ("climatology", "annual"):
        raise InputError(f"heat_index: found {heat_index!r}, expected 'climatology' or 'annual'")
    if variant not in THORNTHWAITE_VARIANTS:
        raise InputError(f"variant: found {variant!r}, expected one of {THORNTHWAITE_VARIANTS}")
    spei_r = variant == "spei_r"
    if spei_r and (heat_index != "climatology" or high_temperature_correction):
        raise InputError(
            "variant='spei_r' computes the heat index from the whole record's monthly means without the "
            f"high-temperature table; found heat_index={heat_index!r}, "
            f"high_temperature_correction={high_temperature_correction!r}"
        )
    if high_temperature_correction is None:
        high_temperature_correction = not spei_r
    was_da = isinstance(tmean, xr.DataArray)
    t = _monthly_series(tmean, time, "tmean")
    check_range(t, "tmean", -90.0, 60.0, "values in [-90, 60] degC")
    tpos = t.clip(min=0.0)
    if heat_index == "climatology":
        # fao56: months clipped at 0 before averaging; spei_r: the mean set to 0 after averaging (as R)
        month_mean = (t if spei_r else tpos).groupby("time.month").mean("time")
        if month_mean.sizes["month"] != 12:
            raise InputError(
                f"tmean: found {month_mean.sizes['month']} calendar months, expected all 12 for the heat index"
            )
        month_mean = month_mean.clip(min=0.0)
        index = ((month_mean / THORNTHWAITE_HEAT_DIVISOR) ** THORNTHWAITE_HEAT_EXPONENT).sum("month", skipna=False)
    else:
        years = t["time"].dt.year
        heat = (tpos / THORNTHWAITE_HEAT_DIVISOR) ** THORNTHWAITE_HEAT_EXPONENT
        per_year = heat.groupby(years).sum("time", skipna=False)
        n_months = xr.ones_like(years).groupby(years).sum()
        per_year = per_year.where(n_months == 12)
        index = per_year.sel(year=years).drop_vars("year")
    c3, c2, c1, c0 = THORNTHWAITE_A_COEFFICIENTS
    a = c3 * index**3 + c2 * index**2 + c1 * index + c0
    with np.errstate(divide="ignore", invalid="ignore"):
        unadjusted = THORNTHWAITE_COEFFICIENT_MM * (10.0 * tpos / index) ** a
    unadjusted = xr.where((tpos > 0) & (index > 0), unadjusted, 0.0)
    if high_temperature_correction:
        h0, h1, h2 = THORNTHWAITE_HIGH_T_COEFFICIENTS
        unadjusted = xr.where(t >= THORNTHWAITE_HIGH_TEMPERATURE, h0 + h1 * t + h2 * t**2, unadjusted)
    unadjusted = unadjusted.where(t.notnull() & index.notnull())
    if spei_r:
        length = _spei_r_daylight_hours(lat, t["time"])
    else:
        length = daylight_hours(lat, day_of_year(t["time"], monthly=True))
    pet = unadjusted / THORNTHWAITE_STANDARD_MONTH_DAYS * (length / THORNTHWAITE_STANDARD_DAY_HOURS)
    attrs = output_attrs("mm d-1", "potential evapotranspiration (Thornthwaite)",
                         "thornthwaite_1948" + ("_as_r_spei" if spei_r else ""),
                         f"variant={variant}, heat_index={heat_index}, "
                         f"high_temperature_correction={high_temperature_correction}", _REF_TW48)
    pet = _finish(pet, (t,), "pet", attrs)
    return pet if was_da else pet.values
