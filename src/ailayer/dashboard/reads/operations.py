"""The alerts, pipelines, audit and cost pages' data, from the services their API
routes call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ailayer.core.errors import InvalidInput
from ailayer.cost.service import CostService
from ailayer.db.engine import Database
from ailayer.governance import audit
from ailayer.monitoring.alerting.store import AlertStore
from ailayer.pipelines.runner import PipelineService

AUDIT_PAGE = 50
MAX_FILTER_CHARS = 400


@dataclass(frozen=True)
class AlertsView:
    rules: list[dict[str, Any]]  # GET /v1/alerts/rules
    firing: list[dict[str, Any]]  # GET /v1/alerts: firing now
    history: list[dict[str, Any]]  # and the latest notifications


def alerts(store: AlertStore, tenant_id: str, history: int = 50) -> AlertsView:
    return AlertsView(
        [r.to_dict() for r in store.rules(tenant_id)],
        store.firing(tenant_id),
        store.history(tenant_id, history),
    )


@dataclass(frozen=True)
class PipelineRow:
    name: str
    declared: bool  # in this server's feature repo (else: only its runs are known)
    runs: list[dict[str, Any]]  # newest first, as GET /v1/pipelines/{name}/runs


def pipelines(service: PipelineService, tenant_id: str, runs: int = 10) -> list[PipelineRow]:
    """Declared pipelines and those with runs, each with its latest runs."""
    try:
        declared = set(service.pipelines.all())
    except InvalidInput:  # no feature repo on this server: only the runs are known
        declared = set()
    recent = service.runs.list(tenant_id, None, 200)
    by_name: dict[str, list[dict[str, Any]]] = {name: [] for name in declared}
    for run in recent:
        found = by_name.setdefault(run.pipeline, [])
        if len(found) < runs:
            found.append(run.to_dict())
    return [PipelineRow(n, n in declared, by_name[n]) for n in sorted(by_name)]


@dataclass(frozen=True)
class AuditFilter:
    """What the audit page filters on (every field optional)."""

    actor: str = ""
    action: str = ""  # a prefix, e.g. "deployment."
    target: str = ""  # a prefix, e.g. "model/fraud"
    since: datetime | None = None
    until: datetime | None = None
    before_seq: int | None = None  # the next page starts below this

    def __post_init__(self) -> None:
        for name in ("actor", "action", "target"):
            if len(getattr(self, name)) > MAX_FILTER_CHARS:
                raise InvalidInput(
                    f"{name} is longer than {MAX_FILTER_CHARS} characters", field=name
                )
        if self.since and self.until and self.since >= self.until:
            raise InvalidInput("since must be before until", field="since")


@dataclass(frozen=True)
class AuditPage:
    entries: list[dict[str, Any]]
    next_before: int | None  # before_seq of the next page, None on the last


def audit_entries(
    db: Database, tenant_id: str, wanted: AuditFilter, limit: int = AUDIT_PAGE
) -> AuditPage:
    with db.read() as conn:
        rows = audit.entries(
            conn,
            tenant_id,
            wanted.target,
            limit,
            actor=wanted.actor or None,
            action_prefix=wanted.action,
            since=wanted.since,
            until=wanted.until,
            before_seq=wanted.before_seq,
        )
    return AuditPage(rows, rows[-1]["seq"] if len(rows) == limit else None)


def cost(
    service: CostService | None, tenant_id: str, start: datetime | None, end: datetime | None
) -> dict[str, Any] | None:
    """``GET /v1/cost``'s report; None where cost reporting is not set up."""
    return None if service is None else service.report(tenant_id, start, end)
