"""End to end: a small demo scene through the pipeline and the command line; areas add up, labels say synthetic."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from dldd.cli import app
from dldd.demo.scenes import write_scene
from dldd.pipeline import run_assessment
from dldd.spec import load_spec

# small versions of the demo scenes (same code path as `dldd demo`)
SMALL = {
    "local": dict(res=0.025, climate_res=0.1),
    "regional": dict(res=0.5, climate_res=1.0, extent=(46.0, 35.0, 88.0, 56.0), regions=["Central Asia"]),
}


@pytest.fixture(scope="module", params=list(SMALL))
def run(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    spec_path = write_scene(request.param, folder, **SMALL[request.param])
    spec = load_spec(spec_path)
    ctx = run_assessment(spec, folder)
    return request.param, folder, spec, ctx


def test_land_cover_areas_add_up_to_region_area(run):
    _, folder, spec, ctx = run
    t = pd.read_csv(folder / "tables" / "so1_1_land_cover_areas.csv")
    areas = {r.id: r.area_km2 for r in ctx.regions}
    for (region, year), rows in t.groupby(["region", "year"]):
        assert rows.area_km2.sum() == pytest.approx(areas[region], rel=0.005), (region, year)


def test_everything_is_labelled_synthetic(run):
    _, folder, spec, _ = run
    for csv in (folder / "tables").glob("*.csv"):
        assert (pd.read_csv(csv)["data"] == "synthetic demonstration data").all(), csv
    import rasterio

    for tif in (folder / "maps").glob("*.tif"):
        with rasterio.open(tif) as src:
            assert src.tags().get("synthetic") == "true", tif
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["synthetic"] is True
    assert all(len(f["sha256"]) == 64 for files in manifest["inputs"].values() for f in files)
    assert "numpy" in manifest["versions"] and manifest["timings_s"]["total"] > 0


def test_drought_tables_cover_every_block(run):
    _, folder, _, _ = run
    t = pd.read_csv(folder / "tables" / "so3_1_hazard_blocks.csv")
    assert sorted(t.block.unique()) == ["2000-2003", "2004-2007", "2008-2011", "2012-2015", "2016-2019", "2020-2023"]
    # the planted drought years (DROUGHT_YEARS) have more land in moderate or worse drought than the others
    from dldd.demo.scenes import DROUGHT_YEARS

    y = pd.read_csv(folder / "tables" / "so3_1_hazard_areas.csv")
    dry = y[y["class"].isin(["moderate drought", "severe drought", "extreme drought"])].groupby("year").share_pct.sum()
    planted = dry[dry.index.isin(list(DROUGHT_YEARS))]
    assert planted.mean() > 2 * dry[~dry.index.isin(list(DROUGHT_YEARS))].mean()


def test_aridity_matches_the_place(run):
    """Hotan's rim is hyper-arid (about 35 mm a year); Central Asia is mostly dryland."""
    scene, folder, _, _ = run
    t = pd.read_csv(folder / "tables" / "aridity_zone_areas.csv")
    latest = t[t.period == t.period.max()].groupby("class").area_km2.sum()
    if scene == "local":
        assert latest["hyper-arid"] / latest.sum() > 0.8
    else:
        drylands = latest[["hyper-arid", "arid", "semi-arid", "dry sub-humid"]].sum()
        assert drylands / latest.sum() > 0.5


def test_cli_spec_check_and_errors(tmp_path):
    runner = CliRunner()
    spec = write_scene("local", tmp_path, indicators={"land_cover": {}}, res=0.1, climate_res=0.5)
    r = runner.invoke(app, ["spec", "check", str(spec)])
    assert r.exit_code == 0, r.output
    assert "valid" in r.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(spec.read_text().replace("scale_factor: 0.0001", "scale_factor: lots"))
    r = runner.invoke(app, ["spec", "check", str(bad)])
    assert r.exit_code == 2
    assert "inputs.ndvi.scale_factor" in r.output
    r = runner.invoke(app, ["--version"])
    assert r.output.startswith("dldd ")


def test_regions_list_csv():
    r = CliRunner().invoke(app, ["regions", "list", "--format", "csv"])
    assert r.exit_code == 0, r.output
    rows = pd.read_csv(__import__("io").StringIO(r.output))
    assert list(rows.columns[:4]) == ["iso3", "name", "subregion", "area_km2"]
    # METHODS 7 lists 84 countries in nine sub-regions; every one has a polygon and a sub-region
    assert len(rows) == 84 and rows.subregion.notna().all() and rows.subregion.nunique() == 9
    kaz = rows.set_index("iso3").loc["KAZ", "area_km2"]
    assert kaz == pytest.approx(2_724_900, rel=0.02)


def test_sdg_areas_add_up_and_percent_degraded(run):
    _, folder, _, ctx = run
    s = pd.read_csv(folder / "tables" / "sdg_15_3_1_summary.csv")
    areas = {r.id: r.area_km2 for r in ctx.regions}
    parts = s[["degraded_km2", "stable_km2", "improved_km2", "no_data_km2"]].sum(axis=1)
    np.testing.assert_allclose(parts, s.land_area_km2)
    np.testing.assert_allclose(s.land_area_km2 + s.water_km2, [areas[r] for r in s.region], rtol=0.005)
    assert set(s.period) == {"baseline", "reporting_1", "reporting_2"}
    assert s.degraded_share_of_land_pct.between(0, 100).all()
    # the status tables exist for both reporting periods, in 3 and 7 codes
    for name in ("so1_4_status", "so1_4_status7"):
        t = pd.read_csv(folder / "tables" / f"{name}.csv")
        assert set(t.period) == {"reporting_1", "reporting_2"}


def test_practices_matched_per_region(run):
    _, folder, _, ctx = run
    cond = pd.read_csv(folder / "tables" / "conditions.csv")
    assert set(cond.region) == {r.id for r in ctx.regions}
    m = pd.read_csv(folder / "tables" / "practices_matches.csv")
    assert (m.groupby("region").size() == 5).all()
    assert m.score.between(0, 1).all() and m.reasons.str.len().gt(0).all()


def test_barrier_belt_effect_recovered(run):
    """The demo plants a greening of BELT_NDVI_GAIN on each belt segment from its start year: the matched
    estimate is positive, its interval excludes zero, and it does not exceed the planted gain."""
    scene, folder, spec, _ = run
    if scene != "local":
        assert not (folder / "tables" / "effectiveness_summary.csv").exists()
        return
    from dldd.demo.scenes import BELT_NDVI_GAIN

    t = pd.read_csv(folder / "tables" / "effectiveness_summary.csv")
    assert len(t) == len(spec.interventions) >= 4
    early = t[t.start_year <= 2019]
    assert (early.ci_low > 0).all() and (early.effect < BELT_NDVI_GAIN * 1.2).all()
    ev = pd.read_csv(folder / "tables" / "effectiveness_event_study.csv")
    assert set(ev.intervention) == set(t.name)


#: Tables of land (docs/methods.md, "Land account") and the column naming their period or year.
LAND_TABLES = {"so1_1_land_cover_areas": "year", "so1_1_land_cover_degradation": "period",
               "so1_2_productivity": "period", "so1_2_productivity_lpd5": "period",
               "so1_3_soc_degradation": "period", "so1_4_sdg_15_3_1": "period", "so1_4_status": "period",
               "so1_4_status7": "period", "so1_4_sdg_15_3_1_by_dryland_zone": "period"}


def test_every_table_adds_up_to_the_land_account(run):
    """For every table of land and every region: classes + no data = land area, land + water = total area
    of the land account; the summary's headline is degraded / land area (one number, in summary.json too)."""
    _, folder, _, ctx = run
    acc = pd.read_csv(folder / "tables" / "land_account.csv", dtype={"period": str}).set_index(["region", "period"])
    np.testing.assert_allclose(acc.land_km2 + acc.water_km2, acc.total_area_km2, rtol=1e-9)
    areas = {r.id: r.area_km2 for r in ctx.regions}
    np.testing.assert_allclose(acc.total_area_km2, [areas[r] for r, _ in acc.index], rtol=0.005)
    checked = 0
    for name, key in LAND_TABLES.items():
        path = folder / "tables" / f"{name}.csv"
        if not path.is_file():
            continue
        t = pd.read_csv(path, dtype={key: str})
        for (region, when), rows in t.groupby(["region", key]):
            a = acc.loc[(region, when)]
            water = rows["class"] == "water body"
            assert rows.loc[water, "area_km2"].sum() == pytest.approx(a.water_km2, rel=1e-9, abs=1e-9), (name, region, when)
            assert rows.loc[~water, "area_km2"].sum() == pytest.approx(a.land_km2, rel=1e-9), (name, region, when)
            land = rows[~water & rows.share_of_land_pct.notna()]
            assert land.share_of_land_pct.sum() == pytest.approx(100.0 if a.land_km2 else 0.0), (name, region)
            checked += 1
    assert checked >= 6 * len(ctx.regions)
    soc = pd.read_csv(folder / "tables" / "so1_3_soc_stock.csv")
    for r in soc.itertuples():
        a = acc.loc[(r.region, r.period)]
        assert r.area_with_data_km2 + r.area_no_data_km2 == pytest.approx(a.land_km2, rel=1e-9)
        assert r.water_km2 == pytest.approx(a.water_km2, rel=1e-9, abs=1e-9)
    s = pd.read_csv(folder / "tables" / "sdg_15_3_1_summary.csv")
    headline = json.loads((folder / "summary.json").read_text())["sdg_15_3_1"]["headline"]
    for r in s.itertuples():
        a = acc.loc[(r.region, r.period)]
        assert r.land_area_km2 == pytest.approx(a.land_km2, rel=1e-9)
        assert r.total_area_km2 == pytest.approx(a.total_area_km2, rel=1e-9)
        assert r.degraded_share_of_land_pct == pytest.approx(100 * r.degraded_km2 / a.land_km2, rel=1e-9)
        assert headline[r.region][r.period]["degraded_share_of_land_pct"] == pytest.approx(
            r.degraded_share_of_land_pct, rel=1e-9)
    # the transition matrix covers the whole area, water included (a class of the matrix)
    tr = pd.read_csv(folder / "tables" / "so1_1_land_cover_transitions.csv")
    first = acc.reset_index().groupby("region").total_area_km2.first()
    for (region, _), rows in tr.groupby(["region", "period"]):
        assert rows.area_km2.sum() == pytest.approx(first[region], rel=1e-9)


def test_water_never_carries_an_sdg_class(run):
    """The regional scene has lakes and seas (the Caspian, Aral, Balkhash from MODIS): where the land cover
    of the period's end year is water, SDG 15.3.1 and its status are no data, and the tables count water."""
    import rasterio

    scene, folder, _, _ = run
    acc = pd.read_csv(folder / "tables" / "land_account.csv", dtype={"period": str})
    maps = folder / "maps"
    last = sorted(maps.glob("land_cover_[0-9]*.tif"))[-1]
    with rasterio.open(last) as src:
        lc = src.read(1)
    for name in ("sdg_15_3_1_reporting_2", "sdg_status_reporting_2", "sdg_status7_reporting_2"):
        with rasterio.open(maps / f"{name}.tif") as src:
            v, nodata = src.read(1), src.nodata
        assert (v[lc == 7] == nodata).all(), name
        assert (v[(lc != 7) & (lc != nodata)] != nodata).any(), name
    if scene == "regional":
        assert (lc == 7).sum() > 10 and acc.water_km2.max() > 10_000
