"""Cron expressions: what each field accepts, which minutes match, the previous and next
firing, and a bad expression refused naming its field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ailayer.core.errors import InvalidInput
from ailayer.pipelines.cron import Cron


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def brute_previous(cron: Cron, moment: datetime) -> datetime:
    """The reference: walk back one minute at a time."""
    probe = moment.replace(second=0, microsecond=0)
    while not cron.matches(probe):
        probe -= timedelta(minutes=1)
    return probe


@pytest.mark.parametrize(
    ("text", "field", "values"),
    [
        ("*/15 * * * *", "minutes", {0, 15, 30, 45}),
        ("5,10-12 * * * *", "minutes", {5, 10, 11, 12}),
        ("0 9-17/4 * * *", "hours", {9, 13, 17}),
        ("0 22/1 * * *", "hours", {22, 23}),
        ("0 0 * jan,Mar-apr *", "months", {1, 3, 4}),
        ("0 0 * * mon-fri", "weekdays", {1, 2, 3, 4, 5}),
        ("0 0 * * 7", "weekdays", {0}),
        ("@hourly", "minutes", {0}),
        ("@weekly", "weekdays", {0}),
    ],
)
def test_fields_parse_to_their_values(text: str, field: str, values: set[int]) -> None:
    assert getattr(Cron.parse(text), field) == values


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("60 * * * *", "cron.minute", "outside 0-59"),
        ("* 24 * * *", "cron.hour", "outside 0-23"),
        ("* * 0 * *", "cron.day_of_month", "outside 1-31"),
        ("* * * 13 *", "cron.month", "outside 1-12"),
        ("* * * * 8", "cron.day_of_week", "outside 0-7"),
        ("*/0 * * * *", "cron.minute", "step '0'"),
        ("5-1 * * * *", "cron.minute", "runs backwards"),
        ("x * * * *", "cron.minute", "not a number"),
        ("* * * foo *", "cron.month", "not a number"),
        ("* * *", "cron", "5 fields"),
        ("* * * * * *", "cron", "5 fields"),
        ("0 0 30 2 *", "cron.day_of_month", "never fires"),
        ("0 0 31 4,6 *", "cron.day_of_month", "never fires"),
        (None, "cron", "must be a string"),
    ],
)
def test_a_bad_expression_names_its_field(text: str, field: str, words: str) -> None:
    with pytest.raises(InvalidInput, match=words) as refused:
        Cron.parse(text)  # type: ignore[arg-type]
    assert refused.value.field == field


def test_both_day_fields_restricted_match_either() -> None:
    cron = Cron.parse("0 0 13 * fri")
    assert cron.matches(at("2026-11-13 00:00"))  # a Friday the 13th
    assert cron.matches(at("2026-12-04 00:00"))  # a Friday
    assert cron.matches(at("2026-12-13 00:00"))  # a Sunday the 13th
    assert not cron.matches(at("2026-12-05 00:00"))
    assert Cron.parse("0 0 30 2 mon").matches(at("2026-02-02 00:00"))  # weekday still fires


@pytest.mark.parametrize(
    "text",
    ["0 * * * *", "*/7 3-5 * * *", "30 2 29 2 *", "0 0 1 * *", "15 10 * * sat", "0 0 13 * fri"],
)
def test_previous_agrees_with_a_minute_by_minute_walk(text: str) -> None:
    cron = Cron.parse(text)
    moments = [at("2026-12-06 04:21:37"), at("2026-03-01 00:00"), at("2028-02-29 02:30")]
    for moment in moments:
        if text.startswith("30 2 29 2"):  # years apart: check the answer, not the walk
            found = cron.previous(moment)
            assert (found.month, found.day, found.hour, found.minute) == (2, 29, 2, 30)
            assert found <= moment
            continue
        assert cron.previous(moment) == brute_previous(cron, moment)


def test_previous_includes_the_minute_itself_and_next_excludes_it() -> None:
    cron = Cron.parse("0 * * * *")
    noon = at("2026-12-06 12:00:45")
    assert cron.previous(noon) == at("2026-12-06 12:00")
    assert cron.next(noon) == at("2026-12-06 13:00")
    assert Cron.parse("0 0 29 2 *").next(noon) == at("2028-02-29 00:00")
    assert Cron.parse("0 0 * * mon").next(noon) == at("2026-12-07 00:00")
    assert Cron.parse("0 0 1 jan *").next(noon) == at("2027-01-01 00:00")
