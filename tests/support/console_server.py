"""A real console to drive from a browser: the API app (with /ui) under uvicorn on a free
loopback port, over services in a scratch home, seeded with two tenants, models,
deployments and logged predictions."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ailayer.api import create_app
from ailayer.bootstrap import Services, build
from ailayer.core.settings import load_settings
from tests.support.api import Api, make_api
from tests.support.console import CANARY
from tests.support.deployments import deploy
from tests.support.services import live_server, tiny_sklearn_model

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
RECORDS = [{"amount": 900.0, "card_age_days": 3.0}, {"amount": 20.0, "card_age_days": 300.0}]


@dataclass
class Console:
    """The running server: its URL, the seeded tenant (``acme``) and another (``globex``)."""

    url: str
    services: Services
    acme: Api
    globex: Api


def seed(acme: Api, globex: Api) -> None:
    """acme: model fraud v1 (champion) and v2 with metrics, a canary of v2 on endpoint
    ``fraud`` with logged predictions (one a failure), a labelled A/B test on ``pricing``;
    globex: its own model churn."""
    metrics = [{"auc": 0.91, "accuracy": 0.88}, {"auc": 0.93, "accuracy": 0.9}]
    for flip, metric in zip((False, True), metrics, strict=True):
        extra = {"aliases": ["champion"]} if not flip else {}
        registered = acme.register("fraud", tiny_sklearn_model(flip=flip), metrics=metric, **extra)
        assert registered.status_code == 201, registered.text
    assert deploy(acme, "fraud", CANARY).status_code == 200
    ab = {
        "kind": "ab",
        "variants": [
            {"name": "control", "model": "fraud", "version": 1, "share": 50},
            {"name": "treatment", "model": "fraud", "version": 2, "share": 50},
        ],
    }
    assert deploy(acme, "pricing", ab).status_code == 200
    for _ in range(12):
        answer = acme.client.post(
            "/v1/predict/fraud", json=RECORDS, headers=acme.headers("service")
        )
        assert answer.status_code == 200, answer.text
    bad = acme.client.post(
        "/v1/predict/fraud", json=[{"amount": "x"}], headers=acme.headers("service")
    )
    assert bad.status_code == 422
    assert globex.register("churn", tiny_sklearn_model()).status_code == 201
    ab_test(acme)
    acme.services.prediction_log.flush()


def ab_test(api: Api, requests: int = 80) -> None:
    """``requests`` one-record predictions on ``pricing``, each labelled: v1 (control)
    right two times in three, v2 (treatment) always (its labels are its predictions)."""
    labels = []
    for i in range(requests):
        record = RECORDS[i % 2]
        answer = api.client.post("/v1/predict/pricing", json=record, headers=api.headers("service"))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        [made] = body["predictions"]
        right = body["alias"] == "treatment" or i % 3 != 0
        label = made["prediction"] if right else not made["prediction"]
        labels.append({"prediction_id": made["prediction_id"], "label": label})
    api.services.prediction_log.flush()
    sent = api.client.post("/v1/feedback", json=labels, headers=api.headers("service"))
    assert sent.status_code == 200 and sent.json()["unknown"] == 0, sent.text


@contextlib.contextmanager
def running_console(home: Path) -> Iterator[Console]:
    """The seeded console, served until the block ends."""
    services = build(load_settings(home=home, log_process=False))
    acme, globex = make_api(services, "acme"), make_api(services, "globex")
    try:
        seed(acme, globex)
        with live_server(create_app(services)) as url:
            yield Console(url, services, acme, globex)
    finally:
        acme.client.close()
        globex.client.close()
        services.close()
