"""Trend statistics per pixel: Mann-Kendall test and Theil-Sen slope.

``mann_kendall`` runs one numba generalised ufunc over the time axis of every pixel; it serves numpy
and dask inputs through ``xarray.apply_ufunc(..., dask="parallelized")``.

Formulas (Mann 1945; Kendall 1975; Gilbert 1987, ch. 16), over the m valid (finite) years:

- S = sum_{i<j} sign(x_j - x_i)
- Var(S) = [m(m-1)(2m+5) - sum_g t_g(t_g-1)(2t_g+5)] / 18, t_g the size of tie group g
- Z = (S - 1)/sqrt(Var S) if S > 0, 0 if S = 0, (S + 1)/sqrt(Var S) if S < 0 (continuity correction)
- p = 2 [1 - Phi(|Z|)] = erfc(|Z| / sqrt 2) (two-sided)
- Theil-Sen slope (Theil 1950; Sen 1968) = median_{i<j} (x_j - x_i) / (t_j - t_i) with t in years taken
  from the time coordinate, so gaps keep their true length; intercept (Conover 1980) =
  median(x) - slope * median(t), the value of the line at the first time step of the input.

Missing years (NaN or infinite values) are skipped: S, Var S, Z and p are those of the series with the
gaps removed, as in ``pymannkendall.original_test``.

Kernel notes (why it is fast): one pass over the m(m-1)/2 pairs gives S, the tie correction and the
pairwise slopes. Ties need no sort: if c_i is the number of later values equal to x_i, a tie group of
size t contributes c = t-1, t-2, .., 0 and sum_{c=0}^{t-1} 6c(c+2) = t(t-1)(2t+5). The slope median is
found by selection, not by a full sort: an evenly spaced sample brackets the median, branch-free
vectorised counting passes narrow the bracket, and only the few values left inside are sorted
(quickselect with a branch-free three-way partition for short arrays and as the fallback). All scratch
lives in one buffer allocated once per pixel. Numpy inputs run on numba's parallel target; dask inputs
run the same kernel on the serial target inside each dask task (dask provides the parallelism). Each
pixel goes through the same floating-point operations in the same order whatever the chunking or
target (no fastmath), so results are bit-identical.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np
import xarray as xr

from dldd.core.attrs import output_attrs
from dldd.errors import InputError

#: Fewest valid years for a Mann-Kendall result; fewer give NaN. The normal approximation of S is
#: adequate from about n = 10 (Gilbert 1987, section 16.4.1; Kendall 1975).
MK_MIN_YEARS = 10

#: Smallest number of years for which S and a slope are defined at all.
_MK_ABSOLUTE_MIN_YEARS = 2

MK_REFERENCES = (
    "Mann H.B. (1945) Econometrica 13:245-259; Kendall M.G. (1975) Rank Correlation Methods; "
    "Gilbert R.O. (1987) Statistical Methods for Environmental Pollution Monitoring, ch. 16; "
    "Theil H. (1950); Sen P.K. (1968) JASA 63:1379-1389; Conover W.J. (1980)"
)

_SQRT2 = math.sqrt(2.0)


@numba.njit(cache=True, nogil=True, inline="always")
def _is_finite(v):
    """Not NaN and not infinite, with quiet comparisons only (``math.isfinite`` computes v - v, which
    raises the floating-point 'invalid' flag on infinities and makes numpy warn)."""
    return v == v and v != np.inf and v != -np.inf


@numba.njit(cache=True, nogil=True, inline="always")
def _median3(a, b, c):
    return max(min(a, b), min(max(a, b), c))


@numba.njit(cache=True, nogil=True)
def _select_pair(a, b, cnt, k):
    """The k-th and (k+1)-th smallest (0-based) of a[0:cnt]; ``b`` is scratch of the same size.

    Quickselect with a median-of-three pivot and a branch-free three-way partition that copies
    between the two buffers (each value is stored at both free ends and the cursor of its side
    advances), so the loop has no unpredictable branch. ``a`` is overwritten. When k + 1 == cnt the
    second value is the k-th again.
    """
    src = a
    dst = b
    lo = 0
    while True:
        if cnt == 1:
            return src[lo], src[lo]
        p = _median3(src[lo], src[lo + (cnt >> 1)], src[lo + cnt - 1])
        nl = lo
        r = lo + cnt - 1
        for i in range(lo, lo + cnt):
            v = src[i]
            dst[nl] = v
            dst[r] = v
            nl += v < p
            r -= v > p
        nlt = nl - lo  # values < p are dst[lo:nl]; values == p fill dst[nl:r+1]; values > p follow
        ngt0 = r + 1 - lo  # rank of the first value > p
        if k + 1 < nlt:
            cnt = nlt
        elif k >= ngt0:
            lo = r + 1
            k -= ngt0
            cnt -= ngt0
        elif k < nlt:  # k is the largest value < p, k+1 is p
            mx = dst[lo]
            for i in range(lo + 1, nl):
                mx = max(mx, dst[i])
            return mx, p
        elif k + 1 < ngt0 or k + 1 >= cnt:
            return p, p
        else:  # k is p, k+1 is the smallest value > p
            mn = dst[r + 1]
            for i in range(r + 2, lo + cnt):
                mn = min(mn, dst[i])
            return p, mn
        src, dst = dst, src


#: Below this many values the quickselect above is used directly (tuned for n ~ 20 years).
_COUNTING_SELECT_MIN = 48
#: Size of the evenly spaced sample that brackets the wanted order statistic.
_SELECT_SAMPLE = 15
#: Sample ranks on each side of the target rank that give the first bracket.
_SELECT_SAMPLE_MARGIN = 3
#: Stop narrowing the bracket when it holds this few values (they are then sorted).
_SELECT_BRACKET_SORT = 16
#: Most narrowing passes before falling back to quickselect inside the bracket.
_SELECT_MAX_PASSES = 12


@numba.njit(cache=True, nogil=True, inline="always")
def _count_le(a, n, v):
    c = 0
    for i in range(n):
        c += np.int64(a[i] <= v)
    return c


@numba.njit(cache=True, nogil=True)
def _select_pair_counting(a, b, n, k):
    """As ``_select_pair`` for n >= ``_COUNTING_SELECT_MIN``, by narrowing a value bracket.

    Counting the values <= v is a branch-free, vectorised pass; compaction and sorting happen only
    once, on the few values inside the final bracket. Invariant: count(a <= lo) <= k and
    count(a <= hi) >= k + 2, so the wanted pair lies in (lo, hi]. The first bracket comes from an
    evenly spaced sample; then interpolation on the counts (with a bisection every third pass).
    Exact (the pair returned are values of ``a``); ``a`` is overwritten only by the quickselect
    fallbacks (no bracket from the sample, or a bracket still wide after the last pass, e.g. ties).
    """
    ns = _SELECT_SAMPLE
    step = n // ns
    for s in range(ns):  # insertion sort of the sample into b[0:ns]
        v = a[s * step]
        j = s - 1
        while j >= 0 and b[j] > v:
            b[j + 1] = b[j]
            j -= 1
        b[j + 1] = v
    r = (k * ns) // n
    ilo = max(r - _SELECT_SAMPLE_MARGIN, 0)
    lo = b[ilo]
    clo = _count_le(a, n, lo)
    while clo > k and ilo > 0:
        ilo = max(ilo - _SELECT_SAMPLE_MARGIN, 0)
        lo = b[ilo]
        clo = _count_le(a, n, lo)
    ihi = min(r + _SELECT_SAMPLE_MARGIN, ns - 1)
    hi = b[ihi]
    chi = _count_le(a, n, hi)
    while chi < k + 2 and ihi < ns - 1:
        ihi = min(ihi + _SELECT_SAMPLE_MARGIN, ns - 1)
        hi = b[ihi]
        chi = _count_le(a, n, hi)
    if clo > k or chi < k + 2:  # the sample did not bracket the pair (rare): plain quickselect
        return _select_pair(a, b, n, k)
    npass = 0
    while chi - clo > _SELECT_BRACKET_SORT and npass < _SELECT_MAX_PASSES:
        npass += 1
        if npass % 3 == 0:
            f = 0.5
        else:
            f = min(max((k + 1.0 - clo) / (chi - clo), 0.05), 0.95)
        v = lo + f * (hi - lo)
        if not (lo < v < hi):  # bracket at floating-point resolution (ties)
            break
        c = _count_le(a, n, v)
        if c <= k:
            lo = v
            clo = c
        elif c >= k + 2:
            hi = v
            chi = c
        else:  # exactly k+1 values <= v: the pair straddles v
            x1 = -np.inf
            x2 = np.inf
            for i in range(n):
                w = a[i]
                x1 = max(x1, w if w <= v else -np.inf)
                x2 = min(x2, w if w > v else np.inf)
            return x1, x2
    m = 0
    for i in range(n):  # branch-free compaction of (lo, hi] into b
        w = a[i]
        b[m] = w
        m += np.int64(w > lo) & np.int64(w <= hi)
    kk = k - clo
    if m <= _SELECT_BRACKET_SORT:
        for i in range(1, m):
            w = b[i]
            j = i - 1
            while j >= 0 and b[j] > w:
                b[j + 1] = b[j]
                j -= 1
            b[j + 1] = w
        return b[kk], b[kk + 1]
    for i in range(m):
        a[i] = b[i]
    return _select_pair(a, b, m, kk)


@numba.njit(cache=True, nogil=True)
def _median(a, b, n):
    """Median of a[0:n] (mean of the two middle values when n is even, as numpy); ``b`` is scratch."""
    half = n >> 1
    if n & 1:
        k = half
    else:
        k = half - 1
    if n >= _COUNTING_SELECT_MIN:
        lo, hi = _select_pair_counting(a, b, n, k)
    else:
        lo, hi = _select_pair(a, b, n, k)
    if n & 1:
        return lo
    return (lo + hi) / 2.0


@numba.njit(cache=True, nogil=True, inline="always")
def mk_z_p(s, var_s):
    """Mann-Kendall ``(Z, p)`` from S and Var S: Z = (S - 1)/sqrt(Var S) if S > 0, (S + 1)/sqrt(Var S) if
    S < 0, else 0 (continuity correction); two-sided p = erfc(|Z| / sqrt 2) (Gilbert 1987, 16.4.1)."""
    if s > 0:
        z = (s - 1) / math.sqrt(var_s)
    elif s < 0:
        z = (s + 1) / math.sqrt(var_s)
    else:
        z = 0.0
    return z, math.erfc(abs(z) / _SQRT2)


@numba.njit(cache=True, nogil=True)
def _mk_series(x, t, min_years, s, var_s, z, p, slope, intercept, nvalid):
    """Mann-Kendall and Theil-Sen for one series ``x`` at times ``t`` (years); see module docstring."""
    n = x.shape[0]
    npairs_max = n * (n - 1) // 2
    # one scratch buffer: valid values | their times | pairwise slopes | selection scratch
    buf = np.empty(2 * n + 2 * npairs_max, dtype=np.float64)
    xv = buf[:n]
    tv = buf[n : 2 * n]
    d = buf[2 * n : 2 * n + npairs_max]
    scratch = buf[2 * n + npairs_max :]
    m = 0
    for i in range(n):
        v = np.float64(x[i])
        if _is_finite(v):
            xv[m] = v
            tv[m] = t[i]
            m += 1
    nvalid[0] = m
    if m < min_years or m < _MK_ABSOLUTE_MIN_YEARS:
        s[0] = np.nan
        var_s[0] = np.nan
        z[0] = np.nan
        p[0] = np.nan
        slope[0] = np.nan
        intercept[0] = np.nan
        return
    ss = 0
    ties = 0  # sum over tie groups of t(t-1)(2t+5), as sum_i 6 c_i (c_i + 2)
    k = 0
    for i in range(m - 1):
        xi = xv[i]
        ti = tv[i]
        si = 0
        ci = 0
        for j in range(i + 1, m):
            dx = xv[j] - xi
            d[k] = dx / (tv[j] - ti)
            k += 1
            si += np.int64(dx > 0.0) - np.int64(dx < 0.0)
            ci += np.int64(dx == 0.0)
        ss += si
        ties += 6 * ci * (ci + 2)
    vs = (m * (m - 1) * (2 * m + 5) - ties) / 18.0
    s[0] = ss
    var_s[0] = vs
    z[0], p[0] = mk_z_p(ss, vs)
    b = _median(d, scratch, k)
    slope[0] = b
    # times are increasing, so their median needs no selection
    h = m >> 1
    if m & 1:
        tmed = tv[h]
    else:
        tmed = (tv[h - 1] + tv[h]) / 2.0
    intercept[0] = _median(xv, scratch, m) - tmed * b


def _mk_gufunc_body(x, t, min_years, s, var_s, z, p, slope, intercept, nvalid):
    _mk_series(x, t, min_years, s, var_s, z, p, slope, intercept, nvalid)


_MK_SIGNATURE = "(n),(n),()->(),(),(),(),(),(),()"
_MK_TYPES = [
    "void(float64[:], float64[:], int64, float64[:], float64[:], float64[:], float64[:], float64[:], "
    "float64[:], int16[:])",
]
_MK_OUTPUTS = ("s", "var_s", "z", "p", "slope", "intercept", "n")


@functools.cache
def _mk_ufunc(parallel: bool):
    """The generalised ufunc, built on first use (keeps ``import dldd`` fast).

    The work is in ``_mk_series`` (njit, cached on disk); the gufunc is a thin wrapper that is not
    cached, because gufunc caching can race between processes compiling at once (numba issue 10128).
    """
    return numba.guvectorize(
        _MK_TYPES,
        _MK_SIGNATURE,
        target="parallel" if parallel else "cpu",
        nopython=True,
    )(_mk_gufunc_body)


def _mk_apply(values, t, min_years, parallel):
    """Module-level (pickled by reference to dask workers, which then build the kernel from the cache)."""
    return _mk_ufunc(parallel)(values, t, min_years)


def time_in_years(da: xr.DataArray, dim: str) -> np.ndarray:
    """Years of the ``dim`` coordinate as float64 (datetime64/cftime via ``.dt.year``, or numbers)."""
    if dim not in da.dims:
        raise InputError(f"{da.name or 'input'}: dimension {dim!r} not found; dims are {da.dims}")
    if dim not in da.coords:
        raise InputError(
            f"{da.name or 'input'}: dimension {dim!r} has no coordinate; expected years or "
            "datetime64 at 1 January of each year"
        )
    coord = da[dim]
    if np.issubdtype(coord.dtype, np.number):
        years = np.asarray(coord.values, dtype=np.float64)
    else:
        try:
            years = np.asarray(coord.dt.year.values, dtype=np.float64)
        except (TypeError, AttributeError) as err:
            raise InputError(
                f"{da.name or 'input'}: coordinate {dim!r} has dtype {coord.dtype}; expected "
                "datetime64 (annual, 1 January) or numeric years"
            ) from err
    if years.size > 1 and not np.all(np.diff(years) > 0):
        raise InputError(
            f"{da.name or 'input'}: years of {dim!r} must be strictly increasing (one value a year); "
            f"found {years.astype(int).tolist()}"
        )
    return years


def _check_core_chunks(da: xr.DataArray, dim: str) -> None:
    if da.chunks is not None:
        nchunks = len(da.chunksizes[dim])
        if nchunks > 1:
            raise InputError(
                f"{da.name or 'input'}: the {dim!r} axis is split into {nchunks} dask chunks; the trend "
                f"kernel needs the whole series in one chunk: use .chunk({{{dim!r}: -1}})"
            )


def mann_kendall(da: xr.DataArray, dim: str = "time", min_years: int = MK_MIN_YEARS) -> xr.Dataset:
    """Mann-Kendall trend test and Theil-Sen slope of every series along ``dim``.

    Parameters
    ----------
    da
        Annual series, e.g. dims ("time", "y", "x"); float32 or float64; NaN (or inf) = missing year.
        With dask, ``dim`` must be a single chunk.
    dim
        Time dimension; its coordinate gives the years (``.dt.year`` of datetime64, or numbers).
    min_years
        Fewest valid years for a result (default ``MK_MIN_YEARS`` = 10, Gilbert 1987); fewer give NaN.

    Returns
    -------
    xarray.Dataset with, per pixel: ``s`` (Mann-Kendall S), ``var_s`` (tie-corrected variance of S),
    ``z`` (continuity-corrected), ``p`` (two-sided p-value), ``slope`` (Theil-Sen, units of ``da`` per
    year, true year spacing), ``intercept`` (Theil-Sen line at the first year of ``dim``, Conover 1980)
    and ``n`` (number of valid years, int16). See the module docstring for the formulas.
    """
    if not isinstance(da, xr.DataArray):
        raise InputError(f"mann_kendall: expected an xarray.DataArray, got {type(da).__name__}")
    if not (np.issubdtype(da.dtype, np.floating) or np.issubdtype(da.dtype, np.integer)):
        raise InputError(f"{da.name or 'input'}: dtype {da.dtype} is not numeric")
    if int(min_years) < 0:
        raise InputError(f"mann_kendall: min_years must be >= 0, got {min_years}")
    years = time_in_years(da, dim)
    _check_core_chunks(da, dim)
    if da.dtype != np.float64:
        da = da.astype(np.float64)  # per chunk with dask
    t = xr.DataArray(years - years[0] if years.size else years, dims=(dim,))
    outs = xr.apply_ufunc(
        _mk_apply,
        da,
        t,
        int(min_years),
        input_core_dims=[[dim], [dim], []],
        output_core_dims=[[] for _ in _MK_OUTPUTS],
        dask="parallelized",
        output_dtypes=[np.float64] * 6 + [np.int16],
        kwargs={"parallel": da.chunks is None},
    )
    ds = xr.Dataset(dict(zip(_MK_OUTPUTS, outs)))
    vi_units = da.attrs.get("units", "1")
    first_year = int(years[0]) if years.size else None
    params = f"dim={dim}, min_years={int(min_years)}, first_year={first_year}"
    meta = {
        "s": ("1", "Mann-Kendall S statistic"),
        "var_s": ("1", "variance of S, corrected for ties"),
        "z": ("1", "Mann-Kendall Z, continuity-corrected"),
        "p": ("1", "two-sided p-value of the Mann-Kendall test"),
        "slope": (f"({vi_units}) year-1", "Theil-Sen slope"),
        "intercept": (vi_units, f"Theil-Sen intercept at the first year ({first_year})"),
        "n": ("1", "number of valid years"),
    }
    for name, (units, long_name) in meta.items():
        ds[name].attrs = output_attrs(units, long_name, "Mann-Kendall test (tie-corrected) and Theil-Sen slope",
                                      params, MK_REFERENCES)
    return ds
