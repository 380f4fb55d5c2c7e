"""Reading a run folder and computing the report's headline figures from its tables.

The report never recomputes an indicator: every number here is a sum of areas (or persons) of the run's
CSV tables, divided by the matching total. A share of a class for one region is therefore the table's own
``share_pct`` (summed over the classes in question), and for a sub-region or the whole assessment the
area-weighted combination of its regions.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from dldd.errors import InputError
from dldd.stats.zonal import WATER_LABEL

#: Column that says which period/year/block a table row belongs to, in order of preference.
TIME_COLUMNS = ("period", "year", "block")
#: The class groups of the headline metrics are those the stages declare for their tables
#: (``contracts.json``, :class:`dldd.pipeline.contracts.Table`): ``drought`` (SO3-1, moderate drought or
#: worse; mild is left out, the report shows the full distribution beside it), ``drylands`` (aridity zones
#: with AI < 0.65), ``degraded`` (land cover degradation) and ``drier`` (aridity shift).
#: Order in which the report shows the class-share tables the stages declare, by stage; stages not listed follow.
SHARE_TABLE_STAGES = ("sdg_15_3_1", "land_cover", "drought", "aridity", "sensitivity", "sand")


@dataclass
class Run:
    """A run folder: summary, manifest and the tables that exist."""

    path: Path
    summary: dict
    manifest: dict
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: The declarations of what the run produced (``contracts.json``; empty for a run without one).
    contracts: dict = field(default_factory=dict)

    @property
    def synthetic(self) -> bool:
        return bool(self.summary.get("synthetic", self.manifest.get("synthetic", False)))

    @property
    def regions(self) -> list[dict]:
        return list(self.summary.get("regions", []))

    @property
    def maps(self) -> dict[str, str]:
        return dict(self.manifest.get("outputs", {}).get("maps", {}))

    def has(self, name: str) -> bool:
        return name in self.tables

    def group(self, table: str, name: str) -> list[int]:
        """Codes of the class group ``name`` that the stage writing ``table`` declares (none if it does not)."""
        return list(self.contracts.get("tables", {}).get(table, {}).get("groups", {}).get(name, []))

    def family_of_map(self, name: str) -> str:
        """The stage that wrote map ``name`` (its declaration), "other" when the run does not say."""
        return str(self.contracts.get("maps", {}).get(name, {}).get("stage", "other"))

    def share_tables(self) -> list[str]:
        """The class-share tables the run's stages declare and wrote, in :data:`SHARE_TABLE_STAGES` order."""
        declared = [(t, d) for t, d in self.contracts.get("tables", {}).items() if d.get("shares")]
        rank = {s: i for i, s in enumerate(SHARE_TABLE_STAGES)}
        return [t for t, _ in sorted(declared, key=lambda td: rank.get(td[1].get("stage"), len(rank)))]


def load_run(run_dir: str | Path) -> Run:
    """Read ``summary.json``, ``manifest.json`` (optional) and every ``tables/*.csv`` of a run folder."""
    path = Path(run_dir)
    summary_file = path / "summary.json"
    if not summary_file.is_file():
        raise InputError(f"run folder {path}: no summary.json (expected the output folder of `dldd run`)")
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    manifest_file = path / "manifest.json"
    manifest = json.loads(manifest_file.read_text(encoding="utf-8")) if manifest_file.is_file() else {}
    tables = {}
    for f in sorted((path / "tables").glob("*.csv")):
        tables[f.stem] = pd.read_csv(f, keep_default_na=False, na_values=[""], dtype={"region": str, "name": str, "subregion": str})
    from dldd.pipeline.contracts import CONTRACTS_FILE

    contracts_file = path / CONTRACTS_FILE
    contracts = json.loads(contracts_file.read_text(encoding="utf-8")) if contracts_file.is_file() else {}
    return Run(path, summary, manifest, tables, contracts)


def time_column(t: pd.DataFrame) -> str | None:
    for c in TIME_COLUMNS:
        if c in t.columns:
            return c
    return None


def periods(t: pd.DataFrame) -> list:
    """The periods/years/blocks of a table in the order they appear (first = baseline, last = latest)."""
    c = time_column(t)
    return [] if c is None else list(dict.fromkeys(t[c].tolist()))


def at(t: pd.DataFrame, when) -> pd.DataFrame:
    c = time_column(t)
    return t if c is None or when is None else t[t[c] == when]


# --- metrics ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Metric:
    """A headline quantity: per region ``num`` (and ``den`` for shares), summed over regions for groups."""

    key: str
    kind: str  # a kind of dldd.report.numbers.DECIMALS
    when: object  # the period/year/block it refers to (None: not time-bound)
    num: dict[str, float]
    den: dict[str, float] | None = None
    ref: "Metric | None" = None  # for changes: value = self - ref (percentage points)

    def value(self, region_ids) -> float | None:
        ids = [i for i in region_ids if i in self.num]
        if not ids:
            return None
        n = sum(self.num[i] for i in ids)
        if self.den is None:
            v = n
        else:
            d = sum(self.den[i] for i in ids)
            v = 100.0 * n / d if d > 0 else math.nan
        if self.ref is not None:
            r = self.ref.value(region_ids)
            v = v - r if r is not None else math.nan
        return None if math.isnan(v) else v


def _class_share(t: pd.DataFrame, when, mask_fn, value_col: str = "area_km2") -> tuple[dict, dict]:
    """Per region: the classes ``mask_fn`` picks, and the denominator: the land area (every row but the
    land account's water row, docs/methods.md "Land account") in tables of land, else all rows."""
    sel = at(t, when)
    num = sel[mask_fn(sel)].groupby("region")[value_col].sum()
    den = sel[sel["class"] != WATER_LABEL].groupby("region")[value_col].sum()
    return {str(k): float(v) for k, v in num.reindex(den.index, fill_value=0.0).items()}, {
        str(k): float(v) for k, v in den.items()}


def compute_metrics(run: Run) -> list[Metric]:
    """Every headline metric the run's tables allow, in the order the report shows them."""
    out: list[Metric] = []
    t = run.tables.get("sdg_15_3_1_summary")
    if t is not None and len(t):
        ps = periods(t)
        mets = {}
        for p in (ps[0], ps[-1]):
            s = at(t, p)
            # SDG 15.3.1 = degraded / land area (the summary's degraded_share_of_land_pct; no data is land)
            num = {str(r): float(v) for r, v in s.groupby("region")["degraded_km2"].sum().items()}
            land = s.groupby("region")["land_area_km2"].sum()
            mets[p] = Metric("sdg_degraded_pct", "pct", p, num, {str(r): float(v) for r, v in land.items()})
        out.append(mets[ps[-1]])
        if len(ps) > 1:
            m = mets[ps[-1]]
            out.append(Metric("sdg_change_pp", "pp", ps[-1], m.num, m.den, ref=mets[ps[0]]))
    t, codes = run.tables.get("so1_1_land_cover_degradation"), run.group("so1_1_land_cover_degradation", "degraded")
    if t is not None and len(t) and codes:  # no declared group (a run without contracts.json): no metric
        p = periods(t)[-1]
        num, den = _class_share(t, p, lambda s: s["code"].isin(codes))
        out.append(Metric("lc_degraded_pct", "pct", p, num, den))
    t, codes = run.tables.get("so3_1_hazard_blocks"), run.group("so3_1_hazard_blocks", "drought")
    if t is not None and len(t) and codes:
        b = periods(t)[-1]
        num, den = _class_share(t, b, lambda s: s["code"].isin(codes))
        out.append(Metric("drought_pct", "pct", b, num, den))
        out.append(Metric("drought_km2", "area_km2", b, num))
    t, codes = run.tables.get("so3_2_exposure"), run.group("so3_2_exposure", "drought")
    if t is not None and len(t) and codes:
        b = periods(t)[-1]
        num, _ = _class_share(t, b, lambda s: s["code"].isin(codes), "population")
        out.append(Metric("exposed_population", "population", b, num))
    t, codes = run.tables.get("aridity_zone_areas"), run.group("aridity_zone_areas", "drylands")
    if t is not None and len(t) and codes:
        p = periods(t)[-1]
        num, den = _class_share(t, p, lambda s: s["code"].isin(codes))
        out.append(Metric("drylands_km2", "area_km2", p, num))
        out.append(Metric("drylands_pct", "pct", p, num, den))
    t, codes = run.tables.get("aridity_shift_areas"), run.group("aridity_shift_areas", "drier")
    if t is not None and len(t) and codes:
        num, den = _class_share(t, None, lambda s: s["code"].isin(codes))
        out.append(Metric("drier_pct", "pct", None, num, den))
    return out


#: Metrics that rank the country table, the first available wins (most degraded / affected first).
RANK_KEYS = ("sdg_degraded_pct", "lc_degraded_pct", "drought_pct", "drylands_pct")


def rank_regions(regions: list[dict], metrics: list[Metric]) -> tuple[list[dict], str | None]:
    """Regions sorted by the first available ranking metric, descending (regions without a value last)."""
    by_key = {m.key: m for m in metrics}
    key = next((k for k in RANK_KEYS if k in by_key), None)
    if key is None:
        return list(regions), None
    m = by_key[key]

    def sort_key(r):
        v = m.value([r["id"]])
        return (v is None, -(v or 0.0), str(r["name"]))

    return sorted(regions, key=sort_key), key


def subregion_groups(regions: list[dict]) -> dict[str, list[str]]:
    """Sub-region name -> ids of its regions (regions without a sub-region are left out)."""
    groups: dict[str, list[str]] = {}
    for r in regions:
        if r.get("subregion"):
            groups.setdefault(str(r["subregion"]), []).append(str(r["id"]))
    return groups


#: Share columns of the run's class tables, by preference: the share of land (tables of the land account,
#: docs/methods.md), else the share of the region's area (tables without one).
SHARE_COLUMNS = ("share_of_land_pct", "share_pct")


def share_column(t: pd.DataFrame) -> str | None:
    """The column holding a class table's shares (see :data:`SHARE_COLUMNS`), None if it has none."""
    return next((c for c in SHARE_COLUMNS if c in t.columns), None)


def region_class_table(t: pd.DataFrame, region_id: str, when) -> pd.DataFrame:
    """One region's class rows (class, area_km2 and the share columns) for one period of a long table."""
    s = at(t, when)
    s = s[s["region"].astype(str) == str(region_id)]
    cols = [c for c in ("code", "class", "area_km2", *SHARE_COLUMNS) if c in s.columns]
    return s[cols].reset_index(drop=True)


def region_class_tables(t: pd.DataFrame, when) -> dict[str, pd.DataFrame]:
    """:func:`region_class_table` of every region of ``t`` at once (one pass over the table): region id -> rows."""
    s = at(t, when)
    cols = [c for c in ("code", "class", "area_km2", *SHARE_COLUMNS) if c in s.columns]
    return {str(rid): g[cols].reset_index(drop=True) for rid, g in s.groupby(s["region"].astype(str), sort=False)}
