"""The report's PDF writer (dldd.report.pdf): Chromium's table of contents carries the pages its entries land
on, the running head and page numbers are on every page, nothing is left beside the report; WeasyPrint when
asked. Needs Debian's chromium and poppler-utils (pdftotext), as tests/test_report.py does."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dldd.errors import InputError
from dldd.report.build import ASSETS_DIR
from dldd.report.pdf import css_string, pdf_engine, toc_css, write_pdf

BANNER = 'Synthetic "demo" <data>'


def page_texts(pdf: Path) -> list[str]:
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, timeout=60)
    return out.stdout.decode("utf-8").split("\f")[:-1]


def print_page(tmp_path: Path, n_chapters: int = 4) -> str:
    """A print page as templates/print.html writes it: cover, table of contents, chapters of unequal length."""
    (tmp_path / "assets").mkdir()
    for f in ("report.css", "print.css"):
        shutil.copyfile(ASSETS_DIR / f, tmp_path / "assets" / f)
    toc = "".join(f'<li><a href="#ch{i}">Chapter {chr(65 + i)}</a></li>' for i in range(n_chapters))
    chapters = "".join(
        f'<section id="ch{i}" class="chapter"><h2>Chapter {chr(65 + i)}</h2>'
        + "".join(f"<p>Paragraph {i}.{k} of some length to fill the page with text.</p>" for k in range(40 * i + 5))
        + "</section>" for i in range(n_chapters))
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>t</title>'
            '<link rel="stylesheet" href="assets/report.css"><link rel="stylesheet" href="assets/print.css"></head>'
            f'<body class="print"><section class="cover"><div class="synthetic-banner">{BANNER.replace("<", "&lt;").replace(">", "&gt;")}'
            f'</div><h1>Title</h1></section><nav class="toc print-toc"><h2>Contents</h2><ol>{toc}</ol></nav>'
            f"{chapters}</body></html>")


def test_css_string_escapes_what_could_end_it():
    assert css_string('a "b" \\ c') == '"a \\22 b\\22  \\5c  c"'
    assert "<" not in css_string("</style><script>") and css_string("x\n  y") == '"x y"'
    assert toc_css({"r-CHN": 12}) == '.print-toc a[href="#r-CHN"]::after { content: "12"; }'


def test_unknown_engine_is_refused(monkeypatch):
    monkeypatch.setenv("DLDD_PDF_ENGINE", "latex")
    with pytest.raises(InputError, match="DLDD_PDF_ENGINE"):
        pdf_engine()


def test_engine_inside_an_event_loop_is_weasyprint(monkeypatch):
    import asyncio

    monkeypatch.delenv("DLDD_PDF_ENGINE", raising=False)

    async def inside():
        return pdf_engine()

    assert asyncio.run(inside()) == "weasyprint"
    assert pdf_engine() == "chromium"  # Chromium and Playwright are installed for these tests


def test_chromium_pdf_has_contents_page_numbers_and_running_head(tmp_path):
    assert shutil.which("chromium"), "Chromium is not installed: apt-get install -y chromium"
    html = print_page(tmp_path)
    steps = []
    pdf = write_pdf(html, tmp_path, tmp_path / "report.pdf", engine="chromium", progress=steps.append)
    assert steps[0].startswith("PDF: laying out") and steps[-1].startswith("PDF: contents numbered")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["assets", "report.pdf"]  # the print page is gone
    pages = page_texts(pdf)
    assert len(pages) > 6
    starts = {}
    for i, text in enumerate(pages, 1):
        for m in re.finditer(r"^\s*Chapter ([A-Z])\s*$", text, re.M):
            starts.setdefault(m.group(1), i)
        if i > 1:  # every page but the cover: the banner on top, its number at the foot
            lines = [x.strip() for x in text.strip().splitlines() if x.strip()]
            assert lines[0] == BANNER and lines[-1] == str(i), (i, lines[:1], lines[-1:])
    toc = {m.group(1): int(m.group(2)) for m in re.finditer(r"Chapter ([A-Z])\W*?(\d+)\s*$", pages[1], re.M)}
    assert toc == starts and len(toc) == 4 and len(set(toc.values())) == 4, (toc, starts)
    from pypdf import PdfReader

    def titles(outline):
        return [t for o in outline for t in (titles(o) if isinstance(o, list) else [o["/Title"]])]

    assert {f"Chapter {c}" for c in "ABCD"} <= set(titles(PdfReader(pdf).outline))  # bookmarks of the headings


def test_weasyprint_on_request(tmp_path, monkeypatch):
    monkeypatch.setenv("DLDD_PDF_ENGINE", "weasyprint")
    pdf = write_pdf(print_page(tmp_path, 2), tmp_path, tmp_path / "report.pdf")
    pages = page_texts(pdf)
    assert any("Chapter B" in p for p in pages) and BANNER in pages[1]
