"""Land productivity sub-indicator: trajectory, state, performance and LPD (METHODS 1.1-1.4)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dldd.core.legend import CLASS_NODATA
from dldd.errors import InputError
from dldd.indicators import productivity as pr

D, ST, I = -1, 0, 1
PD, PN = -1, 0  # performance degraded / not degraded


def cube(values, first_year=2001):
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None, None]
    nt, ny, nx = values.shape
    return xr.DataArray(
        values,
        dims=("time", "y", "x"),
        coords={
            "time": pd.date_range(f"{first_year}-01-01", periods=nt, freq="YS"),
            "y": np.arange(ny, dtype=float),
            "x": np.arange(nx, dtype=float),
        },
    )


def series_with_s(n, s, step=0.01):
    """A series of n distinct values whose Mann-Kendall S is exactly ``s`` (n(n-1)/2 - 2 inversions)."""
    inversions = (n * (n - 1) // 2 - s) // 2
    assert n * (n - 1) // 2 - 2 * inversions == s
    # Lehmer code: element i is preceded by code[i] larger elements, filled from the end
    code = [0] * n
    for i in range(n - 1, -1, -1):
        take = min(inversions, i)
        code[i] = take
        inversions -= take
    ranks = []
    for i in range(n):
        pos = len(ranks) - code[i]
        ranks.insert(pos, i)
    order = np.empty(n)
    for position, value in enumerate(ranks):
        order[position] = value
    x = step * order
    s_check = sum(np.sign(x[j] - x[i]) for i in range(n) for j in range(i + 1, n))
    assert s_check == s
    return x


# ---------------------------------------------------------------------------------------------
# METHODS 1.4 truth tables, transcribed row by row ("any" = both P values, "St or I" = both S)
# ---------------------------------------------------------------------------------------------
METHODS_TABLE_14 = [
    # T, S, P, GPG2, TE5
    ("D", "D", "any", "D", 1),
    ("D", "St", "D", "D", 1),
    ("D", "St", "N", "St", 1),
    ("D", "I", "any", "D", 1),
    ("St", "D", "D", "D", 1),
    ("St", "D", "N", "St", 2),
    ("St", "St", "D", "D", 3),
    ("St", "St", "N", "St", 4),
    ("St", "I", "any", "St", 4),
    ("I", "D", "D", "D", 2),
    ("I", "D", "N", "I", 5),
    ("I", "St or I", "any", "I", 5),
]
CODE = {"D": -1, "St": 0, "I": 1}
PCODE = {"D": -1, "N": 0}


def expand_methods_table():
    rows = {}
    for t, s, p, gpg2, te5 in METHODS_TABLE_14:
        s_vals = ["St", "I"] if s == "St or I" else [s]
        p_vals = ["D", "N"] if p == "any" else [p]
        for sv, pv in itertools.product(s_vals, p_vals):
            key = (CODE[t], CODE[sv], PCODE[pv])
            assert key not in rows
            rows[key] = (CODE[gpg2], te5)
    assert len(rows) == 18  # every combination exactly once
    return rows


def test_lpd_tables_match_methods_table_1_4_for_every_combination():
    rows = expand_methods_table()
    keys = sorted(rows)
    t = xr.DataArray(np.array([k[0] for k in keys], dtype=np.int8), dims="pixel")
    s = xr.DataArray(np.array([k[1] for k in keys], dtype=np.int8), dims="pixel")
    p = xr.DataArray(np.array([k[2] for k in keys], dtype=np.int8), dims="pixel")
    gpg2 = pr.lpd_gpg2(t, s, p)
    te5 = pr.lpd_te5(t, s, p)
    assert gpg2.dtype == np.int8 and te5.dtype == np.int8
    for i, key in enumerate(keys):
        assert int(gpg2[i]) == rows[key][0], key
        assert int(te5[i]) == rows[key][1], key
    # TE 5 -> 3: 1-2 degraded, 3-4 stable, 5 improved
    te3 = pr.lpd5_to_sdg3(te5)
    for i, key in enumerate(keys):
        assert int(te3[i]) == {1: -1, 2: -1, 3: 0, 4: 0, 5: 1}[rows[key][1]]
    # same lookup lazily
    lazy = pr.lpd_gpg2(t.chunk(5), s.chunk(5), p.chunk(5))
    assert lazy.chunks is not None
    np.testing.assert_array_equal(lazy.values, gpg2.values)


def test_lpd_nodata_and_invalid_inputs():
    t = xr.DataArray(np.array([CLASS_NODATA, 0, 0, 2], dtype=np.int8), dims="p")
    s = xr.DataArray(np.array([0, CLASS_NODATA, 0, 0], dtype=np.int8), dims="p")
    p = xr.DataArray(np.array([0, 0, 1, 0], dtype=np.int8), dims="p")  # P = +1 is not a class
    assert pr.lpd_gpg2(t, s, p).values.tolist() == [CLASS_NODATA] * 4
    assert pr.lpd_te5(t, s, p).attrs["_FillValue"] == CLASS_NODATA


def test_import_external_lpd5_layer():
    # JRC / FAO-WOCAT: 1 declining .. 5 increasing, 0 no data; also as float with NaN
    jrc = xr.DataArray(np.array([[0, 1, 2], [3, 4, 5]], dtype=np.uint8), dims=("y", "x"))
    out = pr.import_lpd5(jrc)
    assert out.values.tolist() == [[CLASS_NODATA, -1, -1], [0, 0, 1]]
    flt = xr.DataArray(np.array([np.nan, 1.0, 5.0, 6.0, 2.5]), dims="p")
    assert pr.import_lpd5(flt).values.tolist() == [CLASS_NODATA, -1, 1, CLASS_NODATA, CLASS_NODATA]


# ---------------------------------------------------------------------------------------------
# Thresholds
# ---------------------------------------------------------------------------------------------


def test_z_levels_exactly_at_thresholds():
    up = lambda v: np.nextafter(v, np.inf)  # noqa: E731
    down = lambda v: np.nextafter(v, -np.inf)  # noqa: E731
    cases = {
        down(-1.96): -2, -1.96: -1, up(-1.96): -1,
        down(-1.28): -1, -1.28: 0, up(-1.28): 0,
        0.0: 0,
        down(1.28): 0, 1.28: 0, up(1.28): 1,
        down(1.96): 1, 1.96: 1, up(1.96): 2,
        np.inf: 2, -np.inf: -2,
    }
    z = xr.DataArray(np.array(list(cases) + [np.nan]), dims="p")
    lvl = pr.z_levels(z)
    assert lvl.values.tolist() == list(cases.values()) + [CLASS_NODATA]
    cls = pr.levels_to_sdg3(lvl)
    assert cls.values.tolist() == [
        {-2: -1, 2: 1}.get(v, 0) for v in cases.values()
    ] + [CLASS_NODATA]


def test_te_critical_values_match_methods_check_values():
    assert [pr.te_critical_s(16, c) for c in (90, 95, 99)] == [28, 36, 56]
    assert [pr.te_critical_s(20, c) for c in (90, 95, 99)] == [40, 50, 76]
    assert [pr.te_critical_s(24, c) for c in (90, 95, 99)] == [52, 66, 98]
    assert pr.TE_MK_CRITICAL_S.shape == (57, 3)  # n = 4..60
    assert pr.te_critical_s(3) == -1 and pr.te_critical_s(61) == -1
    # METHODS 1.1 (Trends.Earth's table past n = 40), transcribed: n -> 90/95/99 % (None: no value)
    methods = {41: (114, 146, 213), 42: (119, 151, 221), 43: (123, 157, 228), 44: (128, 162, 236),
               45: (132, 168, 245), 46: (135, 173, 253), 47: (141, 179, 260), 48: (144, 186, 268),
               49: (150, 190, 277), 50: (153, 197, 285), 51: (159, 203, 294), 52: (162, 208, 302),
               53: (168, 214, 311), 54: (173, 221, 319), 55: (177, 227, 328), 56: (182, 232, 336),
               57: (186, 240, 345), 58: (191, 245, 355), 59: (197, 251, 364), 60: (202, 258, None)}
    for n, row in methods.items():
        assert [pr.te_critical_s(n, c) for c in (90, 95, 99)] == [v or 0 for v in row], n
    table = pr.TE_MK_CRITICAL_S.astype(float)
    table[-1, 2] = np.nan  # n = 60 at 99 %: no value
    ok = np.isfinite(table)
    assert np.all(np.diff(table[:, :2], axis=0) >= 0) and np.all(np.diff(table[:-1, 2]) >= 0)
    assert np.all(np.diff(table[:-1], axis=1) >= 0) and table[-1, 0] < table[-1, 1]
    # typo guard: within 15 % of the normal approximation z_(1-a) sd(S) from n = 10 on
    n = np.arange(10, 61)
    sd = np.sqrt(n * (n - 1) * (2 * n + 5) / 18)
    approx = np.array(pr.TE_Z_ONE_SIDED)[None, :] * sd[:, None]
    assert np.all(np.abs(table[6:][ok[6:]] / approx[ok[6:]] - 1) < 0.15)


@pytest.mark.parametrize("n,crit95,crit90", [(45, 168, 132), (60, 258, 202)])
def test_te_trajectory_uses_the_table_past_40_years(n, crit95, crit90):
    """Past n = 40 TE reads its table (to 60), not the normal approximation: S at the 95 % value counts."""
    cols = [series_with_s(n, crit95), series_with_s(n, crit95 - 2), -series_with_s(n, crit95)]
    ds = pr.trajectory(cube(np.stack(cols, axis=1)[:, None, :]), method="te")
    assert ds.trajectory_s.values.ravel().tolist() == [crit95, crit95 - 2, -crit95]
    assert ds.trajectory_level.values.ravel().tolist() == [2, 1, -2]


@pytest.mark.parametrize("n,crit95,crit90", [(16, 36, 28), (20, 50, 40), (24, 66, 52)])
def test_te_trajectory_significance_at_critical_values(n, crit95, crit90):
    cols = [
        series_with_s(n, crit95),  # exactly at the 95 % critical value: counts
        series_with_s(n, crit95 - 2),  # just below (S has fixed parity): 90 % only, stable
        -series_with_s(n, crit95),  # negative trend at 95 %: degraded
        series_with_s(n, crit90 - 2),  # below 90 %
    ]
    da = cube(np.stack(cols, axis=1)[:, None, :])
    ds = pr.trajectory(da, method="te")
    assert ds.trajectory_s.values.ravel().tolist() == [crit95, crit95 - 2, -crit95, crit90 - 2]
    assert np.all(np.abs(ds.trajectory_slope.values) > 0.001)  # the slope test does not interfere
    assert ds.trajectory_level.values.ravel().tolist() == [2, 1, -2, 0]
    assert ds.trajectory.values.ravel().tolist() == [1, 0, -1, 0]


def test_te_trajectory_slope_threshold_forces_stable():
    n = 16
    t = np.arange(n)
    at = 0.001 * t + 0.3  # slope exactly 10 in NDVI x 10000 per year: forced stable
    above = 0.0011 * t + 0.3
    ds = pr.trajectory(cube(np.stack([at, above, -at, -above], axis=1)[:, None, :]), method="te")
    assert ds.trajectory_s.values.ravel().tolist() == [120, 120, -120, -120]
    assert ds.trajectory_level.values.ravel().tolist() == [0, 3, 0, -3]
    assert ds.trajectory.values.ravel().tolist() == [0, 1, 0, -1]
    # GPG2 has no slope threshold
    g = pr.trajectory(cube(np.stack([at, -at], axis=1)[:, None, :]))
    assert g.trajectory.values.ravel().tolist() == [1, -1]


# ---------------------------------------------------------------------------------------------
# Trajectory on synthetic data
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["gpg2", "te"])
def test_planted_trends_detected(method):
    rng = np.random.default_rng(11)
    nt, ny, nx = 16, 12, 10
    slope = np.zeros((ny, nx))
    slope[:4] = -0.008  # degrading rows
    slope[8:] = 0.008  # improving rows
    vi = 0.3 + slope * np.arange(nt)[:, None, None] + rng.normal(0, 0.01, (nt, ny, nx))
    ds = pr.trajectory(cube(vi), method=method)
    traj = ds.trajectory.values
    assert (traj[:4] == -1).mean() > 0.95
    assert (traj[8:] == 1).mean() > 0.95
    assert (traj[4:8] == 0).mean() > 0.85
    assert np.abs(ds.trajectory_slope.values[:4] + 0.008).max() < 0.004
    assert ds.trajectory.dtype == np.int8 and ds.trajectory.attrs["_FillValue"] == CLASS_NODATA


def test_trajectory_missing_years_and_short_series():
    vi = np.tile(0.3 + 0.01 * np.arange(16), (2, 1)).T[:, None, :].copy()
    vi[:8, 0, 1] = np.nan  # 8 valid years < MK_MIN_YEARS
    vi[3, 0, 0] = np.nan
    ds = pr.trajectory(cube(vi))
    assert ds.trajectory.values.ravel().tolist() == [1, CLASS_NODATA]
    assert ds.trajectory_n.values.ravel().tolist() == [15, 8]
    assert ds.trajectory_slope.values[0, 0] == pytest.approx(0.01)


def test_climate_corrections():
    rng = np.random.default_rng(5)
    nt = 20
    t = np.arange(nt)
    p0 = 200 - 6 * t + rng.normal(0, 15, nt)  # mm, drying
    p1 = 200 + rng.normal(0, 60, nt)  # mm, variable, no trend
    # pixel 0: VI follows rainfall only -> raw trend negative, RESTREND residual zero
    # pixel 1: rainfall-driven VI plus a human-induced decline hidden by rainfall noise
    vi0 = 0.1 + 0.0008 * p0
    vi1 = 0.1 + 0.0008 * p1 - 0.002 * t + rng.normal(0, 0.002, nt)
    vi = cube(np.stack([vi0, vi1], axis=1)[:, None, :])
    p = cube(np.stack([p0, p1], axis=1)[:, None, :]).assign_attrs(units="mm")
    raw = pr.trajectory(vi)
    res = pr.trajectory(vi, precipitation=p, climate_correction="restrend")
    assert raw.trajectory.values.ravel()[0] == -1
    assert res.trajectory.values.ravel()[1] == -1
    assert abs(res.trajectory_z.values.ravel()[1]) > abs(raw.trajectory_z.values.ravel()[1]) + 1
    # the residuals of an exact linear response are zero (up to rounding)
    r = pr.restrend_residuals(vi, p)
    assert np.abs(r.values[:, 0, 0]).max() < 1e-12
    # and equal an independent least-squares fit for pixel 1
    coef = np.polyfit(p1, vi1, 1)
    np.testing.assert_allclose(r.values[:, 0, 1], vi1 - np.polyval(coef, p1), atol=1e-12)
    # rain-use efficiency = VI / precipitation in metres
    rue = pr.rain_use_efficiency(vi, p)
    np.testing.assert_allclose(rue.values[:, 0, 1], vi1 / (p1 / 1000.0))
    rue_m = pr.rain_use_efficiency(vi, (p / 1000).assign_attrs(units="m"))
    np.testing.assert_allclose(rue_m.values, rue.values)
    with pytest.raises(InputError, match="units"):
        pr.rain_use_efficiency(vi, p.assign_attrs(units="degC"))
    with pytest.raises(InputError, match="precipitation"):
        pr.trajectory(vi, climate_correction="rue")


# ---------------------------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------------------------


def test_state_gpg2_windows_and_z():
    rng = np.random.default_rng(2)
    nt = 18  # 2001..2018: state uses 2003..2015 (baseline) and 2016..2018 (recent)
    vi = 0.3 + rng.normal(0, 0.02, (nt, 2, 3))
    vi[:2] = 5.0  # 2001-2002 lie outside the windows and must not matter
    vi[-3:, 0, :] -= 0.05  # recent decline in row 0
    ds = pr.state(cube(vi))
    base, recent = vi[2:15], vi[15:]
    z = (recent.mean(0) - base.mean(0)) / (base.std(0, ddof=1) / math.sqrt(3))
    np.testing.assert_allclose(ds.state_z.values, z, rtol=1e-12)
    np.testing.assert_allclose(ds.state_baseline_mean.values, base.mean(0), rtol=1e-12)
    expect = np.where(z < -1.96, -1, np.where(z > 1.96, 1, 0))
    np.testing.assert_array_equal(ds.state.values, expect)
    assert np.all(ds.state.values[0] == -1)
    with pytest.raises(InputError, match="missing"):
        pr.state(cube(vi[3:]))  # 2004..2018: baseline year 2003 missing


def test_state_gpg2_class_boundaries():
    # baseline alternates 0.3 +- 0.01 -> known sigma; recent mean set so that z is just below / above
    base = 0.3 + 0.01 * np.array([1, -1] * 6 + [0])
    mu, sd = base.mean(), base.std(ddof=1)
    se = sd / math.sqrt(3)
    cols = []
    for target in (1.96 * 1.0001, 1.96 * 0.9999, -1.96 * 1.0001, -1.96 * 0.9999):
        cols.append(np.r_[base, [mu + target * se] * 3])
    ds = pr.state(cube(np.stack(cols, axis=1)[:, None, :]))
    assert ds.state_level.values.ravel().tolist() == [2, 1, -2, -1]
    assert ds.state.values.ravel().tolist() == [1, 0, -1, 0]
    # constant baseline: z is 0 when nothing changes, -inf (degraded) when the recent mean drops
    flat = np.r_[np.full(13, 0.2), [0.2] * 3]
    drop = np.r_[np.full(13, 0.2), [0.1] * 3]
    ds = pr.state(cube(np.stack([flat, drop], axis=1)[:, None, :]))
    assert ds.state.values.ravel().tolist() == [0, -1]


def te_state_reference(base, recent_mean, min_change=0.01):
    """Plain re-statement of the TE / GPG v1 rule for one pixel."""
    lo, hi = min(base), max(base)
    ext = list(base) + [lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)]
    bounds = [np.percentile(ext, q) for q in range(10, 100, 10)]

    def cls(v):
        c = 1
        for b in bounds:
            if v > b:
                c += 1
        return c

    bmean = float(np.mean(base))
    change = cls(recent_mean) - cls(bmean)
    if abs(recent_mean - bmean) * 10000 <= min_change * 10000 + 1e-6:
        change = 0
    return change, (-1 if change <= -2 else 1 if change >= 2 else 0)


def test_state_te_classes_and_forced_zero():
    base = 0.3 + 0.01 * np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14])
    lo, hi = base.min(), base.max()
    ext = np.r_[base, lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)]
    bounds = np.percentile(ext, range(10, 100, 10))
    bmean = base.mean()
    cls_b = 1 + int(np.sum(bmean > bounds))
    assert 3 <= cls_b <= 8 and np.min(np.abs(bounds - bmean)) > 1e-4  # not on a boundary

    def inside(c):  # a value well inside class c = (bounds[c-2], bounds[c-1]]
        return 0.5 * (bounds[c - 2] + bounds[c - 1])

    low_end = bounds[cls_b - 3] + 0.0005  # bottom of class cls_b - 1, far enough from the mean
    assert bmean - low_end > 0.0101
    recents = [inside(cls_b - 2), low_end, inside(cls_b + 2), bmean - 0.01, bmean - 0.0101]
    cols = [np.r_[base, [r] * 3] for r in recents]
    ds = pr.state(cube(np.stack(cols, axis=1)[:, None, :]), method="te")
    recent_means = ds.state_recent_mean.values.ravel()
    expected = [te_state_reference(base, float(r)) for r in recent_means]
    assert ds.state_level.values.ravel().tolist() == [e[0] for e in expected]
    assert ds.state.values.ravel().tolist() == [e[1] for e in expected]
    # the construction hits the intended branches
    assert [e[0] for e in expected][:3] == [-2, -1, 2]
    assert [e[1] for e in expected][:3] == [-1, 0, 1]
    assert expected[3][0] == 0 and te_state_reference(base, float(recent_means[3]), 0.0)[0] != 0
    assert ds.state_class_baseline.values.ravel().tolist() == [cls_b] * 5


# ---------------------------------------------------------------------------------------------
# Performance
# ---------------------------------------------------------------------------------------------


def test_performance_constructed_example():
    # unit 1: 11 pixels, so the 90th percentile is exactly its 10th smallest mean (no interpolation);
    # unit 2: 9 pixels. Means are multiples of 1/64 so that means over years are exact.
    u1 = np.array([8, 16, 17, 20, 24, 28, 30, 31, 31, 32, 40]) / 64  # p90 = 32/64 = 0.5
    u1[0] = 16 / 64 - 1 / 2048  # ratio just below 0.5
    u1[1] = 16 / 64  # ratio exactly 0.5: not degraded
    u2 = np.array([4, 6, 8, 10, 12, 14, 16, 18, 20]) / 64
    means = np.r_[u1, u2].reshape(4, 5)
    unit = np.r_[np.ones(11), np.full(9, 2)].reshape(4, 5).astype(np.int16)
    vi = np.repeat(means[None], 4, axis=0)
    vi[2, 3, 4] = np.nan  # a missing year does not change the mean
    vi[:, 3, 3] = np.nan  # no data at all
    land = xr.DataArray(unit, dims=("y", "x"), coords={"y": np.arange(4.0), "x": np.arange(5.0)})
    land[3, 2] = CLASS_NODATA
    ds = pr.performance(cube(vi), land)
    m = means.ravel()
    valid2 = [k for k in range(11, 20) if k not in (17, 18)]  # (3,2) no unit, (3,3) no data
    p90_1 = np.quantile(m[:11], 0.9)
    p90_2 = np.quantile(m[valid2], 0.9)
    assert p90_1 == 0.5
    pct = ds.performance_unit_percentile.values.ravel()
    np.testing.assert_allclose(pct[:11], p90_1, rtol=0, atol=0)
    np.testing.assert_allclose(pct[valid2], p90_2, rtol=1e-15)
    ratio = ds.performance_ratio.values.ravel()
    assert ratio[1] == 0.5 and ratio[0] < 0.5
    cls = ds.performance.values.ravel()
    expect = np.where(m / np.where(np.arange(20) < 11, p90_1, p90_2) < 0.5, -1, 0)
    expect[[17, 18]] = CLASS_NODATA
    np.testing.assert_array_equal(cls, expect)
    assert cls[0] == -1 and cls[1] == 0 and (cls == -1).sum() >= 3
    # lazy: still a dask graph, same numbers
    lazy = pr.performance(cube(vi).chunk({"x": 2, "y": 2}), land.chunk({"x": 2, "y": 2}))
    assert lazy.performance.chunks is not None
    np.testing.assert_array_equal(lazy.performance.values.ravel(), cls)
    np.testing.assert_array_equal(lazy.performance_ratio.values.ravel(), ratio)
    with pytest.raises(InputError, match="grid"):
        pr.performance(cube(vi), land.assign_coords(x=np.arange(5.0) + 0.5))


def test_land_units_intersection():
    lc = xr.DataArray(np.array([[1, 2], [3, CLASS_NODATA]], dtype=np.int8), dims=("y", "x"))
    soil = xr.DataArray(np.array([[7, 7], [12, 7]], dtype=np.int16), dims=("y", "x"))
    lu = pr.land_units(lc, soil)
    assert lu.values.tolist() == [[1007, 2007], [3012, CLASS_NODATA]]


# ---------------------------------------------------------------------------------------------
# The whole sub-indicator
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["gpg2", "te"])
def test_productivity_dataset(method):
    rng = np.random.default_rng(9)
    nt, ny, nx = 18, 6, 8
    slope = np.zeros((ny, nx))
    slope[:2] = -0.01
    slope[4:] = 0.01
    vi = 0.3 + slope * np.arange(nt)[:, None, None] + rng.normal(0, 0.005, (nt, ny, nx))
    land = xr.DataArray(
        rng.integers(1, 4, (ny, nx)).astype(np.int8), dims=("y", "x"),
        coords={"y": np.arange(ny, dtype=float), "x": np.arange(nx, dtype=float)},
    )
    da = cube(vi)
    ds = pr.productivity(da, land, period=(2003, 2018), method=method)
    for v in ("trajectory", "state", "performance", "lpd") + (("lpd5",) if method == "te" else ()):
        assert ds[v].dtype == np.int8, v
        assert ds[v].attrs["_FillValue"] == CLASS_NODATA
        for key in ("units", "long_name", "method", "parameters", "references"):
            assert key in ds[v].attrs, (v, key)
    for v in ("trajectory_z", "trajectory_slope", "performance_ratio"):
        assert ds[v].dtype == np.float64
    assert ("state_z" in ds) == (method == "gpg2")
    assert ds.trajectory_n.values.max() == 16  # the period, not the whole series
    # the combination is the table applied to the three sub-indicators
    if method == "gpg2":
        rows = expand_methods_table()
        for t, s, p, out in zip(*(ds[v].values.ravel() for v in ("trajectory", "state", "performance", "lpd"))):
            assert out == rows[(t, s, p)][0]
        assert np.all(ds.lpd.values[:2] == -1) and np.all(ds.lpd.values[4:] == 1)
    else:
        np.testing.assert_array_equal(ds.lpd.values, pr.lpd5_to_sdg3(ds.lpd5).values)
        assert np.all(ds.lpd5.values[:2] == 1) and np.all(ds.lpd5.values[4:] == 5)
    lazy = pr.productivity(da.chunk({"x": 3}), land.chunk({"x": 3}), period=(2003, 2018), method=method)
    assert lazy.lpd.chunks is not None
    lazy = lazy.compute()
    for v in ds.data_vars:
        np.testing.assert_array_equal(ds[v].values, lazy[v].values)
    with pytest.raises(InputError, match="method"):
        pr.productivity(da, land, method="jrc")
    with pytest.raises(InputError, match="missing"):
        pr.productivity(da, land, period=(2000, 2018))
