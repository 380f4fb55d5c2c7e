"""SPI-12 speed: dldd.indicators.drought.spi against climate_indices on the same input, same method.

Both compute SPI-12 with the gamma distribution fitted by Thom's approximation over 1981-2010, the
zero-precipitation mass q, and the index bounded to +-3.09 (climate_indices' fixed bound), on
N_PIXELS series of N_MONTHS months (1981-01 ..). climate_indices is called the fastest way it offers: one
call on the whole 3-D (time, cells, 1) array (``spatial_time_major=True``, its native Rust kernels).
If climate_indices would take longer than PEER_BUDGET_S on the full size, it runs on a subset and its
time is extrapolated linearly (and the script says so).

Run:  PYTHONPATH=src .venv/bin/python benchmarks/bench_spi.py [n_pixels]
"""

from __future__ import annotations

import os
import sys
import time
import warnings

import numpy as np
import pandas as pd
import xarray as xr

N_PIXELS = 100_000
N_MONTHS = 480
SCALE = 12
CLIP = 3.09  # climate_indices bounds its SPI to [-3.09, 3.09]
CAL = (1981, 2010)
PEER_BUDGET_S = 600.0  # run climate_indices on a subset if the full size would take longer
PROBE_PIXELS = 2_000
CHUNK_PIXELS = 12_500
SEED = 42
REPEATS = 3


def synthetic_precipitation(n_pixels: int, n_months: int, seed: int = SEED) -> np.ndarray:
    """Monthly precipitation (mm), shape (time, pixel): seasonal gamma amounts, ~5 % dry months."""
    rng = np.random.default_rng(seed)
    month = np.arange(n_months) % 12
    season = 1.0 + 0.8 * np.sin(2 * np.pi * (month - 3) / 12.0)
    shape = rng.uniform(0.8, 3.0, size=n_pixels)
    mean = rng.uniform(5.0, 120.0, size=n_pixels)
    pr = rng.gamma(shape[None, :], (mean / shape)[None, :] * season[:, None], size=(n_months, n_pixels))
    pr[rng.random(pr.shape) < 0.05] = 0.0
    return pr


def run_dldd(pr: np.ndarray, chunked: bool) -> tuple[np.ndarray, float, float]:
    from dldd.indicators.drought import spi

    time_index = pd.date_range(f"{CAL[0]}-01-01", periods=pr.shape[0], freq="MS")
    da = xr.DataArray(pr, dims=("time", "pixel"), coords={"time": time_index}, name="pr")
    if chunked:
        da = da.chunk({"time": -1, "pixel": CHUNK_PIXELS})
    spi(da.isel(pixel=slice(0, 4)), SCALE, method="thom", clip=CLIP).values  # compile / load the cache
    t0, c0 = time.perf_counter(), time.process_time()
    out = spi(da, SCALE, method="thom", cal_start=CAL[0], cal_end=CAL[1], clip=CLIP)
    values = out.compute(scheduler="threads").values if chunked else out.values
    return values, time.perf_counter() - t0, time.process_time() - c0


def run_climate_indices(pr: np.ndarray) -> tuple[np.ndarray, float, float]:
    os.environ.setdefault("CLIMATE_INDICES_LOG_LEVEL", "ERROR")
    from climate_indices import compute, indices

    def call(block):
        return indices.spi(
            block[:, :, None], SCALE, indices.Distribution.gamma, CAL[0], CAL[0], CAL[1],
            compute.Periodicity.monthly, spatial_time_major=True,
        )[:, :, 0]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        call(pr[:, :4])  # warm-up
        t0, c0 = time.perf_counter(), time.process_time()
        out = call(pr)
    return out, time.perf_counter() - t0, time.process_time() - c0


def main(n_pixels: int = N_PIXELS) -> None:
    load_start = os.getloadavg()[0]
    pr = synthetic_precipitation(n_pixels, N_MONTHS)
    print(f"SPI-{SCALE}, gamma / Thom fit, calibration {CAL[0]}-{CAL[1]}, clip +-{CLIP}: "
          f"{n_pixels:,} pixels x {N_MONTHS} months, float64")
    # ours is fast enough to run REPEATS times: the machine is shared, so the median is reported
    runs_np = [run_dldd(pr, chunked=False) for _ in range(REPEATS)]
    runs_dask = [run_dldd(pr, chunked=True) for _ in range(REPEATS)]
    ours_np, ours_dask = runs_np[0][0], runs_dask[0][0]
    t_np, c_np = (float(np.median([r[i] for r in runs_np])) for i in (1, 2))
    t_dask, c_dask = (float(np.median([r[i] for r in runs_dask])) for i in (1, 2))
    walls = lambda runs: ", ".join(f"{r[1]:.2f}" for r in runs)  # noqa: E731
    print(f"dldd spi, numpy input (gufunc on a thread pool): {t_np:8.2f} s wall {c_np:8.2f} s CPU"
          f"  (median of {REPEATS}; walls {walls(runs_np)})")
    print(f"dldd spi, dask input ({CHUNK_PIXELS}-pixel chunks, threads): {t_dask:8.2f} s wall {c_dask:8.2f} s CPU"
          f"  (median of {REPEATS}; walls {walls(runs_dask)})")
    identical = all(np.array_equal(ours_np, r[0], equal_nan=True) for r in runs_np[1:] + runs_dask)
    print(f"numpy and dask results identical (all runs): {identical}")

    _, t_probe, _ = run_climate_indices(pr[:, :PROBE_PIXELS])
    estimate = t_probe * n_pixels / PROBE_PIXELS
    if estimate <= PEER_BUDGET_S:
        theirs, t_peer, c_peer = run_climate_indices(pr)
        cols = slice(None)
        print(f"climate_indices spi, 3-D array (one call):       {t_peer:8.2f} s wall {c_peer:8.2f} s CPU")
    else:
        sub = max(PROBE_PIXELS, int(n_pixels * PEER_BUDGET_S / estimate / 2))
        theirs, t_sub, c_sub = run_climate_indices(pr[:, :sub])
        cols = slice(0, sub)
        t_peer = t_sub * n_pixels / sub
        c_peer = c_sub * n_pixels / sub
        print(f"climate_indices spi, 3-D array: {t_sub:.2f} s on {sub:,} pixels, EXTRAPOLATED linearly to "
              f"{n_pixels:,} pixels: {t_peer:8.2f} s wall {c_peer:8.2f} s CPU")
    ours = ours_np[:, cols]
    both = np.isfinite(ours) & np.isfinite(theirs)
    diff = float(np.max(np.abs(ours[both] - theirs[both])))
    only = int(np.sum(np.isfinite(ours) != np.isfinite(theirs)))
    print(f"max |dldd - climate_indices| = {diff:.3e} over {int(both.sum()):,} values "
          f"(values defined in only one: {only})")
    print(f"speed-up, wall clock: {t_peer / t_np:6.1f}x (numpy input), {t_peer / t_dask:6.1f}x (dask input)")
    print(f"speed-up, CPU time:   {c_peer / c_np:6.1f}x (numpy input), {c_peer / c_dask:6.1f}x (dask input)")
    print(f"machine: {os.cpu_count()} cores (shared), load average (1 min) {load_start:.2f} at the start, "
          f"{os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else N_PIXELS)
