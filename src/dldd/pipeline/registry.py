"""The stage registry: one line per indicator family, in the order they run.

Adding a family means writing its module in :mod:`dldd.pipeline.stages` (named after the stage; it imports
no other stage: what stages share is in :mod:`dldd.pipeline.inputs`) and one line here.
"""

from __future__ import annotations

from dldd.pipeline.stages import aridity, drought, effectiveness, land_cover, practices, sand, sdg, sensitivity, stations
from dldd.pipeline.stages.base import Stage

STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        aridity.ARIDITY,
        land_cover.STAGE,
        sdg.STAGE,
        drought.DROUGHT,
        sensitivity.SENSITIVITY,
        sand.SAND,
        effectiveness.STAGE,
        practices.STAGE,
        stations.STAGE,
    )
}
