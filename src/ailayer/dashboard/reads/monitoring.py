"""The monitoring page's data: performance over windows against training, drift per
feature over time with both distributions, concept-drift alarms, explanations and
fairness per group. Each comes from the service the API's route calls, cached by
``Recent`` (per tenant and arguments), so a page view does not recompute it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import numpy as np
import orjson
from anyio import to_thread

from ailayer.dashboard.reads.recent import Pending, Recent
from ailayer.monitoring.drift.summary import CategoricalSummary, NumericSummary
from ailayer.monitoring.endpoint.concept import ConceptWatch
from ailayer.monitoring.endpoint.drift import EndpointDrift, VersionDrift
from ailayer.monitoring.endpoint.fairness import LogFairness
from ailayer.monitoring.log.performance import PerformanceMonitor
from ailayer.monitoring.log.predictions import PredictionLog
from ailayer.serving.predict import Predictor

TOP_CATEGORIES = 12


# -- performance ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricSeries:
    """One quality metric of one version per window, and its value at training time."""

    name: str
    points: list[tuple[datetime, float | None]]
    training: float | None


@dataclass(frozen=True)
class VersionPerformance:
    model: str
    version: int
    windows: list[dict[str, Any]]  # the API's windows of this version, oldest first
    metrics: list[MetricSeries]


def performance(
    monitor: PerformanceMonitor,
    recent: Recent,
    tenant_id: str,
    endpoint: str,
    window: str = "hour",
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[VersionPerformance] | Pending:
    """``GET /v1/monitoring/{endpoint}/performance`` regrouped per version and metric
    (``Pending`` while it is first computed in the background)."""
    report = recent.soon(
        (tenant_id, "performance", endpoint, window, start, end),
        lambda: monitor.report(tenant_id, endpoint, window, start, end),
    )
    if isinstance(report, Pending):
        return report
    by_version: dict[tuple[str, int], list[dict]] = {}
    for item in report["windows"]:
        by_version.setdefault((item["model"], item["version"]), []).append(item)
    found = []
    for (model, version), windows in sorted(by_version.items()):
        windows.sort(key=lambda w: w["window_start"])
        names = sorted({n for w in windows for n, v in w["metrics"].items() if _scalar(v)})
        training = windows[0]["training_metrics"] if windows else {}
        metrics = [
            MetricSeries(
                name,
                [(w["window_start"], _value(w["metrics"].get(name))) for w in windows],
                _value(training.get(name)),
            )
            for name in names
        ]
        found.append(VersionPerformance(model, version, windows, metrics))
    return found


# -- drift ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Distribution:
    """Reference and current counts on the same bins (numeric: ``edges``; categorical:
    ``labels``, the largest categories and the rest as one)."""

    labels: list[str]
    edges: list[float] | None
    reference: list[float]
    current: list[float]


@dataclass(frozen=True)
class FeatureDriftView:
    name: str
    kind: str
    method: str | None
    statistic: float | None
    drifted: bool | None
    reason: str | None
    over_time: list[tuple[datetime, float | None]]  # the statistic per step
    distribution: Distribution | None


@dataclass(frozen=True)
class VersionDriftView:
    model: str
    version: int
    rows: int
    drift_share: float | None
    reason: str | None
    features: list[FeatureDriftView] = field(default_factory=list)


def drift(
    service: EndpointDrift,
    recent: Recent,
    tenant_id: str,
    endpoint: str,
    start: datetime | None = None,
    end: datetime | None = None,
    steps: int = 6,
) -> list[VersionDriftView] | Pending:
    """The drift report of ``[start, end)`` (default: the day before the computation)
    per version and feature, with the statistic in each of ``steps`` equal parts of the
    window (``Pending`` while it is first computed in the background)."""

    def compute() -> tuple[list[VersionDrift], list[tuple[datetime, list[VersionDrift]]]]:
        last = end or _minute(datetime.now(UTC))
        first = start or last - timedelta(days=1)
        width = (last - first) / steps
        whole = service.report(tenant_id, endpoint, first, last)
        parts = [
            (
                first + i * width,
                service.report(tenant_id, endpoint, first + i * width, first + (i + 1) * width),
            )
            for i in range(steps)
        ]
        return whole, parts

    found = recent.soon((tenant_id, "drift", endpoint, start, end, steps), compute)
    if isinstance(found, Pending):
        return found
    whole, parts = found
    views = []
    for item in whole:
        over: dict[str, list[tuple[datetime, float | None]]] = {}
        for at, reports in parts:
            mine = [r for r in reports if (r.model, r.version) == (item.model, item.version)]
            stats = {f.name: f.statistic for r in mine for f in r.report.features}
            for f in item.report.features:
                over.setdefault(f.name, []).append((at, stats.get(f.name)))
        features = [
            FeatureDriftView(
                f.name,
                f.kind,
                f.method,
                f.statistic,
                f.drifted,
                f.reason,
                over.get(f.name, []),
                _distribution(item, f.name),
            )
            for f in item.report.features
        ]
        views.append(
            VersionDriftView(
                item.model,
                item.version,
                item.rows,
                item.report.drift_share,
                item.reason or item.report.reason,
                features,
            )
        )
    return views


def _distribution(item: VersionDrift, name: str) -> Distribution | None:
    if item.reference is None or item.current is None:
        return None
    reference = item.reference.profile.features.get(name)
    current = item.current.features.get(name)
    if isinstance(reference, NumericSummary) and isinstance(current, NumericSummary):
        edges = [float(e) for e in reference.edges]
        if len(current.hist) != len(reference.hist):
            return None
        labels = [f"{a:.4g} to {b:.4g}" for a, b in pairwise(edges)]
        return Distribution(labels, edges, _floats(reference.hist), _floats(current.hist))
    if isinstance(reference, CategoricalSummary) and isinstance(current, CategoricalSummary):
        keys = sorted(set(reference.counts) | set(current.counts))
        ref = np.array([reference.counts.get(k, 0) for k in keys], dtype=float)
        cur = np.array([current.counts.get(k, 0) for k in keys], dtype=float)
        order = np.argsort(-(ref + cur), kind="stable")
        shown, rest = order[:TOP_CATEGORIES], order[TOP_CATEGORIES:]
        labels = [keys[i] for i in shown]
        a, b = ref[shown].tolist(), cur[shown].tolist()
        if len(rest):
            labels.append(f"{len(rest)} others")
            a.append(float(ref[rest].sum()))
            b.append(float(cur[rest].sum()))
        return Distribution(labels, None, a, b)
    return None


# -- concept drift, fairness ---------------------------------------------------------------


def concept(
    watch: ConceptWatch,
    recent: Recent,
    tenant_id: str,
    endpoint: str,
    detector: str = "adwin",
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[dict[str, Any]] | Pending:
    """``GET /v1/monitoring/{endpoint}/concept``'s entries: alarms per version
    (``Pending`` while first computed)."""
    return recent.soon(
        (tenant_id, "concept", endpoint, detector, start, end),
        lambda: watch.status(tenant_id, endpoint, detector, start, end),
    )


@dataclass(frozen=True)
class FairnessView:
    model: str
    version: int
    groups: list[str]
    rates: dict[str, list[float | None]]  # rate name → one value per group
    summary: dict[str, Any]  # parity difference and ratio, equalized odds, four-fifths


RATES = ("selection_rate", "true_positive_rate", "false_positive_rate", "precision")


def fairness(
    service: LogFairness,
    recent: Recent,
    tenant_id: str,
    endpoint: str,
    attribute: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> tuple[list[FairnessView], str | None] | Pending:
    """``GET /v1/monitoring/{endpoint}/fairness`` per version as bars; the report's
    ``reason`` when nothing was judged."""
    report = recent.soon(
        (tenant_id, "fairness", endpoint, attribute, start, end),
        lambda: service.report(tenant_id, endpoint, attribute, start, end),
    )
    if isinstance(report, Pending):
        return report
    views = []
    for item in report.get("versions", []):
        groups = item.get("groups") or {}
        names = sorted(groups)
        summary = {k: v for k, v in item.items() if k not in ("groups", "model", "version")}
        views.append(
            FairnessView(
                item["model"],
                item["version"],
                names,
                {rate: [groups[g].get(rate) for g in names] for rate in RATES},
                summary,
            )
        )
    return views, report.get("reason")


# -- explanations --------------------------------------------------------------------------


@dataclass(frozen=True)
class Explanations:
    """The served version's global importance over its latest logged inputs, and one of
    those predictions' attributions."""

    model: str
    version: int
    rows: int
    method: str
    importance: dict[str, float]
    example: dict[str, Any] | None  # the explained record
    attributions: dict[str, float]
    expected_value: float | None


EXPLAIN_ROWS = 50


async def explanations(
    predictor: Predictor,
    log: PredictionLog,
    recent: Recent,
    tenant_id: str,
    endpoint: str,
    rows: int = EXPLAIN_ROWS,
) -> Explanations | None:
    """Attributions of the endpoint's served version on its latest ``rows`` logged
    inputs, computed where the model runs, as ``?explain=true`` computes them (nothing is
    predicted or logged); None when nothing was logged for it yet."""
    key = (tenant_id, "explain", endpoint, rows)
    found = recent.peek(key)
    if found is not None:
        return found[0]
    target = await predictor.resolver.target(tenant_id, endpoint)
    texts = await to_thread.run_sync(
        log.inputs, tenant_id, target.model, target.version.version, rows
    )
    value = None
    if texts and predictor.explainer is not None:
        records = [orjson.loads(t) for t in texts]
        matrix = target.signature.matrix(records)
        background, _ = await to_thread.run_sync(predictor.explainer.background, tenant_id, target)
        answer = await predictor.runner.explain(tenant_id, target, matrix, background)
        names = target.signature.names
        table = np.array([[row.get(n, 0.0) for n in names] for row in answer["attributions"]])
        means = np.abs(table.astype(float)).mean(axis=0)
        order = np.argsort(-means, kind="stable")
        value = Explanations(
            target.model,
            target.version.version,
            len(records),
            str(answer["method"]),
            {names[i]: float(means[i]) for i in order},
            records[0],
            {k: float(v) for k, v in answer["attributions"][0].items()},
            _value(answer.get("expected_value")),
        )
    recent.put(key, (value,))
    return value


# -- helpers -------------------------------------------------------------------------------


def _scalar(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _value(value: Any) -> float | None:
    if not _scalar(value) or not math.isfinite(value):
        return None
    return float(value)


def _floats(values: Any) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=float)]


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)
