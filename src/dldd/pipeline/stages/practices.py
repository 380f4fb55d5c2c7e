"""Stage `practices`: the assessed conditions of each region and the practices that fit them.

Conditions per region come from the tables the other stages wrote in this run: the dominant aridity
zone (by area, latest climate period), the mean annual precipitation (area-weighted, mm), the dominant
UNCCD land cover (latest year), the share of land degraded (SDG 15.3.1 latest period, else the land
cover sub-indicator), the dominant ESA class and sand drift class when those stages ran. They are
written to ``tables/conditions.csv`` (the contract of ``dldd practices match --run``) and matched
against the knowledge base (:func:`dldd.practices.match`); the best matches with their reasons go to
``tables/practices_matches.csv``.
"""

from __future__ import annotations

import pandas as pd

from dldd.pipeline.stages.base import Params, Stage
from dldd.zonal import NODATA_LABEL, WATER_LABEL, weighted_means


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


def run(ctx, p: PracticesParams) -> None:
    from dldd.practices import match, open_store

    cond = conditions(ctx)
    ctx.write_table("conditions", cond)
    catalogue = open_store().all()
    rows = []
    for rec in cond.to_dict("records"):
        given = {k: v for k, v in rec.items() if not (isinstance(v, float) and pd.isna(v))}
        for rank, m in enumerate(match(given, catalogue, top=p.top), start=1):
            rows.append({"region": rec["region"], "rank": rank, "practice": m.practice.id,
                         "name": m.practice.names.en, "category": m.practice.category,
                         "score": round(m.score, 3), "reasons": "; ".join(str(r) for r in m.reasons)})
    ctx.write_table("practices_matches", pd.DataFrame(rows))
    ctx.summary["practices"] = {"top": p.top, "catalogue_size": len(catalogue)}


STAGE = Stage(name="practices", description="assessed conditions per region and the best-matched practices",
              needs=(), params=PracticesParams, run=run,
              after=("aridity", "land_cover", "sdg_15_3_1"))
