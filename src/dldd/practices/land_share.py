"""Rank practices on the share of a region's land whose conditions they fit (the joint condition table of
:mod:`dldd.practices.distribution`), with the per-condition fits of :mod:`dldd.practices.scoring`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Iterable, NamedTuple

from dldd.errors import InputError
from dldd.practices.conditions import _as_conditions, _norm_label
from dldd.practices.schema import ARIDITY_CLASSES, Practice
from dldd.practices.scoring import CONDITION_WEIGHTS, FULL_FIT, UNDOCUMENTED_FIT, Reason, _assess, _verdict

if TYPE_CHECKING:
    import pandas as pd

    from dldd.practices.evidence import EvidenceBook

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


__all__ = ["DistributionMatch", "match_distribution", "subregion_members"]
