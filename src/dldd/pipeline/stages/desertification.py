"""Stages `sensitivity` (MEDALUS ESAI) and `sand` (drift potential, RWEQ sand fixation).

`sensitivity` works on the ``ndvi`` grid: plant cover from the latest annual NDVI (dimidiate pixel
model), vegetation scores from the latest UNCCD land cover, rainfall and aridity scores from the climate
inputs (reprojected bilinearly from the climate grid). Soil and management layers are optional inputs
(``texture``, derived from ``sand`` and ``clay`` % when not given, ``parent_material``, ``rock_fragments``, ``depth``, ``slope``, ``drainage``,
``land_use_intensity``, ``policy`` as score layers); those absent follow the ``missing`` parameter,
``neutral`` by default (the least sensitive score, 1.0), and are listed in the table and the map tags.

`sand` works on the wind inputs' grid for the drift potential (Fryberger) and on the ``ndvi`` grid for
RWEQ: the mean annual weather factor is reprojected bilinearly onto it and combined with the soil
texture inputs (``sand``, ``silt``, ``clay``, ``organic_matter`` in %) and the vegetation cover.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr

from dldd.core.grid import reproject_like
from dldd.indicators import sand as sd
from dldd.indicators import sensitivity as se
from dldd.pipeline.stages.base import Params, Stage
from dldd.pipeline.stages.climate import climate_inputs
from dldd.pipeline.stages.land_cover import nested_land_cover
from dldd.zonal import class_areas, weighted_means

SCORE_INPUTS = ("texture", "parent_material", "rock_fragments", "depth", "slope", "drainage",
                "land_use_intensity", "policy")
SOIL_INPUTS = ("sand", "silt", "clay", "organic_matter")
#: Land-use intensity class (1 low, 2 medium, 3 high) assumed from UNCCD land cover when no intensity
#: layer is given (a dldd proxy, not Kosmas99): cropland and artificial land high, grassland (grazed)
#: medium, tree-covered, wetland and other land low; water has none.
LAND_USE_INTENSITY_FROM_LAND_COVER = {1: 1, 2: 2, 3: 3, 4: 1, 5: 3, 6: 1}
#: m2 per km2 and kg per t, for totals of sand fixation.
M2_PER_KM2 = 1e6
KG_PER_T = 1e3


class SensitivityParams(Params):
    missing: Literal["neutral", "error"] = "neutral"
    ndvi_soil: float = 0.05
    ndvi_vegetation: float = 0.80


class SandParams(Params):
    threshold_knots: float = sd.THRESHOLD_KNOTS
    wind_height_m: float = 10.0
    elevation_m: float = 0.0
    air_temperature_c: float = 15.0
    rweq_loss: Literal["point", "field_mean"] = "point"


def _latest(da: xr.DataArray) -> xr.DataArray:
    return da.isel(time=-1, drop=True) if "time" in da.dims else da


def _cover_percent(ndvi: xr.DataArray, soil: float, veg: float) -> xr.DataArray:
    return se.fractional_vegetation_cover(_latest(ndvi), ndvi_soil=soil, ndvi_veg=veg, percent=True)


def _annual_precip(ctx) -> xr.DataArray:
    pr = climate_inputs(ctx)["precipitation"]
    return pr.resample(time="YS").sum().isel(time=slice(-30, None)).mean("time")


def _onto(ctx, da: xr.DataArray, like: xr.DataArray, rule: str = "bilinear") -> xr.DataArray:
    return reproject_like(ctx.georef(da), like, rule)


def run_sensitivity(ctx, p: SensitivityParams) -> None:
    names = ["ndvi"] + [n for n in SCORE_INPUTS + ("sand", "clay") if ctx.has(n)]
    arrays = ctx.inputs_aligned(names, "ndvi")
    like = _latest(arrays["ndvi"])
    scores = {n: arrays[n] for n in SCORE_INPUTS if n in arrays}
    if "texture" not in scores and "sand" in arrays and "clay" in arrays:
        scores["texture"] = se.texture_score(se.usda_texture_class(arrays["sand"], arrays["clay"]))
    cover = _cover_percent(arrays["ndvi"], p.ndvi_soil, p.ndvi_vegetation)
    scores["plant_cover"] = se.plant_cover_score(cover)
    lc = _latest(nested_land_cover(ctx))
    scores.update(se.vegetation_scores_from_land_cover(lc))
    if "land_use_intensity" not in scores:
        lut = np.full(256, np.nan)
        for code, level in LAND_USE_INTENSITY_FROM_LAND_COVER.items():
            lut[code] = level
        level = xr.apply_ufunc(lambda c: lut[np.asarray(c).astype(np.int64) % 256], lc, dask="parallelized",
                               output_dtypes=[float])
        scores["land_use_intensity"] = se.land_use_intensity_score(level.where(np.isfinite(level), -128).astype("int16"))
    if ctx.has("precipitation"):
        scores["rainfall"] = se.rainfall_score(_onto(ctx, _annual_precip(ctx), like))
    ai = ctx.products.get("aridity_index")
    if ai is not None:
        scores["aridity"] = se.aridity_score(aridity_index=_onto(ctx, ai, like))
    absent = sorted(set(se.SQI_LAYERS + se.CQI_LAYERS + se.VQI_LAYERS + se.MQI_LAYERS) - set(scores))
    ds = se.medalus(scores, missing=p.missing)
    stored = ctx.store_layers("sensitivity", {"esai": ds["esai"], "esa_class": ds["esa_class"]})
    esai, esa = stored["esai"], stored["esa_class"]
    note = f"layers scored neutral (1.0, absent): {', '.join(absent) or 'none'}"
    esai.attrs["absent_layers"] = note
    esa.attrs["absent_layers"] = note
    regions = ctx.region_set(like)
    area = ctx.cell_area(like)
    t = class_areas(ctx.georef(esa), regions.weights, area, se.ESA_LEGEND, region_info=regions.info)
    t["absent_layers"] = ", ".join(absent)
    ctx.write_table("esa_class_areas", t)
    ctx.write_map("esai", esai)
    ctx.write_map("esa_class", esa)
    ctx.summary["sensitivity"] = {"missing": p.missing, "absent_layers": absent}


def run_sand(ctx, p: SandParams) -> None:
    wind = ctx.inputs_aligned(["wind_speed", "wind_direction"], "wind_speed")
    speed, direction = wind["wind_speed"].chunk({"time": -1}), wind["wind_direction"].chunk({"time": -1})
    dp = sd.drift_potential(speed, direction, units="m/s", threshold_knots=p.threshold_knots)
    by_dir = sd.drift_by_direction(speed, direction, units="m/s", threshold_knots=p.threshold_knots)
    wf = sd.wind_factor(speed, height=p.wind_height_m, period_days=365.25)
    dp = ctx.intermediate("sand_drift", dp.assign(by_direction=by_dir, wind_factor=wf))
    by_dir, wf = dp["by_direction"].rename(by_dir.name), dp["wind_factor"].rename(wf.name)
    regions = ctx.region_set(speed)
    area = ctx.cell_area(speed)
    dp_class = ctx.georef(dp["dp_class"])
    ctx.write_table("sand_drift_class_areas", class_areas(dp_class, regions.weights, area, sd.DP_ENERGY_LEGEND,
                                                          region_info=regions.info))
    means = weighted_means(ctx.georef(dp["dp"]), regions.weights, area, region_info=regions.info, name="dp_vu")
    means["dp_class"] = [sd.DP_ENERGY_LEGEND.label(int(c)) if np.isfinite(c) else "no data"
                         for c in sd.dp_energy_class(xr.DataArray(means["mean_dp_vu"].values)).values]
    ctx.write_table("sand_drift_potential", means)
    # mean drift per direction sector over the scene, for the sand rose of the report
    sectors = by_dir.weighted(area.fillna(0)).mean(("y", "x")).compute()
    ctx.write_table("sand_drift_by_direction", sectors.to_dataframe(name="dp_vu").reset_index()[["direction", "dp_vu"]])
    for name in ("dp", "rdd", "dp_class"):
        ctx.write_map(f"sand_{name}", ctx.georef(dp[name]))
    ctx.summary["sand"] = {"threshold_knots": p.threshold_knots}
    if all(ctx.has(n) for n in SOIL_INPUTS) and ctx.has("ndvi"):
        _rweq(ctx, p, ctx.georef(wf))


def _rweq(ctx, p: SandParams, wf: xr.DataArray) -> None:
    arrays = ctx.inputs_aligned(["ndvi", *SOIL_INPUTS], "ndvi")
    like = _latest(arrays["ndvi"])
    rho = sd.air_density(xr.DataArray(p.air_temperature_c), p.elevation_m)
    weather = sd.weather_factor(reproject_like(wf, like, "bilinear"), rho)
    ef = sd.erodible_fraction(arrays["sand"], arrays["silt"], arrays["clay"], arrays["organic_matter"])
    scf = sd.crust_factor(arrays["clay"], arrays["organic_matter"])
    cover = _cover_percent(arrays["ndvi"], SensitivityParams().ndvi_soil, SensitivityParams().ndvi_vegetation)
    res = ctx.intermediate("sand_fixation", sd.sand_fixation(weather, ef, scf, 1.0, cover, loss=p.rweq_loss))
    regions = ctx.region_set(like)
    area = ctx.cell_area(like)
    rows = []
    for var in ("potential_loss", "actual_loss", "sand_fixation"):
        m = weighted_means(ctx.georef(res[var]), regions.weights, area, region_info=regions.info, name=var)
        m[f"total_{var}_t_per_year"] = m[f"mean_{var}"] * m["area_with_data_km2"] * M2_PER_KM2 / KG_PER_T
        rows.append(m.set_index([c for c in m.columns if c in ("region", "name", "subregion")]))
    table = pd.concat(rows, axis=1)
    table = table.loc[:, ~table.columns.duplicated()].reset_index()
    ctx.write_table("sand_fixation", table)
    ctx.write_map("sand_fixation", ctx.georef(res["sand_fixation"]))
    ctx.summary["sand"]["rweq_loss"] = p.rweq_loss


SENSITIVITY = Stage(name="sensitivity", description="MEDALUS environmentally sensitive areas (ESAI, ESA classes)",
                    needs=("ndvi", "land_cover"), optional=SCORE_INPUTS, params=SensitivityParams,
                    run=run_sensitivity, after=("aridity",))
SAND = Stage(name="sand", description="sand drift potential (Fryberger) and RWEQ sand-fixation service",
             needs=("wind_speed", "wind_direction"), optional=SOIL_INPUTS + ("ndvi",), params=SandParams,
             run=run_sand)
