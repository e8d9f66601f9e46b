"""Through the real app: predictions are logged, feedback joins them, performance and
explanations are served, and a slow log writer never slows the predict route."""

from __future__ import annotations

import threading

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient
from sklearn import metrics as skm

from ailayer.api import create_app
from tests.support.services import TinyModel, tiny_sklearn_model

RECORDS = [
    {"amount": 900.0, "card_age_days": 3.0},
    {"amount": 20.0, "card_age_days": 300.0},
    {"amount": 700.0, "card_age_days": 50.0},
]


@pytest.fixture
def fraud(api):  # type: ignore[no-untyped-def]
    tiny = tiny_sklearn_model()
    metrics = {"accuracy": 0.97, "auc": 0.99}
    assert api.register("fraud", tiny, aliases=["champion"], metrics=metrics).status_code == 201
    return tiny


def predict(api, body, **params):  # type: ignore[no-untyped-def]
    return api.client.post(
        "/v1/predict/fraud", headers=api.headers("service"), json=body, params=params
    )


def feedback(api, body, role="service"):  # type: ignore[no-untyped-def]
    return api.client.post("/v1/feedback", headers=api.headers(role), json=body)


def test_predictions_are_logged_with_what_was_answered(api, fraud) -> None:  # type: ignore[no-untyped-def]
    answered = predict(api, RECORDS).json()
    assert predict(api, {"amount": "x", "card_age_days": 1.0}).status_code == 422
    api.services.prediction_log.flush()
    rows = api.services.prediction_log.query(api.tenant_id, "fraud").to_pylist()
    ok = [r for r in rows if r["error"] is None]
    assert [r["prediction_id"] for r in ok] == [p["prediction_id"] for p in answered["predictions"]]
    assert [orjson.loads(r["features"]) for r in ok] == RECORDS
    assert [r["score"] for r in ok] == [p["score"] for p in answered["predictions"]]
    assert {(r["model"], r["version"], r["alias"]) for r in ok} == {("fraud", 1, "champion")}
    assert [r["error"] for r in rows if r["error"]] == ["invalid_input"]


def test_feedback_joins_and_performance_matches_sklearn(api, fraud) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    records = [
        {"amount": float(a), "card_age_days": float(d)}
        for a, d in zip(rng.uniform(0, 1000, 60), rng.uniform(0, 365, 60), strict=True)
    ]
    items = predict(api, records).json()["predictions"]
    truth = [bool(r["amount"] > 600 and r["card_age_days"] < 100) for r in records]
    truth[0] = not truth[0]
    body = [
        {"prediction_id": p["prediction_id"], "label": t} for p, t in zip(items, truth, strict=True)
    ]
    body.append({"prediction_id": "f" * 32, "label": True})
    response = feedback(api, body)  # the route flushes the log first: no wait needed
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 60, "unknown": 1, "unknown_ids": ["f" * 32]}

    report = api.client.get(
        "/v1/monitoring/fraud/performance", headers=api.headers("viewer"), params={"window": "day"}
    )
    assert report.status_code == 200, report.text
    [window] = report.json()["windows"]
    scores = np.array([p["score"] for p in items])
    y, pred = np.array(truth, int), np.array([p["prediction"] for p in items], int)
    assert window["labelled"] == 60 and window["task"] == "binary"
    assert window["metrics"]["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert window["metrics"]["roc_auc"] == pytest.approx(skm.roc_auc_score(y, scores))
    assert window["metrics"]["log_loss"] == pytest.approx(skm.log_loss(y, scores))
    vs = window["vs_training"]
    assert vs["accuracy"]["training"] == 0.97
    assert vs["roc_auc"]["delta"] == pytest.approx(window["metrics"]["roc_auc"] - 0.99)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prediction_id": "x", "label": {"a": 1}}, "label"),
        ({"prediction_id": "x", "label": None}, "label"),
        ({"prediction_id": 7, "label": True}, "prediction_id"),
        ({"prediction_id": "x", "label": True, "time": "yesterday"}, "time"),
        ({"prediction_id": "x", "label": True, "extra": 1}, "extra"),
    ],
)
def test_malformed_feedback_is_422_naming_the_field(api, fraud, body, field) -> None:  # type: ignore[no-untyped-def]
    response = feedback(api, body)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


def test_label_of_the_wrong_type_for_the_model_is_422(api, fraud) -> None:  # type: ignore[no-untyped-def]
    [item] = predict(api, RECORDS[0]).json()["predictions"]
    response = feedback(api, {"prediction_id": item["prediction_id"], "label": "fraud"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "label" and "true or false" in error["message"]
    assert feedback(api, {"prediction_id": item["prediction_id"], "label": 1}).status_code == 200


def test_roles_for_feedback_and_performance(api, fraud) -> None:  # type: ignore[no-untyped-def]
    assert feedback(api, {"prediction_id": "x", "label": 1}, role="viewer").status_code == 403
    forbidden = api.client.get("/v1/monitoring/fraud/performance", headers=api.headers("service"))
    assert forbidden.status_code == 403
    bad = api.client.get(
        "/v1/monitoring/fraud/performance", headers=api.headers(), params={"window": "week"}
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "window"


def test_explanations_are_additive_through_the_route(api, fraud) -> None:  # type: ignore[no-untyped-def]
    response = predict(api, RECORDS, explain="true")
    assert response.status_code == 200, response.text
    x = np.array([[r["amount"], r["card_age_days"]] for r in RECORDS])
    decision = fraud.estimator.decision_function(x)
    for item, output in zip(response.json()["predictions"], decision, strict=True):
        explanation = item["explanation"]
        assert explanation["method"] == "linear" and explanation["background"] == "zeros"
        total = explanation["expected_value"] + sum(explanation["attributions"].values())
        assert total == pytest.approx(output, abs=1e-9)
        assert set(explanation["attributions"]) == {"amount", "card_age_days"}
    assert "explanation" not in predict(api, RECORDS[0]).json()["predictions"][0]


def test_explanations_use_logged_inputs_as_background(api, fraud) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    logged = [{"amount": float(a), "card_age_days": 30.0} for a in rng.uniform(0, 1000, 20)]
    predict(api, logged)
    api.services.prediction_log.flush()
    [item] = predict(api, RECORDS[0], explain="true").json()["predictions"]
    explanation = item["explanation"]
    assert explanation["background"] == "log"
    mean = np.array([[np.mean([r["amount"] for r in logged]), 30.0]])
    assert explanation["expected_value"] == pytest.approx(
        fraud.estimator.decision_function(mean)[0]
    )


def test_a_probability_model_is_explained_as_probability_through_the_route(api) -> None:  # type: ignore[no-untyped-def]
    """A forest has no exact method: permutation sampling on its fraud probability, so
    the attributions add up to the returned score and the output is named so."""
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier

    tiny = tiny_sklearn_model()
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.uniform(0, 1000, 300), rng.uniform(0, 365, 300)])
    forest = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0)
    forest.fit(x, (x[:, 0] > 600) & (x[:, 1] < 100))
    served = TinyModel(sio.dumps(forest), tiny.signature, forest)
    assert api.register("fraud", served, aliases=["champion"]).status_code == 201
    response = predict(api, RECORDS, explain="true")
    assert response.status_code == 200, response.text
    for item in response.json()["predictions"]:
        explanation = item["explanation"]
        assert (explanation["method"], explanation["output"]) == ("permutation", "probability")
        total = explanation["expected_value"] + sum(explanation["attributions"].values())
        assert total == pytest.approx(item["score"], abs=1e-9)


class StuckSink:
    """A sink stuck on a slow disk: each write waits until the test releases it (at most
    ``seconds``), and says when one has returned."""

    def __init__(self, inner, seconds: float) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.seconds = inner, seconds
        self.writing, self.release, self.returned = (threading.Event() for _ in range(3))

    def parts(self, entries):  # type: ignore[no-untyped-def]
        return self.inner.parts(entries)

    def write(self, parts):  # type: ignore[no-untyped-def]
        self.writing.set()
        self.release.wait(self.seconds)
        try:
            return self.inner.write(parts)
        finally:
            self.returned.set()


def test_a_slow_writer_never_slows_predictions(api, fraud) -> None:  # type: ignore[no-untyped-def]
    log = api.services.prediction_log
    slow = StuckSink(log.backend.sink, seconds=30.0)
    log.backend.sink = slow
    log.buffer.capacity_rows = 5
    log.backend.stage_interval = 3600.0  # no stage drains the buffer meanwhile: 15 drops
    api.services.log_writer.interval = 0.02
    with TestClient(create_app(api.services)) as client:  # the lifespan runs the writer
        headers = api.headers("service")
        client.post("/v1/predict/fraud", headers=headers, json=RECORDS[0])
        assert slow.writing.wait(2.0)  # the writer is now asleep in its write
        for _ in range(20):
            response = client.post("/v1/predict/fraud", headers=headers, json=RECORDS[0])
            assert response.status_code == 200
        try:
            assert not slow.returned.is_set()  # all answered while the write was stuck
            assert log.dropped == 15  # 5 waited in the buffer, the rest counted as dropped
        finally:
            slow.release.set()
    assert not api.services.log_writer.running
    assert len(log.query(api.tenant_id, "fraud")) == 6  # stop flushed what was buffered
