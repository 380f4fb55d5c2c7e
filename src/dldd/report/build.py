"""Build the report of a run: a static HTML site (regional synthesis + one page per region) and a PDF.

Layout of ``RUN_DIR/report/``::

    index.html             regional synthesis (summary, country table, maps, charts, methods, data, limitations)
    region-<id>.html       one profile per country or zone
    assets/report.css      the only style sheet (no JavaScript, no web fonts, nothing fetched)
    figures/*.png          maps and charts (matplotlib, Agg)
    report.pdf             the same sections, paginated, with a table of contents and figure numbers
"""

from __future__ import annotations

import functools
import json
import math
import re
import shutil
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import rasterio
import shapely
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from dldd import __version__
from dldd.report import data as rd
from dldd.report import figures as rf
from dldd.report.messages import DEFAULT_LANG, Catalogue
from dldd.report.numbers import format_value

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
ASSETS_DIR = PACKAGE_DIR / "assets"
#: Order of the maps on the synthesis page (by name prefix); other maps follow in manifest order.
MAP_ORDER = ("sdg_status7", "sdg_status", "sdg_15_3_1", "lpd", "soc_degradation", "soc_change",
             "land_cover_degradation", "land_cover", "so3_hazard", "spi", "spei", "aridity_zones",
             "aridity_shift", "aridity_index", "esa", "sand")
#: Maps shown on a profile page: the latest map of each of these prefixes.
PROFILE_MAPS = ("sdg_15_3_1", "land_cover_degradation", "so3_hazard", "aridity_zones")
#: Map name prefix -> indicator family (methods section).
FAMILY_BY_PREFIX = (("sdg_", "sdg_15_3_1"), ("lpd_", "sdg_15_3_1"), ("soc_", "sdg_15_3_1"),
                    ("land_cover", "land_cover"), ("so3_", "drought"), ("spi", "drought"), ("spei", "drought"),
                    ("aridity", "aridity"), ("esa", "sensitivity"), ("medalus", "sensitivity"),
                    ("sand", "sand"), ("dp_", "sand"))
#: Tables drawn as class shares by region (latest period), in this order.
SHARE_TABLES = ("so1_4_sdg_15_3_1", "so1_4_status7", "so1_2_productivity", "so1_3_soc_degradation",
                "so1_1_land_cover_degradation", "so1_1_land_cover_areas", "so3_1_hazard_blocks", "aridity_zone_areas",
                "aridity_shift_areas", "esa_class_areas", "sand_drift_class_areas", "sand_directionality_class_areas")
#: Tables drawn through time (stacked class shares).
SERIES_TABLES = ("so3_1_hazard_areas", "so1_1_land_cover_areas")
#: Metrics shown as columns of the country table (the others appear in the headline figures only).
TABLE_METRICS = ("sdg_degraded_pct", "sdg_change_pp", "lc_degraded_pct", "drought_pct", "exposed_population",
                 "drylands_km2", "drier_pct")
#: Padding around a profile's region on its maps, as a share of the region's extent.
PROFILE_MAP_PAD = 0.15
#: Suffix of a map name that names its period, year or block (maps of one series differ only by it).
MAP_SERIES_SUFFIX = re.compile(r"_(baseline|reporting_\d+|\d{4}(_\d{4})?)$")
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


# --- geometry ----------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _world():
    from dldd.regions.registry import world_countries

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {r.id: r.geometry for r in world_countries()}


def region_geometries(run: rd.Run) -> dict[str, object]:
    """Region id -> lon/lat outline: countries from the shipped Natural Earth polygons, zones from the spec's
    zone files (regions whose outline cannot be found are drawn without one)."""
    out = {}
    world = _world()
    spec = run.manifest.get("spec", {}) or {}
    base = Path(run.manifest.get("spec_base_dir") or run.path)
    zones = {z.get("name"): z for z in (spec.get("regions", {}) or {}).get("zones", []) or []}
    for r in run.regions:
        rid = str(r["id"])
        if rid in world:
            out[rid] = world[rid]
        elif rid in zones:
            try:
                import geopandas as gpd

                p = Path(zones[rid]["path"])
                gdf = gpd.read_file(p if p.is_absolute() else base / p, layer=zones[rid].get("layer"))
                out[rid] = shapely.unary_union(list(gdf.to_crs("EPSG:4326").geometry.values))
            except Exception:  # noqa: BLE001 - a missing zone file only loses the outline
                continue
    return out


# --- the builder ---------------------------------------------------------------------------------------------------
class _Builder:
    def __init__(self, run: rd.Run, lang: str, out: Path):
        self.run = run
        self.lang = lang
        self.msgs = Catalogue(lang)
        self.out = out
        self.metrics = rd.compute_metrics(run)
        self.by_key = {m.key: m for m in self.metrics}
        self.geoms = region_geometries(run)
        self.synth = self.msgs.plain("synthetic_figure") if run.synthetic else None
        self.tags = {}
        for name, rel in run.maps.items():
            p = run.path / rel
            if p.is_file():
                with rasterio.open(p) as src:
                    self.tags[name] = (p, src.tags(), tuple(src.bounds))

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

    def scale_label(self, km: float, lat: float) -> str:
        return self.msgs.plain("scale_bar", km=f"{km:,.0f}" if km >= 1 else f"{km:g}", lat=f"{lat:.0f}")

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
        return out

    def country_table(self) -> dict:
        regions, rank_key = rd.rank_regions(self.run.regions, self.metrics)
        cols = [(m.key, self.msgs.plain(f"metric.{m.key}"), m.kind, self.when_label(m.when)) for m in self.metrics
                if m.key in TABLE_METRICS]
        rows = []
        for i, r in enumerate(regions, 1):
            vals = [format_value(self.by_key[k].value([str(r["id"])]), kind) for k, _, kind, _ in cols]
            rows.append({"rank": i, "name": r["name"], "subregion": r.get("subregion") or "",
                         "area": format_value(r.get("area_km2"), "area_km2"), "values": vals,
                         "href": f"region-{region_slug(r['id'])}.html"})
        heads = []
        for k, label, kind, when in cols:
            u = self.unit("pp_short") if kind == "pp" else self.unit(kind)
            heads.append(f"{label}" + (f", {when}" if when else "") + (f" ({u})" if u else ""))
        intro = (self.msgs.t("country_table_intro", metric=self.msgs.plain(f"metric.{rank_key}"),
                             when=self.when_label(self.by_key[rank_key].when))
                 if rank_key else self.msgs.t("country_table_intro_unranked"))
        return {"heads": heads, "rows": rows, "intro": intro, "area_unit": self.unit("area_km2")}

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

    def draw_map(self, name: str, png: str, *, focus_id: str | None = None) -> Fig | None:
        path, tags, bounds = self.tags[name]
        left, bottom, right, top = bounds
        extent = None
        focus = []
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
        assessed = set(self.geoms)
        context = [g for rid, g in _world().items() if rid not in assessed and g.intersects(box)]
        outlines = [g for rid, g in self.geoms.items() if rid != focus_id and g.intersects(box)]
        title = self.map_title(name)
        legend = rf.legend_for_map(name, tags)
        units = tags.get("units", "")
        rf.draw_map(path, self.out / png, title=title, legend=legend, class_label=self.class_label,
                    scale_label=self.scale_label, nodata_label=self.msgs.plain("no_data"),
                    units_label="" if units in ("", "1") else units, outlines=outlines, focus=focus, context=context,
                    extent=extent, synthetic_label=self.synth)
        return Fig(png, title, self.msgs.plain("map_caption", title=title))

    def index_maps(self) -> list[Fig]:
        figs = []
        for name in self._ordered_maps():
            f = self.draw_map(name, f"figures/map-{name}.png")
            if f:
                figs.append(f)
        return figs

    def profile_maps(self, rid: str, slug: str) -> list[Fig]:
        figs = []
        for prefix in PROFILE_MAPS:
            names = [n for n in self.tags if n.startswith(prefix)]
            if not names:
                continue
            f = self.draw_map(names[-1], f"figures/{slug}-map-{names[-1]}.png", focus_id=rid)
            if f:
                figs.append(f)
        return figs

    def table_name(self, t: str) -> str:
        return self.msgs.plain(f"table_name.{t}", t.replace("_", " "))

    def index_charts(self) -> list[Fig]:
        figs = []
        rows = [(str(r["id"]), str(r["name"])) for r in rd.rank_regions(self.run.regions, self.metrics)[0]]
        for t in SHARE_TABLES:
            tab = self.run.tables.get(t)
            if tab is None or not len(tab) or "share_pct" not in tab:
                continue
            ps = rd.periods(tab)
            when = ps[-1] if ps else None
            title = self.msgs.plain("chart.classes_by_region", table=self.table_name(t), when=self.when_label(when))
            rf.draw_share_bars(rd.at(tab, when), self.out / f"figures/chart-{t}.png", rows=rows, title=title,
                               xlabel=self.msgs.plain("share_axis"), class_label=self.class_label,
                               synthetic_label=self.synth)
            figs.append(Fig(f"figures/chart-{t}.png", title))
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

        from dldd.report.figures_sand import sand_rose_from_drift

        row = r.iloc[0]
        summary = xr.Dataset({k: float(row[c]) for k, c in (("dp", "dp_vu"), ("rdp", "rdp_vu"), ("rdd", "rdd_deg"),
                                                              ("rdp_dp", "rdp_dp"))})
        by_dir = xr.DataArray(t["dp_vu"].to_numpy(dtype=float), dims=("direction",),
                              coords={"direction": t["direction"].to_numpy(dtype=float)})
        title = self.msgs.plain("chart.sand_rose")
        png = "figures/chart-sand-rose.png"
        with matplotlib_style():
            fig = sand_rose_from_drift(by_dir, summary, title=title, synthetic=self.run.synthetic)
            fig.savefig(self.out / png, dpi=rf.DPI, facecolor="white")
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
            rf.draw_class_series(tab, self.out / png, region_ids=ids, time_col=rd.time_column(tab), title=title,
                                 ylabel=self.msgs.plain("share_axis"), class_label=self.class_label,
                                 synthetic_label=self.synth)
            figs.append(Fig(png, title))
        return figs

    def class_tables(self, rid: str) -> list[dict]:
        out = []
        for t in SHARE_TABLES:
            tab = self.run.tables.get(t)
            if tab is None or "share_pct" not in tab:
                continue
            ps = rd.periods(tab)
            when = ps[-1] if ps else None
            sub = rd.region_class_table(tab, rid, when)
            if not len(sub):
                continue
            rows = [{"class": self.class_label(str(r["class"])), "area": format_value(r["area_km2"], "area_km2"),
                     "share": format_value(r["share_pct"], "pct")} for _, r in sub.iterrows()]
            cap = self.table_name(t) + (f", {self.when_label(when)}" if when is not None else "")
            out.append({"caption": cap, "rows": rows})
        return out

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
            ci = (f"[{val('ci_low', 'index', True)}, {val('ci_high', 'index', True)}]"
                  if val("ci_low", "index") is not None else "")
            facts = []
            for key, text in (
                ("type", str(r.get("type", ""))),
                ("outcome", str(r.get("outcome", "")) + (f" ({units})" if units else "")),
                ("start_year", val("start_year", "year")),
                ("effect", f"{effect} {ci}".strip() if effect else None),
                ("effect_relative", self.qty_signed(r.get("effect_relative_pct"), "pct")),
                ("effect_per_year", val("effect_per_year", "index", signed=True)),
                ("pre_mean", val("pre_mean_treated", "index")),
                ("naive_effect", val("naive_effect", "index", signed=True)),
                ("n_treated", val("n_treated", "count")),
                ("n_controls", val("n_controls", "count")),
                ("treated_area", val("treated_area_km2", "area_km2")),
                ("pretrend", val("pretrend_slope", "index", signed=True)),
                ("break_year", val("break_year", "year")),
                ("break_difference_year", val("break_difference_year", "year")),
                ("confidence", self.qty(100.0 * float(r["confidence"]), "pct") if "confidence" in r
                 and not math.isnan(float(r["confidence"])) else None),
            ):
                if text not in (None, "", "nan"):
                    facts.append((self.msgs.plain(f"intervention.{key}"), text))
            figs = []
            if es is not None and "intervention" in es:
                sub = es[es["intervention"].astype(str) == name]
                if len(sub) and {"rel_year", "effect", "ci_low", "ci_high"} <= set(sub.columns):
                    png = f"figures/{slug}-event-study.png"
                    title = f'{self.msgs.plain("chart.event_study")}: {name}'
                    rf.draw_event_study(sub, self.out / png, title=title,
                                        xlabel=self.msgs.plain("intervention.rel_year"),
                                        ylabel=self.msgs.plain("intervention.effect") + (f" ({units})" if units else ""),
                                        effect_label=self.msgs.plain("intervention.effect"),
                                        ci_label=self.msgs.plain("intervention.ci", pct=f"{float(r.get('confidence', 0.95)) * 100:.0f}"),
                                        synthetic_label=self.synth)
                    figs.append(Fig(png, title, self.msgs.plain("event_study_caption")))
            out.append({"slug": slug, "anchor": f"i-{region_slug(name)}", "name": name, "type": str(r.get("type", "")),
                        "start": val("start_year", "year") or "", "effect": effect or "", "ci": ci,
                        "relative": val("effect_relative_pct", "pct", signed=True) or "",
                        "facts": facts, "charts": figs})
        return out

    def practices(self, region_id: str | None = None) -> list[dict]:
        """Matched practices (``practices_matches``): region, rank, name, category, score (and reasons)."""
        t = self.run.tables.get("practices_matches")
        if t is None or not len(t) or "practice" not in t:
            return []
        if region_id is not None:
            t = t[t["region"].astype(str) == str(region_id)]
        names = {str(r["id"]): r["name"] for r in self.run.regions}
        show_reasons = self.msgs.plain("meta.practice_reasons", "no") == "yes"
        return [{"region": names.get(str(r["region"]), str(r["region"])), "rank": int(r["rank"]),
                 "name": str(r.get("name", r["practice"])), "category": self.msgs.label("category", str(r.get("category", ""))),
                 "score": format_value(r.get("score"), "score"),
                 "reasons": str(r.get("reasons", "")) if show_reasons else ""} for _, r in t.iterrows()]

    def methods(self) -> list[dict]:
        fams: dict[str, dict] = {}
        stages = list(self.run.manifest.get("stages", [])) or [k for k in self.run.summary if isinstance(self.run.summary[k], dict)]
        for s in stages:
            fam = s if self.msgs.has(f"family.{s}") else "other"
            fams.setdefault(fam, {"maps": [], "params": {}})
            if isinstance(self.run.summary.get(s), dict):
                fams[fam]["params"][s] = self.run.summary[s]
        for name, (_, tags, _) in self.tags.items():
            fam = next((f for p, f in FAMILY_BY_PREFIX if name.startswith(p)), "other")
            fams.setdefault(fam, {"maps": [], "params": {}})
            fams[fam]["maps"].append({"name": name, "parameters": tags.get("parameters", ""),
                                      "references": tags.get("references", "")})
        out = []
        for fam, d in fams.items():
            out.append({"id": f"method-{fam}", "title": self.msgs.plain(f"family.{fam}"),
                        "text": self.msgs.t(f"method_text.{fam}"), "maps": d["maps"], "notes": self.method_notes(fam),
                        "params": json.dumps(d["params"], indent=1, ensure_ascii=False) if d["params"] else ""})
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
                headline.append((sub, self.headline(ids)))
        index = {
            "slug": "index",
            "intro": self.msgs.t("intro", version=__version__, name=user_text(self.run.summary.get("name", "")),
                                 n=len(regions), area=self.qty(total, "area_km2")),
            "headline": [h for h in headline if h[1]],
            "country_table": self.country_table() if regions else None,
            "maps": self.index_maps(),
            "charts": self.index_charts(),
            "interventions": self.interventions(),
            "practices": self.practices(),
            "methods": self.methods(),
            "data": self.data(),
            "limitations": self.msgs.items("limitations"),
        }
        profiles = []
        from dldd.practices.report import practices_report_data
        knowledge = practices_report_data(self.run.tables, [str(r["id"]) for r in regions])
        for r in regions:
            rid = str(r["id"])
            slug = region_slug(rid)
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
                "charts": self.series([rid], slug),
                "practices": self.practices(rid),
                "knowledge": {**knowledge["countries"][rid], "zh": self.lang == "zh",
                              "challenges": knowledge["challenges"].get(knowledge["countries"][rid]["subregion"], [])},
            })
        return index, profiles


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)), autoescape=select_autoescape(["html", "xml"]),
                      trim_blocks=True, lstrip_blocks=True)
    return env


def build_report(run_dir: str | Path, lang: str = DEFAULT_LANG, *, out_dir: str | Path | None = None,
                 pdf: bool = True, force: bool = False) -> Path:
    """Write the report of the run in ``run_dir`` and return the path of its ``index.html``.

    ``lang``: a catalogue of ``dldd/report/i18n`` (``en``, ``zh``); ``out_dir``: where to write (default
    ``RUN_DIR/report``); ``pdf``: also write ``report.pdf`` (weasyprint). Sections appear only for the
    tables and maps the run has. The report is drawn into a staging folder under ``RUN_DIR/.dldd`` and
    its files renamed into place when all are whole; files of an earlier build that this one does not
    write are removed only if dldd wrote them (``.dldd/owned``); the run folder is held as a run holds
    it (:class:`dldd.core.io.RunFolder`; ``force`` as for a run).
    """
    import tempfile

    from dldd.core import io
    from dldd.errors import InputError
    from dldd.report.messages import available_languages

    if lang not in available_languages():
        raise InputError(f"--lang {lang!r}: no report language of that name; expected one of {available_languages()}")
    run = rd.load_run(run_dir)
    out = Path(out_dir).resolve() if out_dir is not None else run.path.resolve() / "report"
    inside = out.parent == run.path.resolve()
    with io.RunFolder(run.path, force=force, places=(out.name,) if inside else ()) as folder:
        if out.is_symlink():
            raise InputError(f"{out} is a symbolic link; dldd never writes or deletes through a link: remove it")
        folder.own.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".report.", suffix=".dldd.tmp", dir=folder.own))
        try:
            _build_into(run, lang, staging, pdf)
            _swap_in(staging, out, folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return out / "index.html"


def _build_into(run, lang: str, out: Path, pdf: bool) -> None:
    """Every file of the report, drawn into the (empty) folder ``out``."""
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "assets").mkdir(parents=True, exist_ok=True)
    for f in ASSETS_DIR.iterdir():
        if f.is_file():
            shutil.copyfile(f, out / "assets" / f.name)
    b = _Builder(run, lang, out)
    index, profiles = b.pages()
    env = _env()
    common = {"m": b.msgs, "synthetic": run.synthetic, "run": run.summary, "version": __version__,
              "lang": b.msgs.plain("meta.html_lang"), "profiles": profiles, "has_pdf": pdf}
    tpl = env.get_template("index.html")
    (out / "index.html").write_text(tpl.render(**common, page=index, counter=Counter()), encoding="utf-8")
    tpl = env.get_template("region.html")
    for p in profiles:
        (out / f"{p['slug']}.html").write_text(tpl.render(**common, page=p, counter=Counter()), encoding="utf-8")
    tpl = env.get_template("intervention.html")
    for p in index["interventions"]:
        (out / f"{p['slug']}.html").write_text(tpl.render(**common, page=p, counter=Counter()), encoding="utf-8")
    if pdf:
        html = env.get_template("print.html").render(**common, page=index, counter=Counter())
        write_pdf(html, out, out / "report.pdf")


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


def write_pdf(html: str, base: Path, path: Path) -> Path:
    """Render ``html`` (resources relative to ``base``) to a PDF with weasyprint."""
    import logging

    from weasyprint import HTML

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    from dldd.core import io

    with io.atomic_path(path) as tmp:
        HTML(string=html, base_url=str(base) + "/").write_pdf(tmp)
    return path
