"""Several report languages in one build (dldd.report.build_reports, `dldd report --lang en --lang zh`):
the same pages as one build per language, the run folder held once, all languages swapped in or none,
languages checked before anything is read or written. Sites only (no PDF): the PDF is tests/test_report.py's."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dldd.core import io
from dldd.demo.scenes import write_scene
from dldd.errors import InputError
from dldd.pipeline import run_assessment
from dldd.report import build, build_report, build_reports
from dldd.spec import load_spec

#: A small piece of the regional demo scene: two Central Asian countries at 1 degree, two indicators.
SCENE = dict(res=1.0, climate_res=1.0, extent=(66.0, 37.0, 75.0, 43.0), regions=["Uzbekistan", "Tajikistan"],
             indicators={"aridity": {}, "land_cover": {}})
#: The build's date on the pages (differs between builds a minute apart).
BUILD_DATE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC")


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("languages_run")
    run_assessment(load_spec(write_scene("regional", folder, **SCENE)), folder)
    return folder


@pytest.fixture
def run(small_run, tmp_path) -> Path:
    """A copy of the small run of its own (no report yet)."""
    folder = tmp_path / "run"
    shutil.copytree(small_run, folder, ignore=shutil.ignore_patterns("report*", "lock"))
    return folder


def digests(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file of ``folder`` outside ``.dldd``."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and ".dldd" not in p.relative_to(folder).parts}


def site(report: Path) -> dict[str, str]:
    """Relative path -> text of every page and CSV of a report (the build date left out); figures by name."""
    out = {}
    for p in sorted(report.rglob("*")):
        if p.suffix in (".html", ".csv", ".css"):
            out[str(p.relative_to(report))] = BUILD_DATE.sub("DATE", p.read_text(encoding="utf-8"))
        elif p.is_file():
            out[str(p.relative_to(report))] = "file"
    return out


def test_one_build_of_two_languages_equals_a_build_of_each(run):
    steps = []
    paths = build_reports(run, ["en", "zh"], pdf=False, progress=steps.append)
    assert paths == {"en": run / "report" / "index.html", "zh": run / "report-zh" / "index.html"}  # default folders
    sep = {"en": build_report(run, "en", out_dir=run / "sep-en", pdf=False, progress=lambda m: None),
           "zh": build_report(run, "zh", out_dir=run / "sep-zh", pdf=False, progress=lambda m: None)}
    for lang in ("en", "zh"):
        one, alone = site(paths[lang].parent), site(sep[lang].parent)
        assert sorted(one) == sorted(alone), lang
        assert len([k for k in one if k.endswith(".html")]) >= 3 and any(k.startswith("figures/") for k in one)
        for name in one:
            assert one[name] == alone[name], f"{lang}: {name} differs between one build and its own build"
    zh_index = (paths["zh"]).read_text(encoding="utf-8")
    assert 'lang="zh' in zh_index and "乌兹别克斯坦" in zh_index
    # progress: the steps of both languages once, a language's own steps tagged with it
    assert steps[0] == "reading the run" and steps[-1] == "done"
    assert "en: composing the pages" in steps and "zh: composing the pages" in steps and "zh: writing the site" in steps
    assert len([s for s in steps if re.fullmatch(r"drawing \d+ figures.*", s)]) == 1  # one pass for both languages
    # the QGIS project and README written once, with English labels
    assert (run / "README.md").is_file() and (run / "maps.qgs").is_file()


def test_folder_is_held_once_for_all_languages_and_refuses_a_second_build(run, monkeypatch):
    entered, probes = [], []
    enter = io.RunFolder.__enter__

    def counted(self):
        held = enter(self)
        entered.append(held is self)  # True: this holder took the lock (not re-entered)
        return held

    compose = build._Builder.pages

    def probing(self):
        if self.lang == "zh":  # the English pages are composed: is the folder still held?
            fd = os.open(run / ".dldd" / "lock", os.O_RDWR)
            try:
                with pytest.raises(BlockingIOError):
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            finally:
                os.close(fd)
            second = subprocess.run([sys.executable, "-c", "import sys; from dldd.cli import app; app()", "report",
                                     str(run), "--lang", "en", "--no-pdf"], capture_output=True, text=True,
                                    env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
            probes.append(second)
        return compose(self)

    monkeypatch.setattr(io.RunFolder, "__enter__", counted)
    monkeypatch.setattr(build._Builder, "pages", probing)
    build_reports(run, ["en", "zh"], pdf=False, progress=lambda m: None)
    assert entered == [True]  # one lock for both languages
    (second,) = probes
    assert second.returncode != 0 and "in use by another dldd run" in second.stderr + second.stdout, second.stderr
    assert (run / "report" / "index.html").is_file() and (run / "report-zh" / "index.html").is_file()


def test_a_failed_language_leaves_every_earlier_report_untouched(run, monkeypatch):
    build_reports(run, ["en", "zh"], pdf=False, progress=lambda m: None)
    (run / "report" / "index.html").write_text("an earlier English report", encoding="utf-8")  # as if older
    before = digests(run)
    compose = build._Builder.pages

    def zh_fails(self):
        if self.lang == "zh":
            raise RuntimeError("the Chinese pages failed")
        return compose(self)

    monkeypatch.setattr(build._Builder, "pages", zh_fails)
    with pytest.raises(RuntimeError, match="Chinese pages failed"):
        build_reports(run, ["en", "zh"], pdf=False, force=True, progress=lambda m: None)
    assert digests(run) == before  # the English report, built first, was not swapped in either
    assert not [p for p in run.rglob("*") if p.name.endswith((".part", ".tmp"))]
    monkeypatch.undo()
    build_reports(run, ["en", "zh"], pdf=False, force=True, progress=lambda m: None)
    assert (run / "report" / "index.html").read_text(encoding="utf-8") != "an earlier English report"


def test_unknown_language_or_shared_folder_is_refused_before_anything_is_read(run, monkeypatch):
    before = digests(run)

    def no_reading(*args, **kwargs):
        raise AssertionError("the run was read")

    monkeypatch.setattr(build.rd, "load_run", no_reading)
    with pytest.raises(InputError, match="'xx'"):
        build_reports(run, ["en", "xx"], pdf=False)
    with pytest.raises(InputError, match="share the folder"):
        build_reports(run, ["en", "zh"], out_dirs={"zh": run / "report"}, pdf=False)
    with pytest.raises(InputError, match="share the folder"):
        build_reports(run, ["en", "zh"], out_dirs={"zh": run / "report" / "zh"}, pdf=False)
    with pytest.raises(InputError, match="no report language"):
        build_reports(run, [], pdf=False)
    from dldd.cli import app

    result = CliRunner().invoke(app, ["report", str(run), "--lang", "en", "--lang", "xx", "--no-pdf"])
    assert result.exit_code == 2 and "'xx'" in result.output, result.output
    assert digests(run) == before and not (run / "report").exists()


def test_an_out_dir_that_is_a_link_is_refused(run, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "index.html").write_text("theirs")
    (run / "report-zh").symlink_to(elsewhere)
    with pytest.raises(InputError, match="symbolic link"):
        build_reports(run, ["en", "zh"], pdf=False, progress=lambda m: None)
    with pytest.raises(InputError, match="symbolic link"):
        build_report(run, "zh", out_dir=run / "report-zh", pdf=False, progress=lambda m: None)
    assert [p.name for p in elsewhere.iterdir()] == ["index.html"] and (elsewhere / "index.html").read_text() == "theirs"
    assert not (run / "report").exists()


def test_cli_builds_several_languages_in_one_call(run, monkeypatch):
    from dldd import report
    from dldd.cli import app

    result = CliRunner().invoke(app, ["report", str(run), "--lang", "en", "--lang", "zh", "--no-pdf"])
    assert result.exit_code == 0, result.output
    lines = [x for x in result.output.splitlines() if x.startswith("report: ")]
    assert lines == [f"report: {run / 'report' / 'index.html'}", f"report: {run / 'report-zh' / 'index.html'}"]
    assert (run / "report-zh" / "index.html").is_file()
    calls = []
    monkeypatch.setattr(report, "build_reports", lambda run_dir, langs, **kw: calls.append(langs) or {
        lang: Path(run_dir) / lang / "index.html" for lang in langs})
    result = CliRunner().invoke(app, ["report", str(run), "--lang", "all", "--no-pdf"])
    assert result.exit_code == 0, result.output
    from dldd.report.messages import available_languages

    assert calls == [available_languages()] and {"en", "zh"} <= set(calls[0])
    assert result.output.count("report: ") == len(available_languages())


def test_pdfs_are_printed_at_the_same_time_and_an_error_in_one_is_raised(tmp_path, monkeypatch):
    import threading

    from dldd.report import pdf

    both_running = threading.Barrier(2, timeout=20)  # broken unless the two PDFs are printed at the same time
    written = []

    def fake_pdf(html, base, path, progress=None, engine=None):
        assert engine == "chromium"
        both_running.wait()
        if "zh" in html:
            raise RuntimeError("Chromium failed on the Chinese PDF")
        path.write_bytes(b"%PDF")
        written.append(path)
        return path

    monkeypatch.setattr(pdf, "pdf_engine", lambda: "chromium")
    monkeypatch.setattr(build, "write_pdf", fake_pdf)
    steps = []
    prints = {lang: (f"<p>{lang}</p>", tmp_path / lang) for lang in ("en", "zh")}
    for _, folder in prints.values():
        folder.mkdir()
    with pytest.raises(RuntimeError, match="Chinese PDF"):
        build.write_pdfs(prints, lambda msg, lang=None: steps.append((lang, msg)))
    assert written == [tmp_path / "en" / "report.pdf"]  # the other language ran to its end
    assert sorted(steps) == [("en", "writing the PDF"), ("zh", "writing the PDF")]
    # WeasyPrint: in turn, in this thread
    monkeypatch.setattr(pdf, "pdf_engine", lambda: "weasyprint")
    order = []
    monkeypatch.setattr(build, "write_pdf", lambda html, base, path, progress=None, engine=None: order.append(
        (engine, threading.current_thread() is threading.main_thread())))
    build.write_pdfs(prints, lambda msg, lang=None: None)
    assert order == [("weasyprint", True), ("weasyprint", True)]
