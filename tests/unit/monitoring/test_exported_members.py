"""The public API of ailayer.monitoring is exactly what its __all__ lists."""

from __future__ import annotations

import doctest

import ailayer.monitoring as monitoring
import ailayer.monitoring.drift as drift
from ailayer.monitoring import concept
from ailayer.monitoring.drift import detector


def test_exported_members() -> None:
    public = {name for name in dir(monitoring) if not name.startswith("_")}
    modules = {
        "alerts",
        "concept",
        "drift",
        "experiment",
        "fairness",
        "numeric",
        "ranking",
        "sequential",
    }  # "explain" is also the function
    assert public - modules == set(monitoring.__all__)
    assert all(hasattr(drift, name) for name in drift.__all__)


def test_docstring_examples_run() -> None:
    for module in (concept, detector):
        assert doctest.testmod(module).failed == 0
