"""Labels as events: emitted through POST /v1/events, applied by a consumer group."""

from __future__ import annotations

import asyncio

import pytest

from ailayer.core.errors import InvalidInput
from ailayer.events import open_bus
from ailayer.events.consumer import ConsumerRunner
from ailayer.events.envelope import Event
from ailayer.events.handlers import load_handler
from ailayer.events.idempotency import open_idempotency_store
from ailayer.monitoring.log.label_events import LABEL_EVENT, LabelHandler
from tests.support.services import tiny_sklearn_model

BODY = {"amount": 900.0, "card_age_days": 3}


@pytest.fixture
def fraud(api):  # type: ignore[no-untyped-def]
    assert api.register("fraud", tiny_sklearn_model(), aliases=["champion"]).status_code == 201


def _label_event(data, type_: str = LABEL_EVENT) -> dict:  # type: ignore[no-untyped-def]
    return {"specversion": "1.0", "id": f"e-{id(data)}", "source": "billing", "type": type_,
            "data": data}  # fmt: skip


def test_label_events_reach_the_feedback_log(api, fraud) -> None:  # type: ignore[no-untyped-def]
    answer = api.client.post("/v1/predict/fraud", headers=api.headers("service"), json=[BODY] * 3)
    ids = [p["prediction_id"] for p in answer.json()["predictions"]]
    events = [
        _label_event({"prediction_id": ids[0], "label": True}),
        _label_event([{"prediction_id": i, "label": False} for i in ids[1:]] +
                     [{"prediction_id": "f" * 32, "label": True}]),
    ]  # fmt: skip
    emitted = api.client.post(
        "/v1/events", params={"topic": "labels"}, headers=api.headers("service"), json=events
    )
    assert emitted.status_code in (200, 202), emitted.text
    handler = LabelHandler(api.services.feedback)
    settings = api.services.settings

    async def consume() -> int:
        bus = open_bus(settings.event_bus)
        store = open_idempotency_store(f"sqlite:///{settings.home / 'labels-idem.db'}")
        runner = ConsumerRunner(
            bus, "labels", "labels", handler, idempotency=store,
            fetch_timeout=0.2, stop_when_idle=True,
        )  # fmt: skip
        try:
            stats = await asyncio.wait_for(runner.run(), 30)
        finally:
            await store.close()
            await bus.close()
        return stats.processed

    assert asyncio.run(consume()) == 2
    assert handler.unknown == 1
    report = api.client.get(
        "/v1/monitoring/fraud/performance", headers=api.headers("viewer")
    ).json()
    [window] = report["windows"]
    assert window["labelled"] == 3


def test_a_wrong_type_or_label_is_refused_naming_the_field(api, fraud) -> None:  # type: ignore[no-untyped-def]
    handler = LabelHandler(api.services.feedback)
    other = Event.from_dict({**_label_event({"prediction_id": "x", "label": 1}, "payment"),
                             "tenant": api.tenant_id})  # fmt: skip
    with pytest.raises(InvalidInput) as refused:
        handler(other)
    assert refused.value.field == "type"
    answer = api.client.post("/v1/predict/fraud", headers=api.headers("service"), json=BODY)
    [prediction] = answer.json()["predictions"]
    wrong = Event.from_dict(
        {**_label_event({"prediction_id": prediction["prediction_id"], "label": "yes"}),
         "tenant": api.tenant_id}
    )  # fmt: skip
    with pytest.raises(InvalidInput) as refused:
        handler(wrong)
    assert refused.value.field == "label"


def test_the_handler_consume_names_applies_labels_to_the_configured_stores(  # type: ignore[no-untyped-def]
    api, fraud, monkeypatch
) -> None:
    """``ailayer consume --handler ailayer.cli.handlers:labels`` wires its feedback store
    from the settings, as a worker process would."""
    from ailayer.cli import handlers

    monkeypatch.setenv("AILAYER_HOME", str(api.services.settings.home))
    handle = load_handler("ailayer.cli.handlers:labels")
    answer = api.client.post("/v1/predict/fraud", headers=api.headers("service"), json=BODY)
    [prediction] = answer.json()["predictions"]
    api.services.prediction_log.flush()  # the worker reads the log from the stores
    label = _label_event({"prediction_id": prediction["prediction_id"], "label": True})
    try:
        handle(Event.from_dict({**label, "tenant": api.tenant_id}))
        assert handlers._label_handler().unknown == 0
    finally:
        handlers._label_handler.cache_clear()
    report = api.client.get(
        "/v1/monitoring/fraud/performance", headers=api.headers("viewer")
    ).json()
    [window] = report["windows"]
    assert window["labelled"] == 1
