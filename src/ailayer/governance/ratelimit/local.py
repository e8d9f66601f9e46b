"""Token buckets in this process: no I/O, a dict lookup and a little arithmetic a request.

Each server process limits on its own, so with N replicas a tenant gets up to N times its
rate; ``limits.store: redis://...`` shares the buckets instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from ailayer.governance.ratelimit.base import Bucket, refill, wait_for


class LocalBuckets:
    """Buckets as ``key -> [tokens, at]``; called from one event loop, so a take never
    interleaves with another (it does not await)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._state: dict[str, list[float]] = {}

    async def take(self, buckets: Sequence[Bucket]) -> list[float]:
        return self.take_now(buckets)

    def take_now(self, buckets: Sequence[Bucket]) -> list[float]:
        now = self._clock()
        states = [self._refilled(bucket, now) for bucket in buckets]
        waits = [wait_for(state[0], bucket) for state, bucket in zip(states, buckets, strict=True)]
        if not any(waits):
            for state in states:
                state[0] -= 1.0
        return waits

    def waits(self, buckets: Sequence[Bucket]) -> list[float]:
        """What ``take_now`` would answer, without taking: a request found over its rate
        is refused, and one that is not takes its tokens where it is admitted."""
        now = self._clock()
        return [wait_for(self._refilled(b, now)[0], b) for b in buckets]

    def _refilled(self, bucket: Bucket, now: float) -> list[float]:
        state = self._state.get(bucket.key)
        if state is None:
            state = self._state[bucket.key] = [bucket.burst, now]
        else:
            state[0], state[1] = refill(state[0], now - state[1], bucket), now
        return state

    async def aclose(self) -> None:
        """Nothing to release; the buckets stay as they are."""
