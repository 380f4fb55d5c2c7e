"""The practices data of the report: per country the top practices with cost, water, labour, risks and
evidence; the cases of the country and of its sub-region; the challenges the cases of each sub-region
report; the run's own effectiveness results as cases.

:func:`practices_report_data` is what the report calls (template partial
``report/templates/_practices_country.html``). Values a practice's record does not document are the
string ``"not documented"``, never blank.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import pandas as pd

from dldd.practices.cases import CaseStudy, cases_in, challenges_by_subregion, load_cases, run_cases
from dldd.practices.schema import NOT_DOCUMENTED, Practice

#: Practices shown per country (the ranking's first N).
TOP_PRACTICES = 5


def _cost(p: Practice) -> str:
    i = p.inputs
    if i is not None and i.cost_per_ha is not None:
        c = i.cost_per_ha
        return f"{'approx. ' if c.approximate else ''}{c} {c.currency}/ha ({c.year})"
    costs = p.wocat.costs
    if costs != NOT_DOCUMENTED and costs:
        return "; ".join(f"{c.item}: {c.amount} {c.currency} {c.unit} ({c.year}, paid by {c.paid_by})" for c in costs)
    return NOT_DOCUMENTED


def _water(p: Practice) -> str:
    i = p.inputs
    if i is not None and i.water_m3_per_ha_year is not None:
        return f"{i.water_m3_per_ha_year} m³/ha/yr"
    w = p.wocat.water_use_m3_per_ha_year
    if w != NOT_DOCUMENTED:
        return f"{w} m³/ha/yr"
    if i is not None and i.water:
        return i.water
    return NOT_DOCUMENTED


def _labour(p: Practice) -> str:
    i = p.inputs
    if i is not None and i.labour_person_days_per_ha is not None:
        return f"{i.labour_person_days_per_ha} person-days/ha"
    if i is not None and i.labour:
        return i.labour
    return NOT_DOCUMENTED


def _case_dict(c: CaseStudy) -> dict:
    return {"id": c.id, "name": c.name, "name_zh": c.name_zh, "place": c.place, "countries": list(c.countries),
            "years": c.years, "scale": c.scale, "effect": c.effect, "cost": c.cost, "lessons": c.lessons,
            "challenges": list(c.challenges), "summary_zh": c.summary_zh, "source": c.source,
            "synthetic": c.synthetic}


def _share_reason(reasons: str) -> str:
    """The first reason of a distribution match (the share it fits), or the first of any."""
    first = str(reasons).split("; ")[0] if isinstance(reasons, str) and reasons else ""
    return first.split(": ", 1)[1] if ": " in first else first


def practices_report_data(
    tables: Mapping[str, pd.DataFrame],
    region_ids: Iterable[str],
    *,
    practices: Iterable[Practice] | None = None,
    top: int = TOP_PRACTICES,
    subregions: Mapping[str, Iterable[str]] | None = None,
) -> dict:
    """Practices data of the report for the run's ``tables`` (by name) and the regions shown.

    Returns ``{"countries": {region: {...}}, "challenges": {sub-region: [rows]}, "run_cases": [...]}``;
    a country's entry has ``subregion``, ``top`` (rank, id, name, name_zh, category, score, share_pct,
    dryland_share_pct, reason, cost, water, labour, risks, n_cases, n_cases_here, citations), ``cases``
    (documented in the country) and ``subregion_cases`` (elsewhere in its sub-region).
    """
    if practices is None:
        from dldd.practices.loader import load_catalogue

        practices = load_catalogue()
    if subregions is None:
        from dldd.regions.registry import load_subregions

        subregions = load_subregions()
    catalogue = {p.id: p for p in practices}
    cases = load_cases(catalogue.values())
    sub_of = {c: s for s, members in subregions.items() for c in members}
    matches = tables.get("practices_matches")
    out: dict = {"countries": {}, "challenges": {}, "run_cases": [
        _case_dict(c) for c in run_cases(tables.get("effectiveness_summary"))]}
    challenges = challenges_by_subregion(cases, subregions)
    for rid in region_ids:
        rid = str(rid)
        sub = sub_of.get(rid.upper())
        top_rows = []
        if matches is not None and len(matches) and "practice" in matches:
            t = matches[(matches["region"].astype(str) == rid) & (matches["rank"] <= top)].sort_values("rank")
            for r in t.to_dict("records"):
                p = catalogue.get(str(r["practice"]))
                if p is None:
                    continue
                here = [c for c in p.evidence if rid.upper() in c.countries]
                top_rows.append({
                    "rank": int(r["rank"]), "id": p.id, "name": p.names.en, "name_zh": p.names.zh,
                    "category": p.category, "score": r.get("score"),
                    "share_pct": r.get("share_pct"), "dryland_share_pct": r.get("dryland_share_pct"),
                    "reason": _share_reason(r.get("reasons", "")), "reason_parts": r.get("reason_parts", ""),
                    "cost": _cost(p), "water": _water(p),
                    "labour": _labour(p), "risks": list(p.risks) or [NOT_DOCUMENTED],
                    "n_cases": len(p.evidence), "n_cases_here": len(here),
                    "citations": [str(c.citation) for c in (here or p.evidence)][:3],
                })
        members = set(subregions.get(sub, ())) if sub else set()
        mine = cases_in(cases, [rid])
        near = [c for c in cases_in(cases, members - {rid.upper()}) if c not in mine]
        out["countries"][rid] = {"subregion": sub, "top": top_rows, "cases": [_case_dict(c) for c in mine],
                                 "subregion_cases": [_case_dict(c) for c in near]}
        if sub and sub not in out["challenges"]:
            out["challenges"][sub] = challenges[challenges.subregion == sub].to_dict("records")
    return out
