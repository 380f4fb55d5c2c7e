"""Applicability score: rank practices for the conditions an assessment measured, with reasons.

Score
-----
For every condition that is known for the site *and* documented in a practice's envelope, a fit in
[0, 1] is computed; the score is the weighted mean of those fits::

    score = sum_i w_i * fit_i / sum_i w_i          (i over conditions compared)

- ordered classes (aridity, drift energy): fit 1 inside the documented classes, minus
  ``ORDINAL_STEP_PENALTY`` per class step outside them, floored at 0;
- ranges (precipitation, slope, groundwater depth): fit 1 in the core of the documented range,
  easing to ``EDGE_FIT`` at its bounds over the outer ``EDGE_FRACTION`` of the range (of the bound
  itself for an open range), so that a site at the limit of documented experience fits a little
  less than one in the middle (a trapezoidal fuzzy membership, as in fuzzy land suitability
  evaluation); outside, the fit falls linearly from ``EDGE_FIT`` to 0 over a tolerance
  ``max(absolute, RANGE_RELATIVE_TOLERANCE * |nearest bound|)``; groundwater salinity only counts
  above the documented maximum (fresher water is no misfit);
- unordered classes (land cover, soil texture): 1 or 0;
- land condition: with a class (degraded/stable/improved), 1 if the practice is meant for it, else 0;
  with area shares, ``min(1, share of land in the states the practice is meant for /
  SHARE_FOR_FULL_FIT)``;
- ESA class: mapped to the land condition it calls for (``ESA_LAND_CONDITION``), then as above.

A condition not given is left out of both sums: it neither rewards nor penalises, and the reasons say
so. A condition given but not documented for a practice enters with the fit ``UNDOCUMENTED_FIT`` (below
that of any documented limit it lies inside), so that no practice gains from missing knowledge; the
reasons say "not documented". When nothing can be compared the score is ``NEUTRAL_SCORE``.
Equal scores are ordered by the number of documented cases in the requested region (ISO3), then by
specificity (a practice whose documented envelope is narrower around the compared conditions, i.e.
one developed for such sites, before a generalist), then by id. The weights, tolerances and the ESA
mapping are dldd's own choices, named below; they are not taken from a published method.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping, NamedTuple

from dldd.errors import InputError
from dldd.practices.conditions import Conditions, _as_conditions
from dldd.practices.schema import ARIDITY_CLASSES, DRIFT_CLASSES, LAND_COVER_CLASSES, SOIL_TEXTURES, Practice, Range

if TYPE_CHECKING:
    from dldd.practices.evidence import EvidenceBook

#: Weight of each condition in the score (dldd's choice: climate first, then sand and cover, then site).
CONDITION_WEIGHTS: dict[str, float] = {
    "aridity_class": 3.0,
    "precip_mm": 3.0,
    "drift_class": 2.0,
    "land_cover": 2.0,
    "soil_texture": 1.0,
    "slope_percent": 1.0,
    "groundwater_depth_m": 1.0,
    "groundwater_salinity_g_per_l": 1.0,
    "land_condition": 1.0,
    "esa_class": 1.0,
}
#: Fit lost per class step outside the documented aridity or drift classes (one step: 0.4, two: 0).
ORDINAL_STEP_PENALTY = 0.6
#: Absolute tolerances outside a documented range, by condition (fit falls to 0 over this distance).
PRECIP_TOLERANCE_MM = 50.0
SLOPE_TOLERANCE_PERCENT = 2.0
GROUNDWATER_DEPTH_TOLERANCE_M = 1.0
SALINITY_TOLERANCE_G_PER_L = 1.0
#: Relative tolerance outside a range, as a share of the nearest bound (used when larger).
RANGE_RELATIVE_TOLERANCE = 0.25
#: Fit at the bound of a documented range, and the outer share of the range over which the fit eases
#: from 1 to it (for an open range: share of the bound).
EDGE_FIT = 0.9
EDGE_FRACTION = 0.1
#: Share of a region's land in the states a practice is meant for at which that condition fits fully.
SHARE_FOR_FULL_FIT = 0.25
#: Land condition that each MEDALUS ESA class calls for: non-affected and potential areas need
#: prevention (stable land), fragile areas both, critical areas restoration (degraded land).
ESA_LAND_CONDITION: dict[str, tuple[str, ...]] = {
    "N": ("stable",), "P": ("stable",),
    "F1": ("stable", "degraded"), "F2": ("stable", "degraded"), "F3": ("stable", "degraded"),
    "C1": ("degraded",), "C2": ("degraded",), "C3": ("degraded",),
}
#: Fit given to a condition known at the site but not documented for a practice: below the fit of any
#: documented limit it lies inside (>= EDGE_FIT), so that missing knowledge is never a silent pass.
UNDOCUMENTED_FIT = 0.5
#: Score when no condition could be compared with a practice's envelope.
NEUTRAL_SCORE = 0.5
#: Precipitation span (mm) at which a documented range counts as fully unspecific (tie-break only).
PRECIP_SPECIFICITY_SPAN_MM = 2000.0
#: Decimals kept in a score, so that ties are ties whatever the order of summation.
SCORE_DECIMALS = 12
#: A fit at or above this is reported as "fit", above 0 as "partial", 0 as "misfit".
FULL_FIT = 1.0 - 1e-9


@dataclass(frozen=True)
class Reason:
    """One line of an answer: which condition, the verdict, the fit (None if not compared), the words."""

    condition: str
    verdict: str  # "fit", "partial", "misfit", "unknown", "not documented", "evidence"
    text: str
    fit: float | None = None
    #: The same words as (key, arguments) parts, for other languages: the report's catalogues have a
    #: template ``practice_reasons.<key>`` per key with the arguments as placeholders (lists and class
    #: names translated there); the text is the English of the parts.
    parts: tuple = field(default=(), compare=False, hash=False)

    def __str__(self) -> str:
        return f"{self.verdict}: {self.text}"


class Match(NamedTuple):
    practice: Practice
    score: float
    reasons: list[Reason]


# -- fits -----------------------------------------------------------------------------------------
def _verdict(fit: float) -> str:
    return "fit" if fit >= FULL_FIT else ("partial" if fit > 0 else "misfit")


def _ordinal_fit(value: str, allowed: list[str], order: tuple[str, ...]) -> tuple[float, int]:
    idx = order.index(value)
    steps = min(abs(idx - order.index(a)) for a in allowed)
    return max(0.0, 1.0 - ORDINAL_STEP_PENALTY * steps), steps


def _edge_width(r: Range, bound: float) -> float:
    if r.min is not None and r.max is not None:
        return EDGE_FRACTION * (r.max - r.min)
    return EDGE_FRACTION * abs(bound)


def _range_fit(x: float, r: Range, absolute_tol: float) -> tuple[float, float]:
    """(fit, signed distance outside the range: < 0 below, > 0 above, 0 inside)."""
    if r.contains(x):
        fit = 1.0
        for bound in (r.min, r.max):
            if bound is None:
                continue
            e = _edge_width(r, bound)
            d = abs(x - bound)
            if e > 0 and d < e:
                fit = min(fit, EDGE_FIT + (1.0 - EDGE_FIT) * d / e)
            elif e == 0 and d == 0:
                fit = min(fit, EDGE_FIT)
        return fit, 0.0
    bound = r.min if (r.min is not None and x < r.min) else r.max
    dist = x - bound
    tol = max(absolute_tol, RANGE_RELATIVE_TOLERANCE * abs(bound))
    return EDGE_FIT * max(0.0, 1.0 - abs(dist) / tol), dist


def _within(fit: float, dist: float, unit: str, below: str = "below", above: str = "above") -> str:
    if dist != 0:
        return f"{_fmt(abs(dist))}{unit} {below if dist < 0 else above}"
    return "within" if fit >= FULL_FIT else "within, near the limit of,"


def _fmt(x: float) -> str:
    return f"{x:g}"


def _range_parts(cond: str, value: float, fit: float, dist: float, r, unit: str) -> dict:
    """The (key, arguments) of a reason on a value against a documented range (see :func:`_within`)."""
    where = ("within" if fit >= FULL_FIT else "near_limit") if dist == 0 else ("below" if dist < 0 else "above")
    return {"key": f"range_{where}", "condition": cond, "value": _fmt(value), "min": r.min, "max": r.max,
            "unit": unit, "distance": _fmt(abs(dist))}


def _breadth_ordinal(allowed: list[str], order: tuple[str, ...]) -> float:
    return (len(set(allowed)) - 1) / (len(order) - 1)


def _assess(p: Practice, c: Conditions, evidence: "EvidenceBook | None") -> tuple[float, list[Reason], float, int]:
    env = p.envelope
    reasons: list[Reason] = []
    num = den = 0.0
    narrowness: list[float] = []

    def add(cond: str, fit: float, text: str, inside: bool | None = None, key: str = "", **args) -> None:
        nonlocal num, den
        w = CONDITION_WEIGHTS[cond]
        num += w * fit
        den += w
        verdict = _verdict(fit) if inside is None else ("fit" if inside else ("partial" if fit > 0 else "misfit"))
        reasons.append(Reason(cond, verdict, text, fit, ((key, args),)))

    def unknown(cond: str, label: str) -> None:
        reasons.append(Reason(cond, "unknown", f"{label} not given: neither rewarded nor penalised", None,
                              (("unknown", {"condition": cond}),)))

    def undocumented(cond: str, label: str) -> None:
        nonlocal num, den
        w = CONDITION_WEIGHTS[cond]
        num += w * UNDOCUMENTED_FIT
        den += w
        reasons.append(Reason(cond, "not documented",
                              f"{label} limits of this practice are not documented: counted as a fit of "
                              f"{UNDOCUMENTED_FIT:g}, below any documented fit", UNDOCUMENTED_FIT,
                              (("undocumented", {"condition": cond, "fit": UNDOCUMENTED_FIT}),)))

    def ordinal(cond: str, label: str, value: str, documented: list[str], order: tuple[str, ...]) -> None:
        fit, steps = _ordinal_fit(value, documented, order)
        docs = ", ".join(documented)
        text = (f"{label} {value} is among the documented classes ({docs})" if steps == 0
                else f"{label} {value} is {steps} class{'es' if steps > 1 else ''} away from the documented "
                     f"classes ({docs})")
        add(cond, fit, text, key="ordinal_among" if steps == 0 else "ordinal_away", condition=cond, value=value,
            steps=steps, docs=list(documented))
        narrowness.append(1 - _breadth_ordinal(documented, order))

    def unordered(cond: str, label: str, value: str, documented: list[str], order: tuple[str, ...], what: str) -> None:
        ok = value in documented
        add(cond, 1.0 if ok else 0.0, f"{label} {value} is {'among' if ok else 'not among'} the documented {what} "
                                      f"({', '.join(documented)})",
            key="class_among" if ok else "class_not_among", condition=cond, value=value, docs=list(documented))
        narrowness.append(1 - _breadth_ordinal(documented, order))

    # aridity
    if c.aridity_class is None:
        unknown("aridity_class", "aridity class")
    else:
        ordinal("aridity_class", "aridity class", c.aridity_class, env.aridity_classes, ARIDITY_CLASSES)

    # precipitation
    if c.precip_mm is None:
        unknown("precip_mm", "annual precipitation")
    elif env.annual_precipitation_mm is None:
        undocumented("precip_mm", "precipitation")
    else:
        r = env.annual_precipitation_mm
        fit, dist = _range_fit(c.precip_mm, r, PRECIP_TOLERANCE_MM)
        where = _within(fit, dist, " mm")
        add("precip_mm", fit, f"annual precipitation {_fmt(c.precip_mm)} mm is {where} the documented {r} mm",
            inside=dist == 0, **_range_parts("precip_mm", c.precip_mm, fit, dist, r, "mm"))
        width = (r.max - r.min) if (r.min is not None and r.max is not None) else math.inf
        narrowness.append(1 - min(1.0, width / PRECIP_SPECIFICITY_SPAN_MM))

    # drift energy
    if c.drift_class is None:
        unknown("drift_class", "sand drift energy class")
    elif not env.drift_energy_classes:
        undocumented("drift_class", "sand drift energy")
    else:
        ordinal("drift_class", "drift energy", c.drift_class, env.drift_energy_classes, DRIFT_CLASSES)

    # land cover
    if c.land_cover is None:
        unknown("land_cover", "land cover")
    else:
        unordered("land_cover", "land cover", c.land_cover, env.land_cover, LAND_COVER_CLASSES, "covers")

    # soil texture
    if c.soil_texture is not None:
        if not env.soil_textures:
            undocumented("soil_texture", "soil texture")
        else:
            unordered("soil_texture", "soil texture", c.soil_texture, env.soil_textures, SOIL_TEXTURES, "textures")
    else:
        unknown("soil_texture", "soil texture")

    # slope
    if c.slope_percent is not None:
        if env.slope_percent is None:
            undocumented("slope_percent", "slope")
        else:
            fit, dist = _range_fit(c.slope_percent, env.slope_percent, SLOPE_TOLERANCE_PERCENT)
            where = _within(fit, dist, " %")
            add("slope_percent", fit, f"slope {_fmt(c.slope_percent)} % is {where} the documented "
                                      f"{env.slope_percent} %", inside=dist == 0,
                **_range_parts("slope_percent", c.slope_percent, fit, dist, env.slope_percent, "%"))
    else:
        unknown("slope_percent", "slope")

    # groundwater
    gw = env.groundwater
    if c.groundwater_depth_m is not None:
        if gw is None or gw.depth_m is None:
            undocumented("groundwater_depth_m", "groundwater depth")
        else:
            fit, dist = _range_fit(c.groundwater_depth_m, gw.depth_m, GROUNDWATER_DEPTH_TOLERANCE_M)
            where = _within(fit, dist, " m", "shallower than", "deeper than")
            add("groundwater_depth_m", fit, f"groundwater depth {_fmt(c.groundwater_depth_m)} m is {where} "
                                            f"the documented {gw.depth_m} m", inside=dist == 0,
                **_range_parts("groundwater_depth_m", c.groundwater_depth_m, fit, dist, gw.depth_m, "m"))
    if c.groundwater_salinity_g_per_l is not None:
        if gw is None or gw.salinity_g_per_l is None or gw.salinity_g_per_l.max is None:
            undocumented("groundwater_salinity_g_per_l", "groundwater salinity")
        else:
            s, hi = c.groundwater_salinity_g_per_l, gw.salinity_g_per_l.max
            tolerated = Range(min=None, max=hi)
            fit, dist = _range_fit(s, tolerated, SALINITY_TOLERANCE_G_PER_L)
            text = (f"groundwater salinity {_fmt(s)} g/L is within the tolerated maximum {_fmt(hi)} g/L"
                    if dist == 0 else
                    f"groundwater salinity {_fmt(s)} g/L exceeds the tolerated maximum {_fmt(hi)} g/L")
            add("groundwater_salinity_g_per_l", fit, text, inside=dist == 0,
                key="salinity_within" if dist == 0 else "salinity_exceeds", value=_fmt(s), max=_fmt(hi))

    # land condition (SDG 15.3.1 status)
    meant = env.land_condition
    if c.degraded_share is not None or c.improved_share is not None:
        if not meant:
            undocumented("land_condition", "land condition")
        else:
            d, i = c.degraded_share or 0.0, c.improved_share or 0.0
            shares = {"degraded": d, "improved": i, "stable": max(0.0, 1.0 - d - i)}
            covered = sum(shares[s] for s in meant)
            fit = min(1.0, covered / SHARE_FOR_FULL_FIT)
            add("land_condition", fit,
                f"{covered:.0%} of the land is in the state this practice is meant for "
                f"({', '.join(meant)}; degraded {d:.0%}, improved {i:.0%}); full fit from "
                f"{SHARE_FOR_FULL_FIT:.0%}", key="land_condition_shares", covered=covered, meant=list(meant),
                degraded=d, improved=i, full=SHARE_FOR_FULL_FIT)
    elif c.degradation_status is not None:
        if not meant:
            undocumented("land_condition", "land condition")
        else:
            ok = c.degradation_status in meant
            add("land_condition", 1.0 if ok else 0.0,
                f"land status {c.degradation_status} is {'one' if ok else 'not one'} the practice is meant "
                f"for ({', '.join(meant)})", key="land_status_one" if ok else "land_status_not_one",
                value=c.degradation_status, meant=list(meant))
    else:
        unknown("land_condition", "degradation status")

    # ESA class
    if c.esa_class is None:
        unknown("esa_class", "ESA class")
    elif not meant:
        undocumented("esa_class", "land condition")
    else:
        calls = ESA_LAND_CONDITION[c.esa_class]
        ok = any(s in meant for s in calls)
        add("esa_class", 1.0 if ok else 0.0,
            f"ESA class {c.esa_class} calls for practices for {' or '.join(calls)} land; this one is meant "
            f"for {', '.join(meant)}", key="esa", value=c.esa_class, calls=list(calls), meant=list(meant))

    # region evidence (tie-break and information only)
    n_region = 0
    if c.region:
        n_region = sum(1 for case in p.evidence if c.region in case.countries)
        reasons.append(Reason("region", "evidence",
                              f"{n_region} documented case{'s' if n_region != 1 else ''} in {c.region}"
                              if n_region else f"no documented case in {c.region}", None,
                              (("cases_in_region" if n_region else "no_case_in_region",
                                {"n": n_region, "region": c.region}),)))
    if evidence is not None:
        for eff in evidence.for_practice(p.id):
            reasons.append(Reason("assessed", "evidence", eff.summary()))

    score = num / den if den > 0 else NEUTRAL_SCORE
    if den == 0:
        reasons.append(Reason("score", "unknown",
                              f"no condition could be compared: neutral score {NEUTRAL_SCORE}", None,
                              (("neutral_score", {"score": NEUTRAL_SCORE}),)))
    specificity = sum(narrowness) / len(narrowness) if narrowness else 0.0
    return score, reasons, specificity, n_region


def match(
    conditions: Conditions | Mapping[str, Any],
    practices: Iterable[Practice] | None = None,
    top: int | None = None,
    *,
    evidence: "EvidenceBook | None" = None,
) -> list[Match]:
    """Rank practices for the assessed conditions, best first.

    Returns ``[(practice, score, reasons), ...]`` (:class:`Match` named tuples); ``score`` in [0, 1];
    ``reasons`` lists, per condition, whether it fits, fits partly, misfits, was unknown or is not
    documented for the practice, in plain words (``str(reason)``). ``practices`` defaults to the shipped
    catalogue; ``top`` keeps the first N; ``evidence`` adds attached effectiveness results to the reasons.
    """
    c = _as_conditions(conditions)
    if practices is None:
        from dldd.practices.loader import load_catalogue

        practices = load_catalogue()
    if top is not None and top < 1:
        raise InputError(f"top: expected a positive number of practices, found {top}")
    ranked = []
    for p in practices:
        score, reasons, specificity, n_region = _assess(p, c, evidence)
        score = round(score, SCORE_DECIMALS)  # equal fits summed in another order give equal scores
        ranked.append((score, n_region, specificity, p.id, Match(p, score, reasons)))
    ranked.sort(key=lambda t: (-t[0], -t[1], -t[2], t[3]))
    out = [t[4] for t in ranked]
    return out[:top] if top is not None else out


__all__ = ["CONDITION_WEIGHTS", "Match", "Reason", "match"]
