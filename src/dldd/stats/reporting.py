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


def write_reporting_tables(ctx) -> None:
    """Write the reporting tables of the run's tables as CSV (``tables/unccd_*.csv``, via the context, so
    synthetic runs say so) and as the sheets of ``tables/unccd_reporting.xlsx`` (when xlsx is asked for)."""
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
