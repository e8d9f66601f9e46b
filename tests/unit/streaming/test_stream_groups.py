"""A stream view's consumer group is its broker-side state: one per tenant, never shared."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from ailayer.events import check_name
from ailayer.features import Entity
from ailayer.features.streaming import Aggregation, StreamFeatureView
from ailayer.features.streaming.runner import default_group

account = Entity("account", {"account_id": int})
VIEW = StreamFeatureView(
    "payments", [account], "payments", "payment.created",
    [Aggregation("n", None, "count", timedelta(seconds=10))],
)  # fmt: skip


def test_tenants_whose_ids_end_alike_get_their_own_groups() -> None:
    """Two runners in one group would split the view's events and each ack (so lose)
    the other tenant's half."""
    first, second = "0" * 24 + "aaaaaaaa", "1" * 24 + "aaaaaaaa"
    assert default_group(first, VIEW) != default_group(second, VIEW)
    assert default_group(first, VIEW) == default_group(first, VIEW)


def test_groups_are_valid_names_per_view_version() -> None:
    long_name = replace(VIEW, name="Payments_" + "x" * 80)
    for view in (VIEW, long_name, replace(VIEW, version=12)):
        assert check_name("group", default_group("t1", view)).startswith("stream-")
    assert default_group("t1", VIEW) != default_group("t1", replace(VIEW, version=2))
    assert default_group("t1", VIEW).endswith("-payments-v1")
