"""Design of an intervention's evaluation (METHODS 6, items 1-4 of :mod:`dldd.effectiveness.evaluate`):
the inputs checked, the evaluation window, the treated pixels, the control pool, the pre and post
periods and each pixel's pre-period mean and trend and before/after change.

The settings of an evaluation are grouped in :class:`EvaluationSettings`; :func:`build_design` returns a
:class:`Design` that the later steps (matching, estimate, inference, diagnostics) read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import xarray as xr

from dldd.core.legend import CLASS_NODATA
from dldd.effectiveness.breakpoints import MOSUM_H
from dldd.effectiveness.matching import pre_period_features
from dldd.effectiveness.spatial import SPATIAL_DIMS, control_ring, pixel_spacing_km
from dldd.errors import GridMismatchError, InputError

#: Inner buffer excluded around the treated area, km (spill-over of the intervention, edge pixels).
DEFAULT_BUFFER_KM = 2.0
#: Outer distance of the control ring, km (comparable climate and soils, METHODS 6).
DEFAULT_OUTER_KM = 20.0
#: Caliper on each matching variable, in standard deviations (Rosenbaum & Rubin 1985; Austin 2011).
DEFAULT_CALIPER_SD = 0.25
#: Least coverage fraction of a pixel by the polygon for it to count as treated.
DEFAULT_MIN_COVERAGE = 0.5
#: Two-sided confidence level of the intervals.
DEFAULT_CONFIDENCE = 0.95
#: Fewest finite pre-period years a pixel needs (a trend needs at least three points).
MIN_PRE_YEARS = 3

#: Coordinates of (y, x) layers may differ from the outcome's by this fraction of a cell (text rounding,
#: float32 coordinates).
COORD_TOL = 1e-3


@dataclass(frozen=True)
class EvaluationSettings:
    """The settings of one evaluation (the keyword arguments of
    :func:`dldd.effectiveness.evaluate.evaluate_intervention`, which documents them)."""

    buffer_km: float = DEFAULT_BUFFER_KM
    outer_km: float = DEFAULT_OUTER_KM
    min_coverage: float = DEFAULT_MIN_COVERAGE
    caliper_mean_sd: float = DEFAULT_CALIPER_SD
    caliper_trend_sd: float = DEFAULT_CALIPER_SD
    confidence: float = DEFAULT_CONFIDENCE
    seed: int = 0
    mosum_h: float = MOSUM_H
    breakpoints: bool = True
    placebo: bool = True

    def check(self) -> None:
        """InputError for a setting out of its range."""
        if not (0 < self.confidence < 1):
            raise InputError(f"confidence must be in (0, 1), got {self.confidence!r}")
        if not (0 < self.min_coverage <= 1):
            raise InputError(f"min_coverage must be in (0, 1], got {self.min_coverage!r}")
        for nm, v in (("caliper_mean_sd", self.caliper_mean_sd), ("caliper_trend_sd", self.caliper_trend_sd)):
            if not v > 0:
                raise InputError(f"{nm} must be positive, got {v!r}")


@dataclass
class Design:
    """Pixels of the evaluation window (flattened, n of them) and periods. ``T``: valid treated pixels,
    ``P``: valid control-pool pixels (flat indices); ``Y`` (years, n) the outcome."""

    years: np.ndarray
    start_year: int
    end_year: int | None
    pre: np.ndarray  # (years,) bool
    post: np.ndarray  # (years,) bool
    spacing: tuple[float, float]
    window: dict[str, slice]
    shape: tuple[int, int]
    Y: np.ndarray
    frac: np.ndarray  # (y, x) coverage fraction
    area: np.ndarray  # (y, x) cell area, km2
    dist: np.ndarray  # (y, x) distance to the nearest touched pixel, km
    codes: dict[str, np.ndarray]  # exact-match class codes per layer, (n,)
    pre_mean: np.ndarray
    pre_trend: np.ndarray
    change: np.ndarray  # post-period mean minus pre-period mean, (n,)
    valid: np.ndarray
    treated_px: np.ndarray  # coverage >= min_coverage, (n,)
    T: np.ndarray
    P: np.ndarray
    n_invalid: int

    @property
    def rc(self) -> np.ndarray:
        """Grid row and column of each pixel of the window, (n, 2)."""
        return np.column_stack(np.unravel_index(np.arange(self.Y.shape[1]), self.shape))


# --------------------------------------------------------------------------------------------------
# input checks


def yx_layer(name: str, da, like: xr.DataArray) -> xr.DataArray:
    """``da`` as a (y, x) layer on the grid of ``like``, else InputError / GridMismatchError naming it."""
    if not isinstance(da, xr.DataArray):
        raise InputError(f"{name}: expected an xarray DataArray with dimensions ('y', 'x'), got {type(da).__name__}")
    if set(da.dims) != set(SPATIAL_DIMS):
        raise InputError(f"{name}: expected dimensions ('y', 'x'), found {tuple(da.dims)}")
    da = da.transpose(*SPATIAL_DIMS)
    for dim in SPATIAL_DIMS:
        if da.sizes[dim] != like.sizes[dim]:
            raise GridMismatchError(
                f"{name}: {dim} has {da.sizes[dim]} cells but the outcome has {like.sizes[dim]}; expected the same grid"
            )
        if dim in da.coords and dim in like.coords:
            a, b = np.asarray(da[dim].values, float), np.asarray(like[dim].values, float)
            tol = COORD_TOL * (abs(b[1] - b[0]) if b.size > 1 else 1.0)
            if not np.allclose(a, b, rtol=0, atol=tol):
                raise GridMismatchError(f"{name}: {dim} coordinates differ from the outcome's; expected the same grid")
    return da


def outcome_cube(outcome) -> tuple[xr.DataArray, np.ndarray]:
    """The outcome as (time, y, x) and its years, checked."""
    if not isinstance(outcome, xr.DataArray):
        raise InputError(f"outcome: expected an xarray DataArray (time, y, x), got {type(outcome).__name__}")
    if set(outcome.dims) != {"time", *SPATIAL_DIMS}:
        raise InputError(f"outcome {outcome.name!r}: expected dimensions ('time', 'y', 'x'), found {tuple(outcome.dims)}")
    years = np.asarray(outcome["time"].dt.year.values, dtype=np.int64)
    if years.size > 1 and np.any(np.diff(years) <= 0):
        raise InputError(f"outcome {outcome.name!r}: years must be strictly increasing (one value per year), found {years.tolist()}")
    return outcome.transpose("time", *SPATIAL_DIMS), years


def class_codes(name: str, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and validity of a class layer (NaN and CLASS_NODATA are no data)."""
    v = np.asarray(values)
    if np.issubdtype(v.dtype, np.floating):
        ok = np.isfinite(v)
        if np.any(ok & (v != np.round(v))):
            raise InputError(f"exact-match layer {name!r} has non-integer values; expected class codes")
        codes = np.where(ok, v, CLASS_NODATA).astype(np.int64)
    elif np.issubdtype(v.dtype, np.integer) or v.dtype == bool:
        codes = v.astype(np.int64)
    else:
        raise InputError(f"exact-match layer {name!r} has dtype {v.dtype}; expected integer class codes")
    ok = codes != CLASS_NODATA
    return codes, ok


def evaluation_window(touched: np.ndarray, spacing_km: tuple[float, float], outer_km: float,
                      offset: tuple[int, int] = (0, 0), shape: tuple[int, int] | None = None) -> dict[str, slice]:
    """Index slices of the evaluation window: the bounding box of the ``touched`` (y, x) cells plus
    ceil(outer_km / spacing) + 1 cells on each side, within the grid. ``touched`` may be a window of
    the grid starting at ``offset`` in a grid of ``shape`` (default: ``touched`` is the whole grid)."""
    shape = touched.shape if shape is None else shape
    rows, cols = np.nonzero(touched)
    pad_r = int(math.ceil(outer_km / spacing_km[0])) + 1
    pad_c = int(math.ceil(outer_km / spacing_km[1])) + 1
    r0, r1 = offset[0] + rows.min() - pad_r, offset[0] + rows.max() + pad_r + 1
    c0, c1 = offset[1] + cols.min() - pad_c, offset[1] + cols.max() + pad_c + 1
    return {"y": slice(int(max(r0, 0)), int(min(r1, shape[0]))), "x": slice(int(max(c0, 0)), int(min(c1, shape[1])))}


def study_periods(years: np.ndarray, start_year: int, end_year: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(pre, post) year masks (module docstring of evaluate, item 4), checked."""
    post_start = start_year if end_year is None else end_year
    if end_year is not None and end_year < start_year:
        raise InputError(f"end_year={end_year} is before start_year={start_year}")
    pre = years < start_year
    post = years >= post_start
    if pre.sum() < MIN_PRE_YEARS:
        raise InputError(
            f"outcome covers {int(pre.sum())} years before start_year={start_year} ({years.min()}-{years.max()}); "
            f"expected at least {MIN_PRE_YEARS}"
        )
    if post.sum() < 1:
        raise InputError(f"outcome has no year >= {post_start} (years {years.min()}-{years.max()}); expected a post period")
    return pre, post


def build_design(cube: xr.DataArray, years: np.ndarray, treated: xr.DataArray, start_year: int, end_year: int | None,
                 settings: EvaluationSettings, *, exact: Mapping[str, xr.DataArray] | None = None,
                 exclude: xr.DataArray | None = None, cell_area_km2: xr.DataArray | None = None,
                 pixel_size_km: tuple[float, float] | None = None, crs=None) -> Design:
    """Items 1-4 of the evaluation (module docstring of :mod:`dldd.effectiveness.evaluate`) for the checked
    outcome ``cube`` (time, y, x) with ``years`` and the checked (y, x) ``treated`` layer."""
    pre, post = study_periods(years, start_year, end_year)
    spacing = pixel_spacing_km(cube, crs=crs, pixel_size_km=pixel_size_km)
    frac_full = np.asarray(treated.values, dtype="float64")
    frac_full = np.where(np.isfinite(frac_full), frac_full, 0.0)
    if frac_full.min() < 0 or frac_full.max() > 1:
        raise InputError(f"treated: expected a boolean mask or coverage fraction in [0, 1], found range {frac_full.min():g}..{frac_full.max():g}")
    touched_full = frac_full > 0
    if not (frac_full >= settings.min_coverage).any():
        raise InputError(f"treated: no pixel is covered by at least min_coverage={settings.min_coverage} of the intervention")

    win = evaluation_window(touched_full, spacing, settings.outer_km)
    frac = frac_full[win["y"], win["x"]]
    touched = touched_full[win["y"], win["x"]]
    shape = frac.shape
    Y = np.asarray(cube.isel(win).values, dtype="float64").reshape(years.size, -1)

    usable = np.ones(shape, bool)
    if exclude is not None:
        ex = np.asarray(yx_layer("exclude", exclude, cube).isel(win).values)
        usable &= ~np.where(np.isnan(ex.astype(float)), False, ex.astype(bool))
    codes = {}
    for nm, layer in dict(exact or {}).items():
        c, ok = class_codes(nm, yx_layer(f"exact[{nm!r}]", layer, cube).isel(win).values)
        codes[nm] = c.ravel()
        usable &= ok
    if cell_area_km2 is not None:
        area = np.asarray(yx_layer("cell_area_km2", cell_area_km2, cube).isel(win).values, dtype="float64")
    else:
        area = np.full(shape, spacing[0] * spacing[1])

    ring, dist = control_ring(touched, spacing, settings.buffer_km, settings.outer_km)

    pre_mean, pre_trend, n_pre = pre_period_features(Y, years, pre)
    n_post = np.isfinite(Y[post]).sum(axis=0)
    with np.errstate(invalid="ignore"):
        post_mean = np.where(n_post > 0, np.nansum(np.where(np.isfinite(Y[post]), Y[post], 0.0), axis=0) / np.maximum(n_post, 1), np.nan)
    change = post_mean - pre_mean
    valid = (n_pre >= MIN_PRE_YEARS) & (n_post >= 1) & usable.ravel() & np.isfinite(pre_trend)

    treated_px = (frac >= settings.min_coverage).ravel()
    T = np.flatnonzero(treated_px & valid)
    P = np.flatnonzero(ring.ravel() & valid)
    if T.size == 0:
        raise InputError(
            f"treated: none of the {int(treated_px.sum())} treated pixels has valid data "
            f"(>= {MIN_PRE_YEARS} pre-period years, >= 1 post year, exact-match classes, not excluded)"
        )
    if P.size == 0:
        raise InputError(
            f"no control pixel with valid data lies between buffer_km={settings.buffer_km} and outer_km={settings.outer_km} "
            "of the intervention; widen outer_km or check the outcome's coverage"
        )
    return Design(years=years, start_year=int(start_year), end_year=None if end_year is None else int(end_year),
                  pre=pre, post=post, spacing=spacing, window=win, shape=shape, Y=Y, frac=frac, area=area, dist=dist,
                  codes=codes, pre_mean=pre_mean, pre_trend=pre_trend, change=change, valid=valid,
                  treated_px=treated_px, T=T, P=P, n_invalid=int((treated_px & ~valid).sum()))
