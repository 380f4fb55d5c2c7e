"""Monte Carlo study of the effectiveness statistics (issue 19; numbers recorded in docs/methods.md,
section "Effectiveness: calibration by simulation").

Part 1, evaluate_intervention on SYNTHETIC scenes (dldd.effectiveness.synthetic: 1 km pixels, 24 years
2001-2024, start 2013, two-scale spatially correlated noise per year, white noise, a regional anomaly
per year), per scenario and treated-area size (10 x 10, 20 x 20 and 45 x 45 cells and a 2 x 200 belt),
``--seeds`` seeds each:
- ``null``: no effect. Reports the false-positive rate of the 95 % interval (interval excludes 0), of
  the placebo-in-time test and of the break test on the treated-minus-control series, and bias / RMSE.
- ``effect``: effect 0.03 from 2013, treated land chosen for a base level 0.03 higher, and a drought
  year in 2016 (every pixel loses 30 % of its base level). Reports coverage of 0.03, bias, RMSE, the
  placebo's false-positive rate, and the break test's rejection rate and median date error.
Both: mean se / SD of the estimates (se is a standard error when this is 1) and median df.

Part 2, the break test (dldd.effectiveness.breakpoints.break_test) on ``--series`` series of 24 years
with a trend and AR(1) errors (rho 0, 0.3, 0.6) and no break: rejection rates of supF and MOSUM at 5 %.

Run: ``PYTHONPATH=src python benchmarks/mc_effectiveness.py [--seeds 200] [--series 1000] [--out f.json]``
(about 16 min of CPU for 200 seeds of both scenarios at the four sizes: each evaluation refits the
correlation 9 times for the jackknife, and the placebo repeats it; the two scenarios can run as two
processes with ``--scenario``; set OPENBLAS_NUM_THREADS=1). ``--quick``: 20
seeds and 100 series. ``--size`` (a key of ``SIZES``, repeatable) restricts the areas and ``--first-seed``
shifts the seeds (scene seed = first seed + 0 .. seeds - 1, plus 1000 in ``effect``), e.g. to run one
area in two processes on disjoint seeds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings

import numpy as np

from dldd.effectiveness import break_test, evaluate_intervention
from dldd.effectiveness.synthetic import synthetic_scene

YEARS = np.arange(2001, 2025)
START = 2013
EFFECT = 0.03
DROUGHT_YEAR = 2016
OUTER_KM = 20.0
MARGIN = 21  # pixels: the control ring (outer_km at 1 km pixels) fits in the scene
SIZES = {"100 cells (10x10)": (10, 10), "400 cells (20x20)": (20, 20), "2025 cells (45x45)": (45, 45),
         "belt 400 cells (2x200)": (2, 200)}
SCENARIOS = {"null": dict(effect=0.0), "effect": dict(effect=EFFECT, selected=True, drought_year=DROUGHT_YEAR)}


def run_scene(scenario: str, shape: tuple[int, int], seed: int) -> dict:
    kw = SCENARIOS[scenario]
    cube, mask = synthetic_scene(seed, treated_shape=shape, margin=MARGIN, years=YEARS, start=START, **kw)
    r = evaluate_intervention(cube, mask, START, pixel_size_km=(1.0, 1.0), outer_km=OUTER_KM, seed=seed)
    truth = kw["effect"]
    bp = r.breakpoint
    return {
        "error": r.effect - truth,
        "covered": bool(r.ci_low <= truth <= r.ci_high),
        "se": r.se,
        "df": r.df,
        "placebo_rejected": bool(not (r.placebo_ci_low <= 0 <= r.placebo_ci_high)),
        "break_rejected": bool(bp.significant) if bp else None,
        "break_error": (bp.break_year - START) if bp and bp.significant else None,
        "pre_trend_warned": any(w.startswith("pre-trend") for w in r.warnings),
    }


def summarise(rows: list[dict]) -> dict:
    err = np.array([r["error"] for r in rows])
    brk = [r["break_rejected"] for r in rows if r["break_rejected"] is not None]
    dates = [abs(r["break_error"]) for r in rows if r["break_error"] is not None]
    return {
        "n": len(rows),
        "coverage": float(np.mean([r["covered"] for r in rows])),
        "placebo_rejection": float(np.mean([r["placebo_rejected"] for r in rows])),
        "bias": float(err.mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "se_over_sd": float(np.mean([r["se"] for r in rows]) / err.std(ddof=1)),
        "median_df": float(np.median([r["df"] for r in rows])),
        "break_rejection": float(np.mean(brk)) if brk else None,
        "break_median_abs_date_error": float(np.median(dates)) if dates else None,
        "pre_trend_warning": float(np.mean([r["pre_trend_warned"] for r in rows])),
    }


def ar1_series(rng: np.random.Generator, rho: float, n_series: int, burn: int = 50) -> np.ndarray:
    w = rng.standard_normal((n_series, YEARS.size + burn))
    e = np.zeros_like(w)
    for t in range(1, w.shape[1]):
        e[:, t] = rho * e[:, t - 1] + w[:, t]
    return 0.01 * np.arange(YEARS.size) + e[:, burn:]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=None, help="JSON file for the results (written after each cell)")
    ap.add_argument("--part", choices=["all", "scenes", "breaks"], default="all")
    ap.add_argument("--scenario", choices=list(SCENARIOS), action="append", help="default: all")
    ap.add_argument("--size", choices=list(SIZES), action="append", help="default: all")
    ap.add_argument("--first-seed", type=int, default=0)
    a = ap.parse_args(argv)
    seeds, n_series = (20, 100) if a.quick else (a.seeds, a.series)
    results: dict = {"seeds": seeds, "first_seed": a.first_seed, "series": n_series, "scenes": {}, "ar1": {}}
    warnings.simplefilter("error")  # a stray warning is a bug

    def save():
        if a.out:
            with open(a.out, "w") as fh:
                json.dump(results, fh, indent=1)

    if a.part in ("all", "breaks"):
        print(f"break test, {n_series} series of {YEARS.size} years, AR(1) errors, no break; rejection at 5 %")
        print("rho    supF    MOSUM")
        for rho in (0.0, 0.3, 0.6):
            rng = np.random.default_rng(int(rho * 100) + 1)
            res = [break_test(y, YEARS) for y in ar1_series(rng, rho, n_series)]
            row = {"supf": float(np.mean([b.significant for b in res])),
                   "mosum": float(np.mean([b.mosum_significant for b in res]))}
            results["ar1"][str(rho)] = row
            print(f"{rho:<5}  {100 * row['supf']:5.1f} %  {100 * row['mosum']:5.1f} %", flush=True)
            save()
    if a.part in ("all", "scenes"):
        for scenario in a.scenario or list(SCENARIOS):
            for label in a.size or list(SIZES):
                t0 = time.time()
                rows = [run_scene(scenario, SIZES[label], 1000 * (scenario == "effect") + a.first_seed + s) for s in range(seeds)]
                sm = summarise(rows)
                results["scenes"].setdefault(scenario, {})[label] = sm
                save()
                cov = "FPR" if scenario == "null" else "coverage"
                val = 1 - sm["coverage"] if scenario == "null" else sm["coverage"]
                print(f"{scenario:7s} {label:24s} {cov} {100 * val:5.1f} %  placebo FPR {100 * sm['placebo_rejection']:4.1f} %  "
                      f"bias {sm['bias']:+.5f}  RMSE {sm['rmse']:.5f}  se/SD {sm['se_over_sd']:.3f}  df {sm['median_df']:.0f}  "
                      f"break rej {100 * sm['break_rejection']:5.1f} %  pre-trend warn {100 * sm['pre_trend_warning']:4.1f} %  "
                      f"({time.time() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
