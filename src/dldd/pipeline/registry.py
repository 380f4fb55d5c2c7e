"""The stage registry: one line per indicator family, in the order they run.

Adding a family means writing its module in :mod:`dldd.pipeline.stages` and one line here.
"""

from __future__ import annotations

from dldd.pipeline.stages import climate, desertification, effectiveness, land_cover, practices, sdg, stations
from dldd.pipeline.stages.base import Stage

STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        climate.ARIDITY,
        land_cover.STAGE,
        sdg.STAGE,
        climate.DROUGHT,
        desertification.SENSITIVITY,
        desertification.SAND,
        effectiveness.STAGE,
        practices.STAGE,
        stations.STAGE,
    )
}
