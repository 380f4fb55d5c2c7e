"""Stage `sdg_15_3_1`: productivity (LPD), land cover, SOC, one out all out and status (SO1-2 .. SO1-4).

Reference grid: the ``ndvi`` input. For the baseline and each reporting period: land productivity
dynamics from annual NDVI over the period's productivity years (GPG2 by default, ``method: te`` for
Trends.Earth, ``method: both`` for both in one run: land cover, SOC, water and land units computed once,
the GPG2 result in the main tables and maps, Trends.Earth's beside it and the side-by-side table
``sdg_15_3_1_by_method``;
Trends.Earth), land cover degradation from the nested land cover at the start and end of the period's
land cover years, SOC degradation from the IPCC stock path along the yearly land cover, and their one
out, all out combination; then the status of each reporting period against the baseline (3 and 7 codes).
The IPCC climate zone for the SOC factor comes from the climate inputs when the aridity stage ran (its
zone map reprojected with the nearest-neighbour rule), else from the ``climate_zone`` parameter.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

import numpy as np
import pandas as pd
import xarray as xr

from dldd.core.grid import reproject_like
from dldd.core.legend import CLASS_NODATA, SDG3
from dldd.errors import InputError
from dldd.indicators import landcover, sdg, soc
from dldd.indicators import productivity as prod
from dldd.pipeline.contracts import TRANSITION_COLUMNS, Product, Table, class_area_columns
from dldd.pipeline.inputs import (LAND_ACCOUNT, UNCCD_LAND_CLASSES, ensure_land_account, nested_land_cover, water_map,
                                  year_map, zones_on)
from dldd.pipeline.stages.base import Params, Stage
from dldd.stats.zonal import NODATA_LABEL, WATER_LABEL, class_areas, class_value_totals, transition_areas, weighted_means

#: Words of the corrected class in a corrections spec or file (SDG 15.3.1 codes).
CORRECTION_CLASSES = {"degraded": -1, "stable": 0, "improved": 1}


class Correction(Params):
    """A correction of false positives / negatives (GPG v2): polygons (GeoJSON, GeoPackage) or a raster
    (GeoTIFF of -1/0/1, anything else no correction) with the corrected class and the reason. A polygon
    file's features may carry their own ``class`` and ``reason`` properties (they win over these)."""

    path: str
    class_: Literal["degraded", "stable", "improved"] | None = Field(default=None, alias="class")
    reason: str | None = None
    periods: list[str] | None = None  # default: every period (baseline and reporting)


class SdgParams(Params):
    method: Literal["gpg2", "te", "both"] = "gpg2"
    #: Land units of the performance sub-indicator (METHODS 1.3): the `land_unit` input when given, else
    #: land cover alone (the METHODS default) or land cover x dryland zone of the aridity stage (an
    #: ecological unit, so steppe and desert grassland are not compared with each other).
    land_unit: Literal["land_cover", "land_cover_x_aridity"] = "land_cover"
    climate_zone: str = "warm temperate dry"  # used when no climate inputs give the IPCC zone
    soc_threshold_pct: float = soc.SOC_CHANGE_THRESHOLD_PCT
    corrections: list[Correction] = Field(default_factory=list)


def _climate_factor(ctx, like: xr.DataArray, p: SdgParams):
    zone = ctx.products.get("ipcc_climate_zone")
    if zone is not None:
        z = reproject_like(ctx.georef(zone).rio.write_nodata(CLASS_NODATA), like, "nearest").astype("int8")
        return soc.climate_factor(z), "IPCC zone from the climate inputs"
    codes = {c.name: c.code for c in soc.IPCC_CLIMATE_ZONES.classes}
    if p.climate_zone not in codes:
        from dldd.errors import SpecError

        raise SpecError(f"indicators.sdg_15_3_1.climate_zone: {p.climate_zone!r} is not one of {sorted(codes)}")
    f = soc.CLIMATE_FACTOR[soc.ZONE_REGIME[codes[p.climate_zone]]]
    return float(f), f"climate zone parameter {p.climate_zone!r}"


def _land_unit(ctx, p: SdgParams, land_cover: xr.DataArray, zones: xr.DataArray | None) -> xr.DataArray:
    if ctx.has("land_unit"):
        return ctx.inputs_aligned(["ndvi", "land_unit"], "ndvi")["land_unit"]
    if p.land_unit == "land_cover_x_aridity":
        if zones is None:
            from dldd.errors import SpecError

            raise SpecError("indicators.sdg_15_3_1.land_unit: land_cover_x_aridity needs the aridity stage "
                            "(precipitation, tmin and tmax inputs)")
        return prod.land_units(land_cover, zones)
    return land_cover


def run(ctx, p: SdgParams) -> None:
    arrays = ctx.inputs_aligned(["ndvi", "soc", "land_cover"], "ndvi")
    ndvi = arrays["ndvi"].chunk({"time": -1})
    lc = nested_land_cover(ctx)
    like = ndvi.isel(time=0, drop=True)
    f, f_source = _climate_factor(ctx, like, p)
    stock = soc.soc_stock(arrays["soc"], lc.chunk({"time": -1}), f)
    periods = {"baseline": (ctx.spec.periods.baseline.as_tuple(), ctx.spec.periods.baseline.as_tuple())}
    periods.update({n: (rp.productivity.as_tuple(), ctx.spec.periods.land_cover_years(n))
                    for n, rp in ctx.spec.periods.reporting.items()})
    zones = zones_on(ctx, like)
    corrections = _correction_masks(ctx, p, like)
    layers = {}
    for name, ((pa, pb), (la, lb)) in periods.items():
        land_unit = _land_unit(ctx, p, year_map(lc, la, "land_cover"), zones)
        lpds = {m: prod.productivity(ndvi, land_unit, period=(pa, pb), method=m) for m in _methods(p)}
        lpd = lpds[_methods(p)[0]]
        lc_a, lc_b = year_map(lc, la, "land_cover"), year_map(lc, lb, "land_cover")
        lc_deg = landcover.land_cover_degradation(lc_a, lc_b)
        s_a, s_b = year_map(stock, la, "soc"), year_map(stock, lb, "soc")
        soc_deg = soc.soc_degradation(s_a, s_b, lc_a, lc_b, threshold=p.soc_threshold_pct)
        water = water_map(lc_a, lc_b)
        combined = sdg.one_out_all_out(lpd["lpd"], lc_deg, soc_deg, water=water)
        layers[name] = {"lpd": lpd["lpd"], "soc_degradation": soc_deg, "soc_change": soc.soc_change(s_a, s_b),
                        "sdg": combined, "soc_start": s_a, "soc_end": s_b, "water": water}
        applied = [(m, code) for m, code, _, _, periods_of in corrections if periods_of is None or name in periods_of]
        if applied:  # GPG v2 corrections, after the combination (the uncorrected map is kept for the table)
            layers[name]["sdg_uncorrected"] = combined
            layers[name]["sdg"] = sdg.apply_corrections(combined, applied, water=water)
        if "te" in lpds:
            layers[name]["lpd5"] = lpds["te"]["lpd5"]
        if p.method == "both":  # Trends.Earth's LPD, with everything else shared
            layers[name]["lpd_te"] = lpds["te"]["lpd"]
            layers[name]["sdg_te"] = sdg.apply_corrections(
                sdg.one_out_all_out(lpds["te"]["lpd"], lc_deg, soc_deg, water=water), applied, water=water)
    for n in periods:
        if n != "baseline":
            layers[n]["status3"] = sdg.status(layers["baseline"]["sdg"], layers[n]["sdg"])
            layers[n]["status7"] = sdg.status(layers["baseline"]["sdg"], layers[n]["sdg"], form="seven")
    stored = ctx.store_layers("sdg_layers", {f"{n}__{k}": v for n in layers for k, v in layers[n].items()})
    layers = {n: {k: stored[f"{n}__{k}"] for k in layers[n]} for n in layers}
    if all((layers[n]["lpd"] == CLASS_NODATA).all() for n in layers):
        source = ctx.spec.inputs["ndvi"].path or ctx.spec.inputs["ndvi"].product
        raise InputError(f"input 'ndvi' ({source}): no valid value inside the regions in any period; check "
                         "`nodata:`, `scale_factor:` and that the file covers the regions' extent")
    regions = ctx.region_set(like)
    area = ctx.cell_area(like)
    from dldd.indicators.aridity import ARIDITY_ZONES

    def by_period(key):
        return {n: layers[n][key] for n in layers}

    ensure_land_account(ctx)
    water = by_period("water")
    ctx.write_table("so1_2_productivity", ctx.class_table(by_period("lpd"), "period", SDG3, water=water))
    if all("lpd5" in layers[n] for n in layers):
        ctx.write_table("so1_2_productivity_lpd5", ctx.class_table(by_period("lpd5"), "period", prod.LPD5_LEGEND,
                                                                   water=water))
    ctx.write_table("so1_3_soc_degradation", ctx.class_table(by_period("soc_degradation"), "period", SDG3, water=water))
    soc_rows = []
    for n, (_, (la, lb)) in periods.items():
        a = weighted_means(layers[n]["soc_start"], regions.weights, area, region_info=regions.info, name="soc_t_ha",
                           water=water[n])
        b = weighted_means(layers[n]["soc_end"], regions.weights, area, region_info=regions.info, name="soc_t_ha",
                           water=water[n])
        a.insert(1, "period", n)
        a.insert(2, "year_start", la)
        a["year_end"] = lb
        a["mean_soc_end_t_ha"] = b["mean_soc_t_ha"].values
        # stock in t: mean t/ha x area (km2 -> ha: x 100)
        a["stock_start_Mt"] = a["mean_soc_t_ha"] * a["area_with_data_km2"] * 100 / 1e6
        a["stock_end_Mt"] = b["mean_soc_t_ha"].values * b["area_with_data_km2"].values * 100 / 1e6
        soc_rows.append(a.rename(columns={"mean_soc_t_ha": "mean_soc_start_t_ha"}))
    ctx.write_table("so1_3_soc_stock", pd.concat(soc_rows, ignore_index=True))
    _write_by_land_cover(ctx, layers, periods, lc, regions, area)
    ctx.write_table("so1_4_sdg_15_3_1", ctx.class_table(by_period("sdg"), "period", SDG3, water=water))
    if zones is not None:
        ctx.write_table("so1_4_sdg_15_3_1_by_dryland_zone",
                        ctx.class_table(by_period("sdg"), "period", SDG3, zones=zones, zone_legend=ARIDITY_ZONES,
                                        water=water))
    status3, status7 = {}, {}
    for n in periods:
        ctx.write_map(f"lpd_{n}", layers[n]["lpd"])
        ctx.write_map(f"sdg_15_3_1_{n}", layers[n]["sdg"])
        ctx.write_map(f"soc_change_{n}", layers[n]["soc_change"])
        if n == "baseline":
            continue
        s3, s7 = layers[n]["status3"], layers[n]["status7"]
        ctx.write_map(f"sdg_status_{n}", s3)
        ctx.write_map(f"sdg_status7_{n}", s7)
        status3[n], status7[n] = s3, s7
    if status3:  # water of the reporting period; baseline-only water is land with no status (no data)
        ctx.write_table("so1_4_status", ctx.class_table(status3, "period", SDG3, water=water))
        ctx.write_table("so1_4_status7", ctx.class_table(status7, "period", sdg.STATUS7, water=water))
    if corrections:
        ctx.write_table("sdg_15_3_1_corrections", _corrections_table(ctx, corrections, layers, regions, area))
    summary = _summary(ctx.tables["so1_4_sdg_15_3_1"])
    ctx.write_table("sdg_15_3_1_summary", summary)
    if p.method == "both":
        te = _summary(ctx.class_table(by_period("sdg_te"), "period", SDG3, water=water))
        ctx.write_table("sdg_15_3_1_by_method", by_method({"gpg2": summary, "te": te}))
        for n in periods:
            ctx.write_map(f"sdg_15_3_1_te_{n}", layers[n]["sdg_te"])
    ctx.summary["sdg_15_3_1"] = {"method": p.method, "periods": {n: {"productivity": list(a), "land_cover": list(b)}
                                                                 for n, (a, b) in periods.items()},
                                 "soc_climate_factor": f_source, "headline": headline(summary)}


def _correction_masks(ctx, p: SdgParams, like: xr.DataArray) -> list[tuple]:
    """The spec's corrections on the grid of ``like``: ``(mask, code, reason, label, periods)`` per polygon
    feature (a cell is inside when at least half of it is covered) or per raster class."""
    out = []
    if not p.corrections:
        return out
    like = ctx.georef(like)
    for i, c in enumerate(p.corrections):
        path = ctx.spec.resolve(c.path)
        where = f"indicators.sdg_15_3_1.corrections[{i}] ({path})"
        if not path.is_file():
            raise InputError(f"{where}: file not found")
        if path.suffix.lower() in (".tif", ".tiff"):
            if not c.reason:
                raise InputError(f"{where}: a raster correction needs `reason:`")
            import rioxarray

            r = rioxarray.open_rasterio(path).squeeze(drop=True)
            grid = reproject_like(r.rio.write_nodata(r.rio.nodata if r.rio.nodata is not None else CLASS_NODATA),
                                  like, "nearest")
            for word, code in CORRECTION_CLASSES.items():
                if c.class_ is not None and c.class_ != word:
                    continue
                out.append(((grid == code).astype("uint8"), code, c.reason, f"{path.name} = {code}", c.periods))
            continue
        for j, (geom, cls, reason) in enumerate(_correction_features(path, c, where)):
            mask = _polygon_mask(geom, like)
            out.append((mask, CORRECTION_CLASSES[cls], reason, f"{path.name}#{j}", c.periods))
    return out


def _correction_features(path, c: Correction, where: str) -> list[tuple]:
    """(geometry in lon/lat, class word, reason) of each feature of a corrections polygon file."""
    from dldd.regions.polygons import read_polygons

    gdf = read_polygons(path, where)
    feats = []
    for j, (_, row) in enumerate(gdf.iterrows()):
        cls = row.get("class") if isinstance(row.get("class"), str) else c.class_
        reason = row.get("reason") if isinstance(row.get("reason"), str) and row.get("reason") else c.reason
        if cls not in CORRECTION_CLASSES:
            raise InputError(f"{where}: feature {j} has class {cls!r}; expected one of {sorted(CORRECTION_CLASSES)} "
                             "(a `class` property or `class:` in the spec)")
        if not reason:
            raise InputError(f"{where}: feature {j} has no reason (a `reason` property or `reason:` in the spec)")
        feats.append((row.geometry, cls, str(reason)))
    return feats


def _polygon_mask(geom, like: xr.DataArray) -> xr.DataArray:
    """1 on the cells of ``like`` at least half covered by ``geom`` (lon/lat), else 0 (uint8, numpy)."""
    from dldd.regions.rasterize import region_fractions

    idx, frac = region_fractions({"c": geom}, like, crs=like.rio.crs)["c"]
    flat = np.zeros(like.sizes["y"] * like.sizes["x"], dtype="uint8")
    flat[idx[frac >= 0.5]] = 1
    return xr.DataArray(flat.reshape(like.sizes["y"], like.sizes["x"]), dims=("y", "x"),
                        coords={"y": like["y"], "x": like["x"]})


def _corrections_table(ctx, corrections, layers, regions, area) -> pd.DataFrame:
    """Per region, period and correction: km² moved from each class to the corrected one, with the reason."""
    parts = []
    for mask, code, reason, label, periods_of in corrections:
        for n in layers:
            if "sdg_uncorrected" not in layers[n] or (periods_of is not None and n not in periods_of):
                continue
            inside = mask.astype(bool)
            before = layers[n]["sdg_uncorrected"].where(inside, CLASS_NODATA).astype("int8")
            after = layers[n]["sdg"].where(inside, CLASS_NODATA).astype("int8")
            t = transition_areas(before, after, regions.weights, area, SDG3, region_info=regions.info)
            t = t[t["from_code"].notna() & (t["from_code"] != t["to_code"]) & (t["area_km2"] > 0)]
            t.insert(1, "period", n)
            t.insert(2, "correction", label)
            t["reason"] = reason
            parts.append(t)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _methods(p: SdgParams) -> tuple[str, ...]:
    """The productivity methods a run computes, the one of the main tables first."""
    return ("gpg2", "te") if p.method == "both" else (p.method,)


#: Columns of each method in ``sdg_15_3_1_by_method``.
BY_METHOD_COLUMNS = ("degraded_km2", "stable_km2", "improved_km2", "no_data_km2", "degraded_share_of_land_pct")


def by_method(summaries: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """GPG2 and Trends.Earth SDG 15.3.1 side by side per region and period (``<column>_<method>``), with the
    land area they share and the differences te - gpg2 (km², and percentage points of land)."""
    keys = ["region", "name", "subregion", "period"]
    out = summaries["gpg2"][keys + ["land_area_km2", "water_km2"]].copy()
    for m, t in summaries.items():
        t = t.set_index(keys).reindex(pd.MultiIndex.from_frame(out[keys]))
        for c in BY_METHOD_COLUMNS:
            out[f"{c}_{m}"] = t[c].values
    for c in ("degraded_km2", "stable_km2", "improved_km2"):
        out[f"{c}_te_minus_gpg2"] = out[f"{c}_te"] - out[f"{c}_gpg2"]
    out["degraded_share_of_land_te_minus_gpg2_pp"] = out["degraded_share_of_land_pct_te"] - out["degraded_share_of_land_pct_gpg2"]
    return out


def _write_by_land_cover(ctx, layers, periods, lc, regions, area) -> None:
    """Long tables behind the UNCCD SO1-2/SO1-3 cross-tables, per region and period: LPD x land cover of the
    end year (km²), SOC stock (t) per land cover class at the start and end, and per transition."""
    lpd_key = "lpd5" if all("lpd5" in layers[n] for n in layers) else "lpd"
    lpd_legend = prod.LPD5_LEGEND if lpd_key == "lpd5" else SDG3
    cross, by_class, by_transition = [], [], []
    for n, (_, (la, lb)) in periods.items():
        lc_a, lc_b = year_map(lc, la, "land_cover"), year_map(lc, lb, "land_cover")
        water = layers[n]["water"]
        t = class_areas(layers[n][lpd_key], regions.weights, area, lpd_legend, region_info=regions.info,
                        zones=lc_b, zone_legend=UNCCD_LAND_CLASSES, water=water)
        cross.append(t.rename(columns={"zone": "land_cover_end"}).assign(period=n, year_end=lb))
        for when, year, cls, stock in (("start", la, lc_a, layers[n]["soc_start"]), ("end", lb, lc_b, layers[n]["soc_end"])):
            t = class_value_totals([(cls, UNCCD_LAND_CLASSES, "land_cover")], stock, regions.weights, area,
                                   region_info=regions.info, water=water)
            by_class.append(t.assign(period=n, when=when, year=year))
        pair = [(lc_a, UNCCD_LAND_CLASSES, "from"), (lc_b, UNCCD_LAND_CLASSES, "to")]
        a = class_value_totals(pair, layers[n]["soc_start"], regions.weights, area, region_info=regions.info, water=water)
        b = class_value_totals(pair, layers[n]["soc_end"], regions.weights, area, region_info=regions.info, water=water)
        a["stock_start_t"] = a.pop("value_x_km2") * KM2_TO_HA
        a["stock_end_t"] = b["value_x_km2"].values * KM2_TO_HA
        a["stock_change_t"] = a["stock_end_t"] - a["stock_start_t"]
        by_transition.append(a.assign(period=n, year_start=la, year_end=lb))
    ctx.write_table("so1_2_lpd_by_land_cover", pd.concat(cross, ignore_index=True))
    t = pd.concat(by_class, ignore_index=True)
    t["stock_t"] = t.pop("value_x_km2") * KM2_TO_HA
    ctx.write_table("so1_3_soc_by_land_cover", t)
    ctx.write_table("so1_3_soc_by_transition", pd.concat(by_transition, ignore_index=True))


#: Hectares per km² (a stock in t/ha times an area in km² times this is in t).
KM2_TO_HA = 100.0

#: Columns of ``sdg_15_3_1_summary`` (docs/methods.md, "Land account"): areas (km²), then the shares.
SUMMARY_AREAS = {"degraded": "degraded_km2", "stable": "stable_km2", "improved": "improved_km2",
                 NODATA_LABEL: "no_data_km2", WATER_LABEL: "water_km2"}


def _summary(t: pd.DataFrame) -> pd.DataFrame:
    """Per region and period: degraded, stable, improved, no-data (land) and water km², land area (= the
    classes + no data = total - water), total area, and the headline SDG 15.3.1 = degraded / land area
    (``degraded_share_of_land_pct``), with the no-data land beside it (``no_data_share_of_land_pct``)
    and the share of the land with data (``degraded_share_of_land_with_data_pct``)."""
    wide = t.pivot_table(index=["region", "name", "subregion", "period"], columns="class", values="area_km2",
                         aggfunc="sum", sort=False).reset_index()
    for c in SUMMARY_AREAS:
        if c not in wide:
            wide[c] = 0.0
    wide.columns.name = None
    wide = wide.rename(columns=SUMMARY_AREAS)
    wide["land_area_km2"] = wide[["degraded_km2", "stable_km2", "improved_km2", "no_data_km2"]].sum(axis=1)
    wide["total_area_km2"] = wide["land_area_km2"] + wide["water_km2"]
    land = wide["land_area_km2"].where(wide["land_area_km2"] > 0)
    with_data = (wide["land_area_km2"] - wide["no_data_km2"]).where(lambda v: v > 0)
    wide["degraded_share_of_land_pct"] = 100 * wide["degraded_km2"] / land
    wide["no_data_share_of_land_pct"] = 100 * wide["no_data_km2"] / land
    wide["degraded_share_of_land_with_data_pct"] = 100 * wide["degraded_km2"] / with_data
    return wide


def headline(summary: pd.DataFrame) -> dict:
    """summary.json's SDG 15.3.1 headline per region and period: the summary table's own numbers."""
    out: dict = {}
    for r in summary.itertuples():
        out.setdefault(str(r.region), {})[str(r.period)] = {
            "degraded_share_of_land_pct": None if pd.isna(r.degraded_share_of_land_pct)
            else float(r.degraded_share_of_land_pct),
            "degraded_km2": float(r.degraded_km2), "land_area_km2": float(r.land_area_km2),
            "no_data_km2": float(r.no_data_km2), "water_km2": float(r.water_km2)}
    return out


LAND_SHARES = class_area_columns("period", land=True)

STAGE = Stage(
    name="sdg_15_3_1",
    description="SDG 15.3.1: productivity, land cover, SOC, one out all out and status (SO1-2..SO1-4)",
    needs=("ndvi", "land_cover", "soc"),
    params=SdgParams,
    run=run,
    after=("aridity", "land_cover"),
    provides=(
        Product("lpd_{period}", dtype="int8", legend=SDG3, description="land productivity dynamics (GPG2 3 classes)"),
        Product("sdg_15_3_1_{period}", dtype="int8", legend=SDG3, condition="land_condition",
                description="SDG 15.3.1 one out, all out of productivity, land cover and SOC"),
        Product("sdg_15_3_1_te_{period}", dtype="int8", legend=SDG3,
                description="SDG 15.3.1 with Trends.Earth's productivity (method: both)"),
        Product("soc_change_{period}", units="%", description="SOC stock change over the period"),
        Product("sdg_status_{period}", dtype="int8", legend=SDG3, description="status against the baseline"),
        Product("sdg_status7_{period}", dtype="int8", legend=sdg.STATUS7,
                description="status against the baseline, seven codes"),
        LAND_ACCOUNT,
        # the class-share tables first, in the order the report shows them
        Table("so1_4_sdg_15_3_1", LAND_SHARES, SDG3, shares=True),
        Table("so1_4_status7", LAND_SHARES, sdg.STATUS7, shares=True),
        Table("so1_2_productivity", LAND_SHARES, SDG3, shares=True),
        Table("so1_2_productivity_lpd5", LAND_SHARES, prod.LPD5_LEGEND),
        Table("so1_2_lpd_by_land_cover", ("region", "name", "subregion", "land_cover_end", "code", "class", "area_km2",
                                          "share_of_land_pct", "period", "year_end")),
        Table("so1_3_soc_degradation", LAND_SHARES, SDG3, shares=True),
        Table("so1_3_soc_stock", ("region", "period", "year_start", "name", "subregion", "mean_soc_start_t_ha",
                                  "area_with_data_km2", "year_end", "mean_soc_end_t_ha", "stock_start_Mt",
                                  "stock_end_Mt")),
        Table("so1_3_soc_by_land_cover", ("region", "name", "subregion", "land_cover_code", "land_cover", "area_km2",
                                          "period", "when", "year", "stock_t"), UNCCD_LAND_CLASSES),
        Table("so1_3_soc_by_transition", (*TRANSITION_COLUMNS, "stock_start_t", "stock_end_t", "stock_change_t",
                                          "period", "year_start", "year_end"), UNCCD_LAND_CLASSES),
        Table("so1_4_sdg_15_3_1_by_dryland_zone", (*LAND_SHARES[:4], "zone", *LAND_SHARES[4:]), SDG3),
        Table("so1_4_status", LAND_SHARES, SDG3),
        Table("sdg_15_3_1_corrections", ("region", "period", "correction", "from", "to", "area_km2", "reason"), SDG3,
              description="km² moved by each GPG v2 correction (no columns when none moved any)"),
        Table("sdg_15_3_1_summary", ("region", "name", "subregion", "period", *SUMMARY_AREAS.values(),
                                     "land_area_km2", "total_area_km2", "degraded_share_of_land_pct",
                                     "no_data_share_of_land_pct", "degraded_share_of_land_with_data_pct")),
        Table("sdg_15_3_1_by_method", ("region", "name", "subregion", "period", "land_area_km2", "water_km2",
                                       *(f"{c}_{m}" for m in ("gpg2", "te") for c in BY_METHOD_COLUMNS))),
    ),
    uses=("aridity_class", "ipcc_climate_zone"),
)
