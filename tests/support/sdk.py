"""Both SDK clients behind one face, so that one scenario tests ``Client`` and
``AsyncClient`` alike and any difference between them shows."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ailayer import AsyncClient, Client

CLIENTS = [Client, AsyncClient]


class Awaiting:
    """Either client behind one face: every operation is awaited, so one scenario
    (an ``async def``) drives both and any difference between them shows."""

    def __init__(self, client: Client | AsyncClient) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self.client, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            value = method(*args, **kwargs)
            if isinstance(self.client, AsyncClient):
                assert inspect.isawaitable(value), f"AsyncClient.{name} must be awaited"
                return await value
            assert not inspect.isawaitable(value), f"Client.{name} must not need awaiting"
            return value

        return call


Scenario = Callable[[Awaiting], Awaitable[Any]]


def drive(cls: type, url: str, key: str, scenario: Scenario, **options: Any) -> Any:
    """Open a ``cls`` client, run ``scenario`` with it in ``asyncio.run``, close it."""

    async def main() -> Any:
        client = cls(url, key, timeout=10, **options)
        try:
            return await scenario(Awaiting(client))
        finally:
            if isinstance(client, AsyncClient):
                await client.aclose()
            else:
                client.close()

    return asyncio.run(main())


@dataclass
class Server:
    """A live server and one key per role of its tenant."""

    url: str
    keys: dict[str, str]

    def run(self, cls: type, scenario: Scenario, role: str = "admin") -> Any:
        return drive(cls, self.url, self.keys[role], scenario)
