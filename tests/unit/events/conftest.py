"""Fixtures of the event unit tests: the real app on an embedded bus."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ailayer.bootstrap import Services
from ailayer.events import open_bus
from tests.support.api import Api, make_api
from tests.support.events_api import app_with_events


@pytest.fixture
def events_api(services: Services, tmp_path: Path) -> Iterator[Api]:
    """The app with an embedded bus whose topic ``payments`` has the group ``workers``."""
    services.bus = open_bus(f"embedded://{tmp_path / 'bus.db'}")  # type: ignore[attr-defined]
    asyncio.run(_create_group(services))
    made = make_api(services)
    made.client.close()
    made.client = TestClient(app_with_events(services))
    yield made
    made.client.close()
    asyncio.run(services.bus.close())  # type: ignore[attr-defined]


async def _create_group(services: Services) -> None:
    sub = await services.bus.subscribe("payments", "workers", "setup")  # type: ignore[attr-defined]
    await sub.close()
