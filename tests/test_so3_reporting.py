"""SO3-2 exposure by sex and SO3-3 vulnerability through the drought stage's table writers, on a tiny synthetic
scene built here (4 x 4 cells, one zone covering them), against hand computations."""

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

from dldd.core import io
from dldd.errors import InputError
from dldd.pipeline import build_regions
from dldd.pipeline.context import RunContext
from dldd.pipeline.stages import drought
from dldd.spec import load_spec
from dldd.stats.reporting import reporting_tables

X = 70.05 + 0.1 * np.arange(4)
Y = 40.35 - 0.1 * np.arange(4)
# two 4-year blocks of SO3-1 classes (synthetic); -128 = no data
BLOCKS = np.array([
    [[0, 0, 1, 1], [2, 2, 3, 3], [4, 4, 0, 1], [2, -128, 3, 4]],
    [[1, 1, 1, 1], [0, 0, 0, 0], [4, 3, 2, 1], [0, 1, 2, -128]],
], dtype="int8")
FEMALE = np.arange(1.0, 17.0).reshape(4, 4) * 10.0  # persons per cell (synthetic)
MALE = np.arange(16.0, 0.0, -1.0).reshape(4, 4) * 7.0
VULN = np.linspace(0.0, 1.0, 16).reshape(4, 4)
VULN[0, 0] = np.nan
SOCIAL = np.arange(16.0).reshape(4, 4) ** 2  # synthetic component layers (arbitrary units)
INCOME = 100.0 + 5.0 * np.arange(16.0)[::-1].reshape(4, 4)


def _grid(values, name, units):
    da = xr.DataArray(values.astype("float32"), dims=("y", "x"), coords={"y": Y, "x": X}, name=name,
                      attrs={"units": units, "synthetic": "true"})
    return da.rio.write_crs("EPSG:4326").rio.write_nodata(np.float32(np.nan))


def _scene(tmp_path, inputs: list[str]):
    (tmp_path / "inputs").mkdir(parents=True)
    layers = {"population": (FEMALE + MALE, "persons"), "population_female": (FEMALE, "persons"),
              "population_male": (MALE, "persons"), "drought_vulnerability": (VULN, "1"),
              "vulnerability_social": (SOCIAL, "1"), "vulnerability_economic": (INCOME, "1")}
    spec_inputs = {}
    for name in inputs:
        values, units = layers[name]
        io.write_cog(tmp_path / "inputs" / f"{name}.tif", _grid(values, name, units))
        spec_inputs[name] = {"path": f"inputs/{name}.tif", "units": units}
    zone = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "Zone A"},
            "geometry": {"type": "Polygon", "coordinates": [[[69, 39], [71, 39], [71, 41], [69, 41], [69, 39]]]}}]}
    (tmp_path / "zone.geojson").write_text(json.dumps(zone))
    spec = {"name": "so3 synthetic", "synthetic": True, "regions": {"zones": [{"name": "zone_a", "path": "zone.geojson"}]},
            "inputs": spec_inputs, "indicators": {"drought": {}}, "outputs": {"formats": ["csv"]}}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    spec = load_spec(tmp_path / "spec.yaml")
    out = tmp_path / "out"
    out.mkdir()
    ctx = RunContext(spec=spec, out=out, regions=build_regions(spec))
    return ctx


def _blocks(ctx):
    grid = ctx.input("population")
    return xr.DataArray(BLOCKS, dims=("time", "y", "x"),
                        coords={"time": pd.to_datetime(["2000-01-01", "2004-01-01"]).values,
                                "block_end": ("time", [2003, 2007]), "y": grid.y.values, "x": grid.x.values}
                        ).rio.write_crs("EPSG:4326")


def test_exposure_by_sex_against_hand_sums(tmp_path):
    ctx = _scene(tmp_path, ["population", "population_female", "population_male"])
    sexes = drought._population_by_sex_inputs(set(ctx.spec.inputs))
    assert sexes == {"female": "population_female", "male": "population_male"}
    drought._exposure(ctx, _blocks(ctx), sexes)
    total, by_sex = ctx.tables["so3_2_exposure"], ctx.tables["so3_2_exposure_by_sex"]
    assert set(by_sex["sex"]) == {"female", "male"} and (by_sex["data"] != "").all()  # labelled synthetic
    for b, block in enumerate(["2000-2003", "2004-2007"]):
        for code in range(5):
            want = {"female": FEMALE[BLOCKS[b] == code].sum(), "male": MALE[BLOCKS[b] == code].sum()}
            got = {s: by_sex.loc[(by_sex.sex == s) & (by_sex.block == block) & (by_sex.code == code), "population"].item()
                   for s in want}
            assert got == pytest.approx(want, rel=1e-6)
            tot = total.loc[(total.block == block) & (total.code == code), "population"].item()
            assert got["female"] + got["male"] == pytest.approx(tot, rel=1e-6)
        # the population of the no-data cell of the block is its own row
        nod = by_sex[(by_sex.sex == "female") & (by_sex.block == block) & by_sex.code.isna()].population.item()
        assert nod == pytest.approx(FEMALE[BLOCKS[b] == -128].sum(), rel=1e-6)
    sheet = reporting_tables(ctx.tables)["SO3-2 exposure"][1]
    row = sheet[sheet.block == "2000-2003"].iloc[0]
    assert row["female population (persons)"] == pytest.approx(FEMALE.sum(), rel=1e-6)
    assert row["male: severe drought (persons)"] == pytest.approx(MALE[BLOCKS[0] == 3].sum(), rel=1e-6)
    assert row["female: extreme drought (% of female population)"] == pytest.approx(
        100 * FEMALE[BLOCKS[0] == 4].sum() / FEMALE.sum(), rel=1e-6)
    for sex in ("female", "male"):
        vals = [c for c in sheet.columns if c.startswith(f"{sex}: ") and c.endswith("(persons)")]
        np.testing.assert_allclose(sheet[vals].sum(axis=1), sheet[f"{sex} population (persons)"], rtol=1e-9)
    assert row["female population (persons)"] + row["male population (persons)"] == pytest.approx(
        row["population (persons)"], rel=1e-6)


def test_without_sex_layers_nothing_changes(tmp_path):
    ctx = _scene(tmp_path, ["population"])
    drought._exposure(ctx, _blocks(ctx), drought._population_by_sex_inputs(set(ctx.spec.inputs)))
    assert "so3_2_exposure_by_sex" not in ctx.tables
    sheet = reporting_tables(ctx.tables)["SO3-2 exposure"][1]
    assert not [c for c in sheet.columns if "female" in c or "male" in c]


def test_one_sex_alone_is_refused(tmp_path):
    ctx = _scene(tmp_path, ["population", "population_female"])
    with pytest.raises(InputError, match="population_male"):
        drought._population_by_sex_inputs(set(ctx.spec.inputs))


def test_vulnerability_mean_against_hand_computation(tmp_path):
    ctx = _scene(tmp_path, ["drought_vulnerability"])
    p = drought.DroughtParams()
    names = drought._vulnerability_inputs(set(ctx.spec.inputs), p)
    assert names == ["drought_vulnerability"]
    drought._vulnerability(ctx, names, p)
    t = ctx.tables["so3_3_vulnerability"]
    area = ctx.cell_area(ctx.input("drought_vulnerability")).values  # the km² of each cell
    ok = ~np.isnan(VULN)
    assert t["mean_vulnerability"].item() == pytest.approx((VULN[ok] * area[ok]).sum() / area[ok].sum(), rel=1e-6)
    assert t["area_no_data_km2"].item() == pytest.approx(area[0, 0], rel=1e-6)
    sheet = reporting_tables(ctx.tables)["SO3-3 vulnerability"][1]
    assert sheet["mean vulnerability index (0-1, area-weighted)"].item() == pytest.approx(t["mean_vulnerability"].item())


def test_vulnerability_from_components_against_hand_computation(tmp_path):
    ctx = _scene(tmp_path, ["vulnerability_social", "vulnerability_economic"])
    p = drought.DroughtParams(vulnerability_weights={"vulnerability_social": 3.0, "vulnerability_economic": 1.0},
                              vulnerability_inverted=["vulnerability_economic"])
    names = drought._vulnerability_inputs(set(ctx.spec.inputs), p)
    assert names == ["vulnerability_social", "vulnerability_economic"]
    drought._vulnerability(ctx, names, p)
    # min-max scaled, income inverted (higher income = less vulnerable), weights 3:1
    social = (SOCIAL - SOCIAL.min()) / (SOCIAL.max() - SOCIAL.min())
    income = 1.0 - (INCOME - INCOME.min()) / (INCOME.max() - INCOME.min())
    v = 0.75 * social + 0.25 * income
    area = ctx.cell_area(ctx.input("vulnerability_social")).values
    got = ctx.tables["so3_3_vulnerability"]["mean_vulnerability"].item()
    assert got == pytest.approx((v * area).sum() / area.sum(), rel=1e-6)


def test_index_and_components_together_are_refused(tmp_path):
    ctx = _scene(tmp_path, ["drought_vulnerability", "vulnerability_social"])
    with pytest.raises(InputError, match="not both"):
        drought._vulnerability_inputs(set(ctx.spec.inputs), drought.DroughtParams())
    # weights for components the spec does not give would be ignored silently: refused
    ctx = _scene(tmp_path / "b", ["drought_vulnerability"])
    with pytest.raises(InputError, match="vulnerability_inverted"):
        drought._vulnerability_inputs(set(ctx.spec.inputs), drought.DroughtParams(vulnerability_inverted=["vulnerability_economic"]))


def test_index_outside_0_1_is_refused():
    from dldd.indicators.drought.so3 import so3_vulnerability_given

    with pytest.raises(InputError, match="drought_vulnerability.*\\[0, 1\\]"):
        so3_vulnerability_given(xr.DataArray(VULN * 10, dims=("y", "x"), name="drought_vulnerability"))


def test_the_drought_input_rules_are_checked_before_any_stage_runs(tmp_path):
    """`dldd spec check` and a run's start refuse what the drought stage would refuse after the stages before it
    had computed: one population-by-sex layer alone, an index with its components."""
    from dldd.pipeline import stage_params
    from dldd.spec import parse_spec

    def spec(*extra):
        inputs = {n: {"path": f"{n}.nc", "variable": n} for n in ("precipitation", "tmin", "tmax", *extra)}
        return parse_spec({"name": "t", "inputs": inputs, "indicators": {"drought": {}},
                           "regions": {"include": ["UZB"]}}, base_dir=tmp_path)

    assert "drought" in stage_params(spec("population", "population_female", "population_male"))
    with pytest.raises(InputError, match="population_male"):
        stage_params(spec("population", "population_female"))
    with pytest.raises(InputError, match="not both"):
        stage_params(spec("drought_vulnerability", "vulnerability_social"))
