"""Synthetic scenes with a planted intervention effect, for the tests and the Monte Carlo study of the
effectiveness statistics (benchmarks/mc_effectiveness.py). Everything made here is SYNTHETIC and is
labelled so (``attrs["source"]``).

Scene: an annual NDVI-like cube (time, y, x) on square pixels of ``pixel_km``:
``Y = base + trend t + regional_t + drought_t base + local + white + effect``, with
- base: heterogeneous level, a smooth field (Gaussian filter, sigma 3 pixels), 0.15 +- 0.04;
- regional_t: an anomaly per year shared by the whole scene (cancels in a difference in differences);
- drought (``drought_year``): that year every pixel loses ``DROUGHT_LOSS`` of its base level (greener
  land loses more: a shock the matching on the pre-period mean must absorb);
- local: spatially correlated noise per year, the sum of two Gaussian-filtered white-noise fields
  (sigma ``sigma_px`` and 3 sigma_px, variance shares 2/3 and 1/3; drawn on a larger grid and cropped, so
  not periodic), neither an exponential nor a Gaussian
  correlation (a test of the variance model's fit), SD ``noise_sd``; white: pixel noise, SD
  ``white_sd``;
- trend: with ``greening`` the land greens along a west-east gradient (0 to 0.006 per year) and the
  treated area sits in the greening east; else 0;
- treated area: a ``treated_shape`` (rows, columns) rectangle in the centre (``greening``: at the
  east edge of the margin), ``margin`` pixels from the edges; with ``selected`` its base level is
  ``SELECTION_UPLIFT`` higher (land chosen for being greener);
- effect: ``effect`` added to the treated pixels from ``start`` on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy import ndimage

#: Label carried by every synthetic object.
SYNTHETIC_SOURCE = "SYNTHETIC scene (dldd.effectiveness.synthetic), not observations"
#: Share of its base level every pixel loses in the drought year.
DROUGHT_LOSS = 0.3
#: Higher base level of land chosen for an intervention (``selected``).
SELECTION_UPLIFT = 0.03
#: Margin (in filter sigmas) of the grid the correlated noise is drawn on (the filter reaches 4 sigma).
NOISE_PAD_SIGMAS = 4.0


def smooth_noise(rng, shape, sigma):
    """White noise of ``shape`` (..., y, x) Gaussian-filtered along y and x (sigma pixels), SD 1. The
    noise is drawn on a grid ``NOISE_PAD_SIGMAS`` sigma larger on each side and cropped: filtering with
    wrap-around on the scene itself made pixels at opposite edges correlated like neighbours, a
    covariance no real field has and no correlogram shows (it made intervals at 100 cells too narrow by
    about 6 % in se; docs/methods.md)."""
    pad = int(np.ceil(NOISE_PAD_SIGMAS * sigma))
    big = tuple(shape[:-2]) + (shape[-2] + 2 * pad, shape[-1] + 2 * pad)
    f = ndimage.gaussian_filter(rng.standard_normal(big), (0,) * (len(shape) - 2) + (sigma, sigma), mode="wrap")
    f = f[..., pad : pad + shape[-2], pad : pad + shape[-1]]
    return f / f.std()


def synthetic_scene(
    seed: int,
    *,
    effect: float = 0.03,
    treated_shape: tuple[int, int] = (24, 24),
    margin: int = 16,
    years: np.ndarray = np.arange(2001, 2021),
    start: int = 2011,
    pixel_km: float = 1.0,
    noise_sd: float = 0.012,
    white_sd: float = 0.004,
    regional_sd: float = 0.02,
    sigma_px: float = 1.0,
    greening: bool = False,
    selected: bool = False,
    drought_year: int | None = None,
) -> tuple[xr.DataArray, xr.DataArray]:
    """SYNTHETIC (cube, treated mask) as in the module docstring; projected coordinates in metres."""
    rng = np.random.default_rng(seed)
    h, w = treated_shape
    ny, nx = h + 2 * margin, w + 2 * margin + (8 if greening else 0)
    nt = years.size
    base = 0.15 + 0.04 * smooth_noise(rng, (ny, nx), 3.0)
    treated = np.zeros((ny, nx), bool)
    c0 = nx - margin - w if greening else margin
    treated[margin : margin + h, c0 : c0 + w] = True
    if selected:
        base = base + SELECTION_UPLIFT * treated
    xx = np.mgrid[0:ny, 0:nx][1]
    trend = 0.006 * xx / (nx - 1) if greening else np.zeros((ny, nx))
    t = (years - years.mean())[:, None, None]
    regional = regional_sd * rng.standard_normal(nt)[:, None, None]
    drought = np.zeros((nt, 1, 1)) if drought_year is None else -DROUGHT_LOSS * (years == drought_year)[:, None, None]
    local = np.sqrt(2 / 3) * smooth_noise(rng, (nt, ny, nx), sigma_px) + np.sqrt(1 / 3) * smooth_noise(rng, (nt, ny, nx), 3 * sigma_px)
    y = (base * (1 + drought) + trend * t + regional + noise_sd * local + white_sd * rng.standard_normal((nt, ny, nx))
         + effect * ((years >= start)[:, None, None] & treated[None]))  # fmt: skip
    m = 1000.0 * pixel_km
    coords = {"y": -m * np.arange(ny), "x": m * np.arange(nx)}
    time = pd.to_datetime([f"{v}-01-01" for v in years])
    attrs = {"units": "1", "source": SYNTHETIC_SOURCE}
    cube = xr.DataArray(y, dims=("time", "y", "x"), coords={"time": time, **coords}, name="ndvi", attrs=attrs)
    return cube, xr.DataArray(treated, dims=("y", "x"), coords=coords, attrs={"source": SYNTHETIC_SOURCE})
