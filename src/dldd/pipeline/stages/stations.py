"""Stage `stations`: the gridded climate inputs checked against field stations (``inputs.stations``).

Reads the station CSV (:func:`dldd.sources.stations.read_stations`; ``nodata`` of the input is its
missing-value number), computes SPI and PET at the stations with the grid's kernels, and compares the
spec's gridded ``precipitation``, ``tmin``, ``tmax``, ``tmean`` (those the stations also observe) at the
stations' cells: bias, RMSE, correlation, and the agreement of the SPI drought classes
(:func:`dldd.sources.stations.compare_with_stations`). Tables ``station_indicators`` and
``station_comparison``. The stage runs whenever the spec gives ``inputs.stations``.
"""

from __future__ import annotations

from typing import Literal

from dldd.pipeline.contracts import Table
from dldd.pipeline.stages.base import Params, Stage
from dldd.sources import stations as st
from dldd.spec import STATIONS_INPUT


class StationsParams(Params):
    scale: int = 12  # SPI/SPEI accumulation, months
    fit_method: Literal["pwm", "ml", "thom"] = "pwm"
    pet_method: Literal["hargreaves", "thornthwaite"] = "hargreaves"
    calibration: tuple[int, int] | None = None  # SPI calibration years; default: spi's rule (1981-2010 if covered)


def run_stations(ctx, p: StationsParams) -> None:
    entry = ctx.spec.inputs[STATIONS_INPUT]
    obs = st.read_stations(ctx.spec.resolve(entry.path), missing_value=entry.nodata)
    gridded = st.gridded_inputs(lambda v: ctx.input(v) if ctx.has(v) else None, obs)
    tables = st.validation_tables(obs, gridded, scale=p.scale, method=p.fit_method, pet_method=p.pet_method,
                                  calibration=p.calibration)
    for name, table in tables.items():
        ctx.write_table(name, table)
    ctx.summary["stations"] = {"stations": int(obs.sizes["station"]), "variables": sorted(map(str, obs.data_vars)),
                               "compared": sorted(gridded), "scale": p.scale, "fit_method": p.fit_method,
                               "pet_method": p.pet_method}


STAGE = Stage(name="stations", description="SPI and PET at field stations; gridded climate inputs validated against them",
              needs=(STATIONS_INPUT,), optional=st.GRIDDED_VARIABLES, params=StationsParams, run=run_stations,
              provides=(
                  Table(st.INDICATORS_TABLE, ("station", "name", "lat", "lon", "date"),
                        description="observations (mm/month, degC) and SPI, SPEI, PET per station and month"),
                  Table(st.COMPARISON_TABLE, st.COMPARISON_COLUMNS,
                        description="gridded inputs against the stations: bias, RMSE, correlation, class agreement"),
              ))
