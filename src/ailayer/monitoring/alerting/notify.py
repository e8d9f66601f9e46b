"""Alerts and how they leave: signed webhooks and ``ailayer.alert.*`` events on the bus.

Webhook bodies are JSON (``Alert.to_dict()``), signed with HMAC-SHA256 over
``"<timestamp>.<body>"`` in ``X-Ailayer-Signature: sha256=<hex>`` (timestamp in
``X-Ailayer-Timestamp``), so a receiver can check both origin and freshness with
``verify``. A receiver that is down is retried with exponential backoff, then the
delivery is recorded as failed.

``Dispatcher`` delivers off the evaluation path: ``submit`` only enqueues; one thread
publishes bus events (on its own event loop and bus connection), a small pool posts
webhooks, and each notification's outcome is written back to the store. A slow or
down receiver therefore never delays the evaluation of other rules.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import queue
import threading
import time
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import httpcore
import httpx
import orjson

from ailayer.core.errors import InvalidInput
from ailayer.core.ids import new_id
from ailayer.events import open_bus
from ailayer.events.envelope import Event, now_rfc3339
from ailayer.monitoring.alerting.destinations import (
    Address,
    PinnedBackend,
    check_webhook_destination,
)

if TYPE_CHECKING:
    from ailayer.monitoring.alerting.rules import AlertRule
    from ailayer.monitoring.alerting.store import AlertStore

logger = logging.getLogger("ailayer.alerts")

SIGNATURE_HEADER = "X-Ailayer-Signature"
TIMESTAMP_HEADER = "X-Ailayer-Timestamp"
FIRED = "ailayer.alert.fired"
RESOLVED = "ailayer.alert.resolved"
EVENT_SOURCE = "/ailayer/monitor"
DEFAULT_TOPIC = "alerts"


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
    kind: str = "metric"
    op: str = ">"
    id: str = field(default_factory=new_id)
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, body: dict) -> Alert:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in body.items() if k in names})


def alert_event(alert: Alert) -> Event:
    """The bus event for an alert; its id is the alert's, so a re-sent one dedups."""
    return Event(
        id=alert.id,
        source=EVENT_SOURCE,
        type=FIRED if alert.status == "firing" else RESOLVED,
        subject=alert.rule,
        time=now_rfc3339(),
        data=alert.to_dict(),
        tenant=alert.tenant_id,
        partitionkey=alert.endpoint,
    )


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
        sleep: Any = time.sleep,
        allow_private: bool = False,
    ) -> None:
        self.url, self.secret = url, secret.encode()
        self.attempts, self.backoff, self.timeout, self.sleep = attempts, backoff, timeout, sleep
        self.allow_private = allow_private
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
        logger.warning("alert %s (%s) not delivered by webhook", alert.rule, alert.status)
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
        try:
            addresses = check_webhook_destination(self.url, allow_private=self.allow_private)
        except InvalidInput as refused:
            logger.warning("webhook refused: %s", refused.message)
            return False
        headers = self.headers(body, str(int(time.time())))
        try:
            if addresses and not _proxied(self.url):
                status = self._post_pinned(addresses[0], body, headers)
            else:  # an egress proxy resolves and connects (or the name does not resolve)
                status = httpx.post(
                    self.url, content=body, headers=headers, timeout=self.timeout
                ).status_code
        except (httpx.HTTPError, *HTTPCORE_FAILURES):
            return None
        if status < 300:
            return True
        return None if status == 429 or status >= 500 else False

    def _post_pinned(self, address: Address, body: bytes, headers: dict[str, str]) -> int:
        """POST to ``address``, the one just checked, not to what the name resolves to now."""
        with httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(), network_backend=PinnedBackend(address)
        ) as pool:
            timeouts = dict.fromkeys(("connect", "read", "write", "pool"), self.timeout)
            response = pool.request(
                "POST", self.url, headers=headers, content=body, extensions={"timeout": timeouts}
            )
            return response.status


HTTPCORE_FAILURES = (
    httpcore.NetworkError,
    httpcore.TimeoutException,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
)


def _proxied(url: str) -> bool:
    """Whether the environment sends ``url`` through a proxy (as httpx would)."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(parts.hostname or "")


def verify(
    secret: str, body: bytes, timestamp: str, signature: str, max_age: float = 300.0
) -> bool:
    """What a receiver runs: a fresh timestamp and a constant-time signature check."""
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > max_age:
        return False
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(f"sha256={mac.hexdigest()}", signature)


@dataclass(frozen=True)
class WebhookOptions:
    attempts: int = 4
    backoff: float = 0.5
    timeout: float = 5.0
    allow_private: bool = False


class Dispatcher:
    """Delivers alerts in the background; see the module docstring.

    ``submit`` never blocks (a full queue records the notification as failed);
    ``close`` waits for what was submitted, so ``ailayer monitor --once`` exits after
    every notification has an outcome.
    """

    def __init__(
        self,
        store: AlertStore | None,
        bus_url: str | None,
        *,
        topic: str = DEFAULT_TOPIC,
        webhooks: WebhookOptions = WebhookOptions(),
        workers: int = 4,
        capacity: int = 10_000,
        bus_timeout: float = 10.0,
    ) -> None:
        self.store, self.bus_url, self.topic = store, bus_url, topic
        self.webhooks, self.bus_timeout = webhooks, bus_timeout
        self._queue: queue.Queue[tuple[Alert, AlertRule | None] | None] = queue.Queue(capacity)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="ailayer-webhook")
        self._thread = threading.Thread(target=self._run, name="ailayer-alerts", daemon=True)
        self._started = False
        self.delivered = 0
        self.failed = 0

    def start(self) -> Dispatcher:
        if not self._started:
            self._started = True
            self._thread.start()
        return self

    def submit(self, alert: Alert, rule: AlertRule | None) -> bool:
        """Queue ``alert`` for the bus and, if ``rule`` has one, its webhook."""
        self.start()
        try:
            self._queue.put_nowait((alert, rule))
            return True
        except queue.Full:
            self._record(alert, ["dispatcher queue full"])
            return False

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is queued, then stop the thread and the webhook pool."""
        if self._started:
            self._queue.put(None)
            self._thread.join(timeout)
        self._pool.shutdown(wait=True)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        bus = open_bus(self.bus_url) if self.bus_url else None
        try:
            while (item := self._queue.get()) is not None:
                self._deliver(loop, bus, *item)
        finally:
            if bus is not None:
                loop.run_until_complete(_close(bus))
            loop.close()

    def _deliver(self, loop: asyncio.AbstractEventLoop, bus: Any, alert: Alert, rule: Any) -> None:
        errors: list[str] = []
        if bus is not None:
            publish = bus.publish(self.topic, [alert_event(alert)])
            try:
                loop.run_until_complete(asyncio.wait_for(publish, self.bus_timeout))
            except Exception as exc:  # a broker outage is recorded, never raised
                errors.append(f"bus: {type(exc).__name__}: {exc}")
        if rule is None or rule.webhook_url is None:
            self._record(alert, errors)
            return
        future = self._pool.submit(self._post, alert, rule)
        future.add_done_callback(lambda done: self._finish(alert, errors, done))

    def _post(self, alert: Alert, rule: Any) -> bool:
        options = self.webhooks
        hook = WebhookNotifier(
            rule.webhook_url,
            rule.webhook_secret,
            attempts=options.attempts,
            backoff=options.backoff,
            timeout=options.timeout,
            allow_private=options.allow_private,
        )
        return hook.notify(alert)

    def _finish(self, alert: Alert, errors: list[str], done: Future[bool]) -> None:
        if done.exception() is not None or not done.result():
            errors = [*errors, "webhook: not delivered after retries"]
        self._record(alert, errors)

    def _record(self, alert: Alert, errors: list[str]) -> None:
        if errors:
            self.failed += 1
        else:
            self.delivered += 1
        if self.store is None:
            return
        try:
            self.store.delivered(alert.id, not errors, "; ".join(errors) or None)
        except Exception:
            logger.exception("recording the delivery of alert %s failed", alert.id)


async def _close(bus: Any) -> None:
    try:
        await bus.close()
    except Exception:
        logger.exception("closing the alert dispatcher's bus failed")
