"""dldd.core."""
