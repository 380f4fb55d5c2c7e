"""dldd.report."""
