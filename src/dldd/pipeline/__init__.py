"""The pipeline: a validated spec in, maps, tables, summary and manifest out.

:func:`run_assessment` checks everything it can before computing (indicator names and parameters, that
each stage's inputs are in the spec and readable, that the output folder is writable, the regions), then
runs the stages of :data:`dldd.pipeline.registry.STAGES` that the spec asks for, on the dask scheduler the
spec or the caller names, and writes ``manifest.json`` last. A stage whose completion record in the output
folder is still true is reused instead of run (:mod:`dldd.pipeline.resume`); see docs/scaling.md.
"""

from __future__ import annotations

import contextlib
import os
import platform
import tempfile
import time
from importlib import metadata
from pathlib import Path

import dask
from pydantic import ValidationError

from dldd import __version__
from dldd.core import io
from dldd.errors import InputError, SpecError
from dldd.pipeline.chunks import worker_memory
from dldd.pipeline.context import RunContext
from dldd.pipeline.contracts import CONTRACTS_FILE, check_chain, record_run_tables
from dldd.pipeline.registry import STAGES
from dldd.pipeline.resume import sha256_file as sha256
from dldd.spec import STATIONS_INPUT, Spec

#: GDAL's raster block cache per process during a run, MB. GDAL's own default is 5 % of the machine's
#: memory, which the blocks of the maps a run writes and reads fill up to that cap (1.2 GB on a 24 GB
#: machine): memory that would grow with the area. Set for the run's process and its local workers.
GDAL_CACHE_MB = 64

#: Tests of resuming: a stage name in this environment variable makes the run exit at once (os._exit,
#: no roll-back, as a SIGKILL would) right after that stage's completion record is written.
KILL_AFTER_STAGE_ENV = "DLDD_TEST_KILL_AFTER_STAGE"
KILLED_EXIT_CODE = 137

#: Packages whose versions the manifest records.
MANIFEST_PACKAGES = ("numpy", "scipy", "pandas", "xarray", "dask", "numba", "rasterio", "pyproj", "shapely")


def stage_params(spec: Spec, only: list[str] | None = None) -> dict:
    """Validated parameters of every stage the spec asks for (or of ``only`` those, with the stages they
    use); unknown families or keys raise SpecError. Interventions in the spec add `effectiveness`."""
    out = {}
    asked = dict(spec.indicators)
    if spec.interventions and "effectiveness" not in asked:
        asked["effectiveness"] = {}
    if STATIONS_INPUT in spec.inputs and "stations" not in asked:  # station CSV given: validate the grids with it
        asked["stations"] = {}
    if only is not None:
        asked = {k: asked.get(k, {}) for k in only}
    for family, raw in asked.items():
        if family not in STAGES:
            raise SpecError(f"indicators.{family}: unknown indicator family; expected one of {sorted(STAGES)}")
        try:
            out[family] = STAGES[family].params.model_validate(raw or {})
        except ValidationError as err:
            from dldd.spec import shown

            problems = "; ".join(
                f"indicators.{family}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {shown(e.get('input'))})"
                for e in err.errors()
            )
            raise SpecError(problems) from None
    for family in list(out):
        for dep in STAGES[family].after:
            if dep in STAGES and dep not in out and all(n in spec.inputs for n in STAGES[dep].needs):
                out[dep] = STAGES[dep].params()
    for family in out:
        missing = [n for n in STAGES[family].needs if n not in spec.inputs]
        if missing:
            raise SpecError(f"indicators.{family}: needs input(s) {missing}, which `inputs` does not list")
    for family, params in out.items():  # the stages' own input rules, before anything is computed
        if STAGES[family].check is not None:
            STAGES[family].check(set(spec.inputs), params)
    if "effectiveness" in out:
        check_intervention_parameters(spec)
    ordered = {name: out[name] for name in STAGES if name in out}
    check_chain(STAGES, list(ordered))  # a stage consuming what no earlier stage provides is refused here
    return ordered


#: Arguments of :func:`dldd.effectiveness.evaluate.evaluate_intervention` that the effectiveness stage sets
#: itself (from the spec, the grid and the stage's parameters): not for an intervention's `parameters`.
STAGE_SET_ARGUMENTS = ("outcome", "treated", "start_year", "end_year", "exact", "exclude", "cell_area_km2",
                       "crs", "pixel_size_km", "seed", "name")


def check_intervention_parameters(spec: Spec) -> None:
    """Each intervention's ``parameters`` validated against the arguments of the function they feed
    (:func:`~dldd.effectiveness.evaluate.evaluate_intervention`, names and types): an unknown name or a
    wrong type is refused at ``spec check``, not after the other stages have run."""
    import inspect
    import typing

    from pydantic import ConfigDict, create_model

    from dldd.effectiveness.evaluate import evaluate_intervention
    from dldd.spec import shown

    hints = typing.get_type_hints(evaluate_intervention)
    fields = {n: (hints[n], p.default) for n, p in inspect.signature(evaluate_intervention).parameters.items()
              if n not in STAGE_SET_ARGUMENTS}
    model = create_model("InterventionParameters", __config__=ConfigDict(extra="forbid", strict=False), **fields)
    for i, iv in enumerate(spec.interventions):
        try:
            model.model_validate(iv.parameters)
        except ValidationError as err:
            problems = "; ".join(
                f"interventions.{i}.parameters.{'.'.join(str(p) for p in e['loc'])} ({iv.name!r}): "
                + ("unknown parameter; expected one of " + ", ".join(sorted(fields)) if e["type"] == "extra_forbidden"
                   else f"{e['msg']} (got {shown(e.get('input'))})")
                for e in err.errors())
            raise SpecError(problems) from None


def build_regions(spec: Spec) -> list:
    """The regions of the assessment, from the registry and the spec's zones."""
    from dldd.regions.boundaries import boundaries_of_spec
    from dldd.regions.registry import Registry

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # countries without a 1:50m polygon are listed by `regions list`
        reg = Registry.default(boundaries=boundaries_of_spec(spec.regions, spec.resolve))
    for iso3, sub in spec.regions.regroup.items():
        reg = reg.regroup(iso3, sub) if reg[iso3].subregion else reg.add(iso3, sub)
    for name in spec.regions.exclude:
        reg = reg.drop(name)
    zone_ids = []
    for z in spec.regions.zones:
        reg = reg.add_zones_from_file(spec.resolve(z.path), zone_id=z.name, subregion=z.subregion, layer=z.layer)
        zone_ids.append(z.name)
    selected = reg.select(spec.regions.include) if spec.regions.include else []
    seen = {r.id for r in selected}
    return selected + [reg[z] for z in zone_ids if reg[z].id not in seen]


def regions_area_km2(regions) -> float:
    """Area (km², geodesic) covered by the regions together: the sum of their areas when no two overlap
    (neighbouring countries only share borders), else the area of their union, so that a zone inside a
    country, or two overlapping zones, are counted once."""
    import shapely

    from dldd.core.areas import geodesic_area_km2

    geoms = [shapely.make_valid(r.geometry) for r in regions]
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pairs = left < right
    if not pairs.any() or not shapely.relate_pattern(
            [geoms[i] for i in left[pairs]], [geoms[j] for j in right[pairs]], "T********").any():
        return float(sum(r.area_km2 for r in regions))
    parts = [g for g in shapely.get_parts(geoms) if isinstance(g, (shapely.Polygon, shapely.MultiPolygon))]
    return geodesic_area_km2(shapely.union_all(parts))


def _check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as err:
        raise InputError(f"output folder {out} is not writable ({err.strerror})") from None


def _input_files(spec: Spec) -> dict:
    import glob

    files = {}
    for name, entry in spec.inputs.items():
        if entry.path is None:
            files[name] = {"product": entry.product}
            continue
        paths = sorted(glob.glob(str(spec.resolve(entry.path)))) or [str(spec.resolve(entry.path))]
        listed = []
        for p in paths:
            p = Path(p)
            if p.is_file():
                listed.append({"path": str(p), "sha256": sha256(p), "bytes": p.stat().st_size})
            elif p.is_dir():
                listed.append({"path": str(p), "sha256": None, "bytes": None})
        files[name] = listed
    return files


@contextlib.contextmanager
def scheduler(spec: Spec, name: str | None = None, workers: int | None = None):
    """Use the named dask scheduler: threads (default), processes, synchronous, an address, or N local workers."""
    name = name or spec.compute.scheduler
    workers = workers or spec.compute.workers
    if workers or (name not in ("threads", "processes", "synchronous", "sync")):
        from dask.distributed import Client, LocalCluster

        if workers:
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                              env={"GDAL_CACHEMAX": str(GDAL_CACHE_MB)}) as cl, Client(cl):
                yield f"LocalCluster({workers} workers)"
        else:
            with Client(name):
                yield f"distributed {name}"
        return
    with dask.config.set(scheduler=name):
        yield name


def chunk_size_of(spec: Spec) -> int | None:
    """The spec's ``compute.chunk_size`` when the spec sets it (an override), else None: chunks are then
    planned per input from its time axis and the worker memory (:func:`dldd.pipeline.chunks.plan_chunks`)."""
    return spec.compute.chunk_size if "chunk_size" in spec.compute.model_fields_set else None


def _run_stages(ctx, params, records, resume, progress, reused, finished_now, scheduling):
    """The stage loop: reuse a stage whose record is still true, else run it and record it."""
    from dldd.pipeline.resume import stage_fingerprint

    import rasterio

    previous = None
    written: dict[str, dict] = {}
    with scheduler(*scheduling) as used, rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
        for i, (name, p) in enumerate(params.items()):
            if progress:
                progress(name, i, len(params))
            fp = stage_fingerprint(records.base, name, p, previous)
            previous = fp
            state = records.reusable(name, fp, ctx.open_stored) if resume else None
            maps_before, tables_before = set(ctx.maps), set(ctx.tables)
            if state is not None:
                records.restore(ctx, state)
                ctx.timings[name] = state.get("seconds") or 0.0
                reused.append(name)
                _declare(ctx, name, written, maps_before, tables_before)
                continue
            records.forget(name)
            ctx.stage_fingerprint = fp
            before = records.snapshot(ctx)
            with ctx.timed(name):
                STAGES[name].run(ctx, p)
            ctx.stage_fingerprint = None
            _declare(ctx, name, written, maps_before, tables_before)
            records.save(name, fp, ctx, before, ctx.timings[name])
            finished_now.append(name)
            if os.environ.get(KILL_AFTER_STAGE_ENV) == name:  # tests: die like a killed process, no clean-up
                os._exit(KILLED_EXIT_CODE)
    return used


def _declare(ctx, name: str, written: dict, maps_before: set, tables_before: set) -> None:
    """Match what stage ``name`` wrote against its declarations (:mod:`dldd.pipeline.contracts`: an
    undeclared map or table, a missing column or a map of another data type is a ContractError) and
    update ``ctx.declared``, the declarations of what the run produced so far (``contracts.json``)."""
    import rasterio

    from dldd.pipeline.contracts import ContractError, declared_map, run_contracts

    maps = [m for m in ctx.maps if m not in maps_before]
    for m in maps:
        declared = declared_map(STAGES[name], m)
        with rasterio.open(ctx.out / ctx.maps[m]) as src:
            dtype = src.dtypes[0]
        if dtype != declared.dtype:
            raise ContractError(f"stage {name!r} wrote map {m!r} as {dtype}; its declaration "
                                f"{declared.name!r} says {declared.dtype}")
    written[name] = {"maps": maps, "tables": [t for t in ctx.tables if t not in tables_before]}
    ctx.declared = run_contracts(STAGES, written, ctx)


def run_assessment(spec: Spec, out: str | Path, *, scheduler_name: str | None = None, workers: int | None = None,
                   progress=None, only: list[str] | None = None, resume: bool = True,
                   force: bool = False) -> RunContext:
    """Run every stage the spec asks for; write maps, tables, summary.json and manifest.json under ``out``.

    ``progress(stage_name, index, total)`` is called before each stage (the CLI draws a bar with it).
    ``resume``: reuse the stages whose completion record in ``out`` is still true (same spec parameters,
    inputs, code and outputs; see :mod:`dldd.pipeline.resume`); False runs every stage.
    ``force``: replace files in the output places that dldd did not write (refused otherwise).

    The folder is held by :class:`dldd.core.io.RunFolder` (one run at a time; system folders, symbolic
    links and files dldd did not write refused). A run that fails puts the folder back as it was: the
    files it replaced (maps, tables, workbook, summary, manifest) are restored and those it created
    removed; its stage records are dropped.
    """
    from dldd.pipeline.resume import StageRecords, base_fingerprint, clean_temporaries

    out = Path(out).resolve()
    params = stage_params(spec, only)
    with io.RunFolder(out, force=force) as folder:
        _check_writable(out)
        regions = build_regions(spec)
        if not regions:
            raise SpecError("regions: the selection is empty after `exclude`")
        from dldd.sources.preflight import refuse_unusable

        refuse_unusable(spec)  # every input readable before the first stage computes
        from dldd.regions.boundaries import boundaries_of_spec

        boundaries = boundaries_of_spec(spec.regions, spec.resolve).record()  # the file as the regions read it
        ctx = RunContext(spec=spec, out=out, regions=regions, chunk_size=chunk_size_of(spec),
                         memory_per_worker=worker_memory())
        ctx.params_by_stage = params
        ctx.param_models = {name: stage.params for name, stage in STAGES.items()}
        clean_temporaries(out)
        inputs = _input_files(spec)
        versions = {p: _version(p) for p in MANIFEST_PACKAGES} | {"python": platform.python_version()}
        records = StageRecords(out, base_fingerprint(spec, inputs, versions))
        reused = []
        t0 = time.perf_counter()
        finished_now: list[str] = []
        folder.set_aside("manifest.json")  # a folder with a manifest holds the outputs it describes
        try:
            used = _run_stages(ctx, params, records, resume, progress, reused, finished_now,
                               (spec, scheduler_name, workers))
            _write_run_files(ctx, spec, regions, inputs, params, reused, used, versions, t0, boundaries)
        except Exception:  # an error: the folder's RunFolder puts back what the run replaced
            for name in finished_now:
                records.forget(name)
            raise
    return ctx


def _used_inputs(ctx, params) -> list[str]:
    """The gridded spec inputs that the run's stages read (their required and optional inputs present in the
    spec; the station records are a table, not a grid)."""
    used = []
    for stage in params:
        for n in (*STAGES[stage].needs, *STAGES[stage].optional):
            if ctx.has(n) and n not in used and n != STATIONS_INPUT:
                used.append(n)
    return used


def _write_run_files(ctx, spec, regions, inputs, params, reused, used, versions, t0, boundaries: dict) -> None:
    """The workbook, summary.json and manifest.json (last) of a run whose stages all finished; ``boundaries``:
    the record of the boundary file taken when the run read its regions (a file edited during the run is
    recorded as the run used it)."""
    out = ctx.out
    from dldd.stats.reporting import write_reporting_tables

    before = list(ctx.tables)
    # the UNCCD (PRAIS) layout of the tables, its own CSVs and workbook; the chapters' and limitations' tables
    write_reporting_tables(ctx, _used_inputs(ctx, params))
    ctx.declared = record_run_tables(ctx.declared, {t: ctx.tables[t] for t in ctx.tables if t not in before})
    if "xlsx" in spec.outputs.formats and ctx.tables:
        reproducible_workbook(io.write_excel(io.confined(out, "tables", "tables.xlsx"), ctx.tables))
    ctx.summary["synthetic"] = spec.synthetic
    ctx.summary["name"] = spec.name
    ctx.summary["regions"] = [{"id": r.id, "name": r.name, "subregion": r.subregion, "area_km2": r.area_km2} for r in regions]
    ctx.summary["regions_area_km2"] = regions_area_km2(regions)
    io.write_json(io.confined(out, "summary.json"), ctx.summary)
    io.write_json(io.confined(out, CONTRACTS_FILE), ctx.declared)
    manifest = {
        "dldd_version": __version__,
        "spec": spec.model_dump(mode="json"),
        "spec_base_dir": str(spec.base_dir),
        "inputs": inputs,
        "stages": list(params),
        "resumed_stages": reused,
        "scheduler": used,
        "chunks": {name: list(edges) for name, edges in ctx.chunks.items()},
        "timings_s": {**ctx.timings, "total": round(time.perf_counter() - t0, 3)},
        "outputs": {"maps": ctx.maps, "tables": sorted(ctx.tables)},
        "versions": versions,
        "synthetic": spec.synthetic,
        "boundaries": boundaries,
    }
    io.write_json(io.confined(out, "manifest.json"), manifest)


#: Date written into workbooks (ZIP entries and document properties) in place of the clock, so that the
#: same tables give the same bytes on every run and scheduler (the run's date is in manifest.json).
WORKBOOK_DATE = (1980, 1, 1, 0, 0, 0)


def reproducible_workbook(path: Path) -> Path:
    """Rewrite an .xlsx with :data:`WORKBOOK_DATE` as its entries' and properties' dates (atomically)."""
    import re
    import zipfile

    stamp = "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}Z".format(*WORKBOOK_DATE)
    with zipfile.ZipFile(path) as src, io.atomic_path(path) as tmp, \
            zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(<)", rb"\g<1>" + stamp.encode() + rb"\2", data)
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=WORKBOOK_DATE), data,
                         compress_type=zipfile.ZIP_DEFLATED)
    return path


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None
