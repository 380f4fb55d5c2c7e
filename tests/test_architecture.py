"""The layers hold: no stage module imports another stage, the report imports no indicator, nothing in src is
imported by name at run time, and the run context does not reach up to the stage registry (read from the
source with :mod:`ast`, so a lazy import inside a function counts too)."""

from __future__ import annotations

import ast
from pathlib import Path

import dldd

SRC = Path(dldd.__file__).resolve().parent
STAGES_DIR = SRC / "pipeline" / "stages"


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in the file (``from a import b`` gives ``a`` and ``a.b``)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def stage_modules() -> dict[str, Path]:
    return {p.stem: p for p in STAGES_DIR.glob("*.py") if p.stem not in ("__init__", "base")}


def test_no_stage_module_imports_another_stage():
    modules = stage_modules()
    assert {"aridity", "drought", "sensitivity", "sand", "land_cover", "sdg"} <= set(modules)
    for name, path in modules.items():
        others = {f"dldd.pipeline.stages.{m}" for m in modules if m != name} | {"dldd.pipeline.registry"}
        bad = imported_modules(path) & others
        assert not bad, f"stage module {name}.py imports {sorted(bad)}: shared helpers go to dldd.pipeline.inputs"


def test_the_check_sees_a_stage_importing_another(tmp_path):
    """The AST check above can fail: a module that imports a stage lazily, inside a function, is caught."""
    path = tmp_path / "mod.py"
    path.write_text("def f(ctx):\n    from dldd.pipeline.stages.aridity import run_aridity\n    return run_aridity\n")
    assert "dldd.pipeline.stages.aridity" in imported_modules(path)


def test_stage_modules_are_named_after_their_stages():
    from dldd.pipeline.registry import STAGES

    for name, stage in STAGES.items():
        module = stage.run.__module__.rsplit(".", 1)[1]
        assert stage.run.__module__.startswith("dldd.pipeline.stages.") and name.startswith(module), (name, module)
    by_module: dict[str, list[str]] = {}
    for name, stage in STAGES.items():
        by_module.setdefault(stage.run.__module__, []).append(name)
    assert all(len(v) == 1 for v in by_module.values()), by_module  # one stage per module


def test_report_imports_no_indicator():
    for path in (SRC / "report").rglob("*.py"):
        bad = {m for m in imported_modules(path) if m == "dldd.indicators" or m.startswith("dldd.indicators.")}
        assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}: the report reads the run's outputs"


def test_nothing_in_src_is_imported_by_name_at_run_time():
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
                assert name not in ("import_module", "__import__"), f"{path.relative_to(SRC)}:{node.lineno}"
            if isinstance(node, ast.ImportFrom) and node.module == "importlib":
                assert "import_module" not in {a.name for a in node.names}, f"{path.relative_to(SRC)}:{node.lineno}"


def test_run_context_does_not_import_the_stage_registry():
    assert "dldd.pipeline.registry" not in imported_modules(SRC / "pipeline" / "context.py")


def test_arrows_point_down_from_core_and_indicators():
    """DESIGN's layers: core imports no layer above it; indicators import neither the statistics, the pipeline
    nor the report (a primitive both need, such as the per-unit quantile, lives in core)."""
    above = {"core": ("dldd.indicators", "dldd.stats", "dldd.pipeline", "dldd.report", "dldd.practices",
                      "dldd.effectiveness", "dldd.sources", "dldd.regions", "dldd.cli"),
             "indicators": ("dldd.stats", "dldd.pipeline", "dldd.report", "dldd.cli")}
    for layer, higher in above.items():
        files = list((SRC / layer).rglob("*.py"))
        assert files, layer
        for path in files:
            bad = sorted(m for m in imported_modules(path) if m.startswith(higher))
            assert not bad, f"{path.relative_to(SRC)} imports {bad}: arrows point down only (DESIGN.md)"
