"""Two scheduler replicas, two real processes, one PostgreSQL: a pipeline is launched
once. With one trigger both see, one replica claims the firing; with two triggers of the
pipeline firing at once, one per replica, the advisory lock lets one launch and the other
records the firing as skipped while the run is being launched."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator

import psycopg
import pytest

from ailayer.pipelines.marks import TriggerMarks
from tests.support.processes import read_until, reap
from tests.support.scheduler import decisions, migrated
from tests.support.services import scratch_postgres_database

NOW = "2026-12-06T12:00:30+00:00"
MODULE = "tests.integration.pipelines.scheduler_replica"


@pytest.fixture
def database() -> Iterator[tuple]:
    with scratch_postgres_database() as url:
        db, tenant = migrated(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE replica_runs (pid integer, trigger text)")
        yield url, db, tenant
        db.dispose()


def start(url: str, tenant: str, cron: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", MODULE, url, tenant, cron, NOW],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def lines_of(proc: subprocess.Popen[str], into: queue.Queue) -> None:
    """Every line ``proc`` prints, tagged with it, into ``into``."""
    assert proc.stdout is not None
    for line in proc.stdout:
        into.put((proc, line.strip()))


def run_pass(replicas: list[subprocess.Popen[str]]) -> list[dict]:
    """Start both passes at once; let a launch finish only once the other replica has
    reported; each replica's result, in the order given."""
    for proc in replicas:
        read_until(proc, "ready", "a replica did not start", timeout=60)
    said: queue.Queue = queue.Queue()
    for proc in replicas:
        threading.Thread(target=lines_of, args=(proc, said), daemon=True).start()
    for proc in replicas:
        say(proc, "go")
    results: dict[subprocess.Popen[str], dict] = {}
    launching = []
    while len(results) < len(replicas):
        proc, line = said.get(timeout=60)
        if line == "launching":
            launching.append(proc)
        elif line.startswith("result "):
            results[proc] = json.loads(line.removeprefix("result "))
        if launching and len(results) == len(replicas) - len(launching):
            say(launching.pop(), "release")  # the others have decided while it launched
    return [results[proc] for proc in replicas]


def say(proc: subprocess.Popen[str], line: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(line + "\n")
    proc.stdin.flush()


def runs(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT pid, trigger FROM replica_runs").fetchall()


def test_two_replicas_seeing_one_firing_launch_it_once(database) -> None:  # type: ignore[no-untyped-def]
    url, db, tenant = database
    TriggerMarks(db).advance(
        tenant, "retrain", "schedule:0 * * * *", None, "2026-12-06T11:00:00+00:00"
    )
    replicas = [start(url, tenant, "0 * * * *") for _ in range(2)]
    try:
        results = run_pass(replicas)
    finally:
        for proc in replicas:
            reap(proc)
    outcomes = sorted(d["outcome"] for r in results for d in r["decisions"])
    assert outcomes == ["launched"], results
    assert len(runs(url)) == 1
    assert decisions(db, tenant) == [("schedule:0 * * * *", "launched", "launched")]


def test_two_replicas_firing_two_triggers_of_one_pipeline_launch_one_run(database) -> None:  # type: ignore[no-untyped-def]
    url, db, tenant = database
    marks = TriggerMarks(db)
    marks.advance(tenant, "retrain", "schedule:0 * * * *", None, "2026-12-06T11:00:00+00:00")
    marks.advance(tenant, "retrain", "schedule:*/30 * * * *", None, "2026-12-06T11:30:00+00:00")
    replicas = [start(url, tenant, "0 * * * *"), start(url, tenant, "*/30 * * * *")]
    try:
        results = run_pass(replicas)
    finally:
        for proc in replicas:
            reap(proc)
    [[first], [second]] = [r["decisions"] for r in results]
    assert sorted([first["outcome"], second["outcome"]]) == ["launched", "skipped"], results
    skipped = first if first["outcome"] == "skipped" else second
    assert skipped["reason"] == "already running: a launch of it holds its lease"
    [(_pid, trigger)] = runs(url)
    launched = first if first["outcome"] == "launched" else second
    assert trigger == launched["key"]
    assert sorted(d[1] for d in decisions(db, tenant)) == ["launched", "skipped"]
