"""The gateway's ``RemoteRunner`` against real model workers on loopback: answers as the
model does, retries a call whose worker is lost on another, leaves a lost worker out
for a while and takes it back, and answers 503 naming the endpoint when none is left."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from ailayer.api.app import create_app
from ailayer.api.metrics import open_metrics
from ailayer.bootstrap import Services, build, build_worker
from ailayer.core.errors import BackendUnavailable, InvalidInput, ModelError
from ailayer.core.settings import Settings
from ailayer.models.signature import Signature
from ailayer.serving.remote import RemoteRunner
from ailayer.serving.target import Target
from ailayer.serving.wire import (
    HEADER,
    HELLO,
    OK,
    decode_call,
    decode_reply,
    encode_call,
    encode_explain,
    encode_ready,
    frame,
    read_frame,
)
from ailayer.serving.worker import ModelWorker
from tests.support.api import make_api
from tests.support.deployments import deploy, variant
from tests.support.services import free_port
from tests.support.tenant_models import RECORD, expected_score, register, tenant_model

MODEL = tenant_model(7)
ROWS = np.array([[RECORD["amount"], RECORD["card_age_days"]], [900.0, 3.0]])


@pytest.fixture
def system(make_settings) -> Iterator[tuple[Settings, Services, str]]:  # type: ignore[no-untyped-def]
    settings = make_settings()
    services = build(settings)
    tenant_id = services.keys.create_tenant("acme")
    register(services, tenant_id, "fraud", MODEL)
    yield settings, services, tenant_id
    services.close()


def scores(rows: np.ndarray) -> list[float]:
    return [float(p) for p in MODEL.estimator.predict_proba(rows)[:, 1]]  # type: ignore[attr-defined]


@contextlib.asynccontextmanager
async def serving(worker: ModelWorker, port: int = 0) -> AsyncIterator[str]:
    """``worker`` listening on loopback (this event loop) until the block ends."""
    server = await worker.start("127.0.0.1", port)
    try:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await worker.close()


@contextlib.asynccontextmanager
async def dropping() -> AsyncIterator[tuple[str, list[int]]]:
    """A worker that accepts the gateway, then dies on the first call (the connection ends
    with no answer, as after ``kill -9``): its address and the calls it took."""
    taken: list[int] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_frame(reader)
        writer.write(frame(HELLO, OK))
        request_id, body = await read_frame(reader)
        decode_call(body)  # a well-formed call reached it
        taken.append(request_id)
        writer.transport.abort()  # reset, no answer

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}", taken
    finally:
        server.close()


async def fraud(services: Services, tenant_id: str) -> Target:
    return await services.predictor.target(tenant_id, "fraud")


def test_a_remote_call_answers_as_the_model_and_spreads_over_workers(system) -> None:  # type: ignore[no-untyped-def]
    settings, services, tenant_id = system
    workers = [build_worker(settings), build_worker(settings)]

    async def scenario() -> list[list[float]]:
        target = await fraud(services, tenant_id)
        async with serving(workers[0]) as one, serving(workers[1]) as two:
            runner = RemoteRunner([one, two])
            answers = [await runner.predict(tenant_id, target, ROWS) for _ in range(4)]
            await runner.aclose()
            return [a.scores for a in answers]

    for answer in asyncio.run(scenario()):
        assert answer == pytest.approx(scores(ROWS))
    for worker in workers:  # each loaded the model itself: both took calls
        assert worker.runner.models.nbytes > 0


def test_a_call_whose_worker_dies_is_answered_by_another(system, caplog) -> None:  # type: ignore[no-untyped-def]
    settings, services, tenant_id = system

    async def scenario() -> tuple[list[list[float]], list[int], float]:
        target = await fraud(services, tenant_id)
        async with dropping() as (lost, taken), serving(build_worker(settings)) as good:
            runner = RemoteRunner([lost, good], retry_seconds=60)
            answers = [await runner.predict(tenant_id, target, ROWS) for _ in range(4)]
            down_until = runner.links[0].down_until
            await runner.aclose()
            return [a.scores for a in answers], taken, down_until

    with caplog.at_level(logging.WARNING, "ailayer.serving"):
        answers, taken, down_until = asyncio.run(scenario())
    assert taken == [1], "the dying worker got exactly one call, then was left out"
    assert down_until > 0
    for answer in answers:
        assert answer == pytest.approx(scores(ROWS))
    assert "model worker lost" in caplog.text


def test_refused_workers_are_skipped_and_none_left_is_a_503_naming_the_endpoint(system) -> None:  # type: ignore[no-untyped-def]
    settings, services, tenant_id = system
    nobody = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]

    async def scenario() -> tuple[list[float] | None, BackendUnavailable]:
        target = await fraud(services, tenant_id)
        async with serving(build_worker(settings)) as good:
            answer = await RemoteRunner([nobody[0], good]).predict(tenant_id, target, ROWS)
        with pytest.raises(BackendUnavailable) as refused:
            await RemoteRunner(nobody).predict(tenant_id, target, ROWS)
        return answer.scores, refused.value

    answer, error = asyncio.run(scenario())
    assert answer == pytest.approx(scores(ROWS))
    assert error.status == 503
    assert "'fraud'" in error.message and "no model worker could answer" in error.message
    assert "127.0.0.1" not in error.message  # addresses go to the gateway's log only


def test_a_lost_worker_is_tried_again_after_retry_seconds(system) -> None:  # type: ignore[no-untyped-def]
    settings, services, tenant_id = system
    port = free_port()
    again = build_worker(settings)

    async def scenario() -> None:
        target = await fraud(services, tenant_id)
        async with serving(build_worker(settings)) as other:
            runner = RemoteRunner([f"127.0.0.1:{port}", other], retry_seconds=0.2)
            async with serving(build_worker(settings), port):
                await runner.predict(tenant_id, target, ROWS)
                await runner.predict(tenant_id, target, ROWS)
            # gone: every call goes to the other, none fails
            for _ in range(3):
                await runner.predict(tenant_id, target, ROWS)
            assert runner.links[0].down_until > 0
            async with serving(again, port):
                await asyncio.sleep(0.3)
                for _ in range(4):
                    await runner.predict(tenant_id, target, ROWS)
            await runner.aclose()

    asyncio.run(scenario())
    assert again.runner.models.nbytes > 0, "the worker back on its port took calls again"


def test_a_gateway_with_the_wrong_secret_is_refused(system, caplog) -> None:  # type: ignore[no-untyped-def]
    settings, services, tenant_id = system
    worker = build_worker(settings)
    worker.secret = b"the right one"

    async def scenario() -> BackendUnavailable:
        target = await fraud(services, tenant_id)
        async with serving(worker) as address:
            with pytest.raises(BackendUnavailable) as refused:
                await RemoteRunner([address], secret="a wrong one").predict(tenant_id, target, ROWS)
            answer = await RemoteRunner([address], secret="the right one").predict(
                tenant_id, target, ROWS
            )
            assert answer.scores == pytest.approx(scores(ROWS))
        return refused.value

    with caplog.at_level(logging.WARNING, "ailayer.serving"):
        error = asyncio.run(scenario())
    assert "'fraud'" in error.message
    assert "model_worker_secret" in caplog.text
    assert "the right one" not in caplog.text and "a wrong one" not in caplog.text


def test_a_model_that_raises_on_the_worker_is_a_model_error_naming_it(system) -> None:  # type: ignore[no-untyped-def]
    settings, services, tenant_id = system

    async def scenario() -> ModelError:
        target = await fraud(services, tenant_id)
        async with serving(build_worker(settings)) as address:
            with pytest.raises(ModelError) as raised:
                await RemoteRunner([address]).predict(tenant_id, target, np.ones((1, 3)))
        return raised.value

    error = asyncio.run(scenario())
    assert error.message.startswith("model 'fraud' version 1 failed on this input: ValueError")
    assert error.prediction_id


def test_the_wire_keeps_a_matrix_as_it_was() -> None:
    numeric = np.arange(6, dtype=np.float32).reshape(3, 2)
    call = decode_call(encode_call("t", "m", 2, "abc", numeric, True))
    assert (call.tenant_id, call.model, call.version, call.sha256, call.in_thread) == (
        "t",
        "m",
        2,
        "abc",
        True,
    )
    assert call.matrix.dtype == np.float32 and (call.matrix == numeric).all()
    call.matrix[0, 0] = 9  # writable, as a local matrix is

    mixed = np.array([["a", 1.5, None], ["b", 2, True]], dtype=object)
    back = decode_call(encode_call("t", "m", 1, "abc", mixed, False)).matrix
    assert back.dtype == object and back.shape == (2, 3)
    assert back.tolist() == mixed.tolist()
    assert call.op == "predict"  # a header without an op: a gateway of before ops


def test_the_wire_carries_ready_and_explain() -> None:
    ready = decode_call(encode_ready("t", "m", 3, "abc"))
    assert (ready.op, ready.tenant_id, ready.model, ready.version, ready.sha256) == (
        "ready",
        "t",
        "m",
        3,
        "abc",
    )
    rows = np.arange(6, dtype=np.float32).reshape(3, 2)
    background = np.array([[0.5, 1.5]])
    explain = decode_call(encode_explain("t", "m", 3, "abc", rows, background, ("a", "b")))
    assert explain.op == "explain" and explain.names == ("a", "b")
    assert explain.matrix.dtype == np.float32 and (explain.matrix == rows).all()
    assert explain.background is not None and (explain.background == background).all()


@contextlib.contextmanager
def worker_thread(settings: Settings) -> Iterator[tuple[str, ModelWorker]]:
    """A model worker on its own event loop in a thread, as its own process would run it."""
    loop = asyncio.new_event_loop()
    worker = build_worker(settings, migrate=False)
    server = loop.run_until_complete(worker.start("127.0.0.1", 0))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}", worker
    finally:
        loop.call_soon_threadsafe(server.close)
        asyncio.run_coroutine_threadsafe(worker.close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def test_a_gateway_answers_the_api_as_the_embedded_server_does_and_loads_no_model(
    make_settings,
) -> None:  # type: ignore[no-untyped-def]
    embedded = build(make_settings())
    try:
        with worker_thread(embedded.settings) as (address, worker):
            gateway = build(make_settings(model_workers=[address]))
            api = make_api(gateway)
            local = TestClient(create_app(embedded))  # the same stores, models in-process
            try:
                assert api.register(tiny=MODEL, aliases=["champion"]).status_code == 201
                ready = api.client.get("/v2/models/fraud/ready", headers=api.headers())
                assert ready.status_code == 200 and ready.json() == {"name": "fraud", "ready": True}
                assert worker.runner.models.stats()[api.tenant_id].loaded == 1  # loaded there
                pinned = api.client.get("/v2/models/fraud/versions/1/ready", headers=api.headers())
                assert pinned.status_code == 200
                missing = api.client.get("/v2/models/fraud/versions/5/ready", headers=api.headers())
                assert missing.status_code == 404
                answers = [
                    client.post(
                        "/v1/predict/fraud?explain=true", headers=api.headers(), json=[RECORD]
                    )
                    for client in (api.client, local)
                ]
                for response in answers:
                    assert response.status_code == 200, response.text
                [item], [embedded_item] = (r.json()["predictions"] for r in answers)
                assert item["score"] == pytest.approx(expected_score(MODEL))
                explanation, expected = item["explanation"], embedded_item["explanation"]
                assert explanation["method"] == expected["method"]
                assert explanation["background"] == expected["background"] == "zeros"
                assert explanation["expected_value"] == pytest.approx(expected["expected_value"])
                assert explanation["attributions"] == pytest.approx(expected["attributions"])
                assert gateway.predictor.batcher is None  # batching happens in the workers
                # ready and explain ran on the worker: the gateway loaded no model
                assert gateway.predictor.models.stats() == {}
                assert gateway.predictor.models.nbytes == 0
            finally:
                local.close()
                api.client.close()
                gateway.close()
    finally:
        embedded.close()


def test_a_gateway_checks_a_deployment_loads_on_a_worker_not_in_itself(make_settings) -> None:  # type: ignore[no-untyped-def]
    embedded = build(make_settings())
    try:
        with worker_thread(embedded.settings) as (address, worker):
            gateway = build(make_settings(model_workers=[address]))
            api = make_api(gateway)
            try:
                assert api.register(tiny=MODEL, aliases=["champion"]).status_code == 201
                assert api.register(tiny=tenant_model(8)).status_code == 201  # v2, then damaged
                served = gateway.registry.get_version(api.tenant_id, "fraud", 2).served[1]
                path = Path(served.uri.removeprefix("file://"))
                path.write_bytes(path.read_bytes()[:-10] + b"x" * 10)
                single = {"variants": [variant("main", 1, 100)]}
                assert deploy(api, "checkout", single).status_code == 200
                assert worker.runner.models.stats()[api.tenant_id].loaded == 1  # checked there
                both = {"kind": "ab", "variants": [variant("main", 1, 50), variant("next", 2, 50)]}
                refused = deploy(api, "checkout", both)
                assert refused.status_code == 422, refused.text
                error = refused.json()["error"]
                assert error["field"] == "variants" and "variant 'next'" in error["message"]
                assert gateway.predictor.models.stats() == {}  # the gateway loaded nothing
            finally:
                api.client.close()
                gateway.close()
    finally:
        embedded.close()


def test_ready_loads_the_version_on_a_worker_and_names_what_it_cannot_load(system) -> None:  # type: ignore[no-untyped-def]
    settings, services, tenant_id = system
    worker = build_worker(settings)

    async def scenario() -> BackendUnavailable:
        target = await fraud(services, tenant_id)
        async with serving(worker) as address:
            runner = RemoteRunner([address])
            assert worker.runner.models.get(tenant_id, target.key) is None
            await runner.ready(tenant_id, target)
            assert worker.runner.models.get(tenant_id, target.key) is not None
            other = replace(target, version=replace(target.version, artifact_sha256="0" * 64))
            with pytest.raises(BackendUnavailable) as refused:
                await runner.ready(tenant_id, other)
            await runner.aclose()
        return refused.value

    error = asyncio.run(scenario())
    assert "has another artifact" in error.message
    assert services.predictor.models.stats() == {}  # the gateway side loaded nothing


def test_an_unknown_operation_is_a_clear_error_and_a_worker_that_cannot_read_is_a_503(
    system,
) -> None:  # type: ignore[no-untyped-def]
    settings, _, tenant_id = system

    async def ask(address: str, body: bytes) -> tuple[str, str]:
        host, port = address.split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(frame(HELLO, b""))
        assert (await read_frame(reader))[1] == OK
        writer.write(frame(1, body))
        _, answer = await read_frame(reader)
        writer.close()
        reply = decode_reply(answer)
        assert isinstance(reply, tuple)
        return reply

    async def scenario() -> tuple[tuple[str, str], tuple[str, str]]:
        async with serving(build_worker(settings)) as address:
            header = orjson.dumps({"op": "frobnicate", "t": tenant_id, "m": "fraud", "v": 1})
            unknown = await ask(address, HEADER.pack(len(header)) + header)
            malformed = await ask(address, b"\x00\x00\x00\x09not json!")
        return unknown, malformed

    unknown, malformed = asyncio.run(scenario())
    assert unknown[0] == "backend_unavailable"
    assert "'frobnicate'" in unknown[1] and "predict, ready, explain" in unknown[1]
    assert malformed[0] == "bad_request"
    with pytest.raises(BackendUnavailable, match="could not read the gateway's request"):
        decode_remote(malformed)  # the gateway: the worker's fault (an older one), not the caller's


def decode_remote(reply: tuple[str, str]) -> None:
    from ailayer.serving.remote import _raise

    _raise(*reply)


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """Every sample of a Prometheus text page by name and sorted labels."""
    text = httpx.get(url, timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_worker_exports_its_requests_and_model_cache_as_prometheus_metrics(system) -> None:  # type: ignore[no-untyped-def]
    settings, services, tenant_id = system
    worker = build_worker(settings)
    listen = f"127.0.0.1:{free_port()}"

    async def scenario() -> None:
        target = await fraud(services, tenant_id)
        async with serving(worker) as address:
            runner = RemoteRunner([address])
            for _ in range(3):
                await runner.predict(tenant_id, target, ROWS)
            with pytest.raises(ModelError):
                await runner.predict(tenant_id, target, np.ones((1, 3)))
            await runner.ready(tenant_id, target)
            await runner.aclose()

    with open_metrics(worker.metrics.registry, listen, shared=False):
        before = scrape(f"http://{listen}/metrics")
        asyncio.run(scenario())
        after = scrape(f"http://{listen}/metrics")
    requests = "ailayer_model_worker_requests_total"
    assert (requests, (("op", "predict"), ("outcome", "ok"))) not in before
    assert after[(requests, (("op", "predict"), ("outcome", "ok")))] == 3
    assert after[(requests, (("op", "predict"), ("outcome", "model_error")))] == 1
    assert after[(requests, (("op", "ready"), ("outcome", "ok")))] == 1
    duration = "ailayer_model_worker_request_duration_seconds_count"
    assert after[(duration, (("op", "predict"),))] == 4
    # the model cache under the names the API app exports: one cold start, one model
    assert before[("ailayer_models_loaded", ())] == 0
    assert after[("ailayer_models_loaded", ())] == 1
    assert after[("ailayer_model_load_seconds_count", ())] == 1
    assert after[("ailayer_model_cache_bytes", ())] > 0
    assert after[("ailayer_model_evictions_total", ())] == 0
    assert after[("ailayer_model_cache_budget_bytes", ())] == settings.model_cache_bytes
    assert after[("ailayer_micro_batches_total", ())] >= 1  # micro-batching is on by default


def test_with_metrics_per_tenant_a_workers_series_name_the_tenant(system, make_settings) -> None:  # type: ignore[no-untyped-def]
    _, services, tenant_id = system
    worker = build_worker(make_settings(metrics_per_tenant=True), migrate=False)

    async def scenario() -> None:
        target = await fraud(services, tenant_id)
        async with serving(worker) as address:
            runner = RemoteRunner([address])
            await runner.predict(tenant_id, target, ROWS)
            await runner.aclose()

    asyncio.run(scenario())
    series = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in worker.metrics.registry.collect()
        for sample in family.samples
    }
    tenant = ("tenant", tenant_id)
    labels = (("op", "predict"), ("outcome", "ok"), tenant)
    assert series[("ailayer_model_worker_requests_total", labels)] == 1
    assert series[("ailayer_models_loaded", (tenant,))] == 1


def test_a_worker_refuses_a_metrics_address_its_gateway_holds(make_settings) -> None:  # type: ignore[no-untyped-def]
    listen = f"127.0.0.1:{free_port()}"
    worker = build_worker(make_settings())
    gateway = open_metrics(CollectorRegistry(), listen)  # shared by a gateway's processes
    with gateway, pytest.raises(InvalidInput, match="metrics_listen") as refused:  # noqa: SIM117
        with open_metrics(worker.metrics.registry, listen, shared=False):
            pass
    assert refused.value.field == "metrics_listen"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--role", "gateway"], "--role gateway needs model workers"),
        (["--model-worker", "127.0.0.1:8101"], "--model-worker is for --role gateway"),
        (["--role", "worker", "--host", "0.0.0.0"], "needs the setting model_worker_secret"),
    ],
)
def test_serve_refuses_a_role_it_cannot_run_safely(make_settings, args, says) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from ailayer.cli.main import cli

    home = make_settings().home
    result = CliRunner().invoke(cli, ["serve", *args], env={"AILAYER_HOME": str(home)})
    assert result.exit_code == 2, result.output
    assert says in result.output


def test_a_worker_serves_the_form_the_gateway_resolved_compiled_or_original(make_settings) -> None:  # type: ignore[no-untyped-def]
    import onnxruntime
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    from ailayer.models.service import NewVersion

    settings = make_settings()
    services = build(settings)
    tenant_id = services.keys.create_tenant("acme")
    rng = np.random.default_rng(3)
    x = np.column_stack([rng.uniform(0, 1000, 300), rng.uniform(0, 365, 300)])
    estimator = LogisticRegression(max_iter=1000).fit(x, (x[:, 0] / 300 > x[:, 1] / 120))
    estimator.classes_ = np.array([0, 1])  # integer labels: the compiled form is kept
    signature = {"inputs": [{"name": n, "type": "double"} for n in ("amount", "card_age_days")]}
    new = NewVersion(
        model="fraud", flavor="sklearn", artifact=sio.dumps(estimator), signature=signature
    )
    version = services.registry.register(tenant_id, "tests", new)
    assert version.serves_compiled, version.compilation
    worker = build_worker(settings)
    expected = estimator.predict_proba(ROWS)[:, 1]

    async def call(target: Target) -> tuple[list[float], object]:
        async with serving(worker) as address:
            runner = RemoteRunner([address])
            answer = await runner.predict(tenant_id, target, ROWS)
            await runner.aclose()
        return answer.scores, worker.runner.models.get(tenant_id, target.key)

    try:
        sig = Signature.parse(signature)
        compiled = Target("fraud", "fraud", "champion", version, sig)
        original = Target("fraud", "fraud", "champion", replace(version, serve_compiled=False), sig)
        assert compiled.key != original.key
        for target, kind in ((compiled, onnxruntime.InferenceSession), (original, None)):
            got, loaded = asyncio.run(call(target))
            assert got == pytest.approx(expected, abs=1e-6)
            session = getattr(loaded, "session", None)
            assert isinstance(session, kind) if kind else session is None
    finally:
        services.close()
