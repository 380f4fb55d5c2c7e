"""Errors dldd raises for bad input.

Every error names what is wrong (the file, the field or the variable), the value found and what was
expected, so that a report author can fix the input without reading the code.
"""


class DlddError(Exception):
    """Base class of every error dldd raises on purpose."""


class InputError(DlddError, ValueError):
    """An input file, variable or array is not what the assessment needs."""


class SpecError(DlddError, ValueError):
    """The assessment spec is invalid: the message names the field path and the bad value."""


class GridMismatchError(InputError):
    """Two inputs that must share a grid do not (CRS, transform or shape differ)."""
