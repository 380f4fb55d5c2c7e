"""Stages `sensitivity` (MEDALUS ESAI) and `sand` (drift potential, RWEQ sand fixation).

`sensitivity` works on the ``ndvi`` grid: plant cover from the latest annual NDVI (dimidiate pixel
model), vegetation scores from the latest UNCCD land cover, rainfall and aridity scores from the climate
inputs (reprojected bilinearly from the climate grid). Soil and management layers are optional inputs
(``texture``, derived from ``sand`` and ``clay`` % when not given, ``parent_material``, ``rock_fragments``, ``depth``, ``slope``, ``drainage``,
``land_use_intensity``, ``policy`` as score layers); those absent follow the ``missing`` parameter,
``present`` by default (each quality index the geometric mean of its layers present), and are listed in
the table, the map tags and ``sensitivity_layers`` (one row per score layer: present or missing, its
score range, and whether it is constant over the assessed area, so that it does not differentiate).

`sand` works on the wind inputs' grid for the drift potential (Fryberger; winds coarser than 3-hourly
are warned about, recorded in ``sand_drift_resultant``) and on the ``ndvi`` grid for RWEQ: the weather
factor per half-month (``rweq_period``) is reprojected bilinearly onto it and combined with the soil
texture inputs (``sand``, ``silt``, ``clay``, ``organic_matter`` in %) and the vegetation cover; the
annual losses are the sums of the period losses (``sand_fixation_by_period`` holds the periods). Cells
where the point form gives a negative service are flagged (map ``sand_fixation_negative``, area and
share in ``sand_fixation``). An optional ``elevation`` input (a DEM in m, on the ``ndvi`` grid or with a
``resampling`` rule) gives the roughness factor K' per cell (:func:`dldd.indicators.sand.terrain_roughness_factor`:
Kr = 0.2 dH^2 / L with dH the elevation range within ``terrain_window_cells`` x ``terrain_window_cells``
cells and L = (window - 1) cell sizes, the square root of the cell's area; K' capped at 1 where the
fitted form exceeds it, those cells counted in ``sand_fixation`` and mapped); without it K' = 1.
"""

from __future__ import annotations

import warnings
from typing import Literal

import dask
import numpy as np
import pandas as pd
import xarray as xr

from dldd.core.grid import align_inputs, reproject_like
from dldd.core.legend import CLASS_NODATA
from dldd.core.units import convert
from dldd.errors import InputError
from dldd.indicators import sand as sd
from dldd.indicators import sensitivity as se
from dldd.pipeline.stages.base import Params, Stage
from dldd.pipeline.stages.climate import climate_inputs
from dldd.pipeline.stages.land_cover import nested_land_cover
from dldd.stats.zonal import class_areas, weighted_means

SCORE_INPUTS = ("texture", "parent_material", "rock_fragments", "depth", "slope", "drainage",
                "land_use_intensity", "policy")
SOIL_INPUTS = ("sand", "silt", "clay", "organic_matter")
#: Optional DEM (m) for RWEQ's roughness factor K' from terrain.
ELEVATION_INPUT = "elevation"
#: Land-use intensity class (1 low, 2 medium, 3 high) assumed from UNCCD land cover when no intensity
#: layer is given (a dldd proxy, not Kosmas99): cropland and artificial land high, grassland (grazed)
#: medium, tree-covered, wetland and other land low; water has none.
LAND_USE_INTENSITY_FROM_LAND_COVER = {1: 1, 2: 2, 3: 3, 4: 1, 5: 3, 6: 1}
#: m2 per km2 and kg per t, for totals of sand fixation.
M2_PER_KM2 = 1e6
KG_PER_T = 1e3


#: Which quality index each score layer belongs to.
INDEX_OF_LAYER = {**{n: "SQI" for n in se.SQI_LAYERS}, **{n: "CQI" for n in se.CQI_LAYERS},
                  **{n: "VQI" for n in se.VQI_LAYERS}, **{n: "MQI" for n in se.MQI_LAYERS}}


class SensitivityParams(Params):
    missing: Literal["present", "error"] = "present"
    ndvi_soil: float = 0.05
    ndvi_vegetation: float = 0.80


class SandParams(Params):
    threshold_knots: float = sd.THRESHOLD_KNOTS
    #: Height of the wind inputs (m): brought to 10 m for DP and to 2 m for RWEQ by the log law.
    wind_height_m: float = 10.0
    elevation_m: float = 0.0
    air_temperature_c: float = 15.0
    #: RWEQ loss form; "point" keeps the published form and flags negative service, "field_mean" is monotone.
    rweq_loss: Literal["point", "field_mean"] = "point"
    rweq_period: Literal["half_month", "month"] = "half_month"
    cog_form: Literal["flat", "canopy"] = "flat"
    #: COG coefficient per UNCCD land cover class (a study's fitted values); empty: one coefficient.
    cog_coefficients: dict[int, float] = {}
    #: Window (odd number of cells) of the elevation range dH for K' from terrain (elevation input only).
    terrain_window_cells: int = sd.TERRAIN_WINDOW_CELLS


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
    by_index = "; ".join(f"{k.upper()}: {ds[k].attrs['layers_missing'] or 'none'}" for k in ("sqi", "cqi", "vqi", "mqi"))
    for m in (esai, esa):
        m.attrs["absent_layers"] = f"layers missing (each quality index the geometric mean of its layers present): {by_index}"
        m.attrs["layers_missing"] = by_index
    regions = ctx.region_set(like)
    area = ctx.cell_area(like)
    t = class_areas(ctx.georef(esa), regions.weights, area, se.ESA_LEGEND, region_info=regions.info)
    t["absent_layers"] = ", ".join(absent)
    ctx.write_table("esa_class_areas", t)
    layers = _layer_table(scores, absent)
    ctx.write_table("sensitivity_layers", layers)
    ctx.write_map("esai", esai)
    ctx.write_map("esa_class", esa)
    ctx.summary["sensitivity"] = {"missing": p.missing, "absent_layers": absent,
                                  "constant_scores": layers.loc[layers["constant"] == True, "layer"].tolist()}  # noqa: E712


def _layer_table(scores: dict, absent: list[str]) -> pd.DataFrame:
    """One row per MEDALUS score layer: index, present/missing, score range over the area, constant or not.

    A layer whose score is the same everywhere (e.g. rainfall below 280 mm scoring 4 across a desert)
    does not differentiate the map; the report says so.
    """
    present = [n for n in INDEX_OF_LAYER if n in scores]
    ranges = dask.compute(*[(scores[n].min(), scores[n].max()) for n in present])
    rows = []
    for n, (lo, hi) in zip(present, ranges):
        lo, hi = float(lo), float(hi)
        rows.append({"index": INDEX_OF_LAYER[n], "layer": n, "status": "present", "min_score": lo, "max_score": hi,
                     "constant": bool(np.isfinite(lo) and lo == hi)})
    for n in absent:
        rows.append({"index": INDEX_OF_LAYER[n], "layer": n, "status": "missing", "min_score": np.nan,
                     "max_score": np.nan, "constant": False})
    return pd.DataFrame(rows, columns=["index", "layer", "status", "min_score", "max_score", "constant"])


def run_sand(ctx, p: SandParams) -> None:
    wind = ctx.inputs_aligned(["wind_speed", "wind_direction"], "wind_speed")
    speed, direction = wind["wind_speed"].chunk({"time": -1}), wind["wind_direction"].chunk({"time": -1})
    step_hours = sd.check_wind_resolution(speed)  # warns when coarser than 3-hourly
    kw = dict(units="m/s", threshold_knots=p.threshold_knots, height=p.wind_height_m)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sd.CoarseWindWarning)  # warned once above
        dp = sd.drift_potential(speed, direction, **kw)
    by_dir = sd.drift_by_direction(speed, direction, **kw)
    wf = sd.wind_factor_by_period(speed, period=p.rweq_period, height=p.wind_height_m)
    dp = ctx.intermediate("sand_drift", dp.assign(by_direction=by_dir, wind_factor=wf))
    by_dir, wf = dp["by_direction"].rename(by_dir.name), dp["wind_factor"].rename(wf.name)
    regions = ctx.region_set(speed)
    area = ctx.cell_area(speed)
    dp_class = ctx.georef(dp["dp_class"])
    ctx.write_table("sand_drift_class_areas", class_areas(dp_class, regions.weights, area, sd.DP_ENERGY_LEGEND,
                                                          region_info=regions.info))
    ctx.write_table("sand_directionality_class_areas", class_areas(
        ctx.georef(dp["rdp_dp_class"]), regions.weights, area, sd.DIRECTIONALITY_LEGEND, region_info=regions.info))
    means = weighted_means(ctx.georef(dp["dp"]), regions.weights, area, region_info=regions.info, name="dp_vu")
    means["dp_class"] = [sd.DP_ENERGY_LEGEND.label(int(c)) if np.isfinite(c) else "no data"
                         for c in sd.dp_energy_class(xr.DataArray(means["mean_dp_vu"].values)).values]
    ctx.write_table("sand_drift_potential", means)
    # mean drift per direction sector over the scene and its resultant, for the sand rose of the report
    sectors = by_dir.weighted(area.fillna(0)).mean(("y", "x")).compute()
    ctx.write_table("sand_drift_by_direction", sectors.to_dataframe(name="dp_vu").reset_index()[["direction", "dp_vu"]])
    ctx.write_table("sand_drift_resultant", _resultant_table(sectors, step_hours, p))
    for name in ("dp", "rdd", "dp_class", "rdp_dp_class"):
        ctx.write_map(f"sand_{name}", ctx.georef(dp[name]))
    ctx.summary["sand"] = {"threshold_knots": p.threshold_knots, "wind_height_m": p.wind_height_m,
                           "wind_step_hours": step_hours,
                           "coarse_winds": bool(step_hours is not None and step_hours > sd.MAX_DRIFT_STEP_HOURS)}
    if all(ctx.has(n) for n in SOIL_INPUTS) and ctx.has("ndvi"):
        _rweq(ctx, p, ctx.georef(wf))


def _resultant_table(sectors: xr.DataArray, step_hours: float | None, p: SandParams) -> pd.DataFrame:
    """One row: DP, RDP, RDD, RDP/DP and their classes of the scene's area-weighted mean sand rose."""
    r = sd.resultant_of_sectors(sectors)
    dp, rdp, rdd, ratio = (float(r[k]) for k in ("dp", "rdp", "rdd", "rdp_dp"))
    dp_class = int(sd.dp_energy_class(r["dp"]))
    ratio_class = int(sd.directionality_class(r["rdp_dp"]))
    return pd.DataFrame([{
        "dp_vu": dp, "rdp_vu": rdp, "rdd_deg": rdd, "rdp_dp": ratio,
        "dp_class": sd.DP_ENERGY_LEGEND.label(dp_class),
        "rdp_dp_class": sd.DIRECTIONALITY_LEGEND.label(ratio_class),
        "wind_step_hours": step_hours, "wind_height_m": p.wind_height_m,
        "coarse_winds": bool(step_hours is not None and step_hours > sd.MAX_DRIFT_STEP_HOURS),
    }])


def _rweq(ctx, p: SandParams, wf: xr.DataArray) -> None:
    arrays = ctx.inputs_aligned(["ndvi", *SOIL_INPUTS], "ndvi")
    like = _latest(arrays["ndvi"])
    rho = sd.air_density(xr.DataArray(p.air_temperature_c), p.elevation_m)
    wf_grid = xr.concat([reproject_like(wf.isel(period=i), like, "bilinear") for i in range(wf.sizes["period"])],
                        dim="period", coords="different", compat="equals")
    weather = sd.weather_factor(wf_grid, rho)
    ef = sd.erodible_fraction(arrays["sand"], arrays["silt"], arrays["clay"], arrays["organic_matter"])
    scf = sd.crust_factor(arrays["clay"], arrays["organic_matter"])
    cover = _cover_percent(arrays["ndvi"], SensitivityParams().ndvi_soil, SensitivityParams().ndvi_vegetation)
    coefficient = None
    if p.cog_coefficients and not ctx.has("land_cover"):
        raise InputError("indicators.sand.cog_coefficients: coefficients per land cover class need the land_cover input")
    if p.cog_coefficients:
        coefficient = sd.coefficient_by_class(_onto(ctx, _latest(nested_land_cover(ctx)), like, "nearest"),
                                              p.cog_coefficients)
    terrain = _terrain_roughness(ctx, p, arrays["ndvi"]) if ctx.has(ELEVATION_INPUT) else None
    k_prime = 1.0 if terrain is None else terrain["k_roughness"]
    per_period = sd.sand_fixation(weather, ef, scf, k_prime, cover, loss=p.rweq_loss, cog_form=p.cog_form,
                                  cog_coefficient=coefficient).drop_vars("negative_service")
    annual = {v: sd.annual_sum(per_period[v]) for v in ("potential_loss", "actual_loss", "sand_fixation")}
    annual["negative_service"] = sd.negative_service_flag(annual["sand_fixation"])
    res = ctx.intermediate("sand_fixation", xr.Dataset(annual).assign(
        **{f"{v}_by_period": per_period[v] for v in ("potential_loss", "actual_loss", "sand_fixation")}))
    regions = ctx.region_set(like)
    area = ctx.cell_area(like)
    keys = ("region", "name", "subregion")
    rows = []
    for var in ("potential_loss", "actual_loss", "sand_fixation"):
        m = weighted_means(ctx.georef(res[var]), regions.weights, area, region_info=regions.info, name=var)
        m[f"total_{var}_t_per_year"] = m[f"mean_{var}"] * m["area_with_data_km2"] * M2_PER_KM2 / KG_PER_T
        rows.append(m.set_index([c for c in m.columns if c in keys]))
    negative = res["negative_service"]
    rows.append(_flag_share(ctx, negative, sd.SERVICE_NEGATIVE, "negative_service", regions, area, keys))
    if terrain is not None:
        k = weighted_means(ctx.georef(terrain["k_roughness"]), regions.weights, area, region_info=regions.info,
                           name="k_roughness")
        rows.append(k.set_index([c for c in k.columns if c in keys])[["mean_k_roughness"]])
        rows.append(_flag_share(ctx, terrain["k_capped"], sd.K_CAPPED, "k_capped", regions, area, keys))
    table = pd.concat(rows, axis=1)
    table = table.loc[:, ~table.columns.duplicated()].reset_index()
    table["rweq_period"] = p.rweq_period
    table["rweq_loss"] = p.rweq_loss
    table["n_periods"] = res.sizes["period"]
    if terrain is not None:
        table["k_roughness"] = f"terrain ({p.terrain_window_cells} x {p.terrain_window_cells} cells)"
        table["k_capped_cells"] = int((terrain["k_capped"] == sd.K_CAPPED).sum())
    ctx.write_table("sand_fixation", table)
    ctx.write_table("sand_fixation_by_period", _by_period_table(ctx, res, regions, area, keys))
    ctx.write_map("sand_fixation", ctx.georef(res["sand_fixation"]))
    ctx.write_map("sand_fixation_negative", ctx.georef(negative))
    ctx.summary["sand"].update(rweq_loss=p.rweq_loss, rweq_period=p.rweq_period, cog_form=p.cog_form,
                               cog_coefficients={str(k): v for k, v in p.cog_coefficients.items()})
    if terrain is not None:
        ctx.write_map("sand_k_roughness", ctx.georef(terrain["k_roughness"]))
        ctx.write_map("sand_k_roughness_capped", ctx.georef(terrain["k_capped"]))
        ctx.summary["sand"].update(k_roughness="terrain", terrain_window_cells=p.terrain_window_cells,
                                   k_capped_cells=int(table["k_capped_cells"].iloc[0]))


def _terrain_roughness(ctx, p: SandParams, ndvi: xr.DataArray) -> xr.Dataset:
    """K' per cell of the ``ndvi`` grid from the ``elevation`` input (m), with L from the cells' areas."""
    elevation = convert(ctx.input(ELEVATION_INPUT), "m", ELEVATION_INPUT)
    if set(elevation.dims) != {"y", "x"}:
        raise InputError(f"input {ELEVATION_INPUT!r}: dimensions {tuple(elevation.dims)}; expected one (y, x) "
                         "elevation map (a DEM in m)")
    rules = {ELEVATION_INPUT: ctx.spec.inputs[ELEVATION_INPUT].resampling}
    elevation = align_inputs({"ndvi": ndvi, ELEVATION_INPUT: elevation}, "ndvi", rules)[ELEVATION_INPUT]
    cell_size_m = np.sqrt(ctx.cell_area(ndvi) * M2_PER_KM2)
    return sd.terrain_roughness_factor(elevation, cell_size_m, window=p.terrain_window_cells)


def _flag_share(ctx, flag: xr.DataArray, code: int, prefix: str, regions, area, keys) -> pd.DataFrame:
    """``{prefix}_area_km2`` and ``{prefix}_share_pct`` (of the area with data) of the cells flagged ``code``."""
    share = weighted_means(ctx.georef((flag == code).astype(float).where(flag != CLASS_NODATA)),
                           regions.weights, area, region_info=regions.info, name=prefix)
    share[f"{prefix}_area_km2"] = share[f"mean_{prefix}"] * share["area_with_data_km2"]
    share[f"{prefix}_share_pct"] = 100.0 * share[f"mean_{prefix}"]
    return share.set_index([c for c in share.columns if c in keys])[[f"{prefix}_area_km2", f"{prefix}_share_pct"]]


def _by_period_table(ctx, res: xr.Dataset, regions, area, keys) -> pd.DataFrame:
    """Area-weighted mean losses and service per region and RWEQ period (kg m-2 per period)."""
    parts = []
    for i, start in enumerate(pd.DatetimeIndex(res["period"].values)):
        cols = []
        for var in ("potential_loss", "actual_loss", "sand_fixation"):
            m = weighted_means(ctx.georef(res[f"{var}_by_period"].isel(period=i, drop=True)), regions.weights, area,
                               region_info=regions.info, name=var)
            cols.append(m.set_index([c for c in m.columns if c in keys]))
        t = pd.concat(cols, axis=1)
        t = t.loc[:, ~t.columns.duplicated()].reset_index()
        t.insert(0, "period", start.strftime("%Y-%m-%d"))
        t.insert(1, "period_days", float(res["period_days"].values[i]))
        parts.append(t)
    return pd.concat(parts, ignore_index=True)


SENSITIVITY = Stage(name="sensitivity", description="MEDALUS environmentally sensitive areas (ESAI, ESA classes)",
                    needs=("ndvi", "land_cover"), optional=SCORE_INPUTS, params=SensitivityParams,
                    run=run_sensitivity, after=("aridity",))
SAND = Stage(name="sand", description="sand drift potential (Fryberger) and RWEQ sand-fixation service",
             needs=("wind_speed", "wind_direction"), optional=SOIL_INPUTS + ("ndvi", ELEVATION_INPUT), params=SandParams,
             run=run_sand)
