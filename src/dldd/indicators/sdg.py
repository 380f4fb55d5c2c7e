"""SDG 15.3.1: one out, all out combination of the sub-indicators, status, and default periods.

METHODS 1.7 (GPG2 and its 2025 addendum). Inputs are SDG class rasters (int8: degraded -1, stable 0,
improved +1, no data ``CLASS_NODATA``) on one grid; outputs are the same kind of raster.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import xarray as xr

from dldd.core.legend import CLASS_NODATA, Legend
from dldd.errors import InputError
from dldd.indicators.landcover import (
    DEGRADED,
    GPG2_REF,
    IMPROVED,
    STABLE,
    align_exact,
    check_codes,
    elementwise,
    finish,
)

SDG_ALLOWED = (DEGRADED, STABLE, IMPROVED, CLASS_NODATA)
_D, _S, _I = DEGRADED, STABLE, IMPROVED

#: Status of a reporting period against the baseline (GPG2 addendum; METHODS 1.7):
#: ``STATUS_TABLE[(baseline, period)]`` -> SDG class.
STATUS_TABLE = MappingProxyType({
    (_D, _D): _D, (_D, _S): _D, (_D, _I): _I,
    (_S, _D): _D, (_S, _S): _S, (_S, _I): _I,
    (_I, _D): _D, (_I, _S): _I, (_I, _I): _I,
})

#: Seven-code status (GPG2 addendum; METHODS 1.7).
STATUS7 = Legend.from_pairs(
    "sdg_status7",
    [
        (1, "persistent degradation", "#9b2779"),
        (2, "recent degradation", "#c0504d"),
        (3, "baseline degradation", "#f7b0a7"),
        (4, "stability", "#f5f5dc"),
        (5, "baseline improvement", "#b6d7a8"),
        (6, "recent improvement", "#6aa84f"),
        (7, "persistent improvement", "#1b6b37"),
    ],
)
(PERSISTENT_DEGRADATION, RECENT_DEGRADATION, BASELINE_DEGRADATION, STABILITY, BASELINE_IMPROVEMENT,
 RECENT_IMPROVEMENT, PERSISTENT_IMPROVEMENT) = STATUS7.codes

#: ``STATUS7_TABLE[(baseline, period)]`` -> seven-code status (METHODS 1.7).
STATUS7_TABLE = MappingProxyType({
    (_D, _D): PERSISTENT_DEGRADATION, (_S, _D): RECENT_DEGRADATION, (_I, _D): RECENT_DEGRADATION,
    (_D, _S): BASELINE_DEGRADATION, (_S, _S): STABILITY, (_I, _S): BASELINE_IMPROVEMENT,
    (_D, _I): RECENT_IMPROVEMENT, (_S, _I): RECENT_IMPROVEMENT, (_I, _I): PERSISTENT_IMPROVEMENT,
})

#: Seven-code status -> SDG class: 1-3 degraded, 4 stable, 5-7 improved (METHODS 1.7).
STATUS7_TO_SDG3 = MappingProxyType({
    PERSISTENT_DEGRADATION: _D, RECENT_DEGRADATION: _D, BASELINE_DEGRADATION: _D, STABILITY: _S,
    BASELINE_IMPROVEMENT: _I, RECENT_IMPROVEMENT: _I, PERSISTENT_IMPROVEMENT: _I,
})


@dataclass(frozen=True)
class Period:
    """Years (first, last; inclusive) each sub-indicator covers in one SDG 15.3.1 assessment period."""

    name: str
    productivity: tuple[int, int]
    land_cover: tuple[int, int]
    soc: tuple[int, int]

    @property
    def year(self) -> int:
        """The reporting year (last year of productivity)."""
        return self.productivity[1]


#: Baseline 2000-2015 for all three sub-indicators (GPG2).
BASELINE = Period("baseline", (2000, 2015), (2000, 2015), (2000, 2015))
#: Reporting period 1 (to 2019): productivity 2004-2019 (16 years, GPG2); land cover and SOC change from
#: the baseline's last year (2015) to 2019.
REPORTING_1 = Period("reporting_1", (2004, 2019), (2015, 2019), (2015, 2019))
#: Reporting period 2 (to 2023): productivity 2008-2023; land cover and SOC from 2015 to 2022, the last
#: year with land cover (METHODS 1.7).
REPORTING_2 = Period("reporting_2", (2008, 2023), (2015, 2022), (2015, 2022))
#: Default periods by name; periods are parameters, these are the defaults (METHODS 1.7).
DEFAULT_PERIODS = MappingProxyType({p.name: p for p in (BASELINE, REPORTING_1, REPORTING_2)})


def _ooao_block(prod, *others):
    check_codes(prod, SDG_ALLOWED, "productivity")
    for name, arr in zip(("land_cover", "soc"), others):
        check_codes(arr, SDG_ALLOWED, name)
    layers = (prod, *others)
    any_deg = np.logical_or.reduce([a == DEGRADED for a in layers])
    any_imp = np.logical_or.reduce([a == IMPROVED for a in layers])
    out = np.where(any_deg, DEGRADED, np.where(any_imp, IMPROVED, STABLE))
    return np.where(prod == CLASS_NODATA, CLASS_NODATA, out).astype(np.int8)


def one_out_all_out(productivity: xr.DataArray, land_cover: xr.DataArray | None = None,
                    soc: xr.DataArray | None = None, water: xr.DataArray | None = None) -> xr.DataArray:
    """SDG 15.3.1 class by "one out, all out" (GPG2; METHODS 1.7).

    Degraded if any of productivity, land cover, SOC is degraded; else improved if any is improved;
    else stable. No data where productivity has no data; a sub-indicator that is None, or no data at a
    pixel, does not vote. Inputs: int8 SDG classes (-1, 0, +1, CLASS_NODATA) on one grid. ``water``
    (non-zero where the land account counts water: the water class at the start or end of the period)
    is no data: the indicator is a share of land (UN metadata; Trends.Earth masks water the same way).
    """
    a = align_exact(productivity=productivity, land_cover=land_cover, soc=soc, water=water)
    used = [k for k in ("productivity", "land_cover", "soc") if a[k] is not None]
    out = elementwise(_ooao_block, *(a[k] for k in used), dtype=np.int8)
    if water is not None:
        out = elementwise(_mask_block, out, a["water"], dtype=np.int8)
    return finish(out, "sdg_15_3_1", "SDG 15.3.1 land degradation (one out, all out)", "1",
                  "one out, all out", f"sub-indicators: {', '.join(used)}", GPG2_REF)


def _mask_block(classes, water):
    return np.where(np.asarray(water) != 0, CLASS_NODATA, classes).astype(np.int8)


def _correct_block(classes, *masks, codes):
    out = np.asarray(classes).copy()
    for mask, code in zip(masks, codes):
        out = np.where(np.asarray(mask) != 0, code, out)
    return out.astype(np.int8)


def apply_corrections(classes: xr.DataArray, corrections: list[tuple[xr.DataArray, int]],
                      water: xr.DataArray | None = None) -> xr.DataArray:
    """SDG 15.3.1 classes after corrections of false positives / negatives (GPG v2, section 4.2.6): each
    ``(mask, code)`` (mask non-zero where it applies; code -1, 0 or +1) sets the class inside its mask,
    later corrections over earlier ones; water stays no data (it is not land). Applied after the one out,
    all out combination; the attributes say corrections were applied."""
    for _, code in corrections:
        if code not in (DEGRADED, STABLE, IMPROVED):
            raise InputError(f"correction class {code!r}: expected -1 (degraded), 0 (stable) or 1 (improved)")
    if not corrections:
        return classes
    a = align_exact(classes=classes, water=water, **{f"mask{i}": m for i, (m, _) in enumerate(corrections)})
    masks = [a[f"mask{i}"] for i in range(len(corrections))]
    if water is not None:
        masks = [(m != 0) & (a["water"] == 0) for m in masks]
    out = elementwise(_correct_block, a["classes"], *masks, dtype=np.int8, codes=[c for _, c in corrections])
    out = out.rename(classes.name)
    out.attrs = {**classes.attrs, "corrections": f"{len(corrections)} correction(s) of false positives/negatives "
                                                 "(GPG v2) applied after the combination"}
    return out


def _table_lut(table) -> np.ndarray:
    lut = np.full((3, 3), CLASS_NODATA, dtype=np.int8)
    for (b, p), v in table.items():
        lut[b + 1, p + 1] = v
    return lut


def _status_block(base, period, lut):
    check_codes(base, SDG_ALLOWED, "baseline")
    check_codes(period, SDG_ALLOWED, "period")
    valid = (base != CLASS_NODATA) & (period != CLASS_NODATA)
    b = np.where(valid, base, 0).astype(np.intp) + 1
    p = np.where(valid, period, 0).astype(np.intp) + 1
    return np.where(valid, lut[b, p], CLASS_NODATA).astype(np.int8)


def status(baseline: xr.DataArray, period: xr.DataArray, form: str = "sdg3") -> xr.DataArray:
    """Status of a reporting period against the baseline (GPG2 addendum; METHODS 1.7), int8.

    ``form="sdg3"`` (default): :data:`STATUS_TABLE` -> -1 degraded, 0 stable, +1 improved.
    ``form="seven"``: :data:`STATUS7_TABLE` -> 1 persistent degradation (D->D), 2 recent degradation
    (St or I -> D), 3 baseline degradation (D->St), 4 stability, 5 baseline improvement (I->St),
    6 recent improvement (D or St -> I), 7 persistent improvement (I->I); 1-3 count as degraded,
    4 stable, 5-7 improved (:data:`STATUS7_TO_SDG3`). No data where either input has none.
    """
    tables = {"sdg3": STATUS_TABLE, "seven": STATUS7_TABLE}
    if form not in tables:
        raise InputError(f"form must be one of {sorted(tables)}, got {form!r}")
    a = align_exact(baseline=baseline, period=period)
    out = elementwise(_status_block, a["baseline"], a["period"], dtype=np.int8, lut=_table_lut(tables[form]))
    long = {"sdg3": "SDG 15.3.1 status against the baseline",
            "seven": "SDG 15.3.1 status against the baseline (seven codes)"}[form]
    return finish(out, "sdg_status" if form == "sdg3" else "sdg_status7", long, "1", "status table (GPG addendum)",
                  f"form={form}", GPG2_REF)
