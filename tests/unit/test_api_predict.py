"""The predict path through the real app: shapes, validation, limits and alias moves."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.support.services import tiny_sklearn_model

GOOD = {"amount": 900.0, "card_age_days": 3}


@pytest.fixture
def fraud(api):  # type: ignore[no-untyped-def]
    tiny = tiny_sklearn_model()
    assert api.register("fraud", tiny, aliases=["champion"]).status_code == 201
    return tiny


def predict(api, body=None, endpoint="fraud", role="service", **kwargs):  # type: ignore[no-untyped-def]
    if body is not None:
        kwargs["json"] = body
    return api.client.post(f"/v1/predict/{endpoint}", headers=api.headers(role), **kwargs)


def test_one_record_gets_prediction_score_model_and_id(api, fraud) -> None:  # type: ignore[no-untyped-def]
    response = predict(api, GOOD)
    assert response.status_code == 200
    body = response.json()
    assert (body["model"], body["version"], body["alias"]) == ("fraud", 1, "champion")
    [item] = body["predictions"]
    expected = fraud.estimator.predict_proba(np.array([[900.0, 3.0]]))[0, 1]
    assert item["score"] == pytest.approx(expected)
    assert item["prediction"] is bool(expected >= 0.5)
    assert len(item["prediction_id"]) == 32


@pytest.mark.parametrize("wrap", [lambda r: r, lambda r: {"records": r}])
def test_many_records_get_one_prediction_each_with_distinct_ids(api, fraud, wrap) -> None:  # type: ignore[no-untyped-def]
    records = [GOOD, {"amount": 10.0, "card_age_days": 300.0}, GOOD]
    body = predict(api, wrap(records)).json()
    assert len(body["predictions"]) == 3
    assert len({p["prediction_id"] for p in body["predictions"]}) == 3
    assert body["predictions"][0]["score"] == body["predictions"][2]["score"]


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"amount": 1.0}, "card_age_days"),
        ({**GOOD, "extra": 1}, "extra"),
        ({"amount": "900", "card_age_days": 3}, "amount"),
        ({"amount": True, "card_age_days": 3}, "amount"),
        ({"amount": None, "card_age_days": 3}, "amount"),
    ],
)
def test_bad_fields_answer_422_naming_the_field(api, fraud, record, field) -> None:  # type: ignore[no-untyped-def]
    response = predict(api, record)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == field
    assert field in error["message"]


def test_second_record_error_names_its_index(api, fraud) -> None:  # type: ignore[no-untyped-def]
    response = predict(api, [GOOD, {"amount": 1.0}])
    assert response.status_code == 422
    assert "records[1]" in response.json()["error"]["message"]


@pytest.mark.parametrize("body", [b"{not json", b"", b"[]", b"42"])
def test_malformed_bodies_are_refused_clearly(api, fraud, body) -> None:  # type: ignore[no-untyped-def]
    response = predict(api, content=body)
    assert response.status_code in (400, 422)
    assert response.json()["error"]["message"]


def test_unknown_endpoint_is_404(api, fraud) -> None:  # type: ignore[no-untyped-def]
    response = predict(api, GOOD, endpoint="nope")
    assert response.status_code == 404
    assert "nope" in response.json()["error"]["message"]


def test_oversized_body_is_413_declared_or_streamed(api, fraud) -> None:  # type: ignore[no-untyped-def]
    limit = api.services.settings.max_body_bytes
    big = b"[" + b"1," * limit + b"1]"
    assert predict(api, content=big).status_code == 413

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(limit // 1000 + 2):
            yield b" " * 1000

    assert predict(api, content=chunks()).status_code == 413


def test_declared_endpoint_routes_to_its_alias(api, fraud) -> None:  # type: ignore[no-untyped-def]
    assert (
        api.register("fraud", tiny_sklearn_model(seed=1), aliases=["challenger"]).status_code == 201
    )
    put = api.client.put(
        "/v1/endpoints/fraud-shadow",
        headers=api.headers("developer"),
        json={"model": "fraud", "alias": "challenger"},
    )
    assert put.status_code == 200
    body = predict(api, GOOD, endpoint="fraud-shadow").json()
    assert (body["version"], body["alias"]) == (2, "challenger")


def test_alias_move_takes_effect_within_two_seconds(api, fraud) -> None:  # type: ignore[no-untyped-def]
    assert predict(api, GOOD).json()["version"] == 1
    api.register("fraud", tiny_sklearn_model(flip=True))
    moved = api.client.put(
        "/v1/models/fraud/aliases/champion", headers=api.headers(), json={"version": 2}
    )
    assert moved.status_code == 200
    started = time.monotonic()
    while predict(api, GOOD).json()["version"] != 2:
        assert time.monotonic() - started < 2.0, "alias move not seen within 2 s"
        time.sleep(0.05)


def test_tampered_artifact_is_refused_and_nothing_changes(api, fraud) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    version = api.client.get("/v1/models/fraud/versions/1", headers=api.headers()).json()
    stored = api.services.registry.get_version(api.tenant_id, "fraud", 1).artifact_uri
    path = Path(stored.removeprefix("file://"))  # answers name it by content only
    path.write_bytes(path.read_bytes() + b"tampered")
    response = predict(api, GOOD)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "artifact_integrity"
    assert "integrity" in response.json()["error"]["message"]
    after = api.client.get("/v1/models/fraud/versions/1", headers=api.headers()).json()
    assert after == version


def _without_ids(items: list[dict]) -> list[dict]:
    return [{k: v for k, v in item.items() if k != "prediction_id"} for item in items]


@pytest.mark.parametrize("count", [1, 3, 200])
def test_columns_answer_the_same_values_by_field(api, fraud, count) -> None:  # type: ignore[no-untyped-def]
    records = [{"amount": float(i * 37 % 1000), "card_age_days": i % 50} for i in range(count)]
    items = predict(api, records).json()
    by_field = predict(api, records, params={"columns": "true"}).json()

    assert set(by_field) == {"endpoint", "model", "version", "alias", "columns"}
    assert {k: by_field[k] for k in ("model", "version", "alias")} == {
        k: items[k] for k in ("model", "version", "alias")
    }
    columns = by_field["columns"]
    assert list(columns) == ["prediction_id", "prediction", "score"]
    rebuilt = [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]
    assert _without_ids(rebuilt) == _without_ids(items["predictions"])
    assert len(set(columns["prediction_id"])) == count
    assert all(len(i) == 32 for i in columns["prediction_id"])


def test_columns_keep_the_ids_the_log_stores(api, fraud) -> None:  # type: ignore[no-untyped-def]
    records = [GOOD] * 100
    ids = predict(api, records, params={"columns": "1"}).json()["columns"]["prediction_id"]

    api.services.prediction_log.flush()
    stored = api.services.prediction_log.query(api.tenant_id, "fraud").to_pylist()
    assert sorted(row["prediction_id"] for row in stored) == sorted(ids)


def test_columns_with_explained_features_carry_them_as_a_column(api, fraud) -> None:  # type: ignore[no-untyped-def]
    query = {"columns": "true", "explain_features": "true"}
    columns = predict(api, [GOOD, GOOD], params=query).json()["columns"]

    assert columns["features"] == [GOOD, GOOD]
    assert len(columns["score"]) == 2


def test_an_unreadable_columns_flag_is_422_naming_it(api, fraud) -> None:  # type: ignore[no-untyped-def]
    response = predict(api, GOOD, params={"columns": "sideways"})

    assert response.status_code == 422
    assert response.json()["error"]["field"] == "columns"
