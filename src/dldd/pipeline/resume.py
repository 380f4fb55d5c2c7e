"""Resumable runs: a completion record per stage, so that a run started again reuses finished stages.

After a stage has written all its outputs, the pipeline writes (atomically, outputs first, record last):

- ``.dldd/stages/<stage>.state`` (JSON) and ``<stage>.npz``: what the stage handed to the run context,
  as data only (JSON, and NumPy arrays saved and loaded with ``allow_pickle=False``; nothing in an output
  folder is ever unpickled, so a planted file cannot run code): the products later stages use
  (``ctx.products``: DataArrays or dicts of them; a layer the stage stored with ``ctx.intermediate``, e.g.
  ``aridity_class`` or ``land_cover_years``, is kept as the name of its Zarr store and variable and
  opened lazily again; an in-memory one as its values; other lazy dask products such as ``climate`` or
  ``land_cover_unccd`` are recipes over the inputs, rebuilt by the stages' helpers when absent), the tables (``ctx.tables``,
  from which the workbook and the practices stage are made; columns with their dtypes, floats exactly),
  the map names, the summary entries and the names of the inputs it opened (opened again, lazily, on
  restoring: the context finds the CRS of products without one among the open inputs);
- ``.dldd/stages/<stage>.json``: the stage's fingerprint, the SHA-256 of the state file, of every file
  the stage wrote or rewrote under the output folder and of every file of the intermediate stores its
  products live in.

The fingerprint is a SHA-256 over: dldd's version and the SHA-256 of its source files, the package
versions, the spec without ``compute`` and ``indicators`` (so regions, periods, inputs, outputs,
interventions), the SHA-256 of every file the spec names (inputs, zones, interventions, legends), this
stage's parameters, and the fingerprint of the stage run before it in this run (a chain: a change to an
earlier stage redoes every later one, since later stages may use its products).

A stage is reused only when its record's fingerprint equals the new one, its state file is intact and every
output it recorded still has the recorded SHA-256; its state is then restored into the context, so later
stages and the final workbook, summary and manifest see exactly what an uninterrupted run would. Anything
else (no record, a different fingerprint, a missing or changed output, a state that does not load) runs
the stage again. The scheduler and the chunking are not in the fingerprint: they do not change outputs.
A stage is the unit of reuse; a stage killed half-way is redone from its start (its finished files are
rewritten atomically, so nothing half-written is ever left under an output's name).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from dldd.core import io
from dldd.core.jsondata import to_json_data

#: Folder (under the output folder) of the completion records.
RECORD_DIR = (".dldd", "stages")
#: Folder (under the output folder) of the intermediate Zarr stores (``RunContext.intermediate``).
INTERMEDIATE_DIR = (".dldd", "intermediate")
#: Version of the record layout; a record of another version is ignored (the stage runs again).
RECORD_VERSION = 2
#: File suffixes of dldd's own source that enter the code fingerprint.
SOURCE_SUFFIXES = (".py", ".yaml", ".yml", ".json", ".csv", ".txt", ".sql")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _sha256_json(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def code_fingerprint() -> str:
    """SHA-256 over dldd's source files (path and content), so an edited dldd never reuses old stages.
    Read afresh at every run (a few hundred kB)."""
    import dldd

    root = Path(dldd.__file__).parent
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix in SOURCE_SUFFIXES and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _path_signature(p: Path) -> dict:
    """SHA-256 of a file; for a folder (e.g. Zarr) the list of its files with sizes and SHA-256."""
    if p.is_file():
        return {"path": str(p), "sha256": sha256_file(p)}
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file())
        return {"path": str(p), "files": [[str(f.relative_to(p)), sha256_file(f)] for f in files]}
    return {"path": str(p), "missing": True}


def spec_files(spec) -> dict:
    """Signatures of every file the spec names besides the inputs: zones, boundaries, interventions, legend tables."""
    out = {}
    for z in spec.regions.zones:
        out[f"zone:{z.name}"] = _path_signature(spec.resolve(z.path))
    if spec.regions.boundaries is not None:  # the boundary file (every part of a Shapefile)
        from dldd.regions.boundaries import boundary_files

        for f in boundary_files(spec.resolve(spec.regions.boundaries.path)):
            out[f"boundaries:{f.name}"] = _path_signature(f)
    for iv in spec.interventions:
        out[f"intervention:{iv.name}"] = _path_signature(spec.resolve(iv.path))
    for name, entry in spec.inputs.items():
        legend = getattr(entry, "legend", None)
        if legend and Path(str(legend)).suffix.lower() == ".csv":
            out[f"legend:{name}"] = _path_signature(spec.resolve(legend))
    return out


def base_fingerprint(spec, input_files: dict, versions: dict) -> str:
    """The part of every stage's fingerprint that does not depend on the stage."""
    from dldd import __version__

    dumped = spec.model_dump(mode="json")
    for key in ("compute", "indicators"):
        dumped.pop(key, None)
    inputs = {}
    for name, files in input_files.items():
        if isinstance(files, list):
            inputs[name] = [f if f.get("sha256") else _path_signature(Path(f["path"])) for f in files]
        else:
            inputs[name] = files
    return _sha256_json({"dldd": __version__, "code": code_fingerprint(), "versions": versions, "spec": dumped,
                         "base_dir": str(spec.base_dir), "inputs": inputs, "files": spec_files(spec)})


def stage_fingerprint(base: str, stage: str, params, previous: str | None) -> str:
    return _sha256_json({"base": base, "stage": stage, "params": params.model_dump(mode="json"),
                         "previous": previous, "record_version": RECORD_VERSION})


def _output_files(out: Path) -> dict[str, tuple[int, int]]:
    """Files in the places of the output folder that dldd writes (:data:`dldd.core.io.OUTPUT_PLACES`; not
    the records, not temporary files, no symbolic link followed): relative path -> (size, mtime)."""
    files = {}
    for dirpath, dirnames, filenames in os.walk(out):
        rel_dir = Path(dirpath).relative_to(out)
        if not rel_dir.parts:
            dirnames[:] = [d for d in dirnames if io.is_output_place(d)]
            filenames = [f for f in filenames if io.is_output_place(f)]
        for f in filenames:
            if f.startswith(".") and f.endswith(".tmp"):
                continue
            st = os.stat(os.path.join(dirpath, f), follow_symlinks=False)
            files[str(rel_dir / f)] = (st.st_size, st.st_mtime_ns)
    return files


def clean_temporaries(out: Path) -> list[str]:
    """Remove the temporary files of dldd's atomic writes that a killed run left
    (``.<name>.<random>.dldd.tmp``, :data:`dldd.core.io.TEMPORARY`), in the places dldd writes and in
    ``.dldd``; any other file is left alone."""
    removed = []
    for dirpath, dirnames, filenames in os.walk(out):
        if Path(dirpath) == Path(out):
            dirnames[:] = [d for d in dirnames if io.is_output_place(d) or d == io.OWN_DIR]
            filenames = [f for f in filenames if io.is_output_place(f[1:].rsplit(".", 3)[0])]
        for f in filenames:
            p = Path(dirpath) / f
            if io.TEMPORARY.match(f) and not p.is_symlink():
                p.unlink(missing_ok=True)
                removed.append(str(p))
    return removed


@dataclass
class Snapshot:
    products: dict
    tables: set
    maps: set
    summary: dict
    chunks: dict
    files: dict


class StageRecords:
    """Completion records of the stages of one output folder."""

    def __init__(self, out: Path, base: str):
        self.out = Path(out)
        self.base = base
        self.folder = self.out.joinpath(*RECORD_DIR)

    def _paths(self, stage: str) -> tuple[Path, Path]:
        return self.folder / f"{stage}.json", self.folder / f"{stage}.state"

    def snapshot(self, ctx) -> Snapshot:
        return Snapshot(products=dict(ctx.products), tables=set(ctx.tables), maps=set(ctx.maps),
                        summary=dict(ctx.summary), chunks=dict(ctx.chunks), files=_output_files(self.out))

    def _store_signatures(self, names) -> dict:
        return {n: _path_signature(self.out.joinpath(*INTERMEDIATE_DIR, f"{n}.zarr")) for n in sorted(names)}

    def save(self, stage: str, fingerprint: str, ctx, before: Snapshot, seconds: float) -> bool:
        """Record a finished stage: its state, then the record. False (and a warning) if the state cannot be
        kept, in which case a resumed run simply runs the stage again."""
        state = {
            "products": {k: v for k, v in ctx.products.items()
                         if k not in before.products or before.products[k] is not v},
            "tables": {k: v for k, v in ctx.tables.items() if k not in before.tables},
            "maps": {k: v for k, v in ctx.maps.items() if k not in before.maps},
            "summary": {k: v for k, v in ctx.summary.items() if k not in before.summary or before.summary[k] is not v},
            "chunks": {k: v for k, v in ctx.chunks.items() if k not in before.chunks},
        }
        after = _output_files(self.out)
        written = sorted(k for k, v in after.items() if before.files.get(k) != v)
        record_path, state_path = self._paths(stage)
        try:
            blob, arrays, stores = state_to_data(state, ctx.stored)
        except Exception as err:  # a product that is not data: no record, the stage will run again
            warnings.warn(f"stage {stage}: state not kept for resuming ({type(err).__name__}: {err})", stacklevel=2)
            record_path.unlink(missing_ok=True)
            return False
        self.folder.mkdir(parents=True, exist_ok=True)
        npz_path = state_path.with_suffix(".npz")
        with io.atomic_path(npz_path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
        blob = blob + b"\n" + sha256_file(npz_path).encode()
        with io.atomic_path(state_path) as tmp:
            tmp.write_bytes(blob)
        record = {
            "record_version": RECORD_VERSION,
            "stage": stage,
            "fingerprint": fingerprint,
            "state_sha256": hashlib.sha256(blob).hexdigest(),
            "outputs": {k: sha256_file(self.out / k) for k in written},
            "stores": self._store_signatures(stores),
            "seconds": seconds,
        }
        io.write_json(record_path, record)
        return True

    def reusable(self, stage: str, fingerprint: str, open_stored) -> dict | None:
        """The stage's saved state if its record is complete and still true, else None; ``open_stored(name)``
        opens an intermediate store (:meth:`RunContext.open_stored`) for the products kept in one."""
        record_path, state_path = self._paths(stage)
        try:
            record = json.loads(record_path.read_text())
        except (OSError, ValueError):
            return None
        if record.get("record_version") != RECORD_VERSION or record.get("fingerprint") != fingerprint:
            return None
        for rel, digest in record.get("outputs", {}).items():
            p = self.out / rel
            if not p.is_file() or sha256_file(p) != digest:
                return None
        stores = record.get("stores", {})
        if self._store_signatures(stores) != stores:
            return None
        try:
            blob = state_path.read_bytes()
            if hashlib.sha256(blob).hexdigest() != record.get("state_sha256"):
                return None
            text, npz_digest = blob.rsplit(b"\n", 1)
            npz_path = state_path.with_suffix(".npz")
            if sha256_file(npz_path) != npz_digest.decode():
                return None
            with np.load(npz_path, allow_pickle=False) as npz:
                state = state_from_data(text, npz, functools.cache(open_stored))
        except Exception:
            return None
        state["seconds"] = record.get("seconds")
        return state

    def forget(self, stage: str) -> None:
        """Drop a stage's record before running it (a killed re-run must not leave an old, stale record)."""
        record_path, _ = self._paths(stage)
        record_path.unlink(missing_ok=True)

    @staticmethod
    def restore(ctx, state: dict) -> None:
        ctx.products.update(state["products"])
        ctx.tables.update(state["tables"])
        ctx.maps.update(state["maps"])
        ctx.summary.update(state["summary"])
        for name in state["chunks"]:  # the inputs the stage opened: ctx.georef finds grids among them
            ctx.input(name)


# --- state as data (no pickle) ----------------------------------------------------------------------------
def _array_to_data(da: xr.DataArray, key: str, arrays: dict) -> dict:
    arrays[f"{key}.values"] = np.asarray(da.values)
    coords = {}
    for i, (name, c) in enumerate(da.coords.items()):
        arrays[f"{key}.coord{i}"] = np.asarray(c.values)
        coords[name] = {"array": f"{key}.coord{i}", "dims": list(c.dims), "attrs": to_json_data(dict(c.attrs))}
    return {"kind": "dataarray", "name": da.name, "dims": list(da.dims), "values": f"{key}.values",
            "attrs": to_json_data(dict(da.attrs)), "coords": coords}


def _array_from_data(d: dict, npz) -> xr.DataArray:
    coords = {name: xr.Variable(c["dims"], npz[c["array"]], attrs=c["attrs"]) for name, c in d["coords"].items()}
    return xr.DataArray(npz[d["values"]], dims=d["dims"], coords=coords, name=d["name"], attrs=d["attrs"])


def _product_to_data(v, key: str, arrays: dict, stored: dict):
    if isinstance(v, xr.DataArray):
        if v.chunks is not None:
            if v.data.name in stored:  # a layer of an intermediate store: kept by reference
                store, var = stored[v.data.name]
                return {"kind": "stored", "store": store, "var": var, "name": v.name, "attrs": to_json_data(dict(v.attrs))}
            return None  # a lazy recipe over the inputs: rebuilt by the stages' helpers when absent
        return _array_to_data(v, key, arrays)
    if isinstance(v, dict):
        items = {}
        for i, (k, x) in enumerate(v.items()):
            item = _product_to_data(x, f"{key}.{i}", arrays, stored)
            if item is None:
                return None
            items[i] = {"key": k, "key_type": type(k).__name__, "value": item}
        return {"kind": "dict", "items": [items[i] for i in sorted(items)]}
    raise TypeError(f"product of type {type(v).__name__} cannot be kept as data")


def _product_from_data(d: dict, npz, open_stored):
    if d["kind"] == "dataarray":
        return _array_from_data(d, npz)
    if d["kind"] == "stored":
        da = open_stored(d["store"])[d["var"]].rename(d["name"])
        da.attrs = d["attrs"]
        return da
    return {(int(it["key"]) if it["key_type"] == "int" else it["key"]): _product_from_data(it["value"], npz, open_stored)
            for it in d["items"]}


def _frame_to_data(df: pd.DataFrame, key: str, arrays: dict) -> dict:
    cols = []
    for i, c in enumerate(df.columns):
        s = df[c]
        dtype = str(s.dtype)
        if dtype in ("Int64", "Int32", "Int16", "Int8", "boolean"):
            arrays[f"{key}.{i}.values"] = s.to_numpy(dtype="float64", na_value=np.nan)
        elif s.dtype == object or dtype in ("string", "str"):
            arrays[f"{key}.{i}.values"] = np.array(["" if x is None or (isinstance(x, float) and np.isnan(x)) else str(x)
                                                    for x in s], dtype=str)
            arrays[f"{key}.{i}.missing"] = s.isna().to_numpy()
        else:
            arrays[f"{key}.{i}.values"] = s.to_numpy()
        cols.append({"name": c, "dtype": dtype, "key": f"{key}.{i}"})
    return {"columns": cols}


def _frame_from_data(d: dict, npz) -> pd.DataFrame:
    data = {}
    for c in d["columns"]:
        values = npz[f"{c['key']}.values"]
        if c["dtype"] in ("Int64", "Int32", "Int16", "Int8", "boolean"):
            data[c["name"]] = pd.array([None if np.isnan(v) else v for v in values], dtype=c["dtype"])
        elif f"{c['key']}.missing" in npz.files:
            missing = npz[f"{c['key']}.missing"]
            data[c["name"]] = pd.Series([None if m else str(v) for v, m in zip(values, missing)], dtype=c["dtype"])
        else:
            data[c["name"]] = values
    return pd.DataFrame(data)


def _stores_of(item: dict) -> set[str]:
    if item["kind"] == "stored":
        return {item["store"]}
    if item["kind"] == "dict":
        return set().union(*(_stores_of(it["value"]) for it in item["items"]))
    return set()


def state_to_data(state: dict, stored: dict) -> tuple[bytes, dict, set[str]]:
    """(JSON bytes, arrays for ``np.savez``, intermediate stores referred to) of a stage's state; products
    in an intermediate store (``stored``: dask name -> (store, variable)) are kept by reference, other lazy
    products are left out."""
    arrays: dict = {}
    products = {}
    for i, (k, v) in enumerate(state["products"].items()):
        item = _product_to_data(v, f"p{i}", arrays, stored)
        if item is not None:
            products[k] = item
    doc = {
        "products": products,
        "tables": {k: _frame_to_data(v, f"t{i}", arrays) for i, (k, v) in enumerate(state["tables"].items())},
        "maps": to_json_data(state["maps"]),
        "summary": to_json_data(state["summary"]),
        "chunks": to_json_data(state["chunks"]),
    }
    stores = set().union(*(_stores_of(item) for item in products.values()))
    return json.dumps(doc, allow_nan=True).encode(), arrays, stores


def state_from_data(text: bytes, npz, open_stored) -> dict:
    doc = json.loads(text)
    return {
        "products": {k: _product_from_data(v, npz, open_stored) for k, v in doc["products"].items()},
        "tables": {k: _frame_from_data(v, npz) for k, v in doc["tables"].items()},
        "maps": doc["maps"],
        "summary": doc["summary"],
        "chunks": doc["chunks"],
    }
