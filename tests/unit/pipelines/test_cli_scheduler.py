"""``ailayer scheduler`` and the scheduler thread of ``up``, wired by bootstrap; the
declared pipelines and the launch are the test's (bootstrap's seams for the pipelines
core), everything else is the configured stores."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

import ailayer.bootstrap
from ailayer.bootstrap import start_scheduler
from ailayer.monitoring.alerting.notify import Alert, Dispatcher
from ailayer.pipelines.marks import TriggerMarks
from ailayer.pipelines.triggers import Declared, OnAlert, Schedule
from tests.support.cli import assert_one_clear_error, ok, run
from tests.support.processes import read_until, reap
from tests.support.scheduler import RecordingLaunch, decisions


@pytest.fixture
def launch(services, monkeypatch) -> RecordingLaunch:  # type: ignore[no-untyped-def]
    """Tenant acme's pipeline ``retrain`` (every minute, and on drift alerts of fraud),
    its schedule last fired long ago; the CLI's services (same home) launch through it."""
    monkeypatch.setenv("AILAYER_HOME", str(services.settings.home))
    tenant = services.keys.ensure_tenant("acme")
    triggers = (Schedule("* * * * *"), OnAlert(kind="drift", endpoint="fraud"))
    entries = [Declared(tenant, "retrain", triggers)]
    TriggerMarks(services.db).advance(
        tenant, "retrain", triggers[0].key, None, "2026-01-01T00:00:00+00:00"
    )
    recording = RecordingLaunch()
    monkeypatch.setattr(ailayer.bootstrap, "declared_pipelines", lambda services: lambda: entries)
    monkeypatch.setattr(ailayer.bootstrap, "pipeline_launch", lambda services: recording)
    return recording


def test_once_launches_what_fired_and_prints_it(services, launch) -> None:  # type: ignore[no-untyped-def]
    result = ok("scheduler", "--once")
    tenant = services.keys.ensure_tenant("acme")
    lines = result.stdout.splitlines()
    assert lines[0] == f"launched {tenant}/retrain schedule:* * * * * → run-1: launched"
    assert lines[-1] == "1 firing(s): 1 launched, 0 skipped, 0 failed"
    assert len(launch.runs) == 1
    assert decisions(services.db, tenant) == [("schedule:* * * * *", "launched", "launched")]
    assert ok("scheduler", "--once").stdout.splitlines()[-1].startswith("0 firing(s)")


def test_a_failed_launch_is_printed_on_stderr_and_recorded(services, launch) -> None:  # type: ignore[no-untyped-def]
    launch.fail = RuntimeError("no trainer")
    result = ok("scheduler", "--once")
    assert "failed" in result.stderr and "launch: RuntimeError: no trainer" in result.stderr
    assert result.stdout.splitlines()[-1] == "1 firing(s): 0 launched, 0 skipped, 1 failed"
    tenant = services.keys.ensure_tenant("acme")
    assert [d[1] for d in decisions(services.db, tenant)] == ["failed"]


def test_an_interval_of_zero_is_refused(services, launch, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert run("scheduler", "--interval", "0").exit_code == 2
    monkeypatch.setenv("AILAYER_SCHEDULER_INTERVAL_SECONDS", "0")
    assert_one_clear_error(run("scheduler"), 1, "--interval must be above 0")


def test_without_declared_pipelines_nothing_is_launched(services, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AILAYER_HOME", str(services.settings.home))
    assert ok("scheduler", "--once").stdout == "0 firing(s): 0 launched, 0 skipped, 0 failed\n"


def test_the_thread_of_up_launches_on_a_fired_alert_from_the_bus(services, launch) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.ensure_tenant("acme")
    key = "schedule:* * * * *"  # not due while this runs: only the alert launches
    TriggerMarks(services.db).advance(
        tenant, "retrain", key, "2026-01-01T00:00:00+00:00", "2100-01-01T00:00:00+00:00"
    )
    running = start_scheduler(services)
    assert running is not None
    try:
        dispatcher = Dispatcher(
            None, services.settings.event_bus, topic=services.settings.alert_topic
        )
        for kind, endpoint in (
            ("latency", "fraud"),
            ("drift_share", "churn"),
            ("drift_share", "fraud"),
        ):
            alert = Alert("fraud-drift", "firing", tenant, endpoint, "fraud", 1, kind, 0.4, 0.3,
                          "2026-12-06T11:00:00+00:00", kind=kind)  # fmt: skip
            dispatcher.submit(alert, None)
        dispatcher.close(30)
        assert dispatcher.delivered == 3
        deadline = time.monotonic() + 30
        while not launch.runs:
            assert time.monotonic() < deadline, "the alert did not launch the pipeline"
            time.sleep(0.05)
    finally:
        running.stop()
    [(_, pipeline, trigger)] = launch.runs
    assert pipeline == "retrain" and trigger["alert"]["endpoint"] == "fraud"
    assert trigger["alert"]["kind"] == "drift_share"


def test_up_runs_no_scheduler_with_an_interval_of_zero(make_settings) -> None:  # type: ignore[no-untyped-def]
    built = ailayer.bootstrap.build(make_settings(scheduler_interval_seconds=0))
    try:
        assert start_scheduler(built) is None
    finally:
        built.close()


def test_the_worker_stops_cleanly_on_sigterm(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "AILAYER_HOME": str(tmp_path / ".ailayer")}
    worker = subprocess.Popen(
        [sys.executable, "-c", "from ailayer.cli.main import main; main()", "scheduler",
         "--interval", "0.2"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )  # fmt: skip
    try:
        read_until(worker, "checking triggers every 0.2 s (Ctrl-C stops)", "it did not start", 60)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    finally:
        reap(worker)
