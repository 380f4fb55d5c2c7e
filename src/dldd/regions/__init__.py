"""dldd.regions: countries, Belt and Road sub-regions (METHODS 7), user zones, and their rasterisation.

- :class:`Registry` / :class:`Region` (``registry.py``): Natural Earth 1:50m countries with geodesic areas,
  the sub-regions of ``subregions.yaml``, add / drop / regroup, user zones, selection by name.
- :func:`coverage_fraction` / :func:`region_fractions` (``rasterize.py``): fraction of each grid cell inside
  a region, for area-weighted zonal statistics.
- :class:`Boundaries` (``boundaries.py``): the countries from a boundary file of the user's choice instead
  of Natural Earth, and territories merged into a country (spec ``regions.boundaries`` / ``regions.merge``).
- :func:`cli_list`: the table behind ``dldd regions list``.
"""

from dldd.regions.boundaries import Boundaries
from dldd.regions.rasterize import RegionFractions, coverage_fraction, region_fractions
from dldd.regions.registry import ALL_MEMBERS, Region, Registry, cli_list, normalize_lonlat, world_countries

__all__ = [
    "ALL_MEMBERS",
    "Boundaries",
    "Region",
    "RegionFractions",
    "Registry",
    "cli_list",
    "coverage_fraction",
    "normalize_lonlat",
    "region_fractions",
    "world_countries",
]
