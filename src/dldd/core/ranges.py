"""The one value range check of dldd's inputs to science functions.

:func:`check_range` refuses (``InputError`` naming the input, the range found and what was expected) a
number, numpy array or in-memory DataArray whose values leave ``[lo, hi]``. NaN is no data and is not
checked; an infinity is a value like any other. A dask-backed DataArray is not computed for the check (the
sources screen every input block by block when it is read: :mod:`dldd.sources.checks`).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from dldd.errors import InputError


def check_range(x, name: str, lo: float | None = None, hi: float | None = None, expected: str | None = None) -> None:
    """Raise InputError when values of ``x`` (NaN ignored) fall below ``lo`` or above ``hi`` (None: no bound).

    ``expected`` says in words what the values should be (default: the bounds); ``x`` None passes.
    """
    if x is None or (isinstance(x, xr.DataArray) and x.chunks is not None):
        return
    vals = np.asarray(x.values if isinstance(x, xr.DataArray) else x, dtype=float)
    vals = vals[~np.isnan(vals)]
    if vals.size == 0:
        return
    vmin, vmax = float(vals.min()), float(vals.max())
    if (lo is not None and vmin < lo) or (hi is not None and vmax > hi):
        if expected is None:
            expected = (f"values in [{lo:g}, {hi:g}]" if lo is not None and hi is not None
                        else f"values >= {lo:g}" if lo is not None else f"values <= {hi:g}")
        raise InputError(f"{name}: values range from {vmin:g} to {vmax:g}; expected {expected}")
