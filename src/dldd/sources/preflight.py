"""Preflight: open every input of a spec cheaply and report what is wrong before anything computes.

:func:`preflight` goes through the spec's inputs and, for each, (1) says a missing file, folder or
glob matching nothing at once, without opening anything; (2) opens the input as the pipeline does
(:func:`dldd.sources.open_input`: CRS, units, fill values, scale factor, time axis, the product's own
decoding; never fetching: a product the cache lacks is reported with the ``dldd fetch`` command that
gets it); (3) computes a sample: the first and last time step over one window of at most
``SAMPLE_WINDOW`` cells a side at the grid's centre, which runs the lazy value-range checks of
:mod:`dldd.sources.checks` on those blocks. It returns one message per bad input (empty: all good).
``dldd spec check`` prints them.
"""

from __future__ import annotations

import glob
import os
from unittest import mock

from dldd.errors import DlddError

#: Side (cells) of the window sampled at the centre of each input's grid.
SAMPLE_WINDOW = 256


def missing_location(spec, entry) -> str | None:
    """The path or product location of an input entry when nothing exists there, else None."""
    location = entry.path
    if entry.product is not None:
        location = entry.product.split("@", 1)[1].strip() if "@" in entry.product else None
    if not location:
        return None
    path = spec.resolve(location)
    if any(ch in str(path) for ch in "*?["):
        return None if glob.glob(str(path)) else str(path)
    return None if path.exists() else str(path)


def preflight(spec, sample: bool = True) -> list[str]:
    """One message per input that is missing or cannot be read as the spec says (see the module doc)."""
    from dldd.sources import OFFLINE_ENV, open_input

    problems = []
    for name, entry in spec.inputs.items():
        missing = missing_location(spec, entry)
        if missing is not None:
            problems.append(f"input {name!r}: {missing} does not exist (nothing matches)")
            continue
        try:
            with mock.patch.dict(os.environ, {OFFLINE_ENV: "1"}):
                da = open_input(spec, name)
                if sample:
                    _sample(da).compute()
        except DlddError as err:
            problems.append(str(err))
    return problems


def _sample(da):
    window = {}
    for dim in ("y", "x"):
        if dim in da.dims:
            n = da.sizes[dim]
            start = max(0, n // 2 - SAMPLE_WINDOW // 2)
            window[dim] = slice(start, start + SAMPLE_WINDOW)
    if "time" in da.dims and da.sizes["time"] > 1:
        window["time"] = [0, da.sizes["time"] - 1]
    return da.isel(window)
