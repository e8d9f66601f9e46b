"""The audit log's hash chain: each tenant's entries link to the one before, by sha256.

Entry ``n`` of a tenant stores ``prev_hash`` (entry ``n-1``'s hash, ``GENESIS`` for the
first) and ``hash``, the sha256 of its canonical content, which includes ``prev_hash``
and ``seq``. So an edited field, a deleted entry or two entries swapped breaks a link
that ``verify`` finds. The tenant's head row (``audit_chain_heads``: last seq and hash)
is locked by every append (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's write
transaction is the lock), so two transactions never link to the same predecessor, and
the head also shows entries cut off the end. ``audit.record`` appends just before its
transaction commits, so the head is the last lock any transaction takes.

Retention (``prune``) removes a tenant's oldest entries as one prefix of the chain and
moves the head's anchor (``base_seq``, ``base_hash``: the last removed entry's position
and hash) to where the kept chain starts; the same transaction appends an
``audit.retention`` entry naming that anchor, so ``verify`` checks the kept entries from
the anchor and the anchor against the newest such entry: moving the anchor to hide
deleted entries breaks the chain as a deletion does.

What a chain cannot show: someone with write access to the database who rewrites every
hash from the edited entry to the head. Keep exported hashes elsewhere (a SIEM) and such a
rewrite no longer matches them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from ailayer.db.tables import audit_chain_heads, audit_log

GENESIS = "0" * 64  # what the first entry of a tenant links to
PAGE = 1000
UNBOUNDED = 2**62  # walk every entry: the head that bounds the walk is gone
RETENTION_ACTION = "audit.retention"  # the entry that vouches for the anchor


@dataclass(frozen=True, slots=True)
class Head:
    seq: int
    hash: str


def canonical(row: Mapping[str, Any]) -> bytes:
    """The bytes an entry's hash covers: every field but ``hash``, as sorted, compact
    ASCII JSON, with the time in UTC to the microsecond (what both databases keep)."""
    at: datetime = row["at"]
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    content = {
        "id": row["id"],
        "tenant_id": row["tenant_id"],
        "seq": int(row["seq"]),
        "at": at.isoformat(timespec="microseconds"),
        "actor": row["actor"],
        "action": row["action"],
        "target": row["target"],
        "detail": row["detail"],
        "request_id": row["request_id"],
        "source": row["source"],
        "prev_hash": row["prev_hash"],
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def entry_hash(row: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(row)).hexdigest()


def lock_head(conn: Connection, tenant_id: str) -> Head:
    """The tenant's chain head, locked until ``conn``'s transaction ends.

    The head row is made first if missing (insert-or-nothing: a concurrent maker waits
    for the other's commit), then read ``FOR UPDATE``, which waits for any other
    appender of this tenant and then reads what it committed."""
    make = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(
        make(audit_chain_heads)
        .values(tenant_id=tenant_id, seq=0, hash=GENESIS)
        .on_conflict_do_nothing(index_elements=["tenant_id"])
    )
    query = select(audit_chain_heads.c.seq, audit_chain_heads.c.hash).where(
        audit_chain_heads.c.tenant_id == tenant_id
    )
    seq, last = conn.execute(query.with_for_update()).one()
    return Head(seq, last)


def move_head(conn: Connection, tenant_id: str, head: Head) -> None:
    conn.execute(
        audit_chain_heads.update()
        .where(audit_chain_heads.c.tenant_id == tenant_id)
        .values(seq=head.seq, hash=head.hash)
    )


@dataclass(frozen=True, slots=True)
class Break:
    """The first link that does not hold: at chain position ``seq`` (entry ``entry_id``,
    if there is one there), ``field`` was expected to be ``expected`` and is ``found``."""

    seq: int
    entry_id: str | None
    field: str
    expected: str
    found: str
    reason: str


@dataclass(frozen=True, slots=True)
class Verdict:
    tenant_id: str
    entries: int  # entries checked, up to the head read at the start
    head_seq: int
    head_hash: str
    broken: Break | None

    @property
    def ok(self) -> bool:
        return self.broken is None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def verify(conn: Connection, tenant_id: str) -> Verdict:
    """Walk the tenant's chain from its anchor (the genesis, or where retention left it)
    to the head and report the first break. The head is read first, so entries appended
    meanwhile are not judged."""
    found = conn.execute(
        select(
            audit_chain_heads.c.seq,
            audit_chain_heads.c.hash,
            audit_chain_heads.c.base_seq,
            audit_chain_heads.c.base_hash,
        ).where(audit_chain_heads.c.tenant_id == tenant_id)
    ).one_or_none()
    head = Head(found.seq, found.hash) if found is not None else Head(0, GENESIS)
    base = Head(found.base_seq, found.base_hash) if found is not None else Head(0, GENESIS)
    checked, previous, broken, vouched = 0, base.hash, None, None
    last_seq = head.seq if found is not None else UNBOUNDED
    for row in _rows(conn, tenant_id, last_seq, after=base.seq):
        broken = _check(row, base.seq + checked + 1, previous)
        if broken is not None:
            break
        checked, previous = checked + 1, row["hash"]
        if row["action"] == RETENTION_ACTION:
            vouched = row
    if broken is None:
        broken = _check_anchor(base, vouched)
    if broken is None:
        broken = _check_head(found is not None, head, base.seq + checked, previous)
    return Verdict(tenant_id, checked, head.seq, head.hash, broken)


def prune(conn: Connection, tenant_id: str, before: datetime) -> tuple[int, Head]:
    """Remove the tenant's entries up to the last one made before ``before`` (a prefix
    of the chain), move the anchor past them and append the ``audit.retention`` entry
    that names it. The count removed and the anchor; ``(0, anchor)`` when none is due.
    Call inside a write transaction: the head stays locked until it commits."""
    lock_head(conn, tenant_id)
    cut = conn.execute(
        select(func.max(audit_log.c.seq)).where(
            audit_log.c.tenant_id == tenant_id, audit_log.c.at < before
        )
    ).scalar()
    base = _base(conn, tenant_id)
    if cut is None or cut <= base.seq:
        return 0, base
    last = conn.execute(
        select(audit_log.c.hash).where(audit_log.c.tenant_id == tenant_id, audit_log.c.seq == cut)
    ).scalar_one()
    removed = conn.execute(
        delete(audit_log).where(audit_log.c.tenant_id == tenant_id, audit_log.c.seq <= cut)
    ).rowcount
    anchor = Head(cut, last)
    conn.execute(
        audit_chain_heads.update()
        .where(audit_chain_heads.c.tenant_id == tenant_id)
        .values(base_seq=anchor.seq, base_hash=anchor.hash)
    )
    return removed, anchor


def _base(conn: Connection, tenant_id: str) -> Head:
    found = conn.execute(
        select(audit_chain_heads.c.base_seq, audit_chain_heads.c.base_hash).where(
            audit_chain_heads.c.tenant_id == tenant_id
        )
    ).one()
    return Head(*found)


def _check_anchor(base: Head, vouched: Mapping[str, Any] | None) -> Break | None:
    """An anchor past the genesis must be the one the newest retention entry names."""
    if base.seq == 0:
        return None
    named = vouched["detail"] if vouched is not None else {}
    if named.get("anchor_seq") == base.seq and named.get("anchor_hash") == base.hash:
        return None
    reason = "the chain's start (its retention anchor) is not the one the last audit.retention entry names"
    found = f"{named.get('anchor_seq')}:{named.get('anchor_hash')}" if named else "no such entry"
    return Break(base.seq, None, "anchor", f"{base.seq}:{base.hash}", found, reason)


def _rows(
    conn: Connection, tenant_id: str, last_seq: int, after: int = 0
) -> Iterator[Mapping[str, Any]]:
    """The tenant's entries after ``after`` up to ``last_seq`` in chain order, a page at a
    time."""
    while True:
        page = conn.execute(
            select(audit_log)
            .where(
                audit_log.c.tenant_id == tenant_id,
                audit_log.c.seq > after,
                audit_log.c.seq <= last_seq,
            )
            .order_by(audit_log.c.seq)
            .limit(PAGE)
        ).all()
        for row in page:
            yield row._mapping
        if len(page) < PAGE:
            return
        after = page[-1].seq


def _check(row: Mapping[str, Any], seq: int, previous: str) -> Break | None:
    if row["seq"] != seq:
        reason = f"entry {seq} is missing (deleted, or its seq changed)"
        return Break(seq, row["id"], "seq", str(seq), str(row["seq"]), reason)
    if row["prev_hash"] != previous:
        reason = f"entry {seq} does not link to entry {seq - 1} (one before it changed or went)"
        return Break(seq, row["id"], "prev_hash", previous, row["prev_hash"], reason)
    computed = entry_hash(row)
    if row["hash"] != computed:
        reason = f"entry {seq}'s content does not match its hash (a field was edited)"
        return Break(seq, row["id"], "hash", computed, row["hash"], reason)
    return None


def _check_head(present: bool, head: Head, checked: int, last: str) -> Break | None:
    if not present and checked == 0:
        return None  # a tenant that never had an entry
    if not present:
        return Break(checked, None, "head", "a chain head", "none", "the chain head is missing")
    if checked != head.seq:
        reason = f"entries {checked + 1} to {head.seq} are missing (cut off the end)"
        return Break(checked + 1, None, "seq", str(checked + 1), "no entry", reason)
    if last != head.hash:
        reason = "the last entry's hash is not the one the head recorded"
        return Break(head.seq, None, "head", head.hash, last, reason)
    return None
