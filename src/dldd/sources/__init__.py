"""dldd.sources."""
