"""``POST /v1/features/online`` served by its lean handler: the same answers, errors and
OpenAPI contract as a FastAPI route, and the inline-or-thread policy of its store reads."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ailayer.bootstrap import build
from ailayer.features.batching import InlineWhileFast
from tests.support import feature_repo
from tests.support.api import Api, make_api
from tests.support.feature_repo import REPO

PATH = "/v1/features/online"
REFS = ["customer_stats:avg_amount", "customer_stats:txn_count", "merchant_risk:risk"]
ENTITY = {"customer_id": 1, "merchant_id": "m1"}


@pytest.fixture
def online(make_settings) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    services = build(make_settings(feature_repo="tests.support.feature_repo"))
    made = make_api(services)
    try:
        services.features.apply(made.tenant_id, "test", REPO)
        root = services.offline.tenant_root(made.tenant_id)
        hours = (datetime.now(UTC) - feature_repo.T0) / timedelta(hours=1)
        feature_repo.write_customer_stats(root, [(1, hours - 1, 20.0, 5)])
        feature_repo.write_merchant_risk(root, [("m1", hours - 2, 0.3)])
        now = datetime.now(UTC)
        services.materializer.materialize(made.tenant_id, None, now - timedelta(days=2), now)
        yield made
    finally:
        made.client.close()
        services.close()


def test_values_match_the_feature_server(online: Api) -> None:
    body = {"features": "fraud", "entity_rows": [ENTITY], "request_data": {"amount": 60.0}}
    answer = online.client.post(PATH, json=body, headers=online.headers("viewer"))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    expected = online.services.feature_server.get_online_features(
        online.tenant_id, "fraud", [ENTITY], {"amount": 60.0}
    )
    assert answer.json() == {"rows": expected}
    assert expected[0]["avg_amount"] == 20.0 and expected[0]["amount_ratio"] == 3.0
    full = online.client.post(
        PATH,
        json={"features": REFS[:1], "entity_rows": [ENTITY], "full_names": True},
        headers=online.headers(),
    )
    assert full.json()["rows"][0]["customer_stats__avg_amount"] == 20.0


def error(answer) -> dict:  # type: ignore[no-untyped-def]
    return answer.json()["error"]


def test_errors_are_the_usual_ones(online: Api) -> None:
    good = {"features": REFS, "entity_rows": [ENTITY]}
    post = online.client.post

    no_key = post(PATH, json=good)
    assert no_key.status_code == 401 and no_key.headers["www-authenticate"] == "Bearer"
    assert error(no_key)["code"] == "unauthenticated"
    bad_key = post(PATH, json=good, headers={"Authorization": "Bearer ail_nope_nope"})
    assert bad_key.status_code == 401

    headers = {**online.headers(), "Content-Type": "application/json"}
    malformed = post(PATH, content=b'{"features": [', headers=headers)
    assert malformed.status_code == 400 and error(malformed)["code"] == "bad_request"
    assert "not valid JSON" in error(malformed)["message"]
    # the body is only judged once the key is known, as with a FastAPI body parameter
    assert post(PATH, json={"features": 1}).status_code == 401

    for body, field in (
        ({"entity_rows": [ENTITY]}, "features"),
        ({**good, "extra": 1}, "extra"),
        ({**good, "entity_rows": "x"}, "entity_rows"),
        ({**good, "entity_rows": [{**ENTITY, "customer_id": "one"}]}, "entity_rows[0].customer_id"),
        ({**good, "entity_rows": []}, "entity_rows"),
    ):
        answer = post(PATH, json=body, headers=online.headers())
        assert answer.status_code == 422, body
        assert error(answer)["code"] == "invalid_input" and error(answer)["field"] == field
    empty = post(PATH, content=b"", headers=headers)
    assert empty.status_code == 422 and error(empty)["message"] == "Field required"
    unknown = post(PATH, json={**good, "features": ["nope:x"]}, headers=online.headers())
    assert unknown.status_code == 422 and "nope:x" in error(unknown)["message"]


def test_openapi_documents_the_route(online: Api) -> None:
    spec = online.client.get("/openapi.json").json()
    operation = spec["paths"][PATH]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/OnlineFeaturesIn"}
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/OnlineFeaturesOut"}
    assert {"401", "403", "413", "422", "503"} <= set(operation["responses"])
    assert "entity_rows" in spec["components"]["schemas"]["OnlineFeaturesIn"]["properties"]


def test_reads_go_to_a_thread_after_a_slow_one_and_come_back() -> None:
    policy = InlineWhileFast(fast_seconds=0.05, weight=1.0)
    loop_thread = threading.get_ident()

    def where() -> int:
        return threading.get_ident()

    def slow() -> int:
        time.sleep(0.2)
        return threading.get_ident()

    def failing() -> None:
        raise ValueError("store down")

    async def scenario() -> list[int]:
        seen = [await policy.run(where)]  # fast so far: inline
        seen.append(await policy.run(slow))  # still inline, but now known to be slow
        seen.append(await policy.run(where))  # in a worker thread; fast again
        seen.append(await policy.run(where))  # inline again
        with pytest.raises(ValueError, match="store down"):
            await policy.run(failing)
        return seen

    first, second, third, fourth = asyncio.run(scenario())
    assert first == second == fourth == loop_thread
    assert third != loop_thread
