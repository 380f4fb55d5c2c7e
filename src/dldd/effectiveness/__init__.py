"""Effectiveness of interventions (METHODS 6): difference in differences against matched control pixels,
spatial standard errors and intervals, event study, balance and pre-trend diagnostics and break tests robust
to autocorrelation.

Entry points: :func:`evaluate_intervention` (returns an :class:`EffectResult`), :func:`break_test`. The
figures of an evaluation are drawn by the report (:mod:`dldd.report.figures`).
"""

from dldd.effectiveness.breakpoints import MOSUM_H, BreakpointResult, break_test
from dldd.effectiveness.evaluate import EffectResult, evaluate_intervention
from dldd.effectiveness.spatial import control_ring, pixel_spacing_km

__all__ = [
    "MOSUM_H",
    "BreakpointResult",
    "EffectResult",
    "control_ring",
    "evaluate_intervention",
    "break_test",
    "pixel_spacing_km",
]
