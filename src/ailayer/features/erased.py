"""Keeping erased data subjects out of the stores: the rows a write must skip.

Materialization and stream writes pass each batch's join-key values through
``erased_rows``; a row any of whose join-key values belongs to a subject erased by a
privacy request (``governance.privacy.Tombstones``) is not written. With no tombstones in
the tenant this is one cached set lookup per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ailayer.governance.privacy.tombstones import Tombstones


def erased_rows(
    tombstones: Tombstones | None,
    tenant_id: str,
    join_keys: Sequence[str],
    key_values: Sequence[Sequence[Any]],
) -> set[int]:
    """Positions in ``key_values`` (one tuple of join-key values per row, in the order of
    ``join_keys``) that belong to erased subjects."""
    if tombstones is None or not key_values or not tombstones.hashes(tenant_id):
        return set()
    dropped: set[int] = set()
    for index, name in enumerate(join_keys):
        column = [values[index] for values in key_values]
        erased = tombstones.erased_keys(tenant_id, name, [v for v in column if v is not None])
        if erased:
            dropped |= {i for i, v in enumerate(column) if v in erased}
    return dropped
