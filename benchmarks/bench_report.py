"""Build time of the regional report (site + PDF, English and Chinese): this working tree against a
reference version (default: the ``main`` branch), in the same run on the same machine.

The reference's ``src/`` is exported with ``git archive`` into a temporary folder (the repository is not
touched); each build runs in its own process with that source first on ``PYTHONPATH``, writing into a
temporary folder (``out_dir``), so both versions read the same run folder.

    python benchmarks/bench_report.py --run out/demo/regional            # a finished regional run
    python benchmarks/bench_report.py --run out/demo/regional --ref HEAD~3 --langs en

Without ``--run`` the regional demo scene is computed first into a temporary folder (about 4 minutes).
Prints one line per build (seconds, PDF pages, figures) and the ratio; results go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD = """
import sys
from dldd.report import build_report
build_report(sys.argv[1], sys.argv[2], out_dir=sys.argv[3])
"""
DEMO = """
import sys
from pathlib import Path
from dldd.demo.scenes import write_scene
from dldd.pipeline import run_assessment
from dldd.spec import load_spec
run_assessment(load_spec(write_scene("regional", Path(sys.argv[1]))), Path(sys.argv[1]))
"""


def export_source(ref: str, dest: Path) -> Path:
    """``src/`` of git revision ``ref`` written under ``dest`` (git archive | tar); returns dest/src."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "src"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "src"


def pdf_pages(pdf: Path) -> str:
    try:
        out = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return next((line.split()[-1] for line in out.splitlines() if line.startswith("Pages:")), "?")


def timed_build(src: Path, run: Path, lang: str, out: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(src))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", BUILD, str(run), lang, str(out)], check=True, env=env,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, help="a finished regional run folder (default: compute the demo scene)")
    ap.add_argument("--ref", default="main", help="git revision of the reference version (default: main)")
    ap.add_argument("--langs", nargs="+", default=["en", "zh"])
    ap.add_argument("--skip-ref", action="store_true", help="time only this working tree")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_report_") as tmp:
        tmp = Path(tmp)
        run = args.run
        if run is None:
            run = tmp / "regional"
            print("computing the regional demo scene (synthetic data) ...", flush=True)
            subprocess.run([sys.executable, "-c", DEMO, str(run)], check=True,
                           env=dict(os.environ, PYTHONPATH=str(REPO / "src")), stderr=subprocess.DEVNULL)
        versions = [("this tree", REPO / "src")]
        if not args.skip_ref:
            (tmp / "ref").mkdir()
            versions.append((f"ref {args.ref}", export_source(args.ref, tmp / "ref")))
        totals = {}
        print(f"{'version':<14} {'lang':<5} {'seconds':>8} {'PDF pages':>10} {'figures':>8}")
        for label, src in versions:
            totals[label] = 0.0
            for lang in args.langs:
                out = tmp / f"{label.replace(' ', '_')}_{lang}"
                s = timed_build(src, run, lang, out)
                totals[label] += s
                n_fig = len(list((out / "figures").glob("*.png")))
                print(f"{label:<14} {lang:<5} {s:8.1f} {pdf_pages(out / 'report.pdf'):>10} {n_fig:>8}", flush=True)
        for label, s in totals.items():
            print(f"{label:<14} total {s:8.1f} s ({'+'.join(args.langs)}, site + PDF, {os.cpu_count()} cores)")
        if len(totals) == 2:
            new, ref = totals.values()
            print(f"this tree takes {new / ref:.2f} x the time of {args.ref}")


if __name__ == "__main__":
    main()
