"""The request-rate check: a tenant's bucket and its key's, taken together per request.

Rates come from the ``limits`` settings (defaults, overridden per tenant). Buckets live in
Redis when ``limits.store`` names it (shared by replicas), else in this process. When
Redis fails, requests are limited by this process's buckets instead (never refused for
it, never let through unlimited) and ``status`` says so, for ``/readyz``; Redis is tried
again after ``retry_seconds``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from ailayer.core.errors import RateLimited
from ailayer.core.limits import Limits
from ailayer.governance.principal import Principal
from ailayer.governance.ratelimit.base import Bucket, Buckets
from ailayer.governance.ratelimit.local import LocalBuckets
from ailayer.governance.ratelimit.redis import RedisBuckets

logger = logging.getLogger("ailayer.ratelimit")
RETRY_SECONDS = 5.0


class RateLimiter:
    """``check(principal)``: nothing, or ``RateLimited`` with the seconds to wait."""

    def __init__(
        self,
        limits: Limits,
        shared: Buckets | None = None,
        *,
        retry_seconds: float = RETRY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits
        self.shared = shared
        self.local = LocalBuckets(clock)
        self.retry_seconds = retry_seconds
        self._clock = clock
        self._buckets: dict[tuple[str, str], list[Bucket]] = {}  # by tenant and key
        self._down_until = 0.0
        self.failure: str | None = None  # why the shared buckets are not in use now
        self.on = limits.rates_on  # off: callers skip ``check`` altogether

    async def check(self, principal: Principal) -> None:
        buckets = self.buckets_of(principal)
        if not buckets:
            return
        waits = await self.take(buckets)
        if any(waits):
            raise refusal(principal, buckets, waits)

    def buckets_of(self, principal: Principal) -> list[Bucket]:
        """The caller's buckets (the tenant's, the key's), made once per key."""
        buckets = self._buckets.get((principal.tenant_id, principal.key_id))
        return buckets if buckets is not None else self._made(principal)

    async def take(self, buckets: list[Bucket]) -> list[float]:
        """One token from each of ``buckets`` or none: the waits (all 0 when taken)."""
        if self.shared is None:  # no await: the request path stays on this turn
            return self.local.take_now(buckets)
        return await self._take(buckets)

    async def _take(self, buckets: list[Bucket]) -> list[float]:
        """From the shared buckets, or from this process's while they are down."""
        if self.shared is None or self._clock() < self._down_until:
            return self.local.take_now(buckets)
        try:
            waits = await self.shared.take(buckets)
        except Exception as exc:  # any Redis failure: limit here instead
            self._down_until = self._clock() + self.retry_seconds
            if self.failure is None:
                logger.warning("rate buckets in Redis unavailable, limiting per process: %s", exc)
            self.failure = f"{type(exc).__name__}: {exc}"
            return self.local.take_now(buckets)
        if self.failure is not None:
            logger.warning("rate buckets in Redis available again")
            self.failure = None
        return waits

    def _made(self, principal: Principal) -> list[Bucket]:
        limits = self.limits.of(principal.tenant_name, principal.tenant_id)
        tenant = f"{{{principal.tenant_id}}}"
        buckets = []
        if limits.rate_per_second is not None:
            burst = limits.burst or max(1.0, limits.rate_per_second)
            buckets.append(Bucket(f"{tenant}:tenant", limits.rate_per_second, burst))
        if limits.key_rate_per_second is not None:
            burst = limits.key_burst or max(1.0, limits.key_rate_per_second)
            key = f"{tenant}:key:{principal.key_id}"
            buckets.append(Bucket(key, limits.key_rate_per_second, burst))
        self._buckets[(principal.tenant_id, principal.key_id)] = buckets
        return buckets

    def status(self) -> dict:
        """Where buckets live now, for ``/readyz``."""
        if self.shared is None:
            return {"store": "local"}
        if self.failure is not None:
            return {"store": "local", "degraded": True, "reason": self.failure}
        return {"store": "redis"}

    async def aclose(self) -> None:
        if self.shared is not None:
            await self.shared.aclose()


def refusal(principal: Principal, buckets: list[Bucket], waits: list[float]) -> RateLimited:
    """429 naming whose rate was passed (the tenant's, the key's) and for how long."""
    over = [
        f"key {principal.key_name!r}"
        if ":key:" in bucket.key
        else f"tenant {principal.tenant_name!r}"
        for bucket, wait in zip(buckets, waits, strict=True)
        if wait > 0
    ]
    worst = max(waits)
    slowest = min(bucket.rate for bucket, wait in zip(buckets, waits, strict=True) if wait > 0)
    retry = max(1, math.ceil(worst))
    return RateLimited(
        f"request rate of {' and '.join(over)} exceeded ({slowest:g} requests/s); "
        f"retry after {retry} s",
        retry_after=retry,
    )


def open_rate_limiter(limits: Limits) -> RateLimiter:
    """The limiter the settings ask for: buckets in Redis at ``limits.store``, or here."""
    if not limits.store:
        return RateLimiter(limits)
    return RateLimiter(limits, RedisBuckets(limits.store))
