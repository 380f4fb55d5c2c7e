"""Case studies: documented experiences of the practices, by country and sub-region, and the challenges
they report.

A case study is a documented application of one practice: place, years, scale, outcome with values,
cost, lessons, the challenges the source reports (coded, :data:`dldd.practices.schema.CHALLENGES`) and
its source. The catalogue keeps them inside each practice (``evidence``); :func:`load_cases` lists them
as records of their own, linked to their practice and countries, so that a country's or sub-region's
cases can be listed and their challenges counted. :func:`run_cases` turns the effectiveness results of
a run (``tables/effectiveness_summary.csv``) into cases of that run (labelled synthetic when the run is).
A field a source does not give is ``"not documented"``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import pandas as pd

from dldd.core.cells import cell_number
from dldd.practices.schema import NOT_DOCUMENTED, Citation, Practice


@dataclass(frozen=True)
class CaseStudy:
    """One documented experience (see the module docstring)."""

    id: str
    practices: tuple[str, ...]
    name: str
    name_zh: str | None
    place: str
    countries: tuple[str, ...]
    years: str
    scale: str
    outcome: str
    effect: str
    cost: str
    lessons: str
    challenges: tuple[str, ...]
    summary_zh: str | None
    source: str
    citation: Citation | None = None
    synthetic: bool = False
    details: dict = field(default_factory=dict, compare=False)

    def search_text(self) -> str:
        return "\n".join(x for x in (self.name, self.name_zh or "", self.place, self.outcome, self.effect,
                                     self.lessons, self.summary_zh or "", self.source) if x)


def _or_nd(v: str | None) -> str:
    return v.strip() if isinstance(v, str) and v.strip() else NOT_DOCUMENTED


def load_cases(practices: Iterable[Practice] | None = None) -> list[CaseStudy]:
    """Every documented case of the catalogue, one record per case, ids ``<practice>.<n>``."""
    if practices is None:
        from dldd.practices.loader import load_catalogue

        practices = load_catalogue()
    out = []
    for p in practices:
        for k, c in enumerate(p.evidence, start=1):
            out.append(CaseStudy(
                id=f"{p.id}.{k}", practices=(p.id,), name=f"{p.names.en}: {c.place}",
                name_zh=p.names.zh or None, place=c.place,
                countries=tuple(c.countries), years=c.period, scale=_or_nd(c.scale), outcome=c.outcome,
                effect=" ".join(c.effect.split()), cost=_or_nd(c.cost), lessons=_or_nd(c.lessons),
                challenges=tuple(c.challenges), summary_zh=c.summary_zh, source=str(c.citation),
                citation=c.citation))
    return out


def run_cases(summary: pd.DataFrame | None, run_name: str = "this run") -> list[CaseStudy]:
    """The effectiveness results of a run (rows of ``effectiveness_summary``) as cases of the run.

    Each row becomes a case linked to the practices of its intervention type
    (:data:`dldd.practices.evidence.INTERVENTION_TYPES`); the effect and its 95 % interval are the outcome
    values; a row of a synthetic run (column ``data``) is labelled synthetic in its name and flag.
    """
    from dldd.practices.evidence import INTERVENTION_TYPES, _norm_type

    if summary is None or not len(summary):
        return []
    out = []
    for k, r in enumerate(summary.to_dict("records"), start=1):
        kind = _norm_type(str(r.get("type", "")))
        synthetic = "synthetic" in str(r.get("data", "")).lower()
        eff, lo, hi = (cell_number(r.get(k), finite=True) for k in ("effect", "ci_low", "ci_high"))
        units = "" if str(r.get("units", "1")) in ("1", "nan", "None") else f" {r.get('units')}"
        effect = NOT_DOCUMENTED if eff is None else f"{eff:+.3g}{units} on {r.get('outcome', 'the outcome')}"
        if eff is not None and lo is not None and hi is not None:
            effect += f" (95 % CI {lo:+.3g} to {hi:+.3g})"
        area = cell_number(r.get("treated_area_km2"), finite=True)
        name = str(r.get("name", f"intervention {k}"))
        out.append(CaseStudy(
            id=f"run.{k}", practices=INTERVENTION_TYPES.get(kind, ()),
            name=name + (" (synthetic demonstration data)" if synthetic and "synthetic" not in name.lower() else ""),
            name_zh=None, place=name, countries=(), years=f"from {r.get('start_year')}",
            scale=NOT_DOCUMENTED if area is None else f"{area:,.0f} km² treated",
            outcome=f"{r.get('outcome', 'outcome')} against matched controls (difference in differences)",
            effect=effect, cost=NOT_DOCUMENTED, lessons=NOT_DOCUMENTED, challenges=(), summary_zh=None,
            source=f"effectiveness evaluation of {run_name}", synthetic=synthetic, details=r))
    return out


def cases_in(cases: Iterable[CaseStudy], countries: Iterable[str]) -> list[CaseStudy]:
    """The cases documented in any of ``countries`` (ISO3)."""
    want = {c.upper() for c in countries}
    return [c for c in cases if want & set(c.countries)]


def challenges_by_subregion(cases: Iterable[CaseStudy], subregions: Mapping[str, Iterable[str]] | None = None
                            ) -> pd.DataFrame:
    """Challenges counted from the cases per METHODS 7 sub-region: ``subregion, challenge, n_cases,
    countries`` (a case counts once per sub-region it documents), most frequent first."""
    if subregions is None:
        from dldd.regions.registry import load_subregions

        subregions = load_subregions()
    rows = []
    cases = list(cases)
    for sub, members in subregions.items():
        members = set(members)
        n: Counter = Counter()
        where: dict[str, set] = {}
        for c in cases:
            here = members & set(c.countries)
            if not here:
                continue
            for ch in set(c.challenges):
                n[ch] += 1
                where.setdefault(ch, set()).update(here)
        for ch, k in n.items():
            rows.append({"subregion": sub, "challenge": ch, "n_cases": k, "countries": ", ".join(sorted(where[ch]))})
    df = pd.DataFrame(rows, columns=["subregion", "challenge", "n_cases", "countries"])
    return df.sort_values(["subregion", "n_cases", "challenge"], ascending=[True, False, True], ignore_index=True)
