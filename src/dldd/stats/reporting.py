"""The UNCCD reporting tables (PRAIS layout) made from the run's long tables, for people and the template.

Each function takes long tables of the run (one row per region, period and class; see docs/methods.md,
"Land account") and returns one wide table whose rows are regions and periods (or years), laid out as the
UNCCD reporting template and Trends.Earth's summary tables lay them out (``summary_table_ld_sdg.xlsx``:
land cover per class and year with water, no data, land and total area; the square transition matrix;
net change per class; improved/stable/degraded/no data with the share of land; SOC per land cover class
at the start and end; ``summary_table_drought.xlsx``: per year, the total and each class's area and share;
the population under drought in total, female and male; the mean vulnerability index).
Nothing is recomputed from maps: every number is a sum of the long tables' areas, so the two agree.
Shares name their denominator in the column header ("% of land", "% of total area", "% of population").

:func:`reporting_tables` gives every table the run's tables allow, in the template's order, by sheet name;
:func:`write_reporting_tables` writes them as CSV (``tables/unccd_*.csv``) and as the sheets of one
workbook (``tables/unccd_reporting.xlsx``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dldd.errors import InputError
from dldd.stats.zonal import NODATA_LABEL, WATER_LABEL

#: Columns that identify a region in every table.
REGION_COLUMNS = ("region", "name", "subregion")
#: Column of the synthetic label (added again when a table is written).
DATA_COLUMN = "data"
KM2 = "km²"


def _ids(t: pd.DataFrame, key: str) -> list[str]:
    return [c for c in (*REGION_COLUMNS, key) if c in t.columns]


def _clean(t: pd.DataFrame) -> pd.DataFrame:
    return t.drop(columns=[DATA_COLUMN], errors="ignore")


def _pct(num, den):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.asarray(den, dtype=float) > 0, 100.0 * np.asarray(num, dtype=float) / np.asarray(den, dtype=float), np.nan)


def land_classes_wide(t: pd.DataFrame, key: str) -> pd.DataFrame:
    """A long table of land (``class``, ``area_km2``, water and no-data rows) as one row per region and
    ``key``: each class's km² and % of land, no data (km², % of land), land, water and total area (km²).
    Land = classes + no data = total - water (the land account)."""
    t = _clean(t)
    ids = _ids(t, key)
    is_water = (t["class"] == WATER_LABEL) & t["code"].isna()
    classes = list(dict.fromkeys(t.loc[~is_water & (t["class"] != NODATA_LABEL), "class"]))
    land = t[~is_water].pivot_table(index=ids, columns="class", values="area_km2", aggfunc="sum", sort=False)
    water = t[is_water].groupby(ids, sort=False)["area_km2"].sum()
    out = pd.DataFrame(index=land.index)
    land_area = land.sum(axis=1)
    for c in [*classes, NODATA_LABEL]:
        v = land[c] if c in land else 0.0
        out[f"{c} ({KM2})"] = v
        out[f"{c} (% of land)"] = _pct(v, land_area)
    out[f"land area ({KM2})"] = land_area
    out[f"water ({KM2})"] = water.reindex(out.index).fillna(0.0)
    out[f"total area ({KM2})"] = out[f"land area ({KM2})"] + out[f"water ({KM2})"]
    return out.reset_index()


def classes_wide(t: pd.DataFrame, key: str, value: str = "area_km2", unit: str = KM2,
                 denominator: str = "total area") -> pd.DataFrame:
    """A long class table without a land account (drought hazard, exposure) as one row per region and
    ``key`` in the drought summary layout: the total, then each class's value and % of the total."""
    t = _clean(t)
    ids = _ids(t, key)
    wide = t.pivot_table(index=ids, columns="class", values=value, aggfunc="sum", sort=False)
    classes = list(dict.fromkeys(t["class"]))
    total = wide.sum(axis=1)
    out = pd.DataFrame(index=wide.index)
    out[f"{denominator} ({unit})"] = total
    for c in classes:
        out[f"{c} ({unit})"] = wide[c]
        out[f"{c} (% of {denominator})"] = _pct(wide[c], total)
    return out.reset_index()


def exposure_wide(total: pd.DataFrame, by_sex: pd.DataFrame | None = None) -> pd.DataFrame:
    """SO3-2 exposure per region and block (Trends.Earth's "Pop under drought" layout: total, then female,
    then male): :func:`classes_wide` of the total population, and with ``by_sex`` (a long table with a
    ``sex`` column) the same columns for each sex, prefixed ``<sex>:``, their shares of that sex's
    population."""
    out = classes_wide(total, "block", "population", "persons", "population")
    if by_sex is None or not len(by_sex):
        return out
    ids = [c for c in out.columns if c in (*REGION_COLUMNS, "block")]
    for sex in dict.fromkeys(by_sex["sex"]):
        part = classes_wide(by_sex[by_sex["sex"] == sex].drop(columns="sex"), "block", "population", "persons",
                            f"{sex} population")
        part = part.rename(columns={c: f"{sex}: {c}" for c in part.columns
                                    if c not in ids and not c.startswith(f"{sex} population")})
        out = out.merge(part, on=ids, how="left", validate="one_to_one")
    return out


def vulnerability_wide(t: pd.DataFrame) -> pd.DataFrame:
    """SO3-3 per region (Trends.Earth's "Drought Vulnerability Index" sheet: the mean value): the area-weighted
    mean index and the areas with and without a value (km²)."""
    t = _clean(t)
    return t[[c for c in REGION_COLUMNS if c in t.columns]].assign(**{
        "mean vulnerability index (0-1, area-weighted)": t["mean_vulnerability"],
        f"area with data ({KM2})": t["area_with_data_km2"], f"area no data ({KM2})": t["area_no_data_km2"]})


def transition_matrix(t: pd.DataFrame) -> pd.DataFrame:
    """SO1-1 land cover transition matrix per region and period: rows the class at the start (``from``),
    columns the class at the end, km², with a total column and a total row; pairs with no data at a date
    form one row ``no data`` (its area in the total column). The matrix plus that row is the total area."""
    t = _clean(t)
    rows = []
    classes = list(dict.fromkeys(t.loc[t["from_code"].notna(), "from"]))
    ids = _ids(t, "period")
    for keys, g in t.groupby(ids, sort=False):
        base = dict(zip(ids, keys))
        m = g[g["from_code"].notna()].pivot_table(index="from", columns="to", values="area_km2", aggfunc="sum",
                                                  sort=False).reindex(index=classes, columns=classes).fillna(0.0)
        for c in classes:
            rows.append({**base, "from \\ to": c, **{f"{k} ({KM2})": m.loc[c, k] for k in classes},
                         f"total ({KM2})": m.loc[c].sum()})
        rows.append({**base, "from \\ to": "total", **{f"{k} ({KM2})": m[k].sum() for k in classes},
                     f"total ({KM2})": m.values.sum()})
        nod = g.loc[g["from_code"].isna(), "area_km2"].sum()
        rows.append({**base, "from \\ to": NODATA_LABEL, **{f"{k} ({KM2})": np.nan for k in classes},
                     f"total ({KM2})": nod})
    return pd.DataFrame(rows)


def net_change(t: pd.DataFrame) -> pd.DataFrame:
    """SO1-1 net change per land cover class and period: area at the start (row sums of the transition
    matrix) and at the end (column sums), change in km² and in % of the start."""
    t = _clean(t)
    t = t[t["from_code"].notna()]
    ids = _ids(t, "period")
    start = t.groupby([*ids, "from_code", "from"], sort=False)["area_km2"].sum().rename("a")
    end = t.groupby([*ids, "to_code", "to"], sort=False)["area_km2"].sum().rename("b")
    start.index = start.index.set_names([*ids, "code", "class"])
    end.index = end.index.set_names([*ids, "code", "class"])
    out = pd.concat([start, end], axis=1).fillna(0.0).reset_index()
    out = out.rename(columns={"a": f"start ({KM2})", "b": f"end ({KM2})"})
    out[f"change ({KM2})"] = out[f"end ({KM2})"] - out[f"start ({KM2})"]
    out["change (% of start)"] = _pct(out[f"change ({KM2})"], out[f"start ({KM2})"])
    return out


def cross_table(t: pd.DataFrame, row: str, column: str, key: str = "period") -> pd.DataFrame:
    """A long table with two class columns as one block per region and ``key``: rows ``row`` classes,
    columns ``column`` classes (km²) and a total column; no-data and water rows as the long table has them."""
    t = _clean(t)
    ids = _ids(t, key)
    cols = list(dict.fromkeys(t[column]))
    out = []
    for keys, g in t.groupby(ids, sort=False):
        base = dict(zip(ids, keys))
        m = g.pivot_table(index=row, columns=column, values="area_km2", aggfunc="sum", sort=False)
        m = m.reindex(index=list(dict.fromkeys(g[row])), columns=cols).fillna(0.0)
        for r in m.index:
            out.append({**base, f"{row} \\ {column}": r, **{f"{c} ({KM2})": m.loc[r, c] for c in cols},
                        f"total ({KM2})": m.loc[r].sum()})
    return pd.DataFrame(out)


def soc_by_land_cover(t: pd.DataFrame) -> pd.DataFrame:
    """SO1-3 SOC per land cover class and period (Trends.Earth's SOC table): initial and final stock (t/ha
    and t) and area (km²) of each class at the start and end year, the change in t and in % of the initial
    stock, and a total row; land without a class or without a stock is left out of the t/ha."""
    t = _clean(t)
    t = t[t["land_cover_code"].notna()]
    ids = _ids(t, "period")
    s = t[t["when"] == "start"].set_index([*ids, "land_cover"])
    e = t[t["when"] == "end"].set_index([*ids, "land_cover"])
    out = pd.DataFrame(index=s.index)
    out["year start"] = s["year"]
    out["year end"] = e["year"].reindex(s.index)
    out[f"area start ({KM2})"] = s["area_km2"]
    out[f"area end ({KM2})"] = e["area_km2"].reindex(s.index)
    out["stock start (t)"] = s["stock_t"]
    out["stock end (t)"] = e["stock_t"].reindex(s.index)
    out["stock start (t/ha)"] = out["stock start (t)"] / (s["area_with_value_km2"] * 100).where(s["area_with_value_km2"] > 0)
    out["stock end (t/ha)"] = out["stock end (t)"] / (e["area_with_value_km2"].reindex(s.index) * 100).where(
        e["area_with_value_km2"].reindex(s.index) > 0)
    out["change (t)"] = out["stock end (t)"] - out["stock start (t)"]
    out["change (% of start)"] = _pct(out["change (t)"], out["stock start (t)"])
    out = out.reset_index()
    totals = out.groupby(ids, sort=False)[[f"area start ({KM2})", f"area end ({KM2})", "stock start (t)",
                                           "stock end (t)", "change (t)"]].sum().reset_index()
    totals["land_cover"] = "total"
    totals["change (% of start)"] = _pct(totals["change (t)"], totals["stock start (t)"])
    out = pd.concat([out, totals], ignore_index=True)
    order = {k: i for i, k in enumerate(dict.fromkeys(map(tuple, out[ids].values)))}
    out["_o"] = [order[tuple(v)] for v in out[ids].values]
    return out.sort_values("_o", kind="stable").drop(columns="_o").reset_index(drop=True)


def soc_by_transition(t: pd.DataFrame) -> pd.DataFrame:
    """SO1-3 SOC change per land cover transition and period: from, to, km², stock at the start and end and
    its change (t, % of start); transitions with no area are left out."""
    t = _clean(t)
    t = t[t["from_code"].notna() & (t["area_km2"] > 0)]
    ids = _ids(t, "period")
    out = t[[*ids, "from", "to", "area_km2", "stock_start_t", "stock_end_t", "stock_change_t"]].rename(columns={
        "area_km2": f"area ({KM2})", "stock_start_t": "stock start (t)", "stock_end_t": "stock end (t)",
        "stock_change_t": "change (t)"}).reset_index(drop=True)
    out["change (% of start)"] = _pct(out["change (t)"], out["stock start (t)"])
    return out


#: Sheets of the reporting workbook in the template's order: sheet name -> (CSV name, builder, tables used).
SHEETS = {
    "SO1-1 land cover": ("unccd_so1_1_land_cover", lambda t: land_classes_wide(t["so1_1_land_cover_areas"], "year"),
                         ("so1_1_land_cover_areas",)),
    "SO1-1 transitions": ("unccd_so1_1_transition_matrix", lambda t: transition_matrix(t["so1_1_land_cover_transitions"]),
                          ("so1_1_land_cover_transitions",)),
    "SO1-1 net change": ("unccd_so1_1_net_change", lambda t: net_change(t["so1_1_land_cover_transitions"]),
                         ("so1_1_land_cover_transitions",)),
    "SO1-1 degradation": ("unccd_so1_1_degradation",
                          lambda t: land_classes_wide(t["so1_1_land_cover_degradation"], "period"),
                          ("so1_1_land_cover_degradation",)),
    "SO1-2 LPD 5 classes": ("unccd_so1_2_lpd5", lambda t: land_classes_wide(t["so1_2_productivity_lpd5"], "period"),
                            ("so1_2_productivity_lpd5",)),
    "SO1-2 LPD 3 classes": ("unccd_so1_2_lpd3", lambda t: land_classes_wide(t["so1_2_productivity"], "period"),
                            ("so1_2_productivity",)),
    "SO1-2 LPD x land cover": ("unccd_so1_2_lpd_by_land_cover",
                               lambda t: cross_table(t["so1_2_lpd_by_land_cover"], "class", "land_cover_end"),
                               ("so1_2_lpd_by_land_cover",)),
    "SO1-3 SOC stock": ("unccd_so1_3_soc_stock", lambda t: soc_by_land_cover(t["so1_3_soc_by_land_cover"]),
                        ("so1_3_soc_by_land_cover",)),
    "SO1-3 SOC transitions": ("unccd_so1_3_soc_transitions", lambda t: soc_by_transition(t["so1_3_soc_by_transition"]),
                              ("so1_3_soc_by_transition",)),
    "SO1-3 SOC degradation": ("unccd_so1_3_soc_degradation",
                              lambda t: land_classes_wide(t["so1_3_soc_degradation"], "period"),
                              ("so1_3_soc_degradation",)),
    "SO1-4 SDG 15.3.1": ("unccd_so1_4_sdg_15_3_1", lambda t: land_classes_wide(t["so1_4_sdg_15_3_1"], "period"),
                         ("so1_4_sdg_15_3_1",)),
    "SO1-4 status": ("unccd_so1_4_status", lambda t: land_classes_wide(t["so1_4_status"], "period"), ("so1_4_status",)),
    "SO1-4 status 7 classes": ("unccd_so1_4_status7", lambda t: land_classes_wide(t["so1_4_status7"], "period"),
                               ("so1_4_status7",)),
    "SO3-1 hazard by year": ("unccd_so3_1_hazard_years", lambda t: classes_wide(t["so3_1_hazard_areas"], "year"),
                             ("so3_1_hazard_areas",)),
    "SO3-1 hazard by block": ("unccd_so3_1_hazard_blocks", lambda t: classes_wide(t["so3_1_hazard_blocks"], "block"),
                              ("so3_1_hazard_blocks",)),
    "SO3-2 exposure": ("unccd_so3_2_exposure",
                       lambda t: exposure_wide(t["so3_2_exposure"], t.get("so3_2_exposure_by_sex")),
                       ("so3_2_exposure",)),
    "SO3-3 vulnerability": ("unccd_so3_3_vulnerability", lambda t: vulnerability_wide(t["so3_3_vulnerability"]),
                            ("so3_3_vulnerability",)),
}


def reporting_tables(tables: dict[str, pd.DataFrame]) -> dict[str, tuple[str, pd.DataFrame]]:
    """Every reporting table the run's long tables allow: sheet name -> (CSV name, table), template order."""
    out = {}
    for sheet, (csv, build, needs) in SHEETS.items():
        if all(n in tables and len(tables[n]) for n in needs):
            out[sheet] = (csv, build(tables))
    return out


def write_reporting_tables(ctx, used_inputs=()) -> None:
    """Write the reporting tables of the run's tables as CSV (``tables/unccd_*.csv``, via the context, so
    synthetic runs say so) and as the sheets of ``tables/unccd_reporting.xlsx`` (when xlsx is asked for);
    then the tables of the report's chapters (:func:`chapter_tables`) and of its limitations
    (:func:`write_limitation_tables`)."""
    for name, df in chapter_tables(ctx.tables).items():
        ctx.write_table(name, df)
    write_limitation_tables(ctx, used_inputs)
    made = reporting_tables(ctx.tables)
    if not made:
        return
    sheets = {}
    for sheet, (csv, df) in made.items():
        ctx.write_table(csv, df)
        sheets[sheet] = ctx.tables[csv]
    if "xlsx" in ctx.spec.outputs.formats:
        from dldd.core import io
        from dldd.pipeline import reproducible_workbook

        reproducible_workbook(io.write_excel(io.confined(ctx.out, "tables", "unccd_reporting.xlsx"), sheets))


# --- tables of the report's chapters (trends, dryland zones, hotspots, degraded land under drought) --------------
#: ``level`` of a row of the chapter tables: one region, one sub-region (sum of its regions) or the whole
#: assessment (sum of every region; zones that overlap a country are counted in both, as in the headline).
LEVEL_REGION, LEVEL_SUBREGION, LEVEL_ALL = "region", "subregion", "all"
#: Name of the whole assessment in the ``name`` column of the ``all`` rows.
ALL_NAME = "all regions"
#: SDG 15.3.1 classes summed in the chapter tables: class label -> column stem.
SDG_CLASS_COLUMNS = {"degraded": "degraded", "stable": "stable", "improved": "improved", NODATA_LABEL: "no_data"}
#: Aridity zones that are drylands (AI < 0.65, METHODS 3); "humid" is the non-dryland zone.
DRYLAND_ZONES = ("hyper-arid", "arid", "semi-arid", "dry sub-humid")
NON_DRYLAND_ZONE = "humid"
#: Drought classes counted as drought-exposed: moderate or worse (SPI <= -1; SO3_LEGEND codes 2-4), the
#: report's drought headline (mild, SPI < 0, covers nearly all land over a 4-year block).
DROUGHT_EXPOSED_CLASSES = ("moderate drought", "severe drought", "extreme drought")
#: Units listed per kind of hotspot or brightspot.
HOTSPOTS_PER_KIND = 5


def _levels(t: pd.DataFrame, keys: list[str], sums: list[str]) -> pd.DataFrame:
    """Sums of the ``sums`` columns per region, per sub-region and over all regions, for each combination
    of ``keys``; columns ``level, region, name, subregion, *keys, *sums`` (a sub-region's row has its
    name as ``region`` and ``name``)."""
    t = _clean(t).copy()
    for c in ("name", "subregion"):
        if c not in t:
            t[c] = ""
    t["subregion"] = t["subregion"].fillna("").astype(str)
    reg = t.groupby(["region", "name", "subregion", *keys], sort=False, dropna=False)[sums].sum().reset_index()
    reg.insert(0, "level", LEVEL_REGION)
    sub = t[t["subregion"] != ""].groupby(["subregion", *keys], sort=False, dropna=False)[sums].sum().reset_index()
    sub.insert(0, "level", LEVEL_SUBREGION)
    sub.insert(1, "region", sub["subregion"])
    sub.insert(2, "name", sub["subregion"])
    whole = t.groupby(keys, sort=False, dropna=False)[sums].sum().reset_index()
    whole.insert(0, "level", LEVEL_ALL)
    whole.insert(1, "region", ALL_NAME)
    whole.insert(2, "name", ALL_NAME)
    whole.insert(3, "subregion", "")
    return pd.concat([whole, sub, reg], ignore_index=True)[["level", "region", "name", "subregion", *keys, *sums]]


def _land_rows(t: pd.DataFrame) -> pd.DataFrame:
    """The rows of land of a long class table (the land account's water row left out)."""
    return t[~((t["class"] == WATER_LABEL) & t["code"].isna())]


def _class_sums(t: pd.DataFrame, keys: list[str], cls: str = "class") -> pd.DataFrame:
    """A long table of land as one row per region and ``keys``: km² of each SDG class (``<stem>_km2``)
    and the land area (``land_km2``: classes + no data)."""
    t = _land_rows(_clean(t))
    ids = [c for c in (*REGION_COLUMNS, *keys) if c in t.columns]
    wide = t.pivot_table(index=ids, columns=cls, values="area_km2", aggfunc="sum", sort=False)
    out = pd.DataFrame(index=wide.index)
    for label, stem in SDG_CLASS_COLUMNS.items():
        out[f"{stem}_km2"] = wide[label] if label in wide else 0.0
    out["land_km2"] = wide.sum(axis=1)
    return out.reset_index()


def _shares_of_land(t: pd.DataFrame, stems) -> pd.DataFrame:
    for stem in stems:
        t[f"{stem}_share_of_land_pct"] = _pct(t[f"{stem}_km2"], t["land_km2"])
    return t


def sdg_trends(summary: pd.DataFrame) -> pd.DataFrame:
    """SDG 15.3.1 through the periods (baseline and each reporting period) per region, sub-region and the
    whole assessment: degraded, stable, improved and no-data land (km², % of land) and the change of the
    degraded and improved shares since the first period (percentage points of land), from
    ``sdg_15_3_1_summary``."""
    t = _clean(summary).rename(columns={"land_area_km2": "land_km2"})
    sums = [f"{s}_km2" for s in SDG_CLASS_COLUMNS.values()] + ["land_km2"]
    return _changes(_shares_of_land(_levels(t, ["period"], sums), SDG_CLASS_COLUMNS.values()), [])


def _changes(t: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """``degraded_change_pp`` and ``improved_change_pp``: each share of land minus its value in the first
    period of the same level, region and ``keys`` (percentage points of land)."""
    first = t.groupby(["level", "region", *keys], sort=False)
    for stem in ("degraded", "improved"):
        col = f"{stem}_share_of_land_pct"
        t[f"{stem}_change_pp"] = t[col] - first[col].transform("first")
    return t


def sdg_by_dryland_zone(t: pd.DataFrame) -> pd.DataFrame:
    """SDG 15.3.1 per dryland zone (hyper-arid, arid, semi-arid, dry sub-humid; humid = non-dryland; land
    outside every zone as "no data") per period, for the whole assessment, each sub-region and region:
    km² of each class, the zone's land, each class's share of the zone's land (%) and the change of the
    degraded and improved shares since the first period (pp), from the cross
    table ``so1_4_sdg_15_3_1_by_dryland_zone`` (whose own shares are of the region's land)."""
    wide = _class_sums(t, ["period", "zone"])
    sums = [f"{s}_km2" for s in SDG_CLASS_COLUMNS.values()] + ["land_km2"]
    out = _changes(_shares_of_land(_levels(wide, ["period", "zone"], sums), SDG_CLASS_COLUMNS.values()), ["zone"])
    out.insert(out.columns.get_loc("zone") + 1, "dryland", out["zone"].isin(DRYLAND_ZONES))
    return out


def degraded_drought_exposed(t: pd.DataFrame) -> pd.DataFrame:
    """Degraded land (SDG 15.3.1) that is also drought-exposed (SO3-1 moderate drought or worse) per
    region, sub-region and the whole assessment, from the cross table ``sdg_15_3_1_by_drought_class``
    (SDG class x drought class on the SDG grid): land, degraded land, drought-exposed land and their
    overlap (km²), the overlap as a share of land and of the degraded land (%)."""
    t = _land_rows(_clean(t))
    exposed = t["zone"].isin(DROUGHT_EXPOSED_CLASSES)
    degraded = t["class"] == "degraded"
    keys = [c for c in ("period", "block") if c in t.columns]
    t = t.assign(land_km2=t["area_km2"], degraded_km2=t["area_km2"].where(degraded, 0.0),
                 drought_km2=t["area_km2"].where(exposed, 0.0),
                 degraded_drought_km2=t["area_km2"].where(degraded & exposed, 0.0))
    sums = ["land_km2", "degraded_km2", "drought_km2", "degraded_drought_km2"]
    out = _levels(t, keys, sums)
    out["degraded_drought_share_of_land_pct"] = _pct(out["degraded_drought_km2"], out["land_km2"])
    out["degraded_drought_share_of_degraded_pct"] = _pct(out["degraded_drought_km2"], out["degraded_km2"])
    return out


def hotspots(trends: pd.DataFrame, zones: pd.DataFrame | None = None, n: int = HOTSPOTS_PER_KIND) -> pd.DataFrame:
    """Hotspots and brightspots of the latest period: the regions (and, with ``zones``, the dryland zones
    of the whole assessment) with the largest degraded area, the largest increase of degraded area since
    the first period, the largest improved area and the largest decrease of degraded area; at most ``n``
    of each kind (increases and decreases only when there is one). Columns: kind, unit (region or dryland
    zone), rank, id, name, period, area_km2 (degraded or improved), share_of_land_pct, change_km2 and
    change_pp (of the degraded share; of the improved share for the improved area)."""
    rows = []

    def ranked(units: pd.DataFrame, unit: str, idcol: str):
        periods = list(dict.fromkeys(units["period"]))
        if not periods:
            return
        first = units[units["period"] == periods[0]].set_index(idcol)
        last = units[units["period"] == periods[-1]].set_index(idcol)
        for kind, stem, sign in (("degraded_area", "degraded", None), ("degraded_increase", "degraded", 1),
                                 ("improved_area", "improved", None), ("degraded_decrease", "degraded", -1)):
            change = last[f"{stem}_km2"] - first[f"{stem}_km2"].reindex(last.index)
            pp = last[f"{stem}_share_of_land_pct"] - first[f"{stem}_share_of_land_pct"].reindex(last.index)
            if sign is None:
                order = last[f"{stem}_km2"].sort_values(ascending=False)
                order = order[order > 0]
            else:
                if len(periods) < 2:
                    continue
                order = (sign * change).sort_values(ascending=False)
                order = order[order > 0]
            for rank, uid in enumerate(order.index[:n], 1):
                rows.append({"kind": kind, "unit": unit, "rank": rank, "id": uid, "name": last.loc[uid, "name"],
                             "period": periods[-1], "area_km2": last.loc[uid, f"{stem}_km2"],
                             "share_of_land_pct": last.loc[uid, f"{stem}_share_of_land_pct"],
                             "change_km2": change.loc[uid], "change_pp": pp.loc[uid]})

    ranked(trends[trends["level"] == LEVEL_REGION], "region", "region")
    if zones is not None and len(zones):
        z = zones[(zones["level"] == LEVEL_ALL) & (zones["zone"] != NODATA_LABEL)]
        ranked(z.assign(name=z["zone"]), "dryland zone", "zone")
    return pd.DataFrame(rows, columns=["kind", "unit", "rank", "id", "name", "period", "area_km2",
                                       "share_of_land_pct", "change_km2", "change_pp"])


def chapter_tables(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The tables of the report's chapters that the run's tables allow, by name (``sdg_15_3_1_trends``,
    ``sdg_15_3_1_dryland_zones``, ``sdg_15_3_1_hotspots``, ``sdg_degraded_drought_exposed``)."""
    out = {}
    has = lambda n: n in tables and len(tables[n])  # noqa: E731
    if has("sdg_15_3_1_summary"):
        out["sdg_15_3_1_trends"] = sdg_trends(tables["sdg_15_3_1_summary"])
    if has("so1_4_sdg_15_3_1_by_dryland_zone"):
        out["sdg_15_3_1_dryland_zones"] = sdg_by_dryland_zone(tables["so1_4_sdg_15_3_1_by_dryland_zone"])
    if "sdg_15_3_1_trends" in out:
        out["sdg_15_3_1_hotspots"] = hotspots(out["sdg_15_3_1_trends"], out.get("sdg_15_3_1_dryland_zones"))
    if has("sdg_15_3_1_by_drought_class"):
        out["sdg_degraded_drought_exposed"] = degraded_drought_exposed(tables["sdg_15_3_1_by_drought_class"])
    return out


# --- tables of the report's limitations ------------------------------------------------------------------------
#: A drought-hazard year with no class on at least this share of the regions' area is a missing year.
EMPTY_YEAR_PCT = 99.0


def input_grids(ctx, used_inputs) -> pd.DataFrame:
    """The grid of each of ``used_inputs`` (the spec inputs the run's stages read): CRS, cell step in the CRS's units, cell size in km (geodesic at
    the grid's centre, :func:`dldd.effectiveness.spatial.pixel_spacing_km`), time step and years."""
    from dldd.effectiveness.spatial import pixel_spacing_km

    rows = []
    for name in used_inputs:
        da = ctx.input(name)
        plane = da.isel({d: 0 for d in da.dims if d not in ("y", "x")}, drop=True)
        if plane.sizes.get("x", 0) < 2 or plane.sizes.get("y", 0) < 2:
            continue
        try:
            plane = ctx.georef(plane)
            dy_km, dx_km = pixel_spacing_km(plane)
        except InputError:  # no CRS or an irregular axis: its cell size is not one number, not listed
            continue
        si = ctx.spec.inputs[name]
        years = pd.DatetimeIndex(da["time"].values).year if "time" in da.dims else None
        rows.append({"input": name, "source": si.product or str(si.path), "crs": plane.rio.crs.to_string(),
                     "step_x": abs(float(plane.x[1] - plane.x[0])), "step_y": abs(float(plane.y[1] - plane.y[0])),
                     "cell_km_x": dx_km, "cell_km_y": dy_km,
                     "n_times": int(da.sizes.get("time", 0)),
                     "first_year": int(years.min()) if years is not None and len(years) else None,
                     "last_year": int(years.max()) if years is not None and len(years) else None})
    return pd.DataFrame(rows)


def period_coverage(ctx) -> pd.DataFrame:
    """Each period a stage of the run reads, the input it reads it from and the years of the period the
    input does not hold (``missing_years``, ``;``-separated; empty: complete): the productivity periods
    (ndvi), the aridity periods and the drought-hazard years (precipitation). A drought-hazard year whose
    classes are missing on :data:`EMPTY_YEAR_PCT` % of the regions' area or more (``so3_1_hazard_areas``)
    counts as missing too."""
    rows = []

    def years_of(name):
        da = ctx.input(name)
        return set(pd.DatetimeIndex(da["time"].values).year.tolist()) if "time" in da.dims else set()

    def add(stage, name, period, first, last, empty=()):
        have = years_of(name)
        want = range(int(first), int(last) + 1)
        missing = sorted({y for y in want if y not in have or y in set(map(int, empty))})
        rows.append({"stage": stage, "input": name, "period": period, "first_year": int(first),
                     "last_year": int(last), "years": len(want), "missing_years": ";".join(map(str, missing)),
                     "n_missing": len(missing)})

    stages = ctx.params_by_stage
    per = ctx.spec.periods
    if "sdg_15_3_1" in stages and ctx.has("ndvi"):
        add("sdg_15_3_1", "ndvi", "baseline", *per.baseline.as_tuple())
        for n, rp in per.reporting.items():
            add("sdg_15_3_1", "ndvi", n, *rp.productivity.as_tuple())
    if "aridity" in stages and ctx.has("precipitation"):
        for p in (ctx.summary.get("aridity") or {}).get("periods", []):
            add("aridity", "precipitation", f"{p[0]}-{p[1]}", p[0], p[1])
    if "drought" in stages and ctx.has("precipitation"):
        first, last = stages["drought"].hazard_years
        t = ctx.tables.get("so3_1_hazard_areas")
        empty = []
        if t is not None and len(t):
            t = _clean(t)
            by_year = t.groupby("year")["area_km2"].sum()
            nodata = t[t["class"] == NODATA_LABEL].groupby("year")["area_km2"].sum().reindex(by_year.index).fillna(0)
            share = _pct(nodata, by_year)
            empty = [y for y, s in zip(by_year.index, share) if s >= EMPTY_YEAR_PCT]
        add("drought", "precipitation", f"{first}-{last}", first, last, empty)
    return pd.DataFrame(rows)


def write_limitation_tables(ctx, used_inputs=()) -> None:
    """``tables/input_grids.csv`` and ``tables/period_coverage.csv`` (:func:`input_grids` of ``used_inputs``,
    :func:`period_coverage`), read by the report's limitations."""
    for name, t in (("input_grids", input_grids(ctx, used_inputs)), ("period_coverage", period_coverage(ctx))):
        if len(t):
            ctx.write_table(name, t)
