"""Fixtures of the example tests: a user's shell environment and ``ailayer up`` serving
the module's ``workdir`` (each example's test module makes its own copy of the folder)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.examples import Server, running_up, user_environment


@pytest.fixture
def environment() -> dict[str, str]:
    return user_environment()


@pytest.fixture
def server(workdir: Path, environment: dict[str, str]) -> Iterator[Server]:
    with running_up(workdir, environment) as started:
        yield started
