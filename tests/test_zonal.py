"""Area tables: per-class km² add up to the region's area on the grid, with the no-data row."""

import numpy as np
import pytest
import xarray as xr

from dldd.core.legend import SDG3, UNCCD_LAND_COVER
from dldd.zonal import NODATA_LABEL, class_areas, transition_areas, weighted_means


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
