"""A delete cut short by a store that fails: the receipt says what was done and what
failed (incomplete), the other stores still erase, and running it again completes it."""

from __future__ import annotations

import pytest

from ailayer.bootstrap import Services
from ailayer.core.errors import BackendUnavailable, InvalidInput
from ailayer.governance.privacy import Erased, Found, PrivacyService, Subject
from tests.support import privacy as seeded


class Unreachable:
    """A store whose backend is down until ``back`` is set."""

    name = "flaky_store"

    def __init__(self) -> None:
        self.back = False

    def find(self, tenant_id: str, subject: Subject) -> Found:
        return Found(self.name)

    def erase(self, tenant_id: str, subject: Subject) -> Erased:
        if not self.back:
            raise BackendUnavailable("flaky_store is unavailable; retry shortly")
        return Erased(self.name)


def test_an_interrupted_delete_completes_when_run_again(services: Services) -> None:
    tenant = services.keys.create_tenant("acme")
    services.features.apply(tenant, "test", seeded.DEFINITIONS)
    seeded.write_profiles(services, tenant, [42, 7])
    seeded.materialize(services, tenant)
    flaky = Unreachable()
    privacy = PrivacyService(
        services.db, [*services.privacy.stores, flaky], services.privacy.tombstones
    )
    subject = Subject.parse("customer_id=42")
    first = privacy.delete(tenant, "admin", subject)
    assert not first["complete"] and "unavailable" in first["failed"]["flaky_store"]
    assert first["removed"] == 1  # the online value went; the other stores ran
    assert services.tombstones.is_erased(tenant, subject)
    flaky.back = True
    second = privacy.delete(tenant, "admin", subject)
    assert second["complete"] and second["removed"] == 0 and not second["failed"]


@pytest.mark.parametrize("text", ["customer_id", "=1", "bad key=1", "k=", "k=" + "x" * 501])
def test_a_subject_must_be_key_equals_value(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Subject.parse(text)
    assert caught.value.field == "subject"


def test_an_integer_key_needs_an_integer_value() -> None:
    assert Subject.parse(" customer_id = 42 ").typed("int64") == 42
    with pytest.raises(InvalidInput):
        Subject.parse("customer_id=abc").typed("int64")
