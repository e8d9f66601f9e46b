"""ailayer: the AI layer of a SaaS product.

The public API is exactly ``__all__``; everything else is an implementation module.
``ailayer.simulate`` is imported on first use (it brings pandas).
"""

from __future__ import annotations

from typing import Any

from ailayer.core.errors import (
    AilayerError,
    ArtifactIntegrityError,
    BackendUnavailable,
    BadRequest,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Unauthenticated,
    UnsafeArtifact,
)
from ailayer.sdk import AsyncClient, Client

__version__ = "0.1.0"

__all__ = [
    "AilayerError",
    "ArtifactIntegrityError",
    "AsyncClient",
    "BackendUnavailable",
    "BadRequest",
    "Client",
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "PayloadTooLarge",
    "Unauthenticated",
    "UnsafeArtifact",
    "__version__",
    "simulate",
]


def __getattr__(name: str) -> Any:
    if name == "simulate":
        import importlib

        return importlib.import_module("ailayer.simulate")
    raise AttributeError(f"module 'ailayer' has no attribute {name!r}")
