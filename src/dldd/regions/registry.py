"""The region registry: countries of the world, the Belt and Road dryland sub-regions, and user zones.

Country polygons are Natural Earth 1:50m admin-0 countries as shipped by the npm package world-atlas 2.0.2
(``data/countries-50m.json``, TopoJSON, public domain; see ``data/LICENSE-world-atlas.txt``). The TopoJSON
is decoded here (quantised, delta-encoded arcs; Bostock's TopoJSON specification 1.0) and its *spherical*
rings are turned into planar lon/lat geometries in the window [-180, 180]:

- a ring is a closed loop on the sphere; a jump of more than 180 degrees between consecutive vertices is a
  crossing of the antimeridian (Russia's Chukotka and Wrangel Island, Fiji), so longitudes are unwrapped;
- a ring whose unwrapped longitudes advance by +-360 degrees encircles a pole (Antarctica): following the
  d3/TopoJSON convention (the polygon's interior lies to the right of each ring), an eastward ring bounds
  the region to its south and a westward ring the region to its north, closed through the pole;
- the planar result is made valid and cut at +-180 degrees, pieces beyond being shifted by 360 degrees.

A boundary file of the user's choice and territories merged into a country replace or change these
polygons through :mod:`dldd.regions.boundaries` (``Registry.default(boundaries=...)``).

Features without an ISO 3166 numeric id in world-atlas are mapped by ``UNCODED_FEATURES``. Sub-regions of
the Belt and Road dryland countries come from ``subregions.yaml`` (METHODS section 7). Every region's area
is geodesic on WGS84 (:func:`dldd.core.areas.geodesic_area_km2`).
"""

from __future__ import annotations

import csv
import difflib
import functools
import json
import math
import sys
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Mapping, Sequence, TextIO

import numpy as np
import shapely
import shapely.affinity
import yaml
from shapely.geometry.base import BaseGeometry

from dldd.core.areas import geodesic_area_km2, unwrap_ring
from dldd.errors import InputError

PACKAGE_DIR = Path(__file__).resolve().parent
#: Natural Earth 1:50m countries, TopoJSON from world-atlas 2.0.2.
WORLD_ATLAS_FILE = PACKAGE_DIR / "data" / "countries-50m.json"
#: Belt and Road dryland sub-regions (METHODS section 7).
SUBREGIONS_FILE = PACKAGE_DIR / "subregions.yaml"
#: Name of the whole Belt and Road list in :meth:`Registry.select`.
ALL_MEMBERS = "Belt and Road"

#: world-atlas features without an ISO 3166 numeric id -> the code dldd gives them. Somaliland and
#: N. Cyprus are merged into the UN member states that contain them (SOM, CYP: national reporting to the
#: UNCCD covers them); the others keep their own region under an ISO 3166 user-assigned code (X..), outside
#: the Belt and Road list unless a user adds them: Kosovo (XKX, the code used by the EU and the IMF),
#: Siachen Glacier (XSG, disputed between India and Pakistan), Indian Ocean Ter. (XIO, Australia's
#: Christmas and Cocos Islands, shown apart by Natural Earth).
UNCODED_FEATURES: dict[str, str] = {
    "Somaliland": "SOM",
    "N. Cyprus": "CYP",
    "Kosovo": "XKX",
    "Siachen Glacier": "XSG",
    "Indian Ocean Ter.": "XIO",
}
#: Display names of the user-assigned codes above.
USER_ASSIGNED_NAMES: dict[str, str] = {
    "XKX": "Kosovo",
    "XSG": "Siachen Glacier",
    "XIO": "Indian Ocean Territories",
}
#: Number of close matches listed when a name is unknown (difflib ratio cutoff below).
N_SUGGESTIONS = 5
SUGGESTION_CUTOFF = 0.6
#: A name at least this long that is part of a candidate is always suggested.
MIN_SUBSTRING = 4

_WINDOW = (-180.0, 180.0)
_FULL_TURN = 360.0


@dataclass(frozen=True)
class Region:
    """One region: a country (``kind="country"``, ``id`` = ISO 3166-1 alpha-3) or a user zone.

    ``geometry`` is a shapely (Multi)Polygon in lon/lat degrees (EPSG:4326) within [-180, 180], cut at the
    antimeridian; ``area_km2`` its geodesic area on WGS84; ``subregion`` None when the region is not in the
    Belt and Road list; ``aliases`` other names it is selected by (Natural Earth and ISO 3166 names).
    """

    id: str
    name: str
    subregion: str | None
    geometry: BaseGeometry
    area_km2: float
    kind: str = "country"
    aliases: tuple[str, ...] = ()


# --- geometry helpers --------------------------------------------------------------------------------------
def polygonal_part(geom: BaseGeometry) -> BaseGeometry:
    """The polygonal part of a geometry (drops points and lines, e.g. from make_valid or intersections)."""
    if geom.is_empty:
        return shapely.MultiPolygon()
    if isinstance(geom, (shapely.Polygon, shapely.MultiPolygon)):
        return geom
    polys: list[shapely.Polygon] = []
    for part in getattr(geom, "geoms", ()):
        p = polygonal_part(part)
        if isinstance(p, shapely.Polygon):
            polys.append(p)
        elif isinstance(p, shapely.MultiPolygon):
            polys.extend(p.geoms)
    if len(polys) == 1:
        return polys[0]
    return shapely.MultiPolygon(polys)


def _valid(geom: BaseGeometry) -> BaseGeometry:
    if geom.is_valid:
        return polygonal_part(geom)
    return polygonal_part(shapely.make_valid(geom, method="structure", keep_collapsed=False))


def _to_window(geom: BaseGeometry) -> BaseGeometry:
    """Cut a lon/lat geometry at the antimeridian and shift the pieces into [-180, 180]."""
    if geom.is_empty:
        return geom
    minx, _, maxx, _ = geom.bounds
    if minx >= _WINDOW[0] and maxx <= _WINDOW[1]:
        return geom
    k0 = math.floor((minx - _WINDOW[0]) / _FULL_TURN)
    k1 = math.ceil((maxx - _WINDOW[0]) / _FULL_TURN) - 1
    parts = []
    for k in range(k0, k1 + 1):
        window = shapely.box(_WINDOW[0] + k * _FULL_TURN, -90.0, _WINDOW[1] + k * _FULL_TURN, 90.0)
        piece = polygonal_part(geom.intersection(window))
        if not piece.is_empty:
            parts.append(shapely.affinity.translate(piece, xoff=-k * _FULL_TURN))
    return _valid(shapely.unary_union(parts))


def normalize_lonlat(geometry: BaseGeometry, where: str = "geometry") -> BaseGeometry:
    """A planar lon/lat (Multi)Polygon made valid and brought into [-180, 180] (parts beyond +-180, e.g. a
    zone drawn from 170 to 190 degrees, are cut at the antimeridian and shifted by 360 degrees)."""
    if not isinstance(geometry, BaseGeometry):
        raise InputError(f"{where}: expected a shapely geometry, got {type(geometry).__name__}")
    geom = _valid(geometry)
    if geom.is_empty or not isinstance(geom, (shapely.Polygon, shapely.MultiPolygon)):
        raise InputError(f"{where}: expected a non-empty Polygon or MultiPolygon, got {geometry.geom_type}")
    _, miny, _, maxy = geom.bounds
    if miny < -90.0 or maxy > 90.0:
        raise InputError(
            f"{where}: latitudes span {miny:.6g}..{maxy:.6g}; expected lon/lat degrees (EPSG:4326) within "
            "-90..90 (reproject the zone first)"
        )
    return _to_window(geom)


def _spherical_ring_region(xy: np.ndarray) -> tuple[BaseGeometry, int]:
    """Planar region in [-180, 180] bounded by a spherical ring, and the ring's winding number."""
    u = unwrap_ring(xy)
    winding = int(round((u[-1, 0] - u[0, 0]) / _FULL_TURN))
    if winding != 0:
        # interior to the right of the ring: eastward -> south side, westward -> north side
        pole = -90.0 if winding > 0 else 90.0
        u = np.vstack([u, [[u[-1, 0], pole], [u[0, 0], pole]]])
    if len(u) < 4:
        return shapely.MultiPolygon(), winding
    return _to_window(_valid(shapely.Polygon(u))), winding


def _spherical_polygon(rings: list[np.ndarray]) -> BaseGeometry:
    geom, _ = _spherical_ring_region(rings[0])
    for ring in rings[1:]:
        region, winding = _spherical_ring_region(ring)
        # a hole encircling a pole bounds the polygon's side (intersection); an ordinary hole is removed
        geom = geom.intersection(region) if winding != 0 else geom.difference(region)
    return polygonal_part(geom)


def decode_topojson(path: Path | str, object_name: str = "countries") -> list[tuple[str | None, str, BaseGeometry]]:
    """Decode a quantised TopoJSON object into ``(id, name, geometry)`` tuples with planar lon/lat
    geometries in [-180, 180] (spherical rings handled as explained in the module docstring)."""
    topo = json.loads(Path(path).read_text())
    if topo.get("type") != "Topology" or object_name not in topo.get("objects", {}):
        raise InputError(f"{path}: expected a TopoJSON Topology with an object '{object_name}'")
    tf = topo.get("transform")
    arcs = []
    for arc in topo["arcs"]:
        a = np.asarray(arc, dtype="float64")[:, :2]
        if tf is not None:  # quantised: delta-encoded integer positions
            a = np.cumsum(a, axis=0) * np.asarray(tf["scale"]) + np.asarray(tf["translate"])
        arcs.append(a)

    def ring(indices: Sequence[int]) -> np.ndarray:
        pieces = []
        for n, i in enumerate(indices):
            a = arcs[i] if i >= 0 else arcs[~i][::-1]
            pieces.append(a if n == 0 else a[1:])
        return np.concatenate(pieces)

    out = []
    for g in topo["objects"][object_name]["geometries"]:
        if g.get("type") == "Polygon":
            polys = [g["arcs"]]
        elif g.get("type") == "MultiPolygon":
            polys = g["arcs"]
        else:
            continue
        parts = [_spherical_polygon([ring(r) for r in p]) for p in polys]
        geom = _valid(shapely.unary_union([p for p in parts if not p.is_empty]))
        out.append((g.get("id"), (g.get("properties") or {}).get("name", ""), geom))
    return out


# --- countries ---------------------------------------------------------------------------------------------
def _country_names(iso3: str, ne_name: str) -> tuple[str, tuple[str, ...]]:
    """Display name (ISO 3166 common or short name, else Natural Earth's) and aliases of a country."""
    import pycountry

    c = pycountry.countries.get(alpha_3=iso3)
    if c is None:
        return USER_ASSIGNED_NAMES.get(iso3, ne_name), (ne_name,)
    names = [getattr(c, "common_name", None), c.name, getattr(c, "official_name", None), ne_name]
    names = [n for n in dict.fromkeys(names) if n]
    display = names[0] if "," not in names[0] else ne_name
    return display, tuple(n for n in names if n != display)


@functools.lru_cache(maxsize=1)
def world_countries() -> tuple[Region, ...]:
    """All countries and territories of the shipped Natural Earth 1:50m polygons, sorted by ISO3, with
    ``subregion=None`` (decoded once per process)."""
    import pycountry

    geoms: dict[str, list[BaseGeometry]] = {}
    names: dict[str, str] = {}
    for num, ne_name, geom in decode_topojson(WORLD_ATLAS_FILE):
        if num is None:
            if ne_name not in UNCODED_FEATURES:
                warnings.warn(f"world-atlas feature '{ne_name}' has no ISO code and no mapping; skipped", stacklevel=2)
                continue
            iso3 = UNCODED_FEATURES[ne_name]
        else:
            c = pycountry.countries.get(numeric=num)
            if c is None:
                warnings.warn(f"world-atlas id {num} ('{ne_name}') is not an ISO 3166 code; skipped", stacklevel=2)
                continue
            iso3 = c.alpha_3
        geoms.setdefault(iso3, []).append(geom)
        if num is not None or iso3 not in names:
            names[iso3] = ne_name
    regions = []
    for iso3 in sorted(geoms):
        geom = geoms[iso3][0] if len(geoms[iso3]) == 1 else _valid(shapely.unary_union(geoms[iso3]))
        name, aliases = _country_names(iso3, names[iso3])
        regions.append(Region(iso3, name, None, geom, geodesic_area_km2(geom), "country", aliases))
    return tuple(regions)


def load_subregions(path: Path | str = SUBREGIONS_FILE) -> dict[str, list[str]]:
    """Sub-region name -> ISO3 codes, in file order (default: METHODS section 7)."""
    doc = yaml.safe_load(Path(path).read_text())
    groups = doc.get("subregions") if isinstance(doc, dict) else None
    if not isinstance(groups, dict):
        raise InputError(f"{path}: expected a mapping 'subregions: {{name: [ISO3, ...]}}'")
    return {str(k): [str(c).upper() for c in v] for k, v in groups.items()}


def _close_matches(name: str, candidates: Mapping[str, str], preferred: set[str]) -> list[str]:
    """Keys of ``candidates`` closest to ``name`` (difflib ratio; candidates containing ``name`` count as
    ratio 1), ranking anagrams (swapped letters in an ISO3 code) first and ``preferred`` keys (members)
    first among equals."""
    scored = []
    for key in candidates:
        ratio = difflib.SequenceMatcher(None, name, key).ratio()
        if len(name) >= MIN_SUBSTRING and name in key:  # "Sahel" -> "Sahel and Horn of Africa", first
            ratio = 1.0
        if ratio >= SUGGESTION_CUTOFF:
            scored.append((ratio + (sorted(name) == sorted(key)) + 0.01 * (key in preferred), key))
    return [k for _, k in sorted(scored, key=lambda t: (-t[0], t[1]))[:N_SUGGESTIONS]]


# --- the registry ------------------------------------------------------------------------------------------
class Registry:
    """Regions (countries and user zones) and their grouping into sub-regions.

    Immutable: :meth:`add`, :meth:`drop`, :meth:`regroup`, :meth:`add_zone` and :meth:`add_zones_from_file`
    return a new registry. Ids are matched case-insensitively. The *members* (the assessment's list, by
    default the Belt and Road dryland countries of METHODS 7) are the regions with a sub-region.
    """

    def __init__(
        self,
        regions: Iterable[Region],
        groups: Mapping[str, Sequence[str]] | None = None,
        missing: Mapping[str, str] | None = None,
    ):
        self._regions: dict[str, Region] = {}
        for r in regions:
            key = r.id.casefold()
            if key in self._regions:
                raise InputError(f"region id '{r.id}' is used twice")
            self._regions[key] = r
        self._groups: dict[str, list[str]] = {}
        for sub, ids in (groups or {}).items():
            self._groups[sub] = []
            for i in ids:
                key = i.casefold()
                if key not in self._regions:
                    raise InputError(f"sub-region '{sub}': unknown region id '{i}'")
                self._regions[key] = replace(self._regions[key], subregion=sub)
                self._groups[sub].append(key)
        #: ISO3 codes listed in a sub-region but without a polygon -> their sub-region
        self.missing: dict[str, str] = dict(missing or {})

    # construction ------------------------------------------------------------------------------------
    @classmethod
    def default(cls, subregions: Mapping[str, Sequence[str]] | None = None, boundaries=None) -> "Registry":
        """The countries of the world with the Belt and Road sub-regions of METHODS section 7
        (``subregions.yaml``), or the given ``{sub-region: [ISO3, ...]}`` mapping. Countries come from
        ``boundaries`` (a :class:`dldd.regions.boundaries.Boundaries`: a boundary file and/or merges; default
        the Natural Earth 1:50m polygons). Codes merged into another country leave their sub-region (kept in
        :attr:`merged`); listed codes without a polygon are kept in :attr:`missing` with a warning."""
        from dldd.regions.boundaries import Boundaries

        boundaries = boundaries or Boundaries()
        groups = load_subregions() if subregions is None else {k: list(v) for k, v in subregions.items()}
        world, _ = boundaries.countries()
        known = {r.id for r in world}
        merged = {p.upper(): t.upper() for t, parts in boundaries.merge.items() for p in parts}
        missing = {c.upper(): sub for sub, codes in groups.items() for c in codes
                   if c.upper() not in known and c.upper() not in merged}
        if missing:
            warnings.warn(
                f"no polygon in {boundaries.source} for " + ", ".join(f"{c} ({s})" for c, s in missing.items())
                + "; these countries are left out of every table (add a polygon with Registry.add_zone)",
                stacklevel=2,
            )
        kept = {s: [c.upper() for c in codes if c.upper() in known] for s, codes in groups.items()}
        reg = cls(world, {s: codes for s, codes in kept.items() if codes}, missing)
        reg.merged, reg.source = merged, boundaries.source
        return reg

    #: Codes merged into another country (part -> target) and the boundaries' name, set by :meth:`default`.
    merged: dict[str, str] = {}
    source: str = "Natural Earth 1:50m"

    def _copy(self, regions: dict[str, Region], groups: dict[str, list[str]]) -> "Registry":
        new = object.__new__(Registry)
        new._regions, new._groups, new.missing = regions, groups, dict(self.missing)
        new.merged, new.source = dict(self.merged), self.source
        return new

    # access ------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._regions)

    def __iter__(self):
        return iter(self._regions.values())

    def __contains__(self, region_id: object) -> bool:
        return isinstance(region_id, str) and region_id.casefold() in self._regions

    def __getitem__(self, region_id: str) -> Region:
        key = str(region_id).casefold()
        if key not in self._regions:
            raise self._unknown(str(region_id), "region id")
        return self._regions[key]

    def __repr__(self) -> str:
        return f"Registry({len(self)} regions, {len(self.members)} members in {len(self._groups)} sub-regions)"

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self._regions.values()]

    @property
    def subregions(self) -> dict[str, list[str]]:
        """Sub-region name -> member ids, in order."""
        return {s: [self._regions[k].id for k in keys] for s, keys in self._groups.items()}

    @property
    def members(self) -> list[Region]:
        """Regions with a sub-region (the Belt and Road list), by sub-region then listed order."""
        return [self._regions[k] for keys in self._groups.values() for k in keys]

    # editing -----------------------------------------------------------------------------------------
    def _with_subregion(self, key: str, subregion: str | None) -> "Registry":
        regions = dict(self._regions)
        groups = {s: [k for k in keys if k != key] for s, keys in self._groups.items()}
        groups = {s: keys for s, keys in groups.items() if keys}
        if subregion is not None:
            groups.setdefault(subregion, []).append(key)
        regions[key] = replace(regions[key], subregion=subregion)
        return self._copy(regions, groups)

    def _subregion_name(self, subregion: str) -> str:
        if not isinstance(subregion, str) or not subregion.strip():
            raise InputError(f"sub-region must be a non-empty name, got {subregion!r}")
        for s in self._groups:  # reuse the existing spelling
            if s.casefold() == subregion.strip().casefold():
                return s
        return subregion.strip()

    def add(self, region_id: str, subregion: str) -> "Registry":
        """Put a region that is not yet a member (a country by ISO3, or a zone) into ``subregion`` (an
        existing or a new sub-region)."""
        region = self[region_id]
        if region.subregion is not None:
            raise InputError(
                f"'{region.id}' is already in sub-region '{region.subregion}'; use regroup('{region.id}', ...)"
            )
        return self._with_subregion(region.id.casefold(), self._subregion_name(subregion))

    def drop(self, name: str) -> "Registry":
        """Take regions out of the member list: ``name`` is a region id, a region name or a sub-region
        (all its members). Dropped regions stay known, so they can still be selected by id."""
        regions = self.select([name])
        members = [r for r in regions if r.subregion is not None]
        if not members:
            raise InputError(f"'{name}' is not in any sub-region; nothing to drop")
        new = self
        for r in members:
            new = new._with_subregion(r.id.casefold(), None)
        return new

    def regroup(self, region_id: str, subregion: str) -> "Registry":
        """Move a member to another (existing or new) sub-region."""
        region = self[region_id]
        if region.subregion is None:
            raise InputError(f"'{region.id}' is not a member; use add('{region.id}', '{subregion}')")
        return self._with_subregion(region.id.casefold(), self._subregion_name(subregion))

    def add_zone(
        self, zone_id: str, geometry: BaseGeometry, *, name: str | None = None, subregion: str | None = None
    ) -> "Registry":
        """Add a user zone (e.g. a province, the Taklimakan rim) from a shapely (Multi)Polygon in lon/lat
        degrees (EPSG:4326; parts beyond +-180 degrees are wrapped). With ``subregion`` it becomes a member."""
        if not isinstance(zone_id, str) or not zone_id.strip():
            raise InputError(f"zone id must be a non-empty string, got {zone_id!r}")
        zone_id = zone_id.strip()
        key = zone_id.casefold()
        if key in self._regions or any(s.casefold() == key for s in self._groups) or key == ALL_MEMBERS.casefold():
            raise InputError(f"zone id '{zone_id}' is already used by a region or sub-region; choose another id")
        geom = normalize_lonlat(geometry, where=f"zone '{zone_id}'")
        regions = dict(self._regions)
        regions[key] = Region(zone_id, name or zone_id, None, geom, geodesic_area_km2(geom), "zone")
        new = self._copy(regions, {s: list(k) for s, k in self._groups.items()})
        return new if subregion is None else new._with_subregion(key, new._subregion_name(subregion))

    def add_zones_from_file(
        self,
        path: Path | str,
        *,
        id_field: str | None = None,
        name_field: str | None = None,
        zone_id: str | None = None,
        subregion: str | None = None,
        layer: str | int | None = None,
    ) -> "Registry":
        """Add zones from a GeoJSON or GeoPackage file (read with geopandas/pyogrio, reprojected to
        EPSG:4326). One zone per value of ``id_field`` (features sharing a value are merged); or, with
        ``zone_id``, all features merged into one zone; a single-feature file without either is named
        after the file."""
        from dldd.regions.polygons import read_polygons

        path = Path(path)
        gdf = read_polygons(path, "zone file", layer=layer)
        for field in (id_field, name_field):
            if field is not None and field not in gdf.columns:
                raise InputError(f"zone file {path}: no field '{field}' (fields: {list(gdf.columns)})")
        if zone_id is not None:
            groups = [(zone_id, gdf)]
        elif id_field is not None:
            groups = [(str(k), g) for k, g in gdf.groupby(id_field, sort=False)]
        elif len(gdf) == 1:
            groups = [(path.stem, gdf)]
        else:
            raise InputError(
                f"zone file {path} has {len(gdf)} features: give id_field= (one zone per value) or zone_id= "
                "(all features as one zone)"
            )
        new = self
        for zid, g in groups:
            name = str(g[name_field].iloc[0]) if name_field is not None else None
            geom = shapely.unary_union(list(g.geometry.values))
            new = new.add_zone(zid, geom, name=name, subregion=subregion)
        return new

    # selection ---------------------------------------------------------------------------------------
    def _unknown(self, name: str, what: str) -> InputError:
        candidates: dict[str, str] = {}
        for r in self._regions.values():
            candidates[r.id.casefold()] = r.id
            for n in (r.name, *r.aliases):
                candidates[n.casefold()] = n
        for s in self._groups:
            candidates[s.casefold()] = s
        candidates[ALL_MEMBERS.casefold()] = ALL_MEMBERS
        close = _close_matches(name.casefold(), candidates, {r.id.casefold() for r in self.members})
        hint = f"; did you mean {', '.join(repr(candidates[c]) for c in close)}?" if close else ""
        if name.upper() in self.merged:
            return InputError(f"{what} '{name}' is merged into '{self.merged[name.upper()]}' (regions.merge); "
                              f"select '{self.merged[name.upper()]}'")
        if name.upper() in self.missing:
            return InputError(
                f"{what} '{name}' (sub-region '{self.missing[name.upper()]}') has no polygon in the {self.source} "
                "data; add it with Registry.add_zone"
            )
        return InputError(
            f"unknown {what} '{name}': expected an ISO3 code, a country or zone name, a sub-region "
            f"or '{ALL_MEMBERS}'{hint}"
        )

    def select(self, names: str | Iterable[str]) -> list[Region]:
        """Regions named by a list mixing region ids (ISO3 or zone ids), region names, sub-region names
        and ``"Belt and Road"`` (all members); case-insensitive, duplicates removed, order kept. Unknown
        names raise :class:`InputError` listing close matches."""
        if isinstance(names, str):
            names = [names]
        by_name = {n.casefold(): k for k, r in self._regions.items() for n in (*r.aliases, r.name)}
        groups = {s.casefold(): s for s in self._groups}
        keys: list[str] = []
        for name in names:
            n = str(name).strip().casefold()
            if n == ALL_MEMBERS.casefold():
                keys.extend(k for ks in self._groups.values() for k in ks)
            elif n in groups:
                keys.extend(self._groups[groups[n]])
            elif n in self._regions:
                keys.append(n)
            elif n in by_name:
                keys.append(by_name[n])
            else:
                raise self._unknown(str(name), "region or sub-region")
        return [self._regions[k] for k in dict.fromkeys(keys)]

    # output ------------------------------------------------------------------------------------------
    def to_frame(self, regions: Iterable[Region] | None = None):
        """A pandas DataFrame ``id, name, subregion, kind, area_km2`` of ``regions`` (default: members)."""
        import pandas as pd

        rows = [
            {"id": r.id, "name": r.name, "subregion": r.subregion, "kind": r.kind, "area_km2": r.area_km2}
            for r in (self.members if regions is None else regions)
        ]
        return pd.DataFrame(rows, columns=["id", "name", "subregion", "kind", "area_km2"])


#: Formats of :func:`cli_list`.
LIST_FORMATS = ("table", "csv")


def cli_list(
    format: str = "table", *, registry: Registry | None = None, all_countries: bool = False, file: TextIO | None = None,
    source: str | None = None,
) -> None:
    """Print ``iso3, name, subregion, area_km2`` of the member regions (default registry: the Belt and Road
    dryland countries of METHODS 7) as a rich table or CSV to ``file`` (stdout). ``all_countries`` lists
    every region of the registry (sub-region empty for non-members); ``source`` names the boundaries in the
    table's title (default Natural Earth 1:50m)."""
    if format not in LIST_FORMATS:
        raise InputError(f"format must be one of {LIST_FORMATS}, got {format!r}")
    reg = Registry.default() if registry is None else registry
    regions = list(reg) if all_countries else reg.members
    out = sys.stdout if file is None else file
    rows = [(r.id, r.name, r.subregion or "", f"{r.area_km2:.1f}") for r in regions]
    if format == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["iso3", "name", "subregion", "area_km2"])
        writer.writerows(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Regions (areas geodesic on WGS84, {source or 'Natural Earth 1:50m'})")
    for col, justify in (("iso3", "left"), ("name", "left"), ("subregion", "left"), ("area_km2", "right")):
        table.add_column(col, justify=justify)
    for iso3, name, sub, area in rows:
        table.add_row(iso3, name, sub, f"{float(area):,.0f}")
    Console(file=out).print(table)
