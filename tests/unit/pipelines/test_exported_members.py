"""The pipelines package's public API is exactly ``ailayer.pipelines.__all__``."""

from __future__ import annotations

import ailayer.pipelines


def test_public_api_is_listed() -> None:
    exported = {name for name in dir(ailayer.pipelines) if not name.startswith("_")}
    modules = {
        "checkpoint", "gating", "handoff", "lineage", "pipeline", "provenance", "runner", "runs", "serialize", "steps", "tables",
    }  # fmt: skip
    assert exported - modules == set(ailayer.pipelines.__all__)
