"""Boundaries of the user's choice and merged territories (spec ``regions.boundaries`` / ``regions.merge``), and
the boundary disclaimer on every map of the report (site and PDF, English and Chinese).

The boundary files are written by the tests: three lon/lat boxes (synthetic test polygons, not real borders)
coded CHN, TWN and VNM, stored in Web Mercator (EPSG:3857) so that reading them has a CRS to honour; the
reference areas are the geodesic areas of the boxes computed here with pyproj.Geod on densified edges.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
import yaml

from dldd.errors import InputError, SpecError
from dldd.regions.boundaries import NATURAL_EARTH, Boundaries, run_countries
from dldd.regions.registry import Registry, world_countries
from dldd.spec import load_spec, parse_spec

#: The test polygons (lon/lat boxes: west, south, east, north); TWN is merged into CHN.
BOXES = {"CHN": (105.0, 22.0, 120.0, 31.0), "TWN": (120.5, 22.0, 122.0, 25.0), "VNM": (104.0, 20.0, 108.0, 22.0)}
NAMES = {"CHN": "China (test)", "TWN": "Taiwan (test)", "VNM": "Viet Nam (test)"}
LAYER = "countries"
#: Scene of the end-to-end run: covers the boxes at 0.5 degrees (box edges on cell edges).
SCENE = dict(res=0.5, climate_res=1.0, extent=(104.0, 20.0, 124.0, 32.0), regions=["CHN"],
             indicators={"land_cover": {}})
MAP_IMAGE = re.compile(r"figures/(map-[^\"/]+|[^\"/]+-maps)\.png$")


def geodesic_box_km2(box) -> float:
    """Reference: area of a lon/lat box on WGS84 (pyproj.Geod, edges densified to 0.01 degree)."""
    poly = shapely.segmentize(shapely.box(*box), 0.01)
    return abs(pyproj.Geod(ellps="WGS84").geometry_area_perimeter(poly)[0]) / 1e6


def write_boundaries(path: Path, boxes=BOXES, codes=None, crs="EPSG:4326", to_crs="EPSG:3857", **kw) -> Path:
    import geopandas as gpd

    codes = codes or list(boxes)
    gdf = gpd.GeoDataFrame({"ISO3": codes, "NAME": [NAMES.get(c, c) for c in codes]},
                           geometry=[b if isinstance(b, shapely.Geometry) else shapely.box(*b) for b in boxes.values()],
                           crs=crs)
    if to_crs and crs:
        gdf = gdf.to_crs(to_crs)
    gdf.to_file(path, **kw)
    return path


@pytest.fixture(scope="module")
def gpkg(tmp_path_factory) -> Path:
    return write_boundaries(tmp_path_factory.mktemp("bounds") / "bounds.gpkg", layer=LAYER, driver="GPKG")


def file_boundaries(path, **kw) -> Boundaries:
    return Boundaries(path=path, code_field="ISO3", name_field="NAME", layer=LAYER, **kw)


# --- the registry on a boundary file -------------------------------------------------------------------------------
def test_countries_come_from_the_file_in_its_crs(gpkg):
    with pytest.warns(UserWarning, match="no polygon in bounds.gpkg"):  # most Belt and Road countries are absent
        reg = Registry.default(boundaries=file_boundaries(gpkg))
    assert sorted(reg.ids) == ["CHN", "TWN", "VNM"]
    for code, box in BOXES.items():
        r = reg[code]
        assert r.name == NAMES[code]
        assert r.area_km2 == pytest.approx(geodesic_box_km2(box), rel=1e-6)
        # reprojected from EPSG:3857 to lon/lat: the same box (a Mercator box is a lon/lat box)
        assert np.allclose(r.geometry.bounds, box, atol=1e-6)
    assert reg["CHN"].subregion == "East Asia" and reg["VNM"].subregion == "Southeast Asia"
    assert reg["CHN"].area_km2 < 0.2 * {r.id: r for r in world_countries()}["CHN"].area_km2  # not Natural Earth's


def test_merge_unites_the_territory_and_removes_its_code(gpkg):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg = Registry.default(boundaries=file_boundaries(gpkg, merge={"CHN": ("TWN",)}))
    assert sorted(reg.ids) == ["CHN", "VNM"]
    assert reg["CHN"].area_km2 == pytest.approx(geodesic_box_km2(BOXES["CHN"]) + geodesic_box_km2(BOXES["TWN"]),
                                                rel=1e-6)
    union = shapely.union(shapely.box(*BOXES["CHN"]), shapely.box(*BOXES["TWN"]))
    assert shapely.symmetric_difference(reg["CHN"].geometry, union).area < 1e-9
    with pytest.raises(InputError, match="'TWN' is merged into 'CHN'"):
        reg.select(["TWN"])


def _china_with_taiwan_merged(folder):
    """A demo spec (SYNTHETIC inputs, 1 degree) over China with ``regions.merge: {CHN: [TWN]}``."""
    from dldd.demo.scenes import write_scene

    spec_path = write_scene("regional", folder, res=1.0, climate_res=1.0, extent=(73.0, 18.0, 135.0, 54.0),
                            regions=["CHN"], indicators={"land_cover": {}})
    spec = yaml.safe_load(spec_path.read_text())
    spec["regions"]["merge"] = {"CHN": ["TWN"]}
    spec_path.write_text(yaml.safe_dump(spec))
    return spec_path


def test_natural_earth_merge_puts_taiwan_into_chinas_row(tmp_path):
    """On the shipped Natural Earth data: with merge {CHN: [TWN]} China's row holds Taiwan's area."""
    from dldd.pipeline import run_assessment

    world = {r.id: r for r in world_countries()}
    spec_path = _china_with_taiwan_merged(tmp_path)
    run_assessment(load_spec(spec_path), tmp_path)
    t = pd.read_csv(tmp_path / "tables" / "so1_1_land_cover_areas.csv")
    assert set(t.region) == {"CHN"}
    expected = world["CHN"].area_km2 + world["TWN"].area_km2
    for year, rows in t.groupby("year"):
        assert rows.area_km2.sum() == pytest.approx(expected, rel=2e-3), year
        assert rows.area_km2.sum() > world["CHN"].area_km2 + 0.5 * world["TWN"].area_km2, year
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["boundaries"]["source"] == NATURAL_EARTH and manifest["boundaries"]["merge"] == {"CHN": ["TWN"]}


# --- refusals ------------------------------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:'crs' was not provided")  # pyogrio's note on writing the file without CRS
def test_a_file_without_crs_is_refused(tmp_path):
    shp = write_boundaries(tmp_path / "nocrs.shp", crs=None)
    assert not shp.with_suffix(".prj").exists()
    with pytest.raises(InputError, match=r"regions.boundaries.path: .*nocrs\.shp has no CRS"):
        Boundaries(path=shp, code_field="ISO3").countries()


def test_a_shapefile_with_crs_is_read(tmp_path):
    shp = write_boundaries(tmp_path / "ok.shp")
    countries, _ = Boundaries(path=shp, code_field="ISO3").countries()
    assert {r.id: round(r.area_km2) for r in countries} == {c: round(geodesic_box_km2(b)) for c, b in BOXES.items()}


def test_missing_code_field_and_unknown_codes_are_refused(gpkg, tmp_path):
    with pytest.raises(InputError, match=r"no field 'ISO_A3'.*ISO3"):
        Boundaries(path=gpkg, code_field="ISO_A3", layer=LAYER).countries()
    with pytest.raises(InputError, match=r"regions.merge: 'HKG' is not a country of the boundaries \(bounds.gpkg"):
        file_boundaries(gpkg, merge={"CHN": ("HKG",)}).countries()
    bad = write_boundaries(tmp_path / "bad.geojson", codes=["CHN", "-99", "VNM"])
    with pytest.raises(InputError, match=r"feature 1 .*'-99' is not an ISO 3166-1 alpha-3 code"):
        Boundaries(path=bad, code_field="ISO3").countries()
    custom = write_boundaries(tmp_path / "custom.geojson", codes=["CHN", "XTW", "VNM"])
    countries, _ = Boundaries(path=custom, code_field="ISO3", custom_codes=("XTW",), merge={"CHN": ("XTW",)}).countries()
    assert [r.id for r in countries] == ["CHN", "VNM"]


def test_spec_refuses_bad_merges_and_boundaries_naming_field_and_value(tmp_path, gpkg):
    base = {"name": "t", "inputs": {}, "indicators": {"land_cover": {}}}
    cases = [
        ({"include": ["CHN"], "merge": {"CHN": ["CHN"]}}, "regions.merge: CHN is merged into itself"),
        ({"include": ["CHN"], "merge": {"CHN": ["TWN"], "VNM": ["TWN"]}}, "TWN is merged into both CHN and VNM"),
        ({"include": ["CHN"], "merge": {"CHN": ["T W N"]}}, "'T W N' is not a country code"),
        ({"include": ["CHN"], "merge": {"CHN": ["TWN"], "TWN": ["HKG"]}}, "TWN is a merge target"),
        ({"include": ["CHN"], "boundaries": {"path": "b.gpkg"}}, "regions.boundaries.code_field: Field required"),
        ({"include": ["CHN"], "boundaries": {"path": "b.gpkg", "code_field": "ISO3", "cdoe": 1}},
         "regions.boundaries.cdoe: unknown key"),
    ]
    for regions, message in cases:
        with pytest.raises(SpecError, match=re.escape(message)):
            parse_spec({**base, "regions": regions})
    # a merge naming a code the boundary file lacks is refused when the regions are built (run and spec check)
    from dldd.pipeline import build_regions

    spec = parse_spec({**base, "regions": {"include": ["CHN"], "merge": {"CHN": ["HKG"]},
                                           "boundaries": {"path": gpkg.name, "code_field": "ISO3", "layer": LAYER}}},
                      base_dir=gpkg.parent)
    with pytest.raises(InputError, match="'HKG' is not a country of the boundaries"):
        build_regions(spec)


def test_a_projected_country_across_the_antimeridian_is_refused(tmp_path):
    import geopandas as gpd

    box = gpd.GeoSeries([shapely.segmentize(shapely.box(170.0, 60.0, 190.0, 65.0), 1.0)], crs="EPSG:4326")
    path = tmp_path / "chukotka.gpkg"
    gpd.GeoDataFrame({"ISO3": ["RUS"]}, geometry=box.to_crs("EPSG:3832")).to_file(path)  # Mercator centred at 150 E
    with pytest.raises(InputError, match="crosses the antimeridian"):
        Boundaries(path=path, code_field="ISO3").countries()


def test_a_changed_boundary_file_reruns_the_stages(tmp_path):
    from dldd.pipeline.resume import spec_files

    path = write_boundaries(tmp_path / "b.geojson")
    spec = parse_spec({"name": "t", "inputs": {}, "indicators": {"land_cover": {}},
                       "regions": {"include": ["CHN"], "boundaries": {"path": "b.geojson", "code_field": "ISO3"}}},
                      base_dir=tmp_path)
    before = spec_files(spec)
    path.unlink()
    write_boundaries(path, boxes={**BOXES, "CHN": (105.0, 22.0, 119.0, 31.0)})
    assert spec_files(spec) != before


def test_invalid_polygons_are_repaired_with_a_note(tmp_path):
    bowtie = shapely.Polygon([(105, 22), (120, 31), (120, 22), (105, 31)])  # self-intersecting
    assert not bowtie.is_valid
    path = write_boundaries(tmp_path / "bowtie.gpkg", boxes={"CHN": bowtie, "VNM": BOXES["VNM"]}, to_crs=None)
    b = Boundaries(path=path, code_field="ISO3")
    (chn, _), notes = b.countries()
    assert chn.geometry.is_valid and chn.area_km2 > 0
    assert any("feature 0 (CHN): invalid polygon" in n and "make_valid" in n for n in notes)
    assert b.record()["notes"] == list(notes)


def test_changed_boundary_file_is_refused_by_the_report(tmp_path):
    path = write_boundaries(tmp_path / "b.geojson")
    manifest = {"spec": {"regions": {"boundaries": {"path": "b.geojson", "code_field": "ISO3"}, "merge": {"CHN": ["TWN"]}}},
                "spec_base_dir": str(tmp_path),
                "boundaries": {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()}}
    assert sorted(run_countries(manifest)) == ["CHN", "VNM"]
    manifest["boundaries"]["sha256"] = "0" * 64
    with pytest.raises(InputError, match="changed since the run"):
        run_countries(manifest)
    path.unlink()
    with pytest.raises(InputError, match="is gone"):
        run_countries(manifest)


# --- the whole run and its report ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bounded_run(tmp_path_factory) -> Path:
    """A small synthetic run whose countries come from a boundary file, TWN merged into CHN."""
    from dldd.demo.scenes import write_scene
    from dldd.pipeline import run_assessment

    folder = tmp_path_factory.mktemp("bounded")
    spec_path = write_scene("regional", folder, **SCENE)
    write_boundaries(folder / "bounds.gpkg", layer=LAYER, driver="GPKG")
    spec = yaml.safe_load(spec_path.read_text())
    spec["regions"] = {"include": ["CHN", "VNM"], "merge": {"CHN": ["TWN"]},
                       "boundaries": {"path": "bounds.gpkg", "code_field": "ISO3", "name_field": "NAME", "layer": LAYER}}
    spec_path.write_text(yaml.safe_dump(spec))
    run_assessment(load_spec(spec_path), folder)
    return folder


@pytest.fixture(scope="module")
def reports(bounded_run) -> dict[str, Path]:
    from dldd.report import build_report

    return {lang: build_report(bounded_run, lang, out_dir=bounded_run / f"report_{lang}").parent for lang in ("en", "zh")}


def test_tables_use_the_files_polygons_and_the_merge(bounded_run):
    expected = {"CHN": geodesic_box_km2(BOXES["CHN"]) + geodesic_box_km2(BOXES["TWN"]),
                "VNM": geodesic_box_km2(BOXES["VNM"])}
    t = pd.read_csv(bounded_run / "tables" / "so1_1_land_cover_areas.csv")
    assert set(t.region) == set(expected)
    for (region, year), rows in t.groupby(["region", "year"]):
        assert rows.area_km2.sum() == pytest.approx(expected[region], rel=1e-3), (region, year)
    for csv in (bounded_run / "tables").glob("*.csv"):  # the merged-away code is in no table
        assert "TWN" not in csv.read_text(), csv
    summary = json.loads((bounded_run / "summary.json").read_text())
    assert {r["id"]: r["name"] for r in summary["regions"]} == {"CHN": NAMES["CHN"], "VNM": NAMES["VNM"]}
    rec = json.loads((bounded_run / "manifest.json").read_text())["boundaries"]
    assert rec["source"] == f"bounds.gpkg ({LAYER})" and rec["crs"] == "EPSG:3857" and rec["features"] == 3
    assert rec["merge"] == {"CHN": ["TWN"]}
    assert rec["sha256"] == hashlib.sha256((bounded_run / "bounds.gpkg").read_bytes()).hexdigest()


def test_report_outlines_come_from_the_file(bounded_run):
    from dldd.report import data as rd
    from dldd.report.build import _world, region_geometries

    run = rd.load_run(bounded_run)
    geoms = region_geometries(run)
    union = shapely.union(shapely.box(*BOXES["CHN"]), shapely.box(*BOXES["TWN"]))
    assert shapely.symmetric_difference(geoms["CHN"], union).area < 1e-9  # China's outline includes the territory
    assert shapely.symmetric_difference(geoms["VNM"], shapely.box(*BOXES["VNM"])).area < 1e-9
    # the grey context countries are the file's too: Natural Earth's Laos or Myanmar (in view) are not drawn
    assert sorted(_world(run)) == ["CHN", "VNM"]


def test_methods_and_captions_name_the_boundaries_and_merges(reports):
    en = (reports["en"] / "index.html").read_text()
    methods = en[en.index('id="method-boundaries"'):]
    assert "bounds.gpkg (countries)" in methods and "Taiwan into China (test)" in methods
    zh = (reports["zh"] / "index.html").read_text()
    assert "中国台湾省并入" in zh  # pycountry's Chinese name of the merged territory


class _Figures(HTMLParser):
    """``(img src, figcaption text)`` of every figure of a page."""

    def __init__(self):
        super().__init__()
        self.figs, self._src, self._cap = [], None, None

    def handle_starttag(self, tag, attrs):
        if tag == "img" and self._src is None:
            self._src = dict(attrs).get("src", "")
        elif tag == "figcaption":
            self._cap = []

    def handle_endtag(self, tag):
        if tag == "figcaption" and self._cap is not None:
            self.figs.append((self._src, "".join(self._cap)))
            self._src, self._cap = None, None

    def handle_data(self, data):
        if self._cap is not None:
            self._cap.append(data)


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_every_map_carries_the_disclaimer_on_the_site_and_in_the_pdf(bounded_run, reports):
    from dldd.report.messages import Catalogue

    for lang, folder in reports.items():
        disclaimer = Catalogue(lang).plain("map_disclaimer")
        maps = []
        for page in sorted(folder.glob("*.html")):
            parser = _Figures()
            parser.feed(page.read_text())
            for src, caption in parser.figs:
                if MAP_IMAGE.search(src or ""):
                    maps.append(src)
                    assert disclaimer in caption, (lang, page.name, src)
        drawn = sorted(f"figures/{p.name}" for p in (folder / "figures").glob("*.png") if MAP_IMAGE.search(f"figures/{p.name}"))
        assert sorted(set(maps)) == drawn and len(drawn) >= 4, (lang, drawn)  # >= 2 synthesis maps + 2 profiles
        for svg in (folder / "figures").glob("map-*.svg"):  # the disclaimer is drawn into the map itself
            drawn_text = " ".join(re.findall(r"<!-- (.*?) -->", svg.read_text()))  # matplotlib's text, line by line
            assert _squash(disclaimer) in _squash(drawn_text), svg
        pdf = folder / "report.pdf"
        text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, timeout=120).stdout.decode()
        # every map of the PDF (the site's, less duplicates between pages) has the disclaimer under it
        assert _squash(text).count(_squash(disclaimer)) == len(set(maps)), lang


def test_map_drawing_refuses_a_map_without_disclaimer(tmp_path, monkeypatch):
    import rasterio
    from rasterio.transform import from_origin

    from dldd.report import figures as rf

    tif = tmp_path / "m.tif"
    with rasterio.open(tif, "w", driver="GTiff", width=20, height=10, count=1, dtype="float32", crs="EPSG:4326",
                       transform=from_origin(104.0, 32.0, 1.0, 1.0), nodata=float("nan")) as dst:
        dst.write(np.linspace(-1, 1, 200, dtype="float32").reshape(10, 20), 1)
    outline = [shapely.box(*BOXES["CHN"])]
    common = dict(scale_label="{km} km", nodata_label="no data", outlines=outline)
    with pytest.raises(ValueError, match="disclaimer"):
        rf.draw_map(tif, tmp_path / "a.png", title="t", legend=None, class_labels={}, **common)
    layer = rf.MapLayer(tif, "t", None, {}, "", True)
    with pytest.raises(ValueError, match="disclaimer"):
        rf.draw_map_panels(tmp_path / "b.png", layers=[layer, layer], note="  ", **common)
    texts = []
    real = rf._write_versions

    def spy(under, words, versions, **kw):  # the words drawn over the maps, in each language
        texts.extend(t.get_text() for v in versions for t in words(v).texts)
        return real(under, words, versions, **kw)

    monkeypatch.setattr(rf, "_write_versions", spy)
    rf.draw_map_panels(tmp_path / "c.png", layers=[layer, layer], note="NOTE ON BOUNDARIES", **common)
    assert "NOTE ON BOUNDARIES" in texts and (tmp_path / "c.png").is_file()


def test_regions_list_draws_the_countries_as_the_spec_does(tmp_path):
    """`dldd regions list --spec`: the spec's merges apply (Taiwan's area in China's row, TWN not listed)."""
    from typer.testing import CliRunner

    from dldd.cli import app

    world = {r.id: r for r in world_countries()}
    spec_path = _china_with_taiwan_merged(tmp_path)
    rows = {}
    for args in ([], ["--spec", str(spec_path)]):
        r = CliRunner().invoke(app, ["regions", "list", "--format", "csv", *args])
        assert r.exit_code == 0, r.output
        rows[bool(args)] = pd.read_csv(io.StringIO(r.output)).set_index("iso3")
    assert rows[False].loc["CHN", "area_km2"] == pytest.approx(world["CHN"].area_km2, rel=1e-6)
    assert rows[True].loc["CHN", "area_km2"] == pytest.approx(world["CHN"].area_km2 + world["TWN"].area_km2, rel=1e-6)
    assert "TWN" not in rows[True].index and len(rows[True]) == len(rows[False])


def test_the_manifest_records_the_boundary_file_the_run_used(tmp_path, monkeypatch):
    """A boundary file edited while the stages compute: the manifest keeps the checksum of the file the run's
    regions were read from (the report then refuses the edited file), not of the file found at the end."""
    import dldd.pipeline as pipeline
    from dldd.demo.scenes import write_scene

    spec_path = write_scene("regional", tmp_path, **SCENE)
    path = write_boundaries(tmp_path / "bounds.gpkg", layer=LAYER, driver="GPKG")
    used = hashlib.sha256(path.read_bytes()).hexdigest()
    spec = yaml.safe_load(spec_path.read_text())
    spec["regions"] = {"include": ["CHN", "VNM"], "boundaries": {"path": "bounds.gpkg", "code_field": "ISO3",
                                                                 "layer": LAYER}}
    spec_path.write_text(yaml.safe_dump(spec))
    real = pipeline._run_stages

    def edit_then_run(*args, **kw):
        path.unlink()
        write_boundaries(path, layer=LAYER, driver="GPKG", boxes={**BOXES, "CHN": (105.0, 22.0, 119.0, 31.0)})
        return real(*args, **kw)

    monkeypatch.setattr(pipeline, "_run_stages", edit_then_run)
    pipeline.run_assessment(load_spec(spec_path), tmp_path / "run")
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert hashlib.sha256(path.read_bytes()).hexdigest() != used
    assert manifest["boundaries"]["sha256"] == used


def test_the_repair_notes_are_worded_in_the_reports_language(tmp_path):
    """The notes of a repaired boundary file (English in the manifest) read in Chinese in the zh report."""
    from types import SimpleNamespace

    from dldd.report.build import _Builder
    from dldd.report.messages import Catalogue

    bowtie = shapely.Polygon([(105, 22), (120, 31), (120, 22), (105, 31)])
    path = write_boundaries(tmp_path / "bowtie.gpkg", boxes={"CHN": bowtie, "VNM": BOXES["VNM"]}, to_crs=None)
    notes = Boundaries(path=path, code_field="ISO3").record()["notes"]
    assert len(notes) == 2
    zh = SimpleNamespace(msgs=Catalogue("zh"), code_name=lambda c: {"CHN": "中国"}.get(c, c))
    worded = [_Builder.boundary_note(zh, n) for n in notes]
    assert worded[0].startswith("要素 0（中国）：无效多边形") and "修复" in worded[0]
    assert worded[1].startswith("中国：修复后面积") and worded[1].endswith("km²")
    assert not any(w in " ".join(worded) for w in ("feature", "repaired", "area after"))
    en = SimpleNamespace(msgs=Catalogue("en"), code_name=lambda c: c)
    assert [_Builder.boundary_note(en, n) for n in notes][0] == notes[0]  # English: as recorded
