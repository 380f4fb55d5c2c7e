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
    # the design of each evaluation as a role map for the report: treated and matched control cells
    import rasterio

    for rel, n_treated, n_unmatched in zip(t.roles_map, t.n_treated, t.n_unmatched):
        with rasterio.open(folder / rel) as src:
            role = src.read(1)
        assert (role == 1).sum() == n_treated and (role == 2).sum() == n_unmatched and (role == 3).any(), rel


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


def _reporting(folder, name):
    return pd.read_csv(folder / "tables" / f"unccd_{name}.csv", dtype={"period": str, "year": str})


def test_unccd_reporting_tables_layout_and_sums(run):
    """Each UNCCD (PRAIS) table: its layout (columns, rows per region and period) and that it adds up to the
    land account and to the long tables it is made from; the workbook has the template's sheets in order."""
    import openpyxl

    from dldd.stats.reporting import SHEETS

    scene, folder, spec, ctx = run
    acc = pd.read_csv(folder / "tables" / "land_account.csv", dtype={"period": str}).set_index(["region", "period"])
    n_regions = len(ctx.regions)
    km2 = " (km²)"
    # SO1-1 land cover, degradation; SO1-2 LPD; SO1-3 SOC degradation; SO1-4 SDG and status: classes of land
    for name, key in (("so1_1_land_cover", "year"), ("so1_1_degradation", "period"), ("so1_2_lpd3", "period"),
                      ("so1_3_soc_degradation", "period"), ("so1_4_sdg_15_3_1", "period"), ("so1_4_status", "period"),
                      ("so1_4_status7", "period")):
        t = _reporting(folder, name)
        assert list(t.columns[:4]) == ["region", "name", "subregion", key], name
        area_cols = [c for c in t.columns if c.endswith(km2) and c.split(" (")[0] not in ("land area", "water", "total area")]
        pct_cols = [c for c in t.columns if c.endswith("(% of land)")]
        assert len(area_cols) == len(pct_cols) >= 4 and area_cols[-1] == "no data" + km2, name
        np.testing.assert_allclose(t[area_cols].sum(axis=1), t["land area" + km2], rtol=1e-9)
        np.testing.assert_allclose(t["land area" + km2] + t["water" + km2], t["total area" + km2], rtol=1e-9)
        np.testing.assert_allclose(t[pct_cols].sum(axis=1), 100.0, rtol=1e-9)
        for r in t.itertuples(index=False):
            a = acc.loc[(r[0], str(r[3]))]
            assert getattr(r, "_" + str(list(t.columns).index("land area" + km2))) == pytest.approx(a.land_km2, rel=1e-9)
        assert t.groupby(key).size().eq(n_regions).all(), name
    sdg = _reporting(folder, "so1_4_sdg_15_3_1")
    summary = pd.read_csv(folder / "tables" / "sdg_15_3_1_summary.csv")
    np.testing.assert_allclose(sdg["degraded (% of land)"], summary.degraded_share_of_land_pct, rtol=1e-9)
    # SO1-1 transition matrix: square, rows and columns add up, the matrix + no data = the total area
    m = _reporting(folder, "so1_1_transition_matrix")
    classes = [c[: -len(km2)] for c in m.columns if c.endswith(km2) and c != "total" + km2]
    assert len(classes) == 7
    for (region, period), g in m.groupby(["region", "period"]):
        body = g[g["from \\ to"].isin(classes)].set_index("from \\ to")
        assert list(body.index) == classes  # square: the same classes as rows and columns
        cells = body[[c + km2 for c in classes]]
        np.testing.assert_allclose(cells.sum(axis=1), body["total" + km2], rtol=1e-9)
        tot = g[g["from \\ to"] == "total"].iloc[0]
        np.testing.assert_allclose(cells.sum(axis=0).values, tot[[c + km2 for c in classes]].astype(float).values,
                                   rtol=1e-9)
        nod = g[g["from \\ to"] == "no data"]["total" + km2].item()
        first = acc.loc[region].total_area_km2.iloc[0]
        assert tot["total" + km2] + nod == pytest.approx(first, rel=1e-9)
    # SO1-1 net change: start = matrix row sums, end = column sums, the changes cancel
    nc = _reporting(folder, "so1_1_net_change")
    for (region, period), g in nc.groupby(["region", "period"]):
        assert len(g) == 7 and g["change" + km2].sum() == pytest.approx(0.0, abs=1e-6 * g["start" + km2].sum())
    # SO1-2 LPD x land cover: row totals are the LPD classes; the whole table is the total area
    lpd_long = pd.read_csv(folder / "tables" / "so1_2_productivity.csv", dtype={"period": str})
    x = _reporting(folder, "so1_2_lpd_by_land_cover")
    for (region, period), g in x.groupby(["region", "period"]):
        assert g["total" + km2].sum() == pytest.approx(acc.loc[(region, period)].total_area_km2, rel=1e-9)
        lp = lpd_long[(lpd_long.region == region) & (lpd_long.period == period)].set_index("class").area_km2
        for r in g.itertuples(index=False):
            assert getattr(r, "_" + str(list(g.columns).index("total" + km2))) == pytest.approx(lp[r[4]], rel=1e-9, abs=1e-9)
    # SO1-3 SOC stock per land cover class: total row = sum of classes = the stock of the long SOC table
    s = _reporting(folder, "so1_3_soc_stock")
    stock = pd.read_csv(folder / "tables" / "so1_3_soc_stock.csv").set_index(["region", "period"])
    for (region, period), g in s.groupby(["region", "period"]):
        body, total = g[g.land_cover != "total"], g[g.land_cover == "total"].iloc[0]
        assert len(body) == 6  # the six classes of land
        assert body["stock start (t)"].sum() == pytest.approx(total["stock start (t)"], rel=1e-9)
        if acc.loc[(region, period)].land_no_land_cover_km2 == 0:
            assert total["stock start (t)"] == pytest.approx(stock.loc[(region, period)].stock_start_Mt * 1e6, rel=1e-6)
            assert total["stock end (t)"] == pytest.approx(stock.loc[(region, period)].stock_end_Mt * 1e6, rel=1e-6)
        tr = _reporting(folder, "so1_3_soc_transitions")
        tr = tr[(tr.region == region) & (tr.period == period)]
        assert tr["change (t)"].sum() == pytest.approx(total["change (t)"], rel=1e-6, abs=1.0)
    # SO3-1 hazard, SO3-2 exposure: the classes make the total
    for name, unit, den in (("so3_1_hazard_years", "km²", "total area"), ("so3_1_hazard_blocks", "km²", "total area"),
                            ("so3_2_exposure", "persons", "population")):
        t = _reporting(folder, name)
        vals = [c for c in t.columns if c.endswith(f"({unit})") and not c.startswith(den)]
        np.testing.assert_allclose(t[vals].sum(axis=1), t[f"{den} ({unit})"], rtol=1e-9)
        np.testing.assert_allclose(t[[c for c in t.columns if c.endswith(f"(% of {den})")]].sum(axis=1), 100.0,
                                   rtol=1e-9)
    wb = openpyxl.load_workbook(folder / "tables" / "unccd_reporting.xlsx", read_only=True)
    assert wb.sheetnames == [k for k in SHEETS if k in wb.sheetnames] and len(wb.sheetnames) >= 15


def test_method_both_te_column_equals_a_te_only_run(tmp_path):
    """`method: both` writes GPG2 and Trends.Earth side by side; its te columns are those of a te-only run
    and its gpg2 columns those of the main tables; the difference column is te - gpg2."""
    out = {}
    for method in ("te", "both"):
        folder = tmp_path / method
        spec = write_scene("local", folder, indicators={"sdg_15_3_1": {"method": method}}, res=0.1, climate_res=0.5)
        run_assessment(load_spec(spec), folder, only=["sdg_15_3_1"])
        out[method] = folder
    te = pd.read_csv(out["te"] / "tables" / "sdg_15_3_1_summary.csv")
    both = pd.read_csv(out["both"] / "tables" / "sdg_15_3_1_by_method.csv")
    main = pd.read_csv(out["both"] / "tables" / "sdg_15_3_1_summary.csv")
    assert len(both) == len(te) == 3
    for c in ("degraded_km2", "stable_km2", "improved_km2", "no_data_km2", "degraded_share_of_land_pct"):
        np.testing.assert_allclose(both[f"{c}_te"], te[c], rtol=1e-9)
        np.testing.assert_allclose(both[f"{c}_gpg2"], main[c], rtol=1e-9)
    np.testing.assert_allclose(both.degraded_share_of_land_te_minus_gpg2_pp,
                               both.degraded_share_of_land_pct_te - both.degraded_share_of_land_pct_gpg2, rtol=1e-9)
    assert (both.degraded_km2_te != both.degraded_km2_gpg2).any()  # the methods do differ on this scene
    assert (out["both"] / "maps" / "sdg_15_3_1_te_reporting_2.tif").is_file()


def test_corrections_applied_after_the_combination_and_listed(tmp_path):
    """A polygon correcting a false positive (class stable, with its reason): inside it every land cell is
    stable after the combination; the corrections table lists the km² moved per class with the reason, and
    the SDG table's stable area = the uncorrected one + the km² moved to stable."""
    import yaml

    from dldd.core.legend import SDG3

    folder = tmp_path / "corr"
    spec_path = write_scene("local", folder, indicators={"sdg_15_3_1": {}}, res=0.1, climate_res=0.5)
    import xarray as xr

    with xr.open_dataset(folder / "inputs" / "ndvi.nc") as ds:
        x, y = ds.x.values, ds.y.values
    w, e = np.quantile(x, [0.2, 0.6])
    s, n = np.quantile(y, [0.2, 0.6])
    (folder / "corrections.geojson").write_text(json.dumps({"type": "FeatureCollection", "crs": {
        "type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}, "features": [{
            "type": "Feature", "properties": {"note": "synthetic test polygon"},
            "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}}]}))
    # a raster correction for the baseline only: improved on the first rows of the grid (-128 elsewhere)
    import rioxarray  # noqa: F401

    codes = np.full((y.size, x.size), -128, dtype="int8")
    codes[:3] = 1
    xr.DataArray(codes, dims=("y", "x"), coords={"y": y, "x": x}).rio.write_crs("EPSG:4326").rio.write_nodata(
        -128).rio.to_raster(folder / "corrections.tif")
    spec = yaml.safe_load(spec_path.read_text())
    spec["indicators"]["sdg_15_3_1"]["corrections"] = [
        {"path": "corrections.geojson", "class": "stable", "reason": "irrigation misread as decline (synthetic)"},
        {"path": "corrections.tif", "reason": "restored rangeland (synthetic)", "periods": ["baseline"]}]
    spec_path.write_text(yaml.safe_dump(spec))
    ctx = run_assessment(load_spec(spec_path), folder, only=["sdg_15_3_1"])
    stored = ctx.open_stored("sdg_layers")
    before, after = stored["reporting_2__sdg_uncorrected"].values, stored["reporting_2__sdg"].values
    water = stored["reporting_2__water"].values
    inside = (before != after)
    assert inside.any() and (after[inside] == 0).all()
    box = (x[None, :] > w + 0.1) & (x[None, :] < e - 0.1) & (y[:, None] > s + 0.1) & (y[:, None] < n - 0.1)
    assert (after[box & (water == 0)] == 0).all() and not inside[~box & ~((x[None, :] >= w - 0.1) & (
        x[None, :] <= e + 0.1) & (y[:, None] >= s - 0.1) & (y[:, None] <= n + 0.1))].any()
    base, base_water = stored["baseline__sdg"].values, stored["baseline__water"].values
    assert (base[:3][base_water[:3] == 0] == 1).all()
    assert "reporting_2__sdg" in stored and not (after[:3] == 1).all()  # the raster was for the baseline only
    corr = pd.read_csv(folder / "tables" / "sdg_15_3_1_corrections.csv")
    assert set(corr[corr.period == "baseline"].reason) == {"restored rangeland (synthetic)",
                                                          "irrigation misread as decline (synthetic)"}
    assert (corr[corr.correction == "corrections.tif = 1"]["to"] == "improved").all()
    corr = corr[corr.period != "baseline"]
    assert set(corr.reason) == {"irrigation misread as decline (synthetic)"} and (corr["to"] == "stable").all()
    assert set(corr["from"]) <= {"degraded", "improved"} and corr.area_km2.gt(0).any()
    sdg_t = pd.read_csv(folder / "tables" / "so1_4_sdg_15_3_1.csv")
    uncorrected = ctx.class_table({"r2": stored["reporting_2__sdg_uncorrected"]}, None, SDG3,
                                  water={"r2": stored["reporting_2__water"]})
    for region, rows in sdg_t[sdg_t.period == "reporting_2"].groupby("region"):
        moved = corr[(corr.region == region) & (corr.period == "reporting_2")]
        u = uncorrected[uncorrected.region == region].set_index("class").area_km2
        got = rows.set_index("class").area_km2
        assert got["stable"] == pytest.approx(u["stable"] + moved.area_km2.sum(), rel=1e-9)
        for cls in ("degraded", "improved"):
            assert got[cls] == pytest.approx(u[cls] - moved[moved["from"] == cls].area_km2.sum(), rel=1e-9, abs=1e-6)
