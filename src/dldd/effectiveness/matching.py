"""Matching of treated pixels to control pixels and the balance diagnostics.

Method (METHODS 6): each treated pixel gets the nearest control pixel (with replacement) in the space of
the standardised pre-period mean and pre-period OLS trend of the outcome, among controls of the same
exact-match stratum (land cover class, dryland zone, ...); a match is kept only when every matching
variable differs by at most its caliper (in standard deviations of the variable over treated and pool
pixels together). Calipers of 0.2-0.25 SD follow Rosenbaum & Rubin (1985, Am. Stat. 39: 33-38) and
Austin (2011, Pharm. Stat. 10: 150-161). Balance is reported as standardised mean differences (SMD,
Austin 2009, Stat. Med. 28: 3083-3107): (mean_T - mean_C) / sqrt((var_T + var_C) / 2), with the variances
of the pre-matching samples in the denominator both before and after matching, so that the two columns are
on the same scale; |SMD| < 0.1 is the usual threshold for good balance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

#: Candidates examined per treated pixel (nearest first) when looking for one inside the calipers.
MATCH_CANDIDATES = 16

#: |SMD| below which a variable is considered balanced (Austin 2009).
SMD_BALANCED = 0.1


def pre_period_features(values: np.ndarray, years: np.ndarray, pre: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pre-period mean, OLS slope (per year) and count of finite pre-period values of each column of
    ``values`` (time, n); NaN-aware. Slope = sum w (t - tbar)(y - ybar) / sum w (t - tbar)^2."""
    v = values[pre]
    t = years[pre].astype("float64")[:, None]
    w = np.isfinite(v)
    n = w.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        tbar = (w * t).sum(axis=0) / n
        vz = np.where(w, v, 0.0)
        ybar = vz.sum(axis=0) / n
        dt = np.where(w, t - tbar, 0.0)
        slope = (dt * (vz - ybar)).sum(axis=0) / (dt**2).sum(axis=0)
    return ybar, slope, n


def standardise(treated: np.ndarray, pool: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre and scale the columns of ``treated`` (nT, p) and ``pool`` (nC, p) by the mean and SD of
    both together (an SD of 0 is replaced by 1). Returns the two scaled arrays and the SDs."""
    both = np.vstack([treated, pool])
    mu = both.mean(axis=0)
    sd = both.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return (treated - mu) / sd, (pool - mu) / sd, sd


def match_nearest(
    treated: np.ndarray,
    pool: np.ndarray,
    treated_stratum: np.ndarray,
    pool_stratum: np.ndarray,
    calipers: np.ndarray,
) -> np.ndarray:
    """Index into ``pool`` of the matched control of each treated row, -1 when none lies inside the
    calipers. ``treated`` (nT, p) and ``pool`` (nC, p) are standardised features; ``calipers`` (p,) in SD
    units; matching is exact on the stratum codes, nearest neighbour (Euclidean) with replacement; of the
    ``MATCH_CANDIDATES`` nearest controls the first inside every caliper is taken."""
    out = np.full(treated.shape[0], -1, dtype=np.int64)
    for s in np.unique(treated_stratum):
        ti = np.flatnonzero(treated_stratum == s)
        ci = np.flatnonzero(pool_stratum == s)
        if ci.size == 0:
            continue
        k = min(MATCH_CANDIDATES, ci.size)
        _, nn = cKDTree(pool[ci]).query(treated[ti], k=k)
        nn = nn.reshape(ti.size, k)
        diff = np.abs(pool[ci][nn] - treated[ti][:, None, :])
        ok = np.all(diff <= calipers, axis=-1)
        first = np.argmax(ok, axis=1)
        has = ok[np.arange(ti.size), first]
        out[ti[has]] = ci[nn[np.flatnonzero(has), first[has]]]
    return out


def _smd(mt, mc, vt, vc) -> float:
    den = np.sqrt((vt + vc) / 2.0)
    if not np.isfinite(den) or den == 0:
        return 0.0 if mt == mc else float("nan")
    return float((mt - mc) / den)


def _wmean_var(x: np.ndarray, w: np.ndarray | None = None) -> tuple[float, float]:
    if x.size == 0:
        return float("nan"), float("nan")
    if w is None:
        return float(x.mean()), float(x.var())
    m = float(np.average(x, weights=w))
    return m, float(np.average((x - m) ** 2, weights=w))


def balance_table(
    variables: dict[str, tuple[np.ndarray, np.ndarray]],
    classes: dict[str, tuple[np.ndarray, np.ndarray]],
    treated_matched: np.ndarray,
    control_weights: np.ndarray,
) -> pd.DataFrame:
    """Balance before and after matching.

    ``variables``: name -> (values over valid treated, values over the control pool), continuous;
    ``classes``: name -> (codes over valid treated, codes over the pool), each class becomes an indicator
    row ``name=code``. ``treated_matched``: boolean over valid treated; ``control_weights``: times each pool
    pixel is used as a match. Columns: variable, mean_treated_before, mean_control_before, smd_before,
    mean_treated_after, mean_control_after, smd_after, balanced_after.
    """
    rows = []
    items: list[tuple[str, np.ndarray, np.ndarray]] = [(k, *v) for k, v in variables.items()]
    for name, (t, c) in classes.items():
        for code in np.unique(np.concatenate([t, c])):
            items.append((f"{name}={code}", (t == code).astype(float), (c == code).astype(float)))
    used = control_weights > 0
    for name, t, c in items:
        mt0, vt0 = _wmean_var(t)
        mc0, vc0 = _wmean_var(c)
        mt1, _ = _wmean_var(t[treated_matched])
        mc1, _ = _wmean_var(c[used], control_weights[used]) if used.any() else (float("nan"), float("nan"))
        s1 = _smd(mt1, mc1, vt0, vc0)
        rows.append(
            dict(
                variable=name,
                mean_treated_before=mt0,
                mean_control_before=mc0,
                smd_before=_smd(mt0, mc0, vt0, vc0),
                mean_treated_after=mt1,
                mean_control_after=mc1,
                smd_after=s1,
                balanced_after=bool(abs(s1) < SMD_BALANCED) if np.isfinite(s1) else False,
            )
        )
    return pd.DataFrame(rows)
