"""Model cards over the API: built only from what was recorded — the registration, the
owner team, the pipeline run with its gates (fairness per declared attribute), the
endpoint's drift and the version's attributions — as JSON, HTML, and ``ailayer card``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from ailayer.bootstrap import build
from ailayer.features.loader import load_definitions
from tests.support.api import Api, make_api
from tests.support.cli import assert_one_clear_error, ok, run
from tests.support.drift_scenario import predict, rows, shop_model
from tests.support.pipelines import labels, write_data, write_repo
from tests.support.sdk import Server

FINISH_TIMEOUT = 120
INTENDED = "Flag shop orders <likely to churn> for a retention offer; not for pricing."

FAIR_PIPELINE = """
from ailayer.pipelines.gates import FairnessBounds

fair = Pipeline(
    "fraud-fair",
    model="fraud",
    features="fraud_features",
    entities="labels.parquet",
    label="is_fraud",
    trainer=train,
    params={"C": 1.0},
    seed=7,
    compile=False,
    gates=[FairnessBounds(["region"], min_parity_ratio=0.0)],
)
"""


def card(api: Api, model: str, version: int, **params: str):  # type: ignore[no-untyped-def]
    return api.client.get(
        f"/v1/models/{model}/versions/{version}/card", params=params, headers=api.headers("viewer")
    )


@pytest.fixture
def shop(api: Api) -> Api:
    """shop v1 (champion, with its intended use) owned by team growth, a stored reference
    and 1,500 drifted predictions logged through the implicit endpoint ``shop``."""
    registered = api.register("shop", shop_model(), aliases=["champion"], description=INTENDED)
    assert registered.status_code == 201, registered.text
    headers = api.headers()
    assert api.client.post("/v1/teams", json={"name": "growth"}, headers=headers).status_code == 201
    given = api.client.put("/v1/owners/model/shop", json={"team": "growth"}, headers=headers)
    assert given.status_code == 200
    api.services.drift.references.put(api.tenant_id, "shop", 1, rows(2000, seed=2))
    predict(api, rows(1500, seed=3, drift=True))
    api.services.prediction_log.flush()
    return api


def test_a_hand_uploaded_versions_card_shows_use_owner_drift_and_top_features(shop: Api) -> None:
    answer = card(shop, "shop", 1)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["intended_use"] == {"text": INTENDED, "from": "the version's description"}
    assert body["owner"]["team"] == "growth"
    assert body["owner"]["registered_by"].startswith("admin-key")
    assert body["training_data"] == {
        "sources": [],
        "feature_views": [],
        "dataset": None,
        "run": None,
    }
    assert body["endpoints"] == ["shop"]
    [drift] = body["drift"]
    assert drift["endpoint"] == "shop" and drift["rows"] == 1500
    assert "amount" in drift["drifted_features"]
    top = body["top_features"]  # attributions need numeric inputs; 'plan' is a category
    assert top["features"] is None and "numeric" in top["reason"]
    limits = " | ".join(body["limitations"])
    assert "no explanation of its top features" in limits
    assert "uploaded by hand" in limits
    assert "fairness was not evaluated at training" in limits
    assert "inputs have drifted on endpoint 'shop'" in limits
    assert body["fairness"] == {"training": {}, "serving": []}


def test_the_top_features_are_attributions_of_recent_logged_inputs(api: Api) -> None:
    assert api.register("fraud", aliases=["champion"]).status_code == 201
    few = [{"amount": 10.0 * i, "card_age_days": 400.0 - i} for i in range(5)]
    headers = api.headers("service")
    assert api.client.post("/v1/predict/fraud", json=few, headers=headers).status_code == 200
    api.services.prediction_log.flush()
    assert card(api, "fraud", 1).json()["top_features"]["features"] is None  # 5 < 10

    more = [{"amount": 60.0 * i, "card_age_days": 3.0 * i} for i in range(60)]
    assert api.client.post("/v1/predict/fraud", json=more, headers=headers).status_code == 200
    api.services.prediction_log.flush()
    top = card(api, "fraud", 1).json()["top_features"]
    assert top["reason"] is None and top["rows"] == 50
    assert {f["name"] for f in top["features"]} == {"amount", "card_age_days"}
    values = [f["mean_abs_attribution"] for f in top["features"]]
    assert values == sorted(values, reverse=True) and values[0] > 0


def test_the_html_card_escapes_what_it_shows(shop: Api) -> None:
    answer = card(shop, "shop", 1, format="html")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    page = answer.text
    assert "&lt;likely to churn&gt;" in page and "<likely" not in page
    for heading in ("Intended use", "Training data", "Fairness", "Drift", "Top features"):
        assert f"<h2>{heading}</h2>" in page
    assert "uploaded by hand" in page


def test_cards_need_read_access_and_a_real_version(shop: Api) -> None:
    missing = card(shop, "shop", 9)
    assert missing.status_code == 404
    service = shop.client.get("/v1/models/shop/versions/1/card", headers=shop.headers("service"))
    assert service.status_code == 403
    bad = card(shop, "shop", 1, format="pdf")
    assert bad.status_code == 422


@pytest.fixture
def trained(make_settings, tmp_path: Path) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    """fraud v1 trained by a pipeline whose fairness gate declares ``region``."""
    repo = write_repo(tmp_path / "repo", FAIR_PIPELINE)
    services = build(make_settings(feature_repo=str(repo)))
    api = make_api(services)
    services.features.apply(api.tenant_id, "alice", load_definitions(repo))
    rows_ = labels()
    regions = pa.array(["north" if i % 2 else "south" for i in range(rows_.num_rows)])
    write_data(
        services.settings.home / "offline" / api.tenant_id, rows_.append_column("region", regions)
    )
    started = api.client.post("/v1/pipelines/fraud-fair/runs", headers=api.headers())
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + FINISH_TIMEOUT
    while True:
        run_ = api.client.get(f"/v1/pipelines/runs/{started.json()['id']}", headers=api.headers())
        if run_.json()["status"] != "running":
            break
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert run_.json()["status"] == "succeeded", run_.json()["error"]
    try:
        yield api
    finally:
        api.client.close()
        services.close()


def test_a_trained_versions_card_traces_its_data_gates_and_fairness(trained: Api) -> None:
    body = card(trained, "fraud", 1).json()
    data = body["training_data"]
    assert data["run"]["pipeline"] == "fraud-fair" and data["run"]["status"] == "succeeded"
    assert data["dataset"]["row_count"] > 0
    assert {v["name"] for v in data["feature_views"]} == {"customer_stats"}
    assert data["sources"][0]["path"] == "customer_stats.parquet"
    assert (
        body["metrics"]
        and body["metrics"]
        == trained.client.get("/v1/models/fraud/versions/1", headers=trained.headers()).json()[
            "metrics"
        ]
    )
    assert body["gates"] == [{"gate": "fairness", "passed": True}]
    [check] = body["fairness"]["training"]["region"]
    assert check["metric"] == "parity_ratio" and check["passed"] is True
    assert 0.0 <= check["measured"] <= 1.0
    limits = " | ".join(body["limitations"])
    assert "uploaded by hand" not in limits and "fairness was not evaluated" not in limits
    assert "not served by any endpoint" in limits  # only aliased challenger
    assert "trained on" in limits and "event times from 2025-03-01" in limits
    assert body["top_features"]["features"] is None


def test_ailayer_card_prints_writes_html_and_resolves_aliases(
    server: Server, tmp_path: Path
) -> None:
    from ailayer import Client
    from tests.support.services import tiny_sklearn_model

    tiny = tiny_sklearn_model()
    with Client(server.url, server.keys["admin"]) as admin:
        admin.register_model(
            "fraud",
            tiny.artifact,
            flavor="sklearn",
            signature=tiny.signature,
            description="Score card payments for fraud review.",
            aliases=["champion"],
        )
    key = ("--url", server.url, "--api-key", server.keys["viewer"])
    said = ok("card", "fraud:champion", *key).stdout
    assert "Model card: fraud:1" in said and "Score card payments" in said
    assert "uploaded by hand" in said
    as_json = json.loads(ok("card", "fraud:1", "--json", *key).stdout)
    assert as_json["version"] == 1
    page = tmp_path / "card.html"
    ok("card", "fraud:1", "--html", str(page), *key)
    assert "<h2>Limitations</h2>" in page.read_text()
    assert_one_clear_error(run("card", "fraud", *key), 2, "MODEL:VERSION")
    assert_one_clear_error(run("card", "fraud:nope", *key), 2, "no alias 'nope'")
