"""The model cache: a memory budget with least-recently-used eviction by bytes, reloads
that answer as before, loads that never hold up other models, and a thousand per-tenant
models in one process."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import orjson
import pytest

from ailayer.bootstrap import Services, build
from ailayer.models.flavors import get_flavor
from ailayer.serving.memory import LoadMeter, object_bytes
from ailayer.serving.model_cache import ModelCache
from tests.support.api import make_api
from tests.support.metrics import scrape
from tests.support.services import SIGNATURE, TinyModel, tiny_sklearn_model
from tests.support.tenant_models import RECORD, expected_score, register, tenant_model


def forest(trees: int) -> TinyModel:
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(trees)
    x = rng.uniform(0, 1000, (300, 2))
    estimator = RandomForestClassifier(n_estimators=trees, max_depth=4, random_state=0)
    estimator.fit(x, x[:, 0] > 600)
    return TinyModel(sio.dumps(estimator), SIGNATURE, estimator)


def key_of(services: Services, tenant_id: str, name: str) -> tuple[tuple, object]:
    version = services.registry.resolve_alias(tenant_id, name, "champion")
    return version.cache_key, version


def test_object_bytes_counts_array_data_and_trees() -> None:
    data = np.zeros(100_000)
    assert object_bytes({"weights": data}) >= data.nbytes
    assert object_bytes(data[10:20]) >= data.nbytes  # a view keeps its base alive
    trees = forest(20).estimator.estimators_  # type: ignore[attr-defined]
    nodes = sum(tree.tree_.node_count for tree in trees)
    assert object_bytes(trees) >= nodes * 64  # a node is 64 bytes, out of Python's sight


def test_eviction_is_least_recently_used_by_bytes(services: Services) -> None:
    tenant_id = services.keys.create_tenant("acme")
    models = {"a": tenant_model(1), "b": tenant_model(2), "c": tenant_model(3)}
    models |= {"medium": forest(3), "big": forest(60)}
    for name, model in models.items():
        register(services, tenant_id, name, model)
    keys = {name: key_of(services, tenant_id, name) for name in models}
    meter = LoadMeter(rss=False)  # deterministic sizes: the object graph and the artifact
    sizing = ModelCache(services.registry, 1 << 40, meter)
    size = {}
    for name, (key, version) in keys.items():
        sizing.load(tenant_id, key, version)
        size[name] = sizing.nbytes_of(tenant_id, key)
    assert size["medium"] >= size["b"] + size["c"]  # the scenario below needs it

    budget = size["a"] + size["medium"]
    cache = ModelCache(services.registry, budget, meter)
    for name in ("a", "b", "c"):
        cache.load(tenant_id, *keys[name])
    assert cache.nbytes == size["a"] + size["b"] + size["c"] <= budget
    assert cache.get(tenant_id, keys["a"][0]) is not None  # a is now the most recent
    cache.load(tenant_id, *keys["medium"])
    loaded = {name for name, (key, _) in keys.items() if cache.nbytes_of(tenant_id, key)}
    assert loaded == {"a", "medium"}  # b, then c, went: the least recently used
    assert cache.nbytes == budget
    assert cache.stats()[tenant_id].evictions == 2

    big = cache.load(tenant_id, *keys["big"])  # bigger than the whole budget: alone
    assert size["big"] > budget
    loaded = {name for name, (key, _) in keys.items() if cache.nbytes_of(tenant_id, key)}
    assert loaded == {"big"}
    row = np.array([[700.0, 10.0]])
    assert big.predict(row).scores == models["big"].estimator.predict_proba(row)[:, 1].tolist()
    stats = cache.stats()[tenant_id]
    assert (stats.loaded, stats.nbytes, stats.evictions) == (1, size["big"], 4)
    assert sum(stats.load_counts) == 5 and stats.load_seconds > 0


def test_an_evicted_model_reloads_and_answers_the_same(make_settings) -> None:  # type: ignore[no-untyped-def]
    services = build(make_settings(model_cache_bytes=1))  # every model alone over budget
    api = make_api(services)
    try:
        with api.client:
            for name, seed in (("first", 0), ("second", 1)):
                registered = api.register(name, tiny_sklearn_model(seed), aliases=["champion"])
                assert registered.status_code == 201
            ask = {"amount": 900.0, "card_age_days": 3}

            def predict(name: str) -> dict:
                response = api.client.post(f"/v1/predict/{name}", headers=api.headers(), json=ask)
                assert response.status_code == 200, response.text
                return response.json()["predictions"][0]

            before = predict("first")
            other = predict("second")  # evicts "first"
            after = predict("first")  # reloaded
            assert (after["prediction"], after["score"]) == (before["prediction"], before["score"])
            assert other["score"] != before["score"]
            samples = scrape(api.client, api.keys["viewer"])
            assert samples[("ailayer_model_evictions_total", ())] == 2
            assert samples[("ailayer_models_loaded", ())] == 1
            assert samples[("ailayer_model_load_seconds_count", ())] == 3
            assert samples[("ailayer_model_cache_budget_bytes", ())] == 1
    finally:
        services.close()


class GatedRegistry:
    """The real registry, except that fetching model ``slow``'s artifact waits for a gate
    (an artifact store that is slow to answer)."""

    def __init__(self, registry, slow: str) -> None:  # type: ignore[no-untyped-def]
        self.registry = registry
        self.slow = slow
        self.entered = threading.Event()
        self.gate = threading.Event()

    def load_served(self, tenant_id: str, version):  # type: ignore[no-untyped-def]
        if version.model == self.slow:
            self.entered.set()
            assert self.gate.wait(20), "the test never opened the gate"
        return self.registry.load_served(tenant_id, version)


def test_a_slow_load_does_not_delay_other_models(services: Services) -> None:
    tenant_id = services.keys.create_tenant("acme")
    for number, name in enumerate(("slow", "warm", "cold")):
        register(services, tenant_id, name, tenant_model(number))
    cache = services.predictor.models
    gated = GatedRegistry(services.registry, "slow")
    cache.registry = gated  # type: ignore[assignment]
    body = orjson.dumps(RECORD)
    predictor = services.predictor

    async def scenario() -> None:
        await predictor.predict(tenant_id, "warm", body)  # loaded before the slow load
        slow = asyncio.create_task(predictor.predict(tenant_id, "slow", body))
        twin = asyncio.create_task(predictor.predict(tenant_id, "slow", body))
        await asyncio.to_thread(gated.entered.wait, 10)
        for name in ("warm", "cold"):  # answered while the slow load still waits on its gate
            answer = await asyncio.wait_for(predictor.predict(tenant_id, name, body), 5)
            assert answer["predictions"][0]["score"] == pytest.approx(
                expected_score(tenant_model(("slow", "warm", "cold").index(name)))
            )
        assert not slow.done() and not twin.done()  # still waiting on the gate
        gated.gate.set()
        answers = await asyncio.gather(slow, twin)
        assert answers[0]["predictions"][0]["score"] == answers[1]["predictions"][0]["score"]

    asyncio.run(scenario())
    assert sum(cache.stats()[tenant_id].load_counts) == 3  # the two "slow" requests: one load


def test_a_thousand_per_tenant_models_within_a_budget(make_settings) -> None:  # type: ignore[no-untyped-def]
    # A model is measured at least at its object graph (more when its RSS growth or its
    # artifact's size stands in), so at most 900 fit whatever the process did before
    one = get_flavor("sklearn").load(tenant_model(0).artifact)
    budget = 900 * object_bytes(one)
    services = build(make_settings(model_cache_bytes=budget))
    try:
        tenant_id = services.keys.create_tenant("saas")
        # 100 distinct artifacts (each stored once: fewer fsyncs), 1000 models loaded apart
        distinct = [tenant_model(number) for number in range(100)]
        models = [distinct[number % 100] for number in range(1000)]
        for number, model in enumerate(models):
            register(services, tenant_id, f"customer-{number:04d}", model)
        body = orjson.dumps(RECORD)

        async def serve(numbers: range) -> list[float]:
            scores = []
            for number in numbers:
                answer = await services.predictor.predict(tenant_id, f"customer-{number:04d}", body)
                scores.append(answer["predictions"][0]["score"])
                assert services.predictor.models.nbytes <= budget
            return scores

        scores = asyncio.run(serve(range(1000)))
        again = asyncio.run(serve(range(10)))  # the first ones were evicted: reloaded
        assert scores == pytest.approx([expected_score(m) for m in models])
        assert again == scores[:10]
        stats = services.predictor.models.stats()[tenant_id]
        assert 100 < stats.loaded < 1000
        assert stats.evictions == 1010 - stats.loaded
        assert stats.nbytes == services.predictor.models.nbytes <= budget
    finally:
        services.close()
