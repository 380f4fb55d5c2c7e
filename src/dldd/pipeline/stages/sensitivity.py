"""Stage `sensitivity`: MEDALUS environmentally sensitive areas (ESAI and ESA classes).

`sensitivity` works on the ``ndvi`` grid: plant cover from the latest annual NDVI (dimidiate pixel
model), vegetation scores from the latest UNCCD land cover, rainfall and aridity scores from the climate
inputs (reprojected bilinearly from the climate grid). Soil and management layers are optional inputs
(``texture``, derived from ``sand`` and ``clay`` % when not given, ``parent_material``, ``rock_fragments``, ``depth``, ``slope``, ``drainage``,
``land_use_intensity``, ``policy`` as score layers); those absent follow the ``missing`` parameter,
``present`` by default (each quality index the geometric mean of its layers present), and are listed in
the table, the map tags and ``sensitivity_layers`` (one row per score layer: present or missing, its
score range, and whether it is constant over the assessed area, so that it does not differentiate).
"""

from __future__ import annotations

from typing import Literal

import dask
import numpy as np
import pandas as pd
import xarray as xr

from dldd.indicators import sensitivity as se
from dldd.pipeline.contracts import Product, Table, class_area_columns
from dldd.pipeline.inputs import (NDVI_SOIL, NDVI_VEGETATION, climate_inputs, cover_percent, latest,
                                  nested_land_cover, onto)
from dldd.pipeline.stages.base import Params, Stage
from dldd.stats.zonal import class_areas

SCORE_INPUTS = ("texture", "parent_material", "rock_fragments", "depth", "slope", "drainage",
                "land_use_intensity", "policy")
#: Land-use intensity class (1 low, 2 medium, 3 high) assumed from UNCCD land cover when no intensity
#: layer is given (a dldd proxy, not Kosmas99): cropland and artificial land high, grassland (grazed)
#: medium, tree-covered, wetland and other land low; water has none.
LAND_USE_INTENSITY_FROM_LAND_COVER = {1: 1, 2: 2, 3: 3, 4: 1, 5: 3, 6: 1}

#: Which quality index each score layer belongs to.
INDEX_OF_LAYER = {**{n: "SQI" for n in se.SQI_LAYERS}, **{n: "CQI" for n in se.CQI_LAYERS},
                  **{n: "VQI" for n in se.VQI_LAYERS}, **{n: "MQI" for n in se.MQI_LAYERS}}


class SensitivityParams(Params):
    missing: Literal["present", "error"] = "present"
    ndvi_soil: float = NDVI_SOIL
    ndvi_vegetation: float = NDVI_VEGETATION


def _annual_precip(ctx) -> xr.DataArray:
    """Mean annual precipitation of the record's last 30 years."""
    pr = climate_inputs(ctx)["precipitation"]
    return pr.resample(time="YS").sum().isel(time=slice(-30, None)).mean("time")


def run_sensitivity(ctx, p: SensitivityParams) -> None:
    names = ["ndvi"] + [n for n in SCORE_INPUTS + ("sand", "clay") if ctx.has(n)]
    arrays = ctx.inputs_aligned(names, "ndvi")
    like = latest(arrays["ndvi"])
    scores = {n: arrays[n] for n in SCORE_INPUTS if n in arrays}
    if "texture" not in scores and "sand" in arrays and "clay" in arrays:
        scores["texture"] = se.texture_score(se.usda_texture_class(arrays["sand"], arrays["clay"]))
    cover = cover_percent(arrays["ndvi"], p.ndvi_soil, p.ndvi_vegetation)
    scores["plant_cover"] = se.plant_cover_score(cover)
    lc = latest(nested_land_cover(ctx))
    scores.update(se.vegetation_scores_from_land_cover(lc))
    if "land_use_intensity" not in scores:
        lut = np.full(256, np.nan)
        for code, level in LAND_USE_INTENSITY_FROM_LAND_COVER.items():
            lut[code] = level
        level = xr.apply_ufunc(lambda c: lut[np.asarray(c).astype(np.int64) % 256], lc, dask="parallelized",
                               output_dtypes=[float])
        scores["land_use_intensity"] = se.land_use_intensity_score(level.where(np.isfinite(level), -128).astype("int16"))
    if ctx.has("precipitation"):
        scores["rainfall"] = se.rainfall_score(onto(ctx, _annual_precip(ctx), like))
    ai = ctx.products.get("aridity_index")
    if ai is not None:
        scores["aridity"] = se.aridity_score(aridity_index=onto(ctx, ai, like))
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


SENSITIVITY = Stage(
    name="sensitivity", description="MEDALUS environmentally sensitive areas (ESAI, ESA classes)",
    needs=("ndvi", "land_cover"), optional=SCORE_INPUTS, params=SensitivityParams,
    run=run_sensitivity, after=("aridity",),
    provides=(
        Product("esai", description="MEDALUS environmentally sensitive area index (geometric mean of SQI, CQI, VQI, MQI)"),
        Product("esa_class", dtype="int8", legend=se.ESA_LEGEND, condition="esa_class",
                description="MEDALUS environmentally sensitive area class"),
        Table("esa_class_areas", (*class_area_columns(), "absent_layers"), se.ESA_LEGEND, shares=True),
        Table("sensitivity_layers", ("index", "layer", "status", "min_score", "max_score", "constant")),
    ),
    uses=("aridity_index",),
)
