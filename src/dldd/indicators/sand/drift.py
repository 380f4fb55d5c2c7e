"""Sand drift potential (Fryberger 1979; METHODS section 5): DP, RDP, RDD, RDP/DP, their classes, the sand rose.

Each wind observation with speed U (knots, 10 m) above the threshold Ut contributes q = U^2 (U - Ut) t, t
its share of the time (equal shares 1/N over the N valid observations unless given). DP = sum q, in vector
units (VU). Fryberger tabulated t in percent with the weighting factor U^2 (U - Ut) / 100; with t as a
fraction the two are the same number. The drift of an observation points *toward* where the wind goes: wind
direction is meteorological (where the wind comes FROM, degrees clockwise from north), so drift goes toward
direction + 180. The vector sum over 16 direction sectors (Fryberger) or over the exact directions gives the
resultant drift potential RDP and the resultant drift direction RDD = atan2(sum q sin(theta_to), sum q
cos(theta_to)), degrees clockwise from north toward which sand drifts. RDP/DP measures directional
variability.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from dldd.core.attrs import output_attrs
from dldd.core.classes import class_raster
from dldd.core.legend import Legend
from dldd.core.ranges import check_range
from dldd.core.units import UREG, convert, parse, same_units
from dldd.errors import InputError
from dldd.indicators.pet import wind_speed_2m
from dldd.indicators.sand.common import as_float, need_dim, observation_step_hours

REFERENCE_FRYBERGER = (
    "Fryberger S.G. (1979) Dune forms and wind regime. In: McKee E.D. (ed.) A study of global sand seas. "
    "USGS Professional Paper 1052, 137-169."
)

#: Units Fryberger's drift potential takes wind speed in; other speed units are converted with pint
#: (:func:`dldd.core.units.convert`: 1 m/s = 3600 / 1852 kn exactly).
DRIFT_SPEED_UNITS = "knot"
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

#: Directional variability classes on RDP/DP (Fryberger 1979; METHODS 5): low < 0.3 (complex or obtuse
#: bimodal winds), intermediate 0.3-0.8, high >= 0.8 (narrow unimodal).
RDP_DP_LOW_UPPER = 0.3
RDP_DP_HIGH_LOWER = 0.8
DIRECTIONALITY_LOW, DIRECTIONALITY_INTERMEDIATE, DIRECTIONALITY_HIGH = 1, 2, 3
DIRECTIONALITY_LEGEND = Legend.from_pairs(
    "rdp_dp_directionality",
    [(DIRECTIONALITY_LOW, "low directionality", "#deebf7"),
     (DIRECTIONALITY_INTERMEDIATE, "intermediate directionality", "#9ecae1"),
     (DIRECTIONALITY_HIGH, "high directionality", "#3182bd")],
    description="Directional variability of the wind regime by RDP/DP (Fryberger 1979): low < 0.3 (complex "
    "or obtuse bimodal), intermediate 0.3-0.8, high >= 0.8 (narrow unimodal)",
)

#: Coarsest observation step (hours) for which DP is trusted: hourly or 3-hourly winds (METHODS 5). Daily
#: means of one record understate DP several-fold (2,137 VU hourly against 380 VU from daily means).
MAX_DRIFT_STEP_HOURS = 3.0
#: Reference height of Fryberger's winds, m.
DRIFT_WIND_HEIGHT_M = 10.0


class CoarseWindWarning(UserWarning):
    """Winds coarser than :data:`MAX_DRIFT_STEP_HOURS`: drift potential is understated."""


def to_knots(speed: xr.DataArray, units: str) -> xr.DataArray:
    """Wind speed in knots from ``units`` (any speed pint reads: "m/s", "m s-1", "km/h", "knots", "kn", ...),
    converted with pint (:func:`dldd.core.units.convert`). A ``units`` attribute of ``speed`` naming other
    units than ``units`` is refused rather than either one believed."""
    speed = as_float(speed, "speed")
    own = speed.attrs.get("units")
    if own not in (None, "") and not same_units(own, units):
        raise InputError(f"speed: its units attribute says {own!r} but it was given as {units!r}")
    check_range(speed, "speed", 0.0, None, "wind speed >= 0")
    return convert(speed.assign_attrs(units=units), DRIFT_SPEED_UNITS, "speed")


def knots_per(units: str) -> float:
    """Knots in one ``units`` of speed (pint)."""
    return float(UREG.Quantity(1.0, parse(units, "speed")).to(DRIFT_SPEED_UNITS).magnitude)


def check_wind_resolution(speed: xr.DataArray, *, dim: str = "time",
                          max_step_hours: float = MAX_DRIFT_STEP_HOURS) -> float | None:
    """Warn (:class:`CoarseWindWarning`) when winds are coarser than ``max_step_hours`` (3-hourly).

    DP sums the cube of the excess over the threshold, so averaging winds before the sum removes the
    gusts that move sand: daily means of one record gave 380 VU against 2,137 VU hourly (METHODS 5).
    Returns the median observation step in hours (None when ``dim`` is not a datetime axis).
    """
    step = observation_step_hours(speed[dim].values) if dim in speed.coords else None
    if step is not None and step > max_step_hours * (1 + 1e-9):
        warnings.warn(
            f"wind observations every {step:g} h (coarser than {max_step_hours:g}-hourly): the sand drift "
            "potential is understated, several-fold for daily means (Fryberger's method needs hourly or "
            "3-hourly winds)", CoarseWindWarning, stacklevel=2)
    return step


def wind_speed_10m(speed: xr.DataArray, height: float) -> xr.DataArray:
    """Wind speed at 10 m from ``height`` m by the logarithmic profile of FAO56 eq. 47.

    u10 = uz ln(67.8 x 10 - 5.42) / ln(67.8 z - 5.42) (the same short-grass log law that brings winds to
    2 m for RWEQ, :func:`dldd.indicators.pet.wind_speed_2m`, inverted at 10 m). Identity at 10 m.
    """
    if height == DRIFT_WIND_HEIGHT_M:
        return speed
    return wind_speed_2m(speed, height) / wind_speed_2m(1.0, DRIFT_WIND_HEIGHT_M)


def wind_from_uv(u: xr.DataArray, v: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """Speed and meteorological direction (where the wind comes FROM) from u (eastward), v (northward).

    speed = hypot(u, v); direction = atan2(-u, -v) in degrees clockwise from north, [0, 360); NaN for
    calm (speed 0). Speed keeps the units of u and v.
    """
    u = as_float(u, "u")
    v = as_float(v, "v")
    speed = np.hypot(u, v)
    direction = (np.rad2deg(np.arctan2(-u, -v)) % FULL_CIRCLE).where(speed > 0)
    speed.attrs = output_attrs(u.attrs.get("units", ""), "wind speed", "hypot(u, v)", "", "")
    direction.attrs = output_attrs("degree", "wind direction (from, clockwise from north)",
                                   "atan2(-u, -v), meteorological convention", "", "")
    return speed, direction


def _drift_terms(speed, direction, units, threshold_knots, dim, time_share, height=DRIFT_WIND_HEIGHT_M):
    """Per observation: drift q = U^2 (U - Ut) t (0 below threshold) and the drift direction (toward)."""
    need_dim(speed, dim, "speed")
    need_dim(direction, dim, "direction")
    if threshold_knots < 0:
        raise InputError(f"threshold_knots={threshold_knots}; expected >= 0")
    kn = wind_speed_10m(to_knots(speed, units), height)
    direction = as_float(direction, "direction")
    check_range(direction, "direction", 0.0, FULL_CIRCLE, "degrees clockwise from north in [0, 360]")
    above = kn > threshold_knots
    # An observation counts if its speed is known and, when it moves sand, its direction too.
    valid = kn.notnull() & (direction.notnull() | ~above)
    if time_share is None:
        n_valid = valid.sum(dim)
        t = xr.where(valid, 1.0, 0.0) / n_valid.where(n_valid > 0)
        share_note = "t = 1/N over valid observations"
    else:
        t = as_float(time_share, "time_share")
        need_dim(t, dim, "time_share")
        check_range(t, "time_share", 0.0, None, "time shares >= 0")
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
    height: float = DRIFT_WIND_HEIGHT_M,
) -> xr.DataArray:
    """Drift potential per wind-direction sector (VU), new dimension ``direction`` (sector centres, FROM).

    A direction falls in the sector whose centre is nearest (a direction exactly half-way goes to the
    clockwise sector). The sum over ``direction`` is DP. Arguments as :func:`drift_potential`.
    """
    if int(n_directions) < 1:
        raise InputError(f"n_directions={n_directions}; expected a positive integer (16 as Fryberger)")
    n_directions = int(n_directions)
    q, toward, _, share_note = _drift_terms(speed, direction, units, threshold_knots, dim, time_share, height)
    sector = _sector_index((toward - HALF_CIRCLE) % FULL_CIRCLE, n_directions)
    parts = [q.where(sector == k, 0.0).sum(dim) for k in range(n_directions)]
    centres = np.arange(n_directions) * (FULL_CIRCLE / n_directions)
    out = xr.concat(parts, dim=xr.DataArray(centres, dims="direction", name="direction"))
    out["direction"].attrs = {"units": "degree", "long_name": "wind direction sector centre (from)"}
    out.attrs = output_attrs("VU", "sand drift potential by wind direction sector",
                             "sum of U^2 (U - Ut) t per sector, U in knots",
                             f"threshold_knots={threshold_knots}, units={units}, n_directions={n_directions}, "
                             f"{share_note}, measured at {height:g} m", REFERENCE_FRYBERGER)
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
    height: float = DRIFT_WIND_HEIGHT_M,
) -> xr.Dataset:
    """Fryberger (1979) sand drift potential from wind speed and direction series along ``dim``.

    ``speed`` in ``units`` (any speed units, converted to knots by :func:`to_knots`), measured at ``height``
    m (10 m by default; other heights are brought to 10 m by :func:`wind_speed_10m`). Winds coarser than
    3-hourly raise :class:`CoarseWindWarning` (:func:`check_wind_resolution`). ``direction``
    where the wind comes FROM, degrees clockwise from north. ``threshold_knots`` Ut (12 kn). The vector
    sum uses the centres of ``n_directions`` sectors (16, Fryberger) or, with ``n_directions=None``, the
    exact directions. ``time_share`` t per observation (same dims as speed); default 1/N over the valid
    observations, N counting calms and observations below threshold (a direction is only needed above
    threshold). DP is then the mean per the period one share of 1 stands for (e.g. per year when the
    record is a whole number of years; group by year for annual values).

    Returns a Dataset: ``dp`` (VU), ``rdp`` (VU), ``rdd`` (degrees toward which sand drifts, [0, 360),
    NaN where RDP = 0), ``rdp_dp`` (1, NaN where DP = 0), ``dp_class`` (int8, :data:`DP_ENERGY_LEGEND`),
    ``rdp_dp_class`` (int8, :data:`DIRECTIONALITY_LEGEND`) and ``n_obs`` (valid observations).
    """
    check_wind_resolution(speed, dim=dim)
    q, toward, valid, share_note = _drift_terms(speed, direction, units, threshold_knots, dim, time_share, height)
    if n_directions is None:
        theta = np.deg2rad(toward)
        res = _resultant(q.sum(dim), (q * np.sin(theta)).sum(dim), (q * np.cos(theta)).sum(dim))
        mode = "exact directions"
    else:
        by_dir = drift_by_direction(speed, direction, units=units, threshold_knots=threshold_knots, dim=dim,
                                    n_directions=n_directions, time_share=time_share, height=height)
        res = resultant_of_sectors(by_dir)
        mode = f"{int(n_directions)} direction sectors"
    dp, rdp, rdd, rdp_dp = (res[k] for k in ("dp", "rdp", "rdd", "rdp_dp"))
    params = (f"threshold_knots={threshold_knots}, units={units} (x{knots_per(units):.9g} to knots), {mode}, "
              f"{share_note}, measured at {height:g} m")
    dp.attrs = output_attrs("VU", "sand drift potential (DP)", "sum U^2 (U - Ut) t, U in knots", params,
                            REFERENCE_FRYBERGER)
    rdp.attrs = output_attrs("VU", "resultant drift potential (RDP)", f"vector sum over {mode}", params,
                             REFERENCE_FRYBERGER)
    rdd.attrs = output_attrs("degree",
                             "resultant drift direction (RDD), toward which sand drifts, clockwise from north",
                             "atan2(sum q sin(theta_to), sum q cos(theta_to)), theta_to = wind direction (from) + 180",
                             params, REFERENCE_FRYBERGER)
    rdp_dp.attrs = output_attrs("1", "directional variability RDP/DP", "RDP / DP", params, REFERENCE_FRYBERGER)
    n_obs = valid.sum(dim).astype(np.int32)
    n_obs.attrs = output_attrs("1", "number of valid wind observations")
    return xr.Dataset({"dp": dp, "rdp": rdp, "rdd": rdd, "rdp_dp": rdp_dp, "dp_class": dp_energy_class(dp),
                       "rdp_dp_class": directionality_class(rdp_dp), "n_obs": n_obs})


def dp_energy_class(dp: xr.DataArray) -> xr.DataArray:
    """Energy class of DP: 1 low (< 200 VU), 2 intermediate (200-399), 3 high (>= 400) (Fryberger 1979)."""
    return _three_classes(as_float(dp, "dp"), (DP_LOW_UPPER, DP_HIGH_LOWER),
                          (ENERGY_LOW, ENERGY_INTERMEDIATE, ENERGY_HIGH), DP_ENERGY_LEGEND,
                          "wind energy class by drift potential", " (VU)")


def directionality_class(rdp_dp: xr.DataArray) -> xr.DataArray:
    """Directionality class of RDP/DP: 1 low (< 0.3), 2 intermediate (0.3-0.8), 3 high (>= 0.8) (Fryberger 1979)."""
    return _three_classes(as_float(rdp_dp, "rdp_dp"), (RDP_DP_LOW_UPPER, RDP_DP_HIGH_LOWER),
                          (DIRECTIONALITY_LOW, DIRECTIONALITY_INTERMEDIATE, DIRECTIONALITY_HIGH),
                          DIRECTIONALITY_LEGEND, "directional variability class by RDP/DP", "")


def _three_classes(values: xr.DataArray, bounds: tuple[float, float], codes: tuple[int, int, int], legend: Legend,
                   long_name: str, unit: str) -> xr.DataArray:
    """Fryberger's low < bounds[0] <= intermediate < bounds[1] <= high classes of ``values`` (:func:`class_raster`)."""
    return class_raster(values, bounds, (True, True), codes, legend,
                        output_attrs("1", long_name, f"low < {bounds[0]:g} <= intermediate < {bounds[1]:g} <= high{unit}",
                                     "", REFERENCE_FRYBERGER))


def resultant_of_sectors(by_direction: xr.DataArray, *, dim: str = "direction") -> xr.Dataset:
    """DP, RDP, RDD and RDP/DP from drift per sector (``dim`` = sector centres, direction FROM).

    Each sector's drift points downwind (centre + 180 degrees); RDP is the length of the vector sum and
    RDD its direction, atan2(east, north) clockwise from north (NaN where RDP ~ 0), as in
    :func:`drift_potential` with sectors. Works for any other dimensions (e.g. an area-weighted mean rose).
    """
    theta = np.deg2rad((by_direction[dim] + HALF_CIRCLE) % FULL_CIRCLE)
    east = (by_direction * np.sin(theta)).sum(dim).drop_vars(dim, errors="ignore")
    north = (by_direction * np.cos(theta)).sum(dim).drop_vars(dim, errors="ignore")
    return _resultant(by_direction.sum(dim), east, north)


def _resultant(dp, east, north) -> xr.Dataset:
    rdp = np.hypot(east, north)
    rdd = (np.rad2deg(np.arctan2(east, north)) % FULL_CIRCLE).where((rdp > RDD_UNDEFINED_RTOL * dp) & (dp > 0))
    return xr.Dataset({"dp": dp, "rdp": rdp, "rdd": rdd, "rdp_dp": rdp / dp.where(dp > 0)})
