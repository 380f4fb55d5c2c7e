"""Atomic writers for every output dldd makes, and what a run owns in its output folder.

Each file is written to a temporary name in the same folder (``.<name>.<random>.dldd.tmp``) and renamed
when complete, so a run that fails or is killed never leaves a half-written file under an output's name,
and the previous output stays intact until the new one is whole. Files are created readable by the
group and others as the umask allows (0644 under the usual umask 022), like any file a program writes.
Output names are confined to the output folder and never pass through a symbolic link.

Ownership (:class:`RunFolder`): a run (or a report build) holds an exclusive lock on its folder
(``.dldd/lock``), refuses system folders, symbolic links where it writes and files it did not write
there (unless ``force``), records every file it writes in ``.dldd/owned`` (one relative path a line,
appended before the file appears under its name), keeps the file it replaces aside under
``.dldd/backup/`` until the run ends, and on failure puts every replaced file back and removes the
files it created: nothing else is ever deleted or overwritten.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from dldd.core.jsondata import json_default
from dldd.errors import InputError


#: Names at the top of a run folder that dldd writes (``report-LANG`` too); ``.dldd`` is its own.
OUTPUT_PLACES = ("maps", "tables", "effectiveness", "report", "summary.json", "manifest.json", "contracts.json")
#: dldd's own folder in a run folder: the lock, the ledger of owned files, records, stores, backups, logs.
OWN_DIR = ".dldd"
#: Folders a run never writes into (the folder itself; their sub-folders meet the writability check).
SYSTEM_FOLDERS = ("/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/opt", "/proc",
                  "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var")
#: Temporary files of :func:`atomic_path` (and of the streamed map writer, ``.blocks``).
TEMPORARY = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.dldd(\.blocks)?\.tmp$")
#: Files a refusal names at most.
NAMED_AT_MOST = 5

_UMASK = os.umask(0o022)
os.umask(_UMASK)
#: Mode of the files dldd creates (0644 under the usual umask 022).
FILE_MODE = 0o666 & ~_UMASK


def is_output_place(name: str) -> bool:
    """Whether a top-level name of a run folder is one dldd writes."""
    return name in OUTPUT_PLACES or name.startswith("report-")


def confined(root: str | os.PathLike, *parts: str) -> Path:
    """``root / parts`` resolved, refusing any name that would leave ``root`` (``..``, absolute paths) or
    pass through a symbolic link inside ``root`` (dldd never writes or deletes through a link)."""
    root_path = Path(root).resolve()
    target = root_path.joinpath(*parts).resolve()
    if target != root_path and root_path not in target.parents:
        raise InputError(f"output name {'/'.join(parts)!r} would be written outside the output folder {root_path}")
    step = root_path
    for part in Path(*parts).parts if parts else ():
        step = step / part
        if step.is_symlink():
            raise InputError(f"{step} is a symbolic link inside the output folder; dldd never writes or deletes "
                             "through a link: remove the link (or choose another --out)")
    return target


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, is_dir: bool = False):
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, on error remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if is_dir:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".dldd.tmp", dir=path.parent))
        os.chmod(tmp, 0o777 & ~_UMASK)
    else:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".dldd.tmp", dir=path.parent)
        os.fchmod(fd, FILE_MODE)  # mkstemp makes 0600; an output is as readable as any file written
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        folder = RunFolder.active_for(path)
        if folder is not None:
            folder.before_replace(path)
        if is_dir:
            old = None
            if path.exists():
                old = path.with_name(f".{path.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                os.replace(path, old)
            os.replace(tmp, path)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def write_text(path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path, obj) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=json_default, ensure_ascii=False) + "\n")


def write_csv(path, df: pd.DataFrame) -> Path:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.10g")
    return Path(path)


def write_excel(path, sheets: dict[str, pd.DataFrame]) -> Path:
    """One workbook, one sheet per table (sheet names cut to Excel's 31 characters)."""
    with atomic_path(path) as tmp:
        with pd.ExcelWriter(tmp, engine="openpyxl") as xl:
            for name, df in sheets.items():
                df.to_excel(xl, sheet_name=name[:31], index=False)
    return Path(path)


def cog_ready(da: xr.DataArray) -> tuple[xr.DataArray, dict[str, str]]:
    """A map as the COG writers write it, and its GeoTIFF tags: length-1 dims dropped, floats as float32
    with NaN as no-data, integers with their ``_FillValue`` as no-data; attributes (units, long_name,
    method, parameters, references, synthetic) as text tags."""
    da = da.squeeze(drop=True) if da.ndim > 2 and 1 in da.shape else da
    tags = {k: str(v) for k, v in da.attrs.items() if k != "_FillValue"}
    out = da.copy()
    out.attrs = {}
    out.encoding = {}
    if np.issubdtype(out.dtype, np.floating):
        out = out.astype("float32").rio.write_nodata(np.nan)
    else:
        fill = da.attrs.get("_FillValue", da.encoding.get("_FillValue"))
        if fill is not None:
            out = out.rio.write_nodata(int(fill))
    return out, tags


def write_cog(path, da: xr.DataArray) -> Path:
    """A Cloud-Optimized GeoTIFF of a (y, x) or (band, y, x) array (:func:`cog_ready`), made in memory."""
    out, tags = cog_ready(da)
    with atomic_path(path) as tmp:
        out.rio.to_raster(tmp, driver="COG", compress="DEFLATE", tags=tags)
    return Path(path)


def write_netcdf(path, ds: xr.Dataset | xr.DataArray) -> Path:
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf")
    return Path(path)


# --------------------------------------------------------------------------------------------------
# what a run owns
# --------------------------------------------------------------------------------------------------


class RunFolder:
    """The output folder of one run (or report build) while it runs: locked, checked, its writes recorded.

    Use as ``with RunFolder(out, force=...) as folder: ...``; leaving the block with an error rolls
    back: every file the run replaced is put back from ``.dldd/backup/``, every file it created is
    removed (an interrupt, Ctrl-C, leaves the files as they are: whole, old or new, resumable).
    Re-entrant within one process (a report built inside a run shares the run's lock and records).
    ``places``: the top-level names the holder writes (a report build: its report folder), checked and
    recorded; default every output place.
    """

    _active: list["RunFolder"] = []
    _guard = threading.Lock()

    def __init__(self, out: str | os.PathLike, *, force: bool = False, places: tuple[str, ...] | None = None):
        self.out = Path(out).resolve()
        self.force = force
        self.places = places  # top-level names this run writes (None: every output place)
        self.own = self.out / OWN_DIR
        self.created: list[str] = []
        self.replaced: list[str] = []
        self._fd = None
        self._outer = None

    # --- checks --------------------------------------------------------------------------------------
    def _check_place(self) -> None:
        """Refuse a system or home folder, and a ``.dldd`` that is a symbolic link (before the lock in it)."""
        if str(self.out) in SYSTEM_FOLDERS or self.out == Path.home().resolve():
            raise InputError(f"output folder {self.out} is a system or home folder; dldd writes a run into a "
                             "folder of its own: give --out a new folder (or one an earlier run wrote)")
        if self.own.is_symlink():
            raise InputError(f"output folder {self.out} holds symbolic link(s) where dldd writes: {self.own}; "
                             "dldd never writes or deletes through a link: remove it (nothing was changed)")

    def check(self) -> None:
        """Refuse symbolic links where dldd writes, and files it did not write there (unless ``force``)."""
        links = [str(p) for p in self._walk(links=True)]
        if links:
            raise InputError(f"output folder {self.out} holds symbolic link(s) where dldd writes: "
                             f"{_named(links)}; dldd never writes or deletes through a link: remove them "
                             "(nothing was changed)")
        if self.force:
            return
        owned = self.owned()
        foreign = [rel for rel in (str(p.relative_to(self.out)) for p in self._walk())
                   if rel not in owned and not TEMPORARY.match(Path(rel).name)]
        if foreign:
            raise InputError(f"output folder {self.out} holds {len(foreign)} file(s) dldd did not write: "
                             f"{_named(foreign)}; dldd only replaces files it wrote: choose a new --out, "
                             "move these files, or give --force to let dldd replace them")

    def _walk(self, links: bool = False):
        """Files (or, with ``links``, symbolic links) in the places dldd writes and in ``.dldd``."""
        if not self.out.is_dir():
            return
        for entry in os.scandir(self.out):
            if not (self.writes(entry.name) or (links and entry.name == OWN_DIR)):
                continue
            if entry.is_symlink():
                if links:
                    yield Path(entry.path)
                continue
            if entry.is_file():
                if not links:
                    yield Path(entry.path)
                continue
            for dirpath, dirnames, filenames in os.walk(entry.path):
                for n in dirnames + filenames:
                    p = Path(dirpath) / n
                    if links and p.is_symlink():
                        yield p
                    elif not links and n in filenames and not p.is_symlink():
                        yield p

    def writes(self, name: str) -> bool:
        """Whether the top-level name ``name`` of the folder is one this holder writes."""
        return name in self.places if self.places is not None else is_output_place(name)

    def owned(self) -> set[str]:
        """Relative paths of the files dldd wrote in this folder (the ledger ``.dldd/owned``)."""
        ledger = self.own / "owned"
        if not ledger.is_file():
            return set()
        return {line for line in ledger.read_text(encoding="utf-8").splitlines() if line}

    # --- lock ----------------------------------------------------------------------------------------
    def __enter__(self) -> "RunFolder":
        with RunFolder._guard:
            outer = next((f for f in RunFolder._active if f.out == self.out), None)
        if outer is not None:  # a report built by the run that holds the folder
            self._outer = outer
            return outer
        self._check_place()
        try:
            self.own.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise InputError(f"output folder {self.out} is not writable ({err.strerror})") from None
        self._fd = os.open(self.own / "lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666 & ~_UMASK)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(self._fd)
            self._fd = None
            raise InputError(f"output folder {self.out} is in use by another dldd run ({holder}); wait for it "
                             "to finish, or give another --out (two runs never share a folder)") from None
        try:
            self.check()  # under the lock: no other run is writing
        except BaseException:
            os.close(self._fd)
            self._fd = None
            raise
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}".encode(), 0)
        shutil.rmtree(self.own / "backup", ignore_errors=True)  # a killed run's: its files are whole, old or new
        with RunFolder._guard:
            RunFolder._active.append(self)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._outer is not None:
            return
        try:
            if exc_type is not None and issubclass(exc_type, Exception):  # Ctrl-C: stays resumable
                self.roll_back()
            elif exc_type is None:  # the ledger keeps the owned files that are there, once each
                kept = sorted(rel for rel in self.owned() if os.path.lexists(self.out / rel))
                write_text(self.own / "owned", "".join(f"{rel}\n" for rel in kept))
        finally:
            shutil.rmtree(self.own / "backup", ignore_errors=True)
            with RunFolder._guard:
                RunFolder._active.remove(self)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)

    @classmethod
    def active_for(cls, path: Path) -> "RunFolder | None":
        """The run folder whose output places hold ``path``, if a run is writing there."""
        path = Path(path).resolve()
        with cls._guard:
            for f in cls._active:
                try:
                    rel = path.relative_to(f.out)
                except ValueError:
                    continue
                if rel.parts and f.writes(rel.parts[0]):
                    return f
        return None

    # --- writes --------------------------------------------------------------------------------------
    def before_replace(self, path: Path) -> None:
        """Record ``path`` (about to be renamed into place) in the ledger; keep the file it replaces aside."""
        rel = str(Path(path).resolve().relative_to(self.out))
        if rel in self.created or rel in self.replaced:
            return
        if os.path.lexists(path):
            backup = self.own / "backup" / rel
            backup.parent.mkdir(parents=True, exist_ok=True)
            if Path(path).is_dir():
                shutil.copytree(path, backup, symlinks=True)
            else:
                try:
                    os.link(path, backup)
                except OSError:
                    shutil.copy2(path, backup)
            self.replaced.append(rel)
        else:
            self.created.append(rel)
        with open(self.own / "owned", "a", encoding="utf-8") as ledger:
            ledger.write(rel + "\n")

    def set_aside(self, rel: str) -> None:
        """Move an owned file out of its place for the run (put back if the run fails)."""
        path = self.out / rel
        if path.is_file() and not path.is_symlink():
            self.before_replace(path)
            path.unlink()

    def remove_owned(self, paths) -> list[Path]:
        """Delete those of ``paths`` that dldd wrote (in the ledger); others are left alone."""
        owned = self.owned()
        removed = []
        for p in paths:
            rel = str(Path(p).resolve().relative_to(self.out))
            if rel in owned and Path(p).is_file() and not Path(p).is_symlink():
                self.before_replace(Path(p))
                Path(p).unlink()
                removed.append(Path(p))
        return removed

    def roll_back(self) -> None:
        """Put back every file the run replaced and remove every file it created."""
        for rel in self.created:
            p = self.out / rel
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
        for rel in self.replaced:
            backup, p = self.own / "backup" / rel, self.out / rel
            if backup.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            if os.path.lexists(backup):
                os.replace(backup, p)
        self.created, self.replaced = [], []


def file_slug(name: str, max_chars: int = 40) -> str:
    """A short file name for a user-given name of any script: its ASCII letters and digits (at most
    ``max_chars``) and 8 hex digits of the SHA-256 of its identity (NFC, case-folded), so that names
    that are different ids never share a file, and no name makes a file name too long."""
    import hashlib
    import unicodedata

    ident = unicodedata.normalize("NFC", name).casefold()
    ascii_part = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()[:max_chars].strip("-")
    return f"{ascii_part or 'name'}-{hashlib.sha256(ident.encode('utf-8')).hexdigest()[:8]}"


def _named(items: list[str]) -> str:
    shown = ", ".join(items[:NAMED_AT_MOST])
    return shown + (f" and {len(items) - NAMED_AT_MOST} more" if len(items) > NAMED_AT_MOST else "")
