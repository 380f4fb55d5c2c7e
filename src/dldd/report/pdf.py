"""The report's PDF: the print page (``templates/print.html``) laid out by Chromium, or by WeasyPrint when
no Chromium is installed.

Chromium (Debian's ``chromium``, driven through Playwright, which the browser tests use too) lays the
regional report out about seven times faster than WeasyPrint (``benchmarks/bench_report.py``,
docs/benchmarks.md). It knows the paged media of ``print.css`` (page size and margins, page numbers in the
margin boxes, breaks) but not WeasyPrint's generated content (``string-set``, ``target-counter``,
``leader``), so for Chromium:

* the running head (the synthetic-data banner) is the banner's text set as the content of the page's
  top margin box;
* the table of contents gets its page numbers in two passes: the first lays the document out with the
  images hidden (same layout: ``visibility`` keeps every box, and nothing is spent on encoding them) and
  reads, from the PDF's named destinations (:mod:`pypdf`), the page each link target landed on; the
  second writes the PDF with these numbers after dotted leaders. The numbers sit in a box of fixed width,
  so they cannot move a line; the written PDF's destinations are checked against them and, should one
  differ, the numbers are set again (at most :data:`MAX_TOC_PASSES` writes);
* the PDF has an outline (bookmarks) of the headings, and is tagged (Chromium makes the outline from the tags).
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

#: Command names of Chromium, tried in order (Debian: chromium).
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
#: Chromium flags for a headless, offline render (no sandbox: the build may run as root in a container).
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-extensions")
#: Environment variable naming the PDF engine (``chromium`` or ``weasyprint``); default: Chromium if installed.
ENGINE_ENV = "DLDD_PDF_ENGINE"
ENGINES = ("chromium", "weasyprint")
#: Layout passes spent at most on the page numbers of the table of contents.
MAX_TOC_PASSES = 3
#: Style of the table of contents for Chromium: the entry, a dotted leader, the page number in a box of fixed
#: width (``{numbers}``: one rule per link target, its number as ``content``).
CHROMIUM_TOC_CSS = """
.print-toc li > a { display: flex; align-items: baseline; }
.print-toc li > a::before { content: ""; order: 1; flex: 1 1 auto; margin: 0 .3em; border-bottom: 1px dotted #888; }
.print-toc li > a::after { content: ""; order: 2; flex: 0 0 2.6em; text-align: right; }
figure.fig img { box-sizing: border-box; }
table.data th, table.data td, table.data cite { overflow-wrap: anywhere; }
"""
_HIDE_IMAGES = "img { visibility: hidden !important; }"


def chromium_executable() -> str | None:
    """Path of an installed Chromium, or None."""
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


def pdf_engine() -> str:
    """The PDF engine of this machine: :data:`ENGINE_ENV` if set, else Chromium when it and Playwright are
    installed (and no asyncio loop runs in this thread), else WeasyPrint."""
    chosen = os.environ.get(ENGINE_ENV, "").strip().lower()
    if chosen:
        if chosen not in ENGINES:
            from dldd.errors import InputError

            raise InputError(f"{ENGINE_ENV}={chosen!r}: expected one of {ENGINES}")
        return chosen
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "weasyprint"
    if _in_event_loop():  # Playwright's synchronous API refuses to run inside asyncio (e.g. a notebook)
        return "weasyprint"
    return "chromium" if chromium_executable() else "weasyprint"


def _in_event_loop() -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def write_pdf(html: str, base: Path, path: Path, engine: str | None = None,
              progress: Callable[[str], None] | None = None) -> Path:
    """Render ``html`` (resources relative to the folder ``base``) to the PDF ``path``, whole or not at all;
    ``progress`` gets a message per pass."""
    from dldd.core import io as dio

    engine = engine or pdf_engine()
    say = progress or (lambda msg: None)
    with dio.atomic_path(path) as tmp:
        if engine == "chromium":
            _chromium_pdf(html, Path(base), Path(tmp), say)
        else:
            say("PDF: laying out the pages (WeasyPrint)")
            _weasyprint_pdf(html, Path(base), Path(tmp))
    return path


def _weasyprint_pdf(html: str, base: Path, out: Path) -> None:
    from weasyprint import HTML

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    HTML(string=html, base_url=str(base) + "/").write_pdf(out)


def css_string(text: str) -> str:
    """``text`` as a CSS string literal (quotes, backslashes, line breaks and ``<`` escaped)."""
    out = []
    for ch in " ".join(str(text).split()):
        out.append(f"\\{ord(ch):x} " if ch in '"\\<>' else ch)
    return '"' + "".join(out) + '"'


def toc_css(pages: dict[str, int]) -> str:
    """One rule per table-of-contents link: its target's page number after the leader."""
    return "\n".join(f'.print-toc a[href={css_string("#" + k)}]::after {{ content: "{v}"; }}'
                     for k, v in sorted(pages.items()))


def destination_pages(pdf: bytes) -> dict[str, int]:
    """Named destination (an element id Chromium linked to) -> 1-based page number, read with pypdf."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    return {str(name).lstrip("/"): reader.get_destination_page_number(d) + 1
            for name, d in reader.named_destinations.items()}


def _chromium_pdf(html: str, base: Path, out: Path, say: Callable[[str], None] = lambda msg: None) -> None:
    """Lay ``html`` out in headless Chromium and print it to ``out`` (see the module's docstring)."""
    from playwright.sync_api import sync_playwright

    exe = chromium_executable()
    if exe is None:
        raise RuntimeError("Chromium is not installed (apt-get install -y chromium); "
                           f"set {ENGINE_ENV}=weasyprint to use WeasyPrint")
    fd, name = tempfile.mkstemp(prefix=".print.", suffix=".html", dir=base)  # beside the figures it links to
    page_file = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(html)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=exe, args=list(CHROMIUM_ARGS))
            try:
                page = browser.new_page()
                page.goto(page_file.as_uri(), wait_until="load")
                banner = page.evaluate("() => { const b = document.querySelector('.synthetic-banner');"
                                       " return b ? b.textContent : ''; }")
                css = CHROMIUM_TOC_CSS
                if banner:
                    css += f"@page {{ @top-center {{ content: {css_string(banner)}; }} }}\n@page cover {{ @top-center {{ content: none; }} }}\n"
                page.add_style_tag(content=css)
                # the outline (bookmarks, as WeasyPrint wrote them) needs a tagged PDF in Chromium
                options = dict(prefer_css_page_size=True, print_background=True, outline=True, tagged=True)
                has_toc = page.evaluate("() => document.querySelectorAll('.print-toc a[href^=\"#\"]').length") > 0
                if not has_toc:
                    say("PDF: laying out the pages (Chromium)")
                    out.write_bytes(page.pdf(**options))
                    return
                say("PDF: laying out the pages (Chromium) to number the contents")
                hide = page.add_style_tag(content=_HIDE_IMAGES)
                numbers = destination_pages(page.pdf(**{**options, "outline": False, "tagged": False}))
                say("PDF: contents numbered; writing it with the figures")
                hide.evaluate("el => el.remove()")
                toc = page.add_style_tag(content=toc_css(numbers))
                for _ in range(MAX_TOC_PASSES):
                    pdf = page.pdf(**options)
                    found = destination_pages(pdf)
                    if found == numbers:
                        break
                    numbers = found
                    say("PDF: the contents moved a target; writing it again")
                    toc.evaluate("(el, css) => { el.textContent = css; }", toc_css(numbers))
                out.write_bytes(pdf)
            finally:
                browser.close()
    finally:
        page_file.unlink(missing_ok=True)

