"""A data subject seeded in every store is gone from each after a delete, on every backend:
SQLite metadata + SQLite online store + local files, and PostgreSQL + Redis + S3. It does
not come back with the next materialization or stream event, the receipt is in the audit
trail (naming the subject by hash only), and running the delete again removes only the
event published after the first (kept on the stream view's topic)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from ailayer.bootstrap import Services, build
from ailayer.features.files import read_parquet_url
from ailayer.governance import audit, audit_chain
from ailayer.governance.privacy import Subject
from ailayer.models.service import NewVersion
from ailayer.monitoring.drift import profile
from tests.support import privacy as seeded
from tests.support.online_stores import REDIS_URL, delete_prefix
from tests.support.privacy import BYSTANDER, SUBJECT, T0, online_values, seed
from tests.support.services import scratch_postgres_database, tiny_sklearn_model

pytestmark = pytest.mark.integration

STORES = ("online_store", "offline_store", "prediction_log")


@pytest.fixture(params=["sqlite-local", "postgres-redis-s3"])
def services(request: pytest.FixtureRequest, make_settings, tmp_path) -> Iterator[Services]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite-local":
        built = build(make_settings(online_store=f"sqlite:///{tmp_path / 'online.db'}"))
        yield built
        built.close()
        return
    bucket = request.getfixturevalue("s3_bucket")
    prefix = f"ailayer-test-{uuid.uuid4().hex[:10]}:"
    with scratch_postgres_database() as url:
        built = build(
            make_settings(
                metadata_url=url,
                online_store=f"{REDIS_URL}?prefix={prefix}",
                offline_store=f"s3://{bucket}/offline",
            )
        )
        try:
            yield built
        finally:
            built.close()
            delete_prefix(prefix)


def by_store(answer: dict) -> dict[str, dict]:
    return {s["store"]: s for s in answer["stores"]}


def test_a_deleted_subject_is_gone_from_every_store(services: Services) -> None:
    tenant = services.keys.create_tenant("acme")
    dataset_id = seed(services, tenant)
    subject = Subject("customer_id", str(SUBJECT))

    before = by_store(services.privacy.export(tenant, "admin", subject))
    assert before["online_store"]["count"] == 2  # profile and payments
    online = {r["view"]: r["values"] for r in before["online_store"]["records"]}
    assert online["profile@1"]["email"] == "c42@example.com"
    offline = before["offline_store"]["where"]
    assert offline[f"datasets/{dataset_id}.parquet"] == 1
    assert sum(n for w, n in offline.items() if "/values/" in w) >= 1
    assert sum(n for w, n in offline.items() if "/events/" in w) == 2
    kinds = [next(iter(r)) for r in before["prediction_log"]["records"]]
    assert sorted(kinds) == ["feedback", "prediction"]
    assert before["customer_sources"]["customer_owned"] is True
    assert any("profiles.parquet" in w for w in before["customer_sources"]["where"])

    receipt = services.privacy.delete(tenant, "admin", subject)
    assert receipt["complete"] and not receipt["failed"]
    removed = {s["store"]: s["removed"] for s in receipt["stores"]}
    assert removed["online_store"] == 2 and removed["prediction_log"] == 2
    assert removed["offline_store"] == sum(offline.values())
    assert removed["customer_sources"] == 0
    # the stream view's payments, still on its topic in the bus's log
    assert removed["event_topics"] == before["event_topics"]["count"] > 0

    after = by_store(services.privacy.export(tenant, "admin", subject))
    assert all(after[name]["count"] == 0 for name in (*STORES, "event_topics"))
    assert online_values(services, tenant, SUBJECT) == {"profile": None, "payments": None}
    assert online_values(services, tenant, BYSTANDER)["profile"]["plan_value"] == 7.0
    kept = read_parquet_url(services.offline.dataset(tenant, dataset_id).location)
    assert kept.column("customer_id").to_pylist() == [BYSTANDER]
    assert services.offline.dataset(tenant, dataset_id).row_count == 1
    bystander = by_store(services.privacy.export(tenant, "admin", Subject("customer_id", "7")))
    assert bystander["prediction_log"]["count"] == 2 and bystander["online_store"]["count"] == 2

    # the customer's source still holds 42: the tombstone keeps it out
    seeded.materialize(services, tenant)
    seeded.stream(services, tenant, [SUBJECT, BYSTANDER], T0 + timedelta(minutes=30))
    assert online_values(services, tenant, SUBJECT) == {"profile": None, "payments": None}
    assert online_values(services, tenant, BYSTANDER)["payments"]["payments_1d"] == 2
    again = by_store(services.privacy.export(tenant, "admin", subject))
    assert all(again[name]["count"] == 0 for name in STORES)

    rerun = services.privacy.delete(tenant, "admin", subject)
    assert rerun["complete"]  # only the payment streamed after the delete, on the topic
    assert {s["store"]: s["removed"] for s in rerun["stores"] if s["removed"]} == {
        "event_topics": 1
    }
    with services.db.read() as conn:
        entries = audit.entries(conn, tenant, target_prefix="subject/")
        assert audit_chain.verify(conn, tenant).ok
    actions = [e["action"] for e in entries]
    assert actions.count("privacy.delete") == 2 and actions.count("privacy.export") == 4
    deletes = [e for e in entries if e["action"] == "privacy.delete"]
    counts = sorted(e["detail"]["removed"] for e in deletes)
    assert counts == sorted([receipt["removed"], rerun["removed"]])
    deleted = next(e for e in deletes if e["detail"]["removed"] == receipt["removed"])
    assert all("c42@" not in str(e) and "customer_id=42" not in str(e) for e in entries)
    assert deleted["target"] == f"subject/{receipt['subject_hash']}"
    assert datetime.fromisoformat(deleted["detail"]["finished_at"]) <= datetime.now(UTC)


def test_a_drift_reference_profiled_from_a_training_set_of_the_subject_is_forgotten(
    services: Services,
) -> None:
    tenant = services.keys.create_tenant("acme")
    dataset_id = seed(services, tenant)
    tiny = tiny_sklearn_model()
    for model, dataset in (("churn", dataset_id), ("other", None)):
        new = NewVersion(
            model=model,
            flavor="sklearn",
            artifact=tiny.artifact,
            signature=tiny.signature,
            dataset_version=dataset,
        )
        services.registry.register(tenant, "admin", new)
        built = profile(pd.DataFrame({"plan_value": [7.0, 42.0]}))
        services.drift.references.put_profile(tenant, model, 1, built, source="lineage")
    subject = Subject("customer_id", str(SUBJECT))

    offline = by_store(services.privacy.export(tenant, "admin", subject))["offline_store"]
    assert offline["where"]["drift_references/churn@1"] == 1
    assert "drift_references/other@1" not in offline["where"]

    receipt = by_store(services.privacy.delete(tenant, "admin", subject))["offline_store"]
    assert receipt["where"]["drift_references/churn@1"] == 1
    assert services.drift.references.stored(tenant, "churn", 1) is None  # profiled again
    assert services.drift.references.stored(tenant, "other", 1) is not None
    again = by_store(services.privacy.delete(tenant, "admin", subject))["offline_store"]
    assert again["removed"] == 0
