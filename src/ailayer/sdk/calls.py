"""What each SDK operation sends and how answers become values or typed errors.

Shared by ``Client`` and ``AsyncClient`` so the pair cannot drift apart: each operation
is a ``Call`` (method, path, body); the two clients only differ in how they send it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from ailayer.core.clock import utcnow
from ailayer.core.errors import (
    ERRORS_BY_CODE,
    AilayerError,
    BackendUnavailable,
    ModelError,
    RateLimited,
)
from ailayer.core.ids import new_id


@dataclass
class Call:
    """One request, and ``parse`` to turn its JSON answer into the value the caller gets."""

    method: str
    path: str
    json: Any = None
    files: dict | None = None
    data: dict | None = None
    params: dict = field(default_factory=dict)
    parse: Callable[[Any], Any] | None = None
    text: bool = False  # the answer is text (an HTML page), not JSON

    def kwargs(self) -> dict:
        kwargs: dict[str, Any] = {"params": self.params}
        if self.json is not None:
            kwargs["json"] = self.json
        if self.files is not None:
            kwargs["files"] = self.files
            kwargs["data"] = self.data
        return kwargs


def seg(value: str | int) -> str:
    return quote(str(value), safe="")


def predict(
    endpoint: str, records: Any, explain_features: bool = False, columns: bool = False
) -> Call:
    params = {"explain_features": "true"} if explain_features else {}
    if columns:
        params["columns"] = "true"
    return Call("POST", f"/v1/predict/{seg(endpoint)}", json=records, params=params)


def register(
    model: str, artifact: bytes | str | Path, flavor: str, signature: dict, **metadata: Any
) -> Call:
    data = artifact if isinstance(artifact, bytes) else Path(artifact).read_bytes()
    meta = {"flavor": flavor, "signature": signature, **metadata}
    return Call(
        "POST",
        f"/v1/models/{seg(model)}/versions",
        files={"artifact": ("model", data, "application/octet-stream")},
        data={"metadata": json.dumps(meta)},
    )


def emit(topic: str, events: Any) -> Call:
    """Events as CloudEvents JSON; dicts get ``id``, ``specversion`` and ``time`` if absent."""
    items = events if isinstance(events, list) else [events]
    body = [_cloudevent(item) for item in items]
    return Call(
        "POST",
        "/v1/events",
        json=body,
        params={"topic": topic},
        parse=lambda answer: answer["ids"],
    )


def _cloudevent(item: Any) -> dict:
    if hasattr(item, "to_dict"):
        return item.to_dict()
    if not isinstance(item, dict):
        raise TypeError("events must be ailayer.events.Event objects or dicts")
    filled = {"specversion": "1.0", "id": new_id(), "time": utcnow().isoformat()}
    return {**filled, **item}


def set_alias(model: str, alias: str, version: int) -> Call:
    return Call("PUT", f"/v1/models/{seg(model)}/aliases/{seg(alias)}", json={"version": version})


def raise_for_error(response: httpx.Response) -> None:
    """Raise the same exception class the server raised, with its message."""
    if response.is_success:
        return
    try:
        detail = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        text = " ".join(response.text.split())[:200]  # a proxy's HTML page, shortened
        detail = {"code": "", "message": text or response.reason_phrase}
    cls = ERRORS_BY_CODE.get(detail.get("code", ""))
    if cls is None:
        cls = next(
            (c for c in ERRORS_BY_CODE.values() if c.status == response.status_code), AilayerError
        )
    message = f"{response.status_code}: {detail.get('message', '')}"
    if cls is BackendUnavailable:
        raise BackendUnavailable(message, retry_after=_retry_after(response))
    if cls is RateLimited:
        raise RateLimited(message, retry_after=_retry_after(response))
    if cls is ModelError:
        raise ModelError(message, prediction_id=detail.get("prediction_id"))
    raise cls(message, field=detail.get("field"))


def _retry_after(response: httpx.Response) -> int:
    """Seconds to wait; 2 when the header is absent or not a number (e.g. an HTTP date)."""
    try:
        return int(response.headers.get("retry-after", 2))
    except ValueError:
        return 2


def result(response: httpx.Response) -> Any:
    raise_for_error(response)
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise AilayerError(
            f"{response.status_code}: {response.url} did not answer JSON; is it ailayer?"
        ) from None


def answer(call: Call, response: httpx.Response) -> Any:
    """The call's value: the server's JSON (or its typed error), through ``call.parse``."""
    if call.text:
        raise_for_error(response)
        return response.text
    value = result(response)
    return value if call.parse is None else call.parse(value)


def unreachable(url: str, exc: Exception) -> BackendUnavailable:
    return BackendUnavailable(f"cannot reach ailayer at {url}: {exc}", retry_after=2)
