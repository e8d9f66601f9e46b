"""Which team owns a model, an endpoint, a feature view or a pipeline, and who may change it.

The rule (``require_change``): an admin may change anything; anyone else with the write
permission may change an object that has no owner, or one their own team owns. Anything
else is a 403 naming the owner team. An object gets an owner when a caller with a team
creates it (``claim``), or when an admin sets one (``set``); both are audited as
``owner.set`` with the previous owner, so the trail shows every change of hands.
"""

from __future__ import annotations

from typing import Literal, get_args

from sqlalchemy import Connection, delete, insert, select, update

from ailayer.core.clock import utcnow
from ailayer.core.errors import Forbidden, InvalidInput
from ailayer.core.names import check_name
from ailayer.db.engine import Database
from ailayer.db.tables import owners
from ailayer.governance import audit
from ailayer.governance.principal import Principal
from ailayer.governance.roles import Role
from ailayer.governance.teams import insert_team, require_team, team_exists

Kind = Literal["model", "endpoint", "feature_view", "pipeline"]
KINDS: tuple[str, ...] = get_args(Kind)


def check_kind(kind: str) -> Kind:
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}; got {kind!r}", field="kind")
    return kind  # type: ignore[return-value]


def may_change(principal: Principal, owner: str | None) -> bool:
    return principal.role is Role.ADMIN or owner is None or owner == principal.team


def refusal(principal: Principal, kind: str, name: str, owner: str) -> Forbidden:
    caller = f"team {principal.team!r}" if principal.team else "no team"
    return Forbidden(
        f"{kind} {name!r} is owned by team {owner!r}; {principal.actor} is in {caller}: "
        f"only team {owner!r}'s members or an admin may change it",
        field="team",
    )


class OwnershipService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def owner(self, tenant_id: str, kind: str, name: str) -> str | None:
        with self.db.read() as conn:
            return _owner(conn, tenant_id, kind, name)

    def require_change(self, principal: Principal, kind: str, name: str) -> None:
        """403 naming the owner team unless ``principal`` may change this object."""
        if principal.role is Role.ADMIN:
            return
        owner = self.owner(principal.tenant_id, kind, name)
        if not may_change(principal, owner):
            raise refusal(principal, kind, name, owner)  # type: ignore[arg-type]

    def claim(self, principal: Principal, kind: str, name: str) -> None:
        """A new object's owner: the creator's team, when it has one and nobody owns the
        name yet. A team named only by an SSO token's claim is made here (audited)."""
        if principal.team is None:
            return
        with self.db.write() as conn:
            if _owner(conn, principal.tenant_id, kind, name) is not None:
                return
            if not team_exists(conn, principal.tenant_id, principal.team):
                insert_team(conn, principal.tenant_id, principal.team, principal.actor)
            _insert(conn, principal.tenant_id, kind, name, principal.team, principal.actor)
            audit.record(
                conn,
                principal.tenant_id,
                principal.actor,
                "owner.set",
                f"{kind}/{name}",
                team=principal.team,
                previous=None,
                reason="created",
            )

    def set(self, tenant_id: str, kind: str, name: str, team: str | None, *, actor: str) -> dict:
        """Give an object to ``team`` (an existing team of the tenant), or to no team with
        None; audited with the previous owner."""
        check_kind(kind)
        check_name("name", name)
        with self.db.write() as conn:
            if team is not None:
                require_team(conn, tenant_id, team)
            previous = _owner(conn, tenant_id, kind, name)
            if previous == team:
                return self._shown(kind, name, team)
            where = _where(tenant_id, kind, name)
            if team is None:
                conn.execute(delete(owners).where(*where))
            elif previous is None:
                _insert(conn, tenant_id, kind, name, team, actor)
            else:
                values = {"team": team, "updated_at": utcnow(), "updated_by": actor}
                conn.execute(update(owners).where(*where).values(**values))
            audit.record(
                conn, tenant_id, actor, "owner.set", f"{kind}/{name}", team=team, previous=previous
            )
        return self._shown(kind, name, team)

    def get(self, tenant_id: str, kind: str, name: str) -> dict:
        """The object's owner row; ``team`` None (and no times) when nobody owns it."""
        check_kind(kind)
        with self.db.read() as conn:
            row = conn.execute(select(owners).where(*_where(tenant_id, kind, name))).first()
        return _row(row) if row is not None else self._shown(kind, name, None)

    def list(self, tenant_id: str, kind: str | None = None, team: str | None = None) -> list[dict]:
        query = select(owners).where(owners.c.tenant_id == tenant_id)
        if kind is not None:
            query = query.where(owners.c.kind == check_kind(kind))
        if team is not None:
            query = query.where(owners.c.team == team)
        query = query.order_by(owners.c.kind, owners.c.name)
        with self.db.read() as conn:
            return [_row(row) for row in conn.execute(query)]

    @staticmethod
    def _shown(kind: str, name: str, team: str | None) -> dict:
        return {"kind": kind, "name": name, "team": team}


def _row(row) -> dict:  # type: ignore[no-untyped-def]
    names = ("kind", "name", "team", "updated_at", "updated_by")
    return {name: getattr(row, name) for name in names}


def _where(tenant_id: str, kind: str, name: str) -> tuple:  # type: ignore[type-arg]
    return (owners.c.tenant_id == tenant_id, owners.c.kind == kind, owners.c.name == name)


def _owner(conn: Connection, tenant_id: str, kind: str, name: str) -> str | None:
    row = conn.execute(select(owners.c.team).where(*_where(tenant_id, kind, name))).first()
    return row.team if row is not None else None


def _insert(conn: Connection, tenant_id: str, kind: str, name: str, team: str, actor: str) -> None:
    conn.execute(
        insert(owners).values(
            tenant_id=tenant_id,
            kind=kind,
            name=name,
            team=team,
            updated_at=utcnow(),
            updated_by=actor,
        )
    )
