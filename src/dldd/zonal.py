"""Area statistics: km² of each class within each region, from geodesic cell areas (METHODS 1.8).

A region is given by the cells it touches and the fraction of each cell inside it
(:func:`dldd.regions.rasterize.region_fractions`), so coastlines and small states count in full.
The area of class ``c`` in region ``r`` is the sum over cells of ``fraction x cell area`` where the
class raster equals ``c``; cells with no data form their own row, so that the rows of a region add up
to its area on the grid. Tables are long (one row per region and class) with a region's share in %.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from dldd.core.legend import Legend
from dldd.errors import InputError

#: Row label of cells without data in every area table.
NODATA_LABEL = "no data"

RegionWeights = Mapping[str, tuple[np.ndarray, np.ndarray]]


def _flat(da: xr.DataArray | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(da.values if isinstance(da, xr.DataArray) else da)
    if arr.ndim != 2:
        raise InputError(f"{name}: expected a (y, x) map, got shape {arr.shape}")
    return arr.ravel()


def _valid_codes(values: np.ndarray, legend: Legend) -> np.ndarray:
    """Boolean mask of cells whose value is a code of the legend (NaN and fill values are no data)."""
    with np.errstate(invalid="ignore"):
        return np.isin(values, legend.codes)


def class_areas(
    classes: xr.DataArray,
    regions: RegionWeights,
    cell_area_km2: xr.DataArray,
    legend: Legend,
    *,
    region_info: Mapping[str, Mapping[str, str]] | None = None,
    zones: xr.DataArray | None = None,
    zone_legend: Legend | None = None,
) -> pd.DataFrame:
    """Long table ``region, [zone,] code, class, area_km2, share_pct`` with a no-data row per region.

    ``zones`` (e.g. aridity classes) splits every region's rows by zone; cells outside every zone go to
    zone "no data". ``region_info`` adds columns (name, subregion) per region id.
    """
    values = _flat(classes, "classes")
    area = _flat(cell_area_km2, "cell_area_km2").astype("float64")
    if values.shape != area.shape:
        raise InputError(f"classes has {values.size} cells but cell_area_km2 has {area.size}: grids differ")
    valid = _valid_codes(values, legend)
    codes = np.array(legend.codes)
    # position of each cell's class in the legend; the last slot is "no data"
    slot = np.full(values.shape, len(codes), dtype=np.int64)
    order = np.argsort(codes)
    slot[valid] = order[np.searchsorted(codes[order], values[valid])]
    labels = [(int(c), legend.label(int(c))) for c in codes] + [(None, NODATA_LABEL)]
    if zones is not None:
        zl = zone_legend
        zvals = _flat(zones, "zones")
        if zvals.shape != values.shape:
            raise InputError("zones: grid differs from the class raster")
        zvalid = _valid_codes(zvals, zl)
        zcodes = np.array(zl.codes)
        zorder = np.argsort(zcodes)
        zslot = np.full(zvals.shape, len(zcodes), dtype=np.int64)
        zslot[zvalid] = zorder[np.searchsorted(zcodes[zorder], zvals[zvalid])]
        zone_labels = [zl.label(int(c)) for c in zcodes] + [NODATA_LABEL]
    rows = []
    nslot = len(labels)
    for rid, (idx, frac) in regions.items():
        w = area[idx] * frac
        info = dict(region_info.get(rid, {})) if region_info else {}
        total = w.sum()
        if zones is None:
            sums = np.bincount(slot[idx], weights=w, minlength=nslot)
            for (code, label), a in zip(labels, sums):
                rows.append({"region": rid, **info, "code": code, "class": label, "area_km2": a,
                             "share_pct": 100 * a / total if total else np.nan})
        else:
            key = zslot[idx] * nslot + slot[idx]
            sums = np.bincount(key, weights=w, minlength=len(zone_labels) * nslot).reshape(len(zone_labels), nslot)
            for zi, zname in enumerate(zone_labels):
                for (code, label), a in zip(labels, sums[zi]):
                    rows.append({"region": rid, **info, "zone": zname, "code": code, "class": label, "area_km2": a,
                                 "share_pct": 100 * a / total if total else np.nan})
    df = pd.DataFrame(rows)
    if not df.empty:
        df["code"] = df["code"].astype("Int64")
    return df


def transition_areas(
    start: xr.DataArray,
    end: xr.DataArray,
    regions: RegionWeights,
    cell_area_km2: xr.DataArray,
    legend: Legend,
    *,
    region_info: Mapping[str, Mapping[str, str]] | None = None,
) -> pd.DataFrame:
    """Long table ``region, from_code, from, to_code, to, area_km2``; pairs with any no data form one row."""
    a = _flat(start, "start")
    b = _flat(end, "end")
    area = _flat(cell_area_km2, "cell_area_km2").astype("float64")
    codes = np.array(legend.codes)
    n = len(codes)
    order = np.argsort(codes)

    def slots(v):
        ok = _valid_codes(v, legend)
        s = np.full(v.shape, -1, dtype=np.int64)
        s[ok] = order[np.searchsorted(codes[order], v[ok])]
        return s

    sa, sb = slots(a), slots(b)
    key = np.where((sa >= 0) & (sb >= 0), sa * n + sb, n * n)
    rows = []
    for rid, (idx, frac) in regions.items():
        sums = np.bincount(key[idx], weights=area[idx] * frac, minlength=n * n + 1)
        info = dict(region_info.get(rid, {})) if region_info else {}
        for i in range(n):
            for j in range(n):
                rows.append({"region": rid, **info, "from_code": int(codes[i]), "from": legend.label(int(codes[i])),
                             "to_code": int(codes[j]), "to": legend.label(int(codes[j])), "area_km2": sums[i * n + j]})
        rows.append({"region": rid, **info, "from_code": None, "from": NODATA_LABEL, "to_code": None,
                     "to": NODATA_LABEL, "area_km2": sums[n * n]})
    df = pd.DataFrame(rows)
    for c in ("from_code", "to_code"):
        df[c] = df[c].astype("Int64")
    return df


def weighted_means(
    values: xr.DataArray,
    regions: RegionWeights,
    cell_area_km2: xr.DataArray,
    *,
    region_info: Mapping[str, Mapping[str, str]] | None = None,
    name: str = "value",
) -> pd.DataFrame:
    """Area-weighted mean, total (value x area) and covered area of a continuous map per region."""
    v = _flat(values, name).astype("float64")
    area = _flat(cell_area_km2, "cell_area_km2").astype("float64")
    rows = []
    for rid, (idx, frac) in regions.items():
        w = area[idx] * frac
        x = v[idx]
        ok = np.isfinite(x)
        wa = w[ok].sum()
        info = dict(region_info.get(rid, {})) if region_info else {}
        rows.append({"region": rid, **info, f"mean_{name}": (x[ok] * w[ok]).sum() / wa if wa else np.nan,
                     "area_with_data_km2": wa, "area_no_data_km2": w[~ok].sum()})
    return pd.DataFrame(rows)
