"""SIGTERM during a burst loses nothing: a real ``ailayer serve`` process answers every
request it took with a 2xx (and logs each answered prediction, and nothing else), and a
real ``ailayer consume`` process stopped mid-burst hands back what it had not finished,
so that after a restart every published event was handled exactly once. The server's
measured usage is written on the way out, too."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from ailayer.bootstrap import build
from ailayer.core.settings import load_settings
from ailayer.cost.report import usage_totals
from ailayer.db.engine import Database
from ailayer.events import new_event, open_bus
from tests.support.services import free_port
from tests.support.up import ailayer_command

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]  # `--handler tests.support...` imports from here
RECORD = {
    "amount": 1890.0,
    "card_age_days": 2.0,
    "device_new": 1.0,
    "hour_of_day": 3.0,
    "payments_last_24h": 7.0,
    "foreign_country": 1.0,
}
ROWS = 500  # per request: long enough that requests are in flight when SIGTERM comes
CLIENTS = 6


@dataclass
class Burst:
    """What the clients saw: answered prediction ids, and every other outcome."""

    answered: set[str] = field(default_factory=set)
    statuses: Counter = field(default_factory=Counter)
    refused: Counter = field(default_factory=Counter)  # exception names: no answer at all
    in_flight_at_signal: int = 0
    signalled: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def client_loop(url: str, key: str, burst: Burst, stop: threading.Event) -> None:
    body = [RECORD] * ROWS
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as client:
        while not stop.is_set():
            sent = time.monotonic()
            try:
                answer = client.post("/v1/predict/fraud", json=body, timeout=30)
            except httpx.TransportError as exc:
                with burst.lock:
                    burst.refused[type(exc).__name__] += 1
                time.sleep(0.01)
                continue
            with burst.lock:
                burst.statuses[answer.status_code] += 1
                if answer.status_code == 200:
                    ids = [p["prediction_id"] for p in answer.json()["predictions"]]
                    burst.answered.update(ids)
                    if burst.signalled is not None and sent < burst.signalled:
                        burst.in_flight_at_signal += 1


def run(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*ailayer_command(), *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited early"
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("no /healthz answer")


def test_sigterm_during_a_burst_answers_every_request_the_server_took(tmp_path: Path) -> None:
    cwd = tmp_path / "project"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AILAYER_")}
    set_up = run(cwd, env, "up", "--no-serve")
    assert set_up.returncode == 0, set_up.stderr
    key = (cwd / ".ailayer" / "credentials").read_text().strip()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    err = (tmp_path / "serve.err").open("w")
    server = subprocess.Popen(
        [*ailayer_command(), "serve", "--port", str(port)],
        cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err,
    )  # fmt: skip
    burst, stop = Burst(), threading.Event()
    clients = [
        threading.Thread(target=client_loop, args=(url, key, burst, stop)) for _ in range(CLIENTS)
    ]
    try:
        wait_healthy(url, server)
        started = time.time()
        for thread in clients:
            thread.start()
        while len(burst.answered) < 20 * ROWS:
            assert server.poll() is None, (tmp_path / "serve.err").read_text()
            time.sleep(0.01)
        with burst.lock:
            burst.signalled = time.monotonic()
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=60)
    finally:
        stop.set()
        for thread in clients:
            thread.join(timeout=60)
        if server.poll() is None:
            server.kill()
            server.wait()
        err.close()
    logs = (tmp_path / "serve.err").read_text()
    assert code == 0, logs
    assert set(burst.statuses) == {200}, (burst.statuses, logs)  # no 5xx while stopping
    assert burst.in_flight_at_signal > 0  # requests were in flight, and were answered
    assert set(burst.refused) <= {"ConnectError", "RemoteProtocolError", "ReadError"}
    logged = logged_ids(cwd, started)
    assert burst.answered <= logged, "answered predictions missing from the log"
    assert logged <= burst.answered, "predictions the server made whose answer never came"
    # the burst was shorter than cost_flush_seconds: its CPU was written at shutdown
    cost = run(cwd, env, "cost", "--tenant", "default", "--since", "1h", "--json")
    assert cost.returncode == 0, cost.stderr
    [line] = [x for x in json.loads(cost.stdout)["endpoints"] if x["endpoint"] == "fraud"]
    assert line["cpu_seconds"] > 0 and line["predictions"] >= len(burst.answered)


def logged_ids(cwd: Path, since: float) -> set[str]:
    """Prediction ids of the log rows written since ``since`` (the demo's own are older)."""
    services = build(load_settings(home=cwd / ".ailayer"), migrate=False)
    try:
        tenant_id = services.keys.tenant_id("default")
        start = datetime.fromtimestamp(since, UTC)
        table = services.prediction_log.query(tenant_id, "fraud", start, datetime.now(UTC))
        return set(table.column("prediction_id").to_pylist())
    finally:
        services.close()


def publish(url: str, ids: list[str], pace: float) -> None:
    async def main() -> None:
        bus = open_bus(url)
        try:
            for chunk in range(0, len(ids), 20):
                events = [
                    replace(new_event("payment.created", "/billing", {}, tenant="t1"), id=i)
                    for i in ids[chunk : chunk + 20]
                ]
                await bus.publish("payments", events)
                await asyncio.sleep(pace)
        finally:
            await bus.close()

    asyncio.run(main())


def consumer(env: dict[str, str], *extra: str) -> subprocess.Popen:
    args = ["consume", "billing", "--topic", "payments"]
    args += ["--handler", "tests.support.cli_handlers:append_slowly", "--concurrency", "8"]
    return subprocess.Popen(
        [*ailayer_command(), *args, *extra], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def handled(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_sigterm_during_a_burst_of_events_loses_and_repeats_nothing(tmp_path: Path) -> None:
    bus_url = f"embedded://{tmp_path / 'bus.db'}"
    out = tmp_path / "handled.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AILAYER_")}
    env |= {"AILAYER_EVENT_BUS": bus_url, "AILAYER_HOME": str(tmp_path / "home")}
    env |= {"HANDLED_FILE": str(out)}
    ids = [f"ev-{n:04d}" for n in range(600)]
    migrated = subprocess.run(
        [*ailayer_command(), "db", "upgrade"], env=env, cwd=tmp_path, check=False
    )
    assert migrated.returncode == 0  # the consumers write their events' usage there
    publish(bus_url, ids[:20], 0)  # the topic exists before the group joins
    first = consumer(env)
    try:
        publisher = threading.Thread(target=publish, args=(bus_url, ids[20:], 0.02))
        publisher.start()
        deadline = time.monotonic() + 60
        while len(handled(out)) < 100:
            assert first.poll() is None and time.monotonic() < deadline, first.stdout
            time.sleep(0.01)
        first.send_signal(signal.SIGTERM)
        output, _ = first.communicate(timeout=60)
        publisher.join(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, output
    stopped_at = len(handled(out))
    assert stopped_at < len(ids), "the burst ended before SIGTERM: nothing was tested"

    second = consumer(env, "--until-idle")
    output, _ = second.communicate(timeout=120)
    assert second.returncode == 0, output
    seen = Counter(handled(out))
    assert set(seen) == set(ids), f"lost: {sorted(set(ids) - set(seen))[:10]}"
    assert [i for i, n in seen.items() if n > 1] == [], "handled more than once"
    # both runs wrote the events they were delivered (the first one on its way out)
    db = Database(f"sqlite:///{tmp_path / 'home' / 'meta.db'}")
    try:
        now = datetime.now(UTC)
        usage = usage_totals(db, "t1", now - timedelta(hours=1), now + timedelta(minutes=1))
    finally:
        db.dispose()
    assert usage[("events_out", "", 0)] >= len(ids)
