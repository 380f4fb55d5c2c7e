"""Stage `sand`: drift potential (Fryberger) and RWEQ sand fixation.

`sand` works on the wind inputs' grid for the drift potential (Fryberger; winds coarser than 3-hourly
are warned about, recorded in ``sand_drift_resultant``) and on the ``ndvi`` grid for RWEQ: the weather
factor per half-month (``rweq_period``) is reprojected bilinearly onto it and combined with the soil
texture inputs (``sand``, ``silt``, ``clay``, ``organic_matter`` in %) and the vegetation cover; the
annual losses are the sums of the period losses (``sand_fixation_by_period`` holds the periods). Cells
where the point form gives a negative service are flagged (map ``sand_fixation_negative``, area and
share in ``sand_fixation``). An optional ``elevation`` input (a DEM in m, on the ``ndvi`` grid or with a
``resampling`` rule) gives the roughness factor K' per cell (:func:`dldd.indicators.sand.rweq.terrain_roughness_factor`:
Kr = 0.2 dH^2 / L with dH the elevation range within ``terrain_window_cells`` x ``terrain_window_cells``
cells and L = (window - 1) cell sizes, the square root of the cell's area; K' capped at 1 where the
fitted form exceeds it, those cells counted in ``sand_fixation`` and mapped); without it K' = 1.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr

from dldd.core.grid import align_inputs, reproject_like
from dldd.core.legend import CLASS_NODATA
from dldd.core.units import convert
from dldd.errors import InputError
from dldd.indicators.sand import drift, rweq
from dldd.pipeline.contracts import REGION_COLUMNS, Product, Table, class_area_columns, mean_columns
from dldd.pipeline.inputs import cover_percent, latest, nested_land_cover, onto
from dldd.pipeline.stages.base import Params, Stage
from dldd.stats.zonal import class_areas, weighted_means

SOIL_INPUTS = ("sand", "silt", "clay", "organic_matter")
#: Optional DEM (m) for RWEQ's roughness factor K' from terrain.
ELEVATION_INPUT = "elevation"
#: m2 per km2 and kg per t, for totals of sand fixation.
M2_PER_KM2 = 1e6
KG_PER_T = 1e3



class SandParams(Params):
    threshold_knots: float = drift.THRESHOLD_KNOTS
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
    terrain_window_cells: int = rweq.TERRAIN_WINDOW_CELLS


def run_sand(ctx, p: SandParams) -> None:
    wind = ctx.inputs_aligned(["wind_speed", "wind_direction"], "wind_speed")
    speed, direction = wind["wind_speed"].chunk({"time": -1}), wind["wind_direction"].chunk({"time": -1})
    step_hours = drift.check_wind_resolution(speed)  # warns when coarser than 3-hourly
    kw = dict(units="m/s", threshold_knots=p.threshold_knots, height=p.wind_height_m)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", drift.CoarseWindWarning)  # warned once above
        dp = drift.drift_potential(speed, direction, **kw)
    by_dir = drift.drift_by_direction(speed, direction, **kw)
    wf = rweq.wind_factor_by_period(speed, period=p.rweq_period, height=p.wind_height_m)
    dp = ctx.intermediate("sand_drift", dp.assign(by_direction=by_dir, wind_factor=wf))
    by_dir, wf = dp["by_direction"].rename(by_dir.name), dp["wind_factor"].rename(wf.name)
    regions = ctx.region_set(speed)
    area = ctx.cell_area(speed)
    dp_class = ctx.georef(dp["dp_class"])
    ctx.write_table("sand_drift_class_areas", class_areas(dp_class, regions.weights, area, drift.DP_ENERGY_LEGEND,
                                                          region_info=regions.info))
    ctx.write_table("sand_directionality_class_areas", class_areas(
        ctx.georef(dp["rdp_dp_class"]), regions.weights, area, drift.DIRECTIONALITY_LEGEND, region_info=regions.info))
    means = weighted_means(ctx.georef(dp["dp"]), regions.weights, area, region_info=regions.info, name="dp_vu")
    means["dp_class"] = [drift.DP_ENERGY_LEGEND.label(int(c)) if np.isfinite(c) else "no data"
                         for c in drift.dp_energy_class(xr.DataArray(means["mean_dp_vu"].values)).values]
    ctx.write_table("sand_drift_potential", means)
    # mean drift per direction sector over the scene and its resultant, for the sand rose of the report
    sectors = by_dir.weighted(area.fillna(0)).mean(("y", "x")).compute()
    ctx.write_table("sand_drift_by_direction", sectors.to_dataframe(name="dp_vu").reset_index()[["direction", "dp_vu"]])
    ctx.write_table("sand_drift_resultant", _resultant_table(sectors, step_hours, p))
    for name in ("dp", "rdd", "dp_class", "rdp_dp_class"):
        ctx.write_map(f"sand_{name}", ctx.georef(dp[name]))
    ctx.summary["sand"] = {"threshold_knots": p.threshold_knots, "wind_height_m": p.wind_height_m,
                           "wind_step_hours": step_hours,
                           "coarse_winds": bool(step_hours is not None and step_hours > drift.MAX_DRIFT_STEP_HOURS)}
    if all(ctx.has(n) for n in SOIL_INPUTS) and ctx.has("ndvi"):
        _rweq(ctx, p, ctx.georef(wf))


def _resultant_table(sectors: xr.DataArray, step_hours: float | None, p: SandParams) -> pd.DataFrame:
    """One row: DP, RDP, RDD, RDP/DP and their classes of the scene's area-weighted mean sand rose."""
    r = drift.resultant_of_sectors(sectors)
    dp, rdp, rdd, ratio = (float(r[k]) for k in ("dp", "rdp", "rdd", "rdp_dp"))
    dp_class = int(drift.dp_energy_class(r["dp"]))
    ratio_class = int(drift.directionality_class(r["rdp_dp"]))
    return pd.DataFrame([{
        "dp_vu": dp, "rdp_vu": rdp, "rdd_deg": rdd, "rdp_dp": ratio,
        "dp_class": drift.DP_ENERGY_LEGEND.label(dp_class),
        "rdp_dp_class": drift.DIRECTIONALITY_LEGEND.label(ratio_class),
        "wind_step_hours": step_hours, "wind_height_m": p.wind_height_m,
        "coarse_winds": bool(step_hours is not None and step_hours > drift.MAX_DRIFT_STEP_HOURS),
    }])


def _rweq(ctx, p: SandParams, wf: xr.DataArray) -> None:
    arrays = ctx.inputs_aligned(["ndvi", *SOIL_INPUTS], "ndvi")
    like = latest(arrays["ndvi"])
    rho = rweq.air_density(xr.DataArray(p.air_temperature_c), p.elevation_m)
    wf_grid = xr.concat([reproject_like(wf.isel(period=i), like, "bilinear") for i in range(wf.sizes["period"])],
                        dim="period", coords="different", compat="equals")
    weather = rweq.weather_factor(wf_grid, rho)
    ef = rweq.erodible_fraction(arrays["sand"], arrays["silt"], arrays["clay"], arrays["organic_matter"])
    scf = rweq.crust_factor(arrays["clay"], arrays["organic_matter"])
    cover = cover_percent(arrays["ndvi"])
    coefficient = None
    if p.cog_coefficients and not ctx.has("land_cover"):
        raise InputError("indicators.sand.cog_coefficients: coefficients per land cover class need the land_cover input")
    if p.cog_coefficients:
        coefficient = rweq.coefficient_by_class(onto(ctx, latest(nested_land_cover(ctx)), like, "nearest"),
                                              p.cog_coefficients)
    terrain = _terrain_roughness(ctx, p, arrays["ndvi"]) if ctx.has(ELEVATION_INPUT) else None
    k_prime = 1.0 if terrain is None else terrain["k_roughness"]
    per_period = rweq.sand_fixation(weather, ef, scf, k_prime, cover, loss=p.rweq_loss, cog_form=p.cog_form,
                                  cog_coefficient=coefficient).drop_vars("negative_service")
    annual = {v: rweq.annual_sum(per_period[v]) for v in ("potential_loss", "actual_loss", "sand_fixation")}
    annual["negative_service"] = rweq.negative_service_flag(annual["sand_fixation"])
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
    rows.append(_flag_share(ctx, negative, rweq.SERVICE_NEGATIVE, "negative_service", regions, area, keys))
    if terrain is not None:
        k = weighted_means(ctx.georef(terrain["k_roughness"]), regions.weights, area, region_info=regions.info,
                           name="k_roughness")
        rows.append(k.set_index([c for c in k.columns if c in keys])[["mean_k_roughness"]])
        rows.append(_flag_share(ctx, terrain["k_capped"], rweq.K_CAPPED, "k_capped", regions, area, keys))
    table = pd.concat(rows, axis=1)
    table = table.loc[:, ~table.columns.duplicated()].reset_index()
    table["rweq_period"] = p.rweq_period
    table["rweq_loss"] = p.rweq_loss
    table["n_periods"] = res.sizes["period"]
    if terrain is not None:
        table["k_roughness"] = f"terrain ({p.terrain_window_cells} x {p.terrain_window_cells} cells)"
        table["k_capped_cells"] = int((terrain["k_capped"] == rweq.K_CAPPED).sum())
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
    return rweq.terrain_roughness_factor(elevation, cell_size_m, window=p.terrain_window_cells)


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


SAND = Stage(
    name="sand", description="sand drift potential (Fryberger) and RWEQ sand-fixation service",
    needs=("wind_speed", "wind_direction"), optional=SOIL_INPUTS + ("ndvi", ELEVATION_INPUT), params=SandParams,
    run=run_sand,
    provides=(
        Product("sand_dp", units="VU", description="drift potential (Fryberger 1979)"),
        Product("sand_rdd", units="degree", description="resultant drift direction (toward, clockwise from north)"),
        Product("sand_dp_class", dtype="int8", legend=drift.DP_ENERGY_LEGEND, condition="drift_class",
                terms=("low", "intermediate", "high"), description="wind energy environment by DP"),
        Product("sand_rdp_dp_class", dtype="int8", legend=drift.DIRECTIONALITY_LEGEND,
                description="directional variability by RDP/DP"),
        Product("sand_fixation", units="kg m-2", description="RWEQ sand fixation service, annual"),
        Product("sand_fixation_negative", dtype="int8", legend=rweq.NEGATIVE_SERVICE_LEGEND,
                description="cells where the point form gives a negative service"),
        Product("sand_k_roughness", description="RWEQ roughness factor K' from terrain"),
        Product("sand_k_roughness_capped", dtype="int8", legend=rweq.K_CAPPED_LEGEND,
                description="cells where K' was capped at 1"),
        Table("sand_drift_class_areas", class_area_columns(), drift.DP_ENERGY_LEGEND, shares=True),
        Table("sand_directionality_class_areas", class_area_columns(), drift.DIRECTIONALITY_LEGEND, shares=True),
        Table("sand_drift_potential", (*mean_columns("dp_vu"), "dp_class"), drift.DP_ENERGY_LEGEND),
        Table("sand_drift_by_direction", ("direction", "dp_vu"),
              description="area-weighted mean drift potential per direction sector over the scene (VU)"),
        Table("sand_drift_resultant", ("dp_vu", "rdp_vu", "rdd_deg", "rdp_dp", "dp_class", "rdp_dp_class",
                                       "wind_step_hours", "wind_height_m", "coarse_winds"),
              description="resultant drift (RDP, RDD toward, RDP/DP) of the scene's mean sand rose"),
        Table("sand_fixation", (*mean_columns("sand_fixation"), "total_sand_fixation_t_per_year",
                                "negative_service_area_km2", "negative_service_share_pct", "rweq_period",
                                "rweq_loss", "n_periods")),
        Table("sand_fixation_by_period", ("period", "period_days", *REGION_COLUMNS, "mean_potential_loss",
                                          "mean_actual_loss", "mean_sand_fixation")),
    ),
)
