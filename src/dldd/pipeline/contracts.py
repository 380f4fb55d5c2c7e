"""Declared contracts: what each stage provides (maps, in-run products, tables) and what it consumes.

A stage (:class:`dldd.pipeline.stages.base.Stage`) lists in ``provides`` a :class:`Product` for every map
and in-run product it makes (name, dims, dtype, units, legend) and a :class:`Table` for every table (its
columns, the legend of its ``class`` column, whether it is a class-share table, named class groups); in
``consumes`` the products it cannot run without and in ``uses`` those it reads when an earlier stage of
the run made them. :func:`check_chain` refuses, at ``dldd spec check`` and ``dldd run``, a stage that
consumes what no earlier stage of the run provides. After each stage the pipeline matches what the stage
wrote against its declarations (:func:`declared_map`, :func:`check_table`: an undeclared map or table, a
missing column or a map of another data type is an error), and the run writes the declarations of what
it produced to ``contracts.json`` (:func:`run_contracts`). The report, the QGIS styles and the practices
stage read legends, class groups and share tables from there (:func:`legend_from_json`), never from name
prefixes.

Map names may hold placeholders: ``{year}`` (four digits), ``{block}`` (``YYYY_YYYY``), ``{scale}``
(digits) and ``{period}`` (a period name of the spec); a map name is matched against the patterns of the
stage that wrote it, the pattern with the most literal text winning (``sdg_15_3_1_te_{period}`` before
``sdg_15_3_1_{period}``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from dldd.core.legend import CLASS_NODATA, Legend, LegendClass

#: Placeholders of map name patterns and what they match.
PLACEHOLDERS = {"year": r"\d{4}", "block": r"\d{4}_\d{4}", "scale": r"\d+", "period": r".+"}
#: File of the run folder holding the declarations of what the run produced.
CONTRACTS_FILE = "contracts.json"


@dataclass(frozen=True)
class Product:
    """A map (``kind="map"``, written under ``maps/``) or an in-run product (``kind="product"``, kept in
    ``ctx.products`` for later stages). ``condition``: the practice condition a class map answers (the
    knowledge base's column, e.g. ``drift_class``), with ``terms`` the knowledge base's word for each class
    of the legend in order (default: the class names)."""

    name: str
    dims: tuple[str, ...] = ("y", "x")
    dtype: str = "float32"
    units: str = "1"
    legend: Legend | None = None
    description: str = ""
    kind: Literal["map", "product"] = "map"
    condition: str | None = None
    terms: tuple[str, ...] | None = None

    def pattern(self) -> re.Pattern:
        parts = re.split(r"\{(\w+)\}", self.name)
        return re.compile("".join(re.escape(p) if i % 2 == 0 else f"(?:{PLACEHOLDERS[p]})"
                                  for i, p in enumerate(parts)) + r"\Z")

    def literal_length(self) -> int:
        return len(re.sub(r"\{\w+\}", "", self.name))

    def to_json(self) -> dict:
        out = {"kind": self.kind, "dims": list(self.dims), "dtype": self.dtype, "units": self.units,
               "description": self.description, "legend": legend_to_json(self.legend)}
        if self.condition is not None:
            out["condition"] = self.condition
            out["terms"] = list(self.terms or (c.name for c in self.legend.classes))
        return out


@dataclass(frozen=True)
class Table:
    """A table under ``tables/``: the columns it always has (more may follow), the legend of its ``class``
    column, whether it holds class shares by region (``shares``, drawn by the report) and named groups of
    class codes (e.g. ``drylands``: the aridity codes counted as drylands)."""

    name: str
    columns: tuple[str, ...]
    legend: Legend | None = None
    shares: bool = False
    groups: dict[str, tuple[int, ...]] = field(default_factory=dict)
    description: str = ""

    def to_json(self, written_columns=None) -> dict:
        return {"columns": list(written_columns if written_columns is not None else self.columns),
                "legend": legend_to_json(self.legend), "shares": self.shares,
                "groups": {k: list(v) for k, v in self.groups.items()}, "description": self.description}


def legend_to_json(legend: Legend | None) -> dict | None:
    if legend is None:
        return None
    return {"name": legend.name, "nodata": legend.nodata, "description": legend.description,
            "classes": [{"code": c.code, "label": c.name, "color": c.color} for c in legend.classes]}


def legend_from_json(d: dict | None) -> Legend | None:
    """The :class:`~dldd.core.legend.Legend` a declaration in ``contracts.json`` holds."""
    if not d:
        return None
    return Legend(d["name"], tuple(LegendClass(int(c["code"]), c["label"], c["color"]) for c in d["classes"]),
                  int(d.get("nodata", CLASS_NODATA)), d.get("description", ""))


class ContractError(RuntimeError):
    """A stage wrote what it does not declare (a programming error, not an input's)."""


def declared_map(stage, name: str) -> Product:
    """The map declaration of ``stage`` that ``name`` matches (most literal text first)."""
    found = [p for p in stage.provides if isinstance(p, Product) and p.kind == "map" and p.pattern().match(name)]
    if not found:
        raise ContractError(f"stage {stage.name!r} wrote map {name!r}, which it does not declare in `provides`")
    return max(found, key=Product.literal_length)


def declared_table(stage, name: str) -> Table:
    found = [t for t in stage.provides if isinstance(t, Table) and t.name == name]
    if not found:
        raise ContractError(f"stage {stage.name!r} wrote table {name!r}, which it does not declare in `provides`")
    return found[0]


def check_table(stage, name: str, columns, rows: int = 1) -> Table:
    """The declaration of table ``name``; refused when ``columns`` (as written) lack a declared column (a
    table without rows may have none)."""
    t = declared_table(stage, name)
    missing = [c for c in t.columns if c not in set(columns)]
    if missing and rows:
        raise ContractError(f"stage {stage.name!r} wrote table {name!r} without its declared column(s) {missing}")
    return t


def provided_names(stage) -> set[str]:
    return {p.name for p in stage.provides}


def check_chain(stages: dict, run: list[str]) -> None:
    """Refuse a run whose stage consumes a product no earlier stage of the run provides, or uses one that
    only a later stage provides (``stages``: the registry; ``run``: the stage names in run order). The
    error names the stage and the product."""
    from dldd.errors import SpecError

    earlier: dict[str, str] = {}
    for i, name in enumerate(run):
        stage = stages[name]
        for product in stage.consumes:
            if product not in earlier:
                later = [s for s in run[i + 1:] if product in provided_names(stages[s])]
                where = (f"; stage {later[0]!r} provides it but runs after" if later else
                         "; no stage of the run provides it")
                raise SpecError(f"indicators.{name}: stage {name!r} consumes product {product!r}{where}")
        for product in stage.uses:
            later = [s for s in run[i + 1:] if product in provided_names(stages[s])]
            if product not in earlier and later:
                raise SpecError(f"indicators.{name}: stage {name!r} uses product {product!r}, which stage "
                                f"{later[0]!r} provides only after it")
        for p in stage.provides:
            earlier.setdefault(p.name, name)


def run_contracts(stages: dict, written: dict[str, dict[str, list[str]]], ctx) -> dict:
    """The declarations of what a run produced (``contracts.json``): per stage of the run what it consumes
    and uses and the spec inputs it reads (its needs and the optional inputs the spec gives), per map (in the order written) and table (in the order declared) its stage and declaration,
    per in-run product its declaration.
    ``written``: stage -> {"maps": [...], "tables": [...]} as the pipeline saw them appear."""
    out: dict = {"stages": {}, "maps": {}, "tables": {}, "products": {}}
    for name, w in written.items():
        stage = stages[name]
        out["stages"][name] = {"description": stage.description, "consumes": list(stage.consumes),
                               "uses": list(stage.uses),
                               # the spec inputs the stage reads: what its maps are computed from
                               "inputs": [n for n in dict.fromkeys((*stage.needs, *stage.optional)) if ctx.has(n)]}
        for p in stage.provides:
            if isinstance(p, Product) and p.kind == "product" and p.name in ctx.products:
                out["products"][p.name] = {"stage": name, **p.to_json()}
        for m in w["maps"]:
            out["maps"][m] = {"stage": name, "declared": declared_map(stage, m).name,
                              **declared_map(stage, m).to_json()}
        for t in w["tables"]:
            declared_table(stage, t)  # refused before anything is recorded
        declared_order = [d.name for d in stage.provides if isinstance(d, Table)]
        for t in sorted(w["tables"], key=declared_order.index):  # in the order the stage declares them
            df = ctx.tables[t]
            cols = [str(c) for c in df.columns]
            out["tables"][t] = {"stage": name, **check_table(stage, t, cols, len(df)).to_json(cols)}
    return out


@dataclass(frozen=True)
class RunTables:
    """The declarations of the tables a run writes after its stages (not a stage: nothing consumes them)."""

    name: str
    provides: tuple[Table, ...]


#: Leading columns of the tables summed per region, sub-region and the whole area (``level``: which).
LEVEL_COLUMNS = ("level", "region", "name", "subregion")
SDG_LAND_COLUMNS = ("degraded_km2", "stable_km2", "improved_km2", "no_data_km2", "land_km2",
                    "degraded_share_of_land_pct", "stable_share_of_land_pct", "improved_share_of_land_pct",
                    "no_data_share_of_land_pct", "degraded_change_pp", "improved_change_pp")


def _run_tables() -> RunTables:
    from dldd.stats.reporting import SHEETS

    return RunTables("reporting", (
        Table("input_grids", ("input", "source", "crs", "step_x", "step_y", "cell_km_x", "cell_km_y", "n_times",
                              "first_year", "last_year"), description="the grid of each input the run read"),
        Table("period_coverage", ("stage", "input", "period", "first_year", "last_year", "years", "missing_years",
                                  "n_missing"), description="years of each period missing from its input"),
        Table("sdg_15_3_1_trends", (*LEVEL_COLUMNS, "period", *SDG_LAND_COLUMNS),
              description="SDG 15.3.1 per period: whole area, sub-regions, regions"),
        Table("sdg_15_3_1_dryland_zones", (*LEVEL_COLUMNS, "period", "zone", "dryland", *SDG_LAND_COLUMNS),
              description="SDG 15.3.1 per dryland zone, shares of the zone's land"),
        Table("sdg_15_3_1_hotspots", ("kind", "unit", "rank", "id", "name", "period", "area_km2", "share_of_land_pct",
                                      "change_km2", "change_pp"), description="largest degraded and improved areas and changes"),
        Table("sdg_degraded_drought_exposed", (*LEVEL_COLUMNS, "period", "block", "land_km2", "degraded_km2",
                                               "drought_km2", "degraded_drought_km2",
                                               "degraded_drought_share_of_land_pct",
                                               "degraded_drought_share_of_degraded_pct"),
              description="degraded land in moderate or worse drought, cell by cell"),
        # the UNCCD (PRAIS) layout of the stages' tables: wide, their columns follow the classes present
        *(Table(csv, (), description=f"UNCCD reporting template, sheet {sheet!r}") for sheet, (csv, _, _) in SHEETS.items()),
    ))


RUN_TABLES = _run_tables()


def record_run_tables(declared: dict, tables: dict) -> dict:
    """``declared`` (``contracts.json``) with the tables the run wrote after its stages (:data:`RUN_TABLES`,
    made by :mod:`dldd.stats.reporting` from the stages' tables), each checked against its declaration."""
    out = {**declared, "tables": dict(declared.get("tables", {}))}
    for name, df in tables.items():
        cols = [str(c) for c in df.columns]
        out["tables"][name] = {"stage": RUN_TABLES.name, **check_table(RUN_TABLES, name, cols, len(df)).to_json(cols)}
    return out


# --- columns of the usual tables (:mod:`dldd.stats.zonal`) -----------------------------------------------------------
REGION_COLUMNS = ("region", "name", "subregion")


def class_area_columns(by: str | None = None, land: bool = False) -> tuple[str, ...]:
    """Columns of a class-area table (:func:`dldd.stats.zonal.class_areas`), stacked by ``by`` when given; shares
    of land (the land account's tables) or of the region's area."""
    shares = ("share_of_land_pct", "share_of_land_with_data_pct") if land else ("share_pct",)
    return ("region", *((by,) if by else ()), "name", "subregion", "code", "class", "area_km2", *shares)


TRANSITION_COLUMNS = (*REGION_COLUMNS, "from_code", "from", "to_code", "to", "area_km2")


def mean_columns(name: str) -> tuple[str, ...]:
    """Columns of an area-weighted mean table (:func:`dldd.stats.zonal.weighted_means`) of ``name``."""
    return (*REGION_COLUMNS, f"mean_{name}", "area_with_data_km2", "area_no_data_km2")
