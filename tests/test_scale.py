"""Scale: the same outputs on threads and on a 2-worker LocalCluster, a killed run resumed to the same
outputs, tiled (dask) zonal sums equal to the in-memory ones, and the chunk plan."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dask
import numpy as np
import pytest
import rasterio
import xarray as xr
import yaml

from dldd.core.legend import SDG3, UNCCD_LAND_COVER
from dldd.demo.scenes import write_scene
from dldd.errors import SpecError
from dldd.pipeline import KILL_AFTER_STAGE_ENV, KILLED_EXIT_CODE, chunk_size_of, run_assessment
from dldd.pipeline.chunks import plan_chunks
from dldd.spec import load_spec, parse_spec
from dldd.stats.zonal import NODATA_LABEL, ZONAL_TILE, class_areas, transition_areas, weighted_means

#: The stages of the small local scene that the scale tests run: the chain whose products later stages use
#: (climate, aridity zones, IPCC zone, nested land cover, tables for practices) and the interventions.
#: The interventions are left out to keep the test short. The numba kernels reach the workers through
#: module-level functions (pickled by reference; an unpickled gufunc closure used to crash the workers).
INDICATORS = {"aridity": {}, "land_cover": {}, "sdg_15_3_1": {}, "drought": {}, "sensitivity": {}, "sand": {},
              "practices": {}}
#: Manifest entries that say how a run went, not what it made.
RUN_ONLY = ("timings_s", "scheduler", "resumed_stages")
SRC = Path(__file__).resolve().parents[1] / "src"


def outputs(folder: Path) -> dict[str, bytes]:
    """Every output file of a run folder (not its inputs, spec or resume records), manifest without RUN_ONLY."""
    files = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if not p.is_file() or rel.parts[0] in ("inputs", ".dldd") or rel.name == "spec.yaml":
            continue
        data = p.read_bytes()
        if rel.name == "manifest.json":
            m = json.loads(data)
            for k in RUN_ONLY:
                m.pop(k)
            data = json.dumps(m, sort_keys=True).encode()
        files[str(rel)] = data
    return files


def assert_same_outputs(a: Path, b: Path) -> None:
    fa, fb = outputs(a), outputs(b)
    assert sorted(fa) == sorted(fb)
    assert any(k.startswith("maps/") for k in fa) and any(k.startswith("tables/") for k in fa)
    differ = [k for k in fa if fa[k] != fb[k]]
    assert not differ, f"outputs differ: {differ}"


#: Worker memory of the scale tests: chunks of 64 cells (the plan's floor), so that the NDVI grid (70 x 140
#: cells) and the climate grid (35 x 70) are each cut into several chunks.
SMALL_WORKER = "1MiB"


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scale")
    os.environ.setdefault("DLDD_CACHE", str(folder / "cache"))
    before = os.environ.get("DLDD_WORKER_MEMORY")
    os.environ["DLDD_WORKER_MEMORY"] = SMALL_WORKER  # also for the killed run's subprocess
    spec_path = write_scene("local", folder, res=0.05, climate_res=0.1, indicators=INDICATORS)
    raw = yaml.safe_load(spec_path.read_text())
    raw.pop("interventions", None)
    spec_path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True))
    spec = load_spec(spec_path)
    run_assessment(spec, folder / "threads", scheduler_name="threads")
    yield folder, spec_path, spec
    if before is None:
        os.environ.pop("DLDD_WORKER_MEMORY", None)
    else:
        os.environ["DLDD_WORKER_MEMORY"] = before


def test_threads_and_local_cluster_give_identical_outputs(scene):
    folder, _, spec = scene
    ctx = run_assessment(spec, folder / "cluster", workers=2)
    manifest = json.loads((folder / "cluster" / "manifest.json").read_text())
    assert manifest["scheduler"] == "LocalCluster(2 workers)" and manifest["resumed_stages"] == []
    assert ctx.chunks["ndvi"] == plan_chunks(24, ctx.memory_per_worker)
    assert_same_outputs(folder / "threads", folder / "cluster")


def test_killed_run_resumes_to_identical_outputs(scene):
    folder, spec_path, spec = scene
    out = folder / "killed"
    script = ("import sys; from dldd.spec import load_spec; from dldd.pipeline import run_assessment; "
              "run_assessment(load_spec(sys.argv[1]), sys.argv[2])")
    env = {**os.environ, "PYTHONPATH": str(SRC), KILL_AFTER_STAGE_ENV: "aridity"}
    proc = subprocess.run([sys.executable, "-c", script, str(spec_path), str(out)], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    assert proc.returncode == KILLED_EXIT_CODE, "the run was not stopped after its first stage"
    assert not (out / "manifest.json").exists(), "the run finished although it was killed"
    done = {p.stem for p in (out / ".dldd" / "stages").glob("*.json")}
    assert done == {"aridity"}, done
    ctx = run_assessment(spec, out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert "aridity" in manifest["resumed_stages"]
    assert set(manifest["resumed_stages"]) == done and len(done) < len(manifest["stages"])
    # the products of the reused stages were restored for the later ones (zones, IPCC zone, climate)
    assert {"aridity_class", "ipcc_climate_zone", "climate"} <= set(ctx.products)
    assert_same_outputs(folder / "threads", out)
    assert not list(out.rglob(".*.tmp"))

    # a changed output is not trusted: its stage runs again, and only that one
    lpd = out / "maps" / "lpd_baseline.tif"
    lpd.write_bytes(b"not a GeoTIFF")
    run_assessment(spec, out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["stages"]) - set(manifest["resumed_stages"]) == {"sdg_15_3_1"}
    assert_same_outputs(folder / "threads", out)


def test_no_stage_gathers_a_whole_map(scene, monkeypatch):
    """Cut into 64-cell chunks, the whole chain never hands a map or cube larger than a chunk back to the
    client: every array any compute returns (dask's finalize step) spans at most one chunk along y or x
    (the same run with the stages' former dask.compute calls handed back 44 whole maps and cubes). The
    outputs are those of the threads run, and those of a one-chunk run to 1e-9 (tables) and float32
    rounding (maps): bilinear reprojection by blocks differs from the whole-map one by ~1e-13."""
    import dask.array.core as dac
    import pandas as pd

    folder, _, spec = scene
    returned = []
    real = dac.finalize

    def record(results, *args):
        out = real(results, *args)
        returned.append(getattr(out, "shape", ()))
        return out

    monkeypatch.setattr(dac, "finalize", record)
    ctx = run_assessment(spec, folder / "small_chunks", resume=False)
    monkeypatch.setattr(dac, "finalize", real)
    assert set(ctx.chunks.values()) == {(64, 64)}
    # the NDVI and climate grids span several chunks (the wind grid, 14 x 28 cells, is one chunk)
    grids = {(da.sizes["y"], da.sizes["x"]) for da in ctx._inputs.values() if max(da.sizes["y"], da.sizes["x"]) > 64}
    assert grids == {(70, 140), (35, 70)}
    whole = [s for s in returned if any(ny in s and nx in s for ny, nx in grids)]
    assert returned and not whole, f"whole maps returned to the client: {whole[:5]}"
    assert_same_outputs(folder / "threads", folder / "small_chunks")

    monkeypatch.setenv("DLDD_WORKER_MEMORY", "2GiB")  # every grid in one chunk
    ctx = run_assessment(spec, folder / "one_chunk", resume=False)
    assert ctx.chunks["ndvi"] == (768, 768)
    a, b = outputs(folder / "threads"), outputs(folder / "one_chunk")
    assert sorted(a) == sorted(b)
    for name in a:
        if name.endswith(".csv"):
            pd.testing.assert_frame_equal(pd.read_csv(folder / "threads" / name),
                                          pd.read_csv(folder / "one_chunk" / name), rtol=1e-9)
        elif name.startswith("maps/"):
            with rasterio.open(folder / "threads" / name) as x, rasterio.open(folder / "one_chunk" / name) as y:
                np.testing.assert_allclose(x.read(), y.read(), rtol=1e-6, equal_nan=True)
                assert x.tags() == y.tags()


def _regions(rng, ny, nx):
    idx = np.sort(rng.choice(ny * nx, ny * nx // 2, replace=False))
    frac = rng.uniform(0.01, 1, idx.size).astype("float32")
    cut = idx.size // 2
    return {"A": (idx[: cut + 500], frac[: cut + 500]), "B": (idx[cut:], frac[cut:]), "empty": (idx[:0], frac[:0])}


def test_tiled_dask_zonal_sums_equal_in_memory_ones():
    rng = np.random.default_rng(7)
    ny, nx = 2 * ZONAL_TILE + 37, ZONAL_TILE + 101  # edge tiles of odd sizes
    classes = xr.DataArray(rng.integers(-1, 9, (ny, nx)).astype("int8"), dims=("y", "x"))
    end = xr.DataArray(rng.integers(0, 8, (ny, nx)).astype("int8"), dims=("y", "x"))
    zones = xr.DataArray(rng.integers(-1, 2, (ny, nx)).astype("int8"), dims=("y", "x"))
    values = xr.DataArray(np.where(rng.random((ny, nx)) < 0.1, np.nan, rng.normal(3, 1, (ny, nx))), dims=("y", "x"))
    area = xr.DataArray(rng.uniform(50, 60, (ny, nx)), dims=("y", "x"))
    regions = _regions(rng, ny, nx)

    def lazy(da, c):
        return da.chunk({"y": c, "x": c + 13})

    eager = [class_areas(classes, regions, area, UNCCD_LAND_COVER),
             class_areas(classes, regions, area, UNCCD_LAND_COVER, zones=zones, zone_legend=SDG3),
             transition_areas(classes, end, regions, area, UNCCD_LAND_COVER),
             weighted_means(values, regions, area)]
    for c in (100, 300):
        tiled = [class_areas(lazy(classes, c), regions, lazy(area, 77), UNCCD_LAND_COVER),
                 class_areas(lazy(classes, c), regions, area, UNCCD_LAND_COVER, zones=lazy(zones, c), zone_legend=SDG3),
                 transition_areas(lazy(classes, c), lazy(end, c), regions, area, UNCCD_LAND_COVER),
                 weighted_means(lazy(values, c), regions, area)]
        for e, t in zip(eager, tiled):  # bit for bit, whatever the chunks
            assert e.equals(t)

    # against a plain per-cell reference
    flat_c, flat_a, flat_v = classes.values.ravel(), area.values.ravel(), values.values.ravel()
    t = eager[0].set_index(["region", "class"]).area_km2
    m = eager[3].set_index("region")
    for rid, (idx, frac) in regions.items():
        w = flat_a[idx] * frac.astype("float64")
        for code in UNCCD_LAND_COVER.codes:
            np.testing.assert_allclose(t[(rid, UNCCD_LAND_COVER.label(code))], w[flat_c[idx] == code].sum(),
                                       rtol=1e-12, atol=1e-9)
        other = ~np.isin(flat_c[idx], UNCCD_LAND_COVER.codes)
        np.testing.assert_allclose(t[(rid, NODATA_LABEL)], w[other].sum(), rtol=1e-12, atol=1e-9)
        ok = np.isfinite(flat_v[idx])
        if ok.any():
            np.testing.assert_allclose(m.loc[rid, "mean_value"], (flat_v[idx][ok] * w[ok]).sum() / w[ok].sum(), rtol=1e-12)
        else:
            assert np.isnan(m.loc[rid, "mean_value"])


def test_tiled_zonal_never_computes_a_whole_map():
    """Each dask task of the reduction sees one tile: a map of 4 x 4 tiles is read in 16 pieces, and tiles
    without region cells are not read at all."""
    import dask
    import dask.array as dsa

    n = 4 * ZONAL_TILE
    seen = []

    def record(block, block_info=None):
        if block.size:  # not dask's probing with empty arrays
            seen.append(block.shape)
        return block

    data = dsa.ones((n, n), dtype="int8", chunks=ZONAL_TILE).map_blocks(record, dtype="int8")
    classes = xr.DataArray(data, dims=("y", "x"))
    area = xr.DataArray(np.ones((n, n)), dims=("y", "x"))
    rows = np.arange(ZONAL_TILE, 2 * ZONAL_TILE)  # region in the second row of tiles only
    idx = (rows[:, None] * n + np.arange(n)[None, :]).ravel()
    with dask.config.set(scheduler="synchronous"):
        t = class_areas(classes, {"R": (idx, np.ones(idx.size))}, area, UNCCD_LAND_COVER)
    assert t.set_index("code").loc[1, "area_km2"] == idx.size
    assert len(seen) == 4 and all(s == (ZONAL_TILE, ZONAL_TILE) for s in seen)


def test_plan_chunks():
    gib = 1024**3
    # edge = sqrt(0.5 x memory / (n_times x 8 bytes x 8 copies)), rounded down to a multiple of 256
    assert plan_chunks(24, 2 * gib) == (768, 768)  # sqrt(2^30 / 1536) = 836
    assert plan_chunks(516, 2 * gib) == (128, 128)  # 180: below one tile, the next divisor of 256
    assert plan_chunks(24, 8 * gib)[0] == 1536  # 4 x the memory, 2 x the edge (1672 -> 1536)
    assert plan_chunks(1, 64 * gib) == (4096, 4096)  # capped
    assert plan_chunks(100000, 2 * gib) == (64, 64)  # floor
    e = plan_chunks(480, 4 * gib)[0]
    assert e * e * 480 * 8 * 8 <= 0.5 * 4 * gib  # the chunk's kernel fits the budget


def test_spec_chunk_default_is_the_plan_and_only_written_formats_are_offered():
    """``compute.chunk_size`` unset means planned chunks (docs/spec.md), set means that edge; ``zarr`` was
    accepted as an output format although nothing wrote it: it is refused now."""
    base = {"name": "chunks", "regions": {"include": ["MNG"]}, "inputs": {}, "indicators": {"land_cover": {}}}
    assert chunk_size_of(parse_spec(base)) is None
    assert chunk_size_of(parse_spec({**base, "compute": {"chunk_size": 256}})) == 256
    with pytest.raises(SpecError, match="outputs.formats"):
        parse_spec({**base, "outputs": {"formats": ["cog", "zarr"]}})


def test_streamed_map_equals_eager_cog(tmp_path):
    """A dask-backed map written block by block (rioxarray's locked windowed writer, on the threads, the
    synchronous and the processes scheduler) gives the same COG, byte for byte, as the eager writer, empty tags included; the file is a valid COG (GDAL's COG layout: IFDs before the data, tiled, overviews) with
    the values and no-data of the map."""
    from dldd.core import io
    from dldd.pipeline.writers import write_cog_streamed

    rng = np.random.default_rng(3)
    ny, nx = 700, 530
    coords = {"y": np.linspace(40, 39, ny), "x": np.linspace(80, 81, nx)}
    maps = [xr.DataArray(np.where(rng.random((ny, nx)) < 0.1, np.nan, rng.normal(size=(ny, nx))), dims=("y", "x"),
                         coords=coords, name="values", attrs={"units": "1", "long_name": "float map", "references": ""}),
            xr.DataArray(rng.integers(-1, 2, (ny, nx)).astype("int8"), dims=("y", "x"), coords=coords,
                         attrs={"_FillValue": -128, "units": "1", "long_name": "class map"})]
    for k, da in enumerate(maps):
        da = da.rio.write_crs("EPSG:4326")
        eager = tmp_path / f"eager{k}.tif"
        io.write_cog(eager, da)
        for scheduler in ("threads", "synchronous", "processes"):
            streamed = tmp_path / f"streamed{k}-{scheduler}.tif"
            with dask.config.set(scheduler=scheduler):
                write_cog_streamed(streamed, da.chunk({"y": 256, "x": 200}))
            assert eager.read_bytes() == streamed.read_bytes(), scheduler
        assert b"LAYOUT=IFDS_BEFORE_DATA" in streamed.read_bytes()[:1024]
        with rasterio.open(streamed) as src:
            assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
            assert src.profile["tiled"] and src.overviews(1)
            assert src.tags()["long_name"] == da.attrs["long_name"]
            if k == 0:  # an empty tag is kept in GDAL's metadata (rasterio does not list empty ones)
                assert b'<Item name="references"></Item>' in streamed.read_bytes()
            if k == 0:
                assert np.isnan(src.nodata) and src.dtypes[0] == "float32"
                np.testing.assert_array_equal(src.read(1), da.values.astype("float32"))
            else:
                assert src.nodata == -128 and src.dtypes[0] == "int8"
                np.testing.assert_array_equal(src.read(1), da.values)
    assert not list(tmp_path.glob(".*.tmp"))


def test_tiled_regions_match_whole_grid_coverage(tmp_path, monkeypatch):
    """Coverage computed tile by tile (TiledRegions) gives the tables of the whole-grid coverage (up to
    rounding at partly covered cells), the same on numpy and dask maps, and skips tiles outside all regions."""
    import shapely

    from dldd.regions.rasterize import region_fractions
    from dldd.stats.zonal import TiledRegions

    rng = np.random.default_rng(11)
    ny, nx = ZONAL_TILE + 57, 2 * ZONAL_TILE + 1  # a last tile 1 cell wide
    y = 45.0 - (np.arange(ny) + 0.5) * 0.01
    x = 70.0 + (np.arange(nx) + 0.5) * 0.01
    classes = xr.DataArray(rng.integers(0, 8, (ny, nx)).astype("int8"), dims=("y", "x"),
                           coords={"y": y, "x": x}).rio.write_crs("EPSG:4326")
    geoms = {"star": shapely.Polygon([(70.3, 44.0), (71.2, 44.9), (72.4, 43.9), (71.0, 42.5), (70.6, 43.1)]),
             "circle": shapely.Point(75.0, 43.5).buffer(0.4),  # crosses the 1-cell-wide last tile
             "far": shapely.box(10, 10, 11, 11)}
    from dldd.core.areas import cell_area_km2

    area = cell_area_km2(classes)
    whole = class_areas(classes, region_fractions(geoms, classes), area, UNCCD_LAND_COVER)
    tiled = TiledRegions(geoms, classes)
    by_tile = class_areas(classes, tiled, area, UNCCD_LAND_COVER)
    lazy = class_areas(classes.chunk(100), tiled, area, UNCCD_LAND_COVER)
    assert by_tile.equals(lazy)
    np.testing.assert_allclose(by_tile.area_km2, whole.area_km2, rtol=1e-9, atol=1e-9)
    assert by_tile[by_tile.region == "circle"].area_km2.sum() > 0
    assert by_tile[by_tile.region == "far"].area_km2.sum() == 0
    assert len(tiled.tiles(ZONAL_TILE)) < 6  # of 2 x 3 tiles, the one outside both polygons' boxes is skipped

    # with a cache folder each tile's coverage is computed once and read back by later tables
    import dldd.stats.zonal as zonal
    from dldd.stats.zonal import tiled_cache_key

    cache = tmp_path / tiled_cache_key(geoms, classes)
    cached = TiledRegions(geoms, classes, cache_dir=cache)
    first = class_areas(classes.chunk(100), cached, area, UNCCD_LAND_COVER)
    assert first.equals(by_tile) and len(list(cache.glob("tile-*.npz"))) == len(tiled.tiles(ZONAL_TILE))
    monkeypatch.setattr(zonal, "_tile_coverage_computed", lambda *a: pytest.fail("coverage computed again"))
    assert class_areas(classes, cached, area, UNCCD_LAND_COVER).equals(by_tile)
    assert tiled_cache_key(geoms, classes) != tiled_cache_key({**geoms, "far": shapely.box(10, 10, 12, 12)}, classes)


def test_intermediate_zarr_round_trip(tmp_path):
    """ctx.intermediate stores lazy layers in Zarr chunk by chunk and gives them back unchanged."""
    import pandas as pd

    from dldd.pipeline.context import RunContext

    ctx = RunContext(spec=None, out=tmp_path, regions=[])  # only the output folder is used
    rng = np.random.default_rng(5)
    coords = {"time": pd.date_range("2000-01-01", periods=4, freq="YS"), "y": np.linspace(40, 39, 50),
              "x": np.linspace(80, 81, 60)}
    values = xr.DataArray(np.where(rng.random((4, 50, 60)) < 0.1, np.nan, rng.random((4, 50, 60))),
                          dims=("time", "y", "x"), coords=coords, name="v", attrs={"units": "1"}).rio.write_crs("EPSG:4326")
    classes = xr.DataArray(rng.integers(-1, 2, (50, 60)).astype("int8"), dims=("y", "x"),
                           coords={"y": coords["y"], "x": coords["x"]}, attrs={"_FillValue": -128}).rio.write_crs("EPSG:4326")
    classes[0, 0] = -128
    for da in (values.chunk({"y": 20, "x": (25, 35)}), classes.chunk(16)):
        back = ctx.intermediate("layer", da)
        assert back.chunks is not None and back.dtype == da.dtype and back.attrs == da.attrs
        assert back.rio.crs == da.rio.crs
        np.testing.assert_array_equal(back.values, da.values)
    assert (tmp_path / ".dldd" / "intermediate" / "layer.zarr").is_dir()


def test_intermediate_resumes_by_bands(tmp_path):
    """A stage killed while storing an intermediate writes, when started again, only the bands not done."""
    import dask

    from dldd.pipeline.context import RunContext

    ctx = RunContext(spec=None, out=tmp_path, regions=[])
    ctx.stage_fingerprint = "stage-fingerprint"
    computed, fail_at = [], {"row": 40}

    def kernel(block, block_info=None):
        row = block_info[0]["array-location"][0][0]
        if row == fail_at["row"]:
            raise RuntimeError("killed")
        computed.append(row)
        return block * 2

    data = np.arange(100 * 60, dtype="float64").reshape(100, 60)
    da = xr.DataArray(dask.array.from_array(data, chunks=(20, 30)).map_blocks(kernel, dtype="float64"),
                      dims=("y", "x"), coords={"y": np.arange(100.0), "x": np.arange(60.0)}, name="v")
    with dask.config.set(scheduler="synchronous"):
        with pytest.raises(RuntimeError):
            ctx.intermediate("layer", da)
        assert sorted(set(computed)) == [0, 20]
        computed.clear()
        fail_at["row"] = None
        back = ctx.intermediate("layer", da)
        assert sorted(set(computed)) == [40, 60, 80]  # the two bands done are not computed again
        np.testing.assert_array_equal(back.values, data * 2)
        computed.clear()
        ctx.intermediate("layer", da)
        assert computed == []  # complete: reopened as it is
        ctx.stage_fingerprint = "another"
        ctx.intermediate("layer", da)
        assert sorted(set(computed)) == [0, 20, 40, 60, 80]  # another stage fingerprint: written again
    # numpy-backed layers are stored too
    np.testing.assert_array_equal(ctx.intermediate("plain", da.copy(data=data)).values, data)
