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

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
        return s


class Case(_Strict):
    """One documented application: where, when, what was measured, what it changed, and the source."""

    place: str
    countries: list[str] = Field(default_factory=list, description="ISO 3166 alpha-3 codes")
    period: str
    outcome: str = Field(description="what was measured")
    effect: str = Field(description="what the practice changed, as reported")
    citation: Citation

    @field_validator("countries")
    @classmethod
    def _iso3(cls, v: list[str]) -> list[str]:
        bad = [c for c in v if not _ISO3.match(c)]
        if bad:
            raise ValueError(f"country codes {bad} are not ISO 3166 alpha-3 (three capital letters)")
        return v


class Practice(_Strict):
    id: str
    names: Names
    category: Category
    how_it_works: str = Field(min_length=20)
    envelope: Envelope
    inputs: Inputs | None = None
    lifespan_years: Range | None = None
    maintenance: str | None = None
    co_benefits: list[str] = Field(default_factory=list)
    risks: list[str] = Field(default_factory=list)
    evidence: list[Case] = Field(min_length=1)

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
        return [case.citation for case in self.evidence]

    def search_text(self) -> str:
        """English text indexed for full-text search (names are indexed separately)."""
        parts = [self.id.replace("_", " "), self.category, self.how_it_works, *self.names.other,
                 self.maintenance or "", *self.co_benefits, *self.risks]
        for case in self.evidence:
            c = case.citation
            parts += [case.place, case.outcome, case.effect, c.authors, c.title, c.source]
        return "\n".join(p for p in parts if p)
