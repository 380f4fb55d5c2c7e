"""Statistics: area-weighted tables by region from geodesic cell areas (:mod:`dldd.stats.zonal`) and
the UNCCD reporting layout of the run's tables (:mod:`dldd.stats.reporting`)."""
