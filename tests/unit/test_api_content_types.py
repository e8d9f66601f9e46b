"""Content types and methods at the HTTP edge, checked against the OpenAPI document: a
route that reads JSON refuses another declared type (415 naming the expected one),
malformed JSON is 400, both are declared for every route taking a body, and a method a
path does not have is 405 with an ``Allow`` header listing exactly the methods it has.
Under ``/v2`` (the Open Inference Protocol) errors are that protocol's
``{"error": "message"}``: there the checks read the message, which has no ``code``."""

from __future__ import annotations

import re

import pytest

EVENTS = "/v1/events"  # takes CloudEvents in any content type (binary mode): not judged here
HTTP_METHODS = ("get", "head", "post", "put", "patch", "delete", "options")


def concrete(path: str) -> str:
    """A request path for an OpenAPI path template (every parameter filled in)."""
    return re.sub(r"\{[^}]+\}", lambda m: "1" if "version" in m.group(0) else "x", path)


def error_of(response, path: str) -> dict:  # type: ignore[no-untyped-def]
    """The error as ``{code, message, field}``; a v2 route's carries only the message."""
    error = response.json()["error"]
    if path.startswith("/v2"):
        assert isinstance(error, str), (path, error)
        return {"message": error}
    return error


def operations(api, media_type: str) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(method, path) of every documented operation whose body is ``media_type``."""
    found = []
    for path, item in api.client.app.openapi()["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            if path != EVENTS and media_type in content:
                found.append((method.upper(), path))
    return found


def test_the_document_has_json_and_multipart_routes(api) -> None:  # type: ignore[no-untyped-def]
    json_routes = operations(api, "application/json")
    assert ("POST", "/v1/predict/{endpoint}") in json_routes
    assert ("POST", "/v1/features/online") in json_routes
    assert ("POST", "/v1/keys") in json_routes
    assert len(json_routes) >= 10
    assert ("POST", "/v1/models/{model}/versions") in operations(api, "multipart/form-data")


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "text/csv"])
def test_json_routes_refuse_other_content_types_with_415(api, content_type) -> None:  # type: ignore[no-untyped-def]
    headers = {**api.headers(), "Content-Type": content_type}
    for method, path in operations(api, "application/json"):
        response = api.client.request(method, concrete(path), headers=headers, content=b"{}")
        assert response.status_code == 415, (method, path, response.text)
        error = error_of(response, path)
        assert error.get("code", "unsupported_media_type") == "unsupported_media_type", path
        assert "application/json" in error["message"] and content_type in error["message"]
        assert error.get("field", "content-type") == "content-type"


def test_multipart_routes_refuse_json_with_415_naming_multipart(api) -> None:  # type: ignore[no-untyped-def]
    headers = {**api.headers(), "Content-Type": "application/json"}
    for method, path in operations(api, "multipart/form-data"):
        response = api.client.request(method, concrete(path), headers=headers, content=b"{}")
        assert response.status_code == 415, (method, path, response.text)
        assert "multipart/form-data" in response.json()["error"]["message"]


def test_json_with_a_charset_or_a_json_suffix_is_accepted(api) -> None:  # type: ignore[no-untyped-def]
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        headers = {**api.headers(), "Content-Type": content_type}
        body = b'{"name": "ci", "role": "viewer"}'
        assert api.client.post("/v1/keys", headers=headers, content=body).status_code == 201


def test_the_key_is_judged_before_the_content_type(api) -> None:  # type: ignore[no-untyped-def]
    for method, path in operations(api, "application/json"):
        headers = {"Content-Type": "text/plain"}
        response = api.client.request(method, concrete(path), headers=headers, content=b"x")
        assert response.status_code == 401, (method, path)


@pytest.mark.parametrize("body", [b'{"a": \x00}', b"\x00", b"{not json"])
def test_malformed_json_is_400_on_every_json_route(api, body) -> None:  # type: ignore[no-untyped-def]
    headers = {**api.headers(), "Content-Type": "application/json"}
    for method, path in operations(api, "application/json"):
        response = api.client.request(method, concrete(path), headers=headers, content=body)
        assert response.status_code == 400, (method, path, response.text)
        error = error_of(response, path)
        assert error.get("code", "bad_request") == "bad_request" and error["message"]


def test_every_route_taking_a_body_declares_400_and_415(api) -> None:  # type: ignore[no-untyped-def]
    for path, item in api.client.app.openapi()["paths"].items():
        for method, operation in item.items():
            if "requestBody" not in operation:
                continue
            declared = set(operation["responses"])
            assert "400" in declared, (method, path)
            if path != EVENTS:
                assert "415" in declared, (method, path)
                description = operation["responses"]["415"]["description"]
                assert "Content-Type" in description


def test_a_method_a_path_lacks_is_405_allowing_exactly_its_methods(api) -> None:  # type: ignore[no-untyped-def]
    paths = api.client.app.openapi()["paths"]
    for path, item in paths.items():
        documented = {m.upper() for m in item if m in HTTP_METHODS}
        for method in ("OPTIONS", "PATCH", *({"GET", "POST", "PUT", "DELETE"} - documented)):
            response = api.client.request(method, concrete(path), headers=api.headers())
            assert response.status_code == 405, (method, path, response.status_code)
            allowed = {m.strip() for m in response.headers["allow"].split(",")}
            assert allowed == documented, (method, path)
            error = error_of(response, path)
            assert error.get("code", "method_not_allowed") == "method_not_allowed"
            assert f"{method} is not allowed" in error["message"]


def test_an_unknown_path_is_404_in_the_usual_error_shape(api) -> None:  # type: ignore[no-untyped-def]
    response = api.client.get("/v1/nothing-here", headers=api.headers())
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
