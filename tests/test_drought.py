"""Tests of dldd.indicators.drought: SPI, SPEI (METHODS 2) and the UNCCD SO3 indicators.

References: the R package SPEI's SPI on the Wichita record (validation data), climate_indices (Thom fit)
and xclim (maximum likelihood) on the same synthetic input, plain numpy/scipy re-implementations, and
samples from known distributions.
"""

from __future__ import annotations

import itertools
import logging
import math
import warnings
from pathlib import Path

import dask.array as dsa
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from dldd.core.legend import CLASS_NODATA
from dldd.errors import GridMismatchError, InputError
from dldd.indicators.drought import kernel
from dldd.indicators.drought import (
    DEFAULT_CALIBRATION,
    SO3_EXTREME_UPPER,
    SO3_LEGEND,
    SO3_MILD_UPPER,
    SO3_MODERATE_UPPER,
    SO3_SEVERE_UPPER,
    so3_exposure,
    so3_hazard,
    so3_hazard_blocks,
    so3_vulnerability,
    spei,
    spi,
)

VALIDATION = Path(__file__).resolve().parent / "data"  # copies of ../shared/validation, see data/PROVENANCE.md


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------


def monthly(values: np.ndarray, start: str = "1981-01-01", name: str = "pr") -> xr.DataArray:
    """(time, pixel) or (time,) array as a monthly DataArray."""
    time = pd.date_range(start, periods=values.shape[0], freq="MS")
    dims = ("time",) if values.ndim == 1 else ("time", "pixel")
    return xr.DataArray(values, dims=dims, coords={"time": time}, name=name)


def synthetic_pr(n_years: int = 40, n_pixels: int = 5, seed: int = 1) -> np.ndarray:
    """Seasonal gamma monthly precipitation with dry spells (zeros), one very dry pixel."""
    rng = np.random.default_rng(seed)
    n = 12 * n_years
    month = np.arange(n) % 12
    season = 1.0 + 0.9 * np.sin(2 * np.pi * (month - 3) / 12)
    shape = np.linspace(0.6, 3.0, n_pixels)
    scale = np.linspace(10.0, 60.0, n_pixels)
    pr = rng.gamma(shape, scale, size=(n, n_pixels)) * season[:, None]
    pr[rng.random(pr.shape) < 0.08] = 0.0
    dry_season = np.isin(month, [5, 6, 7])
    pr[dry_season, 0] *= rng.random(dry_season.sum()) < 0.45  # ~55 % zeros in June-August, pixel 0
    return pr


def rolling_sum(x: np.ndarray, scale: int) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    for i in range(scale - 1, x.shape[0]):
        out[i] = x[i - scale + 1: i + 1].sum(axis=0)
    return out


# ------------------------------------------------------------------------------------------------
# SPI against the R package SPEI (L-moment gamma fit, Wichita, whole record as calibration)
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wichita() -> pd.DataFrame:
    return pd.read_csv(VALIDATION / "wichita_monthly.csv")


def wichita_pr(df: pd.DataFrame) -> xr.DataArray:
    time = pd.to_datetime(dict(year=df.year, month=df.month, day=1))
    return xr.DataArray(df.prcp_mm.to_numpy(), dims="time", coords={"time": time}, name="prcp")


def test_spi12_pwm_reproduces_r_spei_package(wichita):
    # R's spi() with its defaults: fit = "ub-pwm" and the whole record (1980-01..2011-10) as reference
    # period; ours would default to 1981-2010 (covered by the record), so the whole record is asked for.
    pr = wichita_pr(wichita)
    ours = spi(pr, scale=12, method="pwm", cal_start=1980, cal_end=2011)
    assert "calibration=1980-01..2011-10" in ours.attrs["parameters"]
    r = wichita.r_spei_pkg_spi_12.to_numpy()
    assert np.isnan(ours.values[:11]).all() and np.isnan(r[:11]).all()
    np.testing.assert_allclose(ours.values[11:], r[11:], rtol=0, atol=1e-5)


def test_spi1_pwm_reproduces_r_spei_package_where_rain(wichita):
    pr = wichita_pr(wichita)
    ours = spi(pr, scale=1, method="pwm", cal_start=1980, cal_end=2011).values
    r = wichita.r_spei_pkg_spi_1.to_numpy()
    rain = wichita.prcp_mm.to_numpy() > 0
    month = wichita.month.to_numpy()
    q = np.array([(wichita.prcp_mm[month == m] == 0).mean() for m in range(1, 13)])[month - 1]
    # SPEI 1.8.1 fits the gamma to the positive values but leaves out the zero mass q in the SPI it
    # returns (its zero-rain months are -Inf, i.e. q = 0). Where a calendar month has no zero the two
    # coincide; elsewhere we check H = q + (1 - q) G(x) against R's G(x) = Phi(SPI_R).
    no_zero_month = rain & (q == 0)
    assert no_zero_month.sum() > 250
    np.testing.assert_allclose(ours[no_zero_month], r[no_zero_month], rtol=0, atol=1e-5)
    expected = stats.norm.ppf(q + (1 - q) * stats.norm.cdf(r))
    np.testing.assert_allclose(ours[rain], expected[rain], rtol=0, atol=1e-5)
    # zero rainfall: H = q, the top of the zero mass
    np.testing.assert_allclose(ours[~rain], stats.norm.ppf(q[~rain]), rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------------------------
# SPI against peers on the same synthetic input
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [3, 12])
def test_spi_thom_matches_climate_indices(scale, monkeypatch):
    monkeypatch.setenv("CLIMATE_INDICES_LOG_LEVEL", "ERROR")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        from climate_indices import compute, indices
    finally:  # importing climate_indices replaces the root logger's handlers
        root.handlers[:] = handlers
        root.setLevel(level)
    pr = synthetic_pr()
    # Same conditions: calibration 1981-2010, sums over `scale` months with the first scale - 1 months
    # missing in both, zero mass q = zeros / valid calibration sums and zeros scored Phi^-1(q) in both,
    # and climate_indices' fixed bound +-3.09 given to ours as clip.
    ours = spi(monthly(pr), scale, method="thom", cal_start=1981, cal_end=2010, clip=3.09).values
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = indices.spi(
            pr[:, :, None], scale, indices.Distribution.gamma, 1981, 1981, 2010,
            compute.Periodicity.monthly, spatial_time_major=True,
        )[:, :, 0]
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    assert np.isnan(ours[: scale - 1]).all() and np.isfinite(ours[scale - 1:]).all()
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4, equal_nan=True)
    assert (pr[:, 0] == 0).mean() > 0.1  # the zero mass really is exercised


def test_spi_ml_matches_xclim():
    from xclim.indices import standardized_precipitation_index

    pr = synthetic_pr(n_pixels=3, seed=2)
    da = monthly(pr).assign_attrs(units="mm/month")  # monthly amounts
    ours = spi(da, 12, method="ml", cal_start=1981, cal_end=2010)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = standardized_precipitation_index(
            da, freq="MS", window=12, dist="gamma", method="ML", fitkwargs={"floc": 0},
            cal_start="1981-01-01", cal_end="2010-12-31",
        ).transpose(*da.dims).values
    # xclim averages instead of summing over the window (the gamma ML fit with location 0 is
    # scale-free, so the SPI is the same) and bounds the index to +-8.21 (never reached here); both
    # leave the first 11 months missing and give zeros the zero-mass probability q.
    np.testing.assert_array_equal(np.isnan(ours.values), np.isnan(theirs))
    np.testing.assert_allclose(ours.values, theirs, rtol=0, atol=1e-4, equal_nan=True)


def test_methods_differ_as_documented():
    pr = monthly(synthetic_pr(seed=3))
    a = spi(pr, 12, method="pwm").values
    b = spi(pr, 12, method="ml").values
    c = spi(pr, 12, method="thom").values
    for u, v in ((a, b), (a, c), (b, c)):
        d = np.nanmax(np.abs(u - v))
        assert 1e-6 < d < 0.5


# ------------------------------------------------------------------------------------------------
# Exactness of the gamma CDF / inverse normal against scipy
# ------------------------------------------------------------------------------------------------


def reference_spi_thom(pr: np.ndarray, scale: int, cal: slice) -> np.ndarray:
    """Plain numpy/scipy SPI with Thom's fit; exact upper tail via gammaincc."""
    acc = rolling_sum(pr, scale)
    out = np.full(acc.shape, np.nan)
    month = np.arange(acc.shape[0]) % 12
    for p in range(acc.shape[1]):
        for c in range(12):
            rows = np.flatnonzero(month == c)
            sample = acc[rows[(rows >= cal.start) & (rows < cal.stop)], p]
            sample = sample[np.isfinite(sample)]
            q = np.mean(sample == 0)
            pos = sample[sample > 0]
            a_stat = np.log(pos.mean()) - np.log(pos).mean()
            alpha = (1 + np.sqrt(1 + 4 * a_stat / 3)) / (4 * a_stat)
            beta = pos.mean() / alpha
            x = acc[rows, p]
            lower = q + (1 - q) * special.gammainc(alpha, x / beta)
            upper = (1 - q) * special.gammaincc(alpha, x / beta)
            z = np.where(lower <= 0.5, special.ndtri(lower), -special.ndtri(upper))
            out[rows, p] = z
    return out


def test_spi_gamma_cdf_and_inverse_normal_are_exact():
    rng = np.random.default_rng(7)
    n = 12 * 45
    pr = np.column_stack([
        rng.gamma(0.3, 20.0, n),  # skewed SPI-1 regime (small shape)
        rng.gamma(4.0, 25.0, n),
        rng.normal(500.0, 5.0, n).clip(0),  # near-constant: shape in the thousands
        rng.gamma(2.0, 10.0, n),
    ])
    pr[-3:, 3] = [2000.0, 3000.0, 5000.0]  # far upper tail: the continued-fraction branch
    pr[rng.random(n) < 0.1, 0] = 0.0
    for scale in (1, 6):
        ours = spi(monthly(pr), scale, method="thom", cal_start=1981, cal_end=2010).values
        ref = reference_spi_thom(pr, scale, slice(0, 360))
        finite = np.isfinite(ref)
        np.testing.assert_array_equal(np.isfinite(ours), finite)
        regular = finite & (np.arange(4) != 2)
        np.testing.assert_allclose(ours[regular], ref[regular], rtol=0, atol=1e-11)
        # pixel 2 (shape ~1e4): Thom's A = ln(mean) - mean(ln x) ~ 1e-5 carries a relative rounding
        # error ~1e-10 in either implementation, which moves the fitted shape (not the CDF) that much
        np.testing.assert_allclose(ours[finite], ref[finite], rtol=0, atol=2e-9)
    assert np.nanmax(ours) > 8  # the upper tail well beyond the series branch was exercised


def kernel_gamma_index(alpha: float, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """White box: the kernel's G, 1 - G and SPI of the values y of a gamma(alpha, 1) (no zero mass),
    every calendar month holding the values y (row layout of kernel._gamma_index)."""
    nb = y.size
    buf = np.full((kernel._N_ROWS, 12 * nb), np.nan)
    ints = np.zeros((kernel._N_IROWS, 12 * nb), dtype=np.int64)
    buf[kernel._R_X] = np.tile(y, 12)
    buf[kernel._R_ALPHA] = alpha
    buf[kernel._R_INV_ALPHA] = 1 / alpha
    buf[kernel._R_INV_BETA] = 1.0
    buf[kernel._R_B] = kernel._stirling_b(alpha)
    buf[kernel._R_SPLIT] = gamma_split(alpha)
    buf[kernel._R_Q] = 0.0
    buf[kernel._R_ZERO] = -np.inf
    with np.errstate(all="ignore"):
        kernel._gamma_index(buf, buf.view(np.int64), ints, ints.view(np.float64), nb)
    return buf[kernel._R_LOWER, :nb], buf[kernel._R_UPPER, :nb], buf[kernel._R_Z, :nb]


def gamma_split(alpha: float) -> float:
    """Where the kernel passes from the power series of G to the continued fraction of 1 - G."""
    return alpha + 1 + kernel._SERIES_SIGMAS * math.sqrt(alpha + 1)


@pytest.mark.parametrize("alpha", [0.05, 1.0, 9.999, 10.0, 15.0, 40.0, 1e3, 2e4])
def test_gamma_cdf_matches_scipy_across_branches(alpha):
    # both sides of each switch of the evaluation: |u| = 1/2 (series of ln(1 + u) - u or ln(y / a) - u),
    # the series / continued fraction split, Stirling's series from shape 10; and both far tails
    sd, split = math.sqrt(alpha), gamma_split(alpha)
    y = np.array([alpha * 0.5, alpha * 1.5, split, 1e-300, 1e-20, 1e-5, 3 * alpha, 10 * alpha + 50])
    around = np.maximum(alpha + np.linspace(-10, 10, 41) * sd, 1e-3)
    y = np.concatenate([y * (1 - 1e-9), y * (1 + 1e-9), around])
    lower, upper, z = kernel_gamma_index(alpha, y)
    p, q = special.gammainc(alpha, y), special.gammaincc(alpha, y)
    ref = np.where(p <= 0.5, special.ndtri(p), -special.ndtri(q))
    low = (p <= 0.5) & (p > 1e-300)  # scipy underflows to 0 below ~1e-308 (the kernel does not)
    np.testing.assert_allclose(lower[low], p[low], rtol=1e-12, atol=0)
    # above the median 1 - G comes from the series up to the split (absolute error ~1e-15, 1 - G > 2e-3
    # there) and from the continued fraction beyond it
    high = (p > 0.5) & (q > 1e-300)
    np.testing.assert_allclose(upper[high], q[high], rtol=1e-11, atol=0)
    np.testing.assert_allclose(upper[high & (y > split)], q[high & (y > split)], rtol=5e-12, atol=0)
    finite = np.isfinite(ref)
    np.testing.assert_allclose(z[finite], ref[finite], rtol=0, atol=1e-11)
    assert np.all(z[~finite & (p > 0.5)] == np.inf)


def test_block_exp_log_match_numpy_with_special_values():
    rng = np.random.default_rng(4)
    x = np.concatenate([[0.0, -0.0, -1.0, np.nan, np.inf, -np.inf, 5e-324, 1e-310, 2.2250738585072014e-308,
                         1.7976931348623157e308, 1.0, 0.5, 2.0], 10 ** rng.uniform(-307, 308, 2000)])
    e = np.concatenate([[np.nan, np.inf, -np.inf, -745.3, -745.2, -745.1, -740.0, -708.5, -708.0, 0.0, 709.0,
                         709.5, 709.78, 709.79, 709.8, 800.0], rng.uniform(-750, 720, 2000)])
    for vfunc, npfunc, values in ((kernel._vlog, np.log, x), (kernel._vexp, np.exp, e)):
        m = values.size
        buf = np.vstack([values, np.zeros(m)])
        ints = np.zeros((1, m), dtype=np.int64)
        with np.errstate(all="ignore"):
            if vfunc is kernel._vlog:
                vfunc(buf, buf.view(np.int64), 0, 1, m, ints, 0)
            else:
                vfunc(buf, 0, 1, m, ints, ints.view(np.float64), 0)
            want = npfunc(values)
        np.testing.assert_array_equal(np.isfinite(buf[1]), np.isfinite(want))
        np.testing.assert_array_equal(buf[1][~np.isfinite(want)], want[~np.isfinite(want)])
        np.testing.assert_allclose(buf[1], want, rtol=4e-16, atol=0)  # subnormal results included


def test_block_inverse_normal_matches_scipy_in_both_tails():
    edges = [0.0, 1e-300, 1e-20, 1e-5, 0.02, 0.075, 0.0751, 0.3, 0.5, 0.9249, 0.925, 0.99, np.nan]
    p = np.concatenate([edges, np.random.default_rng(5).random(300)])
    pc = 1 - p
    tiny = np.array([1e-300, 1e-20, 1e-12])  # upper tail given by its complement (p rounds to 1)
    p, pc = np.concatenate([p, 1 - tiny, [1.0]]), np.concatenate([pc, tiny, [0.0]])
    m = p.size
    buf = np.full((kernel._N_ROWS, m), np.nan)
    buf[kernel._R_LOWER], buf[kernel._R_UPPER] = p, pc
    ints = np.zeros((kernel._N_IROWS, m), dtype=np.int64)
    with np.errstate(all="ignore"):
        kernel._norm_ppf_block(buf, buf.view(np.int64), ints, kernel._R_LOWER, kernel._R_UPPER,
                                kernel._R_Z, m)
    want = np.where(p <= 0.5, special.ndtri(p), -special.ndtri(pc))
    np.testing.assert_allclose(buf[kernel._R_Z], want, rtol=1e-15, atol=1e-15, equal_nan=True)


# ------------------------------------------------------------------------------------------------
# SPEI
# ------------------------------------------------------------------------------------------------


def u_statistic_lmoments(x: np.ndarray) -> tuple[float, float, float]:
    """Sample L-moments l1, l2, l3 from their U-statistic definition (Hosking 1990, eq. 2.x)."""
    x = np.sort(x)
    n = x.size
    l2 = sum(x[j] - x[i] for i, j in itertools.combinations(range(n), 2)) / (2 * math.comb(n, 2))
    l3 = sum(x[k] - 2 * x[j] + x[i] for i, j, k in itertools.combinations(range(n), 3)) / (3 * math.comb(n, 3))
    return x.mean(), l2, l3


def reference_spei(balance: np.ndarray, scale: int) -> np.ndarray:
    """Slow SPEI: U-statistic L-moments, GLO parameters, CDF through scipy's fisk (log-logistic)."""
    acc = rolling_sum(balance, scale)
    out = np.full(acc.shape, np.nan)
    month = np.arange(acc.shape[0]) % 12
    for p in range(acc.shape[1]):
        for c in range(12):
            rows = np.flatnonzero(month == c)
            x = acc[rows, p]
            sample = x[np.isfinite(x)]
            l1, l2, l3 = u_statistic_lmoments(sample)
            k = -l3 / l2
            alpha = l2 * np.sin(k * np.pi) / (k * np.pi)
            xi = l1 - alpha * (1 / k - np.pi / np.sin(k * np.pi))
            if k < 0:  # lower-bounded: a three-parameter log-logistic
                dist = stats.fisk(c=-1 / k, loc=xi + alpha / k, scale=-alpha / k)
                lower, upper = dist.cdf(x), dist.sf(x)
            else:  # upper-bounded: the mirror image
                dist = stats.fisk(c=1 / k, loc=-xi - alpha / k, scale=alpha / k)
                lower, upper = dist.sf(-x), dist.cdf(-x)
            out[rows, p] = np.where(lower <= 0.5, stats.norm.ppf(lower), -stats.norm.ppf(upper))
    return out


def synthetic_balance(seed: int = 5, n_years: int = 30):
    rng = np.random.default_rng(seed)
    n = 12 * n_years
    month = np.arange(n) % 12
    wet = month < 6
    pr = np.where(wet[:, None], rng.gamma(1.5, 40.0, (n, 2)), rng.gamma(8.0, 5.0, (n, 2)))
    # in the dry half the demand carries the skew, so P - PET is left-skewed (GLO k > 0)
    pet = np.where(wet[:, None], 60.0 + rng.normal(0, 3, (n, 2)), 40.0 + rng.gamma(1.2, 30.0, (n, 2)))
    return pr, pet


@pytest.mark.parametrize("scale", [1, 3])
def test_spei_matches_slow_reference(scale):
    pr, pet = synthetic_balance()
    ours = spei(monthly(pr), monthly(pet, name="pet"), scale).values
    ref = reference_spei(pr - pet, scale)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-8, equal_nan=True)


def test_spei_of_log_logistic_sample_is_standard_normal():
    # D = P - PET drawn from a known three-parameter log-logistic distribution, 500 years
    true = stats.fisk(c=4.0, loc=-60.0, scale=90.0)
    d = true.rvs(size=12 * 500, random_state=np.random.default_rng(11))
    pet = np.full(d.shape, 100.0)
    pr = monthly(d + pet, start="1701-01-01")
    out = spei(pr, monthly(pet, start="1701-01-01", name="pet"), 1, cal_start=1701, cal_end=2200).values
    assert abs(out.mean()) < 0.03 and abs(out.std() - 1) < 0.03
    assert stats.kstest(out, "norm").pvalue > 0.01
    # against the index of the true distribution: only the sampling error of 12 fits of 500 values
    deviation = np.abs(out - stats.norm.ppf(true.cdf(d)))
    assert np.median(deviation) < 0.04 and np.percentile(deviation, 99) < 0.25


# ------------------------------------------------------------------------------------------------
# numpy / dask, calibration, input checks
# ------------------------------------------------------------------------------------------------


def test_numpy_and_dask_give_identical_results():
    pr = synthetic_pr(n_pixels=6, seed=9).reshape(-1, 2, 3)
    _, pet = synthetic_balance(n_years=40)
    pet = np.concatenate([pet, pet[:, :1]], axis=1).reshape(-1, 1, 3).repeat(2, axis=1)
    time = pd.date_range("1981-01-01", periods=pr.shape[0], freq="MS")
    coords = {"time": time, "y": [1.0, 0.0], "x": [0.0, 1.0, 2.0]}
    p = xr.DataArray(pr, dims=("time", "y", "x"), coords=coords, name="pr")
    e = xr.DataArray(pet, dims=("time", "y", "x"), coords=coords, name="pet")
    for method in ("pwm", "ml", "thom"):
        eager = spi(p, 6, method=method)
        lazy = spi(p.chunk({"y": 1, "x": 2}), 6, method=method)
        assert isinstance(lazy.data, dsa.Array)
        assert lazy.dims == eager.dims == p.dims
        np.testing.assert_array_equal(lazy.values, eager.values)
    np.testing.assert_array_equal(spei(p.chunk({"y": 1}), e.chunk({"y": 1}), 3).values, spei(p, e, 3).values)


def test_numpy_input_run_in_parts_equals_dask_and_single_series():
    # enough series for the thread pool to cut a numpy cube into parts
    rng = np.random.default_rng(12)
    pr = rng.gamma(1.5, 30.0, (12 * 12, 24, 50))
    pr[rng.random(pr.shape) < 0.05] = 0.0
    time = pd.date_range("1991-01-01", periods=pr.shape[0], freq="MS")
    p = xr.DataArray(pr, dims=("time", "y", "x"), coords={"time": time}, name="pr")
    eager = spi(p, 3, method="thom").values
    np.testing.assert_array_equal(spi(p.chunk({"y": 5}), 3, method="thom").values, eager)
    np.testing.assert_array_equal(spi(p.isel(y=7, x=31), 3, method="thom").values, eager[:, 7, 31])


def test_default_calibration_is_1981_2010_when_covered():
    pr = monthly(synthetic_pr(n_years=40, seed=4), start="1975-01-01")  # 1975-2014
    default = spi(pr, 12)
    assert DEFAULT_CALIBRATION == (1981, 2010)
    assert "calibration=1981-01..2010-12" in default.attrs["parameters"]
    np.testing.assert_array_equal(default.values, spi(pr, 12, cal_start=1981, cal_end="2010").values)
    assert not np.allclose(default.values[11:], spi(pr, 12, cal_start=1975, cal_end=2014).values[11:])
    short = monthly(synthetic_pr(n_years=20, seed=4), start="1995-01-01")
    assert "calibration=1995-01..2014-12" in spi(short, 12).attrs["parameters"]


def test_record_starting_mid_year():
    pr = monthly(synthetic_pr(seed=6))  # 1981-01 .. 2020-12
    full = spi(pr, 12, cal_start=1985, cal_end=2010)
    part = spi(pr.sel(time=slice("1981-03", None)), 12, cal_start=1985, cal_end=2010)
    assert np.isnan(part.values[:11]).all()
    np.testing.assert_array_equal(part.values[11:], full.sel(time=part.time[11:]).values)


def test_output_metadata():
    out = spi(monthly(synthetic_pr(n_years=31)), 3, method="thom", clip=3.09)
    assert out.name == "spi" and out.dtype == np.float64
    for key in ("units", "long_name", "method", "parameters", "references"):
        assert out.attrs[key]
    assert np.nanmax(np.abs(out.values)) <= 3.09


def test_input_errors():
    pr = monthly(synthetic_pr(n_years=10))
    daily = xr.DataArray(np.ones(400), dims="time", coords={"time": pd.date_range("2000-01-01", periods=400)})
    with pytest.raises(InputError, match="time"):
        spi(daily)
    mid_month = pr.assign_coords(time=pr.time + pd.Timedelta(days=14))
    with pytest.raises(InputError, match="first of each month"):
        spi(mid_month)
    with pytest.raises(InputError, match="pr.*non-negative"):
        spi(pr - 1.0)
    with pytest.raises(InputError, match="pr.*non-negative"):
        spi((pr - 1.0).chunk({"pixel": 1})).compute()
    with pytest.raises(InputError, match="time.*chunk"):
        spi(pr.chunk({"time": 24}))
    with pytest.raises(InputError, match="method"):
        spi(pr, method="lmoments")
    with pytest.raises(InputError, match="scale"):
        spi(pr, scale=0)
    with pytest.raises(InputError, match="cal_start"):
        spi(pr, cal_start=2050, cal_end=2060)
    with pytest.raises(GridMismatchError):
        spei(pr.assign_coords(pixel=np.arange(5)), pr.assign_coords(pixel=np.arange(5) + 10))


# ------------------------------------------------------------------------------------------------
# SO3
# ------------------------------------------------------------------------------------------------


def december_series(values: list[float], first_year: int = 2000) -> xr.DataArray:
    """Monthly series whose December values are ``values`` (other months 9.9)."""
    n = 12 * len(values)
    data = np.full(n, 9.9)
    data[11::12] = values
    return monthly(data, start=f"{first_year}-01-01", name="spi12")


def test_so3_thresholds_are_methods_values():
    assert (SO3_MILD_UPPER, SO3_MODERATE_UPPER, SO3_SEVERE_UPPER, SO3_EXTREME_UPPER) == (0.0, -1.0, -1.5, -2.0)
    assert SO3_LEGEND.codes == [0, 1, 2, 3, 4] and SO3_LEGEND.nodata == CLASS_NODATA


def test_so3_hazard_class_boundaries():
    values = [0.0, -1e-12, -1.0, -1.0000001, -1.5, -1.5000001, -2.0, -2.0000001, np.nan, 1.7, -3.5]
    expected = [0, 1, 1, 2, 2, 3, 3, 4, CLASS_NODATA, 0, 4]
    hz = so3_hazard(december_series(values))
    assert hz.dtype == np.int8 and hz.attrs["_FillValue"] == CLASS_NODATA
    assert hz.values.tolist() == expected
    assert pd.DatetimeIndex(hz.time.values).equals(pd.date_range("2000-01-01", periods=len(values), freq="YS"))


def test_so3_hazard_needs_spi12():
    pr = monthly(synthetic_pr(n_years=25, n_pixels=2), start="1999-01-01")
    hz = so3_hazard(spi(pr, 12))
    assert hz.sizes["time"] == 25 and set(np.unique(hz.values)) <= {CLASS_NODATA, 0, 1, 2, 3, 4}
    with pytest.raises(InputError, match="SPI-12"):
        so3_hazard(spi(pr, 3))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=2, max_size=8))
def test_so3_hazard_is_monotone_in_spi(values):
    hz = so3_hazard(december_series(values)).values
    order = np.argsort(values)
    assert np.all(np.diff(hz[order]) <= 0)  # lower SPI, more severe class


def test_so3_hazard_blocks_take_the_most_severe_class():
    years = np.arange(1998, 2025)
    classes = np.zeros((years.size, 2), dtype=np.int8)
    classes[years == 2001, 0] = 2
    classes[years == 2003, 0] = 4
    classes[years == 2009, 1] = 3
    classes[(years >= 2012) & (years <= 2015), 1] = CLASS_NODATA
    classes[years == 1999, 1] = 4  # before the first block: ignored
    hz = xr.DataArray(classes, dims=("time", "pixel"),
                      coords={"time": pd.to_datetime([f"{y}-01-01" for y in years])}, name="so3_hazard")
    blocks = so3_hazard_blocks(hz)
    assert blocks.block_end.values.tolist() == [2003, 2007, 2011, 2015, 2019, 2023]  # 2024 is incomplete
    assert pd.DatetimeIndex(blocks.time.values).year.tolist() == [2000, 2004, 2008, 2012, 2016, 2020]
    assert blocks.sel(pixel=0).values.tolist() == [4, 0, 0, 0, 0, 0]
    assert blocks.sel(pixel=1).values.tolist() == [0, 0, 3, CLASS_NODATA, 0, 0]
    assert blocks.dtype == np.int8
    cut = so3_hazard_blocks(hz.sel(time=slice("2001", None)))  # 2000-2003 cut by the start: left out
    assert cut.block_end.values.tolist() == [2007, 2011, 2015, 2019, 2023]
    np.testing.assert_array_equal(cut.values, blocks.values[1:])
    with pytest.raises(InputError, match="block"):
        so3_hazard_blocks(hz.sel(time=slice("2000", "2002")))


def test_so3_exposure_splits_population_by_class():
    hazard = xr.DataArray(np.array([[0, 1, 4], [2, CLASS_NODATA, 1]], dtype=np.int8), dims=("y", "x"))
    population = xr.DataArray(np.array([[10.0, 20.0, 30.0], [40.0, 50.0, np.nan]]), dims=("y", "x"))
    exp = so3_exposure(hazard, population)
    assert exp.dims == ("drought_class", "y", "x")
    totals = exp.sum(("y", "x")).values.tolist()
    assert totals == [10.0, 20.0, 40.0, 0.0, 30.0]
    assert np.isnan(exp.values[:, 1, 1]).all() and np.isnan(exp.values[:, 1, 2]).all()
    assert exp.sel(drought_class=1).values[0, 1] == 20.0
    with pytest.raises(InputError, match="population"):
        so3_exposure(hazard, -population)
    with pytest.raises(GridMismatchError):
        so3_exposure(hazard.assign_coords(x=[0, 1, 2]), population.assign_coords(x=[5, 6, 7]))


def test_so3_vulnerability_composites():
    a = xr.DataArray(np.array([0.0, 5.0, 10.0]), dims="x")
    b = xr.DataArray(np.array([2.0, 4.0, 3.0]), dims="x")  # min-max: 0, 1, 0.5
    arith = so3_vulnerability({"a": a, "b": b}, weights={"a": 3, "b": 1})
    np.testing.assert_allclose(arith.values, [0.0, 0.75 * 0.5 + 0.25, 0.75 + 0.125])
    geo = so3_vulnerability({"a": a, "b": b}, aggregation="geometric")
    np.testing.assert_allclose(geo.values, [0.0, np.sqrt(0.5), np.sqrt(0.5)])
    inv = so3_vulnerability({"a": a, "b": b}, inverted=["b"])
    np.testing.assert_allclose(inv.values, [0.5, 0.25, 0.75])
    for key in ("units", "long_name", "method", "parameters", "references"):
        assert inv.attrs[key]
    with pytest.raises(InputError, match="weights"):
        so3_vulnerability({"a": a, "b": b}, weights={"a": 1})
    with pytest.raises(InputError, match="constant"):
        so3_vulnerability({"a": a, "c": a * 0 + 1})
    with pytest.raises(InputError, match="aggregation"):
        so3_vulnerability({"a": a}, aggregation="median")
