"""Numerics of the standardised indices: one numba kernel fits and evaluates a monthly series.

The methods (gamma with a zero mass by PWM / ML / Thom, GLO by PWM, the AS241 inverse normal, the
incomplete gamma function and the block exp / log) are described in :mod:`dldd.indicators.drought`.
:func:`standardised` applies the kernel to a DataArray along ``time`` (dask: one task per block).
"""

from __future__ import annotations

import concurrent.futures
import functools
import math

import numba
import numpy as np
import xarray as xr

#: Fewest positive calibration values per calendar month for a fit (the R package SPEI's rule);
#: fewer give NaN for that calendar month.
MIN_FIT_VALUES = 4

_FIT_PWM, _FIT_ML, _FIT_THOM = 0, 1, 2
_GAMMA_METHODS = {"pwm": _FIT_PWM, "ml": _FIT_ML, "thom": _FIT_THOM}
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
# Applying the kernel to a DataArray
# ----------------------------------------------------------------------------------------------


def standardised(x: xr.DataArray, cal: tuple[int, int], scale: int, dist: int, method: int,
                 clip: float) -> xr.DataArray:
    """The standardised index of every monthly series of ``x`` along ``time`` (calibration steps
    cal[0] <= t < cal[1]; ``dist`` _DIST_GAMMA or _DIST_GLO; ``method`` a _FIT_ code; ``clip`` 0 = none)."""
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
