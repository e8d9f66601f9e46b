"""The run store: pipeline runs and their steps in the metadata database.

At most one run of a pipeline is ``running`` per tenant: a partial unique index enforces
it in the database (two launches at once, from any number of processes: one wins, the
other gets ``Conflict``). A run belongs to the process that owns it; that process beats a
heartbeat while it works. A run whose owner is gone (a dead process on this host, or no
heartbeat for ``STALE_SECONDS``) no longer blocks: the next launch marks it
``interrupted``, and ``take_over`` (``ailayer train --resume``) continues it.

States: running → succeeded | failed | rejected (a gate said no) | interrupted.
"""

from __future__ import annotations

import os
import socket
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from ailayer.core.clock import utcnow
from ailayer.core.errors import Conflict, NotFound
from ailayer.core.ids import new_id
from ailayer.db.engine import Database
from ailayer.governance import audit
from ailayer.pipelines.tables import RUNNING, pipeline_runs, pipeline_steps

STALE_SECONDS = 60.0
RESUMABLE = ("failed", "interrupted")
RECORDED = (
    "code_version",
    "packages",
    "dataset_version",
    "dataset_sha256",
    "definitions",
    "metrics",
    "artifacts",
    "gate_report",
    "model",
    "model_version",
    "rollout",
    "current_step",
)


@dataclass(frozen=True, slots=True)
class StepRecord:
    name: str
    position: int
    status: str
    inputs: dict[str, Any]
    outputs: dict[str, Any] | None
    error: str | None
    attempt: int
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class Run:
    """One run as stored: what it was asked, what it recorded, where it stands."""

    id: str
    pipeline: str
    status: str
    trigger: dict[str, Any]
    actor: str
    reproduces: str | None
    spec: dict[str, Any]
    params: dict[str, Any]
    seed: int
    code_version: dict[str, Any] | None
    packages: dict[str, str] | None
    dataset_version: str | None
    dataset_sha256: str | None
    definitions: dict[str, Any] | None
    metrics: dict[str, float] | None
    artifacts: dict[str, Any]
    gate_report: dict[str, Any] | None
    model: str | None
    model_version: int | None
    rollout: dict[str, Any] | None
    current_step: str | None
    error: str | None
    owner: dict[str, Any] | None
    attempt: int
    created_at: datetime
    heartbeat_at: datetime | None
    finished_at: datetime | None
    steps: list[StepRecord] = field(default_factory=list)

    def step(self, name: str) -> StepRecord | None:
        return next((s for s in self.steps if s.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def this_owner() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def owner_gone(owner: dict[str, Any] | None, heartbeat_at: datetime | None) -> bool:
    """Whether a running run's process is gone: dead on this host, or silent too long."""
    if heartbeat_at is None or utcnow() - heartbeat_at > timedelta(seconds=STALE_SECONDS):
        return True
    if not owner or owner.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class RunStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # runs --------------------------------------------------------------------
    def start(
        self,
        tenant_id: str,
        pipeline: str,
        *,
        trigger: dict[str, Any],
        actor: str,
        spec: dict[str, Any],
        params: dict[str, Any],
        seed: int,
        reproduces: str | None = None,
    ) -> Run:
        """A new running run owned by this process, or ``Conflict`` if one is running."""
        run_id, now = new_id(), utcnow()
        values = dict(
            id=run_id,
            tenant_id=tenant_id,
            pipeline=pipeline,
            status=RUNNING,
            trigger=trigger,
            actor=actor,
            reproduces=reproduces,
            spec=spec,
            params=params,
            seed=seed,
            artifacts={},
            owner=this_owner(),
            attempt=1,
            created_at=now,
            heartbeat_at=now,
        )
        try:
            with self.db.write() as conn:
                self._clear_abandoned(conn, tenant_id, pipeline)
                conn.execute(insert(pipeline_runs).values(**values))
                audit.record(
                    conn,
                    tenant_id,
                    actor,
                    "pipeline.run.start",
                    f"pipeline/{pipeline}",
                    run=run_id,
                    trigger=trigger,
                    reproduces=reproduces,
                )
        except IntegrityError:
            raise self._busy(tenant_id, pipeline) from None
        return self.get(tenant_id, run_id)

    def take_over(self, tenant_id: str, run_id: str, actor: str = "system") -> Run:
        """Make a failed, interrupted or abandoned run this process's running run again."""
        try:
            with self.db.write() as conn:
                row = self._row(conn, tenant_id, run_id)
                if row.status == RUNNING and not owner_gone(row.owner, row.heartbeat_at):
                    raise Conflict(
                        f"run {run_id} is still running (process {row.owner}); "
                        "resume it once it has stopped",
                        field="run",
                    )
                if row.status not in (*RESUMABLE, RUNNING):
                    raise Conflict(
                        f"run {run_id} is {row.status}: only a failed or interrupted run resumes",
                        field="run",
                    )
                if row.status != RUNNING:
                    self._clear_abandoned(conn, tenant_id, row.pipeline)
                conn.execute(
                    update(pipeline_runs)
                    .where(pipeline_runs.c.id == run_id)
                    .values(
                        status=RUNNING,
                        error=None,
                        finished_at=None,
                        owner=this_owner(),
                        heartbeat_at=utcnow(),
                        attempt=row.attempt + 1,
                    )
                )
                audit.record(
                    conn,
                    tenant_id,
                    actor,
                    "pipeline.run.resume",
                    f"pipeline/{row.pipeline}",
                    run=run_id,
                    attempt=row.attempt + 1,
                    was=row.status,
                )
        except IntegrityError:
            raise self._busy(tenant_id, self.get(tenant_id, run_id).pipeline) from None
        return self.get(tenant_id, run_id)

    def _clear_abandoned(self, conn: Connection, tenant_id: str, pipeline: str) -> None:
        """A running run of this pipeline whose process is gone becomes ``interrupted``."""
        row = conn.execute(
            select(pipeline_runs).where(
                pipeline_runs.c.tenant_id == tenant_id,
                pipeline_runs.c.pipeline == pipeline,
                pipeline_runs.c.status == RUNNING,
            )
        ).first()
        if row is not None and owner_gone(row.owner, row.heartbeat_at):
            conn.execute(
                update(pipeline_runs)
                .where(pipeline_runs.c.id == row.id)
                .values(
                    status="interrupted",
                    error=f"its process stopped during step {row.current_step!r}",
                    finished_at=utcnow(),
                )
            )

    def _busy(self, tenant_id: str, pipeline: str) -> Conflict:
        with self.db.read() as conn:
            running = conn.execute(
                select(pipeline_runs.c.id).where(
                    pipeline_runs.c.tenant_id == tenant_id,
                    pipeline_runs.c.pipeline == pipeline,
                    pipeline_runs.c.status == RUNNING,
                )
            ).scalar()
        return Conflict(
            f"pipeline {pipeline!r} already has a running run ({running}); "
            "one run of a pipeline at a time",
            field="pipeline",
        )

    def heartbeat(self, tenant_id: str, run_id: str) -> None:
        self._update(tenant_id, run_id, heartbeat_at=utcnow())

    def record(self, tenant_id: str, run_id: str, **values: Any) -> None:
        """Store what the run learned (dataset version, metrics, model version, ...)."""
        unknown = set(values) - set(RECORDED)
        if unknown:
            raise ValueError(f"not recorded on a run: {sorted(unknown)}")
        self._update(tenant_id, run_id, **values)

    def finish(
        self,
        tenant_id: str,
        run_id: str,
        status: str,
        error: str | None = None,
        actor: str | None = None,
    ) -> None:
        """The run's end, in the run and in the audit log (by ``actor``: who ran this
        attempt; the run's starter by default)."""
        with self.db.write() as conn:
            row = self._row(conn, tenant_id, run_id)
            conn.execute(
                update(pipeline_runs)
                .where(pipeline_runs.c.id == run_id)
                .values(status=status, error=error, finished_at=utcnow(), heartbeat_at=None)
            )
            audit.record(
                conn,
                tenant_id,
                actor or row.actor,
                "pipeline.run.finish",
                f"pipeline/{row.pipeline}",
                run=run_id,
                status=status,
                error=error,
                model=row.model,
                version=row.model_version,
            )

    def _update(self, tenant_id: str, run_id: str, **values: Any) -> None:
        with self.db.write() as conn:
            conn.execute(
                update(pipeline_runs)
                .where(pipeline_runs.c.tenant_id == tenant_id, pipeline_runs.c.id == run_id)
                .values(**values)
            )

    # steps -------------------------------------------------------------------
    def step_started(
        self, tenant_id: str, run_id: str, name: str, position: int, inputs: dict[str, Any]
    ) -> None:
        key = (pipeline_steps.c.run_id == run_id) & (pipeline_steps.c.name == name)
        now = utcnow()
        with self.db.write() as conn:
            attempt = conn.execute(select(pipeline_steps.c.attempt).where(key)).scalar()
            values = dict(status=RUNNING, inputs=inputs, outputs=None, error=None, started_at=now)
            if attempt is None:
                conn.execute(
                    insert(pipeline_steps).values(
                        run_id=run_id,
                        name=name,
                        tenant_id=tenant_id,
                        position=position,
                        attempt=1,
                        **values,
                    )
                )
            else:
                conn.execute(
                    update(pipeline_steps)
                    .where(key)
                    .values(attempt=attempt + 1, finished_at=None, **values)
                )
            conn.execute(
                update(pipeline_runs)
                .where(pipeline_runs.c.id == run_id)
                .values(current_step=name, heartbeat_at=now)
            )

    def step_finished(
        self,
        tenant_id: str,
        run_id: str,
        name: str,
        status: str,
        *,
        outputs: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        """A step's end: ``completed`` with its outputs (kept for a resume), or not."""
        with self.db.write() as conn:
            conn.execute(
                update(pipeline_steps)
                .where(
                    pipeline_steps.c.tenant_id == tenant_id,
                    pipeline_steps.c.run_id == run_id,
                    pipeline_steps.c.name == name,
                )
                .values(status=status, outputs=outputs, error=error, finished_at=utcnow())
            )

    # reads -------------------------------------------------------------------
    def get(self, tenant_id: str, run_id: str) -> Run:
        with self.db.read() as conn:
            row = self._row(conn, tenant_id, run_id)
            steps = conn.execute(
                select(pipeline_steps)
                .where(pipeline_steps.c.tenant_id == tenant_id, pipeline_steps.c.run_id == run_id)
                .order_by(pipeline_steps.c.position)
            ).all()
        return _run(row, steps)

    def list(self, tenant_id: str, pipeline: str | None = None, limit: int = 50) -> list[Run]:
        query = select(pipeline_runs).where(pipeline_runs.c.tenant_id == tenant_id)
        if pipeline is not None:
            query = query.where(pipeline_runs.c.pipeline == pipeline)
        with self.db.read() as conn:
            rows = conn.execute(
                query.order_by(pipeline_runs.c.created_at.desc()).limit(limit)
            ).all()
        return [_run(r, []) for r in rows]

    @staticmethod
    def _row(conn: Connection, tenant_id: str, run_id: str) -> Any:
        row = conn.execute(
            select(pipeline_runs).where(
                pipeline_runs.c.tenant_id == tenant_id, pipeline_runs.c.id == run_id
            )
        ).first()
        if row is None:
            raise NotFound(f"no pipeline run {run_id!r}")
        return row


def _run(row: Any, steps: list[Any]) -> Run:
    values = dict(row._mapping)
    values.pop("tenant_id")
    records = []
    for step in steps:
        fields = dict(step._mapping)
        for name in ("run_id", "tenant_id"):
            fields.pop(name)
        records.append(StepRecord(**fields))
    return Run(**values, steps=records)
