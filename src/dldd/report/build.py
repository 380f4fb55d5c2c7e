"""Build the report of a run: a static HTML site (regional synthesis + one page per region) and a PDF.

Layout of ``RUN_DIR/report/``::

    index.html             regional synthesis (summary, country table, maps, charts, methods, data, limitations)
    region-<id>.html       one profile per country or zone
    assets/report.css      the only style sheet (no JavaScript, no web fonts, nothing fetched)
    figures/*.png          maps and charts (matplotlib, Agg)
    report.pdf             the same sections, paginated, with a table of contents and figure numbers
"""

from __future__ import annotations

import datetime
import functools
import json
import math
import multiprocessing
import os
import re
import shutil
import statistics
import sys
import threading
import time
import warnings
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import rasterio
import shapely
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from dldd import __version__
from dldd.core.cells import cell_number as _num  # a table cell as a float (infinity kept), None when empty
from dldd.report import chapters as rc
from dldd.report import data as rd
from dldd.report import figures as rf
from dldd.report.messages import DEFAULT_LANG, Catalogue
from dldd.report.numbers import format_value, round_value

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
ASSETS_DIR = PACKAGE_DIR / "assets"
#: Order of the maps on the synthesis page (by name prefix); other maps follow in manifest order.
MAP_ORDER = ("sdg_status7", "sdg_status", "sdg_15_3_1", "lpd", "soc_degradation", "soc_change",
             "land_cover_degradation", "land_cover", "so3_hazard", "spi", "spei", "aridity_zones",
             "aridity_shift", "aridity_index", "esa", "sand")
#: Maps shown on a profile page: the latest map of each of these prefixes.
PROFILE_MAPS = ("sdg_15_3_1", "land_cover_degradation", "so3_hazard", "aridity_zones")
#: Tables drawn through time (stacked class shares).
SERIES_TABLES = ("so3_1_hazard_areas", "so1_1_land_cover_areas")
#: Metrics shown as columns of the country table (the others appear in the headline figures only).
TABLE_METRICS = ("sdg_degraded_pct", "sdg_change_pp", "lc_degraded_pct", "drought_pct", "exposed_population",
                 "drylands_km2", "drier_pct")
#: Metrics of the sub-region table (each with the median over the sub-region's countries beside it).
SUBREGION_METRICS = ("sdg_degraded_pct", "sdg_change_pp", "drought_pct", "drylands_pct")
#: Padding around a profile's region on its maps, as a share of the region's extent.
PROFILE_MAP_PAD = 0.15
#: Suffix of a map name that names its period, year or block (maps of one series differ only by it).
MAP_SERIES_SUFFIX = re.compile(r"_(baseline|reporting_\d+|\d{4}(_\d{4})?)$")
#: Map name prefix -> the spec inputs a map is computed from (its caption names their sources).
MAP_INPUTS = (("sdg_", ("ndvi", "land_cover", "soc")), ("lpd_", ("ndvi",)), ("soc_", ("soc", "land_cover")),
              ("land_cover", ("land_cover",)), ("so3_", ("precipitation",)), ("spi", ("precipitation",)),
              ("spei", ("precipitation", "pet", "tmin", "tmax")), ("aridity", ("precipitation", "pet", "tmin", "tmax")),
              ("esa", ("ndvi", "precipitation", "pet", "sand", "silt", "clay", "slope", "land_cover")),
              ("medalus", ("ndvi", "precipitation", "pet", "sand", "silt", "clay", "slope", "land_cover")),
              ("sand", ("wind_speed", "wind_direction", "ndvi")), ("dp_", ("wind_speed", "wind_direction")))
#: An intervention's relative effect (%) is shown only over a pre-period mean outcome at least this large
#: (NDVI below 0.1 is bare ground: a percentage of it says nothing).
MIN_RELATIVE_BASELINE = 0.1
#: Fewer post-start years than this: the effect is flagged as early.
MIN_POST_YEARS = 3
#: Practices listed per profile page (the best ranked); the full list is the site's appendix (practices.html).
PROFILE_PRACTICES = 5
#: Figures drawn at the same time (processes; the figures are independent). None: the machine's cores.
FIGURE_WORKERS: int | None = None
#: Report language -> gettext locale of pycountry's ISO 3166 translations.
LOCALES = {"zh": "zh_CN"}
#: Unsafe characters in a region id used as a file name.
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def region_slug(region_id: str) -> str:
    """File-name-safe form of a region id: ISO3 codes stay as they are; other ids get a checksum suffix."""
    s = _UNSAFE.sub("-", str(region_id)).strip("-")[:40]
    if s == str(region_id) and s:
        return s
    return f"{s or 'region'}-{zlib.crc32(str(region_id).encode('utf-8')):08x}"


def matplotlib_style():
    """The report's matplotlib fonts (CJK glyph fallback) for figures drawn by other modules."""
    import matplotlib

    rf._register_fonts()
    return matplotlib.rc_context({"font.family": rf._font_family(), "text.parse_math": False})


def user_text(value) -> Markup:
    """User-provided text (run, region and file names) inside a sentence: escaped, marked ``translate="no"``
    and isolated for bidirectional display (``<bdi>``: a right-to-left name, or a U+202E override in it,
    cannot reorder the sentence around it)."""
    return Markup('<bdi translate="no">{}</bdi>').format(value)


class Counter:
    """Figure and table numbers within one rendered document."""

    def __init__(self):
        self.n = {}

    def next(self, kind: str = "figure") -> int:
        self.n[kind] = self.n.get(kind, 0) + 1
        return self.n[kind]


@dataclass
class Fig:
    file: str  # path relative to the report folder
    title: str
    caption: str = ""
    svg: str = ""  # the SVG version (path relative to the report folder), for maps of the synthesis


def _draw(job) -> None:
    """Run one figure job: (function, positional arguments, keyword arguments)."""
    fn, args, kw = job
    fn(*args, **kw)


def render_figures(jobs: list, say: Callable[[str], None], workers: int | None = None) -> None:
    """Draw the figure jobs, in parallel processes when there are several cores (matplotlib is not
    thread-safe); ``say`` gets a progress message every tenth of the way."""
    n = len(jobs)
    if not n:
        return
    workers = workers or FIGURE_WORKERS or os.cpu_count() or 1
    step = max(1, n // 10)
    if workers <= 1 or n == 1:
        for i, job in enumerate(jobs, 1):
            _draw(job)
            if i % step == 0 or i == n:
                say(f"figures {i}/{n}")
        return
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    with ProcessPoolExecutor(max_workers=min(workers, n), mp_context=ctx) as pool:
        for i, _ in enumerate(pool.map(_draw, jobs, chunksize=max(1, n // (8 * workers))), 1):
            if i % step == 0 or i == n:
                say(f"figures {i}/{n}")


def _draw_sand_rose(by_dir, summary, png: Path, *, title: str, synthetic: bool, texts: dict | None = None) -> None:
    from dldd.report.figures_sand import sand_rose_from_drift

    with matplotlib_style():
        fig = sand_rose_from_drift(by_dir, summary, title=title, synthetic=synthetic, texts=texts)
        rf.save_figure(fig, png)


@functools.lru_cache(maxsize=1)
def _practice_catalogue() -> dict:
    from dldd.practices.loader import load_catalogue

    return {p.id: p for p in load_catalogue()}


@functools.lru_cache(maxsize=None)
def _country_translation(lang: str):
    import gettext

    import pycountry

    return gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[LOCALES.get(lang, lang)], fallback=True)


def country_name(region_id: str, lang: str) -> str | None:
    """The ISO 3166-1 name of the country ``region_id`` (alpha-3) in ``lang`` (pycountry's gettext catalogues);
    None when the id is no ISO code or the language is English (the run's own name is kept then)."""
    if lang == DEFAULT_LANG or not re.fullmatch(r"[A-Z]{3}", region_id):
        return None
    import pycountry

    c = pycountry.countries.get(alpha_3=region_id)
    if c is None:
        return None
    tr = _country_translation(lang)
    name = tr.gettext(c.name)
    return name if name != c.name else None


# --- geometry ----------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=2)
def _boundaries_world(manifest_json: str):
    from dldd.regions.boundaries import run_countries

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_countries(json.loads(manifest_json))


def _world(run: rd.Run | None = None):
    """Country id -> lon/lat outline of the run's boundaries (its boundary file and merges; Natural Earth
    without), :func:`dldd.regions.boundaries.run_countries`."""
    m = run.manifest if run is not None else {}
    key = {"spec": {"regions": {k: ((m.get("spec") or {}).get("regions") or {}).get(k) for k in ("boundaries", "merge")}},
           "spec_base_dir": m.get("spec_base_dir"), "boundaries": m.get("boundaries")}
    return _boundaries_world(json.dumps(key, sort_keys=True, default=str))


def region_geometries(run: rd.Run) -> dict[str, object]:
    """Region id -> lon/lat outline: countries from the run's boundaries (:func:`_world`), zones from the
    spec's zone files (regions whose outline cannot be found are drawn without one)."""
    out = {}
    world = _world(run)
    spec = run.manifest.get("spec", {}) or {}
    base = Path(run.manifest.get("spec_base_dir") or run.path)
    zones = {z.get("name"): z for z in (spec.get("regions", {}) or {}).get("zones", []) or []}
    for r in run.regions:
        rid = str(r["id"])
        if rid in world:
            out[rid] = world[rid]
        elif rid in zones:
            try:
                from dldd.regions.polygons import read_polygon

                p = Path(zones[rid]["path"])
                out[rid] = read_polygon(p if p.is_absolute() else base / p, f"zone {rid}", layer=zones[rid].get("layer"))
            except Exception:  # noqa: BLE001 - a missing zone file only loses the outline
                continue
    return out


# --- the builder ---------------------------------------------------------------------------------------------------
class RunShared:
    """What the reports of one run share whatever their language, computed once for all languages of a
    build: the headline metrics, the region outlines, each map's path, tags and bounds, the class colours,
    the build's date, and (filled as the builders ask) the map views, the per-region class rows and the
    knowledge-base data of the profiles. The builders only read what it holds (figure jobs share the views)."""

    def __init__(self, run: rd.Run):
        self.run = run
        self.metrics = rd.compute_metrics(run)
        self.geoms = region_geometries(run)
        self.colors = rf.class_colors(rf.legends(run.contracts).values())  # class colours of the declared legends
        self.tags = {}
        for name, rel in run.maps.items():
            p = run.path / rel
            if p.is_file():
                with rasterio.open(p) as src:
                    self.tags[name] = (p, src.tags(), tuple(src.bounds))
        self.views: dict = {}  # (bounds, focus region id) -> _Builder.map_view
        self.class_rows: dict = {}  # (table, period) -> region id -> class rows (_Builder.class_tables)
        self.knowledge: dict | None = None  # the knowledge-base part of the profiles (_Builder.pages)
        self.date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")  # of this build


class _Builder:
    def __init__(self, run: rd.Run, lang: str, out: Path, say: Callable[[str], None] = lambda msg: None,
                 shared: RunShared | None = None):
        shared = shared if shared is not None else RunShared(run)
        self.run = run
        self.say = say
        self.jobs: list = []  # figures to draw: (function, positional arguments, keyword arguments)
        self.pdf_images: dict[str, str] = {}  # figure -> the version the PDF shows (SVG of a chart: vectors)
        self.lang = lang
        self.msgs = Catalogue(lang)
        self.out = out
        self.shared = shared
        self.metrics = shared.metrics
        self.by_key = {m.key: m for m in self.metrics}
        self.geoms = shared.geoms
        self._names = {str(r["id"]): str(r["name"]) for r in run.regions}
        self.synth = self.msgs.plain("synthetic_figure") if run.synthetic else None
        self.colors = shared.colors
        self._class_rows = shared.class_rows  # (table, period) -> region id -> class rows (class_tables)
        self.tags = shared.tags

    # labels and numbers ---------------------------------------------------------------------------------------
    def when_label(self, when) -> str:
        if when is None:
            return ""
        return self.msgs.label("period", str(when))

    def unit(self, kind: str) -> str:
        return self.msgs.plain(f"unit.{kind}", "")

    def qty(self, value, kind: str) -> str:
        if kind == "pp":
            return format_value(value, kind, unit=self.unit("pp"), signed=True)
        return format_value(value, kind, unit=self.unit(kind))

    def qty_signed(self, value, kind: str) -> str | None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return format_value(value, kind, unit=self.unit(kind), signed=True)

    def class_label(self, name: str) -> str:
        return self.msgs.label("classes", name)

    def map_sources(self, name: str) -> str:
        """The data sources of a map: the spec inputs it is computed from (:data:`MAP_INPUTS` by name, else the
        inputs its stage reads as ``contracts.json`` records them; never every input of the spec), by product or
        file name."""
        spec_inputs = (self.run.manifest.get("spec") or {}).get("inputs") or {}
        stage = ((self.run.contracts.get("maps") or {}).get(name) or {}).get("stage")
        read = ((self.run.contracts.get("stages") or {}).get(stage) or {}).get("inputs")  # what its stage read
        names = next((ins for p, ins in MAP_INPUTS if name.startswith(p)), tuple(read or ()))
        out = []
        for n in names:
            si = spec_inputs.get(n)
            if not si:
                continue
            src = si.get("product") or Path(str(si.get("path") or n)).name
            out.append(f"{n}: {src}")
        return "; ".join(out) or self.msgs.plain("unknown_source")

    def map_period(self, name: str) -> str:
        """The period of a map in years, from its name's suffix and the spec's periods."""
        m = MAP_SERIES_SUFFIX.search(name)
        periods = (self.run.manifest.get("spec") or {}).get("periods") or {}
        if not m:
            return ""
        key = m.group(1)
        if re.fullmatch(r"\d{4}_\d{4}", key):
            return key.replace("_", "–")
        if re.fullmatch(r"\d{4}", key):
            return key
        if key == "baseline" and isinstance(periods.get("baseline"), dict):
            b = periods["baseline"]
            return f"{b.get('start')}–{b.get('end')}"
        rp = (periods.get("reporting") or {}).get(key)
        if isinstance(rp, dict):
            parts = [f"{self.msgs.label('period_part', k)} {v.get('start')}–{v.get('end')}" for k, v in rp.items()
                     if isinstance(v, dict) and "start" in v]
            return ", ".join(parts)
        return self.when_label(key)

    def map_title(self, name: str) -> str:
        keys = sorted((k.split(".", 1)[1] for k in self.msgs.messages if k.startswith("map_title.")), key=len,
                      reverse=True)
        for k in keys:
            if name.startswith(k):
                rest = name[len(k):].strip("_")
                title = self.msgs.plain(f"map_title.{k}")
                if rest:
                    if re.fullmatch(r"\d{4}_\d{4}", rest):
                        rest = rest.replace("_", "–")
                    title = f"{title}, {self.when_label(rest)}"
                return title
        return self.tags.get(name, (None, {}))[1].get("long_name", name)

    # content ---------------------------------------------------------------------------------------------------
    def headline(self, ids) -> list[Markup]:
        out = []
        for m in self.metrics:
            v = m.value(ids)
            if v is None:
                continue
            out.append(self.msgs.t(f"headline.{m.key}", when=self.when_label(m.when), value=self.qty(v, m.kind)))
            if m.key == "drought_pct":
                dist = self.class_distribution("so3_1_hazard_blocks", ids, m.when)
                if dist:
                    out.append(self.msgs.t("headline.drought_distribution", when=self.when_label(m.when), classes=dist))
        return out

    def class_distribution(self, table: str, ids, when) -> str:
        """Area shares of every class of ``table`` over the regions ``ids`` in ``when`` ("class 12.3 %, ...")."""
        t = self.run.tables.get(table)
        if t is None or "class" not in t or "area_km2" not in t:
            return ""
        sel = rd.at(t, when)
        sel = sel[sel["region"].astype(str).isin([str(i) for i in ids])]
        total = float(sel["area_km2"].sum())
        if total <= 0:
            return ""
        by_class = sel.groupby("class", sort=False)["area_km2"].sum()
        return ", ".join(f"{self.class_label(str(c))} {self.qty(100.0 * a / total, 'pct')}" for c, a in by_class.items())

    def country_table(self) -> dict:
        regions, rank_key = rd.rank_regions(self.run.regions, self.metrics)
        cols = [(m.key, self.msgs.plain(f"metric.{m.key}"), m.kind, self.when_label(m.when)) for m in self.metrics
                if m.key in TABLE_METRICS]
        rows = []
        for i, r in enumerate(regions, 1):
            vals = [format_value(self.by_key[k].value([str(r["id"])]), kind) for k, _, kind, _ in cols]
            rows.append({"rank": i, "name": self.region_name(r["id"]), "subregion": self.subregion_name(r.get("subregion") or ""),
                         "area": format_value(r.get("area_km2"), "area_km2"), "values": vals,
                         "href": f"region-{region_slug(r['id'])}.html"})
        heads = []
        for k, label, kind, when in cols:
            u = self.unit("pp_short") if kind == "pp" else self.unit(kind)
            heads.append(f"{label}" + (f", {when}" if when else "") + (f" ({u})" if u else ""))
        intro = (self.msgs.t("country_table_intro", metric=self.msgs.plain(f"metric.{rank_key}"),
                             when=self.when_label(self.by_key[rank_key].when))
                 if rank_key else self.msgs.t("country_table_intro_unranked"))
        csv_rows = [{"rank": i, "region": str(r["id"]), "name": str(r["name"]), "subregion": r.get("subregion") or "",
                     "area_km2": round_value(r.get("area_km2"), "area_km2"),
                     **{k: (round_value(self.by_key[k].value([str(r["id"])]), kind)
                            if self.by_key[k].value([str(r["id"])]) is not None else None) for k, _, kind, _ in cols}}
                    for i, r in enumerate(regions, 1)]
        return {"heads": heads, "rows": rows, "intro": intro, "area_unit": self.unit("area_km2"),
                "records": csv_rows, "csv": "tables/country_table.csv"}

    def region_value(self, key: str, ids) -> float | None:
        m = self.by_key.get(key)
        return None if m is None else m.value([str(i) for i in ids])

    def subregion_table(self) -> dict | None:
        """Per sub-region: the area-weighted figures with, beside them, the median over its countries (a large
        country dominates an area-weighted share), as shown and as CSV (``tables/subregions.csv``)."""
        groups = rd.subregion_groups(self.run.regions)
        if not groups:
            return None
        cols = [k for k in SUBREGION_METRICS if k in self.by_key]
        rows, records = [], []
        for sub, ids in groups.items():
            vals, rec = [], {"subregion": sub, "n_regions": len(ids)}
            for k in cols:
                v = self.region_value(k, ids)
                per = [x for x in (self.region_value(k, [i]) for i in ids) if x is not None]
                med = float(statistics.median(per)) if per else None
                kind = self.by_key[k].kind
                vals += [format_value(v, kind), format_value(med, kind)]
                rec[k] = round_value(v, kind) if v is not None else None
                rec[f"{k}_country_median"] = round_value(med, kind) if med is not None else None
            rows.append({"name": self.subregion_name(sub), "n": len(ids), "values": vals})
            records.append(rec)
        heads = []
        for k in cols:
            m = self.by_key[k]
            u = self.unit("pp_short") if m.kind == "pp" else self.unit(m.kind)
            label = self.msgs.plain(f"metric.{k}") + (f", {self.when_label(m.when)}" if m.when is not None else "")
            heads += [f"{label} ({u})", self.msgs.plain("table.country_median") + f" ({u})"]
        return {"heads": heads, "rows": rows, "records": records, "csv": "tables/subregions.csv"}

    def key_messages(self, subregions: dict | None) -> list[Markup]:
        """Five to eight sentences from the numbers, each linked to the table it comes from."""
        all_ids = [str(r["id"]) for r in self.run.regions]
        out = []

        def add(key, anchor, **kw):
            out.append(Markup('{} <a href="#{}">{}</a>').format(self.msgs.t(f"key.{key}", **kw), anchor,
                                                                 self.msgs.plain("key.see")))

        def per_region(key):
            vals = [(self.region_value(key, [i]), i) for i in all_ids]
            return [(v, i) for v, i in vals if v is not None]

        deg, chg = self.by_key.get("sdg_degraded_pct"), self.by_key.get("sdg_change_pp")
        if deg is not None and deg.value(all_ids) is not None:
            add("degraded", "country-table", value=self.qty(deg.value(all_ids), "pct"), when=self.when_label(deg.when),
                change=self.qty(chg.value(all_ids), "pp") if chg is not None and chg.value(all_ids) is not None else "–")
            vals = per_region("sdg_degraded_pct")
            if vals:
                v, i = max(vals)
                add("hotspot", "country-table", name=self.region_name(i), value=self.qty(v, "pct"), n=len(vals))
        if chg is not None:
            vals = per_region("sdg_change_pp")
            if vals and min(vals)[0] < 0:
                v, i = min(vals)
                add("brightspot", "country-table", name=self.region_name(i), value=self.qty(v, "pp"))
        if subregions and deg is not None:
            recs = [r for r in subregions["records"] if r.get("sdg_degraded_pct") is not None]
            if recs:
                top = max(recs, key=lambda r: r["sdg_degraded_pct"])
                add("subregion", "subregion-table", name=self.subregion_name(top["subregion"]),
                    value=self.qty(top["sdg_degraded_pct"], "pct"),
                    median=self.qty(top.get("sdg_degraded_pct_country_median"), "pct"))
        dr = self.by_key.get("drought_pct")
        if dr is not None and dr.value(all_ids) is not None:
            expo = self.by_key.get("exposed_population")
            add("drought", "headline", value=self.qty(dr.value(all_ids), "pct"), when=self.when_label(dr.when),
                people=self.qty(expo.value(all_ids), "population") if expo is not None and expo.value(all_ids) is not None else "–")
        dl = self.by_key.get("drylands_pct")
        if dl is not None and dl.value(all_ids) is not None:
            add("drylands", "headline", value=self.qty(dl.value(all_ids), "pct"), when=self.when_label(dl.when))
        lc = self.by_key.get("lc_degraded_pct")
        if lc is not None and lc.value(all_ids) is not None:
            add("land_cover", "country-table", value=self.qty(lc.value(all_ids), "pct"), when=self.when_label(lc.when))
        return out[:8]

    def run_identity(self) -> dict:
        """The run's name, the SHA-256 of its manifest and the date of this build (UTC)."""
        import hashlib

        mf = self.run.path / "manifest.json"
        digest = hashlib.sha256(mf.read_bytes()).hexdigest() if mf.is_file() else ""
        return {"spec": user_text((self.run.manifest.get("spec") or {}).get("name") or self.run.summary.get("name", "")),
                "manifest_sha256": digest,
                "date": self.shared.date}

    def _ordered_maps(self) -> list[str]:
        """The maps of the synthesis page: the latest map of each series (per period or year), ordered."""
        latest = {}
        for n in self.tags:
            latest[MAP_SERIES_SUFFIX.sub("", n)] = n
        names = list(latest.values())

        def order(n):
            for i, p in enumerate(MAP_ORDER):
                if n.startswith(p):
                    return i
            return len(MAP_ORDER)

        return sorted(names, key=lambda n: (order(n), names.index(n)))

    def map_view(self, bounds, focus_id: str | None = None) -> dict | None:
        """What a map of ``bounds`` (left, bottom, right, top) shows: the extent (a profile's region with a
        margin, or None for the whole raster), the focus region, the assessed outlines and the context
        countries in view. None when the focus region has no outline or lies off the raster. Computed once
        per build for all languages (:class:`RunShared`)."""
        key = (tuple(bounds), focus_id)
        if key not in self.shared.views:
            self.shared.views[key] = self._map_view(bounds, focus_id)
        return self.shared.views[key]

    def _map_view(self, bounds, focus_id: str | None) -> dict | None:
        left, bottom, right, top = bounds
        extent, focus = None, []
        if focus_id is not None:
            g = self.geoms.get(focus_id)
            if g is None:
                return None
            gx0, gy0, gx1, gy1 = g.bounds
            if gx1 < left or gx0 > right or gy1 < bottom or gy0 > top:
                return None
            px, py = (gx1 - gx0) * PROFILE_MAP_PAD + 0.1, (gy1 - gy0) * PROFILE_MAP_PAD + 0.1
            extent = (max(left, gx0 - px), min(right, gx1 + px), max(bottom, gy0 - py), min(top, gy1 + py))
            focus = [g]
        view = extent or (left, right, bottom, top)
        box = shapely.box(view[0], view[2], view[1], view[3])
        # outlines simplified to a tenth of a panel pixel: lighter to send to the drawing processes and to draw
        tol = max(view[1] - view[0], view[3] - view[2]) / (10.0 * rf.MAX_PANEL_PIXELS) if focus_id else 0.0

        def lighter(geoms):
            return [shapely.simplify(g, tol, preserve_topology=True) if tol else g for g in geoms]

        context = lighter(g for rid, g in _world(self.run).items() if rid not in self.geoms and g.intersects(box))
        outlines = lighter(g for rid, g in self.geoms.items() if rid != focus_id and g.intersects(box))
        return {"extent": extent, "focus": lighter(focus), "context": context, "outlines": outlines}

    def map_layer(self, name: str) -> rf.MapLayer:
        path, tags, _ = self.tags[name]
        legend = rf.legend_for_map(name, tags, self.run.contracts)
        units = tags.get("units", "")
        return rf.MapLayer(path, self.map_title(name), legend,
                           {c.name: self.class_label(c.name) for c in (legend.classes if legend else ())},
                           "" if units in ("", "1") else units, legend is None and rf.is_change_map(name))

    def map_caption(self, name: str, title: str) -> str:
        period = self.map_period(name)
        return self.msgs.plain("map_caption", title=title, sources=self.map_sources(name),
                               period=period or self.msgs.plain("no_period"),
                               boundaries=self.boundaries_text()) + " " + self.msgs.plain("map_disclaimer")

    def code_name(self, code: str) -> str:
        """A country's name in the report's language, also for a code that is no region of the run (a merged
        territory): the run's name, ISO 3166's (translated), else the code."""
        if code in self._names:
            return self.region_name(code)
        import pycountry

        c = pycountry.countries.get(alpha_3=code) if re.fullmatch(r"[A-Z]{3}", code) else None
        return country_name(code, self.lang) or (getattr(c, "common_name", None) or c.name if c else code)

    def boundaries_text(self) -> str:
        """The run's country boundaries (Natural Earth or the spec's boundary file) and the territories merged
        into a country, for the map captions and the methods."""
        from dldd.regions.boundaries import boundaries_of_spec

        b = boundaries_of_spec((self.run.manifest.get("spec") or {}).get("regions") or {})
        merges = "; ".join(self.msgs.plain("boundaries_merge_item", target=self.code_name(t),
                                           parts=", ".join(self.code_name(p) for p in parts))
                           for t, parts in b.merge.items())
        return b.source + (self.msgs.plain("boundaries_merged", merges=merges) if merges else "")

    def boundary_note(self, note: str) -> str:
        """A note of the boundary file's reading (English in the manifest) in the report's language."""
        from dldd.regions.boundaries import note_parts

        parts = note_parts(str(note))
        if parts is None:
            return str(note)
        kind, fields = parts
        return self.msgs.plain(f"boundary_note.{kind}", **{**fields, "code": self.code_name(fields["code"])})

    def boundaries_method(self) -> dict:
        """The methods' entry on the boundaries: which, which merges, the repairs noted when reading the file."""
        rec = self.run.manifest.get("boundaries") or {}
        return {"id": "method-boundaries", "title": self.msgs.plain("family.boundaries"),
                "text": self.msgs.t("method_text.boundaries", boundaries=self.boundaries_text()), "maps": [],
                "notes": [self.msgs.t("method_note_boundary_repair", note=self.boundary_note(n)) for n in rec.get("notes") or []],
                "params": json.dumps(rec, indent=1, ensure_ascii=False) if rec.get("path") else ""}

    def draw_map(self, name: str, png: str) -> Fig | None:
        """A map of the synthesis: 300 dpi PNG and SVG of the whole raster."""
        view = self.map_view(self.tags[name][2])
        layer = self.map_layer(name)
        self.jobs.append((rf.draw_map, (layer.tif, self.out / png), dict(
            title=layer.title, legend=layer.legend, class_labels=layer.class_labels,
            scale_label=self.msgs.plain("scale_bar", km="{km}"), nodata_label=self.msgs.plain("no_data"),
            units_label=layer.units_label, diverging=layer.diverging, **view,
            note=self.msgs.plain("map_disclaimer"), synthetic_label=self.synth, dpi=rf.DPI, svg=True)))
        return Fig(png, layer.title, self.map_caption(name, layer.title), svg=png[:-4] + ".svg")

    def index_maps(self) -> list[Fig]:
        figs = []
        for name in self._ordered_maps():
            f = self.draw_map(name, f"figures/map-{name}.png")
            if f:
                figs.append(f)
        return figs

    def profile_maps(self, rid: str, slug: str) -> list[Fig]:
        """The region's maps (latest of each :data:`PROFILE_MAPS` prefix) as one figure of small multiples."""
        names = []
        for prefix in PROFILE_MAPS:
            found = [n for n in self.tags if n.startswith(prefix)]
            if found:
                names.append(found[-1])
        if not names:
            return []
        view = self.map_view(self.tags[names[0]][2], focus_id=rid)
        if view is None:
            return []
        layers = [self.map_layer(n) for n in names]
        png = f"figures/{slug}-maps.png"
        self.jobs.append((rf.draw_map_panels, (self.out / png,), dict(
            layers=layers, scale_label=self.msgs.plain("scale_bar", km="{km}"),
            nodata_label=self.msgs.plain("no_data"), **view, note=self.msgs.plain("map_disclaimer"),
            synthetic_label=self.synth)))
        title = self.msgs.plain("profile_maps_title", name=self.region_name(rid))
        layers_text = "; ".join(self.msgs.plain("map_layer_source", title=layer.title, sources=self.map_sources(n),
                                                period=self.map_period(n) or self.msgs.plain("no_period"))
                                for n, layer in zip(names, layers))
        return [Fig(png, title, f"{title}. {layers_text}. {self.msgs.plain('map_note', boundaries=self.boundaries_text())} "
                                f"{self.msgs.plain('map_disclaimer')}")]

    def table_name(self, t: str) -> str:
        return self.msgs.plain(f"table_name.{t}", t.replace("_", " "))

    def index_charts(self) -> list[Fig]:
        figs = []
        rows = [(str(r["id"]), self.region_name(r["id"])) for r in rd.rank_regions(self.run.regions, self.metrics)[0]]
        for t in self.run.share_tables():
            tab = self.run.tables.get(t)
            share = rd.share_column(tab) if tab is not None and len(tab) else None
            if share is None:
                continue
            ps = rd.periods(tab)
            when = ps[-1] if ps else None
            title = self.msgs.plain("chart.classes_by_region", table=self.table_name(t), when=self.when_label(when))
            sel = rd.at(tab, when)
            parts = math.ceil(len(rows) / rf.MAX_BAR_ROWS) or 1
            size = math.ceil(len(rows) / parts) or 1
            for k in range(parts):
                part_rows = rows[k * size:(k + 1) * size]
                png = f"figures/chart-{t}.png" if parts == 1 else f"figures/chart-{t}-{k + 1}.png"
                part_title = title if parts == 1 else f"{title} ({k + 1}/{parts})"
                self.jobs.append((rf.draw_share_bars, (sel, self.out / png), dict(
                    rows=part_rows, title=part_title, share_column=share,
                    xlabel=self.msgs.plain("share_axis_land" if share == "share_of_land_pct" else "share_axis"),
                    class_labels={c: self.class_label(c) for c in sel["class"].astype(str).unique()},
                    synthetic_label=self.synth, colors=self.colors, svg=True, dpi=rf.CHART_SCREEN_DPI)))
                svg = png[:-4] + ".svg"
                self.pdf_images[png] = svg  # bars and words only: the PDF prints them as vectors
                figs.append(Fig(png, part_title, svg=svg))
        figs += self.series([str(r["id"]) for r in self.run.regions], "all")
        rose = self.sand_rose()
        if rose:
            figs.append(rose)
        return figs

    def sand_rose(self) -> Fig | None:
        """Sand rose of the scene from ``sand_drift_by_direction`` (area-weighted mean DP per sector, VU) and
        its resultant (RDP, RDD, RDP/DP) as the sand stage wrote it in ``sand_drift_resultant``."""
        t = self.run.tables.get("sand_drift_by_direction")
        r = self.run.tables.get("sand_drift_resultant")
        if t is None or r is None or not len(t) or not len(r) or not {"direction", "dp_vu"} <= set(t.columns):
            return None
        import xarray as xr

        row = r.iloc[0]
        summary = xr.Dataset({k: float(row[c]) for k, c in (("dp", "dp_vu"), ("rdp", "rdp_vu"), ("rdd", "rdd_deg"),
                                                              ("rdp_dp", "rdp_dp"))})
        by_dir = xr.DataArray(t["dp_vu"].to_numpy(dtype=float), dims=("direction",),
                              coords={"direction": t["direction"].to_numpy(dtype=float)})
        title = self.msgs.plain("chart.sand_rose")
        png = "figures/chart-sand-rose.png"
        self.jobs.append((_draw_sand_rose, (by_dir, summary, self.out / png),
                          dict(title=title, synthetic=self.run.synthetic, texts=self.msgs.group("sand_rose"))))
        return Fig(png, title, self.msgs.plain("sand_rose_caption", title=title))

    def method_notes(self, family: str) -> list[Markup]:
        """Notes under a method family read from the stage tables: negative sand-fixation service and its
        share of area, the drift resultant and coarse winds (sand); missing and constant scores (sensitivity)."""
        notes = []
        tab = self.run.tables.get
        if family == "sand" and tab("sand_drift_resultant") is not None and len(tab("sand_drift_resultant")):
            r = tab("sand_drift_resultant").iloc[0]
            notes.append(self.msgs.t("method_note.sand_resultant", dp=format_value(r["dp_vu"], "count"),
                                     dp_class=self.class_label(str(r["dp_class"])),
                                     rdp=format_value(r["rdp_vu"], "count"), rdd=format_value(r["rdd_deg"], "count"),
                                     ratio=format_value(r["rdp_dp"], "score"),
                                     ratio_class=self.class_label(str(r["rdp_dp_class"]))))
            if str(r.get("coarse_winds")) == "True":
                notes.append(self.msgs.t("method_note.sand_coarse_winds", step=format_value(r["wind_step_hours"], "count")))
        sf = tab("sand_fixation")
        if family == "sand" and sf is not None and len(sf) and "negative_service_area_km2" in sf:
            neg, with_data = float(sf["negative_service_area_km2"].sum()), float(sf["area_with_data_km2"].sum())
            kw = dict(n=str(sf["n_periods"].iloc[0]),
                      period=self.msgs.plain(f"method_note.rweq_{sf['rweq_period'].iloc[0]}", str(sf["rweq_period"].iloc[0])),
                      loss=self.msgs.plain(f"method_note.rweq_{sf['rweq_loss'].iloc[0]}", str(sf["rweq_loss"].iloc[0])))
            if neg > 0:
                notes.append(self.msgs.t("method_note.sand_negative", area=self.qty(neg, "area_km2"),
                                         share=self.qty(100.0 * neg / with_data if with_data else math.nan, "pct"), **kw))
            else:
                notes.append(self.msgs.t("method_note.sand_negative_none", **kw))
        corr = tab("sdg_15_3_1_corrections")
        if family == "sdg_15_3_1" and corr is not None and len(corr) and {"correction", "reason", "from", "to", "area_km2"} <= set(corr.columns):
            for (label, reason), g in corr.groupby(["correction", "reason"], sort=False, dropna=False):
                moved = "; ".join(f"{self.class_label(str(a))} → {self.class_label(str(b))} {self.qty(x, 'area_km2')}"
                                  for (a, b), x in g.groupby(["from", "to"], sort=False)["area_km2"].sum().items())
                notes.append(self.msgs.t("method_note.sdg_correction", correction=user_text(str(label)),
                                         reason=user_text(str(reason)), periods=", ".join(map(str, g["period"].unique())),
                                         moved=moved))
        layers = tab("sensitivity_layers")
        if family == "sensitivity" and layers is not None and len(layers):
            missing = layers[layers["status"] == "missing"]
            if len(missing):
                notes.append(self.msgs.t("method_note.sensitivity_missing", layers=", ".join(
                    f"{r['layer']} ({r['index']})" for _, r in missing.iterrows())))
            for _, r in layers[layers["constant"].astype(str) == "True"].iterrows():
                notes.append(self.msgs.t("method_note.sensitivity_constant", layer=str(r["layer"]), index=str(r["index"]),
                                         value=format_value(r["min_score"], "score")))
        return notes

    def series(self, ids, slug) -> list[Fig]:
        figs = []
        for t in SERIES_TABLES:
            tab = self.run.tables.get(t)
            if tab is None or not len(tab) or rd.time_column(tab) is None:
                continue
            if not tab["region"].astype(str).isin(ids).any():
                continue
            title = self.msgs.plain("chart.series", table=self.table_name(t))
            png = f"figures/{slug}-series-{t}.png"
            sub = tab[tab["region"].astype(str).isin(list(ids))]
            self.jobs.append((rf.draw_class_series, (sub, self.out / png), dict(
                region_ids=list(ids), time_col=rd.time_column(tab), title=title, ylabel=self.msgs.plain("share_axis"),
                class_labels={c: self.class_label(c) for c in sub["class"].astype(str).unique()},
                synthetic_label=self.synth, colors=self.colors)))
            figs.append(Fig(png, title))
        return figs

    def class_tables(self, rid: str) -> list[dict]:
        out = []
        for t in self.run.share_tables():
            tab = self.run.tables.get(t)
            share = rd.share_column(tab) if tab is not None else None
            if share is None:
                continue
            ps = rd.periods(tab)
            when = ps[-1] if ps else None
            if (t, when) not in self._class_rows:  # split once, not once per region
                self._class_rows[(t, when)] = rd.region_class_tables(tab, when)
            sub = self._class_rows[(t, when)].get(str(rid))
            if sub is None or not len(sub):
                continue
            rows = [{"class": self.class_label(str(r["class"])), "area": format_value(r["area_km2"], "area_km2"),
                     "share": format_value(r[share], "pct")} for _, r in sub.iterrows()]
            cap = self.table_name(t) + (f", {self.when_label(when)}" if when is not None else "")
            out.append({"caption": cap, "rows": rows, "csv": f"tables/{t}.csv"})
        return out

    def station_validation(self) -> dict | None:
        """The section "Station validation of the gridded inputs" from ``station_comparison`` (stage
        ``stations``): the rows pooled over all stations, and one sentence per variable."""
        t = self.run.tables.get("station_comparison")
        if t is None or not len(t):
            return None
        per_station = t[t["station"].astype(str) != "all"]
        rows, sentences = [], []
        for _, r in t[t["station"].astype(str) == "all"].iterrows():
            var, units = str(r["variable"]), "" if str(r["units"]) in ("1", "nan") else str(r["units"])
            kind = "index" if var == "spi" else "measure"
            n_stations = int((per_station.loc[per_station["variable"] == var, "n"] > 0).sum())
            label = self.msgs.plain(f"stations.variable.{var}", var)
            row = {"variable": label, "units": units, "stations": n_stations, "n": format_value(r["n"], "count"),
                   "bias": format_value(r["bias"], kind, signed=True), "bias_pct": format_value(r["bias_pct"], "pct", signed=True),
                   "rmse": format_value(r["rmse"], kind), "r": format_value(r["correlation"], "index"),
                   "agreement": format_value(r["class_agreement_pct"], "pct")}
            rows.append(row)
            key = ("sentence_none" if not r["n"] else "sentence_spi" if var == "spi"
                   else "sentence_relative" if not math.isnan(float(r["bias_pct"])) else "sentence")
            sentences.append(self.msgs.t(f"stations.{key}", variable=label, stations=n_stations, n=row["n"],
                                         bias=format_value(r["bias"], kind, unit=units, signed=True),
                                         pct=format_value(r["bias_pct"], "pct", unit="%", signed=True),
                                         rmse=format_value(r["rmse"], kind, unit=units), r=row["r"],
                                         agreement=format_value(r["class_agreement_pct"], "pct", unit="%")))
        n_all = int(per_station["station"].nunique())
        return {"intro": self.msgs.t("stations.intro", n=n_all), "rows": rows, "sentences": sentences,
                "csv": "tables/station_comparison.csv"}

    def interventions(self) -> list[dict]:
        """One entry per evaluated intervention (``effectiveness_summary``), with its event-study chart."""
        t = self.run.tables.get("effectiveness_summary")
        if t is None or not len(t) or "name" not in t:
            return []
        es = self.run.tables.get("effectiveness_event_study")
        out = []
        for _, r in t.iterrows():
            name = str(r["name"])
            slug = f"intervention-{region_slug(name)}"
            units = "" if str(r.get("units", "")) in ("", "1", "nan") else str(r.get("units"))

            def val(col, kind, signed=False):
                v = r.get(col)
                if v is None or (isinstance(v, float) and math.isnan(v)):
                    return None
                return format_value(v, kind, signed=signed)

            effect = val("effect", "index", signed=True)
            pre = _num(r.get("pre_mean_treated"))
            relative_ok = pre is not None and abs(pre) >= MIN_RELATIVE_BASELINE
            ci = (f"[{val('ci_low', 'index', True)}, {val('ci_high', 'index', True)}]"
                  if val("ci_low", "index") is not None else "")
            facts = []
            for key, text in (
                ("type", str(r.get("type", ""))),
                ("outcome", str(r.get("outcome", "")) + (f" ({units})" if units else "")),
                ("start_year", val("start_year", "year")),
                ("effect", f"{effect} {ci}".strip() if effect else None),
                ("effect_relative", self.qty_signed(r.get("effect_relative_pct"), "pct") if relative_ok else None),
                ("pre_mean", val("pre_mean_treated", "index")),
                ("naive_effect", val("naive_effect", "index", signed=True)),
                ("n_treated", val("n_treated", "count")),
                ("n_controls", val("n_controls", "count")),
                ("treated_area", val("treated_area_km2", "area_km2")),
                ("pretrend", self.pre_trend_text(r, val)),
                ("break_year", self.break_text(r, "break")),
                ("placebo", self.placebo_text(r, val)),
                ("confidence", self.qty(100.0 * float(r["confidence"]), "pct") if "confidence" in r
                 and not math.isnan(float(r["confidence"])) else None),
            ):
                if text not in (None, "", "nan"):
                    facts.append((self.msgs.plain(f"intervention.{key}"), text))
            figs = [f for f in (rc.intervention_map(self, r, slug, name),) if f is not None]
            if es is not None and "intervention" in es:
                sub = es[es["intervention"].astype(str) == name]
                if len(sub) and {"rel_year", "effect", "ci_low", "ci_high"} <= set(sub.columns):
                    png = f"figures/{slug}-event-study.png"
                    title = f'{self.msgs.plain("chart.event_study")}: {name}'
                    self.jobs.append((rf.draw_event_study, (sub, self.out / png), dict(title=title,
                                        xlabel=self.msgs.plain("intervention.rel_year"),
                                        ylabel=self.msgs.plain("intervention.effect") + (f" ({units})" if units else ""),
                                        effect_label=self.msgs.plain("intervention.effect"),
                                        ci_label=self.msgs.plain("intervention.ci", pct=f"{float(r.get('confidence', 0.95)) * 100:.0f}"),
                                        synthetic_label=self.synth)))
                    figs.append(Fig(png, title, self.msgs.plain("event_study_caption")))
            out.append({"slug": slug, "anchor": f"i-{region_slug(name)}", "name": name, "type": str(r.get("type", "")),
                        "start": val("start_year", "year") or "", "effect": effect or "", "ci": ci,
                        "relative": (val("effect_relative_pct", "pct", signed=True) or "") if relative_ok else "",
                        "facts": facts, "charts": figs, "sentence": self.effect_sentence(r, val),
                        "caveats": self.caveats(r, relative_ok), "balance": self.balance(name)})
        return out

    def break_text(self, r, label: str) -> str | None:
        """A dated break with its p-value, only when the test found it significant (else nothing)."""
        year, p, sig = _num(r.get(f"{label}_year")), _num(r.get(f"{label}_p_value")), r.get(f"{label}_significant")
        if year is None or p is None or str(sig).lower() not in ("true", "1", "1.0"):
            return None
        return self.msgs.plain("intervention.break_with_p", year=f"{int(year)}", p=f"{p:.3f}")

    def pre_trend_text(self, r, val) -> str | None:
        """Difference of the pre-period trends, treated minus matched controls, with its interval."""
        if _num(r.get("pre_trend_difference")) is None:
            return None
        low, high = val("pre_trend_ci_low", "index", signed=True), val("pre_trend_ci_high", "index", signed=True)
        ci = f" [{low}, {high}]" if low is not None and high is not None else ""
        return f'{val("pre_trend_difference", "index", signed=True)}{ci}'

    def placebo_text(self, r, val) -> str | None:
        """The placebo-in-time effect (the start moved into the pre-period) with its interval."""
        if _num(r.get("placebo_effect")) is None or _num(r.get("placebo_start_year")) is None:
            return None
        return self.msgs.plain("intervention.placebo_text", year=f"{int(r['placebo_start_year'])}",
                               effect=val("placebo_effect", "index", signed=True),
                               low=val("placebo_ci_low", "index", signed=True) or "–",
                               high=val("placebo_ci_high", "index", signed=True) or "–")

    def effect_sentence(self, r, val) -> str:
        """The result in one plain sentence with its uncertainty."""
        eff, lo, hi = _num(r.get("effect")), _num(r.get("ci_low")), _num(r.get("ci_high"))
        if eff is None:
            return ""
        conf = _num(r.get("confidence")) or 0.95
        kw = dict(outcome=str(r.get("outcome", "")), start=val("start_year", "year") or "",
                  effect=val("effect", "index", signed=True), low=val("ci_low", "index", signed=True) or "–",
                  high=val("ci_high", "index", signed=True) or "–", pct=f"{conf * 100:.0f}")
        if lo is not None and hi is not None and lo <= 0.0 <= hi:
            return self.msgs.plain("intervention.sentence_unclear", **kw)
        return self.msgs.plain("intervention.sentence_up" if eff > 0 else "intervention.sentence_down", **kw)

    def caveats(self, r, relative_ok: bool) -> list[str]:
        out = []
        n_post = _num(r.get("n_post_years"))
        if n_post is not None and n_post < MIN_POST_YEARS:
            out.append(self.msgs.plain("intervention.caveat_post_years", n=f"{int(n_post)}", min=MIN_POST_YEARS))
        if not relative_ok and _num(r.get("effect_relative_pct")) is not None:
            out.append(self.msgs.plain("intervention.caveat_low_baseline", min=f"{MIN_RELATIVE_BASELINE:g}"))
        if _num(r.get("break_p_value")) is not None and self.break_text(r, "break") is None:
            out.append(self.msgs.plain("intervention.caveat_break"))
        return out

    def balance(self, name: str) -> list[dict]:
        """The balance table of an intervention (``effectiveness_balance``): standardised mean differences
        of the matching variables before and after matching."""
        t = self.run.tables.get("effectiveness_balance")
        if t is None or "intervention" not in t or "smd_before" not in t:
            return []
        sub = t[t["intervention"].astype(str) == name]
        return [{"variable": str(b["variable"]), "before": format_value(b.get("smd_before"), "index", signed=True),
                 "after": format_value(b.get("smd_after"), "index", signed=True),
                 "ok": self.msgs.plain("yes" if str(b.get("balanced_after")).lower() in ("true", "1") else "no")}
                for _, b in sub.iterrows()]

    def practices(self, region_id: str | None = None) -> list[dict]:
        """Matched practices (``practices_matches``): region, rank, name, category, score (and reasons)."""
        t = self.run.tables.get("practices_matches")
        if t is None or not len(t) or "practice" not in t:
            return []
        if region_id is not None:
            t = t[t["region"].astype(str) == str(region_id)]
        if region_id is not None:
            t = t[t["rank"].astype(int) <= PROFILE_PRACTICES]
        show_reasons = self.msgs.plain("meta.practice_reasons", "no") == "yes"
        return [{"region": self.region_name(r["region"]), "rank": int(r["rank"]),
                 "name": self.practice_name(str(r["practice"]), str(r.get("name", r["practice"]))),
                 "category": self.msgs.label("category", str(r.get("category", ""))),
                 "score": format_value(r.get("score"), "score"),
                 "summary": self.reason_summary(str(r.get("reasons", ""))) + (
                     "" if show_reasons else rc.best_fit_in_language(self, r.get("reason_parts", ""))),
                 "reasons": str(r.get("reasons", "")) if show_reasons
                 else rc.reasons_in_language(self, r.get("reason_parts", ""))} for _, r in t.iterrows()]

    def practice_name(self, practice_id: str, default: str) -> str:
        """The practice's name in the report's language, from the shipped catalogue (``names.<lang>``)."""
        p = _practice_catalogue().get(practice_id)
        name = getattr(p.names, self.lang, None) if p is not None and self.lang != DEFAULT_LANG else None
        return str(name) if name else default

    def reason_summary(self, reasons: str) -> str:
        """One line on why a practice was matched: how many conditions fit, fit partly or not, and which fit."""
        parts = [x.strip() for x in reasons.split("; ") if x.strip()]
        verdicts = [x.split(":", 1)[0] for x in parts]
        fits = [x.split(":", 1)[1].strip() for x in parts if x.startswith("fit:")]
        line = self.msgs.plain("practice_reason", fit=verdicts.count("fit"), partial=verdicts.count("partial"),
                               misfit=verdicts.count("misfit"), unknown=verdicts.count("unknown"))
        if fits and self.msgs.plain("meta.practice_reasons", "no") == "yes":
            line += f" {self.msgs.plain('practice_reason_first')}: {fits[0]}"
        return line

    def region_name(self, region_id) -> str:
        """A region's name in the report's language: countries by ISO 3166 (pycountry's translations), other
        regions as the spec names them."""
        rid = str(region_id)
        given = self._names.get(rid, rid)
        return country_name(rid, self.lang) or given

    def subregion_name(self, name: str) -> str:
        return self.msgs.label("subregion", name) if name else name

    def methods(self) -> list[dict]:
        fams: dict[str, dict] = {}
        stages = list(self.run.manifest.get("stages", [])) or [k for k in self.run.summary if isinstance(self.run.summary[k], dict)]
        for s in stages:
            fam = s if self.msgs.has(f"family.{s}") else "other"
            fams.setdefault(fam, {"maps": [], "params": {}})
            if isinstance(self.run.summary.get(s), dict):
                fams[fam]["params"][s] = self.run.summary[s]
        for name, (_, tags, _) in self.tags.items():
            fam = self.run.family_of_map(name)
            fams.setdefault(fam, {"maps": [], "params": {}})
            fams[fam]["maps"].append({"name": name, "parameters": tags.get("parameters", ""),
                                      "references": tags.get("references", "")})
        out = []
        for fam, d in fams.items():
            out.append({"id": f"method-{fam}", "title": self.msgs.plain(f"family.{fam}"),
                        "text": self.msgs.t(f"method_text.{fam}"), "maps": d["maps"], "notes": self.method_notes(fam),
                        "params": json.dumps(d["params"], indent=1, ensure_ascii=False) if d["params"] else ""})
        out.append(self.boundaries_method())
        return out

    def data(self) -> dict:
        m = self.run.manifest
        inputs = []
        base = str(m.get("spec_base_dir") or "")
        spec_inputs = ((m.get("spec") or {}).get("inputs") or {})
        for name, entry in (m.get("inputs") or {}).items():
            si = spec_inputs.get(name) or {}
            source = {"variable": si.get("variable") or "", "units": si.get("units") or "",
                      "product": si.get("product") or ""}
            if isinstance(entry, dict):
                inputs.append({"name": name, "file": self.msgs.plain("product", product=entry.get("product")),
                               "sha256": "", "bytes": "", **source})
                continue
            for f in entry:
                p = str(f.get("path", ""))
                if base and p.startswith(base):
                    p = p[len(base):].lstrip("/")
                inputs.append({"name": name, "file": p, "sha256": f.get("sha256") or "",
                               "bytes": format_value(f.get("bytes"), "count") if f.get("bytes") is not None else "",
                               **source})
        return {"inputs": inputs, "versions": sorted((m.get("versions") or {}).items()),
                "timings": list((m.get("timings_s") or {}).items()), "dldd_version": m.get("dldd_version", __version__)}

    # pages --------------------------------------------------------------------------------------------------------
    def pages(self) -> tuple[dict, list[dict]]:
        regions = self.run.regions
        all_ids = [str(r["id"]) for r in regions]
        total = self.run.summary.get("regions_area_km2",  # the union: overlapping zones counted once
                                     sum(float(r.get("area_km2") or 0.0) for r in regions))
        headline = [(self.msgs.plain("whole_area"), self.headline(all_ids))]
        groups = rd.subregion_groups(regions)
        if not (len(groups) == 1 and len(next(iter(groups.values()))) == len(regions)):  # else: same as the whole
            for sub, ids in groups.items():
                headline.append((self.subregion_name(sub), self.headline(ids)))
        subregions = self.subregion_table() if regions else None
        index = {
            "slug": "index",
            "intro": self.msgs.t("intro", version=__version__, name=user_text(self.run.summary.get("name", "")),
                                 n=len(regions), area=self.qty(total, "area_km2")),
            "headline": [h for h in headline if h[1]],
            "country_table": self.country_table() if regions else None,
            "subregion_table": subregions,
            "key_messages": self.key_messages(subregions),
            "identity": self.run_identity(),
            "maps": self.index_maps(),
            "charts": self.index_charts(),
            "interventions": self.interventions(),
            "appendix_practices": self.practices(),
            "methods": self.methods(),
            "data": self.data(),
            "limitations": rc.limitations(self),
            "stations": self.station_validation(),
            "trends": rc.trends(self), "zones": rc.dryland_zones(self), "degraded_drought": rc.degraded_drought(self),
            "hotspots": rc.hotspots(self),
        }
        index["practices"] = bool(index["appendix_practices"])
        profiles = []
        from dldd.practices.report import practices_report_data
        if self.shared.knowledge is None:
            self.shared.knowledge = practices_report_data(self.run.tables, [str(r["id"]) for r in regions])
        knowledge = self.shared.knowledge
        for r in regions:
            rid = str(r["id"])
            slug = region_slug(rid)
            r = dict(r, name=self.region_name(rid), subregion=self.subregion_name(r.get("subregion") or ""))
            profiles.append({
                "slug": f"region-{slug}",
                "anchor": f"r-{slug}",
                "region": r,
                "intro": self.msgs.t("intro_profile", name=user_text(r["name"]),
                                     subregion=user_text(r["subregion"]) if r.get("subregion")
                                     else self.msgs.plain("no_subregion"),
                                     area=self.qty(r.get("area_km2"), "area_km2"),
                                     run=user_text(self.run.summary.get("name", ""))),
                "headline": self.headline([rid]),
                "class_tables": self.class_tables(rid),
                "maps": self.profile_maps(rid, slug),
                "charts": [],  # trends are charted for the whole area and tabled per sub-region (one figure less per country)
                "practices": self.practices(rid),
                "knowledge": self.knowledge(knowledge, rid),
            })
        return index, profiles

    def knowledge(self, knowledge: dict, rid: str) -> dict:
        """The knowledge-base part of a profile (:func:`dldd.practices.report.practices_report_data`) with
        country and sub-region names in the report's language (cases list ISO 3166 codes), and in another
        language than English the fit of each top practice worded from its reason's parts."""
        k = knowledge["countries"][rid]
        names = lambda codes: [self.region_name(c) for c in codes]  # noqa: E731
        english = self.lang == DEFAULT_LANG

        def case(c):  # a period the catalogue words in English ("before and after the 2009-2010 dzud") is left out
            return {**c, "countries": names(c["countries"]),
                    "years": c["years"] if english or not re.search(r"[A-Za-z]", str(c["years"])) else ""}

        cases, near = [case(c) for c in k["cases"]], [case(c) for c in k["subregion_cases"]]
        top = k["top"] if english else [{**t, "reason": rc.first_reason_in_language(self, t.get("reason_parts", ""))}
                                         for t in k["top"]]
        challenges = [{**ch, "challenge": self.msgs.label("challenge", str(ch["challenge"])),
                       "countries": ", ".join(names(str(ch["countries"]).split(", ")))}
                      for ch in knowledge["challenges"].get(k["subregion"], [])]
        return {**k, "top": top, "cases": cases, "subregion_cases": near, "challenges": challenges, "zh": self.lang == "zh",
                "subregion": self.subregion_name(k["subregion"]) if k["subregion"] else k["subregion"]}


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)), autoescape=select_autoescape(["html", "xml"]),
                      trim_blocks=True, lstrip_blocks=True)
    return env


def progress_to_stderr(lang: str | Sequence[str]) -> Callable[..., None]:
    """Progress messages of a report build, one line each on stderr with the seconds since the start, tagged
    with the build's languages, or with the one language a step is about (``say(msg, lang)``)."""
    t0 = time.perf_counter()
    tag = lang if isinstance(lang, str) else ", ".join(lang)
    lock = threading.Lock()  # the PDFs of several languages are printed by threads

    def say(msg: str, lang: str | None = None) -> None:
        with lock:
            print(f"report ({lang or tag}) {time.perf_counter() - t0:6.1f} s: {msg}", file=sys.stderr, flush=True)

    return say


def _steps(langs: Sequence[str], progress: Callable[[str], None] | None) -> Callable[..., None]:
    """``say(msg, lang=None)`` of a build of ``langs``: lines on stderr (:func:`progress_to_stderr`), or the
    caller's ``progress``, which gets a step of one language of several as ``"zh: msg"``."""
    if progress is None:
        return progress_to_stderr(langs)
    lock = threading.Lock()

    def say(msg: str, lang: str | None = None) -> None:
        with lock:
            progress(f"{lang}: {msg}" if lang and len(langs) > 1 else msg)

    return say


def default_out_dir(run_dir: str | Path, lang: str) -> Path:
    """Where the report in ``lang`` goes by default: ``RUN_DIR/report`` (English), ``RUN_DIR/report-LANG``."""
    return Path(run_dir) / ("report" if lang == DEFAULT_LANG else f"report-{lang}")


def build_report(run_dir: str | Path, lang: str = DEFAULT_LANG, *, out_dir: str | Path | None = None,
                 pdf: bool = True, force: bool = False, progress: Callable[[str], None] | None = None,
                 workers: int | None = None) -> Path:
    """Write the report of the run in ``run_dir`` in one language and return the path of its ``index.html``:
    :func:`build_reports` with ``[lang]``; ``out_dir`` default ``RUN_DIR/report`` (whatever the language)."""
    out = Path(out_dir) if out_dir is not None else Path(run_dir) / "report"
    return build_reports(run_dir, [lang], out_dirs={lang: out}, pdf=pdf, force=force, progress=progress,
                         workers=workers)[lang]


def build_reports(run_dir: str | Path, langs: Sequence[str], *, out_dirs: dict[str, str | Path] | None = None,
                  pdf: bool = True, force: bool = False, progress: Callable[[str], None] | None = None,
                  workers: int | None = None) -> dict[str, Path]:
    """Write the report of the run in ``run_dir`` in each of ``langs`` in one build; returns language -> path
    of its ``index.html``.

    ``langs``: catalogues of ``dldd/report/i18n`` (``en``, ``zh``), all checked before anything is read or
    written; ``out_dirs``: language -> where to write (default :func:`default_out_dir`: ``RUN_DIR/report``
    for English, ``RUN_DIR/report-LANG`` for the others); ``pdf``: also write each ``report.pdf`` (Chromium,
    one per language at the same time, else WeasyPrint in turn). Sections appear only for the tables and
    maps the run has. ``progress`` gets one message per step (a step of one language of several as
    ``"zh: msg"``; default: lines on stderr tagged with the language(s)); ``workers``: processes drawing the
    figures of all languages (default: the machine's cores). What does not depend on the language (the
    run's tables, metrics, outlines, map views) is computed once (:class:`RunShared`).
    Figure and table numbers run through the site in the order of the PDF (synthesis, interventions,
    profiles), so that "Figure 12" is the same figure in both.

    Each report is drawn into its own staging folder under ``RUN_DIR/.dldd`` and renamed into place only
    when every language's report is whole (one that fails leaves all earlier reports as they were); files
    of an earlier build that this one does not write are removed only if dldd wrote them (``.dldd/owned``);
    the run folder is held once for all languages, as a run holds it (:class:`dldd.core.io.RunFolder`;
    ``force`` as for a run). The QGIS styles and project and the run's README (``maps/*.qml``,
    ``maps.qgs``, ``README.md``) are written into the run folder under the same rules, once, with English
    labels when English is among ``langs`` (:func:`write_run_guides`).
    """
    import tempfile

    from dldd.core import io
    from dldd.errors import InputError
    from dldd.report.messages import available_languages

    langs = list(dict.fromkeys(langs))  # each language once, in the order given
    if not langs:
        raise InputError("no report language given; expected one or more of " f"{available_languages()}")
    for lang in langs:
        if lang not in available_languages():
            raise InputError(f"--lang {lang!r}: no report language of that name; expected one of {available_languages()}")
    unknown = sorted(set(out_dirs or {}) - set(langs))
    if unknown:
        raise InputError(f"out_dirs names language(s) {unknown} that are not built ({langs})")
    # an output folder keeps its own name (a symbolic link is refused below, never followed)
    outs = {lang: _absolute(Path((out_dirs or {}).get(lang) or default_out_dir(run_dir, lang))) for lang in langs}
    for a in langs:
        for b in langs:
            if a != b and (outs[a] == outs[b] or outs[a] in outs[b].parents):
                raise InputError(f"the reports in {a!r} and {b!r} would share the folder {outs[a]}: give each "
                                 "language its own folder")
    say = _steps(langs, progress)
    say("reading the run")
    run = rd.load_run(run_dir)
    root = run.path.resolve()
    inside = [out.name for out in outs.values() if out.parent == root]
    places = (*inside, *RUN_GUIDES) if inside else ()
    with io.RunFolder(run.path, force=force, places=places) as folder:
        for out in outs.values():
            if out.is_symlink():
                raise InputError(f"{out} is a symbolic link; dldd never writes or deletes through a link: remove it")
        folder.own.mkdir(parents=True, exist_ok=True)
        staging = {lang: Path(tempfile.mkdtemp(prefix=f".report-{lang}.", suffix=".dldd.tmp", dir=folder.own))
                   for lang in langs}
        try:
            builders = _build_into(run, staging, pdf, say, workers)
            for lang in langs:  # every language whole: now each replaces its earlier report
                _swap_in(staging[lang], outs[lang], folder)
            if inside:
                say("writing the QGIS styles and project and the run's README")
                write_run_guides(run, builders[DEFAULT_LANG if DEFAULT_LANG in builders else langs[0]])
        finally:
            for path in staging.values():
                shutil.rmtree(path, ignore_errors=True)
    say("done")
    return {lang: outs[lang] / "index.html" for lang in langs}


def _absolute(path: Path) -> Path:
    """``path`` absolute with its folder's links resolved, but not its own name (a link there is refused)."""
    path = path.absolute()
    return path.parent.resolve() / path.name


def _build_into(run, outs: dict[str, Path], pdf: bool, say: Callable[..., None],
                workers: int | None) -> dict[str, "_Builder"]:
    """Every file of the report in each language, drawn into its (empty) folder ``outs[lang]``; returns the
    builders by language (their maps and labels serve the QGIS styles). The pages are composed language by
    language over one :class:`RunShared`; the figures of all languages are drawn in one pass of processes
    (jobs of one figure in several languages merged by :func:`dldd.report.figures.merge_language_jobs`, to be
    drawn once); the PDFs are printed at the same time (:func:`write_pdfs`)."""
    langs = list(outs)
    shared = RunShared(run)
    builders, pages = {}, {}
    for lang, out in outs.items():
        (out / "figures").mkdir(parents=True, exist_ok=True)
        (out / "assets").mkdir(parents=True, exist_ok=True)
        for f in ASSETS_DIR.iterdir():
            if f.is_file():
                shutil.copyfile(f, out / "assets" / f.name)
        say("composing the pages", lang)
        b = builders[lang] = _Builder(run, lang, out, functools.partial(say, lang=lang), shared)
        pages[lang] = b.pages()
    by_lang = {lang: b.jobs for lang, b in builders.items()}
    jobs = rf.merge_language_jobs(by_lang)  # a figure in several languages: drawn once, its words per language
    say(f"drawing {len(jobs)} figures" + (f" ({sum(map(len, by_lang.values()))} before merging the languages)"
                                          if len(langs) > 1 else ""))
    render_figures(jobs, say, workers)
    env = _env()
    prints = {}
    for lang, b in builders.items():
        index, profiles = pages[lang]
        out = outs[lang]
        common = {"m": b.msgs, "synthetic": run.synthetic, "run": run.summary, "version": __version__,
                  "lang": b.msgs.plain("meta.html_lang"), "profiles": profiles, "has_pdf": pdf}
        say("writing the site", lang)
        write_table_csvs(out, index, run)
        counter = Counter()  # one numbering through the site, in the order of the PDF
        tpl = env.get_template("index.html")
        (out / "index.html").write_text(tpl.render(**common, page=index, counter=counter), encoding="utf-8")
        tpl = env.get_template("intervention.html")
        for p in index["interventions"]:
            (out / f"{p['slug']}.html").write_text(tpl.render(**common, page=p, counter=counter), encoding="utf-8")
        tpl = env.get_template("region.html")
        for p in profiles:
            (out / f"{p['slug']}.html").write_text(tpl.render(**common, page=p, counter=counter), encoding="utf-8")
        if index.get("appendix_practices"):
            (out / "practices.html").write_text(env.get_template("practices.html").render(
                **common, page=index, counter=Counter()), encoding="utf-8")
        if pdf:
            html = env.get_template("print.html").render(**common, page=index, counter=Counter())
            for png, svg in b.pdf_images.items():  # charts printed as vectors
                html = html.replace(f'src="{png}"', f'src="{svg}"')
            prints[lang] = html
    if prints:
        write_pdfs({lang: (html, outs[lang]) for lang, html in prints.items()}, say)
    return builders


def write_pdfs(prints: dict[str, tuple[str, Path]], say: Callable[..., None]) -> None:
    """Print each language's page (language -> (print HTML, report folder)) to ``report.pdf`` in its folder:
    with Chromium one browser per language at the same time (a page is laid out on one core, so two
    languages use two), with WeasyPrint in turn. An error of any language is raised once all have ended."""
    from concurrent.futures import ThreadPoolExecutor

    from dldd.report.pdf import pdf_engine

    engine = pdf_engine()  # chosen here: a thread has no event loop even when this one runs in one

    def one(lang: str) -> Path:
        html, out = prints[lang]
        say("writing the PDF", lang)
        return write_pdf(html, out, out / "report.pdf", progress=functools.partial(say, lang=lang), engine=engine)

    if engine != "chromium" or len(prints) == 1:
        for lang in prints:
            one(lang)
        return
    with ThreadPoolExecutor(max_workers=len(prints), thread_name_prefix="dldd-pdf") as pool:
        futures = [pool.submit(one, lang) for lang in prints]
    for f in futures:  # every thread has ended (the pool's exit waits); the first error is raised
        f.result()


def _swap_in(staging: Path, out: Path, folder) -> None:
    """Rename each file of ``staging`` onto its name under ``out`` (each appears whole, old or new); then
    remove the files of an earlier build there that this one did not write and dldd did write."""
    import os

    from dldd.core import io

    new = set()
    for src in sorted(p for p in staging.rglob("*") if p.is_file()):
        rel = src.relative_to(staging)
        target = io.confined(out.parent, out.name, *rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(src, io.FILE_MODE)
        active = io.RunFolder.active_for(target)
        if active is not None:
            active.before_replace(target)
        os.replace(src, target)
        new.add(target)
    stale = [p for p in out.rglob("*") if p.is_file() and p not in new]
    folder.remove_owned([p for p in stale if io.RunFolder.active_for(p) is folder])


#: Run tables copied into the report (``tables/``) because a report table links to them, besides the run's
#: class-share tables (:meth:`dldd.report.data.Run.share_tables`).
LINKED_RUN_TABLES = ("practices_matches", "effectiveness_summary", "effectiveness_balance", "effectiveness_event_study",
                     "station_comparison", "sdg_15_3_1_trends", "sdg_15_3_1_dryland_zones", "sdg_15_3_1_hotspots",
                     "sdg_degraded_drought_exposed")


def write_table_csvs(out: Path, index: dict, run: rd.Run) -> None:
    """The report's own tables as CSV (``tables/country_table.csv``, ``tables/subregions.csv``: the numbers as
    rounded in the report) and copies of the run tables the report's tables link to (:data:`LINKED_RUN_TABLES`)."""
    import pandas as pd

    (out / "tables").mkdir(exist_ok=True)
    for name in (*run.share_tables(), *LINKED_RUN_TABLES):
        src = run.path / "tables" / f"{name}.csv"
        if src.is_file():
            tmp = out / "tables" / f"{name}.csv.part"
            shutil.copyfile(src, tmp)
            tmp.replace(out / "tables" / f"{name}.csv")
    for key in ("country_table", "subregion_table"):
        t = index.get(key)
        if t and t.get("records"):
            path = out / t["csv"]
            tmp = path.with_name(path.name + ".part")
            pd.DataFrame(t["records"]).to_csv(tmp, index=False)
            tmp.replace(path)


#: Output places of the run folder (besides the report) that a report build writes into: the QGIS styles
#: beside the maps (:func:`write_run_guides`; the project ``maps.qgs`` and ``README.md`` beside the run's
#: outputs are written only over files that carry dldd's mark).
RUN_GUIDES = ("maps",)


def write_run_guides(run: rd.Run, b: "_Builder") -> list[Path]:
    """The QGIS styles and project of the run's maps (:mod:`dldd.report.qgis`) and ``RUN_DIR/README.md``
    saying what is where. The styles carry English labels, written by the English build (or by another
    language's build when the run has no project yet, in its labels). Files dldd did not write are left alone."""
    from dldd.report import qgis

    written = []
    if b.lang == DEFAULT_LANG or not (run.path / qgis.PROJECT_NAME).exists():
        written, _ = qgis.write_qgis(run.path, run.maps, functools.partial(rf.legend_for_map, declared=run.contracts),
                                     b.class_label,
                                     str(run.summary.get("name", "dldd run")))
    readme = run.path / "README.md"
    if qgis._ours(readme):
        qgis._write(readme, run_readme(run))
        written.append(readme)
    return written


def run_readme(run: rd.Run) -> str:
    """What is where in a run folder, from the files it holds."""
    p = run.path
    lines = [f"<!-- {_readme_mark()} -->", f"# {run.summary.get('name', 'dldd run')}", ""]
    if run.synthetic:
        lines += ["**Synthetic demonstration data**: no number here describes a real place.", ""]
    lines += ["Output folder of a dldd assessment run.", "",
              "| Path | What it is |", "|---|---|",
              "| `summary.json` | the run's regions, periods and headline parameters |",
              "| `manifest.json` | inputs with SHA-256 checksums, spec, package versions, stage timings, outputs |"]
    if (p / "contracts.json").is_file():
        lines.append("| `contracts.json` | what each stage declares for its maps and tables: units, legends, columns |")
    for t in sorted((p / "tables").glob("*.csv")):
        lines.append(f"| `tables/{t.name}` | table `{t.stem}` (areas in km², shares in %) |")
    if (p / "tables" / "tables.xlsx").is_file():
        lines.append("| `tables/tables.xlsx` | every table as a sheet |")
    for name, rel in run.maps.items():
        qml = (p / rel).with_suffix(".qml")
        lines.append(f"| `{rel}` | map `{name}` (Cloud-Optimized GeoTIFF)"
                     + (f"; QGIS style `{qml.name}` beside it" if qml.is_file() else "") + " |")
    from dldd.report.qgis import PROJECT_NAME

    if (p / PROJECT_NAME).is_file():
        lines.append(f"| `{PROJECT_NAME}` | QGIS project opening every map, class maps styled as in the report |")
    for rep in sorted(q for q in p.glob("report*") if q.is_dir()):
        lines.append(f"| `{rep.name}/index.html` | the report (site); `{rep.name}/report.pdf` the PDF |")
    return "\n".join(lines) + "\n"


def _readme_mark() -> str:
    from dldd.report.qgis import MARK

    return MARK


def write_pdf(html: str, base: Path, path: Path, progress: Callable[[str], None] | None = None,
              engine: str | None = None) -> Path:
    """Render ``html`` (resources relative to ``base``) to a PDF (:func:`dldd.report.pdf.write_pdf`: Chromium,
    or weasyprint when Chromium is not installed); ``progress`` gets a message per pass."""
    from dldd.report.pdf import write_pdf as _write

    return _write(html, base, path, engine=engine, progress=progress)
