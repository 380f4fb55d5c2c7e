"""Maps and charts of the report, drawn with matplotlib's Agg canvas (no pyplot state, no network).

Maps are read from the run's Cloud-Optimized GeoTIFFs and drawn in lon/lat (EPSG:4326) with the region
outlines of :mod:`dldd.regions.registry` (Natural Earth polygons shipped with dldd), the class colours of
the legends, a legend, a scale bar and the title. Figures of synthetic runs carry the synthetic label.
"""

from __future__ import annotations

import functools
import glob
import importlib
import math
from pathlib import Path
from typing import Callable, Sequence

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import rasterio
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from rasterio.enums import Resampling

from dldd.core.legend import CLASS_NODATA, SDG3, UNCCD_LAND_COVER, Legend

DPI = 100
#: zlib level of the PNG files (1: fast; the figures are small either way).
PNG_COMPRESS_LEVEL = 1
MAP_SIZE_IN = (7.2, 5.0)
CHART_SIZE_IN = (7.2, 4.2)
#: Maps take the height their aspect needs, within these bounds (inches).
MIN_MAP_HEIGHT_IN = 3.2
MAX_MAP_HEIGHT_IN = 7.5
#: Longest side of a map raster as drawn (pixels); larger rasters are read decimated (nearest).
MAX_MAP_PIXELS = 1200
#: Mean radius of the WGS84 ellipsoid's meridian degree, km per degree of latitude (scale bar).
KM_PER_DEGREE = 111.32
#: Scale bar length as a share of the map width (then rounded to 1, 2 or 5 x 10^k km).
SCALE_BAR_SHARE = 0.25
NODATA_COLOR = "#d9d9d9"
CONTEXT_EDGE = "#8c8c8c"
REGION_EDGE = "#222222"
FOCUS_EDGE = "#0050b4"
SYNTHETIC_COLOR = "#b00020"
#: Fonts tried in order, per glyph (CJK fonts for the Chinese report when Debian's fonts are installed).
FONT_FAMILY = ["DejaVu Sans", "WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans CJK JP", "Droid Sans Fallback"]
#: Where Debian installs CJK fonts (fonts-wqy-microhei, fonts-noto-cjk); registered with matplotlib when present.
CJK_FONT_FILES = ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
                  "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf")
#: Axes boxes [left, bottom, width, height] in figure fractions (fixed layout: fast and reproducible).
MAP_AXES = (0.08, 0.10, 0.62, 0.80)
COLORBAR_AXES = (0.74, 0.18, 0.025, 0.64)
BARS_AXES = (0.26, 0.16, 0.46, 0.72)
SERIES_AXES = (0.09, 0.16, 0.62, 0.74)
FALLBACK_COLORS = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
                   "#9c755f", "#bab0ac")

#: Legends by module, imported lazily (a module that fails to import only loses its colours).
_LEGEND_SOURCES = (
    ("dldd.indicators.aridity", ("ARIDITY_ZONES", "ARIDITY_SHIFT")),
    ("dldd.indicators.drought", ("SO3_LEGEND",)),
    ("dldd.indicators.sdg", ("STATUS7",)),
    ("dldd.indicators.sensitivity", ("QUALITY_LEGEND", "ESA_LEGEND")),
    ("dldd.indicators.sand", ("DP_ENERGY_LEGEND", "DIRECTIONALITY_LEGEND", "NEGATIVE_SERVICE_LEGEND")),
)
#: Map name prefix -> legend name, for maps whose tags do not name their legend.
MAP_LEGEND_BY_PREFIX = (
    ("sdg_status7_", "sdg_status7"),
    ("sdg_status_", "sdg3"),
    ("sdg_15_3_1_", "sdg3"),
    ("lpd_", "sdg3"),
    ("soc_degradation_", "sdg3"),
    ("land_cover_degradation_", "sdg3"),
    ("land_cover_", "unccd_land_cover"),
    ("so3_hazard_", "so3_drought_intensity"),
    ("aridity_zones", "aridity_zones"),
    ("aridity_shift", "aridity_shift"),
)


@functools.lru_cache(maxsize=1)
def legends() -> dict[str, Legend]:
    out = {SDG3.name: SDG3, UNCCD_LAND_COVER.name: UNCCD_LAND_COVER}
    for module, names in _LEGEND_SOURCES:
        try:
            mod = importlib.import_module(module)
        except Exception:  # noqa: BLE001 - another module's import error must not stop the report
            continue
        for n in names:
            leg = getattr(mod, n, None)
            if isinstance(leg, Legend):
                out[leg.name] = leg
    return out


def legend_for_map(name: str, tags: dict) -> Legend | None:
    legs = legends()
    if tags.get("legend") in legs:
        return legs[tags["legend"]]
    for prefix, leg in MAP_LEGEND_BY_PREFIX:
        if name.startswith(prefix) and leg in legs:
            return legs[leg]
    if "flag_values" in tags and "flag_meanings" in tags:
        codes = [int(c) for c in tags["flag_values"].strip("[]").replace(",", " ").split()]
        names = [m.replace("_", " ") for m in tags["flag_meanings"].split()]
        return Legend.from_pairs(name, [(c, n, FALLBACK_COLORS[i % len(FALLBACK_COLORS)])
                                        for i, (c, n) in enumerate(zip(codes, names))])
    return None


def class_colors() -> dict[str, str]:
    """Class name -> colour over every known legend (first legend wins)."""
    out: dict[str, str] = {"no data": NODATA_COLOR}
    for leg in legends().values():
        for c in leg.classes:
            out.setdefault(c.name, c.color)
    return out


# --- shared drawing helpers ----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _register_fonts() -> None:
    """Make installed CJK fonts known to matplotlib (its font cache may predate their installation)."""
    known = {f.fname for f in font_manager.fontManager.ttflist}
    for pattern in CJK_FONT_FILES:
        for f in glob.glob(pattern):
            if f not in known:
                try:
                    font_manager.fontManager.addfont(f)
                except Exception:  # noqa: BLE001 - an unreadable font only loses CJK glyphs
                    pass


def _font_family() -> list[str]:
    names = {f.name for f in font_manager.fontManager.ttflist}
    return [f for f in FONT_FAMILY if f in names] or ["sans-serif"]


def styled(fn):
    """Run a drawing function with the report's fonts (glyph fallback to CJK fonts)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _register_fonts()
        with matplotlib.rc_context({"font.family": _font_family(), "font.size": 8, "text.parse_math": False}):
            return fn(*args, **kwargs)

    return wrapper


def _figure(size) -> Figure:
    fig = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _finish(fig: Figure, path: Path, synthetic_label: str | None) -> Path:
    if synthetic_label:
        fig.text(0.995, 0.01, synthetic_label, ha="right", va="bottom", fontsize=8, color=SYNTHETIC_COLOR,
                 fontweight="bold")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, facecolor="white", pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    return path


def nice_length(x: float) -> float:
    """The largest of 1, 2, 5 x 10^k not above ``x`` (x > 0)."""
    k = math.floor(math.log10(x))
    for m in (5, 2, 1):
        if m * 10**k <= x:
            return m * 10**k
    return 10**k


def _scale_bar(ax, extent, label_fmt: Callable[[float, float], str]) -> None:
    left, right, bottom, top = extent
    lat = 0.5 * (bottom + top)
    km_per_deg = KM_PER_DEGREE * max(math.cos(math.radians(lat)), 1e-6)
    width_km = (right - left) * km_per_deg
    km = nice_length(SCALE_BAR_SHARE * width_km)
    deg = km / km_per_deg
    x0 = left + 0.04 * (right - left)
    y0 = bottom + 0.06 * (top - bottom)
    ax.plot([x0, x0 + deg], [y0, y0], color="black", lw=3, solid_capstyle="butt", zorder=5)
    ax.text(x0 + deg / 2, y0 + 0.015 * (top - bottom), label_fmt(km, lat), ha="center", va="bottom", fontsize=7,
            zorder=5, bbox=dict(facecolor="white", alpha=0.7, edgecolor="none", pad=1))


def map_size(ext) -> tuple[float, float]:
    """Figure size (inches) that fits a map of extent (left, right, bottom, top) drawn at its true aspect."""
    left, right, bottom, top = ext
    stretch = 1.0 / max(math.cos(math.radians(0.5 * (bottom + top))), 0.1)
    axes_w = MAP_SIZE_IN[0] * MAP_AXES[2]
    axes_h = axes_w * (top - bottom) * stretch / max(right - left, 1e-9)
    height = min(max(axes_h / MAP_AXES[3], MIN_MAP_HEIGHT_IN), MAX_MAP_HEIGHT_IN)
    return MAP_SIZE_IN[0], height


def _outlines(geoms, box) -> list[np.ndarray]:
    """Boundary lines of the geometries, clipped to ``box`` (a shapely polygon), as (n, 2) arrays."""
    import shapely

    segs = []
    for g in geoms:
        b = shapely.intersection(g.boundary, box)
        for part in getattr(b, "geoms", [b]):
            if part.is_empty or part.geom_type not in ("LineString", "LinearRing"):
                continue
            segs.append(np.asarray(part.coords)[:, :2])
    return segs


def _draw_outlines(ax, geoms, box, **kw) -> None:
    segs = _outlines(geoms, box)
    if segs:
        ax.add_collection(LineCollection(segs, **kw))


def _read_map(path: Path, extent=None):
    """The raster (or the part of it covering ``extent`` = (left, right, bottom, top)), read at most
    :data:`MAX_MAP_PIXELS` on its longest side (nearest neighbour), with its bounds as (l, r, b, t)."""
    from rasterio.windows import Window, from_bounds

    with rasterio.open(path) as src:
        window = Window(0, 0, src.width, src.height)
        if extent is not None:
            w = from_bounds(extent[0], extent[2], extent[1], extent[3], transform=src.transform)
            c0, r0 = math.floor(w.col_off), math.floor(w.row_off)
            c1, r1 = math.ceil(w.col_off + w.width), math.ceil(w.row_off + w.height)
            c0, r0, c1, r1 = max(c0, 0), max(r0, 0), min(c1, src.width), min(r1, src.height)
            if c1 > c0 and r1 > r0:
                window = Window(c0, r0, c1 - c0, r1 - r0)
        scale = max(window.width, window.height) / MAX_MAP_PIXELS
        shape = ((int(window.height), int(window.width)) if scale <= 1
                 else (max(1, int(window.height / scale)), max(1, int(window.width / scale))))
        arr = src.read(1, window=window, out_shape=shape, resampling=Resampling.nearest, masked=False)
        left, top = src.transform * (window.col_off, window.row_off)
        right, bottom = src.transform * (window.col_off + window.width, window.row_off + window.height)
        return arr, (left, right, min(bottom, top), max(bottom, top)), src.nodata, src.tags()


@styled
def draw_map(
    tif: Path,
    png: Path,
    *,
    title: str,
    legend: Legend | None,
    class_label: Callable[[str], str],
    scale_label: Callable[[float, float], str],
    nodata_label: str,
    units_label: str = "",
    outlines: Sequence = (),
    focus: Sequence = (),
    context: Sequence = (),
    extent: tuple[float, float, float, float] | None = None,
    synthetic_label: str | None = None,
) -> Path:
    """Draw one map (class raster with its legend, or float raster with a colour bar) to ``png``.

    ``outlines``: geometries of the assessment's regions; ``focus``: the region of a profile page (drawn
    bold); ``context``: neighbouring countries (thin grey); ``extent``: (left, right, bottom, top) to show.
    """
    import shapely

    arr, bounds, nodata, _ = _read_map(tif, extent)
    ext = extent or bounds
    fig = _figure(map_size(ext))
    ax = fig.add_axes(MAP_AXES)
    if legend is not None:
        idx = np.full(arr.shape, -1, dtype=np.int16)
        for i, code in enumerate(legend.codes):
            idx[arr == code] = i
        data = np.ma.masked_less(idx, 0)
        cmap = ListedColormap([c.color for c in legend.classes])
        cmap.set_bad(NODATA_COLOR)
        ax.imshow(data, cmap=cmap, vmin=-0.5, vmax=len(legend.codes) - 0.5, extent=bounds, interpolation="nearest",
                  zorder=1)
        present = set(np.unique(arr).tolist())
        handles = [Patch(facecolor=c.color, edgecolor="#555555", label=class_label(c.name)) for c in legend.classes]
        if (nodata is not None and nodata in present) or CLASS_NODATA in present:
            handles.append(Patch(facecolor=NODATA_COLOR, edgecolor="#555555", label=nodata_label))
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    else:
        data = np.ma.masked_invalid(arr.astype("float64"))
        if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
            data = np.ma.masked_equal(data, nodata)
        cmap = matplotlib.colormaps["viridis"].with_extremes(bad=NODATA_COLOR)
        vmin, vmax = (np.nanpercentile(data.compressed(), [2, 98]) if data.count() else (0.0, 1.0))
        im = ax.imshow(data, cmap=cmap, vmin=vmin, vmax=vmax if vmax > vmin else vmin + 1e-9, extent=bounds,
                       interpolation="nearest", zorder=1)
        cb = fig.colorbar(im, cax=fig.add_axes(COLORBAR_AXES))
        if units_label:
            cb.set_label(units_label)
    box = shapely.box(ext[0] - 1.0, ext[2] - 1.0, ext[1] + 1.0, ext[3] + 1.0)
    _draw_outlines(ax, context, box, colors=CONTEXT_EDGE, linewidths=0.5, zorder=3)
    _draw_outlines(ax, outlines, box, colors=REGION_EDGE, linewidths=0.9, zorder=4)
    _draw_outlines(ax, focus, box, colors=FOCUS_EDGE, linewidths=2.0, zorder=4)
    ax.set_xlim(ext[0], ext[1])
    ax.set_ylim(ext[2], ext[3])
    ax.set_aspect(1.0 / max(math.cos(math.radians(0.5 * (ext[2] + ext[3]))), 0.1))
    ax.set_title(title, fontsize=10)
    ax.tick_params(labelsize=7)
    ax.set_xlabel("°E", fontsize=7)
    ax.set_ylabel("°N", fontsize=7)
    _scale_bar(ax, ext, scale_label)
    return _finish(fig, png, synthetic_label)


@styled
def draw_share_bars(
    t: pd.DataFrame,
    png: Path,
    *,
    rows: Sequence[tuple[str, str]],
    title: str,
    xlabel: str,
    class_label: Callable[[str], str],
    synthetic_label: str | None = None,
) -> Path:
    """Horizontal bars, one per region (``rows`` = [(region id, label)]), split by class share (%)."""
    colors = class_colors()
    classes = list(dict.fromkeys(t["class"].astype(str)))
    fig = _figure((CHART_SIZE_IN[0], max(2.4, 1.0 + 0.35 * len(rows))))
    ax = fig.add_axes(BARS_AXES)
    left = np.zeros(len(rows))
    for j, cls in enumerate(classes):
        vals = []
        for rid, _ in rows:
            s = t[(t["region"].astype(str) == rid) & (t["class"].astype(str) == cls)]
            vals.append(float(s["share_pct"].sum()))
        vals = np.array(vals)
        if not vals.any():
            continue
        ax.barh(range(len(rows)), vals, left=left, color=colors.get(cls, FALLBACK_COLORS[j % len(FALLBACK_COLORS)]),
                edgecolor="#555555", linewidth=0.3, label=class_label(cls))
        left += vals
    ax.set_yticks(range(len(rows)), [lab for _, lab in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    return _finish(fig, png, synthetic_label)


@styled
def draw_class_series(
    t: pd.DataFrame,
    png: Path,
    *,
    region_ids: Sequence[str],
    time_col: str,
    title: str,
    ylabel: str,
    class_label: Callable[[str], str],
    synthetic_label: str | None = None,
) -> Path:
    """Stacked areas of class shares (%) through time for a group of regions (area-weighted)."""
    colors = class_colors()
    s = t[t["region"].astype(str).isin(list(region_ids))]
    wide = s.pivot_table(index=time_col, columns="class", values="area_km2", aggfunc="sum", sort=False)
    order = [c for c in dict.fromkeys(s["class"].astype(str)) if c in wide.columns]
    wide = wide[order]
    share = wide.div(wide.sum(axis=1).replace(0, np.nan), axis=0) * 100.0
    fig = _figure(CHART_SIZE_IN)
    ax = fig.add_axes(SERIES_AXES)
    x = np.arange(len(share.index))
    ys = [share[c].fillna(0.0).to_numpy() for c in order]
    ax.stackplot(x, *ys, colors=[colors.get(c, FALLBACK_COLORS[i % len(FALLBACK_COLORS)]) for i, c in enumerate(order)],
                 labels=[class_label(c) for c in order], edgecolor="#555555", linewidth=0.2)
    step = max(1, len(x) // 12)
    ax.set_xticks(x[::step], [str(v) for v in share.index[::step]], fontsize=7, rotation=45)
    ax.set_ylim(0, 100)
    ax.set_xlim(x[0] - 0.5 if len(x) == 1 else x[0], x[-1] + 0.5 if len(x) == 1 else x[-1])
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    return _finish(fig, png, synthetic_label)


@styled
def draw_event_study(
    es: pd.DataFrame,
    png: Path,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    effect_label: str,
    ci_label: str,
    synthetic_label: str | None = None,
) -> Path:
    """Effect by year relative to the start (``rel_year``, ``effect``, ``ci_low``, ``ci_high``): the event study."""
    es = es.sort_values("rel_year")
    x = es["rel_year"].to_numpy(dtype=float)
    fig = _figure(CHART_SIZE_IN)
    ax = fig.add_axes(SERIES_AXES)
    ax.fill_between(x, es["ci_low"].to_numpy(dtype=float), es["ci_high"].to_numpy(dtype=float), color="#9ecae1",
                    alpha=0.6, label=ci_label, linewidth=0)
    ax.plot(x, es["effect"].to_numpy(dtype=float), "o-", color="#08519c", ms=3, lw=1.2, label=effect_label)
    ax.axhline(0.0, color="#444444", lw=0.8)
    ax.axvline(-0.5, color=SYNTHETIC_COLOR, lw=0.9, ls="--")
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    return _finish(fig, png, synthetic_label)
