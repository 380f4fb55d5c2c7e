"""Stage `land_cover`: UNCCD land cover per year of interest and transitions (table SO1-1).

Nests the input legend into the seven UNCCD classes, writes the land cover map of each period's end,
the transition-degradation map of each period, and the area tables: land cover by region for the
baseline start and every period end, and the transition matrix of each period, in km2.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dldd.core.legend import SDG3, UNCCD_LAND_COVER, Legend
from dldd.errors import InputError
from dldd.indicators import landcover
from dldd.pipeline.stages.base import Params, Stage
from dldd.stats.zonal import land_account, transition_areas

#: The UNCCD classes of land: every class but water, which is the land account's own row in the tables.
UNCCD_LAND_CLASSES = Legend("unccd_land_classes",
                            tuple(c for c in UNCCD_LAND_COVER.classes if c.code != landcover.WATER))


class LandCoverParams(Params):
    legend_unknown: str = "raise"  # "raise" or "nodata" for codes the nesting legend does not list


def nested_land_cover(ctx):
    """The land cover input as UNCCD classes (cached in the run's products)."""
    if "land_cover_unccd" not in ctx.products:
        lc = ctx.input("land_cover")
        legend = ctx.spec.inputs["land_cover"].legend or lc.attrs.get("legend") or "unccd"
        if legend == "unccd":
            mapping = {c: c for c in UNCCD_LAND_COVER.codes}
        elif legend in landcover.NESTING_FILES:
            mapping = landcover.load_nesting(legend)
        else:
            mapping = _read_legend_csv(ctx.spec.resolve(legend))
        ctx.products["land_cover_unccd"] = landcover.nest(lc, mapping, unknown=ctx.params_of("land_cover").legend_unknown)
    return ctx.products["land_cover_unccd"]


def _read_legend_csv(path: Path) -> dict[int, int]:
    """A user nesting table: CSV with columns ``code`` and ``unccd`` (1..7, or empty for no data)."""
    if not path.is_file():
        raise InputError(f"land cover legend file not found: {path}")
    df = pd.read_csv(path)
    for col in ("code", "unccd"):
        if col not in df.columns:
            raise InputError(f"{path}: land cover legend needs columns 'code' and 'unccd'; found {list(df.columns)}")
    return {int(r.code): (None if pd.isna(r.unccd) else int(r.unccd)) for r in df.itertuples()}


def year_map(series, year: int, name: str):
    years = series.time.dt.year.values
    if year not in years:
        raise InputError(f"input {name!r} has no layer for {year}; it covers {years.min()}-{years.max()}")
    return series.sel(time=series.time[years == year][0]).drop_vars("time")


def period_maps(ctx):
    """UNCCD land cover at each year needed, and the degradation class of each period's transition."""
    lc = nested_land_cover(ctx)
    periods = ctx.spec.periods
    spans = {"baseline": periods.baseline.as_tuple()}
    spans.update({name: periods.land_cover_years(name) for name in periods.reporting})
    years = sorted({y for span in spans.values() for y in span})
    maps = {y: year_map(lc, y, "land_cover") for y in years}
    degradation = {name: landcover.land_cover_degradation(maps[a], maps[b]) for name, (a, b) in spans.items()}
    return spans, maps, degradation


def water_map(lc_start, lc_end):
    """Water of the land account over a span (docs/methods.md, "Land account"): 1 where the UNCCD land cover
    is the water class at the start or at the end (one map for a single year), else 0 (uint8)."""
    return ((lc_start == landcover.WATER) | (lc_end == landcover.WATER)).astype("uint8").rename("water")


def land_account_table(ctx, spans: dict, maps: dict) -> pd.DataFrame:
    """The land account of every region for each single year of ``maps`` (period label = the year) and each
    span ``name -> (first year, last year)`` of ``spans``: total, water, land = total - water and land
    without land cover, km², with the span's years."""
    years = sorted(maps)
    labelled = {str(y): (y, y) for y in years} | dict(spans)
    like = maps[years[0]]
    regions = ctx.region_set(like)
    t = land_account({k: (maps[a], maps[b]) for k, (a, b) in labelled.items()}, regions.weights, ctx.cell_area(like),
                     UNCCD_LAND_COVER, landcover.WATER, region_info=regions.info)
    t.insert(t.columns.get_loc("period") + 1, "year_start", t["period"].map(lambda k: labelled[k][0]))
    t.insert(t.columns.get_loc("year_start") + 1, "year_end", t["period"].map(lambda k: labelled[k][1]))
    return t


def ensure_land_account(ctx) -> None:
    """Write the ``land_account`` table once per run (the first stage of the land cover and SDG stages)."""
    if "land_account" not in ctx.tables:
        spans, maps, _ = period_maps(ctx)
        ctx.write_table("land_account", land_account_table(ctx, spans, maps))


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
)
