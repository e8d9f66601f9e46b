"""The stream processor against a brute-force aggregation of the same events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ailayer.core.errors import InvalidInput
from ailayer.events import Event, new_event
from ailayer.features import Entity
from ailayer.features.definitions import from_spec
from ailayer.features.streaming import Aggregation, StreamFeatureView, StreamProcessor
from ailayer.features.streaming.window import WindowMath

SECOND = 1_000_000
BASE = 1_740_000_000 * SECOND  # a round number of seconds since the epoch
LATENESS = 3 * SECOND
account = Entity("account", {"account_id": int})
AGGREGATIONS = [
    Aggregation("n", None, "count", timedelta(seconds=10), step=timedelta(seconds=1)),
    Aggregation("amount_sum", "amount", "sum", timedelta(seconds=10), step=timedelta(seconds=2)),
    Aggregation("amount_mean", "amount", "mean", timedelta(seconds=6), step=timedelta(seconds=1)),
    Aggregation("amount_min", "amount", "min", timedelta(seconds=4), step=timedelta(seconds=1)),
    Aggregation("amount_max", "amount", "max", timedelta(seconds=5), kind="tumbling"),
    Aggregation(
        "merchants", "merchant", "distinct_count", timedelta(seconds=8), step=timedelta(seconds=4)
    ),
]
VIEW = StreamFeatureView(
    "payments", [account], "payments", "payment.created", AGGREGATIONS,
    timestamp_field="at", allowed_lateness=timedelta(microseconds=LATENESS),
)  # fmt: skip


def brute(events: list[dict[str, Any]], at_us: int) -> dict[int, dict[str, Any]]:
    """Each account's values at ``at_us`` from the definition, by a plain loop."""
    answers: dict[int, dict[str, Any]] = {}
    for account_id in {e["account_id"] for e in events}:
        values = {}
        for agg in AGGREGATIONS:
            math = WindowMath.of(agg)
            live = [
                e for e in events
                if e["account_id"] == account_id and e["at_us"] <= at_us
                and math.bucket(e["at_us"]) >= math.first_live(at_us)
            ]  # fmt: skip
            column = [e[agg.column] for e in live] if agg.column else [1 for _ in live]
            values[agg.name] = reduce(agg.function, column)
        answers[account_id] = values
    return answers


def reduce(function: str, column: list[Any]) -> Any:
    if function == "count":
        return len(column)
    if function == "distinct_count":
        return len(set(column))
    if function == "sum":
        return float(sum(column))
    if not column:
        return None
    if function == "mean":
        return sum(column) / len(column)
    return min(column) if function == "min" else max(column)


def same(expected: dict[str, Any], got: dict[str, Any]) -> bool:
    for name, value in expected.items():
        other = got[name]
        if value is None or other is None:
            if value != other:
                return False
        elif abs(value - other) > 1e-9 * max(1.0, abs(value)):
            return False
    return True


event_strategy = st.fixed_dictionaries(
    {
        "account_id": st.integers(1, 3),
        "at_ms": st.integers(0, 30_000),
        "delay_ms": st.integers(0, 4_500),  # some beyond the 3 s of allowed lateness
        "amount": st.integers(0, 1000),
        "merchant": st.sampled_from("abcde"),
    }
)


@settings(max_examples=120, deadline=None)
@given(st.lists(event_strategy, min_size=1, max_size=40))
def test_online_values_match_a_brute_force_aggregation(raw: list[dict[str, Any]]) -> None:
    processor = StreamProcessor(VIEW, "t1")
    latest: dict[int, dict[str, Any]] = {}
    accepted: list[dict[str, Any]] = []
    max_seen = None
    arrivals = sorted(raw, key=lambda e: e["at_ms"] + e["delay_ms"])
    for i, item in enumerate(arrivals):
        at_us = BASE + item["at_ms"] * 1000
        wall = BASE + (item["at_ms"] + item["delay_ms"]) * 1000
        data = {"account_id": item["account_id"], "amount": item["amount"],
                "merchant": item["merchant"], "at": at_us / SECOND}  # fmt: skip
        rows: list = []
        parsed = processor.parse_data(f"e{i}", data, at_us)
        processor.apply(parsed, rows)
        processor.advance(wall, rows)
        for row in rows:
            assert row.at_us <= wall
            latest[row.keys[0]] = row.values
        if max_seen is None or at_us >= max_seen - LATENESS:
            max_seen = at_us if max_seen is None else max(max_seen, at_us)
            accepted.append({**data, "at_us": at_us})
        expected = brute(accepted, wall)
        for account_id, values in expected.items():
            assert same(values, latest.get(account_id, brute([], wall).get(account_id, values)))
    late = len(arrivals) - len(accepted)
    assert processor.stats.late_dropped >= late


def test_a_sliding_window_decays_without_new_events() -> None:
    view = StreamFeatureView(
        "p10m", [account], "payments", "payment.created",
        [Aggregation("payments_10m", None, "count", timedelta(minutes=10))],
    )  # fmt: skip
    processor = StreamProcessor(view, "t1")
    rows: list = []
    for minute in range(5):
        data = {"account_id": 7}
        processor.apply(processor.parse_data(f"e{minute}", data, BASE + minute * 60 * SECOND), rows)
    assert rows[-1].values == {"payments_10m": 5}
    rows.clear()
    processor.advance(BASE + 12 * 60 * SECOND, rows)  # minutes 0-2 have left the window
    assert [r.values["payments_10m"] for r in rows] == [4, 3, 2]
    processor.advance(BASE + 20 * 60 * SECOND, rows)
    assert rows[-1].values == {"payments_10m": 0} and not processor.entities


def test_forgetting_an_entity_drops_its_windows_and_timers() -> None:
    """An erased subject's entity leaves memory whole: no window, no timer naming it."""
    processor = StreamProcessor(VIEW, "t1")
    rows: list = []
    for i, account_id in enumerate([1, 2, 1]):
        data = {"account_id": account_id, "amount": 5, "merchant": "a"}
        processor.apply(processor.parse_data(f"e{i}", data, BASE + i * SECOND), rows)
    assert processor.forget([(1,), (9,)]) == ["[1]"]
    assert set(processor.entities) == {(2,)}
    assert {key for _, key in processor.timers} == {(2,)}
    rows.clear()
    processor.advance(BASE + 60 * SECOND, rows)
    assert {row.keys for row in rows} == {(2,)} and not processor.entities
    assert processor.forget([(1,)]) == []


def test_duplicates_late_events_and_bad_data() -> None:
    processor = StreamProcessor(VIEW, "t1")
    rows: list = []
    data = {"account_id": 1, "amount": 5, "merchant": "a"}
    assert processor.apply(processor.parse_data("x", data, BASE + 10 * SECOND), rows)
    assert not processor.apply(processor.parse_data("x", data, BASE + 10 * SECOND), rows)
    assert not processor.apply(processor.parse_data("y", data, BASE + 6 * SECOND), rows)
    assert processor.apply(processor.parse_data("z", data, BASE + 8 * SECOND), rows)
    assert rows[-1].at_us == BASE + 10 * SECOND  # late: applied at the clock
    assert (processor.stats.duplicates, processor.stats.late_dropped) == (1, 1)
    with pytest.raises(InvalidInput) as caught:
        processor.parse_data("w", {"amount": 5}, BASE)
    assert caught.value.field == "data.account_id"
    event = new_event("payment.created", "/b", {"account_id": 1, "amount": "x"}, tenant="t1")
    with pytest.raises(InvalidInput):
        processor.parse(event)


def test_the_view_round_trips_through_its_spec() -> None:
    spec = VIEW.to_spec()
    assert spec["kind"] == "feature_view" and spec["source"]["type"] == "stream"
    assert from_spec(spec) == VIEW and from_spec(spec).to_spec() == spec
    assert [f.name for f in VIEW.features] == [a.name for a in AGGREGATIONS]
    with pytest.raises(InvalidInput):
        Aggregation("bad", None, "sum", timedelta(seconds=1))
    with pytest.raises(InvalidInput):
        Aggregation("bad", None, "count", timedelta(seconds=10), step=timedelta(seconds=3))


# a view timed by the CloudEvents ``time`` rather than a data field
BY_EVENT_TIME = StreamFeatureView(
    "payments_t", [account], "payments", "payment.created", AGGREGATIONS,
    allowed_lateness=timedelta(microseconds=LATENESS),
)  # fmt: skip

body_strategy = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8"]),  # repeats
        "type": st.sampled_from(["payment.created", "payment.created", "refund.created"]),
        "tenant": st.sampled_from(["t1", "t1", "t1", "t2"]),
        "at_ms": st.integers(0, 20_000),
        "zone": st.sampled_from(["Z", "+02:00"]),
        "bad_at": st.sampled_from([False, False, False, True]),  # data.at not a time
        "data": st.one_of(
            st.fixed_dictionaries(
                {
                    "account_id": st.one_of(st.integers(1, 3), st.just("2"), st.none()),
                    "amount": st.one_of(
                        st.integers(0, 100), st.floats(0, 100), st.none(), st.just("x")
                    ),
                    "merchant": st.sampled_from(["a", "b", "c", None]),
                }
            ),
            st.just([1, 2]),  # not an object: bad data
        ),
    }
)


def _event(item: dict[str, Any], by_data: bool) -> Event:
    at_us = BASE + item["at_ms"] * 1000
    hours = 2 if item["zone"] == "+02:00" else 0
    local = datetime.fromtimestamp(at_us / SECOND, UTC) + timedelta(hours=hours)
    stamp = local.replace(tzinfo=None).isoformat() + item["zone"]
    data = item["data"]
    if by_data and isinstance(data, dict):
        data = {**data, "at": "soon" if item["bad_at"] else at_us / SECOND}
    return Event(
        id=item["id"], source="/b", type=item["type"], time=stamp, data=data,
        tenant=item["tenant"],
    )  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.lists(body_strategy, max_size=40), st.booleans())
def test_apply_bodies_matches_the_per_event_path(
    items: list[dict[str, Any]], by_data: bool
) -> None:
    """The batch path (``Batch.bodies``, no ``Event`` per event) gives the same rows, log
    entries, errors and counters as ``wants`` + ``parse`` + ``apply`` on each ``Event``:
    duplicates, other types and tenants, late events and bad data included."""
    view = VIEW if by_data else BY_EVENT_TIME
    sent = [_event(item, by_data) for item in items]
    one, batch = StreamProcessor(view, "t1"), StreamProcessor(view, "t1")
    rows_one: list = []
    logged_one: list = []
    bad_one: list = []
    for i, event in enumerate(sent):
        if not one.wants(event):
            one.stats.skipped += 1
            continue
        try:
            parsed = one.parse(event)
        except InvalidInput as exc:
            bad_one.append((i, str(exc), exc.field))
            continue
        if one.apply(parsed, rows_one):
            logged_one.append((parsed.id, parsed.at_us, event.data))
    rows: list = []
    logged: list = []
    bad = batch.apply_bodies(
        [e.to_dict() for e in sent], rows, lambda p, data: logged.append((p.id, p.at_us, data))
    )
    assert [(i, str(exc), exc.field) for i, exc in bad] == bad_one
    assert (rows, logged, batch.stats) == (rows_one, logged_one, one.stats)
    assert (batch.clock_us, batch.max_seen_us, batch.timers) == (
        one.clock_us, one.max_seen_us, one.timers,
    )  # fmt: skip
