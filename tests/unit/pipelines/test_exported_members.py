"""The pipelines package's public API is exactly ``ailayer.pipelines.__all__``."""

from __future__ import annotations

import types

import ailayer.pipelines


def test_public_api_is_listed() -> None:
    exported = {name for name in dir(ailayer.pipelines) if not name.startswith("_")}
    modules = {n for n in exported if isinstance(getattr(ailayer.pipelines, n), types.ModuleType)}
    assert {"pipeline", "runner", "gates"} <= modules  # submodules __init__ imports
    assert exported - modules == set(ailayer.pipelines.__all__)
