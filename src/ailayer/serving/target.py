"""What an endpoint serves right now: the value the predict path and the prediction log
share.

A leaf: it knows the model registry's ``ModelVersion`` and ``Signature`` and nothing of
serving or monitoring, so both can name it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ailayer.core.ids import IdBlock
from ailayer.models.signature import Signature
from ailayer.models.version import ModelVersion

# one answer's predictions by column, as the predict path makes them and the log keeps
# them: ids (an ``IdBlock`` as made, or their texts), values, scores, probabilities
# (None: the model gives none)
PredictionColumns = tuple[IdBlock | list[str], list[Any], list[Any] | None, list[Any] | None]


@dataclass(frozen=True, slots=True)
class Target:
    """The model version an endpoint serves right now."""

    endpoint: str
    model: str
    alias: str
    version: ModelVersion
    signature: Signature

    @property
    def key(self) -> tuple[str, int, str]:
        return self.version.cache_key  # names the served (compiled or original) artifact
