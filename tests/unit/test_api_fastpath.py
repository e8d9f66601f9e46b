"""The predict routes' plain ASGI layer answers as the FastAPI routes do: what it takes
(usual paths and queries) and what it hands on (what FastAPI must judge) give the same
statuses and bodies, and metrics name the route by its template."""

from __future__ import annotations

import pytest

from tests.support.metrics import scrape
from tests.support.services import tiny_sklearn_model

GOOD = {"amount": 900.0, "card_age_days": 3}


@pytest.fixture
def fraud(api):  # type: ignore[no-untyped-def]
    assert api.register("fraud", tiny_sklearn_model(), aliases=["champion"]).status_code == 201


def post(api, path: str, body=GOOD, role: str = "service", **kwargs):  # type: ignore[no-untyped-def]
    return api.client.post(path, headers=api.headers(role), json=body, **kwargs)


@pytest.mark.parametrize("query", ["", "?explain_features=false", "?explain=0&other=x"])
def test_usual_requests_are_answered(api, fraud, query) -> None:  # type: ignore[no-untyped-def]
    response = post(api, f"/v1/predict/fraud{query}")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    [item] = response.json()["predictions"]
    assert "features" not in item


@pytest.mark.parametrize(
    "query",
    ["?explain_features=true", "?explain_features=YES", "?explain_features=0&explain_features=on"],
)
def test_explain_features_reads_like_a_bool_query_parameter(api, fraud, query) -> None:  # type: ignore[no-untyped-def]
    response = post(api, f"/v1/predict/fraud{query}")

    assert response.status_code == 200
    assert response.json()["predictions"][0]["features"] == GOOD


@pytest.mark.parametrize("value", ["maybe", "", "2", " true"])
def test_an_unreadable_flag_is_422_naming_it(api, fraud, value) -> None:  # type: ignore[no-untyped-def]
    response = post(api, f"/v1/predict/fraud?explain={value}")

    assert response.status_code == 422
    assert response.json()["error"]["field"] == "explain"


@pytest.mark.parametrize("name", ["-fraud", "a" * 101, "fr%20aud", "fraud%0A"])
def test_a_name_outside_the_rule_is_422_naming_the_endpoint(api, fraud, name) -> None:  # type: ignore[no-untyped-def]
    response = post(api, f"/v1/predict/{name}")

    assert response.status_code == 422
    assert response.json()["error"]["field"] == "endpoint"


def test_the_key_then_the_permission_then_the_content_type(api, fraud) -> None:  # type: ignore[no-untyped-def]
    path = "/v1/predict/fraud"
    text = {"Content-Type": "text/plain"}
    assert api.client.post(path, headers=text, content=b"x").status_code == 401
    bad_key = {**text, "Authorization": "Bearer ail_nope"}
    assert api.client.post(path, headers=bad_key, content=b"x").status_code == 401
    viewer = {**text, **api.headers("viewer")}
    assert api.client.post(path, headers=viewer, content=b"x").status_code == 403
    service = {**text, **api.headers("service")}
    response = api.client.post(path, headers=service, content=b"x")
    assert response.status_code == 415
    assert response.json()["error"]["field"] == "content-type"


def test_other_methods_still_get_405(api, fraud) -> None:  # type: ignore[no-untyped-def]
    response = api.client.get("/v1/predict/fraud", headers=api.headers())

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v2/models/fraud/infer", 200),
        ("/v2/models/fraud/versions/1/infer", 200),
        ("/v2/models/fraud/versions/0/infer", 400),  # FastAPI judges it: v2 says 400
        ("/v2/models/fraud/versions/01/infer", 200),
        ("/v2/models/fraud/versions/2147483648/infer", 400),
        ("/v2/models/fraud/versions/9/infer", 404),
        ("/v2/models/-x/infer", 400),
    ],
)
def test_infer_paths_answer_as_the_protocol_routes(api, fraud, path, status) -> None:  # type: ignore[no-untyped-def]
    body = {
        "inputs": [
            {"name": "amount", "shape": [1], "datatype": "FP64", "data": [900.0]},
            {"name": "card_age_days", "shape": [1], "datatype": "INT64", "data": [3]},
        ]
    }
    response = post(api, path, body)

    assert response.status_code == status, response.text
    if status != 200:
        assert isinstance(response.json()["error"], str)


def test_metrics_count_answered_requests_by_route_template(api, fraud) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        assert post(api, "/v1/predict/fraud").status_code == 200
    assert post(api, "/v1/predict/fraud", role="viewer").status_code == 403

    series = scrape(api.client, api.keys["admin"])

    def count(status: str) -> list[float]:
        wanted = {"route": "/v1/predict/{endpoint}", "status": status}
        return [
            value
            for (name, labels), value in series.items()
            if name == "ailayer_http_requests_total" and wanted.items() <= dict(labels).items()
        ]

    assert count("200") == [3.0] and count("403") == [1.0]
