"""Stage `effectiveness`: each intervention of the spec against matched controls (METHODS 6).

For each intervention: its polygon as coverage fractions on the outcome's grid (the other interventions
of the spec are excluded from its treated and control pixels), exact matching on the
UNCCD land cover of the year before it started (and on the dryland zone when the aridity stage ran),
then :func:`dldd.effectiveness.evaluate.evaluate_intervention` (matched difference in differences with
a spatial standard error and interval, event study, balance, placebo and pre-trend diagnostics, break
tests on the treated-minus-control series). Writes per intervention
``effectiveness/<slug>-<hash>.json``, the role map of its design ``effectiveness/<slug>-<hash>-roles.tif``
(treated and matched control cells, drawn by the report) and the tables ``effectiveness_summary`` (one row per intervention, with
effect per year and the cost per hectare of the matching practices where the knowledge base has it),
``effectiveness_event_study`` and ``effectiveness_balance``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from dldd.core import io
from dldd.errors import InputError
from dldd.pipeline.contracts import Table
from dldd.pipeline.inputs import nested_land_cover, year_map, zones_on
from dldd.pipeline.stages.base import Params, Stage


class EffectivenessParams(Params):
    seed: int = 0  # of the break test's Monte Carlo null distribution


def _slug(name: str) -> str:
    """File name of an intervention's JSON: a short slug and a hash of its id (:func:`dldd.core.io.file_slug`)."""
    return io.file_slug(name)


def _cost_per_ha(kind: str) -> str:
    """Cost range per hectare of the practices of this intervention type, from the knowledge base."""
    from dldd.practices import open_store
    from dldd.practices.evidence import practices_for

    store = open_store()
    costs = []
    for pid in practices_for(kind, store.ids()):
        inputs = store.get(pid).inputs
        cost = inputs.cost_per_ha if inputs is not None else None
        if cost is not None:
            span = "-".join(f"{v:g}" for v in (cost.min, cost.max) if v is not None)
            costs.append(f"{pid}: {span} {cost.currency}/ha ({cost.year}{', approximate' if cost.approximate else ''})")
    return "; ".join(costs)


def _window(iv, geometry, like: xr.DataArray, spacing: tuple[float, float]) -> dict[str, slice]:
    """The part of the outcome's grid the evaluation of ``iv`` reads: the cells its polygon touches plus
    ``outer_km`` around them (:func:`dldd.effectiveness.design.evaluation_window`), so that coverage,
    outcome and matching layers are cut to it and no whole-grid layer is made."""
    from dldd.effectiveness.design import DEFAULT_OUTER_KM, evaluation_window
    from dldd.regions.rasterize import cell_window, coverage_fraction

    near = cell_window(geometry, like)
    inside = near["y"].stop > near["y"].start and near["x"].stop > near["x"].start
    touched = coverage_fraction(geometry, like.isel(near)).values > 0 if inside else np.zeros((0, 0), bool)
    if not touched.any():
        x, y = like["x"].values, like["y"].values
        raise InputError(f"interventions {iv.name!r} ({iv.path}): the polygon touches no cell of the outcome "
                         f"{iv.outcome!r}, whose grid covers x {x.min():g} to {x.max():g}, y {y.min():g} to "
                         f"{y.max():g}; the polygon spans lon {geometry.bounds[0]:g} to {geometry.bounds[2]:g}, "
                         f"lat {geometry.bounds[1]:g} to {geometry.bounds[3]:g}")
    shape = (like.sizes["y"], like.sizes["x"])
    return evaluation_window(touched, spacing, iv.parameters.get("outer_km", DEFAULT_OUTER_KM),
                             offset=(near["y"].start, near["x"].start), shape=shape)


def run(ctx, p: EffectivenessParams) -> None:
    from dldd.core.grid import grid_of
    from dldd.effectiveness.evaluate import evaluate_intervention
    from dldd.effectiveness.spatial import pixel_spacing_km
    from dldd.regions.rasterize import coverage_fraction

    if not ctx.spec.interventions:
        ctx.summary["effectiveness"] = {"interventions": []}
        return
    summary, events, balance = [], [], []
    geometries = {iv.name: _zone_geometry(ctx, iv) for iv in ctx.spec.interventions}
    for iv in ctx.spec.interventions:
        outcome = ctx.input(iv.outcome)
        if "time" not in outcome.dims:
            raise InputError(f"interventions {iv.name!r}: outcome {iv.outcome!r} has no time axis")
    for iv in ctx.spec.interventions:
        outcome = ctx.input(iv.outcome)
        full = ctx.georef(outcome.isel(time=0, drop=True))
        spacing = iv.parameters.get("pixel_size_km") or pixel_spacing_km(full)  # of the whole grid
        win = _window(iv, geometries[iv.name], full, spacing)
        like = full.isel(win)
        treated = coverage_fraction(geometries[iv.name], like)
        # other interventions on the same grid are neither treated nor control for this one
        others = [coverage_fraction(geometries[o.name], like) > 0 for o in ctx.spec.interventions
                  if o.name != iv.name and grid_of(ctx.georef(ctx.input(o.outcome).isel(time=0, drop=True)), o.outcome)
                  == grid_of(full, iv.outcome)]
        exclude = xr.concat(others, dim="k").any("k") if others else None
        exact = {}
        if ctx.has("land_cover"):
            lc = nested_land_cover(ctx)
            years = lc.time.dt.year.values
            before = max(y for y in years if y < iv.start_year) if (years < iv.start_year).any() else years.min()
            exact["land_cover"] = year_map(lc, int(before), "land_cover").isel(win)
        zones = zones_on(ctx, full)
        if zones is not None:
            exact["dryland_zone"] = zones.isel(win)
        parameters = {k: v for k, v in iv.parameters.items() if k != "pixel_size_km"}
        try:
            res = evaluate_intervention(outcome.isel(win), treated, iv.start_year, iv.end_year, exact=exact,
                                        exclude=exclude, cell_area_km2=ctx.cell_area(full).isel(win),
                                        pixel_size_km=spacing, seed=p.seed, name=iv.name, **parameters)
        except InputError as err:
            raise InputError(f"interventions {iv.name!r} ({iv.path}): {err}") from None
        io.write_json(io.confined(ctx.out, "effectiveness", f"{_slug(iv.name)}.json"), res.to_dict())
        row = res.to_frame()
        row.insert(1, "type", iv.type)
        row["effect_per_year"] = res.effect / max(res.n_post_years, 1)
        row["cost_per_ha"] = _cost_per_ha(iv.type)
        row["roles_map"] = _write_roles(ctx, iv, res, like)
        summary.append(row)
        ev = res.event_study.copy()
        ev.insert(0, "intervention", iv.name)
        events.append(ev)
        bal = res.balance.copy()
        bal.insert(0, "intervention", iv.name)
        balance.append(bal)
    ctx.write_table("effectiveness_summary", pd.concat(summary, ignore_index=True))
    ctx.write_table("effectiveness_event_study", pd.concat(events, ignore_index=True))
    ctx.write_table("effectiveness_balance", pd.concat(balance, ignore_index=True))
    ctx.summary["effectiveness"] = {"interventions": [iv.name for iv in ctx.spec.interventions], "seed": p.seed}


def _write_roles(ctx, iv, res, like: xr.DataArray) -> str:
    """The evaluation's role map (treated, matched controls, control pool, excluded; codes of
    :data:`dldd.effectiveness.evaluate.ROLE_LEGEND`) as a small GeoTIFF ``effectiveness/<slug>-roles.tif``
    on the evaluation window, for the report's map of the design; its path relative to the run folder
    ("" when the result has no map)."""
    if res.maps is None or "role" not in res.maps or not {"x", "y"} <= set(res.maps["role"].coords):
        return ""
    role = res.maps["role"].rio.write_crs(ctx.georef(like).rio.crs)
    role.attrs = ctx._label({**role.attrs, "intervention": iv.name})
    path = io.confined(ctx.out, "effectiveness", f"{_slug(iv.name)}-roles.tif")
    io.write_cog(path, role)
    return str(path.relative_to(ctx.out))


def _zone_geometry(ctx, iv):
    """The intervention's polygon (all features of its file merged), in lon/lat."""
    from dldd.regions.polygons import read_polygon

    path = ctx.spec.resolve(iv.path)
    geom = read_polygon(path, f"interventions {iv.name!r}")
    if geom.is_empty or not np.isfinite(geom.area):
        raise InputError(f"interventions {iv.name!r}: {path} holds an empty geometry")
    return geom


STAGE = Stage(
    name="effectiveness", description="effect of each intervention against matched controls",
    needs=("ndvi",), params=EffectivenessParams, run=run, after=("aridity", "land_cover"),
    provides=(
        Table("effectiveness_summary", ("name", "type", "outcome", "units", "start_year", "end_year", "effect",
                                        "ci_low", "ci_high", "se", "p_value", "effect_per_year", "cost_per_ha")),
        Table("effectiveness_event_study", ("intervention", "year", "rel_year", "effect", "se", "ci_low", "ci_high")),
        Table("effectiveness_balance", ("intervention", "variable", "smd_before", "smd_after", "balanced_after")),
    ),
    uses=("aridity_class",),
)
