"""Helpers shared by the drift potential (:mod:`~dldd.indicators.sand.drift`) and RWEQ
(:mod:`~dldd.indicators.sand.rweq`) modules: input checks and the observation step of a wind record."""

from __future__ import annotations

import numpy as np
import xarray as xr

from dldd.errors import InputError

SECONDS_PER_HOUR = 3600.0


def as_float(da, name: str) -> xr.DataArray:
    """``da`` as floats; anything but a DataArray is refused naming ``name``."""
    if not isinstance(da, xr.DataArray):
        raise InputError(f"{name}: expected an xarray.DataArray, found {type(da).__name__}")
    return da.astype(float)


def need_dim(da: xr.DataArray, dim: str, name: str) -> None:
    """Refuse ``da`` (named ``name``) without the dimension ``dim``."""
    if dim not in da.dims:
        raise InputError(f"{name}: no {dim!r} dimension (dimensions {tuple(da.dims)}); pass dim=")


def observation_step_hours(time) -> float | None:
    """Median step (hours) of a datetime coordinate; None when it has fewer than 2 datetimes."""
    values = np.asarray(time)
    if values.size < 2 or not np.issubdtype(values.dtype, np.datetime64):
        return None
    steps = np.diff(values).astype("timedelta64[s]").astype(float) / SECONDS_PER_HOUR
    return float(np.median(steps))
