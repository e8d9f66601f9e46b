"""Alert rules, alert state and notification history in the metadata store.

Created by migration ``0005_alerts``; these definitions must match it.

- ``alert_rules``: each tenant's rules by name; ``spec`` is ``AlertRule.to_dict()``, the
  webhook secret sits in its own column, encrypted (``SecretBox``: it is needed to sign,
  so it cannot be hashed; never returned by the API).
- ``alert_states``: per (rule, endpoint, model version) the breaches in a row and whether
  it is firing, so a restarted monitor neither fires again nor forgets to resolve.
- ``alert_notifications``: one row per firing or resolve, with its delivery outcome
  (``pending`` until the dispatcher reports ``delivered`` or ``failed``).

A state change and its notification row are written in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from ailayer.core.clock import utcnow
from ailayer.core.errors import Conflict, NotFound
from ailayer.core.ids import new_id
from ailayer.core.secretbox import SecretBox
from ailayer.db.engine import Database
from ailayer.db.tables import ID, UTCDateTime, metadata
from ailayer.governance import audit
from ailayer.monitoring.alerting.destinations import check_webhook_destination
from ailayer.monitoring.alerting.notify import Alert
from ailayer.monitoring.alerting.rules import AlertRule, rule_from_dict

alert_rules = Table(
    "alert_rules",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("spec", JSON, nullable=False),
    Column("webhook_secret", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(200), nullable=True),
    UniqueConstraint("tenant_id", "name", name="uq_alert_rules_tenant_name"),
)

alert_states = Table(
    "alert_states",
    metadata,
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False),
    Column("rule_id", ID, ForeignKey("alert_rules.id", ondelete="CASCADE"), nullable=False),
    Column("endpoint", String(200), nullable=False),
    Column("model", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("breaches", Integer, nullable=False),
    Column("firing", Boolean, nullable=False),
    Column("value", Float, nullable=True),
    Column("since", UTCDateTime(), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("rule_id", "endpoint", "model", "version", name="pk_alert_states"),
)

alert_notifications = Table(
    "alert_notifications",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False),
    Column("rule_id", ID, nullable=False),
    Column("rule", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("endpoint", String(200), nullable=False),
    Column("model", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("delivery", String(20), nullable=False),
    Column("error", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("delivered_at", UTCDateTime(), nullable=True),
    Index("ix_alert_notifications_tenant_created", "tenant_id", "created_at"),
)


@dataclass(frozen=True)
class StoredRule:
    id: str
    tenant_id: str
    rule: AlertRule
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, **self.rule.to_dict(), "created_at": self.created_at}


@dataclass
class State:
    breaches: int = 0
    firing: bool = False
    value: float | None = None
    since: datetime | None = None


class AlertStore:
    """Rules, states and notifications of every tenant; all calls are blocking."""

    def __init__(
        self, db: Database, secrets: SecretBox, *, allow_private_webhooks: bool = False
    ) -> None:
        self.db = db
        self.secrets = secrets  # webhook secrets are sealed at rest, opened to sign
        self.allow_private_webhooks = allow_private_webhooks

    def add_rule(self, tenant_id: str, rule: AlertRule, *, actor: str = "api") -> StoredRule:
        """Store a new rule; 409 when the tenant already has one of that name, 422 when
        its webhook points at an address that is not allowed (see ``destinations``)."""
        if rule.webhook_url is not None:
            check_webhook_destination(rule.webhook_url, allow_private=self.allow_private_webhooks)
        stored = StoredRule(new_id(), tenant_id, rule, utcnow())
        spec = {k: v for k, v in rule.to_dict().items() if k != "has_webhook_secret"}
        with self.db.write() as conn:
            if _rule_row(conn, tenant_id, rule.name) is not None:
                raise Conflict(f"rule {rule.name!r} already exists", field="name")
            conn.execute(
                insert(alert_rules).values(
                    id=stored.id,
                    tenant_id=tenant_id,
                    name=rule.name,
                    spec=spec,
                    webhook_secret=None
                    if rule.webhook_secret is None
                    else self.secrets.seal(rule.webhook_secret),
                    created_at=stored.created_at,
                    created_by=actor,
                )
            )
            audit.record(conn, tenant_id, actor, "alert_rule.add", f"alert_rule/{rule.name}")
        return stored

    def rules(self, tenant_id: str) -> list[StoredRule]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(alert_rules)
                .where(alert_rules.c.tenant_id == tenant_id)
                .order_by(alert_rules.c.name)
            ).all()
        return [self._stored(row) for row in rows]

    def rule(self, tenant_id: str, name: str) -> StoredRule:
        with self.db.read() as conn:
            row = _rule_row(conn, tenant_id, name)
        if row is None:
            raise NotFound(f"alert rule {name!r} not found", field="name")
        return self._stored(row)

    def _stored(self, row: Any) -> StoredRule:
        secret = None if row.webhook_secret is None else self.secrets.open(row.webhook_secret)
        rule = rule_from_dict({**row.spec, "webhook_secret": secret})
        return StoredRule(row.id, row.tenant_id, rule, row.created_at)

    def remove_rule(self, tenant_id: str, name: str, *, actor: str = "api") -> None:
        """Delete a rule and its states; its notification history stays."""
        with self.db.write() as conn:
            row = _rule_row(conn, tenant_id, name)
            if row is None:
                raise NotFound(f"alert rule {name!r} not found", field="name")
            conn.execute(delete(alert_states).where(alert_states.c.rule_id == row.id))
            conn.execute(delete(alert_rules).where(alert_rules.c.id == row.id))
            audit.record(conn, tenant_id, actor, "alert_rule.remove", f"alert_rule/{name}")

    def tenants(self) -> list[str]:
        """Tenants that have at least one rule."""
        with self.db.read() as conn:
            rows = conn.execute(select(alert_rules.c.tenant_id).distinct()).all()
        return sorted(r[0] for r in rows)

    def state(self, rule_id: str, endpoint: str, model: str, version: int) -> State:
        with self.db.read() as conn:
            row = conn.execute(
                select(alert_states).where(*_state_key(rule_id, endpoint, model, version))
            ).first()
        if row is None:
            return State()
        return State(row.breaches, row.firing, row.value, row.since)

    def save(
        self,
        tenant_id: str,
        rule_id: str,
        key: tuple[str, str, int],
        state: State,
        alert: Alert | None = None,
        *,
        expected: State | None = None,
    ) -> bool:
        """Write a state, and the notification of its transition if any, atomically.

        With ``expected`` (the state this change was computed from) it is a
        compare-and-set: when another monitor changed the breaches or the firing flag in
        between (two replicas of ``ailayer up`` each run a monitor), nothing is written
        and False comes back, so a transition is notified once, by whoever wrote it."""
        endpoint, model, version = key
        values = {
            "breaches": state.breaches,
            "firing": state.firing,
            "value": state.value,
            "since": state.since,
            "updated_at": utcnow(),
        }
        where = list(_state_key(rule_id, endpoint, model, version))
        if expected is not None:
            where += [
                alert_states.c.breaches == expected.breaches,
                alert_states.c.firing == expected.firing,
            ]
        with self.db.write() as conn:
            done = conn.execute(update(alert_states).where(*where).values(**values))
            inserted = done.rowcount or self._insert_state(conn, tenant_id, rule_id, key, values)
            if not inserted:
                return False
            if alert is not None:
                conn.execute(insert(alert_notifications).values(**_notification(alert, rule_id)))
        return True

    @staticmethod
    def _insert_state(
        conn: Connection, tenant_id: str, rule_id: str, key: tuple[str, str, int], values: dict
    ) -> bool:
        """The first state of ``key``; False if a row is there already (another writer)."""
        endpoint, model, version = key
        if conn.execute(select(alert_states.c.rule_id).where(*_state_key(rule_id, *key))).first():
            return False
        try:
            with conn.begin_nested():  # a savepoint: a lost race must not abort the rest
                conn.execute(
                    insert(alert_states).values(
                        tenant_id=tenant_id,
                        rule_id=rule_id,
                        endpoint=endpoint,
                        model=model,
                        version=version,
                        **values,
                    )
                )
        except IntegrityError:
            return False
        return True

    def delivered(self, notification_id: str, ok: bool, error: str | None = None) -> None:
        with self.db.write() as conn:
            conn.execute(
                update(alert_notifications)
                .where(alert_notifications.c.id == notification_id)
                .values(
                    delivery="delivered" if ok else "failed",
                    error=error,
                    delivered_at=utcnow() if ok else None,
                )
            )

    def pending(self) -> list[tuple[Alert, str]]:
        """Notifications written but not yet reported delivered or failed (after a crash)."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(alert_notifications.c.payload, alert_notifications.c.rule_id)
                .where(alert_notifications.c.delivery == "pending")
                .order_by(alert_notifications.c.created_at)
            ).all()
        return [(Alert.from_dict(row.payload), row.rule_id) for row in rows]

    def firing(self, tenant_id: str) -> list[dict[str, Any]]:
        """Every (rule, endpoint, version) firing now."""
        query = (
            select(alert_states, alert_rules.c.name, alert_rules.c.spec)
            .join(alert_rules, alert_rules.c.id == alert_states.c.rule_id)
            .where(alert_states.c.tenant_id == tenant_id, alert_states.c.firing.is_(True))
            .order_by(alert_states.c.since)
        )
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [
            {
                "rule": row.name,
                "kind": row.spec.get("kind"),
                "endpoint": row.endpoint,
                "model": row.model,
                "version": row.version,
                "value": row.value,
                "since": row.since,
            }
            for row in rows
        ]

    def history(self, tenant_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """The latest notifications, newest first, with their delivery outcome."""
        query = (
            select(alert_notifications)
            .where(alert_notifications.c.tenant_id == tenant_id)
            .order_by(alert_notifications.c.created_at.desc(), alert_notifications.c.id.desc())
            .limit(limit)
        )
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [
            {
                **row.payload,
                "delivery": row.delivery,
                "error": row.error,
                "delivered_at": row.delivered_at,
            }
            for row in rows
        ]


def iter_rules(store: AlertStore) -> Iterator[tuple[str, list[StoredRule]]]:
    """(tenant, rules) for every tenant with rules."""
    for tenant_id in store.tenants():
        yield tenant_id, store.rules(tenant_id)


def _rule_row(conn: Connection, tenant_id: str, name: str) -> Any:
    return conn.execute(
        select(alert_rules).where(alert_rules.c.tenant_id == tenant_id, alert_rules.c.name == name)
    ).first()


def _state_key(rule_id: str, endpoint: str, model: str, version: int) -> tuple:
    return (
        alert_states.c.rule_id == rule_id,
        alert_states.c.endpoint == endpoint,
        alert_states.c.model == model,
        alert_states.c.version == version,
    )


def _notification(alert: Alert, rule_id: str) -> dict[str, Any]:
    return {
        "id": alert.id,
        "tenant_id": alert.tenant_id,
        "rule_id": rule_id,
        "rule": alert.rule,
        "status": alert.status,
        "endpoint": alert.endpoint,
        "model": alert.model,
        "version": alert.version,
        "payload": alert.to_dict(),
        "delivery": "pending",
        "error": None,
        "created_at": utcnow(),
        "delivered_at": None,
    }
