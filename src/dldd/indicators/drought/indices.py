"""SPI and SPEI (METHODS 2): input checks, calibration period and the public functions.

The formulas and their references are in :mod:`dldd.indicators.drought`; the numerics in
:mod:`dldd.indicators.drought.kernel`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from dldd.core.attrs import output_attrs
from dldd.core.units import Amount, declare_units
from dldd.errors import GridMismatchError, InputError
from dldd.indicators.drought.kernel import _DIST_GAMMA, _DIST_GLO, _GAMMA_METHODS, standardised

# ----------------------------------------------------------------------------------------------
# Constants (METHODS 2)
# ----------------------------------------------------------------------------------------------

#: Default calibration period (first and last year, inclusive): the WMO 1981-2010 normal, used when
#: the record covers it, else the whole record (METHODS 2).
DEFAULT_CALIBRATION = (1981, 2010)

#: Units SPI and SPEI compute in: precipitation and PET as amounts per month in mm. Other depths, a mass
#: of water per area (kg m-2) and rates or fluxes (mm d-1, kg m-2 s-1: x the days of each month) are
#: converted (dldd.core.units); an input without a ``units`` attribute is taken in mm per month.
MONTHLY_AMOUNT = Amount("mm", step="month")

#: Accumulation scales usually reported (METHODS 2: k = 1, 3, 6, 12, 24 months); any scale >= 1 works.
STANDARD_SCALES = (1, 3, 6, 12, 24)

SPI_REFERENCES = (
    "McKee T.B., Doesken N.J., Kleist J. (1993) The relationship of drought frequency and duration to "
    "time scales. 8th Conf. Applied Climatology, 179-184; "
    "Hosking J.R.M. (1990) L-moments. J. R. Stat. Soc. B 52, 105-124; "
    "Thom H.C.S. (1958) A note on the gamma distribution. Monthly Weather Review 86, 117-122; "
    "Wichura M.J. (1988) Algorithm AS 241. Applied Statistics 37, 477-484; "
    "Begueria S. et al. (2014) SPEI revisited. Int. J. Climatol. 34, 3001-3023"
)
SPEI_REFERENCES = (
    "Vicente-Serrano S.M., Begueria S., Lopez-Moreno J.I. (2010) A multiscalar drought index sensitive "
    "to global warming: the SPEI. J. Climate 23, 1696-1718; "
    "Begueria S. et al. (2014) SPEI revisited. Int. J. Climatol. 34, 3001-3023; "
    "Hosking J.R.M., Wallis J.R. (1997) Regional Frequency Analysis, Cambridge UP; "
    "Wichura M.J. (1988) Algorithm AS 241. Applied Statistics 37, 477-484"
)
_GAMMA_METHOD_TEXT = {
    "pwm": "unbiased probability-weighted moments / L-moments (Hosking 1990), as the R package SPEI",
    "ml": "maximum likelihood with location 0, as xclim method='ML'",
    "thom": "Thom (1958) approximation, as climate_indices",
}


# ----------------------------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------------------------


def _name(da, default: str) -> str:
    return str(da.name) if getattr(da, "name", None) is not None else default


def _month_index(da: xr.DataArray, name: str) -> np.ndarray:
    """year * 12 + month - 1 of each time step; checks a consecutive monthly axis at the 1st of month."""
    if not isinstance(da, xr.DataArray):
        raise InputError(f"{name}: expected an xarray.DataArray, got {type(da).__name__}")
    if "time" not in da.dims or "time" not in da.coords:
        raise InputError(f"{name}: needs a 'time' dimension with a coordinate; dims are {da.dims}")
    try:
        years = np.asarray(da["time"].dt.year.values, dtype=np.int64)
        months = np.asarray(da["time"].dt.month.values, dtype=np.int64)
        days = np.asarray(da["time"].dt.day.values, dtype=np.int64)
    except (TypeError, AttributeError) as err:
        raise InputError(
            f"{name}: coordinate 'time' has dtype {da['time'].dtype}; expected dates at the first of "
            "each month (datetime64 or cftime)"
        ) from err
    idx = years * 12 + months - 1
    if idx.size == 0:
        raise InputError(f"{name}: 'time' is empty; expected a monthly series")
    steps = np.diff(idx)
    if np.any(steps != 1):
        bad = int(np.flatnonzero(steps != 1)[0])
        raise InputError(
            f"{name}: 'time' must be consecutive months (monthly data); found {da['time'].values[bad]} "
            f"followed by {da['time'].values[bad + 1]}"
        )
    if np.any(days != 1):
        raise InputError(
            f"{name}: monthly 'time' must be stamped on the first of each month; found day "
            f"{int(days[days != 1][0])} (e.g. resample with time='MS' or relabel the time axis)"
        )
    return idx


def _check_time_chunks(da: xr.DataArray, name: str) -> None:
    if da.chunks is not None and len(da.chunksizes["time"]) > 1:
        raise InputError(
            f"{name}: the 'time' axis is split into {len(da.chunksizes['time'])} dask chunks; the SPI/SPEI "
            "kernel needs the whole series in one chunk: use .chunk({'time': -1})"
        )


def _raise_if_negative(block: np.ndarray, name: str) -> np.ndarray:
    # one pass, NaN skipped, no temporary (for float64 blocks)
    lowest = float(np.fmin.reduce(np.asarray(block, dtype=np.float64), axis=None, initial=np.inf))
    if lowest < 0:
        raise InputError(
            f"{name}: precipitation must be non-negative; found {lowest} "
            "(check units, scale factors and fill values)"
        )
    return block


def _checked_non_negative(da: xr.DataArray, name: str) -> xr.DataArray:
    """``da`` with a non-negativity check: now for numpy data, at compute time for dask data."""
    if da.chunks is None:
        _raise_if_negative(np.asarray(da.values, dtype=np.float64), name)
        return da
    return xr.apply_ufunc(
        _raise_if_negative, da, kwargs={"name": name}, dask="parallelized", output_dtypes=[da.dtype],
        keep_attrs=True,
    )


def _month_of(value, is_end: bool, argname: str) -> int:
    """Month index (year * 12 + month - 1) of a calibration bound: a year (int or 'YYYY') or a date."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value) * 12 + (11 if is_end else 0)
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) == 4:
        return int(value) * 12 + (11 if is_end else 0)
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as err:
        raise InputError(
            f"{argname}: {value!r} is not a year or a date; expected e.g. 1981 or '1981-01-01'"
        ) from err
    return ts.year * 12 + ts.month - 1


def _fmt_month(i: int) -> str:
    return f"{i // 12:04d}-{i % 12 + 1:02d}"


def _calibration(idx: np.ndarray, cal_start, cal_end, name: str) -> tuple[tuple[int, int], str]:
    """Calibration period as a time-index range [lo, hi) and its label."""
    first, last = int(idx[0]), int(idx[-1])
    if cal_start is None and cal_end is None:
        start = DEFAULT_CALIBRATION[0] * 12
        end = DEFAULT_CALIBRATION[1] * 12 + 11
        if not (first <= start and last >= end):
            start, end = first, last
    else:
        start = first if cal_start is None else _month_of(cal_start, False, "cal_start")
        end = last if cal_end is None else _month_of(cal_end, True, "cal_end")
    if end < start:
        raise InputError(f"cal_start/cal_end: calibration ends ({_fmt_month(end)}) before it starts "
                         f"({_fmt_month(start)})")
    start, end = max(start, first), min(end, last)
    if end < start:
        raise InputError(
            f"cal_start/cal_end: the calibration period does not overlap the record of {name} "
            f"({_fmt_month(first)} to {_fmt_month(last)})"
        )
    return (start - first, end - first + 1), f"{_fmt_month(start)}..{_fmt_month(end)}"


def _check_scale(scale, n: int) -> int:
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise InputError(f"scale: expected a whole number of months >= 1, got {scale!r}")
    if scale > n:
        raise InputError(f"scale: {scale} months is longer than the record ({n} months)")
    return int(scale)


def _check_clip(clip) -> float:
    if clip is None:
        return 0.0
    try:
        value = float(clip)
    except (TypeError, ValueError) as err:
        raise InputError(f"clip: expected None or a positive number, got {clip!r}") from err
    if not value > 0:
        raise InputError(f"clip: expected None or a positive number, got {clip!r}")
    return value


# ----------------------------------------------------------------------------------------------
# SPI and SPEI
# ----------------------------------------------------------------------------------------------


@declare_units(pr=MONTHLY_AMOUNT)
def spi(
    pr: xr.DataArray,
    scale: int = 12,
    dist: str = "gamma",
    method: str = "pwm",
    cal_start=None,
    cal_end=None,
    clip: float | None = None,
) -> xr.DataArray:
    """Standardized Precipitation Index (McKee et al. 1993; METHODS 2).

    SPI = Phi^-1(q + (1 - q) G(x)) with x the ``scale``-month precipitation sum, G a gamma CDF and q the
    share of zero sums, both fitted per calendar month over the calibration period (see module docstring).

    Parameters
    ----------
    pr
        Monthly precipitation amounts, dims ``time`` + any others, ``time`` on the first of each
        consecutive month. NaN = missing. Must be non-negative. Units (attribute ``units``): a depth
        or a mass per area per month, or a rate or flux (``mm d-1``, ``kg m-2 s-1``) which is turned
        into monthly amounts with the days of each month (:data:`MONTHLY_AMOUNT`); no attribute = mm.
        With dask, ``time`` must be a single chunk.
    scale
        Accumulation in months (1, 3, 6, 12, 24 usual). The first ``scale - 1`` months are NaN.
    dist
        ``"gamma"`` (the only distribution offered for SPI).
    method
        Gamma fit: ``"pwm"`` (default; unbiased PWM / L-moments as the R package SPEI), ``"ml"``
        (maximum likelihood, as xclim), ``"thom"`` (Thom approximation, as climate_indices).
    cal_start, cal_end
        Calibration period bounds, a year (int or ``"YYYY"``: January / December of that year) or a date.
        Default: 1981-2010 (``DEFAULT_CALIBRATION``) when the record covers it, else the whole record;
        one bound alone takes the record's other end. The sums whose last month falls in the period
        form the calibration sample.
    clip
        None (default): no bound (a zero sum in a calendar month whose calibration sample has no zero
        gives -inf). A number c bounds the index to [-c, c] (climate_indices uses 3.09, xclim 8.21).

    Returns
    -------
    DataArray ``spi`` (float64, same dims and coords as ``pr``), attrs units, long_name, method,
    parameters, references. NaN where the window has missing data or the calendar month has no fit
    (fewer than ``MIN_FIT_VALUES`` positive calibration sums).
    """
    name = _name(pr, "pr")
    idx = _month_index(pr, name)
    scale = _check_scale(scale, idx.size)
    if dist != "gamma":
        raise InputError(f"dist: SPI supports 'gamma' only, got {dist!r}")
    if method not in _GAMMA_METHODS:
        raise InputError(f"method: expected one of {sorted(_GAMMA_METHODS)}, got {method!r}")
    clip_value = _check_clip(clip)
    _check_time_chunks(pr, name)
    cal, cal_text = _calibration(idx, cal_start, cal_end, name)
    checked = _checked_non_negative(pr, name)
    out = standardised(checked, cal, scale, _DIST_GAMMA, _GAMMA_METHODS[method], clip_value)
    out.name = "spi"
    out.attrs = output_attrs("1", f"Standardized Precipitation Index, {scale}-month (SPI-{scale})",
                             "gamma distribution with a zero-precipitation mass, H = q + (1 - q) G(x), fitted per "
                             f"calendar month by {_GAMMA_METHOD_TEXT[method]}; SPI = inverse standard normal of H (AS241)",
                             f"scale={scale}, dist=gamma, method={method}, calibration={cal_text}, clip={clip}",
                             SPI_REFERENCES)
    return out


@declare_units(pr=MONTHLY_AMOUNT, pet=MONTHLY_AMOUNT)
def spei(
    pr: xr.DataArray,
    pet: xr.DataArray,
    scale: int = 12,
    method: str = "pwm",
    cal_start=None,
    cal_end=None,
    clip: float | None = None,
) -> xr.DataArray:
    """Standardized Precipitation-Evapotranspiration Index (Vicente-Serrano et al. 2010; METHODS 2).

    SPEI = Phi^-1(F(D)) with D the ``scale``-month sum of P - PET and F the generalised-logistic
    (three-parameter log-logistic) CDF fitted per calendar month by unbiased PWM / L-moments over the
    calibration period, as the R package SPEI (see module docstring).

    Parameters
    ----------
    pr, pet
        Monthly precipitation and potential evapotranspiration, same dims and coords, ``time`` on the
        first of each consecutive month; ``pr`` non-negative. Each is converted to mm per month from its
        own ``units`` (:data:`MONTHLY_AMOUNT`): PET in mm d-1 (the PET functions' output) with
        precipitation in mm/month is multiplied by the days of each month; units that are not a water
        amount or rate (e.g. K) are refused naming the input.
    scale, cal_start, cal_end, clip
        As for :func:`spi`. ``clip=None``: values outside the fitted distribution's support give +-inf.
    method
        ``"pwm"`` (the only fit offered for the log-logistic distribution, as the R package default).

    Returns
    -------
    DataArray ``spei`` (float64), attrs units, long_name, method, parameters, references.
    """
    name = _name(pr, "pr")
    pet_name = _name(pet, "pet")
    idx = _month_index(pr, name)
    idx_pet = _month_index(pet, pet_name)
    if idx.shape != idx_pet.shape or np.any(idx != idx_pet):
        raise InputError(
            f"{pet_name}: its monthly 'time' axis ({_fmt_month(int(idx_pet[0]))}..{_fmt_month(int(idx_pet[-1]))}) "
            f"differs from that of {name} ({_fmt_month(int(idx[0]))}..{_fmt_month(int(idx[-1]))})"
        )
    scale = _check_scale(scale, idx.size)
    if method != "pwm":
        raise InputError(f"method: SPEI supports 'pwm' (L-moments) only, got {method!r}")
    clip_value = _check_clip(clip)
    try:
        pr_a, pet_a = xr.align(pr, pet, join="exact")
    except ValueError as err:
        raise GridMismatchError(f"{pet_name}: its coordinates differ from those of {name}: {err}") from err
    balance = _checked_non_negative(pr_a, name) - pet_a
    _check_time_chunks(balance, f"{name} - {pet_name}")
    cal, cal_text = _calibration(idx, cal_start, cal_end, name)
    out = standardised(balance, cal, scale, _DIST_GLO, 0, clip_value)
    out.name = "spei"
    out.attrs = output_attrs("1",
                             f"Standardized Precipitation-Evapotranspiration Index, {scale}-month (SPEI-{scale})",
                             "log-logistic (generalised logistic) distribution of P - PET fitted per calendar month by "
                             "unbiased probability-weighted moments / L-moments, as the R package SPEI; SPEI = inverse "
                             "standard normal of F (AS241)",
                             f"scale={scale}, dist=log-logistic, method={method}, calibration={cal_text}, clip={clip}",
                             SPEI_REFERENCES)
    return out
