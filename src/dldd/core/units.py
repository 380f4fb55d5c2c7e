"""Units declared at the indicator boundary and converted with pint (xclim style).

An indicator states the units it computes in for each input with :func:`declare_units`; every
DataArray given for that input is converted to them with pint, through cf_xarray's unit registry
(which reads CF spellings: ``kg m-2 s-1``, ``mm d-1``, ``t ha-1``, ``m s-1``, ``K``, ``knots``, ...).
An input whose units pint cannot read, or whose dimensionality differs from the declared one, is
refused naming the input, its units and what was expected. An input without a ``units`` attribute is
taken in the declared units (each function's docstring says which): units are read from metadata,
never guessed from values.

Precipitation and evapotranspiration are declared as an :class:`Amount` per time step of the series.
Accepted: a depth (``mm``, ``m``), a mass of water per area (``kg m-2``: 1 kg m-2 of liquid water is
1 mm deep, :data:`WATER_DENSITY`), or either per unit of time (a rate or a CF flux such as
``kg m-2 s-1`` or ``mm d-1``). A rate is multiplied by the length of each time step (the days of each
month or year of the time axis), except a rate per the step itself (``mm/month`` on a monthly series,
``mm/year`` on an annual one), which is the step's amount as written (as CRU, GPCC and TerraClimate
label their monthly totals).

Converted values get the target ``units``, the CF ``standard_name`` where CF has one
(:data:`STANDARD_NAMES`) and, for amounts, ``cell_methods = "time: sum"``. Values already in the
declared units are returned untouched (same object, bit for bit).
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pint
import xarray as xr
from cf_xarray.units import units as UREG

from dldd.errors import InputError

__all__ = [
    "UREG", "Amount", "declare_units", "convert", "to_amount", "convert_input", "INPUT_UNITS",
    "STANDARD_NAMES", "WATER_DENSITY",
]

#: Density of liquid water used to read a mass of water per area as a depth (1 kg m-2 = 1 mm).
WATER_DENSITY = UREG.Quantity(1000.0, "kg m-3")

#: CF standard names of the quantities dldd converts (CF standard name table v84).
STANDARD_NAMES = {
    "precipitation": "lwe_thickness_of_precipitation_amount",
    "tmin": "air_temperature",
    "tmax": "air_temperature",
    "tmean": "air_temperature",
    "wind_speed": "wind_speed",
}

#: Time steps an amount may be declared per (pint units: a rate per the step is the step's amount).
STEPS = ("day", "month", "year")

_LENGTH = UREG.Unit("m").dimensionality
_TEMPERATURE = UREG.Unit("K").dimensionality
_AREAL_MASS = UREG.Unit("kg m-2").dimensionality


def parse(text, name: str) -> pint.Unit:
    """The pint unit of ``text`` (CF spelling), or InputError naming the input."""
    try:
        return UREG.Unit(str(text).strip())
    except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError, ValueError, TypeError,
            AttributeError, AssertionError) as err:
        raise InputError(f"{name}: units {text!r} are not units dldd can read ({err})") from None


def same_units(a, b) -> bool:
    """True when ``a`` and ``b`` are the same units however spelled (pint: ``mm/month`` = ``mm month-1``);
    units pint cannot read are the same only when spelled the same."""
    if str(a).strip() == str(b).strip():
        return True
    try:
        return parse(a, "units") == parse(b, "units")
    except InputError:
        return False


def _units_of(da: xr.DataArray, default: str) -> str:
    text = da.attrs.get("units")
    return default if text is None or str(text).strip() == "" else str(text).strip()


def _named(da: xr.DataArray, name: str) -> str:
    return str(da.name) if da.name is not None else name


def _finish(out: xr.DataArray, da: xr.DataArray, units: str, name: str, *, new_quantity: bool = False,
            **extra) -> xr.DataArray:
    """Attributes of a converted array: ``units``, ``extra``, the CF standard name of ``name`` (kept from
    the input unless ``new_quantity``, e.g. a flux that became an amount: then replaced or dropped)."""
    attrs = {**da.attrs, "units": units, **extra}
    if new_quantity:
        attrs.pop("standard_name", None)
    if name in STANDARD_NAMES and "standard_name" not in attrs:
        attrs["standard_name"] = STANDARD_NAMES[name]
    out.attrs = attrs
    out.name = da.name
    return out


def _factor(src: pint.Unit | pint.Quantity, tgt: pint.Unit, name: str, text: str) -> float:
    """The factor from ``src`` to ``tgt`` (pint), or InputError naming the input."""
    try:
        return (src if isinstance(src, pint.Quantity) else UREG.Quantity(1.0, src)).to(tgt).magnitude
    except pint.errors.PintError as err:
        raise InputError(f"{name}: units {text!r} do not convert to {str(tgt)!r} ({err})") from None


def convert(da: xr.DataArray, target: str, name: str | None = None) -> xr.DataArray:
    """``da`` in the units ``target`` (converted with pint; lazy for dask); no ``units`` = ``target``.

    Refused (InputError) when its units cannot be read or have another dimensionality than ``target``.
    """
    name = _named(da, name or "input")
    text = _units_of(da, target)
    src, tgt = parse(text, name), parse(target, f"declared units of {name}")
    if src == tgt:
        return da
    if src.dimensionality != tgt.dimensionality:
        raise InputError(f"{name}: found units {text!r} ({src.dimensionality}); expected units convertible "
                         f"to {target!r} ({tgt.dimensionality})")
    if tgt.dimensionality == _TEMPERATURE and len(src._units) != 1:  # e.g. "deg C" = angle degree x delta degC
        raise InputError(f"{name}: found units {text!r}, read as {src}; expected one temperature unit such as "
                         f"'degC' or 'K' (target {target!r})")
    if _factor(UREG.Quantity(0.0, src), tgt, name, text) == 0.0:  # no offset: one factor
        out = da * _factor(src, tgt, name, text)
    else:  # offset units (degC, degF): pint converts each block (units passed as text to dask workers)
        out = xr.apply_ufunc(_convert_block, da, kwargs={"src": str(src), "tgt": str(tgt)}, dask="parallelized",
                             output_dtypes=[da.dtype])
    return _finish(out, da, target, name)


def _convert_block(values: np.ndarray, src: str, tgt: str) -> np.ndarray:
    return UREG.Quantity(values, src).to(tgt).magnitude


def step_of(da: xr.DataArray, name: str) -> str:
    """The time step of ``da``'s ``time`` axis: "month" (1st of each month), "year" (1 January of each
    year) or "day" (midnight of consecutive days); anything else is refused."""
    if "time" not in da.coords:
        raise InputError(f"{name}: a rate or flux needs a 'time' coordinate to give amounts per time step")
    try:
        t = pd.DatetimeIndex(np.atleast_1d(da["time"].values))
    except (TypeError, ValueError):
        raise InputError(f"{name}: 'time' of dtype {da['time'].dtype}; expected dates") from None
    if bool((t.hour == 0).all() and (t.minute == 0).all()):
        if bool((t.day == 1).all()):
            if bool((t.month == 1).all()) and t.year.is_unique:
                return "year"
            return "month"
        if t.size < 2 or bool((np.diff(t.values) == np.timedelta64(1, "D")).all()):
            return "day"
    raise InputError(f"{name}: time steps such as {t[0]} are neither daily, monthly (1st of the month) nor "
                     "annual (1 January); a rate cannot be turned into amounts per step")


def _step_days(da: xr.DataArray, step: str) -> xr.DataArray:
    """Length of each time step in days (days of the month, of the year, or 1)."""
    t = da["time"]
    if step == "month":
        days = t.dt.days_in_month
    elif step == "year":
        days = xr.where(t.dt.is_leap_year, 366, 365)
    else:
        days = xr.ones_like(t, dtype=np.int64)
    return days.astype(np.float64)


@dataclass(frozen=True)
class Amount:
    """Declaration of a water amount per time step (precipitation, evapotranspiration): ``units`` a
    depth (e.g. "mm"); ``step`` "month", "year", "day", or None for the step of the time axis;
    ``default`` the units of an input without a ``units`` attribute (None: ``units``)."""

    units: str = "mm"
    step: str | None = None
    default: str | None = None

    def convert(self, da: xr.DataArray, name: str) -> xr.DataArray:
        return to_amount(da, self.units, name, step=self.step, default=self.default)


def to_amount(da: xr.DataArray, target: str, name: str | None = None, *, step: str | None = None,
              default: str | None = None) -> xr.DataArray:
    """Water amounts per time step of ``da`` in the depth ``target`` (see the module docstring).

    amount = value x f                       for a depth or a mass per area (f from pint; kg m-2 / 1000 kg m-3)
    amount = value x f                       for a rate per the step itself (mm/month, monthly steps)
    amount = value x f x (days of the step)  for a rate per another time (mm d-1, kg m-2 s-1; f per day)

    ``step``: the series' time step when the caller knows it (SPI: "month"); None takes it from the
    ``time`` axis (:func:`step_of`), which is also checked against ``step`` where days are needed.
    ``default``: the units assumed when ``da`` has no ``units`` attribute (None: ``target``).
    """
    name = _named(da, name or "input")
    text = _units_of(da, default or target)
    src, tgt = parse(text, name), parse(target, f"declared units of {name}")
    if tgt.dimensionality != _LENGTH:
        raise InputError(f"to_amount: target units {target!r} are not a depth")
    if step is not None and step not in STEPS:
        raise InputError(f"to_amount: step {step!r}; expected one of {STEPS}")
    per_time = (src * UREG.Unit("s")).dimensionality
    if src.dimensionality not in (_LENGTH, _AREAL_MASS) and per_time not in (_LENGTH, _AREAL_MASS):
        raise InputError(
            f"{name}: found units {text!r} ({src.dimensionality}); expected a water amount per time step in "
            f"{target!r}: a depth (mm, m), a mass per area (kg m-2), or either per time (mm d-1, kg m-2 s-1)")
    amount, days = src, None
    if src.dimensionality not in (_LENGTH, _AREAL_MASS):  # a rate or a flux
        step = step or step_of(da, name)
        # pint's unit container, e.g. {"millimeter": 1, "month": -1}: a rate per the step itself
        if dict(src._units).get(str(UREG.Unit(step))) == -1:
            amount = src * UREG.Unit(step)
        else:
            found = step_of(da, name)
            if found != step:
                raise InputError(f"{name}: declared as amounts per {step}, but its time axis has steps of one {found}")
            amount, days = src * UREG.Unit("day"), _step_days(da, step)
    if amount.dimensionality == _AREAL_MASS:
        factor = _factor(UREG.Quantity(1.0, amount) / WATER_DENSITY, tgt, name, text)
    else:
        factor = 1.0 if amount == tgt else _factor(amount, tgt, name, text)
    if days is None and factor == 1.0:
        return da
    out = da * factor if days is None else da * (days if factor == 1.0 else days * factor)
    return _finish(out, da, target, name, new_quantity=src.dimensionality != _LENGTH, cell_methods="time: sum")


def _convert_argument(value, declared, name: str):
    if not isinstance(value, xr.DataArray):
        return value  # numbers and numpy arrays are taken in the declared units
    if isinstance(declared, Amount):
        return declared.convert(value, _named(value, name))
    return convert(value, declared, _named(value, name))


def declare_units(**declared):
    """Decorator: the named DataArray arguments are converted to their declared units before the call.

    ``declared`` maps an argument name to a unit string (e.g. ``tmin="degC"``, ``u2="m s-1"``) or an
    :class:`Amount`. The declarations stay readable as ``func.declared_units``.
    """
    for arg, decl in declared.items():
        if not isinstance(decl, Amount):
            parse(decl, f"declared units of {arg}")

    def wrap(func):
        sig = inspect.signature(func)
        unknown = set(declared) - set(sig.parameters)
        if unknown:
            raise TypeError(f"declare_units: {func.__name__} has no argument {sorted(unknown)}")

        @functools.wraps(func)
        def checked(*args, **kwargs):
            bound = sig.bind(*args, **kwargs)
            for arg, decl in declared.items():
                if arg in bound.arguments:
                    bound.arguments[arg] = _convert_argument(bound.arguments[arg], decl, arg)
            return func(*bound.args, **bound.kwargs)

        checked.declared_units = dict(declared)
        return checked

    return wrap


# --------------------------------------------------------------------------------------------------
# the assessment's inputs
# --------------------------------------------------------------------------------------------------

#: Units the engine computes in, per assessment input (and product layer) name: each input read from a
#: file is converted to them from the units its attribute or the spec's ``units:`` declares.
INPUT_UNITS = {
    "precipitation": Amount("mm"),
    "tmin": "degC",
    "tmax": "degC",
    "tmean": "degC",
    "wind_speed": "m s-1",
    "soc": "t ha-1",
    "sand": "%",
    "silt": "%",
    "clay": "%",
    "organic_matter": "%",
}


def convert_input(da: xr.DataArray, name: str, source: str) -> xr.DataArray:
    """Input ``name`` in the engine's units (:data:`INPUT_UNITS`); others are returned as they are."""
    declared = INPUT_UNITS.get(name)
    if declared is None:
        return da
    try:
        return _convert_argument(da, declared, name)
    except InputError as err:
        raise InputError(f"input {name!r} ({source}): {err}") from None
