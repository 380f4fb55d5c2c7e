"""Wind and sand: Fryberger sand drift potential, and RWEQ wind erosion with the sand-fixation service.

METHODS section 5.

Drift potential (Fryberger 1979). Each wind observation with speed U (knots, 10 m) above the threshold
Ut contributes q = U^2 (U - Ut) t, t its share of the time (equal shares 1/N over the N valid
observations unless given). DP = sum q, in vector units (VU). Fryberger tabulated t in percent with the
weighting factor U^2 (U - Ut) / 100; with t as a fraction the two are the same number. The drift of an
observation points *toward* where the wind goes: wind direction is meteorological (where the wind
comes FROM, degrees clockwise from north), so drift goes toward direction + 180. The vector sum over
16 direction sectors (Fryberger) or over the exact directions gives the resultant drift potential RDP
and the resultant drift direction RDD = atan2(sum q sin(theta_to), sum q cos(theta_to)), degrees
clockwise from north toward which sand drifts. RDP/DP measures directional variability.

RWEQ (Revised Wind Erosion Equation; Fryrear et al. 1998, 2000), as used in gridded sand-fixation
studies (e.g. Gong et al. 2014): WF weather factor, EF erodible fraction, SCF crust factor, K' roughness,
COG vegetation factor; Qmax = 109.8 (WF EF SCF K' COG) kg/m; s = 150.71 (WF EF SCF K' COG)^-0.3711 m;
soil loss at the downwind distance z: SL = (2 z / s^2) Qmax exp(-(z/s)^2) kg/m^2 per period of WF.
Sand fixation = SL with COG = 1 (bare, potential) minus SL with the actual cover.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from dldd.core.legend import Legend
from dldd.errors import InputError
from dldd.indicators.aridity import wind_speed_2m
from dldd.indicators.sensitivity import class_raster

REFERENCE_FRYBERGER = (
    "Fryberger S.G. (1979) Dune forms and wind regime. In: McKee E.D. (ed.) A study of global sand seas. "
    "USGS Professional Paper 1052, 137-169."
)
REFERENCE_RWEQ = (
    "Fryrear D.W., Saleh A., Bilbro J.D., Schomberg H.M., Stout J.E., Zobeck T.M. (1998) Revised Wind "
    "Erosion Equation (RWEQ). USDA-ARS Technical Bulletin 1; Fryrear D.W., Bilbro J.D., Saleh A., "
    "Schomberg H., Stout J.E., Zobeck T.M. (2000) RWEQ: improved wind erosion technology. J. Soil Water "
    "Conserv. 55(2), 183-189."
)

# ---- Drift potential (Fryberger 1979) ----

#: Metres per second to knots: 1 m/s = 3600 / 1852 kn.
MS_TO_KNOTS = 1.943844
#: Units accepted for wind speed and their factor to knots.
SPEED_UNITS_TO_KNOTS = {"m/s": MS_TO_KNOTS, "m s-1": MS_TO_KNOTS, "knots": 1.0, "kn": 1.0, "kt": 1.0}
#: Threshold wind speed for sand transport, knots at 10 m (Fryberger 1979 convention).
THRESHOLD_KNOTS = 12.0
#: Number of direction sectors of Fryberger's sand roses.
N_DIRECTIONS = 16
FULL_CIRCLE = 360.0
HALF_CIRCLE = 180.0
#: RDD is undefined (NaN) where RDP <= this fraction of DP (perfectly balanced or no drift).
RDD_UNDEFINED_RTOL = 1e-9

#: Energy classes on DP (Fryberger 1979; METHODS 5): low < 200 VU, intermediate 200-399, high >= 400.
DP_LOW_UPPER = 200.0
DP_HIGH_LOWER = 400.0
ENERGY_LOW, ENERGY_INTERMEDIATE, ENERGY_HIGH = 1, 2, 3
DP_ENERGY_LEGEND = Legend.from_pairs(
    "dp_energy",
    [(ENERGY_LOW, "low energy", "#fee8c8"), (ENERGY_INTERMEDIATE, "intermediate energy", "#fdbb84"),
     (ENERGY_HIGH, "high energy", "#e34a33")],
    description="Wind energy environment by sand drift potential (Fryberger 1979): low < 200 VU, "
    "intermediate 200-399 VU, high >= 400 VU",
)

# ---- RWEQ (Fryrear et al. 1998) ----

#: Threshold wind speed of RWEQ's wind factor, m/s at 2 m (Fryrear et al. 1998).
RWEQ_WIND_THRESHOLD = 5.0
#: Height of RWEQ's wind speeds, m.
RWEQ_WIND_HEIGHT_M = 2.0
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
#: Vegetation factor COG = exp(-a SC), SC cover in % (Fryrear et al. 1998, flat residue). Some published
#: code uses a = 0.00483 (documented alternative: pass ``coefficient=COG_COEFFICIENT_ALT``).
COG_COEFFICIENT = 0.0438
COG_COEFFICIENT_ALT = 0.00483
#: Maximum transport capacity Qmax = a x, x = WF EF SCF K' COG, kg/m (Fryrear et al. 1998).
QMAX_COEFFICIENT = 109.8
#: Critical field length s = a x^b, m (Fryrear et al. 1998). Alternative constant in some code: 105.71.
S_COEFFICIENT = 150.71
S_COEFFICIENT_ALT = 105.71
S_EXPONENT = -0.3711
#: Downwind field length z (m), common in gridded studies.
FIELD_LENGTH_M = 50.0
#: 1 kg/m^2 = 10 t/ha (10,000 m2/ha / 1,000 kg/t).
KG_M2_TO_T_HA = 10.0
#: Loss forms: "point" the METHODS form SL = (2z/s^2) Qmax exp(-(z/s)^2) (loss rate at distance z);
#: "field_mean" the mean loss over the field, Q(z)/z = Qmax (1 - exp(-(z/s)^2)) / z.
LOSS_FORMS = ("point", "field_mean")


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def _as_float(da, name: str) -> xr.DataArray:
    if not isinstance(da, xr.DataArray):
        raise InputError(f"{name}: expected an xarray.DataArray, found {type(da).__name__}")
    return da.astype(float)


def _check_range(da: xr.DataArray, name: str, lo: float | None, hi: float | None, what: str) -> None:
    """Raise InputError when finite values of a numpy-backed array leave [lo, hi] (dask: not checked)."""
    if da.chunks is not None or da.size == 0:
        return
    vals = np.asarray(da.values, dtype=float)
    vals = vals[np.isfinite(vals)]
    if vals.size and ((lo is not None and vals.min() < lo) or (hi is not None and vals.max() > hi)):
        raise InputError(f"{name}: values range from {vals.min():g} to {vals.max():g}; expected {what}")


def _need_dim(da: xr.DataArray, dim: str, name: str) -> None:
    if dim not in da.dims:
        raise InputError(f"{name}: no {dim!r} dimension (dimensions {tuple(da.dims)}); pass dim=")


def to_knots(speed: xr.DataArray, units: str) -> xr.DataArray:
    """Wind speed in knots from ``units`` ("m/s" x :data:`MS_TO_KNOTS`, or "knots")."""
    if units not in SPEED_UNITS_TO_KNOTS:
        raise InputError(f"speed units {units!r}; expected one of {sorted(SPEED_UNITS_TO_KNOTS)}")
    speed = _as_float(speed, "speed")
    _check_range(speed, "speed", 0.0, None, "wind speed >= 0")
    return speed * SPEED_UNITS_TO_KNOTS[units]


def wind_from_uv(u: xr.DataArray, v: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """Speed and meteorological direction (where the wind comes FROM) from u (eastward), v (northward).

    speed = hypot(u, v); direction = atan2(-u, -v) in degrees clockwise from north, [0, 360); NaN for
    calm (speed 0). Speed keeps the units of u and v.
    """
    u = _as_float(u, "u")
    v = _as_float(v, "v")
    speed = np.hypot(u, v)
    direction = (np.rad2deg(np.arctan2(-u, -v)) % FULL_CIRCLE).where(speed > 0)
    speed.attrs = {"units": u.attrs.get("units", ""), "long_name": "wind speed", "method": "hypot(u, v)",
                   "parameters": "", "references": ""}
    direction.attrs = {"units": "degree", "long_name": "wind direction (from, clockwise from north)",
                       "method": "atan2(-u, -v), meteorological convention", "parameters": "", "references": ""}
    return speed, direction


def _drift_terms(speed, direction, units, threshold_knots, dim, time_share):
    """Per observation: drift q = U^2 (U - Ut) t (0 below threshold) and the drift direction (toward)."""
    _need_dim(speed, dim, "speed")
    _need_dim(direction, dim, "direction")
    if threshold_knots < 0:
        raise InputError(f"threshold_knots={threshold_knots}; expected >= 0")
    kn = to_knots(speed, units)
    direction = _as_float(direction, "direction")
    _check_range(direction, "direction", 0.0, FULL_CIRCLE, "degrees clockwise from north in [0, 360]")
    above = kn > threshold_knots
    # An observation counts if its speed is known and, when it moves sand, its direction too.
    valid = kn.notnull() & (direction.notnull() | ~above)
    if time_share is None:
        n_valid = valid.sum(dim)
        t = xr.where(valid, 1.0, 0.0) / n_valid.where(n_valid > 0)
        share_note = "t = 1/N over valid observations"
    else:
        t = _as_float(time_share, "time_share")
        _need_dim(t, dim, "time_share")
        _check_range(t, "time_share", 0.0, None, "time shares >= 0")
        t = t.where(valid, 0.0)
        share_note = "t given"
    weight = (kn**2 * (kn - threshold_knots)).where(above & valid, 0.0)
    q = weight * t
    toward = ((direction + HALF_CIRCLE) % FULL_CIRCLE).where(above & valid, 0.0)
    return q, toward, valid, share_note


def _sector_index(direction_from: xr.DataArray, n_directions: int) -> xr.DataArray:
    """Sector k = round(direction / width) mod n (sector centres at k * width, north = 0)."""
    width = FULL_CIRCLE / n_directions
    return (np.floor((direction_from + width / 2) / width) % n_directions).astype(float)


def drift_by_direction(
    speed: xr.DataArray,
    direction: xr.DataArray,
    *,
    units: str = "m/s",
    threshold_knots: float = THRESHOLD_KNOTS,
    dim: str = "time",
    n_directions: int = N_DIRECTIONS,
    time_share: xr.DataArray | None = None,
) -> xr.DataArray:
    """Drift potential per wind-direction sector (VU), new dimension ``direction`` (sector centres, FROM).

    A direction falls in the sector whose centre is nearest (a direction exactly half-way goes to the
    clockwise sector). The sum over ``direction`` is DP. Arguments as :func:`drift_potential`.
    """
    if int(n_directions) < 1:
        raise InputError(f"n_directions={n_directions}; expected a positive integer (16 as Fryberger)")
    n_directions = int(n_directions)
    q, toward, _, share_note = _drift_terms(speed, direction, units, threshold_knots, dim, time_share)
    sector = _sector_index((toward - HALF_CIRCLE) % FULL_CIRCLE, n_directions)
    parts = [q.where(sector == k, 0.0).sum(dim) for k in range(n_directions)]
    centres = np.arange(n_directions) * (FULL_CIRCLE / n_directions)
    out = xr.concat(parts, dim=xr.DataArray(centres, dims="direction", name="direction"))
    out["direction"].attrs = {"units": "degree", "long_name": "wind direction sector centre (from)"}
    out.attrs = {
        "units": "VU", "long_name": "sand drift potential by wind direction sector",
        "method": "sum of U^2 (U - Ut) t per sector, U in knots",
        "parameters": f"threshold_knots={threshold_knots}, units={units}, n_directions={n_directions}, {share_note}",
        "references": REFERENCE_FRYBERGER,
    }
    return out


def drift_potential(
    speed: xr.DataArray,
    direction: xr.DataArray,
    *,
    units: str = "m/s",
    threshold_knots: float = THRESHOLD_KNOTS,
    dim: str = "time",
    n_directions: int | None = N_DIRECTIONS,
    time_share: xr.DataArray | None = None,
) -> xr.Dataset:
    """Fryberger (1979) sand drift potential from wind speed and direction series along ``dim``.

    ``speed`` in ``units`` ("m/s", converted by :data:`MS_TO_KNOTS`, or "knots"), at 10 m. ``direction``
    where the wind comes FROM, degrees clockwise from north. ``threshold_knots`` Ut (12 kn). The vector
    sum uses the centres of ``n_directions`` sectors (16, Fryberger) or, with ``n_directions=None``, the
    exact directions. ``time_share`` t per observation (same dims as speed); default 1/N over the valid
    observations, N counting calms and observations below threshold (a direction is only needed above
    threshold). DP is then the mean per the period one share of 1 stands for (e.g. per year when the
    record is a whole number of years; group by year for annual values).

    Returns a Dataset: ``dp`` (VU), ``rdp`` (VU), ``rdd`` (degrees toward which sand drifts, [0, 360),
    NaN where RDP = 0), ``rdp_dp`` (1, NaN where DP = 0), ``dp_class`` (int8, :data:`DP_ENERGY_LEGEND`)
    and ``n_obs`` (valid observations).
    """
    q, toward, valid, share_note = _drift_terms(speed, direction, units, threshold_knots, dim, time_share)
    dp = q.sum(dim)
    if n_directions is None:
        theta = np.deg2rad(toward)
        east = (q * np.sin(theta)).sum(dim)
        north = (q * np.cos(theta)).sum(dim)
        mode = "exact directions"
    else:
        by_dir = drift_by_direction(speed, direction, units=units, threshold_knots=threshold_knots, dim=dim,
                                    n_directions=n_directions, time_share=time_share)
        theta = np.deg2rad((by_dir["direction"] + HALF_CIRCLE) % FULL_CIRCLE)
        east = (by_dir * np.sin(theta)).sum("direction").drop_vars("direction", errors="ignore")
        north = (by_dir * np.cos(theta)).sum("direction").drop_vars("direction", errors="ignore")
        mode = f"{int(n_directions)} direction sectors"
    rdp = np.hypot(east, north)
    defined = rdp > RDD_UNDEFINED_RTOL * dp
    rdd = (np.rad2deg(np.arctan2(east, north)) % FULL_CIRCLE).where(defined & (dp > 0))
    rdp_dp = (rdp / dp.where(dp > 0))
    params = f"threshold_knots={threshold_knots}, units={units} (x{SPEED_UNITS_TO_KNOTS[units]} to knots), {mode}, {share_note}"
    common = {"parameters": params, "references": REFERENCE_FRYBERGER}
    dp.attrs = {"units": "VU", "long_name": "sand drift potential (DP)", "method": "sum U^2 (U - Ut) t, U in knots", **common}
    rdp.attrs = {"units": "VU", "long_name": "resultant drift potential (RDP)", "method": f"vector sum over {mode}", **common}
    rdd.attrs = {"units": "degree", "long_name": "resultant drift direction (RDD), toward which sand drifts, clockwise from north",
                 "method": "atan2(sum q sin(theta_to), sum q cos(theta_to)), theta_to = wind direction (from) + 180", **common}
    rdp_dp.attrs = {"units": "1", "long_name": "directional variability RDP/DP", "method": "RDP / DP", **common}
    n_obs = valid.sum(dim).astype(np.int32)
    n_obs.attrs = {"units": "1", "long_name": "number of valid wind observations"}
    return xr.Dataset({"dp": dp, "rdp": rdp, "rdd": rdd, "rdp_dp": rdp_dp, "dp_class": dp_energy_class(dp), "n_obs": n_obs})


def dp_energy_class(dp: xr.DataArray) -> xr.DataArray:
    """Energy class of DP: 1 low (< 200 VU), 2 intermediate (200-399), 3 high (>= 400) (Fryberger 1979)."""
    return class_raster(
        _as_float(dp, "dp"), (DP_LOW_UPPER, DP_HIGH_LOWER), (True, True),
        (ENERGY_LOW, ENERGY_INTERMEDIATE, ENERGY_HIGH), DP_ENERGY_LEGEND,
        {"units": "1", "long_name": "wind energy class by drift potential",
         "method": f"low < {DP_LOW_UPPER:g} <= intermediate < {DP_HIGH_LOWER:g} <= high (VU)",
         "parameters": "", "references": REFERENCE_FRYBERGER},
    )


# --------------------------------------------------------------------------------------------------
# RWEQ
# --------------------------------------------------------------------------------------------------


def _attrs(units, long_name, method, parameters="", references=REFERENCE_RWEQ):
    return {"units": units, "long_name": long_name, "method": method, "parameters": parameters, "references": references}


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
    log profile (eq. 47, :func:`dldd.indicators.aridity.wind_speed_2m`). U1 ``threshold`` 5 m/s at 2 m.
    N = valid observations; Nd = days of the period WF stands for: ``period_days`` if given (e.g.
    365.25 for a mean annual WF from a record of any length), else the record's length = (all
    observations) x ``days_per_observation`` (inferred from a regular ``time`` coordinate if not given).
    Units (m/s)^3 d per Nd days. Fryrear et al. evaluate RWEQ per 15-day period; the loss is not linear
    in WF, so annual WF and the sum of half-month losses differ (group by period upstream if wanted).
    """
    _need_dim(speed, dim, "speed")
    u = _as_float(speed, "speed")
    if height != RWEQ_WIND_HEIGHT_M:
        u = wind_speed_2m(u, height)
    _check_range(u, "speed", 0.0, None, "wind speed in m/s >= 0")
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
    wf.attrs = _attrs("m3 s-3 d", "RWEQ wind factor Wf", "sum U (U - U1)^2 [U > U1] x Nd / N",
                      f"threshold={threshold} m/s at 2 m, measured at {height:g} m, period {period_days:g} days")
    return wf


def air_density(temperature: xr.DataArray, elevation: xr.DataArray | float,
                *, coefficients: tuple[float, float, float, float] = AIR_DENSITY_COEFFICIENTS) -> xr.DataArray:
    """Air density rho = 348.0 (1.013 - 0.1183 EL + 0.0048 EL^2) / T, kg m-3 (Fryrear et al. 1998).

    ``temperature`` mean air temperature in degC (T = temperature + 273.15 K); ``elevation`` in m (EL in km).
    """
    t = _as_float(temperature, "temperature") + KELVIN_OFFSET
    el = (elevation if isinstance(elevation, xr.DataArray) else xr.DataArray(float(elevation))) / METRES_PER_KM
    a, b, c, d = coefficients
    rho = a * (b + c * el + d * el**2) / t
    rho.attrs = _attrs("kg m-3", "air density", "A (B + C EL + D EL^2) / T", f"coefficients={coefficients}")
    return rho


def soil_wetness_factor(pet: xr.DataArray, precipitation: xr.DataArray, rain_days: xr.DataArray | float,
                        days: xr.DataArray | float, *, irrigation: xr.DataArray | float = 0.0) -> xr.DataArray:
    """Soil wetness SW = (ETp - (R + I) Rd / Nd) / ETp, clipped to [0, 1] (Fryrear et al. 1998).

    ETp potential evapotranspiration (mm), R rainfall and I irrigation (mm), Rd days with rain or
    irrigation and Nd days in the period. ETp must be > 0.
    """
    pet = _as_float(pet, "pet")
    _check_range(pet, "pet", np.finfo(float).tiny, None, "potential evapotranspiration > 0 mm")
    sw = ((pet - (precipitation + irrigation) * rain_days / days) / pet).clip(0.0, 1.0)
    sw.attrs = _attrs("1", "RWEQ soil wetness factor", "(ETp - (R + I) Rd / Nd) / ETp, clipped to [0, 1]")
    return sw


def snow_cover_factor(snow_share: xr.DataArray | float) -> xr.DataArray:
    """Snow cover factor SD = 1 - P(snow depth > 25.4 mm) (Fryrear et al. 1998).

    ``snow_share``: fraction of the period with snow deeper than :data:`SNOW_DEPTH_THRESHOLD_MM`.
    """
    share = snow_share if isinstance(snow_share, xr.DataArray) else xr.DataArray(float(snow_share))
    share = share.astype(float)
    _check_range(share, "snow_share", 0.0, 1.0, "a fraction in [0, 1]")
    sd = 1.0 - share
    sd.attrs = _attrs("1", "RWEQ snow cover factor", f"1 - share of time with snow depth > {SNOW_DEPTH_THRESHOLD_MM} mm")
    return sd


def weather_factor(wind_factor: xr.DataArray, air_density: xr.DataArray | float, *,
                   soil_wetness: xr.DataArray | float = 1.0, snow_factor: xr.DataArray | float = 1.0,
                   gravity: float = GRAVITY) -> xr.DataArray:
    """RWEQ weather factor WF = Wf (rho / g) SW SD (Fryrear et al. 1998), nominally kg/m per period.

    ``wind_factor`` from :func:`wind_factor` ((m/s)^3 d), ``air_density`` kg m-3, ``soil_wetness`` SW and
    ``snow_factor`` SD in [0, 1] (1 = dry, snow-free: the defaults, recorded in attrs).
    """
    wf = _as_float(wind_factor, "wind_factor") * air_density / gravity * soil_wetness * snow_factor
    notes = []
    for name, v in (("soil_wetness", soil_wetness), ("snow_factor", snow_factor)):
        notes.append(f"{name}={'given' if isinstance(v, xr.DataArray) else v}")
    wf.attrs = _attrs("kg m-1", "RWEQ weather factor WF (per period of Wf)", "Wf rho / g SW SD",
                      f"g={gravity}, " + ", ".join(notes))
    return wf


def erodible_fraction(sand: xr.DataArray, silt: xr.DataArray, clay: xr.DataArray,
                      organic_matter: xr.DataArray, caco3: xr.DataArray | float = 0.0, *,
                      coefficients: tuple[float, ...] = EF_COEFFICIENTS, clip: bool = True) -> xr.DataArray:
    """EF = (29.09 + 0.31 Sa + 0.17 Si + 0.33 Sa/Cl - 2.59 OM - 0.95 CaCO3) / 100 (RWEQ).

    Sand, silt, clay, organic matter and calcium carbonate in %. EF is a fraction: ``clip`` (default)
    limits it to [0, 1]; clay 0 with sand > 0 gives EF = 1 (the Sa/Cl term diverges).
    """
    sa, si, cl = (_as_float(v, n) for v, n in ((sand, "sand"), (silt, "silt"), (clay, "clay")))
    om = _as_float(organic_matter, "organic_matter")
    for v, n in ((sa, "sand"), (si, "silt"), (cl, "clay"), (om, "organic_matter")):
        _check_range(v, n, 0.0, 100.0, "percent in [0, 100]")
    a, b, c, d, e, f = coefficients
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = sa / cl
    ef = (a + b * sa + c * si + d * ratio - e * om - f * caco3) / 100.0
    if clip:
        ef = ef.clip(0.0, 1.0)
    ef.attrs = _attrs("1", "RWEQ erodible fraction EF", "(a + b Sa + c Si + d Sa/Cl - e OM - f CaCO3) / 100",
                      f"coefficients={coefficients}, clip={clip}")
    return ef


def crust_factor(clay: xr.DataArray, organic_matter: xr.DataArray, *,
                 coefficients: tuple[float, float] = SCF_COEFFICIENTS) -> xr.DataArray:
    """Soil crust factor SCF = 1 / (1 + 0.0066 Cl^2 + 0.021 OM^2), Cl and OM in % (Fryrear et al. 1998)."""
    cl = _as_float(clay, "clay")
    om = _as_float(organic_matter, "organic_matter")
    a, b = coefficients
    scf = 1.0 / (1.0 + a * cl**2 + b * om**2)
    scf.attrs = _attrs("1", "RWEQ soil crust factor SCF", "1 / (1 + a Cl^2 + b OM^2)", f"coefficients={coefficients}")
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
    k.attrs = _attrs("1", "RWEQ surface roughness factor K'", "exp(a Kr + b Kr^c + d Crr)", f"coefficients={coefficients}")
    return k


def vegetation_factor(cover: xr.DataArray, *, coefficient: float = COG_COEFFICIENT) -> xr.DataArray:
    """Vegetation factor COG = exp(-0.0438 SC), SC vegetation or residue cover in % (Fryrear et al. 1998).

    A fraction (attrs units "1") is refused: multiply by 100. ``coefficient=COG_COEFFICIENT_ALT``
    (0.00483) reproduces code that uses that constant.
    """
    if cover.attrs.get("units") in ("1", "fraction"):
        raise InputError("vegetation_factor: cover has units '1' (a fraction); expected % (multiply by 100)")
    sc = _as_float(cover, "cover")
    _check_range(sc, "cover", 0.0, 100.0, "vegetation cover in % [0, 100]")
    cog = np.exp(-coefficient * sc)
    cog.attrs = _attrs("1", "RWEQ vegetation factor COG", "exp(-a SC)", f"a={coefficient}")
    return cog


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
    x = _as_float(wf, "wf") * ef * scf * k_prime * cog
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
    qmax.attrs = _attrs("kg m-1", "RWEQ maximum transport capacity Qmax", "a (WF EF SCF K' COG)", params)
    s.attrs = _attrs("m", "RWEQ critical field length s", "b (WF EF SCF K' COG)^c", params)
    sl.attrs = _attrs("kg m-2", "RWEQ wind erosion soil loss (per period of WF)",
                      "(2 z / s^2) Qmax exp(-(z/s)^2)" if loss == "point" else "Qmax (1 - exp(-(z/s)^2)) / z", params)
    return xr.Dataset({"qmax": qmax, "s": s, "soil_loss": sl})


def point_loss_peak_x(*, field_length: float = FIELD_LENGTH_M, s_coefficient: float = S_COEFFICIENT,
                      s_exponent: float = S_EXPONENT) -> float:
    """x = WF EF SCF K' COG at which the point-form soil loss peaks: s = z sqrt(-2b / (1 - 2b))."""
    s_peak = field_length * np.sqrt(-2.0 * s_exponent / (1.0 - 2.0 * s_exponent))
    return float((s_peak / s_coefficient) ** (1.0 / s_exponent))


def sand_fixation(
    wf: xr.DataArray, ef: xr.DataArray, scf: xr.DataArray, k_prime: xr.DataArray | float, cover: xr.DataArray,
    *,
    cog_coefficient: float = COG_COEFFICIENT,
    field_length: float = FIELD_LENGTH_M,
    qmax_coefficient: float = QMAX_COEFFICIENT,
    s_coefficient: float = S_COEFFICIENT,
    s_exponent: float = S_EXPONENT,
    loss: str = "point",
) -> xr.Dataset:
    """Sand-fixation service = potential soil loss (COG = 1, bare) - actual soil loss (COG from cover).

    ``cover`` vegetation cover in % (e.g. 100 x :func:`dldd.indicators.sensitivity.fractional_vegetation_cover`).
    Returns ``potential_loss``, ``actual_loss``, ``sand_fixation`` (kg m-2 per period of WF; x 10 for
    t/ha; x cell area in m2 / 1000 for t per cell). With ``loss="point"`` the service can be negative
    where x = WF EF SCF K' exceeds :func:`point_loss_peak_x` (not clipped, so that it shows).
    """
    kw = dict(field_length=field_length, qmax_coefficient=qmax_coefficient, s_coefficient=s_coefficient,
              s_exponent=s_exponent, loss=loss)
    cog = vegetation_factor(cover, coefficient=cog_coefficient)
    potential = rweq_soil_loss(wf, ef, scf, k_prime, 1.0, **kw)["soil_loss"]
    actual = rweq_soil_loss(wf, ef, scf, k_prime, cog, **kw)["soil_loss"]
    service = potential - actual
    params = (f"COG=exp(-{cog_coefficient} SC), z={field_length} m, Qmax={qmax_coefficient} x, "
              f"s={s_coefficient} x^{s_exponent}, loss={loss}")
    potential.attrs = _attrs("kg m-2", "potential wind erosion (no vegetation, COG = 1)", "RWEQ", params)
    actual.attrs = _attrs("kg m-2", "actual wind erosion", "RWEQ", params)
    service.attrs = _attrs("kg m-2", "sand-fixation service (potential - actual wind erosion)",
                           "RWEQ potential minus actual soil loss", params)
    return xr.Dataset({"potential_loss": potential, "actual_loss": actual, "sand_fixation": service})


def kg_m2_to_t_ha(da: xr.DataArray) -> xr.DataArray:
    """Convert kg m-2 to t ha-1 (x :data:`KG_M2_TO_T_HA` = 10), keeping attrs with new units."""
    if da.attrs.get("units") not in (None, "kg m-2"):
        raise InputError(f"kg_m2_to_t_ha: input units {da.attrs.get('units')!r}; expected 'kg m-2'")
    out = da * KG_M2_TO_T_HA
    out.attrs = {**da.attrs, "units": "t ha-1"}
    return out
