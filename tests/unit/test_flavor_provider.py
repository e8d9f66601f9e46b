"""The provider flavor against a real model API on loopback that misbehaves on demand."""

from __future__ import annotations

import json
import logging
import pickle
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from ailayer.bootstrap import Services, build
from ailayer.core.errors import InvalidInput, UnsafeArtifact
from ailayer.models.flavors import get_flavor
from tests.support.model_api import ModelApi
from tests.support.services import TinyModel, tiny_sklearn_model, upload_form

KEY_ENV = "AILAYER_PROVIDER_KEY_TEST"
SECRET = "sk-test-do-not-leak-4242"
TEXT = {"inputs": [{"name": "text", "type": "string"}]}
NUMBERS = {"inputs": [{"name": n, "type": "double"} for n in ("amount", "card_age_days")]}
RECORD = {"amount": 900.0, "card_age_days": 3.0}


LOOPBACK = ["127.0.0.1"]  # the model API's host, allowed as an operator would allow theirs


@pytest.fixture
def services(make_settings) -> Iterator[Services]:  # type: ignore[no-untyped-def]
    built = build(make_settings(provider_hosts=LOOPBACK))
    yield built
    built.close()


@pytest.fixture
def model_api() -> Iterator[ModelApi]:
    with ModelApi(slow_seconds=0.6) as server:
        yield server


@pytest.fixture(autouse=True)
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, SECRET)
    return SECRET


def chat(model_api: ModelApi, **extra) -> dict:  # type: ignore[no-untyped-def]
    return {
        "kind": "openai-chat",
        "url": f"{model_api.base}/v1",
        "model": "small-chat",
        "api_key_env": KEY_ENV,
        "prompt": "Review: {text}",
        "cost_per_call": 0.5,
        "cost_per_prompt_token": 0.01,
        "cost_per_completion_token": 0.02,
        **extra,
    }


def scorer(model_api: ModelApi, **extra) -> dict:  # type: ignore[no-untyped-def]
    return {
        "kind": "json-http",
        "url": f"{model_api.base}/score",
        "response_path": "/result/score",
        "timeout_seconds": 0.3,
        "retries": 1,
        "backoff_seconds": 0.01,
        **extra,
    }


def register(api, name: str, config: dict, signature: dict):  # type: ignore[no-untyped-def]
    tiny = TinyModel(json.dumps(config).encode(), signature, None)
    return api.client.post(
        f"/v1/models/{name}/versions",
        headers=api.headers("developer"),
        **upload_form(tiny, flavor="provider", aliases=["champion"]),
    )


def predict(api, endpoint: str, body):  # type: ignore[no-untyped-def]
    return api.client.post(f"/v1/predict/{endpoint}", headers=api.headers("service"), json=body)


# --- answers, cache, cost, the key -----------------------------------------------------


def test_chat_answer_is_the_prediction_cached_and_costed(api, model_api, key, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    registered = register(api, "reviews", chat(model_api), TEXT)
    assert registered.status_code == 201, registered.text

    first = predict(api, "reviews", {"text": "great stuff"})
    second = predict(api, "reviews", {"text": "great stuff"})

    assert first.status_code == 200, first.text
    [item] = first.json()["predictions"]
    assert item["prediction"] == "echo: Review: great stuff"
    assert item["served_by"] == "provider"
    assert second.json()["predictions"][0]["prediction"] == item["prediction"]
    assert len(model_api.seen) == 1  # the second answer came from the cache
    [seen] = model_api.seen
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["Authorization"] == f"Bearer {key}"
    assert seen.body["model"] == "small-chat"

    usage = api.services.predictor.models.costs.usage(api.tenant_id, "reviews", 1)
    assert (usage.calls, usage.cache_hits, usage.prompt_tokens, usage.completion_tokens) == (
        1,
        1,
        3,
        2,
    )
    assert usage.cost == pytest.approx(0.5 + 3 * 0.01 + 2 * 0.02)
    metrics = api.client.get("/metrics", headers=api.headers()).text
    assert "ailayer_provider_cost_total 0.57" in metrics
    assert "ailayer_provider_calls_total 1.0" in metrics

    stored = api.services.registry.load_artifact(
        api.tenant_id, api.services.registry.get_version(api.tenant_id, "reviews", 1)
    )
    for text in (first.text, second.text, registered.text, stored.decode(), metrics):
        assert key not in text
    assert not [r for r in caplog.records if key in r.getMessage() or key in str(r.args)]


def test_embeddings_vector_is_the_prediction(api, model_api) -> None:  # type: ignore[no-untyped-def]
    config = {
        "kind": "openai-embeddings",
        "url": f"{model_api.base}/v1",
        "model": "embed-small",
        "input": "{text}",
    }
    assert register(api, "embed", config, TEXT).status_code == 201
    body = predict(api, "embed", [{"text": "a b c"}, {"text": "hello"}]).json()
    assert [p["prediction"] for p in body["predictions"]] == [[5.0, 2.0, 0.5], [5.0, 0.0, 0.5]]
    assert "Authorization" not in model_api.seen[0].headers  # no api_key_env, no header
    assert model_api.seen[0].body == {"model": "embed-small", "input": "a b c"}


def test_json_http_posts_the_record_and_picks_the_path(api, model_api) -> None:  # type: ignore[no-untyped-def]
    assert register(api, "score", scorer(model_api), NUMBERS).status_code == 201
    [item] = predict(api, "score", RECORD).json()["predictions"]
    assert item["prediction"] == 903.0
    assert model_api.seen[0].body == RECORD


# --- failures: retries, fallback, breaker, bad answers ---------------------------------


def test_slow_provider_times_out_retries_then_the_fallback_answers(api, model_api) -> None:  # type: ignore[no-untyped-def]
    fraud = tiny_sklearn_model()
    assert api.register("fraud", fraud).status_code == 201
    assert register(api, "score", scorer(model_api, fallback="fraud:1"), NUMBERS).status_code == 201
    model_api.plan("slow", "slow")

    response = predict(api, "score", [RECORD, {"amount": 5.0, "card_age_days": 300.0}])

    assert response.status_code == 200, response.text
    items = response.json()["predictions"]
    assert [i["served_by"] for i in items] == ["fallback", "fallback"]
    expected = fraud.estimator.predict([[900.0, 3.0], [5.0, 300.0]]).tolist()
    assert [i["prediction"] for i in items] == expected
    assert len(model_api.seen) == 2  # one call and one retry, then the batch fell back
    usage = api.services.predictor.models.costs.usage(api.tenant_id, "score", 1)
    assert (usage.failures, usage.fallbacks, usage.calls) == (1, 2, 0)


def test_500s_open_the_breaker_and_a_half_open_probe_closes_it(api, model_api) -> None:  # type: ignore[no-untyped-def]
    config = scorer(model_api, breaker_failures=2, breaker_cooldown_seconds=0.5)
    assert register(api, "score", config, NUMBERS).status_code == 201
    model_api.plan("500", "500")

    failed = predict(api, "score", RECORD)
    assert failed.status_code == 503
    message = failed.json()["error"]["message"]
    assert f"json-http at {model_api.base}" in message and "HTTP 500" in message
    assert "/score" not in message
    assert len(model_api.seen) == 2

    refused = predict(api, "score", RECORD)  # open: nothing is sent
    assert refused.status_code == 503
    assert "circuit is open" in refused.json()["error"]["message"]
    assert len(model_api.seen) == 2

    time.sleep(0.6)
    probe = predict(api, "score", RECORD)
    assert probe.status_code == 200
    assert predict(api, "score", {"amount": 1.0, "card_age_days": 1.0}).status_code == 200
    assert len(model_api.seen) == 4  # the probe, then a closed circuit's call


def test_a_reset_connection_is_retried(api, model_api) -> None:  # type: ignore[no-untyped-def]
    assert register(api, "score", scorer(model_api), NUMBERS).status_code == 201
    model_api.plan("reset")
    response = predict(api, "score", RECORD)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["prediction"] == 903.0
    assert len(model_api.seen) == 2


def test_bad_json_is_a_clear_failure_the_breaker_counts(api, model_api) -> None:  # type: ignore[no-untyped-def]
    config = scorer(model_api, breaker_failures=1, breaker_cooldown_seconds=60)
    assert register(api, "score", config, NUMBERS).status_code == 201
    model_api.plan("bad-json")
    response = predict(api, "score", RECORD)
    assert response.status_code == 503
    assert "not JSON" in response.json()["error"]["message"]
    assert len(model_api.seen) == 1  # not retried
    assert "circuit is open" in predict(api, "score", RECORD).json()["error"]["message"]
    usage = api.services.predictor.models.costs.usage(api.tenant_id, "score", 1)
    assert usage.failures == 2


def test_a_4xx_is_not_retried_and_names_the_status(api, model_api) -> None:  # type: ignore[no-untyped-def]
    assert register(api, "score", scorer(model_api), NUMBERS).status_code == 201
    model_api.plan("401")
    response = predict(api, "score", RECORD)
    assert response.status_code == 503
    assert "HTTP 401 (not retried)" in response.json()["error"]["message"]
    assert len(model_api.seen) == 1


def test_a_missing_key_variable_is_a_503_naming_it(api, model_api, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv(KEY_ENV)
    assert register(api, "reviews", chat(model_api), TEXT).status_code == 201
    response = predict(api, "reviews", {"text": "hi"})
    assert response.status_code == 503
    assert KEY_ENV in response.json()["error"]["message"]
    assert model_api.seen == []


def test_a_slow_provider_does_not_hold_the_event_loop(services, model_api) -> None:  # type: ignore[no-untyped-def]
    from ailayer.api import create_app
    from tests.support.api import Api, role_keys
    from tests.support.services import live_server

    tenant_id, keys = role_keys(services)
    with live_server(create_app(services)) as url:
        api = Api(httpx.Client(base_url=url), services, tenant_id, keys)  # type: ignore[arg-type]
        config = scorer(model_api, timeout_seconds=5, retries=0)
        assert register(api, "score", config, NUMBERS).status_code == 201
        assert api.register("fraud", tiny_sklearn_model(), aliases=["champion"]).status_code == 201
        model_api.plan("slow")
        slow = threading.Thread(target=predict, args=(api, "score", RECORD))
        slow.start()
        time.sleep(0.15)  # the provider call is in flight
        started = time.monotonic()
        assert predict(api, "fraud", RECORD).status_code == 200
        assert time.monotonic() - started < 0.4
        slow.join()
        api.client.close()


# --- what check() refuses --------------------------------------------------------------

BASE = {"kind": "json-http", "url": "https://models.example/score", "response_path": "/y"}
REFUSED = {
    "file-url": ({**BASE, "url": "file:///etc/passwd"}, "url"),
    "ftp-url": ({**BASE, "url": "ftp://models.example/x"}, "url"),
    "credentials-in-url": ({**BASE, "url": "https://u:p@models.example/x"}, "credentials"),
    "stored-key": ({**BASE, "api_key": "sk-123"}, "never stored"),
    "headers": ({**BASE, "headers": {"Authorization": "x"}}, "never stored"),
    "any-env-var": ({**BASE, "api_key_env": "DATABASE_URL"}, "AILAYER_PROVIDER_KEY_"),
    "unknown-kind": ({**BASE, "kind": "grpc"}, "kind"),
    "unknown-field": ({**BASE, "colour": "red"}, "colour"),
    "lone-brace": (
        {"kind": "openai-chat", "url": "https://a.example/v1", "model": "m", "prompt": "{x"},
        "lone",
    ),
    "chat-without-prompt": (
        {"kind": "openai-chat", "url": "https://a.example", "model": "m"},
        "prompt",
    ),
    "bad-fallback": ({**BASE, "fallback": "fraud"}, "model:version"),
    "bad-pointer": ({**BASE, "response_path": "y"}, "JSON pointer"),
    "negative-retries": ({**BASE, "retries": -1}, "retries"),
    "reserved-param": (
        {
            "kind": "openai-embeddings",
            "url": "https://a.example",
            "model": "m",
            "input": "{t}",
            "params": {"model": "x"},
        },
        "params",
    ),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_check_refuses_bad_configs_naming_the_field(name: str) -> None:
    config, said = REFUSED[name]
    with pytest.raises(InvalidInput) as caught:
        get_flavor("provider").check(json.dumps(config).encode())
    assert caught.value.field == "artifact"
    assert said in caught.value.message


@pytest.mark.parametrize(
    "data", [b"", b"[]", b"{not json", b'{"a":' * 10_000 + b"1" + b"}" * 10_000]
)
def test_check_refuses_what_is_not_a_json_object(data: bytes) -> None:
    with pytest.raises(InvalidInput, match=r"JSON object|at most"):
        get_flavor("provider").check(data)


def test_check_refuses_a_pickle() -> None:
    with pytest.raises(UnsafeArtifact):
        get_flavor("provider").check(pickle.dumps(BASE))


def test_registration_refuses_templates_naming_missing_fields(api, model_api) -> None:  # type: ignore[no-untyped-def]
    response = register(api, "reviews", chat(model_api, prompt="{title}: {text}"), TEXT)
    assert response.status_code == 422
    assert "title" in response.json()["error"]["message"]
    assert api.client.get("/v1/models/reviews", headers=api.headers()).status_code == 404


def test_per_tenant_metrics_label_cost_by_tenant_and_model(make_settings, model_api) -> None:  # type: ignore[no-untyped-def]
    from tests.support.api import make_api

    services = build(make_settings(metrics_per_tenant=True, provider_hosts=LOOPBACK))
    api = make_api(services)
    try:
        config = scorer(model_api, cost_per_call=0.25)
        assert register(api, "score", config, NUMBERS).status_code == 201
        assert (
            predict(api, "score", [RECORD, {"amount": 1.0, "card_age_days": 2.0}]).status_code
            == 200
        )
        text = api.client.get("/metrics", headers=api.headers("viewer")).text
        labels = f'model="score",tenant="{api.tenant_id}"'
        assert f"ailayer_provider_cost_total{{{labels}}} 0.5" in text
        assert f"ailayer_provider_calls_total{{{labels}}} 2.0" in text
    finally:
        api.client.close()
        services.close()
