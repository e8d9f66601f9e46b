"""The lease contract on every backend (lease rows on SQLite and PostgreSQL, advisory
locks on PostgreSQL), and trigger marks' compare-and-set on both databases."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from ailayer.pipelines.lease import AdvisoryLocks, Lease, LeaseRows, open_lease
from ailayer.pipelines.marks import TriggerMarks
from tests.support.processes import read_until, reap
from tests.support.scheduler import Clock, migrated
from tests.support.services import scratch_postgres_database


@pytest.fixture(params=["sqlite rows", "postgresql rows", "postgresql advisory"])
def leases(request: pytest.FixtureRequest, tmp_path) -> Iterator[tuple]:  # type: ignore[no-untyped-def]
    """A factory of leases on one database (each call: another holder) and the tenant."""
    kind = request.param
    if kind.startswith("sqlite"):
        db, tenant = migrated(f"sqlite:///{tmp_path / 'meta.db'}")
        yield (lambda: LeaseRows(db)), tenant
        db.dispose()
        return
    with scratch_postgres_database() as url:
        db, tenant = migrated(url)
        made: list[Lease] = []

        def factory() -> Lease:
            made.append(AdvisoryLocks(db.url) if kind.endswith("advisory") else LeaseRows(db))
            return made[-1]

        yield factory, tenant
        for lease in made:
            lease.close()
        db.dispose()


def test_one_holder_at_a_time(leases) -> None:  # type: ignore[no-untyped-def]
    make, tenant = leases
    first, second = make(), make()
    assert first.acquire(tenant, "retrain")
    assert not first.acquire(tenant, "retrain")  # not re-entrant
    assert not second.acquire(tenant, "retrain")
    assert second.acquire(tenant, "churn")  # another name is another lease
    first.release(tenant, "retrain")
    assert second.acquire(tenant, "retrain")
    first.release(tenant, "retrain")  # not its lease any more: nothing happens
    assert not first.acquire(tenant, "retrain")


def test_close_lets_go_of_every_lease(leases) -> None:  # type: ignore[no-untyped-def]
    make, tenant = leases
    first, second = make(), make()
    assert first.acquire(tenant, "a") and first.acquire(tenant, "b")
    first.close()
    assert second.acquire(tenant, "a") and second.acquire(tenant, "b")


def test_open_lease_picks_the_backend_by_database(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db, _ = migrated(f"sqlite:///{tmp_path / 'meta.db'}")
    assert isinstance(open_lease(db), LeaseRows)
    db.dispose()
    with scratch_postgres_database() as url:
        db, _ = migrated(url)
        assert isinstance(open_lease(db), AdvisoryLocks)
        db.dispose()


def test_a_lease_row_of_a_holder_that_died_expires(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db, tenant = migrated(f"sqlite:///{tmp_path / 'meta.db'}")
    clock = Clock()
    gone = LeaseRows(db, ttl=60, clock=clock)
    assert gone.acquire(tenant, "retrain")  # and never released
    other = LeaseRows(db, ttl=60, clock=clock)
    clock.advance(seconds=59)
    assert not other.acquire(tenant, "retrain")
    clock.advance(seconds=1)
    assert other.acquire(tenant, "retrain")
    db.dispose()


HOLDER = """
import sys
from ailayer.pipelines.lease import AdvisoryLocks
lease = AdvisoryLocks(sys.argv[1])
assert lease.acquire(sys.argv[2], "retrain")
print("holding", flush=True)
sys.stdin.readline()
"""


def test_an_advisory_lock_of_a_killed_holder_is_let_go_at_once() -> None:
    with scratch_postgres_database() as url:
        db, tenant = migrated(url)
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, url, tenant],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        lease = AdvisoryLocks(url)
        try:
            read_until(holder, "holding", "the holder did not take the lock")
            assert not lease.acquire(tenant, "retrain")
            holder.kill()  # SIGKILL: no release, the connection just drops
            holder.wait(timeout=10)
            assert _eventually(lambda: lease.acquire(tenant, "retrain"))
        finally:
            reap(holder)
            lease.close()
            db.dispose()


def _eventually(check, attempts: int = 100) -> bool:  # type: ignore[no-untyped-def]
    """PostgreSQL ends the session when it notices the closed socket: poll briefly."""
    for _ in range(attempts):
        if check():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_marks_move_by_compare_and_set(backend: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with _database(backend, tmp_path) as (db, tenant):
        marks = TriggerMarks(db)
        assert marks.get(tenant, "retrain", "schedule:0 * * * *") is None
        assert marks.advance(tenant, "retrain", "schedule:0 * * * *", None, "12:00")
        assert not marks.advance(tenant, "retrain", "schedule:0 * * * *", None, "12:00")
        assert not marks.advance(tenant, "retrain", "schedule:0 * * * *", "11:00", "13:00")
        assert marks.advance(tenant, "retrain", "schedule:0 * * * *", "12:00", "13:00")
        assert marks.get(tenant, "retrain", "schedule:0 * * * *") == "13:00"
        assert marks.get(tenant, "other", "schedule:0 * * * *") is None


@contextlib.contextmanager
def _database(backend: str, tmp_path) -> Iterator[tuple]:  # type: ignore[no-untyped-def]
    if backend == "sqlite":
        db, tenant = migrated(f"sqlite:///{tmp_path / 'meta.db'}")
        yield db, tenant
        db.dispose()
        return
    with scratch_postgres_database() as url:
        db, tenant = migrated(url)
        yield db, tenant
        db.dispose()
