"""Aridity index and UNEP aridity zones (METHODS 3): AI = mean annual P / mean annual PET over a climate
period, its zones (hyper-arid .. humid), the drylands (AI < 0.65) and the change of zone between periods.
PET comes from :mod:`dldd.indicators.pet`.

References
----------
UNEP 1992 / Middleton & Thomas 1997, World Atlas of Desertification (aridity classes).
Zomer, Xu & Trabucco 2022, Global Aridity Index and ET0 database v3, Scientific Data 9: 409.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from dldd.core.attrs import output_attrs
from dldd.core.classes import class_raster
from dldd.core.legend import CLASS_NODATA, Legend
from dldd.core.units import to_amount
from dldd.errors import GridMismatchError, InputError

__all__ = [
    "ARIDITY_ZONES",
    "ARIDITY_SHIFT",
    "aridity_index",
    "aridity_class",
    "dryland_mask",
    "aridity_shift",
]

# --------------------------------------------------------------------------------------------------
# Constants (source in each comment)
# --------------------------------------------------------------------------------------------------

#: Aridity index classes (UNEP 1992; Middleton & Thomas 1997; METHODS 3): upper bounds, lower-inclusive.
HYPER_ARID_THRESHOLD = 0.05
#: Hyper-arid bound of the Global Aridity Index v3 (Zomer et al. 2022): an option of aridity_class.
HYPER_ARID_THRESHOLD_GAI_V3 = 0.03
ARID_THRESHOLD = 0.20
SEMI_ARID_THRESHOLD = 0.50
DRY_SUBHUMID_THRESHOLD = 0.65
#: Drylands: AI < 0.65 (UNCCD art. 1; METHODS 3).
DRYLAND_THRESHOLD = DRY_SUBHUMID_THRESHOLD
#: Length of the climate period for the aridity index, years (WMO normal; METHODS 3).
CLIMATE_PERIOD_YEARS = 30

HYPER_ARID, ARID, SEMI_ARID, DRY_SUBHUMID, HUMID = 1, 2, 3, 4, 5

#: Aridity zones (UNEP), int8 codes 1..5; no data CLASS_NODATA.
ARIDITY_ZONES = Legend.from_pairs(
    "aridity_zones",
    [
        (HYPER_ARID, "hyper-arid", "#a50026"),
        (ARID, "arid", "#f46d43"),
        (SEMI_ARID, "semi-arid", "#fee08b"),
        (DRY_SUBHUMID, "dry sub-humid", "#d9ef8b"),
        (HUMID, "humid", "#1a9850"),
    ],
    description="UNEP aridity zones of the aridity index P/PET (METHODS 3)",
)

DRIER, SAME, WETTER = -1, 0, 1

#: Change of aridity zone between two periods: drier -1, same 0, wetter +1.
ARIDITY_SHIFT = Legend.from_pairs(
    "aridity_shift",
    [(DRIER, "drier", "#d73027"), (SAME, "same", "#f5f5dc"), (WETTER, "wetter", "#4575b4")],
    description="Change of UNEP aridity zone from one climate period to the next (METHODS 3)",
)

_REF_AI = (
    "UNEP 1992 / Middleton & Thomas 1997, World Atlas of Desertification; "
    "Zomer, Xu & Trabucco 2022, Sci. Data 9: 409 (Global Aridity Index v3)"
)


# --------------------------------------------------------------------------------------------------
# Aridity index and zones (METHODS 3)
# --------------------------------------------------------------------------------------------------


def _annual_totals(da, name: str) -> xr.DataArray:
    """Annual totals (mm) along a new dim ``year`` from a monthly or annual series (see aridity_index)."""
    if not isinstance(da, xr.DataArray) or "time" not in da.dims:
        raise InputError(f"{name}: expected a DataArray with a 'time' dimension of monthly or annual amounts")
    tvals = da["time"].values
    if not np.issubdtype(tvals.dtype, np.datetime64):
        raise InputError(f"{name}: found time of dtype {tvals.dtype}, expected datetime64 dates")
    month_start = tvals.astype("datetime64[M]").astype("datetime64[D]")
    off_start = tvals.astype("datetime64[ns]") != month_start.astype("datetime64[ns]")
    if np.any(off_start):
        raise InputError(
            f"{name}: found time step {tvals[off_start][0]}, expected monthly (1st of each month) or annual "
            "(1 January) steps"
        )
    years = da["time"].dt.year
    annual = bool((da["time"].dt.month == 1).all()) and np.unique(years).size == years.size
    if not annual and np.unique(tvals.astype("datetime64[M]")).size != tvals.size:
        raise InputError(f"{name}: found repeated months in time, expected one value per month or per year")
    da = to_amount(da, "mm", name)  # amounts per step in mm from the units (rates x the days of each step)
    if annual:
        return da.assign_coords(year=years).swap_dims(time="year").drop_vars("time")
    totals = da.groupby(years).sum("time", skipna=False)
    n_months = years.groupby(years).count()
    complete = n_months["year"].values[n_months.values == 12]
    return totals.sel(year=complete)


def aridity_index(pr: xr.DataArray, pet: xr.DataArray, period=None) -> xr.DataArray:
    """Aridity index AI = mean annual P / mean annual PET over a climate period (UNEP 1992; METHODS 3).

    ``pr`` and ``pet``: DataArrays with a ``time`` dimension, either monthly (1st of each month) or
    annual (1 January) steps, as amounts per step (units "mm", "kg m-2", "mm/month" on a monthly and
    "mm/year" on an annual series, or no units attr = mm) or as rates and fluxes ("mm d-1", the PET
    functions' output, "kg m-2 s-1"), which are multiplied by the days of each month / year
    (:func:`dldd.core.units.to_amount`); other units are refused. Monthly series are summed per calendar year; only years with all
    12 months are used. AI is the ratio of the period means of the annual totals (as Zomer et al.
    2022); pixel-years with NaN are skipped in the means.

    ``period``: ``(first_year, last_year)`` inclusive; default (None) the last 30 years
    (:data:`CLIMATE_PERIOD_YEARS`) present in both inputs, or all common years if fewer.
    PET of 0 gives AI = inf where P > 0 and NaN where P = 0. Result: float DataArray without ``time``.
    """
    p_year = _annual_totals(pr, "pr")
    e_year = _annual_totals(pet, "pet")
    common = np.intersect1d(p_year["year"].values, e_year["year"].values)
    if common.size == 0:
        raise InputError(
            f"pr, pet: found no complete year in common (pr {_year_span(p_year)}, pet {_year_span(e_year)})"
        )
    if period is None:
        years = common[-CLIMATE_PERIOD_YEARS:]
    else:
        try:
            first, last = (int(y) for y in period)
        except (TypeError, ValueError) as exc:
            raise InputError(f"period: found {period!r}, expected (first_year, last_year)") from exc
        if last < first:
            raise InputError(f"period: found {first}-{last}, expected first_year <= last_year")
        years = np.arange(first, last + 1)
        missing = np.setdiff1d(years, common)
        if missing.size:
            raise InputError(
                f"period: years {missing.tolist()} are not complete in both pr and pet "
                f"(pr {_year_span(p_year)}, pet {_year_span(e_year)})"
            )
    p_mean = p_year.sel(year=years).mean("year")
    e_mean = e_year.sel(year=years).mean("year")
    try:
        p_mean, e_mean = xr.align(p_mean, e_mean, join="exact")
    except ValueError as exc:
        raise GridMismatchError(f"pr, pet: their grids differ ({exc}); expected the same coordinates") from exc
    ai = xr.where(e_mean > 0, p_mean / e_mean.where(e_mean > 0), xr.where(p_mean > 0, np.inf, np.nan))
    ai = ai.where(p_mean.notnull() & e_mean.notnull())
    ai = ai.transpose(*[d for d in pr.dims if d in ai.dims], ...)
    first, last = int(years[0]), int(years[-1])
    ai.attrs = output_attrs("1", "aridity index (mean annual precipitation / mean annual PET)",
                            "ratio of period means of annual totals", f"period={first}-{last} ({years.size} years)",
                            _REF_AI, period_start=first, period_end=last)
    return ai.rename("aridity_index")


def _year_span(totals: xr.DataArray) -> str:
    y = totals["year"].values
    return f"{y.min()}-{y.max()}" if y.size else "none"


def aridity_class(ai, hyper_arid_threshold: float = HYPER_ARID_THRESHOLD):
    """UNEP aridity zones of the aridity index, int8 codes of :data:`ARIDITY_ZONES` (METHODS 3).

    1 hyper-arid AI < ``hyper_arid_threshold`` (0.05, UNEP; 0.03 as the Global Aridity Index v3,
    :data:`HYPER_ARID_THRESHOLD_GAI_V3`); 2 arid < 0.20; 3 semi-arid < 0.50; 4 dry sub-humid < 0.65;
    5 humid >= 0.65. Each bound belongs to the wetter class (AI = 0.20 is semi-arid); bounds are compared
    in the dtype of ``ai``, so float32 0.65 is humid. NaN gives CLASS_NODATA (-128).
    """
    if not (0.0 < hyper_arid_threshold < ARID_THRESHOLD):
        raise InputError(
            f"hyper_arid_threshold: found {hyper_arid_threshold}, expected a value in (0, {ARID_THRESHOLD})"
        )
    was_da = isinstance(ai, xr.DataArray)
    a = ai if was_da else xr.DataArray(np.asarray(ai))
    if not np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float64)
    cls = class_raster(
        a, (hyper_arid_threshold, ARID_THRESHOLD, SEMI_ARID_THRESHOLD, DRY_SUBHUMID_THRESHOLD), (True,) * 4,
        (HYPER_ARID, ARID, SEMI_ARID, DRY_SUBHUMID, HUMID), ARIDITY_ZONES,
        output_attrs(
            "1",
            "aridity zone (UNEP)",
            "thresholds on the aridity index",
            f"hyper_arid<{hyper_arid_threshold}, arid<{ARID_THRESHOLD}, semi_arid<{SEMI_ARID_THRESHOLD}, "
            f"dry_subhumid<{DRY_SUBHUMID_THRESHOLD}",
            _REF_AI,
        ),
    )
    if not was_da:
        return cls.values
    return cls.rename("aridity_zone")


def dryland_mask(ai, threshold: float = DRYLAND_THRESHOLD):
    """Drylands: AI < 0.65 (hyper-arid to dry sub-humid; METHODS 3). Boolean; NaN gives False."""
    was_da = isinstance(ai, xr.DataArray)
    a = ai if was_da else xr.DataArray(np.asarray(ai))
    if not np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float64)
    mask = a < np.asarray(threshold, dtype=a.dtype)
    if not was_da:
        return mask.values
    mask.attrs = output_attrs("1", "drylands (aridity index below the dryland threshold)",
                              "threshold on the aridity index", f"ai<{threshold}", _REF_AI)
    return mask.rename("dryland")


def aridity_shift(class_a, class_b):
    """Change of aridity zone from period a to period b: drier -1, same 0, wetter +1 (:data:`ARIDITY_SHIFT`).

    ``class_a``, ``class_b``: int codes of :data:`ARIDITY_ZONES` (1 hyper-arid .. 5 humid) on the same
    grid, e.g. from :func:`aridity_class` of two climate periods. Drier means a lower code in b.
    Where either is no data (or not a zone code) the result is CLASS_NODATA (-128). int8.
    Cross-tabulate ``class_a`` and ``class_b`` for the full table of class shifts.
    """
    was_da = isinstance(class_a, xr.DataArray) or isinstance(class_b, xr.DataArray)
    a = class_a if isinstance(class_a, xr.DataArray) else xr.DataArray(np.asarray(class_a))
    b = class_b if isinstance(class_b, xr.DataArray) else xr.DataArray(np.asarray(class_b))
    for name, c in (("class_a", a), ("class_b", b)):
        if not np.issubdtype(c.dtype, np.integer):
            raise InputError(
                f"{name}: found dtype {c.dtype}, expected integer aridity zone codes {ARIDITY_ZONES.codes}"
            )
    try:
        a, b = xr.align(a, b, join="exact")
    except ValueError as exc:
        raise GridMismatchError(f"class_a, class_b: their grids differ ({exc}); expected the same coordinates") from exc
    codes = ARIDITY_ZONES.codes
    valid = a.isin(codes) & b.isin(codes)
    diff = b.astype(np.int16) - a.astype(np.int16)
    shift = xr.where(diff < 0, DRIER, xr.where(diff > 0, WETTER, SAME))
    shift = xr.where(valid, shift, CLASS_NODATA).astype(np.int8)
    if not was_da:
        return shift.values
    shift.attrs = output_attrs("1", "change of aridity zone", "sign of the zone code difference b - a",
                               "codes of ARIDITY_ZONES, wetter = higher code", _REF_AI, legend=ARIDITY_SHIFT)
    return shift.rename("aridity_shift")
