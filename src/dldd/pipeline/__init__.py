"""The pipeline: a validated spec in, maps, tables, summary and manifest out.

:func:`run_assessment` checks everything it can before computing (indicator names and parameters, that
each stage's inputs are in the spec and readable, that the output folder is writable, the regions), then
runs the stages of :data:`dldd.pipeline.registry.STAGES` that the spec asks for, on the dask scheduler the
spec or the caller names, and writes ``manifest.json`` last.
"""

from __future__ import annotations

import contextlib
import hashlib
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
from dldd.pipeline.context import RunContext
from dldd.pipeline.registry import STAGES
from dldd.spec import Spec

#: Packages whose versions the manifest records.
MANIFEST_PACKAGES = ("numpy", "scipy", "pandas", "xarray", "dask", "numba", "rasterio", "pyproj", "shapely")


def stage_params(spec: Spec, only: list[str] | None = None) -> dict:
    """Validated parameters of every stage the spec asks for (or of ``only`` those, with the stages they
    use); unknown families or keys raise SpecError. Interventions in the spec add `effectiveness`."""
    out = {}
    asked = dict(spec.indicators)
    if spec.interventions and "effectiveness" not in asked:
        asked["effectiveness"] = {}
    if only is not None:
        asked = {k: asked.get(k, {}) for k in only}
    for family, raw in asked.items():
        if family not in STAGES:
            raise SpecError(f"indicators.{family}: unknown indicator family; expected one of {sorted(STAGES)}")
        try:
            out[family] = STAGES[family].params.model_validate(raw or {})
        except ValidationError as err:
            problems = "; ".join(
                f"indicators.{family}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r})"
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
    return {name: out[name] for name in STAGES if name in out}


def build_regions(spec: Spec) -> list:
    """The regions of the assessment, from the registry and the spec's zones."""
    from dldd.regions.registry import Registry

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # countries without a 1:50m polygon are listed by `regions list`
        reg = Registry.default()
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


def _check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as err:
        raise InputError(f"output folder {out} is not writable ({err.strerror})") from None


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cl, Client(cl) as client:
                yield f"LocalCluster({workers} workers)"
        else:
            with Client(name) as client:
                yield f"distributed {name}"
        return
    with dask.config.set(scheduler=name):
        yield name


def run_assessment(spec: Spec, out: str | Path, *, scheduler_name: str | None = None, workers: int | None = None,
                   progress=None, only: list[str] | None = None) -> RunContext:
    """Run every stage the spec asks for; write maps, tables, summary.json and manifest.json under ``out``.

    ``progress(stage_name, index, total)`` is called before each stage (the CLI draws a bar with it).
    """
    out = Path(out)
    params = stage_params(spec, only)
    _check_writable(out)
    regions = build_regions(spec)
    if not regions:
        raise SpecError("regions: the selection is empty after `exclude`")
    ctx = RunContext(spec=spec, out=out, regions=regions, chunk_size=spec.compute.chunk_size)
    ctx.params_by_stage = params
    t0 = time.perf_counter()
    with scheduler(spec, scheduler_name, workers) as used:
        for i, (name, p) in enumerate(params.items()):
            if progress:
                progress(name, i, len(params))
            with ctx.timed(name):
                STAGES[name].run(ctx, p)
    if "xlsx" in spec.outputs.formats and ctx.tables:
        io.write_excel(io.confined(out, "tables", "tables.xlsx"), ctx.tables)
    ctx.summary["synthetic"] = spec.synthetic
    ctx.summary["name"] = spec.name
    ctx.summary["regions"] = [{"id": r.id, "name": r.name, "subregion": r.subregion, "area_km2": r.area_km2} for r in regions]
    io.write_json(io.confined(out, "summary.json"), ctx.summary)
    manifest = {
        "dldd_version": __version__,
        "spec": spec.model_dump(mode="json"),
        "spec_base_dir": str(spec.base_dir),
        "inputs": _input_files(spec),
        "stages": list(params),
        "scheduler": used,
        "timings_s": {**ctx.timings, "total": round(time.perf_counter() - t0, 3)},
        "outputs": {"maps": ctx.maps, "tables": sorted(ctx.tables)},
        "versions": {p: _version(p) for p in MANIFEST_PACKAGES} | {"python": platform.python_version()},
        "synthetic": spec.synthetic,
    }
    io.write_json(io.confined(out, "manifest.json"), manifest)
    return ctx


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None
