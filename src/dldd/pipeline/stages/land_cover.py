"""Stage `land_cover`: UNCCD land cover per year of interest and transitions (table SO1-1).

Nests the input legend into the seven UNCCD classes, writes the land cover map of each period's end,
the transition-degradation map of each period, and the area tables: land cover by region for the
baseline start and every period end, and the transition matrix of each period, in km2.
"""

from __future__ import annotations

import pandas as pd

from dldd.core.legend import SDG3, UNCCD_LAND_COVER
from dldd.errors import InputError
from dldd.indicators import landcover
from dldd.pipeline.contracts import TRANSITION_COLUMNS, Product, Table, class_area_columns
from dldd.pipeline.inputs import LAND_ACCOUNT, UNCCD_LAND_CLASSES, land_account_table, period_maps, water_map
from dldd.pipeline.stages.base import Params, Stage
from dldd.stats.zonal import transition_areas


class LandCoverParams(Params):
    legend_unknown: str = "raise"  # "raise" or "nodata" for codes the nesting legend does not list


def run(ctx, params: LandCoverParams) -> None:
    spans, maps, degradation = period_maps(ctx)
    years = sorted(maps)
    try:
        stored = ctx.store_layers("land_cover", {**{f"land_cover_{y}": maps[y] for y in years},
                                                 **{f"degradation_{n}": d for n, d in degradation.items()}})
    except InputError as err:
        if "nesting legend" not in str(err):
            raise
        raise InputError(f"input 'land_cover' ({ctx.spec.inputs['land_cover'].path}): {err}. In the spec: add the "
                         "codes to the legend table, or set `indicators.land_cover.legend_unknown: nodata`") from None
    maps = {y: stored[f"land_cover_{y}"] for y in years}
    degradation = {n: stored[f"degradation_{n}"] for n in degradation}
    ctx.products["land_cover_years"] = maps
    ctx.products["land_cover_degradation"] = degradation
    like = maps[years[0]]
    regions = ctx.region_set(like)
    area = ctx.cell_area(like)
    ctx.write_table("land_account", land_account_table(ctx, spans, maps))
    year_water = {y: water_map(maps[y], maps[y]) for y in years}
    ctx.write_table("so1_1_land_cover_areas", ctx.class_table(maps, "year", UNCCD_LAND_CLASSES, water=year_water))
    trans = []
    for name, (a, b) in spans.items():
        t = transition_areas(maps[a], maps[b], regions.weights, area, UNCCD_LAND_COVER, region_info=regions.info)
        t.insert(1, "period", f"{name} {a}-{b}")
        trans.append(t)
        ctx.write_map(f"land_cover_degradation_{name}", degradation[name])
    ctx.write_table("so1_1_land_cover_transitions", pd.concat(trans, ignore_index=True))
    span_water = {n: water_map(maps[a], maps[b]) for n, (a, b) in spans.items()}
    ctx.write_table("so1_1_land_cover_degradation", ctx.class_table(degradation, "period", SDG3, water=span_water))
    ctx.write_map(f"land_cover_{years[-1]}", maps[years[-1]])
    ctx.summary["land_cover"] = {"years": years, "periods": {k: list(v) for k, v in spans.items()}}


STAGE = Stage(
    name="land_cover",
    description="UNCCD land cover, transitions and their degradation class (SO1-1)",
    needs=("land_cover",),
    params=LandCoverParams,
    run=run,
    provides=(
        Product("land_cover_years", dtype="int8", legend=UNCCD_LAND_COVER, kind="product",
                description="UNCCD land cover of each year a period needs (year -> map)"),
        Product("land_cover_degradation", dtype="int8", legend=SDG3, kind="product",
                description="land cover degradation of each period (period -> map)"),
        Product("land_cover_{year}", dtype="int8", legend=UNCCD_LAND_COVER, condition="land_cover",
                description="UNCCD land cover of the last year"),
        Product("land_cover_degradation_{period}", dtype="int8", legend=SDG3, condition="land_condition",
                description="land cover degradation over the period (transition matrix)"),
        LAND_ACCOUNT,
        Table("so1_1_land_cover_degradation", class_area_columns("period", land=True), SDG3, shares=True,
              groups={"degraded": (landcover.DEGRADED,)}),
        Table("so1_1_land_cover_areas", class_area_columns("year", land=True), UNCCD_LAND_CLASSES, shares=True),
        Table("so1_1_land_cover_transitions", (*TRANSITION_COLUMNS[:3], "period", *TRANSITION_COLUMNS[3:]),
              UNCCD_LAND_COVER),
    ),
)
