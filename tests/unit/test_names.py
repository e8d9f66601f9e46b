"""A name is valid only when all of it follows its rule: a trailing newline is not part of
a name (``re.match`` with ``$`` lets one through)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ailayer.core.errors import InvalidInput
from ailayer.core.names import check_bus_name, check_name
from ailayer.features import Entity


@pytest.mark.parametrize("check", [check_name, check_bus_name])
@pytest.mark.parametrize("value", ["fraud\n", "fraud\n\n", "\nfraud", "fraud\r"])
def test_a_name_with_a_line_break_is_refused_naming_the_field(
    check: Callable[[str, object], str], value: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        check("endpoint", value)
    assert caught.value.field == "endpoint"


def test_a_definition_named_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        Entity(name="customer\n", join_keys={"customer_id": int})
    assert caught.value.field == "entity.name"


@pytest.mark.parametrize("value", ["fraud", "fraud.v2", "a" * 100])
def test_names_that_follow_the_rule_pass_unchanged(value: str) -> None:
    assert check_name("model", value) == value
