"""Evidence from the effectiveness evaluation, filed under practices.

Evidence from the effectiveness evaluation
------------------------------------------
:func:`attach_evidence` files an effectiveness result (the dict the effectiveness stage writes per
intervention) under every practice of the intervention's type (``INTERVENTION_TYPES``) or under one
practice id, in an :class:`EvidenceBook`; :func:`match` lists the attached results among the reasons.
They do not change the score: one local estimate is evidence about a place, not about applicability.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dldd.errors import InputError
from dldd.practices.schema import Practice, validation_problems

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
            raise InputError(f"effectiveness result: {validation_problems(e)}") from e

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


__all__ = ["AssessedEffect", "EvidenceBook", "INTERVENTION_TYPES", "attach_evidence", "practices_for"]
