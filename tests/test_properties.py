"""Property tests (hypothesis) of the numba kernels against slow references written plainly here.

Kernels: the SOC stock path (``soc._soc_path_kernel`` via ``soc_stock``), the standardised drought
indices (``drought._si_kernel_py`` via ``spi``/``spei``: gamma with a zero mass, fitted by PWM or
maximum likelihood, and the generalised logistic) and the Mann-Kendall / Theil-Sen kernel (whose
agreement with a plain reference on NaN placement, ties and constant series is in test_trend.py; here:
infinite and extreme values). Each property covers NaN placement, ties, constant series and extreme
values. References use scipy for distributions and the textbook formulas for L-moments (pairwise
differences, not the kernel's probability-weighted moments).
"""

from __future__ import annotations

import itertools
import math
import statistics

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from dldd.core.legend import CLASS_NODATA
from dldd.indicators import drought, soc, trend

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------------------------------
# SOC stock path
# --------------------------------------------------------------------------------------------------


def soc_path_reference(soc0: float, lc: list[int], f: float, n_years: int = 20) -> list[float]:
    """Stock per year, from the rule as stated: a transition a -> b seen in year t (between valid years)
    starts from the stock S of year t-1 and moves to S * F_LU[a, b] in n equal steps, reaching it in year
    t-1+n; a new transition restarts from the current stock; no-data years change nothing."""
    if not math.isfinite(soc0):
        return [math.nan] * len(lc)
    table = soc.f_lu_matrix(f)
    out, stock, prev = [], soc0, None
    start = target = soc0
    t0 = None
    for t, c in enumerate(lc):
        if 1 <= c <= 7:
            if prev is not None and c != prev:
                start, target, t0 = stock, stock * table[prev - 1][c - 1], t - 1
            prev = c
        if t0 is not None:
            k = min(t - t0, n_years)
            stock = target if k == n_years else start + k / n_years * (target - start)
        out.append(stock)
    return out


def _soc(soc0, lc, f, n_years=20):
    t = pd.date_range("2000-01-01", periods=len(lc), freq="YS")
    lc_da = xr.DataArray(np.array(lc, dtype=np.int8)[:, None], dims=("time", "x"), coords={"time": t})
    ref = xr.DataArray(np.array([soc0], dtype=np.float64), dims=("x",))
    return soc.soc_stock(ref, lc_da, f, transition_years=n_years).values[:, 0]


classes = st.one_of(st.integers(1, 7), st.just(CLASS_NODATA))
stocks = st.one_of(st.floats(0, 500), st.floats(1e-30, 1e30), st.just(0.0), st.just(math.nan))


@SETTINGS
@given(stocks, st.lists(classes, min_size=1, max_size=45), st.sampled_from(sorted(soc.CLIMATE_FACTOR.values())),
       st.integers(1, 25))
def test_soc_path_matches_plain_reference(soc0, lc, f, n_years):
    got = _soc(soc0, lc, f, n_years)
    want = soc_path_reference(soc0, lc, f, n_years)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))  # NaN only where SOC0 is missing
    # the kernel works in float64 and stores float32: compare with the reference rounded the same way
    # (tiny stocks underflow to 0 or to float32 subnormals in both)
    np.testing.assert_allclose(got, np.array(want, dtype=np.float32), rtol=2e-6, atol=1e-44)


@SETTINGS
@given(st.floats(1e-30, 1e30), st.integers(1, 7), st.integers(1, 40))
def test_soc_constant_land_cover_keeps_the_reference_stock(soc0, c, n):
    got = _soc(soc0, [c] * n, 0.8)
    np.testing.assert_array_equal(got, np.float32(soc0))


def test_soc_nodata_years_do_not_break_the_path():
    """A no-data year between two covers is not a transition; the change is counted between valid years."""
    f = 0.69
    a = _soc(50.0, [2, 2, CLASS_NODATA, 3, 3], f)
    b = _soc(50.0, [2, 2, 2, 3, 3], f)
    np.testing.assert_array_equal(a, b)
    assert a[3] == pytest.approx(50 + (50 * f - 50) / 20, rel=1e-6)


# --------------------------------------------------------------------------------------------------
# SPI / SPEI
# --------------------------------------------------------------------------------------------------


def _monthly(values, start="2000-01-01"):
    t = pd.date_range(start, periods=len(values), freq="MS")
    return xr.DataArray(np.asarray(values, dtype=np.float64), dims=("time",), coords={"time": t}, name="pr")


def _window_sums(x, scale):
    out = [math.nan] * len(x)
    for i in range(scale - 1, len(x)):
        w = x[i - scale + 1: i + 1]
        out[i] = sum(w) if all(math.isfinite(v) for v in w) else math.nan
    return out


def _l_moments(sample):
    """Unbiased sample L-moments l1, l2, l3 from their definitions over pairs and triples of the
    ordered sample (Hosking 1990, eq. 2.3), not from probability-weighted moments."""
    xs = sorted(sample)
    n = len(xs)
    l1 = sum(xs) / n
    l2 = sum(xs[j] - xs[i] for i, j in itertools.combinations(range(n), 2)) / (2 * math.comb(n, 2))
    l3 = sum(xs[k] - 2 * xs[j] + xs[i] for i, j, k in itertools.combinations(range(n), 3)) / (3 * math.comb(n, 3))
    return l1, l2, l3


def _gamma_pwm(pos):
    """Gamma shape and scale from l1 and the L-CV (Hosking & Wallis 1997, A.9 rational approximation)."""
    l1, l2, _ = _l_moments(pos)
    if not (0 < l2 < l1):
        return None
    t = l2 / l1
    if t >= 0.5:
        z = 1 - t
        a = (0.7213 * z - 0.5947 * z * z) / (1 - 2.1817 * z + 1.2113 * z * z)
    else:
        z = math.pi * t * t
        a = (1 - 0.3080 * z) / (z - 0.05812 * z * z + 0.01765 * z ** 3)
    return a, l1 / a


def _gamma_ml(pos):
    if max(pos) == min(pos):
        return None
    a, _, scale = stats.gamma.fit(pos, floc=0)
    return a, scale


def _z(lower, upper):
    """Standard normal quantile of a probability given with its complement (keeps the upper tail exact)."""
    return stats.norm.ppf(lower) if lower <= 0.5 else stats.norm.isf(upper)


def spi_reference(x, scale, method):
    acc = _window_sums(list(x), scale)
    out = [math.nan] * len(x)
    for m in range(12):
        idx = range(m, len(x), 12)
        sample = [acc[i] for i in idx if math.isfinite(acc[i])]
        pos = [v for v in sample if v > 0]
        if len(pos) < drought.MIN_FIT_VALUES:
            continue
        fit = (_gamma_pwm if method == "pwm" else _gamma_ml)(pos)
        if fit is None:
            continue
        a, b = fit
        q = (len(sample) - len(pos)) / len(sample)
        for i in idx:
            v = acc[i]
            if not math.isfinite(v):
                continue
            if v <= 0:
                out[i] = _z(q, 1 - q)
            else:
                out[i] = _z(q + (1 - q) * stats.gamma.cdf(v, a, scale=b), (1 - q) * stats.gamma.sf(v, a, scale=b))
    return np.array(out)


def spei_reference(d, scale):
    acc = _window_sums(list(d), scale)
    out = [math.nan] * len(d)
    for m in range(12):
        idx = range(m, len(d), 12)
        sample = [acc[i] for i in idx if math.isfinite(acc[i])]
        if len(sample) < drought.MIN_FIT_VALUES:
            continue
        l1, l2, l3 = _l_moments(sample)
        if not l2 > 0 or not abs(l3 / l2) < 1:
            continue
        k = -l3 / l2
        if abs(k) <= 1e-6:
            xi, alpha, k = l1, l2, 0.0
        else:
            alpha = l2 * math.sin(k * math.pi) / (k * math.pi)
            xi = l1 - alpha * (1 / k - math.pi / math.sin(k * math.pi))
        for i in idx:
            v = acc[i]
            if not math.isfinite(v):
                continue
            arg = 1 - k * (v - xi) / alpha
            if k != 0 and arg <= 0:
                out[i] = -math.inf if k < 0 else math.inf
                continue
            y = (v - xi) / alpha if k == 0 else -math.log(arg) / k
            out[i] = _z(stats.logistic.cdf(y), stats.logistic.sf(y))
    return np.array(out)


def _rain(seed, n_years, zero_share, nan_share, ties):
    rng = np.random.default_rng(seed)
    x = rng.gamma(1.5, 30.0, size=12 * n_years)
    x[rng.random(x.size) < zero_share] = 0.0
    if ties:
        x = np.round(x / 10) * 10  # many equal values
    x[rng.random(x.size) < nan_share] = np.nan
    return x


def _assert_index_close(got, want, atol):
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    both = np.isfinite(got) & np.isfinite(want)
    np.testing.assert_array_equal(got[~both & ~np.isnan(got)], want[~both & ~np.isnan(want)])  # same infinities
    np.testing.assert_allclose(got[both], want[both], rtol=0, atol=atol)


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(5, 9), st.sampled_from([1, 3]), st.sampled_from([0.0, 0.15]),
       st.sampled_from([0.0, 0.03]), st.booleans(), st.sampled_from(["pwm", "ml"]))
def test_spi_matches_plain_reference(seed, n_years, scale, zero_share, nan_share, ties, method):
    x = _rain(seed, n_years, zero_share, nan_share, ties)
    got = drought.spi(_monthly(x), scale=scale, method=method).values
    _assert_index_close(got, spi_reference(x, scale, method), atol=2e-6 if method == "pwm" else 1e-5)


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(5, 8), st.sampled_from([1, 3]), st.sampled_from([0.0, 0.03]),
       st.booleans())
def test_spei_matches_plain_reference(seed, n_years, scale, nan_share, ties):
    rng = np.random.default_rng(seed + 1)
    pr = _rain(seed, n_years, 0.1, nan_share, ties)
    pet = np.round(rng.gamma(4.0, 15.0, size=pr.size), 0 if ties else 6)
    got = drought.spei(_monthly(pr), _monthly(pet).rename("pet"), scale=scale).values
    _assert_index_close(got, spei_reference(pr - pet, scale), atol=2e-6)


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.sampled_from([1e-150, 1e-20, 1e20, 1e150]), st.sampled_from(["pwm", "ml"]))
def test_spi_is_scale_free_down_to_extreme_magnitudes(seed, factor, method):
    x = _rain(seed, 7, 0.1, 0.02, False)
    a = drought.spi(_monthly(x), scale=3, method=method).values
    b = drought.spi(_monthly(x * factor), scale=3, method=method).values
    _assert_index_close(b, a, atol=1e-6)


@pytest.mark.parametrize("value", [0.0, 1e-300, 7.0, 1e300])
def test_spi_constant_series_has_no_fit(value):
    """A constant series gives no gamma fit (l2 = 0, or no positive sums): NaN everywhere, never a number."""
    out = drought.spi(_monthly(np.full(96, value)), scale=1).values
    assert np.isnan(out).all()


def test_spi_nan_placement():
    """A missing month blanks exactly the windows that hold it, and the first scale - 1 months."""
    x = _rain(5, 8, 0.0, 0.0, False)
    x[40] = np.nan
    out = drought.spi(_monthly(x), scale=3).values
    expected_nan = np.zeros(x.size, bool)
    expected_nan[:2] = True
    expected_nan[40:43] = True
    np.testing.assert_array_equal(np.isnan(out), expected_nan)


# --------------------------------------------------------------------------------------------------
# Mann-Kendall / Theil-Sen: infinite and extreme values (the rest is in test_trend.py)
# --------------------------------------------------------------------------------------------------


def _annual(values):
    t = pd.date_range("1990-01-01", periods=len(values), freq="YS")
    return xr.DataArray(np.asarray(values, dtype=np.float64), dims=("time",), coords={"time": t})


def _mk_reference(x):
    pts = [(t, v) for t, v in enumerate(x) if math.isfinite(v)]
    s = sum((b[1] > a[1]) - (b[1] < a[1]) for a, b in itertools.combinations(pts, 2))
    slope = statistics.median((b[1] - a[1]) / (b[0] - a[0]) for a, b in itertools.combinations(pts, 2))
    return s, slope, len(pts)


big = st.one_of(st.floats(-1e150, 1e150, allow_nan=False), st.integers(-2, 2).map(lambda v: v * 1e150))
gaps = st.sampled_from([math.nan, math.inf, -math.inf])


@SETTINGS
@given(st.lists(st.one_of(big, gaps), min_size=3, max_size=25))
def test_mann_kendall_extreme_and_infinite_values(values):
    x = np.array(values)
    assume(np.isfinite(x).sum() >= 2)
    ds = trend.mann_kendall(_annual(x), min_years=2)
    s, slope, n = _mk_reference(values)
    assert int(ds.n) == n
    assert float(ds.s) == s
    assert float(ds.slope) == pytest.approx(slope, rel=1e-12, abs=0)
    # infinities are missing years, exactly like NaN
    as_nan = trend.mann_kendall(_annual(np.where(np.isfinite(x), x, np.nan)), min_years=2)
    for name in ("s", "var_s", "z", "p", "slope", "intercept", "n"):
        np.testing.assert_array_equal(ds[name].values, as_nan[name].values)
