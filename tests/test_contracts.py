"""Declared contracts (dldd.pipeline.contracts): the chain of the stages is checked at `spec check`, what a
stage writes must be declared, the run writes the declarations, and the report, the QGIS styles and the
report's headline groups read them instead of name prefixes."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from typer.testing import CliRunner

from dldd.cli import app
from dldd.core.legend import Legend
from dldd.demo.scenes import write_scene
from dldd.errors import SpecError
from dldd.pipeline import run_assessment
from dldd.pipeline.contracts import ContractError, check_chain, check_table, declared_map, legend_from_json, legend_to_json
from dldd.pipeline.registry import STAGES
from dldd.spec import load_spec

SMALL = dict(res=0.1, climate_res=0.5)


@pytest.fixture(scope="module")
def local_spec(tmp_path_factory):
    folder = tmp_path_factory.mktemp("local")
    return write_scene("local", folder, indicators={"aridity": {}}, **SMALL)


def test_registry_chain_holds_and_every_consumed_product_is_provided():
    check_chain(STAGES, list(STAGES))
    provided = {p.name for s in STAGES.values() for p in s.provides}
    for stage in STAGES.values():
        assert set(stage.consumes) | set(stage.uses) <= provided, stage.name
        assert stage.provides, f"stage {stage.name} declares nothing"


def test_spec_check_refuses_a_stage_consuming_what_no_earlier_stage_provides(local_spec, monkeypatch):
    runner = CliRunner()
    assert runner.invoke(app, ["spec", "check", str(local_spec)]).exit_code == 0
    monkeypatch.setitem(STAGES, "aridity", dataclasses.replace(STAGES["aridity"], consumes=("wind_climatology",)))
    r = runner.invoke(app, ["spec", "check", str(local_spec)])
    assert r.exit_code == 2, r.output
    assert "'aridity'" in r.output and "'wind_climatology'" in r.output and "no stage of the run provides it" in r.output
    with pytest.raises(SpecError, match="wind_climatology"):  # `dldd run` checks the same before any stage
        run_assessment(load_spec(local_spec), local_spec.parent / "out")
    assert not (local_spec.parent / "out" / "manifest.json").exists()


def test_a_product_of_a_later_stage_is_refused_naming_both(monkeypatch):
    monkeypatch.setitem(STAGES, "aridity", dataclasses.replace(STAGES["aridity"], consumes=("so3_hazard",)))
    with pytest.raises(SpecError, match="stage 'aridity' consumes product 'so3_hazard'; stage 'drought' provides "
                                        "it but runs after"):
        check_chain(STAGES, ["aridity", "drought"])
    monkeypatch.setitem(STAGES, "aridity", dataclasses.replace(STAGES["aridity"], consumes=(), uses=("esa_class",)))
    with pytest.raises(SpecError, match="uses product 'esa_class', which stage 'sensitivity' provides only after"):
        check_chain(STAGES, ["aridity", "sensitivity"])
    check_chain(STAGES, ["aridity"])  # a used product whose stage is not in the run: fine


def test_a_map_or_table_a_stage_does_not_declare_is_refused():
    stage = STAGES["sdg_15_3_1"]
    assert declared_map(stage, "sdg_15_3_1_reporting_1").name == "sdg_15_3_1_{period}"
    assert declared_map(stage, "sdg_15_3_1_te_baseline").name == "sdg_15_3_1_te_{period}"  # most literal wins
    assert declared_map(STAGES["land_cover"], "land_cover_degradation_baseline").name == "land_cover_degradation_{period}"
    assert declared_map(STAGES["land_cover"], "land_cover_2022").name == "land_cover_{year}"
    with pytest.raises(ContractError, match="stage 'sdg_15_3_1' wrote map 'esa_class'"):
        declared_map(stage, "esa_class")
    with pytest.raises(ContractError, match="without its declared column"):
        check_table(stage, "so1_4_sdg_15_3_1", ["region", "period", "class"])
    with pytest.raises(ContractError, match="does not declare"):
        check_table(stage, "aridity_zone_areas", ["region"])


def test_run_writes_the_declarations_of_what_it_produced(local_spec, tmp_path):
    from dldd.indicators.aridity import ARIDITY_ZONES

    out = tmp_path / "run"
    ctx = run_assessment(load_spec(local_spec), out, only=["aridity"])
    declared = json.loads((out / "contracts.json").read_text())
    assert set(declared["maps"]) == set(ctx.maps) and set(declared["tables"]) == set(ctx.tables)
    zones = declared["maps"]["aridity_zones"]
    assert zones["stage"] == "aridity" and zones["dtype"] == "int8" and zones["condition"] == "aridity_class"
    assert legend_from_json(zones["legend"]) == ARIDITY_ZONES
    assert declared["maps"]["aridity_index"]["legend"] is None and declared["maps"]["aridity_index"]["units"] == "1"
    t = declared["tables"]["aridity_zone_areas"]
    assert t["shares"] and t["groups"]["drylands"] == [1, 2, 3, 4]
    assert t["columns"] == list(ctx.tables["aridity_zone_areas"].columns)
    assert declared["products"]["aridity_class"]["dims"] == ["y", "x"]
    assert str(out / "contracts.json") in {str(out / p) for p in _owned(out)}  # in the run folder's ledger


def _owned(out):
    from dldd.core import io

    with io.RunFolder(out) as folder:
        return folder.owned()


def test_report_and_qgis_legends_come_from_the_declarations(tmp_path):
    """A map's legend is the one its declaration carries (codes and classes), whatever its name says: a
    made-up legend is used as declared, and a map named like an SDG map without a declared legend gets none."""
    from dldd.report import figures as rf
    from dldd.report import qgis

    made_up = Legend.from_pairs("made_up", [(7, "seven", "#112233"), (9, "nine", "#445566")])
    declared = {"maps": {"anything": {"legend": legend_to_json(made_up)}, "sdg_15_3_1_baseline": {"legend": None}}}
    leg = rf.legend_for_map("anything", {}, declared)
    assert leg.codes == [7, 9] and [c.color for c in leg.classes] == ["#112233", "#445566"]
    assert rf.legend_for_map("sdg_15_3_1_baseline", {}, declared) is None
    assert rf.legend_for_map("sdg_15_3_1_baseline", {}, {}) is None  # no prefix corridor any more
    sdg3 = rf.legend_for_map("m", {}, {"maps": {"m": {"legend": legend_to_json(STAGES["sdg_15_3_1"].provides[1].legend)}}})
    assert sdg3.codes == [-1, 0, 1] and [c.color for c in sdg3.classes] == list(rf.REPORT_PALETTES["sdg3"])
    assert rf.class_colors(rf.legends(declared).values())["seven"] == "#112233"
    entries = ET.fromstring(qgis.qml_style(leg).split("-->", 1)[1]).findall(".//paletteEntry")
    assert [(e.get("value"), e.get("color"), e.get("label")) for e in entries] == [("7", "#112233", "seven"),
                                                                                   ("9", "#445566", "nine")]
    import rioxarray  # noqa: F401
    import xarray as xr

    from dldd.core import io

    da = xr.DataArray(np.array([[7, 9], [9, 7]], dtype="int8"), dims=("y", "x"),
                      coords={"y": [1.5, 0.5], "x": [0.5, 1.5]}).rio.write_crs("EPSG:4326")
    io.write_cog(tmp_path / "maps" / "anything.tif", da)
    import functools

    written, kept = qgis.write_qgis(tmp_path, {"anything": "maps/anything.tif"},
                                    functools.partial(rf.legend_for_map, declared=declared), str, "t")
    qml = ET.fromstring((tmp_path / "maps" / "anything.qml").read_text().split("-->", 1)[1])
    assert [e.get("value") for e in qml.findall(".//paletteEntry")] == ["7", "9"] and not kept


def test_report_headline_groups_come_from_the_declarations(tmp_path):
    import pandas as pd

    from dldd.report import data as rd

    t = pd.DataFrame({"region": ["A"] * 3, "period": ["p"] * 3, "code": [1, 2, 5], "class": ["x", "y", "z"],
                      "area_km2": [10.0, 30.0, 60.0]})
    run = rd.Run(tmp_path, {}, {}, {"aridity_zone_areas": t},
                 {"tables": {"aridity_zone_areas": {"groups": {"drylands": [2]}, "shares": True, "stage": "aridity"}}})
    m = {x.key: x for x in rd.compute_metrics(run)}
    assert m["drylands_pct"].value(["A"]) == pytest.approx(30.0)  # the declared group only: code 2
    assert run.share_tables() == ["aridity_zone_areas"]
    assert "drylands_pct" not in {x.key for x in rd.compute_metrics(rd.Run(tmp_path, {}, {}, {"aridity_zone_areas": t}))}

