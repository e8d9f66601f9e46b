"""The SDK against a real server: ``Client`` and ``AsyncClient`` do the same things and
turn every failure into the typed exception the server raised, with its message."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import pickle
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pytest

import ailayer
from ailayer import (
    AilayerError,
    AsyncClient,
    BackendUnavailable,
    Client,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Unauthenticated,
    UnsafeArtifact,
)
from ailayer.api import create_app
from ailayer.bootstrap import build
from tests.support.api import role_keys
from tests.support.sdk import CLIENTS, Awaiting, Server, drive
from tests.support.services import free_port, live_server, tiny_sklearn_model

GOOD = {"amount": 900.0, "card_age_days": 3.0}


def _register(server: Server, cls: type, tiny, **metadata: Any) -> dict:  # type: ignore[no-untyped-def]
    async def scenario(client: Awaiting) -> dict:
        return await client.register_model(
            "fraud", tiny.artifact, flavor="sklearn", signature=tiny.signature, **metadata
        )

    return server.run(cls, scenario)


# --- the registry ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls", CLIENTS)
def test_register_from_bytes_and_path_then_list_show_and_get(cls, server, tiny, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "model.skops"
    path.write_bytes(tiny_sklearn_model(seed=1).artifact)

    async def scenario(client: Awaiting) -> None:
        first = await client.register_model(
            "fraud",
            tiny.artifact,
            flavor="sklearn",
            signature=tiny.signature,
            metrics={"auc": 0.9},
            tags={"team": "risk"},
            aliases=["champion"],
        )
        assert (first["model"], first["version"], first["aliases"]) == ("fraud", 1, ["champion"])
        assert first["metrics"] == {"auc": 0.9}
        assert first["artifact_size"] == len(tiny.artifact)
        second = await client.register_model(
            "fraud", path, flavor="sklearn", signature=tiny.signature
        )
        third = await client.register_model(
            "fraud", str(path), flavor="sklearn", signature=tiny.signature
        )
        assert (second["version"], third["version"]) == (2, 3)
        assert second["artifact_sha256"] == third["artifact_sha256"] != first["artifact_sha256"]

        [listed] = await client.list_models()
        assert (listed["name"], listed["latest_version"]) == ("fraud", 3)
        assert listed["aliases"] == {"champion": 1}
        model = await client.get_model("fraud")
        assert [v["version"] for v in model["versions"]] == [1, 2, 3]
        version = await client.get_version("fraud", 2)
        assert (version["version"], version["flavor"], version["aliases"]) == (2, "sklearn", [])
        assert version["created_by"].startswith("admin-key")

    server.run(cls, scenario)


@pytest.mark.parametrize("cls", CLIENTS)
def test_aliases_history_archive_and_endpoints(cls, server, tiny) -> None:  # type: ignore[no-untyped-def]
    _register(server, cls, tiny, aliases=["champion"])
    _register(server, cls, tiny_sklearn_model(seed=2))

    async def scenario(client: Awaiting) -> None:
        moved = await client.set_alias("fraud", "challenger", 2)
        assert moved == {"model": "fraud", "alias": "challenger", "version": 2}
        await client.set_alias("fraud", "challenger", 1)
        history = await client.alias_history("fraud")
        moves = [(h["detail"]["alias"], h["detail"]["to_version"]) for h in history]
        assert moves == [("challenger", 1), ("challenger", 2), ("champion", 1)]
        archived = await client.archive_version("fraud", 2)
        assert (archived["version"], archived["archived"]) == (2, True)
        assert (await client.get_version("fraud", 2))["archived"] is True

        put = await client.put_endpoint("fraud-shadow", "fraud", "challenger")
        assert put == {"name": "fraud-shadow", "model": "fraud", "alias": "challenger"}
        default = await client.put_endpoint("fraud-main", "fraud")
        assert default["alias"] == "champion"
        assert await client.list_endpoints() == [default, put]

    server.run(cls, scenario)


# --- predictions ----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", CLIENTS)
def test_predict_one_record_and_a_list(cls, server, tiny) -> None:  # type: ignore[no-untyped-def]
    _register(server, cls, tiny, aliases=["champion"])
    expected = tiny.estimator.predict_proba(np.array([[900.0, 3.0], [10.0, 300.0]]))[:, 1]

    async def scenario(client: Awaiting) -> None:
        one = await client.predict("fraud", GOOD)
        assert (one["endpoint"], one["model"], one["version"], one["alias"]) == (
            "fraud",
            "fraud",
            1,
            "champion",
        )
        [item] = one["predictions"]
        assert item["score"] == pytest.approx(expected[0])
        assert item["prediction"] is bool(expected[0] >= 0.5)
        many = await client.predict("fraud", [GOOD, {"amount": 10.0, "card_age_days": 300.0}])
        assert [p["score"] for p in many["predictions"]] == pytest.approx(list(expected))
        assert len({p["prediction_id"] for p in many["predictions"]}) == 2

    server.run(cls, scenario, role="service")


# --- keys and audit -------------------------------------------------------------------------


@pytest.mark.parametrize("cls", CLIENTS)
def test_create_list_revoke_keys_and_read_the_audit(cls, server, tiny) -> None:  # type: ignore[no-untyped-def]
    _register(server, cls, tiny, aliases=["champion"])

    async def create(client: Awaiting) -> dict:
        return await client.create_key("ci", "service")

    created = server.run(cls, create)
    assert created["key"].startswith(f"ail_{created['prefix']}_")
    assert (created["name"], created["role"], created["tenant"]) == ("ci", "service", "acme")

    async def predicts(client: Awaiting) -> int:
        return (await client.predict("fraud", GOOD))["version"]

    assert drive(cls, server.url, created["key"], predicts) == 1

    async def revoke(client: Awaiting) -> None:
        [listed] = [k for k in await client.list_keys() if k["name"] == "ci"]
        assert (listed["prefix"], listed["role"], listed["revoked_at"]) == (
            created["prefix"],
            "service",
            None,
        )
        assert "key" not in listed
        assert await client.revoke_key(created["prefix"]) is None
        [listed] = [k for k in await client.list_keys() if k["name"] == "ci"]
        assert listed["revoked_at"] is not None
        target = f"key/{created['prefix']}"
        entries = await client.audit(target=target)
        assert [e["action"] for e in entries] == ["key.revoke", "key.create"]
        assert all(e["target"] == target for e in entries)
        everything = await client.audit(limit=1000)
        assert {"key.create", "key.revoke", "version.register", "alias.set"} <= {
            e["action"] for e in everything
        }
        assert len(await client.audit(limit=1)) == 1

    server.run(cls, revoke)
    with pytest.raises(Unauthenticated):
        drive(cls, server.url, created["key"], predicts)


# --- errors ---------------------------------------------------------------------------------


@dataclass
class Failure:
    """One way to fail: who calls, what they call, what comes back."""

    role: str
    call: Callable[[Awaiting], Awaitable[Any]]
    error: type
    status: int
    words: str
    field: str | None = None


FAILURES = {
    "missing field": Failure(
        "service",
        lambda c: c.predict("fraud", {"amount": 1.0}),
        InvalidInput,
        422,
        "card_age_days",
        "card_age_days",
    ),
    "unknown endpoint": Failure(
        "service", lambda c: c.predict("nope", GOOD), NotFound, 404, "nope"
    ),
    "unknown model": Failure("viewer", lambda c: c.get_model("nope"), NotFound, 404, "nope"),
    "viewer predicting": Failure(
        "viewer", lambda c: c.predict("fraud", GOOD), Forbidden, 403, "predict"
    ),
    "service listing keys": Failure("service", lambda c: c.list_keys(), Forbidden, 403, "keys"),
    "bad role": Failure(
        "admin", lambda c: c.create_key("ci", "boss"), InvalidInput, 422, "role", "role"
    ),
    "pickle upload": Failure(
        "admin",
        lambda c: c.register_model(
            "fraud",
            pickle.dumps({"a": 1}),
            flavor="sklearn",
            signature=tiny_sklearn_model().signature,
        ),
        UnsafeArtifact,
        422,
        "pickle",
        "artifact",
    ),
}


class Recording(httpx.HTTPTransport):
    """Keeps each raw answer, to compare the SDK's exception with what the server said."""

    def __init__(self) -> None:
        super().__init__()
        self.responses: list[httpx.Response] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        response.read()
        self.responses.append(response)
        return response


def _server_answer(server: Server, failure: Failure) -> dict:
    transport = Recording()
    with (
        Client(server.url, server.keys[failure.role], transport=transport) as client,
        pytest.raises(failure.error),
    ):
        asyncio.run(failure.call(Awaiting(client)))
    [response] = transport.responses
    assert response.status_code == failure.status
    return response.json()["error"]


@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize("case", FAILURES)
def test_errors_come_back_typed_with_the_servers_message_and_field(cls, case, server, tiny) -> None:  # type: ignore[no-untyped-def]
    _register(server, Client, tiny, aliases=["champion"])
    failure = FAILURES[case]
    with pytest.raises(failure.error) as caught:
        server.run(cls, failure.call, role=failure.role)
    error = caught.value
    assert type(error) is failure.error
    answer = _server_answer(server, failure)
    assert error.message == f"{failure.status}: {answer['message']}"
    assert str(error) == error.message
    assert failure.words in error.message
    assert error.field == failure.field == answer.get("field")


@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize("key", ["ail_0123456789abcdef_" + "x" * 32, "not-a-key", ""])
def test_wrong_key_is_unauthenticated(cls, key, server) -> None:  # type: ignore[no-untyped-def]
    async def scenario(client: Awaiting) -> Any:
        return await client.list_models()

    with pytest.raises(Unauthenticated) as caught:
        drive(cls, server.url, key, scenario)
    assert caught.value.message.startswith("401: ")
    assert "API key" in caught.value.message


@pytest.mark.parametrize("records", [200, 20_000])
@pytest.mark.parametrize("cls", CLIENTS)
def test_body_over_the_limit_is_payload_too_large(cls, records, make_settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    services = build(make_settings(home=tmp_path / "small", max_body_bytes=2_000))
    try:
        _, keys = role_keys(services)
        with live_server(create_app(services)) as url:
            server = Server(url, keys)

            async def big(client: Awaiting) -> Any:
                return await client.predict("fraud", [GOOD] * records)

            with pytest.raises(PayloadTooLarge) as caught:
                server.run(cls, big, role="service")
            assert caught.value.message == "413: request body exceeds the 2000-byte limit"

            async def small(client: Awaiting) -> Any:
                return await client.predict("fraud", GOOD)

            with pytest.raises(NotFound):  # under the limit, it reaches the (empty) registry
                server.run(cls, small, role="service")
    finally:
        services.close()


@pytest.mark.parametrize("cls", CLIENTS)
def test_nothing_listening_is_backend_unavailable(cls) -> None:  # type: ignore[no-untyped-def]
    url = f"http://127.0.0.1:{free_port()}"

    async def scenario(client: Awaiting) -> Any:
        return await client.list_models()

    with pytest.raises(BackendUnavailable) as caught:
        drive(cls, url, "ail_0123456789abcdef_" + "x" * 32, scenario)
    assert caught.value.message.startswith(f"cannot reach ailayer at {url}")
    assert caught.value.retry_after == 2
    assert isinstance(caught.value.__cause__, httpx.TransportError)


GATEWAY_ANSWERS = {
    # what a proxy or a wrong URL may answer: (status, headers, body, error, message, retry)
    "503 with an HTTP-date Retry-After": (
        503,
        {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"},
        "busy",
        BackendUnavailable,
        "503: busy",
        2,
    ),
    "503 with Retry-After seconds": (503, {"Retry-After": "7"}, "", BackendUnavailable, "503: ", 7),
    "502 in plain text": (502, {}, "Bad Gateway", AilayerError, "502: Bad Gateway", None),
    "404 not from ailayer": (404, {}, '{"detail": "Not Found"}', NotFound, "404: ", None),
    "200 that is not JSON": (
        200,
        {},
        "<html>hello</html>",
        AilayerError,
        "200: http://gateway/v1/models did not answer JSON; is it ailayer?",
        None,
    ),
}


@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize("case", GATEWAY_ANSWERS)
def test_answers_not_from_ailayer_still_raise_ailayer_errors(cls, case) -> None:  # type: ignore[no-untyped-def]
    status, headers, body, error, message, retry = GATEWAY_ANSWERS[case]
    transport = httpx.MockTransport(lambda _: httpx.Response(status, headers=headers, text=body))

    async def scenario(client: Awaiting) -> Any:
        return await client.list_models()

    with pytest.raises(error) as caught:
        drive(cls, "http://gateway", "ail_key", scenario, transport=transport)
    assert type(caught.value) is error
    assert caught.value.message.startswith(message)
    assert getattr(caught.value, "retry_after", None) == retry


def test_both_clients_offer_the_same_operations() -> None:
    def operations(cls: type) -> dict[str, inspect.Signature]:
        return {
            name: inspect.signature(member)
            for name, member in inspect.getmembers(cls, inspect.isfunction)
            if not name.startswith("_")
        }

    sync, async_ = operations(Client), operations(AsyncClient)
    assert sync.keys() - {"close"} == async_.keys() - {"aclose"}
    for name in sync.keys() - {"close"}:
        assert sync[name] == async_[name], name


# --- the public API -------------------------------------------------------------------------

PUBLIC_API = [  # the public surface: change it on purpose, never by accident
    "AilayerError",
    "ArtifactIntegrityError",
    "AsyncClient",
    "BackendUnavailable",
    "BadRequest",
    "Client",
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "ModelError",
    "NotFound",
    "PayloadTooLarge",
    "QuotaExceeded",
    "RateLimited",
    "Unauthenticated",
    "UnsafeArtifact",
    "UnsupportedMediaType",
    "__version__",
    "simulate",
]


def test_public_api() -> None:
    # exactly these names, each once (the order of __all__ carries no meaning)
    assert sorted(ailayer.__all__) == sorted(PUBLIC_API)
    assert len(set(ailayer.__all__)) == len(ailayer.__all__)
    module = importlib.import_module("ailayer")
    for name in ailayer.__all__:
        assert getattr(module, name) is not None, name
        namespace: dict[str, Any] = {}
        exec(f"from ailayer import {name}", namespace)
        assert namespace[name] is getattr(module, name)
    errors = importlib.import_module("ailayer.errors")
    for name in errors.__all__:
        assert getattr(errors, name) is getattr(ailayer, name)
        assert issubclass(getattr(errors, name), ailayer.AilayerError)
    with pytest.raises(AttributeError):
        _ = ailayer.not_public  # type: ignore[attr-defined]


def test_emit_publishes_events_for_the_keys_tenant(services) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from ailayer.api import create_app
    from ailayer.events import new_event, open_bus
    from tests.support.services import live_server

    tenant = services.keys.create_tenant("emitters")
    key = services.keys.create_key(tenant, "svc", "service").key

    url_of_bus = services.settings.event_bus

    async def subscribe_and_fetch(timeout: float) -> list:
        bus = open_bus(url_of_bus)
        try:
            subscription = await bus.subscribe("payments", "audit", "c1", ack_wait=5)
            deliveries = await subscription.fetch(10, timeout=timeout)
            for delivery in deliveries:
                await delivery.ack()
            await subscription.close()
            return [d.event for d in deliveries]
        finally:
            await bus.close()

    assert asyncio.run(subscribe_and_fetch(0.1)) == []  # the group exists before publishing
    with live_server(create_app(services)) as url, ailayer.Client(url, key) as client:
        one = new_event("payment.created", "/billing", {"amount": 5}, tenant="other")
        ids = client.emit(
            "payments", [one, {"type": "payment.created", "source": "/b", "data": {}}]
        )
        assert len(ids) == 2 and ids[0] == one.id
        with pytest.raises(ailayer.InvalidInput) as bad:
            client.emit("payments", {"source": "/b"})
        assert "type" in str(bad.value)

    events = asyncio.run(subscribe_and_fetch(2))
    assert [e.id for e in events] == ids
    assert {e.tenant for e in events} == {tenant}
