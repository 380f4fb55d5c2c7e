"""Statistics made from the run's tables (the UNCCD reporting layout)."""
