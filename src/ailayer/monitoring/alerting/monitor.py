"""The monitor: every tenant's stored rules, on every endpoint, on a schedule.

One pass reads each tenant's rules from the store, evaluates them on each endpoint the
tenant has (declared endpoints and endpoints with logged predictions), keeps state in the
store and hands every transition to the ``Dispatcher``. ``ailayer monitor`` runs passes
in the foreground; ``ailayer up`` runs them in a background thread (``Background``). The
monitor is given what it reads; ``bootstrap.alert_monitor`` wires it from the services.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from ailayer.models.endpoints import EndpointService
from ailayer.monitoring.alerting.evaluator import AlertEvaluator, StoreStates
from ailayer.monitoring.alerting.notify import Alert, Dispatcher
from ailayer.monitoring.alerting.observe import Observer
from ailayer.monitoring.alerting.store import AlertStore, iter_rules
from ailayer.monitoring.log.predictions import PredictionLog

logger = logging.getLogger("ailayer.alerts")


@dataclass
class Pass:
    """What one pass did."""

    alerts: list[Alert] = field(default_factory=list)
    evaluated: int = 0  # (tenant, endpoint) pairs
    errors: list[str] = field(default_factory=list)


class Monitor:
    """Passes over every tenant's rules; an endpoint is one the tenant declared
    (``endpoint_service``) or has predictions logged for (``log``)."""

    def __init__(
        self,
        store: AlertStore,
        dispatcher: Dispatcher,
        observer: Observer,
        endpoint_service: EndpointService,
        log: PredictionLog,
    ) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.observer = observer
        self.endpoint_service = endpoint_service
        self.log = log

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
            named |= {e["name"] for e in self.endpoint_service.list(tenant_id)}
            named |= self.log.endpoints(tenant_id)
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


class Background:
    """The monitor in a daemon thread (embedded mode); ``stop`` ends it and its deliveries."""

    def __init__(self, monitor: Monitor, interval: float) -> None:
        self.monitor = monitor
        self.dispatcher = monitor.dispatcher
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
