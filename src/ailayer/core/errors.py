"""The ailayer exception tree, shared by the server, the SDK and the CLI.

    AilayerError
     ├── InvalidInput            422  bad field values; names the field
     │    └── UnsafeArtifact     422  a format that could run code on load (pickle, ...)
     ├── BadRequest              400  a body that is not the JSON it claims to be
     ├── Unauthenticated         401  missing or wrong API key
     ├── Forbidden               403  the key's role may not do this
     ├── QuotaExceeded           403  a tenant quota is used up; ``field`` names it
     ├── NotFound                404  unknown, or another tenant's (never leaked)
     ├── Conflict                409  the object exists or changed meanwhile
     ├── PayloadTooLarge         413  request body over the limit
     ├── UnsupportedMediaType    415  a body in a content type the route does not take
     ├── RateLimited             429  over the tenant's or key's request rate; carries
     │                                the seconds to wait
     ├── ArtifactIntegrityError  500  stored bytes no longer match their sha256
     ├── ModelError              500  the model raised on this input; carries the
     │                                prediction id the failure is logged under
     └── BackendUnavailable      503  a store is down; carries a retry hint

Each class carries the HTTP status and a stable ``code`` so that the SDK can raise the
same class the server raised, with the server's message.
"""

from __future__ import annotations


class AilayerError(Exception):
    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict:
        body: dict = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body


class InvalidInput(AilayerError):
    status = 422
    code = "invalid_input"


class UnsafeArtifact(InvalidInput):
    code = "unsafe_artifact"


class BadRequest(AilayerError):
    status = 400
    code = "bad_request"


class Unauthenticated(AilayerError):
    status = 401
    code = "unauthenticated"


class Forbidden(AilayerError):
    status = 403
    code = "forbidden"


class QuotaExceeded(AilayerError):
    """A tenant quota (models, feature views, stored bytes, events per day) is used up;
    ``field`` is the quota's setting name."""

    status = 403
    code = "quota_exceeded"


class NotFound(AilayerError):
    status = 404
    code = "not_found"


class Conflict(AilayerError):
    status = 409
    code = "conflict"


class PayloadTooLarge(AilayerError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(AilayerError):
    status = 415
    code = "unsupported_media_type"


class RateLimited(AilayerError):
    """Over the request rate of the tenant or the key; retry after ``retry_after`` s."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ArtifactIntegrityError(AilayerError):
    status = 500
    code = "artifact_integrity"


class ModelError(AilayerError):
    """The model itself raised while predicting (not the server): the answer names the
    model and its message, and the prediction id under which the failure is logged."""

    status = 500
    code = "model_error"

    def __init__(
        self, message: str, *, field: str | None = None, prediction_id: str | None = None
    ) -> None:
        super().__init__(message, field=field)
        self.prediction_id = prediction_id

    def to_dict(self) -> dict:
        body = super().to_dict()
        if self.prediction_id is not None:
            body["prediction_id"] = self.prediction_id
        return body


class BackendUnavailable(AilayerError):
    status = 503
    code = "backend_unavailable"

    def __init__(self, message: str, *, retry_after: int = 2) -> None:
        super().__init__(message)
        self.retry_after = retry_after


ERRORS_BY_CODE: dict[str, type[AilayerError]] = {
    cls.code: cls
    for cls in (
        AilayerError,
        InvalidInput,
        UnsafeArtifact,
        BadRequest,
        Unauthenticated,
        Forbidden,
        QuotaExceeded,
        NotFound,
        Conflict,
        PayloadTooLarge,
        UnsupportedMediaType,
        RateLimited,
        ArtifactIntegrityError,
        ModelError,
        BackendUnavailable,
    )
}
