"""dldd.demo."""
