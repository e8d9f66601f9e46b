"""Teams inside a tenant: the groups that keys and SSO users belong to, and that own
models, endpoints, feature views and pipelines (``ownership``).

A team is a name in its tenant. A key names its team when it is created; an SSO user's
team comes from the token's team claim. A team still named by an active key or owning an
object cannot be deleted (409 saying what holds it), so no owner points at nothing.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, func, insert, select

from ailayer.core.clock import utcnow
from ailayer.core.errors import Conflict, NotFound
from ailayer.core.names import check_name
from ailayer.db.engine import Database
from ailayer.db.tables import api_keys, owners, teams
from ailayer.governance import audit
from ailayer.governance.key_rules import active


def require_team(conn: Connection, tenant_id: str, team: str, field: str = "team") -> str:
    """``team`` if the tenant has it, else ``NotFound`` naming the field."""
    check_name(field, team)
    found = conn.execute(
        select(teams.c.name).where(teams.c.tenant_id == tenant_id, teams.c.name == team)
    ).first()
    if found is None:
        raise NotFound(
            f"team {team!r} does not exist in this tenant; create it first (ailayer teams create)",
            field=field,
        )
    return team


def insert_team(conn: Connection, tenant_id: str, name: str, actor: str) -> None:
    conn.execute(
        insert(teams).values(tenant_id=tenant_id, name=name, created_at=utcnow(), created_by=actor)
    )
    audit.record(conn, tenant_id, actor, "team.create", f"team/{name}")


class TeamService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, tenant_id: str, name: str, *, actor: str) -> dict:
        check_name("name", name)
        with self.db.write() as conn:
            if team_exists(conn, tenant_id, name):
                raise Conflict(f"team {name!r} already exists", field="name")
            insert_team(conn, tenant_id, name, actor)
        return self.get(tenant_id, name)

    def ensure(self, tenant_id: str, name: str, *, actor: str) -> None:
        """Set-up: the team, made if new."""
        check_name("team", name)
        with self.db.write() as conn:
            if not team_exists(conn, tenant_id, name):
                insert_team(conn, tenant_id, name, actor)

    def get(self, tenant_id: str, name: str) -> dict:
        for team in self.list(tenant_id):
            if team["name"] == name:
                return team
        raise NotFound(f"team {name!r} not found", field="name")

    def list(self, tenant_id: str) -> list[dict]:
        """Each team with how many active keys are in it and how many objects it owns."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(teams).where(teams.c.tenant_id == tenant_id).order_by(teams.c.name)
            ).all()
            keys, owned = _usage(conn, tenant_id)
        return [
            {
                "name": row.name,
                "created_at": row.created_at,
                "created_by": row.created_by,
                "keys": keys.get(row.name, 0),
                "owns": owned.get(row.name, 0),
            }
            for row in rows
        ]

    def delete(self, tenant_id: str, name: str, *, actor: str) -> None:
        """Delete an empty team; one that active keys name or that owns objects is 409."""
        with self.db.write() as conn:
            if not team_exists(conn, tenant_id, name):
                raise NotFound(f"team {name!r} not found", field="name")
            keys, owned = _usage(conn, tenant_id)
            if keys.get(name) or owned.get(name):
                raise Conflict(
                    f"team {name!r} still has {keys.get(name, 0)} active key(s) and owns "
                    f"{owned.get(name, 0)} object(s); revoke the keys and give the objects "
                    "another owner first",
                    field="name",
                )
            conn.execute(delete(teams).where(teams.c.tenant_id == tenant_id, teams.c.name == name))
            audit.record(conn, tenant_id, actor, "team.delete", f"team/{name}")


def team_exists(conn: Connection, tenant_id: str, name: str) -> bool:
    query = select(teams.c.name).where(teams.c.tenant_id == tenant_id, teams.c.name == name)
    return conn.execute(query).first() is not None


def _usage(conn: Connection, tenant_id: str) -> tuple[dict[str, int], dict[str, int]]:
    """Per team: its active keys, and the objects it owns."""
    keys = _counts(conn, api_keys.c.team, api_keys.c.tenant_id == tenant_id, active(utcnow()))
    return keys, _counts(conn, owners.c.team, owners.c.tenant_id == tenant_id)


def _counts(conn: Connection, column, *where) -> dict[str, int]:  # type: ignore[no-untyped-def]
    query = select(column, func.count()).where(*where, column.is_not(None)).group_by(column)
    return {team: count for team, count in conn.execute(query)}
