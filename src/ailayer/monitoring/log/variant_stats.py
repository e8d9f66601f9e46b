"""Per-variant stats of an endpoint from the prediction log: what the canary verdict reads.

The rollout router logs each request under its variant's name in the ``alias`` column
(``stable``, ``canary``) and the variant's model version in ``version``. For each
variant of a policy, over ``[start, end)``:

- ``requests`` counts *requests*, not predictions: the rows with ``request_row = 0``
  (a request of 50 records is one request; a failed request is one row, ``request_row``
  0, with ``error`` set);
- ``errors`` counts the failed requests (``error`` not null);
- ``p99_ms`` is the 99th percentile of the answered requests' latency (each request once);
- quality comes from the predictions labelled so far (the latest label per prediction id,
  as ``PerformanceMonitor`` joins them): accuracy for classification, R² for regression,
  computed by ``performance.quality_metrics``.

A window longer than the log's ``MAX_WINDOW`` is read from its last ``MAX_WINDOW`` only
(a step that old is judged on its last year). Implements ``ailayer.rollout.ports.VariantStatsSource``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from ailayer.monitoring.log.layout import scan
from ailayer.monitoring.log.performance import quality_metrics
from ailayer.monitoring.log.predictions import MAX_WINDOW, PredictionLog, as_utc
from ailayer.rollout.policy import Variant
from ailayer.rollout.verdict import VariantStats

QUALITY = {
    "binary": "accuracy",
    "multiclass": "accuracy",
    "regression": "r2",
    "ranking": "ndcg@10",  # a recommender's lists against clicks and purchases
}

OPERATIONS_SQL = """
SELECT alias, model, version,
       count(*) FILTER (WHERE request_row = 0) AS requests,
       count(*) FILTER (WHERE error IS NOT NULL) AS errors,
       quantile_cont(latency_ms, 0.99) FILTER (WHERE request_row = 0 AND error IS NULL) AS p99
FROM {log}
WHERE tenant_id = ? AND time >= ? AND time < ? AND alias IN (SELECT unnest(?))
GROUP BY ALL
"""

LABELLED_SQL = """
WITH labels AS (
    SELECT prediction_id, arg_max(label, received_at) AS label
    FROM {feedback} WHERE tenant_id = ? GROUP BY prediction_id
)
SELECT alias, model, version, prediction, score, probabilities, label
FROM {log} AS p JOIN labels USING (prediction_id)
WHERE p.tenant_id = ? AND p.error IS NULL AND time >= ? AND time < ?
  AND alias IN (SELECT unnest(?))
"""

Key = tuple[str, str, int]  # (variant name, model, version)


class LogVariantStats:
    """``VariantStatsSource`` over the prediction log (DuckDB over its Parquet files)."""

    def __init__(self, log: PredictionLog) -> None:
        self.log = log

    def variant_stats(
        self,
        tenant_id: str,
        endpoint: str,
        variants: Sequence[Variant],
        start: datetime,
        end: datetime,
    ) -> dict[str, VariantStats]:
        end = as_utc(end)
        start = max(as_utc(start), end - MAX_WINDOW)
        names = [v.name for v in variants]
        files = self.log.window_files(tenant_id, endpoint, start, end) if start < end else []
        operations: dict[Key, tuple] = {}
        labelled: dict[Key, list[tuple]] = defaultdict(list)
        if files and names:
            operations, labelled = self._read(tenant_id, files, names, start, end)
        return {
            v.name: _stats(operations.get(_key(v)), labelled.get(_key(v), [])) for v in variants
        }

    def _read(
        self, tenant_id: str, files: list[str], names: list[str], start: datetime, end: datetime
    ) -> tuple[dict[Key, tuple], dict[Key, list[tuple]]]:
        labels = self.log.label_files(tenant_id)
        con = self.log.connect(tenant_id)
        try:
            sql = OPERATIONS_SQL.format(log=scan(files))
            rows = con.execute(sql, [tenant_id, start, end, names]).fetchall()
            found: list[tuple] = []
            if labels:
                sql = LABELLED_SQL.format(feedback=scan(labels, hive=False), log=scan(files))
                found = con.execute(sql, [tenant_id, tenant_id, start, end, names]).fetchall()
        finally:
            con.close()
        labelled: dict[Key, list[tuple]] = defaultdict(list)
        for alias, model, version, *row in found:
            labelled[(alias, model, version)].append(tuple(row))
        return {tuple(row[:3]): tuple(row[3:]) for row in rows}, labelled


def _key(variant: Variant) -> Key:
    return (variant.name, variant.model, variant.version)


def _stats(operations: tuple | None, labelled: list[tuple]) -> VariantStats:
    requests, errors, p99 = operations or (0, 0, None)
    task, metrics = quality_metrics(labelled)
    name = QUALITY.get(task or "", "")
    quality = metrics.get(name) if name else None
    return VariantStats(
        requests=int(requests),
        errors=int(errors),
        p99_ms=None if p99 is None else float(p99),
        quality=None if quality is None else float(quality),
        labelled=len(labelled),
        quality_metric=name,
    )
