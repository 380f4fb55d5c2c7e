"""Benchmark: dldd's lazy block reprojection (:func:`dldd.core.grid.reproject_like`, odc-geo tiles, GDAL's warp)
against rioxarray's whole-map ``reproject_match`` (the peer) on the same SYNTHETIC input.

Input: a float32 field of ``EDGE x EDGE`` cells at 0.01 degree (EPSG:4326), dask-chunked 512 x 512, and a
target grid of cells 1/0.7 times as wide, shifted by a third of a cell; and the same target in
UTM (EPSG:32643) for a change of CRS. Per case and rule (nearest, bilinear): wall time of the peer
(eager, one warp of the whole map) and of dldd (lazy, computed on dask's threaded scheduler with 2
threads), the ratio, the largest absolute difference and the peak RSS of each (``getrusage`` in a fresh
process), since the point of the block path is that no process holds the whole source.

With ``--previous SRC`` (another tree's ``src`` folder, e.g. the main branch's) the same dldd call is also
timed from that tree in the same run, and its values compared with this tree's.

Run: ``PYTHONPATH=src python benchmarks/bench_reproject.py [EDGE] [--previous SRC]`` (default 4096).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

EDGE = 4096
CASES = (("same CRS, coarser", "EPSG:4326"), ("to UTM 43N", "EPSG:32643"))
RULES = ("nearest", "bilinear")


def _field(edge: int):
    import dask.array as da
    import rioxarray  # noqa: F401  (registers .rio)
    import xarray as xr

    rng = np.random.default_rng(0)
    coarse = rng.normal(size=(edge // 64 + 1, edge // 64 + 1)).astype("float32")
    data = np.kron(coarse, np.ones((64, 64), "float32"))[:edge, :edge] + rng.normal(0, 0.1, (edge, edge)).astype("float32")
    x = 70.0 + 0.01 * (np.arange(edge) + 0.5)
    y = 45.0 - 0.01 * (np.arange(edge) + 0.5)
    src = xr.DataArray(da.from_array(data, chunks=512), dims=("y", "x"), coords={"y": y, "x": x}, name="field")
    return src.rio.write_crs("EPSG:4326").rio.write_nodata(np.nan)


def _target(src, crs: str):
    import xarray as xr

    step = 0.01 / 0.7
    left, top = float(src.x[0]) + step / 3, float(src.y[0]) - step / 3
    n = int((src.sizes["x"] - 1) * 0.01 / step)
    tgt = xr.DataArray(np.zeros((n, n), "float32"), dims=("y", "x"),
                       coords={"y": top - step * np.arange(n), "x": left + step * np.arange(n)})
    tgt = tgt.rio.write_crs("EPSG:4326")
    if crs != "EPSG:4326":
        tgt = tgt.rio.reproject(crs)
    return tgt.chunk(512)


def _one(edge: int, case: int, rule: str, which: str) -> dict:
    import dask

    from dldd.core.grid import reproject_like

    src = _field(edge)
    tgt = _target(src, CASES[case][1])
    t0 = time.perf_counter()
    if which == "peer":  # "dldd" and "prev" run the same call, from this tree or from --previous
        from rasterio.enums import Resampling

        out = src.compute().rio.reproject_match(tgt.compute(), resampling=getattr(Resampling, rule)).values
    else:
        with dask.config.set(scheduler="threads", num_workers=2):
            out = reproject_like(src, tgt, rule).values
    seconds = time.perf_counter() - t0
    np.save(f"/tmp/bench_reproject_{which}.npy", out)
    return {"seconds": seconds, "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _compare(a_name: str, b_name: str) -> str:
    a, b = np.load(f"/tmp/bench_reproject_{a_name}.npy"), np.load(f"/tmp/bench_reproject_{b_name}.npy")
    both = np.isfinite(a) & np.isfinite(b)
    diff = float(np.abs(a[both] - b[both]).max()) if both.any() else float("nan")
    differing = float(((a != b) & both).sum()) / max(int(both.sum()), 1)
    return f"{diff:11.2e} {differing:15.2%}"


def main(edge: int, previous: str | None) -> None:
    print(f"SYNTHETIC field {edge} x {edge} cells (float32, 512-cell chunks); target cells 1/0.7 as wide")
    head = (f"{'case':<18} {'rule':<9} {'peer s':>8} {'dldd s':>8} {'dldd/peer':>9} {'max |diff|':>11} "
            f"{'cells differing':>15} {'peer MiB':>9} {'dldd MiB':>9}")
    if previous:
        head += (f" {'prev s':>8} {'prev MiB':>9} {'prev-peer diff':>15} {'differing':>15}"
                 f" {'prev-dldd diff':>15} {'differing':>15}")
    print(head)
    whos = ("peer", "dldd", "prev") if previous else ("peer", "dldd")
    for case in range(len(CASES)):
        for rule in RULES:
            res = {}
            for which in whos:
                env = dict(os.environ, PYTHONPATH=previous) if which == "prev" else None
                cmd = [sys.executable, __file__, "--one", str(edge), str(case), rule, which]
                res[which] = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout)
            p, d = res["peer"], res["dldd"]
            line = (f"{CASES[case][0]:<18} {rule:<9} {p['seconds']:8.2f} {d['seconds']:8.2f} "
                    f"{d['seconds'] / p['seconds']:9.2f} {_compare('peer', 'dldd')} {p['rss_mib']:9.0f} "
                    f"{d['rss_mib']:9.0f}")
            if previous:
                line += (f" {res['prev']['seconds']:8.2f} {res['prev']['rss_mib']:9.0f} {_compare('peer', 'prev'):>31}"
                         f" {_compare('dldd', 'prev'):>31}")
            print(line)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(_one(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])))
    else:
        args = sys.argv[1:]
        prev = args[args.index("--previous") + 1] if "--previous" in args else None
        rest = [a for a in args if a not in ("--previous", prev)]
        main(int(rest[0]) if rest else EDGE, prev)
