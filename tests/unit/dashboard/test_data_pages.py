"""The console's features, events, alerts, pipelines, audit and cost pages: each opens
for the roles that may read it, shows the API's numbers, and the dead-letter replay is
role-checked, CSRF-checked, audited and never applied twice."""

from __future__ import annotations

import asyncio
import dataclasses
import re

import pytest

from ailayer.events import open_bus
from ailayer.events.deadletter import dead_letter, dead_letter_topic
from ailayer.governance import audit
from tests.support.api import make_api
from tests.support.console_client import csrf_of, sign_in
from tests.support.events import events

PAGES = ["/ui/features", "/ui/events", "/ui/alerts", "/ui/pipelines", "/ui/audit", "/ui/cost"]


@pytest.fixture
def console(make_settings, tmp_path):  # type: ignore[no-untyped-def]
    from ailayer.bootstrap import build

    services = build(
        make_settings(
            event_bus=f"embedded://{tmp_path / 'bus.db'}",
            console_topics={"payments": ["fraud"]},
        )
    )
    yield make_api(services)
    services.close()


@pytest.mark.parametrize("path", PAGES)
def test_each_page_opens_for_an_admin(console, path: str) -> None:  # type: ignore[no-untyped-def]
    sign_in(console.client, console.keys["admin"])
    page = console.client.get(path)
    assert page.status_code == 200, page.text
    assert "<h1>" in page.text


def test_a_viewer_sees_no_audit_log_and_a_signed_out_browser_sees_nothing(console) -> None:  # type: ignore[no-untyped-def]
    assert console.client.get("/ui/audit", follow_redirects=False).status_code == 303
    sign_in(console.client, console.keys["viewer"])
    assert console.client.get("/ui/audit").status_code == 403
    assert console.client.get("/ui/features").status_code == 200


def test_the_audit_page_filters_like_the_store(console) -> None:  # type: ignore[no-untyped-def]
    services = console.services
    with services.db.write() as conn:
        audit.record(conn, console.tenant_id, "alice", "deployment.promote", "endpoint/fraud")
        audit.record(conn, console.tenant_id, "bob", "model.register", "model/<b>x</b>")
    sign_in(console.client, console.keys["admin"])
    page = console.client.get("/ui/audit", params={"actor": "alice"})
    rows = re.findall(r'<tr data-seq="\d+">(.*?)</tr>', page.text, re.S)
    assert len(rows) == 1 and "deployment.promote" in rows[0]
    everything = console.client.get("/ui/audit").text
    assert "model/&lt;b&gt;x&lt;/b&gt;" in everything and "<b>x</b>" not in everything
    bad = console.client.get("/ui/audit", params={"since": "2026-02-01", "until": "2026-01-01"})
    assert bad.status_code == 422 and "since" in bad.text


def publish_letters(console) -> tuple[list[str], str]:  # type: ignore[no-untyped-def]
    async def publish() -> tuple[list[str], str]:
        bus = open_bus(console.services.settings.event_bus)
        try:
            mine = [dataclasses.replace(e, tenant=console.tenant_id) for e in events(2)]
            theirs = dataclasses.replace(events(1)[0], id="theirs-1", tenant="someone-else")
            letters = [
                dead_letter(e, topic="payments", group="fraud", error=ValueError("bad"), attempts=3)
                for e in [*mine, theirs]
            ]
            await bus.publish(dead_letter_topic("payments"), letters)
        finally:
            await bus.close()
        return [e.id for e in mine], theirs.id

    return asyncio.run(publish())


def test_dead_letters_replay_once_for_a_developer_with_the_form_token(console) -> None:  # type: ignore[no-untyped-def]
    mine, theirs = publish_letters(console)
    sign_in(console.client, console.keys["viewer"])
    page = console.client.get("/ui/events", params={"topic": "payments"})
    assert page.status_code == 200
    assert all(f'data-event="{i}"' in page.text for i in mine) and theirs not in page.text
    assert "Replay 2 dead letter(s)" not in page.text  # a viewer sees, cannot act
    token = csrf_of(page.text)
    refused = console.client.post("/ui/events/payments/replay", data={"csrf_token": token})
    assert refused.status_code == 403

    sign_in(console.client, console.keys["developer"])
    page = console.client.get("/ui/events", params={"topic": "payments"})
    assert "Replay 2 dead letter(s)" in page.text
    no_token = console.client.post("/ui/events/payments/replay", data={})
    assert no_token.status_code == 403 and "security token" in no_token.text
    token = csrf_of(page.text)
    done = console.client.post("/ui/events/payments/replay", data={"csrf_token": token})
    assert done.status_code == 200 and "Replayed 2 event(s)" in done.text
    again = console.client.post("/ui/events/payments/replay", data={"csrf_token": token})
    assert "Replayed 0 event(s)" in again.text
    lag = re.search(r'data-metric="lag">(\d+)<', again.text)
    assert lag and lag.group(1) == "2"  # the replayed events wait for the group

    with console.services.db.read() as conn:
        entries = audit.entries(conn, console.tenant_id, action_prefix="events.replay")
    assert len(entries) == 1 and sorted(entries[0]["detail"]["replayed"]) == sorted(mine)


def test_the_overview_shows_the_consumer_lag_the_events_page_shows(console) -> None:  # type: ignore[no-untyped-def]
    publish_letters(console)
    sign_in(console.client, console.keys["developer"])
    page = console.client.get("/ui/events", params={"topic": "payments"})
    console.client.post("/ui/events/payments/replay", data={"csrf_token": csrf_of(page.text)})

    def lag_on(path: str) -> str | None:
        text = console.client.get(path).text
        found = re.search(
            r'data-topic="payments" data-group="fraud">.*?data-metric="lag">(\d+)<', text, re.S
        )
        return found.group(1) if found else None

    assert lag_on("/ui/") == lag_on("/ui/events") == "2"
