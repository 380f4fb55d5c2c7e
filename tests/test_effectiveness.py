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
from scipy import ndimage

from dldd.effectiveness import evaluate_intervention, ols_mosum, pixel_spacing_km
from dldd.effectiveness.breakpoints import MOSUM_CRITICAL_VALUES, MOSUM_H, asymptotic_p_value
from dldd.effectiveness.matching import match_nearest
from dldd.effectiveness.spatial import control_ring, neighbour_pairs
from dldd.errors import GridMismatchError, InputError

YEARS = np.arange(2001, 2021)
START = 2011
EFFECT = 0.03
PIXEL_KM = (1.0, 1.0)
#: Bootstrap settings of the synthetic tests: blocks of 4 km for noise correlated over about 3 km.
FAST = dict(pixel_size_km=PIXEL_KM, n_boot=199, block_km=4.0, placebo=False)


def _smooth(rng, shape, sigma):
    f = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return f / f.std()


def synthetic_scene(
    seed: int,
    effect: float = EFFECT,
    n: int = 56,
    half: int = 12,
    greening: bool = False,
    noise_sd: float = 0.012,
    regional_sd: float = 0.02,
):
    """Annual NDVI-like cube (time, y, x) on 1 km pixels: heterogeneous base level (smooth field), a
    shared regional anomaly per year, Gaussian-filtered (sigma 1 pixel) noise fields per year and white
    noise; a square treated area of (2 half)^2 pixels receives ``effect`` from START on. With
    ``greening`` the land greens along a west-east gradient (0 to 0.006 per year) and the treated area
    sits in the greening east."""
    rng = np.random.default_rng(seed)
    nt = YEARS.size
    base = 0.15 + 0.04 * _smooth(rng, (n, n), 3)
    xx = np.mgrid[0:n, 0:n][1]
    trend = 0.006 * xx / (n - 1) if greening else np.zeros((n, n))
    treated = np.zeros((n, n), bool)
    c = n // 2
    if greening:
        treated[c - half : c + half, n - 2 * half - 4 : n - 4] = True
    else:
        treated[c - half : c + half, c - half : c + half] = True
    t = (YEARS - YEARS.mean())[:, None, None]
    regional = regional_sd * rng.standard_normal(nt)[:, None, None]
    local = ndimage.gaussian_filter(rng.standard_normal((nt, n, n)), (0, 1.0, 1.0))
    local *= noise_sd / local.std()
    white = 0.004 * rng.standard_normal((nt, n, n))
    y = base + trend * t + regional + local + white + effect * ((YEARS >= START)[:, None, None] & treated[None])
    coords = {"y": -1000.0 * np.arange(n), "x": 1000.0 * np.arange(n)}
    time = pd.to_datetime([f"{v}-01-01" for v in YEARS])
    cube = xr.DataArray(y, dims=("time", "y", "x"), coords={"time": time, **coords}, name="ndvi", attrs={"units": "1"})
    return cube, xr.DataArray(treated, dims=("y", "x"), coords=coords)


def _coverage(seeds, effect):
    hits = 0
    for s in seeds:
        cube, mask = synthetic_scene(s, effect=effect)
        r = evaluate_intervention(cube, mask, START, seed=s, breakpoints=False, **FAST)
        hits += r.ci_low <= effect <= r.ci_high
    return hits / len(seeds)


# --- what must show (issue 6) -------------------------------------------------------------------


def test_interval_covers_planted_effect():
    """95 % interval covers the planted effect in 90-99 % of 100 scenes."""
    assert 0.90 <= _coverage(range(100), EFFECT) <= 0.99


def test_interval_covers_zero_without_effect():
    """No planted effect: the interval covers zero in 90-99 % of 100 other scenes."""
    assert 0.90 <= _coverage(range(1000, 1100), 0.0) <= 0.99


def test_greening_land_biases_naive_not_matched():
    """Intervention placed where land was already greening: the naive before/after estimate carries the
    greening (about 0.0045 per year x 10 years), the matched difference in differences does not (a
    residual regression-to-the-mean bias of about 0.002 remains, see evaluate's docstring, item 8)."""
    naive_err, matched_err, unmatched_err, naive_cover, matched_cover = [], [], [], 0, 0
    seeds = range(12)
    for s in seeds:
        cube, mask = synthetic_scene(s, greening=True, noise_sd=0.006)
        r = evaluate_intervention(cube, mask, START, seed=s, breakpoints=False, **FAST)
        naive_err.append(r.naive_effect - EFFECT)
        matched_err.append(r.effect - EFFECT)
        unmatched_err.append(r.unmatched_effect - EFFECT)
        naive_cover += r.naive_ci_low <= EFFECT <= r.naive_ci_high
        matched_cover += r.ci_low <= EFFECT <= r.ci_high
    naive_bias, matched_bias = np.mean(naive_err), np.mean(matched_err)
    assert naive_bias > 0.03  # the greening over the 10-year gap between period means
    assert naive_cover == 0
    assert abs(matched_bias) < 0.1 * naive_bias
    assert abs(matched_bias) < 0.5 * abs(np.mean(unmatched_err))  # matching beats the whole ring as control
    assert matched_cover >= 10


def test_breakpoint_dates_planted_step():
    """A step of 0.05 in 2012 on a trend with noise sd 0.01 is dated within +-1 year (least-squares
    date); a step of 0.08 is also found significant by the OLS-MOSUM test in most series (the trend
    term absorbs part of a mid-series step, so the test has modest power on 20 years)."""
    rng = np.random.default_rng(7)
    trend = 0.1 + 0.002 * (YEARS - YEARS[0])
    for _ in range(30):
        bp = ols_mosum(trend + 0.05 * (YEARS >= 2012) + 0.01 * rng.standard_normal(YEARS.size), YEARS)
        assert abs(bp.break_year - 2012) <= 1
    strong = [ols_mosum(trend + 0.08 * (YEARS >= 2012) + 0.01 * rng.standard_normal(YEARS.size), YEARS) for _ in range(40)]
    assert np.mean([bp.significant for bp in strong]) >= 0.6
    assert all(abs(bp.break_year - 2012) <= 1 for bp in strong)


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


def test_mosum_size_under_no_change():
    """Without a change the Monte Carlo p-value rejects at 5 % in about 5 % of series."""
    rng = np.random.default_rng(3)
    rejections = [ols_mosum(0.2 + 0.001 * YEARS + rng.standard_normal(YEARS.size), YEARS).significant for _ in range(300)]
    assert 0.02 <= np.mean(rejections) <= 0.09


def test_mosum_accepts_dataarray_and_rejects_short_series():
    time = pd.to_datetime([f"{v}-01-01" for v in YEARS])
    da = xr.DataArray(np.sin(YEARS / 3.0), dims="time", coords={"time": time})
    assert ols_mosum(da).n_years == YEARS.size
    with pytest.raises(InputError, match="at least"):
        ols_mosum(np.arange(5.0), np.arange(2000, 2005))


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


def test_neighbour_pairs_brute_force():
    pos = np.array([[0, 0], [0, 1], [2, 2], [1, 1], [5, 0]])
    got = sorted((int(i), int(j)) for ii, jj in neighbour_pairs(pos) for i, j in zip(ii, jj))
    want = sorted((i, j) for i in range(5) for j in range(5) if np.abs(pos[i] - pos[j]).max() <= 1)
    assert got == want


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
    r = evaluate_intervention(cube, frac, START, end_year=START + 2, pixel_size_km=PIXEL_KM, n_boot=199, block_km=4.0)
    strip = int(((frac == 0.3)).sum())
    assert r.n_treated + r.n_unmatched == int((frac >= 0.5).sum())
    assert r.treated_area_km2 == pytest.approx(float((frac >= 0.5).sum()) + 0.3 * strip)
    periods = r.event_study.set_index("year")["period"]
    assert periods[START] == "construction" and periods[START + 1] == "construction" and periods[START + 2] == "post"
    assert r.n_post_years == YEARS.max() - (START + 2) + 1
    assert r.placebo_start_year is not None and r.placebo_ci_low <= 0 <= r.placebo_ci_high
    # the breakpoint on the treated-minus-control series dates the start
    assert abs(r.breakpoint_difference.break_year - START) <= 1


def test_dask_input_and_determinism():
    cube, mask = synthetic_scene(2)
    a = evaluate_intervention(cube, mask, START, seed=4, **FAST)
    b = evaluate_intervention(cube.chunk({"time": -1, "y": 20, "x": 20}), mask, START, seed=4, **FAST)
    assert (a.effect, a.ci_low, a.ci_high) == (b.effect, b.ci_low, b.ci_high)
    pd.testing.assert_frame_equal(a.event_study, b.event_study)


def test_window_of_a_larger_grid_gives_the_whole_grid_result():
    """The pipeline evaluates on the window the evaluation reads (the touched cells plus outer_km): with
    the window's offset in the grid and the grid's pixel spacing, the result is the whole grid's."""
    from dldd.effectiveness.evaluate import evaluation_window

    cube, mask = synthetic_scene(5, n=90, half=6)
    spacing = (1.0, 1.0)  # the scene's 1 km pixels
    kw = dict(seed=1, outer_km=12.0, block_km=4.0, n_boot=199, pixel_size_km=spacing)
    whole = evaluate_intervention(cube, mask, START, **kw)
    win = evaluation_window(mask.values, spacing, kw["outer_km"])
    assert win["y"].stop - win["y"].start < 90 and win["x"].start > 0  # a real window
    part = evaluate_intervention(cube.isel(win), mask.isel(win), START, grid_offset=(win["y"].start, win["x"].start),
                                 **kw)
    a, b = whole.to_dict(), part.to_dict()
    assert a == b
    # without the offset the bootstrap blocks fall elsewhere: the interval moves, the effect does not
    moved = evaluate_intervention(cube.isel(win), mask.isel(win), START, **kw)
    assert moved.effect == whole.effect and (moved.ci_low, moved.ci_high) != (whole.ci_low, whole.ci_high)


def test_geographic_scene_through_crs():
    """Same scene on a lon/lat grid at 37 N: the ring and blocks use geodesic pixel sizes from the CRS."""
    cube, mask = synthetic_scene(3)
    n = cube.sizes["x"]
    coords = {"y": 37.3 - 0.009 * np.arange(n), "x": 79.6 + 0.009 * np.arange(n)}
    geo = cube.assign_coords(coords).rio.write_crs("EPSG:4326")
    gmask = mask.assign_coords(coords)
    r = evaluate_intervention(geo, gmask, START, n_boot=199, block_km=4.0, placebo=False)
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
