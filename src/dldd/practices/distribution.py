"""The joint distribution of a region's land conditions: km² per combination of condition classes.

Advice from a region's modal conditions misleads (China's modal aridity class is not its drylands), so
practices are matched against the whole distribution: a table with one row per region and combination
of conditions and its area,

==================  ===============================================================================
``region``          region id (ISO 3166 alpha-3 for countries)
``aridity_class``   UNEP aridity class (METHODS 3), blank where unknown
``precip_mm_min``   lower edge of the band of mean annual precipitation (mm), blank where unknown
``precip_mm_max``   upper edge of that band (mm; blank for the open top band)
``land_cover``      UNCCD land cover class (GPG2)
``land_condition``  SDG 15.3.1 status: degraded, stable, improved
``esa_class``       MEDALUS ESA class (Kosmas99; METHODS 4)
``drift_class``     sand drift energy class (Fryberger 1979; METHODS 5): low, intermediate, high
``area_km2``        area of the region's land in that combination (geodesic cell areas x region fractions)
==================  ===============================================================================

A blank value is "not known there" (no data, or the run did not compute that condition). The rows of a
region add up to its area on the reference grid, so every share has that denominator. The table is
computed from class maps on one grid by :func:`joint_condition_areas` (one tiled pass of
:func:`dldd.stats.zonal.zonal_sums` over a mixed-radix key of the classes, never gathering a map) and written
by the practices stage as ``tables/condition_distribution.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from dldd.errors import InputError

#: Edges (mm/yr) of the bands of mean annual precipitation in the joint table; the last band is open.
#: Narrow where dryland practices' documented limits lie (100-600 mm), coarse above.
PRECIP_BAND_EDGES_MM: tuple[float, ...] = (0, 50, 100, 150, 200, 250, 300, 400, 500, 600, 800, 1000, 1500)
#: Columns of the joint table, in order.
CONDITION_COLUMNS: tuple[str, ...] = ("aridity_class", "precip_mm_min", "precip_mm_max", "land_cover",
                                      "land_condition", "esa_class", "drift_class")
DISTRIBUTION_COLUMNS: tuple[str, ...] = ("region", *CONDITION_COLUMNS, "area_km2")
#: Relative path of the table in a run directory.
DISTRIBUTION_CSV = Path("tables") / "condition_distribution.csv"


@dataclass(frozen=True)
class ClassLayer:
    """A class map's condition: the table column it fills, its codes and the label of each code."""

    column: str
    codes: tuple[int, ...]
    labels: tuple[str, ...]

    @property
    def size(self) -> int:  # one slot more for "no data"
        return len(self.codes) + 1


def _slot_of_classes(values: np.ndarray, codes: np.ndarray) -> np.ndarray:
    from dldd.stats.zonal import _slots

    return _slots(values, codes, len(codes))


def _slot_of_band(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    v = values.astype("float64")
    slot = np.full(v.shape, len(edges), dtype=np.int64)  # the no-data slot
    ok = np.isfinite(v) & (v >= edges[0])
    slot[ok] = np.searchsorted(edges, v[ok], side="right") - 1
    return slot


def _joint_key(*values, specs):
    """Mixed-radix key of the slots of every layer (module level, so that dask ships it to workers)."""
    key = np.zeros(values[0].shape, dtype=np.int64)
    for v, (kind, ref, size) in zip(values, specs):
        slot = _slot_of_band(v, ref) if kind == "band" else _slot_of_classes(v, ref)
        key = key * size + slot
    return key, None


def joint_condition_areas(
    classes: Sequence[tuple[ClassLayer, xr.DataArray]],
    precipitation_mm: xr.DataArray | None,
    regions,
    cell_area_km2: xr.DataArray,
) -> pd.DataFrame:
    """Area (km²) of every combination of conditions in each region (the table of the module docstring).

    ``classes``: (layer, map of codes) pairs; ``precipitation_mm``: mean annual precipitation (mm/yr),
    banded at :data:`PRECIP_BAND_EDGES_MM`; every map on the grid of ``cell_area_km2``; ``regions`` the
    region weights of that grid (``RunContext.region_set(...).weights``). Columns of conditions the run
    did not compute stay blank.
    """
    from dldd.stats.zonal import zonal_sums

    specs, arrays, sizes = [], [], []
    for layer, da in classes:
        specs.append(("classes", np.asarray(layer.codes), layer.size))
        arrays.append((da, layer.column))
        sizes.append(layer.size)
    edges = np.asarray(PRECIP_BAND_EDGES_MM, dtype="float64")
    if precipitation_mm is not None:
        specs.append(("band", edges, len(edges) + 1))
        arrays.append((precipitation_mm, "precipitation_mm"))
        sizes.append(len(edges) + 1)
    if not arrays:
        raise InputError("joint condition areas: no condition map was given")
    nkeys = int(np.prod(sizes))
    sums, _ = zonal_sums(partial(_joint_key, specs=tuple(specs)), arrays, cell_area_km2, regions, nkeys)
    rows = []
    for ri, rid in enumerate(regions):
        for key in np.flatnonzero(sums[ri] > 0):
            slots = np.unravel_index(int(key), sizes)
            row: dict = {"region": rid}
            for (layer, _), s in zip(classes, slots):
                row[layer.column] = layer.labels[s] if s < len(layer.codes) else None
            if precipitation_mm is not None:
                s = int(slots[-1])
                if s < len(edges):
                    row["precip_mm_min"] = float(edges[s])
                    row["precip_mm_max"] = float(edges[s + 1]) if s + 1 < len(edges) else None
            row["area_km2"] = float(sums[ri, key])
            rows.append(row)
    return pd.DataFrame(rows).reindex(columns=list(DISTRIBUTION_COLUMNS))


def read_distribution(path: str | Path) -> pd.DataFrame:
    """A joint condition table written by the practices stage, checked (columns, areas >= 0)."""
    p = Path(path)
    try:
        df = pd.read_csv(p, dtype={c: "string" for c in ("region", "aridity_class", "land_cover",
                                                           "land_condition", "esa_class", "drift_class")})
    except (OSError, ValueError) as e:
        raise InputError(f"condition distribution {str(p)!r} cannot be read as CSV: {e}") from e
    missing = [c for c in DISTRIBUTION_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"condition distribution {str(p)!r}: missing column(s) {missing}; found {list(df.columns)}")
    area = pd.to_numeric(df["area_km2"], errors="coerce")
    bad = df.index[~np.isfinite(area) | (area < 0)]
    if len(bad):
        raise InputError(f"condition distribution {str(p)!r} line {int(bad[0]) + 2}: area_km2 "
                         f"{df.loc[bad[0], 'area_km2']!r} is not a non-negative number")
    df["region"] = df["region"].str.strip().str.upper()
    return df.reindex(columns=list(DISTRIBUTION_COLUMNS))


def regions_of(distribution: pd.DataFrame) -> list[str]:
    return sorted(distribution["region"].dropna().unique())


def region_rows(distribution: pd.DataFrame, region: str) -> pd.DataFrame:
    """The rows of one region (ISO3, any case); refuses a region the table does not hold."""
    key = region.strip().upper()
    rows = distribution[distribution["region"] == key]
    if rows.empty:
        raise InputError(f"region {region!r} is not in the condition distribution; regions there: "
                         f"{regions_of(distribution)}")
    return rows


def class_layers(legends: Mapping[str, object], terms: Mapping[str, tuple[str, ...]] | None = None
                 ) -> dict[str, ClassLayer]:
    """ClassLayers from dldd legends by column; each class labelled by ``terms[column]`` (the knowledge
    base's word for each class, in the legend's order, as a stage declares it:
    :class:`dldd.pipeline.contracts.Product`) or else by its class name."""
    out = {}
    terms = terms or {}
    for column, legend in legends.items():
        codes = tuple(int(c) for c in legend.codes)
        labels = tuple(terms.get(column) or (str(legend.label(c)) for c in codes))
        if len(labels) != len(codes):
            raise ValueError(f"condition {column!r}: {len(labels)} terms for the {len(codes)} classes of {legend.name!r}")
        out[column] = ClassLayer(column, codes, labels)
    return out
