"""What several stages read the same way: the climate inputs and their PET, the nested land cover and its
years, the land account, the dryland zones on another grid, and small grid helpers.

Not a stage: no stage imports another (tests/test_architecture.py), so what two stages share lives here.
Every helper caches what it computes in the run's ``ctx.products`` under the key it names, so that two
stages of one run read one lazy array.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import xarray as xr

from dldd.core.grid import reproject_like
from dldd.core.legend import UNCCD_LAND_COVER, Legend
from dldd.errors import InputError
from dldd.indicators import landcover
from dldd.indicators.pet import pet_hargreaves, pet_thornthwaite
from dldd.indicators import sensitivity as se
from dldd.pipeline.contracts import Table
from dldd.stats.zonal import land_account

#: The monthly climate inputs (on the ``precipitation`` grid).
CLIMATE_INPUTS = ("precipitation", "tmin", "tmax")
#: The UNCCD classes of land: every class but water, which is the land account's own row in the tables.
UNCCD_LAND_CLASSES = Legend("unccd_land_classes",
                            tuple(c for c in UNCCD_LAND_COVER.classes if c.code != landcover.WATER))
#: NDVI of bare soil and of full vegetation cover for the dimidiate pixel model (the sensitivity stage's
#: defaults; RWEQ's vegetation cover uses the same).
NDVI_SOIL = 0.05
NDVI_VEGETATION = 0.80
#: The land account (docs/methods.md, "Land account"), written by the land cover or the SDG stage,
#: whichever runs first (:func:`ensure_land_account`); both declare it.
LAND_ACCOUNT = Table("land_account", ("region", "name", "subregion", "period", "year_start", "year_end",
                                      "total_area_km2", "water_km2", "land_km2", "land_no_land_cover_km2"),
                     description="total, water and land area of every region per year and period (km²)")


# --- climate ------------------------------------------------------------------------------------------------
def climate_inputs(ctx) -> dict[str, xr.DataArray]:
    """The climate inputs aligned on the precipitation grid, whole time axis per chunk (cached: ``climate``)."""
    if "climate" not in ctx.products:
        arrays = ctx.inputs_aligned(list(CLIMATE_INPUTS), "precipitation")
        ctx.products["climate"] = {k: v.chunk({"time": -1}) for k, v in arrays.items()}
    return ctx.products["climate"]


def monthly_pet(ctx, method: str) -> xr.DataArray:
    """Monthly PET (mm/day) from the climate inputs, cached per method (``pet_<method>``)."""
    key = f"pet_{method}"
    if key not in ctx.products:
        c = climate_inputs(ctx)
        lat = c["tmin"]["y"]
        if method == "hargreaves":
            pet = pet_hargreaves(c["tmin"], c["tmax"], lat, c["tmin"]["time"], monthly=True)
        else:
            pet = pet_thornthwaite((c["tmin"] + c["tmax"]) / 2, lat, c["tmin"]["time"])
        ctx.products[key] = pet
    return ctx.products[key]


def zones_on(ctx, like: xr.DataArray) -> xr.DataArray | None:
    """The latest aridity zones (product ``aridity_class``) on the grid of ``like`` (nearest neighbour), if
    the aridity stage ran."""
    z = ctx.products.get("aridity_class")
    if z is None:
        return None
    template = like.isel({d: 0 for d in like.dims if d not in ("y", "x")}, drop=True) if like.ndim > 2 else like
    z = ctx.georef(z).rio.write_nodata(-128)
    return reproject_like(z, template, "nearest").astype("int8")


# --- land cover ---------------------------------------------------------------------------------------------
def nested_land_cover(ctx):
    """The land cover input as UNCCD classes (cached: ``land_cover_unccd``), with the land cover stage's
    ``legend_unknown`` rule."""
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
    """The layer of ``year`` of a yearly series (its ``time`` dropped); refused naming the input when absent."""
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


# --- grids and vegetation -----------------------------------------------------------------------------------
def latest(da: xr.DataArray) -> xr.DataArray:
    """The last layer of a series (the map itself when it has no time axis)."""
    return da.isel(time=-1, drop=True) if "time" in da.dims else da


def onto(ctx, da: xr.DataArray, like: xr.DataArray, rule: str = "bilinear") -> xr.DataArray:
    """``da`` reprojected onto the grid of ``like`` with ``rule``."""
    return reproject_like(ctx.georef(da), like, rule)


def cover_percent(ndvi: xr.DataArray, soil: float = NDVI_SOIL, veg: float = NDVI_VEGETATION) -> xr.DataArray:
    """Vegetation cover (%) of the latest NDVI layer by the dimidiate pixel model
    (:func:`dldd.indicators.sensitivity.fractional_vegetation_cover`)."""
    return se.fractional_vegetation_cover(latest(ndvi), ndvi_soil=soil, ndvi_veg=veg, percent=True)
