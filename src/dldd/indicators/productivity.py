"""Land productivity sub-indicator of SDG 15.3.1: trajectory, state, performance and their combination.

Inputs are annual vegetation-index series (annual mean or integral of NDVI, float, NDVI units in
[-1, 1]) with dims ("time", "y", "x") and ``time`` at 1 January of each year (METHODS 1.1-1.4).
Class outputs are int8 with degraded -1, stable 0, improved +1 and no data ``CLASS_NODATA`` (-128).

Two methods: ``"gpg2"`` (default; UNCCD Good Practice Guidance v2, 2021) and ``"te"`` (Trends.Earth,
which follows GPG v1 for state). Thresholds that Trends.Earth states in NDVI x 10000 units are kept in
those units as constants and divided by ``NDVI_INTEGER_SCALE`` here, with a tolerance of
``X10000_TOLERANCE`` so that values converted from the integer products compare as the integers do.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from dldd.core.attrs import output_attrs
from dldd.core.legend import CLASS_NODATA, Legend
from dldd.core.units import Amount
from dldd.errors import InputError
from dldd.indicators.trend import MK_MIN_YEARS, mann_kendall, time_in_years
from dldd.core.quantile import unit_quantile_map_lazy, unit_quantile_map

# --------------------------------------------------------------------------------------------------
# Constants (METHODS 1.1 - 1.4)
# --------------------------------------------------------------------------------------------------

#: GPG2: |Z| > 1.96 (95 %, two-sided) is degrading / improving; the only level that counts.
Z_SIGNIFICANT = 1.96
#: GPG2: 1.28 < |Z| <= 1.96 (90 %) is "potentially" degrading / improving.
Z_POTENTIAL = 1.28

#: GPG2 five levels on Z (trajectory 1.1 and state 1.2).
LEVEL_DEGRADING, LEVEL_POTENTIALLY_DEGRADING, LEVEL_NO_CHANGE = -2, -1, 0
LEVEL_POTENTIALLY_IMPROVING, LEVEL_IMPROVING = 1, 2
FIVE_LEVEL_MEANINGS = (
    "degrading potentially_degrading no_change potentially_improving improving"
)

#: SDG three classes (GPG2).
DEGRADED, STABLE, IMPROVED = -1, 0, 1
#: Performance classes: degraded -1, not degraded 0.
NOT_DEGRADED = 0

#: Scale of integer NDVI products (NDVI x 10000), in which Trends.Earth states its thresholds.
NDVI_INTEGER_SCALE = 10000
#: Tolerance in x10000 units for "<=" comparisons of thresholds stated in those units.
X10000_TOLERANCE = 1e-6

#: TE: a trajectory slope whose magnitude is <= 10 (NDVI x 10000 per year) is forced to stable.
TE_STABLE_SLOPE_X10000 = 10
#: TE: a state change whose |change of mean| <= 100 (NDVI x 10000) is forced to 0.
TE_STATE_MIN_CHANGE_X10000 = 100

#: TE: confidence levels (one-sided, %) of the Mann-Kendall critical values; levels +-1, +-2, +-3.
TE_CONFIDENCE_LEVELS = (90, 95, 99)
#: TE: only a trend significant at >= 95 % counts as degraded / improved (level +-2 or +-3).
TE_COUNTING_CONFIDENCE = 95
#: TE: first n of the critical-value table.
TE_MK_TABLE_N_MIN = 4
#: TE: one-sided critical values of the Mann-Kendall S for n = 4..60 years (rows) at 90, 95 and 99 %
#: (columns); |S| >= value is significant; 0 = the table gives no value (n = 60 at 99 %: a trend
#: significant at 95 % stays level 2 there). Source: Trends.Earth ``te_algorithms`` (get_kendall_coef),
#: after Hollander & Wolfe, Nonparametric Statistical Methods, table A.30; the values are those of
#: METHODS 1.1 (check values n=16: 28/36/56, n=20: 40/50/76, n=24: 52/66/98, n=41: 114/146/213,
#: n=60: 202/258/none).
TE_MK_CRITICAL_S = np.array(
    [
        [4, 4, 6], [6, 6, 8], [7, 9, 11], [9, 11, 18], [10, 14, 22],  # n = 4..8
        [12, 16, 25], [15, 19, 29], [17, 21, 34], [18, 24, 38], [22, 26, 41],  # n = 9..13
        [23, 31, 47], [27, 33, 50], [28, 36, 56], [32, 40, 61], [35, 43, 65],  # n = 14..18
        [37, 47, 70], [40, 50, 76], [42, 54, 81], [45, 59, 87], [49, 63, 92],  # n = 19..23
        [52, 66, 98], [56, 70, 105], [59, 75, 111], [61, 79, 116], [66, 84, 124],  # n = 24..28
        [68, 88, 129], [73, 93, 135], [75, 97, 142], [80, 102, 150], [84, 106, 155],  # n = 29..33
        [87, 111, 163], [91, 115, 170], [94, 120, 176], [98, 126, 183], [103, 131, 191],  # n = 34..38
        [107, 137, 198], [110, 142, 206],  # n = 39..40
        [114, 146, 213], [119, 151, 221], [123, 157, 228], [128, 162, 236], [132, 168, 245],  # n = 41..45
        [135, 173, 253], [141, 179, 260], [144, 186, 268], [150, 190, 277], [153, 197, 285],  # n = 46..50
        [159, 203, 294], [162, 208, 302], [168, 214, 311], [173, 221, 319], [177, 227, 328],  # n = 51..55
        [182, 232, 336], [186, 240, 345], [191, 245, 355], [197, 251, 364], [202, 258, 0],  # n = 56..60
    ],
    dtype=np.int16,
)
#: Beyond n = 60 (end of Trends.Earth's table) significance uses the normal approximation: one-sided
#: standard normal quantiles at 90, 95 and 99 % against the continuity-corrected Z (Gilbert 1987, 16.4.2).
TE_Z_ONE_SIDED = (1.2815515655446004, 1.6448536269514722, 2.3263478740408408)

#: GPG2 state: baseline of 13 years (n-15 .. n-3) and recent period of 3 years (n-2 .. n).
STATE_BASELINE_YEARS = 13
STATE_RECENT_YEARS = 3
#: GPG2 state: sample standard deviation of the baseline (ddof = 1).
STATE_DDOF = 1
#: TE state (GPG v1): the baseline range is extended by 5 % at both ends ...
TE_STATE_RANGE_EXTENSION = 0.05
#: ... and cut into 10 percentile classes (upper bounds at the 10th, 20th, .., 90th percentile).
TE_STATE_PERCENTILES = (10, 20, 30, 40, 50, 60, 70, 80, 90)
#: TE state: a class change <= -2 is degraded, >= +2 improved.
TE_STATE_CLASS_CHANGE = 2

#: GPG2 performance: percentile of the period-mean VI among the pixels of a land unit ...
PERFORMANCE_PERCENTILE = 90
#: ... and the ratio below which a pixel is degraded.
PERFORMANCE_RATIO_THRESHOLD = 0.5

#: METHODS 1.4, as data. Index [T + 1, S + 1, P + 1] with T, S in {-1, 0, 1} (degraded, stable,
#: improved) and P in {-1, 0} (degraded, not degraded).
#: GPG2 three-class land productivity dynamics (default).
LPD_GPG2 = np.array(
    [
        # T = degraded
        [[-1, -1],  # S = degraded:  P = D, N
         [-1, 0],   # S = stable
         [-1, -1]],  # S = improved
        # T = stable
        [[-1, 0],
         [-1, 0],
         [0, 0]],
        # T = improved
        [[-1, 1],
         [1, 1],
         [1, 1]],
    ],
    dtype=np.int8,
)
#: TE five classes: 1 declining, 2 early sign of decline, 3 stable but stressed, 4 stable, 5 increasing.
LPD5_DECLINING, LPD5_EARLY_DECLINE, LPD5_STRESSED, LPD5_STABLE, LPD5_INCREASING = 1, 2, 3, 4, 5
LPD5_MEANINGS = "declining early_sign_of_decline stable_but_stressed stable increasing"
#: The five LPD classes as a legend (names of the UNCCD reporting template, SO1-2).
LPD5_LEGEND = Legend.from_pairs("lpd5", [
    (LPD5_DECLINING, "declining", "#ab2727"), (LPD5_EARLY_DECLINE, "moderate decline", "#ed7325"),
    (LPD5_STRESSED, "stressed", "#ffd954"), (LPD5_STABLE, "stable", "#a4d4a4"), (LPD5_INCREASING, "increasing", "#45a146")])
LPD_TE5 = np.array(
    [
        # T = degraded
        [[1, 1],  # S = degraded:  P = D, N
         [1, 1],  # S = stable
         [1, 1]],  # S = improved
        # T = stable
        [[1, 2],
         [3, 4],
         [4, 4]],
        # T = improved
        [[2, 5],
         [5, 5],
         [5, 5]],
    ],
    dtype=np.int8,
)
#: Five LPD classes (TE, JRC, FAO-WOCAT: 1 declining .. 5 increasing) to three SDG classes, indexed by
#: the class: 1-2 degraded, 3-4 stable, 5 improved (index 0 is not a class).
LPD5_TO_SDG3 = np.array([CLASS_NODATA, -1, -1, 0, 0, 1], dtype=np.int8)

METHODS = ("gpg2", "te")
CLIMATE_CORRECTIONS = (None, "restrend", "rue")

GPG2_REFERENCE = (
    "Sims N.C. et al. (2021) Good Practice Guidance for SDG Indicator 15.3.1, version 2.0, UNCCD"
)
TE_REFERENCE = (
    "Trends.Earth (Conservation International) te_algorithms; Sims N.C. et al. (2017) Good Practice "
    "Guidance for SDG Indicator 15.3.1, version 1.0, UNCCD"
)
RESTREND_REFERENCE = "Evans J. & Geerken R. (2004) J. Arid Environ. 57:535-554; Wessels K.J. et al. (2007)"
RUE_REFERENCE = "Le Houerou H.N. (1984) J. Arid Environ. 7:213-247; Prince S.D. et al. (1998)"

#: Precipitation of the climate corrections: annual totals in metres, converted from any water amount
#: or rate (mm, kg m-2, mm/year, kg m-2 s-1, ...; dldd.core.units); no units attribute = mm.
ANNUAL_PRECIPITATION = Amount("m", step="year", default="mm")

_CLASS3_MEANINGS = "degraded stable improved"


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


def _elementwise(func, *arrays, dtype):
    """Apply a numpy function element by element, lazily for dask (one code path)."""
    return xr.apply_ufunc(func, *arrays, dask="parallelized", output_dtypes=[dtype])


def _check_method(method):
    if method not in METHODS:
        raise InputError(f"method: got {method!r}, expected one of {METHODS}")


def _check_series(da, name, dim="time"):
    if not isinstance(da, xr.DataArray):
        raise InputError(f"{name}: expected an xarray.DataArray, got {type(da).__name__}")
    if dim not in da.dims:
        raise InputError(f"{name}: no {dim!r} dimension (dims {da.dims}); expected an annual series")
    if not np.issubdtype(da.dtype, np.floating):
        raise InputError(
            f"{name}: dtype {da.dtype}; expected floats (vegetation index in [-1, 1]; scaled integer "
            "products are converted at the source)"
        )


def _years(da, dim="time"):
    return time_in_years(da, dim).astype(int)


def _select_years(da, first, last, name, dim="time"):
    """The years first..last of ``da``, all of which must be present."""
    years = _years(da, dim)
    wanted = np.arange(first, last + 1)
    missing = sorted(set(wanted.tolist()) - set(years.tolist()))
    if missing:
        raise InputError(
            f"{name}: years {missing} are missing; the series covers {years.min()}..{years.max()} "
            f"and {first}..{last} are needed"
        )
    return da.isel({dim: np.isin(years, wanted)})


# --------------------------------------------------------------------------------------------------
# Classification of Z (trajectory and state, GPG2)
# --------------------------------------------------------------------------------------------------


def _z_levels_np(z):
    lvl = np.full(np.shape(z), CLASS_NODATA, dtype=np.int8)
    lvl[z < -Z_SIGNIFICANT] = LEVEL_DEGRADING
    lvl[(z >= -Z_SIGNIFICANT) & (z < -Z_POTENTIAL)] = LEVEL_POTENTIALLY_DEGRADING
    lvl[(z >= -Z_POTENTIAL) & (z <= Z_POTENTIAL)] = LEVEL_NO_CHANGE
    lvl[(z > Z_POTENTIAL) & (z <= Z_SIGNIFICANT)] = LEVEL_POTENTIALLY_IMPROVING
    lvl[z > Z_SIGNIFICANT] = LEVEL_IMPROVING
    return lvl


def z_levels(z: xr.DataArray) -> xr.DataArray:
    """GPG2 five levels of a Z score (int8): Z < -1.96 -> -2 degrading; -1.96 <= Z < -1.28 -> -1;
    -1.28 <= Z <= 1.28 -> 0; 1.28 < Z <= 1.96 -> +1; Z > 1.96 -> +2 improving; NaN -> no data."""
    return _elementwise(_z_levels_np, z, dtype=np.int8)


def _levels_to_sdg3_np(level, counting):
    out = np.where(level <= -counting, DEGRADED, np.where(level >= counting, IMPROVED, STABLE))
    return np.where(level == CLASS_NODATA, CLASS_NODATA, out).astype(np.int8)


def levels_to_sdg3(level: xr.DataArray, counting: int = LEVEL_IMPROVING) -> xr.DataArray:
    """Three SDG classes from signed levels: level <= -counting degraded, >= counting improved.

    GPG2 five levels: counting = 2 (only |Z| > 1.96 counts). TE significance levels (+-1 90 %,
    +-2 95 %, +-3 99 %): counting = 2 (only >= 95 % counts)."""
    return _elementwise(lambda v: _levels_to_sdg3_np(v, counting), level, dtype=np.int8)


# --------------------------------------------------------------------------------------------------
# Trajectory (METHODS 1.1)
# --------------------------------------------------------------------------------------------------


def te_critical_s(n, confidence: int = TE_COUNTING_CONFIDENCE):
    """TE one-sided critical value of Mann-Kendall S for n years (table for n = 4..60, METHODS 1.1).

    Returns an int for a scalar ``n`` in range, -1 outside the table, 0 where the table has no value
    (n = 60 at 99 %; arrays: elementwise)."""
    if confidence not in TE_CONFIDENCE_LEVELS:
        raise InputError(f"confidence: got {confidence!r}, expected one of {TE_CONFIDENCE_LEVELS}")
    col = TE_CONFIDENCE_LEVELS.index(confidence)
    n = np.asarray(n)
    n_max = TE_MK_TABLE_N_MIN + TE_MK_CRITICAL_S.shape[0] - 1
    inside = (n >= TE_MK_TABLE_N_MIN) & (n <= n_max)
    idx = np.clip(n - TE_MK_TABLE_N_MIN, 0, TE_MK_CRITICAL_S.shape[0] - 1).astype(int)
    out = np.where(inside, TE_MK_CRITICAL_S[idx, col], -1)
    return int(out) if out.ndim == 0 else out


def _te_levels_np(s, z, slope, n, min_slope):
    s, z, slope = (np.asarray(v, dtype=np.float64) for v in (s, z, slope))
    valid = np.isfinite(s) & np.isfinite(slope)
    n_int = np.where(valid, n, 0).astype(np.int64)
    n_max = TE_MK_TABLE_N_MIN + TE_MK_CRITICAL_S.shape[0] - 1
    abs_s = np.abs(np.where(valid, s, 0.0))
    abs_z = np.abs(np.where(valid, z, 0.0))
    level = np.zeros(s.shape, dtype=np.int64)
    for lev, conf in enumerate(TE_CONFIDENCE_LEVELS, start=1):
        crit = te_critical_s(n_int, conf)
        in_table = (crit > 0) & (abs_s >= crit)
        beyond = (n_int > n_max) & (abs_z >= TE_Z_ONE_SIDED[lev - 1])
        level = np.where(in_table | beyond, lev, level)
    b = np.where(valid, slope, 0.0)
    level = np.sign(b).astype(np.int64) * level
    flat = np.abs(b) * NDVI_INTEGER_SCALE <= min_slope * NDVI_INTEGER_SCALE + X10000_TOLERANCE
    level = np.where(flat, 0, level)
    return np.where(valid, level, CLASS_NODATA).astype(np.int8)


def _precip_in_metres(precipitation):
    return ANNUAL_PRECIPITATION.convert(precipitation, "precipitation")


def _align_precipitation(ndvi, precipitation, dim="time"):
    _check_series(precipitation, "precipitation", dim)
    y_vi, y_p = _years(ndvi, dim), _years(precipitation, dim)
    if not set(y_vi.tolist()) <= set(y_p.tolist()):
        raise InputError(
            f"precipitation: years {sorted(set(y_vi.tolist()) - set(y_p.tolist()))} of the vegetation "
            f"index series are missing (precipitation covers {y_p.min()}..{y_p.max()})"
        )
    precipitation = precipitation.isel({dim: np.isin(y_p, y_vi)}).assign_coords({dim: ndvi[dim]})
    try:
        _, precipitation = xr.align(ndvi, precipitation, join="exact")
    except ValueError as err:
        raise InputError(f"precipitation: grid differs from the vegetation index grid ({err})") from err
    return precipitation


def restrend_residuals(ndvi: xr.DataArray, precipitation: xr.DataArray, dim: str = "time") -> xr.DataArray:
    """RESTREND residuals: VI - (a + b P), with a, b the per-pixel OLS fit of annual VI on annual
    precipitation over the years where both are valid (Evans & Geerken 2004). If precipitation does not
    vary, b = 0. The trend of these residuals is the climate-corrected trajectory."""
    _check_series(ndvi, "ndvi", dim)
    p = _align_precipitation(ndvi, precipitation, dim)
    ok = ndvi.notnull() & p.notnull()
    v, p = ndvi.where(ok), p.where(ok)
    dv, dp = v - v.mean(dim), p - p.mean(dim)
    sxx = (dp * dp).sum(dim)
    b = xr.where(sxx > 0, (dp * dv).sum(dim) / sxx.where(sxx > 0), 0.0)
    resid = dv - b * dp  # = v - (a + b p) with a = mean(v) - b mean(p)
    resid.attrs = output_attrs(ndvi.attrs.get("units", "1"), "RESTREND residual of the vegetation index",
                               "OLS of annual VI on annual precipitation, residuals", f"dim={dim}",
                               RESTREND_REFERENCE)
    return resid.rename("restrend_residual")


def rain_use_efficiency(ndvi: xr.DataArray, precipitation: xr.DataArray, dim: str = "time") -> xr.DataArray:
    """Rain-use efficiency: annual VI / annual precipitation in metres (TE converts mm to m).
    Years with precipitation <= 0 give NaN."""
    _check_series(ndvi, "ndvi", dim)
    p_m = _precip_in_metres(_align_precipitation(ndvi, precipitation, dim))
    rue = ndvi / p_m.where(p_m > 0)
    rue.attrs = output_attrs("m-1", "rain-use efficiency (VI per metre of precipitation)",
                             "annual VI / annual precipitation [m]", f"dim={dim}", RUE_REFERENCE)
    return rue.rename("rue")


def trajectory(
    ndvi: xr.DataArray,
    *,
    method: str = "gpg2",
    precipitation: xr.DataArray | None = None,
    climate_correction: str | None = None,
    min_years: int = MK_MIN_YEARS,
    min_slope: float = TE_STABLE_SLOPE_X10000 / NDVI_INTEGER_SCALE,
    dim: str = "time",
) -> xr.Dataset:
    """Productivity trajectory (METHODS 1.1): Mann-Kendall trend of the annual VI over all its years.

    - ``method="gpg2"``: five levels on the continuity-corrected Z (``z_levels``); only |Z| > 1.96
      counts in the three classes.
    - ``method="te"``: sign from the Theil-Sen slope, significance from |S| against the one-sided
      critical values ``TE_MK_CRITICAL_S`` (levels +-1/+-2/+-3 at 90/95/99 %; n = 4..60; n > 60: normal
      approximation); only >= 95 % counts; |slope| <= ``min_slope`` (10 in NDVI x 10000 per year) is
      forced to stable. (Trends.Earth takes the sign from an OLS slope; the Theil-Sen slope is used here.)
    - ``climate_correction="restrend"``: the series is ``restrend_residuals(ndvi, precipitation)``;
      ``"rue"``: ``rain_use_efficiency(ndvi, precipitation)``. TE applies ``min_slope`` unchanged to
      these series; so does this function.

    Returns a Dataset: ``trajectory`` (int8 three classes), ``trajectory_level`` (int8: GPG2 five
    levels -2..2, or TE significance -3..3), ``trajectory_z``, ``trajectory_slope`` (Theil-Sen, series
    units per year), ``trajectory_s``, ``trajectory_p``, ``trajectory_n`` (valid years). Pixels with
    fewer than ``min_years`` valid years are no data.
    """
    _check_method(method)
    _check_series(ndvi, "ndvi", dim)
    if climate_correction not in CLIMATE_CORRECTIONS:
        raise InputError(f"climate_correction: got {climate_correction!r}, expected one of {CLIMATE_CORRECTIONS}")
    if climate_correction is not None and precipitation is None:
        raise InputError(f"climate_correction={climate_correction!r} needs the precipitation argument")
    series = ndvi
    if climate_correction == "restrend":
        series = restrend_residuals(ndvi, precipitation, dim)
    elif climate_correction == "rue":
        series = rain_use_efficiency(ndvi, precipitation, dim)
    mk = mann_kendall(series, dim=dim, min_years=min_years)
    years = _years(ndvi, dim)
    period = f"{years.min()}-{years.max()}" if years.size else "empty"
    corr = f", climate_correction={climate_correction}" if climate_correction else ""
    if method == "gpg2":
        level = z_levels(mk.z)
        ref = GPG2_REFERENCE
        how = "Mann-Kendall Z (continuity- and tie-corrected), GPG2 five levels"
        params = f"period={period}, |Z|>{Z_SIGNIFICANT} counts, potential {Z_POTENTIAL}, min_years={min_years}{corr}"
        level_attrs = output_attrs("1", "productivity trajectory level (GPG2)", how, params, ref,
                                   flag_values=range(-2, 3), flag_meanings=FIVE_LEVEL_MEANINGS)
    else:
        level = xr.apply_ufunc(_te_levels_np, mk.s, mk.z, mk.slope, mk.n, float(min_slope),
                               dask="parallelized", output_dtypes=[np.int8])
        ref = TE_REFERENCE
        how = "sign of Theil-Sen slope, Mann-Kendall S against one-sided critical values (TE)"
        params = (f"period={period}, >= {TE_COUNTING_CONFIDENCE}% counts, |slope| <= {min_slope:g} per year "
                  f"forced stable, min_years={min_years}{corr}")
        level_attrs = output_attrs("1", "productivity trajectory significance (TE)", how, params, ref,
                                   flag_values=range(-3, 4),
                                   flag_meanings="declining_99 declining_95 declining_90 no_change "
                                   "increasing_90 increasing_95 increasing_99")
    classes = levels_to_sdg3(level, LEVEL_IMPROVING if method == "gpg2" else
                             TE_CONFIDENCE_LEVELS.index(TE_COUNTING_CONFIDENCE) + 1)
    ds = xr.Dataset(
        {
            "trajectory": classes,
            "trajectory_level": level,
            "trajectory_z": mk.z,
            "trajectory_slope": mk.slope,
            "trajectory_s": mk.s,
            "trajectory_p": mk.p,
            "trajectory_n": mk.n,
        }
    )
    ds["trajectory_level"].attrs = level_attrs
    ds["trajectory"].attrs = output_attrs("1", "productivity trajectory", how, params, ref, flag_values=(-1, 0, 1),
                                          flag_meanings=_CLASS3_MEANINGS)
    for name in ("z", "slope", "s", "p", "n"):
        ds[f"trajectory_{name}"].attrs = {**mk[name].attrs, "parameters": params + ", " + mk[name].attrs["parameters"]}
    return ds


# --------------------------------------------------------------------------------------------------
# State (METHODS 1.2)
# --------------------------------------------------------------------------------------------------


def _te_state_classes_np(baseline, baseline_mean, recent_mean):
    """TE percentile classes (1..10) of the baseline and recent means, from the baseline series."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels
        lo = np.nanmin(baseline, axis=-1)
        hi = np.nanmax(baseline, axis=-1)
        ext = (hi - lo) * TE_STATE_RANGE_EXTENSION
        extended = np.concatenate([baseline, (lo - ext)[..., None], (hi + ext)[..., None]], axis=-1)
        bounds = np.nanpercentile(extended, TE_STATE_PERCENTILES, axis=-1)  # (9, ...)
    cls_b = 1 + (baseline_mean[None] > bounds).sum(axis=0)
    cls_r = 1 + (recent_mean[None] > bounds).sum(axis=0)
    bad = ~(np.isfinite(baseline_mean) & np.isfinite(recent_mean))
    cls_b = np.where(bad, CLASS_NODATA, cls_b).astype(np.int8)
    cls_r = np.where(bad, CLASS_NODATA, cls_r).astype(np.int8)
    return cls_b, cls_r


def _valid_mean(da, dim):
    """Mean of the valid values along ``dim``, ``sum / count``; NaN where none is valid (no 0/0 is ever
    divided, so a series without data, e.g. water, gives NaN without a RuntimeWarning)."""
    n = da.count(dim)
    return da.sum(dim) / n.where(n > 0)


def _valid_std(da, dim, ddof):
    """Standard deviation of the valid values along ``dim``: ``sqrt(sum((v - mean)^2) / (count - ddof))``;
    NaN where count <= ddof (as numpy's nanstd, without its warning)."""
    n = da.count(dim)
    dev = ((da - _valid_mean(da, dim)) ** 2).sum(dim)
    return np.sqrt(dev / (n - ddof).where(n > ddof))


def _safe_z(diff, se):
    """diff / se; where se == 0 the limit (0 if diff == 0, else +-inf); NaN where se is NaN."""
    # sign x inf would warn (0 x inf) where diff == 0 even though that cell takes 0: chosen, not multiplied
    limit = xr.where(diff > 0, np.inf, xr.where(diff < 0, -np.inf, xr.where(diff == 0, 0.0, np.nan)))
    return xr.where(se > 0, diff / se.where(se > 0), xr.where(se == 0, limit, np.nan))


def state(
    ndvi: xr.DataArray,
    *,
    method: str = "gpg2",
    end_year: int | None = None,
    baseline_years: int = STATE_BASELINE_YEARS,
    recent_years: int = STATE_RECENT_YEARS,
    min_change: float = TE_STATE_MIN_CHANGE_X10000 / NDVI_INTEGER_SCALE,
    dim: str = "time",
) -> xr.Dataset:
    """Productivity state (METHODS 1.2): recent years against a baseline.

    Years: recent = ``end_year - recent_years + 1 .. end_year`` (GPG2: n-2 .. n), baseline = the
    ``baseline_years`` before (GPG2: n-15 .. n-3); ``end_year`` defaults to the last year of ``ndvi``.
    All these years must be in ``ndvi``; NaN years are skipped in the means.

    - ``"gpg2"``: z = (x - mu) / (sigma / sqrt(k)), x the recent mean of k valid recent years, mu and
      sigma the baseline mean and *sample* standard deviation (ddof = 1); five levels as the trajectory
      (``z_levels``), degraded if z < -1.96, improved if z > 1.96. With sigma = 0, z is 0 if x = mu and
      +-inf otherwise.
    - ``"te"`` (GPG v1): the baseline range is extended by 5 % at both ends, cut at its 10th..90th
      percentiles (numpy linear interpolation over the baseline years and the two extension values) into
      10 classes; class(mean) = 1 + number of percentiles below the mean. Change = recent class -
      baseline class: <= -2 degraded, >= +2 improved; forced to 0 where |recent mean - baseline mean|
      <= ``min_change`` (100 in NDVI x 10000).

    Returns a Dataset: ``state`` (int8 three classes), ``state_level`` (int8: GPG2 five levels, TE class
    change), ``state_z`` (GPG2) or ``state_class_baseline``/``state_class_recent`` (TE),
    ``state_baseline_mean``, ``state_recent_mean``.
    """
    _check_method(method)
    _check_series(ndvi, "ndvi", dim)
    years = _years(ndvi, dim)
    if end_year is None:
        end_year = int(years.max())
    recent_first = end_year - recent_years + 1
    base_first = recent_first - baseline_years
    recent = _select_years(ndvi, recent_first, end_year, "ndvi (state, recent years)", dim)
    base = _select_years(ndvi, base_first, recent_first - 1, "ndvi (state, baseline years)", dim)
    mu = _valid_mean(base, dim)
    x = _valid_mean(recent, dim)
    params = f"baseline={base_first}-{recent_first - 1}, recent={recent_first}-{end_year}"
    units = ndvi.attrs.get("units", "1")
    ds = xr.Dataset({"state_baseline_mean": mu, "state_recent_mean": x})
    ds["state_baseline_mean"].attrs = output_attrs(units, "baseline mean of the vegetation index", "mean", params,
                                                   GPG2_REFERENCE)
    ds["state_recent_mean"].attrs = output_attrs(units, "recent mean of the vegetation index", "mean", params,
                                                 GPG2_REFERENCE)
    if method == "gpg2":
        # shift by a value of the baseline so that a constant series gives exact zeros (no rounding
        # noise in x - mu and sigma)
        ref = base.min(dim)
        base_c, recent_c = base - ref, recent - ref
        sigma = _valid_std(base_c, dim, STATE_DDOF)
        k = recent.count(dim)
        se = sigma / np.sqrt(k.where(k > 0))
        z = _safe_z(_valid_mean(recent_c, dim) - _valid_mean(base_c, dim), se)
        level = z_levels(z)
        how = "z = (recent mean - baseline mean) / (baseline sd / sqrt(k)), ddof=1; GPG2 five levels"
        params = f"{params}, |z|>{Z_SIGNIFICANT} counts, potential {Z_POTENTIAL}, ddof={STATE_DDOF}"
        ds["state_z"] = z
        ds["state_z"].attrs = output_attrs("1", "productivity state z score", how, params, GPG2_REFERENCE)
        ds["state_level"] = level
        ds["state_level"].attrs = output_attrs("1", "productivity state level (GPG2)", how, params, GPG2_REFERENCE,
                                               flag_values=range(-2, 3), flag_meanings=FIVE_LEVEL_MEANINGS)
        ds["state"] = levels_to_sdg3(level, LEVEL_IMPROVING)
        ref = GPG2_REFERENCE
    else:
        if base.chunks is not None:
            base = base.chunk({dim: -1})
        cls_b, cls_r = xr.apply_ufunc(
            _te_state_classes_np, base, mu, x, input_core_dims=[[dim], [], []],
            output_core_dims=[[], []], dask="parallelized", output_dtypes=[np.int8, np.int8],
        )
        how = "percentile classes of the extended baseline range, class change (TE / GPG v1)"
        params = (f"{params}, extension={TE_STATE_RANGE_EXTENSION}, |class change|>={TE_STATE_CLASS_CHANGE} "
                  f"counts, |change of mean|<={min_change:g} forced 0")
        nodata = (cls_b == CLASS_NODATA) | (cls_r == CLASS_NODATA)
        change = (cls_r.astype(np.int16) - cls_b.astype(np.int16))
        small = np.abs(x - mu) * NDVI_INTEGER_SCALE <= min_change * NDVI_INTEGER_SCALE + X10000_TOLERANCE
        change = xr.where(small, 0, change)
        level = xr.where(nodata, CLASS_NODATA, change).astype(np.int8)
        ds["state_class_baseline"] = cls_b
        ds["state_class_recent"] = cls_r
        for name, which in (("state_class_baseline", "baseline"), ("state_class_recent", "recent")):
            ds[name].attrs = output_attrs("1", f"productivity state percentile class of the {which} mean", how,
                                          params, TE_REFERENCE, flag_values=range(1, 11),
                                          flag_meanings="p0-10 p10-20 p20-30 "
                                          "p30-40 p40-50 p50-60 p60-70 p70-80 p80-90 p90-100")
        ds["state_level"] = level
        ds["state_level"].attrs = output_attrs("1", "productivity state class change (TE)", how, params,
                                               TE_REFERENCE, flag_values=range(-9, 10), flag_meanings="class change")
        ds["state"] = levels_to_sdg3(level, TE_STATE_CLASS_CHANGE)
        ref = TE_REFERENCE
    ds["state"].attrs = output_attrs("1", "productivity state", how, params, ref, flag_values=(-1, 0, 1),
                                     flag_meanings=_CLASS3_MEANINGS)
    return ds


# --------------------------------------------------------------------------------------------------
# Performance (METHODS 1.3)
# --------------------------------------------------------------------------------------------------


def land_units(*layers: xr.DataArray, nodata: int = CLASS_NODATA) -> xr.DataArray:
    """Land units as the intersection of class layers (e.g. land cover x soil or ecological unit):
    code = c_1 * 1000^(k-1) + ... + c_k, int64; no data where any layer is ``nodata`` or NaN.
    Each layer's codes must lie in 0..999."""
    if not layers:
        raise InputError("land_units: give at least one class layer (e.g. the land cover map)")
    code = None
    bad = None
    for i, lay in enumerate(layers):
        if not isinstance(lay, xr.DataArray):
            raise InputError(f"land_units: layer {i} is a {type(lay).__name__}, expected a DataArray")
        miss = lay.isnull() | (lay == nodata)
        bad = miss if bad is None else bad | miss
        val = lay.where(~miss, 0).astype(np.int64)
        code = val if code is None else code * 1000 + val
    return xr.where(bad, nodata, code).astype(np.int64).rename("land_unit")


def performance(
    ndvi: xr.DataArray,
    land_unit: xr.DataArray,
    *,
    percentile: float = PERFORMANCE_PERCENTILE,
    threshold: float = PERFORMANCE_RATIO_THRESHOLD,
    unit_nodata: int = CLASS_NODATA,
    dim: str = "time",
    spatial_dims: tuple[str, str] = ("y", "x"),
) -> xr.Dataset:
    """Productivity performance (METHODS 1.3): ratio of the pixel's mean VI over all years of ``ndvi``
    to the ``percentile`` (90th) percentile of that mean among all pixels of the same land unit in the
    area; degraded (-1) if ratio < ``threshold`` (0.5), otherwise not degraded (0).

    ``land_unit``: integer codes on the same (y, x) grid (GPG2: land cover class x soil or ecological
    unit; land cover alone by default; see ``land_units``); ``unit_nodata`` (-128) and NaN mean no data.
    The percentile is numpy's linear interpolation over the unit's pixels with a valid mean. Units whose
    percentile is <= 0 (e.g. water) get no ratio.

    Lazy with dask: the per-unit percentile is the same exact number, found in bounded memory by
    :func:`dldd.core.quantile.unit_quantiles_lazy` (a few passes over the map of means, block by block;
    nothing gathers the map). The result is lazy again, in the chunks of the means.
    Returns a Dataset: ``performance`` (int8), ``performance_ratio``, ``performance_mean``,
    ``performance_unit_percentile``.
    """
    _check_series(ndvi, "ndvi", dim)
    if not isinstance(land_unit, xr.DataArray):
        raise InputError(f"land_unit: expected an xarray.DataArray, got {type(land_unit).__name__}")
    for d in spatial_dims:
        if d not in ndvi.dims or d not in land_unit.dims:
            raise InputError(
                f"performance: spatial dimension {d!r} missing (ndvi dims {ndvi.dims}, land_unit dims "
                f"{land_unit.dims}); set spatial_dims"
            )
    if dim in land_unit.dims:
        raise InputError(f"land_unit: has a {dim!r} dimension; expected one (y, x) map of land units")
    if not 0 < percentile <= 100:
        raise InputError(f"percentile: got {percentile}, expected a value in (0, 100]")
    mean = ndvi.mean(dim)
    try:
        mean, unit = xr.align(mean, land_unit, join="exact")
    except ValueError as err:
        raise InputError(f"land_unit: grid differs from the ndvi grid ({err})") from err
    if np.issubdtype(unit.dtype, np.floating):
        unit = unit.fillna(unit_nodata)
    unit = unit.astype(np.int64)
    if mean.chunks is not None or unit.chunks is not None:
        mean = mean if mean.chunks is not None else mean.chunk(dict(zip(unit.dims, unit.chunks)))
        pmax = unit_quantile_map_lazy(mean, unit, percentile / 100.0, unit_nodata, spatial_dims)
    else:
        pmax = xr.apply_ufunc(
            unit_quantile_map, mean, unit, percentile / 100.0, unit_nodata,
            input_core_dims=[list(spatial_dims), list(spatial_dims), [], []],
            output_core_dims=[list(spatial_dims)],
        )
    pmax = pmax.transpose(*mean.dims)
    ratio = mean / pmax.where(pmax > 0)
    cls = xr.where(ratio < threshold, DEGRADED, NOT_DEGRADED)
    cls = xr.where(ratio.notnull(), cls, CLASS_NODATA).astype(np.int8)
    years = _years(ndvi, dim)
    params = (f"period={years.min()}-{years.max()}, percentile={percentile:g}, threshold={threshold:g}, "
              f"unit_nodata={unit_nodata}")
    how = "mean VI / percentile of mean VI among pixels of the same land unit"
    units = ndvi.attrs.get("units", "1")
    ds = xr.Dataset({"performance": cls, "performance_ratio": ratio, "performance_mean": mean,
                     "performance_unit_percentile": pmax})
    ds["performance"].attrs = output_attrs("1", "productivity performance", how, params, GPG2_REFERENCE,
                                           flag_values=(-1, 0), flag_meanings="degraded not_degraded")
    ds["performance_ratio"].attrs = output_attrs("1", "productivity performance ratio", how, params, GPG2_REFERENCE)
    ds["performance_mean"].attrs = output_attrs(units, "mean of the vegetation index over the period", "mean",
                                                params, GPG2_REFERENCE)
    ds["performance_unit_percentile"].attrs = output_attrs(
        units, f"{percentile:g}th percentile of the mean vegetation index in the land unit", how, params,
        GPG2_REFERENCE)
    return ds


# --------------------------------------------------------------------------------------------------
# Combination (METHODS 1.4)
# --------------------------------------------------------------------------------------------------


def _lookup_np(table, t, s, p):
    t = np.asarray(t).astype(np.int16)
    s = np.asarray(s).astype(np.int16)
    p = np.asarray(p).astype(np.int16)
    ok = (np.abs(t) <= 1) & (np.abs(s) <= 1) & ((p == DEGRADED) | (p == NOT_DEGRADED))
    out = table[np.where(ok, t + 1, 0), np.where(ok, s + 1, 0), np.where(ok, p + 1, 0)]
    return np.where(ok, out, CLASS_NODATA).astype(np.int8)


def lpd_gpg2(t: xr.DataArray, s: xr.DataArray, p: xr.DataArray) -> xr.DataArray:
    """GPG2 three-class land productivity dynamics from trajectory, state and performance classes
    (METHODS 1.4, table ``LPD_GPG2``). Any input outside its classes gives no data."""
    out = _elementwise(lambda a, b, c: _lookup_np(LPD_GPG2, a, b, c), t, s, p, dtype=np.int8)
    out.attrs = output_attrs("1", "land productivity dynamics (3 classes)", "GPG2 combination table of "
                             "trajectory, state and performance", "table=LPD_GPG2", GPG2_REFERENCE,
                             flag_values=(-1, 0, 1), flag_meanings=_CLASS3_MEANINGS)
    return out.rename("lpd")


def lpd_te5(t: xr.DataArray, s: xr.DataArray, p: xr.DataArray) -> xr.DataArray:
    """Trends.Earth five-class land productivity dynamics (1 declining .. 5 increasing) from trajectory,
    state and performance classes (METHODS 1.4, table ``LPD_TE5``)."""
    out = _elementwise(lambda a, b, c: _lookup_np(LPD_TE5, a, b, c), t, s, p, dtype=np.int8)
    out.attrs = output_attrs("1", "land productivity dynamics (5 classes)", "TE combination table of "
                             "trajectory, state and performance", "table=LPD_TE5", TE_REFERENCE,
                             flag_values=range(1, 6), flag_meanings=LPD5_MEANINGS)
    return out.rename("lpd5")


def _lpd5_to_sdg3_np(lpd5, nodata_values):
    v = np.asarray(lpd5)
    if np.issubdtype(v.dtype, np.floating):
        ok = np.isfinite(v) & (v == np.round(v))
        v = np.where(ok, v, 0).astype(np.int64)
    else:
        ok = np.ones(v.shape, dtype=bool)
        v = v.astype(np.int64)
    ok &= (v >= 1) & (v < LPD5_TO_SDG3.size) & ~np.isin(v, nodata_values)
    return np.where(ok, LPD5_TO_SDG3[np.where(ok, v, 0)], CLASS_NODATA).astype(np.int8)


def lpd5_to_sdg3(lpd5: xr.DataArray, nodata_values=(0,)) -> xr.DataArray:
    """Five LPD classes (TE, or an imported JRC / FAO-WOCAT layer: 1 declining, 2 early sign of decline
    (moderate decline), 3 stable but stressed, 4 stable, 5 increasing) to three SDG classes:
    1-2 degraded, 3-4 stable, 5 improved (``LPD5_TO_SDG3``). Codes outside 1..5 and ``nodata_values``
    (JRC uses 0) give no data."""
    if not isinstance(lpd5, xr.DataArray):
        raise InputError(f"lpd5: expected an xarray.DataArray, got {type(lpd5).__name__}")
    nodata_values = np.asarray(nodata_values)
    out = _elementwise(lambda v: _lpd5_to_sdg3_np(v, nodata_values), lpd5, dtype=np.int8)
    out.attrs = output_attrs("1", "land productivity dynamics (3 classes from 5)",
                             "5-class LPD mapped 1-2 degraded, 3-4 stable, 5 improved", "table=LPD5_TO_SDG3",
                             TE_REFERENCE, flag_values=(-1, 0, 1), flag_meanings=_CLASS3_MEANINGS)
    return out.rename("lpd")


#: Import of an external five-class LPD layer (JRC, FAO-WOCAT) uses the same mapping.
import_lpd5 = lpd5_to_sdg3


# --------------------------------------------------------------------------------------------------
# Convenience: the whole sub-indicator
# --------------------------------------------------------------------------------------------------


def productivity(
    ndvi: xr.DataArray,
    land_unit: xr.DataArray,
    *,
    period: tuple[int, int] | None = None,
    method: str = "gpg2",
    precipitation: xr.DataArray | None = None,
    climate_correction: str | None = None,
    min_years: int = MK_MIN_YEARS,
    dim: str = "time",
) -> xr.Dataset:
    """Land productivity sub-indicator (METHODS 1.1-1.4) over ``period = (first_year, last_year)``
    (default: all years of ``ndvi``).

    Trajectory and performance use the years of the period; state uses the last year n of the period
    (recent n-2..n, baseline n-15..n-3, which may reach before the period: those years must be in
    ``ndvi``). ``method`` ("gpg2" or "te") applies to trajectory, state and the combination table;
    ``climate_correction`` ("restrend", "rue" or None) to the trajectory and needs ``precipitation``
    (annual totals: any water amount or rate, see :data:`ANNUAL_PRECIPITATION`; no units attribute =
    mm; ignored without a climate correction).

    Returns one Dataset with ``trajectory``, ``state``, ``performance``, ``lpd`` (three classes, int8)
    and, for ``method="te"``, ``lpd5``; plus the levels and continuous variables of each part
    (``trajectory_z``, ``trajectory_slope``, ``state_z`` (GPG2), ``performance_ratio``, ...).
    """
    _check_method(method)
    _check_series(ndvi, "ndvi", dim)
    years = _years(ndvi, dim)
    if years.size == 0:
        raise InputError("ndvi: the time axis is empty")
    first, last = (int(years.min()), int(years.max())) if period is None else map(int, period)
    if first > last:
        raise InputError(f"period: first year {first} is after last year {last}")
    in_period = _select_years(ndvi, first, last, "ndvi (period)", dim)
    traj = trajectory(in_period, method=method, precipitation=precipitation,
                      climate_correction=climate_correction, min_years=min_years, dim=dim)
    st = state(ndvi, method=method, end_year=last, dim=dim)
    perf = performance(in_period, land_unit, dim=dim)
    ds = xr.Dataset({**traj.data_vars, **st.data_vars, **perf.data_vars})
    if method == "gpg2":
        ds["lpd"] = lpd_gpg2(ds.trajectory, ds.state, ds.performance)
    else:
        ds["lpd5"] = lpd_te5(ds.trajectory, ds.state, ds.performance)
        ds["lpd"] = lpd5_to_sdg3(ds.lpd5)
    ds.attrs = {
        "title": "SDG 15.3.1 land productivity sub-indicator",
        "method": method,
        "period": f"{first}-{last}",
        "climate_correction": str(climate_correction),
        "references": GPG2_REFERENCE if method == "gpg2" else TE_REFERENCE,
    }
    return ds
