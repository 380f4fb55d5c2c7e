"""The embedded demo: SYNTHETIC time series on real geography (see :mod:`dldd.demo.scenes`)."""
