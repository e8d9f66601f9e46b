"""The monitor: every tenant's stored rules, on every endpoint, on a schedule.

One pass reads each tenant's rules from the store, evaluates them on each endpoint the
tenant has (declared endpoints and endpoints with logged predictions), keeps state in the
store and hands every transition to the ``Dispatcher``. ``ailayer monitor`` runs passes
in the foreground; ``ailayer up`` runs them in a background thread (``start_background``).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ailayer.monitoring.alerting.evaluator import AlertEvaluator, StoreStates
from ailayer.monitoring.alerting.inputs import InputWatch
from ailayer.monitoring.alerting.notify import Alert, Dispatcher, WebhookOptions
from ailayer.monitoring.alerting.observe import Observer
from ailayer.monitoring.alerting.store import AlertStore, iter_rules
from ailayer.monitoring.log.layout import logged_endpoints as endpoints_in_log

if TYPE_CHECKING:
    from ailayer.bootstrap import Services

logger = logging.getLogger("ailayer.alerts")


@dataclass
class Pass:
    """What one pass did."""

    alerts: list[Alert] = field(default_factory=list)
    evaluated: int = 0  # (tenant, endpoint) pairs
    errors: list[str] = field(default_factory=list)


class Monitor:
    def __init__(
        self, services: Services, dispatcher: Dispatcher, observer: Observer | None = None
    ) -> None:
        self.services = services
        self.store: AlertStore = services.alerts
        self.dispatcher = dispatcher
        self.observer = observer or observer_for(services)

    def run_once(self) -> Pass:
        """Evaluate every tenant's rules once; transitions are queued for delivery."""
        done = Pass()
        for tenant_id, stored in iter_rules(self.store):
            rules = [s.rule for s in stored]
            by_name = {s.rule.name: s.rule for s in stored}
            states = StoreStates(self.store, {s.rule.name: s.id for s in stored})
            evaluator = AlertEvaluator(self.observer, rules, states=states)
            for endpoint in self.endpoints(tenant_id, rules):
                alerts = evaluator.evaluate(tenant_id, endpoint)
                done.evaluated += 1
                done.errors += evaluator.errors
                for alert in alerts:
                    self.dispatcher.submit(alert, by_name[alert.rule])
                done.alerts += alerts
        return done

    def endpoints(self, tenant_id: str, rules: list[Any]) -> list[str]:
        named = {r.endpoint for r in rules if r.endpoint is not None}
        if any(r.endpoint is None for r in rules):
            named |= {e["name"] for e in self.services.endpoints.list(tenant_id)}
            named |= logged_endpoints(self.services, tenant_id)
        return sorted(named)

    def resend_pending(self) -> int:
        """Queue notifications a previous run stored but never reported (at least once)."""
        pending = self.store.pending()
        rules = {s.id: s.rule for _, stored in iter_rules(self.store) for s in stored}
        for alert, rule_id in pending:
            self.dispatcher.submit(alert, rules.get(rule_id))
        return len(pending)

    def run(self, interval: float, stop: threading.Event, report: Any = None) -> None:
        """Passes every ``interval`` seconds until ``stop`` is set; a failed pass is logged."""
        try:
            self.resend_pending()
        except Exception:
            logger.exception("re-sending pending alert notifications failed")
        while not stop.is_set():
            try:
                done = self.run_once()
                if report is not None:
                    report(done)
            except Exception:
                logger.exception("alert monitor pass failed")
            stop.wait(interval)


def observer_for(services: Services) -> Observer:
    return Observer(
        services.performance,
        drift=getattr(services, "drift", None),
        concept=services.concept,
        inputs=InputWatch(services.prediction_log),
    )


def dispatcher_for(services: Services) -> Dispatcher:
    settings = services.settings
    webhooks = WebhookOptions(allow_private=settings.alert_webhooks_allow_private)
    return Dispatcher(
        services.alerts, settings.event_bus, topic=settings.alert_topic, webhooks=webhooks
    )


def logged_endpoints(services: Services, tenant_id: str) -> set[str]:
    return endpoints_in_log(services.prediction_log.tenant_root(tenant_id))


class Background:
    """The monitor in a daemon thread (embedded mode); ``stop`` ends it and its deliveries."""

    def __init__(self, services: Services, interval: float) -> None:
        self.dispatcher = dispatcher_for(services)
        self.monitor = Monitor(services, self.dispatcher)
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self.monitor.run,
            args=(interval, self._stop, _log_pass),
            name="ailayer-monitor",
            daemon=True,
        )

    def start(self) -> Background:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        self.dispatcher.close(timeout)


def start_background(services: Services) -> Background | None:
    """Start the monitor thread unless ``monitor_interval_seconds`` is 0."""
    interval = services.settings.monitor_interval_seconds
    return Background(services, interval).start() if interval > 0 else None


def _log_pass(done: Pass) -> None:
    for alert in done.alerts:
        logger.warning(
            "alert %s %s: %s on %s v%s = %s",
            alert.rule,
            alert.status,
            alert.metric,
            alert.endpoint,
            alert.version,
            alert.value,
        )
