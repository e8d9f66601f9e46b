"""How an answer shows PII-tagged features to the caller: raw to a role that may read PII
(``pii:read``, recorded in the audit trail), hashed or redacted to every other role."""

from __future__ import annotations

from typing import Any

from ailayer.bootstrap import Services
from ailayer.features.catalog import Selection
from ailayer.features.pii import selection_pii, shown_rows
from ailayer.governance import audit
from ailayer.governance.principal import Principal
from ailayer.governance.roles import ROLE_PERMISSIONS, Permission


def may_read_pii(principal: Principal) -> bool:
    return Permission.PII_READ in ROLE_PERMISSIONS[principal.role]


def shown(
    services: Services, principal: Principal, selection: Selection, rows: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """(the rows as this caller sees them, the PII columns it was shown raw). Blocking:
    the tenant's salt may be read from the metadata store."""
    policy = selection_pii(selection)
    if not policy.fields:
        return rows, []
    if may_read_pii(principal):
        return rows, sorted(policy.fields)
    salt = services.salts.salt(principal.tenant_id) if policy.hashed else b""
    return shown_rows(rows, policy, salt), []


def record_raw_read(
    services: Services, principal: Principal, target: str, columns: list[str], rows: int
) -> None:
    """Audit a read of raw PII (blocking: a write transaction)."""
    with services.db.write() as conn:
        audit.record(
            conn,
            principal.tenant_id,
            principal.actor,
            "pii.read",
            target,
            columns=columns,
            rows=rows,
        )
