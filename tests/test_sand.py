"""Sand drift potential, RWEQ and the sand rose (dldd.indicators.sand, dldd.report.figures_sand).

References: Fryberger's definition DP = sum U^2 (U - Ut) t (closed forms and hand-computed vector sums),
METHODS section 5 class edges, RWEQ equations evaluated by hand, the standard atmosphere for air density.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dldd.core.legend import CLASS_NODATA
from dldd.errors import InputError
from dldd.indicators import sand

KNOTS_PER_MS = 3600.0 / 1852.0  # definition of the knot: 1852 m per hour


def series(values, start="2020-01-01", freq="D"):
    values = np.asarray(values, dtype=float)
    t = pd.date_range(start, periods=values.shape[0], freq=freq)
    dims = ("time",) + tuple(f"d{i}" for i in range(values.ndim - 1))
    return xr.DataArray(values, dims=dims, coords={"time": t})


def test_knot_constant():
    assert sand.MS_TO_KNOTS == pytest.approx(KNOTS_PER_MS, abs=1e-6)


# ---- drift potential ----


def test_hand_computed_mixed_winds():
    # 20 kn from N, 20 kn from E, 10 kn from S (below 12 kn), calm (direction unknown): N = 4, t = 1/4.
    # q = 20^2 (20 - 12) / 4 = 800 for each of the first two. DP = 1600.
    # drift from N goes S (0, -800), from E goes W (-800, 0): RDP = 800 sqrt 2 = 1131.37, RDD = 225.
    speed = series([20, 20, 10, 0])
    direction = series([0, 90, 180, np.nan])
    for n_dir in (16, None):
        ds = sand.drift_potential(speed, direction, units="knots", n_directions=n_dir)
        assert ds.dp.item() == pytest.approx(1600.0)
        assert ds.rdp.item() == pytest.approx(800 * math.sqrt(2))
        assert ds.rdd.item() == pytest.approx(225.0)
        assert ds.rdp_dp.item() == pytest.approx(1 / math.sqrt(2))
        assert int(ds.n_obs) == 4 and int(ds.dp_class) == sand.ENERGY_HIGH
    # an observation above threshold without a direction is not valid: N = 3, t = 1/3
    ds = sand.drift_potential(series([20, 20, 10]), series([0, np.nan, 180]), units="knots")
    assert ds.dp.item() == pytest.approx(3200 / 2) and int(ds.n_obs) == 2
    by_dir = sand.drift_by_direction(speed, direction, units="knots")
    assert by_dir.sizes["direction"] == 16 and by_dir.sum().item() == pytest.approx(1600.0)
    assert by_dir.sel(direction=0.0).item() == pytest.approx(800) and by_dir.sel(direction=90.0).item() == pytest.approx(800)


def test_balanced_winds_have_no_direction():
    ds = sand.drift_potential(series([20, 20]), series([90, 270]), units="knots")
    assert ds.dp.item() == pytest.approx(3200) and ds.rdp.item() == pytest.approx(0, abs=1e-9)
    assert np.isnan(ds.rdd.item())
    calm = sand.drift_potential(series([3, 5]), series([90, 270]), units="knots")
    assert calm.dp.item() == 0 and np.isnan(calm.rdd.item()) and np.isnan(calm.rdp_dp.item())


def test_sectors_use_centres_binned_vs_exact():
    # one wind from 10 degrees (sector centre 0): binned RDD = 180, exact RDD = 190
    speed, direction = series([25.0]), series([10.0])
    assert sand.drift_potential(speed, direction, units="knots").rdd.item() == pytest.approx(180.0)
    assert sand.drift_potential(speed, direction, units="knots", n_directions=None).rdd.item() == pytest.approx(190.0)
    # a direction half-way between centres (11.25) goes to the clockwise sector (22.5)
    by_dir = sand.drift_by_direction(speed, series([11.25]), units="knots")
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
    ds = sand.drift_potential(series(np.full(n, speed_ms)), series(np.full(n, direction)), threshold_knots=threshold)
    u = speed_ms * sand.MS_TO_KNOTS  # the constant itself is checked against the knot's definition
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
    a = sand.drift_potential(ms, d, units="m/s")
    b = sand.drift_potential(ms * sand.MS_TO_KNOTS, d, units="knots")
    for v in ("dp", "rdp", "rdp_dp", "rdd"):
        np.testing.assert_allclose(a[v].values, b[v].values, rtol=1e-9, atol=1e-9)


OCTANTS = {0: "N", 45: "NE", 90: "E", 135: "SE", 180: "S", 225: "SW", 270: "W", 315: "NW"}


@pytest.mark.parametrize("origin", sorted(OCTANTS))
@pytest.mark.parametrize("n_dir", [16, None])
def test_rdd_quadrant_for_each_octant(origin, n_dir):
    rng = np.random.default_rng(origin)
    direction = (origin + rng.uniform(-10, 10, 50)) % 360  # scatter around the octant
    speed = rng.uniform(8, 15, 50)  # m/s, mostly above 12 kn
    ds = sand.drift_potential(series(speed), series(direction), n_directions=n_dir)
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
    out = sand.dp_energy_class(dp)
    assert out.dtype == np.int8 and out.attrs["_FillValue"] == CLASS_NODATA
    np.testing.assert_array_equal(out.values, [1, 1, 2, 2, 3, 3, CLASS_NODATA])
    assert [sand.DP_ENERGY_LEGEND.label(int(c)) for c in out.values[:-1]] == [
        "low energy", "low energy", "intermediate energy", "intermediate energy", "high energy", "high energy"]


def test_wind_from_uv():
    u = xr.DataArray([1.0, 0.0, -1.0, 0.0, 3.0], dims="obs")
    v = xr.DataArray([0.0, -1.0, -1.0, 0.0, 4.0], dims="obs")
    speed, direction = sand.wind_from_uv(u, v)
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
    full = sand.drift_potential(s, d)
    lazy = sand.drift_potential(s.chunk({"d0": 1}), d.chunk({"d0": 1}))
    assert lazy.dp.chunks is not None
    for v in ("dp", "rdp", "rdd", "rdp_dp"):
        np.testing.assert_allclose(lazy[v].compute().values, full[v].values, rtol=1e-12)
    one = sand.drift_potential(series(spd[:, 1, 2]), series(dirn[:, 1, 2]))
    assert full.dp.values[1, 2] == pytest.approx(one.dp.item())
    assert full.rdd.values[1, 2] == pytest.approx(one.rdd.item())


def test_bad_inputs():
    with pytest.raises(InputError, match="units"):
        sand.drift_potential(series([1.0]), series([0.0]), units="mph")
    with pytest.raises(InputError, match="direction"):
        sand.drift_potential(series([1.0]), series([400.0]))
    with pytest.raises(InputError, match="'time'"):
        sand.drift_potential(xr.DataArray([1.0], dims="x"), xr.DataArray([1.0], dims="x"))


# ---- RWEQ ----


def test_air_density_standard_atmosphere():
    # sea level, 15 degC: ISA density 1.225 kg m-3; formula 348 x 1.013 / 288.15 = 1.22340
    rho = sand.air_density(xr.DataArray(15.0), 0.0).item()
    assert rho == pytest.approx(1.22340, abs=1e-5) and rho == pytest.approx(1.225, rel=3e-3)
    # 1,375 m (Hotan), 12.5 degC: 348 (1.013 - 0.1183 x 1.375 + 0.0048 x 1.375^2) / 285.65
    #   = 348 x 0.859416 / 285.65 = 1.04700
    assert sand.air_density(xr.DataArray(12.5), 1375.0).item() == pytest.approx(1.04700, abs=1e-5)


def test_wind_factor_hand():
    # daily 4, 6, 8 m/s, U1 = 5: 0 + 6 x 1^2 + 8 x 3^2 = 78, Nd / N = 1
    assert sand.wind_factor(series([4, 6, 8])).item() == pytest.approx(78.0)
    # a missing day: mean over valid days scaled to the 4-day period: 78 x 4 / 3 = 104
    assert sand.wind_factor(series([4, 6, np.nan, 8])).item() == pytest.approx(104.0)
    # 6-hourly observations: Nd / N = 0.25
    assert sand.wind_factor(series([4, 6, 8], freq="6h")).item() == pytest.approx(19.5)
    # two years of daily 6 m/s: 6 x 1 x 730 days for the record, 6 x 365.25 per mean year
    two_years = series(np.full(730, 6.0))
    assert sand.wind_factor(two_years).item() == pytest.approx(6.0 * 730)
    assert sand.wind_factor(two_years, period_days=365.25).item() == pytest.approx(6.0 * 365.25)
    with pytest.raises(InputError, match="days_per_observation"):
        sand.wind_factor(series([4, 6, 8, 9], freq="MS"))
    # 10 m winds are brought to 2 m: u2 = u10 x 4.87 / ln(67.8 x 10 - 5.42) = 0.74801 u10
    u10 = 10.0 / (4.87 / math.log(67.8 * 10 - 5.42))  # gives exactly 10 m/s at 2 m
    assert sand.wind_factor(series([u10]), height=10.0, days_per_observation=1).item() == pytest.approx(10 * 25)


def test_factors_hand():
    # SW = (100 - 20 x 5 / 30) / 100 = 0.966667
    sw = sand.soil_wetness_factor(xr.DataArray(100.0), xr.DataArray(20.0), 5, 30)
    assert sw.item() == pytest.approx(0.9666667, abs=1e-7)
    assert sand.soil_wetness_factor(xr.DataArray(10.0), xr.DataArray(300.0), 30, 30).item() == 0.0  # clipped
    assert sand.snow_cover_factor(0.25).item() == pytest.approx(0.75)
    # WF = 78 x 1.2 / 9.8 x 0.5 x 1 = 4.775510
    wf = sand.weather_factor(xr.DataArray(78.0), 1.2, soil_wetness=0.5)
    assert wf.item() == pytest.approx(4.775510, abs=1e-6)
    # EF = (29.09 + 0.31 x 60 + 0.17 x 30 + 0.33 x 6 - 2.59 x 1 - 0.95 x 2) / 100 = 0.5028
    ef = sand.erodible_fraction(xr.DataArray(60.0), xr.DataArray(30.0), xr.DataArray(10.0), xr.DataArray(1.0), 2.0)
    assert ef.item() == pytest.approx(0.5028, abs=1e-10)
    assert sand.erodible_fraction(xr.DataArray(98.0), xr.DataArray(2.0), xr.DataArray(0.0), xr.DataArray(0.0)).item() == 1.0
    # SCF = 1 / (1 + 0.0066 x 100 + 0.021 x 1) = 1 / 1.681 = 0.594884
    scf = sand.crust_factor(xr.DataArray(10.0), xr.DataArray(1.0))
    assert scf.item() == pytest.approx(0.594884, abs=1e-6)
    assert sand.roughness_factor().item() == 1.0
    # COG = exp(-0.0438 x 50) = exp(-2.19) = 0.111917
    assert sand.vegetation_factor(xr.DataArray(50.0)).item() == pytest.approx(0.111917, abs=1e-6)
    assert sand.vegetation_factor(xr.DataArray(50.0), coefficient=sand.COG_COEFFICIENT_ALT).item() == pytest.approx(
        math.exp(-0.2415))
    with pytest.raises(InputError, match="fraction"):
        sand.vegetation_factor(xr.DataArray(0.5, attrs={"units": "1"}))


def test_soil_loss_hand():
    # x = 10: Qmax = 1098 kg/m; s = 150.71 x 10^-0.3711 = 150.71 x 0.425500 = 64.1272 m;
    # SL = 2 x 50 / 64.1272^2 x 1098 x exp(-(50 / 64.1272)^2) = 26.7003 x exp(-0.607930) = 14.5377 kg m-2
    ds = sand.rweq_soil_loss(xr.DataArray(10.0), 1.0, 1.0, 1.0, 1.0)
    assert ds.qmax.item() == pytest.approx(1098.0)
    assert ds.s.item() == pytest.approx(64.1272, abs=1e-3)
    assert ds.soil_loss.item() == pytest.approx(14.5377, abs=1e-3)
    assert ds.soil_loss.attrs["units"] == "kg m-2"
    # field mean: 1098 x (1 - exp(-0.607930)) / 50 = 1098 x 0.455531 / 50 = 10.0035
    fm = sand.rweq_soil_loss(xr.DataArray(10.0), 1.0, 1.0, 1.0, 1.0, loss="field_mean")
    assert fm.soil_loss.item() == pytest.approx(10.0035, abs=1e-3)
    # alternative constant 105.71 for s: s = 105.71 x 0.425500 = 44.9797
    alt = sand.rweq_soil_loss(xr.DataArray(10.0), 1.0, 1.0, 1.0, 1.0, s_coefficient=sand.S_COEFFICIENT_ALT)
    assert alt.s.item() == pytest.approx(44.9797, abs=1e-3)
    assert sand.rweq_soil_loss(xr.DataArray(0.0), 1.0, 1.0, 1.0, 1.0).soil_loss.item() == 0.0
    assert sand.kg_m2_to_t_ha(ds.soil_loss).item() == pytest.approx(145.377, abs=1e-2)


def test_point_loss_peak():
    x_peak = sand.point_loss_peak_x()
    # s at the peak = 50 sqrt(0.7422 / 1.7422) = 32.635 m -> x = (32.635 / 150.71)^(1 / -0.3711) = 61.73
    assert x_peak == pytest.approx(61.73, abs=0.01)
    loss = sand.rweq_soil_loss(xr.DataArray([0.98 * x_peak, x_peak, 1.02 * x_peak]), 1.0, 1.0, 1.0, 1.0).soil_loss.values
    assert loss[1] > loss[0] and loss[1] > loss[2]


@settings(max_examples=50, deadline=None)
@given(st.floats(0.01, 1.0), st.floats(0.0, 100.0), st.floats(0.0, 100.0))
def test_more_cover_never_raises_point_loss_below_peak(share_of_peak, c1, c2):
    """Point form (METHODS): monotonic while the bare x is below the documented peak."""
    lo, hi = sorted((c1, c2))
    x_bare = share_of_peak * sand.point_loss_peak_x()
    sf = sand.sand_fixation(xr.DataArray(x_bare), 1.0, 1.0, 1.0, xr.DataArray([lo, hi]))
    assert sf.actual_loss.values[1] <= sf.actual_loss.values[0] * (1 + 1e-12)
    assert (sf.sand_fixation.values >= -1e-12).all()
    assert sf.actual_loss.values[0] <= sf.potential_loss.item() * (1 + 1e-12)


@settings(max_examples=50, deadline=None)
@given(st.floats(0.01, 1e4), st.floats(0.0, 100.0), st.floats(0.0, 100.0))
def test_more_cover_never_raises_field_mean_loss(x_bare, c1, c2):
    lo, hi = sorted((c1, c2))
    assume(hi > lo)
    sf = sand.sand_fixation(xr.DataArray(x_bare), 1.0, 1.0, 1.0, xr.DataArray([lo, hi]), loss="field_mean")
    assert sf.actual_loss.values[1] <= sf.actual_loss.values[0] * (1 + 1e-12)
    assert (sf.sand_fixation.values >= -1e-12).all()


def test_point_loss_caveat_above_peak():
    """Documented behaviour of the METHODS point form: past the peak, cover can raise the point loss."""
    x_bare = 5 * sand.point_loss_peak_x()
    sf = sand.sand_fixation(xr.DataArray(x_bare), 1.0, 1.0, 1.0, xr.DataArray(10.0))
    assert sf.sand_fixation.item() < 0


def test_sand_fixation_gridded_pipeline_shape():
    # a (y, x) grid: WF from a daily (time, y, x) wind series (same wind in every cell), soils, cover in %
    rng = np.random.default_rng(3)
    speed = series(np.repeat(np.repeat(rng.gamma(2.0, 2.5, (365, 1, 1)), 2, 1), 3, 2))
    wfac = sand.wind_factor(speed)
    wf = sand.weather_factor(wfac, sand.air_density(xr.DataArray(12.5), 1375.0))
    ef = xr.DataArray(np.full((2, 3), 0.7), dims=("d0", "d1"))
    scf = xr.DataArray(np.full((2, 3), 0.9), dims=("d0", "d1"))
    cover = xr.DataArray([[0.0, 10.0, 30.0], [50.0, 70.0, 90.0]], dims=("d0", "d1"))
    sf = sand.sand_fixation(wf, ef, scf, 1.0, cover, loss="field_mean")
    assert sf.sand_fixation.dims == ("d0", "d1")
    assert sf.sand_fixation.values[0, 0] == 0.0  # no cover, no service
    assert (np.diff(sf.actual_loss.values.ravel()) <= 0).all()  # cover increases along the raveled grid
    for v in sf.data_vars:
        assert {"units", "long_name", "method", "parameters", "references"} <= set(sf[v].attrs)


# ---- sand rose ----


def test_sand_rose_figure(tmp_path):
    from matplotlib.figure import Figure

    from dldd.report.figures_sand import SYNTHETIC_LABEL, sand_rose

    speed = series([20, 20, 10, 0, 15])
    direction = series([0, 90, 180, np.nan, 300])
    out = tmp_path / "rose.png"
    fig = sand_rose(speed, direction, units="knots", title="Hotan (synthetic)", synthetic=True, path=out)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.name == "polar" and len(ax.patches) == 16
    heights = sorted(p.get_height() for p in ax.patches)
    assert heights[-2:] == pytest.approx([3200 / 5, 3200 / 5])  # 20 kn from N and from E, t = 1/5
    texts = [t.get_text() for t in fig.texts]
    assert any(SYNTHETIC_LABEL in t for t in texts)
    assert out.exists() and out.read_bytes()[:4] == b"\x89PNG"
    plain = sand_rose(speed, direction, units="knots")
    assert not any(SYNTHETIC_LABEL in t.get_text() for t in plain.texts)
    with pytest.raises(InputError, match="one site"):
        sand_rose(series(np.ones((3, 2))), series(np.zeros((3, 2))))
