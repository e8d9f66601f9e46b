"""An endpoint's A/B experiment read from the real prediction log and feedback: variants
``a`` and ``b`` logged with known outcomes give the algorithm's result on exactly those
outcomes (latest label wins, unlabelled and errors left out, the window respected), for
each metric; the route answers it with a viewer key and names bad parameters (422), and
another tenant sees nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ailayer.core.errors import InvalidInput
from ailayer.monitoring.endpoint.experiment import EndpointExperiments
from ailayer.monitoring.experiment import analyse
from ailayer.monitoring.log import Entry, Feedback
from tests.support.api import Api
from tests.support.experiment_log import N, log_variants
from tests.support.log_records import target
from tests.support.prediction_log import id_at


def test_result_is_the_algorithm_on_the_logged_outcomes(services) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.create_tenant("acme")
    now = datetime.now(UTC)
    world = log_variants(services, tenant, now)
    experiments = EndpointExperiments(services.prediction_log)
    found = experiments.result(tenant, "fraud", "conversion", 0.15, end=now)
    expected = analyse({"a": world["a"], "b": world["b"]}, "proportion", 0.15)
    assert found.result == expected
    assert found.reason is None and found.result.control == "a"
    a, b = found.traffic
    assert (a.name, a.versions, a.predictions) == ("a", {1: N // 2}, N // 2)
    assert (b.name, b.versions, b.predictions) == ("b", {2: N // 2}, N // 2)
    assert (a.labelled, a.outcomes, b.outcomes) == (
        len(world["a"]),
        len(world["a"]),
        len(world["b"]),
    )
    [comparison] = found.result.comparisons
    assert comparison.verdict == "better" and comparison.message == "b better than a"
    accuracy = experiments.result(tenant, "fraud", "accuracy", 0.1, end=now, control="b")
    hits = analyse({"b": world["b_hit"], "a": world["a_hit"]}, "proportion", 0.1)
    assert accuracy.result == hits
    mean = experiments.result(tenant, "fraud", "mean", 0.1, end=now)
    assert mean.result == analyse({"a": world["a"], "b": world["b"]}, "mean", 0.1)
    body = found.to_dict()
    assert [v["name"] for v in body["variants"]] == ["a", "b"]
    assert body["variants"][0]["versions"] == [{"version": 1, "predictions": N // 2}]
    assert body["variants"][1]["n"] == len(world["b"]) and body["method"] == "msprt"


def test_numeric_outcomes_and_the_window(services) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.create_tenant("acme")
    now = datetime.now(UTC)
    values = {"a": [], "b": []}
    items = []
    for i in range(40):
        name = "ab"[i % 2]
        moment = now - timedelta(minutes=40 - i)
        item = {"prediction_id": id_at(moment), "prediction": 10.0}  # a regressor
        aimed = target(alias=name)
        when = int(moment.timestamp() * 1e9)
        services.prediction_log.buffer.put(
            Entry(tenant, aimed, when, 1.0, [{"amount": 1.0}], [item])
        )
        label = float(i) * (1e300 if name == "b" else 1.0)
        items.append(Feedback(item["prediction_id"], label))
        if moment > now - timedelta(minutes=20, seconds=30):
            values[name].append(label)
    services.prediction_log.flush()
    assert services.feedback.submit(tenant, items)["accepted"] == 40
    experiments = EndpointExperiments(services.prediction_log)
    found = experiments.result(
        tenant, "fraud", "mean", 5.0, start=now - timedelta(minutes=20, seconds=30), end=now
    )
    assert found.result == analyse(values, "mean", 5.0)
    assert [t.outcomes for t in found.traffic] == [10, 10]
    conversion = experiments.result(tenant, "fraud", "conversion", 0.2, end=now)
    assert [v.successes for v in conversion.result.variants] == [
        19,
        20,
    ]  # a label 0 is no conversion


def test_empty_window_one_variant_and_bad_declarations(services) -> None:  # type: ignore[no-untyped-def]
    tenant = services.keys.create_tenant("acme")
    now = datetime.now(UTC)
    moment = now - timedelta(minutes=1)
    item = {"prediction_id": id_at(moment), "prediction": True}
    entry = Entry(
        tenant,
        target(alias="stable"),
        int(moment.timestamp() * 1e9),
        1.0,
        [{"amount": 1.0}],
        [item],
    )
    services.prediction_log.buffer.put(entry)
    services.prediction_log.flush()
    experiments = EndpointExperiments(services.prediction_log)
    past = experiments.result(tenant, "fraud", "conversion", 0.1, end=now - timedelta(days=3))
    assert past.result is None and past.traffic == () and "no predictions of 'fraud'" in past.reason
    assert experiments.result(tenant, "nothing", "mean", 1.0).reason is not None
    alone = experiments.result(tenant, "fraud", "conversion", 0.1, end=now)
    assert alone.result.control == "stable" and alone.result.comparisons == ()
    assert alone.reason.startswith("only one variant (stable)")
    assert alone.traffic[0].labelled == 0 and alone.result.variants[0].n == 0
    for changes, field in (
        ({"metric": "median"}, "metric"),
        ({"effect": 0.0}, "effect"),
        ({"effect": float("nan")}, "effect"),
        ({"effect": 1.5}, "effect"),  # a rate difference
        ({"alpha": 0.7}, "alpha"),
        ({"power": 1.0}, "power"),
        ({"control": "b"}, "control"),
        ({"start": now, "end": now - timedelta(hours=1)}, "start"),
    ):
        call = {"metric": "conversion", "effect": 0.1, "end": now} | changes
        metric, effect = call.pop("metric"), call.pop("effect")
        with pytest.raises(InvalidInput) as raised:
            experiments.result(tenant, "fraud", metric, effect, **call)
        assert raised.value.field == field, changes


def test_route(api: Api) -> None:
    now = datetime.now(UTC)
    world = log_variants(api.services, api.tenant_id, now, n=400)
    url = "/v1/endpoints/fraud/experiment"
    params = {"metric": "conversion", "effect": 0.1, "end": now.isoformat()}
    answer = api.client.get(url, params=params, headers=api.headers("viewer"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    expected = analyse({"a": world["a"], "b": world["b"]}, "proportion", 0.1).to_dict()
    assert body["comparisons"] == expected["comparisons"]
    assert [v["name"] for v in body["variants"]] == ["a", "b"] and body["control"] == "a"
    for bad, field in (
        ({"metric": "median"}, "metric"),
        ({"effect": "0"}, "effect"),
        ({"effect": "-1"}, "effect"),
        ({"effect": "inf"}, "effect"),
        ({"effect": "nan"}, "effect"),
        ({"alpha": "0.6"}, "alpha"),
        ({"alpha": "0"}, "alpha"),
        ({"power": "1"}, "power"),
        ({"control": "c"}, "control"),
        ({"start": "0.5"}, "start"),
    ):
        answer = api.client.get(url, params=params | bad, headers=api.headers("viewer"))
        assert answer.status_code == 422, (bad, answer.text)
        assert answer.json()["error"]["field"] == field, bad
    missing = api.client.get(url, params={"metric": "mean"}, headers=api.headers("viewer"))
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "effect"
    assert api.client.get(url, params=params).status_code == 401
    other = api.services.keys.create_tenant("other")
    key = api.services.keys.create_key(other, "viewer-key", "viewer").key
    theirs = api.client.get(url, params=params, headers={"Authorization": f"Bearer {key}"})
    assert theirs.status_code == 200 and theirs.json()["variants"] == []
