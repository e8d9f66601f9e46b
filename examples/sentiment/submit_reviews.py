"""Emit ``review.submitted`` events to the ``reviews`` topic through the server's API.

    python submit_reviews.py "great product, love the dashboard" "the API is broken"

Each review becomes one event (the review id is its ``subject``); prints the event ids.
"""

from __future__ import annotations

import sys
import uuid

from train import connect


def main(texts: list[str]) -> None:
    events = [
        {
            "id": uuid.uuid4().hex,
            "source": "/app/reviews",
            "type": "review.submitted",
            "specversion": "1.0",
            "subject": f"review-{i + 1}",
            "data": {"review_id": f"review-{i + 1}", "text": text},
        }
        for i, text in enumerate(texts)
    ]
    with connect() as client:
        accepted = client.emit("reviews", events)
    print(accepted)


if __name__ == "__main__":
    main(sys.argv[1:])
