"""The prediction log: every field recorded, drops counted without blocking, tenants
kept apart, PII hashed or redacted, the writer flushing on interval and on stop."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from ailayer.monitoring.log import LogWriter, PredictionLog
from tests.support.log_records import items, target


@pytest.fixture
def tenants(services):  # type: ignore[no-untyped-def]
    return services.keys.create_tenant("acme"), services.keys.create_tenant("globex")


def test_every_prediction_is_recorded_with_its_fields(services, tenants) -> None:  # type: ignore[no-untyped-def]
    log: PredictionLog = services.prediction_log
    acme, _ = tenants
    rows = [{"amount": 10.0}, {"amount": 20.5}]
    started = time.perf_counter()
    assert log.record(acme, target(), rows, items(2), started)
    assert log.record_failure(acme, target(), started, "invalid_input")
    assert log.flush() == 3
    table = log.query(acme, "fraud").to_pylist()
    assert [r["prediction_id"] for r in table[:2]] == [f"{0:032x}", f"{1:032x}"]
    first = table[0]
    assert (first["tenant_id"], first["endpoint"], first["model"]) == (acme, "fraud", "fraud")
    assert (first["version"], first["alias"], first["request_row"]) == (1, "champion", 0)
    assert orjson.loads(first["features"]) == {"amount": 10.0}
    assert orjson.loads(first["prediction"]) is True
    assert first["score"] == 0.0 and first["error"] is None
    assert first["latency_ms"] >= 0
    assert abs(first["time"] - datetime.now(UTC)) < timedelta(minutes=1)
    failure = table[2]
    assert failure["error"] == "invalid_input" and failure["prediction"] is None


def test_query_filters_time_and_returns_pandas(services, tenants) -> None:  # type: ignore[no-untyped-def]
    log: PredictionLog = services.prediction_log
    acme, _ = tenants
    log.record(acme, target(), [{"amount": 1.0}], items(1), time.perf_counter())
    log.flush()
    now = datetime.now(UTC)
    assert len(log.query(acme, "fraud", now - timedelta(hours=1), now + timedelta(hours=1))) == 1
    assert len(log.query(acme, "fraud", now + timedelta(hours=1), now + timedelta(hours=2))) == 0
    frame = log.query(acme, "fraud", as_pandas=True)
    assert list(frame["endpoint"]) == ["fraud"]
    assert len(log.query(acme, "other")) == 0


def test_full_buffer_drops_and_counts_never_blocking(services, tenants) -> None:  # type: ignore[no-untyped-def]
    acme, _ = tenants
    log = PredictionLog(services.offline.tenant_root, None, capacity_rows=5)  # type: ignore[arg-type]
    started = time.perf_counter()
    accepted = [log.record(acme, target(), None, items(1, i), started) for i in range(8)]
    assert accepted == [True] * 5 + [False] * 3
    assert not log.record(acme, target(), None, items(50), started)  # too big: dropped whole
    assert (log.dropped, log.buffer.rows) == (53, 5)
    assert time.perf_counter() - started < 0.1
    log.buffer.drain()
    assert log.record(acme, target(), None, items(1), started)


def test_tenants_never_see_each_other(services, tenants) -> None:  # type: ignore[no-untyped-def]
    acme, globex = tenants
    log: PredictionLog = services.prediction_log
    started = time.perf_counter()
    log.record(acme, target(), None, items(2), started)
    log.record(globex, target(), None, items(3, 100), started)
    log.flush()
    assert {r["tenant_id"] for r in log.query(acme, "fraud").to_pylist()} == {acme}
    assert len(log.query(acme, "fraud")) == 2
    assert len(log.query(globex, None)) == 3
    assert set(log.lookup(acme, [f"{100:032x}", f"{0:032x}"])) == set()  # id not made "now"


def test_pii_fields_are_hashed_with_a_tenant_salt_or_redacted(services, tenants) -> None:  # type: ignore[no-untyped-def]
    acme, globex = tenants
    log: PredictionLog = services.prediction_log
    tagged = target(tags={"pii": "email", "pii_redact": "ssn"})
    row = {"email": "ann@example.com", "ssn": "123-45-6789", "amount": 3.0}
    log.record(acme, tagged, [dict(row)], items(1), time.perf_counter())
    log.record(globex, tagged, [dict(row)], items(1), time.perf_counter())
    log.flush()
    stored = {
        t: orjson.loads(log.query(t, "fraud").to_pylist()[0]["features"]) for t in (acme, globex)
    }
    salt = services.prediction_log.backend.sink.salts.salt(acme)
    expected = hashlib.sha256(salt + orjson.dumps("ann@example.com")).hexdigest()
    assert stored[acme] == {"email": f"sha256:{expected}", "ssn": "[redacted]", "amount": 3.0}
    assert stored[globex]["email"] != stored[acme]["email"]  # salts differ per tenant
    files = Path(services.offline.tenant_root(acme).path).rglob("*.parquet")
    assert not any(b"ann@example.com" in f.read_bytes() for f in files)


def test_writer_flushes_on_interval_and_on_stop_and_reports_drops_once(
    services, tenants, caplog
) -> None:  # type: ignore[no-untyped-def]
    acme, _ = tenants
    log = PredictionLog(services.offline.tenant_root, None, capacity_rows=3)  # type: ignore[arg-type]

    async def scenario() -> tuple[int, int]:
        async with LogWriter(log, interval=0.05):
            log.record(acme, target(), None, items(2), time.perf_counter())
            for i in range(5):
                log.record(acme, target(), None, items(2, 10 + i), time.perf_counter())
            await asyncio.sleep(0.3)
            during = len(log.query(acme, "fraud"))
            log.record(acme, target(), None, items(1, 50), time.perf_counter())
        return during, len(log.query(acme, "fraud"))

    with caplog.at_level(logging.WARNING, logger="ailayer.monitoring"):
        during, after = asyncio.run(scenario())
    assert (during, after) == (2, 3)
    assert log.dropped == 10
    assert len([r for r in caplog.records if "dropped" in r.message]) == 1
