"""Sand drift potential, RWEQ and the sand rose (dldd.indicators.sand.drift, dldd.indicators.sand.rweq,
dldd.report.figures_sand).

References: Fryberger's definition DP = sum U^2 (U - Ut) t (closed forms and hand-computed vector sums),
METHODS section 5 class edges, RWEQ equations evaluated by hand, the standard atmosphere for air density.
No RWEQ or Fryberger drift package is installable from PyPI (the package lists hold none), so the peer
reference is hand computation throughout.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dldd.core.legend import CLASS_NODATA
from dldd.errors import InputError
from dldd.indicators.sand import drift, rweq

KNOTS_PER_MS = 3600.0 / 1852.0  # definition of the knot: 1852 m per hour

# The drift hand cases use daily time stamps for their arithmetic; the coarse-wind warning has its own test.
pytestmark = pytest.mark.filterwarnings("ignore::dldd.indicators.sand.drift.CoarseWindWarning")


def pct(values):
    """Cover in % with its units declared."""
    return xr.DataArray(np.asarray(values, dtype=float), attrs={"units": "%"})


def series(values, start="2020-01-01", freq="D"):
    values = np.asarray(values, dtype=float)
    t = pd.date_range(start, periods=values.shape[0], freq=freq)
    dims = ("time",) + tuple(f"d{i}" for i in range(values.ndim - 1))
    return xr.DataArray(values, dims=dims, coords={"time": t})


def test_speed_converted_to_knots_by_pint():
    """1 m/s is 3600/1852 kn exactly (the former hand-written 1.943844 was 2.5e-7 short); km/h and knots
    convert too; a speed that is not a speed, or whose units attribute contradicts the units given, is refused."""
    one = xr.DataArray([1.0, 2.0])
    np.testing.assert_allclose(drift.to_knots(one, "m/s").values, [KNOTS_PER_MS, 2 * KNOTS_PER_MS], rtol=1e-15)
    assert drift.to_knots(one, "m s-1").values[0] == drift.to_knots(one, "m/s").values[0]
    np.testing.assert_allclose(drift.to_knots(one, "km/h").values, [1000 / 1852, 2000 / 1852], rtol=1e-15)
    assert drift.to_knots(one, "kn").values.tolist() == [1.0, 2.0]
    assert drift.knots_per("m/s") == pytest.approx(KNOTS_PER_MS, rel=1e-15)
    with pytest.raises(InputError, match="'mm'"):
        drift.to_knots(one, "mm")
    with pytest.raises(InputError, match="knots"):
        drift.to_knots(one.assign_attrs(units="knots"), "m/s")
    assert drift.to_knots(one.assign_attrs(units="m s-1"), "m/s").values[0] == pytest.approx(KNOTS_PER_MS, rel=1e-15)


# ---- drift potential ----


def test_hand_computed_mixed_winds():
    # 20 kn from N, 20 kn from E, 10 kn from S (below 12 kn), calm (direction unknown): N = 4, t = 1/4.
    # q = 20^2 (20 - 12) / 4 = 800 for each of the first two. DP = 1600.
    # drift from N goes S (0, -800), from E goes W (-800, 0): RDP = 800 sqrt 2 = 1131.37, RDD = 225.
    speed = series([20, 20, 10, 0])
    direction = series([0, 90, 180, np.nan])
    for n_dir in (16, None):
        ds = drift.drift_potential(speed, direction, units="knots", n_directions=n_dir)
        assert ds.dp.item() == pytest.approx(1600.0)
        assert ds.rdp.item() == pytest.approx(800 * math.sqrt(2))
        assert ds.rdd.item() == pytest.approx(225.0)
        assert ds.rdp_dp.item() == pytest.approx(1 / math.sqrt(2))
        assert int(ds.n_obs) == 4 and int(ds.dp_class) == drift.ENERGY_HIGH
    # an observation above threshold without a direction is not valid: N = 3, t = 1/3
    ds = drift.drift_potential(series([20, 20, 10]), series([0, np.nan, 180]), units="knots")
    assert ds.dp.item() == pytest.approx(3200 / 2) and int(ds.n_obs) == 2
    by_dir = drift.drift_by_direction(speed, direction, units="knots")
    assert by_dir.sizes["direction"] == 16 and by_dir.sum().item() == pytest.approx(1600.0)
    assert by_dir.sel(direction=0.0).item() == pytest.approx(800) and by_dir.sel(direction=90.0).item() == pytest.approx(800)


def test_balanced_winds_have_no_direction():
    ds = drift.drift_potential(series([20, 20]), series([90, 270]), units="knots")
    assert ds.dp.item() == pytest.approx(3200) and ds.rdp.item() == pytest.approx(0, abs=1e-9)
    assert np.isnan(ds.rdd.item())
    calm = drift.drift_potential(series([3, 5]), series([90, 270]), units="knots")
    assert calm.dp.item() == 0 and np.isnan(calm.rdd.item()) and np.isnan(calm.rdp_dp.item())


def test_sectors_use_centres_binned_vs_exact():
    # one wind from 10 degrees (sector centre 0): binned RDD = 180, exact RDD = 190
    speed, direction = series([25.0]), series([10.0])
    assert drift.drift_potential(speed, direction, units="knots").rdd.item() == pytest.approx(180.0)
    assert drift.drift_potential(speed, direction, units="knots", n_directions=None).rdd.item() == pytest.approx(190.0)
    # a direction half-way between centres (11.25) goes to the clockwise sector (22.5)
    by_dir = drift.drift_by_direction(speed, series([11.25]), units="knots")
    assert by_dir.sel(direction=22.5).item() > 0 and by_dir.sel(direction=0.0).item() == 0


@settings(max_examples=40, deadline=None)
@given(
    st.floats(0.0, 40.0, allow_nan=False),
    st.integers(0, 15),
    st.integers(1, 30),
    st.floats(6.0, 20.0, allow_nan=False),
)
def test_constant_wind_closed_form(speed_ms, sector, n, threshold):
    direction = sector * 22.5
    ds = drift.drift_potential(series(np.full(n, speed_ms)), series(np.full(n, direction)), threshold_knots=threshold)
    u = speed_ms * KNOTS_PER_MS  # the knot's definition
    expected = u**2 * (u - threshold) if u > threshold else 0.0
    assert ds.dp.item() == pytest.approx(expected, rel=1e-5, abs=1e-9)
    if expected > 0:
        assert ds.rdp.item() == pytest.approx(expected, rel=1e-9)
        assert ds.rdd.item() == pytest.approx((direction + 180.0) % 360.0, abs=1e-6)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 30.0), st.floats(0.0, 359.9)), min_size=1, max_size=25))
def test_knots_and_ms_agree(obs):
    ms = series([o[0] for o in obs])
    d = series([o[1] for o in obs])
    a = drift.drift_potential(ms, d, units="m/s")
    b = drift.drift_potential(ms * KNOTS_PER_MS, d, units="knots")
    for v in ("dp", "rdp", "rdp_dp", "rdd"):
        np.testing.assert_allclose(a[v].values, b[v].values, rtol=1e-9, atol=1e-9)


OCTANTS = {0: "N", 45: "NE", 90: "E", 135: "SE", 180: "S", 225: "SW", 270: "W", 315: "NW"}


@pytest.mark.parametrize("origin", sorted(OCTANTS))
@pytest.mark.parametrize("n_dir", [16, None])
def test_rdd_quadrant_for_each_octant(origin, n_dir):
    rng = np.random.default_rng(origin)
    direction = (origin + rng.uniform(-10, 10, 50)) % 360  # scatter around the octant
    speed = rng.uniform(8, 15, 50)  # m/s, mostly above 12 kn
    ds = drift.drift_potential(series(speed), series(direction), n_directions=n_dir)
    rdd = ds.rdd.item()
    toward = (origin + 180) % 360
    # sand goes where the wind goes: east component sign follows -sin(origin), north follows -cos(origin)
    e, n = math.sin(math.radians(rdd)), math.cos(math.radians(rdd))
    ee, en = -math.sin(math.radians(origin)), -math.cos(math.radians(origin))
    for got, exp in ((e, ee), (n, en)):
        if abs(exp) > 0.5:
            assert np.sign(got) == np.sign(exp)
    assert abs((rdd - toward + 180) % 360 - 180) < 11.25


def test_energy_class_boundaries():
    dp = xr.DataArray([0, 199.999, 200, 399.999, 400, 5000, np.nan], dims="cell")
    out = drift.dp_energy_class(dp)
    assert out.dtype == np.int8 and out.attrs["_FillValue"] == CLASS_NODATA
    np.testing.assert_array_equal(out.values, [1, 1, 2, 2, 3, 3, CLASS_NODATA])
    assert [drift.DP_ENERGY_LEGEND.label(int(c)) for c in out.values[:-1]] == [
        "low energy", "low energy", "intermediate energy", "intermediate energy", "high energy", "high energy"]


def test_wind_from_uv():
    u = xr.DataArray([1.0, 0.0, -1.0, 0.0, 3.0], dims="obs")
    v = xr.DataArray([0.0, -1.0, -1.0, 0.0, 4.0], dims="obs")
    speed, direction = drift.wind_from_uv(u, v)
    np.testing.assert_allclose(speed.values, [1, 1, math.sqrt(2), 0, 5])
    # blowing east comes from the west (270); blowing south from the north (0); to the SW from the NE (45)
    np.testing.assert_allclose(direction.values[:3], [270.0, 0.0, 45.0])
    assert np.isnan(direction.values[3])
    assert direction.values[4] == pytest.approx((math.degrees(math.atan2(-3, -4))) % 360)  # 216.87


def test_gridded_and_dask_match_per_pixel():
    rng = np.random.default_rng(1)
    spd = rng.gamma(3, 2.5, (40, 3, 4))
    dirn = rng.uniform(0, 360, (40, 3, 4))
    s, d = series(spd), series(dirn)
    full = drift.drift_potential(s, d)
    lazy = drift.drift_potential(s.chunk({"d0": 1}), d.chunk({"d0": 1}))
    assert lazy.dp.chunks is not None
    for v in ("dp", "rdp", "rdd", "rdp_dp"):
        np.testing.assert_allclose(lazy[v].compute().values, full[v].values, rtol=1e-12)
    one = drift.drift_potential(series(spd[:, 1, 2]), series(dirn[:, 1, 2]))
    assert full.dp.values[1, 2] == pytest.approx(one.dp.item())
    assert full.rdd.values[1, 2] == pytest.approx(one.rdd.item())


def test_bad_inputs():
    with pytest.raises(InputError, match="units 'hPa'"):  # not a speed (any speed, mph too, converts)
        drift.drift_potential(series([1.0]), series([0.0]), units="hPa")
    with pytest.raises(InputError, match="units 'nautical'"):
        drift.drift_potential(series([1.0]), series([0.0]), units="nautical")
    with pytest.raises(InputError, match="direction"):
        drift.drift_potential(series([1.0]), series([400.0]))
    with pytest.raises(InputError, match="'time'"):
        drift.drift_potential(xr.DataArray([1.0], dims="x"), xr.DataArray([1.0], dims="x"))


# ---- RWEQ ----


def test_air_density_standard_atmosphere():
    # sea level, 15 degC: ISA density 1.225 kg m-3; formula 348 x 1.013 / 288.15 = 1.22340
    rho = rweq.air_density(xr.DataArray(15.0), 0.0).item()
    assert rho == pytest.approx(1.22340, abs=1e-5) and rho == pytest.approx(1.225, rel=3e-3)
    # 1,375 m (Hotan), 12.5 degC: 348 (1.013 - 0.1183 x 1.375 + 0.0048 x 1.375^2) / 285.65
    #   = 348 x 0.859416 / 285.65 = 1.04700
    assert rweq.air_density(xr.DataArray(12.5), 1375.0).item() == pytest.approx(1.04700, abs=1e-5)


def test_wind_factor_hand():
    # daily 4, 6, 8 m/s, U1 = 5: 0 + 6 x 1^2 + 8 x 3^2 = 78, Nd / N = 1
    assert rweq.wind_factor(series([4, 6, 8])).item() == pytest.approx(78.0)
    # a missing day: mean over valid days scaled to the 4-day period: 78 x 4 / 3 = 104
    assert rweq.wind_factor(series([4, 6, np.nan, 8])).item() == pytest.approx(104.0)
    # 6-hourly observations: Nd / N = 0.25
    assert rweq.wind_factor(series([4, 6, 8], freq="6h")).item() == pytest.approx(19.5)
    # two years of daily 6 m/s: 6 x 1 x 730 days for the record, 6 x 365.25 per mean year
    two_years = series(np.full(730, 6.0))
    assert rweq.wind_factor(two_years).item() == pytest.approx(6.0 * 730)
    assert rweq.wind_factor(two_years, period_days=365.25).item() == pytest.approx(6.0 * 365.25)
    with pytest.raises(InputError, match="days_per_observation"):
        rweq.wind_factor(series([4, 6, 8, 9], freq="MS"))
    # 10 m winds are brought to 2 m: u2 = u10 x 4.87 / ln(67.8 x 10 - 5.42) = 0.74801 u10
    u10 = 10.0 / (4.87 / math.log(67.8 * 10 - 5.42))  # gives exactly 10 m/s at 2 m
    assert rweq.wind_factor(series([u10]), height=10.0, days_per_observation=1).item() == pytest.approx(10 * 25)


def test_factors_hand():
    # SW = (100 - 20 x 5 / 30) / 100 = 0.966667
    sw = rweq.soil_wetness_factor(xr.DataArray(100.0), xr.DataArray(20.0), 5, 30)
    assert sw.item() == pytest.approx(0.9666667, abs=1e-7)
    assert rweq.soil_wetness_factor(xr.DataArray(10.0), xr.DataArray(300.0), 30, 30).item() == 0.0  # clipped
    assert rweq.snow_cover_factor(0.25).item() == pytest.approx(0.75)
    # WF = 78 x 1.2 / 9.8 x 0.5 x 1 = 4.775510
    wf = rweq.weather_factor(xr.DataArray(78.0), 1.2, soil_wetness=0.5)
    assert wf.item() == pytest.approx(4.775510, abs=1e-6)
    # EF = (29.09 + 0.31 x 60 + 0.17 x 30 + 0.33 x 6 - 2.59 x 1 - 0.95 x 2) / 100 = 0.5028
    ef = rweq.erodible_fraction(xr.DataArray(60.0), xr.DataArray(30.0), xr.DataArray(10.0), xr.DataArray(1.0), 2.0)
    assert ef.item() == pytest.approx(0.5028, abs=1e-10)
    ef = rweq.erodible_fraction(xr.DataArray(98.0), xr.DataArray(2.0), xr.DataArray(0.0), xr.DataArray(0.0))
    assert ef.item() == 1.0
    # SCF = 1 / (1 + 0.0066 x 100 + 0.021 x 1) = 1 / 1.681 = 0.594884
    scf = rweq.crust_factor(xr.DataArray(10.0), xr.DataArray(1.0))
    assert scf.item() == pytest.approx(0.594884, abs=1e-6)
    assert rweq.roughness_factor().item() == 1.0
    # COG = exp(-0.0438 x 50) = exp(-2.19) = 0.111917
    assert rweq.vegetation_factor(pct(50.0)).item() == pytest.approx(0.111917, abs=1e-6)


def test_soil_loss_hand():
    # x = 10: Qmax = 1098 kg/m; s = 150.71 x 10^-0.3711 = 150.71 x 0.425500 = 64.1272 m;
    # SL = 2 x 50 / 64.1272^2 x 1098 x exp(-(50 / 64.1272)^2) = 26.7003 x exp(-0.607930) = 14.5377 kg m-2
    ds = rweq.rweq_soil_loss(xr.DataArray(10.0), 1.0, 1.0, 1.0, 1.0)
    assert ds.qmax.item() == pytest.approx(1098.0)
    assert ds.s.item() == pytest.approx(64.1272, abs=1e-3)
    assert ds.soil_loss.item() == pytest.approx(14.5377, abs=1e-3)
    assert ds.soil_loss.attrs["units"] == "kg m-2"
    # field mean: 1098 x (1 - exp(-0.607930)) / 50 = 1098 x 0.455531 / 50 = 10.0035
    fm = rweq.rweq_soil_loss(xr.DataArray(10.0), 1.0, 1.0, 1.0, 1.0, loss="field_mean")
    assert fm.soil_loss.item() == pytest.approx(10.0035, abs=1e-3)
    assert rweq.rweq_soil_loss(xr.DataArray(0.0), 1.0, 1.0, 1.0, 1.0).soil_loss.item() == 0.0
    assert rweq.kg_m2_to_t_ha(ds.soil_loss).item() == pytest.approx(145.377, abs=1e-2)


def test_point_loss_peak():
    x_peak = rweq.point_loss_peak_x()
    # s at the peak = 50 sqrt(0.7422 / 1.7422) = 32.635 m -> x = (32.635 / 150.71)^(1 / -0.3711) = 61.73
    assert x_peak == pytest.approx(61.73, abs=0.01)
    x = xr.DataArray([0.98 * x_peak, x_peak, 1.02 * x_peak])
    loss = rweq.rweq_soil_loss(x, 1.0, 1.0, 1.0, 1.0).soil_loss.values
    assert loss[1] > loss[0] and loss[1] > loss[2]


@settings(max_examples=50, deadline=None)
@given(st.floats(0.01, 1.0), st.floats(0.0, 100.0), st.floats(0.0, 100.0))
def test_more_cover_never_raises_point_loss_below_peak(share_of_peak, c1, c2):
    """Point form (METHODS): monotonic while the bare x is below the documented peak."""
    lo, hi = sorted((c1, c2))
    x_bare = share_of_peak * rweq.point_loss_peak_x()
    sf = rweq.sand_fixation(xr.DataArray(x_bare), 1.0, 1.0, 1.0, pct([lo, hi]))
    assert sf.actual_loss.values[1] <= sf.actual_loss.values[0] * (1 + 1e-12)
    assert (sf.sand_fixation.values >= -1e-12).all()
    assert sf.actual_loss.values[0] <= sf.potential_loss.item() * (1 + 1e-12)


@settings(max_examples=50, deadline=None)
@given(st.floats(0.01, 1e4), st.floats(0.0, 100.0), st.floats(0.0, 100.0))
def test_more_cover_never_raises_field_mean_loss(x_bare, c1, c2):
    lo, hi = sorted((c1, c2))
    assume(hi > lo)
    sf = rweq.sand_fixation(xr.DataArray(x_bare), 1.0, 1.0, 1.0, pct([lo, hi]), loss="field_mean")
    assert sf.actual_loss.values[1] <= sf.actual_loss.values[0] * (1 + 1e-12)
    assert (sf.sand_fixation.values >= -1e-12).all()


def test_point_loss_caveat_above_peak():
    """Documented behaviour of the METHODS point form: past the peak, cover can raise the point loss."""
    x_bare = 5 * rweq.point_loss_peak_x()
    sf = rweq.sand_fixation(xr.DataArray(x_bare), 1.0, 1.0, 1.0, pct(10.0))
    assert sf.sand_fixation.item() < 0 and int(sf.negative_service) == rweq.SERVICE_NEGATIVE


def test_sand_fixation_gridded_pipeline_shape():
    # a (y, x) grid: WF from a daily (time, y, x) wind series (same wind in every cell), soils, cover in %
    rng = np.random.default_rng(3)
    speed = series(np.repeat(np.repeat(rng.gamma(2.0, 2.5, (365, 1, 1)), 2, 1), 3, 2))
    wfac = rweq.wind_factor(speed)
    wf = rweq.weather_factor(wfac, rweq.air_density(xr.DataArray(12.5), 1375.0))
    ef = xr.DataArray(np.full((2, 3), 0.7), dims=("d0", "d1"))
    scf = xr.DataArray(np.full((2, 3), 0.9), dims=("d0", "d1"))
    cover = xr.DataArray([[0.0, 10.0, 30.0], [50.0, 70.0, 90.0]], dims=("d0", "d1"), attrs={"units": "%"})
    sf = rweq.sand_fixation(wf, ef, scf, 1.0, cover, loss="field_mean")
    assert sf.sand_fixation.dims == ("d0", "d1")
    assert sf.sand_fixation.values[0, 0] == 0.0  # no cover, no service
    assert (np.diff(sf.actual_loss.values.ravel()) <= 0).all()  # cover increases along the raveled grid
    for v in sf.data_vars:
        assert {"units", "long_name", "method", "parameters", "references"} <= set(sf[v].attrs)


# ---- sand rose ----


def test_sand_rose_figure(tmp_path):
    from matplotlib.figure import Figure

    from dldd.report.figures_sand import SYNTHETIC_LABEL, sand_rose_from_drift

    speed = series([20, 20, 10, 0, 15])
    direction = series([0, 90, 180, np.nan, 300])
    by_dir = drift.drift_by_direction(speed, direction, units="knots")
    summary = drift.drift_potential(speed, direction, units="knots")
    out = tmp_path / "rose.png"
    fig = sand_rose_from_drift(by_dir, summary, title="Hotan (synthetic)", synthetic=True, path=out)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.name == "polar" and len(ax.patches) == 16
    heights = sorted(p.get_height() for p in ax.patches)
    assert heights[-2:] == pytest.approx([3200 / 5, 3200 / 5])  # 20 kn from N and from E, t = 1/5
    texts = [t.get_text() for t in fig.texts]
    assert any(SYNTHETIC_LABEL in t for t in texts)
    assert out.exists() and out.read_bytes()[:4] == b"\x89PNG"
    plain = sand_rose_from_drift(by_dir, summary)
    assert not any(SYNTHETIC_LABEL in t.get_text() for t in plain.texts)
    many = drift.drift_by_direction(series(np.ones((3, 2))), series(np.zeros((3, 2))))
    with pytest.raises(InputError, match="one site"):
        sand_rose_from_drift(many, summary)


# ---- drift: directionality classes, temporal resolution, wind height ----


def test_directionality_class_boundaries():
    # METHODS 5: RDP/DP < 0.3 low, 0.3-0.8 intermediate, >= 0.8 high
    out = drift.directionality_class(xr.DataArray([0.0, 0.2999, 0.3, 0.7999, 0.8, 1.0, np.nan], dims="cell"))
    np.testing.assert_array_equal(out.values, [1, 1, 2, 2, 3, 3, CLASS_NODATA])
    assert [drift.DIRECTIONALITY_LEGEND.label(int(c)) for c in out.values[[0, 2, 4]]] == [
        "low directionality", "intermediate directionality", "high directionality"]
    # a unimodal wind (one direction) is high, two opposed equal winds are low (RDP = 0)
    one = drift.drift_potential(series([20.0, 20.0], freq="h"), series([90.0, 90.0], freq="h"), units="knots")
    two = drift.drift_potential(series([20.0, 20.0], freq="h"), series([90.0, 270.0], freq="h"), units="knots")
    assert int(one.rdp_dp_class) == drift.DIRECTIONALITY_HIGH and int(two.rdp_dp_class) == drift.DIRECTIONALITY_LOW


def test_resultant_of_sectors_matches_drift_potential():
    rng = np.random.default_rng(7)
    s, d = series(rng.gamma(3, 2.5, 200), freq="h"), series(rng.uniform(0, 360, 200), freq="h")
    full = drift.drift_potential(s, d)
    res = drift.resultant_of_sectors(drift.drift_by_direction(s, d))
    for v in ("dp", "rdp", "rdd", "rdp_dp"):
        assert res[v].item() == pytest.approx(full[v].item(), rel=1e-12)


def test_coarse_winds_warn():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        drift.drift_potential(series([20.0] * 4, freq="3h"), series([0.0] * 4, freq="3h"), units="knots")
        assert drift.check_wind_resolution(series([1.0] * 4, freq="h")) == pytest.approx(1.0)
    assert not [w for w in caught if issubclass(w.category, drift.CoarseWindWarning)]
    with pytest.warns(drift.CoarseWindWarning, match="24 h"):
        drift.drift_potential(series([20.0] * 4), series([0.0] * 4), units="knots")
    with pytest.warns(drift.CoarseWindWarning, match="6 h"):
        assert drift.check_wind_resolution(series([1.0] * 4, freq="6h")) == pytest.approx(6.0)


def test_wind_height_log_law_to_10m():
    # FAO56 eq. 47's log law between 2 m and 10 m: u10 = u2 ln(67.8 x 10 - 5.42) / ln(67.8 x 2 - 5.42)
    #   = 10 x ln(672.58) / ln(130.18) = 10 x 6.511121 / 4.868918 = 13.37283
    u2 = xr.DataArray(10.0)
    assert drift.wind_speed_10m(u2, 2.0).item() == pytest.approx(13.37283, abs=1e-4)
    assert drift.wind_speed_10m(u2, 10.0).item() == 10.0
    # DP of 2 m winds equals DP of the same winds converted to 10 m by hand
    s2 = series([8.0, 9.0, 12.0], freq="h")
    d = series([0.0, 45.0, 90.0], freq="h")
    a = drift.drift_potential(s2, d, height=2.0)
    b = drift.drift_potential(s2 * 6.511121 / 4.868918, d)
    assert a.dp.item() == pytest.approx(b.dp.item(), rel=1e-6) and a.dp.item() > drift.drift_potential(s2, d).dp.item()
    assert "measured at 2 m" in a.dp.attrs["parameters"]


# ---- RWEQ: cover units, COG forms, terrain roughness ----


def test_cover_units_are_declared():
    # a fraction without units used to be read as %: cover 0.3 gave COG 0.987; now it is refused
    with pytest.raises(InputError, match="units"):
        rweq.vegetation_factor(xr.DataArray(0.3))
    with pytest.raises(InputError, match="units"):
        rweq.vegetation_factor(xr.DataArray(30.0, attrs={"units": "m2"}))
    frac = rweq.vegetation_factor(xr.DataArray(0.3, attrs={"units": "1"}))
    assert frac.item() == pytest.approx(math.exp(-0.0438 * 30.0))  # 0.268783
    assert rweq.vegetation_factor(pct(30.0)).item() == pytest.approx(frac.item())
    with pytest.raises(InputError, match="cover"):
        rweq.vegetation_factor(xr.DataArray(30.0, attrs={"units": "1"}))  # 30 as a fraction
    assert "cover units 1" in frac.attrs["parameters"]


def test_canopy_cog_and_per_class_coefficients():
    # canopy: COG = exp(-5.614 cc^0.7366); cc = 0.3: 0.3^0.7366 = exp(0.7366 ln 0.3) = exp(-0.886846) = 0.411953;
    # 5.614 x 0.411953 = 2.312703; exp(-2.312703) = 0.098993
    cog = rweq.vegetation_factor(pct(30.0), form="canopy")
    assert cog.item() == pytest.approx(0.098993, abs=1e-6)
    assert rweq.vegetation_factor(pct(0.0), form="canopy").item() == 1.0
    with pytest.raises(InputError, match="form"):
        rweq.vegetation_factor(pct(30.0), form="shrub")
    # a coefficient per vegetation type: class 1 -> 0.1, class 2 -> 0.05 (a study's own values), class 9 none
    coef = rweq.coefficient_by_class(xr.DataArray([1, 2, 9], dims="cell"), {1: 0.1, 2: 0.05})
    out = rweq.vegetation_factor(xr.DataArray([20.0, 20.0, 20.0], dims="cell", attrs={"units": "%"}), coefficient=coef)
    np.testing.assert_allclose(out.values[:2], [math.exp(-2.0), math.exp(-1.0)])
    assert np.isnan(out.values[2])


def test_terrain_roughness_hand():
    # dH = 1 m over L = 10 m: Kr = 0.2 x 100^2 / 1000 = 2 cm
    kr = rweq.terrain_ridge_roughness(1.0, 10.0)
    assert kr.item() == pytest.approx(2.0) and kr.attrs["units"] == "cm"
    # K' = exp(1.86 x 2 - 2.41 x 2^0.934) = exp(3.72 - 2.41 x 1.910552) = exp(-0.884430) = 0.412938
    assert rweq.roughness_factor(kr).item() == pytest.approx(0.412938, abs=1e-5)
    with pytest.raises(InputError, match="distance"):
        rweq.terrain_ridge_roughness(1.0, 0.0)


def _ridge_dem(height_m):
    """5 x 5 flat DEM (0 m) with one ridge of ``height_m`` along the middle column."""
    z = np.zeros((5, 5))
    z[:, 2] = height_m
    return xr.DataArray(z, dims=("y", "x"), coords={"y": np.arange(5.0), "x": np.arange(5.0)})


def test_terrain_k_from_a_ridge_hand():
    # ridge 1 m high, cells 10 m: a 3 x 3 window touching the ridge (columns 1-3) has dH = 1 m, the outer
    # columns dH = 0; L = 2 cells = 20 m, so Kr = 0.2 x 100^2 / 2000 = 1 cm and K' = exp(1.86 - 2.41) = exp(-0.55)
    out = rweq.terrain_roughness_factor(_ridge_dem(1.0), 10.0)
    np.testing.assert_allclose(out["kr"].values[:, 1:4], 1.0, rtol=1e-12)
    np.testing.assert_allclose(out["kr"].values[:, [0, 4]], 0.0)
    np.testing.assert_allclose(out["k_roughness"].values[:, 1:4], math.exp(-0.55), rtol=1e-12)
    np.testing.assert_allclose(out["k_roughness"].values[:, [0, 4]], 1.0)
    assert (out["k_capped"].values == rweq.K_WITHIN_FIT).all()
    assert out["kr"].attrs["units"] == "cm" and out["k_roughness"].attrs["units"] == "1"
    # a 5 x 5 window sees the ridge from every column, over L = 4 cells = 40 m: Kr = 0.2 x 100^2 / 4000 = 0.5 cm
    five = rweq.terrain_roughness_factor(_ridge_dem(1.0), 10.0, window=5)
    np.testing.assert_allclose(five["kr"].values, 0.5, rtol=1e-12)
    with pytest.raises(InputError, match="odd"):
        rweq.terrain_roughness_factor(_ridge_dem(1.0), 10.0, window=4)


def test_terrain_k_domain_policy():
    upper = rweq.roughness_factor_upper_kr()
    # K' = exp(1.86 Kr - 2.41 Kr^0.934) returns to 1 at Kr = (2.41 / 1.86)^(1 / 0.066) = 50.653 cm
    assert upper == pytest.approx((2.41 / 1.86) ** (1 / 0.066)) and upper == pytest.approx(50.653, abs=1e-3)
    assert rweq.roughness_factor(upper).item() == pytest.approx(1.0, abs=1e-12)
    assert rweq.roughness_factor(1.01 * upper).item() > 1.0 > rweq.roughness_factor(0.99 * upper).item()
    # ridge 10 m over L = 20 m: Kr = 0.2 x 1000^2 / 2000 = 100 cm, where the fit gives K' = exp(186 - 2.41 x
    # 100^0.934) > 1: capped at 1 and flagged; the outer columns (Kr = 0) are not flagged
    out = rweq.terrain_roughness_factor(_ridge_dem(10.0), 10.0)
    np.testing.assert_allclose(out["kr"].values[:, 1:4], 100.0, rtol=1e-12)
    assert rweq.roughness_factor(100.0).item() > 1.0
    np.testing.assert_allclose(out["k_roughness"].values, 1.0)
    assert (out["k_capped"].values[:, 1:4] == rweq.K_CAPPED).all()
    assert (out["k_capped"].values[:, [0, 4]] == rweq.K_WITHIN_FIT).all()
    # ridge 7 m: Kr = 0.2 x 700^2 / 2000 = 49 cm, just inside the fit: K' from the form, below 1, not flagged
    inside = rweq.terrain_roughness_factor(_ridge_dem(7.0), 10.0)
    np.testing.assert_allclose(inside["kr"].values[:, 2], 49.0, rtol=1e-12)
    np.testing.assert_allclose(inside["k_roughness"].values[:, 2], math.exp(1.86 * 49 - 2.41 * 49**0.934), rtol=1e-9)
    assert (inside["k_roughness"].values < 1.0).any() and (inside["k_capped"].values == rweq.K_WITHIN_FIT).all()
    # a missing elevation stays missing (K' NaN, flag no data); its neighbours use the cells they have
    dem = _ridge_dem(1.0)
    dem[0, 0] = np.nan
    gap = rweq.terrain_roughness_factor(dem, 10.0)
    assert np.isnan(gap["k_roughness"].values[0, 0]) and gap["k_capped"].values[0, 0] == CLASS_NODATA
    assert gap["kr"].values[1, 1] == pytest.approx(1.0)


@given(st.lists(st.floats(0.0, 2000.0), min_size=16, max_size=16), st.floats(1.0, 5000.0))
@settings(max_examples=40, deadline=None)
def test_terrain_k_never_above_one(heights, cell):
    dem = xr.DataArray(np.array(heights).reshape(4, 4), dims=("y", "x"))
    out = rweq.terrain_roughness_factor(dem, cell)
    assert (out["k_roughness"].values <= 1.0).all() and (out["k_roughness"].values > 0).all()
    capped = out["kr"].values > rweq.roughness_factor_upper_kr()
    assert ((out["k_capped"].values == rweq.K_CAPPED) == capped).all()


def test_no_transcription_errors_offered_as_alternatives():
    assert not hasattr(rweq, "COG_COEFFICIENT_ALT") and not hasattr(rweq, "S_COEFFICIENT_ALT")
    assert (rweq.COG_COEFFICIENT, rweq.S_COEFFICIENT, rweq.QMAX_COEFFICIENT) == (0.0438, 150.71, 109.8)


# ---- RWEQ per half-month ----


def test_half_month_periods():
    t = pd.to_datetime(["2023-01-15 21:00", "2023-01-16 00:00", "2023-02-20 00:00", "2024-02-29 00:00", "2023-12-31 00:00"])
    start, days = rweq.period_starts(t)
    assert [f"{s:%m-%d}" for s in start] == ["01-01", "01-16", "02-16", "02-16", "12-16"]
    np.testing.assert_array_equal(days, [15, 16, 13, 14, 16])  # Jan 31, Feb 2023 28, Feb 2024 29, Dec 31
    mstart, mdays = rweq.period_starts(t, "month")
    assert [f"{s:%m-%d}" for s in mstart] == ["01-01", "01-01", "02-01", "02-01", "12-01"]
    np.testing.assert_array_equal(mdays, [31, 31, 28, 29, 31])
    with pytest.raises(InputError, match="period"):
        rweq.period_starts(t, "week")


def test_wind_factor_by_period_hand():
    # January 2023, daily: days 1-15 at 6 m/s, days 16-31 at 8 m/s (U1 = 5):
    # first half 6 x 1^2 x 15 = 90; second half 8 x 3^2 x 16 = 1152; the month 90 + 1152 = 1242
    u = series(np.r_[np.full(15, 6.0), np.full(16, 8.0)], start="2023-01-01")
    wf = rweq.wind_factor_by_period(u)
    np.testing.assert_allclose(wf.values, [90.0, 1152.0])
    np.testing.assert_array_equal(wf["period_days"].values, [15, 16])
    np.testing.assert_allclose(wf["coverage"].values, [1.0, 1.0])
    assert rweq.wind_factor_by_period(u, period="month").values == pytest.approx([1242.0])
    # 3-hourly winds give the same numbers: 8 observations a day, Nd / N = 1 / 8
    u3 = series(np.repeat(u.values, 8), start="2023-01-01", freq="3h")
    np.testing.assert_allclose(rweq.wind_factor_by_period(u3).values, [90.0, 1152.0])


def _year_of_winds(scale=1.0, seed=5):
    """One synthetic year of 3-hourly winds (Weibull k = 2, windy spring), m/s at 10 m (synthetic)."""
    rng = np.random.default_rng(seed)
    t = pd.date_range("2023-01-01", "2023-12-31 21:00", freq="3h")
    spring = np.isin(t.month, (4, 5))
    u = rng.weibull(2.0, t.size) * np.where(spring, 7.0, 4.5) * scale
    return xr.DataArray(u, dims="time", coords={"time": t})


def test_annual_loss_is_the_sum_of_half_month_losses():
    wf = rweq.weather_factor(rweq.wind_factor_by_period(_year_of_winds(), height=10.0), 1.2)
    assert wf.sizes["period"] == 24
    sf = rweq.sand_fixation(wf, 0.6, 0.9, 1.0, pct(15.0))
    for v in ("potential_loss", "actual_loss", "sand_fixation"):
        annual = rweq.annual_sum(sf[v])
        assert annual.item() == pytest.approx(float(sf[v].sum("period")), rel=1e-12)
        assert "sum of 24 periods" in annual.attrs["parameters"]
    # an annual WF from the same winds gives another bare-soil loss (the form is not linear in WF)
    wf_year = rweq.weather_factor(rweq.wind_factor(_year_of_winds(), height=10.0, period_days=365.0), 1.2)
    annual_wf_loss = rweq.rweq_soil_loss(wf_year, 0.6, 0.9, 1.0, 1.0).soil_loss.item()
    summed = rweq.annual_sum(sf.potential_loss).item()
    assert abs(annual_wf_loss - summed) > 0.5 * summed


def test_annual_sum_needs_complete_years():
    starts = pd.date_range("2022-07-01", periods=36, freq="SMS")  # half-months from July 2022 to Dec 2023
    per = xr.DataArray(np.ones(36), dims="period", coords={"period": starts})
    out = rweq.annual_sum(per)
    assert out.item() == 24.0 and "2022" in out.attrs["parameters"]  # 2022 has 12 periods only: left out
    with pytest.raises(InputError, match="complete year"):
        rweq.annual_sum(per.isel(period=slice(0, 12)))


def test_bare_soil_loss_grows_with_wind():
    """Half-month sums: bare-soil loss rises with a wind scaling; an annual WF turns it DOWN on windy sites."""
    factors = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)

    def bare(scale, loss, by_period=True):
        u = _year_of_winds(scale)
        if by_period:
            wf = rweq.weather_factor(rweq.wind_factor_by_period(u, height=10.0), 1.2)
            return rweq.annual_sum(rweq.rweq_soil_loss(wf, 0.67, 0.94, 1.0, 1.0, loss=loss).soil_loss).item()
        wf = rweq.weather_factor(rweq.wind_factor(u, height=10.0, period_days=365.0), 1.2)
        return rweq.rweq_soil_loss(wf, 0.67, 0.94, 1.0, 1.0, loss=loss).soil_loss.item()

    for loss in ("point", "field_mean"):
        values = [bare(f, loss) for f in factors]
        assert all(b > a for a, b in zip(values, values[1:])), (loss, values)
    annual_wf = [bare(f, "point", by_period=False) for f in factors]
    assert not all(b > a for a, b in zip(annual_wf, annual_wf[1:]))  # the bug of an annual WF, reproduced


# ---- negative sand-fixation service ----


def test_negative_service_policy_hand():
    # x0 = 100 kg/m is past the point form's peak (61.7): the service is negative below 23.5 % flat cover
    # (x0 COG = 100 exp(-0.0438 x 23.5) = 35.7, where SL(35.7) = SL(100)) and positive above it
    sf = rweq.sand_fixation(xr.DataArray(100.0), 1.0, 1.0, 1.0, pct([0.0, 10.0, 23.0, 24.0, 60.0]))
    flag = sf.negative_service.values
    np.testing.assert_array_equal(flag, [0, 1, 1, 0, 0])  # no cover: no service, not negative
    assert sf.sand_fixation.values[1] < 0 and sf.sand_fixation.values[3] > 0
    assert sf.negative_service.attrs["legend"] == rweq.NEGATIVE_SERVICE_LEGEND.name
    # x0 = 400 (past about 319): negative at every cover
    every = rweq.sand_fixation(xr.DataArray(400.0), 1.0, 1.0, 1.0, pct([5.0, 50.0, 100.0]))
    assert (every.negative_service.values == 1).all()
    # the field-mean form (the option) is never negative
    fm = rweq.sand_fixation(xr.DataArray(400.0), 1.0, 1.0, 1.0, pct([5.0, 50.0, 100.0]), loss="field_mean")
    assert (fm.negative_service.values == 0).all()
    assert int(rweq.negative_service_flag(xr.DataArray(np.nan))) == CLASS_NODATA


# ---- the sand stage on the local demo (small) ----


@pytest.fixture(scope="module")
def local_sand(tmp_path_factory):
    from dldd.demo.scenes import write_scene
    from dldd.pipeline import run_assessment
    from dldd.spec import load_spec

    folder = tmp_path_factory.mktemp("local_sand")
    spec = write_scene("local", folder, res=0.05, climate_res=0.1)
    run_assessment(load_spec(spec), folder, only=["sand"])
    return folder


def test_local_demo_annual_loss_is_sum_of_half_months(local_sand):
    annual = pd.read_csv(local_sand / "tables" / "sand_fixation.csv")
    periods = pd.read_csv(local_sand / "tables" / "sand_fixation_by_period.csv")
    assert periods["period"].nunique() == 24 and set(periods["period_days"]) <= {13, 14, 15, 16}
    assert (annual["n_periods"] == 24).all() and (annual["rweq_period"] == "half_month").all()
    summed = periods.groupby("region")[["mean_potential_loss", "mean_actual_loss", "mean_sand_fixation"]].sum()
    for _, row in annual.iterrows():
        for v in ("potential_loss", "actual_loss", "sand_fixation"):
            assert row[f"mean_{v}"] == pytest.approx(summed.loc[row["region"], f"mean_{v}"], rel=1e-9)
        assert 0.0 <= row["negative_service_share_pct"] <= 100.0
        assert row["negative_service_area_km2"] == pytest.approx(
            row["negative_service_share_pct"] / 100 * row["area_with_data_km2"])


def test_local_demo_drift_outputs(local_sand):
    r = pd.read_csv(local_sand / "tables" / "sand_drift_resultant.csv").iloc[0]
    sectors = pd.read_csv(local_sand / "tables" / "sand_drift_by_direction.csv")
    assert r["dp_vu"] == pytest.approx(sectors["dp_vu"].sum())
    # winds mostly from the north-east (60 degrees): sand drifts to the south-west
    assert 180.0 < r["rdd_deg"] < 270.0
    assert r["wind_step_hours"] == 3 and not r["coarse_winds"]
    ratio_class = int(drift.directionality_class(xr.DataArray(r["rdp_dp"])))
    assert r["rdp_dp_class"] == drift.DIRECTIONALITY_LEGEND.label(ratio_class)
    maps = {p.stem for p in (local_sand / "maps").glob("*.tif")}
    assert {"sand_fixation", "sand_fixation_negative", "sand_rdp_dp_class"} <= maps


# ---- K' from terrain in the sand stage (local demo inputs plus a synthetic DEM) ----


@pytest.fixture(scope="module")
def terrain_runs(tmp_path_factory):
    """The sand stage (field-mean loss, monotone in K') without and with a SYNTHETIC DEM given in km."""
    import rioxarray  # noqa: F401
    import yaml

    from dldd.demo.scenes import write_scene
    from dldd.pipeline import run_assessment
    from dldd.spec import load_spec

    folder = tmp_path_factory.mktemp("terrain_sand")
    spec_path = write_scene("local", folder / "scene", res=0.05, climate_res=0.1)
    doc = yaml.safe_load(spec_path.read_text())
    doc["indicators"]["sand"]["rweq_loss"] = "field_mean"
    grid = xr.open_dataarray(spec_path.parent / doc["inputs"]["sand"]["path"], engine="rasterio").squeeze("band", drop=True)
    # synthetic terrain: north-south ridges 60 m high every other column on the west half (Kr about 7 cm
    # for 0.05-degree cells, K' well below 1), ridges 600 m high on the east half (Kr far past the fit, capped)
    nx = grid.sizes["x"]
    z = np.zeros(grid.shape)
    z[:, 0:nx // 2:2] = 60.0
    z[:, nx // 2::2] = 600.0
    dem = grid.copy(data=z / 1000.0).astype("float32")  # in km, declared in the spec
    dem.attrs = {}
    dem.rio.to_raster(spec_path.parent / "inputs" / "elevation_synthetic.tif")
    runs = {}
    for case in ("without", "with"):
        if case == "with":
            doc["inputs"]["elevation"] = {"path": "inputs/elevation_synthetic.tif", "units": "km"}
        case_spec = spec_path.parent / f"spec_{case}.yaml"
        case_spec.write_text(yaml.safe_dump(doc, sort_keys=False))
        run_assessment(load_spec(case_spec), folder / case, only=["sand"])
        runs[case] = folder / case
    return runs, dem * 1000.0


def test_stage_k_from_terrain(terrain_runs):
    runs, dem_m = terrain_runs
    without = pd.read_csv(runs["without"] / "tables" / "sand_fixation.csv").set_index("region")
    with_dem = pd.read_csv(runs["with"] / "tables" / "sand_fixation.csv").set_index("region")
    # without the input nothing about K' is added
    assert not any(c.startswith("k_") or c == "mean_k_roughness" for c in without.columns)
    assert not (runs["without"] / "maps" / "sand_k_roughness.tif").exists()
    k = xr.open_dataarray(runs["with"] / "maps" / "sand_k_roughness.tif", engine="rasterio").squeeze(drop=True)
    capped = xr.open_dataarray(runs["with"] / "maps" / "sand_k_roughness_capped.tif", engine="rasterio").squeeze(drop=True)
    kv, cv = k.values, capped.values
    assert np.nanmax(kv) <= 1.0 and np.nanmin(kv) < 0.5
    # the 600 m ridges (east half) are capped, the 60 m ridges (west half) are not: the km were converted to m
    # (read as m, 0.6 - 0 over two cells would give Kr far below 1 cm and no cap at all)
    nx = kv.shape[1]
    assert (cv[:, nx // 2 + 1:-1] == rweq.K_CAPPED).all() and (cv[:, 1:nx // 2 - 1] == rweq.K_WITHIN_FIT).all()
    np.testing.assert_allclose(kv[:, nx // 2 + 1:-1], 1.0)
    # west half by hand: dH = 60 m in every 3 x 3 window, L = 2 sqrt(cell area), K' = fitted form of Kr
    # (cell area on the authalic sphere, R = 6371.007 km; dldd's geodesic areas differ by well under 1 %)
    dlon, dlat = np.deg2rad(abs(float(k.x[1] - k.x[0]))), np.deg2rad(abs(float(k.y[1] - k.y[0])))
    lat = np.deg2rad(k.y.values)
    area_m2 = 6371007.0**2 * dlon * np.abs(np.sin(lat + dlat / 2) - np.sin(lat - dlat / 2))
    kr = 0.2 * (60.0 * 100) ** 2 / (2 * np.sqrt(area_m2) * 100)  # cm
    assert 5.0 < kr.min() and kr.max() < 10.0
    expected = np.exp(1.86 * kr - 2.41 * kr**0.934)
    np.testing.assert_allclose(kv[:, 1:nx // 2 - 1], np.broadcast_to(expected[:, None], kv[:, 1:nx // 2 - 1].shape),
                               rtol=2e-2)
    n_capped = int((cv == rweq.K_CAPPED).sum())
    assert (with_dem["k_capped_cells"] == n_capped).all() and n_capped > 0
    assert ((with_dem["k_capped_share_pct"] > 0) & (with_dem["k_capped_share_pct"] < 100)).all()
    assert with_dem["k_capped_area_km2"].values == pytest.approx(
        (with_dem["k_capped_share_pct"] / 100 * with_dem["area_with_data_km2"]).values)
    assert (with_dem["mean_k_roughness"] < 1.0).all()
    # the field-mean loss is monotone in x = WF EF SCF K' COG: lower with K' < 1 on part of the area
    for v in ("mean_potential_loss", "mean_actual_loss"):
        assert (with_dem[v] < without.loc[with_dem.index, v]).all()
    summary = pd.read_json(runs["with"] / "summary.json", typ="series")
    assert summary["sand"]["k_roughness"] == "terrain"
