"""The one place where report numbers are rounded and formatted.

Every number the report prints (prose, tables, figure labels) goes through :func:`round_value` and
:func:`format_value`, so the same quantity reads the same everywhere. Tables print the rounded number
without unit (the unit is in the column header); prose prints it with its unit.
"""

from __future__ import annotations

import math

#: Decimal places per kind of quantity.
DECIMALS: dict[str, int] = {
    "area_km2": 0,  # km²
    "pct": 1,  # percent of land
    "pp": 1,  # percentage points (a change of a percentage)
    "population": 0,  # persons
    "count": 0,
    "index": 3,  # dimensionless outcome values (e.g. NDVI) and effects on them
    "year": 0,
    "score": 2,  # practice match scores in [0, 1]
    "measure": 1,  # observed quantities in their own units (mm/month, degC): station validation
}
#: Areas below this many km² keep one decimal (small user zones and classes).
SMALL_AREA_KM2 = 10.0
SMALL_AREA_DECIMALS = 1


def _decimals(value: float, kind: str) -> int:
    if kind not in DECIMALS:
        raise KeyError(f"unknown kind of number {kind!r}; expected one of {sorted(DECIMALS)}")
    if kind == "area_km2" and abs(value) < SMALL_AREA_KM2:
        return SMALL_AREA_DECIMALS
    return DECIMALS[kind]


def round_value(value: float | None, kind: str) -> float | None:
    """``value`` rounded as the report prints it (None/NaN stay None)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    value = float(value)
    out = round(value, _decimals(value, kind))
    return 0.0 if out == 0 else out  # no "-0"


def format_value(value: float | None, kind: str, *, unit: str = "", signed: bool = False, missing: str = "–") -> str:
    """The printed form: rounded, thousands separated by commas, then ``unit`` (e.g. ``"1,598 km²"``,
    ``"12.5 %"``, ``"+0.3 pp"``). ``signed`` prefixes a plus sign to positive values."""
    r = round_value(value, kind)
    if r is None:
        return missing
    d = _decimals(float(value), kind)
    if kind == "year":
        return f"{int(r)}"
    s = f"{r:+,.{d}f}" if signed else f"{r:,.{d}f}"
    return f"{s}\u00a0{unit}" if unit else s
