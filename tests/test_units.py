"""Units declared at the indicator boundary (dldd.core.units): conversions checked against the SI
definitions (1 kg m-2 of water = 1 mm, 1 knot = 1852 m / 3600 s, 0 degC = 273.15 K), refusals that name
the input, and a whole run on inputs in kg m-2 s-1, K and knots giving the tables of mm, degC and m/s."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

from dldd.core import units as un
from dldd.errors import InputError
from dldd.indicators import aridity as ar
from dldd.indicators import pet as pe
from dldd.indicators import drought as dr
from dldd.sources.checks import check_input

KNOT_M_S = 1852.0 / 3600.0  # the international knot, by definition


def monthly(values, units, start="1991-01-01", name="pr"):
    values = np.asarray(values, dtype=np.float64)
    t = pd.date_range(start, periods=values.shape[0], freq="MS")
    dims = ("time",) + tuple(f"d{i}" for i in range(values.ndim - 1))
    attrs = {} if units is None else {"units": units}
    return xr.DataArray(values, dims=dims, coords={"time": t}, name=name, attrs=attrs)


def rng_monthly(n=240, seed=0):
    return np.random.default_rng(seed).gamma(1.5, 30.0, (n, 3))


# --------------------------------------------------------------------------------------------------
# conversions
# --------------------------------------------------------------------------------------------------


def test_convert_temperature_speed_and_mass_per_area():
    t = monthly([[273.15, 300.0]], "K", name="tmin")
    np.testing.assert_allclose(un.convert(t, "degC").values, [[0.0, 26.85]], atol=1e-12)
    assert un.convert(t, "degC").attrs["units"] == "degC"
    w = xr.DataArray([10.0], attrs={"units": "knots"}, name="wind_speed")
    np.testing.assert_allclose(un.convert(w, "m s-1").values, [10 * KNOT_M_S], rtol=1e-15)
    soc = xr.DataArray([30.0], attrs={"units": "kg m-2"}, name="soc")
    np.testing.assert_allclose(un.convert(soc, "t ha-1").values, [300.0], rtol=1e-15)  # 1 kg m-2 = 10 t/ha
    same = xr.DataArray([30.0], attrs={"units": "t/ha"})
    assert un.convert(same, "t ha-1") is same  # two spellings of one unit: untouched
    no_units = xr.DataArray([5.0])
    assert un.convert(no_units, "degC") is no_units  # no attribute: the declared units


def test_refusals_name_the_input_its_units_and_the_expected_units():
    with pytest.raises(InputError, match=r"tmax: found units 'mm'.*'degC'"):
        un.convert(xr.DataArray([1.0], attrs={"units": "mm"}, name="tmax"), "degC")
    with pytest.raises(InputError, match=r"wind: units 'furlongs per fortnightish'"):
        un.convert(xr.DataArray([1.0], attrs={"units": "furlongs per fortnightish"}, name="wind"), "m s-1")
    with pytest.raises(InputError, match=r"tmin: found units 'deg C', read as degree"):  # angle x delta, not degC
        un.convert(xr.DataArray([20.0], attrs={"units": "deg C"}, name="tmin"), "degC")
    with pytest.raises(InputError, match=r"pr: found units 'K'.*water amount"):
        un.to_amount(monthly([1.0, 2.0], "K"), "mm")


def test_flux_and_rates_become_amounts_per_step():
    days = np.array([31, 28, 31, 30], dtype=float)
    mm = np.array([10.0, 20.0, 0.0, 5.5])
    flux = monthly(mm / (days * 86400.0), "kg m-2 s-1", start="2001-01-01")
    got = un.to_amount(flux, "mm")
    np.testing.assert_allclose(got.values, mm, rtol=1e-14)
    assert got.attrs["units"] == "mm" and got.attrs["cell_methods"] == "time: sum"
    named = un.to_amount(flux.rename("precipitation").assign_attrs(standard_name="precipitation_flux"), "mm")
    assert named.attrs["standard_name"] == "lwe_thickness_of_precipitation_amount"  # a flux became an amount
    with pytest.raises(InputError, match="do not convert"):
        un.convert(xr.DataArray([1.0], attrs={"units": "delta_degC"}, name="tmin"), "degC")
    rate = monthly(mm / days, "mm d-1", start="2001-01-01")
    np.testing.assert_allclose(un.to_amount(rate, "mm").values, mm, rtol=1e-15)
    per_month = monthly(mm, "mm/month", start="2001-01-01")
    assert un.to_amount(per_month, "mm") is per_month  # a rate per the step itself is the step's amount
    annual = xr.DataArray([400.0, 500.0], dims="time", coords={"time": pd.to_datetime(["2000-01-01", "2001-01-01"])},
                          attrs={"units": "mm d-1"})
    np.testing.assert_allclose(un.to_amount(annual, "mm").values, [400 * 366, 500 * 365])
    metres = un.to_amount(monthly(mm, "kg m-2"), "m")
    np.testing.assert_allclose(metres.values, mm / 1000, rtol=1e-15)
    with pytest.raises(InputError, match="declared as amounts per month"):
        un.to_amount(annual, "mm", "pr", step="month")


def test_declare_units_converts_only_dataarrays_and_checks_its_declarations():
    @un.declare_units(t="degC")
    def identity(t, other=None):
        return t

    assert identity.declared_units == {"t": "degC"}
    assert identity(300.0) == 300.0  # numbers are taken in the declared units
    np.testing.assert_allclose(identity(xr.DataArray([300.0], attrs={"units": "K"})).values, [26.85])
    with pytest.raises(TypeError, match="no argument"):
        un.declare_units(x="degC")(lambda t: t)


# --------------------------------------------------------------------------------------------------
# indicators
# --------------------------------------------------------------------------------------------------


def test_spei_converts_pet_in_mm_per_day_against_precipitation_in_mm_per_month():
    pr = monthly(rng_monthly(), "mm/month")
    pet_day = monthly(np.random.default_rng(1).gamma(4.0, 1.0, (240, 3)), "mm d-1", name="pet")
    pet_month = (pet_day * pet_day.time.dt.days_in_month).assign_attrs(units="mm/month")
    by_day = dr.spei(pr, pet_day, scale=3).values
    np.testing.assert_array_equal(by_day, dr.spei(pr, pet_month, scale=3).values)
    # the bug of issue 18: PET per day read as per month gives another index
    assert np.nanmax(np.abs(by_day - dr.spei(pr, pet_day.assign_attrs(units="mm/month"), scale=3).values)) > 0.1
    with pytest.raises(InputError, match="pet: found units 'K'"):
        dr.spei(pr, pet_day.assign_attrs(units="K"))


def test_spi_of_a_flux_equals_spi_of_millimetres():
    pr = monthly(rng_monthly(), "mm")
    flux = (pr / (pr.time.dt.days_in_month * 86400.0)).assign_attrs(units="kg m-2 s-1")
    np.testing.assert_allclose(dr.spi(flux, scale=6).values, dr.spi(pr, scale=6).values, rtol=0, atol=1e-11)
    with pytest.raises(InputError, match="pr: found units 'degC'"):
        dr.spi(pr.assign_attrs(units="degC"))


def test_pet_takes_kelvin_and_aridity_takes_fluxes():
    tmin = monthly(np.full((24, 2), 12.0), "degC", name="tmin")
    tmax = monthly(np.full((24, 2), 28.0), "degC", name="tmax")
    lat = 35.0
    ref = pe.pet_hargreaves(tmin, tmax, lat, tmin.time, monthly=True)
    got = pe.pet_hargreaves((tmin + 273.15).assign_attrs(units="K"), (tmax + 273.15).assign_attrs(units="K"),
                            lat, tmin.time, monthly=True)
    np.testing.assert_allclose(got.values, ref.values, rtol=1e-12)
    pr = monthly(rng_monthly(24), "mm")
    flux = (pr / (pr.time.dt.days_in_month * 86400.0)).assign_attrs(units="kg m-2 s-1")
    np.testing.assert_allclose(ar.aridity_index(flux, ref.isel(d0=[0, 1, 1])).values,
                               ar.aridity_index(pr, ref.isel(d0=[0, 1, 1])).values, rtol=1e-12)


def test_inputs_are_converted_to_the_engine_units_at_reading():
    t = monthly(np.full((12, 2), 290.0), "K", name="tmin")
    np.testing.assert_allclose(check_input(t, "tmin", "t.nc").values, 16.85)
    with pytest.raises(InputError, match=r"input 'tmax' \(t.nc\): tmax: found units 'mm'"):
        check_input(t.rename("tmax").assign_attrs(units="mm"), "tmax", "t.nc")
    demo = monthly(np.full((12, 2), 30.0), "mm/month", name="precipitation")
    assert check_input(demo, "precipitation", "p.nc").attrs["units"] == "mm/month"  # untouched


# --------------------------------------------------------------------------------------------------
# a whole run
# --------------------------------------------------------------------------------------------------

RUN_INDICATORS = {"aridity": {}, "drought": {}, "sand": {}}


def _rewrite(path: Path, var: str, func, units: str) -> None:
    with xr.open_dataset(path) as ds:
        ds = ds.load()
    ds[var] = func(ds[var].astype(np.float64)).assign_attrs({**ds[var].attrs, "units": units})
    ds.to_netcdf(path)


def test_a_run_on_kg_m2_s_kelvin_and_knots_gives_the_tables_of_mm_degc_and_m_s(tmp_path):
    from dldd.demo.scenes import write_scene
    from dldd.pipeline import run_assessment
    from dldd.spec import load_spec

    folders = {}
    for kind in ("reference", "converted"):
        folder = tmp_path / kind
        spec_path = write_scene("local", folder, res=0.1, climate_res=0.25, indicators=RUN_INDICATORS)
        spec = yaml.safe_load(spec_path.read_text())
        spec.pop("interventions")  # too narrow for this coarse grid, and no stage here evaluates them
        if kind == "converted":
            inputs = folder / "inputs"
            seconds = lambda da: da.time.dt.days_in_month * 86400.0  # noqa: E731
            _rewrite(inputs / "precipitation.nc", "precipitation", lambda da: da / seconds(da), "kg m-2 s-1")
            _rewrite(inputs / "tmin.nc", "tmin", lambda da: da + 273.15, "K")
            _rewrite(inputs / "tmax.nc", "tmax", lambda da: da + 273.15, "K")
            _rewrite(inputs / "wind.nc", "wind_speed", lambda da: da / KNOT_M_S, "knots")
            for name, units in (("precipitation", "kg m-2 s-1"), ("tmin", "K"), ("tmax", "K"), ("wind_speed", "knots")):
                spec["inputs"][name]["units"] = units
        spec_path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
        run_assessment(load_spec(spec_path), folder)
        folders[kind] = folder
    tables = sorted(p.name for p in (folders["reference"] / "tables").glob("*.csv"))
    assert {"aridity_zone_areas.csv", "so3_1_hazard_areas.csv", "sand_drift_class_areas.csv"} <= set(tables)
    assert tables == sorted(p.name for p in (folders["converted"] / "tables").glob("*.csv"))
    for name in tables:
        ref = (folders["reference"] / "tables" / name).read_text()
        assert (folders["converted"] / "tables" / name).read_text() == ref, name
