"""Soil organic carbon sub-indicator of SDG 15.3.1 (METHODS 1.6; GPG2, Trends.Earth, IPCC 2006).

The reference stock SOC0 (t/ha, 0-30 cm) is taken to be in equilibrium with the land cover of the first
year. When the land cover of a pixel changes from class ``a`` to class ``b`` (UNCCD 1..7), the stock
``S`` at that moment moves linearly, by 1/20 of the change per year, towards

    S_target = S * F_LU[a, b] * F_MG * F_I            (F_MG = F_I = 1 by default)

reaching it 20 years after the last year of the old cover, and then stays. For the first transition
``S = SOC0``, so the target is ``SOC0 x F_LU x F_MG x F_I`` as METHODS 1.6 writes; chaining later
transitions on the current stock (as Trends.Earth does) keeps a completed grass -> crop -> grass cycle
at SOC0 (f x 1/f). A new transition before the 20 years are over restarts from the current stock.

F_LU (METHODS 1.6 table) depends on the IPCC climate factor ``f`` for the transitions that enter or
leave cropland; ``f`` follows from the IPCC 2006 climate zone (:func:`ipcc_climate_zone`, or a given
zone map in the JRC/ESDAC coding 1..12 that Trends.Earth uses) via :func:`climate_factor`.

The degradation class compares the stock at the end of a period with the stock at its start:
degraded if the change is <= -10 %, improved if >= +10 %, stable otherwise; water is masked.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
import xarray as xr
from numba import guvectorize

from dldd.core.legend import CLASS_NODATA, Legend
from dldd.errors import InputError
from dldd.indicators.landcover import (
    CROP,
    DEGRADED,
    IMPROVED,
    N_UNCCD,
    STABLE,
    UNCCD_ALLOWED,
    WATER,
    align_exact,
    check_codes,
    elementwise,
    finish,
)

IPCC_REF = ("IPCC 2006 Guidelines for National GHG Inventories, Vol. 4 Ch. 2-3 and Annex 3A.5 (climate "
            "zones); UNCCD GPG2 (2021); Trends.Earth SOC algorithm")

# --------------------------------------------------------------------------------------------------
# IPCC 2006 climate zones (Vol. 4, Ch. 3, Annex 3A.5, Figure 3A.5.2 "classification scheme for default
# climate regions"). Decision rules, in order:
#   1. tropical if MAT > 18 degC (and virtually no frost):
#        elevation > 1000 m -> tropical montane; else MAP > 2000 mm wet, MAP > 1000 mm moist, else dry
#   2. warm temperate if 10 < MAT <= 18; cool temperate if 0 < MAT <= 10;
#   3. MAT <= 0: polar if the warmest month's mean temperature is < 10 degC, else boreal;
#   4. temperate, boreal and polar zones are moist if MAP/PET > 1, dry otherwise.
# Codes follow the JRC/ESDAC IPCC climate zone map (Hiederer et al. 2010) that Trends.Earth uses.
# --------------------------------------------------------------------------------------------------

#: IPCC climate zones, coded as the JRC/ESDAC map (Trends.Earth input).
IPCC_CLIMATE_ZONES = Legend.from_pairs(
    "ipcc_climate_zones",
    [
        (1, "warm temperate moist"), (2, "warm temperate dry"), (3, "cool temperate moist"),
        (4, "cool temperate dry"), (5, "polar moist"), (6, "polar dry"), (7, "boreal moist"),
        (8, "boreal dry"), (9, "tropical montane"), (10, "tropical wet"), (11, "tropical moist"),
        (12, "tropical dry"),
    ],
)
(WARM_TEMPERATE_MOIST, WARM_TEMPERATE_DRY, COOL_TEMPERATE_MOIST, COOL_TEMPERATE_DRY, POLAR_MOIST, POLAR_DRY,
 BOREAL_MOIST, BOREAL_DRY, TROPICAL_MONTANE, TROPICAL_WET, TROPICAL_MOIST, TROPICAL_DRY) = IPCC_CLIMATE_ZONES.codes

#: Tropical if mean annual temperature > this (degC; IPCC 2006 Fig. 3A.5.2).
TROPICAL_MIN_MAT = 18.0
#: Tropical montane if elevation > this (m; IPCC 2006 Fig. 3A.5.2).
TROPICAL_MONTANE_MIN_ELEVATION = 1000.0
#: Tropical wet if annual precipitation > this (mm; IPCC 2006).
TROPICAL_WET_MIN_MAP = 2000.0
#: Tropical moist if annual precipitation > this (mm), else tropical dry (IPCC 2006).
TROPICAL_MOIST_MIN_MAP = 1000.0
#: Warm temperate if mean annual temperature > this (degC), else cool temperate or colder (IPCC 2006).
WARM_TEMPERATE_MIN_MAT = 10.0
#: Cool temperate if mean annual temperature > this (degC), else boreal or polar (IPCC 2006).
COOL_TEMPERATE_MIN_MAT = 0.0
#: Polar (not boreal) if the warmest month's mean temperature is < this (degC; IPCC 2006).
POLAR_MAX_WARMEST_MONTH = 10.0
#: Moist if MAP/PET > this, dry otherwise (temperate, boreal, polar; IPCC 2006).
MOIST_MIN_P_PET = 1.0

#: Climate factor f of F_LU by IPCC moisture regime (METHODS 1.6; GPG2, Trends.Earth, IPCC 2006 Table 5.5).
CLIMATE_FACTOR = MappingProxyType({
    "temperate_dry": 0.80,
    "temperate_moist": 0.69,
    "tropical_dry": 0.58,
    "tropical_moist": 0.48,
    "tropical_montane": 0.64,
})

#: Regime (key of CLIMATE_FACTOR) of each IPCC zone: boreal and polar take the temperate value of their
#: moisture regime (METHODS 1.6); tropical wet takes tropical moist, as Trends.Earth does.
ZONE_REGIME = MappingProxyType({
    WARM_TEMPERATE_MOIST: "temperate_moist", WARM_TEMPERATE_DRY: "temperate_dry",
    COOL_TEMPERATE_MOIST: "temperate_moist", COOL_TEMPERATE_DRY: "temperate_dry",
    POLAR_MOIST: "temperate_moist", POLAR_DRY: "temperate_dry",
    BOREAL_MOIST: "temperate_moist", BOREAL_DRY: "temperate_dry",
    TROPICAL_MONTANE: "tropical_montane", TROPICAL_WET: "tropical_moist",
    TROPICAL_MOIST: "tropical_moist", TROPICAL_DRY: "tropical_dry",
})

# --------------------------------------------------------------------------------------------------
# F_LU (METHODS 1.6; GPG2 / Trends.Earth): F_LU[from, to] = F_LU_COEF[from, to] * f ** F_LU_F_EXPONENT[from, to]
# --------------------------------------------------------------------------------------------------

#: Wetland -> cropland stock factor (crop -> wetland is its inverse) (GPG2, Trends.Earth).
F_WETLAND_TO_CROP = 0.71
#: Factor of any vegetated or water class -> artificial or other land (GPG2, Trends.Earth).
F_TO_ARTIFICIAL_OR_OTHER = 0.1
#: Factor of artificial or other land -> tree, grass, crop, wetland (GPG2, Trends.Earth).
F_FROM_ARTIFICIAL_OR_OTHER = 2.0

_c, _a, _r = 1.0 / F_WETLAND_TO_CROP, F_TO_ARTIFICIAL_OR_OTHER, F_FROM_ARTIFICIAL_OR_OTHER
#: Constant part of F_LU (rows from, columns to: tree, grass, crop, wetland, artificial, other, water).
F_LU_COEF = np.array(
    [
        [1, 1, 1, 1, _a, _a, 1],  # Tree  (-> crop: f)
        [1, 1, 1, 1, _a, _a, 1],  # Grass (-> crop: f)
        [1, 1, 1, _c, _a, _a, 1],  # Crop  (-> tree, grass: 1/f)
        [1, 1, F_WETLAND_TO_CROP, 1, _a, _a, 1],  # Wetland
        [_r, _r, _r, _r, 1, 1, 1],  # Artificial
        [_r, _r, _r, _r, 1, 1, 1],  # Other land
        [1, 1, 1, 1, 1, 1, 1],  # Water
    ],
    dtype=np.float64,
)
#: Power of the climate factor f in F_LU: +1 for tree/grass -> crop, -1 for crop -> tree/grass.
F_LU_F_EXPONENT = np.zeros((N_UNCCD, N_UNCCD), dtype=np.float64)
F_LU_F_EXPONENT[[0, 1], CROP - 1] = 1.0
F_LU_F_EXPONENT[CROP - 1, [0, 1]] = -1.0
F_LU_COEF.flags.writeable = False
F_LU_F_EXPONENT.flags.writeable = False
del _c, _a, _r

#: Years over which the stock moves to its new equilibrium after a transition (IPCC 2006 default; GPG2).
TRANSITION_YEARS = 20
#: Degraded if the stock change over the period is <= -this percent, improved if >= +this (GPG2).
SOC_CHANGE_THRESHOLD_PCT = 10.0
#: Tolerance (percentage points) of the +-threshold comparison: the change is computed in float64 from
#: stocks kept as float32 (relative rounding <= 6e-8 each, i.e. <= about 1.2e-5 points on the change), so
#: a change of exactly -10 % (common with the linear 20-year model, e.g. F_LU = 0.8 halfway) is degraded
#: whatever the rounding of the stored stocks. Far below any real difference in a stock.
SOC_CHANGE_TOLERANCE_PCT = 1e-4


def f_lu_matrix(f: float) -> np.ndarray:
    """The 7x7 F_LU table of METHODS 1.6 for climate factor ``f`` (rows from, columns to)."""
    return F_LU_COEF * np.power(float(f), F_LU_F_EXPONENT)


def _zone_block(mat, pre, p_pet, elev, warmest, frost_free):
    mat, pre, p_pet = (np.asarray(v, dtype=np.float64) for v in (mat, pre, p_pet))
    elev = np.zeros(mat.shape) if elev is None else np.asarray(elev, dtype=np.float64)
    moist = p_pet > MOIST_MIN_P_PET
    tropical = mat > TROPICAL_MIN_MAT
    if frost_free is not None:
        tropical &= np.asarray(frost_free, dtype=bool)
    if warmest is None:
        cold = np.where(moist, BOREAL_MOIST, BOREAL_DRY)
        cold_ok = np.isfinite(p_pet)
    else:
        warmest = np.asarray(warmest, dtype=np.float64)
        polar = warmest < POLAR_MAX_WARMEST_MONTH
        cold = np.where(polar, np.where(moist, POLAR_MOIST, POLAR_DRY), np.where(moist, BOREAL_MOIST, BOREAL_DRY))
        cold_ok = np.isfinite(p_pet) & np.isfinite(warmest)
    trop = np.where(elev > TROPICAL_MONTANE_MIN_ELEVATION, TROPICAL_MONTANE,
                    np.where(pre > TROPICAL_WET_MIN_MAP, TROPICAL_WET,
                             np.where(pre > TROPICAL_MOIST_MIN_MAP, TROPICAL_MOIST, TROPICAL_DRY)))
    trop_ok = np.isfinite(elev) & (np.isfinite(pre) | (elev > TROPICAL_MONTANE_MIN_ELEVATION))
    warm = np.where(moist, WARM_TEMPERATE_MOIST, WARM_TEMPERATE_DRY)
    cool = np.where(moist, COOL_TEMPERATE_MOIST, COOL_TEMPERATE_DRY)
    temperate = mat > COOL_TEMPERATE_MIN_MAT
    zone = np.select([tropical, mat > WARM_TEMPERATE_MIN_MAT, temperate], [trop, warm, cool], cold)
    ok = np.isfinite(mat) & np.where(tropical, trop_ok, np.where(temperate, np.isfinite(p_pet), cold_ok))
    return np.where(ok, zone, CLASS_NODATA).astype(np.int8)


def ipcc_climate_zone(mean_temperature: xr.DataArray, precipitation: xr.DataArray, p_pet: xr.DataArray,
                      elevation: xr.DataArray | None = None,
                      warmest_month_temperature: xr.DataArray | None = None,
                      frost_free: xr.DataArray | None = None) -> xr.DataArray:
    """IPCC 2006 default climate zone (codes of :data:`IPCC_CLIMATE_ZONES`, int8).

    Inputs (long-term means, one grid): ``mean_temperature`` MAT (degC), ``precipitation`` MAP
    (mm/year), ``p_pet`` MAP/PET (-), ``elevation`` (m; None = no montane zone),
    ``warmest_month_temperature`` (degC; None = every MAT <= 0 pixel is boreal: polar and boreal share f),
    ``frost_free`` (bool; None = "virtually no frost" assumed wherever MAT > 18).

    Rules (IPCC 2006 Vol. 4 Annex 3A.5, Fig. 3A.5.2): MAT > 18 tropical [elevation > 1000 m montane;
    else MAP > 2000 wet, MAP > 1000 moist, else dry]; 10 < MAT <= 18 warm temperate; 0 < MAT <= 10 cool
    temperate; MAT <= 0 polar if the warmest month < 10 degC else boreal; non-tropical zones are moist
    if MAP/PET > 1, else dry. No data where a needed input is NaN.
    """
    a = align_exact(mean_temperature=mean_temperature, precipitation=precipitation, p_pet=p_pet,
                    elevation=elevation, warmest_month_temperature=warmest_month_temperature,
                    frost_free=frost_free)
    names = [k for k, v in a.items() if v is not None]

    def block(*arrays):
        kw = dict(zip(names, arrays))
        return _zone_block(kw["mean_temperature"], kw["precipitation"], kw["p_pet"], kw.get("elevation"),
                           kw.get("warmest_month_temperature"), kw.get("frost_free"))

    out = elementwise(block, *(a[k] for k in names), dtype=np.int8)
    return finish(out, "ipcc_climate_zone", "IPCC 2006 climate zone", "1", "IPCC 2006 decision rules",
                  f"tropical MAT>{TROPICAL_MIN_MAT}; montane elevation>{TROPICAL_MONTANE_MIN_ELEVATION} m; "
                  f"moist MAP/PET>{MOIST_MIN_P_PET}; inputs {names}", IPCC_REF)


def climate_factor(zone: xr.DataArray) -> xr.DataArray:
    """Climate factor ``f`` of F_LU (METHODS 1.6) for IPCC zone codes 1..12; NaN where no zone."""
    lut = np.full(256, np.nan, dtype=np.float32)
    for code, regime in ZONE_REGIME.items():
        lut[code] = CLIMATE_FACTOR[regime]

    def block(z):
        z = np.asarray(z)
        if np.issubdtype(z.dtype, np.floating):
            z = np.where(np.isfinite(z), z, CLASS_NODATA)
        check_codes(z, (*ZONE_REGIME, CLASS_NODATA), "climate zone")
        return lut[z.astype(np.int64) % lut.size]

    out = elementwise(block, zone, dtype=np.float32)
    return finish(out, "soc_climate_factor", "SOC land use climate factor f", "1", "IPCC zone lookup",
                  ", ".join(f"{k} {v}" for k, v in CLIMATE_FACTOR.items()), IPCC_REF)


@guvectorize(
    ["void(float64, int8[:], float64, float64[:, :], float64[:, :], float64, float64, int64, float32[:])"],
    "(),(n),(),(k,k),(k,k),(),(),()->(n)",
    nopython=True,
    cache=True,
)
def _soc_path_kernel(soc0, lc, f, coef, expo, f_mg, f_i, years, out):  # pragma: no cover - numba
    n = lc.shape[0]
    if not np.isfinite(soc0):
        for t in range(n):
            out[t] = np.nan
        return
    stock = soc0
    target = soc0
    rate = 0.0
    left = 0
    prev = -1
    for t in range(n):
        c = lc[t]
        if 1 <= c <= coef.shape[0]:
            if prev != -1 and c != prev:
                factor = coef[prev - 1, c - 1] * f ** expo[prev - 1, c - 1] * f_mg * f_i
                target = stock * factor
                rate = (target - stock) / years
                left = years
            prev = c
        if left > 0:
            left -= 1
            stock = target if left == 0 else stock + rate
        out[t] = stock


def _soc_block(soc0, lc, f, f_mg, f_i, coef, expo, years):
    check_codes(lc, UNCCD_ALLOWED, "lc")
    return _soc_path_kernel(soc0, lc.astype(np.int8), f, coef, expo, f_mg, f_i, years)


def soc_stock(soc_reference: xr.DataArray, lc: xr.DataArray, f: xr.DataArray | float,
              f_mg: xr.DataArray | float = 1.0, f_i: xr.DataArray | float = 1.0, f_lu=None,
              transition_years: int = TRANSITION_YEARS) -> xr.DataArray:
    """Yearly SOC stock (t/ha, 0-30 cm) along the land cover series (METHODS 1.6).

    ``soc_reference``: SOC0 (t/ha), the stock of the first year. ``lc``: UNCCD classes with dims
    ``("time", ...)`` (one map per year; see :func:`dldd.indicators.landcover.land_cover_series` for
    start/end maps); no-data years continue the running change and transitions are counted between
    valid years. ``f``: climate factor (:func:`climate_factor`), scalar or map. ``f_mg``, ``f_i``:
    management and input factors applied to each transition's target (default 1). ``f_lu``: a 7x7 table
    of absolute factors replacing the METHODS table (then ``f`` is unused). Stock after a transition from
    ``a`` to ``b`` in year ``t``: ``S(t-1) + k/n * (S(t-1) * F_LU[a, b] * F_MG * F_I - S(t-1))`` in year
    ``t-1+k``, ``k = 1..n``, ``n = transition_years`` (20), then constant. Dask: ``time`` must be one chunk.
    """
    if "time" not in lc.dims:
        raise InputError(f"lc must have a 'time' dimension (one land cover map per year); dims are {lc.dims}")
    if lc.chunks is not None and len(lc.chunksizes["time"]) > 1:
        raise InputError(f"lc is chunked along time {lc.chunksizes['time']}; the SOC path needs the whole "
                         "time axis in one chunk: use lc.chunk(time=-1)")
    if int(transition_years) < 1:
        raise InputError(f"transition_years must be >= 1, got {transition_years}")
    if f_lu is None:
        coef, expo, f_desc = F_LU_COEF, F_LU_F_EXPONENT, "METHODS 1.6 F_LU with climate factor f"
    else:
        coef = np.asarray(f_lu, dtype=np.float64)
        if coef.shape != (N_UNCCD, N_UNCCD) or not np.isfinite(coef).all():
            raise InputError(f"f_lu must be a finite {N_UNCCD}x{N_UNCCD} table, got shape {coef.shape}")
        expo, f_desc = np.zeros_like(coef), "user F_LU table"
    as_da = {k: (v if isinstance(v, xr.DataArray) else xr.DataArray(float(v)))
             for k, v in dict(f=f, f_mg=f_mg, f_i=f_i).items()}
    spatial = align_exact(soc_reference=soc_reference, lc=lc.isel(time=0, drop=True),
                          **{k: v for k, v in as_da.items() if v.ndim})
    out = xr.apply_ufunc(
        _soc_block, spatial["soc_reference"].astype(np.float64), lc,
        *(as_da[k].astype(np.float64) for k in ("f", "f_mg", "f_i")),
        input_core_dims=[[], ["time"], [], [], []], output_core_dims=[["time"]],
        kwargs=dict(coef=coef, expo=expo, years=int(transition_years)),
        dask="parallelized", output_dtypes=[np.float32],
    ).transpose(*lc.dims)
    return finish(out, "soc_stock", "Soil organic carbon stock, 0-30 cm", "t/ha",
                  "IPCC Tier 1 stock change factors on land cover transitions",
                  f"{f_desc}; F_MG={_describe(f_mg)}; F_I={_describe(f_i)}; "
                  f"{transition_years}-year linear transition", IPCC_REF)


def _describe(v) -> str:
    return "map" if isinstance(v, xr.DataArray) and v.ndim else f"{float(v):g}"


def _pct_change_block(start, end):
    """``100 * (end - start) / start`` in float64; NaN where the start is missing or not positive
    (no warning: the invalid cells are never divided)."""
    start, end = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    ok = np.isfinite(start) & np.isfinite(end) & (start > 0)
    out = np.full(start.shape, np.nan)
    np.divide(100.0 * (end - start), start, out=out, where=ok)
    return out


def soc_change(soc_start: xr.DataArray, soc_end: xr.DataArray) -> xr.DataArray:
    """Relative change of the SOC stock over a period, ``100 * (end - start) / start`` (%, computed in
    float64, stored float32); NaN where the start stock is missing or not positive."""
    a = align_exact(soc_start=soc_start, soc_end=soc_end)
    out = elementwise(_pct_change_block, a["soc_start"], a["soc_end"], dtype=np.float64).astype(np.float32)
    return finish(out, "soc_change", "Soil organic carbon stock change", "%", "relative change",
                  "100 * (end - start) / start", IPCC_REF)


def _soc_class_block(start, end, lc_start, lc_end, threshold, tolerance):
    check_codes(lc_start, UNCCD_ALLOWED, "lc_start")
    check_codes(lc_end, UNCCD_ALLOWED, "lc_end")
    pct = _pct_change_block(start, end)
    with np.errstate(invalid="ignore"):
        cls = np.where(pct <= -threshold + tolerance, DEGRADED,
                       np.where(pct >= threshold - tolerance, IMPROVED, STABLE))
    masked = ~np.isfinite(pct) | (lc_start == WATER) | (lc_end == WATER)
    return np.where(masked, CLASS_NODATA, cls).astype(np.int8)


def soc_degradation(soc_start: xr.DataArray, soc_end: xr.DataArray, lc_start: xr.DataArray,
                    lc_end: xr.DataArray, threshold: float = SOC_CHANGE_THRESHOLD_PCT) -> xr.DataArray:
    """SOC degradation class (int8): -1 if the stock change over the period is <= -``threshold`` %
    (10, GPG2), +1 if >= +``threshold`` %, else 0, the change computed in float64 and compared within
    :data:`SOC_CHANGE_TOLERANCE_PCT` (so exactly +-10 % is not lost to float32 rounding); no data where water (class 7) at the start or end of
    the period or where a stock is missing. ``soc_start``/``soc_end``: stocks (t/ha) at the period's
    first and last year (e.g. ``soc_stock(...).sel(time="2015")``); ``lc_start``/``lc_end``: UNCCD classes.
    """
    a = align_exact(soc_start=soc_start, soc_end=soc_end, lc_start=lc_start, lc_end=lc_end)
    out = elementwise(_soc_class_block, a["soc_start"], a["soc_end"], a["lc_start"], a["lc_end"], dtype=np.int8,
                      threshold=float(threshold), tolerance=SOC_CHANGE_TOLERANCE_PCT)
    return finish(out, "soc_degradation", "Soil organic carbon degradation (SDG 15.3.1 sub-indicator)", "1",
                  "relative stock change", f"degraded <= -{threshold} %, improved >= +{threshold} %; water masked",
                  IPCC_REF)
