"""A serving process killed with ``kill -9`` under load loses no prediction-log record of
a prediction it answered more than one second before the kill: its journal is replayed
when the next server starts on the same home."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from ailayer.cli.up import DEMO_EXAMPLE
from tests.support.services import free_port
from tests.support.up import start

pytestmark = pytest.mark.e2e

RECORD = DEMO_EXAMPLE  # the demo fraud model's inputs


def _send_until(stop: threading.Event, url: str, key: str, answered: list) -> None:
    """Predict in a loop; record (answered at, prediction id) of each answer."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(timeout=5) as client:
        while not stop.is_set():
            try:
                response = client.post(f"{url}/v1/predict/fraud", headers=headers, json=RECORD)
            except httpx.TransportError:
                return  # the server is gone
            answered_at = time.monotonic()
            if response.status_code == 200:
                for item in response.json()["predictions"]:
                    answered.append((answered_at, item["prediction_id"]))


def _logged_ids(home: Path) -> set[str]:
    files = [p for p in (home / "offline").rglob("*.parquet") if "endpoint=" in str(p)]
    return {
        i for f in files for i in pq.read_table(f, columns=["prediction_id"]).column(0).to_pylist()
    }


def test_a_killed_server_loses_nothing_answered_a_second_before(tmp_path: Path) -> None:
    cwd = tmp_path / "project"
    cwd.mkdir()
    home = cwd / ".ailayer"
    port = free_port()

    # Part files only every 5 s: what was answered since the last one lives in the journal.
    first = start(cwd, port, run=1, env={"AILAYER_LOG_FLUSH_SECONDS": "5"})
    try:
        first.wait_for_curl(timeout=60)
        first.wait_healthy(timeout=10)
        key = (home / "credentials").read_text().strip()
        answered: list[tuple[float, str]] = []
        stop = threading.Event()
        senders = [
            threading.Thread(target=_send_until, args=(stop, first.url, key, answered))
            for _ in range(2)
        ]
        for sender in senders:
            sender.start()
        time.sleep(3.5)  # under load: flushes, stages and part files all happen
        first.process.kill()  # kill -9: no shutdown hook runs
        killed_at = time.monotonic()
        first.process.wait(timeout=10)
        stop.set()
        for sender in senders:
            sender.join(timeout=10)
    finally:
        if first.process.poll() is None:
            first.process.kill()
            first.process.wait()

    must_keep = {pid for at, pid in answered if at < killed_at - 1.0}
    assert len(must_keep) > 50, "too little load to prove anything"
    assert list((home / "journal").glob("*.journal")), "the killed server left no journal"

    second = start(cwd, port, run=2)
    try:
        second.wait_healthy(timeout=30)  # the log writer replays journals on start
        assert second.stop() == 0, second.logs()
    finally:
        if second.process.poll() is None:
            second.process.kill()
            second.process.wait()

    missing = must_keep - _logged_ids(home)
    assert not missing, f"{len(missing)} of {len(must_keep)} answered predictions lost"
    assert not list((home / "journal").glob("*.journal"))
