"""Effectiveness of interventions (METHODS 6): difference in differences against matched control pixels,
spatial standard errors and intervals, event study, balance and pre-trend diagnostics and break tests robust
to autocorrelation.

Entry points: :func:`evaluate_intervention` (returns an :class:`EffectResult`), :func:`break_test`,
:func:`event_study_figure`, :func:`design_map_figure`.
"""

from dldd.effectiveness.breakpoints import MOSUM_H, BreakpointResult, break_test
from dldd.effectiveness.evaluate import EffectResult, evaluate_intervention
from dldd.effectiveness.figures import SYNTHETIC_LABEL, design_map_figure, event_study_figure
from dldd.effectiveness.spatial import control_ring, pixel_spacing_km

__all__ = [
    "MOSUM_H",
    "SYNTHETIC_LABEL",
    "BreakpointResult",
    "EffectResult",
    "control_ring",
    "design_map_figure",
    "evaluate_intervention",
    "event_study_figure",
    "break_test",
    "pixel_spacing_km",
]
