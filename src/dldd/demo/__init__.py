"""The embedded demo: SYNTHETIC time series on real geography (see :mod:`dldd.demo.scenes`)."""

from __future__ import annotations

#: Inputs every demo scene writes.
DEMO_INPUTS = ("ndvi", "land_cover", "soc", "population", "precipitation", "tmin", "tmax")


def demo_indicators(scene: str) -> dict:
    """Every registered indicator family whose inputs the demo scene provides, with default parameters."""
    from dldd.pipeline.registry import STAGES

    return {name: {} for name, st in STAGES.items() if all(n in DEMO_INPUTS for n in st.needs)}
