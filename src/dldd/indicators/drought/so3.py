"""UNCCD strategic objective 3 (METHODS 2): SO3-1 hazard classes, SO3-2 exposure, SO3-3 vulnerability."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import xarray as xr

from dldd.core.attrs import output_attrs
from dldd.core.legend import CLASS_NODATA, Legend
from dldd.errors import GridMismatchError, InputError
from dldd.indicators.drought.indices import _month_index, _name

#: Month whose SPI-12 is the SO3-1 hazard of the year: December (UNCCD GPG for SO3; METHODS 2).
SO3_HAZARD_MONTH = 12
#: Accumulation scale of the SO3-1 hazard: SPI-12 (METHODS 2).
SO3_SPI_SCALE = 12

#: SO3-1 drought intensity classes on the December SPI-12 (METHODS 2). Each bound is the exclusive
#: upper bound of its class: mild -1 <= SPI < 0, moderate -1.5 <= SPI < -1, severe -2 <= SPI < -1.5,
#: extreme SPI < -2; SPI >= 0 is no drought.
SO3_MILD_UPPER = 0.0
SO3_MODERATE_UPPER = -1.0
SO3_SEVERE_UPPER = -1.5
SO3_EXTREME_UPPER = -2.0

#: Class codes of the SO3 drought intensity legend.
SO3_NO_DROUGHT, SO3_MILD, SO3_MODERATE, SO3_SEVERE, SO3_EXTREME = 0, 1, 2, 3, 4

#: Legend of the SO3-1 drought hazard classes (int8, no data = CLASS_NODATA).
SO3_LEGEND = Legend.from_pairs(
    "so3_drought_intensity",
    [
        (SO3_NO_DROUGHT, "no drought", "#f0f0f0"),
        (SO3_MILD, "mild drought", "#ffff00"),
        (SO3_MODERATE, "moderate drought", "#ffaa00"),
        (SO3_SEVERE, "severe drought", "#e60000"),
        (SO3_EXTREME, "extreme drought", "#730000"),
    ],
    description="UNCCD SO3-1 drought intensity from the December SPI-12 (METHODS 2)",
)

#: SO3-1 multi-year blocks: 4 years from 2000 (2000-2003, ..., 2020-2023) (METHODS 2).
SO3_BLOCK_YEARS = 4
SO3_BLOCK_START = 2000

SO3_REFERENCES = (
    "UNCCD (2021) Good Practice Guidance for national reporting on strategic objective 3 (drought); "
    "McKee et al. (1993)"
)


# ----------------------------------------------------------------------------------------------
# SO3: hazard, exposure, vulnerability
# ----------------------------------------------------------------------------------------------


def classify_spi(values: np.ndarray) -> np.ndarray:
    """UNCCD SO3 drought intensity class (int8) of SPI values: >= 0 none, [-1, 0) mild, [-1.5, -1)
    moderate, [-2, -1.5) severe, < -2 extreme (``SO3_*_UPPER``); NaN -> ``CLASS_NODATA``."""
    v = np.asarray(values, dtype=np.float64)
    out = np.full(v.shape, SO3_NO_DROUGHT, dtype=np.int8)
    out[v < SO3_MILD_UPPER] = SO3_MILD
    out[v < SO3_MODERATE_UPPER] = SO3_MODERATE
    out[v < SO3_SEVERE_UPPER] = SO3_SEVERE
    out[v < SO3_EXTREME_UPPER] = SO3_EXTREME
    out[np.isnan(v)] = CLASS_NODATA
    return out


def _class_attrs(long_name: str, parameters: str) -> dict:
    return output_attrs(
        "1",
        long_name,
        f"December SPI-12 classes: no drought SPI >= {SO3_MILD_UPPER}, mild {SO3_MODERATE_UPPER} <= SPI < "
        f"{SO3_MILD_UPPER}, moderate {SO3_SEVERE_UPPER} <= SPI < {SO3_MODERATE_UPPER}, severe "
        f"{SO3_EXTREME_UPPER} <= SPI < {SO3_SEVERE_UPPER}, extreme SPI < {SO3_EXTREME_UPPER}",
        parameters,
        SO3_REFERENCES,
        legend=SO3_LEGEND,
    )


def so3_hazard(spi12: xr.DataArray) -> xr.DataArray:
    """SO3-1 drought hazard: the class of the December SPI-12 of each year (METHODS 2).

    Parameters
    ----------
    spi12
        Monthly SPI-12 (e.g. from :func:`spi` with ``scale=12``), dims ``time`` + any others.

    Returns
    -------
    int8 DataArray ``so3_hazard``, one step per year with a December value, ``time`` at 1 January of
    that year; codes of ``SO3_LEGEND`` (0 no drought, 1 mild, 2 moderate, 3 severe, 4 extreme),
    ``CLASS_NODATA`` where SPI is NaN.
    """
    name = _name(spi12, "spi12")
    _month_index(spi12, name)
    found = re.search(r"\bscale=(\d+)", str(spi12.attrs.get("parameters", "")))
    if found and int(found.group(1)) != SO3_SPI_SCALE:
        raise InputError(
            f"{name}: its attributes say scale={found.group(1)}; the SO3 hazard is the December "
            f"SPI-{SO3_SPI_SCALE} (spi(pr, scale={SO3_SPI_SCALE}))"
        )
    december = spi12.isel(time=np.flatnonzero(spi12["time"].dt.month.values == SO3_HAZARD_MONTH))
    if december.sizes["time"] == 0:
        raise InputError(f"{name}: the series has no December; the SO3 hazard is the December SPI-12")
    years = december["time"].dt.year.values
    out = xr.apply_ufunc(classify_spi, december, dask="parallelized", output_dtypes=[np.int8])
    out = out.assign_coords(time=pd.to_datetime([f"{y:04d}-01-01" for y in years]).values)
    out.name = "so3_hazard"
    out.attrs = _class_attrs("SO3-1 drought hazard class of the year (December SPI-12)",
                             f"month={SO3_HAZARD_MONTH}, spi_scale={SO3_SPI_SCALE}, source={name}")
    return out


def so3_hazard_blocks(
    hazard: xr.DataArray, block_years: int = SO3_BLOCK_YEARS, start: int = SO3_BLOCK_START
) -> xr.DataArray:
    """Most severe SO3-1 hazard class in each block of ``block_years`` years (METHODS 2).

    Blocks are [start, start + block_years - 1], [start + block_years, ...] (default 2000-2003, ...,
    2020-2023); only blocks whose years all lie within the series' time range are returned (a block cut
    by the start or end of the series is left out). Missing years (``CLASS_NODATA``) are skipped; a
    pixel with no data in the whole block is ``CLASS_NODATA``.

    Returns
    -------
    int8 DataArray ``so3_hazard_block``, ``time`` at 1 January of each block's first year, with the
    coordinate ``block_end`` (last year of the block).
    """
    name = _name(hazard, "hazard")
    if not isinstance(hazard, xr.DataArray) or "time" not in hazard.dims:
        raise InputError(f"{name}: expected an annual hazard DataArray with a 'time' dimension")
    if isinstance(block_years, bool) or not isinstance(block_years, (int, np.integer)) or block_years < 1:
        raise InputError(f"block_years: expected a whole number of years >= 1, got {block_years!r}")
    years = hazard["time"].dt.year.values
    first, last = int(years.min()), int(years.max())
    block_years = int(block_years)
    starts = [b for b in range(int(start), last - block_years + 2, block_years) if b >= first]
    if not starts:
        raise InputError(
            f"{name}: years {first}-{last} hold no complete block of {block_years} years "
            f"(blocks start in {start}, {int(start) + block_years}, ...)"
        )
    blocks = []
    for b in starts:
        sel = np.flatnonzero((years >= b) & (years <= b + block_years - 1))
        # the classes are ordered by severity and CLASS_NODATA is below them all, so max() skips missing
        blocks.append(hazard.isel(time=sel).max("time"))
    out = xr.concat(blocks, dim="time").astype(np.int8)
    out = out.assign_coords(
        time=pd.to_datetime([f"{b:04d}-01-01" for b in starts]).values,
        block_end=("time", np.array([b + block_years - 1 for b in starts], dtype=np.int64)),
    )
    out = out.transpose(*hazard.dims)
    out.name = "so3_hazard_block"
    out.attrs = _class_attrs(
        f"SO3-1 most severe drought hazard class in {block_years}-year blocks",
        f"block_years={block_years}, start={start}",
    )
    return out


def so3_exposure(hazard: xr.DataArray, population: xr.DataArray) -> xr.DataArray:
    """SO3-2 exposure: the population of each pixel in each hazard class (METHODS 2).

    exposure[k] = population where hazard == k, 0 where hazard is another class, NaN where hazard is
    ``CLASS_NODATA`` or population is NaN. Summing over pixels (zonal statistics) gives the population
    exposed to each drought intensity.

    Parameters
    ----------
    hazard
        int class raster from :func:`so3_hazard` or :func:`so3_hazard_blocks`.
    population
        Population count per pixel (persons, non-negative), on the same grid; it may have its own
        ``time`` (matched by label) or none (broadcast over the hazard's time).

    Returns
    -------
    float64 DataArray ``so3_exposure`` with a leading ``drought_class`` dimension (codes of
    ``SO3_LEGEND``, with a ``class_name`` coordinate).
    """
    pop_name = _name(population, "population")
    if not isinstance(population, xr.DataArray) or not isinstance(hazard, xr.DataArray):
        raise InputError("so3_exposure: hazard and population must be xarray.DataArray")
    shared = [d for d in population.dims if d in hazard.dims]
    if not set(population.dims) <= set(hazard.dims):
        raise InputError(f"{pop_name}: dims {population.dims} are not among the hazard dims {hazard.dims}")
    try:
        hz, pop = xr.align(hazard, population, join="exact", exclude=set(hazard.dims) - set(shared))
    except ValueError as err:
        raise GridMismatchError(f"{pop_name}: not on the hazard grid: {err}") from err
    if pop.chunks is None and np.nanmin(np.asarray(pop.values, dtype=np.float64), initial=0.0) < 0:
        raise InputError(f"{pop_name}: population must be non-negative; found {float(np.nanmin(pop.values))}")
    pop = pop.astype(np.float64)
    layers = []
    for code in SO3_LEGEND.codes:
        layers.append(xr.where(hz == CLASS_NODATA, np.nan, xr.where(hz == code, pop, 0.0 * pop)))
    out = xr.concat(layers, dim="drought_class").assign_coords(
        drought_class=np.array(SO3_LEGEND.codes, dtype=np.int8),
        class_name=("drought_class", [c.name for c in SO3_LEGEND.classes]),
    )
    out = out.transpose("drought_class", *hazard.dims)
    out.name = "so3_exposure"
    out.attrs = output_attrs(population.attrs.get("units", "persons"),
                             "SO3-2 population exposed to each drought hazard class",
                             "population of the pixel where the hazard class equals drought_class, else 0",
                             f"legend={SO3_LEGEND.name}", SO3_REFERENCES)
    return out


def so3_vulnerability(
    proxies: Mapping[str, xr.DataArray],
    weights: Mapping[str, float] | None = None,
    aggregation: str = "arithmetic",
    normalise: str = "minmax",
    *,
    inverted: Iterable[str] = (),
) -> xr.DataArray:
    """SO3-3 drought vulnerability: a weighted composite of normalised proxy layers (METHODS 2).

    Each proxy x_i is normalised to [0, 1] (``"minmax"``: (x - min) / (max - min) over all its pixels,
    NaN ignored; ``"none"``: taken as already in [0, 1]); proxies named in ``inverted`` (higher value =
    less vulnerable, e.g. income) become 1 - x. With weights w_i normalised to sum to 1 (default equal):

        arithmetic: V = sum_i w_i x_i          geometric: V = prod_i x_i ** w_i

    Returns
    -------
    float64 DataArray ``so3_vulnerability`` in [0, 1] (1 = most vulnerable); NaN where any proxy is NaN.
    """
    if not isinstance(proxies, Mapping) or not proxies:
        raise InputError("proxies: expected a non-empty mapping of name -> DataArray")
    names = list(proxies)
    if weights is None:
        weights = {k: 1.0 for k in names}
    if set(weights) != set(names):
        raise InputError(f"weights: keys {sorted(weights)} differ from the proxies {sorted(names)}")
    w = {k: float(weights[k]) for k in names}
    if any(not (v >= 0) for v in w.values()) or sum(w.values()) <= 0:
        raise InputError(f"weights: expected non-negative numbers with a positive sum, got {w}")
    total = sum(w.values())
    w = {k: v / total for k, v in w.items()}
    if aggregation not in ("arithmetic", "geometric"):
        raise InputError(f"aggregation: expected 'arithmetic' or 'geometric', got {aggregation!r}")
    if normalise not in ("minmax", "none"):
        raise InputError(f"normalise: expected 'minmax' or 'none', got {normalise!r}")
    inverted = set(inverted)
    if not inverted <= set(names):
        raise InputError(f"inverted: {sorted(inverted - set(names))} are not among the proxies {names}")
    for k in names:
        if not isinstance(proxies[k], xr.DataArray):
            raise InputError(f"proxies[{k!r}]: expected an xarray.DataArray, got {type(proxies[k]).__name__}")
    try:
        aligned = dict(zip(names, xr.align(*[proxies[k] for k in names], join="exact")))
    except ValueError as err:
        raise GridMismatchError(f"proxies: the layers are not on one grid: {err}") from err
    scaled = {}
    for k in names:
        x = aligned[k].astype(np.float64)
        if normalise == "minmax":
            lo, hi = x.min(), x.max()
            if x.chunks is None and not float(hi) > float(lo):
                raise InputError(f"proxies[{k!r}]: constant or empty layer (min = max = {float(lo)}); "
                                 "min-max normalisation needs a range")
            x = (x - lo) / (hi - lo)
        elif x.chunks is None and (float(x.min()) < 0 or float(x.max()) > 1):
            raise InputError(f"proxies[{k!r}]: values outside [0, 1] with normalise='none'")
        scaled[k] = 1.0 - x if k in inverted else x
    if aggregation == "arithmetic":
        out = sum(w[k] * scaled[k] for k in names)
    else:
        out = functools.reduce(lambda a, b: a * b, [scaled[k] ** w[k] for k in names])
    out.name = "so3_vulnerability"
    out.attrs = output_attrs("1", "SO3-3 drought vulnerability index (0 least, 1 most vulnerable)",
                             f"{aggregation} weighted mean of {normalise}-normalised proxies",
                             f"weights={ {k: round(v, 6) for k, v in w.items()} }, aggregation={aggregation}, "
                             f"normalise={normalise}, inverted={sorted(inverted)}", SO3_REFERENCES)
    return out


def so3_vulnerability_given(index: xr.DataArray) -> xr.DataArray:
    """SO3-3 from a ready vulnerability index (e.g. the JRC drought vulnerability index, which Trends.Earth
    reports as its mean per area): checked to lie in [0, 1] (NaN = no data) and labelled as
    :func:`so3_vulnerability` labels its composite.

    Returns
    -------
    float64 DataArray ``so3_vulnerability`` (1 = most vulnerable), the values of ``index``.
    """
    name = _name(index, "drought_vulnerability")
    if not isinstance(index, xr.DataArray):
        raise InputError(f"{name}: expected an xarray.DataArray, got {type(index).__name__}")
    out = index.astype(np.float64)
    lo, hi = float(out.min()), float(out.max())  # NaN skipped; all-NaN gives NaN and passes to the tables
    if lo < 0 or hi > 1:
        raise InputError(f"{name}: values {lo:g} to {hi:g}; a drought vulnerability index is in [0, 1] "
                         "(give scale_factor/offset in the spec to bring it there)")
    out.name = "so3_vulnerability"
    out.attrs = output_attrs("1", "SO3-3 drought vulnerability index (0 least, 1 most vulnerable)",
                             f"given as input {name}", f"source={name}", SO3_REFERENCES)
    return out
