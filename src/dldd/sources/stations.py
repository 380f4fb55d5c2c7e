"""Field stations: observations from CSV, indicators at the stations, and gridded products checked
against them.

CSV layout (one row per station and month, or per station and day; header names as below, any order,
extra columns ignored; see docs/sources.md):

===============  ========  ==========================================================================
column           required  meaning
===============  ========  ==========================================================================
``station_id``   yes       station code (text), e.g. ``51828``
``name``         no        station name, e.g. ``Hotan``
``lat``, ``lon`` yes       WGS84 decimal degrees (same on every row of a station)
``elevation``    no        metres above sea level
``date``         yes       ``YYYY-MM`` (monthly) or ``YYYY-MM-DD`` (daily rows, aggregated to months)
``pr_mm``        no        precipitation, mm (monthly total, or daily total)
``tmin_c``       no        minimum temperature, degC (monthly mean of daily minima, or daily minimum)
``tmax_c``       no        maximum temperature, degC
``tmean_c``      no        mean temperature, degC
===============  ========  ==========================================================================

Empty cells are missing values. Daily rows are aggregated to months: precipitation only for complete
months (a missing day would bias the total), temperatures when at most ``MAX_MISSING_DAYS_TEMPERATURE``
days are missing (the "11 days" part of the WMO 11/5 rule, WMO-No. 1203 (2017) Guidelines on the
calculation of climate normals).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from dldd.errors import InputError

#: CSV value columns -> (engine variable, units).
VALUE_COLUMNS = {
    "pr_mm": ("precipitation", "mm/month"),
    "tmin_c": ("tmin", "degC"),
    "tmax_c": ("tmax", "degC"),
    "tmean_c": ("tmean", "degC"),
}
REQUIRED_COLUMNS = ("station_id", "lat", "lon", "date")
#: Daily -> monthly: largest number of missing days for a monthly temperature mean (WMO-No. 1203, 11/5 rule).
MAX_MISSING_DAYS_TEMPERATURE = 10
#: Variables whose relative bias (percent of the station mean) is reported.
RELATIVE_BIAS_VARIABLES = ("precipitation", "pet")
#: Minimum number of paired months for a correlation.
MIN_PAIRS_CORRELATION = 3


def read_stations(path: str | Path) -> xr.Dataset:
    """Station observations as a Dataset ``(station, time)``, monthly, ``time`` on the 1st of each month.

    Coordinates: ``station`` (ids), ``name``, ``lat``, ``lon``, ``elevation``; variables among
    ``precipitation`` (mm/month), ``tmin``, ``tmax``, ``tmean`` (degC) with ``units`` attributes.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"stations: file not found: {path}")
    try:
        df = pd.read_csv(path, dtype={"station_id": str, "name": str}, skipinitialspace=True)
    except Exception as err:
        raise InputError(f"stations: cannot read {path} as CSV ({err})") from None
    df.columns = [c.strip().lower() for c in df.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"stations: {path} lacks the column(s) {missing}; expected {list(REQUIRED_COLUMNS)} "
                         f"and value columns among {list(VALUE_COLUMNS)} (found {list(df.columns)})")
    values = [c for c in VALUE_COLUMNS if c in df.columns]
    if not values:
        raise InputError(f"stations: {path} has no value column; expected some of {list(VALUE_COLUMNS)}")
    dates = pd.to_datetime(df["date"].astype(str), errors="coerce", format="mixed")
    if dates.isna().any():
        bad = df.loc[dates.isna(), "date"].iloc[0]
        raise InputError(f"stations: {path}: date {bad!r} is not YYYY-MM or YYYY-MM-DD")
    df["date"] = dates
    for c in ("lat", "lon", "elevation", *values):
        if c in df.columns:
            df[c] = pd.to_numeric(df[c], errors="coerce")
    meta = _station_meta(df, path)
    df["month"] = df["date"].dt.to_period("M").dt.to_timestamp()
    daily = df.duplicated(["station_id", "month"]).any() or (df["date"].dt.day != 1).any()
    monthly = _daily_to_monthly(df, values) if daily else df.set_index(["station_id", "month"])[values]
    months = pd.date_range(df["month"].min(), df["month"].max(), freq="MS")
    full = pd.MultiIndex.from_product([meta.index, months], names=["station_id", "month"])
    monthly = monthly.reindex(full)
    ds = xr.Dataset(coords={"station": meta.index.to_numpy(dtype=str), "time": months})
    for c in values:
        var, units = VALUE_COLUMNS[c]
        arr = monthly[c].to_numpy(dtype="float64").reshape(len(meta), len(months))
        ds[var] = xr.DataArray(arr, dims=("station", "time"), attrs={"units": units, "source": str(path)})
    ds = ds.assign_coords(name=("station", meta["name"].astype(str).to_numpy(dtype=str)), lat=("station", meta["lat"].to_numpy(float)),
                          lon=("station", meta["lon"].to_numpy(float)),
                          elevation=("station", meta["elevation"].to_numpy(float)))
    if "precipitation" in ds and (ds.precipitation < 0).any():
        raise InputError(f"stations: {path} has negative precipitation")
    return ds


def _station_meta(df: pd.DataFrame, path) -> pd.DataFrame:
    cols = {"lat": "lat", "lon": "lon"}
    if "name" not in df.columns:
        df["name"] = df["station_id"]
    if "elevation" not in df.columns:
        df["elevation"] = np.nan
    g = df.groupby("station_id", sort=False)
    for c in ("lat", "lon"):
        if (g[c].nunique(dropna=False) > 1).any():
            sid = g[c].nunique(dropna=False).idxmax()
            raise InputError(f"stations: {path}: station {sid!r} has several {cols[c]} values; one per station expected")
    meta = g[["name", "lat", "lon", "elevation"]].first()
    bad = meta[(meta.lat.abs() > 90) | (meta.lon.abs() > 180) | meta.lat.isna() | meta.lon.isna()]
    if len(bad):
        raise InputError(f"stations: {path}: station {bad.index[0]!r} has lat/lon {bad.iloc[0].lat}, {bad.iloc[0].lon}; "
                         "expected WGS84 degrees (lat -90..90, lon -180..180)")
    return meta


def _daily_to_monthly(df: pd.DataFrame, values: list[str]) -> pd.DataFrame:
    if df.duplicated(["station_id", "date"]).any():
        sid, d = df.loc[df.duplicated(["station_id", "date"]), ["station_id", "date"]].iloc[0]
        raise InputError(f"stations: station {sid!r} has two rows for {d.date()}")
    g = df.groupby(["station_id", "month"])
    days = pd.Series(g.size().index.get_level_values("month").days_in_month, index=g.size().index)
    out = {}
    for c in values:
        n = g[c].count()
        if c == "pr_mm":
            out[c] = g[c].sum(min_count=1).where(n == days)
        else:
            out[c] = g[c].mean().where(days - n <= MAX_MISSING_DAYS_TEMPERATURE)
    return pd.DataFrame(out)


def station_indicators(ds: xr.Dataset, scale: int = 12, method: str = "pwm", **spi_kwargs) -> xr.Dataset:
    """SPI (``scale`` months, :func:`dldd.indicators.drought.spi`) and Hargreaves PET
    (:func:`dldd.indicators.pet.pet_hargreaves`, mm/month = mm/day x days in month) at the stations,
    and SPEI (:func:`dldd.indicators.drought.spei`) on P - PET when all three are available."""
    from dldd.indicators import drought, pet as pet_methods

    out = xr.Dataset(coords=ds.coords)
    if "precipitation" in ds:
        out["spi"] = drought.spi(ds.precipitation, scale=scale, method=method, **spi_kwargs)
    if "tmin" in ds and "tmax" in ds:
        per_day = pet_methods.pet_hargreaves(ds.tmin, ds.tmax, ds.lat, ds.time, monthly=True)
        days = xr.DataArray(pd.DatetimeIndex(ds.time.values).days_in_month.values, coords={"time": ds.time})
        pet = (per_day * days).rename("pet")
        pet.attrs = {**per_day.attrs, "units": "mm/month",
                     "long_name": "reference evapotranspiration (Hargreaves-Samani), monthly total"}
        out["pet"] = pet
        if "precipitation" in ds:
            out["spei"] = drought.spei(ds.precipitation, pet, scale=scale, **spi_kwargs)
    if not out.data_vars:
        raise InputError("stations: no indicator can be computed: need precipitation and/or tmin and tmax")
    return out


def sample_at_stations(da: xr.DataArray, stations: xr.Dataset) -> xr.DataArray:
    """Values of a gridded array at the stations' cells (nearest cell; NaN for stations off the grid)."""
    from pyproj import Transformer

    crs = da.rio.crs
    if crs is None:
        raise InputError(f"{da.name or 'gridded array'}: no CRS, cannot place the stations on it")
    tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    xs, ys = tr.transform(stations.lon.values, stations.lat.values)
    dx = float(abs(da.x[1] - da.x[0])) if da.sizes["x"] > 1 else np.inf
    dy = float(abs(da.y[1] - da.y[0])) if da.sizes["y"] > 1 else np.inf
    inside = ((xs >= float(da.x.min()) - dx / 2) & (xs <= float(da.x.max()) + dx / 2)
              & (ys >= float(da.y.min()) - dy / 2) & (ys <= float(da.y.max()) + dy / 2))
    picked = da.sel(x=xr.DataArray(xs, dims="station"), y=xr.DataArray(ys, dims="station"), method="nearest")
    picked = picked.drop_vars(["x", "y", "spatial_ref"], errors="ignore").assign_coords(station=stations.station)
    return picked.where(xr.DataArray(inside, dims="station", coords={"station": stations.station}))


def compare_with_stations(gridded: Mapping[str, xr.DataArray], stations: xr.Dataset) -> pd.DataFrame:
    """Gridded products against station observations, one row per station and variable.

    ``gridded``: ``{variable: DataArray (time, y, x)}`` with variables named as in ``stations``
    (``precipitation``, ``tmin``, ...). Paired months are those where both are valid. Columns:
    station, name, variable, units, n, station_mean, gridded_mean, bias (gridded - station, mean),
    bias_pct (for precipitation and PET: 100 bias / station mean), correlation (Pearson, NaN below
    ``MIN_PAIRS_CORRELATION`` pairs or without variance), rmse.
    """
    rows = []
    for var, da in gridded.items():
        if var not in stations:
            raise InputError(f"compare: the stations have no {var!r}; they have {list(stations.data_vars)}")
        obs = stations[var]
        grid = sample_at_stations(da, stations).compute()
        if "time" in grid.dims:
            obs, grid = xr.align(obs, grid, join="inner")
            if obs.sizes["time"] == 0:
                raise InputError(f"compare: the gridded {var!r} and the stations share no month")
        for sid in stations.station.values:
            o = np.asarray(obs.sel(station=sid), dtype="float64")
            g = np.broadcast_to(np.asarray(grid.sel(station=sid), dtype="float64"), o.shape)
            ok = np.isfinite(o) & np.isfinite(g)
            n = int(ok.sum())
            o, g = o[ok], g[ok]
            bias = float(np.mean(g - o)) if n else np.nan
            om = float(np.mean(o)) if n else np.nan
            corr = np.nan
            if n >= MIN_PAIRS_CORRELATION and np.std(o) > 0 and np.std(g) > 0:
                corr = float(np.corrcoef(o, g)[0, 1])
            rows.append({
                "station": sid, "name": str(stations.name.sel(station=sid).values), "variable": var,
                "units": obs.attrs.get("units", ""), "n": n, "station_mean": om,
                "gridded_mean": float(np.mean(g)) if n else np.nan, "bias": bias,
                "bias_pct": 100.0 * bias / om if (var in RELATIVE_BIAS_VARIABLES and n and om != 0) else np.nan,
                "correlation": corr, "rmse": float(np.sqrt(np.mean((g - o) ** 2))) if n else np.nan,
            })
    return pd.DataFrame(rows)
