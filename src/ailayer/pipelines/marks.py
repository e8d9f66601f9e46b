"""Each trigger's mark: how far it has fired, kept in the metadata database.

A schedule's mark is the last minute it fired for, a new-data trigger's the source size
it last fired at, an alert trigger's the time of the last alert it acted on. Moving a
mark is a compare-and-set on the value read (``advance``), so when several scheduler
replicas see one firing, exactly one of them claims it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from ailayer.core.clock import utcnow
from ailayer.db.engine import Database
from ailayer.db.tables import scheduler_marks


class TriggerMarks:
    """Marks per (tenant, pipeline, trigger key); values are short texts."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db, self.clock = db, clock

    def get(self, tenant_id: str, pipeline: str, trigger: str) -> str | None:
        with self.db.read() as conn:
            return conn.execute(
                select(scheduler_marks.c.value).where(*_this(tenant_id, pipeline, trigger))
            ).scalar_one_or_none()

    def advance(
        self, tenant_id: str, pipeline: str, trigger: str, seen: str | None, value: str
    ) -> bool:
        """Set the mark to ``value`` if it still is ``seen`` (None: no mark yet); True if
        this call moved it, False if another writer did first."""
        now = self.clock()
        with self.db.write() as conn:
            if seen is not None:
                moved = conn.execute(
                    update(scheduler_marks)
                    .where(*_this(tenant_id, pipeline, trigger), scheduler_marks.c.value == seen)
                    .values(value=value, updated_at=now)
                ).rowcount
                return moved == 1
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(scheduler_marks).values(
                            tenant_id=tenant_id,
                            pipeline=pipeline,
                            trigger=trigger,
                            value=value,
                            updated_at=now,
                        )
                    )
            except IntegrityError:
                return False
            return True


def _this(tenant_id: str, pipeline: str, trigger: str) -> tuple:
    return (
        scheduler_marks.c.tenant_id == tenant_id,
        scheduler_marks.c.pipeline == pipeline,
        scheduler_marks.c.trigger == trigger,
    )
