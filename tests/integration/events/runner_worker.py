"""A consumer-runner process for the kill -9 test.

``python -m tests.integration.events.runner_worker BUS_URL STORE_URL TOPIC``: runs a
``ConsumerRunner`` (concurrency 4, batches of 10, ack_wait 1 s) whose handler adds each
payment to the totals through the idempotency store (``aggregates.py``), printing
``APPLIED <n>``. From its 5th apply on, the handler prints ``HOLD`` and never returns, so
those events are applied but not acked (handlers in flight hold too once they apply,
rather than ack behind the test's back): then the test kills it.
"""

from __future__ import annotations

import asyncio
import sys

from ailayer.events import ConsumerRunner, Event, open_bus, open_idempotency_store
from tests.support.payment_totals import GROUP, applier


async def main(bus_url: str, store_url: str, topic: str) -> None:
    bus, store = open_bus(bus_url), open_idempotency_store(store_url)
    apply = applier(store, topic)
    applied = 0

    async def handle(event: Event) -> None:
        nonlocal applied
        await asyncio.sleep(0.02)
        if await apply(event):
            applied += 1
            print(f"APPLIED {event.data['n']}", flush=True)
        if applied >= 5:  # from the 5th on, every handler holds: applied, never acked
            print("HOLD", flush=True)
            await asyncio.sleep(3600)

    runner = ConsumerRunner(
        bus, topic, GROUP, handle, concurrency=4, batch_size=10, ack_wait=1.0, idempotency=store
    )
    await runner.run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
