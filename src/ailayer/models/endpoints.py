"""Endpoints: the stable names clients predict against, each naming a model and an alias.

An endpoint that was never declared falls back to the model of the same name and its
``champion`` alias, so a first model is callable as soon as it has a champion.
"""

from __future__ import annotations

from sqlalchemy import insert, select, update

from ailayer.core.clock import utcnow
from ailayer.core.errors import NotFound
from ailayer.core.ids import new_id
from ailayer.core.names import check_name
from ailayer.db.engine import Database
from ailayer.db.tables import endpoints
from ailayer.governance import audit

DEFAULT_ALIAS = "champion"


class EndpointService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def put(self, tenant_id: str, actor: str, name: str, model: str, alias: str) -> dict:
        for field, value in (("endpoint", name), ("model", model), ("alias", alias)):
            check_name(field, value)
        now = utcnow()
        key = (endpoints.c.tenant_id == tenant_id) & (endpoints.c.name == name)
        with self.db.write() as conn:
            if conn.execute(select(endpoints.c.id).where(key)).first():
                conn.execute(
                    update(endpoints)
                    .where(key)
                    .values(model_name=model, alias=alias, updated_at=now)
                )
            else:
                conn.execute(
                    insert(endpoints).values(
                        id=new_id(),
                        tenant_id=tenant_id,
                        name=name,
                        model_name=model,
                        alias=alias,
                        created_at=now,
                        updated_at=now,
                    )
                )
            audit.record(
                conn, tenant_id, actor, "endpoint.put", f"endpoint/{name}", model=model, alias=alias
            )
        return {"name": name, "model": model, "alias": alias}

    def list(self, tenant_id: str) -> list[dict]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(endpoints)
                .where(endpoints.c.tenant_id == tenant_id)
                .order_by(endpoints.c.name)
            )
            return [{"name": r.name, "model": r.model_name, "alias": r.alias} for r in rows]

    def target(self, tenant_id: str, name: str) -> tuple[str, str]:
        """The (model, alias) an endpoint routes to."""
        with self.db.read() as conn:
            row = conn.execute(
                select(endpoints.c.model_name, endpoints.c.alias).where(
                    endpoints.c.tenant_id == tenant_id, endpoints.c.name == name
                )
            ).first()
        if row is None:
            return name, DEFAULT_ALIAS
        return row.model_name, row.alias

    def get(self, tenant_id: str, name: str) -> dict:
        for item in self.list(tenant_id):
            if item["name"] == name:
                return item
        raise NotFound(f"endpoint {name!r} not found")
