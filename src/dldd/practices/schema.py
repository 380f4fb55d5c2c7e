"""The schema of a practice in the knowledge base (pydantic v2, unknown fields refused).

A practice is one YAML file in ``dldd/practices/catalogue/``; its fields are the classes below. The
class vocabularies are fixed so that the applicability engine can compare a practice's envelope with
the conditions an assessment measured:

- aridity classes: the UNEP classes on the aridity index (METHODS 3), wettest last;
- sand drift energy classes: Fryberger (1979) on drift potential, low < 200 VU <= intermediate < 400
  VU <= high (METHODS 5);
- land cover: the seven UNCCD classes (GPG2; ``dldd.core.legend.UNCCD_LAND_COVER``);
- soil texture: the twelve USDA texture classes;
- ESA classes: MEDALUS environmentally sensitive area classes on ESAI (Kosmas99; METHODS 4);
- land condition: the SDG 15.3.1 status a practice is meant for (degraded land to restore, stable land
  to keep from degrading, improved land to maintain).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dldd.core.legend import UNCCD_LAND_COVER

#: UNEP aridity classes, driest first (METHODS 3: AI < 0.05, 0.05-0.20, 0.20-0.50, 0.50-0.65, >= 0.65).
ARIDITY_CLASSES: tuple[str, ...] = ("hyper-arid", "arid", "semi-arid", "dry sub-humid", "humid")
#: Sand drift energy classes on Fryberger's drift potential (METHODS 5: < 200, 200-399, >= 400 VU).
DRIFT_CLASSES: tuple[str, ...] = ("low", "intermediate", "high")
#: The seven UNCCD land cover class names (GPG2), in legend order.
LAND_COVER_CLASSES: tuple[str, ...] = tuple(c.name for c in UNCCD_LAND_COVER.classes)
#: USDA soil texture classes.
SOIL_TEXTURES: tuple[str, ...] = (
    "sand", "loamy sand", "sandy loam", "loam", "silt loam", "silt", "sandy clay loam", "clay loam",
    "silty clay loam", "sandy clay", "silty clay", "clay",
)
#: Practice categories (issue 7).
CATEGORIES: tuple[str, ...] = (
    "mechanical sand barrier", "biological/vegetation", "water harvesting",
    "grazing and land management", "engineering", "chemical",
)
#: SDG 15.3.1 land condition classes (GPG2: degraded -1, stable 0, improved +1).
LAND_CONDITIONS: tuple[str, ...] = ("degraded", "stable", "improved")
#: MEDALUS ESA classes, least to most sensitive (Kosmas99; METHODS 4).
ESA_CLASSES: tuple[str, ...] = ("N", "P", "F1", "F2", "F3", "C1", "C2", "C3")

AridityClass = Literal[ARIDITY_CLASSES]  # type: ignore[valid-type]
DriftClass = Literal[DRIFT_CLASSES]  # type: ignore[valid-type]
LandCover = Literal[LAND_COVER_CLASSES]  # type: ignore[valid-type]
SoilTexture = Literal[SOIL_TEXTURES]  # type: ignore[valid-type]
Category = Literal[CATEGORIES]  # type: ignore[valid-type]
LandCondition = Literal[LAND_CONDITIONS]  # type: ignore[valid-type]
EsaClass = Literal[ESA_CLASSES]  # type: ignore[valid-type]

_DOI = re.compile(r"^10\.\d{4,9}/\S+$")
_ISO3 = re.compile(r"^[A-Z]{3}$")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(_Strict):
    """A closed interval; either end may be open (None), not both."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "Range":
        if self.min is None and self.max is None:
            raise ValueError("a range needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self

    def contains(self, x: float) -> bool:
        return (self.min is None or x >= self.min) and (self.max is None or x <= self.max)

    def __str__(self) -> str:
        lo = "" if self.min is None else f"{self.min:g}"
        hi = "" if self.max is None else f"{self.max:g}"
        if self.min is None:
            return f"up to {hi}"
        if self.max is None:
            return f"from {lo}"
        return f"{lo}-{hi}"


class CostRange(Range):
    """Cost per hectare as a range, with its currency and price year; approximate unless stated."""

    currency: str = Field(pattern=r"^[A-Z]{3}$")
    year: int = Field(ge=1950, le=2100)
    approximate: bool = True
    note: str | None = None


class Names(_Strict):
    en: str = Field(min_length=2)
    zh: str | None = None
    other: list[str] = Field(default_factory=list, description="aliases and local names (zaï, demi-lune)")


class Groundwater(_Strict):
    depth_m: Range | None = None
    salinity_g_per_l: Range | None = None
    note: str | None = None


class Envelope(_Strict):
    """Where the practice is used and works, as documented in the literature it cites.

    An empty list or a missing range means "not documented", which the engine neither rewards nor
    penalises.
    """

    aridity_classes: list[AridityClass] = Field(min_length=1)
    annual_precipitation_mm: Range | None = None
    drift_energy_classes: list[DriftClass] = Field(default_factory=list)
    soil_textures: list[SoilTexture] = Field(default_factory=list)
    slope_percent: Range | None = None
    groundwater: Groundwater | None = None
    land_cover: list[LandCover] = Field(min_length=1)
    land_condition: list[LandCondition] = Field(
        default_factory=list, description="the SDG 15.3.1 status of land the practice is meant for"
    )
    note: str | None = None


class Inputs(_Strict):
    water: str | None = None
    water_m3_per_ha_year: Range | None = None
    labour: str | None = None
    labour_person_days_per_ha: Range | None = None
    cost_per_ha: CostRange | None = None


class Citation(_Strict):
    authors: str = Field(min_length=2)
    year: int = Field(ge=1900, le=2100)
    title: str = Field(min_length=5)
    source: str = Field(min_length=2, description="journal, report series or publisher")
    volume_pages: str | None = None
    doi: str | None = None
    url: str | None = None
    no_identifier: str | None = Field(
        default=None, description="why the work has neither DOI nor URL here, e.g. 'DOI not verified'")

    @model_validator(mode="after")
    def _identified(self) -> "Citation":
        if not (self.doi or self.url or self.no_identifier):
            raise ValueError(f"citation {self.title!r}: give a doi, a url, or no_identifier saying why neither")
        return self

    @field_validator("doi")
    @classmethod
    def _doi(cls, v: str | None) -> str | None:
        if v is not None and not _DOI.match(v):
            raise ValueError(f"DOI {v!r} is not of the form 10.NNNN/suffix")
        return v

    def __str__(self) -> str:
        s = f"{self.authors} ({self.year}). {self.title}. {self.source}"
        if self.volume_pages:
            s += f" {self.volume_pages}"
        s += "."
        if self.doi:
            s += f" doi:{self.doi}"
        elif self.url:
            s += f" {self.url}"
        return s


#: Shared challenges a documented case reports (issue 20), counted per sub-region from the cases.
CHALLENGES: tuple[str, ...] = (
    "groundwater decline", "salinisation", "sand encroachment on infrastructure", "overgrazing",
    "wind erosion and dust storms", "water erosion", "drought", "water scarcity", "loss of vegetation cover",
    "decline of traditional institutions", "tenure and governance", "low survival of plantings",
    "water use by plantations",
)
Challenge = Literal[CHALLENGES]  # type: ignore[valid-type]


class Case(_Strict):
    """One documented application: where, when, what was measured, what it changed, and the source."""

    place: str
    countries: list[str] = Field(default_factory=list, description="ISO 3166 alpha-3 codes")
    period: str
    outcome: str = Field(description="what was measured")
    effect: str = Field(description="what the practice changed, as reported")
    citation: Citation
    scale: str | None = Field(default=None, description="area, length or number of sites, as reported")
    cost: str | None = Field(default=None, description="cost as reported, with currency and year")
    lessons: str | None = None
    challenges: list[Challenge] = Field(default_factory=list, description="challenges the source reports")
    summary_zh: str | None = Field(default=None, description="summary of the case in Chinese")

    @field_validator("countries")
    @classmethod
    def _iso3(cls, v: list[str]) -> list[str]:
        bad = [c for c in v if not _ISO3.match(c)]
        if bad:
            raise ValueError(f"country codes {bad} are not ISO 3166 alpha-3 (three capital letters)")
        return v


# -- the WOCAT SLM technology structure -------------------------------------------------------------
#: What a record says where a source documents nothing: explicit, shown as such, never a pass.
NOT_DOCUMENTED = "not documented"
NotDocumented = Literal["not documented"]
#: WOCAT purposes of an SLM technology (prevent, reduce, restore land degradation; adapt to it).
PURPOSES: tuple[str, ...] = ("prevent", "reduce", "restore", "adapt")
#: WOCAT land degradation types (QT 3.7): W water erosion (Wt surface loss, Wg gullies, Wm mass
#: movement, Wr riverbank, Wc coastal, Wo offsite), E wind erosion (Et surface loss, Ed deflation and
#: deposition, Eo offsite), C chemical (Cn fertility decline, Ca acidification, Cp pollution, Cs
#: salinisation/alkalinisation), P physical (Pc compaction, Pk sealing and crusting, Pw waterlogging, Pi
#: sealing by infrastructure, Ps subsidence, Pu loss of bio-productive function), B biological (Bc
#: reduction of cover, Bh loss of habitats, Bq quantity/biomass decline, Bf fire, Bs quality and
#: species composition, Bl loss of soil life, Bp pests), H water (Ha aridification, Hs change in quantity
#: of surface water, Hg change in groundwater, Hp surface water quality, Hq groundwater quality, Hw
#: reduction of buffering capacity of wetlands).
DEGRADATION_TYPES: tuple[str, ...] = (
    "Wt", "Wg", "Wm", "Wr", "Wc", "Wo", "Et", "Ed", "Eo", "Cn", "Ca", "Cp", "Cs", "Pc", "Pk", "Pw", "Pi",
    "Ps", "Pu", "Bc", "Bh", "Bq", "Bf", "Bs", "Bl", "Bp", "Ha", "Hs", "Hg", "Hp", "Hq", "Hw",
)
#: Degradation types that make a practice a sand-control practice (wind erosion and sand deposition).
SAND_CONTROL_TYPES: tuple[str, ...] = ("Et", "Ed", "Eo")
MEASURE_TYPES: tuple[str, ...] = ("agronomic", "vegetative", "structural", "management")
INPUT_KINDS: tuple[str, ...] = ("labour", "equipment", "plant material", "materials", "water", "other")
#: WOCAT impact ratings, -3 (very negative) to +3 (very positive).
IMPACT_SCOPES: tuple[str, ...] = ("on-site", "off-site")
HAZARDS: tuple[str, ...] = ("drought", "sand and dust storm", "heatwave", "extreme rainfall", "flood", "frost",
                            "salinity", "other")
RESILIENCE_RATINGS: tuple[str, ...] = ("not at all", "poorly", "moderately", "well", "very well")

Purpose = Literal[PURPOSES]  # type: ignore[valid-type]
DegradationType = Literal[DEGRADATION_TYPES]  # type: ignore[valid-type]
InputKind = Literal[INPUT_KINDS]  # type: ignore[valid-type]
ImpactScope = Literal[IMPACT_SCOPES]  # type: ignore[valid-type]
Hazard = Literal[HAZARDS]  # type: ignore[valid-type]
ResilienceRating = Literal[RESILIENCE_RATINGS]  # type: ignore[valid-type]


class Sourced(_Strict):
    """A statement or number with the key of its reference (``Practice.references``)."""

    source: str = Field(min_length=1, description="key of the reference in the record's references")


class SourcedText(Sourced):
    text: str = Field(min_length=3)


class Measures(_Strict):
    """WOCAT measures by type; an empty list is "none of this type"."""

    agronomic: list[str] = Field(default_factory=list)
    vegetative: list[str] = Field(default_factory=list)
    structural: list[str] = Field(default_factory=list)
    management: list[str] = Field(default_factory=list)


class ItemInput(Sourced):
    kind: InputKind
    item: str = Field(min_length=2)
    quantity: float | None = Field(default=None, ge=0)
    unit: str | None = Field(default=None, description="e.g. person-days/ha, seedlings/ha, m/ha")


class Activity(_Strict):
    activity: str = Field(min_length=3)
    timing: str | None = None
    inputs: list[ItemInput] | NotDocumented = NOT_DOCUMENTED


class CostItem(Sourced):
    """A cost with its currency, price year and who paid it."""

    item: str = Field(min_length=2, description="what the cost is for (establishment, maintenance, an input)")
    amount: float | Range
    unit: str = Field(min_length=2, description="e.g. per ha, per km, per year")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    year: int = Field(ge=1950, le=2100)
    paid_by: str | NotDocumented = NOT_DOCUMENTED


class SourcedRange(Range):
    source: str = Field(min_length=1)
    note: str | None = None


class NaturalEnvironment(_Strict):
    landform: str | NotDocumented = NOT_DOCUMENTED
    altitude_m: Range | NotDocumented = NOT_DOCUMENTED
    soil_depth: str | NotDocumented = NOT_DOCUMENTED
    soil_texture: str | NotDocumented = NOT_DOCUMENTED
    water_availability: str | NotDocumented = NOT_DOCUMENTED
    water_salinity: str | NotDocumented = NOT_DOCUMENTED
    source: str | None = None


class HumanEnvironment(_Strict):
    land_users: str | NotDocumented = NOT_DOCUMENTED
    tenure: str | NotDocumented = NOT_DOCUMENTED
    market_orientation: str | NotDocumented = NOT_DOCUMENTED
    source: str | None = None


class Impact(Sourced):
    """An on- or off-site impact, rated -3..+3 (WOCAT), with before/after values where measured."""

    aspect: str = Field(min_length=3)
    scope: ImpactScope = "on-site"
    rating: int | None = Field(default=None, ge=-3, le=3)
    before: float | None = None
    after: float | None = None
    unit: str | None = None
    note: str | None = None


class Resilience(Sourced):
    hazard: Hazard
    rating: ResilienceRating | NotDocumented = NOT_DOCUMENTED
    note: str | None = None


class CostBenefit(Sourced):
    """WOCAT benefit compared with costs, -3..+3, of establishment and maintenance, short and long term."""

    establishment_short_term: int | None = Field(default=None, ge=-3, le=3)
    establishment_long_term: int | None = Field(default=None, ge=-3, le=3)
    maintenance_short_term: int | None = Field(default=None, ge=-3, le=3)
    maintenance_long_term: int | None = Field(default=None, ge=-3, le=3)
    note: str | None = None


class Weakness(Sourced):
    text: str = Field(min_length=3)
    how_overcome: str | NotDocumented = NOT_DOCUMENTED


class Approach(Sourced):
    implementer: str | NotDocumented = NOT_DOCUMENTED
    how: str | NotDocumented = NOT_DOCUMENTED
    incentives: str | NotDocumented = NOT_DOCUMENTED


class Wocat(_Strict):
    """The record of a practice along the WOCAT SLM technology questionnaire; every part defaults to
    ``"not documented"`` so that what no source supports is said, never left blank."""

    purposes: list[Purpose] | NotDocumented = NOT_DOCUMENTED
    degradation_types: list[DegradationType] | NotDocumented = NOT_DOCUMENTED
    measures: Measures | NotDocumented = NOT_DOCUMENTED
    establishment: list[Activity] | NotDocumented = NOT_DOCUMENTED
    maintenance: list[Activity] | NotDocumented = NOT_DOCUMENTED
    costs: list[CostItem] | NotDocumented = NOT_DOCUMENTED
    water_use_m3_per_ha_year: SourcedRange | NotDocumented = NOT_DOCUMENTED
    natural_environment: NaturalEnvironment | NotDocumented = NOT_DOCUMENTED
    human_environment: HumanEnvironment | NotDocumented = NOT_DOCUMENTED
    impacts: list[Impact] | NotDocumented = NOT_DOCUMENTED
    climate_resilience: list[Resilience] | NotDocumented = NOT_DOCUMENTED
    cost_benefit: CostBenefit | NotDocumented = NOT_DOCUMENTED
    adoption: SourcedText | NotDocumented = NOT_DOCUMENTED
    strengths: list[SourcedText] | NotDocumented = NOT_DOCUMENTED
    weaknesses: list[Weakness] | NotDocumented = NOT_DOCUMENTED
    approach: Approach | NotDocumented = NOT_DOCUMENTED

    def sources(self) -> list[str]:
        """Every reference key the record uses."""
        keys: list[str] = []

        def walk(v) -> None:
            if isinstance(v, BaseModel):
                src = getattr(v, "source", None)
                if isinstance(src, str):
                    keys.append(src)
                for name in type(v).model_fields:
                    walk(getattr(v, name))
            elif isinstance(v, list):
                for x in v:
                    walk(x)

        walk(self)
        return keys

    def documented(self) -> list[str]:
        """Names of the parts that are documented."""
        return [k for k in type(self).model_fields if getattr(self, k) != NOT_DOCUMENTED]


class Practice(_Strict):
    id: str
    names: Names
    summary_zh: str | None = Field(default=None, description="one- or two-sentence summary in Chinese")
    category: Category
    how_it_works: str = Field(min_length=20)
    envelope: Envelope
    inputs: Inputs | None = None
    lifespan_years: Range | None = None
    maintenance: str | None = None
    co_benefits: list[str] = Field(default_factory=list)
    risks: list[str] = Field(default_factory=list)
    evidence: list[Case] = Field(min_length=1)
    references: dict[str, Citation] = Field(default_factory=dict,
                                            description="cited works by key, for the sources of the WOCAT record")
    wocat: Wocat = Field(default_factory=Wocat)

    @model_validator(mode="after")
    def _sources_resolve(self) -> "Practice":
        unknown = sorted({k for k in self.wocat.sources() if k not in self.references})
        if unknown:
            raise ValueError(f"wocat sources {unknown} are not keys of references {sorted(self.references)}")
        return self

    @property
    def sand_control(self) -> bool:
        """Addresses wind erosion or sand deposition (WOCAT Et, Ed, Eo)."""
        dt = self.wocat.degradation_types
        return dt != NOT_DOCUMENTED and any(t in SAND_CONTROL_TYPES for t in dt)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError(f"id {v!r} must be lower-case letters, digits and underscores")
        return v

    @property
    def countries(self) -> list[str]:
        """ISO3 codes of every country with a documented case, sorted."""
        return sorted({c for case in self.evidence for c in case.countries})

    @property
    def citations(self) -> list[Citation]:
        return [case.citation for case in self.evidence] + list(self.references.values())

    def search_text(self) -> str:
        """English text indexed for full-text search (names are indexed separately)."""
        parts = [self.id.replace("_", " "), self.category, self.how_it_works, self.summary_zh or "", *self.names.other,
                 self.maintenance or "", *self.co_benefits, *self.risks]
        for case in self.evidence:
            c = case.citation
            parts += [case.place, case.outcome, case.effect, case.summary_zh or "", c.authors, c.title, c.source]
        return "\n".join(p for p in parts if p)


def _describe(err: dict) -> str:
    loc = ".".join(str(x) for x in err.get("loc", ())) or "(top level)"
    msg = err.get("msg", "invalid")
    if err.get("type") == "missing":
        return f"field {loc!r}: missing (required)"
    found = err.get("input")
    return f"field {loc!r}: {msg} (found {found!r})"


def validation_problems(error: ValidationError) -> str:
    """A pydantic ValidationError in one line: per problem the field path, the message and the value found."""
    return "; ".join(_describe(err) for err in error.errors())
