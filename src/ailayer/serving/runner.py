"""Where a validated matrix meets its model: the ``ModelRunner`` port.

The predictor does everything up to the matrix (routing, features, validation) and after
the answer (ids, the log, shadows); only the model call goes through a runner. In one
process that is ``LocalRunner`` (the model cache and the micro-batcher); a gateway hands
the call to model worker processes instead (``serving.remote.RemoteRunner``), which run
the same ``LocalRunner`` on their side (``serving.worker``).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from anyio import to_thread

from ailayer.core.errors import AilayerError, InvalidInput, ModelError
from ailayer.core.ids import new_id
from ailayer.core.tracing import TRACING_OFF, Tracing
from ailayer.models.flavors import LoadedModel, Predictions
from ailayer.models.version import ModelVersion
from ailayer.serving.batching import MicroBatcher
from ailayer.serving.inline import CallCosts
from ailayer.serving.model_cache import ModelCache
from ailayer.serving.ports import Attribute
from ailayer.serving.target import Target

MODEL_MESSAGE_CHARS = 1000  # of a model's own error message, in answers and the log


class ModelRunner(Protocol):
    tracing: Tracing  # where its model.load / model.predict spans go

    async def predict(
        self, tenant_id: str, target: Target, matrix: np.ndarray, *, in_thread: bool = False
    ) -> Predictions:
        """The target's model on ``matrix``; ``in_thread``: never on the event loop (shadows).
        A model that raised is a ``ModelError``; a runner that cannot reach a model, a 503."""
        ...

    async def ready(self, tenant_id: str, target: Target) -> None:
        """Load the target's model where it runs (nothing when it is loaded), so its first
        call needs no load; a model that cannot load raises its error."""
        ...

    async def explain(
        self, tenant_id: str, target: Target, matrix: np.ndarray, background: np.ndarray
    ) -> dict[str, Any]:
        """Attributions of the target's model for each row of ``matrix`` against
        ``background``, computed where the model runs (``serving.ports.Attribute``)."""
        ...

    async def aclose(self) -> None:
        """Let go of what lives on the event loop (connections)."""
        ...


class LocalRunner:
    """The model in this process: loaded through the cache, called through the micro-batcher
    (or inline, or in a worker thread for blocking models and inputs its measured cost
    says are slow: ``serving/inline.py``)."""

    def __init__(
        self,
        models: ModelCache,
        batcher: MicroBatcher | None = None,
        tracing: Tracing = TRACING_OFF,
        attribute: Attribute | None = None,
    ) -> None:
        """``attribute``: how ``explain`` computes attributions (None: this runner cannot)."""
        self.models = models
        self.batcher = batcher
        self.costs = batcher.costs if batcher is not None else CallCosts()
        self.tracing = tracing
        self.attribute = attribute

    async def predict(
        self, tenant_id: str, target: Target, matrix: np.ndarray, *, in_thread: bool = False
    ) -> Predictions:
        return await self.run(tenant_id, target.version, matrix, in_thread=in_thread)

    async def run(
        self, tenant_id: str, version: ModelVersion, matrix: np.ndarray, *, in_thread: bool = False
    ) -> Predictions:
        """``predict`` by the version alone (what a model worker is told)."""
        model = await self.model(tenant_id, version)
        with self.tracing.span("model.predict") as span:
            if span is not None:
                span.set_attributes(
                    {"ailayer.model.flavor": version.flavor, "ailayer.rows": len(matrix)}
                )
            try:
                if in_thread or getattr(model, "blocking", False):
                    return await to_thread.run_sync(model.predict, matrix)
                if self.batcher is not None:
                    key = (tenant_id, *version.cache_key)
                    return await self.batcher.predict(key, model, matrix)
                return await self.costs.call(model, matrix)
            except AilayerError:
                raise
            except Exception as exc:
                raise model_error(version, exc) from exc

    async def model(self, tenant_id: str, version: ModelVersion) -> LoadedModel:
        """The loaded model, loading it in a worker thread on a miss."""
        key = version.cache_key
        model = self.models.get(tenant_id, key)
        if model is None:
            with self.tracing.span("model.load"):
                model = await to_thread.run_sync(self.models.load, tenant_id, key, version)
        return model

    async def ready(self, tenant_id: str, target: Target) -> None:
        await self.model(tenant_id, target.version)

    async def explain(
        self, tenant_id: str, target: Target, matrix: np.ndarray, background: np.ndarray
    ) -> dict[str, Any]:
        return await self.explain_version(
            tenant_id, target.version, target.signature.names, matrix, background
        )

    async def explain_version(
        self,
        tenant_id: str,
        version: ModelVersion,
        names: tuple[str, ...],
        matrix: np.ndarray,
        background: np.ndarray,
    ) -> dict[str, Any]:
        """``explain`` by the version and its input names (what a model worker is told);
        the attributions in a worker thread."""
        if self.attribute is None:
            raise InvalidInput("this server has no explainer configured", field="explain")
        model = await self.model(tenant_id, version)
        return await to_thread.run_sync(self.attribute, model, matrix, background, names)

    async def aclose(self) -> None:
        return None


def model_error(version: ModelVersion, exc: Exception) -> ModelError:
    """What the caller learns when the model raised: which model, and its message."""
    said = f"{type(exc).__name__}: {exc}"
    if len(said) > MODEL_MESSAGE_CHARS:
        said = said[: MODEL_MESSAGE_CHARS - 3] + "..."
    message = f"model {version.model!r} version {version.version} failed on this input: {said}"
    return ModelError(message, prediction_id=new_id())
