"""The prediction log's journal: staged rows survive a process that never flushed, a torn
record is skipped, a live process's journal is left alone, and no raw PII is written."""

from __future__ import annotations

import fcntl
import os
import time

from ailayer.monitoring.log import PredictionLog
from ailayer.monitoring.log.buffer import Entry
from ailayer.monitoring.log.journal import Journal, orphans, read_parts, read_records
from ailayer.monitoring.log.payload import encode_entries
from tests.support.log_records import items, target


def _abandon(log: PredictionLog) -> None:
    """What ``kill -9`` leaves: the journal file stays, its lock dies with the process."""
    segment = log.backend.journal.rotate()
    os.close(segment._fd)


def test_staged_rows_of_a_dead_process_are_replayed_once(services) -> None:  # type: ignore[no-untyped-def]
    log: PredictionLog = services.prediction_log
    tenant = services.keys.create_tenant("acme")
    log.record(tenant, target(), [{"amount": 1.0}] * 3, items(3), time.perf_counter())
    log.stage()
    _abandon(log)
    log.backend._pending.clear()  # the dead process's memory is gone

    assert log.recover() == 3
    assert [r["prediction_id"] for r in log.query(tenant, "fraud").to_pylist()] == [
        f"{i:032x}" for i in range(3)
    ]
    assert log.recover() == 0
    assert not list(log.backend.journal.directory.glob("*.journal"))


def test_a_live_process_journal_is_not_replayed(services, tmp_path) -> None:  # type: ignore[no-untyped-def]
    log: PredictionLog = services.prediction_log
    tenant = services.keys.create_tenant("acme")
    log.record(tenant, target(), [{"amount": 1.0}], items(1), time.perf_counter())
    log.stage()

    assert log.recover() == 0  # our own segment is locked by us
    assert list(orphans(log.backend.journal.directory)) == []
    assert log.flush() == 1
    assert not list(log.backend.journal.directory.glob("*.journal"))


def test_a_torn_last_record_is_ignored(services) -> None:  # type: ignore[no-untyped-def]
    log: PredictionLog = services.prediction_log
    tenant = services.keys.create_tenant("acme")
    for start in (0, 2):
        log.record(tenant, target(), [{"amount": 1.0}] * 2, items(2, start), time.perf_counter())
        log.stage()
    path = log.backend.journal._current.path
    data = path.read_bytes()

    parts = read_parts(data[:-7])

    assert [p.table.num_rows for p in parts] == [2]
    assert read_parts(b"") == [] and read_parts(b"\x00" * 5) == []


def test_the_journal_holds_pii_hashed_never_raw(services) -> None:  # type: ignore[no-untyped-def]
    log: PredictionLog = services.prediction_log
    tenant = services.keys.create_tenant("acme")
    secret = "alice@example.com"
    tagged = target(tags={"pii": "email"})
    log.record(tenant, tagged, [{"amount": 1.0, "email": secret}], items(1), time.perf_counter())
    log.stage()

    path = log.backend.journal._current.path
    assert secret.encode() not in path.read_bytes()
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    fd = os.open(path, os.O_RDONLY)
    try:
        locked_by_us = True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            locked_by_us = False
        except BlockingIOError:
            pass
        assert locked_by_us
    finally:
        os.close(fd)
    log.flush()


def test_a_journal_segment_is_made_only_when_something_is_staged(tmp_path) -> None:  # type: ignore[no-untyped-def]
    journal = Journal(tmp_path / "journal")
    journal.append([])
    assert journal.rotate() is None
    assert not (tmp_path / "journal").exists()


def _payload(tenant: str, start: int, rows: int, tags: dict | None = None) -> bytes:
    """A hand-off payload as a serving process sends its log process: one answered entry
    whose features travel as the predict body."""
    body = ("[" + ", ".join(f'{{"amount": {i}.5}}' for i in range(rows)) + "]").encode()
    entry = Entry(tenant, target(tags=tags), time.time_ns(), 1.0, None, items(rows, start))
    entry.raw = body
    return encode_entries([entry])[0]


def test_a_payload_is_journaled_as_it_came_and_replayed_after_a_crash(services) -> None:  # type: ignore[no-untyped-def]
    log: PredictionLog = services.prediction_log
    tenant = services.keys.create_tenant("acme")
    payloads = [_payload(tenant, 0, 3), _payload(tenant, 3, 2)]
    for payload in payloads:
        assert log.backend.stage_payload(payload) == 0
    path = log.backend.journal._current.path
    assert path.read_bytes().count(payloads[0]) == 1  # the payload itself, not re-encoded
    assert read_records(path.read_bytes()) == payloads
    assert read_records(path.read_bytes()[:-3]) == payloads[:1]  # a torn last one: skipped
    _abandon(log)
    log.backend._entries.clear()  # the dead process's memory is gone

    assert log.recover() == 5
    rows = log.query(tenant, "fraud").to_pylist()
    assert sorted(r["prediction_id"] for r in rows) == [f"{i:032x}" for i in range(5)]
    assert {r["features"] for r in rows} == {
        '{"amount": 0.5}',
        '{"amount": 1.5}',
        '{"amount": 2.5}',
    }
    assert not list(log.backend.journal.directory.glob("*.journal"))


def test_payloads_staged_in_an_interval_are_written_together(services) -> None:  # type: ignore[no-untyped-def]
    log: PredictionLog = services.prediction_log
    tenant = services.keys.create_tenant("acme")
    for start in range(0, 12, 3):
        log.backend.stage_payload(_payload(tenant, start, 3))
    assert log.backend.pending_rows == 12

    assert log.flush() == 12
    files = list(services.settings.home.rglob("*.parquet"))
    assert len(files) == 1  # one part file for the interval's four hand-offs
    assert len(log.query(tenant, "fraud")) == 12
    assert not list(log.backend.journal.directory.glob("*.journal"))


def test_a_payload_with_pii_is_journaled_hashed_never_raw(services) -> None:  # type: ignore[no-untyped-def]
    log: PredictionLog = services.prediction_log
    tenant = services.keys.create_tenant("acme")
    secret = "alice@example.com"
    entry = Entry(tenant, target(tags={"pii": "email"}), time.time_ns(), 1.0, None, items(1))
    entry.raw = ('{"amount": 1.0, "email": "' + secret + '"}').encode()
    payload = encode_entries([entry])[0]
    assert secret.encode() in payload

    assert log.backend.stage_payload(payload) == 0
    data = log.backend.journal._current.path.read_bytes()
    assert secret.encode() not in data
    assert read_records(data) == read_parts(data) and len(read_parts(data)) == 1  # a part
    assert log.flush() == 1
    assert secret not in str(log.query(tenant, "fraud").to_pylist())


def test_an_entry_that_cannot_be_stored_fails_alone_at_the_flush(services) -> None:  # type: ignore[no-untyped-def]
    log: PredictionLog = services.prediction_log
    tenant = services.keys.create_tenant("acme")
    odd = Entry(tenant, target(), time.time_ns(), 1.0, [{"amount": 1.0}], None)
    odd.columns = (["f" * 32], [1], ["not a score"], None)  # no float64 column takes it
    assert log.backend.stage_payload(_payload(tenant, 0, 2)) == 0
    assert log.backend.stage_payload(encode_entries([odd])[0]) == 0

    assert log.flush() == 2
    assert log.failed == 1
    assert sorted(r["prediction_id"] for r in log.query(tenant, "fraud").to_pylist()) == [
        f"{i:032x}" for i in range(2)
    ]
