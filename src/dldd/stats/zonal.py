"""Area statistics: km² of each class within each region, from geodesic cell areas (METHODS 1.8).

A region is given by the cells it touches and the fraction of each cell inside it
(:func:`dldd.regions.rasterize.region_fractions`), so coastlines and small states count in full.
The area of class ``c`` in region ``r`` is the sum over cells of ``fraction x cell area`` where the
class raster equals ``c``; cells with no data form their own row, so that the rows of a region add up
to its area on the grid. Tables are long (one row per region and class) with a region's share in %.

Bounded memory: every table is reduced tile by tile (:data:`ZONAL_TILE` x :data:`ZONAL_TILE` cells).
Each tile yields a small (regions x keys) matrix of sums; the matrices are added in tile order (row-major),
so numpy and dask inputs, any dask chunking and any scheduler give the same sums bit for bit. Dask-backed
maps are never gathered: each tile is computed where its data is (one task per tile that holds region
cells) and only the small sums travel. The region coverage itself (sparse cells and fractions) is held by
the caller, split per tile once per region set.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import numpy as np
import pandas as pd
import xarray as xr

from dldd.core.legend import Legend
from dldd.errors import InputError

#: Row label of cells without data in every area table.
NODATA_LABEL = "no data"
#: Row label of the water of the land account (docs/methods.md, "Land account") in every table of land.
WATER_LABEL = "water body"
#: Edge (cells) of the tiles the zonal sums are reduced over: the unit of work and of memory
#: (a tile of float64 is 0.5 MiB). Fixed, so that results do not depend on dask's chunking.
ZONAL_TILE = 256

RegionWeights = Mapping[str, tuple[np.ndarray, np.ndarray]]


def _plane(da: xr.DataArray | np.ndarray, name: str):
    """The (y, x) data of ``da`` (a numpy or dask array, never computed here)."""
    arr = da.data if isinstance(da, xr.DataArray) else np.asarray(da)
    if arr.ndim != 2:
        raise InputError(f"{name}: expected a (y, x) map, got shape {arr.shape}")
    return arr


def _is_lazy(arr) -> bool:
    return hasattr(arr, "dask")


def _valid_codes(values: np.ndarray, legend_codes: np.ndarray) -> np.ndarray:
    """Boolean mask of cells whose value is a code of the legend (NaN and fill values are no data)."""
    with np.errstate(invalid="ignore"):
        return np.isin(values, legend_codes)


def _slots(values: np.ndarray, codes: np.ndarray, missing: int) -> np.ndarray:
    """Position of each cell's class in ``codes``; ``missing`` where the value is not a legend code."""
    valid = _valid_codes(values, codes)
    order = np.argsort(codes)
    slot = np.full(values.shape, missing, dtype=np.int64)
    slot[valid] = order[np.searchsorted(codes[order], values[valid])]
    return slot


# --- per-tile keys (module-level functions, so that dask can ship them to workers) ------------------------
def _class_key(values, codes):
    return _slots(values, codes, len(codes)), None


def _zone_class_key(values, zvalues, codes, zcodes):
    nslot = len(codes) + 1
    return _slots(zvalues, zcodes, len(zcodes)) * nslot + _slots(values, codes, len(codes)), None


def _land_class_key(values, water, codes):
    n = len(codes)
    return np.where(water != 0, n + 1, _slots(values, codes, n)), None


def _zone_land_class_key(values, water, zvalues, codes, zcodes):
    nslot = len(codes) + 2
    return _slots(zvalues, zcodes, len(zcodes)) * nslot + _land_class_key(values, water, codes)[0], None


def _land_account_key(start, end, water, codes):
    """0 land with land cover at both dates, 1 land without (no data at a date), 2 water."""
    known = _valid_codes(start, codes) & _valid_codes(end, codes)
    return np.where(water != 0, 2, np.where(known, 0, 1)), None


def _combination_value_key(*arrays, codes_list, with_water):
    """Key = combination of the class layers' slots (row-major), ``n`` if any layer has no class, ``n + 1``
    on water; times 2, plus 1 where the value is missing. Value: the finite value, else 0."""
    *layers, value = arrays
    if with_water:
        *layers, water = layers
    key = np.zeros(value.shape, dtype=np.int64)
    valid = np.ones(value.shape, dtype=bool)
    n = 1
    for cls, codes in zip(layers, codes_list):
        slot = _slots(cls, codes, -1)
        valid &= slot >= 0
        key = key * len(codes) + np.maximum(slot, 0)
        n *= len(codes)
    key = np.where(valid, key, n)
    if with_water:
        key = np.where(water != 0, n + 1, key)
    v = value.astype("float64")
    ok = np.isfinite(v)
    return key * 2 + (~ok), np.where(ok, v, 0.0)


def _transition_key(a, b, codes):
    n = len(codes)
    sa, sb = _slots(a, codes, -1), _slots(b, codes, -1)
    return np.where((sa >= 0) & (sb >= 0), sa * n + sb, n * n), None


def _finite_key(values):
    v = values.astype("float64")
    ok = np.isfinite(v)
    return np.where(ok, 0, 1), np.where(ok, v, 0.0)


def _land_finite_key(values, water):
    key, v = _finite_key(values)
    return np.where(water != 0, 2, key), np.where(water != 0, 0.0, v)


# --- the tiled reduction ----------------------------------------------------------------------------------
def _local_dtype(tile: int):
    return np.uint16 if tile * tile <= 1 << 16 else np.int64


def _region_dtype(n: int):
    return np.int16 if n < 1 << 15 else np.int32


#: Cells per step when splitting region cells into tiles (bounds the temporaries of a tile plan).
TILE_PLAN_STEP = 1 << 22


def _tile_plan(regions: RegionWeights, shape: tuple[int, int], tile: int) -> dict:
    """Region cells split per tile: ``{(ty, tx): (region_row, local_cell, fraction)}`` (int16, uint16 and the
    fractions' own dtype: 8 bytes per covered cell for float32 fractions),
    within a tile in region order, then cell order. Cached on the region object when it allows it."""
    key = ("_dldd_tile_plan", shape, tile)
    cache = getattr(regions, "__dict__", None)
    if cache is not None and key in cache.get("_dldd_plans", {}):
        return cache["_dldd_plans"][key]
    ny, nx = shape
    ntx = -(-nx // tile)
    rows, cells, fracs = [], [], []
    for i, (idx, frac) in enumerate(regions.values()):
        idx = np.asarray(idx, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= ny * nx):
            raise InputError(f"region weights: cell index out of range for a {ny} x {nx} grid")
        rows.append(np.full(idx.size, i, dtype=np.int32))
        cells.append(idx)
        fracs.append(np.asarray(frac))
    if not rows:
        plan = {}
    else:
        reg = np.concatenate(rows).astype(_region_dtype(len(regions)))
        frac = np.concatenate(fracs)
        cell = np.concatenate(cells)
        del rows, cells, fracs
        # tile id and position inside the tile, computed in steps so no full-size int64 temporaries pile up
        tid = np.empty(cell.size, dtype=np.int32 if (ny // tile + 1) * ntx < 2**31 else np.int64)
        local = np.empty(cell.size, dtype=_local_dtype(tile))
        for s0 in range(0, cell.size, TILE_PLAN_STEP):
            c = cell[s0:s0 + TILE_PLAN_STEP]
            r = c // nx
            col = c - r * nx
            t = (r // tile) * ntx + col // tile
            tid[s0:s0 + TILE_PLAN_STEP] = t
            widths = np.minimum(tile, nx - (t % ntx) * tile)
            local[s0:s0 + TILE_PLAN_STEP] = (r % tile) * widths + (col % tile)
        del cell
        order = np.argsort(tid, kind="stable")
        reg, local, frac, tid = reg[order], local[order], frac[order], tid[order]
        del order
        bounds = np.flatnonzero(np.diff(tid)) + 1
        starts = np.concatenate([[0], bounds])
        ends = np.concatenate([bounds, [tid.size]])
        plan = {(int(tid[s] // ntx), int(tid[s] % ntx)): (reg[s:e], local[s:e], frac[s:e]) for s, e in zip(starts, ends)}
    if cache is not None:
        cache.setdefault("_dldd_plans", {})[key] = plan
    return plan


def _tile_sums(keyfn, n_regions: int, nkeys: int, weights, area, *arrays):
    """Sums over one tile: ``w = fraction x cell area`` per key, and ``w x value`` when the key gives values.
    ``area`` may be one column of the tile (a geographic grid's cell areas), broadcast here."""
    reg, local, frac = weights
    arrays = [np.asarray(a) for a in arrays]
    key, value = keyfn(*(a.ravel() for a in arrays))
    area = np.broadcast_to(np.asarray(area, dtype="float64"), arrays[0].shape).ravel()
    w = area[local] * frac
    flat = reg.astype(np.int64) * nkeys + key[local]
    sums = np.bincount(flat, weights=w, minlength=n_regions * nkeys).reshape(n_regions, nkeys)
    if value is None:
        return sums, None
    vsums = np.bincount(flat, weights=w * value[local], minlength=n_regions * nkeys).reshape(n_regions, nkeys)
    return sums, vsums


def _delayed(fn):
    import dask

    return dask.delayed(fn, pure=True)


class TiledRegions(Mapping):
    """Regions as geometries on a grid, their coverage fractions computed tile by tile where each tile is
    reduced (on the worker), so that no process holds the coverage of a whole map.

    A drop-in for :class:`dldd.regions.rasterize.RegionFractions` in this module's functions; indexing one
    region (``tiled[id]``) computes its full-grid coverage (for other uses; memory as RegionFractions).
    With ``cache_dir`` each tile's coverage is computed once, by the first task that needs it, and kept
    in ``cache_dir/tile-ROW-COL.npz`` (written atomically; data only) for every later table of the run:
    the folder must be one per set of regions, grid and tile size (see :func:`tiled_cache_key`).
    Fractions are those of :func:`dldd.regions.rasterize.region_fractions` on each tile's window; they may
    differ from the whole-grid ones in the last bits at partly covered cells (cell edges computed from the
    window's coordinates), so a run uses one or the other for a grid, never both.
    """

    def __init__(self, geometries: Mapping, like: xr.DataArray | xr.Dataset, *, crs=None, cache_dir=None):
        import pyproj

        self.geometries = {str(k): v for k, v in geometries.items()}
        self.y = np.asarray(like["y"].values)
        self.x = np.asarray(like["x"].values)
        self.crs = pyproj.CRS.from_user_input(crs or like.rio.crs)
        if self.y.size < 2 or self.x.size < 2:
            raise InputError(f"TiledRegions: the grid needs at least 2 x 2 cells, got {self.y.size} x {self.x.size}")
        self._delayed = None
        self.cache_dir = None if cache_dir is None else str(cache_dir)

    def __getitem__(self, region_id: str) -> tuple[np.ndarray, np.ndarray]:
        from dldd.regions.rasterize import region_fractions

        return region_fractions({region_id: self.geometries[region_id]}, self._template(slice(None), slice(None)),
                                crs=self.crs)[region_id]

    def __iter__(self):
        return iter(self.geometries)

    def __len__(self) -> int:
        return len(self.geometries)

    def _template(self, ys, xs) -> xr.DataArray:
        y, x = self.y[ys], self.x[xs]
        return xr.DataArray(np.broadcast_to(np.float32(0), (y.size, x.size)), dims=("y", "x"), coords={"y": y, "x": x})

    def delayed_geometries(self):
        """The geometries as one dask key (sent once to each worker, not with every task)."""
        if self._delayed is None:
            self._delayed = _delayed(dict)(self.geometries)
        return self._delayed

    def tiles(self, tile: int) -> list[tuple[int, int]]:
        """Tiles (row-major) whose extent meets the bounding box of some region (all tiles on a projected
        grid or one that crosses the antimeridian)."""
        ny, nx = self.y.size, self.x.size
        all_tiles = [(ty, tx) for ty in range(-(-ny // tile)) for tx in range(-(-nx // tile))]
        if not self.crs.is_geographic or self.x.max() > 180 or self.x.min() < -180:
            return all_tiles
        boxes = np.array([g.bounds for g in self.geometries.values() if not g.is_empty]).reshape(-1, 4)
        dy, dx = abs(self.y[1] - self.y[0]) / 2, abs(self.x[1] - self.x[0]) / 2
        keep = []
        for ty, tx in all_tiles:
            ys, xs = self.y[ty * tile:(ty + 1) * tile], self.x[tx * tile:(tx + 1) * tile]
            s, n, w, e = ys.min() - dy, ys.max() + dy, xs.min() - dx, xs.max() + dx
            if ((boxes[:, 0] <= e) & (boxes[:, 2] >= w) & (boxes[:, 1] <= n) & (boxes[:, 3] >= s)).any():
                keep.append((ty, tx))
        return keep

    def tile_args(self, t: tuple[int, int], tile: int) -> tuple:
        """What a task needs to compute one tile's coverage: the window's coordinates (padded to 2 cells where
        the grid's last tile is 1 cell wide), the padding, the CRS, the region count and the cache file."""
        ny, nx = self.y.size, self.x.size
        y0, y1 = t[0] * tile, min((t[0] + 1) * tile, ny)
        x0, x1 = t[1] * tile, min((t[1] + 1) * tile, nx)
        py, px = int(y1 - y0 < 2), int(x1 - x0 < 2)
        cached = None if self.cache_dir is None else f"{self.cache_dir}/tile-{t[0]}-{t[1]}.npz"
        return (self.y[y0 - py:y1], self.x[x0 - px:x1], py, px, self.crs.to_wkt(), len(self.geometries), cached)


def tiled_cache_key(geometries: Mapping, like: xr.DataArray, tile: int = ZONAL_TILE) -> str:
    """SHA-256 of what a tile's coverage depends on: the regions (ids and geometries), the grid's
    coordinates and CRS and the tile size; names the cache folder of a :class:`TiledRegions`."""
    import hashlib

    h = hashlib.sha256()
    for rid, geom in geometries.items():
        h.update(str(rid).encode())
        h.update(geom.wkb)
    h.update(np.asarray(like["y"].values, dtype="float64").tobytes())
    h.update(np.asarray(like["x"].values, dtype="float64").tobytes())
    h.update(str(like.rio.crs.to_wkt()).encode())
    h.update(str(tile).encode())
    return h.hexdigest()


def _tile_coverage(geometries: dict, y, x, pad_y: int, pad_x: int, crs: str, n_regions: int, cached: str | None = None):
    """(region_row, local_cell, fraction) of one tile, in region order then cell order (see _tile_plan);
    read from / kept in the ``cached`` file when given."""
    import os

    if cached is not None and os.path.isfile(cached):
        with np.load(cached, allow_pickle=False) as f:
            return f["rows"], f["cells"], f["fracs"]
    out = _tile_coverage_computed(geometries, y, x, pad_y, pad_x, crs, n_regions)
    if cached is not None:
        from dldd.core import io

        with io.atomic_path(cached) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, rows=out[0], cells=out[1], fracs=out[2])
    return out


def _tile_coverage_computed(geometries: dict, y, x, pad_y: int, pad_x: int, crs: str, n_regions: int):
    from dldd.regions.rasterize import region_fractions

    template = xr.DataArray(np.broadcast_to(np.float32(0), (y.size, x.size)), dims=("y", "x"), coords={"y": y, "x": x})
    fr = region_fractions(geometries, template, crs=crs)
    h, w = y.size - pad_y, x.size - pad_x
    rows, cells, fracs = [], [], []
    for i, rid in enumerate(fr.ids):
        idx, frac = fr[rid]
        r, c = idx // x.size - pad_y, idx % x.size - pad_x
        ok = (r >= 0) & (c >= 0)
        rows.append(np.full(int(ok.sum()), i, dtype=_region_dtype(n_regions)))
        cells.append((r[ok] * w + c[ok]).astype(_local_dtype(max(h, w))))
        fracs.append(frac[ok])
    return (np.concatenate(rows), np.concatenate(cells), np.concatenate(fracs))


def zonal_sums(keyfn, arrays: list, cell_area_km2, regions: RegionWeights, nkeys: int,
               tile: int = ZONAL_TILE) -> tuple[np.ndarray, np.ndarray | None]:
    """Sums of ``fraction x cell area`` (and of that times a value) per region and key, tile by tile.

    ``keyfn(*tile_arrays) -> (key, value)`` maps the flattened tiles of ``arrays`` to an int key in
    ``[0, nkeys)`` per cell and optionally a float value per cell (None). Returns ``(sums, value_sums)``
    of shape (n_regions, nkeys) in the order of ``regions``; ``value_sums`` is None without values.
    numpy inputs are reduced in a loop; if any input is dask-backed all are, one task per tile.
    """
    area = _plane(cell_area_km2, "cell_area_km2")
    planes = [_plane(a, n) for a, n in arrays]
    for (_, n), p in zip(arrays, planes):
        if p.shape != area.shape:
            raise InputError(f"{n} has {int(np.prod(p.shape))} cells but cell_area_km2 has {area.size}: grids differ")
    n_regions = len(regions)
    fn = partial(_tile_sums, keyfn, n_regions, nkeys)
    lazy = any(_is_lazy(p) for p in [area, *planes])
    if isinstance(regions, TiledRegions):
        tiles = regions.tiles(tile)
        geoms = regions.delayed_geometries() if lazy else regions.geometries
        weights = {t: (partial(_tile_coverage, geoms, *regions.tile_args(t, tile)) if not lazy else
                       _delayed(_tile_coverage)(geoms, *regions.tile_args(t, tile))) for t in tiles}
    else:
        plan = _tile_plan(regions, area.shape, tile)
        tiles = sorted(plan)
        weights = plan

    def window(p, t):
        w = p[t[0] * tile:(t[0] + 1) * tile, t[1] * tile:(t[1] + 1) * tile]
        if not _is_lazy(p) and p.ndim == 2 and p.strides[1] == 0:
            return np.array(w[:, :1])  # a broadcast column (geographic cell areas): ship the column only
        return w if _is_lazy(p) else np.array(w)

    if lazy:
        import dask

        # dask maps: one block per tile; numpy maps: each task gets only its tile's copy
        blocks = [p.rechunk((tile, tile)).to_delayed() if _is_lazy(p) else p for p in [area, *planes]]
        tasks = [_delayed(fn)(weights[t], *(b[t] if _is_lazy(p) else window(p, t)
                                            for b, p in zip(blocks, [area, *planes]))) for t in tiles]
        parts = dask.compute(*tasks)
    else:
        parts = [fn(weights[t]() if callable(weights[t]) else weights[t], window(area, t),
                    *(window(p, t) for p in planes)) for t in tiles]
    sums = np.zeros((n_regions, nkeys))
    vsums = None
    for s, v in parts:  # in tile order: the same sums on every scheduler
        sums += s
        if v is not None:
            vsums = v.copy() if vsums is None else vsums + v
    if vsums is None and parts and parts[0][1] is not None:
        vsums = np.zeros((n_regions, nkeys))
    return sums, vsums


def class_areas(
    classes: xr.DataArray,
    regions: RegionWeights,
    cell_area_km2: xr.DataArray,
    legend: Legend,
    *,
    region_info: Mapping[str, Mapping[str, str]] | None = None,
    zones: xr.DataArray | None = None,
    zone_legend: Legend | None = None,
    water: xr.DataArray | None = None,
) -> pd.DataFrame:
    """Long table ``region, [zone,] code, class, area_km2, share_pct`` with a no-data row per region.

    ``zones`` (e.g. aridity classes) splits every region's rows by zone; cells outside every zone go to
    zone "no data". ``region_info`` adds columns (name, subregion) per region id. Maps may be numpy- or
    dask-backed (reduced per tile, see the module's docstring).

    With ``water`` (a map, non-zero where the land account counts water; docs/methods.md "Land account")
    the classes are areas of *land*: water cells form their own row (:data:`WATER_LABEL`, whatever their
    class), the no-data row is land without a class, and the shares name their denominator:
    ``share_of_land_pct`` = area / land area (classes + no data; the no-data row has one too) and
    ``share_of_land_with_data_pct`` = area / (land area - no data) (class rows only); the water row has
    neither. Without ``water``, ``share_pct`` is the share of the region's area on the grid.
    """
    codes = np.array(legend.codes)
    labels = [(int(c), legend.label(int(c))) for c in codes] + [(None, NODATA_LABEL)]
    if water is not None:
        labels.append((None, WATER_LABEL))
    nslot = len(labels)
    if zones is None:
        if water is None:
            sums, _ = zonal_sums(partial(_class_key, codes=codes), [(classes, "classes")], cell_area_km2, regions,
                                 nslot)
        else:
            sums, _ = zonal_sums(partial(_land_class_key, codes=codes), [(classes, "classes"), (water, "water")],
                                 cell_area_km2, regions, nslot)
        zone_labels = [None]
    else:
        zcodes = np.array(zone_legend.codes)
        zone_labels = [zone_legend.label(int(c)) for c in zcodes] + [NODATA_LABEL]
        if water is None:
            sums, _ = zonal_sums(partial(_zone_class_key, codes=codes, zcodes=zcodes),
                                 [(classes, "classes"), (zones, "zones")], cell_area_km2, regions,
                                 len(zone_labels) * nslot)
        else:
            sums, _ = zonal_sums(partial(_zone_land_class_key, codes=codes, zcodes=zcodes),
                                 [(classes, "classes"), (water, "water"), (zones, "zones")], cell_area_km2, regions,
                                 len(zone_labels) * nslot)
    ncls = len(codes)
    rows = []
    for ri, rid in enumerate(regions):
        info = dict(region_info.get(rid, {})) if region_info else {}
        total = sums[ri].sum()
        per_zone = sums[ri].reshape(len(zone_labels), nslot)
        land = per_zone[:, :ncls + 1].sum()
        with_data = per_zone[:, :ncls].sum()
        for zi, zname in enumerate(zone_labels):
            zcol = {} if zname is None else {"zone": zname}
            for k, ((code, label), a) in enumerate(zip(labels, per_zone[zi])):
                row = {"region": rid, **info, **zcol, "code": code, "class": label, "area_km2": a}
                if water is None:
                    row["share_pct"] = 100 * a / total if total else np.nan
                else:
                    row["share_of_land_pct"] = 100 * a / land if land and k <= ncls else np.nan
                    row["share_of_land_with_data_pct"] = 100 * a / with_data if with_data and k < ncls else np.nan
                rows.append(row)
    df = pd.DataFrame(rows)
    if not df.empty:
        df["code"] = df["code"].astype("Int64")
    return df


def class_value_totals(
    layers: list[tuple[xr.DataArray, Legend, str]],
    values: xr.DataArray,
    regions: RegionWeights,
    cell_area_km2: xr.DataArray,
    *,
    region_info: Mapping[str, Mapping[str, str]] | None = None,
    water: xr.DataArray | None = None,
) -> pd.DataFrame:
    """Area and area-weighted total of ``values`` per region and combination of classes of ``layers``
    (``[(class map, legend, column name), ...]``: one layer for a class table, two for a transition table).

    Rows: every combination of the legends' codes (columns ``<name>_code`` and ``<name>``), one row with
    no class in some layer (:data:`NODATA_LABEL`) and, with ``water``, one of water (:data:`WATER_LABEL`).
    Columns ``area_km2``, ``area_with_value_km2`` and ``value_x_km2`` = sum of value x fraction x cell
    area over the cells with a value (a stock in t/ha gives t with x 100 ha/km²).
    """
    import itertools

    codes_list = [np.array(legend.codes) for _, legend, _ in layers]
    n = int(np.prod([len(c) for c in codes_list]))
    arrays = [(da, name) for da, _, name in layers]
    if water is not None:
        arrays.append((water, "water"))
    arrays.append((values, "values"))
    sums, vsums = zonal_sums(partial(_combination_value_key, codes_list=codes_list, with_water=water is not None),
                             arrays, cell_area_km2, regions, (n + 2) * 2)
    if vsums is None:
        vsums = np.zeros_like(sums)
    combos = list(itertools.product(*[[(int(c), lg.label(int(c))) for c in lg.codes] for _, lg, _ in layers]))
    extra = [NODATA_LABEL] + ([WATER_LABEL] if water is not None else [])
    rows = []
    for ri, rid in enumerate(regions):
        info = dict(region_info.get(rid, {})) if region_info else {}
        for k, combo in enumerate(combos + [None] * len(extra)):
            row = {"region": rid, **info}
            for li, (_, _, name) in enumerate(layers):
                code, label = combo[li] if combo is not None else (None, extra[k - n])
                row[f"{name}_code"], row[name] = code, label
            row.update(area_km2=sums[ri, 2 * k] + sums[ri, 2 * k + 1], area_with_value_km2=sums[ri, 2 * k],
                       value_x_km2=vsums[ri, 2 * k])
            rows.append(row)
    df = pd.DataFrame(rows)
    for _, _, name in layers:
        df[f"{name}_code"] = df[f"{name}_code"].astype("Int64")
    return df


def land_account(
    spans: Mapping[str, tuple[xr.DataArray, xr.DataArray]],
    regions: RegionWeights,
    cell_area_km2: xr.DataArray,
    legend: Legend,
    water_code: int,
    *,
    region_info: Mapping[str, Mapping[str, str]] | None = None,
) -> pd.DataFrame:
    """The land account (docs/methods.md): per region and span (label -> land cover at its first and last
    year, in ``legend``; a single year is a span from the year to itself), ``total_area_km2``,
    ``water_km2`` (cells of class ``water_code`` at either date), ``land_km2`` = total - water, and
    ``land_no_land_cover_km2`` (land without a land cover class at a date)."""
    codes = np.array(legend.codes)
    rows = []
    for label, (start, end) in spans.items():
        water = ((start == water_code) | (end == water_code)).astype("uint8")
        sums, _ = zonal_sums(partial(_land_account_key, codes=codes), [(start, "start"), (end, "end"), (water, "water")],
                             cell_area_km2, regions, 3)
        for ri, rid in enumerate(regions):
            info = dict(region_info.get(rid, {})) if region_info else {}
            rows.append({"region": rid, **info, "period": label, "total_area_km2": sums[ri].sum(),
                         "water_km2": sums[ri, 2], "land_km2": sums[ri, :2].sum(),
                         "land_no_land_cover_km2": sums[ri, 1]})
    return pd.DataFrame(rows)


def transition_areas(
    start: xr.DataArray,
    end: xr.DataArray,
    regions: RegionWeights,
    cell_area_km2: xr.DataArray,
    legend: Legend,
    *,
    region_info: Mapping[str, Mapping[str, str]] | None = None,
) -> pd.DataFrame:
    """Long table ``region, from_code, from, to_code, to, area_km2``; pairs with any no data form one row."""
    codes = np.array(legend.codes)
    n = len(codes)
    sums, _ = zonal_sums(partial(_transition_key, codes=codes), [(start, "start"), (end, "end")], cell_area_km2,
                         regions, n * n + 1)
    rows = []
    for ri, rid in enumerate(regions):
        info = dict(region_info.get(rid, {})) if region_info else {}
        for i in range(n):
            for j in range(n):
                rows.append({"region": rid, **info, "from_code": int(codes[i]), "from": legend.label(int(codes[i])),
                             "to_code": int(codes[j]), "to": legend.label(int(codes[j])), "area_km2": sums[ri, i * n + j]})
        rows.append({"region": rid, **info, "from_code": None, "from": NODATA_LABEL, "to_code": None,
                     "to": NODATA_LABEL, "area_km2": sums[ri, n * n]})
    df = pd.DataFrame(rows)
    for c in ("from_code", "to_code"):
        df[c] = df[c].astype("Int64")
    return df


def weighted_means(
    values: xr.DataArray,
    regions: RegionWeights,
    cell_area_km2: xr.DataArray,
    *,
    region_info: Mapping[str, Mapping[str, str]] | None = None,
    name: str = "value",
    water: xr.DataArray | None = None,
) -> pd.DataFrame:
    """Area-weighted mean, total (value x area) and covered area of a continuous map per region.

    With ``water`` (non-zero on the land account's water) the mean is over land only: columns
    ``area_with_data_km2`` (land with a value), ``area_no_data_km2`` (land without) and ``water_km2``."""
    if water is None:
        sums, vsums = zonal_sums(_finite_key, [(values, name)], cell_area_km2, regions, 2)
    else:
        sums, vsums = zonal_sums(_land_finite_key, [(values, name), (water, "water")], cell_area_km2, regions, 3)
    if vsums is None:
        vsums = np.zeros_like(sums)
    rows = []
    for ri, rid in enumerate(regions):
        wa = sums[ri, 0]
        info = dict(region_info.get(rid, {})) if region_info else {}
        row = {"region": rid, **info, f"mean_{name}": vsums[ri, 0] / wa if wa else np.nan,
               "area_with_data_km2": wa, "area_no_data_km2": sums[ri, 1]}
        if water is not None:
            row["water_km2"] = sums[ri, 2]
        rows.append(row)
    return pd.DataFrame(rows)
