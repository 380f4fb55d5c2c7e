"""Effect of an intervention on an annual outcome against matched control pixels (METHODS 6).

Design (before-after-control-impact / difference in differences):

1. Treated pixels: coverage fraction of the intervention polygon >= ``min_coverage``. Pixels touched by
   the polygon but less covered are neither treated nor controls.
2. Control pool: pixels farther than ``buffer_km`` and at most ``outer_km`` from the nearest touched
   pixel (distance transform on the grid, see :mod:`dldd.effectiveness.spatial`), not in ``exclude``.
3. Matching (:mod:`dldd.effectiveness.matching`): nearest neighbour with replacement on the standardised
   pre-period mean and pre-period OLS trend of the outcome, exact on the classes of ``exact`` (land
   cover, dryland zone), within calipers in SD units; treated pixels without a match are dropped and
   counted.
4. Pre period: years < ``start_year``. Post period: years >= ``end_year`` when the construction took
   several years (``end_year`` = first year after construction, so the construction years start ..
   end_year - 1 are in neither period), else years >= ``start_year``.
5. Effect (ATT): mean over matched treated pixels i of
   ``(post_i - pre_i) - (post_c(i) - pre_c(i))`` (period means, NaN-aware), each pixel weighted equally.
   Naive before/after: mean over all valid treated pixels of ``post_i - pre_i``. Unmatched DiD: naive
   minus the mean change of the whole control pool.
6. Event study: for each year t, mean over pairs of ``(Y_it - Y_c(i)t) - (pre_i - pre_c(i))``, i.e. the
   treated-minus-control difference of the year minus its pre-period mean. Pre-period values scatter
   around zero; with matching on the pre-trend they are flat by construction, so they are no test of
   parallel trends (item 8 is).
7. Standard error and interval (:mod:`dldd.effectiveness.variance`): ``se`` is the standard error of
   the mean pair difference under a spatial correlation model (exponential or Gaussian, two scales and a
   nugget, the better fit to the correlogram of the control pool's before/after changes; range up to
   ``CORRELOGRAM_MAX_FRACTION * outer_km``), with covariance through neighbouring treated pixels,
   neighbouring and shared controls, and its scale estimated from the pairs' own residuals; the interval
   is effect +- t(df) se with Satterthwaite degrees of freedom (effectively independent pairs) lowered
   for the error of the fitted correlation (its jackknife over 8 wedges of the pool), and ``p_value``
   the two-sided t test of no effect. Checked by simulation (benchmarks/mc_effectiveness.py, numbers
   and seed ranges in docs/methods.md) from 100 to 2,025 treated cells and for a 2 x 200 belt. The event study uses the same
   construction with the correlogram of the yearly deviations, the naive estimate the treated pixels
   alone. ``correlation_range_km``: the practical range of the fitted correlation (where it falls to 5 %).
8. Placebo-in-time test (falsification of the design): the whole evaluation is repeated on the
   pre-period years only, with a fake start in the middle of the pre-period (matching on the years
   before it). Its effect should be zero; an interval excluding zero warns that the matched controls do
   not follow the treated pixels. It is the check that can reveal the regression-to-the-mean bias of
   matching on noisy pre-period values when true trends differ (Daw & Hatfield 2018, Health Serv. Res.
   53: 4138-4156); a pre-period event study cannot, because matching on the pre-trend makes the
   pre-period differences flat by construction. Its interval has the same construction as item 7.
9. Diagnostics (warnings): a pre-period shorter than ``SHORT_PRE_YEARS`` years; a pre-trend difference
   between the treated pixels and the whole control pool (before matching) whose interval excludes 0
   (``pre_trend_difference``; the standard errors of both means as in item 7, the pool's from a regular
   subsample of at most ``MAX_VARIANCE_PIXELS`` pixels, which can only widen it): matching then has to
   remove a trend difference, and with noisy pre-periods it removes only part of it.
10. Break (:func:`dldd.effectiveness.breakpoints.break_test`) of the treated-minus-control series of the
   matched pairs only (a common shock such as a drought year cancels in it); a year is reported only
   when the test is significant.

Steps: :func:`dldd.effectiveness.design.build_design` (items 1, 2, 4: inputs checked, window, treated
pixels, control pool, periods, per-pixel pre-period mean, trend and change), :func:`match` (item 3),
:func:`estimate` (items 5, 6), :func:`infer` (item 7 and the pre-trend interval of item 9),
:func:`diagnose` (items 8-10 and the warnings); :func:`evaluate_intervention` runs them with its
keyword arguments grouped in :class:`dldd.effectiveness.design.EvaluationSettings` and assembles the
:class:`EffectResult`.

Limitation (shown by the tests): when the true trends of treated and control land differ, matching on
noisy pre-period trends removes most but not all of the difference (in the greening test about 95 %);
the rest biases the effect by (1 - reliability of the pixel trend) x (trend difference) x (years
between the period centres). Longer pre-periods and less noisy outcomes reduce it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from dldd.core.jsondata import to_json_data
from dldd.core.legend import CLASS_NODATA
from dldd.effectiveness.breakpoints import MOSUM_H, BreakpointResult, break_test
from dldd.effectiveness.design import (DEFAULT_BUFFER_KM, DEFAULT_CALIPER_SD, DEFAULT_CONFIDENCE,  # noqa: F401
                                       DEFAULT_MIN_COVERAGE, DEFAULT_OUTER_KM, MIN_PRE_YEARS, Design,
                                       EvaluationSettings, build_design, outcome_cube, yx_layer)
from dldd.effectiveness.matching import balance_table, match_nearest, standardise
from dldd.effectiveness.spatial import SPATIAL_DIMS
from dldd.effectiveness.variance import (CorrelationModel, CorrelationSums, MeanInference, correlation_sums,
                                         fit_pool_correlation, mean_inference, wedge_groups)
from dldd.errors import InputError

#: Fewer effectively independent pairs (Satterthwaite df) than this give a warning.
MIN_EFFECTIVE_DF = 5.0
#: Pre-periods shorter than this (years) give a warning (regression to the mean of the matching).
SHORT_PRE_YEARS = 10
#: Largest lag of the correlogram, as a fraction of outer_km.
CORRELOGRAM_MAX_FRACTION = 0.5
#: Most control-pool pixels in the correlogram's bias correction and in the standard error of the pool's
#: mean pre-trend (a regular subsample; for the pre-trend it can only widen the interval).
MAX_VARIANCE_PIXELS = 2000

#: Codes of the ``role`` map.
ROLE_OTHER = 0
ROLE_TREATED_MATCHED = 1
ROLE_TREATED_UNMATCHED = 2
ROLE_CONTROL_USED = 3
ROLE_CONTROL_UNUSED = 4
ROLE_EXCLUDED = 5  # touched but below min_coverage, invalid treated pixels, inner buffer
ROLE_LEGEND = {
    ROLE_OTHER: "outside the design",
    ROLE_TREATED_MATCHED: "treated, matched",
    ROLE_TREATED_UNMATCHED: "treated, no match within calipers",
    ROLE_CONTROL_USED: "control, used as a match",
    ROLE_CONTROL_UNUSED: "control pool, not used",
    ROLE_EXCLUDED: "excluded (buffer, partial coverage or missing data)",
}

REFERENCES = (
    "METHODS 6; Abadie & Imbens 2006 Econometrica 74:235-267 (matching with replacement); Rosenbaum & Rubin "
    "1985 Am. Stat. 39:33-38 and Austin 2011 Pharm. Stat. 10:150-161 (calipers); Austin 2009 Stat. Med. "
    "28:3083-3107 (standardised mean differences); Cressie 1993 and Satterthwaite 1946 (spatial standard "
    "error and df); Daw & Hatfield 2018 Health Serv. Res. 53:4138-4156 (regression to the mean); "
    "Andrews 1993 (supF); Chu, Hornik & Kuan 1995 (OLS-MOSUM)"
)


@dataclass
class EffectResult:
    """Outcome of :func:`evaluate_intervention` (effects in the outcome's units)."""

    name: str
    outcome: str
    units: str
    start_year: int
    end_year: int | None
    effect: float
    ci_low: float
    ci_high: float
    se: float
    df: float
    p_value: float
    naive_effect: float
    naive_ci_low: float
    naive_ci_high: float
    unmatched_effect: float
    pre_mean_treated: float
    effect_relative_pct: float
    n_treated: int
    n_controls: int
    n_unmatched: int
    n_invalid: int
    n_control_pool: int
    n_pre_years: int
    n_post_years: int
    treated_area_km2: float
    matched_area_km2: float
    correlation_range_km: float
    pre_trend_difference: float
    pre_trend_ci_low: float
    pre_trend_ci_high: float
    placebo_start_year: int | None
    placebo_effect: float
    placebo_se: float
    placebo_ci_low: float
    placebo_ci_high: float
    placebo_p_value: float
    balance: pd.DataFrame
    event_study: pd.DataFrame
    breakpoint: BreakpointResult | None
    parameters: dict
    warnings: list[str] = field(default_factory=list)
    maps: xr.Dataset | None = field(default=None, repr=False)

    SCALARS = (
        "name", "outcome", "units", "start_year", "end_year", "effect", "ci_low", "ci_high", "se", "df",
        "p_value", "naive_effect", "naive_ci_low", "naive_ci_high", "unmatched_effect", "pre_mean_treated",
        "effect_relative_pct", "n_treated", "n_controls", "n_unmatched", "n_invalid", "n_control_pool",
        "n_pre_years", "n_post_years", "treated_area_km2", "matched_area_km2", "correlation_range_km",
        "pre_trend_difference", "pre_trend_ci_low", "pre_trend_ci_high", "placebo_start_year", "placebo_effect",
        "placebo_se", "placebo_ci_low", "placebo_ci_high", "placebo_p_value",
    )  # fmt: skip

    def to_frame(self) -> pd.DataFrame:
        """One-row summary table (scalars, the break and the confidence level), for CSV and for
        comparison tables across interventions (``pd.concat`` of the rows)."""
        row = {k: getattr(self, k) for k in self.SCALARS}
        bp = self.breakpoint
        row["break_year"] = bp.break_year if bp else None
        row["break_p_value"] = bp.p_value if bp else None
        row["break_significant"] = bp.significant if bp else None
        row["confidence"] = self.parameters.get("confidence")
        return pd.DataFrame([row])

    def to_dict(self) -> dict:
        """JSON-ready dictionary (NaN -> None): scalars, balance and event study as lists of records,
        breaks, parameters and warnings."""
        d = {k: getattr(self, k) for k in self.SCALARS}
        d["balance"] = self.balance.to_dict(orient="records")
        d["event_study"] = self.event_study.to_dict(orient="records")
        d["breakpoint"] = self.breakpoint.to_dict() if self.breakpoint else None
        d["parameters"] = dict(self.parameters)
        d["warnings"] = list(self.warnings)
        return to_json_data(d, nonfinite="null")



def _scatter(size: int, index: np.ndarray, values: np.ndarray, fill) -> np.ndarray:
    out = np.full(size, fill, dtype=np.asarray(values).dtype)
    out[index] = values
    return out


# --------------------------------------------------------------------------------------------------
# the steps: design (dldd.effectiveness.design), match, estimate, infer, diagnose


@dataclass
class Pairs:
    """Matched pairs (item 3): treated pixel ``iT[i]`` with control ``iC[i]`` (flat indices); ``m`` the
    pool position matched to each valid treated pixel (-1: none)."""

    m: np.ndarray
    matched: np.ndarray
    iT: np.ndarray
    iC: np.ndarray
    n_unmatched: int
    control_weights: np.ndarray  # times each pool pixel is used


def match(design: Design, settings: EvaluationSettings) -> Pairs:
    """Nearest-neighbour matching with replacement on the standardised pre-period mean and trend, exact
    on the classes of the design's layers, within the calipers (item 3)."""
    codes, T, P = design.codes, design.T, design.P
    if codes:
        keys = np.column_stack([codes[k] for k in codes])
        strata = np.unique(keys, axis=0, return_inverse=True)[1].ravel()
    else:
        strata = np.zeros(design.Y.shape[1], dtype=np.int64)
    feats = np.column_stack([design.pre_mean, design.pre_trend])
    zt, zp, _ = standardise(feats[T], feats[P])
    calipers = np.array([settings.caliper_mean_sd, settings.caliper_trend_sd], dtype="float64")
    m = match_nearest(zt, zp, strata[T], strata[P], calipers)
    matched = m >= 0
    iT = T[matched]
    iC = P[m[matched]]
    if iT.size == 0:
        raise InputError(
            f"none of the {T.size} valid treated pixels found a control within the calipers "
            f"(mean {settings.caliper_mean_sd} SD, trend {settings.caliper_trend_sd} SD) in the same exact-match classes "
            f"{sorted(codes)}; widen outer_km ({settings.outer_km} km) or the calipers"
        )
    return Pairs(m=m, matched=matched, iT=iT, iC=iC, n_unmatched=int((~matched).sum()),
                 control_weights=np.bincount(m[matched], minlength=P.size).astype(float))


@dataclass
class Estimates:
    """Point estimates (items 5 and 6): per-pair differences in differences ``d`` and yearly event-study
    values ``e`` (pairs, years), their means, the naive estimate and the yearly series of the pairs."""

    d: np.ndarray
    e: np.ndarray
    effect: float
    event: np.ndarray
    naive: float
    treated_series: np.ndarray  # all valid treated pixels
    pair_treated: np.ndarray
    pair_control: np.ndarray


def estimate(design: Design, pairs: Pairs) -> Estimates:
    """Matched difference in differences, event study and naive before/after (items 5, 6)."""
    Y, iT, iC, change, pre_mean = design.Y, pairs.iT, pairs.iC, design.change, design.pre_mean
    d = change[iT] - change[iC]
    e = ((Y[:, iT] - Y[:, iC]) - (pre_mean[iT] - pre_mean[iC])[None, :]).T  # (pairs, t)
    n_e = np.isfinite(e).sum(axis=0)
    event = np.where(n_e > 0, np.where(np.isfinite(e), e, 0.0).sum(axis=0) / np.maximum(n_e, 1), np.nan)
    return Estimates(d=d, e=e, effect=float(d.mean()), event=event, naive=float(change[design.T].mean()),
                     treated_series=np.nanmean(Y[:, design.T], axis=1), pair_treated=np.nanmean(Y[:, iT], axis=1),
                     pair_control=np.nanmean(Y[:, iC], axis=1))


@dataclass
class Inference:
    """Standard errors, df and intervals (item 7) of the effect (``effect``), the event study
    (``event``) and the naive estimate (``naive``), the effect's p-value, and the pre-trend difference
    of item 9 with its half-width; the fitted correlation models."""

    effect: MeanInference
    event: MeanInference
    naive: MeanInference
    p_value: float
    pre_diff: float
    pre_se: float
    pre_half: float
    model_d: CorrelationModel
    model_e: CorrelationModel
    model_t: CorrelationModel


def _split_sums(sums: list[CorrelationSums], k: int) -> tuple:
    """(first, its k jackknife replicates, second, its replicates) of a list of sums of 2 (k + 1) models."""
    return sums[0], sums[1 : k + 1], sums[k + 1], sums[k + 2 :]


def infer(design: Design, pairs: Pairs, est: Estimates, settings: EvaluationSettings) -> Inference:
    """Spatial standard errors, Satterthwaite df lowered for the correlation fit's own error, intervals
    (item 7) and the pre-trend difference between treated pixels and the whole pool (item 9)."""
    T, P, iT, iC, spacing, confidence = design.T, design.P, pairs.iT, pairs.iC, design.spacing, settings.confidence
    Y, pre_mean, pre_trend = design.Y, design.pre_mean, design.pre_trend
    rc = design.rc
    max_lag = CORRELOGRAM_MAX_FRACTION * settings.outer_km
    sub_step = max(1, int(math.ceil(P.size / MAX_VARIANCE_PIXELS)))
    pool_sub = P[::sub_step]  # a regular subsample of the pool
    groups = wedge_groups(rc[P], rc[T].mean(axis=0))

    def pool_model(values: np.ndarray) -> tuple[CorrelationModel, list[CorrelationModel]]:
        return fit_pool_correlation(values, design.shape, P, spacing, max_lag, sub_step, groups)

    model_d, jack_d = pool_model(design.change)
    model_e, jack_e = pool_model(np.where(np.isfinite(Y), Y - pre_mean[None, :], np.nan))
    model_t, jack_t = pool_model(pre_trend)
    k = len(jack_d)
    sums_d, jsums_d, sums_e, jsums_e = _split_sums(
        correlation_sums([model_d, *jack_d, model_e, *jack_e], spacing, rc[iT], rc[iC]), k)
    sums_n, jsums_n, sums_tt, jsums_tt = _split_sums(
        correlation_sums([model_d, *jack_d, model_t, *jack_t], spacing, rc[T]), k)
    sums_tp, *jsums_tp = correlation_sums([model_t, *jack_t], spacing, rc[pool_sub])
    effect, event, e = est.effect, est.event, est.e
    inf_d = mean_inference(effect, est.d - effect, sums_d, confidence, jsums_d)
    inf_e = mean_inference(event, np.where(np.isfinite(e), e - event[None, :], 0.0), sums_e, confidence, jsums_e)
    inf_n = mean_inference(est.naive, design.change[T] - est.naive, sums_n, confidence, jsums_n)
    p_value = float(2.0 * stats.t.sf(abs(effect) / inf_d.se, inf_d.df)) if inf_d.se > 0 else float("nan")

    # pre-trend diagnostic: treated pixels against the whole control pool, before matching
    tr_mean, pool_mean, sub_mean = (float(pre_trend[ix].mean()) for ix in (T, P, pool_sub))
    inf_tt = mean_inference(tr_mean, pre_trend[T] - tr_mean, sums_tt, confidence, jsums_tt)
    inf_tp = mean_inference(sub_mean, pre_trend[pool_sub] - sub_mean, sums_tp, confidence, jsums_tp)
    pre_se = float(np.hypot(inf_tt.se, inf_tp.se))
    pre_half = float(stats.t.ppf(0.5 + confidence / 2.0, min(inf_tt.df, inf_tp.df)) * pre_se)
    return Inference(effect=inf_d, event=inf_e, naive=inf_n, p_value=p_value, pre_diff=tr_mean - pool_mean,
                     pre_se=pre_se, pre_half=pre_half, model_d=model_d, model_e=model_e, model_t=model_t)


@dataclass
class Diagnostics:
    """Warnings (items 8-10 and the variance's), the placebo test's fields and the break."""

    warnings: list[str]
    placebo_fields: dict
    breakpoint: BreakpointResult | None


NO_PLACEBO = dict(placebo_start_year=None, placebo_effect=float("nan"), placebo_se=float("nan"),
                  placebo_ci_low=float("nan"), placebo_ci_high=float("nan"), placebo_p_value=float("nan"))


def diagnose(design: Design, pairs: Pairs, est: Estimates, inf: Inference, settings: EvaluationSettings,
             unit_label: str, placebo_run) -> Diagnostics:
    """Warnings about the interval, the pre-period and the pre-trend, the placebo-in-time test (item 8;
    ``placebo_run(p_start)`` evaluates the pre-period with a fake start and returns its EffectResult),
    unmatched pixels, and the break of the treated-minus-control series (item 10)."""
    warnings: list[str] = []
    start_year, years = design.start_year, design.years
    if not np.isfinite(inf.effect.df):
        warnings.append(f"too few matched pairs ({pairs.iT.size}) to estimate a variance; no confidence interval")
    elif inf.effect.df < MIN_EFFECTIVE_DF:
        warnings.append(
            f"the interval has {inf.effect.df:.1f} degrees of freedom (few effectively independent pairs, or a spatial "
            f"correlation, range {inf.model_d.practical_range_km:.3g} km, that the control pool pins down poorly); "
            "it is wide and rests on the fitted correlation model"
        )
    n_pre = int(design.pre.sum())
    if n_pre < SHORT_PRE_YEARS:
        warnings.append(
            f"short pre-period: {n_pre} years before {start_year} (fewer than {SHORT_PRE_YEARS}); matching on noisy "
            "pre-period means and trends regresses to the mean when treated and control land trend differently, "
            "which biases the effect (Daw & Hatfield 2018)"
        )
    pre_diff, pre_half = inf.pre_diff, inf.pre_half
    if np.isfinite(inf.pre_se) and abs(pre_diff) > pre_half:
        warnings.append(
            f"pre-trend differs: before {start_year} the treated pixels trended by {pre_diff:+.3g}{unit_label} per year "
            f"relative to the control pool (interval {pre_diff - pre_half:+.3g} to {pre_diff + pre_half:+.3g}); matching "
            "on the pre-trend removes only part of such a difference (regression to the mean), so the effect may be "
            "biased, the more so with a short pre-period"
        )
    placebo_fields = dict(NO_PLACEBO)
    if settings.placebo and n_pre >= 2 * MIN_PRE_YEARS:
        p_start = int(years[design.pre][n_pre // 2])
        try:
            pr = placebo_run(p_start)
            placebo_fields = dict(placebo_start_year=p_start, placebo_effect=pr.effect, placebo_se=pr.se,
                                  placebo_ci_low=pr.ci_low, placebo_ci_high=pr.ci_high, placebo_p_value=pr.p_value)
            if pr.ci_low > 0 or pr.ci_high < 0:
                warnings.append(
                    f"placebo test failed: a fake start in {p_start}, evaluated on the pre-period only, gives an effect "
                    f"of {pr.effect:.3g}{unit_label} (interval {pr.ci_low:.3g} to {pr.ci_high:.3g}, p = {pr.p_value:.2g}); "
                    "the matched controls do not follow the treated pixels, so the effect may be biased"
                )
        except InputError as exc:
            warnings.append(f"placebo test not done: {exc}")
    elif settings.placebo:
        warnings.append(f"placebo test not done: it needs at least {2 * MIN_PRE_YEARS} pre-period years, found {n_pre}")
    if pairs.n_unmatched > 0.2 * design.T.size:
        warnings.append(f"{pairs.n_unmatched} of {design.T.size} treated pixels found no control within the calipers")

    breakpoint = None
    if settings.breakpoints:
        # the intervention's break is dated on the treated-minus-control series only: common shocks
        # (a drought year) move treated and control land alike and cancel in it
        try:
            breakpoint = break_test(est.pair_treated - est.pair_control, years, h=settings.mosum_h, seed=settings.seed,
                                    expected_year=start_year)
            if breakpoint.caveat:
                warnings.append(f"break of the treated-minus-control series not dated: {breakpoint.caveat}")
        except InputError as exc:
            warnings.append(f"breakpoint test on the treated-minus-control series not done: {exc}")
    return Diagnostics(warnings=warnings, placebo_fields=placebo_fields, breakpoint=breakpoint)


# --------------------------------------------------------------------------------------------------
# the result


def _maps(design: Design, pairs: Pairs, est: Estimates, settings: EvaluationSettings, cube: xr.DataArray,
          out_name: str, units: str) -> xr.Dataset:
    """The ``role``, ``match_count`` and ``pixel_effect`` maps on the evaluation window."""
    n, T, P = design.Y.shape[1], design.T, design.P
    role = np.full(n, ROLE_OTHER, dtype=np.int8)
    role[(design.dist.ravel() <= settings.buffer_km) | (design.treated_px & ~design.valid)] = ROLE_EXCLUDED
    role[P] = ROLE_CONTROL_UNUSED
    role[P[pairs.control_weights > 0]] = ROLE_CONTROL_USED
    role[T[~pairs.matched]] = ROLE_TREATED_UNMATCHED
    role[pairs.iT] = ROLE_TREATED_MATCHED
    field_d = np.full(n, np.nan)
    field_d[pairs.iT] = est.d
    win, shape = design.window, design.shape
    wc = {dim: cube[dim].isel({dim: win[dim]}).values for dim in SPATIAL_DIMS if dim in cube.coords}
    params_str = (
        f"start_year={design.start_year}, end_year={design.end_year}, buffer_km={settings.buffer_km}, "
        f"outer_km={settings.outer_km}, calipers={settings.caliper_mean_sd},{settings.caliper_trend_sd} SD, "
        f"confidence={settings.confidence}"
    )
    return xr.Dataset(
        {
            "role": xr.DataArray(
                role.reshape(shape), dims=SPATIAL_DIMS, coords=wc,
                attrs={"long_name": "role of the pixel in the evaluation", "units": "1", "_FillValue": CLASS_NODATA,
                       "flag_values": list(ROLE_LEGEND), "flag_meanings": "; ".join(ROLE_LEGEND.values()),
                       "method": "control ring and matching", "parameters": params_str, "references": REFERENCES},
            ),
            "match_count": xr.DataArray(
                _scatter(n, P, pairs.control_weights, 0).astype(np.int32).reshape(shape), dims=SPATIAL_DIMS, coords=wc,
                attrs={"long_name": "times the control pixel is used as a match", "units": "1",
                       "method": "nearest-neighbour matching with replacement", "parameters": params_str,
                       "references": REFERENCES},
            ),
            "pixel_effect": xr.DataArray(
                field_d.reshape(shape), dims=SPATIAL_DIMS, coords=wc,
                attrs={"long_name": f"difference in differences of {out_name} per matched treated pixel", "units": units,
                       "method": "(post - pre) treated minus (post - pre) matched control", "parameters": params_str,
                       "references": REFERENCES},
            ),
        }
    )  # fmt: skip


def _event_study(design: Design, pairs: Pairs, est: Estimates, inf: Inference) -> pd.DataFrame:
    years, pre, post, Y = design.years, design.pre, design.post, design.Y
    return pd.DataFrame(
        {
            "year": years,
            "rel_year": years - design.start_year,
            "period": np.where(pre, "pre", np.where(post, "post", "construction")),
            "treated_mean": est.pair_treated,
            "control_mean": est.pair_control,
            "difference": est.pair_treated - est.pair_control,
            "effect": est.event,
            "se": inf.event.se,
            "ci_low": inf.event.low,
            "ci_high": inf.event.high,
            "n_pairs": np.isfinite(Y[:, pairs.iT] - Y[:, pairs.iC]).sum(axis=1),
            "treated_mean_all": est.treated_series,
        }
    )


def evaluate_intervention(
    outcome: xr.DataArray,
    treated: xr.DataArray,
    start_year: int,
    end_year: int | None = None,
    *,
    exact: Mapping[str, xr.DataArray] | None = None,
    exclude: xr.DataArray | None = None,
    cell_area_km2: xr.DataArray | None = None,
    pixel_size_km: tuple[float, float] | None = None,
    crs=None,
    buffer_km: float = DEFAULT_BUFFER_KM,
    outer_km: float = DEFAULT_OUTER_KM,
    min_coverage: float = DEFAULT_MIN_COVERAGE,
    caliper_mean_sd: float = DEFAULT_CALIPER_SD,
    caliper_trend_sd: float = DEFAULT_CALIPER_SD,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
    mosum_h: float = MOSUM_H,
    breakpoints: bool = True,
    placebo: bool = True,
    name: str | None = None,
) -> EffectResult:
    """Difference-in-differences effect of an intervention on an annual outcome, against matched controls.

    Parameters
    ----------
    outcome
        Annual outcome cube (time, y, x), e.g. annual mean NDVI; ``time`` at 1 January of each year.
        May be dask-backed: only the window around the intervention (``outer_km`` around it) is loaded.
    treated
        (y, x) boolean mask or coverage fraction in [0, 1] of the intervention polygon on the same grid.
    start_year, end_year
        First year of the intervention; optional first year after construction (see module docstring).
    exact
        Class layers (y, x) to match exactly on, e.g. ``{"land_cover": lc, "dryland_zone": zone}``;
        NaN or ``CLASS_NODATA`` is no data (such pixels are neither treated nor controls).
    exclude
        (y, x) boolean: pixels that may be neither treated nor control (other interventions, water).
    cell_area_km2
        (y, x) cell areas for the areas reported; default ``dy_km * dx_km`` of the pixel spacing.
    pixel_size_km, crs
        Pixel spacing ``(dy_km, dx_km)``, else derived from the grid's CRS (``crs`` or ``outcome.rio.crs``).
    buffer_km, outer_km
        Control ring: ``buffer_km < distance <= outer_km`` from the nearest pixel touched by the polygon.
    min_coverage
        Least coverage fraction for a treated pixel.
    caliper_mean_sd, caliper_trend_sd
        Calipers on the pre-period mean and trend, in SD units.
    confidence, seed
        Level of the intervals; seed of the break test's Monte Carlo null (results are deterministic).
    mosum_h, breakpoints
        Bandwidth of the break tests on the treated-minus-control series; ``breakpoints=False`` skips them.
    placebo
        Run the placebo-in-time test (item 8 of the module docstring).
    name
        Label of the intervention in the result.

    Returns
    -------
    EffectResult with the effect, its standard error, interval and p-value, the naive and unmatched
    estimates, counts, areas, the pre-trend diagnostic, the placebo test, the balance table, the event
    study, the break of the treated-minus-control series (``breakpoint``), parameters, warnings and ``maps`` (a
    Dataset on the evaluation window: ``role`` int8 and ``pixel_effect`` float).
    """
    cube, years = outcome_cube(outcome)
    treated = yx_layer("treated", treated, cube)
    settings = EvaluationSettings(buffer_km=buffer_km, outer_km=outer_km, min_coverage=min_coverage,
                                  caliper_mean_sd=caliper_mean_sd, caliper_trend_sd=caliper_trend_sd,
                                  confidence=confidence, seed=seed, mosum_h=mosum_h, breakpoints=breakpoints,
                                  placebo=placebo)
    settings.check()
    design = build_design(cube, years, treated, start_year, end_year, settings, exact=exact, exclude=exclude,
                          cell_area_km2=cell_area_km2, pixel_size_km=pixel_size_km, crs=crs)
    pairs = match(design, settings)
    est = estimate(design, pairs)
    inf = infer(design, pairs, est, settings)
    units = str(outcome.attrs.get("units", ""))
    unit_label = f" {units}" if units not in ("", "1") else ""

    def placebo_run(p_start: int) -> EffectResult:
        return evaluate_intervention(
            outcome.isel(time=np.flatnonzero(design.pre)), treated, p_start, exact=exact, exclude=exclude,
            pixel_size_km=design.spacing, **{**asdict(settings), "placebo": False, "breakpoints": False},
        )

    diag = diagnose(design, pairs, est, inf, settings, unit_label, placebo_run)
    out_name = str(outcome.name) if outcome.name is not None else "outcome"
    return _result(design, pairs, est, inf, diag, settings, cube, name or out_name, out_name, units)


def _result(design: Design, pairs: Pairs, est: Estimates, inf: Inference, diag: Diagnostics,
            settings: EvaluationSettings, cube: xr.DataArray, name: str, out_name: str, units: str) -> EffectResult:
    """The EffectResult of the steps."""
    T, P, iT, pre, post, years = design.T, design.P, pairs.iT, design.pre, design.post, design.years
    spacing, area, frac, codes = design.spacing, design.area, design.frac, design.codes
    pre_mean, pre_trend = design.pre_mean, design.pre_trend
    balance = balance_table(
        {"pre_mean": (pre_mean[T], pre_mean[P]), "pre_trend": (pre_trend[T], pre_trend[P])},
        {k: (v[T], v[P]) for k, v in codes.items()},
        pairs.matched,
        pairs.control_weights,
    )
    pre_mean_treated = float(np.nanmean(pre_mean[iT]))
    inf_d, inf_n, effect, pre_diff, pre_half = inf.effect, inf.naive, est.effect, inf.pre_diff, inf.pre_half
    return EffectResult(
        name=name,
        outcome=out_name,
        units=units,
        start_year=design.start_year,
        end_year=design.end_year,
        effect=effect,
        ci_low=float(inf_d.low),
        ci_high=float(inf_d.high),
        se=float(inf_d.se),
        df=float(inf_d.df),
        p_value=inf.p_value,
        naive_effect=est.naive,
        naive_ci_low=float(inf_n.low),
        naive_ci_high=float(inf_n.high),
        unmatched_effect=float(est.naive - np.nanmean(design.change[P])),
        pre_mean_treated=pre_mean_treated,
        effect_relative_pct=100.0 * effect / pre_mean_treated if pre_mean_treated else float("nan"),
        n_treated=int(iT.size),
        n_controls=int((pairs.control_weights > 0).sum()),
        n_unmatched=pairs.n_unmatched,
        n_invalid=design.n_invalid,
        n_control_pool=int(P.size),
        n_pre_years=int(pre.sum()),
        n_post_years=int(post.sum()),
        treated_area_km2=float((area * frac)[np.isfinite(area)].sum()),
        matched_area_km2=float((area.ravel() * frac.ravel())[iT].sum()),
        correlation_range_km=float(inf.model_d.practical_range_km),
        pre_trend_difference=pre_diff,
        pre_trend_ci_low=pre_diff - pre_half,
        pre_trend_ci_high=pre_diff + pre_half,
        **diag.placebo_fields,
        balance=balance,
        event_study=_event_study(design, pairs, est, inf),
        breakpoint=diag.breakpoint,
        parameters={
            "buffer_km": settings.buffer_km,
            "outer_km": settings.outer_km,
            "min_coverage": settings.min_coverage,
            "caliper_mean_sd": settings.caliper_mean_sd,
            "caliper_trend_sd": settings.caliper_trend_sd,
            "exact": sorted(codes),
            "confidence": float(settings.confidence),
            "seed": settings.seed,
            "mosum_h": settings.mosum_h,
            "pixel_spacing_km": [float(spacing[0]), float(spacing[1])],
            "pre_years": [int(years[pre].min()), int(years[pre].max())],
            "post_years": [int(years[post].min()), int(years[post].max())],
            "distance": "Euclidean distance transform with one pixel spacing for the scene (geodesic at its centre latitude)",
            "interval": "effect +- t(df) se; se from a spatial correlation model fitted to the control pool, "
                        "scale from the pairs, Satterthwaite df lowered for the fitted correlation's jackknife "
                        "spread (dldd.effectiveness.variance)",
            "correlation": inf.model_d.to_dict(),
            "correlation_event_study": inf.model_e.to_dict(),
            "correlation_pre_trend": inf.model_t.to_dict(),
            "references": REFERENCES,
        },
        warnings=diag.warnings,
        maps=_maps(design, pairs, est, settings, cube, out_name, units),
    )
