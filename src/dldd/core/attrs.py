"""The attributes of an indicator output: the one builder of them (DESIGN.md: every output carries units,
long name, method, parameters and references; a class raster also its legend and fill value).

:func:`output_attrs` returns them in one order, ``units``, ``long_name``, ``method``, ``parameters``,
``references``, then for a class raster ``legend`` (the legend's name), the CF ``flag_values`` and
``flag_meanings`` and ``_FillValue``, then any other attribute the caller names. An attribute given as
None is left out.
"""

from __future__ import annotations

from dldd.core.legend import CLASS_NODATA, Legend


def meanings_of(legend: Legend) -> str:
    """CF ``flag_meanings`` of a legend: its class names, blanks as underscores, space-separated."""
    return " ".join(c.name.replace(" ", "_") for c in legend.classes)


def output_attrs(units: str, long_name: str, method: str | None = None, parameters: str | None = None,
                 references: str | None = None, *, legend: Legend | None = None, flag_values=None,
                 flag_meanings: str | None = None, **extra) -> dict:
    """Attributes of an indicator output (see the module docstring).

    A class raster names its ``legend`` (codes, meanings and fill value from it), or gives ``flag_values``
    and ``flag_meanings`` of classes without a named legend (fill value :data:`CLASS_NODATA`).
    """
    base = {"units": units, "long_name": long_name, "method": method, "parameters": parameters,
            "references": references}
    attrs = {k: v for k, v in base.items() if v is not None}
    if legend is not None:
        attrs["legend"] = legend.name
        flag_values = legend.codes if flag_values is None else flag_values
        flag_meanings = meanings_of(legend) if flag_meanings is None else flag_meanings
    if flag_values is not None:
        attrs["flag_values"] = list(flag_values)
        attrs["flag_meanings"] = flag_meanings
        attrs["_FillValue"] = legend.nodata if legend is not None else CLASS_NODATA
    attrs.update({k: v for k, v in extra.items() if v is not None})
    return attrs
