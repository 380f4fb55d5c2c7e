"""Practice catalogue: one YAML file per practice (package data read by dldd.practices.loader)."""
