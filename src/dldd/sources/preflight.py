"""Preflight: open every input of a spec cheaply and report what is wrong before anything computes.

:func:`preflight` goes through the spec's inputs and, for each, (1) says a missing file, folder or
glob matching nothing at once, without opening anything; (2) opens the input as the pipeline does
(:func:`dldd.sources.open_input`: CRS, units, fill values, scale factor, time axis, the product's own
decoding; never fetching: a product the cache lacks is reported with the ``dldd fetch`` command that
gets it); (3) computes a sample: the first and last time step over the block at the grid's centre (one chunk
of the opened input, at most ``SAMPLE_WINDOW`` cells a side), which runs the lazy value-range checks of
:mod:`dldd.sources.checks` on those blocks. It returns one message per bad input (empty: all good).
``dldd spec check`` and ``dldd run`` (before its first stage) refuse the spec with them in the same words
(:func:`refuse_unusable`); for a run, a product input the run would fetch (:func:`fetched_by_the_run`) is
not a problem: the run fetches it.
"""

from __future__ import annotations

import glob
import os
from unittest import mock

from dldd.errors import DlddError

#: Side (cells) of the window sampled at the centre of each input's grid.
SAMPLE_WINDOW = 32


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


def preflight(spec, sample: bool = True, fetching: bool = False) -> list[str]:
    """One message per input that is missing or cannot be read as the spec says (see the module doc).
    ``fetching``: leave out the product inputs a run would fetch (:func:`fetched_by_the_run`)."""
    from dldd.sources import OFFLINE_ENV, open_input
    from dldd.sources.stations import read_stations
    from dldd.spec import STATIONS_INPUT

    problems = []
    for name, entry in spec.inputs.items():
        if fetching and fetched_by_the_run(spec, name, entry):
            continue
        missing = missing_location(spec, entry)
        if missing is not None:
            problems.append(f"input {name!r}: {missing} does not exist (nothing matches)")
            continue
        if name == STATIONS_INPUT:  # a station CSV, not a grid: read as the stage reads it
            try:
                read_stations(spec.resolve(entry.path), missing_value=entry.nodata)
            except DlddError as err:
                problems.append(str(err))
            continue
        try:
            with mock.patch.dict(os.environ, {OFFLINE_ENV: "1"}):
                da = open_input(spec, name)
                if sample:
                    _sample(da).compute()
        except DlddError as err:
            problems.append(str(err))
    return problems


def refuse_unusable(spec, fetching: bool = True) -> None:
    """Raise the problem of the one unusable input (its own error), or an InputError listing several;
    for ``dldd run`` before its first stage (``fetching``: inputs the run would fetch are left to the run)
    and ``dldd spec check`` (``fetching=False``: a product not cached yet is named with its fetch command)."""
    from dldd.errors import InputError

    problems = preflight(spec, fetching=fetching)
    if len(problems) == 1:
        raise InputError(problems[0])
    if problems:
        raise InputError(f"{len(problems)} inputs cannot be used:\n  - " + "\n  - ".join(problems))


def fetched_by_the_run(spec, name: str, entry) -> bool:
    """Whether reading input ``name`` fetches it (:func:`dldd.sources.fetch.ensure_cached`): a product of a
    STAC catalogue without a location, that the fetch cache (``DLDD_CACHE``) lacks for the spec's regions
    and years, with network access on (``DLDD_OFFLINE`` unset)."""
    from dldd.errors import InputError
    from dldd.sources import CACHE_ENV, OFFLINE_ENV, fetch, products, spec_years

    cache = os.environ.get(CACHE_ENV)
    if entry.product is None or entry.path or not cache or not spec.regions.include \
            or os.environ.get(OFFLINE_ENV, "") in ("1", "true", "yes"):
        return False
    try:
        product, layer, location = products.parse_product(entry.product)
        lay = product.layer(layer or entry.variable, name)
    except InputError:
        return False
    if location or product.bundled is not None or not product.stac:
        return False
    fetch_layer = None if lay.names == product.layers[0].names else lay.variable
    region_key, _ = fetch.resolve_region(list(spec.regions.include))
    return fetch.find_cached(cache, product, region_key, fetch.parse_years(spec_years(spec)), fetch_layer) is None


def _sample(da):
    """The first and last time step of one block at the grid's centre: the chunk of the opened input that
    holds the centre cell (at most ``SAMPLE_WINDOW`` cells a side), so the sample never reads more than a
    block of each input, whatever the grid's size."""
    window = {}
    chunks = dict(zip(da.dims, da.chunks)) if da.chunks is not None else {}
    for dim in ("y", "x"):
        if dim in da.dims:
            n = da.sizes[dim]
            start, stop = max(0, n // 2 - SAMPLE_WINDOW // 2), None
            if dim in chunks:
                edge = 0
                for size in chunks[dim]:
                    if edge <= n // 2 < edge + size:
                        start, stop = edge, edge + size
                        break
                    edge += size
            stop = min(stop if stop is not None else n, start + SAMPLE_WINDOW)
            window[dim] = slice(start, stop)
    if "time" in da.dims and da.sizes["time"] > 1:
        window["time"] = [0, da.sizes["time"] - 1]
    return da.isel(window)
