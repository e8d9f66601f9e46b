"""The audit log's hash chain, on SQLite and on PostgreSQL: every entry links to the one
before; an edited, deleted, reordered or cut-off entry is found by ``verify``; concurrent
writers (threads on two engines, like two server processes) never fork the chain."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, select, update

from ailayer.core.origin import Origin, reset_origin, set_origin
from ailayer.db.engine import Database
from ailayer.db.migrate import upgrade
from ailayer.db.tables import audit_chain_heads, audit_log, tenants
from ailayer.governance import audit
from ailayer.governance.audit_chain import GENESIS, entry_hash, verify
from ailayer.governance.keys import KeyService
from tests.support.services import scratch_postgres_database


@pytest.fixture
def db(metadata_url: str) -> Iterator[Database]:
    database = Database(metadata_url)
    upgrade(database)
    yield database
    database.dispose()


def tenant(db: Database, name: str = "acme") -> str:
    return KeyService(db).create_tenant(name)


def write(db: Database, tenant_id: str, count: int, action: str = "thing.do") -> None:
    for index in range(count):
        with db.write() as conn:
            audit.record(conn, tenant_id, "alice", action, f"thing/{index}", n=index)


def rows(db: Database, tenant_id: str) -> list[dict]:
    with db.read() as conn:
        query = select(audit_log).where(audit_log.c.tenant_id == tenant_id)
        return [dict(r._mapping) for r in conn.execute(query.order_by(audit_log.c.seq))]


def check(db: Database, tenant_id: str):  # type: ignore[no-untyped-def]
    with db.read() as conn:
        return verify(conn, tenant_id)


def tamper(db: Database, statement) -> None:  # type: ignore[no-untyped-def]
    """Change the table behind the service's back, as someone with database access would."""
    with db.engine.begin() as conn:
        conn.execute(statement)


def test_entries_link_from_genesis_and_the_chain_verifies(db: Database) -> None:
    acme = tenant(db)
    write(db, acme, 4)
    chain = rows(db, acme)
    assert [r["seq"] for r in chain] == [1, 2, 3, 4]
    assert chain[0]["prev_hash"] == GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(chain))
    assert all(r["hash"] == entry_hash(r) for r in chain)  # what is read back hashes alike
    verdict = check(db, acme)
    assert verdict.ok and verdict.entries == 4 and verdict.head_hash == chain[-1]["hash"]


def test_an_edited_field_is_found_with_expected_and_found_hash(db: Database) -> None:
    acme = tenant(db)
    write(db, acme, 5)
    victim = rows(db, acme)[2]
    tamper(db, update(audit_log).where(audit_log.c.id == victim["id"]).values(actor="mallory"))
    verdict = check(db, acme)
    assert not verdict.ok and verdict.entries == 2
    broken = verdict.broken
    assert (broken.seq, broken.entry_id, broken.field) == (3, victim["id"], "hash")
    assert broken.found == victim["hash"]
    assert broken.expected == entry_hash({**victim, "actor": "mallory"})


def test_an_edited_detail_is_found(db: Database) -> None:
    acme = tenant(db)
    write(db, acme, 3)
    victim = rows(db, acme)[0]
    tamper(db, update(audit_log).where(audit_log.c.id == victim["id"]).values(detail={"n": 9}))
    assert (check(db, acme).broken.seq, check(db, acme).broken.field) == (1, "hash")


def test_a_rehashed_edit_breaks_the_next_link(db: Database) -> None:
    acme = tenant(db)
    write(db, acme, 3)
    victim = rows(db, acme)[1]
    forged = {**victim, "target": "thing/else"}
    changes = {"target": "thing/else", "hash": entry_hash(forged)}
    tamper(db, update(audit_log).where(audit_log.c.id == victim["id"]).values(**changes))
    broken = check(db, acme).broken
    assert (broken.seq, broken.field) == (3, "prev_hash")
    assert (broken.expected, broken.found) == (entry_hash(forged), victim["hash"])


def test_a_deleted_entry_is_found(db: Database) -> None:
    acme = tenant(db)
    write(db, acme, 5)
    victim = rows(db, acme)[1]
    tamper(db, delete(audit_log).where(audit_log.c.id == victim["id"]))
    verdict = check(db, acme)
    broken = verdict.broken
    assert (broken.seq, broken.field, broken.expected, broken.found) == (2, "seq", "2", "3")
    assert "entry 2 is missing" in broken.reason and verdict.entries == 1


def test_entries_cut_off_the_end_are_found_by_the_head(db: Database) -> None:
    acme = tenant(db)
    write(db, acme, 4)
    tamper(db, delete(audit_log).where(audit_log.c.tenant_id == acme, audit_log.c.seq >= 3))
    broken = check(db, acme).broken
    assert (broken.seq, broken.field) == (3, "seq") and "3 to 4 are missing" in broken.reason


def test_a_deleted_head_is_found(db: Database) -> None:
    acme = tenant(db)
    write(db, acme, 2)
    tamper(db, delete(audit_chain_heads).where(audit_chain_heads.c.tenant_id == acme))
    verdict = check(db, acme)
    assert verdict.broken.field == "head" and verdict.entries == 2


def test_swapped_entries_are_found(db: Database) -> None:
    acme = tenant(db)
    write(db, acme, 4)
    second, third = rows(db, acme)[1:3]
    tamper(db, update(audit_log).where(audit_log.c.id == second["id"]).values(seq=-2))
    tamper(db, update(audit_log).where(audit_log.c.id == third["id"]).values(seq=2))
    tamper(db, update(audit_log).where(audit_log.c.id == second["id"]).values(seq=3))
    broken = check(db, acme).broken
    assert (broken.seq, broken.entry_id) == (2, third["id"])
    assert broken.field == "prev_hash"


def test_tenants_have_separate_chains(db: Database) -> None:
    acme, globex = tenant(db, "acme"), tenant(db, "globex")
    write(db, acme, 2)
    write(db, globex, 3)
    assert [r["seq"] for r in rows(db, globex)] == [1, 2, 3]
    victim = rows(db, acme)[0]
    tamper(db, update(audit_log).where(audit_log.c.id == victim["id"]).values(action="x.y"))
    assert not check(db, acme).ok and check(db, globex).ok
    empty = check(db, tenant(db, "initech"))
    assert empty.ok and empty.entries == 0 and empty.head_seq == 0


def test_an_entry_records_the_current_request_or_none(db: Database) -> None:
    acme = tenant(db)
    write(db, acme, 1)
    token = set_origin(Origin("req-1", "10.1.2.3"))
    try:
        write(db, acme, 1)
    finally:
        reset_origin(token)
    first, second = rows(db, acme)
    assert (first["request_id"], first["source"]) == (None, None)
    assert (second["request_id"], second["source"]) == ("req-1", "10.1.2.3")
    changed = {**second, "source": "10.9.9.9"}
    assert entry_hash(changed) != second["hash"]  # the origin is covered by the hash


def test_concurrent_writers_never_link_to_one_predecessor(metadata_url: str) -> None:
    """Threads on two engines (two pools, like two server processes) append at once; a
    missing lock would give two entries one seq (a unique violation) or one prev_hash."""
    engines = [Database(metadata_url), Database(metadata_url)]
    try:
        upgrade(engines[0])
        acme = tenant(engines[0])
        threads, per_thread = 8, 15
        barrier, errors = threading.Barrier(threads), []

        def append(index: int) -> None:
            db = engines[index % 2]
            barrier.wait()
            try:
                for n in range(per_thread):
                    with db.write() as conn:
                        audit.record(conn, acme, f"writer{index}", "thing.do", f"t/{n}")
            except Exception as exc:  # reported below, with the thread
                errors.append(f"writer{index}: {exc!r}")

        workers = [threading.Thread(target=append, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert errors == []
        chain = rows(engines[0], acme)
        assert [r["seq"] for r in chain] == list(range(1, threads * per_thread + 1))
        assert len({r["prev_hash"] for r in chain}) == len(chain)
        verdict = check(engines[0], acme)
        assert verdict.ok and verdict.entries == threads * per_thread
    finally:
        for db in engines:
            db.dispose()


def test_the_first_concurrent_writers_of_a_tenant_make_one_head(metadata_url: str) -> None:
    """No head row yet: racing appenders both try to make it; one does, both chain."""
    engines = [Database(metadata_url), Database(metadata_url)]
    try:
        upgrade(engines[0])
        for round_ in range(5):
            acme = tenant(engines[0], f"acme{round_}")
            barrier, errors = threading.Barrier(2), []

            def append(db: Database, acme: str = acme, barrier=barrier, errors=errors) -> None:  # type: ignore[no-untyped-def]
                barrier.wait()
                try:
                    with db.write() as conn:
                        audit.record(conn, acme, "bob", "thing.do", "t")
                except Exception as exc:  # reported below, with the thread
                    errors.append(repr(exc))

            workers = [threading.Thread(target=append, args=(db,)) for db in engines]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            assert errors == []
            assert [r["seq"] for r in rows(engines[0], acme)] == [1, 2]
            assert check(engines[0], acme).ok
    finally:
        for db in engines:
            db.dispose()


def test_the_head_is_locked_last_so_appends_never_deadlock() -> None:
    """PostgreSQL (SQLite has one writer at a time): one transaction holds a row, then
    audits; another audits, then wants that row. Were the head locked when ``record`` is
    called, each would wait for the other (PostgreSQL would abort one as a deadlock)."""
    with scratch_postgres_database() as url:
        db = Database(url)
        try:
            upgrade(db)
            acme = tenant(db)
            barrier, errors = threading.Barrier(2, timeout=30), []
            row = update(tenants).where(tenants.c.id == acme)

            def first() -> None:
                with db.write() as conn:
                    conn.execute(row.values(name="acme-1"))
                    barrier.wait()
                    audit.record(conn, acme, "first", "thing.do", "t/1")

            def second() -> None:
                with db.write() as conn:
                    audit.record(conn, acme, "second", "thing.do", "t/2")
                    barrier.wait()
                    conn.execute(row.values(name="acme-2"))

            def run(work) -> None:  # type: ignore[no-untyped-def]
                try:
                    work()
                except Exception as exc:  # reported below, with the thread
                    errors.append(f"{work.__name__}: {exc!r}")

            workers = [threading.Thread(target=run, args=(w,)) for w in (first, second)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            assert errors == []
            assert [r["actor"] for r in rows(db, acme)] == ["first", "second"]
            assert check(db, acme).ok
        finally:
            db.dispose()


def test_an_entry_is_not_written_when_its_change_is_rolled_back(db: Database) -> None:
    acme = tenant(db)
    with pytest.raises(RuntimeError), db.write() as conn:
        audit.record(conn, acme, "alice", "thing.do", "t")
        raise RuntimeError("the change failed")
    assert rows(db, acme) == [] and check(db, acme).ok
