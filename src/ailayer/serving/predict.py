"""The predict path: body → records → validated matrix → model → response.

Hot-path discipline: JSON is parsed with orjson, records become a NumPy matrix (never a
DataFrame), and anything that may block (a database lookup on a cache miss, a model
load, a large batch) runs in a worker thread, off the event loop.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import orjson
from anyio import to_thread

from ailayer.core.errors import BadRequest, InvalidInput
from ailayer.core.ids import new_id
from ailayer.features.serving import FeatureServer
from ailayer.serving.model_cache import ModelCache
from ailayer.serving.resolver import EndpointResolver, Target

THREAD_BATCH_ROWS = 64


def parse_records(body: bytes) -> list[Any]:
    """Accept one record, a list of records, or ``{"records": [...]}``."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
    if isinstance(payload, dict) and "records" in payload and len(payload) == 1:
        payload = payload["records"]
    records = payload if isinstance(payload, list) else [payload]
    if not records:
        raise InvalidInput("records must not be empty", field="records")
    return records


def feature_selection(refs: list[str]) -> str | list[str]:
    """A version's ``feature_refs``: one feature service name, or ``view:feature`` refs."""
    return refs[0] if len(refs) == 1 and ":" not in refs[0] else refs


def model_inputs(target: Target, records: list[Any], features: list[dict]) -> list[dict]:
    """Entity keys and request fields plus looked-up features, cut to the model's inputs."""
    names = target.signature.names
    merged = []
    for record, values in zip(records, features, strict=True):
        row = {**record, **values}
        merged.append({name: row[name] for name in names if name in row})
    return merged


class Predictor:
    def __init__(
        self, resolver: EndpointResolver, models: ModelCache, features: FeatureServer | None = None
    ) -> None:
        self.resolver = resolver
        self.models = models
        self.features = features

    async def target(self, tenant_id: str, endpoint: str) -> Target:
        target = self.resolver.cached(tenant_id, endpoint)
        if target is None:
            target = await to_thread.run_sync(self.resolver.resolve, tenant_id, endpoint)
        return target

    async def enrich(self, tenant_id: str, target: Target, records: list[Any]) -> list[dict]:
        """Look up the version's features by entity key (a thread: stores may block)."""
        if self.features is None:
            raise InvalidInput("this server has no feature store configured", field="features")
        for index, record in enumerate(records):
            if not isinstance(record, dict):
                where = f"records[{index}]"
                raise InvalidInput(f"{where} must be a JSON object", field=where)
        lookup = partial(
            self.features.get_online_features,
            tenant_id,
            feature_selection(target.version["feature_refs"]),
            records,
        )
        return await to_thread.run_sync(lookup)

    async def predict(
        self, tenant_id: str, endpoint: str, body: bytes, *, explain_features: bool = False
    ) -> dict:
        records = parse_records(body)
        target = await self.target(tenant_id, endpoint)
        used = None
        if target.version["feature_refs"]:
            features = await self.enrich(tenant_id, target, records)
            records = used = model_inputs(target, records, features)
        elif explain_features:
            used = records
        matrix = target.signature.matrix(records)
        model = self.models.get(tenant_id, target.key)
        if model is None:
            model = await to_thread.run_sync(
                self.models.load, tenant_id, target.key, target.version
            )
        if len(records) > THREAD_BATCH_ROWS:
            result = await to_thread.run_sync(model.predict, matrix)
        else:
            result = model.predict(matrix)
        return _response(target, result, used if explain_features else None)


def _response(target: Target, result: Any, used: list[dict] | None = None) -> dict:
    scores = result.scores
    probabilities = result.probabilities
    predictions = []
    for i, value in enumerate(result.values):
        item: dict[str, Any] = {"prediction_id": new_id(), "prediction": value}
        if scores is not None:
            item["score"] = scores[i]
        if probabilities is not None:
            item["probabilities"] = probabilities[i]
        if used is not None:
            item["features"] = used[i]
        predictions.append(item)
    return {
        "endpoint": target.endpoint,
        "model": target.model,
        "version": target.version["version"],
        "alias": target.alias,
        "predictions": predictions,
    }
