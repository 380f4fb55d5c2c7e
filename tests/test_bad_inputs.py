"""The bad-input matrix: each wrong input is refused with a message that names the file, field or
variable and what was expected, and the output folder holds no partial result.

Every case starts from a copy of a small demo scene (local scene, 0.1 degree, written once per module),
breaks one thing in its inputs or its spec, and runs the pipeline (or the CLI) into a fresh folder.
Also here: atomic outputs (a failed run leaves the previous run's files intact, byte for byte) and the
safe handling of user files (safe YAML, no pickle of user data, outputs confined to the run folder).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
import yaml
from typer.testing import CliRunner

from dldd.errors import DlddError, GridMismatchError, InputError, SpecError

#: A corner of the local scene (Hotan oasis and the desert north of it), small enough to run fast.
EXTENT = (79.0, 36.5, 81.0, 38.0)
#: Files whose presence would be a (partial) result of a run.
RESULT_GLOBS = ("maps/*", "tables/*", "summary.json", "manifest.json", "report/*")


@pytest.fixture(scope="module")
def base_scene(tmp_path_factory) -> Path:
    from dldd.demo.scenes import write_scene

    folder = tmp_path_factory.mktemp("scene")
    write_scene("local", folder, res=0.1, climate_res=0.5, extent=EXTENT, indicators={"aridity": {}})
    return folder


@pytest.fixture
def scene(base_scene, tmp_path) -> Path:
    """A private copy of the demo scene, with its interventions and report switched off."""
    folder = tmp_path / "scene"
    shutil.copytree(base_scene, folder)
    spec = _read_spec(folder)
    spec["interventions"] = []
    spec["outputs"]["report"] = False
    _write_spec(folder, spec)
    return folder


def _read_spec(folder: Path) -> dict:
    return yaml.safe_load((folder / "spec.yaml").read_text())


def _write_spec(folder: Path, spec: dict) -> None:
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


def _edit_spec(folder: Path, **changes) -> dict:
    spec = _read_spec(folder)
    spec.update(changes)
    _write_spec(folder, spec)
    return spec


def _run(folder: Path, out: Path, indicators: dict):
    from dldd.pipeline import run_assessment
    from dldd.spec import load_spec

    spec = _edit_spec(folder, indicators=indicators)
    if indicators == NDVI:  # an SDG-only spec: no climate inputs, so the aridity stage does not run first
        for name in ("precipitation", "tmin", "tmax"):
            spec["inputs"].pop(name, None)
        _write_spec(folder, spec)
    return run_assessment(load_spec(folder / "spec.yaml"), out)


def _results(out: Path, ignore: tuple[str, ...] = ()) -> list[str]:
    found = sorted(str(p.relative_to(out)) for g in RESULT_GLOBS for p in out.glob(g)) if out.exists() else []
    return [f for f in found if not any(Path(f).name.startswith(prefix) for prefix in ignore)]


#: Results of earlier stages allowed to remain when a later one refuses an input: none (a failed run
#: removes the files it created; test_later_stage_failure_leaves_no_result).
EARLIER_STAGE_RESULTS = ()


def assert_refused(folder: Path, out: Path, indicators: dict, error: type, *needles: str) -> str:
    """The run raises ``error`` whose message holds every needle (case-insensitive); nothing is written."""
    with pytest.raises(error) as info:
        _run(folder, out, indicators)
    msg = str(info.value)
    for needle in needles:
        assert needle.lower() in msg.lower(), f"{needle!r} not in the message:\n{msg}"
    ignore = EARLIER_STAGE_RESULTS if indicators == NDVI else ()
    left = _results(out, ignore)
    assert left == [], f"partial results left in {out}: {left}"
    assert not (out / "manifest.json").exists() and not (out / "summary.json").exists()
    return msg


# --------------------------------------------------------------------------------------------------
# editing helpers
# --------------------------------------------------------------------------------------------------


def _rewrite_tif(path: Path, *, crs="keep", shift: float = 0.0, data=None) -> None:
    with rasterio.open(path) as src:
        profile = src.profile.copy()
        arr = src.read(1) if data is None else data
        transform = src.transform
    profile.update(driver="GTiff", crs=None if crs is None else (src.crs if crs == "keep" else crs))
    profile["transform"] = rasterio.Affine(transform.a, transform.b, transform.c + shift,
                                           transform.d, transform.e, transform.f)
    for key in ("blockxsize", "blockysize", "tiled", "interleave", "compress"):
        profile.pop(key, None)
    path.unlink()
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(arr, 1)


def _rewrite_nc(path: Path, edit) -> None:
    """Load a NetCDF input raw (stored values and attributes), edit the Dataset, write it back."""
    with xr.open_dataset(path, mask_and_scale=False, decode_coords="all") as ds:
        ds = ds.load()
    ds = edit(ds)
    path.unlink()
    ds.to_netcdf(path, engine="h5netcdf")


def _zone_spec(folder: Path, geojson: dict) -> None:
    (folder / "inputs" / "rim_zone.geojson").write_text(json.dumps(geojson))


NDVI = {"sdg_15_3_1": {}}
CLIMATE = {"aridity": {}}
LAND_COVER = {"land_cover": {}}


# --------------------------------------------------------------------------------------------------
# georeferencing
# --------------------------------------------------------------------------------------------------


def test_missing_crs_geotiff(scene, tmp_path):
    _rewrite_tif(scene / "inputs" / "soc.tif", crs=None)
    assert_refused(scene, tmp_path / "out", NDVI, InputError, "'soc'", "soc.tif", "coordinate reference system",
                   "crs:")


def test_missing_crs_netcdf(scene, tmp_path):
    def drop_crs(ds):
        ds = ds.drop_vars("spatial_ref")
        ds["precipitation"].attrs.pop("grid_mapping", None)
        ds["precipitation"].encoding.pop("grid_mapping", None)
        return ds

    _rewrite_nc(scene / "inputs" / "precipitation.nc", drop_crs)
    assert_refused(scene, tmp_path / "out", CLIMATE, InputError, "'precipitation'", "precipitation.nc",
                   "coordinate reference system", "crs:")


def test_grids_that_do_not_align(scene, tmp_path):
    _rewrite_tif(scene / "inputs" / "soc.tif", shift=0.05)  # half a cell east
    assert_refused(scene, tmp_path / "out", NDVI, GridMismatchError, "'soc'", "'ndvi'", "different grid",
                   "resampling")


def test_file_crs_conflicts_with_declared_crs(scene, tmp_path):
    spec = _read_spec(scene)
    spec["inputs"]["soc"]["crs"] = "EPSG:32644"  # the file says EPSG:4326
    _write_spec(scene, spec)
    assert_refused(scene, tmp_path / "out", NDVI, InputError, "'soc'", "soc.tif", "EPSG:32644", "EPSG:4326", "crs:")


def test_declared_crs_for_file_without_one_is_used(scene, tmp_path):
    """The rule's other half: ``crs:`` is how a file without a CRS is georeferenced."""
    from dldd.sources import open_input
    from dldd.spec import load_spec

    _rewrite_tif(scene / "inputs" / "soc.tif", crs=None)
    spec = _read_spec(scene)
    spec["inputs"]["soc"]["crs"] = "EPSG:4326"
    _write_spec(scene, spec)
    da = open_input(load_spec(scene / "spec.yaml"), "soc", chunks=64)
    assert da.rio.crs.to_epsg() == 4326


# --------------------------------------------------------------------------------------------------
# values
# --------------------------------------------------------------------------------------------------


def test_ndvi_x10000_declared_as_floats(scene, tmp_path):
    spec = _read_spec(scene)
    del spec["inputs"]["ndvi"]["scale_factor"]  # the file holds NDVI x 10000 (int16)
    _write_spec(scene, spec)
    assert_refused(scene, tmp_path / "out", NDVI, InputError, "'ndvi'", "ndvi.nc", "[-1, 1]", "scale_factor: 0.0001")


def test_float_ndvi_scaled_by_0_0001(scene, tmp_path):
    def to_float(ds):
        v = ds["ndvi"]
        f = xr.where(v == -3000, np.float32(np.nan), v.astype("float32") / 10000).astype("float32")
        f.attrs = {k: a for k, a in v.attrs.items() if k != "_FillValue"}
        ds["ndvi"] = f
        ds["ndvi"].encoding = {"grid_mapping": "spatial_ref"}
        return ds

    _rewrite_nc(scene / "inputs" / "ndvi.nc", to_float)  # spec still says scale_factor: 0.0001
    assert_refused(scene, tmp_path / "out", NDVI, InputError, "'ndvi'", "ndvi.nc", "+-0.0001", "drop `scale_factor`")


def test_all_nan_series(scene, tmp_path):
    def all_fill(ds):
        ds["ndvi"].values[:] = -3000
        return ds

    _rewrite_nc(scene / "inputs" / "ndvi.nc", all_fill)
    assert_refused(scene, tmp_path / "out", NDVI, InputError, "'ndvi'", "ndvi.nc", "no valid value")


def test_constant_series(scene, tmp_path):
    def constant(ds):
        ds["ndvi"].values[:] = ds["ndvi"].values[0]  # every year the same map
        return ds

    _rewrite_nc(scene / "inputs" / "ndvi.nc", constant)
    assert_refused(scene, tmp_path / "out", NDVI, InputError, "'ndvi'", "ndvi.nc", "same value in every year")


def test_years_missing_from_the_middle(scene, tmp_path):
    def gap(ds):
        years = ds.time.dt.year
        return ds.sel(time=(years < 2008) | (years > 2010))

    _rewrite_nc(scene / "inputs" / "ndvi.nc", gap)
    assert_refused(scene, tmp_path / "out", NDVI, InputError, "'ndvi'", "ndvi.nc", "2008", "2010", "missing")


def test_land_cover_for_a_few_years_only_is_accepted(scene):
    """The gap rule is for series (NDVI, climate); class maps may be given for the years a period needs."""
    from dldd.sources import open_input
    from dldd.spec import load_spec

    _rewrite_nc(scene / "inputs" / "land_cover.nc", lambda ds: ds.sel(time=ds.time.dt.year.isin([2000, 2015, 2019])))
    lc = open_input(load_spec(scene / "spec.yaml"), "land_cover", chunks=64)
    assert lc.time.dt.year.values.tolist() == [2000, 2015, 2019]


def test_time_axis_not_monthly_where_monthly_is_needed(scene, tmp_path):
    def annual(ds):
        pr = ds["precipitation"].resample(time="YS").sum()
        pr.attrs = ds["precipitation"].attrs
        out = pr.to_dataset()
        out["spatial_ref"] = ds["spatial_ref"]
        out["precipitation"].encoding = {"grid_mapping": "spatial_ref"}
        return out

    _rewrite_nc(scene / "inputs" / "precipitation.nc", annual)
    assert_refused(scene, tmp_path / "out", CLIMATE, InputError, "precipitation", "monthly")


def test_negative_precipitation(scene, tmp_path):
    def negative(ds):
        ds["precipitation"].values[100, 2, 3] = -5.0
        return ds

    _rewrite_nc(scene / "inputs" / "precipitation.nc", negative)
    assert_refused(scene, tmp_path / "out", CLIMATE, InputError, "'precipitation'", "precipitation.nc", "-5",
                   ">= 0")


def test_land_cover_code_outside_the_legend(scene, tmp_path):
    def unknown_code(ds):
        ds["land_cover"].values[3, 4, 5] = 99  # MODIS IGBP codes are 0..17 (fill 255)
        return ds

    _rewrite_nc(scene / "inputs" / "land_cover.nc", unknown_code)
    assert_refused(scene, tmp_path / "out", LAND_COVER, InputError, "land_cover", "[99]", "nesting legend")


# --------------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------------


def test_truncated_geotiff(scene, tmp_path):
    path = scene / "inputs" / "soc.tif"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    msg = assert_refused(scene, tmp_path / "out", NDVI, InputError, "'soc'", "soc.tif")
    assert "truncated" in msg or "cannot read" in msg and "as a GeoTIFF" in msg, msg


def test_netcdf_without_the_named_variable(scene, tmp_path):
    spec = _read_spec(scene)
    spec["inputs"]["ndvi"]["variable"] = "NDVI_250m"
    _write_spec(scene, spec)
    assert_refused(scene, tmp_path / "out", NDVI, InputError, "'ndvi'", "ndvi.nc", "'NDVI_250m'", "not found",
                   "['ndvi'")


# --------------------------------------------------------------------------------------------------
# areas of interest (the spec's regions.zones)
# --------------------------------------------------------------------------------------------------


def _polygon(coords) -> dict:
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "aoi"}, "geometry": {"type": "Polygon", "coordinates": [coords]}}]}


def test_empty_aoi(scene, tmp_path):
    _zone_spec(scene, {"type": "FeatureCollection", "features": []})
    assert_refused(scene, tmp_path / "out", CLIMATE, InputError, "rim_zone.geojson", "no features")


def test_aoi_outside_the_data(scene, tmp_path):
    _zone_spec(scene, _polygon([[-60, -10], [-59, -10], [-59, -9], [-60, -9], [-60, -10]]))  # Amazonia
    assert_refused(scene, tmp_path / "out", CLIMATE, InputError, "Southern Taklimakan rim", "outside")


def test_intervention_outside_the_outcome_grid(scene, base_scene, tmp_path):
    """An intervention polygon off the outcome's grid is refused naming the intervention, its file and both
    extents (the evaluation reads only the polygon's window of the grid)."""
    iv = _read_spec(base_scene)["interventions"][0]
    (scene / "far.geojson").write_text(json.dumps(_polygon([[10, 10], [11, 10], [11, 11], [10, 11], [10, 10]])))
    _edit_spec(scene, interventions=[{**iv, "path": "far.geojson"}])
    assert_refused(scene, tmp_path / "out", {"effectiveness": {}}, InputError, iv["name"], "far.geojson",
                   "touches no cell", "lon 10 to 11")


def test_invalid_polygon(scene, tmp_path):
    bowtie = [[79.2, 36.6], [80.8, 37.9], [80.8, 36.6], [79.2, 37.9], [79.2, 36.6]]  # self-intersecting
    _zone_spec(scene, _polygon(bowtie))
    assert_refused(scene, tmp_path / "out", CLIMATE, InputError, "rim_zone.geojson", "invalid", "self-intersection")


# --------------------------------------------------------------------------------------------------
# the spec
# --------------------------------------------------------------------------------------------------


def _cli_refuses(folder: Path, out: Path, *needles: str) -> str:
    from dldd.cli import app

    result = CliRunner().invoke(app, ["run", str(folder / "spec.yaml"), "--out", str(out)])
    assert result.exit_code == 2, result.output
    text = " ".join((result.output + (result.stderr if result.stderr_bytes is not None else "")).split())
    for needle in needles:
        assert needle.lower() in text.lower(), f"{needle!r} not in:\n{text}"
    assert _results(out) == []
    return text


def test_spec_unknown_top_level_key(scene, tmp_path):
    _edit_spec(scene, outptus={"formats": ["csv"]}, indicators=CLIMATE)
    _cli_refuses(scene, tmp_path / "out", "outptus", "unknown key")


def test_spec_unknown_indicator_parameter(scene, tmp_path):
    _edit_spec(scene, indicators={"aridity": {"pet_methd": "hargreaves"}})
    _cli_refuses(scene, tmp_path / "out", "indicators.aridity.pet_methd", "extra")


def test_spec_wrong_types(scene, tmp_path):
    _edit_spec(scene, compute={"chunk_size": "large"}, indicators=CLIMATE)
    _cli_refuses(scene, tmp_path / "out", "compute.chunk_size", "integer", "'large'")


def test_spec_reversed_period(scene, tmp_path):
    _edit_spec(scene, periods={"baseline": [2015, 2000]}, indicators=CLIMATE)
    _cli_refuses(scene, tmp_path / "out", "periods.baseline", "reversed", "2015", "2000")


def test_spec_wrong_type_in_indicator_parameters(scene, tmp_path):
    with pytest.raises(SpecError, match=r"indicators\.drought\.scale.*'twelve'"):
        _run(scene, tmp_path / "out", {"drought": {"scale": "twelve"}})
    assert _results(tmp_path / "out") == []


# --------------------------------------------------------------------------------------------------
# the output folder
# --------------------------------------------------------------------------------------------------


def test_unwritable_output_folder_under_a_file(scene, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    out = blocker / "run"  # a folder under a regular file cannot exist, even for root
    assert_refused(scene, out, CLIMATE, InputError, str(out), "not writable")


def test_unwritable_output_folder_under_proc(scene):
    out = Path("/proc/dldd-run")
    assert_refused(scene, out, CLIMATE, InputError, "/proc/dldd-run", "not writable")


# --------------------------------------------------------------------------------------------------
# atomic outputs
# --------------------------------------------------------------------------------------------------


def _digests(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file() and ".dldd" not in p.relative_to(out).parts}


def test_failed_run_leaves_previous_outputs_intact(scene, tmp_path):
    out = tmp_path / "out"
    both = {"aridity": {}, "land_cover": {}}  # aridity runs first, land_cover second
    _run(scene, out, both)
    before = _digests(out)
    assert "manifest.json" in before and any(k.startswith("maps/land_cover") for k in before)
    path = scene / "inputs" / "land_cover.nc"  # used by the later stage only
    data = path.read_bytes()
    path.unlink()  # a new file, as a user would copy in (HDF5 shares the handle of a file still open)
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match="land_cover"):
        _run(scene, out, both)
    assert _digests(out) == before
    assert not [p for p in out.rglob("*.tmp")], "temporary files left behind"


def test_later_stage_failure_leaves_no_result(scene, tmp_path):
    spec = _read_spec(scene)
    del spec["inputs"]["ndvi"]["scale_factor"]  # NDVI x 10000 read as floats: refused by sdg_15_3_1
    _write_spec(scene, spec)
    out = tmp_path / "out"
    with pytest.raises(InputError, match="ndvi"):
        _run(scene, out, {"land_cover": {}, "sdg_15_3_1": {}})  # land_cover runs (and succeeds) first
    assert _results(out) == []


# --------------------------------------------------------------------------------------------------
# safe handling of user files
# --------------------------------------------------------------------------------------------------


def test_yaml_python_tags_are_refused(tmp_path):
    from dldd.spec import load_spec

    marker = tmp_path / "pwned"
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\nregions: [CHN]\n"
                    "inputs: {}\nindicators: {aridity: {}}\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(spec)
    assert not marker.exists()


def test_no_pickle_of_user_data():
    src = Path(__file__).resolve().parents[1] / "src" / "dldd"
    offenders = [str(p.relative_to(src)) for p in src.rglob("*.py")
                 if re.search(r"^\s*(import|from)\s+(c?pickle|dill|joblib|cloudpickle)\b", p.read_text(), re.M)]
    assert offenders == []


@pytest.mark.parametrize("parts", [("..", "escape.csv"), ("/etc", "passwd"), ("tables", "..", "..", "x.tif")])
def test_output_paths_are_confined(tmp_path, parts):
    from dldd.core.io import confined

    with pytest.raises(InputError, match="outside the output folder"):
        confined(tmp_path / "run", *parts)
    assert confined(tmp_path / "run", "tables", "a.csv") == (tmp_path / "run" / "tables" / "a.csv").resolve()


@pytest.mark.parametrize("name", ["../../escape", "/etc/passwd", "..", "belt/../../x"])
def test_intervention_names_cannot_leave_the_run_folder(tmp_path, name):
    """Intervention names from the spec become file names under effectiveness/: slugged, then confined."""
    from dldd.core.io import confined
    from dldd.pipeline.stages.effectiveness import _slug

    path = confined(tmp_path, "effectiveness", f"{_slug(name)}.json")
    assert path.parent == (tmp_path / "effectiveness").resolve()


def test_no_archive_is_unpacked_without_a_path_check(tmp_path):
    """An archive unpacked in src must go through the traversal check io.confined, which refuses names
    leaving the folder (dldd unpacks none today: the scan guards the future, the check is tested here)."""
    from dldd.core.io import confined

    assert confined(tmp_path, "maps", "a.tif") == tmp_path.resolve() / "maps" / "a.tif"
    for bad in (("..", "evil.tif"), ("maps", "..", "..", "evil.tif"), ("/etc/passwd",)):
        with pytest.raises(InputError, match="outside the output folder"):
            confined(tmp_path, *bad)
    src = Path(__file__).resolve().parents[1] / "src" / "dldd"
    for p in src.rglob("*.py"):
        text = p.read_text()
        if re.search(r"\b(extractall|unpack_archive)\(|\.extract\(", text):
            assert "confined(" in text, f"{p.relative_to(src)} unpacks an archive without io.confined"


@pytest.mark.parametrize("error", [InputError, GridMismatchError, SpecError])
def test_errors_are_dldd_errors(error, tmp_path, monkeypatch):
    """Every bad-input error is a DlddError, which the CLI turns into its message and exit code 2 (no
    traceback), wherever in a run it is raised."""
    import dldd.pipeline
    import dldd.spec
    from dldd.cli import app

    assert issubclass(error, DlddError)

    def fail(*args, **kwargs):
        raise error("input 'ndvi' (x.nc): found 12000; NDVI must lie in [-1, 1]")

    monkeypatch.setattr(dldd.spec, "load_spec", lambda path: object())
    monkeypatch.setattr(dldd.pipeline, "run_assessment", fail)
    result = CliRunner().invoke(app, ["run", str(tmp_path / "spec.yaml"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert "error:" in result.output and "NDVI must lie in [-1, 1]" in result.output
    assert "Traceback" not in result.output


# --------------------------------------------------------------------------------------------------
# issue 21: the file's own missing values (CF _FillValue, missing_value, valid ranges), non-finite values
# --------------------------------------------------------------------------------------------------


def _fill_and_missing(ds):
    """_FillValue -32768 plus missing_value -3000 on a third of the cells (the issue's NetCDF)."""
    v = ds["ndvi"].values
    third = (np.add.outer(np.arange(v.shape[1]), np.arange(v.shape[2])) % 3 == 0)
    v[:, third] = -3000
    ds["ndvi"].attrs["_FillValue"] = np.int16(-32768)
    ds["ndvi"].attrs["missing_value"] = np.int16(-3000)
    return ds


def test_missing_value_besides_fill_value_is_no_data(scene, tmp_path):
    from dldd.sources import open_input
    from dldd.spec import load_spec

    _rewrite_nc(scene / "inputs" / "ndvi.nc", _fill_and_missing)
    ndvi = open_input(load_spec(scene / "spec.yaml"), "ndvi", chunks=None)
    third = (np.add.outer(np.arange(ndvi.sizes["y"]), np.arange(ndvi.sizes["x"])) % 3 == 0)
    assert bool(ndvi.values[:, third].size) and np.isnan(ndvi.values[:, third]).all()
    assert not np.isclose(ndvi.values, -0.3).any()  # -3000 x 0.0001 never read as NDVI
    ctx = _run(scene, tmp_path / "out", NDVI)
    summary = ctx.tables["sdg_15_3_1_summary"]
    assert (summary["no_data_km2"] > 0).all(), summary[["period", "no_data_km2"]]


def test_missing_value_list_and_valid_range(tmp_path):
    from dldd.sources.local import open_raster

    raw = np.array([[[-9999, -1, 5, 20000], [7, 8, 9, 10]]], dtype="int16")
    da = xr.DataArray(raw, dims=("time", "y", "x"),
                      coords={"time": [np.datetime64("2000-01-01")], "y": [1.5, 0.5], "x": [0.5, 1.5, 2.5, 3.5]},
                      attrs={"missing_value": np.array([-9999, -1], "int16"), "valid_range": np.array([0, 10000], "int16")})
    da.rio.write_crs("EPSG:4326").to_dataset(name="v").to_netcdf(tmp_path / "v.nc", engine="h5netcdf")
    got = open_raster(tmp_path / "v.nc", variable="v", name="v", scale_factor=0.5, offset=1.0, chunks=None).values[0]
    # masked on the stored values (-9999, -1 listed; 20000 beyond valid_range), then x 0.5 + 1
    assert np.isnan(got[0, [0, 1, 3]]).all()
    assert got[0, 2] == 3.5 and got[1, 0] == 4.5


def test_spec_nodata_conflicting_with_the_file_is_refused(scene, tmp_path):
    spec = _read_spec(scene)
    spec["inputs"]["ndvi"]["nodata"] = -9999  # the file says _FillValue -3000
    _write_spec(scene, spec)
    assert_refused(scene, tmp_path / "out", NDVI, InputError, "'ndvi'", "ndvi.nc", "variable 'ndvi'",
                   "nodata: -9999", "-3000")


def test_infinite_values_are_refused(scene, tmp_path):
    def with_inf(ds):
        ds["precipitation"].values[3, 0, 0] = np.inf
        return ds

    _rewrite_nc(scene / "inputs" / "precipitation.nc", with_inf)
    assert_refused(scene, tmp_path / "out", CLIMATE, InputError, "'precipitation'", "precipitation.nc", "infinite")


def test_non_standard_calendar_is_named(scene, tmp_path):
    def noleap(ds):
        ds["time"].encoding = {}
        ds["time"].attrs = {}
        t = ds["time"].values
        ds = ds.assign_coords(time=xr.date_range(str(t[0])[:10], periods=t.size, freq="MS", calendar="noleap",
                                                 use_cftime=True))
        return ds

    _rewrite_nc(scene / "inputs" / "precipitation.nc", noleap)
    assert_refused(scene, tmp_path / "out", CLIMATE, InputError, "'precipitation'", "precipitation.nc", "noleap",
                   "calendar")


def test_rotated_geotiff_is_refused_as_rotated(scene, tmp_path):
    path = scene / "inputs" / "soc.tif"
    with rasterio.open(path) as src:
        profile, arr, t = src.profile.copy(), src.read(1), src.transform
    for key in ("blockxsize", "blockysize", "tiled", "interleave", "compress"):
        profile.pop(key, None)
    profile.update(driver="GTiff", transform=rasterio.Affine(t.a, 0.01, t.c, 0.01, t.e, t.f))
    path.unlink()
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(arr, 1)
    assert_refused(scene, tmp_path / "out", NDVI, InputError, "'soc'", "soc.tif", "rotated")


# --------------------------------------------------------------------------------------------------
# issue 21: a run owns only what it writes; one run per folder; transactions
# --------------------------------------------------------------------------------------------------


def test_clean_temporaries_leaves_other_files_alone(scene, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    mine = [out / ".notes.tmp", out / "inputs" / ".draft.csv.tmp"]
    for p in mine:
        p.parent.mkdir(exist_ok=True)
        p.write_text("user data")
    _run(scene, out, CLIMATE)
    assert all(p.read_text() == "user data" for p in mine)


def test_files_dldd_did_not_write_are_refused_unless_force(scene, tmp_path):
    out = tmp_path / "out"
    (out / "tables").mkdir(parents=True)
    for i in range(7):
        (out / "tables" / f"mine_{i}.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError) as info:
        _run(scene, out, CLIMATE)
    msg = str(info.value)
    for needle in (str(out), "7 file(s) dldd did not write", "tables/mine_0.csv", "and 2 more", "--force"):
        assert needle in msg, msg
    assert len(msg) < 600 and _results(out) == [f"tables/mine_{i}.csv" for i in range(7)]
    from dldd.pipeline import run_assessment
    from dldd.spec import load_spec

    run_assessment(load_spec(scene / "spec.yaml"), out, force=True)
    assert (out / "manifest.json").is_file() and (out / "tables" / "mine_0.csv").read_text() == "a,b\n1,2\n"
    owned = (out / ".dldd" / "owned").read_text().splitlines()
    assert "manifest.json" in owned and "tables/mine_0.csv" not in owned


def test_roll_back_removes_only_files_the_run_wrote(scene, tmp_path, monkeypatch):
    from dldd.pipeline.registry import STAGES

    out = tmp_path / "out"
    stage = STAGES["land_cover"]

    def failing(ctx, p):
        (ctx.out / "maps").mkdir(parents=True, exist_ok=True)
        (ctx.out / "maps" / "someone_else.txt").write_text("not dldd's")  # appears during the run
        raise InputError("land_cover: planted failure")

    import dataclasses

    monkeypatch.setitem(STAGES, "land_cover", dataclasses.replace(stage, run=failing))
    with pytest.raises(InputError, match="planted"):
        _run(scene, out, {"aridity": {}, "land_cover": {}})
    assert (out / "maps" / "someone_else.txt").read_text() == "not dldd's"
    assert _results(out) == ["maps/someone_else.txt"]


@pytest.mark.parametrize("folder", ["/", "/usr", "~"])
def test_system_folders_are_refused(folder):
    from dldd.core.io import RunFolder

    with pytest.raises(InputError, match="system or home folder"):
        with RunFolder(Path(folder).expanduser()):
            pass


def test_symlinks_in_the_output_folder_are_refused_before_anything_changes(scene, tmp_path):
    out = tmp_path / "out"
    _run(scene, out, CLIMATE)
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "stages").mkdir(parents=True)
    planted = {elsewhere / "index.html": "theirs", elsewhere / "stages" / "aridity.json": "theirs"}
    for p, text in planted.items():
        p.write_text(text)
    before = _digests(out)
    (out / "report").symlink_to(elsewhere)
    with pytest.raises(InputError, match="symbolic link"):
        _run(scene, out, CLIMATE)
    from dldd.report import build_report

    with pytest.raises(InputError, match="symbolic link"):
        build_report(out, pdf=False)
    (out / "report").unlink()
    shutil.move(out / ".dldd", tmp_path / "own")
    (out / ".dldd").symlink_to(elsewhere)
    with pytest.raises(InputError, match="symbolic link"):
        _run(scene, out, CLIMATE)
    assert all(p.read_text() == text for p, text in planted.items())
    assert _digests(out) == before


def test_report_lang_is_checked_before_anything_is_deleted(scene, tmp_path):
    from dldd.cli import app

    out = tmp_path / "out"
    _run(scene, out, CLIMATE)
    earlier = [out / "report" / "index.html", out / "report" / "region-old.html", out / "report" / "figures" / "map-a.png"]
    for p in earlier:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("an earlier report")
    result = CliRunner().invoke(app, ["report", str(out), "--lang", "x/../report", "--no-pdf"])
    assert result.exit_code == 2 and "error:" in result.output and "x/../report" in result.output, result.output
    assert all(p.read_text() == "an earlier report" for p in earlier)


def test_report_build_replaces_only_its_own_files_and_is_atomic(scene, tmp_path, monkeypatch):
    from dldd.report import build, build_report

    out = tmp_path / "out"
    _run(scene, out, CLIMATE)
    build_report(out, pdf=False)
    (out / "report" / "figures" / "mine.png").write_bytes(b"user figure")
    with pytest.raises(InputError, match="did not write.*figures/mine.png"):
        build_report(out, pdf=False)
    (out / "report" / "figures" / "stale.png").write_bytes(b"x")
    with open(out / ".dldd" / "owned", "a") as f:
        f.write("report/figures/stale.png\n")  # as if an earlier build had written it
    before = _digests(out)

    def killed(*args, **kwargs):
        raise RuntimeError("killed while drawing")

    monkeypatch.setattr(build._Builder, "pages", killed)
    with pytest.raises(RuntimeError):
        build_report(out, pdf=False, force=True)
    assert _digests(out) == before  # nothing deleted or half-written: the old report is whole
    assert not [p for p in out.rglob("*") if p.name.endswith((".part", ".tmp"))]
    monkeypatch.undo()
    build_report(out, pdf=False, force=True)
    assert (out / "report" / "figures" / "mine.png").read_bytes() == b"user figure"
    assert not (out / "report" / "figures" / "stale.png").exists()


def test_failed_rerun_with_changed_inputs_leaves_no_mix(scene, tmp_path):
    out = tmp_path / "out"
    both = {"aridity": {}, "land_cover": {}}
    _run(scene, out, both)
    before = _digests(out)

    def wetter(ds):
        ds["precipitation"].values[:] = ds["precipitation"].values * 1.5
        return ds

    _rewrite_nc(scene / "inputs" / "precipitation.nc", wetter)  # changes the first stage's outputs
    path = scene / "inputs" / "land_cover.nc"
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data[: len(data) // 3])  # the second stage fails
    with pytest.raises(InputError, match="land_cover"):
        _run(scene, out, both)
    assert _digests(out) == before  # maps, tables, workbook, summary and manifest all of the old run
    assert not (out / ".dldd" / "backup").exists()


def test_output_files_are_readable_by_others(tmp_path):
    from dldd.core import io

    path = io.write_text(tmp_path / "a.txt", "x")
    assert path.stat().st_mode & 0o044 == 0o044 & ~io._UMASK


def test_a_second_run_on_the_same_folder_is_refused(scene, tmp_path):
    import fcntl
    import os

    out = tmp_path / "out"
    (out / ".dldd").mkdir(parents=True)
    fd = os.open(out / ".dldd" / "lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as another process running into OUT holds it
        os.write(fd, b"pid 4242, started now")
        assert_refused(scene, out, CLIMATE, InputError, str(out), "in use by another dldd run", "pid 4242")
    finally:
        os.close(fd)
    _run(scene, out, CLIMATE)  # free again once the other run ends
    assert (out / "manifest.json").is_file()


# --------------------------------------------------------------------------------------------------
# issue 21: the command line, the spec loader, identity
# --------------------------------------------------------------------------------------------------


def _cli(*args):
    from dldd.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, " ".join((result.output + (result.stderr if result.stderr_bytes is not None else "")).split())


def test_user_text_is_never_read_as_markup(scene, tmp_path):
    spec = _read_spec(scene)
    spec["regions"]["zones"][0]["path"] = "inputs/[bold]rim[/].geojson"  # not there: refused, named literally
    _write_spec(scene, spec)
    code, text = _cli("spec", "check", scene / "spec.yaml")
    assert code == 2 and text.startswith("error:") and "[bold]rim[/].geojson" in text, text


@pytest.mark.parametrize("option, needle", [(("--scheduler", "bogus"), "'bogus' is not a scheduler"),
                                            (("--workers", "0"), "--workers 0"),
                                            (("--workers", "-1"), "--workers -1")])
def test_scheduler_and_workers_are_checked(scene, tmp_path, option, needle):
    _edit_spec(scene, indicators=CLIMATE)
    code, text = _cli("run", scene / "spec.yaml", "--out", tmp_path / "out", *option)
    assert code == 2 and "error:" in text and needle in text, text
    assert _results(tmp_path / "out") == []


def test_spec_scheduler_is_checked(scene, tmp_path):
    _edit_spec(scene, compute={"scheduler": "bogus"}, indicators=CLIMATE)
    _cli_refuses(scene, tmp_path / "out", "compute.scheduler", "'bogus' is not a scheduler")


def test_non_utf8_spec_is_refused(scene, tmp_path):
    path = scene / "spec.yaml"
    path.write_bytes(path.read_bytes().replace(b"name: ", "name: caf\u00e9 ".encode("latin-1"), 1))
    _cli_refuses(scene, tmp_path / "out", "not UTF-8", "spec.yaml", "0xe9")


def test_unexpected_error_is_one_line_and_a_log(scene, tmp_path, monkeypatch):
    import dldd.pipeline

    def crash(*args, **kwargs):
        raise RuntimeError("boom\nsecond line of the message")

    monkeypatch.setattr(dldd.pipeline, "run_assessment", crash)
    _edit_spec(scene, indicators=CLIMATE)
    out = tmp_path / "out"
    (out / ".dldd").mkdir(parents=True)
    code, text = _cli("run", scene / "spec.yaml", "--out", out)
    assert code == 1 and text.startswith("error: unexpected RuntimeError: boom"), text
    assert "second line" not in text and "Traceback" not in text
    logs = list((out / ".dldd").glob("error-*.log"))
    assert len(logs) == 1 and "Traceback" in logs[0].read_text() and str(logs[0]) in text


@pytest.mark.parametrize("yaml_text, needle", [
    ("name: a\nregions: [CHN]\nname: b\n", "key 'name' appears twice (lines 1 and 3)"),
    ("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nname: *b\n", "alias *a refused"),
])
def test_spec_duplicate_keys_and_aliases_are_refused(tmp_path, yaml_text, needle):
    from dldd.spec import load_spec

    (tmp_path / "spec.yaml").write_text(yaml_text)
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "spec.yaml")
    assert needle in str(info.value)


def test_validation_messages_cut_long_values(tmp_path):
    from dldd.spec import parse_spec

    with pytest.raises(SpecError) as info:
        parse_spec({"name": ["x" * 50] * 1000, "regions": ["CHN"], "inputs": {}, "indicators": {"aridity": {}}})
    assert "name" in str(info.value) and len(str(info.value)) < 400


def test_intervention_parameters_are_checked_at_spec_check(scene, base_scene, tmp_path):
    spec = _read_spec(base_scene)
    spec["interventions"] = spec["interventions"][:1]
    spec["interventions"][0]["parameters"] = {"bufer_km": 2}
    spec["outputs"]["report"] = False
    _write_spec(scene, spec)
    code, text = _cli("spec", "check", scene / "spec.yaml")
    assert code == 2 and "interventions.0.parameters.bufer_km" in text and "unknown parameter" in text, text
    assert "buffer_km" in text
    spec["interventions"][0]["parameters"] = {"buffer_km": "far"}
    _write_spec(scene, spec)
    code, text = _cli("spec", "check", scene / "spec.yaml")
    assert code == 2 and "parameters.buffer_km" in text and "'far'" in text, text


@pytest.mark.parametrize("names", [("Belt A", "belt a"), ("Caf\u00e9", "Cafe\u0301"), ("沙障", "沙障")])
def test_intervention_ids_are_unique_after_normalisation(base_scene, names):
    from dldd.spec import load_spec, parse_spec

    data = _read_spec(base_scene)
    data["interventions"] = [dict(data["interventions"][0], name=n) for n in names]
    with pytest.raises(SpecError, match="same id"):
        parse_spec(data, base_dir=base_scene)
    data["regions"]["zones"] = [dict(data["regions"]["zones"][0], name=n) for n in names]
    data["interventions"] = []
    with pytest.raises(SpecError, match="same id"):
        parse_spec(data, base_dir=base_scene)
    assert load_spec(base_scene / "spec.yaml")


@pytest.mark.parametrize("name", ["belt\x00a", "belt\x1b[31m"])
def test_control_characters_in_names_are_refused(base_scene, name):
    from dldd.spec import parse_spec

    data = _read_spec(base_scene)
    data["interventions"] = [dict(data["interventions"][0], name=name)]
    with pytest.raises(SpecError, match="control characters"):
        parse_spec(data, base_dir=base_scene)


def test_intervention_file_names_are_distinct_and_bounded():
    from dldd.pipeline.stages.effectiveness import _slug

    names = ["Belt A", "Belt-A", "沙障一", "沙障二", "حزام", "x" * 300]
    slugs = [_slug(n) for n in names]
    assert len(set(slugs)) == len(names), slugs
    assert all(len(s) <= 49 and re.fullmatch(r"[a-z0-9-]+", s) for s in slugs), slugs
    assert _slug("Belt A") == _slug("Belt A")  # stable across runs


def test_user_text_in_the_report_is_isolated_for_bidi(scene, tmp_path):
    from dldd.report import build_report

    name = "Hotan \u202eevil\u202c run"
    _edit_spec(scene, name=name)
    out = tmp_path / "out"
    _run(scene, out, CLIMATE)
    index = build_report(out, pdf=False)
    html = index.read_text(encoding="utf-8")
    assert f'<bdi translate="no">{name}</bdi>' in html
    # every place the name stands on any page is isolated: its override cannot reorder the text around it
    for page in index.parent.glob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert text.count(name) == text.count(f"{name}</bdi>") + text.count(f"{name}</title>"), page.name


def test_full_disk_is_an_error_and_leaves_the_previous_run(scene, tmp_path, monkeypatch):
    import errno

    from dldd.core import io

    out = tmp_path / "out"
    _run(scene, out, CLIMATE)
    before = _digests(out)

    def full(path, df):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(io, "write_csv", full)
    code, text = _cli("run", scene / "spec.yaml", "--out", out, "--no-resume")
    assert code == 2 and "error: [Errno 28] No space left on device" in text and "Traceback" not in text, text
    assert _digests(out) == before and (out / "manifest.json").is_file()


def test_overlapping_zones_are_not_summed_into_the_total_area(scene, tmp_path):
    spec = _read_spec(scene)
    zone = spec["regions"]["zones"][0]
    spec["regions"]["zones"].append(dict(zone, name="The same rim again"))
    _write_spec(scene, spec)
    ctx = _run(scene, tmp_path / "out", CLIMATE)
    areas = [r["area_km2"] for r in ctx.summary["regions"]]
    assert len(areas) == 2 and areas[0] == pytest.approx(areas[1])
    assert ctx.summary["regions_area_km2"] == pytest.approx(areas[0], rel=1e-6)


# --------------------------------------------------------------------------------------------------
# loose ends: units declared in the spec, preflight in the run, bounds, markup, corrupt chunks
# --------------------------------------------------------------------------------------------------


def _set_units(ds, units):
    ds["precipitation"].attrs["units"] = units
    if units is None:
        del ds["precipitation"].attrs["units"]
    return ds


def test_spec_units_conflicting_with_the_file_are_refused(scene, tmp_path):
    spec = _read_spec(scene)
    spec["inputs"]["precipitation"]["units"] = "mm/day"  # the file says mm/month
    _write_spec(scene, spec)
    assert_refused(scene, tmp_path / "out", CLIMATE, InputError, "'precipitation'", "precipitation.nc",
                   "variable 'precipitation'", "'mm/month'", "units: mm/day")


def test_spec_units_spelled_otherwise_or_for_a_file_without_units_are_used(scene):
    from dldd.sources import open_input
    from dldd.spec import load_spec

    with xr.open_dataset(scene / "inputs" / "precipitation.nc") as ds:
        stored = ds["precipitation"].values
    spec = _read_spec(scene)
    spec["inputs"]["precipitation"]["units"] = "mm month-1"  # the file says mm/month: the same units
    _write_spec(scene, spec)
    same = open_input(load_spec(scene / "spec.yaml"), "precipitation", chunks=None)
    np.testing.assert_allclose(same.values, stored, rtol=1e-6)
    _rewrite_nc(scene / "inputs" / "precipitation.nc", lambda ds: _set_units(ds, None))
    spec["inputs"]["precipitation"]["units"] = "cm/month"  # a file without units: the spec's are used
    _write_spec(scene, spec)
    in_cm = open_input(load_spec(scene / "spec.yaml"), "precipitation", chunks=None)
    assert in_cm.attrs["units"] == "mm"  # converted from cm per month to the engine's mm
    np.testing.assert_allclose(in_cm.values, stored * 10, rtol=1e-5)


def test_a_missing_input_of_the_second_stage_is_refused_before_the_first_stage(scene, tmp_path):
    from dldd.pipeline import run_assessment
    from dldd.spec import load_spec

    _edit_spec(scene, indicators={"aridity": {}, "sdg_15_3_1": {}})  # aridity runs first
    (scene / "inputs" / "soc.tif").unlink()  # needed by sdg_15_3_1 only
    started = []
    out = tmp_path / "out"
    with pytest.raises(InputError, match=r"'soc'.*soc\.tif does not exist"):
        run_assessment(load_spec(scene / "spec.yaml"), out, progress=lambda name, i, n: started.append(name))
    assert started == [] and _results(out) == []


def test_products_the_run_would_fetch_are_not_preflight_problems(tmp_path, monkeypatch):
    from dldd.sources.preflight import fetched_by_the_run, preflight
    from dldd.spec import parse_spec

    spec = parse_spec({"name": "t", "regions": ["CHN"], "inputs": {"ndvi": {"product": "mod13q1"}},
                       "indicators": {"sdg_15_3_1": {}}}, base_dir=tmp_path)
    monkeypatch.setenv("DLDD_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("DLDD_OFFLINE", raising=False)
    assert fetched_by_the_run(spec, "ndvi", spec.inputs["ndvi"])
    assert preflight(spec, fetching=True) == []  # nothing fetched: the run would fetch it
    [problem] = preflight(spec)  # spec check: not cached, with the command that fetches it
    assert "dldd fetch --product mod13q1" in problem
    monkeypatch.setenv("DLDD_OFFLINE", "1")  # a run that cannot fetch: a real problem
    assert not fetched_by_the_run(spec, "ndvi", spec.inputs["ndvi"])
    assert "dldd fetch --product mod13q1" in preflight(spec, fetching=True)[0]


def test_n_boot_is_refused_at_spec_check(scene):
    """The interval is no longer a bootstrap (issue 19): ``n_boot: 1e12``, which used to hang a run, is an
    unknown parameter refused at ``spec check`` naming the field."""
    _edit_spec(scene, indicators={"sdg_15_3_1": {}, "effectiveness": {"n_boot": 1e12}})
    code, text = _cli("spec", "check", scene / "spec.yaml")
    assert code == 2 and text.startswith("error:"), text
    assert "indicators.effectiveness.n_boot" in text, text


def test_practice_names_are_never_read_as_markup(tmp_path, monkeypatch):
    import dldd.practices.cli as practices_cli
    from dldd.practices.store import CATALOGUE_DIR, open_store

    catalogue = tmp_path / "catalogue"
    catalogue.mkdir()
    source = sorted(CATALOGUE_DIR.glob("*.yaml"))[0]
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    data["names"] = {"en": "Sand [/] fence [bold]x"}
    data["evidence"][0]["place"] = "Dune [/i] field"
    (catalogue / source.name).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setattr(practices_cli, "open_store",
                        lambda cache: open_store(tmp_path / "p.sqlite", catalogue_dir=catalogue))
    runner = CliRunner()
    for args in (["list"], ["show", data["id"]], ["search", "fence"]):
        result = runner.invoke(practices_cli.app, args, env={"COLUMNS": "200"})
        assert result.exit_code == 0, (args, result.output, result.exception)
        assert "Sand [/] fence [bold]x" in result.output, result.output
    assert "Dune [/i] field" in runner.invoke(practices_cli.app, ["show", data["id"]]).output


def test_report_language_is_one_of_the_package_catalogues(tmp_path):
    import os

    from dldd.report.messages import I18N_DIR, Catalogue, available_languages

    (tmp_path / "evil.yaml").write_text("title: not a dldd catalogue\n", encoding="utf-8")
    for lang in (str(tmp_path / "evil"), os.path.relpath(tmp_path / "evil", I18N_DIR), "en/../en", ""):
        with pytest.raises(InputError, match="no message catalogue"):
            Catalogue(lang)
    assert {"en", "zh"} <= set(available_languages())
    assert Catalogue("zh").lang == "zh"


def test_a_corrupt_zarr_chunk_is_an_input_error_naming_the_input(scene, tmp_path):
    with xr.open_dataset(scene / "inputs" / "ndvi.nc", mask_and_scale=False, decode_coords="all") as ds:
        ds.load().chunk({"time": 1}).to_zarr(scene / "inputs" / "ndvi.zarr", consolidated=False)
    middle = scene / "inputs" / "ndvi.zarr" / "ndvi" / "c" / "10" / "0" / "0"  # year 2010: not sampled by preflight
    assert middle.is_file()
    middle.write_bytes(b"not a compressed chunk")
    spec = _read_spec(scene)
    spec["inputs"]["ndvi"]["path"] = "inputs/ndvi.zarr"
    for name in ("precipitation", "tmin", "tmax"):
        spec["inputs"].pop(name)
    spec["indicators"] = NDVI
    _write_spec(scene, spec)
    out = tmp_path / "out"
    code, text = _cli("run", scene / "spec.yaml", "--out", out)
    assert code == 2 and text.startswith("error: input 'ndvi'"), text
    assert "ndvi.zarr" in text and "variable 'ndvi'" in text and "[10:11" in text and "unexpected" not in text, text
    assert _results(out) == []


def _to_kelvin(ds, units):
    ds["tmax"].values = ds["tmax"].values + 273.15
    ds["tmax"].attrs.pop("units", None)
    if units is not None:
        ds["tmax"].attrs["units"] = units
    return ds


@pytest.mark.parametrize("units, needles", [
    ("degC", ("declared as 'degC'", "correct the file's `units` attribute to K")),
    (None, ("declared without units, so read as degC", "declare `units: K` in the spec")),
])
def test_kelvin_read_as_degc_names_the_fix_that_is_accepted(scene, units, needles):
    """Kelvin in a file that says degC is fixed in the file (a spec ``units: K`` is refused for it);
    only a file without units takes the spec's ``units: K``."""
    from dldd.sources import open_input
    from dldd.spec import load_spec

    _rewrite_nc(scene / "inputs" / "tmax.nc", lambda ds: _to_kelvin(ds, units))
    spec = _read_spec(scene)
    spec["inputs"]["tmax"].pop("units", None)
    _write_spec(scene, spec)
    with pytest.raises(InputError, match="air temperature in degC must lie in") as info:
        open_input(load_spec(scene / "spec.yaml"), "tmax").compute()
    for needle in needles:
        assert needle in str(info.value), str(info.value)
    if units is not None:  # the fix the message used to give is refused for this file
        spec["inputs"]["tmax"]["units"] = "K"
        _write_spec(scene, spec)
        with pytest.raises(InputError, match="the file's units are 'degC'"):
            open_input(load_spec(scene / "spec.yaml"), "tmax")
    else:  # and for a file without units it is accepted
        spec["inputs"]["tmax"]["units"] = "K"
        _write_spec(scene, spec)
        assert float(open_input(load_spec(scene / "spec.yaml"), "tmax").max()) < 70.0


def test_spec_check_and_run_refuse_a_bad_input_in_the_same_words(scene, tmp_path):
    """``dldd spec check`` and ``dldd run`` give one message for an unusable input (both through
    :func:`dldd.sources.preflight.refuse_unusable`), and so for several."""
    (scene / "inputs" / "tmin.nc").unlink()
    checked = _cli("spec", "check", scene / "spec.yaml")
    ran = _cli("run", scene / "spec.yaml", "--out", tmp_path / "out")
    assert checked[0] == ran[0] == 2
    assert checked[1].startswith("error: input 'tmin'") and "tmin.nc does not exist" in checked[1], checked[1]
    assert ran[1][ran[1].index("error:"):] == checked[1]
    (scene / "inputs" / "tmax.nc").unlink()
    checked = _cli("spec", "check", scene / "spec.yaml")
    ran = _cli("run", scene / "spec.yaml", "--out", tmp_path / "out")
    assert checked[1].startswith("error: 2 inputs cannot be used") and "'tmax'" in checked[1], checked[1]
    assert ran[1][ran[1].index("error:"):] == checked[1]
