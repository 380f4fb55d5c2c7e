"""The assessed conditions of a region or pixel class that practices are matched to (a pydantic model
whose labels are normalised: case, underscores, aridity synonyms, land cover codes)."""

from __future__ import annotations

import math
from typing import Any, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dldd.core.legend import UNCCD_LAND_COVER
from dldd.errors import InputError
from dldd.practices.schema import (
    AridityClass,
    DriftClass,
    EsaClass,
    LandCondition,
    LandCover,
    SoilTexture,
    validation_problems,
)

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


def _as_conditions(conditions: Conditions | Mapping[str, Any]) -> Conditions:
    if isinstance(conditions, Conditions):
        return conditions
    if not isinstance(conditions, Mapping):
        raise InputError(f"conditions: expected a Conditions model or a dict, found {type(conditions).__name__}")
    try:
        return Conditions.model_validate(dict(conditions))
    except ValidationError as e:
        raise InputError(f"conditions: {validation_problems(e)}") from e


__all__ = ["Conditions"]
