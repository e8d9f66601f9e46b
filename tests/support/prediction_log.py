"""Predictions written straight into the log at chosen moments, with ids of those moments."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from ailayer.monitoring.log import Entry
from tests.support.log_records import target

HOUR0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)


def id_at(moment: datetime) -> str:
    """A prediction id made at ``moment`` (ids carry their creation millisecond)."""
    millis = int(moment.timestamp() * 1000)
    return f"{millis:012x}7{os.urandom(10).hex()[:19]}"


def log_requests(services, tenant, rows, version=1) -> list[str]:  # type: ignore[no-untyped-def]
    """rows: (moment, prediction, score, latency_ms) as one-row requests."""
    ids = []
    for moment, prediction, score, latency in rows:
        item = {"prediction_id": id_at(moment), "prediction": prediction}
        if score is not None:
            item["score"] = score
        ids.append(item["prediction_id"])
        entry = Entry(
            tenant,
            target(version=version),
            int(moment.timestamp() * 1e9),
            latency,
            [{"amount": 1.0}],
            [item],
        )
        services.prediction_log.buffer.put(entry)
    return ids
