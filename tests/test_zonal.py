"""Area tables: per-class km² add up to the region's area on the grid, with the no-data row."""

import numpy as np
import pytest
import xarray as xr

from dldd.core.legend import SDG3, UNCCD_LAND_COVER
from dldd.stats.zonal import NODATA_LABEL, WATER_LABEL, class_areas, land_account, transition_areas, weighted_means


@pytest.fixture
def scene():
    rng = np.random.default_rng(0)
    classes = xr.DataArray(rng.integers(1, 8, (30, 40)).astype("int8"), dims=("y", "x"))
    classes[0:3, :] = -128
    area = xr.DataArray(rng.uniform(50, 100, (30, 40)), dims=("y", "x"))
    idx = np.arange(30 * 40)
    frac = rng.uniform(0, 1, idx.size)
    regions = {"A": (idx[:600], frac[:600]), "B": (idx[600:], frac[600:])}
    return classes, area, regions


def test_class_areas_add_up(scene):
    classes, area, regions = scene
    t = class_areas(classes, regions, area, UNCCD_LAND_COVER, region_info={"A": {"name": "a"}, "B": {"name": "b"}})
    for rid, (idx, frac) in regions.items():
        rows = t[t.region == rid]
        assert len(rows) == 8  # seven classes and no data
        np.testing.assert_allclose(rows.area_km2.sum(), (area.values.ravel()[idx] * frac).sum(), rtol=1e-12)
        np.testing.assert_allclose(rows.share_pct.sum(), 100.0)
    # independent count of one class in region B
    idx, frac = regions["B"]
    sel = classes.values.ravel()[idx] == 3
    expect = (area.values.ravel()[idx][sel] * frac[sel]).sum()
    assert t[(t.region == "B") & (t.code == 3)].area_km2.item() == pytest.approx(expect)
    nod = t[(t.region == "A") & (t["class"] == NODATA_LABEL)].area_km2.item()
    assert nod > 0 and t.loc[t.region == "A", "name"].eq("a").all()


def test_zones_split_rows(scene):
    classes, area, regions = scene
    zones = xr.DataArray(np.where(np.arange(40)[None, :] < 20, -1, 1).repeat(30, 0).astype("int8"), dims=("y", "x"))
    t = class_areas(classes, regions, area, UNCCD_LAND_COVER, zones=zones, zone_legend=SDG3)
    total = class_areas(classes, regions, area, UNCCD_LAND_COVER)
    np.testing.assert_allclose(t.groupby("region").area_km2.sum(), total.groupby("region").area_km2.sum())
    assert set(t.zone) == {"degraded", "stable", "improved", NODATA_LABEL}


def test_transitions_add_up(scene):
    classes, area, regions = scene
    end = classes.copy()
    end[5:10] = 6
    t = transition_areas(classes, end, regions, area, UNCCD_LAND_COVER)
    idx, frac = regions["A"]
    np.testing.assert_allclose(t[t.region == "A"].area_km2.sum(), (area.values.ravel()[idx] * frac).sum())
    assert len(t[t.region == "A"]) == 50


def test_weighted_means(scene):
    _, area, regions = scene
    v = xr.DataArray(np.full((30, 40), 2.5), dims=("y", "x"))
    v[0, 0] = np.nan
    t = weighted_means(v, regions, area, name="x")
    assert t.mean_x.tolist() == pytest.approx([2.5, 2.5])


def test_land_classes_exclude_water_and_shares_name_their_denominator(scene):
    """With a water map, every class row is land: water is its own row whatever the class there, the rows
    add up to the region's area, and classes + no data = land = total - water of the land account."""
    classes, area, regions = scene
    sdg = xr.DataArray(np.asarray(classes.values % 3 - 1, dtype="int8"), dims=("y", "x"))
    sdg = sdg.where(classes != -128, -128).astype("int8")
    water = classes == 7  # a lake: the water class of the land cover, with an SDG class under it
    t = class_areas(sdg, regions, area, SDG3, water=water)
    acc = land_account({"p": (classes, classes)}, regions, area, UNCCD_LAND_COVER, 7)
    for rid, (idx, frac) in regions.items():
        rows = t[t.region == rid].set_index("class")
        a = acc[acc.region == rid].iloc[0]
        w = area.values.ravel()[idx] * frac
        np.testing.assert_allclose(rows.area_km2.sum(), w.sum(), rtol=1e-12)
        np.testing.assert_allclose(rows.loc[WATER_LABEL, "area_km2"], w[classes.values.ravel()[idx] == 7].sum())
        np.testing.assert_allclose(rows.loc[WATER_LABEL, "area_km2"], a.water_km2)
        land = rows.drop(WATER_LABEL).area_km2.sum()
        np.testing.assert_allclose(land, a.land_km2, rtol=1e-12)
        np.testing.assert_allclose(a.land_km2 + a.water_km2, a.total_area_km2, rtol=1e-12)
        # no data is land without a class (the masked rows 0..2), never water
        np.testing.assert_allclose(rows.loc[NODATA_LABEL, "area_km2"], a.land_no_land_cover_km2)
        np.testing.assert_allclose(rows.drop(WATER_LABEL).share_of_land_pct.sum(), 100.0)
        cls = rows.loc[["degraded", "stable", "improved"]]
        np.testing.assert_allclose(cls.share_of_land_with_data_pct.sum(), 100.0)
        np.testing.assert_allclose(cls.loc["degraded", "share_of_land_pct"],
                                   100 * cls.loc["degraded", "area_km2"] / a.land_km2)
        assert np.isnan(rows.loc[WATER_LABEL, "share_of_land_pct"])
        assert np.isnan(rows.loc[NODATA_LABEL, "share_of_land_with_data_pct"])
    # the same with zones: the rows split, the sums do not change
    zones = xr.DataArray(np.where(np.arange(40)[None, :] < 20, -1, 1).repeat(30, 0).astype("int8"), dims=("y", "x"))
    z = class_areas(sdg, regions, area, SDG3, water=water, zones=zones, zone_legend=SDG3)
    np.testing.assert_allclose(z.groupby("class").area_km2.sum().sort_index(),
                               t.groupby("class").area_km2.sum().sort_index())


def test_land_account_water_at_either_date(scene):
    classes, area, regions = scene
    end = classes.copy()
    end[10:12, :] = 7  # a reservoir filled during the period
    acc = land_account({"p": (classes, end)}, regions, area, UNCCD_LAND_COVER, 7)
    idx, frac = regions["A"]
    w = area.values.ravel()[idx] * frac
    either = (classes.values.ravel()[idx] == 7) | (end.values.ravel()[idx] == 7)
    a = acc[acc.region == "A"].iloc[0]
    np.testing.assert_allclose(a.water_km2, w[either].sum())
    np.testing.assert_allclose(a.land_km2, w[~either].sum())


def test_weighted_means_over_land(scene):
    classes, area, regions = scene
    v = xr.DataArray(np.where(classes.values == 7, 1000.0, 2.5), dims=("y", "x"))
    v[5, 5] = np.nan
    t = weighted_means(v, regions, area, name="x", water=classes == 7)
    assert t.mean_x.tolist() == pytest.approx([2.5, 2.5])  # the water's values are not land's
    idx, frac = regions["A"]
    w = area.values.ravel()[idx] * frac
    a = t.iloc[0]
    np.testing.assert_allclose(a.area_with_data_km2 + a.area_no_data_km2 + a.water_km2, w.sum())


def test_class_value_totals_by_class_and_transition(scene):
    from dldd.stats.zonal import class_value_totals

    classes, area, regions = scene
    end = classes.copy()
    end[5:10] = 6
    v = xr.DataArray(np.random.default_rng(1).uniform(10, 50, (30, 40)), dims=("y", "x"))
    v[20, :] = np.nan
    water = (classes == 7) | (end == 7)
    t = class_value_totals([(classes, UNCCD_LAND_COVER, "from"), (end, UNCCD_LAND_COVER, "to")], v, regions, area,
                           water=water)
    idx, frac = regions["B"]
    w = area.values.ravel()[idx] * frac
    a, b, vals = classes.values.ravel()[idx], end.values.ravel()[idx], v.values.ravel()[idx]
    rows = t[t.region == "B"]
    assert len(rows) == 7 * 7 + 2
    np.testing.assert_allclose(rows.area_km2.sum(), w.sum())
    sel = (a == 2) & (b == 6) & np.isfinite(vals)
    r = rows[(rows["from"] == "grassland") & (rows["to"] == "other land")].iloc[0]
    np.testing.assert_allclose(r.value_x_km2, (w[sel] * vals[sel]).sum())
    np.testing.assert_allclose(r.area_with_value_km2, w[sel].sum())
    water_row = rows[(rows["from"] == WATER_LABEL) & rows.from_code.isna()]
    np.testing.assert_allclose(water_row.area_km2.item(), w[(a == 7) | (b == 7)].sum())
    assert rows[(rows.from_code == 7) | (rows.to_code == 7)].area_km2.sum() == 0
