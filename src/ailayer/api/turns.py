"""Fair turns between tenants on the server's one event loop.

A predict request runs on the event loop from its first step to its answer without
giving the loop up (its work is CPU, not waiting). Requests that arrive together run in
the order they arrived, so a tenant that sends a burst (a bucket's worth of admitted
requests at once) holds the loop for the whole burst while another tenant's request,
which came in with it, waits behind every one of them. The rate limit bounds how much a
tenant gets; this bounds how long the others wait for it.

``FairTurns`` counts, per tenant, the requests whose headers have arrived and whose
handling has not started (the HTTP protocol counts them: ``early.py``). When a request
starts while more of its own tenant's requests are waiting and another tenant's request
is waiting too, it yields the loop once (``asyncio.sleep(0)``): its turn goes to the back
of the loop's queue, behind the other tenant's request. A tenant alone on the server, or
a request with none of its own behind it, never waits; nothing is reordered within a
tenant beyond that one step.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send


class FairTurns:
    """Requests waiting for their first step, per tenant (one event loop's)."""

    def __init__(self) -> None:
        self.waiting: dict[str, int] = {}
        self.total = 0
        self.yielded = 0  # requests that let another tenant go first, for the metrics

    def arrived(self, tenant: str) -> None:
        self.waiting[tenant] = self.waiting.get(tenant, 0) + 1
        self.total += 1

    def start(self, tenant: str) -> bool:
        """Count the request as started; whether it should let others go first: more of
        its tenant's requests wait behind it, and another tenant's request waits too."""
        left = self.waiting.get(tenant, 0) - 1
        if left > 0:
            self.waiting[tenant] = left
        else:
            self.waiting.pop(tenant, None)
            left = 0
        self.total = max(self.total - 1, 0)
        behind = left > 0 and self.total > left
        self.yielded += behind
        return behind

    def taking_turns(self, app: ASGIApp, tenant: str) -> ASGIApp:
        """``app`` for one request of ``tenant``, counted as waiting until it starts."""
        self.arrived(tenant)

        async def in_turn(scope: Scope, receive: Receive, send: Send) -> None:
            if self.start(tenant):
                await asyncio.sleep(0)
            await app(scope, receive, send)

        return in_turn
