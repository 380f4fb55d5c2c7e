"""Atomic writers for every output dldd makes.

Each file is written to a temporary name in the same folder and renamed when complete, so a run that
fails or is killed never leaves a half-written file under an output's name, and the previous output
stays intact until the new one is whole. Output names are confined to the output folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from dldd.errors import InputError


def confined(root: str | os.PathLike, *parts: str) -> Path:
    """``root / parts`` resolved, refusing any name that would leave ``root`` (``..``, absolute paths)."""
    root_path = Path(root).resolve()
    target = root_path.joinpath(*parts).resolve()
    if target != root_path and root_path not in target.parents:
        raise InputError(f"output name {'/'.join(parts)!r} would be written outside the output folder {root_path}")
    return target


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, is_dir: bool = False):
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, on error remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if is_dir:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
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
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default, ensure_ascii=False) + "\n")


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if np.isnan(o) else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    return str(o)


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


def write_cog(path, da: xr.DataArray) -> Path:
    """A Cloud-Optimized GeoTIFF of a (y, x) or (band, y, x) array; integer no-data from ``_FillValue``.

    Attributes (units, long_name, method, parameters, references, synthetic) go into the GeoTIFF tags.
    """
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
    with atomic_path(path) as tmp:
        out.rio.to_raster(tmp, driver="COG", compress="DEFLATE", tags=tags)
    return Path(path)


def write_netcdf(path, ds: xr.Dataset | xr.DataArray) -> Path:
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf")
    return Path(path)
