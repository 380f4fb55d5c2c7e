"""Region registry (METHODS 7), TopoJSON decoding across the antimeridian, coverage fractions and the
`regions list` table. References: METHODS.md section 7 (parsed here), published country areas, areas of the
same polygons in equal-area projections (pyproj transforms + planar shoelace, independent of pyproj.Geod),
and polygon areas against rasterised areas."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pyproj
import pytest
import rioxarray  # noqa: F401
import shapely
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from dldd.core.areas import cell_area_km2, geodesic_area_km2
from dldd.errors import InputError
from dldd.regions import Registry, cli_list, coverage_fraction, region_fractions
from dldd.regions.registry import load_subregions

METHODS = Path(__file__).resolve().parent / "data" / "methods_section7.md"  # see data/PROVENANCE.md
#: Published areas (km²): Kazakhstan 2,724,900 (issue 2); Russia 17,098,246 (Rosstat, incl. inland waters).
KAZ_KM2 = 2_724_900.0
RUS_KM2 = 17_098_246.0


@pytest.fixture(scope="module")
def reg() -> Registry:
    return Registry.default()


def _geo_grid(x0, x1, y0, y1, d, *, north_up=True):
    x = np.arange(x0 + d / 2, x1 - d / 4, d)
    y = np.arange(y1 - d / 2, y0, -d) if north_up else np.arange(y0 + d / 2, y1, d)
    da = xr.DataArray(np.zeros((y.size, x.size), "float32"), dims=("y", "x"), coords={"y": y, "x": x})
    return da.rio.write_crs("EPSG:4326")


def _equal_area_km2(geom, proj: str) -> float:
    """Planar area after densifying and projecting to an equal-area CRS (independent of pyproj.Geod)."""
    t = pyproj.Transformer.from_crs(4326, pyproj.CRS(proj), always_xy=True)
    g = shapely.transform(shapely.segmentize(geom, 0.05), lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
    return g.area / 1e6


def _methods_section7() -> dict[str, list[str]]:
    text = METHODS.read_text()
    sec = text[text.index("## 7."):]
    out = {}
    for m in re.finditer(r"^- ([^:\n]+): ([A-Z, ]+)$", sec, flags=re.M):
        out[m.group(1).strip()] = [c.strip() for c in m.group(2).split(",")]
    return out


# --- registry ------------------------------------------------------------------------------------------
def test_subregions_are_exactly_methods_section7(reg):
    expected = _methods_section7()
    assert len(expected) == 9 and sum(map(len, expected.values())) >= 80
    assert load_subregions() == expected
    assert reg.subregions == expected  # every listed country has a polygon, in METHODS order
    assert reg.missing == {}
    assert [r.id for r in reg.members] == [c for codes in expected.values() for c in codes]


def test_kazakhstan_area(reg):
    kaz = reg["KAZ"]
    assert kaz.name == "Kazakhstan" and kaz.subregion == "Central Asia"
    assert kaz.area_km2 == pytest.approx(KAZ_KM2, rel=0.02)
    assert kaz.area_km2 == pytest.approx(_equal_area_km2(kaz.geometry, "+proj=cea +ellps=WGS84"), rel=1e-5)


def test_russia_across_the_antimeridian(reg):
    rus = reg["RUS"]
    minx, _, maxx, _ = rus.geometry.bounds
    assert minx == pytest.approx(-180.0) and maxx == pytest.approx(180.0)  # cut at the antimeridian
    # Chukotka east of 180 degrees is kept (stored across the antimeridian in the TopoJSON)
    assert geodesic_area_km2(rus.geometry.intersection(shapely.box(-180, -90, -160, 90))) > 50_000
    assert rus.area_km2 == pytest.approx(RUS_KM2, rel=0.015)
    ea = _equal_area_km2(rus.geometry, "+proj=laea +lat_0=90 +lon_0=100 +ellps=WGS84")
    assert rus.area_km2 == pytest.approx(ea, rel=1e-5)


def test_fiji_and_antarctica_spherical_rings(reg):
    # Fiji has an island ring stored from 180 to -180; Antarctica's ring encircles the pole
    assert reg["FJI"].area_km2 == pytest.approx(18_274, rel=0.03)
    ata = reg["ATA"]
    assert 11.5e6 < ata.area_km2 < 14.5e6
    assert ata.area_km2 == pytest.approx(_equal_area_km2(ata.geometry, "+proj=laea +lat_0=-90 +ellps=WGS84"), rel=1e-5)


def test_uncoded_features_are_mapped(reg):
    # Somaliland merged into Somalia, N. Cyprus into Cyprus, Kosovo under a user-assigned code
    assert reg["SOM"].area_km2 == pytest.approx(637_657, rel=0.03)
    assert reg["CYP"].area_km2 == pytest.approx(9_251, rel=0.03)
    assert reg["XKX"].name == "Kosovo" and reg["XKX"].subregion is None


def test_add_drop_regroup_are_immutable(reg):
    r2 = reg.regroup("AZE", "Caspian")
    assert r2["AZE"].subregion == "Caspian" and "AZE" in r2.subregions["Caspian"]
    assert "AZE" not in r2.subregions["Caucasus and Eastern Europe"]
    assert reg["AZE"].subregion == "Caucasus and Eastern Europe"  # original unchanged
    r3 = r2.add("ZAF", "southern africa")
    assert r3["ZAF"].subregion == "southern africa" and r3.select(["Southern Africa"]) == [r3["ZAF"]]
    r4 = r3.drop("RUS")
    assert r4["RUS"].subregion is None and "RUS" not in [r.id for r in r4.members]
    assert r4.select(["RUS"])[0].id == "RUS"  # still selectable by id
    assert len(r4.members) == len(reg.members)  # +ZAF, -RUS
    r5 = reg.drop("Central Asia")
    assert r5.subregions.get("Central Asia") is None and len(r5.members) == len(reg.members) - 5
    with pytest.raises(InputError, match="already in sub-region"):
        reg.add("KAZ", "East Asia")
    with pytest.raises(InputError, match="not a member"):
        reg.regroup("ZAF", "Sahel and Horn of Africa")
    with pytest.raises(InputError, match="nothing to drop"):
        reg.drop("USA")


def test_select_mixes_codes_names_and_subregions(reg):
    sel = reg.select(["Central Asia", "mng", "Kazakhstan", "Russian Federation"])
    assert [r.id for r in sel] == ["KAZ", "KGZ", "TJK", "TKM", "UZB", "MNG", "RUS"]
    assert len(reg.select("Belt and Road")) == len(reg.members)
    # Natural Earth and ISO 3166 names are aliases
    assert [r.id for r in reg.select(["Russia", "Turkey", "Iran, Islamic Republic of", "Bosnia and Herz."])] == [
        "RUS", "TUR", "IRN", "BIH"]


@pytest.mark.parametrize("bad, suggestion", [("Kazakstan", "Kazakhstan"), ("Central Asai", "Central Asia"),
                                             ("KZA", "KAZ"), ("Sahel", "Sahel and Horn of Africa")])
def test_unknown_name_suggests_close_matches(reg, bad, suggestion):
    with pytest.raises(InputError, match=f"unknown .*'{bad}'.*did you mean.*'{suggestion}'"):
        reg.select(["KAZ", bad])


def test_listed_country_without_polygon_is_reported():
    with pytest.warns(UserWarning, match="TUV"):
        r = Registry.default(subregions={"Pacific": ["FJI", "TUV"]})
    assert r.missing == {"TUV": "Pacific"} and [m.id for m in r.members] == ["FJI"]
    with pytest.raises(InputError, match="TUV.*no polygon"):
        r.select(["TUV"])


def test_user_zones_from_geojson_and_geometry(reg, tmp_path):
    # a two-feature GeoJSON written by hand (Hotan oasis rim parts), merged into one zone
    feats = [
        {"type": "Feature", "properties": {"zone": "hotan", "label": "Hotan rim"},
         "geometry": shapely.geometry.mapping(shapely.box(79.0, 36.8, 80.5, 37.4))},
        {"type": "Feature", "properties": {"zone": "hotan", "label": "Hotan rim"},
         "geometry": shapely.geometry.mapping(shapely.box(80.5, 36.9, 81.5, 37.5))},
        {"type": "Feature", "properties": {"zone": "yutian", "label": "Yutian"},
         "geometry": shapely.geometry.mapping(shapely.box(81.5, 36.5, 82.0, 37.0))},
    ]
    path = tmp_path / "zones.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    r2 = reg.add_zones_from_file(path, id_field="zone", name_field="label", subregion="Taklimakan rim")
    hotan = r2["hotan"]
    assert hotan.kind == "zone" and hotan.name == "Hotan rim" and hotan.subregion == "Taklimakan rim"
    ref = geodesic_area_km2(shapely.box(79.0, 36.8, 80.5, 37.4)) + geodesic_area_km2(shapely.box(80.5, 36.9, 81.5, 37.5))
    assert hotan.area_km2 == pytest.approx(ref, rel=1e-9)
    assert [r.id for r in r2.select(["Taklimakan rim"])] == ["hotan", "yutian"]
    one = reg.add_zones_from_file(path, zone_id="rim")
    assert one["rim"].area_km2 == pytest.approx(ref + r2["yutian"].area_km2, rel=1e-9)
    with pytest.raises(InputError, match="id_field"):
        reg.add_zones_from_file(path)
    # a shapely zone drawn across the antimeridian (170..190 E) is wrapped into [-180, 180]
    r3 = reg.add_zone("bering", shapely.box(170, 60, 190, 66))
    assert r3["bering"].geometry.bounds[0] == pytest.approx(-180) and r3["bering"].geometry.bounds[2] == pytest.approx(180)
    assert r3["bering"].area_km2 == pytest.approx(geodesic_area_km2(shapely.box(170, 60, 190, 66)), rel=1e-9)
    with pytest.raises(InputError, match="already used"):
        r3.add_zone("KAZ", shapely.box(0, 0, 1, 1))


# --- rasterisation -------------------------------------------------------------------------------------
@pytest.mark.parametrize("window", [(0.0, 360.0), (20.0, 380.0), (-180.0, 180.0)])
def test_russia_coverage_across_the_antimeridian(reg, window):
    rus = reg["RUS"]
    like = _geo_grid(window[0], window[1], 40.0, 84.0, 0.25)
    cov = coverage_fraction(rus.geometry, like)
    assert cov.dtype == np.float32 and float(cov.min()) >= 0 and float(cov.max()) <= 1
    assert float((cov * cell_area_km2(like)).sum()) == pytest.approx(rus.area_km2, rel=0.005)


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:32644"])
@pytest.mark.parametrize("shift", [0.0, 360.0])
def test_cell_window_holds_every_covered_cell(crs, shift):
    """Coverage on the window cell_window gives equals the whole grid's coverage, which is zero outside
    it; a polygon off the grid gives an empty window."""
    from dldd.regions.rasterize import cell_window

    if crs == "EPSG:4326":
        like = _geo_grid(75.0 + shift, 85.0 + shift, 35.0, 40.0, 0.05)
    else:
        x = 300000.0 + 1000.0 * (np.arange(400) + 0.5)
        y = 4400000.0 - 1000.0 * (np.arange(300) + 0.5)
        like = xr.DataArray(np.zeros((300, 400), "float32"), dims=("y", "x"), coords={"y": y, "x": x}).rio.write_crs(crs)
    poly = shapely.Polygon([(79.1, 37.0), (80.3, 37.2), (80.0, 37.9), (79.4, 37.6)])
    win = cell_window(poly, like)
    whole = coverage_fraction(poly, like).values
    assert 0 < win["y"].stop - win["y"].start < like.sizes["y"] and 0 < win["x"].stop - win["x"].start < like.sizes["x"]
    part = coverage_fraction(poly, like.isel(win)).values
    np.testing.assert_allclose(part, whole[win["y"], win["x"]], atol=1e-6)
    outside = whole.copy()
    outside[win["y"], win["x"]] = 0
    assert whole.sum() > 0 and outside.sum() == 0
    far = cell_window(shapely.box(10, 10, 11, 11), like)
    assert far["y"].stop - far["y"].start == 0 or far["x"].stop - far["x"].start == 0


def test_coverage_on_a_window_straddling_the_antimeridian(reg):
    rus = reg["RUS"]
    like = _geo_grid(170.0, 190.0, 60.0, 75.0, 0.05)
    cov = coverage_fraction(rus.geometry, like)
    part = shapely.unary_union([rus.geometry.intersection(shapely.box(170, 60, 180, 75)),
                                rus.geometry.intersection(shapely.box(-180, 60, -170, 75))])
    assert float((cov * cell_area_km2(like)).sum()) == pytest.approx(geodesic_area_km2(part), rel=0.005)
    # both sides of 180 degrees are covered
    assert float(cov.sel(x=slice(175, 180)).sum()) > 0 and float(cov.sel(x=slice(180, 185)).sum()) > 0


@pytest.mark.parametrize("iso3", ["BHR", "SGP", "MDV"])
def test_small_states_are_not_lost(reg, iso3):
    like = _geo_grid(-180.0, 180.0, -60.0, 60.0, 0.1)
    r = reg[iso3]
    cov = coverage_fraction(r.geometry, like)
    assert int((cov > 0).sum()) >= 1
    assert float((cov * cell_area_km2(like)).sum()) == pytest.approx(r.area_km2, rel=0.005)


def test_orientation_of_the_template_does_not_matter(reg):
    kgz = reg["KGZ"].geometry
    north_up = coverage_fraction(kgz, _geo_grid(69.0, 81.0, 39.0, 44.0, 0.1))
    south_up = coverage_fraction(kgz, _geo_grid(69.0, 81.0, 39.0, 44.0, 0.1, north_up=False))
    np.testing.assert_array_equal(north_up.values, south_up.values[::-1])
    assert float(north_up.sel(x=74.55, y=42.85, method="nearest")) == 1.0  # Bishkek area: fully inside


@settings(max_examples=20, deadline=None)
@given(
    lon=st.floats(-179.0, 170.0), lat=st.floats(-70.0, 60.0),
    w=st.floats(0.05, 8.0), h=st.floats(0.05, 8.0), k=st.integers(3, 9),
)
def test_coverage_sums_to_polygon_area(lon, lat, w, h, k):
    # a star-shaped polygon with k points on a 0.25 degree grid
    ang = np.linspace(0, 2 * np.pi, 2 * k, endpoint=False)
    rad = np.where(np.arange(2 * k) % 2 == 0, 1.0, 0.45)
    poly = shapely.Polygon(np.column_stack([lon + w / 2 * (1 + rad * np.cos(ang)), lat + h / 2 * (1 + rad * np.sin(ang))]))
    like = _geo_grid(-180.0, 180.0, -80.0, 80.0, 0.25)
    cov = coverage_fraction(poly, like)
    assert float(cov.max()) <= 1.0
    assert float((cov * cell_area_km2(like)).sum()) == pytest.approx(geodesic_area_km2(poly), rel=0.005)


def test_projected_grid_coverage(reg):
    crs = "EPSG:32639"  # UTM 39N: Bahrain and Qatar
    x = np.arange(400_000 + 500, 600_000, 1000.0)
    y = np.arange(2_920_000 - 500, 2_700_000, -1000.0)
    like = xr.DataArray(np.zeros((y.size, x.size)), dims=("y", "x"), coords={"y": y, "x": x}).rio.write_crs(crs)
    cov = coverage_fraction(reg["BHR"].geometry, like)
    assert float((cov * cell_area_km2(like)).sum()) == pytest.approx(reg["BHR"].area_km2, rel=0.005)


def test_region_fractions_sparse_structure(reg):
    regions = reg.select(["Central Asia"])
    like = _geo_grid(45.0, 90.0, 35.0, 56.0, 0.25)
    rf = region_fractions(regions, like)
    assert rf.ids == [r.id for r in regions] and rf.shape == like.shape
    area = cell_area_km2(like)
    got = rf.area_km2(area)
    for r in regions:
        cells, frac = rf[r.id]
        assert cells.dtype == np.int64 and frac.dtype == np.float32 and np.all(np.diff(cells) > 0)
        assert got[r.id] == pytest.approx(r.area_km2, rel=0.005)
        np.testing.assert_array_equal(rf.to_dataarray(r.id).values, coverage_fraction(r.geometry, like).values)
    # neighbours do not double count: the fractions of all countries in a cell add to at most 1
    total = np.asarray(rf.matrix().sum(axis=0)).ravel()
    assert total.max() <= 1.0 + 1e-5
    # the sparse matrix gives the same zonal sums
    np.testing.assert_allclose(rf.matrix() @ area.values.ravel(), [got[i] for i in rf.ids], rtol=1e-6)
    # mapping input works too
    assert region_fractions({"a": shapely.box(60, 40, 61, 41)}, like).area_km2(area)["a"] == pytest.approx(
        geodesic_area_km2(shapely.box(60, 40, 61, 41)), rel=1e-3)


# --- regions list --------------------------------------------------------------------------------------
def test_regions_list_csv(reg):
    buf = io.StringIO()
    cli_list(format="csv", file=buf)
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    expected = _methods_section7()
    assert list(rows[0]) == ["iso3", "name", "subregion", "area_km2"]
    assert len(rows) == sum(map(len, expected.values())) >= 84
    assert all(r["subregion"] in expected and r["iso3"] in expected[r["subregion"]] for r in rows)
    kaz = next(r for r in rows if r["iso3"] == "KAZ")
    assert float(kaz["area_km2"]) == pytest.approx(KAZ_KM2, rel=0.02)
    buf = io.StringIO()
    cli_list(format="table", file=buf)
    assert "Kazakhstan" in buf.getvalue() and "Central Asia" in buf.getvalue()
    with pytest.raises(InputError, match="format"):
        cli_list(format="xml")


def test_one_polygon_reader_refuses_what_it_cannot_trust(tmp_path):
    """Zones, intervention and correction polygons and fetch AOIs share one reader: a file without CRS
    (also as a fetch AOI, which used to be taken as lon/lat), an invalid polygon, no features or no file
    are refused naming the file; a projected file comes back in lon/lat."""
    import geopandas as gpd

    from dldd.regions.polygons import read_polygon, read_polygons
    from dldd.sources.fetch import resolve_region

    box = shapely.box(79.0, 36.8, 80.5, 37.4)
    no_crs = tmp_path / "aoi.shp"
    with pytest.warns(UserWarning, match="crs"):  # pyogrio warns that it writes no projection: the point
        gpd.GeoDataFrame(geometry=[box]).to_file(no_crs)
    with pytest.raises(InputError, match=r"zone file: .*aoi\.shp has no CRS"):
        read_polygons(no_crs, "zone file")
    with pytest.raises(InputError, match=r"region \(AOI file\): .*aoi\.shp has no CRS"):
        resolve_region(no_crs)
    bowtie = shapely.Polygon([(79, 36), (80, 37), (80, 36), (79, 37)])
    bad = tmp_path / "bowtie.gpkg"
    gpd.GeoDataFrame(geometry=[bowtie], crs="EPSG:4326").to_file(bad)
    with pytest.raises(InputError, match=r"interventions 'belt': .*bowtie\.gpkg: feature 0 is an invalid polygon"):
        read_polygon(bad, "interventions 'belt'")
    with pytest.raises(InputError, match="does not exist"):
        read_polygons(tmp_path / "missing.geojson", "zone file")
    utm = tmp_path / "utm.gpkg"
    gpd.GeoDataFrame(geometry=[box], crs="EPSG:4326").to_crs("EPSG:32644").to_file(utm)
    back = read_polygons(utm, "zone file")
    assert back.crs.to_epsg() == 4326
    assert geodesic_area_km2(read_polygon(utm, "zone file")) == pytest.approx(geodesic_area_km2(box), rel=1e-3)
