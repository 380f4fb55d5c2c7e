"""Country boundaries of an assessment: Natural Earth (shipped) or a boundary file of the user's choice,
with territories merged into a country.

A publication may have to print its own country's official boundaries, or the UN's, rather than Natural
Earth's (which draws Taiwan apart from China, for instance). :class:`Boundaries` says where the country
polygons come from and which territories are merged:

- ``path`` None: the Natural Earth 1:50m polygons of :func:`dldd.regions.registry.world_countries`;
- ``path`` a GeoPackage, GeoJSON or Shapefile read with geopandas/pyogrio (``layer`` for a multi-layer file):
  one country per value of ``code_field`` (features sharing a code are merged), named by ``name_field`` or
  by ISO 3166. The file's CRS is honoured (a file without one is refused) and the polygons reprojected to
  lon/lat (EPSG:4326; projected sources are densified first so that their straight edges stay close to
  their course), from where :mod:`dldd.regions.rasterize` takes them to each grid's CRS. Codes must be
  ISO 3166-1 alpha-3 or listed in ``custom_codes``. Invalid polygons are repaired with
  ``shapely.make_valid`` and a note names each one with its area after the repair;
- ``merge``: ``{target: [part, ...]}``, each target's geometry becomes the union of its own and its parts'
  (e.g. ``CHN: [TWN, HKG, MAC]``), the parts disappear as regions (tables, maps, outlines) and from the
  sub-regions. A merge naming a code that the boundaries do not have is refused.

Areas are geodesic on WGS84 (:func:`dldd.core.areas.geodesic_area_km2`), of the union after a merge.
:meth:`Boundaries.record` is what the run manifest and the report say about the boundaries.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import shapely
from shapely.geometry.base import BaseGeometry

from dldd.core.areas import geodesic_area_km2
from dldd.errors import InputError
from dldd.regions.polygons import read_polygon_file
from dldd.regions.registry import Region, _country_names, normalize_lonlat, world_countries

#: How the shipped boundaries are named in the manifest, the methods and the map captions.
NATURAL_EARTH = "Natural Earth 1:50m (world-atlas 2.0.2)"
#: Longest straight edge (in the file's CRS units, metres for the usual projected CRSs) kept when a projected
#: boundary file is brought to lon/lat: longer edges are cut first, so the reprojected edge follows its course.
PROJECTED_SEGMENT_M = 10_000.0
#: A country of a projected file spanning more longitude than this once in lon/lat crosses the antimeridian
#: (its edges would run the wrong way round the globe): refused.
MAX_PROJECTED_LON_SPAN = 180.0
#: Files that make up a Shapefile (all hashed together for the run's record).
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


@dataclass(frozen=True)
class Boundaries:
    """Where the country polygons come from (``path`` None: Natural Earth) and the territories merged into a
    country (``merge``: target code -> codes merged into it). Relative paths are taken as given (resolve them
    first, e.g. with :meth:`dldd.spec.Spec.resolve`)."""

    path: Path | None = None
    code_field: str | None = None
    name_field: str | None = None
    layer: str | None = None
    custom_codes: tuple[str, ...] = ()
    merge: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def source(self) -> str:
        """The boundaries' name for a caption: Natural Earth's, or the file's name (and layer)."""
        if self.path is None:
            return NATURAL_EARTH
        return self.path.name + (f" ({self.layer})" if self.layer else "")

    def countries(self) -> tuple[tuple[Region, ...], tuple[str, ...]]:
        """The countries (merges applied, sorted by code, ``subregion=None``) and the notes of the reading
        (repaired polygons)."""
        if self.path is None:
            base, notes = world_countries(), ()
        else:
            base, notes, _ = read_boundary_file(self.path, self.code_field, self.name_field, self.layer,
                                                tuple(self.custom_codes))
        return merge_territories(base, self.merge, where=self.source), notes

    def record(self) -> dict:
        """What the run manifest keeps about the boundaries: source, file, layer, fields, SHA-256 of the file(s),
        its CRS, the merges and the notes of the reading."""
        out: dict = {"source": self.source, "merge": {k: list(v) for k, v in self.merge.items()}}
        if self.path is None:
            return out | {"path": None, "notes": []}
        _, notes, meta = read_boundary_file(self.path, self.code_field, self.name_field, self.layer,
                                            tuple(self.custom_codes))
        return out | {"path": str(self.path), "layer": self.layer, "code_field": self.code_field,
                      "name_field": self.name_field, "custom_codes": list(self.custom_codes), **meta,
                      "notes": list(notes)}


def check_merge(merge: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Part -> target of the merges (codes upper-cased). ValueError for a target without parts, a code merged
    into itself or into two targets, a target that is itself merged away."""
    parts_of: dict[str, str] = {}
    for target, parts in merge.items():
        t = str(target).upper()
        if not parts:
            raise ValueError(f"{t}: no territory to merge; list codes, e.g. {t}: [TWN]")
        for p in (str(p).upper() for p in parts):
            if p == t:
                raise ValueError(f"{t} is merged into itself")
            if p in parts_of:
                raise ValueError(f"{p} is merged into both {parts_of[p]} and {t}")
            parts_of[p] = t
    for t in (str(t).upper() for t in merge):
        if t in parts_of:
            raise ValueError(f"{t} is a merge target and is itself merged into {parts_of[t]}")
    return parts_of


def merge_territories(regions: tuple[Region, ...], merge: Mapping[str, Sequence[str]] | None,
                      where: str = "boundaries") -> tuple[Region, ...]:
    """``regions`` with each merge target's geometry the union of its own and its parts' (geodesic area of the
    union) and the parts removed. Refused: a code the regions do not have, and what :func:`check_merge` refuses."""
    if not merge:
        return tuple(regions)
    try:
        parts_of = check_merge(merge)
    except ValueError as err:
        raise InputError(f"regions.merge: {err}") from None
    by_id = {r.id.upper(): r for r in regions}
    for code in (*(t.upper() for t in merge), *parts_of):
        if code not in by_id:
            raise InputError(f"regions.merge: {code!r} is not a country of the boundaries ({where}); "
                             f"expected one of its codes, e.g. {', '.join(sorted(by_id)[:5])}")
    out = []
    for r in regions:
        code = r.id.upper()
        if code in parts_of:
            continue
        if code in {t.upper() for t in merge}:
            parts = [by_id[p] for p, t in parts_of.items() if t == code]
            geom = normalize_lonlat(shapely.union_all([r.geometry, *(p.geometry for p in parts)]),
                                    where=f"regions.merge {code}")
            aliases = tuple(dict.fromkeys(r.aliases))
            r = Region(r.id, r.name, r.subregion, geom, geodesic_area_km2(geom), r.kind, aliases)
        out.append(r)
    return tuple(out)


def boundary_files(path: Path | str) -> list[Path]:
    """The files of a boundary file: itself, or every part of a Shapefile present (:data:`SHAPEFILE_PARTS`)."""
    path = Path(path)
    if path.suffix.lower() != ".shp":
        return [path]
    return [path] + [p for p in (path.with_suffix(s) for s in SHAPEFILE_PARTS[1:]) if p.is_file()]


def _fingerprint(path: Path) -> str:
    """SHA-256 of the file; for a Shapefile, SHA-256 of its parts' SHA-256 digests (hex, space-separated, in
    :data:`SHAPEFILE_PARTS` order)."""
    digests = []
    for f in boundary_files(path):
        with f.open("rb") as fh:
            digests.append(hashlib.file_digest(fh, "sha256").hexdigest())
    return digests[0] if len(digests) == 1 else hashlib.sha256(" ".join(digests).encode()).hexdigest()


def _is_iso3(code: str) -> bool:
    import pycountry

    return len(code) == 3 and pycountry.countries.get(alpha_3=code) is not None


#: The notes of a boundary file's reading (kept in English in the run's manifest); the report words them in its
#: language from their parts (:func:`note_parts`).
REPAIR_NOTES = {
    "repaired": "feature {feature} ({code}): invalid polygon ({reason}) repaired with shapely.make_valid",
    "area": "{code}: area after the repair {area} km2",
}


def note_parts(note: str) -> tuple[str, dict] | None:
    """(kind, fields) of a note written from :data:`REPAIR_NOTES`, or None for another text."""
    for kind, template in REPAIR_NOTES.items():
        pattern = re.escape(template)
        for name in re.findall(r"\{(\w+)\}", template):
            pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P<{name}>.+?)", 1)
        m = re.fullmatch(pattern, note)
        if m:
            return kind, m.groupdict()
    return None


def read_boundary_file(path: Path | str, code_field: str | None, name_field: str | None = None,
                       layer: str | None = None, custom_codes: tuple[str, ...] = ()):
    """``(regions, notes, meta)`` of a boundary file (see the module docstring); ``meta``: its SHA-256, CRS
    and number of features. Read once per file content and arguments (cached on the file's size and
    modification time)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"regions.boundaries.path: boundary file {path} does not exist")
    st = path.stat()
    return _read_boundary_file(str(path.resolve()), st.st_size, st.st_mtime_ns, code_field, name_field, layer,
                               tuple(c.upper() for c in custom_codes))


@functools.lru_cache(maxsize=4)
def _read_boundary_file(path: str, _size: int, _mtime: int, code_field, name_field, layer, custom_codes):
    import geopandas as gpd

    where = f"boundary file {path}" + (f" (layer {layer})" if layer else "")
    if not code_field:
        raise InputError(f"regions.boundaries.code_field: not given for {where}; name the field that holds "
                         "each feature's ISO 3166-1 alpha-3 code")
    gdf = read_polygon_file(path, "regions.boundaries.path" + (f" (layer {layer})" if layer else ""), layer=layer)
    for f in (code_field, name_field):
        if f is not None and f not in gdf.columns:
            raise InputError(f"{where}: no field {f!r} (regions.boundaries.{'code_field' if f == code_field else 'name_field'}); "
                             f"fields: {[c for c in gdf.columns if c != 'geometry']}")
    crs = gdf.crs.to_string()
    notes: list[str] = []
    repaired: set[str] = set()
    geoms: dict[str, list[BaseGeometry]] = {}
    names: dict[str, str] = {}
    for i, (raw, g) in enumerate(zip(gdf[code_field].tolist(), gdf.geometry.values)):
        code = "" if raw is None else str(raw).strip().upper()
        label = f"{where}: feature {i} ({code_field}={raw!r})"
        if not code or code == "NAN":
            raise InputError(f"{label}: no code; every feature needs one")
        if not _is_iso3(code) and code not in custom_codes:
            raise InputError(f"{label}: {code!r} is not an ISO 3166-1 alpha-3 code; fix the file, choose another "
                             "code_field, or declare it in regions.boundaries.custom_codes")
        if g is None or g.is_empty:
            raise InputError(f"{label}: empty geometry")
        if not isinstance(g, (shapely.Polygon, shapely.MultiPolygon)) and g.is_valid:
            raise InputError(f"{label}: a {g.geom_type}; expected Polygon or MultiPolygon")
        if not g.is_valid:
            reason = shapely.is_valid_reason(g)
            g = shapely.make_valid(g, method="structure", keep_collapsed=False)
            notes.append(REPAIR_NOTES["repaired"].format(feature=i, code=code, reason=reason))
            repaired.add(code)
        geoms.setdefault(code, []).append(g)
        if name_field is not None and code not in names and gdf[name_field].iloc[i] is not None:
            names[code] = str(gdf[name_field].iloc[i]).strip()
    src = gdf.crs
    regions = []
    for code in sorted(geoms):
        g = shapely.union_all(geoms[code])
        if not src.is_geographic:
            g = shapely.segmentize(g, PROJECTED_SEGMENT_M)
        g = gpd.GeoSeries([g], crs=src).to_crs("EPSG:4326").iloc[0]
        if not src.is_geographic and g.bounds[2] - g.bounds[0] > MAX_PROJECTED_LON_SPAN:
            raise InputError(f"{where}: {code} spans {g.bounds[2] - g.bounds[0]:.0f} degrees of longitude once "
                             f"brought from {crs} to lon/lat, so it probably crosses the antimeridian; give the file "
                             "in EPSG:4326 with polygons cut at +-180 degrees")
        geom = normalize_lonlat(g, where=f"{where}: {code}")
        area = geodesic_area_km2(geom)
        if code in repaired:
            notes.append(REPAIR_NOTES["area"].format(code=code, area=f"{area:,.1f}"))
        iso_name, aliases = _country_names(code, code) if _is_iso3(code) else (code, ())
        name = names.get(code) or iso_name
        aliases = tuple(a for a in dict.fromkeys((iso_name, *aliases)) if a != name and a != code)
        regions.append(Region(code, name, None, geom, area, "country", aliases))
    meta = {"sha256": _fingerprint(Path(path)), "crs": crs, "features": len(gdf)}
    return tuple(regions), tuple(notes), meta


def boundaries_of_spec(regions_spec, resolve=lambda p: Path(p)) -> Boundaries:
    """:class:`Boundaries` of a spec's ``regions`` (a :class:`dldd.spec.Regions` or its JSON form as kept in
    the manifest); ``resolve`` turns the spec's path into a file path."""
    get = (lambda o, k: o.get(k)) if isinstance(regions_spec, Mapping) else getattr
    merge = {str(k).upper(): tuple(str(p).upper() for p in v) for k, v in (get(regions_spec, "merge") or {}).items()}
    b = get(regions_spec, "boundaries")
    if b is None:
        return Boundaries(merge=merge)
    bget = (lambda k: b.get(k)) if isinstance(b, Mapping) else (lambda k: getattr(b, k))
    return Boundaries(path=Path(resolve(bget("path"))), code_field=bget("code_field"), name_field=bget("name_field"),
                      layer=bget("layer"), custom_codes=tuple(bget("custom_codes") or ()), merge=merge)


def run_countries(manifest: Mapping) -> dict[str, BaseGeometry]:
    """Country id -> lon/lat geometry of a run's boundaries (from its manifest: the spec's boundaries and
    merges; Natural Earth for runs without), for the report's outlines and masks. A boundary file that is
    gone, or whose SHA-256 differs from the one the run recorded, is refused: the maps would show other
    boundaries than the tables used."""
    spec_regions = (manifest.get("spec") or {}).get("regions") or {}
    base = Path(manifest.get("spec_base_dir") or ".")
    b = boundaries_of_spec(spec_regions, lambda p: p if Path(p).is_absolute() else base / p)
    recorded = (manifest.get("boundaries") or {}).get("sha256")
    if b.path is not None and recorded:
        if not b.path.is_file():
            raise InputError(f"boundary file {b.path} of the run is gone; the report cannot draw the boundaries "
                             "its tables used: put it back or run again")
        now = _fingerprint(b.path)
        if now != recorded:
            raise InputError(f"boundary file {b.path} changed since the run (SHA-256 {now[:12]}... not "
                             f"{recorded[:12]}...); the maps would show other boundaries than the tables: "
                             "restore the file or run again")
    countries, _ = b.countries()
    return {r.id: r.geometry for r in countries}
