"""A data subject (``customer_id=42``) and the port every store that may hold one implements.

Contract of ``SubjectStore`` (``tests/integration/test_privacy_subjects.py`` runs it on
every backend):

- ``find`` returns every record the store holds about the subject in the tenant, as
  JSON-ready dicts, and never changes anything;
- ``erase`` removes exactly those records and says how many went from where; it is
  idempotent, so an interrupted delete completes when run again (a second run removes 0);
- a store that holds the subject only in data the customer owns (their Parquet files,
  their warehouse) reports it in ``find`` and leaves it alone in ``erase``
  (``Erased.untouched``);
- one tenant's request never reads or changes another tenant's data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ailayer.core.errors import InvalidInput
from ailayer.core.names import check_name

MAX_VALUE = 500


@dataclass(frozen=True)
class Subject:
    """A join key and its value, the value kept as text (``42``, ``acme-7``): stores
    compare it with their values' text, and convert it where their type is known."""

    key: str
    value: str

    @classmethod
    def parse(cls, text: str) -> Subject:
        """``"customer_id=42"`` → ``Subject("customer_id", "42")``."""
        if not isinstance(text, str) or "=" not in text:
            raise InvalidInput(
                f"subject must look like 'key=value' (e.g. customer_id=42); got {text!r}",
                field="subject",
            )
        key, value = (part.strip() for part in text.split("=", 1))
        check_name("subject", key)
        if not value or len(value) > MAX_VALUE:
            raise InvalidInput(
                f"subject value must be 1 to {MAX_VALUE} characters; got {value!r}",
                field="subject",
            )
        return cls(key, value)

    def __str__(self) -> str:
        return f"{self.key}={self.value}"

    def typed(self, dtype: str) -> Any:
        """The value as a join key of ``dtype`` holds it (int keys as ints)."""
        if dtype.startswith("int"):
            try:
                return int(self.value)
            except ValueError:
                raise InvalidInput(
                    f"subject {self}: {self.key} is an integer key; got {self.value!r}",
                    field="subject",
                ) from None
        return self.value


@dataclass
class Found:
    """What one store holds about a subject: records, and where they are."""

    store: str
    records: list[dict[str, Any]] = field(default_factory=list)
    where: dict[str, int] = field(default_factory=dict)
    untouched: bool = False  # customer-owned: reported, never erased
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "count": len(self.records),
            "where": self.where,
            "customer_owned": self.untouched,
            "note": self.note,
            "records": self.records,
        }


@dataclass
class Erased:
    """What one store removed: a count per place (a view, a file, a table)."""

    store: str
    where: dict[str, int] = field(default_factory=dict)
    untouched: bool = False
    note: str = ""

    @property
    def removed(self) -> int:
        return 0 if self.untouched else sum(self.where.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "removed": self.removed,
            "where": self.where,
            "customer_owned": self.untouched,
            "note": self.note,
        }


class SubjectStore(Protocol):
    """One store's finder and eraser of a subject's records (contract: module docstring)."""

    name: str

    def find(self, tenant_id: str, subject: Subject) -> Found: ...

    def erase(self, tenant_id: str, subject: Subject) -> Erased: ...
