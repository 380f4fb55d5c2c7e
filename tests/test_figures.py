"""Figures drawn once for several languages (dldd.report.figures): the part every language shares is rendered
once and each language's words over it. Synthetic test rasters."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from PIL import Image

from dldd.core.legend import Legend
from dldd.report import figures as rf

OUTLINE = [shapely.box(100.0, 25.0, 112.0, 33.0)]
WORDS = {
    "en": dict(title="Land degradation", class_labels={"degraded": "degraded", "stable": "stable"},
               scale_label="{km} km", nodata_label="no data", note="Boundaries are not an opinion.",
               synthetic_label="synthetic demonstration data"),
    "zh": dict(title="土地退化", class_labels={"degraded": "退化", "stable": "稳定"}, scale_label="{km} 公里",
               nodata_label="无数据", note="本图所示边界不代表任何看法。", synthetic_label="合成演示数据"),
}


@pytest.fixture(scope="module")
def class_tif(tmp_path_factory) -> Path:
    """A two-class raster (codes 1, 2; 0 = no data) over a box in China (synthetic)."""
    import rasterio
    from rasterio.transform import from_origin

    path = tmp_path_factory.mktemp("fig") / "classes.tif"
    arr = np.ones((40, 60), dtype="uint8")
    arr[:, 30:] = 2
    arr[:5, :5] = 0
    with rasterio.open(path, "w", driver="GTiff", width=60, height=40, count=1, dtype="uint8", crs="EPSG:4326",
                       transform=from_origin(98.0, 35.0, 0.25, 0.25), nodata=0) as dst:
        dst.write(arr, 1)
    return path


LEGEND = Legend.from_pairs("test_classes", [(1, "degraded", "#8c510a"), (2, "stable", "#f6e8c3")])


def _draw(tif, png, lang, translations=()):
    return rf.draw_map(tif, png, legend=LEGEND, outlines=OUTLINE, svg=True, translations=translations, **WORDS[lang])


def test_a_map_drawn_for_two_languages_at_once_equals_each_drawn_alone(class_tif, tmp_path):
    _draw(class_tif, tmp_path / "en.png", "en", [{"png": tmp_path / "zh.png", **WORDS["zh"]}])
    _draw(class_tif, tmp_path / "en-alone.png", "en")
    _draw(class_tif, tmp_path / "zh-alone.png", "zh")
    px = {k: np.asarray(Image.open(tmp_path / f"{k}.png")) for k in ("en", "zh", "en-alone", "zh-alone")}
    assert np.array_equal(px["en"], px["en-alone"]) and np.array_equal(px["zh"], px["zh-alone"])
    assert px["en"].shape == px["zh"].shape and px["en"].shape[2] == 3  # RGB: no alpha for the PDF to carry
    differ = np.any(px["en"] != px["zh"], axis=2)
    assert differ.any(), "the words differ between the languages"
    # the map itself (the classes' colours left of the legend, above the scale bar's label) is the same pixels in
    # both: only words differ
    cols = int((rf.MAP_AXES[0] + rf.MAP_AXES[2]) * px["en"].shape[1])
    rows = int(0.7 * px["en"].shape[0])
    for color in ("#8c510a", "#f6e8c3"):
        rgb = np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)])
        on = np.all(px["en"] == rgb, axis=2)[:rows, :cols]
        assert on.sum() > 1000 and not (on & differ[:rows, :cols]).any(), color
    assert round(Image.open(tmp_path / "zh.png").info["dpi"][0]) == rf.DPI


def test_the_svg_of_each_language_holds_its_words_over_the_shared_map(class_tif, tmp_path):
    _draw(class_tif, tmp_path / "en.png", "en", [{"png": tmp_path / "zh.png", **WORDS["zh"]}])
    for lang in ("en", "zh"):
        text = (tmp_path / f"{lang}.svg").read_text(encoding="utf-8")
        root = ET.fromstring(text)  # well-formed
        ids = [el.get("id") for el in root.iter() if el.get("id")]
        assert len(ids) == len(set(ids)), "no id twice"
        refs = {v[1:] for el in root.iter() for k, v in el.attrib.items() if k.endswith("href") and v.startswith("#")}
        assert refs <= set(ids), "every reference resolves"
        assert text.count("<image") >= 2  # the land and the classes rasters, once
        assert f"<!-- {WORDS[lang]['title']} -->" in text  # matplotlib names each text it draws as paths
    other = (tmp_path / "zh.svg").read_text(encoding="utf-8")
    assert f"<!-- {WORDS['en']['title']} -->" not in other


def test_jobs_of_the_same_figure_in_two_languages_become_one(class_tif, tmp_path):
    def job(lang, tif=class_tif, **extra):
        return (rf.draw_map, (tif, tmp_path / lang / "figures" / "map.png"),
                dict(legend=LEGEND, outlines=OUTLINE, **WORDS[lang], **extra))

    merged = rf.merge_language_jobs({"en": [job("en")], "zh": [job("zh")]})
    assert len(merged) == 1
    fn, args, kw = merged[0]
    assert kw["title"] == WORDS["en"]["title"] and len(kw["translations"]) == 1
    assert kw["translations"][0]["png"] == tmp_path / "zh" / "figures" / "map.png"
    assert kw["translations"][0]["title"] == WORDS["zh"]["title"]
    fn(*args, **kw)
    assert (tmp_path / "en" / "figures" / "map.png").is_file() and (tmp_path / "zh" / "figures" / "map.png").is_file()
    # a figure that differs in more than its words (here the extent) is drawn per language
    apart = rf.merge_language_jobs({"en": [job("en")], "zh": [job("zh", extent=(99.0, 110.0, 26.0, 34.0))]})
    assert len(apart) == 2 and not any("translations" in j[2] for j in apart)
    # a chart that cannot draw several languages at once stays one job per language
    chart = (rf.draw_class_series, (pd.DataFrame(), tmp_path / "c.png"), {"title": "t"})
    assert len(rf.merge_language_jobs({"en": [chart], "zh": [chart]})) == 2


def test_share_bars_in_two_languages_share_the_bars(tmp_path):
    t = pd.DataFrame({"region": ["A", "A", "B", "B"], "class": ["degraded", "stable"] * 2,
                      "share_of_land_pct": [30.0, 70.0, 55.0, 45.0]})
    common = dict(share_column="share_of_land_pct", colors={"degraded": "#8c510a", "stable": "#f6e8c3"})
    rf.draw_share_bars(t, tmp_path / "en.png", rows=[("A", "Alpha"), ("B", "Beta")], title="Shares", xlabel="% of land",
                       class_labels={}, translations=[{"png": tmp_path / "zh.png", "rows": [("A", "甲"), ("B", "乙")],
                                                       "title": "比例", "xlabel": "土地面积比例（%）"}], **common)
    en, zh = (np.asarray(Image.open(tmp_path / f"{k}.png")) for k in ("en", "zh"))
    brown = np.all(en == (0x8c, 0x51, 0x0a), axis=2)
    assert brown.sum() > 1000 and np.array_equal(brown, np.all(zh == (0x8c, 0x51, 0x0a), axis=2))
    with pytest.raises(ValueError, match="same regions"):
        rf.draw_share_bars(t, tmp_path / "x.png", rows=[("A", "Alpha"), ("B", "Beta")], title="", xlabel="",
                           class_labels={}, translations=[{"png": tmp_path / "y.png", "rows": [("B", "乙"), ("A", "甲")]}],
                           **common)


def test_wrapped_notes_fit_the_figure_in_both_scripts():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.0, 2.0), dpi=100)
    rf.FigureCanvasAgg(fig)
    renderer = fig.canvas.get_renderer()
    for text in ("Boundaries, names and designations on this map are for orientation only: they express no opinion "
                 "of the authors on the legal status of any country, territory or area, nor endorse any border.",
                 "本图所示边界、名称和标注仅供参考，不代表作者对任何国家、领土或地区法律地位的看法，也不代表对任何边界的认可。"):
        wrapped = rf.styled(rf.wrap_text)(text, fig, 7.0, 0.9)
        lines = wrapped.split("\n")
        assert len(lines) >= 2
        assert "".join(wrapped.split()) == "".join(text.split())  # nothing lost, only line breaks (and spaces)
        for line in lines:
            t = fig.text(0, 0, line, fontsize=7.0)
            with __import__("matplotlib").rc_context({"font.family": rf._font_family()}):
                t.set_fontfamily(rf._font_family())
                assert t.get_window_extent(renderer).width <= 0.9 * 400 + 1, line


def test_words_composited_over_the_map_equal_matplotlib_drawing_them_on_it():
    """The composite (words rendered on a transparent figure, laid over the shared layer) against matplotlib
    drawing the same words onto the same figure in one pass: the same pixels, but for the rounding of
    anti-aliased edges (at most 2 levels of 255)."""
    from matplotlib.patches import Rectangle

    def shared(fig):
        fig.add_artist(Rectangle((0.1, 0.1), 0.6, 0.7, transform=fig.transFigure, facecolor="#8c510a"))
        fig.add_artist(Rectangle((0.3, 0.3), 0.6, 0.3, transform=fig.transFigure, facecolor="#80cdc1", alpha=0.7))

    def words(fig):
        fig.text(0.15, 0.5, "Degraded land 退化土地", fontsize=14, color="#222222")
        fig.text(0.2, 0.2, "2,000 km", fontsize=9, bbox=dict(facecolor="white", alpha=0.8, edgecolor="none", pad=1))
        rf.class_legend(fig, 0.72, 0.9, [("#01665e", "improved"), ("#d9d9d9", "no data")], 7)

    @rf.styled
    def render():
        one = rf._figure((4.0, 2.5))
        shared(one)
        words(one)
        under, top = rf._figure((4.0, 2.5)), rf._words_figure((4.0, 2.5))
        shared(under)
        words(top)
        return rf._rgba(one, 150)[..., :3], rf._over(rf._rgba(top, 150), rf._rgba(under, 150))

    direct, composite = render()
    diff = np.abs(direct.astype(int) - composite.astype(int))
    assert diff.max() <= 2, diff.max()
    assert (np.any(direct != direct[0, 0], axis=2)).sum() > 1000  # the figure is not blank
