"""Removing old audit entries keeps ``verify`` true, and moving the anchor to hide a
deletion is still found; on SQLite and the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update

from ailayer.core.clock import utcnow
from ailayer.core.retention import Retention
from ailayer.db.engine import Database
from ailayer.db.migrate import upgrade
from ailayer.db.tables import audit_chain_heads, audit_log
from ailayer.features.files.local import LocalFiles
from ailayer.governance import audit
from ailayer.governance.audit_chain import RETENTION_ACTION, prune, verify
from ailayer.governance.keys import KeyService
from ailayer.retention import RetentionJob


@pytest.fixture
def db(metadata_url: str) -> Iterator[Database]:
    database = Database(metadata_url)
    upgrade(database)
    yield database
    database.dispose()


def write(db: Database, tenant_id: str, count: int) -> None:
    for index in range(count):
        with db.write() as conn:
            audit.record(conn, tenant_id, "alice", "thing.do", f"thing/{index}")


def check(db: Database, tenant_id: str):  # type: ignore[no-untyped-def]
    with db.read() as conn:
        return verify(conn, tenant_id)


def actions(db: Database, tenant_id: str) -> list[tuple[int, str]]:
    with db.read() as conn:
        query = select(audit_log.c.seq, audit_log.c.action).where(
            audit_log.c.tenant_id == tenant_id
        )
        return [tuple(row) for row in conn.execute(query.order_by(audit_log.c.seq))]


def job(db: Database, tmp_path, **policy) -> RetentionJob:  # type: ignore[no-untyped-def]
    root = LocalFiles.folder(str(tmp_path / "offline"))
    return RetentionJob(db, root.child, Retention(**policy))


def test_pruned_chain_verifies_from_its_anchor_and_keeps_growing(db: Database) -> None:
    tenant_id = KeyService(db).create_tenant("acme")
    write(db, tenant_id, 3)
    cut = utcnow()
    write(db, tenant_id, 2)
    with db.write() as conn:
        removed, anchor = prune(conn, tenant_id, cut)
        audit.record(
            conn, tenant_id, "retention", RETENTION_ACTION, "audit",
            anchor_seq=anchor.seq, anchor_hash=anchor.hash,
        )  # fmt: skip
    assert anchor.seq == removed == 3
    assert [seq for seq, _ in actions(db, tenant_id)] == [4, 5, 6]
    verdict = check(db, tenant_id)
    assert verdict.ok, verdict.broken
    assert (verdict.entries, verdict.head_seq) == (3, 6)
    write(db, tenant_id, 2)
    assert check(db, tenant_id).ok


def test_the_job_removes_entries_older_than_the_years_and_vouches_for_the_anchor(
    db: Database, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    tenant_id = KeyService(db).create_tenant("acme")
    write(db, tenant_id, 4)
    later = utcnow() + timedelta(days=2 * 366)
    removed = job(db, tmp_path, audit_years=1).run_once(later)
    assert removed[0].counts["audit"] == 4
    assert actions(db, tenant_id) == [(5, RETENTION_ACTION)]
    assert check(db, tenant_id).ok
    write(db, tenant_id, 1)
    assert check(db, tenant_id).ok
    assert job(db, tmp_path, audit_years=1).run_once(utcnow())[0].counts["audit"] == 0


def test_deleting_the_first_kept_entry_after_a_prune_is_found(db: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    tenant_id = KeyService(db).create_tenant("acme")
    write(db, tenant_id, 3)
    job(db, tmp_path, audit_years=1).run_once(utcnow() + timedelta(days=800))  # anchor at 3
    write(db, tenant_id, 3)
    with db.write() as conn:  # the first kept entry: retention's own (seq 4)
        conn.execute(
            delete(audit_log).where(audit_log.c.tenant_id == tenant_id, audit_log.c.seq == 4)
        )
    verdict = check(db, tenant_id)
    assert not verdict.ok
    assert verdict.broken.seq == 4


def test_moving_the_anchor_to_hide_deleted_entries_is_found(db: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    tenant_id = KeyService(db).create_tenant("acme")
    write(db, tenant_id, 2)
    job(db, tmp_path, audit_years=1).run_once(utcnow() + timedelta(days=800))  # anchor at 2
    write(db, tenant_id, 3)  # entries 4, 5, 6 after retention's own, 3
    with db.write() as conn:  # someone removes 3 to 5 and moves the anchor past them
        rows = conn.execute(
            select(audit_log.c.seq, audit_log.c.hash).where(audit_log.c.tenant_id == tenant_id)
        ).all()
        hashes = dict(rows)
        conn.execute(
            delete(audit_log).where(audit_log.c.tenant_id == tenant_id, audit_log.c.seq <= 5)
        )
        conn.execute(
            update(audit_chain_heads)
            .where(audit_chain_heads.c.tenant_id == tenant_id)
            .values(base_seq=5, base_hash=hashes[5])
        )
    verdict = check(db, tenant_id)
    assert not verdict.ok
    assert verdict.broken.field == "anchor"
