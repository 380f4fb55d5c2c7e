"""Land cover sub-indicator of SDG 15.3.1: legend nesting, transitions and their degradation class.

METHODS 1.5 (GPG2; Trends.Earth). Inputs in a product legend (ESA CCI, MODIS IGBP, a national legend)
are *nested* into the seven UNCCD classes (1 tree-covered, 2 grassland, 3 cropland, 4 wetland,
5 artificial, 6 other land, 7 water body) by a table that is data, not code:
``legends/esa_cci_to_unccd.yaml`` (Trends.Earth default) and ``legends/modis_igbp_to_unccd.yaml``
(the same rules applied to IGBP; its header explains each choice). A pixel's change between the start
and end maps of a period is then classified by a transition matrix: -1 degraded, 0 stable, +1 improved.

All functions take and return ``xarray.DataArray`` objects and work lazily on dask-backed arrays
(element-wise blocks, any chunking). Class rasters are int8 with no-data ``CLASS_NODATA`` (-128).
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType

import numpy as np
import xarray as xr
import yaml

from dldd.core.attrs import output_attrs
from dldd.core.legend import CLASS_NODATA, SDG3, UNCCD_LAND_COVER
from dldd.errors import GridMismatchError, InputError

#: UNCCD land cover codes (GPG2): 1 tree-covered .. 7 water body.
UNCCD_CODES = tuple(UNCCD_LAND_COVER.codes)
N_UNCCD = len(UNCCD_CODES)
TREE, GRASS, CROP, WETLAND, ARTIFICIAL, OTHER, WATER = UNCCD_CODES

#: SDG 15.3.1 class codes (GPG2): degraded -1, stable 0, improved +1.
DEGRADED, STABLE, IMPROVED = SDG3.codes

#: Default land cover transition matrix (METHODS 1.5; GPG2 / Trends.Earth default). Rows: class at the
#: start of the period (1 tree .. 7 water); columns: class at the end. -1 degradation, 0 stable,
#: +1 improvement. Read-only.
DEFAULT_TRANSITION_MATRIX = np.array(
    [
        # to: Tree Grass Crop  Wet  Art Other Water
        [0, -1, -1, -1, -1, -1, 0],  # from Tree
        [1, 0, 1, -1, -1, -1, 0],  # from Grass
        [1, -1, 0, -1, -1, -1, 0],  # from Crop
        [-1, -1, -1, 0, -1, -1, 0],  # from Wetland
        [1, 1, 1, 1, 0, 1, 0],  # from Artificial
        [1, 1, 1, 1, -1, 0, 0],  # from Other land
        [0, 0, 0, 0, 0, 0, 0],  # from Water
    ],
    dtype=np.int8,
)
DEFAULT_TRANSITION_MATRIX.flags.writeable = False

#: Transition code = from * TRANSITION_CODE_BASE + to (11 .. 77), as in Trends.Earth transition tables.
TRANSITION_CODE_BASE = 10

#: Nesting tables shipped with dldd (``legends/<file>``), by legend name.
NESTING_FILES = MappingProxyType({"esa_cci": "esa_cci_to_unccd.yaml", "modis_igbp": "modis_igbp_to_unccd.yaml"})

#: Word used in nesting tables for "this source code is no data".
NODATA_WORD = "nodata"

GPG2_REF = "UNCCD Good Practice Guidance for SDG 15.3.1, version 2 (Sims et al. 2021); Trends.Earth"


# --------------------------------------------------------------------------------------------------
# helpers shared by the SDG modules (landcover, soc, sdg)
# --------------------------------------------------------------------------------------------------


def finish(out: xr.DataArray, name: str, long_name: str, units: str, method: str, parameters: str,
           references: str = GPG2_REF) -> xr.DataArray:
    """Name ``out`` and set the attributes every dldd output carries (class rasters get _FillValue)."""
    out = out.rename(name)
    fill = CLASS_NODATA if np.issubdtype(out.dtype, np.integer) else None
    out.attrs = output_attrs(units, long_name, method, parameters, references, _FillValue=fill)
    return out


def align_exact(**arrays: xr.DataArray | None) -> dict[str, xr.DataArray | None]:
    """Check that the given (non-None) arrays share coordinates; raise GridMismatchError naming them."""
    given = {k: v for k, v in arrays.items() if v is not None}
    for k, v in given.items():
        if not isinstance(v, xr.DataArray):
            raise InputError(f"{k} must be an xarray.DataArray, got {type(v).__name__}")
    try:
        aligned = xr.align(*given.values(), join="exact")
    except ValueError as err:
        raise GridMismatchError(
            f"{', '.join(given)} must share one grid (same coordinates); they do not: {err}") from err
    out = dict(zip(given, aligned))
    return {k: out.get(k) for k in arrays}


def check_codes(values: np.ndarray, allowed, name: str) -> None:
    """Raise InputError if ``values`` hold codes outside ``allowed`` (no-data must be in ``allowed``)."""
    values = np.asarray(values)
    codes = np.unique(np.asarray(allowed, dtype=np.int64))
    # runs of consecutive codes: a few comparisons per run (much faster than np.isin on large blocks)
    breaks = np.flatnonzero(np.diff(codes) != 1)
    ok = np.zeros(values.shape, bool)
    for lo, hi in zip(codes[np.r_[0, breaks + 1]], codes[np.r_[breaks, codes.size - 1]]):
        ok |= (values >= lo) & (values <= hi) if lo != hi else (values == lo)
    if values.dtype.kind == "f":
        ok &= values == np.round(values)
    bad = ~ok
    if bad.any():
        found = np.unique(values[bad])[:20].tolist()
        raise InputError(f"{name} holds codes {found}; expected only {sorted(allowed)} "
                         f"({CLASS_NODATA} = no data)")


def elementwise(func, *arrays: xr.DataArray, dtype, **kwargs) -> xr.DataArray:
    """Apply a numpy element-wise block function lazily (dask) or eagerly (numpy)."""
    return xr.apply_ufunc(func, *arrays, kwargs=kwargs, dask="parallelized", output_dtypes=[dtype],
                          keep_attrs=False)


UNCCD_ALLOWED = (*UNCCD_CODES, CLASS_NODATA)


# --------------------------------------------------------------------------------------------------
# nesting
# --------------------------------------------------------------------------------------------------


def load_nesting(name: str) -> dict[int, int]:
    """Nesting table shipped with dldd: ``{source code: UNCCD class}`` (no-data codes -> CLASS_NODATA).

    ``name`` is a key of :data:`NESTING_FILES` ("esa_cci", "modis_igbp").
    """
    if name not in NESTING_FILES:
        raise InputError(f"nesting legend {name!r} is unknown; expected one of {sorted(NESTING_FILES)}")
    text = resources.files("dldd.indicators.legends").joinpath(NESTING_FILES[name]).read_text("utf-8")
    table = yaml.safe_load(text)
    return {int(row["code"]): (CLASS_NODATA if row["unccd"] == NODATA_WORD else int(row["unccd"]))
            for row in table["classes"]}


#: ESA CCI land cover -> UNCCD (Trends.Earth default nesting, adopted by GPG2).
ESA_CCI_TO_UNCCD = MappingProxyType(load_nesting("esa_cci"))
#: MODIS LC_Type1 (IGBP) -> UNCCD (rules of the Trends.Earth ESA CCI nesting applied to IGBP).
MODIS_IGBP_TO_UNCCD = MappingProxyType(load_nesting("modis_igbp"))


def _nest_block(codes, keys, values, nodata_codes, unknown, name):
    codes = np.asarray(codes)
    out = np.full(codes.shape, CLASS_NODATA, dtype=np.int8)
    if np.issubdtype(codes.dtype, np.floating):
        finite = np.isfinite(codes)
        integral = finite & (codes == np.round(np.where(finite, codes, 0)))
        icodes = np.where(integral, codes, 0).astype(np.int64)
        unknown_mask = finite & ~integral
    else:
        finite = np.ones(codes.shape, bool)
        icodes = codes.astype(np.int64)
        unknown_mask = np.zeros(codes.shape, bool)
    is_nodata = ~finite | np.isin(icodes, nodata_codes)
    pos = np.clip(np.searchsorted(keys, icodes), 0, len(keys) - 1)
    known = (keys[pos] == icodes) & ~is_nodata & ~unknown_mask
    out[known] = values[pos[known]]
    unknown_mask |= ~known & ~is_nodata
    if unknown == "raise" and unknown_mask.any():
        found = np.unique(codes[unknown_mask])[:20].tolist()
        raise InputError(f"{name} holds codes {found} that the nesting legend does not list "
                         f"(known codes: {keys.tolist()}); add them to the legend or pass unknown='nodata'")
    return out


def nest(da: xr.DataArray, mapping: Mapping[int, int], unknown: str = "raise", nodata=None) -> xr.DataArray:
    """Recode a land cover raster in a product legend into the seven UNCCD classes (int8).

    ``mapping``: ``{source code: UNCCD class 1..7}``; a target of ``CLASS_NODATA`` or ``None`` marks a
    no-data code (e.g. :data:`ESA_CCI_TO_UNCCD`, :data:`MODIS_IGBP_TO_UNCCD`, or a user legend already
    parsed from its CSV). ``nodata``: source codes that mean no data (default: ``da.attrs['_FillValue']``
    if set); NaN is always no data. ``unknown``: ``"raise"`` (default) raises InputError naming the codes
    found that the mapping does not list (on dask arrays, when the block is computed); ``"nodata"`` maps
    them to no data. Works on any dims (a yearly series with ``time`` too).
    """
    if unknown not in ("raise", "nodata"):
        raise InputError(f"unknown must be 'raise' or 'nodata', got {unknown!r}")
    if not isinstance(mapping, Mapping) or not mapping:
        raise InputError(f"mapping must be a non-empty {{source code: UNCCD class}} mapping, got {mapping!r}")
    items = sorted((int(k), CLASS_NODATA if v is None else int(v)) for k, v in mapping.items())
    bad = sorted({v for _, v in items if v not in UNCCD_ALLOWED})
    if bad:
        raise InputError(f"nesting mapping targets {bad} are not UNCCD classes {list(UNCCD_CODES)} "
                         f"(or {CLASS_NODATA} for no data)")
    keys = np.array([k for k, _ in items], dtype=np.int64)
    values = np.array([v for _, v in items], dtype=np.int8)
    if nodata is None:
        nodata = da.attrs.get("_FillValue", da.encoding.get("_FillValue"))
    nodata_codes = np.array([] if nodata is None else np.atleast_1d(nodata), dtype=np.float64)
    nodata_codes = nodata_codes[np.isfinite(nodata_codes)].astype(np.int64)
    name = f"land cover {da.name!r}" if da.name is not None else "land cover"
    out = elementwise(_nest_block, da, dtype=np.int8, keys=keys, values=values, nodata_codes=nodata_codes,
                      unknown=unknown, name=name)
    return finish(out, "land_cover", "Land cover (UNCCD classes)", "1", "legend nesting",
                  f"source codes {keys.tolist()} -> {values.tolist()}; unknown={unknown}")


def land_cover_series(lc_start: xr.DataArray, lc_end: xr.DataArray, years, transition_year: int) -> xr.DataArray:
    """Yearly land cover series (time, ...) from two maps: ``lc_start`` before ``transition_year``,
    ``lc_end`` from it on. Use it to drive :func:`dldd.indicators.soc.soc_stock` when only the start and
    end maps of a period are known."""
    years = np.asarray(years, dtype=int)
    if not years.min() <= transition_year <= years.max():
        raise InputError(f"transition_year {transition_year} is outside the years {years.min()}-{years.max()}")
    a = align_exact(lc_start=lc_start, lc_end=lc_end)
    time = xr.DataArray(np.array([f"{y}-01-01" for y in years], dtype="datetime64[ns]"), dims="time")
    after = xr.DataArray(years >= transition_year, dims="time", coords={"time": time})
    out = xr.where(after, a["lc_end"], a["lc_start"]).astype(np.int8).transpose("time", ...)
    return finish(out, "land_cover", "Land cover (UNCCD classes)", "1", "two maps with a transition year",
                  f"transition_year={transition_year}")


# --------------------------------------------------------------------------------------------------
# transitions
# --------------------------------------------------------------------------------------------------


def _as_matrix(matrix, name: str) -> np.ndarray:
    m = np.asarray(matrix)
    if m.shape != (N_UNCCD, N_UNCCD):
        raise InputError(f"{name} must be a {N_UNCCD}x{N_UNCCD} matrix (rows from, columns to), "
                         f"got shape {m.shape}")
    if not np.isin(m, (DEGRADED, STABLE, IMPROVED)).all():
        raise InputError(f"{name} must hold only -1, 0, +1; found {np.unique(m).tolist()}")
    return m.astype(np.int8)


def _transition_block(start, end, zones, zone_keys, matrices):
    check_codes(start, UNCCD_ALLOWED, "lc_start")
    check_codes(end, UNCCD_ALLOWED, "lc_end")
    valid = (start != CLASS_NODATA) & (end != CLASS_NODATA)
    if zones is None:
        zidx = np.zeros(start.shape, np.intp)
    else:
        z = np.asarray(zones)
        if np.issubdtype(z.dtype, np.floating):
            z = np.where(np.isfinite(z), z, np.iinfo(np.int64).min)
        z = z.astype(np.int64)
        pos = np.clip(np.searchsorted(zone_keys, z), 0, max(len(zone_keys) - 1, 0))
        hit = (zone_keys[pos] == z) if len(zone_keys) else np.zeros(z.shape, bool)
        zidx = np.where(hit, pos + 1, 0)  # 0 = default matrix
    s = np.where(valid, start, 1).astype(np.intp) - 1
    e = np.where(valid, end, 1).astype(np.intp) - 1
    return np.where(valid, matrices[zidx, s, e], CLASS_NODATA).astype(np.int8)


def land_cover_degradation(lc_start: xr.DataArray, lc_end: xr.DataArray, matrix=DEFAULT_TRANSITION_MATRIX,
                           zones: xr.DataArray | None = None,
                           zone_matrices: Mapping[int, object] | None = None) -> xr.DataArray:
    """Land cover degradation class: ``matrix[from - 1, to - 1]`` (-1 degraded, 0 stable, +1 improved).

    ``lc_start``, ``lc_end``: UNCCD classes (int, 1..7, no-data CLASS_NODATA) on one grid.
    ``matrix``: 7x7 (rows from, columns to), default :data:`DEFAULT_TRANSITION_MATRIX` (METHODS 1.5, GPG2).
    ``zones`` + ``zone_matrices``: one matrix per sub-national zone (``{zone id: 7x7}``), as national
    reporting allows; pixels whose zone has no matrix (or no zone) use ``matrix``.
    No data where either map has no data.
    """
    default = _as_matrix(matrix, "matrix")
    zone_matrices = dict(zone_matrices or {})
    if zone_matrices and zones is None:
        raise InputError("zone_matrices given without zones: pass the zone raster as zones=")
    zone_keys = np.array(sorted(int(k) for k in zone_matrices), dtype=np.int64)
    stack = np.stack([default] + [_as_matrix(zone_matrices[k], f"zone_matrices[{k}]") for k in zone_keys])
    a = align_exact(lc_start=lc_start, lc_end=lc_end, zones=zones)
    args = [a["lc_start"], a["lc_end"]] + ([a["zones"]] if zones is not None else [])
    if zones is None:
        out = elementwise(lambda s, e, **kw: _transition_block(s, e, None, **kw), *args, dtype=np.int8,
                          zone_keys=zone_keys, matrices=stack)
    else:
        out = elementwise(_transition_block, *args, dtype=np.int8, zone_keys=zone_keys, matrices=stack)
    params = "default matrix (GPG2)" if np.array_equal(default, DEFAULT_TRANSITION_MATRIX) else "user matrix"
    if zone_keys.size:
        params += f"; zone matrices for zones {zone_keys.tolist()}"
    return finish(out, "land_cover_degradation", "Land cover degradation (SDG 15.3.1 sub-indicator)", "1",
                  "transition matrix", params)


def _codes_block(start, end):
    check_codes(start, UNCCD_ALLOWED, "lc_start")
    check_codes(end, UNCCD_ALLOWED, "lc_end")
    valid = (start != CLASS_NODATA) & (end != CLASS_NODATA)
    code = start.astype(np.int16) * TRANSITION_CODE_BASE + end.astype(np.int16)
    return np.where(valid, code, CLASS_NODATA).astype(np.int8)


def transition_codes(lc_start: xr.DataArray, lc_end: xr.DataArray) -> xr.DataArray:
    """Transition code ``from * 10 + to`` (11 .. 77; int8, no data where either map has none), the key of
    the land cover transition tables (UNCCD SO1-1)."""
    a = align_exact(lc_start=lc_start, lc_end=lc_end)
    out = elementwise(_codes_block, a["lc_start"], a["lc_end"], dtype=np.int8)
    return finish(out, "land_cover_transition", "Land cover transition (from * 10 + to)", "1",
                  "transition code", f"code = from * {TRANSITION_CODE_BASE} + to")
