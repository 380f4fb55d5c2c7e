"""Tests of dldd.effectiveness (METHODS 6): planted effects in synthetic scenes with spatially
autocorrelated noise, the breakpoint test against the asymptotic table and a planted step, and the
geometry of the control ring against brute-force distances."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from dldd.effectiveness import break_test, evaluate_intervention, pixel_spacing_km
from dldd.effectiveness.breakpoints import MOSUM_CRITICAL_VALUES, MOSUM_H, asymptotic_p_value
from dldd.effectiveness.matching import match_nearest
from dldd.effectiveness.spatial import control_ring, correlogram
from dldd.effectiveness.synthetic import smooth_noise as scene_noise
from dldd.effectiveness.synthetic import synthetic_scene as scene
from dldd.effectiveness.variance import (CorrelationModel, correlation_sums, correlation_uncertainty, fit_pool_correlation,
                                         mean_inference, variance_factor, wedge_groups)
from dldd.errors import GridMismatchError, InputError

YEARS = np.arange(2001, 2021)
START = 2011
EFFECT = 0.03
PIXEL_KM = (1.0, 1.0)
#: Settings of the synthetic tests.
FAST = dict(pixel_size_km=PIXEL_KM, placebo=False)


def synthetic_scene(seed: int, effect: float = EFFECT, n: int = 56, half: int = 12, greening: bool = False,
                    noise_sd: float = 0.012, regional_sd: float = 0.02):
    """SYNTHETIC scene of :mod:`dldd.effectiveness.synthetic` on an n x n grid of 1 km pixels with a
    (2 half)^2 treated square in the centre (with ``greening`` near the east edge)."""
    return scene(seed, effect=effect, treated_shape=(2 * half, 2 * half), margin=n // 2 - half, years=YEARS,
                 start=START, noise_sd=noise_sd, regional_sd=regional_sd, greening=greening)


def test_interval_covers_through_the_whole_evaluation():
    """End to end (matching included), 20 SYNTHETIC scenes with and without the planted effect: the 95 %
    interval covers the truth in at least 18 (the 200-seed study per size is benchmarks/mc_effectiveness.py),
    the placebo interval covers zero as often, and p_value agrees with the interval."""
    hits, placebo_hits = 0, 0
    for s in range(10):
        for effect in (EFFECT, 0.0):
            cube, mask = synthetic_scene(100 * s + int(effect > 0), effect=effect)
            r = evaluate_intervention(cube, mask, START, seed=s, breakpoints=False, pixel_size_km=PIXEL_KM)
            hits += r.ci_low <= effect <= r.ci_high
            placebo_hits += r.placebo_ci_low <= 0 <= r.placebo_ci_high
            assert (r.p_value < 0.05) == (not r.ci_low <= 0 <= r.ci_high)
            # df > 1: the correlation fit's jackknife spread can be large (a few scenes here, whose control
            # ring the scene's edge clips, fall below 5 and are warned about)
            assert r.se > 0 and r.df > 1 and r.ci_high - r.ci_low > 2 * 1.96 * r.se
            assert (r.df < 5) == any(w.startswith("the interval has") for w in r.warnings)
    assert hits >= 18 and placebo_hits >= 18


def _interval_size(side: int, reps: int, seed: int) -> tuple[float, float, float, float]:
    """Rejection rate of the 5 % test of no effect and mean se / SD of the estimates, for matched pairs
    of a side x side treated square and random controls from its ring, on SYNTHETIC fields of
    before/after changes (the two-scale correlated noise of dldd.effectiveness.synthetic plus white
    noise): the whole inference path of evaluate_intervention without the matching (correlation fitted
    to the pool with its jackknife). Also the variance over the fields of log g (g = 1'R1 / tr(MR), the
    variance factor) of the fitted correlation against the true one, and the mean jackknife estimate of
    that variance."""
    margin = 21
    n = side + 2 * margin
    rng = np.random.default_rng(seed)
    fields = (np.sqrt(2 / 3) * scene_noise(rng, (reps, n, n), 1.0) + np.sqrt(1 / 3) * scene_noise(rng, (reps, n, n), 3.0)
              + 0.5 * rng.standard_normal((reps, n, n)))  # fmt: skip
    true = CorrelationModel("gaussian", 2.0, 0.25 / 1.25, 2 / 3, 6.0)  # the fields' correlation
    treated = np.zeros((n, n), bool)
    treated[margin:-margin, margin:-margin] = True
    ring, _ = control_ring(treated, PIXEL_KM, 2.0, 20.0)
    t_idx, p_idx = np.flatnonzero(treated), np.flatnonzero(ring)
    rc = np.column_stack(np.unravel_index(np.arange(n * n), (n, n)))
    groups = wedge_groups(rc[p_idx], rc[t_idx].mean(axis=0))
    rejected, estimates, ses, log_ratio, jack_var = 0, [], [], [], []
    for f in fields:
        c_idx = rng.choice(p_idx, t_idx.size)  # controls with replacement
        model, jack = fit_pool_correlation(f.ravel(), (n, n), p_idx, PIXEL_KM, 10.0, 4, groups)
        d = f.ravel()[t_idx] - f.ravel()[c_idx]
        sums, *jsums, tsums = correlation_sums([model, *jack, true], PIXEL_KM, rc[t_idx], rc[c_idx])
        inf = mean_inference(d.mean(), d - d.mean(), sums, 0.95, jsums)
        rejected += not (inf.low <= 0 <= inf.high)
        estimates.append(d.mean())
        ses.append(inf.se)
        log_ratio.append(np.log(variance_factor(sums) / variance_factor(tsums)))
        jack_var.append(correlation_uncertainty(sums, jsums))
    return rejected / reps, float(np.mean(ses) / np.std(estimates)), float(np.var(log_ratio)), float(np.mean(jack_var))


@pytest.mark.parametrize("side", [10, 20])
def test_interval_nominal_size_fast(side):
    """Fast version of the Monte Carlo study (benchmarks/mc_effectiveness.py): at about 100 and 400
    treated cells the 95 % interval rejects a true zero in 2.5-8.5 % of 250 SYNTHETIC scenes (the old
    block bootstrap: 1.5 % at 8 x 8 cells), and se is a standard error (mean se within 15 % of the
    estimates' SD; the old ``se`` was 1.5-1.95 times it). The fitted correlation's own error is real
    (the variance factor's log varies by 0.05-0.2 over the fields, as much as the scale estimate's
    2 / df) and the jackknife estimates it within a factor 2."""
    size, se_ratio, var_log, jack_var = _interval_size(side, 250, side)
    assert 0.025 <= size <= 0.085
    assert 0.85 <= se_ratio <= 1.15
    assert var_log > 0.03 and 0.5 <= jack_var / var_log <= 2.0


def test_greening_land_biases_naive_not_matched():
    """Intervention placed where land was already greening: the naive before/after estimate carries the
    greening (about 0.0045 per year x 10 years), the matched difference in differences does not (a
    residual regression-to-the-mean bias of about 0.002 remains, see evaluate's docstring, item 8)."""
    naive_err, matched_err, unmatched_err, matched_cover = [], [], [], 0
    seeds = range(12)
    for s in seeds:
        cube, mask = synthetic_scene(s, greening=True, noise_sd=0.006)
        r = evaluate_intervention(cube, mask, START, seed=s, breakpoints=False, **FAST)
        naive_err.append(r.naive_effect - EFFECT)
        matched_err.append(r.effect - EFFECT)
        unmatched_err.append(r.unmatched_effect - EFFECT)
        matched_cover += r.ci_low <= EFFECT <= r.ci_high
    naive_bias, matched_bias = np.mean(naive_err), np.mean(matched_err)
    assert naive_bias > 0.03  # the greening over the 10-year gap between period means
    assert all(abs(n) > abs(m) for n, m in zip(naive_err, matched_err))
    assert abs(matched_bias) < 0.1 * naive_bias
    assert abs(matched_bias) < 0.5 * abs(np.mean(unmatched_err))  # matching beats the whole ring as control
    assert matched_cover >= 10


def test_short_pre_period_and_plain_scene_warnings():
    cube, mask = synthetic_scene(4)
    r = evaluate_intervention(cube, mask, 2009, **FAST)
    assert any(w.startswith("short pre-period: 8 years before 2009") for w in r.warnings)
    assert not any(w.startswith("pre-trend differs") for w in r.warnings)
    assert r.pre_trend_ci_low <= 0 <= r.pre_trend_ci_high
    r = evaluate_intervention(cube, mask, START, **FAST)
    assert r.warnings == []
    # the treated land alone greens by 0.003 per year throughout: the pre-trend diagnostic sees it
    years = cube.time.dt.year
    greening = cube + 0.003 * (years - years[0]) * mask
    r = evaluate_intervention(greening, mask, START, **FAST)
    assert r.pre_trend_ci_low > 0 and r.pre_trend_difference == pytest.approx(0.003, abs=0.001)
    assert any(w.startswith("pre-trend differs: before 2011 the treated pixels trended by +0.003") for w in r.warnings)


def test_break_dated_on_the_difference_series_not_the_drought():
    """Land chosen for being greener, a drought year (every pixel loses 30 % of its base) and no effect:
    the treated-minus-control series shows no break (the old treated-mean break fell on the drought year
    in 18 of 20 runs); with the effect planted the break is dated at the start."""
    false_alarms, dated = 0, 0
    for s in range(6):
        for effect in (0.0, EFFECT):
            cube, mask = scene(s, effect=effect, years=YEARS, start=START, selected=True, drought_year=START + 3)
            bp = evaluate_intervention(cube, mask, START, seed=s, **FAST).breakpoint
            if effect == 0.0:
                false_alarms += bp.significant
                assert bp.significant or bp.break_year is None
            else:
                dated += bp.significant and abs(bp.break_year - START) <= 1
    assert false_alarms <= 1 and dated >= 5


def test_breakpoint_dates_planted_step():
    """A step of 0.05 in 2012 on a trend with noise sd 0.01 is found by the supF test and dated within
    +-1 year in most series; the p-value stands beside every date and no date is given without
    significance."""
    rng = np.random.default_rng(7)
    trend = 0.1 + 0.002 * (YEARS - YEARS[0])
    res = [break_test(trend + 0.05 * (YEARS >= 2012) + 0.01 * rng.standard_normal(YEARS.size), YEARS) for _ in range(30)]
    assert np.mean([bp.significant for bp in res]) >= 0.6  # the prewhitening costs some power
    assert all(abs(bp.break_year - 2012) <= 1 for bp in res if bp.significant)
    assert all((bp.break_year is None) == (not bp.significant) and bp.p_value is not None for bp in res)
    # the MOSUM statistic is bounded: the supF test has more power for a level shift
    assert np.mean([bp.significant for bp in res]) > np.mean([bp.mosum_significant for bp in res])


def test_break_in_the_trimmed_end_is_not_dated():
    """A step in the last 2 years of 24 (the local demo's segment starting 2022): supF detects it, but
    both segments must be at least 3 years long, so its argmax falls on 2021, a year where nothing
    happened. Given the intervention's start, no year is reported and the caveat says why; a start
    inside the datable range is dated as before. Through evaluate_intervention the caveat is a warning."""
    years = np.arange(2000, 2024)
    rng = np.random.default_rng(3)
    y = 0.002 * (years - 2000) + 0.2 * (years >= 2022) + 0.01 * rng.standard_normal(years.size)
    free = break_test(y, years)
    assert free.significant and free.break_year == free.last_datable_year == 2021
    bp = break_test(y, years, expected_year=2022)
    assert bp.significant and bp.break_year is None and bp.p_value == free.p_value
    assert "2022 cannot be dated" in bp.caveat and "from 2003 to 2021" in bp.caveat
    y2 = 0.002 * (years - 2000) + 0.2 * (years >= 2012) + 0.01 * rng.standard_normal(years.size)
    inside = break_test(y2, years, expected_year=2012)
    assert inside.break_year == 2012 and inside.caveat is None
    cube, mask = scene(5, effect=0.2, years=years, start=2022)
    r = evaluate_intervention(cube, mask, 2022, seed=5, **FAST)
    assert r.breakpoint.break_year is None and r.to_frame()["break_year"].iloc[0] is None
    assert any(w.startswith("break of the treated-minus-control series not dated: the start 2022 cannot be dated")
               for w in r.warnings)


def test_break_test_size_under_ar1_errors():
    """No break, AR(1) errors with rho 0.6 (the old i.i.d. Monte Carlo p-value rejected 42 %): both tests
    reject at 5 % in 2-10 % of 150 series (the study in docs/methods.md uses 1,000 series per rho)."""
    rng = np.random.default_rng(5)
    years = np.arange(2001, 2025)
    w = rng.standard_normal((150, years.size + 30))
    e = np.zeros_like(w)
    for t in range(1, w.shape[1]):
        e[:, t] = 0.6 * e[:, t - 1] + w[:, t]
    res = [break_test(0.01 * np.arange(years.size) + row[30:], years) for row in e]
    assert 0.02 <= np.mean([bp.significant for bp in res]) <= 0.10
    assert 0.02 <= np.mean([bp.mosum_significant for bp in res]) <= 0.10
    assert np.median([bp.ar1 for bp in res]) == pytest.approx(0.6, abs=0.15)


# --- breakpoint test ------------------------------------------------------------------------------


def test_mosum_table_matches_simulated_limit():
    """The tabulated 5 % critical value for h = 0.15 (Chu, Hornik & Kuan 1995) equals the 95 % quantile of
    max |B(t + h) - B(t)| of simulated Brownian bridges."""
    rng = np.random.default_rng(1)
    n, reps = 1000, 3000
    w = np.cumsum(rng.standard_normal((reps, n)) / np.sqrt(n), axis=1)
    w = np.concatenate([np.zeros((reps, 1)), w], axis=1)
    bridge = w - np.linspace(0, 1, n + 1)[None, :] * w[:, -1:]
    nh = int(MOSUM_H * n)
    stat = np.abs(bridge[:, nh:] - bridge[:, :-nh]).max(axis=1)
    table = MOSUM_CRITICAL_VALUES[2, 1]  # h = 0.15, alpha = 0.05
    assert abs(np.quantile(stat, 0.95) - table) < 0.04
    p, cv = asymptotic_p_value(table)
    assert cv == table and abs(p - 0.05) < 1e-12


def test_break_test_size_under_no_change():
    """Independent errors, no change: each test rejects at 5 % in about 5 % of series."""
    rng = np.random.default_rng(3)
    res = [break_test(0.2 + 0.001 * YEARS + rng.standard_normal(YEARS.size), YEARS) for _ in range(200)]
    assert 0.02 <= np.mean([bp.significant for bp in res]) <= 0.09
    assert 0.02 <= np.mean([bp.mosum_significant for bp in res]) <= 0.09


def test_mosum_accepts_dataarray_and_rejects_short_series():
    time = pd.to_datetime([f"{v}-01-01" for v in YEARS])
    da = xr.DataArray(np.sin(YEARS / 3.0), dims="time", coords={"time": time})
    assert break_test(da).n_years == YEARS.size
    with pytest.raises(InputError, match="at least"):
        break_test(np.arange(5.0), np.arange(2000, 2005))


# --- geometry -------------------------------------------------------------------------------------


def test_pixel_spacing_geographic_against_ellipsoid_formulas():
    """Geodesic cell sizes at 37 N on WGS84: meridian arc M dphi and parallel arc N cos(phi) dlambda."""
    a, f = 6378137.0, 1 / 298.257223563
    e2 = f * (2 - f)
    lat = np.deg2rad(37.0)
    w = 1 - e2 * np.sin(lat) ** 2
    step = 0.01
    dy_ref = a * (1 - e2) / w**1.5 * np.deg2rad(step) / 1000
    dx_ref = a * np.cos(lat) / np.sqrt(w) * np.deg2rad(step) / 1000
    da = xr.DataArray(
        np.zeros((21, 21)), dims=("y", "x"), coords={"y": 37.1 - step * np.arange(21), "x": 79.9 + step * np.arange(21)}
    ).rio.write_crs("EPSG:4326")
    dy, dx = pixel_spacing_km(da)
    assert dy == pytest.approx(dy_ref, rel=1e-4)
    assert dx == pytest.approx(dx_ref, rel=1e-4)


def test_pixel_spacing_projected_and_missing_crs():
    da = xr.DataArray(np.zeros((3, 4)), dims=("y", "x"), coords={"y": [0.0, -250.0, -500.0], "x": 250.0 * np.arange(4)})
    assert pixel_spacing_km(da.rio.write_crs("EPSG:32644")) == pytest.approx((0.25, 0.25))
    with pytest.raises(InputError, match="CRS"):
        pixel_spacing_km(da)
    assert pixel_spacing_km(da, pixel_size_km=(0.5, 0.4)) == (0.5, 0.4)


def test_control_ring_matches_brute_force_distances():
    touched = np.zeros((41, 37), bool)
    touched[18:21, 10:13] = True
    spacing = (0.9, 1.3)
    ring, dist = control_ring(touched, spacing, 2.0, 8.0)
    rr, cc = np.mgrid[0:41, 0:37]
    tr, tc = np.nonzero(touched)
    brute = np.sqrt(
        ((rr[..., None] - tr) * spacing[0]) ** 2 + ((cc[..., None] - tc) * spacing[1]) ** 2
    ).min(axis=-1)
    np.testing.assert_allclose(dist, brute, atol=1e-9)
    np.testing.assert_array_equal(ring, (brute > 2.0) & (brute <= 8.0))


def test_match_nearest_exact_strata_and_calipers():
    treated = np.array([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]])
    pool = np.array([[0.1, 0.0], [0.9, 1.05], [0.0, 0.05], [1.0, 1.0]])
    t_strata = np.array([1, 1, 1])
    p_strata = np.array([1, 1, 2, 2])
    m = match_nearest(treated, pool, t_strata, p_strata, np.array([0.25, 0.25]))
    # [0, 0] -> pool 0 (pool 2 is closer but in another class); [1, 1] -> pool 1 (pool 3 is in class 2);
    # [5, 5] has nothing within the calipers
    assert m.tolist() == [0, 1, -1]


# --- evaluation details -------------------------------------------------------------------------


def test_exact_matching_balance_and_outputs():
    cube, mask = synthetic_scene(5)
    n = cube.sizes["x"]
    lc = np.full((n, n), 6, dtype=np.int8)
    lc[:, : n // 2] = 2  # grassland west, other land east; the treated square straddles both
    lc[0, 0] = -128  # no data
    land_cover = xr.DataArray(lc, dims=("y", "x"), coords={"y": cube.y, "x": cube.x})
    r = evaluate_intervention(cube, mask, START, exact={"land_cover": land_cover}, seed=1, name="belt", **FAST)
    used = (r.maps["match_count"] > 0).values
    treated_lc = land_cover.reindex_like(r.maps["role"]).values
    roles = r.maps["role"].values
    # every matched control has the class of the treated pixels it serves: both classes are used, and the
    # class shares of matched treated and used controls agree (weighted by use)
    w = r.maps["match_count"].values
    share_c = w[treated_lc == 2].sum() / w.sum()
    share_t = ((roles == 1) & (treated_lc == 2)).sum() / (roles == 1).sum()
    assert used.any() and share_c == pytest.approx(share_t)
    bal = r.balance.set_index("variable")
    assert abs(bal.loc["land_cover=2", "smd_after"]) < 1e-12
    assert abs(bal.loc["pre_mean", "smd_after"]) < 0.1
    assert r.n_treated + r.n_unmatched + r.n_invalid == int(mask.sum())
    assert r.treated_area_km2 == pytest.approx(float(mask.sum()))
    d = r.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text)["effect"] == pytest.approx(r.effect)
    row = r.to_frame()
    assert len(row) == 1 and row.loc[0, "name"] == "belt"
    assert set(r.event_study.columns) >= {"year", "rel_year", "effect", "ci_low", "ci_high", "period"}


def test_coverage_fraction_construction_period_and_placebo():
    cube, mask = synthetic_scene(11)
    frac = mask.astype(float)
    frac = frac.where(~((frac.x == frac.x[16]) & (frac.y <= frac.y[16])), 0.3)  # a strip covered at 30 %
    r = evaluate_intervention(cube, frac, START, end_year=START + 2, pixel_size_km=PIXEL_KM)
    strip = int(((frac == 0.3)).sum())
    assert r.n_treated + r.n_unmatched == int((frac >= 0.5).sum())
    assert r.treated_area_km2 == pytest.approx(float((frac >= 0.5).sum()) + 0.3 * strip)
    periods = r.event_study.set_index("year")["period"]
    assert periods[START] == "construction" and periods[START + 1] == "construction" and periods[START + 2] == "post"
    assert r.n_post_years == YEARS.max() - (START + 2) + 1
    assert r.placebo_start_year is not None and r.placebo_ci_low <= 0 <= r.placebo_ci_high
    # the break of the treated-minus-control series dates the start, with its p-value
    assert r.breakpoint.significant and abs(r.breakpoint.break_year - START) <= 2 and r.breakpoint.p_value < 0.05


def test_dask_input_and_determinism():
    cube, mask = synthetic_scene(2)
    a = evaluate_intervention(cube, mask, START, seed=4, **FAST)
    b = evaluate_intervention(cube.chunk({"time": -1, "y": 20, "x": 20}), mask, START, seed=4, **FAST)
    assert (a.effect, a.ci_low, a.ci_high) == (b.effect, b.ci_low, b.ci_high)
    pd.testing.assert_frame_equal(a.event_study, b.event_study)


def test_window_of_a_larger_grid_gives_the_whole_grid_result():
    """The pipeline evaluates on the window the evaluation reads (the touched cells plus outer_km): with
    the window's offset in the grid and the grid's pixel spacing, the result is the whole grid's."""
    from dldd.effectiveness.design import evaluation_window

    cube, mask = synthetic_scene(5, n=90, half=6)
    spacing = (1.0, 1.0)  # the scene's 1 km pixels
    kw = dict(seed=1, outer_km=12.0, pixel_size_km=spacing)
    whole = evaluate_intervention(cube, mask, START, **kw)
    win = evaluation_window(mask.values, spacing, kw["outer_km"])
    assert win["y"].stop - win["y"].start < 90 and win["x"].start > 0  # a real window
    part = evaluate_intervention(cube.isel(win), mask.isel(win), START, **kw)
    a, b = whole.to_dict(), part.to_dict()
    assert a == b


def test_geographic_scene_through_crs():
    """Same scene on a lon/lat grid at 37 N: the ring and blocks use geodesic pixel sizes from the CRS."""
    cube, mask = synthetic_scene(3)
    n = cube.sizes["x"]
    coords = {"y": 37.3 - 0.009 * np.arange(n), "x": 79.6 + 0.009 * np.arange(n)}
    geo = cube.assign_coords(coords).rio.write_crs("EPSG:4326")
    gmask = mask.assign_coords(coords)
    r = evaluate_intervention(geo, gmask, START, placebo=False)
    dy, dx = r.parameters["pixel_spacing_km"]
    assert dy == pytest.approx(0.999, abs=0.01) and dx == pytest.approx(0.799, abs=0.01)
    assert r.ci_low <= EFFECT <= r.ci_high


def test_input_errors():
    cube, mask = synthetic_scene(0, n=40, half=6)
    with pytest.raises(InputError, match="dimensions"):
        evaluate_intervention(cube.isel(x=0), mask, START, pixel_size_km=PIXEL_KM)
    with pytest.raises(GridMismatchError):
        evaluate_intervention(cube, mask.isel(x=slice(1, None)), START, pixel_size_km=PIXEL_KM)
    with pytest.raises(InputError, match="coverage fraction"):
        evaluate_intervention(cube, mask * 2.0, START, pixel_size_km=PIXEL_KM)
    with pytest.raises(InputError, match="before start_year"):
        evaluate_intervention(cube, mask, 2002, pixel_size_km=PIXEL_KM)
    with pytest.raises(InputError, match="no pixel"):
        evaluate_intervention(cube, mask & False, START, pixel_size_km=PIXEL_KM)
    with pytest.raises(InputError, match="CRS"):
        evaluate_intervention(cube, mask, START)
