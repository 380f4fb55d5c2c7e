"""Standard error and interval of a mean of spatially correlated pixel values (METHODS 6): a model-based
spatial variance with its scale estimated from the residuals and Satterthwaite degrees of freedom.

Model. The values averaged are either pixel values x_i (e.g. the before/after change of the treated
pixels) or matched-pair differences d_i = x_T(i) - x_C(i). Their covariance is taken as
Cov = sigma^2 R with R built from the spatial correlation c(h) of the pixel values (``CorrelationModel``,
fitted to the empirical correlogram of the control pool, :func:`fit_correlation`):

    pixels:  R_ij = c(|s_i - s_j|)
    pairs:   R_ij = c(|T_i - T_j|) + c(|C_i - C_j|) - c(|T_i - C_j|) - c(|C_i - T_j|)

with c(0) = 1 (a pixel with itself, which also covers pairs sharing a control) and, for h > 0,
c(h) = (1 - nugget) (w rho(h / r1) + (1 - w) rho(h / r2)), rho exponential or Gaussian (two scales:
vegetation anomalies vary at several), set to 0 below ``NEGLIGIBLE``.

Estimate. For the mean m = 1'x / N with residuals u = M x (M = I - 11'/N):
E[u'u] = sigma^2 tr(MR), so sigma^2 = u'u / tr(MR) and Var(m) = sigma^2 1'R1 / N^2 (a known correlation
shape with the scale from the data; Cressie 1993, Statistics for Spatial Data, sect. 1.3; the pair form
counts covariance through neighbouring treated pixels, neighbouring controls and shared controls, the
two-way structure of Cameron, Gelbach & Miller 2011, J. Bus. Econ. Stat. 29: 238-249). ``se =
sqrt(Var(m))`` is a standard error. The interval is m +- t_{df} se with the Satterthwaite (1946,
Biometrics Bull. 2: 110-114) degrees of freedom of the quadratic form u'u under the model,
df = tr(MR)^2 / tr(MRMR): N - 1 for independent values, about the number of independent neighbourhoods
when they are correlated (the construction of Bell & McCaffrey 2002 and Imbens & Kolesar 2016, Rev.
Econ. Stat. 98: 701-712, for clusters). With R symmetric: tr(MR) = tr(R) - 1'R1/N,
tr(MRMR) = ||R||_F^2 - 2 ||R1||^2 / N + (1'R1)^2 / N^2; these sums are accumulated over all pairs in a
numba kernel (O(N^2), no matrix is stored; c looked up by the pixel offset on the grid).

Correlogram bias. The empirical correlogram of a field centred on its own mean is biased down by about
the mean correlation v of the field's pixels (Cressie 1993, sect. 2.4): rho_hat = (rho - v) / (1 - v).
:func:`fit_correlation` therefore refits after replacing rho_hat by rho_hat (1 - v) + v, with v from the
fitted model over the pool's pixels (``CORRELOGRAM_ITERATIONS`` times; 1'R1 of the pool from the
counts of its pixel offsets, an FFT autocorrelation of its indicator image).

The fitted correlation is not exact. With g = 1'R1 / tr(MR) the variance is Var(m) = u'u g / N^2, and
the relative variance of the estimate is about 2 / df_S (the scale, Satterthwaite) plus Var(log g(theta))
(the fit). The latter is estimated by a delete-a-group jackknife (Kunsch 1989, Ann. Stat. 17: 1217-1241;
Lahiri 2003, Resampling Methods for Dependent Data, ch. 12): the pool is cut into ``JACKKNIFE_GROUPS``
contiguous wedges of equal pixel count around the treated area (:func:`wedge_groups`), the correlation
refitted without each, and Var_J = (K - 1) / K sum_k (log g_k - mean log g)^2. The df of the interval
are then df = 1 / (1 / df_S + Var_J / 2) (the df of a scaled chi-square with that relative variance; the
idea of Kenward & Roger 1997, Biometrics 53: 983-997, with a jackknife in place of their expected
information). On SYNTHETIC change fields with a known correlation (the noise of
:mod:`dldd.effectiveness.synthetic`, nugget 0.1, a 10 x 10 block and random controls from its 2-20 km
ring, 600 fields) the t test rejected 6.0 % at 5 % with the plug-in df, 4.7 % with the jackknife df and
4.7 % with the true correlation; in the scenes' placebo fits the fitted g was unbiased (mean ratio to
the true 1.00) but its log varied by 0.09 (10 x 10) and 0.16 (20 x 20) across seeds, as much as
2 / df_S, and the jackknife's mean estimate was 0.14 and 0.22. When replicates switch between a fit with and without a long-range component the
jackknife overstates the spread (it is made for smooth statistics): the interval is then conservative,
with df down to about 1 (the warning says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numba
import numpy as np
from scipy import optimize, signal, stats

from dldd.effectiveness.spatial import correlogram

#: Correlations below this are set to zero.
NEGLIGIBLE = 1e-3
#: Correlation of the practical range (Cressie 1993: where the correlation falls to 5 %).
PRACTICAL_RANGE_LEVEL = 0.05
#: Correlation functions rho(h / range) (each fitted with two scales; the better fit is used).
CORRELATION_FAMILIES = {
    "exponential": lambda r: np.exp(-r),
    "gaussian": lambda r: np.exp(-(r**2)),
}
#: Refits of the correlogram after correcting its mean-centring bias.
CORRELOGRAM_ITERATIONS = 2
#: Groups (wedges of the control pool) of the delete-a-group jackknife of the fitted correlation.
JACKKNIFE_GROUPS = 8


@dataclass(frozen=True)
class CorrelationModel:
    """c(h) = 1 at h = 0; (1 - nugget) (weight rho(h / range_km) + (1 - weight) rho(h / range2_km)) for
    h > 0, zero below NEGLIGIBLE."""

    family: str
    range_km: float
    nugget: float
    weight: float = 1.0
    range2_km: float = 1.0

    def __call__(self, h) -> np.ndarray:
        h = np.asarray(h, dtype="float64")
        if self.nugget >= 1.0:
            return np.where(h > 0, 0.0, 1.0)
        f = CORRELATION_FAMILIES[self.family]
        c = (1.0 - self.nugget) * (self.weight * f(h / self.range_km) + (1.0 - self.weight) * f(h / self.range2_km))
        return np.where(h > 0, np.where(c >= NEGLIGIBLE, c, 0.0), 1.0)

    def distance_below(self, level: float) -> float:
        """Distance (km) beyond which c(h) < ``level`` (0 when (1 - nugget) <= level)."""
        scale = 1.0 - self.nugget
        if scale <= level:
            return 0.0
        hi = max(self.range_km, self.range2_km)
        while scale * self._shape(hi) > level:
            hi *= 2.0
        return float(optimize.brentq(lambda h: scale * self._shape(h) - level, 0.0, hi))

    @property
    def cutoff_km(self) -> float:
        """Distance beyond which c(h) < NEGLIGIBLE (0 for a pure nugget)."""
        return self.distance_below(NEGLIGIBLE)

    @property
    def practical_range_km(self) -> float:
        """Distance beyond which c(h) < ``PRACTICAL_RANGE_LEVEL`` (the geostatistical practical range)."""
        return self.distance_below(PRACTICAL_RANGE_LEVEL)

    def _shape(self, h: float) -> float:
        f = CORRELATION_FAMILIES[self.family]
        return float(self.weight * f(h / self.range_km) + (1.0 - self.weight) * f(h / self.range2_km))

    def to_dict(self) -> dict:
        return {"family": self.family, "range_km": float(self.range_km), "range2_km": float(self.range2_km),
                "weight": float(self.weight), "nugget": float(self.nugget), "cutoff_km": self.cutoff_km,
                "practical_range_km": self.practical_range_km}


PURE_NUGGET = CorrelationModel("exponential", 1.0, 1.0)


#: Candidate ranges of the grid search, per decade.
_RANGES_PER_DECADE = 24


@lru_cache(maxsize=8)
def _range_grid(lags: tuple[float, ...]):
    """Ranges of the grid search (log grid from lag_1 / 20 to 20 lag_max), the index pairs r1 <= r2 and,
    stacked over the families, rho(lag / range) (families, ranges, lags) and its products over the
    pairs (families, pairs, lags)."""
    lags_a = np.asarray(lags)
    lo, hi = lags_a[0] / 20.0, 20.0 * lags_a[-1]
    grid = np.geomspace(lo, hi, int(np.ceil(np.log10(hi / lo) * _RANGES_PER_DECADE)) + 1)
    i1, i2 = np.triu_indices(grid.size)
    basis = np.stack([f(lags_a[None, :] / grid[:, None]) for f in CORRELATION_FAMILIES.values()])
    return grid, i1, i2, basis, basis[:, i1] * basis[:, i2]


def _fit_once(lags: np.ndarray, r: np.ndarray, w: np.ndarray) -> CorrelationModel:
    """Best two-scale fit: for every family and every pair of ranges r1 <= r2 on a log grid from
    lag_1 / 20 to 20 lag_max the weights a = (1 - nugget) w, b = (1 - nugget)(1 - w) are the weighted
    least-squares solution under a, b >= 0, a + b <= 1 (the best of the interior solution and the
    boundary solutions b = 0, a = 0 and a + b = 1); the smallest residual sum of squares over the grid
    wins (the first of equals in the order family, solution, pair)."""
    if r[0] <= 0:
        return PURE_NUGGET
    grid, i1, i2, basis, cross = _range_grid(tuple(float(v) for v in lags))
    w2 = w**2
    q, y = (basis * basis) @ w2, basis @ (w2 * r)  # (families, ranges)
    s11, s22, s12 = q[:, i1], q[:, i2], cross @ w2  # weighted sums over the lags, (families, pairs)
    y1, y2 = y[:, i1], y[:, i2]
    zero = np.zeros_like(y1)
    with np.errstate(divide="ignore", invalid="ignore"):
        det = s11 * s22 - s12**2
        a_fit = (y1 - y2 - s12 + s22) / (s11 - 2.0 * s12 + s22)  # a + b = 1: r - f2 = a (f1 - f2)
        ca = np.stack([(s22 * y1 - s12 * y2) / det, y1 / s11, zero, a_fit], axis=1)  # (families, solutions, pairs)
        cb = np.stack([(s11 * y2 - s12 * y1) / det, zero, y2 / s22, 1.0 - a_fit], axis=1)
    ok = np.isfinite(ca) & np.isfinite(cb)
    ca, cb = np.where(ok, ca, 0.0), np.where(ok, cb, 0.0)
    ok &= (ca >= 0) & (cb >= 0) & (ca + cb <= 1.0 + 1e-12) & (ca + cb > 0)
    s11, s22, s12, y1, y2 = (v[:, None, :] for v in (s11, s22, s12, y1, y2))
    # sum w2 (a f1 + b f2 - r)^2, expanded
    sse = ca * ca * s11 + cb * cb * s22 + 2.0 * ca * cb * s12 - 2.0 * (ca * y1 + cb * y2) + float(w2 @ (r * r))
    best = np.unravel_index(int(np.argmin(np.where(ok, sse, np.inf))), sse.shape)
    if not ok[best]:
        return PURE_NUGGET
    fam, _, k = best
    scale = float(ca[best] + cb[best])
    return CorrelationModel(list(CORRELATION_FAMILIES)[fam], float(grid[i1[k]]), 1.0 - scale, float(ca[best]) / scale,
                            float(grid[i2[k]]))


def fit_correlation(lags_km: np.ndarray, rho: np.ndarray, counts: np.ndarray,
                    pool_rc: np.ndarray | None = None, spacing_km: tuple[float, float] = (1.0, 1.0)) -> CorrelationModel:
    """Weighted least-squares fit (weights: sqrt of the pair counts) of the two-scale correlation of
    :class:`CorrelationModel` to an empirical correlogram (grid search, :func:`_fit_once`). No positive correlation at the
    first lag gives a pure nugget. With ``pool_rc`` (grid rows and columns of the field's pixels, grid
    spacing ``spacing_km``) the mean-centring bias is corrected as in the module docstring."""
    ok = np.isfinite(rho) & (counts > 0)
    lags, r, w = lags_km[ok], rho[ok], np.sqrt(counts[ok])
    if lags.size == 0:
        return PURE_NUGGET
    model = _fit_once(lags, r, w)
    if pool_rc is not None and len(pool_rc) > 1:
        offsets = offset_counts(pool_rc)
        h = np.hypot(offsets[0] * spacing_km[0], offsets[1] * spacing_km[1])
        for _ in range(CORRELOGRAM_ITERATIONS):
            if model.nugget >= 1.0:
                break
            v = float(offsets[2] @ model(h)) / len(pool_rc) ** 2
            model = _fit_once(lags, r * (1.0 - v) + v, w)
    return model


def offset_counts(rc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row offsets, column offsets, counts) of all ordered pairs (i, j), i = j included, of the pixels at
    integer grid positions ``rc`` (n, 2): the autocorrelation of their indicator image (FFT), so that
    1'R1 = sum counts c(offset) for any correlation c."""
    rc = np.asarray(rc, dtype=np.int64)
    rc = rc - rc.min(axis=0)
    img = np.zeros(tuple(rc.max(axis=0) + 1))
    np.add.at(img, (rc[:, 0], rc[:, 1]), 1.0)
    auto = np.rint(signal.fftconvolve(img, img[::-1, ::-1]))
    dr, dc = np.nonzero(auto)
    return dr - (img.shape[0] - 1), dc - (img.shape[1] - 1), auto[dr, dc]


@numba.njit(cache=True)
def _sums_points(r, c, table):
    """Row sums, trace and squared Frobenius norm of R_ij = table[m, |r_i - r_j|, |c_i - c_j|] for each
    model m (pixels on one grid: integer rows and columns)."""
    nm, n = table.shape[0], r.size
    r1 = np.zeros((nm, n))
    fro2 = np.zeros(nm)
    for i in range(n):
        for m in range(nm):
            r1[m, i] += 1.0
            fro2[m] += 1.0
        for j in range(i + 1, n):
            a, b = abs(r[i] - r[j]), abs(c[i] - c[j])
            for m in range(nm):
                v = table[m, a, b]
                if v != 0.0:
                    r1[m, i] += v
                    r1[m, j] += v
                    fro2[m] += 2.0 * v * v
    return r1, np.full(nm, float(n)), fro2


@numba.njit(cache=True)
def _sums_pairs(tr, tc, cr, cc, table):
    """As :func:`_sums_points` for matched pairs: R_ij = c(T_i - T_j) + c(C_i - C_j) - c(T_i - C_j) -
    c(C_i - T_j) (c(0) = 1: the same pixel)."""
    nm, n = table.shape[0], tr.size
    r1 = np.zeros((nm, n))
    trace = np.zeros(nm)
    fro2 = np.zeros(nm)
    for i in range(n):
        for m in range(nm):
            rii = 2.0 - 2.0 * table[m, abs(tr[i] - cr[i]), abs(tc[i] - cc[i])]
            r1[m, i] += rii
            trace[m] += rii
            fro2[m] += rii * rii
        for j in range(i + 1, n):
            a1, b1 = abs(tr[i] - tr[j]), abs(tc[i] - tc[j])
            a2, b2 = abs(cr[i] - cr[j]), abs(cc[i] - cc[j])
            a3, b3 = abs(tr[i] - cr[j]), abs(tc[i] - cc[j])
            a4, b4 = abs(cr[i] - tr[j]), abs(cc[i] - tc[j])
            for m in range(nm):
                v = table[m, a1, b1] + table[m, a2, b2] - table[m, a3, b3] - table[m, a4, b4]
                if v != 0.0:
                    r1[m, i] += v
                    r1[m, j] += v
                    fro2[m] += 2.0 * v * v
    return r1, trace, fro2


@dataclass(frozen=True)
class CorrelationSums:
    """The sums of R the inference needs: N, 1'R1, tr(R), ||R||_F^2 and ||R1||^2."""

    n: int
    s: float
    tr: float
    fro2: float
    r1r1: float


def correlation_sums(models, spacing_km: tuple[float, float], treated_rc: np.ndarray,
                     control_rc: np.ndarray | None = None) -> list[CorrelationSums]:
    """Sums of R (module docstring) under each of ``models`` for the pixels at integer grid positions
    ``treated_rc`` (n, 2: row, column) alone, or for the pairs (``treated_rc[i]``, ``control_rc[i]``);
    ``spacing_km`` (dy, dx) of the grid. c is tabulated at every row and column offset of the grid."""
    pts = treated_rc if control_rc is None else np.vstack([treated_rc, control_rc])
    extent = np.asarray(pts).max(axis=0) - np.asarray(pts).min(axis=0) + 1 if len(pts) else np.array([1, 1])
    dr, dc = np.meshgrid(np.arange(extent[0]) * spacing_km[0], np.arange(extent[1]) * spacing_km[1], indexing="ij")
    h = np.hypot(dr, dc)
    table = np.stack([m(h) for m in models])
    t = np.asarray(treated_rc, dtype=np.int64)
    if control_rc is None:
        r1, tr, fro2 = _sums_points(t[:, 0].copy(), t[:, 1].copy(), table)
    else:
        c = np.asarray(control_rc, dtype=np.int64)
        r1, tr, fro2 = _sums_pairs(t[:, 0].copy(), t[:, 1].copy(), c[:, 0].copy(), c[:, 1].copy(), table)
    return [CorrelationSums(len(t), float(r1[m].sum()), float(tr[m]), float(fro2[m]), float(r1[m] @ r1[m]))
            for m in range(len(models))]


@dataclass
class MeanInference:
    """Standard error, degrees of freedom and interval of a mean (module docstring)."""

    se: np.ndarray
    df: float
    low: np.ndarray
    high: np.ndarray


def mean_inference(estimate, residuals: np.ndarray, sums: CorrelationSums, confidence: float,
                   jackknife: list[CorrelationSums] = ()) -> MeanInference:
    """Inference for the mean ``estimate`` (...) of N values with ``residuals`` (N, ...) (value minus
    the mean, 0 where a value is missing) and correlation sums ``sums`` of their R; ``jackknife``: the
    sums under the jackknife replicates of the correlation fit, whose spread lowers the df (module
    docstring)."""
    n, s = sums.n, sums.s
    tr_mr = sums.tr - s / n if n else 0.0
    tr_mrmr = sums.fro2 - 2.0 * sums.r1r1 / n + s * s / (n * n) if n else 0.0
    if n < 2 or tr_mr <= 0 or tr_mrmr <= 0:
        nan = np.full(np.shape(estimate), np.nan)
        return MeanInference(nan, float("nan"), nan, nan)
    u = np.asarray(residuals, dtype="float64")
    sigma2 = (u**2).sum(axis=0) / tr_mr
    se = np.sqrt(sigma2 * s) / n
    df = tr_mr**2 / tr_mrmr
    var_log_g = correlation_uncertainty(sums, jackknife)
    if var_log_g > 0:
        df = 1.0 / (1.0 / df + var_log_g / 2.0)
    half = stats.t.ppf(0.5 + confidence / 2.0, df) * se
    return MeanInference(se, float(df), estimate - half, estimate + half)


def wedge_groups(rc: np.ndarray, centre, k: int = JACKKNIFE_GROUPS) -> np.ndarray:
    """Label 0 .. k - 1 of each pixel at grid positions ``rc`` (n, 2): k contiguous wedges of equal pixel
    count by angle around ``centre`` (row, column), the groups of the jackknife (module docstring)."""
    rc = np.asarray(rc, dtype="float64")
    order = np.argsort(np.arctan2(rc[:, 0] - centre[0], rc[:, 1] - centre[1]), kind="stable")
    labels = np.empty(len(rc), dtype=np.int64)
    labels[order] = np.arange(len(rc)) * k // max(len(rc), 1)
    return labels


def fit_pool_correlation(values: np.ndarray, shape: tuple[int, int], pool: np.ndarray, spacing_km: tuple[float, float],
                         max_lag_km: float, sub_step: int = 1,
                         groups: np.ndarray | None = None) -> tuple[CorrelationModel, list[CorrelationModel]]:
    """Correlation of ``values`` (..., n pixels of a ``shape`` grid, flattened) fitted to the correlogram
    (lags up to ``max_lag_km``) of the control-pool pixels ``pool`` (flat indices), with the mean-centring
    bias corrected over every ``sub_step``-th pool pixel (:func:`fit_correlation`); with ``groups`` (a
    label per pool pixel) also the fits without each group (the jackknife replicates), else none."""
    rc = np.column_stack(np.unravel_index(np.asarray(pool), shape))
    sub = np.zeros(len(pool), dtype=bool)
    sub[::sub_step] = True

    def fit(keep: np.ndarray) -> CorrelationModel:
        f = np.full(values.shape, np.nan)
        f[..., pool[keep]] = values[..., pool[keep]]
        lags, rho, counts = correlogram(f.reshape(values.shape[:-1] + tuple(shape)), spacing_km, max_lag_km)
        return fit_correlation(lags, rho, counts, rc[keep & sub], spacing_km)

    model = fit(np.ones(len(pool), dtype=bool))
    if groups is None:
        return model, []
    return model, [fit(groups != g) for g in np.unique(groups)]


def variance_factor(sums: CorrelationSums) -> float:
    """g = 1'R1 / tr(MR): Var(m) = u'u g / N^2 (module docstring); NaN when undefined."""
    tr_mr = sums.tr - sums.s / sums.n if sums.n else 0.0
    return sums.s / tr_mr if tr_mr > 0 and sums.s > 0 else float("nan")


def correlation_uncertainty(sums: CorrelationSums, jackknife: list[CorrelationSums]) -> float:
    """Delete-a-group jackknife variance of log g over the replicates' sums (module docstring); 0
    without replicates or when a replicate's g is undefined."""
    if len(jackknife) < 2:
        return 0.0
    lg = np.log([variance_factor(j) for j in jackknife])
    if not np.all(np.isfinite(lg)):
        return 0.0
    k = lg.size
    return float((k - 1) / k * ((lg - lg.mean()) ** 2).sum())
