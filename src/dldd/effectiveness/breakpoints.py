"""Breakpoint test and dating of an annual series (BFAST-style, METHODS 6).

Model: ``y_t = a + b t + e_t`` (trend only). BFAST (Verbesselt et al. 2010, Remote Sens. Environ. 114:
106-115) fits trend + harmonic season to sub-annual data; an annual series has no season, so the
seasonal term is dropped.

Test: OLS-based MOSUM (Chu, Hornik & Kuan 1995, Biometrika 82: 603-617; process as in Zeileis et al.
2002, J. Stat. Softw. 7(2)). With OLS residuals ``e``, ``sigma^2 = sum e^2 / (n - k)``, ``nh =
floor(n h)``: ``M_j = (e_j + ... + e_{j+nh-1}) / (sigma sqrt(n))``, j = 0..n-nh; statistic
``max_j |M_j|``. Under no change the process converges to the increments ``B(t + h) - B(t)`` of a
Brownian bridge (for stationary regressors; with a deterministic trend regressor this is the usual BFAST
approximation). Two p-values are given:

- ``p_value``: Monte Carlo p-value of the finite-sample null with the series' own design (intercept +
  trend at its years) and i.i.d. Gaussian errors (the statistic is scale-free, so this is exact for
  Gaussian white noise); recommended for short annual series, where the asymptotic values are poor.
- ``p_value_asymptotic``: interpolated in the asymptotic critical values of ``sup |B(t+h) - B(t)|`` for
  one process dimension (``MOSUM_CRITICAL_VALUES``), the way R strucchange does.

Dating: least-squares estimate of one break (Bai 1994, J. Time Ser. Anal. 15: 453-472; Bai & Perron
2003): intercept and slope may both change; the break minimises the total residual sum of squares of the
two segments, each at least ``max(floor(n h), k + 1)`` years long (BFAST's ``h`` as minimal segment
size). ``break_year`` is the first year of the second segment. ``mosum_peak_year`` is the centre year of
the MOSUM window with the largest |M| (it lies within about nh/2 years of a level shift).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import xarray as xr

from dldd.errors import InputError

#: Bandwidth of the MOSUM window and minimal segment length, as a fraction of the series (METHODS 6;
#: BFAST default, Verbesselt et al. 2010).
MOSUM_H = 0.15

#: Significance level at which a break is called significant.
BREAK_ALPHA = 0.05

#: Monte Carlo replicates of the finite-sample null distribution of the MOSUM statistic.
NULL_SIMULATIONS = 9999

#: Fewest finite values of a series that can be tested (trend model, 2 segments of >= 3 years).
MIN_SERIES_YEARS = 8

#: Asymptotic critical values of max_t |B(t + h) - B(t)|, B a standard Brownian bridge, one process
#: dimension (k = 1): Chu, Hornik & Kuan (1995, Econometric Theory 11: 669-720, critical values of the
#: moving-estimates test, whose k = 1 limit is the same functional), as tabulated in the R package
#: strucchange (table ``sc.me``, rows k = 1). Rows: h = 0.05, 0.10, ..., 0.50; columns: significance
#: levels ``MOSUM_CRITICAL_ALPHAS``.
MOSUM_CRITICAL_H = np.arange(1, 11) * 0.05
MOSUM_CRITICAL_ALPHAS = np.array([0.10, 0.05, 0.025, 0.01])
MOSUM_CRITICAL_VALUES = np.array(
    [
        [0.7552, 0.8017, 0.8444, 0.8977],
        [0.9809, 1.0483, 1.1119, 1.1888],
        [1.1211, 1.2059, 1.2845, 1.3767],
        [1.2170, 1.3158, 1.4053, 1.5131],
        [1.2811, 1.3920, 1.4917, 1.6118],
        [1.3258, 1.4448, 1.5548, 1.6863],
        [1.3514, 1.4789, 1.5946, 1.7339],
        [1.3628, 1.4956, 1.6152, 1.7572],
        [1.3610, 1.4976, 1.6210, 1.7676],
        [1.3751, 1.5115, 1.6341, 1.7808],
    ]
)

REFERENCES = (
    "Chu, Hornik & Kuan 1995 Biometrika 82:603-617 (OLS-MOSUM); Chu, Hornik & Kuan 1995 Econometric "
    "Theory 11:669-720 (critical values); Zeileis et al. 2002 J. Stat. Softw. 7(2); Bai 1994 J. Time Ser. "
    "Anal. 15:453-472 (least-squares break date); Verbesselt et al. 2010 Remote Sens. Environ. 114:106-115 (BFAST)"
)


@dataclass
class BreakpointResult:
    """OLS-MOSUM test and least-squares break date of one annual series (see module docstring)."""

    statistic: float
    p_value: float
    p_value_asymptotic: float
    critical_value_5pct: float
    critical_value_5pct_finite: float
    significant: bool
    break_year: int
    mosum_peak_year: int
    h: float
    n_years: int
    window_years: int
    process: pd.Series  # MOSUM process indexed by window centre year
    method: str = "OLS-MOSUM on y = a + b t (annual, no season); least-squares break date (intercept and slope change)"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["process"] = {str(k): float(v) for k, v in self.process.items()}
        return d


def _as_series(series, years) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(series, xr.DataArray):
        if series.dims != ("time",):
            raise InputError(f"breakpoint series must have the single dimension ('time',), found {series.dims}")
        yrs = series["time"].dt.year.values if years is None else np.asarray(years)
        vals = series.values
    else:
        vals = np.asarray(series, dtype="float64")
        if years is None:
            raise InputError("breakpoint series given as an array needs `years` (one per value)")
        yrs = np.asarray(years)
    if vals.ndim != 1 or vals.shape != yrs.shape:
        raise InputError(f"breakpoint series: expected 1-D values and years of one length, got {vals.shape} and {yrs.shape}")
    ok = np.isfinite(vals)
    return vals[ok].astype("float64"), yrs[ok].astype("int64")


def _design(years: np.ndarray) -> np.ndarray:
    t = years.astype("float64")
    return np.column_stack([np.ones_like(t), t - t.mean()])


def _mosum(resid: np.ndarray, nh: int, k: int) -> np.ndarray:
    """MOSUM process of residual rows (..., n): window sums / (sigma sqrt(n))."""
    n = resid.shape[-1]
    sigma = np.sqrt((resid**2).sum(axis=-1, keepdims=True) / (n - k))
    c = np.concatenate([np.zeros(resid.shape[:-1] + (1,)), np.cumsum(resid, axis=-1)], axis=-1)
    return (c[..., nh:] - c[..., : n - nh + 1]) / (sigma * np.sqrt(n))


@lru_cache(maxsize=32)
def _null_distribution(years: tuple[int, ...], nh: int, n_sim: int, seed: int) -> np.ndarray:
    x = _design(np.asarray(years))
    n, k = x.shape
    hat = x @ np.linalg.pinv(x)
    eps = np.random.default_rng(seed).standard_normal((n_sim, n))
    resid = eps - eps @ hat.T
    return np.sort(np.abs(_mosum(resid, nh, k)).max(axis=-1))


def asymptotic_p_value(statistic: float, h: float = MOSUM_H) -> tuple[float, float]:
    """(p-value, 5 % critical value) of the OLS-MOSUM statistic from ``MOSUM_CRITICAL_VALUES``: linear
    interpolation in h, then in the statistic between (0, p = 1) and the tabulated levels; beyond the
    last level the p-value is reported as 0.01 (an upper bound)."""
    if not (MOSUM_CRITICAL_H[0] <= h <= MOSUM_CRITICAL_H[-1]):
        raise InputError(f"h={h} is outside the tabulated range {MOSUM_CRITICAL_H[0]:.2f}-{MOSUM_CRITICAL_H[-1]:.2f}")
    cv = np.array([np.interp(h, MOSUM_CRITICAL_H, MOSUM_CRITICAL_VALUES[:, j]) for j in range(MOSUM_CRITICAL_ALPHAS.size)])
    p = float(np.interp(statistic, np.concatenate([[0.0], cv]), np.concatenate([[1.0], MOSUM_CRITICAL_ALPHAS])))
    return p, float(cv[list(MOSUM_CRITICAL_ALPHAS).index(0.05)])


def _segment_rss(n, st, stt, sy, sty, syy) -> np.ndarray:
    """Residual sum of squares of the OLS line through segments given their sums of 1, t, t^2, y, t y, y^2."""
    sxx = stt - st**2 / n
    sxy = sty - st * sy / n
    return np.maximum(syy - sy**2 / n - sxy**2 / sxx, 0.0)


def least_squares_break(values: np.ndarray, years: np.ndarray, min_segment: int) -> int:
    """Index of the first observation of the second segment minimising the two-segment RSS of
    ``y = a + b t`` fitted separately to each segment (both segments >= ``min_segment`` long);
    closed-form segment fits from cumulative sums."""
    n = values.size
    t = years.astype("float64") - years.mean()
    y = values - values.mean()
    terms = np.stack([np.ones(n), t, t * t, y, t * y, y * y])
    head = np.cumsum(terms, axis=1)  # sums over 0..j-1 at column j-1
    total = head[:, -1:]
    j = np.arange(min_segment, n - min_segment + 1)
    first = head[:, j - 1]
    second = total - first
    rss = _segment_rss(*first) + _segment_rss(*second)
    return int(j[np.argmin(rss)])


def ols_mosum(
    series,
    years=None,
    *,
    h: float = MOSUM_H,
    alpha: float = BREAK_ALPHA,
    n_sim: int = NULL_SIMULATIONS,
    seed: int = 0,
) -> BreakpointResult:
    """OLS-MOSUM test for a change in an annual series and the least-squares date of one break.

    ``series``: DataArray with dimension ``time`` (years from ``time.dt.year``) or a 1-D array with
    ``years``. Missing values are dropped. See the module docstring for formulas and references.
    """
    vals, yrs = _as_series(series, years)
    n = vals.size
    if n < MIN_SERIES_YEARS:
        raise InputError(f"breakpoint series has {n} finite values; expected at least {MIN_SERIES_YEARS}")
    if not (0 < h < 0.5):
        raise InputError(f"h must be in (0, 0.5), got {h}")
    x = _design(yrs)
    k = x.shape[1]
    nh = max(int(np.floor(n * h)), 1)
    coef, *_ = np.linalg.lstsq(x, vals, rcond=None)
    resid = vals - x @ coef
    if not np.any(np.abs(resid) > 0):
        raise InputError("breakpoint series is an exact straight line; the MOSUM test is undefined")
    proc = _mosum(resid, nh, k)
    stat = float(np.abs(proc).max())
    null = _null_distribution(tuple(int(v) for v in yrs), nh, int(n_sim), int(seed))
    p_mc = float((1 + (null.size - np.searchsorted(null, stat, side="left"))) / (null.size + 1))
    p_as, cv5 = asymptotic_p_value(stat, h)
    centres = np.array([yrs[j : j + nh].mean() for j in range(proc.size)])
    peak = int(np.floor(centres[int(np.argmax(np.abs(proc)))]))
    j_break = least_squares_break(vals, yrs, max(nh, k + 1))
    return BreakpointResult(
        statistic=stat,
        p_value=p_mc,
        p_value_asymptotic=p_as,
        critical_value_5pct=cv5,
        critical_value_5pct_finite=float(np.quantile(null, 1 - alpha)),
        significant=bool(p_mc < alpha),
        break_year=int(yrs[j_break]),
        mosum_peak_year=peak,
        h=float(h),
        n_years=int(n),
        window_years=int(nh),
        process=pd.Series(proc, index=centres, name="mosum"),
    )
