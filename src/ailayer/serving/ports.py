"""What the predict path hands work to, as small Protocols.

The predictor depends on these, not on their implementations: the prediction log
(``ailayer.monitoring.log``) is a ``PredictionSink`` and its ``PredictionExplainer`` an
``Explainer``, wired together in ``bootstrap``. So serving never imports monitoring, and
monitoring can import serving's ``Target``.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from ailayer.serving.target import Target


class PredictionSink(Protocol):
    """Where each answered or failed request goes.

    Both calls are on the hot path: they must not block on I/O nor raise for a full
    buffer (return False instead, having counted the loss).
    """

    def record(
        self,
        tenant_id: str,
        target: Target,
        rows: list[dict] | None,
        predictions: list[dict[str, Any]],
        started: float,
    ) -> bool:
        """One answered request: the model inputs as used and the response items;
        ``started`` is its ``time.perf_counter()`` at arrival."""
        ...

    def record_failure(
        self,
        tenant_id: str,
        target: Target,
        started: float,
        error: str,
        prediction_id: str | None = None,
    ) -> bool:
        """One failed request: its error code (and message), under the prediction id its
        answer named, if any."""
        ...


class Explainer(Protocol):
    """Attributions for ``?explain=true``; may block (the predictor calls it in a thread)."""

    def explain(self, tenant_id: str, target: Target, model: Any, matrix: np.ndarray) -> list:
        """One explanation (a JSON-ready dict) per row of ``matrix``."""
        ...
