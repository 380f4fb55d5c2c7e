"""Sensitivity to desertification: MEDALUS Environmentally Sensitive Area Index (ESAI).

Kosmas, Kirkby & Geeson 1999, *The Medalus project: Mediterranean desertification and land use. Manual on
key indicators of desertification and mapping environmentally sensitive areas* (EUR 18882) - "Kosmas99";
numbers as in METHODS section 4.

Flow: raw layers -> scores (``*_score`` functions, tables below as named constants) -> the four quality
indices (geometric means of their scores) -> ESAI = (SQI CQI VQI MQI)^(1/4) -> quality classes and the
eight ESA classes (int8 codes with a :class:`~dldd.core.legend.Legend`).

Missing layers: each quality index is the geometric mean of the layers present (as MISLAND), so a
missing layer neither raises nor lowers it (scoring it 1.0 while keeping the exponent 1/n would pull
every index towards "least sensitive": texture alone at 2.0 would give SQI 1.12 instead of 2.0). The
layers present and missing are listed in each output's attrs.

Scores are >= 1 (1 = least sensitive). Most tables run to 2, but soil depth (up to 4) and rainfall (up
to 4) run higher (Kosmas99), so ESAI can exceed 2 (its upper bound with every table at its maximum is
:data:`ESAI_MAX`). The geometric means keep every index between the smallest and largest of its scores.

Table boundaries: each :class:`ScoreTable` lists ascending edges and, per edge, whether a value lying
exactly on it takes the class above (``True``) or below (``False``). The choices follow the strict
inequalities of the tables (e.g. rock fragments "> 60 %" is score 1.0, so 60 % itself scores 1.3); where a
table leaves an interior edge to both neighbours (depth 30 cm, slope 18 %), the value on the edge goes
to the class above (edges are lower-inclusive).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import xarray as xr

from dldd.core.areas import grid_crs
from dldd.core.attrs import output_attrs
from dldd.core.classes import bin_by_edges, class_raster
from dldd.core.legend import CLASS_NODATA, Legend
from dldd.core.ranges import check_range
from dldd.errors import InputError

REFERENCE_KOSMAS99 = (
    "Kosmas C., Kirkby M., Geeson N. (1999) The Medalus project: manual on key indicators of "
    "desertification and mapping environmentally sensitive areas to desertification. EUR 18882."
)
REFERENCE_FVC = (
    "Gutman G., Ignatov A. (1998) The derivation of the green vegetation fraction from NOAA/AVHRR data "
    "for use in numerical weather prediction models. Int. J. Remote Sens. 19(8), 1533-1543."
)

# --------------------------------------------------------------------------------------------------
# Score tables (Kosmas99; METHODS section 4)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreTable:
    """Score of a continuous variable by ascending class edges.

    ``scores[i]`` applies between ``edges[i-1]`` and ``edges[i]``; ``upper_at_edge[i]`` says whether a
    value exactly on ``edges[i]`` takes ``scores[i + 1]`` (True) or ``scores[i]`` (False).
    """

    name: str
    units: str
    edges: tuple[float, ...]
    upper_at_edge: tuple[bool, ...]
    scores: tuple[float, ...]
    source: str = "Kosmas99"

    def __post_init__(self):
        if len(self.scores) != len(self.edges) + 1 or len(self.upper_at_edge) != len(self.edges):
            raise ValueError(f"ScoreTable {self.name}: inconsistent lengths")


@dataclass(frozen=True)
class CategoryScores:
    """Score of a categorical layer: ``scores[code]``, with class names for the documentation."""

    name: str
    scores: Mapping[int, float]
    names: Mapping[int, str]
    source: str = "Kosmas99"


# ---- Soil quality (SQI) ----

#: USDA texture classes as coded by OpenLandMap / SoilGrids "texture class USDA" (1 Cl .. 12 Sa).
USDA_TEXTURE_CODES: Mapping[int, str] = {
    1: "C", 2: "SiC", 3: "SC", 4: "CL", 5: "SiCL", 6: "SCL",
    7: "L", 8: "SiL", 9: "SL", 10: "Si", 11: "LS", 12: "S",
}

#: Texture score by USDA class abbreviation (Kosmas99; METHODS 4): L/SCL/SL/LS/CL 1.0, SC/SiL/SiCL 1.2,
#: Si/C/SiC 1.6, S 2.0.
TEXTURE_CLASS_SCORES: Mapping[str, float] = {
    "L": 1.0, "SCL": 1.0, "SL": 1.0, "LS": 1.0, "CL": 1.0,
    "SC": 1.2, "SiL": 1.2, "SiCL": 1.2,
    "Si": 1.6, "C": 1.6, "SiC": 1.6,
    "S": 2.0,
}

#: Parent material classes (Kosmas99): 1 good (shale, schist, basic, ultrabasic, conglomerates,
#: unconsolidated) 1.0; 2 moderate (limestone, marble, granite, rhyolite, ignimbrite, gneiss, siltstone,
#: sandstone) 1.7; 3 poor (marl, pyroclastics) 2.0.
PARENT_MATERIAL_SCORES = CategoryScores(
    "parent material", {1: 1.0, 2: 1.7, 3: 2.0}, {1: "good", 2: "moderate", 3: "poor"}
)

#: Rock fragments (% of surface): > 60 % 1.0, 20-60 % 1.3, < 20 % 2.0 (Kosmas99).
ROCK_FRAGMENT_TABLE = ScoreTable("rock fragments", "%", (20.0, 60.0), (True, False), (2.0, 1.3, 1.0))

#: Soil depth (cm): > 75 cm 1, 30-75 cm 2, 15-30 cm 3, < 15 cm 4 (Kosmas99).
DEPTH_TABLE = ScoreTable("soil depth", "cm", (15.0, 30.0, 75.0), (True, True, False), (4.0, 3.0, 2.0, 1.0))

#: Slope (%): < 6 % 1.0, 6-18 % 1.2, 18-35 % 1.5, > 35 % 2.0 (Kosmas99).
SLOPE_TABLE = ScoreTable("slope", "%", (6.0, 18.0, 35.0), (True, True, False), (1.0, 1.2, 1.5, 2.0))

#: Drainage classes (Kosmas99): 1 well drained 1.0, 2 imperfectly drained 1.2, 3 poorly drained 2.0.
DRAINAGE_SCORES = CategoryScores(
    "drainage", {1: 1.0, 2: 1.2, 3: 2.0}, {1: "well drained", 2: "imperfectly drained", 3: "poorly drained"}
)

# ---- Climate quality (CQI) ----

#: Annual rainfall (mm): > 650 mm 1, 280-650 mm 2, < 280 mm 4 (Kosmas99).
RAINFALL_TABLE = ScoreTable("annual rainfall", "mm", (280.0, 650.0), (True, False), (4.0, 2.0, 1.0))

#: Aridity score from the Bagnouls-Gaussen index (Kosmas99): < 50 1.0, 50-75 1.1, 75-100 1.2,
#: 100-125 1.4, 125-150 1.8, > 150 2.0.
BGI_TABLE = ScoreTable(
    "Bagnouls-Gaussen aridity index", "1",
    (50.0, 75.0, 100.0, 125.0, 150.0), (True, True, True, True, False),
    (1.0, 1.1, 1.2, 1.4, 1.8, 2.0),
)

#: Aridity score from the aridity index AI = P/PET, nine classes from 1.0 to 2.0 (Ferrara et al. 2020, as
#: in MISLAND; METHODS 4), used when no Bagnouls-Gaussen index is given: AI >= 1.0 1.0, 0.75-1.0 1.05,
#: 0.65-0.75 1.15, 0.50-0.65 1.25, 0.35-0.50 1.35, 0.20-0.35 1.45, 0.10-0.20 1.55, 0.03-0.10 1.75,
#: < 0.03 2.0 (edges lower-inclusive).
REFERENCE_FERRARA2020 = (
    "Ferrara A., Kosmas C., Salvati L., Padula A., Mancino G., Nole A. (2020) Updating the MEDALUS-ESA "
    "framework for worldwide land degradation and desertification assessment. Land Degrad. Dev. 31, 1593-1607."
)
AI_TABLE = ScoreTable(
    "aridity index P/PET", "1",
    (0.03, 0.10, 0.20, 0.35, 0.50, 0.65, 0.75, 1.0), (True,) * 8,
    (2.0, 1.75, 1.55, 1.45, 1.35, 1.25, 1.15, 1.05, 1.0),
    source=REFERENCE_FERRARA2020,
)

#: Aspect (Kosmas99): sheltered (pole-facing, NW-N-NE) 1.0, exposed (equator-facing, SW-S-SE) 2.0.
ASPECT_SHELTERED_SCORE = 1.0
ASPECT_EXPOSED_SCORE = 2.0
EAST_DEG, WEST_DEG, FULL_CIRCLE = 90.0, 270.0, 360.0

# ---- Vegetation quality (VQI) ----

#: Fire risk classes (Kosmas99): 1 low, 2 moderate, 3 high, 4 very high.
FIRE_RISK_SCORES = CategoryScores(
    "fire risk", {1: 1.0, 2: 1.3, 3: 1.6, 4: 2.0}, {1: "low", 2: "moderate", 3: "high", 4: "very high"}
)
#: Erosion protection classes (Kosmas99): 1 very high .. 5 very low.
EROSION_PROTECTION_SCORES = CategoryScores(
    "erosion protection", {1: 1.0, 2: 1.3, 3: 1.6, 4: 1.8, 5: 2.0},
    {1: "very high", 2: "high", 3: "moderate", 4: "low", 5: "very low"},
)
#: Drought resistance classes (Kosmas99): 1 very high .. 5 very low.
DROUGHT_RESISTANCE_SCORES = CategoryScores(
    "drought resistance", {1: 1.0, 2: 1.2, 3: 1.4, 4: 1.7, 5: 2.0},
    {1: "very high", 2: "high", 3: "moderate", 4: "low", 5: "very low"},
)
#: Plant cover (%): > 40 % 1.0, 10-40 % 1.8, < 10 % 2.0 (Kosmas99).
PLANT_COVER_TABLE = ScoreTable("plant cover", "%", (10.0, 40.0), (True, False), (2.0, 1.8, 1.0))

#: Vegetation classes (fire risk, erosion protection, drought resistance class codes) per UNCCD land cover
#: class (1..7, dldd.core.legend.UNCCD_LAND_COVER), each standing for the Kosmas99 vegetation type named
#: in :data:`UNCCD_VEGETATION_TYPES`. Kosmas99's class descriptions: coniferous and deciduous forests have
#: high drought resistance (class 2, 1.2) and high erosion protection (2, 1.3), fire risk high (3);
#: permanent (perennial) grassland erosion protection high (2, 1.3), drought resistance low (4, 1.7), fire
#: risk moderate (2); annual crops (cereals) fire risk moderate (2), erosion protection and drought
#: resistance very low (5, 2.0); bare land fire risk low (1), protection and resistance very low (5).
#: Wetland has no Kosmas99 type: dldd scores it least sensitive (1, 1, 1). Artificial (5) and water (7)
#: are not assessed (no data).
UNCCD_VEGETATION_CLASSES: Mapping[int, tuple[int, int, int]] = {
    1: (3, 2, 2),  # tree-covered
    2: (2, 2, 4),  # grassland
    3: (2, 5, 5),  # cropland
    4: (1, 1, 1),  # wetland
    6: (1, 5, 5),  # other land (bare)
}
#: The Kosmas99 vegetation type each UNCCD class stands for in :data:`UNCCD_VEGETATION_CLASSES`.
UNCCD_VEGETATION_TYPES: Mapping[int, str] = {
    1: "coniferous / deciduous forest (Kosmas99)", 2: "permanent (perennial) grassland (Kosmas99)",
    3: "annual agricultural crops, cereals (Kosmas99)", 4: "wetland (no Kosmas99 type; dldd: least sensitive)",
    6: "bare land (Kosmas99)",
}

# ---- Management quality (MQI) ----

#: Land-use intensity classes (Kosmas99): 1 low 1.0, 2 medium 1.5, 3 high 2.0.
LAND_USE_INTENSITY_SCORES = CategoryScores(
    "land-use intensity", {1: 1.0, 2: 1.5, 3: 2.0}, {1: "low", 2: "medium", 3: "high"}
)
#: Policy enforcement, as the share (%) of the area protected: > 75 % 1, 25-75 % 1.5, < 25 % 2 (Kosmas99).
POLICY_TABLE = ScoreTable("policy enforcement (area protected)", "%", (25.0, 75.0), (True, False), (2.0, 1.5, 1.0))

#: Ways to treat a missing score layer: "present" (geometric mean of the layers present, as MISLAND) or
#: "error" (refuse).
MISSING_POLICIES = ("present", "error")

#: Score range accepted by the quality indices (Kosmas99 scores run from 1 to 4).
SCORE_MIN, SCORE_MAX = 1.0, 4.0

# --------------------------------------------------------------------------------------------------
# Quality indices, classes, ESA classes (METHODS 4)
# --------------------------------------------------------------------------------------------------

#: Layers of each quality index, in order.
SQI_LAYERS = ("texture", "parent_material", "rock_fragments", "depth", "slope", "drainage")
CQI_LAYERS = ("rainfall", "aridity", "aspect")
VQI_LAYERS = ("fire_risk", "erosion_protection", "drought_resistance", "plant_cover")
MQI_LAYERS = ("land_use_intensity", "policy")

#: Quality class edges (Kosmas99; METHODS 4): high / moderate / low quality. ``(edges, upper_at_edge)``.
#: SQI < 1.13 high, 1.13-1.46 moderate, > 1.46 low; CQI 1.15 / 1.81; VQI 1.13 / 1.38;
#: MQI <= 1.25 high, 1.26-1.50 moderate, >= 1.51 low (values in the gaps 1.25-1.26 and 1.50-1.51 go to
#: the class above, i.e. the edges are taken as 1.25 and 1.50 with the edge value in the class below).
QUALITY_EDGES: Mapping[str, tuple[tuple[float, float], tuple[bool, bool]]] = {
    "soil": ((1.13, 1.46), (True, False)),
    "climate": ((1.15, 1.81), (True, False)),
    "vegetation": ((1.13, 1.38), (True, False)),
    "management": ((1.25, 1.50), (False, False)),
}
QUALITY_HIGH, QUALITY_MODERATE, QUALITY_LOW = 1, 2, 3
QUALITY_LEGEND = Legend.from_pairs(
    "medalus_quality",
    [(QUALITY_HIGH, "high quality", "#1a9641"), (QUALITY_MODERATE, "moderate quality", "#ffffbf"),
     (QUALITY_LOW, "low quality", "#d7191c")],
    description="MEDALUS quality classes of SQI, CQI, VQI and MQI (Kosmas99)",
)

#: ESA classes on ESAI (METHODS 4, after Kosmas99): N < 1.17; P 1.17-1.225; F1 1.225-1.275;
#: F2 1.275-1.325; F3 1.325-1.375; C1 1.375-1.425; C2 1.425-1.53; C3 >= 1.53. Edges are lower-inclusive,
#: 1.53 included (ESAI 1.53 is C3, as MISLAND gives it). Kosmas99 publishes the classes with two-decimal
#: ranges that leave gaps between them; only 1.17 and 1.53 are published edges, the three-decimal edges
#: are interpolated in those gaps (:data:`ESA_EDGE_SOURCES`).
ESA_EDGES = (1.17, 1.225, 1.275, 1.325, 1.375, 1.425, 1.53)
ESA_UPPER_AT_EDGE = (True,) * 7
#: Where each ESA edge comes from: the published table, or interpolated in a gap of it.
ESA_EDGE_SOURCES = ("published (Kosmas99)", "interpolated", "interpolated", "interpolated", "interpolated",
                    "interpolated", "published (Kosmas99)")
ESA_N, ESA_P, ESA_F1, ESA_F2, ESA_F3, ESA_C1, ESA_C2, ESA_C3 = 1, 2, 3, 4, 5, 6, 7, 8
ESA_LEGEND = Legend.from_pairs(
    "medalus_esa",
    [
        (ESA_N, "N", "#1a9850"), (ESA_P, "P", "#91cf60"),
        (ESA_F1, "F1", "#d9ef8b"), (ESA_F2, "F2", "#ffffbf"), (ESA_F3, "F3", "#fee08b"),
        (ESA_C1, "C1", "#fc8d59"), (ESA_C2, "C2", "#e34a33"), (ESA_C3, "C3", "#b30000"),
    ],
    description="MEDALUS environmentally sensitive area types: N non-affected, P potential, "
    "F1-F3 fragile, C1-C3 critical (Kosmas99)",
)

#: Highest ESAI the Kosmas99 tables allow (every layer at its table maximum).
ESAI_MAX = float(
    (
        (2.0 * 2.0 * 2.0 * 4.0 * 2.0 * 2.0) ** (1 / 6)  # SQI: texture, parent, rock, depth, slope, drainage
        * (4.0 * 2.0 * ASPECT_EXPOSED_SCORE) ** (1 / 3)  # CQI: rainfall, aridity, aspect
        * (2.0 * 2.0 * 2.0 * 2.0) ** (1 / 4)  # VQI
        * (2.0 * 2.0) ** (1 / 2)  # MQI
    )
    ** (1 / 4)
)

#: Default NDVI end members of the dimidiate-pixel model: bare soil 0.05, full vegetation 0.80. Fixed
#: values (rather than scene percentiles) make cover independent of the extent of the assessment area;
#: 0.05 sits in the bare-sand range of drylands (0.04-0.08, DESIGN) and 0.80 is a dense-canopy NDVI.
NDVI_SOIL_DEFAULT = 0.05
NDVI_VEG_DEFAULT = 0.80
#: Percentiles of the scene-based option ``end_members="percentile"`` (dldd's choice, not a published pair; the
#: cover then depends on the extent of the scene).
NDVI_SOIL_PERCENTILE = 5.0
NDVI_VEG_PERCENTILE = 95.0

PERCENT = 100.0
#: Months in a year, for the Bagnouls-Gaussen index.
MONTHS_PER_YEAR = 12
#: Bagnouls-Gaussen dry-month test 2 t - P > 0: temperature factor (P in mm, t in degC).
BGI_TEMPERATURE_FACTOR = 2.0

# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def _is_dask(da: xr.DataArray) -> bool:
    return da.chunks is not None


def _as_float(da, name: str) -> xr.DataArray:
    if not isinstance(da, xr.DataArray):
        raise InputError(f"{name}: expected an xarray.DataArray, found {type(da).__name__}")
    return da.astype(float)


def _score_attrs(name: str, units_in: str, method: str, source: str) -> dict:
    return output_attrs("1", f"MEDALUS score of {name}", method, f"input units {units_in}",
                        REFERENCE_KOSMAS99 if "Kosmas99" in source else source)


def score_table(x: xr.DataArray, table: ScoreTable, name: str | None = None) -> xr.DataArray:
    """Score a continuous layer with a :class:`ScoreTable`; NaN stays NaN."""
    name = name or table.name
    x = _as_float(x, name)
    idx = bin_by_edges(x, table.edges, table.upper_at_edge)
    out = xr.full_like(x, np.nan, dtype=float)
    for i, s in enumerate(table.scores):
        out = xr.where(idx == i, s, out)
    out.attrs = _score_attrs(
        table.name, table.units,
        f"score by class edges {table.edges} ({table.units}) -> {table.scores}", table.source,
    )
    return out


def score_categories(codes: xr.DataArray, table: CategoryScores, name: str | None = None) -> xr.DataArray:
    """Score a categorical layer of integer class codes; CLASS_NODATA and NaN give NaN.

    Codes that are not in the table raise :class:`InputError` (checked on numpy-backed arrays; on dask
    arrays they give NaN).
    """
    name = name or table.name
    if not isinstance(codes, xr.DataArray):
        raise InputError(f"{name}: expected an xarray.DataArray of class codes, found {type(codes).__name__}")
    c = codes.astype(float)
    if not _is_dask(c):
        vals = np.asarray(c.values)
        vals = vals[np.isfinite(vals) & (vals != CLASS_NODATA)]
        unknown = sorted(set(np.unique(vals).tolist()) - {float(k) for k in table.scores})
        if unknown:
            raise InputError(
                f"{name}: class codes {unknown[:10]} are not in the {table.name} table; expected codes "
                f"{sorted(table.scores)} ({', '.join(f'{k} {v}' for k, v in table.names.items())})"
            )
    out = xr.full_like(c, np.nan, dtype=float)
    for code, s in table.scores.items():
        out = xr.where(c == code, s, out)
    out.attrs = _score_attrs(
        table.name, "class code",
        "score by class: " + ", ".join(f"{k} {table.names[k]} {v}" for k, v in table.scores.items()),
        table.source,
    )
    return out


# --------------------------------------------------------------------------------------------------
# Scoring functions from raw inputs
# --------------------------------------------------------------------------------------------------


def usda_texture_class(sand: xr.DataArray, clay: xr.DataArray) -> xr.DataArray:
    """USDA texture class code (:data:`USDA_TEXTURE_CODES`, 1 C .. 12 S) from sand and clay in %.

    Silt = 100 - sand - clay. Rules of the USDA texture triangle (Soil Survey Manual), applied so that a
    point on a class line takes the class whose definition includes that line. int8, CLASS_NODATA where
    an input is NaN or sand + clay > 100.
    """
    sand = _as_float(sand, "sand")
    clay = _as_float(clay, "clay")
    check_range(sand, "sand", 0.0, PERCENT, "percent in [0, 100]")
    check_range(clay, "clay", 0.0, PERCENT, "percent in [0, 100]")
    silt = PERCENT - sand - clay
    code = {v: k for k, v in USDA_TEXTURE_CODES.items()}
    # Ordered rules (first match wins); each is the USDA definition of the class.
    rules = [
        ("S", silt + 1.5 * clay < 15),
        ("LS", (silt + 1.5 * clay >= 15) & (silt + 2 * clay < 30)),
        ("SL", ((clay >= 7) & (clay < 20) & (sand > 52) & (silt + 2 * clay >= 30))
         | ((clay < 7) & (silt < 50) & (silt + 2 * clay >= 30))),
        ("L", (clay >= 7) & (clay < 27) & (silt >= 28) & (silt < 50) & (sand <= 52)),
        ("SiL", ((silt >= 50) & (clay >= 12) & (clay < 27)) | ((silt >= 50) & (silt < 80) & (clay < 12))),
        ("Si", (silt >= 80) & (clay < 12)),
        ("SCL", (clay >= 20) & (clay < 35) & (silt < 28) & (sand > 45)),
        ("CL", (clay >= 27) & (clay < 40) & (sand > 20) & (sand <= 45)),
        ("SiCL", (clay >= 27) & (clay < 40) & (sand <= 20)),
        ("SC", (clay >= 35) & (sand > 45)),
        ("SiC", (clay >= 40) & (silt >= 40)),
        ("C", (clay >= 40) & (sand <= 45) & (silt < 40)),
    ]
    out = xr.full_like(sand, CLASS_NODATA, dtype=np.int8)
    for cls, cond in reversed(rules):  # reversed so that the first rule wins
        out = xr.where(cond, np.int8(code[cls]), out)
    valid = sand.notnull() & clay.notnull() & (silt >= 0)
    out = xr.where(valid, out, np.int8(CLASS_NODATA)).astype(np.int8)
    out.attrs = output_attrs("1", "USDA soil texture class", "USDA texture triangle from sand, silt, clay %", "",
                             "USDA Soil Survey Manual (texture triangle); codes as OpenLandMap",
                             flag_values=list(USDA_TEXTURE_CODES),
                             flag_meanings=" ".join(USDA_TEXTURE_CODES.values()))
    return out


def texture_score(texture: xr.DataArray, *, codes: Mapping[int, str] = USDA_TEXTURE_CODES,
                  scores: Mapping[str, float] = TEXTURE_CLASS_SCORES) -> xr.DataArray:
    """Texture score from USDA texture class codes (``codes`` maps code -> class; Kosmas99 scores)."""
    missing = set(codes.values()) - set(scores)
    if missing:
        raise InputError(f"texture_score: no score for texture classes {sorted(missing)}")
    table = CategoryScores("texture", {k: scores[v] for k, v in codes.items()}, dict(codes))
    return score_categories(texture, table, "texture")


def parent_material_score(parent_material: xr.DataArray, *, table: CategoryScores = PARENT_MATERIAL_SCORES):
    """Parent material score from class codes 1 good, 2 moderate, 3 poor (Kosmas99)."""
    return score_categories(parent_material, table, "parent_material")


def rock_fragments_score(rock_fragments: xr.DataArray, *, table: ScoreTable = ROCK_FRAGMENT_TABLE):
    """Rock fragment score from the surface cover of rock fragments in % (Kosmas99)."""
    check_range(rock_fragments, "rock_fragments", 0.0, PERCENT, "percent in [0, 100]")
    return score_table(rock_fragments, table, "rock_fragments")


def depth_score(depth: xr.DataArray, *, table: ScoreTable = DEPTH_TABLE):
    """Soil depth score from depth in cm (Kosmas99)."""
    check_range(depth, "depth", 0.0, None, "soil depth in cm >= 0")
    return score_table(depth, table, "depth")


def slope_score(slope: xr.DataArray, *, table: ScoreTable = SLOPE_TABLE):
    """Slope score from slope in % (Kosmas99); see :func:`slope_percent` for slope from elevation."""
    check_range(slope, "slope", 0.0, None, "slope in % >= 0")
    return score_table(slope, table, "slope")


def drainage_score(drainage: xr.DataArray, *, table: CategoryScores = DRAINAGE_SCORES):
    """Drainage score from class codes 1 well, 2 imperfectly, 3 poorly drained (Kosmas99)."""
    return score_categories(drainage, table, "drainage")


def rainfall_score(rainfall: xr.DataArray, *, table: ScoreTable = RAINFALL_TABLE):
    """Rainfall score from mean annual rainfall in mm (Kosmas99)."""
    check_range(rainfall, "rainfall", 0.0, None, "annual rainfall in mm >= 0")
    return score_table(rainfall, table, "rainfall")


def bagnouls_gaussen_index(tas: xr.DataArray, pr: xr.DataArray, *, dim: str = "time") -> xr.DataArray:
    """Annual Bagnouls-Gaussen aridity index BGI = sum over months of (2 t_i - P_i) k_i (Kosmas99).

    ``tas`` monthly mean temperature (degC), ``pr`` monthly precipitation (mm), monthly ``time`` at the
    first of each month. With monthly data k_i = 1 where 2 t_i - P_i > 0, else 0. Returns one value per
    calendar year (``time`` at 1 January); years with fewer than 12 valid months are NaN.
    """
    tas = _as_float(tas, "tas")
    pr = _as_float(pr, "pr")
    if dim not in tas.dims or dim not in pr.dims:
        raise InputError(f"bagnouls_gaussen_index: tas and pr need a {dim!r} dimension, found {tas.dims}, {pr.dims}")
    term = BGI_TEMPERATURE_FACTOR * tas - pr
    dry = term.clip(min=0.0).where(term.notnull())
    years = dry[dim].dt.year
    total = dry.groupby(years).sum(dim, skipna=True)
    count = dry.notnull().groupby(years).sum(dim)
    total = total.where(count == MONTHS_PER_YEAR)
    jan1 = np.array([np.datetime64(f"{int(y):04d}-01-01") for y in total["year"].values], dtype="datetime64[ns]")
    total = total.rename(year=dim).assign_coords({dim: jan1})
    total.attrs = output_attrs("1", "Bagnouls-Gaussen aridity index",
                               "sum over months of max(2 t - P, 0) (monthly k_i in {0, 1})",
                               f"temperature factor {BGI_TEMPERATURE_FACTOR}", REFERENCE_KOSMAS99)
    return total


def aridity_score(*, bgi: xr.DataArray | None = None, aridity_index: xr.DataArray | None = None,
                  bgi_table: ScoreTable = BGI_TABLE, ai_table: ScoreTable = AI_TABLE) -> xr.DataArray:
    """Aridity score, from the first of these that is given:

    - ``bgi``: Bagnouls-Gaussen index, scored by :data:`BGI_TABLE` (Kosmas99);
    - ``aridity_index`` (P/PET): scored by the nine-class :data:`AI_TABLE` (Ferrara et al. 2020).
    """
    if bgi is not None:
        check_range(bgi, "bgi", 0.0, None, "Bagnouls-Gaussen index >= 0")
        return score_table(bgi, bgi_table, "aridity (BGI)")
    if aridity_index is None:
        raise InputError("aridity_score: give bgi= (Bagnouls-Gaussen index) or aridity_index= (P/PET)")
    check_range(aridity_index, "aridity_index", 0.0, None, "aridity index P/PET >= 0")
    return score_table(aridity_index, ai_table, "aridity (AI)")


def aspect_score(aspect: xr.DataArray, *, latitude: xr.DataArray | float | None = None,
                 sheltered: float = ASPECT_SHELTERED_SCORE, exposed: float = ASPECT_EXPOSED_SCORE) -> xr.DataArray:
    """Aspect score (Kosmas99): pole-facing slopes ``sheltered`` (1.0), equator-facing ``exposed`` (2.0).

    ``aspect`` in degrees clockwise from north (the direction the slope faces; NaN on flat cells, which
    score ``sheltered``). Equator-facing means aspect in [90, 270] in the northern hemisphere (E and W
    exactly count as exposed) and aspect in [0, 90] or [270, 360] in the southern one; ``latitude``
    (degrees, scalar or broadcastable array) selects the hemisphere, default northern (Kosmas99 is
    Mediterranean).
    """
    aspect = _as_float(aspect, "aspect")
    check_range(aspect, "aspect", 0.0, FULL_CIRCLE, "degrees clockwise from north in [0, 360]")
    south_facing = (aspect >= EAST_DEG) & (aspect <= WEST_DEG)
    north_facing = (aspect <= EAST_DEG) | (aspect >= WEST_DEG)
    if latitude is None:
        exp = south_facing
    else:
        lat = latitude if isinstance(latitude, xr.DataArray) else xr.DataArray(float(latitude))
        exp = xr.where(lat < 0, north_facing, south_facing)
    out = xr.where(aspect.notnull() & exp, exposed, sheltered).astype(float)
    out.attrs = _score_attrs(
        "aspect", "degrees", f"equator-facing {exposed}, pole-facing or flat {sheltered}", "Kosmas99"
    )
    return out


def fire_risk_score(fire_risk: xr.DataArray, *, table: CategoryScores = FIRE_RISK_SCORES):
    """Fire risk score from classes 1 low .. 4 very high (Kosmas99)."""
    return score_categories(fire_risk, table, "fire_risk")


def erosion_protection_score(erosion_protection: xr.DataArray, *, table: CategoryScores = EROSION_PROTECTION_SCORES):
    """Erosion protection score from classes 1 very high .. 5 very low (Kosmas99)."""
    return score_categories(erosion_protection, table, "erosion_protection")


def drought_resistance_score(drought_resistance: xr.DataArray, *, table: CategoryScores = DROUGHT_RESISTANCE_SCORES):
    """Drought resistance score from classes 1 very high .. 5 very low (Kosmas99)."""
    return score_categories(drought_resistance, table, "drought_resistance")


def vegetation_scores_from_land_cover(
    land_cover: xr.DataArray, *, classes: Mapping[int, tuple[int, int, int]] = UNCCD_VEGETATION_CLASSES
) -> dict[str, xr.DataArray]:
    """Fire risk, erosion protection and drought resistance scores from UNCCD land cover (1..7).

    ``classes`` maps a land cover code to (fire risk, erosion protection, drought resistance) class codes;
    the default :data:`UNCCD_VEGETATION_CLASSES` maps each class to the Kosmas99 vegetation type of
    :data:`UNCCD_VEGETATION_TYPES` (wetland: dldd's own choice, no Kosmas99 type). Codes
    not in the mapping (artificial, water, no data) give NaN. Returns a dict with keys ``fire_risk``,
    ``erosion_protection``, ``drought_resistance``.
    """
    if not isinstance(land_cover, xr.DataArray):
        raise InputError(f"land_cover: expected an xarray.DataArray, found {type(land_cover).__name__}")
    lc = land_cover.astype(float)
    out = {}
    for j, (key, table) in enumerate(
        [("fire_risk", FIRE_RISK_SCORES), ("erosion_protection", EROSION_PROTECTION_SCORES),
         ("drought_resistance", DROUGHT_RESISTANCE_SCORES)]
    ):
        s = xr.full_like(lc, np.nan, dtype=float)
        for lc_code, cls in classes.items():
            s = xr.where(lc == lc_code, table.scores[cls[j]], s)
        s.attrs = _score_attrs(
            table.name, "UNCCD land cover code",
            f"{table.name} class by land cover as Kosmas99 vegetation type: "
            + ", ".join(f"{k} {UNCCD_VEGETATION_TYPES.get(k, '(user mapping)')} -> {v[j]}" for k, v in classes.items()),
            "Kosmas99",
        )
        out[key] = s
    return out


def fractional_vegetation_cover(
    ndvi: xr.DataArray,
    *,
    end_members: str = "fixed",
    ndvi_soil: float = NDVI_SOIL_DEFAULT,
    ndvi_veg: float = NDVI_VEG_DEFAULT,
    soil_percentile: float = NDVI_SOIL_PERCENTILE,
    veg_percentile: float = NDVI_VEG_PERCENTILE,
    percent: bool = False,
) -> xr.DataArray:
    """Fractional vegetation cover by the dimidiate-pixel model (Gutman & Ignatov 1998).

    FVC = (NDVI - NDVI_soil) / (NDVI_veg - NDVI_soil), clipped to [0, 1]; returns a fraction (units "1"),
    or % (units "%") with ``percent=True`` (either is accepted by :func:`plant_cover_score` and RWEQ's COG). ``end_members="fixed"`` (default) uses ``ndvi_soil`` 0.05 and
    ``ndvi_veg`` 0.80; ``"percentile"`` takes the ``soil_percentile`` (5th) and ``veg_percentile`` (95th)
    percentiles of the whole input (all dimensions; the result then depends on the extent).
    """
    ndvi = _as_float(ndvi, "ndvi")
    check_range(ndvi, "ndvi", -1.0, 1.0, "NDVI in [-1, 1] (scaled products must be converted at the source)")
    if end_members == "percentile":
        arr = ndvi.chunk({d: -1 for d in ndvi.dims}) if _is_dask(ndvi) else ndvi
        q = arr.quantile([soil_percentile / PERCENT, veg_percentile / PERCENT], skipna=True).values
        ndvi_soil, ndvi_veg = float(q[0]), float(q[1])
    elif end_members != "fixed":
        raise InputError(f"fractional_vegetation_cover: end_members={end_members!r}; expected 'fixed' or 'percentile'")
    if not ndvi_veg > ndvi_soil:
        raise InputError(
            f"fractional_vegetation_cover: NDVI end members soil {ndvi_soil:g}, vegetation {ndvi_veg:g}; "
            "expected vegetation > soil"
        )
    fvc = ((ndvi - ndvi_soil) / (ndvi_veg - ndvi_soil)).clip(0.0, 1.0)
    if percent:
        fvc = fvc * PERCENT
    fvc.attrs = output_attrs("%" if percent else "1", "fractional vegetation cover",
                             "dimidiate pixel model (NDVI - NDVIsoil)/(NDVIveg - NDVIsoil), clipped to [0, 1]",
                             f"end_members={end_members}, ndvi_soil={ndvi_soil:.4g}, ndvi_veg={ndvi_veg:.4g}",
                             REFERENCE_FVC)
    return fvc


#: Units a vegetation cover may declare (attrs "units") and their factor to a fraction.
COVER_UNITS_TO_FRACTION = {"%": 0.01, "percent": 0.01, "1": 1.0, "fraction": 1.0}


def cover_in(cover: xr.DataArray, target: str, who: str) -> xr.DataArray:
    """Vegetation cover in ``target`` units ("%" or "1") from an array that declares attrs units "%" or "1".

    A cover without units (or with others) is refused: 0.3 could be 30 % or 0.3 %. Same units are passed
    through unchanged (no round trip). Shared by :func:`plant_cover_score` and RWEQ's
    :func:`dldd.indicators.sand.rweq.vegetation_factor`.
    """
    if not isinstance(cover, xr.DataArray):
        raise InputError(f"{who}: cover must be an xarray.DataArray with attrs units, found {type(cover).__name__}")
    units = cover.attrs.get("units")
    if units not in COVER_UNITS_TO_FRACTION:
        raise InputError(
            f"{who}: cover units {units!r}; declare attrs units '%' or '1' (fraction): a cover without units "
            "is ambiguous"
        )
    factor = COVER_UNITS_TO_FRACTION[units] / COVER_UNITS_TO_FRACTION[target]
    out = _as_float(cover, "cover") * factor if factor != 1.0 else _as_float(cover, "cover")
    top = 1.0 / COVER_UNITS_TO_FRACTION[target]
    check_range(out, "cover", 0.0, top, f"vegetation cover in [0, {top:g}] {target} (declared units {units!r})")
    return out


def plant_cover_score(cover: xr.DataArray, *, table: ScoreTable = PLANT_COVER_TABLE):
    """Plant cover score (Kosmas99) from cover declaring attrs units "%" or "1" (converted to %).

    A cover without units is refused (:func:`cover_in`).
    """
    return score_table(cover_in(cover, "%", "plant_cover_score"), table, "plant_cover")


def land_use_intensity_score(land_use_intensity: xr.DataArray, *, table: CategoryScores = LAND_USE_INTENSITY_SCORES):
    """Land-use intensity score from classes 1 low, 2 medium, 3 high (Kosmas99)."""
    return score_categories(land_use_intensity, table, "land_use_intensity")


def policy_score(share_protected: xr.DataArray, *, table: ScoreTable = POLICY_TABLE):
    """Policy enforcement score from the share of the area protected, in % (Kosmas99)."""
    check_range(share_protected, "share_protected", 0.0, PERCENT, "percent in [0, 100]")
    return score_table(share_protected, table, "policy")


# --------------------------------------------------------------------------------------------------
# Slope and aspect from elevation
# --------------------------------------------------------------------------------------------------

_GEOGRAPHIC_DIMS = (("lat", "lon"), ("latitude", "longitude"))


def _spatial_dims(da: xr.DataArray) -> tuple[str, str]:
    for ydim, xdim in (("y", "x"), *_GEOGRAPHIC_DIMS):
        if ydim in da.dims and xdim in da.dims:
            return ydim, xdim
    raise InputError(f"elevation: expected spatial dimensions ('y', 'x') or ('lat', 'lon'), found {tuple(da.dims)}")


def _grid_kind(da: xr.DataArray, ydim: str, geographic: bool | None, crs) -> tuple[bool, float]:
    """(is geographic, metres per projected coordinate unit), from ``crs``, the array's CRS or dim names."""
    try:
        pcrs = grid_crs(da, crs)
    except InputError:
        if crs is not None:
            raise
        pcrs = None
    if geographic is None:
        if pcrs is not None:
            geographic = bool(pcrs.is_geographic)
        elif ydim in ("lat", "latitude"):
            geographic = True
        else:
            raise InputError(
                "elevation: cannot tell whether the grid is geographic (no CRS, dimensions "
                f"{tuple(da.dims)}); write a CRS (rioxarray), pass crs=, or pass geographic=True/False"
            )
    to_metre = 1.0
    if not geographic and pcrs is not None:
        to_metre = float(pcrs.axis_info[0].unit_conversion_factor)
    return geographic, to_metre


def _gradients(elevation: xr.DataArray, geographic: bool | None, crs):
    """(dz/d east, dz/d north) in m/m, with geodesic metric on lat/lon grids (WGS84 ellipsoid)."""
    ydim, xdim = _spatial_dims(elevation)
    z = _as_float(elevation, "elevation")
    geo, to_metre = _grid_kind(z, ydim, geographic, crs)
    for d in (ydim, xdim):
        if z.sizes[d] < 2:
            raise InputError(f"elevation: dimension {d!r} has {z.sizes[d]} cell(s); expected at least 2")
    dz_dx = z.differentiate(xdim)
    dz_dy = z.differentiate(ydim)
    if geo:
        from pyproj import Geod

        g = Geod(ellps="WGS84")
        phi = np.deg2rad(z[ydim])
        w = np.sqrt(1.0 - g.es * np.sin(phi) ** 2)
        n_radius = g.a / w  # prime vertical radius of curvature
        m_radius = g.a * (1.0 - g.es) / w**3  # meridional radius of curvature
        rad = np.deg2rad(1.0)
        dz_dx = dz_dx / (n_radius * np.cos(phi) * rad)  # metres per degree of longitude along the parallel
        dz_dy = dz_dy / (m_radius * rad)  # metres per degree of latitude along the meridian
    else:
        dz_dx = dz_dx / to_metre
        dz_dy = dz_dy / to_metre
    return dz_dx, dz_dy


def slope_percent(elevation: xr.DataArray, *, crs=None, geographic: bool | None = None) -> xr.DataArray:
    """Slope in % = 100 sqrt((dz/dx)^2 + (dz/dy)^2) from an elevation grid in metres.

    Central differences on the coordinates (one-sided at the edges; xarray ``differentiate``, lazy on
    dask). On a geographic grid (CRS geographic, or dimensions lat/lon) the spacing is converted to
    metres on the WGS84 ellipsoid at each latitude: east-west by N(phi) cos(phi), north-south by M(phi)
    (prime-vertical and meridional radii of curvature). On a projected grid the CRS axis unit is used
    (metres if no CRS and ``geographic=False``). The CRS is ``crs`` or the array's (rioxarray);
    without either, lat/lon dimension names mean geographic; ``geographic`` overrides the inference.
    """
    dz_dx, dz_dy = _gradients(elevation, geographic, crs)
    out = PERCENT * np.sqrt(dz_dx**2 + dz_dy**2)
    out.attrs = output_attrs("%", "terrain slope", "central differences; geodesic spacing on WGS84 for lat/lon grids",
                             "", "")
    return out


def aspect_degrees(elevation: xr.DataArray, *, crs=None, geographic: bool | None = None) -> xr.DataArray:
    """Aspect: direction the slope faces (downslope), degrees clockwise from north in [0, 360); NaN on flat."""
    dz_dx, dz_dy = _gradients(elevation, geographic, crs)
    asp = np.rad2deg(np.arctan2(-dz_dx, -dz_dy)) % 360.0
    out = asp.where((dz_dx != 0) | (dz_dy != 0))
    out.attrs = output_attrs("degree", "terrain aspect (downslope direction, clockwise from north)",
                             "atan2(-dz/dx, -dz/dy); same gradients as slope_percent", "", "")
    return out


# --------------------------------------------------------------------------------------------------
# Quality indices and ESAI
# --------------------------------------------------------------------------------------------------


def _geometric_mean(kind: str, layers: tuple[str, ...], scores: Mapping[str, xr.DataArray | None], missing: str):
    """(product of the scores present)^(1/number present); attrs list the layers present and missing."""
    if missing not in MISSING_POLICIES:
        raise InputError(f"missing={missing!r}; expected one of {MISSING_POLICIES}")
    unknown = set(scores) - set(layers)
    if unknown:
        raise InputError(f"{kind}: unknown layers {sorted(unknown)}; expected {list(layers)}")
    absent = [name for name in layers if scores.get(name) is None]
    if absent and missing == "error":
        raise InputError(
            f"{kind}: score layers {absent} are missing; give them, or pass missing='present' for the "
            "geometric mean of the layers present"
        )
    present = [(name, _as_float(scores[name], name)) for name in layers if scores.get(name) is not None]
    if not present:
        raise InputError(f"{kind}: every score layer is missing ({list(layers)}); the index is undefined")
    for name, s in present:
        check_range(s, name, SCORE_MIN, SCORE_MAX, f"a MEDALUS score in [{SCORE_MIN}, {SCORE_MAX}] (score raw values first)")
    prod = present[0][1]
    for _, s in present[1:]:
        prod = prod * s
    names = [n for n, _ in present]
    out = prod ** (1.0 / len(present))
    out.attrs = output_attrs("1", f"MEDALUS {kind}",
                             f"geometric mean of the scores present ({' x '.join(names)})^(1/{len(names)})",
                             f"missing={missing}; layers missing: {', '.join(absent) or 'none'}", REFERENCE_KOSMAS99,
                             layers_present=", ".join(names), layers_missing=", ".join(absent))
    return out


def soil_quality_index(texture=None, parent_material=None, rock_fragments=None, depth=None, slope=None,
                       drainage=None, *, missing: str = "error") -> xr.DataArray:
    """SQI = (texture x parent material x rock fragments x depth x slope x drainage)^(1/6) (Kosmas99).

    Arguments are *scores* (from the ``*_score`` functions). ``missing="error"`` (default) refuses a
    missing layer; ``"present"`` takes the geometric mean of the layers given (exponent 1/number given),
    listing them in attrs "layers_present" and "layers_missing".
    """
    return _geometric_mean("soil quality index (SQI)", SQI_LAYERS, dict(
        texture=texture, parent_material=parent_material, rock_fragments=rock_fragments, depth=depth,
        slope=slope, drainage=drainage), missing)


def climate_quality_index(rainfall=None, aridity=None, aspect=None, *, missing: str = "error") -> xr.DataArray:
    """CQI = (rainfall x aridity x aspect)^(1/3) (Kosmas99); scores, ``missing`` as for SQI."""
    return _geometric_mean("climate quality index (CQI)", CQI_LAYERS,
                           dict(rainfall=rainfall, aridity=aridity, aspect=aspect), missing)


def vegetation_quality_index(fire_risk=None, erosion_protection=None, drought_resistance=None, plant_cover=None,
                             *, missing: str = "error") -> xr.DataArray:
    """VQI = (fire risk x erosion protection x drought resistance x plant cover)^(1/4) (Kosmas99)."""
    return _geometric_mean("vegetation quality index (VQI)", VQI_LAYERS, dict(
        fire_risk=fire_risk, erosion_protection=erosion_protection, drought_resistance=drought_resistance,
        plant_cover=plant_cover), missing)


def management_quality_index(land_use_intensity=None, policy=None, *, missing: str = "error") -> xr.DataArray:
    """MQI = (land-use intensity x policy enforcement)^(1/2) (Kosmas99)."""
    return _geometric_mean("management quality index (MQI)", MQI_LAYERS,
                           dict(land_use_intensity=land_use_intensity, policy=policy), missing)


def esai(sqi: xr.DataArray, cqi: xr.DataArray, vqi: xr.DataArray, mqi: xr.DataArray) -> xr.DataArray:
    """ESAI = (SQI x CQI x VQI x MQI)^(1/4) (Kosmas99)."""
    parts = [_as_float(v, n) for v, n in ((sqi, "sqi"), (cqi, "cqi"), (vqi, "vqi"), (mqi, "mqi"))]
    out = (parts[0] * parts[1] * parts[2] * parts[3]) ** 0.25
    notes = [f"{n}: {p.attrs['layers_missing']}" for n, p in zip(("SQI", "CQI", "VQI", "MQI"), parts)
             if p.attrs.get("layers_missing")]
    out.attrs = output_attrs("1", "environmentally sensitive area index (ESAI)", "(SQI x CQI x VQI x MQI)^(1/4)",
                             ("layers missing (each index the geometric mean of its layers present): "
                              + "; ".join(notes)) if notes else "all layers given",
                             REFERENCE_KOSMAS99, layers_missing="; ".join(notes))
    return out


def quality_class(index: xr.DataArray, kind: str) -> xr.DataArray:
    """Quality class (1 high, 2 moderate, 3 low; :data:`QUALITY_LEGEND`) of SQI/CQI/VQI/MQI.

    ``kind`` is one of "soil", "climate", "vegetation", "management" (edges :data:`QUALITY_EDGES`).
    """
    if kind not in QUALITY_EDGES:
        raise InputError(f"quality_class: kind={kind!r}; expected one of {sorted(QUALITY_EDGES)}")
    edges, upper = QUALITY_EDGES[kind]
    return class_raster(
        _as_float(index, kind), edges, upper, (QUALITY_HIGH, QUALITY_MODERATE, QUALITY_LOW), QUALITY_LEGEND,
        output_attrs("1", f"MEDALUS {kind} quality class", f"classes on edges {edges}", f"kind={kind}",
                     REFERENCE_KOSMAS99),
    )


def esa_class(esai_index: xr.DataArray) -> xr.DataArray:
    """ESA class (1 N, 2 P, 3 F1, 4 F2, 5 F3, 6 C1, 7 C2, 8 C3; :data:`ESA_LEGEND`) from ESAI."""
    return class_raster(
        _as_float(esai_index, "esai"), ESA_EDGES, ESA_UPPER_AT_EDGE,
        (ESA_N, ESA_P, ESA_F1, ESA_F2, ESA_F3, ESA_C1, ESA_C2, ESA_C3), ESA_LEGEND,
        output_attrs("1", "MEDALUS environmentally sensitive area class",
                     f"classes on ESAI edges {ESA_EDGES}, lower-inclusive",
                     "edges: " + ", ".join(f"{e:g} {src}" for e, src in zip(ESA_EDGES, ESA_EDGE_SOURCES)),
                     REFERENCE_KOSMAS99),
    )


def medalus(scores: Mapping[str, xr.DataArray | None], *, missing: str = "error") -> xr.Dataset:
    """All MEDALUS outputs from a mapping of score layers (keys: the ``*_LAYERS`` names).

    Returns a Dataset with float ``sqi``, ``cqi``, ``vqi``, ``mqi``, ``esai`` and int8 ``sqi_class``,
    ``cqi_class``, ``vqi_class``, ``mqi_class`` (:data:`QUALITY_LEGEND`) and ``esa_class``
    (:data:`ESA_LEGEND`). Keys not among the layers raise; absent layers follow ``missing``.
    """
    known = set(SQI_LAYERS + CQI_LAYERS + VQI_LAYERS + MQI_LAYERS)
    unknown = set(scores) - known
    if unknown:
        raise InputError(f"medalus: unknown score layers {sorted(unknown)}; expected some of {sorted(known)}")

    def pick(layers):
        return {k: scores.get(k) for k in layers}

    sqi = soil_quality_index(**pick(SQI_LAYERS), missing=missing)
    cqi = climate_quality_index(**pick(CQI_LAYERS), missing=missing)
    vqi = vegetation_quality_index(**pick(VQI_LAYERS), missing=missing)
    mqi = management_quality_index(**pick(MQI_LAYERS), missing=missing)
    e = esai(sqi, cqi, vqi, mqi)
    return xr.Dataset({
        "sqi": sqi, "cqi": cqi, "vqi": vqi, "mqi": mqi, "esai": e,
        "sqi_class": quality_class(sqi, "soil"), "cqi_class": quality_class(cqi, "climate"),
        "vqi_class": quality_class(vqi, "vegetation"), "mqi_class": quality_class(mqi, "management"),
        "esa_class": esa_class(e),
    })
