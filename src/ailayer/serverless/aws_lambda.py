"""AWS Lambda: ``ailayer.serverless.aws_lambda.handler`` behind API Gateway (REST API v1
and HTTP API v2 payloads) or an Application Load Balancer, through Mangum.

An event of another shape (an S3 notification, a test event) is answered with a 400 in
the shape API Gateway expects, never an exception that the platform would retry.
"""

from __future__ import annotations

import json
from typing import Any

from ailayer.serverless.container import ServerlessApp

APP = ServerlessApp()
_adapters: dict[int, Any] = {}


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda entry point (``handler`` setting: ``ailayer.serverless.aws_lambda.handler``)."""
    return handle(APP, event, context)


def handle(app: ServerlessApp, event: Any, context: Any) -> dict[str, Any]:
    """One invocation against ``app`` (the module's own in Lambda, another in tests)."""
    from mangum import Mangum

    adapter = _adapters.get(id(app))
    if adapter is None:
        adapter = _adapters[id(app)] = Mangum(app.app, lifespan="off")
    try:
        adapter.infer(event, context)
    except (RuntimeError, AttributeError, KeyError, TypeError):
        return refused("not an API Gateway (REST or HTTP API) or Application Load Balancer event")
    try:
        return adapter(event, context)
    finally:
        app.finish_invocation()


def refused(message: str) -> dict[str, Any]:
    body = {"error": {"code": "bad_request", "message": message, "field": "event"}}
    return {
        "statusCode": 400,
        "headers": {"content-type": "application/json"},
        "isBase64Encoded": False,
        "body": json.dumps(body),
    }
