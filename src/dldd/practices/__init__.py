"""dldd.practices."""
