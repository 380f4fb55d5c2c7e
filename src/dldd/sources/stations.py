"""Field stations: observations from CSV, indicators at the stations, and gridded inputs checked
against them (``dldd stations``; the pipeline stage ``stations``; docs/sources.md).

CSV layout (one row per station and month, or per station and day; header names as below, any order,
extra columns ignored; see docs/sources.md):

=====================  ========  ===================================================================
column                 required  meaning
=====================  ========  ===================================================================
``station_id``         yes       station code (text), e.g. ``51828``
``name``               no        station name, e.g. ``Hotan``
``lat``, ``lon``       yes       WGS84 decimal degrees (same on every row of a station)
``elevation``          no        metres above sea level
``date``               yes       ``YYYY-MM`` (monthly) or ``YYYY-MM-DD`` (daily rows, aggregated to months)
``pr[UNITS]``          no        precipitation of the row's month or day, in UNITS: a depth (``mm``,
                                 ``in``), a mass per area (``kg m-2``), or a rate (``mm d-1``,
                                 ``kg m-2 s-1``: x the days of the row's step)
``tmin[UNITS]``,       no        minimum, maximum and mean air temperature in UNITS (``degC``, ``K``,
``tmax[UNITS]``,                 ``degF``): monthly means of daily values, or daily values
``tmean[UNITS]``
``pr_mm``, ``tmin_c``, no        shorthands for ``pr[mm]``, ``tmin[degC]``, ``tmax[degC]``,
``tmax_c``, ``tmean_c``          ``tmean[degC]``
=====================  ========  ===================================================================

Units are read from the header (pint through :mod:`dldd.core.units`) and converted to mm per month and
degC; a value column without units (``pr``, ``tmax``) is refused, units are never guessed from values.
Missing values: empty cells, ``NA``, and the number the caller declares (``missing_value``, e.g.
``-9999``); any other text in a number column is refused naming the file, the column and the line.
Values outside the physical range of their variable (:data:`dldd.sources.checks.VALUE_RANGES`, in the
engine's units) are refused: an undeclared missing-value code is not read as a value.
Daily rows are aggregated to months: precipitation only for complete months (a missing day would bias
the total), temperatures when at most ``MAX_MISSING_DAYS_TEMPERATURE`` days are missing (the "11 days"
part of the WMO 11/5 rule, WMO-No. 1203 (2017) Guidelines on the calculation of climate normals).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from dldd.errors import InputError

#: Value column stems -> engine variable.
VARIABLES = {"pr": "precipitation", "tmin": "tmin", "tmax": "tmax", "tmean": "tmean"}
#: Shorthand columns -> (stem, units).
SHORTHANDS = {"pr_mm": ("pr", "mm"), "tmin_c": ("tmin", "degC"), "tmax_c": ("tmax", "degC"),
              "tmean_c": ("tmean", "degC")}
#: A value column with its units: ``stem[units]``.
VALUE_COLUMN = re.compile(r"^\s*(?P<stem>[A-Za-z_]+)\s*\[(?P<units>[^\]]+)\]\s*$")
#: Units of the monthly station variables (precipitation: the month's amount; temperatures: degC).
STATION_UNITS = {"precipitation": "mm/month", "tmin": "degC", "tmax": "degC", "tmean": "degC"}
REQUIRED_COLUMNS = ("station_id", "lat", "lon", "date")
#: Cells read as missing besides the caller's ``missing_value``.
MISSING_CELLS = ("", "NA")
#: Daily -> monthly: largest number of missing days for a monthly temperature mean (WMO-No. 1203, 11/5 rule).
MAX_MISSING_DAYS_TEMPERATURE = 10
#: Variables whose relative bias (percent of the station mean) is reported.
RELATIVE_BIAS_VARIABLES = ("precipitation", "pet")
#: Minimum number of paired months for a correlation.
MIN_PAIRS_CORRELATION = 3
#: Station id of the rows pooled over every station in the comparison table.
ALL_STATIONS = "all"
#: Columns of the comparison table (:func:`compare_with_stations`).
COMPARISON_COLUMNS = ("station", "name", "lat", "lon", "variable", "units", "n", "station_mean", "gridded_mean",
                      "bias", "bias_pct", "rmse", "correlation", "class_agreement_pct")
#: Variables the comparison reads from gridded inputs (the PET and SPI rows are computed from them).
GRIDDED_VARIABLES = ("precipitation", "tmin", "tmax", "tmean")


# --------------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------------


def read_stations(path: str | Path, missing_value: float | None = None) -> xr.Dataset:
    """Station observations as a Dataset ``(station, time)``, monthly, ``time`` on the 1st of each month.

    Coordinates: ``station`` (ids), ``name``, ``lat``, ``lon``, ``elevation``; variables among
    ``precipitation`` (mm/month), ``tmin``, ``tmax``, ``tmean`` (degC), converted from the units of
    their columns (see the module docstring), with ``units`` attributes.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"stations: file not found: {path}")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=list(MISSING_CELLS),
                         skipinitialspace=True)
    except Exception as err:
        raise InputError(f"stations: cannot read {path} as CSV ({err})") from None
    columns = _value_columns(df, path)
    df = df.rename(columns={c: c.strip().lower() for c in df.columns if c not in columns})
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"stations: {path} lacks the column(s) {missing}; expected {list(REQUIRED_COLUMNS)} "
                         f"and value columns among pr[UNITS], tmin[UNITS], tmax[UNITS], tmean[UNITS] or "
                         f"{list(SHORTHANDS)} (found {list(df.columns)})")
    if not columns:
        raise InputError(f"stations: {path} has no value column; expected some of pr[UNITS], tmin[UNITS], "
                         f"tmax[UNITS], tmean[UNITS] (e.g. pr[mm], tmax[degC]) or {list(SHORTHANDS)}")
    if df["station_id"].isna().any():
        raise InputError(f"stations: {path}, column 'station_id', line {_line(df['station_id'].isna())}: empty; "
                         "expected a station code on every row")
    dates = pd.to_datetime(df["date"].astype(str), errors="coerce", format="mixed")
    if dates.isna().any():
        bad = df.loc[dates.isna(), "date"].iloc[0]
        raise InputError(f"stations: {path}, column 'date', line {_line(dates.isna())}: {bad!r} is not "
                         "YYYY-MM or YYYY-MM-DD")
    df["date"] = dates
    for c in ("lat", "lon", "elevation", *columns):
        if c in df.columns:
            df[c] = _numbers(df[c], c, path, missing_value if c in columns else None)
    meta = _station_meta(df, path)
    df["month"] = df["date"].dt.to_period("M").dt.to_timestamp()
    daily = bool(df.duplicated(["station_id", "month"]).any() or (df["date"].dt.day != 1).any())
    if df.duplicated(["station_id", "date"]).any():
        sid, d = df.loc[df.duplicated(["station_id", "date"]), ["station_id", "date"]].iloc[0]
        raise InputError(f"stations: {path}: station {sid!r} has two rows for {d.date() if daily else d.strftime('%Y-%m')}")
    steps = (pd.date_range(df["date"].min(), df["date"].max(), freq="D") if daily
             else pd.date_range(df["month"].min(), df["month"].max(), freq="MS"))
    table = df.set_index(["station_id", "date"])[list(columns)]
    table = table.reindex(pd.MultiIndex.from_product([meta.index, steps], names=["station_id", "date"]))
    ds = xr.Dataset(coords={"station": meta.index.to_numpy(dtype=str), "time": steps})
    for c, (var, units) in columns.items():
        raw = xr.DataArray(table[c].to_numpy(dtype="float64").reshape(len(meta), len(steps)),
                           dims=("station", "time"), coords=ds.coords, name=var, attrs={"units": units})
        ds[var] = _to_engine_units(raw, var, "day" if daily else "month", f"stations: {path}, column {c!r}")
    if daily:
        ds = _daily_to_monthly(ds)
    for var in ds.data_vars:
        ds[var].attrs = {"units": STATION_UNITS[var], "source": str(path)}
    return ds.assign_coords(name=("station", meta["name"].astype(str).to_numpy(dtype=str)),
                            lat=("station", meta["lat"].to_numpy(float)), lon=("station", meta["lon"].to_numpy(float)),
                            elevation=("station", meta["elevation"].to_numpy(float)))


def _value_columns(df: pd.DataFrame, path) -> dict[str, tuple[str, str]]:
    """Value columns of the file -> (engine variable, declared units); a variable's column without units,
    twice, or with units pint cannot read, is refused."""
    from dldd.core.units import parse

    out, seen = {}, {}
    for c in df.columns:
        key = c.strip().lower()
        found = VALUE_COLUMN.match(c)
        if found and found["stem"].lower() in VARIABLES:
            stem, units = found["stem"].lower(), found["units"].strip()
            parse(units, f"stations: {path}, column {c!r}")
        elif key in SHORTHANDS:
            stem, units = SHORTHANDS[key]
        elif key in VARIABLES or key in VARIABLES.values():
            raise InputError(f"stations: {path}, column {c!r}: no units; declare them in the header as "
                             f"{key if key in VARIABLES else 'pr'}[UNITS], e.g. pr[mm], pr[in], tmax[degC], tmax[K]")
        else:
            continue
        if stem in seen:
            raise InputError(f"stations: {path}: columns {seen[stem]!r} and {c!r} both give {VARIABLES[stem]}; keep one")
        seen[stem] = c
        out[c] = (VARIABLES[stem], units)
    return out


def _line(mask: pd.Series) -> int:
    """The file line of the first True row (line 1 is the header)."""
    return int(np.flatnonzero(np.asarray(mask))[0]) + 2


def _numbers(text: pd.Series, column: str, path, missing_value: float | None) -> pd.Series:
    """A column of numbers; empty cells and ``NA`` missing, ``missing_value`` missing; other text refused."""
    values = pd.to_numeric(text, errors="coerce")
    bad = values.isna() & text.notna()
    if bad.any():
        raise InputError(f"stations: {path}, column {column!r}, line {_line(bad)}: {text[bad].iloc[0]!r} is not a "
                         f"number; expected a number, or an empty cell or NA for a missing value")
    if missing_value is not None:
        values = values.mask(values == missing_value)
    return values


def _to_engine_units(da: xr.DataArray, var: str, step: str, where: str) -> xr.DataArray:
    """Station values in the engine's units (precipitation: mm per step; temperatures: degC), then
    checked against the variable's physical range (:data:`dldd.sources.checks.VALUE_RANGES`)."""
    from dldd.core.units import convert, to_amount
    from dldd.sources.checks import VALUE_RANGES

    try:
        out = to_amount(da, "mm", var, step=step) if var == "precipitation" else convert(da, "degC", var)
    except InputError as err:
        raise InputError(f"{where}: {err}") from None
    low, high, text = VALUE_RANGES["tmin" if var == "tmean" else var]
    values = out.values
    outside = (values < low) | (values > high)
    if outside.any():
        i, t = np.argwhere(outside)[0]
        raise InputError(f"{where}: station {str(da.station.values[i])!r}, {pd.Timestamp(da.time.values[t]).date()}: "
                         f"{da.values[i, t]:g} {da.attrs['units']} is {values[i, t]:g} {out.attrs['units']}, outside "
                         f"the range of {text} [{low:g}, {high:g}]; a missing-value code must be declared "
                         "(missing_value), not left in the file as a value")
    return out


def _station_meta(df: pd.DataFrame, path) -> pd.DataFrame:
    if "name" not in df.columns:
        df["name"] = df["station_id"]
    df["name"] = df["name"].fillna(df["station_id"])
    if "elevation" not in df.columns:
        df["elevation"] = np.nan
    g = df.groupby("station_id", sort=False)
    for c in ("lat", "lon"):
        if (g[c].nunique(dropna=False) > 1).any():
            sid = g[c].nunique(dropna=False).idxmax()
            raise InputError(f"stations: {path}: station {sid!r} has several {c} values; one per station expected")
    meta = g[["name", "lat", "lon", "elevation"]].first()
    bad = meta[(meta.lat.abs() > 90) | (meta.lon.abs() > 180) | meta.lat.isna() | meta.lon.isna()]
    if len(bad):
        raise InputError(f"stations: {path}: station {bad.index[0]!r} has lat/lon {bad.iloc[0].lat}, {bad.iloc[0].lon}; "
                         "expected WGS84 degrees (lat -90..90, lon -180..180)")
    return meta


def _daily_to_monthly(ds: xr.Dataset) -> xr.Dataset:
    """Monthly totals (complete months only) and means (at most MAX_MISSING_DAYS_TEMPERATURE days missing)."""
    out = {}
    for var, da in ds.data_vars.items():
        months = da.resample(time="MS")
        n = months.count()
        days = n["time"].dt.days_in_month
        if var == "precipitation":
            out[var] = months.sum(min_count=1).where(n == days)
        else:
            out[var] = months.mean().where(days - n <= MAX_MISSING_DAYS_TEMPERATURE)
    return xr.Dataset(out)


# --------------------------------------------------------------------------------------------------
# indicators at the stations
# --------------------------------------------------------------------------------------------------


def monthly_pet(tmin, tmax, tmean, lat, method: str = "hargreaves") -> xr.DataArray | None:
    """Monthly PET totals (mm/month) from monthly temperatures (degC), or None without the temperatures
    ``method`` needs: Hargreaves-Samani (:func:`dldd.indicators.pet.pet_hargreaves`, tmin and tmax)
    or Thornthwaite (:func:`dldd.indicators.pet.pet_thornthwaite`, tmean or (tmin + tmax) / 2),
    mm/month = mm/day x days in month."""
    from dldd.indicators import pet as pet_methods

    if method == "hargreaves":
        if tmin is None or tmax is None:
            return None
        per_day = pet_methods.pet_hargreaves(tmin, tmax, lat, tmin.time, monthly=True)
    elif method == "thornthwaite":
        t = tmean if tmean is not None else ((tmin + tmax) / 2 if tmin is not None and tmax is not None else None)
        if t is None:
            return None
        per_day = pet_methods.pet_thornthwaite(t, lat, t.time)
    else:
        raise InputError(f"pet_method: expected 'hargreaves' or 'thornthwaite', got {method!r}")
    pet = (per_day * per_day.time.dt.days_in_month).rename("pet")
    pet.attrs = {**per_day.attrs, "units": "mm/month", "long_name": f"{per_day.attrs.get('long_name', 'PET')}, monthly total"}
    return pet


def station_indicators(ds: xr.Dataset, scale: int = 12, method: str = "pwm", pet_method: str = "hargreaves",
                       **spi_kwargs) -> xr.Dataset:
    """SPI (``scale`` months, :func:`dldd.indicators.drought.spi`, the grid's kernel), monthly PET
    (:func:`monthly_pet`) and SPEI (:func:`dldd.indicators.drought.spei`) on P - PET at the stations."""
    from dldd.indicators import drought

    out = xr.Dataset(coords=ds.coords)
    if "precipitation" in ds:
        out["spi"] = drought.spi(ds.precipitation, scale=scale, method=method, **spi_kwargs)
    pet = monthly_pet(ds.get("tmin"), ds.get("tmax"), ds.get("tmean"), ds.lat, pet_method)
    if pet is not None:
        out["pet"] = pet
        if "precipitation" in ds:
            out["spei"] = drought.spei(ds.precipitation, pet, scale=scale, **spi_kwargs)
    if not out.data_vars:
        raise InputError("stations: no indicator can be computed: need precipitation and/or temperatures "
                         f"for PET ({pet_method})")
    return out


def indicators_table(ds: xr.Dataset, indicators: xr.Dataset) -> pd.DataFrame:
    """One row per station and month: station, name, lat, lon, date (YYYY-MM), then the observations in
    :data:`STATION_UNITS` (``precipitation`` mm/month, ``tmin``, ``tmax``, ``tmean`` degC) and the
    indicators (``pet`` mm/month, ``spi``, ``spei``)."""
    both = xr.merge([ds, indicators], compat="override", combine_attrs="drop")
    df = both.drop_vars(["elevation"], errors="ignore").to_dataframe().reset_index()
    df["date"] = pd.DatetimeIndex(df.pop("time")).strftime("%Y-%m")
    first = ["station", "name", "lat", "lon", "date"]
    return df[first + [c for c in df.columns if c not in first]]


# --------------------------------------------------------------------------------------------------
# gridded inputs against the stations
# --------------------------------------------------------------------------------------------------


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


def paired_metrics(obs: np.ndarray, grid: np.ndarray) -> dict:
    """Agreement of paired values (those where both are finite):

    n, station_mean = mean(o), gridded_mean = mean(g), bias = mean(g - o), rmse = sqrt(mean((g - o)^2)),
    correlation = Pearson r of (o, g) (NaN below ``MIN_PAIRS_CORRELATION`` pairs or without variance).
    """
    o, g = np.asarray(obs, dtype="float64").ravel(), np.asarray(grid, dtype="float64").ravel()
    ok = np.isfinite(o) & np.isfinite(g)
    o, g = o[ok], g[ok]
    n = int(ok.sum())
    if not n:
        return {"n": 0, "station_mean": np.nan, "gridded_mean": np.nan, "bias": np.nan, "rmse": np.nan,
                "correlation": np.nan}
    corr = np.nan
    if n >= MIN_PAIRS_CORRELATION and np.std(o) > 0 and np.std(g) > 0:
        corr = float(np.corrcoef(o, g)[0, 1])
    return {"n": n, "station_mean": float(np.mean(o)), "gridded_mean": float(np.mean(g)),
            "bias": float(np.mean(g - o)), "rmse": float(np.sqrt(np.mean((g - o) ** 2))), "correlation": corr}


def class_agreement_pct(obs_classes: np.ndarray, grid_classes: np.ndarray, nodata: int) -> float:
    """Share (%) of the months with a class on both sides whose classes are the same."""
    o, g = np.asarray(obs_classes).ravel(), np.asarray(grid_classes).ravel()
    ok = (o != nodata) & (g != nodata)
    return float(100.0 * np.mean(o[ok] == g[ok])) if ok.any() else np.nan


def compare_with_stations(gridded: Mapping[str, xr.DataArray], stations: xr.Dataset, *, scale: int = 12,
                          method: str = "pwm", pet_method: str = "hargreaves",
                          progress: Callable[[str], None] | None = None, **spi_kwargs) -> pd.DataFrame:
    """Gridded inputs against station observations at the stations' cells, one row per station and
    variable and one per variable pooled over every station (``station`` = ``ALL_STATIONS``).

    ``gridded``: ``{variable: DataArray (time, y, x)}`` in the engine's units, variables named as in
    ``stations`` (``precipitation``, ``tmin``, ``tmax``, ``tmean``). Months are those both cover; paired
    months those where both are valid. Besides each given variable:

    - ``spi`` (with precipitation): SPI-``scale`` of the station series and of the cell's series (the
      cell's months with no station value set missing, so both are fitted on the same months; the
      calibration rule of :func:`dldd.indicators.drought.spi` applied to the common months), and
      ``class_agreement_pct``: share of the paired months whose SO3 drought intensity classes
      (:data:`dldd.indicators.drought.SO3_LEGEND` on the monthly SPI) are the same;
    - ``pet`` (with the temperatures ``pet_method`` needs): :func:`monthly_pet` of both, at the station's
      latitude.

    Columns: :data:`COMPARISON_COLUMNS`; bias = gridded - station; ``bias_pct`` = 100 bias / station
    mean for precipitation and PET; the metrics of :func:`paired_metrics`.
    """
    from dldd.indicators import drought
    from dldd.indicators.drought.so3 import classify_spi

    say = progress or (lambda msg: None)
    pairs = {}
    for var, da in gridded.items():
        if var not in stations:
            raise InputError(f"compare: the stations have no {var!r}; they have {list(stations.data_vars)}")
        say(f"sampling the gridded {var} at {stations.sizes['station']} stations")
        grid = _to_station_units(sample_at_stations(da, stations).compute(), var)
        obs, grid = xr.align(stations[var], grid, join="inner")
        if obs.sizes["time"] == 0:
            raise InputError(f"compare: the gridded {var!r} and the stations share no month")
        pairs[var] = (obs, grid.transpose(*obs.dims).where(obs.notnull()).assign_attrs(units=STATION_UNITS[var]))
    if "precipitation" in pairs:
        say(f"SPI-{scale} at the stations and at their cells")
        o, g = pairs["precipitation"]
        pairs["spi"] = (drought.spi(o, scale=scale, method=method, **spi_kwargs),
                        drought.spi(g, scale=scale, method=method, **spi_kwargs))
    temps = {k: pairs[k] for k in ("tmin", "tmax", "tmean") if k in pairs}
    if temps:
        common = xr.align(*(a for pair in temps.values() for a in pair), join="inner")
        obs_t = dict(zip(temps, common[0::2]))
        grid_t = dict(zip(temps, common[1::2]))
        lat = stations.lat
        pet_o = monthly_pet(obs_t.get("tmin"), obs_t.get("tmax"), obs_t.get("tmean"), lat, pet_method)
        if pet_o is not None:
            pairs["pet"] = (pet_o, monthly_pet(grid_t.get("tmin"), grid_t.get("tmax"), grid_t.get("tmean"), lat, pet_method))
    rows = []
    for var, (obs, grid) in pairs.items():
        classes = None
        if var == "spi":
            classes = (classify_spi(obs.values), classify_spi(grid.values))
        units = obs.attrs.get("units", "")
        for i, sid in enumerate(stations.station.values):
            m = paired_metrics(obs.sel(station=sid).values, grid.sel(station=sid).values)
            rows.append(_row(var, units, m, classes and (classes[0][i], classes[1][i]), station=str(sid),
                             name=str(stations.name.values[i]), lat=float(stations.lat.values[i]),
                             lon=float(stations.lon.values[i])))
        rows.append(_row(var, units, paired_metrics(obs.values, grid.values), classes, station=ALL_STATIONS,
                         name=ALL_STATIONS, lat=np.nan, lon=np.nan))
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))


def _to_station_units(da: xr.DataArray, var: str) -> xr.DataArray:
    """A gridded monthly series in the stations' units (:data:`STATION_UNITS`), converted from its own."""
    from dldd.core.units import convert, to_amount

    out = to_amount(da, "mm", var, step="month") if var == "precipitation" else convert(da, "degC", var)
    return out.assign_attrs(units=STATION_UNITS[var])


def _row(var: str, units: str, m: dict, classes, **where) -> dict:
    from dldd.indicators.drought import SO3_LEGEND

    rel = var in RELATIVE_BIAS_VARIABLES and m["n"] and m["station_mean"] != 0
    agree = class_agreement_pct(*classes, nodata=SO3_LEGEND.nodata) if classes is not None else np.nan
    return {**where, "variable": var, "units": units, **m,
            "bias_pct": 100.0 * m["bias"] / m["station_mean"] if rel else np.nan, "class_agreement_pct": agree}


def gridded_inputs(open_variable: Callable[[str], xr.DataArray | None], stations: xr.Dataset) -> dict[str, xr.DataArray]:
    """The gridded variables to compare: those of :data:`GRIDDED_VARIABLES` the stations have and
    ``open_variable`` gives (None: not available)."""
    out = {}
    for var in GRIDDED_VARIABLES:
        if var in stations:
            da = open_variable(var)
            if da is not None:
                out[var] = da
    return out


#: Names of the tables :func:`validation_tables` makes (CSV files ``tables/<name>.csv``).
INDICATORS_TABLE = "station_indicators"
COMPARISON_TABLE = "station_comparison"


def validation_tables(stations: xr.Dataset, gridded: Mapping[str, xr.DataArray], *, scale: int = 12,
                      method: str = "pwm", pet_method: str = "hargreaves", calibration: tuple[int, int] | None = None,
                      progress: Callable[[str], None] | None = None) -> dict[str, pd.DataFrame]:
    """The tables of ``dldd stations`` and of the pipeline stage ``stations``: the indicators at the
    stations (:func:`indicators_table`) and, with gridded inputs, the comparison
    (:func:`compare_with_stations`)."""
    say = progress or (lambda msg: None)
    spi_kwargs = {} if calibration is None else {"cal_start": int(calibration[0]), "cal_end": int(calibration[1])}
    say(f"SPI-{scale} and PET at {stations.sizes['station']} stations")
    ind = station_indicators(stations, scale=scale, method=method, pet_method=pet_method, **spi_kwargs)
    tables = {INDICATORS_TABLE: indicators_table(stations, ind)}
    if gridded:
        tables[COMPARISON_TABLE] = compare_with_stations(gridded, stations, scale=scale, method=method,
                                                         pet_method=pet_method, progress=say, **spi_kwargs)
    return tables


def parse_grid_option(text: str) -> tuple[str, str, str | None]:
    """``VAR=PATH`` or ``VAR=PATH#VARIABLE`` (``dldd stations --grid``) -> (var, path, variable)."""
    var, sep, rest = text.partition("=")
    var = var.strip()
    if not sep or var not in GRIDDED_VARIABLES or not rest.strip():
        raise InputError(f"--grid {text!r}: expected VAR=PATH (or VAR=PATH#VARIABLE for a NetCDF variable) with "
                         f"VAR one of {list(GRIDDED_VARIABLES)}")
    path, _, variable = rest.strip().partition("#")
    return var, path, variable or None

