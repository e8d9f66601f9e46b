"""A model that raises on an input answers 500 ``model_error`` with the prediction id and
the model's message, and the failure is in the prediction log under that id."""

from __future__ import annotations

import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

import ailayer
from ailayer.core.errors import ERRORS_BY_CODE, AilayerError, ModelError
from tests.support.services import TinyModel, live_server, upload_form

SIGNATURE = {"inputs": [{"name": "country", "type": "string"}]}


@pytest.fixture
def strict(api):  # type: ignore[no-untyped-def]
    """A model that knows two countries and raises on any other (handle_unknown='error')."""
    estimator = make_pipeline(OneHotEncoder(handle_unknown="error"), LogisticRegression())
    estimator.fit([["FR"], ["DE"], ["FR"], ["DE"]], [0, 1, 0, 1])
    model = TinyModel(sio.dumps(estimator), SIGNATURE, estimator)
    response = api.client.post(
        "/v1/models/strict/versions",
        headers=api.headers(),
        **upload_form(model, aliases=["champion"]),
    )
    assert response.status_code == 201, response.text
    return model


def predict(api, record):  # type: ignore[no-untyped-def]
    return api.client.post("/v1/predict/strict", headers=api.headers("service"), json=record)


def test_a_model_that_raises_answers_model_error_with_its_message(api, strict) -> None:  # type: ignore[no-untyped-def]
    assert predict(api, {"country": "FR"}).status_code == 200
    response = predict(api, {"country": "XX"})
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "model_error"
    assert "unknown categories" in error["message"] and "XX" in error["message"]
    assert "strict" in error["message"]  # which model failed
    assert len(error["prediction_id"]) == 32


def test_the_failure_is_in_the_prediction_log_under_its_id(api, strict) -> None:  # type: ignore[no-untyped-def]
    answered = predict(api, {"country": "FR"}).json()["predictions"][0]["prediction_id"]
    failed = predict(api, {"country": "XX"}).json()["error"]["prediction_id"]
    api.services.prediction_log.flush()
    rows = {
        r["prediction_id"]: r
        for r in api.services.prediction_log.query(api.tenant_id, "strict").to_pylist()
    }
    assert set(rows) == {answered, failed}
    assert rows[answered]["error"] is None
    row = rows[failed]
    assert row["error"].startswith("model_error: ") and "unknown categories" in row["error"]
    assert (row["model"], row["version"], row["prediction"]) == ("strict", 1, None)
    report = api.client.get("/v1/monitoring/strict/performance", headers=api.headers())
    [window] = report.json()["windows"]
    assert (window["requests"], window["errors"]) == (2, 1)  # it counts as an error


def test_model_error_is_public_and_mapped_by_code() -> None:
    assert ERRORS_BY_CODE["model_error"] is ModelError
    assert issubclass(ModelError, AilayerError) and ModelError.status == 500
    assert ailayer.ModelError is ModelError
    error = ModelError("boom", prediction_id="p1")
    assert error.to_dict() == {"code": "model_error", "message": "boom", "prediction_id": "p1"}


def test_the_sdk_raises_model_error_with_the_prediction_id(api, strict) -> None:  # type: ignore[no-untyped-def]
    with (
        live_server(api.client.app) as url,
        ailayer.Client(url, api.keys["service"]) as client,
        pytest.raises(ailayer.ModelError) as caught,
    ):
        client.predict("strict", {"country": "XX"})
    assert caught.value.message.startswith("500: model 'strict' version 1 failed")
    assert len(caught.value.prediction_id) == 32
