"""Standardised drought indices (SPI, SPEI) and the UNCCD strategic objective 3 indicators (METHODS 2).

SPI (McKee et al. 1993)
    Monthly precipitation is summed over ``scale`` months (the first ``scale - 1`` months and every
    window holding a missing month are NaN). For each calendar month the sums whose last month lies in
    the calibration period are fitted with a gamma distribution G (shape alpha, scale beta) on the
    positive sums, and the share of zero sums q = n0 / n is kept apart, so that

        H(x) = q + (1 - q) G(x)        (x = 0 gives H = q)
        SPI  = Phi^-1(H(x))

    with Phi^-1 the exact inverse standard normal (Wichura 1988, AS241, relative accuracy about 1e-16;
    the upper tail is evaluated from 1 - H computed directly, so no precision is lost there).
    Gamma fitting methods:

    - ``"pwm"`` (default): unbiased probability-weighted moments -> L-moments l1, l2; alpha from the
      L-CV t = l2 / l1 by Hosking's rational approximation (Hosking 1990; Hosking & Wallis 1997,
      appendix A.9), beta = l1 / alpha. This is what the R package SPEI does (``fit = "ub-pwm"``,
      ``lmom::pelgam``); it reproduces that package's SPI to about 1e-8.
    - ``"ml"``: maximum likelihood with the location fixed at 0 (as xclim ``method="ML"``): solve
      ln(alpha) - psi(alpha) = A, A = ln(mean x) - mean(ln x), by Newton's method to 1e-15.
    - ``"thom"``: Thom's (1958) approximation alpha = (1 + sqrt(1 + 4A/3)) / (4A), beta = mean / alpha
      (as climate_indices). The three methods differ by up to about 0.3 SPI units at 12 months.

    A calendar month with fewer than ``MIN_FIT_VALUES`` positive calibration sums (or with identical
    sums, or a fitted shape above 1e6) has no fit: its SPI is NaN (as the R package SPEI). G is the
    regularised lower incomplete gamma function, evaluated by its power series up to ~3 standard
    deviations above the mean and beyond by the Legendre continued fraction for Q = 1 - G, with the
    prefactor y^a e^-y / Gamma(a + 1) written as exp(a (ln(1 + u) - u) - B(a)), u = y / a - 1, to avoid
    cancellation at large shapes. The SPI agrees with scipy's gammainc / gammaincc / ndtri to ~1e-11 or
    better, far tails included. The kernel stores a series by calendar month, fits each month, and then
    evaluates all values in long loops that vectorise (SIMD), with their own exp / log (1-2 ulp); the
    series of one calendar month run in lockstep, eight terms per pass by Horner's rule.

SPEI (Vicente-Serrano et al. 2010; Beguería et al. 2014)
    The same on the climatic water balance D = P - PET, without a zero mass, with the three-parameter
    log-logistic distribution in Hosking's generalised-logistic (GLO) form fitted by unbiased PWM /
    L-moments (as the R package SPEI, ``lmom::pelglo``): k = -t3, alpha = l2 sin(k pi) / (k pi),
    xi = l1 - alpha (1/k - pi / sin(k pi)); F(x) = 1 / (1 + exp(-y)), y = -ln(1 - k (x - xi) / alpha) / k.

SO3 (UNCCD strategic objective 3; GPG for SO3, METHODS 2)
    SO3-1 hazard: the December SPI-12 of each year in the classes of ``SO3_LEGEND``; for multi-year
    blocks the most severe class of the block. SO3-2 exposure: the population of each pixel in each
    hazard class. SO3-3 vulnerability: a weighted composite of normalised proxy layers.

Input conventions: monthly series with a ``time`` dimension stamped on the first of each month,
consecutive months, any extra dimensions; with dask the ``time`` axis must be a single chunk.
"""

from __future__ import annotations

import concurrent.futures
import functools
import math
import re
from collections.abc import Iterable, Mapping

import numba
import numpy as np
import pandas as pd
import xarray as xr

from dldd.core.legend import CLASS_NODATA, Legend
from dldd.errors import GridMismatchError, InputError

__all__ = [
    "spi",
    "spei",
    "so3_hazard",
    "so3_hazard_blocks",
    "so3_exposure",
    "so3_vulnerability",
    "SO3_LEGEND",
    "DEFAULT_CALIBRATION",
    "MIN_FIT_VALUES",
    "SO3_MILD_UPPER",
    "SO3_MODERATE_UPPER",
    "SO3_SEVERE_UPPER",
    "SO3_EXTREME_UPPER",
    "SO3_HAZARD_MONTH",
    "SO3_SPI_SCALE",
    "SO3_BLOCK_YEARS",
    "SO3_BLOCK_START",
    "STANDARD_SCALES",
]

# ----------------------------------------------------------------------------------------------
# Constants (METHODS 2)
# ----------------------------------------------------------------------------------------------

#: Default calibration period (first and last year, inclusive): the WMO 1981-2010 normal, used when
#: the record covers it, else the whole record (METHODS 2).
DEFAULT_CALIBRATION = (1981, 2010)

#: Fewest positive calibration values per calendar month for a fit (the R package SPEI's rule);
#: fewer give NaN for that calendar month.
MIN_FIT_VALUES = 4

#: Accumulation scales usually reported (METHODS 2: k = 1, 3, 6, 12, 24 months); any scale >= 1 works.
STANDARD_SCALES = (1, 3, 6, 12, 24)

#: Month whose SPI-12 is the SO3-1 hazard of the year: December (UNCCD GPG for SO3; METHODS 2).
SO3_HAZARD_MONTH = 12
#: Accumulation scale of the SO3-1 hazard: SPI-12 (METHODS 2).
SO3_SPI_SCALE = 12

#: SO3-1 drought intensity classes on the December SPI-12 (METHODS 2). Each bound is the exclusive
#: upper bound of its class: mild -1 <= SPI < 0, moderate -1.5 <= SPI < -1, severe -2 <= SPI < -1.5,
#: extreme SPI < -2; SPI >= 0 is no drought.
SO3_MILD_UPPER = 0.0
SO3_MODERATE_UPPER = -1.0
SO3_SEVERE_UPPER = -1.5
SO3_EXTREME_UPPER = -2.0

#: Class codes of the SO3 drought intensity legend.
SO3_NO_DROUGHT, SO3_MILD, SO3_MODERATE, SO3_SEVERE, SO3_EXTREME = 0, 1, 2, 3, 4

#: Legend of the SO3-1 drought hazard classes (int8, no data = CLASS_NODATA).
SO3_LEGEND = Legend.from_pairs(
    "so3_drought_intensity",
    [
        (SO3_NO_DROUGHT, "no drought", "#f0f0f0"),
        (SO3_MILD, "mild drought", "#ffff00"),
        (SO3_MODERATE, "moderate drought", "#ffaa00"),
        (SO3_SEVERE, "severe drought", "#e60000"),
        (SO3_EXTREME, "extreme drought", "#730000"),
    ],
    description="UNCCD SO3-1 drought intensity from the December SPI-12 (METHODS 2)",
)

#: SO3-1 multi-year blocks: 4 years from 2000 (2000-2003, ..., 2020-2023) (METHODS 2).
SO3_BLOCK_YEARS = 4
SO3_BLOCK_START = 2000

SPI_REFERENCES = (
    "McKee T.B., Doesken N.J., Kleist J. (1993) The relationship of drought frequency and duration to "
    "time scales. 8th Conf. Applied Climatology, 179-184; "
    "Hosking J.R.M. (1990) L-moments. J. R. Stat. Soc. B 52, 105-124; "
    "Thom H.C.S. (1958) A note on the gamma distribution. Monthly Weather Review 86, 117-122; "
    "Wichura M.J. (1988) Algorithm AS 241. Applied Statistics 37, 477-484; "
    "Begueria S. et al. (2014) SPEI revisited. Int. J. Climatol. 34, 3001-3023"
)
SPEI_REFERENCES = (
    "Vicente-Serrano S.M., Begueria S., Lopez-Moreno J.I. (2010) A multiscalar drought index sensitive "
    "to global warming: the SPEI. J. Climate 23, 1696-1718; "
    "Begueria S. et al. (2014) SPEI revisited. Int. J. Climatol. 34, 3001-3023; "
    "Hosking J.R.M., Wallis J.R. (1997) Regional Frequency Analysis, Cambridge UP; "
    "Wichura M.J. (1988) Algorithm AS 241. Applied Statistics 37, 477-484"
)
SO3_REFERENCES = (
    "UNCCD (2021) Good Practice Guidance for national reporting on strategic objective 3 (drought); "
    "McKee et al. (1993)"
)

_FIT_PWM, _FIT_ML, _FIT_THOM = 0, 1, 2
_GAMMA_METHODS = {"pwm": _FIT_PWM, "ml": _FIT_ML, "thom": _FIT_THOM}
_GAMMA_METHOD_TEXT = {
    "pwm": "unbiased probability-weighted moments / L-moments (Hosking 1990), as the R package SPEI",
    "ml": "maximum likelihood with location 0, as xclim method='ML'",
    "thom": "Thom (1958) approximation, as climate_indices",
}
_DIST_GAMMA = 0
_DIST_GLO = 1

# Hosking's rational approximations for the gamma shape from the L-CV t (Hosking & Wallis 1997,
# appendix A.9; lmom::pelgam): t < 1/2: z = pi t^2, alpha = (1 + A1 z) / (z (1 + A2 z + A3 z^2));
# t >= 1/2: z = 1 - t, alpha = (B1 z + B2 z^2) / (1 + B3 z + B4 z^2).
_PELGAM_A1, _PELGAM_A2, _PELGAM_A3 = -0.3080, -0.05812, 0.01765
_PELGAM_B1, _PELGAM_B2, _PELGAM_B3, _PELGAM_B4 = 0.7213, -0.5947, -2.1817, 1.2113
# GLO shape below which the logistic limit (k = 0) is used (Hosking's PELGLO).
_GLO_SMALL_K = 1e-6

# Wichura (1988) AS241 PPND16 coefficients: central region |p - 0.5| <= 0.425 (a/b), intermediate
# tail r = sqrt(-ln p) <= 5 (c/d), far tail (e/f).
_AS241_A = (3.3871328727963666080e0, 1.3314166789178437745e2, 1.9715909503065514427e3,
            1.3731693765509461125e4, 4.5921953931549871457e4, 6.7265770927008700853e4,
            3.3430575583588128105e4, 2.5090809287301226727e3)
_AS241_B = (1.0, 4.2313330701600911252e1, 6.8718700749205790830e2, 5.3941960214247511077e3,
            2.1213794301586595867e4, 3.9307895800092710610e4, 2.8729085735721942674e4,
            5.2264952788528545610e3)
_AS241_C = (1.42343711074968357734e0, 4.63033784615654529590e0, 5.76949722146069140550e0,
            3.64784832476320460504e0, 1.27045825245236838258e0, 2.41780725177450611770e-1,
            2.27238449892691845833e-2, 7.74545014278341407640e-4)
_AS241_D = (1.0, 2.05319162663775882187e0, 1.67638483018380384940e0, 6.89767334985100004550e-1,
            1.48103976427480074590e-1, 1.51986665636164571966e-2, 5.47593808499534494600e-4,
            1.05075007164441684324e-9)
_AS241_E = (6.65790464350110377720e0, 5.46378491116411436990e0, 1.78482653991729133580e0,
            2.96560571828504891230e-1, 2.65321895265761230930e-2, 1.24266094738807843860e-3,
            2.71155556874348757815e-5, 2.01033439929228813265e-7)
_AS241_F = (1.0, 5.99832206555887937690e-1, 1.36929880922735805310e-1, 1.48753612908506148525e-2,
            7.86869131145613259100e-4, 1.84631831751005468180e-5, 1.42151175831644588870e-7,
            2.04426310338993978564e-15)
_AS241_SPLIT1 = 0.425
_AS241_SPLIT2 = 5.0
_AS241_CONST1 = 0.180625
_AS241_CONST2 = 1.6

# Incomplete gamma: relative tolerance of the series and of the continued fraction; the series is
# used up to alpha + 1 + _SERIES_SIGMAS * sqrt(alpha + 1): below, 1 - G > ~2e-3 and 1 - G taken from
# the series keeps ~12 digits; beyond, the continued fraction gives Q = 1 - G directly (13-50 terms
# there for shapes 15 to 2e4; at 5 sigmas 1 - G from the series lost up to 3 more digits at large
# shapes); iteration caps; Lentz's guard against division by zero.
_SERIES_EPS = 1e-17
_CF_EPS = 1e-16
_SERIES_SIGMAS = 3.0
_MAX_SERIES_TERMS = 10_000_000
_MAX_CF_TERMS = 100_000
# Largest gamma shape accepted: alpha = 1e6 means calibration sums varying by ~0.1 %; such a calendar
# month has no usable fit (NaN) and would make the series needlessly long.
_MAX_GAMMA_SHAPE = 1e6
_LENTZ_TINY = 1e-300
# Maximum-likelihood gamma shape: Newton tolerance and iteration cap; digamma/trigamma are evaluated
# by recurrence up to this argument and then by their asymptotic series.
_ML_TOL = 1e-15
_ML_MAX_ITER = 100
_PSI_ASYMPTOTIC_FROM = 10.0
# Shape from which ln Gamma(a + 1) - a ln a + a is taken from Stirling's series (to a^-15: < 1e-17).
_STIRLING_FROM = 10.0
# |u| up to which ln(1 + u) - u is summed as a series in s = u / (2 + u) (|s| <= 1/3, 17 terms).
_LOG1P_SERIES_MAX = 0.5
# Block exp/log (vectorisable, 1-2 ulp): ln 2 split in a high part exact in 32 bits and a low part
# (fdlibm), the bit pattern of sqrt(1/2) (mantissa reduction to [sqrt(1/2), sqrt(2))), 1.5 * 2^52
# (round-to-nearest-integer trick), the smallest normal double, and the exp argument range.
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_SQRT_HALF_BITS = 0x3FE6A09E667F3BCD
_ROUND_SHIFT = 6755399441055744.0
_DBL_MIN = 2.2250738585072014e-308
_DBL_MAX = 1.7976931348623157e308
_EXP_MIN_ARG = -708.0
_EXP_MAX_ARG = 709.0
# exp(x) rounds to 0 below -745.2 (< -1075 ln 2, half the smallest subnormal) and overflows above 709.79
# (> ln of the largest double, 709.7827).
_EXP_ZERO_BELOW = -745.2
_EXP_INF_ABOVE = 709.79
_MANTISSA_BITS = 52
_EXP_BIAS = 1023
# Layout of the per-series scratch: every row holds 12 * nb values (nb = years, rounded up), the time
# step r + 12 j at column r * nb + j, so that the values of one calendar month (phase r) are contiguous
# and each elementwise stage is one long loop over all values, which vectorises. Float rows: window
# sums x and their log (Thom and maximum-likelihood fits); the calibration sample (PWM fits); y = x / beta,
# s = y / alpha, u = (y - alpha) / alpha, log of the prefactor, prefactor; series argument w, w^8, term
# and sum; lower and upper probabilities; index; the parameters of each value's calendar month (gamma:
# alpha, 1 / alpha, 1 / beta, B(alpha), series split, zero mass q, SPI of a zero sum; GLO: xi, alpha,
# k); the gathered tails of the inverse normal (p, 1 - p, tail probability, its log). Int rows:
# exponents (block exp / log), compressed indices.
(_R_X, _R_LX, _R_SAMPLE, _R_Y, _R_S, _R_U, _R_LOG, _R_PREF, _R_W, _R_W8, _R_T, _R_SUM, _R_LOWER,
 _R_UPPER, _R_Z, _R_ALPHA, _R_INV_ALPHA, _R_INV_BETA, _R_B, _R_SPLIT, _R_Q, _R_ZERO, _R_TAIL_P,
 _R_TAIL_PC, _R_TAIL_R, _R_TAIL_LOG) = range(26)
_N_ROWS = 26
_R_XI, _R_K = _R_INV_BETA, _R_B  # GLO parameters share rows of the gamma ones
_I_K, _I_IDX = 0, 1
_N_IROWS = 2
_MONTHS = 12
# numpy input runs on a thread pool in parts: this many per thread (dynamic balance on a shared
# machine), each of at least this many series.
_PARTS_PER_THREAD = 8
_MIN_PART_SERIES = 512


# ----------------------------------------------------------------------------------------------
# Numba kernels. error_model="numpy" (no ZeroDivisionError checks) lets LLVM vectorise the loops over
# the values; every divisor below is non-zero or NaN (a value without a sum or a fit, masked at the end).
# ----------------------------------------------------------------------------------------------

_jit = functools.partial(numba.njit, cache=True, error_model="numpy", fastmath={"contract"})


@_jit
def _horner8(c, x):
    return ((((((c[7] * x + c[6]) * x + c[5]) * x + c[4]) * x + c[3]) * x + c[2]) * x + c[1]) * x + c[0]


@_jit
def _norm_ppf(p, pc):
    """Standard normal quantile of probability ``p``, given ``pc`` = 1 - p computed independently.

    Wichura (1988) AS241 (PPND16), accurate to about 1e-16; the tail branch uses min(p, pc) so the upper
    tail keeps full precision when ``pc`` is known more accurately than 1 - p.
    """
    if not (p == p) or not (pc == pc):
        return np.nan
    if p <= 0.0:
        return -np.inf
    if pc <= 0.0:
        return np.inf
    q = p - 0.5
    if abs(q) <= _AS241_SPLIT1:
        r = _AS241_CONST1 - q * q
        return q * _horner8(_AS241_A, r) / _horner8(_AS241_B, r)
    r = p if q < 0.0 else pc
    r = math.sqrt(-math.log(r))
    if r <= _AS241_SPLIT2:
        r -= _AS241_CONST2
        val = _horner8(_AS241_C, r) / _horner8(_AS241_D, r)
    else:
        r -= _AS241_SPLIT2
        val = _horner8(_AS241_E, r) / _horner8(_AS241_F, r)
    return -val if q < 0.0 else val


@_jit
def _vlog(buf, bits, rx, ro, m, ints, ri):
    """buf[ro, j] = ln buf[rx, j], j < m, vectorisable (2 ulp); ``bits`` is ``buf`` viewed as int64.

    x = 2^k f with f in [sqrt(1/2), sqrt(2)) from the bits; ln f = 2 atanh(s), s = (f - 1) / (f + 1),
    |s| < 0.172, by its Taylor series to s^23. Zero, negative, NaN and infinite x are selected in the
    same loop (-inf, NaN, NaN, x); the rare subnormal x are redone with math.log.
    """
    for j in range(m):
        b = bits[rx, j]
        k = (b - _SQRT_HALF_BITS) >> _MANTISSA_BITS
        bits[ro, j] = b - (k << _MANTISSA_BITS)
        ints[ri, j] = k
    n_subnormal = 0
    for j in range(m):
        x = buf[rx, j]
        f = buf[ro, j]
        e = np.float64(ints[ri, j])
        s = (f - 1.0) / (f + 1.0)
        z = s * s
        p = 2.0 / 23
        p = p * z + 2.0 / 21
        p = p * z + 2.0 / 19
        p = p * z + 2.0 / 17
        p = p * z + 2.0 / 15
        p = p * z + 2.0 / 13
        p = p * z + 2.0 / 11
        p = p * z + 2.0 / 9
        p = p * z + 2.0 / 7
        p = p * z + 2.0 / 5
        p = p * z + 2.0 / 3
        res = e * _LN2_HI + (e * _LN2_LO + (2.0 * s + s * z * p))
        res = res if x >= _DBL_MIN else (-np.inf if x == 0.0 else np.nan)
        buf[ro, j] = res if x <= _DBL_MAX else x
        n_subnormal += 1 if (x > 0.0) & (x < _DBL_MIN) else 0
    for j in range(m if n_subnormal > 0 else 0):
        x = buf[rx, j]
        if x > 0.0 and x < _DBL_MIN:
            buf[ro, j] = math.log(x)


@_jit
def _vexp(buf, rx, ro, m, ints, ifl, ri):
    """buf[ro, j] = exp buf[rx, j], j < m, vectorisable (1 ulp); ``ifl`` is ``ints`` viewed as float64.

    x = k ln2 + r, |r| <= ln2 / 2 (Cody-Waite), e^r by its Taylor series to r^13, times 2^k from its
    bits. NaN, and arguments whose exponential is 0 or inf, are selected in the same loop; the rare
    others outside [-708, 709] are redone with math.exp.
    """
    for j in range(m):
        v = min(max(buf[rx, j], _EXP_MIN_ARG), _EXP_MAX_ARG)
        kd = (v * _INV_LN2 + _ROUND_SHIFT) - _ROUND_SHIFT
        r = (v - kd * _LN2_HI) - kd * _LN2_LO
        p = 1.0 / 6227020800.0
        p = p * r + 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        buf[ro, j] = p
        ints[ri, j] = (np.int64(kd) + _EXP_BIAS) << _MANTISSA_BITS
    n_edge = 0
    for j in range(m):
        x = buf[rx, j]
        res = buf[ro, j] * ifl[ri, j]
        res = res if x >= _EXP_MIN_ARG else 0.0
        res = res if x <= _EXP_MAX_ARG else np.inf
        buf[ro, j] = res if x == x else x
        low = (x < _EXP_MIN_ARG) & (x >= _EXP_ZERO_BELOW)
        high = (x > _EXP_MAX_ARG) & (x <= _EXP_INF_ABOVE)
        n_edge += 1 if low | high else 0
    for j in range(m if n_edge > 0 else 0):
        x = buf[rx, j]
        if (x < _EXP_MIN_ARG and x >= _EXP_ZERO_BELOW) or (x > _EXP_MAX_ARG and x <= _EXP_INF_ABOVE):
            buf[ro, j] = math.exp(x)


@_jit
def _norm_ppf_block(buf, bits, ints, rlo, rup, rout, m):
    """buf[rout, j] = Phi^-1(buf[rlo, j]) with buf[rup, j] = 1 - buf[rlo, j] given, j < m (AS241 as
    ``_norm_ppf``): the central branch for all values, then the tails (|p - 1/2| > 0.425, ~15 %) gathered
    into the _R_TAIL_* rows and evaluated together; both vectorise."""
    for j in range(m):
        q = buf[rlo, j] - 0.5
        rc = _AS241_CONST1 - q * q
        buf[rout, j] = q * _horner8(_AS241_A, rc) / _horner8(_AS241_B, rc)
    nt = 0
    for j in range(m):
        ints[_I_IDX, nt] = j
        nt += 0 if abs(buf[rlo, j] - 0.5) <= _AS241_SPLIT1 else 1
    for t in range(nt):
        j = ints[_I_IDX, t]
        buf[_R_TAIL_P, t] = buf[rlo, j]
        buf[_R_TAIL_PC, t] = buf[rup, j]
    for t in range(nt):
        p = buf[_R_TAIL_P, t]
        buf[_R_TAIL_R, t] = p if p < 0.5 else buf[_R_TAIL_PC, t]
    _vlog(buf, bits, _R_TAIL_R, _R_TAIL_LOG, nt, ints, _I_K)
    for t in range(nt):
        p = buf[_R_TAIL_P, t]
        pc = buf[_R_TAIL_PC, t]
        r = math.sqrt(-buf[_R_TAIL_LOG, t])
        r1 = r - _AS241_CONST2
        r2 = r - _AS241_SPLIT2
        val = _horner8(_AS241_C, r1) / _horner8(_AS241_D, r1)
        far = _horner8(_AS241_E, r2) / _horner8(_AS241_F, r2)
        val = val if r <= _AS241_SPLIT2 else far
        val = -val if p < 0.5 else val
        val = np.inf if pc <= 0.0 else val
        val = -np.inf if p <= 0.0 else val
        buf[_R_TAIL_R, t] = val if (p == p and pc == pc) else np.nan
    for t in range(nt):
        buf[rout, ints[_I_IDX, t]] = buf[_R_TAIL_R, t]


@_jit
def _digamma(x):
    res = 0.0
    while x < _PSI_ASYMPTOTIC_FROM:
        res -= 1.0 / x
        x += 1.0
    x2 = 1.0 / (x * x)
    # psi(x) ~ ln x - 1/(2x) - sum B_2k / (2k x^2k), Bernoulli numbers B_2 .. B_14
    series = x2 * (1.0 / 12 - x2 * (1.0 / 120 - x2 * (1.0 / 252 - x2 * (1.0 / 240 - x2 * (
        1.0 / 132 - x2 * (691.0 / 32760 - x2 * (1.0 / 12)))))))
    return res + math.log(x) - 0.5 / x - series


@_jit
def _trigamma(x):
    res = 0.0
    while x < _PSI_ASYMPTOTIC_FROM:
        res += 1.0 / (x * x)
        x += 1.0
    x2 = 1.0 / (x * x)
    # psi'(x) ~ 1/x + 1/(2x^2) + sum B_2k / x^(2k+1)
    series = (1.0 / 6 - x2 * (1.0 / 30 - x2 * (1.0 / 42 - x2 * (1.0 / 30 - x2 * (5.0 / 66 - x2 * (
        691.0 / 2730 - x2 * (7.0 / 6))))))) / (x * x * x)
    return res + 1.0 / x + 0.5 * x2 + series


@_jit
def _insertion_sort(buf, r, n):
    for i in range(1, n):
        v = buf[r, i]
        j = i - 1
        while j >= 0 and buf[r, j] > v:
            buf[r, j + 1] = buf[r, j]
            j -= 1
        buf[r, j + 1] = v


@_jit
def _ub_pwm(buf, r, n):
    """Unbiased PWMs b0, b1, b2 (Landwehr et al. 1979) of the sorted sample buf[r, :n]."""
    b0 = 0.0
    b1 = 0.0
    b2 = 0.0
    for i in range(n):
        x = buf[r, i]
        b0 += x
        b1 += x * i
        b2 += x * i * (i - 1)
    b0 /= n
    b1 /= n * (n - 1.0)
    b2 /= n * (n - 1.0) * (n - 2.0)
    return b0, b1, b2


@_jit
def _fit_gamma_pwm(buf, n):
    """Gamma (shape, scale) of the positive sample buf[_R_SAMPLE, :n] by unbiased PWM / L-moments and
    Hosking's rational approximation; NaNs when no fit."""
    _insertion_sort(buf, _R_SAMPLE, n)
    b0, b1, _ = _ub_pwm(buf, _R_SAMPLE, n)
    l1 = b0
    l2 = 2.0 * b1 - b0
    if not (l2 > 0.0) or not (l2 < l1):
        return np.nan, np.nan
    t = l2 / l1
    if t >= 0.5:
        z = 1.0 - t
        alpha = z * (_PELGAM_B1 + z * _PELGAM_B2) / (1.0 + z * (_PELGAM_B3 + z * _PELGAM_B4))
    else:
        z = math.pi * t * t
        alpha = (1.0 + _PELGAM_A1 * z) / (z * (1.0 + z * (_PELGAM_A2 + z * _PELGAM_A3)))
    return alpha, l1 / alpha


@_jit
def _fit_gamma_moments(mean, mean_log, method):
    """Gamma (shape, scale) from the mean and the mean log of a positive sample: Thom's approximation,
    refined to maximum likelihood for ``ml``; NaNs when no fit."""
    big_a = math.log(mean) - mean_log
    if not (big_a > 0.0):
        return np.nan, np.nan
    # Thom (1958); also the starting point of maximum likelihood
    alpha = (1.0 + math.sqrt(1.0 + 4.0 * big_a / 3.0)) / (4.0 * big_a)
    if method == _FIT_ML:  # solve ln(a) - psi(a) = A (convex, decreasing in a)
        for _ in range(_ML_MAX_ITER):
            f = math.log(alpha) - _digamma(alpha) - big_a
            fp = 1.0 / alpha - _trigamma(alpha)
            new = alpha - f / fp
            if new <= 0.0:
                new = 0.5 * alpha
            if abs(new - alpha) <= _ML_TOL * alpha:
                alpha = new
                break
            alpha = new
    return alpha, mean / alpha


@_jit
def _fit_glo(buf, n):
    """GLO (xi, alpha, k) of buf[_R_SAMPLE, :n] by unbiased PWM / L-moments (Hosking's PELGLO)."""
    _insertion_sort(buf, _R_SAMPLE, n)
    b0, b1, b2 = _ub_pwm(buf, _R_SAMPLE, n)
    l1 = b0
    l2 = 2.0 * b1 - b0
    l3 = 6.0 * b2 - 6.0 * b1 + b0
    if not (l2 > 0.0):
        return np.nan, np.nan, np.nan
    t3 = l3 / l2
    if not (abs(t3) < 1.0):
        return np.nan, np.nan, np.nan
    k = -t3
    if abs(k) <= _GLO_SMALL_K:
        return l1, l2, 0.0
    kk = k * math.pi / math.sin(k * math.pi)
    alpha = l2 / kk
    return l1 - alpha * (1.0 - kk) / k, alpha, k


@_jit
def _stirling_b(a):
    """B(a) = ln Gamma(a + 1) - a ln a + a, without cancellation for large a (Stirling series)."""
    if a < _STIRLING_FROM:
        return math.lgamma(a + 1.0) - a * math.log(a) + a
    x2 = 1.0 / (a * a)
    series = (1.0 / 12 - x2 * (1.0 / 360 - x2 * (1.0 / 1260 - x2 * (1.0 / 1680 - x2 * (1.0 / 1188 - x2 * (
        691.0 / 360360 - x2 * (1.0 / 156 - x2 * (3617.0 / 122400)))))))) / a
    return 0.5 * math.log(2.0 * math.pi * a) + series


@_jit
def _gamma_q_cf(a, y, log_pref):
    """Upper regularised incomplete gamma Q(a, y) by the Legendre continued fraction (modified Lentz);
    ``log_pref`` = ln(y^a e^-y / Gamma(a + 1))."""
    b = y + 1.0 - a
    c = 1.0 / _LENTZ_TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_CF_TERMS):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _LENTZ_TINY:
            d = _LENTZ_TINY
        c = b + an / c
        if abs(c) < _LENTZ_TINY:
            c = _LENTZ_TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _CF_EPS:
            break
    return math.exp(log_pref + math.log(a)) * h


@_jit
def _gamma_series_sums(w, w8, t, total, a):
    """total[j] = sum_n w[j]^n / ((a + 1) ... (a + n)) (w[j] = 0 gives 1); w8, t are scratch.

    The series share a and run in lockstep, eight terms per pass: with the shared g_i = 1 / ((a + n + 1)
    ... (a + n + i)), the terms n + 1 .. n + 8 are t_n w (g_1 + w (g_2 + ... + w g_8)) by Horner's rule
    and t_(n+8) = t_n g_8 w^8 (the inner loop vectorises). The passes stop when the series of the largest
    w has converged: its ratio of last term to sum is the largest of all, and a term below _SERIES_EPS
    times a sum no longer changes that sum.
    """
    m = w.shape[0]
    jmax = 0
    for j in range(m):
        t[j] = 1.0
        total[j] = 1.0
        w2 = w[j] * w[j]
        w4 = w2 * w2
        w8[j] = w4 * w4
    for j in range(m):
        if w[j] > w[jmax]:
            jmax = j
    n = 0
    while n < _MAX_SERIES_TERMS:
        g1 = 1.0 / (a + (n + 1))
        g2 = g1 * (1.0 / (a + (n + 2)))
        g3 = g2 * (1.0 / (a + (n + 3)))
        g4 = g3 * (1.0 / (a + (n + 4)))
        g5 = g4 * (1.0 / (a + (n + 5)))
        g6 = g5 * (1.0 / (a + (n + 6)))
        g7 = g6 * (1.0 / (a + (n + 7)))
        g8 = g7 * (1.0 / (a + (n + 8)))
        n += 8
        for j in range(m):
            wj = w[j]
            p = g8 * wj + g7
            p = p * wj + g6
            p = p * wj + g5
            p = p * wj + g4
            p = p * wj + g3
            p = p * wj + g2
            p = p * wj + g1
            tj = t[j]
            total[j] += (tj * wj) * p
            t[j] = (tj * g8) * w8[j]
        if not (t[jmax] > _SERIES_EPS * total[jmax]):
            break


@_jit
def _window_sums(x, scale, buf, nb):
    """buf[_R_X] (phase-major, see the row layout) = the sums of ``scale`` consecutive values of x ending
    at each time step; NaN for the first scale - 1 steps, where the window holds a NaN, and in the
    padding columns. Rows _R_Y and _R_S serve as time-ordered scratch."""
    n = x.shape[0]
    xc = buf[_R_Y]  # contiguous copy (the time axis of an xarray block is often strided)
    acc = buf[_R_S]
    for i in range(n):
        xc[i] = x[i]
        acc[i] = 0.0
    # acc[i] = x[i] + ... + x[i - scale + 1]; a NaN in the window propagates. Slices keep the indices
    # non-negative, so the loop vectorises.
    nw = n - scale + 1
    head = acc[scale - 1:]
    for k in range(scale):
        src = xc[scale - 1 - k: n - k]
        for j in range(nw):
            head[j] += src[j]
    for i in range(scale - 1):
        acc[i] = np.nan
    for r in range(_MONTHS):
        mb = (n - r + _MONTHS - 1) // _MONTHS
        o = r * nb
        for j in range(mb):
            buf[_R_X, o + j] = acc[r + _MONTHS * j]
        for j in range(mb, nb):
            buf[_R_X, o + j] = np.nan


@_jit
def _fit_gamma_month(buf, o, nb, jlo, jhi, method):
    """Fit the gamma distribution and zero mass of one calendar month (columns o .. o + nb, calibration
    sums at o + jlo .. o + jhi) and write them to its columns of the parameter rows (NaN: no fit). Thom
    and ML take the sums and logs of the positive sums (buf[_R_LX]) in one pass; PWM sorts them."""
    nvalid = 0
    npos = 0
    total = 0.0
    total_log = 0.0
    for j in range(o + jlo, o + jhi):
        v = buf[_R_X, j]
        if math.isfinite(v):
            nvalid += 1
            if v > 0.0:
                if method == _FIT_PWM:
                    buf[_R_SAMPLE, npos] = v
                else:
                    total += v
                    total_log += buf[_R_LX, j]
                npos += 1
    alpha = np.nan
    beta = np.nan
    if npos >= MIN_FIT_VALUES:
        if method == _FIT_PWM:
            alpha, beta = _fit_gamma_pwm(buf, npos)
        else:
            alpha, beta = _fit_gamma_moments(total / npos, total_log / npos, method)
    big_b = np.nan
    split = np.nan
    q = np.nan
    zero_z = np.nan
    if 0.0 < alpha <= _MAX_GAMMA_SHAPE and beta > 0.0 and math.isfinite(beta):
        big_b = _stirling_b(alpha)
        split = alpha + 1.0 + _SERIES_SIGMAS * math.sqrt(alpha + 1.0)
        q = (nvalid - npos) / nvalid
        zero_z = _norm_ppf(q, 1.0 - q)
    else:
        alpha = np.nan
        beta = np.nan
    buf[_R_ALPHA, o:o + nb] = alpha
    buf[_R_INV_ALPHA, o:o + nb] = 1.0 / alpha
    buf[_R_INV_BETA, o:o + nb] = 1.0 / beta
    buf[_R_B, o:o + nb] = big_b
    buf[_R_SPLIT, o:o + nb] = split
    buf[_R_Q, o:o + nb] = q
    buf[_R_ZERO, o:o + nb] = zero_z


@_jit
def _fit_glo_month(buf, o, nb, jlo, jhi):
    """Fit the GLO distribution of one calendar month (as ``_fit_gamma_month``) to its parameter rows."""
    npos = 0
    for j in range(o + jlo, o + jhi):
        v = buf[_R_X, j]
        if math.isfinite(v):
            buf[_R_SAMPLE, npos] = v
            npos += 1
    xi = np.nan
    alpha = np.nan
    k = np.nan
    if npos >= MIN_FIT_VALUES:
        xi, alpha, k = _fit_glo(buf, npos)
    if not (alpha > 0.0 and math.isfinite(xi) and math.isfinite(k)):
        xi = np.nan
        alpha = np.nan
        k = np.nan
    buf[_R_XI, o:o + nb] = xi
    buf[_R_ALPHA, o:o + nb] = alpha
    buf[_R_K, o:o + nb] = k


@_jit
def _gamma_index(buf, bits, ints, ifl, nb):
    """buf[_R_Z] = SPI = Phi^-1(q + (1 - q) G(x)) of every sum x given the gamma parameter rows.

    G(x) = P(alpha, y), y = x / beta: y^a e^-y / Gamma(a + 1) * series for y <= split; Q = 1 - P by the
    continued fraction beyond. ln(y^a e^-y / Gamma(a + 1)) = a (ln(1 + u) - u) - B(a), u = (y - a) / a:
    no cancellation for large a. For |u| <= 1/2, ln(1 + u) - u = -u s + 2 s^3 (1/3 + s^2/5 + ...),
    s = u / (2 + u) (from ln(1 + u) = 2 atanh s), keeps full relative precision; beyond it ln(y / a) - u
    is used. Values without a sum or a fit (NaN) flow through and are masked at the end; zero sums take
    the index of the zero mass.
    """
    ncol = _MONTHS * nb
    n_far = 0
    for j in range(ncol):
        a = buf[_R_ALPHA, j]
        inv_a = buf[_R_INV_ALPHA, j]
        split = buf[_R_SPLIT, j]
        y = buf[_R_X, j] * buf[_R_INV_BETA, j]
        buf[_R_Y, j] = y
        buf[_R_S, j] = y * inv_a
        buf[_R_U, j] = (y - a) * inv_a
        buf[_R_W, j] = y if y <= split else 0.0  # series argument (0: continued fraction instead)
        n_far += 1 if y > split else 0
    _vlog(buf, bits, _R_S, _R_LOG, ncol, ints, _I_K)
    for j in range(ncol):
        u = buf[_R_U, j]
        s = u * (1.0 / (2.0 + u))
        z = s * s
        p = 1.0 / 35
        p = p * z + 1.0 / 33
        p = p * z + 1.0 / 31
        p = p * z + 1.0 / 29
        p = p * z + 1.0 / 27
        p = p * z + 1.0 / 25
        p = p * z + 1.0 / 23
        p = p * z + 1.0 / 21
        p = p * z + 1.0 / 19
        p = p * z + 1.0 / 17
        p = p * z + 1.0 / 15
        p = p * z + 1.0 / 13
        p = p * z + 1.0 / 11
        p = p * z + 1.0 / 9
        p = p * z + 1.0 / 7
        p = p * z + 1.0 / 5
        p = p * z + 1.0 / 3
        near = -u * s + 2.0 * s * z * p
        far = buf[_R_LOG, j] - u
        d = near if abs(u) <= _LOG1P_SERIES_MAX else far
        buf[_R_LOG, j] = buf[_R_ALPHA, j] * d - buf[_R_B, j]
    _vexp(buf, _R_LOG, _R_PREF, ncol, ints, ifl, _I_K)
    for r in range(_MONTHS):
        o = r * nb
        a = buf[_R_ALPHA, o]
        if a == a:
            _gamma_series_sums(buf[_R_W, o:o + nb], buf[_R_W8, o:o + nb], buf[_R_T, o:o + nb],
                               buf[_R_SUM, o:o + nb], a)
    for j in range(ncol):
        q = buf[_R_Q, j]
        p = min(buf[_R_PREF, j] * buf[_R_SUM, j], 1.0)
        buf[_R_LOWER, j] = q + (1.0 - q) * p
        buf[_R_UPPER, j] = (1.0 - q) * (1.0 - p)
    for j in range(ncol if n_far > 0 else 0):
        y = buf[_R_Y, j]
        if y > buf[_R_SPLIT, j]:
            q = buf[_R_Q, j]
            u = min(_gamma_q_cf(buf[_R_ALPHA, j], y, buf[_R_LOG, j]), 1.0)
            buf[_R_LOWER, j] = q + (1.0 - q) * (1.0 - u)
            buf[_R_UPPER, j] = (1.0 - q) * u
    _norm_ppf_block(buf, bits, ints, _R_LOWER, _R_UPPER, _R_Z, ncol)
    for j in range(ncol):
        v = buf[_R_X, j]
        z = buf[_R_ZERO, j] if v <= 0.0 else buf[_R_Z, j]
        buf[_R_Z, j] = z if v == v else np.nan


@_jit
def _glo_index(buf, bits, ints, nb):
    """buf[_R_Z] = SPEI = Phi^-1(F(x)) of every sum x given the GLO parameter rows."""
    ncol = _MONTHS * nb
    for j in range(ncol):
        xi = buf[_R_XI, j]
        alpha = buf[_R_ALPHA, j]
        k = buf[_R_K, j]
        yy = (buf[_R_X, j] - xi) / alpha
        lower = 0.0
        upper = 0.0
        if k != 0.0 and not (1.0 - k * yy > 0.0):
            # outside the support: below it for k < 0, above it for k > 0
            lower = 0.0 if k < 0.0 else 1.0
            upper = 1.0 - lower
        else:
            if k != 0.0:
                yy = -math.log(1.0 - k * yy) / k
            e = math.exp(-abs(yy))
            if yy >= 0.0:
                lower = 1.0 / (1.0 + e)
                upper = e / (1.0 + e)
            else:
                lower = e / (1.0 + e)
                upper = 1.0 / (1.0 + e)
        buf[_R_LOWER, j] = lower
        buf[_R_UPPER, j] = upper
    _norm_ppf_block(buf, bits, ints, _R_LOWER, _R_UPPER, _R_Z, ncol)
    for j in range(ncol):
        ok = buf[_R_X, j] == buf[_R_X, j] and buf[_R_ALPHA, j] == buf[_R_ALPHA, j]
        buf[_R_Z, j] = buf[_R_Z, j] if ok else np.nan


def _si_kernel_py(x, cal_lo, cal_hi, scale, dist, method, clip, out):
    """Standardised index of one monthly series (gufunc core: (n),(),(),(),(),(),()->(n)).

    Time steps cal_lo <= t < cal_hi form the calibration period; ``dist`` 0 = gamma with zero mass (SPI),
    1 = GLO (SPEI); ``method`` 0 pwm / 1 ml / 2 thom (gamma only); ``clip`` > 0 bounds |index| (0 = no
    clip). Each calendar month (time steps r, r + 12, ...) is fitted on its own; the index of all values
    is then evaluated at once (see the row layout).
    """
    n = x.shape[0]
    nb = (n + _MONTHS - 1) // _MONTHS
    ncol = _MONTHS * nb
    buf = np.empty((_N_ROWS, ncol))
    bits = buf.view(np.int64)  # int64 / float64 views of the same memory for the bit tricks
    ints = np.empty((_N_IROWS, ncol), dtype=np.int64)
    ifl = ints.view(np.float64)
    _window_sums(x, scale, buf, nb)
    if dist == _DIST_GAMMA and method != _FIT_PWM:
        _vlog(buf, bits, _R_X, _R_LX, ncol, ints, _I_K)
    for r in range(_MONTHS):
        # calibration sums of this calendar month: steps r + 12 j inside [cal_lo, cal_hi)
        jlo = max(0, (cal_lo - r + _MONTHS - 1) // _MONTHS)
        jhi = min(nb, (cal_hi - r + _MONTHS - 1) // _MONTHS)
        if dist == _DIST_GAMMA:
            _fit_gamma_month(buf, r * nb, nb, jlo, jhi, method)
        else:
            _fit_glo_month(buf, r * nb, nb, jlo, jhi)
    if dist == _DIST_GAMMA:
        _gamma_index(buf, bits, ints, ifl, nb)
    else:
        _glo_index(buf, bits, ints, nb)
    for r in range(_MONTHS):
        for j in range((n - r + _MONTHS - 1) // _MONTHS):
            z = buf[_R_Z, r * nb + j]
            if clip > 0.0:
                z = clip if z > clip else (-clip if z < -clip else z)
            out[r + _MONTHS * j] = z


_SI_SIGNATURE = "(n),(),(),(),(),(),()->(n)"
_SI_TYPES = ["void(float64[:], int64, int64, int64, int64, int64, float64, float64[:])"]


@functools.cache
def _si_ufunc():
    """The compiled kernel, built on first use (keeps ``import dldd`` fast)."""
    return numba.guvectorize(_SI_TYPES, _SI_SIGNATURE, target="cpu", nopython=True, cache=True)(_si_kernel_py)


# ----------------------------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------------------------


def _name(da, default: str) -> str:
    return str(da.name) if getattr(da, "name", None) is not None else default


def _month_index(da: xr.DataArray, name: str) -> np.ndarray:
    """year * 12 + month - 1 of each time step; checks a consecutive monthly axis at the 1st of month."""
    if not isinstance(da, xr.DataArray):
        raise InputError(f"{name}: expected an xarray.DataArray, got {type(da).__name__}")
    if "time" not in da.dims or "time" not in da.coords:
        raise InputError(f"{name}: needs a 'time' dimension with a coordinate; dims are {da.dims}")
    try:
        years = np.asarray(da["time"].dt.year.values, dtype=np.int64)
        months = np.asarray(da["time"].dt.month.values, dtype=np.int64)
        days = np.asarray(da["time"].dt.day.values, dtype=np.int64)
    except (TypeError, AttributeError) as err:
        raise InputError(
            f"{name}: coordinate 'time' has dtype {da['time'].dtype}; expected dates at the first of "
            "each month (datetime64 or cftime)"
        ) from err
    idx = years * 12 + months - 1
    if idx.size == 0:
        raise InputError(f"{name}: 'time' is empty; expected a monthly series")
    steps = np.diff(idx)
    if np.any(steps != 1):
        bad = int(np.flatnonzero(steps != 1)[0])
        raise InputError(
            f"{name}: 'time' must be consecutive months (monthly data); found {da['time'].values[bad]} "
            f"followed by {da['time'].values[bad + 1]}"
        )
    if np.any(days != 1):
        raise InputError(
            f"{name}: monthly 'time' must be stamped on the first of each month; found day "
            f"{int(days[days != 1][0])} (e.g. resample with time='MS' or relabel the time axis)"
        )
    return idx


def _check_time_chunks(da: xr.DataArray, name: str) -> None:
    if da.chunks is not None and len(da.chunksizes["time"]) > 1:
        raise InputError(
            f"{name}: the 'time' axis is split into {len(da.chunksizes['time'])} dask chunks; the SPI/SPEI "
            "kernel needs the whole series in one chunk: use .chunk({'time': -1})"
        )


def _raise_if_negative(block: np.ndarray, name: str) -> np.ndarray:
    # one pass, NaN skipped, no temporary (for float64 blocks)
    lowest = float(np.fmin.reduce(np.asarray(block, dtype=np.float64), axis=None, initial=np.inf))
    if lowest < 0:
        raise InputError(
            f"{name}: precipitation must be non-negative; found {lowest} "
            "(check units, scale factors and fill values)"
        )
    return block


def _checked_non_negative(da: xr.DataArray, name: str) -> xr.DataArray:
    """``da`` with a non-negativity check: now for numpy data, at compute time for dask data."""
    if da.chunks is None:
        _raise_if_negative(np.asarray(da.values, dtype=np.float64), name)
        return da
    return xr.apply_ufunc(
        _raise_if_negative, da, kwargs={"name": name}, dask="parallelized", output_dtypes=[da.dtype],
        keep_attrs=True,
    )


def _month_of(value, is_end: bool, argname: str) -> int:
    """Month index (year * 12 + month - 1) of a calibration bound: a year (int or 'YYYY') or a date."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value) * 12 + (11 if is_end else 0)
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) == 4:
        return int(value) * 12 + (11 if is_end else 0)
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as err:
        raise InputError(
            f"{argname}: {value!r} is not a year or a date; expected e.g. 1981 or '1981-01-01'"
        ) from err
    return ts.year * 12 + ts.month - 1


def _fmt_month(i: int) -> str:
    return f"{i // 12:04d}-{i % 12 + 1:02d}"


def _calibration(idx: np.ndarray, cal_start, cal_end, name: str) -> tuple[tuple[int, int], str]:
    """Calibration period as a time-index range [lo, hi) and its label."""
    first, last = int(idx[0]), int(idx[-1])
    if cal_start is None and cal_end is None:
        start = DEFAULT_CALIBRATION[0] * 12
        end = DEFAULT_CALIBRATION[1] * 12 + 11
        if not (first <= start and last >= end):
            start, end = first, last
    else:
        start = first if cal_start is None else _month_of(cal_start, False, "cal_start")
        end = last if cal_end is None else _month_of(cal_end, True, "cal_end")
    if end < start:
        raise InputError(f"cal_start/cal_end: calibration ends ({_fmt_month(end)}) before it starts "
                         f"({_fmt_month(start)})")
    start, end = max(start, first), min(end, last)
    if end < start:
        raise InputError(
            f"cal_start/cal_end: the calibration period does not overlap the record of {name} "
            f"({_fmt_month(first)} to {_fmt_month(last)})"
        )
    return (start - first, end - first + 1), f"{_fmt_month(start)}..{_fmt_month(end)}"


def _check_scale(scale, n: int) -> int:
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise InputError(f"scale: expected a whole number of months >= 1, got {scale!r}")
    if scale > n:
        raise InputError(f"scale: {scale} months is longer than the record ({n} months)")
    return int(scale)


def _check_clip(clip) -> float:
    if clip is None:
        return 0.0
    try:
        value = float(clip)
    except (TypeError, ValueError) as err:
        raise InputError(f"clip: expected None or a positive number, got {clip!r}") from err
    if not value > 0:
        raise InputError(f"clip: expected None or a positive number, got {clip!r}")
    return value


# ----------------------------------------------------------------------------------------------
# SPI and SPEI
# ----------------------------------------------------------------------------------------------


def _standardised(x: xr.DataArray, cal: tuple[int, int], scale: int, dist: int, method: int,
                  clip: float) -> xr.DataArray:
    kwargs = dict(cal_lo=cal[0], cal_hi=cal[1], scale=scale, dist=dist, method=method, clip=clip,
                  parallel=x.chunks is None)
    out = xr.apply_ufunc(
        _si_apply, x, input_core_dims=[["time"]], output_core_dims=[["time"]], dask="parallelized",
        output_dtypes=[np.float64], kwargs=kwargs,
    )
    return out.transpose(*x.dims)


def _si_apply(block, cal_lo, cal_hi, scale, dist, method, clip, parallel):
    """Module-level (pickled by reference to dask workers, which then load the cached kernel).

    With ``parallel`` (numpy input; dask brings its own threads) the series are cut into parts, several
    per thread, that a pool of NUMBA_NUM_THREADS threads takes one after the other (the kernel releases
    the GIL): a thread slowed by other work on its core then simply takes fewer parts.
    """
    values = np.asarray(block, dtype=np.float64)
    args = (cal_lo, cal_hi, scale, dist, method, clip)
    threads = numba.config.NUMBA_NUM_THREADS if parallel else 1
    series = values.size // values.shape[-1] if values.size else 0
    n_parts = min(threads * _PARTS_PER_THREAD, series // _MIN_PART_SERIES)
    if threads < 2 or n_parts < 2:
        return _run_kernel(values, args)
    flat = values.reshape(series, values.shape[-1])  # a view for xarray's time-last blocks
    out = np.empty(flat.shape)
    bounds = np.linspace(0, series, n_parts + 1).astype(int)

    def run_part(i):
        part = slice(bounds[i], bounds[i + 1])
        _run_kernel(flat[part], args, out[part])

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(run_part, range(n_parts)))
    return out.reshape(values.shape)


def _run_kernel(values, args, out=None):
    """The kernel on ``values``. It also computes on the NaN of missing sums and months without a fit
    (masked at the end): numpy is told not to warn about the floating-point flags this raises."""
    with np.errstate(all="ignore"):
        return _si_ufunc()(values, *args) if out is None else _si_ufunc()(values, *args, out)


def spi(
    pr: xr.DataArray,
    scale: int = 12,
    dist: str = "gamma",
    method: str = "pwm",
    cal_start=None,
    cal_end=None,
    clip: float | None = None,
) -> xr.DataArray:
    """Standardized Precipitation Index (McKee et al. 1993; METHODS 2).

    SPI = Phi^-1(q + (1 - q) G(x)) with x the ``scale``-month precipitation sum, G a gamma CDF and q the
    share of zero sums, both fitted per calendar month over the calibration period (see module docstring).

    Parameters
    ----------
    pr
        Monthly precipitation amounts (any unit; the index is scale-free), dims ``time`` + any others,
        ``time`` on the first of each consecutive month. NaN = missing. Must be non-negative.
        With dask, ``time`` must be a single chunk.
    scale
        Accumulation in months (1, 3, 6, 12, 24 usual). The first ``scale - 1`` months are NaN.
    dist
        ``"gamma"`` (the only distribution offered for SPI).
    method
        Gamma fit: ``"pwm"`` (default; unbiased PWM / L-moments as the R package SPEI), ``"ml"``
        (maximum likelihood, as xclim), ``"thom"`` (Thom approximation, as climate_indices).
    cal_start, cal_end
        Calibration period bounds, a year (int or ``"YYYY"``: January / December of that year) or a date.
        Default: 1981-2010 (``DEFAULT_CALIBRATION``) when the record covers it, else the whole record;
        one bound alone takes the record's other end. The sums whose last month falls in the period
        form the calibration sample.
    clip
        None (default): no bound (a zero sum in a calendar month whose calibration sample has no zero
        gives -inf). A number c bounds the index to [-c, c] (climate_indices uses 3.09, xclim 8.21).

    Returns
    -------
    DataArray ``spi`` (float64, same dims and coords as ``pr``), attrs units, long_name, method,
    parameters, references. NaN where the window has missing data or the calendar month has no fit
    (fewer than ``MIN_FIT_VALUES`` positive calibration sums).
    """
    name = _name(pr, "pr")
    idx = _month_index(pr, name)
    scale = _check_scale(scale, idx.size)
    if dist != "gamma":
        raise InputError(f"dist: SPI supports 'gamma' only, got {dist!r}")
    if method not in _GAMMA_METHODS:
        raise InputError(f"method: expected one of {sorted(_GAMMA_METHODS)}, got {method!r}")
    clip_value = _check_clip(clip)
    _check_time_chunks(pr, name)
    cal, cal_text = _calibration(idx, cal_start, cal_end, name)
    checked = _checked_non_negative(pr, name)
    out = _standardised(checked, cal, scale, _DIST_GAMMA, _GAMMA_METHODS[method], clip_value)
    out.name = "spi"
    out.attrs = {
        "units": "1",
        "long_name": f"Standardized Precipitation Index, {scale}-month (SPI-{scale})",
        "method": (
            "gamma distribution with a zero-precipitation mass, H = q + (1 - q) G(x), fitted per calendar "
            f"month by {_GAMMA_METHOD_TEXT[method]}; SPI = inverse standard normal of H (AS241)"
        ),
        "parameters": f"scale={scale}, dist=gamma, method={method}, calibration={cal_text}, clip={clip}",
        "references": SPI_REFERENCES,
    }
    return out


def spei(
    pr: xr.DataArray,
    pet: xr.DataArray,
    scale: int = 12,
    method: str = "pwm",
    cal_start=None,
    cal_end=None,
    clip: float | None = None,
) -> xr.DataArray:
    """Standardized Precipitation-Evapotranspiration Index (Vicente-Serrano et al. 2010; METHODS 2).

    SPEI = Phi^-1(F(D)) with D the ``scale``-month sum of P - PET and F the generalised-logistic
    (three-parameter log-logistic) CDF fitted per calendar month by unbiased PWM / L-moments over the
    calibration period, as the R package SPEI (see module docstring).

    Parameters
    ----------
    pr, pet
        Monthly precipitation and potential evapotranspiration in the same unit (e.g. mm per month),
        same dims and coords, ``time`` on the first of each consecutive month; ``pr`` non-negative.
    scale, cal_start, cal_end, clip
        As for :func:`spi`. ``clip=None``: values outside the fitted distribution's support give +-inf.
    method
        ``"pwm"`` (the only fit offered for the log-logistic distribution, as the R package default).

    Returns
    -------
    DataArray ``spei`` (float64), attrs units, long_name, method, parameters, references.
    """
    name = _name(pr, "pr")
    pet_name = _name(pet, "pet")
    idx = _month_index(pr, name)
    idx_pet = _month_index(pet, pet_name)
    if idx.shape != idx_pet.shape or np.any(idx != idx_pet):
        raise InputError(
            f"{pet_name}: its monthly 'time' axis ({_fmt_month(int(idx_pet[0]))}..{_fmt_month(int(idx_pet[-1]))}) "
            f"differs from that of {name} ({_fmt_month(int(idx[0]))}..{_fmt_month(int(idx[-1]))})"
        )
    scale = _check_scale(scale, idx.size)
    if method != "pwm":
        raise InputError(f"method: SPEI supports 'pwm' (L-moments) only, got {method!r}")
    clip_value = _check_clip(clip)
    try:
        pr_a, pet_a = xr.align(pr, pet, join="exact")
    except ValueError as err:
        raise GridMismatchError(f"{pet_name}: its coordinates differ from those of {name}: {err}") from err
    balance = _checked_non_negative(pr_a, name) - pet_a
    _check_time_chunks(balance, f"{name} - {pet_name}")
    cal, cal_text = _calibration(idx, cal_start, cal_end, name)
    out = _standardised(balance, cal, scale, _DIST_GLO, 0, clip_value)
    out.name = "spei"
    out.attrs = {
        "units": "1",
        "long_name": f"Standardized Precipitation-Evapotranspiration Index, {scale}-month (SPEI-{scale})",
        "method": (
            "log-logistic (generalised logistic) distribution of P - PET fitted per calendar month by "
            "unbiased probability-weighted moments / L-moments, as the R package SPEI; SPEI = inverse "
            "standard normal of F (AS241)"
        ),
        "parameters": f"scale={scale}, dist=log-logistic, method={method}, calibration={cal_text}, clip={clip}",
        "references": SPEI_REFERENCES,
    }
    return out


# ----------------------------------------------------------------------------------------------
# SO3: hazard, exposure, vulnerability
# ----------------------------------------------------------------------------------------------


def _classify_spi(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    out = np.full(v.shape, SO3_NO_DROUGHT, dtype=np.int8)
    out[v < SO3_MILD_UPPER] = SO3_MILD
    out[v < SO3_MODERATE_UPPER] = SO3_MODERATE
    out[v < SO3_SEVERE_UPPER] = SO3_SEVERE
    out[v < SO3_EXTREME_UPPER] = SO3_EXTREME
    out[np.isnan(v)] = CLASS_NODATA
    return out


def _class_attrs(long_name: str, parameters: str) -> dict:
    return {
        "units": "1",
        "long_name": long_name,
        "method": (
            f"December SPI-12 classes: no drought SPI >= {SO3_MILD_UPPER}, mild {SO3_MODERATE_UPPER} <= SPI < "
            f"{SO3_MILD_UPPER}, moderate {SO3_SEVERE_UPPER} <= SPI < {SO3_MODERATE_UPPER}, severe "
            f"{SO3_EXTREME_UPPER} <= SPI < {SO3_SEVERE_UPPER}, extreme SPI < {SO3_EXTREME_UPPER}"
        ),
        "parameters": parameters,
        "references": SO3_REFERENCES,
        "legend": SO3_LEGEND.name,
        "flag_values": np.array(SO3_LEGEND.codes, dtype=np.int8),
        "flag_meanings": " ".join(c.name.replace(" ", "_") for c in SO3_LEGEND.classes),
        "_FillValue": np.int8(CLASS_NODATA),
    }


def so3_hazard(spi12: xr.DataArray) -> xr.DataArray:
    """SO3-1 drought hazard: the class of the December SPI-12 of each year (METHODS 2).

    Parameters
    ----------
    spi12
        Monthly SPI-12 (e.g. from :func:`spi` with ``scale=12``), dims ``time`` + any others.

    Returns
    -------
    int8 DataArray ``so3_hazard``, one step per year with a December value, ``time`` at 1 January of
    that year; codes of ``SO3_LEGEND`` (0 no drought, 1 mild, 2 moderate, 3 severe, 4 extreme),
    ``CLASS_NODATA`` where SPI is NaN.
    """
    name = _name(spi12, "spi12")
    _month_index(spi12, name)
    found = re.search(r"\bscale=(\d+)", str(spi12.attrs.get("parameters", "")))
    if found and int(found.group(1)) != SO3_SPI_SCALE:
        raise InputError(
            f"{name}: its attributes say scale={found.group(1)}; the SO3 hazard is the December "
            f"SPI-{SO3_SPI_SCALE} (spi(pr, scale={SO3_SPI_SCALE}))"
        )
    december = spi12.isel(time=np.flatnonzero(spi12["time"].dt.month.values == SO3_HAZARD_MONTH))
    if december.sizes["time"] == 0:
        raise InputError(f"{name}: the series has no December; the SO3 hazard is the December SPI-12")
    years = december["time"].dt.year.values
    out = xr.apply_ufunc(_classify_spi, december, dask="parallelized", output_dtypes=[np.int8])
    out = out.assign_coords(time=pd.to_datetime([f"{y:04d}-01-01" for y in years]).values)
    out.name = "so3_hazard"
    out.attrs = _class_attrs("SO3-1 drought hazard class of the year (December SPI-12)",
                             f"month={SO3_HAZARD_MONTH}, spi_scale={SO3_SPI_SCALE}, source={name}")
    return out


def so3_hazard_blocks(
    hazard: xr.DataArray, block_years: int = SO3_BLOCK_YEARS, start: int = SO3_BLOCK_START
) -> xr.DataArray:
    """Most severe SO3-1 hazard class in each block of ``block_years`` years (METHODS 2).

    Blocks are [start, start + block_years - 1], [start + block_years, ...] (default 2000-2003, ...,
    2020-2023); only blocks whose years all lie within the series' time range are returned (a block cut
    by the start or end of the series is left out). Missing years (``CLASS_NODATA``) are skipped; a
    pixel with no data in the whole block is ``CLASS_NODATA``.

    Returns
    -------
    int8 DataArray ``so3_hazard_block``, ``time`` at 1 January of each block's first year, with the
    coordinate ``block_end`` (last year of the block).
    """
    name = _name(hazard, "hazard")
    if not isinstance(hazard, xr.DataArray) or "time" not in hazard.dims:
        raise InputError(f"{name}: expected an annual hazard DataArray with a 'time' dimension")
    if isinstance(block_years, bool) or not isinstance(block_years, (int, np.integer)) or block_years < 1:
        raise InputError(f"block_years: expected a whole number of years >= 1, got {block_years!r}")
    years = hazard["time"].dt.year.values
    first, last = int(years.min()), int(years.max())
    block_years = int(block_years)
    starts = [b for b in range(int(start), last - block_years + 2, block_years) if b >= first]
    if not starts:
        raise InputError(
            f"{name}: years {first}-{last} hold no complete block of {block_years} years "
            f"(blocks start in {start}, {int(start) + block_years}, ...)"
        )
    blocks = []
    for b in starts:
        sel = np.flatnonzero((years >= b) & (years <= b + block_years - 1))
        # the classes are ordered by severity and CLASS_NODATA is below them all, so max() skips missing
        blocks.append(hazard.isel(time=sel).max("time"))
    out = xr.concat(blocks, dim="time").astype(np.int8)
    out = out.assign_coords(
        time=pd.to_datetime([f"{b:04d}-01-01" for b in starts]).values,
        block_end=("time", np.array([b + block_years - 1 for b in starts], dtype=np.int64)),
    )
    out = out.transpose(*hazard.dims)
    out.name = "so3_hazard_block"
    out.attrs = _class_attrs(
        f"SO3-1 most severe drought hazard class in {block_years}-year blocks",
        f"block_years={block_years}, start={start}",
    )
    return out


def so3_exposure(hazard: xr.DataArray, population: xr.DataArray) -> xr.DataArray:
    """SO3-2 exposure: the population of each pixel in each hazard class (METHODS 2).

    exposure[k] = population where hazard == k, 0 where hazard is another class, NaN where hazard is
    ``CLASS_NODATA`` or population is NaN. Summing over pixels (zonal statistics) gives the population
    exposed to each drought intensity.

    Parameters
    ----------
    hazard
        int class raster from :func:`so3_hazard` or :func:`so3_hazard_blocks`.
    population
        Population count per pixel (persons, non-negative), on the same grid; it may have its own
        ``time`` (matched by label) or none (broadcast over the hazard's time).

    Returns
    -------
    float64 DataArray ``so3_exposure`` with a leading ``drought_class`` dimension (codes of
    ``SO3_LEGEND``, with a ``class_name`` coordinate).
    """
    pop_name = _name(population, "population")
    if not isinstance(population, xr.DataArray) or not isinstance(hazard, xr.DataArray):
        raise InputError("so3_exposure: hazard and population must be xarray.DataArray")
    shared = [d for d in population.dims if d in hazard.dims]
    if not set(population.dims) <= set(hazard.dims):
        raise InputError(f"{pop_name}: dims {population.dims} are not among the hazard dims {hazard.dims}")
    try:
        hz, pop = xr.align(hazard, population, join="exact", exclude=set(hazard.dims) - set(shared))
    except ValueError as err:
        raise GridMismatchError(f"{pop_name}: not on the hazard grid: {err}") from err
    if pop.chunks is None and np.nanmin(np.asarray(pop.values, dtype=np.float64), initial=0.0) < 0:
        raise InputError(f"{pop_name}: population must be non-negative; found {float(np.nanmin(pop.values))}")
    pop = pop.astype(np.float64)
    layers = []
    for code in SO3_LEGEND.codes:
        layers.append(xr.where(hz == CLASS_NODATA, np.nan, xr.where(hz == code, pop, 0.0 * pop)))
    out = xr.concat(layers, dim="drought_class").assign_coords(
        drought_class=np.array(SO3_LEGEND.codes, dtype=np.int8),
        class_name=("drought_class", [c.name for c in SO3_LEGEND.classes]),
    )
    out = out.transpose("drought_class", *hazard.dims)
    out.name = "so3_exposure"
    out.attrs = {
        "units": population.attrs.get("units", "persons"),
        "long_name": "SO3-2 population exposed to each drought hazard class",
        "method": "population of the pixel where the hazard class equals drought_class, else 0",
        "parameters": f"legend={SO3_LEGEND.name}",
        "references": SO3_REFERENCES,
    }
    return out


def so3_vulnerability(
    proxies: Mapping[str, xr.DataArray],
    weights: Mapping[str, float] | None = None,
    aggregation: str = "arithmetic",
    normalise: str = "minmax",
    *,
    inverted: Iterable[str] = (),
) -> xr.DataArray:
    """SO3-3 drought vulnerability: a weighted composite of normalised proxy layers (METHODS 2).

    Each proxy x_i is normalised to [0, 1] (``"minmax"``: (x - min) / (max - min) over all its pixels,
    NaN ignored; ``"none"``: taken as already in [0, 1]); proxies named in ``inverted`` (higher value =
    less vulnerable, e.g. income) become 1 - x. With weights w_i normalised to sum to 1 (default equal):

        arithmetic: V = sum_i w_i x_i          geometric: V = prod_i x_i ** w_i

    Returns
    -------
    float64 DataArray ``so3_vulnerability`` in [0, 1] (1 = most vulnerable); NaN where any proxy is NaN.
    """
    if not isinstance(proxies, Mapping) or not proxies:
        raise InputError("proxies: expected a non-empty mapping of name -> DataArray")
    names = list(proxies)
    if weights is None:
        weights = {k: 1.0 for k in names}
    if set(weights) != set(names):
        raise InputError(f"weights: keys {sorted(weights)} differ from the proxies {sorted(names)}")
    w = {k: float(weights[k]) for k in names}
    if any(not (v >= 0) for v in w.values()) or sum(w.values()) <= 0:
        raise InputError(f"weights: expected non-negative numbers with a positive sum, got {w}")
    total = sum(w.values())
    w = {k: v / total for k, v in w.items()}
    if aggregation not in ("arithmetic", "geometric"):
        raise InputError(f"aggregation: expected 'arithmetic' or 'geometric', got {aggregation!r}")
    if normalise not in ("minmax", "none"):
        raise InputError(f"normalise: expected 'minmax' or 'none', got {normalise!r}")
    inverted = set(inverted)
    if not inverted <= set(names):
        raise InputError(f"inverted: {sorted(inverted - set(names))} are not among the proxies {names}")
    for k in names:
        if not isinstance(proxies[k], xr.DataArray):
            raise InputError(f"proxies[{k!r}]: expected an xarray.DataArray, got {type(proxies[k]).__name__}")
    try:
        aligned = dict(zip(names, xr.align(*[proxies[k] for k in names], join="exact")))
    except ValueError as err:
        raise GridMismatchError(f"proxies: the layers are not on one grid: {err}") from err
    scaled = {}
    for k in names:
        x = aligned[k].astype(np.float64)
        if normalise == "minmax":
            lo, hi = x.min(), x.max()
            if x.chunks is None and not float(hi) > float(lo):
                raise InputError(f"proxies[{k!r}]: constant or empty layer (min = max = {float(lo)}); "
                                 "min-max normalisation needs a range")
            x = (x - lo) / (hi - lo)
        elif x.chunks is None and (float(x.min()) < 0 or float(x.max()) > 1):
            raise InputError(f"proxies[{k!r}]: values outside [0, 1] with normalise='none'")
        scaled[k] = 1.0 - x if k in inverted else x
    if aggregation == "arithmetic":
        out = sum(w[k] * scaled[k] for k in names)
    else:
        out = functools.reduce(lambda a, b: a * b, [scaled[k] ** w[k] for k in names])
    out.name = "so3_vulnerability"
    out.attrs = {
        "units": "1",
        "long_name": "SO3-3 drought vulnerability index (0 least, 1 most vulnerable)",
        "method": f"{aggregation} weighted mean of {normalise}-normalised proxies",
        "parameters": (
            f"weights={ {k: round(v, 6) for k, v in w.items()} }, aggregation={aggregation}, "
            f"normalise={normalise}, inverted={sorted(inverted)}"
        ),
        "references": SO3_REFERENCES,
    }
    return out
