"""``ailayer stream run``: the CLI runs a stream view for the key's tenant on the bus."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from ailayer.cli.main import cli
from ailayer.events import open_bus
from ailayer.events.envelope import new_event
from ailayer.features import Aggregation, Entity, StreamFeatureView

account = Entity("account", {"account_id": int})
VIEW = StreamFeatureView(
    "payments", [account], "payments", "payment.created",
    [Aggregation("payments_1h", None, "count", timedelta(hours=1))],
)  # fmt: skip


def test_stream_run_until_idle(services, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.create_tenant("acme")
    key = services.keys.create_key(tenant, "admin-key", "admin").key
    services.features.apply(tenant, "me", [account, VIEW])
    monkeypatch.setenv("AILAYER_HOME", str(services.settings.home))
    now = datetime.now(UTC).isoformat()
    events = [
        new_event("payment.created", "/b", {"account_id": i % 2}, tenant=tenant) for i in range(5)
    ]
    events.append(new_event("payment.created", "/b", {"account_id": "x", "at": now}, tenant=tenant))

    async def publish() -> None:
        bus = open_bus(services.settings.event_bus)
        await bus.publish("payments", events)
        await bus.close()

    asyncio.run(publish())
    args = ["stream", "run", "payments", "--until-idle", "--json", "--api-key", key]
    done = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert done.exit_code == 0, done.output
    [stats] = json.loads(done.output[done.output.index("[") :])
    assert (stats["view"], stats["applied"], stats["invalid"]) == ("payments", 5, 1)
    rows = services.feature_server.get_online_features(
        tenant, ["payments:payments_1h"], [{"account_id": 0}, {"account_id": 1}]
    )
    assert [r["payments_1h"] for r in rows] == [3, 2]
    missing = CliRunner().invoke(cli, ["stream", "run", "nope", "--api-key", key])
    assert missing.exit_code == 1 and "no feature view named 'nope'" in missing.output
