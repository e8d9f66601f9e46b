"""Alert rules on the performance monitor's windows, and signed webhook notifications.

A rule compares one metric of the latest window of each model version behind an
endpoint with a threshold. It fires after ``for_`` breaching evaluations in a row, once,
and notifies again only when it resolves (a later evaluation that does not breach).
A window without the metric (no labels yet, no requests) changes nothing.

Webhook bodies are JSON, signed with HMAC-SHA256 over ``"<timestamp>.<body>"`` in
``X-Ailayer-Signature: sha256=<hex>`` (timestamp in ``X-Ailayer-Timestamp``), so a
receiver can check both origin and freshness. A receiver that is down is retried with
exponential backoff, then the delivery is recorded as failed; evaluation goes on.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import operator
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import orjson

logger = logging.getLogger("ailayer.alerts")

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
SIGNATURE_HEADER = "X-Ailayer-Signature"
TIMESTAMP_HEADER = "X-Ailayer-Timestamp"


@dataclass(frozen=True)
class AlertRule:
    """``metric`` is a dotted path in a window: ``error_rate``, ``latency_ms.p95``,
    ``metrics.roc_auc``, ``vs_training.accuracy.delta``."""

    name: str
    metric: str
    window: str = "hour"
    op: str = ">"
    threshold: float = 0.0
    for_: int = 1

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"op must be one of {sorted(OPS)}; got {self.op!r}")
        if self.for_ < 1:
            raise ValueError("for_ must be at least 1")

    def value(self, window: dict) -> float | None:
        found: Any = window
        for part in self.metric.split("."):
            found = found.get(part) if isinstance(found, dict) else None
        return float(found) if isinstance(found, int | float) else None


@dataclass(frozen=True)
class Alert:
    """One notification: a rule started (``firing``) or stopped (``resolved``) breaching."""

    rule: str
    status: str
    tenant_id: str
    endpoint: str
    model: str
    version: int
    metric: str
    value: float
    threshold: float
    window_start: str
    at: float = field(default_factory=time.time)

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


class Notifier(Protocol):
    """Delivers an alert; returns False when it could not (never raises)."""

    def notify(self, alert: Alert) -> bool: ...


class WebhookNotifier:
    """POSTs each alert as signed JSON; retries connection errors, 429 and 5xx."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        attempts: int = 4,
        backoff: float = 0.5,
        timeout: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url, self.secret = url, secret.encode()
        self.attempts, self.backoff, self.timeout, self.sleep = attempts, backoff, timeout, sleep
        self.failed: list[Alert] = []

    def notify(self, alert: Alert) -> bool:
        body = orjson.dumps(alert.to_dict())
        for attempt in range(self.attempts):
            if attempt:
                self.sleep(self.backoff * 2 ** (attempt - 1))
            outcome = self._post(body)
            if outcome is not None:
                if not outcome:
                    break
                return True
        logger.warning("alert %s (%s) not delivered to %s", alert.rule, alert.status, self.url)
        self.failed.append(alert)
        return False

    def headers(self, body: bytes, timestamp: str) -> dict[str, str]:
        mac = hmac.new(self.secret, timestamp.encode() + b"." + body, hashlib.sha256)
        return {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: f"sha256={mac.hexdigest()}",
        }

    def _post(self, body: bytes) -> bool | None:
        """True delivered, False refused for good (4xx), None worth retrying."""
        headers = self.headers(body, str(int(time.time())))
        try:
            response = httpx.post(self.url, content=body, headers=headers, timeout=self.timeout)
        except httpx.HTTPError:
            return None
        if response.status_code < 300:
            return True
        return None if response.status_code == 429 or response.status_code >= 500 else False


def verify(
    secret: str, body: bytes, timestamp: str, signature: str, max_age: float = 300.0
) -> bool:
    """What a receiver runs: a fresh timestamp and a constant-time signature check."""
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > max_age:
        return False
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(f"sha256={mac.hexdigest()}", signature)


class Reports(Protocol):
    def report(self, tenant_id: str, endpoint: str, window: str = "hour") -> dict: ...


@dataclass
class _State:
    breaches: int = 0
    firing: bool = False


class AlertEvaluator:
    """Evaluates rules per (tenant, endpoint, model version); remembers what is firing."""

    def __init__(
        self, performance: Reports, rules: Iterable[AlertRule], notifiers: Iterable[Notifier]
    ) -> None:
        self.performance = performance
        self.rules = list(rules)
        self.notifiers = list(notifiers)
        self._states: dict[tuple, _State] = {}

    def evaluate(self, tenant_id: str, endpoint: str) -> list[Alert]:
        """One evaluation: the alerts that fired or resolved now (already notified)."""
        alerts = []
        for window_name in sorted({rule.window for rule in self.rules}):
            report = self.performance.report(tenant_id, endpoint, window=window_name)
            for window in _latest_per_version(report["windows"]):
                for rule in (r for r in self.rules if r.window == window_name):
                    alert = self._step(rule, tenant_id, endpoint, window)
                    if alert is not None:
                        alerts.append(alert)
        for alert in alerts:
            for notifier in self.notifiers:
                notifier.notify(alert)
        return alerts

    def _step(self, rule: AlertRule, tenant_id: str, endpoint: str, window: dict) -> Alert | None:
        value = rule.value(window)
        if value is None:
            return None
        key = (tenant_id, endpoint, window["model"], window["version"], rule.name)
        state = self._states.setdefault(key, _State())
        if OPS[rule.op](value, rule.threshold):
            state.breaches += 1
            if state.firing or state.breaches < rule.for_:
                return None
            state.firing, status = True, "firing"
        else:
            state.breaches = 0
            if not state.firing:
                return None
            state.firing, status = False, "resolved"
        return Alert(
            rule.name,
            status,
            tenant_id,
            endpoint,
            window["model"],
            window["version"],
            rule.metric,
            value,
            rule.threshold,
            str(window["window_start"]),
        )


def _latest_per_version(windows: list[dict]) -> list[dict]:
    latest: dict[tuple, dict] = {}
    for window in windows:
        key = (window["model"], window["version"])
        if key not in latest or window["window_start"] > latest[key]["window_start"]:
            latest[key] = window
    return list(latest.values())
