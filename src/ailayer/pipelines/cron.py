"""Cron expressions (five fields, UTC): parsed once, checked field by field.

    minute  hour  day-of-month  month  day-of-week
    0-59    0-23  1-31          1-12   0-7 (0 and 7 are Sunday)

Each field is ``*``, a value, a range ``a-b``, a step ``*/n``, ``a-b/n`` or ``a/n``
(from ``a`` to the field's end), or a comma-separated list of those; months and days
may be named (``jan``, ``mon-fri``). ``@hourly``, ``@daily`` (``@midnight``),
``@weekly``, ``@monthly`` and ``@yearly`` (``@annually``) stand for their usual
expressions. As in Vixie cron, when both day fields are restricted a day matches if
either does.

A bad expression is an ``InvalidInput`` whose field names the cron field
(``cron.hour``), as is one that can never match (``0 0 30 2 *``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from ailayer.core.errors import InvalidInput

FIELDS = ("minute", "hour", "day_of_month", "month", "day_of_week")
BOUNDS = {
    "minute": (0, 59),
    "hour": (0, 23),
    "day_of_month": (1, 31),
    "month": (1, 12),
    "day_of_week": (0, 7),
}
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
NAMES = {
    "month": {name: i + 1 for i, name in enumerate(MONTHS)},
    "day_of_week": {name: i for i, name in enumerate(DAYS)},
}
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
LONGEST_MONTH = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30}
SEARCH_YEARS = 8  # a satisfiable expression matches within this (29 February included)


@dataclass(frozen=True)
class Cron:
    """A parsed expression: the set of values each field allows."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day-of-month is *
    any_weekday: bool  # day-of-week is *

    @classmethod
    def parse(cls, text: str) -> Cron:
        """The expression ``text``, or ``InvalidInput`` naming the faulty field."""
        if not isinstance(text, str):
            raise InvalidInput(f"a cron expression must be a string; got {text!r}", field="cron")
        expanded = MACROS.get(text.strip().lower(), text)
        parts = expanded.split()
        if len(parts) != len(FIELDS):
            raise InvalidInput(
                f"a cron expression has 5 fields ({' '.join(FIELDS)}); got {len(parts)} in "
                f"{text!r}",
                field="cron",
            )
        values = {name: _field(name, part) for name, part in zip(FIELDS, parts, strict=True)}
        weekdays = frozenset(d % 7 for d in values["day_of_week"])
        cron = cls(
            text,
            values["minute"],
            values["hour"],
            values["day_of_month"],
            values["month"],
            weekdays,
            any_day=parts[2] == "*",
            any_weekday=parts[4] == "*",
        )
        cron._check_satisfiable()
        return cron

    def matches(self, moment: datetime) -> bool:
        """Whether the minute of ``moment`` is one this expression fires on."""
        return (
            moment.minute in self.minutes
            and moment.hour in self.hours
            and moment.month in self.months
            and self._day_matches(moment)
        )

    def previous(self, moment: datetime) -> datetime:
        """The latest minute at or before ``moment`` that the expression fires on."""
        at = moment.replace(second=0, microsecond=0)
        floor = at - timedelta(days=366 * SEARCH_YEARS)
        while at > floor:
            if at.month not in self.months:
                at = at.replace(day=1, hour=0, minute=0) - timedelta(minutes=1)
            elif not self._day_matches(at):
                at = at.replace(hour=0, minute=0) - timedelta(minutes=1)
            elif at.hour not in self.hours:
                at = at.replace(minute=0) - timedelta(minutes=1)
            elif at.minute not in self.minutes:
                at -= timedelta(minutes=1)
            else:
                return at
        raise InvalidInput(f"cron {self.text!r} never fires", field="cron")  # pragma: no cover

    def next(self, moment: datetime) -> datetime:
        """The earliest minute after ``moment`` that the expression fires on."""
        at = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        ceiling = at + timedelta(days=366 * SEARCH_YEARS)
        while at < ceiling:
            if at.month not in self.months:
                at = _first_of_next_month(at)
            elif not self._day_matches(at):
                at = at.replace(hour=0, minute=0) + timedelta(days=1)
            elif at.hour not in self.hours:
                at = at.replace(minute=0) + timedelta(hours=1)
            elif at.minute not in self.minutes:
                at += timedelta(minutes=1)
            else:
                return at
        raise InvalidInput(f"cron {self.text!r} never fires", field="cron")  # pragma: no cover

    def _day_matches(self, moment: datetime) -> bool:
        by_day = moment.day in self.days
        by_weekday = (moment.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return by_day and by_weekday
        return by_day or by_weekday

    def _check_satisfiable(self) -> None:
        """Refuse a day of month that none of the chosen months has (``30 2``)."""
        if self.any_day or not self.any_weekday:
            return  # every day, or any day of the week may match
        if not any(day <= LONGEST_MONTH.get(m, 31) for m in self.months for day in self.days):
            raise InvalidInput(
                f"cron {self.text!r} never fires: no chosen month has day {min(self.days)}",
                field="cron.day_of_month",
            )


def _first_of_next_month(moment: datetime) -> datetime:
    start = moment.replace(day=1, hour=0, minute=0)
    return (start + timedelta(days=32)).replace(day=1)


def _field(name: str, text: str) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        values |= _item(name, item, text)
    return frozenset(values)


def _item(name: str, item: str, text: str) -> set[int]:
    low, high = BOUNDS[name]
    span, _, step_text = item.partition("/")
    step = _number(name, step_text, text, "step") if step_text else 1
    if step_text and step < 1:
        _refuse(name, text, f"step {step_text!r} must be 1 or more")
    if span == "*":
        first, last = low, high
    elif "-" in span:
        start, _, end = span.partition("-")
        first, last = _value(name, start, text), _value(name, end, text)
        if first > last:
            _refuse(name, text, f"range {span!r} runs backwards")
    else:
        first = _value(name, span, text)
        last = high if step_text else first
    return set(range(first, last + 1, step))


def _value(name: str, token: str, text: str) -> int:
    named = NAMES.get(name, {}).get(token.lower())
    value = named if named is not None else _number(name, token, text, "value")
    low, high = BOUNDS[name]
    if not low <= value <= high:
        _refuse(name, text, f"{token!r} is outside {low}-{high}")
    return value


def _number(name: str, token: str, text: str, what: str) -> int:
    if not token.isdigit():
        _refuse(name, text, f"{what} {token!r} is not a number")
    return int(token)


def _refuse(name: str, text: str, why: str) -> NoReturn:
    raise InvalidInput(f"cron field {name} {text!r}: {why}", field=f"cron.{name}")
