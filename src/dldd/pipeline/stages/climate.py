"""Stages `aridity` and `drought`: PET, aridity index and dryland zones; SPI/SPEI and UNCCD SO3.

Both work on the monthly climate inputs' own grid (reference input: ``precipitation``); ``tmin`` and
``tmax`` must share it (or name a resampling rule). Where another stage needs a climate product on its
own grid (dryland zones for area tables, hazard classes for exposure), the class map is reprojected with
the nearest-neighbour rule, which keeps class codes intact.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr

from dldd.core.grid import reproject_like
from dldd.indicators import aridity as ar
from dldd.indicators import drought as dr
from dldd.indicators.drought.so3 import so3_vulnerability_given
from dldd.pipeline.stages.base import Params, Stage
from dldd.errors import InputError
from dldd.zonal import transition_areas, weighted_means

CLIMATE_INPUTS = ("precipitation", "tmin", "tmax")
#: Optional population by sex for SO3-2 (persons per cell, on the population grid or with a resampling rule).
POPULATION_BY_SEX = {"female": "population_female", "male": "population_male"}
#: Optional SO3-3 inputs: a ready vulnerability index in [0, 1] (e.g. the JRC drought vulnerability index)
#: or component layers combined by :func:`dldd.indicators.drought.so3_vulnerability` (METHODS 2).
VULNERABILITY_INDEX = "drought_vulnerability"
VULNERABILITY_COMPONENTS = ("vulnerability_social", "vulnerability_economic", "vulnerability_infrastructure")


class AridityParams(Params):
    pet_method: Literal["hargreaves", "thornthwaite"] = "hargreaves"
    first_period: tuple[int, int] = (1981, 2010)
    second_period: tuple[int, int] | None = None  # default: the last 30 years of the record
    hyper_arid_threshold: float = ar.HYPER_ARID_THRESHOLD


class DroughtParams(Params):
    scale: int = 12
    fit_method: Literal["pwm", "ml", "thom"] = "pwm"
    spei: bool = True
    hazard_years: tuple[int, int] = (2000, 2023)
    block_years: int = dr.SO3_BLOCK_YEARS
    # SO3-3 from component layers (refused without them): weights by input name (default equal),
    # arithmetic or geometric mean, and the components where a higher value means less vulnerable
    vulnerability_weights: dict[str, float] | None = None
    vulnerability_aggregation: Literal["arithmetic", "geometric"] = "arithmetic"
    vulnerability_inverted: list[str] = []


def climate_inputs(ctx) -> dict[str, xr.DataArray]:
    if "climate" not in ctx.products:
        arrays = ctx.inputs_aligned(list(CLIMATE_INPUTS), "precipitation")
        ctx.products["climate"] = {k: v.chunk({"time": -1}) for k, v in arrays.items()}
    return ctx.products["climate"]


def monthly_pet(ctx, method: str) -> xr.DataArray:
    """Monthly PET (mm/day) from the climate inputs, cached per method."""
    key = f"pet_{method}"
    if key not in ctx.products:
        c = climate_inputs(ctx)
        lat = c["tmin"]["y"]
        if method == "hargreaves":
            pet = ar.pet_hargreaves(c["tmin"], c["tmax"], lat, c["tmin"]["time"], monthly=True)
        else:
            pet = ar.pet_thornthwaite((c["tmin"] + c["tmax"]) / 2, lat, c["tmin"]["time"])
        ctx.products[key] = pet
    return ctx.products[key]


def run_aridity(ctx, p: AridityParams) -> None:
    c = climate_inputs(ctx)
    pet = monthly_pet(ctx, p.pet_method)
    years = c["precipitation"].time.dt.year.values
    second = p.second_period or (int(years.max()) - ar.CLIMATE_PERIOD_YEARS + 1, int(years.max()))
    ai1 = ar.aridity_index(c["precipitation"], pet, period=p.first_period)
    ai2 = ar.aridity_index(c["precipitation"], pet, period=second)
    z1 = ar.aridity_class(ai1, hyper_arid_threshold=p.hyper_arid_threshold)
    z2 = ar.aridity_class(ai2, hyper_arid_threshold=p.hyper_arid_threshold)
    layers = ctx.store_layers("aridity", {"ai_2": ai2, "zones_1": z1, "zones_2": z2, "shift": ar.aridity_shift(z1, z2),
                                          "ipcc_zone": _ipcc_zone(c, ai2, second)})
    z1, z2, shift = layers["zones_1"], layers["zones_2"], layers["shift"]
    ctx.products["aridity_class"] = z2
    ctx.products["aridity_index"] = layers["ai_2"]
    ctx.products["ipcc_climate_zone"] = layers["ipcc_zone"]
    regions = ctx.region_set(z2)
    area = ctx.cell_area(z2)
    periods = {f"{p.first_period[0]}-{p.first_period[1]}": z1, f"{second[0]}-{second[1]}": z2}
    ctx.write_table("aridity_zone_areas", ctx.class_table(periods, "period", ar.ARIDITY_ZONES))
    ctx.write_table("aridity_zone_shifts", transition_areas(z1, z2, regions.weights, area, ar.ARIDITY_ZONES,
                                                            region_info=regions.info))
    ctx.write_table("aridity_shift_areas", ctx.class_table({None: shift}, None, ar.ARIDITY_SHIFT))
    ctx.write_map("aridity_index", layers["ai_2"])
    ctx.write_map("aridity_zones", z2)
    ctx.write_map("aridity_shift", shift)
    ctx.summary["aridity"] = {"periods": [list(p.first_period), list(second)], "pet_method": p.pet_method}


def _ipcc_zone(c: dict, ai: xr.DataArray, period: tuple[int, int]) -> xr.DataArray:
    """IPCC 2006 climate zone from the period's mean annual temperature, precipitation and P/PET."""
    from dldd.indicators.soc import ipcc_climate_zone

    yr = c["precipitation"].time.dt.year
    sel = (yr >= period[0]) & (yr <= period[1])
    mat = ((c["tmin"] + c["tmax"]) / 2).sel(time=sel).mean("time")
    annual = c["precipitation"].sel(time=sel).resample(time="YS").sum()
    return ipcc_climate_zone(mat, annual.mean("time"), ai)


def zones_on(ctx, like: xr.DataArray) -> xr.DataArray | None:
    """The latest aridity zones on the grid of ``like`` (nearest neighbour), if the aridity stage ran."""
    z = ctx.products.get("aridity_class")
    if z is None:
        return None
    template = like.isel({d: 0 for d in like.dims if d not in ("y", "x")}, drop=True) if like.ndim > 2 else like
    z = ctx.georef(z).rio.write_nodata(-128)
    return reproject_like(z, template, "nearest").astype("int8")


def run_drought(ctx, p: DroughtParams) -> None:
    sexes = _population_by_sex_inputs(ctx)
    components = _vulnerability_inputs(ctx, p)
    c = climate_inputs(ctx)
    pr = c["precipitation"]
    spi = dr.spi(pr, scale=p.scale, method=p.fit_method)
    hazard = dr.so3_hazard(spi)
    hy = hazard.time.dt.year
    hazard = hazard.sel(time=(hy >= p.hazard_years[0]) & (hy <= p.hazard_years[1]))
    blocks = dr.so3_hazard_blocks(hazard, block_years=p.block_years, start=p.hazard_years[0])
    # the monthly indices themselves are not kept: only the maps made from them are stored
    december = {f"spi{p.scale}": _last_december(spi)}
    if p.spei:
        pet = monthly_pet(ctx, ctx.params_of("aridity").pet_method)
        # PET in mm d-1: spei turns it into monthly amounts from its units (x the days of each month)
        december[f"spei{p.scale}"] = _last_december(dr.spei(pr, pet, scale=p.scale))
    year = {k: pd.Timestamp(v.time.values).year for k, v in december.items()}
    hazard = ctx.store_layers("drought_hazard", {"hazard": hazard,
                                                 **{k: v.drop_vars("time") for k, v in december.items()}})
    blocks = ctx.store_layers("drought_blocks", {"blocks": blocks})["blocks"]
    years = {pd.Timestamp(t).year: hazard["hazard"].sel(time=t) for t in hazard["hazard"].time.values}
    ctx.write_table("so3_1_hazard_areas", ctx.class_table(years, "year", dr.SO3_LEGEND))
    ctx.write_table("so3_1_hazard_blocks", ctx.class_table(_by_block(blocks), "block", dr.SO3_LEGEND))
    _sdg_by_drought_class(ctx, blocks)
    ctx.write_map(f"so3_hazard_{pd.Timestamp(blocks.time.values[-1]).year}_{int(blocks.block_end.values[-1])}",
                  blocks.isel(time=-1, drop=True))
    for index in december:
        ctx.write_map(f"{index}_december_{year[index]}", hazard[index])
    if ctx.has("population"):
        _exposure(ctx, blocks, sexes)
    if components:
        _vulnerability(ctx, components, p)
    ctx.products["so3_hazard"] = hazard["hazard"]
    ctx.summary["drought"] = {"scale": p.scale, "fit_method": p.fit_method,
                              "years": [int(hy.min()), int(hy.max())] if hy.size else []}


def _sdg_by_drought_class(ctx, blocks: xr.DataArray) -> None:
    """When the run computed SDG 15.3.1: the cross table of its latest period's classes and the latest
    drought block's classes on the SDG grid (``sdg_15_3_1_by_drought_class``; hazard reprojected with the
    nearest-neighbour rule; land outside the climate grid is the "no data" zone), so that degraded land
    under drought is an area of the grid, not a product of two shares."""
    from dldd.core.legend import CLASS_NODATA, SDG3

    if "sdg_15_3_1" not in ctx.params_by_stage:
        return
    periods = ["baseline", *ctx.spec.periods.reporting]
    stored = ctx.open_stored("sdg_layers")
    last = periods[-1]
    ctx.input("ndvi")  # the SDG grid's CRS is the ndvi input's
    sdg_map = ctx.georef(stored[f"{last}__sdg"])
    hz = ctx.georef(blocks.isel(time=-1, drop=True)).rio.write_nodata(CLASS_NODATA)
    hz = reproject_like(hz, sdg_map, "nearest").astype("int8")
    t = ctx.class_table({last: sdg_map}, "period", SDG3, water={last: stored[f"{last}__water"]}, zones=hz,
                        zone_legend=dr.SO3_LEGEND)
    t.insert(2, "block", list(_by_block(blocks))[-1])
    ctx.write_table("sdg_15_3_1_by_drought_class", t)


def _last_december(index: xr.DataArray) -> xr.DataArray:
    """The index of the record's last December (a (y, x) map with its scalar ``time``)."""
    return index.isel(time=np.flatnonzero(index.time.dt.month.values == 12)[-1])


def _population_by_sex_inputs(ctx) -> dict[str, str]:
    """The spec's population-by-sex inputs (sex -> input name): both or none, and only beside ``population``."""
    given = {sex: name for sex, name in POPULATION_BY_SEX.items() if ctx.has(name)}
    if given and len(given) != len(POPULATION_BY_SEX):
        missing = sorted(set(POPULATION_BY_SEX.values()) - set(given.values()))
        raise InputError(f"inputs: {sorted(given.values())} given without {missing}; SO3-2 by sex needs both")
    if given and not ctx.has("population"):
        raise InputError(f"inputs: {sorted(given.values())} given without `population` (the total that "
                         "SO3-2 exposure is reported against)")
    return given


def _exposure(ctx, blocks: xr.DataArray, sexes: dict[str, str]) -> None:
    """SO3-2: population in each hazard class per block, on the population grid; by sex when given."""
    names = {"total": "population", **sexes}
    pops = ctx.inputs_aligned(list(names.values()), "population") if sexes else {"population": ctx.input("population")}
    pop = pops["population"]
    on_pop = {label: reproject_like(ctx.georef(h).rio.write_nodata(-128), pop, "nearest").astype("int8")
              for label, h in _by_block(blocks).items()}
    tabs = {}
    for sex, name in names.items():
        # population-weighted "areas": the population per cell stands in for the cell area
        tab = ctx.class_table(on_pop, "block", dr.SO3_LEGEND, weights=pops[name].fillna(0.0))
        tabs[sex] = tab.rename(columns={"area_km2": "population", "share_pct": "share_of_population_pct"})
    ctx.write_table("so3_2_exposure", tabs.pop("total"))
    if tabs:
        # share_of_population_pct: of the region's population of that sex
        ctx.write_table("so3_2_exposure_by_sex", pd.concat([t.assign(sex=s) for s, t in tabs.items()],
                                                          ignore_index=True))


def _vulnerability_inputs(ctx, p: DroughtParams) -> list[str]:
    """The SO3-3 inputs the spec gives: the ready index, or the component layers (never both)."""
    components = [n for n in VULNERABILITY_COMPONENTS if ctx.has(n)]
    if ctx.has(VULNERABILITY_INDEX) and components:
        raise InputError(f"inputs: give either {VULNERABILITY_INDEX!r} (a ready SO3-3 index) or its components "
                         f"{components}, not both")
    if not components and (p.vulnerability_weights is not None or p.vulnerability_inverted):
        raise InputError("indicators.drought: vulnerability_weights/vulnerability_inverted combine the component "
                         f"layers {list(VULNERABILITY_COMPONENTS)}, and the spec gives none of them")
    return [VULNERABILITY_INDEX] if ctx.has(VULNERABILITY_INDEX) else components


def _vulnerability(ctx, names: list[str], p: DroughtParams) -> None:
    """SO3-3: the vulnerability index (given, or combined from its components) and its area-weighted mean
    per region."""
    if names == [VULNERABILITY_INDEX]:
        v = so3_vulnerability_given(ctx.input(VULNERABILITY_INDEX))
    else:
        layers = ctx.inputs_aligned(names, names[0])
        v = dr.so3_vulnerability(layers, weights=p.vulnerability_weights, aggregation=p.vulnerability_aggregation,
                                 inverted=p.vulnerability_inverted)
    v = ctx.georef(v)
    regions = ctx.region_set(v)
    tab = weighted_means(v, regions.weights, ctx.cell_area(v), region_info=regions.info, name="vulnerability")
    ctx.write_table("so3_3_vulnerability", tab)
    ctx.write_map("so3_vulnerability", v)


def _by_block(blocks: xr.DataArray) -> dict[str, xr.DataArray]:
    """The block maps by label ``first-last`` year."""
    return {f"{pd.Timestamp(t).year}-{int(blocks.block_end.values[i])}": blocks.isel(time=i, drop=True)
            for i, t in enumerate(blocks.time.values)}


ARIDITY = Stage(name="aridity", description="PET, aridity index, UNEP dryland zones and their shifts",
                needs=CLIMATE_INPUTS, params=AridityParams, run=run_aridity)
DROUGHT = Stage(name="drought", description="SPI/SPEI and UNCCD SO3 drought hazard, exposure and vulnerability",
                needs=CLIMATE_INPUTS, optional=("population", *POPULATION_BY_SEX.values(), VULNERABILITY_INDEX,
                                                     *VULNERABILITY_COMPONENTS), params=DroughtParams,
                run=run_drought, after=("aridity",))
