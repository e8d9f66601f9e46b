"""Missing inputs in the prediction log: the share of input values that were absent.

An input value is missing when it is ``null`` (or NaN) in the logged features, or when
its name, seen in other rows of the same model version and window, is absent.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime
from typing import Any

import orjson

from ailayer.monitoring.log.layout import scan
from ailayer.monitoring.log.predictions import PredictionLog, time_filter

FEATURES_SQL = """
SELECT model, version, features FROM {log}
WHERE tenant_id = ? AND error IS NULL AND features IS NOT NULL {where}
"""


class InputWatch:
    def __init__(self, log: PredictionLog) -> None:
        self.log = log

    def missing(
        self, tenant_id: str, endpoint: str, start: datetime, end: datetime
    ) -> dict[tuple[str, int], dict[str, Any]]:
        """Per (model, version) with rows in [start, end): ``rows`` and ``missing_share``."""
        files = self.log.window_files(tenant_id, endpoint, start, end)
        if not files:
            return {}
        where, params = time_filter(start, end)
        sql = FEATURES_SQL.format(log=scan(files), where=where)
        rows = self.log.fetch_all(tenant_id, sql, [tenant_id, *params])
        records: dict[tuple[str, int], list[dict]] = defaultdict(list)
        for model, version, features in rows:
            record = orjson.loads(features)
            records[(model, version)].append(record if isinstance(record, dict) else {})
        return {key: missing_share(found) for key, found in records.items()}


def missing_share(records: list[dict]) -> dict[str, Any]:
    names = set().union(*records) if records else set()
    cells = len(records) * len(names)
    missing = sum(1 for r in records for n in names if _missing(r.get(n)))
    return {"rows": len(records), "missing_share": missing / cells if cells else 0.0}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
