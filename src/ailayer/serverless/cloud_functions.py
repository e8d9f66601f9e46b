"""Google Cloud Functions and Cloud Run functions (Python, HTTP trigger):
``ailayer.serverless.cloud_functions.handler`` takes the Flask request the Functions
Framework passes and answers through the same app as Lambda.

The request is handed to the Lambda adapter as an HTTP API (v2) event, so both platforms
run one translation of HTTP into ASGI. (A Cloud Run *service* needs none of this: its
container runs ``ailayer serve``.)
"""

from __future__ import annotations

import base64
from typing import Any

from ailayer.serverless.aws_lambda import handle
from ailayer.serverless.container import ServerlessApp

APP = ServerlessApp()


def handler(request: Any) -> tuple[bytes, int, dict[str, str]]:
    """The function's entry point (``--entry-point handler``): body, status, headers."""
    return respond(APP, request)


def respond(app: ServerlessApp, request: Any) -> tuple[bytes, int, dict[str, str]]:
    """One request (a ``werkzeug``/Flask request) against ``app``."""
    answer = handle(app, as_event(request), None)
    body = answer.get("body") or ""
    data = base64.b64decode(body) if answer.get("isBase64Encoded") else body.encode()
    headers = {k: v for k, v in (answer.get("headers") or {}).items() if isinstance(v, str)}
    return data, int(answer["statusCode"]), headers


def as_event(request: Any) -> dict[str, Any]:
    """The request as an API Gateway HTTP API (payload 2.0) event."""
    query = request.query_string
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": request.path,
        "rawQueryString": query.decode() if isinstance(query, bytes) else query,
        "headers": {k.lower(): v for k, v in request.headers.items()},
        "requestContext": {
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.remote_addr or "",
            },
            "stage": "$default",
        },
        "body": base64.b64encode(request.get_data()).decode(),
        "isBase64Encoded": True,
    }
