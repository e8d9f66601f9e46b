"""What the predict path hands work to, as small Protocols.

The predictor depends on these, not on their implementations: the prediction log
(``ailayer.monitoring.log``) is a ``PredictionSink`` and its ``PredictionExplainer`` an
``Explainer``, and ``ailayer.monitoring.explain.attributions`` the ``Attribute`` a
model runner calls, wired together in ``bootstrap``. So serving never imports monitoring, and
monitoring can import serving's ``Target``.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from ailayer.serving.target import PredictionColumns, Target


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
        predictions: list[dict[str, Any]] | None,
        started: float,
        raw: bytes | None = None,
        columns: PredictionColumns | None = None,
    ) -> bool:
        """One answered request: the model inputs as used and the response items;
        ``started`` is its ``time.perf_counter()`` at arrival. ``raw``: the predict body
        ``rows`` were parsed from, if they are its records; ``columns``: the predictions
        by column, if the caller has them (then ``predictions`` may be None)."""
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
    """Where ``?explain=true`` gets its background: what "an ordinary input" is, read from
    state of the serving side (the prediction log). May block (called in a thread)."""

    def background(self, tenant_id: str, target: Target) -> tuple[np.ndarray, str]:
        """The background rows for ``target``'s model and where they came from."""
        ...


class Attribute(Protocol):
    """Attributions where the model runs (a ``ModelRunner``'s side); blocks."""

    def __call__(
        self, model: Any, matrix: np.ndarray, background: np.ndarray, names: tuple[str, ...]
    ) -> dict[str, Any]:
        """``{expected_value, method, output, attributions}``, ``attributions`` one
        ``{input: value}`` per row of ``matrix``."""
        ...
