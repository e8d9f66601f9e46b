"""What a name may look like, in one place, with one way to check it.

Two rules, because names live in two kinds of place:

- a resource name (model, endpoint, alias, rule, key, tenant, feature, ...) is stored in
  the metadata database and shows in URLs: ``check_name`` and ``NAME_RULE``;
- a bus name (topic, consumer group, consumer) becomes a broker's stream, subject or
  queue name, so it is shorter and lower-case: ``check_bus_name`` and ``BUS_NAME_RULE``.

Both checks take ``(field, value)`` and return ``value``, so a check can wrap the
expression that builds a name. The API states the same rules in its OpenAPI document
(``NAME_REGEX``, ``BUS_NAME_REGEX``).
"""

from __future__ import annotations

import re

from ailayer.core.errors import InvalidInput

NAME_REGEX = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
NAME_PATTERN = re.compile(NAME_REGEX)
NAME_RULE = "1-100 characters of letters, digits, '_', '.', '-' starting with a letter or digit"

BUS_NAME_MAX = 64
BUS_NAME_REGEX = rf"^[a-z0-9][a-z0-9_-]{{0,{BUS_NAME_MAX - 1}}}$"
BUS_NAME_PATTERN = re.compile(BUS_NAME_REGEX)
BUS_NAME_RULE = f"1-{BUS_NAME_MAX} chars of a-z, 0-9, '_' or '-', starting with a letter or digit"


def check_name(field: str, value: object) -> str:
    """``value`` if it is a valid resource name, else ``InvalidInput`` naming ``field``."""
    return _check(field, value, NAME_PATTERN, NAME_RULE)


def check_bus_name(field: str, value: object) -> str:
    """``value`` if it is a valid topic, group or consumer name, else ``InvalidInput``."""
    return _check(field, value, BUS_NAME_PATTERN, BUS_NAME_RULE)


def _check(field: str, value: object, pattern: re.Pattern[str], rule: str) -> str:
    # fullmatch: with re.match, "$" would also let a name end in a newline through
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidInput(f"{field} must be {rule}; got {value!r}", field=field)
    return value
