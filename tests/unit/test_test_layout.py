"""The test tree's one rule for sharing: helpers live in ``tests/support``.

No module under ``tests/`` imports another test module, a conftest or anything of the
unit, integration or e2e tiers; fixtures reach tests through pytest's conftest files.
So a tier can run (or move) on its own, and a helper has one home to look for.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
ALLOWED = "tests.support"


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every import in ``tree``, also those inside functions; a
    relative import is given as its dots and name, e.g. ``..conftest``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, "." * node.level + (node.module or "")))
    return found


def forbidden(module: str) -> bool:
    if module.startswith("."):
        return True
    inside = module == "tests" or module.startswith("tests.")
    return inside and module != ALLOWED and not module.startswith(ALLOWED + ".")


def test_forbidden_covers_what_the_rule_names() -> None:
    assert forbidden("tests.unit.features.factories")
    assert forbidden("tests.integration.events.conftest")
    assert forbidden("tests.conftest") and forbidden("tests") and forbidden(".conftest")
    assert not forbidden("tests.support.api") and not forbidden("tests.support")
    assert not forbidden("testscontainers") and not forbidden("ailayer.tests")


def test_modules_import_only_tests_support() -> None:
    bad = [
        f"{path.relative_to(TESTS)}:{line} imports {module}"
        for path in sorted(TESTS.rglob("*.py"))
        for line, module in imported_modules(ast.parse(path.read_text(), filename=str(path)))
        if forbidden(module)
    ]
    assert bad == [], "move what is shared into tests/support:\n" + "\n".join(bad)
