"""A data subject seeded in every store ailayer writes, for the privacy request tests.

Customers 42 (the subject) and 7 (a bystander) each get: a row in the customer-owned
Parquet source of ``profile``, materialized online; payments through the ``payments``
stream view (its online values, value log and event log); a row of a saved training set;
a logged prediction (their email hashed as PII) and its feedback.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa

from ailayer.bootstrap import Services
from ailayer.events.envelope import new_event
from ailayer.features import (
    Aggregation,
    Entity,
    Feature,
    FeatureView,
    ParquetSource,
    StreamFeatureView,
)
from ailayer.features.catalog import storage_name
from ailayer.features.stores.online import entity_key
from ailayer.features.streaming import StreamRunner
from ailayer.monitoring.log import Entry, Feedback
from tests.support.log_records import target
from tests.support.prediction_log import id_at

SUBJECT, BYSTANDER = 42, 7
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
customer = Entity("customer", {"customer_id": int})
profile = FeatureView(
    "profile",
    entities=[customer],
    features=[
        Feature("email", str, tags={"pii": "true"}),
        Feature("plan_value", float),
    ],
    source=ParquetSource("profiles.parquet", timestamp_field="ts"),
)
payments = StreamFeatureView(
    "payments",
    [customer],
    "payments",
    "payment.created",
    [Aggregation("payments_1d", None, "count", timedelta(days=1))],
    timestamp_field="at",
)
DEFINITIONS = [customer, profile, payments]
VIEWS = {"profile": ["email", "plan_value"], "payments": ["payments_1d"]}


def write_profiles(services: Services, tenant: str, ids: list[int]) -> None:
    table = pa.table(
        {
            "customer_id": pa.array(ids, pa.int64()),
            "ts": pa.array([T0] * len(ids), pa.timestamp("us", tz="UTC")),
            "email": [f"c{i}@example.com" for i in ids],
            "plan_value": [float(i) for i in ids],
        }
    )
    services.offline.tenant_root(tenant).write_parquet("profiles.parquet", table)


def payment(tenant: str, customer_id: int, at: datetime) -> Any:
    data = {"customer_id": customer_id, "at": at.isoformat()}
    return new_event("payment.created", "/billing", data, tenant=tenant)


def stream(services: Services, tenant: str, ids: list[int], at: datetime) -> None:
    """Payments of ``ids`` at ``at`` through the stream view, until the topic is idle."""

    async def main() -> None:
        await services.bus.publish("payments", [payment(tenant, i, at) for i in ids])
        runner = StreamRunner(
            services.bus,
            payments,
            tenant,
            services.offline.tenant_root(tenant),
            services.online,
            clock="event",
            stop_when_idle=True,
            fetch_timeout=0.05,
            tombstones=services.tombstones,
        )
        await runner.run()

    asyncio.run(main())


def materialize(services: Services, tenant: str) -> None:
    services.materializer.materialize(
        tenant, ["profile"], T0 - timedelta(days=1), datetime.now(UTC)
    )


def log_prediction(services: Services, tenant: str, customer_id: int) -> str:
    pid = id_at(datetime.now(UTC))
    row = {"customer_id": customer_id, "email": f"c{customer_id}@example.com", "amount": 1.0}
    entry = Entry(
        tenant,
        target(tags={"pii": "email"}),
        int(datetime.now(UTC).timestamp() * 1e9),
        1.0,
        [row],
        [{"prediction_id": pid, "prediction": True, "score": 0.9}],
    )
    services.prediction_log.buffer.put(entry)
    services.prediction_log.flush()
    return pid


def seed(services: Services, tenant: str) -> str:
    """Everything above for both customers; the saved training set's dataset id."""
    services.features.apply(tenant, "test", DEFINITIONS)
    write_profiles(services, tenant, [SUBJECT, BYSTANDER])
    materialize(services, tenant)
    stream(services, tenant, [SUBJECT, BYSTANDER, SUBJECT], T0 + timedelta(minutes=5))
    entities = pd.DataFrame(
        {"customer_id": [SUBJECT, BYSTANDER], "event_timestamp": [datetime.now(UTC)] * 2}
    )
    _, dataset = services.offline.get_training_set(
        tenant, entities, ["profile:plan_value", "payments:payments_1d"]
    )
    ids = [log_prediction(services, tenant, c) for c in (SUBJECT, BYSTANDER)]
    services.feedback.submit(tenant, [Feedback(pid, True) for pid in ids])
    return dataset.id


def online_values(services: Services, tenant: str, customer_id: int) -> dict[str, Any]:
    """What the online store answers for a customer, per view (None: nothing)."""
    answers = {}
    for name, features in VIEWS.items():
        view = services.features.catalog(tenant).views[name]
        key = entity_key([customer_id])
        found = services.online.read_batch(tenant, storage_name(view), [key], features)[0]
        answers[name] = None if found is None else found.values
    return answers
