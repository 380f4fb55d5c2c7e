"""Legend nesting tables (data): source land cover legends -> the seven UNCCD classes.

Read them with :func:`dldd.indicators.landcover.load_nesting`.
"""
