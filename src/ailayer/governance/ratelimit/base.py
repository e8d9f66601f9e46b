"""The rate-bucket port: token buckets that a request takes one token from.

A bucket holds up to ``burst`` tokens and gains ``rate`` tokens a second. ``take`` is
all or nothing over the buckets it is given (the tenant's and the key's): when each holds
a whole token, one is taken from each and every wait is 0; otherwise nothing is taken and
each bucket's wait says how long until it holds a token again (0 for those that do).
A bucket never seen starts full. Buckets are named by the caller, tenant first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Bucket:
    key: str
    rate: float  # tokens a second, > 0
    burst: float  # most tokens held, >= 1


class Buckets(Protocol):
    async def take(self, buckets: Sequence[Bucket]) -> list[float]:
        """One token from every bucket, or none: each bucket's wait in seconds."""
        ...

    async def aclose(self) -> None: ...


def refill(tokens: float, elapsed: float, bucket: Bucket) -> float:
    """What a bucket holding ``tokens`` holds ``elapsed`` seconds later."""
    return min(bucket.burst, tokens + max(0.0, elapsed) * bucket.rate)


def wait_for(tokens: float, bucket: Bucket) -> float:
    """Seconds until a bucket holding ``tokens`` holds a whole one."""
    return 0.0 if tokens >= 1.0 else (1.0 - tokens) / bucket.rate
