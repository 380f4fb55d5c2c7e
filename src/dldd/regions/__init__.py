"""dldd.regions."""
