"""Applying feature definitions on SQLite and the real PostgreSQL: plans, versions, rules."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import inspect

from ailayer.core.errors import Conflict, InvalidInput, NotFound
from ailayer.db.migrate import current_revision, head_revision
from ailayer.features import Feature, FeatureRegistry, FeatureService
from ailayer.governance.audit import entries
from ailayer.governance.keys import KeyService
from tests.support.feature_repo import REPO, customer_stats, database, fraud, merchant_risk

pytestmark = pytest.mark.integration


@pytest.fixture
def registry(metadata_url):  # type: ignore[no-untyped-def]
    db, tenant = database(metadata_url)
    yield FeatureRegistry(db), tenant
    db.dispose()


def names(changes) -> list[str]:  # type: ignore[no-untyped-def]
    return [f"{c.kind}/{c.name}" for c in changes]


def test_migration_adds_the_feature_tables(registry) -> None:  # type: ignore[no-untyped-def]
    reg, _ = registry
    assert current_revision(reg.db) == head_revision()
    tables = set(inspect(reg.db.engine).get_table_names())
    assert {
        "feature_objects",
        "feature_object_revisions",
        "feature_materializations",
        "feature_datasets",
    } <= tables


def test_plan_apply_change_remove_and_history(registry) -> None:  # type: ignore[no-untyped-def]
    reg, tenant = registry
    assert len(reg.plan(tenant, REPO).added) == 6
    first = reg.apply(tenant, "alice", REPO)
    assert names(first.added) == [
        "entity/customer",
        "entity/merchant",
        "feature_service/fraud",
        "feature_view/customer_stats",
        "feature_view/merchant_risk",
        "on_demand_view/amount_ratio",
    ]
    assert not reg.apply(tenant, "alice", REPO).has_changes

    grown = replace(
        customer_stats,
        features=[*customer_stats.features, Feature("max_amount", float)],
        description="v1.1",
    )
    repo = [o for o in REPO if o.name not in ("customer_stats", "fraud")] + [grown]
    plan = reg.plan(tenant, repo)
    assert names(plan.changed) == ["feature_view/customer_stats"]
    assert plan.changed[0].details == ("+ feature max_amount", 'description: "" → "v1.1"')
    assert names(plan.removed) == ["feature_service/fraud"]
    assert reg.get(tenant, "feature_view", "customer_stats")["revision"] == 1  # plan is dry
    reg.apply(tenant, "bob", repo)

    history = reg.versions(tenant, "feature_view", "customer_stats")
    assert [(h["revision"], h["change"], h["created_by"]) for h in history] == [
        (1, "added", "alice"),
        (2, "changed", "bob"),
    ]
    assert [f["name"] for f in history[1]["spec"]["features"]] == [
        "avg_amount",
        "txn_count",
        "max_amount",
    ]
    assert [h["change"] for h in reg.versions(tenant, "feature_service", "fraud")] == [
        "added",
        "removed",
    ]
    assert "fraud" not in {o["name"] for o in reg.list(tenant)}
    assert reg.catalog(tenant).views["customer_stats"] == grown
    assert [e["action"] for e in entries_for(reg, tenant)] == ["features.apply", "features.apply"]

    back = reg.apply(tenant, "carol", [*repo, fraud])
    assert names(back.added) == ["feature_service/fraud"]
    assert reg.get(tenant, "feature_service", "fraud")["revision"] == 3


def entries_for(reg: FeatureRegistry, tenant: str) -> list[dict]:
    with reg.db.read() as conn:
        return entries(conn, tenant, "features")


def test_dtype_change_needs_a_new_version(registry) -> None:  # type: ignore[no-untyped-def]
    reg, tenant = registry
    reg.apply(tenant, "alice", REPO)
    retyped = replace(merchant_risk, features=[Feature("risk", str)])
    others = [o for o in REPO if o.name != "merchant_risk"]
    with pytest.raises(Conflict) as caught:
        reg.apply(tenant, "alice", [*others, retyped])
    assert "feature 'risk' dtype float64 → string" in caught.value.message
    assert "FeatureView(..., version=2)" in caught.value.message

    plan = reg.apply(tenant, "alice", [*others, replace(retyped, version=2)])
    assert plan.changed[0].version == 2 and "version: 1 → 2" in plan.changed[0].details
    assert [h["version"] for h in reg.versions(tenant, "feature_view", "merchant_risk")] == [1, 2]
    with pytest.raises(Conflict, match="cannot be applied again"):
        reg.apply(tenant, "alice", REPO)  # going back to version 1


def test_references_are_checked_and_tenants_are_separate(registry) -> None:  # type: ignore[no-untyped-def]
    reg, tenant = registry
    with pytest.raises(
        InvalidInput, match="feature service 'broken': unknown features: customer_stats:nope"
    ):
        reg.apply(tenant, "alice", [*REPO, FeatureService("broken", ["customer_stats:nope"])])
    with pytest.raises(InvalidInput, match="defined twice"):
        reg.plan(tenant, [*REPO, customer_stats])
    reg.apply(tenant, "alice", REPO)
    other = KeyService(reg.db).create_tenant("globex")
    assert reg.list(other) == []
    with pytest.raises(NotFound):
        reg.get(other, "feature_view", "customer_stats")
    with pytest.raises(NotFound):
        reg.apply("no-such-tenant", "alice", REPO)
