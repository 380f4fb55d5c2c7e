"""The assessment spec: one YAML file that describes an assessment, validated with pydantic.

Every error names the field path (``inputs.ndvi.scale_factor``), the bad value and what was expected.
Relative paths in the spec are taken relative to the spec file's folder. Unknown keys are refused, so
that a misspelt option never passes silently. See ``docs/spec.md`` for every field.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dldd.errors import SpecError

from dldd.indicators.sdg import BASELINE, REPORTING_1, REPORTING_2

#: Years of the SDG 15.3.1 baseline (GPG2; METHODS 1.7).
DEFAULT_BASELINE = BASELINE.productivity
#: Reporting periods (GPG2 addendum; METHODS 1.7): name -> (productivity years, land cover and SOC years).
DEFAULT_REPORTING = {p.name: (p.productivity, p.land_cover) for p in (REPORTING_1, REPORTING_2)}


#: Longest text of a bad value a validation message shows (the rest is cut, never expanded in full).
SHOWN_CHARS = 120
#: Dask scheduler addresses accepted besides the named schedulers (``tcp://10.0.0.5:8786``, ``host:8786``).
SCHEDULER_ADDRESS = re.compile(r"^(?:(?:tcp|tls|inproc|ucx|ws|wss)://\S+|[A-Za-z0-9_.-]+:\d{1,5})$")
#: Named dask schedulers.
SCHEDULERS = ("threads", "processes", "synchronous", "sync")


def shown(value) -> str:
    """``repr(value)`` cut to :data:`SHOWN_CHARS` characters for a message."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


def check_scheduler(name: str, field: str = "compute.scheduler") -> str:
    """``name`` if it is a named dask scheduler or a scheduler address, else SpecError."""
    if name in SCHEDULERS or SCHEDULER_ADDRESS.match(name):
        return name
    raise SpecError(f"{field}: {shown(name)} is not a scheduler; expected one of {', '.join(SCHEDULERS[:3])}, "
                    "or a dask scheduler address such as tcp://10.0.0.5:8786")


def identity(name: str) -> str:
    """The form in which two ids are the same: Unicode NFC, then case-folded (``Belt A`` = ``belt a``)."""
    return unicodedata.normalize("NFC", name).casefold()


def _plain_name(v: str) -> str:
    """A name of any script, without control characters (NUL, ESC, line breaks), stripped, not empty."""
    bad = sorted({f"U+{ord(c):04X}" for c in v if unicodedata.category(c) == "Cc"})
    if bad:
        raise ValueError(f"the name holds control characters ({', '.join(bad)}); remove them")
    if not v.strip():
        raise ValueError("the name is empty")
    return v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class YearRange(_Strict):
    start: int = Field(ge=1900, le=2100)
    end: int = Field(ge=1900, le=2100)

    @model_validator(mode="before")
    @classmethod
    def _from_pair(cls, v: Any):
        if isinstance(v, (list, tuple)):
            if len(v) != 2:
                raise ValueError(f"expected two years [start, end], got {list(v)}")
            return {"start": v[0], "end": v[1]}
        return v

    @model_validator(mode="after")
    def _ordered(self):
        if self.end < self.start:
            raise ValueError(f"period is reversed: start {self.start} is after end {self.end}")
        return self

    def as_tuple(self) -> tuple[int, int]:
        return (self.start, self.end)


class ReportingPeriod(_Strict):
    productivity: YearRange
    land_cover: YearRange | None = Field(
        default=None, description="years of the land cover and SOC change; default: baseline end to productivity end"
    )


class Periods(_Strict):
    baseline: YearRange = Field(default_factory=lambda: YearRange(start=DEFAULT_BASELINE[0], end=DEFAULT_BASELINE[1]))
    reporting: dict[str, ReportingPeriod] = Field(
        default_factory=lambda: {
            k: ReportingPeriod(productivity=YearRange(start=a, end=b), land_cover=YearRange(start=c, end=d))
            for k, ((a, b), (c, d)) in DEFAULT_REPORTING.items()
        }
    )

    def land_cover_years(self, name: str) -> tuple[int, int]:
        p = self.reporting[name]
        if p.land_cover is not None:
            return p.land_cover.as_tuple()
        return (self.baseline.end, p.productivity.end)


#: The spec input of field stations: a station CSV (dldd.sources.stations), not a grid; only ``path`` and
#: ``nodata`` (the number marking missing values in the CSV) apply; its units are in the CSV's header.
STATIONS_INPUT = "stations"


class InputSpec(_Strict):
    """One input variable: where it is and how to read it."""

    path: str | None = Field(default=None, description="file, folder or glob (GeoTIFF, NetCDF, Zarr)")
    product: str | None = Field(default=None, description="a named product instead of a path (see docs/sources.md)")
    variable: str | None = Field(default=None, description="variable name inside a NetCDF/Zarr file")
    scale_factor: float = Field(default=1.0, description="multiplied into the values after reading")
    offset: float = Field(default=0.0, description="added after scaling")
    units: str | None = Field(default=None, description="units of the values after scaling")
    nodata: float | None = Field(default=None, description="fill value, when the file does not declare one")
    crs: str | None = Field(default=None, description="CRS to assume when the file has none, e.g. EPSG:4326")
    resampling: Literal["nearest", "bilinear", "average", "mode", "sum"] | None = Field(
        default=None, description="reproject onto the stage's reference grid with this rule if grids differ"
    )
    legend: str | None = Field(default=None, description="land cover legend: unccd, modis_igbp, esa_cci or a CSV path")
    min_valid_composites: int | None = Field(default=None, ge=1, description="product VI composites a year needs for an annual mean (default 75 % of a year's)")

    @model_validator(mode="after")
    def _one_source(self):
        if (self.path is None) == (self.product is None):
            raise ValueError("give exactly one of `path` or `product`")
        return self


class ZoneSpec(_Strict):
    """A user zone (province, the Taklimakan rim, a project area) from a GeoJSON or GeoPackage file."""

    name: str
    path: str
    subregion: str | None = None
    layer: str | None = None

    _name = field_validator("name")(_plain_name)


#: A country code of a boundary file or a merge: ISO 3166-1 alpha-3, or a custom code (letters, digits, - or _).
COUNTRY_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,15}$")


def _country_code(v: str) -> str:
    if not isinstance(v, str) or not COUNTRY_CODE.match(v):
        raise ValueError(f"{shown(v)} is not a country code; expected an ISO 3166-1 alpha-3 code such as CHN "
                         "(or a custom code of the boundary file: 2-16 letters, digits, - or _)")
    return v.upper()


class BoundarySpec(_Strict):
    """A boundary file of the user's choice (national or UN boundaries) instead of Natural Earth."""

    path: str = Field(description="GeoPackage, GeoJSON or Shapefile with one or more features per country")
    code_field: str = Field(min_length=1, description="field holding each feature's ISO 3166-1 alpha-3 code")
    name_field: str | None = Field(default=None, description="field holding the country's name (default: ISO 3166)")
    layer: str | None = Field(default=None, description="layer of a multi-layer file (GeoPackage)")
    custom_codes: list[str] = Field(default_factory=list, description="codes of the file that are not ISO 3166-1 alpha-3")

    @field_validator("custom_codes")
    @classmethod
    def _codes(cls, v: list[str]) -> list[str]:
        return [_country_code(c) for c in v]


class Regions(_Strict):
    include: list[str] = Field(default_factory=list, description="ISO3 codes and/or sub-region names")
    exclude: list[str] = Field(default_factory=list)
    regroup: dict[str, str] = Field(default_factory=dict, description="ISO3 -> sub-region name")
    zones: list[ZoneSpec] = Field(default_factory=list)
    boundaries: BoundarySpec | None = Field(default=None, description="country boundaries (default: Natural Earth 1:50m)")
    merge: dict[str, list[str]] = Field(default_factory=dict,
                                        description="country code -> codes of territories merged into it")

    @field_validator("merge")
    @classmethod
    def _merge_codes(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        from dldd.regions.boundaries import check_merge

        out = {_country_code(t): [_country_code(p) for p in parts] for t, parts in v.items()}
        if len(out) < len(v):
            raise ValueError(f"a target is given twice (codes are compared upper-cased): {list(v)}")
        check_merge(out)
        return out

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, v: Any):
        if isinstance(v, list):
            return {"include": v}
        return v

    @model_validator(mode="after")
    def _not_empty(self):
        if not self.include and not self.zones:
            raise ValueError("no regions: give ISO3 codes or sub-region names in `include`, or `zones`")
        return self


class Intervention(_Strict):
    name: str
    type: Literal["shelterbelt", "sand barrier", "enclosure", "water harvesting", "afforestation", "other"]
    path: str = Field(description="polygon file (GeoJSON or GeoPackage)")
    start_year: int = Field(ge=1900, le=2100)
    end_year: int | None = Field(default=None, ge=1900, le=2100)
    outcome: str = "ndvi"
    parameters: dict[str, Any] = Field(default_factory=dict)

    _name = field_validator("name")(_plain_name)


class Outputs(_Strict):
    formats: list[Literal["cog", "csv", "xlsx"]] = Field(default_factory=lambda: ["cog", "csv", "xlsx"])
    report: bool = True
    language: Literal["en", "zh"] = "en"


class Compute(_Strict):
    scheduler: str = Field(default="threads", description="threads, processes, synchronous, or a dask scheduler address")
    workers: int | None = Field(default=None, ge=1, description="start a LocalCluster with this many workers")
    chunk_size: int | None = Field(default=None, ge=16, le=16384,
                                   description="chunk edge in cells for the (y, x) plane; default: planned per input "
                                               "from its time axis and the worker memory (docs/scaling.md)")

    @field_validator("scheduler")
    @classmethod
    def _known_scheduler(cls, v: str) -> str:
        try:
            return check_scheduler(v)
        except SpecError as err:
            raise ValueError(str(err).split(": ", 1)[1]) from None


class Spec(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    synthetic: bool = Field(default=False, description="inputs are synthetic demonstration data (labelled everywhere)")
    regions: Regions
    periods: Periods = Field(default_factory=Periods)
    inputs: dict[str, InputSpec]
    indicators: dict[str, dict[str, Any]] = Field(description="indicator family -> its parameters")
    interventions: list[Intervention] = Field(default_factory=list)
    outputs: Outputs = Field(default_factory=Outputs)
    compute: Compute = Field(default_factory=Compute)
    base_dir: Path = Field(default=Path("."), exclude=True, description="folder relative paths are taken from")

    @field_validator("indicators")
    @classmethod
    def _some_indicator(cls, v):
        if not v:
            raise ValueError("no indicators: name at least one family, e.g. `sdg_15_3_1: {}`")
        return v

    @model_validator(mode="after")
    def _unique_ids(self):
        """Intervention and zone names are ids (file names, table rows, report pages): two that differ only
        in case or Unicode normal form would be one."""
        for what, names in (("interventions", [iv.name for iv in self.interventions]),
                            ("regions.zones", [z.name for z in self.regions.zones])):
            seen: dict[str, str] = {}
            for n in names:
                if identity(n) in seen:
                    raise ValueError(f"{what}: names {seen[identity(n)]!r} and {n!r} are the same id (names are "
                                     "compared case-folded, in Unicode NFC form); give each a distinct name")
                seen[identity(n)] = n
        return self

    @model_validator(mode="after")
    def _stations_input(self):
        entry = self.inputs.get(STATIONS_INPUT)
        extra = sorted(k for k in entry.model_fields_set if k not in ("path", "nodata")) if entry is not None else []
        if entry is not None and (entry.path is None or extra):
            raise ValueError(f"inputs.{STATIONS_INPUT}: a station CSV takes `path` and `nodata` only (units are "
                             f"declared in its header, docs/sources.md); found {extra or ['product']}")
        return self

    def resolve(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else (self.base_dir / p)


def _format_errors(err: ValidationError, source: str) -> str:
    lines = [f"{source}: the assessment spec is invalid ({err.error_count()} problem(s)):"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see docs/spec.md for the fields)"
        value = e.get("input")
        got = "" if isinstance(value, dict) else f" (got {shown(value)})"
        lines.append(f"  - {loc}: {msg}{got}")
    return "\n".join(lines)


def parse_spec(data: dict, base_dir: str | Path = ".", source: str = "spec") -> Spec:
    """Validate a spec given as a dict; raise :class:`SpecError` naming each bad field."""
    if not isinstance(data, dict):
        raise SpecError(f"{source}: expected a mapping of fields at the top level, got {type(data).__name__}")
    try:
        spec = Spec.model_validate(data)
    except ValidationError as err:
        raise SpecError(_format_errors(err, source)) from None
    spec.base_dir = Path(base_dir)
    return spec


class _SpecLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys (the last would silently win) and aliases (``*a``:
    a few lines of aliases expand to billions of values)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.constructor.ConstructorError(
                None, None, f"alias *{event.anchor} refused: a spec repeats no values by reference; write them out",
                event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {shown(key)} appears twice (lines {seen[key]} and {key_node.start_mark.line + 1}) "
                    "in one mapping; the second would silently replace the first: keep one", key_node.start_mark)
            if isinstance(key, (str, int, float, bool)):
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def load_spec(path: str | Path) -> Spec:
    """Read and validate a YAML spec file (safe YAML: no code in a spec is ever run; duplicate keys and
    aliases refused, :class:`_SpecLoader`); the file must be UTF-8 text."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: spec file not found")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise SpecError(f"{path}: not UTF-8 text (byte 0x{err.object[err.start]:02x} at position {err.start}); "
                        "save the spec as UTF-8") from None
    loader = _SpecLoader(text)
    loader.name = str(path)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: not valid YAML: {err}") from None
    finally:
        loader.dispose()
    return parse_spec(data, base_dir=path.resolve().parent, source=str(path))
