"""The SDK's feature store calls against a real server: plan and apply definitions, read
them back, online features, point-in-time training sets and dataset versions — the same
with ``Client`` and ``AsyncClient``, and failures as the server's typed errors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
import skops.io as sio

from ailayer import Forbidden, InvalidInput, NotFound
from ailayer.api import create_app
from ailayer.bootstrap import Services, build
from tests.support import feature_repo
from tests.support.feature_repo import REPO, customer_stats, ts
from tests.support.sdk import CLIENTS, Awaiting, Scenario, drive
from tests.support.services import live_server

FRAUD_REFS = ["customer_stats:avg_amount", "customer_stats:txn_count", "merchant_risk:risk"]


@dataclass
class Stack:
    services: Services
    tenant: str
    url: str
    keys: dict[str, str]

    def run(self, cls: type, scenario: Scenario, role: str = "admin") -> Any:
        return drive(cls, self.url, self.keys[role], scenario)

    def apply(self) -> None:
        self.services.features.apply(self.tenant, "test", REPO)


@pytest.fixture
def stack(make_settings) -> Iterator[Stack]:  # type: ignore[no-untyped-def]
    """A live server whose process knows the feature repo's on-demand transform."""
    services = build(make_settings(feature_repo="tests.support.feature_repo"))
    tenant = services.keys.create_tenant("acme")
    keys = {r: services.keys.create_key(tenant, f"{r}-key", r).key for r in ("admin", "viewer")}
    try:
        with live_server(create_app(services)) as url:
            yield Stack(services, tenant, url, keys)
    finally:
        services.close()


def fresh(hours_ago: float) -> float:
    """Hours after the feature repo's T0 that lie ``hours_ago`` before now (within the TTL)."""
    return (datetime.now(UTC) - feature_repo.T0) / timedelta(hours=1) - hours_ago


# --- definitions ----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", CLIENTS)
def test_plan_apply_then_list_show_and_versions(cls, stack) -> None:  # type: ignore[no-untyped-def]
    specs = [d.to_spec() for d in REPO]
    changed = replace(customer_stats, owner="growth")

    async def scenario(client: Awaiting) -> None:
        plan = await client.plan_features(REPO)
        assert {c["name"] for c in plan["added"]} == {
            "customer", "merchant", "customer_stats", "merchant_risk", "amount_ratio", "fraud",
        }  # fmt: skip
        assert await client.list_features() == []  # a plan changes nothing

        applied = await client.apply_features(specs)  # spec dicts work as well as objects
        assert len(applied["added"]) == 6 and applied["changed"] == applied["removed"] == []
        again = await client.plan_features(REPO)
        assert again["added"] == again["changed"] == again["removed"] == []
        assert len(again["unchanged"]) == 6

        views = await client.list_features(kind="feature_view")
        assert [v["name"] for v in views] == ["customer_stats", "merchant_risk"]
        assert len(await client.list_features()) == 6
        shown = await client.get_feature("feature_view", "customer_stats")
        assert shown["spec"] == customer_stats.to_spec() and shown["revision"] == 1

        others = [d for d in REPO if d is not customer_stats]
        update = await client.apply_features([*others, changed])
        [change] = update["changed"]
        assert change["name"] == "customer_stats"
        assert 'owner: "risk" → "growth"' in change["details"]
        history = await client.feature_versions("feature_view", "customer_stats")
        assert [(h["revision"], h["change"]) for h in history] == [(1, "added"), (2, "changed")]
        assert history[1]["spec"]["owner"] == "growth"

    stack.run(cls, scenario)


@pytest.mark.parametrize("cls", CLIENTS)
def test_definition_errors_are_typed(cls, stack) -> None:  # type: ignore[no-untyped-def]
    async def scenario(client: Awaiting) -> None:
        with pytest.raises(NotFound, match="no feature_view named 'nope'"):
            await client.get_feature("feature_view", "nope")
        with pytest.raises(NotFound):
            await client.feature_versions("entity", "nope")
        broken = {**customer_stats.to_spec(), "ttl_seconds": -1}
        with pytest.raises(InvalidInput) as caught:
            await client.plan_features([broken])
        assert caught.value.field == "definitions[0]" and "ttl" in caught.value.message
        with pytest.raises(InvalidInput, match=r"definitions\[1\] must be a definition"):
            await client.plan_features([customer_stats, "customer_stats"])

    stack.run(cls, scenario)


@pytest.mark.parametrize("cls", CLIENTS)
def test_a_viewer_can_plan_but_not_apply(cls, stack) -> None:  # type: ignore[no-untyped-def]
    async def scenario(client: Awaiting) -> None:
        assert len((await client.plan_features(REPO))["added"]) == 6
        with pytest.raises(Forbidden):
            await client.apply_features(REPO)

    stack.run(cls, scenario, role="viewer")


# --- online features and predictions --------------------------------------------------------


@pytest.mark.parametrize("cls", CLIENTS)
def test_online_features_by_service_and_by_refs(cls, stack) -> None:  # type: ignore[no-untyped-def]
    stack.apply()
    root = stack.services.offline.tenant_root(stack.tenant)
    feature_repo.write_customer_stats(root, [(1, fresh(3), 10.0, 4), (1, fresh(1), 20.0, 5)])
    feature_repo.write_merchant_risk(root, [("m1", fresh(2), 0.3)])
    now = datetime.now(UTC)
    stack.services.materializer.materialize(stack.tenant, None, now - timedelta(days=2), now)
    entity = {"customer_id": 1, "merchant_id": "m1"}

    async def scenario(client: Awaiting) -> None:
        rows = await client.get_online_features("fraud", [entity], request_data={"amount": 60.0})
        assert rows == [
            {**entity, "avg_amount": 20.0, "txn_count": 5, "risk": 0.3, "amount_ratio": 3.0}
        ]
        [row] = await client.get_online_features(FRAUD_REFS[:1], [entity], full_names=True)
        assert row["customer_stats__avg_amount"] == 20.0
        with pytest.raises(InvalidInput) as caught:
            await client.get_online_features(FRAUD_REFS, [{**entity, "customer_id": "one"}])
        assert "entity_rows[0].customer_id" in caught.value.message
        with pytest.raises(InvalidInput, match="unknown features: customer_stats:nope"):
            await client.get_online_features(["customer_stats:nope"], [entity])

    stack.run(cls, scenario)


@pytest.mark.parametrize("cls", CLIENTS)
def test_predict_explains_the_features_it_used(cls, stack) -> None:  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression

    stack.apply()
    root = stack.services.offline.tenant_root(stack.tenant)
    feature_repo.write_customer_stats(root, [(7, fresh(1), 30.0, 3)])
    now = datetime.now(UTC)
    stack.services.materializer.materialize(
        stack.tenant, ["customer_stats"], now - timedelta(days=1), now
    )
    estimator = LogisticRegression().fit([[0.0, 0], [50.0, 9]], [0, 1])
    signature = {
        "inputs": [{"name": "avg_amount", "type": "double"}, {"name": "txn_count", "type": "long"}]
    }

    async def scenario(client: Awaiting) -> None:
        await client.register_model(
            "spend",
            sio.dumps(estimator),
            flavor="sklearn",
            signature=signature,
            feature_refs=FRAUD_REFS[:2],
            aliases=["champion"],
        )
        plain = await client.predict("spend", {"customer_id": 7})
        assert "features" not in plain["predictions"][0]
        explained = await client.predict("spend", {"customer_id": 7}, explain_features=True)
        assert explained["predictions"][0]["features"] == {"avg_amount": 30.0, "txn_count": 3}

    stack.run(cls, scenario)


# --- training sets and datasets -------------------------------------------------------------


def entity_df() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [1, 1, 2, 4],
            "merchant_id": ["m1", "m1", "m2", "m9"],
            "event_timestamp": [ts(1), ts(5), ts(20), ts(1)],
            "amount": [5.0, 40.0, 100.0, 2.0],
            "label": [0, 1, 0, 1],
        }
    )


@pytest.mark.parametrize("cls", CLIENTS)
def test_training_set_from_a_dataframe_matches_the_offline_store(cls, stack) -> None:  # type: ignore[no-untyped-def]
    stack.apply()
    feature_repo.write_data(stack.services.offline.tenant_root(stack.tenant))
    expected, _ = stack.services.offline.get_training_set(stack.tenant, entity_df(), "fraud")

    async def scenario(client: Awaiting) -> None:
        frame, dataset = await client.get_training_set("fraud", entity_df())
        assert isinstance(frame, pd.DataFrame)
        pd.testing.assert_frame_equal(frame, expected, check_dtype=False)
        assert str(frame["event_timestamp"].dt.tz) == "UTC"
        assert frame["avg_amount"].tolist() == [10.0, 20.0, 50.0, 0.0]  # 0.0: the default
        assert dataset["row_count"] == 4 and set(dataset["features"]) >= set(FRAUD_REFS)
        assert await client.get_dataset(dataset["id"]) == dataset

        naive = entity_df().assign(
            event_timestamp=lambda f: f["event_timestamp"].dt.tz_localize(None)
        )
        again, second = await client.get_training_set("fraud", naive)  # naive times are UTC
        assert again["avg_amount"].tolist() == [10.0, 20.0, 50.0, 0.0]
        assert (
            second["content_sha256"] == dataset["content_sha256"] and second["id"] != dataset["id"]
        )

    stack.run(cls, scenario)


@pytest.mark.parametrize("cls", CLIENTS)
def test_training_set_from_rows_gives_rows(cls, stack) -> None:  # type: ignore[no-untyped-def]
    stack.apply()
    feature_repo.write_data(stack.services.offline.tenant_root(stack.tenant))
    rows = [
        {"customer_id": 1, "when": ts(5), "label": 1},  # a datetime is sent as RFC 3339
        {"customer_id": 2, "when": "2025-03-01T20:00:00Z", "label": 0},
    ]

    async def scenario(client: Awaiting) -> None:
        got, dataset = await client.get_training_set(
            ["customer_stats:avg_amount"], rows, timestamp_column="when", full_names=True
        )
        assert [r["customer_stats__avg_amount"] for r in got] == [20.0, 50.0]
        assert [r["label"] for r in got] == [1, 0]
        assert dataset["row_count"] == 2

    stack.run(cls, scenario)


@pytest.mark.parametrize("cls", CLIENTS)
def test_training_set_errors(cls, stack) -> None:  # type: ignore[no-untyped-def]
    stack.apply()

    async def scenario(client: Awaiting) -> None:
        with pytest.raises(InvalidInput, match="needs a 'event_timestamp' column"):
            await client.get_training_set("fraud", entity_df().drop(columns="event_timestamp"))
        with pytest.raises(InvalidInput) as caught:
            await client.get_training_set(["customer_stats:nope"], entity_df())
        assert caught.value.field == "features"
        with pytest.raises(InvalidInput, match="needs a time zone"):
            await client.get_training_set(
                FRAUD_REFS[:1], [{"customer_id": 1, "event_timestamp": "2025-03-01T00:00:00"}]
            )
        with pytest.raises(NotFound, match="no dataset version"):
            await client.get_dataset("nope")

    stack.run(cls, scenario)
