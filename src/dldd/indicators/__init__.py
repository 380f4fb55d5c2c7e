"""The science: pure functions on xarray objects (no I/O, no printing, no global state).

Each output carries attributes: units, long_name, method, parameters and references.
"""
