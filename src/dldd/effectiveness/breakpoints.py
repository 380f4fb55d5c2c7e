"""Break tests and dating of an annual series, robust to autocorrelated errors (METHODS 6).

Model: ``y_t = a + b t + e_t`` (trend only). BFAST (Verbesselt et al. 2010, Remote Sens. Environ. 114:
106-115) fits trend + harmonic season to sub-annual data; an annual series has no season, so the
seasonal term is dropped. Errors may be AR(1): ``e_t = rho e_{t-1} + w_t``.

Prewhitening. rho is estimated from the OLS residuals, ``r = sum e_t e_{t-1} / sum e_t^2``, corrected for
its small-sample bias with a fitted trend, ``rho = r + (2 + 4 r) / n`` (approximately unbiased for
AR(1) residuals of a linear trend; Kendall 1954, Biometrika 41: 403-404, and its trend analogue), and
kept in [0, ``RHO_MAX``]. Series and design are Prais-Winsten transformed (``z_1 = sqrt(1 - rho^2) y_1``,
``z_t = y_t - rho y_{t-1}``; Prais & Winsten 1954) and both statistics use the transformed (GLS)
regression:

- OLS-MOSUM (Chu, Hornik & Kuan 1995, Biometrika 82: 603-617; process as in Zeileis et al. 2002, J. Stat.
  Softw. 7(2)): with residuals ``e``, ``sigma^2 = sum e^2 / (n - k)``, ``nh = floor(n h)``:
  ``M_j = (e_j + ... + e_{j+nh-1}) / (sigma sqrt(n))``; statistic ``max_j |M_j|``. Bounded, so it has
  little power for a pure level shift on short series.
- supF (Andrews 1993, Econometrica 61: 821-856; the ``Fstats`` of R strucchange): for each candidate
  break j with both segments at least ``max(nh, k + 1)`` long, ``F_j = (RSS_0 - RSS_j) / k /
  (RSS_j / (n - 2k))`` with ``RSS_j`` the fit whose intercept and slope both change at j; statistic
  ``max_j F_j``. Powerful for level shifts.

p-values: parametric (AR(1) sieve) bootstrap of the whole procedure: ``N`` series of stationary AR(1)
Gaussian errors with the estimated rho (rounded to 0.01) on the series' own years, each prewhitened with
its own re-estimated rho, the two statistics recomputed; ``p = (1 + #{stat* >= stat}) / (N + 1)``. Both
statistics are invariant to a, b and the error scale, so this null is exact for Gaussian AR(1) errors
when rho is known and re-estimating it in each replicate carries its uncertainty. Simulated sizes at
5 % with 24 years are recorded in docs/methods.md (AR(1) rho 0, 0.3 and 0.6).
``mosum_p_value_asymptotic``: from the asymptotic table of ``sup |B(t+h) - B(t)|`` (``MOSUM_CRITICAL_VALUES``),
the way R strucchange does (independent errors).

Dating: the break is the argmax of F_j, i.e. the least-squares break of the (transformed) two-segment
fit (Bai 1994, J. Time Ser. Anal. 15: 453-472); ``break_year`` is the first year of the second segment,
reported only when the supF test is significant (``p_value < alpha``), else None. ``mosum_peak_year``
(the centre year of the MOSUM window with the largest |M|) likewise only when the MOSUM test is.

Trimming: both segments are at least ``max(nh, k + 1)`` years long, so a break can only be dated from
``first_datable_year`` to ``last_datable_year``. A change after the last (or before the first) is still
detected by the test, but its argmax lands on the nearest datable year, a date where nothing happened.
With ``expected_year`` (the intervention's start) outside that range no ``break_year`` is reported and
``caveat`` says why.
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

#: Monte Carlo replicates of the null distributions (AR(1) parametric bootstrap).
NULL_SIMULATIONS = 999
#: Largest AR(1) coefficient used for prewhitening (near 1 the trend model itself is in question).
RHO_MAX = 0.9

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
    "Andrews 1993 Econometrica 61:821-856 (supF); Chu, Hornik & Kuan 1995 Biometrika 82:603-617 (OLS-MOSUM); "
    "Prais & Winsten 1954 (AR(1) transform); Chu, Hornik & Kuan 1995 Econometric "
    "Theory 11:669-720 (critical values); Zeileis et al. 2002 J. Stat. Softw. 7(2); Bai 1994 J. Time Ser. "
    "Anal. 15:453-472 (least-squares break date); Verbesselt et al. 2010 Remote Sens. Environ. 114:106-115 (BFAST)"
)


@dataclass
class BreakpointResult:
    """Break tests and date of one annual series (module docstring); years None when not significant."""

    break_year: int | None
    p_value: float
    significant: bool
    supf_statistic: float
    supf_critical_value_5pct: float
    mosum_statistic: float
    mosum_p_value: float
    mosum_p_value_asymptotic: float
    mosum_critical_value_5pct: float
    mosum_significant: bool
    mosum_peak_year: int | None
    ar1: float
    h: float
    n_years: int
    window_years: int
    process: pd.Series  # MOSUM process (prewhitened) indexed by window centre year
    first_datable_year: int | None = None
    last_datable_year: int | None = None
    caveat: str | None = None
    method: str = ("supF (intercept and slope change) and OLS-MOSUM on y = a + b t (annual, no season), "
                   "AR(1)-prewhitened, AR(1) parametric bootstrap p-values; date = argmax F")

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


def _ols_resid(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Residuals of y (..., n) on x (..., n, p), batched normal equations."""
    xtx = np.einsum("...ni,...nj->...ij", x, x)
    xty = np.einsum("...ni,...n->...i", x, y)
    coef = np.linalg.solve(xtx, xty[..., None])[..., 0]
    return y - np.einsum("...ni,...i->...n", x, coef)


def _ar1(resid: np.ndarray) -> np.ndarray:
    """Bias-corrected AR(1) coefficient of OLS trend residuals (..., n), in [0, RHO_MAX]."""
    n = resid.shape[-1]
    r = (resid[..., 1:] * resid[..., :-1]).sum(axis=-1) / (resid**2).sum(axis=-1)
    return np.clip(r + (2.0 + 4.0 * r) / n, 0.0, RHO_MAX)


def _prais_winsten(v: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Prais-Winsten transform along axis -2 of v (..., n, p) with rho (...)."""
    rho = np.asarray(rho)[..., None, None]
    first = np.sqrt(1.0 - rho**2) * v[..., :1, :]
    return np.concatenate([first, v[..., 1:, :] - rho * v[..., :-1, :]], axis=-2)


def _statistics(y: np.ndarray, x: np.ndarray, nh: int, js: np.ndarray):
    """(rho, prewhitened MOSUM process, F_j for the break indices js) of series y (..., n) on x (n, k)."""
    n, k = x.shape
    rho = _ar1(_ols_resid(np.broadcast_to(x, y.shape + (k,)), y))
    z = _prais_winsten(y[..., None], rho)[..., 0]
    xz = _prais_winsten(np.broadcast_to(x, y.shape + (k,)), rho)
    e0 = _ols_resid(xz, z)
    rss0 = (e0**2).sum(axis=-1)
    proc = _mosum(e0, nh, k)
    step = (np.arange(n)[None, :] >= js[:, None]).astype(float)  # (J, n)
    x2 = np.concatenate([np.broadcast_to(x, (js.size, n, k)), x[None] * step[..., None]], axis=-1)  # (J, n, 2k)
    x2z = _prais_winsten(np.broadcast_to(x2, y.shape[:-1] + x2.shape), rho[..., None])
    e1 = _ols_resid(x2z, np.broadcast_to(z[..., None, :], y.shape[:-1] + (js.size, n)))
    rss1 = (e1**2).sum(axis=-1)
    f = (rss0[..., None] - rss1) / k / (rss1 / (n - 2 * k))
    return rho, proc, f


@lru_cache(maxsize=256)
def _null_distribution(years: tuple[int, ...], nh: int, rho: float, n_sim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted null supF and MOSUM statistics for Gaussian AR(1) errors with coefficient ``rho``."""
    x = _design(np.asarray(years))
    n, k = x.shape
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((n_sim, n))
    e = np.empty_like(w)
    e[:, 0] = w[:, 0] / np.sqrt(1.0 - rho**2)
    for t in range(1, n):
        e[:, t] = rho * e[:, t - 1] + w[:, t]
    js = _break_indices(n, nh, k)
    _, proc, f = _statistics(e, x, nh, js)
    return np.sort(f.max(axis=-1)), np.sort(np.abs(proc).max(axis=-1))


def _break_indices(n: int, nh: int, k: int) -> np.ndarray:
    m = max(nh, k + 1)
    return np.arange(m, n - m + 1)


def _mc_p(null: np.ndarray, stat: float) -> float:
    return float((1 + (null.size - np.searchsorted(null, stat, side="left"))) / (null.size + 1))


def asymptotic_p_value(statistic: float, h: float = MOSUM_H) -> tuple[float, float]:
    """(p-value, 5 % critical value) of the OLS-MOSUM statistic from ``MOSUM_CRITICAL_VALUES``: linear
    interpolation in h, then in the statistic between (0, p = 1) and the tabulated levels; beyond the
    last level the p-value is reported as 0.01 (an upper bound)."""
    if not (MOSUM_CRITICAL_H[0] <= h <= MOSUM_CRITICAL_H[-1]):
        raise InputError(f"h={h} is outside the tabulated range {MOSUM_CRITICAL_H[0]:.2f}-{MOSUM_CRITICAL_H[-1]:.2f}")
    cv = np.array([np.interp(h, MOSUM_CRITICAL_H, MOSUM_CRITICAL_VALUES[:, j]) for j in range(MOSUM_CRITICAL_ALPHAS.size)])
    p = float(np.interp(statistic, np.concatenate([[0.0], cv]), np.concatenate([[1.0], MOSUM_CRITICAL_ALPHAS])))
    return p, float(cv[list(MOSUM_CRITICAL_ALPHAS).index(0.05)])


def break_test(
    series,
    years=None,
    *,
    h: float = MOSUM_H,
    alpha: float = BREAK_ALPHA,
    n_sim: int = NULL_SIMULATIONS,
    seed: int = 0,
    expected_year: int | None = None,
) -> BreakpointResult:
    """supF and OLS-MOSUM tests for a change in an annual series, robust to AR(1) errors, and the date of
    one break when significant.

    ``series``: DataArray with dimension ``time`` (years from ``time.dt.year``) or a 1-D array with
    ``years``. Missing values are dropped. ``expected_year``: the year a change is expected to start (an
    intervention's start); outside the datable years no date is given (module docstring, trimming).
    See the module docstring for formulas and references.
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
    if not np.any(np.abs(_ols_resid(x, vals)) > 1e-12 * max(np.abs(vals).max(), 1e-300)):
        raise InputError("breakpoint series is an exact straight line; the break tests are undefined")
    js = _break_indices(n, nh, k)
    rho, proc, f = _statistics(vals, x, nh, js)
    rho_used = round(float(rho), 2)
    null_f, null_m = _null_distribution(tuple(int(v) for v in yrs), nh, rho_used, int(n_sim), int(seed))
    supf = float(f.max())
    mosum = float(np.abs(proc).max())
    p_f, p_m = _mc_p(null_f, supf), _mc_p(null_m, mosum)
    p_as, cv5 = asymptotic_p_value(mosum, h)
    centres = np.array([yrs[j : j + nh].mean() for j in range(proc.size)])
    significant, mosum_significant = bool(p_f < alpha), bool(p_m < alpha)
    first, last = int(yrs[js[0]]), int(yrs[js[-1]])
    caveat = None
    if expected_year is not None and not first <= int(expected_year) <= last:
        caveat = (f"the start {int(expected_year)} cannot be dated: with {n} years and segments of at least "
                  f"{js[0]} years the test dates breaks only from {first} to {last}; "
                  + ("the change is significant but no year is given" if significant else "no year is given"))
    return BreakpointResult(
        break_year=int(yrs[js[int(np.argmax(f))]]) if significant and caveat is None else None,
        p_value=p_f,
        significant=significant,
        supf_statistic=supf,
        supf_critical_value_5pct=float(np.quantile(null_f, 1 - BREAK_ALPHA)),
        mosum_statistic=mosum,
        mosum_p_value=p_m,
        mosum_p_value_asymptotic=p_as,
        mosum_critical_value_5pct=cv5,
        mosum_significant=mosum_significant,
        mosum_peak_year=int(np.floor(centres[int(np.argmax(np.abs(proc)))])) if mosum_significant else None,
        ar1=rho_used,
        h=float(h),
        n_years=int(n),
        window_years=int(nh),
        process=pd.Series(proc, index=centres, name="mosum"),
        first_datable_year=first,
        last_datable_year=last,
        caveat=caveat,
    )
