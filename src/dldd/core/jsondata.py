"""Python and numpy values as JSON data: the one encoder of every JSON file and JSON attribute dldd writes.

:func:`to_json_data` turns a nested value into JSON types: mappings into dicts with string keys, tuples
and lists into lists, ``pathlib.Path`` into its text, numpy scalars into Python ``bool``/``int``/``float``
(``.item()``) and numpy arrays into nested lists. Two choices name what a file needs:

- ``nonfinite="keep"`` leaves NaN and infinities as floats (``json.dumps`` writes ``NaN``/``Infinity``,
  which Python reads back); ``"null"`` writes them as ``null`` (standard JSON, e.g. an effect with no
  estimate).
- ``numpy="typed"`` keeps the dtype of numpy values, ``{"__numpy__": values, "dtype": ..., "scalar": ...}``,
  which :func:`from_json_data` (a ``json.loads`` object hook) reads back as numpy values of that dtype.

:func:`json_default` is the ``default=`` hook of ``json.dumps`` for values met inside data that was not
converted first (numpy and paths as above, non-finite numpy scalars as ``null``, anything else as its text).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

NONFINITE = ("keep", "null")
NUMPY = ("plain", "typed")


def to_json_data(obj, *, nonfinite: str = "keep", numpy: str = "plain"):
    """``obj`` as JSON types, recursively (see the module docstring for ``nonfinite`` and ``numpy``)."""
    if nonfinite not in NONFINITE:
        raise ValueError(f"nonfinite: found {nonfinite!r}, expected one of {NONFINITE}")
    if numpy not in NUMPY:
        raise ValueError(f"numpy: found {numpy!r}, expected one of {NUMPY}")
    return _convert(obj, nonfinite == "null", numpy == "typed")


def _convert(v, null_nonfinite: bool, typed: bool):
    if isinstance(v, Mapping):
        return {str(k): _convert(x, null_nonfinite, typed) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_convert(x, null_nonfinite, typed) for x in v]
    if isinstance(v, (np.ndarray, np.generic)):
        if typed:
            return {"__numpy__": np.asarray(v).tolist(), "dtype": str(v.dtype), "scalar": isinstance(v, np.generic)}
        v = v.tolist() if isinstance(v, np.ndarray) else v.item()
        return _convert(v, null_nonfinite, typed) if null_nonfinite else v
    if isinstance(v, Path):
        return str(v)
    if null_nonfinite and isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def from_json_data(d: dict):
    """``json.loads`` object hook: the numpy values :func:`to_json_data` wrote with ``numpy="typed"``."""
    if "__numpy__" in d:
        arr = np.asarray(d["__numpy__"], dtype=d["dtype"])
        return arr[()] if d["scalar"] else arr
    return d


def json_default(o):
    """``json.dumps(default=...)``: numpy numbers, booleans and arrays and paths as JSON data (non-finite
    numpy scalars as ``null``), any other object (e.g. a ``numpy.datetime64``) as its text."""
    if isinstance(o, (np.number, np.bool_)):
        return to_json_data(o, nonfinite="null")
    if isinstance(o, (np.ndarray, Path)):
        return to_json_data(o)
    return str(o)
