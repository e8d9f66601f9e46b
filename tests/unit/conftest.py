"""Fixtures of the unit tests: a live server for the SDK, the tiny model it serves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ailayer.api import create_app
from ailayer.bootstrap import Services
from tests.support.api import role_keys
from tests.support.sdk import Server
from tests.support.services import TinyModel, live_server, tiny_sklearn_model


@pytest.fixture
def server(services: Services) -> Iterator[Server]:
    """The app on a real port, with one key per role for tenant ``acme``."""
    _, keys = role_keys(services)
    with live_server(create_app(services)) as url:
        yield Server(url, keys)


@pytest.fixture
def tiny() -> TinyModel:
    return tiny_sklearn_model()
