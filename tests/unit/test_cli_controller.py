"""``ailayer controller`` and the controller thread of ``up``, wired by bootstrap over the
real prediction log; the policy store is the in-memory compare-and-set double (the
database store is wired by ``bootstrap.policy_store``)."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest

import ailayer.bootstrap
from ailayer.bootstrap import build, start_rollout_controller
from ailayer.cli.roles import role_listener
from ailayer.core.clock import utcnow
from ailayer.rollout.metrics import ControllerCollector
from ailayer.rollout.policy import CanaryPlan, Policy, Variant
from tests.support.cli import assert_one_clear_error, ok, run
from tests.support.policy_store import MemoryPolicyStore
from tests.support.services import free_port
from tests.support.variant_traffic import log_request

STABLE = Variant("stable", "fraud", 1, 95)
CANARY = Variant("canary", "fraud", 2, 5)
PLAN = CanaryPlan(step_seconds=60, min_requests=100)


@pytest.fixture
def store(services, monkeypatch):  # type: ignore[no-untyped-def]
    """A canary of ``fraud`` for tenant acme, stored two minutes ago; the CLI's
    services (on the same home) use this store."""
    monkeypatch.setenv("AILAYER_HOME", str(services.settings.home))
    began = utcnow() - timedelta(minutes=2)
    policies = MemoryPolicyStore(clock=lambda: began)
    policies.deploy("acme", Policy("fraud", "canary", (STABLE, CANARY), canary=PLAN))
    policies.clock = utcnow
    monkeypatch.setattr(ailayer.bootstrap, "policy_store", lambda services: policies)
    return policies


def traffic(services, failing: int = 0) -> None:  # type: ignore[no-untyped-def]
    """200 stable and 120 canary requests over the last minute, ``failing`` of the
    canary's failed."""
    now = utcnow()
    for i in range(200):
        log_request(services, "acme", STABLE, now - timedelta(seconds=60 - i * 0.25), 10.0)
    for i in range(120):
        error = "model_error: boom" if i < failing else None
        moment = now - timedelta(seconds=60 - i * 0.4)
        log_request(services, "acme", CANARY, moment, 11.0, error=error)
    services.prediction_log.flush()


def test_once_steps_a_healthy_canary_and_prints_why(services, store) -> None:  # type: ignore[no-untyped-def]
    traffic(services)

    result = ok("controller", "--once")

    lines = result.stdout.splitlines()
    assert lines[0].startswith("step     acme/fraud (revision 2): step to 25%: 120 canary requests")
    assert lines[-1] == "judged 1 canary(ies): 1 moved, 0 conflict(s), 0 error(s)"
    moved = store.active("acme", "fraud")
    assert (moved.variant("canary").share, moved.revision) == (25, 2)
    assert moved.reason == lines[0].split(": ", 1)[1]


def test_once_rolls_back_a_failing_canary(services, store) -> None:  # type: ignore[no-untyped-def]
    traffic(services, failing=30)

    result = ok("controller", "--once")

    assert result.stdout.startswith(
        "rollback acme/fraud (revision 2): canary error rate 0.250 exceeds stable 0.000 + 0.010"
    )
    assert store.active("acme", "fraud").state == "rolled_back"


def test_a_loop_needs_an_interval_above_zero(services, store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AILAYER_ROLLOUT_INTERVAL_SECONDS", "0")
    assert_one_clear_error(run("controller"), 1, "--interval must be above 0")
    assert_one_clear_error(run("controller", "--interval", "0"), 2, "0")


def test_the_thread_of_up_judges_on_the_setting_interval(make_settings, store) -> None:  # type: ignore[no-untyped-def]
    idle = build(make_settings(rollout_interval_seconds=0))
    try:
        assert start_rollout_controller(idle) is None
    finally:
        idle.close()
    services = build(make_settings(rollout_interval_seconds=0.05))
    try:
        traffic(services)
        running = start_rollout_controller(services)
        assert running is not None and running.controller.interval == 0.05
        try:
            deadline = time.monotonic() + 30
            while store.active("acme", "fraud").revision < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            running.stop()
        assert store.active("acme", "fraud").variant("canary").share == 25
        assert running.controller.counts.steps == 1
    finally:
        services.close()


def test_metrics_are_served_on_their_own_port(services, store) -> None:  # type: ignore[no-untyped-def]
    controller = ailayer.bootstrap.rollout_controller(services)
    traffic(services)
    controller.run_once()
    port = free_port()
    with role_listener([ControllerCollector(controller.counts)], port, "127.0.0.1"):
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert 'ailayer_rollout_transitions_total{action="step"} 1.0' in text
