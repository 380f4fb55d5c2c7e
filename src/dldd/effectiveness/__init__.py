"""Effectiveness of interventions (METHODS 6): difference in differences against matched control pixels,
spatial block bootstrap intervals, event study, balance diagnostics and an OLS-MOSUM breakpoint test.

Entry points: :func:`evaluate_intervention` (returns an :class:`EffectResult`), :func:`ols_mosum`. The
figures of an evaluation are drawn by the report (:mod:`dldd.report.figures`).
"""

from dldd.effectiveness.breakpoints import MOSUM_H, BreakpointResult, ols_mosum
from dldd.effectiveness.evaluate import EffectResult, evaluate_intervention
from dldd.effectiveness.spatial import control_ring, pixel_spacing_km

__all__ = [
    "MOSUM_H",
    "BreakpointResult",
    "EffectResult",
    "control_ring",
    "evaluate_intervention",
    "ols_mosum",
    "pixel_spacing_km",
]
