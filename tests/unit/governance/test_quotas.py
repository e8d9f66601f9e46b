"""Tenant quotas on models, stored bytes, feature views and events a day: 403 naming the
quota, nothing written; on SQLite and the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from ailayer.bootstrap import Services, build
from ailayer.core.errors import QuotaExceeded
from tests.support.api import Api, make_api
from tests.support.events_api import VALID
from tests.support.feature_repo import REPO
from tests.support.services import tiny_sklearn_model


@pytest.fixture
def quota_services(make_settings, metadata_url: str) -> Iterator[Services]:  # type: ignore[no-untyped-def]
    tiny = len(tiny_sklearn_model().artifact)
    limits = {
        "max_models": 1,
        "max_stored_bytes": tiny * 2 + tiny // 2,
        "max_feature_views": 2,
        "max_events_per_day": 5,
        "tenants": {"roomy": {"max_models": 10}},
    }
    built = build(make_settings(metadata_url=metadata_url, limits=limits))
    yield built
    built.close()


def refused(answer, quota: str) -> None:  # type: ignore[no-untyped-def]
    assert answer.status_code == 403, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["field"]) == ("quota_exceeded", quota)
    assert quota in error["message"]


def test_a_second_model_passes_max_models_but_a_new_version_does_not(
    quota_services: Services,
) -> None:
    api = make_api(quota_services)
    assert api.register("fraud").status_code == 201
    assert api.register("fraud").status_code == 201
    refused(api.register("churn"), "max_models")
    assert [m["name"] for m in api.client.get("/v1/models", headers=api.headers()).json()] == [
        "fraud"
    ]
    roomy = make_api(quota_services, "roomy")  # its override: 10 models
    assert roomy.register("fraud").status_code == roomy.register("churn").status_code == 201


def test_stored_bytes_count_every_kept_version(quota_services: Services) -> None:
    api = make_api(quota_services)
    assert api.register("fraud").status_code == 201
    assert api.register("fraud").status_code == 201
    refused(api.register("fraud"), "max_stored_bytes")


def test_definitions_with_more_views_than_the_quota_are_not_applied(
    quota_services: Services,
) -> None:
    api = make_api(quota_services)
    body = {"definitions": [obj.to_spec() for obj in REPO]}  # three views
    refused(
        api.client.post("/v1/features/apply", headers=api.headers(), json=body), "max_feature_views"
    )
    listed = api.client.get("/v1/features", headers=api.headers()).json()
    assert listed == []


def test_events_a_day_are_counted_whole_batches_and_reset_the_next_day(
    quota_services: Services,
) -> None:
    api = make_api(quota_services)
    quotas, today = quota_services.quotas, datetime(2026, 12, 6, 12, tzinfo=UTC)
    quotas.take_events(api.tenant_id, 3, today)
    with pytest.raises(QuotaExceeded) as caught:
        quotas.take_events(api.tenant_id, 3, today)
    assert caught.value.field == "max_events_per_day"
    assert "uses 3 and this adds 3" in caught.value.message
    quotas.take_events(api.tenant_id, 2, today)  # the refused batch counted nothing
    quotas.take_events(api.tenant_id, 5, today + timedelta(days=1))


def test_the_events_route_refuses_past_the_days_quota(quota_services: Services) -> None:
    api = make_api(quota_services)
    batch = [{**VALID, "id": f"e{i}"} for i in range(4)]
    headers = {**api.headers("service"), "content-type": "application/cloudevents-batch+json"}
    first = api.client.post(
        "/v1/events?topic=payments", content=orjson.dumps(batch), headers=headers
    )
    assert first.status_code == 202, first.text
    again = api.client.post(
        "/v1/events?topic=payments", content=orjson.dumps(batch), headers=headers
    )
    refused(again, "max_events_per_day")


def test_without_quotas_nothing_is_read(api: Api) -> None:
    assert not api.services.quotas.on
    assert api.register("a").status_code == api.register("b").status_code == 201
