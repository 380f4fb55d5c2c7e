"""Tables of the report's chapters (dldd.stats.reporting: trends, dryland zones, degraded land under drought,
hotspots, limitation tables) against hand-computed areas, and the report's limitations, each bullet shown
when it applies and left out when it does not."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dldd.report import chapters as rc
from dldd.report.messages import Catalogue
from dldd.stats import reporting as sr


def _summary(rows):
    cols = ["region", "name", "subregion", "period", "degraded_km2", "stable_km2", "improved_km2", "no_data_km2"]
    t = pd.DataFrame(rows, columns=cols)
    t["water_km2"] = 5.0
    t["land_area_km2"] = t[["degraded_km2", "stable_km2", "improved_km2", "no_data_km2"]].sum(axis=1)
    return t


SUMMARY = _summary([
    ("AAA", "A", "S1", "baseline", 10.0, 80.0, 10.0, 0.0), ("AAA", "A", "S1", "reporting_1", 30.0, 60.0, 5.0, 5.0),
    ("BBB", "B", "S1", "baseline", 50.0, 100.0, 50.0, 0.0), ("BBB", "B", "S1", "reporting_1", 20.0, 150.0, 30.0, 0.0),
    ("CCC", "C", "S2", "baseline", 0.0, 300.0, 0.0, 0.0), ("CCC", "C", "S2", "reporting_1", 6.0, 294.0, 0.0, 0.0),
])


def test_trends_sum_regions_into_subregions_and_the_whole_area():
    t = sr.sdg_trends(SUMMARY)
    row = lambda level, rid, p: t[(t.level == level) & (t.region == rid) & (t.period == p)].iloc[0]  # noqa: E731
    whole = row("all", sr.ALL_NAME, "reporting_1")
    assert whole.degraded_km2 == 56.0 and whole.land_km2 == 600.0
    assert whole.degraded_share_of_land_pct == pytest.approx(100 * 56 / 600)
    assert whole.degraded_change_pp == pytest.approx(100 * 56 / 600 - 100 * 60 / 600)  # baseline 60 of 600
    s1 = row("subregion", "S1", "reporting_1")
    assert s1.degraded_km2 == 50.0 and s1.land_km2 == 300.0 and s1.no_data_share_of_land_pct == pytest.approx(5 / 3)
    a = row("region", "AAA", "reporting_1")
    assert a.degraded_share_of_land_pct == pytest.approx(30.0) and a.degraded_change_pp == pytest.approx(20.0)
    assert a.improved_change_pp == pytest.approx(-5.0)
    assert len(t) == 2 * (1 + 2 + 3)  # two periods of the whole, two sub-regions and three regions


def test_hotspots_rank_areas_and_changes():
    h = sr.hotspots(sr.sdg_trends(SUMMARY))
    top = lambda kind: h[h.kind == kind].sort_values("rank")["id"].tolist()  # noqa: E731
    assert top("degraded_area") == ["AAA", "BBB", "CCC"]  # 30, 20, 6 km²
    assert top("degraded_increase") == ["AAA", "CCC"]  # +20, +6; BBB decreased
    assert top("degraded_decrease") == ["BBB"]  # -30
    assert top("improved_area") == ["BBB", "AAA"]  # 30, 5; CCC has none
    b = h[(h.kind == "degraded_decrease")].iloc[0]
    assert b.change_km2 == -30.0 and b.change_pp == pytest.approx(10.0 - 25.0)


def _long(rows, zone_col="zone"):
    return pd.DataFrame(rows, columns=["region", "name", "subregion", "period", zone_col, "code", "class", "area_km2"])


def test_dryland_zone_shares_are_of_the_zones_land():
    t = _long([
        ("AAA", "A", "S1", "p", "arid", -1, "degraded", 20.0), ("AAA", "A", "S1", "p", "arid", 0, "stable", 60.0),
        ("AAA", "A", "S1", "p", "arid", None, "no data", 20.0),
        ("AAA", "A", "S1", "p", "humid", -1, "degraded", 1.0), ("AAA", "A", "S1", "p", "humid", 1, "improved", 9.0),
        ("AAA", "A", "S1", "p", "humid", None, "water body", 50.0),  # water: not land
    ])
    z = sr.sdg_by_dryland_zone(t)
    arid = z[(z.level == "all") & (z.zone == "arid")].iloc[0]
    humid = z[(z.level == "all") & (z.zone == "humid")].iloc[0]
    assert arid.land_km2 == 100.0 and arid.degraded_share_of_land_pct == pytest.approx(20.0) and arid.dryland
    assert humid.land_km2 == 10.0 and humid.degraded_share_of_land_pct == pytest.approx(10.0) and not humid.dryland
    assert humid.improved_share_of_land_pct == pytest.approx(90.0)


def test_degraded_drought_overlap_is_a_cross_tab_not_a_product_of_shares():
    t = _long([
        ("AAA", "A", "S1", "p", "moderate drought", -1, "degraded", 10.0),
        ("AAA", "A", "S1", "p", "mild drought", -1, "degraded", 30.0),
        ("AAA", "A", "S1", "p", "extreme drought", 0, "stable", 40.0),
        ("AAA", "A", "S1", "p", "no data", None, "no data", 20.0),
        ("BBB", "B", "S1", "p", "severe drought", -1, "degraded", 5.0),
        ("BBB", "B", "S1", "p", "no drought", 1, "improved", 95.0),
    ])
    d = sr.degraded_drought_exposed(t.assign(block="2020-2023"))
    a = d[(d.level == "region") & (d.region == "AAA")].iloc[0]
    assert (a.land_km2, a.degraded_km2, a.drought_km2, a.degraded_drought_km2) == (100.0, 40.0, 50.0, 10.0)
    assert a.degraded_drought_share_of_land_pct == pytest.approx(10.0)
    assert a.degraded_drought_share_of_degraded_pct == pytest.approx(25.0)  # 10 of 40, not 40 % x 50 %
    whole = d[d.level == "all"].iloc[0]
    assert whole.degraded_drought_km2 == 15.0 and whole.degraded_drought_share_of_land_pct == pytest.approx(7.5)


def test_period_coverage_names_missing_and_empty_years():
    """The drought stage asks for 2000-2025 but the precipitation ends in 2021 and 2003 has no class anywhere."""
    from dldd.pipeline.stages.drought import DroughtParams

    time = pd.date_range("1990-01-01", "2021-12-01", freq="MS")
    pr = xr.DataArray(np.ones((len(time), 2, 2)), dims=("time", "y", "x"), coords={"time": time})
    hazard = pd.DataFrame({"year": [2002, 2002, 2003, 2003], "class": ["no drought", "no data", "no drought", "no data"],
                           "area_km2": [90.0, 10.0, 0.5, 99.5]})
    ctx = SimpleNamespace(params_by_stage={"drought": DroughtParams(hazard_years=(2000, 2025))},
                          spec=SimpleNamespace(periods=None), summary={}, tables={"so3_1_hazard_areas": hazard},
                          has=lambda n: n == "precipitation", input=lambda n: pr)
    t = sr.period_coverage(ctx)
    assert len(t) == 1
    assert t.iloc[0].missing_years == "2003;2022;2023;2024;2025" and t.iloc[0].n_missing == 5
    ctx.params_by_stage = {"drought": DroughtParams(hazard_years=(2000, 2002))}
    assert sr.period_coverage(ctx).iloc[0].n_missing == 0


# --- limitations, both ways ------------------------------------------------------------------------------------
def _builder(tables: dict):
    return SimpleNamespace(run=SimpleNamespace(tables=tables), msgs=Catalogue("en"), region_name=lambda r: f"<{r}>",
                           when_label=lambda w: f"[{w}]")


def _bad_tables():
    return {
        "conditions": pd.DataFrame({"region": ["AAA", "BBB"], "aridity_class": ["arid", "arid"],
                                    "esa_class": [None, "F1"], "drift_class": [None, None]}),
        "sensitivity_layers": pd.DataFrame({"index": ["SQI", "VQI"], "layer": ["texture", "erosion_protection"],
                                            "status": ["present", "missing"]}),
        "input_grids": pd.DataFrame({"input": ["ndvi", "precipitation"], "crs": ["EPSG:4326"] * 2,
                                     "step_x": [0.5, 0.5], "cell_km_x": [42.6, 42.6], "cell_km_y": [55.6, 55.6]}),
        "period_coverage": pd.DataFrame({"stage": ["drought"], "input": ["precipitation"], "period": ["2000-2025"],
                                         "first_year": [2000], "last_year": [2025], "missing_years": ["2024;2025"],
                                         "n_missing": [2]}),
        "sdg_15_3_1_summary": pd.DataFrame({"region": ["AAA", "BBB"], "period": ["reporting_1"] * 2,
                                            "no_data_share_of_land_pct": [12.25, 1.0]}),
    }


def _good_tables():
    t = _bad_tables()
    t["conditions"]["esa_class"] = ["F2", "F1"]
    t["conditions"]["drift_class"] = ["low", "high"]
    t["sensitivity_layers"]["status"] = "present"
    t["input_grids"]["cell_km_x"] = t["input_grids"]["cell_km_y"] = [0.25, 42.6]  # ndvi 250 m; climate fine
    t["period_coverage"] = t["period_coverage"].assign(missing_years="", n_missing=0)
    t["sdg_15_3_1_summary"]["no_data_share_of_land_pct"] = [4.9, 0.0]
    return t


def test_limitations_appear_only_when_they_apply():
    general = len(Catalogue("en").items("limitations"))
    bad = [str(x) for x in rc.limitations(_builder(_bad_tables()))]
    assert len(bad) == 6 + general, bad
    assert "“sand drift class” was not computed by this run" in bad[1]
    text = " ".join(bad)
    assert "“sensitivity class (ESA)” has no data in 1 region(s) (&lt;AAA&gt;)" in text  # escaped name
    assert "erosion_protection (VQI)" in text and "treated as neutral" in text
    assert "ndvi 0.5° (about 56 km)" in text and "precipitation" not in text.split("coarse resolution")[1].split(".")[0]
    assert "lacks the years 2024, 2025 in the input precipitation" in text
    assert "&lt;AAA&gt; 12.2 %" in text and "&lt;BBB&gt;" not in text.split("Land without data")[1]
    good = [str(x) for x in rc.limitations(_builder(_good_tables()))]
    assert len(good) == general, good  # the general ones only
    assert rc.limitations(_builder({})) == Catalogue("en").items("limitations")


def test_role_colours_survive_deuteranopia():
    from test_report import deuteranope_confusions

    colors = [c.color for c in rc.role_legend().classes]
    assert deuteranope_confusions(colors) == []
    assert [c.code for c in rc.role_legend().classes] == [1, 2, 3, 4, 5]


# --- practice reasons in Chinese ----------------------------------------------------------------------------------
#: Latin words allowed in a Chinese reason: units, acronyms and the names of sub-indicators.
LATIN_OK = {"km", "mm", "m", "ESA", "SDG", "g"}


def _zh_builder():
    from dldd.report.build import country_name

    return SimpleNamespace(msgs=Catalogue("zh"), region_name=lambda r: country_name(r, "zh") or r)


def _zh_reasons(matches):
    from dldd.pipeline.stages.practices import _reason_parts

    b = _zh_builder()
    out = []
    for m in matches:
        lines = rc.reason_lines(b, _reason_parts(m))
        assert len(lines) == len(m.reasons), (lines, [str(r) for r in m.reasons])  # every reason, in Chinese
        out.append(rc.reasons_in_language(b, _reason_parts(m)))
    return out


def test_every_practice_reason_has_chinese_words():
    """Every reason of the engine (single conditions and distributions over the whole catalogue) carries its
    parts, and the Chinese appendix writes each in Chinese: no English word but units and acronyms."""
    import re

    from dldd.practices import match
    from dldd.practices.land_share import match_distribution
    from dldd.practices.loader import load_catalogue

    catalogue = load_catalogue()
    single = match({"region": "CHN", "aridity_class": "arid", "precip_mm": 180, "land_cover": "other land",
                    "degraded_share": 0.3, "esa_class": "C2", "drift_class": "high", "soil_texture": "loamy sand",
                    "slope_percent": 40, "groundwater_depth_m": 3, "groundwater_salinity_g_per_l": 9}, catalogue)
    sparse = match({"aridity_class": "humid"}, catalogue, top=3)
    dist = pd.DataFrame([dict(zip(("aridity_class", "precip_mm_min", "precip_mm_max", "land_cover", "land_condition",
                                   "esa_class", "drift_class", "area_km2"), r), region="CHN") for r in (
        ("humid", 500, 600, "cropland", "stable", None, None, 600.0),
        ("hyper-arid", 0, 50, "other land", "degraded", "C3", "high", 250.0),
        ("arid", 100, 150, "other land", "stable", None, "intermediate", 150.0))])
    spread = match_distribution(dist, catalogue, region="CHN")
    texts = _zh_reasons([*single, *sparse, *spread])
    assert len(texts) == len(single) + len(sparse) + len(spread) > 40
    for text in texts:
        latin = set(re.findall(r"[A-Za-z]+", text)) - LATIN_OK
        latin = {w for w in latin if not re.fullmatch(r"[NPFC]\d?", w)}  # ESA class codes
        assert not latin, (latin, text)
    joined = "".join(texts)
    assert "中国有" in joined and "干旱" in joined and "壤质砂土" in joined and "毫米" in joined


def test_sand_rose_words_in_chinese():
    """Every word drawn in the sand rose of the Chinese report is Chinese (acronyms DP, RDP, RDD, VU aside)."""
    import re

    from dldd.report.figures_sand import sand_rose_from_drift

    by_dir = xr.DataArray([120.0, 40.0, 0.0, 10.0, 300.0, 0.0, 0.0, 5.0], dims=("direction",),
                          coords={"direction": np.arange(8) * 45.0})
    summary = xr.Dataset({"dp": 475.0, "rdp": 260.0, "rdd": float("nan"), "rdp_dp": float("nan")})
    fig = sand_rose_from_drift(by_dir, summary, title="沙玫瑰", synthetic=True, texts=Catalogue("zh").group("sand_rose"))
    words = [t.get_text() for t in fig.texts] + [t.get_text() for t in fig.axes[0].get_xticklabels()]
    latin = set(re.findall(r"[A-Za-z]+", " ".join(words))) - {"DP", "RDP", "RDD", "VU"}
    assert not latin, latin
    assert "北" in words and any("未定义" in w and "不适用" in w for w in words)  # undefined direction and ratio
    assert any("合成演示数据" in w for w in words)


def test_trend_chart_periods_carry_their_years():
    from dldd.report.chapters import period_years

    manifest = {"spec": {"periods": {"baseline": {"start": 2000, "end": 2015},
                                     "reporting": {"reporting_1": {"productivity": {"start": 2004, "end": 2019},
                                                                   "land_cover": {"start": 2015, "end": 2019}}}}}}
    assert period_years(manifest, "baseline") == "2000–2015"
    assert period_years(manifest, "reporting_1") == "2004–2019"  # the productivity years, as SDG 15.3.1 uses
    assert period_years(manifest, "reporting_9") == "" and period_years({}, "baseline") == ""
