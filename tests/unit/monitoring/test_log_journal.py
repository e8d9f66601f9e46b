"""The prediction log's journal: staged rows survive a process that never flushed, a torn
record is skipped, a live process's journal is left alone, and no raw PII is written."""

from __future__ import annotations

import fcntl
import os
import time

from ailayer.monitoring.log import PredictionLog
from ailayer.monitoring.log.journal import Journal, orphans, read_parts
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
