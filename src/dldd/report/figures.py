"""Maps and charts of the report, drawn with matplotlib's Agg canvas (no pyplot state, no network).

Maps are read from the run's Cloud-Optimized GeoTIFFs, masked to the assessed regions (nothing is coloured
over the sea or over countries outside the assessment) and drawn in a Lambert azimuthal equal-area
projection centred on the map's extent (:func:`map_crs`), with the region outlines of
:mod:`dldd.regions.registry` (Natural Earth polygons shipped with dldd, or the spec's boundary file), the
report's colour-blind-safe class colours (:data:`REPORT_PALETTES`), a legend, a scale bar true at the map's
centre and the title. Change maps (:func:`is_change_map`) use a diverging scale centred on zero with a
robust stretch (:func:`diverging_limit`). Maps are written as 300 dpi PNG and, for the synthesis, as SVG.
Figures of synthetic runs carry the synthetic label.
"""

from __future__ import annotations

import functools
import glob
import math
import re
from dataclasses import dataclass, field
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
from matplotlib.patches import Rectangle
from rasterio.enums import Resampling

from dldd.core.legend import Legend, LegendClass
from dldd.pipeline.contracts import legend_from_json

#: Resolution of the charts and maps (print quality).
DPI = 300
#: Resolution of the maps of the region profiles (one page each; screen and PDF at page width).
PROFILE_DPI = 150
#: Resolution of the PNG of a chart that is also written as SVG (the SVG is the print version: the PDF shows it).
CHART_SCREEN_DPI = 150
#: Interpolation of the map rasters: "none" draws each cell as a square, the same pixels as "nearest" in the
#: PNG, while the SVG embeds the raster at its own size instead of resampled to the figure's 300 dpi (smaller
#: file, drawn in a fraction of the time; the viewer scales it without smoothing).
MAP_INTERPOLATION = "none"
#: zlib level of the PNG files (1: fast; the figures are small either way).
PNG_COMPRESS_LEVEL = 1
MAP_SIZE_IN = (7.2, 5.0)
CHART_SIZE_IN = (7.2, 4.2)
#: Height of one bar of the class-share charts (inches) and the most bars in one chart (longer lists are split
#: into several charts so that a chart fits one page at a readable size).
BAR_ROW_IN = 0.17
MAX_BAR_ROWS = 45
#: Maps take the height their aspect needs, within these bounds (inches).
MIN_MAP_HEIGHT_IN = 3.2
MAX_MAP_HEIGHT_IN = 7.5
#: Longest side of a map raster as drawn (pixels); larger rasters are read decimated (nearest).
MAX_MAP_PIXELS = 1200
#: Longest side of one panel of a profile's small multiples (pixels).
MAX_PANEL_PIXELS = 400
#: Share of a panel's width taken by the map (the rest holds its legend).
PANEL_MAP_SHARE = 0.62
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

#: The report's class colours by legend name, in the legend's class order. Colour-blind safe: degradation
#: runs brown, improvement blue-green (ColorBrewer BrBG), ordinal classes are one-hue lightness ramps
#: (YlOrBr), land cover uses the Okabe-Ito set; no red/green pair (tests/test_report.py checks every pair
#: under a simulated deuteranopia, Machado et al. 2009). Legends not listed keep their own colours.
REPORT_PALETTES = {
    "sdg3": ("#8c510a", "#f6e8c3", "#01665e"),
    "sdg_status7": ("#543005", "#a6611a", "#dfc27d", "#f5f0dc", "#80cdc1", "#018571", "#003c30"),
    "unccd_land_cover": ("#009e73", "#e69f00", "#f0e442", "#56b4e9", "#cc79a7", "#bfb197", "#0050a0"),
    "unccd_land_classes": ("#009e73", "#e69f00", "#f0e442", "#56b4e9", "#cc79a7", "#bfb197"),  # land: no water
    "aridity_zones": ("#662506", "#cc4c02", "#fe9929", "#fee391", "#2c7fb8"),
    "aridity_shift": ("#a6611a", "#f5f0dc", "#2c7fb8"),
    "so3_drought_intensity": ("#f7fcb9", "#fec44f", "#ec7014", "#993404", "#3d1502"),
    "medalus_quality": ("#01665e", "#f6e8c3", "#8c510a"),
    "medalus_esa": ("#2166ac", "#92c5de", "#fff7bc", "#fed250", "#fe9929", "#d95f0e", "#993404", "#4d1a02"),
    "dp_energy": ("#fff7bc", "#fe9929", "#993404"),
    "rdp_dp_directionality": ("#c6dbef", "#6baed6", "#08519c"),
    "sand_fixation_negative": ("#e0e0e0", "#8c510a"),
    "sand_k_roughness_capped": ("#e0e0e0", "#8c510a"),
}
#: Float maps drawn on a diverging scale centred on zero: changes, anomalies and standardised indices.
CHANGE_MAP = re.compile(r"(change|trend|slope|anomal|effect|^spi|^spei)", re.IGNORECASE)
#: Diverging colour map of change maps (brown = loss or drier, blue-green = gain or wetter; colour-blind safe).
DIVERGING_CMAP = "BrBG"
SEQUENTIAL_CMAP = "viridis"
#: Percentile of |value| that sets the diverging stretch (robust to outliers).
ROBUST_PERCENTILE = 98.0
#: Background outside the assessed regions (the sea and countries outside the spec are not coloured).
OUTSIDE_COLOR = "white"
def report_legend(leg: Legend) -> Legend:
    """``leg`` with the report's colours (:data:`REPORT_PALETTES`), codes and names unchanged."""
    colors = REPORT_PALETTES.get(leg.name)
    if colors is None:
        return leg
    if len(colors) != len(leg.classes):
        raise ValueError(f"report palette {leg.name!r} has {len(colors)} colours for {len(leg.classes)} classes")
    return Legend(leg.name, tuple(LegendClass(c.code, c.name, col) for c, col in zip(leg.classes, colors)),
                  leg.nodata, leg.description)


def legends(declared: dict) -> dict[str, Legend]:
    """Legend name -> legend with the report's colours, for every legend the run declares for its maps,
    tables and products (``contracts.json``, :mod:`dldd.pipeline.contracts`); those with a report palette
    first (class colours by name are then the palette's)."""
    found: dict[str, Legend] = {}
    for kind in ("maps", "tables", "products"):
        for d in declared.get(kind, {}).values():
            leg = legend_from_json(d.get("legend"))
            if leg is not None:
                found.setdefault(leg.name, report_legend(leg))
    rank = {name: i for i, name in enumerate(REPORT_PALETTES)}
    return dict(sorted(found.items(), key=lambda kv: rank.get(kv[0], len(rank))))


def legend_for_map(name: str, tags: dict, declared: dict) -> Legend | None:
    """The legend of map ``name`` as its stage declares it (``declared``: the run's ``contracts.json``), with
    the report's colours; a map without a declared legend but with CF flags gets one from its tags."""
    d = declared.get("maps", {}).get(name) or {}
    if d.get("legend"):
        return report_legend(legend_from_json(d["legend"]))
    if "flag_values" in tags and "flag_meanings" in tags:
        codes = [int(c) for c in tags["flag_values"].strip("[]").replace(",", " ").split()]
        names = [m.replace("_", " ") for m in tags["flag_meanings"].split()]
        return Legend.from_pairs(name, [(c, n, FALLBACK_COLORS[i % len(FALLBACK_COLORS)])
                                        for i, (c, n) in enumerate(zip(codes, names))])
    return None


def class_colors(legs) -> dict[str, str]:
    """Class name -> colour over ``legs`` (legends, first legend wins)."""
    out: dict[str, str] = {"no data": NODATA_COLOR}
    for leg in legs:
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


def _finish(fig: Figure, path: Path, synthetic_label: str | None, *, dpi: int = DPI, svg: bool = False) -> Path:
    if synthetic_label:
        fig.text(0.995, 0.005, synthetic_label, ha="right", va="bottom", fontsize=8, color=SYNTHETIC_COLOR,
                 fontweight="bold")
    return save_figure(fig, path, dpi=dpi, svg=svg)


def save_figure(fig: Figure, path: Path, *, dpi: int = DPI, svg: bool = False) -> Path:
    """Write ``fig`` to ``path`` (PNG at ``dpi``; also ``path`` with suffix .svg when ``svg``), each whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    fig.savefig(tmp, format="png", dpi=dpi, facecolor="white", pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    tmp.replace(path)
    if svg:
        svg_path = path.with_suffix(".svg")
        tmp = svg_path.with_name(svg_path.name + ".part")
        fig.savefig(tmp, format="svg", dpi=dpi, facecolor="white")
        tmp.replace(svg_path)
    return path


def nice_length(x: float) -> float:
    """The largest of 1, 2, 5 x 10^k not above ``x`` (x > 0)."""
    k = math.floor(math.log10(x))
    for m in (5, 2, 1):
        if m * 10**k <= x:
            return m * 10**k
    return 10**k


@functools.lru_cache(maxsize=8)
def map_crs(extent) -> "pyproj.CRS":
    """Lambert azimuthal equal-area projection centred on ``extent`` = (left, right, bottom, top), lon/lat.

    Equal-area everywhere (areas on the map compare truly); distances are true at the centre and
    distorted by less than 1 % within about 1,600 km of it (Snyder 1987, Map Projections - A Working
    Manual, USGS PP 1395, ch. 24)."""
    import pyproj

    lon0 = 0.5 * (extent[0] + extent[1])
    lat0 = 0.5 * (extent[2] + extent[3])
    return pyproj.CRS.from_proj4(f"+proj=laea +lat_0={lat0:.4f} +lon_0={lon0:.4f} +x_0=0 +y_0=0 "
                                 "+ellps=WGS84 +units=m +no_defs")


def map_size(aspect: float) -> tuple[float, float]:
    """Figure size (inches) for a map whose projected height / width is ``aspect``."""
    axes_w = MAP_SIZE_IN[0] * MAP_AXES[2]
    height = min(max(axes_w * aspect / MAP_AXES[3], MIN_MAP_HEIGHT_IN), MAX_MAP_HEIGHT_IN)
    return MAP_SIZE_IN[0], height


def _projected_lines(geoms, box, transformer) -> list[np.ndarray]:
    """Boundary lines of the geometries, clipped to ``box`` (lon/lat polygon) and projected, as (n, 2) arrays."""
    import shapely

    segs = []
    for g in geoms:
        b = shapely.intersection(g.boundary, box)
        for part in getattr(b, "geoms", [b]):
            if part.is_empty or part.geom_type not in ("LineString", "LinearRing"):
                continue
            xy = np.asarray(part.coords)[:, :2]
            x, y = transformer.transform(xy[:, 0], xy[:, 1])
            segs.append(np.column_stack([x, y]))
    return segs


def _read_map(path: Path, extent=None, max_pixels: int = MAX_MAP_PIXELS):
    """The raster (or the part of it covering ``extent`` = (left, right, bottom, top)), read at most
    :data:`MAX_MAP_PIXELS` on its longest side (nearest neighbour), with the transform of what was read."""
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
        scale = max(window.width, window.height) / max_pixels
        shape = ((int(window.height), int(window.width)) if scale <= 1
                 else (max(1, int(window.height / scale)), max(1, int(window.width / scale))))
        arr = src.read(1, window=window, out_shape=shape, resampling=Resampling.nearest, masked=False)
        transform = src.window_transform(window) * rasterio.Affine.scale(window.width / shape[1],
                                                                          window.height / shape[0])
        return arr, transform, src.crs, src.nodata


def diverging_limit(values: np.ndarray) -> float:
    """Half-width of a diverging colour scale centred on zero: the :data:`ROBUST_PERCENTILE` percentile of
    |value|, or the largest |value| when that percentile is zero (most pixels unchanged), or 1 when every
    value is zero. Never zero, so a map with changes never shows them as no change."""
    a = np.abs(np.asarray(values, dtype="float64"))
    a = a[np.isfinite(a)]
    if not a.size:
        return 1.0
    lim = float(np.percentile(a, ROBUST_PERCENTILE))
    if lim <= 0:
        lim = float(a.max())
    return lim if lim > 0 else 1.0


def sequential_limits(values: np.ndarray) -> tuple[float, float]:
    """2nd and 98th percentiles of the finite values, widened to the full range (then to +-0.5) when they meet."""
    a = np.asarray(values, dtype="float64")
    a = a[np.isfinite(a)]
    if not a.size:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(a, [2, 98]))
    if hi <= lo:
        lo, hi = float(a.min()), float(a.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return lo, hi


def is_change_map(name: str) -> bool:
    """Float maps of changes, anomalies and standardised indices (drawn on a diverging scale)."""
    return bool(CHANGE_MAP.search(name))


def _project(arr: np.ndarray, transform, src_crs, dst_crs, dst_transform, shape) -> np.ndarray:
    """``arr`` (float, NaN = nothing) warped to the map grid by nearest neighbour."""
    from rasterio.warp import reproject

    out = np.full(shape, np.nan, dtype="float64")
    reproject(arr.astype("float64"), out, src_transform=transform, src_crs=src_crs or "EPSG:4326",
              src_nodata=np.nan, dst_transform=dst_transform, dst_crs=dst_crs, dst_nodata=np.nan,
              resampling=Resampling.nearest)
    return out


@dataclass
class MapLayer:
    """One raster layer of a map: its file, title, legend (class maps) or scale (float maps)."""

    tif: Path
    title: str
    legend: Legend | None = None
    class_labels: dict = field(default_factory=dict)
    units_label: str = ""
    diverging: bool = False


@functools.lru_cache(maxsize=8)
def _to_map(crs) -> "pyproj.Transformer":
    from pyproj import Transformer

    return Transformer.from_crs("EPSG:4326", crs, always_xy=True)


def _prepare_layer(tif: Path, legend: Legend | None, extent, assessed, max_pixels: int, masks: dict | None = None):
    """The layer masked to the ``assessed`` geometries and warped to :func:`map_crs` of the view.

    Returns (data, land, image extent, xlim, ylim, lon/lat -> map transformer, view extent): ``data`` holds
    class indices into ``legend`` (class maps) or values, NaN where nothing is drawn; ``land`` is 1 on the
    assessed regions, NaN elsewhere. ``masks``: a dict shared by the layers of one figure, where the mask, the
    map grid and the land of each raster grid are kept (computed once for the layers on that grid)."""
    import shapely
    from rasterio.features import geometry_mask
    from rasterio.warp import calculate_default_transform

    arr, transform, src_crs, nodata = _read_map(tif, extent, max_pixels)
    rows, cols = arr.shape
    left, top = transform * (0, 0)
    right, bottom = transform * (cols, rows)
    bounds = (left, right, min(bottom, top), max(bottom, top))
    ext = extent or bounds
    if legend is not None:
        values = np.full(arr.shape, np.nan)
        for i, code in enumerate(legend.codes):
            values[arr == code] = i
    else:
        values = arr.astype("float64")
        if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
            values[arr == nodata] = np.nan
    key = (tuple(transform), arr.shape, str(src_crs), tuple(ext))
    grid = None if masks is None else masks.get(key)
    if grid is None:  # the mask, the map grid and the land of this raster grid: once for the layers sharing it
        inside = (geometry_mask(assessed, out_shape=arr.shape, transform=transform, invert=True)
                  if assessed else np.ones(arr.shape, dtype=bool))
        crs = map_crs(tuple(ext))
        dst_transform, width, height = calculate_default_transform(
            src_crs or "EPSG:4326", crs, cols, rows, left=bounds[0], bottom=bounds[2], right=bounds[1], top=bounds[3])
        scale = max(width, height) / max_pixels
        if scale > 1:
            width, height = max(1, int(width / scale)), max(1, int(height / scale))
            dst_transform = dst_transform * rasterio.Affine.scale(scale)
        land = _project(np.where(inside, 1.0, np.nan), transform, src_crs, crs, dst_transform, (height, width))
        to_map = _to_map(crs)
        view = shapely.segmentize(shapely.box(ext[0], ext[2], ext[1], ext[3]), 0.25)
        vx, vy = to_map.transform(*np.asarray(view.exterior.coords).T)
        x0, y0 = dst_transform * (0, 0)
        x1, y1 = dst_transform * (width, height)
        grid = (inside, crs, dst_transform, land, (min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)),
                (float(np.min(vx)), float(np.max(vx))), (float(np.min(vy)), float(np.max(vy))), to_map)
        if masks is not None:
            masks[key] = grid
    inside, crs, dst_transform, land, img_extent, xlim, ylim, to_map = grid
    values[~inside] = np.nan
    data = _project(values, transform, src_crs, crs, dst_transform, land.shape)
    return data, land, img_extent, xlim, ylim, to_map, ext


# --- one figure, several languages ----------------------------------------------------------------------------------
# A map or chart is drawn as two layers: what is the same in every language (the rasters, outlines, bars, the
# scale bar's line) and the words of one language (titles, legends, colour bars, labels, notes), drawn on a
# transparent figure of the same size with the same axes. The first layer is rendered once; each language's
# words are rendered over it. The PNG is the two layers composited; the SVG is the first layer's SVG with the
# words' SVG appended (drawn over it).

#: Words of one language among the keyword arguments of the figure functions that draw several languages at once
#: (``translations``); everything else of such a figure is drawn once (:func:`merge_language_jobs`).
LANGUAGE_WORDS = {
    "draw_map": ("title", "class_labels", "units_label", "scale_label", "nodata_label", "note", "synthetic_label"),
    "draw_map_panels": ("layers", "scale_label", "nodata_label", "note", "synthetic_label"),
    "draw_share_bars": ("rows", "title", "xlabel", "class_labels", "synthetic_label"),
}
#: Characters a line of CJK text may break after (ideographs, kana, full-width forms and punctuation).
_CJK = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f"
_TOKENS = re.compile(rf"[{_CJK}]|[^\s{_CJK}]+\s*|\s+")
_SVG_IDS = re.compile(r'(\bid="|xlink:href="#|url\(#)')


def _words_figure(size) -> Figure:
    """A transparent figure for the words of one language."""
    fig = _figure(size)
    fig.patch.set_visible(False)
    return fig


def _rgba(fig: Figure, dpi: float) -> np.ndarray:
    """``fig`` rendered by Agg at ``dpi``: (rows, columns, 4) uint8, straight (not premultiplied) alpha."""
    fig.set_dpi(dpi)
    fig.canvas.draw()
    return np.array(fig.canvas.buffer_rgba())


def _over(top: np.ndarray, under: np.ndarray) -> np.ndarray:
    """RGB of ``top`` (RGBA, straight alpha) composited over the opaque ``under``: c = a c_top + (1 - a) c_under,
    rounded; computed only where ``top`` is not transparent (the words cover a small part of a figure)."""
    out = np.ascontiguousarray(under[..., :3])
    rows, cols = np.nonzero(top[..., 3])
    a = top[rows, cols, 3:4].astype(np.uint32)
    out[rows, cols] = ((top[rows, cols, :3] * a + out[rows, cols] * (255 - a) + 127) // 255).astype(np.uint8)
    return out


def _write_png(rgb: np.ndarray, path: Path, dpi: float) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    Image.fromarray(rgb, "RGB").save(tmp, format="png", dpi=(dpi, dpi), compress_level=PNG_COMPRESS_LEVEL)
    tmp.replace(path)


def _svg_text(fig: Figure, dpi: float) -> str:
    import io

    buf = io.StringIO()
    fig.savefig(buf, format="svg", dpi=dpi)
    return buf.getvalue()


def svg_over(under: str, top: str, prefix: str = "w-") -> str:
    """The matplotlib SVG ``top`` (a figure of the same size) drawn over the SVG ``under``: top's figure group and
    definitions appended to under's document, every id of top (and each reference to it) prefixed with ``prefix``
    so that none collides with an id of ``under``."""
    top = _SVG_IDS.sub(rf"\g<1>{prefix}", top)
    start, end, cut = top.index(f'<g id="{prefix}figure_1">'), top.rindex("</svg>"), under.rindex("</svg>")
    return under[:cut] + top[start:end] + under[cut:]


def _write_versions(under: Figure, words: Callable[[dict], Figure], versions: Sequence[dict], *, dpi: float,
                    svg: bool = False) -> list[Path]:
    """Render ``under`` once and, for each version (``png`` and the words of one language), ``words(version)``
    over it: the PNG (RGB, ``dpi``) and, when ``svg``, the SVG beside it, each written whole or not at all."""
    from dldd.core import io as dio

    base = _rgba(under, dpi)
    base_svg = _svg_text(under, dpi) if svg else None
    out = []
    for v in versions:
        fig = words(v)
        png = Path(v["png"])
        _write_png(_over(_rgba(fig, dpi), base), png, dpi)
        if svg:
            with dio.atomic_path(png.with_suffix(".svg")) as tmp:
                Path(tmp).write_text(svg_over(base_svg, _svg_text(fig, dpi)), encoding="utf-8")
        out.append(png)
    return out


def _versions(primary: dict, translations: Sequence[dict], words: Sequence[str]) -> list[dict]:
    """The figure's versions: ``primary`` (``png`` and its words), then each translation (``png`` and its words;
    a word it does not give is the primary's)."""
    unknown = {k for t in translations for k in t} - {"png", *words}
    if unknown:
        raise ValueError(f"translations: {sorted(unknown)} are not words of this figure (expected {list(words)})")
    return [primary, *({**primary, **t} for t in translations)]


def wrap_text(text: str, fig: Figure, fontsize: float, width: float) -> str:
    """``text`` broken into lines no wider than ``width`` (a share of the figure's width) at ``fontsize`` in the
    report's fonts: greedy, at spaces, and between CJK characters (which have no spaces). Each word is measured
    once (matplotlib's ``wrap=True`` measures the growing line again for every word)."""
    from matplotlib.font_manager import FontProperties

    if not text:
        return text
    renderer = fig.canvas.get_renderer()
    prop = FontProperties(family=matplotlib.rcParams["font.family"], size=fontsize)
    limit = width * fig.get_figwidth() * fig.dpi

    def w(s: str) -> float:
        return renderer.get_text_width_height_descent(s, prop, ismath=False)[0]

    space = w("a a") - w("aa")
    lines, line, used = [], "", 0.0
    for tok in _TOKENS.findall(" ".join(text.split())):
        word = tok.rstrip()
        if not word:
            line, used = line + tok, used + space * len(tok)
            continue
        width_word = w(word)
        if line.strip() and used + width_word > limit:
            lines.append(line.rstrip())
            line, used = "", 0.0
        line, used = line + tok, used + width_word + space * (len(tok) - len(word))
    if line.strip():
        lines.append(line.rstrip())
    return "\n".join(lines)


def _footer(fig: Figure, note: str, synthetic_label: str | None, *, y: float, fontsize: float) -> None:
    """The boundary note (wrapped to the figure's width) at height ``y`` and the synthetic label."""
    if note:
        fig.text(0.01, y, wrap_text(note, fig, fontsize, 0.98), ha="left", va="bottom", fontsize=fontsize,
                 color="#444444")
    if synthetic_label:
        fig.text(0.995, 0.005, synthetic_label, ha="right", va="bottom", fontsize=8, color=SYNTHETIC_COLOR,
                 fontweight="bold")


# --- maps -----------------------------------------------------------------------------------------------------------
def _map_axes(fig: Figure, box, prepared):
    """Axes of a map at ``box`` (figure fractions) with the prepared layer's limits, equal aspect, no ticks."""
    ax = fig.add_axes(box)
    ax.set_xlim(*prepared[3])
    ax.set_ylim(*prepared[4])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_facecolor(OUTSIDE_COLOR)
    return ax


def _outline_lines(outlines, focus, context, ext, to_map) -> tuple[list, list, list]:
    """Projected boundary lines of the context countries, the assessed regions and the focus region, clipped to the
    view ``ext`` (left, right, bottom, top) with a 1 degree margin: computed once per figure."""
    import shapely

    box = shapely.box(ext[0] - 1.0, ext[2] - 1.0, ext[1] + 1.0, ext[3] + 1.0)
    return tuple(_projected_lines(g, box, to_map) for g in (context, outlines, focus))


def _scale_bar_place(xlim, ylim) -> tuple[float, float, float]:
    """Length (km, :func:`nice_length` of :data:`SCALE_BAR_SHARE` of the map width) and start (x, y) of the scale bar."""
    km = nice_length(SCALE_BAR_SHARE * (xlim[1] - xlim[0]) / 1000.0)
    return km, xlim[0] + 0.04 * (xlim[1] - xlim[0]), ylim[0] + 0.05 * (ylim[1] - ylim[0])


def _layer_scale(layer: MapLayer, data: np.ndarray):
    """(vmin, vmax, colour map) of a float layer: centred diverging (:func:`diverging_limit`) or sequential."""
    finite = data[np.isfinite(data)]
    if layer.diverging:
        lim = diverging_limit(finite)
        return -lim, lim, matplotlib.colormaps[DIVERGING_CMAP]
    lo, hi = sequential_limits(finite)
    return lo, hi, matplotlib.colormaps[SEQUENTIAL_CMAP]


def _draw_layer_once(fig, ax, layer: MapLayer, prepared, lines, colorbar_box, fontsize: float = 7):
    """What a map shows in every language: grey no-data land, the classes or values, the outlines (``lines`` of
    :func:`_outline_lines`), the scale bar's line and, for a float layer, the colour bar (its ticks are numbers)
    in a new axes at ``colorbar_box`` (figure fractions). Returns the colour bar or None."""
    data, land, img_extent, xlim, ylim = prepared[:5]
    ax.imshow(np.ma.masked_invalid(land), cmap=ListedColormap([NODATA_COLOR]), extent=img_extent,
              interpolation=MAP_INTERPOLATION, zorder=1)
    cb = None
    if layer.legend is not None:
        cmap = ListedColormap([c.color for c in layer.legend.classes])
        ax.imshow(np.ma.masked_invalid(data), cmap=cmap, vmin=-0.5, vmax=len(layer.legend.codes) - 0.5,
                  extent=img_extent, interpolation=MAP_INTERPOLATION, zorder=2)
    else:
        vmin, vmax, cmap = _layer_scale(layer, data)
        im = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, vmin=vmin, vmax=vmax, extent=img_extent,
                       interpolation=MAP_INTERPOLATION, zorder=2)
        cb = fig.colorbar(im, cax=fig.add_axes(colorbar_box), extend="both")
        cb.ax.tick_params(labelsize=fontsize)
    for segs, color, width, z in zip(lines, (CONTEXT_EDGE, REGION_EDGE, FOCUS_EDGE), (0.4, 0.6, 1.4), (3, 4, 5)):
        if segs:
            ax.add_collection(LineCollection(segs, colors=color, linewidths=width, zorder=z), autolim=False)
    km, x0, y0 = _scale_bar_place(xlim, ylim)
    ax.plot([x0, x0 + km * 1000.0], [y0, y0], color="black", lw=3, solid_capstyle="butt", zorder=6)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    return cb


def _fraction(fig: Figure, pixels: float, axis: int = 0) -> float:
    """A length in pixels of ``fig`` as drawn, as a share of its width (``axis`` 0) or height (1)."""
    return pixels / (fig.bbox.width if axis == 0 else fig.bbox.height)


def _points(fig: Figure, pt: float, axis: int = 1) -> float:
    """``pt`` points as a share of the figure's width (``axis`` 0) or height (1)."""
    return pt / 72.0 / (fig.get_figwidth() if axis == 0 else fig.get_figheight())


def _title(fig: Figure, pos, text: str, fontsize: float, *, left: bool = False) -> None:
    """A title above the axes box ``pos`` (figure fractions): centred, or from its left edge."""
    fig.text(pos.x0 if left else 0.5 * (pos.x0 + pos.x1), pos.y1 + _points(fig, 0.5 * fontsize), text,
             ha="left" if left else "center", va="bottom", fontsize=fontsize)


def class_legend(fig: Figure, x: float, y: float, entries: Sequence[tuple[str, str]], fontsize: float, *,
                 linewidth: float = 1.0) -> None:
    """Class swatches and their labels (``entries``: (colour, label)), one per row, down from the top left corner
    (``x``, ``y``; figure fractions), spaced as matplotlib's legend spaces them (in font sizes: a margin of 0.5,
    swatches 2.0 x 0.7, rows 0.5 apart, 0.8 between swatch and label) but drawn as plain patches and texts: the
    legend's layout engine took a third of the time of a figure's words."""
    w, h = (lambda pt: _points(fig, pt, 0)), (lambda pt: _points(fig, pt, 1))
    x0, top = x + w(0.5 * fontsize), y - h(0.5 * fontsize)
    row = 1.2 * fontsize + 0.5 * fontsize  # one line and the spacing, in points
    for i, (color, label) in enumerate(entries):
        yc = top - h(i * row + 0.6 * fontsize)
        fig.add_artist(Rectangle((x0, yc - h(0.35 * fontsize)), w(2.0 * fontsize), h(0.7 * fontsize),
                                 transform=fig.transFigure, facecolor=color, edgecolor="#555555", linewidth=linewidth))
        fig.text(x0 + w(2.8 * fontsize), yc, label, ha="left", va="center", fontsize=fontsize)


def _draw_layer_words(fig: Figure, under: Figure, ax, cb, layer: MapLayer, prepared, *, scale_label: str,
                      nodata_label: str, legend_box, fontsize: float = 7) -> None:
    """The words of one map in one language, placed on the transparent figure ``fig`` where the map ``ax`` of the
    drawn figure ``under`` put them: the title, the class legend at ``legend_box`` (axes fractions) or the colour
    bar's units beside its numbers (``cb``), and the scale bar's length."""
    data, land, _, xlim, ylim = prepared[:5]
    pos = ax.get_position()  # as drawn: the box shrunk to the map's aspect
    if layer.legend is not None:
        entries = [(c.color, layer.class_labels.get(c.name, c.name)) for c in layer.legend.classes]
        if bool(np.any(np.isnan(data) & np.isfinite(land))):
            entries.append((NODATA_COLOR, nodata_label))
        class_legend(fig, pos.x0 + legend_box[0] * pos.width, pos.y0 + legend_box[1] * pos.height, entries, fontsize)
    elif cb is not None and layer.units_label:
        numbers = cb.ax.get_tightbbox(under.canvas.get_renderer())
        cpos = cb.ax.get_position()
        fig.text(_fraction(under, numbers.x1) + _points(fig, 2, 0), 0.5 * (cpos.y0 + cpos.y1), layer.units_label,
                 rotation=90, ha="left", va="center", fontsize=fontsize)
    if fontsize >= 7:
        _title(fig, pos, layer.title, fontsize + 3)
    else:  # small multiples: titles start at the map's left edge and may run over its legend
        _title(fig, pos, layer.title, fontsize + 1.5, left=True)
    km, x0, y0 = _scale_bar_place(xlim, ylim)
    x, y = under.transFigure.inverted().transform(ax.transData.transform((x0, y0 + 0.015 * (ylim[1] - ylim[0]))))
    fig.text(x, y, scale_label.format(km=f"{km:,.0f}" if km >= 1 else f"{km:g}"), ha="left", va="bottom",
             fontsize=fontsize, bbox=dict(facecolor="white", alpha=0.8, edgecolor="none", pad=1))


def _require_disclaimer(note: str) -> None:
    """Every map carries the boundary disclaimer (the report's ``map_disclaimer``): a map without one is refused."""
    if not str(note or "").strip():
        raise ValueError("a map must carry the boundary disclaimer: give note= (the report's map_disclaimer)")


def _assessed(outlines, focus) -> list:
    return [g for g in (*outlines, *focus) if g is not None and not g.is_empty]


@styled
def draw_map(
    tif: Path,
    png: Path,
    *,
    title: str,
    legend: Legend | None,
    class_labels: dict[str, str],
    scale_label: str,
    nodata_label: str,
    units_label: str = "",
    diverging: bool = False,
    outlines: Sequence = (),
    focus: Sequence = (),
    context: Sequence = (),
    extent: tuple[float, float, float, float] | None = None,
    note: str = "",
    synthetic_label: str | None = None,
    dpi: int = DPI,
    svg: bool = False,
    translations: Sequence[dict] = (),
) -> Path:
    """Draw one map (class raster with its legend, or float raster with a colour bar) to ``png``.

    ``outlines``: lon/lat geometries of the assessment's regions (the map is masked to them and to
    ``focus``); ``focus``: the region of a profile page (drawn bold); ``context``: neighbouring countries
    (thin grey, not coloured); ``extent``: (left, right, bottom, top) in lon/lat to show; ``diverging``:
    a float map drawn on a scale centred on zero (:func:`diverging_limit`); ``scale_label``: the scale
    bar's text with a ``{km}`` placeholder; ``note``: small text under the map (the boundary disclaimer).
    Drawn in :func:`map_crs` of the extent, at ``dpi``; ``svg`` also writes an SVG beside the PNG.
    ``translations``: the same map in other languages, each a dict of ``png`` and the words that differ
    (:data:`LANGUAGE_WORDS`); the raster, outlines and scale bar are drawn once for all.
    """
    primary = dict(png=png, title=title, class_labels=class_labels, units_label=units_label, scale_label=scale_label,
                   nodata_label=nodata_label, note=note, synthetic_label=synthetic_label)
    versions = _versions(primary, translations, LANGUAGE_WORDS["draw_map"])
    for v in versions:
        _require_disclaimer(v["note"])
    layer = MapLayer(Path(tif), title, legend, class_labels, units_label, diverging)
    prepared = _prepare_layer(layer.tif, legend, extent, _assessed(outlines, focus), MAX_MAP_PIXELS)
    xlim, ylim = prepared[3], prepared[4]
    size = map_size((ylim[1] - ylim[0]) / max(xlim[1] - xlim[0], 1.0))
    under = _figure(size)
    ax = _map_axes(under, MAP_AXES, prepared)
    cb = _draw_layer_once(under, ax, layer, prepared, _outline_lines(outlines, focus, context, prepared[6], prepared[5]),
                          COLORBAR_AXES)

    def words(v: dict) -> Figure:
        fig = _words_figure(size)
        _draw_layer_words(fig, under, ax, cb, MapLayer(layer.tif, v["title"], legend, v["class_labels"],
                                                       v["units_label"], diverging),
                          prepared, scale_label=v["scale_label"], nodata_label=v["nodata_label"], legend_box=(1.01, 1.0))
        _footer(fig, v["note"], v["synthetic_label"], y=0.035, fontsize=5.5)
        return fig

    return _write_versions(under, words, versions, dpi=dpi, svg=svg)[0]


@styled
def draw_map_panels(
    png: Path,
    *,
    layers: Sequence[MapLayer],
    scale_label: str,
    nodata_label: str,
    outlines: Sequence = (),
    focus: Sequence = (),
    context: Sequence = (),
    extent: tuple[float, float, float, float] | None = None,
    note: str = "",
    synthetic_label: str | None = None,
    dpi: int = PROFILE_DPI,
    translations: Sequence[dict] = (),
) -> Path:
    """Several maps of one place as small multiples (two per row), each with its own title and legend:
    the maps of a profile page, drawn as one figure (one projection, one outline pass, one file).
    ``translations``: as for :func:`draw_map`; a translation's ``layers`` are the same layers with their words
    (title, class labels, units) in its language."""
    primary = dict(png=png, layers=layers, scale_label=scale_label, nodata_label=nodata_label, note=note,
                   synthetic_label=synthetic_label)
    versions = _versions(primary, translations, LANGUAGE_WORDS["draw_map_panels"])
    for v in versions:
        _require_disclaimer(v["note"])
        if [(x.tif, x.legend, x.diverging) for x in v["layers"]] != [(x.tif, x.legend, x.diverging) for x in layers]:
            raise ValueError("translations: a translation's layers must be the same maps as the primary's")
    assessed = _assessed(outlines, focus)
    n = len(layers)
    ncols = 2 if n > 1 else 1
    nrows = math.ceil(n / ncols)
    masks: dict = {}
    prepared = [_prepare_layer(layer.tif, layer.legend, extent, assessed, MAX_PANEL_PIXELS, masks) for layer in layers]
    xlim, ylim = prepared[0][3], prepared[0][4]
    aspect = (ylim[1] - ylim[0]) / max(xlim[1] - xlim[0], 1.0)
    map_w = MAP_SIZE_IN[0] / ncols * PANEL_MAP_SHARE
    map_h = min(max(map_w * aspect, 1.2), 3.2)
    title_h, gap_h, top_h, foot_h = 0.3, 0.15, 0.05, 0.35  # inches
    height = top_h + nrows * (title_h + map_h + gap_h) + foot_h
    size = (MAP_SIZE_IN[0], height)
    boxes = []
    for i in range(n):
        r, c = divmod(i, ncols)
        left = c / ncols + 0.01
        bottom = (height - (top_h + r * (title_h + map_h + gap_h) + title_h + map_h)) / height
        w, h = PANEL_MAP_SHARE / ncols - 0.01, map_h / height
        boxes.append(((left, bottom, w, h), (left + w + 0.01, bottom + 0.1 * h, 0.012, 0.8 * h)))
    lines = _outline_lines(outlines, focus, context, prepared[0][6], prepared[0][5])  # one view: the same lines
    under = _figure(size)
    drawn = []  # (axes, colour bar) of each panel
    for layer, prep, (box, cbar) in zip(layers, prepared, boxes):
        ax = _map_axes(under, box, prep)
        drawn.append((ax, _draw_layer_once(under, ax, layer, prep, lines, cbar, fontsize=5.5)))

    def words(v: dict) -> Figure:
        fig = _words_figure(size)
        for layer, prep, (ax, cb) in zip(v["layers"], prepared, drawn):
            _draw_layer_words(fig, under, ax, cb, layer, prep, scale_label=v["scale_label"],
                              nodata_label=v["nodata_label"], legend_box=(1.0, 1.0), fontsize=5.5)
        _footer(fig, v["note"], v["synthetic_label"], y=0.2 / height, fontsize=5)
        return fig

    return _write_versions(under, words, versions, dpi=dpi)[0]


# --- charts ---------------------------------------------------------------------------------------------------------
@styled
def draw_share_bars(
    t: pd.DataFrame,
    png: Path,
    *,
    rows: Sequence[tuple[str, str]],
    title: str,
    xlabel: str,
    class_labels: dict[str, str],
    synthetic_label: str | None = None,
    share_column: str = "share_pct",
    colors: dict[str, str] | None = None,
    svg: bool = False,
    dpi: int = DPI,
    translations: Sequence[dict] = (),
) -> Path:
    """Horizontal bars, one per region (``rows`` = [(region id, label)]), split by class share (%) read from
    ``share_column`` (the table's denominator: ``share_of_land_pct`` or ``share_pct``).

    The figure grows by :data:`BAR_ROW_IN` per row (8 pt labels stay readable at page width); callers
    split long lists (:data:`MAX_BAR_ROWS`). ``colors``: class name -> colour (:func:`class_colors`). ``svg``
    also writes the SVG; ``dpi``: of the PNG (e.g. :data:`CHART_SCREEN_DPI` when the SVG is the print version).
    ``translations``: as for :func:`draw_map` (the bars are drawn once; a translation's ``rows`` are the same
    regions with their names in its language)."""
    primary = dict(png=png, rows=rows, title=title, xlabel=xlabel, class_labels=class_labels,
                   synthetic_label=synthetic_label)
    versions = _versions(primary, translations, LANGUAGE_WORDS["draw_share_bars"])
    ids = [rid for rid, _ in rows]
    for v in versions:
        if [rid for rid, _ in v["rows"]] != ids:
            raise ValueError("translations: a translation's rows must be the same regions in the same order")
    colors = colors or {}
    classes = list(dict.fromkeys(t["class"].astype(str)))
    height = max(2.4, 1.2 + BAR_ROW_IN * len(rows))
    box = (BARS_AXES[0], 0.75 / height, BARS_AXES[2], 1.0 - 1.2 / height)
    sums = t[share_column].groupby([t["class"].astype(str), t["region"].astype(str)]).sum()  # NaN counts as 0
    drawn = []  # (class, colour) of the classes with a bar
    under = _figure((CHART_SIZE_IN[0], height))
    ax = under.add_axes(box)
    left = np.zeros(len(rows))
    for j, cls in enumerate(classes):
        vals = np.array([float(sums.get((cls, rid), 0.0)) for rid in ids])
        if not vals.any():
            continue
        color = colors.get(cls, FALLBACK_COLORS[j % len(FALLBACK_COLORS)])
        ax.barh(range(len(rows)), vals, left=left, color=color, edgecolor="#555555", linewidth=0.3)
        drawn.append((cls, color))
        left += vals

    ax.set_ylim(len(rows) - 0.5, -0.5)  # the first row on top
    ax.set_xlim(0, 100)
    ax.set_yticks([])
    ax.tick_params(axis="x", labelsize=8)

    def words(v: dict) -> Figure:
        fig = _words_figure((CHART_SIZE_IN[0], height))
        pos = ax.get_position()
        to_fig = under.transFigure.inverted()  # fractions of the figure as drawn (its dpi)
        x = pos.x0 - _points(fig, 3, 0)
        for i, (_, label) in enumerate(v["rows"]):
            fig.text(x, to_fig.transform(ax.transData.transform((0.0, i)))[1], label, ha="right", va="center", fontsize=8)
        numbers = ax.xaxis.get_tightbbox(under.canvas.get_renderer())
        fig.text(0.5 * (pos.x0 + pos.x1), _fraction(under, numbers.y0, 1) - _points(fig, 2), v["xlabel"],
                 ha="center", va="top", fontsize=8)
        _title(fig, pos, v["title"], 10)
        class_legend(fig, pos.x1 + 0.01 * pos.width, pos.y1, [(col, v["class_labels"].get(cls, cls)) for cls, col in drawn],
                     7, linewidth=0.3)
        _footer(fig, "", v["synthetic_label"], y=0.0, fontsize=8)
        return fig

    return _write_versions(under, words, versions, dpi=dpi, svg=svg)[0]


def merge_language_jobs(jobs_by_lang: dict[str, list]) -> list:
    """The figure jobs ((function, positional arguments, keyword arguments), the output file last among the
    positional arguments) of several languages' builds of one report as one list: the jobs of a figure that can
    draw several languages at once (:data:`LANGUAGE_WORDS`) and that differs between the languages only in its
    words and file become one job of the first language with the others as ``translations``; every other job
    is kept as it is."""
    langs = list(jobs_by_lang)
    if len(langs) < 2:
        return [j for jobs in jobs_by_lang.values() for j in jobs]
    first, others = langs[0], langs[1:]
    by_name = {lang: {Path(j[1][-1]).name: j for j in jobs_by_lang[lang]} for lang in others}
    merged, taken = [], set()
    for job in jobs_by_lang[first]:
        fn, args, kw = job
        words = LANGUAGE_WORDS.get(getattr(fn, "__name__", ""))
        name = Path(args[-1]).name
        twins = [by_name[lang].get(name) for lang in others]
        if words and all(t is not None and _same_figure(job, t, words) for t in twins):
            kw = {**kw, "translations": [{"png": t[1][-1], **{k: t[2][k] for k in words if k in t[2]}} for t in twins]}
            taken.update((lang, name) for lang in others)
            job = (fn, args, kw)
        merged.append(job)
    for lang in others:
        merged += [j for j in jobs_by_lang[lang] if (lang, Path(j[1][-1]).name) not in taken]
    return merged


def _same_figure(a, b, words: Sequence[str]) -> bool:
    """Jobs ``a`` and ``b`` draw the same figure but for their words and output file."""
    (fa, aa, ka), (fb, ab, kb) = a, b
    if fa is not fb or len(aa) != len(ab) or set(ka) != set(kb):
        return False
    if not all(_equal(x, y) for x, y in zip(aa[:-1], ab[:-1])):
        return False
    if not all(_equal(ka[k], kb[k]) for k in ka if k not in words):
        return False
    if "layers" in words:  # the layers' words may differ, not their maps
        return [(x.tif, x.legend, x.diverging) for x in ka["layers"]] == [(x.tif, x.legend, x.diverging) for x in kb["layers"]]
    if "rows" in words:  # the rows' names may differ, not their regions
        return [r for r, _ in ka["rows"]] == [r for r, _ in kb["rows"]]
    return True


def _equal(x, y) -> bool:
    if isinstance(x, (pd.DataFrame, pd.Series)):
        return type(x) is type(y) and x.equals(y)
    if isinstance(x, np.ndarray):
        return isinstance(y, np.ndarray) and np.array_equal(x, y, equal_nan=x.dtype.kind == "f")
    if isinstance(x, (list, tuple)):
        return isinstance(y, (list, tuple)) and len(x) == len(y) and all(_equal(p, q) for p, q in zip(x, y))
    if isinstance(x, dict):
        return isinstance(y, dict) and x.keys() == y.keys() and all(_equal(x[k], y[k]) for k in x)
    if hasattr(x, "equals_exact"):  # shapely geometry
        return hasattr(y, "equals_exact") and x.geom_type == y.geom_type and bool(x.equals_exact(y, 0.0))
    try:
        return bool(x == y)
    except (TypeError, ValueError):
        return False


@styled
def draw_class_series(
    t: pd.DataFrame,
    png: Path,
    *,
    region_ids: Sequence[str],
    time_col: str,
    title: str,
    ylabel: str,
    class_labels: dict[str, str],
    synthetic_label: str | None = None,
    colors: dict[str, str] | None = None,
) -> Path:
    """Stacked areas of class shares (%) through time for a group of regions (area-weighted); ``colors``:
    class name -> colour (:func:`class_colors`)."""
    colors = colors or {}
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
                 labels=[class_labels.get(c, c) for c in order], edgecolor="#555555", linewidth=0.2)
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
