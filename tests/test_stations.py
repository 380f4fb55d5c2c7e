"""Field stations wired to `dldd stations` and the pipeline stage `stations`: the command end to end on a
station CSV and a cube written here (SYNTHETIC data), metrics against numpy, SPI at a station against the
grid's kernel, units declared in the header and converted, bad files refused, and a run with
`inputs.stations` giving the table and the report section."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml
from typer.testing import CliRunner

from dldd.cli import app
from dldd.errors import InputError, SpecError
from dldd.indicators import drought
from dldd.sources import stations as st

MONTHS = pd.date_range("1991-01-01", periods=120, freq="MS")
Y = np.array([37.125, 37.075, 37.025, 36.975])
X = np.array([79.875, 79.925, 79.975, 80.025])
#: Synthetic stations: id -> (lat, lon, row, column of their cell in the cube).
SITES = {"s1": (37.12, 79.88, 0, 0), "s2": (37.03, 80.02, 2, 3), "s3": (36.98, 79.93, 3, 1)}


def synthetic_cube(seed: int = 3) -> dict[str, np.ndarray]:
    """SYNTHETIC monthly precipitation (mm/month) and temperatures (degC) on a 4 x 4 grid of 0.05 deg."""
    rng = np.random.default_rng(seed)
    season = 10.0 * np.sin(2 * np.pi * (MONTHS.month.values - 4) / 12)[:, None, None]
    tmin = season + rng.normal(0.0, 1.5, (120, 4, 4))
    return {"precipitation": rng.gamma(1.5, 12.0, (120, 4, 4)), "tmin": tmin,
            "tmax": tmin + 12.0 + rng.normal(0.0, 1.0, (120, 4, 4))}


def write_cube(path, values: np.ndarray, name: str, units: str) -> None:
    da = xr.DataArray(values, dims=("time", "y", "x"), coords={"time": MONTHS, "y": Y, "x": X}, name=name,
                      attrs={"units": units, "comment": "synthetic test data"})
    da.rio.write_crs("EPSG:4326").to_dataset().to_netcdf(path)


def station_frame(cube: dict, seed: int = 4) -> pd.DataFrame:
    """SYNTHETIC station records: the cell's series with noise (precipitation x 1.1), mm and degC."""
    rng = np.random.default_rng(seed)
    rows = []
    for sid, (lat, lon, i, j) in SITES.items():
        pr = np.clip(1.1 * cube["precipitation"][:, i, j] + rng.normal(0, 3, 120), 0, None)
        tmin = cube["tmin"][:, i, j] + rng.normal(0.5, 0.8, 120)
        tmax = cube["tmax"][:, i, j] + rng.normal(-0.3, 0.8, 120)
        rows.append(pd.DataFrame({"station_id": sid, "name": f"Synthetic {sid}", "lat": lat, "lon": lon,
                                  "date": MONTHS.strftime("%Y-%m"), "pr_mm": pr, "tmin_c": tmin, "tmax_c": tmax}))
    df = pd.concat(rows, ignore_index=True)
    df.loc[5, "pr_mm"] = np.nan  # a missing month at s1
    return df


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stations")
    cube = synthetic_cube()
    write_cube(folder / "pr.nc", cube["precipitation"], "precipitation", "mm/month")
    write_cube(folder / "tmin.nc", cube["tmin"], "tmin", "degC")
    write_cube(folder / "tmax.nc", cube["tmax"] + 273.15, "tmax", "K")  # converted by the reader
    df = station_frame(cube)
    df.to_csv(folder / "stations.csv", index=False)
    return folder, cube, df


def run_cli(*args):
    return CliRunner().invoke(app, ["stations", *map(str, args)])


# --------------------------------------------------------------------------------------------------
# the command
# --------------------------------------------------------------------------------------------------


def test_cli_end_to_end_metrics_equal_numpy(scene, tmp_path):
    folder, cube, df = scene
    out = tmp_path / "out"
    r = run_cli(folder / "stations.csv", "--out", out, "--grid", f"precipitation={folder / 'pr.nc'}",
                "--grid", f"tmin={folder / 'tmin.nc'}", "--grid", f"tmax={folder / 'tmax.nc'}")
    assert r.exit_code == 0, r.output
    comp = pd.read_csv(out / "tables" / "station_comparison.csv", dtype={"station": str})
    ind = pd.read_csv(out / "tables" / "station_indicators.csv", dtype={"station": str})
    assert set(comp.variable) == {"precipitation", "tmin", "tmax", "spi", "pet"}
    assert {"precipitation", "tmin", "tmax", "pet", "spi", "spei"} <= set(ind.columns) and len(ind) == 3 * 120
    assert (out / ".dldd" / "owned").read_text().split() == ["tables/station_comparison.csv", "tables/station_indicators.csv"]
    pooled_o, pooled_g = {}, {}
    for var, col in (("precipitation", "pr_mm"), ("tmin", "tmin_c"), ("tmax", "tmax_c")):
        for sid, (_, _, i, j) in SITES.items():
            o = df.loc[df.station_id == sid, col].to_numpy()
            g = cube[var][:, i, j]
            ok = np.isfinite(o)
            row = comp[(comp.station == sid) & (comp.variable == var)].iloc[0]
            assert row.n == ok.sum()
            np.testing.assert_allclose(row.bias, np.mean(g[ok] - o[ok]), rtol=1e-9)
            np.testing.assert_allclose(row.rmse, np.sqrt(np.mean((g[ok] - o[ok]) ** 2)), rtol=1e-9)
            np.testing.assert_allclose(row.correlation, np.corrcoef(o[ok], g[ok])[0, 1], rtol=1e-9)
            if var == "precipitation":
                np.testing.assert_allclose(row.bias_pct, 100 * np.mean(g[ok] - o[ok]) / np.mean(o[ok]), rtol=1e-9)
            pooled_o.setdefault(var, []).append(o[ok])
            pooled_g.setdefault(var, []).append(g[ok])
        o, g = np.concatenate(pooled_o[var]), np.concatenate(pooled_g[var])
        row = comp[(comp.station == "all") & (comp.variable == var)].iloc[0]
        assert row.n == o.size
        np.testing.assert_allclose([row.bias, row.rmse, row.correlation],
                                   [np.mean(g - o), np.sqrt(np.mean((g - o) ** 2)), np.corrcoef(o, g)[0, 1]], rtol=1e-9)
    # the SPI rows: both SPIs by the grid's kernel, the cell's month without a station value left out
    o = xr.DataArray(df.loc[df.station_id == "s1", "pr_mm"].to_numpy(), dims="time", coords={"time": MONTHS})
    g = xr.DataArray(cube["precipitation"][:, 0, 0], dims="time", coords={"time": MONTHS}).where(o.notnull())
    so, sg = drought.spi(o).values, drought.spi(g).values
    row = comp[(comp.station == "s1") & (comp.variable == "spi")].iloc[0]
    ok = np.isfinite(so) & np.isfinite(sg)
    np.testing.assert_allclose([row.n, row.bias], [ok.sum(), np.mean(sg[ok] - so[ok])], rtol=1e-9)
    cls = lambda v: np.digitize(v, [-2.0, -1.5, -1.0, 0.0])  # noqa: E731 (SO3 classes: extreme .. no drought)
    np.testing.assert_allclose(row.class_agreement_pct, 100 * np.mean(cls(so[ok]) == cls(sg[ok])))
    assert 0 < row.class_agreement_pct < 100  # noisy stations: some months differ
    assert r.stdout.count("table: ") == 2


def test_cli_keeps_foreign_files_and_refuses_bad_grid_options(scene, tmp_path):
    folder, _, _ = scene
    out = tmp_path / "out"
    (out / "tables").mkdir(parents=True)
    (out / "tables" / "station_indicators.csv").write_text("mine\n")
    r = run_cli(folder / "stations.csv", "--out", out)
    assert r.exit_code == 2 and "did not write" in r.output
    assert (out / "tables" / "station_indicators.csv").read_text() == "mine\n"  # untouched
    r = run_cli(folder / "stations.csv", "--out", out, "--force")
    assert r.exit_code == 0 and not (out / "tables" / "station_comparison.csv").exists()  # no grid: no comparison
    r = run_cli(folder / "stations.csv", "--out", tmp_path / "o2", "--grid", f"ndvi={folder / 'pr.nc'}")
    assert r.exit_code == 2 and "VAR=PATH" in r.output
    r = run_cli(folder / "stations.csv", "--out", tmp_path / "o3", "--grid", f"tmean={folder / 'tmin.nc'}")
    assert r.exit_code == 2 and "no such variable" in r.output


def test_station_spi_equals_the_grid_kernel(scene, tmp_path):
    """SPI at a station whose series is a cell's series equals the grid's SPI at that cell."""
    folder, cube, _ = scene
    lat, lon, i, j = SITES["s2"]
    pd.DataFrame({"station_id": "s2", "lat": lat, "lon": lon, "date": MONTHS.strftime("%Y-%m"),
                  "pr[mm/month]": cube["precipitation"][:, i, j]}).to_csv(tmp_path / "one.csv", index=False)
    ds = st.read_stations(tmp_path / "one.csv")
    grid = xr.DataArray(cube["precipitation"], dims=("time", "y", "x"), coords={"time": MONTHS, "y": Y, "x": X},
                        attrs={"units": "mm/month"})
    for scale, method in ((3, "pwm"), (12, "ml")):
        at_station = st.station_indicators(ds, scale=scale, method=method).spi.values[0]
        on_grid = drought.spi(grid, scale=scale, method=method).values[:, i, j]
        np.testing.assert_array_equal(at_station, on_grid)
        assert np.isfinite(at_station[scale:]).all()
    table = st.compare_with_stations({"precipitation": grid.rio.write_crs("EPSG:4326")}, ds, scale=3)
    spi_row = table[(table.station == "s2") & (table.variable == "spi")].iloc[0]
    assert spi_row.n == 118 and spi_row.bias == 0 and spi_row.class_agreement_pct == 100


def test_cli_calibration_and_scale_reach_the_kernel(scene, tmp_path):
    folder, _, df = scene
    r = run_cli(folder / "stations.csv", "--out", tmp_path / "out", "--scale", "3", "--calibration", "1991-1995")
    assert r.exit_code == 0, r.output
    ind = pd.read_csv(tmp_path / "out" / "tables" / "station_indicators.csv", dtype={"station": str})
    pr = xr.DataArray(df.loc[df.station_id == "s2", "pr_mm"].to_numpy(), dims="time", coords={"time": MONTHS})
    expected = drought.spi(pr, scale=3, cal_start=1991, cal_end=1995).values
    np.testing.assert_allclose(ind.loc[ind.station == "s2", "spi"].to_numpy(), expected, rtol=1e-9)
    assert not np.allclose(expected[2:], drought.spi(pr, scale=3).values[2:])  # the calibration does matter
    r = run_cli(folder / "stations.csv", "--out", tmp_path / "o2", "--calibration", "2000-1990")
    assert r.exit_code == 2 and "reversed" in r.output


# --------------------------------------------------------------------------------------------------
# units and bad files
# --------------------------------------------------------------------------------------------------


def test_units_declared_in_the_header_are_converted(tmp_path):
    """Precipitation in inches, in kg m-2 s-1 (a flux: x the seconds of each month) and temperature in K
    give the same station data as mm and degC; daily rows too."""
    months = pd.date_range("2000-01-01", periods=24, freq="MS")
    rng = np.random.default_rng(7)
    pr, tmax = rng.gamma(2.0, 10.0, 24), rng.normal(15.0, 8.0, 24)
    base = {"station_id": "a", "lat": 37.0, "lon": 80.0, "date": months.strftime("%Y-%m")}
    pd.DataFrame({**base, "pr_mm": pr, "tmax_c": tmax}).to_csv(tmp_path / "mm.csv", index=False)
    seconds = months.days_in_month.to_numpy() * 86400.0
    pd.DataFrame({**base, "pr[in]": pr / 25.4, "tmax[K]": tmax + 273.15}).to_csv(tmp_path / "in.csv", index=False)
    pd.DataFrame({**base, "pr [kg m-2 s-1]": pr / seconds, "TMAX[degF]": tmax * 9 / 5 + 32}).to_csv(
        tmp_path / "flux.csv", index=False)
    ref = st.read_stations(tmp_path / "mm.csv")
    assert ref.precipitation.attrs["units"] == "mm/month" and ref.tmax.attrs["units"] == "degC"
    for name in ("in.csv", "flux.csv"):
        ds = st.read_stations(tmp_path / name)
        np.testing.assert_allclose(ds.precipitation.values, ref.precipitation.values, rtol=1e-12)
        np.testing.assert_allclose(ds.tmax.values, ref.tmax.values, rtol=1e-12, atol=1e-10)
    days = pd.date_range("2000-01-01", "2000-02-29", freq="D")
    pd.DataFrame({"station_id": "a", "lat": 37.0, "lon": 80.0, "date": days.strftime("%Y-%m-%d"),
                  "pr[mm d-1]": 2.0}).to_csv(tmp_path / "daily.csv", index=False)
    np.testing.assert_allclose(st.read_stations(tmp_path / "daily.csv").precipitation.values[0], [62.0, 58.0])


def test_gridded_flux_gives_the_same_comparison_as_mm(scene, tmp_path):
    folder, cube, _ = scene
    seconds = (MONTHS.days_in_month.to_numpy() * 86400.0)[:, None, None]
    write_cube(tmp_path / "flux.nc", cube["precipitation"] / seconds, "pr", "kg m-2 s-1")
    tables = {}
    for label, path in (("mm", folder / "pr.nc"), ("flux", tmp_path / "flux.nc")):
        r = run_cli(folder / "stations.csv", "--out", tmp_path / label, "--grid", f"precipitation={path}#pr"
                    if label == "flux" else f"precipitation={path}")
        assert r.exit_code == 0, r.output
        tables[label] = pd.read_csv(tmp_path / label / "tables" / "station_comparison.csv")
    pd.testing.assert_frame_equal(tables["mm"], tables["flux"], rtol=1e-9)


@pytest.mark.parametrize("cells, message", [
    ({"pr_mm": ["1.5", "12,3"]}, r"st\.csv, column 'pr_mm', line 3: '12,3' is not a number; expected a number"),
    ({"pr": ["1.5", "2"]}, r"column 'pr': no units; declare them in the header as pr\[UNITS\]"),
    ({"pr[bananas]": ["1", "2"]}, r"column 'pr\[bananas\]'.*units 'bananas' are not units"),
    ({"pr[degC]": ["1", "2"]}, r"column 'pr\[degC\]'.*expected a water amount"),
    ({"tmax[K]": ["280", "-9999"]}, r"column 'tmax\[K\]': station 'a', 2000-02-01: -9999 K .* outside the range of "
                                    r"air temperature .* must be declared \(missing_value\)"),
    ({"pr_mm": ["1", "2"], "pr[in]": ["1", "2"]}, r"columns 'pr_mm' and 'pr\[in\]' both give precipitation"),
])
def test_bad_station_files_are_refused(tmp_path, cells, message):
    pd.DataFrame({"station_id": "a", "lat": 37.0, "lon": 80.0, "date": ["2000-01", "2000-02"], **cells}).to_csv(
        tmp_path / "st.csv", index=False)
    with pytest.raises(InputError, match=message):
        st.read_stations(tmp_path / "st.csv")


def test_declared_missing_value_is_missing(tmp_path):
    pd.DataFrame({"station_id": "a", "lat": 37.0, "lon": 80.0, "date": ["2000-01", "2000-02", "2000-03"],
                  "pr_mm": [3.0, -99.9, ""], "tmax_c": ["NA", 10.0, 11.0]}).to_csv(tmp_path / "st.csv", index=False)
    r = run_cli(tmp_path / "st.csv", "--out", tmp_path / "out", "--scale", "1")
    assert r.exit_code == 2 and "st.csv, column 'pr_mm'" in r.output and "-99.9 mm" in r.output
    ds = st.read_stations(tmp_path / "st.csv", missing_value=-99.9)
    np.testing.assert_array_equal(np.isnan(ds.precipitation.values[0]), [False, True, True])
    np.testing.assert_array_equal(np.isnan(ds.tmax.values[0]), [True, False, False])


# --------------------------------------------------------------------------------------------------
# the pipeline and the report
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def station_run(tmp_path_factory):
    """The smallest local demo scene (SYNTHETIC) with stations at two climate cells, precipitation in inches
    (x 1.1 of the grid's), and only the stations stage."""
    from dldd.demo.scenes import write_scene
    from dldd.pipeline import run_assessment
    from dldd.spec import load_spec

    folder = tmp_path_factory.mktemp("station_run")
    spec_path = write_scene("local", folder, indicators={"stations": {"scale": 6}}, res=0.1, climate_res=0.5)
    pr = xr.open_dataset(folder / "inputs" / "precipitation.nc")["precipitation"].load()
    frames = []
    for sid, (i, j) in {"A": (0, 0), "B": (1, 2)}.items():
        frames.append(pd.DataFrame({"station_id": sid, "name": f"Synthetic station {sid}", "lat": float(pr.y[i]),
                                    "lon": float(pr.x[j]), "date": pd.DatetimeIndex(pr.time.values).strftime("%Y-%m"),
                                    "pr[in]": pr.values[:, i, j] * 1.1 / 25.4}))
    pd.concat(frames).to_csv(folder / "inputs" / "stations.csv", index=False)
    spec = yaml.safe_load(spec_path.read_text())
    spec["inputs"]["stations"] = {"path": "inputs/stations.csv"}
    spec["interventions"] = []
    spec_path.write_text(yaml.safe_dump(spec, allow_unicode=True))
    run_assessment(load_spec(spec_path), folder)
    return folder, spec_path


def test_pipeline_writes_the_comparison(station_run):
    folder, _ = station_run
    comp = pd.read_csv(folder / "tables" / "station_comparison.csv")
    pooled = comp[comp.station == "all"].set_index("variable")
    assert set(pooled.index) == {"precipitation", "spi"}
    np.testing.assert_allclose(pooled.loc["precipitation", "bias_pct"], 100 * (1 / 1.1 - 1), rtol=1e-5)
    np.testing.assert_allclose(pooled.loc["precipitation", "correlation"], 1.0, rtol=1e-9)
    # SPI is scale-free: x 1.1 at the station changes nothing (float32 grid: to about 1e-6)
    assert pooled.loc["spi", "class_agreement_pct"] == 100 and abs(pooled.loc["spi", "bias"]) < 1e-5
    assert (comp["data"] == "synthetic demonstration data").all()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["stages"] == ["stations"] and manifest["inputs"]["stations"][0]["sha256"]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["stations"]["stations"] == 2 and summary["stations"]["scale"] == 6


def test_report_shows_station_validation_in_both_languages(station_run):
    from dldd.report import build_report

    folder, _ = station_run
    for lang, title in (("en", "Station validation of the gridded inputs"), ("zh", "格点输入数据的站点验证")):
        html = build_report(folder, lang, out_dir=None if lang == "en" else folder / f"report-{lang}", pdf=False,
                            progress=lambda msg: None).read_text(encoding="utf-8")
        section = html[html.index('id="stations"'):html.index('id="methods"')]
        assert title in section and section.count("<tr>") == 3  # header, precipitation, SPI
        assert section.count("<li>") == 2  # one sentence per variable
        assert "-9.1" in section and "100.0" in section  # bias (% of the station mean), same SPI class
        assert 'href="#stations"' in html  # in the table of contents
    assert (folder / "report" / "tables" / "station_comparison.csv").is_file()


def test_spec_takes_a_station_csv_only(station_run, tmp_path):
    from dldd.spec import load_spec

    folder, spec_path = station_run
    spec = yaml.safe_load(spec_path.read_text())
    spec["inputs"]["stations"] = {"path": "inputs/stations.csv", "units": "mm"}
    bad = folder / "bad_spec.yaml"
    bad.write_text(yaml.safe_dump(spec))
    with pytest.raises(SpecError, match=r"inputs\.stations: a station CSV takes `path` and `nodata` only"):
        load_spec(bad)
    # spec check reads the CSV as the stage does, and `dldd stations --spec` compares with the spec's grids
    (folder / "inputs" / "bad.csv").write_text("station_id,lat,lon,date,pr_mm\na,37,80,2000-01,x\n")
    spec["inputs"]["stations"] = {"path": "inputs/bad.csv"}
    bad.write_text(yaml.safe_dump(spec))
    r = CliRunner().invoke(app, ["spec", "check", str(bad)])
    assert r.exit_code == 2 and "bad.csv, column 'pr_mm', line 2: 'x' is not a number" in r.output
    r = run_cli(folder / "inputs" / "stations.csv", "--spec", spec_path, "--out", tmp_path / "out", "--scale", "6")
    assert r.exit_code == 0, r.output
    by_cli = pd.read_csv(tmp_path / "out" / "tables" / "station_comparison.csv")
    by_run = pd.read_csv(folder / "tables" / "station_comparison.csv").drop(columns="data")
    pd.testing.assert_frame_equal(by_cli, by_run)
