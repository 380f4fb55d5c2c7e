"""Chapters of the regional report read from the run's tables: trends across periods, results per dryland
zone, degraded land under drought, hotspots and brightspots, the limitations of the run, and the map of an
intervention's design.

Every number here is a cell of a table a stage or :mod:`dldd.stats.reporting` wrote (rounded by
:mod:`dldd.report.numbers`); nothing is summed or divided. Each function takes the report builder
(``b``: its tables, messages, number formats, names and figure jobs) and returns what a template draws,
or None / [] when the run has no such table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from markupsafe import Markup

from dldd.core.legend import Legend
from dldd.report import figures as rf
from dldd.report.numbers import format_value
from dldd.stats.reporting import LEVEL_ALL, LEVEL_SUBREGION

#: No-data land above this share of a region's land (%) is a limitation of its SDG 15.3.1 figure.
NODATA_LIMIT_PCT = 5.0
#: Inputs whose cells are larger than this (km, the longer side) are named as coarse; climate inputs are
#: coarse from a larger cell (gridded climate products are seldom finer than 0.5 degree).
COARSE_CELL_KM = 5.0
COARSE_CLIMATE_CELL_KM = 60.0
CLIMATE_INPUTS = ("precipitation", "tmin", "tmax", "pet", "wind_speed", "wind_direction")
#: Regions named in one limitation at most (the rest are counted).
MAX_NAMED = 8
#: Classes of an intervention's role map drawn on its map (code, name, colour; ROLE_LEGEND codes; purple
#: for the treated cells, orange for the controls: colour-blind safe, checked under deuteranopia in tests).
ROLE_CLASSES = ((1, "treated, matched", "#542788"), (2, "treated, no match within calipers", "#b2abd2"),
                (3, "control, used as a match", "#b35806"), (4, "control pool, not used", "#fdb863"),
                (5, "excluded (buffer, partial coverage or missing data)", "#878787"))


def role_legend() -> Legend:
    """The legend of an intervention's role map (code 0, outside the design, is drawn as background)."""
    return Legend.from_pairs("effectiveness_roles", list(ROLE_CLASSES))


def _table(b, key: str, *, csv: str, heads: list[str], rows: list[list], anchor: str, intro=None, text: int = 1,
           user: bool = True) -> dict:
    """A table of a chapter: ``text`` leading text columns (the first holding region names when ``user``),
    then numbers."""
    return {"title": b.msgs.plain(f"chapters.{key}.title"), "intro": intro or b.msgs.t(f"chapters.{key}.intro"),
            "heads": heads, "rows": rows, "csv": f"tables/{csv}.csv", "anchor": anchor, "text": text, "user": user}


def _unit_name(b, r) -> str:
    if r["level"] == LEVEL_ALL:
        return b.msgs.plain("whole_area")
    if r["level"] == LEVEL_SUBREGION:
        return b.subregion_name(str(r["region"]))
    return b.region_name(str(r["region"]))


def _pct(v) -> str:
    return format_value(v, "pct")


# --- trends --------------------------------------------------------------------------------------------------------
def period_years(manifest: dict, period: str) -> str:
    """The years of ``period`` as the run's spec gives them ("2000–2015"; a reporting period's productivity
    years), or "" when the manifest does not say."""
    periods = (manifest.get("spec") or {}).get("periods") or {}
    span = (periods.get("baseline") if period == "baseline"
            else ((periods.get("reporting") or {}).get(period) or {}).get("productivity"))
    return f"{span['start']}–{span['end']}" if isinstance(span, dict) and {"start", "end"} <= set(span) else ""


def _period_axis_label(b, period) -> str:
    years = period_years(b.run.manifest, str(period))
    return f"{b.when_label(period)}\n{years}" if years else b.when_label(period)


def trends(b) -> dict | None:
    """Degraded, stable and improved shares of land per period for the whole area, each sub-region and each
    region (``sdg_15_3_1_trends``), and a chart of the whole area's shares per period."""
    t = b.run.tables.get("sdg_15_3_1_trends")
    if t is None or not len(t):
        return None
    heads = [b.msgs.plain("chapters.col.unit"), b.msgs.plain("chapters.col.period"),
             *(b.msgs.plain(f"chapters.col.{k}") for k in ("degraded_pct", "stable_pct", "improved_pct",
                                                             "no_data_pct", "degraded_change_pp"))]
    rows, levels = [], []
    for _, r in t.iterrows():
        rows.append([_unit_name(b, r), b.when_label(r["period"]), _pct(r["degraded_share_of_land_pct"]),
                     _pct(r["stable_share_of_land_pct"]), _pct(r["improved_share_of_land_pct"]),
                     _pct(r["no_data_share_of_land_pct"]), format_value(r["degraded_change_pp"], "pp", signed=True)])
        levels.append(str(r["level"]))
    out = _table(b, "trends", csv="sdg_15_3_1_trends", heads=heads, rows=rows, anchor="trends-table", text=2)
    out["levels"] = levels
    whole = t[t["level"] == LEVEL_ALL]
    png = "figures/chart-sdg-trends.png"
    title = b.msgs.plain("chapters.trends.chart")
    labels = {k: b.class_label(k) for _, k in TREND_BARS}
    b.jobs.append((draw_trend_bars, (whole[["period", *(c for c, _ in TREND_BARS)]], b.out / png),
                   dict(period_labels=[_period_axis_label(b, p) for p in whole["period"]], title=title, class_labels=labels,
                        colors=b.colors, ylabel=b.msgs.plain("share_axis_land"), synthetic_label=b.synth)))
    from dldd.report.build import Fig

    out["chart"] = Fig(png, title, b.msgs.plain("chapters.trends.caption", title=title))
    return out


#: Columns of the trend table drawn as bars beside each other, with their class names (report colours);
#: stable land (the rest) is in the table: drawn with them it would flatten the changes.
TREND_BARS = (("degraded_share_of_land_pct", "degraded"), ("improved_share_of_land_pct", "improved"),
              ("no_data_share_of_land_pct", "no data"))


@rf.styled
def draw_trend_bars(t: pd.DataFrame, png: Path, *, period_labels: list[str], title: str, class_labels: dict,
                    colors: dict, ylabel: str, synthetic_label: str | None = None) -> Path:
    """Degraded, improved and no-data shares of land (%) per period as bars side by side, each labelled
    with its value as the trend table gives it; ``colors``: class name -> colour (the run's declared legends)."""
    fig = rf._figure(rf.CHART_SIZE_IN)
    ax = fig.add_axes(rf.SERIES_AXES)
    x = np.arange(len(t))
    width = 0.8 / len(TREND_BARS)
    top = 0.0
    for k, (col, cls) in enumerate(TREND_BARS):
        v = t[col].to_numpy(dtype=float)
        pos = x - 0.4 + width * (k + 0.5)
        ax.bar(pos, np.nan_to_num(v), width=width * 0.95, color=colors.get(cls, rf.NODATA_COLOR), edgecolor="#555555",
               linewidth=0.3, label=class_labels.get(cls, cls))
        for xi, h in zip(pos, v):
            ax.text(xi, np.nan_to_num(h), format_value(h, "pct"), ha="center", va="bottom", fontsize=6.5)
        top = max(top, float(np.nanmax(v)) if np.isfinite(v).any() else 0.0)
    ax.set_xticks(x, period_labels, fontsize=8)
    ax.set_ylim(0, max(1.0, top * 1.15))
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    return rf._finish(fig, png, synthetic_label)


# --- dryland zones -------------------------------------------------------------------------------------------------
def dryland_zones(b) -> dict | None:
    """SDG 15.3.1 per dryland zone of the whole area in the latest period (``sdg_15_3_1_dryland_zones``)."""
    t = b.run.tables.get("sdg_15_3_1_dryland_zones")
    if t is None or not len(t):
        return None
    periods = list(dict.fromkeys(t["period"]))
    sel = t[(t["level"] == LEVEL_ALL) & (t["period"] == periods[-1]) & (t["land_km2"] > 0)]  # zones with land
    heads = [b.msgs.plain("chapters.col.zone"), b.msgs.plain("chapters.col.land_km2"),
             *(b.msgs.plain(f"chapters.col.{k}") for k in ("degraded_pct", "improved_pct", "degraded_change_pp"))]
    rows = []
    for _, r in sel.iterrows():
        zone = str(r["zone"])
        name = b.msgs.plain("chapters.non_dryland") if zone == "humid" else b.class_label(zone)
        rows.append([name, format_value(r["land_km2"], "area_km2"), _pct(r["degraded_share_of_land_pct"]),
                     _pct(r["improved_share_of_land_pct"]),
                     format_value(r.get("degraded_change_pp"), "pp", signed=True)])
    return _table(b, "zones", csv="sdg_15_3_1_dryland_zones", heads=heads, rows=rows, anchor="zones-table", user=False,
                  intro=b.msgs.t("chapters.zones.intro", when=b.when_label(periods[-1])))


# --- degraded land under drought ----------------------------------------------------------------------------------
def degraded_drought(b) -> dict | None:
    """Degraded land that is also drought-exposed (moderate or worse), per region, sub-region and the whole
    area (``sdg_degraded_drought_exposed``)."""
    t = b.run.tables.get("sdg_degraded_drought_exposed")
    if t is None or not len(t):
        return None
    heads = [b.msgs.plain("chapters.col.unit"), b.msgs.plain("chapters.col.degraded_km2"),
             b.msgs.plain("chapters.col.degraded_drought_km2"), b.msgs.plain("chapters.col.degraded_drought_land_pct"),
             b.msgs.plain("chapters.col.degraded_drought_degraded_pct")]
    rows = [[_unit_name(b, r), format_value(r["degraded_km2"], "area_km2"),
             format_value(r["degraded_drought_km2"], "area_km2"), _pct(r["degraded_drought_share_of_land_pct"]),
             _pct(r["degraded_drought_share_of_degraded_pct"])] for _, r in t.iterrows()]
    r0 = t.iloc[0]
    return _table(b, "drought", csv="sdg_degraded_drought_exposed", heads=heads, rows=rows, anchor="drought-table",
                  intro=b.msgs.t("chapters.drought.intro", when=b.when_label(r0.get("period")),
                                 block=str(r0.get("block", ""))))


# --- hotspots and brightspots -------------------------------------------------------------------------------------
def hotspots(b) -> dict | None:
    """The regions and dryland zones with the largest degraded and improved areas and changes
    (``sdg_15_3_1_hotspots``)."""
    t = b.run.tables.get("sdg_15_3_1_hotspots")
    if t is None or not len(t):
        return None
    heads = [b.msgs.plain("chapters.col.unit"), b.msgs.plain("chapters.col.kind"), b.msgs.plain("chapters.col.rank"),
             b.msgs.plain("chapters.col.area_km2"), b.msgs.plain("chapters.col.share_pct"),
             b.msgs.plain("chapters.col.change_km2"), b.msgs.plain("chapters.col.change_pp")]
    rows = []
    for _, r in t.iterrows():
        unit = str(r["unit"])
        name = (b.region_name(str(r["id"])) if unit == "region" else
                b.msgs.plain("chapters.non_dryland") if str(r["id"]) == "humid" else b.class_label(str(r["id"])))
        rows.append([name, b.msgs.plain(f"chapters.kind.{r['kind']}"), str(int(r["rank"])),
                     format_value(r["area_km2"], "area_km2"), _pct(r["share_of_land_pct"]),
                     format_value(r["change_km2"], "area_km2"), format_value(r["change_pp"], "pp", signed=True)])
    periods = list(dict.fromkeys(t["period"]))
    return _table(b, "hotspots", csv="sdg_15_3_1_hotspots", heads=heads, rows=rows, anchor="hotspots-table", text=2,
                  intro=b.msgs.t("chapters.hotspots.intro", when=b.when_label(periods[-1]) if periods else ""))


# --- limitations -------------------------------------------------------------------------------------------------
def _names(b, ids) -> str:
    ids = list(ids)
    shown = ", ".join(b.region_name(i) for i in ids[:MAX_NAMED])
    return shown + (b.msgs.plain("chapters.limits.more", n=len(ids) - MAX_NAMED) if len(ids) > MAX_NAMED else "")


def limitations(b) -> list[Markup]:
    """The limitations of this run, each only when it applies: layers treated as neutral (practice
    conditions without data, sensitivity layers missing), inputs at a coarse resolution, periods with
    missing years, regions whose no-data land exceeds :data:`NODATA_LIMIT_PCT`; then the general ones."""
    tab, out = b.run.tables.get, []
    cond = tab("conditions")
    if cond is not None and len(cond):
        cols = [c for c in cond.columns if c not in ("region", "data")]
        empty = {c: cond.loc[cond[c].isna(), "region"].astype(str).tolist() for c in cols}
        for c, ids in empty.items():
            if ids and len(ids) == len(cond):  # the run did not compute it (e.g. no wind inputs)
                out.append(b.msgs.t("chapters.limits.neutral_condition_all", condition=b.msgs.label("condition", c)))
            elif ids:
                out.append(b.msgs.t("chapters.limits.neutral_condition", condition=b.msgs.label("condition", c),
                                    n=len(ids), regions=_names(b, ids)))
    layers = tab("sensitivity_layers")
    if layers is not None and len(layers) and "status" in layers:
        missing = layers[layers["status"] == "missing"]
        if len(missing):
            out.append(b.msgs.t("chapters.limits.neutral_sensitivity",
                                layers=", ".join(f"{r['layer']} ({r['index']})" for _, r in missing.iterrows())))
    grids = tab("input_grids")
    if grids is not None and len(grids):
        coarse = []
        for _, g in grids.iterrows():
            km = max(float(g["cell_km_x"]), float(g["cell_km_y"]))
            limit = COARSE_CLIMATE_CELL_KM if str(g["input"]) in CLIMATE_INPUTS else COARSE_CELL_KM
            if km > limit:
                step = (f"{g['step_x']:g}°" if "4326" in str(g["crs"]) or "longlat" in str(g["crs"])
                        else f"{g['step_x']:g}")
                coarse.append(b.msgs.plain("chapters.limits.coarse_item", input=str(g["input"]), step=step,
                                           km=format_value(km, "area_km2")))
        if coarse:
            out.append(b.msgs.t("chapters.limits.coarse", inputs="; ".join(coarse), km=f"{COARSE_CELL_KM:g}",
                                climate_km=f"{COARSE_CLIMATE_CELL_KM:g}"))
    cov = tab("period_coverage")
    if cov is not None and len(cov):
        for _, r in cov[cov["n_missing"].fillna(0).astype(int) > 0].iterrows():
            out.append(b.msgs.t("chapters.limits.missing_years", stage=b.msgs.plain(f"family.{r['stage']}", str(r["stage"])),
                                period=b.when_label(str(r["period"])), first=str(int(r["first_year"])),
                                last=str(int(r["last_year"])), input=str(r["input"]),
                                years=", ".join(str(r["missing_years"]).split(";"))))
    summ = tab("sdg_15_3_1_summary")
    if summ is not None and len(summ) and "no_data_share_of_land_pct" in summ:
        last = list(dict.fromkeys(summ["period"]))[-1]
        s = summ[(summ["period"] == last) & (summ["no_data_share_of_land_pct"] > NODATA_LIMIT_PCT)]
        if len(s):
            items = ", ".join(f"{b.region_name(str(r['region']))} {_pct(r['no_data_share_of_land_pct'])} %"
                              for _, r in s.head(MAX_NAMED).iterrows())
            if len(s) > MAX_NAMED:
                items += b.msgs.plain("chapters.limits.more", n=len(s) - MAX_NAMED)
            out.append(b.msgs.t("chapters.limits.no_data", when=b.when_label(last), pct=f"{NODATA_LIMIT_PCT:g}",
                                regions=items))
    return out + b.msgs.items("limitations")


# --- intervention map ----------------------------------------------------------------------------------------------
def intervention_map(b, row, slug: str, name: str) -> object | None:
    """The map of an intervention's design: treated cells and their matched controls (the role map the
    effectiveness stage wrote, ``roles_map`` of ``effectiveness_summary``), masked to the assessed regions,
    with its legend and a caption; None when the run has no role map for it."""
    import rasterio
    from rasterio.warp import transform_bounds

    from dldd.report.build import Fig

    rel = str(row.get("roles_map") or "")
    if not rel or rel == "nan":
        return None
    tif = (b.run.path / rel).resolve()
    if not tif.is_file() or b.run.path.resolve() not in tif.parents:
        return None
    with rasterio.open(tif) as src:
        bounds = transform_bounds(src.crs, "EPSG:4326", *src.bounds) if src.crs else tuple(src.bounds)
    view = b.map_view(bounds)
    legend = role_legend()
    title = b.msgs.plain("chapters.intervention_map.title", name=name)
    png = f"figures/{slug}-map.png"
    labels = {c.name: b.msgs.label("role", c.name) for c in legend.classes}
    b.jobs.append((rf.draw_map, (tif, b.out / png), dict(
        title=title, legend=legend, class_labels=labels, scale_label=b.msgs.plain("scale_bar", km="{km}"),
        nodata_label=b.msgs.plain("chapters.intervention_map.outside"), **view, note=b.msgs.plain("map_disclaimer"),
        synthetic_label=b.synth)))
    n_t, n_c = row.get("n_treated"), row.get("n_controls")
    si = ((b.run.manifest.get("spec") or {}).get("inputs") or {}).get(str(row.get("outcome")), {})
    source = f"{row.get('outcome')}: {si.get('product') or Path(str(si.get('path') or '')).name}" if si else ""
    caption = b.msgs.plain("chapters.intervention_map.caption", title=title,
                           sources=source or b.msgs.plain("unknown_source"),
                           treated=format_value(n_t, "count"), controls=format_value(n_c, "count"),
                           note=b.msgs.plain("map_note"))
    return Fig(png, title, caption)



# --- practice reasons in the report's language ----------------------------------------------------------------
#: Arguments of a reason part that are shares in [0, 1] (printed as % of land).
SHARE_ARGS = ("share", "covered", "degraded", "improved", "full")


def _value_label(b, v) -> str:
    """A class-like value (aridity class, land cover, texture, drift, ESA, land condition) in the report's
    language (``practice_value.*``, then ``classes.*``), numbers as they are."""
    s = str(v)
    return b.msgs.messages.get(f"practice_value.{s}") or b.msgs.label("classes", s)


def _band(b, lo, hi) -> str:
    open_ended = hi is None or (isinstance(hi, float) and hi != hi)
    return (b.msgs.plain("practice_reasons.band_from", low=f"{lo:g}") if open_ended
            else b.msgs.plain("practice_reasons.band", low=f"{lo:g}", high=f"{hi:g}"))


def _reason_arg(b, k: str, v) -> str:
    sep = b.msgs.plain("practice_reasons.list_separator")
    if isinstance(v, list):
        items = []
        for x in v:
            if isinstance(x, list) and len(x) == 2 and isinstance(x[0], str):  # [class, share]
                items.append(f"{_value_label(b, x[0])} {format_value(100 * x[1], 'pct')} %")
            elif isinstance(x, list) and len(x) == 2:  # [low, high] precipitation band
                items.append(_band(b, x[0], x[1]))
            else:
                items.append(_value_label(b, x))
        return sep.join(items)
    if k in SHARE_ARGS:
        return f"{format_value(100 * float(v), 'pct')} %"
    if k.endswith("_km2"):
        return format_value(v, "area_km2")
    if k == "condition":
        return b.msgs.label("condition", str(v))
    if k == "region":
        return b.region_name(str(v)) if v else b.msgs.plain("practice_reasons.the_region")
    if k == "value":
        return _value_label(b, v)
    return f"{v:g}" if isinstance(v, float) else str(v)


def _reason_part(b, key: str, args: dict) -> str:
    kw = {k: _reason_arg(b, k, v) for k, v in args.items() if k not in ("min", "max")}
    if "min" in args or "max" in args:
        lo, hi = args.get("min"), args.get("max")
        kw["range"] = (b.msgs.plain("practice_reasons.range_up_to", high=f"{hi:g}") if lo is None else
                       b.msgs.plain("practice_reasons.range_from", low=f"{lo:g}") if hi is None else
                       b.msgs.plain("practice_reasons.range_span", low=f"{lo:g}", high=f"{hi:g}"))
    return b.msgs.plain(f"practice_reasons.{key}", "", **kw)


def reasons_in_language(b, parts_json) -> str:
    """The reasons of a matched practice in the report's language (:func:`reason_lines`, joined); "" when
    there are none."""
    return b.msgs.plain("practice_reasons.separator").join(reason_lines(b, parts_json))


def reason_lines(b, parts_json) -> list[str]:
    """The reasons of a matched practice in the report's language, one line each, from their (key,
    arguments) parts (``reason_parts`` of ``practices_matches``, :class:`dldd.practices.scoring.Reason`);
    reasons without parts (a summary of an assessed effect) are left to the English site."""
    out = []
    for it in _reason_items(parts_json):
        words = "".join(_reason_part(b, k, a) for k, a in it.get("parts", []))
        if words:
            out.append(b.msgs.plain("practice_reasons.verdict_line", verdict=b.msgs.label("practice_verdict",
                                                                                          it.get("verdict", "")),
                                    words=words))
    return out


def _reason_items(parts_json) -> list[dict]:
    import json

    try:
        items = json.loads(str(parts_json))
    except ValueError:
        return []
    return [it for it in items if isinstance(it, dict)] if isinstance(items, list) else []


def first_reason_in_language(b, parts_json) -> str:
    """The words of a matched practice's first reason (the share of land it fits, for a distribution match) in
    the report's language; "" when the table has no parts."""
    for it in _reason_items(parts_json)[:1]:
        return "".join(_reason_part(b, k, a) for k, a in it.get("parts", []))
    return ""


def best_fit_in_language(b, parts_json) -> str:
    """" Best fit: <words>" of the first reason that fits (the share of land for a distribution match), in
    the report's language; "" when no reason fits or the table has no parts."""
    for it in _reason_items(parts_json):
        if it.get("verdict") == "fit":
            words = "".join(_reason_part(b, k, a) for k, a in it.get("parts", []))
            if words:
                return f" {b.msgs.plain('practice_reason_first')}: {words}"
    return ""
