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
from matplotlib.patches import Patch
from rasterio.enums import Resampling

from dldd.core.legend import Legend, LegendClass
from dldd.pipeline.contracts import legend_from_json

#: Resolution of the charts and maps (print quality).
DPI = 300
#: Resolution of the maps of the region profiles (one page each; screen and PDF at page width).
PROFILE_DPI = 150
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


def _scale_bar(ax, xlim, ylim, label: Callable[[float], str], fontsize: float = 7) -> None:
    """A scale bar in projected metres (true at the map's centre, where the projection is centred)."""
    width_km = (xlim[1] - xlim[0]) / 1000.0
    km = nice_length(SCALE_BAR_SHARE * width_km)
    x0 = xlim[0] + 0.04 * (xlim[1] - xlim[0])
    y0 = ylim[0] + 0.05 * (ylim[1] - ylim[0])
    ax.plot([x0, x0 + km * 1000.0], [y0, y0], color="black", lw=3, solid_capstyle="butt", zorder=6)
    ax.text(x0, y0 + 0.015 * (ylim[1] - ylim[0]), label(km), ha="left", va="bottom", fontsize=fontsize,
            zorder=6, bbox=dict(facecolor="white", alpha=0.8, edgecolor="none", pad=1))


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


def _draw_outlines(ax, geoms, box, transformer, **kw) -> None:
    segs = _projected_lines(geoms, box, transformer)
    if segs:
        ax.add_collection(LineCollection(segs, **kw))


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
    assessed regions, NaN elsewhere."""
    import shapely
    from rasterio.features import geometry_mask
    from rasterio.warp import calculate_default_transform

    arr, transform, src_crs, nodata = _read_map(tif, extent, max_pixels)
    rows, cols = arr.shape
    left, top = transform * (0, 0)
    right, bottom = transform * (cols, rows)
    bounds = (left, right, min(bottom, top), max(bottom, top))
    ext = extent or bounds
    key = (tuple(transform), arr.shape)
    inside = None if masks is None else masks.get(key)
    if inside is None:
        inside = (geometry_mask(assessed, out_shape=arr.shape, transform=transform, invert=True)
                  if assessed else np.ones(arr.shape, dtype=bool))
        if masks is not None:
            masks[key] = inside
    if legend is not None:
        values = np.full(arr.shape, np.nan)
        for i, code in enumerate(legend.codes):
            values[arr == code] = i
    else:
        values = arr.astype("float64")
        if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
            values[arr == nodata] = np.nan
    values[~inside] = np.nan
    crs = map_crs(tuple(ext))
    dst_transform, width, height = calculate_default_transform(
        src_crs or "EPSG:4326", crs, cols, rows, left=bounds[0], bottom=bounds[2], right=bounds[1], top=bounds[3])
    scale = max(width, height) / max_pixels
    if scale > 1:
        width, height = max(1, int(width / scale)), max(1, int(height / scale))
        dst_transform = dst_transform * rasterio.Affine.scale(scale)
    shape = (height, width)
    data = _project(values, transform, src_crs, crs, dst_transform, shape)
    land = _project(np.where(inside, 1.0, np.nan), transform, src_crs, crs, dst_transform, shape)
    x0, y0 = dst_transform * (0, 0)
    x1, y1 = dst_transform * (width, height)
    img_extent = (min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1))
    to_map = _to_map(crs)
    view = shapely.segmentize(shapely.box(ext[0], ext[2], ext[1], ext[3]), 0.25)
    vx, vy = to_map.transform(*np.asarray(view.exterior.coords).T)
    xlim, ylim = (float(np.min(vx)), float(np.max(vx))), (float(np.min(vy)), float(np.max(vy)))
    return data, land, img_extent, xlim, ylim, to_map, ext


def _draw_layer(fig, ax, layer: MapLayer, prepared, *, outlines, focus, context, scale_label: str,
                nodata_label: str, legend_box, colorbar_box, fontsize: float = 7) -> None:
    """Draw one prepared layer into ``ax``: grey no-data land, the classes or the colour scale, outlines,
    scale bar and title; the class legend at ``legend_box`` (anchor in axes fractions) or the colour bar
    in a new axes at ``colorbar_box`` (figure fractions)."""
    import shapely

    data, land, img_extent, xlim, ylim, to_map, ext = prepared
    legend = layer.legend
    ax.set_facecolor(OUTSIDE_COLOR)
    ax.imshow(np.ma.masked_invalid(land), cmap=ListedColormap([NODATA_COLOR]), extent=img_extent,
              interpolation=MAP_INTERPOLATION, zorder=1)
    if legend is not None:
        cmap = ListedColormap([c.color for c in legend.classes])
        ax.imshow(np.ma.masked_invalid(data), cmap=cmap, vmin=-0.5, vmax=len(legend.codes) - 0.5, extent=img_extent,
                  interpolation=MAP_INTERPOLATION, zorder=2)
        handles = [Patch(facecolor=c.color, edgecolor="#555555", label=layer.class_labels.get(c.name, c.name))
                   for c in legend.classes]
        if bool(np.any(np.isnan(data) & np.isfinite(land))):
            handles.append(Patch(facecolor=NODATA_COLOR, edgecolor="#555555", label=nodata_label))
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=legend_box, fontsize=fontsize, frameon=False)
    else:
        finite = data[np.isfinite(data)]
        if layer.diverging:
            lim = diverging_limit(finite)
            vmin, vmax, cmap = -lim, lim, matplotlib.colormaps[DIVERGING_CMAP]
        else:
            (vmin, vmax), cmap = sequential_limits(finite), matplotlib.colormaps[SEQUENTIAL_CMAP]
        im = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, vmin=vmin, vmax=vmax, extent=img_extent,
                       interpolation=MAP_INTERPOLATION, zorder=2)
        cb = fig.colorbar(im, cax=fig.add_axes(colorbar_box), extend="both")
        cb.ax.tick_params(labelsize=fontsize)
        if layer.units_label:
            cb.set_label(layer.units_label, fontsize=fontsize)
    box = shapely.box(ext[0] - 1.0, ext[2] - 1.0, ext[1] + 1.0, ext[3] + 1.0)
    _draw_outlines(ax, context, box, to_map, colors=CONTEXT_EDGE, linewidths=0.4, zorder=3)
    _draw_outlines(ax, outlines, box, to_map, colors=REGION_EDGE, linewidths=0.6, zorder=4)
    _draw_outlines(ax, focus, box, to_map, colors=FOCUS_EDGE, linewidths=1.4, zorder=5)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if fontsize >= 7:
        ax.set_title(layer.title, fontsize=fontsize + 3)
    else:  # small multiples: titles start at the map's left edge and may run over its legend
        ax.set_title(layer.title, fontsize=fontsize + 1.5, loc="left")
    _scale_bar(ax, xlim, ylim, lambda km: scale_label.format(km=f"{km:,.0f}" if km >= 1 else f"{km:g}"), fontsize)


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
) -> Path:
    """Draw one map (class raster with its legend, or float raster with a colour bar) to ``png``.

    ``outlines``: lon/lat geometries of the assessment's regions (the map is masked to them and to
    ``focus``); ``focus``: the region of a profile page (drawn bold); ``context``: neighbouring countries
    (thin grey, not coloured); ``extent``: (left, right, bottom, top) in lon/lat to show; ``diverging``:
    a float map drawn on a scale centred on zero (:func:`diverging_limit`); ``scale_label``: the scale
    bar's text with a ``{km}`` placeholder; ``note``: small text under the map (the boundary disclaimer).
    Drawn in :func:`map_crs` of the extent, at ``dpi``; ``svg`` also writes an SVG beside the PNG.
    """
    _require_disclaimer(note)
    layer = MapLayer(Path(tif), title, legend, class_labels, units_label, diverging)
    prepared = _prepare_layer(layer.tif, legend, extent, _assessed(outlines, focus), MAX_MAP_PIXELS)
    xlim, ylim = prepared[3], prepared[4]
    fig = _figure(map_size((ylim[1] - ylim[0]) / max(xlim[1] - xlim[0], 1.0)))
    ax = fig.add_axes(MAP_AXES)
    _draw_layer(fig, ax, layer, prepared, outlines=outlines, focus=focus, context=context, scale_label=scale_label,
                nodata_label=nodata_label, legend_box=(1.01, 1.0), colorbar_box=COLORBAR_AXES)
    if note:
        fig.text(0.01, 0.035, note, ha="left", va="bottom", fontsize=5.5, color="#444444", wrap=True)
    return _finish(fig, png, synthetic_label, dpi=dpi, svg=svg)


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
) -> Path:
    """Several maps of one place as small multiples (two per row), each with its own title and legend:
    the maps of a profile page, drawn as one figure (one projection, one outline pass, one file)."""
    _require_disclaimer(note)
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
    fig = _figure((MAP_SIZE_IN[0], height))
    for i, (layer, prep) in enumerate(zip(layers, prepared)):
        r, c = divmod(i, ncols)
        left = c / ncols + 0.01
        bottom = (height - (top_h + r * (title_h + map_h + gap_h) + title_h + map_h)) / height
        w = PANEL_MAP_SHARE / ncols - 0.01
        h = map_h / height
        ax = fig.add_axes((left, bottom, w, h))
        cbar = (left + w + 0.01, bottom + 0.1 * h, 0.012, 0.8 * h)
        _draw_layer(fig, ax, layer, prep, outlines=outlines, focus=focus, context=context, scale_label=scale_label,
                    nodata_label=nodata_label, legend_box=(1.0, 1.0), colorbar_box=cbar, fontsize=5.5)
    if note:
        fig.text(0.01, 0.2 / height, note, ha="left", va="bottom", fontsize=5, color="#444444", wrap=True)
    return _finish(fig, png, synthetic_label, dpi=dpi)


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
) -> Path:
    """Horizontal bars, one per region (``rows`` = [(region id, label)]), split by class share (%) read from
    ``share_column`` (the table's denominator: ``share_of_land_pct`` or ``share_pct``).

    The figure grows by :data:`BAR_ROW_IN` per row (8 pt labels stay readable at page width); callers
    split long lists (:data:`MAX_BAR_ROWS`). ``colors``: class name -> colour (:func:`class_colors`)."""
    colors = colors or {}
    classes = list(dict.fromkeys(t["class"].astype(str)))
    height = max(2.4, 1.2 + BAR_ROW_IN * len(rows))
    fig = _figure((CHART_SIZE_IN[0], height))
    ax = fig.add_axes((BARS_AXES[0], 0.75 / height, BARS_AXES[2], 1.0 - 1.2 / height))
    left = np.zeros(len(rows))
    sums = t[share_column].groupby([t["class"].astype(str), t["region"].astype(str)]).sum()  # NaN counts as 0
    for j, cls in enumerate(classes):
        vals = np.array([float(sums.get((cls, rid), 0.0)) for rid, _ in rows])
        if not vals.any():
            continue
        ax.barh(range(len(rows)), vals, left=left, color=colors.get(cls, FALLBACK_COLORS[j % len(FALLBACK_COLORS)]),
                edgecolor="#555555", linewidth=0.3, label=class_labels.get(cls, cls))
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
