"""Build time of the regional report (site + PDF, English and Chinese): this working tree against a
reference version (default: the ``main`` branch), in the same run on the same machine.

The reference's ``src/`` is exported with ``git archive`` into a temporary folder (the repository is not
touched); each build runs in its own process with that source first on ``PYTHONPATH``, writing into a
temporary folder (``out_dir``), so both versions read the same run folder.

    python benchmarks/bench_report.py --run out/demo/regional            # a finished regional run
    python benchmarks/bench_report.py --run out/demo/regional --ref HEAD~3 --langs en
    python benchmarks/bench_report.py --run out/demo/regional --one-build  # all languages in one build

``--one-build``: each version builds all ``--langs`` in one process with ``build_reports`` (one run read,
one figure pass, the PDFs printed at the same time); a version without ``build_reports`` builds its
languages in turn, one process each, as without the option.

Without ``--run`` the regional demo scene is computed first into a temporary folder (about 4 minutes).
Prints one line per build: wall seconds, CPU seconds (user + system of the build's process tree: figure
processes and Chromium included, sampled from /proc), the wall time that CPU time implies on an idle machine
(figure steps spread over the cores, the other steps on one), PDF pages and figures; then the totals and
the ratios. On a machine shared with other work the wall times vary with the load; the CPU times do not.
Results go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD = """
import sys
from dldd.report import build_report
build_report(sys.argv[1], sys.argv[2], out_dir=sys.argv[3])
"""
BUILD_ALL = """
import sys
from pathlib import Path
from dldd.report import build_reports
langs = sys.argv[2].split(",")
build_reports(sys.argv[1], langs, out_dirs={lang: Path(sys.argv[3] + "_" + lang) for lang in langs})
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


def _proc_table() -> dict[int, tuple[int, int, float]]:
    """pid -> (parent pid, start time in ticks, own CPU seconds: user + system) of every process."""
    tck = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        f = stat[stat.rindex(")") + 2:].split()
        out[int(pid)] = (int(f[1]), int(f[19]), (int(f[11]) + int(f[12])) / tck)
    return out


class TreeCPU:
    """CPU time of a process and all its descendants (figure processes, Chromium's browser, renderer and GPU
    processes: not all of them are reaped by their parents, so ``getrusage(RUSAGE_CHILDREN)`` misses some),
    sampled from /proc every ``interval`` seconds; a process's last ``interval`` before it ends is not seen."""

    def __init__(self, root: int, interval: float = 0.2):
        self.root, self.interval, self.seen, self.samples = root, interval, {}, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.t0 = time.perf_counter()
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            table = _proc_table()
            tree, stack = {self.root}, [self.root]
            children = {}
            for pid, (ppid, _, _) in table.items():
                children.setdefault(ppid, []).append(pid)
            while stack:
                for c in children.get(stack.pop(), []):
                    if c not in tree:
                        tree.add(c)
                        stack.append(c)
            for pid in tree:
                if pid in table:
                    self.seen[(pid, table[pid][1])] = table[pid][2]
            self.samples.append((time.perf_counter() - self.t0, sum(self.seen.values())))
            self._stop.wait(self.interval)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return sum(self.seen.values())

    def at(self, t: float) -> float:
        """CPU seconds used by the tree up to ``t`` seconds after the start (last sample before it)."""
        return max((c for s, c in self.samples if s <= t), default=0.0)


#: Steps of a build whose work is spread over the machine's cores (the figure processes).
PARALLEL_STEP = re.compile(r"^(drawing \d+ figures.*|figures \d+/\d+)$")
#: Steps that run at the same time for each language of a build of several (one Chromium per PDF).
PARALLEL_PDF_STEP = re.compile(r"^(writing the PDF|PDF: .*)$")
STEP_LINE = re.compile(r"^report \(([\w, ]+)\)\s+([\d.]+) s: (.*)$")


def idle_wall(steps: list[tuple[float, str]], cpu: TreeCPU, cores: int, pdfs: int = 1) -> float:
    """Wall time the build would take on an idle machine of ``cores`` cores: each step's CPU time, divided by
    the cores for the figure steps (parallel processes), by min(cores, ``pdfs``) for the PDF steps (one
    Chromium per language at the same time) and taken whole for the others (one process at a time).
    ``steps``: (seconds after the start, message, language(s)) of the build's progress lines."""
    bounds = [0.0] + [t for t, *_ in steps] + [float("inf")]
    kinds = ["start"] + [m for _, m, *_ in steps]
    total = 0.0
    for (a, b), kind in zip(zip(bounds, bounds[1:]), kinds):
        used = (cpu.at(b) if b != float("inf") else sum(cpu.seen.values())) - cpu.at(a)
        total += used / (cores if PARALLEL_STEP.match(kind) else min(cores, pdfs) if PARALLEL_PDF_STEP.match(kind) else 1)
    return total


def timed_build(src: Path, run: Path, lang: str, out: Path) -> tuple[float, float, float, list]:
    """Build one report in its own process: (wall seconds, CPU seconds of the process tree, wall seconds
    implied on an idle machine, progress lines). ``lang``: one language, or several joined by commas, built
    by one ``build_reports`` call into ``OUT_LANG`` each."""
    env = dict(os.environ, PYTHONPATH=str(src))
    t0 = time.perf_counter()
    script = BUILD_ALL if "," in lang else BUILD
    proc = subprocess.Popen([sys.executable, "-c", script, str(run), lang, str(out)], env=env,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    cpu = TreeCPU(proc.pid)
    lines, other = [], []
    for line in proc.stderr:
        m = STEP_LINE.match(line.strip())
        if m:  # the build's own clock starts after its imports: place its lines on ours
            lines.append((time.perf_counter() - t0, m.group(3), m.group(1)))
        else:
            other.append(line)
    if proc.wait():
        raise RuntimeError(f"report build ({src}, {lang}) failed:\n" + "".join(other[-30:]))
    wall = time.perf_counter() - t0
    used = cpu.stop()
    return wall, used, idle_wall(lines, cpu, os.cpu_count() or 1, pdfs=lang.count(",") + 1), lines


def has_build_reports(src: Path) -> bool:
    """Whether the source tree ``src`` builds several languages in one call (``build_reports``)."""
    return "def build_reports(" in (src / "dldd" / "report" / "build.py").read_text(encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, help="a finished regional run folder (default: compute the demo scene)")
    ap.add_argument("--ref", default="main", help="git revision of the reference version (default: main)")
    ap.add_argument("--langs", nargs="+", default=["en", "zh"])
    ap.add_argument("--skip-ref", action="store_true", help="time only this working tree")
    ap.add_argument("--steps", action="store_true", help="also print each build's progress lines")
    ap.add_argument("--src", type=Path, default=REPO / "src",
                    help="the source tree timed as 'this tree' (default: this repository's src; e.g. a copy with a "
                         "module of another branch laid over it)")
    ap.add_argument("--one-build", action="store_true",
                    help="build all --langs in one process (build_reports) where the version has it")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_report_") as tmp:
        tmp = Path(tmp)
        run = args.run
        if run is None:
            run = tmp / "regional"
            print("computing the regional demo scene (synthetic data) ...", flush=True)
            subprocess.run([sys.executable, "-c", DEMO, str(run)], check=True,
                           env=dict(os.environ, PYTHONPATH=str(REPO / "src")), stderr=subprocess.DEVNULL)
        versions = [("this tree", args.src.resolve())]
        if not args.skip_ref:
            (tmp / "ref").mkdir()
            versions.append((f"ref {args.ref}", export_source(args.ref, tmp / "ref")))
        totals, how = {}, {}
        load0 = os.getloadavg()
        print(f"load average at the start: {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}; {os.cpu_count()} cores")
        print(f"{'version':<14} {'lang':<5} {'wall s':>8} {'CPU s':>8} {'idle s':>8} {'PDF pages':>10} {'figures':>8}")
        for label, src in versions:
            totals[label] = [0.0, 0.0, 0.0]
            one_build = args.one_build and len(args.langs) > 1 and has_build_reports(src)
            how[label] = "one build" if one_build else "one build per language"
            base = tmp / label.replace(" ", "_")
            for lang in [",".join(args.langs)] if one_build else args.langs:
                wall, used, idle, lines = timed_build(src, run, lang, base if one_build else Path(f"{base}_{lang}"))
                for i, v in enumerate((wall, used, idle)):
                    totals[label][i] += v
                outs = [Path(f"{base}_{x}") for x in lang.split(",")]  # the report folder of each language
                n_fig = sum(len(list((o / "figures").glob("*.png"))) for o in outs)
                pages = "+".join(pdf_pages(o / "report.pdf") for o in outs)
                print(f"{label:<14} {lang.replace(',', '+'):<5} {wall:8.1f} {used:8.1f} {idle:8.1f} {pages:>10} "
                      f"{n_fig:>8}", flush=True)
                if args.steps:
                    for t, msg, tag in lines:
                        print(f"{'':20}{t:8.1f} s  ({tag}) {msg}")
        for label, (wall, used, idle) in totals.items():
            print(f"{label:<14} total {wall:8.1f} s wall, {used:8.1f} s CPU, {idle:8.1f} s on an idle machine "
                  f"({'+'.join(args.langs)}, site + PDF, {how[label]})")
        if len(totals) == 2:
            (new, ref) = totals.values()
            print(f"this tree takes {new[0] / ref[0]:.2f} x the wall time, {new[1] / ref[1]:.2f} x the CPU time of "
                  f"{args.ref}")
        load1 = os.getloadavg()
        print(f"load average at the end: {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")

if __name__ == "__main__":
    main()
