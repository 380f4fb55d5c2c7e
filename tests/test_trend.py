"""Mann-Kendall / Theil-Sen kernel against pymannkendall and a slow plain-python reference."""

from __future__ import annotations

import math
import statistics
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from dldd.errors import InputError
from dldd.indicators import trend
from dldd.indicators.trend import mann_kendall

FIELDS = ("s", "var_s", "z", "p", "slope", "intercept")


def annual(values, start=2001, years=None, dims=None):
    values = np.asarray(values)
    nt = values.shape[-1]
    if years is None:
        years = np.arange(start, start + nt)
    time = pd.to_datetime([f"{y}-01-01" for y in years])
    dims = dims or tuple(f"d{i}" for i in range(values.ndim - 1)) + ("time",)
    da = xr.DataArray(values, dims=dims, coords={"time": time})
    return da.transpose("time", ...)


def reference(x, years):
    """Slow plain-python Mann-Kendall and Theil-Sen (true year spacing); NaN years skipped."""
    pts = [(float(t), float(v)) for t, v in zip(years, x) if math.isfinite(v)]
    m = len(pts)
    xs = [v for _, v in pts]
    ts = [t for t, _ in pts]
    s = sum((xs[j] > xs[i]) - (xs[j] < xs[i]) for i in range(m) for j in range(i + 1, m))
    ties = sum(c * (c - 1) * (2 * c + 5) for c in Counter(xs).values())
    var_s = (m * (m - 1) * (2 * m + 5) - ties) / 18
    z = 0.0 if s == 0 else (s - math.copysign(1, s)) / math.sqrt(var_s)
    p = math.erfc(abs(z) / math.sqrt(2))
    slopes = [(xs[j] - xs[i]) / (ts[j] - ts[i]) for i in range(m) for j in range(i + 1, m)]
    slope = statistics.median(slopes)
    intercept = statistics.median(xs) - statistics.median([t - float(years[0]) for t in ts]) * slope
    return dict(s=s, var_s=var_s, z=z, p=p, slope=slope, intercept=intercept, n=m)


def test_matches_pymannkendall_with_ties():
    pmk = pytest.importorskip("pymannkendall")
    rng = np.random.default_rng(42)
    for nt in (6, 10, 11, 20, 30):  # both selection paths: n(n-1)/2 below and above 48
        x = np.round(rng.normal(size=(60, nt)) + 0.04 * np.arange(nt), 1)  # one decimal: many ties
        x[:5] = np.round(x[:5])  # heavy ties
        x[5] = 0.5  # constant series
        ds = mann_kendall(annual(x, dims=("pixel", "time")), min_years=2)
        for i in range(x.shape[0]):
            r = pmk.original_test(x[i])
            for f in FIELDS:
                assert float(ds[f][i]) == pytest.approx(getattr(r, f), abs=1e-9), (nt, i, f)
            assert int(ds["n"][i]) == nt


def test_missing_years_skip_like_pymannkendall_slope_uses_true_spacing():
    pmk = pytest.importorskip("pymannkendall")
    rng = np.random.default_rng(7)
    years = np.arange(2001, 2021)
    x = np.round(rng.normal(size=(40, years.size)) + 0.05 * np.arange(years.size), 1)
    for i in range(x.shape[0]):
        gaps = rng.choice(years.size, size=rng.integers(1, 6), replace=False)
        x[i, gaps] = np.nan
    ds = mann_kendall(annual(x, dims=("pixel", "time")), min_years=5)
    for i in range(x.shape[0]):
        kept = x[i][~np.isnan(x[i])]
        r = pmk.original_test(kept)  # the series with the gaps removed
        for f in ("s", "var_s", "z", "p"):
            assert float(ds[f][i]) == pytest.approx(getattr(r, f), abs=1e-9)
        ref = reference(x[i], years)
        assert float(ds["slope"][i]) == pytest.approx(ref["slope"], abs=1e-12)
        assert float(ds["intercept"][i]) == pytest.approx(ref["intercept"], abs=1e-12)
        assert int(ds["n"][i]) == kept.size


def test_slope_by_hand_with_irregular_years():
    # years 2000, 2001, 2004: pair slopes (3-1)/1 = 2, (7-1)/4 = 1.5, (7-3)/3 = 4/3 -> median 1.5
    # a gap-removed index spacing would give median(2, 3, 4) = 3 instead.
    da = annual([1.0, 3.0, 7.0], years=[2000, 2001, 2004])
    ds = mann_kendall(da, min_years=3)
    assert float(ds.slope) == 1.5
    # intercept at the first year: median(x) - median(t - 2000) * slope = 3 - 1 * 1.5
    assert float(ds.intercept) == 1.5
    assert float(ds.s) == 3 and float(ds.var_s) == pytest.approx(3 * 2 * 11 / 18)


def test_constant_and_short_series():
    da = annual(np.array([[0.2] * 12, [np.nan] * 6 + [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]]), dims=("p", "time"))
    ds = mann_kendall(da, min_years=10)
    assert (float(ds.s[0]), float(ds.var_s[0]), float(ds.z[0]), float(ds.p[0])) == (0, 0, 0, 1)
    assert float(ds.slope[0]) == 0
    assert int(ds.n[1]) == 6
    for f in FIELDS:
        assert np.isnan(ds[f][1])


def test_numpy_and_dask_give_identical_results():
    pytest.importorskip("dask")
    rng = np.random.default_rng(3)
    x = np.round(rng.normal(size=(20, 9, 11)), 2).astype(np.float32)
    x[rng.random(x.shape) < 0.1] = np.nan
    da = xr.DataArray(
        x, dims=("time", "y", "x"), coords={"time": pd.date_range("2001-01-01", periods=20, freq="YS")}
    )
    eager = mann_kendall(da, min_years=8)
    for chunks in ({"y": 2, "x": 5}, {"y": 9, "x": 1}, {"y": 4}):
        lazy = mann_kendall(da.chunk(chunks), min_years=8)
        assert lazy["slope"].chunks is not None
        lazy = lazy.compute()
        for f in FIELDS + ("n",):
            np.testing.assert_array_equal(eager[f].values, lazy[f].values)
            assert eager[f].dtype == lazy[f].dtype
    # float32 input gives exactly the float64 results (values are promoted before the kernel)
    ds64 = mann_kendall(da.astype(np.float64), min_years=8)
    for f in FIELDS:
        np.testing.assert_array_equal(eager[f].values, ds64[f].values)


def test_errors_and_attributes():
    da = annual(np.zeros((3, 12)), dims=("p", "time"))
    with pytest.raises(InputError, match="one chunk"):
        mann_kendall(da.chunk({"time": 5}))
    with pytest.raises(InputError, match="strictly increasing"):
        mann_kendall(annual(np.zeros(3), years=[2001, 2001, 2002]))
    with pytest.raises(InputError, match="'year'"):
        mann_kendall(da, dim="year")
    ds = mann_kendall(da)
    for f in FIELDS + ("n",):
        for key in ("units", "long_name", "method", "parameters", "references"):
            assert key in ds[f].attrs
    assert ds.n.dtype == np.int16
    assert ds.slope.dims == ("p",)


@pytest.mark.parametrize("n", [48, 49, 120, 190, 191, 435])
def test_median_selection_matches_numpy(n):
    rng = np.random.default_rng(n)
    b = np.empty(n)
    cases = [
        rng.standard_cauchy(n),
        np.round(rng.normal(size=n), 1),
        np.full(n, 0.3),
        np.repeat([-1.0, 2.0], [n // 2, n - n // 2]),
        np.sort(rng.normal(size=n)),
        np.sort(rng.normal(size=n))[::-1].copy(),
        np.where(rng.random(n) < 0.6, 0.0, rng.normal(size=n)),
    ]
    for a in cases:
        expected = np.median(a)
        assert trend._median(a.copy(), b, n) == expected


finite = st.one_of(st.integers(-3, 3).map(float), st.floats(-1, 1, allow_nan=False, width=32))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.one_of(finite, st.just(float("nan"))), min_size=2, max_size=30),
    st.integers(0, 3),
)
def test_property_against_plain_python(values, gap_every):
    years = np.arange(1990, 1990 + len(values))
    if gap_every:  # irregular time axis as well as NaN years
        years = years + np.arange(len(values)) // gap_every
    x = np.array(values)
    ds = mann_kendall(annual(x, years=years), min_years=2)
    valid = int(np.isfinite(x).sum())
    assert int(ds.n) == valid
    if valid < 2:
        assert np.isnan(ds.s) and np.isnan(ds.slope)
        return
    ref = reference(x, years)
    assert float(ds.s) == ref["s"]
    assert float(ds.var_s) == ref["var_s"]
    assert float(ds.z) == pytest.approx(ref["z"], abs=1e-12)
    assert float(ds.p) == pytest.approx(ref["p"], abs=1e-12)
    assert float(ds.slope) == ref["slope"]
    assert float(ds.intercept) == pytest.approx(ref["intercept"], abs=1e-12)
