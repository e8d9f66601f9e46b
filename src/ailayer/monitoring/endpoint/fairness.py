"""Fairness of an endpoint's logged decisions, per model version, over a window of the log.

The sensitive attribute is one of the logged inputs (``features->attribute``); the
decision is the logged prediction (selected = the class high scores predict, as in
performance); the truth is the latest label per prediction id. DuckDB counts rows per
(version, group, prediction, label), so only those counts leave the database; they are
expanded into arrays for ``fairness_report``, the single implementation of the
definitions.

Every prediction counts for the selection rates (and so demographic parity and the
four-fifths rule); TPR, FPR, precision and equalized odds come from the labelled ones.
A PII-hashed attribute (tag ``pii=``) is logged as a salted hash that is equal for equal
values, so its groups are right and named by their hash; a redacted one (``pii_redact=``)
has one value and cannot be used.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import orjson

from ailayer.core.errors import InvalidInput, NotFound
from ailayer.models.service import ModelRegistry
from ailayer.monitoring.fairness import FairnessReport, fairness_report
from ailayer.monitoring.log.layout import json_pointer, scan
from ailayer.monitoring.log.performance import positive_class
from ailayer.monitoring.log.pii import PiiPolicy
from ailayer.monitoring.log.predictions import PredictionLog, time_filter, window_bounds

DEFAULT_SPAN = timedelta(days=7)
MAX_GROUPS = 100  # a fairness report compares groups; more distinct values is not one
MAX_ATTRIBUTE_CHARS = 200

NO_LABELS = "SELECT NULL::VARCHAR AS prediction_id, NULL::VARCHAR AS label WHERE false"
LATEST_LABELS = """
SELECT prediction_id, arg_max(label, received_at) AS label
FROM {feedback} WHERE tenant_id = ? GROUP BY prediction_id
"""
COUNTS_SQL = """
CREATE TEMP TABLE counts AS
WITH labels AS ({labels})
SELECT model, version, json_extract_string(features, ?) AS grp, prediction, label,
       count(*) AS n, count(score) AS scored, count(probabilities) AS probabilities,
       max(score) AS top_score
FROM {log} AS p LEFT JOIN labels USING (prediction_id)
WHERE p.tenant_id = ? AND p.error IS NULL {where}
GROUP BY ALL
"""
TOO_MANY_SQL = """
SELECT model, version, count(DISTINCT grp) FROM counts
GROUP BY ALL HAVING count(DISTINCT grp) > ? ORDER BY ALL
"""


class LogFairness:
    """Fairness reports of an endpoint's logged decisions, by a logged input."""

    def __init__(self, log: PredictionLog, registry: ModelRegistry) -> None:
        self.log = log
        self.registry = registry

    def report(
        self,
        tenant_id: str,
        endpoint: str,
        attribute: str,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> dict[str, Any]:
        """``{endpoint, attribute, start, end, versions, reason}``, one entry per model
        version with predictions in ``[start, end)`` (default: the 7 days before now).

        An empty window gives ``versions: []`` and a ``reason``; an attribute that no
        version in the window logs (or only redacted) raises ``InvalidInput`` on
        ``attribute``.
        """
        _check_attribute(attribute)
        start, end = window_bounds(start, end, DEFAULT_SPAN)
        counts = self._counts(tenant_id, endpoint, attribute, start, end)
        body = {"endpoint": endpoint, "attribute": attribute, "start": start, "end": end}
        if not counts:
            reason = f"no predictions of {endpoint!r} in the window"
            return {**body, "versions": [], "reason": reason}
        judged = [
            self._version(tenant_id, model, version, attribute, rows)
            for (model, version), rows in sorted(counts.items())
        ]
        if all(unusable for _, unusable in judged):
            reasons = "; ".join(entry["reason"] for entry, _ in judged)
            raise InvalidInput(f"cannot group by {attribute!r}: {reasons}", field="attribute")
        return {**body, "versions": [entry for entry, _ in judged], "reason": None}

    def _counts(
        self, tenant_id: str, endpoint: str, attribute: str, start: datetime, end: datetime
    ) -> dict[tuple[str, int], list[tuple]]:
        """Rows per (model, version): (group, prediction, label, n, scored, probabilities,
        top score), JSON text as logged."""
        files = self.log.window_files(tenant_id, endpoint, start, end)
        if not files:
            return {}
        labels = self.log.label_files(tenant_id)
        where, params = time_filter(start, end)
        latest = LATEST_LABELS.format(feedback=scan(labels, hive=False)) if labels else NO_LABELS
        sql = COUNTS_SQL.format(labels=latest, log=scan(files), where=where)
        label_params = [tenant_id] if labels else []
        con = self.log.connect(tenant_id)
        try:
            con.execute(sql, [*label_params, json_pointer(attribute), tenant_id, *params])
            too_many = con.execute(TOO_MANY_SQL, [MAX_GROUPS]).fetchall()
            found = con.execute("SELECT * FROM counts").fetchall()
        finally:
            con.close()
        if too_many:
            model, version, groups = too_many[0]
            raise InvalidInput(
                f"{attribute!r} has {groups:,} distinct values in {model} v{version}; a "
                f"fairness report compares at most {MAX_GROUPS} groups",
                field="attribute",
            )
        counts: dict[tuple[str, int], list[tuple]] = defaultdict(list)
        for model, version, *rest in found:
            counts[(model, version)].append(tuple(rest))
        return counts

    def _version(
        self, tenant_id: str, model: str, version: int, attribute: str, rows: list[tuple]
    ) -> tuple[dict[str, Any], bool]:
        """The version's entry, and whether the attribute is unusable in it."""
        policy = self._policy(tenant_id, model, version)
        present = sum(r[3] for r in rows if r[0] is not None)
        entry: dict[str, Any] = {
            "model": model,
            "version": version,
            "rows": sum(r[3] for r in rows),
            "labelled": sum(r[3] for r in rows if r[0] is not None and r[2] is not None),
            "missing": sum(r[3] for r in rows if r[0] is None),
            "hashed": attribute in policy.hashed,
            "positive": None,
        }
        if not present or attribute in policy.redacted:
            why = "is redacted in the log (pii_redact)" if present else "is not logged"
            reason = f"{model} v{version}: input {attribute!r} {why}"
            return {**entry, **_nothing(), "reason": reason}, True
        positive = _positive(rows)
        if positive is None:
            reason = f"{model} v{version} is not a binary classifier (no score, or classes)"
            return {**entry, **_nothing(), "reason": reason}, False
        judged = _judge(rows, positive, attribute)
        return {**entry, "positive": positive, **judged, "reason": None}, False

    def _policy(self, tenant_id: str, model: str, version: int) -> PiiPolicy:
        try:
            tags = self.registry.get_version(tenant_id, model, version).tags
        except NotFound:
            return PiiPolicy()
        return PiiPolicy.from_tags(tags or {})


def _positive(rows: list[tuple]) -> Any:
    """The selected class of a binary classifier (as performance finds it), else None."""
    if any(r[5] for r in rows):  # class probabilities: a multiclass model
        return None
    predictions = [orjson.loads(r[1]) for r in rows]
    if all(r[4] == r[3] for r in rows):  # every row scored
        labels = [orjson.loads(r[2]) for r in rows if r[2] is not None]
        return positive_class(predictions, np.array([r[6] for r in rows]), labels)
    return True if all(type(p) is bool for p in predictions) else None


def _judge(rows: list[tuple], positive: Any, attribute: str) -> dict[str, Any]:
    """Per-group rates (selection from every row, the rest from the labelled ones)."""
    grouped = [r for r in rows if r[0] is not None]
    groups = np.array([r[0] for r in grouped], dtype=object)
    n = np.array([r[3] for r in grouped])
    decisions = np.array([orjson.loads(r[1]) == positive for r in grouped], dtype=int)
    every = fairness_report(np.repeat(decisions, n), np.repeat(groups, n), name=attribute)
    labelled = np.array([r[2] is not None for r in grouped])
    truth = np.array([r[2] is not None and orjson.loads(r[2]) == positive for r in grouped])
    known: FairnessReport | None = None
    if labelled.any():
        repeat = n[labelled]
        known = fairness_report(
            np.repeat(decisions[labelled], repeat),
            np.repeat(groups[labelled], repeat),
            y_true=np.repeat(truth[labelled].astype(int), repeat),
            name=attribute,
        )
    return {
        "groups": {g.group: _group(g.group, every, known) for g in every.groups},
        "demographic_parity_difference": every.demographic_parity_difference,
        "demographic_parity_ratio": every.demographic_parity_ratio,
        "equalized_odds_difference": None if known is None else known.equalized_odds_difference,
        "four_fifths_rule": every.four_fifths_rule,
    }


def _group(name: str, every: FairnessReport, known: FairnessReport | None) -> dict[str, Any]:
    selection = every[name]
    body: dict[str, Any] = {
        "count": selection.count,
        "selected": selection.selected,
        "selection_rate": selection.selection_rate,
        "labelled": 0,
        "positives": None,
        "true_positive_rate": None,
        "false_positive_rate": None,
        "precision": None,
    }
    try:
        rates = known[name] if known is not None else None
    except KeyError:  # no labels in this group yet
        rates = None
    if rates is None:
        return body
    return {
        **body,
        "labelled": rates.count,
        "positives": rates.positives,
        "true_positive_rate": rates.true_positive_rate,
        "false_positive_rate": rates.false_positive_rate,
        "precision": rates.precision,
    }


def _nothing() -> dict[str, Any]:
    return {
        "groups": None,
        "demographic_parity_difference": None,
        "demographic_parity_ratio": None,
        "equalized_odds_difference": None,
        "four_fifths_rule": None,
    }


def _check_attribute(attribute: str) -> None:
    if not attribute or len(attribute) > MAX_ATTRIBUTE_CHARS:
        raise InvalidInput(
            f"attribute must name a logged input (1 to {MAX_ATTRIBUTE_CHARS} characters)",
            field="attribute",
        )
