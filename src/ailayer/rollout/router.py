"""Which live variant answers each record of a request.

The live variants split 10,000 buckets by their shares, in the policy's variant order
(variant i owns buckets ``[sum(shares[:i]) * 100, sum(shares[:i + 1]) * 100)``).

- With the policy's ``sticky_key`` present in a record, the bucket is a hash of
  (tenant, endpoint, key value): the same key gets the same variant for as long as the
  shares stay, in every process. When a canary grows (stable then canary, 95/5 → 75/25)
  the boundary moves down, so keys only move from stable *into* the canary, never out;
  a rollback (canary → 0) sends every key back to stable.
- Without it (no ``sticky_key``, or a record without the field), the bucket is random.

Hashing is BLAKE2b (8 bytes, keyed by tenant and endpoint), so keys spread evenly and
one endpoint's split says nothing about another's.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Sequence
from hashlib import blake2b
from itertools import accumulate
from typing import Any

from ailayer.rollout.policy import Policy

BUCKETS = 10_000
_random = random.Random()


class Router:
    """Picks a live variant (by index into ``policy.live``) for each record."""

    def __init__(self, tenant_id: str, policy: Policy) -> None:
        self.policy = policy
        self.sticky_key = policy.sticky_key
        live = policy.live
        self._bounds = list(accumulate(v.share * (BUCKETS // 100) for v in live))
        self._salt = f"{tenant_id}\x00{policy.endpoint}\x00".encode()
        self.single = len(live) == 1

    def bucket(self, value: Any) -> int:
        """The sticky bucket of a key value in ``[0, BUCKETS)``; 42 and "42" are one key."""
        text = value if isinstance(value, str) else _key_text(value)
        digest = blake2b(self._salt + text.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") % BUCKETS

    def variant_of_bucket(self, bucket: int) -> int:
        return bisect_right(self._bounds, bucket)

    def pick(self, record: Any) -> int:
        """The live variant of one record."""
        if self.single:
            return 0
        key = self.sticky_key
        if key is not None and isinstance(record, dict) and key in record:
            return self.variant_of_bucket(self.bucket(record[key]))
        return self.variant_of_bucket(int(_random.random() * BUCKETS))

    def assign(self, records: Sequence[Any]) -> list[int]:
        """The live variant of each record, in order."""
        if self.single:
            return [0] * len(records)
        return [self.pick(record) for record in records]


def _key_text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return f"\x01{value}"  # never equal to the string "True" or "None"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"\x01{value!r}"
