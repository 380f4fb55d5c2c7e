"""``dldd practices``: list, show, search and match practices of the knowledge base.

Commands: ``list [--category C]``, ``show ID``, ``search TEXT``, ``match [conditions] [--region ISO3]
[--run DIR] [--top N]``. Every command takes ``--cache PATH`` (the SQLite store; default
``$DLDD_CACHE/practices.sqlite`` or ``~/.cache/dldd/practices.sqlite``).

The ``--run DIR`` contract
--------------------------
``match --run DIR`` reads ``DIR/tables/conditions.csv`` when it exists: a UTF-8 CSV with a header
row and one row per region (or per pixel class), columns

=================  ==================================================================================
``region``         ISO 3166 alpha-3 code (or any region label); required, unique
``aridity_class``  UNEP class: hyper-arid, arid, semi-arid, dry sub-humid, humid
``precip_mm``      mean annual precipitation, mm
``drift_class``    sand drift energy class: low, intermediate, high (Fryberger DP < 200 / < 400 / >= 400)
``land_cover``     dominant UNCCD land cover: tree-covered, grassland, cropland, wetland, artificial,
                   other land, water body (or its code 1..7)
``degraded_share`` share of the region's area degraded (SDG 15.3.1), 0..1
``esa_class``      dominant MEDALUS ESA class: N, P, F1, F2, F3, C1, C2, C3
=================  ==================================================================================

When the run also has ``DIR/tables/condition_distribution.csv`` (the joint distribution of conditions
the practices stage writes; :mod:`dldd.practices.distribution`), practices are ranked on the share of
the region's land whose conditions they fit (:func:`dldd.practices.land_share.match_distribution`) and the
modal table is not used; condition options on the command line are then refused (they would override
a distribution with one value).

All columns but ``region`` may be blank (unknown). Optional further columns with the names of
:class:`dldd.practices.conditions.Conditions` fields are read too (``improved_share``, ``soil_texture``,
``slope_percent``, ``groundwater_depth_m``, ``groundwater_salinity_g_per_l``,
``degradation_status``); other columns are ignored. ``--region`` picks one row; without it every row
is matched. Options given on the command line override the row's values.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dldd.errors import DlddError, InputError
from dldd.practices.distribution import DISTRIBUTION_CSV, read_distribution, region_rows, regions_of
from dldd.practices.conditions import Conditions
from dldd.practices.land_share import match_distribution
from dldd.practices.scoring import match as match_practices
from dldd.practices.schema import Practice
from dldd.practices.store import open_store

app = typer.Typer(
    help="Knowledge base of sand-control and land-management practices: list, show, search, match.",
    no_args_is_help=True,
    add_completion=False,
)

#: Relative path of the conditions table inside a run directory.
CONDITIONS_CSV = Path("tables") / "conditions.csv"
#: Columns a conditions table must have.
CONDITIONS_REQUIRED_COLUMNS = ("region",)
_GIVEN = "the given conditions"

_CACHE = typer.Option(None, "--cache", help="SQLite store file (default $DLDD_CACHE/practices.sqlite).")


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def _fail(e: Exception) -> None:
    Console(stderr=True, highlight=False).print(f"[bold red]error:[/] {escape(str(e))}")
    raise typer.Exit(code=1)


def _store(cache: Optional[Path]):
    return open_store(cache)


def _names(p: Practice) -> str:
    """The practice's names, escaped for rich (catalogue text is never read as markup)."""
    return escape(f"{p.names.en} ({p.names.zh})" if p.names.zh else p.names.en)


def _practice_table(practices: list[Practice], title: str) -> Table:
    t = Table(title=title, show_lines=False)
    t.add_column("id", no_wrap=True, style="bold")
    t.add_column("name", overflow="fold")
    t.add_column("category", overflow="fold")
    t.add_column("precip mm", justify="right", no_wrap=True)
    t.add_column("cases", justify="right", no_wrap=True)
    for p in practices:
        e = p.envelope
        t.add_row(escape(p.id), _names(p), escape(p.category),
                  str(e.annual_precipitation_mm) if e.annual_precipitation_mm else "-",
                  str(len(p.evidence)))
    return t


@app.command("list")
def list_practices(
    category: Optional[str] = typer.Option(None, "--category", help="Only this category."),
    cache: Optional[Path] = _CACHE,
) -> None:
    """List the practices of the catalogue."""
    try:
        with _store(cache) as s:
            ps = s.all(category)
    except DlddError as e:
        _fail(e)
    _console().print(_practice_table(ps, f"{len(ps)} practices"))


@app.command("show")
def show(
    practice_id: str = typer.Argument(..., help="Practice id (see `list`)."),
    cache: Optional[Path] = _CACHE,
) -> None:
    """Show one practice: how it works, where it applies, inputs, risks and evidence."""
    try:
        with _store(cache) as s:
            p = s.get(practice_id)
    except DlddError as e:
        _fail(e)
    con = _console()
    con.print(f"[bold]{_names(p)}[/]  [dim]{escape(p.id)} · {escape(p.category)}[/]")
    if p.names.other:
        con.print(f"also: {', '.join(p.names.other)}", markup=False)
    con.print(f"\n{p.how_it_works.strip()}\n", markup=False)
    e = p.envelope
    env = Table(title="Applicability envelope", show_header=False)
    env.add_column("condition", style="bold")
    env.add_column("documented")
    env.add_row("aridity classes", escape(", ".join(e.aridity_classes)))
    if e.annual_precipitation_mm:
        env.add_row("annual precipitation", f"{e.annual_precipitation_mm} mm")
    if e.drift_energy_classes:
        env.add_row("sand drift energy", escape(", ".join(e.drift_energy_classes)))
    if e.soil_textures:
        env.add_row("soil texture", escape(", ".join(e.soil_textures)))
    if e.slope_percent:
        env.add_row("slope", f"{e.slope_percent} %")
    if e.groundwater and e.groundwater.depth_m:
        env.add_row("groundwater depth", f"{e.groundwater.depth_m} m")
    if e.groundwater and e.groundwater.salinity_g_per_l:
        env.add_row("groundwater salinity", f"{e.groundwater.salinity_g_per_l} g/L")
    env.add_row("land cover", escape(", ".join(e.land_cover)))
    if e.land_condition:
        env.add_row("meant for land that is", escape(", ".join(e.land_condition)))
    if e.note:
        env.add_row("note", escape(e.note))
    con.print(env)
    if p.inputs:
        i = p.inputs
        inp = Table(title="Inputs", show_header=False)
        inp.add_column("input", style="bold")
        inp.add_column("value")
        if i.water:
            inp.add_row("water", escape(i.water))
        if i.water_m3_per_ha_year:
            inp.add_row("water m³/ha/yr", str(i.water_m3_per_ha_year))
        if i.labour:
            inp.add_row("labour", escape(i.labour))
        if i.labour_person_days_per_ha:
            inp.add_row("labour person-days/ha", str(i.labour_person_days_per_ha))
        if i.cost_per_ha:
            c = i.cost_per_ha
            approx = "approx. " if c.approximate else ""
            inp.add_row("cost per ha", escape(f"{approx}{c} {c.currency} ({c.year})" + (f"; {c.note}" if c.note else "")))
        con.print(inp)
    if p.lifespan_years:
        con.print(f"[bold]lifespan:[/] {p.lifespan_years} years")
    if p.maintenance:
        con.print(f"[bold]maintenance:[/] {escape(p.maintenance.strip())}")
    for label, items in (("co-benefits", p.co_benefits), ("risks", p.risks)):
        if items:
            con.print(f"[bold]{label}:[/]")
            for it in items:
                con.print(f"  • {it}", markup=False)
    con.print("[bold]evidence:[/]")
    for k, case in enumerate(p.evidence, start=1):
        con.print(f"  {k}. [bold]{escape(case.place)}[/] {escape(f'({case.period})')}")
        con.print(f"     measured: {case.outcome}", markup=False)
        con.print(f"     effect: {case.effect.strip()}", markup=False)
        con.print(f"     source: {case.citation}", markup=False)


@app.command("search")
def search(
    text: str = typer.Argument(..., help="Words in English or Chinese, e.g. 'sand fence' or 草方格."),
    limit: int = typer.Option(20, "--limit", min=1),
    cache: Optional[Path] = _CACHE,
) -> None:
    """Full-text search over names (English and Chinese) and descriptions."""
    try:
        with _store(cache) as s:
            ps = s.search(text, limit=limit)
    except DlddError as e:
        _fail(e)
    if not ps:
        _console().print(f"no practice matches {text!r}", markup=False)
        raise typer.Exit(code=0)
    _console().print(_practice_table(ps, escape(f"{len(ps)} practices matching {text!r}")))


def read_conditions_csv(path: str | Path) -> dict[str, dict[str, str]]:
    """Rows of a conditions table by region (see the module docstring for the columns)."""
    p = Path(path)
    try:
        with p.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            missing = [c for c in CONDITIONS_REQUIRED_COLUMNS if c not in header]
            if missing:
                raise InputError(f"conditions table {str(p)!r}: missing column(s) {missing}; found {header}")
            fields = set(Conditions.model_fields)
            rows: dict[str, dict[str, str]] = {}
            for n, row in enumerate(reader, start=2):
                region = (row.get("region") or "").strip()
                if not region:
                    raise InputError(f"conditions table {str(p)!r} line {n}: column 'region' is blank")
                if region.upper() in rows:
                    raise InputError(f"conditions table {str(p)!r} line {n}: region {region!r} appears twice")
                rows[region.upper()] = {k: v for k, v in row.items() if k in fields and v not in (None, "")}
    except OSError as e:
        raise InputError(f"conditions table {str(p)!r} cannot be read: {e}") from e
    return rows


_MARK = {"fit": "[green]✓[/]", "partial": "[yellow]~[/]", "misfit": "[red]✗[/]", "evidence": "[cyan]•[/]",
         "not documented": "[magenta]?[/]"}


def _print_matches(con: Console, label: str, results) -> None:
    by_share = bool(results) and hasattr(results[0], "share")
    t = Table(title=f"Practices for {escape(label)}" + (" (share of its land whose conditions each fits)" if by_share else ""))
    t.add_column("#", justify="right", no_wrap=True)
    t.add_column("id", no_wrap=True, style="bold")
    t.add_column("score", justify="right", no_wrap=True)
    if by_share:
        t.add_column("% of area", justify="right", no_wrap=True)
        t.add_column("% of drylands", justify="right", no_wrap=True)
        t.add_column("cases here/sub-region/all", justify="center", no_wrap=True)
    else:
        t.add_column("✓/~/✗", justify="center", no_wrap=True)
    t.add_column("name", overflow="fold")
    for k, m in enumerate(results, start=1):
        p, score, reasons = m.practice, m.score, m.reasons
        if by_share:
            dry = "-" if m.dryland_share is None else f"{m.dryland_share:.1%}"
            t.add_row(str(k), escape(p.id), f"{score:.3f}", f"{m.share:.1%}", dry, "/".join(map(str, m.evidence)), _names(p))
        else:
            n = {v: sum(1 for r in reasons if r.verdict == v) for v in ("fit", "partial", "misfit")}
            t.add_row(str(k), escape(p.id), f"{score:.2f}", f"{n['fit']}/{n['partial']}/{n['misfit']}", _names(p))
    con.print(t)
    for k, m in enumerate(results, start=1):
        con.print(f"[bold]{k}. {escape(m.practice.id)}[/] (score {m.score:.3f})")
        for r in m.reasons:
            if r.verdict in _MARK:
                con.print(f"   {_MARK[r.verdict]} {escape(str(r))}")
        hidden = [r.condition for r in m.reasons if r.verdict == "unknown"]
        if hidden:
            con.print(f"   [dim]· not known here (neither rewarded nor penalised): {escape(', '.join(hidden))}[/]")


@app.command("match")
def match(
    aridity: Optional[str] = typer.Option(None, "--aridity", help="hyper-arid, arid, semi-arid, dry sub-humid, humid"),
    precip: Optional[float] = typer.Option(None, "--precip", help="Mean annual precipitation, mm."),
    drift: Optional[str] = typer.Option(None, "--drift", help="Sand drift energy: low, intermediate, high."),
    land_cover: Optional[str] = typer.Option(None, "--land-cover", help="Dominant UNCCD land cover class."),
    degraded_share: Optional[float] = typer.Option(None, "--degraded-share", help="Share of land degraded, 0..1."),
    status: Optional[str] = typer.Option(None, "--status", help="Degradation status: degraded, stable, improved."),
    esa: Optional[str] = typer.Option(None, "--esa", help="MEDALUS ESA class: N, P, F1..F3, C1..C3."),
    soil: Optional[str] = typer.Option(None, "--soil", help="USDA soil texture class."),
    slope: Optional[float] = typer.Option(None, "--slope", help="Slope, %."),
    region: Optional[str] = typer.Option(None, "--region", help="ISO3 code: a row of the run's conditions table."),
    run: Optional[Path] = typer.Option(None, "--run", help="Run directory with tables/conditions.csv."),
    top: int = typer.Option(10, "--top", min=1, help="How many practices to show."),
    cache: Optional[Path] = _CACHE,
) -> None:
    """Rank practices for assessed conditions, with the reasons for each score."""
    given = {"aridity_class": aridity, "precip_mm": precip, "drift_class": drift, "land_cover": land_cover,
             "degraded_share": degraded_share, "degradation_status": status, "esa_class": esa,
             "soil_texture": soil, "slope_percent": slope}
    given = {k: v for k, v in given.items() if v is not None}
    con = _console()
    try:
        if run is not None and (Path(run) / DISTRIBUTION_CSV).is_file():
            if given:
                raise InputError(f"run directory {str(run)!r} has the distribution of conditions "
                                 f"{DISTRIBUTION_CSV}; condition options ({', '.join(sorted(given))}) cannot "
                                 "override it: match without them, or without --run")
            dist = read_distribution(Path(run) / DISTRIBUTION_CSV)
            regions = [region.upper()] if region else regions_of(dist)
            with _store(cache) as s:
                practices = s.all()
            cache: dict = {}
            for rid in regions:
                _print_matches(con, rid, match_distribution(region_rows(dist, rid), practices, top=top, region=rid,
                                                            fit_cache=cache))
            return
        rows: dict[str, dict[str, str]] = {}
        if run is not None:
            table = Path(run) / CONDITIONS_CSV
            if table.is_file():
                rows = read_conditions_csv(table)
            elif not given:
                raise InputError(f"run directory {str(run)!r} has no {CONDITIONS_CSV} and no condition was given")
            else:
                con.print(f"[yellow]note:[/] {escape(str(table))} not found; using the conditions given on the command line")
        if rows and region is not None:
            key = region.upper()
            if key not in rows:
                raise InputError(f"region {region!r} is not in {str(Path(run) / CONDITIONS_CSV)!r}; "
                                 f"regions there: {sorted(rows)}")
            rows = {key: rows[key]}
        if not rows:
            if not given:
                raise InputError("no condition given: pass options such as --aridity and --precip, or --run DIR")
            rows = {region.upper() if region else _GIVEN: {}}
        with _store(cache) as s:
            practices = s.all()
        for label, row in rows.items():
            cond = dict(row)
            if label != _GIVEN:
                cond["region"] = label
            cond.update(given)
            results = match_practices(cond, practices, top=top)
            _print_matches(con, label, results)
    except DlddError as e:
        _fail(e)
