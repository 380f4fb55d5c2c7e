"""The run's maps for QGIS: a style (.qml) beside every class map and a project (.qgs) that opens them all.

The styles carry the legends the stages declare for their maps (codes and classes from the run's
``contracts.json``, :mod:`dldd.pipeline.contracts`), in the report's colours
(:data:`dldd.report.figures.REPORT_PALETTES`) and the report's class names, so a map looks the same in QGIS
as in the report. QGIS loads ``maps/<name>.qml``
with ``maps/<name>.tif`` by itself; the project ``RUN_DIR/maps.qgs`` embeds the same paletted renderers
and refers to the rasters by relative paths (the run folder can be moved). Formats as QGIS 3 writes them
(QGIS documentation, "QGIS style file format" and the project file ``.qgs``); both are XML written with
:mod:`xml.etree.ElementTree`, so names are escaped.

A run owns only what it writes: an existing ``.qml``/``.qgs`` that dldd did not write (without the
:data:`MARK` comment, or a style missing from the run folder's ledger ``.dldd/owned``) is left alone and
reported; files are written atomically (:func:`dldd.core.io.write_text`), styles recorded in the ledger.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable

from dldd.core.legend import Legend

#: Comment that marks a file written by dldd (files without it are never replaced).
MARK = "written by dldd"
QGIS_VERSION = "3.22.0"
#: QGIS project file of a run (in the run folder).
PROJECT_NAME = "maps.qgs"


def _renderer(legend: Legend, labels: Callable[[str], str]) -> ET.Element:
    """A paletted raster renderer (band 1): one entry per class with the report's colour and label."""
    r = ET.Element("rasterrenderer", type="paletted", band="1", opacity="1", alphaBand="-1", nodataColor="")
    ET.SubElement(r, "rasterTransparency")
    palette = ET.SubElement(r, "colorPalette")
    for c in legend.classes:
        ET.SubElement(palette, "paletteEntry", value=str(c.code), color=c.color.lower(), alpha="255",
                      label=labels(c.name))
    return r


def _pipe(renderer: ET.Element | None) -> ET.Element:
    pipe = ET.Element("pipe")
    if renderer is not None:
        pipe.append(renderer)
    ET.SubElement(pipe, "brightnesscontrast", brightness="0", contrast="0", gamma="1")
    ET.SubElement(pipe, "huesaturation", saturation="0", grayscaleMode="0", colorizeOn="0", colorizeRed="255",
                  colorizeGreen="128", colorizeBlue="128", colorizeStrength="100", invertColors="0")
    ET.SubElement(pipe, "rasterresampler", maxOversampling="2")
    return pipe


def _xml(root: ET.Element) -> str:
    ET.indent(root)
    return (f"<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n<!-- {MARK} -->\n"
            + ET.tostring(root, encoding="unicode") + "\n")


def qml_style(legend: Legend, labels: Callable[[str], str] = str) -> str:
    """The QGIS style (.qml) of a class raster: its classes' colours and labels."""
    root = ET.Element("qgis", version=QGIS_VERSION, styleCategories="AllStyleCategories")
    root.append(_pipe(_renderer(legend, labels)))
    ET.SubElement(root, "blendMode").text = "0"
    return _xml(root)


def _srs(crs_wkt: str, authid: str) -> ET.Element:
    srs = ET.Element("srs")
    ref = ET.SubElement(srs, "spatialrefsys")
    ET.SubElement(ref, "wkt").text = crs_wkt
    ET.SubElement(ref, "authid").text = authid
    return srs


def qgs_project(title: str, layers: list[dict]) -> str:
    """A QGIS project (.qgs) with one raster layer per entry of ``layers``: ``name`` (layer name),
    ``source`` (path relative to the project), ``crs_wkt``, ``authid`` and ``renderer`` (or None: QGIS's
    default rendering). Class layers first in the layer tree, so they are drawn on top."""
    root = ET.Element("qgis", projectname=title, version=QGIS_VERSION)
    ET.SubElement(root, "title").text = title
    tree = ET.SubElement(root, "layer-tree-group")
    project_layers = ET.SubElement(root, "projectlayers")
    ids = []
    for lay in layers:
        lid = f"{lay['key']}_{uuid.uuid5(uuid.NAMESPACE_URL, lay['source']).hex}"
        ids.append(lid)
        ET.SubElement(tree, "layer-tree-layer", id=lid, name=lay["name"], source=lay["source"], providerKey="gdal",
                      checked="Qt::Checked" if lay is layers[0] else "Qt::Unchecked", expanded="1")
        ml = ET.SubElement(project_layers, "maplayer", type="raster", hasScaleBasedVisibilityFlag="0",
                           refreshOnNotifyEnabled="0", autoRefreshEnabled="0", styleCategories="AllStyleCategories")
        ET.SubElement(ml, "id").text = lid
        ET.SubElement(ml, "datasource").text = lay["source"]
        ET.SubElement(ml, "layername").text = lay["name"]
        ml.append(_srs(lay["crs_wkt"], lay["authid"]))
        ET.SubElement(ml, "provider").text = "gdal"
        ml.append(_pipe(lay["renderer"]))
        ET.SubElement(ml, "blendMode").text = "0"
    order = ET.SubElement(tree, "custom-order", enabled="0")
    for lid in ids:
        ET.SubElement(order, "item").text = lid
    props = ET.SubElement(root, "properties")
    paths = ET.SubElement(props, "Paths")
    ET.SubElement(paths, "Absolute", type="bool").text = "false"
    return _xml(root)


def _ours(path: Path) -> bool:
    """Whether ``path`` may be written: it is no symbolic link, and it does not exist or dldd wrote it: it
    carries :data:`MARK` (a file the user wrote or rewrote does not) and, in a place of the run folder that
    a run records (``maps/``), it is in the folder's ledger (:class:`dldd.core.io.RunFolder`)."""
    from dldd.core import io

    if path.is_symlink():
        return False
    if not path.exists():
        return True
    with open(path, encoding="utf-8", errors="replace") as f:
        if MARK not in f.read(300):
            return False
    folder = io.RunFolder.active_for(path)
    return folder is None or str(path.resolve().relative_to(folder.out)) in folder.owned()


def _write(path: Path, text: str) -> None:
    """Atomically, recorded as the run folder's own (:func:`dldd.core.io.write_text`)."""
    from dldd.core import io

    io.write_text(path, text)


def write_qgis(run_dir: Path, maps: dict[str, str], legend_for: Callable[[str, dict], Legend | None],
               labels: Callable[[str], str], title: str) -> tuple[list[Path], list[Path]]:
    """Write ``maps/<name>.qml`` beside every class map and ``RUN_DIR/maps.qgs`` with every map of ``maps``
    (name -> path relative to the run folder). Returns (written, left alone: files dldd did not write)."""
    import rasterio

    written, kept = [], []
    layers = []
    for name, rel in maps.items():
        tif = run_dir / rel
        if not tif.is_file():
            continue
        with rasterio.open(tif) as src:
            tags = src.tags()
            crs_wkt = src.crs.to_wkt() if src.crs else ""
            epsg = src.crs.to_epsg() if src.crs else None
        legend = legend_for(name, tags)
        renderer = _renderer(legend, labels) if legend is not None else None
        if legend is not None:
            qml = tif.with_suffix(".qml")
            if _ours(qml):
                _write(qml, qml_style(legend, labels))
                written.append(qml)
            else:
                kept.append(qml)
        layers.append({"key": name, "name": name, "source": "./" + Path(rel).as_posix(), "crs_wkt": crs_wkt,
                       "authid": f"EPSG:{epsg}" if epsg else "", "renderer": renderer})
    layers.sort(key=lambda lay: lay["renderer"] is None)
    if layers:
        qgs = run_dir / PROJECT_NAME
        if _ours(qgs):
            _write(qgs, qgs_project(title, layers))
            written.append(qgs)
        else:
            kept.append(qgs)
    return written, kept
