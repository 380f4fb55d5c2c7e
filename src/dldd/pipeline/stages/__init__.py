"""Pipeline stages, one module per indicator family (see :mod:`dldd.pipeline.registry`)."""
