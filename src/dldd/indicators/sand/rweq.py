"""RWEQ wind erosion and the sand-fixation service (METHODS section 5).

RWEQ (Revised Wind Erosion Equation; Fryrear et al. 1998, 2000), as used in gridded sand-fixation
studies (e.g. Gong et al. 2014): WF weather factor, EF erodible fraction, SCF crust factor, K' roughness,
COG vegetation factor; Qmax = 109.8 (WF EF SCF K' COG) kg/m; s = 150.71 (WF EF SCF K' COG)^-0.3711 m;
soil loss at the downwind distance z: SL = (2 z / s^2) Qmax exp(-(z/s)^2) kg/m^2 per period of WF.
Sand fixation = SL with COG = 1 (bare, potential) minus SL with the actual cover.

WF is a rate per period: RWEQ evaluates it per half-month (days 1-15 and 16-end of each month), and the
annual loss is the sum of the period losses (:func:`wind_factor_by_period`, :func:`annual_sum`); an
annual WF pushes x far past the point form's peak and gives near-zero losses on windy sites.

Negative sand-fixation service is a property of the point form, not of the vegetation: SL(x) rises with
x = WF EF SCF K' COG only up to x* = :func:`point_loss_peak_x` (61.7 kg/m for z = 50 m) and falls beyond.
Where the bare-soil x0 exceeds x*, thin cover (x = x0 COG still past the peak) *raises* the point loss, so
the service is negative at LOW cover and becomes positive once x0 COG drops enough below x* (for x0 = 100
below about 23.5 % flat-residue cover; for x0 above about 319 at every cover). Policy (METHODS 5): the
point form is kept and every negative cell is flagged (:func:`negative_service_flag`, with the share of
area reported by the pipeline); the field-mean form (``loss="field_mean"``, monotone in x) is the option.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from dldd.core.attrs import output_attrs
from dldd.core.legend import CLASS_NODATA, Legend
from dldd.core.ranges import check_range
from dldd.errors import InputError
from dldd.indicators.pet import wind_speed_2m
from dldd.indicators.sand.common import as_float, need_dim, observation_step_hours
from dldd.indicators.sensitivity import cover_in

REFERENCE_RWEQ = (
    "Fryrear D.W., Saleh A., Bilbro J.D., Schomberg H.M., Stout J.E., Zobeck T.M. (1998) Revised Wind "
    "Erosion Equation (RWEQ). USDA-ARS Technical Bulletin 1; Fryrear D.W., Bilbro J.D., Saleh A., "
    "Schomberg H., Stout J.E., Zobeck T.M. (2000) RWEQ: improved wind erosion technology. J. Soil Water "
    "Conserv. 55(2), 183-189."
)

#: Threshold wind speed of RWEQ's wind factor, m/s at 2 m (Fryrear et al. 1998).
RWEQ_WIND_THRESHOLD = 5.0
#: Height of RWEQ's wind speeds, m.
RWEQ_WIND_HEIGHT_M = 2.0
HOURS_PER_DAY = 24.0
#: Gravitational acceleration used in WF, m s-2 (Fryrear et al. 1998).
GRAVITY = 9.8
#: Air density rho = A (B + C EL + D EL^2) / T, EL elevation in km, T in K (Fryrear et al. 1998).
AIR_DENSITY_COEFFICIENTS = (348.0, 1.013, -0.1183, 0.0048)
KELVIN_OFFSET = 273.15
METRES_PER_KM = 1000.0
#: Snow depth above which the surface is protected, mm (RWEQ snow cover factor SD = 1 - P(depth > 25.4)).
SNOW_DEPTH_THRESHOLD_MM = 25.4
#: Erodible fraction EF = (a + b Sa + c Si + d Sa/Cl - e OM - f CaCO3) / 100 (Fryrear et al. 1994, RWEQ).
EF_COEFFICIENTS = (29.09, 0.31, 0.17, 0.33, 2.59, 0.95)
#: Soil crust factor SCF = 1 / (1 + a Cl^2 + b OM^2) (Fryrear et al. 1998).
SCF_COEFFICIENTS = (0.0066, 0.021)
#: Roughness factor K' = exp(a Kr + b Kr^c + d Crr), Kr ridge and Crr random roughness in cm (Fryrear et
#: al. 2000). K' = 1 for a smooth surface (the default in gridded studies without tillage data).
K_ROUGHNESS_COEFFICIENTS = (1.86, -2.41, 0.934, -0.127)
#: Ridge roughness from terrain Kr = a dH^2 / L, dH the elevation difference over the distance L, both in
#: cm (METHODS 5, as used in gridded sand-fixation studies).
TERRAIN_KR_COEFFICIENT = 0.2
CM_PER_M = 100.0
#: Window (cells, odd) over which dH (elevation range) and L ((window - 1) cell sizes) are taken from a
#: DEM: 3 x 3 as in the RWEQ implementation of Talukdar et al. (2022), after Huang Binbin's method.
TERRAIN_WINDOW_CELLS = 3
REFERENCE_TERRAIN_KR = (
    "Talukdar I.N., Kowal V.A., Huang B., Weil C. (2022) Vegetation drastically reduces wind erosion: an "
    "implementation of the RWEQ in the Mongolian Gobi Steppe. Land 11(8), 1204 (Kr = 0.2 dH^2 / L, dH the "
    "elevation range in a 3 x 3 cell window of the DEM, L twice the cell size)"
)


def _flag_legend(name: str, off: tuple[int, str], on: tuple[int, str, str], description: str) -> Legend:
    """Legend of a 0/1 flag map: the ``off`` class grey, the ``on`` class in its colour."""
    return Legend.from_pairs(name, [(*off, "#e0e0e0"), on], description=description)


#: K' flag: 1 where the fitted K'(Kr) exceeds 1 (Kr past :func:`roughness_factor_upper_kr`) and K' is capped.
K_WITHIN_FIT, K_CAPPED = 0, 1
K_CAPPED_LEGEND = _flag_legend(
    "sand_k_roughness_capped", (K_WITHIN_FIT, "fitted form"), (K_CAPPED, "capped at 1", "#762a83"),
    description="Cells where terrain ridge roughness Kr exceeds the Kr at which RWEQ's fitted K' returns to 1 "
    "(50.65 cm): the fit would give K' > 1, so K' = 1 (no roughness reduction) there",
)
#: Vegetation factor, flat-residue form COG = exp(-a SC), SC cover in % (Fryrear et al. 1998). The
#: 0.00483 seen in one circulated code lineage is a transcription error of this constant (METHODS 5).
COG_COEFFICIENT = 0.0438
#: Vegetation factor, canopy form COG = exp(-a cc^b), cc canopy cover as a fraction (Fryrear et al. 2000;
#: METHODS 5, used for standing vegetation in Chinese sand-fixation studies).
COG_CANOPY_COEFFICIENTS = (5.614, 0.7366)
#: Vegetation factor forms: "flat" residue (cover in %) or standing "canopy" (cover as a fraction).
COG_FORMS = ("flat", "canopy")
#: Maximum transport capacity Qmax = a x, x = WF EF SCF K' COG, kg/m (Fryrear et al. 1998).
QMAX_COEFFICIENT = 109.8
#: Critical field length s = a x^b, m (Fryrear et al. 1998). The 105.71 seen in one circulated code
#: lineage is a transcription error of this constant (METHODS 5).
S_COEFFICIENT = 150.71
S_EXPONENT = -0.3711
#: Downwind field length z (m), common in gridded studies.
FIELD_LENGTH_M = 50.0
#: 1 kg/m^2 = 10 t/ha (10,000 m2/ha / 1,000 kg/t).
KG_M2_TO_T_HA = 10.0
#: Loss forms: "point" the METHODS form SL = (2z/s^2) Qmax exp(-(z/s)^2) (loss rate at distance z);
#: "field_mean" the mean loss over the field, Q(z)/z = Qmax (1 - exp(-(z/s)^2)) / z.
LOSS_FORMS = ("point", "field_mean")
#: RWEQ periods of WF: "half_month" (days 1-15 and 16 to the month's end, 24 a year; Fryrear et al. 1998)
#: or "month".
RWEQ_PERIODS = ("half_month", "month")
HALF_MONTH_LAST_DAY = 15
#: Negative-service flag: 1 where the service is below zero (point form past its peak), 0 elsewhere.
SERVICE_NON_NEGATIVE, SERVICE_NEGATIVE = 0, 1
NEGATIVE_SERVICE_LEGEND = _flag_legend(
    "sand_fixation_negative", (SERVICE_NON_NEGATIVE, "service >= 0"), (SERVICE_NEGATIVE, "negative service", "#b2182b"),
    description="Cells where the RWEQ point form gives a negative sand-fixation service (bare-soil x past "
    "the form's peak, so thin cover raises the point loss)",
)


def wind_factor(
    speed: xr.DataArray,
    *,
    threshold: float = RWEQ_WIND_THRESHOLD,
    dim: str = "time",
    days_per_observation: float | None = None,
    height: float = RWEQ_WIND_HEIGHT_M,
    period_days: float | None = None,
) -> xr.DataArray:
    """RWEQ wind factor Wf = sum over observations of U (U - U1)^2 for U > U1, times Nd / N.

    ``speed`` in m/s measured at ``height`` m; other heights than 2 m are brought to 2 m by the FAO56
    log profile (eq. 47, :func:`dldd.indicators.pet.wind_speed_2m`). U1 ``threshold`` 5 m/s at 2 m.
    N = valid observations; Nd = days of the period WF stands for: ``period_days`` if given (e.g.
    365.25 for a mean annual WF from a record of any length), else the record's length = (all
    observations) x ``days_per_observation`` (inferred from a regular ``time`` coordinate if not given).
    Units (m/s)^3 d per Nd days. This is ONE period's Wf: RWEQ evaluates it per half-month and sums the
    period losses (the loss is not linear in WF, and an annual WF gives x far past the point form's peak):
    use :func:`wind_factor_by_period` for a record of winds.
    """
    need_dim(speed, dim, "speed")
    u = as_float(speed, "speed")
    if height != RWEQ_WIND_HEIGHT_M:
        u = wind_speed_2m(u, height)
    check_range(u, "speed", 0.0, None, "wind speed in m/s >= 0")
    if period_days is not None and period_days <= 0:
        raise InputError(f"period_days={period_days}; expected > 0")
    if period_days is None and days_per_observation is None:
        if u.sizes[dim] < 2 or not np.issubdtype(u[dim].dtype, np.datetime64):
            raise InputError(
                f"wind_factor: cannot infer the observation interval from {dim!r}; pass days_per_observation="
            )
        steps = np.diff(u[dim].values).astype("timedelta64[s]").astype(float) / 86400.0
        if not np.allclose(steps, steps[0]):
            raise InputError(
                f"wind_factor: {dim!r} steps range from {steps.min():g} to {steps.max():g} days (irregular); "
                "pass days_per_observation="
            )
        days_per_observation = float(steps[0])
    if period_days is None:
        if days_per_observation <= 0:
            raise InputError(f"days_per_observation={days_per_observation}; expected > 0")
        period_days = u.sizes[dim] * days_per_observation
    n_valid = u.notnull().sum(dim)
    term = (u * (u - threshold) ** 2).where(u > threshold, 0.0).where(u.notnull(), 0.0)
    wf = term.sum(dim) * period_days / n_valid.where(n_valid > 0)
    wf.attrs = output_attrs("m3 s-3 d", "RWEQ wind factor Wf", "sum U (U - U1)^2 [U > U1] x Nd / N",
                            f"threshold={threshold} m/s at 2 m, measured at {height:g} m, period {period_days:g} days",
                            REFERENCE_RWEQ)
    return wf


def period_starts(time, period: str = "half_month") -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Start of the RWEQ period of each datetime and the length (days) of that period.

    ``"half_month"``: days 1-15 (15 days) and 16 to the month's end (13-16 days); ``"month"``: the month.
    """
    if period not in RWEQ_PERIODS:
        raise InputError(f"period={period!r}; expected one of {RWEQ_PERIODS}")
    t = pd.DatetimeIndex(np.asarray(time))
    month_start = (t - pd.to_timedelta(t.day - 1, unit="D")).normalize()
    if period == "month":
        return month_start, np.asarray(t.days_in_month, dtype=float)
    second = np.asarray(t.day > HALF_MONTH_LAST_DAY)
    start = month_start + pd.to_timedelta(np.where(second, HALF_MONTH_LAST_DAY, 0), unit="D")
    days = np.where(second, np.asarray(t.days_in_month) - HALF_MONTH_LAST_DAY, HALF_MONTH_LAST_DAY)
    return start, days.astype(float)


def wind_factor_by_period(
    speed: xr.DataArray,
    *,
    period: str = "half_month",
    threshold: float = RWEQ_WIND_THRESHOLD,
    dim: str = "time",
    height: float = RWEQ_WIND_HEIGHT_M,
) -> xr.DataArray:
    """RWEQ wind factor per period: Wf_p = sum over the period's observations of U (U - U1)^2 x Nd_p / N_p.

    ``period`` "half_month" (RWEQ's 15-day periods, 24 a year) or "month"; Nd_p the period's days, N_p
    its valid observations (a period partly covered by the record is scaled to its full length; the
    coordinate ``coverage`` = N_p x step / Nd_p says how much of it was observed). ``speed`` in m/s at
    ``height`` m on a datetime ``dim``. Returns a new dimension ``period`` (start dates) with coordinates
    ``period_days`` and ``coverage``; units (m/s)^3 d per period, as :func:`wind_factor`.
    """
    need_dim(speed, dim, "speed")
    if not np.issubdtype(speed[dim].dtype, np.datetime64):
        raise InputError(f"wind_factor_by_period: {dim!r} is not a datetime coordinate")
    u = as_float(speed, "speed")
    if height != RWEQ_WIND_HEIGHT_M:
        u = wind_speed_2m(u, height)
    check_range(u, "speed", 0.0, None, "wind speed in m/s >= 0")
    start, days = period_starts(u[dim].values, period)
    step_days = (observation_step_hours(u[dim].values) or HOURS_PER_DAY) / HOURS_PER_DAY
    key = xr.DataArray(start.values, dims=dim, coords={dim: u[dim]}, name="period")
    term = (u * (u - threshold) ** 2).where(u > threshold, 0.0).where(u.notnull(), 0.0)
    sums = term.groupby(key).sum(dim)
    n_valid = u.notnull().groupby(key).sum(dim)
    length = pd.Series(days, index=start).groupby(level=0).first()
    period_days = xr.DataArray(length.reindex(pd.DatetimeIndex(sums["period"].values)).values, dims="period")
    wf = sums * period_days / n_valid.where(n_valid > 0)
    coverage = (n_valid * step_days / period_days).clip(max=1.0)
    wf = wf.assign_coords(period_days=period_days, coverage=coverage.max([d for d in coverage.dims if d != "period"]))
    wf.attrs = output_attrs("m3 s-3 d", f"RWEQ wind factor Wf per {period.replace('_', '-')} period",
                            "sum U (U - U1)^2 [U > U1] x Nd / N per period",
                            f"threshold={threshold} m/s at 2 m, measured at {height:g} m, period={period}",
                            REFERENCE_RWEQ)
    return wf


def annual_sum(per_period: xr.DataArray, *, dim: str = "period", periods_per_year: int | None = None) -> xr.DataArray:
    """Annual value = sum of the period values of each calendar year, averaged over the complete years.

    A year counts when it has ``periods_per_year`` periods (24 half-months or 12 months, inferred from
    the spacing of ``dim``); incomplete years are left out (their names in attrs "parameters") and a record
    without one complete year is refused. With one complete year the annual value IS the sum of its
    periods (NaN periods count as missing: a cell is NaN unless all its periods are known).
    """
    starts = pd.DatetimeIndex(per_period[dim].values)
    if periods_per_year is None:
        periods_per_year = 24 if (starts.day > 1).any() else 12
    years = starts.year
    counts = pd.Series(1, index=years).groupby(level=0).sum()
    complete = [int(y) for y, n in counts.items() if n == periods_per_year]
    if not complete:
        raise InputError(
            f"annual_sum: no complete year of {periods_per_year} periods in {starts.min():%Y-%m-%d} to "
            f"{starts.max():%Y-%m-%d}; an annual RWEQ loss needs every period of a year"
        )
    keep = np.isin(years, complete)
    sub = per_period.isel({dim: np.flatnonzero(keep)})
    year_key = xr.DataArray(years[keep], dims=dim, coords={dim: sub[dim]}, name="year")
    by_year = sub.groupby(year_key).sum(dim, skipna=False)
    out = by_year.mean("year")
    out.attrs = {**per_period.attrs, "long_name": per_period.attrs.get("long_name", "") + ", annual (sum of periods)",
                 "parameters": (per_period.attrs.get("parameters", "") + f"; annual = sum of {periods_per_year} periods, "
                                f"mean over years {complete}" + (f"; incomplete years left out: "
                                f"{sorted(set(counts.index) - set(complete))}" if len(complete) < len(counts) else ""))}
    return out


def air_density(temperature: xr.DataArray, elevation: xr.DataArray | float,
                *, coefficients: tuple[float, float, float, float] = AIR_DENSITY_COEFFICIENTS) -> xr.DataArray:
    """Air density rho = 348.0 (1.013 - 0.1183 EL + 0.0048 EL^2) / T, kg m-3 (Fryrear et al. 1998).

    ``temperature`` mean air temperature in degC (T = temperature + 273.15 K); ``elevation`` in m (EL in km).
    """
    t = as_float(temperature, "temperature") + KELVIN_OFFSET
    el = (elevation if isinstance(elevation, xr.DataArray) else xr.DataArray(float(elevation))) / METRES_PER_KM
    a, b, c, d = coefficients
    rho = a * (b + c * el + d * el**2) / t
    rho.attrs = output_attrs("kg m-3", "air density", "A (B + C EL + D EL^2) / T", f"coefficients={coefficients}",
                             REFERENCE_RWEQ)
    return rho


def soil_wetness_factor(pet: xr.DataArray, precipitation: xr.DataArray, rain_days: xr.DataArray | float,
                        days: xr.DataArray | float, *, irrigation: xr.DataArray | float = 0.0) -> xr.DataArray:
    """Soil wetness SW = (ETp - (R + I) Rd / Nd) / ETp, clipped to [0, 1] (Fryrear et al. 1998).

    ETp potential evapotranspiration (mm), R rainfall and I irrigation (mm), Rd days with rain or
    irrigation and Nd days in the period. ETp must be > 0.
    """
    pet = as_float(pet, "pet")
    check_range(pet, "pet", np.finfo(float).tiny, None, "potential evapotranspiration > 0 mm")
    sw = ((pet - (precipitation + irrigation) * rain_days / days) / pet).clip(0.0, 1.0)
    sw.attrs = output_attrs("1", "RWEQ soil wetness factor", "(ETp - (R + I) Rd / Nd) / ETp, clipped to [0, 1]", "",
                            REFERENCE_RWEQ)
    return sw


def snow_cover_factor(snow_share: xr.DataArray | float) -> xr.DataArray:
    """Snow cover factor SD = 1 - P(snow depth > 25.4 mm) (Fryrear et al. 1998).

    ``snow_share``: fraction of the period with snow deeper than :data:`SNOW_DEPTH_THRESHOLD_MM`.
    """
    share = snow_share if isinstance(snow_share, xr.DataArray) else xr.DataArray(float(snow_share))
    share = share.astype(float)
    check_range(share, "snow_share", 0.0, 1.0, "a fraction in [0, 1]")
    sd = 1.0 - share
    sd.attrs = output_attrs("1", "RWEQ snow cover factor",
                            f"1 - share of time with snow depth > {SNOW_DEPTH_THRESHOLD_MM} mm", "", REFERENCE_RWEQ)
    return sd


def weather_factor(wind_factor: xr.DataArray, air_density: xr.DataArray | float, *,
                   soil_wetness: xr.DataArray | float = 1.0, snow_factor: xr.DataArray | float = 1.0,
                   gravity: float = GRAVITY) -> xr.DataArray:
    """RWEQ weather factor WF = Wf (rho / g) SW SD (Fryrear et al. 1998), nominally kg/m per period.

    ``wind_factor`` from :func:`wind_factor` ((m/s)^3 d), ``air_density`` kg m-3, ``soil_wetness`` SW and
    ``snow_factor`` SD in [0, 1] (1 = dry, snow-free: the defaults, recorded in attrs).
    """
    wf = as_float(wind_factor, "wind_factor") * air_density / gravity * soil_wetness * snow_factor
    notes = []
    for name, v in (("soil_wetness", soil_wetness), ("snow_factor", snow_factor)):
        notes.append(f"{name}={'given' if isinstance(v, xr.DataArray) else v}")
    wf.attrs = output_attrs("kg m-1", "RWEQ weather factor WF (per period of Wf)", "Wf rho / g SW SD",
                            f"g={gravity}, " + ", ".join(notes), REFERENCE_RWEQ)
    return wf


def erodible_fraction(sand: xr.DataArray, silt: xr.DataArray, clay: xr.DataArray,
                      organic_matter: xr.DataArray, caco3: xr.DataArray | float = 0.0, *,
                      coefficients: tuple[float, ...] = EF_COEFFICIENTS, clip: bool = True) -> xr.DataArray:
    """EF = (29.09 + 0.31 Sa + 0.17 Si + 0.33 Sa/Cl - 2.59 OM - 0.95 CaCO3) / 100 (RWEQ).

    Sand, silt, clay, organic matter and calcium carbonate in %. EF is a fraction: ``clip`` (default)
    limits it to [0, 1]; clay 0 with sand > 0 gives EF = 1 (the Sa/Cl term diverges).
    """
    sa, si, cl = (as_float(v, n) for v, n in ((sand, "sand"), (silt, "silt"), (clay, "clay")))
    om = as_float(organic_matter, "organic_matter")
    for v, n in ((sa, "sand"), (si, "silt"), (cl, "clay"), (om, "organic_matter")):
        check_range(v, n, 0.0, 100.0, "percent in [0, 100]")
    a, b, c, d, e, f = coefficients
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = sa / cl
    ef = (a + b * sa + c * si + d * ratio - e * om - f * caco3) / 100.0
    if clip:
        ef = ef.clip(0.0, 1.0)
    ef.attrs = output_attrs("1", "RWEQ erodible fraction EF", "(a + b Sa + c Si + d Sa/Cl - e OM - f CaCO3) / 100",
                            f"coefficients={coefficients}, clip={clip}", REFERENCE_RWEQ)
    return ef


def crust_factor(clay: xr.DataArray, organic_matter: xr.DataArray, *,
                 coefficients: tuple[float, float] = SCF_COEFFICIENTS) -> xr.DataArray:
    """Soil crust factor SCF = 1 / (1 + 0.0066 Cl^2 + 0.021 OM^2), Cl and OM in % (Fryrear et al. 1998)."""
    cl = as_float(clay, "clay")
    om = as_float(organic_matter, "organic_matter")
    a, b = coefficients
    scf = 1.0 / (1.0 + a * cl**2 + b * om**2)
    scf.attrs = output_attrs("1", "RWEQ soil crust factor SCF", "1 / (1 + a Cl^2 + b OM^2)",
                             f"coefficients={coefficients}", REFERENCE_RWEQ)
    return scf


def roughness_factor(ridge_roughness: xr.DataArray | float = 0.0, random_roughness: xr.DataArray | float = 0.0, *,
                     coefficients: tuple[float, float, float, float] = K_ROUGHNESS_COEFFICIENTS) -> xr.DataArray:
    """Surface roughness factor K' = exp(1.86 Kr - 2.41 Kr^0.934 - 0.127 Crr), Kr, Crr in cm (RWEQ).

    Smooth surface (Kr = Crr = 0) gives K' = 1.
    """
    kr = ridge_roughness if isinstance(ridge_roughness, xr.DataArray) else xr.DataArray(float(ridge_roughness))
    crr = random_roughness if isinstance(random_roughness, xr.DataArray) else xr.DataArray(float(random_roughness))
    a, b, c, d = coefficients
    k = np.exp(a * kr + b * kr**c + d * crr)
    k.attrs = output_attrs("1", "RWEQ surface roughness factor K'", "exp(a Kr + b Kr^c + d Crr)",
                           f"coefficients={coefficients}", REFERENCE_RWEQ)
    return k


def terrain_ridge_roughness(elevation_difference: xr.DataArray | float, distance: xr.DataArray | float) -> xr.DataArray:
    """Ridge roughness from terrain Kr = 0.2 dH^2 / L (METHODS 5), dH and L in metres, Kr returned in cm.

    dH the elevation difference over the horizontal distance L (e.g. max - min elevation within a
    window of width L). Both are converted to cm before the formula (Kr = 0.2 dH_cm^2 / L_cm); feed Kr
    to :func:`roughness_factor`. RWEQ's K' was fitted to tillage ridges of a few cm: K' falls to its
    minimum near Kr = 18 cm, returns to 1 near Kr = 51 cm and grows without bound beyond, so terrain
    roughness outside that range is extrapolation (the output's attrs say so).
    """
    dh = elevation_difference if isinstance(elevation_difference, xr.DataArray) else xr.DataArray(float(elevation_difference))
    length = distance if isinstance(distance, xr.DataArray) else xr.DataArray(float(distance))
    dh, length = as_float(dh, "elevation_difference"), as_float(length, "distance")
    check_range(dh, "elevation_difference", 0.0, None, "an elevation difference >= 0 m")
    check_range(length, "distance", np.finfo(float).tiny, None, "a distance > 0 m")
    kr = TERRAIN_KR_COEFFICIENT * (dh * CM_PER_M) ** 2 / (length * CM_PER_M)
    kr.attrs = output_attrs("cm", "RWEQ ridge roughness from terrain Kr", "0.2 dH^2 / L (dH, L in cm)",
                            "K' is fitted to tillage ridges of a few cm; beyond about 51 cm it exceeds 1 and grows "
                            "fast", REFERENCE_RWEQ)
    return kr


def roughness_factor_upper_kr(coefficients: tuple[float, float, float, float] = K_ROUGHNESS_COEFFICIENTS) -> float:
    """Kr (cm) > 0 at which the fitted K' = exp(a Kr + b Kr^c) returns to 1: Kr = (-b / a)^(1 / (1 - c)).

    50.65 cm with the published coefficients (K' < 1 below, minimum 0.094 at Kr = 18.0 cm, K' > 1 and
    growing without bound beyond: extrapolation of a form fitted to tillage ridges).
    """
    a, b, c, _ = coefficients
    return float((-b / a) ** (1.0 / (1.0 - c)))


def terrain_relief(elevation: xr.DataArray, *, window: int = TERRAIN_WINDOW_CELLS) -> xr.DataArray:
    """dH: elevation range (max - min, m) within the ``window`` x ``window`` cells centred on each cell.

    ``elevation`` in m on a (y, x) grid. At the grid's edge and next to missing cells the window holds
    the cells it has (the DEM edge-padded, as Talukdar et al. 2022); a missing centre cell stays NaN.
    """
    if int(window) != window or window < 3 or window % 2 == 0:
        raise InputError(f"terrain window={window}; expected an odd number of cells >= 3")
    elevation = as_float(elevation, "elevation")
    for dim in ("y", "x"):
        need_dim(elevation, dim, "elevation")
    roll = dict(y=int(window), x=int(window), center=True, min_periods=1)
    dh = (elevation.rolling(**roll).max() - elevation.rolling(**roll).min()).where(elevation.notnull())
    dh.attrs = output_attrs("m", "elevation range within the window", f"max - min over {window} x {window} cells",
                            f"window={window} cells", REFERENCE_TERRAIN_KR)
    return dh


def terrain_roughness_factor(elevation: xr.DataArray, cell_size: xr.DataArray | float, *,
                             window: int = TERRAIN_WINDOW_CELLS) -> xr.Dataset:
    """RWEQ K' from a DEM: Kr = 0.2 dH^2 / L (cm), K' = :func:`roughness_factor` (Kr), capped at 1.

    dH = :func:`terrain_relief` (range of ``elevation``, m, within ``window`` x ``window`` cells), L =
    (window - 1) x ``cell_size`` (m; per cell or one number), as Talukdar et al. (2022). Domain policy:
    where Kr exceeds :func:`roughness_factor_upper_kr` (50.65 cm) the fitted K' would exceed 1; there K'
    = 1 (terrain gives no reduction) and ``k_capped`` = :data:`K_CAPPED` (int8, CLASS_NODATA where no
    elevation). Never a K' > 1. Returns ``kr`` (cm), ``k_roughness`` (1) and ``k_capped``.
    """
    dh = terrain_relief(elevation, window=window)
    length = (window - 1) * (cell_size if isinstance(cell_size, xr.DataArray) else xr.DataArray(float(cell_size)))
    kr = terrain_ridge_roughness(dh, length)
    upper = roughness_factor_upper_kr()
    capped = kr > upper
    fitted = roughness_factor(kr.where(~capped))  # the fit is not evaluated past its domain (exp overflows)
    k = xr.where(capped, 1.0, fitted).where(kr.notnull())
    k.attrs = output_attrs("1", "RWEQ surface roughness factor K' from terrain",
                           f"exp(1.86 Kr - 2.41 Kr^0.934), Kr = 0.2 dH^2 / L; K' = 1 where Kr > {upper:.2f} cm",
                           f"window={window} cells, L = {window - 1} cell sizes, Crr = 0", REFERENCE_TERRAIN_KR)
    flag = _flag(capped, kr.notnull(), K_WITHIN_FIT, K_CAPPED,
                 output_attrs("1", "K' capped at 1 (terrain Kr beyond the fitted form's domain)", f"Kr > {upper:.2f} cm",
                              k.attrs["parameters"], REFERENCE_TERRAIN_KR, legend=K_CAPPED_LEGEND))
    return xr.Dataset({"kr": kr, "k_roughness": k, "k_capped": flag})


def vegetation_factor(cover: xr.DataArray, *, form: str = "flat",
                      coefficient: float | xr.DataArray | None = None, exponent: float | None = None) -> xr.DataArray:
    """RWEQ vegetation factor COG from cover whose attrs declare ``units`` ("%" or "1"/"fraction").

    ``form="flat"`` (flat residue, Fryrear et al. 1998): COG = exp(-a SC), SC cover in %, a = 0.0438.
    ``form="canopy"`` (standing vegetation, Fryrear et al. 2000): COG = exp(-a cc^b), cc cover as a
    fraction, a = 5.614, b = 0.7366. The cover is converted from its declared units to what the form
    needs; a cover without units (or other units) is refused: a fraction 0.3 read as 0.3 % would give
    COG 0.987. ``coefficient`` replaces a (a scalar, or a DataArray per cell for coefficients per
    vegetation type, see :func:`coefficient_by_class`); ``exponent`` replaces b (canopy form).
    """
    if form not in COG_FORMS:
        raise InputError(f"vegetation_factor: form={form!r}; expected one of {COG_FORMS}")
    if form == "flat":
        a = COG_COEFFICIENT if coefficient is None else coefficient
        cog = np.exp(-a * cover_in(cover, "%", "vegetation_factor"))
        method, params = "exp(-a SC), SC cover in %", f"a={_describe(a)}"
    else:
        a0, b0 = COG_CANOPY_COEFFICIENTS
        a = a0 if coefficient is None else coefficient
        b = b0 if exponent is None else exponent
        cog = np.exp(-a * cover_in(cover, "1", "vegetation_factor") ** b)
        method, params = "exp(-a cc^b), cc canopy cover fraction", f"a={_describe(a)}, b={b}"
    cog.attrs = output_attrs("1", f"RWEQ vegetation factor COG ({form} form)", method,
                             f"{params}, cover units {cover.attrs['units']}", REFERENCE_RWEQ)
    return cog


def _describe(v) -> str:
    return "per cell (by vegetation type)" if isinstance(v, xr.DataArray) else f"{v:g}"


def coefficient_by_class(classes: xr.DataArray, coefficients: dict[int, float]) -> xr.DataArray:
    """Per-cell COG coefficient from a class map (e.g. land cover) and a ``{code: coefficient}`` table.

    Lets studies that fit a coefficient per vegetation type pass them to :func:`vegetation_factor`
    (``coefficient=``); dldd ships no such table (a study's own fitted values, with their source, are
    expected). Codes without a coefficient give NaN (their COG is undefined).
    """
    if not coefficients:
        raise InputError("coefficient_by_class: empty coefficient table")
    out = xr.full_like(classes, np.nan, dtype=float)
    for code, value in coefficients.items():
        out = xr.where(classes == code, float(value), out)
    out.attrs = output_attrs("1", "COG coefficient by vegetation type",
                             parameters=", ".join(f"{k}: {v:g}" for k, v in coefficients.items()))
    return out


def rweq_soil_loss(
    wf: xr.DataArray, ef: xr.DataArray, scf: xr.DataArray, k_prime: xr.DataArray | float, cog: xr.DataArray | float,
    *,
    field_length: float = FIELD_LENGTH_M,
    qmax_coefficient: float = QMAX_COEFFICIENT,
    s_coefficient: float = S_COEFFICIENT,
    s_exponent: float = S_EXPONENT,
    loss: str = "point",
) -> xr.Dataset:
    """RWEQ transport and soil loss (Fryrear et al. 1998).

    x = WF EF SCF K' COG; Qmax = 109.8 x (kg/m); s = 150.71 x^-0.3711 (m); soil loss at z:
    ``loss="point"`` (METHODS) SL = (2 z / s^2) Qmax exp(-(z/s)^2), or ``"field_mean"`` Qmax (1 -
    exp(-(z/s)^2)) / z. kg m-2 per period of WF (x 10 for t/ha, :data:`KG_M2_TO_T_HA`).

    Caution: the point form is not monotonic in x. It rises with x while (z/s)^2 < (1 - 2b)/(-2b)
    (b = ``s_exponent``; z/s < 1.532 with the defaults, x < about 62 for z = 50 m) and falls beyond, so
    there more cover (smaller COG) *raises* the point loss; see :func:`point_loss_peak_x`. The field-mean
    form is monotonic everywhere. Returns a Dataset with ``qmax``, ``s`` and ``soil_loss``.
    """
    if loss not in LOSS_FORMS:
        raise InputError(f"loss={loss!r}; expected one of {LOSS_FORMS}")
    if field_length <= 0:
        raise InputError(f"field_length={field_length}; expected > 0 m")
    x = as_float(wf, "wf") * ef * scf * k_prime * cog
    qmax = qmax_coefficient * x
    with np.errstate(divide="ignore"):
        s = s_coefficient * x.where(x > 0) ** s_exponent
    ratio2 = (field_length / s) ** 2
    if loss == "point":
        sl = (2.0 * field_length / s**2) * qmax * np.exp(-ratio2)
    else:
        sl = qmax * (1.0 - np.exp(-ratio2)) / field_length
    sl = xr.where(x == 0, 0.0, sl).where(x.notnull())
    params = (f"z={field_length} m, Qmax={qmax_coefficient} x, s={s_coefficient} x^{s_exponent}, loss={loss}")
    qmax.attrs = output_attrs("kg m-1", "RWEQ maximum transport capacity Qmax", "a (WF EF SCF K' COG)", params,
                              REFERENCE_RWEQ)
    s.attrs = output_attrs("m", "RWEQ critical field length s", "b (WF EF SCF K' COG)^c", params, REFERENCE_RWEQ)
    sl.attrs = output_attrs("kg m-2", "RWEQ wind erosion soil loss (per period of WF)",
                            "(2 z / s^2) Qmax exp(-(z/s)^2)" if loss == "point" else "Qmax (1 - exp(-(z/s)^2)) / z",
                            params, REFERENCE_RWEQ)
    return xr.Dataset({"qmax": qmax, "s": s, "soil_loss": sl})


def point_loss_peak_x(*, field_length: float = FIELD_LENGTH_M, s_coefficient: float = S_COEFFICIENT,
                      s_exponent: float = S_EXPONENT) -> float:
    """x = WF EF SCF K' COG at which the point-form soil loss peaks: s = z sqrt(-2b / (1 - 2b)).

    61.7 kg/m for z = 50 m with the published constants (the peak moves with z). Below it SL rises with
    x; beyond it SL falls, so a bare-soil x0 past the peak makes the sand-fixation service negative at
    low cover (x0 = 100: below about 23.5 % flat-residue cover; x0 above about 319: at every cover).
    """
    s_peak = field_length * np.sqrt(-2.0 * s_exponent / (1.0 - 2.0 * s_exponent))
    return float((s_peak / s_coefficient) ** (1.0 / s_exponent))


def sand_fixation(
    wf: xr.DataArray, ef: xr.DataArray, scf: xr.DataArray, k_prime: xr.DataArray | float, cover: xr.DataArray,
    *,
    cog_form: str = "flat",
    cog_coefficient: float | xr.DataArray | None = None,
    field_length: float = FIELD_LENGTH_M,
    qmax_coefficient: float = QMAX_COEFFICIENT,
    s_coefficient: float = S_COEFFICIENT,
    s_exponent: float = S_EXPONENT,
    loss: str = "point",
) -> xr.Dataset:
    """Sand-fixation service = potential soil loss (COG = 1, bare) - actual soil loss (COG from cover).

    ``cover`` vegetation cover with declared units ("%" or "1"), turned into COG by
    :func:`vegetation_factor` (``cog_form`` "flat" or "canopy", ``cog_coefficient``). ``wf`` is the
    weather factor of ONE period (add a ``period`` dimension for a record and sum with
    :func:`annual_sum`). Returns ``potential_loss``, ``actual_loss``, ``sand_fixation`` (kg m-2 per
    period of WF; x 10 for t/ha) and ``negative_service`` (:func:`negative_service_flag`).

    With ``loss="point"`` the service is negative where the bare-soil x0 = WF EF SCF K' lies past the
    point form's peak :func:`point_loss_peak_x` and the cover is too thin to bring x0 COG back below it:
    a property of the published point form, not of vegetation. It is kept (not clipped) and flagged;
    ``loss="field_mean"`` is monotone in x and never negative.
    """
    kw = dict(field_length=field_length, qmax_coefficient=qmax_coefficient, s_coefficient=s_coefficient,
              s_exponent=s_exponent, loss=loss)
    cog = vegetation_factor(cover, form=cog_form, coefficient=cog_coefficient)
    potential = rweq_soil_loss(wf, ef, scf, k_prime, 1.0, **kw)["soil_loss"]
    actual = rweq_soil_loss(wf, ef, scf, k_prime, cog, **kw)["soil_loss"]
    service = potential - actual
    params = (f"COG {cog_form} form ({cog.attrs['parameters']}), z={field_length} m, Qmax={qmax_coefficient} x, "
              f"s={s_coefficient} x^{s_exponent}, loss={loss}")
    potential.attrs = output_attrs("kg m-2", "potential wind erosion (no vegetation, COG = 1)", "RWEQ", params,
                                   REFERENCE_RWEQ)
    actual.attrs = output_attrs("kg m-2", "actual wind erosion", "RWEQ", params, REFERENCE_RWEQ)
    service.attrs = output_attrs("kg m-2", "sand-fixation service (potential - actual wind erosion)",
                                 "RWEQ potential minus actual soil loss", params, REFERENCE_RWEQ)
    return xr.Dataset({"potential_loss": potential, "actual_loss": actual, "sand_fixation": service,
                       "negative_service": negative_service_flag(service)})


def negative_service_flag(service: xr.DataArray) -> xr.DataArray:
    """int8 flag (:data:`NEGATIVE_SERVICE_LEGEND`): 1 where the sand-fixation service < 0, 0 where >= 0.

    CLASS_NODATA where the service is NaN. A negative service comes from the point form's peak (see
    :func:`sand_fixation`); the pipeline reports the share of area flagged.
    """
    return _flag(service < 0, service.notnull(), SERVICE_NON_NEGATIVE, SERVICE_NEGATIVE,
                 output_attrs("1", "negative sand-fixation service (point form past its peak)", "service < 0",
                              service.attrs.get("parameters", ""), REFERENCE_RWEQ, legend=NEGATIVE_SERVICE_LEGEND))


def _flag(condition: xr.DataArray, valid: xr.DataArray, off: int, on: int, attrs: dict) -> xr.DataArray:
    """int8 flag map: ``on`` where ``condition``, ``off`` elsewhere, CLASS_NODATA where not ``valid``."""
    flag = xr.where(valid, xr.where(condition, np.int8(on), np.int8(off)), np.int8(CLASS_NODATA)).astype(np.int8)
    flag.attrs = attrs
    return flag


def kg_m2_to_t_ha(da: xr.DataArray) -> xr.DataArray:
    """Convert kg m-2 to t ha-1 (x :data:`KG_M2_TO_T_HA` = 10), keeping attrs with new units."""
    if da.attrs.get("units") not in (None, "kg m-2"):
        raise InputError(f"kg_m2_to_t_ha: input units {da.attrs.get('units')!r}; expected 'kg m-2'")
    out = da * KG_M2_TO_T_HA
    out.attrs = {**da.attrs, "units": "t ha-1"}
    return out
