"""Refusing a limited caller's predict request for next to nothing.

A tenant sending ten times its rate makes the server refuse nine requests in ten; what a
refusal costs is taken from everyone else on the same cores. So the predict fast path
refuses over-limit requests before anything else: before the key is looked up, before
the body is read (it never is), before a ``Request`` or an exception is made. It keeps,
per credential seen recently (by a hash of the header value, never the value), the
caller's rate buckets and the 429 answers already rendered for it. A request whose
credential is known takes its tokens first; refused, it gets the prebuilt answer — status,
``Retry-After`` and body as the routes' own ``RateLimited`` answer — sent as two ASGI
messages. Admitted, it goes on to authentication (which then does not take again). A
credential not known yet is authenticated first, remembered, and then limited the same
way, so even its first refusal is the prebuilt answer.

A credential is remembered only after it authenticated, for ``ttl`` seconds (the key
cache's own ``cache_seconds``, so a revoked or expired key is refused 429 instead of 401
for no longer than the key cache would let it through), and at most ``MAX_KNOWN`` of them.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.types import Scope, Send

from ailayer.api.errors import error_response
from ailayer.governance.principal import Principal
from ailayer.governance.ratelimit.base import Bucket
from ailayer.governance.ratelimit.limiter import RateLimiter, refusal

MAX_KNOWN = 10_000


@dataclass(slots=True)
class Known:
    """A credential that authenticated: whose it is, its buckets, its answers so far."""

    principal: Principal
    buckets: list[Bucket]
    until: float
    answers: dict[tuple, tuple[list, bytes]] = field(default_factory=dict)


def credential(scope: Scope) -> bytes | None:
    """A hash of the request's credential, as ``presented_key`` reads it: a bearer
    ``Authorization`` first, else ``X-API-Key`` (the same key either way)."""
    found, authorization = None, False
    for name, value in scope["headers"]:
        if name == b"authorization" and not authorization:  # the first one, as Starlette
            authorization = True
            if value[:7].lower() == b"bearer ":
                found = value[7:].strip()
                break
        elif name == b"x-api-key" and found is None:
            found = value
    return None if not found else hashlib.blake2b(found, digest_size=16).digest()


class Refusals:
    def __init__(
        self,
        limiter: RateLimiter,
        ttl: float,
        scrub: Callable[[str], str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limiter = limiter
        self.ttl = ttl
        self.scrub = scrub
        self.clock = clock
        self._known: dict[bytes, Known] = {}

    def known(self, key: bytes | None) -> Known | None:
        if key is None:
            return None
        entry = self._known.get(key)
        if entry is None:
            return None
        if self.clock() >= entry.until:
            del self._known[key]
            return None
        return entry

    def remember(self, key: bytes | None, principal: Principal) -> Known | None:
        """Keep an authenticated credential's buckets; its entry (None: no buckets, so
        nothing to limit)."""
        buckets = self.limiter.buckets_of(principal)
        if not buckets:
            return None
        entry = Known(principal, buckets, self.clock() + self.ttl)
        if key is not None:
            if len(self._known) >= MAX_KNOWN:
                self._known.clear()
            self._known[key] = entry
        return entry

    async def refused(self, entry: Known, scope: Scope, send: Send) -> bool:
        """Take the request's tokens; when over the rate, send the 429 and say so."""
        limiter = self.limiter
        if limiter.shared is None:  # no await, no coroutine: this process's buckets
            waits = limiter.local.take_now(entry.buckets)
        else:
            waits = await limiter.take(entry.buckets)
        if not any(waits):
            return False
        headers, body = self.answer(entry, waits, scope["path"])
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return True

    def answer(self, entry: Known, waits: list[float], path: str) -> tuple[list, bytes]:
        """The 429's headers and body for ``waits`` (the buckets' waits, some over),
        rendered once per shape: which buckets are over, the whole seconds to wait, and
        the path's protocol (v1 or the Open Inference Protocol's error shape)."""
        retry = max(1, math.ceil(max(waits)))
        over = tuple(wait > 0 for wait in waits)
        shape = (over, retry, path.startswith("/v2/"))
        answer = entry.answers.get(shape)
        if answer is None:
            exc = refusal(entry.principal, entry.buckets, waits)
            response = error_response(exc, self.scrub, path)
            answer = entry.answers[shape] = (response.raw_headers, bytes(response.body))
        return answer
