"""The command line: thin; it parses, calls the pipeline, shows progress and prints where results are."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from dldd import __version__
from dldd.errors import DlddError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="dldd: desertification, land degradation and drought assessments, from raw grids to the report.")
spec_app = typer.Typer(no_args_is_help=True, help="Assessment specs.")
regions_app = typer.Typer(no_args_is_help=True, help="The region registry (countries, sub-regions, zones).")
app.add_typer(spec_app, name="spec")
app.add_typer(regions_app, name="regions")


def _mount_practices():
    from dldd.practices.cli import app as practices_app

    app.add_typer(practices_app, name="practices", help="Knowledge base of sand-control and land-management practices.")


_mount_practices()


def _mount_fetch():
    from dldd.sources.fetch import fetch_cli

    app.command("fetch", help="Fetch a product for a region and years from a STAC catalogue into the local cache.")(fetch_cli)


_mount_fetch()

console = Console(stderr=True)


def _interactive() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


def _version_cb(value: bool):
    if value:
        typer.echo(f"dldd {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version_cb, is_eager=True, help="Print the version.")):
    """dldd command line."""
    import warnings

    from rasterio.errors import NotGeoreferencedWarning

    # The report's map drawing (dldd.report.figures._project) warps numpy arrays with both transforms given;
    # rasterio warns on its in-memory datasets and hides that with catch_warnings, which is not thread-safe,
    # so the false warning could reach the console. Only that category from rasterio's warp module is hidden.
    warnings.filterwarnings("ignore", category=NotGeoreferencedWarning, module=r"rasterio\.warp")


def _fail(err: Exception):
    """``error: MESSAGE`` on stderr (never read as markup: user text is shown as it is), exit code 2."""
    from rich.text import Text

    console.print(Text("error:", style="bold red"), Text(str(err)), markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


@contextlib.contextmanager
def _errors(out: Optional[Path] = None):
    """Every failure of a command as one message: a dldd error -> ``error: ...`` and exit 2; an
    unexpected exception -> a one-line ``error: ...`` naming a log file with the traceback (in
    ``OUT/.dldd/`` when that folder exists, else the system's temporary folder) and exit 1."""
    try:
        yield
    except typer.Exit:
        raise
    except DlddError as err:
        _fail(err)
    except (UnicodeDecodeError, OSError) as err:  # an unreadable or non-UTF-8 file, a full disk
        _fail(err)
    except Exception as err:
        import tempfile
        import time
        import traceback

        from rich.text import Text

        own = out / ".dldd" if out is not None else None
        folder = own if own is not None and own.is_dir() and not own.is_symlink() else Path(tempfile.gettempdir())
        log = folder / f"error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        try:
            log.write_text(traceback.format_exc(), encoding="utf-8")
            where = f"traceback in {log}"
        except OSError:
            where = "no log written"
        first = (str(err).splitlines() or [""])[0][:300]
        console.print(Text("error:", style="bold red"),
                      Text(f"unexpected {type(err).__name__}: {first} ({where}); please report it"),
                      markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(code=1) from None


def _check_compute(scheduler: Optional[str], workers: Optional[int]) -> None:
    from dldd.spec import check_scheduler

    if scheduler is not None:
        check_scheduler(scheduler, "--scheduler")
    if workers is not None and workers < 1:
        raise DlddError(f"--workers {workers}: expected a whole number >= 1 (local dask workers)")


def _run(spec, out: Path, scheduler: Optional[str], workers: Optional[int], only=None, resume: bool = True,
         force: bool = False):
    from dldd.pipeline import run_assessment

    if _interactive():
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task("starting", total=len(spec.indicators))

            def progress(name, i, n):
                bar.update(task, description=f"stage {name}", completed=i, total=n)

            ctx = run_assessment(spec, out, scheduler_name=scheduler, workers=workers, progress=progress, only=only,
                                 resume=resume, force=force)
            bar.update(task, completed=bar.tasks[0].total, description="done")
    else:
        def progress(name, i, n):
            console.print(f"[{i + 1}/{n}] stage {name}", markup=False, highlight=False, soft_wrap=True)

        ctx = run_assessment(spec, out, scheduler_name=scheduler, workers=workers, progress=progress, only=only,
                             resume=resume, force=force)
    return ctx


def _report_if_asked(spec, out: Path, lang: Optional[str] = None, force: bool = False) -> Optional[Path]:
    if not spec.outputs.report:
        return None
    from dldd.report import build_report
    from dldd.report.build import default_out_dir

    lang = lang or spec.outputs.language
    return build_report(out, lang=lang, out_dir=default_out_dir(out, lang), force=force)


@app.command()
def run(spec_file: Path = typer.Argument(..., help="the assessment spec (YAML)"),
        out: Path = typer.Option(..., "--out", help="output folder"),
        scheduler: Optional[str] = typer.Option(None, help="threads, processes, synchronous, or a dask scheduler address"),
        workers: Optional[int] = typer.Option(None, help="run on a local dask cluster with this many workers"),
        resume: bool = typer.Option(True, "--resume/--no-resume",
                                    help="reuse the stages a killed run of the same spec finished in OUT"),
        force: bool = typer.Option(False, "--force", help="replace files in OUT that dldd did not write")):
    """Run an assessment: maps, tables, manifest and the report under OUT."""
    from dldd.spec import load_spec

    with _errors(out):
        _check_compute(scheduler, workers)
        spec = load_spec(spec_file)
        _run(spec, out, scheduler, workers, resume=resume, force=force)
        report = _report_if_asked(spec, out, force=force)
    typer.echo(f"tables:   {out / 'tables'}")
    typer.echo(f"maps:     {out / 'maps'}")
    typer.echo(f"manifest: {out / 'manifest.json'}")
    if report:
        typer.echo(f"report:   {report}")


@app.command()
def demo(out: Path = typer.Option(Path("out/demo"), "--out", help="output folder"),
         scene: Optional[str] = typer.Option(None, help="regional or local (default: both)"),
         scheduler: Optional[str] = typer.Option(None, help="dask scheduler (threads by default)"),
         workers: Optional[int] = typer.Option(None, help="local dask cluster workers"),
         force: bool = typer.Option(False, "--force", help="replace files in OUT that dldd did not write")):
    """Run the embedded demo assessments on SYNTHETIC data over real geography (offline)."""
    from dldd.demo.scenes import SCENES, write_scene
    from dldd.spec import load_spec

    scenes = [scene] if scene else list(SCENES)
    for name in scenes:
        if name not in SCENES:
            _fail(DlddError(f"--scene {name!r} is unknown; expected one of {sorted(SCENES)}"))
    with _errors():
        _check_compute(scheduler, workers)
    done = []
    for name in scenes:
        folder = out / name
        console.print(f"demo scene {name!r}: writing synthetic inputs to {folder / 'inputs'}", markup=False,
                      highlight=False)
        with _errors(folder):
            spec_path = write_scene(name, folder)
            spec = load_spec(spec_path)
            _run(spec, folder, scheduler, workers, force=force)
            report = _report_if_asked(spec, folder, force=force)
        done.append((name, folder, report))
    for name, folder, report in done:
        typer.echo(f"[{name}] SYNTHETIC demonstration data")
        typer.echo(f"[{name}] tables: {folder / 'tables'}")
        if report:
            typer.echo(f"[{name}] report: {report}")


@app.command()
def evaluate(spec_file: Path = typer.Argument(..., help="the assessment spec (YAML) with `interventions`"),
             out: Path = typer.Option(..., "--out", help="output folder"),
             force: bool = typer.Option(False, "--force", help="replace files in OUT that dldd did not write")):
    """Evaluate the spec's interventions against matched controls (effect, interval, event study, break)."""
    from dldd.spec import load_spec

    with _errors(out):
        spec = load_spec(spec_file)
        if not spec.interventions:
            raise DlddError(f"{spec_file}: the spec lists no `interventions` to evaluate")
        _run(spec, out, None, None, only=["effectiveness"], force=force)
    typer.echo(f"effectiveness: {out / 'tables' / 'effectiveness_summary.csv'}")
    typer.echo(f"per intervention: {out / 'effectiveness'}")


@app.command()
def report(run_dir: Path = typer.Argument(..., help="a finished run folder (with summary.json and tables/)"),
           lang: list[str] = typer.Option(["en"], "--lang", help="report language: en, zh or all (every "
                                          "language); repeat for several, built in one go"),
           pdf: bool = typer.Option(True, "--pdf/--no-pdf", help="also write report.pdf"),
           force: bool = typer.Option(False, "--force", help="replace files in the report that dldd did not write")):
    """Build the report (HTML site and PDF) of a finished run in one or more languages, in one build:
    RUN_DIR/report (English), RUN_DIR/report-LANG (the others)."""
    from dldd.report import build_reports
    from dldd.report.messages import available_languages

    with _errors(run_dir):
        langs = [x for name in lang for x in (available_languages() if name == "all" else [name])]
        paths = build_reports(run_dir, langs, pdf=pdf, force=force)  # checks every language before anything else
    for path in paths.values():
        typer.echo(f"report: {path}")


@app.command()
def stations(station_file: Path = typer.Argument(..., help="station CSV (columns and units: docs/sources.md)"),
             out: Path = typer.Option(..., "--out", help="output folder (tables/ is written)"),
             spec_file: Optional[Path] = typer.Option(None, "--spec", help="compare with the gridded inputs of this spec"),
             grid: list[str] = typer.Option([], "--grid", help="compare with a cube: VAR=PATH or VAR=PATH#VARIABLE "
                                             "(VAR: precipitation, tmin, tmax, tmean); repeat for each variable"),
             missing_value: Optional[float] = typer.Option(None, "--missing-value", help="number that marks a missing value in the CSV"),
             scale: int = typer.Option(12, help="SPI/SPEI accumulation, months"),
             fit_method: str = typer.Option("pwm", help="SPI gamma fit: pwm, ml or thom"),
             pet_method: str = typer.Option("hargreaves", help="PET: hargreaves (tmin, tmax) or thornthwaite (tmean)"),
             calibration: Optional[str] = typer.Option(None, help="SPI calibration years START-END (default: 1981-2010 "
                                                       "when covered, else every month)"),
             force: bool = typer.Option(False, "--force", help="replace files in OUT that dldd did not write")):
    """SPI and PET at field stations, and gridded inputs against them (bias, RMSE, correlation, SPI class agreement)."""
    from dldd.core import io
    from dldd.sources import stations as st

    def say(msg):
        console.print(f"stations: {msg}", markup=False, highlight=False, soft_wrap=True)

    with _errors(out):
        if spec_file is not None and grid:
            raise DlddError("give either --spec or --grid, not both")
        cubes = [st.parse_grid_option(g) for g in grid]
        if calibration:
            from dldd.sources.fetch import parse_years

            years = parse_years(calibration)
        else:
            years = None
        say(f"reading {station_file}")
        obs = st.read_stations(station_file, missing_value=missing_value)
        if spec_file is not None:
            from dldd.sources import open_input
            from dldd.spec import load_spec

            spec = load_spec(spec_file)
            gridded = st.gridded_inputs(lambda v: open_input(spec, v) if v in spec.inputs else None, obs)
        else:
            from dldd.sources.checks import check_input
            from dldd.sources.local import open_raster

            paths = {var: (path, variable) for var, path, variable in cubes}
            absent = sorted(set(paths) - set(obs.data_vars))
            if absent:
                raise DlddError(f"--grid {absent}: {station_file} has no such variable; it has {sorted(obs.data_vars)}")
            gridded = st.gridded_inputs(lambda v: check_input(open_raster(paths[v][0], variable=paths[v][1], name=v), v,
                                                              paths[v][0]) if v in paths else None, obs)
        tables = st.validation_tables(obs, gridded, scale=scale, method=fit_method, pet_method=pet_method,
                                    calibration=years, progress=say)
        with io.RunFolder(out, force=force, places=("tables",)):
            written = [io.write_csv(io.confined(out, "tables", f"{name}.csv"), df) for name, df in tables.items()]
    for path in written:
        typer.echo(f"table: {path}")
    if (spec_file is not None or grid) and st.COMPARISON_TABLE not in tables:
        typer.echo("no gridded variable matches the stations' variables: no comparison written")


@spec_app.command("check")
def spec_check(spec_file: Path = typer.Argument(..., help="the assessment spec (YAML)")):
    """Validate a spec (fields, indicator parameters, regions) without running it."""
    from dldd.pipeline import build_regions, stage_params
    from dldd.spec import load_spec

    with _errors():
        spec = load_spec(spec_file)
        stages = stage_params(spec)
        regions = build_regions(spec)
        from dldd.sources.preflight import refuse_unusable

        refuse_unusable(spec, fetching=False)  # in the words `dldd run` uses
    typer.echo(f"{spec_file}: valid. {len(regions)} region(s); stages: {', '.join(stages)}")


@regions_app.command("list")
def regions_list(format: str = typer.Option("table", "--format", help="table or csv"),
                 spec_file: Optional[Path] = typer.Option(None, "--spec", help="list the countries as this spec "
                                                          "draws them: its boundary file and merged territories")):
    """List the Belt and Road countries: iso3, name, subregion, area_km2 (geodesic, WGS84)."""
    from dldd.regions import cli_list

    with _errors():
        registry = source = None
        if spec_file is not None:
            from dldd.regions import Registry
            from dldd.regions.boundaries import boundaries_of_spec
            from dldd.spec import load_spec

            spec = load_spec(spec_file)
            boundaries = boundaries_of_spec(spec.regions, spec.resolve)
            registry, source = Registry.default(boundaries=boundaries), boundaries.source
        cli_list(format=format, registry=registry, source=source)


if __name__ == "__main__":
    app()
