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

Modules: :mod:`~dldd.indicators.drought.kernel` (the numba numerics: fits, incomplete gamma, inverse
normal), :mod:`~dldd.indicators.drought.indices` (``spi``, ``spei``: input checks, calibration and
units), :mod:`~dldd.indicators.drought.so3` (hazard classes, exposure, vulnerability). The public
names are imported here.
"""

from dldd.indicators.drought.indices import DEFAULT_CALIBRATION, STANDARD_SCALES, spei, spi
from dldd.indicators.drought.kernel import MIN_FIT_VALUES
from dldd.indicators.drought.so3 import (
    SO3_BLOCK_START,
    SO3_BLOCK_YEARS,
    SO3_EXTREME_UPPER,
    SO3_HAZARD_MONTH,
    SO3_LEGEND,
    SO3_MILD_UPPER,
    SO3_MODERATE_UPPER,
    SO3_SEVERE_UPPER,
    SO3_SPI_SCALE,
    so3_exposure,
    so3_hazard,
    so3_hazard_blocks,
    so3_vulnerability,
)

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
