"""The one reader of polygon files (GeoJSON, GeoPackage, shapefile): user zones, intervention polygons,
correction polygons and fetch AOIs all come in through :func:`read_polygons`; country boundary files
(:mod:`dldd.regions.boundaries`, which repair invalid polygons rather than refuse them) through
:func:`read_polygon_file`.

A file is refused (``InputError`` naming what it is for and the file) when it does not exist, cannot be
read, holds no features, declares no CRS (nothing is assumed), or holds an empty or invalid geometry (an
invalid polygon has no well-defined area). Features come back reprojected to lon/lat (EPSG:4326).
"""

from __future__ import annotations

from pathlib import Path

from dldd.errors import InputError

#: The CRS every polygon is read into (lon/lat on WGS84), as the regions and coverage fractions expect.
POLYGON_CRS = "EPSG:4326"


def read_polygon_file(path, what: str, *, layer: str | int | None = None):
    """The features of the polygon file ``path`` as a GeoDataFrame in the file's own CRS, refused when the file
    does not exist, cannot be read, holds no features or declares no CRS; geometries not checked (the country
    boundaries repair invalid polygons, :func:`read_polygons` refuses them).

    ``what`` names the file's use in messages (e.g. ``"zone file"``, ``"interventions 'belt'"``);
    ``layer``: the layer of a multi-layer file (GeoPackage).
    """
    import geopandas as gpd

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what}: {path} does not exist")
    try:
        gdf = gpd.read_file(path, layer=layer)
    except Exception as err:  # pyogrio raises its own error types
        raise InputError(f"{what}: cannot read {path} as GeoJSON/GeoPackage/shapefile ({err})") from None
    if gdf.empty:
        raise InputError(f"{what}: {path} has no features")
    if gdf.crs is None:
        raise InputError(f"{what}: {path} has no CRS; expected one (e.g. EPSG:4326)")
    return gdf


def read_polygons(path, what: str, *, layer: str | int | None = None):
    """The features of the polygon file ``path`` as a GeoDataFrame in EPSG:4326, checked (see module);
    ``what`` and ``layer`` as in :func:`read_polygon_file`."""
    import shapely

    gdf = read_polygon_file(path, what, layer=layer)
    for i, g in enumerate(gdf.geometry.values):
        if g is None or g.is_empty:
            raise InputError(f"{what}: {path}: feature {i} has an empty geometry")
        if not g.is_valid:
            raise InputError(f"{what}: {path}: feature {i} is an invalid polygon ({shapely.is_valid_reason(g)}); "
                             "repair it (e.g. QGIS 'Fix geometries' or shapely.make_valid) and check its area")
    return gdf.to_crs(POLYGON_CRS)


def read_polygon(path, what: str, *, layer: str | int | None = None):
    """The union of every feature of the polygon file ``path`` (one shapely geometry in EPSG:4326)."""
    import shapely

    return shapely.unary_union(list(read_polygons(path, what, layer=layer).geometry.values))
