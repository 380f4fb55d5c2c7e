"""Benchmark: the bounded-memory path of dldd on a synthetic NDVI cube growing from 1x to 16x in area.

Per size, in a fresh process on dask's threaded scheduler (2 threads): the annual NDVI cube (24 years,
int16 Zarr, 256 x 256 chunks on disk) opened lazily and rechunked by
:func:`dldd.pipeline.chunks.plan_chunks` for ``DLDD_WORKER_MEMORY``; the GPG2 productivity trajectory
(Mann-Kendall / Theil-Sen numba kernel through ``apply_ufunc``); the class map streamed into a COG
(:func:`dldd.pipeline.writers.write_cog_streamed`); then the class area table of four quadrants and a
circle (exact coverage fractions) reduced tile by tile from the written map (:func:`dldd.stats.zonal.class_areas`
on the lazily reopened COG). Printed per size: wall time (after a warm-up that compiles the kernels),
throughput and the process's peak RSS (``getrusage``), which holds everything: the scheduler, the chunks
in flight, the regions (:class:`dldd.stats.zonal.TiledRegions`: coverage computed in each tile's task).

Peer: the same trajectory and table in memory (numpy, no dask) on the 1x and 4x cubes.
Scaling: the 16x cube on a LocalCluster of 1 and of 2 single-thread workers (efficiency ``t1 / (2 t2)``)
with the workers' peak RSS.

Full runs (``--full``): the whole assessment (``run_assessment``: aridity, land cover, SDG 15.3.1, drought,
sensitivity, sand, practices) on the synthetic local demo scene written at three resolutions (1x, 4x, 16x
the cells of the NDVI grid and of the climate grid), each in a fresh process on 2 threads: wall time and
peak RSS of the whole run, which must stay flat since no stage gathers a whole map.

Run: ``PYTHONPATH=src python benchmarks/bench_scale.py [base_edge_cells]`` or ``... --full``
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: Area factors of the scenes (the edge grows with the square root).
FACTORS = (1, 2, 4, 8, 16)
#: Edge of the 1x scene, cells (0.0025 degree, about 250 m).
BASE_EDGE = 512
RES_DEG = 0.0025
N_YEARS = 24
#: Worker memory the chunk plan assumes in this benchmark (a small worker, so that even 1x has chunks).
WORKER_MEMORY = "256MiB"
SEED = 2024


def make_cube(path: Path, edge: int) -> None:
    """Synthetic NDVI x 10000 (int16) with planted trends, written chunk by chunk to Zarr."""
    import dask.array as dsa
    import pandas as pd
    import xarray as xr

    rng = dsa.random.default_rng(SEED)
    chunks = (N_YEARS, 256, 256)
    years = np.arange(N_YEARS, dtype="float32")[:, None, None]
    slope = rng.normal(0, 0.004, (1, edge, edge), chunks=(1, 256, 256)).astype("float32")
    noise = rng.normal(0, 0.02, (N_YEARS, edge, edge), chunks=chunks).astype("float32")
    ndvi = 0.3 + slope * years + noise
    data = dsa.round(ndvi * 10000).astype("int16")
    y = 40.0 - (np.arange(edge) + 0.5) * RES_DEG
    x = 75.0 + (np.arange(edge) + 0.5) * RES_DEG
    t = pd.to_datetime([f"{2000 + i}-01-01" for i in range(N_YEARS)])
    da = xr.DataArray(data, dims=("time", "y", "x"), coords={"time": t, "y": y, "x": x}, name="ndvi")
    da.to_dataset().to_zarr(path, mode="w")


def run_one(cube: str, out: str, workers: int, threads: int) -> dict:
    """One measured run in this process (called in a fresh subprocess)."""
    import resource

    import rioxarray
    import shapely
    import xarray as xr
    from dask.distributed import Client, LocalCluster

    from dldd.core.areas import cell_area_km2
    from dldd.core.legend import SDG3
    from dldd.indicators.productivity import trajectory
    from dldd.pipeline.chunks import plan_chunks, worker_memory
    from dldd.pipeline.writers import write_cog_streamed
    from dldd.stats.zonal import TiledRegions, class_areas

    import contextlib

    import dask

    if workers:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True, dashboard_address=None)
        client = Client(cluster)
        scheduler = contextlib.nullcontext()
    else:  # the threaded scheduler in this process: its peak is the whole run's
        cluster = client = None
        scheduler = dask.config.set(scheduler="threads", num_workers=threads)
    try:
        scheduler.__enter__()
        warm = xr.DataArray(np.random.default_rng(0).random((N_YEARS, 8, 8), dtype="float32"), dims=("time", "y", "x"),
                            coords={"time": xr.open_zarr(cube).time.values}).chunk({"y": 4})
        trajectory(warm)["trajectory"].compute()  # load the numba kernels in the workers

        t0 = time.perf_counter()
        ndvi = xr.open_zarr(cube)["ndvi"]
        edge = plan_chunks(N_YEARS, worker_memory())[0]
        ndvi = (ndvi.chunk({"time": -1, "y": edge, "x": edge}).astype("float32") / 10000).rio.write_crs("EPSG:4326")
        classes = trajectory(ndvi)["trajectory"].rio.write_crs("EPSG:4326")
        classes.attrs["_FillValue"] = -128
        write_cog_streamed(Path(out) / "trajectory.tif", classes)
        t_map = time.perf_counter() - t0
        written = rioxarray.open_rasterio(Path(out) / "trajectory.tif", chunks={"y": edge, "x": edge}).squeeze("band", drop=True)
        w, s, e, n = written.rio.bounds()
        mx, my = (w + e) / 2, (s + n) / 2
        regions = {"south-west": shapely.box(w, s, mx, my), "south-east": shapely.box(mx, s, e, my),
                   "north-west": shapely.box(w, my, mx, n), "north-east": shapely.box(mx, my, e, n),
                   "circle": shapely.Point(mx, my).buffer((e - w) / 3)}
        fractions = TiledRegions(regions, written)  # coverage computed per tile, in the tile's task
        area = cell_area_km2(xr.DataArray(np.broadcast_to(np.float32(0), written.shape), dims=("y", "x"),
                                          coords={"y": written.y.values, "x": written.x.values}).rio.write_crs("EPSG:4326"))
        t_regions = time.perf_counter() - t0 - t_map
        table = class_areas(written, fractions, area, SDG3)
        wall = time.perf_counter() - t0
        print(f"map {t_map:.1f} s, regions {t_regions:.1f} s, table {wall - t_map - t_regions:.1f} s", file=sys.stderr)
        if client is not None:
            worker_peak = max(client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss).values())
    finally:
        scheduler.__exit__(None, None, None)
        if client is not None:
            client.close()
            cluster.close()
    client_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if client is None:
        worker_peak = client_peak
    return {"wall_s": wall, "worker_peak_mib": worker_peak / 1024, "client_peak_mib": client_peak / 1024,
            "chunk": edge, "degraded_km2": float(table[table["class"] == "degraded"].area_km2.sum()),
            "pixels": int(ndvi.sizes["y"] * ndvi.sizes["x"])}


def run_in_memory(cube: str) -> dict:
    """The peer: the same trajectory and table with numpy (no dask): the whole cube in one process."""
    import resource

    import rioxarray  # noqa: F401  (the .rio accessor)
    import shapely
    import xarray as xr

    from dldd.core.areas import cell_area_km2
    from dldd.core.legend import SDG3
    from dldd.indicators.productivity import trajectory
    from dldd.regions.rasterize import region_fractions
    from dldd.stats.zonal import class_areas

    t0 = time.perf_counter()
    ndvi = (xr.open_zarr(cube)["ndvi"].load().astype("float32") / 10000).rio.write_crs("EPSG:4326")
    classes = trajectory(ndvi)["trajectory"].rio.write_crs("EPSG:4326")
    w, s, e, n = classes.rio.bounds()
    fractions = region_fractions({"all": shapely.box(w, s, e, n)}, classes)
    class_areas(classes, fractions, cell_area_km2(classes), SDG3)
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


#: Full runs: area factors, NDVI / climate cell size of the 1x scene (degrees) and the stages run.
FULL_FACTORS = (1, 4, 16)
FULL_BASE_RES = 0.01
FULL_CLIMATE_RATIO = 5
FULL_INDICATORS = {"aridity": {}, "land_cover": {}, "sdg_15_3_1": {}, "drought": {}, "sensitivity": {}, "sand": {},
                   "practices": {}}


def write_full_scene(folder: str, res: float) -> dict:
    """The local demo scene (synthetic series) at ``res`` degrees, without its interventions."""
    import yaml

    from dldd.demo.scenes import write_scene

    spec_path = write_scene("local", Path(folder), res=res, climate_res=res * FULL_CLIMATE_RATIO,
                            indicators=FULL_INDICATORS)
    raw = yaml.safe_load(spec_path.read_text())
    raw.pop("interventions", None)
    spec_path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True))
    return {"spec": str(spec_path)}


def run_full(spec_path: str, out: str) -> dict:
    """One whole assessment in this process (a fresh subprocess) on 2 threads: wall time and peak RSS."""
    import resource

    from dldd.pipeline import run_assessment
    from dldd.spec import load_spec

    spec = load_spec(spec_path)
    t0 = time.perf_counter()
    ctx = run_assessment(spec, out, scheduler_name="threads", resume=False)
    wall = time.perf_counter() - t0
    ndvi = ctx.input("ndvi")
    pr = ctx.input("precipitation")
    return {"wall_s": wall, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "pixels": int(ndvi.sizes["y"] * ndvi.sizes["x"]), "climate_cells": int(pr.sizes["y"] * pr.sizes["x"]),
            "chunks": {k: list(v) for k, v in sorted(ctx.chunks.items()) if k in ("ndvi", "precipitation")},
            "timings": ctx.timings}


def main_full() -> None:
    import platform

    import dask

    print("dldd bench_scale --full: whole assessments of the synthetic local scene (SYNTHETIC data), 2 threads")
    print(f"machine: {os.cpu_count()} cores (shared), python {platform.python_version()}, dask {dask.__version__}; "
          f"DLDD_WORKER_MEMORY={WORKER_MEMORY}")
    print("\nsize  ndvi_cells  climate_cells  chunks(ndvi/climate)  wall_s  peak_RSS_MiB  slowest stages")
    peaks = []
    with tempfile.TemporaryDirectory(prefix="dldd-bench-full-") as tmp:
        for f in FULL_FACTORS:
            scene = Path(tmp) / f"scene_{f}x"
            spec = _subprocess("scene", scene, FULL_BASE_RES / f ** 0.5)["spec"]
            r = _subprocess("full", spec, Path(tmp) / f"out_{f}x")
            peaks.append(r["peak_mib"])
            slow = ", ".join(f"{k} {v:.0f} s" for k, v in sorted(r["timings"].items(), key=lambda kv: -kv[1])[:3])
            print(f"{f:>3}x  {r['pixels']:>10,}  {r['climate_cells']:>13,}  {r['chunks']['ndvi'][0]:>4} / "
                  f"{r['chunks']['precipitation'][0]:<4}           {r['wall_s']:6.1f}  {r['peak_mib']:12.0f}  {slow}")
    print(f"peak {FULL_FACTORS[-1]}x / 1x: {peaks[-1] / peaks[0]:.2f}; max / min over the sizes: {max(peaks) / min(peaks):.2f}")


def _subprocess(*args) -> dict:
    env = {**os.environ, "DLDD_WORKER_MEMORY": WORKER_MEMORY,
           "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    res = subprocess.run([sys.executable, __file__, "--one", *map(str, args)], env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(res.stderr[-3000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(base_edge: int = BASE_EDGE) -> None:
    import dask
    import platform

    print(f"dldd bench_scale: {N_YEARS}-year NDVI cube, GPG2 trajectory, streamed COG, tiled area table")
    print(f"machine: {os.cpu_count()} cores (shared), python {platform.python_version()}, dask {dask.__version__}; "
          f"DLDD_WORKER_MEMORY={WORKER_MEMORY}")
    with tempfile.TemporaryDirectory(prefix="dldd-bench-scale-") as tmp:
        tmp = Path(tmp)
        cubes = {}
        for f in FACTORS:
            edge = int(round(base_edge * f ** 0.5))
            cubes[f] = tmp / f"ndvi_{f}x.zarr"
            make_cube(cubes[f], edge)
        print("\nsize  pixels      chunk  wall_s  Mpx/s  peak_RSS_MiB  (threads scheduler, 2 threads, one process)")
        rows = {}
        for f in FACTORS:
            out = tmp / f"out_{f}x"
            out.mkdir()
            r = _subprocess("cluster", cubes[f], out, 0, 2)
            rows[f] = r
            print(f"{f:>3}x  {r['pixels']:>10,}  {r['chunk']:>5}  {r['wall_s']:6.1f}  {r['pixels'] / r['wall_s'] / 1e6:5.2f}"
                  f"  {r['client_peak_mib']:12.0f}")
        cp = [rows[f]["client_peak_mib"] for f in FACTORS]
        print(f"peak {FACTORS[-1]}x / 1x: {cp[-1] / cp[0]:.2f}; max / min over the sizes: {max(cp) / min(cp):.2f}")

        print("\npeer: in memory (numpy, one process)")
        for f in (1, 4):
            r = _subprocess("memory", cubes[f])
            print(f"{f:>3}x  wall {r['wall_s']:6.1f} s  peak {r['peak_mib']:6.0f} MiB")

        f = FACTORS[-1]
        print(f"\nscaling at {f}x: single-thread workers")
        times = {}
        for n in (1, 2):
            out = tmp / f"out_{f}x_{n}w"
            out.mkdir()
            r = _subprocess("cluster", cubes[f], out, n, 1)
            times[n] = r["wall_s"]
            print(f"  {n} worker(s): wall {r['wall_s']:6.1f} s  {r['pixels'] / r['wall_s'] / 1e6:5.2f} Mpx/s"
                  f"  worker peak {r['worker_peak_mib']:.0f} MiB  client peak {r['client_peak_mib']:.0f} MiB")
        print(f"  speed-up {times[1] / times[2]:.2f}, efficiency t1/(2 t2) = {times[1] / (2 * times[2]):.2f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        if sys.argv[2] == "cluster":
            result = run_one(sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
        elif sys.argv[2] == "scene":
            result = write_full_scene(sys.argv[3], float(sys.argv[4]))
        elif sys.argv[2] == "full":
            result = run_full(sys.argv[3], sys.argv[4])
        else:
            result = run_in_memory(sys.argv[3])
        print(json.dumps(result))
    elif len(sys.argv) > 1 and sys.argv[1] == "--full":
        main_full()
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else BASE_EDGE)
