"""Stage `practices`: the assessed conditions of each region and the practices that fit them.

Advice comes from the distribution of conditions, not the mode: the stage reads this run's class maps
(aridity zones, latest UNCCD land cover, latest SDG 15.3.1 status, ESA class and sand drift class when
those stages ran) and the mean annual precipitation, brings them onto one grid (the land cover map's, else
the aridity zones'; nearest neighbour) and writes the area of every combination of conditions per region
to ``tables/condition_distribution.csv`` (:mod:`dldd.practices.distribution`). Each region's practices
are ranked on the share of its land they fit (:func:`dldd.practices.land_share.match_distribution`); the best
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

from dldd.pipeline.contracts import Table
from dldd.pipeline.inputs import climate_inputs
from dldd.pipeline.stages.base import Params, Stage
from dldd.stats.zonal import NODATA_LABEL, WATER_LABEL, weighted_means


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
        "drift_class": _dominant(ctx.tables.get("sand_drift_class_areas")),
        "degraded_share": _degraded_share(ctx),
    }
    if ctx.has("precipitation"):
        pr = climate_inputs(ctx)["precipitation"]
        annual = pr.resample(time="YS").sum().mean("time")
        regions = ctx.region_set(pr)
        means = weighted_means(annual, regions.weights, ctx.cell_area(pr), name="precip_mm")
        cols["precip_mm"] = means.set_index("region")["mean_precip_mm"].round(1).to_dict()
    words = {column: dict(zip((c.name for c in legend.classes), terms)) for column, (legend, terms, _)
             in condition_maps(ctx).items()}  # class name -> the knowledge base's word, as the stages declare
    for col, values in cols.items():
        for rid, v in values.items():
            v = words.get(col, {}).get(v, v)
            if rid in rows:
                rows[rid][col] = v
    order = ["region", "aridity_class", "precip_mm", "drift_class", "land_cover", "degraded_share", "esa_class"]
    df = pd.DataFrame(list(rows.values()))
    return df.reindex(columns=order)


def _annual_precipitation(ctx):
    pr = climate_inputs(ctx)["precipitation"]
    return ctx.georef(pr.resample(time="YS").sum().mean("time"))


def _map(ctx, name: str):
    import rioxarray

    # the run's planned chunks (docs/scaling.md): a reprojection task then reads a block's window, not a map
    edge = ctx.chunk_size or min((min(c) for c in ctx.chunks.values()), default=MAP_CHUNK)
    da = rioxarray.open_rasterio(ctx.out / ctx.maps[name], chunks={"band": 1, "y": edge, "x": edge}, masked=False)
    return da.squeeze("band", drop=True) if "band" in da.dims else da


def condition_maps(ctx) -> dict[str, tuple]:
    """Practice condition -> (legend, terms, map name) of the latest class map this run wrote that answers
    it, read from the declarations of what the run produced (``ctx.declared``, :mod:`dldd.pipeline.contracts`):
    a later map (a later period, a later stage: the SDG map over the land cover stage's) wins."""
    from dldd.pipeline.contracts import legend_from_json

    out = {}
    for name, d in ctx.declared.get("maps", {}).items():
        if d.get("condition") and d.get("legend"):
            out[d["condition"]] = (legend_from_json(d["legend"]), tuple(d["terms"]), name)
    return out


def distribution_layers(ctx) -> list[tuple]:
    """(ClassLayer, map) of each class map this run wrote that answers a practice condition (see the module
    docstring), latest period."""
    from dldd.practices.distribution import CONDITION_COLUMNS, class_layers

    found = condition_maps(ctx)
    order = [c for c in CONDITION_COLUMNS if c in found] + [c for c in found if c not in CONDITION_COLUMNS]
    layers = class_layers({c: found[c][0] for c in order}, {c: found[c][1] for c in order})
    return [(layers[c], _map(ctx, found[c][2])) for c in order]


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
    words of :class:`dldd.practices.scoring.Reason` by key, which the report writes in its language)."""
    import json

    from dldd.core.jsondata import to_json_data

    return json.dumps(to_json_data([{"verdict": r.verdict, "parts": [[k, a] for k, a in r.parts]} for r in m.reasons]),
                      ensure_ascii=False)


def _pct(x: float | None) -> float | None:
    return None if x is None else round(100 * x, 2)


def run(ctx, p: PracticesParams) -> None:
    from dldd.practices import match, open_store
    from dldd.practices.land_share import match_distribution

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


STAGE = Stage(
    name="practices", description="assessed conditions per region and the best-matched practices",
    needs=(), params=PracticesParams, run=run,
    after=("aridity", "land_cover", "sdg_15_3_1", "sensitivity", "sand"),
    provides=(
        Table("conditions", ("region", "aridity_class", "precip_mm", "drift_class", "land_cover", "degraded_share",
                             "esa_class"), description="modal conditions per region"),
        Table("condition_distribution", ("region", "area_km2"),
              description="area of every combination of conditions per region (km²)"),
        Table("practices_matches", ("region", "rank", "practice", "name", "name_zh", "category", "score",
                                    "share_pct", "dryland_share_pct", "basis", "reasons")),
    ),
    uses=("aridity_zones", "land_cover_{year}", "land_cover_degradation_{period}", "sdg_15_3_1_{period}", "esa_class",
          "sand_dp_class", "aridity_zone_areas", "so1_1_land_cover_areas", "so1_1_land_cover_degradation",
          "so1_4_sdg_15_3_1", "esa_class_areas", "sand_drift_class_areas"),
)
