"""A consumer process for the crash test.

Run as ``python -m tests.integration.events.crash_worker URL TOPIC MODE``:

- ``hang``: fetch one batch of 10, ack the first 3, print ``HANG`` and wait forever, holding
  the other 7 unacked (the test then kills it with SIGKILL);
- ``drain``: fetch and ack until the group's lag is 0 (or 20 s pass), then exit.

Every acked event is printed as ``ACK <n>`` after its ack returned.
"""

from __future__ import annotations

import asyncio
import sys
import time

from ailayer.events import Delivery, open_bus

GROUP = "workers"
ACK_WAIT = 1.0


async def _ack(delivery: Delivery) -> None:
    await delivery.ack()
    print(f"ACK {delivery.event.data['n']}", flush=True)


async def hang(url: str, topic: str) -> None:
    bus = open_bus(url)
    sub = await bus.subscribe(topic, GROUP, "doomed", ack_wait=ACK_WAIT)
    batch = await sub.fetch(10, timeout=5)
    for delivery in batch[:3]:
        await _ack(delivery)
    print("HANG", flush=True)
    await asyncio.sleep(3600)


async def drain(url: str, topic: str) -> None:
    bus = open_bus(url)
    sub = await bus.subscribe(topic, GROUP, "survivor", ack_wait=ACK_WAIT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        batch = await sub.fetch(10, timeout=0.5)
        for delivery in batch:
            await _ack(delivery)
        if not batch and await bus.lag(topic, GROUP) == 0:
            break
    await sub.close()
    await bus.close()


if __name__ == "__main__":
    url, topic, mode = sys.argv[1:4]
    asyncio.run({"hang": hang, "drain": drain}[mode](url, topic))
