"""Resumable runs: a completion record per stage, so that a run started again reuses finished stages.

After a stage has written all its outputs, the pipeline writes (atomically, outputs first, record last):

- ``.dldd/stages/<stage>.state.pkl``: what the stage handed to the run context, i.e. the products later
  stages use (``ctx.products``: e.g. ``aridity_class``, ``ipcc_climate_zone``, ``land_cover_unccd``,
  ``climate``; lazy dask products are kept as their task graphs, which read the input files), the tables
  (``ctx.tables``, from which the workbook and the practices stage are made), the map names, the
  summary entries and the names of the inputs it opened (opened again, lazily, on restoring:
  the context finds the CRS of products without one among the open inputs);
- ``.dldd/stages/<stage>.json``: the stage's fingerprint, the SHA-256 of the state file and of every file
  the stage wrote or rewrote under the output folder.

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

import hashlib
import json
import os
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path

from dldd.core import io

#: Folder (under the output folder) of the completion records.
RECORD_DIR = (".dldd", "stages")
#: Version of the record layout; a record of another version is ignored (the stage runs again).
RECORD_VERSION = 1
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
    """Signatures of every file the spec names besides the inputs: zones, interventions, legend tables."""
    out = {}
    for z in spec.regions.zones:
        out[f"zone:{z.name}"] = _path_signature(spec.resolve(z.path))
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
    """Files under the output folder (not the records, not temporary files): relative path -> (size, mtime)."""
    files = {}
    for dirpath, dirnames, filenames in os.walk(out):
        rel_dir = Path(dirpath).relative_to(out)
        if rel_dir.parts[:1] == (RECORD_DIR[0],):
            dirnames[:] = []
            continue
        for f in filenames:
            if f.startswith(".") and f.endswith(".tmp"):
                continue
            st = os.stat(os.path.join(dirpath, f))
            files[str(rel_dir / f)] = (st.st_size, st.st_mtime_ns)
    return files


def clean_temporaries(out: Path) -> list[str]:
    """Remove the temporary files of atomic writes that a killed run left (``.<name>.*.tmp``)."""
    removed = []
    for dirpath, dirnames, filenames in os.walk(out):
        for f in filenames:
            if f.startswith(".") and f.endswith(".tmp"):
                p = Path(dirpath) / f
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
        return self.folder / f"{stage}.json", self.folder / f"{stage}.state.pkl"

    def snapshot(self, ctx) -> Snapshot:
        return Snapshot(products=dict(ctx.products), tables=set(ctx.tables), maps=set(ctx.maps),
                        summary=dict(ctx.summary), chunks=dict(ctx.chunks), files=_output_files(self.out))

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
            blob = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as err:  # an unpicklable product: no record, the stage will run again
            warnings.warn(f"stage {stage}: state not kept for resuming ({type(err).__name__}: {err})", stacklevel=2)
            record_path.unlink(missing_ok=True)
            return False
        self.folder.mkdir(parents=True, exist_ok=True)
        with io.atomic_path(state_path) as tmp:
            tmp.write_bytes(blob)
        record = {
            "record_version": RECORD_VERSION,
            "stage": stage,
            "fingerprint": fingerprint,
            "state_sha256": hashlib.sha256(blob).hexdigest(),
            "outputs": {k: sha256_file(self.out / k) for k in written},
            "seconds": seconds,
        }
        io.write_json(record_path, record)
        return True

    def reusable(self, stage: str, fingerprint: str) -> dict | None:
        """The stage's saved state if its record is complete and still true, else None."""
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
        try:
            blob = state_path.read_bytes()
            if hashlib.sha256(blob).hexdigest() != record.get("state_sha256"):
                return None
            state = pickle.loads(blob)
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
