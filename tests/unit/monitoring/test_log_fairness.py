"""Fairness of an endpoint's logged decisions: the report on a window of the real log
(joined with the latest labels) equals ``fairness_report`` on the same arrays and the
definitions computed by hand; a PII-hashed attribute groups like its values; an empty
window is reported and an attribute that is not logged is a 422 naming it."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ailayer.core.errors import InvalidInput
from ailayer.models.signature import Signature
from ailayer.monitoring.endpoint.fairness import LogFairness
from ailayer.monitoring.fairness import fairness_report
from ailayer.monitoring.log import Entry, Feedback
from ailayer.serving.target import Target
from tests.support.api import Api
from tests.support.cli import assert_one_clear_error, ok, run
from tests.support.drift_scenario import predict, rows, shop_model
from tests.support.log_records import model_version
from tests.support.prediction_log import id_at

COUNTRIES = ("BR", "DE", "US")
N = 3000
TYPES = {"amount": "double", "country": "string"}


def target(version: int = 1, inputs: tuple[str, ...] = ("amount", "country")) -> Target:
    signature = Signature.parse({"inputs": [{"name": n, "type": TYPES[n]} for n in inputs]})
    return Target("fraud", "fraud", "champion", model_version(version), signature)


def log_world(  # type: ignore[no-untyped-def]
    services, tenant: str, end: datetime, n: int = N, version: int = 1, labels: bool = True
) -> dict:
    """n one-row predictions in the hour before ``end``; the flag rate differs by country;
    60% of them labelled, every tenth first wrongly (the later correction counts)."""
    rng = np.random.default_rng(4 + version)
    country = rng.choice(COUNTRIES, n, p=[0.3, 0.2, 0.5])
    lift = np.select([country == "BR", country == "DE"], [0.15, 0.05], 0.0)
    score = np.clip(rng.beta(2, 5, n) + lift, 0, 1)
    truth = rng.random(n) < score
    labelled = rng.random(n) < 0.6
    start = end - timedelta(hours=1)
    first, correction = [], []
    for i in range(n):
        moment = start + timedelta(seconds=i * 3600 / n)
        item = {"prediction_id": id_at(moment), "prediction": bool(score[i] > 0.5)}
        item["score"] = float(score[i])
        row = {"amount": float(i), "country": str(country[i])}
        when = int(moment.timestamp() * 1e9)
        services.prediction_log.buffer.put(Entry(tenant, target(version), when, 1.0, [row], [item]))
        if labelled[i]:
            wrong = i % 10 == 0
            first.append(Feedback(item["prediction_id"], bool(truth[i]) != wrong))
            if wrong:
                correction.append(Feedback(item["prediction_id"], bool(truth[i])))
    services.prediction_log.flush()
    if labels:
        assert services.feedback.submit(tenant, first)["unknown"] == 0
        assert services.feedback.submit(tenant, correction)["unknown"] == 0
    return {"country": country, "decision": score > 0.5, "truth": truth, "labelled": labelled}


def by_hand(world: dict, group: str) -> dict:
    """Fairlearn's definitions, computed directly."""
    member = world["country"] == group
    decision, truth = world["decision"][member], world["truth"][member]
    known = world["labelled"][member]
    d, t = decision[known], truth[known]
    return {
        "count": int(member.sum()),
        "selected": int(decision.sum()),
        "selection_rate": decision.mean(),
        "labelled": int(known.sum()),
        "positives": int(t.sum()),
        "true_positive_rate": (d & t).sum() / t.sum(),
        "false_positive_rate": (d & ~t).sum() / (~t).sum(),
        "precision": (d & t).sum() / d.sum(),
    }


def test_report_equals_fairness_report_on_the_same_arrays(services) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.create_tenant("acme")
    now = datetime.now(UTC)
    world = log_world(services, tenant, now)
    body = LogFairness(services.prediction_log, services.registry).report(
        tenant, "fraud", "country", end=now
    )
    assert body["reason"] is None and body["attribute"] == "country"
    [version] = body["versions"]
    labelled = world["labelled"]
    assert (version["model"], version["version"], version["rows"]) == ("fraud", 1, N)
    assert (version["labelled"], version["missing"]) == (labelled.sum(), 0)
    assert version["positive"] is True and version["hashed"] is False
    every = fairness_report(world["decision"], world["country"], name="country")
    known = fairness_report(
        world["decision"][labelled],
        world["country"][labelled],
        y_true=world["truth"][labelled],
        name="country",
    )
    assert set(version["groups"]) == set(COUNTRIES)
    for group, got in version["groups"].items():
        assert (got["count"], got["selected"]) == (every[group].count, every[group].selected)
        assert got["selection_rate"] == every[group].selection_rate
        assert got["labelled"] == known[group].count
        for rate in ("positives", "true_positive_rate", "false_positive_rate", "precision"):
            assert got[rate] == getattr(known[group], rate), (group, rate)
        assert got == pytest.approx(by_hand(world, group), abs=1e-12)
    assert version["demographic_parity_difference"] == every.demographic_parity_difference
    assert version["demographic_parity_ratio"] == every.demographic_parity_ratio
    assert version["four_fifths_rule"] is every.four_fifths_rule is False  # BR is flagged more
    assert version["equalized_odds_difference"] == known.equalized_odds_difference
    assert version["equalized_odds_difference"] is not None


def test_versions_unlabelled_rows_and_a_version_without_the_attribute(services) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.create_tenant("acme")
    now = datetime.now(UTC)
    log_world(services, tenant, now - timedelta(hours=3), n=400)
    second = log_world(services, tenant, now, n=300, version=2, labels=False)
    between = now - timedelta(hours=2)  # after v1's hour, before v2's
    moment = int(between.timestamp() * 1e9)
    item = {"prediction_id": id_at(between), "prediction": True, "score": 0.9}
    without = Entry(tenant, target(3, ("amount",)), moment, 1.0, [{"amount": 1.0}], [item])
    services.prediction_log.buffer.put(without)
    services.prediction_log.flush()
    fairness = LogFairness(services.prediction_log, services.registry)
    [v1, v2, v3] = fairness.report(tenant, "fraud", "country", end=now)["versions"]
    assert (v1["rows"], v2["rows"], v3["rows"]) == (400, 300, 1)
    assert v1["labelled"] > 0 and v1["equalized_odds_difference"] is not None
    assert v2["labelled"] == 0 and v2["equalized_odds_difference"] is None  # no labels yet
    expected = fairness_report(second["decision"], second["country"])
    for group, got in v2["groups"].items():
        assert got["selection_rate"] == expected[group].selection_rate
        assert got["true_positive_rate"] is None and got["labelled"] == 0
    assert v2["four_fifths_rule"] is expected.four_fifths_rule
    assert v3["groups"] is None and v3["missing"] == 1
    assert v3["reason"] == "fraud v3: input 'country' is not logged"
    margin = timedelta(seconds=1)
    with pytest.raises(InvalidInput) as raised:  # only v3 in the window
        fairness.report(tenant, "fraud", "country", between - margin, between + margin)
    assert raised.value.field == "attribute" and "v3: input 'country'" in raised.value.message


def test_empty_window_unknown_attribute_and_bad_input(services) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.create_tenant("acme")
    now = datetime.now(UTC)
    log_world(services, tenant, now, n=200)
    fairness = LogFairness(services.prediction_log, services.registry)
    past = fairness.report(
        tenant, "fraud", "country", now - timedelta(days=30), now - timedelta(days=20)
    )
    assert past["versions"] == [] and "no predictions of 'fraud'" in past["reason"]
    assert fairness.report(tenant, "nothing", "country")["versions"] == []
    for attribute, words in (
        ("plan", "is not logged"),
        ("amount", "distinct values"),
        ("", "1 to"),
    ):
        with pytest.raises(InvalidInput) as raised:
            fairness.report(tenant, "fraud", attribute, end=now)
        assert raised.value.field == "attribute" and words in raised.value.message
    with pytest.raises(InvalidInput) as raised:
        fairness.report(tenant, "fraud", "country", now, now - timedelta(hours=1))
    assert raised.value.field == "start"


def test_a_regressor_is_not_judged(services) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.create_tenant("acme")
    now = datetime.now(UTC)
    for i, country in enumerate(COUNTRIES):
        item = {"prediction_id": id_at(now), "prediction": 10.5 + i}  # a number, no score
        row = {"amount": 1.0, "country": country}
        entry = Entry(tenant, target(), int(now.timestamp() * 1e9) - 10**9, 1.0, [row], [item])
        services.prediction_log.buffer.put(entry)
    services.prediction_log.flush()
    body = LogFairness(services.prediction_log, services.registry).report(
        tenant, "fraud", "country", end=now
    )
    [version] = body["versions"]
    assert version["rows"] == 3 and version["groups"] is None
    assert version["reason"] == "fraud v1 is not a binary classifier (no score, or classes)"


@pytest.fixture
def shop(api: Api) -> Iterator[tuple[Api, dict]]:
    """The shop model with ``plan`` hashed in the log; 600 predictions, half labelled."""
    model = shop_model()
    response = api.register("shop", model, aliases=["champion"], tags={"pii": "plan"})
    assert response.status_code == 201, response.text
    frame = rows(600, seed=6)
    answer = api.client.post(
        "/v1/predict/shop", headers=api.headers("service"), json=frame.to_dict("records")
    ).json()["predictions"]
    api.services.prediction_log.flush()
    truth = (frame["amount"] > 100).to_numpy()
    labels = [
        {"prediction_id": p["prediction_id"], "label": bool(t)}
        for p, t in zip(answer[::2], truth[::2], strict=True)
    ]
    response = api.client.post("/v1/feedback", headers=api.headers("service"), json=labels)
    assert response.json()["accepted"] == 300
    world = {
        "plan": frame["plan"].to_numpy(),
        "decision": np.array([p["prediction"] for p in answer]),
        "truth": truth,
        "labelled": np.arange(600) % 2 == 0,
    }
    yield api, world


def test_route_with_a_hashed_attribute(shop) -> None:  # type: ignore[no-untyped-def]
    api, world = shop
    url = "/v1/monitoring/shop/fairness?attribute=plan"
    response = api.client.get(url, headers=api.headers("viewer"))
    assert response.status_code == 200, response.text
    [version] = response.json()["versions"]
    assert version["hashed"] is True and version["rows"] == 600 and version["labelled"] == 300
    groups = version["groups"]
    assert all(name.startswith("sha256:") for name in groups)
    assert not any(plan in response.text for plan in ("free", "pro", "team"))
    # equal values share a hash: the groups are the plans, named by their hash
    every = fairness_report(world["decision"], world["plan"])
    known = world["labelled"]
    rates = fairness_report(
        world["decision"][known], world["plan"][known], y_true=world["truth"][known]
    )
    expected = sorted(
        (g.count, g.selected, rates[g.group].true_positive_rate, rates[g.group].precision)
        for g in every.groups
    )
    got = sorted(
        (g["count"], g["selected"], g["true_positive_rate"], g["precision"])
        for g in groups.values()
    )
    assert got == expected
    assert version["demographic_parity_ratio"] == every.demographic_parity_ratio
    assert version["equalized_odds_difference"] == rates.equalized_odds_difference


def test_route_errors_and_empty_window(shop) -> None:  # type: ignore[no-untyped-def]
    api, _ = shop
    headers = api.headers("viewer")
    missing = api.client.get("/v1/monitoring/shop/fairness?attribute=country", headers=headers)
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "attribute"
    assert "'country' is not logged" in missing.json()["error"]["message"]
    assert api.client.get("/v1/monitoring/shop/fairness", headers=headers).status_code == 422
    denied = api.client.get(
        "/v1/monitoring/shop/fairness?attribute=plan", headers=api.headers("service")
    )
    assert denied.status_code == 403
    past = "&start=2020-01-01T00:00:00Z&end=2020-01-02T00:00:00Z"
    empty = api.client.get(f"/v1/monitoring/shop/fairness?attribute=plan{past}", headers=headers)
    assert empty.status_code == 200 and empty.json()["versions"] == []
    assert "no predictions" in empty.json()["reason"]


def test_redacted_attribute_is_refused(api) -> None:  # type: ignore[no-untyped-def]
    tags = {"pii_redact": "plan"}
    assert api.register("shop", shop_model(), aliases=["champion"], tags=tags).status_code == 201
    predict(api, rows(50, seed=9))
    api.services.prediction_log.flush()
    url = "/v1/monitoring/shop/fairness?attribute=plan"
    response = api.client.get(url, headers=api.headers("viewer"))
    assert response.status_code == 422 and response.json()["error"]["field"] == "attribute"
    assert "redacted" in response.json()["error"]["message"]


@pytest.fixture
def cli_shop(shop, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    """The CLI on the shop's home, through a live server's API (AILAYER_URL)."""
    from ailayer.api import create_app
    from tests.support.services import live_server

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AILAYER_HOME", str(shop[0].services.settings.home))
    with live_server(create_app(shop[0].services)) as url:
        monkeypatch.setenv("AILAYER_URL", url)
        yield shop


def test_cli_table_json_and_errors(cli_shop) -> None:  # type: ignore[no-untyped-def]
    api, world = cli_shop
    key = ["--api-key", api.keys["viewer"]]
    out = ok("fairness", "shop", "--attribute", "plan", *key).stdout
    assert "shop v1: 600 predictions, 300 labelled, by plan (PII: groups are hashes)" in out
    assert "four-fifths rule:" in out and "equalized odds difference" in out
    assert out.count("sha256:") == 3
    body = json.loads(ok("fairness", "shop", "--attribute", "plan", "--json", *key).stdout)
    [version] = body["versions"]
    counts = Counter(world["plan"].tolist())
    assert sorted(g["count"] for g in version["groups"].values()) == sorted(counts.values())
    bad = run("fairness", "shop", "--attribute", "country", *key)
    assert_one_clear_error(bad, 1, "'country' is not logged")
    bad = run("fairness", "shop", "--attribute", "plan", "--end", "soon", *key)
    assert_one_clear_error(bad, 1, "--end: not an ISO 8601 time")
    empty = ok("fairness", "shop", "--attribute", "plan", "--end", "2020-01-01", *key).stdout
    assert "no predictions of 'shop' in the window" in empty
    assert_one_clear_error(
        run("fairness", "shop", "--attribute", "plan", "--api-key", api.keys["service"]),
        1,
        "may not monitoring:read",
    )
