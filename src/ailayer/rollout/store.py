"""Where each endpoint's traffic policy is kept: the metadata store's ``PolicyStore``.

One row per (tenant, endpoint) holds the current policy and its revision; every revision
is also added to ``deployment_history`` with who stored it and why, and to the audit log.
Every write is a compare-and-set on the revision: an ``UPDATE ... WHERE revision =
expected`` (or an insert for revision 0) whose row count says whether this writer won, so
two processes moving one endpoint at once cannot both succeed, on SQLite or PostgreSQL.

An endpoint without a row has no policy and keeps its alias routing.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from ailayer.core.clock import utcnow
from ailayer.core.errors import Conflict, InvalidInput, NotFound
from ailayer.core.ids import new_id
from ailayer.db.engine import Database
from ailayer.db.tables import deployment_history, deployments, model_versions, registered_models
from ailayer.governance import audit
from ailayer.rollout.policy import Policy

HISTORY_LIMIT = 1000


class DeploymentService:
    """The ``PolicyStore`` on the metadata database, plus what people do by hand:
    deploy (``put``), promote, roll back, and read the history."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- PolicyStore ---------------------------------------------------------------------

    def active(self, tenant_id: str, endpoint: str) -> Policy | None:
        with self.db.read() as conn:
            row = conn.execute(
                select(deployments).where(
                    deployments.c.tenant_id == tenant_id, deployments.c.endpoint == endpoint
                )
            ).first()
        return None if row is None else _policy(row)

    def canaries(self) -> list[tuple[str, Policy]]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(deployments)
                .where(deployments.c.kind == "canary", deployments.c.state == "active")
                .order_by(deployments.c.tenant_id, deployments.c.endpoint)
            ).all()
        return [(row.tenant_id, _policy(row)) for row in rows]

    def transition(
        self, tenant_id: str, actor: str, expected_revision: int, policy: Policy
    ) -> Policy:
        """Store ``policy`` as revision ``expected_revision + 1`` if the stored one is still
        ``expected_revision`` (0: none stored yet); else ``Conflict``. Variants that the
        stored policy did not have must name live versions of this tenant."""
        try:
            with self.db.write() as conn:
                current = _current(conn, tenant_id, policy.endpoint)
                known = (
                    set() if current is None else {(v.model, v.version) for v in current.variants}
                )
                _check_versions(conn, tenant_id, policy, skip=known)
                return self._store(conn, tenant_id, actor, expected_revision, policy)
        except IntegrityError:  # a concurrent first insert won (PostgreSQL)
            raise _conflict(policy.endpoint, expected_revision) from None

    # -- by hand -------------------------------------------------------------------------

    def put(self, tenant_id: str, actor: str, policy: Policy) -> Policy:
        """Deploy ``policy`` as the endpoint's next revision, whatever the current one is.
        Every variant must name an existing, unarchived version of this tenant."""
        policy = replace(policy, state="active", reason=policy.reason or "deployed")
        try:
            with self.db.write() as conn:
                _check_versions(conn, tenant_id, policy)
                current = _current_row(conn, tenant_id, policy.endpoint)
                expected = 0 if current is None else current.revision
                return self._store(conn, tenant_id, actor, expected, policy)
        except IntegrityError:
            raise _conflict(policy.endpoint, 0) from None

    def check(self, tenant_id: str, policy: Policy) -> None:
        """Raise as ``put`` would for a variant naming no live version of this tenant."""
        with self.db.read() as conn:
            _check_versions(conn, tenant_id, policy)

    def get(self, tenant_id: str, endpoint: str) -> Policy:
        policy = self.active(tenant_id, endpoint)
        if policy is None:
            raise NotFound(
                f"endpoint {endpoint!r} has no deployment (it routes by its alias)",
                field="endpoint",
            )
        return policy

    def listed(self, tenant_id: str) -> list[Policy]:
        """Every endpoint's current policy of the tenant, by endpoint name."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(deployments)
                .where(deployments.c.tenant_id == tenant_id)
                .order_by(deployments.c.endpoint)
            ).all()
        return [_policy(row) for row in rows]

    def promote(
        self,
        tenant_id: str,
        actor: str,
        endpoint: str,
        to: int | None = None,
        *,
        expected: int | None = None,
    ) -> Policy:
        """A canary to its next step, or to the step ``to`` percent (100: promoted).
        ``expected``: the revision the caller saw; another one is a ``Conflict`` (a form
        sent twice, or after the controller moved the canary, changes nothing)."""
        current = _expected(self.get(tenant_id, endpoint), expected)
        if current.kind == "canary" and current.state == "rolled_back":
            raise Conflict(
                f"the canary of {endpoint!r} was rolled back ({current.reason}); deploy it "
                "again to restart it",
                field="state",
            )
        plan = current.canary
        if current.kind != "canary" or plan is None:
            raise InvalidInput(
                f"endpoint {endpoint!r} has no canary to promote (its policy is "
                f"{current.kind!r}, {current.state})",
                field="kind",
            )
        if to is None:
            step = current.step + 1
        elif to in plan.steps:
            step = plan.steps.index(to)
        else:
            raise InvalidInput(
                f"to must be one of the canary's steps {list(plan.steps)}, got {to!r}", field="to"
            )
        if step <= current.step:
            share = plan.steps[current.step]
            raise InvalidInput(
                f"the canary is at {share}% already; promote moves it up, to one of "
                f"{list(plan.steps[current.step + 1 :])}",
                field="to",
            )
        moved = current.at_step(step)
        if moved.state == "promoted":
            moved = replace(moved, reason=f"promoted to 100% by {actor}")
        return self.transition(tenant_id, actor, current.revision, moved)

    def rollback(
        self, tenant_id: str, actor: str, endpoint: str, reason: str, *, expected: int | None = None
    ) -> Policy:
        """The canary to 0% and the stable version to 100% at once. Rolling back a canary
        that is rolled back already changes nothing (so a retry is harmless).
        ``expected``: as for ``promote``."""
        current = _expected(self.get(tenant_id, endpoint), expected)
        if current.state == "rolled_back":
            return current
        moved = current.rolled_back(reason or f"rolled back by {actor}")
        return self.transition(tenant_id, actor, current.revision, moved)

    def history(self, tenant_id: str, endpoint: str) -> list[dict[str, Any]]:
        """Every revision of the endpoint's policy, newest first."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(deployment_history)
                .where(
                    deployment_history.c.tenant_id == tenant_id,
                    deployment_history.c.endpoint == endpoint,
                )
                .order_by(deployment_history.c.revision.desc())
                .limit(HISTORY_LIMIT)
            ).all()
        return [
            {
                "revision": row.revision,
                "actor": row.actor,
                "reason": row.reason,
                "at": row.at,
                "policy": {**row.policy, "revision": row.revision, "changed_at": row.at},
            }
            for row in rows
        ]

    # -- writing -------------------------------------------------------------------------

    def _store(
        self, conn: Connection, tenant_id: str, actor: str, expected: int, policy: Policy
    ) -> Policy:
        now = utcnow()
        stored = replace(policy, revision=expected + 1, changed_at=now)
        body = _body(stored)
        values = {
            "kind": stored.kind,
            "state": stored.state,
            "policy": body,
            "revision": stored.revision,
            "changed_at": now,
            "changed_by": actor,
        }
        key = (deployments.c.tenant_id == tenant_id) & (deployments.c.endpoint == policy.endpoint)
        if expected == 0:
            if _current_row(conn, tenant_id, policy.endpoint) is not None:
                raise _conflict(policy.endpoint, expected)
            conn.execute(
                insert(deployments).values(tenant_id=tenant_id, endpoint=policy.endpoint, **values)
            )
        else:
            result = conn.execute(
                update(deployments).where(key, deployments.c.revision == expected).values(**values)
            )
            if result.rowcount != 1:
                raise _conflict(policy.endpoint, expected)
        conn.execute(
            insert(deployment_history).values(
                id=new_id(),
                tenant_id=tenant_id,
                endpoint=policy.endpoint,
                revision=stored.revision,
                policy=body,
                actor=actor,
                reason=stored.reason,
                at=now,
            )
        )
        audit.record(
            conn,
            tenant_id,
            actor,
            "deployment.transition",
            f"endpoint/{policy.endpoint}/deployment",
            revision=stored.revision,
            kind=stored.kind,
            state=stored.state,
            reason=stored.reason,
            shares={v.name: v.share for v in stored.variants if not v.shadow},
        )
        return stored


def _body(policy: Policy) -> dict[str, Any]:
    """The stored JSON: the policy without what the row's columns hold."""
    body = policy.to_dict()
    body.pop("revision")
    body.pop("changed_at")
    return body


def _policy(row: Any) -> Policy:
    return Policy.from_dict({**row.policy, "revision": row.revision, "changed_at": row.changed_at})


def _current_row(conn: Connection, tenant_id: str, endpoint: str) -> Any:
    return conn.execute(
        select(deployments).where(
            deployments.c.tenant_id == tenant_id, deployments.c.endpoint == endpoint
        )
    ).first()


def _current(conn: Connection, tenant_id: str, endpoint: str) -> Policy | None:
    row = _current_row(conn, tenant_id, endpoint)
    return None if row is None else _policy(row)


def _expected(current: Policy, expected: int | None) -> Policy:
    """``current``, unless the caller saw another revision (``Conflict`` saying what it is
    now)."""
    if expected is not None and current.revision != expected:
        raise Conflict(
            f"the deployment of {current.endpoint!r} changed meanwhile: you saw revision "
            f"{expected}, it is now revision {current.revision} ({current.kind}, "
            f"{current.state}{': ' + current.reason if current.reason else ''}); nothing was "
            "changed",
            field="revision",
        )
    return current


def _conflict(endpoint: str, expected: int) -> Conflict:
    return Conflict(
        f"the deployment of {endpoint!r} changed meanwhile (expected revision {expected}); "
        "read it again and retry",
        field="revision",
    )


def _check_versions(
    conn: Connection, tenant_id: str, policy: Policy, skip: Collection[tuple[str, int]] = ()
) -> None:
    """Each variant names a version of this tenant's model that is not archived (another
    tenant's model is as unknown as a missing one)."""
    wanted = [v for v in policy.variants if (v.model, v.version) not in skip]
    if not wanted:
        return
    rows = conn.execute(
        select(registered_models.c.name, model_versions.c.version, model_versions.c.archived)
        .join(registered_models, registered_models.c.id == model_versions.c.model_id)
        .where(
            registered_models.c.tenant_id == tenant_id,
            registered_models.c.name.in_({v.model for v in wanted}),
        )
    ).all()
    archived = {(r.name, r.version): r.archived for r in rows}
    for variant in wanted:
        state = archived.get((variant.model, variant.version))
        where = f"variant {variant.name!r}: model {variant.model!r} version {variant.version}"
        if state is None:
            raise NotFound(f"{where} not found", field="variants")
        if state:
            raise InvalidInput(f"{where} is archived; deploy a live version", field="variants")
