"""Which way dependencies point, read from the source (``docs/architecture.md``, Dependencies).

- ``core`` imports no other ailayer package;
- the monitoring algorithms (arrays in, results out) import no service, store or database,
  and loading them in a fresh interpreter loads none;
- only the entry points, ``api``, ``cli`` and ``serverless`` (and ``bootstrap`` itself),
  import ``ailayer.bootstrap``;
- the top-level packages import each other without cycles.

Every ``import`` statement counts, also those inside functions and ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import ailayer

PACKAGE = Path(ailayer.__file__).parent
ENTRY_POINTS = ("api", "cli", "dashboard", "serverless")  # the packages that build the services
MONITORING_SERVICES = ("log", "endpoint", "alerting")  # subpackages that do I/O
ALGORITHMS_MAY_IMPORT = ("ailayer.core", "ailayer.models.flavors")  # and each other
NEVER_UNDER_ALGORITHMS = (
    "sqlalchemy",
    "duckdb",
    "alembic",
    "boto3",
    "redis",
    "ailayer.db",
    "ailayer.features",
    "ailayer.events",
    "ailayer.serving",
    "ailayer.governance",
    "ailayer.models.service",
    "ailayer.models.artifacts",
    "ailayer.bootstrap",
    *(f"ailayer.monitoring.{name}" for name in MONITORING_SERVICES),
)


@dataclass(frozen=True)
class Module:
    name: str
    imports: frozenset[str]

    @property
    def top(self) -> str:
        """The top-level package (or module) under ``ailayer`` this module belongs to;
        "" for ``ailayer`` itself, the public facade."""
        return self.name.split(".")[1] if "." in self.name else ""


@functools.cache
def modules() -> dict[str, Module]:
    """Every module of the package by dotted name, with the ailayer modules it imports."""
    names = {_dotted(path): path for path in PACKAGE.rglob("*.py")}
    return {
        name: Module(name, frozenset(_imports(path, name, set(names))))
        for name, path in names.items()
    }


def _dotted(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names} & known  # submodules
    return {f for f in found if f == "ailayer" or f.startswith("ailayer.")}


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
    return f"{base}.{node.module}" if node.module else base


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def algorithm_modules() -> list[str]:
    """``ailayer.monitoring`` and everything in it but the service subpackages."""
    services = tuple(f"ailayer.monitoring.{s}" for s in MONITORING_SERVICES)
    return sorted(
        name
        for name in modules()
        if _under(name, "ailayer.monitoring") and not any(_under(name, s) for s in services)
    )


def test_core_imports_no_other_ailayer_package() -> None:
    wrong = {
        module.name: sorted(i for i in module.imports if not _under(i, "ailayer.core"))
        for module in modules().values()
        if module.top == "core"
    }
    assert {name: found for name, found in wrong.items() if found} == {}


def test_monitoring_algorithms_import_only_core_flavors_and_each_other() -> None:
    algorithms = algorithm_modules()
    assert "ailayer.monitoring.drift.compare" in algorithms
    assert "ailayer.monitoring.endpoint.drift" not in algorithms
    allowed = (*ALGORITHMS_MAY_IMPORT, *algorithms)
    wrong = {
        name: sorted(i for i in modules()[name].imports if not any(_under(i, a) for a in allowed))
        for name in algorithms
    }
    assert {name: found for name, found in wrong.items() if found} == {}


def test_monitoring_algorithms_load_no_service_store_or_database() -> None:
    """One fresh interpreter imports every algorithm module: what each loads alone is a
    part of what they load together, so none of them loads a forbidden module."""
    code = (
        "import importlib, sys\n"
        f"sys.path.insert(0, {str(PACKAGE.parent)!r})\n"
        f"for name in {algorithm_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.split()
    assert "ailayer.monitoring.drift" in loaded
    assert [m for m in loaded if any(_under(m, f) for f in NEVER_UNDER_ALGORITHMS)] == []


def test_only_the_entry_points_import_the_composition_root() -> None:
    importers = {
        module.name
        for module in modules().values()
        if any(_under(i, "ailayer.bootstrap") for i in module.imports)
    }
    assert importers, "nothing imports ailayer.bootstrap: is the parsing broken?"
    assert sorted(m for m in importers if m.split(".")[1] not in ENTRY_POINTS) == []


def test_top_level_packages_import_each_other_without_cycles() -> None:
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for module in modules().values():
        if not module.top:
            continue  # the public facade re-exports; it is no layer
        for imported in module.imports:
            target = imported.split(".")[1] if imported != "ailayer" else None
            if target is not None and target != module.top:
                edges[(module.top, target)].append(f"{module.name} → {imported}")
    assert ("monitoring", "core") in edges  # the graph is really there
    graph: dict[str, set[str]] = defaultdict(set)
    for source, target in edges:
        graph[source].add(target)
    cycles = {
        f"{source} → {target}": sorted(edges[(source, target)])
        for source, target in edges
        if source in _reachable(graph, target)
    }
    assert cycles == {}


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in graph[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen
