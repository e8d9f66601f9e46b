"""An endpoint's A/B experiment, read from its prediction log and the labels posted since.

Each logged prediction carries the variant that answered it in ``alias`` (the router
writes the policy's variant name there) and the model version in ``version``. The
outcome of a prediction is derived from the latest label posted for its id
(``POST /v1/feedback``), by the metric asked for:

- ``conversion``: 1 when the label is true or a non-zero number, 0 when false or 0
  (a string label is no conversion outcome and is not counted);
- ``accuracy``: 1 when the label equals the prediction, else 0;
- ``mean``: the label as a number (true/false as 1/0);
- ``ndcg@K``, ``precision@K``, ``recall@K`` (K from 1 to 1000), for a recommender: the
  metric of each recommendation against its clicks and purchases
  (``monitoring.ranking``), compared as means (recall counts only the predictions with
  something clicked or bought).

Only predictions with an outcome count; unlabelled ones are reported per variant
(``predictions`` against ``outcomes``), so post an outcome for every prediction (0 and
false included) once it is known. DuckDB derives the outcomes and orders them by
prediction time; ``ailayer.monitoring.experiment`` judges them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import orjson

from ailayer.core.errors import InvalidInput
from ailayer.monitoring import ranking
from ailayer.monitoring.experiment import ExperimentResult, analyse, check_design
from ailayer.monitoring.log.layout import scan
from ailayer.monitoring.log.predictions import PredictionLog, time_filter, window_bounds

DEFAULT_SPAN = timedelta(days=30)
METRICS = {"conversion": "proportion", "accuracy": "proportion", "mean": "mean"}
CONTROL_NAMES = ("control", "stable")  # taken as the control when none is named
MAX_VARIANTS = 20

NUMBER = "try_cast(label AS DOUBLE)"
OUTCOMES = {
    "conversion": (
        f"CASE WHEN label = 'true' THEN 1.0 WHEN label = 'false' THEN 0.0 "
        f"WHEN {NUMBER} IS NOT NULL THEN ({NUMBER} <> 0)::DOUBLE END"
    ),
    "accuracy": "CASE WHEN label IS NOT NULL THEN (label = prediction)::DOUBLE END",
    "mean": f"CASE WHEN label = 'true' THEN 1.0 WHEN label = 'false' THEN 0.0 ELSE {NUMBER} END",
}
NO_LABELS = "SELECT NULL::VARCHAR AS prediction_id, NULL::VARCHAR AS label WHERE false"
LATEST_LABELS = """
SELECT prediction_id, arg_max(label, received_at) AS label
FROM {feedback} WHERE tenant_id = ? GROUP BY prediction_id
"""
ROWS_SQL = """
CREATE TEMP TABLE outcomes AS
WITH labels AS ({labels})
SELECT alias, version, time, request_row, prediction_id, label IS NOT NULL AS labelled,
       {outcome} AS outcome, prediction, label
FROM {log} AS p LEFT JOIN labels USING (prediction_id)
WHERE p.tenant_id = ? AND p.error IS NULL AND p.alias IS NOT NULL {where}
"""
TRAFFIC_SQL = """
SELECT alias, version, count(*), count(*) FILTER (WHERE labelled),
       count(*) FILTER (WHERE isfinite(outcome))
FROM outcomes GROUP BY ALL ORDER BY alias, version
"""
RANKED_SQL = """
SELECT prediction, label FROM outcomes WHERE alias = ? AND labelled
ORDER BY time, request_row, prediction_id
"""
VARIANT_SQL = """
SELECT outcome FROM outcomes WHERE alias = ? AND isfinite(outcome)
ORDER BY time, request_row, prediction_id
"""


@dataclass(frozen=True, slots=True)
class VariantTraffic:
    """What one variant answered in the window: predictions per model version, how many
    were labelled, and how many of those have an outcome for the metric."""

    name: str
    versions: dict[int, int]
    predictions: int
    labelled: int
    outcomes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "versions": [{"version": v, "predictions": n} for v, n in self.versions.items()],
            "predictions": self.predictions,
            "labelled": self.labelled,
            "outcomes": self.outcomes,
        }


@dataclass(frozen=True, slots=True)
class EndpointExperiment:
    """The experiment on one endpoint's window: traffic per variant and the statistics
    (None with a ``reason`` when there is nothing to compare)."""

    endpoint: str
    metric: str
    start: datetime
    end: datetime
    traffic: tuple[VariantTraffic, ...]
    result: ExperimentResult | None
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        stats = {v.name: v.to_dict() for v in self.result.variants} if self.result else {}
        variants = [
            {**t.to_dict(), **{k: v for k, v in stats.get(t.name, {}).items() if k != "name"}}
            for t in self.traffic
        ]
        design = self.result.to_dict() if self.result else {}
        return {
            "endpoint": self.endpoint,
            "metric": self.metric,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            **{k: v for k, v in design.items() if k not in ("variants", "comparisons")},
            "variants": variants,
            "comparisons": design.get("comparisons", []),
            "reason": self.reason,
        }


class EndpointExperiments:
    """A/B results of an endpoint's variants over a window of its log."""

    def __init__(self, log: PredictionLog) -> None:
        self.log = log

    def result(
        self,
        tenant_id: str,
        endpoint: str,
        metric: str,
        effect: float,
        *,
        alpha: float = 0.05,
        power: float = 0.8,
        control: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> EndpointExperiment:
        """The experiment over ``[start, end)`` (default: the 30 days before now).

        Bad declarations raise ``InvalidInput`` naming ``metric``, ``effect``, ``alpha``,
        ``power``, ``control`` (a name no variant in the window has) or ``start``.
        """
        kind = metric_kind(metric)
        check_design(kind, effect, alpha, power)
        start, end = window_bounds(start, end, DEFAULT_SPAN)
        traffic, outcomes = self._read(tenant_id, endpoint, metric, start, end)
        found = EndpointExperiment(endpoint, metric, start, end, traffic, None, None)
        if not traffic:
            reason = f"no predictions of {endpoint!r} in the window"
            return replace(found, reason=reason)
        names = [t.name for t in traffic]
        if control is not None and control not in names:
            raise InvalidInput(
                f"control {control!r} is not a variant of {endpoint!r} in the window; "
                f"variants: {names}",
                field="control",
            )
        chosen = control or next((n for n in CONTROL_NAMES if n in names), names[0])
        ordered = {chosen: outcomes[chosen], **{n: outcomes[n] for n in names if n != chosen}}
        result = analyse(ordered, kind, effect, alpha, power, chosen)
        reason = None
        if len(names) == 1:
            reason = f"only one variant ({chosen}) in the window: an experiment compares two"
        return replace(found, result=result, reason=reason)

    def _read(
        self, tenant_id: str, endpoint: str, metric: str, start: datetime, end: datetime
    ) -> tuple[tuple[VariantTraffic, ...], dict[str, np.ndarray]]:
        files = self.log.window_files(tenant_id, endpoint, start, end)
        if not files:
            return (), {}
        labels = self.log.label_files(tenant_id)
        latest = LATEST_LABELS.format(feedback=scan(labels, hive=False)) if labels else NO_LABELS
        where, params = time_filter(start, end)
        ranked = ranking.parse_metric(metric)
        outcome = "NULL::DOUBLE" if ranked else OUTCOMES[metric]
        sql = ROWS_SQL.format(labels=latest, outcome=outcome, log=scan(files), where=where)
        con = self.log.connect(tenant_id)
        try:
            con.execute(sql, [*([tenant_id] if labels else []), tenant_id, *params])
            rows = con.execute(TRAFFIC_SQL).fetchall()
            traffic = _traffic(rows)
            if ranked:
                outcomes = {
                    t.name: ranking_outcomes(con.execute(RANKED_SQL, [t.name]).fetchall(), *ranked)
                    for t in traffic
                }
                traffic = tuple(replace(t, outcomes=len(outcomes[t.name])) for t in traffic)
            else:
                outcomes = {
                    t.name: con.execute(VARIANT_SQL, [t.name]).fetchnumpy()["outcome"]
                    for t in traffic
                }
        finally:
            con.close()
        return traffic, {name: np.asarray(v, dtype=float) for name, v in outcomes.items()}


def metric_kind(metric: str) -> str:
    """``proportion`` or ``mean`` for a metric name; 422 naming ``metric`` otherwise."""
    if metric in METRICS:
        return METRICS[metric]
    if ranking.parse_metric(metric) is not None:
        return "mean"
    raise InvalidInput(
        f"metric must be one of {list(METRICS)} or a ranking metric such as ndcg@10, "
        f"precision@10, recall@10; got {metric!r}",
        field="metric",
    )


def ranking_outcomes(rows: list[tuple], metric: str, k: int) -> list[float]:
    """Per labelled recommendation (prediction and label JSON, in time order) its metric
    at ``k``; rows that are no recommendation with clicks/purchases, or whose metric is
    undefined (recall with nothing relevant), have no outcome."""
    found = []
    for prediction, label in rows:
        shown, feedback = orjson.loads(prediction), orjson.loads(label)
        if not ranking.is_ranking(shown) or not isinstance(feedback, dict):
            continue
        scores = ranking.score(ranking.ranked_items(shown), ranking.grades(feedback), k)
        value = ranking.metric_of(scores, metric)
        if value is not None:
            found.append(value)
    return found


def _traffic(rows: list[tuple]) -> tuple[VariantTraffic, ...]:
    by_name: dict[str, list[tuple]] = {}
    for alias, *rest in rows:
        by_name.setdefault(alias, []).append(tuple(rest))
    if len(by_name) > MAX_VARIANTS:
        raise InvalidInput(
            f"the window holds {len(by_name)} variants (aliases); an experiment compares at "
            f"most {MAX_VARIANTS}: narrow the window to the experiment's",
            field="start",
        )
    return tuple(
        VariantTraffic(
            name,
            {version: n for version, n, _, _ in parts},
            sum(p[1] for p in parts),
            sum(p[2] for p in parts),
            sum(p[3] for p in parts),
        )
        for name, parts in sorted(by_name.items())
    )
