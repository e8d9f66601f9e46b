"""Everything the server keeps under its home is private to its user: files 0600,
directories 0700 (as the credentials file always was), whatever the umask allows."""

from __future__ import annotations

import asyncio
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ailayer.bootstrap import build
from ailayer.cli.context import write_credentials
from ailayer.events import new_event, open_bus
from ailayer.events.idempotency.sqlite import SqliteIdempotencyStore
from ailayer.events.outbox import Outbox
from ailayer.features.stores.online import OnlineRow
from tests.support.api import make_api
from tests.support.services import tiny_sklearn_model


@pytest.fixture
def open_umask():  # type: ignore[no-untyped-def]
    """The usual umask (022): what a server started from a shell gets."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def modes(home: Path) -> dict[str, int]:
    """Permission bits of everything under ``home`` (and of ``home``), by relative path."""
    found = {".": stat.S_IMODE(home.stat().st_mode)}
    for path in home.rglob("*"):
        found[str(path.relative_to(home))] = stat.S_IMODE(path.lstat().st_mode)
    return found


async def use_the_bus_and_outbox(bus_url: str, home: Path) -> None:
    """The embedded bus (its own client: the app closed the services' one), an outbox
    spool and an idempotency store, each creating its file under the home."""
    event = new_event("ailayer.test", "tests", {"n": 1}, tenant="t1")
    bus = open_bus(bus_url)
    await bus.publish("payments", [event])
    outbox = Outbox(bus, home / "outbox.db")
    await outbox.start()
    outbox.offer("payments", event)
    await outbox.close()
    await bus.close()
    idempotency = SqliteIdempotencyStore(home / "processed.db")
    await idempotency.mark("t1", "scorer", event.id)
    await idempotency.close()


def test_the_home_holds_only_private_files(make_settings, tmp_path, open_umask) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "state" / ".ailayer"
    services = build(make_settings(home=home))
    try:
        api = make_api(services)
        with api.client:
            assert (
                api.register("fraud", tiny_sklearn_model(), aliases=["champion"]).status_code == 201
            )
            body = {"amount": 900.0, "card_age_days": 3}
            answer = api.client.post("/v1/predict/fraud", headers=api.headers("service"), json=body)
            assert answer.status_code == 200
        services.prediction_log.flush()
        row = OnlineRow("c1", datetime.now(UTC), {"x": 1.0})
        services.online.write_batch(api.tenant_id, "view", [row])
        asyncio.run(use_the_bus_and_outbox(services.settings.event_bus, home))
        services.alerts.secrets.seal("webhook secret")  # makes <home>/secret.key
        write_credentials(services.settings.credentials_path, "ail_x_y")
        running = modes(home)  # SQLite's -wal and -shm exist while connections are open
        assert running["meta.db-wal"] == running["meta.db-shm"] == 0o600
    finally:
        services.close()
    found = modes(home)
    names = {Path(p).name for p in found}
    for expected in ("meta.db", "online.db", "bus.db", "secret.key", "credentials", "outbox.db"):
        assert expected in names, expected
    assert any(p.endswith(".parquet") for p in found)  # the prediction log
    assert any("artifacts" in p for p in found)
    loose = {
        path: oct(mode)
        for path, mode in found.items()
        if mode != (0o700 if (home / path).is_dir() else 0o600)
    }
    assert loose == {}
    assert stat.S_IMODE(home.parent.stat().st_mode) == 0o700  # a missing parent too


def test_the_bus_alone_creates_a_private_file(tmp_path, open_umask) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "fresh" / "bus.db"

    async def publish() -> None:
        bus = open_bus(f"embedded://{path}")
        await bus.publish("t", [new_event("ailayer.test", "tests", {}, tenant="t1")])
        await bus.close()

    asyncio.run(publish())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
