"""The run's intermediate store: layers several outputs of a stage share, computed chunk by chunk into
Zarr under ``.dldd/intermediate/`` and opened again lazily (resumable by bands of chunk rows)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from dldd.core import io


def attrs_to_json(attrs) -> str:
    """Attributes as JSON text, numpy scalars and arrays tagged with their dtype (data only, no pickle)."""
    import json

    from dldd.core.jsondata import to_json_data

    return json.dumps(to_json_data(attrs, numpy="typed"))


def attrs_from_json(text: str):
    """The attributes :func:`attrs_to_json` wrote, numpy values with their dtype."""
    import json

    from dldd.core.jsondata import from_json_data

    return json.loads(text, object_hook=from_json_data)


def write_intermediate(out: Path, name: str, obj: xr.DataArray | xr.Dataset, stage_fingerprint: str | None,
                       stored: dict[str, tuple[str, str]]) -> xr.DataArray | xr.Dataset:
    """Compute ``obj`` chunk by chunk into ``<out>/.dldd/intermediate/<name>.zarr`` (on the active scheduler,
    each worker writing its own chunks) and return it opened lazily from there.

    Use it instead of ``dask.compute`` for a stage's layers that several outputs share: no process
    holds a whole map, and the maps and tables that follow read the stored chunks instead of
    recomputing the kernels. Values, dtypes, attributes (``_FillValue`` included; kept as JSON
    with the dtype of numpy values, :func:`attrs_to_json`), coordinates and CRS come back as they
    were; chunks are made regular (Zarr needs it). On a cluster the output folder must be storage
    every worker can write.

    Resumable by bands of chunk rows: inside a run (``stage_fingerprint`` of the stage running) each
    band written is marked done, and a stage started again with the same fingerprint (same spec,
    inputs, code and parameters) writes only the bands not yet done. Outside a run the store is
    rewritten every time.
    """
    import json
    import shutil

    ds = obj.to_dataset(name=obj.name or name) if isinstance(obj, xr.DataArray) else obj
    ds = ds.unify_chunks() if ds.chunks else ds
    if ds.chunks:
        ds = ds.chunk({d: max(c) for d, c in ds.chunks.items()})
    attrs = {"dataset": dict(ds.attrs), **{k: dict(v.attrs) for k, v in ds.variables.items()}}
    saved = ds.copy()
    saved.attrs = {"dldd_attrs": attrs_to_json(attrs)}  # data only: nothing is ever unpickled
    for k, v in saved.variables.items():
        v.attrs = {a: val for a, val in v.attrs.items() if a != "_FillValue"} if k == "spatial_ref" else {}
        v.encoding = {}
    encoding = {k: {"_FillValue": None} for k in saved.data_vars}
    path = store_path(out, name)
    identity = json.dumps({"stage": stage_fingerprint, "name": name,
                           "layout": {k: [list(v.dims), str(v.dtype), list(v.shape)] for k, v in saved.variables.items()},
                           "chunks": {d: list(c) for d, c in (saved.chunks or {}).items()}}, sort_keys=True)
    marks = path.parent / f".{name}.progress"
    known = (marks / "identity.json").read_text() if (marks / "identity.json").is_file() else None
    if stage_fingerprint is None or known != identity or not path.is_dir():
        shutil.rmtree(marks, ignore_errors=True)
        shutil.rmtree(path, ignore_errors=True)
    if not (marks / "complete").is_file():
        if not (marks / "identity.json").is_file():
            saved.to_zarr(path, mode="w", encoding=encoding, consolidated=False, compute=False)
            io.write_text(marks / "identity.json", identity)
        rows = saved.chunks.get("y") if saved.chunks else None
        if rows is None:  # nothing chunked along y: one piece
            saved.to_zarr(path, mode="r+", consolidated=False)
        else:
            unbanded = [k for k, v in saved.variables.items() if "y" not in v.dims]
            banded = saved.drop_vars(unbanded)
            # the variables without a y axis (other coordinates, e.g. a block's last year): in one piece
            saved.drop_vars([k for k in saved.variables if k not in unbanded]).to_zarr(
                path, mode="r+", consolidated=False)
            edges = np.cumsum((0,) + tuple(rows))
            for b in range(len(rows)):
                done = marks / f"band-{b}"
                if done.is_file():
                    continue
                band = slice(int(edges[b]), int(edges[b + 1]))
                banded.isel(y=band).to_zarr(path, region={"y": band}, consolidated=False)
                io.write_text(done, "")
        io.write_text(marks / "complete", "")
    back = open_stored(out, name, stored)
    if isinstance(obj, xr.DataArray):
        out = back[obj.name or name]
        return out.rename(obj.name) if obj.name is None else out
    return back


def store_path(out: Path, name: str) -> Path:
    from dldd.pipeline.resume import INTERMEDIATE_DIR

    return io.confined(out, *INTERMEDIATE_DIR, f"{name}.zarr")

def open_stored(out: Path, name: str, stored: dict[str, tuple[str, str]]) -> xr.Dataset:
    """The layers :func:`write_intermediate` stored under ``name``, opened lazily with their attributes; every
    variable is registered in ``stored`` (dask name -> (store, variable))."""
    from dldd.sources.formats import open_zarr_store

    back = open_zarr_store(store_path(out, name), mask_and_scale=False)
    attrs = attrs_from_json(back.attrs["dldd_attrs"])
    back.attrs = attrs["dataset"]
    for k in back.variables:
        back[k].attrs = attrs.get(k, {})
    for k in back.data_vars:
        stored[back[k].data.name] = (name, str(k))
    return back
