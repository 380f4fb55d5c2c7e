"""Stage `drought`: SPI/SPEI and UNCCD SO3 (hazard per year and block, exposure, vulnerability).

Works on the monthly climate inputs' own grid (reference input: ``precipitation``). SPEI takes the PET of
the aridity stage's method (:func:`dldd.pipeline.inputs.monthly_pet`). Hazard classes are brought onto the
population grid with the nearest-neighbour rule for SO3-2 exposure.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr

from dldd.core.grid import reproject_like
from dldd.core.legend import SDG3
from dldd.errors import InputError
from dldd.indicators import drought as dr
from dldd.indicators.drought.so3 import SO3_EXTREME, SO3_MODERATE, SO3_SEVERE, so3_vulnerability_given
from dldd.pipeline.contracts import Product, Table, class_area_columns, mean_columns
from dldd.pipeline.inputs import CLIMATE_INPUTS, climate_inputs, monthly_pet
from dldd.pipeline.stages.base import Params, Stage
from dldd.stats.zonal import weighted_means

#: Optional population by sex for SO3-2 (persons per cell, on the population grid or with a resampling rule).
POPULATION_BY_SEX = {"female": "population_female", "male": "population_male"}
#: Optional SO3-3 inputs: a ready vulnerability index in [0, 1] (e.g. the JRC drought vulnerability index)
#: or component layers combined by :func:`dldd.indicators.drought.so3_vulnerability` (METHODS 2).
VULNERABILITY_INDEX = "drought_vulnerability"
VULNERABILITY_COMPONENTS = ("vulnerability_social", "vulnerability_economic", "vulnerability_infrastructure")


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


def run_drought(ctx, p: DroughtParams) -> None:
    given = set(ctx.spec.inputs)
    sexes = _population_by_sex_inputs(given)
    components = _vulnerability_inputs(given, p)
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
    from dldd.core.legend import CLASS_NODATA

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


def check_drought_inputs(given: set[str], p: DroughtParams) -> None:
    """The drought stage's input rules (:func:`_population_by_sex_inputs`, :func:`_vulnerability_inputs`),
    checked at ``spec check`` and before a run's first stage."""
    _population_by_sex_inputs(given)
    _vulnerability_inputs(given, p)


def _population_by_sex_inputs(inputs: set[str]) -> dict[str, str]:
    """The spec's population-by-sex inputs (sex -> input name; ``inputs``: the names the spec gives): both or
    none, and only beside ``population``."""
    given = {sex: name for sex, name in POPULATION_BY_SEX.items() if name in inputs}
    if given and len(given) != len(POPULATION_BY_SEX):
        missing = sorted(set(POPULATION_BY_SEX.values()) - set(given.values()))
        raise InputError(f"inputs: {sorted(given.values())} given without {missing}; SO3-2 by sex needs both")
    if given and "population" not in inputs:
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


def _vulnerability_inputs(inputs: set[str], p: DroughtParams) -> list[str]:
    """The SO3-3 inputs the spec gives (``inputs``: the names it gives): the ready index, or the component
    layers (never both)."""
    components = [n for n in VULNERABILITY_COMPONENTS if n in inputs]
    if VULNERABILITY_INDEX in inputs and components:
        raise InputError(f"inputs: give either {VULNERABILITY_INDEX!r} (a ready SO3-3 index) or its components "
                         f"{components}, not both")
    if not components and (p.vulnerability_weights is not None or p.vulnerability_inverted):
        raise InputError("indicators.drought: vulnerability_weights/vulnerability_inverted combine the component "
                         f"layers {list(VULNERABILITY_COMPONENTS)}, and the spec gives none of them")
    return [VULNERABILITY_INDEX] if VULNERABILITY_INDEX in inputs else components


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


#: SO3-1 classes counted as drought-affected: moderate drought or worse (SPI <= -1). Mild (SPI < 0) is left
#: out: over a 4-year block nearly all land has a mild year, whatever the data.
DROUGHT_AFFECTED = (SO3_MODERATE, SO3_SEVERE, SO3_EXTREME)
EXPOSURE_COLUMNS = ("region", "block", "name", "subregion", "code", "class", "population", "share_of_population_pct")

DROUGHT = Stage(
    name="drought", description="SPI/SPEI and UNCCD SO3 drought hazard, exposure and vulnerability",
    needs=CLIMATE_INPUTS, optional=("population", *POPULATION_BY_SEX.values(), VULNERABILITY_INDEX,
                                    *VULNERABILITY_COMPONENTS), params=DroughtParams,
    run=run_drought, after=("aridity",), check=check_drought_inputs,
    provides=(
        Product("so3_hazard", dims=("time", "y", "x"), dtype="int8", legend=dr.SO3_LEGEND, kind="product",
                description="SO3-1 drought intensity of each year's December SPI"),
        Product("so3_hazard_{block}", dtype="int8", legend=dr.SO3_LEGEND,
                description="SO3-1 drought intensity of the last block (worst year of the block)"),
        Product("spi{scale}_december_{year}", description="SPI of the record's last December"),
        Product("spei{scale}_december_{year}", description="SPEI of the record's last December"),
        Product("so3_vulnerability", description="SO3-3 drought vulnerability index in [0, 1]"),
        Table("so3_1_hazard_areas", class_area_columns("year"), dr.SO3_LEGEND, groups={"drought": DROUGHT_AFFECTED}),
        Table("so3_1_hazard_blocks", class_area_columns("block"), dr.SO3_LEGEND, shares=True,
              groups={"drought": DROUGHT_AFFECTED}),
        Table("so3_2_exposure", EXPOSURE_COLUMNS, dr.SO3_LEGEND, groups={"drought": DROUGHT_AFFECTED}),
        Table("so3_2_exposure_by_sex", (*EXPOSURE_COLUMNS, "sex"), dr.SO3_LEGEND, groups={"drought": DROUGHT_AFFECTED}),
        Table("so3_3_vulnerability", mean_columns("vulnerability")),
        Table("sdg_15_3_1_by_drought_class", (*class_area_columns("period", land=True), "block"), SDG3,
              description="SDG 15.3.1 classes of the latest period by the latest block's drought class, on the SDG grid"),
    ),
)
