"""The SDK's monitoring calls, on both clients against a live server: a reference upload,
drift (with a reference window), the HTML report, fairness, alert rules and alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ailayer import NotFound
from tests.support.sdk import CLIENTS, Awaiting

RECORDS = [
    {"amount": amount, "card_age_days": age}
    for amount in (100.0, 900.0)
    for age in (5.0, 50.0, 200.0, 300.0)
] * 5  # 40 predictions, two amounts


@pytest.mark.parametrize("cls", CLIENTS)
def test_monitoring_calls(cls, server, services, tiny) -> None:  # type: ignore[no-untyped-def]
    rows = "amount,card_age_days\n" + "".join(
        f"{a * 1.1},{d}\n" for a in range(50) for d in (3, 90)
    )
    start = datetime.now(UTC) - timedelta(minutes=5)

    async def first(client: Awaiting) -> dict:
        await client.register_model(
            "fraud", tiny.artifact, flavor="sklearn", signature=tiny.signature, aliases=["champion"]
        )
        stored = await client.upload_reference("fraud", 1, rows.encode(), format="csv")
        await client.predict("fraud", RECORDS)
        return stored

    stored = server.run(cls, first)
    assert (stored["rows"], stored["source"]) == (100, "upload")
    services.prediction_log.flush()
    end = datetime.now(UTC) + timedelta(minutes=1)

    async def second(client: Awaiting) -> tuple:
        drift = await client.drift("fraud", start, end)
        itself = await client.drift("fraud", reference_start=start, reference_end=end)
        page = await client.report("fraud", start, end)
        fairness = await client.fairness("fraud", "amount", start, end)
        rule = {"name": "errors", "kind": "error_rate", "threshold": 0.1, "endpoint": None}
        added = await client.add_alert_rule(rule)
        listed = await client.list_alert_rules()
        got = await client.get_alert_rule("errors")
        alerts = await client.alerts(limit=5)
        await client.remove_alert_rule("errors")
        with pytest.raises(NotFound):
            await client.get_alert_rule("errors")
        return drift, itself, page, fairness, added, listed, got, alerts

    drift, itself, page, fairness, added, listed, got, alerts = server.run(cls, second)
    [version] = drift["versions"]
    assert version["rows"] == 40 and version["reference"]["source"] == "upload"
    assert itself["versions"][0]["reference"]["source"] == "log"
    assert page.startswith("<!doctype html>") and "fraud" in page
    [judged] = fairness["versions"]
    assert sorted(judged["groups"]) == ["100.0", "900.0"]
    assert added["name"] == got["name"] == "errors" and [r["name"] for r in listed] == ["errors"]
    assert alerts == {"firing": [], "history": []}
