"""Checks of an input at the reading stage: time axis, physical value ranges, signs of a wrong scaling.

:func:`check_input` runs on every variable :func:`dldd.sources.open_input` reads from a ``path:``
(where the spec declares scale factor, offset and fill value, and so where they go wrong); products,
which decode themselves, get the time-axis check only. The time axis is checked at once (it is
metadata); the values are checked lazily, block by block, as dask reads them (so no extra pass over
the data), and a bad block raises :class:`InputError` naming the input, its file and the value found.
Class inputs (land cover, ...) are checked by their legends elsewhere, not here.

Rules:

- Annual series (every time stamp on 1 January) must hold every year between their first and last;
  monthly series (every stamp on the first of a month) every month. Gaps are refused with the missing
  years or months named (a year without data is a layer of fill values, not a missing layer).
- The climate inputs of the assessment (:data:`MONTHLY_INPUTS`) must be monthly (docs/spec.md).
- Infinite values (+-Inf) in any float input are refused (dldd does not guess whether they mean "missing"
  or "off the scale"; the file should declare its missing cells).
- Values after scale factor and offset must lie in the physical range of the variable
  (:data:`VALUE_RANGES`); NDVI also gets two diagnostics of a wrong ``scale_factor``: values beyond 1
  that fit NDVI x 10000, and blocks whose values all lie within +-0.0001 (float NDVI scaled by 0.0001).
- An NDVI series whose every cell keeps one value over all the years of a block, while the cells differ
  from one another, is the same map repeated (files of several years holding one year's data).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd
import xarray as xr

from dldd.core.units import convert_input
from dldd.errors import InputError

#: Inputs that the climate stages read as monthly series (aridity, drought, sensitivity; docs/spec.md).
MONTHLY_INPUTS = ("precipitation", "tmin", "tmax")

#: Physical range (after scaling) of each input variable the engine knows, as (low, high, text):
#: NDVI by definition (Rouse et al. 1974) in [-1, 1]; amounts, stocks, counts and speeds are never
#: negative; soil fractions are percentages; wind direction is a compass bearing in degrees;
#: air temperature in degC within the observed extremes with a margin (WMO archive: -89.2 degC at
#: Vostok, 56.7 degC at Death Valley). Values are checked in the engine's units, after conversion from
#: the units the input declares (dldd.core.units.INPUT_UNITS), so kelvin labelled as degC is refused.
VALUE_RANGES = {
    "ndvi": (-1.0, 1.0, "NDVI"),
    "precipitation": (0.0, math.inf, "precipitation"),
    "tmin": (-100.0, 70.0, "air temperature in degC"),
    "tmax": (-100.0, 70.0, "air temperature in degC"),
    "soc": (0.0, math.inf, "soil organic carbon stock"),
    "population": (0.0, math.inf, "population"),
    "wind_speed": (0.0, math.inf, "wind speed"),
    "wind_direction": (0.0, 360.0, "wind direction in degrees"),
    "sand": (0.0, 100.0, "sand content in %"),
    "silt": (0.0, 100.0, "silt content in %"),
    "clay": (0.0, 100.0, "clay content in %"),
    "organic_matter": (0.0, 100.0, "organic matter content in %"),
}
#: Slack on the range bounds for values stored as integers and scaled (NDVI x 10000 x 0.0001 in float32
#: can land a few ulp beyond 1): one unit of the x 10000 integer products.
RANGE_TOLERANCE = 1e-4
#: Integer scale of the NDVI products stored as NDVI x 10000 (MODIS MOD13, Trends.Earth inputs).
NDVI_INTEGER_SCALE = 10000
#: Largest |NDVI| of a block that looks like float NDVI multiplied by a 0.0001 scale factor once too often.
NDVI_SCALED_TWICE_MAX = 1e-4
#: Fewest valid values in a block before it is judged "scaled twice" or "repeated" (tiny blocks say little).
MIN_BLOCK_VALUES = 16
#: Fewest time steps for the repeated-map check.
MIN_REPEAT_STEPS = 3
#: Missing years or months named in a message at most.
MAX_LISTED = 12


def check_input(da: xr.DataArray, name: str, source: str, *, is_class: bool = False) -> xr.DataArray:
    """``da`` in the engine's units (:func:`dldd.core.units.convert_input`: declared units converted,
    unreadable or incompatible ones refused), after the time-axis checks, with the lazy value checks
    of ``name`` attached.
    Class inputs are returned as they are: land cover is often given for a few years only (the start
    and end of each period), and its codes are checked against its legend when nested."""
    check_calendar(da, name, source)
    if is_class:
        return da
    check_time_axis(da, name, source)
    return check_values(convert_input(da, name, source), name, source, declared=da.attrs.get("units"))


# --------------------------------------------------------------------------------------------------
# time axis
# --------------------------------------------------------------------------------------------------


def check_calendar(da: xr.DataArray, name: str, source: str) -> None:
    """Refuse a time axis in a non-standard calendar (``noleap``, ``360_day``, ...: decoded as cftime
    objects), naming the input and the calendar, instead of failing later on an object array."""
    if "time" not in da.coords or da["time"].dtype != object or da.sizes.get("time", 0) == 0:
        return
    first = da["time"].values[0]
    calendar = getattr(first, "calendar", None)
    if calendar is None:
        return
    raise InputError(f"input {name!r} ({source}): the time axis uses the calendar {calendar!r}; dldd reads dates in "
                     "the standard (Gregorian) calendar only: convert the file (e.g. xarray's "
                     "Dataset.convert_calendar('standard', align_on='date'), or `cdo setcalendar,standard`)")


def _stamps(da: xr.DataArray) -> pd.DatetimeIndex | None:
    if "time" not in da.dims or "time" not in da.coords or da.sizes["time"] < 2:
        return None
    try:
        return pd.DatetimeIndex(da["time"].values)
    except (TypeError, ValueError):
        return None  # numbers or cftime: not checked here


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


def check_time_axis(da: xr.DataArray, name: str, source: str) -> None:
    """Refuse gaps in annual or monthly series, and a climate input that is not monthly."""
    times = _stamps(da)
    if times is None:
        if name in MONTHLY_INPUTS and "time" not in da.dims:
            raise InputError(f"input {name!r} ({source}): no 'time' dimension; expected a monthly series "
                             "(one layer per month, time on the first of each month)")
        return
    where = f"input {name!r} ({source})"
    if times.has_duplicates:
        raise InputError(f"{where}: the time step {times[times.duplicated()][0].date()} appears twice")
    times = times.sort_values()
    first_of_month = bool((times.day == 1).all() and (times.hour == 0).all())
    annual = first_of_month and bool((times.month == 1).all())
    if name in MONTHLY_INPUTS and (annual or not first_of_month):
        kind = "annual (1 January of each year)" if annual else f"time steps such as {times[0]} and {times[1]}"
        raise InputError(f"{where}: expected a monthly series (time on the first of each month), found {kind}; "
                         "give monthly values (e.g. monthly sums of precipitation, monthly means of temperature)")
    if annual:
        years = times.year
        missing = sorted(set(range(years[0], years[-1] + 1)) - set(years))
        if missing:
            raise InputError(f"{where}: years {_listed([str(y) for y in missing])} are missing from the middle of "
                             f"the annual series {years[0]}-{years[-1]}; expected one layer per year (a year "
                             "without data is a layer of fill values)")
    elif first_of_month:
        idx = times.year * 12 + times.month - 1
        have = set(idx)
        missing = [f"{i // 12}-{i % 12 + 1:02d}" for i in range(idx[0], idx[-1] + 1) if i not in have]
        if missing:
            raise InputError(f"{where}: months {_listed(missing)} are missing from the monthly series "
                             f"{times[0]:%Y-%m}..{times[-1]:%Y-%m}; expected one layer per month (a month without "
                             "data is a layer of fill values)")


# --------------------------------------------------------------------------------------------------
# values (lazy, per block)
# --------------------------------------------------------------------------------------------------


def check_values(da: xr.DataArray, name: str, source: str, declared: str | None = None) -> xr.DataArray:
    """``da`` with its blocks checked as they are read (numpy data: checked now); ``declared``: the units
    the input declared before conversion to the engine's (named in messages)."""
    if not np.issubdtype(da.dtype, np.floating):
        return da
    nt = da.sizes.get("time", 0)
    check = functools.partial(_check_block, name=name, source=source, units=str(da.attrs.get("units", "")),
                              declared="" if declared is None else str(declared).strip(),
                              time_axis=da.dims.index("time") if "time" in da.dims else None, n_times=nt)
    if da.chunks is None:
        check(np.asarray(da.values))
        return da
    return da.copy(data=da.data.map_blocks(check, dtype=da.dtype))


def _check_block(block: np.ndarray, *, name: str, source: str, units: str, declared: str = "", time_axis,
                 n_times: int) -> np.ndarray:
    where = f"input {name!r} ({source})"
    infinite = np.isinf(block)
    if infinite.any():
        raise InputError(f"{where}: found {int(infinite.sum())} infinite value(s) ({block[infinite][0]:g}); "
                         "infinity is neither data nor a declared missing value: write these cells as the "
                         "file's fill value (_FillValue or missing_value) or as NaN")
    valid = block[np.isfinite(block)]
    if valid.size == 0 or name not in VALUE_RANGES:
        return block
    low, high, label = VALUE_RANGES[name]
    lo, hi = float(valid.min()), float(valid.max())
    unit = f" {units}" if units else ""
    fix = ("check the units (the file's `units` attribute; the spec's `units:` is for a file without one) and "
           "the `scale_factor`, `offset` and fill value (`nodata:`) of this input")
    if math.isfinite(high) and hi > high + RANGE_TOLERANCE * max(1.0, abs(high)):
        hint = fix
        if name == "ndvi" and hi <= NDVI_INTEGER_SCALE * (1 + RANGE_TOLERANCE):
            hint = f"the values look like NDVI x {NDVI_INTEGER_SCALE}: give `scale_factor: {1 / NDVI_INTEGER_SCALE:g}`"
        elif name in ("tmin", "tmax"):
            said = f"declared as {declared!r}" if declared else "declared without units, so read as degC"
            hint = (f"the values are {said} and converted to degC; if they are kelvin, correct the file's `units` "
                    "attribute to K (for a file without a `units` attribute, declare `units: K` in the spec)")
        raise InputError(f"{where}: found {hi:g}{unit}; {label} must lie in [{low:g}, {high:g}]; {hint}")
    if lo < low - (0.0 if low == 0.0 else RANGE_TOLERANCE * max(1.0, abs(low))):
        bounds = f"[{low:g}, {high:g}]" if math.isfinite(high) else f">= {low:g}"
        raise InputError(f"{where}: found {lo:g}{unit}; {label} must be {bounds}; {fix}")
    if name == "ndvi" and valid.size >= MIN_BLOCK_VALUES:
        amax = max(abs(lo), abs(hi))
        if 0.0 < amax <= NDVI_SCALED_TWICE_MAX * (1 + RANGE_TOLERANCE):
            raise InputError(
                f"{where}: every value lies within +-{NDVI_SCALED_TWICE_MAX:g} (largest |NDVI| {amax:g}); the file "
                "seems to hold NDVI as floats already, and `scale_factor` shrinks it: drop `scale_factor` "
                "(it is for NDVI stored as integers x 10000)")
        if time_axis is not None and n_times >= MIN_REPEAT_STEPS and block.shape[time_axis] == n_times:
            _check_repeated(block, time_axis, where)
    return block


def _check_repeated(block: np.ndarray, time_axis: int, where: str) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells
        hi = np.nanmax(block, axis=time_axis)
        lo = np.nanmin(block, axis=time_axis)
        count = np.isfinite(block).sum(axis=time_axis)
    cells = count >= 2
    if cells.sum() < MIN_BLOCK_VALUES:
        return
    if np.all(hi[cells] == lo[cells]) and np.unique(hi[cells]).size > 1:
        raise InputError(f"{where}: every cell keeps the same value in every year of the series, while cells "
                         "differ from one another: the layers of different years hold the same map; check the "
                         "files (or variables) of each year")
