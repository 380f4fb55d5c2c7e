"""Stage `practices`: the assessed conditions of each region and the practices that fit them.

Advice comes from the distribution of conditions, not the mode: the stage reads this run's class maps
(aridity zones, latest UNCCD land cover, latest SDG 15.3.1 status, ESA class and sand drift class when
those stages ran) and the mean annual precipitation, brings them onto one grid (the land cover map's, else
the aridity zones'; nearest neighbour) and writes the area of every combination of conditions per region
to ``tables/condition_distribution.csv`` (:mod:`dldd.practices.distribution`). Each region's practices
are ranked on the share of its land they fit (:func:`dldd.practices.engine.match_distribution`); the best
with their reasons go to ``tables/practices_matches.csv`` (columns ``share_pct``, ``dryland_share_pct``
name their denominators: the region's area on the grid, its drylands). Without class maps (no ``cog``
output) the modal conditions of ``tables/conditions.csv`` are matched instead, and the table says so in
its ``basis`` column.

The modal conditions per region (dominant aridity zone by area, area-weighted mean precipitation,
dominant land cover, share degraded, dominant ESA and drift class) are still written to
``tables/conditions.csv`` (the contract of ``dldd practices match --run`` for older runs).
"""

from __future__ import annotations

import pandas as pd

from dldd.pipeline.stages.base import Params, Stage
from dldd.zonal import NODATA_LABEL, WATER_LABEL, weighted_means


#: Edge (cells) of the blocks a class map of the run is read in when the run plans its own chunks.
MAP_CHUNK = 1024


class PracticesParams(Params):
    top: int = 5


def _dominant(t: pd.DataFrame | None, filt=None) -> dict[str, str]:
    if t is None:
        return {}
    if filt is not None:
        t = t[filt(t)]
    t = t[t["class"] != NODATA_LABEL]
    t = t[t.area_km2 > 0]
    if t.empty:
        return {}
    idx = t.groupby("region").area_km2.idxmax()
    return t.loc[idx].set_index("region")["class"].to_dict()


def _degraded_share(ctx) -> dict[str, float]:
    for name in ("so1_4_sdg_15_3_1", "so1_1_land_cover_degradation"):
        t = ctx.tables.get(name)
        if t is None:
            continue
        last = t[t.period == t.period.iloc[-1]]
        land = last[~last["class"].isin([NODATA_LABEL, WATER_LABEL])].groupby("region").area_km2.sum()  # land with data
        deg = last[last["class"] == "degraded"].groupby("region").area_km2.sum()
        return (deg / land.where(land > 0)).fillna(0).to_dict()
    return {}


def conditions(ctx) -> pd.DataFrame:
    """One row per region with the columns of the ``conditions.csv`` contract."""
    rows = {r.id: {"region": r.id} for r in ctx.regions}
    aridity = ctx.tables.get("aridity_zone_areas")
    cols = {
        "aridity_class": _dominant(aridity, (lambda t: t.period == t.period.max()) if aridity is not None else None),
        "land_cover": _dominant(ctx.tables.get("so1_1_land_cover_areas"), lambda t: t.year == t.year.max()),
        "esa_class": _dominant(ctx.tables.get("esa_class_areas")),
        "drift_class": {k: v.split()[0] for k, v in _dominant(ctx.tables.get("sand_drift_class_areas")).items()},
        "degraded_share": _degraded_share(ctx),
    }
    if ctx.has("precipitation"):
        from dldd.pipeline.stages.climate import climate_inputs

        pr = climate_inputs(ctx)["precipitation"]
        annual = pr.resample(time="YS").sum().mean("time")
        regions = ctx.region_set(pr)
        means = weighted_means(annual, regions.weights, ctx.cell_area(pr), name="precip_mm")
        cols["precip_mm"] = means.set_index("region")["mean_precip_mm"].round(1).to_dict()
    for col, values in cols.items():
        for rid, v in values.items():
            if rid in rows:
                rows[rid][col] = v
    order = ["region", "aridity_class", "precip_mm", "drift_class", "land_cover", "degraded_share", "esa_class"]
    df = pd.DataFrame(list(rows.values()))
    return df.reindex(columns=order)


def _annual_precipitation(ctx):
    from dldd.pipeline.stages.climate import climate_inputs

    pr = climate_inputs(ctx)["precipitation"]
    return ctx.georef(pr.resample(time="YS").sum().mean("time"))


def _map(ctx, name: str):
    import rioxarray

    # the run's planned chunks (docs/scaling.md): a reprojection task then reads a block's window, not a map
    edge = ctx.chunk_size or min((min(c) for c in ctx.chunks.values()), default=MAP_CHUNK)
    da = rioxarray.open_rasterio(ctx.out / ctx.maps[name], chunks={"band": 1, "y": edge, "x": edge}, masked=False)
    return da.squeeze("band", drop=True) if "band" in da.dims else da


def _latest(ctx, prefix: str, table: str, column: str) -> str | None:
    t = ctx.tables.get(table)
    if t is None or t.empty:
        return None
    name = f"{prefix}{t[column].iloc[-1]}"
    return name if name in ctx.maps else None


def distribution_layers(ctx) -> list[tuple]:
    """(ClassLayer, map) of each class map this run wrote (see the module docstring), latest period."""
    from dldd.core.legend import SDG3, UNCCD_LAND_COVER
    from dldd.indicators.aridity import ARIDITY_ZONES
    from dldd.indicators.sand import DP_ENERGY_LEGEND
    from dldd.indicators.sensitivity import ESA_LEGEND
    from dldd.practices.distribution import class_layers

    layers = class_layers({"aridity_class": ARIDITY_ZONES, "land_cover": UNCCD_LAND_COVER,
                           "land_condition": SDG3, "esa_class": ESA_LEGEND, "drift_class": DP_ENERGY_LEGEND})
    maps = {
        "aridity_class": "aridity_zones" if "aridity_zones" in ctx.maps else None,
        "land_cover": _latest(ctx, "land_cover_", "so1_1_land_cover_areas", "year"),
        "land_condition": (_latest(ctx, "sdg_15_3_1_", "so1_4_sdg_15_3_1", "period")
                           or _latest(ctx, "land_cover_degradation_", "so1_1_land_cover_degradation", "period")),
        "esa_class": "esa_class" if "esa_class" in ctx.maps else None,
        "drift_class": "sand_dp_class" if "sand_dp_class" in ctx.maps else None,
    }
    return [(layers[col], _map(ctx, name)) for col, name in maps.items() if name is not None]


def condition_distribution(ctx) -> pd.DataFrame | None:
    """The joint condition table of every region (None when the run wrote no class map)."""
    from dldd.core.grid import reproject_like
    from dldd.practices.distribution import joint_condition_areas

    layers = distribution_layers(ctx)
    if not layers:
        return None
    cols = [layer.column for layer, _ in layers]
    ref = layers[cols.index("land_cover")][1] if "land_cover" in cols else layers[0][1]
    on_grid = {layer.column: reproject_like(da, ref, "nearest") for layer, da in layers}
    if ctx.has("precipitation"):
        on_grid["precipitation_mm"] = reproject_like(_annual_precipitation(ctx), ref, "nearest")
    stored = ctx.store_layers("practices_conditions", on_grid)  # block by block: no map is gathered
    precip = stored.pop("precipitation_mm", None)
    regions = ctx.region_set(ref)
    return joint_condition_areas([(layer, stored[layer.column]) for layer, _ in layers], precip, regions.weights,
                                 ctx.cell_area(ref))


def _reason_parts(m) -> str:
    """The reasons of a match as JSON ``[{"verdict": ..., "parts": [[key, {arguments}], ...]}, ...]`` (the
    words of :class:`dldd.practices.engine.Reason` by key, which the report writes in its language)."""
    import json

    return json.dumps([{"verdict": r.verdict, "parts": [[k, a] for k, a in r.parts]} for r in m.reasons],
                      ensure_ascii=False, default=lambda v: v.item() if hasattr(v, "item") else str(v))


def _pct(x: float | None) -> float | None:
    return None if x is None else round(100 * x, 2)


def run(ctx, p: PracticesParams) -> None:
    from dldd.practices import match, open_store
    from dldd.practices.engine import match_distribution

    cond = conditions(ctx)
    ctx.write_table("conditions", cond)
    catalogue = open_store().all()
    dist = condition_distribution(ctx)
    if dist is not None:
        ctx.write_table("condition_distribution", dist)
    rows = []
    fit_cache: dict = {}  # a practice's fit to a condition value, shared by the regions
    for rec in cond.to_dict("records"):
        rid = rec["region"]
        region_rows = dist[dist.region == rid] if dist is not None else None
        if region_rows is not None and region_rows.area_km2.sum() > 0:
            for rank, m in enumerate(match_distribution(region_rows, catalogue, top=p.top, region=rid,
                                                             fit_cache=fit_cache), start=1):
                rows.append({"region": rid, "rank": rank, "practice": m.practice.id,
                             "name": m.practice.names.en, "name_zh": m.practice.names.zh,
                             "category": m.practice.category, "score": round(m.score, 4),
                             "share_pct": _pct(m.share), "dryland_share_pct": _pct(m.dryland_share),
                             "basis": "distribution of conditions",
                             "reasons": "; ".join(str(r) for r in m.reasons), "reason_parts": _reason_parts(m)})
            continue
        given = {k: v for k, v in rec.items() if not (isinstance(v, float) and pd.isna(v))}
        for rank, m in enumerate(match(given, catalogue, top=p.top), start=1):
            rows.append({"region": rid, "rank": rank, "practice": m.practice.id,
                         "name": m.practice.names.en, "name_zh": m.practice.names.zh,
                         "category": m.practice.category, "score": round(m.score, 3),
                         "share_pct": None, "dryland_share_pct": None, "basis": "modal conditions",
                         "reasons": "; ".join(str(r) for r in m.reasons), "reason_parts": _reason_parts(m)})
    ctx.write_table("practices_matches", pd.DataFrame(rows))
    ctx.summary["practices"] = {"top": p.top, "catalogue_size": len(catalogue),
                                "basis": "distribution of conditions" if dist is not None else "modal conditions"}


STAGE = Stage(name="practices", description="assessed conditions per region and the best-matched practices",
              needs=(), params=PracticesParams, run=run,
              after=("aridity", "land_cover", "sdg_15_3_1", "sensitivity", "sand"))
