"""docs/architecture.md's table, held against the code: which package may import which."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from pipelines.config import PROJECT_ROOT

GROUND = {"config", "errors"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "config": {"errors"},
    "schema": set(),
    "kafka_security": set(),
    "kafka_io": {"kafka_security"},
    "maven": set(),
    "signals": set(),
    "broker": {"kafka_io", "kafka_security", "maven"},
    "spark": {"schema", "maven"},
    "data": {"schema"},
    "live": {"schema", "kafka_io"},
    "replay": {"schema", "data", "kafka_io", "signals"},
    "agent": {"schema", "kafka_io", "replay"},
    "training": {"schema", "data", "spark"},
    "detector": {"schema", "data", "spark", "kafka_io", "kafka_security", "live", "signals"},
}
"""Package → the packages of ours it may import besides the ground (docs/architecture.md).
bench/, demo/ and cli.py sit on top and may import what lies below them."""
TOP = {"bench", "demo", "cli"}
NO_SPARK = {
    "schema", "kafka_security", "kafka_io", "maven", "signals", "broker", "data", "live",
    "replay", "agent", "bench", "demo", "cli",
}  # fmt: skip
"""Everything but spark/, detector/ and training/ stays free of pyspark."""


def _imports() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Package → our packages it imports; package → third-party top-level modules."""
    root = PROJECT_ROOT / "pipelines"
    ours: dict[str, set[str]] = defaultdict(set)
    theirs: dict[str, set[str]] = defaultdict(set)
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).parts
        package = parts[0].removesuffix(".py")
        if package == "__init__":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [node.module]
                if node.module == "pipelines":
                    modules = [f"pipelines.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            else:
                continue
            for module in modules:
                if module.startswith("pipelines."):
                    target = module.split(".")[1]
                    if target != package:
                        ours[package].add(target)
                else:
                    theirs[package].add(module.split(".")[0])
    return ours, theirs


def test_every_package_imports_only_what_the_architecture_allows() -> None:
    ours, _ = _imports()
    assert set(ours) <= set(ALLOWED) | TOP, f"a package the table does not know: {set(ours)}"
    wrong = {
        package: sorted(targets - ALLOWED[package] - GROUND)
        for package, targets in ours.items()
        if package in ALLOWED and targets - ALLOWED[package] - GROUND
    }
    assert not wrong, f"imports docs/architecture.md does not allow: {wrong}"
    for top in TOP - {"cli"}:
        assert "cli" not in ours.get(top, set()) and not (ours.get(top, set()) & (TOP - {top}))


def test_only_the_spark_side_imports_pyspark_and_no_one_imports_the_screen() -> None:
    _, theirs = _imports()
    assert not [p for p in NO_SPARK if "pyspark" in theirs.get(p, set())]
    screen = {"panel", "bokeh", "workbench"}
    assert not {p: theirs[p] & screen for p in theirs if theirs[p] & screen}


SPARK_SIDE_OUTSIDE_FEEDS = (
    "pipelines.detector.window_view",  # the Detection tab's charts: 7a windows' states (pure)
    "pipelines.detector.health_reader",  # the Health tab's column list
    "pipelines.spark.jvm",  # app_hooks: end the JVM when the server unloads
)
"""The only detector- or Spark-side modules the workbench imports outside its feeds."""


def _workbench_imports() -> list[tuple[Path, str]]:
    """(file, imported module) for every import of every workbench module."""
    found = []
    for path in (PROJECT_ROOT / "workbench").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.append((path, node.module))
            elif isinstance(node, ast.Import):
                found.extend((path, alias.name) for alias in node.names)
    return found


def test_the_workbench_reaches_the_spark_side_through_its_feeds() -> None:
    outside_feeds = {
        f"{path.name}: {module}"
        for path, module in _workbench_imports()
        if "feeds" not in path.parts
        and module.startswith(("pipelines.detector", "pipelines.spark"))
        and not module.startswith(SPARK_SIDE_OUTSIDE_FEEDS)
    }
    assert not outside_feeds, f"Spark-side imports outside workbench/feeds/: {outside_feeds}"


def test_the_workbench_imports_no_pyspark_itself() -> None:
    importing = [f"{p.name}: {m}" for p, m in _workbench_imports() if m.startswith("pyspark")]
    assert not importing, importing
