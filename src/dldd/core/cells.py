"""The one reader of a number in a table cell (a CSV/DataFrame value written by a stage and read back by the
report or the practices): :func:`cell_number`."""

from __future__ import annotations

import math


def cell_number(v, *, finite: bool = False) -> float | None:
    """The cell ``v`` as a float; None when it is empty or not a number (None, NaN, text that ``float`` does
    not read). An infinity is kept, or read as None when ``finite`` is True."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    if math.isnan(x) or (finite and math.isinf(x)):
        return None
    return x
