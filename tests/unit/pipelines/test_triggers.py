"""Triggers are checked when declared: each bad field is refused by name."""

from __future__ import annotations

import pytest

from ailayer.core.errors import InvalidInput
from ailayer.pipelines.triggers import Declared, NewData, OnAlert, Schedule


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Schedule("0 25 * * *"), "cron.hour"),
        (lambda: Schedule("every hour"), "cron"),
        (lambda: NewData(source=""), "source"),
        (lambda: NewData(source="payments"), "rows"),
        (lambda: NewData(source="payments", rows=0), "rows"),
        (lambda: NewData(source="payments", rows=1.5), "rows"),
        (lambda: NewData(source="payments", bytes=-1), "bytes"),
        (lambda: NewData(source="payments", rows=True), "rows"),
        (lambda: OnAlert(kind="weather"), "kind"),
        (lambda: OnAlert(kind="drift", endpoint="no spaces"), "endpoint"),
        (lambda: OnAlert(kind="drift", model=""), "model"),
        (lambda: Declared("t", "bad name!", ()), "pipeline"),
        (lambda: Declared("t", "retrain", ("0 * * * *",)), "triggers[0]"),
        (
            lambda: Declared("t", "retrain", (Schedule("0 * * * *"), Schedule("0 * * * *"))),
            "triggers[1]",
        ),
    ],
)
def test_a_bad_trigger_is_refused_naming_its_field(build, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as refused:
        build()
    assert refused.value.field == field


def test_keys_and_records_say_what_each_trigger_is() -> None:
    assert Schedule("@daily").to_dict() == {"kind": "schedule", "cron": "@daily"}
    assert NewData(source="payments", rows=10).key == "new_data:payments:rows=10:bytes=None"
    assert OnAlert(kind="drift", endpoint="fraud").key == "alert:drift:fraud:*"
    declared = Declared("t", "retrain", [Schedule("0 * * * *"), OnAlert(kind="drift")])
    assert isinstance(declared.triggers, tuple) and len(declared.triggers) == 2


@pytest.mark.parametrize(
    ("kind", "rule_kind", "wanted"),
    [
        ("drift", "drift_share", True),
        ("drift", "concept_drift", True),
        ("drift", "latency", False),
        ("performance", "metric", True),
        ("performance", "change", True),
        ("performance", "error_rate", True),
        ("performance", "missing_data", False),
        ("missing_data", "missing_data", True),
    ],
)
def test_alert_kinds_cover_their_rule_kinds(kind: str, rule_kind: str, wanted: bool) -> None:
    alert = {"status": "firing", "kind": rule_kind, "endpoint": "fraud", "model": "fraud"}
    assert OnAlert(kind=kind).matches(alert) is wanted
