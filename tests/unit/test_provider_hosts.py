"""The ``provider_hosts`` allow-list: which hosts a provider model may make the server call.

Without it any developer could register a provider whose url is cloud metadata, a
loopback admin port or an internal service, and the server would call it on every
prediction. Checked at registration and again when a version loads for serving.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from ailayer.api import create_app
from ailayer.bootstrap import build
from ailayer.core.hosts import host_rules, unlisted
from ailayer.core.settings import Settings
from tests.support.api import Api, make_api
from tests.support.model_api import ModelApi
from tests.support.services import TinyModel, upload_form

NUMBERS = {"inputs": [{"name": n, "type": "double"} for n in ("amount", "card_age_days")]}
RECORD = {"amount": 900.0, "card_age_days": 3.0}
RULES = ["api.openai.com", "*.example.com", "127.0.0.1:8080", "[::1]:9000", "bücher.test"]


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://api.openai.com/v1/chat/completions", True),
        ("https://API.OPENAI.COM/v1", True),
        ("https://api.openai.com./v1", True),  # the trailing dot of a fully qualified name
        ("https://api.openai.com:8443/v1", True),  # no port in the entry: any port
        ("https://api.openai.com.evil.com/v1", False),
        ("https://evilapi.openai.com/v1", False),
        ("https://openai.com/v1", False),
        ("http://evil.com#@api.openai.com/v1", False),
        ("http://evil.com?@api.openai.com/v1", False),
        ("http://evil.com\\@api.openai.com/v1", False),  # userinfo, however spelled
        ("https://user:pw@api.openai.com/v1", False),
        ("https://api.openai.com@evil.com/v1", False),
        ("https://a.example.com/x", True),
        ("https://a.b.example.com/x", True),
        ("https://example.com/x", False),  # *. is for subdomains only
        ("https://badexample.com/x", False),
        ("https://a.example.com.evil.com/x", False),
        ("http://127.0.0.1:8080/score", True),
        ("http://127.0.0.1/score", False),  # port 80 by the scheme, not 8080
        ("http://127.0.0.1:8081/score", False),
        ("http://2130706433:8080/score", False),  # 127.0.0.1 spelled as a number
        ("http://localhost:8080/score", False),
        ("http://[::1]:9000/x", True),
        ("http://[0:0::1]:9000/x", True),
        ("http://[::1]:9001/x", False),
        ("https://bücher.test/x", True),
        ("https://xn--bcher-kva.test/x", True),  # the same name, IDNA-encoded
        ("https://bucher.test/x", False),
        ("http://169.254.169.254/latest/meta-data/", False),
        ("not a url", False),
    ],
)
def test_hosts_match_exactly_on_the_parsed_host_and_port(url: str, allowed: bool) -> None:
    assert (unlisted(url, host_rules(RULES)) is None) is allowed


def test_an_entry_with_a_default_port_allows_only_that_port() -> None:
    rules = host_rules(["api.openai.com:443", "plain.test:80"])
    assert unlisted("https://api.openai.com/v1", rules) is None
    assert unlisted("http://api.openai.com/v1", rules) is not None  # port 80
    assert unlisted("http://plain.test/x", rules) is None
    assert unlisted("https://plain.test/x", rules) is not None


def test_the_setting_reads_a_list_a_json_list_or_commas(make_settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert make_settings().provider_hosts == []  # secure by default: nothing allowed
    assert make_settings(provider_hosts=["api.openai.com"]).provider_hosts == ["api.openai.com"]
    monkeypatch.setenv("AILAYER_PROVIDER_HOSTS", " api.openai.com , *.example.com ")
    assert make_settings().provider_hosts == ["api.openai.com", "*.example.com"]
    monkeypatch.setenv("AILAYER_PROVIDER_HOSTS", '["127.0.0.1:8080"]')
    assert make_settings().provider_hosts == ["127.0.0.1:8080"]


@pytest.mark.parametrize(
    "entry",
    ["https://api.openai.com", "api.openai.com/v1", "a.*.com", "*", "*.10.0.0.1", "x:0",
     "x:99999", "x:", "user@host", "evil.com#@api.openai.com"],
)  # fmt: skip
def test_a_wrong_entry_is_refused_naming_the_setting(make_settings, entry: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as refused:
        make_settings(provider_hosts=["api.openai.com", entry])
    assert "provider_hosts" in str(refused.value)


# --- registration and serving -----------------------------------------------------------


@pytest.fixture
def model_api() -> Iterator[ModelApi]:
    with ModelApi() as server:
        yield server


def scorer(url: str) -> dict:
    return {"kind": "json-http", "url": url, "response_path": "/result/score", "retries": 0}


def register(api: Api, name: str, config: dict):  # type: ignore[no-untyped-def]
    tiny = TinyModel(json.dumps(config).encode(), NUMBERS, None)
    return api.client.post(
        f"/v1/models/{name}/versions",
        headers=api.headers("developer"),
        **upload_form(tiny, flavor="provider", aliases=["champion"]),
    )


def predict(api: Api, endpoint: str):  # type: ignore[no-untyped-def]
    return api.client.post(f"/v1/predict/{endpoint}", headers=api.headers("service"), json=[RECORD])


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:9/admin",
     "http://10.0.0.7/internal", "https://api.openai.com/v1"],
)  # fmt: skip
def test_by_default_no_provider_host_is_allowed(api: Api, url: str) -> None:
    response = register(api, "score", scorer(url))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == "artifact"
    assert "provider_hosts" in error["message"] and "AILAYER_PROVIDER_HOSTS" in error["message"]
    assert api.client.get("/v1/models/score", headers=api.headers()).status_code == 404


def test_registration_refuses_a_host_not_in_the_list(make_settings, model_api) -> None:  # type: ignore[no-untyped-def]
    with served(make_settings(provider_hosts=["api.openai.com", "127.0.0.1:1"])) as api:
        response = register(api, "score", scorer(f"{model_api.base}/score"))
        assert response.status_code == 422, response.text
        message = response.json()["error"]["message"]
        assert "127.0.0.1" in message and "provider_hosts" in message
        assert api.client.get("/v1/models/score", headers=api.headers()).status_code == 404
    assert model_api.seen == []


def test_serving_refuses_a_host_taken_off_the_list_and_keeps_the_version(
    make_settings, model_api
) -> None:  # type: ignore[no-untyped-def]
    with served(make_settings(provider_hosts=["127.0.0.1"])) as api:
        assert register(api, "score", scorer(f"{model_api.base}/score")).status_code == 201
        assert predict(api, "score").status_code == 200
        first = api
    assert len(model_api.seen) == 1

    narrowed = make_settings(provider_hosts=["api.openai.com"])
    with served(narrowed, first) as api:
        response = predict(api, "score")
        assert response.status_code == 503, response.text
        message = response.json()["error"]["message"]
        assert "'score' version 1" in message and "provider_hosts" in message
        assert api.client.get("/v1/models/score/versions/1", headers=api.headers()).is_success
    assert len(model_api.seen) == 1  # the narrowed server never called it

    with served(make_settings(provider_hosts=["127.0.0.1"]), first) as api:
        assert predict(api, "score").status_code == 200  # widened again: it serves
    assert len(model_api.seen) == 2


@pytest.mark.parametrize("status", [302, 307])  # 302: followed as a GET; 307: as a POST
def test_a_redirect_to_a_host_not_in_the_list_is_not_followed(make_settings, status) -> None:  # type: ignore[no-untyped-def]
    with ModelApi() as allowed, ModelApi() as other:
        port = allowed.base.rpartition(":")[2]
        with served(make_settings(provider_hosts=[f"127.0.0.1:{port}"])) as api:
            assert register(api, "score", scorer(f"{allowed.base}/score")).status_code == 201
            allowed.plan(f"{status}:{other.base}/score")
            response = predict(api, "score")
        assert response.status_code == 503, response.text
        assert [seen.path for seen in allowed.seen] == ["/score"]
        assert other.seen == []


@contextmanager
def served(settings: Settings, same_as: Api | None = None) -> Iterator[Api]:
    """The app on ``settings``: for a new tenant, or for ``same_as``'s tenant and keys
    (stored in the metadata database both servers share)."""
    services = build(settings)
    if same_as is None:
        api = make_api(services)
    else:
        client = TestClient(create_app(services))
        api = Api(client, services, same_as.tenant_id, same_as.keys)
    try:
        yield api
    finally:
        api.client.close()
        services.close()
