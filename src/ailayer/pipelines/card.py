"""Model cards: what a model version is for, who owns it, what it was trained on, how it
scored, how fair and how stable it is, what drives it and where it falls short.

A card is assembled when asked for, only from what ailayer already recorded: the
registration (description, tags, registered by, signature), the owning team, the lineage
(sources → feature views → dataset → pipeline run), the run's metrics and gate report
(fairness checks per declared attribute), the prediction log of every endpoint that serves
the version (live drift, and fairness by the same attributes), and attributions of its
recent logged inputs. Nothing on it is typed in a second time, so it cannot drift from
the facts; a part never recorded says so, and that gap is listed under limitations.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
from anyio import to_thread

from ailayer.core.clock import utcnow
from ailayer.core.errors import AilayerError, InvalidInput
from ailayer.models.endpoints import EndpointService
from ailayer.models.service import ModelRegistry
from ailayer.models.signature import Signature
from ailayer.models.version import ModelVersion
from ailayer.monitoring.endpoint.drift import EndpointDrift
from ailayer.monitoring.endpoint.fairness import LogFairness
from ailayer.monitoring.explain import MAX_BACKGROUND
from ailayer.monitoring.log.pii import PiiPolicy
from ailayer.monitoring.log.predictions import PredictionLog
from ailayer.pipelines.lineage import Lineage
from ailayer.serving.runner import ModelRunner

FAIRNESS_CHECK = re.compile(
    r"^(?P<metric>parity_ratio|parity_difference|equalized_odds_difference|fairness)"
    r"\[(?P<attribute>.+)\]$"
)
MIN_EXPLAINED = 10  # logged inputs needed before the top features mean anything
EXPLAINED_ROWS = 50  # the most recent ones attributed (the rest are background)
TOP_FEATURES = 5
Owner = Callable[[str, str, str], str | None]  # (tenant_id, kind, name) -> team


class ModelCards:
    def __init__(
        self,
        registry: ModelRegistry,
        lineage: Lineage,
        endpoints: EndpointService,
        drift: EndpointDrift,
        fairness: LogFairness,
        owner: Owner,
    ) -> None:
        self.registry = registry
        self.lineage = lineage
        self.endpoints = endpoints
        self.drift = drift
        self.fairness = fairness
        self.owner = owner

    def card(
        self, tenant_id: str, model: str, version: int, top_features: dict[str, Any] | None
    ) -> dict[str, Any]:
        """The card as JSON (``NotFound`` for an unknown version). ``top_features`` is what
        ``importance`` made of the version's attributions (computed where models run)."""
        found = self.registry.get_version(tenant_id, model, version)
        described = self.registry.get_model(tenant_id, model)["description"]
        lineage = self.lineage.of(tenant_id, model, version)
        run = lineage["run"] or {}
        served = self._served_by(tenant_id, found, lineage["deployments"])
        training = training_fairness(run.get("gate_report"))
        card = {
            "model": model,
            "version": version,
            "generated_at": utcnow(),
            "intended_use": _intended_use(found, described),
            "owner": {
                "team": self.owner(tenant_id, "model", model),
                "registered_by": found.created_by,
                "registered_at": found.created_at,
            },
            "details": _details(found),
            "training_data": {
                "sources": lineage["sources"],
                "feature_views": lineage["feature_views"],
                "dataset": lineage["dataset"],
                "run": _run(run) if run else None,
            },
            "metrics": found.metrics,
            "gates": _gates(run.get("gate_report")),
            "fairness": {
                "training": training,
                "serving": self._live_fairness(tenant_id, found, served, sorted(training)),
            },
            "drift": self._drift(tenant_id, found, served),
            "top_features": top_features,
            "endpoints": served,
        }
        card["limitations"] = limitations(card, found)
        return card

    def _served_by(
        self, tenant_id: str, found: ModelVersion, deployed: list[dict[str, Any]]
    ) -> list[str]:
        """Endpoints whose deployment names the version, or whose alias points at it (an
        endpoint without a row is its model's name, routed to the default alias)."""
        names = {d["endpoint"] for d in deployed}
        declared = self.endpoints.list(tenant_id)
        for endpoint in declared:
            if endpoint["model"] == found.model and endpoint["alias"] in found.aliases:
                names.add(endpoint["name"])
        implicit = found.model not in {e["name"] for e in declared}
        if implicit and self.endpoints.target(tenant_id, found.model)[1] in found.aliases:
            names.add(found.model)
        return sorted(names)

    def _drift(self, tenant_id: str, found: ModelVersion, served: list[str]) -> list[dict]:
        """The last day's drift of the version on each endpoint serving it."""
        status = []
        for endpoint in served:
            try:
                reports = self.drift.report(tenant_id, endpoint)
            except AilayerError as exc:
                status.append({"endpoint": endpoint, "reason": exc.message})
                continue
            for item in reports:
                if (item.model, item.version) == (found.model, found.version):
                    status.append(_drift_status(endpoint, item.to_dict()))
        return status

    def _live_fairness(
        self, tenant_id: str, found: ModelVersion, served: list[str], attributes: list[str]
    ) -> list[dict]:
        """The last week's decisions of the version on each endpoint, grouped by each
        attribute its training declared."""
        judged = []
        for endpoint in served:
            for attribute in attributes:
                entry: dict[str, Any] = {"endpoint": endpoint, "attribute": attribute}
                try:
                    report = self.fairness.report(tenant_id, endpoint, attribute)
                except AilayerError as exc:
                    judged.append({**entry, "reason": exc.message})
                    continue
                mine = [
                    v
                    for v in report["versions"]
                    if (v["model"], v["version"]) == (found.model, found.version)
                ]
                reason = report["reason"] or "no predictions of this version in the window"
                judged.append({**entry, **mine[0]} if mine else {**entry, "reason": reason})
        return judged


def _intended_use(found: ModelVersion, model_description: str) -> dict[str, Any]:
    if found.description:
        return {"text": found.description, "from": "the version's description"}
    if model_description:
        return {"text": model_description, "from": "the model's description"}
    return {"text": None, "from": None}


def _details(found: ModelVersion) -> dict[str, Any]:
    served, _ = found.served
    return {
        "flavor": found.flavor,
        "served_form": served,
        "artifact_sha256": found.artifact_sha256,
        "aliases": found.aliases,
        "archived": found.archived,
        "inputs": found.signature.get("inputs", []),
        "outputs": found.signature.get("outputs", []),
        "params": found.params,
        "tags": found.tags,
        "feature_refs": found.feature_refs,
        "code_version": found.code_version,
    }


def _run(run: dict[str, Any]) -> dict[str, Any]:
    keep = ("id", "pipeline", "status", "trigger", "actor", "params", "seed", "code_version")
    return {k: run.get(k) for k in keep} | {"missing": bool(run.get("missing"))}


def _gates(report: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    if not report:
        return None
    return [{"gate": r["gate"], "passed": r["passed"]} for r in report.get("results", [])]


def training_fairness(report: dict[str, Any] | None) -> dict[str, list[dict[str, Any]]]:
    """The fairness gates' checks of the run, per attribute: each metric measured on the
    holdout, its bound and whether it held."""
    found: dict[str, list[dict[str, Any]]] = {}
    for result in (report or {}).get("results", []):
        for check in result.get("checks", []):
            # a check as the run stored it (``asdict``: "name") or as GateResult.to_dict ("check")
            matched = FAIRNESS_CHECK.match(str(check.get("name") or check.get("check") or ""))
            if matched is None:
                continue
            found.setdefault(matched["attribute"], []).append(
                {
                    "metric": matched["metric"],
                    "measured": check.get("measured"),
                    "limit": check.get("limit"),
                    "comparison": check.get("comparison"),
                    "passed": check.get("passed"),
                    "reason": check.get("reason"),
                }
            )
    return found


def _drift_status(endpoint: str, drift: dict[str, Any]) -> dict[str, Any]:
    report = drift["report"]
    prediction = report.get("prediction") or {}
    return {
        "endpoint": endpoint,
        "start": drift["start"],
        "end": drift["end"],
        "rows": drift["rows"],
        "dataset_drift": report["dataset_drift"],
        "drift_share": report["drift_share"],
        "drifted_features": report["drifted_features"],
        "prediction_drift": prediction.get("drifted"),
        "reason": drift["reason"] or report["reason"],
    }


def limitations(card: dict[str, Any], found: ModelVersion) -> list[str]:
    """What the recorded facts say this version cannot vouch for, in words."""
    said: list[str] = []
    data = card["training_data"]
    if found.archived:
        said.append("archived: it no longer serves new deployments")
    if data["dataset"] is None and data["run"] is None:
        said.append(
            "uploaded by hand: no training dataset or pipeline run is recorded, so its "
            "training data cannot be traced"
        )
    dataset = data["dataset"] or {}
    if dataset.get("start_at") and dataset.get("end_at"):
        said.append(
            f"trained on {dataset.get('row_count')} rows with event times from "
            f"{_day(dataset['start_at'])} to {_day(dataset['end_at'])}: behaviour outside "
            "that period was not seen"
        )
    if not found.metrics:
        said.append("no evaluation metrics were recorded")
    if data["run"] is not None and not card["gates"]:
        said.append("its pipeline declared no gates")
    said += _fairness_limits(card["fairness"]["training"])
    if not card["endpoints"]:
        said.append("not served by any endpoint: no live drift or fairness to report")
    for status in card["drift"]:
        if status.get("dataset_drift") or status.get("drifted_features"):
            drifted = ", ".join(status.get("drifted_features") or []) or "the inputs"
            said.append(f"inputs have drifted on endpoint {status['endpoint']!r}: {drifted}")
        if status.get("prediction_drift"):
            said.append(f"its predictions have drifted on endpoint {status['endpoint']!r}")
    top = card["top_features"] or {}
    if top.get("features") is None:
        said.append(f"no explanation of its top features: {top.get('reason') or 'not computed'}")
    return said


def _fairness_limits(training: dict[str, list[dict[str, Any]]]) -> list[str]:
    if not training:
        return ["fairness was not evaluated at training (no fairness gate was declared)"]
    return [
        f"fairness by {attribute!r}: {check['reason']}"
        for attribute, checks in sorted(training.items())
        for check in checks
        if not check["passed"]
    ]


def _day(value: Any) -> str:
    return value.date().isoformat() if hasattr(value, "date") else str(value)[:10]


# --- top features: attributions of recent logged inputs ------------------------------------


def logged_matrix(log: PredictionLog, tenant_id: str, found: ModelVersion) -> np.ndarray | None:
    """Up to ``MAX_BACKGROUND`` recent logged inputs of the version as the matrix serving
    builds (signature order, checked); None with fewer than ``MIN_EXPLAINED`` valid ones,
    or when an input is PII (its logged values are hashes, not what the model saw)."""
    signature = Signature.parse(found.signature)
    if PiiPolicy.from_tags(found.tags or {}).fields & set(signature.names):
        return None
    records = []
    for text in log.inputs(tenant_id, found.model, found.version, MAX_BACKGROUND):
        logged = orjson.loads(text)
        record = {name: logged.get(name) for name in signature.names}
        try:
            signature.matrix([record])
        except InvalidInput:
            continue  # a record the model never saw as such (e.g. enriched from features)
        records.append(record)
    return signature.matrix(records) if len(records) >= MIN_EXPLAINED else None


def importance(explained: dict[str, Any] | None, rows: int) -> dict[str, Any]:
    """Mean |attribution| per input over the explained rows, the largest first; with no
    explanation, why not."""
    if explained is None:
        return {
            "features": None,
            "rows": rows,
            "reason": f"needs at least {MIN_EXPLAINED} logged predictions with numeric inputs",
        }
    records = explained["attributions"]
    names = list(records[0]) if records else []
    means = {n: float(np.mean([abs(r[n]) for r in records])) for n in names}
    ranked = sorted(means.items(), key=lambda item: (-item[1], item[0]))[:TOP_FEATURES]
    return {
        "features": [{"name": n, "mean_abs_attribution": v} for n, v in ranked],
        "rows": rows,
        "method": explained["method"],
        "output": explained["output"],
        "reason": None,
    }


async def top_features(
    registry: ModelRegistry,
    log: PredictionLog,
    runner: ModelRunner,
    tenant_id: str,
    model: str,
    version: int,
) -> dict[str, Any]:
    """Attributions of the version's recent logged inputs, computed where models run
    (the card's top features; the API's card route and the console both show them)."""
    found = await to_thread.run_sync(registry.get_version, tenant_id, model, version)
    matrix = await to_thread.run_sync(logged_matrix, log, tenant_id, found)
    if matrix is None:
        return importance(None, 0)
    names = Signature.parse(found.signature).names
    rows = matrix[:EXPLAINED_ROWS]  # against all of them as the background
    try:
        explained = await runner.explain_version(tenant_id, found, names, rows, matrix)
    except AilayerError as exc:
        return {**importance(None, len(rows)), "reason": exc.message}
    return importance(explained, len(rows))
