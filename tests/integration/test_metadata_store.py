"""The metadata store on SQLite and the real PostgreSQL: migrations, registry, keys."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from ailayer.core.errors import Conflict, NotFound, Unauthenticated
from ailayer.db.engine import Database
from ailayer.db.migrate import current_revision, head_revision, upgrade
from ailayer.governance.keys import KeyService
from ailayer.models.artifacts import open_artifact_store
from ailayer.models.service import ModelRegistry, NewVersion
from tests.support.services import tiny_sklearn_model

pytestmark = pytest.mark.integration


@pytest.fixture
def db(metadata_url):  # type: ignore[no-untyped-def]
    database = Database(metadata_url)
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture
def registry(db, tmp_path):  # type: ignore[no-untyped-def]
    return ModelRegistry(db, open_artifact_store(f"file://{tmp_path / 'artifacts'}"))


def new_version(model: str = "fraud", **kwargs) -> NewVersion:  # type: ignore[no-untyped-def]
    tiny = tiny_sklearn_model()
    return NewVersion(
        model=model, flavor="sklearn", artifact=tiny.artifact, signature=tiny.signature, **kwargs
    )


def test_migrations_create_every_table_and_are_idempotent(db) -> None:  # type: ignore[no-untyped-def]
    upgrade(db)
    assert current_revision(db) == head_revision()
    tables = set(inspect(db.engine).get_table_names())
    assert {
        "tenants",
        "api_keys",
        "registered_models",
        "model_versions",
        "model_aliases",
        "endpoints",
        "audit_log",
    } <= tables


def test_versions_aliases_and_archive(db, registry) -> None:  # type: ignore[no-untyped-def]
    keys = KeyService(db)
    tenant = keys.create_tenant("acme")
    v1 = registry.register(tenant, "alice", new_version(aliases=["champion"]))
    v2 = registry.register(tenant, "bob", new_version(metrics={"auc": 0.8}))
    assert (v1.version, v2.version) == (1, 2)
    assert v2.created_at.tzinfo is not None
    registry.set_alias(tenant, "carol", "fraud", "champion", 2)
    assert registry.resolve_alias(tenant, "fraud", "champion").version == 2
    history = registry.alias_history(tenant, "fraud")
    assert [(h["actor"], h["detail"]["to_version"]) for h in history] == [
        ("carol", 2),
        ("alice", 1),
    ]
    with pytest.raises(Conflict):
        registry.archive_version(tenant, "carol", "fraud", 2)
    assert registry.archive_version(tenant, "carol", "fraud", 1).archived is True


def test_tenants_do_not_see_each_other(db, registry) -> None:  # type: ignore[no-untyped-def]
    keys = KeyService(db)
    acme, globex = keys.create_tenant("acme"), keys.create_tenant("globex")
    registry.register(acme, "alice", new_version(aliases=["champion"]))
    registry.register(globex, "gary", new_version())
    assert [m["latest_version"] for m in registry.list_models(globex)] == [1]
    with pytest.raises(NotFound):
        registry.resolve_alias(globex, "fraud", "champion")
    with pytest.raises(NotFound):
        registry.set_alias(globex, "gary", "fraud", "champion", 9)
    assert registry.resolve_alias(acme, "fraud", "champion").version == 1


def test_key_lifecycle(db) -> None:  # type: ignore[no-untyped-def]
    keys = KeyService(db, cache_seconds=0)
    tenant = keys.create_tenant("acme")
    created = keys.create_key(tenant, "ci", "service")
    principal = keys.authenticate(created.key)
    assert (principal.tenant_id, principal.role.value) == (tenant, "service")
    keys.revoke_key(tenant, created.prefix, actor="admin")
    with pytest.raises(Unauthenticated):
        keys.authenticate(created.key)
    with pytest.raises(Conflict):
        keys.create_tenant("acme")
