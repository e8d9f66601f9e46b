"""Entries written before the chain existed are chained by the migration, per tenant in
the order they were written, so the whole history verifies and new entries continue it;
on SQLite and on PostgreSQL. The migration's frozen hash must equal the code's."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import insert, select

from ailayer.db.engine import Database
from ailayer.db.migrate import alembic_config, upgrade
from ailayer.db.tables import audit_log, tenants
from ailayer.governance import audit
from ailayer.governance.audit_chain import GENESIS, verify

BEFORE = "0008"
START = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def old_db(metadata_url: str) -> Iterator[Database]:
    """A metadata database at the revision before the chain."""
    database = Database(metadata_url)
    upgrade(database, BEFORE)
    yield database
    database.dispose()


def old_entry(conn, tenant_id: str, minutes: int, action: str, n: int = 0) -> str:  # type: ignore[no-untyped-def]
    """An entry as the code before the chain wrote it (the columns it knew)."""
    entry_id = f"{minutes:032d}"
    values = {"id": entry_id, "tenant_id": tenant_id, "actor": "carol", "action": action}
    values |= {"target": "thing/1", "detail": {"k": "vé", "n": n}}
    conn.execute(insert(audit_log).values(**values, at=START + timedelta(minutes=minutes)))
    return entry_id


def test_existing_entries_are_chained_in_written_order(old_db: Database) -> None:
    with old_db.engine.begin() as conn:
        for tenant_id in ("t1", "t2"):
            conn.execute(insert(tenants).values(id=tenant_id, name=tenant_id, created_at=START))
        late = old_entry(conn, "t1", 30, "late", n=3)  # written first, but later in time
        early = old_entry(conn, "t1", 10, "early", n=1)
        old_entry(conn, "t2", 20, "other", n=2)
    upgrade(old_db)
    with old_db.read() as conn:
        chain = conn.execute(
            select(audit_log).where(audit_log.c.tenant_id == "t1").order_by(audit_log.c.seq)
        ).all()
        assert [(r.id, r.seq) for r in chain] == [(early, 1), (late, 2)]
        assert chain[0].prev_hash == GENESIS and chain[1].prev_hash == chain[0].hash
        assert (chain[0].request_id, chain[0].source) == (None, None)
        assert verify(conn, "t1").ok and verify(conn, "t2").ok
        assert verify(conn, "t2").entries == 1
    with old_db.write() as conn:
        audit.record(conn, "t1", "dave", "new", "thing/2")
    with old_db.read() as conn:
        verdict = verify(conn, "t1")
    assert verdict.ok and verdict.entries == 3 and verdict.head_seq == 3


def test_the_migration_goes_down_and_up_again(old_db: Database) -> None:
    with old_db.engine.begin() as conn:
        conn.execute(insert(tenants).values(id="t1", name="t1", created_at=START))
        old_entry(conn, "t1", 1, "one")
    upgrade(old_db)
    with old_db.engine.connect() as conn:
        command.downgrade(alembic_config(conn), BEFORE)
        conn.commit()
    upgrade(old_db)
    with old_db.read() as conn:
        assert verify(conn, "t1").ok and verify(conn, "t1").entries == 1
