"""Public exception classes (see ``ailayer.core.errors`` for the tree)."""

from ailayer.core.errors import (
    AilayerError,
    ArtifactIntegrityError,
    BackendUnavailable,
    BadRequest,
    Conflict,
    Forbidden,
    InvalidInput,
    ModelError,
    NotFound,
    PayloadTooLarge,
    QuotaExceeded,
    RateLimited,
    Unauthenticated,
    UnsafeArtifact,
    UnsupportedMediaType,
)

__all__ = [
    "AilayerError",
    "ArtifactIntegrityError",
    "BackendUnavailable",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "ModelError",
    "NotFound",
    "PayloadTooLarge",
    "QuotaExceeded",
    "RateLimited",
    "Unauthenticated",
    "UnsafeArtifact",
    "UnsupportedMediaType",
]
