"""Evaluating rules: observations → breaches in a row → one ``firing``, one ``resolved``.

Per (tenant, rule, endpoint, model version) a rule fires after ``for_`` breaching
evaluations in a row, once, and resolves on the first later evaluation that does not
breach. An observation without a value (no labels yet, no previous window, an empty
drift window) changes nothing. Where state lives is a small port: ``MemoryStates`` for
rules in code, ``StoreStates`` (the metadata store) for the monitor, so a restarted
monitor neither fires twice nor forgets to resolve.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from typing import Protocol

from ailayer.core.clock import utcnow
from ailayer.monitoring.alerting.notify import Alert, Notifier
from ailayer.monitoring.alerting.observe import Observation, Observer, Reports
from ailayer.monitoring.alerting.rules import AlertRule
from ailayer.monitoring.alerting.store import AlertStore, State

logger = logging.getLogger("ailayer.alerts")

Key = tuple[str, str, int]  # endpoint, model, version


class States(Protocol):
    """Alert state per (tenant, rule, endpoint, model version)."""

    def get(self, tenant_id: str, rule: AlertRule, key: Key) -> State: ...

    def save(
        self,
        tenant_id: str,
        rule: AlertRule,
        key: Key,
        state: State,
        alert: Alert | None,
        expected: State,
    ) -> bool:
        """Store ``state``, and ``alert`` (its transition) with it, atomically, if the
        stored state is still ``expected``; False (nothing stored) if it is not."""


class MemoryStates:
    def __init__(self) -> None:
        self._states: dict[tuple, State] = {}

    def get(self, tenant_id: str, rule: AlertRule, key: Key) -> State:
        return replace(self._states.get((tenant_id, rule.name, *key), State()))

    def save(
        self,
        tenant_id: str,
        rule: AlertRule,
        key: Key,
        state: State,
        alert: Alert | None,
        expected: State,
    ) -> bool:
        self._states[(tenant_id, rule.name, *key)] = replace(state)
        return True  # one evaluator owns these states


class StoreStates:
    """States in the metadata store, for stored rules (``ids``: rule name → rule id)."""

    def __init__(self, store: AlertStore, ids: dict[str, str]) -> None:
        self.store, self.ids = store, ids

    def get(self, tenant_id: str, rule: AlertRule, key: Key) -> State:
        return self.store.state(self.ids[rule.name], *key)

    def save(
        self,
        tenant_id: str,
        rule: AlertRule,
        key: Key,
        state: State,
        alert: Alert | None,
        expected: State,
    ) -> bool:
        rule_id = self.ids[rule.name]
        return self.store.save(tenant_id, rule_id, key, state, alert, expected=expected)


class AlertEvaluator:
    """Evaluates rules per (tenant, endpoint, model version) and notifies transitions.

    ``sources`` is a performance monitor (window kinds only) or an ``Observer`` with
    drift, concept and input sources too. ``errors`` lists what failed in the last
    ``evaluate`` (a failing rule is logged and skipped; the others still run).
    """

    def __init__(
        self,
        sources: Reports | Observer,
        rules: Iterable[AlertRule],
        notifiers: Iterable[Notifier] = (),
        *,
        states: States | None = None,
    ) -> None:
        self.observer = sources if isinstance(sources, Observer) else Observer(sources)
        self.rules = list(rules)
        self.notifiers = list(notifiers)
        self.states: States = states if states is not None else MemoryStates()
        self.errors: list[str] = []

    def evaluate(self, tenant_id: str, endpoint: str) -> list[Alert]:
        """One evaluation: the alerts that fired or resolved now (already notified)."""
        self.observer.reset()
        self.errors = []
        alerts = []
        for rule in self.rules:
            if rule.endpoint not in (None, endpoint):
                continue
            try:
                for observation in self.observer.observe(rule, tenant_id, endpoint):
                    alert = self._step(rule, tenant_id, endpoint, observation)
                    if alert is not None:
                        alerts.append(alert)
            except Exception as exc:  # one broken source must not stop the other rules
                logger.exception("alert rule %s on %s failed", rule.name, endpoint)
                self.errors.append(f"{rule.name} on {endpoint}: {type(exc).__name__}: {exc}")
        for alert in alerts:
            for notifier in self.notifiers:
                notifier.notify(alert)
        return alerts

    def _step(
        self, rule: AlertRule, tenant_id: str, endpoint: str, seen: Observation
    ) -> Alert | None:
        if seen.value is None:
            return None
        key = (endpoint, seen.model, seen.version)
        state = self.states.get(tenant_id, rule, key)
        expected = replace(state)
        status = _transition(rule, state, seen.value)
        alert = None
        if status is not None:
            alert = Alert(
                rule.name,
                status,
                tenant_id,
                endpoint,
                seen.model,
                seen.version,
                rule.watched,
                seen.value,
                rule.threshold,
                seen.window_start,
                kind=rule.kind,
                op=rule.op,
                detail=seen.detail,
            )
        if alert is None and state == expected:
            return None
        if not self.states.save(tenant_id, rule, key, state, alert, expected):
            logger.info(
                "alert %r on %s: state changed by another monitor; its transition stands",
                rule.name,
                endpoint,
            )
            return None
        return alert


def _transition(rule: AlertRule, state: State, value: float) -> str | None:
    """Update ``state`` with one value; the new status when it changed."""
    if rule.breached(value):
        if state.firing:
            state.value = value
            return None
        state.breaches += 1
        if state.breaches < rule.for_:
            return None
        state.firing, state.value, state.since = True, value, utcnow()
        return "firing"
    state.breaches = 0
    if not state.firing:
        return None
    state.firing, state.value, state.since = False, None, None
    return "resolved"
