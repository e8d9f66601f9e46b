"""Online retrieval: defaults, missing values by name, typed keys, request data, TTL."""

from __future__ import annotations

from pathlib import Path

import pytest

from ailayer.core.errors import InvalidInput, NotFound
from ailayer.features import FeatureRegistry, FeatureServer, OnlineRow, open_online_store
from ailayer.features.stores import entity_key
from tests.support.feature_repo import REPO, database, ts


@pytest.fixture
def served(tmp_path: Path):  # type: ignore[no-untyped-def]
    db, tenant = database(f"sqlite:///{tmp_path / 'meta.db'}")
    registry = FeatureRegistry(db)
    registry.apply(tenant, "alice", REPO)
    store = open_online_store(f"sqlite:///{tmp_path / 'online.db'}")
    store.write_batch(
        tenant,
        "customer_stats@1",
        [
            OnlineRow(entity_key([1]), ts(0), {"avg_amount": 20.0, "txn_count": 3}),
            OnlineRow(entity_key([2]), ts(0), {"avg_amount": None, "txn_count": 1}),
        ],
    )
    store.write_batch(
        tenant, "merchant_risk@1", [OnlineRow(entity_key(["m1"]), ts(0), {"risk": 0.5})]
    )
    yield FeatureServer(registry, store, REPO), tenant
    store.close()
    db.dispose()


def test_features_defaults_and_on_demand(served) -> None:  # type: ignore[no-untyped-def]
    server, tenant = served
    rows = server.get_online_features(
        tenant,
        "fraud",
        [{"customer_id": 1, "merchant_id": "m1"}, {"customer_id": 2, "merchant_id": "m1"}],
        [{"amount": 10}, {"amount": 4.0}],
        now=ts(1),
    )
    assert rows == [
        {
            "customer_id": 1,
            "merchant_id": "m1",
            "avg_amount": 20.0,
            "txn_count": 3,
            "risk": 0.5,
            "amount_ratio": 0.5,
        },
        {
            "customer_id": 2,
            "merchant_id": "m1",
            "avg_amount": 0.0,
            "txn_count": 1,
            "risk": 0.5,
            "amount_ratio": None,
        },
    ]


def test_missing_values_are_reported_by_name(served) -> None:  # type: ignore[no-untyped-def]
    server, tenant = served
    rows = [{"customer_id": 9, "merchant_id": "m1", "amount": 1.0}]
    with pytest.raises(InvalidInput) as caught:
        server.get_online_features(tenant, "fraud", rows, now=ts(1))
    assert "customer_stats:txn_count for entity_rows[0] [9]" in caught.value.message
    assert "avg_amount" not in caught.value.message  # it has a default
    relaxed = server.get_online_features(tenant, "fraud", rows, strict=False, now=ts(1))
    assert relaxed[0]["txn_count"] is None and relaxed[0]["avg_amount"] == 0.0


def test_values_past_their_ttl_read_as_missing(served) -> None:  # type: ignore[no-untyped-def]
    server, tenant = served
    refs = ["customer_stats:avg_amount"]
    assert (
        server.get_online_features(tenant, refs, [{"customer_id": 1}], now=ts(24))[0]["avg_amount"]
        == 20.0
    )
    assert (
        server.get_online_features(tenant, refs, [{"customer_id": 1}], now=ts(24.001))[0][
            "avg_amount"
        ]
        == 0.0
    )


@pytest.mark.parametrize(
    ("rows", "request_data", "field"),
    [
        (
            [{"customer_id": "1", "merchant_id": "m1"}],
            {"amount": 1.0},
            "entity_rows[0].customer_id",
        ),
        (
            [{"customer_id": True, "merchant_id": "m1"}],
            {"amount": 1.0},
            "entity_rows[0].customer_id",
        ),
        ([{"merchant_id": "m1"}], {"amount": 1.0}, "entity_rows[0].customer_id"),
        ([{"customer_id": 1, "merchant_id": "m1"}], None, "request_data[0].amount"),
        ([{"customer_id": 1, "merchant_id": "m1"}], {"amount": "ten"}, "request_data[0].amount"),
        ([], None, "entity_rows"),
    ],
)
def test_bad_requests_name_the_field(served, rows, request_data, field) -> None:  # type: ignore[no-untyped-def]
    server, tenant = served
    with pytest.raises(InvalidInput) as caught:
        server.get_online_features(tenant, "fraud", rows, request_data, now=ts(1))
    assert caught.value.field == field, caught.value.message


def test_unknown_features_and_services(served) -> None:  # type: ignore[no-untyped-def]
    server, tenant = served
    with pytest.raises(NotFound, match="unknown feature service 'nope'"):
        server.get_online_features(tenant, "nope", [{"customer_id": 1}])
    with pytest.raises(InvalidInput, match="unknown features: customer_stats:x"):
        server.get_online_features(tenant, ["customer_stats:x"], [{"customer_id": 1}])
