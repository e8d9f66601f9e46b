"""Print the ``review.scored`` events on ``reviews-scored`` (reads the bus directly).

Reads with its own consumer group and leaves the events acked for that group only, so it
can be run again for new results (``--all`` replays every result from the start).
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid

from ailayer.core.settings import load_settings
from ailayer.events import open_bus


async def read(group: str) -> list[dict]:
    bus = open_bus(load_settings().event_bus)
    try:
        sub = await bus.subscribe("reviews-scored", group, "reader", ack_wait=5)
        found = []
        while batch := await sub.fetch(100, timeout=0.5):
            for delivery in batch:
                event = delivery.event
                prediction = event.data["predictions"][0]
                found.append({
                    "review": event.data["source"]["subject"],
                    "source_event": event.subject,
                    "positive": prediction["prediction"],
                    "score": round(prediction.get("score", 0.0), 3),
                    "model": f"{event.data['model']} v{event.data['version']}",
                    "prediction_id": prediction["prediction_id"],
                })  # fmt: skip
                await delivery.ack()
        await sub.close()
        return found
    finally:
        await bus.close()


if __name__ == "__main__":
    group = f"show-{uuid.uuid4().hex[:8]}" if "--all" in sys.argv else "show-scores"
    for row in asyncio.run(read(group)):
        print(json.dumps(row))
