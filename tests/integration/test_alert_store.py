"""The alert store on SQLite and PostgreSQL: rules per tenant, state that survives a
restarted monitor (no second firing, resolve still sent), two monitors racing (each
transition notified once), notification history."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest
from sqlalchemy import text

from ailayer.core.errors import Conflict, NotFound
from ailayer.core.secretbox import SecretBox, SecretKeyMismatch
from ailayer.db.engine import Database
from ailayer.db.migrate import upgrade
from ailayer.governance.keys import KeyService
from ailayer.monitoring.alerting import AlertEvaluator, AlertRule, AlertStore, StoreStates
from ailayer.monitoring.alerting.store import State


@pytest.fixture
def store(metadata_url):  # type: ignore[no-untyped-def]
    db = Database(metadata_url)
    upgrade(db)
    yield AlertStore(db, SecretBox(KEY), allow_private_webhooks=True)
    db.dispose()


KEY = "k" * 32


class Windows:
    def __init__(self) -> None:
        self.error_rate: float | None = 0.0

    def report(self, tenant_id: str, endpoint: str, window: str = "hour") -> dict:
        start = datetime(2026, 11, 29, 12)
        return {
            "windows": [
                {
                    "model": "fraud",
                    "version": 1,
                    "window_start": start,
                    "error_rate": self.error_rate,
                }
            ]
        }


def evaluator(store: AlertStore, tenant: str, windows: Windows) -> AlertEvaluator:
    """A fresh evaluator over the stored rules, as a restarted monitor builds one."""
    stored = store.rules(tenant)
    states = StoreStates(store, {s.rule.name: s.id for s in stored})
    return AlertEvaluator(windows, [s.rule for s in stored], states=states)


def test_rules_are_per_tenant(store) -> None:  # type: ignore[no-untyped-def]
    keys = KeyService(store.db)
    acme, globex = keys.create_tenant("acme"), keys.create_tenant("globex")
    rule = AlertRule(
        "errors",
        kind="error_rate",
        threshold=0.1,
        webhook_url="http://127.0.0.1:1/h",
        webhook_secret="secret-123",
    )
    store.add_rule(acme, rule, actor="test")
    with pytest.raises(Conflict):
        store.add_rule(acme, rule)
    store.add_rule(globex, AlertRule("slow", kind="latency", threshold=100))
    assert store.rule(acme, "errors").rule == rule  # the secret comes back for signing
    with store.db.read() as conn:
        [stored] = (
            conn.execute(
                text("SELECT webhook_secret FROM alert_rules WHERE tenant_id = :t"), {"t": acme}
            )
            .scalars()
            .all()
        )
    assert "secret-123" not in stored and stored.startswith("fernet:v1:")  # sealed at rest
    other_key = AlertStore(store.db, SecretBox("o" * 32))
    with pytest.raises(SecretKeyMismatch, match="secret_key"):
        other_key.rule(acme, "errors")
    assert store.rule(acme, "errors").to_dict()["has_webhook_secret"] is True
    assert [s.rule.name for s in store.rules(globex)] == ["slow"]
    with pytest.raises(NotFound):
        store.rule(globex, "errors")
    assert set(store.tenants()) == {acme, globex}
    with pytest.raises(NotFound):
        store.remove_rule(globex, "errors")
    store.remove_rule(acme, "errors")
    assert store.rules(acme) == []


def test_state_survives_a_restart(store) -> None:  # type: ignore[no-untyped-def]
    tenant = KeyService(store.db).create_tenant("acme")
    store.add_rule(tenant, AlertRule("errors", kind="error_rate", threshold=0.1, for_=2))
    windows = Windows()
    windows.error_rate = 0.5
    assert evaluator(store, tenant, windows).evaluate(tenant, "fraud") == []  # 1 of 2
    [fired] = evaluator(store, tenant, windows).evaluate(tenant, "fraud")  # counted across runs
    assert fired.status == "firing"
    assert evaluator(store, tenant, windows).evaluate(tenant, "fraud") == []  # not again
    [firing] = store.firing(tenant)
    assert (firing["rule"], firing["version"], firing["value"]) == ("errors", 1, 0.5)
    windows.error_rate = 0.0
    [resolved] = evaluator(store, tenant, windows).evaluate(tenant, "fraud")
    assert resolved.status == "resolved"
    assert evaluator(store, tenant, windows).evaluate(tenant, "fraud") == []
    assert store.firing(tenant) == []
    history = store.history(tenant)
    assert [h["status"] for h in history] == ["resolved", "firing"]
    assert {h["delivery"] for h in history} == {"pending"}
    assert {a.id for a, _ in store.pending()} == {resolved.id, fired.id}
    store.delivered(fired.id, True)
    store.delivered(resolved.id, False, "webhook: not delivered after retries")
    history = {h["id"]: h for h in store.history(tenant)}
    assert history[fired.id]["delivery"] == "delivered"
    assert history[resolved.id]["error"].startswith("webhook")
    assert store.pending() == []


def test_removing_a_rule_drops_its_state_but_keeps_history(store) -> None:  # type: ignore[no-untyped-def]
    tenant = KeyService(store.db).create_tenant("acme")
    store.add_rule(tenant, AlertRule("errors", kind="error_rate", threshold=0.1))
    windows = Windows()
    windows.error_rate = 0.9
    assert len(evaluator(store, tenant, windows).evaluate(tenant, "fraud")) == 1
    store.remove_rule(tenant, "errors")
    assert store.firing(tenant) == []
    assert [h["rule"] for h in store.history(tenant)] == ["errors"]
    store.add_rule(tenant, AlertRule("errors", kind="error_rate", threshold=0.1))
    assert len(evaluator(store, tenant, windows).evaluate(tenant, "fraud")) == 1  # a new rule


class ReadBefore(StoreStates):
    """States as another monitor read them before this one's write landed: the race of
    two ``ailayer up`` replicas evaluating the same rule at the same moment."""

    def __init__(self, store: AlertStore, ids: dict[str, str], seen: State) -> None:
        super().__init__(store, ids)
        self.seen = seen

    def get(self, tenant_id, rule, key):  # type: ignore[no-untyped-def]
        return replace(self.seen)


def test_two_monitors_racing_notify_each_transition_once(store) -> None:  # type: ignore[no-untyped-def]
    tenant = KeyService(store.db).create_tenant("acme")
    store.add_rule(tenant, AlertRule("errors", kind="error_rate", threshold=0.1))
    stored = store.rules(tenant)
    rules, ids = [s.rule for s in stored], {s.rule.name: s.id for s in stored}
    windows = Windows()
    windows.error_rate = 0.9
    seen = store.state(ids["errors"], "fraud", "fraud", 1)  # both replicas read this first
    [fired] = AlertEvaluator(windows, rules, states=StoreStates(store, ids)).evaluate(
        tenant, "fraud"
    )
    late = AlertEvaluator(windows, rules, states=ReadBefore(store, ids, seen))
    assert late.evaluate(tenant, "fraud") == []  # lost the race: no second firing
    windows.error_rate = 0.0
    seen = store.state(ids["errors"], "fraud", "fraud", 1)
    assert seen.firing
    [resolved] = AlertEvaluator(windows, rules, states=StoreStates(store, ids)).evaluate(
        tenant, "fraud"
    )
    late = AlertEvaluator(windows, rules, states=ReadBefore(store, ids, seen))
    assert late.evaluate(tenant, "fraud") == []
    history = store.history(tenant)
    assert [(h["id"], h["status"]) for h in history] == [
        (resolved.id, "resolved"),
        (fired.id, "firing"),
    ]
    assert store.firing(tenant) == []
