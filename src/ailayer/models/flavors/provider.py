"""External model APIs served like any model version: the ``provider`` flavor.

The artifact is a JSON config (``models/providers/config.py``), never code. Each record
becomes one upstream call (or a cache hit); the answer text, vector or picked value is
the prediction. When the provider fails, or its circuit is open, the rest of the batch
is answered by the declared fallback version of the same tenant and marked
``served_by: "fallback"``; without a fallback the answer is a 503 naming the provider.

The model blocks on the network, so it says ``blocking = True`` and the predictor runs
it in a worker thread; it learns its tenant, signature, fallback and cost ledger from the
model cache through ``bind``.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import numpy as np
import orjson

from ailayer.core.errors import BackendUnavailable, InvalidInput
from ailayer.core.hosts import HostRule, unlisted
from ailayer.models.flavors.base import LoadedModel, Predictions, ServingContext, refuse_pickle
from ailayer.models.providers import kinds
from ailayer.models.providers.config import ProviderConfig, parse_config
from ailayer.models.providers.costs import Usage
from ailayer.models.providers.resilience import CircuitBreaker, TtlCache
from ailayer.models.providers.upstream import ProviderFailure, Upstream
from ailayer.models.signature import Signature

PROVIDER, FALLBACK = "provider", "fallback"


class ProviderModel:
    blocking = True

    def __init__(self, config: ProviderConfig, api_key: str | None) -> None:
        self.config = config
        self.breaker = CircuitBreaker(config.breaker_failures, config.breaker_cooldown_seconds)
        self.cache = TtlCache(config.cache_size, config.cache_ttl_seconds)
        self.upstream = Upstream(config, api_key, self.breaker)
        self.context: ServingContext | None = None
        self.signature: Signature | None = None

    def bind(self, context: ServingContext) -> None:
        """Refused when the host is not in ``provider_hosts`` (any more): the list may
        have been narrowed since registration; the version stays stored. A 503 like a
        missing key variable: this server's settings, not the caller, keep it from
        serving."""
        why = unlisted(kinds.endpoint(self.config), context.provider_hosts)
        if why is not None:
            self.upstream.close()  # never used: the cache drops this load
            version = context.version
            raise BackendUnavailable(
                f"model {version.model!r} version {version.version} cannot serve: provider "
                f"{self.config.origin}: {why}"
            )
        signature = Signature.parse(context.version.signature)
        check_fields(self.config, signature)
        self.context, self.signature = context, signature

    def predict(self, features: np.ndarray) -> Predictions:
        if self.context is None or self.signature is None:
            raise InvalidInput(
                "a provider model answers only on the predict path of a server", field="flavor"
            )
        usage = Usage()
        values: list[Any] = []
        failure: ProviderFailure | None = None
        try:
            for record in self._records(features):
                try:
                    values.append(self._answer(record, usage))
                except ProviderFailure as exc:
                    failure = exc
                    break
        finally:
            self._count(usage)
        if failure is None:
            return Predictions(values, served_by=[PROVIDER] * len(values))
        return self._fall_back(features, values, failure)

    def _records(self, features: np.ndarray) -> list[dict[str, Any]]:
        assert self.signature is not None
        return [
            {
                name: _plain(value, kind)
                for (name, kind), value in zip(self.signature.inputs, row, strict=True)
            }
            for row in features
        ]

    def _answer(self, record: dict[str, Any], usage: Usage) -> Any:
        url, body = kinds.request(self.config, record)
        key = hashlib.sha256(
            url.encode() + b"\0" + orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
        ).digest()
        hit, value = self.cache.get(key)
        if hit:
            usage.cache_hits += 1
            return value
        try:
            value, answer = self.upstream.call(url, body, lambda a: kinds.extract(self.config, a))
        except ProviderFailure:
            usage.failures += 1
            raise
        prompt, completion = kinds.usage(answer)
        usage.calls += 1
        usage.prompt_tokens += prompt
        usage.completion_tokens += completion
        usage.cost += (
            self.config.cost_per_call
            + prompt * self.config.cost_per_prompt_token
            + completion * self.config.cost_per_completion_token
        )
        self.cache.put(key, value)
        return value

    def _fall_back(
        self, features: np.ndarray, values: list[Any], failure: ProviderFailure
    ) -> Predictions:
        """Rows from the first failure on, answered by the fallback version."""
        assert self.context is not None
        if self.config.fallback is None:
            raise BackendUnavailable(
                f"provider {self.config.origin} failed: {failure.reason}; "
                "the model declares no fallback"
            )
        model = self._fallback_model(failure)
        rest = model.predict(features[len(values) :])
        self._count(Usage(fallbacks=len(rest.values)))
        served = [PROVIDER] * len(values) + [FALLBACK] * len(rest.values)
        if not values:
            rest.served_by = served
            return rest
        return Predictions(values + list(rest.values), served_by=served)

    def _fallback_model(self, failure: ProviderFailure) -> LoadedModel:
        assert self.context is not None and self.config.fallback is not None
        name, number = self.config.fallback
        try:
            version, model = self.context.load_version(name, number)
        except Exception as exc:
            raise BackendUnavailable(
                f"provider {self.config.origin} failed: {failure.reason}; and its fallback "
                f"{name}:{number} cannot serve: {getattr(exc, 'message', type(exc).__name__)}"
            ) from None
        if (
            version.flavor == "provider"
            or Signature.parse(version.signature).inputs != self.signature.inputs
        ):  # type: ignore[union-attr]
            raise BackendUnavailable(
                f"provider {self.config.origin} failed: {failure.reason}; its fallback "
                f"{name}:{number} must be a model file version with the same inputs"
            )
        return model

    def _count(self, usage: Usage) -> None:
        assert self.context is not None
        version = self.context.version
        self.context.costs.add(self.context.tenant_id, version.model, version.version, usage)


def check_fields(config: ProviderConfig, signature: Signature) -> None:
    """Templates may name only the signature's inputs."""
    missing = sorted(config.fields - set(signature.names))
    if missing:
        raise InvalidInput(
            f"the provider config's templates name fields the signature lacks: "
            f"{', '.join(missing)}",
            field="artifact",
        )


def _plain(value: Any, kind: str) -> Any:
    """A matrix cell as the JSON value its signature type says (float matrices hold ints
    and booleans as floats)."""
    if isinstance(value, np.generic):
        value = value.item()
    if kind == "long":
        return int(value)
    if kind == "boolean":
        return bool(value)
    return value


class ProviderFlavor:
    name = "provider"

    def check(self, data: bytes) -> None:
        refuse_pickle(data)
        parse_config(data)

    def check_signature(self, data: bytes, signature: Signature) -> None:
        """At registration, after ``check``: the config fits the version's signature."""
        check_fields(parse_config(data), signature)

    def check_hosts(self, data: bytes, rules: tuple[HostRule, ...]) -> None:
        """At registration, after ``check``: the url's host is one the operator allows."""
        why = unlisted(kinds.endpoint(parse_config(data)), rules)
        if why is not None:
            raise InvalidInput(f"provider config url: {why}", field="artifact")

    def load(self, data: bytes) -> ProviderModel:
        refuse_pickle(data)
        config = parse_config(data)
        api_key = None
        if config.api_key_env is not None:
            api_key = os.environ.get(config.api_key_env)
            if not api_key:
                raise BackendUnavailable(
                    f"provider {config.origin}: the environment variable {config.api_key_env} "
                    "(api_key_env) is not set on this server"
                )
        return ProviderModel(config, api_key)
