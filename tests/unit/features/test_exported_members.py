"""The feature store's public API is exactly ``ailayer.features.__all__``."""

from __future__ import annotations

import pytest

import ailayer.features
from ailayer.core.errors import InvalidInput
from ailayer.features import open_online_store


def test_public_api_is_listed() -> None:
    exported = {name for name in dir(ailayer.features) if not name.startswith("_")}
    modules = {
        "batching", "catalog", "datasets", "definitions", "definitions_store", "dvc_source", "engines", "erased", "files", "frames", "loader", "materialize",
        "offline", "ondemand", "pii", "pit", "privacy", "retrieval", "sources", "stores", "streaming", "tables", "types",
    }  # fmt: skip
    assert exported - modules == set(ailayer.features.__all__)


def test_online_store_url_schemes() -> None:
    with pytest.raises(InvalidInput) as caught:
        open_online_store("memcached://localhost")
    assert caught.value.field == "online_store" and "sqlite://, redis://" in caught.value.message
    with pytest.raises(InvalidInput):
        open_online_store("sqlite://")
