"""Stage `aridity`: PET, aridity index and UNEP dryland zones of two climate periods, and their shifts.

Works on the monthly climate inputs' own grid (reference input: ``precipitation``); ``tmin`` and ``tmax``
must share it (or name a resampling rule). Provides the latest zones (``aridity_class``), the aridity index
and the IPCC climate zone to the stages after it, which reproject the class maps with the nearest-neighbour
rule (:func:`dldd.pipeline.inputs.zones_on`), keeping class codes intact.
"""

from __future__ import annotations

from typing import Literal

import xarray as xr

from dldd.indicators import aridity as ar
from dldd.indicators import soc
from dldd.pipeline.contracts import TRANSITION_COLUMNS, Product, Table, class_area_columns
from dldd.pipeline.inputs import CLIMATE_INPUTS, climate_inputs, monthly_pet
from dldd.pipeline.stages.base import Params, Stage
from dldd.stats.zonal import transition_areas


class AridityParams(Params):
    pet_method: Literal["hargreaves", "thornthwaite"] = "hargreaves"
    first_period: tuple[int, int] = (1981, 2010)
    second_period: tuple[int, int] | None = None  # default: the last 30 years of the record
    hyper_arid_threshold: float = ar.HYPER_ARID_THRESHOLD


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
    yr = c["precipitation"].time.dt.year
    sel = (yr >= period[0]) & (yr <= period[1])
    mat = ((c["tmin"] + c["tmax"]) / 2).sel(time=sel).mean("time")
    annual = c["precipitation"].sel(time=sel).resample(time="YS").sum()
    return soc.ipcc_climate_zone(mat, annual.mean("time"), ai)


ARIDITY = Stage(
    name="aridity", description="PET, aridity index, UNEP dryland zones and their shifts",
    needs=CLIMATE_INPUTS, params=AridityParams, run=run_aridity,
    provides=(
        Product("aridity_class", dtype="int8", legend=ar.ARIDITY_ZONES, kind="product",
                description="UNEP aridity zone of the second climate period"),
        Product("aridity_index", kind="product", description="P/PET of the second climate period"),
        Product("ipcc_climate_zone", dtype="int8", legend=soc.IPCC_CLIMATE_ZONES, kind="product",
                description="IPCC 2006 climate zone of the second climate period"),
        Product("aridity_index", description="P/PET of the second climate period"),
        Product("aridity_zones", dtype="int8", legend=ar.ARIDITY_ZONES, condition="aridity_class",
                description="UNEP aridity zone of the second climate period"),
        Product("aridity_shift", dtype="int8", legend=ar.ARIDITY_SHIFT,
                description="change of aridity zone from the first climate period to the second"),
        Table("aridity_zone_areas", class_area_columns("period"), ar.ARIDITY_ZONES, shares=True,
              groups={"drylands": (ar.HYPER_ARID, ar.ARID, ar.SEMI_ARID, ar.DRY_SUBHUMID)}),
        Table("aridity_zone_shifts", TRANSITION_COLUMNS, ar.ARIDITY_ZONES),
        Table("aridity_shift_areas", class_area_columns(), ar.ARIDITY_SHIFT, shares=True,
              groups={"drier": (ar.DRIER,)}),
    ))
