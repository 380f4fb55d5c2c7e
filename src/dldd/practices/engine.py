"""Applicability engine: rank practices for the conditions an assessment measured, with reasons.

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

Evidence from the effectiveness evaluation
------------------------------------------
:func:`attach_evidence` files an effectiveness result (the dict the effectiveness stage writes per
intervention) under every practice of the intervention's type (``INTERVENTION_TYPES``) or under one
practice id, in an :class:`EvidenceBook`; :func:`match` lists the attached results among the reasons.
They do not change the score: one local estimate is evidence about a place, not about applicability.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dldd.core.legend import UNCCD_LAND_COVER
from dldd.errors import InputError
from dldd.practices.schema import (
    ARIDITY_CLASSES,
    DRIFT_CLASSES,
    LAND_COVER_CLASSES,
    SOIL_TEXTURES,
    AridityClass,
    DriftClass,
    EsaClass,
    LandCondition,
    LandCover,
    Practice,
    Range,
    SoilTexture,
)

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

#: Intervention types of the effectiveness evaluation and the practices they belong to.
INTERVENTION_TYPES: dict[str, tuple[str, ...]] = {
    "shelterbelt": ("tarim_saline_drip_shelterbelt", "farmland_shelterbelt", "three_north_afforestation"),
    "ecological barrier": ("tarim_saline_drip_shelterbelt", "haloxylon_planting", "calligonum_planting",
                           "straw_checkerboard", "sand_fence"),
    "green belt": ("tarim_saline_drip_shelterbelt", "haloxylon_planting", "calligonum_planting",
                   "great_green_wall"),
    "sand barrier": ("straw_checkerboard", "sand_fence", "palisade_dune_fixation", "chemical_sand_fixation"),
    "enclosure": ("grazing_exclusion",),
    "grazing management": ("community_rangeland_management", "grazing_exclusion"),
    "water harvesting": ("zai_pits", "half_moons", "stone_bunds", "microcatchment_water_harvesting",
                         "gravel_sand_mulch"),
    "afforestation": ("three_north_afforestation", "haloxylon_planting", "calligonum_planting",
                      "aerial_seeding", "great_green_wall"),
    "revegetation": ("aerial_seeding", "biocrust_inoculation", "grain_for_green", "saltbush_fodder_shrubs"),
    "natural regeneration": ("fmnr",),
    "conservation agriculture": ("conservation_agriculture",),
    "terracing": ("level_terraces",),
    "check dam": ("check_dams",),
    "photovoltaic": ("photovoltaic_sand_control",),
    "water conveyance": ("ecological_water_conveyance",),
}

_ARIDITY_SYNONYMS = {"hyperarid": "hyper-arid", "hyper arid": "hyper-arid", "semiarid": "semi-arid",
                     "semi arid": "semi-arid", "dry subhumid": "dry sub-humid",
                     "dry sub humid": "dry sub-humid"}


def _norm_label(v: Any) -> Any:
    """Strip, lower-case and turn '_' into ' '; blanks and NaN become None."""
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, str):
        s = v.strip().lower().replace("_", " ")
        return s or None
    return v


class Conditions(BaseModel):
    """The assessed conditions of a region or pixel class; every field is optional.

    ``land_cover`` accepts a UNCCD class name or its code 1..7. ``degraded_share`` and
    ``improved_share`` are area shares in [0, 1] (the rest is stable); ``degradation_status`` is a
    class (degraded/stable/improved) used when no share is given.
    """

    model_config = ConfigDict(extra="forbid")

    region: str | None = None
    aridity_class: AridityClass | None = None
    precip_mm: float | None = Field(default=None, ge=0)
    drift_class: DriftClass | None = None
    land_cover: LandCover | None = None
    degraded_share: float | None = Field(default=None, ge=0, le=1)
    improved_share: float | None = Field(default=None, ge=0, le=1)
    degradation_status: LandCondition | None = None
    esa_class: EsaClass | None = None
    soil_texture: SoilTexture | None = None
    slope_percent: float | None = Field(default=None, ge=0)
    groundwater_depth_m: float | None = Field(default=None, ge=0)
    groundwater_salinity_g_per_l: float | None = Field(default=None, ge=0)

    @field_validator("aridity_class", mode="before")
    @classmethod
    def _aridity(cls, v: Any) -> Any:
        v = _norm_label(v)
        return _ARIDITY_SYNONYMS.get(v, v) if isinstance(v, str) else v

    @field_validator("drift_class", "degradation_status", "soil_texture", mode="before")
    @classmethod
    def _labels(cls, v: Any) -> Any:
        return _norm_label(v)

    @field_validator("land_cover", mode="before")
    @classmethod
    def _land_cover(cls, v: Any) -> Any:
        v = _norm_label(v)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and float(v).is_integer():
            code = int(v)
            if code in UNCCD_LAND_COVER.codes:
                return UNCCD_LAND_COVER.label(code)
        if isinstance(v, str) and v.isdigit() and int(v) in UNCCD_LAND_COVER.codes:
            return UNCCD_LAND_COVER.label(int(v))
        return v

    @field_validator("esa_class", mode="before")
    @classmethod
    def _esa(cls, v: Any) -> Any:
        v = _norm_label(v)
        return v.upper() if isinstance(v, str) else v

    @field_validator("region", mode="before")
    @classmethod
    def _region(cls, v: Any) -> Any:
        v = _norm_label(v)
        return v.upper() if isinstance(v, str) else v

    @field_validator("precip_mm", "degraded_share", "improved_share", "slope_percent",
                     "groundwater_depth_m", "groundwater_salinity_g_per_l", mode="before")
    @classmethod
    def _numbers(cls, v: Any) -> Any:
        return _norm_label(v)

    @model_validator(mode="after")
    def _shares(self) -> "Conditions":
        d, i = self.degraded_share or 0.0, self.improved_share or 0.0
        if d + i > 1.0 + 1e-9:
            raise ValueError(f"degraded_share {d} + improved_share {i} exceed 1")
        return self


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

    # aridity
    if c.aridity_class is None:
        unknown("aridity_class", "aridity class")
    else:
        fit, steps = _ordinal_fit(c.aridity_class, env.aridity_classes, ARIDITY_CLASSES)
        docs = ", ".join(env.aridity_classes)
        text = (f"aridity class {c.aridity_class} is among the documented classes ({docs})" if steps == 0
                else f"aridity class {c.aridity_class} is {steps} class{'es' if steps > 1 else ''} "
                     f"away from the documented classes ({docs})")
        add("aridity_class", fit, text, key="ordinal_among" if steps == 0 else "ordinal_away",
            condition="aridity_class", value=c.aridity_class, steps=steps, docs=list(env.aridity_classes))
        narrowness.append(1 - _breadth_ordinal(env.aridity_classes, ARIDITY_CLASSES))

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
        fit, steps = _ordinal_fit(c.drift_class, env.drift_energy_classes, DRIFT_CLASSES)
        docs = ", ".join(env.drift_energy_classes)
        text = (f"drift energy {c.drift_class} is among the documented classes ({docs})" if steps == 0
                else f"drift energy {c.drift_class} is {steps} class{'es' if steps > 1 else ''} away from "
                     f"the documented classes ({docs})")
        add("drift_class", fit, text, key="ordinal_among" if steps == 0 else "ordinal_away",
            condition="drift_class", value=c.drift_class, steps=steps, docs=list(env.drift_energy_classes))
        narrowness.append(1 - _breadth_ordinal(env.drift_energy_classes, DRIFT_CLASSES))

    # land cover
    if c.land_cover is None:
        unknown("land_cover", "land cover")
    else:
        ok = c.land_cover in env.land_cover
        docs = ", ".join(env.land_cover)
        add("land_cover", 1.0 if ok else 0.0,
            f"land cover {c.land_cover} is {'among' if ok else 'not among'} the documented covers ({docs})",
            key="class_among" if ok else "class_not_among", condition="land_cover", value=c.land_cover,
            docs=list(env.land_cover))
        narrowness.append(1 - _breadth_ordinal(env.land_cover, LAND_COVER_CLASSES))

    # soil texture
    if c.soil_texture is not None:
        if not env.soil_textures:
            undocumented("soil_texture", "soil texture")
        else:
            ok = c.soil_texture in env.soil_textures
            docs = ", ".join(env.soil_textures)
            add("soil_texture", 1.0 if ok else 0.0,
                f"soil texture {c.soil_texture} is {'among' if ok else 'not among'} the documented textures ({docs})",
                key="class_among" if ok else "class_not_among", condition="soil_texture", value=c.soil_texture,
                docs=list(env.soil_textures))
            narrowness.append(1 - _breadth_ordinal(env.soil_textures, SOIL_TEXTURES))
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


def _as_conditions(conditions: Conditions | Mapping[str, Any]) -> Conditions:
    if isinstance(conditions, Conditions):
        return conditions
    if not isinstance(conditions, Mapping):
        raise InputError(f"conditions: expected a Conditions model or a dict, found {type(conditions).__name__}")
    try:
        return Conditions.model_validate(dict(conditions))
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in err['loc']) or 'conditions'}: {err['msg']} (found {err.get('input')!r})"
            for err in e.errors()
        )
        raise InputError(f"conditions: {problems}") from e


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


# -- matching on the distribution of conditions --------------------------------------------------
#: Columns of the joint condition table (:mod:`dldd.practices.distribution`) and the condition each sets.
DISTRIBUTION_CONDITIONS: dict[str, str] = {
    "aridity_class": "aridity_class", "precip_band": "precip_mm", "land_cover": "land_cover",
    "land_condition": "degradation_status", "esa_class": "esa_class", "drift_class": "drift_class",
}
#: The engine's name of each condition column (the key of ``CONDITION_WEIGHTS`` and of the reasons).
_REASON_CONDITION = {"aridity_class": "aridity_class", "precip_band": "precip_mm", "land_cover": "land_cover",
                     "land_condition": "land_condition", "esa_class": "esa_class", "drift_class": "drift_class"}
_LABEL = {"aridity_class": "aridity class", "precip_band": "annual precipitation", "land_cover": "land cover",
          "land_condition": "land condition (SDG 15.3.1)", "esa_class": "ESA class",
          "drift_class": "sand drift energy"}
#: Aridity classes that make up the drylands (aridity index < 0.65; UNCCD).
DRYLAND_CLASSES: tuple[str, ...] = ARIDITY_CLASSES[:4]
#: Decimals kept in a share score: shares equal to 0.01 % of the land are ties, broken by evidence.
SHARE_DECIMALS = 4


class DistributionMatch(NamedTuple):
    """A practice ranked on a region's distribution of conditions.

    ``score``: the land it fits weighted by the quality of the fit (see :func:`match_distribution`);
    ``share``: the plain share of the region's area (on the grid) inside every documented limit;
    ``dryland_share``: the same share of the region's drylands (None without drylands);
    ``undocumented_share``: the share of the area it fits where a known condition is not documented;
    ``evidence``: (cases in the region, cases in its sub-region, all cases), the tie-break.
    """

    practice: Practice
    score: float
    reasons: list[Reason]
    share: float
    dryland_share: float | None
    undocumented_share: float
    evidence: tuple[int, int, int]


def _band_value(lo: Any, hi: Any) -> float | None:
    """The precipitation compared for a band: its middle (the lower edge for the open top band)."""
    if lo is None or (isinstance(lo, float) and math.isnan(lo)):
        return None
    if hi is None or (isinstance(hi, float) and math.isnan(hi)):
        return float(lo)
    return (float(lo) + float(hi)) / 2


def _band_label(lo: float, hi: Any) -> str:
    return f"{lo:g} mm and more" if hi is None or (isinstance(hi, float) and math.isnan(hi)) else f"{lo:g}-{hi:g} mm"


def _distribution_frame(rows: Any) -> "pd.DataFrame":
    import pandas as pd

    from dldd.practices.distribution import DISTRIBUTION_COLUMNS

    df = pd.DataFrame(rows).copy()
    missing = [c for c in DISTRIBUTION_COLUMNS if c != "region" and c not in df.columns]
    if missing:
        raise InputError(f"condition distribution: missing column(s) {missing}")
    df["area_km2"] = pd.to_numeric(df["area_km2"], errors="raise").astype(float)
    if (df["area_km2"] < 0).any() or not df["area_km2"].map(math.isfinite).all():
        raise InputError("condition distribution: area_km2 must be finite and non-negative")
    out = pd.DataFrame({"area_km2": df["area_km2"].to_numpy()})
    for col in ("aridity_class", "land_cover", "land_condition", "esa_class", "drift_class"):
        out[col] = [None if pd.isna(v) or _norm_label(v) is None else str(v).strip() for v in df[col].astype(object)]
    lo = pd.to_numeric(df["precip_mm_min"], errors="coerce")
    hi = pd.to_numeric(df["precip_mm_max"], errors="coerce")
    out["precip_band"] = [None if math.isnan(a) else (float(a), None if math.isnan(b) else float(b))
                          for a, b in zip(lo, hi)]
    return out


def _single_condition(column: str, value: Any) -> dict[str, Any]:
    if column == "precip_band":
        return {"precip_mm": _band_value(*value)}
    return {DISTRIBUTION_CONDITIONS[column]: value}


def _evidence_strength(p: Practice, region: str | None, members: set[str]) -> tuple[int, int, int]:
    n_region = sum(1 for c in p.evidence if region and region in c.countries)
    n_sub = sum(1 for c in p.evidence if members & set(c.countries))
    return n_region, n_sub, len(p.evidence)


def subregion_members(region: str | None) -> tuple[str | None, set[str]]:
    """The METHODS 7 sub-region of a country (ISO3) and its member countries (None, {} if not listed)."""
    if not region:
        return None, set()
    from dldd.regions.registry import load_subregions

    for name, members in load_subregions().items():
        if region.upper() in members:
            return name, set(members)
    return None, set()


def match_distribution(
    rows: Any,
    practices: Iterable[Practice] | None = None,
    top: int | None = None,
    *,
    region: str | None = None,
    evidence: "EvidenceBook | None" = None,
    fit_cache: dict | None = None,
) -> list[DistributionMatch]:
    """Rank practices on the share of a region's land whose conditions they fit, best first.

    ``rows``: the joint condition table of one region (:mod:`dldd.practices.distribution`; a DataFrame
    or records). For every combination ``c`` of conditions (area ``A_c``) and practice, each known
    condition is compared with the practice's documented limits as in :func:`match` (fit ``f_i``;
    ``UNDOCUMENTED_FIT`` where the practice does not document it). The practice *fits* ``c`` when at
    least one documented condition is known there and every known documented condition lies inside its
    documented limits; the quality of the fit is the weighted mean ``q_c = sum w_i f_i / sum w_i`` over
    the known conditions. Then::

        share = sum_c A_c [fits c] / sum_c A_c
        score = sum_c A_c [fits c] q_c / sum_c A_c

    so a practice fits land in proportion to its area, and land where a limit is not documented counts
    for less (q_c <= 1 - 0.5 w_undocumented / sum w). The denominator is the region's area on the grid
    (every row of the table). Scores equal to ``SHARE_DECIMALS`` are ordered by evidence strength: cases
    documented in the region, then in its METHODS 7 sub-region, then all cases; then by id.
    ``fit_cache`` (a dict the caller keeps) reuses each practice's fit to a condition value across
    regions.
    """
    import numpy as np
    import pandas as pd

    df = _distribution_frame(rows)
    total = float(df["area_km2"].sum())
    if not total > 0:
        raise InputError(f"condition distribution of {region or 'the region'}: no area (every row is 0 km²)")
    if practices is None:
        from dldd.practices.loader import load_catalogue

        practices = load_catalogue()
    if top is not None and top < 1:
        raise InputError(f"top: expected a positive number of practices, found {top}")
    region = region.upper() if region else None
    cache = fit_cache if fit_cache is not None else {}
    _, members = subregion_members(region)
    area = df["area_km2"].to_numpy()
    dry = df["aridity_class"].isin(DRYLAND_CLASSES).to_numpy()
    dry_total = float(area[dry].sum())
    where = f"{region}'s" if region else "the region's"
    columns = []  # (column, codes, unique values) of the conditions known somewhere in the region
    for column in DISTRIBUTION_CONDITIONS:
        codes, uniques = pd.factorize(df[column])  # code -1 where unknown
        if (codes >= 0).any():
            columns.append((column, codes, list(uniques)))
    by_class = {cls: (df["aridity_class"] == cls).to_numpy() for cls in ARIDITY_CLASSES}
    ranked = []
    for p in practices:
        n = len(df)
        num = np.zeros(n)
        den = np.zeros(n)
        documented = np.zeros(n, dtype=int)
        outside = np.zeros(n, dtype=bool)
        undocumented = np.zeros(n, dtype=bool)
        reasons: list[Reason] = []
        per_column: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, list[str], list]] = []
        for column, codes, uniques in columns:
            known = codes >= 0
            cond = _REASON_CONDITION[column]
            w = CONDITION_WEIGHTS[cond]
            ufit = np.zeros(len(uniques) + 1)
            uverdict = np.empty(len(uniques) + 1, dtype=object)
            for j, v in enumerate(uniques):
                key = (p.id, column, v)
                if key not in cache:
                    _, rs, _, _ = _assess(p, _as_conditions(_single_condition(column, v)), None)
                    (r,) = [r for r in rs if r.condition == cond]
                    cache[key] = (r.fit if r.fit is not None else 0.0, r.verdict)
                ufit[j], uverdict[j] = cache[key]
            fit, verdict = ufit[codes], uverdict[codes]  # code -1 takes the last slot (unknown)
            num[known] += w * fit[known]
            den[known] += w
            is_undoc = known & (verdict == "not documented")
            is_doc = known & ~is_undoc
            documented += is_doc
            outside |= is_doc & (verdict != "fit")
            undocumented |= is_undoc
            inside_values = {uniques[j] for j in np.unique(codes[is_doc & (verdict == "fit")])}
            inside_docs = ([_band_label(*v) for v in sorted(inside_values)] if column == "precip_band"
                           else sorted(str(v) for v in inside_values))
            raw_docs = ([[float(x) if x is not None else None for x in v] for v in sorted(inside_values)]
                        if column == "precip_band" else list(inside_docs))  # bands as [low, high] mm
            per_column.append((column, is_doc, is_undoc, is_doc & (verdict == "fit"), inside_docs, raw_docs))
        fits = (documented > 0) & ~outside
        q = np.divide(num, den, out=np.zeros(n), where=den > 0)
        share = float(area[fits].sum()) / total
        score = round(float((area * q)[fits].sum()) / total, SHARE_DECIMALS)
        dry_share = float(area[fits & dry].sum()) / dry_total if dry_total > 0 else None
        undoc_share = float(area[fits & undocumented].sum()) / total
        by_aridity = {}
        for cls in ARIDITY_CLASSES:
            a = float(area[fits & by_class[cls]].sum())
            if a > 0:
                by_aridity[cls] = a / total
        text = (f"fits {share:.1%} of {where} area on the grid ({area[fits].sum():,.0f} of {total:,.0f} km²)")
        parts = [("share", {"share": share, "region": region or "", "fit_km2": float(area[fits].sum()),
                            "total_km2": float(total)})]
        if dry_share is not None:
            text += (f" and {dry_share:.1%} of its drylands, aridity index < 0.65 "
                     f"({area[fits & dry].sum():,.0f} of {dry_total:,.0f} km²)")
            parts.append(("share_drylands", {"share": dry_share, "fit_km2": float(area[fits & dry].sum()),
                                             "total_km2": dry_total}))
        else:
            text += "; it has no drylands on the grid"
            parts.append(("share_no_drylands", {}))
        if by_aridity:
            text += "; by aridity class: " + ", ".join(f"{k} {v:.1%}" for k, v in by_aridity.items())
            parts.append(("share_by_aridity", {"classes": [[k, v] for k, v in by_aridity.items()]}))
        reasons.append(Reason("share", _verdict(share) if share < FULL_FIT else "fit", text, share, tuple(parts)))
        for column, is_doc, is_undoc, inside, inside_docs, raw_docs in per_column:
            cond = _REASON_CONDITION[column]
            a_doc, a_in = float(area[is_doc].sum()), float(area[inside].sum())
            if a_doc > 0:
                out_share = (a_doc - a_in) / total
                parts = [("inside", {"condition": column, "share": a_in / total})]
                if inside_docs:
                    parts.append(("inside_docs", {"docs": raw_docs}))
                if out_share > 0:
                    parts.append(("outside", {"share": out_share}))
                reasons.append(Reason(
                    cond, "fit" if out_share == 0 else ("partial" if a_in > 0 else "misfit"),
                    f"{_LABEL[column]}: {a_in / total:.1%} of the area is inside the documented limits"
                    + (f" ({', '.join(inside_docs)})" if inside_docs else "")
                    + (f", {out_share:.1%} outside" if out_share > 0 else ""), a_in / total, tuple(parts)))
            a_undoc = float(area[is_undoc].sum())
            if a_undoc > 0:
                reasons.append(Reason(
                    cond, "not documented",
                    f"{_LABEL[column]} limits of this practice are not documented (known on {a_undoc / total:.1%} "
                    f"of the area): counted as a fit of {UNDOCUMENTED_FIT:g}, never as a pass", None,
                    (("undocumented_share", {"condition": column, "share": a_undoc / total, "fit": UNDOCUMENTED_FIT}),)))
        if undoc_share > 0:
            reasons.append(Reason("share", "not documented",
                                  f"{undoc_share:.1%} of the area it fits has a known condition whose limits "
                                  "are not documented for this practice", None,
                                  (("fitted_undocumented", {"share": undoc_share}),)))
        strength = _evidence_strength(p, region, members)
        if region:
            reasons.append(Reason("region", "evidence",
                                  f"{strength[0]} documented case{'s' if strength[0] != 1 else ''} in {region}, "
                                  f"{strength[1]} in its sub-region, {strength[2]} in all", None,
                                  (("cases", {"n": strength[0], "region": region, "n_subregion": strength[1],
                                              "n_all": strength[2]}),)))
        if evidence is not None:
            for eff in evidence.for_practice(p.id):
                reasons.append(Reason("assessed", "evidence", eff.summary()))
        ranked.append(DistributionMatch(p, score, reasons, share, dry_share, undoc_share, strength))
    ranked.sort(key=lambda m: (-m.score, -m.evidence[0], -m.evidence[1], -m.evidence[2], m.practice.id))
    return ranked[:top] if top is not None else ranked


# -- evidence from the effectiveness evaluation ---------------------------------------------------
_RESULT_KEYS: dict[str, tuple[str, ...]] = {
    "intervention": ("intervention", "name", "intervention_name"),
    "intervention_type": ("intervention_type", "type"),
    "outcome": ("outcome", "variable"),
    "effect": ("effect", "estimate", "did", "effect_size"),
    "ci_low": ("ci_low", "ci_lower", "lower"),
    "ci_high": ("ci_high", "ci_upper", "upper"),
    "units": ("units", "unit"),
    "n_treated": ("n_treated",),
    "n_controls": ("n_controls", "n_control"),
    "start_year": ("start_year", "start"),
    "break_year": ("break_year", "dated_break", "breakpoint_year"),
    "area_ha": ("area_ha",),
    "synthetic": ("synthetic",),
    "source": ("source", "path"),
}
_CI_KEYS = ("ci", "ci95", "confidence_interval")


class AssessedEffect(BaseModel):
    """An effectiveness result of an intervention (issue 6), as attached to practices."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    intervention: str = "unnamed intervention"
    intervention_type: str | None = None
    outcome: str | None = None
    effect: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    units: str | None = None
    n_treated: int | None = None
    n_controls: int | None = None
    start_year: int | None = None
    break_year: int | None = None
    area_ha: float | None = None
    synthetic: bool = False
    source: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_result(cls, result: Mapping[str, Any]) -> "AssessedEffect":
        """Pick the known keys of an effectiveness result dict; keep the rest under ``details``."""
        if not isinstance(result, Mapping):
            raise InputError(f"effectiveness result: expected a dict, found {type(result).__name__}")
        data: dict[str, Any] = {}
        used: set[str] = set()
        for field_name, keys in _RESULT_KEYS.items():
            for k in keys:
                if k in result and result[k] is not None:
                    data[field_name] = result[k]
                    used.add(k)
                    break
        for k in _CI_KEYS:
            if k in result and result[k] is not None:
                ci = result[k]
                if not (isinstance(ci, (list, tuple)) and len(ci) == 2):
                    raise InputError(f"effectiveness result: {k!r} must be a pair [low, high], found {ci!r}")
                data.setdefault("ci_low", ci[0])
                data.setdefault("ci_high", ci[1])
                used.add(k)
                break
        bp = result.get("breakpoint")
        if isinstance(bp, Mapping) and bp.get("break_year") is not None:
            data.setdefault("break_year", bp["break_year"])
            used.add("breakpoint")
        data["details"] = {k: v for k, v in result.items() if k not in used}
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']} "
                                 f"(found {err.get('input')!r})" for err in e.errors())
            raise InputError(f"effectiveness result: {problems}") from e

    def summary(self) -> str:
        parts = [f"assessed effect of {self.intervention}"]
        if self.intervention_type:
            parts[0] += f" ({self.intervention_type})"
        if self.effect is not None:
            s = f"{self.effect:+.3g}"
            if self.units:
                s += f" {self.units}"
            if self.outcome:
                s += f" on {self.outcome}"
            if self.ci_low is not None and self.ci_high is not None:
                s += f", 95 % CI {self.ci_low:+.3g} to {self.ci_high:+.3g}"
            parts.append(s)
        if self.start_year is not None:
            parts.append(f"since {self.start_year}")
        if self.break_year is not None:
            parts.append(f"dated break {self.break_year}")
        if self.synthetic:
            parts.append("synthetic demonstration data")
        return "; ".join(parts)


def _norm_type(t: str) -> str:
    return " ".join(t.strip().lower().replace("_", " ").replace("-", " ").split())


def practices_for(target: str, known_ids: Iterable[str] | None = None) -> list[str]:
    """Practice ids for a practice id or an intervention type (``INTERVENTION_TYPES``)."""
    ids = set(known_ids) if known_ids is not None else None
    if ids is not None and target in ids:
        return [target]
    key = _norm_type(target)
    if key.endswith("s") and key not in INTERVENTION_TYPES and key[:-1] in INTERVENTION_TYPES:
        key = key[:-1]
    if key in INTERVENTION_TYPES:
        out = list(INTERVENTION_TYPES[key])
        return [i for i in out if ids is None or i in ids]
    if ids is None and any(target in v for v in INTERVENTION_TYPES.values()):
        return [target]
    raise InputError(
        f"intervention type or practice id {target!r} is unknown; expected a practice id or one of the "
        f"intervention types {sorted(INTERVENTION_TYPES)}"
    )


@dataclass
class EvidenceBook:
    """Effectiveness results filed by practice id (an in-memory collection, no global state)."""

    by_practice: dict[str, list[AssessedEffect]] = field(default_factory=dict)

    def attach(self, target: str | None, result: Mapping[str, Any] | AssessedEffect,
               known_ids: Iterable[str] | None = None) -> list[str]:
        eff = result if isinstance(result, AssessedEffect) else AssessedEffect.from_result(result)
        tgt = target if target is not None else eff.intervention_type
        if tgt is None:
            raise InputError("attach_evidence: give a practice id or intervention type, or a result with a 'type'")
        ids = practices_for(tgt, known_ids)
        for i in ids:
            self.by_practice.setdefault(i, []).append(eff)
        return ids

    def for_practice(self, practice_id: str) -> list[AssessedEffect]:
        return list(self.by_practice.get(practice_id, []))

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_practice.values())


def attach_evidence(
    target: str | None,
    result: Mapping[str, Any] | AssessedEffect,
    book: EvidenceBook | None = None,
    practices: Iterable[Practice] | None = None,
) -> EvidenceBook:
    """File an effectiveness result under a practice id or every practice of an intervention type.

    ``target`` None takes the type from the result (``type`` or ``intervention_type``). Returns the
    book (a new one unless given); pass it to :func:`match` as ``evidence=``.
    """
    book = book if book is not None else EvidenceBook()
    if practices is None:
        from dldd.practices.loader import load_catalogue

        practices = load_catalogue()
    known = [p.id for p in practices]
    book.attach(target, result, known)
    return book


__all__ = [
    "AssessedEffect", "Conditions", "DistributionMatch", "EvidenceBook", "INTERVENTION_TYPES", "Match", "Reason",
    "attach_evidence", "match", "match_distribution", "practices_for", "subregion_members",
]
