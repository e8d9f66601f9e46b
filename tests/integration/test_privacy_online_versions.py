"""A data subject's online rows in views of a composite key and in older view versions
(and removed views) are exported and erased too, on SQLite and on PostgreSQL with the real Redis; a
bystander's rows and another tenant's stay; a second delete removes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from ailayer.bootstrap import Services, build
from ailayer.core.errors import InvalidInput
from ailayer.features import Entity, Feature, FeatureView, ParquetSource
from ailayer.features.stores.online import OnlineRow, entity_key
from ailayer.governance.privacy import Subject
from tests.support.online_stores import REDIS_URL, delete_prefix
from tests.support.services import scratch_postgres_database

pytestmark = pytest.mark.integration

customer = Entity("customer", {"customer_id": int})
merchant = Entity("merchant", {"merchant_id": str})
NOW = datetime.now(UTC).replace(microsecond=0)


def orders(version: int = 1) -> FeatureView:
    return FeatureView(
        "orders",
        entities=[merchant, customer],  # the subject's key second in the entity key
        features=[Feature("spent", float)],
        source=ParquetSource("orders.parquet", timestamp_field="ts"),
        version=version,
    )


def profile(version: int) -> FeatureView:
    features = [Feature("email", str)] if version == 1 else [Feature("email_hash", str)]
    return FeatureView(
        "profile",
        entities=[customer],
        features=features,
        source=ParquetSource("profiles.parquet", timestamp_field="ts"),
        version=version,
    )


def gone() -> FeatureView:
    return FeatureView(
        "gone",
        entities=[customer],
        features=[Feature("score", float)],
        source=ParquetSource("gone.parquet", timestamp_field="ts"),
    )


@pytest.fixture(params=["sqlite", "postgres-redis"])
def services(request: pytest.FixtureRequest, make_settings, tmp_path) -> Iterator[Services]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        built = build(make_settings(online_store=f"sqlite:///{tmp_path / 'online.db'}"))
        yield built
        built.close()
        return
    prefix = f"ailayer-test-{uuid.uuid4().hex[:10]}:"
    with scratch_postgres_database() as url:
        built = build(make_settings(metadata_url=url, online_store=f"{REDIS_URL}?prefix={prefix}"))
        try:
            yield built
        finally:
            built.close()
            delete_prefix(prefix)


def write(services: Services, tenant: str, view: str, rows: dict[str, dict]) -> None:
    services.online.write_batch(
        tenant, view, [OnlineRow(key, NOW, values) for key, values in rows.items()]
    )


def seed(services: Services, tenant: str) -> None:
    """42 (the subject) and 7 in: orders@1 (composite), profile@1 (then replaced by
    version 2), profile@2, and ``gone@1`` (a view removed since)."""
    services.features.apply(tenant, "t", [customer, merchant, orders(), profile(1), gone()])
    write(services, tenant, "profile@1", {"[42]": {"email": "c42@x"}, "[7]": {"email": "c7@x"}})
    write(services, tenant, "gone@1", {"[42]": {"score": 0.5}, "[7]": {"score": 0.1}})
    services.features.apply(tenant, "t", [customer, merchant, orders(), profile(2)])
    write(
        services, tenant, "profile@2", {"[42]": {"email_hash": "h42"}, "[7]": {"email_hash": "h7"}}
    )
    write(
        services,
        tenant,
        "orders@1",
        {
            entity_key(["m1", 42]): {"spent": 10.0},
            entity_key(["m2", 42]): {"spent": 20.0},
            entity_key(["m1", 7]): {"spent": 5.0},
            entity_key(["42", 7]): {"spent": 1.0},  # a merchant named "42": not the subject
        },
    )


def test_composite_keys_older_versions_and_removed_views_are_covered(services: Services) -> None:
    tenant, other = services.keys.create_tenant("acme"), services.keys.create_tenant("other")
    seed(services, tenant)
    seed(services, other)
    subject = Subject("customer_id", "42")

    found = next(
        s
        for s in services.privacy.export(tenant, "a", subject)["stores"]
        if s["store"] == "online_store"
    )
    assert found["where"] == {"gone@1": 1, "orders@1": 2, "profile@1": 1, "profile@2": 1}
    assert found["note"] == ""
    keys = sorted((r["view"], r["key"]) for r in found["records"])
    assert ("orders@1", '["m1",42]') in keys and ("orders@1", '["42",7]') not in keys
    values = {r["view"]: r["values"] for r in found["records"] if r["view"].startswith("profile")}
    assert values == {"profile@1": {"email": "c42@x"}, "profile@2": {"email_hash": "h42"}}

    receipt = services.privacy.delete(tenant, "a", subject)
    online = next(s for s in receipt["stores"] if s["store"] == "online_store")
    assert online["removed"] == 5
    assert online["where"] == {"gone@1": 1, "orders@1": 2, "profile@1": 1, "profile@2": 1}

    left = {
        view: dict(services.online.scan(tenant, view)) for view in services.online.views(tenant)
    }
    assert sorted(left["orders@1"]) == ['["42",7]', '["m1",7]']
    assert list(left["profile@1"]) == list(left["profile@2"]) == list(left["gone@1"]) == ["[7]"]
    untouched = {
        view: len(dict(services.online.scan(other, view))) for view in services.online.views(other)
    }
    assert untouched == {"gone@1": 2, "orders@1": 4, "profile@1": 2, "profile@2": 2}

    again = services.privacy.delete(tenant, "a", subject)
    assert next(s for s in again["stores"] if s["store"] == "online_store")["removed"] == 0
    after = services.privacy.export(tenant, "a", subject)
    assert next(s for s in after["stores"] if s["store"] == "online_store")["count"] == 0


def test_a_value_no_version_of_the_key_can_hold_is_refused(services: Services) -> None:
    tenant = services.keys.create_tenant("acme")
    seed(services, tenant)
    with pytest.raises(InvalidInput, match="integer key") as refused:
        services.privacy.export(tenant, "a", Subject("customer_id", "abc"))
    assert refused.value.field == "subject"
