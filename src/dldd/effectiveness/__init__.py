"""dldd.effectiveness."""
