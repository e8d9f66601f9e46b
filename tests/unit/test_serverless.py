"""Serverless entry points: Lambda behind API Gateway (REST and HTTP API) or an ALB, and
Cloud Functions, answer predictions through the real app; the container keeps its app
between invocations and writes the prediction log before each invocation returns."""

from __future__ import annotations

import base64
import json

import pytest

from ailayer.bootstrap import Services
from ailayer.serverless.aws_lambda import handle
from ailayer.serverless.cloud_functions import respond
from ailayer.serverless.container import ServerlessApp
from tests.support.tenant_models import RECORD, expected_score, register, tenant_model

BODY = json.dumps({"records": [RECORD, RECORD]})


@pytest.fixture
def deployed(services: Services) -> tuple[ServerlessApp, str, str]:
    """A model behind endpoint ``fraud``, a key, and a container app on the same stores."""
    tenant_id = services.keys.create_tenant("acme")
    register(services, tenant_id, "fraud", tenant_model(1))
    services.endpoints.put(tenant_id, "tests", "fraud", "fraud", "champion")
    key = services.keys.create_key(tenant_id, "lambda", "service").key
    return ServerlessApp(lambda: services.settings), key, tenant_id


def rest_event(key: str, body: str = BODY) -> dict:
    return {
        "resource": "/{proxy+}",
        "path": "/v1/predict/fraud",
        "httpMethod": "POST",
        "headers": {"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": "v1/predict/fraud"},
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": "POST",
            "path": "/prod/v1/predict/fraud",
            "stage": "prod",
            "requestId": "r-1",
            "identity": {"sourceIp": "203.0.113.9"},
        },
        "body": body,
        "isBase64Encoded": False,
    }


def http_api_event(key: str, body: str = BODY) -> dict:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/v1/predict/fraud",
        "rawQueryString": "",
        "headers": {"authorization": f"Bearer {key}", "content-type": "application/json"},
        "requestContext": {
            "http": {
                "method": "POST",
                "path": "/v1/predict/fraud",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
            },
            "stage": "$default",
        },
        "body": base64.b64encode(body.encode()).decode(),
        "isBase64Encoded": True,
    }


def alb_event(key: str, body: str = BODY) -> dict:
    return {
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:tg/x"}},
        "httpMethod": "POST",
        "path": "/v1/predict/fraud",
        "queryStringParameters": {},
        "headers": {"authorization": f"Bearer {key}", "content-type": "application/json"},
        "body": body,
        "isBase64Encoded": False,
    }


def scores(answer: dict) -> list[float]:
    body = answer["body"]
    text = base64.b64decode(body) if answer.get("isBase64Encoded") else body
    return [item["score"] for item in json.loads(text)["predictions"]]


@pytest.mark.parametrize("event", [rest_event, http_api_event, alb_event])
def test_each_event_shape_answers_predictions(deployed, services: Services, event) -> None:  # type: ignore[no-untyped-def]
    app, key, tenant_id = deployed
    answer = handle(app, event(key), None)
    assert answer["statusCode"] == 200, answer
    want = expected_score(tenant_model(1))
    assert scores(answer) == pytest.approx([want, want])
    # written before the invocation returned: a frozen container loses nothing
    assert services.prediction_log.query(tenant_id, "fraud").num_rows == 2


def test_a_warm_container_keeps_its_app_and_models(deployed) -> None:  # type: ignore[no-untyped-def]
    app, key, _ = deployed
    assert handle(app, http_api_event(key), None)["statusCode"] == 200
    built, cold = app.app, app.cold_start_seconds
    assert cold is not None and cold > 0
    assert handle(app, rest_event(key), None)["statusCode"] == 200
    assert app.app is built and app.cold_start_seconds == cold


@pytest.mark.parametrize(
    "event",
    [
        {"Records": [{"eventSource": "aws:s3", "s3": {"object": {"key": "x"}}}]},
        {},
        {"httpMethod": "POST"},
    ],
)
def test_an_event_of_another_shape_is_a_400_not_a_crash(deployed, event: dict) -> None:  # type: ignore[no-untyped-def]
    app, _, _ = deployed
    answer = handle(app, event, None)
    assert answer["statusCode"] == 400
    assert json.loads(answer["body"])["error"]["field"] == "event"


def test_bad_input_and_a_missing_key_answer_as_the_server_does(deployed) -> None:  # type: ignore[no-untyped-def]
    app, key, _ = deployed
    bad = handle(app, rest_event(key, body="{not json"), None)
    assert bad["statusCode"] == 400
    unknown = handle(app, rest_event("nope"), None)
    assert unknown["statusCode"] == 401


def test_a_cloud_function_request_answers_through_the_same_app(deployed) -> None:  # type: ignore[no-untyped-def]
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    app, key, _ = deployed
    environ = EnvironBuilder(
        path="/v1/predict/fraud",
        method="POST",
        data=BODY,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    ).get_environ()
    body, status, headers = respond(app, Request(environ))
    assert status == 200 and headers["content-type"].startswith("application/json")
    want = expected_score(tenant_model(1))
    assert [p["score"] for p in json.loads(body)["predictions"]] == pytest.approx([want, want])
